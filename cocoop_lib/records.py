"""Run records: provenance (what a run ran on) and atomic JSON files, one per run."""
from __future__ import annotations

import errno
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from .errors import DiskFullError, RecordError

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


def _is_disk_full(err: BaseException) -> bool:
    """ENOSPC, or torch's zip writer failing mid-file ("enforce fail ... unexpected pos")."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("unexpected pos" in text or "No space left" in text)


def write_atomic(path: str | Path, write) -> None:
    """Write ``path`` through ``write(tmp_path)`` so that a reader sees the old file or the new one.

    The temporary file is unique per process (mkstemp in the target folder) and removed on any
    failure; a full disk raises :class:`DiskFullError` "no space left on device while writing
    <path>". The result is 0644 like every other output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if _is_disk_full(err):
            raise DiskFullError(errno.ENOSPC, f"no space left on device while writing {path}; "
                                "free some space and run again (nothing finished is lost)") from None
        raise


def write_json_atomic(path: str | Path, data: dict) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
    write_atomic(path, write)


def torch_save_atomic(obj, path: str | Path) -> None:
    """``torch.save`` through :func:`write_atomic`."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def read_record(path: str | Path) -> dict:
    """One run record; a damaged file raises :class:`RecordError` naming it and the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RecordError(f"run record {path} is damaged ({err}); delete it or run again with "
                          "--force (force=True) to recompute it") from None
    return data


def read_records(folder: str | Path) -> list[dict]:
    """All run records (``*.json``) under ``folder``, sorted by file name."""
    return [read_record(p) for p in sorted(Path(folder).rglob("*.json"))]
