"""The offline mini world's datasets, bundled in ``cocoop_lib/assets/mini_world/<Name>/``.

Each is 32x32 PNG images + ``split_zhou_<Name>.json`` in the real benchmark's split-file format,
built by ``python -m data_scripts.mini_world.build`` (docs/mini_world.md says from what). They
differ from the mini CLIP's pretraining data the way benchmarks differ from web data: unseen
items, changes named in the pretraining captions (blur, noise, colour, fading, grey scale,
outlines, pixel art) and one change never seen in pretraining (posterised colours, 45-degree
tilts, 5x5-cell pixels, false colour, solarisation), none of which their template names.
``PLAYS`` says which paper dataset each one stands for.
"""

from __future__ import annotations

from pathlib import Path

from .spec import DatasetSpec

MINI_ROOT = str(Path(__file__).resolve().parents[1] / "assets" / "mini_world")

# name: (template, n_classes, (train, val, test), what differs from pretraining)
_TABLE = {
    "MiniEmojiNet": ("a photo of a {}.", 100, (2000, 500, 1000),
                     "colour emoji of 100 things on light backgrounds, posterised to 8 colours "
                     "(plays ImageNet)"),
    "MiniGlyphs": ("a photo of a {}, a type of character.", 62, (1240, 310, 930),
                   "letters and digits in font families never seen in pretraining, blurred, "
                   "tilted 45 degrees"),
    "MiniFashion": ("a photo of a {}, a type of clothing.", 10, (200, 50, 1000),
                    "unseen Fashion-MNIST images with strong pixel noise, pixelated to 5x5 cells"),
    "MiniDigits": ("a photo of a {}.", 10, (200, 50, 1000),
                   "unseen MNIST digits, coloured ink on coloured paper, tilted 45 degrees"),
    "MiniFood": ("a photo of {}, a type of food.", 30, (600, 150, 300),
                 "food emoji, faded to low contrast, in false colour"),
    "MiniAnimals": ("a photo of a {}, a type of animal.", 30, (600, 150, 300),
                    "animal emoji in grey scale, solarised"),
    "MiniEmojiNetV2": ("a photo of a {}.", 100, (0, 0, 500),
                       "MiniEmojiNet classes, posterised, smaller, off-centre, darker backgrounds"),
    "MiniEmojiNetSketch": ("a photo of a {}.", 100, (0, 0, 500),
                           "MiniEmojiNet classes as black outline drawings (Symbola)"),
    "MiniEmojiNetA": ("a photo of a {}.", 100, (0, 0, 500),
                      "MiniEmojiNet classes, posterised, off-centre close-ups with pixel noise"),
    "MiniEmojiNetR": ("a photo of a {}.", 100, (0, 0, 500),
                      "MiniEmojiNet classes as posterised 8x8 pixel-art renditions"),
}

# The paper dataset whose part each mini dataset plays (None: a base-to-new dataset of its own).
PLAYS = {
    "MiniEmojiNet": "ImageNet", "MiniFood": "Food101", "MiniAnimals": "OxfordPets",
    "MiniEmojiNetV2": "ImageNetV2", "MiniEmojiNetSketch": "ImageNetSketch",
    "MiniEmojiNetA": "ImageNetA", "MiniEmojiNetR": "ImageNetR",
}
SHIFTS = {name: row[3] for name, row in _TABLE.items()}
MINI_BASE_TO_NEW = tuple(n for n, row in _TABLE.items() if row[2][0] > 0)
MINI_SOURCE = "MiniEmojiNet"
MINI_TARGETS = tuple(n for n in MINI_BASE_TO_NEW if n != MINI_SOURCE)
MINI_DOMAIN_SHIFT = tuple(n for n, row in _TABLE.items() if row[2][0] == 0)

MINI_DATASETS: dict[str, DatasetSpec] = {
    name: DatasetSpec(
        name=name, folder=name, template=template, n_classes=n, world="mini",
        split_file=f"split_zhou_{name}.json", image_dir="images", counts=counts,
        default_root=MINI_ROOT,
    )
    for name, (template, n, counts, _) in _TABLE.items()
}
