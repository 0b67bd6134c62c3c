"""One experiment run: sample the data, train the prompts, evaluate, write the record.

    from cocoop_lib.runs import RunConfig, run
    record = run(RunConfig(dataset="MiniGlyphs", method="cocoop", seed=1))
    record["metrics"]      # {"MiniGlyphs:base": 71.2, "MiniGlyphs:new": 64.0}

A run whose record exists is skipped (its record is returned); an interrupted run resumes from its
last epoch checkpoint. Runs on the same test images share cached image features.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import claims
from .backbone import DEFAULT_BACKBONE, Backbone, image_transforms, load_backbone
from .datasets import ImageDataset, get_spec, require_images, sample_few_shot, subsample_classes
from .identity import (backbone_sha256, checkpoint_file, data_identity, image_sha256s,  # noqa: F401
                       load_run_dataset, record_identity, run_data, run_identity, stale_reason)
from .evaluation import accuracy_from_features, features_key, harmonic_mean, image_features
from .model import PromptedCLIP
from .precision import resolve_precision, weight_dtype
from .presets import epochs_for, get_recipe, lr_for
from .prompt_learners import METHODS, build_prompt_learner, count_trainable
from .errors import RecordError
from .fast import make_step
from .records import provenance, read_record, remove_leftover_tmps, write_json_atomic
from .shipped import available as shipped_available, shipped_record, take_shipped
from .training import TrainSettings, load_checkpoint, set_seed, train

SUBSETS = ("base", "new", "all", "val")  # val: the few-shot val draw of the training classes

# A CPU run trains and evaluates with this many torch threads, whatever the process has: float32
# sums depend on the thread count, and over the paper's 200 epochs the difference grows into other
# predictions (MiniFashion CoOp seed 1: 0.4 points between 1 and 2 threads). With one fixed count a
# record is the same from every entry point (sweep workers, notebooks, the CLI, the tests).
CPU_THREADS = 1


@contextlib.contextmanager
def fixed_cpu_threads(device: str):
    """Run the body with :data:`CPU_THREADS` torch threads on the CPU (no change on a GPU)."""
    if device != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class RunConfig:
    """Everything that defines one run. ``None`` means "from the recipe".

    Attributes:
        dataset: training dataset (e.g. "OxfordPets", "MiniGlyphs").
        method: "zeroshot", "coop" or "cocoop".
        seed: seeds python/numpy/torch before the data is built (fixes the few-shot draw too).
        shots: training images per class (val gets min(shots, 4)).
        epochs, batch_size, lr: optimisation; None takes the recipe's value for the method
            (the lr also depends on whether the context starts from words or at random).
        n_ctx, ctx_init: number of context vectors and the words that initialise them
            (ctx_init "" or None: random N(0, 0.02) vectors).
        train_classes: "base" (base-to-new) or "all" (cross-dataset / domain generalisation).
        eval_on: "Dataset:subset" targets; empty: base and new (or all) of ``dataset``.
        recipe: "paper", "mini" or "auto" (mini for the mini CLIP).
        backbone: "mini", a hub id ("openai/clip-vit-base-patch16") or a folder.
        data_root: folder holding the real datasets; None for the bundled mini world.
        output_dir: records/, checkpoints/ and features/ go here.
        device: "auto" (cuda when available), "cpu", "cuda", ...
        precision: "auto", "fp32", "bf16", "fp16" or "fp16-pure" (the official mode).
        class_chunk: the fast encoder's memory bound, at most this many classes per text-encoder
            call (None: all). It stays part of the run name: a chunked call gives the same logits
            to float rounding, not guaranteed bit for bit (every shipped record has None).
    """

    dataset: str = "MiniGlyphs"
    method: str = "cocoop"
    seed: int = 1
    shots: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    n_ctx: int | None = None
    ctx_init: str | None = None
    class_token_position: str = "end"
    csc: bool = False
    train_classes: str = "base"
    eval_on: tuple = ()
    recipe: str = "auto"
    backbone: str = DEFAULT_BACKBONE
    data_root: str | None = None
    output_dir: str = "outputs"
    device: str = "auto"
    precision: str = "auto"
    class_chunk: int | None = None
    tag: str = ""

    def resolved(self) -> "RunConfig":
        """A copy with every None/auto filled in from the recipe and validated."""
        c = dataclasses.replace(self)
        if c.method not in METHODS:
            raise ValueError(f"Unknown method {c.method!r}; choose one of {', '.join(METHODS)}.")
        c.dataset = get_spec(c.dataset).name
        if not isinstance(c.seed, int) or c.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {c.seed!r}.")
        if c.train_classes not in ("base", "all"):
            raise ValueError(f"train_classes must be 'base' or 'all', got {c.train_classes!r}.")
        recipe = get_recipe(c.recipe, c.backbone)
        c.recipe = recipe.name
        c.shots = recipe.shots if c.shots is None else c.shots
        if not isinstance(c.shots, int) or c.shots <= 0:
            raise ValueError(f"shots must be a positive integer (images per class), got {c.shots!r}.")
        if c.method == "zeroshot":
            c.epochs, c.batch_size, c.lr, c.n_ctx, c.ctx_init = 0, 0, 0.0, 0, ""
        else:
            c.epochs = epochs_for(recipe, c.method, c.dataset) if c.epochs is None else c.epochs
            c.batch_size = recipe.batch_size[c.method] if c.batch_size is None else c.batch_size
            c.ctx_init = recipe.ctx_init if c.ctx_init is None else c.ctx_init
            c.lr = lr_for(recipe, c.method, random_ctx=not c.ctx_init) if c.lr is None else c.lr
            if c.n_ctx is None:
                c.n_ctx = None if c.ctx_init else recipe.n_ctx
            for name in ("epochs", "batch_size"):
                if getattr(c, name) < 1:
                    raise ValueError(f"{name} must be >= 1 for {c.method}, got {getattr(c, name)}.")
        if not c.eval_on:
            c.eval_on = ((f"{c.dataset}:base", f"{c.dataset}:new") if c.train_classes == "base"
                         else (f"{c.dataset}:all",))
        targets = []
        for target in c.eval_on:
            ds, _, subset = target.partition(":")
            subset = subset or "all"
            if subset not in SUBSETS:
                raise ValueError(f"Evaluation target {target!r}: subset must be one of {SUBSETS}.")
            if subset == "val" and get_spec(ds).name != c.dataset:
                raise ValueError(f"Evaluation target {target!r}: 'val' is the few-shot validation "
                                 f"draw of the training dataset, so only {c.dataset}:val exists.")
            targets.append(f"{get_spec(ds).name}:{subset}")
        c.eval_on = tuple(targets)
        if c.class_chunk is not None and (isinstance(c.class_chunk, bool)
                                          or not isinstance(c.class_chunk, int) or c.class_chunk < 1):
            raise ValueError(f"class_chunk must be a positive integer (classes per text-encoder "
                             f"call) or None (all classes at once), got {c.class_chunk!r}.")
        c.device = check_device(c.device)
        c.precision = resolve_precision(c.precision, c.device)
        return c

    def run_name(self) -> str:
        """Readable, unique name of a resolved config (what the record file is called)."""
        keys = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("output_dir", "device", "data_root", "tag")}
        digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:8]
        tag = f"-{self.tag}" if self.tag else ""
        return f"{self.dataset}-{self.method}-{self.train_classes}-seed{self.seed}{tag}-{digest}"


def check_device(device: str) -> str:
    """``device`` resolved ("auto" -> "cuda" when a GPU is visible, else "cpu") and checked.

    Raises ValueError naming the device and what is accepted (shared by the CLI, ``RunConfig``
    and the notebooks' parameter check).
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or not (device in ("cpu", "mps") or device == "cuda"
                                           or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device {device!r} is not valid: use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not valid: no CUDA GPU is visible here; use "
                             "'auto' or 'cpu'.")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not valid: only {torch.cuda.device_count()} "
                             "CUDA GPU(s) are visible.")
    return device


