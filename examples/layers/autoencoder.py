"""A dense autoencoder built with tf.layers: 784-128-32-128-784, trained to reconstruct digits.

What it shows:

- an encoder and a decoder made of ``tf.layers.dense`` under their own variable scopes,
  the decoder reused (``reuse=True``) to decode codes fed from outside the encoder;
- ``tf.losses.mean_squared_error`` between the input and the sigmoid reconstruction,
  minimised with Adam;
- the reconstruction MSE on the test split falling below what the mean training image
  scores, so the 32-number code carries information about each digit.

Run:  python examples/layers/autoencoder.py [--steps 600] [--batch-size 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as tf
from graphc import datasets

CODE_SIZE = 32


def encoder(x):  # noqa: ANN001, ANN201
    h = tf.layers.dense(x, 128, activation=tf.nn.relu, name="hidden")
    return tf.layers.dense(h, CODE_SIZE, activation=tf.nn.relu, name="code")


def decoder(code):  # noqa: ANN001, ANN201
    h = tf.layers.dense(code, 128, activation=tf.nn.relu, name="hidden")
    return tf.layers.dense(h, 784, activation=tf.nn.sigmoid, name="reconstruction")


def main(
    steps: int = 600,
    batch_size: int = 64,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 3e-3,
) -> dict:
    """Train for ``steps`` Adam steps; return the reconstruction errors."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    (x_train, _), (x_test, _) = datasets.digits(flatten=True)  # [N, 784] in [0, 1]

    x = tf.placeholder(tf.float32, [None, 784], name="x")
    with tf.variable_scope("encoder"):
        code = encoder(x)
    with tf.variable_scope("decoder"):
        reconstruction = decoder(code)
    loss = tf.losses.mean_squared_error(labels=x, predictions=reconstruction)
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss)

    # The decoder alone, on codes fed directly: the same variables.
    code_in = tf.placeholder(tf.float32, [None, CODE_SIZE], name="code_in")
    with tf.variable_scope("decoder", reuse=True):
        decoded = decoder(code_in)

    mean_image = x_train.mean(axis=0)
    mean_image_mse = float(np.mean((x_test - mean_image) ** 2))
    rng = np.random.default_rng(seed)
    order = np.array([], dtype=np.int64)
    curve = []
    start = time.perf_counter()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        initial_mse = sess.run(loss, {x: x_test})
        curve.append((0, float(initial_mse)))
        if verbose:
            print(f"step 0: test reconstruction MSE {initial_mse:.5f}")
        for step in range(1, steps + 1):
            if len(order) < batch_size:
                order = np.concatenate([order, rng.permutation(len(x_train))])
            idx, order = order[:batch_size], order[batch_size:]
            sess.run(train_op, {x: x_train[idx]})
            if step % 100 == 0 or step == steps:
                curve.append((step, float(sess.run(loss, {x: x_test}))))
                if verbose:
                    print(f"step {step}: test reconstruction MSE {curve[-1][1]:.5f}")
        codes, recon = sess.run([code, reconstruction], {x: x_test})
        redecoded = sess.run(decoded, {code_in: codes})
    return {
        "initial_mse": float(initial_mse),
        "test_mse": curve[-1][1],
        "curve": curve,
        "mean_image_mse": mean_image_mse,
        "code_shape": codes.shape,
        "decoder_shares_weights": bool(np.allclose(recon, redecoded, atol=1e-6)),
        "seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    m = main(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    print(
        f"test reconstruction MSE: {m['initial_mse']:.5f} -> {m['test_mse']:.5f} in {m['seconds']:.1f} s "
        f"(the mean training image scores {m['mean_image_mse']:.5f})"
    )
