"""How each mini dataset's images are made from its sources (one seeded Generator per image)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import styles, world
from .sources import pad32

EMOJI_SETS = {"EmojiNet": "EmojiNet", "EmojiNetV2": "EmojiNet", "EmojiNetSketch": "EmojiNet",
              "EmojiNetA": "EmojiNet", "EmojiNetR": "EmojiNet", "EmojiFood": "EmojiFood",
              "EmojiAnimals": "EmojiAnimals"}


def sources_for(name: str, label: int, n: int) -> list:
    """The ``n`` source references of class ``label`` (train, then val, then test)."""
    if name in EMOJI_SETS:
        return [world.emoji_selection()[EMOJI_SETS[name]][label]] * n
    if name == "Glyphs":
        _, _, _, held = world.font_inventory()
        if not held:
            raise FileNotFoundError("no held-out font families found: install the fonts-* packages "
                                    "listed in docs/mini_world.md")
        ranked = world.stable_rank(held, f"glyph-fonts-{label}")
        return [ranked[k % len(ranked)] for k in range(n)]
    if name == "Fashion":
        _, pool, _, test = world.fashion_partition()
        return [("train", i) for i in pool[label]] + [("t10k", i) for i in test[label]]
    if name == "Digits":
        _, pool, _, test = world.mnist_partition()
        return list(pool[label]) + list(test[label])
    raise KeyError(name)


def emoji_photo(idx: int, rng, scale=(0.8, 1.1), shift=2.0, bg=None) -> Image.Image:
    tile = world.emoji_inventory()[idx][2]
    rgba = styles.affine_tile(tile, rng, scale=scale, shift=shift, rotate=10)
    return styles.over(rgba, bg if bg is not None else styles.pastel(rng))


def make(name: str, label: int, split: str, j: int, src) -> Image.Image:
    """Image ``j`` of ``split`` of class ``label``: the source rendered, then the dataset's shift.

    The last change of every dataset is one the mini CLIP never saw in pretraining (see
    styles.py); adding it draws nothing from ``rng``, so the other choices are unchanged.
    """
    rng = world.item_rng(name, label, split, j)
    if name in ("EmojiNet", "EmojiFood", "EmojiAnimals", "EmojiNetA", "EmojiNetR"):
        img = emoji_photo(src, rng)
        if name == "EmojiFood":
            return styles.rotate_channels(styles.faded(img, keep=0.4))
        if name == "EmojiAnimals":
            return styles.solarize(styles.grayscale(img), 128)
        if name == "EmojiNetA":
            img = styles.noise(styles.close_up(img, rng, zoom=(1.5, 2.0)), rng, sigma=20)
        elif name == "EmojiNetR":
            img = styles.pixelate(img, 8)
        return styles.posterize(img, 1)
    if name == "EmojiNetV2":
        bg = tuple(int(v) for v in rng.integers(60, 180, size=3))
        return styles.posterize(emoji_photo(src, rng, scale=(0.55, 0.75), shift=5.0, bg=bg), 1)
    if name == "EmojiNetSketch":
        tile = world.emoji_inventory()[src][3]
        rgba = styles.affine_tile(tile, rng, scale=(0.8, 1.1), shift=2.0, rotate=10)
        return styles.posterize(styles.over(rgba, (255, 255, 255)), 1)
    if name == "Glyphs":
        _, masks, _, _ = world.font_inventory()
        mask = styles.affine_tile(masks[src, label], rng, scale=(0.9, 1.1), shift=1.5, rotate=6)
        img = styles.colorize(mask_array(mask), (0, 0, 0), (255, 255, 255))
        return styles.tilt(styles.blur(img, 1.0), 45, (255, 255, 255))
    if name == "Fashion":
        (x, _, xt, _), _, _, _ = world.fashion_partition()
        arr = (x if src[0] == "train" else xt)[src[1]]
        img = Image.fromarray(pad32(arr[None])[0], "L")
        return styles.pixelate(styles.noise(img, rng, sigma=45).convert("RGB"), 5)
    if name == "Digits":
        (x, _), _, _, _ = world.mnist_partition()
        ink, paper = styles.contrasting_pair(rng)
        return styles.tilt(styles.colorize(pad32(x[src][None])[0], ink, paper), 45, paper)
    raise KeyError(name)


def mask_array(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.uint8)
