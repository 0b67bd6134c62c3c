"""Datasets: definitions, split files, the protocol's few-shot draw and base/new subsampling.

    splits = load_dataset("OxfordPets", root="/data")        # official split file
    splits = sample_few_shot(splits, 16, seed=1)              # the official draw for seed 1
    base = subsample_classes(splits, "base")                  # first ceil(n/2) classes, relabelled
    ds = ImageDataset(base.train, transform)                  # (image tensor, label), lazy
"""

from __future__ import annotations

from ..errors import DataError
from .benchmark import BASE_TO_NEW, DOMAIN_SHIFT, PAPER_DATASETS
from .image_dataset import ImageDataset, check_images, open_rgb, require_images
from .spec import DatasetSpec
from .splits import Datum, DatasetSplits, read_split_file, sample_few_shot, subsample_classes

DATASETS: dict[str, DatasetSpec] = dict(PAPER_DATASETS)
try:  # the offline mini world, where installed
    from .mini import MINI_DATASETS
except ModuleNotFoundError as e:
    if e.name != f"{__name__}.mini":
        raise
    MINI_DATASETS = {}
DATASETS.update(MINI_DATASETS)


def _norm(s: str) -> str:
    return "".join(c for c in s.lower() if c.isalnum())


def get_spec(name: str) -> DatasetSpec:
    """The spec named ``name`` (case, '-' and '_' ignored; folder and official names also match)."""
    if isinstance(name, DatasetSpec):
        return name
    if name in DATASETS:
        return DATASETS[name]
    want = _norm(str(name))
    for spec in DATASETS.values():
        keys = {spec.name, spec.folder, spec.official_name, *spec.aliases} - {""}
        if want in {_norm(k) for k in keys}:
            return spec
    raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}.")


def load_dataset(name: str, root: str | None = None) -> DatasetSplits:
    """Load a dataset's splits from ``root`` (paper datasets) or the bundled mini world (root=None)."""
    return get_spec(name).load(root)


__all__ = [
    "BASE_TO_NEW", "DATASETS", "DOMAIN_SHIFT", "DataError", "DatasetSpec", "DatasetSplits", "Datum",
    "ImageDataset", "check_images", "get_spec", "load_dataset", "open_rgb", "read_split_file",
    "require_images", "sample_few_shot", "subsample_classes",
]
