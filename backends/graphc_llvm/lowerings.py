"""The LLVM backend's op lowerings, in one table: op name -> function that emits the
node's kernel (see graphc_llvm/codegen.py's :class:`Kernel`).

Every elementwise op (its scalar rule) and every fusable reduction is lowered as the
Fused op's loop nest (:func:`emit_fused`), so there is one loop generator for all of
them. An op missing here runs in a NumPy segment (the partition pass), and
``graphc inspect --backend llvm`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from graphc import registry as reg
from graphc import scalar as S
from graphc import symbolic as sym
from graphc.ops import fused_ops
from graphc.passes.fuse import reduce_axes
from graphc_llvm import scalars
from graphc_llvm import types as T
from graphc_llvm.codegen import Arg, Kernel, Lowering, size_generic

LOWERINGS: dict[str, Lowering] = {}


def lowering(*ops: str) -> Callable[[Lowering], Lowering]:
    def deco(fn: Lowering) -> Lowering:
        for op in ops:
            LOWERINGS[op] = fn
        return fn

    return deco


# The registered ops with no native lowering, and why: each runs in a NumPy segment (or,
# for a program with data-defined dims, the program runs on the interpreter as a whole).
# tests/test_llvm_backend.py keeps this table equal to what supported_ops() leaves out.
WITHOUT_LOWERING: dict[str, str] = {
    **dict.fromkeys(
        ["Placeholder", "VariableV2", "Assign", "AssignAdd", "AssignSub", "CustomGradient", "ControlFlowArg"],
        "a frontend op: lowering turns it into params, outputs or plain nodes; no program holds it",
    ),
    "Transfer": "the partition pass's boundary between segments, run by runtime/segments.py",
    **dict.fromkeys(
        ["PyFunc", "PyFuncStateless", "Print", "PrintV2", "Assert"],
        "a host callback: calls Python, so it is a host segment by design (native code never calls back)",
    ),
    **dict.fromkeys(
        [
            "Where",
            "BooleanMask",
            "BooleanMaskGrad",
            "Unique",
            "UniqueWithCounts",
            "DynamicPartition",
            "DynamicStitch",
            "TopKDynamic",
            "TopKDynamicGrad",
            "SliceDynamic",
            "SliceDynamicGrad",
        ],
        "its output's size depends on the data: not yet allocated by native code",
    ),
    **dict.fromkeys(
        ["RandomStandardNormal", "TruncatedNormal"],
        "its reference's float64 log/cos/erfinv cannot be matched bit for bit by inline polynomials",
    ),
    "RandomLoopCounter": "not yet lowered: a loop with a random op in its body stays a NumPy segment",
    "CandidateSampler": "not yet lowered: rejection sampling along a counter stream",
}


def supported_ops() -> frozenset[str]:
    """Every op with a lowering here, and every elementwise op (lowered through its scalar rule)."""
    out = set(LOWERINGS)
    for opdef in reg.all_ops():
        if opdef.has("elementwise") and opdef.scalar is not None:
            out.add(opdef.name)
        if opdef.has("fusable_reduction"):
            out.add(opdef.name)
    return frozenset(out)


def lowering_for(op: str) -> Lowering | None:
    if op in LOWERINGS:
        return LOWERINGS[op]
    try:
        opdef = reg.get(op)
    except KeyError:
        return None
    if opdef.has("elementwise") and opdef.scalar is not None:
        return _elementwise
    if opdef.has("fusable_reduction"):
        return _reduction
    return None


# ---------------------------------------------------------------------------
# Elementwise loops with an optional reduction epilogue.


@lowering(fused_ops.FUSED.name)
@size_generic
def _fused(k: Kernel) -> None:
    emit_fused(k, k.attrs, k.inputs, k.outputs[0])


@size_generic
def _elementwise(k: Kernel) -> None:
    node = k.node
    opdef = reg.get(node.op)
    out = node.outputs[0]
    expr = opdef.scalar([S.inp(i, v.dtype.np) for i, v in enumerate(node.inputs)], node.attrs)  # type: ignore[misc]
    if not isinstance(expr, S.SExpr):
        expr = S.const(expr)
    attrs = fused_ops.elementwise_attrs(expr, out.dtype, out.shape, [v.shape for v in node.inputs])
    emit_fused(k, attrs, k.inputs, k.outputs[0])


@size_generic
def _reduction(k: Kernel) -> None:
    node = k.node
    x = node.inputs[0]
    shape = tuple(x.shape)
    if len(node.inputs) != 1 or "axis" not in node.attrs:
        raise NotImplementedError(f"{node.op} with {len(node.inputs)} inputs")
    axes = reduce_axes(node.attrs["axis"], len(shape))
    attrs = fused_ops.elementwise_attrs(S.inp(0, x.dtype.np), x.dtype, shape, [shape])
    attrs["dtype"] = node.outputs[0].dtype
    attrs.update(
        fused_ops.reduction_attrs(node.op, x.dtype, shape, axes, bool(node.attrs.get("keepdims", False)))
    )
    emit_fused(k, attrs, k.inputs, k.outputs[0])


# ---------------------------------------------------------------------------
# Order-fixed vector folds.

# Lanes of a fold (a power of two): element j of a row goes to lane j mod FOLD_LANES. A
# constant, not the machine's vector width, so the order of every reduction (and so its
# rounding) is the same on every machine and for every thread count; 32 lanes are 2 or 4
# of AVX-512's registers, enough independent chains to hide the adder's latency.
FOLD_LANES = 32
_LOG_LANES = FOLD_LANES.bit_length() - 1
_EXACT_WAYS = 4  # vector accumulators of an exact fold (a power of two)


def splat(b: ir.IRBuilder, x: ir.Value, lanes: int = FOLD_LANES) -> ir.Value:
    """A vector of ``lanes`` copies of the scalar ``x``."""
    if isinstance(x, ir.Constant):
        return ir.Constant(ir.VectorType(x.type, lanes), x.constant)
    vty = ir.VectorType(x.type, lanes)
    v = b.insert_element(ir.Constant(vty, ir.Undefined), x, T.I32(0))
    return b.shuffle_vector(
        v, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(T.I32, lanes), [0] * lanes)
    )


def vector_load(k: Kernel, arg: Arg, offset: ir.Value, lanes: int = FOLD_LANES) -> ir.Value:
    """Elements ``[offset, offset + lanes)`` of ``arg`` (a float or integer array) as a vector."""
    ety = T.mem_type(arg.dtype)
    ptr = k.b.bitcast(k.gep(arg, offset), ir.VectorType(ety, lanes).as_pointer())
    return k.b.load(ptr, align=arg.dtype.itemsize)


def vector_cast(b: ir.IRBuilder, v: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """A float vector from ``src`` to ``dst`` (what scalars.cast does to each element)."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return v
    if src.kind != "f" or dst.kind != "f":
        raise NotImplementedError(f"vector cast {src} -> {dst}")
    vty = ir.VectorType(T.reg_type(dst), v.type.count)
    return b.fpext(v, vty) if src.itemsize < dst.itemsize else b.fptrunc(v, vty)


