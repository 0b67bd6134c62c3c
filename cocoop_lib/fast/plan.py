"""Call plans: how to split C class prompts into text-encoder calls (a pure function)."""
from __future__ import annotations

import torch


def plan_calls(eot_cpu: torch.Tensor, groups: int, chunk: int, buckets: bool = True,
               min_prompts: int = 64) -> tuple[list[tuple[torch.Tensor | None, int]],
                                                torch.Tensor | None]:
    """Split the classes into calls: ([(classes, length)], inverse).

    Args:
        eot_cpu: (C,) EOT position of each class prompt (on the CPU).
        groups: images per call (each class costs ``groups`` prompts).
        chunk: at most this many classes per call.
        buckets: sort classes by EOT position and cut a call where the length changes once it
            holds ``min_prompts`` prompts, so short prompts are not padded to the longest.
        min_prompts: the smallest call worth its launch cost.

    ``classes`` is None for one call over all classes in order, else an index tensor; ``length``
    is the call's cut (its longest EOT + 1); ``inverse`` puts the concatenated call outputs back
    in class order (None when they already are).
    """
    n_cls, min_cls = len(eot_cpu), -(-min_prompts // groups)                   # ceil
    if n_cls <= chunk and (not buckets or n_cls < 2 * min_cls):
        return [(None, int(eot_cpu.max()) + 1)], None
    order = torch.argsort(eot_cpu, stable=True) if buckets else torch.arange(n_cls)
    sorted_lengths = eot_cpu[order].tolist()
    parts, start = [], 0
    for i in range(1, n_cls + 1):
        new_length = (buckets and i < n_cls and i - start >= min_cls
                      and sorted_lengths[i] != sorted_lengths[i - 1])
        if i == n_cls or i - start == chunk or new_length:
            parts.append(order[start:i])
            start = i
    if len(parts) > 1 and len(parts[-1]) < min_cls and len(parts[-2]) + len(parts[-1]) <= chunk:
        parts[-2:] = [torch.cat(parts[-2:])]                                    # no tiny last call
    calls = [(p, int(eot_cpu[p].max()) + 1) for p in parts]
    return calls, torch.argsort(torch.cat(parts))
