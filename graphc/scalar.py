"""Scalar expressions: the per-element meaning of elementwise ops.

Each elementwise op's ``scalar`` rule builds an :class:`SExpr` over its inputs from the
small, fixed set of primitives below. Fusion composes these expressions into one DAG per
fused group; the NumPy backend compiles each into a flat list of NumPy calls with
:func:`compile_numpy` (:func:`evaluate` walks the expression instead, for one-off use);
the LLVM and CUDA code generators render each primitive once. A primitive added here
must be added to :data:`SIGNATURES`, to :data:`EDGE_CASES` and to every renderer.

Types. Every node has a result dtype, ``e.dtype`` (a NumPy dtype). An ``in`` leaf takes
its dtype when it is made (``inp(i, dtype)``); a literal made from a NumPy scalar has that
scalar's dtype; a primitive's dtype follows from its arguments by its rule in
:data:`SIGNATURES`. A literal written as a Python ``bool``/``int``/``float`` (as op rules
do: ``max(x, 0)``) is *weak*: its dtype is None until :func:`typed` gives it the dtype its
primitive's rule implies (the other operand's dtype for arithmetic and comparisons, bool
for a ``select`` condition and for logical operands, the branch dtype for ``select``'s
branches); a node whose arguments are all weak is weak too. :func:`typed` returns the
expression with every node typed, so nothing is left to NumPy's promotion rules (which
differ between NumPy 1.x and 2.x); mixing dtypes where a primitive needs equal ones, or a
literal its dtype cannot hold, makes it raise :class:`ScalarTypeError` (building such a
node is allowed, with dtype None, so that :func:`evaluate` can still run untyped
expressions with NumPy's promotion; fusion and the verifier type every expression they
see). Two expressions are the
same object exactly when they have the same structure, literals (dtype and bits: int64 1,
float32 1.0, 0.0 and -0.0 all differ) and leaf dtypes.

Walks. :func:`postorder` (each distinct node once, arguments first, iterative) is the one
walk over an expression; :func:`depth`, :func:`inputs_read`, :func:`format_expr`,
:func:`substitute`, :func:`typed`, :func:`evaluate` and :func:`compile_numpy` are built on
it. Nothing here recurses, so an expression may be arbitrarily deep.

Edge cases. What each primitive gives on NaN, infinities, signed zeros, division by zero,
overflow and out-of-range casts is defined once, as data (:data:`EDGE_CASES`, rendered
below); the NumPy functions in :data:`PRIMITIVES` produce exactly these results on every
platform (NumPy's own are platform-dependent for float-to-int casts and max/min of
signed zeros, and raise for integers to negative powers), and
``tests/test_scalar_edges.py`` checks them on every backend.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.kernels.special import erf as _special_erf


class ScalarTypeError(TypeError):
    """A scalar expression is ill-typed: operands of different dtypes where the primitive
    needs equal ones, a dtype the primitive does not take, or a literal the dtype cannot hold."""


# ---------------------------------------------------------------------------
# Primitive signatures: what each primitive takes and gives.

# Kinds of dtype a primitive takes: "f" floating, "n" numeric (integer or floating), "b"
# bool, "a" any (bool, integer or floating).
_KINDS = {"f": "f", "n": "iuf", "b": "b", "a": "biuf"}


@dataclasses.dataclass(frozen=True)
class Signature:
    """A primitive's arity and dtype rule.

    ``rule`` is one of
    - "same": every operand has one dtype (of ``kind``), which is the result's;
    - "compare": both operands have one dtype (of ``kind``); the result is bool;
    - "logical": bool operands, bool result;
    - "select": a bool condition and two branches of one dtype, which is the result's;
    - "cast": one operand of any dtype; the result has the dtype named by the attr.
    """

    arity: int
    rule: str
    kind: str
    doc: str


def _sig(arity: int, rule: str, kind: str, doc: str) -> Signature:
    return Signature(arity, rule, kind, doc)


SIGNATURES: dict[str, Signature] = {
    "add": _sig(2, "same", "n", "a + b; integers wrap (two's complement)"),
    "sub": _sig(2, "same", "n", "a - b; integers wrap"),
    "mul": _sig(2, "same", "n", "a * b; integers wrap"),
    "div": _sig(2, "same", "f", "a / b, IEEE division (floating only)"),
    "floordiv": _sig(2, "same", "n", "floor(a / b) (NumPy's floor_divide)"),
    "mod": _sig(2, "same", "n", "a - floor(a / b) * b: the sign of the divisor (TF1 FloorMod, np.mod)"),
    "pow": _sig(2, "same", "n", "a ** b (C pow for floats; integers wrap)"),
    "neg": _sig(1, "same", "n", "-a; integers wrap"),
    "abs": _sig(1, "same", "n", "|a|; integers wrap"),
    "sign": _sig(1, "same", "n", "-1, 0 or 1"),
    "exp": _sig(1, "same", "f", "e ** a"),
    "expm1": _sig(1, "same", "f", "e ** a - 1"),
    "log": _sig(1, "same", "f", "natural logarithm"),
    "log1p": _sig(1, "same", "f", "log(1 + a)"),
    "sqrt": _sig(1, "same", "f", "square root"),
    "sin": _sig(1, "same", "f", "sine"),
    "cos": _sig(1, "same", "f", "cosine"),
    "tanh": _sig(1, "same", "f", "hyperbolic tangent"),
    "erf": _sig(1, "same", "f", "the error function"),
    "floor": _sig(1, "same", "f", "round toward -inf"),
    "ceil": _sig(1, "same", "f", "round toward +inf"),
    "round": _sig(1, "same", "f", "round half to even"),
    "max": _sig(2, "same", "n", "IEEE 754-2019 maximum: NaN propagates, -0 < +0"),
    "min": _sig(2, "same", "n", "IEEE 754-2019 minimum: NaN propagates, -0 < +0"),
    "lt": _sig(2, "compare", "a", "a < b (false when either is NaN)"),
    "le": _sig(2, "compare", "a", "a <= b (false when either is NaN)"),
    "gt": _sig(2, "compare", "a", "a > b (false when either is NaN)"),
    "ge": _sig(2, "compare", "a", "a >= b (false when either is NaN)"),
    "eq": _sig(2, "compare", "a", "a == b (false when either is NaN; -0 == +0)"),
    "ne": _sig(2, "compare", "a", "a != b (true when either is NaN)"),
    "and": _sig(2, "logical", "b", "logical and"),
    "or": _sig(2, "logical", "b", "logical or"),
    "not": _sig(1, "logical", "b", "logical not"),
    "select": _sig(3, "select", "a", "c ? a : b, the chosen branch's bits unchanged"),
    "cast": _sig(
        1,
        "cast",
        "a",
        "to the dtype named by the attr: float to int truncates toward zero and saturates, "
        "NaN gives 0; int to int wraps; to float rounds to nearest even; to bool is a != 0",
    ),
}


def as_dtype(d: Any) -> np.dtype:
    """A NumPy dtype from a NumPy dtype, a name, a scalar type or a graphc DType."""
    np_attr = getattr(d, "np", None)
    if isinstance(np_attr, np.dtype):
        return np_attr
    return np.dtype(d)


def _weak_kind(v: Any) -> str:
    """The kind of a weak literal's value: "b", "i" or "f"."""
    if isinstance(v, bool):
        return "b"
    if isinstance(v, int):
        return "i"
    return "f"


