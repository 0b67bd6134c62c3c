"""Choosing the mini recipe's learning rates from base-class validation data only.

The mini CLIP is not real CLIP, so the paper's lr (0.002) need not suit it. The rule that picks
another one sees nothing but the protocol's few-shot **validation** images of the **base**
classes (``min(shots, 4)`` per class, drawn with the training shots; the ``Dataset:val`` target of
a run), never new-class, target or test images (:data:`RULE`).

One lr per variant for all datasets: nothing is chosen per dataset. The crop scale then goes
through the same rule at the chosen lrs (:data:`CROP_RULE`, :func:`crop_configs`,
:func:`choose_crop`). The runs are ordinary runs
(their records are kept, with ``tag="select"``); ``scripts/select_recipe.py`` runs them and
writes the summary the book's appendix prints (``assets/recipe_selection/summary.json``; the
records sit beside it).

    configs = selection_configs(["MiniGlyphs", ...], long_n_ctx=18, output_dir="outputs/select")
    records = [run(c) for _, _, c in configs]
    table = val_table(configs, records)        # variant -> lr -> {dataset: val acc, "mean": ...}
    chosen = choose(table)                     # variant -> lr
"""
from __future__ import annotations

import json
from pathlib import Path

from .presets import PAPER, SHORT_BUDGET

LR_GRID = (0.002, 0.02, 0.1, 0.3)
# the crop rule's two scales: the paper's, and the departure it tests (a candidate, not MINI's
# value, which is what the rule chose)
PAPER_CROP, MINI_CROP = tuple(PAPER.crop_scale), (0.8, 1.0)
CROP_GRID = (PAPER_CROP, MINI_CROP)
VARIANTS = ("coop", "coop-random", "cocoop")
SELECTION_SEED = 1


def crop_label(scale) -> str:
    """(0.08, 1.0) -> "0.08-1" (the summary's key of a crop scale)."""
    return "-".join(f"{float(x):g}" for x in scale)


def _budget(epochs: dict, source_epochs: int, batch_size: dict) -> str:
    """"CoOp 200 epochs, 50 on MiniEmojiNet, batch 32; CoCoOp 10 epochs at batch 1"."""
    return (f"CoOp {epochs['coop']} epochs, {source_epochs} on MiniEmojiNet, batch "
            f"{batch_size['coop']}; CoCoOp {epochs['cocoop']} epochs at batch {batch_size['cocoop']}")


def _lr_rule(budget: str) -> str:
    return (f"For each variant (CoOp from \"{PAPER.ctx_init}\", CoOp with the ablation's long random "
            "context, CoCoOp), train it at every lr of the grid on every base-to-new dataset (seed "
            f"{SELECTION_SEED}, at {budget}), and keep the lr with the highest accuracy on the base "
            "classes' few-shot validation images, averaged over the datasets; a tie goes to the "
            "smaller lr.")


RULE = _lr_rule("the budget the recipe runs, the paper's: " + _budget(
    PAPER.epochs, PAPER.epochs_on["coop:ImageNet"], PAPER.batch_size))
# Until 3 Dec 2026 the same rule ran at the mini recipe's former short budget; that selection (which
# set presets.MINI until the paper-budget one is complete) is kept as history (SHORT_SUMMARY).
SHORT_RULE = _lr_rule("the short budget: " + _budget(
    SHORT_BUDGET["epochs"], SHORT_BUDGET["epochs_on"]["coop:MiniEmojiNet"], SHORT_BUDGET["batch_size"]))
_PAPER_C, _MINI_C = crop_label(PAPER_CROP), crop_label(MINI_CROP)
CROP_RULE = ("The crop scale by the same rule: every variant at its chosen lr, trained with the "
             f"paper's random crops (scale {_PAPER_C}) and with the mini recipe's ({_MINI_C}) on every "
             f"base-to-new dataset (seed {SELECTION_SEED}, the same budget); the mini recipe keeps its "
             f"{_MINI_C} only if that gives the higher base-class validation accuracy averaged over the "
             f"three variants and the datasets; otherwise, a tie included, it takes the paper's {_PAPER_C}.")
STUDY_DIR = Path(__file__).parent / "assets" / "recipe_selection"   # output_dir of the runs
SUMMARY = STUDY_DIR / "summary.json"                      # at the paper's budget (RULE)
SHORT_SUMMARY = STUDY_DIR / "summary_short_budget.json"   # at the short budget (SHORT_RULE), history


