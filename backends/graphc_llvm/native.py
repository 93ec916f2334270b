"""The LLVM backend: protocol v2 (graphc/runtime/backend.py) over generated native code.

``compile`` emits one module for the program (graphc_llvm/codegen.py), optimises it for
the host CPU and loads its object code; ``export``/``load`` hand that object code to the
on-disk cache and to artifacts, so a warm start maps it without running LLVM. A run is
one native call (``graphc_run``), after one call that computes every size from the dims
(``graphc_sizes``) and the checks that make the native code safe to run: each input is
a C-contiguous array of its param's dtype and exactly its param's shape.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc import errors
from graphc import symbolic as sym
from graphc.ir.program import Program
from graphc.runtime.backend import CompileOptions
from graphc_llvm import blas, jit
from graphc_llvm import types as T
from graphc_llvm.codegen import ERROR_MESSAGES, RESOURCE_ERRORS, Layout, ProgramEmitter, Unsupported
from graphc_llvm.lowerings import lowering_for, supported_ops

_RUN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_SIZES = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_CODE_MAGIC = b"GRAPHC-LLVM-CODE1\n"


class _Lowerings(dict):  # type: ignore[type-arg]
    """The lowering table as the emitter reads it: every supported op's function."""

    def get(self, op: str, default: Any = None) -> Any:
        fn = lowering_for(op)
        return fn if fn is not None else default


class LLVMExecutable:
    """A program compiled to native code (protocol v2's Executable)."""

    def __init__(self, program: Program, layout: Layout, object_code: bytes) -> None:
        self.program = program
        self.layout = layout
        self.object_code = object_code
        self._code = jit.LoadedCode(object_code)
        self._run = _RUN(self._code.address("graphc_run"))
        self._sizes = _SIZES(self._code.address("graphc_sizes"))
        consts = []
        for k in layout.consts:
            node = program.nodes[k]
            # np.array, not np.ascontiguousarray: that one makes a 0-d value 1-d.
            consts.append(np.array(node.attrs["value"], dtype=node.outputs[0].dtype.np, order="C"))
        self._consts = consts
        self._param_dtypes = [p.value.dtype.np for p in program.params]
        self._result_dtypes = [np.dtype(r["dtype"]) for r in layout.results]
        self._n_bufs = layout.n_params + len(consts) + len(layout.results) + 1
        self._result_base = layout.n_params + len(consts)
        self._symbols = layout.symbols
        self._local = threading.local()

    def _scratch(self) -> _Scratch:
        """Per-thread argument arrays and arena: runs on several threads at once share none
        of them, and runs on one thread reuse them (no output ever lives in the arena)."""
        s = getattr(self._local, "s", None)
        if s is None:
            s = _Scratch(self)
            self._local.s = s
        return s

    def run(
        self, inputs: Sequence[Any], dims: Mapping[str, int], donated: frozenset[int] = frozenset()
    ) -> list[Any]:
        """One native call. ``donated`` is accepted and not used: every variable's new value
        goes to a new buffer (the session keeps it), so no input is ever written."""
        lay = self.layout
        if len(inputs) != lay.n_params:
            raise ValueError(f"expected {lay.n_params} inputs, got {len(inputs)}")
        s = self._scratch()
        bufs = s.bufs
        if self._symbols:
            dvec = s.dvec
            for k, name in enumerate(self._symbols):
                dvec[k] = dims[name]
            self._sizes(s.dvec_at, s.sizes_at)
            param_shapes, result_shapes, arena_bytes, too_big = s.shapes()
        else:
            param_shapes, result_shapes, arena_bytes, too_big = s.static
        if too_big:
            self._resource_exhausted(dims)
        arrays = []
        for i, x in enumerate(inputs):
            a = x if type(x) is np.ndarray else np.asarray(x)
            dt = self._param_dtypes[i]
            if a.dtype != dt or not a.flags.c_contiguous:
                a = np.array(a, dtype=dt, order="C")
            if a.shape != param_shapes[i]:
                raise ValueError(
                    f"input {i} ({self.program.params[i].name}) has shape {a.shape}, "
                    f"the program needs {param_shapes[i]}"
                )
            arrays.append(a)
            bufs[i] = a.ctypes.data
        results = []
        base = self._result_base
        for j, dt in enumerate(self._result_dtypes):
            out = np.empty(result_shapes[j], dtype=dt)
            results.append(out)
            bufs[base + j] = out.ctypes.data
        if arena_bytes:
            bufs[-1] = s.arena(arena_bytes)
        rc = self._run(s.bufs_at, s.dvec_at, s.err_at)
        if rc:
            self._raise(rc, s.err)
        outs: list[Any] = []
        for kind, where in lay.outputs:
            if kind == "result":
                outs.append(results[where])
            elif kind == "param":
                outs.append(arrays[where])
            else:
                outs.append(self._consts[where].copy())
        return outs

    def _resource_exhausted(self, dims: Mapping[str, int]) -> None:
        """A run whose buffers cannot be allocated fails before any native code runs,
        naming the op whose output is too large (sizes evaluated exactly, in Python)."""
        values = self.program.numbering().values
        worst: tuple[int, Any] | None = None
        for vn in self.layout.result_values:
            v = values[vn]
            try:
                n = sym.evaluate(sym.product(v.shape), dims) * v.dtype.size  # type: ignore[operator]
            except KeyError:
                continue
            if worst is None or n > worst[0]:
                worst = (n, v.producer.origin if v.producer is not None else None)
        if worst is not None and worst[0] > _MEMORY_BYTES:
            n, origin = worst
            raise errors.ResourceExhaustedError(
                None, origin, f"OOM when allocating an output of {n:,} bytes for this op "
                f"(the machine has {_MEMORY_BYTES:,} bytes of memory)"
            )
        origin = self.program.nodes[0].origin if self.program.nodes else None
        raise errors.ResourceExhaustedError(
            None, origin, f"the program's temporaries need more than the machine's {_MEMORY_BYTES:,} bytes of memory"
        )

    def _raise(self, rc: int, err: np.ndarray) -> None:
        node = self.program.nodes[int(err[0])]
        template = ERROR_MESSAGES.get(int(err[1]), "kernel failure {value} / {bound}")
        msg = template.format(value=int(err[2]), bound=int(err[3]))
        if int(err[1]) in RESOURCE_ERRORS:
            raise errors.ResourceExhaustedError(None, node.origin, msg)
        raise errors.InvalidArgumentError(None, node.origin, msg)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1


