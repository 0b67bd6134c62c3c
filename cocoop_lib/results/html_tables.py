"""The tables for reading (pandas Styler / HTML), made from :mod:`.tables` frames.

Laid out to fit a page at laptop width (1280 px): one narrow table per method, with the metrics
or the sources as the few columns and the comparison as rows; numbers right-aligned in tabular
figures. "ours - paper" appears, and is coloured, only where the setting is the paper's (real
CLIP ViT-B/16 on that paper dataset); elsewhere the paper's number of the dataset a mini dataset
plays is shown uncoloured for its pattern, and the claim table compares the gaps' signs.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from .tables import AVERAGE, METHOD_ORDER, settings_frame

TABLE_CLASS = "cocoop-results"
DELTA = "ours - paper"
NO_DELTA_NOTE = ("Not the paper's setting (CLIP ViT-B/16 on the paper's datasets): compare the "
                 f"gaps between methods (the claim table), not the values (no \"{DELTA}\").")


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


def _styled(text: pd.DataFrame, colour_by: pd.DataFrame | None, caption: str, table_id: str,
            wrap: bool = False):
    """A Styler of ``text``; cells coloured by the numbers in ``colour_by`` (same shape, NaN: none).

    Numbers never wrap; ``wrap=True`` lets text cells (names, paths) wrap inside the page."""
    styler = text.style
    if colour_by is not None:
        styler = styler.apply(lambda _: colour_by.map(_diff_colour).reindex_like(text).fillna(""),
                              axis=None)
    styler = styler.set_caption(html.escape(caption))
    styler = styler.set_table_attributes(f'class="{TABLE_CLASS}" id="{table_id}"')
    # no row of index names under the column headers (pandas' stray "dataset" line)
    styler = styler.hide(axis="index", names=True)
    return styler.set_table_styles([
        {"selector": "caption", "props": "caption-side: top; font-weight: bold; text-align: left"},
        {"selector": "td", "props": ("text-align: left; white-space: normal; overflow-wrap: anywhere; "
                                     "padding: 0 .6em; line-height: 1.35") if wrap else
                                    ("text-align: right; white-space: nowrap; line-height: 1.35; "
                                     "font-variant-numeric: tabular-nums; padding: 0 .6em")},
        {"selector": "th", "props": "text-align: left; padding: 0 .6em; line-height: 1.35"}]
    ).set_uuid(table_id)


class TableGroup:
    """Several narrow tables shown as one (one per method), with a note; ``to_html()`` and the
    notebook display give all of them inside ``<div id=table_id>``."""

    def __init__(self, tables: list, table_id: str, note: str = ""):
        self.tables, self.table_id, self.note = tables, table_id, note

    def to_html(self) -> str:
        note = f'<p class="cocoop-table-note">{html.escape(self.note)}</p>' if self.note else ""
        body = "".join(f'<div style="overflow-x:auto;margin-bottom:1em">{t.to_html()}</div>'
                       for t in self.tables)
        return f'<div class="cocoop-table-group" id="{self.table_id}">{note}{body}</div>'

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return "\n\n".join(t.data.to_string() for t in self.tables) + (f"\n{self.note}" if self.note else "")


def comparison(mean, std, paper, *, show_delta: bool, confirmed=True) -> dict:
    """The cells comparing one number with the paper's: {"ours", "paper", DELTA?} as text, and the
    delta as a number for colouring (NaN where not shown). Shared by every table here."""
    has_paper = paper is not None and not pd.isna(paper)
    cells = {"ours": _fmt(mean, std),
             "paper": (f"{paper:.2f}" + ("" if confirmed else "*")) if has_paper else "–"}
    delta = mean - paper if has_paper and show_delta and mean is not None and not pd.isna(mean) else np.nan
    if show_delta:
        cells[DELTA] = "–" if pd.isna(delta) else f"{delta:+.1f}"
    return {"text": cells, "delta": delta}


def _ordered(labels) -> list[str]:
    labels = list(dict.fromkeys(labels))
    return sorted(labels, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))


def base_to_new_display(summary: pd.DataFrame, caption: str = "Table 1: base-to-new generalisation"):
    """Table 1 for reading: one table per method; rows per dataset: ours (mean ± std over seeds),
    the paper's, and ours - paper where the setting is the paper's; columns base, new, H."""
    if summary.empty:
        return TableGroup([], "table-base-to-new", "no runs")
    n_datasets = summary[summary.dataset != AVERAGE].dataset.nunique()
    any_paper_setting = "paper_setting" in summary and bool(summary.paper_setting.any())
    if not any_paper_setting:
        return _base_to_new_compact(summary, caption, n_datasets)
    tables = []
    for m in _ordered(summary.method):
        s = summary[summary.method == m]
        text, delta, index = [], [], []
        for _, r in s.iterrows():
            name = r.dataset if r.dataset != AVERAGE else f"Average ({n_datasets})"
            show = bool(r.get("paper_setting", False))
            cells = [comparison(r[k], r.get(f"{k}_std"), r.get(f"paper_{k}"), show_delta=show)
                     for k in ("base", "new", "H")]
            kinds = ["ours"]
            if any(not pd.isna(r.get(f"paper_{k}", np.nan)) for k in ("base", "new", "H")):
                p = r.get("paper_dataset", "")
                kinds.append("paper (11 datasets)" if r.dataset == AVERAGE else
                             "paper" if p == r.dataset else f"paper ({p})")
                if show:
                    kinds.append(DELTA)
            for kind in kinds:
                key = "paper" if kind.startswith("paper") else kind
                text.append([c["text"][key] for c in cells])
                delta.append([c["delta"] if kind == DELTA else np.nan for c in cells])
                index.append((name, kind))
        idx = pd.MultiIndex.from_tuples(index, names=["dataset", ""])
        tables.append(_styled(pd.DataFrame(text, index=idx, columns=["base", "new", "H"]),
                              pd.DataFrame(delta, index=idx, columns=["base", "new", "H"]),
                              f"{caption}: {m}", f"table-base-to-new-{_slug(m)}"))
    return TableGroup(tables, "table-base-to-new", "" if any_paper_setting else NO_DELTA_NOTE)


def _base_to_new_compact(summary: pd.DataFrame, caption: str, n_datasets: int) -> TableGroup:
    """Table 1 outside the paper's setting (no ours - paper): one row per dataset, each cell
    "ours ± std (paper)", the paper's number being that of the dataset a row plays."""
    tables, plays = [], {}
    for m in _ordered(summary.method):
        s = summary[summary.method == m]
        text, index = [], []
        for _, r in s.iterrows():
            p = r.get("paper_dataset", "")
            if r.dataset != AVERAGE and isinstance(p, str) and p and p != r.dataset:
                plays[r.dataset] = p
            cells = []
            for k in ("base", "new", "H"):
                c = comparison(r[k], r.get(f"{k}_std"), r.get(f"paper_{k}"), show_delta=False)
                paper = c["text"]["paper"]
                cells.append(c["text"]["ours"] + ("" if paper == "–" else f" ({paper})"))
            text.append(cells)
            index.append(r.dataset if r.dataset != AVERAGE else f"Average ({n_datasets})")
        frame = pd.DataFrame(text, index=pd.Index(index), columns=["base", "new", "H"])
        tables.append(_styled(frame, None, f"{caption}: {m}, ours (paper)",
                              f"table-base-to-new-{_slug(m)}"))
    note = "Mean ± standard deviation over seeds; in brackets the paper's number"
    if plays:
        note += " of the dataset a row plays (" + ", ".join(
            f"{d} plays {p}" for d, p in plays.items()) + "; the average: 11 datasets)"
    note += ". " + NO_DELTA_NOTE
    return TableGroup(tables, "table-base-to-new", note)


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s.lower()).strip("-")


