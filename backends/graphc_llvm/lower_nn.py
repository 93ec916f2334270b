"""Lowerings of the softmax family, the losses and the random ops (registered into
graphc_llvm.lowerings.LOWERINGS when imported).

Softmax, LogSoftmax, LogSumExp and the cross-entropies are row loops: for each row (the
kept axes), one pass for the row's max (``llvm.maximum``: a NaN propagates, as
``np.max``), one for the sum of ``exp(x - max)``, one that writes the results. Each step
is the reference's (graphc/ops/softmax_ops.py, reduction_ops.py, nn_ops.py) in the
element dtype: the subtraction, ``exp`` and ``log`` (graphc_llvm.mathlib through
graphc_llvm.scalars), the division; only a sum is accumulated wider (float16 in float32,
float32 in float64) and rounded to the dtype once, so its error is below NumPy's own
pairwise sum's. Rows holding an inf or a NaN give what the reference's IEEE steps give
(inf - inf is NaN, exp(-inf) is 0, 0 * -inf is NaN). A contiguous row of float32 or
float64 is folded in graphc_llvm.lowerings.LaneFold's fixed order (32 lanes as vectors,
then a pairwise tree: the same on every machine and thread count), and its exps go first
to the output of the input's shape (Softmax's and LogSoftmax's output, the
cross-entropies' backprop; a stack buffer when nothing reads the backprop) in a loop of
their own, so both loops vectorise. That output is never the input's buffer:
the memory plan (graphc/passes/memory.py) writes in place only for elementwise and view
ops.

The random ops are Philox-4x32-10 (graphc/kernels/philox.py) in IR: element ``i`` of the
k-th run is a pure function of the op's key (from its two seeds, folded at compile time),
the run counter (the node's second input) and ``i``, so the native numbers are the
reference's bit for bit. RandomUniform and RandomUniformInt are lowered: their float
conversions are exact (an integer below 2**53, 2**24 or 2**11 times a power of two).
RandomStandardNormal (Box-Muller: ``log`` and ``cos`` in float64) and TruncatedNormal
(``erfinv``: ``log1p``, ``math.erf`` and ``exp`` in float64) are not: their reference
uses NumPy's and libm's float64 transcendentals, which inline polynomials do not
reproduce to the last bit, so those ops run in a NumPy segment rather than give other
numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir

from graphc import scalar as S
from graphc import symbolic as sym
from graphc.kernels import philox
from graphc.passes.fuse import reduce_axes
from graphc_llvm import scalars
from graphc_llvm import types as T
from graphc_llvm.codegen import Arg, Kernel, Unsupported, size_generic
from graphc_llvm.lowerings import (
    FOLD_LANES,
    LaneFold,
    lowering,
    splat,
    vector_cast,
    vector_load,
    vectorisable,
)

# ---------------------------------------------------------------------------
# Scalar helpers.

# The dtype a float sum is accumulated in (wider than the element, so it is at least as
# accurate as the reference's pairwise sum in the element dtype).
_WIDE = {
    np.dtype(np.float16): np.dtype(np.float32),
    np.dtype(np.float32): np.dtype(np.float64),
    np.dtype(np.float64): np.dtype(np.float64),
}

# Failure code for a label outside [0, classes): "index {value} is out of range [0, {bound})".
_LABEL_OUT_OF_RANGE = 6


def _float_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in _WIDE:
        raise Unsupported(f"no native softmax/loss kernel for {dtype}")
    return dtype


def _math(b: ir.IRBuilder, name: str, dtype: np.dtype, x: ir.Value) -> ir.Value:
    """``name(x)`` (exp, log) in ``dtype`` by the scalar primitive's rendering."""
    return scalars.render(b, S.typed(S.call(name, S.inp(0, dtype)), dtype), lambda i: x)


def _widen(b: ir.IRBuilder, x: ir.Value, dtype: np.dtype) -> ir.Value:
    return scalars.cast(b, x, dtype, _WIDE[dtype])


def _narrow(b: ir.IRBuilder, x: ir.Value, dtype: np.dtype) -> ir.Value:
    return scalars.cast(b, x, _WIDE[dtype], dtype)


