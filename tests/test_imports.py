"""No import cycles in the package: `cocoop_lib/` and `data_scripts/` parsed with `ast`.

Every `import` and `from ... import` counts, also those inside functions (a local import hides a
cycle from Python but not from a reader), and relative imports are resolved against the importing
module's package. A strongly connected component of more than one module (or a module importing
itself) is a cycle; the test names its modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cocoop_lib", "data_scripts")


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


def test_no_import_cycles_in_the_package():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


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
