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


# ----------------------------------------------------------------------------- experiment plans


def plan_base_to_new(P: BookParameters) -> list:
    """Table 1: every base-to-new dataset x method x seed, trained on base, tested on base and new."""
    methods = [m for m in P.methods if m in CHAPTERS["base_to_new"]]
    return [P.run_config(d, m, s) for d in P.world.base_to_new for m in methods for s in P.seeds]


def matched_n_ctx(backbone_info: dict | None = None, *, ctx_dim: int = 512, embed_dim: int = 512,
                  context_length: int = 77, longest_name: int = 12) -> int:
    """The parameter-matched context length of the ablation.

    ViT-B/16 (ctx_dim 512): 60, the paper's (30,720 parameters against CoCoOp's 35,360). For
    another width: the same ratio of CoCoOp's count, kept short enough that the prompt (SOS,
    context, the longest class name, ".", EOT) fits the text encoder.
    """
    if backbone_info:
        ctx_dim = backbone_info.get("text_width", ctx_dim)
        embed_dim = backbone_info.get("embed_dim", embed_dim)
    if ctx_dim == 512 and embed_dim == 512:
        return 60
    hidden = embed_dim // 16
    cocoop = 4 * ctx_dim + embed_dim * hidden + hidden + hidden * ctx_dim + ctx_dim
    n = round(cocoop * (30_720 / 35_360) / ctx_dim)
    return max(5, min(n, context_length - longest_name - 3))


def plan_ablation(P: BookParameters, large_n_ctx: int | None = None) -> list[tuple[str, object]]:
    """The parameter-count ablation: (variant label, RunConfig) for every dataset and seed.

    Variants: CoOp with the recipe's context (4 vectors, "a photo of a": the same runs as Table 1's
    CoOp, so they are reused), CoOp with ``large_n_ctx`` random vectors (``n_ctx`` parameter, or
    parameter-matched: 60 for ViT-B/16), and CoCoOp (the recipe's context + Meta-Net).
    """
    large = large_n_ctx or P.n_ctx or 60
    base = replace(P, n_ctx=None)
    out = []
    for d in P.world.base_to_new:
        for s in P.seeds:
            if "coop" in P.methods:
                out.append(("CoOp ctx=4", base.run_config(d, "coop", s)))
                out.append((f"CoOp ctx={large}", base.run_config(d, "coop", s, n_ctx=large,
                                                                 ctx_init="")))
            if "cocoop" in P.methods:
                out.append(("CoCoOp (ctx=4 + Meta-Net)", base.run_config(d, "cocoop", s)))
    return out


def plan_transfer(P: BookParameters) -> list:
    """Tables 2 and 3: train on the source's classes (all of them), test on every dataset."""
    w = P.world
    eval_on = tuple(f"{d}:all" for d in (w.source, *w.targets, *w.variants))
    methods = [m for m in P.methods if m in CHAPTERS["transfer"]]
    return [P.run_config(w.source, m, s, train_classes="all", eval_on=eval_on)
            for m in methods for s in P.seeds]


# ----------------------------------------------------------------------------- running


def run_all(configs, *, verbose: bool = True) -> list[dict]:
    """Run every config (records that exist are reused) and print one line per run
    (:func:`cocoop_lib.runs.run_many`)."""
    from .runs import run_many
    return run_many(configs, verbose=verbose)


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
    """The reusable record of ``config`` or None (:func:`cocoop_lib.runs.find_record`)."""
    from .runs import find_record
    return find_record(config)


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
    """A finished run's (model, training split) (:func:`cocoop_lib.runs.load_trained`)."""
    from .runs import load_trained
    return load_trained(record)


def backbone_dims(P: BookParameters) -> dict:
    """Widths of the backbone (read from its config.json, weights not loaded)."""
    import json

    from .backbone import resolve_backbone_folder

    cfg = json.loads((resolve_backbone_folder(P.backbone) / "config.json").read_text())
    text, vision = cfg.get("text_config", {}), cfg.get("vision_config", {})
    return {"text_width": text.get("hidden_size", 512), "embed_dim": cfg.get("projection_dim", 512),
            "context_length": text.get("max_position_embeddings", 77),
            "vision_width": vision.get("hidden_size"), "image_size": vision.get("image_size")}


def longest_classname_tokens(P: BookParameters) -> int:
    """Most tokens any class name (with its ".") of the base-to-new datasets takes."""
    from .backbone import CLIP_TOKENIZER_DIR
    from .datasets import load_dataset
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    longest = 1
    for d in P.world.base_to_new:
        names = load_dataset(d, P.data_root).classnames
        longest = max([longest] + [len(tok(n.replace("_", " ") + ".")["input_ids"]) - 2 for n in names])
    return longest


def ablation_n_ctx(P: BookParameters) -> int:
    """The long context of the ablation: ``n_ctx`` if given, else parameter-matched for the
    backbone (60 for ViT-B/16, as in the paper)."""
    if P.n_ctx:
        return P.n_ctx
    dims = backbone_dims(P)
    if dims["text_width"] == 512 and dims["embed_dim"] == 512:
        return 60                     # the paper's (no need to read every class name)
    return matched_n_ctx(dims, context_length=dims["context_length"],
                         longest_name=longest_classname_tokens(P))


def test_features(config, model, items):
    """Cached test-image features of ``items`` (:func:`cocoop_lib.runs.cached_test_features`)."""
    from .runs import cached_test_features
    return cached_test_features(config, model, items)
