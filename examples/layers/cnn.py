"""A small convolutional network built with tf.layers, with a training and an evaluation tower.

What it shows:

- ``tf.layers.conv2d`` / ``max_pooling2d`` / ``flatten`` / ``dense`` / ``dropout``;
- ``training`` given as a Python bool: graphc (like TF1 code without ``tf.cond``) builds
  the network twice in one graph, a training tower (dropout on) and an evaluation tower
  (dropout off), which share every variable through ``tf.variable_scope(..., reuse=True)``;
- Adam on ``tf.losses.sparse_softmax_cross_entropy``, batches from NumPy.

conv 5x5, 8 filters -> 2x2 max pool -> conv 5x5, 16 filters -> 2x2 max pool -> dense 64
-> dropout 0.4 -> dense 10, on the bundled digits (28x28x1, ``graphc.datasets.digits()``).

Run:  python examples/layers/cnn.py [--steps 150] [--batch-size 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as tf
from graphc import datasets


def cnn(images, training: bool):  # noqa: ANN001, ANN201
    """The logits for ``images`` ``[N, 28, 28, 1]``; ``training`` switches dropout on."""
    net = tf.layers.conv2d(images, 8, 5, padding="same", activation=tf.nn.relu, name="conv1")
    net = tf.layers.max_pooling2d(net, 2, 2, name="pool1")  # 14x14x8
    net = tf.layers.conv2d(net, 16, 5, padding="same", activation=tf.nn.relu, name="conv2")
    net = tf.layers.max_pooling2d(net, 2, 2, name="pool2")  # 7x7x16
    net = tf.layers.flatten(net)
    net = tf.layers.dense(net, 64, activation=tf.nn.relu, name="fc1")
    net = tf.layers.dropout(net, rate=0.4, training=training)
    return tf.layers.dense(net, 10, name="logits")


def main(
    steps: int = 150,
    batch_size: int = 50,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 2e-3,
) -> dict:
    """Train for ``steps`` Adam steps; return the test loss and accuracy before and after."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = datasets.digits()  # NHWC, [0, 1], int64 labels

    x = tf.placeholder(tf.float32, [None, 28, 28, 1], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    with tf.variable_scope("cnn"):
        train_logits = cnn(x, training=True)
    with tf.variable_scope("cnn", reuse=True):  # the same variables, dropout off
        eval_logits = cnn(x, training=False)

    loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=train_logits)
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss)
    eval_loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=eval_logits)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(eval_logits, 1), y), tf.float32))

    rng = np.random.default_rng(seed)
    order = np.array([], dtype=np.int64)
    start = time.perf_counter()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_loss, initial_accuracy = sess.run([eval_loss, accuracy], {x: x_test, y: y_test})
        for step in range(1, steps + 1):
            if len(order) < batch_size:  # a new epoch: a new shuffled order
                order = np.concatenate([order, rng.permutation(len(x_train))])
            idx, order = order[:batch_size], order[batch_size:]
            _, batch_loss = sess.run([train_op, loss], {x: x_train[idx], y: y_train[idx]})
            if verbose and step % 50 == 0:
                print(f"step {step}: batch loss {batch_loss:.4f}")
        test_loss, test_accuracy = sess.run([eval_loss, accuracy], {x: x_test, y: y_test})
    return {
        "variables": sorted(v.op.name for v in tf.trainable_variables()),
        "initial_test_loss": float(initial_loss),
        "initial_test_accuracy": float(initial_accuracy),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    m = main(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    print(
        f"test loss {m['initial_test_loss']:.4f} -> {m['test_loss']:.4f}, test accuracy "
        f"{m['initial_test_accuracy']:.4f} -> {m['test_accuracy']:.4f}, {args.steps} steps in {m['seconds']:.1f} s"
    )
    print(f"test accuracy: {m['test_accuracy']:.4f}")
