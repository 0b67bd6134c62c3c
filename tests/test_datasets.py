"""cocoop_lib/datasets/__init__.py: the dataset names the public API accepts."""
import pytest

from cocoop_lib.datasets import DataError, get_spec


def test_get_spec_names_and_unknown_names():
    assert get_spec("eurosat").name == "EuroSAT"
    assert get_spec("oxford_flowers").name == "Flowers102"
    assert get_spec("DescribableTextures").name == "DTD"
    assert get_spec("imagenet-a").name == "ImageNetA"
    assert get_spec("ImageNet-Sketch").name == "ImageNetSketch"
    with pytest.raises(DataError, match="known datasets: ImageNet, Caltech101"):
        get_spec("CIFAR10")
