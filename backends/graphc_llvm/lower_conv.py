"""Convolution and pooling lowerings: Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter,
MaxPool, MaxPoolGrad, MaxPoolGradGrad, AvgPool and AvgPoolGrad (NHWC, HWIO filters), with
the meaning of their NumPy references in graphc/kernels/conv.py and graphc/ops/pool_ops.py.

Geometry follows TF1's ``GetWindowedOutputSizeVerbose`` (as ``conv_output_size``): the
output extents are the node's shapes (formulas in the dims, checked at entry against the
input extents), and SAME's leading padding is ``max((out - 1) * stride + ek - in, 0) // 2``
with ``ek = (k - 1) * dilation + 1``, computed at run time. Every index a kernel forms is
in range by construction: each window's loops run over the taps that fall inside the
image (``_taps``), so padded cells are never read or written.

Convolutions are im2col into a malloc'd scratch block of at most ``SCRATCH_ELEMENTS``
elements (a chunk of output pixels at a time) and one BLAS gemm per chunk (float32 and
float64; the backprop to the input is the gemm then col2im's scatter-add). The scratch is
freed on every path: the only failure after the allocation is the allocation itself.
Pools are direct loops, channels innermost (contiguous in NHWC). MaxPoolGrad and
MaxPoolGradGrad recompute each window's argmax from the input over the *padded* window
(padded cells hold the dtype's lowest value), with NumPy's argmax rule: the first NaN,
else the first maximal cell in row-major window order; a padded cell that wins routes
its gradient nowhere (the reference crops it away).

A dtype not handled here raises :class:`Unsupported`, so the backend runs the whole
program on NumPy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from llvmlite import ir

from graphc import symbolic as sym
from graphc_llvm import scalars
from graphc_llvm import types as T
from graphc_llvm.codegen import Arg, Kernel, Unsupported
from graphc_llvm.lowerings import _GEMM, _gemm_call, lowering

# The largest im2col chunk, in elements: big enough that each gemm call has hundreds of
# rows, small enough that the chunk stays in the L2 cache between im2col and the gemm.
SCRATCH_ELEMENTS = 1 << 18
_INT32_MAX = 2**31 - 1
# Failure codes (codegen.ERROR_MESSAGES): a size beyond the 32-bit BLAS and a failed
# allocation report as code 2 ("index {value} is out of range [0, {bound})") with the size
# and the limit; a code of their own would read better (asked of the backend's owner).
_ERR_TOO_BIG = 2
_ERR_NO_MEMORY = 2

_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_POOL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# ---------------------------------------------------------------------------
# i64 helpers.


def _smax(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _ceildiv_nonneg(b: ir.IRBuilder, x: ir.Value, d: int) -> ir.Value:
    """ceil(x / d) for x >= 0 and a positive constant d."""
    if d == 1:
        return x
    return b.udiv(b.add(x, T.I64(d - 1)), T.I64(d))


@dataclasses.dataclass
class _Axis:
    """One spatial axis of a window op, as run-time values."""

    size: ir.Value  # the image's extent
    out: ir.Value  # the number of windows
    k: ir.Value  # taps per window
    stride: int
    dilation: int
    pad: ir.Value  # padded cells before the image (SAME's smaller half)


def _axis(
    k: Kernel, size: sym.Dim, out: sym.Dim, taps: sym.Dim, stride: int, dilation: int, padding: str
) -> _Axis:
    b = k.b
    n, o, kk = k.dim(size), k.dim(out), k.dim(taps)
    if padding == "SAME":
        ek = b.add(b.mul(b.sub(kk, T.I64(1)), T.I64(dilation)), T.I64(1))
        total = b.sub(b.add(b.mul(b.sub(o, T.I64(1)), T.I64(stride)), ek), n)
        pad = b.ashr(_smax(b, total, T.I64(0)), T.I64(1))
    else:
        pad = T.I64(0)
    return _Axis(n, o, kk, stride, dilation, pad)


def _taps(b: ir.IRBuilder, ax: _Axis, o: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """For window ``o``: its first cell's coordinate ``start`` (may be negative) and the taps
    ``[lo, hi)`` whose cell ``start + t * dilation`` lies in ``[0, size)`` (lo >= hi: none)."""
    start = b.sub(b.mul(o, T.I64(ax.stride)), ax.pad)
    # t * dilation in [-start, size - start), t in [0, k)
    lo = _ceildiv_nonneg(b, _smax(b, b.neg(start), T.I64(0)), ax.dilation)
    hi = _smin(b, ax.k, _ceildiv_nonneg(b, _smax(b, b.sub(ax.size, start), T.I64(0)), ax.dilation))
    return start, lo, hi


def _loop_range(k: Kernel, lo: ir.Value, hi: ir.Value, body: Callable[[ir.Value], None], name: str) -> None:
    """``for t in range(lo, hi): body(t)``."""
    k.loop(k.b.sub(hi, lo), lambda i: body(k.b.add(i, lo)), name=name)


def _ptr(b: ir.IRBuilder, p: ir.Value, off: ir.Value) -> ir.Value:
    return b.gep(p, [off], inbounds=True)


def _zero(k: Kernel, p: ir.Value, n: ir.Value, dtype: np.dtype) -> None:
    """``n`` elements of ``dtype`` at ``p`` set to zero (all-zero bytes: +0 for floats)."""
    b = k.b
    fn = k.extern("llvm.memset.p0.i64", T.VOID, [T.I8P, T.I8, T.I64, T.I1])
    b.call(fn, [b.bitcast(p, T.I8P), T.I8(0), b.mul(n, T.I64(dtype.itemsize)), T.I1(0)])


def _copy(k: Kernel, dst: ir.Value, src: ir.Value, n: ir.Value) -> None:
    b = k.b
    k.loop(n, lambda i: b.store(b.load(_ptr(b, src, i)), _ptr(b, dst, i)), name="cp")


def _add_into(k: Kernel, dst: ir.Value, src: ir.Value, n: ir.Value) -> None:
    """dst[i] += src[i] for i < n (floats)."""
    b = k.b

    def body(i: ir.Value) -> None:
        d = _ptr(b, dst, i)
        b.store(b.fadd(b.load(d), b.load(_ptr(b, src, i))), d)

    k.loop(n, body, name="acc")


def _float_dtype(arg: Arg, allowed: tuple[np.dtype, ...]) -> np.dtype:
    if arg.dtype not in allowed:
        raise Unsupported(f"{arg.dtype} convolution/pooling")
    return arg.dtype


# ---------------------------------------------------------------------------
# Scratch memory and the BLAS.


def _malloc(k: Kernel, n_elements: ir.Value, elem: ir.Type, itemsize: int) -> ir.Value:
    """A typed pointer to a new block of ``n_elements`` (at least one byte is asked for, so a
    NULL always means failure); the kernel fails when malloc returns NULL."""
    b = k.b
    malloc = k.extern("malloc", T.I8P, [T.I64])
    nbytes = _smax(b, b.mul(n_elements, T.I64(itemsize)), T.I64(1))
    raw = b.call(malloc, [nbytes])
    k.fail_if(b.icmp_unsigned("==", b.ptrtoint(raw, T.I64), T.I64(0)), _ERR_NO_MEMORY, nbytes, T.I64(0))
    return b.bitcast(raw, elem.as_pointer())


def _free(k: Kernel, p: ir.Value) -> None:
    b = k.b
    free = k.extern("free", T.VOID, [T.I8P])
    b.call(free, [b.bitcast(p, T.I8P)])


def _check_blas(k: Kernel, sizes: list[ir.Value]) -> None:
    """Fail the kernel when a gemm size or leading dimension exceeds the 32-bit BLAS."""
    b = k.b
    big = sizes[0]
    for s in sizes[1:]:
        big = _smax(b, big, s)
    k.fail_if(b.icmp_signed(">", big, T.I64(_INT32_MAX)), _ERR_TOO_BIG, big, T.I64(_INT32_MAX + 1))


def _gemm(
    k: Kernel,
    dtype: np.dtype,
    ta: bool,
    tb: bool,
    m: ir.Value,
    n: ir.Value,
    kk: ir.Value,
    a: ir.Value,
    lda: ir.Value,
    bm: ir.Value,
    ldb: ir.Value,
    c: ir.Value,
    ldc: ir.Value,
    beta: float,
) -> None:
    """Row-major ``C = op(A) @ op(B) + beta * C`` (``m x n``, inner ``kk``). Callers pass
    sizes that are positive and were checked by :func:`_check_blas`."""
    b = k.b
    name, fty = _GEMM[dtype]
    i32 = T.I32
    pty = fty.as_pointer()
    fn = k.extern(name, T.VOID, [i32, i32, i32, i32, i32, i32, fty, pty, i32, pty, i32, fty, pty, i32])
    _gemm_call(k, fn, a, bm, c, m, n, kk, b.trunc(lda, i32), b.trunc(ldb, i32), ta, tb, fty, ldc, beta)


# ---------------------------------------------------------------------------
# Convolution: im2col + gemm.


@dataclasses.dataclass
class _ConvGeometry:
    n: ir.Value
    c: ir.Value  # input channels
    o: ir.Value  # output channels
    h: _Axis
    w: _Axis
    pixels: ir.Value  # n * oh * ow: the im2col rows
    patch: ir.Value  # kh * kw * c: the im2col columns


def _conv_geometry(
    k: Kernel, x_shape: tuple[sym.Dim, ...], w_shape: tuple[sym.Dim, ...], y_shape: tuple[sym.Dim, ...]
) -> _ConvGeometry:
    a = k.attrs
    strides, dilations, padding = a["strides"], a["dilations"], a["padding"]
    h = _axis(k, x_shape[1], y_shape[1], w_shape[0], int(strides[1]), int(dilations[1]), padding)
    w = _axis(k, x_shape[2], y_shape[2], w_shape[1], int(strides[2]), int(dilations[2]), padding)
    b = k.b
    pixels = k.dim(sym.product([x_shape[0], y_shape[1], y_shape[2]]))
    patch = k.dim(sym.product([w_shape[0], w_shape[1], w_shape[2]]))
    return _ConvGeometry(
        k.dim(x_shape[0]), k.dim(x_shape[3]), k.dim(w_shape[3]), h, w, _smax(b, pixels, T.I64(0)), patch
    )


def _pixel(k: Kernel, g: _ConvGeometry, m: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Output pixel ``m`` (row-major over n, oh, ow) as (n, oh, ow)."""
    b = k.b
    plane = b.mul(g.h.out, g.w.out)
    n = b.udiv(m, plane)
    rem = b.urem(m, plane)
    return n, b.udiv(rem, g.w.out), b.urem(rem, g.w.out)


