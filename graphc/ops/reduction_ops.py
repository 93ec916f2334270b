"""Reductions: Sum, Mean, Max, Min, Prod, LogSumExp, Any, All (attrs ``axis``, ``keepdims``),
the index reductions ArgMax / ArgMin, and count_nonzero (a composite).

``axis`` is a sorted tuple of non-negative ints when the input's rank is known
when the op is built; with an unknown rank it keeps the user's (possibly
negative) ints and the rules normalise them. ``axis=None`` reduces every axis;
``axis=()`` reduces none.
"""

from __future__ import annotations

import functools
import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor
from graphc.frontend.location import user_location
from graphc.ops.array_common import _static_dims
from graphc.ops.broadcast_ops import broadcast_to
from graphc.ops.common import (
    FLOATS,
    NUMERIC,
    as_int_list,
    check_dtypes,
    convert_to_tensor,
    deprecated_argument,
    make,
    normalize_axes,
    normalize_axis,
    rand,
    static_value,
)
from graphc.ops.compare_ops import equal, logical_and, not_equal
from graphc.ops.concat_ops import concat
from graphc.ops.core_ops import constant, shape, size, stop_gradient
from graphc.ops.fused_ops import signed_zero_fix
from graphc.ops.layout_ops import expand_dims, reshape
from graphc.ops.math_ops import cast, exp, floordiv_, maximum, multiply, real_div, subtract, where

Axis = tuple[int, ...] | None


# -- axes -------------------------------------------------------------------------------
_DIM = "reduction dimension"  # as TF1's messages name an axis of a reduction


def _all_axes(axis: Axis, rank: int) -> tuple[int, ...]:
    return tuple(range(rank)) if axis is None else normalize_axes(axis, rank, _DIM)


def _ctx_axes(ctx: reg.InferenceContext) -> tuple[int, ...] | None:
    """The op's reduced axes, normalised; None when the input's rank is unknown."""
    rank = ctx.rank(0)
    return None if rank is None else _all_axes(ctx.attrs["axis"], rank)


# -- rules shared by the eight reductions ----------------------------------------------------
def _reduce_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    shape = ctx.shapes[0]
    keepdims = ctx.attrs["keepdims"]
    if shape is None:
        # Reducing every axis without keepdims gives a scalar whatever the rank.
        return [() if ctx.attrs["axis"] is None and not keepdims else None]
    axes = _all_axes(ctx.attrs["axis"], len(shape))
    if keepdims:
        return [tuple(1 if i in axes else d for i, d in enumerate(shape))]
    return [tuple(d for i, d in enumerate(shape) if i not in axes)]


def _reduce_dtype(allowed: Sequence[_dt.DType]) -> Callable[[reg.InferenceContext], list[_dt.DType]]:
    def rule(ctx: reg.InferenceContext) -> list[_dt.DType]:
        check_dtypes(ctx, allowed)
        return [ctx.dtypes[0]]

    return rule


def _reduce_value(
    combine: Callable[[Any, Any], Any], empty: Any
) -> Callable[[reg.InferenceContext], list[Any] | None]:
    """Partial symbolic value of an integer reduction (e.g. ``reduce_prod(shape(x)[1:])``)."""

    def rule(ctx: reg.InferenceContext) -> list[Any] | None:
        v = ctx.value(0)
        axes = _ctx_axes(ctx)
        if v is None or axes is None or not ctx.dtypes[0].is_integer or any(d is None for d in v.flat):
            return None
        rest = [i for i in range(v.ndim) if i not in axes]
        moved = np.transpose(v, rest + list(axes))
        out_shape = tuple(v.shape[i] for i in rest)
        rows = moved.reshape(out_shape + (-1,))
        if rows.shape[-1] == 0 and empty is None:
            return None
        out = np.empty(out_shape, dtype=object)
        for idx in np.ndindex(*out_shape):
            row = list(rows[idx])
            out[idx] = functools.reduce(combine, row) if row else empty
        if ctx.attrs["keepdims"]:
            out = out.reshape(tuple(1 if i in axes else v.shape[i] for i in range(v.ndim)))
        return [out]

    return rule


