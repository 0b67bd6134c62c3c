"""The library's fast CoCoOp / CoOp against a faithful port of the official per-image loop.

Both must compute the same function of the same parameters: the same logits and gradients in fp32
on a tiny random CLIP, and the same 20-step training trajectory at batch 1 (the paper's setting).
The port (benchmarks/faithful.py) pads prompts to 77 tokens, uses an explicit float causal mask and
loops over images; the library cuts prompts at their longest EOT, shares the SOS + context rows
between classes, and runs all (image, class) prompts in one text-encoder call.
"""
import copy
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root (benchmarks/)

from benchmarks.faithful import (FaithfulTextEncoder, faithful_evaluate, faithful_model,  # noqa: E402
                                 faithful_train_step)
from cocoop_lib.evaluation import accuracy_from_features  # noqa: E402
from cocoop_lib.model import PromptedCLIP  # noqa: E402
from cocoop_lib.text_encoder import tokenize  # noqa: E402
from cocoop_lib.training import TrainSettings, train, train_step  # noqa: E402
from fixtures_learners import NAMES, SGD, learner as _learner, params as _params  # noqa: E402

def test_faithful_text_encoder_equals_hub_text_features(tiny_backbone):
    ids = tokenize(tiny_backbone.tokenizer, [f"a photo of a {n}." for n in NAMES], 77)
    enc = FaithfulTextEncoder(tiny_backbone)
    with torch.no_grad():
        ours = enc(tiny_backbone.model.text_model.embeddings.token_embedding(ids), ids)
        ref = tiny_backbone.model.get_text_features(input_ids=ids)
    assert (ours - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("method", ["cocoop", "coop"])
@pytest.mark.parametrize("encoder, share_prefix, class_chunk",
                         [("fast", True, None), ("fast", False, None), ("fast", True, 4),
                          ("plain", False, None)])
def test_same_logits_and_gradients_as_the_faithful_port(tiny_backbone, method, encoder,
                                                        share_prefix, class_chunk):
    learner = _learner(tiny_backbone, method)
    model = PromptedCLIP(tiny_backbone, learner, class_chunk=class_chunk, encoder=encoder)
    if encoder == "fast":
        model.prompt_encoder.share_prefix = share_prefix
    port = faithful_model(tiny_backbone, learner)   # the same parameters
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 3, 5])
    results = []
    for forward in (model, port.logits):
        learner.zero_grad()
        logits = forward(images)
        F.cross_entropy(logits, labels).backward()
        results.append((logits.detach(), {n: p.grad.clone() for n, p in learner.named_parameters()}))
    (ours, our_grads), (ref, ref_grads) = results
    assert ours.shape == ref.shape == (3, len(NAMES))
    assert (ours - ref).abs().max() <= 1e-4 * ref.abs().max()
    for name, g in ref_grads.items():
        assert g.abs().max() > 0, name
        assert (our_grads[name] - g).abs().max() <= 1e-4 * g.abs().max(), name


@pytest.mark.parametrize("encoder", ["fast", "plain"])
def test_same_20_step_training_trajectory_at_batch_1(tiny_backbone, encoder):
    ours, ref = _learner(tiny_backbone, "cocoop"), _learner(tiny_backbone, "cocoop")
    model = PromptedCLIP(tiny_backbone, ours, encoder=encoder)
    port = faithful_model(tiny_backbone, ref)
    opt_ours = torch.optim.SGD(ours.parameters(), **SGD)
    opt_ref = torch.optim.SGD(ref.parameters(), **SGD)
    start = _params(ref)
    gen = torch.Generator().manual_seed(1)
    for step in range(20):
        image = torch.randn(1, 3, 32, 32, generator=gen)
        label = torch.randint(0, len(NAMES), (1,), generator=gen)
        loss_ours = float(train_step(model, opt_ours, image, label))
        loss_ref = faithful_train_step(port, opt_ref, image, label)
        assert loss_ours == pytest.approx(loss_ref, rel=1e-4, abs=1e-6), step
    moved = max(float((p - start[n]).abs().max()) for n, p in _params(ref).items())
    assert moved > 1e-2                                   # the trajectory really goes somewhere
    for name, p in _params(ref).items():
        assert (_params(ours)[name] - p).abs().max() <= 1e-4 * max(moved, 1.0), name


class _RecordingSet(Dataset):
    """A fixed set of (image, label) that remembers the order the training loop asked for."""

    def __init__(self, n, seed=2):
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, 32, 32, generator=gen)
        self.labels = torch.randint(0, len(NAMES), (n,), generator=gen)
        self.order = []

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        self.order.append(i)
        return self.images[i], self.labels[i]


def test_library_training_loop_follows_the_faithful_trajectory(tiny_backbone):
    ours, ref = _learner(tiny_backbone, "cocoop"), _learner(tiny_backbone, "cocoop")
    data = _RecordingSet(20)
    torch.manual_seed(5)
    train(PromptedCLIP(tiny_backbone, ours), data,
          TrainSettings(epochs=1, batch_size=1, warmup_epochs=0, **SGD), progress=False)
    assert sorted(data.order) == list(range(20))
    port = faithful_model(tiny_backbone, ref)
    opt = torch.optim.SGD(ref.parameters(), **SGD)   # epoch 1 of 1 without warm-up: lr = base lr
    for i in data.order:
        faithful_train_step(port, opt, data.images[i:i + 1], data.labels[i:i + 1])
    for name, p in _params(ref).items():
        assert (_params(ours)[name] - p).abs().max() <= 1e-4, name


@pytest.mark.parametrize("encoder", ["fast", "plain"])
def test_same_evaluation_accuracy_as_the_faithful_port(tiny_backbone, encoder):
    learner = _learner(tiny_backbone, "cocoop")
    model = PromptedCLIP(tiny_backbone, learner, encoder=encoder)
    port = faithful_model(tiny_backbone, learner)
    if encoder == "fast":
        model.prompt_encoder.max_prompts = 10          # several image groups per test batch
    images, labels = torch.randn(30, 3, 32, 32), torch.randint(0, len(NAMES), (30,))
    with torch.no_grad():
        feats = model.encode_images(images)
        ours = model.logits_from_features(feats)
        ref = port.logits(images)
    assert (ours - ref).abs().max() <= 1e-4 * ref.abs().max()
    assert accuracy_from_features(model, feats, labels, batch_size=7) == pytest.approx(
        faithful_evaluate(port, images, labels, batch_size=7))


def test_faithful_port_leaves_the_learner_state_alone(tiny_backbone):
    learner = _learner(tiny_backbone, "cocoop")
    before = copy.deepcopy(learner.state_dict())
    faithful_model(tiny_backbone, learner)
    assert set(learner.state_dict()) == set(before)


def test_a_new_class_list_gets_a_new_plan(tiny_backbone):
    learner = _learner(tiny_backbone, "cocoop")
    model = PromptedCLIP(tiny_backbone, learner)
    model.prompt_encoder.min_bucket_prompts = 2   # several length buckets
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        model(images)
        learner.set_classnames(["river", "annual crop land", "x"])   # base -> new
        ours = model(images)
        ref = faithful_model(tiny_backbone, learner).logits(images)
    assert ours.shape == (2, 3)
    assert (ours - ref).abs().max() <= 1e-4 * ref.abs().max()
