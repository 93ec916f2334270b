"""Softmax regression on the digits: TF1's "MNIST for ML beginners" tutorial.

The tutorial's model, loss and optimiser are kept as written, including the
hand-made cross entropy ``-sum(y_ * log(y))`` (numerically naive, as in the
original; tf.nn.softmax_cross_entropy_with_logits_v2 is the robust form).

Run:  python examples/tf1/softmax_regression.py [--steps 1000]
"""

from __future__ import annotations

import argparse

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist


def build_model() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The tutorial's graph; returns (x, y_, y, cross_entropy, accuracy). Shared with save_restore.py."""
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    W = tf.Variable(tf.zeros([784, 10]), name="W")
    b = tf.Variable(tf.zeros([10]), name="b")
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    y_ = tf.placeholder(tf.float32, [None, 10], name="y_")
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    return x, y_, y, cross_entropy, accuracy


def main(steps: int = 1000, batch_size: int = 100, seed: int = 0, verbose: bool = True) -> dict:
    """Train for ``steps`` mini-batch steps of GradientDescentOptimizer(0.5) and return the metrics."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed)

    x, y_, _, cross_entropy, accuracy = build_model()
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)

    batches = BatchIterator(data.x_train, data.y_train, batch_size=batch_size, seed=seed).epochs(
        -(-steps * batch_size // len(data.x_train))
    )
    train_feed = {x: data.x_train, y_: data.y_train}
    sess = tf.InteractiveSession()
    tf.global_variables_initializer().run()
    initial_loss = sess.run(cross_entropy, feed_dict=train_feed)
    for step in range(1, steps + 1):
        batch_xs, batch_ys = next(batches)
        sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})
        if verbose and step % 200 == 0:
            print(f"step {step}: train cross entropy {sess.run(cross_entropy, feed_dict=train_feed):.4f}")
    final_loss = sess.run(cross_entropy, feed_dict=train_feed)
    test_acc = sess.run(accuracy, feed_dict={x: data.x_test, y_: data.y_test})
    sess.close()
    return {
        "initial_loss": float(initial_loss),
        "final_loss": float(final_loss),
        "test_accuracy": float(test_acc),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    metrics = main(steps=args.steps, seed=args.seed)
    print(f"train cross entropy {metrics['initial_loss']:.4f} -> {metrics['final_loss']:.4f}")
    print(f"test accuracy: {metrics['test_accuracy']:.4f}")