def _is_finite(b: ir.IRBuilder, x: ir.Value, dtype: np.dtype) -> ir.Value:
    """|x| < inf: false for +-inf and NaN."""
    ty = T.reg_type(dtype)
    fabs = scalars.intrinsic(b.module, "llvm.fabs", ty, [ty], [ty])
    return b.fcmp_ordered("<", b.call(fabs, [x]), T.constant(dtype, np.inf))


# ---------------------------------------------------------------------------
# Rows of a reduction.


class _Rows:
    """The rows of a reduction over ``axes`` of a dense row-major array of ``shape``: for each
    index of the kept axes (in row-major order, which is the output's element order with or
    without keepdims), the elements of the reduced axes (row-major). Adjacent axes that are
    both kept or both reduced are walked as one (the array is dense, so their offsets are
    one stride apart)."""

    def __init__(self, k: Kernel, shape: Sequence[sym.Dim], axes: Sequence[int]) -> None:
        self.k = k
        strides: list[sym.Dim] = []
        acc: sym.Dim = 1
        for d in reversed(shape):
            strides.append(acc)
            acc = acc * d  # type: ignore[operator]
        strides.reverse()
        red = set(axes)
        runs: list[tuple[bool, sym.Dim, sym.Dim]] = []  # (reduced, extent, stride)
        for a, (d, s) in enumerate(zip(shape, strides)):
            if runs and runs[-1][0] == (a in red):
                reduced, extent, _ = runs[-1]
                runs[-1] = (reduced, extent * d, s)  # type: ignore[operator]
            else:
                runs.append((a in red, d, s))
        self.kept = [(e, s) for r, e, s in runs if not r]
        self.reduced = [(e, s) for r, e, s in runs if r]
        # The output's element stride of each kept run (the output is dense over them).
        out_st: list[sym.Dim] = []
        acc = 1
        for e, _ in reversed(self.kept):
            out_st.append(acc)
            acc = acc * e  # type: ignore[operator]
        out_st.reverse()
        self.out_strides = out_st
        # One run of reduced axes, innermost: each row is one block of consecutive elements.
        self.contiguous = len(self.reduced) == 1 and self.reduced[0][1] == 1
        self.row_length: sym.Dim = sym.product([e for e, _ in self.reduced])

    def _offset(self, base: ir.Value, idx: Sequence[ir.Value], strides: Sequence[sym.Dim]) -> ir.Value:
        b = self.k.b
        off = base
        for i, s in zip(idx, strides):
            if s == 0:
                continue
            term = i if s == 1 else b.mul(i, self.k.dim(s), flags=["nsw"])
            off = b.add(off, term, flags=["nsw"])
        return off

    def each_row(self, body: Callable[[ir.Value, ir.Value], None], split: bool = False) -> None:
        """``body(base, out)`` per row: the offset of the row's first element in the input,
        and the row's index in the output. ``split``: the rows are independent and this is
        the kernel's last loop, so one run of kept axes (the rows of a [rows, classes]
        softmax or cross entropy) is split over threads when the work is large
        (Kernel.split_loop): each row's work, and so its result, is the same either way."""
        k = self.k

        def row(idx: list[ir.Value]) -> None:
            base = self._offset(T.I64(0), idx, [s for _, s in self.kept])
            out = self._offset(T.I64(0), idx, self.out_strides)
            body(base, out)

        if split and len(self.kept) == 1:
            n = k.dim(self.kept[0][0])
            cost = k.b.mul(n, k.dim(self.row_length))
            k.split_loop(n, cost, lambda i: row([i]))
            return
        k.loop_nest([k.dim(e) for e, _ in self.kept], row)

    def each(self, base: ir.Value, body: Callable[[ir.Value], None]) -> None:
        """``body(offset)`` for each element of the row starting at ``base``."""
        k = self.k
        k.loop_nest(
            [k.dim(e) for e, _ in self.reduced],
            lambda idx: body(self._offset(base, idx, [s for _, s in self.reduced])),
        )


# A term of a row's reduction: ``term(offset, vec)`` is the element at ``offset`` or, with
# ``vec``, the vector of the FOLD_LANES elements from ``offset`` (same operations per lane).
Term = Callable[[ir.Value, bool], ir.Value]


def _ld(k: Kernel, arg: Arg, o: ir.Value, vec: bool) -> ir.Value:
    return vector_load(k, arg, o) if vec else k.load(arg, o)


