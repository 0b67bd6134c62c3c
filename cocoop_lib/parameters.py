"""The book's parameters: the names every chapter's ``parameters`` cell sets, and their check.

Every notebook has one ``parameters`` cell with the same names (papermill overrides them)::

    datasets, methods, seeds, shots, epochs, n_ctx, recipe, backbone, data_root, device,
    precision, output_dir

and its first code cell turns them into a checked :class:`BookParameters`::

    from cocoop_lib.parameters import check_parameters     # or cocoop_lib.notebook
    P = check_parameters("base_to_new", datasets=datasets, methods=methods, seeds=seeds, ...)

A bad value (an unknown dataset, a negative seed, ...) raises :class:`ParameterError` there, with a
message naming the parameter and what it accepts, so a papermill run stops at the first cell.
``None`` always means "the default": the recipe's value, or every dataset of the world the
backbone and data root select (the offline mini world when ``data_root`` is None).

This module has no import-time side effects (``scripts/sweep.py`` imports it outside the book).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .datasets.roles import World, default_datasets, world_of

PARAMETER_NAMES = ("datasets", "methods", "seeds", "shots", "epochs", "n_ctx", "recipe", "backbone",
                   "data_root", "device", "precision", "output_dir")
CHAPTERS = {
    # chapter -> methods it accepts (first: the default list)
    "method": ("zeroshot", "coop", "cocoop"),
    "base_to_new": ("zeroshot", "coop", "cocoop"),
    "ablation": ("coop", "cocoop"),
    "transfer": ("zeroshot", "coop", "cocoop"),
    "results": ("zeroshot", "coop", "cocoop"),
    "recipes": ("zeroshot", "coop", "cocoop"),
}
DEFAULT_SEEDS = (1, 2, 3)
# The one map from a method's id to its name in the paper's tables (results uses it too).
METHOD_LABELS = {"zeroshot": "CLIP", "coop": "CoOp", "cocoop": "CoCoOp"}
METHOD_ORDER = list(METHOD_LABELS.values())


def variant_label(method_id: str, n_ctx: int, is_default: bool, explicit_ctx: bool = False) -> str:
    """Display name of a variant: "CLIP", "CoOp", "CoCoOp", or e.g. "CoOp ctx=60".

    The recipe's context (4 vectors from its ctx_init) gets the plain name unless
    ``explicit_ctx``; any other context length or init is named.
    """
    if method_id == "zeroshot":
        return "CLIP"
    if method_id == "coop":
        return f"CoOp ctx={n_ctx}" if explicit_ctx or not is_default else "CoOp"
    if explicit_ctx or not is_default:
        return f"CoCoOp (ctx={n_ctx} + Meta-Net)"
    return "CoCoOp"


PAPER_SETTING = dict(backbone="openai/clip-vit-base-patch16", recipe="paper", seeds=[1, 2, 3],
                     shots=16)


class ParameterError(ValueError):
    """A notebook parameter is wrong; the message names it, what was given and what is accepted."""


@dataclass
class BookParameters:
    """The checked parameters of one notebook (see :func:`check_parameters`)."""

    chapter: str
    datasets: list
    methods: list
    seeds: list
    shots: int | None
    epochs: int | None
    n_ctx: int | None
    recipe: str
    backbone: str
    data_root: str | None
    device: str
    precision: str
    output_dir: str
    world: World = None
    started: float = field(default_factory=time.time)

    @property
    def is_mini_backbone(self) -> bool:
        return self.backbone == "mini"

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in PARAMETER_NAMES}

    def common_run_fields(self) -> dict:
        """The :class:`~cocoop_lib.runs.RunConfig` fields every run of a chapter shares: shots,
        epochs, recipe, backbone, data_root, output_dir, device, precision."""
        return dict(shots=self.shots, epochs=self.epochs, recipe=self.recipe,
                    backbone=self.backbone, data_root=self.data_root,
                    output_dir=self.output_dir, device=self.device, precision=self.precision)

    def run_config(self, dataset: str, method: str, seed: int, **overrides):
        """The :class:`~cocoop_lib.runs.RunConfig` of one run under these parameters.

        ``n_ctx`` None keeps the recipe's context (4 vectors initialised from "a photo of a");
        another count starts that many vectors from N(0, 0.02) (the paper's ctx_init "").
        """
        from .runs import RunConfig

        kw = dict(dataset=dataset, method=method, seed=int(seed), **self.common_run_fields())
        if self.n_ctx is not None and method != "zeroshot":
            kw.update(n_ctx=self.n_ctx, ctx_init="")
        kw.update(overrides)
        return RunConfig(**kw)


def _fail(name: str, given, accepted: str) -> None:
    raise ParameterError(f"Parameter `{name}` = {given!r} is not valid: {accepted}. "
                         f"(Fix the notebook's parameters cell or the papermill -p option.)")


def _positive_int_or_none(name: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(name, value, "give a positive integer, or None for the recipe's value")
    return value


def check_parameters(chapter: str, *, datasets=None, methods=None, seeds=None, shots=None,
                     epochs=None, n_ctx=None, recipe=None, backbone="mini", data_root=None,
                     device="auto", precision="auto", output_dir="outputs") -> BookParameters:
    """Check a notebook's parameters and fill in the defaults.

    Raises :class:`ParameterError` (a ValueError) with a message that names the parameter, the
    value given and what it accepts. Nothing is trained or loaded here, so a bad parameter stops
    the notebook in its first cell.
    """
    from .datasets import DATASETS, DataError, get_spec
    from .precision import PRECISIONS
    from .presets import RECIPES

    if chapter not in CHAPTERS:
        raise ParameterError(f"Unknown chapter {chapter!r}; one of {', '.join(CHAPTERS)}.")
    # data_root first: it selects the world the dataset defaults come from
    if data_root is not None:
        if not isinstance(data_root, (str, os.PathLike)) or not str(data_root):
            _fail("data_root", data_root, "give a folder, or None for the bundled mini world")
        if not Path(data_root).expanduser().is_dir():
            _fail("data_root", data_root, "the folder does not exist; fetch the data with "
                  "`python -m data_scripts.get <Dataset> --root DIR` or use None (mini world)")
        data_root = str(Path(data_root).expanduser().resolve())

    if datasets is None:
        datasets = default_datasets(data_root)
    elif isinstance(datasets, str):
        datasets = [datasets]
    if not isinstance(datasets, (list, tuple)) or not datasets:
        _fail("datasets", datasets, "give a non-empty list of dataset names, or None for all")
    names = []
    for d in datasets:
        try:
            spec = get_spec(d)
        except DataError:
            mini = [s.name for s in DATASETS.values() if s.world == "mini"]
            paper = [s.name for s in DATASETS.values() if s.world == "paper"]
            _fail("datasets", d, "unknown dataset; mini world: " + (", ".join(mini) or "(not installed)")
                  + "; paper (need data_root): " + ", ".join(paper))
        if spec.world == "paper" and data_root is None:
            _fail("datasets", d, f"{spec.name} is one of the paper's datasets and needs "
                  "`data_root` (the folder holding it); the offline mini world needs none")
        if spec.name not in names:
            names.append(spec.name)
    world = world_of(names)
    if chapter in ("method", "base_to_new", "ablation") and not world.base_to_new:
        _fail("datasets", datasets, "this chapter trains on base classes and needs at least one "
              "dataset with training images (the ones given are test-only)")
    if chapter == "transfer" and world.source is None:
        _fail("datasets", datasets, "transfer needs a source dataset with training images")

    allowed = CHAPTERS[chapter]
    if methods is None:
        methods = list(allowed)
    elif isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, (list, tuple)) or not methods:
        _fail("methods", methods, f"give a non-empty list from {list(allowed)}, or None")
    for m in methods:
        if m not in allowed:
            _fail("methods", m, f"this chapter runs {', '.join(allowed)}")
    methods = list(dict.fromkeys(methods))

    if seeds is None:
        seeds = list(DEFAULT_SEEDS)
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        _fail("seeds", seeds, "give a non-empty list of non-negative integers (the paper uses "
              "[1, 2, 3])")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            _fail("seeds", seeds, f"every seed must be a non-negative integer ({s!r} is not); "
                  "the paper uses [1, 2, 3]")
    seeds = list(dict.fromkeys(seeds))

    shots = _positive_int_or_none("shots", shots)
    epochs = _positive_int_or_none("epochs", epochs)
    n_ctx = _positive_int_or_none("n_ctx", n_ctx)
    if recipe is None:
        recipe = "auto"
    if recipe not in ("auto", *RECIPES):
        _fail("recipe", recipe, f"one of auto, {', '.join(RECIPES)} (None = auto: mini for the "
              "mini CLIP, paper otherwise)")
    if not isinstance(backbone, str) or not backbone:
        _fail("backbone", backbone, "'mini', a hub id such as 'openai/clip-vit-base-patch16', "
              "or a folder in the hub's format")
    if backbone != "mini" and not Path(backbone).expanduser().exists() and backbone.count("/") != 1:
        _fail("backbone", backbone, "'mini', an existing folder, or a hub id such as "
              "'openai/clip-vit-base-patch16'")
    if backbone == "mini" or Path(backbone).expanduser().is_dir():
        from .backbone import BackboneError, check_weights_file, resolve_backbone_folder
        try:
            check_weights_file(resolve_backbone_folder(backbone))
        except BackboneError as err:
            _fail("backbone", backbone, str(err))
    try:
        from .runs import check_device
        check_device(device)
    except ValueError as err:
        _fail("device", device, str(err).split("is not valid: ", 1)[-1].rstrip("."))
    if precision not in PRECISIONS:
        _fail("precision", precision, f"one of {', '.join(PRECISIONS)}")
    if not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir):
        _fail("output_dir", output_dir, "give a folder for run records, checkpoints and caches")
    return BookParameters(chapter, names, methods, seeds, shots, epochs, n_ctx, recipe, backbone,
                          data_root, device, precision, str(output_dir), world=world)
