"""Fetch the paper's datasets into a data root, in the layout the loaders read.

    python -m data_scripts.get EuroSAT --root /data            # one dataset
    python -m data_scripts.get all --root /data --dry-run      # what would be fetched, touching nothing

Downloads go to ``<root>/_downloads/<Dataset>/`` (``--downloads DIR`` for ``DIR/<Dataset>/``),
are resumed when interrupted, are checked against published md5/sha256 where known (otherwise
their sha256 is recorded in ``recorded_sha256.json`` beside them and checked on reuse), and are
then unpacked into place. A file you
obtained yourself (manual steps: ImageNet, StanfordCars, dead links) is used when it is found in the
downloads folder. Each dataset is checked with `data_scripts.verify` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import zipfile

from cocoop_lib.datasets import DATASETS, DataError, get_spec

from . import sources as S
from .download import DownloadError, check_file, download

RECORD = "recorded_sha256.json"
INSTALLED = ".data_scripts_installed.json"  # in the dataset folder: artifacts unpacked there


def paper_names() -> list[str]:
    return [n for n, s in DATASETS.items() if s.world == "paper"]


def resolve(names: list[str]) -> list[str]:
    """Dataset names from the command line ('all' = the 15 paper datasets)."""
    if any(n.lower() == "all" for n in names):
        return paper_names()
    out = []
    for n in names:
        spec = get_spec(n)
        if spec.name not in S.SOURCES:
            raise DataError(f"{spec.name} has no download sources (only the paper's datasets do).")
        out.append(spec.name)
    return out


def _installed_path(root: str, name: str) -> str:
    return os.path.join(root, DATASETS[name].folder, INSTALLED)


def installed(a: S.Artifact, root: str, name: str) -> bool:
    """Whether ``a`` is in place: its targets exist and (for downloads) it was unpacked by us."""
    if not a.targets or not all(os.path.exists(os.path.join(root, t)) for t in a.targets):
        return False
    if not a.filename or a.handler:
        return True
    try:
        with open(_installed_path(root, name)) as f:
            return a.filename in json.load(f)
    except (OSError, ValueError):
        return False


def mark_installed(a: S.Artifact, root: str, name: str, sha256: str) -> None:
    path = _installed_path(root, name)
    try:
        with open(path) as f:
            done = json.load(f)
    except (OSError, ValueError):
        done = {}
    done[a.filename] = sha256
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(done, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


# ----------------------------------------------------------------------------- dry run


def describe(name: str, root: str, downloads: str, out=print) -> None:
    """Print sources, sizes, checksums and target folders; touches nothing."""
    out(f"{name}:  (downloads: {os.path.join(downloads, name)})")
    downloads = os.path.join(downloads, name)
    shown = set()
    for a in S.SOURCES[name]:
        targets = ", ".join(os.path.join(root, t) for t in a.targets) or "(used to prepare the above)"
        done = installed(a, root, name)
        present = not done and a.targets and all(os.path.exists(os.path.join(root, t)) for t in a.targets)
        label = a.filename or "(manual)"
        check = (f"md5 {a.md5}" if a.md5 else f"sha256 {a.sha256}" if a.sha256
                 else "no published checksum (sha256 recorded on download)")
        state = "  (already in place)" if done else "  (target exists; not unpacked by data_scripts)" if present else ""
        out(f"  {label}  [{a.size}, approx.]  -> {targets}{state}")
        if a.filename:
            out(f"    {check}")
        for i, url in enumerate(a.urls):
            out(f"    {'source' if i == 0 else 'mirror'}: {url}")
        if a.filename and a.urls:
            out(f"    or place it yourself at {os.path.join(downloads, a.filename)}")
        if a.manual and a.manual not in shown:
            shown.add(a.manual)
            out("    MANUAL: " + a.manual.format(root=root, downloads=downloads))


# ----------------------------------------------------------------------------- unpacking


def _safe_extract(archive: str, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for m in z.namelist():
                p = os.path.normpath(m)
                if os.path.isabs(p) or p.startswith(".."):
                    raise DataError(f"{archive}: unsafe member path {m!r}; refusing to extract.")
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    else:
        raise DataError(f"{archive} is neither a zip nor a tar archive; delete it and run again.")


def _merge_move(src: str, dst: str) -> None:
    """Move src to dst; folders are merged into an existing dst, files replace."""
    if os.path.isdir(src) and os.path.isdir(dst):
        for child in os.listdir(src):
            _merge_move(os.path.join(src, child), os.path.join(dst, child))
        os.rmdir(src)
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    shutil.move(src, dst)


def install(a: S.Artifact, path: str, root: str, log=print) -> None:
    """Put a verified download into place under ``root``."""
    if not a.archive:
        for _, target in a.place:
            dst = os.path.join(root, target)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(path, dst + ".tmp")
            os.replace(dst + ".tmp", dst)
            log(f"  placed {dst}")
        return
    staging = path + ".extract.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    log(f"  extracting {os.path.basename(path)}")
    _safe_extract(path, staging)
    try:
        for inner, target in a.inner:
            src = os.path.join(staging, inner)
            if not os.path.isfile(src):
                raise DataError(f"{a.filename}: expected {inner} inside it; found {sorted(os.listdir(staging))}.")
            _safe_extract(src, os.path.join(root, target))
            log(f"  extracted {inner} into {os.path.join(root, target)}")
        for inner, target in a.place:
            src = os.path.join(staging, inner)
            if not os.path.exists(src):
                raise DataError(f"{a.filename}: expected {inner} inside it; found {sorted(os.listdir(staging))}.")
            _merge_move(src, os.path.join(root, target))
            log(f"  placed {os.path.join(root, target)}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ----------------------------------------------------------------------------- checks


def split_validator(name: str):
    """Reject a split file whose JSON or sizes differ from the official one's."""
    spec = DATASETS[name]

    def validate(path: str) -> None:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            sizes = tuple(len(data[k]) for k in ("train", "val", "test"))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"not a split file ({e.__class__.__name__}: {e})") from None
        if spec.counts and sizes != spec.counts:
            raise ValueError(f"split sizes {sizes} differ from the official {spec.counts}")

    return validate


