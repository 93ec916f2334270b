"""The ``graphc`` command.

``graphc inspect FILE`` shows what the compiler does to a graph built by a Python file:
it lowers what the fetches need, runs the pass pipeline and prints the program after
each pass, the per-pass times, the fusion groups and the memory plan (peak bytes as a
formula in the symbolic dims, and its value for the given feed shapes), then a
before/after summary. The file runs as a script (with ``__name__`` set to
"__graphc_inspect__", so a ``__main__`` block does not run) up to its first
``Session.run``, which is stopped: that call raises inside the script, so nothing after
it runs, no session runs and no variable is initialised. The output says whether the
script was stopped (and at which line) or finished without running a session.

The fetches come from ``--fetch NAME`` (tensor "op:0" or op names), else from the file's
module-level ``FETCHES`` (tensors, ops, variables or names), else from the stopped
``Session.run`` (its fetches, and the shapes of its fed values as feed shapes). With
``--build-only`` the stopped run is not used: the fetches must come from ``--fetch`` or
``FETCHES``. Feed shapes, used to put numbers on the memory formulas (and to give the
rank of placeholders built with an unknown shape), come from ``--feed-shape
NAME=D0,D1``, else the file's ``FEED_SHAPES`` dict, else the stopped run's feeds.

The segments section shows how the program runs on a backend (``--backend NAME``, or
the file's ``BACKEND``: a name or a backend object; else $GRAPHC_BACKEND, else numpy):
as a whole, or as segments per device and NumPy fallback segments for the ops the
backend lacks, with what each one transfers.

``graphc cache info|list|clear [--dir DIR]`` shows or empties the on-disk compile cache
(graphc.runtime.cache; default folder: $GRAPHC_CACHE_DIR, else the user's cache folder).

``graphc run ARTIFACT --feed NAME=FILE.npy ... [--out DIR]`` runs a saved artifact
(graphc.runtime.artifact).

``graphc bench [--suite PATH] [ARGS...]`` runs the benchmark suite (benchmarks/suite.py:
``--suite PATH``, else ./benchmarks/suite.py, else the one beside the graphc package),
passing it ARGS (``graphc bench --help`` shows the suite's options).

``python -m graphc`` is the same command. A user error is one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.util
import os
import runpy
import shlex
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from graphc import errors
from graphc.frontend.graph import Operation, Tensor, get_default_graph, reset_default_graph
from graphc.ir import devices, dot
from graphc.ir.lower import lower
from graphc.passes import pipeline
from graphc.passes.memory import MemoryPlan, format_bytes, plan_for
from graphc.runtime import nest, segments
from graphc.runtime.backend import get_backend
from graphc.runtime.cache import CompileCache
from graphc.runtime.session import Session

USAGE_EXAMPLE = "graphc inspect examples/inspect/mlp_step.py"


def _paragraphs(first: int, end: int) -> str | None:
    """Paragraphs of this module's docstring (the subcommands' help texts are its text)."""
    return "\n\n".join(__doc__.split("\n\n")[first:end]) if __doc__ else None


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graphc`` console script (and of ``python -m graphc``); returns
    the exit status."""
    args_in = list(argv) if argv is not None else sys.argv[1:]
    if args_in[:1] == ["bench"]:
        # The suite parses its own arguments (and its --help); argparse here would take
        # them for graphc's.
        try:
            return bench(args_in[1:])
        except CLIError as exc:
            print(f"graphc bench: error: {exc}", file=sys.stderr)
            return 2
    parser = _parser()
    args = parser.parse_args(args_in)
    try:
        if args.command == "inspect":
            return inspect(args, sys.stdout, args_in)
        if args.command == "cache":
            return cache_command(args, sys.stdout)
        if args.command == "run":
            return run_artifact(args)
    except CLIError as exc:
        print(f"graphc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphc", description="The graphc deep-learning compiler.")
    sub = parser.add_subparsers(dest="command", required=True)
    _cache_parser(sub)
    _run_parser(sub)
    sub.add_parser(
        "bench",
        help="run the benchmark suite (benchmarks/suite.py); graphc bench --help shows its options",
        add_help=False,
    )
    ins = sub.add_parser(
        "inspect",
        help="show what the compiler does to a graph built by a Python file (stopped at its first Session.run)",
        description=_paragraphs(1, 4),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ins.add_argument(
        "file", help="a Python file that builds a graph (run up to its first Session.run, which is stopped)"
    )
    ins.add_argument(
        "--fetch", action="append", default=[], metavar="NAME", help="a tensor or op to fetch (repeatable)"
    )
    ins.add_argument(
        "--feed-shape",
        action="append",
        default=[],
        metavar="NAME=D0,D1,...",
        help="the shape fed to a placeholder (repeatable), e.g. x=128,784",
    )
    ins.add_argument(
        "--disable", action="append", default=[], metavar="PASS", help="switch a pass off (repeatable)"
    )
    ins.add_argument(
        "--dot", metavar="OUT", help="write the optimised program as Graphviz: OUT.dot, .svg or .png"
    )
    ins.add_argument(
        "--graph-dot", metavar="OUT", help="write the frontend graph as Graphviz: OUT.dot, .svg or .png"
    )
    ins.add_argument(
        "--passes-only",
        action="store_true",
        help="leave out the program text after each pass (keep the pass table, fusion groups, memory plan)",
    )
    ins.add_argument(
        "--backend",
        metavar="NAME",
        help="the backend whose segments to show (default: $GRAPHC_BACKEND, else numpy)",
    )
    ins.add_argument(
        "--build-only",
        action="store_true",
        help="take the fetches only from --fetch or FETCHES, never from the Session.run the script is stopped at",
    )
    return parser


def _cache_parser(sub: Any) -> None:
    cache = sub.add_parser(
        "cache",
        help="show or empty the on-disk compile cache",
        description="The on-disk compile cache (default folder: $GRAPHC_CACHE_DIR, else "
        "$XDG_CACHE_HOME/graphc, else ~/.cache/graphc).",
    )
    actions = cache.add_subparsers(dest="action", required=True)
    for name, text in (
        ("info", "the folder, how many entries, their total size and the size limit"),
        ("list", "one line per entry: key prefix, backend, size, last used, program hash prefix"),
        ("clear", "remove every entry"),
    ):
        a = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        a.add_argument("--dir", metavar="DIR", help="the cache folder (default: as the compiler finds it)")


def _run_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a saved artifact on inputs from .npy files",
        description="Run a saved artifact (graphc.runtime.artifact): each input from a .npy file, each "
        "output printed and, with --out, written as DIR/<name>.npy.",
    )
    run.add_argument("artifact", help="the artifact file")
    run.add_argument(
        "--feed",
        action="append",
        default=[],
        metavar="NAME=FILE.npy",
        help="an input and the .npy file it is read from (repeatable)",
    )
    run.add_argument("--out", metavar="DIR", help="write each output as DIR/<name>.npy")


