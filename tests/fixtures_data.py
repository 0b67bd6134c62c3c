"""Tiny fixture data in the real on-disk layouts of the 15 datasets (real class counts).

Every image is the same 4x4 PNG (written under the dataset's real file names, e.g. ``.jpg``;
Pillow opens by content). Class names are synthetic but follow each dataset's official
conventions (they are written into the split files the way the official files hold them).
"""

from __future__ import annotations

import io
import json
import os
import random

from PIL import Image

from cocoop_lib.datasets import DATASETS
from cocoop_lib.datasets.benchmark import (CALTECH_RENAMES, EUROSAT_RENAMES, caltech_name,
                                           eurosat_name, pets_name, sun397_name)

_PNG: bytes | None = None


def png_bytes() -> bytes:
    """A 4x4 RGB PNG."""
    global _PNG
    if _PNG is None:
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (200, 30, 90)).save(buf, format="PNG")
        _PNG = buf.getvalue()
    return _PNG


def write_image(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(png_bytes())


def wnids(n: int = 1000) -> list[str]:
    """Synthetic ImageNet wnids, sorted like the real ones."""
    return [f"n{1440764 + 7 * i:08d}" for i in range(n)]


def imagenet_classnames() -> list[str]:
    return [f"imagenet class {i}" for i in range(1000)]


def write_classnames_txt(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{w} {c}\n" for w, c in zip(wnids(), imagenet_classnames()))


# ----------------------------------------------------------------------------- split-file datasets


def _class_paths(name: str, c: int, split: str, i: int) -> tuple[str, str]:
    """(path relative to the image folder, class name) of image i of class c, per dataset layout."""
    if name == "Caltech101":
        folders = sorted(CALTECH_RENAMES) + [f"category_{k:03d}" for k in range(96)]
        rel = f"{folders[c]}/image_{split}_{i:04d}.jpg"
        return rel, caltech_name(rel)
    if name == "OxfordPets":
        breed = f"Breed{c:02d}" if c % 3 == 0 else f"breed_{c:02d}_dog"  # cats are Capitalised
        rel = f"{breed}_{split}{i}.jpg"
        return rel, pets_name(rel)
    if name == "StanfordCars":
        folder = "cars_test" if split == "test" else "cars_train"
        return f"{folder}/{c:03d}{split}{i:02d}.jpg", f"{2007 + c % 6} Make{c} Model {c} Sedan"
    if name == "Flowers102":
        return f"image_{c:03d}{split}{i:02d}.jpg", f"flower name {c}"
    if name == "Food101":
        return f"food_{c:03d}/{split}{i}.jpg", f"food_{c:03d}"
    if name == "SUN397":
        tail = "/outdoor" if c % 4 == 0 else ""
        rel = f"{chr(97 + c % 26)}/scene_{c:03d}{tail}/sun_{split}{i}.jpg"
        return rel, sun397_name(rel)
    if name == "DTD":
        return f"texture{c:02d}/texture{c:02d}_{split}{i}.jpg", f"texture{c:02d}"
    if name == "EuroSAT":
        folder = sorted(EUROSAT_RENAMES)[c]
        rel = f"{folder}/{folder}_{split}{i}.jpg"
        return rel, eurosat_name(rel)
    if name == "UCF101":
        action = f"Do_Action_Number{c:03d}"
        return f"{action}/v_DoActionNumber{c:03d}_g{i:02d}_c{split}.jpg", action
    raise KeyError(name)


def make_split_dataset(root: str, name: str, per_class=(1, 1, 1), shuffle_seed: int | None = None,
                       write_images: bool = True) -> str:
    """Write the images and split_zhou_<Name>.json of a split-file dataset; returns the split path."""
    spec = DATASETS[name]
    ddir = os.path.join(root, spec.folder)
    image_dir = os.path.join(ddir, spec.image_dir)
    split = {}
    for s, n in zip(("train", "val", "test"), per_class):
        entries = []
        for c in range(spec.n_classes):
            for i in range(n):
                rel, cname = _class_paths(name, c, s, i)
                entries.append([rel, c, cname])
                if write_images:
                    write_image(os.path.join(image_dir, rel))
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(entries)
        split[s] = entries
    path = os.path.join(ddir, spec.split_file)
    os.makedirs(ddir, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(split, f)
    return path


# ----------------------------------------------------------------------------- other layouts


def fgvc_variants() -> list[str]:
    """100 variant names, some with spaces and punctuation like the real ones ('Cessna 172', 'F/A-18')."""
    return [f"Model {k}-{k % 7}00" if k % 2 else f"V{k:03d}/X" for k in range(100)]


def make_fgvc(root: str, per_class=(1, 1, 1)) -> None:
    ddir = os.path.join(root, DATASETS["FGVCAircraft"].folder)
    os.makedirs(os.path.join(ddir, "images"), exist_ok=True)
    variants = fgvc_variants()
    with open(os.path.join(ddir, "variants.txt"), "w") as f:
        f.writelines(v + "\n" for v in variants)
    n = 1000000
    for s, k in zip(("train", "val", "test"), per_class):
        lines = []
        for c, v in enumerate(variants):
            for _ in range(k):
                n += 1
                lines.append(f"{n:07d} {v}\n")
                write_image(os.path.join(ddir, "images", f"{n:07d}.jpg"))
        with open(os.path.join(ddir, f"images_variant_{s}.txt"), "w") as f:
            f.writelines(lines)


def make_imagenet(root: str, per_class=(1, 1)) -> None:
    ddir = os.path.join(root, "imagenet")
    write_classnames_txt(os.path.join(ddir, "classnames.txt"))
    n = 0
    for w in wnids():
        for i in range(per_class[0]):
            write_image(os.path.join(ddir, "images", "train", w, f"{w}_{i}.JPEG"))
        for i in range(per_class[1]):
            n += 1
            write_image(os.path.join(ddir, "images", "val", w, f"ILSVRC2012_val_{n:08d}.JPEG"))


def variant_wnids(name: str) -> list[str]:
    """The 200-class subsets of ImageNet-A/-R (every 5th wnid, offset differs per variant)."""
    return wnids()[(0 if name == "ImageNetA" else 2)::5]


def make_imagenet_variant(root: str, name: str, per_class: int = 1, copy_classnames: bool = True) -> None:
    spec = DATASETS[name]
    ddir = os.path.join(root, spec.folder)
    img = os.path.join(ddir, spec.image_dir)
    if copy_classnames:
        write_classnames_txt(os.path.join(ddir, "classnames.txt"))
    if name == "ImageNetV2":
        folders = [str(i) for i in range(1000)]
    elif name == "ImageNetSketch":
        folders = wnids()
    else:
        folders = variant_wnids(name)
        os.makedirs(img, exist_ok=True)
        with open(os.path.join(img, "README.txt"), "w") as f:
            f.write("not a class folder\n")
    for folder in folders:
        for i in range(per_class):
            write_image(os.path.join(img, folder, f"{folder}_{i}.jpg"))


def make_dataset(root: str, name: str, per_class=(1, 1, 1), **kw) -> None:
    """Any of the 15 datasets in its real layout."""
    root = str(root)
    kind = DATASETS[name].kind
    if kind == "split_json":
        make_split_dataset(root, name, per_class, **kw)
    elif kind == "fgvc_variants":
        make_fgvc(root, per_class)
    elif kind == "imagenet":
        make_imagenet(root, (per_class[0], per_class[2]))
    else:
        make_imagenet_variant(root, name, per_class[2], **kw)


# ----------------------------------------------------------------------------- archives


def tar_dir(src: str, archive: str, arcname: str) -> None:
    """Pack folder ``src`` as ``arcname/`` into a .tar/.tar.gz archive."""
    import tarfile
    mode = "w:gz" if archive.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(archive, mode) as t:
        t.add(src, arcname=arcname)


def zip_paths(archive: str, members: dict[str, str]) -> None:
    """Zip files/folders: {name inside the zip: path on disk}."""
    import zipfile
    with zipfile.ZipFile(archive, "w") as z:
        for name, path in members.items():
            if os.path.isdir(path):
                for dirpath, _, files in os.walk(path):
                    for fn in files:
                        full = os.path.join(dirpath, fn)
                        z.write(full, os.path.join(name, os.path.relpath(full, path)))
            else:
                z.write(path, name)


CROP = (0.8, 1.0)   # the MINI recipe's crop scale
