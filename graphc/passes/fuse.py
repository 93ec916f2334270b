"""Elementwise fusion: groups of elementwise ops become one ``Fused`` node.

A ``Fused`` node (the registered op of ``graphc/ops/fused_ops.py``, whose docstring is
the attribute contract) holds a typed scalar expression DAG (graphc.scalar) over its
inputs ``in(i) = node.inputs[i]``, evaluated over an iteration shape into which each
input is broadcast as NumPy does (the ``broadcast`` attr spells it out), and may end in
a reduction over static axes (an op with the "fusable_reduction" trait: Sum, Mean, Max,
Min, Prod), recorded as its monoid (``combiner``, ``identity``, ``accumulator_dtype``,
``reduce_axes``, ``keepdims`` and, for a mean, ``count``). ``ops`` lists the op types of
the group, in program order. Each group's expression is typed when it is built: every
literal takes the dtype its primitive implies (``scalar.typed``), and an op whose scalar
rule gives an ill-typed expression is an error (``scalar.ScalarTypeError``).

How groups form (in the spirit of XLA's producer-into-consumer instruction
fusion): walking the program backwards, each elementwise or reduction node not
yet in a group roots a new group, which then takes in producers, highest
program position first, while

- the producer is elementwise and its output has the group's iteration shape
  (an element computed inside the group is never broadcast, so no work is
  repeated per element; smaller values are inputs), and
- every use of the producer is inside the group and it is not a program
  output (so only the root's value leaves the group: the fused node is a
  single-output node and no cycle can form).

A group's expression may be of any depth: expressions are interned DAGs and every walk
over them is iterative, so a long chain becomes one group. A reduction is only ever a
group's last step. MatMul, convolutions and every other non-elementwise op are never in
a group, so fusion never crosses their inputs. The one exception to "every use inside the group" is a *cheap* node
(at most a couple of add/mul/max/compare-like primitives; no exp, log, div,
sqrt, ...) whose inputs all come from outside any elementwise chain (params,
constants, matmuls, reductions): it is copied into each of its consumers'
groups (at most a few), so its value is never written to memory; the bias add
feeding both a ReLU and the ReLU's gradient mask is the typical case. A scalar
(rank-0) constant input is written into the expression as a literal.

Guarantees: the outputs, params, dtypes and shapes are unchanged; the result is
canonical; nodes keep their origin and device (a fused node takes its root's, and a
group only takes in nodes placed on the root's device); a group of one node is left as
it is; a Fused node is only fused again when its inputs are broadcast as NumPy does
(the form this pass makes); the pass is idempotent (a second run finds nothing to do);
the input program is not modified. ``program.meta["fusion_groups"]``
describes every Fused node of the result.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as S
from graphc.ir import devices
from graphc.ir.program import Node, Program, Value, canonicalize, format_shape
from graphc.ops import fused_ops
from graphc.passes.rewrite import copy_program

# Scalar primitives cheap enough to compute twice rather than store once.
CHEAP_PRIMITIVES = frozenset(
    {"add", "sub", "mul", "neg", "max", "min", "abs", "sign", "select", "cast"}
    | {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"}
)
MAX_DUPLICATE_COST = 2  # primitives in a node that may be copied into its consumers
MAX_DUPLICATES = 4  # consumers such a node may be copied into
_MAX_ROUNDS = 4  # fixed-point safety net; one round is expected to reach it


def fuse(program: Program) -> Program:
    """Fuse elementwise groups (see the module docstring); returns a new program."""
    program = copy_program(program)
    for stale in ("fusion_groups", "memory_plan"):  # analyses of the input, not of the result
        program.meta.pop(stale, None)
    canonicalize(program)
    for _ in range(_MAX_ROUNDS):
        if not _fuse_round(program):
            break
        canonicalize(program)
    program.meta["fusion_groups"] = fusion_groups(program)
    return program


# ---------------------------------------------------------------------------
# Per-node facts.


@dataclasses.dataclass
class _Info:
    kind: str | None  # "ew" (elementwise, may be a member), "red" (may only be a root), None
    template: S.SExpr | None = None  # the node's expression over in(i) = node.inputs[i]
    iter_shape: tuple[Any, ...] | None = None  # the shape the group iterates over
    cheap: bool = False
    fused: bool = False  # a Fused node already


def _classify(node: Node) -> _Info:
    if len(node.outputs) != 1 or node.outputs[0].dtype.is_string:
        return _Info(None)
    if any(v.dtype.is_string for v in node.inputs):
        return _Info(None)
    out = node.outputs[0]
    try:
        opdef = reg.get(node.op)
    except KeyError:
        return _Info(None)
    if opdef.has("random") or opdef.has("stateful"):
        return _Info(None)
    if opdef.has("fused"):
        expr = node.attrs.get("expr")
        shape = tuple(node.attrs.get("shape", ()))
        bcast = node.attrs.get("broadcast", ())
        if not isinstance(expr, S.SExpr) or len(bcast) != len(node.inputs):
            return _Info(None)
        # Its expression joins a group's only when its inputs broadcast as NumPy does, as
        # the group's own expression reads them.
        for v, b in zip(node.inputs, bcast):
            if len(v.shape) > len(shape) or tuple(b) != fused_ops.right_aligned_broadcast(v.shape, shape):
                return _Info(None)
        kind = "red" if fused_ops.has_reduction(node.attrs) else "ew"
        return _Info(kind, expr, shape, fused=True)
    if opdef.has("fusable_reduction") and len(node.inputs) == 1 and "axis" in node.attrs:
        x = node.inputs[0]
        if fused_ops.reduction_monoid(node.op, x.dtype) is None:
            return _Info(None)
        return _Info("red", S.inp(0, x.dtype), tuple(x.shape))
    if not opdef.has("elementwise") or opdef.scalar is None:
        return _Info(None)
    try:
        template = opdef.scalar([S.inp(i, v.dtype) for i, v in enumerate(node.inputs)], node.attrs)
    except (TypeError, ValueError, KeyError):
        return _Info(None)  # a scalar rule that cannot take these attrs: leave the node alone
    if not isinstance(template, S.SExpr):
        template = S.const(template)
    try:
        template = S.typed(template, out.dtype)
    except S.ScalarTypeError as exc:
        ins = ", ".join(v.dtype.name for v in node.inputs)
        raise S.ScalarTypeError(
            f"the scalar rule of {node.op} ({ins} -> {out.dtype.name}) is ill-typed: {exc}"
        ) from None
    return _Info("ew", template, tuple(out.shape), _is_cheap(template))


def _is_cheap(expr: S.SExpr) -> bool:
    cost = 0
    for e in S.postorder(expr):
        if e.op in ("in", "const"):
            continue
        if e.op not in CHEAP_PRIMITIVES:
            return False
        cost += 1
    return cost <= MAX_DUPLICATE_COST


def reduce_axes(axis: Any, rank: int) -> tuple[int, ...]:
    """A reduction's axis attr as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, int | np.integer):
        axis = (axis,)
    return tuple(sorted({int(a) % rank if rank else 0 for a in axis}))


