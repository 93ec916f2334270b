"""A Keras Sequential 784-64-64-10 MLP trained on the bundled digits with graphc.

What it shows:

- ``tf.keras.Sequential`` of ``Dense`` layers (ReLU, softmax output), compiled with
  Adam and sparse categorical cross entropy, in TF1's graph mode;
- ``fit`` with a tqdm progress bar per epoch and ``validation_split``, then
  ``evaluate`` on the held-out test split;
- macro-averaged precision and recall from ``tf.confusion_matrix``;
- what compiling cost: graphc compiles each of the model's steps (training,
  evaluation, prediction) once into a program and reuses it for every batch size,
  so the script times the call that compiled each step against the same step's
  later calls.

The data are scikit-learn's 1797 8x8 digits in MNIST's layout (``graphc.datasets.digits()``:
28x28x1 images already scaled to [0, 1], 1438 train / 359 test), flattened to 784.

Run:  python examples/keras/mlp_sequential.py [--epochs 15] [--batch-size 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import graphc as tf
from graphc import datasets
from graphc.runtime.cache import default_cache

NUM_CLASSES = 10


class StepTimer(tf.keras.callbacks.Callback):
    """Times every training step and every end-of-epoch validation pass of ``fit``, and
    records how many programs the session compiled during each."""

    def on_train_begin(self, logs=None):  # noqa: ANN001, ANN201
        self.train_steps = []  # (seconds, programs compiled during the step)
        self.validations = []  # (seconds, programs compiled during the pass)
        # fit has built the training graph by now, Adam's slot variables included. Getting
        # the session initializes every variable not initialized yet (the weights and the
        # slots: one program), so the first training step compiles only itself.
        start = time.perf_counter()
        self.session = tf.keras.backend.get_session()
        self.init_seconds = time.perf_counter() - start
        self._compiles = self.session.stats["compiles"]

    def _compiled(self) -> int:
        before, self._compiles = self._compiles, self.session.stats["compiles"]
        return self._compiles - before

    def on_train_batch_begin(self, batch, logs=None):  # noqa: ANN001, ANN201
        self._compiled()
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):  # noqa: ANN001, ANN201
        self._end = time.perf_counter()
        self.train_steps.append((self._end - self._start, self._compiled()))

    def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001, ANN201
        # fit runs the validation pass between the epoch's last step and this call.
        self.validations.append((time.perf_counter() - self._end, self._compiled()))


def compile_seconds(calls: list[tuple[float, int]]) -> tuple[float, float, float]:
    """``(first, later, first - later)``: the wall time of the call that compiled, the
    median wall time of the calls that did not, and their difference (the compile)."""
    compiling = [s for s, n in calls if n == 1]
    cached = [s for s, n in calls if n == 0]
    if len(compiling) + len(cached) != len(calls) or len(compiling) != 1 or not cached:
        raise RuntimeError(f"expected one compiling call and some that reuse it, got {calls}")
    later = statistics.median(cached)
    return compiling[0], later, compiling[0] - later


def build_model() -> tf.keras.Sequential:
    return tf.keras.Sequential(
        [
            tf.keras.layers.Dense(64, activation="relu", input_shape=(784,)),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def macro_precision_recall(confusion: np.ndarray) -> tuple[float, float]:
    """Macro averages from a confusion matrix (rows: true class, columns: predicted).
    A class never predicted counts as precision 0, as scikit-learn's default does."""
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return float(precision.mean()), float(recall.mean())


