"""cocoop_lib/datasets/image_dataset.py: images loaded lazily, and missing or unreadable ones named
all at once with the fix (before any training)."""
import json
import os

import pytest
import torch

from cocoop_lib.datasets import DataError, ImageDataset, check_images, load_dataset, require_images
from cocoop_lib.datasets.mini import MINI_ROOT
from cocoop_lib.runs import run
from fixtures_data import make_split_dataset, write_image
from fixtures_runs import cfg, copy_mini_digits, copy_root, mini_cfg


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


def test_training_run_lists_every_missing_image_at_once(tiny_clip_dir, eurosat_root, tmp_path):
    root = copy_root(eurosat_root, tmp_path / "data")
    splits = load_dataset("EuroSAT", root)
    gone = [splits.train[0].impath, splits.test[0].impath, splits.test[-1].impath]  # train, base, new
    for p in gone:
        os.remove(p)
    with pytest.raises(DataError) as info:
        run(cfg(tiny_clip_dir, root, tmp_path / "o", shots=6), progress=False)
    message = str(info.value)
    assert message.startswith("3 images of run") and all(f"missing: {p}" in message for p in gone)
    assert not (tmp_path / "o" / "checkpoints").exists()     # checked before any training


def test_a_missing_mini_world_image_advises_a_copy_not_data_scripts_get(tmp_path):
    root = copy_mini_digits(tmp_path / "data")
    split = json.loads((root / "MiniDigits" / "split_zhou_MiniDigits.json").read_text())
    (root / "MiniDigits" / "images" / split["test"][0][0]).unlink()
    with pytest.raises(DataError) as e:
        run(mini_cfg(tmp_path / "out", data_root=str(root)), progress=False)
    msg = str(e.value)
    assert "1 images of run" in msg and "copy it again from cocoop_lib/assets/mini_world/MiniDigits" in msg
    assert "python -m data_scripts.get" not in msg
    from cocoop_lib.datasets import open_rgb
    with pytest.raises(DataError, match=r"git checkout -- cocoop_lib/assets/mini_world"):
        open_rgb(os.path.join(MINI_ROOT, "MiniDigits", "images", "000", "no_such.png"))