def _each_patch_run(
    k: Kernel, g: _ConvGeometry, m: ir.Value, run: Callable[[ir.Value, ir.Value, ir.Value], None]
) -> None:
    """For output pixel ``m``, every run of patch elements that lies inside the image:
    ``run(image_offset, patch_offset, length)``. With a width dilation of 1 one run per
    filter row (its in-image taps are adjacent in both), else one per tap."""
    b = k.b
    n, oh, ow = _pixel(k, g, m)
    sh, lo_h, hi_h = _taps(b, g.h, oh)
    sw, lo_w, hi_w = _taps(b, g.w, ow)
    c = g.c

    def row(i: ir.Value) -> None:
        ih = b.add(sh, b.mul(i, T.I64(g.h.dilation)))
        img_row = b.mul(b.add(b.mul(n, g.h.size), ih), g.w.size)
        patch_row = b.mul(i, g.w.k)
        if g.w.dilation == 1:
            iw = b.add(sw, lo_w)
            run(b.mul(b.add(img_row, iw), c), b.mul(b.add(patch_row, lo_w), c), b.mul(b.sub(hi_w, lo_w), c))
            return

        def tap(j: ir.Value) -> None:
            iw = b.add(sw, b.mul(j, T.I64(g.w.dilation)))
            run(b.mul(b.add(img_row, iw), c), b.mul(b.add(patch_row, j), c), c)

        _loop_range(k, lo_w, hi_w, tap, "kw")

    # hi_w > lo_w is implied for every pixel of a non-empty output; the guard keeps a
    # negative run length from ever reaching a copy.
    with b.if_then(b.icmp_signed("<", lo_w, hi_w)):
        _loop_range(k, lo_h, hi_h, row, "kh")


