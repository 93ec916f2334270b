"""Compiling a program that needs more than one backend or device, as segments.

:func:`compile_program` is how the session compiles: a program whose ops the backend
all supports (``Backend.supported_ops()``), on one device, goes to ``backend.compile``
as it is. Otherwise the partition pass (graphc.passes.partition) splits it by device
and by support: a node the backend lacks goes to a segment of the NumPy backend, a
fallback that is a segment of its own (a native backend never calls back into Python
from inside its code). Each segment is compiled by its backend, and
:class:`SegmentedExecutable` runs them as one executable of protocol v2:

- segments run in order; each receives the program's params it reads (moved to its
  backend when that is not the caller's), the values earlier segments send it (each a
  Transfer of the partitioned program: the source backend's ``to_host``, then the
  destination's ``to_device``; a value that stays on one backend and device is passed
  as it is) and the ``dims`` of its bindings, from the run's entry dims and the
  data-defined dims earlier segments' outputs showed;
- outputs come back as the caller's backend's arrays;
- host ops (the "host" trait: py_func, Print, print, Assert) call back into Python, so
  whatever the backend they run on the NumPy backend: on another backend they go to a
  NumPy segment as the ops it lacks do (the segment boundary is the callback; native
  code never calls Python), on the NumPy backend they stay in the program it runs. A
  unit that holds a host op is compiled without the on-disk cache (outcome "off"): its
  key could not tell two Python functions apart in another process;
- a run that raises changes no input: a donated variable buffer goes only to the last
  segment, when it runs on the caller's backend and makes that variable's update, and
  only when no value that reaches it, or the caller, from an earlier segment without a
  copy may share the buffer (any value computed from the variable on that backend
  might). Nothing runs after the last segment, and it writes donated buffers only once
  nothing can fail; every other variable's new value is a new array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc import registry as reg
from graphc.ir.program import Node, Program
from graphc.passes.partition import Partition, Segment, node_device, partition
from graphc.runtime.backend import Backend, CompileOptions, Executable, get_backend
from graphc.runtime.cache import compile_cached

FALLBACK_BACKEND = "numpy"


def node_supported(node: Node, supported: frozenset[str] | None, backend: Backend | None = None) -> bool:
    """Whether a backend with these ``supported_ops()`` compiles ``node``. A backend that
    supports the fused op renders every scalar primitive (the protocol asks it to), so a
    fused node needs nothing more; the op types it replaced are provenance only. When the
    op is supported and ``backend`` has the protocol's optional ``supports_node(node)``
    hook, that has the last word: a backend may take an op only in some forms (the LLVM
    backend: an If/While whose regions it can compile), the others go to NumPy segments."""
    if supported is not None and node.op not in supported:
        return False
    hook = getattr(backend, "supports_node", None) if backend is not None else None
    return hook is None or bool(hook(node))


def is_host(node: Node) -> bool:
    """Whether ``node`` calls back into Python when it runs (the "host" trait)."""
    return reg.get(node.op).has("host")


def has_host_ops(program: Program) -> bool:
    """Whether ``program`` holds a host op (its control-flow regions included): such a
    program refers to Python functions of this process, so it is neither cached on disk
    nor saved as an artifact."""
    stack = [program]
    while stack:
        p = stack.pop()
        for n in p.nodes:
            if is_host(n):
                return True
            stack.extend(n.regions)
    return False


def lacking_ops(program: Program, backend: Backend) -> list[str]:
    """The ops of ``program`` that ``backend`` does not compile, sorted."""
    supported = backend.supported_ops()
    if supported is None:
        return []
    out: set[str] = set()
    for n in program.nodes:
        if not node_supported(n, supported, backend):
            out.add(n.op)
    return sorted(out)


def plan(program: Program, backend: Backend) -> Partition | None:
    """How ``program`` runs on ``backend``: None when the backend compiles it as a whole
    (every op supported, one device), else its partition into segments."""
    supported = backend.supported_ops()
    main = backend.name
    fallback = FALLBACK_BACKEND if main != FALLBACK_BACKEND else main

    def on_main(node: Node) -> bool:
        # A host op runs on the NumPy backend whatever the backend supports (module docstring).
        return node_supported(node, supported, backend) and (main == FALLBACK_BACKEND or not is_host(node))

    lacks = any(not on_main(n) for n in program.nodes)
    places = {node_device(n) for n in program.nodes} - {""}
    if not lacks and len(places) <= 1:
        return None

    def backend_of(node: Node) -> str:
        return main if on_main(node) else fallback

    part = partition(program, backend_of)
    if len(part.segments) == 1 and part.segments[0].backend == main:
        return None
    return part


def compile_program(
    program: Program,
    backend: Backend,
    options: CompileOptions | None = None,
    *,
    outcomes: list[str] | None = None,
    program_hash: str | None = None,
) -> Executable:
    """Compile ``program`` for ``backend``: directly when it can run it as a whole, else
    as segments (module docstring). Each compile goes through the on-disk cache
    (graphc/runtime/cache.py); ``outcomes``, when given, receives one entry per compiled
    unit: "hit", "miss" or "off". ``program_hash``: ``program.content_hash()``, when the
    caller has it already (a program compiled as a whole is looked up by it)."""
    options = options if options is not None else CompileOptions()
    sink = outcomes if outcomes is not None else []
    part = plan(program, backend)
    if part is None:
        exe, outcome = _compile_unit(backend, program, options, program_hash)
        sink.append(outcome)
        return exe
    fallback = backend if backend.name == FALLBACK_BACKEND else get_backend(FALLBACK_BACKEND)
    backends = [backend if seg.backend == backend.name else fallback for seg in part.segments]
    exes = []
    for b, seg in zip(backends, part.segments, strict=True):
        exe, outcome = _compile_unit(b, seg.program, options)
        sink.append(outcome)
        exes.append(exe)
    return SegmentedExecutable(program, part, backend, backends, exes)


def _compile_unit(
    backend: Backend, program: Program, options: CompileOptions, program_hash: str | None = None
) -> tuple[Executable, str]:
    """One unit through the on-disk cache, except a unit with a host op (module docstring)."""
    if has_host_ops(program):
        return backend.compile(program, options), "off"
    return compile_cached(backend, program, options, program_hash=program_hash)


class SegmentedExecutable:
    """The segments of one program, run as one executable (protocol v2)."""

    def __init__(
        self,
        program: Program,
        part: Partition,
        backend: Backend,
        backends: list[Backend],
        executables: list[Executable],
    ) -> None:
        self.program = program
        self.partition = part
        self.backend = backend
        self.backends = backends
        self.executables = executables
        segs = part.segments
        # A transfer passes its array as it is when it stays on one backend and device.
        self._direct = [
            backends[t.source] is backends[t.destination]
            and segs[t.source].device == segs[t.destination].device
            for t in part.transfers
        ]
        # When each segment output is last needed (it is dropped then): a transfer's
        # destination, or never for the program's outputs.
        last_use: dict[tuple[int, int], int] = {}
        for t in part.transfers:
            key = (t.source, t.output)
            last_use[key] = max(last_use.get(key, -1), t.destination)
        kept = {(k, j) for kind, k, j in part.outputs if kind == "segment"}
        self._release: list[list[tuple[int, int]]] = [[] for _ in segs]
        for key, k in last_use.items():
            if key not in kept:
                self._release[k].append(key)
        self._donate = self._donation_map()

    @property
    def segments(self) -> list[Segment]:
        return self.partition.segments

    def _donation_map(self) -> dict[int, int]:
        """Variable param (of the program) -> param of the last segment it may be donated
        to (module docstring)."""
        segs = self.partition.segments
        last = len(segs) - 1
        if self.backends[last] is not self.backend:
            return {}
        # The variables each segment output may share a buffer with: any value computed
        # from a variable on the caller's backend, passed on without a copy.
        deps: dict[tuple[int, int], set[int]] = {}
        for k, seg in enumerate(segs):
            on_main = self.backends[k] is self.backend
            value_deps: dict[int, set[int]] = {}
            for p, inp in zip(seg.program.params, seg.inputs, strict=True):
                d: set[int] = set()
                if on_main and inp.kind == "param" and self.program.params[inp.index].kind == "variable":
                    d = {inp.index}
                elif inp.kind == "transfer" and self._direct[inp.index]:
                    t = self.partition.transfers[inp.index]
                    d = deps[(t.source, t.output)]
                value_deps[id(p.value)] = d
            for n in seg.program.nodes:
                d = set()
                for v in n.inputs:
                    d |= value_deps[id(v)]
                for v in n.outputs:
                    value_deps[id(v)] = d
            for j, o in enumerate(seg.program.outputs):
                deps[(k, j)] = value_deps[id(o.value)]
        unsafe: set[int] = set()
        for t, direct in zip(self.partition.transfers, self._direct, strict=True):
            if t.destination == last and direct:
                unsafe |= deps[(t.source, t.output)]
        for kind, k, j in self.partition.outputs:
            if kind == "param":
                unsafe.add(k)
            elif k != last and self.backends[k] is self.backend:
                unsafe |= deps[(k, j)]
        seg = segs[last]
        updated = {
            o.name for o, so in zip(seg.program.outputs, seg.outputs, strict=True) if o.kind == "update"
        }
        out: dict[int, int] = {}
        for pi, inp in enumerate(seg.inputs):
            if inp.kind != "param":
                continue
            p = self.program.params[inp.index]
            if p.kind == "variable" and p.name in updated and inp.index not in unsafe:
                out[inp.index] = pi
        return out

    @property
    def donatable(self) -> frozenset[int]:
        """The program's variable params whose buffers a run may overwrite, if donated."""
        return frozenset(self._donate)

    def run(
        self, inputs: Sequence[Any], dims: Mapping[str, int], donated: frozenset[int] = frozenset()
    ) -> list[Any]:
        part = self.partition
        if len(inputs) != len(self.program.params):
            raise ValueError(f"expected {len(self.program.params)} inputs, got {len(inputs)}")
        env = dict(dims)
        main = self.backend
        produced: list[list[Any] | None] = [None] * len(part.segments)
        moved: dict[tuple[int, int], Any] = {}  # (param, id(backend)) -> the param there
        last = len(part.segments) - 1
        for k, seg in enumerate(part.segments):
            b = self.backends[k]
            args: list[Any] = []
            for inp in seg.inputs:
                if inp.kind == "param":
                    x = inputs[inp.index]
                    if b is not main:
                        key = (inp.index, id(b))
                        if key not in moved:
                            moved[key] = _move(main, b, x)
                        x = moved[key]
                elif inp.kind == "transfer":
                    t = part.transfers[inp.index]
                    src = produced[t.source]
                    assert src is not None
                    x = src[t.output]
                    if not self._direct[inp.index]:
                        x = _move(self.backends[t.source], b, x)
                else:
                    x = b.to_device(np.array([env[s] for s in seg.dims_symbols], dtype=np.int64))
                args.append(x)
            seg_donated = (
                frozenset(pi for i, pi in self._donate.items() if i in donated) if k == last else frozenset()
            )
            outs = list(self.executables[k].run(args, {s: env[s] for s in seg.symbols}, seg_donated))
            produced[k] = outs
            for d in seg.defines:
                env[d.symbol] = d.solve(int(_shape(b, outs[d.output])[d.axis]), env)
            for src_k, j in self._release[k]:
                held = produced[src_k]
                if held is not None:
                    held[j] = None
        results: list[Any] = []
        for kind, k, j in part.outputs:
            if kind == "param":
                results.append(inputs[k])
                continue
            held = produced[k]
            assert held is not None
            x = held[j]
            results.append(x if self.backends[k] is main else _move(self.backends[k], main, x))
        return results


def _move(src: Backend, dst: Backend, x: Any) -> Any:
    return dst.to_device(src.to_host(x))


def _shape(backend: Backend, x: Any) -> tuple[int, ...]:
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(backend.to_host(x))
    return tuple(shape)
