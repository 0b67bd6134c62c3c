"""The paper's experiments as plans: plain lists of RunConfig, shared by the book and the sweep.

    from cocoop_lib.experiments import plan, plan_base_to_new
    configs = plan_base_to_new(P)              # P: checked parameters (notebook.check_parameters)
    grid = plan(["base_to_new", "ablation", "transfer"], P)   # unique, most expensive first

A variant's display label comes from its config (:func:`config_label`), so a plan needs no
(label, config) pairs. :func:`run_cost` estimates a run's relative cost from its recipe, which the
sweep uses to schedule the longest runs first and to estimate the time left.
"""
from __future__ import annotations

import functools
from dataclasses import replace

from .parameters import variant_label
from .prompt_learners import METHODS

BOOK_EXPERIMENTS = ("base_to_new", "ablation", "transfer")          # what the book's chapters run
EXPERIMENTS = BOOK_EXPERIMENTS + ("budget_check",)   # + the appendix's recipe check (plan_budget_check)


def plan_base_to_new(P) -> list:
    """Table 1: every base-to-new dataset x method x seed, trained on base, tested on base and new."""
    methods = [m for m in P.methods if m in METHODS]
    return [P.run_config(d, m, s) for d in P.world.base_to_new for m in methods for s in P.seeds]


# The paper's parameter-matched CoOp context for ViT-B/16 (text width and embedding 512: 60 vectors,
# 30,720 parameters against CoCoOp's 35,360)
PAPER_MATCHED_N_CTX = 60


def _paper_widths(ctx_dim: int, embed_dim: int) -> bool:
    """ViT-B/16's widths, for which the matched context is :data:`PAPER_MATCHED_N_CTX`."""
    return ctx_dim == 512 and embed_dim == 512


def matched_n_ctx(backbone_info: dict | None = None, *, ctx_dim: int = 512, embed_dim: int = 512,
                  context_length: int = 77, longest_name: int = 12) -> int:
    """The parameter-matched context length of the ablation.

    ViT-B/16 (ctx_dim 512): :data:`PAPER_MATCHED_N_CTX`, the paper's. For another width: the
    same ratio of CoCoOp's count, kept short enough that the prompt (SOS, context, the longest
    class name, ".", EOT) fits the text encoder.
    """
    if backbone_info:
        ctx_dim = backbone_info.get("text_width", ctx_dim)
        embed_dim = backbone_info.get("embed_dim", embed_dim)
    if _paper_widths(ctx_dim, embed_dim):
        return PAPER_MATCHED_N_CTX
    hidden = embed_dim // 16
    cocoop = 4 * ctx_dim + embed_dim * hidden + hidden + hidden * ctx_dim + ctx_dim
    n = round(cocoop * (30_720 / 35_360) / ctx_dim)
    return max(5, min(n, context_length - longest_name - 3))


def plan_ablation(P, large_n_ctx: int | None = None) -> list:
    """The parameter-count ablation: a RunConfig per variant, dataset and seed.

    Variants (:func:`config_label`): CoOp with the recipe's context (4 vectors, "a photo of a":
    the same runs as Table 1's CoOp, so they are reused), CoOp with ``large_n_ctx`` random vectors
    (``n_ctx`` parameter, or parameter-matched: 60 for ViT-B/16), and CoCoOp (the recipe's context
    + Meta-Net).
    """
    large = large_n_ctx or P.n_ctx or PAPER_MATCHED_N_CTX
    base = replace(P, n_ctx=None)
    out = []
    for d in P.world.base_to_new:
        for s in P.seeds:
            if "coop" in P.methods:
                out.append(base.run_config(d, "coop", s))
                out.append(base.run_config(d, "coop", s, n_ctx=large, ctx_init=""))
            if "cocoop" in P.methods:
                out.append(base.run_config(d, "cocoop", s))
    return out


def _at_budget(config, source: str, epochs: dict, source_coop_epochs: int, batch_size: dict):
    """``config`` with another budget: ``epochs`` per method (CoOp on ``source``, the dataset that
    plays ImageNet: ``source_coop_epochs``) and ``batch_size`` per method; nothing else changes."""
    n = source_coop_epochs if (config.method == "coop" and config.dataset == source) \
        else epochs[config.method]
    return replace(config, epochs=n, batch_size=batch_size[config.method])


def paper_budget(config, source: str):
    """``config`` (a trained run) at the paper's epochs and batch size, everything else unchanged.

    Epochs: CoOp 200 (50 on ``source``, the dataset that plays ImageNet), CoCoOp 10; batch size:
    CoOp 32, CoCoOp 1 (:data:`presets.PAPER`). The lr stays the recipe's rule (the mini CLIP's lr is
    not the paper's), so the pair isolates the budget departures.
    """
    from .presets import PAPER

    return _at_budget(config, source, PAPER.epochs, PAPER.epochs_on["coop:ImageNet"], PAPER.batch_size)


def short_budget(config, source: str):
    """``config`` (a trained run) at the dropped short budget (:data:`presets.SHORT_BUDGET`: CoOp 10
    epochs, 5 on ``source``, batch 32; CoCoOp 2 epochs at batch 4), everything else unchanged."""
    from .presets import SHORT_BUDGET as S

    return _at_budget(config, source, S["epochs"], S["epochs_on"]["coop:MiniEmojiNet"], S["batch_size"])


