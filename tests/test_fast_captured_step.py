"""cocoop_lib/fast/captured_step.py: the restructured (capturable) step is the eager step bit for bit."""
import copy

import pytest
import torch

from cocoop_lib.model import PromptedCLIP
from cocoop_lib.training import train_step
from fixtures_learners import NAMES, SGD, learner as _learner, params as _params


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
