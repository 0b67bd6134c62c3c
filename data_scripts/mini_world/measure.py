"""Measure zero-shot / CoOp / CoCoOp base-to-new on the mini datasets with a short recipe.

    python -m data_scripts.mini_world.measure --seeds 1 2 3 --shots 16 \
        --coop-epochs 20 --cocoop-epochs 2 --out outputs/mini_world_measure

Prints one row per dataset and method (base / new / H, mean over seeds) and the wall time per
method; writes the table as JSON to <out>/summary.json. Uses cocoop_lib.runs.run, so the records
are the library's own.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cocoop_lib.datasets.mini import MINI_BASE_TO_NEW


def hmean(b: float, n: float) -> float:
    return 2 * b * n / (b + n) if b + n else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", default=list(MINI_BASE_TO_NEW))
    ap.add_argument("--methods", nargs="*", default=["zeroshot", "coop", "cocoop"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[1])
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--coop-epochs", type=int, default=None)
    ap.add_argument("--cocoop-epochs", type=int, default=None)
    ap.add_argument("--coop-batch", type=int, default=None)
    ap.add_argument("--cocoop-batch", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backbone", default="mini", help="mini (shipped) or a CLIP folder")
    ap.add_argument("--out", type=Path, default=Path("outputs/mini_world_measure"))
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from cocoop_lib.runs import RunConfig, run

    epochs = {"coop": args.coop_epochs, "cocoop": args.cocoop_epochs}
    batch = {"coop": args.coop_batch, "cocoop": args.cocoop_batch}
    rows, seconds = [], {m: 0.0 for m in args.methods}
    for ds in args.datasets:
        for m in args.methods:
            b, n, secs = [], [], 0.0
            for seed in args.seeds:
                t = time.time()
                rec = run(RunConfig(dataset=ds, method=m, seed=seed, shots=args.shots,
                                    epochs=epochs.get(m), batch_size=batch.get(m), lr=args.lr,
                                    recipe="mini", device="cpu", backbone=args.backbone,
                                    output_dir=str(args.out)),
                          progress=False)
                secs += time.time() - t
                b.append(rec["metrics"][f"{ds}:base"])
                n.append(rec["metrics"][f"{ds}:new"])
            mb, mn = sum(b) / len(b), sum(n) / len(n)
            row = {"dataset": ds, "method": m, "base": round(mb, 2), "new": round(mn, 2),
                   "H": round(hmean(mb, mn), 2), "base_per_seed": b, "new_per_seed": n,
                   "seconds": round(secs, 1)}
            seconds[m] += secs
            rows.append(row)
            print(f"{ds:14s} {m:9s} base {mb:6.2f} new {mn:6.2f} H {hmean(mb, mn):6.2f} "
                  f"({secs:.0f}s, {len(args.seeds)} seeds)", flush=True)
    summary = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "rows": rows, "seconds_per_method": {k: round(v, 1) for k, v in seconds.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("seconds per method:", summary["seconds_per_method"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