# -- references ---------------------------------------------------------------------------
def _np_axis(x: np.ndarray, axis: Axis) -> tuple[int, ...]:
    return _all_axes(axis, x.ndim)


def _sum_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    r = np.sum(x, axis=_np_axis(x, attrs["axis"]), keepdims=attrs["keepdims"], dtype=x.dtype)
    return [np.asarray(r, dtype=x.dtype)]


def _prod_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    r = np.prod(x, axis=_np_axis(x, attrs["axis"]), keepdims=attrs["keepdims"], dtype=x.dtype)
    return [np.asarray(r, dtype=x.dtype)]


def _mean_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    axes = _np_axis(x, attrs["axis"])
    keepdims = attrs["keepdims"]
    if x.dtype.kind in "iu":
        # TF's integer mean: the sum divided by the count, truncated toward zero. The sum is
        # accumulated in 64 bits (TF accumulates in the input type and may wrap).
        acc = np.int64 if x.dtype.kind == "i" else np.uint64
        total = np.sum(x, axis=axes, keepdims=keepdims, dtype=acc)
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        if count == 0:
            return [np.zeros(np.shape(total), dtype=x.dtype)]
        # Truncated toward zero without np.abs (which wraps at the type's minimum).
        q = np.floor_divide(total, count)
        mean = np.where((q < 0) & (q * count != total), q + 1, q)
        return [np.asarray(mean).astype(x.dtype)]
    with warnings.catch_warnings():  # the mean of nothing is NaN, as TF gives
        warnings.simplefilter("ignore", RuntimeWarning)
        r = np.mean(x, axis=axes, keepdims=keepdims)
    return [np.asarray(r, dtype=x.dtype)]


def _lowest(dt: np.dtype) -> Any:
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min


def _highest(dt: np.dtype) -> Any:
    return np.inf if dt.kind == "f" else np.iinfo(dt).max


def _extreme_ref(kind: str, np_fn: Any, identity: Any) -> Any:
    """The reference of Max (``kind`` "max") or Min ("min"): ``initial=`` gives TF's value for
    an empty reduction (the dtype's lowest for max, highest for min) instead of an error, and
    float results follow the scalar table's signed zeros."""

    def ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        x = ins[0]
        axes = _np_axis(x, attrs["axis"])
        r = np_fn(x, axis=axes, keepdims=attrs["keepdims"], initial=identity(x.dtype))
        if x.dtype.kind == "f":
            r = signed_zero_fix(np.asarray(r), x, kind, axes, attrs["keepdims"])
        return [np.asarray(r, dtype=x.dtype)]

    return ref


_max_ref = _extreme_ref("max", np.max, _lowest)
_min_ref = _extreme_ref("min", np.min, _highest)


def _logsumexp_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    axes = _np_axis(x, attrs["axis"])
    shift = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    # A row that is all -inf (or holds +inf) is not shifted, so it gives -inf (+inf), not NaN.
    shift = np.where(np.isfinite(shift), shift, 0).astype(x.dtype)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        r = np.log(np.sum(np.exp(x - shift), axis=axes, keepdims=True)) + shift
    if not attrs["keepdims"]:
        r = np.squeeze(r, axis=axes)
    return [np.asarray(r, dtype=x.dtype)]


def _any_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    return [
        np.asarray(np.any(x, axis=_np_axis(x, attrs["axis"]), keepdims=attrs["keepdims"]), dtype=np.bool_)
    ]


def _all_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    return [
        np.asarray(np.all(x, axis=_np_axis(x, attrs["axis"]), keepdims=attrs["keepdims"]), dtype=np.bool_)
    ]


# -- gradients ---------------------------------------------------------------------------
def _dynamic_kept_shape(x: Tensor, axis: tuple[int, ...]) -> Tensor:
    """shape(x) with 1 at the reduced axes, for an input of unknown rank. The axes may be
    negative, so each is replaced by slicing the shape vector around it."""
    dims = shape(x)
    one = constant([1], dtype=_dt.int32)
    for a in axis:
        parts = [dims[:a], one] if a == -1 else [dims[:a], one, dims[a + 1 :]]
        dims = concat(parts, 0)
    return dims