def variant_overrides(variant: str, long_n_ctx: int) -> dict:
    """RunConfig fields of a selection variant."""
    if variant == "coop":
        return dict(method="coop")
    if variant == "coop-random":
        return dict(method="coop", n_ctx=long_n_ctx, ctx_init="")
    if variant == "cocoop":
        return dict(method="cocoop")
    raise ValueError(f"Unknown selection variant {variant!r}; choose one of {', '.join(VARIANTS)}.")


def selection_configs(datasets, *, long_n_ctx: int, grid=LR_GRID, variants=VARIANTS,
                      seed: int = SELECTION_SEED, budget: str = "paper",
                      **common) -> list[tuple[str, float, object]]:
    """(variant, lr, RunConfig) of every selection run; each is evaluated on ``Dataset:val`` only.

    ``budget``: "paper" (the rule's, the budget the mini recipe trains at) or "short" (the former
    short budget, to list the history's runs)."""
    from .experiments import paper_budget, short_budget
    from .runs import RunConfig

    out = []
    for variant in variants:
        for lr in grid:
            for d in datasets:
                config = RunConfig(dataset=d, seed=seed, lr=float(lr), recipe="mini",
                                   eval_on=(f"{d}:val",), tag="select",
                                   **variant_overrides(variant, long_n_ctx), **common)
                # MiniEmojiNet plays ImageNet (CoOp: a quarter of the epochs)
                at_budget = {"paper": paper_budget, "short": short_budget}[budget]
                out.append((variant, float(lr), at_budget(config, "MiniEmojiNet")))
    return out


def crop_configs(datasets, chosen: dict, *, long_n_ctx: int, scales=CROP_GRID,
                 variants=VARIANTS, seed: int = SELECTION_SEED,
                 **common) -> list[tuple[str, tuple, object]]:
    """(variant, crop scale, RunConfig) of the crop rule's runs: each variant at its ``chosen``
    lr, at the paper's budget, evaluated on ``Dataset:val`` only. The run at the recipe's own
    scale is the lr selection's run at that lr (the same config, found, not trained again)."""
    from .experiments import paper_budget
    from .runs import RunConfig

    out = []
    for variant in variants:
        for scale in scales:
            for d in datasets:
                config = RunConfig(dataset=d, seed=seed, lr=float(chosen[variant]), recipe="mini",
                                   eval_on=(f"{d}:val",), tag="select",
                                   crop_scale=tuple(float(x) for x in scale),
                                   **variant_overrides(variant, long_n_ctx), **common)
                out.append((variant, tuple(scale), paper_budget(config, "MiniEmojiNet")))
    return out


def crop_table(configs, records) -> dict:
    """crop label -> {variant: {dataset: base validation accuracy, ..., "mean"}, "mean": the
    average over the variants' means}."""
    table: dict = {}
    for (variant, scale, config), record in zip(configs, records):
        row = table.setdefault(crop_label(scale), {}).setdefault(variant, {})
        row[config.dataset] = record["metrics"][f"{config.dataset}:val"]
    for by_variant in table.values():
        for row in by_variant.values():
            row["mean"] = round(sum(row.values()) / len(row), 4)
        by_variant["mean"] = round(sum(r["mean"] for r in by_variant.values()) / len(by_variant), 4)
    return table


def choose_crop(table: dict) -> tuple:
    """The crop scale of :data:`CROP_RULE`: the mini recipe's only if strictly better."""
    mini, paper = table[crop_label(MINI_CROP)]["mean"], table[crop_label(PAPER_CROP)]["mean"]
    return MINI_CROP if mini > paper else PAPER_CROP


def zero_shot_configs(datasets, *, seed: int = SELECTION_SEED, **common) -> list:
    """Zero-shot CLIP on the same validation images: the reference row of the table (no choice)."""
    from .runs import RunConfig

    return [RunConfig(dataset=d, method="zeroshot", seed=seed, recipe="mini", eval_on=(f"{d}:val",),
                      tag="select", **common) for d in datasets]


