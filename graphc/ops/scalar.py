"""Scalar expressions: the per-element meaning of elementwise ops.

Each elementwise op's ``scalar`` rule builds an :class:`SExpr` over its inputs
from the small, fixed set of primitives below. Fusion composes these
expressions into one DAG per fused group; the NumPy backend evaluates them with
:func:`evaluate`; the LLVM and CUDA code generators render each primitive once.
A primitive added here must be added to every renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class SExpr:
    """A node of a scalar expression DAG (immutable, hash-consed by structure)."""

    __slots__ = ("op", "args", "attr", "_hash")

    def __init__(self, op: str, args: Sequence[SExpr] = (), attr: Any = None) -> None:
        if op not in PRIMITIVES and op not in ("in", "const"):
            raise ValueError(f"unknown scalar primitive {op!r}")
        self.op = op
        self.args = tuple(args)
        self.attr = attr
        self._hash = hash((op, self.args, _hashable(attr)))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SExpr)
            and self._hash == other._hash
            and self.op == other.op
            and self.args == other.args
            and _hashable(self.attr) == _hashable(other.attr)
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        # Iterative: fused expressions can be deep.
        text: dict[SExpr, str] = {}
        stack: list[tuple[SExpr, bool]] = [(self, False)]
        while stack:
            node, ready = stack.pop()
            if node in text:
                continue
            if node.op == "in":
                text[node] = f"in{node.attr}"
            elif node.op == "const":
                text[node] = _literal(node.attr)
            elif not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in text)
            else:
                inner = ", ".join(text[a] for a in node.args)
                if node.attr is not None:
                    inner += f"; {node.attr}"
                text[node] = f"{node.op}({inner})"
        return text[self]

    # Operators make the op rules read like formulas.
    def __add__(self, o: Any) -> SExpr:
        return SExpr("add", (self, _lift(o)))

    def __radd__(self, o: Any) -> SExpr:
        return SExpr("add", (_lift(o), self))

    def __sub__(self, o: Any) -> SExpr:
        return SExpr("sub", (self, _lift(o)))

    def __rsub__(self, o: Any) -> SExpr:
        return SExpr("sub", (_lift(o), self))

    def __mul__(self, o: Any) -> SExpr:
        return SExpr("mul", (self, _lift(o)))

    def __rmul__(self, o: Any) -> SExpr:
        return SExpr("mul", (_lift(o), self))

    def __truediv__(self, o: Any) -> SExpr:
        return SExpr("div", (self, _lift(o)))

    def __rtruediv__(self, o: Any) -> SExpr:
        return SExpr("div", (_lift(o), self))

    def __neg__(self) -> SExpr:
        return SExpr("neg", (self,))


def _literal(v: Any) -> str:
    if isinstance(v, np.generic):
        return f"{v.item()!r}:{v.dtype.name}"
    return repr(v)


def _hashable(a: Any) -> Any:
    # Keep the type: const(1) and const(1.0) differ (int + 1.0 would promote to float).
    if isinstance(a, np.generic):
        return (a.dtype.str, a.item())
    if isinstance(a, bool | int | float):
        return (type(a).__name__, a)
    return a


def _lift(v: Any) -> SExpr:
    return v if isinstance(v, SExpr) else const(v)


def inp(i: int) -> SExpr:
    return SExpr("in", (), i)


def const(v: float | int | bool) -> SExpr:
    return SExpr("const", (), v)


def call(op: str, *args: Any, attr: Any = None) -> SExpr:
    return SExpr(op, tuple(_lift(a) for a in args), attr)


def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.round(x)


def _erf(x: np.ndarray) -> np.ndarray:
    from graphc.ops.kernels.special import erf

    return erf(x)


def _cast(x: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(x).astype(np.dtype(dtype), copy=False)


def _floordiv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor_divide(x, y)


def _floormod(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mod(x, y)


# Primitive -> NumPy evaluation. Every renderer implements exactly these.
PRIMITIVES: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "floordiv": _floordiv,
    "mod": _floormod,
    "pow": np.power,
    "neg": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "exp": np.exp,
    "expm1": np.expm1,
    "log": np.log,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "erf": _erf,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": _round_half_even,
    "max": np.maximum,
    "min": np.minimum,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "and": np.logical_and,
    "or": np.logical_or,
    "not": np.logical_not,
    "select": np.where,
    "cast": _cast,  # attr: numpy dtype name
}


def evaluate(expr: SExpr, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Evaluate ``expr`` elementwise with NumPy broadcasting (iteratively, memoised)."""
    memo: dict[SExpr, Any] = {}
    stack: list[tuple[SExpr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        if node.op == "in":
            memo[node] = inputs[node.attr]
            continue
        if node.op == "const":
            memo[node] = node.attr
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in memo)
            continue
        args = [memo[a] for a in node.args]
        with np.errstate(all="ignore"):
            if node.op == "cast":
                memo[node] = _cast(args[0], node.attr)
            else:
                memo[node] = PRIMITIVES[node.op](*args)
    return memo[expr]


def substitute(expr: SExpr, args: Sequence[SExpr]) -> SExpr:
    """Replace ``in(i)`` by ``args[i]`` (to compose expressions during fusion)."""
    memo: dict[SExpr, SExpr] = {}
    stack: list[tuple[SExpr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        if node.op == "in":
            memo[node] = args[node.attr]
        elif node.op == "const":
            memo[node] = node
        elif not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in memo)
        else:
            memo[node] = SExpr(node.op, tuple(memo[a] for a in node.args), node.attr)
    return memo[expr]
