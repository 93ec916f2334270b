"""The op registry: every op is one :class:`OpDef` holding all of its rules.

An op's shape rule and dtype rule run when the op is built in the frontend
(with unknown dims as anonymous symbols) and again when a program is lowered
(with the program's dimension symbols); its reference is a NumPy function that
*defines* the op (the NumPy backend runs it, constant folding runs it, every
backend is tested against it); its gradient rule builds frontend ops; an
elementwise op also gives a scalar expression that fusion and the code
generators render.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import scalar as _scalar
from graphc import symbolic as sym
from graphc.symbolic import Dim

Shape = tuple[Dim, ...] | None  # None: unknown rank


class ShapeError(ValueError):
    """A shape rule found its inputs incompatible; the graph adds op and location."""


class NotDifferentiable:
    """Marker for an op with no gradient (written out for each such op)."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"NotDifferentiable({self.reason!r})"


NOT_DIFFERENTIABLE = NotDifferentiable()


class GradientNotImplemented(NotDifferentiable):
    """The op has a mathematical gradient that graphc does not build (yet): asking
    for it raises an error naming the op, instead of silently giving None."""


@dataclasses.dataclass
class Sample:
    """One test case for the registry-wide tests: inputs and attrs for the op."""

    inputs: list[np.ndarray]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    grad: bool = True  # whether a central-difference gradient check makes sense here
    wrt: tuple[int, ...] | None = None  # inputs to differentiate (default: floating ones)


# ---------------------------------------------------------------------------
# Attribute schemas: each op declares its attributes' types from this closed set, and the
# verifier and the program loader check every node's attrs against them.

_ATTR_KINDS = (
    "int",  # a Python int (not a bool, not a NumPy integer)
    "float",  # a Python float
    "bool",
    "str",
    "scalar",  # a Python bool, int or float (a value of the op's dtype, as .item() gives it)
    "dtype",  # a graphc DType
    "dim",  # a dimension: an int or a symbolic Poly
    "array",  # a NumPy array of a graphc dtype (a string array holds bytes objects)
    "sexpr",  # a scalar expression (graphc.scalar.SExpr)
    "choice",  # one of the strings in args
    "optional",  # None or args[0]
    "tuple_of",  # a tuple whose every item is args[0]
    "record",  # a tuple of len(args) items, item i of type args[i]
    "one_of",  # any of the types in args
)
_ARRAY_KINDS = frozenset("biuf")


@dataclasses.dataclass(frozen=True)
class AttrType:
    """The type of one op attribute. ``required=False`` (see :func:`omittable`): a node may
    leave the attr out."""

    kind: str
    args: tuple[Any, ...] = ()
    required: bool = True

    def __post_init__(self) -> None:
        if self.kind not in _ATTR_KINDS:
            raise ValueError(f"unknown attr type {self.kind!r}; the types are {list(_ATTR_KINDS)}")
        if self.kind == "choice":
            if not self.args or not all(isinstance(a, str) for a in self.args):
                raise ValueError("choice() takes one or more strings")
        elif self.kind in ("optional", "tuple_of", "record", "one_of"):
            if not all(isinstance(a, AttrType) for a in self.args):
                raise ValueError(f"{self.kind}() takes attr types")
            if self.kind in ("optional", "tuple_of") and len(self.args) != 1:
                raise ValueError(f"{self.kind}() takes one attr type")
            if self.kind == "one_of" and not self.args:
                raise ValueError("one_of() takes one or more attr types")
        elif self.args:
            raise ValueError(f"attr type {self.kind} takes no arguments")

    def check(self, v: Any) -> bool:
        """Whether ``v`` is a value of this type (exact Python types: a tuple is not a list,
        an int is not a bool, a NumPy scalar is none of int, float and bool)."""
        k = self.kind
        if k == "int":
            return type(v) is int
        if k == "float":
            return type(v) is float
        if k == "bool":
            return type(v) is bool
        if k == "str":
            return type(v) is str
        if k == "scalar":
            return type(v) in (bool, int, float)
        if k == "dtype":
            return isinstance(v, _dt.DType) and v.name in _dt._BY_NAME and _dt.as_dtype(v.name) is v
        if k == "dim":
            return type(v) is int or isinstance(v, sym.Poly)
        if k == "array":
            return _is_attr_array(v)
        if k == "sexpr":
            return isinstance(v, _scalar.SExpr)
        if k == "choice":
            return type(v) is str and v in self.args
        if k == "optional":
            return v is None or self.args[0].check(v)
        if k == "tuple_of":
            return type(v) is tuple and all(self.args[0].check(x) for x in v)
        if k == "record":
            return (
                type(v) is tuple
                and len(v) == len(self.args)
                and all(t.check(x) for t, x in zip(self.args, v))
            )
        return any(t.check(v) for t in self.args)  # one_of

    def __repr__(self) -> str:
        if self.kind == "choice":
            text = f"choice({', '.join(map(repr, self.args))})"
        elif self.args:
            text = f"{self.kind}({', '.join(map(repr, self.args))})"
        else:
            text = self.kind
        return text if self.required else f"omittable({text})"


