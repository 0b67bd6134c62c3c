"""How training batches are produced: a plain index loop over images decoded once ("tensor"), or
the DataLoader over PIL images ("pil", the original path; the benchmark switches between them).

Both draw the same random numbers in the same order, so with the same seed they give the same
batches (same samples, crops and flips; pixels within one grey level from the resize):
- per epoch, one int64 from torch's global generator (the DataLoader iterator's worker seed);
- the order ``torch.randperm(n, generator)``, as RandomSampler does, plus the second ``randperm``
  RandomSampler draws when it is run to its end;
- per sample in batch order, the crop and flip draws from torch's global generator;
- Dassl's rule: drop the last incomplete batch when the set has at least one full batch.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, RandomSampler

from .datasets.augment import TensorTrainAugment
from .datasets.image_dataset import ImageDataset
from .datasets.in_memory import InMemoryImages, decoded_bytes

PIPELINES = ("auto", "tensor", "pil")
MEMORY_LIMIT = 2 * 2**30       # "auto": the tensor path while the decoded set fits in this many bytes


def training_images(train_set, pipeline: str = "auto"):
    """``train_set`` as the pipeline uses it: an ImageDataset becomes InMemoryImages for "tensor";
    for "auto" only a plain ImageDataset (a subclass may change what an item is) whose transform
    the tensor path reproduces and whose decoded images fit MEMORY_LIMIT."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}.")
    if pipeline == "pil" or isinstance(train_set, InMemoryImages):
        return train_set
    if not isinstance(train_set, ImageDataset) or (pipeline == "auto"
                                                    and type(train_set) is not ImageDataset):
        if pipeline == "tensor":
            raise ValueError("pipeline='tensor' needs an ImageDataset (or InMemoryImages); "
                             f"got {type(train_set).__name__}: use pipeline='pil'.")
        return train_set
    try:
        augment = TensorTrainAugment.from_transform(train_set.transform)
    except ValueError:
        if pipeline == "tensor":
            raise
        return train_set
    if pipeline == "auto" and decoded_bytes(train_set.items) > MEMORY_LIMIT:
        return train_set
    return InMemoryImages(train_set.items, augment)


def drop_last(n: int, batch_size: int) -> bool:
    """Dassl drops the last incomplete batch when the set has at least one full batch."""
    return n >= batch_size


class EpochBatches:
    """Iterating gives one epoch of (images (B, 3, S, S), labels (B,)) batches of ``train_set``,
    shuffled with ``generator``."""

    def __init__(self, train_set, batch_size: int, generator: torch.Generator):
        self.train_set, self.batch_size, self.generator = train_set, batch_size, generator
        n = len(train_set)
        self.drop_last = drop_last(n, batch_size)
        self.loader = None
        if not isinstance(train_set, InMemoryImages):
            self.loader = DataLoader(train_set, batch_size=batch_size, num_workers=0,
                                     sampler=RandomSampler(train_set, generator=generator),
                                     drop_last=self.drop_last)

    def __len__(self) -> int:
        n = len(self.train_set)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self.loader is not None:
            yield from self.loader
            return
        n = len(self.train_set)
        torch.empty((), dtype=torch.int64).random_()        # the DataLoader iterator's worker seed
        order = torch.randperm(n, generator=self.generator)
        for k in range(len(self)):
            yield self.train_set.batch(order[k * self.batch_size:(k + 1) * self.batch_size])
        torch.randperm(n, generator=self.generator)          # RandomSampler's draw at its end