def _load_record(downloads: str) -> dict:
    try:
        with open(os.path.join(downloads, RECORD)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save_record(downloads: str, record: dict) -> None:
    path = os.path.join(downloads, RECORD)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def obtain(a: S.Artifact, downloads: str, root: str, log=print, attempts: int = 3) -> str | None:
    """Path of a verified copy of ``a`` in ``downloads`` (downloading it if needed), or None with
    the manual step printed."""
    path = os.path.join(downloads, a.filename)
    validate = split_validator(a.check) if a.check else None
    record = _load_record(downloads)
    if os.path.isfile(path):
        try:
            digest = check_file(path, a.md5, a.sha256 or record.get(a.filename, {}).get("sha256"))
            if validate:
                validate(path)
        except ValueError as e:
            os.replace(path, path + ".bad")
            log(f"  {path} failed its check ({e}); moved it to {path}.bad")
        else:
            log(f"  using {path} (checked)")
            record.setdefault(a.filename, {"sha256": digest})
            _save_record(downloads, record)
            return path
    if not a.urls:
        log("  MANUAL STEP: " + a.manual.format(root=root, downloads=downloads))
        if a.filename:
            log(f"  expected file: {path}" + (f" (md5 {a.md5})" if a.md5 else ""))
        return None
    try:
        digest = download(a.urls, path, a.md5, a.sha256, validate, attempts=attempts, log=log)
    except DownloadError as e:
        log(f"  {e}")
        if a.manual:
            log("  MANUAL STEP: " + a.manual.format(root=root, downloads=downloads))
        log(f"  You can also obtain {a.filename} yourself, put it at {path} and run again.")
        return None
    if not (a.md5 or a.sha256):
        log(f"  no published checksum: recorded sha256 {digest} in {os.path.join(downloads, RECORD)}")
    record[a.filename] = {"sha256": digest}
    _save_record(downloads, record)
    return path


def prepare_imagenet(root: str, downloads: str, log=print) -> list[str]:
    """Unpack the ILSVRC2012 tars (placed by hand) into images/{train,val}/<wnid>/ via torchvision."""
    img = os.path.join(root, "imagenet", "images")
    todo = [k for k in ("val", "train") if not os.path.isdir(os.path.join(img, k))]
    if not todo:
        log(f"  {img}/train and /val already in place")
        return []
    arts = [a for a in S.SOURCES["ImageNet"] if a.handler]
    missing = [a for a in arts if not os.path.isfile(os.path.join(downloads, a.filename))]
    if missing:
        log("  MANUAL STEP: " + arts[0].manual.format(root=root, downloads=downloads))
        for a in missing:
            log(f"  expected file: {os.path.join(downloads, a.filename)} (md5 {a.md5})")
        return ["ImageNet: the ILSVRC2012 archives must be placed by hand (licence login)"]
    from torchvision.datasets import imagenet as tv  # verifies the md5s, needs scipy for the devkit

    log("  parsing the devkit (checks md5)")
    tv.parse_devkit_archive(downloads, "ILSVRC2012_devkit_t12.tar.gz")
    for split in todo:
        staging = os.path.join(img, split + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        log(f"  unpacking ILSVRC2012_img_{split}.tar into {os.path.join(img, split)} (checks md5; slow)")
        if split == "val":
            tv.parse_val_archive(downloads, "ILSVRC2012_img_val.tar", folder=staging)
        else:
            tv.parse_train_archive(downloads, "ILSVRC2012_img_train.tar", folder=staging)
        os.replace(staging, os.path.join(img, split))
    return []


# ----------------------------------------------------------------------------- main


def get_dataset(name: str, root: str, downloads: str, keep: bool = False, log=print,
                attempts: int = 3) -> list[str]:
    """Fetch and place one dataset; returns what is still missing (empty when complete)."""
    log(f"== {name}")
    from .verify import verify_dataset

    if os.path.isdir(DATASETS[name].dataset_dir(root)) and not verify_dataset(name, root):
        log(f"  {DATASETS[name].dataset_dir(root)} is complete (verify OK): nothing to do")
        return []
    downloads = os.path.join(downloads, name)
    pending = []
    for a in S.SOURCES[name]:
        if a.handler == "imagenet_devkit":
            continue
        if a.handler:
            if a.handler == "imagenet_val":
                pending += prepare_imagenet(root, downloads, log)
            continue
        if installed(a, root, name):
            log(f"  {', '.join(a.targets)}: already in place")
            continue
        if not a.filename:
            log("  MANUAL STEP: " + a.manual.format(root=root, downloads=downloads))
            pending.append(f"{name}: manual step ({', '.join(a.targets)})")
            continue
        path = obtain(a, downloads, root, log, attempts)
        if path is None:
            pending.append(f"{name}: {a.filename}")
            continue
        install(a, path, root, log)
        mark_installed(a, root, name, _load_record(downloads).get(a.filename, {}).get("sha256", ""))
        if a.archive and not keep:
            os.remove(path)
            log(f"  removed {path} (use --keep-downloads to keep archives)")
    return pending


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_scripts.get", description=__doc__.split("\n")[0])
    p.add_argument("datasets", nargs="+", help="dataset names, or 'all'")
    p.add_argument("--root", required=True, help="data root (the loaders' --data-root)")
    p.add_argument("--downloads", help="where downloads go (default: <root>/_downloads)")
    p.add_argument("--dry-run", action="store_true", help="list sources, sizes and targets; touch nothing")
    p.add_argument("--keep-downloads", action="store_true", help="keep archives after unpacking")
    args = p.parse_args(argv)
    root = os.path.abspath(os.path.expanduser(args.root))
    downloads = os.path.abspath(args.downloads or os.path.join(root, "_downloads"))
    try:
        names = resolve(args.datasets)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"Dry run: data root {root}, downloads {downloads}; nothing is written.")
        for name in names:
            describe(name, root, downloads)
        return 0
    from .verify import verify_dataset

    pending, bad = [], []
    for name in names:
        missing = get_dataset(name, root, downloads, args.keep_downloads)
        pending += missing
        if not missing:
            problems = verify_dataset(name, root)
            print(f"  verify: {'OK' if not problems else f'{len(problems)} problem(s)'}")
            for line in problems[:20]:
                print(f"    {line}")
            bad += [name] if problems else []
    if pending or bad:
        print("\nNot complete:")
        for line in pending:
            print(f"  {line}")
        for name in bad:
            print(f"  {name}: verify found problems (python -m data_scripts.verify {name} --root {root})")
        return 1
    print("\nAll requested datasets are in place and verified.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
