"""The records of mini-world runs that ship with the repository, reused instead of retraining.

The mini recipe trains for the paper's epochs and batch sizes, which cost about 4 CPU hours for
the book's whole grid (2 hours on 2 cores with 2 sweep workers): more than the main job's 20
minutes. So the runs were made once by ``scripts/sweep.py`` and their records are committed
(``assets/mini_runs/records``).
A run whose record is not in its ``output_dir`` takes the shipped one instead of training, under
the same reuse rule as any record (:func:`identity.stale_reason`: same weights, split file, image
list and recipe), so a changed mini world, recipe or backbone trains again. The record is copied
into ``output_dir/records`` with ``"shipped_from"`` naming its source, and the run's line says
"shipped".

To train every run here instead, set the environment variable ``COCOOP_SHIPPED_RUNS=0`` (the
book: ``make book RECOMPUTE=1``) or pass ``force=True`` / ``--force``. The tests recompute shipped
records and compare them with the committed ones (``tests/test_shipped.py``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .identity import checkpoint_file, stale_reason
from .records import read_record, write_atomic, write_json_atomic

SHIPPED_DIR = Path(__file__).parent / "assets" / "mini_runs"   # an output_dir: records/ committed
ENV = "COCOOP_SHIPPED_RUNS"


def enabled() -> bool:
    """Whether shipped records are used (``COCOOP_SHIPPED_RUNS`` unset, or not "0"/"false"/"no")."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def shipped_path(name: str, store: Path = SHIPPED_DIR) -> Path:
    return Path(store) / "records" / f"{name}.json"


def available(name: str, store: Path = SHIPPED_DIR) -> bool:
    """Whether reuse is enabled and the store has a record named ``name`` (not yet checked)."""
    return enabled() and shipped_path(name, store).exists()


def shipped_record(name: str, identity: dict, store: Path = SHIPPED_DIR) -> dict | None:
    """The shipped record of run ``name`` (with ``"shipped_from"``), if reuse is enabled, the store
    has it and it belongs to ``identity`` (:func:`identity.stale_reason`); else None."""
    if not available(name, store):
        return None
    src = shipped_path(name, store)
    record = read_record(src)
    if stale_reason(record, identity) is not None:
        return None
    package = Path(__file__).parent.parent
    source = src.resolve().relative_to(package) if src.resolve().is_relative_to(package) else src
    return dict(record, shipped_from=str(source))


def take_shipped(name: str, identity: dict, rec_path: Path, store: Path = SHIPPED_DIR) -> dict | None:
    """:func:`shipped_record`, copied to ``rec_path`` (the run's own record from then on, its
    ``config.output_dir`` the folder it now lives in), with the run's final checkpoint where one
    ships (``store/checkpoints``: only for the runs a chapter loads, chapter 1's)."""
    if shipped_path(name, store).resolve() == Path(rec_path).resolve():
        return None                  # the run writes into the store itself (the sweep that fills it)
    record = shipped_record(name, identity, store)
    if record is None:
        return None
    out = Path(rec_path).parent.parent
    record["config"] = dict(record["config"], output_dir=str(out))
    ckpt = checkpoint_file(store, name, identity)
    if ckpt.exists():
        target = checkpoint_file(out, name, identity)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda tmp: shutil.copyfile(ckpt, tmp))
    write_json_atomic(rec_path, record)
    return record
