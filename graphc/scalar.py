"""Scalar expressions: the per-element meaning of elementwise ops.

Each elementwise op's ``scalar`` rule builds an :class:`SExpr` over its inputs
from the small, fixed set of primitives below. Fusion composes these
expressions into one DAG per fused group; the NumPy backend compiles each into a
flat list of NumPy calls with :func:`compile_numpy` (:func:`evaluate` walks the
expression instead, for one-off use); the LLVM and CUDA code generators render each
primitive once.
A primitive added here must be added to every renderer.
"""

from __future__ import annotations

import struct
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class SExpr:
    """A node of a scalar expression DAG: immutable and interned, so two structurally
    equal expressions are the same object (equality and hashing cost O(1), and shared
    subexpressions are never expanded into a tree)."""

    __slots__ = ("op", "args", "attr", "_hash", "__weakref__")

    def __new__(cls, op: str, args: Sequence[SExpr] = (), attr: Any = None) -> SExpr:
        if op not in PRIMITIVES and op not in ("in", "const"):
            raise ValueError(f"unknown scalar primitive {op!r}")
        args = tuple(args)
        # Arguments are interned, so their identities stand for their structure; an
        # entry lives as long as its expression, which keeps its arguments (and ids) alive.
        key = (op, tuple(id(a) for a in args), _attr_key(attr))
        hit = _INTERNED.get(key)
        if hit is not None:
            return hit
        self = object.__new__(cls)
        self.op = op
        self.args = args
        self.attr = attr
        self._hash = hash(key)
        _INTERNED[key] = self
        return self

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (SExpr, (self.op, self.args, self.attr))

    def __copy__(self) -> SExpr:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SExpr:
        return self

    def __repr__(self) -> str:
        """The expression as text; a subexpression used more than once is printed once, as
        ``{t0 = ...; t1 = ...; result}``, so the text grows with the DAG, not the tree."""
        order = _postorder(self)
        uses: dict[SExpr, int] = {}
        for node in order:
            for a in node.args:
                uses[a] = uses.get(a, 0) + 1
        text: dict[SExpr, str] = {}
        lets: list[str] = []
        for node in order:
            if node.op == "in":
                t = f"in{node.attr}"
            elif node.op == "const":
                t = _literal(node.attr)
            else:
                inner = ", ".join(text[a] for a in node.args)
                if node.attr is not None:
                    inner += f"; {node.attr}"
                t = f"{node.op}({inner})"
                if uses.get(node, 0) > 1 and node is not self:
                    name = f"t{len(lets)}"
                    lets.append(f"{name} = {t}")
                    t = name
            text[node] = t
        return "{" + "; ".join([*lets, text[self]]) + "}" if lets else text[self]

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


def _attr_key(a: Any) -> Any:
    """A key that tells apart what must stay apart: 1, 1.0 and True (int + 1.0 would
    promote to float), and 0.0 and -0.0 (1/x differs); floats compare by their bits."""
    if isinstance(a, np.generic):
        return (a.dtype.str, a.tobytes())
    if isinstance(a, bool):
        return ("bool", a)
    if isinstance(a, int):
        return ("int", a)
    if isinstance(a, float):
        return ("float", struct.pack("<d", a))
    return (type(a).__name__, a)


def _postorder(expr: SExpr) -> list[SExpr]:
    """Each distinct node once, arguments before their users (iterative)."""
    order: list[SExpr] = []
    done: set[SExpr] = set()
    stack: list[tuple[SExpr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if ready:
            done.add(node)
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(node.args) if a not in done)
    return order


_INTERNED: weakref.WeakValueDictionary[tuple[Any, ...], SExpr] = weakref.WeakValueDictionary()


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
    from graphc.kernels.special import erf

    return erf(x)


def _cast(x: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(x).astype(np.dtype(dtype), copy=False)


# Primitive -> NumPy evaluation. Every renderer implements exactly these.
PRIMITIVES: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "floordiv": np.floor_divide,
    "mod": np.mod,
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
    """Evaluate ``expr`` elementwise with NumPy broadcasting (iteratively, memoised),
    ignoring floating-point errors (division by zero gives inf or nan, as compiled code
    does). The plain definition; :func:`compile_numpy` is the fast form of the same calls."""
    memo: dict[SExpr, Any] = {}
    stack: list[tuple[SExpr, bool]] = [(expr, False)]
    with np.errstate(all="ignore"):
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
            if node.op == "cast":
                memo[node] = _cast(args[0], node.attr)
            else:
                memo[node] = PRIMITIVES[node.op](*args)
    return memo[expr]


def compile_numpy(expr: SExpr) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """``expr`` as a function of its inputs that makes one NumPy call per distinct
    primitive (the same calls, on the same values, as :func:`evaluate`). The walk over the
    DAG happens here, once; a call only runs the flat list of steps. The function leaves
    floating-point errors to the caller's ``np.errstate`` (the NumPy backend enters
    ``errstate(all="ignore")`` once per run)."""
    registers: list[Any] = []  # initial register file: constants, None where a step writes
    slot_of: dict[SExpr, int] = {}  # structurally equal subexpressions share a register
    loads: list[tuple[int, int]] = []  # (register, input index)
    steps: list[tuple[Callable[..., Any], int, tuple[int, ...]]] = []  # (function, out, args)
    stack: list[tuple[SExpr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in slot_of:
            continue
        if node.op not in ("in", "const") and not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in slot_of)
            continue
        k = len(registers)
        slot_of[node] = k
        if node.op == "in":
            registers.append(None)
            loads.append((k, node.attr))
        elif node.op == "const":
            registers.append(node.attr)
        else:
            registers.append(None)
            steps.append((_step_function(node), k, tuple(slot_of[a] for a in node.args)))
    root = slot_of[expr]
    if not steps:
        if expr.op == "in":
            index = expr.attr
            return lambda inputs: inputs[index]
        value = expr.attr
        return lambda inputs: value

    def run(inputs: Sequence[np.ndarray]) -> np.ndarray:
        regs = registers.copy()
        for k, i in loads:
            regs[k] = inputs[i]
        for fn, out, args in steps:
            regs[out] = fn(*[regs[a] for a in args])
        return regs[root]

    return run


def _step_function(node: SExpr) -> Callable[..., Any]:
    if node.op == "cast":
        dtype = np.dtype(node.attr)
        return lambda x: np.asarray(x).astype(dtype, copy=False)
    return PRIMITIVES[node.op]


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
