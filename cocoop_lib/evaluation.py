"""Evaluation: image-feature extraction (cached), accuracy, H, and aggregation.

The protocol's metric is top-1 accuracy over all test images of a subset, in the subset's own label
space; H = 2BN / (B + N). A dataset's H uses the seed means of B and N, and the average over datasets
uses H(mean B, mean N), not the mean of per-dataset H.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .model import PromptedCLIP
from .precision import autocast_context
from .records import torch_save_atomic


def harmonic_mean(base: float, new: float) -> float:
    """H = 2BN / (B + N); 0 when both are 0."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def base_new_summary(bases: list[float], news: list[float]) -> dict:
    """One dataset over seeds: mean/std of base and new accuracy, and H of the two means."""
    b, b_std = mean_std(bases)
    n, n_std = mean_std(news)
    return {"base": b, "base_std": b_std, "new": n, "new_std": n_std, "H": harmonic_mean(b, n)}


def average_over_datasets(bases: list[float], news: list[float]) -> dict:
    """The paper's average row: mean base, mean new, and H(mean base, mean new).

    (Not the mean of per-dataset H: for CoCoOp's Table 1 that would be 75.44 instead of 75.83.)
    """
    b, n = sum(bases) / len(bases), sum(news) / len(news)
    return {"base": b, "new": n, "H": harmonic_mean(b, n)}


def features_key(weights_sha256: str, impaths: list[str], transform, precision: str = "fp32",
                 image_sha256s: list[str] | None = None, labels: list[int] | None = None) -> str:
    """Cache key of the image features of a list of images: weights, transform, precision, paths
    and, where given, each image's bytes (sha256) and label, so that an image replaced under the
    same name, or relabelled, is never served from the cache."""
    h = hashlib.sha256(weights_sha256.encode())
    h.update(repr(transform).encode())
    h.update(precision.encode())
    for p in impaths:
        h.update(p.encode())
        h.update(b"\0")
    for extra in (image_sha256s, labels):
        if extra is not None:
            h.update(b"\1" + "\0".join(map(str, extra)).encode())
    return h.hexdigest()[:20]


@torch.no_grad()
def image_features(model: PromptedCLIP, dataset, *, batch_size: int = 100, device="cpu",
                   precision: str = "fp32", cache_dir: str | Path | None = None,
                   cache_key: str | None = None, desc: str = "image features"):
    """Normalised image features and labels of a dataset: ((N, E) float32, (N,) long).

    With ``cache_dir`` and ``cache_key`` the result is stored and reused (test features do not
    change between methods, seeds or epochs: the image encoder is frozen).
    """
    path = Path(cache_dir) / f"{cache_key}.pt" if cache_dir and cache_key else None
    if path is not None and path.exists():
        saved = read_feature_cache(path)
        if saved is not None:
            return saved
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    feats, labels = [], []
    for images, y in tqdm(loader, desc=desc, leave=False):
        with autocast_context(precision, device):
            feats.append(model.encode_images(images.to(device)).float().cpu())
        labels.append(y)
    result = torch.cat(feats), torch.cat(labels)
    if path is not None:
        torch_save_atomic({"features": result[0], "labels": result[1]}, path)
    return result


def read_feature_cache(path: str | Path):
    """(features, labels) from a feature-cache file, or None (with a warning naming the file) when
    it is unreadable; the caller then recomputes and overwrites it (the cache is rebuildable)."""
    try:
        saved = torch.load(path, map_location="cpu")
        features, labels = saved["features"], saved["labels"]
        if not (isinstance(features, torch.Tensor) and isinstance(labels, torch.Tensor)
                and len(features) == len(labels)):
            raise ValueError("not a (features, labels) pair")
    except Exception as err:  # truncated zip, garbage, wrong content: rebuild it
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        warnings.warn(f"feature cache {path} is unreadable ({why[:120]}); recomputing it",
                      stacklevel=2)
        return None
    return features, labels


@torch.no_grad()
def accuracy_from_features(model: PromptedCLIP, features: torch.Tensor, labels: torch.Tensor, *,
                           batch_size: int = 100, device="cpu", precision: str = "fp32",
                           desc: str = "evaluate") -> float:
    """Top-1 accuracy (%) of ``model`` on precomputed image features (N, E) with labels (N,)."""
    model.eval()
    text = None
    with autocast_context(precision, device):
        if not model.conditional:
            text = model.text_features()                                  # (C, E), once
    correct = 0
    for start in tqdm(range(0, len(labels), batch_size), desc=desc, leave=False):
        f = features[start:start + batch_size].to(device)
        with autocast_context(precision, device):
            logits = model.logits_from_features(f, text)
        pred = logits.argmax(dim=-1).cpu()
        correct += int((pred == labels[start:start + batch_size].cpu()).sum())
    return 100.0 * correct / len(labels)
