"""What defines a run and the checks made before any work: :class:`RunConfig` (resolution from
the recipe, the run name), the device and output-folder checks, and the CPU-thread policy.

    c = RunConfig(dataset="MiniGlyphs", method="cocoop", seed=1).resolved()
    c.run_name()     # "MiniGlyphs-cocoop-base-seed1-<8 hex>": the record's file name
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .backbone import DEFAULT_BACKBONE
from .datasets import get_spec
from .precision import resolve_precision
from .presets import epochs_for, get_recipe, lr_for
from .prompt_learners import METHODS

SUBSETS = ("base", "new", "all", "val")  # val: the few-shot val draw of the training classes

# A CPU run trains and evaluates with this many torch threads, whatever the process has: float32
# sums depend on the thread count, and over the paper's 200 epochs the difference grows into other
# predictions (MiniFashion CoOp seed 1: 0.4 points between 1 and 2 threads). With one fixed count a
# record is the same from every entry point (sweep workers, notebooks, the CLI, the tests).
CPU_THREADS = 1


@contextlib.contextmanager
def fixed_cpu_threads(device: str):
    """Run the body with :data:`CPU_THREADS` torch threads on the CPU (no change on a GPU)."""
    if device != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class RunConfig:
    """Everything that defines one run. ``None`` means "from the recipe".

    Attributes:
        dataset: training dataset (e.g. "OxfordPets", "MiniGlyphs").
        method: "zeroshot", "coop" or "cocoop".
        seed: seeds python/numpy/torch before the data is built (fixes the few-shot draw too).
        shots: training images per class (val gets min(shots, 4)).
        epochs, batch_size, lr: optimisation; None takes the recipe's value for the method
            (the lr also depends on whether the context starts from words or at random).
        n_ctx, ctx_init: number of context vectors and the words that initialise them
            (ctx_init "" or None: random N(0, 0.02) vectors).
        train_classes: "base" (base-to-new) or "all" (cross-dataset / domain generalisation).
        eval_on: "Dataset:subset" targets; empty: base and new (or all) of ``dataset``.
        recipe: "paper", "mini" or "auto" (mini for the mini CLIP).
        backbone: "mini", a hub id ("openai/clip-vit-base-patch16") or a folder.
        data_root: folder holding the real datasets; None for the bundled mini world.
        output_dir: records/, checkpoints/ and features/ go here.
        device: "auto" (cuda when available), "cpu", "cuda", ...
        precision: "auto", "fp32", "bf16", "fp16" or "fp16-pure" (the official mode).
        class_chunk: the fast encoder's memory bound, at most this many classes per text-encoder
            call (None: all). It stays part of the run name: a chunked call gives the same logits
            to float rounding, not guaranteed bit for bit (every shipped record has None).
        crop_scale: (low, high) of the training RandomResizedCrop; None: the recipe's (the crop
            rule of cocoop_lib/selection.py tries the other one). Left out of the run name when
            None, so the names of runs at the recipe's crop stay what they were.
    """

    dataset: str = "MiniGlyphs"
    method: str = "cocoop"
    seed: int = 1
    shots: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    n_ctx: int | None = None
    ctx_init: str | None = None
    class_token_position: str = "end"
    csc: bool = False
    train_classes: str = "base"
    eval_on: tuple = ()
    recipe: str = "auto"
    backbone: str = DEFAULT_BACKBONE
    data_root: str | None = None
    output_dir: str = "outputs"
    device: str = "auto"
    precision: str = "auto"
    class_chunk: int | None = None
    tag: str = ""
    crop_scale: tuple | None = None

    def resolved(self) -> "RunConfig":
        """A copy with every None/auto filled in from the recipe and validated."""
        c = dataclasses.replace(self)
        if c.method not in METHODS:
            raise ValueError(f"Unknown method {c.method!r}; choose one of {', '.join(METHODS)}.")
        c.dataset = get_spec(c.dataset).name
        if not isinstance(c.seed, int) or c.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {c.seed!r}.")
        if c.train_classes not in ("base", "all"):
            raise ValueError(f"train_classes must be 'base' or 'all', got {c.train_classes!r}.")
        recipe = get_recipe(c.recipe, c.backbone)
        c.recipe = recipe.name
        c.shots = recipe.shots if c.shots is None else c.shots
        if not isinstance(c.shots, int) or c.shots <= 0:
            raise ValueError(f"shots must be a positive integer (images per class), got {c.shots!r}.")
        if c.method == "zeroshot":
            c.epochs, c.batch_size, c.lr, c.n_ctx, c.ctx_init = 0, 0, 0.0, 0, ""
        else:
            c.epochs = epochs_for(recipe, c.method, c.dataset) if c.epochs is None else c.epochs
            c.batch_size = recipe.batch_size[c.method] if c.batch_size is None else c.batch_size
            c.ctx_init = recipe.ctx_init if c.ctx_init is None else c.ctx_init
            c.lr = lr_for(recipe, c.method, random_ctx=not c.ctx_init) if c.lr is None else c.lr
            if c.n_ctx is None:
                c.n_ctx = None if c.ctx_init else recipe.n_ctx
            for name in ("epochs", "batch_size"):
                if getattr(c, name) < 1:
                    raise ValueError(f"{name} must be >= 1 for {c.method}, got {getattr(c, name)}.")
        if not c.eval_on:
            c.eval_on = ((f"{c.dataset}:base", f"{c.dataset}:new") if c.train_classes == "base"
                         else (f"{c.dataset}:all",))
        targets = []
        for target in c.eval_on:
            ds, _, subset = target.partition(":")
            subset = subset or "all"
            if subset not in SUBSETS:
                raise ValueError(f"Evaluation target {target!r}: subset must be one of {SUBSETS}.")
            if subset == "val" and get_spec(ds).name != c.dataset:
                raise ValueError(f"Evaluation target {target!r}: 'val' is the few-shot validation "
                                 f"draw of the training dataset, so only {c.dataset}:val exists.")
            targets.append(f"{get_spec(ds).name}:{subset}")
        c.eval_on = tuple(targets)
        if c.class_chunk is not None and (isinstance(c.class_chunk, bool)
                                          or not isinstance(c.class_chunk, int) or c.class_chunk < 1):
            raise ValueError(f"class_chunk must be a positive integer (classes per text-encoder "
                             f"call) or None (all classes at once), got {c.class_chunk!r}.")
        if c.crop_scale is not None:
            try:
                low, high = (float(x) for x in c.crop_scale)
            except (TypeError, ValueError):
                raise ValueError(f"crop_scale must be (low, high) with 0 < low <= high <= 1, got "
                                 f"{c.crop_scale!r}.") from None
            if not 0 < low <= high <= 1:
                raise ValueError(f"crop_scale must be (low, high) with 0 < low <= high <= 1, got "
                                 f"{c.crop_scale!r}.")
            # the recipe's own scale is no override: the run is the recipe's run, under its name
            c.crop_scale = None if (low, high) == tuple(recipe.crop_scale) else (low, high)
        c.device = check_device(c.device)
        c.precision = resolve_precision(c.precision, c.device)
        return c

    def run_name(self) -> str:
        """Readable, unique name of a resolved config (what the record file is called)."""
        keys = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("output_dir", "device", "data_root", "tag")
                and not (k == "crop_scale" and v is None)}   # added 7 Dec 2026: older names hold
        digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:8]
        tag = f"-{self.tag}" if self.tag else ""
        return f"{self.dataset}-{self.method}-{self.train_classes}-seed{self.seed}{tag}-{digest}"


def check_device(device: str) -> str:
    """``device`` resolved ("auto" -> "cuda" when a GPU is visible, else "cpu") and checked.

    Raises ValueError naming the device and what is accepted (shared by the CLI, ``RunConfig``
    and the notebooks' parameter check).
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or not (device in ("cpu", "mps") or device == "cuda"
                                           or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device {device!r} is not valid: use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not valid: no CUDA GPU is visible here; use "
                             "'auto' or 'cpu'.")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not valid: only {torch.cuda.device_count()} "
                             "CUDA GPU(s) are visible.")
    return device


def check_output_dir(output_dir: str | Path) -> Path:
    """Create ``output_dir`` or raise ValueError saying why it cannot be
    used, before any work is done."""
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir {out} is a file, not a folder; choose a folder for records, "
                         "checkpoints and caches (--output-dir).")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"output_dir {out} cannot be created ({err.strerror or err}); choose a "
                         "writable folder (--output-dir).") from None
    if not os.access(out, os.W_OK):
        raise ValueError(f"output_dir {out} is not writable; choose a writable folder (--output-dir).")
    return out