def _im2col(
    k: Kernel, g: _ConvGeometry, x: ir.Value, cols: ir.Value, m0: ir.Value, rows: ir.Value, dtype: np.dtype
) -> None:
    """cols[r, (i, j, c)] = x_padded[n, oh*sh + i*dh, ow*sw + j*dw, c] for the ``rows``
    pixels from ``m0`` (zero where the tap is padding)."""
    b = k.b
    _zero(k, cols, b.mul(rows, g.patch), dtype)

    def pixel(r: ir.Value) -> None:
        base = b.mul(r, g.patch)

        def run(img: ir.Value, patch: ir.Value, length: ir.Value) -> None:
            _copy(k, _ptr(b, cols, b.add(base, patch)), _ptr(b, x, img), length)

        _each_patch_run(k, g, b.add(m0, r), run)

    k.loop(rows, pixel, name="px")


def _col2im(k: Kernel, g: _ConvGeometry, cols: ir.Value, dx: ir.Value, m0: ir.Value, rows: ir.Value) -> None:
    """dx[n, ih, iw, c] += cols[r, (i, j, c)] over every in-image tap (the adjoint of _im2col)."""
    b = k.b

    def pixel(r: ir.Value) -> None:
        base = b.mul(r, g.patch)

        def run(img: ir.Value, patch: ir.Value, length: ir.Value) -> None:
            _add_into(k, _ptr(b, dx, img), _ptr(b, cols, b.add(base, patch)), length)

        _each_patch_run(k, g, b.add(m0, r), run)

    k.loop(rows, pixel, name="px")


