"""Emoji of everyday things: Noto Color Emoji (colour) and Symbola (black outline), Unicode names.

Only single code points that both fonts draw and whose Unicode name names a thing (animal, food,
object, plant, vehicle, ...) are kept; faces, hands, people, signs and geometric symbols are not.
Each glyph is cropped to its ink and scaled to fit 28 px inside a transparent 32x32 RGBA tile.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .paths import NOTO_EMOJI, SYMBOLA

RANGES = [(0x1F300, 0x1F5FF), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
          (0x2600, 0x26FF), (0x2700, 0x27BF)]
# Name words that mark a non-object (a person, face, gesture, sign or abstract symbol).
SKIP_WORDS = {
    "FACE", "HAND", "HANDS", "FINGER", "SIGN", "SYMBOL", "ARROW", "SQUARED", "CIRCLED", "NEGATIVE",
    "KEYCAP", "REGIONAL", "MARK", "BUTTON", "GESTURE", "PERSON", "MAN", "WOMAN", "BOY", "GIRL",
    "BABY", "FAMILY", "COUPLE", "KISS", "LARGE", "MEDIUM", "SMALL", "DIAMOND", "TRIANGLE",
    "SQUARE", "CIRCLE", "ZODIAC", "EMOJI", "MODIFIER", "CLOCK", "TAG", "LEFT", "RIGHT", "UP",
    "DOWN", "HEAVY", "LIGHT", "WHITE", "BLACK", "OCLOCK", "THIRTY", "ORIENTED", "DOUBLE",
    "TRIPLE", "VARIATION", "SELECTOR", "SKIN", "TYPE", "OLDER", "ADULT", "CHILD", "PEOPLE",
    "DANCER", "GUARDSMAN", "PRINCESS", "SANTA", "MRS", "CLAUS", "RUNNER", "SURFER", "SWIMMER",
    "LIFTER", "GOLFER", "JUGGLING", "CARTWHEEL", "WRESTLERS", "MERPERSON", "FAIRY", "VAMPIRE",
    "ZOMBIE", "GENIE", "ELF", "MAGE", "SUPERHERO", "SUPERVILLAIN", "NINJA", "ROTATED", "OUTLINED",
    "SHAPED", "DIGIT", "LETTER", "LATIN", "CROSS", "CHECK", "EXCLAMATION", "QUESTION", "CHART",
    "INFORMATION", "JAPANESE", "IDEOGRAPH", "PLUS", "MINUS", "DIVISION", "MULTIPLICATION",
    "ROCKET", "DETECTIVE", "BUST", "BUSTS", "SILHOUETTE", "SPEAKING", "HEAD", "EAR", "NOSE",
    "EYE", "EYES", "MOUTH", "TONGUE", "LIPS", "FOOTPRINTS", "LEG", "FOOT", "BONE", "BRAIN",
    "TOOTH", "HEART", "HEARTS", "BEATING", "BROKEN", "GROWING", "SPARKLING", "REVOLVING",
    "WHEELCHAIR", "PROHIBITED", "NO", "ENTRY", "WARNING", "RECYCLING", "BIOHAZARD", "RADIOACTIVE",
    "ANGER", "COLLISION", "DIZZY", "SWEAT", "DASH", "SPEECH", "BALLOON", "THOUGHT", "ZZZ",
    "FLEXED", "BICEPS", "MECHANICAL", "ANATOMICAL", "LUNGS", "RAISED", "POINTING", "VICTORY",
    "SHRUG", "BREAST", "BRIDE", "ARIES", "TAURUS", "GEMINI", "CANCER", "LEO", "VIRGO", "LIBRA",
    "SCORPIUS", "SAGITTARIUS", "CAPRICORN", "AQUARIUS", "PISCES", "OPHIUCHUS", "ASTERISK",
}


def candidates() -> list[int]:
    out = []
    for lo, hi in RANGES:
        for cp in range(lo, hi + 1):
            name = unicodedata.name(chr(cp), "")
            if not name or set(name.replace("-", " ").split()) & SKIP_WORDS:
                continue
            if 0x1F3FB <= cp <= 0x1F3FF:
                continue
            out.append(cp)
    return out


def class_name(cp: int) -> str:
    """The Unicode name, lower case: 'dog face' -> kept as is, 'HAMBURGER' -> 'hamburger'."""
    return unicodedata.name(chr(cp)).lower().replace("-", " ")


@lru_cache(maxsize=2)
def _fonts():
    return ImageFont.truetype(str(NOTO_EMOJI), 109), ImageFont.truetype(str(SYMBOLA), 100)


def _fit(rgba: Image.Image, box: int = 28, tile: int = 32) -> np.ndarray:
    """Crop to ink, scale the long side to ``box`` px, centre in a transparent tile."""
    bbox = rgba.getchannel("A").getbbox()
    if bbox is None:
        return np.zeros((tile, tile, 4), np.uint8)
    crop = rgba.crop(bbox)
    w, h = crop.size
    s = box / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    # premultiplied resize avoids dark fringes
    crop = crop.convert("RGBa").resize((nw, nh), Image.LANCZOS).convert("RGBA")
    out = Image.new("RGBA", (tile, tile), (0, 0, 0, 0))
    out.paste(crop, ((tile - nw) // 2, (tile - nh) // 2))
    return np.asarray(out, dtype=np.uint8)


def render_color(cp: int) -> np.ndarray | None:
    noto, _ = _fonts()
    im = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((10, 10), chr(cp), font=noto, embedded_color=True)
    if np.asarray(im)[..., 3].sum() < 255 * 100:
        return None
    return _fit(im)


@lru_cache(maxsize=1)
def _symbola_notdef() -> bytes:
    return _symbola_raw(0x10FFFD).tobytes()


def _symbola_raw(cp: int) -> Image.Image:
    _, sym = _fonts()
    im = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(im).text((10, 10), chr(cp), font=sym, fill=255)
    return im


def render_outline(cp: int) -> np.ndarray | None:
    """Symbola's black glyph as RGBA (black ink, alpha = coverage)."""
    raw = _symbola_raw(cp)
    if raw.tobytes() == _symbola_notdef() or np.asarray(raw).sum() < 255 * 50:
        return None
    rgba = Image.merge("RGBA", [Image.new("L", raw.size, 0)] * 3 + [raw])
    return _fit(rgba)


def both_styles() -> list[tuple[int, str, np.ndarray, np.ndarray]]:
    """(code point, class name, colour tile, outline tile) for every emoji both fonts draw."""
    out, names = [], set()
    for cp in candidates():
        name = class_name(cp)
        if name in names:
            continue
        col = render_color(cp)
        if col is None:
            continue
        line = render_outline(cp)
        if line is None:
            continue
        names.add(name)
        out.append((cp, name, col, line))
    return out


ANIMAL_RANGES = [(0x1F400, 0x1F43D), (0x1F980, 0x1F9AE), (0x1F577, 0x1F577), (0x1F54A, 0x1F54A),
                 (0x1FABC, 0x1FABF)]
FOOD_RANGES = [(0x1F32D, 0x1F32F), (0x1F345, 0x1F37F), (0x1F950, 0x1F96F), (0x1F9C0, 0x1F9CB),
               (0x1FAD0, 0x1FADB), (0x1F330, 0x1F330), (0x1F95D, 0x1F95D)]


def category(cp: int) -> str:
    """'animal', 'food' or 'object' by code point block."""
    if any(lo <= cp <= hi for lo, hi in ANIMAL_RANGES):
        return "animal"
    if any(lo <= cp <= hi for lo, hi in FOOD_RANGES):
        return "food"
    return "object"
