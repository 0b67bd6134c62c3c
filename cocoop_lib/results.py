"""Run records -> the paper's tables (pandas), with the paper's numbers beside ours, and figures.

Aggregation follows the protocol: a dataset's base and new accuracy are means over seeds (with the
sample standard deviation as spread); its H is H(mean base, mean new); the average row takes the
mean of the per-dataset means and H(mean base, mean new) -- not the mean of per-dataset H.

    from cocoop_lib.records import read_records
    from cocoop_lib import results
    records = read_records("outputs/records")
    summary = results.base_to_new(records)          # tidy: one row per (dataset, method)
    results.base_to_new_display(summary)            # ours / paper / difference, styled

Every function takes run records (dicts written by :func:`cocoop_lib.runs.run`) and never reads
files itself, so a notebook decides which runs a table is made of.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import paper_results
from .evaluation import harmonic_mean, mean_std

METHOD_ORDER = ["CLIP", "CoOp", "CoCoOp"]
PAPER_METHOD = {"zeroshot": "CLIP", "coop": "CoOp", "cocoop": "CoCoOp"}
AVERAGE = "Average"
TABLE_CLASS = "cocoop-results"


# ----------------------------------------------------------------------------- records -> rows


def method_label(record: dict, explicit_ctx: bool = False) -> str:
    """Display name of a record's method: "CLIP", "CoOp", "CoCoOp", or e.g. "CoOp ctx=60".

    The recipe's context (4 vectors from "a photo of a") gets the plain name unless
    ``explicit_ctx``; any other context length or a random init is named.
    """
    c = record["config"]
    method = c["method"]
    if method == "zeroshot":
        return "CLIP"
    n_ctx = record.get("n_ctx") or c.get("n_ctx")
    default = c.get("ctx_init") == record.get("recipe", {}).get("ctx_init", "a photo of a") and n_ctx == 4
    if method == "coop":
        return f"CoOp ctx={n_ctx}" if explicit_ctx or not default else "CoOp"
    if explicit_ctx or not default:
        return f"CoCoOp (ctx={n_ctx} + Meta-Net)"
    return "CoCoOp"


def records_frame(records: list[dict], explicit_ctx: bool = False) -> pd.DataFrame:
    """One row per (run, evaluation target): accuracy with the run's config and provenance."""
    rows = []
    for r in records:
        c = r["config"]
        for target, acc in r["metrics"].items():
            dataset, _, subset = target.partition(":")
            if subset == "H":
                continue
            rows.append(dict(
                run=r["name"], trained_on=c["dataset"], method=c["method"],
                label=method_label(r, explicit_ctx), seed=c["seed"], train_classes=c["train_classes"],
                dataset=dataset, subset=subset, accuracy=float(acc),
                n_trainable_params=r["n_trainable_params"], n_ctx=r.get("n_ctx", 0),
                shots=c["shots"], epochs=c["epochs"], recipe=c["recipe"],
                backbone=r["backbone"]["backbone"], is_mini_clip=bool(r["backbone"]["is_mini_clip"]),
                weights_sha256=r["backbone"]["weights_sha256"], device=c["device"],
                precision=c["precision"], seconds=r["seconds"]["total"]))
    return pd.DataFrame(rows)


def _ordered(labels) -> list[str]:
    labels = list(dict.fromkeys(labels))
    return sorted(labels, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))


def _with_paper_names(plays: dict | None, datasets) -> dict:
    """``plays`` completed with the paper's own datasets, which play themselves."""
    from .datasets import BASE_TO_NEW, DOMAIN_SHIFT

    out = dict(plays or {})
    for d in datasets:
        if d in BASE_TO_NEW + DOMAIN_SHIFT:
            out.setdefault(d, d)
    return out


# ----------------------------------------------------------------------------- Table 1


