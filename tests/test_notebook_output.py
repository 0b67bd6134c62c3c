"""cocoop_lib/notebook_output.py: the provenance block's HTML and text, and a run cell's folded log."""
from __future__ import annotations

import pytest

from cocoop_lib.parameters import check_parameters
from fixtures_runs import REPO


MINI_CLIP = REPO / "cocoop_lib" / "assets" / "mini_clip" / "config.json"


def test_provenance_block_keeps_values_whole_and_prints_outside_ipython(capsys):
    from cocoop_lib.notebook_output import provenance_html, show_provenance

    if not MINI_CLIP.exists():
        pytest.skip("needs the bundled mini CLIP")
    P = check_parameters("base_to_new", datasets=["MiniDigits"], seeds=1)
    info = show_provenance(P)                          # a plain script: text, not a dict
    out = capsys.readouterr().out
    sha = info["backbone"]["weights_sha256"]
    assert out.startswith("== Provenance ==") and f"weights sha256: {sha}" in out
    html = provenance_html(info)
    # the full hash on hover, a short one shown
    assert f'title="{sha}"' in html and f">{sha[:16]}&hellip;</code>" in html
    # a calm Jupyter Book admonition: no colour or weight of its own, the facts as a grid whose
    # values move to the next line whole (inline blocks) and never run past the box
    assert html.startswith('<div class="admonition note cocoop-provenance">')
    assert "color:" not in html and "font-weight:bold" not in html and "<table" not in html
    assert "minmax(0,1fr)" in html and "display:inline-block;max-width:100%" in html
    assert "not the paper&#x27;s CLIP ViT-B/16" in html and "OFFLINE" not in html
    # the facts a reader rarely needs first are folded, still on the page
    shown, folded = html.split("<details", 1)
    assert "backbone" in shown and "weights sha256" in shown and "git revision" not in shown
    assert "git revision" in folded and "versions" in folded and "datasets=" in folded
    # the parameters as a short list of name=value items, one item per parameter
    assert html.count("<code") == 1 + len(info["parameters"])


def test_run_log_is_a_summary_with_the_per_run_lines_folded(capsys):
    from cocoop_lib.notebook_output import NotebookRunLog
    from cocoop_lib.runs import PrintRunLog, run_summary

    counts = {"runs": 3, "trained": 1, "shipped": 2, "reused": 0, "seconds": 12.4}
    # outside IPython: the plain lines, as scripts and the CLI print them
    log = NotebookRunLog(3)
    log.run(1, "MiniDigits coop n_ctx=4 seed 1: base 90.0  (shipped record)")
    log.done(counts)
    out = capsys.readouterr().out
    assert out.startswith("[1/3] MiniDigits coop") and run_summary(counts) in out
    assert "1 new, 2 reused, 2 of them shipped" in run_summary(counts)
    assert isinstance(log._plain, PrintRunLog)
    # in a notebook: one output, the summary first, every run's line inside <details>
    page = NotebookRunLog.__new__(NotebookRunLog)
    page.total, page.lines = 3, [f"[{i}/3] run {i} (shipped record)" for i in (1, 2, 3)]
    bundle = page._bundle(counts)
    head, folded = bundle["text/html"].split("<details", 1)
    assert "<b>3</b> runs in <b>12 s</b>" in head and "<b>2</b> shipped" in head
    assert "<b>1</b> trained here" in head and "run 1" not in head
    assert "Per-run log (3 lines)" in folded and all(f"run {i}" in folded for i in (1, 2, 3))
    assert bundle["text/plain"].endswith(run_summary(counts))
    page.lines = page.lines[:2]
    assert "Running: 2 of 3 runs done." in page._bundle(None)["text/plain"]
