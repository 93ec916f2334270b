"""Least-squares linear regression from pixels to one-hot targets, the classic TF1 way.

A linear model ``y = x W + b`` is fitted to the one-hot labels with
tf.losses.mean_squared_error and plain gradient descent on mini-batches fed
through feed_dict; the predicted class is the argmax of the regression output.
The step size must stay below 2 / (largest Hessian eigenvalue) ~ 0.11 on this
data (the squared loss has a constant Hessian), hence 0.05 rather than 0.5.

Run:  python examples/tf1/linear_regression.py [--steps 600]
"""

from __future__ import annotations

import argparse

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist


def main(
    steps: int = 600,
    batch_size: int = 100,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 0.05,
) -> dict:
    """Fit the regression for ``steps`` mini-batch steps and return the metrics."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed)

    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y = tf.placeholder(tf.float32, [None, 10], name="y")
    W = tf.Variable(tf.random_normal([784, 10], stddev=0.01), name="W")
    b = tf.Variable(tf.zeros([10]), name="b")
    pred = tf.matmul(x, W) + b
    loss = tf.losses.mean_squared_error(labels=y, predictions=pred)
    train_op = tf.train.GradientDescentOptimizer(learning_rate).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1)), tf.float32))

    batches = BatchIterator(data.x_train, data.y_train, batch_size=batch_size, seed=seed).epochs(
        -(-steps * batch_size // len(data.x_train))
    )
    train_feed = {x: data.x_train, y: data.y_train}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_loss = sess.run(loss, feed_dict=train_feed)
        for step in range(1, steps + 1):
            bx, by = next(batches)
            _, batch_loss = sess.run([train_op, loss], feed_dict={x: bx, y: by})
            if verbose and step % 100 == 0:
                print(f"step {step}: batch mse {batch_loss:.5f}")
        final_loss, train_acc = sess.run([loss, accuracy], feed_dict=train_feed)
        test_loss, test_acc = sess.run([loss, accuracy], feed_dict={x: data.x_test, y: data.y_test})
    return {
        "initial_loss": float(initial_loss),
        "final_loss": float(final_loss),
        "train_accuracy": float(train_acc),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    metrics = main(steps=args.steps, seed=args.seed)
    print(f"train mse {metrics['initial_loss']:.5f} -> {metrics['final_loss']:.5f}")
    print(f"test accuracy: {metrics['test_accuracy']:.4f}")
