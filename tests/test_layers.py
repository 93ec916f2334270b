"""The package's import structure, read from the source with ``ast``:

(a) no import circle among graphc's modules (imports inside functions count too);
(b) no module imports from a higher layer (LAYERS below; a module in no layer fails,
    naming the module to add);
(c) every import inside a function or method says why, in a comment on its line or the
    line just above (``# optional dependency``, ``# heavy, only for the CLI``, ...).

Each offender is reported as ``path:line``.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "graphc"

# Lowest first. A module belongs to the first entry that names it or a package above it;
# "graphc" itself (graphc/__init__.py) is named exactly, not as a prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "graphc.dtypes",
            "graphc.symbolic",
            "graphc.errors",
            "graphc.kernels",
            "graphc.registry",
            "graphc.scalar",
        ),
    ),
    ("frontend", ("graphc.frontend",)),
    ("ops", ("graphc.ops",)),
    ("autodiff", ("graphc.autodiff",)),
    ("ir", ("graphc.ir",)),
    ("passes", ("graphc.passes",)),
    ("runtime", ("graphc.runtime",)),
    (
        "api",
        (
            "graphc",
            "graphc.compat",
            "graphc.contrib",
            "graphc.api_scopes",
            "graphc.nn",
            "graphc.losses",
            "graphc.initializers",
            "graphc.random",
            "graphc.math",
            "graphc.linalg",
            "graphc.train",
            "graphc.data",
            "graphc.datasets",
            "graphc.image",
            "graphc.preprocessing",
            "graphc.cli",
            "graphc.__main__",
            "graphc.summary",
            "graphc.layers",
            "graphc.keras",
            "graphc.metrics",
        ),
    ),
]

# Files whose offenders are reported (as a warning) but do not fail the tests yet, while
# their owners fix them. Remove an entry once its file is clean (a warning says so).
PENDING_UPWARD: frozenset[str] = frozenset()
PENDING_REASONS: frozenset[str] = frozenset()


# -- reading the tree -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    path: str  # the importing file, relative to the tree's root
    line: int
    in_function: bool
    has_reason: bool
    internal: bool  # the target is one of the package's modules

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (a folder under ``root``) by dotted name."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _comment_lines(source: str) -> tuple[set[int], set[int]]:
    """The lines with a comment, and those that hold only a comment."""
    anywhere: set[int] = set()
    alone: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            anywhere.add(tok.start[0])
            if not tok.line[: tok.start[1]].strip():
                alone.add(tok.start[0])
    return anywhere, alone


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The modules an import statement names: the package's own (each resolved to its
    module), then any other (as written)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = module.split(".") if is_package else module.split(".")[:-1]
            pkg = pkg[: len(pkg) - (node.level - 1)]
            base = ".".join([*pkg, base] if base else pkg)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = []
    for name in names:
        resolved = name
        while resolved and resolved not in known:  # a name inside a module: the module
            resolved = resolved.rpartition(".")[0]
        target = resolved or name
        if target != module and target not in out:
            out.append(target)
    return out


def read_imports(root: Path, package: str) -> list[Import]:
    """Every import statement of the package's modules, one entry per module it names,
    with where it is and whether a function-level one comes with a comment."""
    modules = find_modules(root, package)
    known = set(modules)
    out: list[Import] = []
    for module, path in modules.items():
        source = path.read_text()
        tree = ast.parse(source, str(path))
        comments, comment_only = _comment_lines(source)
        rel = path.relative_to(root).as_posix()
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    end = child.end_lineno or child.lineno
                    # A comment on the statement's lines, or a comment line just above it.
                    reason = child.lineno - 1 in comment_only or any(
                        n in comments for n in range(child.lineno, end + 1)
                    )
                    for target in _targets(module, is_package, child, known):
                        out.append(
                            Import(module, target, rel, child.lineno, in_function, reason, target in known)
                        )
                inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                visit(child, inner)

        visit(tree, False)
    return out


# -- the three rules -----------------------------------------------------------------------------
def layer_of(module: str, layers: Sequence[tuple[str, tuple[str, ...]]], package: str) -> int | None:
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if module == p or (p != package and module.startswith(p + ".")):
                return i
    return None


def import_cycles(imports: Sequence[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for imp in (i for i in imports if i.internal):
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def cycle_offenders(imports: Sequence[Import]) -> list[str]:
    """Each circle's members, and one way round it, an import (path:line) per step."""
    out = []
    for comp in import_cycles(imports):
        members = set(comp)
        first: dict[tuple[str, str], Import] = {}
        for i in imports:
            if i.internal and i.source in members and i.target in members:
                first.setdefault((i.source, i.target), i)
        # Breadth first from the first member back to itself: a shortest way round.
        start = comp[0]
        came_from: dict[str, Import] = {}
        frontier = [start]
        while frontier and start not in came_from:
            nxt = []
            for v in frontier:
                for (a, b), imp in first.items():
                    if a == v and b not in came_from:
                        came_from[b] = imp
                        nxt.append(b)
            frontier = nxt
        steps: list[Import] = []
        v = start
        while not steps or v != start:
            imp = came_from[v]
            steps.append(imp)
            v = imp.source
        way = "\n".join(f"    {i.where}: {i.source} -> {i.target}" for i in reversed(steps))
        out.append(f"import circle among {', '.join(comp)}; one way round:\n{way}")
    return out


