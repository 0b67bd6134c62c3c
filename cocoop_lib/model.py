"""PromptedCLIP: frozen CLIP image and text towers around a prompt learner.

    p(y = i | x) = exp(s * cos(f(x), g(t_i(x)))) / sum_j exp(s * cos(f(x), g(t_j(x))))

with f the frozen image encoder, g the frozen text encoder, t_i(x) the prompt of class i
(CoCoOp: context v_m(x) = v_m + pi(x); CoOp and zero-shot: the same for every x) and s CLIP's
logit scale. The text side runs through a prompt encoder: ``"plain"``
(:class:`~cocoop_lib.prompt_encoders.PlainPromptEncoder`, the readable oracle) or ``"fast"``
(:class:`~cocoop_lib.fast.FastPromptEncoder`, the default: the same function with exact speed-ups).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Backbone
from .frozen import hold_frozen
from .prompt_encoders import PlainPromptEncoder
from .text_encoder import PromptTextEncoder


def cosine_logits(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """Cosines of unit features: (B, E) x (C, E) or (B, C, E) -> (B, C)."""
    text_features = text_features.to(image_features.dtype)
    if text_features.dim() == 2:
        return image_features @ text_features.t()
    return torch.einsum("be,bce->bc", image_features, text_features)


class PromptedCLIP(nn.Module):
    """CLIP with learnable prompts.

    Args:
        backbone: the frozen CLIP (held outside ``state_dict``).
        prompt_learner: a learner from :mod:`cocoop_lib.prompt_learners`.
        encoder: "fast" (default), "plain", or a prompt-encoder object (``encoder(learner,
            image_features) -> text features``, :mod:`cocoop_lib.prompt_encoders`).
        class_chunk: the fast encoder's option (:class:`~cocoop_lib.fast.FastPromptEncoder`).
    """

    def __init__(self, backbone: Backbone, prompt_learner: nn.Module,
                 class_chunk: int | None = None, encoder="fast"):
        super().__init__()
        hold_frozen(self, "clip", backbone.model)
        hold_frozen(self, "backbone", backbone)
        self.prompt_learner = prompt_learner
        self.text_encoder = PromptTextEncoder(backbone.model)
        self.text_encoder.requires_grad_(False)
        self.logit_scale = float(backbone.model.logit_scale.exp())
        if encoder == "fast":
            from .fast import FastPromptEncoder
            encoder = FastPromptEncoder(self.text_encoder, class_chunk=class_chunk)
        elif encoder == "plain":
            encoder = PlainPromptEncoder(self.text_encoder)
        elif isinstance(encoder, str):
            raise ValueError(f"Unknown prompt encoder {encoder!r}; choose 'fast' or 'plain'.")
        hold_frozen(self, "prompt_encoder", encoder)

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.prompt_learner, "conditional", False))

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features: (B, 3, H, W) -> (B, E)."""
        dtype = self.clip.visual_projection.weight.dtype
        return F.normalize(self.clip.get_image_features(pixel_values=images.to(dtype)), dim=-1)

    def text_features(self, image_features: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised class text features: (C, E), or (B, C, E) for a conditional learner
        (prompts t_i(x) from the learner, through the prompt encoder's text tower)."""
        return F.normalize(self.prompt_encoder(self.prompt_learner, image_features), dim=-1)

    def logits_from_features(self, image_features: torch.Tensor,
                             text_features: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, C) for normalised image features (B, E).

        ``text_features`` (C, E) can be passed in when they do not depend on the image (zero-shot,
        CoOp) so an evaluation computes them once.
        """
        if text_features is None:
            text_features = self.text_features(image_features if self.conditional else None)
        return self.logit_scale * cosine_logits(image_features, text_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) for a batch of images (B, 3, H, W)."""
        x = self.encode_images(images)                                   # (B, E), unit norm
        t = self.text_features(x if self.conditional else None)          # (B, C, E) or (C, E)
        return self.logit_scale * cosine_logits(x, t)                    # (B, C)
