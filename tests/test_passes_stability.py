"""Each stabilising rewrite: with the pass on, the value and its gradient are finite (and
right); with it off, the same graph gives inf or NaN. Also where the stabilised value has
other uses (its gradient is then a sum): right at extreme inputs, NaN/inf without the pass,
and equal to central differences at moderate inputs."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.ir.lower import lower
from graphc.ir.verify import verify
from graphc.passes.simplify import simplify
from graphc.passes.stabilize import stabilize

OFF = {"disable_passes": ["stabilize"]}


@dataclasses.dataclass
class Case:
    build: Callable[..., Any]  # placeholders -> the value
    inputs: list[np.ndarray]  # fed values; the gradient is taken with respect to the first
    value: Any  # what the stable value is
    grad: Any  # what the stable gradient of reduce_sum(value) is
    dtype: Any = tf.float64


def _lse_grad(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


BIG = np.array([[1000.0, 0.0], [0.0, 1.0]])
ONE_HOT = np.array([[0.0, 1.0], [1.0, 0.0]])
XENT = np.array([1000.0, 1.0 + np.log1p(np.exp(-1.0))])  # -log softmax of the labelled class
XENT_GRAD = _lse_grad(BIG) - ONE_HOT

CASES = {
    "log_softmax": Case(
        lambda x: tf.log(tf.nn.softmax(x)),
        [BIG],
        BIG
        - np.log(np.exp(BIG - BIG.max(1, keepdims=True)).sum(1, keepdims=True))
        - BIG.max(1, keepdims=True),
        np.ones_like(BIG) - 2 * _lse_grad(BIG),
    ),
    "cross_entropy": Case(
        lambda z, y: -tf.reduce_sum(y * tf.log(tf.nn.softmax(z)), axis=1),
        [BIG, ONE_HOT],
        XENT,
        XENT_GRAD,
    ),
    "cross_entropy_mean": Case(
        lambda z, y: tf.reduce_mean(-tf.reduce_sum(y * tf.log(tf.nn.softmax(z)), reduction_indices=[1])),
        [BIG, ONE_HOT],
        XENT.mean(),
        XENT_GRAD / 2,
    ),
    "cross_entropy_float32": Case(
        lambda z, y: -tf.reduce_sum(tf.log(tf.nn.softmax(z)) * y, axis=1),
        [BIG.astype(np.float32), ONE_HOT.astype(np.float32)],
        XENT,
        XENT_GRAD,
        tf.float32,
    ),
    "logsumexp": Case(
        lambda x: tf.log(tf.reduce_sum(tf.exp(x), axis=1)),
        [np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])],
        np.array([1000.0 + np.log(2.0), -1000.0 + np.log(2.0)]),
        np.full((2, 2), 0.5),
    ),
    "logsumexp_keepdims_all_axes": Case(
        lambda x: tf.log(tf.reduce_sum(tf.exp(x), keepdims=True)),
        [np.array([[1000.0, 1000.0], [1000.0, 1000.0]])],
        np.array([[1000.0 + np.log(4.0)]]),
        np.full((2, 2), 0.25),
    ),
    # log(1 + x) for a tiny x is 0 and log of it -inf; log1p keeps the 1e-30.
    "log1p": Case(
        lambda x: tf.log(tf.log(1.0 + x)),
        [np.array([1e-30, 1.0])],
        np.log(np.log1p([1e-30, 1.0])),
        1.0 / (np.log1p([1e-30, 1.0]) * (1.0 + np.array([1e-30, 1.0]))),
    ),
    "log1p_x_plus_ones_like": Case(
        lambda x: tf.log(tf.log(x + tf.ones_like(x))),
        [np.array([1e-30, 1.0])],
        np.log(np.log1p([1e-30, 1.0])),
        1.0 / (np.log1p([1e-30, 1.0]) * (1.0 + np.array([1e-30, 1.0]))),
    ),
    # exp(x) - 1 for a tiny x is 0; expm1 keeps it.
    "expm1": Case(
        lambda x: tf.log(tf.exp(x) - 1.0),
        [np.array([1e-20, 1.0])],
        np.log(np.expm1([1e-20, 1.0])),
        np.exp([1e-20, 1.0]) / np.expm1([1e-20, 1.0]),
    ),
    "log_sigmoid": Case(
        lambda x: tf.log(tf.sigmoid(x)),
        [np.array([-1000.0, 0.0, 1000.0])],
        np.array([-1000.0, -np.log(2.0), 0.0]),
        np.array([1.0, 0.5, 0.0]),
    ),
    "log_sigmoid_float32": Case(
        lambda x: tf.log(tf.sigmoid(x)),
        [np.array([-200.0, 0.0], np.float32)],
        np.array([-200.0, -np.log(2.0)]),
        np.array([1.0, 0.5]),
        tf.float32,
    ),
}


def _run(case: Case, config: Any) -> tuple[np.ndarray, np.ndarray]:
    tf.reset_default_graph()
    ph = [tf.placeholder(case.dtype, [None] * np.ndim(v)) for v in case.inputs]
    value = case.build(*ph)
    (grad,) = tf.gradients(tf.reduce_sum(value), ph[0])
    with tf.Session(config=config) as sess:
        got = sess.run([value, grad], dict(zip(ph, case.inputs, strict=True)))
    return np.asarray(got[0]), np.asarray(got[1])


def _check_stable(case: Case, value: np.ndarray, grad: np.ndarray) -> None:
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (value, grad)
    tol = 1e-5 if case.dtype == tf.float32 else 1e-9
    np.testing.assert_allclose(value, case.value, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, case.grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stabilised_graph_is_finite(name: str) -> None:
    case = CASES[name]
    _check_stable(case, *_run(case, None))


@pytest.mark.parametrize("name", sorted(CASES))
def test_unstabilised_graph_is_not_finite(name: str) -> None:
    value, grad = _run(CASES[name], OFF)
    assert not np.all(np.isfinite(value))
    assert not np.all(np.isfinite(grad))


def test_stabilize_runs_before_fold_so_constants_are_folded_stably() -> None:
    logits = tf.constant([1000.0, 0.0], dtype=tf.float64)
    with tf.Session() as sess:
        on = sess.run(tf.log(tf.nn.softmax(logits)))
    with tf.Session(config=OFF) as sess:
        off = sess.run(tf.log(tf.nn.softmax(logits)))
    np.testing.assert_allclose(on, [0.0, -1000.0])
    assert np.isneginf(off[1])


# == shared uses ===================================================================================
# The value being stabilised (a sigmoid, a softmax, a sum of exps) has other uses as well as
# the log, so its gradient is a sum of log's gradient and theirs (an AddN built by
# tf.gradients, or an Add in a custom gradient) before the sigmoid / softmax / exp gradient.
@tf.RegisterGradient("LogTimesReciprocal")
def _log_grad_times_reciprocal(op: Any, g: Any) -> Any:
    """Log's gradient written ``g * reciprocal(x)`` (as TF's own rule writes it)."""
    return [g * tf.reciprocal(op.inputs[0])]


def _log_via_reciprocal(x: Any) -> Any:
    with tf.get_default_graph().gradient_override_map({"Log": "LogTimesReciprocal"}):
        return tf.log(x)


# NumPy references, stable by construction.
def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _np_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_logsumexp(x: np.ndarray, axis: int | None, keepdims: bool = False) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax_vjp(p: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
    """The gradient with respect to the logits of sum(v * softmax(z)), for a fixed v."""
    return p * (v - (v * p).sum(axis=axis, keepdims=True))


SX = np.array([-1000.0, -2.0, 0.0, 1000.0])  # sigmoid(-1000) underflows to 0
S, SN, LS = _np_sigmoid(SX), _np_sigmoid(-SX), _np_log_sigmoid(SX)  # sigmoid(x), sigmoid(-x), log
P, LP = _np_softmax(BIG, 1), _np_log_softmax(BIG, 1)
P0, LP0 = _np_softmax(BIG, 0), _np_log_softmax(BIG, 0)
W = np.array([[1.0, 2.0], [3.0, 5.0]])
Z3 = np.array([[[1000.0, 0.0], [0.0, 1.0]], [[0.0, -1000.0], [2.0, 0.0]]])
C3 = np.arange(8.0).reshape(2, 2, 2)
P3 = _np_softmax(Z3, 1)
LX = np.array([[-1000.0, -1000.0], [0.0, 1.0]])  # the first row's exps underflow to 0
LE, LSM, LSE = np.exp(LX), _np_softmax(LX, 1), _np_logsumexp(LX, 1)
LX_ALL = np.full((2, 2), -1000.0)


def _sigmoid_custom_add(x: Any) -> Any:
    """log(s) + s for s = sigmoid(x), with its gradient given as Add(dy, dy * reciprocal(s))."""

    @tf.custom_gradient
    def f(s: Any) -> Any:
        return tf.log(s) + s, lambda dy: tf.add(dy, dy * tf.reciprocal(s))

    return f(tf.sigmoid(x))


def _softmax_custom_add(z: Any, y: Any) -> Any:
    """-sum(y * log(p), 1) + sum(p * W, 1) with its gradient given as Add(dy * W, -y * dy / p)."""

    @tf.custom_gradient
    def f(p: Any) -> Any:
        w = tf.constant(W, dtype=p.dtype)
        loss = -tf.reduce_sum(y * tf.log(p), axis=1) + tf.reduce_sum(p * w, axis=1)
        return loss, lambda dy: tf.add(tf.expand_dims(dy, 1) * w, -y * tf.expand_dims(dy, 1) / p)

    return f(tf.nn.softmax(z))


def _with(x: Any, fn: Callable[[Any], Any]) -> Any:
    return fn(x)


SHARED = {
    # -- log(sigmoid(x)) --------------------------------------------------------------------------
    "log_sigmoid_plus_sigmoid": Case(
        lambda x: _with(tf.sigmoid(x), lambda s: tf.log(s) + s),
        [SX],
        LS + S,
        SN + S * SN,
    ),
    "square_plus_log_sigmoid": Case(
        lambda x: _with(tf.sigmoid(x), lambda s: tf.square(s) + tf.log(s)),
        [SX],
        S**2 + LS,
        2 * S * S * SN + SN,
    ),
    "log_sigmoid_two_logs_scaled_and_reduced": Case(
        lambda x: _with(tf.sigmoid(x), lambda s: 3.0 * tf.log(tf.identity(s)) + tf.reduce_sum(s) + tf.log(s)),
        [SX],
        4 * LS + S.sum(),
        4 * SN + SX.size * S * SN,
    ),
    # the identity's two uses give a sum that is one term of the sigmoid's sum
    "log_sigmoid_nested_sum": Case(
        lambda x: _with(
            tf.sigmoid(x), lambda s: _with(tf.identity(s), lambda t: tf.log(t) + t) + tf.square(s)
        ),
        [SX],
        LS + S + S**2,
        SN + S * SN + 2 * S * S * SN,
    ),
    "log_sigmoid_reciprocal_grad": Case(
        lambda x: _with(tf.sigmoid(x), lambda s: 2.0 * s + _log_via_reciprocal(s)),
        [SX],
        2 * S + LS,
        2 * S * SN + SN,
    ),
    "log_sigmoid_custom_gradient_add": Case(_sigmoid_custom_add, [SX], LS + S, SN + S * SN),
    "log_sigmoid_plus_sigmoid_float32": Case(
        lambda x: _with(tf.sigmoid(x), lambda s: tf.log(s) + s),
        [np.array([-200.0, 0.0], np.float32)],
        _np_log_sigmoid(np.array([-200.0, 0.0])) + _np_sigmoid(np.array([-200.0, 0.0])),
        _np_sigmoid(np.array([200.0, 0.0])) * (1 + _np_sigmoid(np.array([-200.0, 0.0]))),
        tf.float32,
    ),
    # -- log(softmax(z)) and cross entropy ---------------------------------------------------------
    "log_softmax_plus_square": Case(
        lambda z: _with(tf.nn.softmax(z), lambda p: tf.log(p) + tf.square(p)),
        [BIG],
        LP + P**2,
        (1 - 2 * P) + _softmax_vjp(P, 2 * P, 1),
    ),
    "log_softmax_nested_sum": Case(
        lambda z: _with(
            tf.nn.softmax(z), lambda p: _with(tf.identity(p), lambda q: tf.log(q) + q * W) + tf.square(p)
        ),
        [BIG],
        LP + P * W + P**2,
        (1 - 2 * P) + _softmax_vjp(P, W, 1) + _softmax_vjp(P, 2 * P, 1),
    ),
    "cross_entropy_plus_sum_softmax": Case(
        lambda z, y: _with(tf.nn.softmax(z), lambda p: -tf.reduce_sum(y * tf.log(p)) + tf.reduce_sum(p)),
        [BIG, ONE_HOT],
        XENT.sum() + 2.0,
        P - ONE_HOT,
    ),
    "cross_entropy_plus_weighted_softmax": Case(
        lambda z, y: _with(
            tf.nn.softmax(z),
            lambda p: tf.reduce_sum(p * W, axis=1) - tf.reduce_sum(tf.log(p) * y, axis=1),
        ),
        [BIG, ONE_HOT],
        XENT + (P * W).sum(1),
        P - ONE_HOT + _softmax_vjp(P, W, 1),
    ),
    "cross_entropy_reciprocal_grad_plus_square": Case(
        lambda z, y: _with(
            tf.nn.softmax(z),
            lambda p: (
                -tf.reduce_sum(y * _log_via_reciprocal(p), axis=1) + tf.reduce_sum(tf.square(p), axis=1)
            ),
        ),
        [BIG, ONE_HOT],
        XENT + (P**2).sum(1),
        P - ONE_HOT + _softmax_vjp(P, 2 * P, 1),
    ),
    "cross_entropy_custom_gradient_add": Case(
        _softmax_custom_add,
        [BIG, ONE_HOT],
        XENT + (P * W).sum(1),
        P - ONE_HOT + _softmax_vjp(P, W, 1),
    ),
    "softmax_axis0_two_logs_and_square": Case(
        lambda z: _with(
            tf.nn.softmax(z, axis=0), lambda p: tf.log(p) + 0.5 * tf.log(tf.identity(p)) + tf.square(p)
        ),
        [BIG],
        1.5 * LP0 + P0**2,
        1.5 * (1 - 2 * P0) + _softmax_vjp(P0, 2 * P0, 0),
    ),
    "softmax_rank3_axis1_times_constant": Case(
        lambda z: _with(tf.nn.softmax(z, axis=1), lambda p: p * C3 + tf.log(p)),
        [Z3],
        P3 * C3 + _np_log_softmax(Z3, 1),
        _softmax_vjp(P3, C3, 1) + (1 - 2 * P3),
    ),
    # -- log(sum(exp(x))) ---------------------------------------------------------------------------
    "logsumexp_plus_sum_exp": Case(
        lambda x: _with(tf.exp(x), lambda e: tf.log(tf.reduce_sum(e, axis=1)) + tf.reduce_sum(e, axis=1)),
        [LX],
        LSE + LE.sum(1),
        LSM + LE,
    ),
    "log_of_sum_exp_plus_its_square": Case(
        lambda x: _with(tf.reduce_sum(tf.exp(x), axis=1), lambda s: tf.square(s) + tf.log(s)),
        [LX],
        LE.sum(1) ** 2 + LSE,
        2 * LE.sum(1, keepdims=True) * LE + LSM,
    ),
    "logsumexp_keepdims_two_logs_plus_exp": Case(
        lambda x: _with(
            tf.exp(x),
            lambda e: _with(
                tf.reduce_sum(e, axis=1, keepdims=True),
                lambda s: tf.log(s) + e + 2.0 * tf.log(tf.identity(s)),
            ),
        ),
        [LX],
        3 * _np_logsumexp(LX, 1, keepdims=True) + LE,
        6 * LSM + LE,  # each row's log is broadcast over its 2 columns
    ),
    "logsumexp_reciprocal_grad_plus_square_exp": Case(
        lambda x: _with(
            tf.exp(x),
            lambda e: tf.reduce_sum(tf.square(e), axis=1) + _log_via_reciprocal(tf.reduce_sum(e, axis=1)),
        ),
        [LX],
        (LE**2).sum(1) + LSE,
        2 * LE**2 + LSM,
    ),
    "logsumexp_all_axes_plus_sum": Case(
        lambda x: _with(tf.reduce_sum(tf.exp(x)), lambda s: tf.log(s) + s),
        [LX_ALL],
        -1000.0 + np.log(4.0),
        np.full((2, 2), 0.25),
    ),
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_use_is_finite_and_right(name: str) -> None:
    case = SHARED[name]
    _check_stable(case, *_run(case, None))


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_use_gradient_is_not_finite_without_the_pass(name: str) -> None:
    _, grad = _run(SHARED[name], OFF)
    assert not np.all(np.isfinite(grad))


def _moderate(x: np.ndarray) -> np.ndarray:
    """x scaled to where nothing overflows, with the ties broken."""
    return (x / 500.0 + 0.1 * np.arange(x.size).reshape(x.shape)).astype(np.float64)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_use_gradient_matches_central_differences(name: str) -> None:
    case = SHARED[name]
    inputs = [_moderate(case.inputs[0]), *(np.asarray(v, np.float64) for v in case.inputs[1:])]
    tf.reset_default_graph()
    ph = [tf.placeholder(tf.float64, [None] * np.ndim(v)) for v in inputs]
    total = tf.reduce_sum(case.build(*ph))
    (grad,) = tf.gradients(total, ph[0])
    feed = dict(zip(ph, inputs, strict=True))
    with tf.Session() as sess:
        got = sess.run(grad, feed)
        numeric = np.zeros_like(inputs[0])
        h = 1e-5
        for i in np.ndindex(inputs[0].shape):
            x = inputs[0].copy()
            x[i] += h
            up = sess.run(total, {**feed, ph[0]: x})
            x[i] -= 2 * h
            down = sess.run(total, {**feed, ph[0]: x})
            numeric[i] = (up - down) / (2 * h)
    with tf.Session(config=OFF) as sess:
        unstabilised = sess.run(grad, feed)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, unstabilised, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_use_rewrite_removes_logs_gradient_and_is_idempotent(name: str) -> None:
    case = SHARED[name]
    tf.reset_default_graph()
    ph = [tf.placeholder(case.dtype, [None] * np.ndim(v)) for v in case.inputs]
    value = case.build(*ph)
    (grad,) = tf.gradients(tf.reduce_sum(value), ph[0])
    feeds = {p: (case.dtype, np.shape(v)) for p, v in zip(ph, case.inputs, strict=True)}
    program = stabilize(simplify(lower(tf.get_default_graph(), [value, grad], feeds).program))
    verify(program)
    assert program.canonical_text() == stabilize(program).canonical_text()
    # Nothing divides by the sigmoid, softmax or sum of exps any more.
    assert not {"RealDiv", "Reciprocal"} & {n.op for n in program.nodes}, program
