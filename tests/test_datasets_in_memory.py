"""cocoop_lib/datasets/in_memory.py: a run's training images decoded once hold PIL's pixels."""
import numpy as np
import torch
import torchvision.transforms as T

from cocoop_lib.datasets import open_rgb
from cocoop_lib.datasets.augment import TensorTrainAugment
from cocoop_lib.datasets.in_memory import InMemoryImages


def test_in_memory_images_hold_the_pil_decoded_pixels(food):
    ds = InMemoryImages(food, TensorTrainAugment(32))
    assert ds.images.shape == (120, 3, 32, 32) and ds.images.dtype == torch.uint8
    for i in (0, 17, 119):
        pil = torch.from_numpy(np.array(open_rgb(food[i].impath))).permute(2, 0, 1)
        assert torch.equal(ds.images[i], pil)
        assert torch.equal(ds.images[i].float() / 255, T.ToTensor()(open_rgb(food[i].impath)))
    assert ds.labels.tolist() == [d.label for d in food]
