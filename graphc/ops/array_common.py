"""Helpers shared by the array op modules (layout_ops, concat_ops, slicing_ops, gather_ops,
fill_ops): static arguments, a tensor's shape as a tensor, and small rule helpers."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Tensor
from graphc.ops import core_ops
from graphc.ops.common import as_int_list, check_dtypes, static_value

# The array modules define tf.range and tf.slice, which shadow the builtins inside them.
_pyrange = builtins.range
_pyslice = builtins.slice

_INDEX_DTYPES = (_dt.int32, _dt.int64)
_LAYOUT: frozenset[str] = frozenset()  # the traits every layout op has: none
_MAX_VALUE = 256  # partial values are kept for small int tensors only (as the graph does)


# =============================================================================================
# Helpers shared by the rules and the API.
def _fmt(s: Sequence[Any] | None) -> str:
    return reg.format_shape(None if s is None else tuple(s))


def _static_dims(x: Tensor) -> list[int] | None:
    return x.shape.as_list() if x.shape.is_fully_defined() else None  # type: ignore[return-value]


def _shape_arg(x: Tensor) -> Tensor:
    """x's shape as an int32 tensor: a constant when static, else a Shape op."""
    dims = _static_dims(x)
    if dims is not None:
        return core_ops.constant(np.array(dims, dtype=np.int32))
    return core_ops.shape(x)


def _static_int(v: Any, what: str) -> int:
    arr = static_value(v, what) if isinstance(v, Tensor) else np.asarray(v)
    if arr.size != 1:
        raise ValueError(f"{what} must be a single int, got {v!r}")
    return as_int_list(arr, what)[0]


def _static_ints(v: Any, what: str) -> list[int]:
    if isinstance(v, list | tuple) and any(isinstance(e, Tensor) for e in v):
        return [_static_int(e, what) for e in v]
    arr = static_value(v, what) if isinstance(v, Tensor) else np.asarray(v)
    return as_int_list(arr, what) if arr.size else []


def _index_dtype(ctx: reg.InferenceContext, which: Sequence[int]) -> None:
    check_dtypes(ctx, _INDEX_DTYPES, which)


def _small(shape: Sequence[Any]) -> bool:
    return all(isinstance(d, int) for d in shape) and math.prod(shape) <= _MAX_VALUE


def _copy(a: Any, dtype: Any = None) -> np.ndarray:
    """References return fresh arrays, never views of their inputs."""
    return np.array(a, dtype=dtype, copy=True)


def _has_static_value(t: Tensor) -> bool:
    return t._value is not None and all(v is not None for v in t._value.flat)
