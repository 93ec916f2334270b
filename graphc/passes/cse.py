"""Common-subexpression elimination (structural).

Guarantees: the returned program computes the same outputs as its input (for an op
with the "commutative" trait, up to which NaN comes out). Two nodes become one (the
first in program order, keeping its origin) when they have the same op, the same input
values (in either order for a "commutative" op), equal attributes and the same output
types; Consts with equal values (dtype, shape and bytes) merge the same way.
Attributes compare by value: NumPy arrays by dtype, shape and bytes, floats by their
exact text (so -0.0 and 0.0 differ), scalar expressions by structure (an SExpr is
interned, so its identity is its structure, literal dtypes and bits included). Ops with the "random" or "stateful" trait never merge. One sweep in
program order reaches the fixpoint (an input merged earlier is seen merged by its
users), so the pass is idempotent.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.ir import devices
from graphc.ir.program import Node, Program, Value, canonicalize
from graphc.passes.rewrite import copy_program
from graphc.scalar import SExpr


def cse(program: Program) -> Program:
    """Merge structurally identical nodes (see the module docstring)."""
    program = copy_program(program)
    seen: dict[Hashable, Node] = {}
    subst: dict[int, Value] = {}
    for node in program.nodes:
        node.inputs = [subst.get(id(v), v) for v in node.inputs]
        key = node_key(node)
        if key is None:
            continue
        first = seen.setdefault(key, node)
        if first is not node:
            for dup, kept in zip(node.outputs, first.outputs, strict=True):
                subst[id(dup)] = kept
    for o in program.outputs:
        o.value = subst.get(id(o.value), o.value)
    canonicalize(program)
    return program


def node_key(node: Node) -> Hashable | None:
    """What makes two nodes interchangeable; None for a node that must stay distinct."""
    try:
        opdef = reg.get(node.op)
    except KeyError:
        return None
    if opdef.has("random") or opdef.has("stateful"):
        return None
    commutative = opdef.has("commutative")
    inputs = [id(v) for v in node.inputs]
    if commutative and len(inputs) == 2:
        inputs.sort()
    try:
        attrs = freeze(node.attrs)
    except _Unhashable:
        return None
    outs = tuple((v.dtype, tuple(v.shape)) for v in node.outputs)
    # Nodes placed on different devices stay apart (the device's normal form compares).
    return (node.op, tuple(inputs), attrs, outs, devices.comparable(node.device))


class _Unhashable(Exception):
    pass


def freeze(x: Any) -> Hashable:
    """A hashable key equal for equal attribute values and different for different ones
    (the type is part of it: True, 1 and 1.0 differ)."""
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return ("ndarray", "O", x.shape, repr(x.tolist()))
        return ("ndarray", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, np.generic):
        return ("scalar", x.dtype.str, x.tobytes())
    if isinstance(x, float):
        return ("float", repr(x))
    if x is None or isinstance(x, bool | int | str | bytes):
        return (type(x).__name__, x)
    if isinstance(x, _dt.DType):
        return ("dtype", x.name)
    if isinstance(x, list | tuple):
        return (type(x).__name__, tuple(freeze(v) for v in x))
    if isinstance(x, dict):
        return ("dict", tuple(sorted((str(k), freeze(v)) for k, v in x.items())))
    if isinstance(x, SExpr):
        return ("sexpr", x)
    try:
        hash(x)
    except TypeError:
        raise _Unhashable from None
    return (type(x).__name__, x)