def claim_display(claims: pd.DataFrame, caption: str = "The paper's claim: gaps on the average row"):
    """Gap table: rows gap x metric; columns ours, paper, same sign; ours coloured by its sign
    (a gap compares two methods on the same data, so its sign means the same in any setting).
    With the machine-noise columns (:func:`tables.claim_check` ``noise=``): "machine noise", and
    "within machine noise" marked beside the gaps another CPU could flip."""
    if claims.empty:
        return pd.DataFrame().style
    c = claims.set_index(["gap", "metric"])
    text = pd.DataFrame({
        "ours": c.ours.map(lambda v: f"{v:+.2f}"),
        "paper": c.paper.map(lambda v: "–" if pd.isna(v) else f"{v:+.2f}"),
        "same sign": c.same_sign.map(lambda v: "–" if v is None or pd.isna(v) else ("yes" if v else "no")),
    })
    if "noise" in c:
        text["machine noise"] = [f"±{n:.2f}" + (" (within machine noise)" if w else "")
                                 for n, w in zip(c.noise, c.within_noise)]
    nums = pd.DataFrame({col: (c.ours if col == "ours" else np.nan) for col in text}, index=c.index)
    return _styled(text, nums, caption, "table-claim")


def ablation_display(ab: pd.DataFrame, caption: str = "Parameter-count ablation (average over datasets)"):
    """The ablation's average rows: trainable parameters beside accuracy, ours and the paper's."""
    avg = ab[ab.dataset == AVERAGE].set_index("variant")
    text = pd.DataFrame({
        "params": avg.n_trainable_params.map(lambda v: f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)),
        "params (paper)": avg.paper_params.map(lambda v: f"{int(v):,}" if not pd.isna(v) else "–"),
        "base": [_fmt(b, s) for b, s in zip(avg.base, avg.base_std)],
        "new": [_fmt(b, s) for b, s in zip(avg.new, avg.new_std)],
        "H": [_fmt(b, s) for b, s in zip(avg.H, avg.H_std)],
        "new − ctx=4": avg.d_new_vs_ctx4.map(lambda v: "–" if pd.isna(v) else f"{v:+.2f}"),
        "new − ctx=4 (paper)": avg.paper_d_new_vs_ctx4.map(
            lambda v: "–" if pd.isna(v) else (f"{v:+.2f}" + ("*" if v != 0 else ""))),
    }, index=avg.index)
    nums = pd.DataFrame(np.nan, index=text.index, columns=text.columns)
    nums["new − ctx=4"] = avg.d_new_vs_ctx4          # a within-world difference: coloured
    # variants as columns, quantities as rows: three narrow columns fit any page
    text, nums = text.T, nums.T
    text.columns.name = nums.columns.name = None
    return _styled(text, nums, caption + " (params: trainable; paper: CLIP ViT-B/16)", "table-ablation")


