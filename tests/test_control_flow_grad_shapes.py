"""Gradients of while loops whose loop variables change shape per iteration (the history
loop saves them flat, with each iteration's offset and shape), checked by central
differences in float64 on the NumPy and LLVM backends; TF1's refusal of second-order
gradients through while loops, second derivatives through tf.cond, and a gradient taken
inside a loop body."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.ops import control_flow_ops as cf
from tests.support import BACKENDS as _BACKENDS
from tests.support import central as _central
from tests.support import session as _session

_X3 = np.array([0.3, -1.1, 0.7])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_a_vector_that_grows_by_concat_each_iteration(backend: str) -> None:
    x = tf.placeholder(tf.float64, [3])
    n = tf.placeholder(tf.int32, [])
    w = tf.placeholder(tf.float64, [None])

    def body(i: tf.Tensor, acc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return i + 1, tf.concat([acc * 1.5, tf.sin(x * tf.cast(i + 1, tf.float64))], 0)

    _, acc = cf.while_loop(
        lambda i, a: i < n,
        body,
        [tf.constant(0), tf.zeros([0], tf.float64)],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])],
    )
    (g,) = tf.gradients(tf.reduce_sum(acc * w), x)

    def ref(xv: np.ndarray, k: int, wv: np.ndarray) -> float:
        a = np.zeros(0)
        for i in range(k):
            a = np.concatenate([a * 1.5, np.sin(xv * (i + 1))])
        return float(np.sum(a * wv))

    with _session(backend) as sess:
        for k in (0, 1, 3):
            wv = np.linspace(-1.0, 2.0, 3 * k)
            got = sess.run(g, {x: _X3, n: k, w: wv})
            want = _central(lambda v, k=k, wv=wv: ref(v, k, wv), _X3)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_rows_appended_to_a_matrix_with_a_fixed_state_beside_it(backend: str) -> None:
    # acc: [None, 3], entering with 2 rows; h: a fixed-shape state; W: a capture.
    a0 = tf.placeholder(tf.float64, [2, 3])
    w = tf.placeholder(tf.float64, [3, 3])
    n = tf.placeholder(tf.int32, [])

    def body(i: tf.Tensor, h: tf.Tensor, acc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        h = tf.tanh(tf.matmul(acc[-1:], w) + h)
        return i + 1, h, tf.concat([acc, h * acc[:1]], 0)

    _, h, acc = cf.while_loop(
        lambda i, h, a: i < n,
        body,
        [tf.constant(0), tf.zeros([1, 3], tf.float64), a0],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([1, 3]), tf.TensorShape([None, 3])],
    )
    assert acc.shape.as_list() == [None, 3]
    coef = tf.cast(tf.reshape(tf.range(tf.size(acc)), tf.shape(acc)), tf.float64) * 0.1 - 0.4
    loss = tf.reduce_sum(acc * coef) + tf.reduce_sum(h * h)
    ga, gw = tf.gradients(loss, [a0, w])

    def ref(av: np.ndarray, wv: np.ndarray, k: int) -> float:
        hv, a = np.zeros((1, 3)), av
        for _ in range(k):
            hv = np.tanh(a[-1:] @ wv + hv)
            a = np.concatenate([a, hv * a[:1]], 0)
        c = np.arange(a.size, dtype=np.float64).reshape(a.shape) * 0.1 - 0.4
        return float(np.sum(a * c) + np.sum(hv * hv))

    rng = np.random.default_rng(1)
    av, wv = rng.normal(size=(2, 3)), rng.normal(size=(3, 3)) * 0.5
    with _session(backend) as sess:
        for k in (0, 3):
            got_a, got_w = sess.run([ga, gw], {a0: av, w: wv, n: k})
            np.testing.assert_allclose(
                got_a, _central(lambda v, k=k: ref(v, wv, k), av), rtol=1e-6, atol=1e-8
            )
            np.testing.assert_allclose(
                got_w, _central(lambda v, k=k: ref(av, v, k), wv), rtol=1e-6, atol=1e-8
            )


def test_a_matrix_growing_in_both_dims_under_maximum_iterations() -> None:
    x = tf.placeholder(tf.float64, [])

    def body(m: tf.Tensor) -> tf.Tensor:
        m = tf.concat([m, tf.sin(m[:, -1:] * x)], 1)  # a column
        return tf.concat([m, tf.cos(m[-1:, :])], 0)  # and a row

    m = cf.while_loop(
        lambda m: tf.reduce_sum(m) < 1e9,
        body,
        tf.ones([1, 2], tf.float64) * x,
        shape_invariants=tf.TensorShape([None, None]),
        maximum_iterations=3,
    )
    coef = tf.cast(tf.reshape(tf.range(tf.size(m)), tf.shape(m)), tf.float64) * 0.05 + 0.2
    (g,) = tf.gradients(tf.reduce_sum(tf.sin(m) * coef), x)

    def ref(xv: np.ndarray) -> float:
        v = float(xv)
        m = np.ones((1, 2)) * v
        for _ in range(3):
            m = np.concatenate([m, np.sin(m[:, -1:] * v)], 1)
            m = np.concatenate([m, np.cos(m[-1:, :])], 0)
        c = np.arange(m.size, dtype=np.float64).reshape(m.shape) * 0.05 + 0.2
        return float(np.sum(np.sin(m) * c))

    with tf.Session() as sess:
        got_m, got = sess.run([m, g], {x: 0.8})
    assert got_m.shape == (4, 5)
    np.testing.assert_allclose(got, _central(ref, np.array(0.8)), rtol=1e-6, atol=1e-8)


def test_a_shape_changing_loop_inside_a_cond() -> None:
    x = tf.placeholder(tf.float64, [2])
    p = tf.placeholder(tf.bool, [])

    def grow() -> tf.Tensor:
        return cf.while_loop(
            lambda a: tf.size(a) < 8,
            lambda a: tf.concat([a, tf.sin(a[-2:]) * x], 0),
            x * 1.0,
            shape_invariants=tf.TensorShape([None]),
        )

    y = tf.reduce_sum(cf.cond(p, lambda: tf.reduce_sum(grow()), lambda: tf.reduce_sum(x * x)))
    (g,) = tf.gradients(y, x)

    def ref(v: np.ndarray) -> float:
        a = v * 1.0
        while a.size < 8:
            a = np.concatenate([a, np.sin(a[-2:]) * v])
        return float(a.sum())

    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {x: _X3[:2], p: True}), _central(ref, _X3[:2]), rtol=1e-6)
        np.testing.assert_allclose(sess.run(g, {x: _X3[:2], p: False}), 2 * _X3[:2], rtol=1e-12)


# -- second order --------------------------------------------------------------------------------
def test_second_order_gradient_of_a_while_loop_is_refused_as_tf1() -> None:
    x = tf.placeholder(tf.float64, [])
    _, y = cf.while_loop(
        lambda i, p: i < 3,
        lambda i, p: (i + 1, p * x),
        [tf.constant(0), tf.constant(1.0, tf.float64)],
        name="power",
    )
    (g,) = tf.gradients(y, x)
    with pytest.raises(ValueError, match="Second-order gradient for while loops not supported") as info:
        tf.gradients(g, x)
    message = str(info.value)
    assert "'power'" in message and "test_control_flow_grad_shapes.py" in message
    with pytest.raises(ValueError, match="Second-order gradient for while loops"):
        tf.hessians(y, x)
    with tf.Session() as sess:  # the first-order gradient is untouched
        np.testing.assert_allclose(sess.run(g, {x: 0.9}), 3 * 0.9**2, rtol=1e-12)


def test_second_derivative_through_cond_by_central_differences() -> None:
    x = tf.placeholder(tf.float64, [2])
    p = tf.placeholder(tf.bool, [])
    y = tf.reduce_sum(cf.cond(p, lambda: tf.sin(x) * x, lambda: x * x * tf.exp(x)))
    (g,) = tf.gradients(y, x)
    gw = tf.reduce_sum(g * tf.constant([1.0, -2.0], tf.float64))
    (h,) = tf.gradients(gw, x)
    xs = np.array([0.4, -0.9])
    with tf.Session() as sess:
        for taken in (True, False):

            def first(v: np.ndarray, taken: bool = taken) -> float:
                return float(sess.run(gw, {x: v, p: taken}))

            np.testing.assert_allclose(
                sess.run(h, {x: xs, p: taken}), _central(first, xs), rtol=1e-6, atol=1e-8
            )


def test_a_gradient_taken_inside_a_loop_body() -> None:
    x = tf.placeholder(tf.float64, [])

    def body(i: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        (d,) = tf.gradients(tf.sin(s) * s, s)  # a descent step on sin(s) * s
        return i + 1, s - 0.1 * d

    _, r = cf.while_loop(lambda i, s: i < 3, body, [tf.constant(0), x])
    v = 0.7
    for _ in range(3):
        v = v - 0.1 * (np.cos(v) * v + np.sin(v))
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(r, {x: 0.7}), v, rtol=1e-12)