def plan_budget_check(P) -> dict:
    """The budget check, Table 1's runs two ways: {"short budget": at the mini recipe's former
    epochs and batch sizes (:func:`short_budget`), "paper budget": at the paper's
    (:func:`paper_budget`; in the mini recipe these are Table 1's own runs)}; zero-shot shared."""
    runs = plan_base_to_new(P)
    return {side: [c if c.method == "zeroshot" else budget(c, P.world.source) for c in runs]
            for side, budget in (("short budget", short_budget), ("paper budget", paper_budget))}


def plan_transfer(P) -> list:
    """Tables 2 and 3: train on the source's classes (all of them), test on every dataset."""
    w = P.world
    eval_on = tuple(f"{d}:all" for d in (w.source, *w.targets, *w.variants))
    methods = [m for m in P.methods if m in METHODS]
    return [P.run_config(w.source, m, s, train_classes="all", eval_on=eval_on)
            for m in methods for s in P.seeds]


@functools.lru_cache(maxsize=64)
def _init_tokens(ctx_init: str) -> int:
    from transformers import CLIPTokenizer

    from .backbone import CLIP_TOKENIZER_DIR

    return len(CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)(ctx_init)["input_ids"]) - 2


def config_label(config) -> str:
    """The ablation's label of a run: "CoOp ctx=4", "CoOp ctx=60", "CoCoOp (ctx=4 + Meta-Net)"
    (zero-shot: "CLIP"); :func:`parameters.variant_label` with the context always named, the same
    text as ``results.method_label(record, explicit_ctx=True)``."""
    c = config.resolved()
    n_ctx = 0 if c.method == "zeroshot" else (c.n_ctx if c.n_ctx is not None else _init_tokens(c.ctx_init))
    return variant_label(c.method, n_ctx, is_default=False, explicit_ctx=True)


def backbone_dims(P) -> dict:
    """Widths of the backbone (read from its config.json, weights not loaded)."""
    import json

    from .backbone import resolve_backbone_folder

    cfg = json.loads((resolve_backbone_folder(P.backbone) / "config.json").read_text())
    text, vision = cfg.get("text_config", {}), cfg.get("vision_config", {})
    return {"text_width": text.get("hidden_size", 512), "embed_dim": cfg.get("projection_dim", 512),
            "context_length": text.get("max_position_embeddings", 77),
            "vision_width": vision.get("hidden_size"), "image_size": vision.get("image_size")}


def longest_classname_tokens(P) -> int:
    """Most tokens any class name (with its ".") of the base-to-new datasets takes."""
    from transformers import CLIPTokenizer

    from .backbone import CLIP_TOKENIZER_DIR
    from .datasets import load_dataset

    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    longest = 1
    for d in P.world.base_to_new:
        names = load_dataset(d, P.data_root).classnames
        longest = max([longest] + [len(tok(n.replace("_", " ") + ".")["input_ids"]) - 2 for n in names])
    return longest


def ablation_n_ctx(P) -> int:
    """The long context of the ablation: ``n_ctx`` if given, else parameter-matched for the
    backbone (60 for ViT-B/16, as in the paper)."""
    if P.n_ctx:
        return P.n_ctx
    dims = backbone_dims(P)
    if _paper_widths(dims["text_width"], dims["embed_dim"]):
        return PAPER_MATCHED_N_CTX    # the paper's (no need to read every class name)
    return matched_n_ctx(dims, context_length=dims["context_length"],
                         longest_name=longest_classname_tokens(P))


def run_cost(config) -> float:
    """Relative cost of a run from its recipe, in text-encoder prompt passes (no data is read).

    Training: epochs x training images x training classes, divided by the batch size for CoOp
    (one set of class prompts per batch) but not for CoCoOp (its prompts depend on each image).
    Evaluation: one prompt per test class (CoOp) or per test image and class (CoCoOp), estimated
    from the dataset's class count (test sizes are not known without reading the split file).
    """
    from .datasets import get_spec

    c = config.resolved()
    n_cls = get_spec(c.dataset).n_classes
    n_train_cls = n_cls if c.train_classes == "all" else (n_cls + 1) // 2
    images = c.shots * n_train_cls
    train = 0.0
    if c.method == "coop":
        train = c.epochs * images * n_train_cls / c.batch_size
    elif c.method == "cocoop":
        train = c.epochs * images * n_train_cls
    evaluate = 0.0
    for target in c.eval_on:
        ds, subset = target.split(":")
        k = get_spec(ds).n_classes
        k = k if subset == "all" else (k + 1) // 2
        spec = get_spec(ds)
        n_test = (spec.counts[2] if spec.counts else 50 * k) * (k / spec.n_classes)
        evaluate += n_test * (k if c.method == "cocoop" else 1) + k
    return train + evaluate


def plan(experiments, P, *, large_n_ctx: int | None = None) -> list:
    """Every RunConfig of ``experiments`` (names from EXPERIMENTS), without duplicates (runs shared
    by two experiments, e.g. Table 1's CoOp and the ablation's 4-vector CoOp, appear once), the
    most expensive first (:func:`run_cost`) so that a pool of workers finishes with a short tail."""
    unknown = [e for e in experiments if e not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
    configs = []
    if "base_to_new" in experiments:
        configs += plan_base_to_new(P)
    if "ablation" in experiments:
        configs += plan_ablation(P, large_n_ctx or ablation_n_ctx(P))
    if "transfer" in experiments:
        configs += plan_transfer(P)
    if "budget_check" in experiments:
        configs += [c for runs in plan_budget_check(P).values() for c in runs]
    unique = {}
    for c in configs:
        unique.setdefault(c.resolved().run_name(), c)
    return sorted(unique.values(), key=lambda c: (-run_cost(c), c.resolved().run_name()))
