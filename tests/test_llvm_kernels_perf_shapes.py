"""The LLVM backend's vector reduction paths (graphc_llvm.lowerings.LaneFold and the row
reductions that use it: emit_fused's innermost-axis reductions, the softmax family and the
cross-entropies) on the shapes around their block sizes (0, 1, 31, 32, 33, 255, 256, 257
and long rows), against NumPy formulas written here.

The fold's order is documented (element j into lane j mod 32, float32 sums in float64,
then a pairwise tree of the lanes): the float32 row sum is checked bit for bit against
that order computed here in NumPy, so an order change cannot pass unnoticed; every other
result is checked against a float64 reference within a tolerance, and edge values (NaN,
infinities, signed zeros) by the IEEE rules NumPy follows. Results do not depend on the
thread count (``GRAPHC_NUM_THREADS``)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends

pytestmark = pytest.mark.skipif("llvm" not in available_backends(), reason="the LLVM backend cannot run here")

LANES = 32  # graphc_llvm.lowerings.FOLD_LANES: part of the documented order
LENGTHS = (0, 1, 5, 31, 32, 33, 255, 256, 257, 1000, 4099)
RNG = np.random.default_rng(20240611)


def _run(build: Callable[..., Any], *arrays: np.ndarray) -> Any:
    """``build(*placeholders)``'s fetches on the LLVM backend, fed ``arrays``."""
    with tf.Graph().as_default():
        phs = [tf.placeholder(tf.as_dtype(a.dtype), [None] * a.ndim) for a in arrays]
        fetches = build(*phs)
        with tf.Session(backend="llvm") as sess:
            return sess.run(fetches, dict(zip(phs, arrays)))


