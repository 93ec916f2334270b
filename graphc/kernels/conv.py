"""NumPy reference kernels for TF1's 2-D convolution and pooling ops.

These functions define what ``Conv2D``, ``Conv2DBackpropInput``,
``Conv2DBackpropFilter``, ``MaxPool``, ``MaxPoolGrad``, ``AvgPool`` and
``AvgPoolGrad`` compute; other backends are checked against them.

Layouts follow ``tf.nn.conv2d`` / ``tf.nn.max_pool`` / ``tf.nn.avg_pool`` with
``data_format="NHWC"``: images are ``[N, H, W, C]`` and filters are
``[KH, KW, C_in, C_out]`` (HWIO).  ``strides``, ``dilations`` and ``ksize`` are
``(h, w)`` pairs: the caller strips the batch and channel entries of TF's
4-tuples.  Padding is TF's "SAME"/"VALID" (see :func:`conv_output_size`).

Everything is vectorised: the forward ops build an im2col view with
``sliding_window_view`` (no copy until the contraction), and the input
gradients scatter columns back with one strided add per kernel tap
(``col2im``), so Python only loops over the ``KH * KW`` taps, never over
pixels or the batch.

Floating inputs keep their dtype; float16 is accumulated in float32 and
rounded once at the end, so the oracle is not noisier than the backends.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "avg_pool",
    "avg_pool_grad",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "conv_output_size",
    "max_pool",
    "max_pool_grad",
]

_PADDINGS = ("SAME", "VALID")

# ((out, pad_before, pad_after) for H, (out, pad_before, pad_after) for W)
_Geometry = tuple[tuple[int, int, int], tuple[int, int, int]]


# --------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------


def conv_output_size(in_size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """Return ``(out_size, pad_before, pad_after)`` for one spatial axis.

    Follows TF1's ``GetWindowedOutputSizeVerbose``: with the effective kernel
    ``ek = (k - 1) * dilation + 1``,

    * SAME: ``out = ceil(in / stride)``, total padding
      ``max((out - 1) * stride + ek - in, 0)``, split with the smaller half
      first (``before = total // 2``), so odd padding goes at the end;
    * VALID: ``out = ceil((in - ek + 1) / stride)``, no padding.
    """
    if padding not in _PADDINGS:
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    in_size = operator.index(in_size)
    k = operator.index(k)
    stride = operator.index(stride)
    dilation = operator.index(dilation)
    if in_size < 0:
        raise ValueError(f"input size must be >= 0, got {in_size}")
    if k < 1:
        raise ValueError(f"kernel size must be >= 1, got {k}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")

    eff_k = (k - 1) * dilation + 1
    if padding == "SAME":
        out = -(-in_size // stride)
        total = max((out - 1) * stride + eff_k - in_size, 0)
    else:
        # -(-a // b) is ceil(a / b) for ints, also for negative a.
        out = -(-(in_size - eff_k + 1) // stride)
        total = 0
    if out <= 0:
        raise ValueError(
            f"computed output size would be {out} (non-positive) for input size "
            f"{in_size}, kernel {k}, stride {stride}, dilation {dilation}, "
            f"padding {padding}"
        )
    before = total // 2
    return out, before, total - before


def _pair(value: Sequence[int], name: str) -> tuple[int, int]:
    """Validate an ``(h, w)`` pair of positive ints."""
    try:
        a, b = (operator.index(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of ints (h, w), got {value!r}") from None
    if a < 1 or b < 1:
        raise ValueError(f"{name} entries must be >= 1, got {(a, b)}")
    return a, b


def _shape4(shape: Sequence[int], name: str) -> tuple[int, int, int, int]:
    """Validate a 4-D shape given as any sequence of ints (list, tuple, array)."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of 4 ints, got {shape!r}") from None
    if len(dims) != 4 or any(d < 0 for d in dims):
        raise ValueError(f"{name} must be 4 non-negative ints, got {dims}")
    return dims  # type: ignore[return-value]


