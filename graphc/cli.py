"""The ``graphc`` command.

``graphc inspect FILE`` runs a Python file that builds a graph in the default
graph, lowers what the fetches need, runs the pass pipeline and prints the
program after each pass, the per-pass times, the fusion groups and the memory
plan (peak bytes as a formula in the symbolic dims, and its value for the
given feed shapes), then a before/after summary. Nothing is executed: no
session runs, no variable is initialised.

The fetches come from ``--fetch NAME`` (tensor "op:0" or op names) or else from
the file's module-level ``FETCHES`` (tensors, ops, variables or names). Feed
shapes, used to put numbers on the memory formulas (and to give the rank of
placeholders built with an unknown shape), come from ``--feed-shape NAME=D0,D1``
or else from the file's ``FEED_SHAPES`` dict.

The segments section shows how the program runs on a backend (``--backend NAME``, or
the file's ``BACKEND``: a name or a backend object; else $GRAPHC_BACKEND, else numpy):
as a whole, or as segments per device and NumPy fallback segments for the ops the
backend lacks, with what each one transfers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import runpy
import shlex
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from graphc import errors
from graphc.frontend.graph import Operation, Tensor, get_default_graph, reset_default_graph
from graphc.ir import devices, dot
from graphc.ir.lower import lower
from graphc.passes import pipeline
from graphc.passes.memory import MemoryPlan, format_bytes, plan_for
from graphc.runtime import segments
from graphc.runtime.backend import get_backend

USAGE_EXAMPLE = "graphc inspect examples/inspect/mlp_step.py"


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graphc`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.command == "inspect":
            return inspect(args, sys.stdout, argv)
    except CLIError as exc:
        print(f"graphc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphc", description="The graphc deep-learning compiler.")
    sub = parser.add_subparsers(dest="command", required=True)
    ins = sub.add_parser(
        "inspect",
        help="show what the compiler does to a graph built by a Python file",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ins.add_argument("file", help="a Python file that builds a graph in the default graph")
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
    return parser


# ---------------------------------------------------------------------------


def inspect(args: argparse.Namespace, out: TextIO, argv: Sequence[str] | None = None) -> int:

    path = args.file
    if not os.path.isfile(path):
        raise CLIError(f"no such file: {path}")
    reset_default_graph()
    namespace = _run_file(path)
    graph = get_default_graph()

    targets = _fetches(graph, args.fetch or namespace.get("FETCHES"), bool(args.fetch))
    shapes = _feed_shapes(graph, args.feed_shape, namespace.get("FEED_SHAPES"))
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

    nodes_before = len(program.nodes)
    plan_before = MemoryPlan.build(program)
    optimised, report = _optimise(program, args.disable)
    plan_after = plan_for(optimised)  # the pipeline's plan, when it is the optimised program's

    w = out.write
    command = "graphc " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    w(f"$ {command}\n")
    w(f"fetches: {', '.join(_target_name(t, Operation) for t in targets)}\n")
    for p in program.params:
        if p.kind == "feed":
            t = graph.get_tensor_by_name(p.name)
            fed = shapes.get(p.name)
            w(f"feed:    {p.name} {t.dtype.name}{_dims_list(fed) if fed is not None else str(t.shape)}\n")
    if program.symbols():
        dims = ", ".join(f"{s}={env[s]}" if env is not None else s for s in program.symbols())
        w(f"dims:    {dims}" + ("" if env is not None else "  (no feed shapes given: formulas only)") + "\n")
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


def _run_file(path: str) -> dict[str, Any]:
    directory = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, directory)  # as `python FILE` would, so the file can import its neighbours
    try:
        return runpy.run_path(path, run_name="__graphc_inspect__")
    except SystemExit as exc:
        raise CLIError(f"{path} exited ({exc.code}) while building its graph") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(directory)


def _fetches(graph: Any, spec: Any, from_cli: bool) -> list[Any]:
    if spec is None:
        raise CLIError("nothing to fetch: pass --fetch NAME or define FETCHES in the file")
    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    if not items:
        raise CLIError("the fetch list is empty")
    targets = []
    for item in items:
        try:
            targets.append(graph.as_graph_element(item, allow_tensor=True, allow_operation=True))
        except (KeyError, TypeError, ValueError) as exc:
            where = "--fetch" if from_cli else "FETCHES"
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
