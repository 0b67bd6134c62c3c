"""The chapters' one import: re-exports of the helpers the book's notebooks call, and the
notebook environment (set when this module is imported, so a chapter's first cell sets it).

Where things live: parameter checks in :mod:`cocoop_lib.parameters`, dataset roles in
:mod:`cocoop_lib.datasets.roles`, provenance facts in :mod:`cocoop_lib.provenance`, the
provenance block and glue in :mod:`cocoop_lib.notebook_output`. Scripts (``scripts/sweep.py``) import
those modules directly and so avoid the environment settings below. The experiment plans and the
run helpers below move to ``experiments.py`` / ``runs.py``.
"""
from __future__ import annotations

import os
import warnings

# tqdm.auto warns at import that ipywidgets is missing; the book needs no widgets.
warnings.filterwarnings("ignore", message="IProgress not found")
# Executed notebooks should not fill with progress bars (tqdm reads this when it is imported).
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


from .datasets.roles import World, default_datasets, world_of  # noqa: F401
from .notebook_output import glue_numbers, provenance_block, provenance_html, show_provenance  # noqa: F401
from .parameters import (CHAPTERS, DEFAULT_SEEDS, METHOD_LABELS, PAPER_SETTING,  # noqa: F401
                         PARAMETER_NAMES, BookParameters, ParameterError, check_parameters)
from .provenance import (backbone_summary, provenance_info, setting_sentence,  # noqa: F401
                         setting_warning)


# ----------------------------------------------------------------------------- experiment plans

# the plans live in cocoop_lib.experiments, the ablation's long context in cocoop_lib.ablation_size
# (the sweep uses them too); re-exported for the chapters
from .ablation_size import (ablation_n_ctx, backbone_dims,  # noqa: E402,F401
                            longest_classname_tokens, matched_n_ctx)
from .experiments import (config_label, plan_ablation, plan_base_to_new,  # noqa: E402,F401
                          plan_transfer)


# ----------------------------------------------------------------------------- running

# running lives in cocoop_lib.runs (one rule for reusing a record: runs.find); the chapters import
# run_many, load_trained, cached_test_features from there under those names
from .runs import find_record  # noqa: E402

# a run cell shows a summary and folds its per-run lines (plain lines outside IPython)
from . import runs as _runs  # noqa: E402
from .notebook_output import NotebookRunLog  # noqa: E402

_runs.RUN_LOG = NotebookRunLog


def load_records(configs) -> tuple[list[dict], list]:
    """Existing records of ``configs`` (nothing is run) and the configs that have none yet."""
    found, missing = [], []
    for config in configs:
        record = find_record(config)
        if record is not None:
            found.append(record)
        else:
            missing.append(config)
    return found, missing
