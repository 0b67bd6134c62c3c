"""cocoop_lib/training.py: the learning-rate schedule, the loop, exact resume after an
interruption (PIL and tensor pipelines), and a damaged checkpoint."""
import math

import pytest
import torch

from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import ImageDataset, load_dataset
from cocoop_lib.datasets.augment import TensorTrainAugment
from cocoop_lib.datasets.in_memory import InMemoryImages
from cocoop_lib.errors import CheckpointError
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import CoCoOpPromptLearner, CoOpPromptLearner
from cocoop_lib.runs import checkpoint_file, run, run_identity
from cocoop_lib.training import TrainSettings, learning_rate, train
from fixtures_runs import cfg, essence


def _uninterrupted(tiny_backbone, eurosat_root, tmp_path, pipeline: str):
    """The resume tests' common part: 12 EuroSAT images, 3 epochs on ``pipeline``, a model factory
    with a fixed seed, and the uninterrupted run's model (its checkpoint in ``tmp_path/a.pt``)."""
    data = load_dataset("EuroSAT", eurosat_root)
    train_tf = image_transforms(32, (0.5, 1.0))[0]
    settings = TrainSettings(epochs=3, batch_size=4, lr=0.1, pipeline=pipeline)

    def fresh():
        torch.manual_seed(3)
        return PromptedCLIP(tiny_backbone, CoOpPromptLearner(tiny_backbone, data.classnames))

    full = fresh()
    train(full, ImageDataset(data.train[:12], train_tf), settings, tmp_path / "a.pt", progress=False)
    return data, train_tf, settings, fresh, full


def _crashing(base: type, method: str, at: int) -> type:
    """A subclass of ``base`` whose ``method`` raises KeyboardInterrupt on its ``at``-th call."""
    calls = [0]

    def interrupting(self, *args):
        calls[0] += 1
        if calls[0] == at:
            raise KeyboardInterrupt
        return getattr(base, method)(self, *args)
    return type("Crash", (base,), {method: interrupting})


def _crash_then_resume(crash_set, data, train_tf, settings, fresh, full, tmp_path):
    """Train on ``crash_set`` until it interrupts inside epoch 3, check the checkpoint holds epoch
    2, resume on the clean images: the context must equal the uninterrupted run's, bit for bit."""
    interrupted = fresh()
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, crash_set, settings, tmp_path / "b.pt", progress=False)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["epoch"] == 2
    resumed = fresh()
    history = train(resumed, ImageDataset(data.train[:12], train_tf), settings, tmp_path / "b.pt",
                    progress=False)
    assert len(history["losses"]) == 3
    assert torch.equal(resumed.prompt_learner.ctx, full.prompt_learner.ctx)


def test_learning_rate_of_a_10_epoch_run_follows_the_protocol(tiny_backbone, eurosat_root):
    expected = [1e-5] + [0.002 * (1 + math.cos(math.pi * (e - 2) / 10)) / 2 for e in range(2, 11)]
    # Dassl's scheduler is torch's CosineAnnealingLR (T_max = max epochs) after a constant warm-up
    p = torch.nn.Parameter(torch.zeros(1))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD([p], lr=0.002), T_max=10)
    torch_lrs = []
    for _ in range(9):
        torch_lrs.append(cosine.get_last_lr()[0])
        cosine.optimizer.step()
        cosine.step()
    assert [learning_rate(e, 10) for e in range(1, 11)] == pytest.approx(expected, rel=1e-12)
    assert expected[1:] == pytest.approx(torch_lrs, rel=1e-9)
    # and the loop really uses them
    from cocoop_lib.datasets import ImageDataset, load_dataset
    from cocoop_lib.backbone import image_transforms
    data = load_dataset("EuroSAT", eurosat_root)
    model = PromptedCLIP(tiny_backbone, CoOpPromptLearner(tiny_backbone, data.classnames))
    history = train(model, ImageDataset(data.train[:8], image_transforms(32)[1]),
                    TrainSettings(epochs=10, batch_size=8), progress=False)
    assert history["lrs"] == pytest.approx(expected, rel=1e-12)


def test_training_lowers_the_loss(tiny_backbone, eurosat_root):
    from cocoop_lib.backbone import image_transforms
    from cocoop_lib.datasets import ImageDataset, load_dataset
    torch.manual_seed(0)
    data = load_dataset("EuroSAT", eurosat_root)
    model = PromptedCLIP(tiny_backbone, CoCoOpPromptLearner(tiny_backbone, data.classnames))
    history = train(model, ImageDataset(data.train, image_transforms(32)[1]),
                    TrainSettings(epochs=6, batch_size=4, lr=0.5, warmup_epochs=0), progress=False)
    assert history["losses"][-1] < history["losses"][0] - 0.05


def test_interrupted_training_resumes_to_the_same_result(tiny_backbone, eurosat_root, tmp_path):
    # Crash: the PIL path
    data, train_tf, settings, fresh, full = _uninterrupted(tiny_backbone, eurosat_root, tmp_path, "pil")

    Crash = _crashing(ImageDataset, "__getitem__", 2 * 12 + 3)   # 12 images an epoch: in epoch 3
    _crash_then_resume(Crash(data.train[:12], train_tf), data, train_tf, settings, fresh, full,
                       tmp_path)


def test_interrupted_training_on_the_tensor_pipeline_resumes_exactly(tiny_backbone, eurosat_root,
                                                                     tmp_path):
    data, train_tf, settings, fresh, full = _uninterrupted(tiny_backbone, eurosat_root, tmp_path,
                                                           "tensor")

    Crash = _crashing(InMemoryImages, "batch", 2 * 3 + 2)        # 3 batches an epoch: in epoch 3
    crash = Crash(data.train[:12], TensorTrainAugment.from_transform(train_tf))
    _crash_then_resume(crash, data, train_tf, settings, fresh, full, tmp_path)
    # and the pipeline changed the data path only: the PIL path gives the same context to float
    # rounding of pixels that differ by at most one grey level
    pil = fresh()
    train(pil, ImageDataset(data.train[:12], train_tf),
          TrainSettings(epochs=3, batch_size=4, lr=0.1, pipeline="pil"), progress=False)
    assert torch.allclose(pil.prompt_learner.ctx, full.prompt_learner.ctx, atol=1e-3)


@pytest.mark.parametrize("damage", ["truncated", "json text"])
def test_damaged_checkpoint_is_named_and_deleting_it_retrains_exactly(
        tiny_clip_dir, eurosat_root, tmp_path, damage):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    good = run(c, progress=False)
    (tmp_path / "records" / f"{good['name']}.json").unlink()
    ckpt = checkpoint_file(tmp_path, good["name"], run_identity(c.resolved()))
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    else:
        ckpt.write_text('{"epoch": 5, "learner": {"ctx')
    with pytest.raises(CheckpointError, match=str(ckpt)) as info:
        run(c, progress=False)
    assert "delete it" in str(info.value) and "--force" in str(info.value)
    assert essence(run(c, force=True, progress=False)) == essence(good)
