"""The book: results aggregation, the paper's numbers, notebook parameters, and a smoke build.

The smoke build executes every notebook with papermill in the smoke configuration (one seed, a
few small datasets, one epoch, two shots) into a temporary folder, builds the HTML book strictly
(warnings are errors), and checks that the pages hold the results tables and provenance blocks.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from cocoop_lib import paper_results, results  # noqa: E402
from cocoop_lib.evaluation import harmonic_mean  # noqa: E402
from cocoop_lib.notebook import ParameterError, check_parameters, matched_n_ctx, world_of  # noqa: E402

MINI_CLIP = REPO / "cocoop_lib" / "assets" / "mini_clip" / "config.json"


# ----------------------------------------------------------------------------- fake records


def record(dataset, method, seed, metrics, *, n_ctx=4, ctx_init="a photo of a", params=None,
           train_classes="base", mini=True):
    """A run record with only what results.py reads."""
    if method == "zeroshot":
        n_ctx, ctx_init, params = 0, "", 0
    return {
        "name": f"{dataset}-{method}-{n_ctx}-{seed}",
        "config": {"dataset": dataset, "method": method, "seed": seed, "train_classes": train_classes,
                   "shots": 16, "epochs": {"zeroshot": 0, "coop": 50, "cocoop": 5}[method],
                   "recipe": "mini", "device": "cpu", "precision": "fp32",
                   "n_ctx": None if ctx_init else n_ctx, "ctx_init": ctx_init, "data_root": None,
                   "batch_size": 1},
        "recipe": {"ctx_init": "a photo of a"},
        "metrics": metrics, "n_ctx": n_ctx,
        "n_trainable_params": params if params is not None else n_ctx * 128,
        "backbone": {"backbone": "mini", "is_mini_clip": mini, "weights_sha256": "ab" * 32},
        "provenance": {"device": "cpu", "device_name": "x86_64", "git_revision": "abc"},
        "seconds": {"total": 1.0},
    }


def b2n(dataset, method, seed, base, new, **kw):
    return record(dataset, method, seed, {f"{dataset}:base": base, f"{dataset}:new": new}, **kw)


# ----------------------------------------------------------------------------- paper numbers


def test_paper_table1_transcription_and_the_average_rule():
    t1 = paper_results.table1()
    assert len(t1) == 12 * 9 and t1.confirmed.all()
    for method in ("zeroshot", "coop", "cocoop"):
        rows = t1[(t1.method == method) & (t1.dataset != "Average")]
        base = rows[rows.metric == "base"].value.mean()
        new = rows[rows.metric == "new"].value.mean()
        avg = {m: paper_results.value("table1", method, "Average", m)[0] for m in ("base", "new", "H")}
        # the transcribed average row is the mean of the 11 datasets, and its H is H(mean B, mean N)
        assert base == pytest.approx(avg["base"], abs=0.01)
        assert new == pytest.approx(avg["new"], abs=0.01)
        assert harmonic_mean(avg["base"], avg["new"]) == pytest.approx(avg["H"], abs=0.01)
    # ... and not the mean of the per-dataset H (75.44 for CoCoOp)
    h = t1[(t1.method == "cocoop") & (t1.dataset != "Average") & (t1.metric == "H")].value.mean()
    assert h == pytest.approx(paper_results.COCOOP_MEAN_OF_H, abs=0.01)


def test_paper_tables_are_confirmed_and_only_the_ablation_value_is_not():
    # Tables 2 and 3 are confirmed by reprints (paper_results.REPRINTS names them)
    assert paper_results.value("table2", "coop", "ImageNet") == (71.51, True)
    assert paper_results.value("table2", "cocoop", "Caltech101") == (94.43, True)
    assert paper_results.value("table3", "cocoop", "ImageNetA") == (50.63, True)
    assert paper_results.value("table3", "zeroshot", "ImageNetR") == (73.96, True)
    for table in (paper_results.table1, paper_results.table2, paper_results.table3):
        assert table().confirmed.all()
    assert set(paper_results.REPRINTS) == {"table1", "table2", "table3"}
    assert "ATPrompt" in paper_results.REPRINTS["table2"]
    assert {"LoGoPrompt", "RMAdapter", "ATPrompt"} <= set(paper_results.REPRINTS["table3"]
                                                        .replace(",", " ").replace(":", " ").split())
    assert paper_results.ABLATION_CTX60_NEW_DELTA == {"value": -2.54, "confirmed": False}
    # the mark still parses, should a value ever need it again
    assert paper_results.parse_cell("71.51*") == (71.51, False)
    t2 = paper_results.table2()
    assert set(t2.role) == {"source", "target", "average"} and (t2.role == "target").sum() == 20
    assert paper_results.ABLATION_PARAMS["CoOp ctx=4 + Meta-Net (CoCoOp)"] == 4 * 512 + 33_312


# ----------------------------------------------------------------------------- aggregation


def test_base_to_new_aggregation_matches_hand_computation():
    recs = [b2n("A", "coop", 1, 90.0, 40.0), b2n("A", "coop", 2, 80.0, 50.0),
            b2n("B", "coop", 1, 60.0, 70.0), b2n("B", "coop", 2, 70.0, 90.0),
            b2n("A", "cocoop", 1, 85.0, 60.0), b2n("B", "cocoop", 1, 65.0, 80.0)]
    s = results.base_to_new(recs)
    a = s[(s.dataset == "A") & (s.method == "CoOp")].iloc[0]
    assert (a.base, a.new, a.n_seeds) == (85.0, 45.0, 2)
    assert a.base_std == pytest.approx(math.sqrt(50.0))            # sample std of 90, 80
    assert a.H == pytest.approx(2 * 85 * 45 / 130)                  # H of the seed means
    assert a.H_std == pytest.approx(abs(harmonic_mean(90, 40) - harmonic_mean(80, 50)) / math.sqrt(2))
    avg = results.average_row(s, "CoOp")
    assert avg["base"] == pytest.approx((85 + 65) / 2) and avg["new"] == pytest.approx((45 + 80) / 2)
    assert avg["H"] == pytest.approx(harmonic_mean(75.0, 62.5))     # H(mean B, mean N) = 68.18
    mean_of_h = (harmonic_mean(85, 45) + harmonic_mean(65, 80)) / 2  # = 66.80, a different number
    assert abs(avg["H"] - mean_of_h) > 1
    # spread of the average row: per-seed averages B (75, 75), N (55, 70) -> std of N = 15 / sqrt 2
    assert avg["base_std"] == pytest.approx(0.0) and avg["new_std"] == pytest.approx(15 / math.sqrt(2))
    # the average row is compared with the paper's 11-dataset average
    assert avg["paper_H"] == 71.66 and avg["d_H"] == pytest.approx(avg["H"] - 71.66)
    # single-seed CoCoOp: std 0, one seed
    c = s[(s.dataset == "B") & (s.method == "CoCoOp")].iloc[0]
    assert (c.n_seeds, c.base_std) == (1, 0.0)
    claims = results.claim_check(s).set_index(["gap", "metric"])
    assert claims.loc[("CoCoOp - CoOp", "new"), "ours"] == pytest.approx(70 - 62.5)
    assert claims.loc[("CoCoOp - CoOp", "new"), "paper"] == pytest.approx(71.69 - 63.22)
    assert claims.loc[("CoCoOp - CoOp", "new"), "same_sign"]
    html = results.base_to_new_display(s).to_html()
    assert 'id="table-base-to-new"' in html and "85.0 ± 7.1" in html


def test_paper_datasets_and_roles_are_compared_with_their_own_rows():
    recs = [b2n("EuroSAT", "cocoop", 1, 90.0, 60.0), b2n("MiniX", "cocoop", 1, 50.0, 50.0)]
    s = results.base_to_new(recs, plays={"MiniX": "DTD"}).set_index("dataset")
    assert s.loc["EuroSAT", "paper_base"] == 87.49 and s.loc["EuroSAT", "d_new"] == pytest.approx(60 - 60.04)
    assert s.loc["MiniX", "paper_dataset"] == "DTD" and s.loc["MiniX", "paper_H"] == 64.85


def test_ablation_table_counts_and_deltas():
    recs = []
    for seed, (n4, n60, nc) in enumerate([(60.0, 55.0, 66.0), (62.0, 59.0, 70.0)], 1):
        recs += [b2n("A", "coop", seed, 80.0, n4, params=512),
                 b2n("A", "coop", seed, 82.0, n60, n_ctx=18, ctx_init="", params=18 * 128),
                 b2n("A", "cocoop", seed, 79.0, nc, params=2696)]
    ab = results.ablation(recs)
    avg = ab[ab.dataset == "Average"].set_index("variant")
    assert list(avg.index) == ["CoOp ctx=4", "CoOp ctx=18", "CoCoOp (ctx=4 + Meta-Net)"]
    assert avg.loc["CoOp ctx=18", "n_trainable_params"] == 2304
    assert avg.loc["CoOp ctx=18", "d_new_vs_ctx4"] == pytest.approx(57.0 - 61.0)
    assert avg.loc["CoCoOp (ctx=4 + Meta-Net)", "d_new_vs_ctx4"] == pytest.approx(68.0 - 61.0)
    assert avg.loc["CoOp ctx=18", "paper_params"] == 30_720
    assert avg.loc["CoOp ctx=18", "paper_d_new_vs_ctx4"] == -2.54
    assert "table-ablation" in results.ablation_display(ab).to_html()


def test_transfer_tables_average_targets_and_join_the_paper():
    recs = []
    for seed, accs in ((1, (70.0, 90.0, 40.0)), (2, (72.0, 94.0, 50.0))):
        recs.append(record("ImageNet", "cocoop", seed, {"ImageNet:all": accs[0], "Caltech101:all": accs[1],
                                                         "DTD:all": accs[2]}, train_classes="all"))
    tr = results.transfer(recs, "ImageNet", ["Caltech101", "DTD"], table="table2").set_index("dataset")
    assert tr.loc["ImageNet", "role"] == "source" and tr.loc["ImageNet", "accuracy"] == 71.0
    assert tr.loc["Average", "accuracy"] == pytest.approx((92 + 45) / 2)
    assert tr.loc["Average", "std"] == pytest.approx(abs(65 - 72) / math.sqrt(2))  # per-seed means
    assert tr.loc["Caltech101", "paper"] == 94.43 and tr.loc["Caltech101", "diff"] == pytest.approx(92 - 94.43)
    assert bool(tr.loc["ImageNet", "paper_confirmed"]) is True   # confirmed by ATPrompt's reprint
    assert results.transfer_average(tr.reset_index(), "CoCoOp", "paper") == 65.74
    glue = results.transfer_averages(tr.reset_index(), "cross")
    assert glue["paper_cross_CoCoOp"] == 65.74 and glue["cross_CoCoOp"] == pytest.approx(68.5)
    assert math.isnan(glue["cross_CoOp"]) and len(glue) == 6
    # Table 3 has no average column: the paper's average is the mean of its four variants
    recs = [record("ImageNet", "coop", 1, {"ImageNet:all": 70.0, "ImageNetV2:all": 60.0},
                   train_classes="all")]
    t3 = results.transfer(recs, "ImageNet", ["ImageNetV2"], table="table3").set_index("dataset")
    assert t3.loc["Average", "paper"] == pytest.approx((64.20 + 47.99 + 49.71 + 75.21) / 4)
    assert "table-domain" in results.transfer_display(t3.reset_index(), "T3", "table-domain").to_html()


def test_method_labels_and_setting_sentence():
    recs = [b2n("A", "zeroshot", 1, 1.0, 1.0), b2n("A", "coop", 1, 1.0, 1.0),
            b2n("A", "coop", 1, 1.0, 1.0, n_ctx=16, ctx_init=""), b2n("A", "cocoop", 2, 1.0, 1.0)]
    assert [results.method_label(r) for r in recs] == ["CLIP", "CoOp", "CoOp ctx=16", "CoCoOp"]
    text = results.describe_setting(recs)
    assert "offline mini CLIP" in text and "seeds 1, 2" in text and "16 shots" in text


def test_deltas_to_the_paper_only_in_the_papers_setting():
    """ours - paper is shown (and coloured) only for real CLIP ViT-B/16 on a paper dataset."""
    def real(r):
        r["backbone"].update(backbone="openai/clip-vit-base-patch16", is_mini_clip=False)
        r["config"]["data_root"] = "/data"
        return r

    paper = results.base_to_new([real(b2n("EuroSAT", "cocoop", 1, 90.0, 60.0))])
    assert bool(paper.set_index("dataset").loc["EuroSAT", "paper_setting"])
    assert not bool(paper.set_index("dataset").loc["Average", "paper_setting"])  # 1 of 11 datasets
    html = results.base_to_new_display(paper).to_html()
    assert ">ours - paper<" in html and "+2.5" in html and "background-color" in html
    mini = results.base_to_new([b2n("EuroSAT", "cocoop", 1, 90.0, 60.0),
                                b2n("MiniX", "cocoop", 1, 50.0, 50.0)], plays={"MiniX": "DTD"})
    assert not mini.paper_setting.any()
    html = results.base_to_new_display(mini).to_html()
    assert ">ours - paper<" not in html and "background-color" not in html
    # one row per dataset: ours (paper), the paper's number that of the dataset a row plays
    assert "50.0 ± 0.0 (77.01)" in html and "MiniX plays DTD" in html
    assert "Not the paper&#x27;s setting" in html
    # transfer: the same rule per dataset
    recs = [real(record("ImageNet", "coop", 1, {"ImageNet:all": 70.0, "DTD:all": 40.0},
                        train_classes="all"))]
    tr = results.transfer(recs, "ImageNet", ["DTD"], table="table2").set_index("dataset")
    assert tr.paper_setting.to_dict() == {"ImageNet": True, "DTD": True, "Average": False}
    html = results.transfer_display(tr.reset_index(), "T2", "table-cross-dataset").to_html()
    assert 'id="table-cross-dataset"' in html and f"{70.0 - 71.51:+.1f}" in html


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


def test_figures_fit_the_page_with_legible_ticks():
    """Every figure is at most the page's width (8.5 in at 100 dpi, ~850 px: shown ~1:1 in the
    book; before, six datasets made Table 1's figure 13.8 in wide, shown at 60 %), and every tick
    label is 10 pt or larger at that size."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [b2n(d, m, s, 60.0 + s, 50.0 + s, params=512) for d in "ABCDEF" for m in
            ("zeroshot", "coop", "cocoop") for s in (1, 2)]
    recs += [b2n(d, "coop", s, 61.0, 49.0, n_ctx=18, ctx_init="", params=2304) for d in ("A", "B")
             for s in (1, 2)]
    tr_recs = [record("ImageNet", m, 1, {"ImageNet:all": 70.0, "DTD:all": 40.0}, train_classes="all")
               for m in ("zeroshot", "coop", "cocoop")]
    summary = results.base_to_new(recs)
    figs = [results.plot_base_to_new(recs, summary), results.plot_claim(summary),
            results.plot_ablation(results.ablation([r for r in recs if r["config"]["method"] != "zeroshot"])),
            results.plot_transfer(results.transfer(tr_recs, "ImageNet", ["DTD"]), "t")]
    for fig in figs:
        assert fig.get_size_inches()[0] <= 8.5 + 1e-6
        for ax in fig.axes:
            for t in ax.get_xticklabels() + ax.get_yticklabels():
                assert t.get_fontsize() >= 10, (ax.get_title(), t.get_text())
        plt.close(fig)


