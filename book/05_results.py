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
# # Results: every table and figure from the run records
#
# This chapter trains nothing: it reads the run records the previous chapters wrote (one JSON
# file per run in `output_dir/records`, holding the configuration, the accuracies, the
# backbone's weight checksum and the provenance) and rebuilds every table and figure from them,
# our numbers beside the paper's. Run with the same parameters as the other chapters, it finds
# exactly their runs. (Should a run be missing, it is run here first, and said so.)

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
    "results", datasets=datasets, methods=methods, seeds=seeds,
    shots=shots, epochs=epochs, n_ctx=n_ctx, recipe=recipe,
    backbone=backbone, data_root=data_root, device=device,
    precision=precision, output_dir=output_dir)
show_provenance(P, title="Setting of this chapter");

# %% [markdown]
# ## Reading the records
#
# The runs of each experiment are listed again from the parameters, and their records read.

# %%
from cocoop_lib.notebook import (ablation_n_ctx, load_records, plan_ablation,
                                 plan_base_to_new, plan_transfer)
from cocoop_lib.runs import run_many

plans = {
    "base_to_new": plan_base_to_new(P),
    "ablation": plan_ablation(P, ablation_n_ctx(P)),
    "transfer": plan_transfer(P),
}
records = {}
for name, plan in plans.items():
    found, missing = load_records(plan)
    if missing:
        print(f"{name}: {len(missing)} of {len(plan)} runs have no record "
              "yet; running them now")
        found = run_many(plan)
    records[name] = found
    print(f"{name}: {len(found)} run records")
all_records = [r for recs in records.values() for r in recs]

# %% [markdown]
# ## Which setting the numbers came from
#
# Every distinct setting among the records (backbone and weight checksum, data, recipe, shots,
# method, epochs, batch size, precision, device, code revision) and how many runs used it.

# %%
from cocoop_lib import results

results.settings_display(all_records)

# %% [markdown]
# In one sentence: {glue:text}`setting`.

# %% tags=["hide-input"]
from cocoop_lib import results
from cocoop_lib.notebook import glue_numbers

glue_numbers({"setting": results.describe_setting(all_records)})

# %% [markdown]
# ## Table 1: base-to-new generalisation
#
# Mean ± standard deviation over seeds; H from the seed means; the average row is H(mean base,
# mean new). Differences to the paper are shown, and coloured (green: ours higher, red: lower),
# only where the setting is the paper's; in the mini world compare the gaps (the claim table).

# %%
from cocoop_lib import results

summary = results.base_to_new(records["base_to_new"], plays=P.world.plays)
results.base_to_new_display(summary)

# %% [markdown]
# The gaps between methods on the average row (the paper's claim), ours and the paper's:

# %%
from cocoop_lib import results

claims = results.claim_check(summary)
results.claim_display(claims)

# %% [markdown]
# CoCoOp's average H is {glue:text}`res_cocoop_H:.1f` against CoOp's {glue:text}`res_coop_H:.1f`
# and zero-shot CLIP's {glue:text}`res_clip_H:.1f` (paper: {glue:text}`res_paper_cocoop_H:.2f`,
# {glue:text}`res_paper_coop_H:.2f`, {glue:text}`res_paper_clip_H:.2f`). The sign of the
# CoCoOp - CoOp gap agrees with the paper's on {glue:text}`res_agree:d` of
# {glue:text}`res_compared:d` measures (base, new, H).

# %% tags=["hide-input"]
from cocoop_lib import results
from cocoop_lib.notebook import glue_numbers

values = {}
for label, key in (("CLIP", "clip"), ("CoOp", "coop"), ("CoCoOp", "cocoop")):
    row = results.average_row(summary, label)
    values[f"res_{key}_H"] = row.get("H", float("nan"))
    values[f"res_paper_{key}_H"] = row.get("paper_H", float("nan"))
gaps = claims[claims.gap == "CoCoOp - CoOp"] if len(claims) else claims
values["res_agree"] = int(sum(bool(v) for v in gaps.get("same_sign", [])))
values["res_compared"] = int(len(gaps))
glue_numbers(values)

# %% [markdown]
# Base, new and H per dataset, and the averages beside the paper's:

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

results.plot_base_to_new(records["base_to_new"], summary)
plt.show()

# %% [markdown]
# The claim's gaps on the average row, ours beside the paper's:

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

if len(summary):
    results.plot_claim(summary)
    plt.show()

# %% [markdown]
# ## Parameter-count ablation

# %% [markdown]
# Trainable parameters beside average accuracy, and the change in new-class accuracy against
# CoOp with 4 context vectors:

# %%
from cocoop_lib import results

ablation = results.ablation(records["ablation"])
results.ablation_display(ablation)

# %% [markdown]
# The same as a figure:

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

results.plot_ablation(ablation)
plt.show()

# %% [markdown]
# ## Table 2: cross-dataset transfer

# %% [markdown]
# Prompts learned on all classes of the source, tested on the other datasets:

# %%
from cocoop_lib import results

w = P.world
cross = results.transfer(
    records["transfer"], w.source, list(w.targets), w.plays, "table2"
)
results.transfer_display(
    cross, "Table 2: cross-dataset transfer", "table-cross-dataset"
)

# %% [markdown]
# As a figure:

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

if len(cross):
    results.plot_transfer(cross, "cross-dataset transfer")
    plt.show()

# %% [markdown]
# ## Table 3: domain generalisation

# %% [markdown]
# The same prompts on the shifted variants of the source:

# %%
from cocoop_lib import results

domain = results.transfer(
    records["transfer"], w.source, list(w.variants), w.plays, "table3"
)
results.transfer_display(
    domain, "Table 3: domain generalisation", "table-domain"
)

# %% [markdown]
# As a figure:

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from cocoop_lib import results

if len(domain):
    results.plot_transfer(domain, "domain generalisation")
    plt.show()

# %% [markdown]
# ## The tables as files
#
# The tidy tables are also written as CSV files next to the records, for use elsewhere.

# %%
from pathlib import Path

tables = Path(P.output_dir) / "tables"
tables.mkdir(parents=True, exist_ok=True)
for name, frame in (("table1_base_to_new", summary), ("table1_claims", claims),
                    ("ablation", ablation), ("table2_cross_dataset", cross),
                    ("table3_domain", domain)):
    frame.to_csv(tables / f"{name}.csv", index=False)
print("written:", ", ".join(sorted(p.name for p in tables.glob("*.csv"))))

# %% [markdown]
# ## Provenance

# %%
from cocoop_lib.notebook import show_provenance

show_provenance(P, all_records);
