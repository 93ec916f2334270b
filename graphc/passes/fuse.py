"""Elementwise fusion: groups of elementwise ops become one ``Fused`` node.

A ``Fused`` node holds a scalar expression DAG (graphc.scalar) over its
inputs ``in(i) = node.inputs[i]``, evaluated with NumPy broadcasting, and may end
in a reduction over static axes (an op with the "fusable_reduction" trait: Sum, Mean,
Max, Min, Prod). Its attrs:

- ``expr``: the SExpr; ``dtype``: the output dtype; ``ops``: the op types of the
  group, in program order;
- for a reduction epilogue: ``reduce`` (the op type), ``axis`` (a sorted tuple of
  non-negative ints) and ``keepdims``.

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

A group's expression is at most ``MAX_EXPR_DEPTH`` primitives deep (a longer
chain becomes several groups), so printing and comparing it stays well within
Python's recursion limit. A reduction is only ever a group's last step. MatMul, convolutions and every
other non-elementwise op are never in a group, so fusion never crosses their
inputs. The one exception to "every use inside the group" is a *cheap* node
(at most a couple of add/mul/max/compare-like primitives; no exp, log, div,
sqrt, ...) whose inputs all come from outside any elementwise chain (params,
constants, matmuls, reductions): it is copied into each of its consumers'
groups (at most a few), so its value is never written to memory; the bias add
feeding both a ReLU and the ReLU's gradient mask is the typical case. A scalar
(rank-0) constant input is written into the expression as a literal.

Guarantees: the outputs, params, dtypes and shapes are unchanged; the result is
canonical; nodes keep their origin (a fused node takes its root's); a group of
one node is left as it is; the pass is idempotent (a second run finds nothing
to do); the input program is not modified. ``program.meta["fusion_groups"]``
describes every Fused node of the result.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable
from typing import Any

import numpy as np

from graphc import registry as reg
from graphc import scalar as S
from graphc.ir.dims import LoweredDims
from graphc.ir.program import Node, Program, Value, canonicalize, format_shape
from graphc.passes.rewrite import copy_program

# Scalar primitives cheap enough to compute twice rather than store once.
CHEAP_PRIMITIVES = frozenset(
    {"add", "sub", "mul", "neg", "max", "min", "abs", "sign", "select", "cast"}
    | {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"}
)
MAX_DUPLICATE_COST = 2  # primitives in a node that may be copied into its consumers
MAX_DUPLICATES = 4  # consumers such a node may be copied into
# Deepest expression a group may have: SExpr printing and structural equality recurse
# on depth, so a long elementwise chain is cut into several groups instead.
MAX_EXPR_DEPTH = 160
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
    depth: int = 0  # of the template


def _classify(node: Node) -> _Info:
    info = _classify_op(node)
    if info.template is not None:
        info.depth = expr_depth(info.template)
        if info.depth > MAX_EXPR_DEPTH:
            return _Info(None)
    return info


def _classify_op(node: Node) -> _Info:
    if len(node.outputs) != 1 or node.outputs[0].dtype.is_string:
        return _Info(None)
    if any(v.dtype.is_string for v in node.inputs):
        return _Info(None)
    out = node.outputs[0]
    if node.op == "Fused":
        expr = node.attrs.get("expr")
        if not isinstance(expr, S.SExpr):
            return _Info(None)
        reduce = node.attrs.get("reduce")
        if reduce is None:
            return _Info("ew", expr, tuple(out.shape))
        if not is_fusable_reduction(reduce):
            return _Info(None)
        return _Info("red", expr, broadcast_shapes([v.shape for v in node.inputs]))
    try:
        opdef = reg.get(node.op)
    except KeyError:
        return _Info(None)
    if opdef.has("random") or opdef.has("stateful"):
        return _Info(None)
    if opdef.has("fusable_reduction") and len(node.inputs) == 1 and "axis" in node.attrs:
        return _Info("red", S.inp(0), tuple(node.inputs[0].shape))
    if not opdef.has("elementwise") or opdef.scalar is None:
        return _Info(None)
    try:
        template = opdef.scalar([S.inp(i) for i in range(len(node.inputs))], node.attrs)
    except (TypeError, ValueError, KeyError):
        return _Info(None)  # a scalar rule that cannot take these attrs: leave the node alone
    if not isinstance(template, S.SExpr):
        template = S.const(template)
    return _Info("ew", template, tuple(out.shape), _is_cheap(template))


def is_fusable_reduction(op: Any) -> bool:
    """Whether ``op`` names a registered op that may end a group (the "fusable_reduction"
    trait: its reference, applied to the group's elementwise result, is the fused node's
    meaning)."""
    if not isinstance(op, str):
        return False
    try:
        return reg.get(op).has("fusable_reduction")
    except KeyError:
        return False


def _is_cheap(expr: S.SExpr) -> bool:
    cost = 0
    for e in walk_expr(expr):
        if e.op in ("in", "const"):
            continue
        if e.op not in CHEAP_PRIMITIVES:
            return False
        cost += 1
    return cost <= MAX_DUPLICATE_COST


def expr_depth(expr: S.SExpr) -> int:
    """Primitives on the longest path from the expression's root to a leaf."""
    depth: dict[S.SExpr, int] = {}
    for e in walk_expr(expr):
        depth[e] = 0 if not e.args else 1 + max(depth[a] for a in e.args)
    return depth[expr]


