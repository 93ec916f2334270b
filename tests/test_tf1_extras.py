"""TF1 names added by the compatibility sweep: the clipping, norm, cast, eye, linspace and
sequence_mask composites against independent NumPy; the Cumsum / Cumprod / TopKV2 /
GatherNd / ScatterNd ops through their API (the registry test covers their samples);
and the unsupported names, which must raise NotImplementedError with advice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.ops import unsupported


def _run(fetches: Any, feeds: dict[Any, Any] | None = None) -> Any:
    with tf.Session() as sess:
        return sess.run(fetches, feeds or {})


def _numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


def _check_grad(build: Callable[[Any], Any], x0: np.ndarray, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """d sum(build(x) * w) / dx from tf.gradients against central differences (float64)."""
    w = np.random.default_rng(1).normal(size=np.shape(_run(build(tf.constant(x0)))))
    x = tf.placeholder(tf.float64, x0.shape)
    loss = tf.reduce_sum(build(x) * tf.constant(w))
    (g,) = tf.gradients(loss, x)
    got = _run(g, {x: x0})

    def f(v: np.ndarray) -> float:
        return float(_run(loss, {x: v}))

    np.testing.assert_allclose(got, _numeric_grad(f, x0), rtol=rtol, atol=atol)


def _np_clip_by_norm(t: np.ndarray, c: float, axes: Any = None) -> np.ndarray:
    n = np.sqrt(np.sum(t * t, axis=tuple(axes) if isinstance(axes, list) else axes, keepdims=True))
    return t * c / np.maximum(n, c)


# =============================================================================================
# clip_by_norm, global_norm, clip_by_global_norm, clip_by_average_norm
def test_clip_by_norm_values() -> None:
    t = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32) * 3
    for c, axes in ((1.0, None), (2.5, [1]), (0.5, 0), (100.0, None)):
        got = _run(tf.clip_by_norm(tf.constant(t), c, axes=axes))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, _np_clip_by_norm(t, c, axes), rtol=1e-6)


def test_clip_by_norm_zero_input_has_finite_gradient() -> None:
    x = tf.placeholder(tf.float64, [2, 3])
    y = tf.clip_by_norm(x, 1.0, axes=[1])
    (g,) = tf.gradients(tf.reduce_sum(y), x)
    val, grad = _run([y, g], {x: np.zeros((2, 3))})
    np.testing.assert_array_equal(val, 0.0)
    assert np.all(np.isfinite(grad))
    _check_grad(lambda v: tf.clip_by_norm(v, 1.5, axes=[1]), np.random.default_rng(2).normal(size=(2, 3)))


def test_clip_by_norm_rejects_a_broadcasting_clip_norm() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        tf.clip_by_norm(tf.ones([3]), tf.ones([2, 3]))


def test_clip_by_norm_with_unknown_batch() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.clip_by_norm(x, 1.0, axes=[1])
    assert y.shape.as_list() == [None, 4]
    v = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32) * 2
    np.testing.assert_allclose(_run(y, {x: v}), _np_clip_by_norm(v, 1.0, 1), rtol=1e-6)


def test_global_norm_skips_none() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(5,))
    n = tf.global_norm([tf.constant(a), None, tf.constant(b)])
    assert n.shape.as_list() == []
    np.testing.assert_allclose(_run(n), np.sqrt(np.sum(a**2) + np.sum(b**2)), rtol=1e-12)


def test_global_norm_errors() -> None:
    with pytest.raises(TypeError, match="sequence"):
        tf.global_norm(tf.ones([2]))
    with pytest.raises(ValueError, match="not None"):
        tf.global_norm([None, None])
    with pytest.raises(TypeError, match="same dtype"):
        tf.global_norm([tf.ones([2]), tf.ones([2], dtype=tf.float64)])


def test_clip_by_global_norm_with_none_entries() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3, 2)) * 4, rng.normal(size=(4,)) * 4
    norm = np.sqrt(np.sum(a**2) + np.sum(b**2))
    for clip in (1.0, norm * 2):
        clipped, gn = tf.clip_by_global_norm([tf.constant(a), None, tf.constant(b)], clip)
        assert clipped[1] is None and len(clipped) == 3
        ca, cb, n = _run([clipped[0], clipped[2], gn])
        np.testing.assert_allclose(n, norm, rtol=1e-12)
        scale = clip / max(norm, clip)
        np.testing.assert_allclose(ca, a * scale, rtol=1e-12)
        np.testing.assert_allclose(cb, b * scale, rtol=1e-12)


def test_clip_by_global_norm_use_norm_and_non_finite() -> None:
    a = np.array([3.0, 4.0], np.float32)
    clipped, n = tf.clip_by_global_norm([tf.constant(a)], 1.0, use_norm=tf.constant(10.0))
    got, nv = _run([clipped[0], n])
    assert nv == 10.0
    np.testing.assert_allclose(got, a / 10.0, rtol=1e-6)
    # A non-finite norm makes everything NaN (TF), rather than silently zeroing the update.
    clipped, _ = tf.clip_by_global_norm([tf.constant(a)], 1.0, use_norm=tf.constant(np.inf, tf.float32))
    assert np.all(np.isnan(_run(clipped[0])))


def test_gradient_clipping_training_step() -> None:
    rng = np.random.default_rng(6)
    x0, y0 = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)
    w0, b0 = rng.normal(size=(3, 1)).astype(np.float32) * 3, np.array([2.0], np.float32)
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 1])
    w = tf.Variable(w0)
    b = tf.Variable(b0)
    unused = tf.Variable(np.ones(2, np.float32))  # no gradient: a None entry in the list
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y)) + 0.0 * tf.reduce_sum(b)
    opt = tf.train.GradientDescentOptimizer(0.1)
    grads_and_vars = opt.compute_gradients(loss, [w, b, unused])
    grads = [g for g, _ in grads_and_vars]
    assert grads[2] is None
    clipped, gnorm = tf.clip_by_global_norm(grads, 0.5)
    assert clipped[2] is None
    train = opt.apply_gradients(list(zip(clipped, [w, b, unused])))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        n, _ = sess.run([gnorm, train], {x: x0, y: y0})
        w1, b1, u1 = sess.run([w, b, unused])
    r = x0 @ w0 + b0 - y0
    gw, gb = 2 * x0.T @ r / len(x0), np.array([2 * r.mean()])
    norm = np.sqrt(np.sum(gw**2) + np.sum(gb**2))
    np.testing.assert_allclose(n, norm, rtol=1e-5)
    assert norm > 0.5  # the step is really clipped
    scale = 0.5 / norm
    np.testing.assert_allclose(w1, w0 - 0.1 * gw * scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - 0.1 * gb * scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(u1, 1.0)


def test_clip_by_average_norm() -> None:
    t = np.random.default_rng(7).normal(size=(2, 3))
    for c in (0.1, 10.0):
        got = _run(tf.clip_by_average_norm(tf.constant(t), c))
        avg = np.sqrt(np.sum(t**2)) / t.size
        np.testing.assert_allclose(got, t * c / max(avg, c), rtol=1e-12)


# =============================================================================================
# casts, norm, reduce_variance / reduce_std
def test_casts() -> None:
    v = np.array([1.7, -2.5, 3.0])
    for fn, dt in (
        (tf.to_float, np.float32),
        (tf.to_double, np.float64),
        (tf.to_int32, np.int32),
        (tf.to_int64, np.int64),
    ):
        t = fn(tf.constant(v))
        got = _run(t)
        assert got.dtype == dt
        np.testing.assert_array_equal(got, v.astype(dt))
    assert tf.to_float(tf.constant([1])).op.name.startswith("ToFloat")


@pytest.mark.parametrize("ord", ["euclidean", 2, 1, np.inf, 3, 0.5])
def test_vector_norms(ord: Any) -> None:  # noqa: A002
    x = np.random.default_rng(8).normal(size=(3, 4))
    p = 2 if ord == "euclidean" else ord
    for axis, keepdims in ((None, False), (1, False), (0, True), (-1, True), (None, True)):
        got = _run(tf.norm(tf.constant(x), ord=ord, axis=axis, keepdims=keepdims))
        a = np.abs(x)
        if p == np.inf:
            want = np.max(a, axis=axis, keepdims=keepdims)
        else:
            want = np.sum(a**p, axis=axis, keepdims=keepdims) ** (1.0 / p)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("ord", ["fro", "euclidean", 1, np.inf])
def test_matrix_norms(ord: Any) -> None:  # noqa: A002
    x = np.random.default_rng(9).normal(size=(2, 3, 4))
    np_ord = "fro" if ord == "euclidean" else ord
    for axis in ((1, 2), (-1, -2), [0, 2]):
        for keepdims in (False, True):
            got = _run(tf.linalg.norm(tf.constant(x), ord=ord, axis=axis, keepdims=keepdims))
            want = np.linalg.norm(x, ord=np_ord, axis=tuple(axis), keepdims=keepdims)
            assert got.shape == want.shape, (axis, keepdims)
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_norm_errors_and_gradient() -> None:
    x = tf.ones([2, 3])
    with pytest.raises(NotImplementedError, match="SVD"):
        tf.norm(x, ord=2, axis=(0, 1))
    with pytest.raises(ValueError, match="ord"):
        tf.norm(x, ord="fro", axis=1)
    with pytest.raises(ValueError, match="ord"):
        tf.norm(x, ord=-1)
    with pytest.raises(ValueError, match="axis"):
        tf.norm(x, axis=(1, 1))
    with pytest.raises(ValueError, match="axis"):
        tf.norm(x, axis=(0, 1, 2))
    assert tf.norm(tf.placeholder(tf.float32, [None, 3]), axis=1).shape.as_list() == [None]
    _check_grad(lambda v: tf.norm(v, axis=1), np.random.default_rng(10).normal(size=(2, 3)))
    _check_grad(lambda v: tf.norm(v, ord=3, axis=0), np.random.default_rng(11).normal(size=(2, 3)))


def test_reduce_variance_and_std() -> None:
    x = np.random.default_rng(12).normal(size=(3, 4, 2))
    for axis, keepdims in ((None, False), (1, False), ([0, 2], True), (-1, False)):
        ax = tuple(axis) if isinstance(axis, list) else axis
        v, s = _run(
            [
                tf.math.reduce_variance(tf.constant(x), axis=axis, keepdims=keepdims),
                tf.math.reduce_std(tf.constant(x), axis=axis, keepdims=keepdims),
            ]
        )
        np.testing.assert_allclose(v, np.var(x, axis=ax, keepdims=keepdims), rtol=1e-12)
        np.testing.assert_allclose(s, np.std(x, axis=ax, keepdims=keepdims), rtol=1e-12)
    f32 = _run(tf.math.reduce_variance(tf.constant(x.astype(np.float32)), axis=1))
    assert f32.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        tf.math.reduce_std(tf.constant([1, 2, 3]))
    _check_grad(lambda v: tf.math.reduce_std(v, axis=1), x[:, :, 0])


# =============================================================================================
# eye, linspace, sequence_mask
def test_eye() -> None:
    np.testing.assert_array_equal(_run(tf.eye(3)), np.eye(3, dtype=np.float32))
    got = _run(tf.eye(2, 4, dtype=tf.int32))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.eye(2, 4))
    b = tf.eye(3, 2, batch_shape=[2, 1], dtype=tf.float64)
    assert b.shape.as_list() == [2, 1, 3, 2]
    np.testing.assert_array_equal(_run(b), np.broadcast_to(np.eye(3, 2), (2, 1, 3, 2)))
    n = tf.placeholder(tf.int32, [])
    d = tf.eye(n, batch_shape=[2])
    assert d.shape.as_list() == [2, None, None]
    np.testing.assert_array_equal(_run(d, {n: 4}), np.broadcast_to(np.eye(4), (2, 4, 4)))
    assert tf.eye(tf.constant(3)).shape.as_list() == [3, 3]
    with pytest.raises(ValueError, match="non-negative"):
        tf.eye(-1)


def test_linspace() -> None:
    got = _run(tf.linspace(0.0, 1.0, 5))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32))
    got = _run(tf.lin_space(tf.constant(-1.0, tf.float64), 2.0, 7))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.linspace(-1.0, 2.0, 7), rtol=1e-15)
    assert got[-1] == 2.0
    one = _run(tf.linspace(3.0, 5.0, 1))
    np.testing.assert_array_equal(one, [3.0])
    with pytest.raises(ValueError, match="num > 0"):
        tf.linspace(0.0, 1.0, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        tf.linspace(tf.constant(0), tf.constant(1), 3)
    # Gradients reach both ends.
    lo = tf.placeholder(tf.float64, [])
    hi = tf.placeholder(tf.float64, [])
    w = np.arange(1.0, 6.0)
    g_lo, g_hi = tf.gradients(tf.reduce_sum(tf.linspace(lo, hi, 5) * tf.constant(w)), [lo, hi])
    t = np.linspace(0.0, 1.0, 5)
    gl, gh = _run([g_lo, g_hi], {lo: 0.0, hi: 1.0})
    np.testing.assert_allclose([gl, gh], [np.sum(w * (1 - t)), np.sum(w * t)], rtol=1e-12)


def test_sequence_mask() -> None:
    lengths = np.array([1, 3, 0, 2], np.int32)
    want = np.arange(4)[None, :] < lengths[:, None]
    m = tf.sequence_mask(tf.constant(lengths), 4)
    assert m.dtype == tf.bool and m.shape.as_list() == [4, 4]
    np.testing.assert_array_equal(_run(m), want)
    # Without maxlen: max(lengths) when the lengths are known while building.
    np.testing.assert_array_equal(_run(tf.sequence_mask(lengths)), want[:, :3])
    np.testing.assert_array_equal(_run(tf.sequence_mask(tf.constant(lengths))), want[:, :3])
    # maxlen as a run-time tensor, lengths fed, another dtype, 2-D lengths.
    lp = tf.placeholder(tf.int32, [None])
    mp = tf.placeholder(tf.int32, [])
    f = tf.sequence_mask(lp, mp, dtype=tf.float32)
    got = _run(f, {lp: lengths, mp: 5})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (np.arange(5)[None, :] < lengths[:, None]).astype(np.float32))
    two = _run(tf.sequence_mask([[1, 2], [0, 3]], 3))
    np.testing.assert_array_equal(two, np.arange(3) < np.array([[1, 2], [0, 3]])[..., None])
    with pytest.raises(NotImplementedError, match="pass maxlen"):
        tf.sequence_mask(lp)
    with pytest.raises(ValueError, match="scalar"):
        tf.sequence_mask(lp, tf.constant([2, 3]))


# =============================================================================================
# cumsum / cumprod
def _np_scan(x: np.ndarray, axis: int, exclusive: bool, reverse: bool, prod: bool) -> np.ndarray:
    """Loops over positions: an independent formulation of the scans."""
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    out = np.empty_like(x)
    for j in range(n):
        if reverse:
            part = x[..., j + 1 :] if exclusive else x[..., j:]
        else:
            part = x[..., :j] if exclusive else x[..., : j + 1]
        out[..., j] = np.prod(part, axis=-1) if prod else np.sum(part, axis=-1)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_and_cumprod_values(exclusive: bool, reverse: bool) -> None:
    x = np.random.default_rng(13).uniform(0.5, 1.5, size=(2, 3, 4))
    for axis in (0, 1, 2, -1):
        for prod, fn in ((False, tf.cumsum), (True, tf.cumprod)):
            got = _run(fn(tf.constant(x), axis=axis, exclusive=exclusive, reverse=reverse))
            want = _np_scan(x, axis % 3, exclusive, reverse, prod)
            np.testing.assert_allclose(got, want, rtol=1e-12)
    ints = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    got = _run(tf.math.cumsum(ints, axis=1, exclusive=exclusive, reverse=reverse))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, _np_scan(ints, 1, exclusive, reverse, False))


def test_cumsum_shapes_gradients_and_errors() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    c = tf.cumsum(x, axis=1, reverse=True)
    assert c.shape.as_list() == [None, 3]
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(_run(c, {x: v}), _np_scan(v, 1, False, True, False))
    unknown = tf.placeholder(tf.float32, None)
    np.testing.assert_array_equal(_run(tf.cumsum(unknown, axis=-1), {unknown: v}), np.cumsum(v, axis=1))
    x0 = np.random.default_rng(14).uniform(0.5, 1.5, size=(3, 4))
    _check_grad(lambda t: tf.cumsum(t, axis=0, exclusive=True), x0)
    _check_grad(lambda t: tf.cumprod(t, axis=1, reverse=True), x0)
    with pytest.raises(ValueError, match="rank >= 1"):
        tf.cumsum(tf.constant(1.0))
    with pytest.raises(ValueError, match="axis"):
        tf.cumsum(tf.ones([2, 3]), axis=2)
    with pytest.raises(TypeError):
        tf.cumsum(tf.constant([True, False]))


# =============================================================================================
# top_k
def _np_top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Python's stable sort on (-value, index) keys, row by row."""
    rows = x.reshape(-1, x.shape[-1])
    idx = np.array([sorted(range(len(r)), key=lambda i, r=r: (-r[i], i))[:k] for r in rows], np.int32)
    idx = idx.reshape(*x.shape[:-1], k)
    return np.take_along_axis(x, idx, axis=-1), idx


