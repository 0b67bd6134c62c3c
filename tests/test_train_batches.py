"""cocoop_lib/train_batches.py: the index loop over in-memory images against the DataLoader path
it replaces (the same batches and random streams)."""
import pytest
import torch

from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import ImageDataset
from cocoop_lib.datasets.augment import TensorTrainAugment
from cocoop_lib.datasets.in_memory import InMemoryImages
from cocoop_lib.train_batches import EpochBatches, training_images
from fixtures_data import CROP


def test_same_seed_gives_the_same_batches_as_the_dataloader_path(food):
    tf = image_transforms(32, CROP)[0]
    out = {}
    for pipeline in ("pil", "tensor"):
        torch.manual_seed(5)
        g = torch.Generator().manual_seed(3)
        batches = EpochBatches(training_images(ImageDataset(food, tf), pipeline), 32, g)
        out[pipeline] = ([b for _ in range(2) for b in batches], torch.get_rng_state(), g.get_state())
    (pil, rng_p, g_p), (ten, rng_t, g_t) = out["pil"], out["tensor"]
    assert len(pil) == len(ten) == 2 * 3
    for (xp, yp), (xt, yt) in zip(pil, ten):
        assert torch.equal(yp, yt)
        # the same crops and flips; the bicubic resizes differ by at most one grey level
        assert ((xp - xt).abs() * torch.tensor([0.2686, 0.2613, 0.2758]).view(1, 3, 1, 1)).max() <= 1.01 / 255
    assert torch.equal(rng_p, rng_t) and torch.equal(g_p, g_t)


class _Indexed(InMemoryImages):
    """Labels are the sample indices, so batches show which samples they hold."""

    def __init__(self, n):
        self.images = torch.zeros(n, 3, 4, 4, dtype=torch.uint8)
        self.labels = torch.arange(n)
        self.augment = TensorTrainAugment(4, scale=(1.0, 1.0), ratio=(1.0, 1.0))


@pytest.mark.parametrize("n,bs,sizes", [(240, 32, [32] * 7), (64, 32, [32, 32]), (10, 32, [10]),
                                        (7, 1, [1] * 7)])
def test_index_loop_visits_each_sample_once_with_dassls_drop_last(n, bs, sizes):
    g = torch.Generator().manual_seed(0)
    batches = EpochBatches(_Indexed(n), bs, g)
    assert len(batches) == len(sizes)
    seen_epochs = []
    for _ in range(2):
        labels = [y for _, y in batches]
        assert [len(y) for y in labels] == sizes
        seen = torch.cat(labels)
        assert len(set(seen.tolist())) == len(seen) == sum(sizes)
        seen_epochs.append(seen)
    # the order is RandomSampler's: randperm(n, generator), two draws per epoch
    g2 = torch.Generator().manual_seed(0)
    first = torch.randperm(n, generator=g2)
    torch.randperm(n, generator=g2)
    assert torch.equal(seen_epochs[0], first[:sum(sizes)])
    assert torch.equal(seen_epochs[1], torch.randperm(n, generator=g2)[:sum(sizes)])


def test_tensor_pipeline_refuses_what_it_cannot_reproduce(food):
    with pytest.raises(ValueError, match="pipeline"):
        training_images(ImageDataset(food, image_transforms(32)[1]), "tensor")
    with pytest.raises(ValueError, match="pipeline must be"):
        training_images(ImageDataset(food, None), "fast")
    assert isinstance(training_images(ImageDataset(food, image_transforms(32)[0])), InMemoryImages)
