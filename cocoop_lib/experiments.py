"""The paper's experiments as plans: plain lists of RunConfig, shared by the book and the sweep.

    from cocoop_lib.experiments import plan, plan_base_to_new
    configs = plan_base_to_new(P)              # P: checked parameters (notebook.check_parameters)
    grid = plan(["base_to_new", "ablation", "transfer"], P)   # unique, most expensive first

A variant's display label comes from its config (:func:`config_label`), so a plan needs no
(label, config) pairs. :func:`plan` sorts the runs by :func:`cocoop_lib.run_cost.run_cost`; the
ablation's long context is :mod:`cocoop_lib.ablation_size`'s.
"""
from __future__ import annotations

from dataclasses import replace

from .ablation_size import PAPER_MATCHED_N_CTX, ablation_n_ctx, ctx_init_tokens
from .parameters import variant_label
from .prompt_learners import METHODS
from .run_cost import run_cost

BOOK_EXPERIMENTS = ("base_to_new", "ablation", "transfer")          # what the book's chapters run
EXPERIMENTS = BOOK_EXPERIMENTS + ("budget_check",)   # + the appendix's recipe check (plan_budget_check)


def plan_base_to_new(P) -> list:
    """Table 1: every base-to-new dataset x method x seed, trained on base, tested on base and new."""
    methods = [m for m in P.methods if m in METHODS]
    return [P.run_config(d, m, s) for d in P.world.base_to_new for m in methods for s in P.seeds]


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


def config_label(config) -> str:
    """The ablation's label of a run: "CoOp ctx=4", "CoOp ctx=60", "CoCoOp (ctx=4 + Meta-Net)"
    (zero-shot: "CLIP"); :func:`parameters.variant_label` with the context always named, the same
    text as ``results.method_label(record, explicit_ctx=True)``."""
    c = config.resolved()
    n_ctx = 0 if c.method == "zeroshot" else (c.n_ctx if c.n_ctx is not None else ctx_init_tokens(c.ctx_init))
    return variant_label(c.method, n_ctx, is_default=False, explicit_ctx=True)


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
