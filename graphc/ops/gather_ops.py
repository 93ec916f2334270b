"""Index-driven ops: GatherV2, its gradient ScatterAddDense, OneHot, and their TF1 API
(gather, one_hot)."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops.array_common import (
    _fmt,
    _index_dtype,
    _pyslice,
    _shape_arg,
    _static_int,
)
from graphc.ops.common import (
    check_dtypes,
    convert_to_tensor,
    make,
    normalize_axis,
    rand,
    static_value,
    value_shape,
)


# =============================================================================================
# GatherV2 / ScatterAddDense
def _check_indices(idx: np.ndarray, dim: int, what: str = "indices") -> None:
    bad = (idx < 0) | (idx >= dim)
    if np.any(bad):
        pos = tuple(int(p) for p in np.argwhere(bad)[0])
        where_ = "[" + ",".join(map(str, pos)) + "]" if pos else ""
        raise IndexError(f"{what}{where_} = {idx[pos]} is not in [0, {dim})")


def _gather_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    p, i = ctx.shapes
    if p is None:
        return [None]
    if not p:
        raise reg.ShapeError("params must be at least a vector")
    ax = normalize_axis(ctx.attrs["axis"], len(p))
    v = ctx.value(1)
    if v is not None and isinstance(p[ax], int):
        known = np.array([x for x in v.flat if isinstance(x, int)], dtype=np.int64)
        try:
            _check_indices(known, p[ax])
        except IndexError as exc:
            raise reg.ShapeError(str(exc)) from None
    if i is None:
        return [None]
    return [tuple(p[:ax]) + tuple(i) + tuple(p[ax + 1 :])]


def _gather_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1])
    return [ctx.dtypes[0]]


def _gather_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    p, idx = ins
    ax = normalize_axis(attrs["axis"], p.ndim)
    _check_indices(idx, p.shape[ax])
    return [np.take(p, idx, axis=ax)]


def _gather_value(ctx: reg.InferenceContext) -> list[Any] | None:
    vp, vi = ctx.value(0), ctx.value(1)
    if vp is None or vi is None or vp.ndim == 0 or not all(isinstance(x, int) for x in vi.flat):
        return None
    ax = normalize_axis(ctx.attrs["axis"], vp.ndim)
    idx = np.array(vi.tolist(), dtype=np.int64).reshape(vi.shape)
    if np.any((idx < 0) | (idx >= vp.shape[ax])):
        return None
    return [np.asarray(np.take(vp, idx, axis=ax), dtype=object)]


def _gather_grad(op: Operation, g: Tensor) -> list[Any]:
    params, indices = op.inputs
    return [make("ScatterAddDense", [g, indices, _shape_arg(params)], {"axis": op.attrs["axis"]}), None]


def _gather_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (5, 3)), np.array([0, 2, 2, 4], np.int32)], {"axis": 0}, wrt=(0,)),
        reg.Sample([rand(rng, (2, 4, 3)), np.array([[3, 0], [1, 1]], np.int32)], {"axis": 1}, wrt=(0,)),
        reg.Sample([rand(rng, (2, 4)), np.array(3, np.int64)], {"axis": -1}, wrt=(0,)),
        reg.Sample([np.array([4, 7, 9], np.int32), np.array([2, 0], np.int32)], {"axis": 0}, grad=False),
    ]


reg.register(
    reg.OpDef(
        name="GatherV2",
        attrs={"axis": reg.AXIS},
        shape=_gather_shape,
        dtype=_gather_dtype,
        reference=_gather_ref,
        grad=_gather_grad,
        value=_gather_value,
        samples=_gather_samples,
        doc="Take slices of params at indices along attr axis; an index out of range raises IndexError.",
    )
)


def gather(
    params: Any,
    indices: Any,
    validate_indices: Any = None,
    name: str | None = None,
    axis: Any = None,
    batch_dims: int = 0,
) -> Tensor:
    """tf.gather (GatherV2); batch_dims other than 0 is not supported. Indices out of range
    raise when the graph runs (InvalidArgumentError in TF), or when it is built if constant."""
    if batch_dims != 0:
        raise NotImplementedError("tf.gather with batch_dims != 0 is not supported by graphc")
    p = convert_to_tensor(params)
    idx = convert_to_tensor(indices)
    ax = normalize_axis(_static_int(0 if axis is None else axis, "the axis of gather"), p.shape.ndims)
    return make("GatherV2", [p, idx], {"axis": ax}, name=name or "GatherV2")


def _scatter_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    u, i, s = ctx.shapes
    if s is not None and len(s) != 1:
        raise reg.ShapeError(f"shape must be a vector, got shape {_fmt(s)}")
    out = value_shape(ctx, 2, "shape")
    if out is None:
        return [None]
    ax = normalize_axis(ctx.attrs["axis"], len(out))
    if u is not None and i is not None:
        expected = tuple(out[:ax]) + tuple(i) + tuple(out[ax + 1 :])
        if len(expected) != len(u) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(expected, u, strict=True)
        ):
            raise reg.ShapeError(f"updates of shape {_fmt(u)} do not match {_fmt(expected)}")
    return [out]


def _scatter_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1, 2])
    return [ctx.dtypes[0]]


def _scatter_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    updates, idx, dims = ins
    out = np.zeros(tuple(int(d) for d in dims), dtype=updates.dtype)
    ax = normalize_axis(attrs["axis"], out.ndim)
    _check_indices(idx, out.shape[ax])
    np.add.at(out, (_pyslice(None),) * ax + (idx,), updates)
    return [out]


reg.register(
    reg.OpDef(
        name="ScatterAddDense",
        attrs={"axis": reg.AXIS},
        shape=_scatter_shape,
        dtype=_scatter_dtype,
        reference=_scatter_ref,
        grad=lambda op, g: [gather(g, op.inputs[1], axis=op.attrs["axis"]), None, None],
        samples=lambda rng: [
            reg.Sample(
                [rand(rng, (4, 3)), np.array([0, 2, 2, 4], np.int32), np.array([5, 3], np.int32)],
                {"axis": 0},
                wrt=(0,),
            ),
            reg.Sample(
                [
                    rand(rng, (2, 2, 2, 3)),
                    np.array([[3, 0], [1, 1]], np.int32),
                    np.array([2, 4, 3], np.int32),
                ],
                {"axis": -2},
                wrt=(0,),
            ),
        ],
        doc="Zeros of shape input 2 plus updates added at indices along attr axis (the gradient of GatherV2).",
    )
)


# =============================================================================================
# OneHot
def _one_hot_axis(axis: int, ndim: int) -> int:
    if axis == -1:
        return ndim
    if not 0 <= axis <= ndim:
        raise reg.ShapeError(f"one_hot axis must be -1 or in [0, {ndim}], got {axis}")
    return axis


def _one_hot_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, depth = ctx.shapes[0], ctx.attrs["depth"]
    if depth < 0:
        raise reg.ShapeError(f"depth must be non-negative, got {depth}")
    if x is None:
        return [None]
    ax = _one_hot_axis(ctx.attrs["axis"], len(x))
    return [tuple(x[:ax]) + (depth,) + tuple(x[ax:])]


def _one_hot_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, (_dt.uint8, _dt.int32, _dt.int64))
    return [ctx.attrs["dtype"]]


def _one_hot_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    idx = ins[0]
    hot = idx[..., None] == np.arange(attrs["depth"])
    hot = np.moveaxis(hot, -1, _one_hot_axis(attrs["axis"], idx.ndim))
    dt = attrs["dtype"].np
    return [np.where(hot, np.asarray(attrs["on_value"], dt), np.asarray(attrs["off_value"], dt)).astype(dt)]


def _one_hot_samples(rng: np.random.Generator) -> list[reg.Sample]:
    idx = np.array([[0, 3, 1], [2, 5, -1]], np.int32)  # 5 and -1 are out of range: all off
    base = {"depth": 4, "on_value": 1.0, "off_value": 0.0, "dtype": _dt.float32}
    return [
        reg.Sample([idx], {**base, "axis": -1}, grad=False),
        reg.Sample([idx], {**base, "axis": 0}, grad=False),
        reg.Sample(
            [idx], {**base, "axis": 1, "on_value": 5, "off_value": -1, "dtype": _dt.int32}, grad=False
        ),
        reg.Sample([np.array(2, np.int64)], {**base, "axis": -1}, grad=False),
    ]


reg.register(
    reg.OpDef(
        name="OneHot",
        attrs={
            "depth": reg.INT,
            "on_value": reg.SCALAR,
            "off_value": reg.SCALAR,
            "axis": reg.AXIS,
            "dtype": reg.DTYPE,
        },
        shape=_one_hot_shape,
        dtype=_one_hot_dtype,
        reference=_one_hot_ref,
        grad=reg.NotDifferentiable("its input is integer indices (TF: NotDifferentiable)"),
        samples=_one_hot_samples,
        doc="on_value where the index equals the position along the new axis, else off_value.",
    )
)


def one_hot(
    indices: Any,
    depth: Any,
    on_value: Any = None,
    off_value: Any = None,
    axis: Any = None,
    dtype: Any = None,
    name: str | None = None,
) -> Tensor:
    """tf.one_hot: depth, on_value and off_value must be known when the graph is built; the dtype
    defaults to on_value's or off_value's, else float32. Out-of-range indices give all off_value."""
    idx = convert_to_tensor(indices)
    d = _static_int(depth, "depth")
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
    else:
        given = on_value if on_value is not None else off_value
        dt = (
            _dt.float32
            if given is None
            else given.dtype
            if isinstance(given, Tensor)
            else _dt.infer_dtype(given)
        )
    for v in (on_value, off_value):
        if isinstance(v, Tensor) and v.dtype != dt:
            raise TypeError(
                f"one_hot: on_value/off_value dtype {v.dtype.name} does not match dtype {dt.name}"
            )

    def scalar_attr(v: Any, default: int, what: str) -> Any:
        arr = static_value(v, what) if isinstance(v, Tensor) else np.asarray(default if v is None else v)
        if arr.size != 1:
            raise ValueError(f"{what} must be a scalar, got {v!r}")
        return dt.np.type(arr.reshape(())).item()

    attrs = {
        "depth": d,
        "on_value": scalar_attr(on_value, 1, "on_value"),
        "off_value": scalar_attr(off_value, 0, "off_value"),
        "axis": -1 if axis is None else _static_int(axis, "the axis of one_hot"),
        "dtype": dt,
    }
    return make("OneHot", [idx], attrs, name=name or "one_hot")
