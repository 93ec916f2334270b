"""The global step and learning-rate schedules of tf.compat.v1.train."""

from __future__ import annotations

from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Graph, GraphKeys, Tensor, get_default_graph
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import constant
from graphc.ops.math_ops import cast, floor, multiply, pow, truediv
from graphc.ops.variables import Variable


def _check_global_step(step: Any) -> None:
    """TF1's assert_global_step: an integer scalar variable or tensor."""
    dtype = getattr(step, "dtype", None)
    if dtype is None or not dtype.is_integer:
        raise TypeError(f"Existing 'global_step' does not have integer type: {getattr(step, 'dtype', None)}")
    shape = step.shape
    if shape.ndims != 0 and shape.ndims is not None:
        raise TypeError(f"Existing 'global_step' is not scalar: {shape}")


def get_global_step(graph: Graph | None = None) -> Variable | Tensor | None:
    """tf.train.get_global_step: the one variable in the GLOBAL_STEP collection, else the
    tensor named 'global_step:0', else None."""
    graph = graph or get_default_graph()
    steps = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(steps) > 1:
        raise TypeError("Multiple tensors in global_step collection.")
    if steps:
        _check_global_step(steps[0])
        return steps[0]
    try:
        found = graph.get_tensor_by_name("global_step:0")
    except (KeyError, ValueError):
        return None
    # The op named "global_step" is only a global step when it is a variable.
    if found.op.type != "VariableV2":
        return None
    _check_global_step(found)
    return found


def create_global_step(graph: Graph | None = None) -> Variable:
    """tf.train.create_global_step: an int64 scalar variable 'global_step' (initial 0, not
    trainable) in GLOBAL_VARIABLES and GLOBAL_STEP; ValueError if one exists."""

    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None):
        return Variable(
            lambda: constant(0, dtype=_dt.int64),
            trainable=False,
            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP],
            name="global_step",
            dtype=_dt.int64,
        )


def get_or_create_global_step(graph: Graph | None = None) -> Variable | Tensor:
    """tf.train.get_or_create_global_step."""
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    return step if step is not None else create_global_step(graph)


def global_step(sess: Any, global_step_tensor: Any) -> int:
    """tf.train.global_step: the step's current value in ``sess`` as a Python int."""
    return int(sess.run(global_step_tensor))


def exponential_decay(
    learning_rate: Any,
    global_step: Any,
    decay_steps: Any,
    decay_rate: Any,
    staircase: bool = False,
    name: str | None = None,
) -> Tensor:
    """tf.train.exponential_decay: ``lr * decay_rate ** (global_step / decay_steps)``, the
    exponent floored when ``staircase``. Computed in the learning rate's dtype."""

    if global_step is None:
        raise ValueError("global_step is required for exponential_decay.")
    graph = get_default_graph()
    with graph.name_scope(name or "ExponentialDecay"):
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        dtype = lr.dtype
        steps = cast(convert_to_tensor(decay_steps), dtype)
        rate = cast(convert_to_tensor(decay_rate), dtype)
        p = truediv(cast(convert_to_tensor(global_step), dtype), steps)
        if staircase:
            p = floor(p)
        return multiply(lr, pow(rate, p))
