"""Constant folding through each op's reference implementation.

Guarantees: the returned program computes the same outputs as its input. A node
output is replaced by a Const holding the value the op's reference (its
definition) computes when

- every input is a constant (a Const, or an output folded already), or
- the op's value depends only on its inputs' shapes (the "shape_only" trait: Shape,
  Size, Rank, ZerosLike, OnesLike) and those shapes are static (Rank: the rank is always
  known), or
- the op's partial-value rule gives it fully (e.g. a static entry of a shape),

and never when the result would hold more than ``MAX_FOLD_ELEMENTS`` elements, for an
op with the "random" or "stateful" trait, for anything that depends on a program
input's value (feeds, including placeholders, variables and random counters are never
constants), or when the reference raises (the error then happens when the program
runs, naming the user's op). A folded constant takes the folded node's origin. One
sweep in program order reaches the fixpoint, so the pass is idempotent.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from graphc import registry as reg
from graphc.ir.program import Node, Program, Value, canonicalize
from graphc.passes.rewrite import MAX_CONST_ELEMENTS, Rewriter, copy_program

MAX_FOLD_ELEMENTS = MAX_CONST_ELEMENTS

# Traits whose ops are never folded: their value is not a function of their inputs' values.
# (Placeholders, variables and NoOps never reach a program; a Const is a constant already.)
_NEVER = frozenset({"random", "stateful"})


def fold(program: Program) -> Program:
    """Fold constants (see the module docstring); returns a new canonical program."""
    program = copy_program(program)
    rw = Rewriter(program)
    consts: dict[int, np.ndarray] = {}
    for node in list(program.nodes):
        if id(node) in rw.dead:
            continue
        if node.op == "Const":
            consts[id(node.outputs[0])] = np.asarray(node.attrs["value"])
            continue
        results = _evaluate(node, consts, rw.pvalues)
        if results is None:
            continue
        for out, arr in zip(node.outputs, results, strict=True):
            if arr is None or not rw.n_uses(out):
                continue
            rw.origin = node.origin
            rw.device = node.device
            new = rw.constant(arr, out.dtype)
            consts[id(new)] = np.asarray(arr)
            rw.replace(out, new)
    canonicalize(program)
    return program


def _evaluate(
    node: Node, consts: dict[int, np.ndarray], pvalues: dict[int, Any]
) -> list[np.ndarray | None] | None:
    """The value of each of ``node``'s outputs when it can be folded (None where not)."""
    try:
        opdef = reg.get(node.op)
    except KeyError:
        return None  # not a registered op (e.g. Fused): no reference to run
    if opdef.traits & _NEVER:
        return None
    if all(id(v) in consts for v in node.inputs):
        inputs = [consts[id(v)] for v in node.inputs]
    elif node.op == "Rank":
        inputs = [_dummy(v, rank_only=True) for v in node.inputs]
    elif opdef.has("shape_only") and all(_static(v) for v in node.inputs):
        inputs = [_dummy(v) for v in node.inputs]
    else:
        return _from_partial_values(node, pvalues)
    if any(_size(v) > MAX_FOLD_ELEMENTS for v in node.outputs):
        return None  # decided before running the reference: never build a large array
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = opdef.reference(inputs, node.attrs)
    except Exception:  # noqa: BLE001  (the op's own error is reported when the program runs)
        return None
    if len(results) != len(node.outputs):
        return None
    return [_checked(out, r) for out, r in zip(node.outputs, results, strict=True)]


def _from_partial_values(node: Node, pvalues: dict[int, Any]) -> list[np.ndarray | None] | None:
    """Outputs whose partial value (from the op's value rule) holds no unknowns."""
    found: list[np.ndarray | None] = []
    for out in node.outputs:
        pv = pvalues.get(id(out))
        if pv is None or not out.dtype.is_integer or not _static(out):
            found.append(None)
            continue
        arr = np.asarray(pv, dtype=object)
        if not all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in arr.flat):
            found.append(None)
            continue
        found.append(_checked(out, np.array(arr.tolist(), dtype=np.int64).reshape(arr.shape)))
    return found if any(f is not None for f in found) else None


def _checked(out: Value, result: Any) -> np.ndarray | None:
    """``result`` as out's dtype, if it has out's (static) shape and is small enough."""
    if out.dtype.is_string:
        return None
    arr = np.asarray(result)
    if not _static(out) or arr.shape != tuple(out.shape) or arr.size > MAX_FOLD_ELEMENTS:
        return None
    if arr.dtype != out.dtype.np:
        if arr.dtype.kind == "f" and out.dtype.is_integer and not np.all(np.isfinite(arr)):
            return None
        arr = arr.astype(out.dtype.np)
    return arr


def _static(v: Value) -> bool:
    return all(isinstance(d, int) for d in v.shape)


def _size(v: Value) -> int:
    return int(np.prod(v.shape, dtype=np.int64)) if _static(v) else 0


def _dummy(v: Value, rank_only: bool = False) -> np.ndarray:
    """An array with v's dtype and shape (or only its rank) that costs no memory."""
    shape = (1,) * len(v.shape) if rank_only else tuple(int(d) for d in v.shape)  # type: ignore[arg-type]
    return np.broadcast_to(np.zeros((), dtype=v.dtype.np), shape)
