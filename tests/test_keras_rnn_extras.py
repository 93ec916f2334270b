"""Keras recurrent layers' dropout / recurrent_dropout, masking, stateful=True and
unroll=True (graphc.keras.recurrent), against a NumPy implementation of Keras's equations
(TF1 1.15's SimpleRNNCell, LSTMCell and GRUCell with their dropout masks, and K.rnn's
masking: a masked step keeps the previous states and output), on the NumPy and the LLVM
backends. Dropout masks are random: each test fetches the masks the layer drew in the
same run and checks both the masks (values, shapes, one per gate or one for all) and the
outputs computed with them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends

layers = tf.keras.layers
BACKENDS = [b for b in ("numpy", "llvm") if b in available_backends()]
RNG = np.random.default_rng(5)
B, T, D, H = 3, 4, 2, 3


def _hs(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def np_keras_rnn(
    kind: str,
    x: np.ndarray,
    w: list[np.ndarray],
    dp: list[np.ndarray] | None = None,
    rdp: list[np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    init: list[np.ndarray] | None = None,
    reset_after: bool = False,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Keras's cells over x [B, T, D] (implementation 1: one mask per gate), K.rnn's masking.
    Returns (outputs [B, T, H], final states, last output)."""
    k, u, b = (np.asarray(a, np.float64) for a in w)
    n = u.shape[0]
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    states = (
        [np.asarray(s, np.float64) for s in init]
        if init
        else [np.zeros((x.shape[0], n))] * (2 if kind == "LSTM" else 1)
    )
    prev_out = np.zeros((x.shape[0], n))
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t].astype(np.float64)
        h = states[0]
        xg = [xt * dp[g] for g in range(gates)] if dp is not None else [xt] * gates
        hg = [h * rdp[g] for g in range(gates)] if rdp is not None else [h] * gates
        kk = np.split(k, gates, axis=1)
        uu = np.split(u, gates, axis=1)
        if kind == "SimpleRNN":
            h2 = np.tanh(xg[0] @ k + b + hg[0] @ u)
            new = [h2]
        elif kind == "LSTM":
            bb = np.split(b, 4)
            i = _hs(xg[0] @ kk[0] + bb[0] + hg[0] @ uu[0])
            f = _hs(xg[1] @ kk[1] + bb[1] + hg[1] @ uu[1])
            c = f * states[1] + i * np.tanh(xg[2] @ kk[2] + bb[2] + hg[2] @ uu[2])
            o = _hs(xg[3] @ kk[3] + bb[3] + hg[3] @ uu[3])
            h2 = o * np.tanh(c)
            new = [h2, c]
        else:
            b_in, b_rec = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))
            bi, br = np.split(b_in, 3), np.split(b_rec, 3)
            xz, xr, xh = (xg[g] @ kk[g] + bi[g] for g in range(3))
            z = _hs(xz + hg[0] @ uu[0] + br[0])
            r = _hs(xr + hg[1] @ uu[1] + br[1])
            if reset_after:
                hh = np.tanh(xh + r * (hg[2] @ uu[2] + br[2]))
            else:
                hh = np.tanh(xh + (r * hg[2]) @ uu[2])
            h2 = z * h + (1 - z) * hh
            new = [h2]
        if mask is not None:
            keep = mask[:, t][:, None]
            h2 = np.where(keep, h2, prev_out)
            new = [np.where(keep, a, s) for a, s in zip(new, states)]
        states, prev_out = new, h2
        outs.append(h2)
    return np.stack(outs, 1), states, prev_out


def _weights(sess: tf.Session, layer: Any, reset_after: bool = False) -> list[np.ndarray]:
    """The layer's weights, with a random bias (so that the bias's use is checked)."""
    w = sess.run(layer.weights)
    w[2] = RNG.standard_normal(w[2].shape).astype(np.float32)
    layer.weights[2].load(w[2], sess)
    return w


def _check_masks(masks: list[np.ndarray], rate: float, shape: tuple[int, ...], distinct: bool) -> None:
    for m in masks:
        assert m.shape == shape
        assert np.all(np.isclose(m, 0) | np.isclose(m, 1 / (1 - rate)))
    if len(masks) > 1:
        same = all(np.array_equal(masks[0], m) for m in masks[1:])
        assert same != distinct