def _check_kind(op: str, dt: np.dtype, kind: str) -> None:
    if dt.kind not in _KINDS[kind]:
        raise ScalarTypeError(f"{op} does not take {dt.name} operands")


def _one_dtype(op: str, dts: Sequence[np.dtype | None], kind: str) -> np.dtype | None:
    known = {d for d in dts if d is not None}
    if len(known) > 1:
        names = " and ".join(sorted(d.name for d in known))
        raise ScalarTypeError(f"{op} needs operands of one dtype, got {names}")
    dt = next(iter(known), None)
    if dt is not None:
        _check_kind(op, dt, kind)
    return dt


_BOOL = np.dtype(np.bool_)


def result_dtype(op: str, args: Sequence[SExpr], attr: Any = None) -> np.dtype | None:
    """The dtype a primitive gives for these arguments (None: weak, fixed by :func:`typed`);
    raises ScalarTypeError for arguments its rule refuses."""
    sig = SIGNATURES[op]
    if len(args) != sig.arity:
        raise ScalarTypeError(f"{op} takes {sig.arity} operands, got {len(args)}")
    dts = [a.dtype for a in args]
    if sig.rule == "same":
        return _one_dtype(op, dts, sig.kind)
    if sig.rule == "compare":
        _one_dtype(op, dts, sig.kind)
        return _BOOL
    if sig.rule == "logical":
        for d in dts:
            if d is not None:
                _check_kind(op, d, "b")
        return _BOOL
    if sig.rule == "select":
        if dts[0] is not None and dts[0] != _BOOL:
            raise ScalarTypeError(f"select needs a bool condition, got {dts[0].name}")
        return _one_dtype(op, dts[1:], sig.kind)
    # cast
    if attr is None:
        raise ScalarTypeError("cast needs its target dtype as the attr")
    if dts[0] is not None:
        _check_kind(op, dts[0], sig.kind)
    target = as_dtype(attr)
    _check_kind(op, target, sig.kind)
    return target


# ---------------------------------------------------------------------------
# Expressions.


class SExpr:
    """A node of a scalar expression DAG: immutable and interned, so two structurally
    equal expressions are the same object (equality and hashing cost O(1), and shared
    subexpressions are never expanded into a tree). ``dtype`` is the node's result dtype:
    None for a weak literal, for a node made only of weak literals, for an untyped ``in``
    leaf and for a node its rule refuses (:func:`typed` says why)."""

    __slots__ = ("op", "args", "attr", "dtype", "_hash", "__weakref__")

    op: str
    args: tuple[SExpr, ...]
    attr: Any
    dtype: np.dtype | None

    def __new__(cls, op: str, args: Sequence[SExpr] = (), attr: Any = None, dtype: Any = None) -> SExpr:
        if op not in SIGNATURES and op not in ("in", "const"):
            raise ValueError(f"unknown scalar primitive {op!r}")
        args = tuple(args)
        dt = None if dtype is None else as_dtype(dtype)
        if op != "in" and dt is not None:
            # A literal has its value's dtype and a primitive its rule's; one given (as a
            # reader of a stored program does) must agree.
            made = SExpr(op, args, attr)
            if made.dtype != dt:
                raise ValueError(f"{op} gives {made.dtype}, not the dtype {dt} given for it")
            return made
        # Arguments are interned, so their identities stand for their structure; an
        # entry lives as long as its expression, which keeps its arguments (and ids) alive.
        # A primitive's dtype follows from its arguments and attr; a leaf's is in its key.
        key = (op, tuple(id(a) for a in args), _attr_key(attr), None if dt is None else dt.str)
        hit = _INTERNED.get(key)
        if hit is not None:
            return hit
        if op == "const":
            dt = attr.dtype if isinstance(attr, np.generic) else None
        elif op != "in":
            if len(args) != SIGNATURES[op].arity:
                raise ValueError(f"{op} takes {SIGNATURES[op].arity} operands, got {len(args)}")
            try:
                dt = result_dtype(op, args, attr)
            except ScalarTypeError:
                dt = None  # ill-typed: evaluate() still runs it with NumPy's promotion; typed() refuses it
        self = object.__new__(cls)
        self.op = op
        self.args = args
        self.attr = attr
        self.dtype = dt
        self._hash = hash(key)
        _INTERNED[key] = self
        return self

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (SExpr, (self.op, self.args, self.attr, self.dtype if self.op == "in" else None))

    def __copy__(self) -> SExpr:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SExpr:
        return self

    def __repr__(self) -> str:
        """The expression as text, literals with their dtype (``0.0:float32``); a
        subexpression used more than once is printed once, as ``{t0 = ...; t1 = ...;
        result}``, so the text grows with the DAG, not the tree."""

        def pieces(e: SExpr) -> list[str | SExpr]:
            if e.op == "in":
                return [f"in{e.attr}"]
            if e.op == "const":
                return [_literal(e.attr)]
            attr = [] if e.attr is None else [f"; {e.attr}"]
            return [f"{e.op}(", *_joined(e.args), *attr, ")"]

        lets, body = _render(self, pieces, {})
        return "{" + "; ".join([*lets, body]) + "}" if lets else body

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


