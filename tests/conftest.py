"""Shared fixtures: a tiny random CLIP in the hub's format, a tiny EuroSAT-layout dataset, every
paper dataset's layout (``world``), a slice of the mini world (``food``), and the smoke-built book.

Plain helpers (no fixtures) are in tests/fixtures_*.py."""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# tests train what they check: the repository's shipped records (cocoop_lib/shipped.py) are used
# only where a test turns them on (tests/test_shipped.py)
os.environ.setdefault("COCOOP_SHIPPED_RUNS", "0")
# the image-hash caches of the tests' data (cocoop_lib/identity.py) stay out of ~/.cache
import tempfile  # noqa: E402

os.environ.setdefault("COCOOP_HASH_CACHE", tempfile.mkdtemp(prefix="cocoop-hash-cache-"))

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(min(2, torch.get_num_threads()))

EUROSAT_CLASSES = ["Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road",
                   "Industrial Buildings", "Pasture Land", "Permanent Crop Land",
                   "Residential Buildings", "River", "Sea or Lake"]
FOLDERS = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
           "PermanentCrop", "Residential", "River", "SeaLake"]


def make_colour_eurosat(root, per_class=(6, 2, 3), size=32, seed=0):
    """EuroSAT's layout (eurosat/2750/<Folder>/*.png + split_zhou_EuroSAT.json), with images whose
    colour depends on the class (so a prompt learner has something to learn)."""
    rng = np.random.default_rng(seed)
    ddir = os.path.join(root, "eurosat")
    split = {"train": [], "val": [], "test": []}
    for label, (folder, name) in enumerate(zip(FOLDERS, EUROSAT_CLASSES)):
        os.makedirs(os.path.join(ddir, "2750", folder), exist_ok=True)
        colour = np.array([(label * 67) % 256, (label * 131 + 40) % 256, (label * 29 + 90) % 256])
        i = 0
        for part, n in zip(("train", "val", "test"), per_class):
            for _ in range(n):
                i += 1
                rel = f"{folder}/{folder}_{i}.png"
                pixels = np.clip(colour + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(ddir, "2750", rel))
                split[part].append([rel, label, name])
    with open(os.path.join(ddir, "split_zhou_EuroSAT.json"), "w") as f:
        json.dump(split, f)
    return str(root)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    from cocoop_lib.backbone import save_random_clip
    return str(save_random_clip(tmp_path_factory.mktemp("tiny_clip")))


@pytest.fixture(scope="session")
def tiny_backbone(tiny_clip_dir):
    from cocoop_lib.backbone import load_backbone
    return load_backbone(tiny_clip_dir)


@pytest.fixture(scope="session")
def eurosat_root(tmp_path_factory):
    return make_colour_eurosat(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """All 15 datasets, one image per class and split, in the real layouts."""
    from cocoop_lib.datasets import DATASETS
    from fixtures_data import make_dataset

    root = tmp_path_factory.mktemp("data")
    for name in DATASETS:
        if DATASETS[name].world == "paper":
            make_dataset(root, name)
    return str(root)


@pytest.fixture(scope="session")
def food():
    """120 training images of the mini world's MiniFood (the tensor pipeline's tests)."""
    from cocoop_lib.datasets import load_dataset

    return load_dataset("MiniFood").train[:120]


from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MINI_CLIP = REPO / "cocoop_lib" / "assets" / "mini_clip" / "config.json"


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory, tiny_clip_dir, eurosat_root):
    """Execute every notebook in the smoke configuration and build the book in a temp folder
    (once per test session: tests/test_book.py and tests/test_browser.py read it)."""
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from run_book import main

    root = tmp_path_factory.mktemp("book")
    args = ["--smoke", "--build-root", str(root), "--output-dir", str(root / "outputs"),
            "--no-exercises", "--threads", "1"]
    if not MINI_CLIP.exists():  # before the mini world is installed: the fixture world
        args += ["-p", "backbone", tiny_clip_dir, "-p", "data_root", eurosat_root, "-p", "recipe",
                 "paper", "-p", "datasets", "[EuroSAT]"]
    assert main(args) == 0
    return root
