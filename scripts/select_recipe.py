#!/usr/bin/env python
"""Choose the mini recipe's learning rates on base-class validation data (cocoop_lib.selection).

    python scripts/select_recipe.py                       # all variants, then write the summary
    python scripts/select_recipe.py --variants cocoop     # a part (e.g. one per core), no summary
    python scripts/select_recipe.py --summary-only        # summary from the records there (+ zero-shot)

Every selection run is an ordinary run whose record is kept under ``--output-dir`` (default
cocoop_lib/assets/recipe_selection, records committed), so an interrupted selection resumes where
it stopped. The summary (``summary.json`` there: rule, grid, table, choice, record names) is what the
book's appendix prints; the chosen values go into ``presets.MINI`` by hand, and
``tests/test_selection.py`` checks that the two agree.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    from cocoop_lib import selection
    from cocoop_lib.ablation_size import ablation_n_ctx
    from cocoop_lib.parameters import check_parameters
    from cocoop_lib.records import write_json_atomic
    from cocoop_lib.runs import find_record, run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(selection.VARIANTS), choices=selection.VARIANTS)
    ap.add_argument("--output-dir", default=str(selection.STUDY_DIR))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--summary-only", action="store_true", help="write the summary from existing records")
    args = ap.parse_args(argv)

    P = check_parameters("ablation", device=args.device, output_dir=args.output_dir)
    long_n_ctx = ablation_n_ctx(P)
    variants = selection.VARIANTS if args.summary_only else args.variants
    configs = selection.selection_configs(P.world.base_to_new, long_n_ctx=long_n_ctx,
                                          variants=variants, device=args.device,
                                          output_dir=args.output_dir)
    records = []
    for i, (variant, lr, config) in enumerate(configs, 1):
        record = find_record(config)
        if record is None:
            if args.summary_only:
                print(f"missing: {config.resolved().run_name()} ({variant}, lr {lr}); run without "
                      "--summary-only first", file=sys.stderr)
                return 1
            record = run(config, progress=False)
        print(f"[{i}/{len(configs)}] {variant:12s} lr {lr:<6g} {config.dataset:14s} "
              f"val {record['metrics'][f'{config.dataset}:val']:.2f}", flush=True)
        records.append(record)
    if set(variants) != set(selection.VARIANTS):
        return 0
    zeroshot = {}
    for config in selection.zero_shot_configs(P.world.base_to_new, device=args.device,
                                              output_dir=args.output_dir):
        record = find_record(config) or run(config, progress=False)
        zeroshot[config.dataset] = record["metrics"][f"{config.dataset}:val"]
        records.append(record)
    zeroshot["mean"] = round(sum(zeroshot.values()) / len(zeroshot), 4)
    table = selection.val_table(configs, records[:len(configs)])
    chosen = selection.choose(table)
    # the crop rule, at the chosen lrs (the recipe's own scale: the lr grid's runs, found)
    crop_configs = selection.crop_configs(P.world.base_to_new, chosen, long_n_ctx=long_n_ctx,
                                          device=args.device, output_dir=args.output_dir)
    crop_records = []
    for i, (variant, scale, config) in enumerate(crop_configs, 1):
        record = find_record(config)
        if record is None:
            if args.summary_only:       # the crop rule not finished: the summary says how far
                print(f"crop rule: {config.resolved().run_name()} ({variant}, crop "
                      f"{selection.crop_label(scale)}) not run yet", file=sys.stderr)
                continue
            record = run(config, progress=False)
        print(f"[crop {i}/{len(crop_configs)}] {variant:12s} crop {selection.crop_label(scale):7s} "
              f"{config.dataset:14s} val {record['metrics'][f'{config.dataset}:val']:.2f}", flush=True)
        crop_records.append(record)
    crop_done = len(crop_records) == len(crop_configs)
    crop_table = selection.crop_table(crop_configs, crop_records) if crop_done else None
    lr_names = {r["name"] for r in records}     # the crop rule's runs at the recipe's scale are these
    crop_only = sorted((r for r in crop_records if r["name"] not in lr_names), key=lambda r: r["name"])
    summary = {
        "rule": selection.RULE,
        "grid": list(selection.LR_GRID),
        "seed": selection.SELECTION_SEED,
        "long_n_ctx": long_n_ctx,
        "datasets": list(P.world.base_to_new),
        "epochs": {v: {c.dataset: r["config"]["epochs"] for (vv, _, c), r in zip(configs, records) if vv == v}
                   for v in selection.VARIANTS},
        "batch_size": {v: next(r["config"]["batch_size"] for (vv, _, _), r in zip(configs, records) if vv == v)
                       for v in selection.VARIANTS},
        "n_val": {c.dataset: r["n_test"][f"{c.dataset}:val"] for (v, _, c), r in zip(configs, records)
                  if v == "coop"},
        "table": {v: {str(lr): row for lr, row in rows.items()} for v, rows in table.items()},
        "chosen": chosen,
        "zeroshot": zeroshot,
        "crop_rule": selection.CROP_RULE,
        "crop_runs": {"done": len(crop_records), "total": len(crop_configs)},
        "crop_table": crop_table,
        "crop_chosen": list(selection.choose_crop(crop_table)) if crop_done else None,
        "records": [r["name"] for r in records] + [r["name"] for r in crop_only],
        "train_seconds": round(sum(r["seconds"]["total"] for r in records + crop_only), 1),
    }
    write_json_atomic(selection.SUMMARY, summary)
    print(json.dumps(summary["chosen"]), "crop", summary["crop_chosen"], "->", selection.SUMMARY.relative_to(REPO))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
