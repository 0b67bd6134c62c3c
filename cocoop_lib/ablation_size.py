"""How long the ablation's context is: the CoOp context whose parameter count matches CoCoOp's
(60 vectors for ViT-B/16, as in the paper; another backbone's from its widths, kept short enough
for its longest class name), and the token counts that needs.

    from cocoop_lib.ablation_size import ablation_n_ctx
    long_ctx = ablation_n_ctx(P)         # P: checked parameters; P.n_ctx if given
"""
from __future__ import annotations

import functools


# The paper's parameter-matched CoOp context for ViT-B/16 (text width and embedding 512: 60 vectors,
# 30,720 parameters against CoCoOp's 35,360)
PAPER_MATCHED_N_CTX = 60


def _paper_widths(ctx_dim: int, embed_dim: int) -> bool:
    """ViT-B/16's widths, for which the matched context is :data:`PAPER_MATCHED_N_CTX`."""
    return ctx_dim == 512 and embed_dim == 512


def matched_n_ctx(backbone_info: dict | None = None, *, ctx_dim: int = 512, embed_dim: int = 512,
                  context_length: int = 77, longest_name: int = 12) -> int:
    """The parameter-matched context length of the ablation.

    ViT-B/16 (ctx_dim 512): :data:`PAPER_MATCHED_N_CTX`, the paper's. For another width: the
    same ratio of CoCoOp's count, kept short enough that the prompt (SOS, context, the longest
    class name, ".", EOT) fits the text encoder.
    """
    if backbone_info:
        ctx_dim = backbone_info.get("text_width", ctx_dim)
        embed_dim = backbone_info.get("embed_dim", embed_dim)
    if _paper_widths(ctx_dim, embed_dim):
        return PAPER_MATCHED_N_CTX
    hidden = embed_dim // 16
    cocoop = 4 * ctx_dim + embed_dim * hidden + hidden + hidden * ctx_dim + ctx_dim
    n = round(cocoop * (30_720 / 35_360) / ctx_dim)
    return max(5, min(n, context_length - longest_name - 3))


def backbone_dims(P) -> dict:
    """Widths of the backbone (read from its config.json, weights not loaded)."""
    import json

    from .backbone import resolve_backbone_folder

    cfg = json.loads((resolve_backbone_folder(P.backbone) / "config.json").read_text())
    text, vision = cfg.get("text_config", {}), cfg.get("vision_config", {})
    return {"text_width": text.get("hidden_size", 512), "embed_dim": cfg.get("projection_dim", 512),
            "context_length": text.get("max_position_embeddings", 77),
            "vision_width": vision.get("hidden_size"), "image_size": vision.get("image_size")}


def longest_classname_tokens(P) -> int:
    """Most tokens any class name (with its ".") of the base-to-new datasets takes."""
    from transformers import CLIPTokenizer

    from .backbone import CLIP_TOKENIZER_DIR
    from .datasets import load_dataset

    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    longest = 1
    for d in P.world.base_to_new:
        names = load_dataset(d, P.data_root).classnames
        longest = max([longest] + [len(tok(n.replace("_", " ") + ".")["input_ids"]) - 2 for n in names])
    return longest


def ablation_n_ctx(P) -> int:
    """The long context of the ablation: ``n_ctx`` if given, else parameter-matched for the
    backbone (60 for ViT-B/16, as in the paper)."""
    if P.n_ctx:
        return P.n_ctx
    dims = backbone_dims(P)
    if _paper_widths(dims["text_width"], dims["embed_dim"]):
        return PAPER_MATCHED_N_CTX    # the paper's (no need to read every class name)
    return matched_n_ctx(dims, context_length=dims["context_length"],
                         longest_name=longest_classname_tokens(P))


@functools.lru_cache(maxsize=64)
def ctx_init_tokens(ctx_init: str) -> int:
    """How many context vectors the phrase ``ctx_init`` gives ("a photo of a": 4): its CLIP tokens
    without SOS and EOT."""
    from transformers import CLIPTokenizer

    from .backbone import CLIP_TOKENIZER_DIR

    return len(CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)(ctx_init)["input_ids"]) - 2
