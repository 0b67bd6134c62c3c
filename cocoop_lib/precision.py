"""Numeric precision modes.

* ``fp32``: everything in float32 (default on CPU).
* ``bf16`` / ``fp16``: autocast with float32 master weights (``bf16`` is the default on GPU;
  ``fp16`` adds a gradient scaler).
* ``fp16-pure``: the official code's mode: CLIP and the prompt learner (Meta-Net included) in
  float16 and plain SGD on the float16 parameters, no master copy, no loss scaling (kept for
  faithfulness; it can produce NaN/inf losses, as users of the official code reported).
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "fp16-pure")


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """Check ``precision`` and turn "auto" into bf16 on CUDA, fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return precision


def weight_dtype(precision: str) -> torch.dtype:
    """dtype of the frozen CLIP's and the learner's weights."""
    return torch.float16 if precision == "fp16-pure" else torch.float32


def autocast_context(precision: str, device: str | torch.device, cache_enabled: bool = True):
    """An autocast context for the bf16/fp16 modes, a no-op otherwise.

    ``cache_enabled=False`` inside CUDA-graph capture (autocast's weight-cast cache must not
    outlive the capture).
    """
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(torch.device(device).type, dtype=dtype, cache_enabled=cache_enabled)
    return nullcontext()


def grad_scaler(precision: str, device: str | torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 autocast."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=(precision == "fp16"))
