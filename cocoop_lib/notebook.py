"""Small helpers the book's notebooks call: parameter checks, experiment plans, provenance.

Every notebook has one ``parameters`` cell with the same names (papermill overrides them)::

    datasets, methods, seeds, shots, epochs, n_ctx, recipe, backbone, data_root, device,
    precision, output_dir

and its first code cell turns them into a checked :class:`BookParameters`::

    from cocoop_lib.notebook import check_parameters
    P = check_parameters("base_to_new", datasets=datasets, methods=methods, seeds=seeds, ...)

A bad value (an unknown dataset, a negative seed, ...) raises :class:`ParameterError` there, with a
message naming the parameter and what it accepts, so a papermill run stops at the first cell.
``None`` always means "the default": the recipe's value, or every dataset of the world the
backbone and data root select (the offline mini world when ``data_root`` is None).
"""
from __future__ import annotations

import os
import warnings

# tqdm.auto warns at import that ipywidgets is missing; the book needs no widgets.
warnings.filterwarnings("ignore", message="IProgress not found")
# Executed notebooks should not fill with progress bars (tqdm reads this when it is imported).
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import html
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

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
METHOD_LABELS = {"zeroshot": "CLIP", "coop": "CoOp", "cocoop": "CoCoOp"}
PAPER_SETTING = dict(backbone="openai/clip-vit-base-patch16", recipe="paper", seeds=[1, 2, 3],
                     shots=16)


class ParameterError(ValueError):
    """A notebook parameter is wrong; the message names it, what was given and what is accepted."""


# ----------------------------------------------------------------------------- worlds and roles


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
    if spec.world == "paper":
        return spec.name
    try:
        from .datasets.mini import PLAYS
    except ImportError:
        return None
    return PLAYS.get(spec.name)


def world_of(datasets: list[str]) -> World:
    """Sort ``datasets`` (spec names) into the parts they play in the experiments."""
    from .datasets import DOMAIN_SHIFT, get_spec

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
    from .datasets import BASE_TO_NEW, DATASETS, DOMAIN_SHIFT

    if data_root is None:
        return [s.name for s in DATASETS.values() if s.world == "mini"]
    return list(BASE_TO_NEW + DOMAIN_SHIFT)


# ----------------------------------------------------------------------------- parameters


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

    def run_config(self, dataset: str, method: str, seed: int, **overrides):
        """The :class:`~cocoop_lib.runs.RunConfig` of one run under these parameters.

        ``n_ctx`` None keeps the recipe's context (4 vectors initialised from "a photo of a");
        another count starts that many vectors from N(0, 0.02) (the paper's ctx_init "").
        """
        from .runs import RunConfig

        kw = dict(dataset=dataset, method=method, seed=int(seed), shots=self.shots,
                  epochs=self.epochs, recipe=self.recipe, backbone=self.backbone,
                  data_root=self.data_root, output_dir=self.output_dir, device=self.device,
                  precision=self.precision)
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
    if not isinstance(device, str) or not (device in ("auto", "cpu", "mps") or device.startswith("cuda")):
        _fail("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    if device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            _fail("device", device, "no CUDA GPU is visible here; use 'auto' or 'cpu'")
    if precision not in PRECISIONS:
        _fail("precision", precision, f"one of {', '.join(PRECISIONS)}")
    if not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir):
        _fail("output_dir", output_dir, "give a folder for run records, checkpoints and caches")
    return BookParameters(chapter, names, methods, seeds, shots, epochs, n_ctx, recipe, backbone,
                          data_root, device, precision, str(output_dir), world=world)


# ----------------------------------------------------------------------------- experiment plans

# the plans live in cocoop_lib.experiments (the sweep uses them too); re-exported for the chapters
from .experiments import (ablation_n_ctx, backbone_dims, longest_classname_tokens,  # noqa: E402,F401
                          matched_n_ctx, plan_ablation, plan_base_to_new, plan_transfer,
                          variant_label)


# ----------------------------------------------------------------------------- running


