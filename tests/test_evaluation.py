"""cocoop_lib/evaluation.py: the paper's aggregation rule and the feature cache."""
import pytest
import torch

from cocoop_lib.runs import run
from fixtures_runs import cfg, essence


def test_aggregation_follows_the_paper():
    from cocoop_lib.evaluation import average_over_datasets, base_new_summary, harmonic_mean
    # CoCoOp's Table 1 rows (base, new) for the 11 datasets (CoCoOp paper)
    rows = [(75.98, 70.43), (97.96, 93.81), (95.20, 97.69), (70.49, 73.59), (94.87, 71.75),
            (90.70, 91.29), (33.41, 23.71), (79.74, 76.86), (77.01, 56.00), (87.49, 60.04),
            (82.33, 73.45)]
    avg = average_over_datasets([b for b, _ in rows], [n for _, n in rows])
    assert round(avg["base"], 2) == 80.47 and round(avg["new"], 2) == 71.69
    assert round(avg["H"], 2) == 75.83
    # the other way (mean of per-dataset H; the paper quotes 75.44 from its rounded H column)
    assert sum(harmonic_mean(b, n) for b, n in rows) / 11 == pytest.approx(75.44, abs=0.02)
    s = base_new_summary([70.0, 72.0, 74.0], [60.0, 66.0, 60.0])
    assert s["base"] == 72.0 and s["base_std"] == 2.0 and s["new"] == 62.0
    assert s["new_std"] == pytest.approx(12 ** 0.5) and s["H"] == pytest.approx(2 * 72 * 62 / 134)


def test_truncated_feature_cache_is_rebuilt_with_a_warning(tiny_clip_dir, eurosat_root, tmp_path):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    good = run(c, progress=False)
    (tmp_path / "records" / f"{good['name']}.json").unlink()
    caches = sorted((tmp_path / "features").glob("*.pt"))
    assert len(caches) == 2
    for f in caches:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.warns(UserWarning, match="feature cache .* is unreadable") as seen:
        again = run(c, progress=False)
    assert {str(f) for f in caches} <= {str(w.message).split(" is ")[0].split("cache ")[1] for w in seen}
    assert essence(again) == essence(good)
    for f in caches:                                        # rewritten whole
        assert set(torch.load(f)) == {"features", "labels"}
