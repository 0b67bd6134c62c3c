"""cocoop_lib/presets.py: the recipes' epochs, per-dataset exceptions and batch sizes."""
import pytest

from cocoop_lib.presets import MINI, PAPER, epochs_for


def test_recipe_epochs_with_per_dataset_exceptions():
    """The paper trains CoOp 50 epochs on ImageNet, 200 elsewhere; the mini recipe mirrors it."""
    from cocoop_lib.presets import MINI, PAPER, epochs_for, get_recipe
    assert epochs_for(PAPER, "coop", "ImageNet") == 50
    assert epochs_for(PAPER, "coop", "OxfordPets") == 200
    assert epochs_for(PAPER, "cocoop", "ImageNet") == 10
    assert epochs_for(MINI, "coop", "MiniEmojiNet") == 50      # MiniEmojiNet plays ImageNet
    assert epochs_for(MINI, "coop", "MiniGlyphs") == 200
    assert epochs_for(MINI, "zeroshot", "MiniGlyphs") == 0
    assert get_recipe("auto", "mini") is MINI and get_recipe("auto", "openai/clip-vit-base-patch16") is PAPER
    with pytest.raises(ValueError, match="Unknown recipe"):
        get_recipe("fast")


def test_mini_recipe_trains_for_the_papers_epochs_and_batch_sizes():
    for method in ("coop", "cocoop"):
        for dataset in ("MiniGlyphs", "MiniEmojiNet"):
            assert epochs_for(MINI, method, dataset) == epochs_for(PAPER, method,
                                                                   "ImageNet" if dataset == "MiniEmojiNet" else dataset)
        assert MINI.batch_size[method] == PAPER.batch_size[method]