def _bc(b: ir.IRBuilder, x: ir.Value, vec: bool) -> ir.Value:
    return splat(b, x) if vec else x


def _fold(
    k: Kernel,
    rows: _Rows,
    base: ir.Value,
    term: Term,
    combine: Callable[[ir.Value, ir.Value], ir.Value],
    identity: ir.Constant,
    dtype: np.dtype,
    exact: bool = False,
) -> ir.Value:
    """``combine`` over ``term`` for the row's elements, from ``identity``. A contiguous row
    of a vectorisable ``dtype`` (the terms' element dtype) is folded in
    graphc_llvm.lowerings.LaneFold's fixed order (blocks of FOLD_LANES as vectors); any
    other row in row-major order in one accumulator. ``exact``: LaneFold's for an exactly
    associative ``combine`` (maximum)."""
    b = k.b
    if not (rows.contiguous and vectorisable(dtype)):
        slot = k.alloca(identity.type)
        b.store(identity, slot)
        rows.each(base, lambda o: b.store(combine(b.load(slot), term(o, False)), slot))
        return b.load(slot)
    fold = LaneFold(k, identity, combine, exact)
    fold.row(
        k.dim(rows.row_length),
        lambda j: term(b.add(base, j, flags=["nsw"]), True),
        lambda j: term(b.add(base, j, flags=["nsw"]), False),
    )
    return fold.result()


def _row_max(k: Kernel, rows: _Rows, x: Arg, base: ir.Value, dtype: np.dtype) -> ir.Value:
    """The row's max (-inf for an empty row; NaN when it holds one), as np.max (maximum is
    exactly associative, so the order does not change it)."""
    b = k.b
    return _fold(
        k,
        rows,
        base,
        lambda o, vec: _ld(k, x, o, vec),
        lambda a, v: scalars.combine(b, "max", dtype, a, v),
        T.constant(dtype, -np.inf),
        dtype,
        exact=True,
    )


def _widen_term(b: ir.IRBuilder, x: ir.Value, dtype: np.dtype, vec: bool) -> ir.Value:
    return vector_cast(b, x, dtype, _WIDE[dtype]) if vec else _widen(b, x, dtype)


def _wide_sum(k: Kernel, rows: _Rows, base: ir.Value, term: Term, dtype: np.dtype) -> ir.Value:
    """The sum of ``term`` (values of ``dtype``) over the row, accumulated wide and rounded to
    ``dtype`` once."""
    b = k.b
    wide = _fold(
        k,
        rows,
        base,
        lambda o, vec: _widen_term(b, term(o, vec), dtype, vec),
        lambda a, v: b.fadd(a, v),
        T.constant(_WIDE[dtype], 0.0),
        dtype,
    )
    return _narrow(b, wide, dtype)


_CHUNK = 256  # elements staged on the stack at a time (a multiple of FOLD_LANES)


def _chunked_sum(
    k: Kernel, rows: _Rows, base: ir.Value, term: Callable[[ir.Value], ir.Value], dtype: np.dtype
) -> ir.Value:
    """:func:`_wide_sum` of a contiguous row with no output to stage in: ``term`` (a scalar
    rendering: exp) goes through a stack buffer of _CHUNK elements, computed in a loop of its
    own (which LLVM vectorises), then folded from there. Chunks start at multiples of
    FOLD_LANES, so the order of the additions is LaneFold's over the whole row."""
    b = k.b
    wide = _WIDE[dtype]
    buf = k.alloca(ir.ArrayType(T.reg_type(dtype), _CHUNK))
    vec = vectorisable(dtype)
    fold = LaneFold(k, T.constant(wide, 0.0), lambda a, v: b.fadd(a, v))
    slot = None if vec else k.alloca(T.reg_type(wide))
    if slot is not None:
        b.store(T.constant(wide, 0.0), slot)

    def at(t: ir.Value) -> ir.Value:
        return b.gep(buf, [T.I64(0), t], inbounds=True)  # t < _CHUNK by the loops' bounds

    def staged(t: ir.Value, as_vector: bool) -> ir.Value:
        if as_vector:
            ptr = b.bitcast(at(t), ir.VectorType(T.reg_type(dtype), FOLD_LANES).as_pointer())
            return vector_cast(b, b.load(ptr, align=dtype.itemsize), dtype, wide)
        return _widen(b, b.load(at(t)), dtype)

    def stage_and_fold(first: ir.Value, count: ir.Value) -> None:
        """Elements [first, first + count) of the row (count <= _CHUNK, and a multiple of
        FOLD_LANES except in the row's last chunk)."""
        k.loop(count, lambda t: b.store(term(b.add(first, t, flags=["nsw"])), at(t)), name="stage")
        if slot is not None:  # float16: one accumulator, in order
            k.loop(count, lambda t: b.store(b.fadd(b.load(slot), staged(t, False)), slot), name="sum")
            return
        fold.row(count, lambda j: staged(j, True), lambda j: staged(j, False))

    n = k.dim(rows.row_length)
    log_chunk = T.I64(_CHUNK.bit_length() - 1)
    chunks = b.lshr(n, log_chunk)  # n >= 0
    k.loop(
        chunks,
        lambda c: stage_and_fold(b.add(base, b.shl(c, log_chunk), flags=["nsw"]), T.I64(_CHUNK)),
        name="chunk",
    )
    done = b.shl(chunks, log_chunk)
    stage_and_fold(b.add(base, done, flags=["nsw"]), b.sub(n, done))
    return _narrow(b, b.load(slot) if slot is not None else fold.result(), dtype)


