#!/usr/bin/env python
"""The main job: execute every notebook of the book with papermill, then build the HTML book.

    python scripts/run_book.py                     # offline mini world, HTML in _build/html
    python scripts/run_book.py --smoke             # tiny configuration (tests, CI)
    python scripts/run_book.py --paper --data-root /data --output-dir outputs/paper

Steps: (1) convert the jupytext sources book/*.py to notebooks book/*.ipynb; (2) execute each
notebook in place with papermill (kernel ``python3``), passing the same parameters to every one
(runs whose records exist in the output folder are not trained again); (3) build the book with
Jupyter Book 1.x, strict (``-W -n --keep-going``), offline; (4) write the exercise copies.
Each notebook's install cell gets the repository address of ``_config.yml`` (``repository.url``,
the one place it is written); papermill's injected-parameters cell is tagged ``remove-cell``
after execution, so the executed notebook keeps it and the rendered book shows only the real
parameters cell.
With ``--build-root DIR`` the book's sources are copied to DIR first and everything happens there.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
SMOKE = {"seeds": [1], "epochs": 2, "shots": 2}   # epoch 1 is the warm-up: 2 so something is learned
PAPER = {"backbone": "openai/clip-vit-base-patch16", "recipe": "paper", "seeds": [1, 2, 3]}


def notebooks_in_toc(root: Path) -> list[str]:
    """Notebook stems (e.g. "book/01_method") listed in _toc.yml that have a .py source."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return [f for f in files if (root / f"{f}.py").exists()]


def smoke_datasets() -> list[str]:
    """Small datasets for the smoke run: two small training sets and one test-only variant."""
    from cocoop_lib.datasets import DATASETS
    from cocoop_lib.notebook import world_of

    mini = [s for s in DATASETS.values() if s.world == "mini"]
    if not mini:
        return []
    world = world_of([s.name for s in mini])
    small = sorted(world.base_to_new, key=lambda d: (DATASETS[d].n_classes, d))[:2]
    variants = sorted(world.variants, key=lambda d: (DATASETS[d].n_classes, d))[:1]
    return small + variants


def copy_sources(root: Path) -> None:
    """Copy _config.yml, _toc.yml and the book's sources (not executed notebooks) to ``root``."""
    (root / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO / name, root / name)
    for src in (REPO / "book").iterdir():
        if src.is_file() and src.suffix in (".py", ".md", ".png", ".svg", ".bib"):
            shutil.copy2(src, root / "book" / src.name)
    if (REPO / "book" / "_static").is_dir():
        shutil.copytree(REPO / "book" / "_static", root / "book" / "_static", dirs_exist_ok=True)


def convert(root: Path, stems: list[str]) -> list[Path]:
    """book/X.py (jupytext percent) -> book/X.ipynb, without outputs."""
    import jupytext
    from make_exercises import stable_cell_ids, with_repository  # noqa: E402 (scripts/ on sys.path)

    out = []
    for stem in stems:
        nb = with_repository(jupytext.read(root / f"{stem}.py"), root / "_config.yml")
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                     "name": "python3"}
        nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
        path = root / f"{stem}.ipynb"
        stable_cell_ids(nb, Path(stem).name)
        jupytext.write(nb, path, fmt="ipynb")
        out.append(path)
    return out