def val_table(configs, records) -> dict:
    """variant -> lr -> {dataset: base-class validation accuracy, ..., "mean": their average}."""
    table: dict = {}
    for (variant, lr, config), record in zip(configs, records):
        row = table.setdefault(variant, {}).setdefault(lr, {})
        row[config.dataset] = record["metrics"][f"{config.dataset}:val"]
    for rows in table.values():
        for row in rows.values():
            row["mean"] = round(sum(row.values()) / len(row), 4)
    return table


def choose(table: dict) -> dict:
    """variant -> the lr with the highest mean validation accuracy (ties: the smaller lr)."""
    return {variant: max(sorted(rows), key=lambda lr: (rows[lr]["mean"], -lr))
            for variant, rows in table.items()}


def load_summary(path: str | Path | None = None) -> dict:
    """A committed selection summary: rule, grid, epochs, table, choice and record names.

    ``path`` None: the selection that sets :data:`presets.MINI`, the paper-budget one
    (:data:`SUMMARY`) once all its runs are done, until then the short-budget one
    (:data:`SHORT_SUMMARY`)."""
    from .errors import RecordError

    path = Path(path) if path else (SUMMARY if SUMMARY.exists() else SHORT_SUMMARY)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RecordError(f"The recipe-selection summary {path} cannot be read ({e}). Restore it "
                          "with `git checkout -- cocoop_lib/assets/recipe_selection`, or "
                          "recompute it with `python scripts/select_recipe.py`.") from None


def progress(output_dir: str | Path = STUDY_DIR, budget: str = "paper") -> dict:
    """How far the selection at ``budget`` is: {"done", "total", "missing": run names}."""
    from .ablation_size import ablation_n_ctx
    from .parameters import check_parameters
    from .runs import find_record

    P = check_parameters("ablation", device="cpu", output_dir=str(output_dir))
    configs = selection_configs(P.world.base_to_new, long_n_ctx=ablation_n_ctx(P), budget=budget,
                                device="cpu", output_dir=str(output_dir))
    missing = [c.resolved().run_name() for _, _, c in configs if find_record(c) is None]
    return {"done": len(configs) - len(missing), "total": len(configs), "missing": missing}


def selection_frame(summary: dict):
    """The selection table for display: one row per (variant, lr), a column per dataset and the
    mean, the chosen lr of each variant marked."""
    import pandas as pd

    rows = []
    if "zeroshot" in summary:
        rows.append({"variant": "zero-shot (reference)", "lr": float("nan"), **summary["zeroshot"],
                     "chosen": ""})
    for variant, by_lr in summary["table"].items():
        for lr, accs in by_lr.items():
            rows.append({"variant": variant, "lr": float(lr), **accs,
                         "chosen": "yes" if float(lr) == summary["chosen"][variant] else ""})
    return pd.DataFrame(rows, columns=["variant", "lr", *summary["datasets"], "mean", "chosen"])


def selections_side_by_side(summary: dict, short: dict):
    """Both selections' means, one row per (variant, lr): the short budget's (history) beside the
    paper budget's (in force), each with its choice marked "yes"."""
    import pandas as pd

    rows = []
    for variant, by_lr in summary["table"].items():
        for lr, accs in by_lr.items():
            before = short["table"].get(variant, {}).get(lr, {}).get("mean", float("nan"))
            rows.append({"variant": variant, "lr": float(lr),
                         "short budget": before,
                         "chosen then": "yes" if float(lr) == short["chosen"].get(variant) else "",
                         "paper budget": accs["mean"],
                         "chosen now": "yes" if float(lr) == summary["chosen"][variant] else ""})
    return pd.DataFrame(rows)


def crop_frame(summary: dict):
    """The crop rule's table: one row per crop scale, the variants' mean base validation accuracy
    (at their chosen lr) and their average, the kept scale marked."""
    import pandas as pd

    if summary.get("crop_table") is None:      # the crop rule has not finished
        return pd.DataFrame(columns=["crop scale", *VARIANTS, "mean", "kept"])
    kept = crop_label(summary["crop_chosen"])
    rows = [{"crop scale": label, **{v: t[v]["mean"] for v in VARIANTS}, "mean": t["mean"],
             "kept": "yes" if label == kept else ""}
            for label, t in sorted(summary["crop_table"].items(), key=lambda kv: float(kv[0].split("-")[0]))]
    return pd.DataFrame(rows)
