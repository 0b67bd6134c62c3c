"""GPU-hours for the paper's whole grid, from measured step times x the protocol's step counts.

    python -m benchmarks.grid_cost                       # from benchmarks/results/gpu.json
    python -m benchmarks.grid_cost --results FILE.json   # another bench.py JSON

The grid (3 seeds each): Table 1 base-to-new (11 datasets x {CoOp, CoCoOp}, trained on the base
classes, tested on base and new; CLIP zero-shot tested once), the parameter ablation (CoOp with
60 context vectors, 11 datasets), Tables 2-3 (CoOp and CoCoOp trained on all 1000 ImageNet
classes, tested on ImageNet, the 10 other datasets and the 4 ImageNet variants).

Training steps, exact: 16 shots x training classes images, ``floor(images / batch)`` steps per
epoch (the loader drops the last partial batch), epochs CoCoOp 10, CoOp 200 (ImageNet 50).
Seconds per step: the bench JSON's medians at its measured class counts, interpolated /
extrapolated LINEARLY in C through the nearest two measured counts, slope clamped at >= 0 (a step
never gets cheaper with more classes; launch-bound steps measure flat with noise). Evaluation:
CoCoOp at the measured images/s (library: "cold", image features computed once; official: its
per-image loop), interpolated the same way; CoOp and zero-shot evaluation (one text pass per
class list) at the measured image-feature time per image (1/cold - 1/cached), for both codes.
CoOp with 60 context vectors is timed at the measured 4-vector CoOp step (its longer prompts are
not measured: an underestimate). Test-set sizes are protocol.md's table; a base-to-new test set is split between base and new in
proportion to the class counts (the split files hold the exact numbers).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from cocoop_lib.datasets import BASE_TO_NEW, DATASETS, DOMAIN_SHIFT

ROOT = Path(__file__).resolve().parents[1]
SHOTS, SEEDS = 16, 3
BATCH = {"cocoop": 1, "coop": 32}
# test images per dataset (protocol.md's table)
TEST_IMAGES = {"ImageNet": 50000, "Caltech101": 2465, "OxfordPets": 3669, "StanfordCars": 8041,
               "Flowers102": 2463, "Food101": 30300, "FGVCAircraft": 3333, "SUN397": 19850,
               "DTD": 1692, "EuroSAT": 8100, "UCF101": 3783, "ImageNetV2": 10000,
               "ImageNetSketch": 50889, "ImageNetA": 7500, "ImageNetR": 30000}


def epochs(method: str, dataset: str) -> int:
    """The protocol's epochs: CoCoOp 10; CoOp 200, on ImageNet 50."""
    if method == "cocoop":
        return 10
    return 50 if dataset == "ImageNet" else 200


def base_classes(n_classes: int) -> int:
    """The base half: ceil(n / 2) (the protocol's base/new split)."""
    return math.ceil(n_classes / 2)


