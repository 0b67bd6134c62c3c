"""Run records: provenance (what a run ran on) and atomic JSON files, one per run."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
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
    """What the computation ran on: GPU name and CUDA version, or CPU and thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"device": str(device), "device_name": torch.cuda.get_device_name(device),
                "cuda": torch.version.cuda}
    return {"device": "cpu", "device_name": platform.processor() or platform.machine(),
            "cpu_threads": torch.get_num_threads()}


def provenance(device: str | torch.device = "cpu") -> dict:
    """Everything a reader needs to know where a number came from (backbone info aside)."""
    return {"git_revision": git_revision(), "versions": versions(), **device_info(device),
            "host": platform.node(), "utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_json_atomic(path: str | Path, data: dict) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_records(folder: str | Path) -> list[dict]:
    """All run records (``*.json``) under ``folder``, sorted by file name."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).rglob("*.json"))]
