"""A lazy torch Dataset over Datum items, and an up-front check that all images are there."""

from __future__ import annotations

import os
from typing import Callable, Iterable

from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataError
from .splits import Datum


def fix_hint(path: str) -> str:
    """How to repair a missing or damaged image at ``path``: the mini world is restored from git
    (or copied again), a paper dataset is fetched again with ``data_scripts.get``."""
    from .mini import MINI_DATASETS, MINI_ROOT

    p = os.path.abspath(path)
    if p.startswith(MINI_ROOT + os.sep):
        return ("restore the bundled mini world with `git checkout -- cocoop_lib/assets/mini_world` "
                "(or rebuild it: `python -m data_scripts.mini_world.build`), then check it with "
                "`python -m data_scripts.verify <dataset>`")
    parts = p.split(os.sep)
    for spec in MINI_DATASETS.values():
        if spec.folder in parts[:-1]:
            return (f"{spec.name} is a mini-world dataset, which `data_scripts.get` cannot download: "
                    f"copy it again from cocoop_lib/assets/mini_world/{spec.folder} into the data "
                    "root, or leave the data root unset (None) to use the bundled copy")
    return ("re-fetch the dataset with `python -m data_scripts.get <dataset> --root <data root>` "
            "and check it with `python -m data_scripts.verify <dataset> --root <data root>`")


def open_rgb(path: str) -> Image.Image:
    """Open an image as RGB; a missing or undecodable file raises DataError naming the path."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image not found: {path}; {fix_hint(path)}.") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"image not readable: {path} ({e}); {fix_hint(path)}.") from None


class ImageDataset(Dataset):
    """``(transform(RGB image), label)`` per item; images are opened only when indexed."""

    def __init__(self, items: list[Datum], transform: Callable | None = None):
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        d = self.items[index]
        image = open_rgb(d.impath)
        if self.transform is not None:
            image = self.transform(image)
        return image, d.label


def check_images(items: Iterable[Datum], decode: bool = False) -> list[str]:
    """All problems at once: ``"missing: <path>"`` / ``"unreadable: <path> (...)"``, one per image.

    By default checks that each file exists and is readable (no file is opened, so it is cheap
    even for ImageNet); ``decode=True`` also decodes every image with Pillow (slow on full datasets).
    """
    problems: list[str] = []
    seen: set[str] = set()
    for d in items:
        path = d.impath
        if path in seen:
            continue
        seen.add(path)
        if not os.path.isfile(path):
            problems.append(f"missing: {path}")
        elif not os.access(path, os.R_OK):
            problems.append(f"unreadable: {path} (no read permission)")
        elif decode:
            try:
                with Image.open(path) as im:
                    im.convert("RGB")
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                problems.append(f"unreadable: {path} ({e})")
    return problems


def require_images(items: Iterable[Datum], what: str = "images", limit: int = 20) -> None:
    """Raise one DataError listing every missing/unreadable image (the first ``limit`` shown)."""
    problems = check_images(items)
    if problems:
        shown = "\n  ".join(problems[:limit])
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        raise DataError(
            f"{len(problems)} {what} missing or unreadable:\n  {shown}{more}\n"
            f"Fix: {fix_hint(problems[0].split(': ', 1)[1].split(' (')[0])}."
        )
