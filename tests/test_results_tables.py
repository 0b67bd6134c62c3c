"""cocoop_lib/results/tables.py: the paper's tables from run records, checked against hand
computations (aggregation, claim gaps and their machine noise, ablation, transfer, budget check)."""
from __future__ import annotations

import math

import pytest

from cocoop_lib import results
from cocoop_lib.evaluation import harmonic_mean
from cocoop_lib.results.tables import budget_check, gain_signs
from fixtures_records import b2n, record, selection_record as _record


def test_base_to_new_aggregation_matches_hand_computation():
    recs = [b2n("A", "coop", 1, 90.0, 40.0), b2n("A", "coop", 2, 80.0, 50.0),
            b2n("B", "coop", 1, 60.0, 70.0), b2n("B", "coop", 2, 70.0, 90.0),
            b2n("A", "cocoop", 1, 85.0, 60.0), b2n("B", "cocoop", 1, 65.0, 80.0)]
    s = results.base_to_new(recs)
    a = s[(s.dataset == "A") & (s.method == "CoOp")].iloc[0]
    assert (a.base, a.new, a.n_seeds) == (85.0, 45.0, 2)
    assert a.base_std == pytest.approx(math.sqrt(50.0))            # sample std of 90, 80
    assert a.H == pytest.approx(2 * 85 * 45 / 130)                  # H of the seed means
    assert a.H_std == pytest.approx(abs(harmonic_mean(90, 40) - harmonic_mean(80, 50)) / math.sqrt(2))
    avg = results.average_row(s, "CoOp")
    assert avg["base"] == pytest.approx((85 + 65) / 2) and avg["new"] == pytest.approx((45 + 80) / 2)
    assert avg["H"] == pytest.approx(harmonic_mean(75.0, 62.5))     # H(mean B, mean N) = 68.18
    mean_of_h = (harmonic_mean(85, 45) + harmonic_mean(65, 80)) / 2  # = 66.80, a different number
    assert abs(avg["H"] - mean_of_h) > 1
    # spread of the average row: per-seed averages B (75, 75), N (55, 70) -> std of N = 15 / sqrt 2
    assert avg["base_std"] == pytest.approx(0.0) and avg["new_std"] == pytest.approx(15 / math.sqrt(2))
    # the average row is compared with the paper's 11-dataset average
    assert avg["paper_H"] == 71.66 and avg["d_H"] == pytest.approx(avg["H"] - 71.66)
    # single-seed CoCoOp: std 0, one seed
    c = s[(s.dataset == "B") & (s.method == "CoCoOp")].iloc[0]
    assert (c.n_seeds, c.base_std) == (1, 0.0)
    claims = results.claim_check(s).set_index(["gap", "metric"])
    assert claims.loc[("CoCoOp - CoOp", "new"), "ours"] == pytest.approx(70 - 62.5)
    assert claims.loc[("CoCoOp - CoOp", "new"), "paper"] == pytest.approx(71.69 - 63.22)
    assert claims.loc[("CoCoOp - CoOp", "new"), "same_sign"]
    html = results.base_to_new_display(s).to_html()
    assert 'id="table-base-to-new"' in html and "85.0 ± 7.1" in html


def test_paper_datasets_and_roles_are_compared_with_their_own_rows():
    recs = [b2n("EuroSAT", "cocoop", 1, 90.0, 60.0), b2n("MiniX", "cocoop", 1, 50.0, 50.0)]
    s = results.base_to_new(recs, plays={"MiniX": "DTD"}).set_index("dataset")
    assert s.loc["EuroSAT", "paper_base"] == 87.49 and s.loc["EuroSAT", "d_new"] == pytest.approx(60 - 60.04)
    assert s.loc["MiniX", "paper_dataset"] == "DTD" and s.loc["MiniX", "paper_H"] == 64.85


