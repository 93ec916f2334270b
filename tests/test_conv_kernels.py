"""Tests for graphc.kernels.conv, the NumPy reference conv/pool kernels.

Each kernel is checked against a deliberately naive loop implementation
written here (independent of the module's im2col/col2im code), and every
backprop kernel is checked against central finite differences of its
forward op in float64.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _load_conv() -> ModuleType:
    """Import the kernel module; fall back to loading it by file path.

    The package import can fail while other parts of ``graphc`` are being
    written (a broken ``graphc/__init__.py``); the kernel module itself only
    needs NumPy, so load it straight from its file in that case.
    """
    try:
        from graphc.kernels import conv as mod

        return mod
    except Exception:  # noqa: BLE001 - any failure of the package import
        path = Path(__file__).resolve().parents[1] / "graphc" / "ops" / "kernels" / "conv.py"
        name = "_graphc_conv_kernels_under_test"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod


K = _load_conv()

# --------------------------------------------------------------------------
# Naive references: explicit loops, TF's padding rule written out again.
# --------------------------------------------------------------------------


def ref_geometry(in_size: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    """(out_size, pad_before) using TF's integer formulas."""
    ek = (k - 1) * d + 1
    if padding == "SAME":
        out = (in_size + s - 1) // s
        pad = max((out - 1) * s + ek - in_size, 0) // 2
    else:
        out = (in_size - ek + s) // s
        pad = 0
    return out, pad


def taps(oh, ow, kh, kw, s, d, ph, pw, h, w):
    """Yield (i, j, r, q) for the in-bounds cells of window (oh, ow), row-major."""
    for i in range(kh):
        for j in range(kw):
            r = oh * s[0] + i * d[0] - ph
            q = ow * s[1] + j * d[1] - pw
            if 0 <= r < h and 0 <= q < w:
                yield i, j, r, q


def naive_conv2d(x, w, s, padding, d=(1, 1)):
    n, h, wd, _ = x.shape
    kh, kw, _, co = w.shape
    oh_n, ph = ref_geometry(h, kh, s[0], d[0], padding)
    ow_n, pw = ref_geometry(wd, kw, s[1], d[1], padding)
    y = np.zeros((n, oh_n, ow_n, co))
    for b in range(n):
        for oh in range(oh_n):
            for ow in range(ow_n):
                for i, j, r, q in taps(oh, ow, kh, kw, s, d, ph, pw, h, wd):
                    y[b, oh, ow] += x[b, r, q] @ w[i, j]
    return y


def naive_conv2d_backprop_input(shape, w, dy, s, padding, d=(1, 1)):
    n, h, wd, _ = shape
    kh, kw, _, _ = w.shape
    _, ph = ref_geometry(h, kh, s[0], d[0], padding)
    _, pw = ref_geometry(wd, kw, s[1], d[1], padding)
    dx = np.zeros(shape)
    for b in range(n):
        for oh in range(dy.shape[1]):
            for ow in range(dy.shape[2]):
                for i, j, r, q in taps(oh, ow, kh, kw, s, d, ph, pw, h, wd):
                    dx[b, r, q] += w[i, j] @ dy[b, oh, ow]
    return dx


def naive_conv2d_backprop_filter(x, fshape, dy, s, padding, d=(1, 1)):
    n, h, wd, _ = x.shape
    kh, kw, _, _ = fshape
    _, ph = ref_geometry(h, kh, s[0], d[0], padding)
    _, pw = ref_geometry(wd, kw, s[1], d[1], padding)
    dw = np.zeros(fshape)
    for b in range(n):
        for oh in range(dy.shape[1]):
            for ow in range(dy.shape[2]):
                for i, j, r, q in taps(oh, ow, kh, kw, s, d, ph, pw, h, wd):
                    dw[i, j] += np.outer(x[b, r, q], dy[b, oh, ow])
    return dw


def _pool_geo(h, wd, k, s, padding):
    oh_n, ph = ref_geometry(h, k[0], s[0], 1, padding)
    ow_n, pw = ref_geometry(wd, k[1], s[1], 1, padding)
    return oh_n, ow_n, ph, pw


