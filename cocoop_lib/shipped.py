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
records and compare them with the committed ones (``tests/test_shipped_check.py``).

A shipped record is used only as committed: every file of a store is listed with its sha256 in
``<store>/SHA256SUMS`` (``sha256sum -c`` reads it), and a record must agree with itself (its name,
its metrics in 0..100, H = 2BN/(B+N)). A changed or damaged file raises
:class:`ShippedRecordError` naming it and the fix (``git checkout -- <file>``, or
``COCOOP_SHIPPED_RUNS=0``). Whoever adds or replaces shipped records on purpose regenerates the
digests with ``python scripts/shipped_digest.py``.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
from pathlib import Path

from .backbone import file_sha256
from .errors import RecordError
from .identity import checkpoint_file, stale_reason
from .records import read_record, write_atomic, write_json_atomic

SHIPPED_DIR = Path(__file__).parent / "assets" / "mini_runs"   # an output_dir: records/ committed
SELECTION_DIR = Path(__file__).parent / "assets" / "recipe_selection"   # selection.STUDY_DIR
STORES = (SHIPPED_DIR, SELECTION_DIR)        # the committed output dirs, each with its SHA256SUMS
DIGEST = "SHA256SUMS"
ENV = "COCOOP_SHIPPED_RUNS"
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
REGENERATE = "python scripts/shipped_digest.py"
_PACKAGE = Path(__file__).resolve().parent.parent
_OVERRIDE: list[bool] = []                   # switched_off() in force


class ShippedRecordError(RecordError):
    """A shipped record that is not as committed, or disagrees with itself."""


def setting() -> bool:
    """``COCOOP_SHIPPED_RUNS`` read strictly: unset or 1/true/yes/on -> True, 0/false/no/off ->
    False (any case, spaces ignored); any other value (``2``, ``""``, ``nope``) raises ValueError
    naming the accepted values."""
    raw = os.environ.get(ENV)
    if raw is None:
        return True
    value = raw.strip().lower()
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ValueError(f"{ENV}={raw!r} is not understood: set {ENV}=1 to reuse the records that "
                     f"ship with the repository (the default; also {'/'.join(ON[1:])}), {ENV}=0 "
                     f"to train every run here (also {'/'.join(OFF[1:])}), or unset it.")


def enabled() -> bool:
    """Whether shipped records are used (:func:`setting`, unless :func:`switched_off` holds)."""
    return setting() and not _OVERRIDE


@contextlib.contextmanager
def switched_off():
    """No shipped record is used inside the block (``sweep.py --force``: train every run here)."""
    _OVERRIDE.append(True)
    try:
        yield
    finally:
        _OVERRIDE.pop()


def shipped_path(name: str, store: Path | None = None) -> Path:
    return Path(SHIPPED_DIR if store is None else store) / "records" / f"{name}.json"


def available(name: str, store: Path | None = None) -> bool:
    """Whether reuse is enabled and the store has a record named ``name`` (not yet checked)."""
    return enabled() and shipped_path(name, store).exists()


def _shown(path: Path) -> str:
    """``path`` relative to the repository where it is inside it (what ``git checkout`` takes)."""
    p = Path(path).resolve()
    return str(p.relative_to(_PACKAGE)) if p.is_relative_to(_PACKAGE) else str(path)


# The checkpoints committed with the records (the ones chapter 1 loads; .gitignore keeps the same
# two patterns): a store's other checkpoints are local training state, not part of its digest.
COMMITTED_CHECKPOINTS = ("MiniEmojiNet-coop-base-seed1-*.pt", "MiniEmojiNet-cocoop-base-seed1-*.pt")


def digest_files(store: Path) -> list[Path]:
    """The files a store's digest covers: its records, and in the shipped runs' store the
    committed checkpoints (:data:`COMMITTED_CHECKPOINTS`)."""
    store = Path(store)
    ckpts = ([p for pattern in COMMITTED_CHECKPOINTS for p in store.glob(f"checkpoints/{pattern}")]
             if store.resolve() == SHIPPED_DIR.resolve() else [])
    return sorted([*store.glob("records/*.json"), *ckpts])


def write_digest(store: Path) -> Path:
    """Write ``<store>/SHA256SUMS`` (``<sha256>  <path in the store>`` per file, sorted)."""
    store = Path(store)
    lines = [f"{file_sha256(p, fresh=True)}  {p.relative_to(store).as_posix()}\n" for p in digest_files(store)]
    target = store / DIGEST
    write_atomic(target, lambda tmp: Path(tmp).write_text("".join(lines)))
    return target


_DIGESTS: dict[str, tuple] = {}


