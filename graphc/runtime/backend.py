"""The Backend protocol (version 2) and backend discovery.

A backend turns a Program into an Executable and owns its device arrays. The
core never imports a backend by name: backends are found through the
``graphc.backends`` entry-point group, so a third party can add one.

The protocol, in full (ARCHITECTURE.md has a guide to writing a backend):

- ``Backend.compile(program, options: CompileOptions) -> Executable``. The program
  has been verified and optimised; it states everything a backend may rely on
  (dtypes, shapes as formulas in the dim symbols, assertions already checked by the
  caller, data-defined dims, the memory plan). ``options.cache_key()`` is stable
  text naming every option that changes code.
- ``Backend.supported_ops() -> frozenset[str] | None``: the ops it compiles (None:
  all registered ops). The caller runs the others on the NumPy backend as separate,
  visible segments (the partition pass), so a backend never calls back into Python.
- Optional ``Backend.supports_node(node) -> bool``, consulted (by
  ``graphc.runtime.segments.node_supported``) only for a node whose op is in
  ``supported_ops()``: False sends that node to a NumPy segment too. It lets a backend
  take an op in the forms it compiles and leave the others (the LLVM backend compiles an
  ``If``/``While`` whose regions it can hold natively). It must be exact: a node it
  accepts must compile.
- ``Executable.run(inputs, dims, donated) -> outputs``: ``inputs`` are device arrays
  in ``program.params`` order; ``dims`` holds the value of every symbol bound at
  entry (the caller computed and checked them: shapes agree, assertions hold);
  ``donated`` is the set of param indices (variables only) whose buffers the
  executable may overwrite with those variables' new values. Outputs come back in
  ``program.outputs`` order. A run that raises must leave every input unchanged: an
  executable writes a donated buffer only once nothing after the write can fail.
- ``to_device`` / ``to_host`` copy (the caller's arrays never alias a backend's).
- Optional ``Executable.host_io = True``: the executable only reads its inputs (host
  arrays) and every output is a fresh host array of its own, so the caller may skip the
  copies in and out.

Compiled code that can be kept (the on-disk cache, ``graphc.runtime.cache``, and saved
artifacts, ``graphc.runtime.artifact``, use these; a backend without them is compiled
afresh each time, as the NumPy backend is):

- ``Backend.cache_identity() -> dict[str, str]``: everything the code it generates
  depends on besides the program and the options (its own and its compiler's versions,
  the target triple, the CPU name and features). Part of every cache key.
- ``Backend.export(executable) -> bytes``: the executable's compiled code, self-contained
  apart from the program (which the caller stores serialised beside it).
- ``Backend.load(program, code, options) -> Executable``: an executable from exported
  code and the program it was compiled from, without compiling (for the LLVM backend: the
  object code is mapped into the process; LLVM's optimiser does not run).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from graphc.ir.entry import bind_entry
from graphc.ir.program import Program

ENTRY_POINT_GROUP = "graphc.backends"
DEFAULT_BACKEND_ENV = "GRAPHC_BACKEND"
PROTOCOL_VERSION = 2
# Names that stand for a backend: "cpu" is the main CPU backend.
ALIASES = {"cpu": "llvm"}


@dataclasses.dataclass(frozen=True)
class CompileOptions:
    """Options that change what a backend compiles; frozen, so they can key a cache.

    ``disable_passes``: pass names switched off (the pipeline's, sorted);
    ``backend_options``: backend-specific settings as sorted ``(name, value)`` pairs of
    JSON-serialisable values (for example an LLVM backend's optimisation level)."""

    disable_passes: tuple[str, ...] = ()
    backend_options: tuple[tuple[str, Any], ...] = ()

    @staticmethod
    def make(disable_passes: Collection[str] | None = None, **backend_options: Any) -> CompileOptions:
        return CompileOptions(
            tuple(sorted(set(disable_passes or ()))), tuple(sorted(backend_options.items()))
        )

    def get(self, name: str, default: Any = None) -> Any:
        """A backend-specific option's value."""
        return dict(self.backend_options).get(name, default)

    def cache_key(self) -> str:
        """Stable text: equal options give equal keys, in every process."""
        return json.dumps(
            {
                "protocol": PROTOCOL_VERSION,
                "disable_passes": list(self.disable_passes),
                "backend_options": [[k, v] for k, v in self.backend_options],
            },
            sort_keys=True,
            separators=(",", ":"),
        )


@runtime_checkable
class Executable(Protocol):
    """A compiled program (see the module docstring for the contract of ``run``)."""

    program: Program

    def run(
        self, inputs: Sequence[Any], dims: Mapping[str, int], donated: frozenset[int] = frozenset()
    ) -> list[Any]: ...


@runtime_checkable
class Backend(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def supported_ops(self) -> frozenset[str] | None: ...

    def compile(self, program: Program, options: CompileOptions) -> Executable: ...

    def to_device(self, array: np.ndarray) -> Any: ...

    def to_host(self, array: Any) -> np.ndarray: ...


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1


# The machine's physical memory: no buffer larger than it can be allocated, so a backend
# refuses such a run before it starts (ResourceExhaustedError naming the op).
MACHINE_MEMORY_BYTES = _physical_memory()


def can_export(backend: Backend) -> bool:
    """Whether ``backend`` implements the optional export/load part of the protocol."""
    return all(callable(getattr(backend, m, None)) for m in ("cache_identity", "export", "load"))


def run_program(backend: Backend, program: Program, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Compile ``program`` on ``backend`` and run it once on host arrays: the entry check,
    the transfers and the protocol's call, as the session makes them (for tools and tests
    that hold a Program rather than a graph)."""
    arrays = [np.asarray(x) for x in inputs]
    dims = bind_entry(program, [a.shape for a in arrays], dict(enumerate(arrays)))
    exe = backend.compile(program, CompileOptions())
    outs = exe.run([backend.to_device(a) for a in arrays], dims)
    return [backend.to_host(o) for o in outs]


_loaded: dict[str, Backend] = {}
_default_name: str | None = None


def default_backend_name() -> str:
    """The backend a Session gets when none is named and $GRAPHC_BACKEND is unset: the LLVM
    CPU backend where it is installed and can run here, else the NumPy interpreter."""
    global _default_name
    if _default_name is None:
        try:
            ok = get_backend("llvm").is_available()
        except Exception:  # noqa: BLE001  (a missing or broken plug-in means the interpreter)
            ok = False
        _default_name = "llvm" if ok else "numpy"
    return _default_name


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
    """A backend by name (default: $GRAPHC_BACKEND, else :func:`default_backend_name`), or
    the object itself."""
    if name is not None and not isinstance(name, str):
        return name
    name = name or os.environ.get(DEFAULT_BACKEND_ENV) or default_backend_name()
    name = ALIASES.get(name, name)
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
