"""An LSTM classifier on the bundled digits, each 28x28 image read row by row (28 time
steps of 28 pixels) by ``tf.nn.dynamic_rnn``, written as a TF1 program.

Run:  python3 examples/rnn/lstm_digits.py [--epochs 5] [--units 64] [--batch-size 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import graphc as tf

try:  # a scikit-learn dependency (the examples extra)
    from threadpoolctl import threadpool_limits
except ImportError:  # without it BLAS keeps its default threads
    threadpool_limits = None


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """One BLAS thread: the loop body's matrices are small, and on a busy machine
    OpenBLAS's spinning worker threads made each of its matmuls ~100x slower."""
    return threadpool_limits(limits=1, user_api="blas") if threadpool_limits else contextlib.nullcontext()


def main(
    epochs: int = 5,
    steps: int | None = None,
    units: int = 64,
    batch_size: int = 64,
    learning_rate: float = 5e-3,
    seed: int = 0,
    verbose: bool = True,
) -> dict:
    """Train for ``epochs`` epochs (or exactly ``steps`` steps) and return the figures."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = tf.datasets.digits(seed=seed)
    x_train, x_test = x_train.reshape(-1, 28, 28), x_test.reshape(-1, 28, 28)

    x = tf.placeholder(tf.float32, [None, 28, 28], name="rows")  # [batch, time, pixels]
    labels = tf.placeholder(tf.int64, [None], name="labels")
    cell = tf.nn.rnn_cell.BasicLSTMCell(units)
    _, state = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)  # variables rnn/basic_lstm_cell/*
    logits = tf.layers.dense(state.h, 10, name="logits")
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))

    rng = np.random.default_rng(seed)
    per_epoch = len(x_train) // batch_size
    if steps is None:
        steps = epochs * per_epoch
    step_times: list[float] = []
    with _one_blas_thread(), tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_loss = float(sess.run(loss, {x: x_test, labels: y_test}))
        order = rng.permutation(len(x_train))
        for step in range(steps):
            k = step % per_epoch
            if k == 0 and step:
                order = rng.permutation(len(x_train))
            idx = order[k * batch_size : (k + 1) * batch_size]
            start = time.perf_counter()
            _, batch_loss = sess.run([train_op, loss], {x: x_train[idx], labels: y_train[idx]})
            step_times.append(time.perf_counter() - start)
            if verbose and (step + 1) % per_epoch == 0:
                acc = sess.run(accuracy, {x: x_test, labels: y_test})
                print(
                    f"epoch {(step + 1) // per_epoch}: batch loss {batch_loss:.4f}, test accuracy {acc:.4f}"
                )
        test_loss, test_acc = sess.run([loss, accuracy], {x: x_test, labels: y_test})
    # The first step compiles; the median of the others is the step time.
    step_time = float(np.median(step_times[1:])) if len(step_times) > 1 else float(step_times[0])
    if verbose:
        print(f"test accuracy: {test_acc:.4f}")
        print(f"step time: {step_time * 1e3:.1f} ms (batch {batch_size}, {units} units, 28 steps)")
    return {
        "steps": steps,
        "initial_loss": initial_loss,
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
        "step_time_s": step_time,
        "variables": sorted(v.op.name for v in tf.trainable_variables()),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    main(epochs=a.epochs, units=a.units, batch_size=a.batch_size, seed=a.seed)