def base_to_new(records: list[dict], plays: dict | None = None) -> pd.DataFrame:
    """Table 1 as a tidy frame: one row per (dataset, method), the average row last per method.

    Columns: dataset, method, n_seeds, base, base_std, new, new_std, H (of the seed means), H_std
    (spread of the per-seed H), paper_dataset, paper_base, paper_new, paper_H, d_base, d_new, d_H
    (ours - paper). ``plays`` maps a dataset to the paper dataset whose part it plays (paper
    datasets play themselves); the average row is compared with the paper's 11-dataset average.
    """
    df = records_frame(records)
    if df.empty:
        return pd.DataFrame(columns=["dataset", "method", "n_seeds", "base", "base_std", "new",
                                     "new_std", "H", "H_std"])
    df = df[(df.train_classes == "base") & (df.dataset == df.trained_on)
            & df.subset.isin(["base", "new"])]
    wide = df.pivot_table(index=["dataset", "label", "seed"], columns="subset",
                          values="accuracy", aggfunc="first").reset_index()
    wide = wide.dropna(subset=["base", "new"])
    rows = []
    datasets = list(dict.fromkeys(df.dataset))
    for label in _ordered(wide.label):
        mine = wide[wide.label == label]
        per_seed_avg = []
        for dataset in datasets:
            d = mine[mine.dataset == dataset]
            if d.empty:
                continue
            b, b_std = mean_std(d.base.tolist())
            n, n_std = mean_std(d.new.tolist())
            h_seeds = [harmonic_mean(x, y) for x, y in zip(d.base, d.new)]
            rows.append(dict(dataset=dataset, method=label, n_seeds=len(d), base=b, base_std=b_std,
                             new=n, new_std=n_std, H=harmonic_mean(b, n),
                             H_std=mean_std(h_seeds)[1]))
        ds_here = [r for r in rows if r["method"] == label and r["dataset"] != AVERAGE]
        if not ds_here:
            continue
        b = float(np.mean([r["base"] for r in ds_here]))
        n = float(np.mean([r["new"] for r in ds_here]))
        # spread over seeds of the average row: the per-seed averages over the datasets that
        # have that seed
        common = set.intersection(*[set(mine[mine.dataset == r["dataset"]].seed) for r in ds_here])
        for s in sorted(common):
            ss = mine[mine.seed == s]
            per_seed_avg.append((ss.base.mean(), ss.new.mean()))
        bs = [x for x, _ in per_seed_avg] or [b]
        ns = [y for _, y in per_seed_avg] or [n]
        rows.append(dict(dataset=AVERAGE, method=label, n_seeds=len(common), base=b,
                         base_std=mean_std(bs)[1], new=n, new_std=mean_std(ns)[1],
                         H=harmonic_mean(b, n),
                         H_std=mean_std([harmonic_mean(x, y) for x, y in zip(bs, ns)])[1]))
    out = pd.DataFrame(rows)
    paper = paper_results.table1().pivot_table(index=["dataset", "method"], columns="metric",
                                               values="value").reset_index()
    paper["method"] = paper["method"].map(PAPER_METHOD)
    plays = _with_paper_names(plays, datasets)
    plays[AVERAGE] = AVERAGE
    out["paper_dataset"] = out["dataset"].map(lambda d: plays.get(d, ""))
    merged = out.merge(paper.rename(columns={"dataset": "paper_dataset", "base": "paper_base",
                                             "new": "paper_new", "H": "paper_H"}),
                       on=["paper_dataset", "method"], how="left")
    for m in ("base", "new", "H"):
        merged[f"d_{m}"] = merged[m] - merged[f"paper_{m}"]
    order = {d: i for i, d in enumerate(datasets + [AVERAGE])}
    merged["_o"] = merged.dataset.map(order)
    merged["_m"] = merged.method.map(lambda m: _ordered(merged.method).index(m))
    return merged.sort_values(["_o", "_m"]).drop(columns=["_o", "_m"]).reset_index(drop=True)


def average_row(summary: pd.DataFrame, method: str) -> dict:
    """The average row of ``method`` in a :func:`base_to_new` summary as a dict."""
    row = summary[(summary.dataset == AVERAGE) & (summary.method == method)]
    return row.iloc[0].to_dict() if len(row) else {}


def claim_check(summary: pd.DataFrame) -> pd.DataFrame:
    """The paper's claim in numbers: gaps between methods on the average row, ours and paper's.

    Rows: "CoOp - CLIP" and "CoCoOp - CoOp" (where both methods ran); columns base, new, H for
    ours and for the paper (Table 1's average row), and whether the sign agrees.
    """
    rows = []
    for a, b in (("CoOp", "CLIP"), ("CoCoOp", "CoOp"), ("CoCoOp", "CLIP")):
        ra, rb = average_row(summary, a), average_row(summary, b)
        if not ra or not rb:
            continue
        for m in ("base", "new", "H"):
            ours = ra[m] - rb[m]
            paper = ra.get(f"paper_{m}", np.nan) - rb.get(f"paper_{m}", np.nan)
            rows.append(dict(gap=f"{a} - {b}", metric=m, ours=ours, paper=paper,
                             same_sign=bool(np.sign(ours) == np.sign(paper)) if not np.isnan(paper)
                             else None))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- ablation