def vectorisable(dtype: np.dtype) -> bool:
    """Element types a fold keeps in vector lanes (the register type is the memory type)."""
    dtype = np.dtype(dtype)
    return dtype.kind in "iu" or (dtype.kind == "f" and dtype.itemsize in (4, 8))


class LaneFold:
    """A reduction in FOLD_LANES lanes with one fixed order: element ``j`` of the row is
    combined into lane ``j mod FOLD_LANES`` (in increasing ``j``), and the lanes are then
    combined pairwise, halving (lane ``i`` with lane ``i + h``, ``h`` = 16, 8, 4, 2, 1).

    The order depends only on the row length, so results are the same whatever the machine's
    vector width or the thread count (threads split rows, never a row). Whole blocks of
    FOLD_LANES elements are combined as one vector operation (a load, a widening, a combine:
    LLVM keeps the lanes in registers); the row's last ``n mod FOLD_LANES`` elements go to
    their lanes one at a time."""

    def __init__(
        self,
        k: Kernel,
        identity: ir.Constant,
        combine: Callable[[ir.Value, ir.Value], ir.Value],
        exact: bool = False,
    ) -> None:
        """``exact``: ``combine`` is exactly associative and commutative (IEEE maximum and
        minimum): blocks then go round _EXACT_WAYS vector accumulators, whose latency chains
        overlap, and the result is the same bits as the one-accumulator order's."""
        self.k = k
        self.combine = combine
        self.identity = identity
        self.vty = ir.VectorType(identity.type, FOLD_LANES)
        self.slot = k.alloca(self.vty)
        self.spill = k.alloca(self.vty)  # the lanes in memory, for the tail (aligned as a vector)
        self.extra = [k.alloca(self.vty) for _ in range(_EXACT_WAYS - 1)] if exact else []
        k.b.store(ir.Constant(self.vty, identity.constant), self.slot)

    def blocks(self, count: ir.Value, block: Callable[[ir.Value], ir.Value]) -> None:
        """Combine ``block(first)``, the vector of elements ``[first, first + FOLD_LANES)``, for
        ``first = 0, FOLD_LANES, ...`` (``count`` blocks)."""
        b = self.k.b

        def into(slot: ir.Value, j: ir.Value) -> None:
            v = block(b.shl(j, T.I64(_LOG_LANES), flags=["nsw", "nuw"]))
            b.store(self.combine(b.load(slot), v), slot)

        if not self.extra:
            self.k.loop(count, lambda j: into(self.slot, j), name="fold")
            return
        slots = [self.slot, *self.extra]
        for slot in self.extra:
            b.store(ir.Constant(self.vty, self.identity.constant), slot)
        log_ways = T.I64(_EXACT_WAYS.bit_length() - 1)
        rounds = b.lshr(count, log_ways)

        def one_round(r: ir.Value) -> None:
            first = b.shl(r, log_ways, flags=["nsw", "nuw"])
            for w, slot in enumerate(slots):
                into(slot, b.add(first, T.I64(w), flags=["nsw", "nuw"]))

        self.k.loop(rounds, one_round, name="fold")
        done = b.shl(rounds, log_ways)
        self.k.loop(
            b.sub(count, done), lambda j: into(self.slot, b.add(done, j, flags=["nsw"])), name="foldrest"
        )
        acc = b.load(self.slot)
        for slot in self.extra:
            acc = self.combine(acc, b.load(slot))
        b.store(acc, self.slot)

    def tail(self, count: ir.Value, element: Callable[[ir.Value], ir.Value]) -> None:
        """Combine ``element(t)`` into lane ``t`` for ``t < count <= FOLD_LANES`` (elements
        after the last whole block, which starts at a multiple of FOLD_LANES). The lanes go
        through a stack array for this (one vector store and load, scalar updates between):
        a vector element at a variable index would cost a spill per element."""
        b = self.k.b
        b.store(b.load(self.slot), self.spill)
        lanes = b.bitcast(self.spill, self.vty.element.as_pointer())

        def one(t: ir.Value) -> None:
            at = b.gep(lanes, [t], inbounds=True)  # t < FOLD_LANES
            b.store(self.combine(b.load(at), element(t)), at)

        self.k.loop(count, one, name="foldtail")
        b.store(b.load(self.spill), self.slot)

    def row(
        self, n: ir.Value, block: Callable[[ir.Value], ir.Value], element: Callable[[ir.Value], ir.Value]
    ) -> None:
        """The elements ``[0, n)`` (``n >= 0``): ``block(j)`` loads ``[j, j + FOLD_LANES)``,
        ``element(j)`` element ``j``."""
        b = self.k.b
        count = b.lshr(n, T.I64(_LOG_LANES))
        self.blocks(count, block)
        done = b.shl(count, T.I64(_LOG_LANES))
        self.tail(b.sub(n, done), lambda t: element(b.add(done, t, flags=["nsw"])))

    def result(self) -> ir.Value:
        """The lanes combined by the fixed tree: the reduction's value."""
        b = self.k.b
        v = b.load(self.slot)
        width = FOLD_LANES
        while width > 1:
            half = width // 2
            undef = ir.Constant(ir.VectorType(self.vty.element, width), ir.Undefined)
            lo = b.shuffle_vector(v, undef, ir.Constant(ir.VectorType(T.I32, half), list(range(half))))
            hi = b.shuffle_vector(v, undef, ir.Constant(ir.VectorType(T.I32, half), list(range(half, width))))
            v = self.combine(lo, hi)
            width = half
        return b.extract_element(v, T.I32(0))


