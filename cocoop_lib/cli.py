"""Command line: train and evaluate one run (zero-shot CLIP, CoOp or CoCoOp).

Examples:
  # offline mini world (default): CoCoOp on the base classes of MiniGlyphs, tested on base and new
  python -m cocoop_lib --dataset MiniGlyphs --method cocoop --seed 1

  # the paper's setting on a GPU: real CLIP ViT-B/16 and a real dataset
  python -m cocoop_lib --dataset OxfordPets --method cocoop --seed 1 \\
      --backbone openai/clip-vit-base-patch16 --data-root /data --recipe paper

  # cross-dataset: train on all ImageNet classes, test on other datasets
  python -m cocoop_lib --dataset ImageNet --subsample all --eval-on Caltech101 OxfordPets ...
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .backbone import BackboneError, PAPER_BACKBONE
from .errors import DataError, DiskFullError
from .precision import PRECISIONS
from .prompt_learners import METHODS
from .runs import RunConfig, find_record, run
from .shipped import ENV, setting as shipped_setting


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cocoop_lib", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="MiniGlyphs",
                   help="dataset to train on (see --list-datasets); default: %(default)s")
    p.add_argument("--method", default="cocoop", choices=METHODS,
                   help="zeroshot = CLIP's hand-written prompt; coop = learned context; "
                        "cocoop = learned context + Meta-Net (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed; the paper uses 1, 2, 3")
    p.add_argument("--shots", type=int, help="training images per class (recipe: 16)")
    p.add_argument("--epochs", type=int, help="training epochs (recipe: CoOp 200, CoCoOp 10)")
    p.add_argument("--batch-size", type=int, help="training batch (recipe: CoOp 32, CoCoOp 1)")
    p.add_argument("--lr", type=float, help="peak learning rate (recipe: 0.002)")
    p.add_argument("--n-ctx", type=int,
                   help="number of context vectors; with --ctx-init it must match its token count")
    p.add_argument("--ctx-init", help='words that initialise the context (recipe: "a photo of a"); '
                                      '"" for random N(0, 0.02) vectors')
    p.add_argument("--subsample", dest="train_classes", default="base", choices=("base", "all"),
                   help="train on the base half of the classes (base-to-new) or on all of them")
    p.add_argument("--eval-on", nargs="*", default=(), metavar="DATASET[:SUBSET]",
                   help="what to test on; SUBSET is base, new or all (default: base and new of "
                        "--dataset, or all of it with --subsample all)")
    p.add_argument("--recipe", default="auto", choices=("auto", "paper", "mini"),
                   help="training recipe; auto = mini for the mini CLIP, paper otherwise")
    p.add_argument("--backbone", default="mini",
                   help=f"'mini' (bundled offline CLIP), a hub id ({PAPER_BACKBONE}) or a folder")
    p.add_argument("--data-root", help="folder with the real datasets (not needed for the mini world)")
    p.add_argument("--output-dir", default="outputs", help="records, checkpoints, feature cache")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto = bf16 autocast on GPU, fp32 on CPU; fp16-pure = the official mode")
    p.add_argument("--class-chunk", type=int,
                   help="CoCoOp: classes per text-encoder call (bounds memory for many classes)")
    p.add_argument("--force", action="store_true", help="run again even if a record exists")
    p.add_argument("--list-datasets", action="store_true", help="list the known datasets and exit")
    return p


NO_ARGUMENTS = """usage: python -m cocoop_lib --dataset NAME --method {zeroshot,coop,cocoop} [options]

example (offline mini world, about half a minute on a CPU):
  python -m cocoop_lib --dataset MiniGlyphs --method cocoop --seed 1 --output-dir outputs

`python -m cocoop_lib --help` lists every option; `--list-datasets` the datasets."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # conventional: no arguments print usage and an example, nothing is trained
        print(NO_ARGUMENTS, file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if args.list_datasets:
        from .datasets import DATASETS
        for spec in DATASETS.values():
            print(f"{spec.name:16s} {spec.world:5s} {spec.n_classes:5d} classes  {spec.template}")
        return 0
    config = RunConfig(
        dataset=args.dataset, method=args.method, seed=args.seed, shots=args.shots,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, n_ctx=args.n_ctx,
        ctx_init=args.ctx_init, train_classes=args.train_classes, eval_on=tuple(args.eval_on),
        recipe=args.recipe, backbone=args.backbone, data_root=args.data_root,
        output_dir=args.output_dir, device=args.device, precision=args.precision,
        class_chunk=args.class_chunk)
    t0 = time.perf_counter()
    try:
        shipped_setting()          # an unknown COCOOP_SHIPPED_RUNS is an error, record or not
        found = None if args.force else find_record(config)   # reused rather than trained?
        record = run(config, force=args.force)
    except (ValueError, DataError, BackboneError, DiskFullError) as err:
        # DataError, RecordError and CheckpointError are ValueErrors; each names its file and fix
        print(f"error: {err.strerror if isinstance(err, DiskFullError) else err}", file=sys.stderr)
        return 2
    took = round(time.perf_counter() - t0, 3)
    out = {"name": record["name"], "metrics": record["metrics"],
           "n_trainable_params": record["n_trainable_params"]}
    if found is not None:
        # this call trained nothing: the record's seconds are those of the run that made it
        shipped = record.get("shipped_from")
        out["reused"] = f"shipped record {shipped}" if shipped else "existing record"
        out["seconds"] = {"this_call": took}
        out["recorded_seconds"] = record["seconds"]
        made = (f"the shipped record {shipped} (trained when it was made, in "
                f"{record['seconds']['total']:.0f} s)" if shipped else
                f"the existing record in {Path(config.output_dir) / 'records'}")
        print(f"reused {made}; nothing was trained now. --force (or {ENV}=0 for shipped records) "
              "trains it here.", file=sys.stderr)
    else:
        out["seconds"] = record["seconds"]
    print(json.dumps(out, indent=1))
    return 0
