"""tf.contrib.framework: TF1's variable-listing helpers and the global step, over graphc's
collections. Any other name raises an AttributeError saying what to use instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from graphc.contrib._missing import contrib_error
from graphc.frontend.graph import GraphKeys, get_default_graph
from graphc.ops.variable_scope import VariableScope
from graphc.train.training_util import get_global_step, get_or_create_global_step

__all__ = [
    "get_global_step",
    "get_model_variables",
    "get_or_create_global_step",
    "get_trainable_variables",
    "get_variables",
    "get_variables_by_name",
    "get_variables_by_suffix",
    "get_variables_to_restore",
]


def get_variables(
    scope: str | VariableScope | None = None,
    suffix: str | None = None,
    collection: str = GraphKeys.GLOBAL_VARIABLES,
) -> list[Any]:
    """tf.contrib.framework.get_variables (TF1): the variables of ``collection`` whose names
    match the regular expression ``scope`` at their start and, with ``suffix``, end in
    ``suffix`` before the output index (TF1 matches ``scope + ".*" + suffix + ":"``)."""
    if isinstance(scope, VariableScope):
        scope = scope.name
    if suffix is not None:
        if ":" not in suffix:
            suffix += ":"
        scope = (scope or "") + ".*" + suffix
    return get_default_graph().get_collection(collection, scope)


def get_model_variables(scope: str | None = None, suffix: str | None = None) -> list[Any]:
    """tf.contrib.framework.get_model_variables (TF1): get_variables over MODEL_VARIABLES."""
    return get_variables(scope, suffix, GraphKeys.MODEL_VARIABLES)


def get_trainable_variables(scope: str | None = None, suffix: str | None = None) -> list[Any]:
    """tf.contrib.framework.get_trainable_variables (TF1): get_variables over TRAINABLE_VARIABLES."""
    return get_variables(scope, suffix, GraphKeys.TRAINABLE_VARIABLES)


def get_variables_by_name(given_name: str, scope: str | None = None) -> list[Any]:
    """tf.contrib.framework.get_variables_by_name (TF1): the variables named ``given_name``
    (the last part of the name), optionally within ``scope``."""
    suffix = "/" + given_name + ":|^" + given_name + ":"
    return get_variables(scope=scope, suffix=suffix)


def get_variables_by_suffix(suffix: str, scope: str | None = None) -> list[Any]:
    """tf.contrib.framework.get_variables_by_suffix (TF1)."""
    return get_variables(scope=scope, suffix=suffix)


def get_variables_to_restore(
    include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> list[Any]:
    """tf.contrib.framework.get_variables_to_restore (TF1): the global variables within the
    ``include`` scopes (default: all), less those within an ``exclude`` scope."""
    if include is None:
        candidates = get_variables()
    else:
        candidates = []
        for s in include:
            candidates += [v for v in get_variables(s) if v not in candidates]
    excluded: list[Any] = []
    for s in exclude or ():
        excluded += get_variables(s)
    return [v for v in candidates if v not in excluded]


_INSTEAD: dict[str, str] = {
    "arg_scope": "pass the arguments to each call",
    "add_arg_scope": "pass the arguments to each call",
    "assign_from_checkpoint_fn": "use tf.train.Saver(var_list).restore",
    "init_from_checkpoint": "use tf.train.Saver(var_list).restore",
    "list_variables": "use tf.train.Saver to save and restore",
    "model_variable": "use tf.get_variable with collections=[tf.GraphKeys.MODEL_VARIABLES, ...]",
    "nest": "write the structure walk in Python",
}


def __getattr__(name: str) -> NoReturn:
    """A tf.contrib.framework name graphc lacks: an AttributeError naming what to use instead."""
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise contrib_error(f"tf.contrib.framework.{name}", _INSTEAD.get(name), __name__)