def _check_rank4(a: np.ndarray, name: str, layout: str) -> None:
    if a.ndim != 4:
        raise ValueError(f"{name} must be 4-D {layout}, got shape {a.shape}")


def _geometry(
    h: int,
    w: int,
    kh: int,
    kw: int,
    strides: tuple[int, int],
    dilations: tuple[int, int],
    padding: str,
) -> _Geometry:
    return (
        conv_output_size(h, kh, strides[0], dilations[0], padding),
        conv_output_size(w, kw, strides[1], dilations[1], padding),
    )


def _check_grad_shape(dy: np.ndarray, what: str, n: int, geo: _Geometry, channels: int) -> None:
    """A backprop's incoming gradient must have the forward op's output shape."""
    expected = (n, geo[0][0], geo[1][0], channels)
    if dy.shape != expected:
        raise ValueError(f"{what} shape {dy.shape} does not match expected {expected}")


def _compute_dtype(*dtypes: np.dtype) -> tuple[np.dtype, np.dtype]:
    """Return ``(result_dtype, accumulate_dtype)`` for the given operands.

    The result keeps the (promoted) input dtype; floats narrower than 32 bits
    accumulate in float32 because summing many float16 products in float16
    loses far more precision than any real backend does.
    """
    result = np.result_type(*dtypes)
    acc = result
    if result.kind == "f" and result.itemsize < 4:
        acc = np.dtype(np.float32)
    return result, acc


def _pad(x: np.ndarray, geo: _Geometry, value: float = 0) -> np.ndarray:
    """Pad the H and W axes of an NHWC array by the amounts in ``geo``."""
    (_, ph0, ph1), (_, pw0, pw1) = geo
    if ph0 == ph1 == pw0 == pw1 == 0:
        return x
    return np.pad(x, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)), constant_values=value)


def _windows(
    xp: np.ndarray,
    kh: int,
    kw: int,
    geo: _Geometry,
    strides: tuple[int, int],
    dilations: tuple[int, int],
) -> np.ndarray:
    """im2col as a view: ``[N, OH, OW, C, KH, KW]`` windows of padded ``xp``.

    Windows span the *effective* (dilated) kernel and are then subsampled by
    the dilation, so dilated taps and strides are both plain slicing.
    """
    (oh, _, _), (ow, _, _) = geo
    sh, sw = strides
    dh, dw = dilations
    ekh = (kh - 1) * dh + 1
    ekw = (kw - 1) * dw + 1
    view = sliding_window_view(xp, (ekh, ekw), axis=(1, 2))
    # Slice to exactly OH/OW rows: with SAME padding clamped to 0 there can
    # be extra complete windows past the last output that TF does not emit.
    return view[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]


def _col2im(
    cols: np.ndarray,
    padded_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    dtype: np.dtype,
) -> np.ndarray:
    """Scatter-add columns ``[N, OH, OW, KH, KW, C]`` into a padded NHWC image.

    The adjoint (transpose) of :func:`_windows`: every window tap ``(i, j)`` of
    every output pixel adds into the input pixel it was read from, so
    overlapping windows accumulate.  One vectorised strided add per tap.
    """
    _, oh, ow, kh, kw, _ = cols.shape
    sh, sw = strides
    dh, dw = dilations
    out = np.zeros(padded_shape, dtype=dtype)
    for i in range(kh):
        r0 = i * dh
        for j in range(kw):
            c0 = j * dw
            out[:, r0 : r0 + (oh - 1) * sh + 1 : sh, c0 : c0 + (ow - 1) * sw + 1 : sw, :] += cols[
                :, :, :, i, j, :
            ]
    return out


