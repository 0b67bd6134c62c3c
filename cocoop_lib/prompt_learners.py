"""Prompt learners: hand-written (zero-shot), CoOp, and CoCoOp.

Every learner turns a class list into prompt embeddings for the text encoder:

* ``[SOS] [v1 ... vM] [tokens of "classname."] [EOT] [padding]`` (CoOp, class token at the end);
* CoCoOp adds ``pi(x) = MetaNet(image feature)`` to every context vector, so each image gets its
  own prompts: ``v_m(x) = v_m + pi(x)``.

Learners return ``(prompts, eot)``: prompts are (C, L, D) when shared by all images and
(B, C, L, D) when conditioned on the images; eot is (C,). The fixed SOS embedding and the
class-name/EOT tail are non-persistent buffers rebuilt by ``set_classnames``, so a learner's
``state_dict`` holds only learned parameters and loads against any class list.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .frozen import hold_frozen
from .backbone import Backbone
from .text_encoder import eot_positions, tokenize

METHODS = ("zeroshot", "coop", "cocoop")


def _clean(classname: str) -> str:
    return classname.replace("_", " ")


class ZeroShotPrompts(nn.Module):
    """CLIP's hand-written prompt, e.g. "a photo of a {}." per dataset; nothing is learned."""

    conditional = False

    def __init__(self, backbone: Backbone, classnames: list[str], template: str = "a photo of a {}."):
        super().__init__()
        if "{}" not in template:
            raise ValueError(f"Template {template!r} needs a '{{}}' where the class name goes.")
        self.tokenizer = backbone.tokenizer
        self.context_length = backbone.context_length
        # the backbone's frozen token table, kept out of this module's parameters and state_dict
        hold_frozen(self, "token_embedding", backbone.model.text_model.embeddings.token_embedding)
        self.template = template
        self.set_classnames(classnames)

    def set_classnames(self, classnames: list[str], template: str | None = None) -> None:
        self.template = template or self.template
        self.classnames = list(classnames)
        ids = tokenize(self.tokenizer, [self.template.format(_clean(c)) for c in classnames],
                       self.context_length)                                     # (C, 77)
        ids = ids[:, : int(eot_positions(ids).max()) + 1]   # exact: nothing after EOT is read
        device = self.token_embedding.weight.device
        with torch.no_grad():
            self.register_buffer("embeddings", self.token_embedding(ids.to(device)), persistent=False)
        self.register_buffer("eot", eot_positions(ids).to(device), persistent=False)

    def forward(self, image_features: torch.Tensor | None = None):
        return self.embeddings, self.eot                                         # (C, L, D), (C,)