def transfer_display(tr: pd.DataFrame, caption: str, table_id: str):
    """Tables 2/3 for reading: one table per method; rows the datasets (source first, target
    average last); columns ours, the paper's, and ours - paper where the setting is the paper's."""
    if tr.empty:
        return TableGroup([], table_id, "no runs")
    any_paper_setting = "paper_setting" in tr and bool(tr.paper_setting.fillna(False).any())
    tables = []
    for m in _ordered(tr.method):
        s = tr[tr.method == m]
        text, delta, index = [], [], []
        for _, r in s.iterrows():
            name = "target average" if r.dataset == AVERAGE else r.dataset
            p = r.paper_dataset
            if isinstance(p, str) and p and p != r.dataset and r.dataset != AVERAGE:
                name += f" (plays {p})"
            if r.role == "source":
                name += " [source]"
            confirmed = r.paper_confirmed if not pd.isna(r.paper_confirmed) else True
            c = comparison(r.accuracy, r["std"], r.paper, show_delta=any_paper_setting
                           and bool(r.paper_setting), confirmed=bool(confirmed))
            cells = {"ours": c["text"]["ours"], "paper": c["text"]["paper"]}
            if any_paper_setting:
                cells[DELTA] = c["text"].get(DELTA, "–")
            text.append(cells), delta.append({DELTA: c["delta"]}), index.append(name)
        t = pd.DataFrame(text, index=pd.Index(index, name="dataset"))
        d = pd.DataFrame(delta, index=t.index).reindex(columns=t.columns)
        tables.append(_styled(t, d, f"{caption}: {m}", f"{table_id}-{_slug(m)}"))
    note = "" if any_paper_setting else NO_DELTA_NOTE
    if tr.paper_confirmed.eq(False).any():
        note += " * the paper's number could not be confirmed from a second source."
    return TableGroup(tables, table_id, note.strip())


def settings_display(records: list[dict], caption: str = "Where these numbers came from"):
    """The settings table, one column per distinct setting (fields as rows, so it stays narrow)."""
    df = settings_frame(records)
    if df.empty:
        return pd.DataFrame().style
    # settings that differ only in the code revision are one column, its revisions listed
    fields = [c for c in df.columns if c not in ("git", "runs")]
    df = (df.astype({c: str for c in fields}).groupby(fields, sort=False, dropna=False)
          .agg(git=("git", lambda g: ", ".join(sorted(set(g)))), runs=("runs", "sum"))
          .reset_index())
    text = df.astype(str).T
    text.columns = [f"setting {i + 1}" for i in range(text.shape[1])]
    # field names as words ("weights sha256"), so a narrow page can wrap them
    text.index = [str(name).replace("_", " ") for name in text.index]
    return _styled(text, None, caption, "table-settings", wrap=True)
