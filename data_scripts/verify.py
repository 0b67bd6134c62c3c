"""Check a data root: every split entry exists, sizes match, entries agree with their class.

    python -m data_scripts.verify EuroSAT --root /data
    python -m data_scripts.verify all --root /data [--fast]

Every image is decoded by default (a truncated or garbage file is reported); ``--fast`` only checks
that each file exists and is readable.

Exit status 0 when every requested dataset is complete, 1 otherwise; all problems are listed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

from cocoop_lib.datasets import DATASETS, DataError, check_images, get_spec

SPLITS = ("train", "val", "test")


def verify_dataset(name: str, root: str, decode: bool = True) -> list[str]:
    """Every problem found in one dataset under ``root`` (empty list: complete and consistent)."""
    spec = get_spec(name)
    try:
        splits = spec.load(root)
    except DataError as e:
        return [str(e)]
    parts = {s: getattr(splits, s) for s in SPLITS}
    problems = []
    if spec.counts is not None:
        for s, want in zip(SPLITS, spec.counts):
            if len(parts[s]) != want:
                problems.append(f"count: {s} has {len(parts[s]):,} entries, expected {want:,} "
                                "(the split file or image folders are not the official ones)")
    image_dir = os.path.join(spec.dataset_dir(root), spec.image_dir)
    if spec.classname_rule is not None:
        for s, items in parts.items():
            for i, d in enumerate(items):
                rel = os.path.relpath(d.impath, image_dir).replace(os.sep, "/")
                want = spec.classname_rule(rel)
                if want != d.classname:
                    problems.append(f"entry: {s}[{i}] {rel!r} is labelled {d.label} ({d.classname!r}) "
                                    f"but its path says class {want!r}")
    names = Counter(splits.classnames)
    problems += [f"classes: name {n!r} is used by {k} labels" for n, k in names.items() if k > 1]
    seen: dict[str, str] = {}
    for s, items in parts.items():
        for d in items:
            if d.impath in seen and seen[d.impath] != s:
                problems.append(f"entry: {d.impath} is in both {seen[d.impath]} and {s}")
            seen.setdefault(d.impath, s)
    problems += [f"image {p}" for p in check_images(
        [d for items in parts.values() for d in items], decode=decode)]
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_scripts.verify", description=__doc__.split("\n")[0])
    p.add_argument("datasets", nargs="+", help="dataset names, or 'all'")
    p.add_argument("--root", required=True, help="data root (the loaders' --data-root)")
    p.add_argument("--fast", action="store_true",
                   help="fast mode: only check that every image file exists and is readable "
                        "(no decoding; a truncated image passes)")
    p.add_argument("--decode", action="store_true", help=argparse.SUPPRESS)  # the default now
    p.add_argument("--max-lines", type=int, default=50, help="problems shown per dataset")
    args = p.parse_args(argv)
    root = os.path.abspath(os.path.expanduser(args.root))
    try:
        if any(n.lower() == "all" for n in args.datasets):
            names = [n for n, s in DATASETS.items() if s.world == "paper"]
        else:
            names = [get_spec(n).name for n in args.datasets]
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        problems = verify_dataset(name, root, decode=not args.fast)
        spec = DATASETS[name]
        if not problems:
            c = spec.counts or ("?", "?", "?")
            print(f"{name}: OK ({spec.n_classes} classes; train/val/test {c[0]:,}/{c[1]:,}/{c[2]:,})")
            continue
        failed.append(name)
        print(f"{name}: {len(problems)} problem(s)")
        for line in problems[: args.max_lines]:
            print(f"  {line}")
        if len(problems) > args.max_lines:
            print(f"  ... and {len(problems) - args.max_lines} more")
    if failed:
        paper = [n for n in failed if DATASETS[n].world == "paper"]
        print(f"\n{len(failed)} dataset(s) incomplete: {', '.join(failed)}.")
        if paper:
            print(f"Fetch or repair {', '.join(paper)} with "
                  f"`python -m data_scripts.get <dataset> --root {root}`.")
        for n in failed:
            if DATASETS[n].world == "mini":  # no download sources: restore or copy it
                print(f"{n}: {DATASETS[n].fix_hint(root)}.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