def _keep_reduced(t: Tensor, op: Operation) -> Tensor:
    """``t``, shaped like the reduction's output, reshaped to the input's rank with 1 at
    each reduced axis, so it broadcasts against the input."""
    x = op.inputs[0]
    axis: Axis = op.attrs["axis"]
    if op.attrs["keepdims"] or axis is None:
        return t  # already kept, or a scalar (every axis reduced)
    rank = x.shape.ndims
    if rank is None:
        return reshape(t, _dynamic_kept_shape(x, axis))
    axes = normalize_axes(axis, rank, _DIM)
    if not axes:
        return t
    dims = _static_dims(x)
    if dims is not None:
        return reshape(t, [1 if i in axes else d for i, d in enumerate(dims)])
    # Unknown dims (a None batch): insert the reduced axes one by one, which keeps every
    # other dim exactly as inferred.
    for a in axes:
        t = expand_dims(t, a)
    return t


def _broadcast_as(t: Tensor, x: Tensor) -> Tensor:
    dims = _static_dims(x)
    if dims is not None:
        if t.shape.is_fully_defined() and t.shape.as_list() == dims:
            return t
        return broadcast_to(t, dims)
    return broadcast_to(t, shape(x))


def _sum_grad(op: Operation, g: Tensor) -> list[Any]:
    return [_broadcast_as(_keep_reduced(g, op), op.inputs[0])]


def _reduced_count(op: Operation) -> Tensor:
    """How many input elements went into each output element, in the input's dtype."""
    x = op.inputs[0]
    dims = x.shape.as_tuple()
    if dims is not None:
        reduced = [dims[a] for a in _all_axes(op.attrs["axis"], len(dims))]
        if all(d is not None for d in reduced):
            return constant(int(np.prod(reduced, dtype=np.int64)), dtype=x.dtype)
    n_in = size(x, out_type=_dt.int64)
    n_out = size(op.outputs[0], out_type=_dt.int64)
    return cast(floordiv_(n_in, maximum(n_out, 1)), x.dtype)


def _mean_grad(op: Operation, g: Tensor) -> list[Any]:
    return _sum_grad(op, real_div(g, _reduced_count(op)))


def _extreme_grad(op: Operation, g: Tensor) -> list[Any]:
    """TF's rule for Max/Min: the gradient is shared equally by the tied extrema."""
    x, y = op.inputs[0], op.outputs[0]
    hits = cast(equal(x, _keep_reduced(y, op)), g.dtype)
    ties = reduce_sum(hits, axis=op.attrs["axis"], keepdims=True)
    return [multiply(real_div(hits, ties), _keep_reduced(g, op))]


def _prod_grad(op: Operation, g: Tensor) -> list[Any]:
    """d prod / d x_i = product of the other elements, computed without dividing by zero:
    with no zero in a group it is prod / x_i; with one zero it is the product of the
    non-zeros at the zero and 0 elsewhere; with more, 0. First derivatives are exact
    everywhere; second derivatives are exact for groups without zeros."""
    x = op.inputs[0]
    axis = op.attrs["axis"]
    is_zero = equal(x, 0)
    safe_x = where(is_zero, 1, x)
    nonzero_prod = reduce_prod(safe_x, axis=axis, keepdims=True)
    zeros = reduce_sum(cast(is_zero, x.dtype), axis=axis, keepdims=True)
    lone_zero = logical_and(is_zero, equal(zeros, 1))
    others = where(equal(zeros, 0), real_div(nonzero_prod, safe_x), where(lone_zero, nonzero_prod, 0))
    return [multiply(_keep_reduced(g, op), others)]