# ---------------------------------------------------------------------------


def cache_command(args: argparse.Namespace, out: TextIO) -> int:
    """``graphc cache info|list|clear [--dir DIR]``."""
    try:
        cache = CompileCache(args.dir)
    except ValueError as exc:  # a GRAPHC_CACHE_MAX_BYTES that is not a size
        raise CLIError(str(exc)) from None
    w = out.write
    if args.action == "info":
        info = cache.info()
        state = "yes" if info["enabled"] else "no (GRAPHC_CACHE switches it off)"
        w(f"directory:   {info['directory']}\n")
        w(f"enabled:     {state}\n")
        w(f"entries:     {info['entries']}\n")
        w(f"total size:  {format_bytes(info['total_bytes'])}\n")
        w(f"limit:       {format_bytes(info['max_bytes'])}\n")
        if info["quarantined"]:
            w(f"quarantined: {info['quarantined']} (unusable entries set aside)\n")
        return 0
    if args.action == "list":
        entries = cache.entries()
        if not entries:
            w(f"no entries in {cache.directory}\n")
            return 0
        bw = max(len("BACKEND"), *(len(e.backend) for e in entries)) + 2
        w(f"{'KEY':<14}{'BACKEND':<{bw}}{'SIZE':>14}  {'LAST USED':<21}PROGRAM\n")
        for e in reversed(entries):  # most recently used first
            used = datetime.datetime.fromtimestamp(e.last_used).strftime("%Y-%m-%d %H:%M:%S")
            w(f"{e.key[:12]:<14}{e.backend:<{bw}}{e.size:>12,} B  {used:<21}{e.program_hash}\n")
        return 0
    removed = cache.clear()
    w(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {cache.directory}\n")
    return 0


def run_artifact(args: argparse.Namespace) -> int:
    """``graphc run ARTIFACT --feed NAME=FILE.npy ... [--out DIR]``: parsed here, run by
    graphc.runtime.artifact.run_cli."""
    feeds: dict[str, str] = {}
    for spec in args.feed:
        name, sep, file = spec.partition("=")
        name = name.strip()
        if not sep or not name or not file:
            raise CLIError(f"--feed {spec!r}: expected NAME=FILE.npy")
        if name in feeds:
            raise CLIError(f"--feed {name}: given twice")
        feeds[name] = file
    try:
        # Only this subcommand needs artifacts; loading them pulls in the backends' code.
        from graphc.runtime import artifact
    except ModuleNotFoundError as exc:
        if exc.name != "graphc.runtime.artifact":
            raise
        raise CLIError("this graphc has no artifact support (graphc.runtime.artifact is missing)") from None
    return int(artifact.run_cli(args.artifact, feeds, args.out))


BENCH_HELP = """usage: graphc bench [--suite PATH] [ARGS...]

Run the benchmark suite: --suite PATH, else ./benchmarks/suite.py, else
benchmarks/suite.py beside the graphc package. ARGS go to the suite's main()
(graphc bench --help shows the suite's own options).
"""


def bench(argv: Sequence[str]) -> int:
    """``graphc bench [--suite PATH] [ARGS...]``: load the suite from its path and call its
    ``main(ARGS)``."""
    rest = list(argv)
    suite: str | None = None
    if rest[:1] == ["--suite"]:
        if len(rest) < 2:
            raise CLIError("--suite needs a path")
        suite, rest = rest[1], rest[2:]
    elif rest[:1] and rest[0].startswith("--suite="):
        suite, rest = rest[0].split("=", 1)[1], rest[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    path = _find_suite(suite)
    if path is None:
        if rest[:1] in (["-h"], ["--help"]):
            sys.stdout.write(BENCH_HELP)
        where = [str(Path.cwd() / "benchmarks" / "suite.py"), str(_package_suite())]
        raise CLIError(
            "no benchmark suite found (looked at " + ", then ".join(where) + "); give it with --suite PATH"
        )
    spec = importlib.util.spec_from_file_location("graphc_benchmark_suite", path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot load the benchmark suite {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs, so its dataclasses and pickling find their module.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        main_fn = getattr(module, "main", None)
        if not callable(main_fn):
            raise CLIError(f"{path} has no main(argv) function")
        try:
            status = main_fn(rest)
        except SystemExit as exc:  # its argparse's --help or a usage error
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 2)
    finally:
        sys.modules.pop(spec.name, None)
    return 0 if status is None else int(status)


def _package_suite() -> Path:
    """benchmarks/suite.py in the folder above the graphc package (a source checkout)."""
    return Path(__file__).resolve().parent.parent / "benchmarks" / "suite.py"


def _find_suite(given: str | None) -> Path | None:
    if given is not None:
        p = Path(given)
        if not p.is_file():
            raise CLIError(f"--suite {given}: no such file")
        return p
    for p in (Path.cwd() / "benchmarks" / "suite.py", _package_suite()):
        if p.is_file():
            return p
    return None


def inspect(args: argparse.Namespace, out: TextIO, argv: Sequence[str] | None = None) -> int:
    """``graphc inspect``: the script runs up to its first Session.run (module docstring)."""
    path = args.file
    if not os.path.isfile(path):
        raise CLIError(f"no such file: {path}")
    reset_default_graph()
    script = _run_file(path)
    namespace = script.namespace
    stop = script.stopped
    build_only = bool(getattr(args, "build_only", False))

    if args.fetch:
        spec, where = args.fetch, "--fetch"
    elif namespace.get("FETCHES") is not None:
        spec, where = namespace["FETCHES"], "FETCHES"
    elif stop is not None and not build_only:
        spec, where = nest.flatten(stop.fetches), "the stopped Session.run"
    else:
        why = (
            "" if stop is None or not build_only else " (--build-only does not use the stopped Session.run's)"
        )
        raise CLIError(f"nothing to fetch: pass --fetch NAME or define FETCHES in the file{why}")
    fallback = stop.graph if stop is not None and stop.graph is not None else get_default_graph()
    graph = _graph_of(spec, fallback)

    targets = _fetches(graph, spec, where)
    run_shapes = stop.feed_shapes(graph) if stop is not None and not build_only else {}
    shapes = {**run_shapes, **_feed_shapes(graph, args.feed_shape, namespace.get("FEED_SHAPES"))}
    feeds: dict[Tensor, tuple[Any, tuple[int, ...]]] = {}
    for op in graph.get_operations():
        if op.type != "Placeholder":
            continue
        t = op.outputs[0]
        given = shapes.get(t.name)
        static = t.shape.as_list() if t.shape.ndims is not None else None
        if given is None and static is None and _needs(targets, op):
            raise CLIError(
                f"placeholder {t.name!r} has an unknown rank: give its shape with --feed-shape {op.name}=..."
            )
        if given is not None and static is not None:
            if len(given) != len(static) or any(
                s is not None and s != g for s, g in zip(static, given, strict=True)
            ):
                raise CLIError(
                    f"--feed-shape {op.name}={_dims(given)} does not fit the placeholder's shape {static}"
                )
        fed = given if given is not None else tuple(1 if d is None else d for d in (static or []))
        feeds[t] = (t.dtype, tuple(fed))
    try:
        lowered = lower(graph, targets, feeds)
    except Exception as exc:  # noqa: BLE001  (shown to the user as the reason nothing compiled)
        raise CLIError(f"lowering failed: {exc}") from None
    program = lowered.program

    param_shapes = _param_shapes(program, lowered, shapes)
    env: dict[str, int] | None = None
    if param_shapes is not None:
        try:
            env = program.bind_dims(param_shapes)
        except ValueError as exc:
            raise CLIError(f"the feed shapes disagree: {exc}") from None
    # A symbol bound to a fed integer's value (tf.range(n), maximum_iterations=n) has no
    # value here: sizes are then shown as formulas.
    from_values = [s for s in program.symbols() if env is not None and s not in env]
    if from_values:
        env = None

    nodes_before = len(program.nodes)
    plan_before = MemoryPlan.build(program)
    optimised, report = _optimise(program, args.disable)
    plan_after = plan_for(optimised)  # the pipeline's plan, when it is the optimised program's

    w = out.write
    command = "graphc " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    w(f"$ {command}\n")
    if stop is None:
        w("the script finished without running a session\n")
    else:
        at = f"line {stop.line} of {path}" if stop.line is not None else f"called from outside {path}"
        whose = "its fetches" if where == "the stopped Session.run" else f"the fetches from {where}"
        w(f"stopped the script at its first Session.run ({at}); inspecting {whose}\n")
    w(f"fetches: {', '.join(_target_name(t, Operation) for t in targets)}\n")
    for p in program.params:
        if p.kind == "feed":
            t = graph.get_tensor_by_name(p.name)
            fed = shapes.get(p.name)
            w(f"feed:    {p.name} {t.dtype.name}{_dims_list(fed) if fed is not None else str(t.shape)}\n")
    if program.symbols():
        dims = ", ".join(f"{s}={env[s]}" if env is not None else s for s in program.symbols())
        why = (
            f"{', '.join(from_values)} from fed values" if from_values else "no feed shapes given"
        )
        w(f"dims:    {dims}" + ("" if env is not None else f"  ({why}: formulas only)") + "\n")
    w("\n")

    if not args.passes_only:
        for name, text in report.snapshots:
            title = "input (lowered)" if name == "input" else f"after {name}"
            w(f"== program {title}\n{text}\n\n")

    w("== passes (time, nodes before -> after, ops removed/added)\n")
    for r in report.records:
        w(f"  {r.summary()}\n")
    total = sum(r.seconds for r in report.records)
    w(f"  {'total':<12} {total * 1e3:8.2f} ms\n\n")

    _print_fusion(w, optimised, report)
    _print_segments(w, optimised, args.backend or namespace.get("BACKEND"))
    w("== memory plan (after the pipeline)\n")
    w(plan_after.describe(env) + "\n\n")

    w("== summary\n")
    w(f"  nodes        {nodes_before} before the pipeline -> {len(optimised.nodes)} after\n")
    w(f"  peak memory  {_peak(plan_before, env)} -> {_peak(plan_after, env)}\n")
    w(f"               (formula before: {plan_before.peak}; after: {plan_after.peak})\n")
    w(f"  arena        {_arena(plan_before, env)} -> {_arena(plan_after, env)}")
    w(" (one per run; fetches and new variable values in buffers of their own)\n")
    w(f"  buffers      {plan_before.n_values} values -> {plan_before.n_buffers} buffers before; ")
    w(f"{plan_after.n_values} values -> {plan_after.n_buffers} buffers after\n")
    n_groups = len(optimised.meta.get("fusion_groups", []))
    n_fused_ops = sum(len(g["ops"]) for g in optimised.meta.get("fusion_groups", []))
    w(f"  fusion       {n_groups} groups replacing {n_fused_ops} ops\n")

    status = 0
    for target, what in ((args.dot, "program"), (args.graph_dot, "graph")):
        if not target:
            continue

        text = dot.program_to_dot(optimised) if what == "program" else dot.graph_to_dot(graph)
        try:
            dot.render(text, target)
            w(f"  wrote the {what} to {target}\n")
        except (RuntimeError, ValueError, OSError) as exc:
            print(f"graphc inspect: error: {exc}", file=sys.stderr)
            status = 2
    return status


class _StopAtRun(BaseException):
    """Raised by Session.run while inspect runs a script. A BaseException, as
    KeyboardInterrupt is, so the script's own ``except Exception`` does not swallow it."""

    def __init__(self, stop: _StoppedRun) -> None:
        super().__init__("graphc inspect stops the script at its first Session.run")
        self.stop = stop


@dataclasses.dataclass
class _StoppedRun:
    """The Session.run a script was stopped at: what it was asked for, and where."""

    fetches: Any
    feed_dict: Any
    graph: Any
    line: int | None  # in the script (the innermost frame of the script's file)

    def feed_shapes(self, graph: Any) -> dict[str, tuple[int, ...]]:
        """Tensor name -> the shape of the value the run would have fed it (feeds that
        are not tensors of the graph are left out: the run itself would have refused them)."""
        out: dict[str, tuple[int, ...]] = {}
        for key, value in (self.feed_dict or {}).items():
            try:
                t = graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
                out[t.name] = tuple(int(d) for d in np.shape(value))
            except (KeyError, TypeError, ValueError):
                continue
        return out


@dataclasses.dataclass
class _Script:
    namespace: dict[str, Any]  # the script's module globals
    stopped: _StoppedRun | None  # None: it finished without running a session


def _run_file(path: str) -> _Script:
    """Run the script with ``Session.run`` replaced by a stop: the first call ends the
    script (nothing is computed), and the graph built so far is what is inspected."""
    directory = os.path.dirname(os.path.abspath(path))
    script_file = os.path.realpath(path)
    seen: dict[str, Any] = {}

    def stop_here(session: Any, fetches: Any = None, feed_dict: Any = None, *_: Any, **__: Any) -> Any:
        frame = sys._getframe(1)
        while frame is not None and os.path.realpath(frame.f_code.co_filename) != script_file:
            frame = frame.f_back
        if frame is not None:
            seen["globals"] = frame.f_globals
        line = frame.f_lineno if frame is not None else None
        raise _StopAtRun(_StoppedRun(fetches, feed_dict, getattr(session, "graph", None), line))

    original = Session.__dict__["run"]
    sys.path.insert(0, directory)  # as `python FILE` would, so the file can import its neighbours
    Session.run = stop_here  # type: ignore[method-assign]
    try:
        return _Script(runpy.run_path(path, run_name="__graphc_inspect__"), None)
    except _StopAtRun as exc:
        return _Script(dict(seen.get("globals", {})), exc.stop)
    except SystemExit as exc:
        raise CLIError(f"{path} exited ({exc.code}) while building its graph") from None
    finally:
        Session.run = original  # type: ignore[method-assign]
        with contextlib.suppress(ValueError):
            sys.path.remove(directory)


def _graph_of(spec: Any, fallback: Any) -> Any:
    """The graph of the first fetch that names one (a tensor, op or variable), else ``fallback``:
    a script may build in a graph of its own, no longer the default once it has stopped."""
    items = spec if isinstance(spec, list | tuple) else [spec]
    for item in items:
        g = getattr(item, "graph", None)
        if g is not None and hasattr(g, "as_graph_element"):
            return g
    return fallback


def _fetches(graph: Any, spec: Any, where: str) -> list[Any]:
    """The graph elements ``spec`` names; ``where`` says where it came from, for errors."""
    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    if not items:
        raise CLIError(f"the fetch list ({where}) is empty")
    targets = []
    for item in items:
        try:
            targets.append(graph.as_graph_element(item, allow_tensor=True, allow_operation=True))
        except (KeyError, TypeError, ValueError) as exc:
            raise CLIError(f"{where}: {item!r} is not a tensor or op of the graph ({exc.args[0]})") from None
    return targets


def _feed_shapes(graph: Any, cli: list[str], module: Any) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the file's FEED_SHAPES then --feed-shape (which wins)."""
    out: dict[str, tuple[int, ...]] = {}
    items: list[tuple[Any, Any, str]] = []
    if module is not None:
        if not isinstance(module, dict):
            raise CLIError("FEED_SHAPES must be a dict from placeholder (or its name) to a shape")
        items.extend((k, v, "FEED_SHAPES") for k, v in module.items())
    for spec in cli:
        name, sep, dims = spec.partition("=")
        if not sep:
            raise CLIError(f"--feed-shape {spec!r}: expected NAME=D0,D1,... (e.g. x=128,784)")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            raise CLIError(f"--feed-shape {spec!r}: dimensions must be integers") from None
        items.append((name.strip(), shape, "--feed-shape"))
    for key, shape, where in items:
        if isinstance(key, str) and ":" not in key:
            key = key + ":0"
        try:
            t = graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
        except (KeyError, TypeError, ValueError):
            raise CLIError(f"{where}: {key!r} is not a tensor of the graph") from None
        try:
            out[t.name] = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise CLIError(
                f"{where}: the shape of {t.name!r} must be a sequence of ints, got {shape!r}"
            ) from None
    return out


def _needs(targets: list[Any], placeholder: Any) -> bool:
    """Whether the targets depend on the placeholder (so it must be fed)."""

    seen: set[int] = set()
    stack = [t.op if isinstance(t, Tensor) else t for t in targets]
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        if op is placeholder:
            return True
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return False


def _param_shapes(
    program: Any, lowered: Any, feeds: dict[str, tuple[int, ...]]
) -> list[tuple[int, ...]] | None:
    """Concrete shapes of every param, or None when some dim is not known."""
    out: list[tuple[int, ...]] = []
    for p in program.params:
        if p.kind == "feed":
            shape = feeds.get(p.name)
            if shape is None:
                if not all(isinstance(d, int) for d in p.value.shape):
                    return None
                shape = tuple(p.value.shape)
            out.append(shape)
        elif all(isinstance(d, int) for d in p.value.shape):
            out.append(tuple(p.value.shape))
        else:
            return None  # a variable of unknown shape
    return out


def _optimise(program: Any, disabled: list[str]) -> tuple[Any, Any]:
    """The pipeline, plus fusion and memory planning when the pipeline does not list them
    (yet): graphc inspect always shows both unless they are switched off."""

    try:
        optimised, report = pipeline.optimize_with_report(program, disabled=disabled, keep_snapshots=True)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    listed = set(pipeline.pass_names())
    off = set(disabled) | {
        x.strip() for x in os.environ.get(pipeline.DISABLE_ENV, "").split(",") if x.strip()
    }
    extra = [("fuse", "graphc.passes.fuse:fuse"), ("memory", "graphc.passes.memory:plan_memory")]
    for name, target in extra:
        if name in listed or name in off or "all" in off:
            continue
        module, fn = target.split(":")
        __import__(module)
        pass_fn = getattr(sys.modules[module], fn)
        before = Counter(n.op for n in optimised.nodes)
        n_before = len(optimised.nodes)
        t0 = time.perf_counter()
        optimised = pass_fn(optimised)
        dt = time.perf_counter() - t0
        after = Counter(n.op for n in optimised.nodes)
        report.records.append(
            pipeline.PassRecord(
                name, dt, n_before, len(optimised.nodes), dict(before - after), dict(after - before)
            )
        )
        report.snapshots.append((name, str(optimised)))
    return optimised, report


def _print_fusion(w: Any, program: Any, report: Any) -> None:
    groups = program.meta.get("fusion_groups")
    ran = any(r.name == "fuse" and not r.skipped for r in report.records)
    if groups is None or not ran:
        w("== fusion groups: none (the fuse pass did not run)\n\n")
        return
    w(f"== fusion groups: {len(groups)}\n")
    for k, g in enumerate(groups):
        origin = f" '{g['origin']}'" if g["origin"] else ""
        w(f"  group {k}: node {g['node']} {g['value']}{origin}: {' + '.join(g['ops'])}\n")
        expr = g["expr"]
        if g["reduce"]:
            expr = f"{g['reduce']}(axis={tuple(g['axis'])}) of {expr}"
        w(f"      {expr}\n")
        ins = ", ".join(
            f"in{i}={v} {s}" for i, (v, s) in enumerate(zip(g["inputs"], g["input_shapes"], strict=True))
        )
        w(f"      {ins or 'no inputs'} -> {g['output_shape']}\n")
    w("\n")


def _print_segments(w: Any, program: Any, backend_spec: Any) -> None:

    try:
        backend = get_backend(backend_spec)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        part = segments.plan(program, backend)
    except errors.OpError as exc:
        raise CLIError(f"partitioning failed: {exc}") from None
    if part is None:
        places = sorted({devices.comparable(n.device) for n in program.nodes} - {""})
        where = places[0] if places else "(default device)"
        w(f"== segments: one (device {where}, backend {backend.name}): the program compiles as a whole\n\n")
        return
    lacking = segments.lacking_ops(program, backend)
    why = f"; it lacks {', '.join(lacking)}, which run on the NumPy backend" if lacking else ""
    n_t = len(part.transfers)
    w(
        f"== segments: {len(part.segments)} on backend {backend.name}{why}; {n_t} transfer{'s' if n_t != 1 else ''}\n"
    )
    for line in part.describe(backend.name, lacking).splitlines():
        w(f"  {line}\n")
    w("\n")


def _peak(plan: Any, env: dict[str, int] | None) -> str:

    if env is None:
        return f"{plan.peak} B"
    return format_bytes(plan.evaluate(env))


def _arena(plan: Any, env: dict[str, int] | None) -> str:

    if env is None:
        return f"{plan.arena_size} B"
    return format_bytes(plan.arena_bytes(env))


def _target_name(t: Any, operation_type: type) -> str:
    return f"{t.name} (op)" if isinstance(t, operation_type) else t.name


def _dims(shape: Sequence[int]) -> str:
    return ",".join(str(d) for d in shape)


def _dims_list(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
