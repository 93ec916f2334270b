"""Module-level TF1 functions that act on the default graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc import registry as reg
from graphc.frontend.graph import get_default_graph


def name_scope(name: str | None, default_name: str | None = None, values: Sequence[Any] | None = None) -> Any:
    """tf.name_scope(name, default_name=None, values=None)."""
    return get_default_graph().name_scope(name if name is not None else default_name)


def control_dependencies(control_inputs: Sequence[Any] | None) -> Any:
    return get_default_graph().control_dependencies(control_inputs)


def device(device_name: str | None) -> Any:
    return get_default_graph().device(device_name)


def add_to_collection(name: str, value: Any) -> None:
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names: Sequence[str] | str, value: Any) -> None:
    get_default_graph().add_to_collections(names, value)


def get_collection(key: str, scope: str | None = None) -> list[Any]:
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key: str) -> list[Any]:
    return get_default_graph().get_collection_ref(key)


def NotDifferentiable(op_type: str) -> None:  # noqa: N802  (TF's name)
    """tf.NotDifferentiable: in graphc every op states its gradient in the registry;
    this only checks that the op exists and is already marked not differentiable."""
    opdef = reg.get(op_type)
    if not isinstance(opdef.grad, reg.NotDifferentiable):
        raise ValueError(f"op {op_type!r} has a gradient rule; graphc does not let it be removed")