# -- dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("backend", "kind", "kwargs"),
    [
        ("llvm", "SimpleRNN", {}),
        ("llvm", "LSTM", {}),
        ("numpy", "LSTM", {"implementation": 2}),
        ("llvm", "GRU", {}),
        ("numpy", "GRU", {"reset_after": True}),
    ],
)
def test_dropout_masks_drawn_once_per_call_and_applied_as_keras(
    backend: str, kind: str, kwargs: dict
) -> None:
    if backend not in BACKENDS:
        pytest.skip(f"the {backend} backend is not available")
    xs = RNG.standard_normal((B, T, D)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, T, D])
    layer = getattr(layers, kind)(H, dropout=0.5, recurrent_dropout=0.25, return_sequences=True, **kwargs)
    y = layer(x, training=True)
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    assert len(layer.dropout_masks) == gates and len(layer.recurrent_dropout_masks) == gates
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        w = _weights(sess, layer)
        got, dp, rdp = sess.run([y, layer.dropout_masks, layer.recurrent_dropout_masks], {x: xs})
    distinct = gates > 1 and kwargs.get("implementation", 1) == 1
    _check_masks(dp, 0.5, (B, D), distinct)
    _check_masks(rdp, 0.25, (B, H), distinct)
    ref, _, _ = np_keras_rnn(kind, xs, w, dp, rdp, reset_after=kwargs.get("reset_after", False))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training_and_a_training_tensor_selects_each_run() -> None:
    xs = RNG.standard_normal((B, T, D)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, T, D])
    layer = layers.LSTM(H, dropout=0.4, recurrent_dropout=0.4)
    y_infer = layer(x)  # training=None outside a learning phase: inference
    assert layer.dropout_masks is None and layer.recurrent_dropout_masks is None
    y_false = layer(x, training=False)
    with tf.keras.backend.learning_phase_scope(True):
        layer(x)
        assert layer.dropout_masks is not None
    is_training = tf.placeholder(tf.bool, [])
    y_t = layer(x, training=is_training)
    masks = [*layer.dropout_masks, *layer.recurrent_dropout_masks]
    with tf.Session(backend="numpy") as sess:
        sess.run(tf.global_variables_initializer())
        w = _weights(sess, layer)
        a, b = sess.run([y_infer, y_false], {x: xs})
        off, off_masks = sess.run([y_t, masks], {x: xs, is_training: False})
        on, on_masks = sess.run([y_t, masks], {x: xs, is_training: True})
    plain = np_keras_rnn("LSTM", xs, w)[2]
    for got in (a, b, off):
        np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)
    assert all(np.all(m == 1) for m in off_masks)
    _check_masks(on_masks[:4], 0.4, (B, D), True)
    dropped = np_keras_rnn("LSTM", xs, w, on_masks[:4], on_masks[4:])[2]
    np.testing.assert_allclose(on, dropped, rtol=1e-5, atol=1e-5)
    assert not np.allclose(on, plain)


# -- masking -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kind", "go_backwards"), [("LSTM", False), ("GRU", True)])
def test_masked_steps_keep_the_previous_state_and_output(backend: str, kind: str, go_backwards: bool) -> None:
    xs = RNG.standard_normal((B, T, D)).astype(np.float32)
    mask = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0]], bool)  # masked first, middle, last, all
    n_states = 2 if kind == "LSTM" else 1
    init = [RNG.standard_normal((B, H)).astype(np.float32) for _ in range(n_states)]
    x = tf.placeholder(tf.float32, [None, T, D])
    m = tf.placeholder(tf.bool, [None, T])
    layer = getattr(layers, kind)(H, return_sequences=True, return_state=True, go_backwards=go_backwards)
    outs = layer(x, mask=m, initial_state=[tf.constant(s) for s in init])
    last = getattr(layers, kind)(H, go_backwards=go_backwards)
    y_last = last(x, mask=tf.cast(m, tf.float32))  # a float mask: nonzero is kept
    assert layer.compute_mask(x, m)[0] is m and last.compute_mask(x, m) is None
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        w = _weights(sess, layer)
        for v, value in zip(last.weights, w):
            v.load(value, sess)
        got, got_last = sess.run([outs, y_last], {x: xs, m: mask})
    seq, msk = (xs[:, ::-1], mask[:, ::-1]) if go_backwards else (xs, mask)
    ref_seq, ref_states, ref_last = np_keras_rnn(kind, seq, w, mask=msk, init=init)
    np.testing.assert_allclose(got[0], ref_seq, rtol=1e-5, atol=1e-5)
    for g, r in zip(got[1:], ref_states):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1][2], init[0][2], rtol=1e-6)  # all masked: the initial state
    ref_plain_last = np_keras_rnn(kind, seq, w, mask=msk)[2]
    np.testing.assert_allclose(got_last, ref_plain_last, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got_last[2], 0)  # never unmasked: the zero output