def committed_digest(store: Path) -> dict[str, str]:
    """{path in the store: sha256} from ``<store>/SHA256SUMS`` (read once per change of the file)."""
    path = Path(store) / DIGEST
    try:
        st = path.stat()
        key = (st.st_size, st.st_mtime_ns)
        if _DIGESTS.get(str(path), (None,))[0] != key:
            entries = {}
            for line in path.read_text().splitlines():
                sha, _, rel = line.partition("  ")
                if len(sha) != 64 or not rel:
                    raise ValueError(f"not a sha256sum line: {line!r}")
                entries[rel] = sha
            _DIGESTS[str(path)] = (key, entries)
    except (OSError, ValueError) as err:
        raise ShippedRecordError(
            f"the digest of the shipped records {_shown(path)} cannot be read ({err}); restore it "
            f"with `git checkout -- {_shown(path)}`, or set {ENV}=0 to train every run here "
            "instead") from None
    return _DIGESTS[str(path)][1]


def check_committed(path: Path, store: Path | None = None) -> None:
    """Raise :class:`ShippedRecordError` unless ``path`` (a file of ``store``) is byte for byte
    the committed one (its sha256 in ``<store>/SHA256SUMS``)."""
    path, store = Path(path), Path(SHIPPED_DIR if store is None else store)
    rel = path.relative_to(store).as_posix()
    expected = committed_digest(store).get(rel)
    fix = (f"restore it with `git checkout -- {_shown(path)}`, or set {ENV}=0 to train this run "
           f"here instead (if you changed the shipped runs on purpose, run `{REGENERATE}`)")
    if expected is None:
        raise ShippedRecordError(f"shipped file {_shown(path)} is not in the digest "
                                 f"{_shown(store / DIGEST)}; {fix}")
    if file_sha256(path, fresh=True) != expected:
        raise ShippedRecordError(f"shipped file {_shown(path)} is not the committed one (its sha256 "
                                 f"differs from {_shown(store / DIGEST)}: changed or damaged); {fix}")


def consistency_problem(record: dict, name: str) -> str | None:
    """Why a record disagrees with itself (its name, metrics in 0..100, H = 2BN/(B+N) to the
    records' rounding), or None."""
    from .evaluation import harmonic_mean

    if record.get("name") != name:
        return f"its name {record.get('name')!r} is not its file's {name!r}"
    metrics = record.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return "it has no metrics"
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 100:
            return f"metric {key} = {value!r} is not an accuracy in 0..100"
    for key, h in metrics.items():
        if key.endswith(":H"):
            ds = key[:-2]
            b, n = metrics.get(f"{ds}:base"), metrics.get(f"{ds}:new")
            if b is None or n is None:
                return f"it has {key} but not both {ds}:base and {ds}:new"
            if abs(harmonic_mean(b, n) - h) > 1e-3:
                return (f"{key} = {h} is not 2BN/(B+N) = {harmonic_mean(b, n):.4f} of its base {b} "
                        f"and new {n}")
    return None


def read_shipped(path: Path, store: Path | None = None) -> dict:
    """A shipped record, checked against the committed digest and for its own consistency."""
    check_committed(path, store)
    record = read_record(path)
    problem = consistency_problem(record, Path(path).stem)
    if problem:
        raise ShippedRecordError(
            f"shipped record {_shown(path)} disagrees with itself ({problem}); restore it with "
            f"`git checkout -- {_shown(path)}`, or set {ENV}=0 to train this run here instead")
    return record


def shipped_record(name: str, identity: dict, store: Path | None = None,
                   data_root: str | None = None) -> dict | None:
    """The shipped record of run ``name`` (with ``"shipped_from"``), if reuse is enabled, the store
    has it and it belongs to ``identity`` (:func:`identity.stale_reason`); else None. Its
    ``config.data_root`` is ``data_root``, the root it is used under (the same data: the identity
    says so). A changed or inconsistent shipped record raises :class:`ShippedRecordError`."""
    if not available(name, store):
        return None
    src = shipped_path(name, store)
    record = read_shipped(src, store)
    if stale_reason(record, identity) is not None:
        return None
    record = dict(record, shipped_from=_shown(src))
    if data_root is not None:
        record["config"] = dict(record["config"], data_root=data_root)
    return record


def take_shipped(name: str, identity: dict, rec_path: Path, store: Path | None = None,
                 data_root: str | None = None) -> dict | None:
    """:func:`shipped_record`, copied to ``rec_path`` (the run's own record from then on, its
    ``config.output_dir`` the folder it now lives in and its ``config.data_root`` the run's), with
    the run's final checkpoint where one ships (``store/checkpoints``: only for the runs a chapter
    loads, chapter 1's)."""
    store = SHIPPED_DIR if store is None else store
    if shipped_path(name, store).resolve() == Path(rec_path).resolve():
        return None                  # the run writes into the store itself (the sweep that fills it)
    record = shipped_record(name, identity, store, data_root=data_root)
    if record is None:
        return None
    out = Path(rec_path).parent.parent
    record["config"] = dict(record["config"], output_dir=str(out))
    ckpt = checkpoint_file(store, name, identity)
    if ckpt.exists():
        check_committed(ckpt, store)
        target = checkpoint_file(out, name, identity)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda tmp: shutil.copyfile(ckpt, tmp))
    write_json_atomic(rec_path, record)
    return record
