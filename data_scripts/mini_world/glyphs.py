"""Letters and digits rendered from the system's font files (Debian fonts-* packages).

Each usable font file gives one 32x32 ink mask per character: fixed baseline and cap height, so
lowercase letters stay smaller than capitals (``c`` vs ``C``). Fonts that lack a character, map
lowercase to capitals, or draw symbols in place of Latin letters are left out.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .paths import FONT_DIRS

CHARS = string.ascii_lowercase + string.ascii_uppercase + string.digits
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CANVAS = 64  # rendered at 2x, reduced to 32
BASELINE = 49
CAP_HEIGHT = 34

# Families whose letters are not Latin letters, or are capitals only.
BAD_NAME_WORDS = (
    "symbol", "dingbat", "ding", "emoji", "icon", "awesome", "math", "braille", "musical",
    "ornament", "cursor", "caps", " sc", "titling", "unifont", "d050000l", "z003", "marks",
    "stix two text", "keyboard", "webdings", "wingdings", "opensymbol", "fallback", "blankenburg", "gotico",
)
HANDWRITTEN_WORDS = (
    "script", "hand", "dancing", "kaushan", "lobster", "kristi", "leckerli", "isabella", "comic",
    "ecolier", "rufscript", "purisa", "humor", "chancery", "brush", "marker", "staypuft", "breip",
)


def class_name(ch: str) -> str:
    """Human class name: 'lowercase g', 'uppercase g', 'digit seven'."""
    if ch.isdigit():
        return f"digit {DIGIT_WORDS[int(ch)]}"
    return f"{'lowercase' if ch.islower() else 'uppercase'} {ch.lower()}"


CLASSNAMES = [class_name(c) for c in CHARS]


@dataclass(frozen=True)
class FontInfo:
    path: str
    family: str
    style: str
    bold: bool
    italic: bool
    monospace: bool
    handwritten: bool


def font_files() -> list[str]:
    files = []
    for d in FONT_DIRS:
        for ext in ("*.ttf", "*.otf", "*.TTF", "*.OTF"):
            files.extend(str(p) for p in Path(d).rglob(ext))
    return sorted(set(files))


def _size_for(path: str) -> int | None:
    """Font size giving a cap height ('H') of CAP_HEIGHT pixels on the 2x canvas."""
    try:
        font = ImageFont.truetype(path, 100)
        box = font.getbbox("H", anchor="ls")
    except OSError:
        return None
    cap = -box[1]
    if cap < 20 or cap > 120:
        return None
    return int(round(100 * CAP_HEIGHT / cap))


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render(path: str, ch: str, size: int) -> np.ndarray:
    """32x32 uint8 ink mask (255 = ink) of ``ch``: centred horizontally, fixed baseline."""
    font = _font(path, size)
    img = Image.new("L", (CANVAS, CANVAS), 0)
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    x = (CANVAS - (right - left)) / 2 - left
    ImageDraw.Draw(img).text((x, BASELINE), ch, fill=255, font=font, anchor="ls")
    return np.asarray(img.reduce(2), dtype=np.uint8)


def inspect_font(path: str) -> tuple[FontInfo, np.ndarray] | None:
    """FontInfo and the (62, 32, 32) masks of a usable font, or None."""
    size = _size_for(path)
    if size is None or size > 160:
        return None
    font = _font(path, size)
    family, style = font.getname()
    family, style = family or "", style or ""
    low = f" {family} {style}".lower()
    if any(w in low for w in BAD_NAME_WORDS):
        return None
    try:
        masks = np.stack([render(path, c, size) for c in CHARS])
        notdef = render(path, "\U0010fffd", size)
    except (OSError, ValueError):
        return None
    ink = masks.reshape(len(CHARS), -1).astype(np.int64).sum(1)
    if (ink < 255 * 6).any():
        return None
    flat = masks.reshape(len(CHARS), -1)
    if notdef.sum() > 0 and (np.abs(flat.astype(int) - notdef.reshape(1, -1)).sum(1) == 0).any():
        return None
    if len({m.tobytes() for m in flat}) < len(CHARS) - 2:  # duplicates: caps-only or missing glyphs
        return None
    lower, upper = masks[:26].astype(int), masks[26:52].astype(int)
    same = (np.abs(lower - upper).reshape(26, -1).sum(1) < 255 * 3).sum()
    if same > 8:  # lowercase drawn as capitals
        return None
    adv = [font.getlength(c) for c in "iW.m"]
    sl = style.lower()
    info = FontInfo(
        path=path, family=family, style=style,
        bold=any(w in sl for w in ("bold", "black", "heavy", "semibold", "demi")),
        italic=any(w in sl for w in ("italic", "oblique", "slanted")),
        monospace=max(adv) - min(adv) < 0.5,
        handwritten=any(w in low for w in HANDWRITTEN_WORDS),
    )
    return info, masks


def usable_fonts() -> list[tuple[FontInfo, np.ndarray]]:
    """All usable font files, one per (family, style), sorted by family then style."""
    seen: dict[tuple[str, str], tuple[FontInfo, np.ndarray]] = {}
    for path in font_files():
        got = inspect_font(path)
        if got is None:
            continue
        key = (got[0].family, got[0].style)
        if key not in seen or path < seen[key][0].path:
            seen[key] = got
    return [seen[k] for k in sorted(seen)]


def split_families(families: list[str], frac_heldout: float, seed: int) -> tuple[set, set]:
    """(pretraining families, held-out families): a stable draw by hashed family name."""
    def score(f: str) -> str:
        return hashlib.sha256(f"{seed}:{f}".encode()).hexdigest()
    ranked = sorted(set(families), key=score)
    n_out = max(1, int(round(frac_heldout * len(ranked))))
    return set(ranked[n_out:]), set(ranked[:n_out])
