"""Each stabilising rewrite: with the pass on, the value and its gradient are finite (and
right); with it off, the same graph gives inf or NaN."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf

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


@pytest.mark.parametrize("name", sorted(CASES))
def test_stabilised_graph_is_finite(name: str) -> None:
    case = CASES[name]
    value, grad = _run(case, None)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (value, grad)
    tol = 1e-5 if case.dtype == tf.float32 else 1e-9
    np.testing.assert_allclose(value, case.value, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, case.grad, rtol=tol, atol=tol)


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
