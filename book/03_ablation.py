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
# # Is it the parameters? The parameter-count ablation
#
# CoCoOp trains more parameters than CoOp: the Meta-Net adds far more numbers than the four
# context vectors hold. Is its better generalisation simply the effect of more parameters? The
# paper's test: give CoOp a long context with about as many parameters as CoCoOp (60 vectors,
# randomly initialised, for ViT-B/16) and compare the three on base-to-new generalisation.
# The paper reports that the long context does not help new classes (it loses accuracy), while
# the same budget spent on a Meta-Net does.
#
# Here: CoOp with the recipe's 4 context vectors (the same runs as Table 1's CoOp), CoOp with a
# long context (the `n_ctx` parameter, or by default the parameter-matched length for this
# backbone), and CoCoOp (4 vectors + Meta-Net).

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
    "ablation", datasets=datasets, methods=methods, seeds=seeds,
    shots=shots, epochs=epochs, n_ctx=n_ctx, recipe=recipe,
    backbone=backbone, data_root=data_root, device=device,
    precision=precision, output_dir=output_dir)
show_provenance(P, title="Setting of this chapter");

# %% [markdown]
# ## The long context's length
#
# For ViT-B/16 the paper's 60 vectors. For another backbone the same ratio of CoCoOp's parameter
# count, short enough that every prompt (start token, context, the longest class name, ".", end
# token) fits the text encoder.

# %%
from cocoop_lib.notebook import ablation_n_ctx, backbone_dims, glue_numbers

long_ctx = ablation_n_ctx(P)
dims = backbone_dims(P)
print(f"text width {dims['text_width']}, embedding width {dims['embed_dim']}, "
      f"context length {dims['context_length']} -> long context: "
      f"{long_ctx} vectors")
glue_numbers({"long_ctx": long_ctx})

# %% [markdown]
# ## The runs
#
# The grid: every base-to-new dataset x seed, three variants each, all trained on base classes
# and tested on base and new: CoOp with the recipe's 4 vectors, CoOp with `long_ctx` random
# vectors, and CoCoOp. Runs that exist (e.g. CoOp with 4 vectors from Table 1) are reused. (The
# same grid is `cocoop_lib.notebook.plan_ablation(P, long_ctx)`; a test checks that they agree.)

# %%
from cocoop_lib.runs import RunConfig, run_many

# the fields every run shares: shots, epochs, recipe, backbone,
# data_root, output_dir, device, precision
same = P.common_run_fields()
variants = [("coop", {}), ("coop", dict(n_ctx=long_ctx, ctx_init="")),
            ("cocoop", {})]
configs = [RunConfig(dataset=d, method=m, seed=s, train_classes="base",
                     **context, **same)
           for d in P.world.base_to_new for s in P.seeds
           for m, context in variants if m in P.methods]
records = run_many(configs)

# %% [markdown]
# ## Accuracy beside trainable parameters
#
# Average over the datasets (mean ± standard deviation over seeds); the last two columns give the
# change in new-class accuracy against CoOp with 4 vectors, ours and the paper's (the paper gives
# this number only for the long context; `*` marks a value not confirmed from a second source).

# %%
from cocoop_lib import results

ablation = results.ablation(records)
results.ablation_display(ablation)

# %% [markdown]
# With {glue:text}`long_ctx:d` context vectors CoOp trains {glue:text}`params_long:,d` parameters
# against {glue:text}`params_cocoop:,d` for CoCoOp; its average new-class accuracy changes by
# {glue:text}`d_new_long:+.2f` points against 4 vectors, CoCoOp's by
# {glue:text}`d_new_cocoop:+.2f` (the paper reports about {glue:text}`paper_d_new_long:+.2f` for 60
# vectors, a value read from a figure and not confirmed from a second source).
# Setting: {glue:text}`setting`.

# %% tags=["hide-input"]
from cocoop_lib import paper_results, results
from cocoop_lib.notebook import glue_numbers

avg = ablation[ablation.dataset == results.AVERAGE].set_index("variant")
long_label, cocoop_label = f"CoOp ctx={long_ctx}", "CoCoOp (ctx=4 + Meta-Net)"
glue_numbers({
    "params_long": int(avg.n_trainable_params.get(long_label, 0)),
    "params_cocoop": int(avg.n_trainable_params.get(cocoop_label, 0)),
    "d_new_long": avg.d_new_vs_ctx4.get(long_label, float("nan")),
    "d_new_cocoop": avg.d_new_vs_ctx4.get(cocoop_label, float("nan")),
    "paper_d_new_long": paper_results.ABLATION_CTX60_NEW_DELTA["value"],
    "setting": results.describe_setting(records),
})