def _chunks(
    k: Kernel, g: _ConvGeometry, dtype: np.dtype, body: Callable[[ir.Value, ir.Value, ir.Value], None]
) -> None:
    """Pixels in chunks of at most ``SCRATCH_ELEMENTS // patch`` (at least one):
    ``body(scratch, m0, rows)`` for each, with an im2col-sized scratch block; freed after."""
    b = k.b
    per = _smax(b, b.sdiv(T.I64(SCRATCH_ELEMENTS), _smax(b, g.patch, T.I64(1))), T.I64(1))
    chunk = _smin(b, per, g.pixels)
    scratch = _malloc(k, b.mul(chunk, g.patch), T.reg_type(dtype), dtype.itemsize)
    n_chunks = b.sdiv(b.add(g.pixels, b.sub(chunk, T.I64(1))), chunk)

    def one(j: ir.Value) -> None:
        m0 = b.mul(j, chunk)
        body(scratch, m0, _smin(b, chunk, b.sub(g.pixels, m0)))

    k.loop(n_chunks, one, name="chunk")
    _free(k, scratch)


@lowering("Conv2D")
def _conv2d(k: Kernel) -> None:
    """TF1 Conv2D (cross-correlation, zero padding): y[pixels, O] = cols[pixels, P] @ w[P, O]."""
    x, w = k.inputs
    y = k.outputs[0]
    dtype = _float_dtype(y, _GEMM_DTYPES)
    g = _conv_geometry(k, x.shape, w.shape, y.shape)
    b = k.b
    ny = k.size(y.shape)
    _check_blas(k, [g.patch, g.o])
    with b.if_then(b.icmp_signed(">", ny, T.I64(0))):
        with b.if_else(b.icmp_signed(">", g.patch, T.I64(0))) as (full, empty):
            with full:

                def chunk(cols: ir.Value, m0: ir.Value, rows: ir.Value) -> None:
                    _im2col(k, g, x.ptr, cols, m0, rows, dtype)
                    out = _ptr(b, y.ptr, b.mul(m0, g.o))
                    _gemm(
                        k, dtype, False, False, rows, g.o, g.patch, cols, g.patch, w.ptr, g.o, out, g.o, 0.0
                    )

                _chunks(k, g, dtype, chunk)
            with empty:  # no input channels: every sum is empty
                _zero(k, y.ptr, ny, dtype)


