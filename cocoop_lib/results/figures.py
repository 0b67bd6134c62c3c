"""The tables as figures (matplotlib / seaborn), made from :mod:`.tables` frames.

Sized for the book's page (about 800 px wide: 8.5 in at 100 dpi, so the page shows them near
1:1) with tick labels of 10 pt and larger, so they stay legible at page width.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd

from .tables import AVERAGE, METHOD_ORDER, base_to_new

PAGE_WIDTH_IN = 8.5
FONTS = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "figure.dpi": 100}


@contextmanager
def _page_style():
    import matplotlib.pyplot as plt

    with plt.rc_context(FONTS):
        yield


def _ordered(labels) -> list[str]:
    labels = list(dict.fromkeys(labels))
    return sorted(labels, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))


def _palette(methods=()) -> dict:
    """One colour per method (the same three for CLIP, CoOp, CoCoOp in every figure), and more
    for named variants such as "CoOp ctx=16"."""
    import seaborn as sns

    others = [m for m in methods if m not in METHOD_ORDER]
    colours = sns.color_palette("colorblind", 3 + len(others))
    return dict(zip(METHOD_ORDER + others, colours))


def _bar_x(n_groups: int, n_hues: int, i: int) -> np.ndarray:
    """x of the ``i``-th hue's bars in seaborn's grouped bar layout (total width 0.8)."""
    width = 0.8 / max(n_hues, 1)
    return np.arange(n_groups) - 0.4 + width * (i + 0.5)


def _error_bars(ax, frame: pd.DataFrame, groups: list, hues: list, value: str, err: str,
                group_col: str = "dataset", hue_col: str = "method") -> dict:
    """Error bars on seaborn's grouped bars; returns {hue: x positions}."""
    xs = {}
    for i, h in enumerate(hues):
        p = frame[frame[hue_col] == h].set_index(group_col).reindex(groups)
        xs[h] = _bar_x(len(groups), len(hues), i)
        ax.errorbar(xs[h], p[value], yerr=p[err], fmt="none", ecolor="black", capsize=2, lw=1)
    return xs


def _rotate(ax, degrees: int = 30) -> None:
    ax.tick_params(axis="x", rotation=degrees)
    for t in ax.get_xticklabels():
        t.set_ha("right")


def plot_base_to_new(records: list[dict], summary: pd.DataFrame | None = None):
    """Base, new and H per dataset and method (bars: seed means, error bars: std over seeds),
    with the paper's average row as open markers beside our average; one panel per metric."""
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
    palette = _palette(methods)
    with _page_style():
        fig, axes = plt.subplots(3, 1, figsize=(PAGE_WIDTH_IN, 8.5), sharex=True)
        for ax, metric in zip(axes, ["base", "new", "H"]):
            part = long[long.metric == metric]
            sns.barplot(data=part, x="dataset", y="accuracy", hue="method", order=datasets,
                        hue_order=methods, palette=palette, ax=ax, errorbar=None)
            xs = _error_bars(ax, part, datasets, methods, "accuracy", "std")
            for i, m in enumerate(methods):
                pa = summary[(summary.method == m) & (summary.dataset == AVERAGE)]
                if len(pa) and f"paper_{metric}" in pa and pa[f"paper_{metric}"].notna().any():
                    ax.scatter([xs[m][-1]], [pa[f"paper_{metric}"].iloc[0]], marker="D", s=40,
                               facecolors="none", edgecolors=palette.get(m, "k"), linewidths=1.5,
                               zorder=5, label="paper average" if i == 0 else None)
            ax.set_ylabel(f"{metric if metric != 'H' else 'H = 2BN/(B+N)'} (%)")
            ax.set_xlabel("")
            if ax.get_legend():
                ax.get_legend().remove()
        _rotate(axes[-1])
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def plot_claim(summary: pd.DataFrame):
    """Average base / new / H per method: ours beside the paper's (the claim at a glance)."""
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
    with _page_style():
        n_cols = df.source.nunique()
        g = sns.catplot(data=df, x="method", y="accuracy", hue="metric", col="source", kind="bar",
                        order=_ordered(df.method), height=3.6,
                        aspect=(PAGE_WIDTH_IN - 1.2) / n_cols / 3.6, palette="deep")
        g.set_axis_labels("", "average accuracy (%)")
    return g.figure


def plot_ablation(ab: pd.DataFrame):
    """Trainable parameters (log scale) against average base, new and H accuracy."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    avg = ab[ab.dataset == AVERAGE].copy()
    avg["params"] = avg.n_trainable_params.map(lambda v: v if isinstance(v, (int, np.integer)) else max(v))
    colours = sns.color_palette("colorblind", len(avg))
    with _page_style():
        fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH_IN, 3.6))
        for ax, metric in zip(axes, ["base", "new", "H"]):
            for c, (_, r) in zip(colours, avg.iterrows()):
                ax.errorbar([r.params], [r[metric]], yerr=[r[f"{metric}_std"]], fmt="o", color=c,
                            capsize=3, label=r.variant)
            ax.set_xscale("log")
            ax.set_xlabel("trainable parameters")
            ax.set_title(f"average {metric}")
        axes[0].set_ylabel("accuracy (%)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), frameon=False)
        fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def plot_transfer(tr: pd.DataFrame, title: str = ""):
    """Accuracy per dataset (source first, target average last) and method, error bars over seeds."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    datasets = list(dict.fromkeys(tr.dataset))
    methods = _ordered(tr.method)
    with _page_style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.2))
        sns.barplot(data=tr, x="dataset", y="accuracy", hue="method", order=datasets,
                    hue_order=methods, palette=_palette(methods), ax=ax, errorbar=None)
        _error_bars(ax, tr, datasets, methods, "accuracy", "std")
        ax.set_xlabel("")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(title)
        _rotate(ax)
        fig.tight_layout()
    return fig
