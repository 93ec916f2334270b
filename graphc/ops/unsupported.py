"""TF1 names graphc deliberately does not support. Each raises NotImplementedError saying
why and what to do instead, so that ``tf.scatter_update(...)`` fails with advice rather than
an AttributeError. They accept any arguments: the message is the same however they are
called.

The reason, in short: variables are assigned whole. (Host callbacks, printing and
assertions are graphc.ops.host_ops; control flow is graphc.ops.control_flow_ops.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

_WHOLE_VARIABLES = "graphc assigns variables whole. Build the new value densely and tf.assign it"
_SCATTERED = "tf.scatter_nd(tf.expand_dims(indices, -1), updates, tf.shape(ref))"

_REASONS: dict[str, str] = {
    "scatter_update": (
        f"tf.scatter_update is not supported: {_WHOLE_VARIABLES}, e.g. with hit = "
        "tf.scatter_nd(tf.expand_dims(indices, -1), tf.ones_like(updates), tf.shape(ref)) > 0: "
        f"tf.assign(ref, tf.where(hit, {_SCATTERED}, ref)) (for distinct indices)"
    ),
    "scatter_add": (
        f"tf.scatter_add is not supported: {_WHOLE_VARIABLES}, e.g. tf.assign(ref, ref + {_SCATTERED})"
    ),
    "scatter_sub": (
        f"tf.scatter_sub is not supported: {_WHOLE_VARIABLES}, e.g. tf.assign(ref, ref - {_SCATTERED})"
    ),
}


def message(name: str) -> str:
    """The error message of the unsupported TF1 function ``name``."""
    text = _REASONS[name]
    return text if text.startswith("tf.") else f"tf.{name} is not supported: {text}"


def _unsupported(name: str) -> Callable[..., NoReturn]:
    def fn(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(message(name))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"tf.{name} (TF1) is not supported by graphc: calling it raises NotImplementedError.\n\n{message(name)}."
    return fn


scatter_update = _unsupported("scatter_update")
scatter_add = _unsupported("scatter_add")
scatter_sub = _unsupported("scatter_sub")

NAMES: tuple[str, ...] = tuple(_REASONS)
