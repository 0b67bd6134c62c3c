"""PromptedCLIP: frozen CLIP image and text towers around a prompt learner.

Image features come from the frozen image encoder without autograd; logits are
``logit_scale * cos(image feature, text feature of each class prompt)``.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .backbone import Backbone
from .text_encoder import PromptTextEncoder


class PromptedCLIP(nn.Module):
    """CLIP with learnable prompts.

    Args:
        backbone: the frozen CLIP.
        prompt_learner: a learner from :mod:`cocoop_lib.prompt_learners`.
        class_chunk: for conditional learners, run the text encoder on at most this many classes
            at a time (with activation checkpointing in training), so memory stays bounded for
            many classes; None runs all classes in one call.

    Exact speed-ups (same logits and gradients up to float rounding): the image encoder runs
    without autograd; one text-encoder call covers many (image, class) prompts; prompts are cut to
    their longest EOT (:class:`PromptTextEncoder`), in buckets of similar length
    (``length_buckets``); rows shared by all classes (SOS + context) are computed once per image
    (``share_prefix``).
    """

    # Exact speed-ups that can be switched off (class attributes; the benchmark ablates them).
    share_prefix = True    # run the SOS + context rows, shared by all classes, once per image
    max_prompts = 4096     # conditional learners: at most this many (image, class) prompts at once
    length_buckets = True  # group classes of similar prompt length into separate calls
    min_bucket_prompts = 64          # ... each call with at least this many prompts (CPU)
    min_bucket_prompts_cuda = 2048   # on a GPU, where small calls are launch-bound

    def __init__(self, backbone: Backbone, prompt_learner: nn.Module, class_chunk: int | None = None):
        super().__init__()
        # the frozen CLIP is not a submodule: state_dict() and parameters() hold only the learner
        self.__dict__["clip"] = backbone.model
        self.__dict__["backbone"] = backbone
        self.prompt_learner = prompt_learner
        self.text_encoder = PromptTextEncoder(backbone.model)
        self.text_encoder.requires_grad_(False)
        self.logit_scale = float(backbone.model.logit_scale.exp())
        self.class_chunk = class_chunk

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.prompt_learner, "conditional", False))

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features: (B, 3, H, W) -> (B, E)."""
        dtype = self.clip.visual_projection.weight.dtype
        return F.normalize(self.clip.get_image_features(pixel_values=images.to(dtype)), dim=-1)

    def _prefix_len(self) -> int:
        """Rows every class prompt shares (SOS + M context vectors), 0 when there are none.

        CoOp / CoCoOp with the class token at the end and one shared context start every prompt
        of an image with the same 1 + M rows; zero-shot, class-specific context and the
        middle / front class positions do not.
        """
        learner = self.prompt_learner
        if (not self.share_prefix or getattr(learner, "class_token_position", None) != "end"
                or getattr(learner, "csc", True)):
            return 0
        return 1 + int(learner.n_ctx)

    def _flat_features(self, prompts: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        """One text-encoder call on all prompts: (G, K, L, D), eot (K,) -> (G, K, E)."""
        groups, per_group = prompts.shape[:2]
        flat = prompts.reshape(-1, *prompts.shape[2:])                # (G*K, L, D)
        return self.text_encoder(flat, eot.repeat(groups)).view(groups, per_group, -1)

    def _call_plan(self, eot: torch.Tensor, groups: int, chunk: int) -> tuple[list, torch.Tensor | None]:
        """How to split the classes into text-encoder calls: ([(classes, eot, length)], inverse).

        ``classes`` is None for one call over all classes in order, else an index tensor; ``length``
        is the call's cut (its longest EOT + 1); ``inverse`` puts the concatenated call outputs back
        in class order (None when they already are). With ``length_buckets`` classes are sorted by
        EOT position and cut where the length changes once a call holds ``min_bucket_prompts``
        prompts (``groups`` per class), so short prompts are not padded to the longest; no call
        has more than ``chunk`` classes. Plans are cached per EOT buffer (the learner rebuilds it
        when its class list changes), so a training step never waits on the GPU to plan.
        """
        if self.__dict__.get("_plan_eot") is not eot:
            self.__dict__.update(_plan_eot=eot, _plan_eot_cpu=eot.cpu(), _plans={})
        min_prompts = self.min_bucket_prompts_cuda if eot.is_cuda else self.min_bucket_prompts
        key = (groups, chunk, bool(self.length_buckets), min_prompts)
        if key in self._plans:
            return self._plans[key]
        lengths = self._plan_eot_cpu
        n_cls, min_cls = len(lengths), -(-min_prompts // groups)                 # ceil
        if n_cls <= chunk and (not self.length_buckets or n_cls < 2 * min_cls):
            plan = ([(None, eot, int(lengths.max()) + 1)], None)
        else:
            order = (torch.argsort(lengths, stable=True) if self.length_buckets
                     else torch.arange(n_cls))
            sorted_lengths = lengths[order].tolist()
            buckets, start = [], 0
            for i in range(1, n_cls + 1):
                new_length = (self.length_buckets and i < n_cls and i - start >= min_cls
                              and sorted_lengths[i] != sorted_lengths[i - 1])
                if i == n_cls or i - start == chunk or new_length:
                    buckets.append(order[start:i])
                    start = i
            if (len(buckets) > 1 and len(buckets[-1]) < min_cls
                    and len(buckets[-2]) + len(buckets[-1]) <= chunk):
                buckets[-2:] = [torch.cat(buckets[-2:])]                       # no tiny last call
            calls = [(b.to(eot.device), eot[b.to(eot.device)], int(lengths[b].max()) + 1)
                     for b in buckets]
            plan = (calls, torch.argsort(torch.cat(buckets)).to(eot.device))
        self._plans[key] = plan
        return plan

    def _encode_prompts(self, prompts: torch.Tensor, eot: torch.Tensor, chunk: int) -> torch.Tensor:
        """Text features (G, C, E) of prompts (G, C, L, D), at most ``chunk`` classes per call.

        With a shared prefix the prefix rows go through the encoder once per group of prompts
        (``forward_shared_prefix``); every call is cut to its own longest EOT (length buckets).
        Calls run under activation checkpointing when gradients are on and ``chunk`` < C, so
        training memory holds one chunk's activations at a time.
        """
        groups, n_cls = prompts.shape[:2]
        prefix_len = self._prefix_len()
        calls, inverse = self._call_plan(eot, groups, chunk)
        if prefix_len and int(self._plan_eot_cpu.min()) < prefix_len:
            raise ValueError(f"An EOT position lies inside the shared prefix ({prefix_len} rows).")
        prompts = prompts[:, :, :max(c[2] for c in calls)]              # exact: causal attention
        feats = []
        for classes, e, length in calls:
            p = prompts if classes is None else prompts[:, classes]     # (G, c, L, D)
            if prefix_len:
                fn = partial(self.text_encoder.forward_shared_prefix, length=length)
                # prefix (G, P, D), suffix (G, c, S, D)
                args = (prompts[:, 0, :prefix_len], p[:, :, prefix_len:length], e)
            else:
                fn, args = self._flat_features, (p[:, :, :length], e)
            if torch.is_grad_enabled() and chunk < n_cls:
                feats.append(checkpoint(fn, *args, use_reentrant=False))
            else:
                feats.append(fn(*args))                                 # (G, c, E)
        out = torch.cat(feats, dim=1) if len(feats) > 1 else feats[0]
        return out if inverse is None else out[:, inverse]              # call order -> class order

    def text_features(self, image_features: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised class text features: (C, E), or (B, C, E) for a conditional learner.

        A conditional learner runs on groups of images holding at most ``max_prompts``
        (image, class) prompts, so evaluation memory is bounded for any test batch and class count.
        """
        if not self.conditional:
            prompts, eot = self.prompt_learner(image_features)         # (C, L, D), (C,)
            return F.normalize(self._encode_prompts(prompts[None], eot, len(eot))[0], dim=-1)
        n_cls = len(self.prompt_learner.classnames)
        group = max(1, self.max_prompts // n_cls)
        feats = []
        for start in range(0, image_features.shape[0], group):
            prompts, eot = self.prompt_learner(image_features[start:start + group])  # (b, C, L, D)
            feats.append(self._encode_prompts(prompts, eot, self.class_chunk or n_cls))
        return F.normalize(torch.cat(feats), dim=-1)                   # (B, C, E)

    def logits_from_features(self, image_features: torch.Tensor,
                             text_features: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, C) for normalised image features (B, E).

        ``text_features`` (C, E) can be passed in when they do not depend on the image (zero-shot,
        CoOp) so an evaluation computes them once.
        """
        if text_features is None:
            text_features = self.text_features(image_features if self.conditional else None)
        text_features = text_features.to(image_features.dtype)
        if text_features.dim() == 2:
            return self.logit_scale * image_features @ text_features.t()
        # (B, E) x (B, C, E) -> (B, C)
        return self.logit_scale * torch.einsum("be,bce->bc", image_features, text_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) for a batch of images (B, 3, H, W)."""
        return self.logits_from_features(self.encode_images(images))