def _contiguous_strides(shape: Sequence[sym.Dim]) -> list[sym.Dim]:
    out: list[sym.Dim] = []
    acc: sym.Dim = 1
    for d in reversed(shape):
        out.append(acc)
        acc = acc * d  # type: ignore[operator]
    return list(reversed(out))


def emit_fused(k: Kernel, attrs: dict[str, Any], inputs: Sequence[Arg], out: Arg) -> None:
    """The loop nest of a Fused node's attrs (graphc/ops/fused_ops.py states their meaning).

    Adjacent iteration axes that every operand walks as one (contiguous in each input that
    runs along them, stretched in each that does not, reduced or kept together) are merged
    first, so a dense elementwise op is one flat loop and the innermost loop reads with
    constant strides (0 or 1): that is the loop LLVM vectorises. A reduction accumulates
    into the output in iteration order (one fixed order per element, whatever the vector
    width or thread count); when the innermost axis is reduced, or the accumulator's dtype
    is not the output's, the output's axes go outermost and each element accumulates in a
    register, or, when the innermost axis is the only one reduced, in :class:`LaneFold`'s
    vector lanes (its fixed order) from terms staged a chunk at a time."""
    expr: S.SExpr = attrs["expr"]
    shape = tuple(attrs["shape"])
    rank = len(shape)
    red = fused_ops.has_reduction(attrs)
    raxes = set(attrs["reduce_axes"]) if red else set()
    # Each input's element stride along each iteration axis (0: stretched).
    in_strides: list[list[sym.Dim]] = []
    for arg, bc in zip(inputs, attrs["broadcast"]):
        st = _contiguous_strides(arg.shape)
        row: list[sym.Dim] = [0] * rank
        for ia, ax in enumerate(bc):
            if ax is not None:
                row[ax] = st[ia]
        in_strides.append(row)
    kept = [a for a in range(rank) if a not in raxes]
    out_st_kept = _contiguous_strides([shape[a] for a in kept])
    out_strides: list[sym.Dim] = [0] * rank
    for a, s in zip(kept, out_st_kept):
        out_strides[a] = s
    # Merge adjacent axes.
    groups: list[list[int]] = []
    for a in range(rank):
        if groups:
            prev = groups[-1][-1]
            ok = (prev in raxes) == (a in raxes)
            for row in [*in_strides, out_strides]:
                if not ok:
                    break
                if row[prev] == 0 and row[a] == 0:
                    continue
                if row[prev] != row[a] * shape[a]:  # type: ignore[operator]
                    ok = False
            if ok and shape[a] != 1:
                groups[-1].append(a)
                continue
            if shape[a] == 1:
                continue  # a size-1 axis adds nothing to any offset
        groups.append([a])
    extents = [sym.product([shape[a] for a in g]) for g in groups]
    g_in = [[row[g[-1]] for g in groups] for row in in_strides]
    g_out = [out_strides[g[-1]] for g in groups]
    g_red = [g[-1] in raxes for g in groups]
    b = k.b
    out_dtype = np.dtype(attrs["dtype"].np)
    # A body with a transcendental is long dependency chains: interleaved vector iterations.
    il = _INTERLEAVE if any(e.op in scalars.TRANSCENDENTALS for e in S.postorder(expr)) else 0

    def element(offsets: list[ir.Value]) -> ir.Value:
        return scalars.render(b, expr, lambda i: k.load(inputs[i], offsets[i]))

    def offsets_of(idx: list[ir.Value], strides_per_group: list[list[sym.Dim]]) -> list[ir.Value]:
        offs = []
        for row in strides_per_group:
            off: ir.Value = T.I64(0)
            for i, st in zip(idx, row):
                if st == 0:
                    continue
                term = i if st == 1 else b.mul(i, k.dim(st), flags=["nsw"])
                off = (
                    term
                    if (isinstance(off, ir.Constant) and off.constant == 0)
                    else b.add(off, term, flags=["nsw"])
                )
            offs.append(off)
        return offs

    if not red:

        def body(idx: list[ir.Value]) -> None:
            offs = offsets_of(idx, [*g_in, g_out])
            k.store(out, offs[-1], element(offs[:-1]))

        k.loop_nest([k.dim(e) for e in extents], body, split_cost=k.dim(sym.product(shape)), interleave=il)
        return

    acc_dtype = np.dtype(attrs["accumulator_dtype"].np)
    combiner = attrs["combiner"]
    identity = T.constant(acc_dtype, attrs["identity"].attr)
    expr_dtype = np.dtype(expr.dtype)

    def combine(acc: ir.Value, x: ir.Value) -> ir.Value:
        x = scalars.cast(b, x, expr_dtype, acc_dtype)
        return scalars.combine(b, combiner, acc_dtype, acc, x)

    def finish(acc: ir.Value) -> ir.Value:
        if "count" in attrs:
            acc = _mean(b, acc, acc_dtype, k.dim(attrs["count"]))
        return scalars.cast(b, acc, acc_dtype, out_dtype)

    n_out = k.dim(sym.product([shape[a] for a in kept]))
    register = (
        bool(g_red and g_red[-1]) or acc_dtype != out_dtype or "count" in attrs and acc_dtype != out_dtype
    )
    if not register:
        # Natural order, accumulating in the output (which has the accumulator's dtype).
        k.loop(n_out, lambda i: k.store(out, i, identity), name="init")

        def body(idx: list[ir.Value]) -> None:
            offs = offsets_of(idx, [*g_in, g_out])
            o = offs[-1]
            k.store(out, o, combine(k.load(out, o), element(offs[:-1])))

        k.loop_nest([k.dim(e) for e in extents], body)
        if "count" in attrs:
            k.loop(n_out, lambda i: k.store(out, i, finish(k.load(out, i))), name="mean")
        return
    # Output axes outermost, the reduced ones inside, a register accumulator per element.
    # A float sum adds in float64 there and rounds once (an order-fixed sequential float32
    # sum of many terms drifts; NumPy's pairwise sum does not): at least as accurate as
    # the reference, the same on every machine, and the same signed zeros, infinities and
    # NaNs as the table's.
    outer = [g for g, r in enumerate(g_red) if not r]
    inner = [g for g, r in enumerate(g_red) if r]
    narrow = acc_dtype  # the dtype each term is rounded to before it is accumulated
    if combiner == "add" and acc_dtype == np.float32 and out_dtype == np.float32:
        wide = np.dtype(np.float64)
        narrow = acc_dtype
        identity = T.constant(wide, attrs["identity"].attr)
        acc_dtype = wide

        def combine(acc: ir.Value, x: ir.Value) -> ir.Value:  # noqa: F811  (the wide form)
            x = scalars.cast(b, scalars.cast(b, x, expr_dtype, narrow), narrow, wide)
            return scalars.combine(b, "add", wide, acc, x)

    # The innermost axis reduced alone (a row reduction: sums, means, maxima over the last
    # axes) of lane-able types: the row's terms are computed a chunk at a time into a stack
    # buffer (a loop LLVM vectorises like any elementwise loop) and folded from there in
    # LaneFold's fixed order (the chunks start at multiples of FOLD_LANES, so that order
    # is the row's). Each output element's value depends only on its row.
    stage_dtype = narrow
    laned = (
        inner == [len(groups) - 1]
        and combiner in ("add", "mul", "max", "min")
        and vectorisable(acc_dtype)
        and vectorisable(stage_dtype)
        and all(row[-1] in (0, 1) for row in g_in)
    )
    acc_slot = k.alloca(T.reg_type(acc_dtype))

    def full_index(oidx: list[ir.Value], iidx: list[ir.Value]) -> list[ir.Value]:
        idx: list[ir.Value] = [T.I64(0)] * len(groups)
        for g, i in zip(outer, oidx):
            idx[g] = i
        for g, i in zip(inner, iidx):
            idx[g] = i
        return idx

    # A row of one input's contiguous elements (reduce_sum(x), reduce_max(x)) is folded from
    # the input itself: nothing to stage.
    exact = combiner in ("max", "min")  # IEEE maximum/minimum and integer max/min: any order
    leaf = expr.op == "in" and g_in[expr.attr][-1] == 1 and expr_dtype == stage_dtype
    leaf = leaf and (acc_dtype == stage_dtype or acc_dtype.kind == stage_dtype.kind == "f")

    def leaf_fold(oidx: list[ir.Value]) -> ir.Value:
        arg = inputs[expr.attr]
        base = offsets_of(full_index(oidx, [T.I64(0)]), g_in)[expr.attr]
        fold = LaneFold(k, identity, lambda a, v: scalars.combine(b, combiner, acc_dtype, a, v), exact)
        fold.row(
            k.dim(extents[-1]),
            lambda j: vector_cast(
                b, vector_load(k, arg, b.add(base, j, flags=["nsw"])), stage_dtype, acc_dtype
            ),
            lambda j: scalars.cast(b, k.load(arg, b.add(base, j, flags=["nsw"])), stage_dtype, acc_dtype),
        )
        return fold.result()

    def laned_fold(oidx: list[ir.Value]) -> ir.Value:
        if leaf:
            return leaf_fold(oidx)
        buf = k.alloca(ir.ArrayType(T.reg_type(stage_dtype), _CHUNK))
        fold = LaneFold(k, identity, lambda a, v: scalars.combine(b, combiner, acc_dtype, a, v), exact)

        def at(t: ir.Value) -> ir.Value:
            return b.gep(buf, [T.I64(0), t], inbounds=True)  # t < _CHUNK by the loops' bounds

        def staged(t: ir.Value, vec: bool) -> ir.Value:
            if vec:
                ptr = b.bitcast(at(t), ir.VectorType(T.reg_type(stage_dtype), FOLD_LANES).as_pointer())
                return vector_cast(b, b.load(ptr, align=stage_dtype.itemsize), stage_dtype, acc_dtype)
            return scalars.cast(b, b.load(at(t)), stage_dtype, acc_dtype)

        def chunk(first: ir.Value, count: ir.Value) -> None:
            def stage(t: ir.Value) -> None:
                x = element(offsets_of(full_index(oidx, [b.add(first, t, flags=["nsw"])]), g_in))
                b.store(scalars.cast(b, x, expr_dtype, stage_dtype), at(t))

            k.loop(count, stage, name="stage", interleave=il)
            fold.row(count, lambda j: staged(j, True), lambda j: staged(j, False))

        n = k.dim(extents[-1])
        log_chunk = T.I64(_CHUNK.bit_length() - 1)
        chunks = b.lshr(n, log_chunk)  # n >= 0 (the entry check)
        k.loop(chunks, lambda c: chunk(b.shl(c, log_chunk), T.I64(_CHUNK)), name="chunk")
        done = b.shl(chunks, log_chunk)
        chunk(done, b.sub(n, done))
        return fold.result()

    def body_outer(oidx: list[ir.Value]) -> None:
        if laned:
            acc = laned_fold(oidx)
        else:
            b.store(identity, acc_slot)

            def body_inner(iidx: list[ir.Value]) -> None:
                offs = offsets_of(full_index(oidx, iidx), g_in)
                b.store(combine(b.load(acc_slot), element(offs)), acc_slot)

            k.loop_nest([k.dim(extents[g]) for g in inner], body_inner)
            acc = b.load(acc_slot)
        oidx_full: list[ir.Value] = [T.I64(0)] * len(groups)
        for g, i in zip(outer, oidx):
            oidx_full[g] = i
        o = offsets_of(oidx_full, [g_out])[0]
        k.store(out, o, finish(acc))

    k.loop_nest([k.dim(extents[g]) for g in outer], body_outer, split_cost=k.dim(sym.product(shape)))


