"""The shared-prefix pass of CLIP's text tower: prompts that start with the same P rows (SOS + the
context vectors of CoOp / CoCoOp, class token at the end) have the same hidden states there in
every layer (causal attention: row t depends only on rows <= t), so those rows are computed once
per group and only the class-specific rows once per prompt.

Exact (the same function as :meth:`PromptTextEncoder.forward` on the full prompts, up to float
rounding) and over the frozen model's weights (the q/k/v weights are concatenated per call).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.bias import causal_lower_right

from ..text_encoder import PromptTextEncoder


def shared_prefix_rows(learner: nn.Module) -> int:
    """Rows every class prompt shares (SOS + M context vectors), 0 when there are none.

    CoOp / CoCoOp with the class token at the end and one shared context start every prompt of an
    image with the same 1 + M rows; zero-shot, class-specific context and the middle / front class
    positions do not.
    """
    if getattr(learner, "class_token_position", None) != "end" or getattr(learner, "csc", True):
        return 0
    return 1 + int(learner.n_ctx)


def _shared_layer(layer, x: torch.Tensor, groups: int, prefix_len: int,
                  prompts: int, suffix_len: int, mask) -> torch.Tensor:
    """One block over the rows of :func:`forward_shared_prefix`.

    x is (G*P + N*S, D): the G groups' P prefix rows, then the N prompts' S suffix rows (row-wise
    parts, LayerNorm / projections / MLP, run on all rows in one call each).
    """
    attn = layer.self_attn
    heads, width = attn.num_heads, x.shape[-1]
    n_pre = groups * prefix_len
    h = layer.layer_norm1(x)

    def split(t: torch.Tensor):
        """(G*P + N*S, D) -> prefix (G, H, P, D/H), suffix (N, H, S, D/H)."""
        pre = t[:n_pre].view(groups, prefix_len, heads, width // heads).transpose(1, 2)
        suf = t[n_pre:].view(prompts, suffix_len, heads, width // heads).transpose(1, 2)
        return pre, suf

    # q, k, v in one matmul (fewer kernels: one input-gradient matmul instead of three + adds)
    weight = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])  # (3D, D)
    bias = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])         # (3D,)
    (qp, qs), (kp, ks), (vp, vs) = (split(t) for t in F.linear(h, weight, bias).chunk(3, dim=-1))
    op = F.scaled_dot_product_attention(qp, kp, vp, is_causal=True)       # (G, H, P, D/H)
    # a suffix row sees its group's P prefix rows and its own earlier suffix rows
    per_group = prompts // groups

    def with_prefix(pre, suf):                                   # -> (N, H, P + S, D/H)
        pre = pre[:, None].expand(-1, per_group, -1, -1, -1).reshape(prompts, heads,
                                                                     prefix_len, -1)
        return torch.cat([pre, suf], dim=2)

    os_ = F.scaled_dot_product_attention(qs, with_prefix(kp, ks), with_prefix(vp, vs),
                                         attn_mask=mask)                  # (N, H, S, D/H)
    o = torch.cat([op.transpose(1, 2).reshape(n_pre, width),
                   os_.transpose(1, 2).reshape(-1, width)])              # (G*P + N*S, D)
    x = x + attn.out_proj(o)
    return x + layer.mlp(layer.layer_norm2(x))


def forward_shared_prefix(text_encoder: PromptTextEncoder, prefix: torch.Tensor,
                          suffix: torch.Tensor, eot: torch.Tensor,
                          length: int | None = None) -> torch.Tensor:
    """Text features of G x K prompts whose first P rows are shared within each group.

    Args:
        prefix: (G, P, D) rows 0..P-1 of the prompts of each group (SOS + context vectors).
        suffix: (G, K, L - P, D) the remaining rows of the K prompts of each group.
        eot: (K,) EOT position of each prompt (the same for every group), all >= P.
        length: ``max(eot) + 1`` when the caller knows it (reading it from a GPU tensor would
            make the host wait for the device); checked from ``eot`` when None.

    Returns (G, K, E), equal (up to float rounding) to ``text_encoder`` on the full prompts
    ``cat([prefix expanded over K, suffix], dim=2)``: causal attention means rows < P never
    see the suffix, so they are computed once per group instead of once per prompt.
    """
    groups, prefix_len, width = prefix.shape
    per_group = suffix.shape[1]
    if length is None:
        if int(eot.min()) < prefix_len:
            raise ValueError(f"Every EOT position must be >= the shared prefix length {prefix_len}.")
        length = int(eot.max()) + 1                        # exact: causal attention
    suffix_len = length - prefix_len
    prompts = groups * per_group
    pos = text_encoder.position_embedding.weight[:length].to(prefix.dtype)
    x = torch.cat([(prefix + pos[:prefix_len]).reshape(-1, width),        # (G*P, D)
                   (suffix[:, :, :suffix_len] + pos[prefix_len:]).reshape(-1, width)])
    mask = causal_lower_right(suffix_len, prefix_len + suffix_len)
    for layer in text_encoder.layers:
        x = _shared_layer(layer, x, groups, prefix_len, prompts, suffix_len, mask)
    x = x[groups * prefix_len:].view(groups, per_group, suffix_len, width)
    x = x[:, torch.arange(per_group, device=x.device), eot - prefix_len]     # (G, K, D)
    return text_encoder.text_projection(text_encoder.final_layer_norm(x))   # LayerNorm: per row
