"""Keras masks (graphc.keras.masking): Masking and Embedding(mask_zero=True) make them,
layers pass them on (TF1 1.15's rules), the recurrent layers use them, and compiled
models weight the loss and metrics by the output's mask. References: NumPy's Keras LSTM
(TF1 1.15's LSTMCell, hard sigmoid) run on each sequence with its masked steps left
out, and TF1 1.15's masked loss (sum over the number of elements) and metric (mean
weighted by the mask)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.keras.masking import get_mask
from graphc.runtime.backend import available_backends

layers = tf.keras.layers
BACKENDS = [b for b in ("numpy", "llvm") if b in available_backends()]
RNG = np.random.default_rng(11)
V, E, H, T = 10, 3, 4, 6
# Padding at the end, at the start, holes in the middle, and nothing but padding.
IDS = np.array(
    [[3, 1, 4, 0, 0, 0], [0, 0, 2, 7, 1, 8], [5, 0, 0, 9, 2, 0], [0, 0, 0, 0, 0, 0]], np.int32
)


def _hs(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def np_lstm_steps(x: np.ndarray, kernel: np.ndarray, rec: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras's LSTM over x [steps, D] from zero states: h after each step [steps, H]."""
    n = rec.shape[0]
    h, c = np.zeros(n), np.zeros(n)
    out = []
    for xt in x.astype(np.float64):
        z = xt @ kernel + h @ rec + bias
        i, f, g, o = (z[k * n : (k + 1) * n] for k in range(4))
        c = _hs(f) * c + _hs(i) * np.tanh(g)
        h = _hs(o) * np.tanh(c)
        out.append(h)
    return np.array(out).reshape(len(out), n)


def _reference_sequences(ids: np.ndarray, emb: np.ndarray, lstm_w: list[np.ndarray]) -> np.ndarray:
    """[B, T, H]: at an unmasked step the LSTM's h over the unmasked steps so far, at a
    masked step the previous one (zeros before the first), as Keras."""
    out = np.zeros((*ids.shape, lstm_w[1].shape[0]))
    for b, row in enumerate(ids):
        kept = np.flatnonzero(row)
        hs = np_lstm_steps(emb[row[kept]], *lstm_w)
        last = np.zeros(lstm_w[1].shape[0])
        j = 0
        for t in range(len(row)):
            if row[t] != 0:
                last = hs[j]
                j += 1
            out[b, t] = last
        assert j == len(kept)
    return out


