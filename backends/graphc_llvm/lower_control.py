"""``If`` and ``While`` in native code: the branches and the loop run inside the module.

graphc's control flow (graphc/ops/control_flow_ops.py, ARCHITECTURE.md "Control flow")
follows TF1's ``tf.cond`` (only the taken branch runs) and ``tf.while_loop`` (iterations
in order, the cond evaluated before each one; ``maximum_iterations`` is an ordinary
counter loop variable and a comparison in the cond region, so it needs nothing here).
Each region (a branch, the loop's cond or body) is a :class:`~graphc.ir.program.Program`;
it is emitted into the enclosing module as functions of its own
(:meth:`ProgramEmitter.emit_region`, names prefixed with the node function's), with its own
memory plan. The node's function then:

- computes the region's dims (its symbols as formulas in the enclosing program's: each
  region symbol is bound from an argument's shape, and the argument is the node's
  input), every scratch size (each region's arena from its plan, the result buffers
  that are not written straight to their destination, the loop's two state buffers),
  with 64-bit overflow checks, and allocates one block with ``malloc`` (NULL or an
  overflow: ResourceExhaustedError's code 5); the block is freed on every path out;
- runs a region by filling its ``bufs`` (params: the node's inputs or the loop's current
  state; constants: module globals; results: the destination itself where the region's
  output is its result buffer's final value, else scratch; the arena) and calling it; a
  nonzero code (an index out of range in the body) frees the block and returns the code;
- If: the pred chooses the branch, whose results go to the node's outputs.
- While: double buffering. Iteration ``t`` reads its state from the node's inputs
  (``t == 0``) or from buffer A/B (odd/even ``t``) and writes iteration ``t + 1``'s into the
  other one, so the body never reads what it writes; the final state is copied to the
  node's outputs.

Only regions the backend compiles completely (recursively) are taken: native dtypes, no
data-defined dims, no value-bound symbols, and every carried value or branch result of
one fixed shape (the node's own). :func:`can_compile` checks this by emitting the
regions into a scratch module; the backend's ``supports_node`` asks it, so a node it
refuses stays a NumPy segment (a loop with a random op stays there while no lowering for
``RandomLoopCounter`` exists).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from graphc import symbolic as sym
from graphc.ir.program import Node, Program
from graphc_llvm import jit
from graphc_llvm import types as T
from graphc_llvm.codegen import Kernel, ProgramEmitter, Unsupported, emit_dim
from graphc_llvm.lowerings import lowering, lowering_for

_ALIGN = 64
_I64_MAX = 2**63 - 1
_REGION_INDEX = {"then": 0, "else": 1, "cond": 0, "body": 1}  # the place in Node.regions


class _Table(dict):  # type: ignore[type-arg]
    """The lowering table as an emitter reads it (as native.py's, for the scratch module)."""

    def get(self, op: str, default: Any = None) -> Any:
        fn = lowering_for(op)
        return fn if fn is not None else default


Shape = tuple[sym.Dim, ...]


def _same(a: sym.Dim, b: sym.Dim) -> bool:
    return bool(a == b)


def _region_subst(
    region: Program, arg_shapes: Sequence[Shape], arg_dtypes: Sequence[Any], outs: Sequence[tuple[Shape, Any]]
) -> dict[str, sym.Dim]:
    """Each region symbol as a formula in the enclosing program's symbols, after checking
    that the region is one this module compiles (see the module docstring); raises
    Unsupported otherwise."""
    if region.defined_dims:
        raise Unsupported("a region with data-defined dims")
    if len(region.params) != len(arg_shapes) or len(region.outputs) != len(outs):
        raise Unsupported("a region whose signature is not its node's")
    for v in region.values():
        if not T.is_native(v.dtype.np):
            raise Unsupported("a region value of a non-native dtype")
    subst: dict[str, sym.Dim] = {}
    for bnd in region.bindings:
        if bnd.source != "shape":
            raise Unsupported("a region symbol bound from a value")
        name = sym.as_symbol(bnd.dim)
        if name is not None and name not in subst:
            subst[name] = arg_shapes[bnd.param][bnd.axis]
    for s in region.symbols():
        if s not in subst:
            raise Unsupported(f"region symbol {s} is not bound from an argument's shape")
    for bnd in region.bindings:
        if not _same(sym.substitute(bnd.dim, subst), arg_shapes[bnd.param][bnd.axis]):
            raise Unsupported("a region binding that is not its argument's dim")
    for p, shp, dt in zip(region.params, arg_shapes, arg_dtypes):
        if p.value.dtype != dt or len(p.value.shape) != len(shp):
            raise Unsupported("a region param unlike its argument")
        if not all(_same(sym.substitute(d, subst), e) for d, e in zip(p.value.shape, shp)):
            raise Unsupported("a region param shape unlike its argument's")
    for o, (shp, dt) in zip(region.outputs, outs):
        if o.value.dtype != dt or len(o.value.shape) != len(shp):
            raise Unsupported("a region result unlike the node's")
        if not all(_same(sym.substitute(d, subst), e) for d, e in zip(o.value.shape, shp)):
            raise Unsupported(
                "a region result whose shape is not the node's (it changes per branch/iteration)"
            )
    for a in region.assertions:
        if not _same(sym.substitute(a.lhs, subst), sym.substitute(a.rhs, subst)):
            raise Unsupported("a region assertion not implied by the enclosing program")
    return subst


def _signatures(node: Node) -> list[tuple[Program, list[Shape], list[Any], list[tuple[Shape, Any]]]]:
    """(region, argument shapes, argument dtypes, expected results) for each region of an
    If/While node; raises Unsupported for a node outside this module's scope."""
    for shp in node.attrs.get("shapes", ()):
        if any(d is None for d in shp):
            raise Unsupported(f"{node.op} with a dim it defines when it runs")
    ins = [(tuple(v.shape), v.dtype) for v in node.inputs]
    outs = [(tuple(v.shape), v.dtype) for v in node.outputs]
    if node.op == "If":
        if len(node.regions) != 2 or not ins:
            raise Unsupported("If without two branches")
        if ins[0][0] != () or ins[0][1].np != np.bool_:
            raise Unsupported("If with a non-scalar or non-bool pred")
        args = ins[1:]
        return [(r, [s for s, _ in args], [d for _, d in args], outs) for r in node.regions]
    if node.op == "While":
        if len(node.regions) != 2:
            raise Unsupported("While without cond and body")
        n = len(outs)
        if len(ins) < n:
            raise Unsupported("While with fewer inputs than loop variables")
        for (si, di), (so, do) in zip(ins[:n], outs):
            if di != do or len(si) != len(so) or not all(_same(a, b) for a, b in zip(si, so)):
                raise Unsupported("a loop variable whose shape or dtype changes")
        cond, body = node.regions
        shapes, dtypes = [s for s, _ in ins], [d for _, d in ins]
        bool_out = [((), cond.outputs[0].value.dtype)] if len(cond.outputs) == 1 else []
        if not bool_out or bool_out[0][1].np != np.bool_:
            raise Unsupported("a While cond that is not one bool")
        return [(cond, shapes, dtypes, bool_out), (body, shapes, dtypes, outs)]
    raise Unsupported(f"{node.op} is not control flow")


def can_compile(node: Node) -> bool:
    """Whether the If/While ``node`` compiles natively (its regions too, recursively):
    its regions are emitted into a scratch module, so whatever a lowering refuses is found
    here and not when the program compiles."""
    try:
        module = jit.new_module("graphc_check")
        for j, (region, shapes, dtypes, outs) in enumerate(_signatures(node)):
            _region_subst(region, shapes, dtypes, outs)
            ProgramEmitter(region, _Table(), module=module, prefix=f"check.r{j}.", region_index=j).emit_region()
    except Unsupported:
        return False
    return True


@dataclasses.dataclass
class _Region:
    """A region emitted into the module, and what the node needs to run it."""

    em: ProgramEmitter
    run: ir.Function
    subst: dict[str, sym.Dim]
    consts: list[ir.Value]  # i8* of each constant's global
    direct: dict[int, int]  # result buffer -> the output written straight to its destination
    scratch_at: dict[int, ir.Value]  # other result buffers -> byte offset in the scratch block
    arena_bytes: ir.Value
    scratch_bytes: ir.Value  # arena (rounded) + the other result buffers
    dims: ir.Value  # the region's dims array ([symbols..., threads])
    bufs: ir.Value  # the region's bufs array


def _round_up(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.and_(b.add(x, T.I64(_ALIGN - 1)), T.I64(~(_ALIGN - 1)))


def _max(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


class _Sizes:
    """Size formulas of the enclosing program, emitted with 64-bit overflow checks."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.overflow = k.alloca(T.I1, T.I1(0))

    def __call__(self, d: sym.Dim) -> ir.Value:
        k = self.k
        return emit_dim(k.b, d, lambda _b, name: k.dim(sym.symbol(name)), self.overflow)


def _prepare(k: Kernel, region: Program, subst: dict[str, sym.Dim], tag: str, sizes: _Sizes) -> _Region:
    em = ProgramEmitter(
        region, k.emitter.lowerings, module=k.module, prefix=f"{k.fn.name}.{tag}.", region_index=_REGION_INDEX[tag]
    )
    run = em.emit_region()
    b = k.b
    consts = []
    for c, node_index in enumerate(em.consts):
        node = region.nodes[node_index]
        data = np.array(node.attrs["value"], dtype=node.outputs[0].dtype.np, order="C").tobytes()
        ty = ir.ArrayType(T.I8, max(len(data), 1))
        g = ir.GlobalVariable(k.module, ty, name=f"{em.prefix}const{c}")
        g.linkage = "internal"
        g.global_constant = True
        g.align = _ALIGN
        g.initializer = ir.Constant(ty, bytearray(data or b"\0"))
        consts.append(b.bitcast(g, T.I8P))
    direct: dict[int, int] = {}
    for j, (kind, where) in enumerate(em.outputs):
        if kind == "result" and where not in direct and em.results[where][0] is region.outputs[j].value:
            direct[where] = j
    arena = T.I64(0)
    for formula, _ in em.arena_size.candidates:
        arena = _max(b, arena, sizes(sym.substitute(formula, subst)))
    total = _round_up(b, arena)
    scratch_at: dict[int, ir.Value] = {}
    for r, (v, _) in enumerate(em.results):
        if r in direct:
            continue
        scratch_at[r] = total
        nbytes = sizes(sym.substitute(sym.product(v.shape) * v.dtype.size, subst))  # type: ignore[operator]
        total = b.add(_round_up(b, nbytes), total)
    dims = k.alloca(ir.ArrayType(T.I64, len(em.symbols) + 1))
    for i, s in enumerate(em.symbols):
        b.store(k.dim(subst[s]), b.gep(dims, [T.I64(0), T.I64(i)]))
    b.store(k.dim_threads(), b.gep(dims, [T.I64(0), T.I64(len(em.symbols))]))
    bufs = k.alloca(ir.ArrayType(T.I8P, em.arena_slot + 1))
    return _Region(em, run, subst, consts, direct, scratch_at, arena, total, dims, bufs)


def _memmove(k: Kernel, dst: ir.Value, src: ir.Value, nbytes: ir.Value) -> None:
    fn = k.extern("llvm.memmove.p0.p0.i64", T.VOID, [T.I8P, T.I8P, T.I64, T.I1])
    k.b.call(fn, [dst, src, nbytes, T.I1(0)])


def _invoke(
    k: Kernel,
    r: _Region,
    params: Sequence[ir.Value],
    dests: Sequence[ir.Value],
    dest_bytes: Sequence[ir.Value],
    scratch: ir.Value,
    free: ir.Function,
    raw: ir.Value,
) -> None:
    """Run region ``r`` on ``params`` (i8*), its results landing in ``dests`` (i8*); a
    failure inside frees the scratch block ``raw`` and returns the code."""
    b, em = k.b, r.em

    def slot(i: int) -> ir.Value:
        return b.gep(r.bufs, [T.I64(0), T.I64(i)])

    for i, p in enumerate(params):
        b.store(p, slot(i))
    for c, g in enumerate(r.consts):
        b.store(g, slot(em.n_params + c))
    result_ptr: list[ir.Value] = []
    for j in range(len(em.results)):
        ptr = dests[r.direct[j]] if j in r.direct else b.gep(scratch, [r.scratch_at[j]], inbounds=True)
        result_ptr.append(ptr)
        b.store(ptr, slot(em.n_params + em.n_consts + j))
    b.store(scratch, slot(em.arena_slot))
    bufs = b.bitcast(r.bufs, T.I8P.as_pointer())
    rc = b.call(r.run, [bufs, b.bitcast(r.dims, T.I64.as_pointer()), k.err])
    with b.if_then(b.icmp_signed("!=", rc, T.I32(0)), likely=False):
        b.call(free, [raw])
        b.ret(rc)
    for j, (kind, where) in enumerate(em.outputs):
        if kind == "result" and r.direct.get(where) == j:
            continue
        if kind == "result":
            src = result_ptr[where]
        elif kind == "param":
            src = params[where]
        else:
            src = r.consts[where]
        _memmove(k, dests[j], src, dest_bytes[j])


def _allocate(k: Kernel, sizes: _Sizes, total: ir.Value) -> tuple[ir.Function, ir.Value, ir.Value]:
    """One 64-byte-aligned scratch block of ``total`` bytes: (free, the raw pointer, the
    aligned base). A size that overflowed or a failed malloc fails with code 5."""
    b = k.b
    k.fail_if(b.load(sizes.overflow), 5, T.I64(_I64_MAX), T.I64(0))
    # Unsigned: a sum that wrapped negative is refused too.
    k.fail_if(b.icmp_unsigned(">", total, T.I64(_I64_MAX - 2 * _ALIGN)), 5, total, T.I64(0))
    malloc = k.extern("malloc", T.I8P, [T.I64])
    free = k.extern("free", T.VOID, [T.I8P])
    raw = b.call(malloc, [b.add(total, T.I64(_ALIGN))])
    k.fail_if(b.icmp_unsigned("==", raw, ir.Constant(T.I8P, None)), 5, total, T.I64(0))
    at = b.ptrtoint(raw, T.I64)
    pad = b.sub(_round_up(b, at), at)
    return free, raw, b.gep(raw, [pad], inbounds=True)


def _nbytes(k: Kernel, v: Any) -> ir.Value:
    return k.dim(sym.product(v.shape) * v.dtype.size)  # type: ignore[operator]


def _i8(k: Kernel, ptr: ir.Value) -> ir.Value:
    return k.b.bitcast(ptr, T.I8P)


@lowering("If")
def _if(k: Kernel) -> None:
    """TF1's cond: only the branch the pred chooses runs, its results written to the
    node's outputs."""
    node = k.node
    sizes = _Sizes(k)
    regions = [
        _prepare(k, region, _region_subst(region, shapes, dtypes, outs), tag, sizes)
        for (region, shapes, dtypes, outs), tag in zip(_signatures(node), ("then", "else"))
    ]
    b = k.b
    total = _max(b, regions[0].scratch_bytes, regions[1].scratch_bytes)
    free, raw, base = _allocate(k, sizes, total)
    params = [_i8(k, a.ptr) for a in k.inputs[1:]]
    dests = [_i8(k, a.ptr) for a in k.outputs]
    nbytes = [_nbytes(k, a.value) for a in k.outputs]
    pred = k.load(k.inputs[0], T.I64(0))
    with b.if_else(pred) as (then, otherwise):
        with then:
            _invoke(k, regions[0], params, dests, nbytes, base, free, raw)
        with otherwise:
            _invoke(k, regions[1], params, dests, nbytes, base, free, raw)
    b.call(free, [raw])


@lowering("While")
def _while(k: Kernel) -> None:
    """TF1's while_loop: ``while cond(state): state = body(state)``, iterations in order,
    with the state double-buffered (module docstring)."""
    node = k.node
    sizes = _Sizes(k)
    (cond_sig, body_sig) = _signatures(node)
    cond = _prepare(k, cond_sig[0], _region_subst(*cond_sig), "cond", sizes)
    body = _prepare(k, body_sig[0], _region_subst(*body_sig), "body", sizes)
    b = k.b
    n = len(node.outputs)
    nbytes = [_nbytes(k, a.value) for a in k.outputs]
    # The scratch block: the regions' scratch (they never run at once: shared), then the
    # state buffers A and B.
    total = _round_up(b, _max(b, cond.scratch_bytes, body.scratch_bytes))
    offsets: list[tuple[ir.Value, ir.Value]] = []
    for j in range(n):
        a_at = total
        total = b.add(total, _round_up(b, nbytes[j]))
        offsets.append((a_at, total))
        total = b.add(total, _round_up(b, nbytes[j]))
    free, raw, base = _allocate(k, sizes, total)
    state_a = [b.gep(base, [a], inbounds=True) for a, _ in offsets]
    state_b = [b.gep(base, [c], inbounds=True) for _, c in offsets]
    inputs = [_i8(k, a.ptr) for a in k.inputs]
    captures = inputs[n:]
    flag = k.alloca(T.I8)
    t_slot = k.alloca(T.I64, T.I64(0))
    head = k.fn.append_basic_block("while.head")
    step = k.fn.append_basic_block("while.body")
    done = k.fn.append_basic_block("while.done")
    b.branch(head)
    b.position_at_end(head)
    t = b.load(t_slot)
    first = b.icmp_signed("==", t, T.I64(0))
    odd = b.icmp_signed("!=", b.and_(t, T.I64(1)), T.I64(0))
    # Iteration t reads the inputs (t == 0), A (t odd) or B (t even > 0) ...
    cur = [b.select(first, inputs[j], b.select(odd, state_a[j], state_b[j])) for j in range(n)]
    _invoke(k, cond, [*cur, *captures], [flag], [T.I64(1)], base, free, raw)
    b.cbranch(b.icmp_unsigned("!=", b.load(flag), T.I8(0)), step, done)
    b.position_at_end(step)
    # ... and writes the other buffer: B when t is odd, else A (never what it reads).
    nxt = [b.select(odd, state_b[j], state_a[j]) for j in range(n)]
    _invoke(k, body, [*cur, *captures], nxt, nbytes, base, free, raw)
    b.store(b.add(t, T.I64(1)), t_slot)
    b.branch(head)
    b.position_at_end(done)
    for j, out in enumerate(k.outputs):
        _memmove(k, _i8(k, out.ptr), cur[j], nbytes[j])
    b.call(free, [raw])
