"""tf.keras.backend, Keras-in-TF1 style: models run in a graphc Session.

:func:`get_session` returns the default session (``with sess.as_default()``) when it is
on the graph asked for, else a session the backend keeps for that graph (one per
graph, made on first use); either way, the graph's variables that the session has not
initialized yet are initialized first, as TF1's ``K.get_session()`` does. Weights are
graph variables: :func:`get_value` / :func:`set_value` read and write them in that
session.

Differs from TF1: ``learning_phase()`` is a Python bool (the innermost
``learning_phase_scope``), not a placeholder: models build separate training and
inference graphs instead of feeding the phase. A layer's ``training`` argument may still
be a bool tensor the program feeds (``layer(x, training=is_training)``).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.frontend.default_session import get_default_session
from graphc.frontend.graph import Graph, GraphKeys, Tensor, get_default_graph, reset_default_graph
from graphc.layers.base import learning_phase, learning_phase_scope
from graphc.ops.variables import Variable, variables_initializer
from graphc.runtime.session import Session

__all__ = [
    "batch_get_value",
    "batch_set_value",
    "clear_session",
    "count_params",
    "epsilon",
    "floatx",
    "get_session",
    "get_value",
    "int_shape",
    "learning_phase",
    "learning_phase_scope",
    "set_session",
    "set_value",
]

_SESSIONS: weakref.WeakKeyDictionary[Graph, Session] = weakref.WeakKeyDictionary()
# session -> ids of the variable ops known to be initialized in it (checked once each).
_INITIALIZED: weakref.WeakKeyDictionary[Session, set[int]] = weakref.WeakKeyDictionary()
_EPSILON = 1e-7


def floatx() -> str:
    """Keras's default float type: ``'float32'``."""
    return "float32"


def epsilon() -> float:
    """Keras's fuzz factor (1e-7), used by the probability losses' clipping."""
    return _EPSILON


def get_session(graph: Graph | None = None) -> Session:
    """The session models of ``graph`` (default: the default graph) run in: the default
    session if it is on that graph, else the backend's own for it. Uninitialized
    variables of the graph are initialized in it first (TF1's ``K.get_session()``)."""
    g = graph or get_default_graph()
    default = get_default_session()
    if default is not None and default.graph is g:
        sess = default
    else:
        sess = _SESSIONS.get(g)
        if sess is None or sess._closed:
            sess = Session(graph=g)
            _SESSIONS[g] = sess
    _initialize_variables(sess)
    return sess


def set_session(session: Session) -> None:
    """Make ``session`` the one :func:`get_session` returns for its graph."""
    _SESSIONS[session.graph] = session


def clear_session() -> None:
    """Forget the backend's sessions and reset the default graph (TF1's
    ``K.clear_session()``): layer names start again at ``dense``."""
    for sess in list(_SESSIONS.values()):
        sess.close()
    _SESSIONS.clear()
    reset_default_graph()


def _initialize_variables(sess: Session) -> None:
    known = _INITIALIZED.setdefault(sess, set())
    todo = []
    for v in sess.graph.get_collection(GraphKeys.GLOBAL_VARIABLES):
        op_id = v.op._id
        if op_id in known:
            continue
        if sess._variable_value(v.op) is None:
            todo.append(v)
        else:
            known.add(op_id)
    if todo:
        with sess.graph.as_default():
            init = variables_initializer(todo)
        sess.run(init)
        known.update(v.op._id for v in todo)


def batch_get_value(variables: Sequence[Any]) -> list[np.ndarray]:
    """The values of ``variables`` (Variables or tensors) in their graph's session."""
    if not variables:
        return []
    sess = get_session(_graph_of(variables[0]))
    out: list[np.ndarray | None] = [None] * len(variables)
    rest = []
    for i, v in enumerate(variables):
        # A variable's value is read from the session's state, without a program.
        value = sess._variable_value(v.op) if isinstance(v, Variable) else None
        if value is None:
            rest.append(i)
        else:
            out[i] = np.array(value)
    if rest:
        for i, value in zip(rest, sess.run([variables[i] for i in rest])):
            out[i] = np.asarray(value)
    return out  # type: ignore[return-value]


def batch_set_value(tuples: Sequence[tuple[Variable, Any]]) -> None:
    """Write each ``(variable, value)`` in its graph's session (no ops are added)."""
    for var, value in tuples:
        sess = get_session(var.graph)
        expected = tuple(var.shape.as_list())
        arr = np.asarray(value, dtype=var.dtype.np)
        if arr.shape != expected:
            raise ValueError(
                f"Layer weight shape {expected} not compatible with provided weight shape {arr.shape} "
                f"(variable {var.name})"
            )
        var.load(arr, session=sess)


def get_value(x: Any) -> np.ndarray:
    """The value of a variable (or tensor without feeds)."""
    return batch_get_value([x])[0]


def set_value(x: Variable, value: Any) -> None:
    """Write ``value`` into the variable ``x``."""
    batch_set_value([(x, value)])


def int_shape(x: Any) -> tuple[int | None, ...] | None:
    """The static shape of ``x`` as a tuple (None for unknown dims), or None for unknown rank."""
    shape = x.shape
    if shape.ndims is None:
        return None
    return tuple(shape.as_list())


def count_params(x: Any) -> int:
    """The number of scalars in the variable ``x``."""
    return int(np.prod(x.shape.as_list(), dtype=np.int64))


def _graph_of(x: Any) -> Graph:
    if isinstance(x, Variable | Tensor):
        return x.graph
    return get_default_graph()
