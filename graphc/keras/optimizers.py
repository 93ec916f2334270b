"""tf.keras.optimizers with Keras's argument names and defaults, as graphc.train
optimizers (so ``minimize`` works in TF1 code too): ``SGD``, ``Adam``, ``RMSprop``,
``Adagrad``; ``get('adam')`` and friends for ``compile``. A graphc.train optimizer
(``tf.train.AdamOptimizer(1e-3)``) may be passed to ``compile`` as well.

Differs from Keras: ``decay``, ``clipnorm``, ``clipvalue`` and ``amsgrad`` are not
supported (NotImplementedError); Adagrad follows TF1's update (no epsilon).
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.graph import Operation, Tensor
from graphc.ops.math_ops import sqrt
from graphc.ops.state_ops import assign, assign_sub
from graphc.ops.variables import Variable
from graphc.train.optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    MomentumOptimizer,
    Optimizer,
)

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer", "RMSprop", "deserialize", "get", "serialize"]


def _learning_rate(learning_rate: Any, kwargs: dict[str, Any]) -> Any:
    lr = kwargs.pop("lr", None)
    for key in ("decay", "clipnorm", "clipvalue"):
        value = kwargs.pop(key, None)
        if value:
            raise NotImplementedError(f"the Keras optimizer argument {key}={value!r} is not supported")
    if kwargs:
        raise TypeError(f"Unexpected keyword argument passed to optimizer: {sorted(kwargs)[0]}")
    return lr if lr is not None else learning_rate


class SGD(MomentumOptimizer):
    """tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.0, nesterov=False):
    ``w -= lr * g``; with momentum ``v = momentum * v - lr * g; w += v`` (Nesterov:
    ``w += momentum * v - lr * g``)."""

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
        **kwargs: Any,
    ) -> None:
        lr = _learning_rate(learning_rate, kwargs)
        super().__init__(lr, momentum, name=name, use_nesterov=nesterov)
        self._config = {"learning_rate": lr, "momentum": momentum, "nesterov": nesterov, "name": name}

    def _create_slots(self, var_list: list[Variable]) -> None:
        if self._config["momentum"]:
            super()._create_slots(var_list)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:
        if self._config["momentum"]:
            return super()._apply_dense(grad, var)
        lr = self._hyper("learning_rate", var.dtype)
        return assign_sub(var, lr * grad).op

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)


class Adam(AdamOptimizer):
    """tf.keras.optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
    epsilon=1e-7): TF1's Adam (epsilon-hat form) with Keras's defaults."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "Adam",
        **kwargs: Any,
    ) -> None:
        if amsgrad:
            raise NotImplementedError("Adam(amsgrad=True) is not supported")
        lr = _learning_rate(learning_rate, kwargs)
        super().__init__(lr, beta_1, beta_2, epsilon, name=name)
        self._config = {
            "learning_rate": lr,
            "beta_1": beta_1,
            "beta_2": beta_2,
            "epsilon": epsilon,
            "name": name,
        }

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)


class RMSprop(Optimizer):
    """tf.keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0,
    epsilon=1e-7, centered=False), Keras's update: ``ms = rho ms + (1 - rho) g^2``
    (ms starts at zeros), ``w -= lr g / (sqrt(ms) + eps)``; with momentum ``mom =
    momentum mom + lr g / sqrt(ms + eps)``, ``w -= mom``; centered subtracts ``mg^2``
    (``mg = rho mg + (1 - rho) g``) from ms."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "RMSprop",
        **kwargs: Any,
    ) -> None:
        lr = _learning_rate(learning_rate, kwargs)
        super().__init__(False, name)
        self._config = {
            "learning_rate": lr,
            "rho": rho,
            "momentum": momentum,
            "epsilon": epsilon,
            "centered": centered,
            "name": name,
        }

    def _create_slots(self, var_list: list[Variable]) -> None:
        for v in var_list:
            self._zeros_slot(v, "rms", self._name)
            if self._config["centered"]:
                self._zeros_slot(v, "mg", self._name)
            if self._config["momentum"]:
                self._zeros_slot(v, "momentum", self._name)

    def _prepare(self) -> None:
        for key in ("learning_rate", "rho", "momentum", "epsilon"):
            self._set_hyper(key, self._config[key])

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:
        dt = var.dtype
        lr = self._hyper("learning_rate", dt)
        rho = self._hyper("rho", dt)
        eps = self._hyper("epsilon", dt)
        rms = self.get_slot(var, "rms")
        assert rms is not None
        ms_t = assign(rms, rms * rho + (grad * grad) * (1 - rho))
        denom = ms_t
        if self._config["centered"]:
            mg = self.get_slot(var, "mg")
            assert mg is not None
            mg_t = assign(mg, mg * rho + grad * (1 - rho))
            denom = ms_t - mg_t * mg_t
        if self._config["momentum"]:
            mom = self.get_slot(var, "momentum")
            assert mom is not None
            momentum = self._hyper("momentum", dt)
            mom_t = assign(mom, mom * momentum + lr * grad / sqrt(denom + eps))
            return assign_sub(var, mom_t).op
        return assign_sub(var, lr * grad / (sqrt(denom) + eps)).op

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)


class Adagrad(AdagradOptimizer):
    """tf.keras.optimizers.Adagrad(learning_rate=0.001, initial_accumulator_value=0.1):
    ``acc += g^2; w -= lr g / sqrt(acc)`` (TF1's update; Keras adds epsilon=1e-7 to the
    denominator, accepted and ignored here)."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        name: str = "Adagrad",
        **kwargs: Any,
    ) -> None:
        lr = _learning_rate(learning_rate, kwargs)
        super().__init__(lr, initial_accumulator_value, name=name)
        self._config = {
            "learning_rate": lr,
            "initial_accumulator_value": initial_accumulator_value,
            "epsilon": epsilon,
            "name": name,
        }

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)


_CLASSES: dict[str, type] = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop, "Adagrad": Adagrad}
_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (``'adam'``, ``'sgd'``, ``'rmsprop'``, ``'adagrad'``: Keras's
    defaults), a config dict, or an optimizer object (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer: {identifier!r}; known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def serialize(optimizer: Optimizer) -> dict[str, Any] | None:
    """``{"class_name", "config"}`` for the Keras optimizers; None for others (a saved
    model then keeps no compile settings)."""
    if type(optimizer).__name__ in _CLASSES and hasattr(optimizer, "get_config"):
        return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
    return None


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """The optimizer a :func:`serialize` result describes."""
    classes = {**_CLASSES, **(custom_objects or {})}
    name = config["class_name"]
    if name not in classes:
        raise ValueError(f"Unknown optimizer: {name}")
    return classes[name](**config.get("config", {}))
