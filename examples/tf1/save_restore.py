"""Checkpointing a TF1 model with tf.train.Saver.

Trains the softmax regression of softmax_regression.py for a while, saves it
with the global step in the checkpoint name, then builds the same graph anew
in a fresh tf.Graph (as a separate process would), restores the latest
checkpoint, checks that the restored model predicts exactly what the trained
one did, and continues training from there.

Run:  python examples/tf1/save_restore.py [--steps 200] [--checkpoint-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from softmax_regression import build_model  # noqa: E402


def _build_training_graph() -> tuple:
    x, y_, y, cross_entropy, accuracy = build_model()
    global_step = tf.train.get_or_create_global_step()
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy, global_step=global_step)
    return x, y_, y, cross_entropy, accuracy, global_step, train_step


def _train(sess: tf.Session, graph: tuple, batches, steps: int) -> None:  # noqa: ANN001
    x, y_, _, _, _, _, train_step = graph
    for _ in range(steps):
        bx, by = next(batches)
        sess.run(train_step, feed_dict={x: bx, y_: by})


def main(
    steps: int = 200,
    batch_size: int = 100,
    seed: int = 0,
    verbose: bool = True,
    checkpoint_dir: str | None = None,
) -> dict:
    """Train ``steps`` steps, save, restore into a fresh graph, train ``steps`` more; return the metrics."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed)
    batches = BatchIterator(data.x_train, data.y_train, batch_size=batch_size, seed=seed).epochs(
        -(-2 * steps * batch_size // len(data.x_train))
    )
    tmp = None
    if checkpoint_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="graphc_save_restore_")
        checkpoint_dir = tmp.name
    try:
        # --- first "process": train and save ---------------------------------------------
        graph1 = _build_training_graph()
        x, y_, y, cross_entropy, _, global_step, _ = graph1
        saver = tf.train.Saver()
        train_feed = {x: data.x_train, y_: data.y_train}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            initial_loss = sess.run(cross_entropy, feed_dict=train_feed)
            _train(sess, graph1, batches, steps)
            saved_loss = sess.run(cross_entropy, feed_dict=train_feed)
            saved_predictions = sess.run(y, feed_dict={x: data.x_test})
            saved_path = saver.save(sess, os.path.join(checkpoint_dir, "model.ckpt"), global_step=global_step)
        if verbose:
            print(f"trained {steps} steps: loss {initial_loss:.4f} -> {saved_loss:.4f}; saved {saved_path}")

        # --- second "process": a fresh graph, restore, check, continue ---------------------
        with tf.Graph().as_default():
            graph2 = _build_training_graph()
            x, y_, y, cross_entropy, accuracy, global_step, _ = graph2
            saver = tf.train.Saver()
            latest = tf.train.latest_checkpoint(checkpoint_dir)
            train_feed = {x: data.x_train, y_: data.y_train}
            with tf.Session() as sess:
                saver.restore(sess, latest)
                restored_step = int(sess.run(global_step))
                restored_predictions = sess.run(y, feed_dict={x: data.x_test})
                restored_loss = sess.run(cross_entropy, feed_dict=train_feed)
                _train(sess, graph2, batches, steps)
                final_loss = sess.run(cross_entropy, feed_dict=train_feed)
                final_step = int(sess.run(global_step))
                test_acc = sess.run(accuracy, feed_dict={x: data.x_test, y_: data.y_test})
        if verbose:
            print(f"restored {latest} at global step {restored_step}; loss {restored_loss:.4f}")
            print(f"continued to step {final_step}: loss {final_loss:.4f}")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "saved_path": saved_path,
        "latest_checkpoint": latest,
        "initial_loss": float(initial_loss),
        "saved_loss": float(saved_loss),
        "restored_loss": float(restored_loss),
        "final_loss": float(final_loss),
        "restored_step": restored_step,
        "final_step": final_step,
        "predictions_identical": bool(np.array_equal(saved_predictions, restored_predictions)),
        "max_prediction_difference": float(np.max(np.abs(saved_predictions - restored_predictions))),
        "test_accuracy": float(test_acc),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default=None, help="default: a temporary directory")
    args = parser.parse_args()
    m = main(steps=args.steps, seed=args.seed, checkpoint_dir=args.checkpoint_dir)
    print(f"restored predictions identical: {m['predictions_identical']}")
    print(f"test accuracy: {m['test_accuracy']:.4f}")