# %% [markdown]
# Does the long context train at all? Random vectors start far from any words the mini CLIP saw in
# pretraining. Its base accuracy is above zero-shot CLIP's (the same images, Table 1's zero-shot
# runs) on {glue:text}`long_above:d` of {glue:text}`long_cases:d` datasets; on average
# {glue:text}`long_base:.1f`% against {glue:text}`zs_base:.1f`%:

# %%
zero_shot = run_many([RunConfig(dataset=d, method="zeroshot", seed=s,
                                train_classes="base", **same)
                      for d in P.world.base_to_new for s in P.seeds],
                     verbose=False)
trains = results.base_vs_zero_shot(
    ablation, results.base_to_new(zero_shot), long_label
)
per_dataset = trains[trains.dataset != results.AVERAGE]
average = trains[trains.dataset == results.AVERAGE]
nan = float("nan")
glue_numbers({"long_above": int(per_dataset.above.sum()),
              "long_cases": len(per_dataset),
              "long_base": (float(average.base.iloc[0])
                            if len(average) else nan),
              "zs_base": (float(average.zero_shot_base.iloc[0])
                          if len(average) else nan)})
trains.style.format(precision=1).hide(axis="index")

# %% [markdown]
# ## Figure
#
# Each variant's average accuracy against its number of trainable parameters (log scale), with
# the standard deviation over seeds.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

fig = results.plot_ablation(ablation)
plt.show()

# %% [markdown]
# ## Per dataset
#
# The same comparison on each dataset (mean over seeds).

# %%
ablation[ablation.dataset != "Average"].pivot_table(
    index=["dataset", "variant"], values=["base", "new", "H"]
)[["base", "new", "H"]].round(2)

# %% [markdown]
# ## Exercises
#
# *Exercise:* predict, before building anything, the number of trainable parameters of CoOp with
# 8 context vectors and of CoCoOp with 8, for this backbone's text width $d$ and embedding width
# $e$ (CoOp: $8d$; the Meta-Net: Linear $e \to e/16$, ReLU, Linear $e/16 \to d$, with biases).
# Then build both learners and count.

# %% tags=["solution"]
from cocoop_lib.backbone import load_backbone
from cocoop_lib.prompt_learners import (CoCoOpPromptLearner, CoOpPromptLearner,
                                       count_trainable)

clip = load_backbone(P.backbone)
d, e = clip.info()["text_width"], clip.info()["embed_dim"]
names = ["cat", "dog"]
h = e // 16
predicted = {"coop": 8 * d, "cocoop": 8 * d + (e * h + h) + (h * d + d)}
coop = CoOpPromptLearner(clip, names, n_ctx=8, ctx_init="")
cocoop = CoCoOpPromptLearner(clip, names, n_ctx=8, ctx_init="")
built = {"coop": count_trainable(coop), "cocoop": count_trainable(cocoop)}
for method in predicted:
    print(f"{method:7s} predicted {predicted[method]:>7,}   "
          f"built {built[method]:>7,}")

# %% [markdown]
# *Exercise:* the paper's argument is that parameters alone do not buy generalisation. From
# `ablation`'s average rows, compute each variant's new-class accuracy per thousand trainable
# parameters, and the change in new-class accuracy against CoOp ctx=4 per extra thousand
# parameters. Which variant spends its parameters best?

# %% tags=["solution"]
from cocoop_lib import results

avg = ablation[ablation.dataset == results.AVERAGE].set_index("variant")
ref = avg.loc["CoOp ctx=4"] if "CoOp ctx=4" in avg.index else None
for variant, row in avg.iterrows():
    n_params = row.n_trainable_params
    line = f"{variant:28s} {n_params:>7,.0f} params  new {row.new:5.1f}"
    if ref is not None and row.n_trainable_params > ref.n_trainable_params:
        extra = (row.n_trainable_params - ref.n_trainable_params) / 1000
        per_1k = (row.new - ref.new) / extra
        line += f"  {per_1k:+.2f} points per extra 1k parameters"
    print(line)

# %% [markdown]
# ## Provenance

# %%
from cocoop_lib.notebook import show_provenance

show_provenance(P, records);