_INTERNED: weakref.WeakValueDictionary[tuple[Any, ...], SExpr] = weakref.WeakValueDictionary()


def _lift(v: Any) -> SExpr:
    return v if isinstance(v, SExpr) else const(v)


def inp(i: int, dtype: Any = None) -> SExpr:
    """Input ``i`` of the expression, of ``dtype`` (None: untyped, for evaluation with
    NumPy's promotion; :func:`typed` refuses it)."""
    return SExpr("in", (), i, dtype)


def const(v: Any) -> SExpr:
    """A literal: typed when ``v`` is a NumPy scalar, weak for a Python bool, int or float."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if not isinstance(v, bool | int | float | np.generic):
        raise TypeError(f"a scalar literal is a bool, int, float or NumPy scalar, got {type(v).__name__}")
    return SExpr("const", (), v)


def call(op: str, *args: Any, attr: Any = None) -> SExpr:
    return SExpr(op, tuple(_lift(a) for a in args), attr)


# ---------------------------------------------------------------------------
# The walks.


def postorder(expr: SExpr) -> list[SExpr]:
    """The distinct nodes of an expression DAG, each after its arguments (left to right),
    without recursion."""
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


def _uses(order: Sequence[SExpr]) -> dict[SExpr, int]:
    uses: dict[SExpr, int] = {}
    for node in order:
        for a in node.args:
            uses[a] = uses.get(a, 0) + 1
    return uses


def depth(expr: SExpr) -> int:
    """Primitives on the longest path from the expression's root to a leaf."""
    d: dict[SExpr, int] = {}
    for e in postorder(expr):
        d[e] = 0 if not e.args else 1 + max(d[a] for a in e.args)
    return d[expr]


def inputs_read(expr: SExpr) -> set[int]:
    """The indices ``i`` of the ``in(i)`` leaves the expression reads."""
    return {e.attr for e in postorder(expr) if e.op == "in"}


def is_typed(expr: SExpr) -> bool:
    """Whether every node of the expression has a dtype."""
    return all(e.dtype is not None for e in postorder(expr))


def substitute(expr: SExpr, args: Sequence[SExpr]) -> SExpr:
    """Replace ``in(i)`` by ``args[i]`` (to compose expressions during fusion)."""
    memo: dict[SExpr, SExpr] = {}
    for node in postorder(expr):
        if node.op == "in":
            memo[node] = args[node.attr]
        elif node.op == "const":
            memo[node] = node
        else:
            memo[node] = SExpr(node.op, tuple(memo[a] for a in node.args), node.attr)
    return memo[expr]


_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2)}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "&", "or": "|"}


def format_expr(expr: SExpr, input_names: Sequence[str] | None = None) -> str:
    """Infix text of a scalar expression; inputs print as ``in0, in1, ...`` (or the given
    names) and a subexpression used more than once is named once (``t0 = ...; ...``)."""
    atom = 9
    names: dict[SExpr, str] = {}

    def own(e: SExpr) -> int:  # the precedence of e's text
        if e.op in _INFIX:
            return _INFIX[e.op][1]
        return 0 if e.op in _COMPARE else 3 if e.op == "neg" else atom

    def seen(e: SExpr) -> int:  # ... as its user sees it (a name is an atom)
        return atom if e in names else own(e)

    def wrap(e: SExpr, bare: bool) -> list[str | SExpr]:
        return [e] if bare else ["(", e, ")"]

    def pieces(e: SExpr) -> list[str | SExpr]:
        if e.op == "in":
            return [input_names[e.attr] if input_names is not None else f"in{e.attr}"]
        if e.op == "const":
            return [format_literal(e.attr)]
        if e.op in _INFIX:
            sym_, prec = _INFIX[e.op]
            a, b = e.args
            # a - (b + c), a / (b * c): the right operand needs parentheses at equal precedence.
            right = seen(b) > prec or (seen(b) == prec and e.op in ("add", "mul"))
            return [*wrap(a, seen(a) >= prec), f" {sym_} ", *wrap(b, right)]
        if e.op in _COMPARE:
            a, b = e.args
            return [*wrap(a, seen(a) > 0), f" {_COMPARE[e.op]} ", *wrap(b, seen(b) > 0)]
        if e.op == "neg":
            return ["-", *wrap(e.args[0], seen(e.args[0]) >= 3)]
        if e.op == "cast":
            return [f"cast<{e.attr}>(", e.args[0], ")"]
        return [f"{e.op}(", *_joined(e.args), ")"]

    lets, body = _render(expr, pieces, names)
    return "; ".join([*lets, body])


def _joined(args: Sequence[SExpr]) -> list[str | SExpr]:
    out: list[str | SExpr] = []
    for k, a in enumerate(args):
        out += [", ", a] if k else [a]
    return out


