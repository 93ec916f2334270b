"""Activations by name (Keras's ``tf.keras.activations``), used by tf.layers and Keras
layers alike: ``activation='relu'`` or a callable. Each is built from graphc's ops, so
``softmax`` is a ``Softmax`` op and ``sigmoid`` a ``Sigmoid`` op (Keras's losses read
the logits from them, as TF1's Keras does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.frontend.graph import Tensor
from graphc.ops import activation_ops, math_ops, softmax_ops
from graphc.ops.common import convert_to_tensor

__all__ = [
    "deserialize",
    "elu",
    "exponential",
    "get",
    "hard_sigmoid",
    "linear",
    "relu",
    "selu",
    "serialize",
    "sigmoid",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


def relu(x: Any, alpha: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """Keras relu: ``max(x, 0)``; with ``alpha`` a leaky slope below ``threshold``, with
    ``max_value`` clipped above."""
    t = convert_to_tensor(x)
    if threshold != 0.0:
        above = math_ops.cast(math_ops.greater(t, threshold), t.dtype)
        y = t * above
        if alpha != 0.0:
            y = y + alpha * (t - threshold) * (1.0 - above)
    elif alpha != 0.0:
        y = activation_ops.leaky_relu(t, alpha=alpha)
    else:
        y = activation_ops.relu(t)
    if max_value is not None:
        y = math_ops.minimum(y, convert_to_tensor(max_value, dtype=t.dtype))
    return y


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Keras elu: ``x`` above 0, ``alpha * (exp(x) - 1)`` below."""
    y = activation_ops.elu(x)
    if alpha == 1.0:
        return y
    t = convert_to_tensor(x)
    return math_ops.where(math_ops.greater(t, 0.0), y, alpha * y)


def selu(x: Any) -> Tensor:
    """Keras selu (tf.nn.selu)."""
    return activation_ops.selu(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Keras softmax over ``axis`` (a ``Softmax`` op)."""
    return softmax_ops.softmax(x, axis=axis)


def softplus(x: Any) -> Tensor:
    """Keras softplus: ``log(1 + exp(x))``."""
    return activation_ops.softplus(x)


def softsign(x: Any) -> Tensor:
    """Keras softsign: ``x / (1 + |x|)``."""
    t = convert_to_tensor(x)
    return t / (1.0 + math_ops.abs(t))


def sigmoid(x: Any) -> Tensor:
    """Keras sigmoid (a ``Sigmoid`` op)."""
    return math_ops.sigmoid(x)


def hard_sigmoid(x: Any) -> Tensor:
    """Keras hard_sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""
    t = convert_to_tensor(x)
    return math_ops.clip_by_value(0.2 * t + 0.5, 0.0, 1.0)


def tanh(x: Any) -> Tensor:
    """Keras tanh."""
    return math_ops.tanh(x)


def exponential(x: Any) -> Tensor:
    """Keras exponential: ``exp(x)``."""
    return math_ops.exp(x)


def swish(x: Any) -> Tensor:
    """Keras swish: ``x * sigmoid(x)``."""
    t = convert_to_tensor(x)
    return t * math_ops.sigmoid(t)


def linear(x: Any) -> Any:
    """Keras linear: ``x`` unchanged."""
    return x


_BY_NAME: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        relu,
        elu,
        selu,
        softmax,
        softplus,
        softsign,
        sigmoid,
        hard_sigmoid,
        tanh,
        exponential,
        swish,
        linear,
    )
}
# graphc's own functions stand for the Keras activation of the same meaning.
_ALIASES: dict[Callable[..., Any], str] = {
    activation_ops.relu: "relu",
    activation_ops.elu: "elu",
    activation_ops.selu: "selu",
    activation_ops.softplus: "softplus",
    softmax_ops.softmax: "softmax",
    math_ops.sigmoid: "sigmoid",
    math_ops.tanh: "tanh",
    math_ops.exp: "exponential",
}


def get(identifier: Any) -> Callable[..., Any] | None:
    """An activation from a name (``'relu'``, ...), a callable (returned as is) or None
    (None: no activation, as tf.layers; Keras layers pass ``'linear'``)."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(f"Unknown activation function: {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(fn: Callable[..., Any] | None) -> str:
    """The name of an activation (for a model's JSON config); a function that is not one
    of the named activations raises ValueError."""
    if fn is None:
        return "linear"
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    alias = _ALIASES.get(fn)
    if alias is not None:
        return alias
    raise ValueError(
        f"activation {fn!r} has no name that a saved model can refer to; use one of {sorted(_BY_NAME)}, "
        "or pass it in custom_objects when loading"
    )


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Callable[..., Any]:
    """The activation named ``config`` (a name, or ``{"class_name": name}``), looked up in
    ``custom_objects`` first."""
    name = config["class_name"] if isinstance(config, dict) else config
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    fn = get(name)
    assert fn is not None
    return fn
