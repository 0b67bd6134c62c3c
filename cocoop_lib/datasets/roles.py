"""Dataset roles: which dataset plays which part of the paper's experiments (:class:`World`).

    world_of(["MiniEmojiNet", "MiniAnimals", "MiniEmojiNetV2"])
    # World(name="mini", base_to_new=(...), source="MiniEmojiNet", targets=(...), variants=(...))
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class World:
    """The datasets of one run of the book and the part each plays in the paper's experiments.

    ``source`` plays ImageNet (trained on all classes for Tables 2 and 3); ``variants`` play the
    ImageNet variants (test only, Table 3); ``base_to_new`` are the datasets with training data
    (Table 1, the ablation); ``targets`` are the cross-dataset targets (Table 2).
    ``plays`` maps each dataset to the paper dataset whose part it takes.
    """

    name: str                       # "mini" or "paper"
    base_to_new: tuple
    source: str | None
    targets: tuple
    variants: tuple
    plays: dict = field(default_factory=dict)


def _role_of(spec) -> str | None:
    """The paper dataset a dataset plays: paper datasets play themselves; mini datasets as
    ``cocoop_lib.datasets.mini.PLAYS`` says (None: a base-to-new dataset of its own)."""
    from .mini import PLAYS

    return spec.name if spec.world == "paper" else PLAYS.get(spec.name)


def world_of(datasets: list[str]) -> World:
    """Sort ``datasets`` (spec names) into the parts they play in the experiments."""
    from . import DOMAIN_SHIFT, get_spec

    specs = [get_spec(d) for d in datasets]
    plays = {s.name: r for s in specs if (r := _role_of(s)) is not None}
    variants = tuple(s.name for s in specs if s.test_only or plays.get(s.name) in DOMAIN_SHIFT
                     or _is_test_only(s))
    trainable = tuple(s.name for s in specs if s.name not in variants)
    source = next((d for d in trainable if plays.get(d) == "ImageNet"), trainable[0] if trainable else None)
    targets = tuple(d for d in trainable if d != source)
    kinds = {s.world for s in specs}
    name = kinds.pop() if len(kinds) == 1 else "mixed"
    # the variants sorted as the paper orders them, unknown roles last
    order = {v: i for i, v in enumerate(DOMAIN_SHIFT)}
    variants = tuple(sorted(variants, key=lambda d: order.get(plays.get(d), len(order))))
    return World(name, trainable, source, targets, variants, plays)


def _is_test_only(spec) -> bool:
    """Mini datasets declare test-only-ness by an empty train split (counts (0, 0, n))."""
    counts = getattr(spec, "counts", None)
    return bool(counts) and counts[0] == 0 and counts[1] == 0


def default_datasets(data_root: str | None) -> list[str]:
    """Every dataset of the world ``data_root`` selects: the mini world when it is None."""
    from . import BASE_TO_NEW, DATASETS, DOMAIN_SHIFT

    if data_root is None:
        return [s.name for s in DATASETS.values() if s.world == "mini"]
    return list(BASE_TO_NEW + DOMAIN_SHIFT)
