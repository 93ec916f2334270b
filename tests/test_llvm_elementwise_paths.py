"""The LLVM backend's elementwise loops around their vector blocks: a body that calls a
transcendental is interleaved (4 vector iterations of 8 float32 / 4 float64 lanes on
AVX2, then LLVM's remainder loops), and exp of an argument known to be <= 0 (-|y|, -(y y),
-exp(y): every Sigmoid) is rendered with mathlib's exp_nonpos. Checked against NumPy on
lengths around those blocks (0, 1, primes, non-multiples of the vector width), with
broadcast rows, columns and scalars, and with NaN, infinities and signed zeros."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends

pytestmark = pytest.mark.skipif("llvm" not in available_backends(), reason="the LLVM backend cannot run here")

LENGTHS = (0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 97, 1009, 4099)
RNG = np.random.default_rng(7)
ULPS = 8  # a few roundings of each term: the transcendentals' 1.5-2.5 ulps and the arithmetic


def _session(
    build: Callable[..., Any], dtypes: list[type], shapes: list[list[int | None]]
) -> tuple[Any, Any, list[Any]]:
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(np.dtype(d)), shape) for d, shape in zip(dtypes, shapes)]
        out = build(*phs)
    return tf.Session(graph=g, backend="llvm"), out, phs


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) in long double, from e^-|x| (no overflow), rounded to float64."""
    e = np.exp(-np.abs(x.astype(np.longdouble)))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float64)


def _values(n: int, dtype: type) -> np.ndarray:
    """Normal values of several scales, with the specials spread in when there is room."""
    x = RNG.standard_normal(n) * 10.0 ** RNG.integers(-2, 2, n)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 200.0, -200.0, 1e-40]
    if n >= 3 * len(specials):
        x[RNG.choice(n, len(specials), replace=False)] = specials
    return x.astype(dtype)


def _close(got: np.ndarray, want: np.ndarray, dtype: type, scale: np.ndarray | None = None) -> None:
    """``got`` within ULPS of ``scale`` (the terms' magnitudes; default |want|) of the float64
    ``want``, or of the smallest denormal where that rounds to 0; NaN where ``want`` is."""
    fi = np.finfo(dtype)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    scale = np.abs(want) if scale is None else scale
    bound = ULPS * fi.eps * scale[ok] + 2 * fi.smallest_subnormal.astype(np.float64)
    err = np.abs(got[ok].astype(np.float64) - want[ok])
    assert np.all((err <= bound) | (got[ok] == want[ok])), (got[ok][err > bound], want[ok][err > bound])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transcendental_chain_every_length(dtype: type) -> None:
    """The benchmark's form of chain, tanh(x a + b) sigmoid(x) + x^2 / 2, at every length."""
    sess, out, phs = _session(
        lambda x: [tf.tanh(x * 0.7 - 0.3) * tf.sigmoid(x) + 0.5 * x * x, tf.exp(-x * x)], [dtype], [[None]]
    )
    with sess:
        for n in LENGTHS:
            x = _values(n, dtype)
            chain, gauss = sess.run(out, {phs[0]: x})
            x64 = x.astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):
                # The arguments as the program rounds them (in dtype), the rest in float64.
                ts = np.tanh((x * dtype(0.7) - dtype(0.3)).astype(np.float64)) * _sigmoid64(x64)
                want = ts + 0.5 * x64 * x64
                want_g = np.exp(-(x * x).astype(np.float64))
            fin = np.isfinite(x)
            _close(chain[fin], want[fin], dtype, (np.abs(ts) + 0.5 * x64 * x64)[fin])
            _close(gauss, want_g, dtype)
            # inf: tanh(inf) sigmoid(inf) + inf = inf; -inf: -1 * 0 + inf = inf
            assert np.all(chain[np.isinf(x)] == np.inf) and np.all(np.isnan(chain[np.isnan(x)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_specials_and_denormal_results(dtype: type) -> None:
    """Sigmoid (exp_nonpos inside) gives NumPy's values: 0 and 1 where they round so,
    denormal results for large negative x, NaN for NaN, exactly 0.5 for +-0."""
    fi = np.finfo(dtype)
    lo = np.log(fi.smallest_subnormal.astype(np.float64))
    x = np.concatenate(
        [np.linspace(lo - 2, lo + 40, 301), [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4, 40.0]]
    ).astype(dtype)
    sess, out, (p,) = _session(lambda x: tf.sigmoid(x), [dtype], [[None]])
    with sess:
        got = sess.run(out, {p: x})
    want = _sigmoid64(x)
    tiny = want < fi.tiny
    assert tiny.sum() > 10 and np.any(got[tiny] > 0)  # the denormal range is exercised
    # Denormal results: within a few ulps of the smallest denormal's spacing.
    assert np.all(np.abs(got[tiny] - want[tiny]) <= 3 * fi.smallest_subnormal)
    _close(got[~tiny], want[~tiny], dtype)
    assert got[-5] == 0.5 and got[-4] == 0.5 and got[-3] == 1 and got[-2] == 0
    assert np.isnan(got[-8]) and got[-7] == 1 and got[-6] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_broadcast_rows_columns_and_scalars(dtype: type) -> None:
    """A 2-D nest (the innermost loop interleaved) whose operands are a matrix, a row, a
    column and a fed scalar: every combination of strides 0 and 1 in the inner loop."""
    sess, out, (m, row, col, s) = _session(
        lambda m, r, c, s: tf.tanh(m * r + c) + tf.exp(-tf.abs(m - s)) * tf.log1p(tf.abs(r)),
        [dtype] * 4,
        [[None, None], [None], [None, 1], []],
    )
    with sess:
        for rows, cols in [(0, 5), (3, 0), (1, 1), (2, 7), (5, 33), (4, 97), (3, 257)]:
            mv = (RNG.standard_normal((rows, cols)) * 3).astype(dtype)
            rv = RNG.standard_normal(cols).astype(dtype)
            cv = RNG.standard_normal((rows, 1)).astype(dtype)
            sv = np.asarray(RNG.standard_normal(), dtype=dtype)
            got = sess.run(out, {m: mv, row: rv, col: cv, s: sv})
            r64 = rv.astype(np.float64)
            t = np.tanh((mv * rv + cv).astype(np.float64))
            e = np.exp(-np.abs((mv - sv).astype(np.float64))) * np.log1p(np.abs(r64))
            _close(got, t + e, dtype, np.abs(t) + np.abs(e))


def test_interleaved_and_exp_nonpos_in_the_code() -> None:
    """What the paths above exercise is in the module: the interleave request on the
    transcendental loop only (not on the plain one), exp_nonpos for Sigmoid's exp(-|x|)."""
    from graphc.ir.lower import lower
    from graphc.passes import pipeline
    from graphc.runtime.backend import get_backend

    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None])
        y = tf.placeholder(tf.float32, [None])
        low = lower(g, [tf.sigmoid(x), y * 2.0 + 1.0], {x: (x.dtype, (None,)), y: (y.dtype, (None,))})
    text = get_backend("llvm").compile(pipeline.optimize(low.program)).llvm_ir
    assert "graphc.exp_nonpos.f32" in text and '"llvm.loop.interleave.count", i32 4' in text
    assert text.count("!llvm.loop") == 1