_CHUNK = 256  # a row reduction's terms staged on the stack at a time (a multiple of FOLD_LANES)
# Vector iterations interleaved in an elementwise loop whose body calls a transcendental
# (mathlib's inline polynomials): their dependency chains are longer than the reorder
# window overlaps, and LLVM's cost model leaves such a long body uninterleaved. 4 measured
# best on AVX2 (Zen 3) for tanh, x sigmoid(x), log(1 + exp(x)) and the benchmark's chain
# (10-30% faster than none; 2 and 8 less).
_INTERLEAVE = 4


def _mean(b: ir.IRBuilder, acc: ir.Value, dtype: np.dtype, count: ir.Value) -> ir.Value:
    """The accumulator divided by the count: IEEE division for floats; for integers,
    truncated toward zero, and 0 for a count of 0."""
    ty = T.reg_type(dtype)
    if dtype.kind == "f":
        return b.fdiv(acc, b.sitofp(count, ty))
    c = b.trunc(count, ty) if ty.width < 64 else count
    zero = b.icmp_signed("==", c, ir.Constant(ty, 0))
    safe = b.select(zero, ir.Constant(ty, 1), c)
    q = b.sdiv(acc, safe) if dtype.kind == "i" else b.udiv(acc, safe)
    return b.select(zero, ir.Constant(ty, 0), q)


