"""The tensor training pipeline against the PIL + DataLoader path it replaces."""
import numpy as np
import pytest
import torch
import torchvision.transforms as T
from scipy.stats import ks_2samp

from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import ImageDataset, load_dataset, open_rgb
from cocoop_lib.datasets.augment import TensorTrainAugment
from cocoop_lib.datasets.in_memory import InMemoryImages
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import CoOpPromptLearner
from cocoop_lib.train_batches import EpochBatches, training_images
from cocoop_lib.training import TrainSettings, train

CROP = (0.8, 1.0)   # the MINI recipe's crop scale


@pytest.fixture(scope="module")
def food():
    return load_dataset("MiniFood").train[:120]


def test_in_memory_images_hold_the_pil_decoded_pixels(food):
    ds = InMemoryImages(food, TensorTrainAugment(32))
    assert ds.images.shape == (120, 3, 32, 32) and ds.images.dtype == torch.uint8
    for i in (0, 17, 119):
        pil = torch.from_numpy(np.array(open_rgb(food[i].impath))).permute(2, 0, 1)
        assert torch.equal(ds.images[i], pil)
        assert torch.equal(ds.images[i].float() / 255, T.ToTensor()(open_rgb(food[i].impath)))
    assert ds.labels.tolist() == [d.label for d in food]


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


def test_interrupted_training_on_the_tensor_pipeline_resumes_exactly(tiny_backbone, eurosat_root,
                                                                     tmp_path):
    data = load_dataset("EuroSAT", eurosat_root)
    train_tf = image_transforms(32, (0.5, 1.0))[0]
    settings = TrainSettings(epochs=3, batch_size=4, lr=0.1, pipeline="tensor")

    def fresh():
        torch.manual_seed(3)
        return PromptedCLIP(tiny_backbone, CoOpPromptLearner(tiny_backbone, data.classnames))

    full = fresh()
    train(full, ImageDataset(data.train[:12], train_tf), settings, tmp_path / "a.pt", progress=False)

    class Crash(InMemoryImages):
        calls = 0

        def batch(self, indices):
            Crash.calls += 1
            if Crash.calls == 2 * 3 + 2:  # inside epoch 3
                raise KeyboardInterrupt
            return super().batch(indices)

    interrupted = fresh()
    crash = Crash(data.train[:12], TensorTrainAugment.from_transform(train_tf))
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, crash, settings, tmp_path / "b.pt", progress=False)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["epoch"] == 2
    resumed = fresh()
    history = train(resumed, ImageDataset(data.train[:12], train_tf), settings, tmp_path / "b.pt",
                    progress=False)
    assert len(history["losses"]) == 3
    assert torch.equal(resumed.prompt_learner.ctx, full.prompt_learner.ctx)
    # and the pipeline changed the data path only: the PIL path gives the same context to float
    # rounding of pixels that differ by at most one grey level
    pil = fresh()
    train(pil, ImageDataset(data.train[:12], train_tf),
          TrainSettings(epochs=3, batch_size=4, lr=0.1, pipeline="pil"), progress=False)
    assert torch.allclose(pil.prompt_learner.ctx, full.prompt_learner.ctx, atol=1e-3)
