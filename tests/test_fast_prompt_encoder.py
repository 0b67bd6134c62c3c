"""cocoop_lib/fast/prompt_encoder.py: the fast encoder against the plain one (the readable oracle),
with its switches (length buckets, image groups, class chunks) on and off."""
import pytest
import torch
import torch.nn.functional as F

from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import CoCoOpPromptLearner, CoOpPromptLearner
from fixtures_learners import NAMES, learner as _learner, spy_calls as _spy_calls


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
