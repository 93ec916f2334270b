"""The LLVM backend's convolution and pooling kernels (graphc_llvm/lower_conv.py) against
their NumPy meaning (graphc/kernels/conv.py): odd and prime sizes, empty batches and
channels, strides, dilations, SAME windows larger than the image, several im2col chunks,
MaxPool's ties, NaNs and padded winners, spatial dims and filter sizes fed at run time
(one compile), and a CNN's gradients against the NumPy backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import registry as reg
from graphc.ir.entry import bind_entry
from graphc.kernels import conv as K
from graphc.runtime.backend import available_backends, get_backend
from tests.op_harness import one_node_program

pytestmark = pytest.mark.skipif(
    "llvm" not in available_backends(), reason="the LLVM backend is not available"
)

FLOATS = [np.float32, np.float64]


def _native(op: str, inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """``op`` as a one-node program compiled natively (not the NumPy fallback), run once."""
    program = one_node_program(reg.get(op), reg.Sample(inputs, attrs))
    exe = get_backend("llvm").compile(program)
    assert type(exe).__name__ == "LLVMExecutable", f"{op} was not compiled natively"
    dims = bind_entry(program, [x.shape for x in inputs], dict(enumerate(inputs)))
    return exe.run(inputs, dims)[0]


def _close(got: np.ndarray, want: np.ndarray, dtype: Any) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    # Sums of hundreds of products in another order: the error scales with the largest result.
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


# (input shape, filter shape, strides (h, w), padding, dilations (h, w))
CONV_CASES = [
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), "VALID", (1, 1)),
    ((2, 7, 11, 3), (3, 5, 3, 4), (1, 2), "SAME", (1, 1)),
    ((3, 13, 5, 2), (5, 2, 2, 3), (3, 1), "VALID", (1, 2)),
    ((1, 5, 5, 1), (7, 7, 1, 2), (1, 1), "SAME", (1, 1)),  # the window is larger than the image
    ((2, 9, 9, 2), (3, 3, 2, 2), (2, 2), "SAME", (2, 3)),
    ((0, 5, 5, 2), (3, 3, 2, 3), (1, 1), "SAME", (1, 1)),  # an empty batch
    ((2, 4, 4, 0), (3, 3, 0, 3), (1, 1), "SAME", (1, 1)),  # no input channels
    ((2, 4, 4, 2), (3, 3, 2, 0), (2, 1), "VALID", (1, 1)),  # no output channels
    ((8, 30, 31, 16), (5, 5, 16, 8), (1, 1), "SAME", (1, 1)),  # several im2col chunks, a partial last
]


def _conv_attrs(strides: tuple[int, int], padding: str, dilations: tuple[int, int]) -> dict[str, Any]:
    return {
        "strides": (1, *strides, 1),
        "padding": padding,
        "data_format": "NHWC",
        "dilations": (1, *dilations, 1),
    }


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}x{c[1]}s{c[2]}{c[3]}d{c[4]}")
def test_conv2d_and_backprops_match_numpy(case: tuple[Any, ...], dtype: Any) -> None:
    xs, ws, strides, padding, dilations = case
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    attrs = _conv_attrs(strides, padding, dilations)
    y = K.conv2d(x, w, strides, padding, dilations)
    _close(_native("Conv2D", [x, w], attrs), y, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = K.conv2d_backprop_input(xs, w, dy, strides, padding, dilations)
    _close(_native("Conv2DBackpropInput", [np.array(xs, np.int32), w, dy], attrs), dx, dtype)
    dw = K.conv2d_backprop_filter(x, ws, dy, strides, padding, dilations)
    _close(_native("Conv2DBackpropFilter", [x, np.array(ws, np.int32), dy], attrs), dw, dtype)


# (input shape, ksize (h, w), strides (h, w), padding)
POOL_CASES = [
    ((1, 1, 1, 1), (1, 1), (1, 1), "VALID"),
    ((2, 7, 11, 3), (3, 2), (2, 3), "SAME"),
    ((3, 13, 5, 2), (5, 1), (1, 1), "VALID"),
    ((1, 5, 5, 1), (5, 5), (2, 2), "SAME"),
    ((2, 9, 8, 4), (3, 3), (1, 1), "SAME"),  # overlapping windows
    ((2, 3, 7, 5), (2, 4), (3, 2), "SAME"),  # strides past the window: cells no window reads
    ((0, 4, 4, 2), (2, 2), (2, 2), "VALID"),
    ((2, 4, 4, 0), (2, 2), (1, 1), "SAME"),
]


def _pool_attrs(ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> dict[str, Any]:
    return {"ksize": (1, *ksize, 1), "strides": (1, *strides, 1), "padding": padding, "data_format": "NHWC"}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}k{c[1]}s{c[2]}{c[3]}")
def test_pools_and_their_gradients_match_numpy(case: tuple[Any, ...], dtype: Any) -> None:
    xs, ksize, strides, padding = case
    rng = np.random.default_rng(sum(xs))
    # Few distinct values: many ties, so the argmax rule decides where gradients go.
    x = rng.integers(-2, 3, size=xs).astype(dtype)
    attrs = _pool_attrs(ksize, strides, padding)
    y = K.max_pool(x, ksize, strides, padding)
    np.testing.assert_array_equal(_native("MaxPool", [x], attrs), y)
    dy = rng.standard_normal(y.shape).astype(dtype)
    # Overlapping windows add in the reference's order: the sums are bit-for-bit equal.
    np.testing.assert_array_equal(
        _native("MaxPoolGrad", [x, y, dy], attrs), K.max_pool_grad(x, y, dy, ksize, strides, padding)
    )
    gg = rng.standard_normal(xs).astype(dtype)
    want = reg.get("MaxPoolGradGrad").reference([x, y, gg], attrs)[0]
    np.testing.assert_array_equal(_native("MaxPoolGradGrad", [x, y, gg], attrs), want)
    xf = rng.standard_normal(xs).astype(dtype)
    _close(_native("AvgPool", [xf], attrs), K.avg_pool(xf, ksize, strides, padding), dtype)
    want = K.avg_pool_grad(xs, dy, ksize, strides, padding)
    _close(_native("AvgPoolGrad", [np.array(xs, np.int32), dy], attrs), want, dtype)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.float16])
def test_max_pool_of_other_dtypes(dtype: Any) -> None:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    rng = np.random.default_rng(1)
    lo, hi = (info.min, info.max) if info is not None else (-100, 100)
    x = rng.integers(lo, hi, size=(2, 7, 6, 3), endpoint=True).astype(dtype)
    if info is not None:
        x[0, :3, :3, 0] = info.min  # a window of the lowest value next to SAME padding
    attrs = _pool_attrs((3, 3), (2, 2), "SAME")
    np.testing.assert_array_equal(_native("MaxPool", [x], attrs), K.max_pool(x, (3, 3), (2, 2), "SAME"))


def test_max_pool_nans_and_padded_winners() -> None:
    """NaN wins a max and its argmax (the first one); a window of -inf whose first cell is
    padding sends its gradient to that padded cell, i.e. nowhere, as the reference does."""
    x = np.full((1, 5, 6, 2), -np.inf)
    x[0, 2, 3, 0] = np.nan
    x[0, 4, 0, 1] = np.nan
    x[0, 4, 1, 1] = np.nan
    x[0, 0, 5, 1] = 7.0
    attrs = _pool_attrs((3, 3), (1, 2), "SAME")
    y = K.max_pool(x, (3, 3), (1, 2), "SAME")
    got = _native("MaxPool", [x], attrs)
    np.testing.assert_array_equal(got, y)
    assert np.isnan(got).any() and np.isneginf(got).any()
    dy = np.random.default_rng(0).standard_normal(y.shape)
    want = K.max_pool_grad(x, y, dy, (3, 3), (1, 2), "SAME")
    np.testing.assert_array_equal(_native("MaxPoolGrad", [x, y, dy], attrs), want)
    assert want.sum() != dy.sum()  # some gradient went to padded cells
    gg = np.random.default_rng(1).standard_normal(x.shape)
    want = reg.get("MaxPoolGradGrad").reference([x, y, gg], attrs)[0]
    np.testing.assert_array_equal(_native("MaxPoolGradGrad", [x, y, gg], attrs), want)


def test_max_pool_grad_ties_go_to_the_first_cell() -> None:
    """A 2x2 window of equal values: the whole gradient goes to its top-left cell."""
    x = np.ones((1, 2, 4, 1), np.float32)
    x[0, :, 2:, 0] = [[3.0, 5.0], [5.0, 5.0]]
    y = np.array([[[[1.0], [5.0]]]], np.float32)
    dy = np.array([[[[2.0], [3.0]]]], np.float32)
    got = _native("MaxPoolGrad", [x, y, dy], _pool_attrs((2, 2), (2, 2), "VALID"))
    want = np.zeros_like(x)
    want[0, 0, 0, 0] = 2.0
    want[0, 0, 3, 0] = 3.0
    np.testing.assert_array_equal(got, want)


def test_run_time_sizes_compile_once() -> None:
    """Batch, height, width and the filter's size fed at run time: SAME's padding is computed
    per run, and a new size never recompiles."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, None, None, 3])
        w = tf.placeholder(tf.float64, [None, None, 3, 4])
        y = tf.nn.conv2d(x, w, [1, 2, 1, 1], "SAME")
        p = tf.nn.max_pool(y, [1, 3, 2, 1], [1, 2, 2, 1], "SAME")
        a = tf.nn.avg_pool(y, [1, 2, 3, 1], [1, 1, 2, 1], "VALID")
        fallbacks = get_backend("llvm").stats["fallbacks"]
        with tf.Session(backend="llvm") as sess:
            for n, h, wd, kh, kw in ((1, 5, 7, 3, 3), (3, 8, 6, 5, 2), (2, 4, 3, 1, 1), (0, 6, 6, 2, 2)):
                rng = np.random.default_rng(n + h)
                xv = rng.standard_normal((n, h, wd, 3))
                wv = rng.standard_normal((kh, kw, 3, 4))
                got = sess.run([y, p, a], {x: xv, w: wv})
                yv = K.conv2d(xv, wv, (2, 1), "SAME")
                np.testing.assert_allclose(got[0], yv, rtol=1e-12, atol=1e-12)
                # The pools of the conv's own result: a max is exact.
                np.testing.assert_array_equal(got[1], K.max_pool(got[0], (3, 2), (2, 2), "SAME"))
                want = K.avg_pool(got[0], (2, 3), (1, 2), "VALID")
                np.testing.assert_allclose(got[2], want, rtol=1e-12, atol=1e-12)
            assert sess.stats["compiles"] == 1
        assert get_backend("llvm").stats["fallbacks"] == fallbacks