def naive_max_pool(x, k, s, padding):
    n, h, wd, c = x.shape
    oh_n, ow_n, ph, pw = _pool_geo(h, wd, k, s, padding)
    y = np.zeros((n, oh_n, ow_n, c), dtype=x.dtype)
    for b in range(n):
        for oh in range(oh_n):
            for ow in range(ow_n):
                for ch in range(c):
                    cells = [x[b, r, q, ch] for _, _, r, q in taps(oh, ow, *k, s, (1, 1), ph, pw, h, wd)]
                    y[b, oh, ow, ch] = max(cells)
    return y


def naive_max_pool_grad(x, dy, k, s, padding):
    n, h, wd, c = x.shape
    oh_n, ow_n, ph, pw = _pool_geo(h, wd, k, s, padding)
    dx = np.zeros(x.shape)
    for b in range(n):
        for oh in range(oh_n):
            for ow in range(ow_n):
                for ch in range(c):
                    best = None
                    for _, _, r, q in taps(oh, ow, *k, s, (1, 1), ph, pw, h, wd):
                        # strict '>' keeps the first maximum in row-major order
                        if best is None or x[b, r, q, ch] > x[b, best[0], best[1], ch]:
                            best = (r, q)
                    dx[b, best[0], best[1], ch] += dy[b, oh, ow, ch]
    return dx


def naive_avg_pool(x, k, s, padding):
    n, h, wd, c = x.shape
    oh_n, ow_n, ph, pw = _pool_geo(h, wd, k, s, padding)
    y = np.zeros((n, oh_n, ow_n, c))
    for b in range(n):
        for oh in range(oh_n):
            for ow in range(ow_n):
                cells = [x[b, r, q] for _, _, r, q in taps(oh, ow, *k, s, (1, 1), ph, pw, h, wd)]
                y[b, oh, ow] = np.sum(cells, axis=0) / len(cells)
    return y


def naive_avg_pool_grad(shape, dy, k, s, padding):
    n, h, wd, _ = shape
    oh_n, ow_n, ph, pw = _pool_geo(h, wd, k, s, padding)
    dx = np.zeros(shape)
    for b in range(n):
        for oh in range(oh_n):
            for ow in range(ow_n):
                cells = list(taps(oh, ow, *k, s, (1, 1), ph, pw, h, wd))
                for _, _, r, q in cells:
                    dx[b, r, q] += dy[b, oh, ow] / len(cells)
    return dx


def fd_directional(f, x, dy, v, eps):
    """Central difference of <dy, f(x)> along v."""
    return float(np.sum(dy * (f(x + eps * v) - f(x - eps * v)))) / (2 * eps)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

# (H, W, KH, KW, strides, dilations, padding)
CONV_CASES = [
    (5, 7, 3, 3, (1, 1), (1, 1), "SAME"),
    (7, 5, 3, 3, (2, 2), (1, 1), "SAME"),  # odd sizes, stride 2, SAME
    (6, 8, 3, 2, (2, 2), (1, 1), "SAME"),  # even sizes: pad goes after
    (7, 6, 2, 3, (2, 1), (1, 1), "VALID"),
    (8, 7, 3, 3, (1, 1), (2, 2), "SAME"),  # dilation
    (9, 8, 3, 2, (2, 3), (2, 1), "VALID"),  # dilation and stride
    (7, 7, 2, 2, (3, 3), (1, 1), "VALID"),  # stride > kernel: skipped pixels
    (5, 5, 1, 1, (2, 2), (1, 1), "SAME"),
    (3, 4, 5, 4, (1, 1), (1, 1), "SAME"),  # kernel larger than input
    (9, 9, 2, 2, (3, 2), (3, 2), "SAME"),
    (11, 10, 2, 2, (4, 4), (1, 1), "SAME"),  # needed pad < 0: clamped to 0
]
CONV_IDS = [f"{h}x{w}-k{kh}x{kw}-s{s[0]}{s[1]}-d{d[0]}{d[1]}-{p}" for h, w, kh, kw, s, d, p in CONV_CASES]