_MEMORY_BYTES = _memory_bytes()


def thread_count() -> int:
    """Threads a large kernel may use: ``$GRAPHC_NUM_THREADS``, else the CPUs this process
    may run on (its affinity)."""
    env = os.environ.get("GRAPHC_NUM_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"GRAPHC_NUM_THREADS must be a positive integer, not {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Scratch:
    """One thread's argument arrays (their addresses taken once) and its arena."""

    def __init__(self, exe: LLVMExecutable) -> None:
        lay = exe.layout
        self.lay = lay
        self.result_dtypes = exe._result_dtypes
        self.bufs = np.zeros(exe._n_bufs, dtype=np.uintp)
        # The dims, then the thread count (codegen: Kernel.split_loop).
        self.dvec = np.zeros(len(lay.symbols) + 1, dtype=np.int64)
        self.dvec[-1] = threads = thread_count()
        if threads != blas.threads_set:
            blas.set_threads(threads)
        self.sizes = np.zeros(lay.n_sizes, dtype=np.int64)
        self.err = np.zeros(4, dtype=np.int64)
        self.bufs_at, self.dvec_at = self.bufs.ctypes.data, self.dvec.ctypes.data
        self.sizes_at, self.err_at = self.sizes.ctypes.data, self.err.ctypes.data
        for j, c in enumerate(exe._consts):
            self.bufs[lay.n_params + j] = c.ctypes.data
        self._arena = np.zeros(0, dtype=np.uint8)
        self._arena_at = 0
        self.static = None
        if not lay.symbols:
            exe._sizes(self.dvec_at, self.sizes_at)
            self.static = self.shapes()

    def shapes(self) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]], int, bool]:
        """Param shapes, result shapes, arena bytes, and whether the run cannot be allocated
        (a size overflowed 64 bits, or a buffer is larger than the machine's memory)."""
        sizes = self.sizes.tolist()
        lay = self.lay
        params = [tuple(sizes[p["at"] : p["at"] + p["rank"]]) for p in lay.param_shapes]
        results = [tuple(sizes[r["at"] : r["at"] + r["rank"]]) for r in lay.results]
        arena = sizes[lay.arena_at]
        too_big = bool(sizes[lay.overflow_at]) or arena > _MEMORY_BYTES
        if not too_big:
            for shape, dt in zip(results, self.result_dtypes):
                n = dt.itemsize
                for d in shape:
                    n *= d
                if n > _MEMORY_BYTES:
                    too_big = True
                    break
        return params, results, arena, too_big

    def arena(self, nbytes: int) -> int:
        """The address of at least ``nbytes`` of 64-byte-aligned memory (grown as needed)."""
        if self._arena.size < nbytes + 64:
            self._arena = np.empty(nbytes + 64, dtype=np.uint8)
            self._arena_at = (self._arena.ctypes.data + 63) & ~63
        return self._arena_at


