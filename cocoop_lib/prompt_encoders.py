"""The plain prompt encoder: every prompt through CLIP's text tower, nothing shared.

A prompt encoder maps prompt embeddings to (unnormalised) text features:

    encoder(prompts (..., C, L, D), eot (C,), shared_prefix=0) -> (..., C, E)

``shared_prefix`` is the number of leading rows all C prompts share (SOS + context); the plain
encoder ignores it, the fast one (:class:`cocoop_lib.fast.FastPromptEncoder`) computes those rows
once. ``image_groups(n_images, n_cls)`` says how many images the model may hand over per call.
This module is the in-library oracle the fast encoder is tested against.
"""
from __future__ import annotations

import torch

from .text_encoder import PromptTextEncoder


class PlainPromptEncoder:
    """Flatten the prompts, run :meth:`PromptTextEncoder.forward`, unflatten."""

    def __init__(self, text_encoder: PromptTextEncoder):
        self.text_encoder = text_encoder

    def image_groups(self, n_images: int, n_cls: int) -> int:
        return max(n_images, 1)                                      # all images in one call

    def __call__(self, prompts: torch.Tensor, eot: torch.Tensor, shared_prefix: int = 0):
        lead, n_cls = prompts.shape[:-3], prompts.shape[-3]
        flat = prompts.reshape(-1, *prompts.shape[-2:])              # (..., C, L, D) -> (N, L, D)
        eot_flat = eot.repeat(flat.shape[0] // n_cls)                # (C,) -> (N,)
        return self.text_encoder(flat, eot_flat).view(*lead, n_cls, -1)   # (N, E) -> (..., C, E)
