"""The LLVM backend: protocol v2 (graphc/runtime/backend.py) over generated native code.

``compile`` emits one module for the program (graphc_llvm/codegen.py), optimises it for
the host CPU and loads its object code; ``export``/``load`` hand that object code to the
on-disk cache and to artifacts, so a warm start maps it without running LLVM. A run is
one native call (``graphc_run``), after one call that computes every size from the dims
(``graphc_sizes``) and the checks that make the native code safe to run: each input is
a C-contiguous array of its param's dtype and exactly its param's shape.

The per-run Python work is kept small (a run of a one-element program costs a few
microseconds): shapes are worked out once per distinct set of dims, and the buffers'
addresses go to the native code through one small native helper (``graphc_call``) that
reads each array's data pointer itself, instead of one ``ndarray.ctypes`` lookup (about
a microsecond each) per buffer.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import sysconfig
import threading
from collections.abc import Mapping, Sequence
from itertools import starmap
from typing import Any

import numpy as np
from llvmlite import ir

from graphc import errors
from graphc import symbolic as sym
from graphc.ir.program import Node, Program
from graphc.runtime.backend import MACHINE_MEMORY_BYTES, CompileOptions
from graphc_llvm import blas, jit, lower_control
from graphc_llvm import types as T
from graphc_llvm.codegen import (
    ERR_DEPTH,
    ERR_PATH,
    ERR_SLOTS,
    ERROR_MESSAGES,
    MAX_ERR_DEPTH,
    RESOURCE_ERRORS,
    Layout,
    ProgramEmitter,
    Unsupported,
)
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

    # The session may hand this executable host NumPy arrays as they are and keep what it
    # returns without copying: the native code only reads its inputs during the call and
    # keeps no reference to them, and every output is a fresh array that no input, no
    # constant and no other output shares (a fetched param, a fetched constant and a
    # second output of one result buffer are copies).
    host_io = True

    def __init__(self, program: Program, layout: Layout, object_code: bytes) -> None:
        self.program = program
        self.layout = layout
        self.object_code = object_code
        self._code = jit.LoadedCode(object_code)
        self._run_at = self._code.address("graphc_run")
        self._run = _RUN(self._run_at)
        self._sizes = _SIZES(self._code.address("graphc_sizes"))
        consts = []
        for k in layout.consts:
            node = program.nodes[k]
            # np.array, not np.ascontiguousarray: that one makes a 0-d value 1-d.
            consts.append(np.array(node.attrs["value"], dtype=node.outputs[0].dtype.np, order="C"))
        self._consts = consts
        self._n_params = layout.n_params
        self._param_dtypes = [p.value.dtype.np for p in program.params]
        self._result_dtypes = [np.dtype(r["dtype"]) for r in layout.results]
        self._n_bufs = layout.n_params + len(consts) + len(layout.results) + 1
        self._result_base = layout.n_params + len(consts)
        self._symbols = tuple(layout.symbols)
        # How each output is made: (0, k) result k itself, (1, k) a copy of result k (it
        # was already returned), (2, i) a copy of input i, (3, c) a copy of constant c.
        plan: list[tuple[int, int]] = []
        seen: set[int] = set()
        for kind, where in layout.outputs:
            if kind == "result":
                plan.append((1 if where in seen else 0, where))
                seen.add(where)
            else:
                plan.append((2 if kind == "param" else 3, where))
        self._out_plan = plan
        # The common case: the outputs are the result buffers themselves, in order.
        self._outs_are_results = plan == [(0, k) for k in range(len(layout.results))]
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
        if len(inputs) != self._n_params:
            raise ValueError(f"expected {self._n_params} inputs, got {len(inputs)}")
        s = getattr(self._local, "s", None) or self._scratch()
        if self._symbols:
            key = tuple([dims[name] for name in self._symbols])
            if key != s.key:
                s.set_dims(key)
            sizes = s.current
        else:
            sizes = s.static
        param_shapes, results_made, arena_bytes, too_big, fresh = sizes  # type: ignore[misc]
        if too_big:
            self._resource_exhausted(dims)
        # Every input is checked before any native code runs: the kernels trust each
        # buffer to be C-ordered, of its param's dtype and exactly of the shape the dims give.
        arrays = inputs
        for a, dt, shape in zip(inputs, self._param_dtypes, param_shapes):
            if type(a) is not np.ndarray or a.dtype is not dt or a.shape != shape or not a.flags.c_contiguous:
                arrays = self._conformed(inputs, param_shapes)
                break
        if fresh:  # every result small: new buffers (reuse spares page faults of large ones only)
            results = list(starmap(np.empty, results_made))
        else:
            results = s.result_buffers([shape for shape, _ in results_made], self._result_dtypes)
        if arena_bytes > s.arena_bytes:
            s.grow_arena(arena_bytes)
        ctx = s.ctx
        if ctx is not None:
            rc = s.call(ctx, (*arrays, *results))
        else:
            bufs = s.bufs
            for i, a in enumerate(arrays):
                bufs[i] = a.ctypes.data
            base = self._result_base
            for j, out in enumerate(results):
                bufs[base + j] = out.ctypes.data
            rc = self._run(s.bufs_at, s.dvec_at, s.err_at)
        if rc:
            if rc == _ABI_MISMATCH:  # cannot happen: the tuple is built just above
                raise RuntimeError("graphc_call was given the wrong number of arrays")
            self._raise(rc, s.err)
        if self._outs_are_results:
            return results
        outs: list[Any] = []
        for kind, where in self._out_plan:
            if kind == 0:
                outs.append(results[where])
            elif kind == 1:
                outs.append(results[where].copy())
            elif kind == 2:
                outs.append(arrays[where].copy())
            else:
                outs.append(self._consts[where].copy())
        return outs

    def _conformed(self, inputs: Sequence[Any], param_shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The inputs as the kernels need them (a new list; the caller's is never changed):
        each a C-ordered array of its param's dtype (converted when it is not), and exactly
        of its param's shape (else ValueError)."""
        arrays = []
        for i, (a, dt, shape) in enumerate(zip(inputs, self._param_dtypes, param_shapes)):
            a = a if type(a) is np.ndarray else np.asarray(a)
            if a.dtype != dt or not a.flags.c_contiguous:
                a = np.array(a, dtype=dt, order="C")
            if a.shape != shape:
                raise ValueError(
                    f"input {i} ({self.program.params[i].name}) has shape {a.shape}, "
                    f"the program needs {shape}"
                )
            arrays.append(a)
        return arrays

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
        if worst is not None and worst[0] > MACHINE_MEMORY_BYTES:
            n, origin = worst
            raise errors.ResourceExhaustedError(
                None,
                origin,
                f"OOM when allocating an output of {n:,} bytes for this op "
                f"(the machine has {MACHINE_MEMORY_BYTES:,} bytes of memory)",
            )
        origin = self.program.nodes[0].origin if self.program.nodes else None
        raise errors.ResourceExhaustedError(
            None,
            origin,
            f"the program's temporaries need more than the machine's {MACHINE_MEMORY_BYTES:,} bytes of memory",
        )

    def _raise(self, rc: int, err: np.ndarray) -> None:
        node = _failed_node(self.program, err)
        template = ERROR_MESSAGES.get(int(err[1]), "kernel failure {value} / {bound}")
        msg = template.format(value=int(err[2]), bound=int(err[3]))
        if int(err[1]) in RESOURCE_ERRORS:
            raise errors.ResourceExhaustedError(None, node.origin, msg)
        raise errors.InvalidArgumentError(None, node.origin, msg)