def test_cnn_gradients_match_the_numpy_backend() -> None:
    rng = np.random.default_rng(5)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 11, 9, 2])
        w1 = tf.constant(rng.standard_normal((3, 3, 2, 5)))
        w2 = tf.constant(rng.standard_normal((2, 2, 5, 3)))
        h = tf.nn.relu(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME"))
        h = tf.nn.max_pool(h, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
        h = tf.nn.conv2d(h, w2, [1, 2, 1, 1], "VALID", dilations=[1, 1, 2, 1])
        h = tf.nn.avg_pool(h, [1, 2, 2, 1], [1, 1, 1, 1], "SAME")
        loss = tf.reduce_sum(h * h)
        grads = tf.gradients(loss, [x, w1, w2])
        second = tf.gradients(tf.reduce_sum(grads[0] * grads[0]), [x])
        xv = rng.standard_normal((4, 11, 9, 2))
        with tf.Session(backend="llvm") as sess:
            got = sess.run([loss, *grads, *second], {x: xv})
        with tf.Session(backend="numpy") as sess:
            want = sess.run([loss, *grads, *second], {x: xv})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_float16_convolution_runs_on_the_numpy_fallback() -> None:
    """A dtype the kernels do not handle is not compiled natively, and its result is still
    the reference's."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float16)
    w = rng.standard_normal((3, 3, 2, 3)).astype(np.float16)
    attrs = _conv_attrs((1, 1), "SAME", (1, 1))
    program = one_node_program(reg.get("Conv2D"), reg.Sample([x, w], attrs))
    backend = get_backend("llvm")
    fallbacks = backend.stats["fallbacks"]
    exe = backend.compile(program)
    assert type(exe).__name__ != "LLVMExecutable"
    assert backend.stats["fallbacks"] == fallbacks + 1
    dims = bind_entry(program, [x.shape, w.shape], {0: x, 1: w})
    got = np.asarray(exe.run([x, w], dims)[0])
    np.testing.assert_allclose(got, K.conv2d(x, w, (1, 1), "SAME"), rtol=1e-3, atol=1e-3)