def ablation(records: list[dict]) -> pd.DataFrame:
    """Parameter-count ablation: one row per variant (and dataset), average last.

    Columns: variant, dataset, n_trainable_params, base, base_std, new, new_std, H, H_std, and
    paper_params (the paper's count for the matching variant of CLIP ViT-B/16), d_new_vs_ctx4
    (ours: new accuracy minus CoOp ctx=4's), paper_d_new_vs_ctx4 (the paper's reported -2.54* for
    the long context; NaN where the paper gives no number).
    """
    df = records_frame(records, explicit_ctx=True)
    if df.empty:
        return pd.DataFrame(columns=["variant", "dataset", "n_trainable_params"])
    params = df.groupby("label").n_trainable_params.agg(lambda s: sorted(set(s)))
    rows = []
    labels = sorted(set(df.label), key=_ablation_order)
    for label in labels:
        recs = [r for r in records if method_label(r, explicit_ctx=True) == label]
        s = base_to_new(recs)
        for _, row in s.iterrows():
            rows.append(dict(variant=label, dataset=row.dataset,
                             n_trainable_params=params[label][0] if len(params[label]) == 1
                             else params[label], n_seeds=row.n_seeds,
                             base=row.base, base_std=row.base_std, new=row.new,
                             new_std=row.new_std, H=row.H, H_std=row.H_std))
    out = pd.DataFrame(rows)
    ctx4 = out[out.variant == "CoOp ctx=4"].set_index("dataset").new
    out["d_new_vs_ctx4"] = out.apply(lambda r: r.new - ctx4.get(r.dataset, np.nan), axis=1)
    out["paper_params"] = out.variant.map(_paper_params)
    out["paper_d_new_vs_ctx4"] = out.apply(
        lambda r: paper_results.ABLATION_CTX60_NEW_DELTA["value"]
        if r.variant.startswith("CoOp ctx=") and r.variant != "CoOp ctx=4" and r.dataset == AVERAGE
        else (0.0 if r.variant == "CoOp ctx=4" and r.dataset == AVERAGE else np.nan), axis=1)
    return out


def _ablation_order(label: str):
    if label.startswith("CoOp ctx="):
        return (0, int(label.split("=")[1]))
    return (1, label)


def _paper_params(label: str):
    if label == "CoOp ctx=4":
        return paper_results.ABLATION_PARAMS["CoOp ctx=4"]
    if label.startswith("CoOp ctx="):
        return paper_results.ABLATION_PARAMS["CoOp ctx=60"]
    if label.startswith("CoCoOp"):
        return paper_results.ABLATION_PARAMS["CoOp ctx=4 + Meta-Net (CoCoOp)"]
    return np.nan


# ----------------------------------------------------------------------------- Tables 2 and 3


