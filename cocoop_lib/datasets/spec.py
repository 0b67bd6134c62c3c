"""DatasetSpec: where a dataset lives under a data root and how its splits are read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable

from ..errors import DataError
from .splits import Datum, DatasetSplits, classnames_from, read_split_file, sha256_file

# How a dataset's splits are read (the official loaders' four ways).
SPLIT_JSON = "split_json"          # split_zhou_<Name>.json, paths relative to image_dir
FGVC_VARIANTS = "fgvc_variants"    # variants.txt + images_variant_{train,val,test}.txt
IMAGENET = "imagenet"              # images/{train,val}/<wnid>/..., classnames.txt; val is the test set
WNID_FOLDERS = "wnid_folders"      # test only: <image_dir>/<wnid>/..., sorted wnids = labels
NUMBERED_FOLDERS = "numbered"      # test only: <image_dir>/<0..999>/..., folder number = ImageNet label
KINDS = (SPLIT_JSON, FGVC_VARIANTS, IMAGENET, WNID_FOLDERS, NUMBERED_FOLDERS)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset's definition.

    ``folder`` is under the data root; ``image_dir`` is under ``folder`` (split-file paths are
    relative to it); ``counts`` are the expected (train, val, test) sizes; ``classname_rule`` maps a
    split-file path to its class name under the official conventions (None: not derivable from the
    path). A mini-world dataset is ``DatasetSpec(name, folder, template, n_classes, world="mini",
    split_file=f"split_zhou_{name}.json", image_dir=..., default_root=...)``.
    """

    name: str
    folder: str
    template: str
    n_classes: int
    world: str = "paper"
    kind: str = SPLIT_JSON
    split_file: str = ""
    image_dir: str = ""
    counts: tuple[int, int, int] | None = None
    classname_rule: Callable[[str], str] | None = None
    default_root: str | None = None
    aliases: tuple[str, ...] = ()
    official_name: str = ""

    def __post_init__(self):
        if self.world not in ("paper", "mini"):
            raise ValueError(f"world must be 'paper' or 'mini', got {self.world!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == SPLIT_JSON and not self.split_file:
            raise ValueError(f"{self.name}: a split_json dataset needs split_file")

    @property
    def test_only(self) -> bool:
        return self.kind in (WNID_FOLDERS, NUMBERED_FOLDERS)

    def dataset_dir(self, root: str) -> str:
        return os.path.join(os.path.abspath(os.path.expanduser(str(root))), self.folder)

    def fix_hint(self, root: str | None) -> str:
        bundled = root is None or (self.default_root is not None and
                                   os.path.abspath(str(root)) == os.path.abspath(self.default_root))
        if self.world == "mini" and not bundled:
            return (f"the data root {root} should hold a copy of the mini dataset in {self.folder}/ "
                    f"(as in cocoop_lib/assets/mini_world); leave the data root unset (None) to use "
                    "the bundled mini world")
        if self.world == "mini":
            return ("the mini world ships with the package (cocoop_lib/assets/mini_world): restore it "
                    "from git or rebuild it with `python -m data_scripts.mini_world.build`")
        return f"run `python -m data_scripts.get {self.name} --root {root or '<data root>'}`"

    def load(self, root: str | None = None) -> DatasetSplits:
        """Read the splits (lazily: images are not opened) from ``root/folder``."""
        if root is None:
            root = self.default_root
        if root is None:
            raise DataError(
                f"{self.name} is a paper dataset and needs a data root: pass --data-root DIR "
                f"(root=DIR), after fetching it with `python -m data_scripts.get {self.name} --root DIR`."
            )
        ddir = self.dataset_dir(root)
        if not os.path.isdir(ddir):
            raise DataError(f"{self.name}: dataset folder not found: {ddir}; {self.fix_hint(root)}.")
        reader = {
            SPLIT_JSON: _read_split_json,
            FGVC_VARIANTS: _read_fgvc,
            IMAGENET: _read_imagenet,
            WNID_FOLDERS: _read_wnid_folders,
            NUMBERED_FOLDERS: _read_numbered,
        }[self.kind]
        train, val, test, source_sha = reader(self, ddir, root)
        for part, items in (("train", train), ("val", val), ("test", test)):
            for i, d in enumerate(items):
                if d.label >= self.n_classes:
                    raise DataError(
                        f"{self.name}: {part}[{i}] ({d.impath}, {d.classname!r}) has label {d.label}, "
                        f"out of range for {self.n_classes} classes (0..{self.n_classes - 1}) in "
                        f"{ddir}; fix that entry or {self.fix_hint(root)}.")
        classnames = classnames_from(self.name, train, val, test, where=ddir, fix=self.fix_hint(root))
        if len(classnames) != self.n_classes:
            raise DataError(
                f"{self.name}: the splits under {ddir} have {len(classnames)} classes, expected "
                f"{self.n_classes}; the data is incomplete or wrong: {self.fix_hint(root)}."
            )
        return DatasetSplits(self.name, self.template, classnames, train, val, test,
                             dataset_dir=ddir, source_sha256=source_sha)


# ----------------------------------------------------------------------------- readers


def _need_file(spec: DatasetSpec, path: str, root: str) -> None:
    if not os.path.isfile(path):
        raise DataError(f"{spec.name}: file not found: {path}; {spec.fix_hint(root)}.")


def _need_dir(spec: DatasetSpec, path: str, root: str) -> None:
    if not os.path.isdir(path):
        raise DataError(f"{spec.name}: folder not found: {path}; {spec.fix_hint(root)}.")


def _read_split_json(spec, ddir, root):
    path = os.path.join(ddir, spec.split_file)
    _need_file(spec, path, root)
    train, val, test = read_split_file(path, os.path.join(ddir, spec.image_dir), spec.fix_hint(root))
    return train, val, test, sha256_file(path)


def _read_fgvc(spec, ddir, root):
    """Official FGVC-Aircraft variant files: label = line index in variants.txt."""
    files = ["variants.txt"] + [f"images_variant_{s}.txt" for s in ("train", "val", "test")]
    for f in files:
        _need_file(spec, os.path.join(ddir, f), root)
    with open(os.path.join(ddir, files[0]), encoding="utf-8") as f:
        variants = [line.strip() for line in f if line.strip()]
    label_of = {v: i for i, v in enumerate(variants)}
    image_dir = os.path.join(ddir, spec.image_dir)
    out = []
    for fname in files[1:]:
        items = []
        with open(os.path.join(ddir, fname), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                parts = line.strip().split(" ")
                if not line.strip():
                    continue
                variant = " ".join(parts[1:])
                if len(parts) < 2 or variant not in label_of:
                    raise DataError(
                        f"{spec.name}: {os.path.join(ddir, fname)} line {n}: {line.strip()!r} does not "
                        f"name a variant from variants.txt; {spec.fix_hint(root)}."
                    )
                items.append(Datum(os.path.join(image_dir, parts[0] + ".jpg"), label_of[variant], variant))
        out.append(items)
    digest = hashlib.sha256("".join(sha256_file(os.path.join(ddir, f)) for f in files).encode())
    return out[0], out[1], out[2], digest.hexdigest()


def read_classnames_txt(path: str) -> dict[str, str]:
    """ImageNet's classnames.txt: '<wnid> <class name>' per line, in file order."""
    names: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(" ")
            if parts[0]:
                names[parts[0]] = " ".join(parts[1:])
    return names


def _classnames_file(spec, ddir, root) -> str:
    """The dataset's own classnames.txt, else the one in the imagenet folder beside it."""
    own = os.path.join(ddir, "classnames.txt")
    if os.path.isfile(own):
        return own
    shared = os.path.join(os.path.dirname(ddir), "imagenet", "classnames.txt")
    if os.path.isfile(shared):
        return shared
    raise DataError(
        f"{spec.name}: classnames.txt not found in {ddir} (nor in {os.path.dirname(shared)}); "
        f"{spec.fix_hint(root)} (it places ImageNet's classnames.txt)."
    )


def _subfolders(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def _images_in(folder: str) -> list[str]:
    """Non-hidden image files in a folder, sorted by name (the official code used os.listdir order)."""
    return sorted(
        e.name for e in os.scandir(folder)
        if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTS) and e.is_file()
    )


def _folder_items(spec, names, split_dir, folders, labels, root) -> list[Datum]:
    items = []
    for folder, label in zip(folders, labels):
        if folder not in names:
            raise DataError(
                f"{spec.name}: folder {os.path.join(split_dir, folder)} has no entry in classnames.txt; "
                f"{spec.fix_hint(root)}."
            )
        cls_dir = os.path.join(split_dir, folder)
        items.extend(Datum(os.path.join(cls_dir, n), label, names[folder]) for n in _images_in(cls_dir))
    return items


def _listing_sha256(*parts: list[Datum], base: str, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for items in parts:
        for d in items:
            h.update(f"{os.path.relpath(d.impath, base)}\t{d.label}\t{d.classname}\n".encode())
        h.update(b"--\n")
    return h.hexdigest()


def _read_imagenet(spec, ddir, root):
    """ImageNet: label = index of the wnid folder in sorted order; its val set is the test set."""
    cn_path = os.path.join(ddir, "classnames.txt")
    _need_file(spec, cn_path, root)
    names = read_classnames_txt(cn_path)
    img = os.path.join(ddir, spec.image_dir)
    train_dir, val_dir = os.path.join(img, "train"), os.path.join(img, "val")
    _need_dir(spec, train_dir, root)
    _need_dir(spec, val_dir, root)
    folders = _subfolders(train_dir)
    val_folders = _subfolders(val_dir)
    if val_folders != folders:
        raise DataError(
            f"{spec.name}: {val_dir} must hold the same wnid folders as {train_dir} "
            f"({len(val_folders)} vs {len(folders)}); the val images must be sorted into class "
            f"folders: {spec.fix_hint(root)}."
        )
    labels = range(len(folders))
    train = _folder_items(spec, names, train_dir, folders, labels, root)
    test = _folder_items(spec, names, val_dir, folders, labels, root)
    return train, [], test, _listing_sha256(train, test, base=ddir, extra=sha256_file(cn_path))


def _read_wnid_folders(spec, ddir, root):
    """ImageNet-Sketch/-A/-R: labels = sorted wnid folders (200 for -A/-R), names from ImageNet."""
    cn_path = _classnames_file(spec, ddir, root)
    names = read_classnames_txt(cn_path)
    img = os.path.join(ddir, spec.image_dir)
    _need_dir(spec, img, root)
    folders = _subfolders(img)
    test = _folder_items(spec, names, img, folders, range(len(folders)), root)
    return [], [], test, _listing_sha256(test, base=ddir, extra=sha256_file(cn_path))


def _read_numbered(spec, ddir, root):
    """ImageNet-V2: folder <i> holds ImageNet class i (classnames.txt order)."""
    cn_path = _classnames_file(spec, ddir, root)
    wnids = list(read_classnames_txt(cn_path).items())
    img = os.path.join(ddir, spec.image_dir)
    _need_dir(spec, img, root)
    test = []
    for label, (_, cname) in enumerate(wnids):
        cls_dir = os.path.join(img, str(label))
        _need_dir(spec, cls_dir, root)
        test.extend(Datum(os.path.join(cls_dir, n), label, cname) for n in _images_in(cls_dir))
    return [], [], test, _listing_sha256(test, base=ddir, extra=sha256_file(cn_path))

