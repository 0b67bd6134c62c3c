"""Choosing the mini recipe's learning rates from base-class validation data only.

The mini CLIP is not real CLIP, so the paper's lr (0.002) need not suit it. The rule that picks
another one sees nothing but the protocol's few-shot **validation** images of the **base**
classes (``min(shots, 4)`` per class, drawn with the training shots; the ``Dataset:val`` target of
a run), never new-class, target or test images (:data:`RULE`).

One lr per variant for all datasets: nothing is chosen per dataset. The runs are ordinary runs
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

RULE = ("For each variant (CoOp from \"a photo of a\", CoOp with the ablation's long random context, "
        "CoCoOp), train it at every lr of the grid on every base-to-new dataset (seed 1, at the budget "
        "the recipe runs, the paper's: CoOp 200 epochs, 50 on MiniEmojiNet, batch 32; CoCoOp 10 "
        "epochs at batch 1), and keep the lr with the highest accuracy on the base classes' few-shot "
        "validation images, averaged over the datasets; a tie goes to the smaller lr.")
# Until 3 Dec 2026 the same rule ran at the mini recipe's former short budget; that selection (which
# set presets.MINI until the paper-budget one is complete) is kept as history (SHORT_SUMMARY).
SHORT_RULE = ("For each variant (CoOp from \"a photo of a\", CoOp with the ablation's long random context, "
              "CoCoOp), train it at every lr of the grid on every base-to-new dataset (seed 1, at the short "
              "budget: CoOp 10 epochs, 5 on MiniEmojiNet, batch 32; CoCoOp 2 epochs at batch 4), and keep "
              "the lr with the highest accuracy on the base classes' few-shot validation images, averaged "
              "over the datasets; a tie goes to the smaller lr.")
LR_GRID = (0.002, 0.02, 0.1, 0.3)
VARIANTS = ("coop", "coop-random", "cocoop")
SELECTION_SEED = 1
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
    from .experiments import ablation_n_ctx
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


# ----------------------------------------------------------------------------- the budget check

BUDGET_DIR = Path(__file__).parent / "assets" / "mini_runs"   # the shipped runs (shipped.py)


def budget_check_records(output_dir: str | Path = BUDGET_DIR, P=None):
    """The budget check's records (:func:`experiments.plan_budget_check`, mini world defaults):
    (short-budget records, paper-budget records, names of the runs not done yet).

    Only the (dataset, seed) pairs complete on both sides are returned, so the two sides always
    average over the same runs while the check is still being computed.
    """
    from .experiments import plan_budget_check
    from .parameters import check_parameters
    from .runs import find_record

    P = P or check_parameters("base_to_new", device="cpu", output_dir=str(output_dir))
    plan = plan_budget_check(P)
    found = {side: [(c, find_record(c)) for c in configs] for side, configs in plan.items()}
    missing = sorted({c.resolved().run_name() for pairs in found.values() for c, r in pairs if r is None})
    incomplete = {(c.dataset, c.seed) for pairs in found.values() for c, r in pairs if r is None}
    keep = {side: [r for c, r in pairs if (c.dataset, c.seed) not in incomplete]
            for side, pairs in found.items()}
    return keep["short budget"], keep["paper budget"], missing


def _trained_hours(records) -> float:
    return sum(r["seconds"]["total"] for r in records if r["config"]["method"] != "zeroshot") / 3600


def budget_check_report(output_dir: str | Path = BUDGET_DIR) -> dict:
    """The budget check from its records: {"gaps": :func:`results.budget_check`, "gains":
    :func:`results.gain_signs`, "counts": numbers for the prose, "missing": runs not done}."""
    from .results.tables import budget_check, gain_signs

    short_runs, paper_runs, missing = budget_check_records(output_dir)
    counts = {"budget_pairs": "0", "budget_same": 0, "budget_gaps": 0, "budget_flipped": "none",
              "gain_same": 0, "gain_cases": 0, "new_same": 0, "new_cases": 0,
              "base_gain5": 0, "base_gain5_short": 0, "n_datasets": 0,
              "paper_budget_hours": float("nan"), "short_budget_hours": float("nan")}
    if not short_runs:
        return {"gaps": None, "gains": None, "counts": counts, "missing": missing}
    gaps, gains = budget_check(short_runs, paper_runs), gain_signs(short_runs, paper_runs)
    flipped, new = gaps[~gaps.same_sign], gains[gains.subset == "new"]
    # mean gain per dataset, rounded to 1e-6 points so that 5.0 computed as 4.9999999 counts as 5
    base_gain = gains[gains.subset == "base"].groupby("dataset")[["short_budget", "paper_budget"]].mean().round(6)
    counts.update(
        budget_pairs=str(len({(r["config"]["dataset"], r["config"]["seed"]) for r in short_runs})),
        budget_same=int(gaps.same_sign.sum()), budget_gaps=len(gaps),
        budget_flipped=", ".join(f"{g} {m} ({a:+.1f} at the short budget, {b:+.1f} at the paper's)"
                                 for g, m, a, b in zip(flipped.gap, flipped.metric,
                                                       flipped.short_budget, flipped.paper_budget))
        or "none",
        gain_same=int(gains.same_sign.sum()), gain_cases=len(gains),
        new_same=int(new.same_sign.sum()), new_cases=len(new),
        base_gain5=int((base_gain.paper_budget >= 5).sum()),
        base_gain5_short=int((base_gain.short_budget >= 5).sum()), n_datasets=len(base_gain),
        paper_budget_hours=_trained_hours(paper_runs), short_budget_hours=_trained_hours(short_runs))
    return {"gaps": gaps, "gains": gains, "counts": counts, "missing": missing}


def budget_sentence(P) -> str:
    """What the budget check says, in one sentence for a chapter's prose (glued).

    In the paper's recipe there is no budget departure; in the mini recipe the sentence comes from
    the committed check's records (:func:`budget_check_records`), whatever they show.
    """
    from .presets import get_recipe

    if get_recipe(P.recipe, P.backbone).name != "mini":
        return "these runs use the paper's own epochs and batch sizes, so there is no budget departure to check"
    report = budget_check_report()
    n = report["counts"]
    if report["gaps"] is None:
        return "the appendix's budget check has no complete (dataset, seed) pair yet"
    text = ("these runs use the paper's epochs and batch sizes. The mini recipe's former shorter "
            "budget (CoOp 10 epochs, CoCoOp 2 epochs at batch 4) was dropped: trained that way "
            f"(the appendix's budget check, {n['budget_pairs']} dataset and seed pairs"
            f"{', still incomplete' if report['missing'] else ''}), the average row's gaps keep "
            f"their sign in {n['budget_same']} of {n['budget_gaps']} cases")
    if n["budget_flipped"] != "none":
        text += f" and flip in {n['budget_flipped']}"
    return text + (f". CoOp's new-class accuracy minus zero-shot has the same sign under both "
                   f"budgets in {n['new_same']} of {n['new_cases']} dataset and seed pairs")
