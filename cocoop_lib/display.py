"""Showing things in the book: the provenance block's HTML and the numbers glued into the prose.

The only module of the package that imports IPython or myst_nb (and only inside functions, so
the library works without them). Outside IPython, :func:`show_provenance` prints plain text.
"""
from __future__ import annotations

import html

from .provenance import provenance_info, provenance_rows, provenance_text, setting_warning

# Values never break inside (a hash, a version, ``key=value``); a row wraps only between its
# values, and a value too long for the column scrolls in its own box.
_VALUE = "white-space:nowrap;overflow-x:auto;display:inline-block;max-width:100%;vertical-align:top"


def _value_html(key: str, value) -> str:
    if key == "weights sha256" or (key == "record weights" and isinstance(value, list)):
        shas = value if isinstance(value, list) else [value]
        return " ".join(f'<code class="cocoop-sha" title="{html.escape(s)}" style="{_VALUE}">'
                        f'{html.escape(s[:16])}&hellip;</code>' for s in shas)
    parts = value if isinstance(value, list) else [value]
    return "<span style='margin-right:.3em'> </span>".join(
        f'<code style="{_VALUE}">{html.escape(str(p))}</code>' for p in parts)


def provenance_html(info: dict, title: str = "Provenance") -> str:
    """The provenance block as HTML: a titled box, the setting warning, key/value rows."""
    warning = setting_warning(info)
    colour = "#b00020" if warning else "#1b5e20"
    banner = (f'<p class="cocoop-provenance-warning" style="color:{colour};font-weight:bold;'
              f'margin:0 0 .4em 0">&#9888; {html.escape(warning)}</p>' if warning else
              f'<p style="color:{colour};font-weight:bold;margin:0 0 .4em 0">Paper setting: '
              'CLIP ViT-B/16 on the paper\'s datasets.</p>')
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em;vertical-align:top;"
                   f"white-space:nowrap'>{html.escape(k)}</th><td style='max-width:0;width:100%'>"
                   f"{_value_html(k, v)}</td></tr>" for k, v in provenance_rows(info))
    return (f'<div class="cocoop-provenance" style="border:2px solid {colour};border-radius:6px;'
            f'padding:.6em 1em;margin:.5em 0;max-width:100%;overflow-x:auto">'
            f'<p style="margin:0 0 .3em 0"><b>{html.escape(title)}</b></p>{banner}'
            f'<table class="cocoop-provenance-table" style="width:100%;table-layout:auto">{rows}'
            f'</table></div>')


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
