"""cocoop_lib/fast/shared_prefix.py: prompts are cut at their longest EOT and the rows all classes
share are encoded once."""
import torch

from cocoop_lib.fast import shared_prefix_rows
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.text_encoder import eot_positions, tokenize
from fixtures_learners import NAMES, learner as _learner, spy_calls as _spy_calls


def test_prompts_are_cut_and_the_prefix_is_shared(tiny_backbone):
    learner = _learner(tiny_backbone, "cocoop")
    model = PromptedCLIP(tiny_backbone, learner)
    ids = tokenize(tiny_backbone.tokenizer, [f"a photo of a {n}." for n in NAMES], 77)
    cut = int(eot_positions(ids).max()) + 1
    assert shared_prefix_rows(learner) == 1 + learner.n_ctx == 5 and cut < 20   # not 77
    calls = _spy_calls(model)
    model(torch.randn(3, 3, 32, 32))
    # one call for the whole batch: 3 images x 5 prefix rows, 3 x 6 prompts of cut - 5 rows
    assert calls == [((3, 5, 64), (3, len(NAMES), cut - 5))]
