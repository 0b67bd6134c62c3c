"""cocoop_lib/text_encoder.py: the prompt text path against the hub's text features."""
import pytest
import torch

from cocoop_lib.text_encoder import PromptTextEncoder, eot_positions, tokenize


@pytest.mark.parametrize("length", [77, None])
def test_prompt_text_path_equals_hub_text_features(tiny_backbone, length):
    texts = ["a photo of a cat.", "a dog", "a centered satellite photo of annual crop land."]
    ids = tokenize(tiny_backbone.tokenizer, texts, 77)
    if length is None:  # a truncated batch: cut right after the longest EOT
        ids = ids[:, : int(eot_positions(ids).max()) + 1]
    enc = PromptTextEncoder(tiny_backbone.model)
    with torch.no_grad():
        ours = enc(enc.embed_tokens(ids), eot_positions(ids))
        ref = tiny_backbone.model.get_text_features(input_ids=ids)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() <= 1e-5