def test_top_k_values_and_ties() -> None:
    rng = np.random.default_rng(15)
    for x, k in (
        (rng.normal(size=(7,)), 3),
        (rng.normal(size=(2, 3, 5)).astype(np.float32), 5),
        (np.array([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2], [-5, 7, -5, 7, 0]], np.int64), 3),
        (np.array([0.5, -1.0, 0.5, 2.0, 0.5]), 4),
    ):
        values, indices = tf.nn.top_k(tf.constant(x), k)
        assert values.dtype.np == x.dtype and indices.dtype == tf.int32
        assert values.shape.as_list() == [*x.shape[:-1], k]
        got_v, got_i = _run([values, indices])
        want_v, want_i = _np_top_k(x, k)
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_array_equal(got_v, want_v)
    v, i = _run(list(tf.math.top_k([3.0, 1.0, 2.0])))
    np.testing.assert_array_equal(v, [3.0])
    np.testing.assert_array_equal(i, [0])


def test_top_k_errors() -> None:
    with pytest.raises(ValueError, match="at least k"):
        tf.nn.top_k(tf.ones([2, 3]), 4)
    with pytest.raises(ValueError, match="rank >= 1"):
        tf.nn.top_k(tf.constant(1.0), 1)


def test_top_k_gradient_with_unknown_batch() -> None:
    x = tf.placeholder(tf.float64, [None, 5])
    values, indices = tf.nn.top_k(x, 2)
    assert values.shape.as_list() == [None, 2]
    w = tf.constant([[1.0, 10.0]], tf.float64)
    loss = tf.reduce_sum(values * values * w)
    (g,) = tf.gradients(loss, x)
    (gg,) = tf.gradients(tf.reduce_sum(g), x)  # second order: the gradient is differentiable
    assert g.shape.as_list() == [None, 5]
    for n in (1, 3):
        x0 = np.random.default_rng(n).normal(size=(n, 5))
        got, got2 = _run([g, gg], {x: x0})
        want = np.zeros_like(x0)
        want2 = np.zeros_like(x0)
        _, idx = _np_top_k(x0, 2)
        for r in range(n):
            for j, weight in enumerate((1.0, 10.0)):
                want[r, idx[r, j]] = 2 * x0[r, idx[r, j]] * weight
                want2[r, idx[r, j]] = 2 * weight
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(got2, want2, rtol=1e-12)
    # The indices output has no gradient.
    assert tf.gradients(tf.reduce_sum(tf.cast(indices, tf.float64)), x) == [None]


