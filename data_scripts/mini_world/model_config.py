"""The mini CLIP's architecture: a plain Hugging Face CLIPConfig (no custom layers)."""

from __future__ import annotations

import math

from transformers import CLIPConfig

IMAGE_SIZE = 32
CONTEXT_LENGTH = 32
LOGIT_SCALE_INIT = math.log(1 / 0.07)  # CLIP's init; it may rise to 100 (see pretrain.py)


def mini_clip_config(text_layers: int = 4, text_heads: int = 2) -> CLIPConfig:
    text = dict(
        vocab_size=49408, hidden_size=128, intermediate_size=512, num_hidden_layers=text_layers,
        num_attention_heads=text_heads, max_position_embeddings=CONTEXT_LENGTH, hidden_act="quick_gelu",
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, projection_dim=128,
    )
    vision = dict(
        hidden_size=192, intermediate_size=768, num_hidden_layers=4, num_attention_heads=3,
        image_size=IMAGE_SIZE, patch_size=4, num_channels=3, hidden_act="quick_gelu",
        projection_dim=128,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=128,
                      logit_scale_init_value=LOGIT_SCALE_INIT)
