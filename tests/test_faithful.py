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
from cocoop_lib.fast import plan_calls  # noqa: E402
from cocoop_lib.fast import shared_prefix_rows  # noqa: E402
from cocoop_lib.model import PromptedCLIP  # noqa: E402
from cocoop_lib.prompt_learners import CoCoOpPromptLearner, CoOpPromptLearner  # noqa: E402
from cocoop_lib.text_encoder import eot_positions, tokenize  # noqa: E402
from cocoop_lib.training import TrainSettings, train, train_step  # noqa: E402

# class names of different token lengths, so the cut length and the EOT positions differ by class
NAMES = ["cat", "golden retriever", "sea or lake", "herbaceous vegetation land", "x",
         "a very long class name with many words"]
SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)   # the protocol's optimiser, a larger lr


def _learner(backbone, method, seed=0):
    torch.manual_seed(seed)
    if method == "cocoop":
        learner = CoCoOpPromptLearner(backbone, NAMES)
        with torch.no_grad():   # a Meta-Net far from zero, so the conditional path really matters
            for p in learner.meta_net.parameters():
                p.normal_(std=0.5)
        return learner
    return CoOpPromptLearner(backbone, NAMES)


def _params(learner):
    return {n: p.detach().clone() for n, p in learner.named_parameters()}


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


def _spy_calls(model):
    """Record (prefix shape, suffix shape after the cut) of every shared-prefix encoder call."""
    calls, original = [], model.prompt_encoder.forward_shared_prefix

    def spy(prefix, suffix, eot, length=None):
        assert length in (None, int(eot.max()) + 1)
        calls.append((tuple(prefix.shape), (*suffix.shape[:2], int(eot.max()) + 1 - prefix.shape[1])))
        return original(prefix, suffix, eot, length)

    model.prompt_encoder.forward_shared_prefix = spy
    return calls


def test_prompts_are_cut_and_the_prefix_is_shared(tiny_backbone):
    learner = _learner(tiny_backbone, "cocoop")
    model = PromptedCLIP(tiny_backbone, learner)
    ids = tokenize(tiny_backbone.tokenizer, [f"a photo of a {n}." for n in NAMES], 77)
    cut = int(eot_positions(ids).max()) + 1
    assert shared_prefix_rows(learner) == 1 + learner.n_ctx == 5 and cut < 20   # not 77
    calls = _spy_calls(model)
    model(torch.randn(3, 3, 32, 32))
    # one call for the whole batch: 3 images x 5 prefix rows, 3 x 6 prompts of cut - 5 rows
    assert calls == [((3, 5, 64), (3, len(NAMES), cut - 5))]


def test_length_buckets_and_image_groups_give_the_same_logits_and_gradients(tiny_backbone):
    learner = _learner(tiny_backbone, "cocoop")
    images, labels = torch.randn(5, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4])
    results = []
    for buckets, max_prompts in ((False, 4096), (True, 12)):
        model = PromptedCLIP(tiny_backbone, learner)
        enc = model.prompt_encoder
        enc.length_buckets, enc.min_bucket_prompts, enc.max_prompts = buckets, 4, max_prompts
        calls = _spy_calls(model)
        learner.zero_grad()
        logits = model(images)
        F.cross_entropy(logits, labels).backward()
        results.append((logits.detach(), learner.ctx.grad.clone(), calls))
    (a, ga, one_call), (b, gb, bucketed) = results
    assert len(one_call) == 1
    # 2 images per group (12 // 6 classes); per group, calls of increasing cut length
    assert len(bucketed) > 3 and bucketed[0][1][2] < bucketed[-1][1][2] == one_call[0][1][2]
    assert {c[0][0] for c in bucketed} == {1, 2}
    assert (a - b).abs().max() <= 1e-5 * a.abs().max()
    assert (ga - gb).abs().max() <= 1e-5 * ga.abs().max()


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


def test_benchmark_dry_run_writes_its_report(tmp_path):
    """The benchmark script runs end to end (no timing is checked: claims come from real runs)."""
    from benchmarks import bench
    threads = torch.get_num_threads()
    try:
        report = bench.main(["--dry-run", "--classes", "5", "--out", str(tmp_path / "r.json")])
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "r.json").exists()
    assert report["agreement_fp32"]["logits_max_rel_diff"] < 1e-4
    assert report["agreement_fp32"]["grads_max_rel_diff"] < 1e-4
    row = report["results"][0]
    assert row["classes"] == 5 and row["cut_length"] < 77
    assert {"train_speedup_b1", "eval_speedup_cached", "cocoop_b1_over_coop_b4"} <= set(row["ratios"])
    assert "| C |" in report["table"]


