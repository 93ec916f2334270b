"""Data-movement and index ops for the LLVM backend: broadcasts and their sums, fills, one-hot,
transposes, joins and splits, slices and their gradients, pads, tiles, reverses, gathers and
scatters, ranges, scans, arg-extrema, boolean reductions, in-top-k and top-k.

Each lowering follows its op's NumPy reference (``graphc.registry.get(op).reference``):
the same dtype, shape and edge cases. Sizes are read from the node's shapes (ints or
symbolic dims evaluated at run time), never specialised. Memory safety comes first: every
index a kernel computes is in range by construction (a box of extents read with the
strides of a dense array that holds it), or is checked with ``Kernel.fail_if`` before the
load or store that uses it. Indices read from data (gathers, scatters) fail with code 1
(TF1's ``indices[...] = v is not in [0, d)``, an InvalidArgumentError); sizes that the
op's shape rule could not prove (a symbolic dim that must equal another) are checked at
the kernel's entry and fail with code 2.

Most of these ops move a box of elements between two dense arrays with an affine index
map (:func:`affine_copy`): adjacent axes that both arrays walk contiguously are merged,
so a concat or a slice along the first axis is one flat loop per piece.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from graphc import scalar as S
from graphc import symbolic as sym
from graphc.ops import fused_ops
from graphc.passes.fuse import reduce_axes
from graphc_llvm import scalars
from graphc_llvm import types as T
from graphc_llvm.codegen import Arg, Kernel, Unsupported, size_generic
from graphc_llvm.lowerings import emit_fused, lowering

# Failure codes (graphc_llvm.codegen.ERROR_MESSAGES).
BAD_INDEX = 1  # an index read from data: "indices[{value}] is not in [0, {bound})"
EMPTY_AXIS = 8  # an index reduction over an empty axis: "Reduction axis {value} is empty"
BAD_ND_INDEX = 7  # an entry of a gather_nd/scatter_nd index tuple: "... does not index into ..."
BAD_SIZE = 2  # a size the shape rule could not prove: "index {value} is out of range [0, {bound})"

I64 = np.dtype(np.int64)

Combine = Callable[[ir.Value, ir.Value], ir.Value]


# ---------------------------------------------------------------------------
# Helpers.


def dense_strides(shape: Sequence[sym.Dim]) -> list[sym.Dim]:
    """Row-major element strides of a dense array of ``shape``, as dim formulas."""
    out: list[sym.Dim] = []
    acc: sym.Dim = 1
    for d in reversed(shape):
        out.append(acc)
        acc = acc * d  # type: ignore[operator]
    return list(reversed(out))


def _axis(axis: int, rank: int) -> int:
    """A (possibly negative) axis as a non-negative one (the shape rule has range-checked it)."""
    return axis + rank if axis < 0 else axis


def _to_i64(b: ir.IRBuilder, v: ir.Value, dtype: np.dtype) -> ir.Value:
    """An integer element as i64 (sign- or zero-extended by its dtype)."""
    return scalars.cast(b, v, np.dtype(dtype), I64)


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _smax(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def _check_equal(k: Kernel, got: sym.Dim, want: ir.Value) -> None:
    """Fail (code 2) unless the dim formula ``got`` equals the run-time size ``want``."""
    g = k.dim(got)
    k.fail_if(k.b.icmp_signed("!=", g, want), BAD_SIZE, g, want)


def _same_dims(k: Kernel, got: Sequence[sym.Dim], want: Sequence[sym.Dim]) -> None:
    """Check (code 2) that two shapes agree axis by axis: the shape rules make them equal,
    and a kernel that relies on it to stay in bounds says so at run time (formulas that
    are the same expression cost nothing)."""
    if len(got) != len(want):
        raise Unsupported(f"rank {len(got)} where {len(want)} is expected")
    for g, w in zip(got, want):
        if g != w:
            _check_equal(k, g, k.dim(w))


def _offset(
    k: Kernel, base: ir.Value, idx: Sequence[ir.Value], steps: Sequence[sym.Dim | ir.Value]
) -> ir.Value:
    """``base + sum(idx[a] * steps[a])`` (a step is a dim formula or an i64 value)."""
    b = k.b
    off = base
    for i, st in zip(idx, steps):
        if isinstance(st, int):
            if st == 0:
                continue
            term = i if st == 1 else b.mul(i, T.I64(st))
        elif isinstance(st, ir.Value):
            term = b.mul(i, st)
        else:
            term = b.mul(i, k.dim(st))
        off = term if isinstance(off, ir.Constant) and off.constant == 0 else b.add(off, term)
    return off


def affine_copy(
    k: Kernel,
    extents: Sequence[sym.Dim],
    dst: Arg,
    dst_base: ir.Value,
    dst_steps: Sequence[sym.Dim],
    src: Arg,
    src_base: ir.Value,
    src_steps: Sequence[sym.Dim],
    combine: Combine | None = None,
) -> None:
    """For every index ``i`` of the box ``extents``: ``dst[dst_base + i . dst_steps] =
    src[src_base + i . src_steps]`` (or ``combine(dst[...], src[...])``). The caller proves
    that every such offset is inside each array. Size-1 axes are dropped and adjacent axes
    that both arrays walk as one are merged, so the innermost loop is as long as it can be."""
    axes: list[tuple[sym.Dim, sym.Dim, sym.Dim]] = []
    for e, d, s in zip(extents, dst_steps, src_steps, strict=True):
        if isinstance(e, int) and e == 1:
            continue
        if axes:
            pe, pd, ps = axes[-1]
            if pd == d * e and ps == s * e:  # type: ignore[operator]
                axes[-1] = (pe * e, d, s)  # type: ignore[operator]
                continue
        axes.append((e, d, s))
    b = k.b
    if combine is None and src.dtype == dst.dtype and src.dtype.itemsize in _TILE_LANES:
        # A transposing move (the source's contiguous axis is not the destination's): in
        # square tiles transposed in registers, the edges element by element.
        q = next((a for a in range(len(axes) - 1) if _unit(axes[a][2])), None)
        if q is not None and len(axes) >= 2 and _unit(axes[-1][1]) and not _unit(axes[-1][2]):
            _tiled_transpose(k, axes, q, dst, dst_base, src, src_base)
            return

    def body(idx: list[ir.Value]) -> None:
        do = _offset(k, dst_base, idx, [a[1] for a in axes])
        so = _offset(k, src_base, idx, [a[2] for a in axes])
        if combine is None:
            # Elements are moved as they are in memory (a bool stays a byte).
            b.store(b.load(b.gep(src.ptr, [so], inbounds=True)), b.gep(dst.ptr, [do], inbounds=True))
        else:
            k.store(dst, do, combine(k.load(dst, do), k.load(src, so)))

    k.loop_nest([k.dim(a[0]) for a in axes], body)


def _unit(step: sym.Dim | ir.Value) -> bool:
    """A step known to be 1 at compile time."""
    return not isinstance(step, ir.Value) and step == 1


# Tile side (elements) of a transposing move, by element size: one 64-byte line a row.
_TILE_LANES = {4: 16, 8: 8}


def _transpose_in_registers(b: ir.IRBuilder, rows: list[ir.Value]) -> list[ir.Value]:
    """The transpose of the square matrix whose rows are the vectors ``rows`` (n of n lanes,
    n a power of two): log2(n) rounds that swap the off-diagonal h x h blocks of every 2h x 2h
    block (h = n/2, ..., 1), each a two-vector shuffle per output vector."""
    n = len(rows)
    m = list(rows)
    h = n // 2
    while h >= 1:
        lo = [i if not i & h else n + i - h for i in range(n)]
        hi = [i + h if not i & h else n + i for i in range(n)]
        for t in range(n):
            if t & h:
                continue
            u, v = m[t], m[t + h]
            m[t] = b.shuffle_vector(u, v, ir.Constant(ir.VectorType(T.I32, n), lo))
            m[t + h] = b.shuffle_vector(u, v, ir.Constant(ir.VectorType(T.I32, n), hi))
        h //= 2
    return m


def _tiled_transpose(
    k: Kernel,
    axes: Sequence[tuple[sym.Dim, sym.Dim | ir.Value, sym.Dim | ir.Value]],
    q: int,
    dst: Arg,
    dst_base: ir.Value,
    src: Arg,
    src_base: ir.Value,
) -> None:
    """:func:`affine_copy`'s move when axis ``q`` is the source's contiguous axis and the last
    one the destination's (a transpose): for each index of the other axes, the n x n tiles of
    (q, last) are n vector loads along the source's rows, a transpose in registers and n
    vector stores along the destination's (n = _TILE_LANES: a line each); the elements past
    the last whole tile of either axis are moved one at a time. Every element is moved once,
    bit for bit (an element is moved as its bits, whatever its dtype)."""
    b = k.b
    n = _TILE_LANES[src.dtype.itemsize]
    log_n = n.bit_length() - 1
    last = len(axes) - 1
    others = [a for a in range(len(axes)) if a not in (q, last)]
    eq, el = k.dim(axes[q][0]), k.dim(axes[last][0])
    fq = b.shl(b.lshr(eq, T.I64(log_n)), T.I64(log_n))  # whole tiles end here (extents >= 0)
    fl = b.shl(b.lshr(el, T.I64(log_n)), T.I64(log_n))
    src_steps = [a[2] for a in axes]
    dst_steps = [a[1] for a in axes]
    ety = T.mem_type(src.dtype)
    vty = ir.VectorType(ety, n)

    def full(outer: list[ir.Value], iq: ir.Value, il: ir.Value) -> list[ir.Value]:
        idx: list[ir.Value] = [T.I64(0)] * len(axes)
        for a, v in zip(others, outer):
            idx[a] = v
        idx[q], idx[last] = iq, il
        return idx

    def move(outer: list[ir.Value], iq: ir.Value, il: ir.Value) -> None:
        idx = full(outer, iq, il)
        so, do = _offset(k, src_base, idx, src_steps), _offset(k, dst_base, idx, dst_steps)
        b.store(b.load(b.gep(src.ptr, [so], inbounds=True)), b.gep(dst.ptr, [do], inbounds=True))

    def per_outer(outer: list[ir.Value]) -> None:
        def tile(tq: ir.Value, tl: ir.Value) -> None:
            q0, l0 = b.shl(tq, T.I64(log_n)), b.shl(tl, T.I64(log_n))
            rows = []
            for t in range(n):
                so = _offset(k, src_base, full(outer, q0, b.add(l0, T.I64(t))), src_steps)
                ptr = b.bitcast(b.gep(src.ptr, [so], inbounds=True), vty.as_pointer())
                rows.append(b.load(ptr, align=src.dtype.itemsize))
            for t, v in enumerate(_transpose_in_registers(b, rows)):
                do = _offset(k, dst_base, full(outer, b.add(q0, T.I64(t)), l0), dst_steps)
                ptr = b.bitcast(b.gep(dst.ptr, [do], inbounds=True), vty.as_pointer())
                b.store(v, ptr, align=src.dtype.itemsize)

        k.loop_nest([b.lshr(eq, T.I64(log_n)), b.lshr(el, T.I64(log_n))], lambda t: tile(*t))
        # The rest: l past the whole tiles for q inside them, then every l for q past them.
        k.loop_nest([fq, b.sub(el, fl)], lambda t: move(outer, t[0], b.add(fl, t[1])))
        k.loop_nest([b.sub(eq, fq), el], lambda t: move(outer, b.add(fq, t[0]), t[1]))

    k.loop_nest([k.dim(axes[a][0]) for a in others], per_outer)


def _fill(k: Kernel, out: Arg, value: ir.Value) -> None:
    """Every element of ``out`` set to ``value`` (a register value of out's dtype)."""
    k.loop(k.size(out.shape), lambda i: k.store(out, i, value), name="fill")


def _zero(k: Kernel, out: Arg) -> None:
    _fill(k, out, T.constant(out.dtype, 0))


def _adder(k: Kernel, dtype: np.dtype) -> Combine:
    """The add primitive of ``dtype`` (integers wrap; bools or, as NumPy's sum cast to bool)."""
    return lambda acc, x: scalars.combine(k.b, "add", dtype, acc, x)


# ---------------------------------------------------------------------------
# Broadcasts, fills, one-hot.


@lowering("BroadcastTo")
@size_generic
def _broadcast_to(k: Kernel) -> None:
    """np.broadcast_to(x, shape): the Fused loop nest of ``in0`` over the output's shape."""
    x, out = k.inputs[0], k.outputs[0]
    attrs = fused_ops.elementwise_attrs(S.inp(0, x.dtype), k.node.outputs[0].dtype, out.shape, [x.shape])
    emit_fused(k, attrs, [x], out)


@lowering("SumToShape")
@size_generic
def _sum_to_shape(k: Kernel) -> None:
    """The reference's ``_sum_to``: sum over g's leading axes and over each axis where the
    target is 1 and g is not, in g's dtype. When every axis is known to be kept or summed,
    that is a Fused reduction; otherwise the choice is made per axis at run time."""
    g, out = k.inputs[0], k.outputs[0]
    gs, os = g.shape, out.shape
    lead = len(gs) - len(os)
    if lead < 0:
        raise Unsupported("SumToShape to a higher rank")
    axes = list(range(lead))
    dynamic = False
    for i, d in enumerate(os):
        gd = gs[lead + i]
        if d == gd:
            continue
        if isinstance(d, int) and d == 1:
            axes.append(lead + i)
        else:
            dynamic = True
    dt = k.node.outputs[0].dtype
    if not dynamic:
        if not axes:
            k.copy_bytes(out, g, k.size(gs))
            return
        attrs = fused_ops.elementwise_attrs(S.inp(0, g.dtype), dt, gs, [gs])
        attrs.update(fused_ops.reduction_attrs("Sum", dt, gs, axes, False))
        emit_fused(k, attrs, [g], out)
        return
    # Per axis at run time: the target's dim is 1 (summed: step 0) or g's (kept).
    b = k.b
    ost = k.strides(os)
    steps: list[ir.Value] = [T.I64(0)] * lead
    for i, d in enumerate(os):
        od, gd = k.dim(d), k.dim(gs[lead + i])
        one = b.icmp_signed("==", od, T.I64(1))
        k.fail_if(b.and_(b.not_(one), b.icmp_signed("!=", od, gd)), BAD_SIZE, od, gd)
        steps.append(b.select(one, T.I64(0), ost[i]))
    _zero(k, out)
    add = _adder(k, out.dtype)
    gst = k.strides(gs)

    def body(idx: list[ir.Value]) -> None:
        o = _offset(k, T.I64(0), idx, steps)
        k.store(out, o, add(k.load(out, o), k.load(g, _offset(k, T.I64(0), idx, gst))))

    k.loop_nest([k.dim(d) for d in gs], body)


@lowering("Fill")
def _fill_op(k: Kernel) -> None:
    """np.full(dims, value): the output's shape is the dims input's value (checked at entry)."""
    _fill(k, k.outputs[0], k.load(k.inputs[1], T.I64(0)))


@lowering("OneHot")
def _one_hot(k: Kernel) -> None:
    """on_value where the index equals the position along the new axis, else off_value; an
    index outside [0, depth) (negative included) gives a line of off_value."""
    idx, out = k.inputs[0], k.outputs[0]
    a = k.attrs
    rank = idx.rank
    ax = rank if a["axis"] == -1 else a["axis"]
    depth = int(a["depth"])
    on = T.constant(out.dtype, a["on_value"])
    off = T.constant(out.dtype, a["off_value"])
    outer = k.dim(sym.product(idx.shape[:ax]))
    inner = k.dim(sym.product(idx.shape[ax:]))
    b = k.b

    def body(ix: list[ir.Value]) -> None:
        o, j, i = ix
        v = _to_i64(b, k.load(idx, b.add(b.mul(o, inner), i)), idx.dtype)
        pos = b.add(b.mul(b.add(b.mul(o, T.I64(depth)), j), inner), i)
        k.store(out, pos, b.select(b.icmp_signed("==", v, j), on, off))

    k.loop_nest([outer, T.I64(depth), inner], body)


@lowering("Range")
def _range(k: Kernel) -> None:
    """start + delta * i for i < n (n: the output's dim): integers in int64 arithmetic then
    wrapped to the dtype, floats in float64 then rounded, as the reference computes."""
    out = k.outputs[0]
    a = k.attrs
    b = k.b
    dt = out.dtype
    if a["start"] is not None:
        if dt.kind == "f":
            start, delta = ir.Constant(T.F64, float(a["start"])), ir.Constant(T.F64, float(a["delta"]))
        else:
            start, delta = T.I64(int(a["start"])), T.I64(int(a["delta"]))
    else:
        vals = [k.load(x, T.I64(0)) for x in (k.inputs[0], k.inputs[2])]
        wide = np.dtype(np.float64) if dt.kind == "f" else I64
        start, delta = (scalars.cast(b, v, k.inputs[0].dtype, wide) for v in vals)

    def body(i: ir.Value) -> None:
        if dt.kind == "f":
            v = b.fadd(start, b.fmul(delta, b.sitofp(i, T.F64)))
            k.store(out, i, scalars.cast(b, v, np.dtype(np.float64), dt))
        else:
            k.store(out, i, scalars.cast(b, b.add(start, b.mul(delta, i)), I64, dt))

    k.loop(k.dim(out.shape[0]), body)


# ---------------------------------------------------------------------------
# Layout: transpose, joins and splits, tile, reverse.


@lowering("Transpose")
def _transpose(k: Kernel) -> None:
    """np.transpose(x, perm) (perm None reverses the axes; negative entries count from the end)."""
    x, out = k.inputs[0], k.outputs[0]
    rank = x.rank
    perm = k.attrs["perm"]
    p = list(reversed(range(rank))) if perm is None else [_axis(int(q), rank) for q in perm]
    _same_dims(k, out.shape, [x.shape[q] for q in p])
    xst = dense_strides(x.shape)
    affine_copy(k, out.shape, out, T.I64(0), dense_strides(out.shape), x, T.I64(0), [xst[q] for q in p])


@lowering("ConcatV2")
def _concat(k: Kernel) -> None:
    """np.concatenate(xs, axis): each input copied into its band of the output (the output's
    axis is the sum of the inputs', by the shape rule)."""
    out = k.outputs[0]
    ax = _axis(k.attrs["axis"], out.rank)
    ost = dense_strides(out.shape)
    at: sym.Dim = 0
    for x in k.inputs:
        _same_dims(k, x.shape[:ax] + x.shape[ax + 1 :], out.shape[:ax] + out.shape[ax + 1 :])
        at = at + x.shape[ax]  # type: ignore[operator]
    _check_equal(k, out.shape[ax], k.dim(at))
    at = 0
    for x in k.inputs:
        base = k.b.mul(k.dim(at), k.dim(ost[ax]))
        affine_copy(k, x.shape, out, base, ost, x, T.I64(0), dense_strides(x.shape))
        at = at + x.shape[ax]  # type: ignore[operator]


@lowering("Pack")
def _pack(k: Kernel) -> None:
    """np.stack(xs, axis): input i is the output's slice i along the new axis."""
    out = k.outputs[0]
    ax = _axis(k.attrs["axis"], out.rank)
    ost = dense_strides(out.shape)
    steps = ost[:ax] + ost[ax + 1 :]
    _check_equal(k, out.shape[ax], T.I64(len(k.inputs)))
    for x in k.inputs:
        _same_dims(k, x.shape, out.shape[:ax] + out.shape[ax + 1 :])
    for i, x in enumerate(k.inputs):
        base = k.b.mul(T.I64(i), k.dim(ost[ax]))
        affine_copy(k, x.shape, out, base, steps, x, T.I64(0), dense_strides(x.shape))


@lowering("Unpack")
def _unpack(k: Kernel) -> None:
    """np.take(x, i, axis) for each output i (the axis's size is num, by the shape rule)."""
    x = k.inputs[0]
    ax = _axis(k.attrs["axis"], x.rank)
    _check_equal(k, x.shape[ax], T.I64(len(k.outputs)))
    xst = dense_strides(x.shape)
    steps = xst[:ax] + xst[ax + 1 :]
    for out in k.outputs:
        _same_dims(k, out.shape, x.shape[:ax] + x.shape[ax + 1 :])
    for i, out in enumerate(k.outputs):
        base = k.b.mul(T.I64(i), k.dim(xst[ax]))
        affine_copy(k, out.shape, out, T.I64(0), dense_strides(out.shape), x, base, steps)


@lowering("Split", "SplitV")
def _split(k: Kernel) -> None:
    """np.split at the cumulative sizes of the outputs along the axis. Each piece's size is
    checked to be non-negative and to end inside the input (a symbolic -1 piece is a floor
    division the shape rule could not prove exact) before anything is copied."""
    x = k.inputs[0]
    ax = _axis(k.attrs["axis"], x.rank)
    xst = dense_strides(x.shape)
    b = k.b
    d = k.dim(x.shape[ax])
    at: ir.Value = T.I64(0)
    starts = []
    for out in k.outputs:
        _same_dims(k, out.shape[:ax] + out.shape[ax + 1 :], x.shape[:ax] + x.shape[ax + 1 :])
        n = k.dim(out.shape[ax])
        end = b.add(at, n)
        k.fail_if(
            b.or_(b.icmp_signed("<", n, T.I64(0)), b.icmp_signed(">", end, d)),
            BAD_SIZE,
            end,
            b.add(d, T.I64(1)),
        )
        starts.append(at)
        at = end
    _check_equal(k, x.shape[ax], at)
    for out, s in zip(k.outputs, starts):
        affine_copy(k, out.shape, out, T.I64(0), dense_strides(out.shape), x, b.mul(s, k.dim(xst[ax])), xst)


@lowering("Tile")
def _tile(k: Kernel) -> None:
    """np.tile(x, multiples): the output viewed as (m0, d0, m1, d1, ...) is x stretched along
    every m axis. Multiples given as an input are read from it and checked against the
    output's dims (m * d == the output's dim, m >= 0)."""
    x, out = k.inputs[0], k.outputs[0]
    b = k.b
    mult = k.attrs["multiples"]
    if mult is not None:
        ms: list[sym.Dim] = [int(m) for m in mult]
    else:
        ms = []
        for a in range(x.rank):
            m = _to_i64(b, k.load(k.inputs[1], T.I64(a)), k.inputs[1].dtype)
            want = b.mul(m, k.dim(x.shape[a]))
            od = k.dim(out.shape[a])
            k.fail_if(
                b.or_(b.icmp_signed("<", m, T.I64(0)), b.icmp_signed("!=", want, od)), BAD_SIZE, want, od
            )
            ms.append(m)  # type: ignore[arg-type]
    if mult is not None:
        for a in range(x.rank):
            _check_equal(k, out.shape[a], k.dim(x.shape[a] * ms[a]))  # type: ignore[operator]
    xst, ost = dense_strides(x.shape), dense_strides(out.shape)
    extents: list[Any] = []
    dst: list[Any] = []
    src: list[Any] = []
    for a in range(x.rank):
        extents += [ms[a], x.shape[a]]
        dst += [x.shape[a] * ost[a], ost[a]]  # type: ignore[operator]
        src += [0, xst[a]]
    if mult is not None:
        affine_copy(k, extents, out, T.I64(0), dst, x, T.I64(0), src)
        return
    # Run-time multiples: the same box with its m extents as values.
    ext_v = [m if isinstance(m, ir.Value) else k.dim(m) for m in extents]

    def body(idx: list[ir.Value]) -> None:
        do = _offset(k, T.I64(0), idx, dst)
        so = _offset(k, T.I64(0), idx, src)
        b.store(b.load(b.gep(x.ptr, [so], inbounds=True)), b.gep(out.ptr, [do], inbounds=True))

    k.loop_nest(ext_v, body)


@lowering("ReverseV2")
def _reverse(k: Kernel) -> None:
    """np.flip(x, axes): a reversed axis is read from its last element down."""
    x, out = k.inputs[0], k.outputs[0]
    rank = x.rank
    axes = {_axis(int(a), rank) for a in k.attrs["axis"]}
    _same_dims(k, out.shape, x.shape)
    xst = dense_strides(x.shape)
    base: sym.Dim = 0
    steps: list[sym.Dim] = []
    for a in range(rank):
        if a in axes:
            base = base + (x.shape[a] - 1) * xst[a]  # type: ignore[operator]
            steps.append(-1 * xst[a])  # type: ignore[operator]
        else:
            steps.append(xst[a])
    # An empty axis leaves nothing to read: the (negative) base is never used.
    affine_copy(k, out.shape, out, T.I64(0), dense_strides(out.shape), x, k.dim(base), steps)


# ---------------------------------------------------------------------------
# Slices.


def _expand_spec(spec: Sequence[tuple[Any, ...]], ndim: int) -> list[tuple[Any, ...]]:
    """The spec with its ellipsis (or the implicit trailing one) written out as full slices."""
    consumed = sum(1 for it in spec if it[0] in ("int", "slice"))
    if consumed > ndim:
        raise Unsupported(f"a slice spec for rank {consumed} on rank {ndim}")
    full = [("slice", None, None, None)] * (ndim - consumed)
    items = list(spec)
    for i, it in enumerate(items):
        if it[0] == "ellipsis":
            return items[:i] + full + items[i + 1 :]
    return items + full


def _py_slice(
    b: ir.IRBuilder, d: ir.Value, start: int | None, stop: int | None, step: int | None
) -> tuple[ir.Value, ir.Value]:
    """(first index, length) of ``range(d)[start:stop:step]`` at run time (Python's rules)."""
    step = 1 if step is None else step
    zero, minus_one = T.I64(0), T.I64(-1)

    def bound(v: int | None, default: ir.Value, lo: ir.Value, hi: ir.Value) -> ir.Value:
        if v is None:
            return default
        x = T.I64(v) if v >= 0 else b.add(d, T.I64(v))
        return _smin(b, _smax(b, x, lo), hi)

    if step > 0:
        first = bound(start, zero, zero, d)
        last = bound(stop, d, zero, d)
        span = b.sub(last, first)
        n = b.sdiv(b.add(span, T.I64(step - 1)), T.I64(step))
    else:
        top = b.sub(d, T.I64(1))
        first = bound(start, top, minus_one, top)
        last = bound(stop, minus_one, minus_one, top)
        span = b.sub(first, last)
        n = b.sdiv(b.add(span, T.I64(-step - 1)), T.I64(-step))
    return first, _smax(b, n, zero)


def _spec_plan(
    k: Kernel, spec: Sequence[tuple[Any, ...]], dims: Sequence[sym.Dim]
) -> tuple[ir.Value, list[tuple[sym.Dim, ir.Value]]]:
    """A basic index (a StridedSlice spec) on a dense array of ``dims``: the element offset
    of the slice's first element, and for each axis of the slice its step in the array
    (elements) and its run-time length. An int item out of ``[-d, d)`` fails (code 2)."""
    b = k.b
    st = dense_strides(dims)
    base: ir.Value = T.I64(0)
    axes: list[tuple[sym.Dim, ir.Value]] = []
    a = 0
    for it in _expand_spec(spec, len(dims)):
        if it[0] == "newaxis":
            axes.append((0, T.I64(1)))
            continue
        d = k.dim(dims[a])
        if it[0] == "int":
            i = int(it[1])
            idx = b.add(d, T.I64(i)) if i < 0 else T.I64(i)
            k.fail_if(b.icmp_unsigned(">=", idx, d), BAD_SIZE, T.I64(i), d)
            base = b.add(base, b.mul(idx, k.dim(st[a])))
        else:
            first, n = _py_slice(b, d, it[1], it[2], it[3])
            step = 1 if it[3] is None else int(it[3])
            base = b.add(base, b.mul(first, k.dim(st[a])))
            axes.append((step * st[a], n))  # type: ignore[operator]
        a += 1
    return base, axes


@lowering("StridedSlice")
def _strided_slice(k: Kernel) -> None:
    """x[index] for the spec's basic index; the output's dims are checked against the
    slice lengths computed at run time."""
    x, out = k.inputs[0], k.outputs[0]
    base, axes = _spec_plan(k, k.attrs["spec"], x.shape)
    if len(axes) != out.rank:
        raise Unsupported("StridedSlice output rank")
    for d, (_, n) in zip(out.shape, axes):
        _check_equal(k, d, n)
    affine_copy(k, out.shape, out, T.I64(0), dense_strides(out.shape), x, base, [s for s, _ in axes])


@lowering("StridedSliceGrad")
def _strided_slice_grad(k: Kernel) -> None:
    """Zeros of the output's shape with dy written where StridedSlice(spec) reads."""
    dy, out = k.inputs[0], k.outputs[0]
    base, axes = _spec_plan(k, k.attrs["spec"], out.shape)
    if len(axes) != dy.rank:
        raise Unsupported("StridedSliceGrad dy rank")
    for d, (_, n) in zip(dy.shape, axes):
        _check_equal(k, d, n)
    _zero(k, out)
    affine_copy(k, dy.shape, out, base, [s for s, _ in axes], dy, T.I64(0), dense_strides(dy.shape))


@lowering("Slice")
def _slice(k: Kernel) -> None:
    """x[begin : begin + size] per axis (size -1: to the end); each band is checked to lie
    inside the input."""
    x, out = k.inputs[0], k.outputs[0]
    b = k.b
    begin = [int(v) for v in k.attrs["begin"]]
    xst = dense_strides(x.shape)
    base: ir.Value = T.I64(0)
    for a, bg in enumerate(begin):
        n, d = k.dim(out.shape[a]), k.dim(x.shape[a])
        end = b.add(T.I64(bg), n)
        k.fail_if(
            b.or_(b.icmp_signed("<", n, T.I64(0)), b.icmp_signed(">", end, d)),
            BAD_SIZE,
            end,
            b.add(d, T.I64(1)),
        )
        base = b.add(base, b.mul(T.I64(bg), k.dim(xst[a])))
    affine_copy(k, out.shape, out, T.I64(0), dense_strides(out.shape), x, base, xst)


# ---------------------------------------------------------------------------
# Pads.


def _mirror_index(b: ir.IRBuilder, i: ir.Value, before: int, d: ir.Value, reflect: bool) -> ir.Value:
    """The source index of padded position ``i`` along an axis of ``d`` elements with
    ``before`` elements of padding: REFLECT mirrors about the edge elements, SYMMETRIC
    repeats them. In [0, d) once the paddings are checked against d."""
    j = b.sub(i, T.I64(before))
    low = b.sub(T.I64(0 if reflect else -1), j)  # -j or -j - 1
    high = b.sub(b.sub(b.mul(d, T.I64(2)), T.I64(2 if reflect else 1)), j)  # 2(d-1) - j or 2d - 1 - j
    j = b.select(b.icmp_signed("<", j, T.I64(0)), low, j)
    return b.select(b.icmp_signed(">=", j, d), high, j)


def _check_mirror(k: Kernel, pads: Sequence[tuple[int, int]], dims: Sequence[sym.Dim], reflect: bool) -> None:
    """REFLECT needs each padding <= d - 1, SYMMETRIC <= d (fail, code 2, otherwise)."""
    b = k.b
    for (p0, p1), dim in zip(pads, dims):
        if not (p0 or p1):
            continue
        d = k.dim(dim)
        limit = b.sub(d, T.I64(1)) if reflect else d
        worst = T.I64(max(p0, p1))
        k.fail_if(b.icmp_signed(">", worst, limit), BAD_SIZE, worst, b.add(limit, T.I64(1)))


@lowering("Pad")
def _pad(k: Kernel) -> None:
    """np.pad: CONSTANT fills with constant_values and copies x into the interior; REFLECT
    and SYMMETRIC read each output element from its mirrored source."""
    x, out = k.inputs[0], k.outputs[0]
    pads = [(int(p0), int(p1)) for p0, p1 in k.attrs["paddings"]]
    mode = k.attrs["mode"]
    _same_dims(k, out.shape, [d + p0 + p1 for d, (p0, p1) in zip(x.shape, pads)])  # type: ignore[misc]
    ost = dense_strides(out.shape)
    if mode == "CONSTANT":
        _fill(k, out, T.constant(out.dtype, k.attrs["constant_values"]))
        base = k.dim(sum((p0 * s for (p0, _), s in zip(pads, ost)), start=0))  # type: ignore[misc]
        affine_copy(k, x.shape, out, base, ost, x, T.I64(0), dense_strides(x.shape))
        return
    reflect = mode == "REFLECT"
    _check_mirror(k, pads, x.shape, reflect)
    b = k.b
    xst = k.strides(x.shape)
    dims = [k.dim(d) for d in x.shape]

    def body(idx: list[ir.Value]) -> None:
        src = [
            i if not (p0 or p1) else _mirror_index(b, i, p0, d, reflect)
            for i, (p0, p1), d in zip(idx, pads, dims)
        ]
        so = _offset(k, T.I64(0), src, xst)
        b.store(
            b.load(b.gep(x.ptr, [so], inbounds=True)),
            b.gep(out.ptr, [_offset(k, T.I64(0), idx, ost)], inbounds=True),
        )

    k.loop_nest([k.dim(d) for d in out.shape], body)


@lowering("MirrorPadGrad")
def _mirror_pad_grad(k: Kernel) -> None:
    """Each padded element of g added onto the element it copied (the transpose of the
    REFLECT/SYMMETRIC pad)."""
    g, out = k.inputs[0], k.outputs[0]
    pads = [(int(p0), int(p1)) for p0, p1 in k.attrs["paddings"]]
    reflect = k.attrs["mode"] == "REFLECT"
    _same_dims(k, g.shape, [d + p0 + p1 for d, (p0, p1) in zip(out.shape, pads)])  # type: ignore[misc]
    _check_mirror(k, pads, out.shape, reflect)
    b = k.b
    _zero(k, out)
    add = _adder(k, out.dtype)
    ost = k.strides(out.shape)
    gst = dense_strides(g.shape)
    dims = [k.dim(d) for d in out.shape]

    def body(idx: list[ir.Value]) -> None:
        dst = [
            i if not (p0 or p1) else _mirror_index(b, i, p0, d, reflect)
            for i, (p0, p1), d in zip(idx, pads, dims)
        ]
        o = _offset(k, T.I64(0), dst, ost)
        k.store(out, o, add(k.load(out, o), k.load(g, _offset(k, T.I64(0), idx, gst))))

    k.loop_nest([k.dim(d) for d in g.shape], body)


# ---------------------------------------------------------------------------
# Gathers and scatters.


def _check_indices(k: Kernel, idx: Arg, n: ir.Value, bound: ir.Value) -> None:
    """Fail (code 1) at the first of ``idx``'s ``n`` elements outside [0, bound)."""
    b = k.b

    def body(i: ir.Value) -> None:
        v = _to_i64(b, k.load(idx, i), idx.dtype)
        k.fail_if(b.icmp_unsigned(">=", v, bound), BAD_INDEX, v, bound)

    k.loop(n, body, name="check")


@lowering("GatherV2")
def _gather(k: Kernel) -> None:
    """np.take(params, indices, axis); every index is checked against params' axis first."""
    p, idx = k.inputs
    out = k.outputs[0]
    ax = _axis(k.attrs["axis"], p.rank)
    b = k.b
    outer = k.dim(sym.product(p.shape[:ax]))
    inner = k.dim(sym.product(p.shape[ax + 1 :]))
    d = k.dim(p.shape[ax])
    n = k.size(idx.shape)
    _same_dims(k, out.shape, p.shape[:ax] + idx.shape + p.shape[ax + 1 :])
    _check_indices(k, idx, n, d)

    def body(ix: list[ir.Value]) -> None:
        o, i = ix
        v = _to_i64(b, k.load(idx, i), idx.dtype)
        src = b.mul(b.add(b.mul(o, d), v), inner)
        dst = b.mul(b.add(b.mul(o, n), i), inner)
        k.loop(
            inner,
            lambda r: b.store(
                b.load(b.gep(p.ptr, [b.add(src, r)], inbounds=True)),
                b.gep(out.ptr, [b.add(dst, r)], inbounds=True),
            ),
            name="r",
        )

    k.loop_nest([outer, n], body)


@lowering("ScatterAddDense")
def _scatter_add_dense(k: Kernel) -> None:
    """Zeros of the output's shape, plus each update added at its index along the axis
    (duplicates add up); indices are checked first, and updates' size against the output's."""
    u, idx = k.inputs[0], k.inputs[1]
    out = k.outputs[0]
    ax = _axis(k.attrs["axis"], out.rank)
    b = k.b
    outer = k.dim(sym.product(out.shape[:ax]))
    inner = k.dim(sym.product(out.shape[ax + 1 :]))
    d = k.dim(out.shape[ax])
    n = k.size(idx.shape)
    _check_equal(k, sym.product(u.shape), b.mul(b.mul(outer, n), inner))
    _check_indices(k, idx, n, d)
    _zero(k, out)
    add = _adder(k, out.dtype)

    def body(ix: list[ir.Value]) -> None:
        o, i = ix
        v = _to_i64(b, k.load(idx, i), idx.dtype)
        dst = b.mul(b.add(b.mul(o, d), v), inner)
        src = b.mul(b.add(b.mul(o, n), i), inner)

        def elem(r: ir.Value) -> None:
            at = b.add(dst, r)
            k.store(out, at, add(k.load(out, at), k.load(u, b.add(src, r))))

        k.loop(inner, elem, name="r")

    k.loop_nest([outer, n], body)


def _nd_offset(k: Kernel, idx: Arg, row: ir.Value, dims: Sequence[sym.Dim]) -> ir.Value:
    """The flat position (in units of the trailing slab) of index tuple ``row`` of ``idx``
    into the leading ``dims``; each entry is checked (code 1) before it is used."""
    b = k.b
    depth = len(dims)
    st = dense_strides(dims)
    flat: ir.Value = T.I64(0)
    for j in range(depth):
        v = _to_i64(b, k.load(idx, b.add(b.mul(row, T.I64(depth)), T.I64(j))), idx.dtype)
        bound = k.dim(dims[j])
        k.fail_if(b.icmp_unsigned(">=", v, bound), BAD_ND_INDEX, v, bound)
        flat = b.add(flat, b.mul(v, k.dim(st[j])))
    return flat


@lowering("GatherNd")
def _gather_nd(k: Kernel) -> None:
    """out[i...] = params[indices[i..., :]]: each index tuple checked, then its slab copied."""
    p, idx = k.inputs
    out = k.outputs[0]
    depth = idx.shape[-1]
    if not isinstance(depth, int):
        raise Unsupported("GatherNd with a symbolic index depth")
    b = k.b
    rows = k.dim(sym.product(idx.shape[:-1]))
    slab = k.dim(sym.product(p.shape[depth:]))
    _same_dims(k, out.shape, idx.shape[:-1] + p.shape[depth:])

    def body(n: ir.Value) -> None:
        src = b.mul(_nd_offset(k, idx, n, p.shape[:depth]), slab)
        dst = b.mul(n, slab)
        k.loop(
            slab,
            lambda r: b.store(
                b.load(b.gep(p.ptr, [b.add(src, r)], inbounds=True)),
                b.gep(out.ptr, [b.add(dst, r)], inbounds=True),
            ),
            name="r",
        )

    k.loop(rows, body, name="row")


@lowering("ScatterNd")
def _scatter_nd(k: Kernel) -> None:
    """Zeros of the output's shape with each update slab added at its index tuple
    (duplicates add up); updates' size is checked against the rows times the slab."""
    idx, u = k.inputs[0], k.inputs[1]
    out = k.outputs[0]
    depth = idx.shape[-1]
    if not isinstance(depth, int):
        raise Unsupported("ScatterNd with a symbolic index depth")
    b = k.b
    rows = k.dim(sym.product(idx.shape[:-1]))
    slab = k.dim(sym.product(out.shape[depth:]))
    _check_equal(k, sym.product(u.shape), b.mul(rows, slab))
    _zero(k, out)
    add = _adder(k, out.dtype)

    def body(n: ir.Value) -> None:
        dst = b.mul(_nd_offset(k, idx, n, out.shape[:depth]), slab)
        src = b.mul(n, slab)

        def elem(r: ir.Value) -> None:
            at = b.add(dst, r)
            k.store(out, at, add(k.load(out, at), k.load(u, b.add(src, r))))

        k.loop(slab, elem, name="r")

    k.loop(rows, body, name="row")


# ---------------------------------------------------------------------------
# Scans, arg-extrema, boolean reductions.


def _outer_axis_inner(k: Kernel, shape: Sequence[sym.Dim], ax: int) -> tuple[ir.Value, ir.Value, ir.Value]:
    return (k.dim(sym.product(shape[:ax])), k.dim(shape[ax]), k.dim(sym.product(shape[ax + 1 :])))


@lowering("Cumsum", "Cumprod")
def _scan(k: Kernel) -> None:
    """np.add/multiply.accumulate along the axis in the input's dtype (integers wrap), one
    element after another from the start (or the end, reversed); exclusive shifts by one,
    starting from 0 (1 for a product). The axis is the middle loop, so the innermost loop
    runs along contiguous elements."""
    x, out = k.inputs[0], k.outputs[0]
    a = k.attrs
    ax = _axis(a["axis"], x.rank)
    exclusive, reverse = bool(a["exclusive"]), bool(a["reverse"])
    combiner = "add" if k.node.op == "Cumsum" else "mul"
    identity = T.constant(x.dtype, 0 if combiner == "add" else 1)
    b = k.b
    outer, d, inner = _outer_axis_inner(k, x.shape, ax)
    _same_dims(k, out.shape, x.shape)
    last = b.sub(d, T.I64(1))

    def body(ix: list[ir.Value]) -> None:
        o, j, i = ix
        jj = b.sub(last, j) if reverse else j
        prev = b.add(jj, T.I64(1)) if reverse else b.sub(jj, T.I64(1))

        def at(pos: ir.Value) -> ir.Value:
            return b.add(b.mul(b.add(b.mul(o, d), pos), inner), i)

        first = b.icmp_signed("==", j, T.I64(0))
        here = at(jj)
        with b.if_else(first) as (then, otherwise):
            with then:
                k.store(out, here, identity if exclusive else k.load(x, here))
            with otherwise:
                there = at(prev)
                xv = k.load(x, there if exclusive else here)
                k.store(out, here, scalars.combine(b, combiner, x.dtype, k.load(out, there), xv))

    k.loop_nest([outer, d, inner], body)


@lowering("ArgMax", "ArgMin")
def _arg_extreme(k: Kernel) -> None:
    """np.argmax/argmin along the axis: the first of tied extrema; for floats the first NaN
    (NumPy treats NaN as the extreme). An empty axis fails (code 8), as NumPy and TF1 raise."""
    x, out = k.inputs[0], k.outputs[0]
    ax = _axis(k.attrs["axis"], x.rank)
    is_max = k.node.op == "ArgMax"
    b = k.b
    outer, d, inner = _outer_axis_inner(k, x.shape, ax)
    n_out = b.mul(outer, inner)
    _check_equal(k, sym.product(out.shape), n_out)
    # An empty axis fails whatever the output's size (TF1 and NumPy raise for it).
    k.fail_if(b.icmp_signed("<=", d, T.I64(0)), EMPTY_AXIS, T.I64(ax), d)
    ty = T.reg_type(x.dtype)
    best_v = k.alloca(ty)
    best_i = k.alloca(T.I64)
    kind = x.dtype.kind
    rest = b.sub(d, T.I64(1))  # the elements after the first, which starts the scan

    def better(v: ir.Value, best: ir.Value) -> ir.Value:
        op = ">" if is_max else "<"
        if kind == "f":
            nan_first = b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", best, best))
            return b.or_(b.fcmp_ordered(op, v, best), nan_first)
        cmp = b.icmp_signed if kind == "i" else b.icmp_unsigned
        return cmp(op, v, best)

    def body(ix: list[ir.Value]) -> None:
        o, i = ix
        base = b.add(b.mul(b.mul(o, d), inner), i)
        b.store(k.load(x, base), best_v)
        b.store(T.I64(0), best_i)

        def step(j: ir.Value) -> None:
            jj = b.add(j, T.I64(1))
            v = k.load(x, b.add(base, b.mul(jj, inner)))
            take = better(v, b.load(best_v))
            b.store(b.select(take, v, b.load(best_v)), best_v)
            b.store(b.select(take, jj, b.load(best_i)), best_i)

        k.loop(rest, step, name="j")
        k.store(out, b.add(b.mul(o, inner), i), scalars.cast(b, b.load(best_i), I64, out.dtype))

    k.loop_nest([outer, inner], body)


@lowering("Any", "All")
def _any_all(k: Kernel) -> None:
    """np.any/np.all over the axes (None: all of them): a Fused reduction with or (any) or
    and (all) as the combiner, from False (any) or True (all)."""
    x, out = k.inputs[0], k.outputs[0]
    shape = tuple(x.shape)
    axes = reduce_axes(k.attrs["axis"], len(shape))
    is_any = k.node.op == "Any"
    dt = k.node.outputs[0].dtype
    attrs = fused_ops.elementwise_attrs(S.inp(0, x.dtype), dt, shape, [shape])
    attrs.update(
        {
            "reduce_axes": axes,
            "keepdims": bool(k.attrs["keepdims"]),
            "combiner": "max" if is_any else "min",
            "identity": S.const(np.bool_(not is_any)),
            "accumulator_dtype": dt,
        }
    )
    emit_fused(k, attrs, [x], out)


# ---------------------------------------------------------------------------
# Top-k.


def _isfinite(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    ty = v.type
    fabs = scalars.intrinsic(b.module, "llvm.fabs", ty, [ty], [ty])
    return b.fcmp_ordered("!=", b.call(fabs, [v]), ir.Constant(ty, float("inf")))


@lowering("InTopKV2")
def _in_top_k(k: Kernel) -> None:
    """Whether each row's target is among its k largest predictions: the target is in
    [0, C), every prediction in the row is finite, and fewer than k are strictly above it."""
    pred, targets = k.inputs
    out = k.outputs[0]
    kk = T.I64(int(k.attrs["k"]))
    b = k.b
    rows, c = k.dim(pred.shape[0]), k.dim(pred.shape[1])
    _same_dims(k, targets.shape, pred.shape[:1])
    _same_dims(k, out.shape, pred.shape[:1])
    ty = T.reg_type(pred.dtype)
    tval = k.alloca(ty)
    above = k.alloca(T.I64)
    finite = k.alloca(T.I1)

    def body(n: ir.Value) -> None:
        t = _to_i64(b, k.load(targets, n), targets.dtype)
        valid = b.icmp_unsigned("<", t, c)
        row = b.mul(n, c)
        b.store(ir.Constant(ty, 0.0), tval)
        with b.if_then(valid):
            b.store(k.load(pred, b.add(row, t)), tval)
        b.store(T.I64(0), above)
        b.store(T.I1(1), finite)
        tp = b.load(tval)

        def col(j: ir.Value) -> None:
            v = k.load(pred, b.add(row, j))
            b.store(b.add(b.load(above), b.zext(b.fcmp_ordered(">", v, tp), T.I64)), above)
            b.store(b.and_(b.load(finite), _isfinite(b, v)), finite)

        k.loop(c, col, name="c")
        ok = b.and_(b.and_(valid, b.load(finite)), b.icmp_signed("<", b.load(above), kk))
        k.store(out, n, ok)

    k.loop(rows, body, name="row")


@lowering("TopKV2")
def _top_k(k: Kernel) -> None:
    """The k largest entries of each row (last axis), in descending order, ties broken by the
    lower index, NaN above every number (the reference's stable sort): an insertion into
    the row's k output slots, one element after another. A row shorter than k fails (code 2)."""
    x = k.inputs[0]
    vals, inds = k.outputs
    kk = int(k.attrs["k"])
    for o in (vals, inds):
        _same_dims(k, o.shape, (*x.shape[:-1], kk))
    if kk == 0:
        return
    b = k.b
    n = k.dim(x.shape[-1])
    rows = k.dim(sym.product(x.shape[:-1]))
    K = T.I64(kk)
    k.fail_if(
        b.and_(b.icmp_signed(">", rows, T.I64(0)), b.icmp_signed("<", n, K)), BAD_SIZE, K, b.add(n, T.I64(1))
    )
    kind = x.dtype.kind
    filled = k.alloca(T.I64)
    pos = k.alloca(T.I64)

    def above(v: ir.Value, w: ir.Value) -> ir.Value:
        """v ranks strictly before w (w came earlier in the row)."""
        if kind == "f":
            v_nan = b.fcmp_unordered("uno", v, v)
            w_nan = b.fcmp_unordered("uno", w, w)
            return b.or_(b.fcmp_ordered(">", v, w), b.and_(v_nan, b.not_(w_nan)))
        cmp = b.icmp_signed if kind == "i" else b.icmp_unsigned
        return cmp(">", v, w)

    def row_body(r: ir.Value) -> None:
        src = b.mul(r, n)
        dst = b.mul(r, K)
        b.store(T.I64(0), filled)

        def elem(c: ir.Value) -> None:
            v = k.load(x, b.add(src, c))
            f = b.load(filled)
            # The slot it lands in: after every kept entry it does not rank above.
            b.store(f, pos)
            scan = k.fn.append_basic_block("topk.scan")
            shift = k.fn.append_basic_block("topk.shift")
            after = k.fn.append_basic_block("topk.after")
            b.branch(scan)
            b.position_at_end(scan)
            p = b.load(pos)
            has_prev = b.icmp_signed(">", p, T.I64(0))
            prev = b.sub(p, T.I64(1))
            safe_prev = b.select(has_prev, prev, T.I64(0))
            w = k.load(vals, b.add(dst, safe_prev))
            move = b.and_(has_prev, above(v, w))
            b.cbranch(move, shift, after)
            b.position_at_end(shift)
            # Entry prev moves down one slot when there is room for it.
            with b.if_then(b.icmp_signed("<", p, K)):
                k.store(vals, b.add(dst, p), w)
                b.store(
                    b.load(b.gep(inds.ptr, [b.add(dst, safe_prev)], inbounds=True)),
                    b.gep(inds.ptr, [b.add(dst, p)], inbounds=True),
                )
            b.store(prev, pos)
            b.branch(scan)
            b.position_at_end(after)
            p = b.load(pos)
            with b.if_then(b.icmp_signed("<", p, K)):
                k.store(vals, b.add(dst, p), v)
                k.store(inds, b.add(dst, p), b.trunc(c, T.I32))
            b.store(_smin(b, b.add(f, T.I64(1)), K), filled)

        k.loop(n, elem, name="c")

    k.loop(rows, row_body, name="row")