def _row_sum_exp(
    k: Kernel,
    rows: _Rows,
    x: Arg,
    base: ir.Value,
    shift: ir.Value,
    dtype: np.dtype,
    scratch: Arg | None = None,
) -> ir.Value:
    """``sum(exp(x - shift))`` over the row, each exp in ``dtype`` (as the reference), the sum
    by :func:`_wide_sum`. With ``scratch`` (an output of the input's shape) the exps are
    stored there too (Softmax divides them in place); for a contiguous row first, in a loop
    of their own that LLVM vectorises, then summed from there."""
    b = k.b

    def exp_at(o: ir.Value) -> ir.Value:
        return _math(b, "exp", dtype, b.fsub(k.load(x, o), shift))

    if scratch is None and rows.contiguous:
        return _chunked_sum(k, rows, base, exp_at, dtype)
    if scratch is None:
        return _wide_sum(k, rows, base, lambda o, vec: exp_at(o), dtype)
    if not rows.contiguous:

        def keep(o: ir.Value, vec: bool) -> ir.Value:
            e = exp_at(o)  # a non-contiguous row is folded one element at a time
            k.store(scratch, o, e)
            return e

        return _wide_sum(k, rows, base, keep, dtype)
    rows.each(base, lambda o: k.store(scratch, o, exp_at(o)))
    return _wide_sum(k, rows, base, lambda o, vec: _ld(k, scratch, o, vec), dtype)


_LINE = 64  # bytes per cache line


