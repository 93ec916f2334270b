"""tf.layers (graphc.layers): each layer's output against a NumPy reference, gradients
against central differences, TF1's variable names and sharing through variable scopes,
UPDATE_OPS of batch normalization, and a GAN's two var_lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf

RNG = np.random.default_rng(0)


def _conv_ref(x: np.ndarray, w: np.ndarray, stride: int, padding: str, dilation: int = 1) -> np.ndarray:
    """Naive NHWC cross-correlation with TF's SAME/VALID padding."""
    n, h, wd, _ = x.shape
    kh, kw, _, co = w.shape
    ekh, ekw = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if padding == "same":
        oh, ow = -(-h // stride), -(-wd // stride)
        ph = max((oh - 1) * stride + ekh - h, 0)
        pw = max((ow - 1) * stride + ekw - wd, 0)
        x = np.pad(x, [(0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    else:
        oh, ow = (h - ekh) // stride + 1, (wd - ekw) // stride + 1
    out = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            patch = x[
                :, i * stride : i * stride + ekh : dilation, j * stride : j * stride + ekw : dilation, :
            ]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def _deconv_ref(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Transposed convolution as a scatter-add, cropped like TF (w: [kh, kw, out, in])."""
    n, h, wd, _ = x.shape
    kh, kw, co, _ = w.shape
    if padding == "same":
        oh, ow = h * stride, wd * stride
    else:
        oh, ow = h * stride + max(kh - stride, 0), wd * stride + max(kw - stride, 0)
    ph = max((h - 1) * stride + kh - oh, 0) // 2
    pw = max((wd - 1) * stride + kw - ow, 0) // 2
    full = np.zeros((n, oh + kh + stride, ow + kw + stride, co))
    for i in range(h):
        for j in range(wd):
            full[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :] += np.einsum(
                "nc,hwoc->nhwo", x[:, i, j, :], w
            )
    return full[:, ph : ph + oh, pw : pw + ow, :]


def _pool_ref(x: np.ndarray, k: int, s: int, padding: str, kind: str) -> np.ndarray:
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - w, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
        top = left = 0
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s - top, j * s - left
            r = slice(max(r0, 0), min(r0 + k, h))
            cc = slice(max(c0, 0), min(c0 + k, w))
            win = x[:, r, cc, :]
            out[:, i, j, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


def _directional_check(
    sess: Any, loss: Any, feeds: dict[Any, np.ndarray], wrt: list[Any], eps: float = 1e-5, rtol: float = 1e-5
) -> None:
    """tf.gradients of a scalar loss against central differences along random directions
    of each placeholder in ``wrt`` (float64)."""
    grads = tf.gradients(loss, wrt)
    analytic = sess.run(grads, feeds)
    rng = np.random.default_rng(7)
    for ph, g in zip(wrt, analytic, strict=True):
        for _ in range(3):
            v = rng.normal(size=feeds[ph].shape)
            plus = dict(feeds)
            minus = dict(feeds)
            plus[ph] = feeds[ph] + eps * v
            minus[ph] = feeds[ph] - eps * v
            numeric = (sess.run(loss, plus) - sess.run(loss, minus)) / (2 * eps)
            np.testing.assert_allclose(np.sum(g * v), numeric, rtol=rtol, atol=1e-8)


def _var(name: str) -> Any:
    (v,) = [v for v in tf.global_variables() if v.name == name]
    return v


# -- dense ----------------------------------------------------------------------------------------
def test_dense_values_gradients_and_names() -> None:
    x = tf.placeholder(tf.float64, [None, 5])
    y = tf.layers.dense(x, 4, activation=tf.nn.relu, kernel_initializer=tf.random_normal_initializer(seed=1))
    z = tf.layers.dense(y, 3, use_bias=False)
    assert [v.name for v in tf.trainable_variables()] == [
        "dense/kernel:0",
        "dense/bias:0",
        "dense_1/kernel:0",
    ]
    assert y.shape.as_list() == [None, 4] and z.shape.as_list() == [None, 3]
    r = RNG.normal(size=(6, 3))
    loss = tf.reduce_sum(z * r)
    xv = RNG.normal(size=(6, 5))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf.assign(_var("dense/bias:0"), RNG.normal(size=4)))
        k0, b0, k1 = sess.run([_var("dense/kernel:0"), _var("dense/bias:0"), _var("dense_1/kernel:0")])
        pre = xv @ k0 + b0
        np.testing.assert_allclose(sess.run(z, {x: xv}), np.maximum(pre, 0) @ k1, rtol=1e-12)
        # d loss / d kernel_0 = x^T ((r k1^T) * relu'(pre))
        gk0, gb0 = sess.run(tf.gradients(loss, [_var("dense/kernel:0"), _var("dense/bias:0")]), {x: xv})
        delta = (r @ k1.T) * (pre > 0)
        np.testing.assert_allclose(gk0, xv.T @ delta, rtol=1e-10)
        np.testing.assert_allclose(gb0, delta.sum(0), rtol=1e-10)
        _directional_check(sess, loss, {x: xv}, [x])


def test_dense_rank3_uses_last_axis_and_class_shares_weights() -> None:
    x = tf.placeholder(tf.float32, [None, 3, 4])
    layer = tf.layers.Dense(2, name="proj")
    y1 = layer(x)
    y2 = layer(x * 2.0)
    assert y1.shape.as_list() == [None, 3, 2]
    assert [v.name for v in tf.global_variables()] == ["proj/kernel:0", "proj/bias:0"]
    assert layer.trainable_weights == [layer.kernel, layer.bias]
    xv = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        k, b, a1, a2 = sess.run([layer.kernel, layer.bias, y1, y2], {x: xv})
    np.testing.assert_allclose(a1, xv @ k + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a2, 2 * xv @ k + b, rtol=1e-5, atol=1e-6)


def test_variable_scope_reuse_and_errors() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    with tf.variable_scope("net"):
        a = tf.layers.dense(x, 2, name="fc")
    with tf.variable_scope("net", reuse=True):
        b = tf.layers.dense(x, 2, name="fc")
    for _ in range(2):
        with tf.variable_scope("auto", reuse=tf.AUTO_REUSE):
            tf.layers.dense(x, 2, name="fc")
    assert [v.name for v in tf.global_variables()] == [
        "net/fc/kernel:0",
        "net/fc/bias:0",
        "auto/fc/kernel:0",
        "auto/fc/bias:0",
    ]
    assert len(tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, "net")) == 2
    with pytest.raises(ValueError, match="already exists"):
        with tf.variable_scope("net"):
            tf.layers.dense(x, 2, name="fc")
    with pytest.raises(ValueError, match="does not exist"):
        with tf.variable_scope("fresh", reuse=True):
            tf.layers.dense(x, 2, name="fc")
    xv = RNG.normal(size=(2, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        va, vb = sess.run([a, b], {x: xv})
    np.testing.assert_array_equal(va, vb)


def test_gan_generator_and_discriminator_train_on_separate_var_lists() -> None:
    tf.set_random_seed(3)
    z = tf.placeholder(tf.float32, [None, 4])
    real = tf.placeholder(tf.float32, [None, 2])

    def generator(z: Any) -> Any:
        with tf.variable_scope("generator"):
            h = tf.layers.dense(z, 8, activation=tf.nn.relu)
            return tf.layers.dense(h, 2)

    def discriminator(x: Any, reuse: bool = False) -> Any:
        with tf.variable_scope("discriminator", reuse=reuse):
            h = tf.layers.dense(x, 8, activation=tf.nn.leaky_relu)
            return tf.layers.dense(h, 1)

    fake = generator(z)
    d_real = discriminator(real)
    d_fake = discriminator(fake, reuse=True)
    g_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, "generator")
    d_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, "discriminator")
    assert [v.name for v in d_vars] == [
        "discriminator/dense/kernel:0",
        "discriminator/dense/bias:0",
        "discriminator/dense_1/kernel:0",
        "discriminator/dense_1/bias:0",
    ]
    assert [v.name for v in g_vars] == [
        n.replace("discriminator", "generator") for n in (v.name for v in d_vars)
    ]
    assert len(tf.trainable_variables()) == 8
    xent = tf.nn.sigmoid_cross_entropy_with_logits
    d_loss = tf.reduce_mean(xent(labels=tf.ones_like(d_real), logits=d_real)) + tf.reduce_mean(
        xent(labels=tf.zeros_like(d_fake), logits=d_fake)
    )
    g_loss = tf.reduce_mean(xent(labels=tf.ones_like(d_fake), logits=d_fake))
    d_step = tf.train.AdamOptimizer(0.01).minimize(d_loss, var_list=d_vars)
    g_step = tf.train.AdamOptimizer(0.01).minimize(g_loss, var_list=g_vars)
    feeds = {z: RNG.normal(size=(16, 4)), real: RNG.normal(size=(16, 2)) + 3.0}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        g0, d0 = sess.run([g_vars, d_vars])
        sess.run(d_step, feeds)
        g1, d1 = sess.run([g_vars, d_vars])
        assert all(np.array_equal(a, b) for a, b in zip(g0, g1))
        assert all(not np.array_equal(a, b) for a, b in zip(d0, d1))
        before = sess.run(g_loss, feeds)
        for _ in range(5):
            sess.run(g_step, feeds)
        g2, d2 = sess.run([g_vars, d_vars])
        assert all(np.array_equal(a, b) for a, b in zip(d1, d2))
        assert sess.run(g_loss, feeds) < before


def test_regularizer_trainable_and_initializers() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    reg = tf.keras.regularizers.l2(0.5)
    with tf.variable_scope("s", reuse=tf.AUTO_REUSE):
        tf.layers.dense(x, 2, kernel_regularizer=reg, kernel_initializer=tf.ones_initializer(), name="fc")
        tf.layers.dense(x, 2, kernel_regularizer=reg, name="fc")  # reused: no second loss
    frozen = tf.layers.dense(
        x, 2, trainable=False, bias_initializer=tf.constant_initializer(2.0), name="frozen"
    )
    named = tf.layers.Dense(2, kernel_initializer="zeros", name="named")
    named(x)
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert len(losses) == 1
    assert "frozen/kernel:0" not in [v.name for v in tf.trainable_variables()]
    assert "frozen/kernel:0" in [v.name for v in tf.global_variables()]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(losses[0]) == pytest.approx(0.5 * 6)
        np.testing.assert_array_equal(sess.run(frozen, {x: np.zeros((1, 3))}), [[2.0, 2.0]])
        np.testing.assert_array_equal(sess.run(named.kernel), np.zeros((3, 2)))


# -- convolutions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("padding", "stride", "dilation"),
    [("same", 1, 1), ("valid", 1, 1), ("SAME", 2, 1), ("Valid", 2, 1), ("same", 1, 2)],
)
def test_conv2d_values_and_gradients(padding: str, stride: int, dilation: int) -> None:
    x = tf.placeholder(tf.float64, [None, 7, 6, 2])
    y = tf.layers.conv2d(
        x,
        3,
        (3, 2),
        strides=stride,
        padding=padding,
        dilation_rate=dilation,
        bias_initializer=tf.ones_initializer(),
    )
    kernel, bias = _var("conv2d/kernel:0"), _var("conv2d/bias:0")
    assert kernel.shape.as_list() == [3, 2, 2, 3] and bias.shape.as_list() == [3]
    xv = RNG.normal(size=(2, 7, 6, 2))
    r = tf.placeholder(tf.float64, [None, None, None, 3])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, kv = sess.run([y, kernel], {x: xv})
        ref = _conv_ref(xv, kv, stride, padding.lower(), dilation) + 1.0
        assert out.shape == ref.shape and y.shape.as_list()[1:] == list(ref.shape[1:])
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
        rv = RNG.normal(size=ref.shape)
        loss = tf.reduce_sum(y * r)
        _directional_check(sess, loss, {x: xv, r: rv}, [x])
        # d loss / d kernel against differences of the NumPy reference
        (gk,) = sess.run(tf.gradients(loss, [kernel]), {x: xv, r: rv})
        v = RNG.normal(size=kv.shape)
        eps = 1e-6
        numeric = (
            np.sum(_conv_ref(xv, kv + eps * v, stride, padding.lower(), dilation) * rv)
            - np.sum(_conv_ref(xv, kv - eps * v, stride, padding.lower(), dilation) * rv)
        ) / (2 * eps)
        np.testing.assert_allclose(np.sum(gk * v), numeric, rtol=1e-6)


@pytest.mark.parametrize(
    ("padding", "stride", "k"), [("same", 2, 3), ("valid", 2, 3), ("valid", 1, 2), ("same", 3, 2)]
)
def test_conv2d_transpose_layer_values(padding: str, stride: int, k: int) -> None:
    x = tf.placeholder(tf.float64, [None, 3, 4, 2])
    y = tf.layers.conv2d_transpose(x, 3, k, strides=stride, padding=padding, activation=None)
    kernel = _var("conv2d_transpose/kernel:0")
    assert kernel.shape.as_list() == [k, k, 3, 2]
    xv = RNG.normal(size=(2, 3, 4, 2))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, kv = sess.run([y, kernel], {x: xv})
    ref = _deconv_ref(xv, kv, stride, padding)
    assert y.shape.as_list() == [None, *ref.shape[1:]]
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


def test_nn_conv2d_transpose_gradients_by_central_differences() -> None:
    x = tf.placeholder(tf.float64, [2, 3, 3, 2])
    w = tf.placeholder(tf.float64, [3, 3, 4, 2])
    r = RNG.normal(size=(2, 6, 6, 4))
    y = tf.nn.conv2d_transpose(x, w, [2, 6, 6, 4], strides=[1, 2, 2, 1], padding="SAME")
    loss = tf.reduce_sum(tf.square(y) * r)
    feeds = {x: RNG.normal(size=(2, 3, 3, 2)), w: RNG.normal(size=(3, 3, 4, 2))}
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(y, feeds), _deconv_ref(feeds[x], feeds[w], 2, "same"), rtol=1e-10)
        _directional_check(sess, loss, feeds, [x, w])


def test_data_format_and_padding_errors() -> None:
    x = tf.placeholder(tf.float32, [None, 4, 4, 1])
    with pytest.raises(NotImplementedError, match="NCHW"):
        tf.layers.conv2d(x, 2, 3, data_format="channels_first")
    with pytest.raises(NotImplementedError, match="NCHW"):
        tf.layers.max_pooling2d(x, 2, 2, data_format="channels_first")
    with pytest.raises(ValueError, match="padding"):
        tf.layers.conv2d(x, 2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        tf.layers.conv2d(x, 2, (3, 3, 3))


# -- pooling, flatten, dropout -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("padding", "k", "s"), [("valid", 2, 2), ("same", 3, 2), ("SAME", 2, 1)])
def test_pooling_values_and_gradients(kind: str, padding: str, k: int, s: int) -> None:
    x = tf.placeholder(tf.float64, [None, 5, 6, 2])
    fn = tf.layers.max_pooling2d if kind == "max" else tf.layers.average_pooling2d
    y = fn(x, k, s, padding=padding)
    xv = RNG.normal(size=(2, 5, 6, 2))
    ref = _pool_ref(xv, k, s, padding.lower(), kind)
    assert y.shape.as_list() == [None, *ref.shape[1:]]
    r = RNG.normal(size=ref.shape)
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(y, {x: xv}), ref, rtol=1e-12)
        _directional_check(sess, tf.reduce_sum(y * r), {x: xv}, [x])


def test_flatten() -> None:
    x = tf.placeholder(tf.float32, [None, 2, 3, 4])
    y = tf.layers.flatten(x)
    u = tf.placeholder(tf.float32, [None, None, 3])
    v = tf.layers.Flatten()(u)
    assert y.shape.as_list() == [None, 24] and v.shape.as_list() == [None, None]
    xv = RNG.normal(size=(5, 2, 3, 4)).astype(np.float32)
    uv = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    with tf.Session() as sess:
        a, b = sess.run([y, v], {x: xv, u: uv})
    np.testing.assert_array_equal(a, xv.reshape(5, 24))
    np.testing.assert_array_equal(b, uv.reshape(2, 12))


def test_dropout_rate_scaling_with_seed() -> None:
    shape = (100, 200)
    x = tf.placeholder(tf.float32, shape)
    off = tf.layers.dropout(x, rate=0.3)  # training=False by default
    on = tf.layers.dropout(x, rate=0.3, seed=5, training=True)
    xv = RNG.uniform(1.0, 2.0, size=shape).astype(np.float32)
    with tf.Session() as sess:
        a, b = sess.run([off, on], {x: xv})
    np.testing.assert_array_equal(a, xv)
    kept = b != 0
    np.testing.assert_allclose(b[kept], xv[kept] / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.01
    # The mask is TF1's: keep where uniform(seed) >= rate, the same numbers in any graph.
    with tf.Graph().as_default():
        u = tf.random_uniform(shape, seed=5)
        with tf.Session() as sess:
            uv = sess.run(u)
    np.testing.assert_array_equal(kept, uv >= 0.3)


def test_training_as_a_tensor_checks_and_constants() -> None:
    # A bool scalar tensor is accepted (tests/test_training_tensor.py checks its values);
    # a non-bool or non-scalar one is refused when the graph is built, as TF1's cond.
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(TypeError, match="must be bool"):
        tf.layers.dropout(x, 0.5, training=tf.placeholder(tf.float32, []))
    with pytest.raises(ValueError, match="must be a scalar"):
        tf.layers.batch_normalization(x, training=tf.placeholder(tf.bool, [2]))
    with pytest.raises(TypeError, match="Python bool, or 1 or 0"):
        tf.layers.dropout(x, 0.5, training="yes")
    # A constant predicate picks its branch when the graph is built (TF1's smart_cond):
    # no select, and with False no random op and no update.
    off = tf.layers.dropout(x, 0.5, training=tf.constant(False))
    tf.layers.batch_normalization(x, training=tf.constant(False))
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    types = {op.type for op in tf.get_default_graph().get_operations()}
    assert "Select" not in types and not any("Random" in t for t in types)
    xv = RNG.normal(size=(4, 3)).astype(np.float32)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(off, {x: xv}), xv)


# -- batch normalization ---------------------------------------------------------------------------
def test_batch_normalization_train_inference_and_update_ops() -> None:
    x = tf.placeholder(tf.float64, [None, 3, 2, 4])
    with tf.variable_scope("bn"):
        train = tf.layers.batch_normalization(
            x, momentum=0.9, training=True, gamma_initializer=tf.constant_initializer(1.5)
        )
    with tf.variable_scope("bn", reuse=True):
        infer = tf.layers.batch_normalization(x, momentum=0.9, training=False)
    names = [v.name for v in tf.global_variables()]
    assert names == [
        "bn/batch_normalization/gamma:0",
        "bn/batch_normalization/beta:0",
        "bn/batch_normalization/moving_mean:0",
        "bn/batch_normalization/moving_variance:0",
    ]
    assert [v.name for v in tf.trainable_variables()] == names[:2]
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2  # the inference branch adds none
    beta, mm, mv = _var(names[1]), _var(names[2]), _var(names[3])
    xv = RNG.normal(loc=2.0, scale=3.0, size=(5, 3, 2, 4))
    mean, var = xv.mean(axis=(0, 1, 2)), xv.var(axis=(0, 1, 2))
    eps = 1e-3
    r = RNG.normal(size=xv.shape)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf.assign(beta, [0.1, 0.2, 0.3, 0.4]))
        out = sess.run(train, {x: xv})
        np.testing.assert_allclose(
            out, 1.5 * (xv - mean) / np.sqrt(var + eps) + [0.1, 0.2, 0.3, 0.4], rtol=1e-10
        )
        # Before any update the inference branch uses the initial moving statistics.
        np.testing.assert_allclose(
            sess.run(infer, {x: xv}), 1.5 * xv / np.sqrt(1 + eps) + [0.1, 0.2, 0.3, 0.4]
        )
        sess.run(updates, {x: xv})
        sess.run(updates, {x: xv})
        want_mm = mean * (1 - 0.9**2)
        want_mv = 1 + (var - 1) * (1 - 0.9**2)
        np.testing.assert_allclose(sess.run(mm), want_mm, rtol=1e-10)
        np.testing.assert_allclose(sess.run(mv), want_mv, rtol=1e-10)
        np.testing.assert_allclose(
            sess.run(infer, {x: xv}),
            1.5 * (xv - want_mm) / np.sqrt(want_mv + eps) + [0.1, 0.2, 0.3, 0.4],
            rtol=1e-10,
        )
        _directional_check(sess, tf.reduce_sum(train * r), {x: xv}, [x], rtol=1e-4)


def test_batch_normalization_update_ops_with_train_op() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    h = tf.layers.batch_normalization(tf.layers.dense(x, 3), training=True)
    loss = tf.reduce_mean(tf.square(h - 1.0))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    mm = _var("batch_normalization/moving_mean:0")
    xv = RNG.normal(size=(8, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        pre = sess.run(tf.layers.dense(x, 3, name="dense", reuse=True), {x: xv})
        sess.run(train_op, {x: xv})
        np.testing.assert_allclose(sess.run(mm), 0.01 * pre.mean(0), rtol=1e-4, atol=1e-7)


def test_batch_normalization_axis_and_unsupported() -> None:
    x = tf.placeholder(tf.float64, [None, 3, 5])
    y = tf.layers.batch_normalization(x, axis=1, training=True, epsilon=0.0, center=False, scale=False)
    assert [v.shape.as_list() for v in tf.global_variables()] == [[3], [3]]
    xv = RNG.normal(size=(4, 3, 5))
    m, v = xv.mean(axis=(0, 2), keepdims=True), xv.var(axis=(0, 2), keepdims=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(y, {x: xv}), (xv - m) / np.sqrt(v), rtol=1e-10)
    with pytest.raises(NotImplementedError, match="renorm"):
        tf.layers.batch_normalization(x, renorm=True)


def test_layer_names_unique_per_graph() -> None:
    x = tf.placeholder(tf.float32, [None, 4, 4, 1])
    layers = [
        tf.layers.Conv2D(2, 3, padding="same"),
        tf.layers.Conv2D(2, 3, padding="same"),
        tf.layers.MaxPooling2D(2, 2),
        tf.layers.BatchNormalization(),
    ]
    assert [layer.name for layer in layers] == ["conv2d", "conv2d_1", "max_pooling2d", "batch_normalization"]
    for layer in layers:
        x = layer(x)
    assert "conv2d_1/kernel:0" in [v.name for v in tf.global_variables()]
    tf.reset_default_graph()
    assert tf.layers.Dense(1).name == "dense"
    build: Callable[[], Any] = tf.layers.Dense
    assert build(1).name == "dense_1"
