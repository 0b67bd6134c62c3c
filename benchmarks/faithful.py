"""A faithful port of the official CoCoOp / CoOp loops: the baseline of the speed benchmark.

Written from the facts of the official code (KaiyangZhou/CoOp ``trainers/cocoop.py`` and
``trainers/coop.py`` on top of openai/CLIP ``clip/model.py``), not copied from it:

* prompts are padded to the full context (77 tokens for CLIP) and never cut;
* the text transformer runs in (L, N, D) layout with a multi-head attention whose q, k, v
  projections form one (3D, D) matrix and whose causal mask is an explicit float matrix
  (0 on and below the diagonal, -inf above), as ``nn.MultiheadAttention`` in CLIP does;
  LayerNorms compute in float32 and cast back (CLIP's fp16-safe LayerNorm);
* CoCoOp builds its prompts with a Python loop over the images, then runs the text encoder once
  per image (on that image's C prompts), in training and in evaluation;
* the image encoder runs with autograd enabled in training (no ``no_grad``), as the official
  ``CustomCLIP.forward`` does; the frozen weights mean no graph is recorded for it.

The port shares the frozen CLIP weights and the *learned parameters* (``ctx`` and the Meta-Net) of
one of the library's learners, so both paths compute the same function of the same parameters.
Everything else (tokenised prompts, SOS / class-name embeddings, EOT positions) it rebuilds
itself from the class names, the official way. It is kept here, out of the library, as the
reference the benchmark measures against and the tests check the library with.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cocoop_lib.backbone import Backbone
from cocoop_lib.text_encoder import tokenize


def causal_float_mask(length: int) -> torch.Tensor:
    """CLIP's additive attention mask: (L, L) float, -inf above the diagonal, 0 elsewhere."""
    return torch.full((length, length), float("-inf")).triu_(1)


def _layer_norm_fp32(ln: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """CLIP's LayerNorm: computed in float32, cast back to the input's dtype."""
    out = F.layer_norm(x.float(), ln.normalized_shape, ln.weight.float(), ln.bias.float(), ln.eps)
    return out.to(x.dtype)


class FaithfulTextEncoder(nn.Module):
    """The official text encoder over full-length prompts.

    forward(prompts (N, 77, D), tokenized_prompts (N, 77)) -> text features (N, E).
    """

    def __init__(self, backbone: Backbone):
        super().__init__()
        text = backbone.model.text_model
        self.__dict__["clip"] = backbone.model          # shared frozen weights, not a submodule
        self.heads = text.encoder.layers[0].self_attn.num_heads
        length = text.embeddings.position_embedding.num_embeddings
        device = text.embeddings.position_embedding.weight.device
        self.register_buffer("attn_mask", causal_float_mask(length).to(device), persistent=False)
        # nn.MultiheadAttention keeps q, k, v as one in_proj; build it once from the frozen weights
        for i, layer in enumerate(text.encoder.layers):
            a = layer.self_attn
            with torch.no_grad():
                w = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])   # (3D, D)
                b = torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])         # (3D,)
            self.register_buffer(f"in_proj_weight_{i}", w, persistent=False)
            self.register_buffer(f"in_proj_bias_{i}", b, persistent=False)

    def forward(self, prompts: torch.Tensor, tokenized_prompts: torch.Tensor) -> torch.Tensor:
        text = self.clip.text_model
        dtype = prompts.dtype
        x = prompts + text.embeddings.position_embedding.weight.to(dtype)       # (N, 77, D)
        x = x.permute(1, 0, 2)                                                  # NLD -> LND
        width = x.shape[-1]
        for i, layer in enumerate(text.encoder.layers):
            h = _layer_norm_fp32(layer.layer_norm1, x)
            attn = F.multi_head_attention_forward(
                h, h, h, width, self.heads,
                getattr(self, f"in_proj_weight_{i}"), getattr(self, f"in_proj_bias_{i}"),
                None, None, False, 0.0,
                layer.self_attn.out_proj.weight, layer.self_attn.out_proj.bias,
                training=self.training, need_weights=False,
                attn_mask=self.attn_mask.to(x.device, dtype))[0]                            # (77, N, D)
            x = x + attn
            x = x + layer.mlp(_layer_norm_fp32(layer.layer_norm2, x))   # c_fc, QuickGELU, c_proj
        x = x.permute(1, 0, 2)                                                  # LND -> NLD
        x = _layer_norm_fp32(text.final_layer_norm, x)
        # the EOT row: EOT is the largest token id, so argmax finds it
        x = x[torch.arange(x.shape[0], device=x.device), tokenized_prompts.argmax(dim=-1)]
        return x @ self.clip.text_projection.weight.t()                         # (N, D) -> (N, E)


