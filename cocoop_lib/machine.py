"""What a run ran on, for its record's "provenance": the repository's git revision, the
library versions, the device and what decides its float32 sums (:mod:`kernel_path`), host and time.
"""
from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

PACKAGES = ("torch", "torchvision", "transformers", "numpy", "pillow")
REPO = Path(__file__).resolve().parents[1]


def git_revision() -> str:
    """The repository's commit (with "-dirty" when files changed), or "unknown"."""
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        # notebooks the main job executes in place do not make the code "dirty"
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":!book/*.ipynb", ":!book/exercises"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (rev + ("-dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict:
    """Versions of Python, this package and the libraries the numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("cocoop-lib",) + PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_info(device: str | torch.device = "cpu") -> dict:
    """What the computation ran on and what decides its float32 sums (:mod:`kernel_path`): the
    GPU and its CUDA / cuDNN versions, or the CPU model, torch's CPU capability, the BLAS / oneDNN
    builds, the thread count and any kernel-overriding environment variable."""
    from .kernel_path import kernel_path

    device = torch.device(device)
    if device.type == "cuda":
        return {"device": str(device), **kernel_path(device)}
    return {"device": "cpu", "device_name": platform.processor() or platform.machine(),
            **kernel_path(device)}


def provenance(device: str | torch.device = "cpu") -> dict:
    """Everything a reader needs to know where a number came from (backbone info aside)."""
    return {"git_revision": git_revision(), "versions": versions(), **device_info(device),
            "host": platform.node(), "utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