def _prefetch_next_row(k: Kernel, rows: _Rows, base: ir.Value, args: Sequence[Arg]) -> None:
    """Ask for the next contiguous row of each of ``args`` (into L2) while this row is computed:
    a row's passes after its first run from cache, so without this the memory is idle
    then and busy, with the cores waiting, at the next row's first pass. A prefetch is
    only a hint (it never faults, even past an array's end) and changes no value."""
    if not rows.contiguous:
        return
    b = k.b
    fn = k.extern("llvm.prefetch.p0", T.VOID, [T.I8P, T.I32, T.I32, T.I32])
    n = k.dim(rows.row_length)
    nxt = b.add(base, n, flags=["nsw"])
    for arg in args:
        per_line = max(1, _LINE // arg.dtype.itemsize)
        lines = b.udiv(b.add(n, T.I64(per_line - 1)), T.I64(per_line))

        def one(t: ir.Value, arg: Arg = arg, per_line: int = per_line) -> None:
            at = b.gep(arg.ptr, [b.add(nxt, b.mul(t, T.I64(per_line)))])  # not inbounds: may pass the end
            b.call(fn, [b.bitcast(at, T.I8P), T.I32(0), T.I32(2), T.I32(1)])

        k.loop(lines, one, name="prefetch")


def _is_read(k: Kernel, index: int) -> bool:
    """Whether the node's output ``index`` is read by a later node or leaves the program. The
    cross-entropies' backprop often is not (graphc's gradient rebuilds it from Softmax so
    that it is differentiable): then it is not computed, saving a pass over the logits and
    a write of their size."""
    v = k.node.outputs[index]
    program = k.emitter.program
    if any(o.value is v for o in program.outputs):
        return True
    return any(x is v for n in program.nodes for x in n.inputs)


def _axis_rows(k: Kernel) -> _Rows:
    shape = k.inputs[0].shape
    if not shape:
        raise Unsupported(f"{k.node.op} of a scalar")
    axis = int(k.attrs.get("axis", -1)) % len(shape)
    return _Rows(k, shape, [axis])


# ---------------------------------------------------------------------------
# Softmax, LogSoftmax, LogSumExp.


@lowering("Softmax")
def _softmax(k: Kernel) -> None:
    """``e = exp(x - max(x)); e / sum(e)`` along ``axis`` (negative counts from the end), as
    graphc's reference and TF1's CPU kernel; the exps are kept in the output between passes."""
    x, out = k.inputs[0], k.outputs[0]
    dt = _float_dtype(x.dtype)
    rows = _axis_rows(k)
    b = k.b

    def row(base: ir.Value, _: ir.Value) -> None:
        _prefetch_next_row(k, rows, base, [x])
        m = _row_max(k, rows, x, base, dt)
        s = _row_sum_exp(k, rows, x, base, m, dt, scratch=out)
        rows.each(base, lambda o: k.store(out, o, b.fdiv(k.load(out, o), s)))

    rows.each_row(row, split=True)


@lowering("LogSoftmax")
def _log_softmax(k: Kernel) -> None:
    """``(x - max(x)) - log(sum(exp(x - max(x))))`` along ``axis``, as graphc's reference."""
    x, out = k.inputs[0], k.outputs[0]
    dt = _float_dtype(x.dtype)
    rows = _axis_rows(k)
    b = k.b

    def row(base: ir.Value, _: ir.Value) -> None:
        m = _row_max(k, rows, x, base, dt)
        lse = _math(b, "log", dt, _row_sum_exp(k, rows, x, base, m, dt, scratch=out))
        rows.each(base, lambda o: k.store(out, o, b.fsub(b.fsub(k.load(x, o), m), lse)))

    rows.each_row(row, split=True)


@lowering("LogSumExp")
def _log_sum_exp(k: Kernel) -> None:
    """``log(sum(exp(x - shift))) + shift`` over the axes (None: all), ``shift`` the row's max
    when it is finite, else 0: an empty or all -inf row gives -inf, a row with +inf gives
    +inf, a NaN gives NaN (graphc's reference; TF1's reduce_logsumexp)."""
    x, out = k.inputs[0], k.outputs[0]
    dt = _float_dtype(x.dtype)
    rank = len(x.shape)
    axes = [a for a in reduce_axes(k.attrs.get("axis"), rank) if a < rank]
    rows = _Rows(k, x.shape, axes)
    b = k.b

    def row(base: ir.Value, o: ir.Value) -> None:
        m = _row_max(k, rows, x, base, dt)
        shift = b.select(_is_finite(b, m, dt), m, T.constant(dt, 0.0))
        s = _row_sum_exp(k, rows, x, base, shift, dt)
        k.store(out, o, b.fadd(_math(b, "log", dt, s), shift))

    rows.each_row(row, split=True)


# ---------------------------------------------------------------------------
# Cross-entropies and L2Loss.


@lowering("SoftmaxCrossEntropyWithLogits")
def _xent(k: Kernel) -> None:
    """logits, labels [b, c] -> loss [b] = -sum(labels * logp), backprop [b, c] = exp(logp) -
    labels, with ``logp`` the row's log-softmax (graphc's reference, TF1's op). A backprop
    nothing reads is not computed (the exps of the row's sum then go through the stack:
    the same values, summed in the same order)."""
    logits, labels = k.inputs
    loss, backprop = k.outputs
    dt = _float_dtype(logits.dtype)
    rows = _Rows(k, logits.shape, [1])
    b = k.b
    keep = _is_read(k, 1)

    def row(base: ir.Value, i: ir.Value) -> None:
        _prefetch_next_row(k, rows, base, [logits, labels])
        m = _row_max(k, rows, logits, base, dt)
        lse = _math(
            b, "log", dt, _row_sum_exp(k, rows, logits, base, m, dt, scratch=backprop if keep else None)
        )

        def logp(o: ir.Value, vec: bool) -> ir.Value:
            return b.fsub(b.fsub(_ld(k, logits, o, vec), _bc(b, m, vec)), _bc(b, lse, vec))

        # The loss first: the backprop row (until now the exps) is written last.
        k.store(
            loss,
            i,
            b.fneg(_wide_sum(k, rows, base, lambda o, vec: b.fmul(_ld(k, labels, o, vec), logp(o, vec)), dt)),
        )
        if keep:
            rows.each(
                base,
                lambda o: k.store(
                    backprop, o, b.fsub(_math(b, "exp", dt, logp(o, False)), k.load(labels, o))
                ),
            )

    rows.each_row(row, split=True)


@lowering("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_xent(k: Kernel) -> None:
    """logits [b, c], int labels [b] -> loss [b] = -logp[i, label], backprop [b, c] = exp(logp)
    with 1 taken off at the label. Every label is checked first: one outside [0, c) fails
    the run with an InvalidArgumentError naming it (TF1 on CPU; graphc's reference raises),
    before any output is written. A backprop nothing reads is not computed."""
    logits, labels = k.inputs
    loss, backprop = k.outputs
    dt = _float_dtype(logits.dtype)
    b = k.b
    n, c = k.dim(logits.shape[0]), k.dim(logits.shape[1])

    def label(i: ir.Value) -> ir.Value:
        return scalars.cast(b, k.load(labels, i), labels.dtype, np.dtype(np.int64))

    def check(i: ir.Value) -> None:
        lab = label(i)
        bad = b.or_(b.icmp_signed("<", lab, T.I64(0)), b.icmp_signed(">=", lab, c))
        k.fail_if(bad, _LABEL_OUT_OF_RANGE, lab, c)

    # On the whole range only: a chunk of the split row loop (below) runs after it.
    with b.if_then(b.icmp_signed("==", k.end, T.I64(-1))):
        k.loop(n, check, name="check")
    rows = _Rows(k, logits.shape, [1])
    one = T.constant(dt, 1.0)
    keep = _is_read(k, 1)

    def row(base: ir.Value, i: ir.Value) -> None:
        _prefetch_next_row(k, rows, base, [logits, labels])
        m = _row_max(k, rows, logits, base, dt)
        lse = _math(
            b, "log", dt, _row_sum_exp(k, rows, logits, base, m, dt, scratch=backprop if keep else None)
        )
        at = b.add(base, label(i), flags=["nsw"])  # in range: checked above
        k.store(loss, i, b.fneg(b.fsub(b.fsub(k.load(logits, at), m), lse)))
        if not keep:
            return

        def elem(o: ir.Value) -> None:
            e = _math(b, "exp", dt, b.fsub(b.fsub(k.load(logits, o), m), lse))
            k.store(backprop, o, b.select(b.icmp_signed("==", o, at), b.fsub(e, one), e))

        rows.each(base, elem)

    rows.each_row(row, split=True)


@lowering("L2Loss")
def _l2_loss(k: Kernel) -> None:
    """``sum(x * x) / 2`` as a scalar of x's dtype (TF1's l2_loss; graphc's reference: the
    squares in the dtype, their sum, then the halving)."""
    x, out = k.inputs[0], k.outputs[0]
    dt = _float_dtype(x.dtype)
    b = k.b
    rows = _Rows(k, [sym.product(x.shape)], [0])  # every element, as one row

    def square(o: ir.Value, vec: bool) -> ir.Value:
        v = _ld(k, x, o, vec)
        return b.fmul(v, v)

    rows.each_row(
        lambda base, _: k.store(
            out, T.I64(0), b.fdiv(_wide_sum(k, rows, base, square, dt), T.constant(dt, 2.0))
        )
    )


# ---------------------------------------------------------------------------
# Optimizer updates.

_UPDATE_BLOCK_BYTES = 64  # elements per vector step of an update: one AVX-512 or two AVX2 registers


@lowering("ApplyAdam")
@size_generic
def _apply_adam(k: Kernel) -> None:
    """Adam's update (graphc/ops/training_ops.py): the three new values in one pass, in blocks
    of _UPDATE_BLOCK_BYTES as vectors (a partial last block element by element), each step
    the reference's in the element dtype (IEEE sqrt and division, no contraction), so the
    bits are the reference's. The blocks are split over threads. A block reads all four
    arrays before it writes: an output the memory plan puts over an input's buffer
    (ApplyAdam is ``per_element``) never overwrites an element that is still to be read."""
    var, m, v, b1p, b2p, lr, b1, b2, eps, g = k.inputs
    out_var, out_m, out_v = k.outputs
    dt = var.dtype
    if not (dt.kind == "f" and dt.itemsize in (4, 8)):
        raise Unsupported(f"ApplyAdam of {dt}")
    b = k.b
    ty = T.reg_type(dt)
    lanes = _UPDATE_BLOCK_BYTES // dt.itemsize
    zero = T.I64(0)
    one = T.constant(dt, 1.0)

    def sqrt(x: ir.Value) -> ir.Value:
        return scalars._intrinsic(b, "llvm.sqrt", x.type, [x])

    # The scalars (read before any element is written).
    lr_v, b1_v, b2_v, eps_v = (k.load(a, zero) for a in (lr, b1, b2, eps))
    lr_t = b.fdiv(b.fmul(lr_v, sqrt(b.fsub(one, k.load(b2p, zero)))), b.fsub(one, k.load(b1p, zero)))
    c1, c2 = b.fsub(one, b1_v), b.fsub(one, b2_v)

    def step(xs: Sequence[ir.Value], vec: bool) -> tuple[ir.Value, ir.Value, ir.Value]:
        w0, m0, v0, g0 = xs
        s_lr, s_b1, s_b2, s_eps, s_c1, s_c2 = (
            splat(b, x, lanes) if vec else x for x in (lr_t, b1_v, b2_v, eps_v, c1, c2)
        )
        m1 = b.fadd(b.fmul(m0, s_b1), b.fmul(g0, s_c1))
        v1 = b.fadd(b.fmul(v0, s_b2), b.fmul(b.fmul(g0, g0), s_c2))
        w1 = b.fsub(w0, b.fdiv(b.fmul(s_lr, m1), b.fadd(sqrt(v1), s_eps)))
        return w1, m1, v1

    def store_vector(arg: Arg, at: ir.Value, x: ir.Value) -> None:
        ptr = b.bitcast(k.gep(arg, at), ir.VectorType(ty, lanes).as_pointer())
        b.store(x, ptr, align=dt.itemsize)

    n = k.size(var.shape)
    full = b.sdiv(n, T.I64(lanes))  # n >= 0
    rest = b.sub(n, b.mul(full, T.I64(lanes)))
    blocks = b.add(full, b.zext(b.icmp_signed(">", rest, zero), T.I64))

    def block(i: ir.Value) -> None:
        at = b.mul(i, T.I64(lanes), flags=["nsw"])
        with b.if_else(b.icmp_signed("<", i, full)) as (whole, partial):
            with whole:
                news = step([vector_load(k, a, at, lanes) for a in (var, m, v, g)], True)
                for arg, x in zip((out_var, out_m, out_v), news):
                    store_vector(arg, at, x)
            with partial:

                def elem(j: ir.Value) -> None:
                    o = b.add(at, j, flags=["nsw"])
                    news = step([k.load(a, o) for a in (var, m, v, g)], False)
                    for arg, x in zip((out_var, out_m, out_v), news):
                        k.store(arg, o, x)

                k.loop(rest, elem, name="tail")

    k.split_loop(blocks, n, block)


# ---------------------------------------------------------------------------
# Random ops: Philox-4x32-10.

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = 0xFFFFFFFF
_ROUNDS = 10


def _philox_words(b: ir.IRBuilder, key: tuple[int, int], counter: ir.Value, i: ir.Value) -> list[ir.Value]:
    """The four 32-bit words philox.philox gives element ``i`` (counter block ``(i mod 2**32,
    i >> 32, counter mod 2**32, counter >> 32)``); the round keys are constants."""
    i32 = T.I32
    c0 = b.trunc(i, i32)
    c1 = b.trunc(b.lshr(i, T.I64(32)), i32)
    c2 = b.trunc(counter, i32)
    c3 = b.trunc(b.lshr(counter, T.I64(32)), i32)
    k0, k1 = key[0] & _MASK32, key[1] & _MASK32

    def mul_hi_lo(x: ir.Value, m: int) -> tuple[ir.Value, ir.Value]:
        p = b.mul(b.zext(x, T.I64), T.I64(m), flags=["nuw"])  # a 32x32-bit product fits 64 bits
        return b.trunc(b.lshr(p, T.I64(32)), i32), b.trunc(p, i32)

    for _ in range(_ROUNDS):
        hi0, lo0 = mul_hi_lo(c0, _M0)
        hi1, lo1 = mul_hi_lo(c2, _M1)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), i32(k0)), lo1, b.xor(b.xor(hi0, c3), i32(k1)), lo0
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return [c0, c1, c2, c3]


