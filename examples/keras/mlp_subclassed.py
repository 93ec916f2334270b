"""The 784-64-64-10 MLP as a subclassed tf.keras.Model, trained with a TF1 Session loop.

What it shows:

- a ``tf.keras.Model`` subclass: layers made in ``__init__``, applied in ``call(x)``;
- calling the model on tensors like a function: once on a ``tf.data`` iterator's batches
  (the training graph) and once on a placeholder (evaluation); both calls share the same
  weights;
- the loss (``tf.losses.sparse_softmax_cross_entropy`` on the logits) and an
  ``AdamOptimizer`` train op over ``model.trainable_weights``, run step by step with
  ``tf.Session.run`` until the dataset's iterator is exhausted
  (``tf.errors.OutOfRangeError``), as TF1 input pipelines end.

Run:  python examples/keras/mlp_subclassed.py [--epochs 10] [--batch-size 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as tf
from graphc import datasets


class MLP(tf.keras.Model):
    """784-64-64-10 with ReLU; ``call`` returns the logits (the softmax is applied by the
    loss, and by ``predict_proba`` for probabilities)."""

    def __init__(self, hidden: int = 64, classes: int = 10) -> None:
        super().__init__(name="mlp")
        self.hidden1 = tf.keras.layers.Dense(hidden, activation="relu")
        self.hidden2 = tf.keras.layers.Dense(hidden, activation="relu")
        self.logits = tf.keras.layers.Dense(classes)

    def call(self, x):  # noqa: ANN001, ANN201
        return self.logits(self.hidden2(self.hidden1(x)))

    def predict_proba(self, x):  # noqa: ANN001, ANN201
        return tf.nn.softmax(self(x))


def main(
    epochs: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 1e-3,
) -> dict:
    """Train for ``epochs`` passes over the training split, evaluate, return the metrics."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = datasets.digits(flatten=True)  # [N, 784] in [0, 1]

    # Training input: shuffled batches, `epochs` passes, pulled by each run of train_op.
    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=seed)
        .batch(batch_size)
        .repeat(epochs)
    )
    images, labels = dataset.make_one_shot_iterator().get_next()

    model = MLP()
    loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=model(images))
    global_step = tf.train.get_or_create_global_step()
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(
        loss, global_step=global_step, var_list=model.trainable_weights
    )

    # Evaluation input: the same model (same weights) called on a placeholder.
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    probs = model.predict_proba(x)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(probs, 1), y), tf.float32))
    test_feed = {x: x_test, y: y_test}

    steps_per_epoch = -(-len(x_train) // batch_size)
    losses = []
    start = time.perf_counter()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_accuracy = sess.run(accuracy, test_feed)
        while True:
            try:
                _, batch_loss = sess.run([train_op, loss])
            except tf.errors.OutOfRangeError:
                break
            losses.append(batch_loss)
            if verbose and len(losses) % steps_per_epoch == 0:
                print(
                    f"epoch {len(losses) // steps_per_epoch}: mean batch loss "
                    f"{np.mean(losses[-steps_per_epoch:]):.4f}, "
                    f"test accuracy {sess.run(accuracy, test_feed):.4f}"
                )
        test_accuracy = sess.run(accuracy, test_feed)
        final_step = sess.run(global_step)
        compiles = sess.stats["compiles"]
    return {
        "steps": int(final_step),
        "steps_per_epoch": steps_per_epoch,
        "first_epoch_loss": float(np.mean(losses[:steps_per_epoch])),
        "last_epoch_loss": float(np.mean(losses[-steps_per_epoch:])),
        "initial_test_accuracy": float(initial_accuracy),
        "test_accuracy": float(test_accuracy),
        "weights": [w.name for w in model.weights],
        "session_compiles": compiles,
        "seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    m = main(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    print(
        f"{m['steps']} training steps in {m['seconds']:.1f} s; "
        f"{m['session_compiles']} programs compiled (no on-disk compile cache yet)"
    )
    print(f"test accuracy: {m['test_accuracy']:.4f}")