def test_matched_context_length():
    assert matched_n_ctx({"text_width": 512, "embed_dim": 512}) == 60
    # same parameter ratio as the paper's 30,720 / 35,360 for a 128-wide CLIP, capped by context
    assert matched_n_ctx({"text_width": 128, "embed_dim": 128}, context_length=77, longest_name=12) == 18
    assert matched_n_ctx({"text_width": 128, "embed_dim": 128}, context_length=20, longest_name=12) == 5


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("kw, words", [
    (dict(datasets=["NoSuchSet"]), ["`datasets`", "'NoSuchSet'", "unknown dataset"]),
    (dict(seeds=[1, -2]), ["`seeds`", "non-negative integer", "-2"]),
    (dict(seeds=-1), ["`seeds`", "non-negative integer"]),
    (dict(methods=["cocop"]), ["`methods`", "'cocop'"]),
    (dict(shots=0), ["`shots`", "positive integer"]),
    (dict(epochs=-5), ["`epochs`", "positive integer"]),
    (dict(precision="fp8"), ["`precision`", "fp16-pure"]),
    (dict(recipe="fast"), ["`recipe`"]),
    (dict(device="tpu"), ["`device`"]),
    (dict(datasets=["EuroSAT"]), ["needs `data_root`"]),
    (dict(data_root="/no/such/folder"), ["`data_root`", "does not exist"]),
])
def test_bad_parameters_fail_with_a_clear_message(kw, words):
    with pytest.raises(ParameterError) as err:
        check_parameters("base_to_new", **kw)
    for w in words:
        assert w in str(err.value)