def _render(
    root: SExpr, pieces: Callable[[SExpr], list[str | SExpr]], names: dict[SExpr, str]
) -> tuple[list[str], str]:
    """Text of an expression from each node's ``pieces`` (strings, and the arguments where
    their text goes): each primitive used more than once is defined once as ``t<k> = ...``
    (arguments first) and named where it is used, so the text and the time to make it grow
    with the DAG, not the tree. Returns the definitions and the root's text."""
    order = postorder(root)
    uses = _uses(order)
    lets: list[str] = []
    for node in order:
        if node.args and uses.get(node, 0) > 1 and node is not root:
            body = _expand(node, pieces, names)
            names[node] = f"t{len(lets)}"
            lets.append(f"{names[node]} = {body}")
    return lets, _expand(root, pieces, names)


def _expand(node: SExpr, pieces: Callable[[SExpr], list[str | SExpr]], names: dict[SExpr, str]) -> str:
    out: list[str] = []
    stack: list[str | SExpr] = list(reversed(pieces(node)))
    while stack:
        p = stack.pop()
        if isinstance(p, str):
            out.append(p)
        elif p in names:
            out.append(names[p])
        else:
            stack.extend(reversed(pieces(p)))
    return "".join(out)


def format_literal(v: Any) -> str:
    """A literal as it reads in :func:`format_expr` (a float32 one as the user wrote it)."""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        f = float(v)
        # A float32 constant reads as the literal the user wrote (0.9, not 0.8999999761581421).
        if np.isfinite(f) and float(np.float32(f)) == f:
            return str(np.float32(f))
        return repr(f)
    return str(v)


# ---------------------------------------------------------------------------
# Typing.


def _default_dtype(*exprs: SExpr) -> np.dtype:
    """NumPy's dtype for expressions of weak literals alone: float64 if any literal is a
    float, else int64 if any is an int, else bool."""
    kinds = {_weak_kind(e.attr) for x in exprs for e in postorder(x) if e.op == "const" and e.dtype is None}
    if "f" in kinds:
        return np.dtype(np.float64)
    if "i" in kinds:
        return np.dtype(np.int64)
    return _BOOL


def literal_of(v: bool | int | float, dtype: Any) -> np.generic:
    """The Python value ``v`` as a literal of ``dtype``. The value must survive: an int or
    a float becomes a bool only as 0 or 1, a float an integer only when it is integral and
    in range, an int an integer only in range; a float rounds to a float dtype (as NumPy
    rounds a Python float), but a finite one that overflows is refused. ScalarTypeError
    otherwise."""
    dt = as_dtype(dtype)
    if dt.kind == "b":
        if v not in (0, 1):  # False, True, 0, 1, 0.0 and 1.0
            raise ScalarTypeError(f"the literal {v!r} is not a bool")
        return np.bool_(v)
    if dt.kind in "iu":
        if isinstance(v, float) and not v.is_integer():
            raise ScalarTypeError(f"the literal {v!r} is not an integer, as {dt.name} needs")
        info = np.iinfo(dt)
        if not info.min <= v <= info.max:
            raise ScalarTypeError(f"the literal {v!r} is out of range for {dt.name}")
        return dt.type(int(v))
    with np.errstate(over="ignore"):
        out = dt.type(v)
    if math.isfinite(v) and not np.isfinite(out):
        raise ScalarTypeError(f"the literal {v!r} overflows {dt.name}")
    return out


def _arg_dtypes(e: SExpr, dt: np.dtype | None) -> list[np.dtype | None]:
    """For each argument of ``e`` (whose result dtype is ``e.dtype``, or ``dt`` when ``e``
    is weak): None for a typed argument, else the dtype the weak argument must take."""
    rule = SIGNATURES[e.op].rule
    result = e.dtype if e.dtype is not None else dt
    typed_args = [a.dtype for a in e.args if a.dtype is not None]
    wants: list[np.dtype | None] = []
    for k, a in enumerate(e.args):
        if a.dtype is not None:
            wants.append(None)
        elif rule == "same" or (rule == "select" and k > 0):
            wants.append(result)
        elif rule == "select" or rule == "logical":
            wants.append(_BOOL)
        elif rule == "compare":
            wants.append(typed_args[0] if typed_args else _default_dtype(*e.args))
        else:  # cast of a weak literal: its value's NumPy dtype
            wants.append(_default_dtype(a))
    return wants


def typed(expr: SExpr, dtype: Any = None) -> SExpr:
    """``expr`` with every node typed: each weak literal gets the dtype its primitive's
    rule implies; a weak root takes ``dtype`` (or NumPy's default for its literals). Raises
    ScalarTypeError for an untyped ``in`` leaf, a rule's refusal, or a result that is not
    of ``dtype`` when one is given."""
    want = None if dtype is None else as_dtype(dtype)
    if expr.dtype is not None:
        if want is not None and expr.dtype != want:
            raise ScalarTypeError(f"the expression gives {expr.dtype.name}, not {want.name}")
        root_dt = None
    else:
        root_dt = want if want is not None else _default_dtype(expr)
    memo: dict[tuple[SExpr, np.dtype | None], SExpr] = {}
    stack: list[tuple[SExpr, np.dtype | None, bool]] = [(expr, root_dt, False)]
    while stack:
        e, dt, ready = stack.pop()
        key = (e, dt)
        if key in memo:
            continue
        if e.op == "in":
            if e.dtype is None:
                raise ScalarTypeError(f"in{e.attr} has no dtype")
            memo[key] = e
            continue
        if e.op == "const":
            memo[key] = e if e.dtype is not None else SExpr("const", (), literal_of(e.attr, dt))
            continue
        wants = _arg_dtypes(e, dt)
        if not ready:
            stack.append((e, dt, True))
            stack.extend((a, w, False) for a, w in zip(e.args, wants) if (a, w) not in memo)
            continue
        args = tuple(memo[(a, w)] for a, w in zip(e.args, wants))
        result_dtype(e.op, args, e.attr)  # raises what the lenient constructor let through
        memo[key] = SExpr(e.op, args, e.attr)
    out = memo[(expr, root_dt)]
    assert out.dtype is not None and (want is None or out.dtype == want)
    return out