def _randomize(model: tf.keras.Model) -> None:
    for layer in model.layers:
        layer.set_weights([RNG.normal(0.0, 0.6, w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_mask_zero_lstm_dense_equals_each_sequence_unpadded(backend: str) -> None:
    with tf.Session(backend=backend):
        model = tf.keras.Sequential(
            [layers.Embedding(V, E, mask_zero=True, input_length=T), layers.LSTM(H), layers.Dense(2)]
        )
        _randomize(model)
        got = model.predict(IDS)
        emb, lstm_w, (k, b) = (layer.get_weights() for layer in model.layers)
    seqs = _reference_sequences(IDS, emb[0], lstm_w)
    np.testing.assert_allclose(got, seqs[:, -1] @ k + b, rtol=1e-4, atol=1e-5)
    # The padded sequence without its mask is a different function: the test can fail.
    assert not np.allclose(seqs[0, -1], np_lstm_steps(emb[0][IDS[0]], *lstm_w)[-1], atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequence_output_keeps_the_mask_and_the_loss_and_metrics_are_weighted_by_it(backend: str) -> None:
    with tf.Session(backend=backend):
        model = tf.keras.Sequential(
            [
                layers.Embedding(V, E, mask_zero=True, input_length=T),
                layers.LSTM(H, return_sequences=True),
                layers.Dense(2),
            ]
        )
        _randomize(model)
        for layer in model.layers:
            m = get_mask(layer._inbound_nodes[0].outputs)
            assert m is not None and m.dtype == tf.bool and m.shape.as_list() == [None, T]
        got = model.predict(IDS)
        emb, lstm_w, (k, b) = (layer.get_weights() for layer in model.layers)
        model.compile("sgd", "mse", metrics=["mae"])
        y = RNG.normal(size=(len(IDS), T, 2)).astype(np.float32)
        loss, mae = model.evaluate(IDS, y, batch_size=len(IDS), verbose=0)
        # Targets at masked steps do not count.
        y2 = np.where((IDS != 0)[..., None], y, 100.0).astype(np.float32)
        loss2, mae2 = model.evaluate(IDS, y2, batch_size=len(IDS), verbose=0)
    want = _reference_sequences(IDS, emb[0], lstm_w) @ k + b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    mask = (IDS != 0).astype(np.float64)
    per_mse = ((got - y) ** 2).mean(-1)
    per_mae = np.abs(got - y).mean(-1)
    # TF1 1.15: the loss over all B*T elements, the metric over the unmasked ones.
    np.testing.assert_allclose(loss, (per_mse * mask).sum() / mask.size, rtol=1e-4)
    np.testing.assert_allclose(mae, (per_mae * mask).sum() / mask.sum(), rtol=1e-4)
    np.testing.assert_allclose([loss2, mae2], [loss, mae], rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_masking_layer_on_float_inputs(backend: str) -> None:
    x = RNG.normal(size=(3, 5, 2)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    x[2, 2] = 0.0
    x[2, 1, 0] = 0.0  # one feature zero: the step is kept
    keep = np.any(x != 0.0, axis=-1)
    with tf.Session(backend=backend) as sess:
        inp = tf.keras.Input(shape=(5, 2))
        masked = layers.Masking(0.0)(inp)
        seq = layers.LSTM(H, return_sequences=True)
        out = seq(masked)
        model = tf.keras.Model(inp, out)
        _randomize(model)
        got_masked, got_mask, got = sess.run([masked, get_mask(masked), out], {inp: x})
        w = seq.get_weights()
    np.testing.assert_array_equal(got_mask, keep)
    np.testing.assert_array_equal(got_masked, x * keep[..., None])
    for b in range(3):
        hs = np_lstm_steps(x[b][keep[b]], *w)
        np.testing.assert_allclose(got[b][keep[b]], hs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[2, 2], got[2, 1], rtol=1e-6)  # a masked step repeats the output


def test_masking_value_and_config() -> None:
    x = np.array([[[-1.0, -1.0], [2.0, -1.0], [0.0, 0.0]]], np.float32)
    layer = layers.Masking(mask_value=-1.0)
    out = layer(tf.constant(x))
    with tf.Session(backend="numpy") as sess:
        o, m = sess.run([out, get_mask(out)])
    np.testing.assert_array_equal(m, [[False, True, True]])
    np.testing.assert_array_equal(o, x * m[..., None])
    again = layers.deserialize(layers.serialize(layer))
    assert isinstance(again, layers.Masking) and again.mask_value == -1.0
    emb = layers.deserialize(layers.serialize(layers.Embedding(V, E, mask_zero=True)))
    assert emb.mask_zero and emb.supports_masking


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_with_masks_lowers_the_loss(backend: str) -> None:
    rng = np.random.default_rng(3)
    n = 16
    ids = rng.integers(1, V, size=(n, T)).astype(np.int32)
    lengths = rng.integers(1, T + 1, size=n)
    for i, length in enumerate(lengths):
        ids[i, length:] = 0
    labels = (ids == 1).any(axis=1).astype(np.int32)
    with tf.Session(backend=backend):
        model = tf.keras.Sequential(
            [
                layers.Embedding(V, 4, mask_zero=True, input_length=T),
                layers.LSTM(5),
                layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile(tf.keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit(ids, labels, batch_size=8, epochs=5, verbose=0, shuffle=False)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses


def test_functional_model_replays_and_reloads_with_its_masks() -> None:
    with tf.Session(backend="numpy"):
        inp = tf.keras.Input(shape=(T,), dtype="int32")
        h = layers.LSTM(H)(layers.Embedding(V, E, mask_zero=True)(inp))
        model = tf.keras.Model(inp, layers.Dense(2)(h))
        assert get_mask(h) is None  # the last output has no mask
        _randomize(model)
        want = model.predict(IDS)
        # Called on a new input: the recorded calls are replayed, the mask made again.
        inp2 = tf.keras.Input(shape=(T,), dtype="int32")
        outer = tf.keras.Model(inp2, model(inp2))
        np.testing.assert_allclose(outer.predict(IDS), want, rtol=1e-6)
        config = model.get_config()
        assert all("mask" not in node["kwargs"] for node in config["nodes"])
        again = tf.keras.models.model_from_json(model.to_json())
        again.set_weights(model.get_weights())
        np.testing.assert_allclose(again.predict(IDS), want, rtol=1e-6)
        emb, lstm_w, (k, b) = (layer.get_weights() for layer in model.layers[1:])
    ref = _reference_sequences(IDS, emb[0], lstm_w)[:, -1] @ k + b
    np.testing.assert_allclose(want, ref, rtol=1e-4, atol=1e-5)


def test_layers_that_do_not_support_masking_drop_the_mask() -> None:
    ids = tf.placeholder(tf.int32, [None, T])
    e = layers.Embedding(V, E, mask_zero=True)(ids)
    mask = get_mask(e)
    assert mask is not None
    # TF1 1.15: the call drops the mask; compute_mask given one raises Keras's TypeError.
    flat = layers.Flatten()
    f = flat(e)
    assert get_mask(f) is None
    assert get_mask(layers.Dense(2)(f)) is None
    with pytest.raises(TypeError, match="does not support masking, but was passed an input_mask"):
        flat.compute_mask(e, mask)
    assert flat.compute_mask(e, None) is None
    # Layers that support masking pass it on.
    assert get_mask(layers.Dense(2)(e)) is mask
    assert get_mask(layers.Dropout(0.5)(e)) is mask
    assert get_mask(layers.Activation("tanh")(e)) is mask
    # An explicit mask argument takes precedence over the inputs' mask.
    explicit = tf.placeholder(tf.bool, [None, T])
    assert get_mask(layers.LSTM(H, return_sequences=True)(e, mask=explicit)) is explicit
    assert get_mask(layers.Embedding(V, E)(ids)) is None


def test_merge_layers_combine_their_inputs_masks() -> None:
    a = tf.placeholder(tf.int32, [None, 4])
    b = tf.placeholder(tf.int32, [None, 4])
    ea = layers.Embedding(V, E, mask_zero=True)(a)
    eb = layers.Embedding(V, E, mask_zero=True)(b)
    plain = layers.Embedding(V, E)(b)
    added = layers.Add()([ea, eb])
    cat_features = layers.Concatenate()([ea, plain])
    cat_time = layers.Concatenate(axis=1)([ea, eb])
    assert get_mask(layers.Add()([plain, plain])) is None
    va = np.array([[1, 0, 2, 0], [0, 0, 3, 3]], np.int32)
    vb = np.array([[1, 1, 0, 0], [4, 0, 3, 0]], np.int32)
    with tf.Session(backend="numpy") as sess:
        sess.run(tf.global_variables_initializer())
        m_add, m_cat, m_time = sess.run(
            [get_mask(added), get_mask(cat_features), get_mask(cat_time)], {a: va, b: vb}
        )
    np.testing.assert_array_equal(m_add, (va != 0) & (vb != 0))
    np.testing.assert_array_equal(m_cat, va != 0)  # the unmasked input counts as all True
    np.testing.assert_array_equal(m_time, np.concatenate([va != 0, vb != 0], axis=1))