# (H, W, ksize, strides, padding)
POOL_CASES = [
    (5, 5, (2, 2), (2, 2), "SAME"),  # odd size, stride 2, SAME
    (7, 6, (3, 3), (2, 2), "SAME"),
    (6, 7, (3, 2), (1, 2), "VALID"),
    (5, 7, (3, 3), (1, 1), "SAME"),  # heavy overlap
    (7, 7, (2, 2), (3, 3), "VALID"),  # gaps between windows
    (4, 5, (5, 4), (2, 3), "SAME"),  # window larger than input
    (8, 8, (3, 3), (3, 2), "SAME"),
    (11, 10, (2, 2), (4, 4), "SAME"),  # needed pad < 0: clamped to 0
]
POOL_IDS = [f"{h}x{w}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-{p}" for h, w, k, s, p in POOL_CASES]

N, C, O = 2, 3, 4  # noqa: E741  (batch, channels, outputs)


def _conv_data(case, seed):
    h, w, kh, kw, s, d, p = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, h, w, C))
    f = rng.standard_normal((kh, kw, C, O))
    oh, _ = ref_geometry(h, kh, s[0], d[0], p)
    ow, _ = ref_geometry(w, kw, s[1], d[1], p)
    dy = rng.standard_normal((N, oh, ow, O))
    return x, f, dy, s, d, p


def _pool_data(case, seed):
    h, w, k, s, p = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, h, w, C))
    oh, ow, _, _ = _pool_geo(h, w, k, s, p)
    dy = rng.standard_normal((N, oh, ow, C))
    return x, dy, k, s, p


# --------------------------------------------------------------------------
# conv_output_size
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((5, 3, 2, 1, "SAME"), (3, 1, 1)),
        ((6, 3, 2, 1, "SAME"), (3, 0, 1)),  # odd total pad: extra goes after
        ((7, 1, 2, 1, "SAME"), (4, 0, 0)),
        ((4, 5, 1, 1, "SAME"), (4, 2, 2)),
        ((8, 3, 1, 2, "SAME"), (8, 2, 2)),  # effective kernel 5
        ((10, 2, 3, 1, "SAME"), (4, 0, 1)),
        ((11, 2, 4, 1, "SAME"), (3, 0, 0)),  # needed pad < 0 clamps to 0
        ((5, 3, 2, 1, "VALID"), (2, 0, 0)),
        ((6, 3, 2, 1, "VALID"), (2, 0, 0)),
        ((7, 2, 3, 1, "VALID"), (2, 0, 0)),
        ((9, 3, 2, 2, "VALID"), (3, 0, 0)),
        ((3, 3, 1, 1, "VALID"), (1, 0, 0)),
    ],
)
def test_conv_output_size_values(args, expected):
    assert K.conv_output_size(*args) == expected


@pytest.mark.parametrize(
    "args",
    [
        (5, 3, 1, 1, "same"),
        (5, 3, 1, 1, "FULL"),
        (2, 3, 1, 1, "VALID"),  # kernel larger than input
        (5, 3, 1, 3, "VALID"),  # dilated kernel (7) larger than input
        (0, 1, 1, 1, "SAME"),
        (5, 3, 0, 1, "SAME"),
        (5, 0, 1, 1, "SAME"),
        (5, 3, 1, 0, "VALID"),
    ],
)
def test_conv_output_size_errors(args):
    with pytest.raises(ValueError):
        K.conv_output_size(*args)


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------


def test_conv2d_hand_example():
    # 3x3 image 1..9, 2x2 all-ones filter: each output is a 2x2 window sum.
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    w = np.ones((2, 2, 1, 1))
    y = K.conv2d(x, w, (1, 1), "VALID")
    np.testing.assert_array_equal(y[0, :, :, 0], [[12.0, 16.0], [24.0, 28.0]])
    # SAME, 3x3 filter with only the centre tap -> identity; with only the
    # top-left tap -> shift down/right (TF does not flip the filter).
    w3 = np.zeros((3, 3, 1, 1))
    w3[1, 1] = 1.0
    np.testing.assert_array_equal(K.conv2d(x, w3, (1, 1), "SAME"), x)
    w3[:] = 0.0
    w3[0, 0] = 1.0
    shifted = K.conv2d(x, w3, (1, 1), "SAME")[0, :, :, 0]
    np.testing.assert_array_equal(shifted, [[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 4.0, 5.0]])