def _logsumexp_grad(op: Operation, g: Tensor) -> list[Any]:
    """g * softmax(x) over the reduced axes, normalised by its own sum: exp(x - y) with
    y rounded to float32 would be off by up to |y| * eps relative (0.2% at 1e5)."""
    x = op.inputs[0]
    axis = op.attrs["axis"]
    e = exp(subtract(x, stop_gradient(reduce_max(x, axis=axis, keepdims=True))))
    softmax = real_div(e, reduce_sum(e, axis=axis, keepdims=True))
    return [multiply(_keep_reduced(g, op), softmax)]


# -- samples -------------------------------------------------------------------------------
_FLOAT_CASES: list[tuple[tuple[int, ...], Axis, bool]] = [
    ((3, 4), (1,), False),
    ((3, 4), (0,), True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (1, 2), True),
    ((3, 4), None, False),
    ((3, 4), None, True),
    ((3, 4), (), False),
    ((), None, False),
]


def _cases(
    domain: str, extra: Callable[[np.random.Generator], list[reg.Sample]] | None = None
) -> Callable[[np.random.Generator], list[reg.Sample]]:
    def make_samples(rng: np.random.Generator) -> list[reg.Sample]:
        out = [reg.Sample([rand(rng, s, domain)], {"axis": a, "keepdims": k}) for s, a, k in _FLOAT_CASES]
        return out + (extra(rng) if extra else [])

    return make_samples


def _int_sample(rng: np.random.Generator, axis: Axis = (1,), keepdims: bool = False) -> reg.Sample:
    return reg.Sample([rand(rng, (3, 4), "int", np.int32)], {"axis": axis, "keepdims": keepdims}, grad=False)


def _mean_extra(rng: np.random.Generator) -> list[reg.Sample]:
    # -7 / 2 truncates to -3 (TF), where floor division would give -4.
    trunc = reg.Sample(
        [np.array([[-4, -3], [3, 4], [-1, 0]], dtype=np.int32)], {"axis": (1,), "keepdims": False}, grad=False
    )
    return [
        _int_sample(rng),
        trunc,
        reg.Sample([rand(rng, (3, 4)).astype(np.float32)], {"axis": (0,), "keepdims": False}, grad=False),
    ]


def _extreme_extra(rng: np.random.Generator) -> list[reg.Sample]:
    tied = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    return [_int_sample(rng), reg.Sample([tied], {"axis": (1,), "keepdims": False}, grad=False)]


def _prod_extra(rng: np.random.Generator) -> list[reg.Sample]:
    # Groups with one zero: the product is multilinear, so central differences still hold.
    x = rand(rng, (3, 4), "nonzero")
    x[0, 1] = 0.0
    x[2, 3] = 0.0
    x[1, 0] = 0.0
    x[1, 2] = 0.0
    return [
        _int_sample(rng),
        reg.Sample([x], {"axis": (1,), "keepdims": False}),
        reg.Sample([x], {"axis": (0,), "keepdims": True}),
    ]


def _logsumexp_extra(rng: np.random.Generator) -> list[reg.Sample]:
    big = rand(rng, (2, 3)) + 1000.0  # overflows exp unless shifted
    inf_rows = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    return [
        reg.Sample([big], {"axis": (1,), "keepdims": False}),
        reg.Sample([inf_rows], {"axis": (1,), "keepdims": False}, grad=False),
        reg.Sample([inf_rows], {"axis": None, "keepdims": True}, grad=False),
    ]


def _bool_cases(rng: np.random.Generator) -> list[reg.Sample]:
    out = [
        reg.Sample([rand(rng, s, "bool")], {"axis": a, "keepdims": k}, grad=False)
        for s, a, k in _FLOAT_CASES
        if s
    ]
    out.append(reg.Sample([np.zeros((2, 0), dtype=bool)], {"axis": (1,), "keepdims": False}, grad=False))
    return out


