"""MatMul on the LLVM backend when the product has one row or one column (a gemv call):
every transpose combination, both float dtypes, broadcast batches and a fed batch size of
1 (the same compiled program also runs the gemm path), against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf


def run(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool, fed_shapes: bool = False) -> np.ndarray:
    with tf.Graph().as_default():
        dt = tf.as_dtype(a.dtype)
        pa = tf.placeholder(dt, [None] * a.ndim if fed_shapes else a.shape)
        pb = tf.placeholder(dt, [None] * b.ndim if fed_shapes else b.shape)
        with tf.Session(backend="llvm") as sess:
            return sess.run(tf.matmul(pa, pb, transpose_a=ta, transpose_b=tb), {pa: a, pb: b})


def operands(m: int, k: int, n: int, ta: bool, tb: bool, dtype: type, batch: tuple[int, ...] = ()) -> tuple:
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.normal(size=(*batch, k, m) if ta else (*batch, m, k)).astype(dtype)
    b = rng.normal(size=(*batch, n, k) if tb else (*batch, k, n)).astype(dtype)
    return a, b


def expected(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool) -> np.ndarray:
    a64 = np.swapaxes(a, -1, -2) if ta else a
    b64 = np.swapaxes(b, -1, -2) if tb else b
    return np.matmul(a64.astype(np.float64), b64.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 37, 5), (6, 37, 1), (1, 9, 1), (1, 1, 4)])
def test_one_row_or_one_column(m: int, k: int, n: int, ta: bool, tb: bool, dtype: type) -> None:
    a, b = operands(m, k, n, ta, tb, dtype)
    got = run(a, b, ta, tb)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.shape == (m, n) and got.dtype == dtype
    np.testing.assert_allclose(got, expected(a, b, ta, tb), rtol=tol, atol=tol * k)


def test_batched_vectors_and_one_program_for_every_batch_size() -> None:
    a, b = operands(1, 20, 7, False, True, np.float32, batch=(3,))
    np.testing.assert_allclose(run(a, b, False, True), expected(a, b, False, True), rtol=1e-5, atol=1e-4)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 20])
        w = np.random.default_rng(1).normal(size=(20, 6)).astype(np.float32)
        y = tf.matmul(x, tf.constant(w))
        with tf.Session(backend="llvm") as sess:
            for rows in (1, 4, 1):  # gemv, gemm, gemv again: one compiled program
                xv = np.random.default_rng(rows).normal(size=(rows, 20)).astype(np.float32)
                np.testing.assert_allclose(
                    sess.run(y, {x: xv}), xv.astype(np.float64) @ w, rtol=1e-5, atol=1e-4
                )
            assert sess.stats["compiles"] == 1
