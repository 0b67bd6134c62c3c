"""Every image of a mini dataset, planned: ``world`` says what goes where, ``recipes`` how an image
is drawn, and this module joins the two (so neither imports the other's caller)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import recipes, world


@dataclass(frozen=True)
class PlannedImage:
    split: str
    label: int
    classname: str
    relpath: str
    make: Callable  # () -> PIL RGB image


def plan(name: str) -> list[PlannedImage]:
    """Every image of dataset ``name``, in split-file order, with a closure that renders it."""
    ds = world.datasets()[name]
    counts = ({"test": ds.test_per_class} if ds.test_only else
              {"train": world.POOL_TRAIN, "val": world.POOL_VAL, "test": ds.test_per_class})
    out = []
    for label, cname in enumerate(ds.classnames):
        sources_for = recipes.sources_for(ds.key, label, sum(counts.values()))
        k = 0
        for split, n in counts.items():
            for j in range(n):
                src = sources_for[k]
                k += 1
                rel = f"{label:03d}/{split}_{j:03d}.png"
                out.append(PlannedImage(split, label, cname, rel,
                                        _bind(recipes.make, ds.key, label, split, j, src)))
    order = {"train": 0, "val": 1, "test": 2}
    return sorted(out, key=lambda p: (order[p.split], p.label, p.relpath))


def _bind(fn, *args):
    return lambda: fn(*args)
