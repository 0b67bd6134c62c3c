"""The offline mini world's datasets, bundled in ``cocoop_lib/assets/mini_world/<Name>/``.

Each is 32x32 PNG images + ``split_zhou_<Name>.json`` in the real benchmark's split-file format,
built by ``python -m data_scripts.mini_world.build`` (docs/mini_world.md says from what). They
differ from the mini CLIP's pretraining data the way benchmarks differ from web data: unseen
items, changes named in the pretraining captions (blur, noise, colour, fading, grey scale,
outlines, pixel art) and one change never seen in pretraining (posterised colours, 45-degree
tilts, 5x5-cell pixels, false colour, solarisation), none of which their template names.
``MINI_TABLE`` holds each one's template, counts, change and the paper dataset it plays (``PLAYS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .spec import DatasetSpec

MINI_ROOT = str(Path(__file__).resolve().parents[1] / "assets" / "mini_world")


@dataclass(frozen=True)
class MiniRow:
    """One mini dataset: what the library reads (template, counts, role) and what the builder
    (``data_scripts/mini_world/world.py``) reads too (shift, seed key); ``shift`` is the wording
    of the shipped manifest (assets/mini_world/manifest.json)."""

    template: str
    n_classes: int
    counts: tuple            # (train, val, test) images; (0, 0, n): test only
    shift: str               # how its images differ from the mini CLIP's pretraining images
    key: str                 # the builder's seed key (its images' Generators are keyed by it)
    plays: str | None = None  # the paper dataset whose part it plays (None: one of its own)

    @property
    def test_only(self) -> bool:
        return self.counts[0] == 0

    @property
    def role(self) -> str:
        return "domain shift of MiniEmojiNet" if self.test_only else "base-to-new"

    @property
    def test_per_class(self) -> int:
        return self.counts[2] // self.n_classes


# THE table of the mini datasets (the library, the builder and the mini CLIP's evaluation read it)
MINI_TABLE: dict[str, MiniRow] = {
    "MiniEmojiNet": MiniRow(
        "a photo of a {}.", 100, (2000, 500, 1000),
        "colour emoji posterised to 8 flat colours (unseen in pretraining); plays ImageNet",
        "EmojiNet", "ImageNet"),
    "MiniGlyphs": MiniRow(
        "a photo of a {}, a type of character.", 62, (1240, 310, 930),
        "font families never seen in pretraining, blurred, tilted 45 degrees (unseen)", "Glyphs"),
    "MiniFashion": MiniRow(
        "a photo of a {}, a type of clothing.", 10, (200, 50, 1000),
        "unseen Fashion-MNIST images, strong pixel noise, 5x5-cell pixelation (unseen)", "Fashion"),
    "MiniDigits": MiniRow(
        "a photo of a {}.", 10, (200, 50, 1000),
        "unseen MNIST digits, coloured ink on coloured paper, tilted 45 degrees (unseen)", "Digits"),
    "MiniFood": MiniRow(
        "a photo of {}, a type of food.", 30, (600, 150, 300),
        "food emoji, faded, false colour (channels rotated: unseen)", "EmojiFood", "Food101"),
    "MiniAnimals": MiniRow(
        "a photo of a {}, a type of animal.", 30, (600, 150, 300),
        "animal emoji in grey scale, solarised (unseen)", "EmojiAnimals", "OxfordPets"),
    "MiniEmojiNetV2": MiniRow(
        "a photo of a {}.", 100, (0, 0, 500),
        "posterised EmojiNet classes, smaller and off-centre on darker backgrounds",
        "EmojiNetV2", "ImageNetV2"),
    "MiniEmojiNetSketch": MiniRow(
        "a photo of a {}.", 100, (0, 0, 500),
        "EmojiNet classes as Symbola's black outlines (never seen as outlines in pretraining)",
        "EmojiNetSketch", "ImageNetSketch"),
    "MiniEmojiNetA": MiniRow(
        "a photo of a {}.", 100, (0, 0, 500),
        "posterised EmojiNet classes, off-centre close-ups with pixel noise",
        "EmojiNetA", "ImageNetA"),
    "MiniEmojiNetR": MiniRow(
        "a photo of a {}.", 100, (0, 0, 500),
        "posterised EmojiNet classes as 8x8 pixel-art renditions", "EmojiNetR", "ImageNetR"),
}

PLAYS = {name: row.plays for name, row in MINI_TABLE.items() if row.plays}
MINI_BASE_TO_NEW = tuple(n for n, row in MINI_TABLE.items() if not row.test_only)
MINI_DOMAIN_SHIFT = tuple(n for n, row in MINI_TABLE.items() if row.test_only)

MINI_DATASETS: dict[str, DatasetSpec] = {
    name: DatasetSpec(
        name=name, folder=name, template=row.template, n_classes=row.n_classes, world="mini",
        split_file=f"split_zhou_{name}.json", image_dir="images", counts=row.counts,
        default_root=MINI_ROOT,
    )
    for name, row in MINI_TABLE.items()
}
