"""Small TF1 composites with no op of their own: the casts to_float / to_double / to_int32 /
to_int64, eye, linspace (lin_space) and sequence_mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.ops.array_common import _static_int
from graphc.ops.broadcast_ops import broadcast_to
from graphc.ops.common import convert_to_tensor, is_tensorish
from graphc.ops.compare_ops import equal, less
from graphc.ops.concat_ops import concat
from graphc.ops.core_ops import constant, shape
from graphc.ops.fill_ops import range as range_
from graphc.ops.layout_ops import expand_dims
from graphc.ops.math_ops import add, cast, multiply, real_div, subtract, where_v2
from graphc.ops.nn_common import _scope


# -- casts ---------------------------------------------------------------------------------
def to_float(x: Any, name: str = "ToFloat") -> Tensor:
    """tf.to_float (TF1, deprecated there): cast(x, float32)."""
    return cast(x, _dt.float32, name=name)


def to_double(x: Any, name: str = "ToDouble") -> Tensor:
    """tf.to_double (TF1, deprecated there): cast(x, float64)."""
    return cast(x, _dt.float64, name=name)


def to_int32(x: Any, name: str = "ToInt32") -> Tensor:
    """tf.to_int32 (TF1, deprecated there): cast(x, int32); floats are truncated toward zero."""
    return cast(x, _dt.int32, name=name)


def to_int64(x: Any, name: str = "ToInt64") -> Tensor:
    """tf.to_int64 (TF1, deprecated there): cast(x, int64); floats are truncated toward zero."""
    return cast(x, _dt.int64, name=name)


# -- eye -----------------------------------------------------------------------------------
def _count(v: Any, what: str) -> Any:
    """A non-negative size: a Python int when known while building, else an int tensor."""
    if is_tensorish(v):
        t = convert_to_tensor(v)
        if not t.dtype.is_integer:
            raise TypeError(f"{what} must be an integer, got a {t.dtype.name} tensor")
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"{what} must be a scalar, got shape {t.shape}")
        if t._value is None or any(x is None or not isinstance(x, int) for x in t._value.flat):
            return t
    n = _static_int(v, what)
    if n < 0:
        raise ValueError(f"{what} must be non-negative, got {n}")
    return n


def eye(
    num_rows: Any,
    num_columns: Any = None,
    batch_shape: Any = None,
    dtype: Any = _dt.float32,
    name: str | None = None,
) -> Tensor:
    """tf.eye (TF1): ones on the diagonal of a [*batch_shape, num_rows, num_columns] tensor.
    The sizes may be run-time int tensors; batch_shape must be known when the graph is built."""
    dt = _dt.as_dtype(dtype)
    with _scope(name, "eye"):
        rows = _count(num_rows, "num_rows")
        cols = rows if num_columns is None else _count(num_columns, "num_columns")
        r = range_(rows, dtype=_dt.int32)
        c = r if cols is rows else range_(cols, dtype=_dt.int32)
        matrix = cast(equal(expand_dims(r, 1), expand_dims(c, 0)), dt)
        if batch_shape is None:
            return matrix
        batch = [int(b) for b in np.asarray(batch_shape, dtype=np.int64).reshape(-1)]
        if any(b < 0 for b in batch):
            raise ValueError(f"batch_shape must be non-negative, got {batch}")
        if isinstance(rows, int) and isinstance(cols, int):
            return broadcast_to(matrix, [*batch, rows, cols])
        target = concat([convert_to_tensor(np.array(batch, np.int32)), shape(matrix)], 0)
        return broadcast_to(matrix, target)


# -- linspace ------------------------------------------------------------------------------
def _endpoint(v: Any, what: str, like: Tensor | None) -> Tensor:
    if is_tensorish(v):
        t = convert_to_tensor(v)
    else:
        # A Python number takes the other end's dtype, else float32: TF1 would make an int an
        # int32 tensor and then reject it.
        t = convert_to_tensor(float(v), dtype=like.dtype if like is not None else _dt.float32)
    if t.dtype not in (_dt.float32, _dt.float64):
        raise TypeError(f"linspace {what} must be float32 or float64, got {t.dtype.name}")
    if t.shape.ndims not in (None, 0):
        raise ValueError(f"linspace {what} must be a scalar, got shape {t.shape}")
    return t


def linspace(start: Any, stop: Any, num: Any, name: str | None = None) -> Tensor:
    """tf.linspace / tf.lin_space (TF1): ``num`` evenly spaced values from start to stop, both
    included (the last is exactly stop; num=1 gives [start]). start and stop may be tensors;
    num must be known when the graph is built (TF also takes a run-time tensor)."""
    n = _static_int(num, "num of linspace")
    if n <= 0:
        raise ValueError(f"linspace requires num > 0, got {n}")
    with _scope(name, "LinSpace"):
        lo = _endpoint(start, "start", None) if is_tensorish(start) else None
        hi = _endpoint(stop, "stop", lo) if is_tensorish(stop) else None
        lo = lo if lo is not None else _endpoint(start, "start", hi)
        hi = hi if hi is not None else _endpoint(stop, "stop", lo)
        if lo.dtype != hi.dtype:
            raise TypeError(
                f"linspace start and stop must have one dtype, got {lo.dtype.name} and {hi.dtype.name}"
            )
        if n == 1:
            return expand_dims(lo, 0)
        # TF's kernel: start + i * step, and exactly stop at the end.
        step = real_div(subtract(hi, lo), convert_to_tensor(float(n - 1), dtype=lo.dtype))
        values = add(lo, multiply(range_(n, dtype=lo.dtype), step))
        is_last = constant(np.arange(n) == n - 1)
        return where_v2(is_last, hi, values)


lin_space = linspace


# -- sequence_mask ---------------------------------------------------------------------------
def _static_lengths(lengths: Any) -> np.ndarray | None:
    """The lengths when known while building (a Python/NumPy value or a constant tensor)."""
    if not is_tensorish(lengths):
        return np.asarray(lengths)
    t = convert_to_tensor(lengths)
    if t._value is not None and all(isinstance(x, int) for x in t._value.flat):
        return np.array(t._value.tolist(), dtype=np.int64)
    if t.op.type == "Const":
        return np.asarray(t.op.attrs["value"])
    return None


def sequence_mask(
    lengths: Any, maxlen: Any = None, dtype: Any = _dt.bool_, name: str | None = None
) -> Tensor:
    """tf.sequence_mask (TF1): ``mask[..., j] = j < lengths[...]`` for j in [0, maxlen). maxlen
    may be a run-time tensor; without it maxlen is max(lengths), which graphc supports only
    when lengths are known while building (otherwise the shape would depend on the data)."""
    with _scope(name, "SequenceMask"):
        if maxlen is None:
            known = _static_lengths(lengths)
            if known is None:
                raise NotImplementedError(
                    "sequence_mask without maxlen takes maxlen = max(lengths), a shape that depends on "
                    "the data, which graphc does not support; pass maxlen (a Python int, or a tensor "
                    "such as tf.shape(inputs)[1])"
                )
            limit: Any = max(int(known.max()), 0) if known.size else 0
            lengths_t = convert_to_tensor(lengths)
            m = convert_to_tensor(limit, dtype=lengths_t.dtype if lengths_t.dtype.is_integer else _dt.int32)
        else:
            lengths_t = convert_to_tensor(lengths)
            m = convert_to_tensor(maxlen)
            if m.shape.ndims not in (None, 0):
                raise ValueError("maxlen must be scalar for sequence_mask")
        if not m.dtype.is_integer:
            raise TypeError(f"maxlen must be an integer, got {m.dtype.name}")
        row = range_(m, dtype=m.dtype)
        result = less(row, cast(expand_dims(lengths_t, -1), m.dtype))
        return cast(result, dtype)
