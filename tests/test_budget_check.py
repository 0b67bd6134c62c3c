"""cocoop_lib/budget_check.py: the budget sentence and counts from the records."""
from cocoop_lib import budget_check as budget_check_module
from cocoop_lib.parameters import check_parameters
from fixtures_records import selection_record as _record


def test_budget_sentence_reports_flips_from_the_records(monkeypatch):
    zs = [_record(d, "zeroshot", 1, 50, 50) for d in ("A", "B")]
    recipe = zs + [_record("A", "coop", 1, 60, 55), _record("B", "coop", 1, 70, 48),
                   _record("A", "cocoop", 1, 58, 56), _record("B", "cocoop", 1, 66, 52)]
    paper = zs + [_record("A", "coop", 1, 70, 40), _record("B", "coop", 1, 80, 44),
                  _record("A", "cocoop", 1, 62, 54), _record("B", "cocoop", 1, 66, 52)]
    monkeypatch.setattr(budget_check_module, "budget_check_records", lambda *a: (recipe, paper, []))
    text = budget_check_module.budget_sentence(check_parameters("base_to_new", device="cpu"))
    assert text.startswith("these runs use the paper's epochs and batch sizes")
    assert "2 dataset and seed pairs" in text
    assert "CoOp - CLIP new (+1.5 at the short budget, -8.0 at the paper's)" in text
    assert text.endswith("the same sign under both budgets in 1 of 2 dataset and seed pairs")
    paper_text = budget_check_module.budget_sentence(check_parameters("base_to_new", device="cpu", recipe="paper"))
    assert "no budget departure" in paper_text


def test_base_gain_count_takes_a_mean_of_exactly_five_points(monkeypatch):
    """MiniFashion's CoOp base gains 8.0, 1.2 and 5.8 over seeds: a mean of 5 points, which
    float sums give as 4.999...; it counts as >= 5."""
    zs = [_record("A", "zeroshot", s, 66.4, 85.0) for s in (1, 2, 3)]
    runs = zs + [_record("A", "coop", s, b, 86.0) for s, b in zip((1, 2, 3), (74.4, 67.6, 72.2))] \
        + [_record("A", "cocoop", s, 68.0, 86.0) for s in (1, 2, 3)]
    monkeypatch.setattr(budget_check_module, "budget_check_records", lambda *a: (runs, runs, []))
    counts = budget_check_module.budget_check_report()["counts"]
    assert (counts["base_gain5"], counts["base_gain5_short"], counts["n_datasets"]) == (1, 1, 1)