# -- registration ----------------------------------------------------------------------------
def _register(
    name: str,
    reference: Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]],
    grad: Callable[..., Sequence[Any]] | reg.NotDifferentiable,
    allowed: Sequence[_dt.DType],
    samples: Callable[[np.random.Generator], list[reg.Sample]],
    value: Callable[[reg.InferenceContext], list[Any] | None] | None = None,
    doc: str = "",
    traits: frozenset[str] = frozenset({"reduction"}),
) -> None:
    reg.register(
        reg.OpDef(
            name=name,
            attrs={"axis": reg.optional(reg.AXES), "keepdims": reg.BOOL},
            shape=_reduce_shape,
            dtype=_reduce_dtype(allowed),
            reference=reference,
            grad=grad,
            traits=traits,
            value=value,
            samples=samples,
            doc=doc,
        )
    )


_BOOL_GRAD = reg.NotDifferentiable("boolean reductions have no gradient")
# "fusable_reduction": the op may end a fused elementwise group (passes/fuse.py); the fused
# node then runs this op's rules and reference on the group's result with just the attrs
# axis and keepdims, so only a one-input reduction with no other attrs can have it.
_FUSABLE = frozenset({"reduction", "fusable_reduction"})

_register(
    "Sum",
    _sum_ref,
    _sum_grad,
    NUMERIC,
    _cases("any", lambda rng: [_int_sample(rng), _int_sample(rng, None, True)]),
    value=_reduce_value(operator.add, 0),
    traits=_FUSABLE,
)
_register(
    "Mean",
    _mean_ref,
    _mean_grad,
    NUMERIC,
    _cases("any", _mean_extra),
    doc="Integer means truncate toward zero (TF).",
    traits=_FUSABLE,
)
_register(
    "Max",
    _max_ref,
    _extreme_grad,
    NUMERIC,
    _cases("any", _extreme_extra),
    value=_reduce_value(symbolic.maximum, None),
    traits=_FUSABLE,
)
_register(
    "Min",
    _min_ref,
    _extreme_grad,
    NUMERIC,
    _cases("any", _extreme_extra),
    value=_reduce_value(symbolic.minimum, None),
    traits=_FUSABLE,
)
_register(
    "Prod",
    _prod_ref,
    _prod_grad,
    NUMERIC,
    _cases("nonzero", _prod_extra),
    value=_reduce_value(operator.mul, 1),
    traits=_FUSABLE,
)
_register(
    "LogSumExp",
    _logsumexp_ref,
    _logsumexp_grad,
    FLOATS,
    _cases("any", _logsumexp_extra),
    doc="log(sum(exp(x))) over the axes, shifted by the (finite) max so it cannot overflow.",
)
_register("Any", _any_ref, _BOOL_GRAD, (_dt.bool_,), _bool_cases)
_register("All", _all_ref, _BOOL_GRAD, (_dt.bool_,), _bool_cases)


# -- the reduction API ----------------------------------------------------------------------------
def _axis_values(axis: Any, what: str) -> np.ndarray:
    if isinstance(axis, Tensor):
        return static_value(axis, what)
    if isinstance(axis, list | tuple) and any(isinstance(a, Tensor) for a in axis):
        return np.array([static_value(a, what).item() for a in axis])
    return np.asarray(axis)


def reduction_axis(x: Tensor, axis: Any, api: str) -> Axis:
    """An ``axis`` argument (int, list, tuple, NumPy or constant tensor) as the op's attr."""
    if axis is None:
        return None
    arr = _axis_values(axis, f"the axis of {api}")
    if arr.ndim > 1:
        raise ValueError(f"{api}: axis must be a scalar or a list of ints, got shape {arr.shape}")
    axes = as_int_list(arr, f"{api}: axis") if arr.size else []
    try:
        return normalize_axes(axes, x.shape.ndims, _DIM)
    except reg.ShapeError as exc:
        raise ValueError(f"{api}: {exc} (input {x.name} of shape {x.shape}, at {user_location()})") from None


def _keepdims(keepdims: Any, keep_dims: Any) -> bool:
    value = deprecated_argument(keepdims, keep_dims, "keepdims", "keep_dims")
    return False if value is None else bool(value)


