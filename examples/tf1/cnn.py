"""A small convolutional network in the style of TF1's "Deep MNIST for experts".

conv 5x5x1x8 -> relu -> 2x2 max pool -> conv 5x5x8x16 -> relu -> 2x2 max pool
-> fully connected 7*7*16 -> 64 with dropout -> fully connected 64 -> 10,
trained with Adam on softmax cross entropy.  The tutorial's layer widths
(32, 64, 1024) are shrunk so the NumPy backend trains it in seconds.

Run:  python examples/tf1/cnn.py [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist


def weight_variable(shape: list[int]) -> tf.Variable:
    return tf.Variable(tf.truncated_normal(shape, stddev=0.1))


def bias_variable(shape: list[int]) -> tf.Variable:
    return tf.Variable(tf.constant(0.1, shape=shape))


def conv2d(x: tf.Tensor, W: tf.Variable) -> tf.Tensor:
    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")


def max_pool_2x2(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")


def main(
    steps: int = 300,
    batch_size: int = 50,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 1e-3,
) -> dict:
    """Train for ``steps`` Adam steps and return the metrics."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed, flatten=False)

    x = tf.placeholder(tf.float32, shape=[None, 28, 28, 1], name="x")
    y_ = tf.placeholder(tf.float32, shape=[None, 10], name="y_")
    keep_prob = tf.placeholder(tf.float32, name="keep_prob")

    W_conv1 = weight_variable([5, 5, 1, 8])
    b_conv1 = bias_variable([8])
    h_pool1 = max_pool_2x2(tf.nn.relu(conv2d(x, W_conv1) + b_conv1))

    W_conv2 = weight_variable([5, 5, 8, 16])
    b_conv2 = bias_variable([16])
    h_pool2 = max_pool_2x2(tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2))

    W_fc1 = weight_variable([7 * 7 * 16, 64])
    b_fc1 = bias_variable([64])
    h_pool2_flat = tf.reshape(h_pool2, [-1, 7 * 7 * 16])
    h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, W_fc1) + b_fc1)
    h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)

    W_fc2 = weight_variable([64, 10])
    b_fc2 = bias_variable([10])
    y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2

    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y_, logits=y_conv))
    train_step = tf.train.AdamOptimizer(learning_rate).minimize(cross_entropy)
    correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

    batches = BatchIterator(data.x_train, data.y_train, batch_size=batch_size, seed=seed).epochs(
        -(-steps * batch_size // len(data.x_train))
    )
    # Losses are measured without dropout (keep_prob 1), as the tutorial evaluates.
    train_eval = {x: data.x_train, y_: data.y_train, keep_prob: 1.0}
    test_eval = {x: data.x_test, y_: data.y_test, keep_prob: 1.0}
    start = time.perf_counter()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_loss = sess.run(cross_entropy, feed_dict=train_eval)
        for i in range(1, steps + 1):
            bx, by = next(batches)
            if verbose and i % 50 == 0:
                train_accuracy = sess.run(accuracy, feed_dict={x: bx, y_: by, keep_prob: 1.0})
                print(f"step {i}, training accuracy {train_accuracy:g}")
            sess.run(train_step, feed_dict={x: bx, y_: by, keep_prob: 0.5})
        final_loss = sess.run(cross_entropy, feed_dict=train_eval)
        test_loss, test_acc = sess.run([cross_entropy, accuracy], feed_dict=test_eval)
    return {
        "initial_loss": float(initial_loss),
        "final_loss": float(final_loss),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
        "seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    metrics = main(steps=args.steps, seed=args.seed)
    print(
        f"train loss {metrics['initial_loss']:.4f} -> {metrics['final_loss']:.4f} in {metrics['seconds']:.1f} s"
    )
    print(f"test accuracy: {metrics['test_accuracy']:.4f}")