# ---------------------------------------------------------------------------
# Views and shapes.


@lowering("Identity", "StopGradient", "Reshape", "ExpandDims", "Squeeze", "PlaceholderWithDefault")
def _view(k: Kernel) -> None:
    """The output holds the input's elements in order: nothing to do when the plan put them
    in one buffer, else a copy."""
    x, out = k.inputs[0], k.outputs[0]
    k.copy_bytes(out, x, k.size(out.shape))


@lowering("Shape")
def _shape(k: Kernel) -> None:
    out = k.outputs[0]
    for i, d in enumerate(k.node.inputs[0].shape):
        k.store(out, T.I64(i), scalars.cast(k.b, k.dim(d), np.dtype(np.int64), out.dtype))


@lowering("Size")
def _size(k: Kernel) -> None:
    out = k.outputs[0]
    k.store(out, T.I64(0), scalars.cast(k.b, k.size(k.node.inputs[0].shape), np.dtype(np.int64), out.dtype))


@lowering("Rank")
def _rank(k: Kernel) -> None:
    out = k.outputs[0]
    k.store(out, T.I64(0), T.constant(out.dtype, len(k.node.inputs[0].shape)))


@lowering("NoOp")
def _noop(k: Kernel) -> None:
    return None


@lowering("Const")
def _const(k: Kernel) -> None:
    """Never called: a constant is a buffer the executable fills from the program."""
    raise AssertionError("Const has no kernel")


