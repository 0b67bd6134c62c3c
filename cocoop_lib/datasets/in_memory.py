"""A training set decoded once and held in memory as uint8 tensors.

    images = InMemoryImages(items, TensorTrainAugment.from_transform(train_tf))
    x, y = images.batch(torch.tensor([3, 0, 7]))     # (3, 3, S, S) float, (3,) long

Decoding (Pillow, RGB) happens once per run instead of once per image per epoch; the
augmentation then runs on the uint8 tensors (:mod:`.augment`).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .augment import TensorTrainAugment
from .image_dataset import open_rgb
from .splits import Datum


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 (3, H, W), the pixels ToTensor would read (before /255)."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def decoded_bytes(items: list[Datum]) -> int:
    """Bytes the decoded RGB images of ``items`` take (from the file headers; nothing decoded)."""
    total = 0
    for d in items:
        with Image.open(d.impath) as im:
            total += 3 * im.width * im.height
    return total


class InMemoryImages(Dataset):
    """``items`` decoded once: ``images`` uint8 (N, 3, H, W) (a list of (3, H_i, W_i) when the sizes
    differ), ``labels`` long (N,); ``augment`` makes float training batches from them."""

    def __init__(self, items: list[Datum], augment: TensorTrainAugment):
        decoded = [to_uint8_tensor(open_rgb(d.impath)) for d in items]
        same_size = len({tuple(t.shape) for t in decoded}) == 1
        self.images = torch.stack(decoded) if same_size else decoded
        self.labels = torch.tensor([d.label for d in items], dtype=torch.long)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.augment([self.images[index]])[0], int(self.labels[index])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented images (B, 3, S, S) and labels (B,) of ``indices``, augmented in their order."""
        idx = indices.tolist()
        return self.augment([self.images[i] for i in idx]), self.labels[indices]
