"""Primitive ops built by name, for the gradient rules and helpers of the modules below
the ones whose API builds them (as JAX writes its rules against lax, not the user API).

math_ops, broadcast_ops and the array modules sit below reduction_ops and layout_ops,
yet their gradients need a Sum or a Reshape: they build them here. Each function makes
exactly the op (type, inputs, attrs, name) its TF1 API function makes for these
arguments, so graphs do not depend on which of the two built an op.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.frontend.graph import Tensor
from graphc.ops.common import constant, make, normalize_axes


def reshape(x: Tensor, shape: Sequence[int] | Tensor) -> Tensor:
    """layout_ops.reshape for a static shape (a list of ints, one -1 at most) or an int tensor."""
    if not isinstance(shape, Tensor):
        shape = constant(np.array(list(shape), dtype=np.int32).reshape(-1))
    return make("Reshape", [x, shape], name="Reshape")


def reduce_sum(x: Tensor, axis: Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """reduction_ops.reduce_sum for axes given as ints (None: every axis)."""
    axes = None if axis is None else normalize_axes(list(axis), x.shape.ndims, "reduction dimension")
    return make("Sum", [x], {"axis": axes, "keepdims": bool(keepdims)}, name="Sum")


def zeros_like(x: Tensor) -> Tensor:
    """fill_ops.zeros_like of a tensor, in its dtype."""
    return make("ZerosLike", [x], name="zeros_like")


def ones_like(x: Tensor) -> Tensor:
    """fill_ops.ones_like of a tensor, in its dtype."""
    return make("OnesLike", [x], name="ones_like")
