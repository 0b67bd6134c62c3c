"""FastPromptEncoder: the plain encoder's function, computed with exact speed-ups.

Same call as :class:`cocoop_lib.prompt_encoders.PlainPromptEncoder`; the same logits and gradients
up to float rounding (tests/test_fast_prompt_encoder.py compares the two; tests/test_faithful.py runs
both against the official port). The switches are fields:

* ``share_prefix``: rows shared by all classes (SOS + context) once per image
  (:func:`.shared_prefix.forward_shared_prefix`);
* ``length_buckets`` / ``min_bucket_prompts``: classes of similar prompt length in separate calls,
  each cut to its own longest EOT (:func:`plan_calls`);
* ``max_prompts``: a conditional learner builds at most this many (image, class) prompts at once
  (image groups), so evaluation memory is bounded for any test batch and class count;
* ``class_chunk``: at most this many classes per call, under activation checkpointing in training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from torch.utils.checkpoint import checkpoint

from ..text_encoder import PromptTextEncoder
from .plan import plan_calls
from .shared_prefix import forward_shared_prefix, shared_prefix_rows


@dataclass(eq=False)
class FastPromptEncoder:
    text_encoder: PromptTextEncoder
    class_chunk: int | None = None
    share_prefix: bool = True
    max_prompts: int = 4096
    length_buckets: bool = True
    min_bucket_prompts: int = 64          # CPU
    min_bucket_prompts_cuda: int = 2048   # GPU, where small calls are launch-bound
    _cache: dict = field(default_factory=dict, repr=False)

    def image_groups(self, n_images: int, n_cls: int) -> int:
        """Images whose prompts one call builds and encodes (at most ``max_prompts`` prompts)."""
        return max(1, self.max_prompts // n_cls)

    def forward_shared_prefix(self, prefix, suffix, eot, length=None):
        """:func:`.shared_prefix.forward_shared_prefix` over this encoder's text tower."""
        return forward_shared_prefix(self.text_encoder, prefix, suffix, eot, length)

    def plan(self, eot: torch.Tensor, groups: int, chunk: int):
        """:func:`plan_calls` for ``eot``, on its device, cached per EOT buffer (the learner
        rebuilds it when its class list changes), so a training step never waits on the GPU."""
        if self._cache.get("eot") is not eot:
            self._cache.clear()
            self._cache.update(eot=eot, eot_cpu=eot.cpu(), plans={})
        min_prompts = self.min_bucket_prompts_cuda if eot.is_cuda else self.min_bucket_prompts
        key = (groups, chunk, bool(self.length_buckets), min_prompts)
        if key not in self._cache["plans"]:
            calls, inverse = plan_calls(self._cache["eot_cpu"], groups, chunk,
                                        self.length_buckets, min_prompts)
            calls = [(None if c is None else c.to(eot.device),
                      eot if c is None else eot[c.to(eot.device)], length) for c, length in calls]
            self._cache["plans"][key] = (calls, None if inverse is None else inverse.to(eot.device))
        return self._cache["plans"][key]

    def _flat(self, prompts: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        """One text-encoder call: (G, K, L, D), eot (K,) -> (G, K, E)."""
        groups, per_group = prompts.shape[:2]
        flat = prompts.reshape(-1, *prompts.shape[2:])                # (G*K, L, D)
        return self.text_encoder(flat, eot.repeat(groups)).view(groups, per_group, -1)

    def __call__(self, learner, image_features: torch.Tensor | None = None) -> torch.Tensor:
        """Text features of ``learner``'s prompts: (C, E), or (B, C, E) for a conditional learner
        (its prompts built for :meth:`image_groups` images at a time); not normalised."""
        prefix = shared_prefix_rows(learner)
        if not getattr(learner, "conditional", False):
            prompts, eot = learner(image_features)                     # (C, L, D), (C,)
            return self._encode(prompts[None], eot, len(eot), prefix)[0]
        n_cls = len(learner.classnames)
        group = self.image_groups(image_features.shape[0], n_cls)
        feats = []
        for start in range(0, image_features.shape[0], group):
            prompts, eot = learner(image_features[start:start + group])  # (b, C, L, D)
            feats.append(self._encode(prompts, eot, self.class_chunk or len(eot), prefix))
        return torch.cat(feats)                                        # (B, C, E)

    def _encode(self, prompts, eot, chunk, prefix_len):
        """Text features (G, C, E) of prompts (G, C, L, D), at most ``chunk`` classes per call."""
        n_cls = prompts.shape[1]
        prefix_len = prefix_len if self.share_prefix else 0
        calls, inverse = self.plan(eot, prompts.shape[0], chunk)
        if prefix_len and int(self._cache["eot_cpu"].min()) < prefix_len:
            raise ValueError(f"An EOT position lies inside the shared prefix ({prefix_len} rows).")
        prompts = prompts[:, :, :max(c[2] for c in calls)]              # exact: causal attention
        feats = []
        for classes, e, length in calls:
            p = prompts if classes is None else prompts[:, classes]     # (G, c, L, D)
            if prefix_len:
                fn = partial(self.forward_shared_prefix, length=length)
                # prefix (G, P, D), suffix (G, c, S, D)
                args = (prompts[:, 0, :prefix_len], p[:, :, prefix_len:length], e)
            else:
                fn, args = self._flat, (p[:, :, :length], e)
            if torch.is_grad_enabled() and chunk < n_cls:
                feats.append(checkpoint(fn, *args, use_reentrant=False))
            else:
                feats.append(fn(*args))                                 # (G, c, E)
        out = torch.cat(feats, dim=1) if len(feats) > 1 else feats[0]
        return out if inverse is None else out[:, inverse]              # call order -> class order
