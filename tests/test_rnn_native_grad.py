"""The gradient of a bounded while_loop (``maximum_iterations``, which dynamic_rnn passes as
TF1's does) saves its history in buffers allocated before the loop, so an LSTM training
step compiles on the LLVM backend as native code, with no NumPy segment.

Values are compared with the NumPy backend (the reference interpreter) and, on tiny
float64 programs, with central differences of the forward computation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends
from tests.support import central as _central

pytestmark = pytest.mark.skipif(
    "llvm" not in available_backends(), reason="the LLVM backend is not available"
)


@pytest.fixture(autouse=True)
def _graph() -> None:
    tf.reset_default_graph()


def _native(sess: Any) -> bool:
    """Whether every compiled program of ``sess`` runs as LLVM code only."""
    exes = [c.executable for c in sess._cache.values()]
    assert exes

    def one(exe: Any) -> bool:
        if type(exe).__name__ == "SegmentedExecutable":
            return all(b.name == "llvm" for b in exe.backends) and all(
                type(e).__name__ == "LLVMExecutable" for e in exe.executables
            )
        return type(exe).__name__ == "LLVMExecutable"

    return all(one(e) for e in exes)


def test_lstm_training_step_is_native_and_matches_numpy() -> None:
    rng = np.random.RandomState(0)
    x = tf.placeholder(tf.float32, [None, 5, 3])
    y = tf.placeholder(tf.int32, [None])
    cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    logits = tf.layers.dense(st.h + tf.reduce_mean(out, axis=1), 3)
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    params = tf.trainable_variables()
    grads = tf.gradients(loss, [x, *params])
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    feeds = {x: rng.rand(2, 5, 3).astype(np.float32), y: np.array([0, 2], np.int32)}
    init = [rng.randn(*p.shape.as_list()).astype(np.float32) * 0.5 for p in params]
    results = {}
    for backend in ("llvm", "numpy"):
        sess = tf.Session(backend=backend)
        sess.run(tf.global_variables_initializer())
        for p, v in zip(params, init):
            p.load(v, sess)
        g = sess.run(grads, feeds)
        sess.run(train, feeds)
        results[backend] = (g, sess.run(params))
        if backend == "llvm":
            assert _native(sess)
    for a, b in zip(results["llvm"][0], results["numpy"][0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(results["llvm"][1], results["numpy"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # The step moved the weights (the gradient is not all zeros).
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(results["llvm"][1], init))


def test_lstm_gradient_float64_central_differences() -> None:
    # Time steps fed (a bound known only when the graph runs), sequence lengths shorter
    # than the inputs.
    rng = np.random.RandomState(1)
    x = tf.placeholder(tf.float64, [2, None, 2])
    c0 = tf.placeholder(tf.float64, [2, 3])
    h0 = tf.placeholder(tf.float64, [2, 3])
    cell = tf.nn.rnn_cell.BasicLSTMCell(3)
    state0 = tf.nn.rnn_cell.LSTMStateTuple(c0, h0)
    out, st = tf.nn.dynamic_rnn(cell, x, sequence_length=[3, 2], initial_state=state0)
    w_out = rng.randn(3)
    loss = tf.reduce_sum(out * w_out + 0.5 * out * out) + tf.reduce_sum(st.c * st.c) + tf.reduce_sum(st.h)
    gx, gc, gh = tf.gradients(loss, [x, c0, h0])
    X, C, H = rng.randn(2, 3, 2), rng.randn(2, 3), rng.randn(2, 3)
    sess = tf.Session(backend="llvm")
    sess.run(tf.global_variables_initializer())
    got = sess.run([gx, gc, gh], {x: X, c0: C, h0: H})
    assert _native(sess)

    def f(xv: np.ndarray, cv: np.ndarray, hv: np.ndarray) -> float:
        return float(sess.run(loss, {x: xv, c0: cv, h0: hv}))

    np.testing.assert_allclose(got[0], _central(lambda v: f(v, C, H), X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got[1], _central(lambda v: f(X, v, H), C), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got[2], _central(lambda v: f(X, C, v), H), rtol=1e-6, atol=1e-8)
    # Beyond a sequence's length its inputs do not matter.
    assert np.all(got[0][1, 2] == 0)


@pytest.mark.parametrize("bound", [6, "fed"])
def test_bounded_while_gradient_stops_at_condition_or_bound(bound: Any) -> None:
    # x -> x * w + sin(x) while sum(x) < limit, at most `bound` times: the condition
    # ends the loop first for one limit, the bound for the other.
    x0 = tf.placeholder(tf.float64, [3])
    w = tf.placeholder(tf.float64, [])
    limit = tf.placeholder(tf.float64, [])
    m = tf.placeholder(tf.int32, []) if bound == "fed" else bound
    _, xn = tf.while_loop(
        lambda i, x: tf.reduce_sum(x) < limit,
        lambda i, x: [i + 1, x * w + tf.sin(x)],
        [tf.constant(0), x0],
        maximum_iterations=m,
    )
    loss = tf.reduce_sum(xn * xn)
    gx, gw = tf.gradients(loss, [x0, w])
    X, W = np.array([0.3, 0.2, 0.1]), 1.1

    def forward(xv: np.ndarray, wv: float, lim: float) -> tuple[float, int]:
        n = 0
        while xv.sum() < lim and n < 6:
            xv, n = xv * wv + np.sin(xv), n + 1
        return float((xv * xv).sum()), n

    sess = tf.Session(backend="llvm")
    for lim in (2.0, 1e9):
        feeds = {x0: X, w: W, limit: lim}
        if bound == "fed":
            feeds[m] = 6
        got = sess.run([gx, gw], feeds)
        trips = forward(X, W, lim)[1]
        assert trips == 6 if lim > 1e8 else 0 < trips < 6
        np.testing.assert_allclose(got[0], _central(lambda v: forward(v, W, lim)[0], X), rtol=1e-6)
        num_w = (forward(X, W + 1e-6, lim)[0] - forward(X, W - 1e-6, lim)[0]) / 2e-6
        np.testing.assert_allclose(got[1], num_w, rtol=1e-6)
    # A bound fed as a value makes the history's rows a data-defined dim, which the
    # backend's native loops do not take: that program runs partly as NumPy segments.
    assert _native(sess) == (bound != "fed")
