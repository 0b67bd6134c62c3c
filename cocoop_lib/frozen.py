"""Holding a frozen module without registering it.

The frozen CLIP (and its token table) must be reachable from the modules that use it, but must not
appear in their ``state_dict()`` or ``parameters()``: a checkpoint holds only what is learned, and
the optimiser sees only learnable tensors. ``nn.Module.__setattr__`` registers any module assigned
to an attribute, so the reference is written to the instance ``__dict__`` instead, which bypasses
registration (``.to(device)`` on the holder then does not move it either: move the backbone).
"""
from __future__ import annotations

from torch import nn


def hold_frozen(owner: nn.Module, name: str, value) -> None:
    """Make ``owner.<name>`` refer to ``value`` without registering it as a submodule."""
    owner.__dict__[name] = value
