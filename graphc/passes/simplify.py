"""Algebraic simplification: rewrites that remove work without changing any result.

Guarantees: the returned program computes the same outputs as its input, with the
same dtypes and shapes, bit for bit, IEEE special values included: for floats,
``x + 0.0`` is left alone (it turns -0.0 into +0.0; ``x + (-0.0)`` is the exact
identity) and ``x - x`` is left alone (it is NaN where x is infinite or NaN), so a NaN
or inf in a loss is never hidden by a rewrite. Every rule removes a node or replaces it
by a cheaper one, so the rule set reaches a fixpoint and the pass is idempotent.

The rules (x is any value, 1 and 0 are constants whose every element is that number,
including broadcasts, fills and ones_like/zeros_like of one):

- ``Identity(x)``, ``StopGradient(x)``, ``CustomGradient`` outputs -> their input
  (gradients were built before lowering; at run time they only forward values)
- ``x * 1``, ``1 * x``, ``x / 1`` -> x; ``x + 0``, ``0 + x``, ``x - 0`` -> x where the
  zero is the exact identity (any 0 for integers; -0.0 to add and +0.0 to subtract for
  floats); ``x // 1`` for integer x -> x
- ``x - x`` for integer or bool x -> zeros (a constant when the shape is static and
  small, else ZerosLike(x))
- ``-(-x)`` -> x
- ``transpose(transpose(x, p), q)`` -> one transpose by the composed permutation, or x;
  a transpose by the identity permutation -> x
- ``reshape(reshape(x, s), t)`` -> ``reshape(x, t)``; a reshape to x's own shape -> x
- a cast to x's own dtype, a BroadcastTo or SumToShape that keeps x's shape -> x
- ``Shape``/``Size``/``Rank`` of an elementwise op's output -> of the op's input that has
  the same shape (so the op's work is not kept alive only for its shape)

A rewrite that would change an output's shape (``x * ones`` where the ones broadcast
x to a larger shape) keeps the broadcast as a BroadcastTo when the shape is static,
and is skipped when it is symbolic.
"""

from __future__ import annotations

import numpy as np

from graphc import registry as reg
from graphc.ir.program import Program, Value
from graphc.passes.rewrite import (
    MAX_CONST_ELEMENTS,
    Match,
    Pat,
    Rewriter,
    Rule,
    broadcast_as,
    const,
    constant_elements,
    is_static,
    look_through,
    op,
    rewrite,
    same_shape,
    var,
)


def _exact_zero(negative: bool) -> Pat:
    """A zero constant that is an exact identity for + (negative=True) or - (False):
    any zero for integers; for floats only the zero whose sign keeps every x, including
    -0.0, unchanged (x + -0.0 == x and x - +0.0 == x bit for bit)."""

    def ok(v: Value) -> bool:
        arr = constant_elements(v)
        if arr is None or arr.size == 0 or arr.dtype.kind not in "biuf" or not np.all(arr == 0):
            return False
        return arr.dtype.kind != "f" or bool(np.all(np.signbit(arr) == negative))

    return Pat(where=ok)


def _not_float(v: Value) -> bool:
    return not v.dtype.is_floating


def _keep_x(rw: Rewriter, m: Match) -> Value:
    return broadcast_as(rw, m["x"], m.root)


def _forward_custom_gradient(rw: Rewriter, m: Match) -> Value:
    node = m.node
    return look_through(node.inputs[node.attrs["n_x"] + m.root.index])


def _zeros(rw: Rewriter, m: Match) -> Value:
    """x - x: a constant when small and static (x is then no longer needed), else ZerosLike."""
    root = m.root
    if is_static(root.shape) and int(np.prod(root.shape, dtype=np.int64)) <= MAX_CONST_ELEMENTS:
        return rw.constant(np.zeros(tuple(root.shape), dtype=root.dtype.np), root.dtype)  # type: ignore[arg-type]
    return rw.make1("ZerosLike", [m["x"]])


