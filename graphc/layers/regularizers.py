"""Weight regularizers (Keras's ``tf.keras.regularizers``): ``l1``, ``l2``, ``l1_l2`` and
the ``L1L2`` class; a regularizer maps a weight to a scalar loss (``l2``:
``l2 * sum(w ** 2)``, without TF1's ``l2_loss`` halving, as Keras)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.graph import Tensor
from graphc.ops import math_ops
from graphc.ops.common import convert_to_tensor
from graphc.ops.reduction_ops import reduce_sum

__all__ = ["L1L2", "Regularizer", "deserialize", "get", "l1", "l1_l2", "l2", "serialize"]


class Regularizer:
    """Base class: ``regularizer(weight) -> scalar loss``."""

    def __call__(self, x: Any) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:  # noqa: E741
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x: Any) -> Tensor:
        t = convert_to_tensor(x)
        loss: Any = convert_to_tensor(0.0, dtype=t.dtype)
        if self.l1:
            loss = loss + self.l1 * reduce_sum(math_ops.abs(t))
        if self.l2:
            loss = loss + self.l2 * reduce_sum(math_ops.square(t))
        return loss

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


def l1(l: float = 0.01) -> L1L2:  # noqa: E741
    """Keras l1: ``l * sum(|x|)``."""
    return L1L2(l1=l)


def l2(l: float = 0.01) -> L1L2:  # noqa: E741
    """Keras l2: ``l * sum(x ** 2)``."""
    return L1L2(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: E741
    """Keras l1_l2: both terms."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME = {"l1": l1, "l2": l2, "l1_l2": l1_l2}


def get(identifier: Any) -> Any:
    """A regularizer from None, a name (``'l2'``: ``l2(0.01)``), a config dict or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown regularizer: {identifier!r}")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret regularizer identifier: {identifier!r}")


def serialize(reg: Any) -> Any:
    """``{"class_name": "L1L2", "config": {...}}`` for a saved model; None for None."""
    if reg is None:
        return None
    if isinstance(reg, Regularizer):
        return {"class_name": type(reg).__name__, "config": reg.get_config()}
    raise ValueError(f"regularizer {reg!r} cannot be saved in a model's config; use tf.keras.regularizers")


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The regularizer a :func:`serialize` result describes."""
    if config is None:
        return None
    name = config["class_name"]
    classes: dict[str, Any] = {"L1L2": L1L2, **(custom_objects or {})}
    if name not in classes:
        raise ValueError(f"Unknown regularizer: {name!r}")
    return classes[name].from_config(config.get("config", {}))
