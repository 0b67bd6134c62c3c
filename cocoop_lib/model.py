"""PromptedCLIP: frozen CLIP image and text towers around a prompt learner.

Image features come from the frozen image encoder without autograd; logits are
``logit_scale * cos(image feature, text feature of each class prompt)``.
"""
from __future__ import annotations

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
    """

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

    def text_features(self, image_features: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised class text features: (C, E), or (B, C, E) for a conditional learner."""
        prompts, eot = self.prompt_learner(image_features)
        if prompts.dim() == 3:                                         # (C, L, D)
            return F.normalize(self.text_encoder(prompts, eot), dim=-1)
        batch, n_cls = prompts.shape[:2]
        chunk = self.class_chunk or n_cls
        feats = []
        for start in range(0, n_cls, chunk):
            p = prompts[:, start:start + chunk]                        # (B, c, L, D)
            e = eot[start:start + chunk].repeat(batch)                 # (B*c,)
            flat = p.reshape(-1, *p.shape[2:])                         # (B, c, L, D) -> (B*c, L, D)
            if torch.is_grad_enabled() and chunk < n_cls:
                out = checkpoint(self.text_encoder, flat, e, use_reentrant=False)
            else:
                out = self.text_encoder(flat, e)
            feats.append(out.view(batch, -1, out.shape[-1]))           # (B*c, E) -> (B, c, E)
        return F.normalize(torch.cat(feats, dim=1), dim=-1)

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
