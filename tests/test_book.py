"""The book: its notebooks, exercises, smoke build, publishing, and `make book`.

The smoke build executes every notebook with papermill in the smoke configuration (one seed, a
few small datasets, one epoch, two shots) into a temporary folder, builds the HTML book strictly
(warnings are errors), and checks that the pages hold the results tables and provenance blocks.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from cocoop_lib.notebook import check_parameters  # noqa: E402

MINI_CLIP = REPO / "cocoop_lib" / "assets" / "mini_clip" / "config.json"


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


# ----------------------------------------------------------------------------- make book


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("value, recompute", [("0", False), ("no", False), ("false", False),
                                              (None, False), ("1", True), ("yes", True)])
def test_make_book_recompute_means_what_it_says(value, recompute):
    args = ["make", "-n", "-s", "book"] + ([f"RECOMPUTE={value}"] if value is not None else [])
    p = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    line = [ln for ln in p.stdout.splitlines() if "run_book.py" in ln][-1]
    assert ("COCOOP_SHIPPED_RUNS=0" in line) is recompute


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("value", ["2", "nope"])
def test_make_book_refuses_an_unknown_recompute(value):
    p = subprocess.run(["make", "-n", "book", f"RECOMPUTE={value}"], cwd=REPO, capture_output=True,
                       text=True)
    assert p.returncode != 0 and "run_book.py" not in p.stdout
    assert f"RECOMPUTE={value} is not understood: use RECOMPUTE=1" in p.stderr
