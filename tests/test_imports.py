"""The repository's layout: no import cycles in its Python (`cocoop_lib/`, `data_scripts/`,
`benchmarks/`, `scripts/`, as one graph) parsed with `ast`; no public name defined twice in
`cocoop_lib`; CONTRIBUTING.md's module map matches the files; the tests mirror the modules.

Every `import` and `from ... import` counts, also those inside functions (a local import hides a
cycle from Python but not from a reader), and relative imports are resolved against the importing
module's package. A strongly connected component of more than one module (or a module importing
itself) is a cycle; the test names its modules. A folder without ``__init__.py`` (scripts/) is
on ``sys.path`` when its files run, so a bare ``import make_exercises`` there means its sibling.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cocoop_lib", "data_scripts", "benchmarks", "scripts")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_names(path: Path, module: str) -> set[str]:
    """Absolute dotted names `path` imports; ``from a import b`` gives ``a.b``, which
    :func:`import_graph` resolves to module ``a.b`` or, when ``b`` is a name in ``a``, to ``a``.
    (The implicit import of a module's parent packages is not an edge: it would make every
    package that re-exports its submodules look like a cycle.)"""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            names.update(f"{prefix}.{a.name}" for a in node.names)
    return names


def import_graph(root: Path = REPO, packages=PACKAGES) -> dict[str, set[str]]:
    """module -> the package's modules it imports (names outside the package are dropped)."""
    files = {module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        targets = set()
        for name in imported_names(path, module):
            # `a.b.c` may name a module or an attribute of module `a.b`: take the longest module
            folder = module.rpartition(".")[0]
            if name not in files and not files[module].with_name("__init__.py").exists():
                sibling = f"{folder}.{name}"    # a script folder: its files import each other bare
                if any(sibling == f or sibling.startswith(f + ".") for f in files):
                    name = sibling
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_local_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .. import a\n")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nimport os\n")
    (pkg / "c.py").write_text("from pkg.sub.b import thing\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.sub.b"}          # the local import counts
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.sub"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.sub.b"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]


def test_a_script_folder_imports_its_siblings_bare(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "a.py").write_text("from b import f\n")
    (tmp_path / "tools" / "b.py").write_text("import a\nimport os\n")
    graph = import_graph(tmp_path, ("tools",))
    assert graph == {"tools.a": {"tools.b"}, "tools.b": {"tools.a"}}
    assert cycles(graph) == [["tools.a", "tools.b"]]


def test_no_import_cycles_in_the_repository():
    graph = import_graph()
    assert {"benchmarks.bench", "scripts.run_book", "data_scripts.get", "cocoop_lib.runs"} <= set(graph)
    assert "scripts.make_exercises" in graph["scripts.run_book"]     # bare sibling import seen
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


# Public names that several modules define on purpose, each with why.
SAME_NAME_ON_PURPOSE = {
    "main": "each runnable module's command line (`python -m cocoop_lib`, `-m cocoop_lib.workers`)",
}


def public_definitions(path: Path) -> set[str]:
    """Public names a module defines at its top level: def, class, assignment (an import that
    re-exports a name defines nothing)."""
    names = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return {n for n in names if not n.startswith("_")}


def defined_twice(root: Path) -> dict[str, list[str]]:
    """{name: the modules defining it} for each public name defined in more than one module."""
    where: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for name in public_definitions(path):
            where.setdefault(name, []).append(module_name(path, root.parent))
    return {n: m for n, m in where.items() if len(m) > 1}


