"""The training step restructured for CUDA-graph capture, and the factory that picks a path.

A batch-1 CoCoOp step is about a thousand small kernels; on a GPU the host's launch rate, not the
arithmetic, bounds it. :class:`CapturedStep` captures forward, backward and the SGD update once
(per batch shape, after eager warm-up steps) and replays the graph on static input buffers. The
learning rate lives in a device tensor refreshed from ``optimizer.param_groups`` before every
step, so the per-epoch schedule stays exact; the momentum buffers stay in ``optimizer.state``, so
``optimizer.state_dict()`` round-trips as with the eager step (checkpoints and resume unchanged).

:func:`restructured_step` is that step's maths, run eagerly: grads to None, forward, backward,
then torch.optim.SGD's update (weight decay, momentum, no dampening/nesterov) written with a
tensor learning rate; on the CPU it gives the eager step's trajectory bit for bit (tested).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..precision import autocast_context


def _check_sgd(optimizer: torch.optim.Optimizer) -> None:
    if type(optimizer) is not torch.optim.SGD:
        raise ValueError(f"The restructured step implements torch.optim.SGD, not {type(optimizer).__name__}.")
    for g in optimizer.param_groups:
        if g["dampening"] or g["nesterov"] or g["maximize"]:
            raise ValueError("The restructured step implements SGD without dampening, nesterov "
                             "or maximize (the protocol's optimiser).")


def sgd_update_(optimizer: torch.optim.SGD, lrs: list[torch.Tensor]) -> None:
    """torch.optim.SGD's step with the learning rate of group i read from the tensor ``lrs[i]``.

    Per parameter, as torch's single-tensor SGD: g = grad + wd * p; buf = g on the first step,
    else buf = momentum * buf + g; p = p - lr * buf. No host synchronisation.
    """
    for group, lr in zip(optimizer.param_groups, lrs):
        wd, momentum = group["weight_decay"], group["momentum"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
            if momentum:
                state = optimizer.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.clone(g).detach()
                else:
                    buf.mul_(momentum).add_(g)
                g = buf
            p.addcmul_(g, lr, value=-1)        # = p.add_(g, alpha=-lr), bit for bit; lr: 0-dim tensor


def restructured_step(model, optimizer: torch.optim.SGD, images: torch.Tensor,
                      labels: torch.Tensor, lrs: list[torch.Tensor], precision: str = "fp32",
                      device: str = "cpu", cache_enabled: bool = True) -> torch.Tensor:
    """One training step on tensors already on ``device``; the same maths as ``train_step``.

    Returns the loss as a 0-dim device tensor (no host synchronisation).
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None
    with autocast_context(precision, device, cache_enabled=cache_enabled):
        features = model.encode_images(images)                         # (B, E), no autograd
        logits = model.logits_from_features(features)                  # (B, C)
        loss = F.cross_entropy(logits.float(), labels)
    loss.backward()
    with torch.no_grad():
        sgd_update_(optimizer, lrs)
    return loss.detach()


class CapturedStep:
    """The restructured step captured as a CUDA graph after ``warmup`` eager steps, then replayed.

    One graph per batch shape, captured the first time that shape is seen after warm-up, at most
    ``max_graphs`` (other shapes, e.g. an odd last batch, run the same maths eagerly). With
    ``capture=False`` it never captures: the restructured step runs eagerly (used on the CPU by
    the tests).
    """

    def __init__(self, model, optimizer, precision: str, device: str, warmup: int = 3,
                 capture: bool = True, max_graphs: int = 1):
        _check_sgd(optimizer)
        self.model, self.optimizer, self.precision, self.device = model, optimizer, precision, device
        self.warmup, self.capture, self.max_graphs = warmup, capture, max_graphs
        dev = torch.device(device)
        self.lrs = [torch.tensor(float(g["lr"]), dtype=torch.float32, device=dev)
                    for g in optimizer.param_groups]
        self.graphs: dict = {}      # shape -> (graph, static images, static labels, static loss)
        self.steps = 0
        self.description = ("captured training step (CUDA graph replay)" if capture
                            else "restructured training step (eager)")

    def _refresh_lr(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.lrs):
            lr.fill_(float(group["lr"]))                           # the epoch's lr, exactly

    def _eager(self, images, labels):
        return restructured_step(self.model, self.optimizer, images, labels, self.lrs,
                                 self.precision, self.device)

    def _capture(self, images, labels):
        static_x, static_y = images.clone(), labels.clone()
        graph = torch.cuda.CUDAGraph()
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        with torch.cuda.graph(graph):
            static_loss = restructured_step(self.model, self.optimizer, static_x, static_y,
                                            self.lrs, self.precision, self.device,
                                            cache_enabled=False)
        return graph, static_x, static_y, static_loss

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        self._refresh_lr()
        self.steps += 1
        key = (tuple(images.shape), tuple(labels.shape), images.dtype)
        if not self.capture or (self.steps <= self.warmup and key not in self.graphs):
            return self._eager(images, labels)
        if key not in self.graphs:
            if len(self.graphs) >= self.max_graphs:
                return self._eager(images, labels)
            torch.cuda.synchronize()
            self.graphs[key] = self._capture(images, labels)
        graph, static_x, static_y, static_loss = self.graphs[key]
        static_x.copy_(images)
        static_y.copy_(labels)
        graph.replay()
        return static_loss.clone()


def capture_blocker(precision: str, device: str, scaler=None) -> str | None:
    """Why the captured step cannot run here (None when it can)."""
    if torch.device(device).type != "cuda":
        return "not on CUDA"
    if not torch.cuda.is_available():
        return "CUDA not available"
    if precision == "fp16" or (scaler is not None and scaler.is_enabled()):
        return "fp16 autocast needs a GradScaler, whose inf checks are host decisions"
    if precision == "fp16-pure":
        return "fp16-pure runs the official eager loop"
    return None


def make_step(model, optimizer, precision: str = "fp32", device: str = "cpu", scaler=None,
              captured: bool | None = None, log=print, *, plain):
    """The training step for this run: ``step(images, labels) -> loss`` (0-dim tensor).

    ``plain`` is the plain step's factory (``training.plain_step``), called with ``reason=`` (why
    nothing is captured) wherever nothing is; it is passed in, so the speed engine does not import
    the training module.

    ``captured=None`` (default): the captured step on CUDA where capture is possible, else the
    eager step; True/False forces the choice (True still falls back, with its reason, where
    capture is impossible). Logs one line saying which path runs.
    """
    blocker = capture_blocker(precision, device, scaler)
    if captured is False:
        step = plain(model, optimizer, precision, device, scaler, reason="captured step switched off")
    elif blocker is None:
        try:
            step = CapturedStep(model, optimizer, precision, device)
        except ValueError as err:
            step = plain(model, optimizer, precision, device, scaler, reason=str(err))
    else:
        step = plain(model, optimizer, precision, device, scaler, reason=blocker)
    if log is not None:
        log(f"training path: {step.description}")
    return step
