"""Dataset definitions, split reading, the protocol's few-shot draw, base/new, image loading."""

import json
import os
import random
import shutil
from collections import defaultdict

import pytest
import torch

from cocoop_lib.datasets import (DATASETS, DataError, Datum, DatasetSplits, ImageDataset,
                                 check_images, get_spec, load_dataset, require_images,
                                 sample_few_shot, subsample_classes)
from cocoop_lib.datasets import splits as splits_mod
from cocoop_lib.datasets.benchmark import (BASE_TO_NEW, DOMAIN_SHIFT, caltech_name, eurosat_name,
                                           pets_name, sun397_name)
from fixtures_data import (fgvc_variants, imagenet_classnames, make_dataset, make_split_dataset,
                           variant_wnids, wnids, write_image)

# protocol.md, "Data protocol": base/new class counts.
BASE_NEW = {"ImageNet": (500, 500), "Caltech101": (50, 50), "OxfordPets": (19, 18),
            "StanfordCars": (98, 98), "Flowers102": (51, 51), "Food101": (51, 50),
            "FGVCAircraft": (50, 50), "SUN397": (199, 198), "DTD": (24, 23), "EuroSAT": (5, 5),
            "UCF101": (51, 50)}
# protocol.md, "Datasets": classes, split sizes and zero-shot templates.
TABLE = {
    "ImageNet": (1000, (1_281_167, 0, 50_000), "a photo of a {}."),
    "Caltech101": (100, (4128, 1649, 2465), "a photo of a {}."),
    "OxfordPets": (37, (2944, 736, 3669), "a photo of a {}, a type of pet."),
    "StanfordCars": (196, (6509, 1635, 8041), "a photo of a {}."),
    "Flowers102": (102, (4093, 1633, 2463), "a photo of a {}, a type of flower."),
    "Food101": (101, (50500, 20200, 30300), "a photo of {}, a type of food."),
    "FGVCAircraft": (100, (3334, 3333, 3333), "a photo of a {}, a type of aircraft."),
    "SUN397": (397, (15880, 3970, 19850), "a photo of a {}."),
    "DTD": (47, (2820, 1128, 1692), "{} texture."),
    "EuroSAT": (10, (13500, 5400, 8100), "a centered satellite photo of {}."),
    "UCF101": (101, (7639, 1898, 3783), "a photo of a person doing {}."),
    "ImageNetV2": (1000, (0, 0, 10000), "a photo of a {}."),
    "ImageNetSketch": (1000, (0, 0, 50889), "a photo of a {}."),
    "ImageNetA": (200, (0, 0, 7500), "a photo of a {}."),
    "ImageNetR": (200, (0, 0, 30000), "a photo of a {}."),
}
FOLDERS = {"ImageNet": "imagenet", "Caltech101": "caltech-101", "OxfordPets": "oxford_pets",
           "StanfordCars": "stanford_cars", "Flowers102": "oxford_flowers", "Food101": "food-101",
           "FGVCAircraft": "fgvc_aircraft", "SUN397": "sun397", "DTD": "dtd", "EuroSAT": "eurosat",
           "UCF101": "ucf101", "ImageNetV2": "imagenetv2", "ImageNetSketch": "imagenet-sketch",
           "ImageNetA": "imagenet-adversarial", "ImageNetR": "imagenet-rendition"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """All 15 datasets, one image per class and split, in the real layouts."""
    root = tmp_path_factory.mktemp("data")
    for name in DATASETS:
        if DATASETS[name].world == "paper":
            make_dataset(root, name)
    return str(root)


# ----------------------------------------------------------------------------- definitions


def test_definitions_match_the_protocol_table():
    paper = {n: s for n, s in DATASETS.items() if s.world == "paper"}
    assert set(paper) == set(TABLE)
    for name, (n_classes, counts, template) in TABLE.items():
        spec = paper[name]
        assert (spec.n_classes, spec.counts, spec.template, spec.folder) == (
            n_classes, counts, template, FOLDERS[name]), name
    assert len(BASE_TO_NEW) == 11 and len(DOMAIN_SHIFT) == 4


def test_get_spec_names_and_unknown_names():
    assert get_spec("eurosat").name == "EuroSAT"
    assert get_spec("oxford_flowers").name == "Flowers102"
    assert get_spec("DescribableTextures").name == "DTD"
    assert get_spec("imagenet-a").name == "ImageNetA"
    assert get_spec("ImageNet-Sketch").name == "ImageNetSketch"
    with pytest.raises(DataError, match="known datasets: ImageNet, Caltech101"):
        get_spec("CIFAR10")


def test_class_name_conventions_on_official_examples():
    assert caltech_name("airplanes/image_0001.jpg") == "airplane"
    assert caltech_name("Faces/image_0001.jpg") == "face"
    assert caltech_name("Leopards/image_0001.jpg") == "leopard"
    assert caltech_name("Motorbikes/image_0001.jpg") == "motorbike"
    assert caltech_name("accordion/image_0001.jpg") == "accordion"
    assert pets_name("Abyssinian_100.jpg") == "abyssinian"
    assert pets_name("american_pit_bull_terrier_12.jpg") == "american_pit_bull_terrier"
    assert sun397_name("a/apartment_building/outdoor/sun_aaa.jpg") == "outdoor apartment_building"
    assert sun397_name("a/abbey/sun_aaa.jpg") == "abbey"
    assert eurosat_name("AnnualCrop/AnnualCrop_1.jpg") == "Annual Crop Land"
    assert eurosat_name("SeaLake/SeaLake_1.jpg") == "Sea or Lake"


# ----------------------------------------------------------------------------- base / new


@pytest.mark.parametrize("name", list(BASE_NEW))
def test_base_new_counts_and_relabelling(world, name):
    full = load_dataset(name, world)
    n = DATASETS[name].n_classes
    assert len(full.classnames) == n
    assert sorted({d.label for d in full.train}) == list(range(n))
    n_base, n_new = BASE_NEW[name]
    base, new = subsample_classes(full, "base"), subsample_classes(full, "new")
    assert (len(base.classnames), len(new.classnames)) == (n_base, n_new)
    assert base.classnames == full.classnames[:n_base]
    assert new.classnames == full.classnames[n_base:]
    for part, k in ((base, n_base), (new, n_new)):
        for items in (part.train, part.test) + ((part.val,) if part.val else ()):
            assert sorted({d.label for d in items}) == list(range(k))
            assert all(part.classnames[d.label] == d.classname for d in items)
    assert len(base.test) + len(new.test) == len(full.test)
    # new-class items keep their image, and label = old label - n_base
    old = {d.impath: d.label for d in full.test}
    assert all(old[d.impath] == d.label + n_base for d in new.test)
    assert subsample_classes(full, "all") == full


def test_subsample_rejects_bad_arguments(world):
    full = load_dataset("EuroSAT", world)
    with pytest.raises(DataError, match="'all', 'base' or 'new'"):
        subsample_classes(full, "novel")
    with pytest.raises(DataError, match="no train split"):
        subsample_classes(load_dataset("ImageNetA", world), "base")


def test_base_new_uses_sorted_train_labels_with_gaps():
    items = [Datum(f"/x/{y}.png", y, f"c{y}") for y in (6, 0, 2, 4, 8)]
    splits = DatasetSplits("toy", "{}", [f"c{i}" for i in range(9)], items, [], items)
    base = subsample_classes(splits, "base")     # labels 0,2,4 -> 0,1,2
    assert [(d.classname, d.label) for d in base.train] == [("c0", 0), ("c2", 1), ("c4", 2)]
    assert base.classnames == ["c0", "c2", "c4"]
    assert subsample_classes(splits, "new").classnames == ["c6", "c8"]


# ----------------------------------------------------------------------------- loading


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


def test_missing_root_folder_and_split_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"--data-root.*python -m data_scripts.get EuroSAT"):
        load_dataset("EuroSAT")
    with pytest.raises(DataError, match=r"dataset folder not found: .*eurosat.*data_scripts.get EuroSAT"):
        load_dataset("EuroSAT", str(tmp_path))
    (tmp_path / "eurosat").mkdir()
    with pytest.raises(DataError, match=r"split_zhou_EuroSAT.json.*data_scripts.get"):
        load_dataset("EuroSAT", str(tmp_path))