def transfer(records: list[dict], source: str, targets: list[str], plays: dict | None = None,
             table: str = "table2") -> pd.DataFrame:
    """Cross-dataset transfer (``table="table2"``) or domain generalisation (``"table3"``).

    Runs trained on all classes of ``source``, tested on ``source`` and on each of ``targets``.
    Tidy frame: method, dataset, role ("source", "target", "average" = mean over targets of the
    seed means), accuracy, std (over seeds; for the average: of the per-seed target means),
    n_seeds, paper_dataset, paper, paper_confirmed, diff (ours - paper).
    """
    plays = _with_paper_names(plays, [source, *targets])
    df = records_frame(records)
    cols = ["method", "dataset", "role", "accuracy", "std", "n_seeds", "paper_dataset", "paper",
            "paper_confirmed", "diff"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[(df.train_classes == "all") & (df.trained_on == source) & (df.subset == "all")]
    rows = []
    for label in _ordered(df.label):
        d = df[df.label == label]
        for ds, role in [(source, "source")] + [(t, "target") for t in targets]:
            acc = d[d.dataset == ds].accuracy.tolist()
            if acc:
                m, s = mean_std(acc)
                rows.append(dict(method=label, dataset=ds, role=role, accuracy=m, std=s,
                                 n_seeds=len(acc)))
        tgt = d[d.dataset.isin(targets)]
        if len(tgt):
            per_seed = tgt.groupby("seed").accuracy.mean().tolist()
            means = [r["accuracy"] for r in rows if r["method"] == label and r["role"] == "target"]
            rows.append(dict(method=label, dataset=AVERAGE, role="average",
                             accuracy=float(np.mean(means)), std=mean_std(per_seed)[1],
                             n_seeds=len(per_seed)))
    out = pd.DataFrame(rows, columns=cols[:6])
    paper = (paper_results.table2() if table == "table2" else paper_results.table3()).copy()
    paper["method"] = paper["method"].map(PAPER_METHOD)
    plays[AVERAGE] = AVERAGE
    out["paper_dataset"] = out["dataset"].map(lambda d: plays.get(d, ""))
    if table == "table3":  # Table 3 has no average column: the paper's mean over the 4 variants
        avg = (paper[paper.role == "target"].groupby("method")
               .agg(value=("value", "mean"), confirmed=("confirmed", "all")).reset_index())
        avg["dataset"], avg["role"] = AVERAGE, "average"
        paper = pd.concat([paper, avg], ignore_index=True)
    paper = paper.rename(columns={"dataset": "paper_dataset", "value": "paper",
                                  "confirmed": "paper_confirmed"}).drop(columns=["role"])
    out = out.merge(paper, on=["method", "paper_dataset"], how="left")
    out["diff"] = out["accuracy"] - out["paper"]
    return out[cols]


# ----------------------------------------------------------------------------- settings


def settings(records: list[dict]) -> pd.DataFrame:
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
    keys = [k for k in df.columns]
    out = df.groupby(keys, dropna=False).size().reset_index(name="runs")
    return out


def describe_setting(records: list[dict]) -> str:
    """A sentence naming the setting of a set of records (for prose, glued from the run)."""
    if not records:
        return "no runs"
    bb = sorted({r["backbone"]["backbone"] for r in records})
    mini = any(r["backbone"]["is_mini_clip"] for r in records)
    data = sorted({"the offline mini world" if r["config"].get("data_root") is None
                   else "the paper's datasets" for r in records})
    recipes = sorted({r["config"]["recipe"] for r in records})
    shots = sorted({r["config"]["shots"] for r in records})
    seeds = sorted({r["config"]["seed"] for r in records})
    epochs = sorted({(r["config"]["method"], r["config"]["epochs"]) for r in records
                     if r["config"]["method"] != "zeroshot"})
    ep = ", ".join(f"{PAPER_METHOD[m]} {e} epochs" for m, e in epochs)
    clip = "the offline mini CLIP" if mini and bb == ["mini"] else "CLIP " + ", ".join(bb)
    return (f"{clip} on {' and '.join(data)}, recipe {', '.join(recipes)}, "
            f"{', '.join(map(str, shots))} shots, {ep or 'no training'}, "
            f"seeds {', '.join(map(str, seeds))} ({len(records)} runs)")


# ----------------------------------------------------------------------------- display


def _fmt(mean, std=None, digits=1) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _diff_colour(v) -> str:
    """Cell style of a difference: green when ours is higher, red when lower, stronger when larger."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return ""
    if math.isnan(v):
        return ""
    alpha = min(abs(v) / 10.0, 1.0) * 0.6 + 0.1
    rgb = "46,125,50" if v > 0 else "198,40,40"
    return f"background-color: rgba({rgb},{alpha:.2f}); font-weight: bold"


def _styled(text: pd.DataFrame, diffs: pd.DataFrame, caption: str, table_id: str):
    """A Styler of ``text`` whose cells are coloured by the numbers in ``diffs`` (same shape)."""
    def colours(_):
        return diffs.map(_diff_colour).reindex_like(text).fillna("")

    styler = text.style.apply(colours, axis=None).set_caption(caption)
    styler = styler.set_table_attributes(f'class="{TABLE_CLASS}" id="{table_id}"')
    styler = styler.set_table_styles([
        {"selector": "caption", "props": "caption-side: top; font-weight: bold; text-align: left"},
        {"selector": "td", "props": "text-align: right; white-space: nowrap"}])
    return styler.set_uuid(table_id)


def base_to_new_display(summary: pd.DataFrame, caption: str = "Table 1: base-to-new generalisation"):
    """Table 1 for reading: per dataset three rows (ours mean ± std over seeds, paper, ours - paper),
    columns method x (base, new, H); differences coloured."""
    methods = _ordered(summary.method)
    cols = pd.MultiIndex.from_product([methods, ["base", "new", "H"]])
    text_rows, diff_rows, index = [], [], []
    for dataset in dict.fromkeys(summary.dataset):
        s = summary[summary.dataset == dataset].set_index("method")
        paper_ds = s.paper_dataset.dropna().iloc[0] if "paper_dataset" in s and s.paper_dataset.notna().any() else ""
        has_paper = "paper_base" in s and s.paper_base.notna().any()
        ours, paper, diff, dnum = [], [], [], []
        for m in methods:
            for k in ("base", "new", "H"):
                if m in s.index:
                    r = s.loc[m]
                    ours.append(_fmt(r[k], r.get(f"{k}_std")))
                    pv = r.get(f"paper_{k}", np.nan)
                    paper.append(_fmt(pv, digits=2))
                    dv = r.get(f"d_{k}", np.nan)
                    diff.append("–" if pd.isna(dv) else f"{dv:+.1f}")
                    dnum.append(dv)
                else:
                    ours.append("–"), paper.append("–"), diff.append("–"), dnum.append(np.nan)
        label = dataset if dataset != AVERAGE else f"Average ({summary[summary.dataset != AVERAGE].dataset.nunique()})"
        text_rows.append(ours), diff_rows.append([np.nan] * len(ours)), index.append((label, "ours"))
        if has_paper:
            tag = "paper" if paper_ds in (dataset, AVERAGE) else f"paper ({paper_ds})"
            if dataset == AVERAGE:
                tag = "paper (11 datasets)"
            text_rows.append(paper), diff_rows.append([np.nan] * len(ours)), index.append((label, tag))
            text_rows.append(diff), diff_rows.append(dnum), index.append((label, "ours - paper"))
    idx = pd.MultiIndex.from_tuples(index, names=["dataset", ""])
    return _styled(pd.DataFrame(text_rows, index=idx, columns=cols),
                   pd.DataFrame(diff_rows, index=idx, columns=cols), caption, "table-base-to-new")


def claim_display(claims: pd.DataFrame, caption: str = "The paper's claim: gaps on the average row"):
    """Gap table (rows: gap, columns: base/new/H for ours and the paper), ours coloured by sign."""
    if claims.empty:
        return pd.DataFrame().style
    text = claims.pivot(index="gap", columns="metric", values="ours")[["base", "new", "H"]]
    paper = claims.pivot(index="gap", columns="metric", values="paper")[["base", "new", "H"]]
    agree = claims.pivot(index="gap", columns="metric", values="same_sign")[["base", "new", "H"]]
    cols = pd.MultiIndex.from_product([["ours", "paper", "same sign"], ["base", "new", "H"]])
    out = pd.concat([text.map(lambda v: f"{v:+.2f}"), paper.map(lambda v: _fmt(v, digits=2) if pd.isna(v) else f"{v:+.2f}"),
                     agree.map(lambda v: "–" if v is None or pd.isna(v) else ("yes" if v else "no"))],
                    axis=1)
    out.columns = cols
    nums = pd.concat([text, text * np.nan, text * np.nan], axis=1)
    nums.columns = cols
    return _styled(out, nums, caption, "table-claim")


def ablation_display(ab: pd.DataFrame, caption: str = "Parameter-count ablation (average over datasets)"):
    """The ablation's average rows: trainable parameters beside accuracy, ours and the paper's."""
    avg = ab[ab.dataset == AVERAGE].set_index("variant")
    text = pd.DataFrame({
        "trainable params (ours)": avg.n_trainable_params.map(lambda v: f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)),
        "trainable params (paper, ViT-B/16)": avg.paper_params.map(lambda v: f"{int(v):,}" if not pd.isna(v) else "–"),
        "base": [_fmt(b, s) for b, s in zip(avg.base, avg.base_std)],
        "new": [_fmt(b, s) for b, s in zip(avg.new, avg.new_std)],
        "H": [_fmt(b, s) for b, s in zip(avg.H, avg.H_std)],
        "new - CoOp ctx=4 (ours)": avg.d_new_vs_ctx4.map(lambda v: "–" if pd.isna(v) else f"{v:+.2f}"),
        "new - CoOp ctx=4 (paper)": avg.paper_d_new_vs_ctx4.map(
            lambda v: "–" if pd.isna(v) else (f"{v:+.2f}" + ("*" if v != 0 else ""))),
    }, index=avg.index)
    nums = pd.DataFrame(np.nan, index=text.index, columns=text.columns)
    nums["new - CoOp ctx=4 (ours)"] = avg.d_new_vs_ctx4
    return _styled(text, nums, caption, "table-ablation")


def transfer_display(tr: pd.DataFrame, caption: str, table_id: str):
    """Tables 2/3 for reading: rows method x (ours, paper, ours - paper), columns datasets."""
    if tr.empty:
        return pd.DataFrame().style
    datasets = list(dict.fromkeys(tr.dataset))
    plays = dict(zip(tr.dataset, tr.paper_dataset))

    def col(d):
        role = tr[tr.dataset == d].role.iloc[0]
        name = "target average" if d == AVERAGE else d
        p = plays.get(d)
        if isinstance(p, str) and p and p != d and d != AVERAGE:
            name += f" (plays {p})"
        return f"{name} [source]" if role == "source" else name

    text_rows, diff_rows, index = [], [], []
    for m in _ordered(tr.method):
        s = tr[tr.method == m].set_index("dataset")
        ours = [_fmt(s.accuracy.get(d), s["std"].get(d)) if d in s.index else "–" for d in datasets]
        text_rows.append(ours), diff_rows.append([np.nan] * len(datasets)), index.append((m, "ours"))
        if s.paper.notna().any():
            paper = [("–" if pd.isna(s.paper.get(d, np.nan)) else
                      f"{s.paper[d]:.2f}" + ("" if s.paper_confirmed[d] else "*")) for d in datasets]
            diff = [("–" if pd.isna(s["diff"].get(d, np.nan)) else f"{s['diff'][d]:+.1f}") for d in datasets]
            text_rows.append(paper), diff_rows.append([np.nan] * len(datasets)), index.append((m, "paper"))
            text_rows.append(diff), diff_rows.append([s["diff"].get(d, np.nan) for d in datasets])
            index.append((m, "ours - paper"))
    idx = pd.MultiIndex.from_tuples(index, names=["method", ""])
    cols = [col(d) for d in datasets]
    return _styled(pd.DataFrame(text_rows, index=idx, columns=cols),
                   pd.DataFrame(diff_rows, index=idx, columns=cols), caption, table_id)


def settings_display(records: list[dict], caption: str = "Where these numbers came from"):
    """The settings table, styled like the others."""
    df = settings(records)
    styler = _styled(df.astype(str), pd.DataFrame(np.nan, index=df.index, columns=df.columns),
                     caption, "table-settings")
    return styler.hide(axis="index")


# ----------------------------------------------------------------------------- figures


def plot_base_to_new(records: list[dict], summary: pd.DataFrame | None = None):
    """Base, new and H per dataset and method (bars: seed means, error bars: std over seeds),
    with the paper's average row as open markers beside our average."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    summary = base_to_new(records) if summary is None else summary
    methods = _ordered(summary.method)
    long = summary.melt(id_vars=["dataset", "method"], value_vars=["base", "new", "H"],
                        var_name="metric", value_name="accuracy")
    stds = summary.melt(id_vars=["dataset", "method"], value_vars=["base_std", "new_std", "H_std"],
                        var_name="metric", value_name="std")
    stds["metric"] = stds.metric.str.replace("_std", "")
    long = long.merge(stds, on=["dataset", "method", "metric"])
    datasets = list(dict.fromkeys(summary.dataset))
    fig, axes = plt.subplots(1, 3, figsize=(min(4 + 1.4 * len(datasets), 18), 4.2), sharey=True)
    palette = dict(zip(METHOD_ORDER, sns.color_palette("colorblind", 3)))
    for ax, metric in zip(axes, ["base", "new", "H"]):
        part = long[long.metric == metric]
        sns.barplot(data=part, x="dataset", y="accuracy", hue="method", order=datasets,
                    hue_order=methods, palette=palette, ax=ax, errorbar=None)
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            p = part[part.method == m].set_index("dataset").reindex(datasets)
            x = np.arange(len(datasets)) - 0.4 + width * (i + 0.5)
            ax.errorbar(x, p.accuracy, yerr=p["std"], fmt="none", ecolor="black", capsize=2, lw=1)
            pa = summary[(summary.method == m) & (summary.dataset == AVERAGE)]
            if len(pa) and f"paper_{metric}" in pa and pa[f"paper_{metric}"].notna().any():
                ax.scatter([x[-1]], [pa[f"paper_{metric}"].iloc[0]], marker="D", s=40,
                           facecolors="none", edgecolors=palette.get(m, "k"), linewidths=1.5,
                           zorder=5, label="paper average" if i == 0 else None)
        ax.set_title(metric if metric != "H" else "H = 2BN/(B+N)")
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=45)
        for t in ax.get_xticklabels():
            t.set_ha("right")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if ax.get_legend():
            ax.get_legend().remove()
    axes[0].set_ylabel("accuracy (%)")
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_claim(summary: pd.DataFrame):
    """Average base / new / H per method: ours beside the paper's (the claim at a glance)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    avg = summary[summary.dataset == AVERAGE]
    rows = []
    for _, r in avg.iterrows():
        for m in ("base", "new", "H"):
            rows.append(dict(method=r.method, metric=m, source="ours", accuracy=r[m]))
            if not pd.isna(r.get(f"paper_{m}", np.nan)):
                rows.append(dict(method=r.method, metric=m, source="paper (ViT-B/16)",
                                 accuracy=r[f"paper_{m}"]))
    df = pd.DataFrame(rows)
    g = sns.catplot(data=df, x="method", y="accuracy", hue="metric", col="source", kind="bar",
                    order=_ordered(df.method), height=3.4, aspect=1.1, palette="deep")
    g.set_axis_labels("", "average accuracy (%)")
    return g.figure


def plot_ablation(ab: pd.DataFrame):
    """Trainable parameters (log scale) against average base, new and H accuracy."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    avg = ab[ab.dataset == AVERAGE].copy()
    avg["params"] = avg.n_trainable_params.map(lambda v: v if isinstance(v, (int, np.integer)) else max(v))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=False)
    colours = sns.color_palette("colorblind", len(avg))
    for ax, metric in zip(axes, ["base", "new", "H"]):
        for c, (_, r) in zip(colours, avg.iterrows()):
            ax.errorbar([r.params], [r[metric]], yerr=[r[f"{metric}_std"]], fmt="o", color=c,
                        capsize=3, label=r.variant)
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters")
        ax.set_title(f"average {metric}")
    axes[0].set_ylabel("accuracy (%)")
    axes[-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_transfer(tr: pd.DataFrame, title: str = ""):
    """Accuracy per dataset (source first, target average last) and method, error bars over seeds."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    datasets = list(dict.fromkeys(tr.dataset))
    methods = _ordered(tr.method)
    fig, ax = plt.subplots(figsize=(min(3 + 1.1 * len(datasets), 16), 3.8))
    sns.barplot(data=tr, x="dataset", y="accuracy", hue="method", order=datasets, hue_order=methods,
                palette=dict(zip(METHOD_ORDER, sns.color_palette("colorblind", 3))), ax=ax,
                errorbar=None)
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        p = tr[tr.method == m].set_index("dataset").reindex(datasets)
        x = np.arange(len(datasets)) - 0.4 + width * (i + 0.5)
        ax.errorbar(x, p.accuracy, yerr=p["std"], fmt="none", ecolor="black", capsize=2, lw=1)
    ax.set_xlabel("")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    for t in ax.get_xticklabels():
        t.set_ha("right")
    fig.tight_layout()
    return fig


def transfer_average(frame: pd.DataFrame, method: str, column: str = "accuracy") -> float:
    """The "average over targets" value of ``method`` in a :func:`transfer` frame (NaN if absent);
    ``column="paper"`` gives the paper's."""
    row = frame[(frame.method == method) & (frame.role == "average")] if len(frame) else frame
    return float(row[column].iloc[0]) if len(row) else float("nan")


def transfer_averages(frame: pd.DataFrame, prefix: str) -> dict:
    """The three methods' target averages, ours and the paper's, named for the book's glue:
    ``{prefix}_CLIP``, ``paper_{prefix}_CLIP``, ... (CLIP, CoOp, CoCoOp)."""
    values = {}
    for m in ("CLIP", "CoOp", "CoCoOp"):
        values[f"{prefix}_{m}"] = transfer_average(frame, m)
        values[f"paper_{prefix}_{m}"] = transfer_average(frame, m, "paper")
    return values