@lowering("Conv2DBackpropInput")
def _conv2d_backprop_input(k: Kernel) -> None:
    """TF1 Conv2DBackpropInput: cols = dy[pixels, O] @ w[P, O]^T, scattered back (col2im);
    cells no window reads get zero."""
    _, w, dy = k.inputs
    dx = k.outputs[0]
    dtype = _float_dtype(dx, _GEMM_DTYPES)
    g = _conv_geometry(k, dx.shape, w.shape, dy.shape)
    b = k.b
    _check_blas(k, [g.patch, g.o])
    _zero(k, dx.ptr, k.size(dx.shape), dtype)
    nonempty = b.and_(b.icmp_signed(">", g.pixels, T.I64(0)), b.icmp_signed(">", g.patch, T.I64(0)))
    with b.if_then(b.and_(nonempty, b.icmp_signed(">", g.o, T.I64(0)))):

        def chunk(cols: ir.Value, m0: ir.Value, rows: ir.Value) -> None:
            src = _ptr(b, dy.ptr, b.mul(m0, g.o))
            _gemm(k, dtype, False, True, rows, g.patch, g.o, src, g.o, w.ptr, g.o, cols, g.patch, 0.0)
            _col2im(k, g, cols, dx.ptr, m0, rows)

        _chunks(k, g, dtype, chunk)


@lowering("Conv2DBackpropFilter")
def _conv2d_backprop_filter(k: Kernel) -> None:
    """TF1 Conv2DBackpropFilter: dw[P, O] = sum over chunks of cols^T @ dy (zero when there
    are no pixels)."""
    x, _, dy = k.inputs
    dw = k.outputs[0]
    dtype = _float_dtype(dw, _GEMM_DTYPES)
    g = _conv_geometry(k, x.shape, dw.shape, dy.shape)
    b = k.b
    _check_blas(k, [g.patch, g.o])
    _zero(k, dw.ptr, k.size(dw.shape), dtype)
    nonempty = b.and_(b.icmp_signed(">", g.pixels, T.I64(0)), b.icmp_signed(">", g.patch, T.I64(0)))
    with b.if_then(b.and_(nonempty, b.icmp_signed(">", g.o, T.I64(0)))):

        def chunk(cols: ir.Value, m0: ir.Value, rows: ir.Value) -> None:
            _im2col(k, g, x.ptr, cols, m0, rows, dtype)
            src = _ptr(b, dy.ptr, b.mul(m0, g.o))
            _gemm(k, dtype, True, False, g.patch, g.o, rows, cols, g.patch, src, g.o, dw.ptr, g.o, 1.0)

        _chunks(k, g, dtype, chunk)


# ---------------------------------------------------------------------------
# Pooling: direct loops, channels innermost.


@dataclasses.dataclass
class _PoolGeometry:
    n: ir.Value
    c: ir.Value
    h: _Axis
    w: _Axis


def _pool_geometry(k: Kernel, x_shape: tuple[sym.Dim, ...], y_shape: tuple[sym.Dim, ...]) -> _PoolGeometry:
    a = k.attrs
    ks, st, pad = a["ksize"], a["strides"], a["padding"]
    h = _axis(k, x_shape[1], y_shape[1], int(ks[1]), int(st[1]), 1, pad)
    w = _axis(k, x_shape[2], y_shape[2], int(ks[2]), int(st[2]), 1, pad)
    return _PoolGeometry(k.dim(x_shape[0]), k.dim(x_shape[3]), h, w)


