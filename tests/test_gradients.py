"""tf.gradients semantics (TF1), checked against hand-derived values and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf


def run(fetches, feeds=None):  # type: ignore[no-untyped-def]
    with tf.Session() as sess:
        return sess.run(fetches, feeds)


def test_sums_over_several_ys_and_paths() -> None:
    x = tf.constant(3.0)
    y1 = x * x  # two paths into x
    y2 = 2.0 * x
    (g,) = tf.gradients([y1, y2], [x])
    assert run(g) == pytest.approx(2 * 3.0 + 2.0)


def test_unconnected_is_none_or_zero() -> None:
    x = tf.constant(1.0)
    z = tf.constant(2.0)
    y = x * 3.0
    assert tf.gradients(y, [z]) == [None]
    (g,) = tf.gradients(y, [z], unconnected_gradients="zero")
    assert run(g) == 0.0


def test_broadcasting_is_undone_by_summing() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    b = tf.Variable(tf.zeros([3]))
    s = tf.Variable(1.0)
    y = tf.reduce_sum((x + b) * s)
    gb, gs = tf.gradients(y, [b, s])
    assert gb.shape.as_list() == [3] and gs.shape.as_list() == []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        xv = np.arange(12, dtype=np.float32).reshape(4, 3)
        vb, vs = sess.run([gb, gs], {x: xv})
    np.testing.assert_allclose(vb, [4.0, 4.0, 4.0])
    assert vs == pytest.approx(xv.sum())


def test_integer_tensors_carry_no_gradient() -> None:
    x = tf.constant(2.0)
    i = tf.cast(x, tf.int32)
    y = tf.cast(i * 3, tf.float32) + x
    (g,) = tf.gradients(y, [x])
    assert run(g) == 1.0  # only the float path counts


def test_grad_ys_weights_the_output() -> None:
    x = tf.constant([1.0, 2.0])
    y = x * x
    (g,) = tf.gradients(y, x, grad_ys=tf.constant([10.0, 100.0]))
    np.testing.assert_allclose(run(g), [20.0, 400.0])


def test_stop_gradient_and_stop_gradients_argument() -> None:
    x = tf.constant(2.0)
    a = x * x
    y = tf.stop_gradient(a) * x + a
    (g,) = tf.gradients(y, [x])
    assert run(g) == pytest.approx(4.0 + 4.0)  # d/dx [c*x + x^2] with c = 4
    (g2,) = tf.gradients(y, [x], stop_gradients=[a])
    assert run(g2) == pytest.approx(4.0)


def test_hessian_of_a_quadratic_form() -> None:
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = tf.Variable([1.0, -1.0], dtype=tf.float64)
    y = 0.5 * tf.reduce_sum(x * tf.linalg.matmul(tf.constant(A), tf.reshape(x, [2, 1]))[:, 0])
    (h,) = tf.hessians(y, [x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(h), A)


def test_gradient_of_gradient_matches_finite_differences() -> None:
    x = tf.placeholder(tf.float64, [3])
    y = tf.reduce_sum(tf.sin(x) * tf.exp(x))
    (g,) = tf.gradients(y, x)
    (gg,) = tf.gradients(tf.reduce_sum(g * g), x)
    xv = np.array([0.1, -0.4, 0.7])

    def f(v: np.ndarray) -> float:
        d = np.cos(v) * np.exp(v) + np.sin(v) * np.exp(v)
        return float(np.sum(d * d))

    eps = 1e-6
    num = np.array([(f(xv + eps * e) - f(xv - eps * e)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(run(gg, {x: xv}), num, rtol=1e-6)


def test_register_gradient_with_override_map() -> None:
    @tf.RegisterGradient("graphc_test_clip_grad")
    def _clip(op, grad):  # type: ignore[no-untyped-def]
        return [tf.clip_by_value(grad, -0.5, 0.5)]

    g = tf.get_default_graph()
    x = tf.constant([1.0, 2.0])
    with g.gradient_override_map({"Identity": "graphc_test_clip_grad"}):
        y = tf.identity(x)
    (gr,) = tf.gradients(y * 10.0, x)
    np.testing.assert_allclose(run(gr), [0.5, 0.5])


def test_custom_gradient() -> None:
    @tf.custom_gradient
    def log1pexp(x):  # type: ignore[no-untyped-def]
        e = tf.exp(x)

        def grad(dy):  # type: ignore[no-untyped-def]
            return dy * (1 - 1 / (1 + e))

        return tf.log(1 + e), grad

    x = tf.constant(100.0)
    y = log1pexp(x)
    (g,) = tf.gradients(y, x)
    assert run(g) == pytest.approx(1.0)


def test_missing_gradient_names_the_op() -> None:
    from graphc import registry as reg

    name = "GraphcTestNoGrad"
    if name not in {o.name for o in reg.all_ops()}:
        reg.register(
            reg.OpDef(
                name=name,
                shape=lambda ctx: [ctx.shapes[0]],
                dtype=lambda ctx: [ctx.dtypes[0]],
                reference=lambda ins, attrs: [ins[0] * 2],
                grad=reg.GradientNotImplemented("test op"),
                attrs={},
                no_samples="test-only op",
            )
        )
    x = tf.constant([1.0])
    y = tf.get_default_graph().create_op(name, [x], {}, name="my_op").outputs[0]
    with pytest.raises(LookupError, match="my_op.*GraphcTestNoGrad.*test_gradients.py"):
        tf.gradients(y, x)


def test_not_differentiable_op_gives_none() -> None:
    x = tf.constant([1.0, 3.0])
    y = tf.cast(tf.argmax(x), tf.float32)
    assert tf.gradients(y, x) == [None]


@pytest.mark.parametrize("fn,op_type", [(tf.floor, "Floor"), (tf.ceil, "Ceil"), (tf.round, "Round")])
def test_floor_ceil_round_are_not_differentiable(fn, op_type) -> None:  # type: ignore[no-untyped-def]
    from graphc import registry as reg

    # TF1 registers them with no gradient: tf.gradients gives None, not zeros ...
    x = tf.placeholder(tf.float32, [3])
    assert tf.gradients(fn(x), x) == [None]
    assert tf.gradients(tf.reduce_sum(fn(x * 2.0)), x) == [None]
    # ... and they add nothing where another path carries a gradient.
    (g,) = tf.gradients(fn(x) + 3.0 * x, x)
    np.testing.assert_array_equal(run(g, {x: [0.2, 1.5, -2.7]}), [3.0, 3.0, 3.0])
    (g,) = tf.gradients(fn(x), x, unconnected_gradients="zero")
    np.testing.assert_array_equal(run(g, {x: [0.2, 1.5, -2.7]}), [0.0, 0.0, 0.0])
    # The registry says so, with the reason; tf.NotDifferentiable accepts them.
    grad = reg.get(op_type).grad
    assert isinstance(grad, reg.NotDifferentiable) and "piecewise constant" in grad.reason
    tf.NotDifferentiable(op_type)
    with pytest.raises(ValueError, match="has a gradient rule"):
        tf.NotDifferentiable("Exp")


def test_logsumexp_gradient_is_an_exact_softmax_at_large_values() -> None:
    x = tf.constant([[1e5, 1e5, 0.0], [1000.0, 1000.0, 1000.0]])
    (g,) = tf.gradients(tf.reduce_logsumexp(x, axis=1), x)
    np.testing.assert_allclose(run(g), [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_stop_gradients_are_constants_that_still_get_their_gradient() -> None:
    # The two examples of TF1's documentation of the stop_gradients argument.
    a = tf.constant(0.0)
    b = 2 * a
    ga, gb = tf.gradients(a + b, [a, b], stop_gradients=[a, b])
    a2 = tf.constant(2.0)
    b2 = a2 * 3
    c = a2 * b2
    ga2, gb2 = tf.gradients(c, [a2, b2], stop_gradients=[b2])
    assert run([ga, gb, ga2, gb2]) == [1.0, 1.0, 6.0, 2.0]