def test_conv2d_stride2_same_even_pads_after():
    # 4 wide, k=3, s=2, SAME: out 2, total pad 1 -> 0 before, 1 after.
    x = np.arange(1.0, 5.0).reshape(1, 1, 4, 1)
    w = np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)
    y = K.conv2d(x, w, (1, 2), "SAME")[0, 0, :, 0]
    # windows: [1,2,3] and [3,4,pad]
    np.testing.assert_array_equal(y, [1 + 20 + 300, 3 + 40 + 0])


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_naive(case):
    x, f, _, s, d, p = _conv_data(case, 0)
    y = K.conv2d(x, f, s, p, d)
    expected = naive_conv2d(x, f, s, p, d)
    assert y.shape == expected.shape
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_backprop_input_matches_naive_and_fd(case):
    x, f, dy, s, d, p = _conv_data(case, 1)
    dx = K.conv2d_backprop_input(x.shape, f, dy, s, p, d)
    assert dx.shape == x.shape
    np.testing.assert_allclose(
        dx, naive_conv2d_backprop_input(x.shape, f, dy, s, p, d), rtol=1e-12, atol=1e-12
    )

    v = np.random.default_rng(11).standard_normal(x.shape)
    fd = fd_directional(lambda t: K.conv2d(t, f, s, p, d), x, dy, v, 1e-3)
    np.testing.assert_allclose(float(np.sum(dx * v)), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_backprop_filter_matches_naive_and_fd(case):
    x, f, dy, s, d, p = _conv_data(case, 2)
    dw = K.conv2d_backprop_filter(x, f.shape, dy, s, p, d)
    assert dw.shape == f.shape
    np.testing.assert_allclose(
        dw,
        naive_conv2d_backprop_filter(x, f.shape, dy, s, p, d),
        rtol=1e-12,
        atol=1e-12,
    )

    v = np.random.default_rng(12).standard_normal(f.shape)
    fd = fd_directional(lambda t: K.conv2d(x, t, s, p, d), f, dy, v, 1e-3)
    np.testing.assert_allclose(float(np.sum(dw * v)), fd, rtol=1e-7, atol=1e-9)


def test_conv2d_valid_skipped_pixels_get_zero_grad():
    # 7 wide, k=2, s=3 VALID: windows at 0-1 and 3-4; columns 2, 5, 6 unused.
    x_shape = (1, 1, 7, 1)
    w = np.ones((1, 2, 1, 1))
    dy = np.ones((1, 1, 2, 1))
    dx = K.conv2d_backprop_input(x_shape, w, dy, (1, 3), "VALID")
    np.testing.assert_array_equal(dx[0, 0, :, 0], [1, 1, 0, 1, 1, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_conv_keeps_float_dtype(dtype):
    x, f, dy, s, d, p = _conv_data(CONV_CASES[1], 3)
    tol = 1e-5 if dtype == np.float32 else 2e-2
    xl, fl, dyl = x.astype(dtype), f.astype(dtype), dy.astype(dtype)
    y = K.conv2d(xl, fl, s, p, d)
    dx = K.conv2d_backprop_input(x.shape, fl, dyl, s, p, d)
    dw = K.conv2d_backprop_filter(xl, f.shape, dyl, s, p, d)
    for got, want in (
        (y, naive_conv2d(xl.astype(np.float64), fl.astype(np.float64), s, p, d)),
        (
            dx,
            naive_conv2d_backprop_input(x.shape, fl.astype(np.float64), dyl.astype(np.float64), s, p, d),
        ),
        (
            dw,
            naive_conv2d_backprop_filter(xl.astype(np.float64), f.shape, dyl.astype(np.float64), s, p, d),
        ),
    ):
        assert got.dtype == dtype
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol * 10)


def test_conv_shape_errors():
    x = np.zeros((1, 5, 5, 3))
    w = np.zeros((3, 3, 3, 2))
    with pytest.raises(ValueError, match="channels"):
        K.conv2d(x, np.zeros((3, 3, 4, 2)), (1, 1), "SAME")
    with pytest.raises(ValueError, match="padding"):
        K.conv2d(x, w, (1, 1), "same")
    with pytest.raises(ValueError):
        K.conv2d(x[0], w, (1, 1), "SAME")
    with pytest.raises(ValueError, match="out_backprop"):
        K.conv2d_backprop_input(x.shape, w, np.zeros((1, 4, 4, 2)), (1, 1), "SAME")
    with pytest.raises(ValueError, match="out_backprop"):
        K.conv2d_backprop_filter(x, w.shape, np.zeros((1, 5, 5, 3)), (1, 1), "SAME")
    with pytest.raises(ValueError):
        K.conv2d(x, w, (0, 1), "SAME")


# --------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool_matches_naive(case):
    x, _, k, s, p = _pool_data(case, 4)
    # All-negative input: a zero-padded implementation would wrongly return 0
    # at SAME borders.
    x = -np.abs(x) - 1.0
    y = K.max_pool(x, k, s, p)
    expected = naive_max_pool(x, k, s, p)
    assert y.shape == expected.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool_grad_matches_naive_and_fd(case):
    x, dy, k, s, p = _pool_data(case, 5)
    y = K.max_pool(x, k, s, p)
    dx = K.max_pool_grad(x, y, dy, k, s, p)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, naive_max_pool_grad(x, dy, k, s, p), rtol=1e-14, atol=1e-14)

    # Random normal data has no ties, so max_pool is smooth near x.
    v = np.random.default_rng(15).standard_normal(x.shape)
    fd = fd_directional(lambda t: K.max_pool(t, k, s, p), x, dy, v, 1e-7)
    np.testing.assert_allclose(float(np.sum(dx * v)), fd, rtol=1e-6, atol=1e-8)


def test_max_pool_grad_ties_go_to_first_in_row_major_order():
    # Constant input: every cell ties, so each window picks its top-left cell.
    x = np.full((1, 3, 3, 1), 7.0)
    dy = np.array([1.0, 10.0, 100.0, 1000.0]).reshape(1, 2, 2, 1)
    y = K.max_pool(x, (2, 2), (1, 1), "VALID")
    dx = K.max_pool_grad(x, y, dy, (2, 2), (1, 1), "VALID")
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1.0, 10.0, 0.0], [100.0, 1000.0, 0.0], [0.0, 0.0, 0.0]])

    # A tie between (0, 1) and (1, 0): row-major order picks (0, 1).
    x = np.array([[1.0, 5.0], [5.0, 2.0]]).reshape(1, 2, 2, 1)
    dx = K.max_pool_grad(
        x,
        K.max_pool(x, (2, 2), (2, 2), "VALID"),
        np.ones((1, 1, 1, 1)),
        (2, 2),
        (2, 2),
        "VALID",
    )
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_max_pool_grad_overlapping_windows_accumulate():
    # The middle cell is the max of both overlapping windows.
    x = np.array([1.0, 9.0, 2.0]).reshape(1, 1, 3, 1)
    dy = np.array([3.0, 4.0]).reshape(1, 1, 2, 1)
    dx = K.max_pool_grad(x, K.max_pool(x, (1, 2), (1, 1), "VALID"), dy, (1, 2), (1, 1), "VALID")
    np.testing.assert_array_equal(dx[0, 0, :, 0], [0.0, 7.0, 0.0])


