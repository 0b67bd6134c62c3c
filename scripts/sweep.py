#!/usr/bin/env python
"""Run the book's whole experiment grid without notebooks (resumable), e.g. on a GPU.

    # the paper's setting: CLIP ViT-B/16, all 11 datasets + 4 ImageNet variants, seeds 1 2 3
    python scripts/sweep.py --setting paper --data-root /data --output-dir outputs/paper
    # the same split over 4 GPUs (one process each)
    CUDA_VISIBLE_DEVICES=0 python scripts/sweep.py --setting paper --data-root /data --shard 0/4 &
    ...
    # the offline mini world (what the book's main job runs), or just list the runs
    python scripts/sweep.py --setting mini --dry-run

The runs are exactly the ones the book's chapters plan from the same parameters (base-to-new,
the parameter-count ablation, cross-dataset/domain transfer), so executing the book afterwards
with those parameters (``scripts/run_book.py --paper --data-root /data --output-dir ...``) finds
every record and trains nothing. A run whose record exists is skipped; an interrupted run resumes
from its last epoch checkpoint; re-running the command picks up where it stopped.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EXPERIMENTS = ("base_to_new", "ablation", "transfer")


def plan(args) -> list:
    """Every RunConfig of the requested experiments, without duplicates, cheapest methods first."""
    from cocoop_lib.notebook import (ablation_n_ctx, check_parameters, plan_ablation,
                                     plan_base_to_new, plan_transfer)
    from cocoop_lib.runs import record_path

    backbone = args.backbone or ("openai/clip-vit-base-patch16" if args.setting == "paper" else "mini")
    recipe = args.recipe or ("paper" if args.setting == "paper" else None)
    if args.setting == "paper" and not args.data_root:
        raise SystemExit("--setting paper needs --data-root (the folder holding the paper's datasets)")
    P = check_parameters("results", datasets=args.datasets, methods=args.methods, seeds=args.seeds,
                         shots=args.shots, epochs=args.epochs, n_ctx=args.n_ctx, recipe=recipe,
                         backbone=backbone, data_root=args.data_root, device=args.device,
                         precision=args.precision, output_dir=args.output_dir)
    configs = []
    if "base_to_new" in args.experiments:
        configs += plan_base_to_new(P)
    if "ablation" in args.experiments:
        configs += [c for _, c in plan_ablation(P, ablation_n_ctx(P))]
    if "transfer" in args.experiments:
        configs += plan_transfer(P)
    unique = {}
    for c in configs:
        unique.setdefault(str(record_path(c)), c)
    order = {"zeroshot": 0, "coop": 1, "cocoop": 2}
    return sorted(unique.values(), key=lambda c: (order[c.method], c.dataset, c.seed))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", choices=("paper", "mini"), default="paper",
                   help="paper: CLIP ViT-B/16 on the real datasets (needs --data-root); "
                        "mini: the offline mini world")
    p.add_argument("--data-root", help="folder holding the paper's datasets")
    p.add_argument("--output-dir", default="outputs", help="records, checkpoints, caches")
    p.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    p.add_argument("--datasets", nargs="+", help="default: every dataset of the setting")
    p.add_argument("--methods", nargs="+", choices=("zeroshot", "coop", "cocoop"))
    p.add_argument("--seeds", nargs="+", type=int, help="default: 1 2 3")
    p.add_argument("--shots", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--n-ctx", type=int)
    p.add_argument("--recipe", choices=("paper", "mini"))
    p.add_argument("--backbone", help="default: openai/clip-vit-base-patch16 (paper) or mini")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--shard", default="0/1", help="I/N: run every N-th run starting at I (several GPUs)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether they are done")
    args = p.parse_args(argv)

    from cocoop_lib.notebook import usable_record
    from cocoop_lib.runs import record_path, run

    index, count = (int(x) for x in args.shard.split("/"))
    configs = plan(args)[index::count]
    done = [usable_record(c) is not None for c in configs]   # made with the current weights
    print(f"{len(configs)} runs in shard {args.shard}, {sum(done)} already done", flush=True)
    if args.dry_run:
        for c, d in zip(configs, done):
            print(f"{'done' if d else 'todo'}  {record_path(c).name}")
        return 0
    t0 = time.perf_counter()
    for i, (config, finished) in enumerate(zip(configs, done), 1):
        if finished:
            continue
        t = time.perf_counter()
        record = run(config)
        metrics = " ".join(f"{k}={v:.2f}" for k, v in record["metrics"].items())
        print(f"[{i}/{len(configs)}] {record['name']}: {metrics} ({time.perf_counter() - t:.0f} s, "
              f"{(time.perf_counter() - t0) / 60:.1f} min so far)", flush=True)
    print(f"sweep finished in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
