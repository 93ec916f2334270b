"""graphc.keras (tf.keras in TF1's graph mode): layers against NumPy, fit on the bundled
digits, one compiled program per step, evaluate/predict consistency, save/load,
summary, callbacks, the three ways of making a model."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.data import load_digits_mnist

keras = tf.keras
layers = tf.keras.layers
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bundled digits at their source resolution (8x8 = 64 features), which keeps
    training fast."""
    d = load_digits_mnist()

    def small(x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(-1, 8, 3, 8, 3).mean((2, 4)).reshape(-1, 64)

    return small(d.x_train), d.y_train.argmax(1), small(d.x_test), d.y_test.argmax(1)


def _mlp(hidden: int = 64, dropout: float = 0.0) -> Any:
    stack = [layers.Dense(hidden, activation="relu", input_shape=(64,))]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(10, activation="softmax"))
    return keras.Sequential(stack)


def _seed() -> None:
    np.random.seed(0)
    tf.set_random_seed(0)


# -- training ------------------------------------------------------------------------------------
def test_fit_digits_accuracy_one_program_per_step_and_consistency(digits: Any, capsys: Any) -> None:
    x, y, xt, yt = digits
    assert len(x) % 32 and len(xt) % 32  # the last batches are partial
    _seed()
    model = _mlp()
    model.compile(
        keras.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, batch_size=32, epochs=5, validation_data=(xt, yt), verbose=0)
    assert capsys.readouterr().out == ""
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    # One program for the training step and one for evaluation, whatever the batch size.
    assert model.compiled_programs == 2
    sess = keras.backend.get_session()
    compiles = sess.stats["compiles"]
    model.fit(x[:100], y[:100], batch_size=40, epochs=2, validation_data=(xt[:30], yt[:30]), verbose=0)
    assert model.compiled_programs == 2 and sess.stats["compiles"] == compiles
    loss, acc = model.evaluate(xt, yt, batch_size=50, verbose=0)
    assert model.compiled_programs == 2
    assert acc > 0.9
    probs = model.predict(xt, batch_size=100)
    assert model.compiled_programs == 3  # prediction is its own program
    assert probs.shape == (len(xt), 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert acc == pytest.approx(np.mean(probs.argmax(1) == yt), abs=1e-6)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(len(yt)), yt])), rel=1e-4)
    model.predict(xt[:7])
    assert model.compiled_programs == 3 and sess.stats["compiles"] == compiles + 1
    # The weights are graph variables, run in the backend's session.
    assert keras.backend.get_session() is sess
    names = [v.name for v in tf.global_variables()]
    assert names[:4] == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0", "dense_1/bias:0"]
    w = model.get_weights()
    np.testing.assert_array_equal(w[0], sess.run(tf.global_variables()[0]))


