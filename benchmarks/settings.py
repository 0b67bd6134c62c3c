"""What one benchmark run measures (``bench.preset`` fills it per preset); a leaf module, so
``report.py`` and ``bench.py`` both read it without importing each other."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settings:
    preset: str = "cpu"
    device: str = "cpu"
    layers: int = 12
    classes: tuple = (5, 19, 100, 500)
    repeats: int = 3
    threads: int = 1
    precision: str = "fp32"          # the library's
    faithful_precision: str = "fp32"  # the port's ("fp16" = the official default on GPU)
    coop_batch: int = 32
    headroom_batch: int = 4           # CoCoOp at a batch > 1: not the paper's recipe
    headroom_max_classes: int = 100   # ... up to this many classes (CPU memory)
    eval_images: int = 10             # images per library evaluation call
    faithful_eval_images: int = 1     # images per faithful evaluation call
    test_batch: int = 100
    faithful_coop_max_classes: int = 100
    faithful_train_max_gib: float = 6.0   # skip the port's training where its activations exceed this
    memory_check_classes: int = 0     # GPU: a library-only run at this C (ImageNet: 1000)
    peak_tflops: float | None = None
    memory_budget_gib: float = 16.0   # what C = memory_check_classes must fit (a 16 GB GPU)
    trajectory_classes: int = 0       # GPU preset: replayed-vs-eager 20-step check at this C
    trajectory_steps: int = 20
    captured: bool | None = None      # the library's step: None = its default (make_step)
    quick: bool = False
    dry_run: bool = False
