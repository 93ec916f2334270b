"""Session.make_callable: TF1's semantics, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends


@pytest.mark.parametrize("backend", available_backends())
def test_callable_matches_run_and_compiles_once(backend: str) -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2))
        y = tf.matmul(x, w)
        s = tf.reduce_sum(y)
        with tf.Session(backend=backend) as sess:
            sess.run(tf.global_variables_initializer())
            f = sess.make_callable([y, s], [x])
            one = sess.make_callable(s, ["x:0"])
            for n in (1, 4, 7):
                xv = np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
                got_y, got_s = f(xv)
                want = xv @ np.arange(6, dtype=np.float32).reshape(3, 2)
                np.testing.assert_allclose(got_y, want, rtol=1e-5)
                np.testing.assert_allclose(got_s, want.sum(), rtol=1e-4)
                assert one(xv) == pytest.approx(float(want.sum()), rel=1e-4)
            assert sess.stats["compiles"] <= 3  # the initializer, and one program per fetch list


def test_callable_runs_ops_and_checks_arguments() -> None:
    g = tf.Graph()
    with g.as_default():
        v = tf.Variable(0.0)
        inc = tf.assign_add(v, 1.0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            step = sess.make_callable(inc.op)
            assert step() is None
            step()
            assert sess.run(v) == 2.0
            f = sess.make_callable(inc, [])
            with pytest.raises(TypeError):
                f(1.0)
            x = tf.placeholder(tf.int32, [2])
            h = sess.make_callable(x * 2, [x])
            with pytest.raises(ValueError, match="shape"):
                h(np.zeros(3, np.int32))
            with pytest.raises(TypeError):
                sess.make_callable(None)