def test_max_pool_same_padding_never_wins_for_ints():
    x = -np.arange(1, 26, dtype=np.int32).reshape(1, 5, 5, 1)
    y = K.max_pool(x, (3, 3), (2, 2), "SAME")
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, naive_max_pool(x, (3, 3), (2, 2), "SAME"))
    # Top-left window covers rows/cols 0..1 only (pad 1 before): max is -1.
    assert y[0, 0, 0, 0] == -1


def test_max_pool_float32_grad_dtype():
    x, dy, k, s, p = _pool_data(POOL_CASES[1], 6)
    x32, dy32 = x.astype(np.float32), dy.astype(np.float32)
    dx = K.max_pool_grad(x32, K.max_pool(x32, k, s, p), dy32, k, s, p)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(
        dx,
        naive_max_pool_grad(x32, dy32.astype(np.float64), k, s, p),
        rtol=1e-6,
        atol=1e-6,
    )


def test_max_pool_grad_shape_errors():
    x = np.zeros((1, 4, 4, 2))
    with pytest.raises(ValueError, match="grad"):
        K.max_pool_grad(x, np.zeros((1, 2, 2, 2)), np.zeros((1, 3, 2, 2)), (2, 2), (2, 2), "VALID")
    with pytest.raises(ValueError, match="orig_output"):
        K.max_pool_grad(x, np.zeros((1, 3, 3, 2)), np.zeros((1, 2, 2, 2)), (2, 2), (2, 2), "VALID")
    with pytest.raises(ValueError):
        K.max_pool(x, (5, 5), (1, 1), "VALID")


