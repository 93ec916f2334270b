"""TF1 names graphc deliberately does not support. Each raises NotImplementedError saying
why and what to do instead, so that ``tf.cond(...)`` fails with advice rather than an
AttributeError. They accept any arguments: the message is the same however they are called.

The reasons, in short: graphc compiles a static dataflow graph with no control flow (no
cond, loops or functions called per element), a run is a pure function of feeds and variables (no
Python callbacks, printing or assertions during a run), and variables are assigned whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

_NO_CONTROL_FLOW = "graphc compiles static dataflow graphs and has no control-flow ops"
_PURE_RUN = (
    "a graphc run is one compiled pure function of the feeds and variables, which cannot call "
    "back into Python"
)
_CHECK = (
    f"{_PURE_RUN}, so it has no run-time checks. Fetch the values with Session.run and check "
    "them in Python (e.g. with NumPy), or check static shapes with tensor.shape while building"
)
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
    "py_func": (
        f"tf.py_func is not supported: {_PURE_RUN}. Fetch the inputs with Session.run, run the "
        "Python on them, and feed the result back through a tf.placeholder"
    ),
    "numpy_function": (
        f"tf.numpy_function is not supported: {_PURE_RUN}. Fetch the inputs with Session.run, "
        "run the NumPy on them, and feed the result back through a tf.placeholder"
    ),
    "Print": (
        f"tf.Print is not supported: {_PURE_RUN}. Add the tensor to the fetches of Session.run "
        "and print the fetched value in Python"
    ),
    "print": (
        f"tf.print is not supported: {_PURE_RUN}. Add the tensor to the fetches of Session.run "
        "and print the fetched value in Python"
    ),
}
_ASSERTS = (
    "Assert",
    "assert_equal",
    "assert_none_equal",
    "assert_near",
    "assert_less",
    "assert_less_equal",
    "assert_greater",
    "assert_greater_equal",
    "assert_positive",
    "assert_negative",
    "assert_non_negative",
    "assert_non_positive",
    "assert_rank",
    "assert_integer",
    "assert_type",
)
for _name in _ASSERTS:
    _REASONS[_name] = f"tf.{_name} is not supported: {_CHECK}"


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
py_func = _unsupported("py_func")
numpy_function = _unsupported("numpy_function")
Print = _unsupported("Print")
print = _unsupported("print")  # noqa: A001  (TF's name)
Assert = _unsupported("Assert")
assert_equal = _unsupported("assert_equal")
assert_none_equal = _unsupported("assert_none_equal")
assert_near = _unsupported("assert_near")
assert_less = _unsupported("assert_less")
assert_less_equal = _unsupported("assert_less_equal")
assert_greater = _unsupported("assert_greater")
assert_greater_equal = _unsupported("assert_greater_equal")
assert_positive = _unsupported("assert_positive")
assert_negative = _unsupported("assert_negative")
assert_non_negative = _unsupported("assert_non_negative")
assert_non_positive = _unsupported("assert_non_positive")
assert_rank = _unsupported("assert_rank")
assert_integer = _unsupported("assert_integer")
assert_type = _unsupported("assert_type")

NAMES: tuple[str, ...] = tuple(_REASONS)