# =============================================================================================
# gather_nd / scatter_nd
def test_gather_nd_and_scatter_nd() -> None:
    p = np.arange(24.0).reshape(2, 3, 4)
    idx = np.array([[[1, 0], [0, 2]], [[1, 2], [1, 1]]], np.int32)
    got = _run(tf.gather_nd(tf.constant(p), idx))
    want = np.stack([[p[1, 0], p[0, 2]], [p[1, 2], p[1, 1]]])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_run(tf.gather_nd(p, [[1, 2, 3], [0, 0, 1]])), [23.0, 1.0])
    s = tf.scatter_nd([[0], [2], [0]], tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), [3, 2])
    np.testing.assert_array_equal(_run(s), [[6.0, 8.0], [0.0, 0.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="does not index"):
        tf.gather_nd(tf.ones([2, 3]), [[0, 3]])
    with pytest.raises(ValueError, match="more than the rank"):
        tf.gather_nd(tf.ones([2]), [[0, 1]])
    fed = tf.placeholder(tf.int32, [None, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not index"):
        _run(tf.gather_nd(tf.ones([2, 3]), fed), {fed: [[2, 0]]})


def test_gather_nd_gradient_with_unknown_batch() -> None:
    params = tf.placeholder(tf.float64, [None, 3])
    out = tf.gather_nd(params, [[0, 1], [0, 1], [1, 2]])
    (g,) = tf.gradients(tf.reduce_sum(out * tf.constant([1.0, 2.0, 3.0], tf.float64)), params)
    assert g.shape.as_list() == [None, 3]
    got = _run(g, {params: np.ones((2, 3))})
    np.testing.assert_array_equal(got, [[0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])


# =============================================================================================
# unsupported names
@pytest.mark.parametrize("name", unsupported.NAMES)
def test_unsupported_names_raise_with_advice(name: str) -> None:
    fn = getattr(tf, name)
    assert fn is getattr(unsupported, name)
    with pytest.raises(NotImplementedError) as info:
        fn(tf.constant(1.0), lambda: 1, name="x")
    text = str(info.value)
    assert text.startswith(f"tf.{name} is not supported: ")
    assert text == unsupported.message(name)
    assert len(text) > 60  # says why and what to do instead
    assert name in (fn.__doc__ or "")


def test_unsupported_messages_suggest_alternatives() -> None:
    assert "tf.scatter_nd" in unsupported.message("scatter_add")