def test_progress_bar_and_one_line_per_epoch(capsys: Any) -> None:
    model = keras.Sequential([layers.Dense(1, input_dim=2)])
    model.compile("sgd", "mse", metrics=["mae"])
    xv, yv = RNG.normal(size=(10, 2)), RNG.normal(size=(10, 1))
    model.fit(xv, yv, batch_size=4, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "3/3" in out
    assert "loss=" in out and "mae=" in out
    model.fit(xv, yv, batch_size=4, epochs=2, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - loss: ")


def test_sgd_step_and_train_optimizer_objects() -> None:
    model = keras.Sequential([layers.Dense(1, use_bias=False, kernel_initializer="ones", input_shape=(3,))])
    model.compile(keras.optimizers.SGD(learning_rate=0.1), "mse")
    xv = RNG.normal(size=(8, 3)).astype(np.float32)
    yv = RNG.normal(size=(8, 1)).astype(np.float32)
    w0 = np.ones((3, 1), np.float32)
    loss = model.train_on_batch(xv, yv)
    assert loss == pytest.approx(np.mean((xv @ w0 - yv) ** 2), rel=1e-5)
    grad = 2 * xv.T @ (xv @ w0 - yv) / len(xv)
    np.testing.assert_allclose(model.get_weights()[0], w0 - 0.1 * grad, rtol=1e-5)
    # graphc.train optimizers are accepted too (Keras-in-TF1).
    model.compile(tf.train.GradientDescentOptimizer(0.1), keras.losses.MeanSquaredError())
    w1 = model.get_weights()[0]
    model.train_on_batch(xv, yv)
    grad = 2 * xv.T @ (xv @ w1 - yv) / len(xv)
    np.testing.assert_allclose(model.get_weights()[0], w1 - 0.1 * grad, rtol=1e-5)


def test_losses_and_metrics_against_numpy() -> None:
    logits = RNG.normal(size=(6, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = RNG.integers(0, 4, size=6)
    onehot = np.eye(4)[labels]
    p = tf.placeholder(tf.float64, [None, 4])
    z = tf.placeholder(tf.float64, [None, 4])
    b = tf.placeholder(tf.float64, [None, 1])
    bt = (RNG.uniform(size=(6, 1)) > 0.5).astype(np.float64)
    bp = RNG.uniform(0.05, 0.95, size=(6, 1))
    xent = -np.log(probs[np.arange(6), labels])
    fetches = {
        "sparse_probs": keras.losses.sparse_categorical_crossentropy(labels, p),
        "sparse_softmax": keras.losses.sparse_categorical_crossentropy(labels, tf.nn.softmax(z)),
        "sparse_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, z),
        "cat_probs": keras.losses.categorical_crossentropy(onehot, p),
        "cat_softmax": keras.losses.categorical_crossentropy(onehot, keras.activations.softmax(z)),
        "bce": keras.losses.binary_crossentropy(bt, b),
        "bce_logits": keras.losses.BinaryCrossentropy(from_logits=True)(bt, tf.log(b / (1 - b))),
        "mse": keras.losses.mse(onehot, p),
        "mae": keras.losses.get("mae")(onehot, p),
        "acc": keras.metrics.sparse_categorical_accuracy(labels, p),
        "cat_acc": keras.metrics.categorical_accuracy(onehot, p),
        "bin_acc": keras.metrics.binary_accuracy(bt, b),
    }
    with tf.Session() as sess:
        got = sess.run(fetches, {p: probs, z: logits, b: bp})
    bce = -(bt * np.log(bp) + (1 - bt) * np.log(1 - bp)).mean(1)
    np.testing.assert_allclose(got["sparse_probs"], xent, rtol=1e-6)
    np.testing.assert_allclose(got["sparse_softmax"], xent, rtol=1e-10)
    assert got["sparse_logits"] == pytest.approx(xent.mean(), rel=1e-10)
    np.testing.assert_allclose(got["cat_probs"], xent, rtol=1e-6)
    np.testing.assert_allclose(got["cat_softmax"], xent, rtol=1e-10)
    np.testing.assert_allclose(got["bce"], bce, rtol=1e-5)
    assert got["bce_logits"] == pytest.approx(bce.mean(), rel=1e-8)
    np.testing.assert_allclose(got["mse"], ((probs - onehot) ** 2).mean(1), rtol=1e-10)
    np.testing.assert_allclose(got["mae"], np.abs(probs - onehot).mean(1), rtol=1e-10)
    np.testing.assert_array_equal(got["acc"], probs.argmax(1) == labels)
    np.testing.assert_array_equal(got["cat_acc"], probs.argmax(1) == labels)
    np.testing.assert_array_equal(got["bin_acc"], ((bp > 0.5) == bt).mean(1))
    # The Softmax-logits path is the stable one.
    with tf.Session() as sess:
        big = sess.run(
            keras.losses.sparse_categorical_crossentropy([0], tf.nn.softmax(z)), {z: [[0.0, 200.0, 0, 0]]}
        )
    assert big[0] == pytest.approx(200.0)


# -- the three kinds of model ------------------------------------------------------------------
def test_functional_model_with_batch_norm_and_dropout(digits: Any) -> None:
    x, y, xt, yt = digits
    _seed()
    inputs = keras.Input(shape=(64,))
    h = layers.Dense(32, activation="relu")(inputs)
    h = layers.BatchNormalization(momentum=0.5)(h)
    h = layers.Dropout(0.2)(h)
    outputs = layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
    ]
    bn = model.layers[2]
    assert [v.name for v in bn.weights] == [
        "batch_normalization/gamma:0",
        "batch_normalization/beta:0",
        "batch_normalization/moving_mean:0",
        "batch_normalization/moving_variance:0",
    ]
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0)
    # The training graph updated the moving statistics; inference uses them.
    k, b, gamma, beta, mm, mv, k2, b2 = model.get_weights()
    assert not np.allclose(mm, 0) and not np.allclose(mv, 1)
    pre = np.maximum(xt[:20] @ k + b, 0)
    h_ref = gamma * (pre - mm) / np.sqrt(mv + 1e-3) + beta
    logits = h_ref @ k2 + b2
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    out = model.predict(xt[:20])
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(model.predict(xt[:20]), out)  # no dropout at inference
    # Dropout is on in the training graph: the same batch gives a different loss there.
    loss_eval = model.test_on_batch(xt[:64], yt[:64])[0]
    assert model.train_on_batch(xt[:64], yt[:64])[0] != pytest.approx(loss_eval, rel=1e-6)


class _Net(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = layers.Dense(16, activation="tanh")
        self.drop = layers.Dropout(0.5)
        self.out = layers.Dense(3)

    def call(self, x: Any, training: Any = None) -> Any:
        return self.out(self.drop(self.hidden(x), training=training))


def test_subclassed_model_fit_predict_and_weights() -> None:
    _seed()
    model = _Net()
    xv = RNG.normal(size=(40, 5)).astype(np.float32)
    yv = (xv[:, :3] * 2.0).astype(np.float32)
    model.compile(keras.optimizers.RMSprop(0.01), "mse")
    history = model.fit(xv, yv, batch_size=16, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert [w.name for w in model.trainable_weights] == [
        "dense/kernel:0",
        "dense/bias:0",
        "dense_1/kernel:0",
        "dense_1/bias:0",
    ]
    k, b, k2, b2 = model.get_weights()
    np.testing.assert_allclose(model.predict(xv), np.tanh(xv @ k + b) @ k2 + b2, rtol=1e-4, atol=1e-6)
    assert model.evaluate(xv, yv, verbose=0) == pytest.approx(
        np.mean((np.tanh(xv @ k + b) @ k2 + b2 - yv) ** 2), rel=1e-4
    )
    with pytest.raises(NotImplementedError, match="save_weights"):
        model.save("unused.gcm")


def test_deferred_sequential_build_and_errors() -> None:
    model = keras.Sequential()
    model.add(layers.Dense(4, activation="relu"))
    model.add(layers.Dense(2))
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)))
    out = model.predict(np.ones((5, 3)))
    assert out.shape == (5, 2) and model.built
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    with pytest.raises(ValueError, match="expected"):
        model.predict(np.ones((5, 4)))
    with pytest.raises(NotImplementedError, match="NCHW"):
        layers.Conv2D(2, 3, data_format="channels_first")


# -- layers -----------------------------------------------------------------------------------------
def test_embedding_reshape_activation_values_and_gradient() -> None:
    ids = tf.placeholder(tf.int32, [None, 3])
    emb = layers.Embedding(7, 4, embeddings_initializer="random_normal")
    e = emb(ids)
    flat = layers.Reshape((12,))(e)
    act = layers.Activation("tanh")(flat)
    assert e.shape.as_list() == [None, 3, 4] and flat.shape.as_list() == [None, 12]
    assert emb.embeddings.name == "embedding/embeddings:0"
    idv = np.array([[0, 3, 3], [6, 1, 0]])
    r = RNG.normal(size=(2, 12))
    (g,) = tf.gradients(tf.reduce_sum(act * r), [emb.embeddings])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        table, ev, av, gv = sess.run([emb.embeddings, e, act, g], {ids: idv})
    np.testing.assert_array_equal(ev, table[idv])
    np.testing.assert_allclose(av, np.tanh(table[idv].reshape(2, 12)), rtol=1e-6)
    upstream = (r * (1 - av**2)).reshape(2, 3, 4)
    want = np.zeros_like(table)
    np.add.at(want, idv, upstream)
    np.testing.assert_allclose(gv, want, rtol=1e-5, atol=1e-7)


def test_keras_layer_values_and_initializers_by_name() -> None:
    x = tf.placeholder(tf.float32, [None, 6, 6, 2])
    conv = layers.Conv2D(3, 3, padding="same", kernel_initializer="he_normal", bias_initializer="ones")
    pool = layers.AveragePooling2D()
    up = layers.Conv2DTranspose(2, 2, strides=2, kernel_initializer="glorot_normal")
    c = conv(x)
    p = pool(c)
    u = up(p)
    g = layers.GlobalAveragePooling2D()(u)
    assert [t.shape.as_list() for t in (c, p, u, g)] == [
        [None, 6, 6, 3],
        [None, 3, 3, 3],
        [None, 6, 6, 2],
        [None, 2],
    ]
    xv = RNG.normal(size=(2, 6, 6, 2)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        cv, pv, gv, kernel, bias = sess.run([c, p, g, conv.kernel, conv.bias], {x: xv})
    np.testing.assert_array_equal(bias, np.ones(3))
    assert 0.2 < kernel.std() < 0.8  # he_normal: stddev sqrt(2 / 18) ~ 0.33 (truncated)
    ref = np.zeros((2, 6, 6, 3))
    padded = np.pad(xv, [(0, 0), (1, 1), (1, 1), (0, 0)])
    for i in range(6):
        for j in range(6):
            ref[:, i, j] = np.tensordot(padded[:, i : i + 3, j : j + 3], kernel, axes=3)
    np.testing.assert_allclose(cv, ref + 1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pv, cv.reshape(2, 3, 2, 3, 2, 3).mean((2, 4)), rtol=1e-5)
    assert gv.shape == (2, 2)


# -- summary, saving ------------------------------------------------------------------------------
def test_summary_matches_keras_format() -> None:
    model = keras.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(16),
            layers.BatchNormalization(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "sequential"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    rows = [line for line in lines[4:-5] if line and line[0] not in "_="]
    assert [row[:29].strip() for row in rows] == [
        "conv2d (Conv2D)",
        "max_pooling2d (MaxPooling2D)",
        "flatten (Flatten)",
        "dense (Dense)",
        "batch_normalization (BatchNo",
        "dense_1 (Dense)",
    ]
    assert [row[29:55].strip() for row in rows] == [
        "(None, 6, 6, 4)",
        "(None, 3, 3, 4)",
        "(None, 36)",
        "(None, 16)",
        "(None, 16)",
        "(None, 10)",
    ]
    counts = [9 * 4 + 4, 0, 0, 36 * 16 + 16, 4 * 16, 16 * 10 + 10]
    assert [int(row[55:]) for row in rows] == counts
    assert lines[-4:] == [
        f"Total params: {sum(counts):,}",
        f"Trainable params: {sum(counts) - 32:,}",
        "Non-trainable params: 32",
        "_" * 65,
    ]
    assert all(len(line) == 65 for line in lines[1:4])


def test_save_load_identical_predictions_and_compile(tmp_path: Any, digits: Any) -> None:
    _, _, xt, _ = digits
    _seed()
    inputs = keras.Input(shape=(64,), name="pixels")
    a = layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))(inputs)
    b = layers.Dense(16, activation="sigmoid")(inputs)
    h = layers.Concatenate()([a, b])
    h = layers.BatchNormalization()(h)
    outputs = layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="two_paths")
    model.compile(keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy", metrics=["accuracy"])
    # Every weight gets a value of its own (the moving statistics too).
    model.set_weights([RNG.uniform(0.5, 1.5, size=w.shape) for w in model.get_weights()])
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert "Connected to" in lines[2] and any("dense[0][0]" in line for line in lines)
    want = model.predict(xt)
    path = os.path.join(tmp_path, "model.gcm")
    model.save(path)
    seq = _mlp(hidden=8)
    seq_want = seq.predict(xt)
    weights_path = os.path.join(tmp_path, "weights.gcm")
    seq.save_weights(weights_path)

    tf.reset_default_graph()
    loaded = keras.models.load_model(path)
    assert loaded.name == "two_paths" and loaded.inputs[0].op.name == "pixels"
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    np.testing.assert_array_equal(loaded.predict(xt), want)
    assert isinstance(loaded.optimizer, keras.optimizers.Adam) and loaded.metrics_names == [
        "loss",
        "accuracy",
    ]
    assert loaded.optimizer.get_config()["learning_rate"] == 0.005
    assert len(loaded.losses) == 1  # the regularizer came back
    fresh = _mlp(hidden=8)
    fresh.load_weights(weights_path)
    np.testing.assert_array_equal(fresh.predict(xt), seq_want)
    with pytest.raises(ValueError, match="weights only"):
        keras.models.load_model(weights_path)
    with pytest.raises(ValueError, match="layers"):
        fresh.load_weights(path)
    again = keras.models.model_from_json(fresh.to_json())
    assert [type(layer).__name__ for layer in again.layers] == ["Dense", "Dense"]
    assert again.layers[0].get_config()["batch_input_shape"] == [None, 64]


# -- callbacks ------------------------------------------------------------------------------------
def test_early_stopping_and_restore_best_weights() -> None:
    _seed()
    model = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    xv, yv = RNG.normal(size=(32, 2)), RNG.normal(size=(32, 1))
    seen: list[list[np.ndarray]] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    stop = keras.callbacks.EarlyStopping(
        monitor="loss", min_delta=100.0, patience=2, restore_best_weights=True
    )
    history = model.fit(xv, yv, batch_size=8, epochs=20, verbose=0, callbacks=[record, stop])
    # The first epoch sets the best; no later one improves by 100: stop after patience=2.
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 2
    for got, best in zip(model.get_weights(), seen[0]):
        np.testing.assert_array_equal(got, best)
    assert not np.array_equal(seen[2][0], seen[0][0])
    plain = keras.callbacks.EarlyStopping(monitor="val_loss", patience=50)
    history = model.fit(xv, yv, epochs=3, verbose=0, validation_split=0.25, callbacks=[plain])
    assert len(history.history["val_loss"]) == 3 and plain.stopped_epoch == 0


def test_model_checkpoint_and_tensorboard(tmp_path: Any) -> None:
    model = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    xv = RNG.normal(size=(16, 2))
    yv = xv @ np.array([[1.0], [-2.0]])
    ckpt = keras.callbacks.ModelCheckpoint(
        os.path.join(tmp_path, "m-{epoch:02d}.gcm"), monitor="loss", save_best_only=True
    )
    board = keras.callbacks.TensorBoard(log_dir=os.path.join(tmp_path, "logs"))
    history = model.fit(xv, yv, batch_size=4, epochs=3, verbose=0, callbacks=[ckpt, board])
    assert sorted(os.listdir(tmp_path)) == ["logs", "m-01.gcm", "m-02.gcm", "m-03.gcm"]
    restored = keras.models.load_model(os.path.join(tmp_path, "m-03.gcm"))
    np.testing.assert_array_equal(restored.predict(xv), model.predict(xv))
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(os.path.join(tmp_path, "logs"))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("loss")]
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-6)


