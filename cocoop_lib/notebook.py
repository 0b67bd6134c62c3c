"""The chapters' one import: re-exports of the helpers the book's notebooks call, and the
notebook environment (set when this module is imported, so a chapter's first cell sets it).

Where things live: parameter checks in :mod:`cocoop_lib.parameters`, dataset roles in
:mod:`cocoop_lib.datasets.roles`, provenance facts in :mod:`cocoop_lib.provenance`, the
provenance block and glue in :mod:`cocoop_lib.display`. Scripts (``scripts/sweep.py``) import
those modules directly and so avoid the environment settings below. The experiment plans and the
run helpers below move to ``experiments.py`` / ``runs.py``.
"""
from __future__ import annotations

import os
import warnings

# tqdm.auto warns at import that ipywidgets is missing; the book needs no widgets.
warnings.filterwarnings("ignore", message="IProgress not found")
# Executed notebooks should not fill with progress bars (tqdm reads this when it is imported).
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import time
from dataclasses import replace
from pathlib import Path

from .datasets.roles import World, default_datasets, world_of  # noqa: F401
from .display import glue_numbers, provenance_block, provenance_html, show_provenance  # noqa: F401
from .parameters import (CHAPTERS, DEFAULT_SEEDS, METHOD_LABELS, PAPER_SETTING,  # noqa: F401
                         PARAMETER_NAMES, BookParameters, ParameterError, check_parameters)
from .provenance import (backbone_summary, provenance_info, setting_sentence,  # noqa: F401
                         setting_warning)


# ----------------------------------------------------------------------------- experiment plans

# the plans live in cocoop_lib.experiments (the sweep uses them too); re-exported for the chapters
from .experiments import (ablation_n_ctx, backbone_dims, longest_classname_tokens,  # noqa: E402,F401
                          matched_n_ctx, plan_ablation, plan_base_to_new, plan_transfer,
                          variant_label)


# ----------------------------------------------------------------------------- running


def run_all(configs, *, verbose: bool = True) -> list[dict]:
    """Run every config (records that exist are reused) and print one line per run."""
    from .runs import run

    records = []
    t0 = time.perf_counter()
    for i, config in enumerate(configs, 1):
        config = config[1] if isinstance(config, tuple) else config
        reused = usable_record(config) is not None
        record = run(config, progress=False)
        record["_reused"] = reused
        records.append(record)
        if verbose:
            c = record["config"]
            order = {"base": 0, "new": 1, "H": 2, "all": 0}
            items = sorted(record["metrics"].items(), key=lambda kv: (
                not kv[0].startswith(c["dataset"] + ":"), order.get(kv[0].split(":")[-1], 3)))
            metrics = "  ".join(f"{k.split(':', 1)[1] if k.startswith(c['dataset'] + ':') else k} "
                                f"{v:.1f}" for k, v in items)
            how = "reused" if reused else f"{record['seconds']['total']:.0f} s"
            print(f"[{i}/{len(configs)}] {c['dataset']} {c['method']} n_ctx={record['n_ctx']} "
                  f"seed {c['seed']}: {metrics}  ({how})", flush=True)
    if verbose:
        n_new = sum(not r["_reused"] for r in records)
        print(f"{len(records)} runs ({n_new} new, {len(records) - n_new} reused) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return records


def load_records(configs) -> tuple[list[dict], list]:
    """Existing records of ``configs`` (nothing is run) and the configs that have none yet."""
    found, missing = [], []
    for config in configs:
        config = config[1] if isinstance(config, tuple) else config
        record = usable_record(config)
        if record is not None:
            found.append(record)
        else:
            missing.append(config)
    return found, missing


def usable_record(config) -> dict | None:
    """The record of ``config`` if it exists and was made with the backbone's current weights
    (``run`` redoes a run whose record came from other weights)."""
    import json

    from .runs import record_path

    path = record_path(config)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    try:
        from .runs import backbone_sha256
        current = backbone_sha256(config.resolved().backbone)
    except ImportError:  # an older library without the check
        return record
    return record if record.get("backbone", {}).get("weights_sha256") == current else None


# ----------------------------------------------------------------------------- glue and models


def trained_model(record: dict):
    """Rebuild a finished run's model: (PromptedCLIP with the learned prompts, its training split).

    The learner is rebuilt for the run's training classes and loaded from the run's checkpoint
    (``<output_dir>/checkpoints/<run name>.pt``, written after every epoch).
    """
    import torch

    from .datasets import load_dataset, sample_few_shot, subsample_classes
    from .model import PromptedCLIP
    from .prompt_learners import build_prompt_learner
    from .runs import get_backbone

    c = record["config"]
    backbone = get_backbone(c["backbone"], c["device"], c["precision"])
    splits = load_dataset(c["dataset"], c["data_root"])
    few = sample_few_shot(splits, c["shots"], c["seed"],
                          cache_dir=str(Path(c["output_dir"]) / "fewshot"))
    part = subsample_classes(few, c["train_classes"])
    learner = build_prompt_learner(c["method"], backbone, part.classnames, template=splits.template,
                                   n_ctx=c["n_ctx"], ctx_init=c["ctx_init"])
    if c["method"] != "zeroshot":
        folder = Path(c["output_dir"]) / "checkpoints"
        ckpt = folder / f"{record['name']}-{record['backbone']['weights_sha256'][:8]}.pt"
        if not ckpt.exists():  # records written before checkpoints were named by their weights
            ckpt = folder / f"{record['name']}.pt"
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        learner.load_state_dict(state["learner"])
    learner.eval()
    return PromptedCLIP(backbone, learner), part


def test_features(config, model, items):
    """Image features and labels of ``items`` under the test transform, from the same cache the
    runs use (``<output_dir>/features``): ((N, E) float32, (N,) long)."""
    from .backbone import image_transforms
    from .datasets import ImageDataset
    from .evaluation import features_key, image_features

    c = config.resolved() if hasattr(config, "resolved") else config
    backbone = model.backbone
    _, test_tf = image_transforms(backbone.image_size)
    key = features_key(backbone.weights_sha256, [d.impath for d in items], test_tf, c.precision)
    return image_features(model, ImageDataset(items, test_tf), device=c.device, precision=c.precision,
                          cache_dir=Path(c.output_dir) / "features", cache_key=key)