def layer_offenders(
    imports: Sequence[Import],
    modules: Iterable[str],
    layers: Sequence[tuple[str, tuple[str, ...]]],
    package: str,
) -> list[str]:
    out = []
    for m in sorted(modules):
        if layer_of(m, layers, package) is None:
            out.append(f"{m} is in no layer: add it to LAYERS in tests/test_layers.py")
    for i in (i for i in imports if i.internal):
        src, dst = layer_of(i.source, layers, package), layer_of(i.target, layers, package)
        if src is not None and dst is not None and dst > src:
            out.append(
                f"{i.where}: {i.source} (layer {layers[src][0]}) imports {i.target} "
                f"from the higher layer {layers[dst][0]}"
            )
    return out


def reason_offenders(imports: Sequence[Import]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in imports:
        if i.in_function and not i.has_reason and i.where not in seen:
            seen.add(i.where)
            out.append(f"{i.where}: import of {i.target} inside a function, without a comment saying why")
    return out


# -- the tests -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return read_imports(ROOT, PACKAGE)


def _report_pending(offenders: list[str], pending: frozenset[str], what: str) -> list[str]:
    """The offenders to fail on. Those in ``pending`` files are reported as a warning, as
    is a pending file with nothing left to report (its entry can go)."""
    waiting = [o for o in offenders if o.split(":")[0] in pending]
    stale = sorted(p for p in pending if not any(o.startswith(p + ":") for o in waiting))
    if waiting:
        warnings.warn(f"{what} (pending in their files):\n" + "\n".join(waiting), stacklevel=2)
    if stale:
        warnings.warn(f"no {what} left in {', '.join(stale)}: remove them from the pending list", stacklevel=2)
    return [o for o in offenders if o.split(":")[0] not in pending]


def test_no_import_circle(imports: list[Import]) -> None:
    offenders = cycle_offenders(imports)
    assert not offenders, "\n".join(offenders)


def test_no_import_from_a_higher_layer(imports: list[Import]) -> None:
    offenders = layer_offenders(imports, find_modules(ROOT, PACKAGE), LAYERS, PACKAGE)
    failing = _report_pending(offenders, PENDING_UPWARD, "imports from a higher layer")
    assert not failing, "\n".join(failing)


def test_imports_inside_functions_say_why(imports: list[Import]) -> None:
    offenders = reason_offenders(imports)
    failing = _report_pending(offenders, PENDING_REASONS, "function-level imports without a reason")
    assert not failing, "\n".join(failing)


# -- the checker itself, on a planted tree ---------------------------------------------------------------
def _plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


PLANT_LAYERS = [("low", ("pkg.low",)), ("high", ("pkg.high",)), ("api", ("pkg",))]


def test_checker_reports_each_planted_violation(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            # a <-> b, and a (low) imports from the higher layer
            "pkg/low/a.py": "from pkg.high import b\n",
            "pkg/high/__init__.py": "",
            "pkg/high/b.py": (
                "import os\n"
                "from pkg.low import a\n"
                "\n"
                "def f():\n"
                "    from pkg.low import a as again\n"  # no reason: reported
                "    # optional dependency\n"
                "    from pkg.low import a as fine\n"
                "    import pkg.low.a  # avoids work at import time\n"
                "    import json\n"  # not the package's, no reason: reported too
                "    return os, again, fine, json\n"
                "\n"
                "class C:\n"
                "    def m(self):\n"
                "        import pkg\n"  # in a method, no reason: reported
                "        return pkg\n"
            ),
            "pkg/stray.py": "",  # in no layer
        },
    )
    imports = read_imports(tmp_path, "pkg")
    modules = find_modules(tmp_path, "pkg")

    assert import_cycles(imports) == [["pkg.high.b", "pkg.low.a"]]
    (cycle,) = cycle_offenders(imports)
    assert cycle == (
        "import circle among pkg.high.b, pkg.low.a; one way round:\n"
        "    pkg/high/b.py:2: pkg.high.b -> pkg.low.a\n"
        "    pkg/low/a.py:1: pkg.low.a -> pkg.high.b"
    )

    assert layer_offenders(imports, modules, PLANT_LAYERS, "pkg") == [
        "pkg.stray is in no layer: add it to LAYERS in tests/test_layers.py",
        "pkg/high/b.py:14: pkg.high.b (layer high) imports pkg from the higher layer api",
        "pkg/low/a.py:1: pkg.low.a (layer low) imports pkg.high.b from the higher layer high",
    ]

    assert reason_offenders(imports) == [
        "pkg/high/b.py:5: import of pkg.low.a inside a function, without a comment saying why",
        "pkg/high/b.py:9: import of json inside a function, without a comment saying why",
        "pkg/high/b.py:14: import of pkg inside a function, without a comment saying why",
    ]


