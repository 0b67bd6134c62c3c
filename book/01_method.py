# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The method: from CLIP's hand-written prompt to conditional context
#
# CLIP classifies an image by comparing its feature with the text features of one prompt per
# class, e.g. "a photo of a {class}.". **CoOp** replaces the hand-written words by $M$ learned
# context vectors $[v_1, \dots, v_M]$ placed before each class name. The paper's observation is that
# those vectors fit the classes they were trained on (*base* classes) and transfer worse to
# unseen classes of the same dataset (*new* classes). **CoCoOp** adds a small *Meta-Net*
# $h_\theta$ (Linear - ReLU - Linear, 16x bottleneck) that turns each image feature $x$ into a
# shift $\pi = h_\theta(x)$ added to every context vector: $v_m(x) = v_m + \pi$. The prompt,
# and so each class's text feature, now depends on the image.
#
# This chapter builds the three prompt learners step by step from the library, shows the
# tensor shapes and trainable-parameter counts, trains them once, and looks at what was learned.

# %% tags=["remove-cell"]
# On Colab or Binder without the package, install it first (elsewhere this does nothing).
# The address is _config.yml's repository.url (scripts/run_book.py writes it into this line).
import importlib.util
import subprocess
import sys

REPOSITORY = "https://github.com/cocoop-repro/cocoop-repro"
if importlib.util.find_spec("cocoop_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{REPOSITORY}"],
                   check=True)

# %% tags=["parameters"]
# Parameters: the same names in every chapter; papermill's -p NAME VALUE
# overrides them. None means the default: the recipe's value, or every
# dataset of the chosen world.

# dataset names; None: every dataset of the world (data_root None: mini)
datasets = None
# from "zeroshot", "coop", "cocoop"; None: all this chapter compares
methods = None
# list of seeds; None: [1, 2, 3] (the paper's)
seeds = None
# training images per class; None: the recipe's (16)
shots = None
# epochs of every trained method; None: the recipe's per method
epochs = None
# context vectors; None: the recipe's 4, from "a photo of a"
n_ctx = None
# "paper", "mini" or None ("mini" for the mini CLIP, else "paper")
recipe = None
# "mini" (offline), "openai/clip-vit-base-patch16" (paper) or a folder
backbone = "mini"
# folder of the paper's datasets; None: the bundled offline mini world
data_root = None
# "auto", "cpu", "cuda", "cuda:1", ...
device = "auto"
# "auto", "fp32", "bf16", "fp16", "fp16-pure" (the official mode)
precision = "auto"
# run records, checkpoints and caches, shared by all chapters
output_dir = "outputs"

# %% [markdown]
# First the parameters are checked (a wrong one stops the notebook here, with a message saying
# what is accepted), and the setting is stated: which CLIP, which weights, which data, which machine.

# %%
from cocoop_lib.notebook import check_parameters, show_provenance

P = check_parameters(
    "method", datasets=datasets, methods=methods, seeds=seeds,
    shots=shots, epochs=epochs, n_ctx=n_ctx, recipe=recipe,
    backbone=backbone, data_root=data_root, device=device,
    precision=precision, output_dir=output_dir)
show_provenance(P, title="Setting of this chapter");

# %% [markdown]
# ## The model in equations
#
# CoCoOp's prompt for class $i$ and image $x$ is $M$ context vectors followed by the class name's
# word embeddings $c_i$:
#
# $$
# t_i(x) = \{v_1(x), v_2(x), \dots, v_M(x), c_i\}
# $$ (cocoop-prompt)
#
# Each context vector is a learned vector $v_m$ shifted by the same image-conditional token
# $\pi(x)$:
#
# $$
# v_m(x) = v_m + \pi(x), \qquad m = 1, \dots, M
# $$ (cocoop-shift)
#
# where the Meta-Net $\pi = h_\theta$ is Linear - ReLU - Linear on CLIP's image feature
# $f(x)$, with a 16x narrower hidden layer:
#
# $$
# \pi(x) = W_2 \, \mathrm{ReLU}(W_1 f(x) + b_1) + b_2
# $$ (cocoop-metanet)
#
# The class probabilities are the softmax, at CLIP's temperature $\tau$, of the cosine
# similarity between the image feature and the text encoder $g$'s feature of each prompt:
#
# $$
# p(y = i \mid x) = \frac{\exp(\mathrm{sim}(f(x), g(t_i(x))) / \tau)}
#                        {\sum_{j=1}^{K} \exp(\mathrm{sim}(f(x), g(t_j(x))) / \tau)}
# $$ (cocoop-prob)
#
# CoOp is the same model without the shift: $\pi(x) = 0$ in {eq}`cocoop-shift`, so the prompts
# {eq}`cocoop-prompt` are the same for every image. Only $v_1, \dots, v_M$ and the Meta-Net's
# $W_1, b_1, W_2, b_2$ are trained; $f$ and $g$ are CLIP's frozen encoders.
#
# The library's forward is these equations in code: the learner builds the prompts of
# {eq}`cocoop-prompt` with the shift {eq}`cocoop-shift`, the text encoder gives $g(t_i(x))$, and
# the logits are the scaled cosines inside {eq}`cocoop-prob`. Here is its source, as it is in
# `cocoop_lib/model.py`:

# %%
import inspect

from cocoop_lib.model import PromptedCLIP

print(inspect.getsource(PromptedCLIP.forward))

# %% [markdown]
# ## The frozen CLIP
#
# We load the backbone once (runs later in the chapter reuse it). Its weights are frozen: only
# the prompt learner's parameters will be trained. `cfg` is the run configuration of the first
# dataset and seed under this chapter's parameters; it fills in the recipe's defaults.

# %%
from cocoop_lib.runs import get_backbone

dataset = P.world.base_to_new[0]
cfg = P.run_config(dataset, "cocoop", P.seeds[0]).resolved()
backbone = get_backbone(cfg.backbone, cfg.device, cfg.precision)
info = backbone.info()
for key in ("backbone", "image_size", "embed_dim", "text_width",
            "logit_scale", "n_backbone_params"):
    print(f"{key:18s} {info[key]}")
print(f"{'context_length':18s} {backbone.context_length}")

# %% [markdown]
# ## The data: base and new classes
#
# The protocol splits a dataset's classes in two halves: the first $\lceil n/2 \rceil$ are the
# *base* classes (16 training images each), the rest are *new* classes, never seen in training.
# Both halves are tested separately, each in its own label space.

# %%
from cocoop_lib.datasets import (load_dataset, sample_few_shot,
                                 subsample_classes)

splits = load_dataset(cfg.dataset, cfg.data_root)
cache = f"{cfg.output_dir}/fewshot"
few = sample_few_shot(splits, cfg.shots, cfg.seed, cache_dir=cache)
base = subsample_classes(few, "base")
new = subsample_classes(splits, "new")
print(f"{splits.name}: {len(splits.classnames)} classes, "
      f"template {splits.template!r}")
print(f"base: {len(base.classnames)} classes, {len(base.train)} training "
      f"images, {len(base.test)} test images; e.g. {base.classnames[:5]}")
print(f"new:  {len(new.classnames)} classes, {len(new.test)} test images; "
      f"e.g. {new.classnames[:5]}")

# %% [markdown]
# A few training images of the base classes, as the image encoder sees them (before
# normalisation):

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from PIL import Image

