"""Graphviz DOT export of a frontend graph and of a compiled program.

``graph_to_dot`` draws the user's graph: one node per operation, data edges
labelled with dtype and shape, control edges dashed. ``program_to_dot`` draws
an ``ir.Program``: params, nodes and outputs; each node of an op with the "fused"
trait is a cluster (``subgraph cluster_k``) whose label lists the op types it
replaced, its scalar expression and its reduction epilogue, and whose inside shows
the expression's primitives, so one can see what a fused kernel computes.
``render`` turns DOT text into SVG or PNG
with Graphviz's ``dot`` program when it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from graphc import registry as reg
from graphc import scalar as S
from graphc.ir.program import Node, Program, Value, format_shape
from graphc.ops import fused_ops

_HEADER = [
    "  rankdir=TB;",
    '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
]


def _q(text: str) -> str:
    """A DOT string literal (newlines become centred line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# ---------------------------------------------------------------------------
# The frontend graph.


def graph_to_dot(graph: Any, ops: Iterable[Any] | None = None, name: str = "graph") -> str:
    """DOT text for a frontend ``Graph`` (all its operations, or only ``ops``)."""
    chosen = list(graph.get_operations() if ops is None else ops)
    ids = {id(op): f"op{k}" for k, op in enumerate(chosen)}
    lines = [f"digraph {_q(name)} {{", *_HEADER]
    for op in chosen:
        shapes = ", ".join(f"{t.dtype.name}{_tshape(t)}" for t in op.outputs)
        label = f"{op.name}\n{op.type}" + (f"\n{shapes}" if shapes else "")
        fill = _FILL.get(_category(op.type), "#ffffff")
        lines.append(f"  {ids[id(op)]} [label={_q(label)}, fillcolor={_q(fill)}];")
    for op in chosen:
        for t in op.inputs:
            src = ids.get(id(t.op))
            if src is not None:
                lines.append(f"  {src} -> {ids[id(op)]} [label={_q(t.dtype.name + _tshape(t))}];")
        for c in op.control_inputs:
            src = ids.get(id(c))
            if src is not None:
                lines.append(f"  {src} -> {ids[id(op)]} [style=dashed, color={_q('#999999')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _tshape(t: Any) -> str:
    dims = t.shape.as_list() if t.shape.ndims is not None else None
    if dims is None:
        return "[?]"
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


_FILL = {
    "input": "#e8f0fe",
    "variable": "#fff4d6",
    "matmul": "#fde2e1",
    "elementwise": "#ffffff",
    "reduction": "#e6f4ea",
    "fused": "#dbe9ff",
}


def _category(op_type: str) -> str:
    if op_type in ("Placeholder", "PlaceholderWithDefault"):
        return "input"
    if op_type == "VariableV2":
        return "variable"
    try:
        opdef = reg.get(op_type)
    except KeyError:
        return "other"
    for trait in ("matmul", "conv"):
        if opdef.has(trait):
            return "matmul"
    if opdef.has("reduction"):
        return "reduction"
    return "elementwise" if opdef.has("elementwise") else "other"


# ---------------------------------------------------------------------------
# A program.


def program_to_dot(program: Program, name: str = "program", expand_fused: bool = True) -> str:
    """DOT text for a Program. With ``expand_fused`` each fused cluster also holds one node
    per primitive of its scalar expression (and its reduction), fed by the cluster's inputs."""
    labels = program.numbering().labels()  # id(Value) -> %k
    where: dict[int, str] = {}  # id(Value) -> DOT node that produces it
    lines = [f"digraph {_q(name)} {{", *_HEADER]
    for k, p in enumerate(program.params):
        where[id(p.value)] = f"p{k}"
        fill = _FILL["variable"] if p.kind == "variable" else _FILL["input"]
        label = f"{labels[id(p.value)]} {p.name}\n{p.kind} {_vtype(p.value)}"
        lines.append(f"  p{k} [shape=ellipse, label={_q(label)}, fillcolor={_q(fill)}];")
    edges: list[str] = []
    n_cluster = 0
    for k, node in enumerate(program.nodes):
        for v in node.outputs:
            where[id(v)] = f"n{k}"
        outs = ", ".join(f"{labels[id(v)]}: {_vtype(v)}" for v in node.outputs) or "()"
        origin = f"\n{node.origin.name}" if node.origin is not None and node.origin.name != node.op else ""
        if not _is_fused(node):
            fill = _FILL.get(_category(node.op), "#ffffff")
            lines.append(f"  n{k} [label={_q(f'{node.op}{origin}' + chr(10) + outs)}, fillcolor={_q(fill)}];")
            for j, v in enumerate(node.inputs):
                edges.append(_edge(where[id(v)], f"n{k}", labels[id(v)], j if len(node.inputs) > 1 else None))
            continue
        lines.extend(_fused_cluster(n_cluster, k, node, labels, where, outs, origin, edges, expand_fused))
        n_cluster += 1
    for j, o in enumerate(program.outputs):
        label = f"{o.kind} {o.name}"
        lines.append(f"  out{j} [shape=invhouse, label={_q(label)}, fillcolor={_q('#eeeeee')}];")
        edges.append(f"  {where[id(o.value)]} -> out{j} [label={_q(labels[id(o.value)])}];")
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _is_fused(node: Node) -> bool:
    try:
        return reg.get(node.op).has("fused")
    except KeyError:
        return False


def _vtype(v: Value) -> str:
    return f"{v.dtype.name}{format_shape(v.shape)}"


def _edge(src: str, dst: str, label: str, port: int | None = None) -> str:
    text = label if port is None else f"{label} (in{port})"
    return f"  {src} -> {dst} [label={_q(text)}];"


def _fused_cluster(
    c: int,
    k: int,
    node: Any,
    labels: dict[int, str],
    where: dict[int, str],
    outs: str,
    origin: str,
    edges: list[str],
    expand: bool,
) -> list[str]:
    expr: S.SExpr = node.attrs["expr"]
    ops = list(node.attrs.get("ops", ()))
    text = S.format_expr(expr)
    reduce = fused_ops.reduction_label(node.attrs)
    if reduce is not None:
        axes = tuple(node.attrs["reduce_axes"])
        text = f"{reduce}(axis={axes}, keepdims={node.attrs['keepdims']}) of {text}"
    title = f"fused group {c}: {' + '.join(ops)}\n{text}"
    lines = [
        f"  subgraph cluster_{c} {{",
        f"    label={_q(title)};",
        '    style="rounded,filled"; fillcolor="#f3f7ff"; color="#7a9cd6"; fontname="Helvetica"; fontsize=9;',
        f"    n{k} [label={_q(node.op + origin + chr(10) + outs)}, fillcolor={_q(_FILL['fused'])}];",
    ]
    if not expand:
        for j, v in enumerate(node.inputs):
            edges.append(_edge(where[id(v)], f"n{k}", labels[id(v)], j))
        lines.append("  }")
        return lines
    # One DOT node per primitive of the expression; in(i) edges come from the producers.
    order = S.postorder(expr)
    ids: dict[S.SExpr, str] = {}
    used_inputs: set[int] = set()
    for m, e in enumerate(order):
        if e.op == "in":
            used_inputs.add(e.attr)
            continue
        nid = f"n{k}e{m}"
        ids[e] = nid
        if e.op == "const":
            lines.append(f'    {nid} [shape=plaintext, style="", label={_q(S.format_literal(e.attr))}];')
            continue
        label = e.op if e.op != "cast" else f"cast<{e.attr}>"
        lines.append(f"    {nid} [shape=ellipse, label={_q(label)}, fillcolor={_q('#ffffff')}];")
    for e in order:
        if e not in ids or e.op == "const":
            continue
        for a in e.args:
            if a.op == "in":
                v = node.inputs[a.attr]
                edges.append(_edge(where[id(v)], ids[e], f"{labels[id(v)]} in{a.attr}"))
            else:
                edges.append(f"  {ids[a]} -> {ids[e]};")
    sink = f"n{k}"
    if reduce is not None:
        rid = f"n{k}r"
        rlabel = _q(f"{reduce} axis={tuple(node.attrs['reduce_axes'])}")
        lines.append(f"    {rid} [shape=ellipse, label={rlabel}, fillcolor={_q(_FILL['reduction'])}];")
        edges.append(f"  {rid} -> n{k};")
        sink = rid
    if expr.op == "in":
        v = node.inputs[expr.attr]
        edges.append(_edge(where[id(v)], sink, f"{labels[id(v)]} in{expr.attr}"))
    else:
        edges.append(f"  {ids[expr]} -> {sink};")
    # Inputs the expression does not read still set the shape (e.g. zeros_like's input).
    for j, v in enumerate(node.inputs):
        if j not in used_inputs:
            edges.append(f"  {where[id(v)]} -> n{k} [style=dotted, label={_q(labels[id(v)] + ' (shape)')}];")
    lines.append("  }")
    return lines


# ---------------------------------------------------------------------------
# Rendering.


class GraphvizNotFound(RuntimeError):
    """Graphviz's ``dot`` program is not installed."""


def render(dot_text: str, path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Write ``dot_text`` to ``path`` as SVG or PNG (from the suffix, or ``fmt``) with
    Graphviz's ``dot``; a ``.dot``/``.gv`` path gets the text itself. Returns the path."""
    path = os.fspath(path)
    fmt = (fmt or os.path.splitext(path)[1].lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        with open(path, "w") as f:
            f.write(dot_text)
        return path
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"cannot render to {fmt!r}: use .svg, .png, .pdf or .dot")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(
            f"cannot write {path}: Graphviz's 'dot' program is not installed (e.g. apt-get install "
            f"graphviz); write a .dot file instead and render it elsewhere"
        )
    proc = subprocess.run(
        [exe, f"-T{fmt}", "-o", path], input=dot_text.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return path


def count_nodes(dot_text: str) -> int:
    """Node statements in DOT text written by this module (for tests and summaries)."""
    return sum(1 for line in dot_text.splitlines() if _is_node_line(line))


def count_clusters(dot_text: str) -> int:
    return sum(1 for line in dot_text.splitlines() if line.strip().startswith("subgraph cluster_"))


def _is_node_line(line: str) -> bool:
    s = line.strip()
    if not s or s.startswith(
        ("node ", "edge ", "graph ", "subgraph", "label=", "style=", "rankdir", "}", "digraph")
    ):
        return False
    head = s.split(" ", 1)[0]
    return "->" not in s and s.endswith("];") and head.replace("_", "").isalnum()