def main(
    epochs: int = 15,
    batch_size: int = 32,
    seed: int = 0,
    verbose: int = 1,
    validation_split: float = 0.1,
    learning_rate: float = 1e-3,
) -> dict:
    """Train, evaluate and return the metrics (and the timings) as a dict."""
    tf.keras.backend.clear_session()  # a fresh default graph: layer names start at dense
    np.random.seed(seed)  # fit shuffles with NumPy's global generator, as Keras does
    tf.set_random_seed(seed)  # the weight initializers

    (x_train, y_train), (x_test, y_test) = datasets.digits()
    x_train = x_train.reshape(-1, 784)  # already float32 in [0, 1]
    x_test = x_test.reshape(-1, 784)

    model = build_model()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if verbose:
        model.summary()

    timer = StepTimer()
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=validation_split,
        callbacks=[timer],
        verbose=verbose,
    )
    fit_seconds = time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=verbose)

    # Prediction is a third step (the inference graph without the loss): its first call
    # compiles it, the second reuses it and must give the same probabilities.
    t0 = time.perf_counter()
    probs = model.predict(x_test, batch_size=batch_size)
    t1 = time.perf_counter()
    again = model.predict(x_test, batch_size=batch_size)
    t2 = time.perf_counter()
    assert np.array_equal(probs, again)
    y_pred = probs.argmax(axis=1)

    sess = tf.keras.backend.get_session()  # the session the model's steps run in
    confusion = sess.run(tf.confusion_matrix(y_test, y_pred, num_classes=NUM_CLASSES))
    precision, recall = macro_precision_recall(confusion)

    train_first, train_later, train_compile = compile_seconds(timer.train_steps)
    eval_first, eval_later, eval_compile = compile_seconds(timer.validations)
    predict_compile = (t1 - t0) - (t2 - t1)
    return {
        "epochs": epochs,
        "history": history.history,
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "precision": precision,
        "recall": recall,
        "confusion_matrix": confusion,
        "fit_seconds": fit_seconds,
        "train_step_seconds": (train_first, train_later, train_compile),
        "eval_step_seconds": (eval_first, eval_later, eval_compile),
        "predict_step_seconds": (t1 - t0, t2 - t1, predict_compile),
        "init_seconds": timer.init_seconds,
        "compile_seconds": train_compile + eval_compile + predict_compile,
        "compiled_programs": model.compiled_programs,
        "session_compiles": sess.stats["compiles"],
        "cache_hits": sess.stats.get("cache_hits", 0),
        "cache_misses": sess.stats.get("cache_misses", 0),
        "cache_dir": str(default_cache().directory),
        "backend": sess.backend.name,
        "session_runs": sess.stats["runs"],
    }


def report(m: dict) -> None:
    ms = 1000.0
    tr, ev, pr = m["train_step_seconds"], m["eval_step_seconds"], m["predict_step_seconds"]
    print(f"test accuracy: {m['test_accuracy']:.4f}  (test loss {m['test_loss']:.4f})")
    print(f"test precision (macro): {m['precision']:.4f}")
    print(f"test recall (macro): {m['recall']:.4f}")
    print(
        f"compile time: {m['compile_seconds'] * ms:.1f} ms for the model's 3 steps: lowering to the IR, "
        f"the optimisation passes and the {m['backend']} backend's compile (or its load from the cache), "
        "measured as the wall time of the call that compiled a step minus the median wall time of "
        "that step's later calls"
    )
    print(
        f"  training step:  {tr[2] * ms:6.1f} ms  (first step {tr[0] * ms:.1f} ms, later steps {tr[1] * ms:.1f} ms)"
    )
    print(
        f"  evaluation:     {ev[2] * ms:6.1f} ms  (first validation pass {ev[0] * ms:.1f} ms, "
        f"later passes {ev[1] * ms:.1f} ms)"
    )
    print(
        f"  prediction:     {pr[2] * ms:6.1f} ms  (first predict {pr[0] * ms:.1f} ms, second {pr[1] * ms:.1f} ms)"
    )
    print(
        f"compiled steps: {m['compiled_programs']} programs compiled in this process, each one reused "
        "for every later batch, partial last batches included"
    )
    hits, misses = m["cache_hits"], m["cache_misses"]
    if hits and not misses:
        where = f"all {hits} compiled units came from the on-disk compile cache"
    elif hits:
        where = f"{hits} compiled units came from the on-disk compile cache, {misses} were compiled and stored"
    elif misses:
        where = f"{misses} compiled units were compiled and stored in the on-disk compile cache (a second run loads them)"
    else:
        where = f"the {m['backend']} backend keeps no compiled code on disk"
    print(f"backend: {m['backend']}; {where} ({m['cache_dir']})")
    print(
        f"session: {m['session_compiles']} programs compiled in all (the model's steps, the variables' "
        f"initializer ({m['init_seconds'] * ms:.1f} ms to compile and run) and the confusion matrix), "
        f"{m['session_runs']} runs; fit took {m['fit_seconds']:.1f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report(main(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed))
