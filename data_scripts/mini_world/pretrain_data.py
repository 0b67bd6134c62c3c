"""The mini CLIP's "web data": image-caption pairs made on the fly from the pretraining partitions.

Sources (disjoint from every downstream split): glyphs of the pretraining font families,
Fashion-MNIST train images not in the downstream pool, MNIST 5k images not in any downstream
split, Noto colour emoji (all concepts) and Symbola outlines of the emoji *not* in EmojiNet.
Each image gets random geometry, colour and, with some probability, one of the changes the
downstream datasets use (blur, noise, pixelation, fading, grey scale, close-up); the changes each
downstream dataset adds on top (posterising, tilts, 5x5 pixels, false colour, solarising; see
styles.py) never occur here. Captions name
the concept and a random subset of the attributes that are true of the image; every caption
true of an image counts as a positive in the loss.

Batches can be drawn as *groups*: ``batch(n, ..., group=k)`` draws n/k (source, concept) pairs and
k items of that concept each (other fonts / Fashion-MNIST / MNIST images of the same class; the
same emoji drawing), each rendered with its own geometry and changes. Within a group only the
attribute words tell the captions apart; with k = 1 the class name alone nearly always suffices.
(Measured: grouping did not make the text encoder listen more to CoOp's context slots; see
docs/mini_world.md.)

``PretrainWorld.save`` / ``PretrainWorld.load`` keep the built pools in one compressed file, so
a machine without the Debian fonts and datasets (a rented GPU) can pretrain from it.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import world
from .sources import DIGIT_CLASSES, FASHION_CLASSES, pad32

ATTRS = ["bold", "italic", "monospace", "handwritten", "blurry", "noisy", "pixelated",
         "black and white", "colorful", "faded", "outline", "close-up"]
BIT = {a: 1 << i for i, a in enumerate(ATTRS)}
PHRASES = {
    "bold": ["bold"], "italic": ["italic", "slanted"], "monospace": ["monospace", "typewriter"],
    "handwritten": ["handwritten"], "blurry": ["blurry", "blurred", "out of focus"],
    "noisy": ["noisy", "grainy"], "pixelated": ["pixelated", "low resolution", "pixel art"],
    "black and white": ["black and white", "monochrome"], "colorful": ["colorful", "colored"],
    "faded": ["faded", "low contrast"], "outline": ["outline", "line drawing", "sketch"],
    "close-up": ["close-up", "cropped"],
}
TEMPLATES_NO_ATTR = [
    "a photo of a {c}.", "a {c}, a type of {k}.", "a photo of a {c}, a type of {k}.",
    "an image of the {c}.", "{c}.", "a picture of a {c}.", "a photo of the {c}.",
]
TEMPLATES_ATTR = [
    "a {a} photo of a {c}.", "a photo of a {a} {c}.", "a {a} image of a {c}, a type of {k}.",
    "a {a} {c}.", "a {a} {k}: {c}.", "a picture of a {c} in {a} style.", "a {a} photo of the {c}.",
]
# probability that a source image gets each change (and so that attribute)
P_STYLE = {"blurry": 0.15, "noisy": 0.15, "pixelated": 0.1, "faded": 0.12, "grey": 0.12,
           "close-up": 0.1, "colorful": 0.3}
SOURCE_WEIGHTS = {"glyph": 0.3, "emoji": 0.25, "outline": 0.1, "fashion": 0.2, "mnist": 0.15}


@dataclass
class Pool:
    """Source arrays of one kind and per-item concept ids / attribute bits / category words."""
    images: torch.Tensor          # (N, 1, 32, 32) masks or (N, 4, 32, 32) RGBA, float 0..1
    concept: torch.Tensor         # (N,) long
    attrs: torch.Tensor           # (N,) long bit mask of fixed attributes
    category: list[str]           # per concept id: category word(s)

    def __post_init__(self):
        # items sorted by concept: concept c owns order[start[c] : start[c] + count[c]]
        self.order = torch.argsort(self.concept, stable=True)
        n_con = int(self.concept.max()) + 1 if len(self.concept) else 0
        self.count = torch.bincount(self.concept, minlength=n_con)
        self.start = torch.cumsum(self.count, 0) - self.count

    def same_concept(self, idx: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
        """(m,) item indices -> (m*k,) indices: each item and k-1 random items of its concept."""
        c = self.concept[idx]                                           # (m,)
        r = torch.rand(len(idx), k - 1, generator=gen)                  # (m, k-1)
        pick = self.start[c][:, None] + (r * self.count[c][:, None]).long()
        return torch.cat([idx[:, None], self.order[pick]], 1).reshape(-1)  # (m*k,) grouped


class PretrainWorld:
    """Builds the pools once; ``batch(n, gen)`` makes a fresh random batch."""

    def __init__(self, build: bool = True, mention_p: float = 0.5):
        self.concepts: list[str] = []
        self.cid: dict[str, int] = {}
        self.categories: dict[int, list[str]] = {}
        self.pools: dict[str, Pool] = {}
        self.mention_p = mention_p   # probability that a caption names each true attribute
        if build:
            self._build()

    def save(self, path: Path, max_items: int | None = None, seed: int = 0) -> Path:
        """Write the pools (uint8) and concept tables to one compressed .npz (atomically).

        ``max_items`` keeps a seeded random subset of each pool larger than that.
        """
        path = Path(path)
        arrays = {}
        g = torch.Generator().manual_seed(seed)
        for name, pool in self.pools.items():
            keep = torch.arange(len(pool.concept))
            if max_items is not None and len(keep) > max_items:
                keep = torch.randperm(len(keep), generator=g)[:max_items].sort().values
            arrays[f"{name}.images"] = pool.images[keep].numpy()
            arrays[f"{name}.concept"] = pool.concept[keep].numpy()
            arrays[f"{name}.attrs"] = pool.attrs[keep].numpy()
        meta = {"concepts": self.concepts,
                "categories": {str(k): v for k, v in self.categories.items()},
                "pools": list(self.pools)}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path, mention_p: float = 0.5) -> "PretrainWorld":
        """A world from ``save``'s file (no fonts or Debian datasets needed)."""
        w = cls(build=False, mention_p=mention_p)
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            w.concepts = meta["concepts"]
            w.cid = {c: i for i, c in enumerate(w.concepts)}
            w.categories = {int(k): v for k, v in meta["categories"].items()}
            for name in meta["pools"]:
                w.pools[name] = cls._pool(z[f"{name}.images"], z[f"{name}.concept"].tolist(),
                                          z[f"{name}.attrs"].tolist())
        return w

    def _concept(self, name: str, category: str) -> int:
        if name not in self.cid:
            self.cid[name] = len(self.concepts)
            self.concepts.append(name)
        cats = self.categories.setdefault(self.cid[name], [])
        if category not in cats:
            cats.append(category)
        return self.cid[name]

    def _build(self):
        from .glyphs import CLASSNAMES
        infos, masks, pre, _ = world.font_inventory()
        gl_c = [self._concept(n, "character") for n in CLASSNAMES]
        imgs, cons, attrs = [], [], []
        for f in pre:
            info = infos[f]
            bits = (BIT["bold"] * info.bold | BIT["italic"] * info.italic |
                    BIT["monospace"] * info.monospace | BIT["handwritten"] * info.handwritten)
            imgs.append(masks[f])
            cons += gl_c
            attrs += [bits] * len(gl_c)
        self.pools["glyph"] = self._pool(np.concatenate(imgs)[:, None], cons, attrs)

        (x, y, _, _), _, fpre, _ = world.fashion_partition()
        f_c = [self._concept(n, "clothing") for n in FASHION_CLASSES]
        self.pools["fashion"] = self._pool(pad32(x[fpre])[:, None], [f_c[i] for i in y[fpre]],
                                           [0] * len(fpre))
        (xm, ym), _, mpre, _ = world.mnist_partition()
        d_c = [self._concept(n, "digit") for n in DIGIT_CLASSES]
        self.pools["mnist"] = self._pool(pad32(xm[mpre])[:, None], [d_c[i] for i in ym[mpre]],
                                         [BIT["handwritten"]] * len(mpre))
        inv = world.emoji_inventory()
        e_c = [self._concept(n, cat) for _, n, _, _, cat in inv]
        for i in range(len(inv)):
            self.categories[e_c[i]].append("emoji")
        col = np.stack([t for _, _, t, _, _ in inv]).transpose(0, 3, 1, 2)
        self.pools["emoji"] = self._pool(col, e_c, [0] * len(inv))
        held = set(world.emoji_selection()["EmojiNet"])
        keep = [i for i in range(len(inv)) if i not in held]
        out = np.stack([inv[i][3] for i in keep]).transpose(0, 3, 1, 2)
        self.pools["outline"] = self._pool(out, [e_c[i] for i in keep], [BIT["outline"]] * len(keep))

    @staticmethod
    def _pool(arr, concepts, attrs) -> Pool:
        return Pool(torch.from_numpy(np.ascontiguousarray(arr)), torch.tensor(concepts),
                    torch.tensor(attrs, dtype=torch.long), [])

    # ------------------------------------------------------------------ batches

    def batch(self, n: int, gen: torch.Generator, rnd: random.Random, group: int = 1):
        """(images (n,3,32,32) in 0..1, captions, concept ids, image attr bits, caption attr bits).

        ``group`` > 1: n/group concepts with ``group`` items each (n must be a multiple).
        """
        if n % group:
            raise ValueError(f"batch size {n} is not a multiple of the group size {group}")
        names = list(SOURCE_WEIGHTS)
        w = torch.tensor([SOURCE_WEIGHTS[k] for k in names])
        which = torch.multinomial(w, n // group, replacement=True, generator=gen)
        ims, cons, bits = [], [], []
        for s, name in enumerate(names):
            k = int((which == s).sum())
            if k == 0:
                continue
            pool = self.pools[name]
            idx = torch.randint(len(pool.concept), (k,), generator=gen)
            if group > 1:
                idx = pool.same_concept(idx, group, gen)
            img, b = self._render(name, pool.images[idx].float() / 255.0, gen)
            ims.append(img)
            cons.append(pool.concept[idx])
            bits.append(pool.attrs[idx] | b)
        img, con, bit = torch.cat(ims), torch.cat(cons), torch.cat(bits)
        img, bit = self._styles(img, bit, gen)
        captions, mention = [], []
        for c, b in zip(con.tolist(), bit.tolist()):
            cap, m = self.caption(c, b, rnd)
            captions.append(cap)
            mention.append(m)
        return img, captions, con, bit, torch.tensor(mention, dtype=torch.long)

    def caption(self, concept: int, bits: int, rnd: random.Random) -> tuple[str, int]:
        true = [a for a in ATTRS if bits & BIT[a]]
        chosen = [a for a in true if rnd.random() < self.mention_p][:3]
        rnd.shuffle(chosen)
        c = self.concepts[concept]
        k = rnd.choice(self.categories[concept])
        if not chosen:
            return rnd.choice(TEMPLATES_NO_ATTR).format(c=c, k=k), 0
        a = " ".join(rnd.choice(PHRASES[x]) for x in chosen)
        m = 0
        for x in chosen:
            m |= BIT[x]
        return rnd.choice(TEMPLATES_ATTR).format(a=a, c=c, k=k), m

    def _render(self, name: str, src: torch.Tensor, gen: torch.Generator):
        """Geometry + colour: masks/RGBA tiles -> RGB images and the attribute bits that hold."""
        n = src.shape[0]
        bits = torch.zeros(n, dtype=torch.long)
        close = torch.rand(n, generator=gen) < P_STYLE["close-up"]
        scale = torch.empty(n).uniform_(0.85, 1.15, generator=gen)
        zoom = torch.empty(n).uniform_(1.4, 2.0, generator=gen)
        scale = torch.where(close, zoom, scale)
        bits |= close.long() * BIT["close-up"]
        ang = torch.empty(n).uniform_(-10, 10, generator=gen) * math.pi / 180
        max_shift = torch.where(close, 1 - 1 / scale, torch.full((n,), 2 / 16))
        shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * max_shift[:, None]
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                             torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        if name in ("emoji", "outline"):  # premultiply so that warping does not leak colour
            src = torch.cat([src[:, :3] * src[:, 3:4], src[:, 3:4]], 1)
        grid = F.affine_grid(theta, list(src.shape), align_corners=False)
        warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if name in ("emoji", "outline"):
            rgb, alpha = warped[:, :3], warped[:, 3:4]
            out = rgb + self._backgrounds(n, gen) * (1 - alpha)
            bits |= BIT["colorful"] if name == "emoji" else BIT["black and white"]
            return out.clamp(0, 1), bits
        m = warped
        colorful = torch.rand(n, generator=gen) < P_STYLE["colorful"]
        ink, paper = self._contrasting(n, gen)
        if name == "glyph":
            plain_ink, plain_paper = torch.zeros(n, 3), torch.ones(n, 3)
        else:
            plain_ink, plain_paper = torch.ones(n, 3), torch.zeros(n, 3)
        ink = torch.where(colorful[:, None], ink, plain_ink)
        paper = torch.where(colorful[:, None], paper, plain_paper)
        out = paper[:, :, None, None] * (1 - m) + ink[:, :, None, None] * m
        bits |= torch.where(colorful, BIT["colorful"], BIT["black and white"])
        return out, bits

    @staticmethod
    def _backgrounds(n, gen):
        white = torch.rand(n, generator=gen) < 0.45
        light = 0.68 + 0.32 * torch.rand(n, 3, generator=gen)
        mid = 0.2 + 0.55 * torch.rand(n, 3, generator=gen)
        dark = torch.rand(n, generator=gen) < 0.2
        bg = torch.where(dark[:, None], mid, light)
        bg = torch.where(white[:, None], torch.ones(n, 3), bg)
        return bg[:, :, None, None]

    @staticmethod
    def _contrasting(n, gen):
        lum = torch.tensor([0.299, 0.587, 0.114])
        a, b = torch.rand(n, 3, generator=gen), torch.rand(n, 3, generator=gen)
        for _ in range(20):
            bad = ((a - b) @ lum).abs() < 0.35
            if not bad.any():
                break
            k = int(bad.sum())
            a[bad], b[bad] = torch.rand(k, 3, generator=gen), torch.rand(k, 3, generator=gen)
        return a, b

    @staticmethod
    def _styles(img: torch.Tensor, bits: torch.Tensor, gen: torch.Generator):
        n = img.shape[0]

        def pick(p):
            return torch.rand(n, generator=gen) < p

        grey = pick(P_STYLE["grey"]) & ((bits & BIT["colorful"]) > 0)
        if grey.any():
            g = (img[grey] * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
            img[grey] = g.expand(-1, 3, -1, -1)
            bits[grey] = (bits[grey] & ~BIT["colorful"]) | BIT["black and white"]
        fade = pick(P_STYLE["faded"])
        if fade.any():
            k = torch.empty(int(fade.sum()), 1, 1, 1).uniform_(0.3, 0.6, generator=gen)
            img[fade] = img[fade] * k + 0.59 * (1 - k)
            bits[fade] |= BIT["faded"]
        blur = pick(P_STYLE["blurry"])
        if blur.any():
            sigma = float(torch.empty(1).uniform_(0.7, 1.5, generator=gen))
            r = torch.arange(-3, 4, dtype=torch.float32)
            k1 = torch.exp(-r ** 2 / (2 * sigma ** 2))
            k1 = k1 / k1.sum()
            x = img[blur]
            x = F.pad(x, (3, 3, 3, 3), mode="replicate")
            x = F.conv2d(x, k1.view(1, 1, 1, 7).expand(3, 1, 1, 7).contiguous(), groups=3)
            x = F.conv2d(x, k1.view(1, 1, 7, 1).expand(3, 1, 7, 1).contiguous(), groups=3)
            img[blur] = x
            bits[blur] |= BIT["blurry"]
        pix = pick(P_STYLE["pixelated"])
        if pix.any():
            cells = int(torch.randint(6, 11, (1,), generator=gen))
            small = F.adaptive_avg_pool2d(img[pix], cells)
            img[pix] = F.interpolate(small, size=32, mode="nearest")
            bits[pix] |= BIT["pixelated"]
        noisy = pick(P_STYLE["noisy"])
        if noisy.any():
            k = int(noisy.sum())
            sig = torch.empty(k, 1, 1, 1).uniform_(0.06, 0.2, generator=gen)
            mono = ((bits[noisy] & BIT["black and white"]) > 0).view(k, 1, 1, 1)
            z1 = torch.randn(k, 1, 32, 32, generator=gen).expand(-1, 3, -1, -1)
            z3 = torch.randn(k, 3, 32, 32, generator=gen)
            img[noisy] = img[noisy] + sig * torch.where(mono, z1, z3)
            bits[noisy] |= BIT["noisy"]
        return img.clamp(0, 1), bits
