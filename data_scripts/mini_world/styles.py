"""Deterministic image making for the mini benchmark (Pillow + NumPy, one Generator per image).

Two kinds of change. The *seen* ones (blur, noise, fading, grey scale, pixel art, close-ups,
colours) are also applied on the fly by the pretraining script (pretrain_data.py), where the
captions name them. The *unseen* ones (``posterize``, ``rotate_channels``, ``solarize``,
``tilt``, pixelation coarser than pretraining's 6-10 cells) never occur in pretraining: they make
a downstream dataset differ from the mini CLIP's "web data" the way a benchmark's domain differs
from CLIP's, so a hand-written prompt leaves room that a learned one can take. Each downstream
dataset applies its changes to every image and its template names none of them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

S = 32


def pastel(rng: np.random.Generator, lo: int = 175) -> tuple[int, int, int]:
    """A light background colour (white half of the time)."""
    if rng.random() < 0.5:
        return (255, 255, 255)
    return tuple(int(v) for v in rng.integers(lo, 256, size=3))


def contrasting_pair(rng: np.random.Generator) -> tuple[tuple, tuple]:
    """(ink, paper) colours whose luminances differ by at least 90."""
    while True:
        a, b = rng.integers(0, 256, size=(2, 3))
        la, lb = (a * [0.299, 0.587, 0.114]).sum(), (b * [0.299, 0.587, 0.114]).sum()
        if abs(la - lb) >= 90:
            return tuple(int(v) for v in a), tuple(int(v) for v in b)


def colorize(mask: np.ndarray, ink, paper) -> Image.Image:
    """Grey mask (255 = object) -> RGB image, object in ``ink`` on ``paper``."""
    m = mask.astype(np.float32)[..., None] / 255.0
    rgb = np.asarray(paper, np.float32) * (1 - m) + np.asarray(ink, np.float32) * m
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def affine_tile(tile: np.ndarray, rng: np.random.Generator, scale=(0.85, 1.1), shift=2.0,
                rotate=10.0) -> Image.Image:
    """Randomly scale / rotate / shift an RGBA or L tile about its centre."""
    mode = "RGBA" if tile.ndim == 3 else "L"
    im = Image.fromarray(tile, mode)
    s = float(rng.uniform(*scale))
    ang = float(rng.uniform(-rotate, rotate))
    dx, dy = (float(v) for v in rng.uniform(-shift, shift, size=2))
    if mode == "RGBA":
        im = im.convert("RGBa")
    out = im.rotate(ang, resample=Image.BICUBIC, center=(S / 2, S / 2))
    big = out.resize((round(S * s),) * 2, Image.BICUBIC)
    canvas = Image.new(out.mode, (S, S), 0)
    off = round((S - big.size[0]) / 2 + dx), round((S - big.size[1]) / 2 + dy)
    canvas.paste(big, off)
    return canvas.convert("RGBA") if mode == "RGBA" else canvas


def over(rgba: Image.Image, bg) -> Image.Image:
    base = Image.new("RGBA", rgba.size, tuple(bg) + (255,))
    return Image.alpha_composite(base, rgba).convert("RGB")


def blur(img: Image.Image, radius: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def noise(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    a = np.asarray(img, np.float32) + rng.normal(0, sigma, size=np.asarray(img).shape)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), img.mode)


def faded(img: Image.Image, keep: float, toward: int = 150) -> Image.Image:
    a = np.asarray(img, np.float32) * keep + toward * (1 - keep)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), img.mode)


def grayscale(img: Image.Image) -> Image.Image:
    return img.convert("L").convert("RGB")


def pixelate(img: Image.Image, cells: int = 8) -> Image.Image:
    return img.resize((cells, cells), Image.BOX).resize((S, S), Image.NEAREST)


def close_up(img: Image.Image, rng: np.random.Generator, zoom=(1.5, 2.0)) -> Image.Image:
    """Crop an off-centre part and blow it up to 32x32."""
    z = float(rng.uniform(*zoom))
    side = S / z
    x0, y0 = (float(v) for v in rng.uniform(0, S - side, size=2))
    return img.resize((S, S), Image.BICUBIC, box=(x0, y0, x0 + side, y0 + side))


# ----------------------------------------------------------------------- unseen in pretraining


def posterize(img: Image.Image, bits: int = 1) -> Image.Image:
    """Keep the top ``bits`` bits of each channel (1 bit: 8 flat colours, a poster print)."""
    return ImageOps.posterize(img, bits)


def rotate_channels(img: Image.Image) -> Image.Image:
    """False colour: (R, G, B) -> (B, R, G)."""
    r, g, b = img.split()
    return Image.merge("RGB", (b, r, g))


def solarize(img: Image.Image, threshold: int = 128) -> Image.Image:
    """Invert every channel value at or above ``threshold`` (a solarised print)."""
    return ImageOps.solarize(img, threshold)


def tilt(img: Image.Image, degrees: float, fill) -> Image.Image:
    """Rotate about the centre by ``degrees`` (counter-clockwise), corners filled with ``fill``."""
    return img.rotate(degrees, resample=Image.BICUBIC, fillcolor=tuple(fill))
