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


@dataclasses.dataclass
class OpDef:
    """All the rules of one op.

    - ``shape(ctx) -> list[Shape]`` and ``dtype(ctx) -> list[DType]``
    - ``reference(inputs, attrs) -> list[np.ndarray]`` (the op's meaning)
    - ``grad(op, *output_grads) -> list[Tensor | None]`` or a NotDifferentiable
    - ``traits``: "elementwise", "reduction", "stateful", "random", "matmul",
      "conv", "shape_only" (output depends only on input shapes), "commutative"
      (swapping the two inputs gives the same bits, up to which NaN comes out), "view" (the output is the
      input's bytes relabelled), "fusable_reduction" (may end a fused group), ...
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
    scalar: Callable[..., Any] | None = None
    value: Callable[[InferenceContext], list[Any] | None] | None = None
    samples: Callable[[np.random.Generator], list[Sample]] | None = None
    no_samples: str = ""
    num_outputs: int | None = 1  # None: decided by attrs (see outputs_for)
    doc: str = ""

    def has(self, trait: str) -> bool:
        return trait in self.traits


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name!r} registered twice")
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
