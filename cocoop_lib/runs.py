"""One experiment run: sample the data, train the prompts, evaluate, write the record.

    from cocoop_lib.runs import RunConfig, run
    record = run(RunConfig(dataset="MiniGlyphs", method="cocoop", seed=1))
    record["metrics"]      # {"MiniGlyphs:base": 71.2, "MiniGlyphs:new": 64.0}

A run whose record exists is skipped (its record is returned); an interrupted run resumes from its
last epoch checkpoint. Runs on the same test images share cached image features.

This module holds the reuse rule (:func:`find`, :func:`find_record`), :func:`run` and :func:`run_many`; the
config and its checks are :mod:`.run_config`, loading a trained model and the feature cache
:mod:`.trained`, the console log :mod:`.run_log` (all re-exported here: ``cocoop_lib.runs`` is
the one import of the notebooks, scripts and tests).
"""
from __future__ import annotations

import dataclasses
import json
import resource
import time
from functools import partial
from pathlib import Path

import torch

from . import run_locks
from .backbone import image_transforms
from .datasets import ImageDataset, require_images, sample_few_shot, subsample_classes
from .evaluation import accuracy_from_features, harmonic_mean
from .fast import make_step
from .identity import (backbone_sha256, checkpoint_file, data_identity, image_sha256s,  # noqa: F401
                       load_run_dataset, record_identity, run_data, run_identity, stale_reason)
from .machine import provenance
from .model import PromptedCLIP
from .presets import get_recipe
from .prompt_learners import build_prompt_learner, count_trainable
from .records import read_record, remove_leftover_tmps, write_json_atomic
from .run_config import (CPU_THREADS, SUBSETS, RunConfig, check_device,  # noqa: F401
                         check_output_dir, fixed_cpu_threads)
from .run_log import PrintRunLog, run_line, run_summary  # noqa: F401
from .shipped import available as shipped_available, shipped_record, take_shipped
from .trained import cached_test_features, get_backbone, load_trained  # noqa: F401
from .training import TrainSettings, plain_step, set_seed, train


def _record_file(output_dir: str | Path, name: str) -> Path:
    """Where run ``name``'s record lives in ``output_dir`` (the one place this path is written)."""
    return Path(output_dir) / "records" / f"{name}.json"


def record_path(config: RunConfig) -> Path:
    c = config.resolved()
    return _record_file(c.output_dir, c.run_name())


def _find(c: RunConfig, identity: dict | None = None) -> tuple[dict | None, str | None]:
    """:func:`find` for a resolved config and its identity (None: computed only where a record
    is there to compare it with, so a run without one reads no data here)."""
    path = _record_file(c.output_dir, c.run_name())
    if path.exists():
        record = read_record(path)
        same = stale_reason(record, identity or run_identity(c)) is None
        return (record, "output_dir") if same else (None, None)
    name = c.run_name()      # the repository's shipped record, if it has this run (shipped.py)
    if not shipped_available(name):
        return None, None
    record = shipped_record(name, identity or run_identity(c), data_root=c.data_root)
    return (record, "shipped") if record is not None else (None, None)


def find(config: RunConfig) -> tuple[dict | None, str | None]:
    """THE rule for reusing a record: ``(record, source)`` for the record of ``config`` if it
    exists (source ``"output_dir"``; or else ``"shipped"``, with the repository:
    :mod:`cocoop_lib.shipped`), is readable, and was made with the same weights, data (split file
    and image list) and recipe; else ``(None, None)``.

    A damaged record raises :class:`~cocoop_lib.errors.RecordError` naming the file and the fix.
    """
    return _find(config.resolved())


def find_record(config: RunConfig) -> dict | None:
    """The record :func:`find` accepts for ``config``, or None."""
    return find(config)[0]


def _clear_derived(out: Path, name: str) -> None:
    """``force``: remove the run's record and every checkpoint of its name. Feature and few-shot
    caches are shared by other runs and checked on reading (an unreadable one is rebuilt), so they
    stay."""
    _record_file(out, name).unlink(missing_ok=True)
    for ckpt in (out / "checkpoints").glob(f"{name}-*.pt"):
        ckpt.unlink(missing_ok=True)


def run(config: RunConfig, force: bool = False, progress: bool = True, wait: bool = True) -> dict:
    """Run one experiment and return its record (a record is reused when :func:`find_record`
    accepts it, unless ``force``; a stale one is recomputed with one line saying why).

    The result depends only on the resolved config, the data and the weights: the seed is set
    after the backbone is loaded and the data read, right before the few-shot draw.

    Training and evaluation happen while holding the run's claim (``<output_dir>/claims/``), so
    two processes never train one run: if a live process holds it, ``wait=True`` waits for it and
    returns its record, ``wait=False`` raises :class:`~cocoop_lib.run_locks.RunClaimed`.
    """
    c = config.resolved()
    name = c.run_name()
    out = check_output_dir(c.output_dir)
    rec_path = _record_file(out, name)
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
        record, source = _find(c, identity)
        if source == "output_dir":
            return record
        if rec_path.exists():
            print(f"recomputing {rec_path}: {stale_reason(read_record(rec_path), identity)}",
                  flush=True)
        elif source == "shipped":   # the repository's record, copied into the output dir
            record = take_shipped(name, identity, rec_path, data_root=c.data_root)
            if record is not None:
                return record
    claim = run_locks.acquire(out, name, wait=wait, finished=None if force else finished)
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
                        data: dict, identity: dict, progress: bool, claim: run_locks.Claim) -> dict:
    """The run itself (under its claim): train if needed, evaluate, write the record."""
    t_start = time.perf_counter()
    if c.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    backbone = get_backbone(c.backbone, c.device, c.precision)
    recipe = get_recipe(c.recipe, c.backbone)
    train_tf, test_tf = image_transforms(backbone.image_size, tuple(c.crop_scale or recipe.crop_scale))

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
                        on_epoch=claim.heartbeat, step_factory=partial(make_step, plain=plain_step))

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


# the log run_many writes when none is given (cocoop_lib.notebook sets a notebook's)
RUN_LOG = PrintRunLog


def run_many(configs, *, verbose: bool = True, log=None) -> list[dict]:
    """Run every config (records :func:`find_record` accepts are reused), one log line per run.

    ``log``: a log class like :class:`PrintRunLog` (default :data:`RUN_LOG`); ``verbose=False``
    writes no log."""
    configs = list(configs)
    records, reused = [], []
    t0 = time.perf_counter()
    out = (log or RUN_LOG)(len(configs)) if verbose else None
    for i, config in enumerate(configs, 1):
        reused.append(find(config)[0] is not None)
        records.append(run(config, progress=False))
        if out is not None:
            out.run(i, run_line(records[-1], reused[-1]))
    if out is not None:
        n_trained = reused.count(False)
        n_shipped = sum(bool(r.get("shipped_from")) for r, old in zip(records, reused) if old)
        out.done({"runs": len(records), "trained": n_trained, "shipped": n_shipped,
                  "reused": len(records) - n_trained - n_shipped,
                  "seconds": time.perf_counter() - t0})
    return records
