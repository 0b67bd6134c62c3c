"""What a run's record and checkpoint depend on beyond its config: weights, data and recipe.

A record is reused only when its identity equals the run's (:func:`stale_reason` says why not);
checkpoints are named by it (:func:`checkpoint_file`), so one is never resumed on other weights,
data or recipe. The data's identity is the split file's sha256, a hash of its image list
(relative paths, labels, class names) and a hash of the images' bytes (:func:`image_sha256s`:
every file is read once, then its sha256 is cached by size, mtime and ctime, so a rerun only
stats the files).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .backbone import check_weights_file, file_sha256, resolve_backbone_folder
from .datasets import get_spec, load_dataset
from .presets import get_recipe


def backbone_sha256(source: str) -> str:
    """sha256 of the weight file ``source`` resolves to (cached; no model is loaded)."""
    return file_sha256(check_weights_file(resolve_backbone_folder(source)))


_DATA_CACHE: dict[tuple, object] = {}


def _data_signature(name: str, root: str | None) -> tuple:
    """What a dataset's loaded splits depend on cheaply: its folder's and split file's stat."""
    spec = get_spec(name)
    ddir = spec.dataset_dir(root if root is not None else (spec.default_root or ""))
    sig = [name, str(root), ddir]
    for p in (ddir, os.path.join(ddir, spec.split_file) if spec.split_file else None):
        try:
            st = os.stat(p) if p else None
            sig.append((st.st_size, st.st_mtime_ns) if st else None)
        except OSError:
            sig.append(None)
    return tuple(sig)


def load_run_dataset(name: str, root: str | None):
    """``load_dataset(name, root)``, reused within a process while its files are unchanged."""
    key = _data_signature(name, root)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_dataset(name, root)
    return _DATA_CACHE[key]


HASH_CACHE_ENV = "COCOOP_HASH_CACHE"   # folder of the image-hash caches (default ~/.cache/cocoop_lib)
MISSING = "missing"                     # the "hash" of an image file that cannot be read
_HASHES: dict[str, tuple] = {}          # path -> (size, mtime_ns, ctime_ns, sha256), this process


def hash_cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cocoop_lib"
    return Path(os.environ.get(HASH_CACHE_ENV) or default) / "image_sha256"


def _cache_file(folder: str) -> Path:
    return hash_cache_dir() / f"{hashlib.sha256(folder.encode()).hexdigest()[:16]}.json"


def _load_cache(folder: str) -> None:
    try:
        saved = json.loads(_cache_file(folder).read_text())
        if saved.get("folder") == folder:
            for rel, entry in saved["files"].items():
                _HASHES.setdefault(os.path.join(folder, rel), tuple(entry))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass                                   # no cache or an unreadable one: hash again


def _save_cache(folder: str, paths) -> None:
    """Write the hashes of ``paths`` (under ``folder``) to the folder's cache file; a cache that
    cannot be written only costs time on the next run."""
    from .records import write_json_atomic

    files = {os.path.relpath(p, folder): list(_HASHES[p]) for p in paths if p in _HASHES}
    try:
        write_json_atomic(_cache_file(folder), {"folder": folder, "files": files})
    except OSError:
        pass


def image_sha256s(paths, folder: str | None = None, refresh: bool = False) -> list[str]:
    """sha256 of each image file's bytes (:data:`MISSING` for one that cannot be read).

    A file is read only when its size, mtime or ctime differ from the cached entry (in this
    process, and in the cache file of ``folder`` under :func:`hash_cache_dir`); ``refresh`` reads
    every file again (``--force``).
    """
    from tqdm.auto import tqdm

    paths = list(paths)
    if folder is not None and not refresh and not any(p in _HASHES for p in paths[:1]):
        _load_cache(folder)
    keys: dict[str, tuple | None] = {}
    for p in paths:
        try:
            st = os.stat(p)
            keys[p] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            keys[p] = None
    to_read = [p for p, key in keys.items() if key is not None and
               (refresh or p not in _HASHES or tuple(_HASHES[p][:3]) != key)]
    # a real dataset's first look-up reads every image once (ImageNet: about 1.3M files)
    for p in tqdm(to_read, desc="hashing images", unit="file", disable=len(to_read) < 5000):
        try:
            with open(p, "rb") as f:
                _HASHES[p] = (*keys[p], hashlib.file_digest(f, "sha256").hexdigest())
        except OSError:
            keys[p] = None
    if to_read and folder is not None:
        _save_cache(folder, paths)
    return [MISSING if keys[p] is None else _HASHES[p][3] for p in paths]


