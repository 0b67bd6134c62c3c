"""What the mini world is made of: which source items go to pretraining, which to which dataset.

Every choice is a seeded, order-independent draw, so the plan (and every image, rendered from
its own seeded Generator) is the same on every rebuild with the same sources installed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from cocoop_lib.datasets.mini import MINI_TABLE

from . import emoji, glyphs, sources

SEED = 2022
POOL_TRAIN, POOL_VAL = 20, 5  # per class: >= 16 shots + 4 val for the few-shot draw


def stable_rank(keys, salt: str) -> list:
    """``keys`` sorted by a salted hash: a seeded shuffle that does not depend on input order."""
    return sorted(keys, key=lambda k: hashlib.sha256(f"{SEED}:{salt}:{k}".encode()).hexdigest())


def item_rng(*parts) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, (SEED,) + parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ----------------------------------------------------------------------------- inventories


@lru_cache(maxsize=1)
def font_inventory():
    """(fonts, masks (F, 62, 32, 32), pretraining font indices, held-out font indices)."""
    found = glyphs.usable_fonts()
    infos = [f for f, _ in found]
    masks = np.stack([m for _, m in found]) if found else np.zeros((0, 62, 32, 32), np.uint8)
    groups = sorted({family_group(f.family) for f in infos})
    held = set(stable_rank(groups, "font-groups")[: max(1, round(0.3 * len(groups)))])
    out = [i for i, f in enumerate(infos) if family_group(f.family) in held]
    pre = [i for i, f in enumerate(infos) if family_group(f.family) not in held]
    return infos, masks, pre, out


def family_group(family: str) -> str:
    """Families that share a design ('Tiresias Infofont', 'Tiresias PCfont') share a group."""
    word = "".join(c for c in family.split(" ")[0].lower() if c.isalpha())
    return word[:4] or family.lower()


@lru_cache(maxsize=1)
def emoji_inventory():
    """[(code point, name, colour tile, outline tile, category)] in code-point order."""
    return [(cp, n, c, o, emoji.category(cp)) for cp, n, c, o in emoji.both_styles()]


@lru_cache(maxsize=1)
def emoji_selection() -> dict[str, list[int]]:
    """Indices into emoji_inventory() for EmojiNet (100), EmojiFood (30), EmojiAnimals (30)."""
    inv = emoji_inventory()
    idx = list(range(len(inv)))
    return {
        "EmojiNet": stable_rank(idx, "emojinet")[:100],
        "EmojiFood": stable_rank([i for i in idx if inv[i][4] == "food"], "food")[:30],
        "EmojiAnimals": stable_rank([i for i in idx if inv[i][4] == "animal"], "animals")[:30],
    }


@lru_cache(maxsize=1)
def fashion_partition():
    """(train images, labels, downstream pool idx per class, pretraining idx, test idx per class)."""
    x, y = sources.fashion_mnist("train")
    xt, yt = sources.fashion_mnist("t10k")
    pool = {c: stable_rank(np.flatnonzero(y == c).tolist(), f"fashion-pool-{c}")[: POOL_TRAIN + POOL_VAL]
            for c in range(10)}
    used = {i for v in pool.values() for i in v}
    pre = [i for i in range(len(y)) if i not in used]
    test = {c: stable_rank(np.flatnonzero(yt == c).tolist(), f"fashion-test-{c}")[:100] for c in range(10)}
    return (x, y, xt, yt), pool, pre, test


@lru_cache(maxsize=1)
def mnist_partition():
    """(images, labels, downstream pool idx per class, pretraining idx, test idx per class)."""
    x, y = sources.mnist5k()
    pool, test, used = {}, {}, set()
    for c in range(10):
        ranked = stable_rank(np.flatnonzero(y == c).tolist(), f"mnist-{c}")
        pool[c] = ranked[: POOL_TRAIN + POOL_VAL]
        test[c] = ranked[POOL_TRAIN + POOL_VAL: POOL_TRAIN + POOL_VAL + 100]
        used.update(pool[c] + test[c])
    pre = [i for i in range(len(y)) if i not in used]
    return (x, y), pool, pre, test


# ----------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class MiniDataset:
    """A mini benchmark dataset: its row of ``cocoop_lib.datasets.mini.MINI_TABLE`` (template,
    role, shift, split sizes, seed key) with its classes from the sources."""

    name: str
    template: str
    role: str            # "base-to-new" (train/val/test) or "domain shift of MiniEmojiNet" (test only)
    shift: str           # how its images differ from the pretraining images
    test_per_class: int
    test_only: bool = False
    classnames: list[str] = field(default_factory=list)
    key: str = ""        # recipe and seed key (the name without "Mini")


def datasets() -> dict[str, MiniDataset]:
    """Every mini dataset: its row of ``cocoop_lib.datasets.mini.MINI_TABLE`` with its classes."""
    inv = emoji_inventory()
    sel = emoji_selection()
    names = {k: [inv[i][1] for i in v] for k, v in sel.items()}
    classnames = {"MiniGlyphs": list(glyphs.CLASSNAMES), "MiniFashion": list(sources.FASHION_CLASSES),
                  "MiniDigits": list(sources.DIGIT_CLASSES), "MiniFood": names["EmojiFood"],
                  "MiniAnimals": names["EmojiAnimals"]}
    return {name: MiniDataset(name, row.template, row.role, row.shift, row.test_per_class,
                              row.test_only, classnames.get(name, names["EmojiNet"]), row.key)
            for name, row in MINI_TABLE.items()}