# (y_row, n, start_h, lo_h, hi_h, start_w, lo_w, hi_w)
WindowBody = Callable[[ir.Value, ir.Value, ir.Value, ir.Value, ir.Value, ir.Value, ir.Value, ir.Value], None]


def _each_window(k: Kernel, g: _PoolGeometry, body: WindowBody) -> None:
    """``body(y_row, n, start_h, lo_h, hi_h, start_w, lo_w, hi_w)`` for every window, where
    ``y_row`` is the element offset of the window's output pixel (its channel 0)."""
    b = k.b

    def window(idx: list[ir.Value]) -> None:
        n, oh, ow = idx
        y_row = b.mul(b.add(b.mul(b.add(b.mul(n, g.h.out), oh), g.w.out), ow), g.c)
        sh, lo_h, hi_h = _taps(b, g.h, oh)
        sw, lo_w, hi_w = _taps(b, g.w, ow)
        body(y_row, n, sh, lo_h, hi_h, sw, lo_w, hi_w)

    k.loop_nest([g.n, g.h.out, g.w.out], window)


def _each_cell(
    k: Kernel,
    g: _PoolGeometry,
    n: ir.Value,
    sh: ir.Value,
    lo_h: ir.Value,
    hi_h: ir.Value,
    sw: ir.Value,
    lo_w: ir.Value,
    hi_w: ir.Value,
    body: Callable[[ir.Value], None],
) -> None:
    """``body(x_row)`` for each in-image cell of a window (row-major), ``x_row`` its channel 0."""
    b = k.b

    def row(i: ir.Value) -> None:
        img_row = b.mul(b.add(b.mul(n, g.h.size), b.add(sh, i)), g.w.size)
        _loop_range(k, lo_w, hi_w, lambda j: body(b.mul(b.add(img_row, b.add(sw, j)), g.c)), "pw")

    _loop_range(k, lo_h, hi_h, row, "ph")


def _lowest(dtype: np.dtype) -> ir.Constant:
    if dtype.kind == "f":
        return T.constant(dtype, -np.inf)
    return T.constant(dtype, np.iinfo(dtype).min)


@lowering("MaxPool")
def _max_pool(k: Kernel) -> None:
    """TF1 MaxPool: the max of each window's in-image cells (NaN propagates, as NumPy's max;
    padded cells hold the lowest value, which never changes a max of real cells)."""
    x, y = k.inputs[0], k.outputs[0]
    dtype = y.dtype
    if dtype.kind not in "iuf" or not T.is_native(dtype):
        raise Unsupported(f"MaxPool of {dtype}")
    g = _pool_geometry(k, x.shape, y.shape)
    b = k.b
    low = _lowest(dtype)

    def window(
        y_row: ir.Value,
        n: ir.Value,
        sh: ir.Value,
        lo_h: ir.Value,
        hi_h: ir.Value,
        sw: ir.Value,
        lo_w: ir.Value,
        hi_w: ir.Value,
    ) -> None:
        out = _ptr(b, y.ptr, y_row)
        k.loop(g.c, lambda c: b.store(low, _ptr(b, out, c)), name="init")

        def cell(x_row: ir.Value) -> None:
            src = _ptr(b, x.ptr, x_row)

            def chan(c: ir.Value) -> None:
                p = _ptr(b, out, c)
                b.store(scalars.combine(b, "max", dtype, b.load(p), b.load(_ptr(b, src, c))), p)

            k.loop(g.c, chan, name="c")

        _each_cell(k, g, n, sh, lo_h, hi_h, sw, lo_w, hi_w, cell)

    _each_window(k, g, window)