def execute(root: Path, notebooks: list[Path], parameters: dict, timeout: int | None) -> dict:
    """Execute notebooks in place with papermill; returns {name: seconds}. Stops at a failure."""
    import papermill

    times = {}
    for path in notebooks:
        t0 = time.perf_counter()
        print(f"executing {path.relative_to(root)} ...", flush=True)
        try:
            papermill.execute_notebook(str(path), str(path), parameters=parameters,
                                       kernel_name="python3", cwd=str(root), progress_bar=False,
                                       log_output=False, execution_timeout=timeout)
        except papermill.PapermillExecutionError as err:
            print(f"\nFAILED: {path} (cell {err.exec_count}): {err.ename}: {err.evalue}\n"
                  f"The executed notebook with the error is at {path}.", file=sys.stderr)
            raise SystemExit(1)
        hide_injected_parameters(path)
        times[path.stem] = time.perf_counter() - t0
        print(f"  done in {times[path.stem]:.0f} s", flush=True)
    return times


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell``: kept in the executed notebook,
    not rendered in the book (the chapter's own parameters cell stays visible)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
            changed = True
    if changed:
        nbformat.write(nb, path)


def build(root: Path, output: Path) -> None:
    """Jupyter Book 1.x, strict and offline; HTML in ``output/_build/html``."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--path-output",
           str(output), "-W", "-n", "--keep-going", "--quiet"]
    print("building:", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=root)
    if result.returncode != 0:
        print("FAILED: jupyter-book build (warnings are errors; see above)", file=sys.stderr)
        raise SystemExit(result.returncode)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output-dir", default="outputs",
                   help="run records, checkpoints and caches (default: outputs)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny configuration for CI: 1 seed, small datasets, 2 epochs, 2 shots")
    p.add_argument("--paper", action="store_true",
                   help="the paper's setting: CLIP ViT-B/16, recipe paper, seeds 1 2 3 (needs --data-root)")
    p.add_argument("--data-root", help="folder with the paper's datasets")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a notebook parameter for every notebook (VALUE is read as YAML)")
    p.add_argument("--build-root", help="copy the sources here and execute/build here instead of "
                                        "in the repository")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="execute only these notebooks (e.g. 02_base_to_new); the book is built from all")
    p.add_argument("--no-execute", action="store_true", help="only build (notebooks already executed)")
    p.add_argument("--no-build", action="store_true", help="only execute")
    p.add_argument("--no-exercises", action="store_true", help="do not write the exercise copies")
    p.add_argument("--sources-only", action="store_true",
                   help="only write the output-free book/*.ipynb and exercise copies from the .py "
                        "sources (what is committed); execute and build nothing")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per notebook kernel (OMP_NUM_THREADS; default: torch's choice). "
                        "On a machine shared with other jobs, 1 is often much faster")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from cocoop_lib import shipped

    try:    # an unknown COCOOP_SHIPPED_RUNS is an error before any notebook starts
        shipped.setting()
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    t_start = time.perf_counter()
    root = Path(args.build_root).resolve() if args.build_root else REPO
    if root != REPO:
        copy_sources(root)
    from cocoop_lib.notebook import PARAMETER_NAMES

    params: dict = {}
    if args.paper:
        if not args.data_root:
            raise SystemExit("--paper needs --data-root (the folder holding the paper's datasets)")
        params.update(PAPER)
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")   # the mini world needs no network
    if args.smoke:
        params.update(SMOKE)
        ds = smoke_datasets()
        if ds and not args.data_root:
            params["datasets"] = ds
    if args.data_root:
        params["data_root"] = str(Path(args.data_root).resolve())
    out = Path(args.output_dir).expanduser().resolve()      # relative: to the current folder
    try:
        params["output_dir"] = str(out.relative_to(root))
    except ValueError:
        params["output_dir"] = str(out)
    for name, value in args.parameter:
        if name not in PARAMETER_NAMES:
            raise SystemExit(f"unknown parameter {name!r}; the notebooks take {', '.join(PARAMETER_NAMES)}")
        params[name] = yaml.safe_load(value)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    stems = notebooks_in_toc(root)
    if args.sources_only:
        from make_exercises import make_exercises  # noqa: E402 (scripts/ is on sys.path)
        for path in convert(root, stems):
            print(f"source notebook: {path}")
        make_exercises([root / f"{s}.py" for s in stems], root / "book" / "exercises")
        return 0
    times = {}
    if not args.no_execute:
        print("parameters:", params, flush=True)
        notebooks = convert(root, stems)
        if args.only:
            notebooks = [p for p in notebooks if p.stem in args.only or str(p) in args.only]
        times = execute(root, notebooks, params, args.timeout)
    t_exec = time.perf_counter() - t_start
    if not args.no_build:
        build(root, root)
    if not args.no_exercises:
        from make_exercises import make_exercises  # noqa: E402 (scripts/ is on sys.path)
        make_exercises([root / f"{s}.py" for s in stems], root / "book" / "exercises")
    total = time.perf_counter() - t_start
    print("\nnotebooks: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    print(f"execution {t_exec:.0f} s, total {total:.0f} s ({total / 60:.1f} min)")
    if not args.no_build:
        print(f"HTML: {root / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
