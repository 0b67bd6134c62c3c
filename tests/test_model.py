"""cocoop_lib/model.py: PromptedCLIP's class chunks change nothing but memory."""
import torch

from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import CoCoOpPromptLearner


def test_class_chunking_gives_the_same_logits_and_gradients(tiny_backbone):
    names = [f"class {i}" for i in range(7)]
    torch.manual_seed(0)
    learner = CoCoOpPromptLearner(tiny_backbone, names)
    images = torch.randn(2, 3, 32, 32)
    results = []
    for chunk in (None, 3):
        learner.zero_grad()
        logits = PromptedCLIP(tiny_backbone, learner, class_chunk=chunk)(images)
        logits.square().sum().backward()
        results.append((logits.detach(), learner.ctx.grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-5)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-5)
