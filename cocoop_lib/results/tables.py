"""Run records -> the paper's tables as tidy pandas frames, with the paper's numbers beside ours.

Aggregation is :mod:`cocoop_lib.evaluation`'s one rule: a dataset's base and new accuracy are
means over seeds (sample std as spread), its H is H(mean base, mean new)
(:func:`~cocoop_lib.evaluation.base_new_summary`); the average row takes the mean of the
per-dataset means and H(mean base, mean new)
(:func:`~cocoop_lib.evaluation.average_over_datasets`), not the mean of per-dataset H.

A variant is carried as columns (``method_id``, ``n_ctx``, ``ctx_init``); the display name
(``method`` in Table 1, ``variant`` in the ablation) is derived from them last. Every function
takes run records and reads no files; pandas only (no plotting, no styling).

Over 300 lines on purpose: every table is built from the same records frame and variant columns
(:func:`records_frame`, ``VARIANT``) and the same paper join, so the tables read as one set.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import paper_results
from ..evaluation import average_over_datasets, base_new_summary, harmonic_mean, mean_std
from ..parameters import METHOD_LABELS, METHOD_ORDER, variant_label  # noqa: F401 (results.variant_label)
from ..presets import Recipe

PAPER_METHOD = METHOD_LABELS          # the paper's name of each method id (one map, parameters.py)
AVERAGE = "Average"
VARIANT = ["method_id", "n_ctx", "ctx_init"]


# ----------------------------------------------------------------------------- variants


def _variant(record: dict) -> dict:
    c = record["config"]
    n_ctx = record.get("n_ctx") or c.get("n_ctx") or 0
    ctx_init = c.get("ctx_init") or ""
    recipe = record.get("recipe", {})     # the recipe's context (both: 4 vectors from ctx_init)
    default = (c["method"] == "zeroshot" or
               (ctx_init == recipe.get("ctx_init", Recipe.ctx_init)
                and n_ctx == recipe.get("n_ctx", Recipe.n_ctx)))
    return dict(method_id=c["method"], n_ctx=int(n_ctx), ctx_init=ctx_init, is_default=default)


def method_label(record: dict, explicit_ctx: bool = False) -> str:
    """Display name of a record's variant (see :func:`variant_label`)."""
    v = _variant(record)
    return variant_label(v["method_id"], v["n_ctx"], v["is_default"], explicit_ctx)


def _variant_order(row, defaults_first: bool = True) -> tuple:
    """Sort key of a variant: CLIP, CoOp, CoCoOp, then (``defaults_first``) the named variants;
    otherwise each method's variants together, by context length (the ablation's order)."""
    method = METHOD_ORDER.index(METHOD_LABELS[row["method_id"]])
    rest = (row["n_ctx"], row["ctx_init"])
    if defaults_first:
        return (not row["is_default"], method) + rest
    return (method, not row["is_default"]) + rest


def is_paper_setting(record: dict, dataset: str) -> bool:
    """Whether ``dataset``'s numbers in ``record`` are in the paper's setting: the real CLIP
    ViT-B/16 (not the mini CLIP, not a random or other CLIP) on that paper dataset itself."""
    from ..backbone import PAPER_BACKBONE
    from ..datasets import BASE_TO_NEW, DOMAIN_SHIFT

    b = record["backbone"]
    return (not b.get("is_mini_clip") and str(b.get("backbone", "")).rstrip("/").endswith(PAPER_BACKBONE)
            and record["config"].get("data_root") is not None and dataset in BASE_TO_NEW + DOMAIN_SHIFT)


# ----------------------------------------------------------------------------- records -> rows


def records_frame(records: list[dict], explicit_ctx: bool = False) -> pd.DataFrame:
    """One row per (run, evaluation target): accuracy with the run's variant, config, provenance.

    ``method`` is the method id; ``label`` the variant's display name (made from the columns).
    """
    rows = []
    for r in records:
        c, v = r["config"], _variant(r)
        for target, acc in r["metrics"].items():
            dataset, _, subset = target.partition(":")
            if subset == "H":
                continue
            rows.append(dict(
                run=r["name"], trained_on=c["dataset"], method=c["method"], **v,
                label=variant_label(v["method_id"], v["n_ctx"], v["is_default"], explicit_ctx),
                seed=c["seed"], train_classes=c["train_classes"], dataset=dataset, subset=subset,
                accuracy=float(acc), n_trainable_params=r["n_trainable_params"],
                shots=c["shots"], epochs=c["epochs"], recipe=c["recipe"],
                backbone=r["backbone"]["backbone"], is_mini_clip=bool(r["backbone"]["is_mini_clip"]),
                weights_sha256=r["backbone"]["weights_sha256"], device=c["device"],
                precision=c["precision"], seconds=r["seconds"]["total"],
                paper_setting=is_paper_setting(r, dataset)))
    return pd.DataFrame(rows)