def check_output_dir(output_dir: str | Path) -> Path:
    """Create ``output_dir`` or raise ValueError saying why it cannot be
    used, before any work is done."""
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir {out} is a file, not a folder; choose a folder for records, "
                         "checkpoints and caches (--output-dir).")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"output_dir {out} cannot be created ({err.strerror or err}); choose a "
                         "writable folder (--output-dir).") from None
    if not os.access(out, os.W_OK):
        raise ValueError(f"output_dir {out} is not writable; choose a writable folder (--output-dir).")
    return out


_BACKBONES: dict[tuple, Backbone] = {}


def get_backbone(source: str, device: str, precision: str) -> Backbone:
    """Load a backbone once per process (runs in one notebook share it)."""
    key = (source, device, weight_dtype(precision))
    if key not in _BACKBONES:
        _BACKBONES[key] = load_backbone(source, device=device, dtype=weight_dtype(precision))
    return _BACKBONES[key]


def record_path(config: RunConfig) -> Path:
    c = config.resolved()
    return Path(c.output_dir) / "records" / f"{c.run_name()}.json"


def find_record(config: RunConfig) -> dict | None:
    """THE rule for reusing a record: the record of ``config`` if it exists (in its output_dir, or
    else shipped with the repository: :mod:`cocoop_lib.shipped`), is readable, and was made with
    the same weights, data (split file and image list) and recipe; else None.

    A damaged record raises :class:`~cocoop_lib.errors.RecordError` naming the file and the fix.
    """
    c = config.resolved()
    path = Path(c.output_dir) / "records" / f"{c.run_name()}.json"
    if not path.exists():   # the repository's shipped record, if it has this run (shipped.py)
        name = c.run_name()
        return (shipped_record(name, run_identity(c), data_root=c.data_root)
                if shipped_available(name) else None)
    record = read_record(path)
    return record if stale_reason(record, run_identity(c)) is None else None