def test_parameter_defaults_and_roles(eurosat_root):
    p = check_parameters("base_to_new", datasets="EuroSAT", data_root=eurosat_root, seeds=2)
    assert p.datasets == ["EuroSAT"] and p.seeds == [2] and p.methods == ["zeroshot", "coop", "cocoop"]
    assert check_parameters("ablation", datasets="EuroSAT", data_root=eurosat_root).methods == ["coop", "cocoop"]
    w = world_of(["ImageNetR", "EuroSAT", "ImageNet", "ImageNetV2"])
    assert (w.source, w.targets, w.variants) == ("ImageNet", ("EuroSAT",), ("ImageNetV2", "ImageNetR"))
    c = p.run_config("EuroSAT", "coop", 2).resolved()
    assert (c.n_ctx, c.ctx_init, c.seed) == (None, "a photo of a", 2)
    p16 = check_parameters("base_to_new", datasets="EuroSAT", data_root=eurosat_root, n_ctx=16)
    assert (p16.run_config("EuroSAT", "coop", 1).n_ctx, p16.run_config("EuroSAT", "coop", 1).ctx_init) == (16, "")


# ----------------------------------------------------------------------------- notebooks


def _notebook(tmp_path, stem):
    import jupytext

    nb = jupytext.read(REPO / "book" / f"{stem}.py")
    path = tmp_path / f"{stem}.ipynb"
    jupytext.write(nb, path, fmt="ipynb")
    return path


