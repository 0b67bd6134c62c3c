#!/usr/bin/env python
"""Regenerate the digests of the committed runs (``SHA256SUMS`` in cocoop_lib/assets/mini_runs and
cocoop_lib/assets/recipe_selection), after adding or replacing shipped records on purpose:

    python scripts/shipped_digest.py

A shipped record is reused only while it is byte for byte the file listed there
(:mod:`cocoop_lib.shipped`); ``tests/test_shipped.py`` fails while a digest is out of date.

``--add-image-hashes`` (once, for records written before image bytes were part of a record's
identity): reads each committed record's datasets from the actual files, checks that its split file
and image list are the ones the record was made on, adds their ``image_bytes_sha256`` to the
record's ``data_identity`` and renames the store's checkpoints to the name the new identity gives
(:func:`identity.checkpoint_file`); then writes the digests. A record whose data is not the data
here is refused (it would need training again, not a new hash).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cocoop_lib import shipped  # noqa: E402  (needs the path above)
from cocoop_lib.identity import (checkpoint_file, data_identity, load_run_dataset,  # noqa: E402
                                 record_identity)


def add_image_hashes(store: Path) -> tuple[int, int]:
    """Add ``image_bytes_sha256`` to every record of ``store`` missing it; (records changed,
    checkpoints renamed)."""
    changed = renamed = 0
    for path in sorted((store / "records").glob("*.json")):
        text = path.read_text()
        record = json.loads(text)
        if all("image_bytes_sha256" in d for d in record["data_identity"].values()):
            continue
        old_ckpt = checkpoint_file(store, record["name"], record_identity(record))
        for name, then in record["data_identity"].items():
            now = data_identity(load_run_dataset(name, record["config"]["data_root"]))
            for key in ("split_sha256", "images_sha256", "n_images"):
                if then.get(key) != now[key]:
                    raise SystemExit(f"{path}: {key} of {name} differs from the data here, so this "
                                     "record was not made on it; train it again instead")
            then["image_bytes_sha256"] = now["image_bytes_sha256"]
        path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        changed += 1
        if old_ckpt.exists():
            old_ckpt.rename(checkpoint_file(store, record["name"], record_identity(record)))
            renamed += 1
    return changed, renamed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--add-image-hashes", action="store_true",
                   help="add the images' bytes hash to records written without it (see above)")
    args = p.parse_args(argv)
    for store in shipped.STORES:
        if args.add_image_hashes:
            changed, renamed = add_image_hashes(store)
            print(f"{store.relative_to(REPO)}: image hashes added to {changed} records, "
                  f"{renamed} checkpoints renamed")
        target = shipped.write_digest(store)
        print(f"wrote {target.relative_to(REPO)} ({len(shipped.digest_files(store))} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
