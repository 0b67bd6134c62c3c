"""Timing and memory of benchmark paths: interleaved medians, CUDA peaks, saved activations."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class SavedActivations:
    """Bytes of the distinct storages autograd saves for backward (the activation memory of a
    training step), ignoring the given frozen tensors (weights, buffers)."""

    def __init__(self, ignore: list[torch.Tensor]):
        self.ignore = {t.untyped_storage().data_ptr() for t in ignore}
        self.storages: dict[int, int] = {}

    def pack(self, t: torch.Tensor):
        s = t.untyped_storage()
        if s.data_ptr() not in self.ignore:
            self.storages[s.data_ptr()] = s.nbytes()
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)

    @property
    def mib(self) -> float:
        return sum(self.storages.values()) / 2**20


@dataclass
class Path_:
    """One timed path: ``fn`` runs it once; ``items`` = images it processes per call."""

    fn: object
    items: int
    train: bool = False
    prime: object = None              # run once, untimed, before round 0 (a graph's capture)
    samples: list = field(default_factory=list)
    memory_mib: float | None = None
    memory_total_mib: float | None = None   # CUDA: peak allocated in all, weights included


def run_interleaved(paths: dict[str, Path_], repeats: int, device: str, frozen: list,
                    warm_threshold_s: float = 2.0) -> None:
    """Time every path ``repeats`` times, round-robin. Round 0 is a warm-up (and measures memory:
    the CUDA peak, or on CPU the activations saved for backward); on CPU a warm-up slower than
    ``warm_threshold_s`` counts as a sample (one-off costs are then negligible)."""
    if device.startswith("cuda"):
        warm_threshold_s = float("inf")
    for name, p in paths.items():
        prime = p.prime or (lambda: None)
        if device.startswith("cuda"):
            sync(device)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            prime()                                    # its memory (a graph's pool) counts
            t = _timed(p.fn, device)
            p.memory_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
            p.memory_total_mib = torch.cuda.max_memory_allocated() / 2**20
        elif p.train:
            with SavedActivations(frozen) as saved:
                prime()
                t = _timed(p.fn, device)
            p.memory_mib = saved.mib
        else:
            prime()
            t = _timed(p.fn, device)
        if t >= warm_threshold_s:
            p.samples.append(t)
    while any(len(p.samples) < repeats for p in paths.values()):
        for p in paths.values():
            if len(p.samples) < repeats:
                p.samples.append(_timed(p.fn, device))


def _timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