# ---------------------------------------------------------------------------
# Matrix products: the BLAS.

_GEMM = {
    np.dtype(np.float32): ("scipy_cblas_sgemm", T.F32),
    np.dtype(np.float64): ("scipy_cblas_dgemm", T.F64),
}
_GEMV = {np.dtype(np.float32): "scipy_cblas_sgemv", np.dtype(np.float64): "scipy_cblas_dgemv"}
CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112
_INT32_MAX = 2**31 - 1


@lowering("MatMul")
def _matmul(k: Kernel) -> None:
    """``a @ b`` over broadcast batch dims, each matrix product one BLAS call (float32,
    float64; other dtypes as a generated triple loop): gemm, or gemv when the product has
    one row or one column (a batch-1 dense layer: gemm would first pack the whole weight
    matrix, gemv streams it once; the operands' transposes become gemv's own). Sizes above
    the 32-bit BLAS's range fail the run with an error instead of overflowing."""
    a, bb = k.inputs
    out = k.outputs[0]
    ta = bool(k.attrs.get("transpose_a", False))
    tb = bool(k.attrs.get("transpose_b", False))
    m = a.shape[-1] if ta else a.shape[-2]
    kk = a.shape[-2] if ta else a.shape[-1]
    n = bb.shape[-2] if tb else bb.shape[-1]
    batch_out = out.shape[:-2]
    nb = len(batch_out)
    b = k.b

    def batch_strides(arg: Arg) -> list[sym.Dim]:
        mat = arg.shape[-1] * arg.shape[-2]  # type: ignore[operator]
        bshape = arg.shape[:-2]
        st = [s * mat for s in _contiguous_strides(bshape)]  # type: ignore[operator]
        row: list[sym.Dim] = [0] * nb
        off = nb - len(bshape)
        for i, d in enumerate(bshape):
            if not (d == 1 and batch_out[off + i] != 1):
                row[off + i] = st[i]
        return row

    sa, sb = batch_strides(a), batch_strides(bb)
    so = [s * (m * n) for s in _contiguous_strides(batch_out)]  # type: ignore[operator]
    M, N, K = k.dim(m), k.dim(n), k.dim(kk)
    gemm = _GEMM.get(a.dtype)

    def offset(idx: list[ir.Value], strides: list[sym.Dim]) -> ir.Value:
        off: ir.Value = T.I64(0)
        for i, s in zip(idx, strides):
            if s != 0:
                off = b.add(off, b.mul(i, k.dim(s)))
        return off

    if gemm is not None:
        too_big = b.or_(
            b.or_(b.icmp_signed(">", M, T.I64(_INT32_MAX)), b.icmp_signed(">", N, T.I64(_INT32_MAX))),
            b.icmp_signed(">", K, T.I64(_INT32_MAX)),
        )
        k.fail_if(too_big, 3, b.select(b.icmp_signed(">", M, N), M, N), T.I64(_INT32_MAX))
    # K == 0: the product is all zeros (the BLAS refuses a leading dimension of 0).
    n_out = k.size(out.shape)
    empty = b.icmp_signed("==", K, T.I64(0))
    with b.if_then(empty):
        zero = T.constant(out.dtype, 0)
        k.loop(n_out, lambda i: k.store(out, i, zero), name="zero")
    nonempty = b.and_(b.icmp_signed(">", b.mul(M, N), T.I64(0)), b.icmp_signed(">", K, T.I64(0)))

    def one(idx: list[ir.Value]) -> None:
        pa = k.b.gep(a.ptr, [offset(idx, sa)])
        pb = k.b.gep(bb.ptr, [offset(idx, sb)])
        pc = k.b.gep(out.ptr, [offset(idx, so)])
        if gemm is not None:
            name, fty = gemm
            i32 = T.I32
            fn = k.extern(
                name,
                T.VOID,
                [
                    i32,
                    i32,
                    i32,
                    i32,
                    i32,
                    i32,
                    fty,
                    a.ptr.type,
                    i32,
                    bb.ptr.type,
                    i32,
                    fty,
                    out.ptr.type,
                    i32,
                ],
            )
            lda = b.trunc(M if ta else K, i32)
            ldb = b.trunc(K if tb else N, i32)
            with b.if_else(b.or_(b.icmp_signed("==", M, T.I64(1)), b.icmp_signed("==", N, T.I64(1)))) as (
                vector,
                matrix,
            ):
                with vector:
                    _gemv(k, a, bb, out, pa, pb, pc, M, N, K, ta, tb)
                with matrix:
                    _gemm_call(k, fn, pa, pb, pc, M, N, K, lda, ldb, ta, tb, fty)
        else:
            _naive_matmul(k, a, bb, out, pa, pb, pc, M, N, K, ta, tb)

    with b.if_then(nonempty):
        k.loop_nest([k.dim(d) for d in batch_out], one)