def _inline_const(v: Value) -> S.SExpr | None:
    """A rank-0 constant as a literal of the expression: a typed literal (a NumPy scalar)
    of the constant's dtype, so literals of different dtypes (int64 1, float32 1.0) stay
    different expressions."""
    p = v.producer
    if p is None or p.op != "Const" or tuple(v.shape) != () or v.dtype.is_string:
        return None
    arr = np.asarray(p.attrs.get("value"))
    if arr.shape != () or arr.dtype.kind not in "biuf" or arr.dtype != v.dtype.np:
        return None
    return S.const(arr[()])


# ---------------------------------------------------------------------------
# One round: find groups, then rewrite.


@dataclasses.dataclass
class _Group:
    root: Node
    members: set[int]  # ids of nodes computed only here
    dups: set[int]  # ids of cheap nodes copied here (computed in other groups too)


def _fuse_round(program: Program) -> bool:
    nodes = program.nodes
    index = {id(n): i for i, n in enumerate(nodes)}
    info = {id(n): _classify(n) for n in nodes}
    consumers: dict[int, list[Node]] = {}
    for n in nodes:
        for v in n.inputs:
            lst = consumers.setdefault(id(v), [])
            if not lst or lst[-1] is not n:
                lst.append(n)
    outputs = {id(o.value) for o in program.outputs}

    def device(n: Node) -> str:
        return devices.comparable(n.device)

    def users(n: Node) -> list[Node]:
        return consumers.get(id(n.outputs[0]), [])

    def duplicable(n: Node) -> bool:
        inf = info[id(n)]
        if inf.kind != "ew" or not inf.cheap or inf.fused or id(n.outputs[0]) in outputs:
            return False
        cons = users(n)
        if not 2 <= len(cons) <= MAX_DUPLICATES:
            return False
        shape = tuple(n.outputs[0].shape)
        if any(info[id(c)].kind is None or info[id(c)].iter_shape != shape for c in cons):
            return False
        # Inputs from elementwise producers could be inside some group: copies of this
        # node elsewhere would then read a value that is never stored.
        return all(v.producer is None or info[id(v.producer)].kind != "ew" for v in n.inputs)

    dup_ok = {id(n): duplicable(n) for n in nodes}
    assigned: dict[int, int] = {}  # node id -> group number
    groups: list[_Group] = []

    for root in reversed(nodes):
        rinfo = info[id(root)]
        if id(root) in assigned or rinfo.kind is None:
            continue
        if dup_ok[id(root)] and all(
            id(c) in assigned and id(root) in groups[assigned[id(c)]].dups for c in users(root)
        ):
            continue  # every consumer computes its own copy
        members = {id(root)}
        dups: set[int] = set()
        heap: list[int] = []

        def push_producers(n: Node) -> None:
            for v in n.inputs:
                p = v.producer
                if p is not None and info[id(p)].kind == "ew":
                    heapq.heappush(heap, -index[id(p)])

        push_producers(root)
        # Highest position first: when a producer is taken, every consumer it has
        # (all later in the program) has already been decided.
        while heap:
            p = nodes[-heapq.heappop(heap)]
            if id(p) in members or id(p) in dups or id(p) in assigned:
                continue
            if info[id(p)].iter_shape != rinfo.iter_shape or device(p) != device(root):
                continue
            cons = users(p)
            if id(p.outputs[0]) not in outputs and all(id(c) in members for c in cons):
                members.add(id(p))
                push_producers(p)
            elif dup_ok[id(p)]:
                dups.add(id(p))
        if len(members) + len(dups) < 2:
            continue
        g = len(groups)
        groups.append(_Group(root, members, dups))
        for m in members:
            assigned[m] = g

    if not groups:
        return False
    by_id = {id(n): n for n in nodes}
    for group in groups:
        fused = _build(group, by_id, index, info)
        out = group.root.outputs[0]
        fused.outputs = [out]
        out.producer, out.index = fused, 0
        nodes[index[id(group.root)]] = fused
    return True