def _is_attr_array(v: Any) -> bool:
    if type(v) is not np.ndarray:
        return False
    if v.dtype == object:  # a string tensor's value: bytes objects
        return all(type(x) is bytes for x in v.flat)
    return v.dtype.kind in _ARRAY_KINDS and v.dtype.newbyteorder("=") in _dt._BY_NP


INT = AttrType("int")
FLOAT = AttrType("float")
BOOL = AttrType("bool")
STR = AttrType("str")
SCALAR = AttrType("scalar")
DTYPE = AttrType("dtype")
DIM = AttrType("dim")
ARRAY = AttrType("array")
SEXPR = AttrType("sexpr")
AXIS = INT  # an axis of the input (may be negative where the op's rules allow it)
AXES = AttrType("tuple_of", (INT,))
DIMS = AttrType("tuple_of", (DIM,))
# A partial shape as the frontend gives it: None for an unknown rank, None for an unknown dim.
SHAPE = AttrType("optional", (AttrType("tuple_of", (AttrType("optional", (DIM,)),)),))

# A strided slice's index (StridedSlice, StridedSliceGrad): items ("int", i),
# ("slice", start, stop, step) each None or an int, ("newaxis",) and ("ellipsis",).
_OPT_INT = AttrType("optional", (INT,))
SLICE_SPEC = AttrType(
    "tuple_of",
    (
        AttrType(
            "one_of",
            (
                AttrType("record", (AttrType("choice", ("int",)), INT)),
                AttrType("record", (AttrType("choice", ("slice",)), _OPT_INT, _OPT_INT, _OPT_INT)),
                AttrType("record", (AttrType("choice", ("newaxis",)),)),
                AttrType("record", (AttrType("choice", ("ellipsis",)),)),
            ),
        ),
    ),
)


def optional(t: AttrType) -> AttrType:
    """None or a value of ``t``."""
    return AttrType("optional", (t,))


def tuple_of(t: AttrType) -> AttrType:
    """A tuple (of any length) of values of ``t``."""
    return AttrType("tuple_of", (t,))


def record(*ts: AttrType) -> AttrType:
    """A tuple of ``len(ts)`` values, item i of type ``ts[i]``."""
    return AttrType("record", tuple(ts))


def one_of(*ts: AttrType) -> AttrType:
    """A value of any of ``ts``."""
    return AttrType("one_of", tuple(ts))


def choice(*values: str) -> AttrType:
    """One of the strings ``values``."""
    return AttrType("choice", tuple(values))


def omittable(t: AttrType) -> AttrType:
    """``t``, for an attr a node may leave out."""
    return dataclasses.replace(t, required=False)


def attr_problem(schema: dict[str, AttrType], attrs: dict[str, Any]) -> str | None:
    """What is wrong with ``attrs`` under ``schema`` (None if nothing): an attr the schema
    does not have, a required one missing, or a value of the wrong type."""
    for key, v in attrs.items():
        t = schema.get(key)
        if t is None:
            expected = ", ".join(sorted(schema)) or "none"
            return f"has attr {key!r}, which its schema does not declare (attrs: {expected})"
        if not t.check(v):
            shown = repr(v)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            return f"attr {key!r} is {shown} ({type(v).__name__}), not {t!r}"
    for key, t in schema.items():
        if t.required and key not in attrs:
            return f"lacks the required attr {key!r} ({t!r})"
    return None


