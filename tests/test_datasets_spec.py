"""cocoop_lib/datasets/spec.py: every official on-disk layout read from fixture data (tests/
fixtures_data.py), and a dataset folder, file or entry that is wrong named with its fix."""
import json
import os
import shutil
from pathlib import Path

import pytest

from cocoop_lib.datasets import DataError, load_dataset
from fixtures_data import (fgvc_variants, imagenet_classnames, make_split_dataset, variant_wnids,
                           wnids)
from fixtures_runs import copy_root


def test_split_file_dataset_loads_absolute_paths_and_sizes(world):
    s = load_dataset("OxfordPets", world)
    assert (len(s.train), len(s.val), len(s.test)) == (37, 37, 37)
    assert s.template == "a photo of a {}, a type of pet."
    image_dir = os.path.join(world, "oxford_pets", "images")
    assert all(os.path.isabs(d.impath) and d.impath.startswith(image_dir) for d in s.test)
    assert all(os.path.isfile(d.impath) for d in s.train + s.val + s.test)
    cars = load_dataset("StanfordCars", world)  # paths relative to the dataset folder itself
    assert cars.test[0].impath.startswith(os.path.join(world, "stanford_cars", "cars_test") + os.sep)
    assert len(s.source_sha256) == 64


def test_fgvc_reads_official_variant_files(world):
    s = load_dataset("FGVCAircraft", world)
    assert s.classnames == fgvc_variants()          # label = line in variants.txt
    assert " " in s.classnames[1] and "/" in s.classnames[0]
    assert (len(s.train), len(s.val), len(s.test)) == (100, 100, 100)
    assert s.train[0].impath == os.path.join(world, "fgvc_aircraft", "images", "1000001.jpg")


def test_imagenet_folders_and_classnames(world):
    s = load_dataset("ImageNet", world)
    assert s.classnames == imagenet_classnames()
    assert (len(s.train), len(s.val), len(s.test)) == (1000, 0, 1000)  # val folder = test set
    assert s.test[7].label == 7 and os.path.basename(os.path.dirname(s.test[7].impath)) == wnids()[7]


@pytest.mark.parametrize("name", ["ImageNetA", "ImageNetR"])
def test_imagenet_a_r_200_class_subsets(world, name):
    s = load_dataset(name, world)
    sub = variant_wnids(name)
    names = dict(zip(wnids(), imagenet_classnames()))
    assert s.classnames == [names[w] for w in sub]   # ImageNet's names, sorted-wnid order
    assert (s.train, s.val, len(s.test)) == ([], [], 200)
    for d in s.test:                                  # label i = i-th wnid of the subset
        assert os.path.basename(os.path.dirname(d.impath)) == sub[d.label]


def test_imagenet_v2_and_sketch(world):
    v2 = load_dataset("ImageNetV2", world)
    assert v2.classnames == imagenet_classnames()
    assert all(os.path.basename(os.path.dirname(d.impath)) == str(d.label) for d in v2.test)
    sk = load_dataset("ImageNetSketch", world)
    assert sk.classnames == imagenet_classnames() and len(sk.test) == 1000


def test_variant_falls_back_to_imagenet_classnames(tmp_path):
    from fixtures_data import make_imagenet_variant, write_classnames_txt
    make_imagenet_variant(str(tmp_path), "ImageNetA", copy_classnames=False)
    with pytest.raises(DataError, match="classnames.txt not found"):
        load_dataset("ImageNetA", str(tmp_path))
    write_classnames_txt(str(tmp_path / "imagenet" / "classnames.txt"))
    assert len(load_dataset("ImageNetA", str(tmp_path)).classnames) == 200


def test_a_mini_world_style_spec_loads_without_root(tmp_path):
    """How the mini world declares a dataset: images + split_zhou_<Name>.json under a folder."""
    from cocoop_lib.datasets import DatasetSpec
    make_split_dataset(str(tmp_path), "DTD")
    spec = DatasetSpec("Textures", "dtd", "{} texture.", 47, world="mini",
                       split_file="split_zhou_DescribableTextures.json", image_dir="images",
                       default_root=str(tmp_path))
    s = spec.load()
    assert (s.name, len(s.classnames), len(s.test)) == ("Textures", 47, 47)
    shutil.rmtree(tmp_path / "dtd")
    with pytest.raises(DataError, match="mini_world.build"):
        spec.load()


def test_missing_root_folder_and_split_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"--data-root.*python -m data_scripts.get EuroSAT"):
        load_dataset("EuroSAT")
    with pytest.raises(DataError, match=r"dataset folder not found: .*eurosat.*data_scripts.get EuroSAT"):
        load_dataset("EuroSAT", str(tmp_path))
    (tmp_path / "eurosat").mkdir()
    with pytest.raises(DataError, match=r"split_zhou_EuroSAT.json.*data_scripts.get"):
        load_dataset("EuroSAT", str(tmp_path))


def test_mini_dataset_folder_not_found_names_the_users_root(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("MiniDigits", str(tmp_path / "mine"))
    message = str(info.value)
    assert str(tmp_path / "mine") in message and "restore it from git" not in message
    from cocoop_lib.datasets.mini import MINI_ROOT
    from cocoop_lib.datasets import get_spec
    assert "restore it from git" in get_spec("MiniDigits").fix_hint(MINI_ROOT)


def test_label_out_of_range_names_the_entry(eurosat_root, tmp_path):
    root = copy_root(eurosat_root, tmp_path / "data")
    split = Path(root) / "eurosat" / "split_zhou_EuroSAT.json"
    data = json.loads(split.read_text())
    data["test"][0][1] = 10
    split.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"test\[0\] .*has label 10, out of range for 10 classes"):
        load_dataset("EuroSAT", root)


def test_fgvc_unknown_variant_and_imagenet_unsorted_val_are_reported(tmp_path):
    from fixtures_data import make_fgvc, make_imagenet
    make_fgvc(str(tmp_path))
    path = tmp_path / "fgvc_aircraft" / "images_variant_val.txt"
    path.write_text(path.read_text() + "1234567 Concorde\n")
    with pytest.raises(DataError, match=r"images_variant_val.txt line 101: '1234567 Concorde'"):
        load_dataset("FGVCAircraft", str(tmp_path))
    make_imagenet(str(tmp_path))
    shutil.rmtree(tmp_path / "imagenet" / "images" / "val" / wnids()[3])
    with pytest.raises(DataError, match="sorted into class folders"):
        load_dataset("ImageNet", str(tmp_path))