def _gemm_call(
    k: Kernel,
    fn: ir.Function,
    pa: ir.Value,
    pb: ir.Value,
    pc: ir.Value,
    M: ir.Value,
    N: ir.Value,
    K: ir.Value,
    lda: ir.Value,
    ldb: ir.Value,
    ta: bool,
    tb: bool,
    fty: ir.Type,
    ldc: ir.Value | None = None,
    beta: float = 0.0,
) -> None:
    """``cblas_?gemm`` (row-major): ``c[M, N] = op(a) @ op(b) + beta * c``; ``lda``/``ldb``
    are i32, ``ldc`` (i64) defaults to ``N``."""
    b = k.b
    i32 = T.I32
    b.call(
        fn,
        [
            i32(CBLAS_ROW_MAJOR),
            i32(CBLAS_TRANS if ta else CBLAS_NO_TRANS),
            i32(CBLAS_TRANS if tb else CBLAS_NO_TRANS),
            b.trunc(M, i32),
            b.trunc(N, i32),
            b.trunc(K, i32),
            ir.Constant(fty, 1.0),
            pa,
            lda,
            pb,
            ldb,
            ir.Constant(fty, beta),
            pc,
            b.trunc(N if ldc is None else ldc, i32),
        ],
    )


def _gemv(
    k: Kernel,
    a: Arg,
    bb: Arg,
    out: Arg,
    pa: ir.Value,
    pb: ir.Value,
    pc: ir.Value,
    M: ir.Value,
    N: ir.Value,
    K: ir.Value,
    ta: bool,
    tb: bool,
) -> None:
    """A product with one row (M == 1) or one column (N == 1) as ``cblas_?gemv`` (row-major):
    the other operand is the matrix, stored as it is (its transpose flag becomes gemv's),
    and the vector and the result are contiguous (stride 1) whatever the flags, since a
    [1, K] or [K, 1] operand is K consecutive elements. beta = 0: the result's old contents
    are never read (the BLAS standard)."""
    b = k.b
    i32 = T.I32
    fty = T.reg_type(out.dtype)
    fn = k.extern(
        _GEMV[a.dtype],
        T.VOID,
        [i32, i32, i32, i32, fty, a.ptr.type, i32, a.ptr.type, i32, fty, out.ptr.type, i32],
    )

    def call(matrix: ir.Value, rows: ir.Value, cols: ir.Value, trans: bool, x: ir.Value) -> None:
        b.call(
            fn,
            [
                i32(CBLAS_ROW_MAJOR),
                i32(CBLAS_TRANS if trans else CBLAS_NO_TRANS),
                b.trunc(rows, i32),
                b.trunc(cols, i32),
                ir.Constant(fty, 1.0),
                matrix,
                b.trunc(cols, i32),  # the stored matrix's row stride (>= 1: K > 0, M * N > 0)
                x,
                i32(1),
                ir.Constant(fty, 0.0),
                pc,
                i32(1),
            ],
        )

    with b.if_else(b.icmp_signed("==", M, T.I64(1))) as (row, column):
        with row:  # c[n] = sum_k a[k] op(b)[k, n]: b stored [N, K] (tb) or [K, N]
            call(pb, N if tb else K, K if tb else N, not tb, pa)
        with column:  # c[m] = sum_k op(a)[m, k] b[k]: a stored [K, M] (ta) or [M, K]
            call(pa, K if ta else M, M if ta else K, ta, pb)


