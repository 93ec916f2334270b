"""tf.keras.losses: loss functions ``fn(y_true, y_pred) -> per-sample loss`` and Loss
classes (``loss(y_true, y_pred) -> the batch mean``), with Keras's names.

The probability losses follow TF1's Keras backend: with ``from_logits=False`` a
``y_pred`` made by a ``Softmax`` (``Sigmoid``) op is read back as its logits and fed to
the stable ``softmax_cross_entropy_with_logits`` (``sigmoid_cross_entropy_with_logits``);
other probabilities are clipped to ``[epsilon, 1 - epsilon]`` first (epsilon 1e-7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.keras import backend
from graphc.ops.array_ops import stack
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import shape
from graphc.ops.layout_ops import reshape, squeeze
from graphc.ops.math_ops import abs as _abs
from graphc.ops.math_ops import cast, clip_by_value, log, maximum, squared_difference
from graphc.ops.reduction_ops import reduce_mean, reduce_sum
from graphc.ops.softmax_ops import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
)

__all__ = [
    "MAE",
    "MSE",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Hinge",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "deserialize",
    "get",
    "hinge",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "serialize",
    "sparse_categorical_crossentropy",
]


def _pair(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    p = convert_to_tensor(y_pred)
    t = convert_to_tensor(y_true)
    if t.dtype != p.dtype:
        t = cast(t, p.dtype)
    return t, p


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean((y_pred - y_true) ** 2, axis=-1)``."""
    t, p = _pair(y_true, y_pred)
    return reduce_mean(squared_difference(p, t), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(|y_pred - y_true|, axis=-1)``."""
    t, p = _pair(y_true, y_pred)
    return reduce_mean(_abs(p - t), axis=-1)


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)`` (labels -1 or 1)."""
    t, p = _pair(y_true, y_pred)
    return reduce_mean(maximum(1.0 - t * p, 0.0), axis=-1)


def _logits_of(output: Tensor, op_type: str) -> Tensor | None:
    if output.op.type == op_type and len(output.op.inputs) == 1:
        return output.op.inputs[0]
    return None


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """``-sum(y_true * log(y_pred), axis=-1)`` for one-hot (or soft) labels."""
    t, p = _pair(y_true, y_pred)
    if label_smoothing:
        n = p.shape.as_list()[-1]
        t = t * (1.0 - label_smoothing) + label_smoothing / n
    if not from_logits:
        logits = _logits_of(p, "Softmax")
        if logits is None:
            p = p / reduce_sum(p, axis=-1, keepdims=True)
            eps = backend.epsilon()
            p = clip_by_value(p, eps, 1.0 - eps)
            return -reduce_sum(t * log(p), axis=-1)
        p = logits
    return softmax_cross_entropy_with_logits_v2(labels=t, logits=p)


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """The cross-entropy of integer labels (shape ``y_pred.shape[:-1]``, or with a
    trailing 1) against class probabilities (or logits)."""
    p = convert_to_tensor(y_pred)
    t = convert_to_tensor(y_true)
    if not from_logits:
        logits = _logits_of(p, "Softmax")
        if logits is None:
            eps = backend.epsilon()
            p = log(clip_by_value(p, eps, 1.0 - eps))
        else:
            p = logits
    rank = p.shape.ndims
    if t.shape.ndims is not None and rank is not None and t.shape.ndims == rank:
        t = squeeze(t, [-1])
    if t.dtype not in (_dt.int32, _dt.int64):
        t = cast(t, _dt.int64)
    if rank is not None and rank > 2:
        classes = p.shape.as_list()[-1]
        flat = sparse_softmax_cross_entropy_with_logits(
            labels=reshape(t, [-1]), logits=reshape(p, stack([-1, classes]))
        )
        return reshape(flat, shape(t))
    return sparse_softmax_cross_entropy_with_logits(labels=t, logits=p)


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """``mean(-(y log p + (1 - y) log(1 - p)), axis=-1)``."""
    t, p = _pair(y_true, y_pred)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if not from_logits:
        logits = _logits_of(p, "Sigmoid")
        if logits is None:
            eps = backend.epsilon()
            p = clip_by_value(p, eps, 1.0 - eps)
            bce = t * log(p + eps) + (1.0 - t) * log(1.0 - p + eps)
            return reduce_mean(-bce, axis=-1)
        p = logits
    return reduce_mean(sigmoid_cross_entropy_with_logits(labels=t, logits=p), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


class Loss:
    """tf.keras.losses.Loss: ``loss(y_true, y_pred)`` is the mean over the batch of
    ``call(y_true, y_pred)`` (reduction ``sum_over_batch_size``; ``sample_weight`` is
    not supported)."""

    def __init__(self, reduction: str = "auto", name: str | None = None) -> None:
        if reduction not in ("auto", "sum_over_batch_size", "sum", "none"):
            raise ValueError(f"Invalid Reduction Key {reduction}.")
        self.reduction = reduction
        self.name = name or type(self).__name__

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        raise NotImplementedError

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported")
        per_sample = self.call(y_true, y_pred)
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return reduce_sum(per_sample)
        return reduce_mean(per_sample)

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


class _FnLoss(Loss):
    _fn: Callable[..., Tensor]

    def __init__(self, reduction: str = "auto", name: str | None = None, **fn_kwargs: Any) -> None:
        super().__init__(reduction, name)
        self._fn_kwargs = fn_kwargs

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return type(self)._fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(_FnLoss):
    """tf.keras.losses.MeanSquaredError()."""

    _fn = staticmethod(mean_squared_error)

    def __init__(self, reduction: str = "auto", name: str = "mean_squared_error") -> None:
        super().__init__(reduction, name)


class MeanAbsoluteError(_FnLoss):
    """tf.keras.losses.MeanAbsoluteError()."""

    _fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction: str = "auto", name: str = "mean_absolute_error") -> None:
        super().__init__(reduction, name)


class Hinge(_FnLoss):
    """tf.keras.losses.Hinge()."""

    _fn = staticmethod(hinge)

    def __init__(self, reduction: str = "auto", name: str = "hinge") -> None:
        super().__init__(reduction, name)


class CategoricalCrossentropy(_FnLoss):
    """tf.keras.losses.CategoricalCrossentropy(from_logits=False, label_smoothing=0)."""

    _fn = staticmethod(categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str = "auto",
        name: str = "categorical_crossentropy",
    ) -> None:
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(_FnLoss):
    """tf.keras.losses.SparseCategoricalCrossentropy(from_logits=False)."""

    _fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str = "auto",
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        super().__init__(reduction, name, from_logits=from_logits)


class BinaryCrossentropy(_FnLoss):
    """tf.keras.losses.BinaryCrossentropy(from_logits=False, label_smoothing=0)."""

    _fn = staticmethod(binary_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str = "auto",
        name: str = "binary_crossentropy",
    ) -> None:
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing)


_BY_NAME: dict[str, Callable[..., Tensor]] = {
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "MSE": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "MAE": mean_absolute_error,
    "hinge": hinge,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}
_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        MeanSquaredError,
        MeanAbsoluteError,
        Hinge,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryCrossentropy,
    )
}


def get(identifier: Any) -> Any:
    """A loss from a name (``'mse'``, ``'sparse_categorical_crossentropy'``, ...), a
    config dict, a Loss object or a function (returned as is)."""
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"Unknown loss function: {identifier!r}; known: {sorted(_BY_NAME)}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss function identifier: {identifier!r}")


def serialize(loss: Any) -> Any:
    """A name (functions) or ``{"class_name", "config"}`` (Loss objects) for a saved model."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Loss) and type(loss).__name__ in _CLASSES:
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    for name, fn in _BY_NAME.items():
        if fn is loss:
            return name
    raise ValueError(f"loss {loss!r} cannot be stored in a saved model")


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The loss a :func:`serialize` result describes."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return custom_objects[config]
        return get(config)
    classes = {**_CLASSES, **(custom_objects or {})}
    return classes[config["class_name"]].from_config(config.get("config", {}))