class LLVMBackend:
    name = "llvm"

    def __init__(self) -> None:
        self.stats = {"compiles": 0, "loads": 0, "fallbacks": 0}
        self._fallback: Any = None

    def is_available(self) -> bool:
        try:
            jit.target_machine()
            blas.library()
        except Exception:  # noqa: BLE001  (any failure means this machine cannot run it)
            return False
        return True

    def supported_ops(self) -> frozenset[str] | None:
        return supported_ops()

    def cache_identity(self) -> dict[str, str]:
        ident = jit.identity()
        ident["blas"] = blas.identity()
        return ident

    def compile(self, program: Program, options: CompileOptions | None = None) -> Any:
        if not _native(program):
            return self._numpy(program, options)
        blas.library()
        try:
            module, layout = ProgramEmitter(program, _Lowerings()).emit()
        except Unsupported:
            return self._numpy(program, options)
        opt = int((options or CompileOptions()).get("opt_level", 3))
        text = str(module)
        ref = jit.optimize(text, opt)
        obj = jit.emit_object(ref)
        self.stats["compiles"] += 1
        exe = LLVMExecutable(program, layout, obj)
        exe.llvm_ir = text  # type: ignore[attr-defined]
        return exe

    def _numpy(self, program: Program, options: CompileOptions | None) -> Any:
        """A program the native code cannot hold (strings, data-defined dims) runs on the
        NumPy interpreter, as a whole; ``stats["fallbacks"]`` counts these."""
        from graphc_numpy import NumpyBackend  # the reference backend, only when needed

        self.stats["fallbacks"] += 1
        return NumpyBackend().compile(program, options)

    def export(self, executable: Any) -> bytes:
        if not isinstance(executable, LLVMExecutable):
            raise TypeError("only native executables are exported")
        head = json.dumps(executable.layout.to_json(), sort_keys=True).encode()
        return _CODE_MAGIC + len(head).to_bytes(8, "little") + head + executable.object_code

    def load(self, program: Program, code: bytes, options: CompileOptions | None = None) -> LLVMExecutable:
        if not code.startswith(_CODE_MAGIC):
            raise ValueError("not LLVM backend code")
        blas.library()
        n = int.from_bytes(code[len(_CODE_MAGIC) : len(_CODE_MAGIC) + 8], "little")
        start = len(_CODE_MAGIC) + 8
        layout = Layout.from_json(json.loads(code[start : start + n]))
        self.stats["loads"] += 1
        return LLVMExecutable(program, layout, bytes(code[start + n :]))

    def to_device(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True, order="C")

    def to_host(self, array: Any) -> np.ndarray:
        return np.array(array, copy=True)


def _native(program: Program) -> bool:
    """Whether native code can hold every value of ``program``."""
    if program.defined_dims:
        return False
    for v in program.values():
        if not T.is_native(v.dtype.np):
            return False
    return True
