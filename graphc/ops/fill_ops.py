"""Generators: Fill, ZerosLike, OnesLike, Range, and their TF1 API (fill, zeros, ones,
zeros_like, ones_like, range)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as S
from graphc import symbolic as sym
from graphc.frontend.graph import Operation, Tensor
from graphc.ops import build, core_ops
from graphc.ops.array_common import _MAX_VALUE, _fmt, _index_dtype, _shape_arg, _small
from graphc.ops.common import (
    NUMERIC,
    check_dtypes,
    convert_to_tensor,
    make,
    make_op,
    rand,
    static_value,
    value_shape,
)
from graphc.ops.concat_ops import _shape_tensor
from graphc.ops.math_ops import cast


# =============================================================================================
# Fill / ZerosLike / OnesLike / zeros / ones
def _fill_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    dims, value = ctx.shapes
    if dims is not None and len(dims) != 1:
        raise reg.ShapeError(f"dims must be a vector, got shape {_fmt(dims)}")
    if value is not None and len(value) != 0:
        raise reg.ShapeError(f"value must be a scalar, got shape {_fmt(value)}")
    return [value_shape(ctx, 0, "dims")]


def _fill_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [0])
    return [ctx.dtypes[1]]


def _fill_value(ctx: reg.InferenceContext) -> list[Any] | None:
    dims, v = ctx.value(0), ctx.value(1)
    if dims is None or v is None or not _small(list(dims.flat)):
        return None
    return [np.full(tuple(dims.flat), v.reshape(()).item(), dtype=object)]


def _fill_grad(op: Operation, g: Tensor) -> list[Any]:
    return [None, build.reduce_sum(g)]


reg.register(
    reg.OpDef(
        name="Fill",
        attrs={},
        shape=_fill_shape,
        dtype=_fill_dtype,
        reference=lambda ins, attrs: [np.full(tuple(int(d) for d in ins[0]), ins[1], dtype=ins[1].dtype)],
        grad=_fill_grad,
        value=_fill_value,
        samples=lambda rng: [
            reg.Sample([np.array([2, 3], np.int32), rand(rng, ())], wrt=(1,)),
            reg.Sample([np.array([], np.int32), rand(rng, ())], wrt=(1,)),
            reg.Sample([np.array([4], np.int64), np.array(7, np.int32)], grad=False),
        ],
        doc="A tensor of shape dims (input 0) filled with the scalar input 1.",
    )
)


def fill(dims: Any, value: Any, name: str | None = None) -> Tensor:
    """tf.fill: dims is a list (ints or scalar int tensors), a TensorShape or an int tensor."""
    v = convert_to_tensor(value)
    return make("Fill", [_shape_tensor(_as_dims(dims), "dims"), v], name=name or "Fill")


def _as_dims(shape: Any) -> Any:
    """A scalar int shape means a vector of that length (tf.zeros(3))."""
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        return [int(shape)]
    return shape


def _zero_of(dt: _dt.DType, one: bool) -> Any:
    if dt.is_string:
        raise TypeError("zeros/ones of dtype string are not supported")
    return dt.np.type(1 if one else 0)


def zeros(shape: Any, dtype: Any = _dt.float32, name: str | None = None) -> Tensor:
    """tf.zeros: shape is a list (ints or scalar int tensors), a TensorShape or an int tensor."""
    dt = _dt.as_dtype(dtype)
    dims = _shape_tensor(_as_dims(shape), "shape")
    return make("Fill", [dims, core_ops.constant(_zero_of(dt, False), dtype=dt)], name=name or "zeros")


def ones(shape: Any, dtype: Any = _dt.float32, name: str | None = None) -> Tensor:
    """tf.ones: shape is a list (ints or scalar int tensors), a TensorShape or an int tensor."""
    dt = _dt.as_dtype(dtype)
    dims = _shape_tensor(_as_dims(shape), "shape")
    return make("Fill", [dims, core_ops.constant(_zero_of(dt, True), dtype=dt)], name=name or "ones")


def _like_value(fill_value: int) -> Callable[[reg.InferenceContext], list[Any] | None]:
    def rule(ctx: reg.InferenceContext) -> list[Any] | None:
        s = ctx.shapes[0]
        if s is None or not ctx.dtypes[0].is_integer or not _small(s):
            return None
        return [np.full(tuple(s), fill_value, dtype=object)]

    return rule


def _like_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, (*NUMERIC, _dt.bool_))
    return [ctx.dtypes[0]]


for _name, _fn, _k in [("ZerosLike", np.zeros_like, 0), ("OnesLike", np.ones_like, 1)]:
    reg.register(
        reg.OpDef(
            name=_name,
            attrs={},
            shape=lambda ctx: [ctx.shapes[0]],
            dtype=_like_dtype,
            reference=(lambda fn: lambda ins, attrs: [fn(ins[0])])(_fn),
            # The output does not depend on the input's values: a zero derivative.
            grad=lambda op, g: [None],
            traits=frozenset({"elementwise", "shape_only"}),
            scalar=(lambda k: lambda args, attrs: S.const(k))(_k),
            value=_like_value(_k),
            samples=lambda rng: [
                reg.Sample([rand(rng, (2, 3))]),
                reg.Sample([rand(rng, (3,), "int", np.int32)], grad=False),
                reg.Sample([rand(rng, (2, 2), "bool")], grad=False),
            ],
            doc=f"A tensor like the input, all {_k}.",
        )
    )


def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    """tf.zeros_like (ZerosLike; a Fill of shape(tensor) when another dtype is asked for)."""
    x = convert_to_tensor(tensor)
    if dtype is not None and _dt.as_dtype(dtype) != x.dtype:
        return zeros(_shape_arg(x), dtype=dtype, name=name or "zeros_like")
    return make("ZerosLike", [x], name=name or "zeros_like")


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    """tf.ones_like (OnesLike; a Fill of shape(tensor) when another dtype is asked for)."""
    x = convert_to_tensor(tensor)
    if dtype is not None and _dt.as_dtype(dtype) != x.dtype:
        return ones(_shape_arg(x), dtype=dtype, name=name or "ones_like")
    return make("OnesLike", [x], name=name or "ones_like")


# =============================================================================================
# Range
def _range_len(start: Any, limit: Any, delta: Any, dt: _dt.DType) -> int:
    if delta == 0:
        raise reg.ShapeError("Requires delta != 0")
    if dt.is_integer:
        n = -((start - limit) // delta)
    else:
        n = math.ceil((limit - start) / delta)
    return builtins.max(int(n), 0)


def _range_args(ins: list[np.ndarray], attrs: dict[str, Any]) -> tuple[Any, Any, Any]:
    if attrs["start"] is not None:
        return attrs["start"], attrs["limit"], attrs["delta"]
    return tuple(np.asarray(v).reshape(()).item() for v in ins)  # type: ignore[return-value]


def _range_np(attrs: dict[str, Any], ins: list[np.ndarray] | None = None) -> np.ndarray:
    dt = attrs["dtype"]
    start, limit, delta = _range_args(ins or [], attrs)
    n = _range_len(start, limit, delta, dt)
    if dt.is_integer:
        return (start + delta * np.arange(n, dtype=np.int64)).astype(dt.np)
    return (start + delta * np.arange(n, dtype=np.float64)).astype(dt.np)


def _range_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    a = ctx.attrs
    if a["start"] is not None:
        return [(_range_len(a["start"], a["limit"], a["delta"], a["dtype"]),)]
    # Bounds given as tensors: the length is a symbolic dim for range(0, n, 1) with n a
    # (possibly symbolic) dim, an int when every bound is known, else known only at run time.
    vals = [ctx.value(i) for i in builtins.range(3)]
    if all(v is not None for v in vals):
        start, limit, delta = (v.reshape(()).item() for v in vals)  # type: ignore[union-attr]
        if all(isinstance(x, int) for x in (start, limit, delta)):
            return [(_range_len(start, limit, delta, a["dtype"]),)]
        if isinstance(delta, int) and delta > 0 and start is not None and limit is not None:
            # TF1's range is empty when limit <= start: the length is never negative.
            n = sym.ceildiv(limit - start, delta)
            return [(n if isinstance(n, int) else sym.maximum(n, 0),)]
    return [(ctx.fresh(),)]


def _range_value(ctx: reg.InferenceContext) -> list[Any] | None:
    a = ctx.attrs
    if a["start"] is None or not a["dtype"].is_integer:
        return None
    if _range_len(a["start"], a["limit"], a["delta"], a["dtype"]) > _MAX_VALUE:
        return None
    return [np.array(_range_np(a).tolist(), dtype=object).reshape(-1)]


def _range_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    dt = ctx.attrs["dtype"]
    if dt not in (_dt.int32, _dt.int64, _dt.float32, _dt.float64):
        raise TypeError(f"range dtype must be int32, int64, float32 or float64, got {dt.name}")
    return [dt]


reg.register(
    reg.OpDef(
        name="Range",
        attrs={
            "start": reg.optional(reg.one_of(reg.INT, reg.FLOAT)),
            "limit": reg.optional(reg.one_of(reg.INT, reg.FLOAT)),
            "delta": reg.optional(reg.one_of(reg.INT, reg.FLOAT)),
            "dtype": reg.DTYPE,
        },
        shape=_range_shape,
        dtype=_range_dtype,
        reference=lambda ins, attrs: [_range_np(attrs, ins)],
        grad=lambda op, *grads: [None] * len(op.inputs),
        value=_range_value,
        samples=lambda rng: [
            reg.Sample([], {"start": 0, "limit": 5, "delta": 1, "dtype": _dt.int32}, grad=False),
            reg.Sample([], {"start": 5, "limit": 0, "delta": -2, "dtype": _dt.int64}, grad=False),
            reg.Sample([], {"start": 1.0, "limit": 2.0, "delta": 0.25, "dtype": _dt.float32}, grad=False),
            reg.Sample([], {"start": 3, "limit": 3, "delta": 1, "dtype": _dt.int32}, grad=False),
            reg.Sample(
                [np.array(0, np.int32), np.array(7, np.int32), np.array(2, np.int32)],
                {"start": None, "limit": None, "delta": None, "dtype": _dt.int32},
                grad=False,
            ),
        ],
        doc="start, start + delta, ... up to (not including) limit: attrs when known while "
        "building, else three scalar inputs (e.g. tf.range(tf.shape(x)[0])).",
    )
)

_RANGE_ORDER = (_dt.int32, _dt.int64, _dt.float32, _dt.float64)


def range(  # noqa: A001  (TF's name)
    start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: str = "range"
) -> Tensor:
    """tf.range: start, limit and delta must be known when the graph is built (a range whose
    length is only known at run time is not supported). Without dtype: all ints give int32
    (int64 if any is int64), any float gives float32 (float64 if any is float64), as TF1."""
    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    kinds: list[_dt.DType] = []
    values: list[Any] = []
    dynamic = False
    for what, v in zip(("start", "limit", "delta"), args, strict=True):
        if isinstance(v, Tensor):
            kinds.append(v.dtype)
            try:
                arr = static_value(v, f"range {what}")
            except TypeError:
                dynamic = True  # known only at run time: the bounds become inputs
                values.append(None)
                continue
        else:
            arr = np.asarray(v)
            kinds.append(_dt.infer_dtype(v))
        if arr.size != 1:
            raise ValueError(f"range {what} must be a scalar, got {v!r}")
        values.append(arr.reshape(()).item())
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
    else:
        for k in kinds:
            if k not in _RANGE_ORDER:
                raise TypeError(f"range arguments must be ints or floats, got {k.name}")
        dt = builtins.max(kinds, key=_RANGE_ORDER.index)
    if dynamic:
        bounds = [
            cast(convert_to_tensor(a), dt) if isinstance(a, Tensor) else convert_to_tensor(a, dtype=dt)
            for a in args
        ]
        attrs = {"start": None, "limit": None, "delta": None, "dtype": dt}
        return make_op("Range", bounds, attrs, name=name).outputs[0]
    conv = [dt.np.type(v).item() for v in values]
    if conv[2] == 0:
        raise ValueError("Requires delta != 0")
    return make_op(
        "Range", [], {"start": conv[0], "limit": conv[1], "delta": conv[2], "dtype": dt}, name=name
    ).outputs[0]
