"""One experiment run: sample the data, train the prompts, evaluate, write the record.

    from cocoop_lib.runs import RunConfig, run
    record = run(RunConfig(dataset="MiniGlyphs", method="cocoop", seed=1))
    record["metrics"]      # {"MiniGlyphs:base": 71.2, "MiniGlyphs:new": 64.0}

A run whose record exists is skipped (its record is returned); an interrupted run resumes from its
last epoch checkpoint. Runs on the same test images share cached image features.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import claims
from .backbone import (DEFAULT_BACKBONE, WEIGHT_FILES, Backbone, file_sha256, image_transforms,
                       load_backbone, resolve_backbone_folder)
from .datasets import (DataError, ImageDataset, get_spec, load_dataset, require_images,
                       sample_few_shot, subsample_classes)
from .evaluation import accuracy_from_features, features_key, harmonic_mean, image_features
from .model import PromptedCLIP
from .precision import resolve_precision, weight_dtype
from .presets import epochs_for, get_recipe
from .prompt_learners import METHODS, build_prompt_learner, count_trainable
from .records import provenance, write_json_atomic
from .training import TrainSettings, set_seed, train

SUBSETS = ("base", "new", "all")


@dataclass
class RunConfig:
    """Everything that defines one run. ``None`` means "from the recipe".

    Attributes:
        dataset: training dataset (e.g. "OxfordPets", "MiniGlyphs").
        method: "zeroshot", "coop" or "cocoop".
        seed: seeds python/numpy/torch before the data is built (fixes the few-shot draw too).
        shots: training images per class (val gets min(shots, 4)).
        epochs, batch_size, lr: optimisation; None takes the recipe's value for the method.
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
            c.lr = recipe.lr if c.lr is None else c.lr
            c.ctx_init = recipe.ctx_init if c.ctx_init is None else c.ctx_init
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
            targets.append(f"{get_spec(ds).name}:{subset}")
        c.eval_on = tuple(targets)
        if c.device == "auto":
            c.device = "cuda" if torch.cuda.is_available() else "cpu"
        c.precision = resolve_precision(c.precision, c.device)
        return c

    def run_name(self) -> str:
        """Readable, unique name of a resolved config (what the record file is called)."""
        keys = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("output_dir", "device", "data_root", "tag")}
        digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:8]
        tag = f"-{self.tag}" if self.tag else ""
        return f"{self.dataset}-{self.method}-{self.train_classes}-seed{self.seed}{tag}-{digest}"


_BACKBONES: dict[tuple, Backbone] = {}


def get_backbone(source: str, device: str, precision: str) -> Backbone:
    """Load a backbone once per process (runs in one notebook share it)."""
    key = (source, device, weight_dtype(precision))
    if key not in _BACKBONES:
        _BACKBONES[key] = load_backbone(source, device=device, dtype=weight_dtype(precision))
    return _BACKBONES[key]


def backbone_sha256(source: str) -> str:
    """sha256 of the weight file ``source`` resolves to (cached; no model is loaded)."""
    folder = resolve_backbone_folder(source)
    return file_sha256(next(folder / w for w in WEIGHT_FILES if (folder / w).exists()))


def record_path(config: RunConfig) -> Path:
    c = config.resolved()
    return Path(c.output_dir) / "records" / f"{c.run_name()}.json"


def _existing_record(rec_path: Path, weights_sha: str) -> dict | None:
    """The record at ``rec_path`` if it exists and was made with these weights (else None)."""
    if not rec_path.exists():
        return None
    record = json.loads(rec_path.read_text())
    return record if record.get("backbone", {}).get("weights_sha256") == weights_sha else None


