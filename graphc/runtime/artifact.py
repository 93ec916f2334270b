"""Compiled programs as callables, and as self-contained artifacts on disk.

:func:`compile` turns fetches and feeds of a graph into a :class:`CompiledProgram`: the
part of the graph the fetches need, lowered and optimised exactly as a ``Session`` run
of the same fetches and feeds is (``ir/lower.py``, then ``passes/pipeline.py``), and
compiled once on a backend (``runtime/segments.py`` ``compile_program``). Variables the
fetches read are captured: their values are read from the session when the program is
compiled and held by it, so the compiled program is a pure function of its feeds (a
later change to a variable in the session does not change it). Dims a placeholder
leaves as None stay symbols: a new batch size never recompiles. Random ops draw as in a
fresh session: each op's run counter starts at 0 and advances by one per call.

:meth:`CompiledProgram.save` writes an artifact, :func:`load` reads one back in any
process that has graphc, without the code that built the graph. Nothing on the load
path unpickles: the program is graphc's own serialisation (``ir/serialize.py``), the
variables raw little-endian bytes, and every part is checked against its SHA-256 before
it is used. The checksums make an artifact tamper-evident (a flipped or missing byte is
found and named); they do not authenticate who wrote it.

The artifact is one file (integers little-endian)::

    magic            8 bytes   b"GRAPHCA\\n"
    manifest_len     u64       length of the manifest
    manifest_sha256  32 bytes  SHA-256 of the manifest's bytes
    manifest         manifest_len bytes of ASCII JSON (sorted keys), below
    parts            the parts' bytes, back to back in the manifest's "parts" order, no
                     gaps and nothing after the last

    {"format": "graphc.artifact", "version": 1, "graphc_version": str,
     "backend": {"name": str, "identity": {str: str} | null},  # its cache_identity()
     "options": {"disable_passes": [str, ...], "backend_options": [[name, value], ...]},
     "structure": "single" | "list" | "tuple",   # what a call returns
     "signature": {"inputs": [SPEC, ...], "outputs": [SPEC, ...]},
     "params": [{"kind": "feed", "input": int} | {"kind": "variable", "variable": int}
                | {"kind": "rng"}, ...],          # program.params, in order
     "fetches": [int, ...],                       # per output: its index in program.outputs
     "variables": [{"name": str, "dtype": str, "shape": [int, ...], "part": str}, ...],
     "program_hash": str,                         # Program.content_hash()
     "units": [str, ...],                         # content hash of each compiled unit
     "parts": [{"name": str, "offset": int, "length": int, "sha256": str}, ...]}

    SPEC   {"name": str, "dtype": str, "shape": [int | str, ...]}  (a str is a symbolic
           dim, "?" one the program does not read)

Parts are ``program`` (``serialize.to_bytes``), ``variable:<i>``, and ``code:<k>`` for
each compiled unit whose code the backend exports (the optional part of protocol v2:
``can_export``). A unit is what ``compile_program`` compiled: the program itself, or, for
a program split into segments (ops the backend lacks run on NumPy), each segment; the
NumPy segments have no code and are compiled on load. :func:`load` uses the code when
the artifact's backend and its ``cache_identity()`` match this machine's and the program
splits into the same units here; otherwise (another CPU, another compiler, or no code)
it compiles the program again, with a warning when code was there but went unused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import re
import struct
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import errors
from graphc.frontend.default_session import get_default_session
from graphc.frontend.graph import Operation, Tensor
from graphc.ir import serialize
from graphc.ir.entry import bind_entry
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.ir.verify import verify
from graphc.passes import pipeline
from graphc.passes.memory import plan_memory
from graphc.runtime.backend import Backend, CompileOptions, Executable, can_export, get_backend
from graphc.runtime.files import write_atomically
from graphc.runtime.segments import FALLBACK_BACKEND, SegmentedExecutable, compile_program, has_host_ops, plan

__all__ = ["ArtifactError", "CompiledProgram", "Signature", "TensorSpec", "compile", "load", "run_cli"]

FORMAT = "graphc.artifact"
VERSION = 1
MAGIC = b"GRAPHCA\n"
_HEADER = struct.Struct("<8sQ32s")
_MAX_RANK = 32
_DTYPES = {d.name: d for d in _dt.ALL}
_STRUCTURES = ("single", "list", "tuple")
_UNREAD = "?"  # the shape text of a dim no part of the program reads


class ArtifactError(Exception):
    """An artifact that cannot be used: not one, another format version, truncated, or a
    part whose checksum or contents are wrong. The message names the part."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, dtype name and shape (an int per static dim, the
    symbol's text, such as ``"N0"``, per symbolic dim)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __str__(self) -> str:
        return f"{self.name}: {self.dtype}[{','.join(str(d) for d in self.shape)}]"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclasses.dataclass(frozen=True)
