"""Datum / DatasetSplits, split-file reading, the protocol's few-shot draw and base/new subsampling."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import warnings
from dataclasses import dataclass, field

from ..errors import DataError


@dataclass(frozen=True)
class Datum:
    """One image: absolute path, 0-based label, class name."""

    impath: str
    label: int
    classname: str


@dataclass
class DatasetSplits:
    """A dataset's three splits; ``classnames[label]`` names each label.

    ``dataset_dir`` (the folder relative cache paths are taken from) and ``source_sha256`` (hash of
    the split file(s) the splits were read from) are provenance, set by the loaders.
    """

    name: str
    template: str
    classnames: list[str]
    train: list[Datum]
    val: list[Datum]
    test: list[Datum]
    dataset_dir: str | None = field(default=None, compare=False)
    source_sha256: str | None = field(default=None, compare=False)


# ----------------------------------------------------------------------------- reading


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def classnames_from(name: str, *parts: list[Datum], where: str = "", fix: str = "re-download it") -> list[str]:
    """The label -> class name list of some items; labels must be 0..n-1 with one name each."""
    at = f" in {where}" if where else ""
    names: dict[int, str] = {}
    for items in parts:
        for d in items:
            old = names.setdefault(d.label, d.classname)
            if old != d.classname:
                raise DataError(
                    f"{name}: label {d.label} has two class names{at}, {old!r} and {d.classname!r} "
                    f"(e.g. {d.impath}); the split data is inconsistent: {fix}."
                )
    if sorted(names) != list(range(len(names))):
        missing = sorted(set(range(max(names) + 1)) - set(names))
        raise DataError(
            f"{name}: labels{at} are not 0..n-1 (missing {missing[:10]}); "
            f"the split data is inconsistent: {fix}."
        )
    return [names[i] for i in range(len(names))]


def read_split_file(path: str, image_dir: str, fix: str | None = None
                    ) -> tuple[list[Datum], list[Datum], list[Datum]]:
    """Read a ``split_zhou_<Name>.json``: {"train"|"val"|"test": [[relpath, label, classname], ...]}."""
    fix = fix or "re-fetch it with `python -m data_scripts.get <dataset> --root <data root>`"
    if not os.path.isfile(path):
        raise DataError(f"split file not found: {path}; {fix}.")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"split file {path} is not readable JSON ({e}); {fix}.") from None
    if not isinstance(raw, dict) or not {"train", "val", "test"} <= set(raw):
        raise DataError(f"split file {path} must be a JSON object with train/val/test lists; {fix}.")
    out = []
    for key in ("train", "val", "test"):
        entries = raw[key]
        if not isinstance(entries, list):
            raise DataError(f"split file {path}: '{key}' is not a list; {fix}.")
        items = []
        for i, entry in enumerate(entries):
            ok = (
                isinstance(entry, (list, tuple))
                and len(entry) == 3
                and isinstance(entry[0], str)
                and isinstance(entry[2], str)
                and not isinstance(entry[1], bool)
            )
            try:
                label = int(entry[1]) if ok else -1
            except (TypeError, ValueError):
                label = -1
            if not ok or label < 0:
                raise DataError(
                    f"split file {path}: {key}[{i}] = {entry!r} is not [relative_path, label>=0, "
                    f"classname]; {fix}."
                )
            items.append(Datum(os.path.join(image_dir, entry[0]), label, entry[2]))
        out.append(items)
    return out[0], out[1], out[2]


def _rel(path: str, base_dir: str, prefix: str) -> str:
    rel = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, base_dir)
    return rel.replace(os.sep, "/") if os.sep != "/" else rel


def entries_of(items: list[Datum], base_dir: str) -> list[list]:
    """Items as split-file entries, paths relative to ``base_dir`` with '/' separators."""
    prefix = os.path.join(base_dir, "")
    return [[_rel(d.impath, base_dir, prefix), d.label, d.classname] for d in items]


# ----------------------------------------------------------------------------- few-shot


def _draw(items: list[Datum], k: int, rng: random.Random) -> list[Datum]:
    """Group by label (first appearance, file order); random.sample k per label, all if fewer."""
    groups: dict[int, list[Datum]] = {}
    for d in items:
        groups.setdefault(d.label, []).append(d)
    out: list[Datum] = []
    for group in groups.values():
        out.extend(rng.sample(group, k) if len(group) >= k else group)
    return out


def _base_dir(splits: DatasetSplits) -> str:
    if splits.dataset_dir:
        return splits.dataset_dir
    paths = [d.impath for d in splits.train + splits.val + splits.test]
    return os.path.dirname(os.path.commonpath(paths)) if paths else "."


def _pool_sha256(train: list[list], val: list[list]) -> str:
    blob = json.dumps({"train": train, "val": val}, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _read_cache(path: str, want: dict) -> dict | None:
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        warnings.warn(f"few-shot cache {path} is unreadable ({e}); drawing it again", stacklevel=3)
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in want.items()):
        return None
    return data


def _write_json_atomic(path: str, data: dict) -> None:
    from ..records import write_atomic  # unique temporary name, removed on failure, ENOSPC named

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
    write_atomic(path, write)


def sample_few_shot(
    splits: DatasetSplits, num_shots: int | None, seed: int, cache_dir: str | None = None
) -> DatasetSplits:
    """The protocol's few-shot draw: ``num_shots`` per label from train, ``min(num_shots, 4)`` from val.

    Equal to the official code's draw after ``random.seed(seed)``: per label (order of first
    appearance, items in file order) ``random.sample(items, k)``, all items if fewer; train first,
    then val, from one ``random.Random(seed)``. Test is untouched; ``num_shots=None`` keeps everything.
    With ``cache_dir`` the draw is stored as JSON (paths relative to the dataset folder), reused for
    the same shots+seed and redrawn when the split file or the train/val pool changes.
    """
    if num_shots is None:
        return dataclasses.replace(splits, train=list(splits.train), val=list(splits.val))
    if isinstance(num_shots, bool) or not isinstance(num_shots, int) or num_shots <= 0:
        raise DataError(f"num_shots must be a positive integer or None (all images), got {num_shots!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"seed must be an integer, got {seed!r}.")
    k_val = min(num_shots, 4)
    base = _base_dir(splits)
    key = None
    if cache_dir is not None:
        pool_train, pool_val = entries_of(splits.train, base), entries_of(splits.val, base)
        key = {
            "dataset": splits.name,
            "num_shots": num_shots,
            "seed": seed,
            "split_sha256": splits.source_sha256,
            "pool_sha256": _pool_sha256(pool_train, pool_val),
        }
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in splits.name)
        path = os.path.join(cache_dir, f"{safe}-shot_{num_shots}-seed_{seed}.json")
        cached = _read_cache(path, key)
        if cached is not None:
            try:
                train = _from_entries(cached["train"], base)
                val = _from_entries(cached["val"], base)
            except (KeyError, TypeError, ValueError):
                pass  # a damaged cache file: draw again and overwrite it
            else:
                return dataclasses.replace(splits, train=train, val=val)
    rng = random.Random(seed)
    train = _draw(splits.train, num_shots, rng)
    val = _draw(splits.val, k_val, rng)
    if key is not None:
        os.makedirs(cache_dir, exist_ok=True)
        data = dict(key, paths_relative_to="the dataset folder", train=entries_of(train, base),
                    val=entries_of(val, base))
        _write_json_atomic(path, data)
    return dataclasses.replace(splits, train=train, val=val)


def _from_entries(entries: list, base: str) -> list[Datum]:
    return [Datum(os.path.join(base, *rel.split("/")), int(label), name) for rel, label, name in entries]


# ----------------------------------------------------------------------------- base / new


def subsample_classes(splits: DatasetSplits, which: str) -> DatasetSplits:
    """Keep the base (first ceil(n/2)) or new (the rest) classes of train's sorted labels; relabel from 0."""
    if which not in ("all", "base", "new"):
        raise DataError(f"subsample must be 'all', 'base' or 'new', got {which!r}.")
    if which == "all":
        return dataclasses.replace(splits, train=list(splits.train), val=list(splits.val),
                                   test=list(splits.test), classnames=list(splits.classnames))
    labels = sorted({d.label for d in splits.train})
    if not labels:
        raise DataError(
            f"{splits.name} has no train split, so it has no base/new division; use 'all' "
            "(test-only datasets serve cross-dataset and domain-generalisation evaluation)."
        )
    m = math.ceil(len(labels) / 2)
    selected = labels[:m] if which == "base" else labels[m:]
    relabel = {y: i for i, y in enumerate(selected)}

    def keep(items: list[Datum]) -> list[Datum]:
        return [Datum(d.impath, relabel[d.label], d.classname) for d in items if d.label in relabel]

    return dataclasses.replace(
        splits,
        classnames=[splits.classnames[y] for y in selected],
        train=keep(splits.train),
        val=keep(splits.val),
        test=keep(splits.test),
    )