# --------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------


def test_avg_pool_same_ignores_padding():
    # Every 3x3 SAME window covers all 4 real cells: TF gives 2.5, not 10/9.
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    y = K.avg_pool(x, (3, 3), (1, 1), "SAME")
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), 2.5))
    # 2x2 stride 2 SAME on 3x3: corner window is full, edge windows hold 2
    # and 1 real cells.
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = K.avg_pool(x, (2, 2), (2, 2), "SAME")[0, :, :, 0]
    np.testing.assert_array_equal(y, [[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9.0]])


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_avg_pool_matches_naive(case):
    x, _, k, s, p = _pool_data(case, 7)
    y = K.avg_pool(x, k, s, p)
    expected = naive_avg_pool(x, k, s, p)
    assert y.shape == expected.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_avg_pool_grad_matches_naive_and_fd(case):
    x, dy, k, s, p = _pool_data(case, 8)
    dx = K.avg_pool_grad(x.shape, dy, k, s, p)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, naive_avg_pool_grad(x.shape, dy, k, s, p), rtol=1e-12, atol=1e-12)

    v = np.random.default_rng(18).standard_normal(x.shape)
    fd = fd_directional(lambda t: K.avg_pool(t, k, s, p), x, dy, v, 1e-3)
    np.testing.assert_allclose(float(np.sum(dx * v)), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_avg_pool_keeps_float_dtype(dtype):
    x, dy, k, s, p = _pool_data(POOL_CASES[0], 9)
    tol = 1e-6 if dtype == np.float32 else 2e-3
    xl, dyl = x.astype(dtype), dy.astype(dtype)
    y = K.avg_pool(xl, k, s, p)
    dx = K.avg_pool_grad(x.shape, dyl, k, s, p)
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(
        y.astype(np.float64),
        naive_avg_pool(xl.astype(np.float64), k, s, p),
        rtol=tol,
        atol=tol,
    )
    np.testing.assert_allclose(
        dx.astype(np.float64),
        naive_avg_pool_grad(x.shape, dyl.astype(np.float64), k, s, p),
        rtol=tol,
        atol=tol,
    )


def test_avg_pool_errors():
    with pytest.raises(TypeError):
        K.avg_pool(np.ones((1, 4, 4, 1), dtype=np.int32), (2, 2), (2, 2), "VALID")
    with pytest.raises(ValueError, match="grad"):
        K.avg_pool_grad((1, 4, 4, 1), np.ones((1, 3, 3, 1)), (2, 2), (2, 2), "VALID")
    with pytest.raises(ValueError, match="padding"):
        K.avg_pool(np.ones((1, 4, 4, 1)), (2, 2), (2, 2), "valid")
