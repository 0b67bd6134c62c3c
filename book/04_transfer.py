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
# # Beyond one dataset: cross-dataset transfer (Table 2) and domain generalisation (Table 3)
#
# If the learned prompts capture something general, prompts learned on one dataset should help
# on others. The paper learns them on ImageNet, with all 1,000 classes and 16 images per class,
# and tests them unchanged on
#
# * the ten other datasets, with their own classes (**cross-dataset transfer**, Table 2);
# * four shifted versions of ImageNet with the same classes: ImageNetV2, -Sketch, -A and -R
#   (**domain generalisation**, Table 3).
#
# The claim: CoCoOp transfers better than CoOp in both (higher average over targets).
#
# Here the source is the dataset that plays ImageNet's part in this world, the targets are the
# other training datasets, and the shifted versions are the world's test-only variants of the
# source.

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
    "transfer", datasets=datasets, methods=methods, seeds=seeds,
    shots=shots, epochs=epochs, n_ctx=n_ctx, recipe=recipe,
    backbone=backbone, data_root=data_root, device=device,
    precision=precision, output_dir=output_dir)
show_provenance(P, title="Setting of this chapter");

# %% [markdown]
# ## The roles
#
# Which dataset is the source, which are the targets and which are the shifted variants (and
# the paper dataset whose part each plays).

# %%
import pandas as pd

w = P.world
roles = (("source", [w.source]), ("cross-dataset target", w.targets),
         ("domain-shifted variant", w.variants))
pd.DataFrame([{"dataset": d, "role": role, "plays": w.plays.get(d, "")}
              for role, names in roles for d in names])

# %% [markdown]
# ## The runs
#
# The grid of Tables 2 and 3: one run per method and seed, trained on *all* classes of the
# source, tested on all classes of the source, of every target and of every shifted variant.
# Finished runs are reused. (The same grid is `cocoop_lib.notebook.plan_transfer(P)`; a test
# checks that the two agree.)

# %%
from cocoop_lib.runs import RunConfig, run_many

# the fields every run shares: shots, epochs, recipe, backbone,
# data_root, output_dir, device, precision
same = P.common_run_fields()
context = {} if P.n_ctx is None else dict(n_ctx=P.n_ctx, ctx_init="")
# every run is tested on the source, the targets and the shifted variants
tested = (P.world.source, *P.world.targets, *P.world.variants)
test_on = tuple(f"{d}:all" for d in tested)
configs = [RunConfig(dataset=P.world.source, method=m, seed=s,
                     train_classes="all", eval_on=test_on,
                     **(context if m != "zeroshot" else {}), **same)
           for m in P.methods for s in P.seeds]
records = run_many(configs)

# %% [markdown]
# ## Table 2: cross-dataset transfer
#
# Accuracy on the source and on each target (mean ± standard deviation over seeds), the mean over
# targets, the paper's numbers where a dataset plays one of the paper's, and the differences.
# The paper's values of Tables 2 and 3 are confirmed by their reprints in later work: PromptKD and
# ATPrompt; Table 3's CLIP row by LoGoPrompt and RMAdapter (`cocoop_lib.paper_results.REPRINTS`).

# %%
from cocoop_lib import results

cross = results.transfer(
    records, P.world.source, list(P.world.targets), P.world.plays, "table2"
)
results.transfer_display(
    cross, "Table 2: cross-dataset transfer", "table-cross-dataset"
)

# %% [markdown]
# Averaged over the {glue:text}`n_targets:d` targets: CoOp {glue:text}`cross_CoOp:.1f`%,
# CoCoOp {glue:text}`cross_CoCoOp:.1f`% and zero-shot CLIP {glue:text}`cross_CLIP:.1f`% (the
# paper, 10 targets: CoOp {glue:text}`paper_cross_CoOp:.2f`%, CoCoOp
# {glue:text}`paper_cross_CoCoOp:.2f`%). Setting: {glue:text}`setting`.

# %% tags=["hide-input"]
from cocoop_lib import results
from cocoop_lib.notebook import glue_numbers

glue_numbers({"n_targets": len(P.world.targets),
              "setting": results.describe_setting(records),
              **results.transfer_averages(cross, "cross")})

# %% [markdown]
# ## Figure: cross-dataset transfer
#
# Accuracy on the source and each target; black lines: standard deviation over seeds.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

if len(cross):
    fig = results.plot_transfer(cross, "cross-dataset transfer")
    plt.show()

# %% [markdown]
# *Exercise:* which target loses the most accuracy against the source, for each trained method?
# Compute, from `cross`, the source's accuracy minus each target's, and name the target with the
# largest drop. Why that one? (Look at the roles table: which paper dataset does it play, and how
# far are its classes from the source's?)

# %% tags=["solution"]
from cocoop_lib import results

for method, rows in cross.groupby("method", sort=False):
    source = rows[rows.role == "source"].accuracy
    targets = rows[rows.role == "target"].set_index("dataset").accuracy
    if len(source) and len(targets):
        drop = (source.iloc[0] - targets).sort_values(ascending=False).round(2)
        every = ", ".join(f"{d} {v:.1f}" for d, v in drop.items())
        print(f"{method}: largest drop on {drop.index[0]} "
              f"({drop.iloc[0]:.2f} points); all: {every}")

# %% [markdown]
# *Exercise:* the paper's claim for Table 2 is that CoCoOp transfers better than CoOp. On how many
# targets is CoCoOp above CoOp here, and by how much on average?

# %% tags=["solution"]
by_target = cross[cross.role == "target"].pivot_table(
    index="dataset", columns="method", values="accuracy"
)
if {"CoOp", "CoCoOp"} <= set(by_target.columns):
    gain = (by_target.CoCoOp - by_target.CoOp).round(2)
    print(gain.to_string())
    print(
        f"CoCoOp above CoOp on {(gain > 0).sum()} of {len(gain)} targets, "
        f"mean gain {gain.mean():+.2f} points"
    )

# %% [markdown]
# ## Table 3: domain generalisation
#
# The same prompts on the shifted variants of the source. The paper's Table 3 has no average
# column; its average here is the mean of its four variants.

# %%
from cocoop_lib import results

domain = results.transfer(
    records, P.world.source, list(P.world.variants), P.world.plays, "table3"
)
results.transfer_display(
    domain, "Table 3: domain generalisation", "table-domain"
)

# %% [markdown]
# Averaged over the {glue:text}`n_variants:d` shifted variants: zero-shot CLIP
# {glue:text}`domain_CLIP:.1f`%, CoOp {glue:text}`domain_CoOp:.1f`%, CoCoOp
# {glue:text}`domain_CoCoOp:.1f`% (the paper's four variants: {glue:text}`paper_domain_CLIP:.2f`%,
# {glue:text}`paper_domain_CoOp:.2f`%, {glue:text}`paper_domain_CoCoOp:.2f`%).

# %% tags=["hide-input"]
from cocoop_lib import results
from cocoop_lib.notebook import glue_numbers

glue_numbers({"n_variants": len(P.world.variants),
              **results.transfer_averages(domain, "domain")})

# %% [markdown]
# ## Figure: domain generalisation
#
# Accuracy on the source and each shifted variant; black lines: standard deviation over seeds.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

if len(domain):
    fig = results.plot_transfer(domain, "domain generalisation")
    plt.show()

# %% [markdown]
# ## Provenance

# %%
from cocoop_lib.notebook import show_provenance

show_provenance(P, records);