def _naive_matmul(
    k: Kernel,
    a: Arg,
    bb: Arg,
    out: Arg,
    pa: ir.Value,
    pb: ir.Value,
    pc: ir.Value,
    M: ir.Value,
    N: ir.Value,
    K: ir.Value,
    ta: bool,
    tb: bool,
) -> None:
    """c[i, j] = sum_p a[i, p] * b[p, j] in the dtype's arithmetic (integers wrap)."""
    b = k.b
    dt = out.dtype
    acc = k.alloca(T.reg_type(dt))
    zero = T.constant(dt, 0)
    add = b.fadd if dt.kind == "f" else b.add
    mul = b.fmul if dt.kind == "f" else b.mul

    def ij(i: ir.Value) -> None:
        def j_body(j: ir.Value) -> None:
            b.store(zero, acc)

            def p_body(p: ir.Value) -> None:
                ia = b.add(b.mul(p, M), i) if ta else b.add(b.mul(i, K), p)
                ib = b.add(b.mul(j, K), p) if tb else b.add(b.mul(p, N), j)
                x = T.load(b, b.gep(pa, [ia]), dt)
                y = T.load(b, b.gep(pb, [ib]), dt)
                b.store(add(b.load(acc), mul(x, y)), acc)

            k.loop(K, p_body, name="p")
            T.store(b, b.load(acc), b.gep(pc, [b.add(b.mul(i, N), j)]), dt)

        k.loop(N, j_body, name="j")

    k.loop(M, ij, name="m")


# The rest of the table, one module per family of ops; each registers with @lowering.
from graphc_llvm import (  # noqa: E402,F401  (registration)
    lower_array,
    lower_control,  # noqa: E402,F401  (registration: If, While)
    lower_conv,
    lower_nn,
)