def _reduction_api(op_type: str, api: str, default_name: str, doc: str) -> Callable[..., Tensor]:
    """The TF1 function tf.<api>: ``axis`` (or its deprecated alias ``reduction_indices``)
    must be known when the graph is built; ``keep_dims`` is the deprecated ``keepdims``."""

    def reduce(
        input_tensor: Any,
        axis: Any = None,
        keepdims: Any = None,
        name: str | None = None,
        reduction_indices: Any = None,
        keep_dims: Any = None,
    ) -> Tensor:
        x = convert_to_tensor(input_tensor)
        axes = reduction_axis(
            x, deprecated_argument(axis, reduction_indices, "axis", "reduction_indices"), api
        )
        attrs = {"axis": axes, "keepdims": _keepdims(keepdims, keep_dims)}
        return make(op_type, [x], attrs, name=name or default_name)

    reduce.__name__ = reduce.__qualname__ = api
    reduce.__doc__ = doc
    return reduce


reduce_sum = _reduction_api("Sum", "reduce_sum", "Sum", "tf.reduce_sum (TF1).")
reduce_mean = _reduction_api(
    "Mean",
    "reduce_mean",
    "Mean",
    "tf.reduce_mean (TF1): the mean of integers is integer (truncated toward zero).",
)
reduce_max = _reduction_api(
    "Max",
    "reduce_max",
    "Max",
    "tf.reduce_max (TF1): an empty reduction gives the dtype's lowest value (-inf for floats).",
)
reduce_min = _reduction_api(
    "Min",
    "reduce_min",
    "Min",
    "tf.reduce_min (TF1): an empty reduction gives the dtype's highest value (+inf for floats).",
)
reduce_prod = _reduction_api(
    "Prod", "reduce_prod", "Prod", "tf.reduce_prod (TF1); its gradient is exact at zeros too (first order)."
)
reduce_logsumexp = _reduction_api(
    "LogSumExp",
    "reduce_logsumexp",
    "ReduceLogSumExp",
    "tf.reduce_logsumexp (TF1), as one op (TF builds it from max/exp/sum/log); all -inf gives -inf.",
)
reduce_any = _reduction_api("Any", "reduce_any", "Any", "tf.reduce_any (TF1): logical or over bool tensors.")
reduce_all = _reduction_api("All", "reduce_all", "All", "tf.reduce_all (TF1): logical and over bool tensors.")


def count_nonzero(
    input_tensor: Any = None,
    axis: Any = None,
    keepdims: Any = None,
    dtype: Any = _dt.int64,
    name: str | None = None,
    reduction_indices: Any = None,
    keep_dims: Any = None,
    input: Any = None,  # noqa: A002  (TF1's deprecated alias)
) -> Tensor:
    """tf.count_nonzero (TF1): the number of non-zero (non-False) elements, as ``dtype``.
    String tensors are not supported."""
    value = deprecated_argument(input_tensor, input, "input_tensor", "input")
    if value is None:
        raise ValueError("count_nonzero needs input_tensor")
    x = convert_to_tensor(value)
    if x.dtype.is_string:
        raise TypeError("count_nonzero of string tensors is not supported")
    zero = convert_to_tensor(False if x.dtype.is_bool else 0, dtype=x.dtype)
    nonzero = cast(not_equal(x, zero), _dt.int64)
    counts = reduce_sum(
        nonzero, axis=axis, keepdims=keepdims, reduction_indices=reduction_indices, keep_dims=keep_dims
    )
    return cast(counts, dtype, name=name or "count_nonzero")


# -- ArgMax / ArgMin -----------------------------------------------------------------------------
def _arg_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    shape = ctx.shapes[0]
    if shape is None:
        return [None]
    if not shape:
        raise reg.ShapeError(f"{ctx.op_type} needs an input of rank >= 1, got a scalar")
    axis = normalize_axis(ctx.attrs["axis"], len(shape))
    if shape[axis] == 0:
        raise reg.ShapeError(f"Reduction axis {axis} is empty in shape {reg.format_shape(shape)}")
    return [shape[:axis] + shape[axis + 1 :]]


