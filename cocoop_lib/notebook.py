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


def plan_base_to_new(P: BookParameters) -> list:
    """Table 1: every base-to-new dataset x method x seed, trained on base, tested on base and new."""
    methods = [m for m in P.methods if m in CHAPTERS["base_to_new"]]
    return [P.run_config(d, m, s) for d in P.world.base_to_new for m in methods for s in P.seeds]


def matched_n_ctx(backbone_info: dict | None = None, *, ctx_dim: int = 512, embed_dim: int = 512,
                  context_length: int = 77, longest_name: int = 12) -> int:
    """The parameter-matched context length of the ablation.

    ViT-B/16 (ctx_dim 512): 60, the paper's (30,720 parameters against CoCoOp's 35,360). For
    another width: the same ratio of CoCoOp's count, kept short enough that the prompt (SOS,
    context, the longest class name, ".", EOT) fits the text encoder.
    """
    if backbone_info:
        ctx_dim = backbone_info.get("text_width", ctx_dim)
        embed_dim = backbone_info.get("embed_dim", embed_dim)
    if ctx_dim == 512 and embed_dim == 512:
        return 60
    hidden = embed_dim // 16
    cocoop = 4 * ctx_dim + embed_dim * hidden + hidden + hidden * ctx_dim + ctx_dim
    n = round(cocoop * (30_720 / 35_360) / ctx_dim)
    return max(5, min(n, context_length - longest_name - 3))


def plan_ablation(P: BookParameters, large_n_ctx: int | None = None) -> list[tuple[str, object]]:
    """The parameter-count ablation: (variant label, RunConfig) for every dataset and seed.

    Variants: CoOp with the recipe's context (4 vectors, "a photo of a": the same runs as Table 1's
    CoOp, so they are reused), CoOp with ``large_n_ctx`` random vectors (``n_ctx`` parameter, or
    parameter-matched: 60 for ViT-B/16), and CoCoOp (the recipe's context + Meta-Net).
    """
    large = large_n_ctx or P.n_ctx or 60
    base = replace(P, n_ctx=None)
    out = []
    for d in P.world.base_to_new:
        for s in P.seeds:
            if "coop" in P.methods:
                out.append(("CoOp ctx=4", base.run_config(d, "coop", s)))
                out.append((f"CoOp ctx={large}", base.run_config(d, "coop", s, n_ctx=large,
                                                                 ctx_init="")))
            if "cocoop" in P.methods:
                out.append(("CoCoOp (ctx=4 + Meta-Net)", base.run_config(d, "cocoop", s)))
    return out


def plan_transfer(P: BookParameters) -> list:
    """Tables 2 and 3: train on the source's classes (all of them), test on every dataset."""
    w = P.world
    eval_on = tuple(f"{d}:all" for d in (w.source, *w.targets, *w.variants))
    methods = [m for m in P.methods if m in CHAPTERS["transfer"]]
    return [P.run_config(w.source, m, s, train_classes="all", eval_on=eval_on)
            for m in methods for s in P.seeds]


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


def backbone_dims(P: BookParameters) -> dict:
    """Widths of the backbone (read from its config.json, weights not loaded)."""
    import json

    from .backbone import resolve_backbone_folder

    cfg = json.loads((resolve_backbone_folder(P.backbone) / "config.json").read_text())
    text, vision = cfg.get("text_config", {}), cfg.get("vision_config", {})
    return {"text_width": text.get("hidden_size", 512), "embed_dim": cfg.get("projection_dim", 512),
            "context_length": text.get("max_position_embeddings", 77),
            "vision_width": vision.get("hidden_size"), "image_size": vision.get("image_size")}


def longest_classname_tokens(P: BookParameters) -> int:
    """Most tokens any class name (with its ".") of the base-to-new datasets takes."""
    from .backbone import CLIP_TOKENIZER_DIR
    from .datasets import load_dataset
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    longest = 1
    for d in P.world.base_to_new:
        names = load_dataset(d, P.data_root).classnames
        longest = max([longest] + [len(tok(n.replace("_", " ") + ".")["input_ids"]) - 2 for n in names])
    return longest


def ablation_n_ctx(P: BookParameters) -> int:
    """The long context of the ablation: ``n_ctx`` if given, else parameter-matched for the
    backbone (60 for ViT-B/16, as in the paper)."""
    if P.n_ctx:
        return P.n_ctx
    dims = backbone_dims(P)
    if dims["text_width"] == 512 and dims["embed_dim"] == 512:
        return 60                     # the paper's (no need to read every class name)
    return matched_n_ctx(dims, context_length=dims["context_length"],
                         longest_name=longest_classname_tokens(P))


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