def _counter(k: Kernel) -> ir.Value:
    """This run's counter (the node's second input, a uint64 scalar); 0 without one, as the
    reference."""
    if len(k.inputs) < 2:
        return T.I64(0)
    c = k.inputs[1]
    return scalars.cast(k.b, k.load(c, T.I64(0)), c.dtype, np.dtype(np.uint64))


def _uniform_float(b: ir.IRBuilder, w: list[ir.Value], dtype: np.dtype) -> ir.Value:
    """philox.uniform's conversion: the top 53, 24 or 11 random bits times 2**-53, 2**-24 or
    2**-11 (exact in the dtype, so the result is the reference's bit for bit)."""
    if dtype == np.float64:
        hi = b.shl(b.zext(w[0], T.I64), T.I64(21))
        lo = b.lshr(b.zext(w[1], T.I64), T.I64(11))
        return b.fmul(b.uitofp(b.xor(hi, lo), T.F64), ir.Constant(T.F64, 2.0**-53))
    if dtype == np.float32:
        return b.fmul(b.uitofp(b.lshr(w[0], T.I32(8)), T.F32), ir.Constant(T.F32, 2.0**-24))
    u = b.fmul(b.uitofp(b.lshr(w[0], T.I32(21)), T.F32), ir.Constant(T.F32, 2.0**-11))
    return b.fptrunc(u, T.F16)