def _lane_order_sum(row: np.ndarray) -> np.float32:
    """The documented order of a float32 row sum: lanes of float64 partial sums (element j
    into lane j mod 32, in increasing j), then lane i + h added to lane i for h = 16, ..., 1,
    rounded to float32 once."""
    padded = np.zeros(-(-row.size // LANES) * LANES, dtype=np.float64)
    padded[: row.size] = row
    lanes = np.zeros(LANES, dtype=np.float64)
    for block in padded.reshape(-1, LANES):
        lanes = lanes + block  # one rounding per lane per element: the sequential order
    while lanes.size > 1:
        half = lanes.size // 2
        lanes = lanes[:half] + lanes[half:]
    return np.float32(lanes[0])


def _order_sensitive(rows: int, n: int) -> np.ndarray:
    """Rows whose float64 sum depends on the order of the additions: ones, with 2**60 and
    -2**60 placed 16 apart and another such pair 32 apart (the ones a big term's lane takes
    in before it cancels are lost, so 16, 32 or 64 lanes, or a sequential or pairwise sum,
    each give other sums), plus small random terms."""
    x = 1.0 + RNG.standard_normal((rows, n)) * 1e-3
    for r in range(rows):
        for gap in (16, 32):
            if n > gap:
                at = int(RNG.integers(0, n - gap))
                x[r, at], x[r, at + gap] = 2.0**60, -(2.0**60)
    return x.astype(np.float32)


@pytest.mark.parametrize("n", LENGTHS)
def test_row_sum_float32_is_the_documented_order(n: int) -> None:
    x = _order_sensitive(6, n)
    got = _run(lambda p: tf.reduce_sum(p, axis=1), x)
    want = np.array([_lane_order_sum(r) for r in x], dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    # and at least as accurate as NumPy's own float32 pairwise sum
    # and at least as accurate as NumPy's own float32 pairwise sum (relative to sum |x|)
    y = (RNG.standard_normal((3, n)) * 10.0 ** RNG.integers(-3, 4, (3, n))).astype(np.float32)
    got = _run(lambda p: tf.reduce_sum(p, axis=1), y)
    exact = np.array([float(sum(map(Fraction, r.tolist()))) for r in y])
    scale = np.abs(y.astype(np.float64)).sum(axis=1) + 1e-30
    assert np.all(np.abs(got - exact) / scale <= np.abs(y.sum(axis=1) - exact) / scale + 2.0**-24)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_row_reductions(n: int, dtype: type) -> None:
    if np.dtype(dtype).kind == "f":
        x = RNG.standard_normal((4, n)).astype(dtype)
    else:
        x = RNG.integers(-1000, 1000, (4, n)).astype(dtype)
    ops = [tf.reduce_sum, tf.reduce_max, tf.reduce_min]
    if n > 0:
        ops.append(tf.reduce_mean)
    got = _run(lambda p: [op(p, axis=-1) for op in ops], x)
    refs: list[np.ndarray] = [x.astype(np.float64).sum(-1)]
    empty_max = -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min
    empty_min = np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max
    refs.append(x.max(-1) if n else np.full(4, empty_max))
    refs.append(x.min(-1) if n else np.full(4, empty_min))
    if n > 0:
        refs.append(x.mean(-1) if np.dtype(dtype).kind == "f" else np.trunc(x.astype(np.float64).sum(-1) / n))
    for g, r, op in zip(got, refs, ops):
        assert g.dtype == np.dtype(dtype), op.__name__
        if np.dtype(dtype).kind == "f":
            np.testing.assert_allclose(
                g, r, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5, err_msg=op.__name__
            )
        else:
            np.testing.assert_array_equal(g, r.astype(dtype), err_msg=op.__name__)


@pytest.mark.parametrize("n", (0, 1, 33, 257, 1000))
def test_float16_rows(n: int) -> None:
    """float16 rows (sums accumulate in float16, graphc's accumulator for them, one element
    at a time; maxima are exact) and float16 softmax rows (sums in float32) against float64
    formulas."""
    x = RNG.standard_normal((3, n)).astype(np.float16)
    s, m = _run(lambda p: [tf.reduce_sum(p, 1), tf.reduce_max(p, 1)], x)
    x64 = x.astype(np.float64)
    bound = 2.0**-9 * np.abs(x64).sum(1) + 2.0**-10  # a few float16 roundings of the partial sums
    assert np.all(np.abs(s.astype(np.float64) - x64.sum(1)) <= bound)
    np.testing.assert_array_equal(m, x.max(1) if n else np.full(3, -np.inf, np.float16))
    if n:
        sm = _run(lambda p: tf.nn.softmax(p), x)
        np.testing.assert_allclose(sm.astype(np.float64), _softmax64(x), rtol=2e-3, atol=2e-4)


def test_row_product_and_expression_terms() -> None:
    """A fused term (x * y + 1) reduced over rows, and products (order-fixed, within rounding)."""
    x = RNG.uniform(0.9, 1.1, (5, 257)).astype(np.float32)
    y = RNG.standard_normal((5, 257)).astype(np.float32)
    s, p = _run(lambda a, b: [tf.reduce_sum(a * b + 1.0, axis=1), tf.reduce_prod(a, axis=1)], x, y)
    np.testing.assert_allclose(s, (x.astype(np.float64) * y + 1.0).sum(1), rtol=1e-5)
    np.testing.assert_allclose(p, np.prod(x.astype(np.float64), axis=1), rtol=1e-5)


def test_row_reduction_edge_values() -> None:
    """NaN and infinities wherever they sit in a row (in any of the vector accumulators of a
    max/min, in a whole block or the tail), rows of negative zeros, and zeros of both signs
    (max gives +0, min -0 whatever their order) give NumPy's results."""
    n = 300
    rows = []
    for at in (0, 31, 32, 40, 64, 99, 130, 200, 257, 299):
        for v in (np.nan, np.inf, -np.inf):
            r = np.ones(n, dtype=np.float32)
            r[at] = v
            rows.append(r)
    both = np.ones(n, dtype=np.float32)
    both[3], both[170] = np.inf, -np.inf
    rows.append(both)
    rows.append(np.full(n, -0.0, dtype=np.float32))
    for first in (-0.0, 0.0):
        zeros = np.full(n, first, dtype=np.float32)
        zeros[RNG.integers(0, n, 7)] = -first
        rows.append(zeros)
    x = np.stack(rows)
    s, mx, mn = _run(lambda p: [tf.reduce_sum(p, 1), tf.reduce_max(p, 1), tf.reduce_min(p, 1)], x)
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as intended here
        want_sum = x.sum(1)
    np.testing.assert_array_equal(s, want_sum)
    assert np.array_equal(np.signbit(s), np.signbit(want_sum))
    # graphc's max/min are IEEE 754-2019 maximum/minimum (its scalar edge table): a NaN
    # propagates and -0 < +0 (NumPy's max keeps whichever zero comes first). The reference
    # here orders -0 just below +0 and picks the extreme element.
    nan = np.isnan(x).any(1)
    key = np.where(np.signbit(x), -1.0, 1.0) * np.where(x == 0, 1e-300, 1.0)  # -0 just below +0
    ordered = np.where(x == 0, key, x.astype(np.float64))
    want_max = np.where(
        nan, np.nan, x[np.arange(len(x)), np.argmax(np.where(np.isnan(x), -np.inf, ordered), 1)]
    )
    want_min = np.where(
        nan, np.nan, x[np.arange(len(x)), np.argmin(np.where(np.isnan(x), np.inf, ordered), 1)]
    )
    for got, want in ((mx, want_max), (mn, want_min)):
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got[~nan]), np.signbit(want[~nan]))


def _softmax64(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("c", (1, 10, 33, 1000))
def test_softmax_family_rows(c: int) -> None:
    z = (RNG.standard_normal((7, c)) * 3).astype(np.float32)
    sm, lsm, lse = _run(lambda p: [tf.nn.softmax(p), tf.nn.log_softmax(p), tf.reduce_logsumexp(p, axis=1)], z)
    z64 = z.astype(np.float64)
    ref_lse = np.log(np.exp(z64 - z64.max(1, keepdims=True)).sum(1)) + z64.max(1)
    np.testing.assert_allclose(sm, _softmax64(z), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(lsm, z64 - ref_lse[:, None], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(lse, ref_lse, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("c", (1, 10, 33, 1000))
def test_cross_entropy_with_and_without_backprop(c: int) -> None:
    """The loss alone (the op's backprop read by nothing, so not computed) is the loss computed
    with the gradient, bit for bit, and both match the float64 formula; the gradient too."""
    z = (RNG.standard_normal((9, c)) * 2).astype(np.float32)
    lab = _softmax64(RNG.standard_normal((9, c))).astype(np.float32)
    y = RNG.integers(0, c, 9).astype(np.int32)

    def dense(zp: Any, lp: Any) -> Any:
        return tf.nn.softmax_cross_entropy_with_logits_v2(labels=lp, logits=zp)

    def sparse(zp: Any, yp: Any) -> Any:
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yp, logits=zp)

    logp = np.log(_softmax64(z))
    for build, other, ref, ref_grad in (
        (dense, lab, -(lab * logp).sum(1), _softmax64(z) - lab),
        (sparse, y, -logp[np.arange(9), y], _softmax64(z) - np.eye(c)[y]),
    ):
        alone = _run(build, z, other)
        both = _run(lambda zp, op, b=build: [b(zp, op), tf.gradients(b(zp, op), [zp])[0]], z, other)
        np.testing.assert_array_equal(alone, both[0])
        np.testing.assert_allclose(alone, ref, rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(both[1], ref_grad, rtol=2e-5, atol=2e-6)


def test_results_do_not_depend_on_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows split over threads (several per thread) give the same bits as one thread."""
    x = RNG.standard_normal((64, 4099)).astype(np.float32)
    z = RNG.standard_normal((512, 1000)).astype(np.float32)
    lab = np.eye(1000, dtype=np.float32)[RNG.integers(0, 1000, 512)]

    ids = np.argmax(lab, 1).astype(np.int32)

    def build(p: Any, zp: Any, lp: Any, ip: Any) -> Any:
        dense = tf.nn.softmax_cross_entropy_with_logits_v2(labels=lp, logits=zp)
        sparse = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ip, logits=zp)
        return [
            tf.reduce_sum(p, 1),
            tf.reduce_max(p, 1),
            dense,
            tf.nn.softmax(zp),
            sparse,
            tf.gradients(tf.reduce_sum(dense), zp)[0],
            tf.gradients(tf.reduce_sum(sparse), zp)[0],
            tf.nn.log_softmax(zp),
            tf.reduce_logsumexp(zp, axis=1),
        ]

    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        results.append(_run(build, x, z, lab, ids))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    # And they are right: the rows' softmax, cross entropies and their gradients.
    m = z.max(1, keepdims=True).astype(np.float64)
    logp = z - m - np.log(np.exp(z - m).sum(1, keepdims=True))
    want = [
        -logp[np.arange(512), ids],
        np.exp(logp),
        np.exp(logp) - lab,
        logp,
        (np.log(np.exp(z - m).sum(1, keepdims=True)) + m)[:, 0],
    ]
    got = results[1]
    for g, w in zip([got[4], got[3], got[6], got[7], got[8]], want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(got[2], got[4], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(got[5], got[6], rtol=2e-5, atol=2e-6)


def test_a_label_out_of_range_fails_the_split_cross_entropy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every label is checked before the rows are split over threads: one out of range far
    into the batch fails the run with TF1's message, whatever the thread count."""
    z = RNG.standard_normal((512, 1000)).astype(np.float32)
    ids = RNG.integers(0, 1000, 512).astype(np.int32)
    ids[400] = 1000
    for threads in ("1", "3"):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        tf.reset_default_graph()
        zp = tf.placeholder(tf.float32, [None, 1000])
        ip = tf.placeholder(tf.int32, [None])
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ip, logits=zp)
        with tf.Session(backend="llvm") as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match="label value of 1000"):
                sess.run(loss, {zp: z, ip: ids})


@pytest.mark.parametrize(
    ("shape", "perm"),
    [
        ((33, 17), None),
        ((16, 16), None),
        ((64, 48), (1, 0)),
        ((0, 20), None),
        ((3, 40, 50), (0, 2, 1)),
        ((5, 6, 7, 8), (3, 1, 0, 2)),
        ((20, 3, 40), (2, 1, 0)),
        ((40, 3, 20), (1, 2, 0)),
        ((2, 17, 3, 33), (0, 3, 2, 1)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.int8, np.bool_, np.float16])
def test_transposes(shape: tuple[int, ...], perm: tuple[int, ...] | None, dtype: type) -> None:
    """Transposes bit for bit (whole register-transposed tiles of 8 or 16 and the edges past
    them; dtypes without tiles), against np.transpose; NaN payloads and signed zeros kept."""
    x = (RNG.standard_normal(shape) * 100).astype(dtype)
    if np.dtype(dtype).kind == "f" and x.size:
        x.flat[:: max(1, x.size // 7)] = np.array([np.nan, -0.0, np.inf], dtype=dtype)[0]
        x.flat[1 :: max(1, x.size // 5)] = -0.0
    got = _run(lambda p: tf.transpose(p, perm), x)
    want = np.transpose(x, perm)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()


def test_split_rows_on_odd_sizes_fed_to_one_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """One program, fed row counts and widths of several sizes (none, one, primes, wider
    than two threads' work): the rows split over 3 threads give NumPy's softmax and sparse
    cross entropy and its gradient."""
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "3")
    zp = tf.placeholder(tf.float32, [None, None])
    ip = tf.placeholder(tf.int32, [None])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ip, logits=zp)
    fetches = [tf.nn.softmax(zp), loss, tf.gradients(tf.reduce_sum(loss), zp)[0]]
    with tf.Session(backend="llvm") as sess:
        for n, c in ((131, 1031), (1, 140001), (0, 1000), (257, 509), (3, 7)):
            z = RNG.standard_normal((n, c)).astype(np.float32)
            ids = RNG.integers(0, c, n).astype(np.int32)
            soft, got_loss, grad = sess.run(fetches, {zp: z, ip: ids})
            m = z.max(1, keepdims=True).astype(np.float64)
            logp = z - m - np.log(np.exp(z - m).sum(1, keepdims=True))
            onehot = np.zeros((n, c))
            onehot[np.arange(n), ids] = 1.0
            np.testing.assert_allclose(soft, np.exp(logp), rtol=2e-5, atol=1e-7)
            np.testing.assert_allclose(got_loss, -logp[np.arange(n), ids], rtol=2e-5, atol=2e-5)
            np.testing.assert_allclose(grad, np.exp(logp) - onehot, rtol=2e-5, atol=1e-6)