@lowering("AvgPool")
def _avg_pool(k: Kernel) -> None:
    """TF1 AvgPool: each window's sum over its in-image cells divided by their number."""
    x, y = k.inputs[0], k.outputs[0]
    dtype = _float_dtype(y, _POOL_FLOATS)
    g = _pool_geometry(k, x.shape, y.shape)
    b = k.b
    zero = T.constant(dtype, 0)
    fty = T.reg_type(dtype)

    def window(
        y_row: ir.Value,
        n: ir.Value,
        sh: ir.Value,
        lo_h: ir.Value,
        hi_h: ir.Value,
        sw: ir.Value,
        lo_w: ir.Value,
        hi_w: ir.Value,
    ) -> None:
        out = _ptr(b, y.ptr, y_row)
        k.loop(g.c, lambda c: b.store(zero, _ptr(b, out, c)), name="init")
        _each_cell(
            k,
            g,
            n,
            sh,
            lo_h,
            hi_h,
            sw,
            lo_w,
            hi_w,
            lambda x_row: _add_into(k, out, _ptr(b, x.ptr, x_row), g.c),
        )
        count = b.sitofp(b.mul(b.sub(hi_h, lo_h), b.sub(hi_w, lo_w)), fty)

        def mean(c: ir.Value) -> None:
            p = _ptr(b, out, c)
            b.store(b.fdiv(b.load(p), count), p)

        k.loop(g.c, mean, name="mean")

    _each_window(k, g, window)


@lowering("AvgPoolGrad")
def _avg_pool_grad(k: Kernel) -> None:
    """TF1 AvgPoolGrad: each window's dy / count added to every in-image cell of the window."""
    dy, dx = k.inputs[1], k.outputs[0]
    dtype = _float_dtype(dx, _POOL_FLOATS)
    g = _pool_geometry(k, dx.shape, dy.shape)
    b = k.b
    fty = T.reg_type(dtype)
    _zero(k, dx.ptr, k.size(dx.shape), dtype)

    def window(
        y_row: ir.Value,
        n: ir.Value,
        sh: ir.Value,
        lo_h: ir.Value,
        hi_h: ir.Value,
        sw: ir.Value,
        lo_w: ir.Value,
        hi_w: ir.Value,
    ) -> None:
        src = _ptr(b, dy.ptr, y_row)
        count = b.sitofp(b.mul(b.sub(hi_h, lo_h), b.sub(hi_w, lo_w)), fty)

        def cell(x_row: ir.Value) -> None:
            dst = _ptr(b, dx.ptr, x_row)

            def chan(c: ir.Value) -> None:
                p = _ptr(b, dst, c)
                b.store(b.fadd(b.load(p), b.fdiv(b.load(_ptr(b, src, c)), count)), p)

            k.loop(g.c, chan, name="c")

        _each_cell(k, g, n, sh, lo_h, hi_h, sw, lo_w, hi_w, cell)

    _each_window(k, g, window)


