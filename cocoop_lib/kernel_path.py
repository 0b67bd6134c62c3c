"""What decides a run's float32 sums: its kernel path, and how two records are compared across paths.

Two processes that run the same code on the same data take the same float32 sums only if they
take the same kernels: the CPU model (the BLAS library dispatches on it), torch's CPU capability
(the vectorised ATen kernels: ``default``, ``AVX2``, ``AVX512``), the BLAS and oneDNN builds, the
thread count, and any environment variable that overrides these; on CUDA, the GPU model and the
CUDA / cuDNN versions. PyTorch promises no bit-equality across them, and 200 epochs at the mini
recipe's learning rates grow a 1e-7 difference into other predictions. So a record is compared
with its recomputation by one of two rules (:func:`compare`):

* **same kernel path**: bit-equal metrics and losses;
* **another (or an unknown) path**: metrics within the measured tolerance
  (``assets/kernel_paths/tolerance.json``, made by ``scripts/measure_kernel_paths.py``), and the
  first epochs' losses within their own measured tolerance, which is what still catches a
  changed computation that no setting shows (an augmentation draw, the data, the init): before
  the trajectories part, another path moves those losses in their 6th digit or later.

In both regimes the two runs must have been asked for the same thing first (:func:`settings`:
config, recipe, the lr of every epoch), so a changed lr or recipe fails with its name.

    path = kernel_path("cpu")                 # {"cpu_model": ..., "cpu_capability": "AVX512", ...}
    other = other_path_env()                  # env vars that make a child process take another path
    result = compare(shipped_record, new_record)   # {"regime": ..., "passed": ..., "why": ...}
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
from functools import lru_cache
from pathlib import Path

import torch

# Environment variables that change the kernels a process takes (read when torch and MKL load).
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
              "DNNL_MAX_CPU_ISA")
# The fields of a record's provenance that name its path; all must be equal for the bit-equal rule.
CPU_FIELDS = ("cpu_model", "cpu_capability", "blas", "onednn", "cpu_threads", "kernel_env")
CUDA_FIELDS = ("device_name", "cuda", "cudnn")
TOLERANCE_FILE = Path(__file__).parent / "assets" / "kernel_paths" / "tolerance.json"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name with its family / model / stepping numbers (/proc/cpuinfo; a virtual
    machine's name can be as generic as "Intel(R) Xeon(R) Processor"), or the platform's string."""
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
        if "model name" in info:
            return (f"{info['model name']} (family {info.get('cpu family', '?')}, model "
                    f"{info.get('model', '?')}, stepping {info.get('stepping', '?')})")
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def blas_builds() -> dict:
    """The BLAS and oneDNN builds torch reports (``torch.__config__.show()``)."""
    text = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version (\S+)", text)
    openblas = re.search(r"OpenBLAS[^\n]*?(\d+\.\d+(?:\.\d+)?)", text)
    onednn = re.search(r"MKL-DNN (v[\d.]+)|oneDNN (v[\d.]+)", text)
    blas = (f"MKL {mkl.group(1)}" if mkl else f"OpenBLAS {openblas.group(1)}" if openblas
            else re.search(r"BLAS_INFO=(\w+)", text).group(1) if "BLAS_INFO=" in text else "unknown")
    return {"blas": blas, "onednn": next((g for g in onednn.groups() if g), "none") if onednn else "none"}