def _failed_node(program: Program, err: np.ndarray) -> Node:
    """The node a failed run names: ``err[0]``'s node of the program, or, for a failure
    inside If/While regions, the op inside them that failed (the path codegen recorded,
    innermost level first; a path deeper than it holds names the outermost node)."""
    node = program.nodes[int(err[0])]
    depth = int(err[ERR_DEPTH])
    if depth > MAX_ERR_DEPTH:
        return node
    for level in reversed(range(depth)):
        region, index = int(err[ERR_PATH + 2 * level]), int(err[ERR_PATH + 2 * level + 1])
        if not (0 <= region < len(node.regions) and 0 <= index < len(node.regions[region].nodes)):
            return node
        node = node.regions[region].nodes[index]
    return node


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


# Param shapes, (shape, dtype) of each result, arena bytes, too big to allocate, every
# result small.
_Sizes = tuple[list[tuple[int, ...]], list[tuple[tuple[int, ...], np.dtype]], int, bool, bool]
# Result buffers smaller than this are made new each run: the allocator hands them out of
# memory already mapped (NumPy's small-block cache, malloc's heap below its mmap
# threshold), so reusing them would save no page fault and cost a reference-count scan.
_RECYCLE_BYTES = 64 * 1024


class _Scratch:
    """One thread's argument arrays (their addresses taken once), its arena, and the
    shapes of the dims it last ran with."""

    def __init__(self, exe: LLVMExecutable) -> None:
        lay = exe.layout
        self.lay = lay
        self.exe = exe
        self.result_dtypes = exe._result_dtypes
        self.bufs = np.zeros(exe._n_bufs, dtype=np.uintp)
        # The dims, then the thread count (codegen: Kernel.split_loop).
        self.dvec = np.zeros(len(lay.symbols) + 1, dtype=np.int64)
        self.dvec[-1] = threads = thread_count()
        if threads != blas.threads_set:
            blas.set_threads(threads)
        self.sizes = np.zeros(lay.n_sizes, dtype=np.int64)
        self.err = np.zeros(ERR_SLOTS, dtype=np.int64)
        self.bufs_at, self.dvec_at = self.bufs.ctypes.data, self.dvec.ctypes.data
        self.sizes_at, self.err_at = self.sizes.ctypes.data, self.err.ctypes.data
        for j, c in enumerate(exe._consts):
            self.bufs[lay.n_params + j] = c.ctypes.data
        self._arena = np.zeros(0, dtype=np.uint8)
        self.arena_bytes = 0  # what the arena holds (64-byte aligned, at bufs[-1])
        # Each result slot's recent buffers, for reuse once nothing else holds them.
        self._recycle: list[list[np.ndarray]] = [[] for _ in lay.results]
        # graphc_call's context (see _call_helper), or None: addresses go through ctypes.
        self.call = _call_helper()
        self.ctx: np.ndarray | None = None
        if self.call is not None:
            n_arrays = lay.n_params + len(lay.results)
            self.ctx = np.array(
                [
                    exe._run_at,
                    self.bufs_at,
                    self.dvec_at,
                    self.err_at,
                    lay.n_params,
                    exe._result_base,
                    n_arrays,
                ],
                dtype=np.int64,
            )
        self.static: _Sizes | None = None
        self.key: tuple[int, ...] | None = None  # the dims ``current`` was computed for
        self.current = self.static
        if not lay.symbols:
            exe._sizes(self.dvec_at, self.sizes_at)
            self.static = self.shapes()

    def set_dims(self, key: tuple[int, ...]) -> None:
        """Compute every size for the dims ``key`` (the values of the layout's symbols, in
        order); a run with the same dims as the last one on this thread reuses them."""
        self.key = None  # not valid until ``current`` is
        self.dvec[: len(key)] = key
        self.exe._sizes(self.dvec_at, self.sizes_at)
        self.current = self.shapes()
        self.key = key

    def result_buffers(self, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[np.dtype]) -> list[np.ndarray]:
        """A buffer per result: one this thread made for the slot in an earlier run when
        nothing but this list still references it (its previous holder, e.g. the session's
        last value of a variable, has let it go: no one can see it overwritten), else a
        new one. Reuse spares a training step the page faults of fresh memory for every new
        variable value. Two buffers per slot are kept: a variable's value of the last run
        is this run's input, the one before is free."""
        out = []
        for j, (shape, dt) in enumerate(zip(shapes, dtypes)):
            kept = self._recycle[j]
            buf = None
            for k in range(len(kept)):
                # 2: the list's reference and getrefcount's argument, no other holder.
                if sys.getrefcount(kept[k]) == 2 and kept[k].shape == shape:
                    buf = kept.pop(k)
                    break
            if buf is None:
                buf = np.empty(shape, dt)
            kept.append(buf)
            if len(kept) > 2:
                del kept[0]
            out.append(buf)
        return out

    def shapes(self) -> _Sizes:
        """Param shapes, each result's shape and dtype, arena bytes, whether the run cannot be allocated (a
        size overflowed 64 bits, or a buffer is larger than the machine's memory), and
        whether every result buffer is small enough to be made new each run."""
        sizes = self.sizes.tolist()
        lay = self.lay
        params = [tuple(sizes[p["at"] : p["at"] + p["rank"]]) for p in lay.param_shapes]
        results = [tuple(sizes[r["at"] : r["at"] + r["rank"]]) for r in lay.results]
        made = list(zip(results, self.result_dtypes))
        arena = sizes[lay.arena_at]
        too_big = bool(sizes[lay.overflow_at]) or arena > MACHINE_MEMORY_BYTES
        largest = 0
        if not too_big:
            for shape, dt in zip(results, self.result_dtypes):
                n = dt.itemsize
                for d in shape:
                    n *= d
                if n > MACHINE_MEMORY_BYTES:
                    too_big = True
                    break
                largest = max(largest, n)
        return params, made, arena, too_big, largest < _RECYCLE_BYTES

    def grow_arena(self, nbytes: int) -> None:
        """Make the arena at least ``nbytes`` of 64-byte-aligned memory and put its address
        in the arena slot (the last buffer)."""
        self._arena = np.empty(nbytes + 64, dtype=np.uint8)
        self.bufs[-1] = (self._arena.ctypes.data + 63) & ~63
        self.arena_bytes = nbytes


