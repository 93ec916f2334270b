"""Initializers by name (Keras's ``tf.keras.initializers``): ``'glorot_uniform'``,
``'he_normal'``, ``'zeros'``, ... resolve to graphc's initializer objects (TF1's
``init_ops``); Keras's defaults apply to the named random ones (``'random_normal'``:
stddev 0.05, ``'random_uniform'``: [-0.05, 0.05)), as in TF1's Keras."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.ops import init_ops
from graphc.ops.init_ops import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    Initializer,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
    he_normal,
    he_uniform,
    lecun_normal,
    lecun_uniform,
)

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "Initializer",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "serialize",
]

glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal

_BY_NAME: dict[str, Callable[[], Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": lambda: RandomNormal(mean=0.0, stddev=0.05),
    "random_uniform": lambda: RandomUniform(minval=-0.05, maxval=0.05),
    "truncated_normal": lambda: TruncatedNormal(mean=0.0, stddev=0.05),
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "orthogonal": Orthogonal,
    "variance_scaling": VarianceScaling,
}
_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        Constant,
        GlorotNormal,
        GlorotUniform,
        Ones,
        Orthogonal,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        Zeros,
        init_ops.UniformUnitScaling,
    )
}


def get(identifier: Any) -> Any:
    """An initializer from None, a name, a class name (``'GlorotUniform'``), a config
    dict or an initializer object / callable (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"Unknown initializer: {identifier!r}; known: {sorted(_BY_NAME)}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(init: Any) -> Any:
    """``{"class_name": ..., "config": ...}`` for a saved model; None for None."""
    if init is None:
        return None
    if isinstance(init, Initializer) and type(init).__name__ in _CLASSES:
        return {"class_name": type(init).__name__, "config": init.get_config()}
    raise ValueError(f"initializer {init!r} cannot be saved in a model's config; use a graphc initializer")


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The initializer a :func:`serialize` result describes."""
    if config is None:
        return None
    name = config["class_name"]
    classes = {**_CLASSES, **(custom_objects or {})}
    if name not in classes:
        raise ValueError(f"Unknown initializer: {name!r}")
    return classes[name].from_config(config.get("config", {}))