def run_all(configs, *, verbose: bool = True) -> list[dict]:
    """Run every config (records that exist are reused) and print one line per run."""
    from .runs import run

    records = []
    t0 = time.perf_counter()
    for i, config in enumerate(configs, 1):
        config = config[1] if isinstance(config, tuple) else config
        reused = usable_record(config) is not None
        record = run(config, progress=False)
        record["_reused"] = reused
        records.append(record)
        if verbose:
            c = record["config"]
            order = {"base": 0, "new": 1, "H": 2, "all": 0}
            items = sorted(record["metrics"].items(), key=lambda kv: (
                not kv[0].startswith(c["dataset"] + ":"), order.get(kv[0].split(":")[-1], 3)))
            metrics = "  ".join(f"{k.split(':', 1)[1] if k.startswith(c['dataset'] + ':') else k} "
                                f"{v:.1f}" for k, v in items)
            how = "reused" if reused else f"{record['seconds']['total']:.0f} s"
            print(f"[{i}/{len(configs)}] {c['dataset']} {c['method']} n_ctx={record['n_ctx']} "
                  f"seed {c['seed']}: {metrics}  ({how})", flush=True)
    if verbose:
        n_new = sum(not r["_reused"] for r in records)
        print(f"{len(records)} runs ({n_new} new, {len(records) - n_new} reused) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return records


def load_records(configs) -> tuple[list[dict], list]:
    """Existing records of ``configs`` (nothing is run) and the configs that have none yet."""
    found, missing = [], []
    for config in configs:
        config = config[1] if isinstance(config, tuple) else config
        record = usable_record(config)
        if record is not None:
            found.append(record)
        else:
            missing.append(config)
    return found, missing


def usable_record(config) -> dict | None:
    """The record of ``config`` if it exists and was made with the backbone's current weights
    (``run`` redoes a run whose record came from other weights)."""
    import json

    from .runs import record_path

    path = record_path(config)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    try:
        from .runs import backbone_sha256
        current = backbone_sha256(config.resolved().backbone)
    except ImportError:  # an older library without the check
        return record
    return record if record.get("backbone", {}).get("weights_sha256") == current else None


# ----------------------------------------------------------------------------- provenance


def backbone_summary(P: BookParameters) -> dict:
    """Backbone name, weight file sha256 and whether it is the mini CLIP, without loading it."""
    from .backbone import PAPER_BACKBONE, WEIGHT_FILES, file_sha256, resolve_backbone_folder

    folder = resolve_backbone_folder(P.backbone)
    weights = next(folder / w for w in WEIGHT_FILES if (folder / w).exists())
    return {"backbone": P.backbone, "weights_path": str(weights),
            "weights_sha256": file_sha256(weights), "is_mini_clip": P.backbone == "mini",
            "is_paper_backbone": P.backbone == PAPER_BACKBONE}


def provenance_info(P: BookParameters, records: list[dict] | None = None) -> dict:
    """What this notebook's numbers came from: backbone, data, device, versions, git, times."""
    import torch

    from .presets import get_recipe
    from .records import provenance

    device = P.device if P.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    info = {"parameters": P.as_dict(), "backbone": backbone_summary(P),
            "recipe": get_recipe(P.recipe, P.backbone).name,
            "data": "offline mini world (bundled)" if P.data_root is None else f"data_root {P.data_root}",
            "world": P.world.name, **provenance(device),
            "wall_seconds": round(time.time() - P.started, 1)}
    if records:
        shas = sorted({r["backbone"]["weights_sha256"] for r in records})
        info["records"] = {
            "n_runs": len(records),
            "n_reused": sum(bool(r.get("_reused")) for r in records),
            "compute_seconds": round(sum(r["seconds"]["total"] for r in records), 1),
            "weights_sha256": shas,
            "is_mini_clip": sorted({bool(r["backbone"]["is_mini_clip"]) for r in records}),
            "devices": sorted({r["provenance"].get("device_name", r["provenance"]["device"])
                               for r in records}),
            "git_revisions": sorted({r["provenance"]["git_revision"] for r in records}),
        }
    return info


def _mini_warning(info: dict) -> str | None:
    mini_clip = info["backbone"]["is_mini_clip"] or True in info.get("records", {}).get("is_mini_clip", [])
    mini_data = info["world"] != "paper"
    if not (mini_clip or mini_data):
        if not info["backbone"]["is_paper_backbone"]:
            return (f"Backbone {info['backbone']['backbone']!r} is not the paper's CLIP ViT-B/16 "
                    "(openai/clip-vit-base-patch16): these numbers are not the paper's setting.")
        return None
    parts = []
    if mini_clip:
        parts.append("the offline MINI CLIP (a small CLIP pretrained on 32x32 synthetic images, "
                     "bundled with this package), NOT the paper's CLIP ViT-B/16")
    if mini_data:
        parts.append("the offline MINI WORLD datasets (emoji, glyphs, Fashion-MNIST, MNIST at "
                     "32x32), NOT the paper's 11 datasets")
    return ("OFFLINE MINI WORLD: these numbers come from " + " and ".join(parts) + ". Compare "
            "their pattern with the paper's, not their values. To run the paper's setting, see "
            "the introduction's papermill command.")


def provenance_block(P: BookParameters, records: list[dict] | None = None,
                     title: str = "Provenance") -> tuple[str, str, dict]:
    """(HTML, plain text, data) of a block stating what this notebook ran on."""
    info = provenance_info(P, records)
    warning = _mini_warning(info)
    b = info["backbone"]
    rows = [
        ("backbone", f"{b['backbone']}" + (" (offline mini CLIP)" if b["is_mini_clip"] else "")),
        ("weights sha256", b["weights_sha256"]),
        ("data", info["data"]),
        ("recipe", info["recipe"]),
        ("device", f"{info['device']} ({info.get('device_name', '')}"
                   + (f", {info['cpu_threads']} thread(s)" if "cpu_threads" in info else "")
                   + (f", CUDA {info['cuda']}" if info.get("cuda") else "") + ")"),
        ("versions", ", ".join(f"{k} {v}" for k, v in info["versions"].items())),
        ("git revision", info["git_revision"]),
        ("notebook wall time", f"{info['wall_seconds']:.1f} s (since the parameters cell)"),
        ("parameters", ", ".join(f"{k}={v!r}" for k, v in info["parameters"].items())),
    ]
    if "records" in info:
        r = info["records"]
        rows.append(("runs", f"{r['n_runs']} run records ({r['n_reused']} reused from earlier "
                             f"executions); compute time recorded in them {r['compute_seconds']:.0f} s"))
        if r["weights_sha256"] != [b["weights_sha256"]]:
            rows.append(("record weights", ", ".join(r["weights_sha256"])))
        rows.append(("records made on", "; ".join(r["devices"]) + " at git " + ", ".join(r["git_revisions"])))
    text = [f"== {title} =="] + ([f"!! {warning}"] if warning else []) + [f"{k}: {v}" for k, v in rows]
    colour = "#b00020" if warning else "#1b5e20"
    banner = (f'<p class="cocoop-provenance-warning" style="color:{colour};font-weight:bold;'
              f'margin:0 0 .4em 0">&#9888; {html.escape(warning)}</p>' if warning else
              f'<p style="color:{colour};font-weight:bold;margin:0 0 .4em 0">Paper setting: '
              'CLIP ViT-B/16 on the paper\'s datasets.</p>')
    table = "".join(f"<tr><th style='text-align:left;padding-right:1em;vertical-align:top'>"
                    f"{html.escape(k)}</th><td style='font-family:monospace;word-break:break-all'>"
                    f"{html.escape(str(v))}</td></tr>" for k, v in rows)
    body = (f'<div class="cocoop-provenance" style="border:2px solid {colour};border-radius:6px;'
            f'padding:.6em 1em;margin:.5em 0"><p style="margin:0 0 .3em 0"><b>{html.escape(title)}'
            f'</b></p>{banner}<table class="cocoop-provenance-table">{table}</table></div>')

    return body, "\n".join(text), info


def show_provenance(P: BookParameters, records: list[dict] | None = None,
                    title: str = "Provenance") -> dict:
    """Display the provenance block (HTML for the book, plain text for logs); returns its data."""
    from IPython.display import display

    body, text, info = provenance_block(P, records, title)
    display({"text/html": body, "text/plain": text}, raw=True)
    return info


def setting_sentence(P: BookParameters) -> str:
    """One sentence naming the setting, for prose (glued into the text)."""
    from .presets import get_recipe

    recipe = get_recipe(P.recipe, P.backbone)
    clip = "the offline mini CLIP" if P.is_mini_backbone else f"CLIP {P.backbone}"
    data = "the mini world's datasets" if P.data_root is None else "the paper's datasets"
    exceptions = {m: [f"{key.split(':', 1)[1]} {n}" for key, n in recipe.epochs_on.items()
                      if key.split(":", 1)[0] == m] for m in recipe.epochs}
    epochs = (f"{P.epochs} epochs" if P.epochs else
              ", ".join(f"{METHOD_LABELS[m]} {n} epochs"
                        + (f" ({', '.join(exceptions[m])})" if exceptions[m] else "")
                        for m, n in recipe.epochs.items()))
    return (f"{clip} on {data}, recipe '{recipe.name}', {P.shots or recipe.shots} shots, {epochs}, "
            f"seeds {', '.join(map(str, P.seeds))}")


# ----------------------------------------------------------------------------- glue and models


def glue_numbers(values: dict, digits: int = 4) -> None:
    """Glue numbers for the prose (myst-nb ``{glue:text}`key:.1f```), as plain Python floats.

    NaN stands for "not run in this configuration", so the prose always finds its keys.
    """
    from myst_nb import glue

    for key, value in values.items():
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            glue(key, value, display=False)
            continue
        if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu" and not hasattr(value, "__len__"):
            glue(key, int(value), display=False)
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        glue(key, round(v, digits) if v == v else v, display=False)


def trained_model(record: dict):
    """Rebuild a finished run's model: (PromptedCLIP with the learned prompts, its training split).

    The learner is rebuilt for the run's training classes and loaded from the run's checkpoint
    (``<output_dir>/checkpoints/<run name>.pt``, written after every epoch).
    """
    import torch

    from .datasets import load_dataset, sample_few_shot, subsample_classes
    from .model import PromptedCLIP
    from .prompt_learners import build_prompt_learner
    from .runs import get_backbone

    c = record["config"]
    backbone = get_backbone(c["backbone"], c["device"], c["precision"])
    splits = load_dataset(c["dataset"], c["data_root"])
    few = sample_few_shot(splits, c["shots"], c["seed"],
                          cache_dir=str(Path(c["output_dir"]) / "fewshot"))
    part = subsample_classes(few, c["train_classes"])
    learner = build_prompt_learner(c["method"], backbone, part.classnames, template=splits.template,
                                   n_ctx=c["n_ctx"], ctx_init=c["ctx_init"])
    if c["method"] != "zeroshot":
        folder = Path(c["output_dir"]) / "checkpoints"
        ckpt = folder / f"{record['name']}-{record['backbone']['weights_sha256'][:8]}.pt"
        if not ckpt.exists():  # records written before checkpoints were named by their weights
            ckpt = folder / f"{record['name']}.pt"
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        learner.load_state_dict(state["learner"])
    learner.eval()
    return PromptedCLIP(backbone, learner), part


def test_features(config, model, items):
    """Image features and labels of ``items`` under the test transform, from the same cache the
    runs use (``<output_dir>/features``): ((N, E) float32, (N,) long)."""
    from .backbone import image_transforms
    from .datasets import ImageDataset
    from .evaluation import features_key, image_features

    c = config.resolved() if hasattr(config, "resolved") else config
    backbone = model.backbone
    _, test_tf = image_transforms(backbone.image_size)
    key = features_key(backbone.weights_sha256, [d.impath for d in items], test_tf, c.precision)
    return image_features(model, ImageDataset(items, test_tf), device=c.device, precision=c.precision,
                          cache_dir=Path(c.output_dir) / "features", cache_key=key)