def _clear_derived(out: Path, name: str) -> None:
    """``force``: remove the run's record and every checkpoint of its name. Feature and few-shot
    caches are shared by other runs and checked on reading (an unreadable one is rebuilt), so they
    stay."""
    (out / "records" / f"{name}.json").unlink(missing_ok=True)
    for ckpt in (out / "checkpoints").glob(f"{name}-*.pt"):
        ckpt.unlink(missing_ok=True)
    (out / "checkpoints" / f"{name}.pt").unlink(missing_ok=True)


def run(config: RunConfig, force: bool = False, progress: bool = True, wait: bool = True) -> dict:
    """Run one experiment and return its record (a record is reused when :func:`find_record`
    accepts it, unless ``force``; a stale one is recomputed with one line saying why).

    The result depends only on the resolved config, the data and the weights: the seed is set
    after the backbone is loaded and the data read, right before the few-shot draw.

    Training and evaluation happen while holding the run's claim (``<output_dir>/claims/``), so
    two processes never train one run: if a live process holds it, ``wait=True`` waits for it and
    returns its record, ``wait=False`` raises :class:`~cocoop_lib.claims.RunClaimed`.
    """
    c = config.resolved()
    name = c.run_name()
    out = check_output_dir(c.output_dir)
    rec_path = out / "records" / f"{name}.json"
    data = run_data(c)
    identity = run_identity(c, data, refresh=force)   # force: every image file is read again
    ckpt_path = checkpoint_file(out, name, identity)

    def finished() -> dict | None:
        """The run's record if it exists and belongs to this identity (else None)."""
        if not rec_path.exists():
            return None
        record = read_record(rec_path)
        return record if stale_reason(record, identity) is None else None

    if not force:
        record = finished()
        if record is not None:
            return record
        if rec_path.exists():
            print(f"recomputing {rec_path}: {stale_reason(read_record(rec_path), identity)}",
                  flush=True)
        else:
            record = take_shipped(name, identity, rec_path,   # the repository's record, if it has it
                                  data_root=c.data_root)
            if record is not None:
                return record
    claim = claims.acquire(out, name, wait=wait, finished=None if force else finished)
    if isinstance(claim, dict):  # another process finished it meanwhile
        return claim
    with claim, fixed_cpu_threads(c.device):
        # the hidden temporary files a writer killed between write and rename left (we hold the claim)
        remove_leftover_tmps(out / "records", f"{name}.json")
        remove_leftover_tmps(out / "checkpoints", f"{name}-")
        if force:  # start from scratch: no old record or checkpoint of this run is used
            _clear_derived(out, name)
        return _train_and_evaluate(c, name, out, rec_path, ckpt_path, data, identity, progress,
                                   claim)


