"""cocoop_lib/frozen.py: a module held with hold_frozen is reachable but neither a submodule, a
parameter nor part of the state_dict."""
import torch
from torch import nn

from cocoop_lib.frozen import hold_frozen


def test_a_held_module_stays_out_of_parameters_and_state_dict():
    frozen = nn.Linear(3, 2)
    held, registered = nn.Module(), nn.Module()
    held.ctx = nn.Parameter(torch.zeros(4))
    registered.ctx = nn.Parameter(torch.zeros(4))
    hold_frozen(held, "clip", frozen)
    registered.clip = frozen                               # what plain assignment does instead
    assert held.clip is frozen
    assert [n for n, _ in held.named_parameters()] == ["ctx"]
    assert list(held.state_dict()) == ["ctx"] and list(held.children()) == []
    assert sorted(registered.state_dict()) == ["clip.bias", "clip.weight", "ctx"]