@lowering("RandomUniform", "RandomUniformInt")
def _random_uniform(k: Kernel) -> None:
    """Uniform numbers from Philox keyed by the op's seeds and the run counter, element by
    element as graphc.kernels.philox gives them (the reference; TF1's seed rules are the
    frontend's): floats in [0, 1) with the dtype's resolution, or integers
    ``minval + (((w0 << 32) | w1) mod (maxval - minval))`` wrapped to the dtype. As the
    reference, the dtype attr chooses between the two."""
    out = k.outputs[0]
    dt = np.dtype(out.dtype)
    key = philox.key_from_seeds(int(k.attrs["seed"]), int(k.attrs["seed2"]))
    b = k.b
    counter = _counter(k)
    if dt.kind in "iu":
        if "minval" not in k.attrs or "maxval" not in k.attrs:
            raise Unsupported(f"{k.node.op} of {dt} without minval/maxval")
        lo, hi = int(k.attrs["minval"]), int(k.attrs["maxval"])
        span = hi - lo
        if not (-(2**63) <= lo < 2**63 and 0 <= span < 2**64):
            raise Unsupported("integer uniform bounds the reference refuses")  # its error, from NumPy
        ty = T.reg_type(dt)

        def int_elem(i: ir.Value) -> None:
            if span == 0:  # NumPy's unsigned x % 0 is 0
                v: ir.Value = T.I64(lo)
            else:
                w = _philox_words(b, key, counter, i)
                r = b.or_(b.shl(b.zext(w[0], T.I64), T.I64(32)), b.zext(w[1], T.I64))
                v = b.add(
                    T.I64(lo), b.urem(r, T.I64(span - 2**64 if span >= 2**63 else span))
                )  # wraps, as int64 in NumPy
            k.store(out, i, b.trunc(v, ty) if ty.width < 64 else v)

        k.loop(k.size(out.shape), int_elem)
        return
    if dt not in _WIDE:
        raise Unsupported(f"{k.node.op} of {dt}")

    def float_elem(i: ir.Value) -> None:
        k.store(out, i, _uniform_float(b, _philox_words(b, key, counter, i), dt))

    k.loop(k.size(out.shape), float_elem)