def _build(group: _Group, by_id: dict[int, Node], index: dict[int, int], info: dict[int, _Info]) -> Node:
    root = group.root
    inside = group.members | group.dups
    # External inputs, numbered in order of first use in a left-to-right depth-first
    # walk from the root: deterministic, so the pass is idempotent and hashes are stable.
    inputs: list[Value] = []
    value_expr: dict[int, S.SExpr] = {}
    visited = {id(root)}
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        n, i = stack[-1]
        if i == len(n.inputs):
            stack.pop()
            continue
        stack[-1] = (n, i + 1)
        v = n.inputs[i]
        p = v.producer
        if p is not None and id(p) in inside:
            if id(p) not in visited:
                visited.add(id(p))
                stack.append((p, 0))
        elif id(v) not in value_expr:
            literal = _inline_const(v)
            if literal is not None:
                value_expr[id(v)] = literal
            else:
                value_expr[id(v)] = S.inp(len(inputs), v.dtype)
                inputs.append(v)

    ops: list[str] = []
    expr: S.SExpr | None = None
    for nid in sorted(inside, key=lambda k: index[k]):
        n = by_id[nid]
        args = [value_expr[id(v)] for v in n.inputs]
        template = info[nid].template
        assert template is not None
        e = S.substitute(template, args)
        value_expr[id(n.outputs[0])] = e
        ops.extend(n.attrs["ops"] if info[nid].fused else (n.op,))
        expr = e
    assert expr is not None and expr.dtype is not None
    out = root.outputs[0]
    rinfo = info[id(root)]
    shape = rinfo.iter_shape
    assert shape is not None
    element = _dt.as_dtype(expr.dtype)  # the output's dtype, or the reduced elements'
    attrs = fused_ops.elementwise_attrs(expr, element, shape, [v.shape for v in inputs], ops)
    if rinfo.kind == "red":
        attrs["dtype"] = out.dtype
        if rinfo.fused:
            attrs.update({k: v for k, v in root.attrs.items() if k in _EPILOGUE})
        else:
            rank = len(root.inputs[0].shape)
            axes = reduce_axes(root.attrs["axis"], rank)
            keepdims = bool(root.attrs.get("keepdims", False))
            attrs.update(fused_ops.reduction_attrs(root.op, element, shape, axes, keepdims))
    return Node(fused_ops.FUSED.name, inputs, attrs, [], root.origin, root.device)


# A Fused root's epilogue attrs, carried over when producers join its group.
_EPILOGUE = frozenset({"reduce_axes", "keepdims", "combiner", "identity", "accumulator_dtype", "count"})


# ---------------------------------------------------------------------------
# Seeing the result.


def _is_fused(node: Node) -> bool:
    try:
        return reg.get(node.op).has("fused")
    except KeyError:
        return False


def fusion_groups(program: Program) -> list[dict[str, Any]]:
    """One dict per Fused node, in program order: its position, op types, expression,
    epilogue (``reduce``: the reduction it came from, Sum, Mean, ...; ``axis``: the reduced
    axes), inputs and output (the CLI and the DOT export print these)."""
    labels = program.numbering().labels()
    out: list[dict[str, Any]] = []
    for k, n in enumerate(program.nodes):
        if not _is_fused(n):
            continue
        v = n.outputs[0]
        out.append(
            {
                "node": k,
                "value": labels[id(v)],
                "ops": list(n.attrs.get("ops", ())),
                "expr": S.format_expr(n.attrs["expr"]),
                "reduce": fused_ops.reduction_label(n.attrs),
                "axis": n.attrs.get("reduce_axes"),
                "inputs": [labels.get(id(x), "?") for x in n.inputs],
                "input_shapes": [f"{x.dtype.name}{format_shape(x.shape)}" for x in n.inputs],
                "output_shape": f"{v.dtype.name}{format_shape(v.shape)}",
                "origin": n.origin.name if n.origin is not None else None,
            }
        )
    return out