# ---------------------------------------------------------------------------
# NumPy evaluation: each primitive as NumPy calls that give the table's results.


def _maximum(a: Any, b: Any) -> Any:
    r = np.maximum(a, b)
    if np.asarray(r).dtype.kind == "f":
        both = np.logical_and(np.equal(a, 0), np.equal(b, 0))
        if np.any(both):
            # Zeros: +0 unless both are -0, which is what their sum gives.
            r = np.where(both, np.add(a, b), r).astype(np.asarray(r).dtype, copy=False)
    return r


def _minimum(a: Any, b: Any) -> Any:
    r = np.minimum(a, b)
    if np.asarray(r).dtype.kind == "f":
        both = np.logical_and(np.equal(a, 0), np.equal(b, 0))
        if np.any(both):
            # Zeros: -0 unless both are +0: -((-a) + (-b)).
            z = np.negative(np.add(np.negative(a), np.negative(b)))
            r = np.where(both, z, r).astype(np.asarray(r).dtype, copy=False)
    return r


def _power(a: Any, b: Any) -> Any:
    """C pow for floats; for integers, a negative exponent gives the truncated result (1
    for a base of 1, +-1 for -1, 0 otherwise, 0 included), where NumPy raises."""
    if np.result_type(a, b).kind not in "iu" or not np.any(np.less(b, 0)):
        return np.power(a, b)
    x, y = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    neg = y < 0
    e = np.array(y)
    e[neg] = 0
    r = np.array(np.power(x, e))
    r[neg] = 0
    r[neg & (x == 1)] = 1
    minus_one = neg & (x == -1)
    r[minus_one] = np.where(y[minus_one] % 2 == 0, 1, -1)
    return r


def _round_half_even(x: Any) -> Any:
    return np.round(x)


def _erf(x: Any) -> Any:
    return _special_erf(x)


def _cast(x: Any, dtype: Any) -> np.ndarray:
    """``x`` as ``dtype``: a float to an integer truncates toward zero and saturates at the
    integer's range, NaN gives 0 (NumPy's own result is platform-dependent there); every
    other conversion is NumPy's (integers wrap, floats round to nearest even, to bool is
    x != 0)."""
    x = np.asarray(x)
    dt = as_dtype(dtype)
    if x.dtype.kind != "f" or dt.kind not in "iu":
        return x.astype(dt, copy=False)
    info = np.iinfo(dt)
    xf = x.astype(np.float64, copy=False)  # exact, and 2**63 is a float64
    lo, hi = float(info.min), 2.0 ** (info.bits - (1 if dt.kind == "i" else 0))
    inside = (xf >= lo) & (xf < hi)  # NaN is outside
    out = np.trunc(np.where(inside, xf, 0.0)).astype(dt)
    if not inside.all():
        out = np.where(xf >= hi, dt.type(info.max), out)
        out = np.where(xf < lo, dt.type(info.min), out).astype(dt, copy=False)
    return out


# Primitive -> NumPy evaluation (with typed operands, NumPy keeps their dtype: no
# promotion happens). Every renderer implements exactly these, per EDGE_CASES.
PRIMITIVES: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "floordiv": np.floor_divide,
    "mod": np.mod,
    "pow": _power,
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
    "max": _maximum,
    "min": _minimum,
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


def _step_function(node: SExpr) -> Callable[..., Any]:
    if node.op == "cast":
        dtype = as_dtype(node.attr)
        return lambda x: _cast(x, dtype)
    return PRIMITIVES[node.op]


