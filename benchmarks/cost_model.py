"""The cost model of docs/performance.md: FLOPs of CoCoOp's text and image sides, and GPU peaks.

FLOPs count 2 x multiply-accumulates; a frozen backbone's backward costs about one more forward
on the text side (BACKWARD_FACTOR).
"""
from __future__ import annotations

import platform

import torch

from cocoop_lib.fast import shared_prefix_rows
from cocoop_lib.model import PromptedCLIP

IMAGE_GFLOPS_B16 = 35.1        # ViT-B/16 image encoder forward at 224 px (12 layers)
BACKWARD_FACTOR = 2.02         # training step text cost / forward cost (frozen weights)

# Dense bf16 tensor-core peaks (TFLOP/s) by device-name fragment, most specific first.
PEAK_BF16_TFLOPS = [("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
                    ("GH200", 989.0), ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0),
                    ("A10G", 70.0), ("A10", 125.0), ("V100", 125.0), ("T4", 65.0)]


def text_gflops(length: int, width: int = 512, layers: int = 12) -> float:
    """Cost-model forward FLOPs of one prompt of ``length`` tokens (2 x MACs), in GFLOPs."""
    return layers * (2 * length * 12 * width ** 2 + 4 * length ** 2 * width) / 1e9


def shared_prefix_gflops(prefix: int, suffix: int, n_cls: int, width: int = 512,
                         layers: int = 12) -> float:
    """FLOPs the shared-prefix encoder executes for one image's C prompts (forward), in GFLOPs.

    Row-wise parts on P + C * S rows; attention: the prefix on itself, each suffix on P + S keys.
    """
    rows = prefix + n_cls * suffix
    attention = 4 * width * (prefix ** 2 + n_cls * suffix * (prefix + suffix))
    return layers * (24 * width ** 2 * rows + attention) / 1e9


def executed_text_gflops(model: PromptedCLIP, groups: int, layers: int, width: int = 512) -> float:
    """Text FLOPs per image (forward) the library really executes for its class list, from its call
    plan (:meth:`FastPromptEncoder.plan`): each call's prefix rows once, its K prompts cut to the
    call's own length."""
    eot = model.prompt_learner.eot
    n_cls = len(eot)
    enc = model.prompt_encoder
    calls, _ = enc.plan(eot, groups, enc.class_chunk or n_cls)
    prefix = shared_prefix_rows(model.prompt_learner) if enc.share_prefix else 0
    total = 0.0
    for classes, _, length in calls:
        k = n_cls if classes is None else len(classes)
        total += (shared_prefix_gflops(prefix, length - prefix, k, width, layers) if prefix
                  else k * text_gflops(length, width, layers))
    return total


def peak_bf16_tflops(device_name: str) -> float | None:
    """Dense bf16 peak of a device by its name; None where the name is not in the table."""
    for fragment, peak in PEAK_BF16_TFLOPS:
        if fragment.lower() in device_name.lower():
            return peak
    return None


def device_peak(s) -> tuple[str, float | None]:
    """(device name, bf16 peak TFLOP/s or None): ``--peak-tflops`` wins over the table."""
    name = (torch.cuda.get_device_name() if s.device.startswith("cuda")
            else platform.processor() or "cpu")
    return name, s.peak_tflops or peak_bf16_tflops(name)


