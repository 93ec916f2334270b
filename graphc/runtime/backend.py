"""The Backend protocol and backend discovery.

A backend turns a Program into an Executable and owns its device arrays. The
core never imports a backend by name: backends are found through the
``graphc.backends`` entry-point group, so a third party can add one.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from graphc.ir.program import Program

ENTRY_POINT_GROUP = "graphc.backends"
DEFAULT_BACKEND_ENV = "GRAPHC_BACKEND"


@runtime_checkable
class Executable(Protocol):
    """A compiled program. ``run`` takes device arrays in ``program.params`` order
    and returns device arrays in ``program.outputs`` order; it never mutates its
    inputs (the session commits variable updates only after a run succeeds)."""

    program: Program

    def run(self, inputs: Sequence[Any]) -> list[Any]: ...


@runtime_checkable
class Backend(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def compile(self, program: Program, options: dict[str, Any] | None = None) -> Executable: ...

    def to_device(self, array: np.ndarray) -> Any: ...

    def to_host(self, array: Any) -> np.ndarray: ...


_loaded: dict[str, Backend] = {}


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Names of the installed backends that can run on this machine."""
    names = []
    for name in sorted(_entry_points()):
        try:
            if get_backend(name).is_available():
                names.append(name)
        except Exception:  # noqa: BLE001  (a broken plug-in must not break the others)
            continue
    return names


def get_backend(name: str | Backend | None = None) -> Backend:
    """A backend by name (default: $GRAPHC_BACKEND, else "numpy"), or the object itself."""
    if name is not None and not isinstance(name, str):
        return name
    name = name or os.environ.get(DEFAULT_BACKEND_ENV) or "numpy"
    if name in _loaded:
        return _loaded[name]
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none (is graphc installed? try `pip install -e .`)"
        raise ValueError(f"Unknown graphc backend {name!r}; installed backends: {known}")
    factory = eps[name].load()
    backend = factory() if callable(factory) and not isinstance(factory, Backend) else factory
    _loaded[name] = backend
    return backend