_LIST_HASH: dict[int, tuple] = {}      # id(splits) -> (splits, image-list sha256, paths, unique paths)


def data_identity(splits, refresh: bool = False) -> dict:
    """Identity of a dataset's data: the split file's sha256, a hash of its image list (relative
    paths, labels and class names of train/val/test) and a hash of the images' bytes
    (:func:`image_sha256s`, in the list's order)."""
    base = splits.dataset_dir or ""
    memo = _LIST_HASH.get(id(splits))
    if memo is None or memo[0] is not splits:        # the list part is computed once per splits
        h = hashlib.sha256()
        items = []
        for part in (splits.train, splits.val, splits.test):
            for d in part:
                h.update(f"{os.path.relpath(d.impath, base) if base else d.impath}\t{d.label}\t"
                         f"{d.classname}\n".encode())
                items.append(d.impath)
            h.update(b"--\n")
        memo = _LIST_HASH[id(splits)] = (splits, h.hexdigest(), items, list(dict.fromkeys(items)))
    _, list_sha, items, unique = memo
    sha = dict(zip(unique, image_sha256s(unique, folder=base or None, refresh=refresh)))
    b = hashlib.sha256()
    for p in items:
        b.update(sha[p].encode() + b"\n")
    return {"split_sha256": splits.source_sha256, "images_sha256": list_sha,
            "image_bytes_sha256": b.hexdigest(),
            "n_images": [len(splits.train), len(splits.val), len(splits.test)]}


def run_data(c) -> dict:
    """{dataset name: its splits} for the training dataset and every evaluation target."""
    names = [c.dataset] + [t.split(":")[0] for t in c.eval_on]
    return {n: load_run_dataset(n, c.data_root) for n in dict.fromkeys(names)}


def run_identity(c, data: dict | None = None, refresh: bool = False) -> dict:
    """What a record and its checkpoint depend on beyond the config: weights, data, recipe
    (``refresh``: read every image file again instead of trusting the hash cache)."""
    data = run_data(c) if data is None else data
    return {"weights_sha256": backbone_sha256(c.backbone),
            "data": {n: data_identity(s, refresh=refresh) for n, s in data.items()},
            "recipe": json.loads(json.dumps(get_recipe(c.recipe, c.backbone).training_fields()))}


def record_identity(record: dict) -> dict:
    """The identity (:func:`run_identity`) a record was made under, read back from the record."""
    fields = get_recipe(record["config"]["recipe"], record["config"]["backbone"]).training_fields()
    return {"weights_sha256": record["backbone"]["weights_sha256"],
            "data": record["data_identity"],
            "recipe": {k: record["recipe"].get(k) for k in fields}}


def _identity_digest(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


def checkpoint_file(output_dir: str | Path, name: str, identity: dict) -> Path:
    """THE checkpoint name of a run: keyed by its weights and by its data and recipe, so a
    checkpoint is never resumed on other weights, data or recipe."""
    return (Path(output_dir) / "checkpoints"
            / f"{name}-{identity['weights_sha256'][:8]}-{_identity_digest(identity)}.pt")


def stale_reason(record: dict, identity: dict) -> str | None:
    """Why ``record`` does not belong to ``identity`` (weights, data, recipe), or None."""
    if record.get("backbone", {}).get("weights_sha256") != identity["weights_sha256"]:
        return "the backbone's weights changed (weights sha256 differs)"
    old = record.get("data_identity")
    if old is None:
        return "the record does not say which data it was made on (written by an older version)"
    for name, now in identity["data"].items():
        then = old.get(name)
        if then is None:
            return f"it has no data identity for {name}"
        if then.get("split_sha256") != now["split_sha256"]:
            return f"the split file of {name} changed (sha256 differs)"
        if then.get("images_sha256") != now["images_sha256"]:
            return f"the image list of {name} changed"
        if "image_bytes_sha256" not in then:
            return (f"it does not say which image contents of {name} it was made on (written "
                    "before image bytes were part of a record's identity)")
        if then["image_bytes_sha256"] != now["image_bytes_sha256"]:
            return f"the images of {name} changed (same file names, other contents)"
    then = record.get("recipe") or {}
    if {k: then.get(k) for k in identity["recipe"]} != identity["recipe"]:   # a record keeps the whole recipe
        return f"the library's {identity['recipe'].get('name')} recipe changed"
    return None