@pytest.mark.parametrize("content, match", [
    ("{not json", "not readable JSON"),
    ('{"train": [], "val": []}', "train/val/test"),
    ('{"train": [["a.jpg", 0]], "val": [], "test": []}', r"train\[0\]"),
    ('{"train": [["a.jpg", -1, "x"]], "val": [], "test": []}', r"label>=0"),
    ('{"train": [["a.jpg", 0, "x"], ["b.jpg", 0, "y"]], "val": [], "test": []}', "two class names"),
    ('{"train": [["a.jpg", 0, "x"], ["b.jpg", 2, "y"]], "val": [], "test": []}', "missing \\[1\\]"),
    ('{"train": [["a.jpg", 0, "x"]], "val": [], "test": []}', "1 classes, expected 10"),
])
def test_malformed_split_file(tmp_path, content, match):
    (tmp_path / "eurosat").mkdir()
    path = tmp_path / "eurosat" / "split_zhou_EuroSAT.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as e:
        load_dataset("EuroSAT", str(tmp_path))
    assert "eurosat" in str(e.value)


# ----------------------------------------------------------------------------- few-shot


def official_draw(train, val, num_shots, seed):
    """Independent re-implementation: global random.seed, defaultdict by label, random.sample."""
    random.seed(seed)
    out = []
    for pool, k in ((train, num_shots), (val, min(num_shots, 4))):
        by_label = defaultdict(list)
        for item in pool:
            by_label[item.label].append(item)
        drawn = []
        for label in by_label:
            group = by_label[label]
            drawn += random.sample(group, k) if len(group) >= k else group
        out.append(drawn)
    return out