def test_ablation_table_counts_and_deltas():
    recs = []
    for seed, (n4, n60, nc) in enumerate([(60.0, 55.0, 66.0), (62.0, 59.0, 70.0)], 1):
        recs += [b2n("A", "coop", seed, 80.0, n4, params=512),
                 b2n("A", "coop", seed, 82.0, n60, n_ctx=18, ctx_init="", params=18 * 128),
                 b2n("A", "cocoop", seed, 79.0, nc, params=2696)]
    ab = results.ablation(recs)
    avg = ab[ab.dataset == "Average"].set_index("variant")
    assert list(avg.index) == ["CoOp ctx=4", "CoOp ctx=18", "CoCoOp (ctx=4 + Meta-Net)"]
    assert avg.loc["CoOp ctx=18", "n_trainable_params"] == 2304
    assert avg.loc["CoOp ctx=18", "d_new_vs_ctx4"] == pytest.approx(57.0 - 61.0)
    assert avg.loc["CoCoOp (ctx=4 + Meta-Net)", "d_new_vs_ctx4"] == pytest.approx(68.0 - 61.0)
    assert avg.loc["CoOp ctx=18", "paper_params"] == 30_720
    assert avg.loc["CoOp ctx=18", "paper_d_new_vs_ctx4"] == -2.54
    assert "table-ablation" in results.ablation_display(ab).to_html()


def test_transfer_tables_average_targets_and_join_the_paper():
    recs = []
    for seed, accs in ((1, (70.0, 90.0, 40.0)), (2, (72.0, 94.0, 50.0))):
        recs.append(record("ImageNet", "cocoop", seed, {"ImageNet:all": accs[0], "Caltech101:all": accs[1],
                                                         "DTD:all": accs[2]}, train_classes="all"))
    tr = results.transfer(recs, "ImageNet", ["Caltech101", "DTD"], table="table2").set_index("dataset")
    assert tr.loc["ImageNet", "role"] == "source" and tr.loc["ImageNet", "accuracy"] == 71.0
    assert tr.loc["Average", "accuracy"] == pytest.approx((92 + 45) / 2)
    assert tr.loc["Average", "std"] == pytest.approx(abs(65 - 72) / math.sqrt(2))  # per-seed means
    assert tr.loc["Caltech101", "paper"] == 94.43 and tr.loc["Caltech101", "diff"] == pytest.approx(92 - 94.43)
    assert bool(tr.loc["ImageNet", "paper_confirmed"]) is True   # confirmed by ATPrompt's reprint
    assert results.transfer_average(tr.reset_index(), "CoCoOp", "paper") == 65.74
    glue = results.transfer_averages(tr.reset_index(), "cross")
    assert glue["paper_cross_CoCoOp"] == 65.74 and glue["cross_CoCoOp"] == pytest.approx(68.5)
    assert math.isnan(glue["cross_CoOp"]) and len(glue) == 6
    # Table 3 has no average column: the paper's average is the mean of its four variants
    recs = [record("ImageNet", "coop", 1, {"ImageNet:all": 70.0, "ImageNetV2:all": 60.0},
                   train_classes="all")]
    t3 = results.transfer(recs, "ImageNet", ["ImageNetV2"], table="table3").set_index("dataset")
    assert t3.loc["Average", "paper"] == pytest.approx((64.20 + 47.99 + 49.71 + 75.21) / 4)
    assert "table-domain" in results.transfer_display(t3.reset_index(), "T3", "table-domain").to_html()


def test_method_labels_and_setting_sentence():
    recs = [b2n("A", "zeroshot", 1, 1.0, 1.0), b2n("A", "coop", 1, 1.0, 1.0),
            b2n("A", "coop", 1, 1.0, 1.0, n_ctx=16, ctx_init=""), b2n("A", "cocoop", 2, 1.0, 1.0)]
    assert [results.method_label(r) for r in recs] == ["CLIP", "CoOp", "CoOp ctx=16", "CoCoOp"]
    text = results.describe_setting(recs)
    assert "offline mini CLIP" in text and "seeds 1, 2" in text and "16 shots" in text


def test_agreement_sentence_counts_and_names_the_differing_gaps():
    from cocoop_lib.results import agreement_sentence, base_to_new, claim_check

    zs = [_record(d, "zeroshot", 1, 50, 50) for d in ("A", "B")]
    records = zs + [_record("A", "coop", 1, 60, 55), _record("B", "coop", 1, 70, 48),
                    _record("A", "cocoop", 1, 58, 56), _record("B", "cocoop", 1, 66, 52)]
    claims = claim_check(base_to_new(records))
    text = agreement_sentence(claims)
    n_same = int(claims.same_sign.astype(bool).sum())
    assert text.startswith(f"the sign agrees with the paper's on {n_same} of the {len(claims)} gaps")
    # CoOp - CLIP new: +1.5 here, -11.0 in the paper (Table 1's average row)
    assert "CoOp - CLIP new (+1.5 here, -11.0 in the paper)" in text