class CoOpPromptLearner(nn.Module):
    """CoOp: M learned context vectors shared by all classes (or one set per class with CSC).

    Args:
        backbone: the frozen CLIP.
        classnames: class names, index = label.
        n_ctx: number of context vectors M. With ``ctx_init`` it must equal the number of tokens
            of the init words (or be None to take it from them).
        ctx_init: words whose token embeddings initialise the context ("a photo of a"); None or
            "" gives M vectors drawn from N(0, 0.02) and the placeholder "X X X X".
        class_token_position: "end" (paper), "middle" or "front".
        csc: class-specific context (one set of M vectors per class; cannot change class list).
    """

    conditional = False

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int | None = 4,
                 ctx_init: str | None = "a photo of a", class_token_position: str = "end",
                 csc: bool = False):
        super().__init__()
        if class_token_position not in ("end", "middle", "front"):
            raise ValueError(f"class_token_position must be 'end', 'middle' or 'front', "
                             f"not {class_token_position!r}.")
        self.tokenizer = backbone.tokenizer
        self.context_length = backbone.context_length
        # the backbone's frozen token table, kept out of this module's parameters and state_dict
        hold_frozen(self, "token_embedding", backbone.model.text_model.embeddings.token_embedding)
        self.class_token_position = class_token_position
        self.csc = csc
        dim = backbone.ctx_dim
        weight = self.token_embedding.weight
        if ctx_init:
            ctx_init = ctx_init.replace("_", " ").strip()   # "a_photo_of_a" = 4 words, as officially
            init_ids = tokenize(self.tokenizer, [ctx_init], self.context_length)[0]
            n_init = int(eot_positions(init_ids[None])[0]) - 1
            if n_ctx is not None and n_ctx != n_init:
                raise ValueError(
                    f"n_ctx={n_ctx} disagrees with ctx_init={ctx_init!r}, which is {n_init} tokens. "
                    f"Use n_ctx={n_init}, or ctx_init=None for {n_ctx} randomly initialised vectors.")
            n_ctx = n_init
            with torch.no_grad():
                ctx = self.token_embedding(init_ids[1:1 + n_ctx].to(weight.device)).float()  # (M, D)
            if csc:
                ctx = ctx[None].repeat(len(classnames), 1, 1)                         # (C, M, D)
            self.prompt_prefix = ctx_init
        else:
            if n_ctx is None or n_ctx < 1:
                raise ValueError(f"n_ctx must be a positive integer without ctx_init, got {n_ctx}.")
            shape = (len(classnames), n_ctx, dim) if csc else (n_ctx, dim)
            ctx = torch.empty(shape).normal_(std=0.02)
            self.prompt_prefix = " ".join(["X"] * n_ctx)
        self.n_ctx = n_ctx
        self.ctx = nn.Parameter(ctx.to(device=weight.device, dtype=weight.dtype))
        self.set_classnames(classnames)

    def set_classnames(self, classnames: list[str]) -> None:
        """Rebuild the fixed prompt parts for a new class list (base -> new, cross-dataset)."""
        if self.csc and len(classnames) != self.ctx.shape[0]:
            raise ValueError(f"Class-specific context was learned for {self.ctx.shape[0]} classes and "
                             f"cannot serve {len(classnames)} others; use csc=False to transfer.")
        self.classnames = list(classnames)
        names = [_clean(c) for c in classnames]
        ids = tokenize(self.tokenizer, [f"{self.prompt_prefix} {n}." for n in names],
                       self.context_length)                                         # (C, 77)
        ids = ids[:, : int(eot_positions(ids).max()) + 1]   # exact: nothing after EOT is read
        device = self.token_embedding.weight.device
        with torch.no_grad():
            emb = self.token_embedding(ids.to(device))                              # (C, L, D)
        self.register_buffer("token_prefix", emb[:, :1], persistent=False)          # SOS
        self.register_buffer("token_suffix", emb[:, 1 + self.n_ctx:], persistent=False)  # name . EOT pad
        self.register_buffer("eot", eot_positions(ids).to(device), persistent=False)
        self.name_lens = [len(self.tokenizer(n)["input_ids"]) - 2 for n in names]

    def assemble(self, ctx: torch.Tensor) -> torch.Tensor:
        """Prompts from context vectors, class token at the end.

        ctx (M, D) -> (C, L, D); (C, M, D) -> (C, L, D); (B, M, D) -> (B, C, L, D).
        """
        n_cls = self.token_prefix.shape[0]
        prefix, suffix = self.token_prefix.to(ctx.dtype), self.token_suffix.to(ctx.dtype)
        if ctx.dim() == 2:
            ctx = ctx[None].expand(n_cls, -1, -1)                                   # (M,D)->(C,M,D)
            return torch.cat([prefix, ctx, suffix], dim=1)
        if ctx.shape[0] == n_cls and not getattr(self, "conditional", False):
            return torch.cat([prefix, ctx, suffix], dim=1)                          # CSC
        batch = ctx.shape[0]
        ctx = ctx[:, None].expand(-1, n_cls, -1, -1)                                # (B,C,M,D)
        return torch.cat([prefix[None].expand(batch, -1, -1, -1), ctx,
                          suffix[None].expand(batch, -1, -1, -1)], dim=2)           # (B,C,L,D)

    def _assemble_per_class(self, ctx: torch.Tensor) -> torch.Tensor:
        """Class token in the middle of or before the context (CoOp options): (C, L, D)."""
        if ctx.dim() == 2:
            ctx = ctx[None].expand(len(self.classnames), -1, -1)
        half = self.n_ctx // 2
        prompts = []
        for i, name_len in enumerate(self.name_lens):
            prefix = self.token_prefix[i:i + 1].to(ctx.dtype)
            name = self.token_suffix[i:i + 1, :name_len].to(ctx.dtype)
            rest = self.token_suffix[i:i + 1, name_len:].to(ctx.dtype)
            c = ctx[i:i + 1]
            if self.class_token_position == "middle":
                parts = [prefix, c[:, :half], name, c[:, half:], rest]
            else:
                parts = [prefix, name, c, rest]
            prompts.append(torch.cat(parts, dim=1))
        return torch.cat(prompts, dim=0)

    def forward(self, image_features: torch.Tensor | None = None):
        if self.class_token_position == "end":
            return self.assemble(self.ctx), self.eot
        return self._assemble_per_class(self.ctx), self.eot


class CoCoOpPromptLearner(CoOpPromptLearner):
    """CoCoOp: CoOp's context plus a Meta-Net shift conditioned on each image.

    Meta-Net: Linear(vis_dim -> vis_dim // 16) - ReLU - Linear(-> ctx_dim). forward takes the
    L2-normalised image features (B, E) and returns prompts (B, C, L, D).
    """

    conditional = True

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int | None = 4,
                 ctx_init: str | None = "a photo of a"):
        super().__init__(backbone, classnames, n_ctx=n_ctx, ctx_init=ctx_init)
        vis_dim, ctx_dim = backbone.embed_dim, backbone.ctx_dim
        dtype = backbone.model.text_projection.weight.dtype
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ])).to(device=self.ctx.device, dtype=dtype)

    def forward(self, image_features: torch.Tensor):
        bias = self.meta_net(image_features.to(self.ctx.dtype))                     # (B, D)
        ctx = self.ctx[None] + bias[:, None, :]                                     # (B, M, D)
        return self.assemble(ctx), self.eot                                          # (B, C, L, D)


def build_prompt_learner(method: str, backbone: Backbone, classnames: list[str], *,
                         template: str = "a photo of a {}.", n_ctx: int | None = 4,
                         ctx_init: str | None = "a photo of a", class_token_position: str = "end",
                         csc: bool = False) -> nn.Module:
    """The learner for ``method`` in ("zeroshot", "coop", "cocoop")."""
    if method == "zeroshot":
        return ZeroShotPrompts(backbone, classnames, template)
    if method == "coop":
        return CoOpPromptLearner(backbone, classnames, n_ctx, ctx_init, class_token_position, csc)
    if method == "cocoop":
        return CoCoOpPromptLearner(backbone, classnames, n_ctx, ctx_init)
    raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")


def count_trainable(module: nn.Module) -> int:
    """Number of parameters with requires_grad (what the optimiser updates)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