shown = base.train[:: max(1, len(base.train) // 8)][:8]
fig, axes = plt.subplots(1, len(shown), figsize=(1.6 * len(shown), 2.0))
for ax, item in zip(axes, shown):
    ax.imshow(Image.open(item.impath).convert("RGB"))
    ax.set_title(item.classname[:18], fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Zero-shot CLIP: a hand-written prompt
#
# The zero-shot "learner" only fills the template with each class name and looks up the token
# embeddings. Its prompts are a tensor of shape (classes $C$, tokens $L$, width $D$), and nothing
# in it is trained. The tokens of the first prompt show the structure every learner keeps:
# start-of-text, words, end-of-text (EOT), padding.

# %%
from cocoop_lib.prompt_learners import ZeroShotPrompts, count_trainable

zeroshot = ZeroShotPrompts(backbone, base.classnames, splits.template)
prompts, eot = zeroshot()
print("prompts (C, L, D):", tuple(prompts.shape),
      " EOT positions (C,):", tuple(eot.shape))
ids = backbone.tokenizer(splits.template.format(base.classnames[0]))[
    "input_ids"
]
print("tokens of prompt 0:", backbone.tokenizer.convert_ids_to_tokens(ids))
print("trainable parameters:", count_trainable(zeroshot))

# %% [markdown]
# ## CoOp: learned context vectors
#
# CoOp keeps the class-name tokens and replaces the template's words by $M$ vectors of width
# $D$, shared by all classes. Initialised from the embeddings of "a photo of a" ($M = 4$), they
# are the only trainable parameters: $M \times D$ numbers.
#
# *Exercise:* build the CoOp learner for the base classes and print the shape of its context,
# the shape of the prompts it produces, and its number of trainable parameters.

# %% tags=["solution"]
from cocoop_lib.prompt_learners import CoOpPromptLearner, count_trainable

coop = CoOpPromptLearner(
    backbone, base.classnames, n_ctx=cfg.n_ctx, ctx_init=cfg.ctx_init
)
prompts, eot = coop()
print("context (M, D):", tuple(coop.ctx.shape),
      " initialised from:", repr(coop.prompt_prefix))
print("prompts (C, L, D):", tuple(prompts.shape))
print("trainable parameters: M x D =", count_trainable(coop))

# %% [markdown]
# ## CoCoOp: context conditioned on the image
#
# CoCoOp adds the Meta-Net. For a batch of $B$ image features (B, E) it outputs one shift per
# image (B, D), adds it to each of the $M$ context vectors, and so produces a separate set of
# class prompts for every image: (B, C, L, D). Here two real test images go through the frozen
# image encoder, then through the learner.

# %%
import torch

from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import ImageDataset
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import CoCoOpPromptLearner, count_trainable

cocoop = CoCoOpPromptLearner(
    backbone, base.classnames, n_ctx=cfg.n_ctx, ctx_init=cfg.ctx_init
)
print(cocoop.meta_net)
model = PromptedCLIP(backbone, cocoop)
_, test_tf = image_transforms(backbone.image_size)
images = torch.stack([x for x, _ in ImageDataset(base.test[:2], test_tf)])
with torch.no_grad():
    # image features f(x): (B, E), L2-normalised
    features = model.encode_images(images.to(cfg.device))
    # one prompt per image and class: (B, C, L, D)
    prompts, eot = cocoop(features)
    # cosine similarities times the logit scale: (B, C)
    logits = model.logits_from_features(features)
print("image features (B, E):", tuple(features.shape))
print("prompts (B, C, L, D):", tuple(prompts.shape))
print("logits (B, C):", tuple(logits.shape))

# %% [markdown]
# The trainable parameters are the context plus the Meta-Net. With CLIP ViT-B/16's widths
# ($E = D = 512$, hidden $512/16 = 32$) the same formula gives the paper's count.
#
# *Exercise:* count the Meta-Net's parameters from the layer sizes, check the total against
# `count_trainable`, and compute the count for ViT-B/16's widths.

# %% tags=["solution"]
from cocoop_lib import paper_results
from cocoop_lib.prompt_learners import count_trainable


def cocoop_params(n_ctx: int, ctx_dim: int, embed_dim: int) -> int:
    hidden = embed_dim // 16
    return (
        n_ctx * ctx_dim
        + (embed_dim * hidden + hidden)
        + (hidden * ctx_dim + ctx_dim)
    )


n_meta = count_trainable(cocoop.meta_net)
n_here = cocoop_params(cocoop.n_ctx, backbone.ctx_dim, backbone.embed_dim)
n_vitb16 = cocoop_params(4, 512, 512)
assert n_here == count_trainable(cocoop)
n_context = count_trainable(cocoop) - n_meta
print(f"here: context {n_context:,} + Meta-Net {n_meta:,} = {n_here:,}")
paper = paper_results.ABLATION_PARAMS["CoOp ctx=4 + Meta-Net (CoCoOp)"]
print(f"ViT-B/16: {n_vitb16:,} (paper: {paper:,})")

# %% [markdown]
# The counts, glued into the text: here CoOp trains {glue:text}`coop_params:,d` numbers and
# CoCoOp {glue:text}`cocoop_params:,d` ({glue:text}`meta_params:,d` of them in the Meta-Net); with
# ViT-B/16 CoCoOp trains {glue:text}`vitb16_params:,d`.

# %%
from cocoop_lib.notebook import glue_numbers

glue_numbers({"coop_params": count_trainable(coop),
              "cocoop_params": count_trainable(cocoop),
              "meta_params": n_meta, "vitb16_params": n_vitb16})

# %% [markdown]
# ## Training once
#
# The library's `run` trains a learner on the base classes with the recipe (SGD, cosine
# schedule, warm-up epoch) and tests it on base and new classes. These are the same runs as the
# next chapter's first seed, so the records written here are reused there.

# %%
from cocoop_lib.runs import run_many

records = {r["config"]["method"]: r for r in run_many(
    [P.run_config(dataset, m, P.seeds[0]) for m in P.methods])}

# %% [markdown]
# ## What the learned context vectors are close to
#
# A learned context vector need not be a word. For each of CoOp's and CoCoOp's vectors we list
# the vocabulary tokens whose embeddings are nearest (cosine similarity), and the similarity
# to the word it started from. (On the mini CLIP most of the 49,408 token rows never appeared
# in pretraining, so nearest tokens are a rough guide there.)
#
# *Exercise:* compute, for each learned context vector, the three nearest token embeddings.

# %% tags=["solution"]
import pandas as pd
import torch
import torch.nn.functional as F

from cocoop_lib.runs import load_trained

rows = []
embedding = F.normalize(
    backbone.model.text_model.embeddings.token_embedding.weight.float(), dim=-1
)
init_ids = (
    backbone.tokenizer(cfg.ctx_init)["input_ids"][1:-1] if cfg.ctx_init else []
)
for method in ("coop", "cocoop"):
    if method not in records:
        continue
    learned, _ = load_trained(records[method])
    # the learned context vectors, unit length: (M, D)
    ctx = F.normalize(learned.prompt_learner.ctx.detach().float(), dim=-1)
    # the three nearest token embeddings of each vector: (M, 3)
    sims, idx = (ctx @ embedding.T).topk(3, dim=-1)
    for m in range(ctx.shape[0]):
        tokens = backbone.tokenizer.convert_ids_to_tokens(idx[m].tolist())
        nearest = ", ".join(f"{t.replace('</w>', '')} ({s:.2f})"
                            for t, s in zip(tokens, sims[m].tolist()))
        start = embedding[init_ids[m]] if m < len(init_ids) else None
        cos = float(ctx[m] @ start) if start is not None else float("nan")
        rows.append({"method": method, "vector": m + 1,
                     "nearest tokens": nearest,
                     "cos to its initial word": cos})
table = pd.DataFrame(rows)
table

# %% [markdown]
# ## The Meta-Net's shift $\pi(x)$
#
# How large is the shift compared with the context vectors, and how much does it vary from
# image to image? We compute $\pi(x)$ for every test image of the base and new classes with the
# trained CoCoOp. The share of the shift's variance explained by the class tells whether the
# Meta-Net encodes class information (high) or image-specific variation (low).

# %%
import numpy as np
import torch
import torch.nn.functional as F

from cocoop_lib.datasets import subsample_classes
from cocoop_lib.notebook import glue_numbers
from cocoop_lib.runs import cached_test_features, load_trained

shift_stats = {}
if "cocoop" in records:
    cocoop_model, _ = load_trained(records["cocoop"])
    shifts, labels, parts = [], [], []
    meta_net = cocoop_model.prompt_learner.meta_net
    base_part = subsample_classes(splits, "base")
    for part_name, part in (("base", base_part), ("new", new)):
        # test image features and labels: (N, E), (N,)
        feats, y = cached_test_features(cfg, cocoop_model, part.test)
        with torch.no_grad():
            # the shift of every image: (N, D)
            pi = meta_net(feats.to(cfg.device)).float().cpu()
        shifts.append(pi)
        labels.append(y + (0 if part_name == "base" else 10_000))
        parts += [part_name] * len(y)
    shifts, labels = torch.cat(shifts), torch.cat(labels)
    ctx = cocoop_model.prompt_learner.ctx.detach().float()
    ctx_norm = ctx.norm(dim=-1).mean()
    rel = (shifts.norm(dim=-1) / ctx_norm).numpy()
    centred = shifts - shifts.mean(0)
    classes = labels.unique()
    class_means = torch.stack([shifts[labels == c].mean(0) for c in classes])
    # between-class sum of squares of the shifts
    between = sum(int((labels == c).sum())
                  * (class_means[i] - shifts.mean(0)).pow(2).sum()
                  for i, c in enumerate(classes))
    shift_stats = {
        "shift_rel_norm": float(np.mean(rel)),
        "shift_rel_norm_std": float(np.std(rel)),
        "shift_class_share": float(between / centred.pow(2).sum()),
        "shift_mean_cos": float(F.cosine_similarity(
            shifts, shifts.mean(0, keepdim=True)).mean()),
    }
    print({k: round(v, 3) for k, v in shift_stats.items()})
keys = ("shift_rel_norm", "shift_rel_norm_std", "shift_class_share",
        "shift_mean_cos")
glue_numbers({k: shift_stats.get(k, float("nan")) for k in keys})

# %% [markdown]
# The shift's norm is on average {glue:text}`shift_rel_norm:.3f` times the norm of a context
# vector (spread {glue:text}`shift_rel_norm_std:.3f` across images); the class explains
# {glue:text}`shift_class_share:.2f` of its variance, and an image's shift has cosine similarity
# {glue:text}`shift_mean_cos:.2f` with the mean shift. A two-dimensional projection (principal
# components) of the shifts, coloured by class for ten classes:

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import seaborn as sns
import torch

if shift_stats:
    u, s, v = torch.pca_lowrank(shifts, q=2)
    xy = (shifts - shifts.mean(0)) @ v[:, :2]
    keep = torch.isin(labels, labels.unique()[:10])
    base_names = subsample_classes(splits, "base").classnames
    # new classes get labels from 10,000 on, apart from the base classes
    new_names = {10_000 + i: f"{n} (new)"
                 for i, n in enumerate(new.classnames)}
    names = {**dict(enumerate(base_names)), **new_names}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    hue = [names[int(c)][:22] for c in labels[keep]]
    sns.scatterplot(x=xy[keep, 0], y=xy[keep, 1], hue=hue, s=18, ax=axes[0],
                    legend="brief")
    axes[0].legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    axes[0].set_title("Meta-Net shift pi(x), first two principal components")
    axes[0].set_xlabel("principal component 1")
    axes[0].set_ylabel("principal component 2")
    sns.histplot(x=rel, hue=parts, ax=axes[1], element="step",
                 stat="density", common_norm=False)
    axes[1].set_xlabel("||pi(x)|| / mean ||v_m||")
    axes[1].set_title("size of the shift per test image")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Does the shift matter?
#
# A direct test: evaluate the trained CoCoOp on the new classes with its Meta-Net switched off
# (the shift set to zero, leaving only the learned context) and on.

# %%
import copy

import torch

from cocoop_lib.evaluation import accuracy_from_features
from cocoop_lib.notebook import glue_numbers
from cocoop_lib.runs import cached_test_features

effect = {}
if "cocoop" in records:
    feats, y = cached_test_features(cfg, cocoop_model, new.test)
    learner = cocoop_model.prompt_learner
    learner.set_classnames(new.classnames)
    effect["new_with_shift"] = accuracy_from_features(
        cocoop_model, feats, y, device=cfg.device
    )
    saved = copy.deepcopy(learner.meta_net.state_dict())
    with torch.no_grad():
        learner.meta_net.linear2.weight.zero_()
        learner.meta_net.linear2.bias.zero_()
    effect["new_without_shift"] = accuracy_from_features(
        cocoop_model, feats, y, device=cfg.device
    )
    learner.meta_net.load_state_dict(saved)
    print({k: round(v, 2) for k, v in effect.items()})
glue_numbers(
    {
        k: effect.get(k, float("nan"))
        for k in ("new_with_shift", "new_without_shift")
    }
)

# %% [markdown]
# New-class accuracy with the shift: {glue:text}`new_with_shift:.1f`%, without it:
# {glue:text}`new_without_shift:.1f`% (one seed; the next chapter averages over seeds and
# datasets).

# %% [markdown]
# ## Provenance

# %%
from cocoop_lib.notebook import show_provenance

show_provenance(P, list(records.values()));
