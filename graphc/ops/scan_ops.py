"""Cumulative reductions along one axis: Cumsum and Cumprod (attrs ``axis``, ``exclusive``,
``reverse``), and their TF1 API (cumsum, cumprod).

``axis`` is an attr (TF passes it as a tensor input): a non-negative int when the input's
rank is known when the op is built, else the user's (possibly negative) int, which the
rules normalise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops.array_common import _static_int
from graphc.ops.common import NUMERIC, check_dtypes, convert_to_tensor, make, normalize_axis, rand
from graphc.ops.math_ops import multiply, real_div


def _scan_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[0]
    if s is not None:
        if not s:
            raise reg.ShapeError(f"{ctx.op_type} needs an input of rank >= 1, got a scalar")
        normalize_axis(ctx.attrs["axis"], len(s))
    return [s]


def _scan_dtype(ctx: reg.InferenceContext) -> list[Any]:
    check_dtypes(ctx, NUMERIC)
    return [ctx.dtypes[0]]


def _scan_ref(
    accumulate: Callable[..., np.ndarray], identity: int
) -> Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]:
    def ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        x = ins[0]
        ax = normalize_axis(attrs["axis"], x.ndim)
        if attrs["reverse"]:
            x = np.flip(x, ax)
        # dtype=x.dtype: NumPy would widen small ints (and TF keeps the input type).
        out = accumulate(x, axis=ax, dtype=x.dtype)
        if attrs["exclusive"] and x.shape[ax]:
            # Shift by one along the axis, starting from the operation's identity.
            first = np.full_like(np.take(out, [0], axis=ax), identity)
            out = np.concatenate([first, np.delete(out, -1, axis=ax)], axis=ax)
        if attrs["reverse"]:
            out = np.flip(out, ax)
        return [np.ascontiguousarray(out, dtype=x.dtype)]

    return ref


def _cumsum_grad(op: Operation, g: Tensor) -> list[Any]:
    """Each x_i feeds the outputs at and after i (before i when reversed): the adjoint is
    the same scan of g running the other way."""
    a = op.attrs
    return [cumsum(g, a["axis"], exclusive=a["exclusive"], reverse=not a["reverse"])]


def _cumprod_grad(op: Operation, g: Tensor) -> list[Any]:
    """TF's rule: d y_j / d x_i = y_j / x_i for the x_i in y_j, so the gradient is the
    reversed cumsum of g * y, divided by x. Like TF, an input with zeros gives inf/NaN."""
    x, y = op.inputs[0], op.outputs[0]
    a = op.attrs
    summed = cumsum(multiply(g, y), a["axis"], exclusive=a["exclusive"], reverse=not a["reverse"])
    return [real_div(summed, x)]


def _scan_samples(domain: str) -> Callable[[np.random.Generator], list[reg.Sample]]:
    def make_samples(rng: np.random.Generator) -> list[reg.Sample]:
        def attrs(axis: int, exclusive: bool = False, reverse: bool = False) -> dict[str, Any]:
            return {"axis": axis, "exclusive": exclusive, "reverse": reverse}

        return [
            reg.Sample([rand(rng, (5,), domain)], attrs(0)),
            reg.Sample([rand(rng, (3, 4), domain)], attrs(1, exclusive=True)),
            reg.Sample([rand(rng, (3, 4), domain)], attrs(0, reverse=True)),
            reg.Sample([rand(rng, (2, 3, 4), domain)], attrs(1, exclusive=True, reverse=True)),
            # A negative axis is what the API keeps for an input of unknown rank.
            reg.Sample([rand(rng, (3, 4), domain)], attrs(-1, reverse=True)),
            reg.Sample([rand(rng, (3, 4), "int")], attrs(1, exclusive=True), grad=False),
            reg.Sample([rand(rng, (3, 0), domain)], attrs(1, exclusive=True), grad=False),
        ]

    return make_samples


reg.register(
    reg.OpDef(
        name="Cumsum",
        attrs={"axis": reg.AXIS, "exclusive": reg.BOOL, "reverse": reg.BOOL},
        shape=_scan_shape,
        dtype=_scan_dtype,
        reference=_scan_ref(np.add.accumulate, 0),
        grad=_cumsum_grad,
        samples=_scan_samples("any"),
        doc="Running sums along attr axis; exclusive starts from 0, reverse runs from the end.",
    )
)
reg.register(
    reg.OpDef(
        name="Cumprod",
        attrs={"axis": reg.AXIS, "exclusive": reg.BOOL, "reverse": reg.BOOL},
        shape=_scan_shape,
        dtype=_scan_dtype,
        reference=_scan_ref(np.multiply.accumulate, 1),
        grad=_cumprod_grad,
        samples=_scan_samples("nonzero"),
        doc="Running products along attr axis; exclusive starts from 1, reverse runs from the end.",
    )
)


def _scan(
    op_type: str, x: Any, axis: Any, exclusive: bool, reverse: bool, name: str | None, default: str
) -> Tensor:
    t = convert_to_tensor(x)
    rank = t.shape.ndims
    if rank == 0:
        raise ValueError(f"{default} needs a tensor of rank >= 1, got the scalar {t.name}")
    ax = normalize_axis(_static_int(axis, f"the axis of {default}"), rank)
    attrs = {"axis": ax, "exclusive": bool(exclusive), "reverse": bool(reverse)}
    return make(op_type, [t], attrs, name=name or default)


def cumsum(
    x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False, name: str | None = None
) -> Tensor:
    """tf.cumsum (TF1): running sums along ``axis``, which must be known when the graph is
    built (TF also takes a run-time tensor); exclusive and reverse as TF."""
    return _scan("Cumsum", x, axis, exclusive, reverse, name, "Cumsum")


def cumprod(
    x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False, name: str | None = None
) -> Tensor:
    """tf.cumprod (TF1): running products along ``axis`` (known when the graph is built); its
    gradient divides by x, as TF's, so it is inf/NaN where x has zeros."""
    return _scan("Cumprod", x, axis, exclusive, reverse, name, "Cumprod")
