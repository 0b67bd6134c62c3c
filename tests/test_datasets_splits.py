"""cocoop_lib/datasets/splits.py: split files, base/new subsampling, and the protocol's few-shot
draw against an independent re-implementation, with its cache."""
import json
import os
import random
import shutil
from collections import defaultdict

import pytest

from cocoop_lib.datasets import (DATASETS, DataError, DatasetSplits, Datum, load_dataset,
                                 sample_few_shot, splits as splits_mod, subsample_classes)
from cocoop_lib.runs import run
from fixtures_data import make_split_dataset
from fixtures_runs import cfg, essence


# protocol.md, "Data protocol": base/new class counts.
BASE_NEW = {"ImageNet": (500, 500), "Caltech101": (50, 50), "OxfordPets": (19, 18),
            "StanfordCars": (98, 98), "Flowers102": (51, 51), "Food101": (51, 50),
            "FGVCAircraft": (50, 50), "SUN397": (199, 198), "DTD": (24, 23), "EuroSAT": (5, 5),
            "UCF101": (51, 50)}


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


def test_truncated_few_shot_cache_is_redrawn_with_a_warning(tiny_clip_dir, eurosat_root, tmp_path):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    good = run(c, force=True, progress=False)
    (cache,) = (tmp_path / "fewshot").glob("*.json")
    cache.write_text(cache.read_text()[:40])
    with pytest.warns(UserWarning, match=f"few-shot cache {cache} is unreadable"):
        again = run(c, force=True, progress=False)
    assert essence(again) == essence(good)