def run(config: RunConfig, force: bool = False, progress: bool = True, wait: bool = True) -> dict:
    """Run one experiment and return its record (existing records are reused unless ``force``).

    Training and evaluation happen while holding the run's claim (``<output_dir>/claims/``), so
    two processes never train one run: if a live process holds it, ``wait=True`` waits for it and
    returns its record, ``wait=False`` raises :class:`~cocoop_lib.claims.RunClaimed`.
    """
    c = config.resolved()
    name = c.run_name()
    out = Path(c.output_dir)
    rec_path = out / "records" / f"{name}.json"
    weights_sha = backbone_sha256(c.backbone)
    ckpt_path = out / "checkpoints" / f"{name}-{weights_sha[:8]}.pt"  # never resumed on other weights
    finished = None if force else (lambda: _existing_record(rec_path, weights_sha))
    if not force:
        record = finished()
        if record is not None:
            return record
        force = rec_path.exists()  # the backbone's weights changed since: the old record is stale
    claim = claims.acquire(out, name, wait=wait, finished=finished)
    if isinstance(claim, dict):  # another process finished it meanwhile
        return claim
    with claim:
        return _train_and_evaluate(c, name, out, rec_path, ckpt_path, force, progress, claim)


def _train_and_evaluate(c: RunConfig, name: str, out: Path, rec_path: Path, ckpt_path: Path,
                        force: bool, progress: bool, claim: claims.Claim) -> dict:
    """The run itself (under its claim): train if needed, evaluate, write the record."""
    if force:  # start from scratch: an old checkpoint must not be resumed
        ckpt_path.unlink(missing_ok=True)
    t_start = time.perf_counter()
    if c.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    backbone = get_backbone(c.backbone, c.device, c.precision)
    set_seed(c.seed)  # after loading: loading a backbone consumes the torch RNG
    recipe = get_recipe(c.recipe, c.backbone)
    train_tf, test_tf = image_transforms(backbone.image_size, tuple(recipe.crop_scale))

    splits = load_dataset(c.dataset, c.data_root)
    few = sample_few_shot(splits, c.shots, c.seed, cache_dir=str(out / "fewshot"))
    train_split = subsample_classes(few, c.train_classes)
    learner = build_prompt_learner(c.method, backbone, train_split.classnames,
                                   template=splits.template, n_ctx=c.n_ctx, ctx_init=c.ctx_init,
                                   class_token_position=c.class_token_position, csc=c.csc)
    if c.precision == "fp16-pure":
        learner.half()
    model = PromptedCLIP(backbone, learner, class_chunk=c.class_chunk)
    history = {"losses": [], "lrs": [], "seconds": 0.0}
    if c.method != "zeroshot":
        require_images(train_split.train, f"{c.dataset} training images")
        settings = TrainSettings(epochs=c.epochs, batch_size=c.batch_size, lr=c.lr,
                                 momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                                 warmup_epochs=recipe.warmup_epochs, warmup_lr=recipe.warmup_lr,
                                 precision=c.precision, device=c.device)
        history = train(model, ImageDataset(train_split.train, train_tf), settings,
                        checkpoint_path=ckpt_path, progress=progress,
                        on_epoch=claim.heartbeat)

    metrics, n_test = {}, {}
    t_eval = time.perf_counter()
    for target in c.eval_on:
        ds_name, subset = target.split(":")
        target_splits = splits if ds_name == c.dataset else load_dataset(ds_name, c.data_root)
        test_split = subsample_classes(target_splits, subset)
        require_images(test_split.test, f"{ds_name} test images")
        if c.method == "zeroshot":
            learner.set_classnames(test_split.classnames, template=target_splits.template)
        else:
            learner.set_classnames(test_split.classnames)
        key = features_key(backbone.weights_sha256, [d.impath for d in test_split.test], test_tf,
                           c.precision)
        feats, labels = image_features(model, ImageDataset(test_split.test, test_tf),
                                       batch_size=recipe.test_batch_size, device=c.device,
                                       precision=c.precision, cache_dir=out / "features",
                                       cache_key=key, desc=f"{target} features")
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
        "recipe": recipe.as_dict(),
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
    write_json_atomic(rec_path, record)
    return record