def _arg_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, (*NUMERIC, _dt.bool_))
    out = ctx.attrs["output_type"]
    if out not in (_dt.int32, _dt.int64):
        raise TypeError(f"output_type of {ctx.op_type} must be int32 or int64, got {out.name}")
    return [out]


def _arg_ref(fn: Callable[..., np.ndarray]) -> Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]:
    def ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        # NumPy picks the first of tied extrema, as TF does.
        return [np.asarray(fn(ins[0], axis=attrs["axis"])).astype(attrs["output_type"].np)]

    return ref


def _arg_samples(rng: np.random.Generator) -> list[reg.Sample]:
    ties = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [5, -1, 5, -1]], dtype=np.int32)
    return [
        reg.Sample([rand(rng, (3, 4))], {"axis": 0, "output_type": _dt.int64}, grad=False),
        reg.Sample([rand(rng, (3, 4))], {"axis": 1, "output_type": _dt.int32}, grad=False),
        reg.Sample([rand(rng, (2, 3, 4))], {"axis": 1, "output_type": _dt.int64}, grad=False),
        reg.Sample([ties], {"axis": 1, "output_type": _dt.int64}, grad=False),
        reg.Sample([rand(rng, (5,))], {"axis": 0, "output_type": _dt.int64}, grad=False),
    ]


for _name, _fn in (("ArgMax", np.argmax), ("ArgMin", np.argmin)):
    reg.register(
        reg.OpDef(
            name=_name,
            attrs={"axis": reg.AXIS, "output_type": reg.DTYPE},
            shape=_arg_shape,
            dtype=_arg_dtype,
            reference=_arg_ref(_fn),
            grad=reg.NotDifferentiable("an index is piecewise constant"),
            samples=_arg_samples,
        )
    )


def _arg(
    op_type: str, api: str, input: Any, axis: Any, name: str | None, dimension: Any, output_type: Any
) -> Tensor:
    x = convert_to_tensor(input)
    axis = deprecated_argument(axis, dimension, "axis", "dimension")
    if axis is None:
        axis = 0  # TF1's default
    arr = _axis_values(axis, f"the axis of {api}")
    if arr.size != 1 or arr.ndim > 1:
        raise ValueError(f"{api}: axis must be a single int, got {axis!r}")
    try:
        a = normalize_axis(as_int_list(arr, f"{api}: axis")[0], x.shape.ndims)
    except reg.ShapeError as exc:
        raise ValueError(f"{api}: {exc} (input {x.name} of shape {x.shape}, at {user_location()})") from None
    return make(op_type, [x], {"axis": a, "output_type": _dt.as_dtype(output_type)}, name=name or op_type)


def argmax(
    input: Any,  # noqa: A002  (TF's name)
    axis: Any = None,
    name: str | None = None,
    dimension: Any = None,
    output_type: Any = _dt.int64,
) -> Tensor:
    """tf.argmax (TF1): axis defaults to 0; ties give the first index."""
    return _arg("ArgMax", "argmax", input, axis, name, dimension, output_type)


def argmin(
    input: Any,  # noqa: A002
    axis: Any = None,
    name: str | None = None,
    dimension: Any = None,
    output_type: Any = _dt.int64,
) -> Tensor:
    """tf.argmin (TF1): axis defaults to 0; ties give the first index."""
    return _arg("ArgMin", "argmin", input, axis, name, dimension, output_type)


def arg_max(input: Any, dimension: Any, output_type: Any = _dt.int64, name: str | None = None) -> Tensor:  # noqa: A002
    """tf.arg_max (TF1's raw-op spelling of argmax)."""
    return _arg("ArgMax", "arg_max", input, dimension, name, None, output_type)


def arg_min(input: Any, dimension: Any, output_type: Any = _dt.int64, name: str | None = None) -> Tensor:  # noqa: A002
    """tf.arg_min (TF1's raw-op spelling of argmin)."""
    return _arg("ArgMin", "arg_min", input, dimension, name, None, output_type)