@pytest.mark.parametrize("method, position, chunk", [("cocoop", "end", None), ("cocoop", "end", 2),
                                                     ("coop", "end", None), ("coop", "middle", None),
                                                     ("coop", "front", None), ("zeroshot", None, None)])
def test_plain_and_fast_encoders_agree_on_logits_and_gradients(tiny_backbone, method, position,
                                                               chunk):
    from cocoop_lib.prompt_learners import ZeroShotPrompts
    many = [f"{n} {i}" for i in range(4) for n in NAMES]             # 24 classes
    torch.manual_seed(0)
    if method == "zeroshot":
        learner = ZeroShotPrompts(tiny_backbone, many)
    elif method == "coop":
        learner = CoOpPromptLearner(tiny_backbone, many, class_token_position=position)
    else:
        learner = CoCoOpPromptLearner(tiny_backbone, many)
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 7, 23])
    out = []
    for encoder in ("plain", "fast"):
        model = PromptedCLIP(tiny_backbone, learner, class_chunk=chunk, encoder=encoder)
        if encoder == "fast":
            model.prompt_encoder.min_bucket_prompts = 4               # several length buckets
        learner.zero_grad()
        logits = model(images)
        grads = {}
        if method != "zeroshot":
            F.cross_entropy(logits, labels).backward()
            grads = {n: p.grad.clone() for n, p in learner.named_parameters()}
        out.append((logits.detach(), grads))
    (a, ga), (b, gb) = out
    assert a.shape == (3, len(many))
    assert (a - b).abs().max() <= 1e-5 * a.abs().max()
    for name, g in ga.items():
        assert g.abs().max() > 0 and (gb[name] - g).abs().max() <= 1e-4 * g.abs().max(), name


def test_plan_calls_is_a_pure_partition_of_the_classes():
    eot = torch.tensor([9, 5, 7, 5, 9, 6, 5, 12])
    calls, inverse = plan_calls(eot, groups=1, chunk=3, buckets=True, min_prompts=2)
    order = torch.cat([c for c, _ in calls])
    assert sorted(order.tolist()) == list(range(8)) and all(len(c) <= 3 for c, _ in calls)
    assert [length for _, length in calls] == [int(eot[c].max()) + 1 for c, _ in calls]
    assert torch.equal(order[inverse], torch.arange(8))
    assert plan_calls(eot, groups=1, chunk=8, buckets=False, min_prompts=2) == ([(None, 13)], None)


@pytest.mark.parametrize("method", ["cocoop", "coop"])
def test_restructured_step_gives_the_eager_trajectory_bit_for_bit(tiny_backbone, method):
    """Static buffers + a tensor lr (run eagerly on the CPU) = train_step, over 20 steps with an
    lr change, and after a state_dict round trip of the optimiser mid-way."""
    from cocoop_lib.fast import CapturedStep
    a, b = _learner(tiny_backbone, method), _learner(tiny_backbone, method)
    ma, mb = PromptedCLIP(tiny_backbone, a), PromptedCLIP(tiny_backbone, b)
    oa, ob = torch.optim.SGD(a.parameters(), **SGD), torch.optim.SGD(b.parameters(), **SGD)
    step = CapturedStep(mb, ob, "fp32", "cpu", capture=False)
    gen = torch.Generator().manual_seed(3)
    for i in range(20):
        if i == 10:
            for o in (oa, ob):
                for g in o.param_groups:
                    g["lr"] = 0.013
            state = copy.deepcopy(ob.state_dict())                # resume from a checkpoint
            ob = torch.optim.SGD(b.parameters(), **SGD)
            ob.load_state_dict(state)
            step = CapturedStep(mb, ob, "fp32", "cpu", capture=False)
        x = torch.randn(2, 3, 32, 32, generator=gen)
        y = torch.randint(0, len(NAMES), (2,), generator=gen)
        la, lb = train_step(ma, oa, x, y), step(x, y)
        assert torch.equal(la, lb), i
    for n, p in _params(a).items():
        assert torch.equal(p, _params(b)[n]), n
        assert (p - _learner(tiny_backbone, method).state_dict()[n]).abs().max() > 0