def training_steps(method: str, dataset: str, n_train_classes: int, shots: int = SHOTS) -> int:
    """Optimiser steps of one training run: epochs x floor(shots * classes / batch)."""
    return epochs(method, dataset) * ((shots * n_train_classes) // BATCH[method])


@dataclass
class Rates:
    """Measured costs at the bench JSON's class counts: {C: seconds} per quantity."""

    points: dict[str, dict[int, float]]

    def at(self, key: str, n_cls: int) -> float:
        """Linear in C through the two nearest measured counts (slope >= 0); one point: flat."""
        pts = sorted(self.points[key].items())
        if len(pts) == 1:
            return pts[0][1]
        near = sorted(pts, key=lambda p: (abs(p[0] - n_cls), p[0]))[:2]
        (c0, y0), (c1, y1) = sorted(near)
        slope = max((y1 - y0) / (c1 - c0), 0.0)
        return max(y0 + slope * (n_cls - c0), 0.0)


def load_rates(report: dict) -> Rates:
    """Per-step and per-image seconds of the library (eager) and the official loop, by C."""
    pts: dict[str, dict[int, float]] = {}
    for row in report["results"]:
        c, st, ips = row["classes"], row["seconds_per_step"], row["eval_images_per_s"]
        coop = next(k for k in st if k.startswith("coop_b"))
        vals = {"lib_cocoop_step": st.get("cocoop_b1_eager", st["cocoop_b1"]),
                "lib_coop_step": st[coop],
                "off_cocoop_step": st.get("faithful_cocoop_b1"),
                "off_coop_step": st.get("faithful_" + coop),
                "lib_cocoop_eval_image": 1 / ips["cold"],
                "off_cocoop_eval_image": 1 / ips["faithful"],
                "image_feature": max(1 / ips["cold"] - 1 / ips["cached"], 0.0)}
        for k, v in vals.items():
            if v is not None:
                pts.setdefault(k, {})[c] = v
    return Rates(pts)


def grid_runs() -> list[dict]:
    """Every run of the grid: experiment, method, dataset, training classes, evaluations
    [(test images, classes)] and how many times (seeds)."""
    runs = []
    for name in BASE_TO_NEW:
        n = DATASETS[name].n_classes
        b = base_classes(n)
        test = TEST_IMAGES[name]
        evals = [(round(test * b / n), b), (test - round(test * b / n), n - b)]
        runs.append(dict(experiment="Table 1", method="zeroshot", dataset=name, train_classes=0,
                         evals=evals, times=1))
        for exp, method in (("Table 1", "coop"), ("Table 1", "cocoop"), ("Ablation: CoOp ctx=60", "coop")):
            runs.append(dict(experiment=exp, method=method, dataset=name, train_classes=b,
                             evals=evals, times=SEEDS))
    targets = [(TEST_IMAGES[t], DATASETS[t].n_classes) for t in BASE_TO_NEW + DOMAIN_SHIFT]
    for method in ("cocoop", "coop"):
        runs.append(dict(experiment="Tables 2-3", method=method, dataset="ImageNet",
                         train_classes=DATASETS["ImageNet"].n_classes, evals=targets, times=SEEDS))
    return runs


def run_seconds(run: dict, rates: Rates, code: str) -> tuple[float, float]:
    """(training, evaluation) seconds of one run for ``code`` in {"lib", "off"}."""
    method, train = run["method"], 0.0
    if method != "zeroshot":
        c = run["train_classes"]
        train = training_steps(method, run["dataset"], c) * rates.at(f"{code}_{method}_step", c)
    per_image = (lambda c: rates.at(f"{code}_cocoop_eval_image", c)) if method == "cocoop" \
        else (lambda c: rates.at("image_feature", c))
    return train, sum(n * per_image(c) for n, c in run["evals"])


def table(report: dict) -> str:
    """Markdown: GPU-hours per experiment and method, library (eager) vs the official loop."""
    rates = load_rates(report)
    groups: dict[tuple, dict] = {}
    for run in grid_runs():
        g = groups.setdefault((run["experiment"], run["method"]),
                              {"runs": 0, "steps": 0, "lib": [0.0, 0.0], "off": [0.0, 0.0]})
        g["runs"] += run["times"]
        if run["method"] != "zeroshot":
            g["steps"] += run["times"] * training_steps(run["method"], run["dataset"],
                                                        run["train_classes"])
        for code in ("lib", "off"):
            t, e = run_seconds(run, rates, code)
            g[code][0] += run["times"] * t
            g[code][1] += run["times"] * e
    env = report.get("environment", {})
    lines = [f"Measured step times: {env.get('device_name', '?')}, "
             f"C in {sorted(r['classes'] for r in report['results'])} (linear in C elsewhere).", "",
             "| experiment | method | runs | training steps | library eager: train / eval GPU-h "
             "| library captured GPU-h | official loop: train / eval GPU-h | official / library |",
             "|---|---|---|---|---|---|---|---|"]
    tot = {"lib": 0.0, "off": 0.0}
    for (exp, method), g in groups.items():
        lib, off = sum(g["lib"]) / 3600, sum(g["off"]) / 3600
        tot["lib"] += lib
        tot["off"] += off
        lines.append(f"| {exp} | {method} | {g['runs']} | {g['steps']:,} | "
                     f"{g['lib'][0] / 3600:.2f} / {g['lib'][1] / 3600:.2f} | to be measured | "
                     f"{g['off'][0] / 3600:.2f} / {g['off'][1] / 3600:.2f} | {off / lib:.1f}x |")
    lines.append(f"| **whole grid** | | | | **{tot['lib']:.1f}** | to be measured | "
                 f"**{tot['off']:.1f}** | {tot['off'] / tot['lib']:.1f}x |")
    return "\n".join(lines)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "gpu.json"),
                    help="a bench.py JSON (default: benchmarks/results/gpu.json)")
    args = ap.parse_args(argv)
    path = Path(args.results)
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"{path}: cannot read a bench.py JSON ({err}); run benchmarks/gpu_check.sh "
                         "or pass --results FILE.")
    out = table(report)
    print(out)
    return out


if __name__ == "__main__":
    main()