def evaluate(expr: SExpr, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Evaluate ``expr`` elementwise with NumPy broadcasting (memoised), ignoring
    floating-point errors (division by zero gives inf or nan, as compiled code does). The
    plain definition; :func:`compile_numpy` is the fast form of the same calls."""
    memo: dict[SExpr, Any] = {}
    with np.errstate(all="ignore"):
        for node in postorder(expr):
            if node.op == "in":
                memo[node] = inputs[node.attr]
            elif node.op == "const":
                memo[node] = node.attr
            else:
                memo[node] = _step_function(node)(*[memo[a] for a in node.args])
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
    for node in postorder(expr):
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


# ---------------------------------------------------------------------------
# The edge cases, as data.

_NAN, _INF = math.nan, math.inf


@dataclasses.dataclass(frozen=True)
class Edge:
    """``op(*inputs)`` with every operand of ``dtype`` gives ``expected`` (of the
    primitive's result dtype; NaN matches any NaN, and the sign of a zero counts)."""

    op: str
    dtype: str  # the operands' dtype (a select's branches; its condition is bool)
    inputs: tuple[Any, ...]
    expected: Any
    why: str = ""
    attr: Any = None  # cast: the target dtype's name


def _e(op: str, dtype: str, inputs: tuple[Any, ...], expected: Any, why: str = "", attr: Any = None) -> Edge:
    return Edge(op, dtype, inputs, expected, why, attr)


_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1

EDGE_CASES: tuple[Edge, ...] = (
    # add, sub, mul
    _e("add", "float32", (_INF, -_INF), _NAN, "inf + -inf is NaN"),
    _e("add", "float32", (-0.0, -0.0), -0.0, "a zero sum is -0 only when both are -0"),
    _e("add", "float32", (-0.0, 0.0), 0.0),
    _e("add", "float32", (_NAN, 1.0), _NAN, "NaN propagates"),
    _e("add", "float32", (3e38, 3e38), _INF, "overflow gives inf"),
    _e("add", "int32", (_I32_MAX, 1), _I32_MIN, "integers wrap"),
    _e("add", "uint8", (255, 1), 0, "integers wrap"),
    _e("sub", "float32", (_INF, _INF), _NAN, "inf - inf is NaN"),
    _e("sub", "float32", (0.0, 0.0), 0.0, "x - x is +0"),
    _e("sub", "float32", (-0.0, 0.0), -0.0),
    _e("sub", "int32", (_I32_MIN, 1), _I32_MAX, "integers wrap"),
    _e("sub", "uint8", (0, 1), 255, "integers wrap"),
    _e("mul", "float32", (0.0, _INF), _NAN, "0 * inf is NaN"),
    _e("mul", "float32", (-0.0, 1.0), -0.0, "the sign of a zero product is the xor of the signs"),
    _e("mul", "float32", (-1.0, 0.0), -0.0),
    _e("mul", "float32", (-0.0, -0.0), 0.0),
    _e("mul", "int32", (65536, 65536), 0, "integers wrap"),
    _e("mul", "int32", (_I32_MIN, -1), _I32_MIN, "integers wrap"),
    # div
    _e("div", "float32", (1.0, 0.0), _INF, "x / 0 is +-inf by the signs"),
    _e("div", "float32", (-1.0, 0.0), -_INF),
    _e("div", "float32", (1.0, -0.0), -_INF),
    _e("div", "float32", (0.0, 0.0), _NAN, "0 / 0 is NaN"),
    _e("div", "float32", (_INF, _INF), _NAN),
    _e("div", "float32", (-1.0, _INF), -0.0),
    _e("div", "float64", (-0.0, 5.0), -0.0),
    # floordiv
    _e("floordiv", "float32", (7.0, -2.0), -4.0, "rounds toward -inf"),
    _e("floordiv", "float32", (-7.0, 2.0), -4.0),
    _e("floordiv", "float32", (1.0, 0.0), _INF, "x // 0 is +-inf, 0 // 0 NaN (as x / 0)"),
    _e("floordiv", "float32", (-1.0, 0.0), -_INF),
    _e("floordiv", "float32", (0.0, 0.0), _NAN),
    _e("floordiv", "float32", (-1.0, _INF), -1.0, "floor(-1 / inf) = -1"),
    _e("floordiv", "float32", (1.0, _INF), 0.0),
    _e("floordiv", "float32", (_INF, 2.0), _NAN, "inf // finite is NaN (NumPy's divmod)"),
    _e("floordiv", "float32", (-0.0, 3.0), -0.0),
    _e("floordiv", "int32", (7, -2), -4, "rounds toward -inf (not C's truncation)"),
    _e("floordiv", "int32", (-7, 2), -4),
    _e("floordiv", "int32", (5, 0), 0, "integer division by zero gives 0 (never traps)"),
    _e("floordiv", "int32", (0, 0), 0),
    _e("floordiv", "int32", (_I32_MIN, -1), _I32_MIN, "wraps (never traps)"),
    _e("floordiv", "uint8", (7, 0), 0, "integer division by zero gives 0"),
    # mod
    _e("mod", "float32", (-1.0, 3.0), 2.0, "the sign of the divisor (TF1 FloorMod, np.mod)"),
    _e("mod", "float32", (1.0, -3.0), -2.0),
    _e("mod", "float32", (-0.0, 3.0), 0.0, "a zero result has the divisor's sign"),
    _e("mod", "float32", (0.0, -3.0), -0.0),
    _e("mod", "float32", (5.0, 0.0), _NAN, "x mod 0 is NaN"),
    _e("mod", "float32", (_INF, 2.0), _NAN, "inf mod y is NaN"),
    _e("mod", "float32", (1.0, _INF), 1.0, "x mod inf is x for x >= 0"),
    _e("mod", "float32", (-1.0, _INF), _INF, "and inf for x < 0 (NumPy and Python)"),
    _e("mod", "float32", (_NAN, 1.0), _NAN),
    _e("mod", "int32", (-7, 2), 1, "the sign of the divisor"),
    _e("mod", "int32", (7, -2), -1),
    _e("mod", "int32", (5, 0), 0, "integer mod by zero gives 0 (never traps)"),
    _e("mod", "int32", (_I32_MIN, -1), 0, "never traps"),
    # pow
    _e("pow", "float32", (_NAN, 0.0), 1.0, "x ** 0 is 1, even for NaN (C pow)"),
    _e("pow", "float32", (1.0, _NAN), 1.0, "1 ** y is 1, even for NaN"),
    _e("pow", "float32", (0.0, -1.0), _INF, "0 ** negative is inf"),
    _e("pow", "float32", (-0.0, -1.0), -_INF, "-0 ** negative odd is -inf"),
    _e("pow", "float32", (-0.0, -2.0), _INF),
    _e("pow", "float32", (-8.0, 1.0 / 3.0), _NAN, "negative ** non-integer is NaN"),
    _e("pow", "float32", (-0.0, 0.5), 0.0),
    _e("pow", "float32", (-_INF, 3.0), -_INF),
    _e("pow", "float32", (-1.0, _INF), 1.0),
    _e("pow", "float32", (2.0, 200.0), _INF, "overflow gives inf"),
    _e("pow", "float32", (0.0, 0.0), 1.0),
    _e("pow", "int32", (2, 31), _I32_MIN, "integers wrap"),
    _e("pow", "int32", (2, -1), 0, "integer ** negative: the truncated result (NumPy and TF1 raise)"),
    _e("pow", "int32", (1, -5), 1),
    _e("pow", "int32", (-1, -3), -1),
    _e("pow", "int32", (-1, -2), 1),
    _e("pow", "int32", (0, -1), 0, "0 ** negative gives 0, as integer division by zero does"),
    _e("pow", "int32", (0, 0), 1),
    # neg, abs, sign
    _e("neg", "float32", (0.0,), -0.0, "the sign flips, zeros included"),
    _e("neg", "float32", (-0.0,), 0.0),
    _e("neg", "float32", (_NAN,), _NAN),
    _e("neg", "int32", (_I32_MIN,), _I32_MIN, "integers wrap"),
    _e("neg", "uint8", (1,), 255, "integers wrap"),
    _e("abs", "float32", (-0.0,), 0.0),
    _e("abs", "float32", (-_INF,), _INF),
    _e("abs", "float32", (_NAN,), _NAN),
    _e("abs", "int32", (_I32_MIN,), _I32_MIN, "wraps"),
    _e("sign", "float32", (_NAN,), _NAN, "sign(NaN) is NaN"),
    _e("sign", "float32", (-0.0,), 0.0, "sign(+-0) is +0"),
    _e("sign", "float32", (0.0,), 0.0),
    _e("sign", "float32", (-_INF,), -1.0),
    _e("sign", "float32", (3.5,), 1.0),
    _e("sign", "int32", (-5,), -1),
    _e("sign", "int32", (0,), 0),
    _e("sign", "uint8", (200,), 1),
    # exp, expm1, log, log1p, sqrt
    _e("exp", "float32", (89.0,), _INF, "overflow gives inf"),
    _e("exp", "float64", (710.0,), _INF),
    _e("exp", "float32", (-104.0,), 0.0, "underflow gives +0"),
    _e("exp", "float32", (-_INF,), 0.0),
    _e("exp", "float32", (_NAN,), _NAN),
    _e("exp", "float32", (-0.0,), 1.0),
    _e("expm1", "float32", (-_INF,), -1.0),
    _e("expm1", "float32", (-0.0,), -0.0, "keeps the sign of zero"),
    _e("expm1", "float32", (89.0,), _INF),
    _e("expm1", "float32", (_NAN,), _NAN),
    _e("log", "float32", (0.0,), -_INF, "log(+-0) is -inf"),
    _e("log", "float32", (-0.0,), -_INF),
    _e("log", "float32", (-1.0,), _NAN, "log of a negative is NaN"),
    _e("log", "float32", (_INF,), _INF),
    _e("log", "float32", (1.0,), 0.0),
    _e("log", "float32", (_NAN,), _NAN),
    _e("log1p", "float32", (-1.0,), -_INF),
    _e("log1p", "float32", (-2.0,), _NAN),
    _e("log1p", "float32", (-0.0,), -0.0, "keeps the sign of zero"),
    _e("log1p", "float32", (_INF,), _INF),
    _e("sqrt", "float32", (-1.0,), _NAN, "sqrt of a negative is NaN"),
    _e("sqrt", "float32", (-0.0,), -0.0, "sqrt(-0) is -0 (IEEE)"),
    _e("sqrt", "float32", (_INF,), _INF),
    _e("sqrt", "float32", (-_INF,), _NAN),
    # sin, cos, tanh, erf
    _e("sin", "float32", (_INF,), _NAN, "of an infinity is NaN"),
    _e("sin", "float32", (-0.0,), -0.0, "keeps the sign of zero"),
    _e("sin", "float32", (_NAN,), _NAN),
    _e("cos", "float32", (_INF,), _NAN),
    _e("cos", "float32", (-0.0,), 1.0),
    _e("tanh", "float32", (_INF,), 1.0),
    _e("tanh", "float32", (-_INF,), -1.0),
    _e("tanh", "float32", (-0.0,), -0.0),
    _e("tanh", "float32", (_NAN,), _NAN),
    _e("erf", "float32", (_INF,), 1.0),
    _e("erf", "float32", (-_INF,), -1.0),
    _e("erf", "float32", (-0.0,), -0.0),
    _e("erf", "float32", (_NAN,), _NAN),
    # floor, ceil, round
    _e("floor", "float32", (-0.5,), -1.0),
    _e("floor", "float32", (-0.0,), -0.0, "keeps the sign of zero"),
    _e("floor", "float32", (_INF,), _INF),
    _e("floor", "float32", (_NAN,), _NAN),
    _e("ceil", "float32", (-0.5,), -0.0, "a negative rounded up to zero is -0"),
    _e("ceil", "float32", (-0.0,), -0.0),
    _e("ceil", "float32", (2.1,), 3.0),
    _e("round", "float32", (0.5,), 0.0, "half to even"),
    _e("round", "float32", (1.5,), 2.0),
    _e("round", "float32", (2.5,), 2.0),
    _e("round", "float32", (-2.5,), -2.0),
    _e("round", "float32", (-0.5,), -0.0, "a negative rounded to zero is -0"),
    _e("round", "float32", (-0.2,), -0.0),
    _e("round", "float32", (_INF,), _INF),
    _e("round", "float32", (_NAN,), _NAN),
    # max, min
    _e("max", "float32", (_NAN, 1.0), _NAN, "NaN propagates from either operand (np.maximum, TF1)"),
    _e("max", "float32", (1.0, _NAN), _NAN),
    _e("max", "float32", (-0.0, 0.0), 0.0, "-0 < +0, in either order (NumPy's answer varies)"),
    _e("max", "float32", (0.0, -0.0), 0.0),
    _e("max", "float32", (-0.0, -0.0), -0.0),
    _e("max", "float16", (-0.0, 0.0), 0.0),
    _e("max", "float16", (0.0, -0.0), 0.0),
    _e("max", "float64", (-_INF, 1.0), 1.0),
    _e("max", "int32", (-1, 2), 2),
    _e("min", "float32", (_NAN, 1.0), _NAN, "NaN propagates from either operand"),
    _e("min", "float32", (1.0, _NAN), _NAN),
    _e("min", "float32", (-0.0, 0.0), -0.0, "-0 < +0, in either order"),
    _e("min", "float32", (0.0, -0.0), -0.0),
    _e("min", "float32", (0.0, 0.0), 0.0),
    _e("min", "float16", (0.0, -0.0), -0.0),
    _e("min", "float16", (-0.0, 0.0), -0.0),
    _e("min", "int32", (-1, 2), -1),
    # comparisons
    _e("lt", "float32", (_NAN, 1.0), False, "false when either is NaN"),
    _e("lt", "float32", (-0.0, 0.0), False, "-0 == +0"),
    _e("lt", "float32", (-_INF, _INF), True),
    _e("lt", "int32", (-1, 0), True),
    _e("le", "float32", (_NAN, _NAN), False),
    _e("le", "float32", (-0.0, 0.0), True),
    _e("gt", "float32", (1.0, _NAN), False),
    _e("gt", "uint8", (200, 100), True),
    _e("ge", "float32", (0.0, -0.0), True),
    _e("ge", "float32", (_NAN, 1.0), False),
    _e("eq", "float32", (_NAN, _NAN), False, "NaN equals nothing"),
    _e("eq", "float32", (-0.0, 0.0), True),
    _e("eq", "bool", (True, True), True),
    _e("ne", "float32", (_NAN, _NAN), True, "true when either is NaN"),
    _e("ne", "float32", (-0.0, 0.0), False),
    # logical
    _e("and", "bool", (True, False), False),
    _e("and", "bool", (True, True), True),
    _e("or", "bool", (False, False), False),
    _e("or", "bool", (True, False), True),
    _e("not", "bool", (True,), False),
    _e("not", "bool", (False,), True),
    # select
    _e("select", "float32", (True, -0.0, 1.0), -0.0, "the chosen branch's bits, unchanged"),
    _e("select", "float32", (False, 1.0, _NAN), _NAN),
    _e("select", "float32", (True, _NAN, 0.0), _NAN),
    _e("select", "int32", (False, 1, _I32_MIN), _I32_MIN),
    # cast
    _e("cast", "float32", (_NAN,), 0, "NaN gives 0", "int32"),
    _e("cast", "float32", (_INF,), _I32_MAX, "out of range saturates", "int32"),
    _e("cast", "float32", (-_INF,), _I32_MIN, "", "int32"),
    _e("cast", "float32", (3e9,), _I32_MAX, "", "int32"),
    _e("cast", "float32", (-3e9,), _I32_MIN, "", "int32"),
    _e("cast", "float32", (2.9,), 2, "truncates toward zero", "int32"),
    _e("cast", "float32", (-2.9,), -2, "", "int32"),
    _e("cast", "float32", (-0.0,), 0, "", "int32"),
    _e("cast", "float32", (2147483520.0,), 2147483520, "the largest float32 below 2**31", "int32"),
    _e("cast", "float32", (-1.5,), 0, "to unsigned: negatives saturate to 0", "uint8"),
    _e("cast", "float32", (300.0,), 255, "", "uint8"),
    _e("cast", "float32", (255.9,), 255, "", "uint8"),
    _e("cast", "float32", (_NAN,), 0, "", "uint8"),
    _e("cast", "float64", (1e19,), _I64_MAX, "", "int64"),
    _e("cast", "float64", (-1e19,), _I64_MIN, "", "int64"),
    _e("cast", "float64", (_NAN,), 0, "", "int64"),
    _e(
        "cast",
        "float64",
        (9.223372036854774784e18,),
        9223372036854774784,
        "the largest float64 below 2**63",
        "int64",
    ),
    _e("cast", "float16", (_INF,), _I64_MAX, "", "int64"),
    _e("cast", "int32", (200,), -56, "int to a narrower int wraps", "int8"),
    _e("cast", "int64", (2**40 + 5,), 5, "", "int32"),
    _e("cast", "int32", (-1,), 255, "", "uint8"),
    _e("cast", "int64", (16777217,), 16777216.0, "int to float rounds to nearest even", "float32"),
    _e("cast", "float64", (1e300,), _INF, "a float too large for the target is inf", "float32"),
    _e("cast", "float64", (-1e-50,), -0.0, "underflow keeps the sign", "float32"),
    _e("cast", "float64", (_NAN,), _NAN, "", "float32"),
    _e("cast", "float32", (70000.0,), _INF, "", "float16"),
    _e("cast", "float32", (_NAN,), True, "to bool: x != 0, so NaN is true", "bool"),
    _e("cast", "float32", (-0.0,), False, "", "bool"),
    _e("cast", "int32", (-3,), True, "", "bool"),
    _e("cast", "bool", (True,), 1.0, "bool is 0 or 1", "float32"),
    _e("cast", "bool", (True,), 1, "", "int8"),
)


def edge_operands(edge: Edge) -> list[np.ndarray]:
    """An edge case's operands as 1-element arrays of their dtypes (a select's condition bool)."""
    out = []
    for k, v in enumerate(edge.inputs):
        dt = _BOOL if edge.op == "select" and k == 0 else np.dtype(edge.dtype)
        out.append(np.array([v], dtype=dt))
    return out


def edge_expr(edge: Edge) -> SExpr:
    """The typed expression ``op(in0, in1, ...)`` of an edge case."""
    args = [inp(k, a.dtype) for k, a in enumerate(edge_operands(edge))]
    return SExpr(edge.op, args, edge.attr)


def _render_edge_cases() -> str:
    lines = ["Primitives (dtype rule; edge cases, each as op(inputs) -> result [operand dtype]):", ""]
    by_op: dict[str, list[Edge]] = {}
    for edge in EDGE_CASES:
        by_op.setdefault(edge.op, []).append(edge)
    for op, sig in SIGNATURES.items():
        lines.append(f"{op}: {sig.doc}")
        for edge in by_op.get(op, []):
            args = ", ".join(repr(v) for v in edge.inputs)
            if edge.attr is not None:
                args += f"; {edge.attr}"
            note = f"  -- {edge.why}" if edge.why else ""
            lines.append(f"    {op}({args}) -> {edge.expected!r} [{edge.dtype}]{note}")
    lines += [
        "",
        "float16 is computed as NumPy does: in float32, rounded to float16 once per primitive.",
    ]
    return "\n".join(lines)


EDGE_CASES_DOC = _render_edge_cases()
__doc__ = (__doc__ or "") + "\n" + EDGE_CASES_DOC + "\n"
