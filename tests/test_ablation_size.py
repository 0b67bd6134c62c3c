"""cocoop_lib/ablation_size.py: the long CoOp context whose parameter count matches CoCoOp's."""
from cocoop_lib.ablation_size import matched_n_ctx


def test_matched_context_length():
    assert matched_n_ctx({"text_width": 512, "embed_dim": 512}) == 60
    # same parameter ratio as the paper's 30,720 / 35,360 for a 128-wide CLIP, capped by context
    assert matched_n_ctx({"text_width": 128, "embed_dim": 128}, context_length=77, longest_name=12) == 18
    assert matched_n_ctx({"text_width": 128, "embed_dim": 128}, context_length=20, longest_name=12) == 5
