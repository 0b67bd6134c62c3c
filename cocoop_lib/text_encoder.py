"""CLIP's text transformer run on prompt *embeddings* (so context vectors can be learned).

Hugging Face's ``CLIPTextModel.forward`` only takes token ids, so this module runs the same layers
itself: token embeddings + positional embedding, the causal transformer, final LayerNorm, the row
at the end-of-text (EOT) position, the text projection. It reuses the frozen model's weights (no
stored copies; the shared-prefix path concatenates the q/k/v weights per call).

Exact speed-ups, both from causal attention (row t depends only on rows <= t):

* the EOT row depends only on the tokens up to EOT, so each batch is cut to ``max(eot) + 1``
  tokens instead of 77 before the transformer runs (``forward``);
* prompts that start with the same P rows (SOS + the context vectors of CoOp / CoCoOp, class token
  at the end) have the same hidden states there in every layer, so those rows are computed once
  per group and only the class-specific rows once per prompt (``forward_shared_prefix``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.bias import causal_lower_right
from transformers import CLIPModel


def tokenize(tokenizer, texts: list[str], context_length: int) -> torch.Tensor:
    """Token ids padded to ``context_length``: (N, context_length) long tensor.

    A text longer than the context raises a ValueError naming it (CLIP would silently cut it).
    """
    ids = tokenizer(list(texts), padding="max_length", max_length=context_length,
                    truncation=False, return_tensors=None)["input_ids"]
    for text, row in zip(texts, ids):
        if len(row) > context_length:
            raise ValueError(f"Prompt {text!r} has {len(row)} tokens; this CLIP accepts at most "
                             f"{context_length}. Shorten the class name or the template.")
    return torch.tensor(ids, dtype=torch.long)


def eot_positions(token_ids: torch.Tensor) -> torch.Tensor:
    """Position of the first end-of-text token in each row: (N, L) -> (N,).

    EOT (49407) is the largest id in CLIP's vocabulary, so the first argmax is the EOT position
    (padding uses the same id but comes later).
    """
    return token_ids.argmax(dim=-1)


class PromptTextEncoder(nn.Module):
    """Frozen CLIP text tower over prompt embeddings.

    forward(prompts (N, L, D), eot (N,)) -> text features (N, E), not normalised.
    """

    def __init__(self, clip: CLIPModel):
        super().__init__()
        text = clip.text_model
        self.position_embedding = text.embeddings.position_embedding
        self.layers = text.encoder.layers
        self.final_layer_norm = text.final_layer_norm
        self.text_projection = clip.text_projection
        self.token_embedding = text.embeddings.token_embedding

    def embed_tokens(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings without positions: (N, L) -> (N, L, D)."""
        return self.token_embedding(token_ids)

    def _layer(self, layer, x: torch.Tensor) -> torch.Tensor:
        """One pre-LN transformer block with causal scaled-dot-product attention."""
        attn = layer.self_attn
        n, length, width = x.shape
        heads = attn.num_heads
        h = layer.layer_norm1(x)
        # (N, L, D) -> (N, L, H, D/H) -> (N, H, L, D/H)
        q, k, v = (proj(h).view(n, length, heads, width // heads).transpose(1, 2)
                   for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale = (D/H)^-0.5 as CLIP
        o = o.transpose(1, 2).reshape(n, length, width)              # (N, H, L, D/H) -> (N, L, D)
        x = x + attn.out_proj(o)
        return x + layer.mlp(layer.layer_norm2(x))

    def forward(self, prompts: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        length = int(eot.max()) + 1                       # exact: causal attention
        x = prompts[:, :length] + self.position_embedding.weight[:length].to(prompts.dtype)
        for layer in self.layers:
            x = self._layer(layer, x)
        x = self.final_layer_norm(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]   # (N, L, D) -> (N, D)
        return self.text_projection(x)

    def _shared_layer(self, layer, x: torch.Tensor, groups: int, prefix_len: int,
                      prompts: int, suffix_len: int, mask) -> torch.Tensor:
        """One block over the rows of ``forward_shared_prefix``.

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

    def forward_shared_prefix(self, prefix: torch.Tensor, suffix: torch.Tensor,
                              eot: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Text features of G x K prompts whose first P rows are shared within each group.

        Args:
            prefix: (G, P, D) rows 0..P-1 of the prompts of each group (SOS + context vectors).
            suffix: (G, K, L - P, D) the remaining rows of the K prompts of each group.
            eot: (K,) EOT position of each prompt (the same for every group), all >= P.
            length: ``max(eot) + 1`` when the caller knows it (reading it from a GPU tensor would
                make the host wait for the device); checked from ``eot`` when None.

        Returns (G, K, E), equal (up to float rounding) to ``forward`` on the full prompts
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
        pos = self.position_embedding.weight[:length].to(prefix.dtype)
        x = torch.cat([(prefix + pos[:prefix_len]).reshape(-1, width),        # (G*P, D)
                       (suffix[:, :, :suffix_len] + pos[prefix_len:]).reshape(-1, width)])
        mask = causal_lower_right(suffix_len, prefix_len + suffix_len)
        for layer in self.layers:
            x = self._shared_layer(layer, x, groups, prefix_len, prompts, suffix_len, mask)
        x = x[groups * prefix_len:].view(groups, per_group, suffix_len, width)
        x = x[:, torch.arange(per_group, device=x.device), eot - prefix_len]     # (G, K, D)
        return self.text_projection(self.final_layer_norm(x))        # LayerNorm is per row
