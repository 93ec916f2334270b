"""The LLVM module's glue functions (graphc_sizes, the thread spawner and its start
routine) are left unoptimised (optnone); the kernels are not. Their results must not
change: sizes recomputed for new dims, a size that overflows 64 bits refused before any
kernel runs, threaded chunks equal to one thread's run, all against NumPy."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.runtime.backend import available_backends, get_backend

pytestmark = pytest.mark.skipif("llvm" not in available_backends(), reason="LLVM backend unavailable")


def _attributes(text: str, name: str) -> str:
    pattern = r'^define [^\n]*@"' + re.escape(name) + r'"\([^\n]*\)([^\n]*)$'
    m = re.search(pattern, text, re.M)
    assert m is not None, name
    return m.group(1)


def test_glue_is_optnone_and_kernels_are_not() -> None:
    from graphc.ir.lower import lower
    from graphc.passes import pipeline

    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 8])
        low = lower(g, [tf.exp(x) + 1.0, tf.reduce_sum(x * x, axis=1)], {x: (tf.float32, (None, 8))})
    text = get_backend("llvm").compile(pipeline.optimize(low.program)).llvm_ir
    for glue in ("graphc_sizes", "graphc.parallel", "graphc.worker"):
        assert "optnone" in _attributes(text, glue).split() and "noinline" in _attributes(text, glue).split()
    kernels = re.findall(r'^define [^\n]*@"(node\d+|graphc\.kernel\d+)"\(', text, re.M)
    assert kernels
    for k in kernels + ["graphc_run"]:
        assert "optnone" not in _attributes(text, k)


def test_unoptimised_sizes_follow_new_dims_and_refuse_overflow() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None])
        k = tf.placeholder(tf.int64, [])
        y = tf.tile(x * 2.0, tf.reshape(k, [1]))
        with tf.Session(backend="llvm") as sess:
            for n, reps in ((3, 2), (5, 4), (1, 7)):
                xv = np.arange(n, dtype=np.float32) - 1.5
                np.testing.assert_array_equal(sess.run(y, {x: xv, k: reps}), np.tile(xv * 2.0, reps))
            # 4 elements times 2**61 copies of 4 bytes: 2**65 bytes, past 64 bits.
            with pytest.raises(errors.ResourceExhaustedError):
                sess.run(y, {x: np.ones(4, np.float32), k: 1 << 61})
            xv = np.ones(2, np.float32)
            np.testing.assert_array_equal(sess.run(y, {x: xv, k: 3}), np.full(6, 2.0, np.float32))


def test_unoptimised_spawner_gives_one_threads_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    xv = np.random.default_rng(5).normal(size=(6, 1 << 15)).astype(np.float32)
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, None])
            outs = [tf.reduce_sum(x, axis=1), tf.sigmoid(x) * x]
            with tf.Session(backend="llvm") as sess:
                results.append(sess.run(outs, {x: xv}))
    np.testing.assert_allclose(results[0][0], xv.astype(np.float64).sum(1), rtol=1e-5)
    np.testing.assert_allclose(results[0][1], xv / (1 + np.exp(-xv)), rtol=1e-5, atol=1e-6)
    for a, b in zip(results[0], results[1]):
        np.testing.assert_array_equal(a, b)
