"""Flatten and rebuild nested fetch structures: lists, tuples, namedtuples, dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def flatten(structure: Any) -> list[Any]:
    """Leaves in order (dict entries in sorted-key order, as TF)."""
    out: list[Any] = []
    stack = [structure]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x[k] for k in reversed(_sorted_keys(x)))
        elif isinstance(x, list | tuple):
            stack.extend(reversed(list(x)))
        else:
            out.append(x)
    return out


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:
        return list(d)


def pack_sequence_as(structure: Any, flat: list[Any]) -> Any:
    it = iter(flat)

    def build(x: Any) -> Any:
        if isinstance(x, dict):
            built = {k: build(x[k]) for k in _sorted_keys(x)}
            return type(x)((k, built[k]) for k in x) if type(x) is not dict else {k: built[k] for k in x}
        if _is_namedtuple(x):
            return type(x)(*[build(v) for v in x])
        if isinstance(x, list | tuple):
            return type(x)(build(v) for v in x)
        return next(it)

    return build(structure)


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    return pack_sequence_as(structure, [fn(x) for x in flatten(structure)])