def walk_expr(expr: S.SExpr) -> list[S.SExpr]:
    """The distinct nodes of an expression DAG, each after its arguments."""
    order: list[S.SExpr] = []
    done: set[S.SExpr] = set()
    stack: list[tuple[S.SExpr, bool]] = [(expr, False)]
    while stack:
        e, expanded = stack.pop()
        if e in done:
            continue
        if expanded:
            done.add(e)
            order.append(e)
            continue
        stack.append((e, True))
        stack.extend((a, False) for a in reversed(e.args) if a not in done)
    return order


# Broadcasting in an already lowered program (graphc.ir.dims): equal dims merge, others are kept.
_LenientDims = LoweredDims


def broadcast_shapes(shapes: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
    shapes = [tuple(s) for s in shapes]
    if not shapes:
        return ()
    ctx = reg.InferenceContext("Fused", shapes, [], [], {}, _LenientDims())
    out = ctx.broadcast(*shapes)
    assert out is not None
    return tuple(out)


def reduce_axes(axis: Any, rank: int) -> tuple[int, ...]:
    """A reduction's axis attr as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, int | np.integer):
        axis = (axis,)
    return tuple(sorted({int(a) % rank if rank else 0 for a in axis}))


def _inline_const(v: Value) -> S.SExpr | None:
    """A rank-0 constant as a literal of the expression: a NumPy scalar of the constant's
    dtype, so NumPy promotes exactly as with the unfused constant, and literals of different
    dtypes (int64 1, float32 1.0) stay different expressions."""
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

    def users(n: Node) -> list[Node]:
        return consumers.get(id(n.outputs[0]), [])

    def duplicable(n: Node) -> bool:
        inf = info[id(n)]
        if inf.kind != "ew" or not inf.cheap or n.op == "Fused" or id(n.outputs[0]) in outputs:
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
        height = {id(root): 0}  # how deep a member's expression sits in the group's

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
            if info[id(p)].iter_shape != rinfo.iter_shape:
                continue
            cons = users(p)
            h = max(height[id(c)] + info[id(c)].depth for c in cons if id(c) in height)
            if h + info[id(p)].depth > MAX_EXPR_DEPTH:
                continue
            if id(p.outputs[0]) not in outputs and all(id(c) in members for c in cons):
                members.add(id(p))
                height[id(p)] = h
                push_producers(p)
            elif dup_ok[id(p)]:
                dups.add(id(p))
                height[id(p)] = h
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
                value_expr[id(v)] = S.inp(len(inputs))
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
        ops.extend(n.attrs["ops"] if n.op == "Fused" else (n.op,))
        expr = e
    assert expr is not None
    out = root.outputs[0]
    attrs: dict[str, Any] = {"expr": expr, "dtype": out.dtype, "ops": tuple(ops)}
    if info[id(root)].kind == "red":
        if root.op == "Fused":
            attrs.update(
                reduce=root.attrs["reduce"], axis=root.attrs["axis"], keepdims=root.attrs["keepdims"]
            )
        else:
            rank = len(root.inputs[0].shape)
            attrs.update(
                reduce=root.op,
                axis=reduce_axes(root.attrs["axis"], rank),
                keepdims=bool(root.attrs.get("keepdims", False)),
            )
    return Node("Fused", inputs, attrs, [], root.origin)


# ---------------------------------------------------------------------------
# Seeing the result.


def fusion_groups(program: Program) -> list[dict[str, Any]]:
    """One dict per Fused node, in program order: its position, op types, expression,
    inputs and output (the CLI and the DOT export print these)."""
    labels = program.numbering().labels()
    out: list[dict[str, Any]] = []
    for k, n in enumerate(program.nodes):
        if n.op != "Fused":
            continue
        v = n.outputs[0]
        out.append(
            {
                "node": k,
                "value": labels[id(v)],
                "ops": list(n.attrs.get("ops", ())),
                "expr": format_expr(n.attrs["expr"]),
                "reduce": n.attrs.get("reduce"),
                "axis": n.attrs.get("axis"),
                "inputs": [labels.get(id(x), "?") for x in n.inputs],
                "input_shapes": [f"{x.dtype.name}{format_shape(x.shape)}" for x in n.inputs],
                "output_shape": f"{v.dtype.name}{format_shape(v.shape)}",
                "origin": n.origin.name if n.origin is not None else None,
            }
        )
    return out


_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2)}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "&", "or": "|"}


def format_expr(expr: S.SExpr, input_names: list[str] | None = None) -> str:
    """Infix text of a scalar expression; inputs print as ``in0, in1, ...`` (or the given
    names) and a subexpression used more than once is named once (``t0 = ...; ...``)."""
    order = walk_expr(expr)
    uses: dict[S.SExpr, int] = {}
    for e in order:
        for a in e.args:
            uses[a] = uses.get(a, 0) + 1
    text: dict[S.SExpr, tuple[str, int]] = {}  # expression -> (text, precedence)
    lets: list[str] = []
    atom = 9
    for e in order:
        if e.op == "in":
            name = input_names[e.attr] if input_names is not None else f"in{e.attr}"
            text[e] = (name, atom)
            continue
        if e.op == "const":
            text[e] = (format_literal(e.attr), atom)
            continue
        if e.op in _INFIX:
            sym_, prec = _INFIX[e.op]
            (a, pa), (b, pb) = (text[x] for x in e.args)
            left = a if pa >= prec else f"({a})"
            # a - (b + c), a / (b * c): the right operand needs parentheses at equal precedence.
            right = b if pb > prec or (pb == prec and e.op in ("add", "mul")) else f"({b})"
            s, p = f"{left} {sym_} {right}", prec
        elif e.op in _COMPARE:
            (a, pa), (b, pb) = (text[x] for x in e.args)
            s, p = f"{a if pa > 0 else f'({a})'} {_COMPARE[e.op]} {b if pb > 0 else f'({b})'}", 0
        elif e.op == "neg":
            a, pa = text[e.args[0]]
            s, p = f"-{a}" if pa >= 3 else f"-({a})", 3
        elif e.op == "cast":
            s, p = f"cast<{e.attr}>({text[e.args[0]][0]})", atom
        else:
            s, p = f"{e.op}({', '.join(text[a][0] for a in e.args)})", atom
        if uses.get(e, 0) > 1 and e is not expr:
            name = f"t{len(lets)}"
            lets.append(f"{name} = {s}")
            s, p = name, atom
        text[e] = (s, p)
    body = text[expr][0]
    return "; ".join([*lets, body])


def format_literal(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        f = float(v)
        # A float32 constant reads as the literal the user wrote (0.9, not 0.8999999761581421).
        if np.isfinite(f) and float(np.float32(f)) == f:
            return str(np.float32(f))
        return repr(f)
    return str(v)