# -- graphc_call: the buffers' addresses without ndarray.ctypes ------------------------------
# ``graphc_call(ctx, arrays) -> i32`` takes ``ctx``, an int64 array
#   [graphc_run's address, bufs, dims, err, n_inputs, result_base, n_arrays],
# and ``arrays``, a tuple of ndarrays (the inputs, then the result buffers). It stores each
# array's data pointer in ``bufs`` (input j at j, result j at result_base + j) and returns
# graphc_run(bufs, dims, err), or _ABI_MISMATCH without calling it when the tuple does not
# hold n_arrays items. It reads CPython's tuple (ob_size at byte 16, the items from byte
# 24) and NumPy's array object (the data pointer at byte 16, after the object header):
# both layouts are checked once, from Python and then through the helper itself, before it
# is used; where either does not hold (another interpreter, a debug or free-threaded
# build), runs take the addresses through ctypes.
_CALL = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.py_object, ctypes.py_object)
_ABI_MISMATCH = -(2**31)
_OB_SIZE, _TUPLE_ITEMS, _ARRAY_DATA = 16, 24, 16
_helper: list[Any] = []  # [(the loaded code, the callable) or None], once decided
_helper_lock = threading.Lock()


def _call_helper() -> Any:
    """graphc_call as a ctypes function (it releases the GIL during the call, as graphc_run
    does), or None where the layouts it reads do not hold."""
    if not _helper:
        with _helper_lock:
            if not _helper:
                _helper.append(_build_call_helper())
    made = _helper[0]
    return None if made is None else made[1]