def _argmax_windows(
    k: Kernel, x: Arg, y_shape: tuple[sym.Dim, ...], per: Callable[[ir.Value, ir.Value, ir.Value], None]
) -> None:
    """For every window and channel, the offset in ``x`` of the window's argmax over its
    padded cells (NumPy's rule: the first NaN, else the first maximal cell, row-major; a
    padded cell holds the lowest value): ``per(y_offset, is_real, x_offset)``, where
    ``is_real`` is false when the winner is a padded cell (then ``x_offset`` is 0).

    A padded cell can only win as the window's first cell (it holds the lowest value and
    is no NaN, so it is never strictly greater), so the loops visit the in-image cells
    only, starting from a padded winner, and the cell at tap (0, 0), when in the image,
    wins unconditionally. Channels run innermost over a scratch row of best values and
    winners (one per channel, malloc'd once), so the comparisons are vector code."""
    g = _pool_geometry(k, x.shape, y_shape)
    b = k.b
    dtype = x.dtype
    ty = T.reg_type(dtype)
    low = _lowest(dtype)
    c_n = g.c
    # One block (so one allocation can fail and one free ends it): per channel the
    # winner's offset in x (or -1 for a padded cell), then the best values.
    where = _malloc(k, c_n, T.I64, 8 + dtype.itemsize)
    best = b.bitcast(_ptr(b, where, c_n), ty.as_pointer())

    def window(
        y_row: ir.Value,
        n: ir.Value,
        sh: ir.Value,
        lo_h: ir.Value,
        hi_h: ir.Value,
        sw: ir.Value,
        lo_w: ir.Value,
        hi_w: ir.Value,
    ) -> None:
        def init(c: ir.Value) -> None:
            b.store(low, _ptr(b, best, c))
            b.store(T.I64(-1), _ptr(b, where, c))

        k.loop(c_n, init, name="init")

        def row(i: ir.Value) -> None:
            img_row = b.mul(b.add(b.mul(n, g.h.size), b.add(sh, i)), g.w.size)

            def tap(j: ir.Value) -> None:
                x_row = b.mul(b.add(img_row, b.add(sw, j)), c_n)
                first = b.and_(b.icmp_signed("==", i, T.I64(0)), b.icmp_signed("==", j, T.I64(0)))

                def chan(c: ir.Value) -> None:
                    off = b.add(x_row, c)
                    v = b.load(_ptr(b, x.ptr, off))
                    pb, pw = _ptr(b, best, c), _ptr(b, where, c)
                    cur = b.load(pb)
                    if dtype.kind == "f":
                        nan_v = b.fcmp_unordered("uno", v, v)
                        nan_cur = b.fcmp_unordered("uno", cur, cur)
                        wins = b.or_(b.fcmp_ordered(">", v, cur), b.and_(nan_v, b.not_(nan_cur)))
                    else:
                        wins = (
                            b.icmp_signed(">", v, cur) if dtype.kind == "i" else b.icmp_unsigned(">", v, cur)
                        )
                    take = b.or_(first, wins)
                    b.store(b.select(take, v, cur), pb)
                    b.store(b.select(take, off, b.load(pw)), pw)

                k.loop(c_n, chan, name="c")

            _loop_range(k, lo_w, hi_w, tap, "tw")

        _loop_range(k, lo_h, hi_h, row, "th")

        def finish(c: ir.Value) -> None:
            w_off = b.load(_ptr(b, where, c))
            real = b.icmp_signed(">=", w_off, T.I64(0))
            per(b.add(y_row, c), real, b.select(real, w_off, T.I64(0)))

        k.loop(c_n, finish, name="route")

    _each_window(k, g, window)
    _free(k, where)


@lowering("MaxPoolGrad")
def _max_pool_grad(k: Kernel) -> None:
    """TF1 MaxPoolGrad: each dy to its window's argmax (recomputed from orig_input; ties to
    the first cell in row-major window order), overlapping windows adding up in window order."""
    x, _, dy = k.inputs
    dx = k.outputs[0]
    dtype = _float_dtype(dx, _POOL_FLOATS)
    if x.dtype != dtype:
        raise Unsupported("MaxPoolGrad with mixed dtypes")
    b = k.b
    _zero(k, dx.ptr, k.size(dx.shape), dtype)

    def per(y_off: ir.Value, real: ir.Value, x_off: ir.Value) -> None:
        with b.if_then(real):
            p = _ptr(b, dx.ptr, x_off)
            b.store(b.fadd(b.load(p), b.load(_ptr(b, dy.ptr, y_off))), p)

    _argmax_windows(k, x, dy.shape, per)


@lowering("MaxPoolGradGrad")
def _max_pool_grad_grad(k: Kernel) -> None:
    """TF1 MaxPoolGradGrad: for each window, the incoming value (of orig_input's shape) at the
    window's argmax, 0 when the argmax is a padded cell."""
    x, _, gg = k.inputs
    out = k.outputs[0]
    dtype = _float_dtype(out, _POOL_FLOATS)
    if x.dtype != dtype:
        raise Unsupported("MaxPoolGradGrad with mixed dtypes")
    b = k.b
    zero = T.constant(dtype, 0)

    def per(y_off: ir.Value, real: ir.Value, x_off: ir.Value) -> None:
        v = b.load(_ptr(b, gg.ptr, x_off))
        b.store(b.select(real, v, zero), _ptr(b, out.ptr, y_off))

    _argmax_windows(k, x, out.shape, per)
