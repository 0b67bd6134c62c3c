"""The budget check: the book's base-to-new runs at the mini recipe's former short budget (CoOp 10
epochs, CoCoOp 2 at batch 4) beside the same runs at the paper's epochs and batch sizes, from their
shipped records (:func:`experiments.plan_budget_check`; appendix A1 prints it, chapter 2 quotes
:func:`budget_sentence`). It is why the mini recipe trains at the paper's budget.

The learning rates both sides use are the recipe's, chosen by :mod:`cocoop_lib.selection`.
"""
from __future__ import annotations

from pathlib import Path

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
    from .presets import SHORT_BUDGET as S, get_recipe

    if get_recipe(P.recipe, P.backbone).name != "mini":
        return "these runs use the paper's own epochs and batch sizes, so there is no budget departure to check"
    report = budget_check_report()
    n = report["counts"]
    if report["gaps"] is None:
        return "the appendix's budget check has no complete (dataset, seed) pair yet"
    text = ("these runs use the paper's epochs and batch sizes. The mini recipe's former shorter "
            f"budget (CoOp {S['epochs']['coop']} epochs, CoCoOp {S['epochs']['cocoop']} epochs at "
            f"batch {S['batch_size']['cocoop']}) was dropped: trained that way "
            f"(the appendix's budget check, {n['budget_pairs']} dataset and seed pairs"
            f"{', still incomplete' if report['missing'] else ''}), the average row's gaps keep "
            f"their sign in {n['budget_same']} of {n['budget_gaps']} cases")
    if n["budget_flipped"] != "none":
        text += f" and flip in {n['budget_flipped']}"
    return text + (f". CoOp's new-class accuracy minus zero-shot has the same sign under both "
                   f"budgets in {n['new_same']} of {n['new_cases']} dataset and seed pairs")
