"""Showing things in the book: the provenance block's HTML, a run cell's log (a summary with
the per-run lines folded) and the numbers glued into the prose.

The only module of the package that imports IPython or myst_nb (and only inside functions, so
the library works without them). Outside IPython, :func:`show_provenance` prints plain text.
"""
from __future__ import annotations

import html
import time

from .provenance import provenance_info, provenance_rows, provenance_text, setting_warning
from .shipped import ENV

# Layout only (the colours come from the book's theme, as for any admonition): the facts as a
# two-column grid whose value column may shrink to the box, and each value an inline block that
# moves to the next line whole and breaks inside only when it is wider than the whole column.
_FACTS = "display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15em 1em;margin-top:.4em"
# facts a reader rarely needs at first sight: folded under the others (still in the page)
_FOLDED = ("versions", "git revision", "parameters", "record weights", "records made on")
_KEY = "font-weight:600;margin:0"
_CELL = "margin:0;min-width:0"
_VALUE = ("display:inline-block;max-width:100%;overflow-wrap:anywhere;white-space:normal;"
          "margin-right:.5em")


def _value_html(key: str, value) -> str:
    if key == "weights sha256" or (key == "record weights" and isinstance(value, list)):
        shas = value if isinstance(value, list) else [value]
        return " ".join(f'<code class="cocoop-sha" title="{html.escape(s)}" style="{_VALUE}">'
                        f'{html.escape(s[:16])}&hellip;</code>' for s in shas)
    if key == "parameters":   # the parameters: a short list of name=value items
        return " ".join(f'<code style="{_VALUE}">{html.escape(str(p))}</code>' for p in value)
    parts = value if isinstance(value, list) else [value]
    return " ".join(f'<span style="{_VALUE}">{html.escape(str(p))}</span>' for p in parts)


def provenance_html(info: dict, title: str = "Provenance") -> str:
    """The provenance block as HTML: a Jupyter Book admonition (``note``) titled ``title``, the
    setting sentence (is this the paper's setting?) and the facts as name / value rows; the
    versions, git revision, parameters and the records' machines folded (``<details>``)."""
    warning = setting_warning(info)
    sentence = warning or "Paper setting: CLIP ViT-B/16 on the paper's datasets."
    rows = provenance_rows(info)

    def facts(keep) -> str:
        return "".join(f'<dt style="{_KEY}">{html.escape(k)}</dt>'
                       f'<dd style="{_CELL}">{_value_html(k, v)}</dd>'
                       for k, v in rows if (k in _FOLDED) != keep)

    folded = ", ".join(k for k, _ in rows if k in _FOLDED)
    return (f'<div class="admonition note cocoop-provenance">'
            f'<p class="admonition-title">{html.escape(title)}</p>'
            f'<p class="cocoop-provenance-setting">{html.escape(sentence)}</p>'
            f'<dl class="cocoop-provenance-facts" style="{_FACTS}">{facts(True)}</dl>'
            f'<details class="cocoop-provenance-more"><summary>{html.escape(folded)}</summary>'
            f'<dl class="cocoop-provenance-facts" style="{_FACTS}">{facts(False)}</dl>'
            f'</details></div>')


def provenance_block(P, records: list[dict] | None = None,
                     title: str = "Provenance") -> tuple[str, str, dict]:
    """(HTML, plain text, data) of a block stating what this notebook ran on."""
    info = provenance_info(P, records)
    return provenance_html(info, title), provenance_text(info, title), info


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def show_provenance(P, records: list[dict] | None = None, title: str = "Provenance") -> dict:
    """Display the provenance block (HTML in a notebook, plain text in a script); returns its data."""
    body, text, info = provenance_block(P, records, title)
    if _in_ipython():
        from IPython.display import display
        display({"text/html": body, "text/plain": text}, raw=True)
    else:
        print(text)
    return info


class NotebookRunLog:
    """The log of :func:`cocoop_lib.runs.run_many` on a notebook page: one live output that ends
    as a compact summary (how many runs; how many shipped, reused, trained; the time) with the
    per-run lines folded in a ``<details>`` block. Outside IPython it prints the plain lines
    (:class:`cocoop_lib.runs.PrintRunLog`'s)."""

    def __init__(self, total: int):
        from .runs import PrintRunLog

        self.total, self.lines, self._shown = total, [], 0.0
        self._plain = None if _in_ipython() else PrintRunLog(total)
        if self._plain is None:
            from IPython.display import display
            self._handle = display(self._bundle(None), raw=True, display_id=True)

    def _bundle(self, counts: dict | None) -> dict:
        from .runs import run_summary

        log = "\n".join(self.lines)
        if counts is None:
            head = f"Running: {len(self.lines)} of {self.total} runs done."
            text = f"{log}\n{head}" if log else head
        else:
            parts = [f"<b>{counts[k]}</b> {what}" for k, what in (
                ("shipped", "shipped with the repository"), ("reused", "reused from earlier "
                 "executions"), ("trained", "trained here"))]
            head = (f"<b>{counts['runs']}</b> runs in <b>{counts['seconds']:.0f} s</b>: "
                    + ", ".join(parts) + ".")
            if counts["shipped"]:
                head += f" (<code>{ENV}=0</code> trains the shipped ones here.)"
            text = f"{log}\n{run_summary(counts)}"
        folded = (f'<details class="cocoop-run-log"><summary>Per-run log ({len(self.lines)} '
                  f'lines)</summary><pre>{html.escape(log)}</pre></details>' if self.lines else "")
        return {"text/html": f'<div class="cocoop-runs"><p style="margin:0 0 .3em">{head}</p>'
                             f"{folded}</div>", "text/plain": text}

    def run(self, i: int, line: str) -> None:
        if self._plain is not None:
            return self._plain.run(i, line)
        self.lines.append(f"[{i}/{self.total}] {line}")
        if time.monotonic() - self._shown > 1.0:   # live progress, at most once a second
            self._handle.update(self._bundle(None), raw=True)
            self._shown = time.monotonic()

    def done(self, counts: dict) -> None:
        if self._plain is not None:
            return self._plain.done(counts)
        self._handle.update(self._bundle(counts), raw=True)


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
