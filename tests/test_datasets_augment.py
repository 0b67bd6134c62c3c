"""cocoop_lib/datasets/augment.py: the tensor augmentation against torchvision's PIL transform (the
same random draws, the same distributions)."""
import numpy as np
import pytest
import torch
import torchvision.transforms as T
from scipy.stats import ks_2samp

from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import open_rgb
from cocoop_lib.datasets.augment import TensorTrainAugment
from cocoop_lib.datasets.in_memory import InMemoryImages
from fixtures_data import CROP


def test_from_transform_reads_the_recipe_and_refuses_other_transforms():
    aug = TensorTrainAugment.from_transform(image_transforms(32, CROP)[0])
    assert (aug.size, aug.scale, aug.flip_p) == (32, CROP, 0.5)
    with pytest.raises(ValueError, match="pipeline='pil'"):
        TensorTrainAugment.from_transform(image_transforms(32)[1])       # the test transform


@pytest.mark.parametrize("scale,hw", [(CROP, (32, 32)), ((0.08, 1.0), (40, 29)), ((0.9, 1.0), (10, 60))])
def test_crop_params_are_torchvisions_draws(scale, hw):
    aug = TensorTrainAugment(32, scale=scale)
    img = torch.zeros(3, *hw)
    for seed in range(200):
        torch.manual_seed(seed)
        ours = aug.crop_params(*hw)
        after = torch.rand(1)
        torch.manual_seed(seed)
        theirs = T.RandomResizedCrop.get_params(img, list(scale), [3 / 4, 4 / 3])
        assert ours == theirs and torch.equal(after, torch.rand(1))       # same draws consumed


def _pil_params(n, seed, scale):
    torch.manual_seed(seed)
    img = torch.zeros(3, 32, 32)
    return [T.RandomResizedCrop.get_params(img, list(scale), [3 / 4, 4 / 3]) for _ in range(n)]


def test_crop_distributions_match_pil_on_independent_seeds():
    aug = TensorTrainAugment(32, scale=(0.08, 1.0))
    pil = np.array(_pil_params(3000, 0, (0.08, 1.0)))
    torch.manual_seed(1)
    ours = np.array([aug.crop_params(32, 32) for _ in range(3000)])
    for stat in (lambda p: p[:, 2] * p[:, 3] / 1024, lambda p: p[:, 3] / p[:, 2], lambda p: p[:, 0]):
        assert ks_2samp(stat(pil), stat(ours)).pvalue > 0.001
    # and the test can fail: another scale range is told apart
    other = np.array(_pil_params(3000, 2, (0.3, 1.0)))
    assert ks_2samp(pil[:, 2] * pil[:, 3], other[:, 2] * other[:, 3]).pvalue < 1e-6


def test_augmented_pixels_match_the_pil_transform_statistically(food):
    pil_tf = image_transforms(32, CROP)[0]
    ds = InMemoryImages(food, TensorTrainAugment.from_transform(pil_tf))
    torch.manual_seed(0)
    pil = torch.stack([pil_tf(open_rgb(d.impath)) for _ in range(4) for d in food])
    torch.manual_seed(1)                                                  # independent draws
    ours = torch.cat([ds.batch(torch.arange(len(food)))[0] for _ in range(4)])
    assert ours.shape == pil.shape == (480, 3, 32, 32)
    m_pil, m_ours = pil.mean((0, 2, 3)), ours.mean((0, 2, 3))
    assert torch.allclose(m_pil, m_ours, atol=0.03), (m_pil, m_ours)
    assert torch.allclose(pil.std((0, 2, 3)), ours.std((0, 2, 3)), atol=0.03)
    # per-pixel-position means (flips and crops move content): same spatial distribution
    assert (pil.mean(0) - ours.mean(0)).abs().mean() < 0.05