def test_masked_lstm_gradients_match_central_differences() -> None:
    xs = RNG.standard_normal((2, 3, D))
    mask = np.array([[1, 0, 1], [0, 1, 1]], bool)
    x = tf.constant(xs)
    layer = layers.LSTM(2, dtype="float64", return_sequences=True)
    y = layer(x, mask=tf.constant(mask))
    loss = tf.reduce_sum(tf.square(y))
    kernel = layer.weights[0]
    (grad,) = tf.gradients(loss, [kernel])
    with tf.Session(backend="numpy") as sess:
        sess.run(tf.global_variables_initializer())
        k0, g = sess.run([kernel, grad])
        num = np.zeros_like(k0)
        eps = 1e-6
        for idx in np.ndindex(*k0.shape):
            vals = []
            for sign in (1, -1):
                k = k0.copy()
                k[idx] += sign * eps
                kernel.load(k, sess)
                vals.append(sess.run(loss))
            num[idx] = (vals[0] - vals[1]) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


# -- stateful ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_stateful_layer_carries_its_states_across_runs_until_reset(backend: str) -> None:
    x1 = RNG.standard_normal((B, T, D)).astype(np.float32)
    x2 = RNG.standard_normal((B, T, D)).astype(np.float32)
    x = tf.placeholder(tf.float32, [B, T, D])
    layer = layers.LSTM(H, stateful=True, return_state=True)
    outs = layer(x)
    assert [v.shape.as_list() for v in layer.states] == [[B, H], [B, H]]
    assert len(layer.weights) == 3 and all(not v.trainable for v in layer.states)
    assert len(layer.updates) == 2
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        w = _weights(sess, layer)
        first = sess.run(outs, {x: x1})
        second = sess.run(outs, {x: x2})
        layer.reset_states()
        again = sess.run(outs, {x: x1})
        start = [RNG.standard_normal((B, H)).astype(np.float32) for _ in range(2)]
        layer.reset_states(start)
        from_start = sess.run(outs, {x: x2})
        kept = sess.run(layer.states)
    ref1 = np_keras_rnn("LSTM", x1, w)
    ref2 = np_keras_rnn("LSTM", x2, w, init=ref1[1])
    ref3 = np_keras_rnn("LSTM", x2, w, init=start)
    for got, ref in ((first, ref1), (second, ref2), (again, ref1), (from_start, ref3)):
        np.testing.assert_allclose(got[0], ref[2], rtol=1e-5, atol=1e-5)
        for g, r in zip(got[1:], ref[1]):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    for g, r in zip(kept, ref3[1]):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_stateful_in_a_sequential_model_and_its_errors() -> None:
    xs = RNG.standard_normal((2, T, D)).astype(np.float32)
    model = tf.keras.Sequential([layers.SimpleRNN(H, stateful=True, batch_input_shape=(2, T, D))])
    p1 = model.predict(xs, batch_size=2)
    p2 = model.predict(xs, batch_size=2)
    model.layers[0].reset_states()
    p3 = model.predict(xs, batch_size=2)
    w = model.layers[0].get_weights()
    r1 = np_keras_rnn("SimpleRNN", xs, w)
    np.testing.assert_allclose(p1, r1[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p2, np_keras_rnn("SimpleRNN", xs, w, init=r1[1])[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p3, p1, rtol=1e-6)
    with pytest.raises(ValueError, match="expected shape"):
        model.layers[0].reset_states([np.zeros((3, H))])
    with pytest.raises(ValueError, match="needs to know its batch size"):
        layers.GRU(H, stateful=True)(tf.placeholder(tf.float32, [None, T, D]))
    with pytest.raises(AttributeError, match="must be stateful"):
        layers.GRU(H).reset_states()


# -- unroll and the config -----------------------------------------------------------------------
def test_unroll_is_the_same_loop_and_needs_a_known_time_dimension() -> None:
    xs = RNG.standard_normal((B, T, D)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, T, D])
    layer = layers.GRU(H, unroll=True, return_sequences=True)
    y = layer(x)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _weights(sess, layer)
        got = sess.run(y, {x: xs})
    np.testing.assert_allclose(got, np_keras_rnn("GRU", xs, w)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unroll"):
        layers.GRU(H, unroll=True)(tf.placeholder(tf.float32, [None, None, D]))


def test_config_round_trips_the_new_arguments() -> None:
    layer = layers.LSTM(
        H, dropout=0.2, recurrent_dropout=0.1, stateful=True, unroll=True, implementation=2, return_state=True
    )
    cfg = layer.get_config()
    assert (
        cfg["dropout"],
        cfg["recurrent_dropout"],
        cfg["stateful"],
        cfg["unroll"],
        cfg["implementation"],
    ) == (
        0.2,
        0.1,
        True,
        True,
        2,
    )
    again = layers.LSTM.from_config(cfg)
    assert (again.dropout, again.recurrent_dropout, again.stateful, again.unroll, again.implementation) == (
        0.2,
        0.1,
        True,
        True,
        2,
    )
    assert "implementation" not in layers.SimpleRNN(H).get_config()
    with pytest.raises(ValueError, match="implementation"):
        layers.GRU(H, implementation=3)