class _FaithfulBase(nn.Module):
    """What the official CoOp and CoCoOp models share: tokenised prompts and fixed embeddings."""

    def __init__(self, backbone: Backbone, learner: nn.Module):
        super().__init__()
        self.__dict__["clip"] = backbone.model
        self.__dict__["learner"] = learner               # owns ctx (and the Meta-Net)
        self.text_encoder = FaithfulTextEncoder(backbone)
        self.n_ctx = learner.n_ctx
        names = [c.replace("_", " ") for c in learner.classnames]
        texts = [f"{learner.prompt_prefix} {name}." for name in names]
        tokenized = tokenize(backbone.tokenizer, texts, backbone.context_length)  # (C, 77)
        device = backbone.model.text_projection.weight.device
        self.register_buffer("tokenized_prompts", tokenized.to(device), persistent=False)
        with torch.no_grad():
            emb = backbone.model.text_model.embeddings.token_embedding(self.tokenized_prompts)
        self.register_buffer("token_prefix", emb[:, :1], persistent=False)                # SOS
        self.register_buffer("token_suffix", emb[:, 1 + self.n_ctx:], persistent=False)   # name . EOT
        self.n_cls = len(names)

    def construct_prompts(self, ctx: torch.Tensor) -> torch.Tensor:
        """[SOS] ctx [name . EOT pad]: ctx (C, M, D) -> prompts (C, 77, D)."""
        dtype = ctx.dtype
        return torch.cat([self.token_prefix.to(dtype), ctx, self.token_suffix.to(dtype)], dim=1)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features (B, E); autograd stays on, as in the official forward."""
        dtype = self.clip.visual_projection.weight.dtype
        f = self.clip.get_image_features(pixel_values=image.to(dtype))
        return f / f.norm(dim=-1, keepdim=True)

    def text_features(self, prompts: torch.Tensor) -> torch.Tensor:
        """L2-normalised text features of (C, 77, D) prompts: (C, E)."""
        t = self.text_encoder(prompts, self.tokenized_prompts)
        return t / t.norm(dim=-1, keepdim=True)

    def forward(self, image: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy loss when ``label`` is given (training), else logits (B, C)."""
        logits = self.logits(image)
        return logits if label is None else F.cross_entropy(logits, label)


class FaithfulCoCoOp(_FaithfulBase):
    """The official CoCoOp forward: per-image prompts, one text-encoder call per image."""

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        logit_scale = self.clip.logit_scale.exp()
        image_features = self.encode_image(image)                                # (B, E)
        bias = self.learner.meta_net(image_features)                             # (B, D)
        ctx_shifted = self.learner.ctx[None] + bias[:, None]                     # (B, M, D)
        prompts = []
        for ctx_i in ctx_shifted:                                                # per image
            prompts.append(self.construct_prompts(ctx_i[None].expand(self.n_cls, -1, -1)))
        prompts = torch.stack(prompts)                                           # (B, C, 77, D)
        logits = []
        for pts_i, imf_i in zip(prompts, image_features):                        # per image
            text_features = self.text_features(pts_i)                            # (C, E)
            logits.append(logit_scale * imf_i @ text_features.t())               # (C,)
        return torch.stack(logits)                                               # (B, C)


class FaithfulCoOp(_FaithfulBase):
    """The official CoOp forward: one set of C prompts shared by the batch (class token at end)."""

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        logit_scale = self.clip.logit_scale.exp()
        image_features = self.encode_image(image)                                # (B, E)
        ctx = self.learner.ctx
        if ctx.dim() == 2:
            ctx = ctx[None].expand(self.n_cls, -1, -1)                           # (C, M, D)
        text_features = self.text_features(self.construct_prompts(ctx))          # (C, E)
        return logit_scale * image_features @ text_features.t()                  # (B, C)


def faithful_model(backbone: Backbone, learner: nn.Module) -> _FaithfulBase:
    """The official model for a library learner (CoCoOp when it is conditional, else CoOp)."""
    if getattr(learner, "conditional", False):
        return FaithfulCoCoOp(backbone, learner)
    if getattr(learner, "class_token_position", "end") != "end":
        raise ValueError("The faithful CoOp port covers the paper's setting: class token at the end.")
    return FaithfulCoOp(backbone, learner)


def faithful_train_step(model: _FaithfulBase, optimizer: torch.optim.Optimizer,
                        images: torch.Tensor, labels: torch.Tensor) -> float:
    """The official ``forward_backward`` (fp32 / fp16 branch): loss, zero_grad, backward, step."""
    loss = model(images, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def faithful_evaluate(model: _FaithfulBase, images: torch.Tensor, labels: torch.Tensor,
                      batch_size: int = 100) -> float:
    """Dassl's ``test()``: logits per test batch under no_grad; top-1 accuracy (%)."""
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = model(images[start:start + batch_size])
        correct += int((logits.argmax(dim=-1) == labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(labels)
