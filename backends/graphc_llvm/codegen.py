"""One LLVM module per program: a function per node, and the entry points a run calls.

The module exports two functions (C ABI):

- ``graphc_sizes(i64* dims, i64* out)``: from the run's dim values (``dims``, in the
  order of :attr:`Layout.symbols`), every size the run needs, as :attr:`Layout.sizes`
  says where: each param's shape (the executable compares them with the arrays it was
  given before anything runs), each result buffer's shape, and the arena's bytes.
- ``graphc_run(i8** bufs, i64* dims, i64* err) -> i32``: the whole program, one call.
  ``bufs`` holds the params' data (program order), the constants', each result
  buffer's, then the arena (64-byte aligned). Each node's function runs in program
  order; one that fails (an index out of range) stores ``[node, code, value, bound]``
  in ``err`` and the run returns its nonzero code at once (a failure inside an If/While
  region adds the path to the region's node: :data:`ERR_SLOTS`).

Where each value lives follows the memory plan (graphc/passes/memory.py): arena values
at their planned offsets (formulas in the dims, computed in the code), values leaving
the program in result buffers the executable allocates per run, params and constants
where the caller keeps them. A chain that the plan writes in place over a variable's
buffer gets a result buffer of its own instead: the variable's old buffer is never
written, so a run that fails changes nothing (the session keeps the new buffer).

Node lowerings (graphc_llvm/lowerings.py) see a :class:`Kernel`: the node, typed
pointers to its inputs and outputs, their shapes as IR values, and loop helpers.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as S
from graphc import symbolic as sym
from graphc.ir.program import Node, Program, Value
from graphc.ops import fused_ops
from graphc.passes.memory import plan_for
from graphc_llvm import jit
from graphc_llvm import types as T

ARENA_ALIGNMENT = 64


class Unsupported(Exception):
    """A program (or node) this backend cannot compile natively."""


# Failure codes a kernel may return (``k.fail_if``), with the message the executable
# raises (``value`` and ``bound`` are the two numbers the kernel stored). Code 5 is a
# ResourceExhaustedError; the others are InvalidArgumentError.
ERROR_MESSAGES = {
    1: "indices[{value}] is not in [0, {bound})",  # value: the offending index value
    2: "index {value} is out of range [0, {bound})",
    3: "size {value} exceeds the 32-bit BLAS's limit {bound}",
    4: "size {value} does not match {bound}",
    5: "cannot allocate {value} bytes of scratch memory",
    6: "Received a label value of {value} which is outside the valid range of [0, {bound})",
    7: "an index {value} does not index into [0, {bound})",
    8: "Reduction axis {value} is empty (it has {bound} elements)",
}
RESOURCE_ERRORS = frozenset({5})

# The ``err`` array a run hands the native code: ``[node, code, value, bound]``, then the
# path to a failing node inside control-flow regions: ``err[ERR_DEPTH]`` counts the region
# levels the failure passed through (each region's run, innermost first, adds one), and
# level ``j < MAX_ERR_DEPTH`` stores ``(region index, node index)`` at
# ``err[ERR_PATH + 2 * j]``. ``err[0]`` is the failing node of the program itself.
ERR_DEPTH = 4
ERR_PATH = 5
MAX_ERR_DEPTH = 8
ERR_SLOTS = ERR_PATH + 2 * MAX_ERR_DEPTH


@dataclasses.dataclass
class Arg:
    """A node's input or output as a kernel sees it."""

    value: Value
    ptr: ir.Value  # typed pointer to the first element
    dtype: np.dtype
    shape: tuple[sym.Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclasses.dataclass
class Layout:
    """What the Python side of an executable needs besides the object code (plain data:
    it is stored with the code in the cache and in artifacts)."""

    symbols: list[str]
    n_params: int
    consts: list[int]  # node index of each Const whose value is a slot
    results: list[dict[str, Any]]  # per result buffer: {"dtype", "rank", "at"} (shape in sizes)
    param_shapes: list[dict[str, Any]]  # per param: {"rank", "at"}
    arena_at: int
    overflow_at: int  # sizes[overflow_at] != 0: some size does not fit in 64 bits
    result_values: list[int]  # the value number sizing each result buffer
    n_sizes: int
    outputs: list[list[Any]]  # per program output: ["result", k] | ["param", i] | ["const", c]
    node_labels: list[str]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> Layout:
        return Layout(**d)


class Kernel:
    """The function being emitted for one node (see the module docstring)."""

    def __init__(
        self, module: ir.Module, emitter: Any, node: Node, index: int, name: str | None = None
    ) -> None:
        self.module = module
        self.emitter = emitter  # the ProgramEmitter, or a shared kernel's _SharedFrame
        self.node = node
        self.attrs = node.attrs
        self.index = index
        self.fn = ir.Function(module, NODE_FN, name=name or f"{emitter.prefix}node{index}")
        self.fn.linkage = "internal"
        self.bufs, self.dims_ptr, self.err, self.start, self.end = self.fn.args
        self._entry = self.fn.append_basic_block("entry")
        body = self.fn.append_basic_block("body")
        self.b = ir.IRBuilder(body)
        self._dims: dict[Any, ir.Value] = {}
        self.inputs = [self._arg(v) for v in node.inputs]
        self.outputs = [self._arg(v) for v in node.outputs]

    # -- values computed once, in the entry block ---------------------------------------
    def _at_entry(self, make: Callable[[ir.IRBuilder], ir.Value]) -> ir.Value:
        eb = ir.IRBuilder(self._entry)
        return make(eb)

    def dim(self, d: sym.Dim) -> ir.Value:
        """The i64 value of a dim formula (computed once per function, at its entry)."""
        if isinstance(d, int):
            return T.I64(d)
        key = ("dim", d)
        if key not in self._dims:
            self._dims[key] = self._at_entry(lambda eb: emit_dim(eb, d, self._symbol))
        return self._dims[key]

    def _symbol(self, eb: ir.IRBuilder, name: str) -> ir.Value:
        key = ("sym", name)
        if key not in self._dims:
            k = self.emitter.symbol_index(name)
            self._dims[key] = eb.load(eb.gep(self.dims_ptr, [T.I64(k)]))
        return self._dims[key]

    def size(self, shape: Sequence[sym.Dim]) -> ir.Value:
        return self.dim(sym.product(shape))

    def _arg(self, v: Value) -> Arg:
        dtype = v.dtype.np
        ptr = self.emitter.pointer(self, v)
        return Arg(v, ptr, np.dtype(dtype), tuple(v.shape))

    # -- emitting -----------------------------------------------------------------------
    def finish(self) -> ir.Function:
        if not self.b.block.is_terminated:
            self.b.ret(T.I32(0))
        eb = ir.IRBuilder(self._entry)
        eb.branch(self.fn.blocks[1])
        return self.fn

    def gep(self, arg: Arg, index: ir.Value) -> ir.Value:
        return self.b.gep(arg.ptr, [index], inbounds=True)

    def load(self, arg: Arg, index: ir.Value) -> ir.Value:
        return T.load(self.b, self.gep(arg, index), arg.dtype)

    def store(self, arg: Arg, index: ir.Value, value: ir.Value) -> None:
        T.store(self.b, value, self.gep(arg, index), arg.dtype)

    def loop(
        self, n: ir.Value, body: Callable[[ir.Value], None], name: str = "i", interleave: int = 0
    ) -> None:
        """``for i in range(n): body(i)`` (nothing when n <= 0); ``interleave``: see
        :func:`counted_loop`."""
        counted_loop(self.fn, self.b, n, body, name, interleave)

    def split_loop(
        self, n: ir.Value, cost: ir.Value, body: Callable[[ir.Value], None], interleave: int = 0
    ) -> None:
        """``for i in range(n): body(i)``, split over threads when the work is large.

        Called with the whole range (``end == -1``, as ``graphc_run`` calls every node), a
        loop whose total work ``cost`` (elements) exceeds :data:`WORK_PER_THREAD` per thread
        runs its range as chunks on up to the run's thread count (``dims[len(symbols)]``):
        each chunk is this same function called with ``[start, end)`` on its own thread
        (through the module's one shared spawner, :meth:`ProgramEmitter.parallel`), which
        then runs just that part. Every index runs exactly once and its own work is
        unchanged, so results do not depend on the thread count. The threaded path returns
        from the function when the chunks are done: this must be the kernel's last loop.

        When the sizes are constants that can never make two chunks (``n <= 1``, or
        ``cost`` below two threads' work), this is a plain loop: no thread code is emitted
        (it would be folded away, but only after costing the optimiser its time); so is a
        kernel shared by nodes whose constant sizes are all that small (``never_split``)."""
        if _never_split(n, cost) or getattr(self.emitter, "never_split", False):
            self.loop(n, body, name="s", interleave=interleave)
            return
        b = self.b
        whole = b.icmp_signed("==", self.end, T.I64(-1))
        threads = self.dim_threads()
        chunks = b.sdiv(cost, T.I64(WORK_PER_THREAD))
        chunks = b.select(b.icmp_signed("<", threads, chunks), threads, chunks)
        chunks = b.select(b.icmp_signed("<", n, chunks), n, chunks)
        chunks = b.select(b.icmp_signed(">", chunks, T.I64(MAX_THREADS)), T.I64(MAX_THREADS), chunks)
        par = b.and_(whole, b.icmp_signed(">", chunks, T.I64(1)))
        with b.if_then(par):
            spawner = self.emitter.parallel()
            b.ret(b.call(spawner, [self.fn, self.bufs, self.dims_ptr, self.err, n, chunks]))
        lo = b.select(whole, T.I64(0), self.start)
        hi = b.select(whole, n, b.select(b.icmp_signed("<", self.end, n), self.end, n))
        pre = b.block
        loop = self.fn.append_basic_block("split.loop")
        done = self.fn.append_basic_block("split.done")
        b.cbranch(b.icmp_signed("<", lo, hi), loop, done)
        b.position_at_end(loop)
        i = b.phi(T.I64, name="s")
        i.add_incoming(lo, pre)
        body(i)
        nxt = b.add(i, T.I64(1), flags=["nsw"])
        i.add_incoming(nxt, b.block)
        _hint(b.cbranch(b.icmp_signed("<", nxt, hi), loop, done), interleave)
        b.position_at_end(done)

    def dim_threads(self) -> ir.Value:
        key = ("threads",)
        if key not in self._dims:
            k = self.emitter.threads_index
            self._dims[key] = self._at_entry(lambda eb: eb.load(eb.gep(self.dims_ptr, [T.I64(k)])))
        return self._dims[key]

    def loop_nest(
        self,
        extents: Sequence[ir.Value],
        body: Callable[[list[ir.Value]], None],
        split_cost: ir.Value | None = None,
        interleave: int = 0,
    ) -> None:
        """Nested loops over ``extents`` (row-major: the last varies fastest). With
        ``split_cost`` (the nest's total work), the outermost loop is a :meth:`split_loop`;
        ``interleave`` applies to the innermost loop (see :func:`counted_loop`)."""
        idx: list[ir.Value] = []

        def level(k: int) -> None:
            if k == len(extents):
                body(list(idx))
                return

            def inner(i: ir.Value) -> None:
                idx.append(i)
                level(k + 1)
                idx.pop()

            il = interleave if k == len(extents) - 1 else 0
            if k == 0 and split_cost is not None:
                self.split_loop(extents[0], split_cost, inner, il)
            else:
                self.loop(extents[k], inner, name=f"i{k}", interleave=il)

        level(0)

    def alloca(self, ty: ir.Type, init: ir.Value | None = None) -> ir.Value:
        """A local variable (in the entry block, so LLVM promotes it to a register)."""
        slot = self._at_entry(lambda eb: eb.alloca(ty))
        if init is not None:
            self.b.store(init, slot)
        return slot

    def fail_if(self, cond: ir.Value, code: int, value: ir.Value, bound: ir.Value) -> None:
        """When ``cond`` holds: record the failure and return ``code`` from the kernel."""
        b = self.b
        bad = self.fn.append_basic_block("fail")
        ok = self.fn.append_basic_block("ok")
        b.cbranch(cond, bad, ok)
        b.position_at_end(bad)
        for k, x in ((1, T.I64(code)), (2, value), (3, bound)):
            b.store(x, b.gep(self.err, [T.I64(k)]))
        b.ret(T.I32(code))
        b.position_at_end(ok)

    def extern(self, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
        return _declare(self.module, name, ret, args)

    def strides(self, shape: Sequence[sym.Dim]) -> list[ir.Value]:
        """Row-major element strides of a dense array of ``shape``."""
        out: list[sym.Dim] = []
        acc: sym.Dim = 1
        for d in reversed(shape):
            out.append(acc)
            acc = acc * d  # type: ignore[operator]
        return [self.dim(s) for s in reversed(out)]

    def copy_bytes(self, dst: Arg, src: Arg, n_elements: ir.Value) -> None:
        """``memmove`` of ``n_elements`` of ``src``'s dtype (nothing when they are one buffer)."""
        b = self.b
        nbytes = b.mul(n_elements, T.I64(src.dtype.itemsize))
        fn = self.extern("llvm.memmove.p0.p0.i64", T.VOID, [T.I8P, T.I8P, T.I64, T.I1])
        b.call(fn, [b.bitcast(dst.ptr, T.I8P), b.bitcast(src.ptr, T.I8P), nbytes, T.I1(0)])


def emit_dim(
    b: ir.IRBuilder,
    d: sym.Dim,
    symbol: Callable[[ir.IRBuilder, str], ir.Value],
    overflow: ir.Value | None = None,
) -> ir.Value:
    """A dim formula as i64 arithmetic: its polynomial over symbols and floordiv/max/min
    atoms. With ``overflow`` (an i1 slot), products and sums are checked and the slot is
    set when one does not fit in 64 bits (graphc_sizes: a size that large can never be
    allocated, and must not wrap into a small one)."""
    if isinstance(d, int):
        return T.I64(d)

    def mul(x: ir.Value, y: ir.Value) -> ir.Value:
        return (
            _checked(b, "llvm.smul.with.overflow.i64", x, y, overflow)
            if overflow is not None
            else b.mul(x, y)
        )

    def add(x: ir.Value, y: ir.Value) -> ir.Value:
        return (
            _checked(b, "llvm.sadd.with.overflow.i64", x, y, overflow)
            if overflow is not None
            else b.add(x, y)
        )

    total: ir.Value | None = None
    for mono, coef in sorted(d.terms.items(), key=lambda t: repr(t[0])):
        # A coefficient of 1 is left out: multiplying by it is exact, so the overflow check
        # loses nothing (and every arena offset and size formula has a few).
        term: ir.Value | None = None if coef == 1 and mono else T.I64(coef)
        for atom, power in mono:
            a = _emit_atom(b, atom, symbol)
            for _ in range(power):
                term = a if term is None else mul(term, a)
        assert term is not None
        total = term if total is None else add(total, term)
    return total if total is not None else T.I64(0)


def _checked(b: ir.IRBuilder, name: str, x: ir.Value, y: ir.Value, flag: ir.Value) -> ir.Value:
    pair = ir.LiteralStructType([T.I64, T.I1])
    fn = b.module.globals.get(name) or ir.Function(b.module, ir.FunctionType(pair, [T.I64, T.I64]), name=name)
    r = b.call(fn, [x, y])
    b.store(b.or_(b.load(flag), b.extract_value(r, 1)), flag)
    return b.extract_value(r, 0)


def _emit_atom(b: ir.IRBuilder, atom: sym.Atom, symbol: Callable[[ir.IRBuilder, str], ir.Value]) -> ir.Value:
    if atom.is_symbol:
        return symbol(b, atom.op)
    args = [emit_dim(b, a, symbol) for a in atom.args]
    if atom.op == "floordiv":
        x, y = args
        if isinstance(y, ir.Constant) and y.constant > 0:
            d = y.constant
            if d & (d - 1) == 0:
                # An arithmetic shift right rounds toward -inf: floor(x / 2**k) for every x.
                return b.ashr(x, T.I64(d.bit_length() - 1)) if d > 1 else x
            q = b.sdiv(x, y)
            # sdiv rounds toward 0: one less when the remainder is negative (d > 0).
            return b.sub(q, b.zext(b.icmp_signed("<", b.srem(x, y), T.I64(0)), T.I64))
        one = T.I64(1)
        safe = b.select(b.icmp_signed("==", y, T.I64(0)), one, y)
        q = b.sdiv(x, safe)
        r = b.srem(x, safe)
        adjust = b.and_(
            b.icmp_signed("!=", r, T.I64(0)),
            b.xor(b.icmp_signed("<", r, T.I64(0)), b.icmp_signed("<", safe, T.I64(0))),
        )
        return b.select(adjust, b.sub(q, one), q)
    if atom.op == "max":
        return b.select(b.icmp_signed(">", args[0], args[1]), args[0], args[1])
    if atom.op == "min":
        return b.select(b.icmp_signed("<", args[0], args[1]), args[0], args[1])
    raise Unsupported(f"dim function {atom.op}")


Lowering = Callable[[Kernel], None]

# A node's function: (bufs, dims, err, start, end) -> status. ``end == -1`` runs the whole
# node; otherwise only the part [start, end) of its split loop (Kernel.split_loop).
NODE_FN = ir.FunctionType(T.I32, [T.I8P.as_pointer(), T.I64.as_pointer(), T.I64.as_pointer(), T.I64, T.I64])
WORK_PER_THREAD = 1 << 16  # elements: below this a thread costs more than it saves
MAX_THREADS = 64
_WORK_FIELDS = 7  # bufs, dims, err, start, end, status, the node function (as i64)
PARALLEL = "graphc.parallel"
# (node function, bufs, dims, err, n, chunks) -> status: ProgramEmitter.parallel.
PARALLEL_FN = ir.FunctionType(
    T.I32, [NODE_FN.as_pointer(), T.I8P.as_pointer(), T.I64.as_pointer(), T.I64.as_pointer(), T.I64, T.I64]
)


def _never_split(n: ir.Value, cost: ir.Value) -> bool:
    """Whether constant sizes rule out two chunks in :meth:`Kernel.split_loop` (its chunk
    count is ``min(threads, cost // WORK_PER_THREAD, n, MAX_THREADS)``)."""
    if isinstance(n, ir.Constant) and n.constant <= 1:
        return True
    return isinstance(cost, ir.Constant) and cost.constant // WORK_PER_THREAD <= 1


def counted_loop(
    fn: ir.Function,
    b: ir.IRBuilder,
    n: ir.Value,
    body: Callable[[ir.Value], None],
    name: str = "i",
    interleave: int = 0,
) -> None:
    """``for i in range(n): body(i)`` at ``b``'s position in ``fn`` (nothing when n <= 0).

    ``interleave`` > 0 asks LLVM's vectoriser to interleave that many vector iterations
    (``llvm.loop.interleave.count``): for a long body of independent element computations
    (transcendentals), whose dependency chains are longer than the CPU's reorder window
    can overlap from one iteration to the next, which LLVM's cost model does not do itself."""
    pre = b.block
    loop = fn.append_basic_block(f"{name}.loop")
    done = fn.append_basic_block(f"{name}.done")
    b.cbranch(b.icmp_signed(">", n, T.I64(0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(T.I64, name=name)
    i.add_incoming(T.I64(0), pre)
    body(i)
    nxt = b.add(i, T.I64(1), flags=["nsw", "nuw"])
    i.add_incoming(nxt, b.block)
    _hint(b.cbranch(b.icmp_signed("<", nxt, n), loop, done), interleave)
    b.position_at_end(done)


def _hint(branch: ir.Instruction, interleave: int) -> None:
    """Attach a loop ID with ``llvm.loop.interleave.count`` to a loop's back-edge branch
    (a new ID per loop: LLVM identifies a loop's metadata by its self-reference)."""
    if interleave <= 0:
        return
    module = branch.module
    count = module.add_metadata(
        [ir.MetaDataString(module, "llvm.loop.interleave.count"), ir.Constant(T.I32, interleave)]
    )
    loop_id = ir.values.MDValue(module, [count], name=str(len(module.metadata)))
    loop_id.operands = (loop_id, count)
    branch.set_metadata("llvm.loop", loop_id)


def _glue(fn: ir.Function) -> None:
    """Leave ``fn`` (already ``noinline``) unoptimised: for the module's glue that runs
    once per size change or per thread start, never per element (graphc_sizes, the thread
    spawner and its start routine). LLVM's optimiser and full code generator cost about
    a tenth of a module's compile on these; their code is as correct unoptimised (optnone:
    the same semantics, fast instruction selection) and runs a few nanoseconds longer per
    call, far below what a size change or a thread start costs anyway."""
    fn.attributes.add("optnone")


def _declare(module: ir.Module, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
    """The module's declaration of external function ``name`` (added on first use)."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, list(args)), name=name)
    return fn


# -- kernels shared between nodes ------------------------------------------------------------
# A lowering marked :func:`size_generic` emits code that depends only on its node's op,
# attrs, dtypes and shapes, read as formulas (``Kernel.dim``), never on where the node's
# values live nor on anything else in the program. Such a node is emitted once per module
# for every distinct (op, attrs, dtypes, shapes up to the dims' values): its dims become
# the kernel's own symbols, passed at run time, and its buffers pointers passed in. Each
# node then gets a small function that computes its pointers and dims and calls the shared
# kernel. A training step's optimizer, the same update for every variable, compiles once.


def size_generic(fn: Lowering) -> Lowering:
    """Mark a lowering whose code is a function of its node's op, attrs, dtypes and shapes
    alone (and correct for any values of its dims), so that nodes alike share one kernel."""
    fn.size_generic = True  # type: ignore[attr-defined]
    return fn


class _NotShared(Exception):
    """A node whose kernel is emitted for it alone."""


_GENERIC_PREFIX = "G."  # a shared kernel's own dim symbols (no program symbol is named so)


def _freeze(v: Any) -> Any:
    """A hashable key for an attribute value that tells apart what must stay apart (1,
    1.0 and True; 0.0 and -0.0; NaNs compare equal by their bits)."""
    t = type(v)
    if t in (bool, int, str) or v is None:
        return (t.__name__, v)
    if t is float:
        return ("float", v.hex())
    if isinstance(v, _dt.DType):
        return ("dtype", v.name)
    if isinstance(v, S.SExpr):
        return ("sexpr", v)  # interned: one object per structure
    if t in (tuple, list):
        return (t.__name__, tuple(_freeze(x) for x in v))
    if t is np.ndarray and v.dtype != object:
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, np.generic):
        return ("np", v.dtype.str, v.tobytes())
    raise _NotShared(f"an attribute of type {t.__name__}")


def _dims_key(dims: Sequence[sym.Dim]) -> tuple[Any, ...]:
    return tuple(("int", d) if isinstance(d, int) else ("poly", d) for d in dims)


def _flat_view(node: Node) -> tuple[dict[int, tuple[sym.Dim, ...]], dict[str, Any]]:
    """A Fused node without a reduction whose every operand is either of its iteration
    shape, walked axis for axis, or a scalar, restated over one flat axis (the same
    elements in the same order): a dense elementwise kernel is then one kernel for every
    rank. Other nodes as they are. Returns the values' shapes that change, and the attrs."""
    attrs = node.attrs
    if node.op != fused_ops.FUSED.name or fused_ops.has_reduction(attrs):
        return {}, attrs
    shape = tuple(attrs["shape"])
    if len(shape) < 2:
        return {}, attrs
    full = tuple(range(len(shape)))
    broadcast: list[tuple[int, ...]] = []
    for v, bc in zip(node.inputs, attrs["broadcast"]):
        if tuple(bc) == full and tuple(v.shape) == shape:
            broadcast.append((0,))
        elif tuple(bc) == () and tuple(v.shape) == ():
            broadcast.append(())
        else:
            return {}, attrs
    if len(node.outputs) != 1 or tuple(node.outputs[0].shape) != shape:
        return {}, attrs
    flat = (sym.product(shape),)
    shapes = {id(v): flat for v in [*node.inputs, *node.outputs] if tuple(v.shape) == shape}
    return shapes, {**attrs, "shape": flat, "broadcast": tuple(broadcast)}


def _has_dim(t: reg.AttrType) -> bool:
    return t.kind == "dim" or any(isinstance(a, reg.AttrType) and _has_dim(a) for a in t.args)


class _SharedNode:
    """A node restated over the kernel's own dims: every dim of its values and dim-typed
    attrs other than 0 and 1 becomes a symbol ``G.i`` (equal dims, one symbol), each
    distinct buffer location a pointer slot; ``key`` names the kernel it needs."""

    def __init__(self, node: Node, location: dict[int, tuple[str, Any]], lowering: Lowering) -> None:
        self.dims: list[sym.Dim] = []  # the node's dim behind each G.i, in order
        self._of: dict[sym.Dim, sym.Dim] = {}
        self.slot_of: dict[int, int] = {}  # id(generic value) -> pointer slot
        slots: dict[tuple[str, Any], int] = {}
        values: dict[int, Value] = {}
        parts: list[Any] = [lowering, node.op]

        shape_of, node_attrs = _flat_view(node)

        def restate(vs: Sequence[Value]) -> list[Value]:
            out = []
            for v in vs:
                if id(v) not in values:
                    g = Value(v.dtype, tuple(self.sub(d) for d in shape_of.get(id(v), v.shape)))
                    values[id(v)] = g
                    loc = location[id(v)]
                    self.slot_of[id(g)] = slots.setdefault(loc, len(slots))
                g = values[id(v)]
                parts.append((v.dtype.name, _dims_key(g.shape), self.slot_of[id(g)], list(values).index(id(v))))
                out.append(g)
            return out

        inputs = restate(node.inputs)
        parts.append("->")
        outputs = restate(node.outputs)
        schema = reg.get(node.op).attrs or {}
        attrs: dict[str, Any] = {}
        for name in sorted(node_attrs):
            if name not in schema:
                raise _NotShared(f"attribute {name} outside the schema")
            value, frozen = self._walk(node_attrs[name], schema[name])
            attrs[name] = value
            parts.append((name, frozen))
        # A node whose sizes are constants too small for two threads' work keeps its
        # kernel free of thread code (Kernel.split_loop): such kernels are shared only
        # among nodes like it.
        every = [*node.inputs, *node.outputs]
        self.small = all(isinstance(d, int) for v in every for d in v.shape) and all(
            int(np.prod(v.shape, dtype=np.int64)) < 2 * WORK_PER_THREAD for v in every
        )
        parts.append(("small", self.small))
        self.n_slots = len(slots)
        self.slots = [self.slot_of[id(values[id(v)])] for v in [*node.inputs, *node.outputs]]
        self.node = Node(node.op, inputs, attrs, outputs, node.origin)
        self.key = (tuple(parts), len(self.dims))

    def sub(self, d: sym.Dim) -> sym.Dim:
        if isinstance(d, int) and d in (0, 1):
            return d  # emptiness and broadcasting are part of the code
        if d not in self._of:
            self._of[d] = sym.symbol(f"{_GENERIC_PREFIX}{len(self.dims)}")
            self.dims.append(d)
        return self._of[d]

    def _walk(self, v: Any, t: reg.AttrType) -> tuple[Any, Any]:
        kind = t.kind
        if not _has_dim(t):
            return v, _freeze(v)
        if kind == "dim":
            g = self.sub(v)
            return g, _dims_key((g,))
        if kind == "optional":
            return (None, ("none",)) if v is None else self._walk(v, t.args[0])
        if kind == "tuple_of" and type(v) is tuple:
            items = [self._walk(x, t.args[0]) for x in v]
        elif kind == "record" and type(v) is tuple and len(v) == len(t.args):
            items = [self._walk(x, tx) for x, tx in zip(v, t.args)]
        else:  # one_of with a dim among its types: an int may be a dim or not
            raise _NotShared(f"an attribute of type {t!r}")
        return tuple(a for a, _ in items), (kind, tuple(k for _, k in items))


class _SharedFrame:
    """What a shared kernel's :class:`Kernel` reads in place of the ProgramEmitter: its
    ``bufs`` argument holds one pointer per slot, its ``dims`` the G symbols' values and
    then the thread count."""

    def __init__(self, emitter: ProgramEmitter, shared: _SharedNode) -> None:
        self.lowerings = emitter.lowerings
        self.prefix = emitter.prefix
        self.parallel = emitter.parallel
        self.shared = shared
        self.threads_index = len(shared.dims)
        self.never_split = shared.small

    def symbol_index(self, name: str) -> int:
        if not name.startswith(_GENERIC_PREFIX):
            raise _NotShared(f"the lowering reads the program's symbol {name}")
        return int(name[len(_GENERIC_PREFIX) :])

    def pointer(self, kernel: Kernel, v: Value) -> ir.Value:
        slot = self.shared.slot_of[id(v)]
        mem = T.mem_type(v.dtype.np).as_pointer()
        bufs = kernel.bufs
        return kernel._at_entry(lambda eb: eb.bitcast(eb.load(eb.gep(bufs, [T.I64(slot)])), mem))


# The shared kernels of each module: key -> function (None: the node's lowering refused
# its restated form, so nodes of that key get kernels of their own).
_SHARED_KERNELS: weakref.WeakKeyDictionary[ir.Module, dict[Any, ir.Function | None]] = (
    weakref.WeakKeyDictionary()
)


class ProgramEmitter:
    """Builds the module for one program (see the module docstring).

    With ``module`` and ``prefix`` it emits a control-flow region (an If branch, a While
    cond or body: graphc_llvm/lower_control.py) into an enclosing program's module instead:
    :meth:`emit_region` gives ``{prefix}run(bufs, dims, err) -> i32`` over the region's own
    ``bufs`` (its params, its constants, its result buffers, its arena: the same layout as
    ``graphc_run``'s) and ``dims`` (the region's symbols, then the thread count), which the
    node running the region fills. Every function it adds is named with ``prefix``, but
    for the kernels nodes share (module-wide, :func:`size_generic`); a failure inside the
    region records ``region_index`` (its place in its node's regions) on the error path."""

    def __init__(
        self,
        program: Program,
        lowerings: dict[str, Lowering],
        module: ir.Module | None = None,
        prefix: str = "",
        region_index: int = 0,
    ) -> None:
        self.program = program
        self.lowerings = lowerings
        self.prefix = prefix
        self.region_index = region_index  # a region's place in its node's regions
        self.module = module if module is not None else jit.new_module("graphc")
        plan = plan_for(program)
        self.plan = plan
        numbering = program.numbering()
        self.symbols = list(program.symbols())
        self._sym_index = {s: k for k, s in enumerate(self.symbols)}
        self.n_params = len(program.params)
        # Constants: each Const node's value is a slot the executable fills from the program.
        self.consts: list[int] = []
        const_slot: dict[int, int] = {}
        for k, n in enumerate(program.nodes):
            if n.op == "Const":
                const_slot[id(n.outputs[0])] = self.n_params + len(self.consts)
                self.consts.append(k)
        param_slot = {id(p.value): i for i, p in enumerate(program.params)}
        # Result buffers: the plan's output/update buffers, plus one for each in-place chain
        # over a caller's or constant buffer (values after the buffer's own first value).
        self.results: list[tuple[Value, int]] = []  # (the value whose shape sizes it, plan buffer)
        result_of_buffer: dict[int, int] = {}
        values = numbering.values
        self.location: dict[int, tuple[str, Any]] = {}
        for vn, v in enumerate(values):
            e = plan.entries[vn]
            buf = plan.buffers[e.buffer]
            if id(v) in param_slot:
                self.location[id(v)] = ("slot", param_slot[id(v)])
            elif id(v) in const_slot:
                self.location[id(v)] = ("slot", const_slot[id(v)])
            elif buf.kind == "arena":
                self.location[id(v)] = ("arena", buf.offset)
            else:
                if e.buffer not in result_of_buffer:
                    result_of_buffer[e.buffer] = len(self.results)
                    self.results.append((v, e.buffer))
                self.location[id(v)] = ("result", result_of_buffer[e.buffer])
        self.n_consts = len(self.consts)
        self.arena_slot = self.n_params + self.n_consts + len(self.results)
        # Every program output is a result buffer's final value, a param or a constant.
        self.outputs: list[list[Any]] = []
        for o in program.outputs:
            kind, where = self.location[id(o.value)]
            if kind == "result":
                self.outputs.append(["result", where])
            elif kind == "slot" and where < self.n_params:
                self.outputs.append(["param", where])
            elif kind == "slot":
                self.outputs.append(["const", where - self.n_params])
            else:  # an output the plan put in the arena: not expected
                raise Unsupported("a program output planned in the arena")
        # A result buffer is allocated with the shape of the last value it holds.
        last: dict[int, Value] = {}
        for v in values:
            kind, where = self.location[id(v)]
            if kind == "result":
                last[where] = v
        self.results = [(last[k], buf) for k, (_, buf) in enumerate(self.results)]
        self.arena_size = plan.arena_size

    @property
    def threads_index(self) -> int:
        """Where the run's thread count is in ``dims``: after the symbols."""
        return len(self.symbols)

    def parallel(self) -> ir.Function:
        """The module's one spawner, defined on first use (every split node calls it, so
        the thread code is emitted and optimised once, not once per node):

        ``i32 graphc.parallel(fn, bufs, dims, err, n, chunks)`` runs ``[0, n)`` as
        ``chunks`` calls ``fn(bufs, dims, err, start, end)`` of ``ceil(n / chunks)``
        indices each (the last ones may be short or empty), chunk 0 on this thread, the
        others on new threads (one that cannot be started runs here after chunk 0); it
        returns the first nonzero code in chunk order. ``1 < chunks <= MAX_THREADS``."""
        fn = self.module.globals.get(PARALLEL)
        if fn is not None:
            return fn
        fn = ir.Function(self.module, PARALLEL_FN, name=PARALLEL)
        fn.linkage = "internal"
        fn.attributes.add("noinline")  # one copy for the module: that is its point
        _glue(fn)
        node, bufs, dims, err, n, chunks = fn.args
        worker = self._worker()
        create = _declare(self.module, "pthread_create", T.I32, [T.I64.as_pointer(), T.I8P, T.I8P, T.I8P])
        join = _declare(self.module, "pthread_join", T.I32, [T.I64, T.I8P.as_pointer()])
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        work = b.alloca(ir.ArrayType(T.I64, MAX_THREADS * _WORK_FIELDS))
        tids = b.alloca(ir.ArrayType(T.I64, MAX_THREADS))
        started = b.alloca(ir.ArrayType(T.I32, MAX_THREADS))
        result = b.alloca(T.I64)
        per = b.sdiv(b.add(n, b.sub(chunks, T.I64(1))), chunks)

        def field(t: ir.Value, f: int) -> ir.Value:
            return b.gep(work, [T.I64(0), b.add(b.mul(t, T.I64(_WORK_FIELDS)), T.I64(f))])

        def setup(t: ir.Value) -> None:
            lo = b.mul(t, per)
            hi = b.add(lo, per)
            hi = b.select(b.icmp_signed("<", hi, n), hi, n)
            b.store(b.ptrtoint(bufs, T.I64), field(t, 0))
            b.store(b.ptrtoint(dims, T.I64), field(t, 1))
            b.store(b.ptrtoint(err, T.I64), field(t, 2))
            b.store(lo, field(t, 3))
            b.store(hi, field(t, 4))
            b.store(T.I64(0), field(t, 5))
            b.store(b.ptrtoint(node, T.I64), field(t, 6))
            tid = b.gep(tids, [T.I64(0), t])
            with b.if_else(b.icmp_signed(">", t, T.I64(0))) as (then, otherwise):
                with then:
                    rc = b.call(
                        create,
                        [
                            tid,
                            ir.Constant(T.I8P, None),
                            b.bitcast(worker, T.I8P),
                            b.bitcast(field(t, 0), T.I8P),
                        ],
                    )
                    b.store(b.zext(b.icmp_signed("==", rc, T.I32(0)), T.I32), b.gep(started, [T.I64(0), t]))
                with otherwise:
                    b.store(T.I32(0), b.gep(started, [T.I64(0), t]))

        counted_loop(fn, b, chunks, setup, "spawn")

        def finish(t: ir.Value) -> None:
            with b.if_else(b.icmp_signed("!=", b.load(b.gep(started, [T.I64(0), t])), T.I32(0))) as (
                then,
                otherwise,
            ):
                with then:
                    b.call(join, [b.load(b.gep(tids, [T.I64(0), t])), ir.Constant(T.I8P.as_pointer(), None)])
                with otherwise:
                    rc = b.call(node, [bufs, dims, err, b.load(field(t, 3)), b.load(field(t, 4))])
                    b.store(b.sext(rc, T.I64), field(t, 5))

        counted_loop(fn, b, chunks, finish, "join")
        b.store(T.I64(0), result)

        def first_error(t: ir.Value) -> None:
            r = b.load(field(t, 5))
            cur = b.load(result)
            b.store(b.select(b.icmp_signed("==", cur, T.I64(0)), r, cur), result)

        counted_loop(fn, b, chunks, first_error, "rc")
        b.ret(b.trunc(b.load(result), T.I32))
        return fn

    def _worker(self) -> ir.Function:
        """``i8* graphc.worker(i8* work)``: a thread's start routine calling the node
        function stored in its work record on the record's chunk."""
        w = ir.Function(self.module, ir.FunctionType(T.I8P, [T.I8P]), name="graphc.worker")
        w.linkage = "internal"
        w.attributes.add("noinline")
        _glue(w)
        b = ir.IRBuilder(w.append_basic_block())
        fields = b.bitcast(w.args[0], T.I64.as_pointer())

        def get(k: int) -> ir.Value:
            return b.load(b.gep(fields, [T.I64(k)]))

        node = b.inttoptr(get(6), NODE_FN.as_pointer())
        rc = b.call(
            node,
            [
                b.inttoptr(get(0), T.I8P.as_pointer()),
                b.inttoptr(get(1), T.I64.as_pointer()),
                b.inttoptr(get(2), T.I64.as_pointer()),
                get(3),
                get(4),
            ],
        )
        b.store(b.sext(rc, T.I64), b.gep(fields, [T.I64(5)]))
        b.ret(ir.Constant(T.I8P, None))
        return w

    def symbol_index(self, name: str) -> int:
        if name not in self._sym_index:
            raise Unsupported(f"dim symbol {name} is not bound at entry")
        return self._sym_index[name]

    def pointer(self, kernel: Kernel, v: Value) -> ir.Value:
        """A typed pointer to value ``v``'s first element, emitted in the kernel's entry block
        (its offset first: two builders never interleave there)."""
        kind, where = self.location[id(v)]
        mem = T.mem_type(v.dtype.np).as_pointer()
        offset = kernel.dim(where) if kind == "arena" else None
        bufs = kernel.bufs

        def make(eb: ir.IRBuilder) -> ir.Value:
            if kind == "slot":
                raw = eb.load(eb.gep(bufs, [T.I64(where)]))
            elif kind == "result":
                raw = eb.load(eb.gep(bufs, [T.I64(self.n_params + self.n_consts + where)]))
            else:
                base = eb.load(eb.gep(bufs, [T.I64(self.arena_slot)]))
                raw = eb.gep(base, [offset], inbounds=True)
            return eb.bitcast(raw, mem)

        return kernel._at_entry(make)

    def emit(self) -> tuple[ir.Module, Layout]:
        functions, labels = self._emit_nodes()
        self._emit_run(functions)
        layout = self._emit_sizes(labels)
        return self.module, layout

    def emit_region(self) -> ir.Function:
        """The region's node functions and its ``{prefix}run`` (see the class docstring);
        sizes are the caller's to compute (it knows the region's dims as formulas of its own)."""
        functions, _ = self._emit_nodes()
        return self._emit_run(functions, f"{self.prefix}run")

    def _emit_nodes(self) -> tuple[list[ir.Function | None], list[str]]:
        functions: list[ir.Function | None] = []
        labels = []
        # The nodes that share a kernel: those whose kind (key) two or more nodes have, or
        # one the module already holds. A node alone of its kind keeps its own kernel (its
        # constant sizes folded in, no call in between).
        kernels = _SHARED_KERNELS.setdefault(self.module, {})
        restated: dict[int, _SharedNode] = {}
        count: dict[Any, int] = {}
        for k, node in enumerate(self.program.nodes):
            lower = self.lowerings.get(node.op)
            if getattr(lower, "size_generic", False):
                try:
                    restated[k] = shared = _SharedNode(node, self.location, lower)
                except _NotShared:
                    continue
                count[shared.key] = count.get(shared.key, 0) + 1
        restated = {k: r for k, r in restated.items() if count[r.key] > 1 or r.key in kernels}
        for k, node in enumerate(self.program.nodes):
            labels.append(f"{node.op} {node.origin.name!r}" if node.origin else node.op)
            if node.op == "Const":
                functions.append(None)
                continue
            lower = self.lowerings.get(node.op)
            if lower is None:
                raise Unsupported(f"no lowering for {node.op}")
            shared = restated.get(k)
            fn = self._shared(node, k, lower, shared) if shared is not None else None
            if fn is None:
                kern = Kernel(self.module, self, node, k)
                lower(kern)
                fn = kern.finish()
            functions.append(fn)
        return functions, labels

    def _shared(self, node: Node, index: int, lower: Lowering, shared: _SharedNode) -> ir.Function | None:
        """Node ``index``'s function as a call of the module's shared kernel for its kind
        (emitted on first use; see :func:`size_generic`), or None when it gets its own."""
        kernels = _SHARED_KERNELS.setdefault(self.module, {})
        if shared.key not in kernels:
            name = f"graphc.kernel{len(kernels)}"
            kern = Kernel(self.module, _SharedFrame(self, shared), shared.node, index, name=name)
            # Called from every node of its kind: never inlined into them (that would
            # copy it back once per node, the cost sharing saves).
            kern.fn.attributes.add("noinline")
            try:
                lower(kern)
                kernels[shared.key] = kern.finish()
            except Exception:  # noqa: BLE001  (the node's own kernel then says what is wrong)
                del self.module.globals[name]
                kernels[shared.key] = None
        fn = kernels[shared.key]
        if fn is None:
            return None
        w = Kernel(self.module, self, node, index)
        b = w.b
        ptrs = w.alloca(ir.ArrayType(T.I8P, max(shared.n_slots, 1)))
        for arg, slot in zip([*w.inputs, *w.outputs], shared.slots):
            b.store(b.bitcast(arg.ptr, T.I8P), b.gep(ptrs, [T.I64(0), T.I64(slot)]))
        dims = w.alloca(ir.ArrayType(T.I64, len(shared.dims) + 1))
        for i, d in enumerate(shared.dims):
            b.store(w.dim(d), b.gep(dims, [T.I64(0), T.I64(i)]))
        b.store(w.dim_threads(), b.gep(dims, [T.I64(0), T.I64(len(shared.dims))]))
        args = [b.bitcast(ptrs, T.I8P.as_pointer()), b.bitcast(dims, T.I64.as_pointer()), w.err, w.start, w.end]
        b.ret(b.call(fn, args))
        return w.finish()

    def _emit_run(self, functions: list[ir.Function | None], name: str = "graphc_run") -> ir.Function:
        """The node functions called in program order. A failure returns its code at once
        after recording where it happened: ``graphc_run`` the node's index in ``err[0]``;
        a region's run one level of the path (its region index and the node's) at
        ``err[ERR_PATH + 2 * depth]`` (module docstring, ERR_SLOTS)."""
        fnty = ir.FunctionType(T.I32, [T.I8P.as_pointer(), T.I64.as_pointer(), T.I64.as_pointer()])
        fn = ir.Function(self.module, fnty, name=name)
        top = name == "graphc_run"
        if not top:
            fn.linkage = "internal"
        bufs, dims, err = fn.args
        entry = fn.append_basic_block("entry")
        fail = fn.append_basic_block("fail")
        b = ir.IRBuilder(entry)
        if top:
            b.store(T.I64(0), b.gep(err, [T.I64(ERR_DEPTH)]))
        at_fail: list[tuple[ir.Value, ir.Value, ir.Block]] = []
        for k, f in enumerate(functions):
            if f is None:
                continue
            rc = b.call(f, [bufs, dims, err, T.I64(0), T.I64(-1)])
            ok = fn.append_basic_block(f"ok{k}")
            at_fail.append((T.I64(k), rc, b.block))
            b.cbranch(b.icmp_signed("!=", rc, T.I32(0)), fail, ok)
            b.position_at_end(ok)
        b.ret(T.I32(0))
        b.position_at_end(fail)
        if not at_fail:
            b.unreachable()
            return fn
        where = b.phi(T.I64, name="node")
        code = b.phi(T.I32, name="rc")
        for k_value, rc, block in at_fail:
            where.add_incoming(k_value, block)
            code.add_incoming(rc, block)
        if top:
            b.store(where, b.gep(err, [T.I64(0)]))
        else:
            depth_at = b.gep(err, [T.I64(ERR_DEPTH)])
            depth = b.load(depth_at)
            with b.if_then(b.icmp_unsigned("<", depth, T.I64(MAX_ERR_DEPTH))):
                at = b.add(T.I64(ERR_PATH), b.mul(depth, T.I64(2)))
                b.store(T.I64(self.region_index), b.gep(err, [at]))
                b.store(where, b.gep(err, [b.add(at, T.I64(1))]))
            b.store(b.add(depth, T.I64(1)), depth_at)
        b.ret(code)
        return fn

    def _emit_sizes(self, labels: list[str]) -> Layout:
        numbering = self.program.numbering()
        fnty = ir.FunctionType(T.VOID, [T.I64.as_pointer(), T.I64.as_pointer()])
        fn = ir.Function(self.module, fnty, name="graphc_sizes")
        fn.attributes.add("noinline")
        _glue(fn)
        dims, out = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        overflow = b.alloca(T.I1)
        b.store(T.I1(0), overflow)
        cache: dict[str, ir.Value] = {}

        def symbol(eb: ir.IRBuilder, name: str) -> ir.Value:
            if name not in cache:
                cache[name] = eb.load(eb.gep(dims, [T.I64(self.symbol_index(name))]))
            return cache[name]

        at = 0

        def put(d: sym.Dim) -> int:
            nonlocal at
            b.store(emit_dim(b, d, symbol, overflow), b.gep(out, [T.I64(at)]))
            at += 1
            return at - 1

        param_shapes = []
        for p in self.program.params:
            start = at
            for d in p.value.shape:
                put(d)
            param_shapes.append({"rank": len(p.value.shape), "at": start})
        results = []
        for v, _ in self.results:
            start = at
            for d in v.shape:
                put(d)
            results.append({"dtype": v.dtype.np.str, "rank": len(v.shape), "at": start})
        arena_at = at
        b.store(_emit_peak(b, self.arena_size, symbol, overflow), b.gep(out, [T.I64(at)]))
        at += 1
        # Element counts of every result, checked too (each shape's product fits).
        for v, _ in self.results:
            emit_dim(b, sym.product(v.shape) * v.dtype.size, symbol, overflow)  # type: ignore[operator]
        overflow_at = at
        b.store(b.zext(b.load(overflow), T.I64), b.gep(out, [T.I64(at)]))
        at += 1
        b.ret_void()
        return Layout(
            symbols=self.symbols,
            n_params=self.n_params,
            consts=self.consts,
            results=results,
            param_shapes=param_shapes,
            arena_at=arena_at,
            overflow_at=overflow_at,
            result_values=[numbering[v] for v, _ in self.results],
            n_sizes=at,
            outputs=self.outputs,
            node_labels=labels,
        )


def _emit_peak(
    b: ir.IRBuilder, formula: Any, symbol: Callable[[ir.IRBuilder, str], ir.Value], overflow: ir.Value
) -> ir.Value:
    """A PeakFormula (the max of several dim formulas) as i64."""
    vals = [emit_dim(b, f, symbol, overflow) for f, _ in formula.candidates]
    out = vals[0]
    for v in vals[1:]:
        out = b.select(b.icmp_signed(">", v, out), v, out)
    return out