@dataclasses.dataclass
class OpDef:
    """All the rules of one op.

    - ``shape(ctx) -> list[Shape]`` and ``dtype(ctx) -> list[DType]``
    - ``reference(inputs, attrs) -> list[np.ndarray]`` (the op's meaning)
    - ``grad(op, *output_grads) -> list[Tensor | None]`` or a NotDifferentiable
    - ``traits``: a subset of :data:`TRAITS` (each one is there with its meaning)
    - ``attrs``: the schema of the op's attributes, name -> :class:`AttrType`; a node's
      attrs must be exactly these (less the omittable ones it leaves out), each of its
      type. Required: an op without attributes says ``attrs={}``.
    - ``scalar(args, attrs) -> SExpr`` for elementwise ops
    - ``value(ctx) -> list`` partial symbolic value of small int outputs
    - ``samples(rng) -> list[Sample]`` test cases; an op without samples must
      say why in ``no_samples``.
    """

    name: str
    shape: Callable[[InferenceContext], list[Shape]]
    dtype: Callable[[InferenceContext], list[_dt.DType]]
    reference: Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]
    grad: Callable[..., Sequence[Any]] | NotDifferentiable
    traits: frozenset[str] = frozenset()
    attrs: dict[str, AttrType] | None = None  # required (register() refuses None)
    scalar: Callable[..., Any] | None = None
    value: Callable[[InferenceContext], list[Any] | None] | None = None
    samples: Callable[[np.random.Generator], list[Sample]] | None = None
    no_samples: str = ""
    num_outputs: int | None = 1  # None: decided by attrs (see outputs_for)
    doc: str = ""

    def has(self, trait: str) -> bool:
        return trait in self.traits


_REGISTRY: dict[str, OpDef] = {}

# The traits, a closed set (register() refuses any other): what each one promises, and
# who relies on it.
TRAITS: dict[str, str] = {
    "elementwise": "output element i is a function of input elements i (after broadcasting), "
    "given by the op's scalar expression (fusion, simplify, memory planning)",
    "commutative": "swapping the two inputs gives the same bits, up to which NaN comes out (CSE)",
    "reduction": "reduces its input over attr axis (DOT export; every fusable_reduction is one)",
    "fusable_reduction": "a one-input reduction with only axis and keepdims that may end a fused "
    "group (fusion, the Fused op's reduce epilogue)",
    "view": "the output is the input's bytes relabelled (memory planning lets it alias)",
    "shape_only": "the output depends only on the inputs' shapes and dtypes (constant folding)",
    "random": "draws random numbers: takes the run counter as a last input (lowering, verify)",
    "stateful": "its value is not a function of its inputs' values: never folded, merged or fused",
    "matmul": "a matrix product (DOT export)",
    "conv": "a convolution (DOT export)",
    "fused": "a fused group of elementwise ops, with an optional reduction epilogue",
    "per_element": "a multi-output op whose every output has the shape of its array inputs and "
    "whose output element i depends only on their element i (its other inputs are scalars): an "
    "output may be written over such an input's buffer (memory planning)",
    "host": "calls back into Python when it runs (a py_func, a print, an assertion): runs on the "
    "NumPy backend in a segment of its own, never in native code or the disk cache; its last "
    "output is a scalar bool token that keeps it in a program (segments, partition, lowering)",
}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name!r} registered twice")
    unknown = sorted(set(opdef.traits) - TRAITS.keys())
    if unknown:
        raise ValueError(f"op {opdef.name!r}: unknown traits {unknown}; the traits are {sorted(TRAITS)}")
    if opdef.attrs is None:
        raise ValueError(f"op {opdef.name!r} needs an attribute schema (attrs={{}} if it has none)")
    for key, t in opdef.attrs.items():
        if not isinstance(key, str) or not key or not isinstance(t, AttrType):
            raise ValueError(f"op {opdef.name!r}: attr {key!r} needs a name and an AttrType, got {t!r}")
    if opdef.grad is None:
        raise ValueError(f"op {opdef.name!r}: write NOT_DIFFERENTIABLE, not None")
    if "elementwise" in opdef.traits and opdef.scalar is None:
        raise ValueError(f"elementwise op {opdef.name!r} needs a scalar expression")
    if opdef.samples is None and not opdef.no_samples:
        raise ValueError(f"op {opdef.name!r} needs samples or a reason in no_samples")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no op named {name!r} is registered") from None