def test_pending_files_only_warn() -> None:
    offenders = ["x/a.py:3: bad", "x/b.py:7: bad"]
    with pytest.warns(UserWarning) as record:
        failing = _report_pending(offenders, frozenset({"x/a.py", "x/c.py"}), "things")
    assert failing == ["x/b.py:7: bad"]
    messages = [str(w.message) for w in record]
    assert messages == [
        "things (pending in their files):\nx/a.py:3: bad",
        "no things left in x/c.py: remove them from the pending list",
    ]


def test_checker_passes_a_clean_tree_with_relative_imports(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.high import b\nfrom . import low\n",
            "pkg/low/__init__.py": "from .a import x\n",
            "pkg/low/a.py": "x = 1\n",
            "pkg/high/__init__.py": "",
            "pkg/high/b.py": "from ..low import a\n\ndef f():\n    from pkg.low import a  # only when called\n",
        },
    )
    imports = read_imports(tmp_path, "pkg")
    # Relative imports resolve to the modules they name.
    assert {(i.source, i.target) for i in imports} == {
        ("pkg", "pkg.high.b"),
        ("pkg", "pkg.low"),
        ("pkg.low", "pkg.low.a"),
        ("pkg.high.b", "pkg.low.a"),
    }
    assert [i.in_function for i in imports if i.path == "pkg/high/b.py"] == [False, True]
    assert cycle_offenders(imports) == []
    assert layer_offenders(imports, find_modules(tmp_path, "pkg"), PLANT_LAYERS, "pkg") == []
    assert reason_offenders(imports) == []