def test_the_definition_check_sees_defs_classes_and_assignments(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("X = 1\ndef f(): pass\nclass C: pass\n_private = 2\nY: int = 3\n")
    (pkg / "b.py").write_text("from .a import X, f\nC = None\n_private = 3\n")
    assert public_definitions(pkg / "a.py") == {"X", "f", "C", "Y"}
    assert defined_twice(pkg) == {"C": ["pkg.a", "pkg.b"]}       # the re-exports do not count


def test_no_public_name_is_defined_twice_in_the_package():
    found = {n: m for n, m in defined_twice(REPO / "cocoop_lib").items() if n not in SAME_NAME_ON_PURPOSE}
    assert not found, "defined in several modules (define once, import elsewhere): " + "; ".join(
        f"{n}: {', '.join(m)}" for n, m in sorted(found.items()))


def test_library_modules_import_without_notebook_side_effects():
    """Scripts check parameters and build tables without the notebook environment: importing
    parameters and results sets no environment variable and pulls in neither notebook.py,
    IPython nor matplotlib (plotting is imported only when a figure is drawn)."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, os, sys; import cocoop_lib.parameters, cocoop_lib.results; "
            "print(json.dumps([k in os.environ for k in ('TQDM_DISABLE', 'TOKENIZERS_PARALLELISM')]"
            " + [m in sys.modules for m in ('cocoop_lib.notebook', 'IPython', 'matplotlib')]))")
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "TOKENIZERS_PARALLELISM")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [False] * 5


def test_long_modules_say_why():
    """No module in cocoop_lib over 300 lines without a reason in its docstring ("Over 300 lines")."""
    long = []
    for path in sorted((REPO / "cocoop_lib").rglob("*.py")):
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > 300 and "Over 300 lines" not in doc:
            long.append(f"{path.relative_to(REPO)} ({len(text.splitlines())} lines)")
    assert not long, "split these or say why in the docstring: " + ", ".join(long)


def contributing_map(root: Path = REPO) -> set[str]:
    """The cocoop_lib files CONTRIBUTING.md's Layout block lists, as paths inside the package
    ("runs.py", "fast/plan.py"): entries at indent 2, a folder's entries at indent 4."""
    block = (root / "CONTRIBUTING.md").read_text().split("## Layout", 1)[1].split("```")[1]
    listed, folder, in_package = set(), None, False
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            in_package = line.startswith("cocoop_lib/")
            continue
        indent, first = len(line) - len(line.lstrip()), line.split()[0]
        if not in_package:
            continue
        if indent == 2:
            folder = first if first.endswith("/") else None
            if first.endswith(".py"):
                listed.add(first)
        elif indent == 4 and folder and first.endswith(".py"):
            listed.add(folder + first)
    return listed


def test_contributing_module_map_matches_the_files():
    """Every module of cocoop_lib is in CONTRIBUTING's map and every listed one exists (a package's
    __init__.py may go unlisted: it only re-exports)."""
    files = {p.relative_to(REPO / "cocoop_lib").as_posix() for p in (REPO / "cocoop_lib").rglob("*.py")}
    listed = contributing_map()
    unlisted = sorted(f for f in files - listed if not f.endswith("__init__.py"))
    assert not unlisted, f"add to CONTRIBUTING.md's Layout: {unlisted}"
    assert not listed - files, f"CONTRIBUTING.md lists files that do not exist: {sorted(listed - files)}"


def own_test_file(module: str) -> str:
    """The test file of a module under CONTRIBUTING's rule ("Tests"): "cocoop_lib/runs.py" ->
    "test_runs.py", "cocoop_lib/results/tables.py" -> "test_results_tables.py",
    "cocoop_lib/datasets/__init__.py" -> "test_datasets.py"."""
    parts = list(Path(module).relative_to("cocoop_lib").with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return f"test_{'_'.join(parts) or 'cocoop_lib'}.py"


def contributing_test_exemptions(root: Path = REPO) -> dict[str, str]:
    """{path: why} from the block of CONTRIBUTING.md's "Tests" section: an entry starts at the
    line's first column with a repository path, indented lines go on with its reason."""
    block = (root / "CONTRIBUTING.md").read_text().split("\n## Tests", 1)[1].split("```")[1]
    entries: dict[str, str] = {}
    path = None
    for line in block.splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and path:
            entries[path] += " " + line.strip()
        else:
            path, _, why = line.partition(" ")
            entries[path] = why.strip()
    return entries


def layout_problems(root: Path = REPO) -> list[str]:
    """Where tests/ and cocoop_lib/ disagree with CONTRIBUTING's rule and exemption list."""
    exempt = contributing_test_exemptions(root)
    modules = sorted(p.relative_to(root).as_posix() for p in (root / "cocoop_lib").rglob("*.py"))
    tests = {p.name for p in (root / "tests").glob("test_*.py")}
    own = {m: own_test_file(m) for m in modules}
    problems = [f"{m} has no tests/{own[m]}: add it, or list {m} with why in CONTRIBUTING.md's Tests"
                for m in modules if own[m] not in tests and m not in exempt]
    problems += [f"{m} has tests/{own[m]}: remove it from CONTRIBUTING.md's Tests list"
                 for m in modules if own[m] in tests and m in exempt]
    problems += [f"CONTRIBUTING.md's Tests list names {e}, which does not exist" for e in exempt
                 if not (root / e).is_file()]
    problems += [f"CONTRIBUTING.md's Tests list gives no reason for {e}" for e, why in exempt.items()
                 if not why]
    problems += [f"tests/{t} mirrors no module of cocoop_lib: name it after the module it tests, or "
                 "list it with why in CONTRIBUTING.md's Tests" for t in sorted(tests)
                 if t not in own.values() and f"tests/{t}" not in exempt]
    problems += [f"tests/{p.name} is neither a test file, conftest.py nor a fixtures_*.py helper"
                 for p in sorted((root / "tests").glob("*.py"))
                 if not p.name.startswith(("test_", "fixtures_")) and p.name != "conftest.py"]
    return problems


def test_the_layout_check_sees_every_kind_of_mismatch(tmp_path):
    for f in ("cocoop_lib/a.py", "cocoop_lib/b.py", "cocoop_lib/__init__.py",
              "cocoop_lib/sub/__init__.py", "cocoop_lib/sub/c.py", "tests/test_a.py", "tests/test_sub_c.py", "tests/test_sub.py",
              "tests/test_old.py", "tests/test_book.py", "tests/fixtures_x.py", "tests/conftest.py",
              "tests/helpers.py"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    (tmp_path / "CONTRIBUTING.md").write_text(
        "## Layout\n```\n```\n\n## Tests\nwhere tests go\n```\ncocoop_lib/__init__.py  version only\n"
        "cocoop_lib/a.py  has its own file\ncocoop_lib/gone.py  renamed since\ntests/test_book.py  the\n"
        "                   chapters\ntests/test_none.py\n```\n")
    assert contributing_test_exemptions(tmp_path)["tests/test_book.py"] == "the chapters"
    assert own_test_file("cocoop_lib/sub/c.py") == "test_sub_c.py"
    assert own_test_file("cocoop_lib/sub/__init__.py") == "test_sub.py"
    assert layout_problems(tmp_path) == [
        "cocoop_lib/b.py has no tests/test_b.py: add it, or list cocoop_lib/b.py with why in "
        "CONTRIBUTING.md's Tests",
        "cocoop_lib/a.py has tests/test_a.py: remove it from CONTRIBUTING.md's Tests list",
        "CONTRIBUTING.md's Tests list names cocoop_lib/gone.py, which does not exist",
        "CONTRIBUTING.md's Tests list names tests/test_none.py, which does not exist",
        "CONTRIBUTING.md's Tests list gives no reason for tests/test_none.py",
        "tests/test_old.py mirrors no module of cocoop_lib: name it after the module it tests, or "
        "list it with why in CONTRIBUTING.md's Tests",
        "tests/helpers.py is neither a test file, conftest.py nor a fixtures_*.py helper"]


def test_tests_mirror_the_modules():
    """Every module of cocoop_lib has tests/test_<module>.py (a subpackage's as
    test_<package>_<module>.py) or an entry with its reason in CONTRIBUTING.md's Tests list; every
    entry exists, and every test file is a module's or listed (CONTRIBUTING.md says where a new
    test goes)."""
    problems = layout_problems()
    assert not problems, "\n".join(problems)