def test_every_notebook_has_the_same_parameters_cell():
    import jupytext

    from cocoop_lib.notebook import PARAMETER_NAMES

    stems = sorted(p.stem for p in (REPO / "book").glob("*.py"))
    assert len(stems) >= 6
    for stem in stems:
        nb = jupytext.read(REPO / "book" / f"{stem}.py")
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, stem
        names = [line.split("=")[0].strip() for line in tagged[0].source.splitlines()
                 if "=" in line and not line.startswith("#")]
        assert tuple(names) == PARAMETER_NAMES, stem
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.get("outputs") for c in code), f"{stem}: sources carry no outputs"
        first = code[code.index(tagged[0]) + 1]
        assert "check_parameters(" in first.source, f"{stem}: the first cell checks the parameters"
        for i, cell in enumerate(nb.cells):   # every code cell follows a markdown cell
            if cell.cell_type == "code" and cell is not tagged[0]:
                assert nb.cells[i - 1].cell_type == "markdown", f"{stem}: cell {i}"


@pytest.mark.parametrize("stem, params, message", [
    ("02_base_to_new", {"datasets": ["NoSuchSet"]}, "unknown dataset"),
    ("04_transfer", {"seeds": [-1]}, "non-negative integer"),
])
def test_notebook_with_a_wrong_parameter_stops_at_the_first_cell(tmp_path, stem, params, message):
    import nbformat
    import papermill

    path = _notebook(tmp_path, stem)
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3",
                                   cwd=str(tmp_path), progress_bar=False)
    assert err.value.ename == "ParameterError" and message in err.value.evalue
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    ran = [c for c in code if c.get("execution_count")]
    failed = [c for c in code if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "check_parameters(" in failed[0].source
    # the check is the first cell after the parameters (and papermill's injected ones), and
    # nothing after it ran
    params = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    assert code[params + 1].metadata.get("tags") == ["injected-parameters"]
    assert code[params + 2] is failed[0] and ran[-1] is failed[0]


def test_exercise_copies_empty_solution_cells(tmp_path):
    import nbformat

    from make_exercises import PLACEHOLDER, make_exercises

    [path] = make_exercises([REPO / "book" / "01_method.py"], tmp_path)
    nb = nbformat.read(path, as_version=4)
    exercises = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(exercises) >= 2 and all(c.source.endswith(PLACEHOLDER) for c in exercises)
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Exercise" in text and "Meta-Net" in text
    assert "count_trainable(coop)" not in "\n".join(c.source for c in exercises)


# the smoke_book fixture (the book executed and built in the smoke configuration) is in conftest.py


def test_smoke_book_builds_with_tables_and_provenance(smoke_book):
    html = {p.stem: p.read_text() for p in (smoke_book / "_build" / "html" / "book").glob("*.html")}
    assert {"intro", "01_method", "02_base_to_new", "03_ablation", "04_transfer", "05_results",
            "A1_mini_world", "running"} <= set(html)
    tables = {"02_base_to_new": ["table-base-to-new", "table-claim"],
              "03_ablation": ["table-ablation"],
              "04_transfer": ["table-cross-dataset", "table-domain"],
              "05_results": ["table-settings", "table-base-to-new", "table-claim", "table-ablation",
                             "table-cross-dataset", "table-domain"]}
    for page, ids in tables.items():
        for table_id in ids:
            assert f'id="{table_id}"' in html[page], (page, table_id)
        assert "ours - paper" in html[page] or page == "03_ablation"
        assert "<img" in html[page], f"{page} has a figure"
    for page in ("01_method", "02_base_to_new", "03_ablation", "04_transfer", "05_results",
                 "A1_mini_world"):
        # at the top and the end, as admonitions
        assert html[page].count('class="admonition note cocoop-provenance"') == 2, page
        assert "cdn.jsdelivr.net" not in html[page]          # no MathJax from the network
        assert "weights sha256" in html[page] and "git revision" in html[page]
        assert "notebook wall time" in html[page]
        assert "not the paper" in html[page].lower()         # never mistaken for the paper's setting
        assert "pasted-text" in html[page] or page == "A1_mini_world"   # glued numbers
        assert "colab.research.google.com" in html[page]     # launch buttons
    # the equations' MathJax is the book's own copy
    assert '_static/mathjax/tex-chtml.js' in html["01_method"]
    assert (smoke_book / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js").exists()
    if MINI_CLIP.exists():
        assert "Offline mini world: these numbers" in html["02_base_to_new"]
    # a run cell: a summary, the per-run lines folded away
    for page in ("02_base_to_new", "03_ablation", "04_transfer"):
        assert 'class="cocoop-runs"' in html[page] and "Per-run log (" in html[page], page
        assert "<details" in html[page], page
    for words in ("papermill", "book/02_base_to_new.ipynb", "openai/clip-vit-base-patch16"):
        assert words in html["intro"]       # the exact command for the paper's setting
    # the records the book was made from
    assert len(list((smoke_book / "outputs" / "records").glob("*.json"))) >= 6


def test_sweep_runs_the_books_grid_and_resumes(tmp_path, tiny_clip_dir, eurosat_root, capsys):
    from sweep import main

    args = ["--setting", "paper", "--backbone", tiny_clip_dir, "--data-root", eurosat_root,
            "--datasets", "EuroSAT", "--seeds", "1", "--shots", "2", "--epochs", "1",
            "--output-dir", str(tmp_path), "--experiments", "base_to_new", "ablation"]
    assert main(args + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    # zero-shot, CoOp, CoCoOp, and the ablation's long-context CoOp (CoOp ctx=4 is shared)
    assert "4 runs in shard 0/1, 0 already done" in out and out.count("todo") == 4
    assert main(args) == 0
    assert len(list((tmp_path / "records").glob("*.json"))) == 4
    capsys.readouterr()
    assert main(args + ["--dry-run"]) == 0
    assert "4 already done" in capsys.readouterr().out
    # the book's chapters, given the same parameters, find exactly these records
    from cocoop_lib.notebook import check_parameters, load_records, plan_base_to_new

    P = check_parameters("base_to_new", datasets=["EuroSAT"], seeds=[1], shots=2, epochs=1,
                         recipe="paper", backbone=tiny_clip_dir, data_root=eurosat_root,
                         output_dir=str(tmp_path))
    found, missing = load_records(plan_base_to_new(P))
    assert len(found) == 3 and not missing


def test_committed_notebooks_are_the_sources_output_free_with_stable_ids(tmp_path):
    """`run_book.py --sources-only` (what is committed as book/*.ipynb) writes no outputs and
    unique cell ids that do not change between conversions (a rebuild leaves git clean)."""
    import shutil

    import run_book
    (tmp_path / "book").mkdir()
    for name in ("_toc.yml", "_config.yml"):
        shutil.copy2(REPO / name, tmp_path / name)
    for src in (REPO / "book").glob("*.py"):
        shutil.copy2(src, tmp_path / "book" / src.name)
    stems = run_book.notebooks_in_toc(tmp_path)
    assert stems
    first = {p.name: p.read_bytes() for p in run_book.convert(tmp_path, stems)}
    second = {p.name: p.read_bytes() for p in run_book.convert(tmp_path, stems)}
    assert first == second
    import json
    for name, data in first.items():
        cells = json.loads(data)["cells"]
        assert all(not c.get("outputs") for c in cells), name
        assert len({c["id"] for c in cells}) == len(cells), name


# ----------------------------------------------------------------------------- publishing


def test_workflow_builds_with_the_readmes_command_caches_and_deploys_only_from_main():
    from workflow_dry_run import load_workflow, run_commands

    wf = load_workflow()
    assert wf["on"]["push"]["branches"] == ["main"] and "pull_request" in wf["on"]
    assert run_commands(wf) == ["make book"]          # the README's main job, nothing else
    assert "make book" in (REPO / "README.md").read_text()
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    uses = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    assert uses.index("actions/cache") < uses.index("") < uses.index("actions/upload-pages-artifact")
    cache = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == "outputs"
    for dep in ("cocoop_lib/**", "book/*.py", "requirements.txt", "cocoop_lib/assets/**"):
        assert f"'{dep}'" in cache["with"]["key"], dep
    upload = next(s for s in build["steps"] if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]   # PRs build only
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"


def test_repository_address_is_written_once_and_reaches_every_install_cell():
    import json
    import subprocess

    import yaml
    from make_exercises import repository_url

    url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    assert url.startswith("https://github.com/") and repository_url() == url
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    placeholder = "OWNER" + "/REPO"                     # split so this file does not match itself
    hits = [f for f in tracked if (REPO / f).is_file() and placeholder in (REPO / f).read_text(errors="ignore")]
    assert not hits, f"placeholder address in {hits}"
    for path in sorted((REPO / "book").glob("*.ipynb")) + sorted((REPO / "book" / "exercises").glob("*.ipynb")):
        sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
        install = [s for s in sources if "pip" in s and "install" in s and "REPOSITORY = " in s]
        assert len(install) == 1 and f'REPOSITORY = "{url}"' in install[0], path.name


def test_with_repository_rewrites_the_install_line_from_the_config(tmp_path):
    import jupytext
    from make_exercises import with_repository

    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://github.com/a-fork/cocoop\n")
    nb = with_repository(jupytext.read(REPO / "book" / "03_ablation.py"), config)
    install = [c.source for c in nb.cells if "REPOSITORY = " in c.source]
    assert len(install) == 1 and 'REPOSITORY = "https://github.com/a-fork/cocoop"' in install[0]
    config.write_text("title: x\n")
    with pytest.raises(SystemExit, match="repository.url"):
        with_repository(nb, config)


def test_injected_parameters_cell_is_removed_from_the_page_but_kept(tmp_path):
    import nbformat
    from run_book import hide_injected_parameters

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("a = 2", metadata={"tags": ["injected-parameters"]})]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    hide_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [c.metadata["tags"] for c in cells] == [["parameters"], ["injected-parameters", "remove-cell"]]
    assert cells[1].source == "a = 2"


# ----------------------------------------------------------------------------- chapters' grids


def _grid_cell(stem):
    """The source of the chapter's cell that writes its grid of RunConfigs, without running it."""
    import jupytext

    nb = jupytext.read(REPO / "book" / f"{stem}.py")
    [cell] = [c for c in nb.cells if c.cell_type == "code" and "configs = [RunConfig(" in c.source]
    assert "records = run_many(configs)" in cell.source, stem
    return cell.source.replace("records = run_many(configs)", "")


@pytest.mark.skipif(not MINI_CLIP.exists(), reason="the chapters' default world is the mini world")
@pytest.mark.parametrize("n_ctx", [None, 8])
@pytest.mark.parametrize("stem, chapter", [("02_base_to_new", "base_to_new"), ("03_ablation", "ablation"),
                                           ("04_transfer", "transfer")])
def test_each_chapters_inline_grid_is_the_librarys_plan(stem, chapter, n_ctx):
    from cocoop_lib import notebook

    P = check_parameters(chapter, seeds=[1, 2], shots=2, epochs=1, n_ctx=n_ctx)
    scope = {"P": P, "long_ctx": 7}
    exec(_grid_cell(stem), scope)
    plan = {"02_base_to_new": lambda: notebook.plan_base_to_new(P),
            "03_ablation": lambda: notebook.plan_ablation(P, 7),
            "04_transfer": lambda: notebook.plan_transfer(P)}[stem]()
    plan = [c[1] if isinstance(c, tuple) else c for c in plan]   # (label, config) or config
    assert len(scope["configs"]) == len(plan) > 0
    assert sorted(map(repr, scope["configs"])) == sorted(map(repr, plan))
    assert scope["configs"] == plan                               # and in the same order


def test_every_experiment_chapter_has_two_exercises_and_its_copy_differs(tmp_path):
    import jupytext
    import nbformat

    from make_exercises import PLACEHOLDER, make_exercises

    for stem in ("01_method", "02_base_to_new", "03_ablation", "04_transfer"):
        nb = jupytext.read(REPO / "book" / f"{stem}.py")
        solutions = [i for i, c in enumerate(nb.cells) if "solution" in c.metadata.get("tags", [])]
        assert len(solutions) >= 2, stem
        for i in solutions:           # each is stated in the markdown cell above it
            assert nb.cells[i - 1].cell_type == "markdown" and "Exercise" in nb.cells[i - 1].source
        [path] = make_exercises([REPO / "book" / f"{stem}.py"], tmp_path)
        copy = nbformat.read(path, as_version=4)
        emptied = [c for c in copy.cells if "exercise" in c.metadata.get("tags", [])]
        assert len(emptied) == len(solutions) and all(c.source.endswith(PLACEHOLDER) for c in emptied)
        original = [c.source for c in nb.cells if c.cell_type == "code"]
        assert [c.source for c in copy.cells if c.cell_type == "code"] != original, stem
        for i in solutions:           # the solutions' code is gone from the copy
            body = [l for l in nb.cells[i].source.splitlines() if l.strip() and not l.startswith("#")]
            assert body[-1] not in "\n".join(c.source for c in emptied), stem
    toc = (REPO / "_toc.yml").read_text()
    assert "book/teaching" in toc
    teaching = (REPO / "book" / "teaching.md").read_text()
    for stem in ("01_method", "02_base_to_new", "03_ablation", "04_transfer"):
        assert stem in teaching, stem


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
