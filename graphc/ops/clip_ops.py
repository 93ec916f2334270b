"""Clipping by norms, TF1's composites (no ops of their own): clip_by_norm, global_norm,
clip_by_global_norm, clip_by_average_norm. (clip_by_value is an op, in math_ops.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import greater, less_equal
from graphc.ops.core_ops import size
from graphc.ops.fill_ops import ones_like
from graphc.ops.math_ops import (
    add_n,
    cast,
    maximum,
    minimum,
    multiply,
    real_div,
    rsqrt,
    sqrt,
    truediv,
    where_v2,
)
from graphc.ops.nn_common import _scope
from graphc.ops.nn_ops import l2_loss
from graphc.ops.reduction_ops import reduce_sum


def _check_no_broadcast(t: Tensor, scaled: Tensor, api: str) -> None:
    """TF merges the shapes of t and t * clip_norm: a clip_norm that would broadcast t to a
    bigger shape is a mistake, not a request."""
    a, b = t.shape, scaled.shape
    if a.ndims is None or b.ndims is None:
        return
    if a.ndims != b.ndims or any(
        x is not None and y is not None and x != y for x, y in zip(a.as_list(), b.as_list(), strict=True)
    ):
        raise ValueError(f"{api}: clip_norm would broadcast t of shape {a} to shape {b}")


def clip_by_norm(t: Any, clip_norm: Any, axes: Any = None, name: str | None = None) -> Tensor:
    """tf.clip_by_norm (TF1): ``t * clip_norm / max(l2norm(t, axes), clip_norm)``; an all-zero
    t (or slice) is returned unchanged with a finite gradient, as TF. IndexedSlices are not
    supported (graphc gradients are dense)."""
    with _scope(name, "clip_by_norm"):
        values = convert_to_tensor(t, name="t")
        cn = convert_to_tensor(clip_norm, preferred_dtype=values.dtype)
        l2sum = reduce_sum(multiply(values, values), axes, keepdims=True)
        positive = greater(l2sum, convert_to_tensor(0, dtype=l2sum.dtype))
        # sqrt only of positive sums: where(l2sum > 0, sqrt(l2sum), 0) alone would still give a
        # NaN gradient at 0 through the unused branch.
        l2sum_safe = where_v2(positive, l2sum, ones_like(l2sum))
        l2norm = where_v2(positive, sqrt(l2sum_safe), l2sum)
        intermediate = multiply(values, cn)
        _check_no_broadcast(values, intermediate, "clip_by_norm")
        return real_div(intermediate, maximum(l2norm, cn))


def _tensor_list(t_list: Any, api: str) -> list[Tensor | None]:
    if not isinstance(t_list, Sequence) or isinstance(t_list, str):
        raise TypeError(f"{api}: t_list should be a sequence, got {type(t_list).__name__}")
    return [None if v is None else convert_to_tensor(v, name=f"t_{i}") for i, v in enumerate(t_list)]


def _global_norm(values: list[Tensor | None]) -> Tensor:
    halves = [l2_loss(v) for v in values if v is not None]
    if not halves:
        raise ValueError("global_norm needs at least one tensor that is not None")
    dtypes = {h.dtype for h in halves}
    if len(dtypes) > 1:
        names = ", ".join(sorted(d.name for d in dtypes))
        raise TypeError(f"global_norm: all tensors must have the same dtype, got {names}")
    half_squared = add_n(halves)
    return sqrt(multiply(half_squared, convert_to_tensor(2.0, dtype=half_squared.dtype)), name="global_norm")


def global_norm(t_list: Any, name: str | None = None) -> Tensor:
    """tf.global_norm (TF1): ``sqrt(sum(l2norm(t) ** 2 for t in t_list))``, skipping None
    entries; all tensors must share one dtype."""
    values = _tensor_list(t_list, "global_norm")
    with _scope(name, "global_norm"):
        return _global_norm(values)


def clip_by_global_norm(
    t_list: Any, clip_norm: Any, use_norm: Any = None, name: str | None = None
) -> tuple[list[Tensor | None], Tensor]:
    """tf.clip_by_global_norm (TF1): (each t * clip_norm / max(global_norm, clip_norm), the
    global norm); None entries pass through as None; a non-finite global norm makes every
    clipped tensor NaN, as TF. ``use_norm`` replaces the computed global norm."""
    values = _tensor_list(t_list, "clip_by_global_norm")
    with _scope(name, "clip_by_global_norm"):
        norm = _global_norm(values) if use_norm is None else convert_to_tensor(use_norm)
        cn = convert_to_tensor(clip_norm, preferred_dtype=norm.dtype)
        one = convert_to_tensor(1.0, dtype=norm.dtype)
        scale_for_finite = multiply(cn, minimum(truediv(one, norm), truediv(one, cn)))
        # A non-finite norm gives NaN (as TF), rather than a scale of 0 that would hide it.
        # (TF adds norm - norm, which graphc's simplifier rewrites to 0.)
        finite = less_equal(norm, convert_to_tensor(norm.dtype.max, dtype=norm.dtype))
        scale = where_v2(finite, scale_for_finite, convert_to_tensor(np.nan, dtype=norm.dtype))
        clipped = [
            None if v is None else multiply(v, scale, name=f"clipped_{i}") for i, v in enumerate(values)
        ]
        return clipped, norm


def clip_by_average_norm(t: Any, clip_norm: Any, name: str | None = None) -> Tensor:
    """tf.clip_by_average_norm (TF1): ``t * clip_norm / max(l2norm(t) / size(t), clip_norm)``.
    The element count is cast to t's dtype (TF casts it to float32, which fails for float64)."""
    with _scope(name, "clip_by_average_norm"):
        values = convert_to_tensor(t, name="t")
        cn = convert_to_tensor(clip_norm, preferred_dtype=values.dtype)
        n = cast(size(values, out_type=_dt.int64), values.dtype)
        l2norm_inv = rsqrt(reduce_sum(multiply(values, values)))
        one = convert_to_tensor(1.0, dtype=values.dtype)
        return multiply(multiply(values, cn), minimum(multiply(l2norm_inv, n), truediv(one, cn)))
