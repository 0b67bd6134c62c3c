"""CLIP's text transformer run on prompt *embeddings* (so context vectors can be learned).

Hugging Face's ``CLIPTextModel.forward`` only takes token ids, so this module runs the same layers
itself: token embeddings + positional embedding, the causal transformer, final LayerNorm, the row
at the end-of-text (EOT) position, the text projection. It reuses the frozen model's weights (no
stored copies).

One exact cut, from causal attention (row t depends only on rows <= t): the EOT row depends only on
the tokens up to EOT, so each batch is cut to ``max(eot) + 1`` tokens instead of 77 before the
transformer runs. The speed engine's faster passes over the same weights live in
:mod:`cocoop_lib.fast`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
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