def _with_paper_names(plays: dict | None, datasets) -> dict:
    """``plays`` completed with the paper's own datasets, which play themselves."""
    from ..datasets import BASE_TO_NEW, DOMAIN_SHIFT

    out = dict(plays or {})
    for d in datasets:
        if d in BASE_TO_NEW + DOMAIN_SHIFT:
            out.setdefault(d, d)
    return out


# ----------------------------------------------------------------------------- Table 1


def _seed_table(df: pd.DataFrame) -> pd.DataFrame:
    """Base-to-new runs as one row per (variant, dataset, seed) with base and new accuracy."""
    df = df[(df.train_classes == "base") & (df.dataset == df.trained_on) & df.subset.isin(["base", "new"])]
    keys = VARIANT + ["is_default", "dataset", "seed"]
    wide = df.pivot_table(index=keys, columns="subset", values="accuracy", aggfunc="first")
    setting = df.groupby(keys).paper_setting.all()
    wide = wide.join(setting).reset_index()
    return wide.dropna(subset=["base", "new"]) if {"base", "new"} <= set(wide.columns) else wide.iloc[0:0]


def _variant_summary(seeds: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Per variant: one row per dataset and the average row, by the evaluation module's rule."""
    rows = []
    for key, mine in seeds.groupby(VARIANT + ["is_default"], sort=False):
        variant = dict(zip(VARIANT + ["is_default"], key))
        here = []
        for dataset in datasets:
            d = mine[mine.dataset == dataset]
            if d.empty:
                continue
            s = base_new_summary(d.base.tolist(), d.new.tolist())
            s["H_std"] = mean_std([harmonic_mean(x, y) for x, y in zip(d.base, d.new)])[1]
            here.append(dict(variant, dataset=dataset, n_seeds=len(d), **s,
                             paper_setting=bool(d.paper_setting.all())))
        if not here:
            continue
        avg = average_over_datasets([r["base"] for r in here], [r["new"] for r in here])
        # spread of the average row: over the per-seed averages (seeds every dataset has)
        common = sorted(set.intersection(*[set(mine[mine.dataset == r["dataset"]].seed) for r in here]))
        per_seed = [average_over_datasets(mine[mine.seed == s].base.tolist(),
                                          mine[mine.seed == s].new.tolist()) for s in common] or [avg]
        std = {f"{m}_std": mean_std([p[m] for p in per_seed])[1] for m in ("base", "new", "H")}
        rows += here + [dict(variant, dataset=AVERAGE, n_seeds=len(common), **avg, **std,
                             paper_setting=False)]
    return pd.DataFrame(rows)


def _join_table1(out: pd.DataFrame, plays: dict, datasets: list[str]) -> pd.DataFrame:
    """The paper's Table 1 row for every default variant, and ours - paper."""
    from ..datasets import BASE_TO_NEW

    paper = paper_results.table1().pivot_table(index=["dataset", "method"], columns="metric",
                                               values="value").reset_index()
    paper = paper.rename(columns={"dataset": "paper_dataset", "method": "method_id", "base": "paper_base",
                                  "new": "paper_new", "H": "paper_H"})
    paper["is_default"] = True
    plays = {**_with_paper_names(plays, datasets), AVERAGE: AVERAGE}
    out["paper_dataset"] = out["dataset"].map(lambda d: plays.get(d, ""))
    out = out.merge(paper, on=["paper_dataset", "method_id", "is_default"], how="left")
    for m in ("base", "new", "H"):
        out[f"d_{m}"] = out[m] - out[f"paper_{m}"]
    # the average row is the paper's setting only over the paper's own 11 datasets
    for key, part in out.groupby(VARIANT, sort=False):
        rows = part[part.dataset != AVERAGE]
        whole = bool(rows.paper_setting.all()) and set(rows.dataset) == set(BASE_TO_NEW)
        out.loc[part.index[part.dataset == AVERAGE], "paper_setting"] = whole
    return out


def _sorted(out: pd.DataFrame, datasets: list[str], by_variant_first: bool = False) -> pd.DataFrame:
    order = {d: i for i, d in enumerate(datasets + [AVERAGE])}
    key = out.apply(lambda r: (order[r.dataset],) + _variant_order(r), axis=1)
    if by_variant_first:
        key = out.apply(lambda r: _variant_order(r, defaults_first=False) + (order[r.dataset],), axis=1)
    return out.iloc[sorted(range(len(out)), key=lambda i: key.iloc[i])].reset_index(drop=True)


def base_to_new(records: list[dict], plays: dict | None = None) -> pd.DataFrame:
    """Table 1 as a tidy frame: one row per (dataset, variant), the average row last.

    Columns: dataset, method (display name), method_id, n_ctx, ctx_init, n_seeds, base, base_std,
    new, new_std, H (of the seed means), H_std (spread of the per-seed H), paper_setting (real
    CLIP ViT-B/16 on that paper dataset), paper_dataset, paper_base, paper_new, paper_H, d_base,
    d_new, d_H (ours - paper). ``plays`` maps a dataset to the paper dataset whose part it plays
    (paper datasets play themselves); the average row is joined with the paper's 11-dataset average.
    """
    df = records_frame(records)
    if df.empty:
        return pd.DataFrame(columns=["dataset", "method", "n_seeds", "base", "base_std", "new",
                                     "new_std", "H", "H_std"])
    datasets = list(dict.fromkeys(df[(df.train_classes == "base")].trained_on))
    out = _variant_summary(_seed_table(df), datasets)
    if out.empty:
        return pd.DataFrame(columns=["dataset", "method", "n_seeds", "base", "base_std", "new",
                                     "new_std", "H", "H_std"])
    out = _join_table1(out, plays, datasets)
    out.insert(1, "method", [variant_label(r.method_id, r.n_ctx, r.is_default) for r in out.itertuples()])
    return _sorted(out, datasets)


def average_row(summary: pd.DataFrame, method: str) -> dict:
    """The average row of ``method`` (display name) in a :func:`base_to_new` summary as a dict."""
    row = summary[(summary.dataset == AVERAGE) & (summary.method == method)]
    return row.iloc[0].to_dict() if len(row) else {}


def claim_check(summary: pd.DataFrame, noise: dict | None = None) -> pd.DataFrame:
    """The paper's claim in numbers: gaps between methods on the average row, ours and paper's.

    Rows: "CoOp - CLIP", "CoCoOp - CoOp", "CoCoOp - CLIP" (where both methods ran) x metric
    (base, new, H); columns ours, paper (Table 1's average row) and same_sign. A gap compares two
    methods on the same data, so it is meaningful in any setting (the mini world included).

    ``noise`` (:func:`kernel_path.machine_noise`): the measured cross-kernel-path spread; then the columns
    ``noise`` (how far another machine could move the gap: :func:`kernel_path.gap_noise`, points)
    and ``within_noise`` (|ours| <= noise: the sign may differ on another machine) are added.
    """
    from ..kernel_path import gap_noise

    rows = []
    for a, b in (("CoOp", "CLIP"), ("CoCoOp", "CoOp"), ("CoCoOp", "CLIP")):
        ra, rb = average_row(summary, a), average_row(summary, b)
        if not ra or not rb:
            continue
        n_runs = min(_n_runs(summary, a), _n_runs(summary, b))
        for m in ("base", "new", "H"):
            ours = ra[m] - rb[m]
            paper = ra.get(f"paper_{m}", np.nan) - rb.get(f"paper_{m}", np.nan)
            row = dict(gap=f"{a} - {b}", metric=m, ours=ours, paper=paper,
                       same_sign=bool(np.sign(ours) == np.sign(paper)) if not np.isnan(paper) else None)
            if noise is not None:
                row["noise"] = gap_noise(noise, m, (a, b), n_runs)
                row["within_noise"] = bool(abs(ours) <= row["noise"])
            rows.append(row)
    return pd.DataFrame(rows)


def _n_runs(summary: pd.DataFrame, method: str) -> int:
    """Runs behind ``method``'s average row: its datasets x the seeds all of them have."""
    mine = summary[summary.method == method]
    return int((mine.dataset != AVERAGE).sum() * average_row(summary, method).get("n_seeds", 1))


def noise_sentence(claims: pd.DataFrame) -> str:
    """Which of the claim table's gaps another machine could flip (for the book's prose, glued)."""
    if "within_noise" not in claims:
        return ("the spread between machines was measured only for the mini world on a CPU, so no "
                "gap here is checked against it")
    weak = claims[claims.within_noise.astype(bool)]
    n = len(claims)
    if weak.empty:
        return (f"all {n} gaps are larger than the spread another CPU's float32 sums could cause in "
                "an average of these runs, so no verdict here depends on the machine")
    return (f"{len(weak)} of the {n} gaps are within machine noise (another CPU could move them by "
            "as much as they are, so their sign is not a verdict): " + ", ".join(
                f"{r.gap} {r.metric} ({r.ours:+.2f}, noise ±{r.noise:.2f})" for r in weak.itertuples()))


def agreement_sentence(claims: pd.DataFrame) -> str:
    """One sentence from :func:`claim_check`'s table: on how many gaps the sign agrees with the
    paper's, and which gaps differ (for the book's prose, glued so it follows the numbers)."""
    rows = claims.dropna(subset=["paper"])
    if rows.empty:
        return "no gap can be compared with the paper's (a method is missing)"
    same = rows[rows.same_sign.astype(bool)]
    differ = rows[~rows.same_sign.astype(bool)]
    text = f"the sign agrees with the paper's on {len(same)} of the {len(rows)} gaps"
    if len(differ):
        text += "; it differs on " + ", ".join(
            f"{r.gap} {r.metric} ({r.ours:+.1f} here, {r.paper:+.1f} in the paper)"
            for r in differ.itertuples())
    return text


def budget_check(short_records: list[dict], paper_budget_records: list[dict]) -> pd.DataFrame:
    """The claim table's gaps (:func:`claim_check`, average row) under a shorter budget and under
    the paper's epochs and batch sizes, side by side.

    Columns: gap, metric, short_budget, paper_budget, same_sign (the shorter budget keeps the story
    where True), paper (Table 1's gap, for reference).
    """
    a = claim_check(base_to_new(short_records)).set_index(["gap", "metric"])
    b = claim_check(base_to_new(paper_budget_records)).set_index(["gap", "metric"])
    out = pd.DataFrame({"short_budget": a["ours"], "paper_budget": b["ours"]}).dropna()
    out["same_sign"] = np.sign(out.short_budget) == np.sign(out.paper_budget)
    out["paper"] = a["paper"].reindex(out.index)
    return out.reset_index()


def gain_signs(short_records: list[dict], paper_budget_records: list[dict],
               method: str = "coop") -> pd.DataFrame:
    """Per dataset and seed: ``method``'s base and new accuracy minus zero-shot's, under a shorter
    budget and under the paper's, and whether the two have the same sign.

    Columns: dataset, seed, subset ("base" | "new"), short_budget, paper_budget, same_sign.
    """
    def gains(records):
        df = records_frame(records)
        df = df[(df.subset.isin(["base", "new"])) & (df.dataset == df.trained_on) & df.is_default]
        acc = df.pivot_table(index=["dataset", "seed", "subset"], columns="method", values="accuracy")
        return acc[method] - acc["zeroshot"]

    out = pd.DataFrame({"short_budget": gains(short_records),
                        "paper_budget": gains(paper_budget_records)})
    out["same_sign"] = np.sign(out.short_budget) == np.sign(out.paper_budget)
    return out.reset_index()


# ----------------------------------------------------------------------------- ablation


def _paper_params(method_id: str, n_ctx: int, is_default: bool):
    if method_id == "coop":
        return paper_results.ABLATION_PARAMS["CoOp ctx=4" if is_default else "CoOp ctx=60"]
    if method_id == "cocoop":
        return paper_results.ABLATION_PARAMS["CoOp ctx=4 + Meta-Net (CoCoOp)"]
    return np.nan


def ablation(records: list[dict]) -> pd.DataFrame:
    """Parameter-count ablation: one row per variant (and dataset), average last.

    Columns: variant (display name), method_id, n_ctx, ctx_init, dataset, n_trainable_params,
    n_seeds, base, base_std, new, new_std, H, H_std, paper_params (the paper's count for the
    matching variant of CLIP ViT-B/16), d_new_vs_ctx4 (ours: new accuracy minus the recipe CoOp's),
    paper_d_new_vs_ctx4 (the paper's reported -2.54* for the long context; NaN where the paper
    gives no number).
    """
    df = records_frame(records, explicit_ctx=True)
    if df.empty:
        return pd.DataFrame(columns=["variant", "dataset", "n_trainable_params"])
    datasets = list(dict.fromkeys(df.trained_on))
    out = _variant_summary(_seed_table(df), datasets)
    params = df.groupby(VARIANT).n_trainable_params.agg(lambda s: sorted(set(s)))
    out.insert(0, "variant", [variant_label(r.method_id, r.n_ctx, r.is_default, explicit_ctx=True)
                              for r in out.itertuples()])
    out.insert(5, "n_trainable_params", [params[tuple(r[k] for k in VARIANT)] for _, r in out.iterrows()])
    out["n_trainable_params"] = out.n_trainable_params.map(lambda p: p[0] if len(p) == 1 else p)
    coop4 = out[(out.method_id == "coop") & out.is_default].set_index("dataset").new
    out["d_new_vs_ctx4"] = [r.new - coop4.get(r.dataset, np.nan) for r in out.itertuples()]
    out["paper_params"] = [_paper_params(r.method_id, r.n_ctx, r.is_default) for r in out.itertuples()]
    long_ctx = paper_results.ABLATION_CTX60_NEW_DELTA["value"]
    out["paper_d_new_vs_ctx4"] = [
        (np.nan if r.dataset != AVERAGE or r.method_id != "coop" else 0.0 if r.is_default else long_ctx)
        for r in out.itertuples()]
    return _sorted(out, datasets, by_variant_first=True).drop(columns=["paper_setting"])


# ----------------------------------------------------------------------------- Tables 2 and 3


def base_vs_zero_shot(frame: pd.DataFrame, zero_shot: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Does ``variant`` train? Its base accuracy per dataset (an :func:`ablation` frame) beside
    zero-shot CLIP's (a :func:`base_to_new` summary of zero-shot records), average row last.

    Columns: dataset, base, zero_shot_base, above (True where the variant's is higher).
    """
    a = frame[frame.variant == variant].set_index("dataset").base
    z = zero_shot[zero_shot.method == "CLIP"].set_index("dataset").base
    out = pd.DataFrame({"base": a, "zero_shot_base": z.reindex(a.index)}).dropna()
    out["above"] = out.base > out.zero_shot_base
    return out.reset_index()


def transfer(records: list[dict], source: str, targets: list[str], plays: dict | None = None,
             table: str = "table2") -> pd.DataFrame:
    """Cross-dataset transfer (``table="table2"``) or domain generalisation (``"table3"``).

    Runs trained on all classes of ``source``, tested on ``source`` and on each of ``targets``.
    Tidy frame: method (display name), dataset, role ("source", "target", "average" = mean over
    targets of the seed means), accuracy, std (over seeds; for the average: of the per-seed target
    means), n_seeds, paper_dataset, paper, paper_confirmed, diff (ours - paper), paper_setting,
    method_id, n_ctx, ctx_init.
    """
    plays = {**_with_paper_names(plays, [source, *targets]), AVERAGE: AVERAGE}
    df = records_frame(records)
    cols = ["method", "dataset", "role", "accuracy", "std", "n_seeds", "paper_dataset", "paper",
            "paper_confirmed", "diff", "paper_setting"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[(df.train_classes == "all") & (df.trained_on == source) & (df.subset == "all")]
    rows = []
    for key, d in df.groupby(VARIANT + ["is_default"], sort=False):
        variant = dict(zip(VARIANT + ["is_default"], key))
        for ds, role in [(source, "source")] + [(t, "target") for t in targets]:
            acc = d[d.dataset == ds]
            if len(acc):
                m, s = mean_std(acc.accuracy.tolist())
                rows.append(dict(variant, dataset=ds, role=role, accuracy=m, std=s, n_seeds=len(acc),
                                 paper_setting=bool(acc.paper_setting.all())))
        tgt = d[d.dataset.isin(targets)]
        if len(tgt):
            per_seed = tgt.groupby("seed").accuracy.mean().tolist()
            here = [r for r in rows if r["role"] == "target" and all(r[k] == variant[k] for k in VARIANT)]
            rows.append(dict(variant, dataset=AVERAGE, role="average",
                             accuracy=float(np.mean([r["accuracy"] for r in here])),
                             std=mean_std(per_seed)[1], n_seeds=len(per_seed),
                             paper_setting=all(r["paper_setting"] for r in here)))
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=cols)
    paper = (paper_results.table2() if table == "table2" else paper_results.table3()).copy()
    if table == "table3":  # Table 3 has no average column: the paper's mean over the 4 variants
        avg = (paper[paper.role == "target"].groupby("method")
               .agg(value=("value", "mean"), confirmed=("confirmed", "all")).reset_index())
        avg["dataset"], avg["role"] = AVERAGE, "average"
        paper = pd.concat([paper, avg], ignore_index=True)
    n_paper_targets = int((paper.role == "target").sum() / paper.method.nunique())
    paper = paper.rename(columns={"dataset": "paper_dataset", "value": "paper", "method": "method_id",
                                  "confirmed": "paper_confirmed"}).drop(columns=["role"])
    paper["is_default"] = True
    out["paper_dataset"] = out["dataset"].map(lambda d: plays.get(d, ""))
    out = out.merge(paper, on=["method_id", "paper_dataset", "is_default"], how="left")
    out["diff"] = out["accuracy"] - out["paper"]
    # the target average is the paper's setting only over all of the paper's targets
    avg = out.role == "average"
    out.loc[avg, "paper_setting"] = out.loc[avg, "paper_setting"] & (len(targets) == n_paper_targets)
    out["method"] = [variant_label(r.method_id, r.n_ctx, r.is_default) for r in out.itertuples()]
    order = {d: i for i, d in enumerate([source, *targets, AVERAGE])}
    out = out.iloc[sorted(range(len(out)), key=lambda i: _variant_order(out.iloc[i])
                          + (order[out.dataset.iloc[i]],))].reset_index(drop=True)
    return out[cols + VARIANT]


def transfer_average(frame: pd.DataFrame, method: str, column: str = "accuracy") -> float:
    """The "average over targets" value of ``method`` in a :func:`transfer` frame (NaN if absent);
    ``column="paper"`` gives the paper's."""
    row = frame[(frame.method == method) & (frame.role == "average")] if len(frame) else frame
    return float(row[column].iloc[0]) if len(row) else float("nan")


def transfer_averages(frame: pd.DataFrame, prefix: str) -> dict:
    """The three methods' target averages, ours and the paper's, named for the book's glue:
    ``{prefix}_CLIP``, ``paper_{prefix}_CLIP``, ... (CLIP, CoOp, CoCoOp)."""
    values = {}
    for m in METHOD_ORDER:
        values[f"{prefix}_{m}"] = transfer_average(frame, m)
        values[f"paper_{prefix}_{m}"] = transfer_average(frame, m, "paper")
    return values


# ----------------------------------------------------------------------------- settings


def settings_frame(records: list[dict]) -> pd.DataFrame:
    """Which setting the numbers came from: one row per distinct (backbone, recipe, shots, ...)."""
    rows = []
    for r in records:
        c = r["config"]
        rows.append(dict(
            backbone=r["backbone"]["backbone"] + (" (offline mini CLIP)" if r["backbone"]["is_mini_clip"] else ""),
            weights_sha256=r["backbone"]["weights_sha256"][:16],
            data="mini world" if c.get("data_root") is None else c["data_root"],
            recipe=c["recipe"], shots=c["shots"], method=c["method"], epochs=c["epochs"],
            batch_size=c["batch_size"], precision=c["precision"],
            device=r["provenance"].get("device_name", c["device"]),
            git=r["provenance"]["git_revision"]))
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    return df.groupby(list(df.columns), dropna=False).size().reset_index(name="runs")
