"""Training: the protocol's learning-rate schedule and an SGD loop with epoch checkpoints.

Recipe (CoOp/CoCoOp official configs): SGD, lr 0.002, momentum 0.9, weight decay 5e-4; epoch 1 is a
constant warm-up at 1e-5; from epoch 2 on, cosine annealing over the max epochs, stepped once per
epoch. The last epoch's model is the one evaluated.
"""
from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .model import PromptedCLIP
from .errors import CheckpointError
from .precision import autocast_context, grad_scaler
from .records import torch_save_atomic
from .train_batches import EpochBatches, training_images


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (the official code does it before building the datasets).

    ``runs.run`` calls it after the backbone is loaded and the data is read, immediately before
    the few-shot draw and the prompt learner are built: everything that draws random numbers
    (few-shot draw, N(0, 0.02) context, Meta-Net init, the sampler's generator, augmentation) then
    starts from this seed alone, whatever ran before in the process.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def learning_rate(epoch: int, max_epochs: int, base_lr: float = 0.002, warmup_lr: float = 1e-5,
                  warmup_epochs: int = 1) -> float:
    """Learning rate of 1-based ``epoch``.

    Epochs 1..warmup_epochs: ``warmup_lr``; epoch e after that:
    ``base_lr * (1 + cos(pi * (e - 1 - warmup_epochs) / max_epochs)) / 2`` (never reaches 0).
    """
    if epoch <= warmup_epochs:
        return warmup_lr
    return base_lr * (1 + math.cos(math.pi * (epoch - 1 - warmup_epochs) / max_epochs)) / 2


@dataclass
class TrainSettings:
    """Optimisation settings of one run (defaults: the paper's)."""

    epochs: int = 10
    batch_size: int = 1
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    precision: str = "fp32"
    device: str = "cpu"
    pipeline: str = "auto"   # batches: "tensor" (decoded once, index loop), "pil" (DataLoader), "auto"


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _atomic_save(obj, path: Path) -> None:
    torch_save_atomic(obj, path)


CHECKPOINT_KEYS = ("epoch", "learner", "optimizer", "scaler", "generator", "rng", "history")


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint; a damaged one raises :class:`CheckpointError` naming it and the fix."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
            raise ValueError("not a training checkpoint of this library")
    except Exception as err:  # torch raises OSError, RuntimeError, UnpicklingError, EOFError, ...
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is damaged ({why}); delete it to train this run "
                              "from scratch, or run again with --force (force=True)") from None
    return state


def train_step(model: PromptedCLIP, optimizer: torch.optim.Optimizer, images: torch.Tensor,
               labels: torch.Tensor, precision: str = "fp32", device: str = "cpu",
               scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One optimisation step on a batch; returns the (detached) loss.

    The frozen image encoder runs without autograd (under the precision's autocast, as at
    evaluation); logits and the loss under autocast; then backward and the optimiser step (through
    ``scaler`` when given, as fp16 autocast needs).
    """
    with autocast_context(precision, device):
        features = model.encode_images(images.to(device))                # (B, E), no autograd
        logits = model.logits_from_features(features)                     # (B, C)
        loss = F.cross_entropy(logits.float(), labels.to(device))
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


class PlainStep:
    """:func:`train_step` bound to one run: ``step(images, labels) -> loss``. Its description
    ("eager training step", with ``reason`` in brackets when one is given: why nothing is captured)
    is the record's ``training_path``."""

    def __init__(self, model, optimizer, precision: str, device: str, scaler=None, reason: str = ""):
        self.model, self.optimizer, self.precision, self.device = model, optimizer, precision, device
        self.scaler = scaler if scaler is not None and scaler.is_enabled() else None
        self.description = "eager training step" + (f" ({reason})" if reason else "")

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return train_step(self.model, self.optimizer, images, labels, self.precision, self.device,
                          self.scaler)


def plain_step(model, optimizer, precision: str, device: str, scaler=None, log=None, *,
               reason: str = "") -> PlainStep:
    """The default step factory of :func:`train`, and the eager path of
    ``cocoop_lib.fast.make_step`` (runs pass ``partial(make_step, plain=plain_step)``: the
    captured step on a GPU)."""
    return PlainStep(model, optimizer, precision, device, scaler, reason)


def train(model: PromptedCLIP, train_set, settings: TrainSettings,
          checkpoint_path: str | Path | None = None, progress: bool = True,
          on_epoch=None, step_factory=plain_step) -> dict:
    """Train ``model.prompt_learner`` on ``train_set`` (a dataset of (image, label)).

    After every epoch the learner, optimiser and random states are written atomically to
    ``checkpoint_path``; if that file exists, training resumes after its epoch and gives the same
    result as an uninterrupted run. Returns {"losses": mean loss per epoch, "lrs": lr per epoch,
    "seconds": training wall time}. ``on_epoch(epoch, epochs)``, if given, is called after each
    epoch's checkpoint (runs use it to heartbeat their claim). ``step_factory(model, optimizer,
    precision, device, scaler, log=...) -> step`` builds the per-batch step (:func:`plain_step`;
    runs pass ``cocoop_lib.fast.make_step`` with ``plain=plain_step``).
    """
    device, precision = settings.device, settings.precision
    params = [p for p in model.prompt_learner.parameters() if p.requires_grad]
    if not params:
        raise ValueError("This prompt learner has nothing to train (zero-shot); evaluate it directly.")
    optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    scaler = grad_scaler(precision, device)
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
    # same random streams and Dassl's drop_last rule on either pipeline (train_batches.py)
    loader = EpochBatches(training_images(train_set, settings.pipeline), settings.batch_size,
                          generator)
    history = {"losses": [], "lrs": [], "seconds": 0.0}
    start_epoch = 1
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    if ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt)
        model.prompt_learner.load_state_dict(state["learner"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        _set_rng_state(state["rng"])
        history = state["history"]
        start_epoch = state["epoch"] + 1
    model.prompt_learner.train()
    # the per-batch step (runs: captured and replayed on CUDA, else the eager train_step above)
    step = step_factory(model, optimizer, precision, device, scaler,
                        log=(lambda line: print(line, file=sys.stderr)) if progress else None)
    history["training_path"] = step.description      # which step ran is part of the record
    for epoch in range(start_epoch, settings.epochs + 1):
        t0 = time.perf_counter()
        lr = learning_rate(epoch, settings.epochs, settings.lr, settings.warmup_lr,
                           settings.warmup_epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{settings.epochs}", leave=False, disable=not progress)
        for images, labels in bar:
            loss = step(images, labels)
            total += float(loss) * len(labels)
            count += len(labels)
        history["losses"].append(total / max(count, 1))
        history["lrs"].append(lr)
        history["seconds"] += time.perf_counter() - t0
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _atomic_save({"epoch": epoch, "learner": model.prompt_learner.state_dict(),
                          "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                          "generator": generator.get_state(), "rng": _rng_state(),
                          "history": history}, ckpt)
        if on_epoch is not None:
            on_epoch(epoch, settings.epochs)
    model.prompt_learner.eval()
    return history
