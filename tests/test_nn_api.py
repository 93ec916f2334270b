"""API-level checks of tf.nn (graphc.ops.nn_ops) and tf.losses (graphc.ops.losses):
values against independent NumPy, static shapes with unknown dims, error messages,
gradients and hessians against central differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.ops import losses, nn_ops


def _run(fetches: Any, feeds: dict[Any, Any] | None = None) -> Any:
    with tf.Session() as sess:
        return sess.run(fetches, feeds or {})


def _np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


def _check_grad(build: Callable[[Any], Any], x0: np.ndarray, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """d(build(x))/dx from tf.gradients against central differences (float64)."""
    x = tf.placeholder(tf.float64, x0.shape)
    y = build(x)
    (g,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        analytic = sess.run(g, {x: x0})
        numeric = _numeric_grad(lambda v: float(sess.run(y, {x: v})), x0)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


def _check_hessian(
    build: Callable[[Any], Any], x0: np.ndarray, rtol: float = 1e-4, atol: float = 1e-6
) -> None:
    """Hessian-vector product of a scalar build(x) against differences of its gradient."""
    x = tf.placeholder(tf.float64, x0.shape)
    y = build(x)
    (g,) = tf.gradients(y, [x])
    v = np.random.default_rng(1).normal(size=x0.shape)
    (hv,) = tf.gradients(tf.reduce_sum(g * tf.constant(v)), [x])
    with tf.Session() as sess:
        analytic = sess.run(hv, {x: x0})
        eps = 1e-5
        numeric = (sess.run(g, {x: x0 + eps * v}) - sess.run(g, {x: x0 - eps * v})) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


# -- softmax ----------------------------------------------------------------------------
def test_softmax_values_and_axes() -> None:
    x0 = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    s1 = nn_ops.softmax(x0, axis=1)
    s_dim = nn_ops.softmax(x0, dim=0)
    ls = nn_ops.log_softmax(x0)
    assert s1.op.attrs["axis"] == 1 and ls.op.attrs["axis"] == 2 and s_dim.op.attrs["axis"] == 0
    a, b, c = _run([s1, s_dim, ls])
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, np.exp(_np_log_softmax(x0.astype(np.float64), 1)), rtol=1e-6)
    np.testing.assert_allclose(b, np.exp(_np_log_softmax(x0.astype(np.float64), 0)), rtol=1e-6)
    np.testing.assert_allclose(c, _np_log_softmax(x0.astype(np.float64), 2), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Cannot specify both"):
        nn_ops.softmax(x0, axis=1, dim=1)
    with pytest.raises(ValueError, match="out of range"):
        nn_ops.softmax(x0, axis=3)


def test_softmax_stable_for_large_logits() -> None:
    x0 = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    s, ls = _run([nn_ops.softmax(x0), nn_ops.log_softmax(x0)])
    np.testing.assert_allclose(s, [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(ls, [[0.0, -1000.0, -2000.0]])


def test_softmax_unknown_rank_and_hessian() -> None:
    p = tf.placeholder(tf.float32, None)
    assert nn_ops.softmax(p).op.attrs["axis"] == -1
    x0 = np.random.default_rng(2).normal(size=(2, 4))
    w = np.random.default_rng(3).normal(size=(2, 4))
    _check_hessian(lambda x: tf.reduce_sum(nn_ops.softmax(x) * w), x0)
    _check_hessian(lambda x: tf.reduce_sum(nn_ops.log_softmax(x, axis=0) * w), x0)


# -- cross-entropies -----------------------------------------------------------------------
def test_softmax_xent_values_stable_and_shapes() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5)) * 1000.0
    labels = rng.dirichlet(np.ones(5), size=3)
    loss = nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert loss.shape.as_list() == [3]
    got = _run(loss)
    want = -(labels * _np_log_softmax(logits)).sum(-1)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-10)

    p = tf.placeholder(tf.float32, [None, 4, 6])
    q = tf.placeholder(tf.float32, [None, 4, 6])
    assert nn_ops.softmax_cross_entropy_with_logits_v2(q, p).shape.as_list() == [None, 4]
    assert nn_ops.softmax_cross_entropy_with_logits_v2(q, p, axis=1).shape.as_list() == [None, 6]


def test_softmax_xent_higher_rank_and_dim() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 4))
    labels = rng.dirichlet(np.ones(3), size=(2, 4)).transpose(0, 2, 1)  # distribution over axis 1
    loss = nn_ops.softmax_cross_entropy_with_logits(labels=labels, logits=logits, dim=1)
    want = -(labels * _np_log_softmax(logits, 1)).sum(1)
    np.testing.assert_allclose(_run(loss), want, rtol=1e-10)
    x = tf.placeholder(tf.float64, [None, 3, 4])
    l3 = nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=x, axis=1)
    np.testing.assert_allclose(_run(l3, {x: logits}), want, rtol=1e-10)


def test_softmax_xent_v1_stops_label_gradient_v2_does_not() -> None:
    rng = np.random.default_rng(2)
    logits = tf.constant(rng.normal(size=(2, 3)))
    labels = tf.constant(rng.dirichlet(np.ones(3), size=2))
    v1 = nn_ops.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    v2 = nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert tf.gradients(v1, [labels])[0] is None
    g2 = tf.gradients(v2, [labels])[0]
    np.testing.assert_allclose(_run(g2), -_np_log_softmax(_run(logits)), rtol=1e-10)
    with pytest.raises(ValueError, match="named arguments"):
        nn_ops.softmax_cross_entropy_with_logits(labels, logits)


def test_softmax_xent_gradient_and_hessian() -> None:
    rng = np.random.default_rng(3)
    labels = rng.dirichlet(np.ones(4), size=3)
    x0 = rng.normal(size=(3, 4))
    build = lambda x: tf.reduce_sum(  # noqa: E731
        nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=x) * np.array([1.0, 2.0, -0.5])
    )
    _check_grad(build, x0)
    _check_hessian(build, x0)


def test_sparse_xent_values_errors_grads() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4, 5))
    labels = np.array([0, 4, 2, 2], np.int32)
    loss = nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    np.testing.assert_allclose(_run(loss), -_np_log_softmax(logits)[np.arange(4), labels], rtol=1e-10)
    bad = nn_ops.sparse_softmax_cross_entropy_with_logits(
        labels=np.array([0, 5, 1, 1], np.int32), logits=logits
    )
    with pytest.raises(Exception, match=r"label value of 5 .*\[0, 5\)"):
        _run(bad)
    with pytest.raises(ValueError, match="Rank mismatch"):
        nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels[:, None], logits=logits)
    build = lambda x: tf.reduce_sum(  # noqa: E731
        nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)
        * np.array([1.0, -2.0, 0.5, 3.0])
    )
    _check_grad(build, logits)
    _check_hessian(build, logits)
    # rank 3 logits are flattened and the loss reshaped back
    p = tf.placeholder(tf.float64, [None, 2, 5])
    lab = tf.placeholder(tf.int64, [None, 2])
    l3 = nn_ops.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=p)
    assert l3.shape.as_list() == [None, 2]
    got = _run(l3, {p: logits.reshape(2, 2, 5), lab: labels.reshape(2, 2).astype(np.int64)})
    np.testing.assert_allclose(got.reshape(-1), _run(loss), rtol=1e-12)


def test_sparse_xent_unknown_class_count_gradient() -> None:
    rng = np.random.default_rng(5)
    x0 = rng.normal(size=(3, 4))
    labels = np.array([1, 0, 3], np.int32)
    x = tf.placeholder(tf.float64, [None, None])
    loss = tf.reduce_sum(nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x))
    (g,) = tf.gradients(loss, [x])
    want = np.exp(_np_log_softmax(x0)) - np.eye(4)[labels]
    np.testing.assert_allclose(_run(g, {x: x0}), want, rtol=1e-10, atol=1e-12)


def test_sigmoid_xent_stable() -> None:
    x0 = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    z0 = np.array([0.0, 1.0, 0.5, 0.2, 1.0])
    got = _run(nn_ops.sigmoid_cross_entropy_with_logits(labels=z0, logits=x0))
    want = np.maximum(x0, 0) - x0 * z0 + np.log1p(np.exp(-np.abs(x0)))
    np.testing.assert_allclose(got, want)
    with pytest.raises(ValueError, match="same shape"):
        nn_ops.sigmoid_cross_entropy_with_logits(labels=z0[:3], logits=x0)
    _check_grad(
        lambda x: tf.reduce_sum(nn_ops.sigmoid_cross_entropy_with_logits(labels=z0, logits=x)), x0 / 500
    )


def test_weighted_xent() -> None:
    x0 = np.array([-2.0, 0.3, 1.5])
    z0 = np.array([1.0, 0.0, 0.7])
    got = _run(nn_ops.weighted_cross_entropy_with_logits(targets=z0, logits=x0, pos_weight=3.0))
    sig = 1 / (1 + np.exp(-x0))
    want = -(3.0 * z0 * np.log(sig) + (1 - z0) * np.log(1 - sig))
    np.testing.assert_allclose(got, want, rtol=1e-10)


# -- convolution and pooling ------------------------------------------------------------------
def test_conv2d_static_shapes_with_unknown_dims() -> None:
    x = tf.placeholder(tf.float32, [None, 28, 28, 1])
    w = tf.zeros([5, 5, 1, 32])
    assert nn_ops.conv2d(x, w, [1, 2, 2, 1], "SAME").shape.as_list() == [None, 14, 14, 32]
    assert nn_ops.conv2d(x, w, 1, "VALID").shape.as_list() == [None, 24, 24, 32]
    assert nn_ops.conv2d(x, w, [3, 3], "valid").shape.as_list() == [None, 8, 8, 32]
    assert nn_ops.conv2d(x, w, 1, "VALID", dilations=2).shape.as_list() == [None, 20, 20, 32]
    y = tf.placeholder(tf.float32, [None, None, None, 3])
    out = nn_ops.conv2d(y, tf.zeros([3, 3, 3, 8]), [1, 2, 2, 1], "SAME")
    assert out.shape.as_list() == [None, None, None, 8]
    pooled = nn_ops.max_pool(x, 2, 2, "VALID")
    assert pooled.shape.as_list() == [None, 14, 14, 1]
    assert nn_ops.avg_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME").shape.as_list() == [None, 14, 14, 1]
    t = nn_ops.conv2d_transpose(
        tf.placeholder(tf.float32, [2, 7, 7, 4]), tf.zeros([3, 3, 1, 4]), [2, 14, 14, 1], [1, 2, 2, 1]
    )
    assert t.shape.as_list() == [2, 14, 14, 1]


def test_conv2d_errors() -> None:
    x = tf.placeholder(tf.float32, [None, 8, 8, 3])
    with pytest.raises(NotImplementedError, match="NHWC"):
        nn_ops.conv2d(x, tf.zeros([3, 3, 3, 4]), 1, "SAME", data_format="NCHW")
    with pytest.raises(NotImplementedError, match="NHWC"):
        nn_ops.max_pool(x, 2, 2, "SAME", data_format="NCHW")
    with pytest.raises(ValueError, match="channels"):
        nn_ops.conv2d(x, tf.zeros([3, 3, 2, 4]), 1, "SAME")
    with pytest.raises(ValueError, match="batch and channel"):
        nn_ops.conv2d(x, tf.zeros([3, 3, 3, 4]), [2, 1, 1, 1], "SAME")
    with pytest.raises(ValueError, match="non-positive"):
        nn_ops.conv2d(x, tf.zeros([9, 9, 3, 4]), 1, "VALID")
    with pytest.raises(ValueError, match="padding"):
        nn_ops.conv2d(x, tf.zeros([3, 3, 3, 4]), 1, "FULL")


def test_conv_pool_values_against_naive_loops() -> None:
    rng = np.random.default_rng(6)
    x0 = rng.normal(size=(2, 5, 6, 3))
    w0 = rng.normal(size=(3, 2, 3, 4))
    got = _run(nn_ops.conv2d(x0, w0, [1, 2, 2, 1], "SAME"))
    # SAME, stride 2: out 3x3; pad rows (3-1)*2+3-5=2 -> (1,1); cols (3-1)*2+2-6=0
    xp = np.pad(x0, ((0, 0), (1, 1), (0, 0), (0, 0)))
    want = np.zeros((2, 3, 3, 4))
    for i in range(3):
        for j in range(3):
            patch = xp[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 2, :]
            want[:, i, j, :] = np.tensordot(patch, w0, axes=([1, 2, 3], [0, 1, 2]))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    mp = _run(nn_ops.max_pool(x0, 2, 2, "VALID"))
    np.testing.assert_allclose(mp, x0[:, :4, :6].reshape(2, 2, 2, 3, 2, 3).max(axis=(2, 4)))


def test_cnn_gradients_and_hessians() -> None:
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=(3, 3, 2, 3))
    x_in = rng.normal(size=(2, 6, 6, 2))
    wr = rng.normal(size=(2, 3, 3, 3))

    def net_of_w(w: Any) -> Any:
        h = tf.tanh(nn_ops.conv2d(x_in, w, [1, 2, 2, 1], "SAME"))
        return tf.reduce_sum(nn_ops.avg_pool(h, 2, 1, "SAME") * wr)

    _check_grad(net_of_w, w0)
    _check_hessian(net_of_w, w0)

    def net_of_x(x: Any) -> Any:
        h = nn_ops.conv2d(x, w0, 1, "VALID")
        return tf.reduce_sum(tf.square(nn_ops.max_pool(h, 2, 2, "VALID")))

    x0 = rng.normal(size=(1, 6, 6, 2))
    _check_grad(net_of_x, x0)
    _check_hessian(net_of_x, x0)


def test_conv_unknown_batch_gradient() -> None:
    rng = np.random.default_rng(8)
    w0 = rng.normal(size=(3, 3, 2, 4))
    x0 = rng.normal(size=(3, 5, 5, 2))

    def grads(batch: int | None) -> tuple[Any, Any, Any]:
        x = tf.placeholder(tf.float64, [batch, 5, 5, 2])
        w = tf.constant(w0)
        y = nn_ops.max_pool(tf.nn.relu(nn_ops.conv2d(x, w, 2, "SAME")), 2, 1, "SAME")
        gx, gw = tf.gradients(tf.reduce_sum(y), [x, w])
        return x, gx, gw

    x, gx, gw = grads(None)
    assert gx.shape.as_list() == [None, 5, 5, 2]
    assert gw.shape.as_list() == [3, 3, 2, 4]
    vx, vw = _run([gx, gw], {x: x0})
    assert vx.shape == (3, 5, 5, 2) and vw.shape == (3, 3, 2, 4)
    # The gradient rules take the symbolic-shape path above and the static one here:
    # both must give the same values.
    x_fixed, gx_fixed, gw_fixed = grads(3)
    assert gx_fixed.shape.as_list() == [3, 5, 5, 2]
    want_x, want_w = _run([gx_fixed, gw_fixed], {x_fixed: x0})
    np.testing.assert_allclose(vx, want_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vw, want_w, rtol=1e-12, atol=1e-12)


def test_conv1d() -> None:
    rng = np.random.default_rng(9)
    x0 = rng.normal(size=(2, 7, 3))
    w0 = rng.normal(size=(3, 3, 4))
    y = nn_ops.conv1d(x0, w0, 2, "VALID")
    assert y.shape.as_list() == [2, 3, 4]
    want = np.stack([np.tensordot(x0[:, 2 * i : 2 * i + 3], w0, axes=([1, 2], [0, 1])) for i in range(3)], 1)
    np.testing.assert_allclose(_run(y), want, rtol=1e-10)


# -- misc ops -----------------------------------------------------------------------------------
def test_in_top_k() -> None:
    pred = np.array([[0.1, 0.3, 0.3, 0.2], [1.0, np.nan, 0.0, 0.0], [0.5, 0.4, 0.3, 0.2]], np.float32)
    got = _run(nn_ops.in_top_k(pred, np.array([2, 0, 3], np.int32), 1))
    np.testing.assert_array_equal(got, [True, False, False])
    got2 = _run(nn_ops.in_top_k(pred, np.array([3, 0, 2], np.int32), tf.constant(3)))
    np.testing.assert_array_equal(got2, [True, False, True])


def test_l2_loss_and_normalize() -> None:
    x0 = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert _run(nn_ops.l2_loss(x0)) == pytest.approx(12.5)
    np.testing.assert_allclose(_run(nn_ops.l2_normalize(x0, axis=1)), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(_run(nn_ops.l2_normalize(x0, dim=0)), [[1.0, 1.0], [0.0, 0.0]])
    _check_grad(
        lambda x: tf.reduce_sum(nn_ops.l2_normalize(x, 1) * np.array([1.0, 2.0])), np.array([[1.0, -2.0]])
    )


def test_bias_add() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    y = nn_ops.bias_add(x, [1.0, 2.0, 3.0])
    assert y.shape.as_list() == [None, 3] and y.dtype == tf.float32
    np.testing.assert_allclose(_run(y, {x: np.zeros((2, 3))}), [[1, 2, 3]] * 2)
    with pytest.raises(ValueError, match=r"\[4\].*\[\?, 3\]|4.*3"):
        nn_ops.bias_add(x, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="1-D"):
        nn_ops.bias_add(x, [[1.0, 2.0, 3.0]])
    z = nn_ops.bias_add(np.zeros((1, 2, 2, 2), np.float32), [1.0, 2.0], data_format="NCHW")
    np.testing.assert_allclose(_run(z)[0, :, 0, 0], [1, 2])


def test_dropout() -> None:
    x0 = np.ones((200, 50), np.float32)
    assert nn_ops.dropout(tf.constant(x0), keep_prob=1.0) is not None
    xc = tf.constant(x0)
    assert nn_ops.dropout(xc, keep_prob=1) is xc
    assert nn_ops.dropout(xc, rate=0.0) is xc
    y = nn_ops.dropout(xc, keep_prob=0.25, seed=3)
    v = _run(y)
    assert set(np.unique(v)) <= {0.0, 4.0}
    assert 0.2 < (v > 0).mean() < 0.3
    kp = tf.placeholder(tf.float32, [])
    y2 = nn_ops.dropout(xc, keep_prob=kp)
    assert y2.shape.as_list() == [200, 50]
    v2 = _run(y2, {kp: 0.5})
    assert set(np.unique(v2)) <= {0.0, 2.0}
    v3 = _run(y2, {kp: 1.0})
    np.testing.assert_array_equal(v3, x0)
    y4 = nn_ops.dropout(xc, rate=0.5, noise_shape=[200, 1], seed=1)
    v4 = _run(y4)
    assert np.all(v4 == v4[:, :1])
    with pytest.raises(ValueError, match="exactly one"):
        nn_ops.dropout(xc, keep_prob=0.5, rate=0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        nn_ops.dropout(xc, keep_prob=0.0)


def test_moments_and_batch_norm() -> None:
    rng = np.random.default_rng(10)
    x0 = rng.normal(size=(4, 3, 5))
    m, v = nn_ops.moments(x0, axes=[0, 2])
    mk, vk = nn_ops.moments(x0, axes=[0, 2], keep_dims=True)
    assert m.shape.as_list() == [3] and vk.shape.as_list() == [1, 3, 1]
    gm, gv, gvk = _run([m, v, vk])
    np.testing.assert_allclose(gm, x0.mean(axis=(0, 2)))
    np.testing.assert_allclose(gv, x0.var(axis=(0, 2)))
    np.testing.assert_allclose(gvk, x0.var(axis=(0, 2), keepdims=True))
    _check_grad(
        lambda x: tf.reduce_sum(nn_ops.moments(x, [0])[1] * np.arange(1.0, 4.0)), rng.normal(size=(4, 3))
    )
    scale, offset = rng.normal(size=3), rng.normal(size=3)
    bn = nn_ops.batch_normalization(x0[:, :, 0], gm, gv, offset, scale, 1e-3)
    want = (x0[:, :, 0] - gm) / np.sqrt(gv + 1e-3) * scale + offset
    np.testing.assert_allclose(_run(bn), want, rtol=1e-10)
    bn2 = nn_ops.batch_normalization(x0[:, :, 0], gm, gv, None, None, 1e-3)
    np.testing.assert_allclose(_run(bn2), (x0[:, :, 0] - gm) / np.sqrt(gv + 1e-3), rtol=1e-10)


def test_embedding_lookup() -> None:
    params = np.arange(12.0).reshape(4, 3)
    ids = np.array([[0, 3], [2, 2]], np.int32)
    e = tf.nn.embedding_lookup(params, ids)
    assert e.shape.as_list() == [2, 2, 3]
    np.testing.assert_allclose(_run(e), params[ids])
    np.testing.assert_allclose(_run(tf.nn.embedding_lookup([params], ids)), params[ids])
    clipped = _run(tf.nn.embedding_lookup(params, ids, max_norm=5.0))
    norms = np.linalg.norm(params[ids], axis=-1, keepdims=True)
    np.testing.assert_allclose(clipped, params[ids] * 5.0 / np.maximum(norms, 5.0))
    # Two shards, "mod" strategy (TF1's default): id i lives in shard i % 2, row i // 2.
    shards = [params[0::2], params[1::2]]
    np.testing.assert_allclose(_run(tf.nn.embedding_lookup(shards, ids)), params[ids])
    p = tf.constant(params)
    (gp,) = tf.gradients(tf.reduce_sum(tf.nn.embedding_lookup(p, ids)), [p])
    np.testing.assert_allclose(
        np.asarray(_run(tf.convert_to_tensor(gp))), [[1, 1, 1], [0, 0, 0], [2, 2, 2], [1, 1, 1]]
    )


# -- losses ---------------------------------------------------------------------------------------
def test_losses_weights_and_reductions() -> None:
    labels = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    preds = np.array([[1.5, 2.0], [2.0, 4.5], [5.0, 3.0]])
    sq = (preds - labels) ** 2
    weights = np.array([[1.0], [0.0], [2.0]])
    R = losses.Reduction
    cases = {
        R.NONE: sq * weights,
        R.SUM: (sq * weights).sum(),
        R.MEAN: (sq * weights).sum() / (weights * np.ones_like(sq)).sum(),
        R.SUM_OVER_BATCH_SIZE: (sq * weights).sum() / sq.size,
        R.SUM_BY_NONZERO_WEIGHTS: (sq * weights).sum() / 4.0,
    }
    for reduction, want in cases.items():
        got = _run(losses.mean_squared_error(labels, preds, weights=weights, reduction=reduction))
        np.testing.assert_allclose(got, want, err_msg=reduction)
    assert len(losses.get_losses()) == 5
    default = losses.mean_squared_error(labels, preds)
    assert default.dtype == tf.float64
    np.testing.assert_allclose(_run(default), sq.mean())
    zero = losses.mean_squared_error(labels, preds, weights=0.0)
    assert _run(zero) == 0.0
    with pytest.raises(ValueError, match="broadcast"):
        losses.mean_squared_error(labels, preds, weights=np.ones((2, 2)))
    with pytest.raises(ValueError, match="Invalid Reduction"):
        losses.compute_weighted_loss(sq, reduction="bogus")


def test_losses_values() -> None:
    rng = np.random.default_rng(11)
    y = rng.uniform(0.1, 0.9, size=(3, 4))
    p = rng.uniform(0.1, 0.9, size=(3, 4))
    np.testing.assert_allclose(_run(losses.absolute_difference(y, p)), np.abs(p - y).mean())
    ll = -y * np.log(p + 1e-7) - (1 - y) * np.log(1 - p + 1e-7)
    np.testing.assert_allclose(_run(losses.log_loss(y, p)), ll.mean())
    err = np.abs(p * 4 - y)
    hub = np.where(err <= 1.0, 0.5 * err**2, err - 0.5)
    np.testing.assert_allclose(_run(losses.huber_loss(y, p * 4)), hub.mean())

    logits = rng.normal(size=(3, 4))
    onehot = np.eye(4)[[0, 3, 1]]
    sm = 0.1
    smoothed = onehot * (1 - sm) + sm / 4
    want = -(smoothed * _np_log_softmax(logits)).sum(-1).mean()
    np.testing.assert_allclose(_run(losses.softmax_cross_entropy(onehot, logits, label_smoothing=sm)), want)
    sp = losses.sparse_softmax_cross_entropy(
        np.array([[0], [3], [1]], np.int32), logits, weights=[[1.0], [0.0], [1.0]]
    )
    lsm = -_np_log_softmax(logits)[[0, 1, 2], [0, 3, 1]]
    np.testing.assert_allclose(_run(sp), (lsm[0] + lsm[2]) / 2)
    z = (rng.uniform(size=(3, 4)) > 0.5).astype(np.float64)
    zs = z * 0.8 + 0.1
    sig = np.maximum(logits, 0) - logits * zs + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(_run(losses.sigmoid_cross_entropy(z, logits, label_smoothing=0.2)), sig.mean())
    h = losses.hinge_loss(z, logits)
    np.testing.assert_allclose(_run(h), np.maximum(0, 1 - (2 * z - 1) * logits).mean())


# (loss, its labels and inputs arguments, its default scope, extra arguments, whether the
# inputs are logits, which keep their dtype, where predictions are computed in float32).
_LOSSES = [
    (losses.mean_squared_error, "labels", "predictions", "mean_squared_error", {}, False),
    (losses.absolute_difference, "labels", "predictions", "absolute_difference", {}, False),
    (losses.log_loss, "labels", "predictions", "log_loss", {}, False),
    (losses.huber_loss, "labels", "predictions", "huber_loss", {}, False),
    (losses.cosine_distance, "labels", "predictions", "cosine_distance_loss", {"axis": 1}, False),
    (losses.hinge_loss, "labels", "logits", "hinge_loss", {}, False),
    (losses.softmax_cross_entropy, "onehot_labels", "logits", "softmax_cross_entropy_loss", {}, True),
    (losses.sigmoid_cross_entropy, "multi_class_labels", "logits", "sigmoid_cross_entropy_loss", {}, True),
]


@pytest.mark.parametrize("fn,labels_arg,inputs_arg,scope,extra,logits", _LOSSES, ids=[c[3] for c in _LOSSES])
def test_losses_check_convert_and_scope_alike(
    fn: Callable[..., Any], labels_arg: str, inputs_arg: str, scope: str, extra: dict[str, Any], logits: bool
) -> None:
    rng = np.random.default_rng(14)
    y = np.eye(4)[[0, 3, 1]]
    x = rng.uniform(0.1, 0.9, size=(3, 4))

    def call(labels: Any, inputs: Any, **kw: Any) -> Any:
        return fn(**{labels_arg: labels, inputs_arg: inputs}, **extra, **kw)

    loss = call(y, x)
    assert loss.op.name.startswith(f"{scope}/") and loss in losses.get_losses()
    assert call(y, x, scope="mine").op.name.startswith("mine/")
    with pytest.raises(ValueError, match=f"{labels_arg} must not be None"):
        call(None, x)
    with pytest.raises(ValueError, match=f"{inputs_arg} must not be None"):
        call(y, None)
    with pytest.raises(ValueError, match=rf"\({inputs_arg}\) and .* \({labels_arg}\) are incompatible"):
        call(y, rng.uniform(size=(3, 5)))
    assert loss.dtype == tf.float64 and _run(loss).shape == ()
    half = call(y.astype(np.float16), x.astype(np.float16))
    assert half.dtype == (tf.float16 if logits else tf.float32)
    # Weighted per element (per example for the softmax cross-entropy), no reduction.
    per_example = labels_arg == "onehot_labels"
    w = np.array([1.0, 0.0, 2.0]).reshape(-1 if per_example else (3, 1))
    per_element = call(y, x, weights=w, reduction=losses.Reduction.NONE)
    assert per_element.shape.as_list() == ([3] if per_example else [3, 1] if extra else [3, 4])
    assert np.all(_run(per_element)[1] == 0) and np.all(_run(per_element)[[0, 2]] != 0)


def test_losses_collection_and_total() -> None:
    x = tf.constant([1.0, 2.0])
    l1 = losses.absolute_difference(x, [0.0, 0.0])
    losses.absolute_difference(x, [0.0, 0.0], loss_collection=None)
    assert losses.get_losses() == [l1]
    tf.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, tf.constant(0.5))
    assert len(losses.get_regularization_losses()) == 1
    assert _run(losses.get_total_loss()) == pytest.approx(2.0)
    assert _run(losses.get_total_loss(add_regularization_losses=False)) == pytest.approx(1.5)
    assert _run(losses.get_regularization_loss()) == pytest.approx(0.5)
    assert losses.get_losses(scope="absolute_difference/") == [l1]
    losses.add_loss(tf.constant(3.0))
    assert len(losses.get_losses()) == 2


def test_losses_gradient() -> None:
    rng = np.random.default_rng(12)
    logits0 = rng.normal(size=(3, 4))
    onehot = np.eye(4)[[0, 3, 1]]
    _check_grad(lambda x: losses.softmax_cross_entropy(onehot, x, weights=[1.0, 0.0, 2.0]), logits0)


def test_unknown_dims_run_end_to_end() -> None:
    rng = np.random.default_rng(13)
    x = tf.placeholder(tf.float64, [None, None, None, 2])
    w = tf.constant(rng.normal(size=(3, 3, 2, 3)))
    h = nn_ops.avg_pool(nn_ops.max_pool(nn_ops.conv2d(x, w, 2, "SAME"), 2, 1, "SAME"), 3, 2, "VALID")
    gx, gw = tf.gradients(tf.reduce_sum(tf.square(h)), [x, w])
    x0 = rng.normal(size=(2, 9, 11, 2))
    vh, vx, vw = _run([h, gx, gw], {x: x0})
    assert vh.shape == (2, 2, 2, 3) and vx.shape == x0.shape and vw.shape == (3, 3, 2, 3)

    logits = tf.placeholder(tf.float64, [None, None, None])
    labels = tf.placeholder(tf.float64, [None, None, None])
    loss = nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    lg0 = rng.normal(size=(2, 3, 4))
    lb0 = rng.dirichlet(np.ones(4), size=(2, 3))
    np.testing.assert_allclose(_run(loss, {logits: lg0, labels: lb0}), -(lb0 * _np_log_softmax(lg0)).sum(-1))

    d = tf.placeholder(tf.float32, [None, 3])
    kp = tf.placeholder_with_default(tf.constant(0.5), [])
    out = _run(nn_ops.dropout(d, keep_prob=kp), {d: np.ones((4, 3), np.float32)})
    assert out.shape == (4, 3) and set(np.unique(out)) <= {0.0, 2.0}

    p = tf.placeholder(tf.float32, [None, 2])
    wt = tf.placeholder(tf.float32, [None, 1])
    mse = losses.mean_squared_error(tf.zeros_like(p), p, weights=wt)
    got = _run(mse, {p: np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), wt: np.array([[1.0], [0.0], [1.0]])})
    assert got == pytest.approx((1 + 1 + 9 + 9) / 4)