def _train_and_evaluate(c: RunConfig, name: str, out: Path, rec_path: Path, ckpt_path: Path,
                        data: dict, identity: dict, progress: bool, claim: claims.Claim) -> dict:
    """The run itself (under its claim): train if needed, evaluate, write the record."""
    t_start = time.perf_counter()
    if c.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    backbone = get_backbone(c.backbone, c.device, c.precision)
    recipe = get_recipe(c.recipe, c.backbone)
    train_tf, test_tf = image_transforms(backbone.image_size, tuple(recipe.crop_scale))

    splits = data[c.dataset]
    targets = []  # (target, its splits, its test subset)
    for target in c.eval_on:
        ds_name, subset = target.split(":")
        if subset != "val":
            targets.append((target, data[ds_name], subsample_classes(data[ds_name], subset)))
    # every seeded draw starts here, after everything else that may consume random numbers
    set_seed(c.seed)
    few = sample_few_shot(splits, c.shots, c.seed, cache_dir=str(out / "fewshot"))
    train_split = subsample_classes(few, c.train_classes)
    if f"{c.dataset}:val" in c.eval_on:
        # the protocol's validation images (min(shots, 4) per training class), never test images:
        # what a hyperparameter may be chosen on
        val_target = (f"{c.dataset}:val", splits, dataclasses.replace(train_split, test=train_split.val))
        targets.insert(list(c.eval_on).index(f"{c.dataset}:val"), val_target)
    # every image this run reads, checked at once (all missing/unreadable ones listed together)
    needed = (train_split.train if c.method != "zeroshot" else []) + [
        d for _, _, t in targets for d in t.test]
    require_images(needed, f"images of run {name}")
    learner = build_prompt_learner(c.method, backbone, train_split.classnames,
                                   template=splits.template, n_ctx=c.n_ctx, ctx_init=c.ctx_init,
                                   class_token_position=c.class_token_position, csc=c.csc)
    if c.precision == "fp16-pure":
        learner.half()
    model = PromptedCLIP(backbone, learner, class_chunk=c.class_chunk)
    history = {"losses": [], "lrs": [], "seconds": 0.0}
    if c.method != "zeroshot":
        settings = TrainSettings(epochs=c.epochs, batch_size=c.batch_size, lr=c.lr,
                                 momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                                 warmup_epochs=recipe.warmup_epochs, warmup_lr=recipe.warmup_lr,
                                 precision=c.precision, device=c.device)
        history = train(model, ImageDataset(train_split.train, train_tf), settings,
                        checkpoint_path=ckpt_path, progress=progress,
                        on_epoch=claim.heartbeat, step_factory=make_step)

    metrics, n_test = {}, {}
    t_eval = time.perf_counter()
    for target, target_splits, test_split in targets:
        if c.method == "zeroshot":
            learner.set_classnames(test_split.classnames, template=target_splits.template)
        else:
            learner.set_classnames(test_split.classnames)
        feats, labels = cached_test_features(c, model, test_split.test, transform=test_tf,
                                             batch_size=recipe.test_batch_size,
                                             desc=f"{target} features")
        metrics[target] = round(accuracy_from_features(
            model, feats, labels, batch_size=recipe.test_batch_size, device=c.device,
            precision=c.precision, desc=f"{c.method} on {target}"), 4)
        n_test[target] = len(labels)
    if f"{c.dataset}:base" in metrics and f"{c.dataset}:new" in metrics:
        metrics[f"{c.dataset}:H"] = round(harmonic_mean(metrics[f"{c.dataset}:base"],
                                                        metrics[f"{c.dataset}:new"]), 4)
    if c.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB, process-wide
    record = {
        "name": name,
        "config": dataclasses.asdict(c),
        "recipe": json.loads(json.dumps(recipe.as_dict())),   # all of it (identity: training_fields)
        "data_identity": identity["data"],
        "metrics": metrics,
        "n_test": n_test,
        "n_train": len(train_split.train),
        "n_classes_train": len(train_split.classnames),
        "n_trainable_params": count_trainable(learner),
        "n_ctx": getattr(learner, "n_ctx", 0),
        "train": history,
        "backbone": backbone.info(),
        "provenance": provenance(c.device),
        "seconds": {"train": round(history["seconds"], 3),
                    "eval": round(time.perf_counter() - t_eval, 3),
                    "total": round(time.perf_counter() - t_start, 3)},
        "peak_memory_mib": round(peak, 1),
    }
    record = json.loads(json.dumps(record))  # as a reader of the file sees it (tuples -> lists)
    write_json_atomic(rec_path, record)
    return record


