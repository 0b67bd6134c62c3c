"""The recipe's train augmentation on uint8 tensors, drawing the same random numbers as torchvision.

    augment = TensorTrainAugment.from_transform(train_tf)   # the recipe's PIL Compose
    batch = augment([img_0, img_1, ...])                     # uint8 (3, H_i, W_i) each -> (B, 3, S, S)

Per sample, in batch order: RandomResizedCrop's parameters (the same draws from torch's global
generator as ``RandomResizedCrop.get_params``), then the flip draw (``torch.rand(1) < p``). With
the same generator state the crops and flips are exactly those of the PIL path; the bicubic resize
(antialias=True, uint8 in, uint8 out) matches Pillow's to within one grey level. Flip, ToTensor
(/255) and Normalize then run once on the whole batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms as T


@dataclass(frozen=True)
class TensorTrainAugment:
    """RandomResizedCrop(size, scale, ratio, bicubic) + RandomHorizontalFlip(flip_p) + Normalize."""

    size: int
    scale: tuple = (0.08, 1.0)
    ratio: tuple = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0)

    @classmethod
    def from_transform(cls, transform: T.Compose) -> "TensorTrainAugment":
        """The same augmentation as a PIL Compose of exactly RandomResizedCrop (bicubic),
        RandomHorizontalFlip, ToTensor, Normalize; anything else raises ValueError."""
        steps = list(getattr(transform, "transforms", [transform]))
        kinds = [type(s) for s in steps]
        if kinds != [T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]:
            raise ValueError(f"the tensor pipeline reproduces only RandomResizedCrop + RandomHorizontalFlip "
                             f"+ ToTensor + Normalize, got {[k.__name__ for k in kinds]}; "
                             "use pipeline='pil' for other transforms.")
        crop, flip, _, norm = steps
        if crop.interpolation != T.InterpolationMode.BICUBIC or crop.size[0] != crop.size[1]:
            raise ValueError("the tensor pipeline needs a square bicubic RandomResizedCrop; use pipeline='pil'.")
        return cls(size=crop.size[0], scale=tuple(crop.scale), ratio=tuple(crop.ratio), flip_p=flip.p,
                   mean=tuple(float(m) for m in norm.mean), std=tuple(float(s) for s in norm.std))

    def crop_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, h, w) of one random crop; the draws of ``RandomResizedCrop.get_params``."""
        area = height * width
        log_lo, log_hi = torch.log(torch.tensor(self.ratio)).tolist()   # float32, as torchvision
        for _ in range(10):
            target = area * torch.empty(1).uniform_(self.scale[0], self.scale[1]).item()
            aspect = math.exp(torch.empty(1).uniform_(log_lo, log_hi).item())
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, size=(1,)))
                left = int(torch.randint(0, width - w + 1, size=(1,)))
                return top, left, h, w
        in_ratio = width / height                                     # fallback: the central crop
        if in_ratio < min(self.ratio):
            w, h = width, int(round(width / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            w, h = int(round(height * max(self.ratio))), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def crop_resize(self, image: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """One sample: uint8 (3, H, W) -> (uint8 (3, S, S) crop resized bicubic, flip drawn)."""
        top, left, h, w = self.crop_params(image.shape[-2], image.shape[-1])
        flip = bool(torch.rand(1) < self.flip_p)
        crop = image[None, :, top:top + h, left:left + w]                # (1, 3, h, w)
        out = F.interpolate(crop, size=(self.size, self.size), mode="bicubic", antialias=True,
                            align_corners=False)
        return out[0], flip

    def __call__(self, images) -> torch.Tensor:
        """uint8 images (a (B, 3, H, W) tensor or a list of (3, H_i, W_i)) -> float (B, 3, S, S)."""
        crops, flips = zip(*(self.crop_resize(im) for im in images))
        batch = torch.stack(crops)                                       # (B, 3, S, S) uint8
        flips = torch.tensor(flips)
        if flips.any():
            batch[flips] = batch[flips].flip(-1)
        x = batch.to(torch.get_default_dtype()).div_(255)
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)
