"""The xent_backprop pass (graphc/passes/xent_backprop.py): a cross-entropy gradient's
``softmax(z) - labels`` becomes the op's own backprop output.

Values are checked with the pass on and off, on the NumPy and LLVM backends, and against
NumPy formulas: d mean(xent)/dz = (softmax(z) - y) / batch, and its Hessian, per row
(diag(p) - p p^T) / batch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.ir.verify import verify
from graphc.passes import pipeline
from graphc.passes.xent_backprop import xent_backprop
from graphc.runtime.backend import available_backends

BACKENDS = ["numpy"] + (["llvm"] if "llvm" in available_backends() else [])
# The pass's stated tolerance: relative, measured against the largest element.
TOL = {np.float32: 1e-6, np.float64: 1e-12}
ROWS, CLASSES = 16, 7


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _close(actual: np.ndarray, expected: np.ndarray, tol: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * float(np.max(np.abs(expected))))


def _data(dtype: Any, sparse: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((ROWS, CLASSES)) * 3).astype(dtype)
    ids = rng.integers(0, CLASSES, ROWS)
    if sparse:
        return z, ids.astype(np.int32)
    y = rng.random((ROWS, CLASSES)).astype(dtype)
    return z, y / y.sum(-1, keepdims=True)


def _build(dtype: Any, sparse: bool) -> tuple[tf.Graph, Any, Any, Any, Any]:
    g = tf.Graph()
    with g.as_default():
        z = tf.placeholder(dtype, [ROWS, CLASSES])
        if sparse:
            y = tf.placeholder(tf.int32, [ROWS])
            xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)
        else:
            y = tf.placeholder(dtype, [ROWS, CLASSES])
            xent = tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=z)
        loss = tf.reduce_mean(xent)
        (grad,) = tf.gradients(loss, z)
    return g, z, y, loss, grad


def _run(g: tf.Graph, fetches: Any, feeds: dict[Any, np.ndarray], backend: str, on: bool) -> Any:
    config = tf.ConfigProto(disable_passes=[] if on else ["xent_backprop"])
    with tf.Session(graph=g, backend=backend, config=config) as sess:
        return sess.run(fetches, feeds)


def _lowered(g: tf.Graph, fetches: list[Any], feeds: dict[Any, np.ndarray]) -> Program:
    spec = {t: (t.dtype, v.shape) for t, v in feeds.items()}
    return lower(g, fetches, spec).program


def _ops(p: Program) -> Counter[str]:
    return Counter(n.op for n in p.nodes)


def _labels_dense(y: np.ndarray, sparse: bool, dtype: Any) -> np.ndarray:
    return np.eye(CLASSES, dtype=dtype)[y] if sparse else y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_values_equal_with_the_pass_on_and_off(backend: str, dtype: Any, sparse: bool) -> None:
    g, z, y, loss, grad = _build(dtype, sparse)
    zv, yv = _data(dtype, sparse)
    feeds = {z: zv, y: yv}
    loss_on, grad_on = _run(g, [loss, grad], feeds, backend, on=True)
    loss_off, grad_off = _run(g, [loss, grad], feeds, backend, on=False)
    tol = TOL[dtype]
    _close(np.asarray(loss_on), np.asarray(loss_off), tol)
    _close(grad_on, grad_off, tol)
    # And both are the documented gradient (a backend's kernels round on their own).
    z64, y64 = zv.astype(np.float64), _labels_dense(yv, sparse, np.float64)
    ref = (_softmax(z64) - y64) / ROWS
    _close(grad_on.astype(np.float64), ref, 1e-5 if dtype == np.float32 else 1e-12)
    assert grad_on.dtype == dtype


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_the_optimized_program_has_no_softmax(sparse: bool) -> None:
    g, z, y, loss, grad = _build(np.float32, sparse)
    zv, yv = _data(np.float32, sparse)
    p = _lowered(g, [loss, grad], {z: zv, y: yv})
    assert _ops(p)["Softmax"] == 1  # the gradient rule's rebuilt softmax
    off = pipeline.optimize(p, ["xent_backprop"])
    on = pipeline.optimize(p)
    assert _ops(off)["Softmax"] + _ops(off)["Fused"] > 0
    assert "Softmax" not in _ops(on)
    assert "OneHot" not in _ops(on)
    # The op's backprop output is now read (by the gradient's scaling).
    (x,) = [n for n in on.nodes if n.op.endswith("SoftmaxCrossEntropyWithLogits")]
    readers = [n for n in on.nodes if any(v is x.outputs[1] for v in n.inputs)]
    assert readers


def test_the_pass_leaves_its_input_unchanged_and_is_idempotent() -> None:
    g, z, y, loss, grad = _build(np.float64, False)
    zv, yv = _data(np.float64, False)
    p = _lowered(g, [loss, grad], {z: zv, y: yv})
    text = p.canonical_text()
    once = xent_backprop(p)
    assert p.canonical_text() == text
    verify(once)
    assert "Softmax" not in _ops(once) and "Sub" not in _ops(once)
    assert xent_backprop(once).canonical_text() == once.canonical_text()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_softmax_used_elsewhere_stays(backend: str) -> None:
    g, z, y, loss, grad = _build(np.float64, False)
    with g.as_default():
        probs = tf.nn.softmax(z)
    zv, yv = _data(np.float64, False)
    feeds = {z: zv, y: yv}
    on = pipeline.optimize(_lowered(g, [loss, grad, probs], feeds), ["fuse"])
    assert _ops(on)["Softmax"] == 1
    assert "Sub" not in _ops(on)  # the gradient still reads the op's backprop
    p_on, g_on = _run(g, [probs, grad], feeds, backend, on=True)
    np.testing.assert_allclose(p_on, _softmax(zv), rtol=1e-12)
    _close(g_on, (_softmax(zv) - yv) / ROWS, 1e-12)


def test_other_labels_softmax_axes_and_one_hots_are_not_rewritten() -> None:
    g = tf.Graph()
    with g.as_default():
        z = tf.placeholder(tf.float64, [ROWS, CLASSES])
        y = tf.placeholder(tf.float64, [ROWS, CLASSES])
        other = tf.placeholder(tf.float64, [ROWS, CLASSES])
        ids = tf.placeholder(tf.int32, [ROWS])
        ids2 = tf.placeholder(tf.int32, [ROWS])
        dense = tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=z)
        sparse = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=z)
        fetches = [
            dense,
            sparse,
            tf.nn.softmax(z) - other,  # labels the op was not given
            tf.nn.softmax(z, axis=0) - y,  # the wrong axis
            tf.nn.softmax(z) - tf.one_hot(ids, CLASSES, on_value=2.0, dtype=tf.float64),  # not 0/1
            tf.nn.softmax(z) - tf.one_hot(ids2, CLASSES, dtype=tf.float64),  # other class ids
        ]
    rng = np.random.default_rng(3)
    feeds = {
        z: rng.standard_normal((ROWS, CLASSES)),
        y: rng.random((ROWS, CLASSES)),
        other: rng.random((ROWS, CLASSES)),
        ids: rng.integers(0, CLASSES, ROWS).astype(np.int32),
        ids2: rng.integers(0, CLASSES, ROWS).astype(np.int32),
    }
    p = _lowered(g, fetches, feeds)
    q = xent_backprop(p)
    assert q.canonical_text() == p.canonical_text()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_commuted_sub_becomes_the_negated_backprop(backend: str) -> None:
    g = tf.Graph()
    with g.as_default():
        z = tf.placeholder(tf.float64, [ROWS, CLASSES])
        y = tf.placeholder(tf.float64, [ROWS, CLASSES])
        loss = tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=z)
        flipped = y - tf.nn.softmax(z)
    zv, yv = _data(np.float64, False)
    feeds = {z: zv, y: yv}
    on = xent_backprop(_lowered(g, [loss, flipped], feeds))
    assert "Softmax" not in _ops(on) and _ops(on)["Neg"] == 1
    _, f_on = _run(g, [loss, flipped], feeds, backend, on=True)
    _close(f_on, yv - _softmax(zv), 1e-12)


def _hessian_ref(z: np.ndarray) -> np.ndarray:
    """d^2 mean_i(xent_i)/dz dz: row blocks (diag(p) - p p^T) / batch, zero across rows."""
    p = _softmax(z)
    h = np.zeros((ROWS, CLASSES, ROWS, CLASSES))
    for i in range(ROWS):
        h[i, :, i, :] = (np.diag(p[i]) - np.outer(p[i], p[i])) / ROWS
    return h


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_hessians_still_work(sparse: bool) -> None:
    # NumPy backend only: tf.hessians builds a loop over the gradient's elements, whose
    # native compile costs seconds; the LLVM backend's second order is the next test's.
    g, z, y, loss, grad = _build(np.float64, sparse)
    with g.as_default():
        (hess,) = tf.hessians(loss, z)
    zv, yv = _data(np.float64, sparse)
    feeds = {z: zv, y: yv}
    href = _hessian_ref(zv)
    for on in (True, False):
        h, gv = _run(g, [hess, grad], feeds, "numpy", on=on)
        _close(h, href, 1e-12)
        _close(gv, (_softmax(zv) - _labels_dense(yv, sparse, np.float64)) / ROWS, 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_gradients_of_gradients_still_work(backend: str, sparse: bool) -> None:
    g, z, y, loss, grad = _build(np.float64, sparse)
    wv = np.linspace(-1.0, 1.0, ROWS * CLASSES).reshape(ROWS, CLASSES)
    with g.as_default():
        # d/dz sum(grad * w) = H w, the Hessian-vector product.
        (hvp,) = tf.gradients(tf.reduce_sum(grad * tf.constant(wv)), z)
    zv, yv = _data(np.float64, sparse)
    feeds = {z: zv, y: yv}
    hvp_ref = np.einsum("ijkl,kl->ij", _hessian_ref(zv), wv)
    # With the loss fetched the op is in the program and the rewrite applies.
    before = pipeline.optimize(_lowered(g, [hvp, grad, loss], feeds), ["xent_backprop", "fuse", "memory"])
    assert _ops(xent_backprop(before))["Sub"] < _ops(before)["Sub"]
    for on in (True, False):
        hv, gv, _ = _run(g, [hvp, grad, loss], feeds, backend, on=on)
        _close(hv, hvp_ref, 1e-12)
        _close(gv, (_softmax(zv) - _labels_dense(yv, sparse, np.float64)) / ROWS, 1e-12)