def _crop(xp: np.ndarray, geo: _Geometry, h: int, w: int) -> np.ndarray:
    """Drop the padding added by :func:`_pad` (the padded cells get no gradient)."""
    (_, ph0, _), (_, pw0, _) = geo
    return xp[:, ph0 : ph0 + h, pw0 : pw0 + w, :]


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    strides: tuple[int, int],
    padding: str,
    dilations: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """TF1 ``Conv2D`` (NHWC, HWIO): ``[N,H,W,C] x [KH,KW,C,O] -> [N,OH,OW,O]``.

    Like TF this is cross-correlation (the filter is not flipped); padded
    cells are zeros.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    _check_rank4(x, "input", "[N, H, W, C]")
    _check_rank4(w, "filter", "[KH, KW, C_in, C_out]")
    strides = _pair(strides, "strides")
    dilations = _pair(dilations, "dilations")
    _, h, wd, c = x.shape
    kh, kw, ci, _ = w.shape
    if ci != c:
        raise ValueError(f"filter in_channels {ci} does not match input channels {c}")
    geo = _geometry(h, wd, kh, kw, strides, dilations, padding)
    res_dt, acc_dt = _compute_dtype(x.dtype, w.dtype)

    xp = _pad(x.astype(acc_dt, copy=False), geo)
    patches = _windows(xp, kh, kw, geo, strides, dilations)  # [N,OH,OW,C,KH,KW]
    # Contract (C, KH, KW) of the patches with (C, KH, KW) of the filter.
    y = np.tensordot(patches, w.astype(acc_dt, copy=False), axes=([3, 4, 5], [2, 0, 1]))
    return y.astype(res_dt, copy=False)


def conv2d_backprop_input(
    input_shape: Sequence[int],
    w: np.ndarray,
    dy: np.ndarray,
    strides: tuple[int, int],
    padding: str,
    dilations: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """TF1 ``Conv2DBackpropInput``: gradient of :func:`conv2d` w.r.t. its input.

    ``input_shape`` is needed (as in TF) because several input sizes map to
    the same output size; input pixels no window reads (VALID with a stride
    that skips the tail) get zero gradient.
    """
    w = np.asarray(w)
    dy = np.asarray(dy)
    _check_rank4(w, "filter", "[KH, KW, C_in, C_out]")
    _check_rank4(dy, "out_backprop", "[N, OH, OW, C_out]")
    n, h, wd, c = _shape4(input_shape, "input_shape")
    strides = _pair(strides, "strides")
    dilations = _pair(dilations, "dilations")
    kh, kw, ci, co = w.shape
    if ci != c:
        raise ValueError(f"filter in_channels {ci} does not match input_shape channels {c}")
    geo = _geometry(h, wd, kh, kw, strides, dilations, padding)
    _check_grad_shape(dy, "out_backprop", n, geo, co)
    res_dt, acc_dt = _compute_dtype(w.dtype, dy.dtype)

    # Columns [N,OH,OW,KH,KW,C]: each output gradient spread over its window.
    cols = np.tensordot(dy.astype(acc_dt, copy=False), w.astype(acc_dt, copy=False), axes=([3], [3]))
    padded = (n, h + geo[0][1] + geo[0][2], wd + geo[1][1] + geo[1][2], c)
    dxp = _col2im(cols, padded, strides, dilations, acc_dt)
    return np.ascontiguousarray(_crop(dxp, geo, h, wd)).astype(res_dt, copy=False)


def conv2d_backprop_filter(
    x: np.ndarray,
    filter_shape: Sequence[int],
    dy: np.ndarray,
    strides: tuple[int, int],
    padding: str,
    dilations: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """TF1 ``Conv2DBackpropFilter``: gradient of :func:`conv2d` w.r.t. its filter.

    ``dw[i, j, c, o] = sum_{n, oh, ow} x_pad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    * dy[n, oh, ow, o]`` -- the im2col patches contracted with ``dy``.
    """
    x = np.asarray(x)
    dy = np.asarray(dy)
    _check_rank4(x, "input", "[N, H, W, C]")
    _check_rank4(dy, "out_backprop", "[N, OH, OW, C_out]")
    kh, kw, ci, co = _shape4(filter_shape, "filter_shape")
    strides = _pair(strides, "strides")
    dilations = _pair(dilations, "dilations")
    n, h, wd, c = x.shape
    if ci != c:
        raise ValueError(f"filter_shape in_channels {ci} does not match input channels {c}")
    if kh < 1 or kw < 1:
        raise ValueError(f"filter spatial size must be >= 1, got {(kh, kw)}")
    geo = _geometry(h, wd, kh, kw, strides, dilations, padding)
    _check_grad_shape(dy, "out_backprop", n, geo, co)
    res_dt, acc_dt = _compute_dtype(x.dtype, dy.dtype)

    xp = _pad(x.astype(acc_dt, copy=False), geo)
    patches = _windows(xp, kh, kw, geo, strides, dilations)  # [N,OH,OW,C,KH,KW]
    dw = np.tensordot(patches, dy.astype(acc_dt, copy=False), axes=([0, 1, 2], [0, 1, 2]))
    # tensordot gives [C, KH, KW, O]; TF's filter layout is HWIO.
    return np.ascontiguousarray(dw.transpose(1, 2, 0, 3)).astype(res_dt, copy=False)


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------


def _lowest(dtype: np.dtype) -> float:
    """A pad value that never wins a max: -inf for floats, the minimum for ints."""
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).min)
    if dtype.kind == "b":
        return False
    raise TypeError(f"max_pool does not support dtype {dtype}")


def _pool_setup(
    shape: tuple[int, ...], ksize: Sequence[int], strides: Sequence[int], padding: str
) -> tuple[tuple[int, int], tuple[int, int], _Geometry]:
    k = _pair(ksize, "ksize")
    s = _pair(strides, "strides")
    geo = _geometry(shape[1], shape[2], k[0], k[1], s, (1, 1), padding)
    return k, s, geo


def max_pool(x: np.ndarray, ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> np.ndarray:
    """TF1 ``MaxPool`` (NHWC): max over each window; padded cells never win.

    With TF's SAME rule every window holds at least one real cell, so
    padding with the dtype's lowest value never leaks into the output.
    """
    x = np.asarray(x)
    _check_rank4(x, "input", "[N, H, W, C]")
    (kh, kw), s, geo = _pool_setup(x.shape, ksize, strides, padding)
    xp = _pad(x, geo, _lowest(x.dtype))
    patches = _windows(xp, kh, kw, geo, s, (1, 1))
    return patches.max(axis=(4, 5))


def max_pool_grad(
    x: np.ndarray,
    y: np.ndarray,
    dy: np.ndarray,
    ksize: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
) -> np.ndarray:
    """TF1 ``MaxPoolGrad``: route each ``dy`` to the argmax of its window.

    Like TF's CPU kernel, the argmax is recomputed from ``x`` (``y`` is only
    shape-checked) and a tie goes to the first maximal cell in row-major
    window order; overlapping windows accumulate into the same cell.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    dy = np.asarray(dy)
    _check_rank4(x, "orig_input", "[N, H, W, C]")
    (kh, kw), (sh, sw), geo = _pool_setup(x.shape, ksize, strides, padding)
    n, h, wd, c = x.shape
    (oh, _, _), (ow, _, _) = geo
    expected = (n, oh, ow, c)
    if y.shape != expected:
        raise ValueError(f"orig_output shape {y.shape} does not match expected {expected}")
    if dy.shape != expected:
        raise ValueError(f"grad shape {dy.shape} does not match expected {expected}")

    xp = _pad(x, geo, _lowest(x.dtype))
    patches = _windows(xp, kh, kw, geo, (sh, sw), (1, 1))
    # np.argmax returns the first maximum, and flattening (KH, KW) in C order
    # is row-major window order -- exactly TF's tie rule.
    arg = patches.reshape(n, oh, ow, c, kh * kw).argmax(axis=-1)
    ki, kj = np.divmod(arg, kw)
    rows = np.arange(oh).reshape(1, oh, 1, 1) * sh + ki
    cols = np.arange(ow).reshape(1, 1, ow, 1) * sw + kj
    bidx = np.arange(n).reshape(n, 1, 1, 1)
    cidx = np.arange(c).reshape(1, 1, 1, c)

    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    # add.at (unbuffered) so overlapping windows that pick the same cell add up.
    np.add.at(dxp, (bidx, rows, cols, cidx), dy)
    return np.ascontiguousarray(_crop(dxp, geo, h, wd))