def _layouts_hold() -> bool:
    """Whether this interpreter lays out tuples and arrays as graphc_call reads them,
    checked by reading inside live objects (never past their end)."""
    if sys.implementation.name != "cpython" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    if sysconfig.get_config_var("Py_GIL_DISABLED") or hasattr(sys, "gettotalrefcount"):
        return False  # a longer object header: the offsets differ
    probe = (np.zeros((), np.float32), np.arange(12.0).reshape(3, 4)[:, 1:], np.empty(5, np.int8))
    if ctypes.c_ssize_t.from_address(id(probe) + _OB_SIZE).value != len(probe):
        return False
    for k, a in enumerate(probe):
        if ctypes.c_void_p.from_address(id(probe) + _TUPLE_ITEMS + 8 * k).value != id(a):
            return False
        if ctypes.c_void_p.from_address(id(a) + _ARRAY_DATA).value != a.ctypes.data:
            return False
    return True


def _build_call_helper() -> tuple[jit.LoadedCode, Any] | None:
    if not _layouts_hold():
        return None
    i64p = T.I64.as_pointer()
    mod = jit.new_module("graphc_call")
    run_ty = ir.FunctionType(T.I32, [T.I8P.as_pointer(), i64p, i64p])
    noop = ir.Function(mod, run_ty, name="graphc_noop")  # stands in for graphc_run in the check
    ir.IRBuilder(noop.append_basic_block("entry")).ret(T.I32(0))
    fn = ir.Function(mod, ir.FunctionType(T.I32, [T.I8P, T.I8P]), name="graphc_call")
    ctx_obj, tup = fn.args
    entry, head, body, done, bad = (
        fn.append_basic_block(n) for n in ("entry", "head", "body", "done", "bad")
    )
    b = ir.IRBuilder(entry)

    def field(obj: ir.Value, offset: ir.Value, ty: ir.Type) -> ir.Value:
        return b.load(b.bitcast(b.gep(obj, [offset]), ty.as_pointer()))

    ctx = field(ctx_obj, T.I64(_ARRAY_DATA), i64p)

    def slot(k: int) -> ir.Value:
        return b.load(b.gep(ctx, [T.I64(k)]))

    run_at, bufs_at, dims_at, err_at, n_in, base, n_arrays = (slot(k) for k in range(7))
    bufs = b.inttoptr(bufs_at, i64p)
    n = field(tup, T.I64(_OB_SIZE), T.I64)
    b.cbranch(b.icmp_signed("!=", n, n_arrays), bad, head)
    b.position_at_end(head)
    j = b.phi(T.I64)
    j.add_incoming(T.I64(0), entry)
    b.cbranch(b.icmp_signed("<", j, n), body, done)
    b.position_at_end(body)
    item = field(tup, b.add(T.I64(_TUPLE_ITEMS), b.mul(j, T.I64(8))), T.I8P)
    data = field(item, T.I64(_ARRAY_DATA), T.I64)
    where = b.select(b.icmp_signed("<", j, n_in), j, b.add(base, b.sub(j, n_in)))
    b.store(data, b.gep(bufs, [where]))
    j.add_incoming(b.add(j, T.I64(1)), body)
    b.branch(head)
    b.position_at_end(done)
    run = b.inttoptr(run_at, run_ty.as_pointer())
    b.ret(
        b.call(
            run,
            [b.inttoptr(bufs_at, T.I8P.as_pointer()), b.inttoptr(dims_at, i64p), b.inttoptr(err_at, i64p)],
        )
    )
    b.position_at_end(bad)
    b.ret(T.I32(_ABI_MISMATCH))
    code = jit.LoadedCode(jit.emit_object(jit.optimize(mod, 3)))
    call = _CALL(code.address("graphc_call"))
    # The helper itself, on arrays whose addresses ctypes gives: two inputs at 0 and 1,
    # two results at 4 and 5 (slots 2 and 3 stay untouched), then a tuple one short.
    probe = (
        np.zeros((), np.float32),
        np.arange(12.0).reshape(3, 4)[:, 1:],
        np.empty(5, np.int8),
        np.ones(2, bool),
    )
    bufs_arr = np.zeros(6, dtype=np.uint64)
    ctx_arr = np.array([code.address("graphc_noop"), bufs_arr.ctypes.data, 0, 0, 2, 4, 4], dtype=np.int64)
    want = [probe[0].ctypes.data, probe[1].ctypes.data, 0, 0, probe[2].ctypes.data, probe[3].ctypes.data]
    if call(ctx_arr, probe) != 0 or bufs_arr.tolist() != want or call(ctx_arr, probe[:3]) != _ABI_MISMATCH:
        return None
    return code, call


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

    def supports_node(self, node: Node) -> bool:
        """The protocol's optional hook: an If/While only when its regions compile
        natively (graphc_llvm/lower_control.py), every other op its table has."""
        if node.op in ("If", "While"):
            return lower_control.can_compile(node)
        return True

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
        text = str(module)
        del module
        opt = int((options or CompileOptions()).get("opt_level", 3))
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
