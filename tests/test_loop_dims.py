"""Dims of loop variables: what a program knows about sizes that unification wrote as
``L - 1`` (graphc.symbolic.Facts, used by the verifier), the gradient of a loop whose
variable grows in both dims (verified, then checked by central differences in float64 on
the NumPy and LLVM backends), and a dim the shape invariant fixes but only the body's data
tells, checked in each iteration with an error naming the loop variable and the loop."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc import symbolic as sym
from graphc.ops import control_flow_ops as cf
from tests.support import BACKENDS as _BACKENDS
from tests.support import central as _central
from tests.support import session as _session


# -- facts about dims -----------------------------------------------------------------------
def test_facts_give_lower_bounds_that_decide_max_and_min() -> None:
    L, D = sym.symbol("Ltest0"), sym.symbol("Dtest1")
    K = sym.symbol("Ktest2", signed=True)
    clamp = sym.maximum(L - 1, 0)
    assert clamp != L - 1  # nothing says L >= 1 by itself
    assert not sym.Facts().nonnegative(L - 1)
    f = sym.Facts([L - 1])
    assert f.bounds == {"Ltest0": 1}
    assert f.nonnegative(L - 1) and f.nonnegative(2 * L - 2) and f.nonnegative((L - 1) * D)
    assert not f.nonnegative(L - 2)
    assert f.simplify(clamp) == L - 1
    assert f.simplify(sym.maximum(L - 2, 0)) == sym.maximum(L - 2, 0)  # L = 1 makes it 0
    assert f.simplify(clamp * D + 3) == (L - 1) * D + 3  # inside a polynomial too
    # The strongest bound wins; min is decided as max is.
    f3 = sym.Facts([L - 1, L - 3])
    assert f3.bounds["Ltest0"] == 3 and f3.nonnegative(L - 2)
    assert f3.simplify(sym.minimum(3, L)) == 3
    assert f3.simplify(sym.minimum(4, L)) == sym.minimum(4, L)
    # A signed symbol (a fed count) is bounded only by a fact: 2K + 5 >= 0 gives K >= -2.
    assert not sym.Facts().nonnegative(K + 2)
    fk = sym.Facts([2 * K + 5])
    assert fk.bounds["Ktest2"] == -2 and fk.nonnegative(K + 2) and not fk.nonnegative(K + 1)
    # A non-linear fact is known as itself.
    fp = sym.Facts([(L - 1) * D])
    assert fp.simplify(sym.maximum((L - 1) * D, 0)) == (L - 1) * D and not fp.nonnegative(L - 1)
    # The facts agree with every value of the symbols they allow.
    for lv in range(3, 7):
        for dv in range(3):
            env = {"Ltest0": lv, "Dtest1": dv}
            for d in (clamp, sym.maximum(L - 2, 0), sym.minimum(3, L), clamp * D + 3):
                assert sym.evaluate(f3.simplify(d), env) == sym.evaluate(d, env)


# -- the gradient of a loop growing in both dims --------------------------------------------
def _growing(xv: float, iters: int = 3) -> np.ndarray:
    m = np.ones((1, 1)) * xv
    for _ in range(iters):
        k = m.shape[0]
        m = np.concatenate([m, np.sin(m[:, :1] * xv)], 1)
        m = np.concatenate([m, np.cos(xv * np.arange(k + 1.0)).reshape(1, -1)], 0)
    return m


@pytest.mark.parametrize("backend", _BACKENDS)
def test_gradient_of_a_loop_adding_a_column_and_a_row_sized_by_its_rows(backend: str) -> None:
    # The backward loop slices a saved value whose rows (data-defined) unify with the
    # gradient's L - 1 rows: the verifier must see that L - 1 is a size.
    x = tf.placeholder(tf.float64, [])

    def body(m: tf.Tensor) -> tf.Tensor:
        k = tf.shape(m)[0]
        m = tf.concat([m, tf.sin(m[:, :1] * x)], 1)
        row = tf.reshape(tf.cos(x * tf.cast(tf.range(k + 1), tf.float64)), [1, -1])
        return tf.concat([m, row], 0)

    m = cf.while_loop(
        lambda m: tf.reduce_sum(m) < 1e9,
        body,
        tf.ones([1, 1], tf.float64) * x,
        shape_invariants=tf.TensorShape([None, None]),
        maximum_iterations=3,
    )
    (g,) = tf.gradients(tf.reduce_sum(tf.sin(m)), x)
    with _session(backend) as sess:
        for xv in (0.3, -0.8):
            got_m, got_g = sess.run([m, g], {x: xv})
            np.testing.assert_allclose(got_m, _growing(xv), rtol=1e-12)
            want = _central(lambda v: float(np.sum(np.sin(_growing(v)))), xv)
            np.testing.assert_allclose(got_g, want, rtol=1e-6, atol=1e-8)


# -- a dim the invariant fixes, told only by the body's data ---------------------------------
@pytest.mark.parametrize("backend", _BACKENDS)
def test_a_fixed_dim_the_body_changes_at_run_time_is_refused_naming_the_loop(backend: str) -> None:
    x = tf.placeholder(tf.float64, [None, 3])
    k = tf.placeholder(tf.int32, [])

    def body(a: tf.Tensor) -> tf.Tensor:
        r = tf.sin(a)[:, :k]  # a run-time bound: the static shape is (?, ?)
        assert r.shape.as_list() == [None, None]
        return r

    m = cf.while_loop(lambda a: tf.reduce_sum(a) < 1e9, body, [x], maximum_iterations=2, name="keeps3")
    assert m.shape.as_list() == [None, 3]  # the default invariant: x's shape
    w = tf.constant([1.0, -2.0, 0.5], tf.float64)
    (g,) = tf.gradients(tf.reduce_sum(m * w), x)
    xv = np.array([[0.3, -0.4, 1.1], [0.2, 0.9, -1.3]])
    with _session(backend) as sess:
        got_m, got_g = sess.run([m, g], {x: xv, k: 3})
        np.testing.assert_allclose(got_m, np.sin(np.sin(xv)), rtol=1e-12)
        want_g = np.cos(np.sin(xv)) * np.cos(xv) * np.array([1.0, -2.0, 0.5])  # d/dx of sin(sin(x)) * w
        np.testing.assert_allclose(got_g, want_g, rtol=1e-12)
        for fetch in (m, g):
            with pytest.raises(errors.InvalidArgumentError) as info:
                sess.run(fetch, {x: xv, k: 2})
            text = str(info.value)
            assert "keeps3" in text and "loop variable" in text and x.name in text
            assert "test_loop_dims.py" in text