def _avg_counts(h: int, w: int, k: tuple[int, int], s: tuple[int, int], geo: _Geometry) -> np.ndarray:
    """Number of real (unpadded) cells in each window, shape ``[OH, OW]``."""
    per_axis = []
    for size, kk, ss, (out, before, _) in (
        (h, k[0], s[0], geo[0]),
        (w, k[1], s[1], geo[1]),
    ):
        start = np.arange(out) * ss - before
        stop = start + kk
        per_axis.append(np.minimum(stop, size) - np.maximum(start, 0))
    return per_axis[0][:, None] * per_axis[1][None, :]


def _check_float(dtype: np.dtype, op: str) -> None:
    # TF1 registers AvgPool/AvgPoolGrad only for half, bfloat16, float, double.
    if dtype.kind != "f":
        raise TypeError(f"{op} requires a floating-point dtype, got {dtype}")


def avg_pool(x: np.ndarray, ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> np.ndarray:
    """TF1 ``AvgPool`` (NHWC): mean over the real cells of each window.

    With SAME padding TF divides by the number of unpadded cells in the
    window, not by ``KH * KW``, so border outputs are not pulled toward 0.
    """
    x = np.asarray(x)
    _check_rank4(x, "value", "[N, H, W, C]")
    _check_float(x.dtype, "avg_pool")
    k, s, geo = _pool_setup(x.shape, ksize, strides, padding)
    res_dt, acc_dt = _compute_dtype(x.dtype)
    counts = _avg_counts(x.shape[1], x.shape[2], k, s, geo)
    xp = _pad(x.astype(acc_dt, copy=False), geo)
    sums = _windows(xp, k[0], k[1], geo, s, (1, 1)).sum(axis=(4, 5))
    return (sums / counts[None, :, :, None].astype(acc_dt)).astype(res_dt, copy=False)


def avg_pool_grad(
    input_shape: Sequence[int],
    dy: np.ndarray,
    ksize: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
) -> np.ndarray:
    """TF1 ``AvgPoolGrad``: each ``dy`` split evenly over its window's real cells.

    The adjoint of :func:`avg_pool`: ``dy / count`` is added to every real
    cell of the window (padded cells are cropped away), overlaps accumulate.
    """
    dy = np.asarray(dy)
    _check_rank4(dy, "grad", "[N, OH, OW, C]")
    _check_float(dy.dtype, "avg_pool_grad")
    n, h, wd, c = _shape4(input_shape, "orig_input_shape")
    k, s, geo = _pool_setup((n, h, wd, c), ksize, strides, padding)
    _check_grad_shape(dy, "grad", n, geo, c)
    res_dt, acc_dt = _compute_dtype(dy.dtype)
    counts = _avg_counts(h, wd, k, s, geo).astype(acc_dt)
    g = dy.astype(acc_dt, copy=False) / counts[None, :, :, None]
    # Every tap of a window receives the same value: broadcast, no copy.
    cols = np.broadcast_to(g[:, :, :, None, None, :], (*g.shape[:3], k[0], k[1], c))
    padded = (n, h + geo[0][1] + geo[0][2], wd + geo[1][1] + geo[1][2], c)
    dxp = _col2im(cols, padded, s, (1, 1), acc_dt)
    return np.ascontiguousarray(_crop(dxp, geo, h, wd)).astype(res_dt, copy=False)
