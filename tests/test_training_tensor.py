"""``training`` given as a scalar bool tensor (TF1's ``training=is_training`` with
``is_training = tf.placeholder(tf.bool, [])``) in tf.layers' and tf.keras.layers' dropout
and batch normalization: one graph, fed True and False in the same session, against
NumPy's formulas and against the graphs a Python bool builds; moving statistics updated
only by training runs; gradients; a small network that learns. On the NumPy and the LLVM
backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as tf

RNG = np.random.default_rng(8)
BACKENDS = [None, "llvm"]  # None: tf.Session()'s default, the NumPy backend


def _session(backend: str | None, graph: Any = None) -> Any:
    return tf.Session(graph=graph) if backend is None else tf.Session(graph=graph, backend=backend)


def _ops_of_type(kind: str) -> list[Any]:
    return [op for op in tf.get_default_graph().get_operations() if op.type == kind]


def _var(name: str) -> Any:
    return next(v for v in tf.global_variables() if v.name == name)


# -- dropout ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_fed_true_and_false_against_the_python_bool_graph(backend: str | None) -> None:
    shape, rate, seed = (40, 30), 0.3, 7
    xv = RNG.uniform(1.0, 2.0, size=shape).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 30])
    is_training = tf.placeholder(tf.bool, [])
    out = tf.layers.dropout(x, rate=rate, seed=seed, training=is_training)
    assert out.shape.as_list() == [None, 30]
    assert len(_ops_of_type("Select")) == 1
    with _session(backend) as sess:
        runs = [sess.run(out, {x: xv, is_training: t}) for t in (True, False, True)]
    # The graph a Python True builds, with the same op seed: the same masks run by run
    # (the tensor graph draws one in its inference run too, so its third run is the
    # reference's third).
    with tf.Graph().as_default() as g:
        xr = tf.placeholder(tf.float32, [None, 30])
        ref = tf.layers.dropout(xr, rate=rate, seed=seed, training=True)
        u = tf.random_uniform(shape, seed=seed)
        with _session(backend, g) as sess:
            refs = [sess.run(ref, {xr: xv}) for _ in range(3)]
        with _session(backend, g) as sess:
            uniforms = [sess.run(u) for _ in range(3)]
    np.testing.assert_array_equal(runs[1], xv)
    np.testing.assert_array_equal(runs[0], refs[0])
    np.testing.assert_array_equal(runs[2], refs[2])
    assert not np.array_equal(runs[0], runs[2])
    # And TF1's formula in NumPy: x / keep_prob * floor(keep_prob + uniform).
    keep = np.float32(1 - rate)
    for k in (0, 2):
        want = xv / keep * np.floor(keep + uniforms[k])
        np.testing.assert_allclose(runs[k], want, rtol=1e-6)
        assert abs((runs[k] == 0).mean() - rate) < 0.05


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_layer_class_noise_shape_and_default_predicate(backend: str | None) -> None:
    # tf.layers.Dropout with a noise shape (whole columns dropped) and
    # tf.placeholder_with_default(False, []): unfed, the inputs unchanged.
    xv = RNG.normal(size=(6, 50)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 50])
    is_training = tf.placeholder_with_default(False, [])
    layer = tf.layers.Dropout(0.5, noise_shape=[1, 50], seed=3)
    out = layer(x, training=is_training)
    with _session(backend) as sess:
        np.testing.assert_array_equal(sess.run(out, {x: xv}), xv)
        on = sess.run(out, {x: xv, is_training: True})
    dropped = on == 0
    assert dropped.any() and not dropped.all()
    np.testing.assert_array_equal(dropped, np.broadcast_to(dropped[:1], dropped.shape))
    np.testing.assert_allclose(on[~dropped], xv[~dropped] * 2, rtol=1e-6)


def test_python_bools_and_ints_build_no_select() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    on = tf.layers.dropout(x, 0.5, seed=1, training=1)
    off = tf.layers.dropout(x, 0.5, seed=1, training=0)
    tf.layers.batch_normalization(x, training=True)
    tf.layers.batch_normalization(x, training=False)
    assert _ops_of_type("Select") == []
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
    xv = RNG.uniform(1.0, 2.0, size=(50, 4)).astype(np.float32)
    with tf.Session() as sess:
        a, b = sess.run([on, off], {x: xv})
    np.testing.assert_array_equal(b, xv)
    assert (a == 0).any() and (a != 0).any()


def test_unknown_shape_predicate_must_hold_one_value() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    is_training = tf.placeholder(tf.bool)  # no shape: reshaped to a scalar
    out = tf.layers.dropout(x, 0.5, seed=2, training=is_training)
    xv = RNG.normal(size=(2, 3)).astype(np.float32)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(out, {x: xv, is_training: False}), xv)
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(out, {x: xv, is_training: [True, False]})


# -- batch normalization ----------------------------------------------------------------------------
def _bn_reference(
    xv: np.ndarray, mean: np.ndarray, var: np.ndarray, gamma: Any, beta: Any, eps: float
) -> Any:
    return gamma * (xv - mean) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_normalization_both_modes_and_moving_statistics(backend: str | None) -> None:
    momentum, eps = 0.9, 1e-3
    gamma, beta = np.array([1.5, 0.5, 2.0, 1.0]), np.array([0.1, 0.2, 0.3, 0.4])
    x = tf.placeholder(tf.float64, [None, 3, 2, 4])
    is_training = tf.placeholder(tf.bool, [])
    out = tf.layers.batch_normalization(
        x,
        momentum=momentum,
        epsilon=eps,
        training=is_training,
        gamma_initializer=tf.constant_initializer(gamma),
        beta_initializer=tf.constant_initializer(beta),
    )
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    mm = _var("batch_normalization/moving_mean:0")
    mv = _var("batch_normalization/moving_variance:0")
    batches = [RNG.normal(loc=2.0 + k, scale=3.0, size=(5, 3, 2, 4)) for k in range(3)]
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        want_m, want_v = np.zeros(4), np.ones(4)
        for xv in batches:
            bm, bv = xv.mean(axis=(0, 1, 2)), xv.var(axis=(0, 1, 2))
            # Inference: the moving statistics normalize, and the updates write them back
            # unchanged, bit for bit.
            before = sess.run([mm, mv])
            got = sess.run([out, *updates], {x: xv, is_training: False})[0]
            np.testing.assert_allclose(got, _bn_reference(xv, want_m, want_v, gamma, beta, eps), rtol=1e-10)
            after = sess.run([mm, mv])
            np.testing.assert_array_equal(after[0], before[0])
            np.testing.assert_array_equal(after[1], before[1])
            # Training: the batch's (biased) moments, and TF1's moving average.
            got = sess.run([out, *updates], {x: xv, is_training: True})[0]
            np.testing.assert_allclose(got, _bn_reference(xv, bm, bv, gamma, beta, eps), rtol=1e-10)
            want_m = want_m * momentum + bm * (1 - momentum)
            want_v = want_v * momentum + bv * (1 - momentum)
            np.testing.assert_allclose(sess.run(mm), want_m, rtol=1e-12)
            np.testing.assert_allclose(sess.run(mv), want_v, rtol=1e-12)
        # An inference batch with a NaN: only its element is NaN, and the moving
        # statistics stay as they were (a select, not a momentum of 1.0 times a NaN).
        xv = batches[0].copy()
        xv[0, 0, 0, 0] = np.nan
        before = sess.run([mm, mv])
        got = sess.run([out, *updates], {x: xv, is_training: False})[0]
        assert np.isnan(got[0, 0, 0, 0]) and np.isfinite(np.delete(got.reshape(-1), 0)).all()
        after = sess.run([mm, mv])
        np.testing.assert_array_equal(after[0], before[0])
        np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("axis", [1, [1, 2]])
def test_batch_normalization_other_axes(axis: Any) -> None:
    x = tf.placeholder(tf.float64, [None, 3, 5])
    is_training = tf.placeholder(tf.bool, [])
    out = tf.layers.batch_normalization(x, axis=axis, momentum=0.5, epsilon=0.0, training=is_training)
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    mm = _var("batch_normalization/moving_mean:0")
    xv = RNG.normal(loc=1.0, size=(4, 3, 5))
    red = (0, 2) if axis == 1 else (0,)
    m, v = xv.mean(axis=red, keepdims=True), xv.var(axis=red, keepdims=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(out, {x: xv, is_training: False}), xv, rtol=1e-12)
        got = sess.run([out, *updates], {x: xv, is_training: True})[0]
        np.testing.assert_allclose(got, (xv - m) / np.sqrt(v), rtol=1e-10)
        np.testing.assert_allclose(sess.run(mm), 0.5 * np.squeeze(m, axis=0).reshape(sess.run(mm).shape))


# -- gradients ----------------------------------------------------------------------------------------
def _network(training: Any, xv: np.ndarray, r: np.ndarray, kernel: np.ndarray) -> tuple[Any, ...]:
    """dense -> batch normalization -> relu -> dropout, and a weighted sum as the loss."""
    x = tf.placeholder(tf.float64, [None, xv.shape[1]])
    h = tf.layers.dense(x, kernel.shape[1], kernel_initializer=tf.constant_initializer(kernel))
    h = tf.layers.batch_normalization(h, momentum=0.9, training=training)
    h = tf.layers.dropout(tf.nn.relu(h), rate=0.25, seed=17, training=training)
    loss = tf.reduce_sum(h * r)
    wrt = [x, *tf.trainable_variables()]
    return x, loss, tf.gradients(loss, wrt)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_match_the_python_bool_graphs(backend: str | None) -> None:
    xv = RNG.normal(size=(12, 5))
    kernel = RNG.normal(size=(5, 6))
    r = RNG.normal(size=(12, 6))
    is_training = tf.placeholder(tf.bool, [])
    x, loss, grads = _network(is_training, xv, r, kernel)
    assert all(g is not None for g in grads)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        # Separate sessions so each mode's run is the first (the same dropout mask).
        got_train = sess.run([loss, *grads], {x: xv, is_training: True})
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        got_infer = sess.run([loss, *grads], {x: xv, is_training: False})
    for mode, got in ((True, got_train), (False, got_infer)):
        with tf.Graph().as_default() as g:
            xr, loss_r, grads_r = _network(mode, xv, r, kernel)
            with _session(backend, g) as sess:
                sess.run(tf.global_variables_initializer())
                want = sess.run([loss_r, *grads_r], {xr: xv})
        for a, b in zip(got, want):
            assert np.isfinite(a).all()
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # Training mode's gradient reaches the inputs through the batch's moments; inference
    # mode's does not (the moving statistics are constants): they differ.
    assert not np.allclose(got_train[1], got_infer[1])


# -- Keras layers ----------------------------------------------------------------------------------
def test_keras_layers_take_a_tensor_training() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    is_training = tf.placeholder(tf.bool, [])
    bn = tf.keras.layers.BatchNormalization(momentum=0.8, epsilon=1e-3)
    drop = tf.keras.layers.Dropout(0.5, seed=4)
    normed = bn(x, training=is_training)
    out = drop(normed, training=is_training)
    assert len(bn.updates) == 2
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []  # Keras keeps them on the layer
    xv = RNG.normal(loc=3.0, size=(64, 4)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([normed, out, *bn.updates], {x: xv, is_training: False})[:2]
        np.testing.assert_allclose(a, xv / np.sqrt(1 + 1e-3), rtol=1e-6)
        np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(sess.run(bn.moving_mean), np.zeros(4, np.float32))
        a, b = sess.run([normed, out, *bn.updates], {x: xv, is_training: True})[:2]
        want = (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-3)
        np.testing.assert_allclose(a, want, rtol=1e-4, atol=1e-5)
        kept = b != 0
        np.testing.assert_allclose(b[kept], 2 * a[kept], rtol=1e-6)
        assert 0.3 < kept.mean() < 0.7
        np.testing.assert_allclose(sess.run(bn.moving_mean), 0.2 * xv.mean(0), rtol=1e-5)


# -- a network that learns ---------------------------------------------------------------------------
def _blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    labels = rng.integers(0, 3, size=n)
    points = centers[labels] + rng.normal(scale=0.8, size=(n, 2)) + 5.0  # off-centre inputs
    return points.astype(np.float32), labels.astype(np.int32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_with_training_tensor_learns(backend: str | None) -> None:
    rng = np.random.default_rng(1)
    xs, ys = _blobs(600, rng)
    xt, yt = _blobs(300, rng)
    tf.set_random_seed(5)
    x = tf.placeholder(tf.float32, [None, 2])
    y = tf.placeholder(tf.int32, [None])
    is_training = tf.placeholder(tf.bool, [])

    def model(inputs: Any, training: Any) -> Any:
        h = tf.layers.dense(inputs, 32, name="hidden")
        h = tf.nn.relu(tf.layers.batch_normalization(h, momentum=0.9, training=training, name="bn"))
        h = tf.layers.dropout(h, rate=0.2, training=training)
        return tf.layers.dense(h, 3, name="logits")

    with tf.variable_scope("net"):
        logits = model(x, is_training)
    with tf.variable_scope("net", reuse=True):
        logits_infer = model(x, False)  # the Python-bool inference graph, the same variables
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.float32))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.AdamOptimizer(0.05).minimize(loss)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, {x: xt, y: yt, is_training: False})
        for _ in range(60):
            idx = rng.choice(len(xs), 64, replace=False)
            sess.run(train_op, {x: xs[idx], y: ys[idx], is_training: True})
        last, acc = sess.run([loss, accuracy], {x: xt, y: yt, is_training: False})
        a, b = sess.run([logits, logits_infer], {x: xt, is_training: False})
    assert last < 0.5 * first
    assert acc > 0.9
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
