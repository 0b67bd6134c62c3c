"""The benchmark's synthetic inputs: a random CLIP in ViT-B/16's shape and class-name lists whose
token lengths follow ImageNet's."""
from __future__ import annotations

import random

import torch
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

from cocoop_lib.backbone import CLIP_TOKENIZER_DIR, Backbone


def vit_b16_shaped_backbone(layers: int, device: str, seed: int = 0) -> Backbone:
    """A random CLIP in ViT-B/16's shape with ``layers`` blocks per tower (random weights time
    the same as real ones)."""
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048,
                         num_hidden_layers=layers, num_attention_heads=8,
                         max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                         pad_token_id=49407),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=layers,
                           num_attention_heads=12, image_size=224, patch_size=16),
        projection_dim=512)
    model = CLIPModel._from_config(config, attn_implementation="sdpa")
    model.eval().requires_grad_(False).to(device)
    tokenizer = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    return Backbone(model=model, tokenizer=tokenizer, source=f"random-vit-b16-shaped-{layers}l",
                    weights_path="", weights_sha256="", is_mini=False)


# single-token words of CLIP's BPE vocabulary; class names are drawn from them
WORDS = ("red blue green black white small large little big old new wild sea river lake forest "
         "mountain house road car bird fish cat dog horse tree flower leaf rock sand snow water "
         "fire stone glass wood paper table chair door window book cup bottle ship boat train plane "
         "bridge tower church garden field farm island beach desert city street park shop market "
         "bread cake apple orange lemon rice soup cheese").split()
# name lengths in tokens: about ImageNet's ("a photo of a {}." is 9 tokens on average)
NAME_TOKENS = {1: 0.40, 2: 0.30, 3: 0.17, 4: 0.08, 5: 0.03, 6: 0.02}


def class_names(n_cls: int, tokenizer) -> list[str]:
    """``n_cls`` deterministic names of 1-6 one-token words (mean 2.1 tokens).

    The first name always has the longest length (6 tokens; 11 from 500 classes on, like ImageNet's
    longest), so the library's cut length is the worst case for its class count.
    """
    words = [w for w in WORDS if len(tokenizer(w)["input_ids"]) == 3]
    rng = random.Random(n_cls)
    lengths = rng.choices(list(NAME_TOKENS), weights=list(NAME_TOKENS.values()), k=n_cls)
    lengths[0] = 11 if n_cls >= 500 else 6
    return [" ".join(rng.choice(words) for _ in range(k)) for k in lengths]