class PrintRunLog:
    """The per-run log of :func:`run_many` as plain lines on stdout (scripts, tests, the CLI).

    A log has three calls: ``log = RunLog(total)``, ``log.run(i, line)`` after each run,
    ``log.done(counts)`` at the end (counts: runs, shipped, reused, trained, seconds).
    :class:`cocoop_lib.display.NotebookRunLog` is the same log for a notebook page (a summary,
    the per-run lines folded away); ``cocoop_lib.notebook`` makes it the default there."""

    def __init__(self, total: int):
        self.total = total

    def run(self, i: int, line: str) -> None:
        print(f"[{i}/{self.total}] {line}", flush=True)

    def done(self, counts: dict) -> None:
        print(run_summary(counts), flush=True)


# the log run_many writes when none is given (cocoop_lib.notebook sets a notebook's)
RUN_LOG = PrintRunLog


def run_summary(counts: dict) -> str:
    """The one-line summary of a :func:`run_many` call, e.g. "54 runs (0 new, 54 reused, 54 of
    them shipped with the repository (...)) in 3 s"."""
    shipped = (f", {counts['shipped']} of them shipped with the repository (set "
               "COCOOP_SHIPPED_RUNS=0 to train them here)") if counts["shipped"] else ""
    return (f"{counts['runs']} runs ({counts['trained']} new, "
            f"{counts['runs'] - counts['trained']} reused{shipped}) in {counts['seconds']:.0f} s")


def run_line(record: dict, found: bool) -> str:
    """One run's line of the log: dataset, method, n_ctx, seed, metrics, and where it came from."""
    rc = record["config"]
    order = {"base": 0, "new": 1, "H": 2, "all": 0}
    own = rc["dataset"] + ":"
    items = sorted(record["metrics"].items(), key=lambda kv: (
        not kv[0].startswith(own), order.get(kv[0].split(":")[-1], 3)))
    metrics = "  ".join(f"{k.split(':', 1)[1] if k.startswith(own) else k} {v:.1f}"
                        for k, v in items)
    if found:
        how = "shipped record" if record.get("shipped_from") else "reused"
    else:
        how = f"{record['seconds']['total']:.0f} s"
    return (f"{rc['dataset']} {rc['method']} n_ctx={record['n_ctx']} seed {rc['seed']}: "
            f"{metrics}  ({how})")


