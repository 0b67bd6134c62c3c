"""The plain prompt encoder: every prompt through CLIP's text tower, nothing shared.

A prompt encoder maps a prompt learner (and, for a conditional one, image features) to
unnormalised text features:

    encoder(learner, image_features (B, E) or None) -> (C, E), or (B, C, E) for a conditional learner

The plain encoder builds every prompt at once and encodes it on its own; the fast one
(:class:`cocoop_lib.fast.FastPromptEncoder`) computes the same function with exact speed-ups.
This module is the in-library oracle the fast encoder is tested against.
"""
from __future__ import annotations

import torch

from .text_encoder import PromptTextEncoder


class PlainPromptEncoder:
    """Build the prompts, flatten them, run :meth:`PromptTextEncoder.forward`, unflatten."""

    def __init__(self, text_encoder: PromptTextEncoder):
        self.text_encoder = text_encoder

    def __call__(self, learner, image_features: torch.Tensor | None = None) -> torch.Tensor:
        prompts, eot = learner(image_features)                       # (..., C, L, D), (C,)
        lead, n_cls = prompts.shape[:-3], prompts.shape[-3]
        flat = prompts.reshape(-1, *prompts.shape[-2:])              # (..., C, L, D) -> (N, L, D)
        eot_flat = eot.repeat(flat.shape[0] // n_cls)                # (C,) -> (N,)
        return self.text_encoder(flat, eot_flat).view(*lead, n_cls, -1)   # (N, E) -> (..., C, E)