def _summary(gaps: dict) -> "pd.DataFrame":
    """A base_to_new-shaped summary: 6 datasets x 3 seeds per method; CLIP at 50 everywhere and
    the other methods' average rows at 50 + the given offsets."""
    import pandas as pd

    from cocoop_lib.results import AVERAGE

    rows = []
    for method, offset in (("CLIP", {}), ("CoOp", gaps["CoOp"]), ("CoCoOp", gaps["CoCoOp"])):
        values = {m: 50.0 + offset.get(m, 0.0) for m in ("base", "new", "H")}
        rows += [dict(dataset=f"D{i}", method=method, n_seeds=3, **values) for i in range(6)]
        rows.append(dict(dataset=AVERAGE, method=method, n_seeds=3, **values))
    return pd.DataFrame(rows)


def test_claim_gaps_smaller_than_machine_noise_are_marked():
    """The noise of a gap of two 18-run averages whose runs move by RMS 1 and 1 is
    3 * sqrt(2) / sqrt(18) = 1 point; against zero-shot (RMS 0) it is 3 / sqrt(18)."""
    from cocoop_lib import results

    tol = {"per_run_rms": {"coop": {"base": 1.0, "new": 1.0, "H": 1.0},
                           "cocoop": {"base": 1.0, "new": 1.0, "H": 1.0},
                           "zeroshot": {"base": 0.0, "new": 0.0, "H": 0.0}}}
    summary = _summary({"CoOp": {"base": 5.0, "new": -0.5, "H": 2.0},
                        "CoCoOp": {"base": 5.9, "new": 3.0, "H": 3.0}})
    claims = results.claim_check(summary, noise=tol).set_index(["gap", "metric"])
    assert claims.loc[("CoCoOp - CoOp", "base"), "noise"] == pytest.approx(1.0)
    assert claims.loc[("CoOp - CLIP", "new"), "noise"] == pytest.approx(3 / 18 ** 0.5)
    weak = sorted(claims.index[claims.within_noise])
    assert weak == [("CoCoOp - CoOp", "H"), ("CoCoOp - CoOp", "base"), ("CoOp - CLIP", "new")]
    sentence = results.noise_sentence(claims.reset_index())
    assert sentence.startswith("3 of the 9 gaps are within machine noise")
    assert "CoCoOp - CoOp base (+0.90, noise ±1.00)" in sentence
    assert "within_noise" not in results.claim_check(summary)          # no noise given: no marks
    assert "measured only for the mini world on a CPU" in results.noise_sentence(results.claim_check(summary))


def test_budget_check_finds_a_flipped_sign():
    zs = [_record(d, "zeroshot", 1, 50, 50) for d in ("A", "B")]
    recipe = zs + [_record("A", "coop", 1, 60, 55), _record("B", "coop", 1, 70, 48),
                   _record("A", "cocoop", 1, 58, 56), _record("B", "cocoop", 1, 66, 52)]
    paper = zs + [_record("A", "coop", 1, 70, 40), _record("B", "coop", 1, 80, 44),
                  _record("A", "cocoop", 1, 62, 54), _record("B", "cocoop", 1, 66, 52)]
    check = budget_check(recipe, paper).set_index(["gap", "metric"])
    # CoOp - CLIP on new: short budget +1.5 (A +5, B -2), paper budget -8: the departure flips it
    assert check.loc[("CoOp - CLIP", "new"), "short_budget"] == pytest.approx(1.5)
    assert check.loc[("CoOp - CLIP", "new"), "paper_budget"] == pytest.approx(-8.0)
    assert not check.loc[("CoOp - CLIP", "new"), "same_sign"]
    assert check.loc[("CoOp - CLIP", "base"), "same_sign"]
    signs = gain_signs(recipe, paper).set_index(["dataset", "seed", "subset"])
    assert signs.loc[("A", 1, "new"), "short_budget"] == 5 and signs.loc[("A", 1, "new"), "paper_budget"] == -10
    assert not signs.loc[("A", 1, "new"), "same_sign"] and signs.loc[("B", 1, "new"), "same_sign"]
    assert len(signs) == 4
