"""Norms and spreads, TF1's composites (no ops of their own): norm (tf.norm, tf.linalg.norm),
reduce_variance and reduce_std (tf.math)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from graphc.frontend.graph import Tensor
from graphc.ops.common import convert_to_tensor, deprecated_argument
from graphc.ops.layout_ops import reshape, squeeze
from graphc.ops.math_ops import abs as abs_
from graphc.ops.math_ops import multiply, pow, sqrt, square, subtract
from graphc.ops.nn_common import _scope
from graphc.ops.reduction_ops import reduce_max, reduce_mean, reduce_sum

_VECTOR_ORDS = "'euclidean', 'fro' (with axis=None), 1, 2, np.inf or a positive real number"
_MATRIX_ORDS = "'euclidean', 'fro', 1 or np.inf"


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_ord(ord: Any, matrix: bool, axis: Any) -> None:  # noqa: A002
    if isinstance(ord, str):
        if ord == "euclidean" or (ord == "fro" and (matrix or axis is None)):
            return
    elif isinstance(ord, numbers.Real) and not isinstance(ord, bool):
        if matrix:
            if ord in (1, np.inf):
                return
            if ord == 2:
                raise NotImplementedError(
                    "norm with ord=2 over a matrix (the largest singular value) needs an SVD, "
                    "which graphc does not have; use 'fro' or compute it from fetched values"
                )
        elif ord > 0:
            return
    kind, allowed = ("matrix", _MATRIX_ORDS) if matrix else ("vector", _VECTOR_ORDS)
    raise ValueError(f"'ord' must be a supported {kind} norm ({allowed}), got {ord!r}")


def norm(
    tensor: Any,
    ord: Any = "euclidean",  # noqa: A002  (TF's name)
    axis: Any = None,
    keepdims: Any = None,
    name: str | None = None,
    keep_dims: Any = None,
) -> Tensor:
    """tf.norm (TF1): with axis=None the whole tensor as a vector; an int axis gives vector
    norms ('euclidean'/2, 1, np.inf, any p > 0); a pair of axes gives matrix norms
    ('euclidean'/'fro', 1, np.inf). ord=2 over a matrix needs an SVD: NotImplementedError."""
    keep = bool(deprecated_argument(keepdims, keep_dims, "keepdims", "keep_dims") or False)
    matrix = isinstance(axis, list | tuple) and len(axis) == 2
    if matrix:
        if not (_is_int(axis[0]) and _is_int(axis[1])) or axis[0] == axis[1]:
            raise ValueError(
                f"'axis' must be None, an integer, or a tuple of 2 unique integers, got {axis!r}"
            )
        axes: list[int] | None = [int(axis[0]), int(axis[1])]
    elif axis is None:
        axes = None
    elif _is_int(axis):
        axes = [int(axis)]
    else:
        raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique integers, got {axis!r}")
    _check_ord(ord, matrix, axis)
    with _scope(name, "norm"):
        x = convert_to_tensor(tensor)
        if ord in ("euclidean", "fro") or (not isinstance(ord, str) and ord == 2):
            result = sqrt(reduce_sum(multiply(x, x), axes, keepdims=True))
        elif ord == 1:
            a = abs_(x)
            if matrix:  # the largest column sum
                result = reduce_max(reduce_sum(a, axes[0], keepdims=True), axes[1], keepdims=True)  # type: ignore[index]
            else:
                result = reduce_sum(a, axes, keepdims=True)
        elif ord == np.inf:
            a = abs_(x)
            if matrix:  # the largest row sum
                result = reduce_max(reduce_sum(a, axes[1], keepdims=True), axes[0], keepdims=True)  # type: ignore[index]
            else:
                result = reduce_max(a, axes, keepdims=True)
        else:
            p = convert_to_tensor(float(ord), dtype=x.dtype)
            inv_p = convert_to_tensor(1.0 / float(ord), dtype=x.dtype)
            result = pow(reduce_sum(pow(abs_(x), p), axes, keepdims=True), inv_p)
        if keep:
            return result
        return reshape(result, []) if axes is None else squeeze(result, axes)


def _float_input(input_tensor: Any, api: str) -> Tensor:
    x = convert_to_tensor(input_tensor)
    if not x.dtype.is_floating:
        raise TypeError(f"{api} needs a floating-point tensor, got {x.dtype.name}")
    return x


def reduce_variance(
    input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None
) -> Tensor:
    """tf.math.reduce_variance (TF1): the mean of squared deviations from the mean over
    ``axis`` (population variance); floating-point input only."""
    with _scope(name, "reduce_variance"):
        x = _float_input(input_tensor, "reduce_variance")
        means = reduce_mean(x, axis=axis, keepdims=True)
        return reduce_mean(square(subtract(x, means)), axis=axis, keepdims=keepdims)


def reduce_std(
    input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None
) -> Tensor:
    """tf.math.reduce_std (TF1): sqrt(reduce_variance); floating-point input only."""
    with _scope(name, "reduce_std"):
        x = _float_input(input_tensor, "reduce_std")
        return sqrt(reduce_variance(x, axis=axis, keepdims=keepdims))