class Signature:
    """A compiled program's inputs (the call's positional arguments, in order) and outputs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __str__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        outs = ", ".join(str(s) for s in self.outputs)
        return f"({ins}) -> ({outs})"


# -- compiling a graph -----------------------------------------------------------------------


def compile(  # noqa: A001  (graphc.compile is the public name)
    fetches: Tensor | Sequence[Tensor],
    feeds: Sequence[Tensor] | Mapping[str, Tensor],
    backend: str | Backend | None = None,
    session: Any = None,
) -> CompiledProgram:
    """Compile what ``fetches`` need as a function of ``feeds``.

    ``fetches``: a tensor (a call returns one array) or a list/tuple of tensors (a call
    returns a list/tuple). ``feeds``: the tensors the call's positional arguments are fed
    to, in order (their op names name them), or a dict ``name -> tensor``. Variables are
    read from ``session`` (default: the default session) now; the program holds their
    values. ``backend``: a name or object (default: the session's backend, else
    ``$GRAPHC_BACKEND`` or NumPy)."""
    targets, structure = _fetch_targets(fetches)
    names, fed = _feed_tensors(feeds)
    graph = targets[0].graph
    for t in [*targets, *fed]:
        if t.graph is not graph:
            raise ValueError(f"Tensor {t.name!r} is not an element of the graph of {targets[0].name!r}")
    for t in fed:
        if t.shape.ndims is None:
            raise ValueError(
                f"Cannot compile feed {t.name!r}: its rank is unknown; give the placeholder a shape "
                f"(dims may be None)"
            )
    # The fed shape matters to lowering only for placeholders of unknown rank (refused
    # above): a None dim becomes a symbol whatever it is given here.
    lowered = lower(graph, targets, {t: (t.dtype, tuple(d or 0 for d in t.shape.as_tuple())) for t in fed})
    if lowered.update_vars:
        names_up = ", ".join(repr(v.name) for v in lowered.update_vars)
        raise ValueError(
            f"The fetches assign variables ({names_up}); a compiled program is a pure function of its "
            f"feeds: fetch tensors that do not depend on an assignment"
        )
    if lowered.variables:
        sess = session if session is not None else get_default_session()
        if sess is None:
            raise ValueError(
                "The fetches read variables ("
                + ", ".join(repr(v.name) for v in lowered.variables)
                + "); pass session= or compile inside `with sess.as_default():`"
            )
        if sess.graph is not graph:
            raise ValueError("The session given to compile() is not a session of the fetches' graph")
    else:
        sess = session if session is not None else get_default_session()
    options = getattr(sess, "_compile_options", None) or CompileOptions()
    if os.environ.get(pipeline.VERIFY_ENV, "") not in ("", "0"):
        verify(lowered.program)
    program = pipeline.optimize(lowered.program, disabled=options.disable_passes)
    values: list[np.ndarray] = []
    var_names: list[str] = []
    for op in lowered.variables:
        value = sess._variable_value(op)
        if value is None:
            raise errors.FailedPreconditionError(None, op, f"Attempting to use uninitialized value {op.name}")
        values.append(np.array(value, copy=True))
        var_names.append(op.name)
    if backend is not None:
        chosen = get_backend(backend)
    elif sess is not None:
        chosen = sess.backend
    else:
        chosen = get_backend(None)

    feed_index = {id(t): i for i, t in enumerate(fed)}
    params: list[tuple[str, int]] = []
    feed_i = var_i = rng_i = 0
    for p in program.params:
        if p.kind == "feed":
            params.append(("feed", feed_index[id(lowered.feeds[feed_i])]))
            feed_i += 1
        elif p.kind == "variable":
            params.append(("variable", var_i))
            var_i += 1
        else:
            params.append(("rng", rng_i))
            rng_i += 1
    fetch_out = [i for i in lowered.fetch_index if i is not None]

    in_specs = []
    for i, (name, t) in enumerate(zip(names, fed)):
        where = [k for k, (kind, j) in enumerate(params) if kind == "feed" and j == i]
        if where:
            shape = _shape_text(program.params[where[0]].value.shape)
        else:
            shape = tuple(_UNREAD if d is None else d for d in t.shape.as_tuple())
        in_specs.append(TensorSpec(name, t.dtype.name, shape))
    out_names = _unique([_tensor_label(t) for t in targets])
    out_specs = [
        TensorSpec(n, program.outputs[k].value.dtype.name, _shape_text(program.outputs[k].value.shape))
        for n, k in zip(out_names, fetch_out)
    ]
    signature = Signature(tuple(in_specs), tuple(out_specs))
    exe = compile_program(program, chosen, options)
    return CompiledProgram(
        program, chosen, options, exe, signature, params, fetch_out, var_names, values, structure
    )


def _fetch_targets(fetches: Any) -> tuple[list[Tensor], str]:
    if isinstance(fetches, Tensor):
        return [fetches], "single"
    if isinstance(fetches, list | tuple) and fetches:
        for f in fetches:
            if not isinstance(f, Tensor):
                kind = "an Operation" if isinstance(f, Operation) else type(f).__name__
                raise TypeError(f"compile() fetches tensors; got {kind} ({f!r})")
        return list(fetches), "list" if isinstance(fetches, list) else "tuple"
    raise TypeError(f"compile() fetches a tensor or a non-empty list/tuple of tensors; got {fetches!r}")


def _feed_tensors(feeds: Any) -> tuple[list[str], list[Tensor]]:
    if isinstance(feeds, Mapping):
        names, fed = [str(k) for k in feeds], list(feeds.values())
    elif isinstance(feeds, list | tuple):
        fed = list(feeds)
        names = []
        for t in fed:
            if not isinstance(t, Tensor):
                raise TypeError(f"compile() feeds tensors (placeholders); got {t!r}")
            names.append(_tensor_label(t))
    else:
        raise TypeError(
            f"compile() feeds a list of placeholders or a dict name -> placeholder; got {feeds!r}"
        )
    for t in fed:
        if not isinstance(t, Tensor):
            raise TypeError(f"compile() feeds tensors (placeholders); got {t!r}")
    if len({id(t) for t in fed}) != len(fed):
        raise ValueError("compile(): a tensor is fed twice")
    if len(set(names)) != len(names):
        raise ValueError(f"compile(): two feeds share a name ({names})")
    return names, fed


def _tensor_label(t: Tensor) -> str:
    """A tensor's name without ``:0`` for an op's first output (as people name them)."""
    return t.op.name if t.value_index == 0 else t.name


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 0)
        out.append(n)
    return out


def _shape_text(shape: Sequence[Any]) -> tuple[int | str, ...]:
    return tuple(d if isinstance(d, int) else str(d) for d in shape)


# -- the callable ------------------------------------------------------------------------------


class CompiledProgram:
    """A compiled pure function: NumPy arrays in (the signature's inputs), NumPy arrays out.

    Made by :func:`graphc.compile` or :func:`graphc.load`. Calls may come from several
    threads at once (each random op's counter is reserved atomically per call)."""

    def __init__(
        self,
        program: Program,
        backend: Backend,
        options: CompileOptions,
        executable: Executable,
        signature: Signature,
        params: list[tuple[str, int]],
        fetches: list[int],
        variable_names: list[str],
        variable_values: list[np.ndarray],
        structure: str,
    ) -> None:
        self._program = program
        self._backend = backend
        self._options = options
        self._executable = executable
        self._signature = signature
        self._params = params
        self._fetches = fetches
        self._variable_names = variable_names
        self._variable_values = variable_values
        # The variables' device arrays are made once; the executable never overwrites them
        # (no call donates a buffer).
        self._variable_device = [backend.to_device(v) for v in variable_values]
        self._structure = structure
        self._rng_lock = threading.Lock()
        self._rng_counters = [0] * sum(1 for kind, _ in params if kind == "rng")

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def program(self) -> Program:
        """The optimised program it runs."""
        return self._program

    def __repr__(self) -> str:
        return f"<CompiledProgram {self._signature} on {self._backend.name}>"

    def __call__(self, *arrays: Any, **named: Any) -> Any:
        """Run on ``arrays`` (positional, in the signature's order, or by input name).

        A NumPy array must have the input's dtype or one that converts to it without loss
        (``np.can_cast(..., "safe")``); Python numbers and lists are converted as
        ``np.asarray`` reads them, within the same kind. Rank and static dims must match;
        symbolic dims are bound and checked by the entry check (``ir/entry.py``)."""
        host = self._inputs(arrays, named)
        program = self._program
        with self._rng_lock:
            counters = list(self._rng_counters)
            self._rng_counters = [c + 1 for c in counters]
        shapes: list[tuple[int, ...]] = []
        values: dict[int, Any] = {}
        for i, (kind, j) in enumerate(self._params):
            if kind == "feed":
                shapes.append(host[j].shape)
                values[i] = host[j]
            elif kind == "variable":
                shapes.append(self._variable_values[j].shape)
                values[i] = self._variable_values[j]
            else:
                shapes.append(())
        env = bind_entry(program, shapes, values)
        inputs: list[Any] = []
        for kind, j in self._params:
            if kind == "feed":
                inputs.append(self._backend.to_device(host[j]))
            elif kind == "variable":
                inputs.append(self._variable_device[j])
            else:
                inputs.append(self._backend.to_device(np.array(counters[j], dtype=np.uint64)))
        outs = self._executable.run(inputs, env, frozenset())
        results = [np.asarray(self._backend.to_host(outs[k])) for k in self._fetches]
        if self._structure == "single":
            return results[0]
        return results if self._structure == "list" else tuple(results)

    def _inputs(self, arrays: Sequence[Any], named: Mapping[str, Any]) -> list[np.ndarray]:
        specs = self._signature.inputs
        if len(arrays) > len(specs):
            raise TypeError(f"This program takes {len(specs)} inputs ({self._names()}); got {len(arrays)}")
        given: list[Any] = list(arrays) + [_MISSING] * (len(specs) - len(arrays))
        index = {s.name: i for i, s in enumerate(specs)}
        for name, value in named.items():
            if name not in index:
                raise TypeError(f"No input named {name!r}; inputs are {self._names()}")
            if given[index[name]] is not _MISSING:
                raise TypeError(f"Input {name!r} is given twice")
            given[index[name]] = value
        missing = [s.name for s, g in zip(specs, given) if g is _MISSING]
        if missing:
            raise TypeError(f"Missing input(s) {missing}; inputs are {self._names()}")
        return [_check_input(s, g) for s, g in zip(specs, given)]

    def _names(self) -> str:
        return ", ".join(str(s) for s in self._signature.inputs)

    # -- saving ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the artifact (module docstring) to ``path``, atomically: a reader sees the
        old file or the whole new one."""
        if has_host_ops(self._program):
            # A host op holds only a token into this process's table of Python functions.
            raise ValueError(
                "Cannot save a program with host callbacks (tf.py_func, tf.numpy_function, tf.Print, "
                "tf.print, tf.Assert/tf.assert_*): it calls Python functions of this process"
            )
        parts: list[tuple[str, bytes]] = [("program", serialize.to_bytes(self._program))]
        backend = self._backend
        identity = None
        if callable(getattr(backend, "cache_identity", None)):
            identity = {str(k): str(v) for k, v in backend.cache_identity().items()}
        units = _units(self._program, backend, self._executable)
        if can_export(backend):
            for k, (_, unit_backend, exe) in enumerate(units):
                if unit_backend is not backend:
                    continue  # a fallback segment (NumPy): compiled again on load
                try:
                    parts.append((f"code:{k}", bytes(backend.export(exe))))
                except (NotImplementedError, TypeError, ValueError):
                    # The backend keeps no code for this executable (the LLVM backend's
                    # NumPy stand-in for a program it cannot emit): compiled again on load.
                    pass
        variables = []
        for i, (name, value) in enumerate(zip(self._variable_names, self._variable_values)):
            if value.dtype.kind not in "biuf":
                raise ValueError(f"Cannot save variable {name!r} of dtype {value.dtype}: only numeric values")
            raw = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
            part = f"variable:{i}"
            parts.append((part, raw))
            variables.append(
                {
                    "name": name,
                    "dtype": _dt.as_dtype(value.dtype).name,
                    "shape": list(value.shape),
                    "part": part,
                }
            )
        table = []
        offset = 0
        for name, data in parts:
            table.append(
                {
                    "name": name,
                    "offset": offset,
                    "length": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
            offset += len(data)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "graphc_version": _graphc_version(),
            "backend": {"name": backend.name, "identity": identity},
            "options": {
                "disable_passes": list(self._options.disable_passes),
                "backend_options": [[k, v] for k, v in self._options.backend_options],
            },
            "structure": self._structure,
            "signature": {
                "inputs": [s.to_json() for s in self._signature.inputs],
                "outputs": [s.to_json() for s in self._signature.outputs],
            },
            "params": [
                {
                    "kind": kind,
                    **({"input": j} if kind == "feed" else {"variable": j} if kind == "variable" else {}),
                }
                for kind, j in self._params
            ],
            "fetches": list(self._fetches),
            "variables": variables,
            "program_hash": self._program.content_hash(),
            "units": [u.content_hash() for u, _, _ in units],
            "parts": table,
        }
        text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        header = _HEADER.pack(MAGIC, len(text), hashlib.sha256(text).digest())
        write_atomically(path, (header, text, *(data for _, data in parts)), prefix=".graphc-artifact-")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _check_input(spec: TensorSpec, value: Any) -> np.ndarray:
    """``value`` as an array of the input's dtype, or a clear TypeError/ValueError naming it."""
    dt = _DTYPES[spec.dtype]
    if dt.is_string:
        arr = np.asarray(value)
        if arr.dtype.kind not in "USO":
            raise TypeError(f"Input {spec.name!r} takes strings; got an array of {arr.dtype}")
        arr = arr.astype(object)
    else:
        is_numpy = isinstance(value, np.ndarray | np.generic)
        arr = np.asarray(value)
        target = np.dtype(dt.np)
        ok = np.can_cast(arr.dtype, target, "safe") or (
            not is_numpy and arr.dtype.kind in "biuf" and np.can_cast(arr.dtype, target, "same_kind")
        )
        if not ok:
            raise TypeError(
                f"Input {spec.name!r} has dtype {spec.dtype}; got an array of {arr.dtype} "
                f"(convert it with .astype(np.{target.name}) if that is meant)"
            )
        cast = arr.astype(target, copy=False)
        if not is_numpy and target.kind in "iu" and not np.array_equal(cast, arr):
            raise ValueError(f"A value given for input {spec.name!r} is out of range for {spec.dtype}")
        arr = cast
    if arr.ndim != len(spec.shape) or any(
        isinstance(d, int) and d != n for d, n in zip(spec.shape, arr.shape)
    ):
        want = "[" + ",".join(str(d) for d in spec.shape) + "]"
        raise ValueError(f"Input {spec.name!r} has shape {want}; got an array of shape {tuple(arr.shape)}")
    return arr


def _graphc_version() -> str:
    try:
        return importlib.metadata.version("graphc")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- loading -----------------------------------------------------------------------------------


def load(path: str | os.PathLike[str], backend: str | Backend | None = None) -> CompiledProgram:
    """Read an artifact written by :meth:`CompiledProgram.save`.

    Every check comes before anything is used: the header, the manifest's checksum and
    format version, each part's bounds and checksum, then the program (deserialised and
    verified), the variables against the program's params. Any failure raises
    :class:`ArtifactError` naming the part. ``backend``: where to run it (default: the
    artifact's own backend; NumPy, with a warning, when that is not installed here)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {path!r}: {exc.strerror or exc}") from None
    manifest, parts = _read_container(path, data)
    program = _read_program(manifest, parts["program"])
    signature, params, fetches, structure = _read_interface(manifest, program)
    var_names, values = _read_variables(manifest, program, params, parts)
    options = CompileOptions(
        tuple(manifest["options"]["disable_passes"]),
        tuple((str(k), v) for k, v in manifest["options"]["backend_options"]),
    )
    saved = manifest["backend"]
    if backend is None:
        try:
            chosen = get_backend(saved["name"])
        except ValueError:
            warnings.warn(
                f"artifact {path!r} was compiled for backend {saved['name']!r}, which is not installed "
                f"here; running it on the default backend",
                RuntimeWarning,
                stacklevel=2,
            )
            chosen = get_backend(None)
    else:
        chosen = get_backend(backend)
    codes = {int(name.split(":", 1)[1]): blob for name, blob in parts.items() if name.startswith("code:")}
    exe = None
    if codes:
        exe, why = _load_code(program, chosen, options, saved, manifest["units"], codes)
        if exe is None:
            warnings.warn(
                f"artifact {path!r}: compiling its program again, because {why}", RuntimeWarning, stacklevel=2
            )
    if exe is None:
        exe = compile_program(program, chosen, options)
    return CompiledProgram(
        program, chosen, options, exe, signature, params, fetches, var_names, values, structure
    )


def _units(program: Program, backend: Backend, exe: Executable) -> list[tuple[Program, Backend, Executable]]:
    """What ``compile_program`` compiled, one (program, backend, executable) per unit: the
    program itself, or each of its segments."""
    if isinstance(exe, SegmentedExecutable):
        return [
            (seg.program, b, e) for seg, b, e in zip(exe.segments, exe.backends, exe.executables, strict=True)
        ]
    return [(program, backend, exe)]


def _load_code(
    program: Program,
    backend: Backend,
    options: CompileOptions,
    saved: Mapping[str, Any],
    unit_hashes: Sequence[str],
    codes: Mapping[int, bytes],
) -> tuple[Executable | None, str]:
    """The executable from the artifact's exported code (the units without code compiled
    here), or None and why the code cannot be used. The program is split here as
    ``compile_program`` splits it, and each unit must be the one its code was made from."""
    why = _why_not_loadable(backend, saved)
    if why is not None:
        return None, why
    part = plan(program, backend)
    if part is None:
        units, backends = [program], [backend]
    else:
        fallback = backend if backend.name == FALLBACK_BACKEND else get_backend(FALLBACK_BACKEND)
        units = [seg.program for seg in part.segments]
        backends = [backend if seg.backend == backend.name else fallback for seg in part.segments]
    if [u.content_hash() for u in units] != list(unit_hashes):
        return None, "the program is split into segments differently here"
    exes: list[Executable] = []
    for k, (unit, b) in enumerate(zip(units, backends, strict=True)):
        code = codes.get(k)
        if code is None or b is not backend:
            exes.append(b.compile(unit, options))
            continue
        try:
            exes.append(backend.load(unit, code, options))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001  (unusable code is compiled afresh, said by the caller)
            return None, f"its code did not load ({type(exc).__name__}: {exc})"
    if part is None:
        return exes[0], ""
    return SegmentedExecutable(program, part, backend, backends, exes), ""


def _why_not_loadable(backend: Backend, saved: Mapping[str, Any]) -> str | None:
    """Why the artifact's code cannot run on ``backend`` here (None: it can)."""
    if backend.name != saved["name"]:
        return f"it was compiled by backend {saved['name']!r}, not {backend.name!r}"
    if not can_export(backend):
        return f"backend {backend.name!r} cannot load compiled code"
    here = {str(k): str(v) for k, v in backend.cache_identity().items()}  # type: ignore[attr-defined]
    there = saved["identity"] or {}
    if here != there:
        keys = sorted(k for k in here.keys() | there.keys() if here.get(k) != there.get(k))
        diff = "; ".join(f"{k}: {there.get(k)!r} there, {here.get(k)!r} here" for k in keys)
        return f"it was compiled for another machine or compiler ({diff})"
    return None


def _read_container(path: str, data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    if len(data) < _HEADER.size:
        raise ArtifactError(f"{path!r} is not a graphc artifact: {len(data)} bytes, shorter than its header")
    magic, n, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ArtifactError(f"{path!r} is not a graphc artifact (header: bad magic)")
    if n > len(data) - _HEADER.size:
        raise ArtifactError(
            f"artifact {path!r} is truncated: its manifest needs {n} bytes, {len(data) - _HEADER.size} remain"
        )
    text = data[_HEADER.size : _HEADER.size + n]
    if hashlib.sha256(text).digest() != digest:
        raise ArtifactError(f"artifact {path!r}: the manifest's checksum does not match (manifest damaged)")
    try:
        manifest = json.loads(text.decode("ascii"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"artifact {path!r}: the manifest is not valid JSON ({exc})") from None
    _check_manifest(manifest)
    base = _HEADER.size + n
    body = len(data) - base
    parts: dict[str, bytes] = {}
    offset = 0
    for entry in manifest["parts"]:
        name = entry["name"]
        if entry["offset"] != offset:
            raise ArtifactError(f"artifact {path!r}: part {name!r} is not where the manifest's table puts it")
        end = offset + entry["length"]
        if end > body:
            raise ArtifactError(
                f"artifact {path!r} is truncated: part {name!r} needs bytes {offset}..{end} of the body, "
                f"which has {body}"
            )
        blob = data[base + offset : base + end]
        if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise ArtifactError(
                f"artifact {path!r}: the checksum of part {name!r} does not match (part damaged)"
            )
        if name in parts:
            raise ArtifactError(f"artifact {path!r}: part {name!r} appears twice")
        parts[name] = blob
        offset = end
    if offset != body:
        raise ArtifactError(f"artifact {path!r}: {body - offset} unexpected bytes after the last part")
    if "program" not in parts:
        raise ArtifactError(f"artifact {path!r}: no program part")
    return manifest, parts


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not allowed")


def _check_manifest(m: Any) -> None:
    """The manifest's shape (every field the loader reads, with its type), before any use."""

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ArtifactError(f"the manifest is malformed: {what}")

    need(isinstance(m, dict), "not an object")
    need(m.get("format") == FORMAT, f"format is {m.get('format')!r}, not {FORMAT!r}")
    need(
        m.get("version") == VERSION,
        f"format version {m.get('version')!r}; this graphc reads version {VERSION}",
    )
    b = m.get("backend")
    need(isinstance(b, dict) and isinstance(b.get("name"), str), "backend")
    ident = b.get("identity")
    need(
        ident is None or (isinstance(ident, dict) and all(isinstance(v, str) for v in ident.values())),
        "identity",
    )
    o = m.get("options")
    need(
        isinstance(o, dict)
        and _is_list_of(o.get("disable_passes"), str)
        and isinstance(o.get("backend_options"), list)
        and all(isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) for x in o["backend_options"]),
        "options",
    )
    need(m.get("structure") in _STRUCTURES, "structure")
    s = m.get("signature")
    need(isinstance(s, dict), "signature")
    for side in ("inputs", "outputs"):
        specs = s.get(side)
        need(isinstance(specs, list), f"signature {side}")
        for spec in specs:
            need(
                isinstance(spec, dict)
                and isinstance(spec.get("name"), str)
                and spec.get("dtype") in _DTYPES
                and isinstance(spec.get("shape"), list)
                and len(spec["shape"]) <= _MAX_RANK
                and all(_is_nat(d) or isinstance(d, str) for d in spec["shape"]),
                f"signature {side} entry {spec!r}",
            )
    need(isinstance(m.get("params"), list), "params")
    for p in m["params"]:
        need(isinstance(p, dict) and p.get("kind") in ("feed", "variable", "rng"), f"param {p!r}")
        key = {"feed": "input", "variable": "variable"}.get(p["kind"])
        need(key is None or _is_nat(p.get(key)), f"param {p!r}")
    need(_is_list_of(m.get("fetches"), int), "fetches")
    need(isinstance(m.get("variables"), list), "variables")
    for v in m["variables"]:
        need(
            isinstance(v, dict)
            and isinstance(v.get("name"), str)
            and v.get("dtype") in _DTYPES
            and isinstance(v.get("part"), str)
            and isinstance(v.get("shape"), list)
            and len(v["shape"]) <= _MAX_RANK
            and all(_is_nat(d) for d in v["shape"]),
            f"variable {v!r}",
        )
    need(isinstance(m.get("program_hash"), str), "program_hash")
    need(_is_list_of(m.get("units"), str) and len(m["units"]) >= 1, "units")
    need(isinstance(m.get("parts"), list), "parts")
    for p in m["parts"]:
        need(
            isinstance(p, dict)
            and isinstance(p.get("name"), str)
            and _is_nat(p.get("offset"))
            and _is_nat(p.get("length"))
            and isinstance(p.get("sha256"), str),
            f"part {p!r}",
        )
        name = p["name"]
        kind, _, index = name.partition(":")
        need(
            name == "program"
            or (
                kind in ("code", "variable")
                and index.isascii()
                and index.isdigit()
                and index == str(int(index))
            )
            and (kind != "code" or int(index) < len(m["units"])),
            f"unknown part {name!r}",
        )


def _is_nat(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_list_of(x: Any, t: type) -> bool:
    return isinstance(x, list) and all(isinstance(e, t) and not isinstance(e, bool) for e in x)


def _read_program(manifest: Mapping[str, Any], data: bytes) -> Program:
    try:
        program = serialize.from_bytes(data)
        verify(program)
    except Exception as exc:  # noqa: BLE001  (any failure here means the part is bad)
        raise ArtifactError(f"part 'program' is not a valid program: {type(exc).__name__}: {exc}") from None
    if "memory" not in manifest["options"]["disable_passes"]:
        # Analyses are not serialised: the memory plan (which a backend's code follows) is
        # made again by the pipeline's own pass, which leaves the program unchanged.
        program = plan_memory(program)
    if program.content_hash() != manifest["program_hash"]:
        raise ArtifactError("part 'program' is not the program the manifest names (content hash differs)")
    return program


def _read_interface(
    manifest: Mapping[str, Any], program: Program
) -> tuple[Signature, list[tuple[str, int]], list[int], str]:
    """The signature and the param/fetch maps, each checked against the program."""

    def spec(d: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(d["name"], d["dtype"], tuple(d["shape"]))

    sig = manifest["signature"]
    signature = Signature(tuple(spec(s) for s in sig["inputs"]), tuple(spec(s) for s in sig["outputs"]))
    if len({s.name for s in signature.inputs}) != len(signature.inputs):
        raise ArtifactError("the manifest's signature names an input twice")
    if len(manifest["params"]) != len(program.params):
        raise ArtifactError("the manifest's params do not match the program's")
    params: list[tuple[str, int]] = []
    n_rng = 0
    for p, entry in zip(program.params, manifest["params"]):
        kind = entry["kind"]
        if kind != p.kind:
            raise ArtifactError(f"the manifest's param for {p.name!r} is a {kind}, the program's a {p.kind}")
        if kind == "feed":
            j = entry["input"]
            if j >= len(signature.inputs):
                raise ArtifactError(f"the manifest maps param {p.name!r} to no input")
            s = signature.inputs[j]
            if s.dtype != p.value.dtype.name or s.shape != _shape_text(p.value.shape):
                raise ArtifactError(f"the signature of input {s.name!r} does not match the program")
        elif kind == "variable":
            j = entry["variable"]
        else:
            j = n_rng
            n_rng += 1
        params.append((kind, j))
    fetches = list(manifest["fetches"])
    if len(fetches) != len(signature.outputs) or not fetches:
        raise ArtifactError("the manifest's fetches do not match its signature's outputs")
    for k, s in zip(fetches, signature.outputs):
        if k >= len(program.outputs) or program.outputs[k].kind != "fetch":
            raise ArtifactError(f"the manifest's output {s.name!r} is not one of the program's fetches")
        v = program.outputs[k].value
        if s.dtype != v.dtype.name or s.shape != _shape_text(v.shape):
            raise ArtifactError(f"the signature of output {s.name!r} does not match the program")
    structure = manifest["structure"]
    if structure == "single" and len(fetches) != 1:
        raise ArtifactError("the manifest says one output but lists several")
    return signature, params, fetches, structure


def _read_variables(
    manifest: Mapping[str, Any],
    program: Program,
    params: list[tuple[str, int]],
    parts: Mapping[str, bytes],
) -> tuple[list[str], list[np.ndarray]]:
    entries = manifest["variables"]
    used = sorted(j for kind, j in params if kind == "variable")
    if used != list(range(len(entries))):
        raise ArtifactError("the manifest's variables do not match the program's variable params")
    names: list[str] = []
    values: list[np.ndarray] = []
    for entry in entries:
        part = entry["part"]
        if part not in parts or not part.startswith("variable:"):
            raise ArtifactError(f"variable {entry['name']!r}: no part {part!r}")
        dt = _DTYPES[entry["dtype"]]
        if dt.is_string:
            raise ArtifactError(f"variable {entry['name']!r}: string values are not stored in artifacts")
        np_dt = np.dtype(dt.np).newbyteorder("<")
        shape = tuple(entry["shape"])
        count = 1
        for d in shape:
            count *= d
        raw = parts[part]
        if count * np_dt.itemsize != len(raw):
            raise ArtifactError(
                f"part {part!r} (variable {entry['name']!r}) has {len(raw)} bytes; "
                f"{entry['dtype']}{list(shape)} needs {count * np_dt.itemsize}"
            )
        names.append(entry["name"])
        values.append(np.frombuffer(raw, dtype=np_dt).reshape(shape).astype(dt.np, copy=True))
    for i, (kind, j) in enumerate(params):
        if kind != "variable":
            continue
        p = program.params[i].value
        value = values[j]
        if p.dtype.name != entries[j]["dtype"] or len(p.shape) != value.ndim:
            raise ArtifactError(f"part {entries[j]['part']!r}: variable {names[j]!r} does not fit its param")
        for d, n in zip(p.shape, value.shape):
            if isinstance(d, int) and d != n:
                raise ArtifactError(
                    f"part {entries[j]['part']!r}: variable {names[j]!r} does not fit its param"
                )
    return names, values


# -- the command line -------------------------------------------------------------------------


def run_cli(artifact: str, feeds: Mapping[str, str], out: str | None) -> int:
    """``graphc run ARTIFACT --feed NAME=FILE.npy ... [--out DIR]``: load the artifact, feed
    each input from a .npy file (read with ``allow_pickle=False``), run, print each output's
    name, dtype, shape and a short summary, and write each as ``DIR/<name>.npy`` (its name
    with characters other than letters, digits, ``._-`` made ``_``). Returns 0, or 2 after
    a one-line message on stderr for a bad artifact, feed or input."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prog = load(artifact)
        for w in caught:
            print(f"graphc run: warning: {w.message}", file=sys.stderr)
        names = [s.name for s in prog.signature.inputs]
        unknown = sorted(set(feeds) - set(names))
        if unknown:
            return _fail(
                f"unknown feed {unknown[0]!r}; the artifact's inputs are {', '.join(map(str, prog.signature.inputs))}"
            )
        missing = [n for n in names if n not in feeds]
        if missing:
            return _fail(f"missing feed {missing[0]!r} (give --feed {missing[0]}=FILE.npy)")
        arrays = {}
        for name in names:
            try:
                arrays[name] = np.load(feeds[name], allow_pickle=False)
            except (OSError, ValueError) as exc:
                return _fail(f"cannot read feed {name!r} from {feeds[name]!r}: {exc}")
        results = prog(**arrays)
    except (ArtifactError, TypeError, ValueError, errors.OpError) as exc:
        return _fail(str(exc))
    outputs = [results] if prog._structure == "single" else list(results)
    if out is not None:
        os.makedirs(out, exist_ok=True)
    files = _unique([re.sub(r"[^A-Za-z0-9._-]", "_", s.name) for s in prog.signature.outputs])
    for spec, value, file in zip(prog.signature.outputs, outputs, files):
        line = f"{spec.name}: {value.dtype.name} {list(value.shape)} {_summary(value)}"
        if out is not None:
            target = os.path.join(out, file + ".npy")
            np.save(target, value, allow_pickle=False)
            line += f" -> {target}"
        print(line)
    return 0


def _fail(message: str) -> int:
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"graphc run: error: {one_line}", file=sys.stderr)
    return 2


def _summary(a: np.ndarray) -> str:
    """A few numbers for people: the values of a small array, else min/mean/max."""
    if a.size <= 6:
        return np.array2string(a.reshape(-1), precision=4, separator=", ")
    if a.dtype.kind in "biuf":
        finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
        if finite.size == 0:
            return "(no finite values)"
        return f"min {finite.min():.4g} mean {finite.mean(dtype=np.float64):.4g} max {finite.max():.4g}"
    return f"({a.size} values)"
