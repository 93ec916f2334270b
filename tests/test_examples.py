"""Run each example (examples/tf1, examples/keras, examples/layers) briefly and check that
it really learns."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the examples train on sklearn's bundled digits")


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas():  # type: ignore[no-untyped-def]
    """Run BLAS on one thread: these matrices are small, and on a loaded 2-core machine
    OpenBLAS's spinning worker threads made a 64x784 @ 784x128 matmul ~100x slower."""
    threadpoolctl = pytest.importorskip("threadpoolctl")  # a scikit-learn dependency
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


EXAMPLES_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
EXAMPLES_DIR = os.path.join(EXAMPLES_ROOT, "tf1")


def load_example(name: str) -> ModuleType:
    """Import examples/tf1/<name>.py by path (the examples directory is not a package)."""
    if EXAMPLES_DIR not in sys.path:
        # save_restore.py imports softmax_regression.py as a sibling module.
        sys.path.insert(0, EXAMPLES_DIR)
    spec = importlib.util.spec_from_file_location(
        f"tf1_example_{name}", os.path.join(EXAMPLES_DIR, f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_from(folder: str, name: str) -> ModuleType:
    """Import examples/<folder>/<name>.py by path."""
    spec = importlib.util.spec_from_file_location(
        f"{folder}_example_{name}", os.path.join(EXAMPLES_ROOT, folder, f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_mnist() -> None:
    m = load_example("mlp_mnist").main(epochs=4, verbose=False)
    assert m["steps"] == 4 * 23  # 1438 training images in batches of 64
    assert m["global_step"] == m["steps"]
    assert m["initial_loss"] > 2.0  # ~ln(10) for an untrained 10-class softmax
    assert m["final_loss"] < 0.5 * m["initial_loss"]
    assert m["test_accuracy"] > 0.8


def test_mlp_mnist_explicit_steps_and_seed_reproducible() -> None:
    mlp = load_example("mlp_mnist")
    a = mlp.main(steps=30, seed=3, verbose=False)
    b = mlp.main(steps=30, seed=3, verbose=False)
    assert a["global_step"] == 30
    assert a["final_loss"] == b["final_loss"] and a["test_accuracy"] == b["test_accuracy"]
    assert a["final_loss"] < a["initial_loss"] - 0.5


def test_linear_regression() -> None:
    m = load_example("linear_regression").main(steps=150, verbose=False)
    # The all-zero predictor scores 0.1 (one-hot targets); a random small W starts near that.
    assert 0.09 < m["initial_loss"] < 0.12
    assert m["final_loss"] < 0.6 * m["initial_loss"]
    assert np.isfinite(m["test_loss"])
    assert m["test_accuracy"] > 0.6


def test_softmax_regression() -> None:
    m = load_example("softmax_regression").main(steps=100, verbose=False)
    assert m["initial_loss"] == pytest.approx(np.log(10.0), rel=1e-5)  # W, b start at zero
    assert m["final_loss"] < 0.3
    assert m["test_accuracy"] > 0.8


def test_cnn() -> None:
    m = load_example("cnn").main(steps=100, verbose=False)
    assert m["final_loss"] < 0.6 * m["initial_loss"]
    assert m["test_accuracy"] > 0.5


def test_autoencoder() -> None:
    m = load_example("autoencoder").main(steps=300, verbose=False)
    assert m["code_shape"] == (359, 32)
    assert m["final_loss"] < 0.5 * m["initial_loss"]
    # Beating the mean image means the 32-unit code carries information about each digit.
    assert m["test_loss"] < m["mean_image_test_loss"]


def test_gan_updates_are_isolated_and_training_moves_samples_towards_data() -> None:
    m = load_example("gan").main(steps=120, verbose=False)
    # Adam's first step moves every variable it owns by ~learning_rate and nothing else.
    assert m["d_step_generator_change"] == 0.0
    assert m["g_step_discriminator_change"] == 0.0
    assert m["d_step_discriminator_change"] > 1e-4
    assert m["g_step_generator_change"] > 1e-4
    assert m["final_d_loss"] < m["initial_d_loss"]
    assert m["final_mean_image_rmse"] < 0.9 * m["initial_mean_image_rmse"]
    assert all(np.isfinite(v) for k, v in m.items() if k.endswith("loss"))


def test_gan_var_lists_partition_trainable_variables() -> None:
    import graphc as tf

    gan = load_example("gan")
    with tf.Graph().as_default():
        model = gan.build_gan()
        d_names = {v.op.name for v in model["d_vars"]}
        g_names = {v.op.name for v in model["g_vars"]}
        assert d_names == {f"discriminator/{n}" for n in ("w1", "b1", "w2", "b2")}
        assert g_names == {f"generator/{n}" for n in ("w1", "b1", "w2", "b2")}
        assert {v.op.name for v in tf.trainable_variables()} == d_names | g_names

        rng = np.random.default_rng(0)
        feed = {
            model["x"]: rng.uniform(size=(8, 784)).astype(np.float32),
            model["z"]: rng.uniform(-1, 1, size=(8, gan.Z_DIM)).astype(np.float32),
        }
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            g0, d0 = sess.run(model["g_vars"]), sess.run(model["d_vars"])
            for _ in range(3):
                sess.run(model["d_train"], feed_dict=feed)
            g1, d1 = sess.run(model["g_vars"]), sess.run(model["d_vars"])
            for _ in range(3):
                sess.run(model["g_train"], feed_dict=feed)
            g2, d2 = sess.run(model["g_vars"]), sess.run(model["d_vars"])
    assert all(np.array_equal(a, b) for a, b in zip(g0, g1, strict=True))
    assert all(not np.array_equal(a, b) for a, b in zip(d0, d1, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(d1, d2, strict=True))
    assert all(not np.array_equal(a, b) for a, b in zip(g1, g2, strict=True))


def test_save_restore(tmp_path) -> None:  # noqa: ANN001
    m = load_example("save_restore").main(steps=40, verbose=False, checkpoint_dir=str(tmp_path))
    assert m["saved_path"] == os.path.join(str(tmp_path), "model.ckpt-40")
    assert m["latest_checkpoint"] == m["saved_path"]
    assert m["restored_step"] == 40 and m["final_step"] == 80
    assert m["predictions_identical"] and m["max_prediction_difference"] == 0.0
    assert m["restored_loss"] == m["saved_loss"]
    assert m["saved_loss"] < 0.5 * m["initial_loss"]
    assert m["final_loss"] < m["restored_loss"]
    # Stopping, saving, restoring and resuming must give exactly the same model as
    # training straight through on the same batches.
    straight = load_example("softmax_regression").main(steps=80, verbose=False)
    assert m["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-6, abs=1e-7)


# -- examples/keras ------------------------------------------------------------------------------
def test_keras_mlp_sequential_learns_and_times_its_compiles() -> None:
    m = load_from("keras", "mlp_sequential").main(epochs=3, verbose=0)
    assert set(m["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(m["history"]["loss"]) == 3 and m["history"]["loss"][-1] < 0.5 * m["history"]["loss"][0]
    assert m["test_accuracy"] >= 0.85
    cm = m["confusion_matrix"]
    assert cm.sum() == 359 and np.trace(cm) / cm.sum() == pytest.approx(m["test_accuracy"], abs=1e-6)
    assert 0.8 < m["precision"] <= 1.0 and 0.8 < m["recall"] <= 1.0
    # The model compiled one program per step (training, evaluation, prediction); the
    # session also compiled the variables' initializer and the confusion matrix.
    assert m["compiled_programs"] == 3 and m["session_compiles"] == 5
    first, later, compile_time = m["train_step_seconds"]
    assert first > later > 0 and compile_time == pytest.approx(first - later)
    parts = [m[k][2] for k in ("train_step_seconds", "eval_step_seconds", "predict_step_seconds")]
    assert m["compile_seconds"] == pytest.approx(sum(parts))


def test_keras_mlp_subclassed_session_loop() -> None:
    m = load_from("keras", "mlp_subclassed").main(epochs=3, verbose=False)
    assert m["steps"] == 3 * m["steps_per_epoch"] == 3 * 45  # 1438 images in batches of 32
    assert m["weights"] == [
        f"mlp/{d}/{w}:0" for d in ("dense", "dense_1", "dense_2") for w in ("kernel", "bias")
    ]
    assert m["initial_test_accuracy"] < 0.25
    assert m["last_epoch_loss"] < 0.5 * m["first_epoch_loss"]
    assert m["test_accuracy"] >= 0.85


# -- examples/layers -----------------------------------------------------------------------------
def test_layers_cnn_towers_share_variables_and_learn() -> None:
    m = load_from("layers", "cnn").main(steps=30, verbose=False)
    # Two towers, one set of variables.
    assert m["variables"] == [
        f"cnn/{layer}/{w}" for layer in ("conv1", "conv2", "fc1", "logits") for w in ("bias", "kernel")
    ]
    assert m["test_loss"] < 0.5 * m["initial_test_loss"]
    assert m["test_accuracy"] > 0.6  # chance is 0.1


def test_layers_autoencoder_reconstruction_error_falls() -> None:
    m = load_from("layers", "autoencoder").main(steps=150, verbose=False)
    assert m["code_shape"] == (359, 32)
    assert m["decoder_shares_weights"]
    assert m["test_mse"] < 0.5 * m["initial_mse"]
    mses = [mse for _, mse in m["curve"]]
    assert all(b < a for a, b in zip(mses, mses[1:]))
    # Well below the mean image: the code carries information about each digit.
    assert m["test_mse"] < 0.5 * m["mean_image_mse"]


def test_layers_dcgan_trains_both_networks(tmp_path) -> None:  # noqa: ANN001
    m = load_from("layers", "dcgan").main(steps=10, verbose=False, out_dir=str(tmp_path))
    assert all(np.isfinite(v) for v in m["d_losses"] + m["g_losses"])
    assert all(0.0 <= a <= 1.0 for a in m["d_accuracies"])
    assert 0.5 < m["final_d_accuracy"] <= 1.0  # the discriminator beats chance
    assert m["d_losses"][-1] < m["d_losses"][0]
    assert all(v > 0 for v in m["moving_mean_abs"]) and len(m["moving_mean_abs"]) == 2  # UPDATE_OPS ran
    samples = m["samples"]
    assert samples.shape == (36, 28, 28, 1) and np.all(np.abs(samples) <= 1.0)
    if importlib.util.find_spec("matplotlib") is not None:
        assert m["grid"] == os.path.join(str(tmp_path), "dcgan_samples.png")
        with open(m["grid"], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_rnn_lstm_digits_learns_in_a_few_steps() -> None:
    m = load_from("rnn", "lstm_digits").main(steps=25, units=32, verbose=False)
    assert m["variables"] == [
        "logits/bias",
        "logits/kernel",
        "rnn/basic_lstm_cell/bias",
        "rnn/basic_lstm_cell/kernel",
    ]
    assert m["test_loss"] < m["initial_loss"] - 0.3  # ~ln(10) at the start
    assert m["test_accuracy"] > 0.3  # chance is 0.1


def test_rnn_char_lm_loss_falls_and_it_samples() -> None:
    m = load_from("rnn", "char_lm").main(steps=40, units=64, sample_length=20, verbose=False)
    assert m["initial_loss"] > 0.8 * np.log(m["vocab"])  # near uniform at the start
    assert m["final_loss"] < m["initial_loss"] - 0.5
    assert m["sample"].startswith("The keeper ") and len(m["sample"]) == len("The keeper ") + 20