def all_ops() -> list[OpDef]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


# ---------------------------------------------------------------------------
# Inference context: what shape, dtype and value rules see.


class DimEnv:
    """How a context treats unknown dims: the frontend and the lowering differ."""

    def fresh(self, hint: str = "d") -> Dim:
        raise NotImplementedError

    def equal(self, a: Dim, b: Dim) -> Dim:
        """Record that a == b; return the merged dim; raise ShapeError if impossible."""
        raise NotImplementedError


class FrontendDims(DimEnv):
    """Unknown dims are anonymous symbols ``?k`` that map back to None."""

    def __init__(self) -> None:
        self._n = 0

    def fresh(self, hint: str = "d") -> Dim:
        self._n += 1
        return sym.symbol(f"?{self._n}")

    def equal(self, a: Dim, b: Dim) -> Dim:
        if isinstance(a, int) and isinstance(b, int):
            if a != b:
                raise ShapeError(f"{a} != {b}")
            return a
        return a if isinstance(a, int) else b

    def is_unknown(self, d: Dim) -> bool:
        return not isinstance(d, int) and any(s.startswith("?") for s in sym.free_symbols(d))


class InferenceContext:
    """Inputs' shapes, dtypes and (partial, symbolic) values, and the op's attrs."""

    def __init__(
        self,
        op_type: str,
        shapes: list[Shape],
        dtypes: list[_dt.DType],
        values: list[Any],
        attrs: dict[str, Any],
        env: DimEnv,
    ) -> None:
        self.op_type = op_type
        self.shapes = shapes
        self.dtypes = dtypes
        self._values = values
        self.attrs = attrs
        self.env = env

    def value(self, i: int) -> np.ndarray | None:
        """Input i's value as an object array of ints/dims/None, if known."""
        v = self._values[i]
        return None if v is None else np.asarray(v, dtype=object)

    def fresh(self, hint: str = "d") -> Dim:
        return self.env.fresh(hint)

    def equal(self, a: Dim, b: Dim, what: str = "dimensions") -> Dim:
        try:
            return self.env.equal(a, b)
        except ShapeError:
            raise ShapeError(f"{what} must be equal, got {a} and {b}") from None

    def rank(self, i: int) -> int | None:
        s = self.shapes[i]
        return None if s is None else len(s)

    def broadcast(self, *shapes: Shape) -> Shape:
        """NumPy broadcasting of shapes; None (unknown rank) if any is unknown."""
        if any(s is None for s in shapes):
            return None
        ndim = max(len(s) for s in shapes)  # type: ignore[arg-type]
        out: list[Dim] = []
        for axis in range(ndim):
            dims = [s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0]  # type: ignore
            out.append(self._broadcast_dims(dims, shapes))
        return tuple(out)

    def _broadcast_dims(self, dims: list[Dim], shapes: tuple[Shape, ...]) -> Dim:
        result: Dim = 1
        for d in dims:
            if d == 1:
                continue
            if result == 1:
                result = d
                continue
            try:
                result = self.env.equal(result, d)
            except ShapeError:
                shown = " and ".join(_fmt_shape(s) for s in shapes)
                raise ShapeError(f"shapes {shown} cannot be broadcast together") from None
        return result


def _fmt_shape(s: Shape) -> str:
    if s is None:
        return "<unknown>"
    return "[" + ", ".join(str(d) for d in s) + "]"


format_shape = _fmt_shape


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank if rank else 0
