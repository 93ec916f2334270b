"""The unroll pass (graphc.passes.unroll): a While whose trip count constants prove to be at
most four is replaced by its body inlined that many times. Results equal the program with
the pass disabled (and a NumPy reference) on every backend, for a body with a matmul and a
cond; loops whose count is fed, too large, or not of the counted form are left alone;
gradients through an unrolled loop (the forward loop unrolled; the history and backward
loops the gradient builds left as While nodes) match central differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.ir.lower import lower
from graphc.passes import pipeline
from graphc.passes.unroll import unroll
from graphc.runtime.backend import available_backends

_BACKENDS = ["numpy"] + (["llvm"] if "llvm" in available_backends() else [])
_XS = np.random.default_rng(1).normal(size=(3, 3))
_W = np.random.default_rng(2).normal(size=(3, 3)) * 0.5


@pytest.fixture(autouse=True)
def _graph() -> None:
    tf.reset_default_graph()


def _loop(x: tf.Tensor, bound: object, dtype: object = tf.float64) -> tuple[tf.Tensor, tf.Tensor]:
    w = tf.constant(_W, dtype=dtype)

    def body(i: tf.Tensor, h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        h2 = tf.matmul(h, w) + tf.cast(i, dtype)
        h2 = tf.cond(tf.reduce_sum(h2) > 0, lambda: h2 * 2.0, lambda: tf.sin(h2) - 1.0)
        return i + 1, h2

    return tf.while_loop(lambda i, h: i < bound, body, [tf.constant(0), x])


def _ref(xs: np.ndarray, n: int) -> np.ndarray:
    h = xs
    for i in range(n):
        h = h @ _W + i
        h = h * 2.0 if h.sum() > 0 else np.sin(h) - 1.0
    return h


def _while_count(fetch: tf.Tensor, feeds: dict) -> int:
    program = pipeline.optimize(lower(tf.get_default_graph(), [fetch], feeds).program)
    return sum(n.op == "While" for n in program.nodes)


@pytest.mark.parametrize("backend", _BACKENDS)
@pytest.mark.parametrize("n", [0, 1, 3, 4])
def test_unrolled_equals_the_loop(backend: str, n: int) -> None:
    x = tf.placeholder(tf.float64, [3, 3])
    i, h = _loop(x, n)
    assert _while_count(h, {x: (tf.float64, (3, 3))}) == 0
    with (
        tf.Session(config=tf.ConfigProto(backend=backend)) as on,
        tf.Session(config=tf.ConfigProto(backend=backend, disable_passes=["unroll"])) as off,
    ):
        got_i, got = on.run([i, h], {x: _XS})
        want_i, want = off.run([i, h], {x: _XS})
    assert got_i == want_i == n
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, _ref(_XS, n), rtol=1e-10, atol=1e-12)


def test_a_bound_captured_from_a_const_and_maximum_iterations() -> None:
    x = tf.placeholder(tf.float64, [3, 3])
    n = tf.constant(10)
    _, h = tf.while_loop(lambda i, h: i < n, lambda i, h: (i + 2, h @ _W), [tf.constant(3), x])
    _, g = tf.while_loop(lambda i, h: i < 100, lambda i, h: (i + 1, h + 1.0), [0, x], maximum_iterations=2)
    feeds = {x: (tf.float64, (3, 3))}
    assert _while_count(h, feeds) == 0  # 3, 5, 7, 9: four trips
    assert _while_count(g, feeds) == 0
    with tf.Session() as sess:
        got_h, got_g = sess.run([h, g], {x: _XS})
    np.testing.assert_allclose(got_h, _XS @ _W @ _W @ _W @ _W, rtol=1e-12)
    np.testing.assert_allclose(got_g, _XS + 2.0, rtol=1e-12)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_loops_left_alone(backend: str) -> None:
    x = tf.placeholder(tf.float64, [3, 3])
    bound = tf.placeholder(tf.int32, [])
    _, fed = _loop(x, bound)
    _, five = _loop(x, 5)  # more than four trips
    _, counted_by_mul = tf.while_loop(lambda i, h: i < 4, lambda i, h: (i * 2 + 1, h + 1.0), [0, x])
    feeds = {x: (tf.float64, (3, 3)), bound: (tf.int32, ())}
    for t in (fed, five, counted_by_mul):
        assert _while_count(t, feeds) == 1
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        got = sess.run([fed, five, counted_by_mul], {x: _XS, bound: 3})
    np.testing.assert_allclose(got[0], _ref(_XS, 3), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], _ref(_XS, 5), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2], _XS + 3.0, rtol=1e-12)  # i: 0, 1, 3, 7


def test_the_pass_leaves_its_input_unchanged_and_is_idempotent() -> None:
    x = tf.placeholder(tf.float64, [3, 3])
    _, h = _loop(x, 2)
    program = lower(tf.get_default_graph(), [h], {x: (tf.float64, (3, 3))}).program
    before = program.canonical_text()
    once = unroll(program)
    assert program.canonical_text() == before
    assert sum(n.op == "While" for n in once.nodes) == 0
    assert unroll(once).canonical_text() == once.canonical_text()


@pytest.mark.parametrize("backend", _BACKENDS)
def test_gradients_through_an_unrolled_loop(backend: str) -> None:
    x = tf.placeholder(tf.float64, [3, 3])
    _, h = _loop(x, 3)
    loss = tf.reduce_sum(h * h)
    (g,) = tf.gradients(loss, x)
    feeds = {x: (tf.float64, (3, 3))}
    # The gradient re-runs the forward loop saving each iteration's values in accumulators
    # that grow per iteration (carried shapes not static) and runs a backward loop counted
    # by that loop's result (not a Const): both are left alone; the plain forward loop goes.
    assert _while_count(g, feeds) == 2
    assert _while_count(h, feeds) == 0
    with (
        tf.Session(config=tf.ConfigProto(backend=backend)) as on,
        tf.Session(config=tf.ConfigProto(backend=backend, disable_passes=["unroll"])) as off,
    ):
        got = on.run(g, {x: _XS})
        want = off.run(g, {x: _XS})
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)

    def f(v: np.ndarray) -> float:
        return float(np.sum(_ref(v, 3) ** 2))

    eps = 1e-6
    central = np.zeros_like(_XS)
    for idx in np.ndindex(_XS.shape):
        d = np.zeros_like(_XS)
        d[idx] = eps
        central[idx] = (f(_XS + d) - f(_XS - d)) / (2 * eps)
    np.testing.assert_allclose(got, central, rtol=1e-6, atol=1e-8)