def toy_splits(seed=0):
    """Uneven classes (1..30 images), interleaved file order."""
    rng = random.Random(seed)
    train = [Datum(f"/d/train/{c}_{i}.png", c, f"c{c}") for c in range(12) for i in range(1 + 3 * c)]
    val = [Datum(f"/d/val/{c}_{i}.png", c, f"c{c}") for c in range(12) for i in range(1 + c)]
    rng.shuffle(train)
    rng.shuffle(val)
    test = [Datum(f"/d/test/{c}.png", c, f"c{c}") for c in range(12)]
    return DatasetSplits("toy", "{}", [f"c{c}" for c in range(12)], train, val, test)


@pytest.mark.parametrize("shots", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_few_shot_equals_independent_reimplementation(shots, seed):
    splits = toy_splits()
    state = random.getstate()
    got = sample_few_shot(splits, shots, seed)
    assert random.getstate() == state               # a local RNG: global state untouched
    want_train, want_val = official_draw(splits.train, splits.val, shots, seed)
    assert got.train == want_train and got.val == want_val
    assert got.test == splits.test and got.classnames == splits.classnames
    counts = defaultdict(int)
    for d in got.train:
        counts[d.label] += 1
    assert [counts[c] for c in range(12)] == [min(shots, 1 + 3 * c) for c in range(12)]
    assert all(sum(d.label == c for d in got.val) == min(shots, 4, 1 + c) for c in range(12))


def test_few_shot_seeds_differ_and_none_keeps_all():
    splits = toy_splits()
    draws = {tuple(d.impath for d in sample_few_shot(splits, 4, s).train) for s in (1, 2, 3)}
    assert len(draws) == 3
    assert sample_few_shot(splits, None, 1).train == splits.train
    for bad in (0, -1, 2.5, True):
        with pytest.raises(DataError, match="num_shots"):
            sample_few_shot(splits, bad, 1)


def test_few_shot_on_a_real_layout_matches_and_caches_portably(tmp_path, monkeypatch):
    root_a = tmp_path / "a"
    make_split_dataset(str(root_a), "EuroSAT", per_class=(20, 6, 1), shuffle_seed=5)
    full = load_dataset("EuroSAT", str(root_a))
    cache = str(root_a / "eurosat" / "split_fewshot")
    first = sample_few_shot(full, 16, 2, cache_dir=cache)
    assert (first.train, first.val) == tuple(official_draw(full.train, full.val, 16, 2))
    [cache_file] = os.listdir(cache)
    data = json.loads(open(os.path.join(cache, cache_file)).read())
    assert (data["num_shots"], data["seed"], len(data["train"]), len(data["val"])) == (16, 2, 160, 40)
    assert not any(os.path.isabs(e[0]) for e in data["train"])
    assert data["train"][0][0].startswith("2750/")

    # Move the data root: the cache is found and used (no new draw), paths follow the new root.
    root_b = tmp_path / "b"
    shutil.move(str(root_a), str(root_b))
    moved = load_dataset("EuroSAT", str(root_b))

    def no_draw(*a, **k):
        raise AssertionError("cache miss: drew again")

    monkeypatch.setattr(splits_mod, "_draw", no_draw)
    again = sample_few_shot(moved, 16, 2, cache_dir=str(root_b / "eurosat" / "split_fewshot"))
    monkeypatch.undo()
    assert [d.impath for d in again.train] == [d.impath.replace(str(root_a), str(root_b))
                                               for d in first.train]
    assert all(os.path.isfile(d.impath) for d in again.train + again.val)

    # Change the split file: the cache is invalidated and rewritten.
    split_path = root_b / "eurosat" / "split_zhou_EuroSAT.json"
    split = json.loads(split_path.read_text())
    split["train"] = split["train"][::-1]
    split_path.write_text(json.dumps(split))
    changed = load_dataset("EuroSAT", str(root_b))
    redrawn = sample_few_shot(changed, 16, 2, cache_dir=str(root_b / "eurosat" / "split_fewshot"))
    assert (redrawn.train, redrawn.val) == tuple(official_draw(changed.train, changed.val, 16, 2))
    assert redrawn.train != again.train
    data2 = json.loads((root_b / "eurosat" / "split_fewshot" / cache_file).read_text())
    assert data2["split_sha256"] != data["split_sha256"]


def test_few_shot_then_base_matches_official_order(world):
    """Official order: few-shot on all classes first, then base/new on the drawn train set."""
    full = load_dataset("DTD", world)
    base = subsample_classes(sample_few_shot(full, 16, 1), "base")
    assert len(base.classnames) == 24 and len(base.train) == 24


# ----------------------------------------------------------------------------- images


def test_image_dataset_returns_tensor_and_label(world):
    s = load_dataset("EuroSAT", world)
    from torchvision import transforms
    ds = ImageDataset(s.test, transforms.ToTensor())
    image, label = ds[3]
    assert isinstance(image, torch.Tensor) and image.shape == (3, 4, 4) and label == 3
    assert len(ds) == 10


def test_missing_and_unreadable_images_named_all_at_once(tmp_path):
    make_split_dataset(str(tmp_path), "DTD")
    s = load_dataset("DTD", str(tmp_path))
    gone = [s.train[0].impath, s.val[5].impath, s.test[9].impath]
    for p in gone:
        os.remove(p)
    broken = s.test[1].impath
    with open(broken, "wb") as f:
        f.write(b"not an image")
    assert check_images(s.train + s.val + s.test) == [f"missing: {p}" for p in gone]
    problems = check_images(s.train + s.val + s.test, decode=True)
    assert len(problems) == 4 and any(p.startswith("unreadable: " + broken) for p in problems)
    with pytest.raises(DataError, match="3 images missing") as e:
        require_images(s.train + s.val + s.test)
    assert all(p in str(e.value) for p in gone)
    ds = ImageDataset(s.test, None)
    with pytest.raises(DataError, match="image not found: " + gone[2]):
        ds[9]
    with pytest.raises(DataError, match="image not readable: " + broken):
        ds[1]
    write_image(gone[0])
    assert ImageDataset(s.train, None)[0][0].size == (4, 4)


def test_damaged_cache_is_redrawn(tmp_path):
    splits = toy_splits()
    first = sample_few_shot(splits, 4, 3, cache_dir=str(tmp_path))
    [name] = os.listdir(tmp_path)
    data = json.loads((tmp_path / name).read_text())
    data["train"] = [["x"]]                                  # damaged entries, same key
    (tmp_path / name).write_text(json.dumps(data))
    assert sample_few_shot(splits, 4, 3, cache_dir=str(tmp_path)).train == first.train
    (tmp_path / name).write_text("{truncated")
    assert sample_few_shot(splits, 4, 3, cache_dir=str(tmp_path)).train == first.train
    assert json.loads((tmp_path / name).read_text())["num_shots"] == 4


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