def _perm(perm: tuple[int, ...] | None, rank: int) -> tuple[int, ...]:
    return tuple(reversed(range(rank))) if perm is None else tuple(int(p) % rank for p in perm)


def _compose_transposes(rw: Rewriter, m: Match) -> Value:
    """transpose(transpose(x, p), q)[i] is x's axis p[q[i]]."""
    x = m["x"]
    rank = len(x.shape)
    inner = _perm(m["inner"].producer.attrs["perm"], rank)  # type: ignore[union-attr]
    outer = _perm(m.node.attrs["perm"], rank)
    composed = tuple(inner[j] for j in outer)
    if composed == tuple(range(rank)):
        return x
    return rw.make1("Transpose", [x], {"perm": composed})


def _identity_transpose(rw: Rewriter, m: Match) -> Value | None:
    x = m["x"]
    if _perm(m.node.attrs["perm"], len(x.shape)) != tuple(range(len(x.shape))):
        return None
    return x


def _merge_reshapes(rw: Rewriter, m: Match) -> Value:
    return rw.make1("Reshape", [m["x"], m["s"]], dict(m.node.attrs), like=m.root)


def _unchanged(rw: Rewriter, m: Match) -> Value | None:
    """A shape or dtype change that changes nothing: the input itself."""
    x = m["x"]
    return x if x.dtype == m.root.dtype and same_shape(x, m.root) else None


def _shape_of_source(rw: Rewriter, m: Match) -> Value | None:
    """Shape/Size/Rank of an elementwise op's output: of its same-shaped input instead."""
    v = m["v"]
    producer = v.producer
    if producer is None:
        return None
    try:
        elementwise = reg.get(producer.op).has("elementwise")
    except KeyError:
        return None
    if not elementwise:
        return None
    for x in producer.inputs:
        x = look_through(x)
        if same_shape(x, v):
            return rw.make1(m.node.op, [x], dict(m.node.attrs), like=m.root)
    return None


RULES: list[Rule] = [
    # Run-time no-ops. Their gradient meaning was used before lowering.
    Rule("identity", op(("Identity", "StopGradient"), var("x")), lambda rw, m: m["x"]),
    Rule("custom_gradient", op("CustomGradient"), _forward_custom_gradient),
    # Neutral elements.
    Rule("mul_one", op("Mul", var("x"), const(1), commutative=True), _keep_x),
    Rule("add_zero", op("Add", var("x"), _exact_zero(negative=True), commutative=True), _keep_x),
    Rule("sub_zero", op("Sub", var("x"), _exact_zero(negative=False)), _keep_x),
    Rule("div_one", op("RealDiv", var("x"), const(1)), _keep_x),
    Rule("floordiv_one", op("FloorDiv", var("x", where=lambda v: v.dtype.is_integer), const(1)), _keep_x),
    Rule("sub_self", op("Sub", var("x", where=_not_float), var("x")), _zeros),
    Rule("neg_neg", op("Neg", op("Neg", var("x"))), lambda rw, m: m["x"]),
    # Layout chains.
    Rule(
        "transpose_transpose", op("Transpose", op("Transpose", var("x"), bind="inner")), _compose_transposes
    ),
    Rule("transpose_identity", op("Transpose", var("x")), _identity_transpose),
    Rule("reshape_reshape", op("Reshape", op("Reshape", var("x"), var()), var("s")), _merge_reshapes),
    Rule("reshape_noop", op("Reshape", var("x"), var()), _unchanged),
    Rule("cast_noop", op("Cast", var("x")), _unchanged),
    Rule("broadcast_noop", op("BroadcastTo", var("x"), var()), _unchanged),
    Rule("sum_to_shape_noop", op("SumToShape", var("x"), var()), _unchanged),
    # Shapes of elementwise results.
    Rule("shape_of_source", op(("Shape", "Size", "Rank"), var("v")), _shape_of_source),
]


def simplify(program: Program) -> Program:
    """Apply the algebraic simplification rules (module docstring) to a fixpoint."""
    return rewrite(program, RULES)