def kernel_path(device: str | torch.device = "cpu") -> dict:
    """The facts that decide this process's float32 sums on ``device`` (stored in every record's
    provenance)."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"device_name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version()}
    return {"cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            **blas_builds(), "cpu_threads": torch.get_num_threads(),
            "kernel_env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ}}


def path_of(record: dict) -> dict | None:
    """A record's kernel path, or None when its provenance does not name one (records made before
    3 Dec 2026 name only the thread count)."""
    prov = record.get("provenance", {})
    fields = CUDA_FIELDS if prov.get("device", "cpu").startswith("cuda") else CPU_FIELDS
    if not all(f in prov for f in fields):
        return None
    return {f: prov[f] for f in fields} | {"torch": prov.get("versions", {}).get("torch")}


def same_path(a: dict, b: dict) -> bool:
    """Whether two records were computed on one kernel path (unknown counts as not the same)."""
    pa, pb = path_of(a), path_of(b)
    return pa is not None and pa == pb


def other_path_env(capability: str | None = None) -> dict:
    """Environment variables that make a child process take another CPU kernel path than this
    one's, the way another CPU does: one vector width down (AVX512 -> AVX2, AVX2 -> none) for
    torch's own kernels, MKL and oneDNN alike."""
    capability = (capability or torch.backends.cpu.get_cpu_capability()).upper()
    if capability.startswith("AVX512"):
        return {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    return {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}


def load_tolerance(path: str | Path = TOLERANCE_FILE) -> dict:
    """The measured cross-path tolerance: {"metrics": points per metric, "loss_start": the
    largest allowed loss difference over the first ``loss_epochs`` epochs, "loss_epochs", ...}."""
    from .errors import RecordError

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise RecordError(f"The kernel-path tolerance {path} cannot be read ({e}). Restore it with "
                          "`git checkout -- cocoop_lib/assets/kernel_paths`, or measure it again "
                          "with `python scripts/measure_kernel_paths.py`.") from None


def metric_kind(key: str) -> str:
    """"base", "new", "H" or "accuracy" (a transfer target, a validation split) of a metric key."""
    part = key.rsplit(":", 1)[-1]
    return part if part in ("base", "new", "H") else "accuracy"


def differences(reference: dict, record: dict) -> dict:
    """Per-metric and per-epoch differences of ``record`` from ``reference`` (same run).

    Returns {"metrics": {key: record - reference (points)}, "losses": [|diff| per epoch]}; a loss
    list of another length gives [inf]."""
    metrics = {k: record["metrics"][k] - v for k, v in reference["metrics"].items()
               if k in record["metrics"]}
    metrics |= {k: math.inf for k in reference["metrics"] if k not in record["metrics"]}
    a, b = reference.get("train", {}).get("losses", []), record.get("train", {}).get("losses", [])
    losses = [abs(x - y) for x, y in zip(a, b)] if len(a) == len(b) else [math.inf]
    return {"metrics": metrics, "losses": losses}


# Config fields that do not change what a run computes (where it is written, which device name).
NOT_SETTINGS = ("output_dir", "device", "data_root", "tag")


def settings(record: dict) -> dict:
    """What a run was asked to compute, independent of the kernel path: its resolved config, its
    recipe's training fields (those the config does not hold: :meth:`Recipe.training_fields`; a
    record keeps its recipe's other values as they were then, already resolved into the config)
    and the per-epoch learning rates (plain Python arithmetic)."""
    from .presets import RESOLVED_INTO_CONFIG

    recipe = {k: v for k, v in record.get("recipe", {}).items()
              if k not in RESOLVED_INTO_CONFIG and k != "name"}
    config = {k: v for k, v in record.get("config", {}).items() if k not in NOT_SETTINGS}
    return {"config": config, "recipe": recipe, "lrs": record.get("train", {}).get("lrs")}


def _first_difference(a: dict, b: dict, prefix: str = "") -> str | None:
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            found = _first_difference(x, y, f"{prefix}{key}.")
            if found:
                return found
        elif x != y:
            return f"{prefix}{key}: {x!r} vs {y!r}"
    return None


def compare(reference: dict, record: dict, tolerance: dict | None = None) -> dict:
    """Compare ``record`` (recomputed) with ``reference`` (e.g. a shipped record) by the rule of
    their regime.

    Returns {"regime": "same kernel path" | "another kernel path", "passed", "why" (the first
    failed condition, "" when passed), "max_metric_diff" (points), "max_loss_diff",
    "max_loss_start_diff" (over the tolerance's first epochs), "metrics_equal"}.
    """
    changed = _first_difference(settings(reference), settings(record))
    d = differences(reference, record)
    metric_diff = max((abs(v) for v in d["metrics"].values()), default=0.0)
    loss_diff = max(d["losses"], default=0.0)
    out = {"metrics_equal": all(v == 0 for v in d["metrics"].values()),
           "max_metric_diff": metric_diff, "max_loss_diff": loss_diff}
    if changed:       # in either regime: the runs were not asked to compute the same thing
        return out | {"regime": "same kernel path" if same_path(reference, record) else
                      "another kernel path", "max_loss_start_diff": max(d["losses"][:2], default=0.0),
                      "passed": False, "why": f"the runs' settings differ ({changed}): the run itself changed"}
    if same_path(reference, record):
        out["regime"] = "same kernel path"
        out["max_loss_start_diff"] = loss_diff
        why = ("" if out["metrics_equal"] and loss_diff == 0 else
               f"not bit-equal on the same kernel path (metrics {metric_diff:.4g} points, losses "
               f"{loss_diff:.3g} apart)")
        return out | {"passed": not why, "why": why}
    tol = tolerance or load_tolerance()
    k = tol["loss_epochs"]
    start = max(d["losses"][:k], default=0.0)
    out |= {"regime": "another kernel path", "max_loss_start_diff": start}
    why = ""
    if start > tol["loss_start"]:
        why = (f"the first {k} epochs' losses differ by {start:.3g} (another kernel path moves them "
               f"by at most {tol['loss_start']:.3g}): the run itself changed")
    else:
        for key, v in d["metrics"].items():
            if abs(v) > tol["metrics"][metric_kind(key)]:
                why = (f"{key} differs by {v:+.2f} points (tolerance across kernel paths "
                       f"{tol['metrics'][metric_kind(key)]:.2f})")
                break
    return out | {"passed": not why, "why": why}


METHOD_IDS = {"CLIP": "zeroshot", "CoOp": "coop", "CoCoOp": "cocoop"}   # display name -> id


def gap_noise(tolerance: dict, metric: str, methods: tuple, n_runs: int, z: float = 3.0) -> float:
    """How far another kernel path could move an average-row gap between two ``methods`` (display
    names: "CLIP", "CoOp", "CoCoOp"), each averaged over ``n_runs`` runs: ``z`` standard deviations
    of the difference of two averages whose runs move independently, each by its method's measured
    per-run RMS (the trajectories of different datasets and seeds part independently, and the
    measured differences average about zero). Points."""
    rms = [tolerance["per_run_rms"][METHOD_IDS[m]][metric] for m in methods]
    return z * math.sqrt(sum(r * r for r in rms) / max(n_runs, 1))


def machine_noise(records: list[dict]) -> dict | None:
    """The measured cross-kernel-path spread (:func:`kernel_path.load_tolerance`) when it applies
    to ``records``: CPU runs of the mini CLIP, the setting it was measured in; else None (a GPU,
    or real CLIP: not measured, so no gap is marked)."""
    if not records or not all(r["provenance"]["device"] == "cpu" and r["backbone"].get("is_mini_clip")
                              for r in records):
        return None
    return load_tolerance()