def test_to_categorical_and_stdout_quiet_evaluate(capsys: Any) -> None:
    np.testing.assert_array_equal(keras.utils.to_categorical([[1], [0], [2]]), np.eye(3)[[1, 0, 2]])
    assert keras.utils.to_categorical([1, 3], num_classes=5).shape == (2, 5)
    model = keras.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    xv = RNG.normal(size=(9, 3))
    yv = keras.utils.to_categorical(RNG.integers(0, 2, size=9), 2)
    loss, acc = model.evaluate(xv, yv, verbose=0)
    probs = model.predict(xv)
    assert capsys.readouterr().out == ""
    assert acc == pytest.approx(np.mean(probs.argmax(1) == yv.argmax(1)))
    assert loss == pytest.approx(-np.mean(np.sum(yv * np.log(probs), 1)), rel=1e-5)
    buf = io.StringIO()
    model.summary(print_fn=lambda line: buf.write(line + "\n"))
    assert "Total params: 8" in buf.getvalue()


class _Scale(layers.Layer):
    """A custom layer: one weight per feature, and its own regularization loss."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(
            "scale", shape=[int(input_shape[-1])], initializer="ones", regularizer=keras.regularizers.l1(0.5)
        )
        self.built = True

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale


def test_custom_layer_and_models_called_on_tensors() -> None:
    inner = keras.Sequential(
        [_Scale(input_shape=(3,)), layers.Dense(2, kernel_initializer="ones")], name="inner"
    )
    assert [w.name for w in inner.weights] == [
        "private__scale/scale:0",
        "dense/kernel:0",
        "dense/bias:0",
    ]  # Keras names private classes so
    inputs = keras.Input(shape=(3,))
    outer = keras.Model(inputs, layers.Activation("relu")(inner(inputs)))
    x = tf.placeholder(tf.float32, [None, 3])
    y = outer(x)  # the recorded layer calls replayed on a new tensor, the same weights
    assert y.shape.as_list() == [None, 2] and len(tf.global_variables()) == 3
    xv = np.array([[1.0, -2.0, 0.5], [-1.0, -1.0, -1.0]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf.assign(inner.layers[0].scale, [2.0, 1.0, 4.0]))
        out, reg = sess.run([y, inner.losses[0]], {x: xv})
    np.testing.assert_allclose(
        out, np.maximum((xv * [2.0, 1.0, 4.0]).sum(1, keepdims=True), 0) * np.ones((1, 2))
    )
    assert reg == pytest.approx(0.5 * 7.0)
    assert outer.count_params() == 3 + 6 + 2