def run_many(configs, *, verbose: bool = True, log=None) -> list[dict]:
    """Run every config (records :func:`find_record` accepts are reused), one log line per run.

    ``log``: a log class like :class:`PrintRunLog` (default :data:`RUN_LOG`); ``verbose=False``
    writes no log."""
    configs = list(configs)
    records = []
    t0 = time.perf_counter()
    out = (log or RUN_LOG)(len(configs)) if verbose else None
    for i, config in enumerate(configs, 1):
        found = find_record(config)
        record = run(config, progress=False)
        record["_reused"] = found is not None
        records.append(record)
        if out is not None:
            out.run(i, run_line(record, found is not None))
    if out is not None:
        n_trained = sum(not r["_reused"] for r in records)
        n_shipped = sum(bool(r["_reused"] and r.get("shipped_from")) for r in records)
        out.done({"runs": len(records), "trained": n_trained, "shipped": n_shipped,
                  "reused": len(records) - n_trained - n_shipped,
                  "seconds": time.perf_counter() - t0})
    return records


def cached_test_features(config, model, items, *, transform=None, batch_size: int = 100,
                         desc: str = "image features"):
    """Image features and labels of ``items`` under the test transform, from the cache the runs
    share (``<output_dir>/features``; an unreadable cache file is rebuilt): ((N, E) float32, (N,))."""
    c = config.resolved() if hasattr(config, "resolved") else config
    backbone = model.backbone
    if transform is None:
        _, transform = image_transforms(backbone.image_size)
    paths = [d.impath for d in items]
    key = features_key(backbone.weights_sha256, paths, transform, c.precision,
                       image_sha256s=image_sha256s(paths), labels=[d.label for d in items])
    with fixed_cpu_threads(c.device):   # the cache is shared with runs: the same numbers as theirs
        return image_features(model, ImageDataset(items, transform), batch_size=batch_size,
                              device=c.device, precision=c.precision,
                              cache_dir=Path(c.output_dir) / "features", cache_key=key, desc=desc)


def load_trained(record: dict):
    """Rebuild a finished run's model: (PromptedCLIP with the learned prompts, its training split).

    The learner is rebuilt for the run's training classes and loaded from the run's checkpoint
    (:func:`checkpoint_file`, the name ``run`` wrote it under).
    """
    c = RunConfig(**{k: tuple(v) if k == "eval_on" else v for k, v in record["config"].items()})
    backbone = get_backbone(c.backbone, c.device, c.precision)
    splits = load_run_dataset(c.dataset, c.data_root)
    few = sample_few_shot(splits, c.shots, c.seed, cache_dir=str(Path(c.output_dir) / "fewshot"))
    part = subsample_classes(few, c.train_classes)
    learner = build_prompt_learner(c.method, backbone, part.classnames, template=splits.template,
                                   n_ctx=c.n_ctx, ctx_init=c.ctx_init,
                                   class_token_position=c.class_token_position, csc=c.csc)
    if c.method != "zeroshot":
        folder = Path(c.output_dir) / "checkpoints"
        sha = record["backbone"]["weights_sha256"]
        candidates = [folder / f"{record['name']}-{sha[:8]}.pt", folder / f"{record['name']}.pt"]
        if "data_identity" in record:
            candidates.insert(0, checkpoint_file(c.output_dir, record["name"], record_identity(record)))
        ckpt = next((p for p in candidates if p.exists()), candidates[0])
        if not ckpt.exists():
            shipped = (" (the record came with the repository, whose shipped runs carry checkpoints "
                       "only for chapter 1's runs)" if record.get("shipped_from") else "")
            raise RecordError(f"checkpoint {ckpt} of record {record['name']} is missing{shipped}; "
                              "run it again with force=True (--force) to rebuild it")
        learner.load_state_dict(load_checkpoint(ckpt)["learner"])
    learner.eval()
    return PromptedCLIP(backbone, learner, class_chunk=c.class_chunk), part
