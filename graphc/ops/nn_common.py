"""Helpers shared by the tf.nn op modules (nn_ops, softmax_ops, conv_ops, pool_ops)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import constant, shape

_INDEX_DTYPES = (_dt.int32, _dt.int64)


# -- lazily imported siblings (written alongside this module) ----------------------------
def _reduce_sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    from graphc.ops.reduction_ops import reduce_sum

    return reduce_sum(x, axis=axis, keepdims=keepdims)


def _reduce_mean(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    from graphc.ops.reduction_ops import reduce_mean

    return reduce_mean(x, axis=axis, keepdims=keepdims, name=name)


def _expand_dims(x: Tensor, axis: int) -> Tensor:
    from graphc.ops.array_ops import expand_dims

    return expand_dims(x, axis)


def _reshape(x: Tensor, new_shape: Any, name: str | None = None) -> Tensor:
    from graphc.ops.array_ops import reshape

    return reshape(x, new_shape, name=name)


def _zeros_like(x: Tensor) -> Tensor:
    from graphc.ops.array_ops import zeros_like

    return zeros_like(x)


def _ones_like(x: Tensor) -> Tensor:
    from graphc.ops.array_ops import ones_like

    return ones_like(x)


@contextlib.contextmanager
def _scope(name: str | None, default: str) -> Iterator[str]:
    with get_default_graph().name_scope(name or default) as s:
        yield s


def _c(v: float, like: Tensor) -> Tensor:
    return convert_to_tensor(v, dtype=like.dtype)


def _shape_input(t: Tensor) -> Tensor:
    """The shape of ``t`` as an int32 tensor: a constant when static (no dependency on t)."""
    if t.shape.is_fully_defined():
        return constant(np.array(t.shape.as_list(), dtype=np.int32))
    return shape(t)


def _alias(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    if new is not None and old is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'.")
    return new if new is not None else old


def _static_rank(t: Tensor) -> int | None:
    return t.shape.ndims
