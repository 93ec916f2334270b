"""Ops whose output shape depends on the data (tf.where(cond), tf.boolean_mask, tf.unique,
tf.unique_with_counts, tf.dynamic_partition, tf.dynamic_stitch, tf.nn.top_k with a fed k,
tf.slice and x[a:b] with tensor bounds) against plain NumPy/Python references, on every
backend: values for several shapes (empty results included), gradients against central
differences, results used downstream with fed batches of different sizes from one
compile, and errors naming the user's line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf

BACKENDS = ["numpy", "llvm"]
_THIS = "test_dynamic_shape_ops.py"


@pytest.fixture(autouse=True)
def _fresh_graph() -> None:
    tf.reset_default_graph()


def _central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        g[i] = (f(plus) - f(minus)) / (2 * eps)
    return g


def _check_gradient(
    build: Callable[[Any], Any], ref: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, backend: str
) -> None:
    """d/dx sum(w * build(x)) from graphc's gradient against central differences of the
    NumPy ``ref`` (w random, of the reference output's shape, fed)."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=ref(x0).shape)
    x = tf.placeholder(tf.float64, [None] * x0.ndim)
    w = tf.placeholder(tf.float64, None)
    loss = tf.reduce_sum(build(x) * w)
    (g,) = tf.gradients(loss, [x])
    with tf.Session(backend=backend) as sess:
        got = sess.run(g, {x: x0, w: w0})
    want = _central_difference(lambda v: float(np.sum(ref(v) * w0)), x0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


# =============================================================================================
# tf.where
@pytest.mark.parametrize("backend", BACKENDS)
def test_where_gives_the_coordinates_of_true_elements(backend: str) -> None:
    c = tf.placeholder(tf.bool, None)
    out = tf.where(c)
    assert out.dtype == tf.int64 and out.shape.as_list() == [None, None]
    rng = np.random.default_rng(0)
    cases = [rng.random((3, 4)) < 0.5, rng.random(7) < 0.3, np.zeros((2, 0, 3), bool), np.zeros((4, 2), bool)]
    cases += [np.ones((2, 3), bool), np.array(True), np.array(False)]
    with tf.Session(backend=backend) as sess:
        for v in cases:
            got = sess.run(out, {c: v})
            # Independent reference: every index tuple in row-major order, kept where true.
            want = [list(i) for i in np.ndindex(v.shape) if v[i]]
            assert got.dtype == np.int64
            assert got.shape == (len(want), v.ndim)
            assert got.tolist() == want


def test_where_of_numbers_and_the_three_argument_form() -> None:
    x = tf.placeholder(tf.float32, [None])
    with tf.Session() as sess:
        got = sess.run(tf.where(x), {x: np.array([0.0, 2.0, -0.0, np.nan, -1.0], np.float32)})
        assert got.tolist() == [[1], [3], [4]]
        sel = tf.where(x > 0, x, -x)  # the select (Select) keeps working
        v = np.array([-1.0, 2.0, -3.0], np.float32)
        np.testing.assert_array_equal(sess.run(sel, {x: v}), np.abs(v))
        np.testing.assert_array_equal(sess.run(tf.where_v2(x > 0, x, 0.0), {x: v}), [0.0, 2.0, 0.0])
        assert sess.run(tf.where_v2(x > 1), {x: v}).tolist() == [[1]]
    with pytest.raises(ValueError, match="both"):
        tf.where(x > 0, x)


# =============================================================================================
# tf.boolean_mask
@pytest.mark.parametrize("backend", BACKENDS)
def test_boolean_mask_values(backend: str) -> None:
    rng = np.random.default_rng(2)
    x3 = tf.placeholder(tf.float32, [None, None, 4])
    m1 = tf.placeholder(tf.bool, [None])
    m2 = tf.placeholder(tf.bool, [None, None])
    m_last = tf.placeholder(tf.bool, [4])
    a0 = tf.boolean_mask(x3, m1)
    a01 = tf.boolean_mask(x3, m2)
    a12 = tf.boolean_mask(x3, tf.placeholder_with_default(np.ones((3, 4), bool), [None, 4]), axis=1)
    a2 = tf.boolean_mask(x3, m_last, axis=2)
    assert a0.shape.as_list() == [None, None, 4] and a01.shape.as_list() == [None, 4]
    assert a2.shape.as_list() == [None, None, None]
    with tf.Session(backend=backend) as sess:
        for n, k in [(5, 3), (1, 2), (0, 3), (4, 1)]:
            x = rng.normal(size=(n, k, 4)).astype(np.float32)
            v1, v2, vl = rng.random(n) < 0.5, rng.random((n, k)) < 0.5, rng.random(4) < 0.5
            got = sess.run([a0, a01, a2], {x3: x, m1: v1, m2: v2, m_last: vl})
            np.testing.assert_array_equal(got[0], x[v1])
            np.testing.assert_array_equal(got[1], x[v2])
            np.testing.assert_array_equal(got[2], x[:, :, vl])
        x = rng.normal(size=(2, 3, 4)).astype(np.float32)
        np.testing.assert_array_equal(sess.run(a12, {x3: x}), x.reshape(2, 12, order="C").reshape(2, 12))
        none = sess.run(a0, {x3: x, m1: np.zeros(2, bool)})
        assert none.shape == (0, 3, 4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_masked_sum_serves_every_batch_size_from_one_compile(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    pos = tf.boolean_mask(x, x > 0)
    total = tf.reduce_sum(pos) + tf.cast(tf.size(pos), tf.float32)
    mean_of_kept = tf.reduce_mean(tf.boolean_mask(x, tf.reduce_all(x > -1.0, axis=1)), axis=0)
    rng = np.random.default_rng(3)
    with tf.Session(backend=backend) as sess:
        for n in (4, 1, 9, 0, 17):
            v = rng.normal(size=(n, 3)).astype(np.float32)
            got_total, got_mean = sess.run([total, mean_of_kept], {x: v})
            keep = v[(v > -1.0).all(axis=1)]
            np.testing.assert_allclose(got_total, v[v > 0].sum() + (v > 0).sum(), rtol=1e-5, atol=1e-6)
            if len(keep):
                np.testing.assert_allclose(got_mean, keep.mean(axis=0), rtol=1e-5, atol=1e-6)
            else:
                assert np.isnan(got_mean).all()  # a mean over no rows, as in TF1
        assert sess.stats["compiles"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_boolean_mask_gradient_scatters_back(backend: str) -> None:
    x0 = np.random.default_rng(4).normal(size=(4, 3))

    def ref(v: np.ndarray) -> np.ndarray:
        return v[x0 > 0.1]  # the mask is held fixed (it does not move with the perturbation)

    mask = tf.constant(x0 > 0.1)
    _check_gradient(
        lambda x: tf.boolean_mask(x, mask) * tf.boolean_mask(x, mask), lambda v: ref(v) ** 2, x0, backend
    )
    m1 = tf.constant(x0[:, 0] > 0)
    _check_gradient(lambda x: tf.boolean_mask(tf.sin(x), m1), lambda v: np.sin(v)[x0[:, 0] > 0], x0, backend)


def test_a_mismatched_mask_is_an_error_naming_the_users_line() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(ValueError, match=rf"BooleanMask.*{_THIS}:\d+.*must match"):
        tf.boolean_mask(x, tf.constant([True, False]), axis=1)
    with pytest.raises(ValueError, match="mask cannot be a scalar"):
        tf.boolean_mask(x, tf.constant(True))
    with pytest.raises(TypeError, match="must be bool"):
        tf.boolean_mask(x, tf.constant([1, 0, 1]), axis=1)
    m = tf.placeholder(tf.bool, [None])
    out = tf.boolean_mask(x, m)
    with tf.Session() as sess:
        assert sess.run(out, {x: np.ones((2, 3), np.float32), m: [True, False]}).shape == (1, 3)
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(out, {x: np.ones((2, 3), np.float32), m: [True, False, True]})
        text = str(info.value)
        assert "BooleanMask" in text and _THIS in text and "3" in text and "2" in text


# =============================================================================================
# tf.unique, tf.unique_with_counts
def _unique_reference(v: list[Any]) -> tuple[list[Any], list[int], list[int]]:
    """First-occurrence order by a dict; NaNs are each distinct (a NaN equals nothing)."""
    pos: dict[Any, int] = {}
    y: list[Any] = []
    idx: list[int] = []
    counts: list[int] = []
    for e in v:
        key: Any = e
        if isinstance(e, float) and e != e:
            key = object()
        elif e == 0:
            key = 0  # -0.0 == 0.0
        if key not in pos:
            pos[key] = len(y)
            y.append(e)
            counts.append(0)
        idx.append(pos[key])
        counts[pos[key]] += 1
    return y, idx, counts


@pytest.mark.parametrize("backend", BACKENDS)
def test_unique_and_counts(backend: str) -> None:
    xi = tf.placeholder(tf.int32, [None])
    xf = tf.placeholder(tf.float64, [None])
    ui = tf.unique(xi)
    uf = tf.unique_with_counts(xf, out_idx=tf.int64)
    assert ui.y.shape.as_list() == [None] and ui.idx.dtype == tf.int32 and uf.count.dtype == tf.int64
    rng = np.random.default_rng(5)
    int_cases = [[1, 1, 2, 4, 4, 4, 7, 8, 8], [], [3], rng.integers(-5, 5, size=40).tolist()]
    float_cases = [
        [0.5, -0.0, 0.0, np.nan, 0.5, np.nan, 2.0],
        [],
        rng.integers(0, 3, size=11).astype(float).tolist(),
    ]
    with tf.Session(backend=backend) as sess:
        for v in int_cases:
            y, idx = sess.run([ui.y, ui.idx], {xi: np.array(v, np.int32)})
            wy, widx, _ = _unique_reference(v)
            assert y.tolist() == wy and idx.tolist() == widx and y.dtype == np.int32
        for v in float_cases:
            y, idx, count = sess.run(list(uf), {xf: np.array(v)})
            wy, widx, wc = _unique_reference(v)
            np.testing.assert_array_equal(y, np.array(wy, np.float64))
            assert idx.tolist() == widx and count.tolist() == wc
            np.testing.assert_array_equal(y[idx] if len(v) else y, np.array(v) if len(v) else y)
        # Used downstream: the number of distinct values of each batch, one compile.
        n_distinct = tf.size(tf.unique(xi).y)
        for v in int_cases:
            assert sess.run(n_distinct, {xi: np.array(v, np.int32)}) == len(set(v))


def test_unique_rules() -> None:
    with pytest.raises(ValueError, match="vector"):
        tf.unique(tf.ones([2, 2]))
    with pytest.raises(TypeError, match="out_idx"):
        tf.unique(tf.ones([2]), out_idx=tf.float32)
    x = tf.placeholder(tf.float32, [None])
    assert tf.gradients(tf.reduce_sum(tf.unique(x).y), [x]) == [None]  # not differentiable, as in TF1


# =============================================================================================
# tf.dynamic_partition, tf.dynamic_stitch
@pytest.mark.parametrize("backend", BACKENDS)
def test_dynamic_partition_and_stitch_values(backend: str) -> None:
    data = tf.placeholder(tf.float32, [None, 2])
    parts = tf.placeholder(tf.int32, [None])
    outs = tf.dynamic_partition(data, parts, 3)
    assert [o.shape.as_list() for o in outs] == [[None, 2]] * 3
    positions = tf.dynamic_partition(tf.range(tf.shape(parts)[0]), parts, 3)
    back = tf.dynamic_stitch(positions, outs)  # the inverse: data again
    rng = np.random.default_rng(6)
    with tf.Session(backend=backend) as sess:
        for n in (6, 1, 0, 13):
            d = rng.normal(size=(n, 2)).astype(np.float32)
            p = rng.integers(0, 3, size=n).astype(np.int32)
            got = sess.run([*outs, back], {data: d, parts: p})
            for i in range(3):
                np.testing.assert_array_equal(got[i], d[p == i].reshape(-1, 2))
            np.testing.assert_array_equal(got[3], d.reshape(-1, 2))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)not in \[0, 3\).*DynamicPartition"):
            sess.run(outs[0], {data: np.ones((2, 2), np.float32), parts: [0, 3]})

        i0, i1 = tf.placeholder(tf.int32, None), tf.placeholder(tf.int32, None)
        d0, d1 = tf.placeholder(tf.float32, None), tf.placeholder(tf.float32, None)
        st = tf.dynamic_stitch([i0, i1], [d0, d1])
        cases = [
            ([0, 2], [1, 3, 4], [10, 20], [30, 40, 50]),
            ([[4, 0]], [1, 1], [[7, 8]], [5, 6]),  # index 1 twice (the later wins), index 2 unnamed
            ([], [], np.zeros(0), np.zeros(0)),
        ]
        for a, b, x, y in cases:
            got = sess.run(st, {i0: np.array(a, np.int32), i1: np.array(b, np.int32), d0: x, d1: y})
            flat_i = list(np.array(a).reshape(-1)) + list(np.array(b).reshape(-1))
            flat_d = list(np.array(x, float).reshape(-1)) + list(np.array(y, float).reshape(-1))
            want = np.zeros(max(flat_i, default=-1) + 1, np.float32)
            for i, v in zip(flat_i, flat_d, strict=True):
                want[i] = v
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_partition_and_stitch_gradients(backend: str) -> None:
    x0 = np.random.default_rng(7).normal(size=(5, 2))
    p0 = np.array([1, 0, 1, 1, 2], np.int32)

    def ref_part(v: np.ndarray) -> np.ndarray:
        return np.concatenate([3.0 * v[p0 == 0], v[p0 == 1] ** 2])  # partition 2 unused

    def part(x: Any) -> Any:
        a, b, _ = tf.dynamic_partition(x, tf.constant(p0), 3)
        return tf.concat([3.0 * a, b * b], 0)

    _check_gradient(part, ref_part, x0, backend)
    idx_a, idx_b = np.array([0, 3, 1], np.int32), np.array([1, 2], np.int32)  # row 1 twice: b wins

    def ref_stitch(v: np.ndarray) -> np.ndarray:
        out = np.zeros((4, 2))
        out[idx_a] = v[:3] ** 2
        out[idx_b] = np.sin(v[3:])
        return out

    def stitch(x: Any) -> Any:
        return tf.dynamic_stitch([tf.constant(idx_a), tf.constant(idx_b)], [tf.square(x[:3]), tf.sin(x[3:])])

    _check_gradient(stitch, ref_stitch, x0, backend)


# =============================================================================================
# tf.nn.top_k with a fed k
@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_with_a_fed_k(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 6])
    k = tf.placeholder(tf.int32, [])
    values, indices = tf.nn.top_k(x, k)
    assert values.shape.as_list() == [None, None] and indices.dtype == tf.int32
    static_v, _ = tf.nn.top_k(x, tf.constant(2))  # a constant k stays TopKV2
    assert static_v.op.type == "TopKV2" and values.op.type == "TopKDynamic"
    rng = np.random.default_rng(8)
    with tf.Session(backend=backend) as sess:
        for n, kv in [(3, 2), (1, 6), (4, 0), (2, 1)]:
            v = rng.permutation(n * 6).reshape(n, 6).astype(np.float32)  # no ties
            got_v, got_i = sess.run([values, indices], {x: v, k: kv})
            want_i = np.argsort(-v, axis=1)[:, :kv]
            np.testing.assert_array_equal(got_i, want_i)
            np.testing.assert_array_equal(got_v, np.take_along_axis(v, want_i, axis=1))
        assert sess.stats["compiles"] == 1
        with pytest.raises(tf.errors.InvalidArgumentError, match="at least k"):
            sess.run(values, {x: np.ones((2, 6), np.float32), k: 7})
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(values, {x: np.ones((2, 6), np.float32), k: -1})
        # k computed from the data: defined when the op runs.
        k_data = tf.cast(tf.reduce_sum(tf.cast(x[0] > 0, tf.int32)), tf.int32)
        vd, _ = tf.nn.top_k(x, k_data)
        v = np.array([[1, -2, 3, -4, 5, 6], [0, 1, 2, 3, 4, 5]], np.float32)
        np.testing.assert_array_equal(sess.run(vd, {x: v}), [[6, 5, 3, 1], [5, 4, 3, 2]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_with_a_fed_k_gradient(backend: str) -> None:
    x0 = np.random.default_rng(9).permutation(12).reshape(3, 4) / 3.0
    k = tf.placeholder(tf.int32, [])
    x = tf.placeholder(tf.float64, [None, 4])
    values, _ = tf.nn.top_k(x, k)
    w = tf.placeholder(tf.float64, [None, None])
    (g,) = tf.gradients(tf.reduce_sum(values * w), [x])
    for kv in (2, 0):
        w0 = np.random.default_rng(kv).normal(size=(3, kv))

        def ref(v: np.ndarray, kv: int = kv, w0: np.ndarray = w0) -> float:
            return float(np.sum(-np.sort(-v, axis=1)[:, :kv] * w0))

        with tf.Session(backend=backend) as sess:
            got = sess.run(g, {x: x0, k: kv, w: w0})
        np.testing.assert_allclose(got, _central_difference(ref, x0), rtol=1e-6, atol=1e-7)


# =============================================================================================
# tf.slice and x[a:b] with tensor bounds
@pytest.mark.parametrize("backend", BACKENDS)
def test_slice_with_tensor_bounds(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 5])
    b = tf.placeholder(tf.int32, [2])
    s = tf.placeholder(tf.int32, [2])
    out = tf.slice(x, b, s)
    n = tf.placeholder(tf.int32, [])
    mixed = tf.slice(x, [n, 1], [-1, 2])  # a list holding a tensor
    assert out.op.type == "SliceDynamic" and mixed.shape.as_list()[1] == 2
    assert tf.slice(x, [0, 1], [1, 2]).op.type == "Slice"  # static bounds: the static op
    v = np.arange(20, dtype=np.float32).reshape(4, 5)
    with tf.Session(backend=backend) as sess:
        for bv, sv in [([1, 2], [2, -1]), ([0, 0], [4, 5]), ([4, 5], [0, 0]), ([3, 0], [-1, 3])]:
            want = v[
                bv[0] : (None if sv[0] == -1 else bv[0] + sv[0]),
                bv[1] : (None if sv[1] == -1 else bv[1] + sv[1]),
            ]
            np.testing.assert_array_equal(sess.run(out, {x: v, b: bv, s: sv}), want)
        np.testing.assert_array_equal(sess.run(mixed, {x: v, n: 2}), v[2:, 1:3])
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)size\[0\].*SliceDynamic"):
            sess.run(out, {x: v, b: [2, 0], s: [3, 1]})


@pytest.mark.parametrize("backend", BACKENDS)
def test_getitem_with_tensor_bounds(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    n = tf.placeholder(tf.int32, [])
    m = tf.placeholder(tf.int64, [])
    heads = x[:n]
    window = x[n:m, 1]
    tail = x[..., n:]
    nested = x[tf.newaxis, 1:, :n]
    rng = np.random.default_rng(10)
    with tf.Session(backend=backend) as sess:
        for rows, nv, mv in [(5, 2, 4), (3, 7, 9), (4, -1, 10), (0, 1, 2), (6, -10, -2), (2, 0, 0)]:
            v = rng.normal(size=(rows, 4)).astype(np.float32)
            got = sess.run([heads, window, tail, nested], {x: v, n: nv, m: mv})
            np.testing.assert_array_equal(got[0], v[:nv])
            np.testing.assert_array_equal(got[1], v[nv:mv, 1])
            np.testing.assert_array_equal(got[2], v[..., nv:])
            np.testing.assert_array_equal(got[3], v[np.newaxis, 1:, :nv])
        assert sess.stats["compiles"] == 1
        total = tf.reduce_sum(x[:n])  # downstream of a data-sized slice
        v = np.ones((5, 4), np.float32)
        assert sess.run(total, {x: v, n: 3}) == 12.0
    with pytest.raises(TypeError, match="step 1"):
        x[:n:2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_slice_gradients(backend: str) -> None:
    x0 = np.random.default_rng(11).normal(size=(5, 3))
    b = tf.constant(1) + tf.cast(tf.reduce_sum(tf.ones([1])), tf.int32)  # 2, known only at run time
    _check_gradient(lambda x: tf.square(x[b:, 1:]), lambda v: v[2:, 1:] ** 2, x0, backend)
    _check_gradient(
        lambda x: tf.sin(tf.slice(x, tf.stack([b - 1, 0]), [2, -1])), lambda v: np.sin(v[1:3, :]), x0, backend
    )
