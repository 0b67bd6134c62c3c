"""benchmarks/grid_cost.py: the protocol's exact step counts and the GPU-hours arithmetic."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root (benchmarks/)

from benchmarks import grid_cost  # noqa: E402

# class counts from protocol.md (independent of cocoop_lib.datasets)
PROTOCOL_CLASSES = {"ImageNet": 1000, "Caltech101": 100, "OxfordPets": 37, "StanfordCars": 196,
                    "Flowers102": 102, "Food101": 101, "FGVCAircraft": 100, "SUN397": 397,
                    "DTD": 47, "EuroSAT": 10, "UCF101": 101}


def test_step_counts_by_hand():
    # EuroSAT: 5 base classes x 16 shots = 80 images
    assert grid_cost.base_classes(10) == 5
    assert grid_cost.training_steps("cocoop", "EuroSAT", 5) == 80 * 10
    assert grid_cost.training_steps("coop", "EuroSAT", 5) == 2 * 200          # floor(80 / 32) = 2
    # OxfordPets: 19 base classes -> 304 images; floor(304 / 32) = 9
    assert grid_cost.base_classes(37) == 19
    assert grid_cost.training_steps("cocoop", "OxfordPets", 19) == 304 * 10
    assert grid_cost.training_steps("coop", "OxfordPets", 19) == 9 * 200
    # ImageNet, all 1000 classes: 16,000 images; CoOp 50 epochs of 500 steps
    assert grid_cost.training_steps("cocoop", "ImageNet", 1000) == 160_000
    assert grid_cost.training_steps("coop", "ImageNet", 1000) == 25_000


def test_rates_are_linear_in_classes_with_a_non_negative_slope():
    r = grid_cost.Rates({"up": {10: 1.0, 20: 2.0}, "down": {10: 2.0, 20: 1.0}, "one": {5: 3.0}})
    assert r.at("up", 15) == pytest.approx(1.5)
    assert r.at("up", 40) == pytest.approx(4.0)            # extrapolated
    assert r.at("down", 40) == pytest.approx(2.0)          # slope clamped at 0
    assert r.at("one", 1000) == 3.0


def test_grid_hours_equal_a_hand_computation():
    # one measured C, every step 1 s: training hours = steps / 3600
    report = {"results": [{"classes": 50,
                           "seconds_per_step": {"cocoop_b1": 1.0, "cocoop_b1_eager": 1.0,
                                                "coop_b32": 1.0, "faithful_cocoop_b1": 2.0,
                                                "faithful_coop_b32": 2.0},
                           "eval_images_per_s": {"cold": 1.0, "cached": 2.0, "faithful": 0.5}}]}
    runs = grid_cost.grid_runs()
    rates = grid_cost.load_rates(report)
    t1_cocoop = [r for r in runs if r["experiment"] == "Table 1" and r["method"] == "cocoop"]
    assert {r["dataset"] for r in t1_cocoop} == set(PROTOCOL_CLASSES)
    steps = sum(3 * 10 * 16 * math.ceil(n / 2) for n in PROTOCOL_CLASSES.values())
    train = sum(r["times"] * grid_cost.run_seconds(r, rates, "lib")[0] for r in t1_cocoop)
    assert train == pytest.approx(steps)
    off = sum(r["times"] * grid_cost.run_seconds(r, rates, "off")[0] for r in t1_cocoop)
    assert off == pytest.approx(2 * steps)
    # evaluation: every test image once per seed, at 1 s (library cold) / 2 s (official)
    tests = sum(grid_cost.TEST_IMAGES[d] for d in PROTOCOL_CLASSES)
    ev = sum(r["times"] * grid_cost.run_seconds(r, rates, "lib")[1] for r in t1_cocoop)
    assert ev == pytest.approx(3 * tests)
    # zero-shot: once, at the image-feature time 1/cold - 1/cached = 0.5 s per image
    zs = [r for r in runs if r["method"] == "zeroshot"]
    assert sum(grid_cost.run_seconds(r, rates, "lib")[1] for r in zs) == pytest.approx(0.5 * tests)
    md = grid_cost.table(report)
    assert "| **whole grid** |" in md and md.count("to be measured") == 7


def test_unreadable_results_file_names_it(tmp_path):
    bad = tmp_path / "gpu.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match="gpu.json: cannot read a bench.py JSON"):
        grid_cost.main(["--results", str(bad)])
