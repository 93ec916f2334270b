"""tf.keras.metrics: metric functions ``fn(y_true, y_pred) -> per-sample values``; a
model reports the mean over each epoch's samples (weighted by batch size), as Keras.

``'accuracy'`` / ``'acc'`` pick binary, sparse categorical or categorical accuracy from
the loss and the output's shape, as Keras does; the history key is the name given.
Stateful metric objects (``tf.keras.metrics.Mean`` & co.) are not provided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.keras import losses as _losses
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import equal, greater
from graphc.ops.layout_ops import squeeze
from graphc.ops.math_ops import cast
from graphc.ops.reduction_ops import argmax, reduce_mean

__all__ = [
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "resolve",
    "sparse_categorical_accuracy",
]


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """``mean(y_true == (y_pred > threshold), axis=-1)``."""
    p = convert_to_tensor(y_pred)
    t = cast(convert_to_tensor(y_true), p.dtype)
    hit = cast(equal(t, cast(greater(p, threshold), p.dtype)), _dt.float32)
    return reduce_mean(hit, axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where ``argmax(y_true) == argmax(y_pred)`` (one-hot labels)."""
    return cast(equal(argmax(y_true, axis=-1), argmax(y_pred, axis=-1)), _dt.float32)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where the integer label is ``argmax(y_pred)``."""
    p = convert_to_tensor(y_pred)
    t = convert_to_tensor(y_true)
    if t.shape.ndims is not None and p.shape.ndims is not None and t.shape.ndims == p.shape.ndims:
        t = squeeze(t, [-1])
    return cast(equal(cast(t, _dt.int64), argmax(p, axis=-1)), _dt.float32)


_BY_NAME: dict[str, Callable[..., Tensor]] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mean_squared_error": _losses.mean_squared_error,
    "mse": _losses.mean_squared_error,
    "mean_absolute_error": _losses.mean_absolute_error,
    "mae": _losses.mean_absolute_error,
    "categorical_crossentropy": _losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": _losses.sparse_categorical_crossentropy,
    "binary_crossentropy": _losses.binary_crossentropy,
    "hinge": _losses.hinge,
}


def get(identifier: Any) -> Callable[..., Tensor]:
    """A metric function from its name or a callable (returned as is); 'accuracy' needs
    the loss to be resolved: see :func:`resolve`."""
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown metric function: {identifier!r}")
        return _BY_NAME[identifier]
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric function identifier: {identifier!r}")


def resolve(identifier: Any, loss: Any, output_shape: list[int | None]) -> tuple[str, Callable[..., Tensor]]:
    """(history name, function) of a compile metric: 'accuracy'/'acc' become the
    accuracy the loss and the output's last dim imply (Keras's rule)."""
    if identifier in ("accuracy", "acc"):
        last = output_shape[-1] if output_shape else None
        if last == 1 or loss is _losses.binary_crossentropy or isinstance(loss, _losses.BinaryCrossentropy):
            fn: Callable[..., Tensor] = binary_accuracy
        elif loss is _losses.sparse_categorical_crossentropy or isinstance(
            loss, _losses.SparseCategoricalCrossentropy
        ):
            fn = sparse_categorical_accuracy
        else:
            fn = categorical_accuracy
        return identifier, fn
    fn = get(identifier)
    name = identifier if isinstance(identifier, str) else getattr(fn, "__name__", type(fn).__name__)
    return name, fn
