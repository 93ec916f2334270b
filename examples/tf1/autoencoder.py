"""A 784-128-32-128-784 sigmoid autoencoder on the digits, trained with RMSProp on MSE.

Run:  python examples/tf1/autoencoder.py [--steps 1500]
"""

from __future__ import annotations

import argparse

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist


def dense_sigmoid(x: tf.Tensor, n_out: int, name: str) -> tf.Tensor:
    with tf.variable_scope(name):
        n_in = x.shape[-1].value
        w = tf.get_variable("weights", [n_in, n_out], initializer=tf.random_normal_initializer(stddev=0.1))
        b = tf.get_variable("biases", [n_out], initializer=tf.zeros_initializer())
        return tf.nn.sigmoid(tf.matmul(x, w) + b)


def main(
    steps: int = 1500,
    batch_size: int = 64,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 1e-2,
) -> dict:
    """Train for ``steps`` RMSProp steps and return the reconstruction losses before and after."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed)

    x = tf.placeholder(tf.float32, [None, 784], name="x")
    with tf.variable_scope("encoder"):
        hidden = dense_sigmoid(x, 128, "layer1")
        code = dense_sigmoid(hidden, 32, "code")
    with tf.variable_scope("decoder"):
        hidden = dense_sigmoid(code, 128, "layer1")
        reconstruction = dense_sigmoid(hidden, 784, "reconstruction")
    loss = tf.reduce_mean(tf.pow(x - reconstruction, 2))
    train_op = tf.train.RMSPropOptimizer(learning_rate).minimize(loss)

    batches = BatchIterator(data.x_train, batch_size=batch_size, seed=seed).epochs(
        -(-steps * batch_size // len(data.x_train))
    )
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_loss = sess.run(loss, feed_dict={x: data.x_train})
        for step in range(1, steps + 1):
            (bx,) = next(batches)
            _, batch_loss = sess.run([train_op, loss], feed_dict={x: bx})
            if verbose and step % 250 == 0:
                print(f"step {step}: batch reconstruction mse {batch_loss:.5f}")
        final_loss = sess.run(loss, feed_dict={x: data.x_train})
        test_loss, test_codes = sess.run([loss, code], feed_dict={x: data.x_test})
    # A constant image equal to the mean digit is the trivial baseline the model must beat.
    mean_image = data.x_train.mean(axis=0)
    baseline_loss = float(((data.x_test - mean_image) ** 2).mean())
    return {
        "initial_loss": float(initial_loss),
        "final_loss": float(final_loss),
        "test_loss": float(test_loss),
        "mean_image_test_loss": baseline_loss,
        "code_shape": tuple(test_codes.shape),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    metrics = main(steps=args.steps, seed=args.seed)
    print(f"train reconstruction mse {metrics['initial_loss']:.5f} -> {metrics['final_loss']:.5f}")
    print(
        f"test reconstruction mse {metrics['test_loss']:.5f} "
        f"(mean-image baseline {metrics['mean_image_test_loss']:.5f})"
    )
