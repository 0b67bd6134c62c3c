"""cocoop_lib/datasets/roles.py: which dataset plays which part of the experiments (World)."""
import pytest

from cocoop_lib.datasets import BASE_TO_NEW, DATASETS, DOMAIN_SHIFT, DataError, DatasetSpec
from cocoop_lib.datasets.roles import World, default_datasets, world_of


def test_the_mini_world_plays_the_papers_parts_in_the_papers_order():
    w = world_of(["MiniEmojiNetR", "MiniGlyphs", "MiniEmojiNetV2", "MiniFood", "MiniEmojiNet"])
    assert w == World(name="mini", base_to_new=("MiniGlyphs", "MiniFood", "MiniEmojiNet"),
                      source="MiniEmojiNet", targets=("MiniGlyphs", "MiniFood"),
                      variants=("MiniEmojiNetV2", "MiniEmojiNetR"),      # V2 before R, as in Table 3
                      plays={"MiniEmojiNetR": "ImageNetR", "MiniEmojiNetV2": "ImageNetV2",
                             "MiniFood": "Food101", "MiniEmojiNet": "ImageNet"})


def test_paper_datasets_play_themselves_and_the_first_is_the_source_without_imagenet():
    w = world_of(["EuroSAT", "ImageNetA", "DTD"])
    assert (w.name, w.base_to_new, w.source, w.targets, w.variants) == (
        "paper", ("EuroSAT", "DTD"), "EuroSAT", ("DTD",), ("ImageNetA",))
    assert w.plays == {"EuroSAT": "EuroSAT", "ImageNetA": "ImageNetA", "DTD": "DTD"}
    assert world_of(["ImageNetR"]) == World("paper", (), None, (), ("ImageNetR",),
                                            {"ImageNetR": "ImageNetR"})
    assert world_of(["EuroSAT", "MiniGlyphs"]).name == "mixed"


def test_a_mini_dataset_without_training_images_is_a_variant_listed_last():
    extra = DatasetSpec("MiniExtra", "extra", "a photo of a {}.", 3, world="mini",
                        split_file="split_zhou_MiniExtra.json", counts=(0, 0, 9))
    w = world_of([extra, "MiniEmojiNetA", "MiniDigits"])
    assert (w.base_to_new, w.source, w.variants) == (("MiniDigits",), "MiniDigits",
                                                     ("MiniEmojiNetA", "MiniExtra"))
    assert "MiniExtra" not in w.plays


def test_an_unknown_dataset_is_a_data_error():
    with pytest.raises(DataError, match="unknown dataset 'MiniNope'"):
        world_of(["MiniDigits", "MiniNope"])


def test_the_default_datasets_of_each_world():
    assert default_datasets(None) == [n for n, s in DATASETS.items() if s.world == "mini"]
    assert len(default_datasets(None)) == 10
    assert default_datasets("/data") == list(BASE_TO_NEW) + list(DOMAIN_SHIFT)
    assert len(default_datasets("/data")) == 15
