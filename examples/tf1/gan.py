"""A small generative adversarial network on the digits.

Generator z[16] -> 128 (relu) -> 784 (sigmoid); discriminator 784 -> 128
(leaky relu) -> 1 logit.  Each player has its own AdamOptimizer whose var_list
is the trainable variables of its own variable scope, so a discriminator step
never moves the generator and vice versa; the two steps alternate.

Run:  python examples/tf1/gan.py [--steps 2000]
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist

Z_DIM = 16
HIDDEN = 128


def generator(z: tf.Tensor) -> tf.Tensor:
    with tf.variable_scope("generator"):
        h = tf.nn.relu(
            tf.matmul(z, tf.get_variable("w1", [Z_DIM, HIDDEN]))
            + tf.get_variable("b1", [HIDDEN], initializer=tf.zeros_initializer())
        )
        logits = tf.matmul(h, tf.get_variable("w2", [HIDDEN, 784])) + tf.get_variable(
            "b2", [784], initializer=tf.zeros_initializer()
        )
        return tf.nn.sigmoid(logits)


def discriminator(x: tf.Tensor) -> tf.Tensor:
    """Returns the real-vs-fake logit; called twice, the second call reuses the variables."""
    with tf.variable_scope("discriminator", reuse=tf.AUTO_REUSE):
        h = tf.nn.leaky_relu(
            tf.matmul(x, tf.get_variable("w1", [784, HIDDEN]))
            + tf.get_variable("b1", [HIDDEN], initializer=tf.zeros_initializer())
        )
        return tf.matmul(h, tf.get_variable("w2", [HIDDEN, 1])) + tf.get_variable(
            "b2", [1], initializer=tf.zeros_initializer()
        )


def build_gan(learning_rate: float = 2e-4) -> dict:
    """Build the GAN in the default graph; returns its placeholders, losses, train ops and variables."""
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    z = tf.placeholder(tf.float32, [None, Z_DIM], name="z")
    fake = generator(z)
    d_real = discriminator(x)
    d_fake = discriminator(fake)
    d_loss = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(d_real), logits=d_real)
    ) + tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(d_fake), logits=d_fake))
    # The non-saturating generator loss: maximise log D(G(z)).
    g_loss = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(d_fake), logits=d_fake)
    )
    d_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="discriminator")
    g_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="generator")
    d_train = tf.train.AdamOptimizer(learning_rate, beta1=0.5, name="d_adam").minimize(
        d_loss, var_list=d_vars
    )
    g_train = tf.train.AdamOptimizer(learning_rate, beta1=0.5, name="g_adam").minimize(
        g_loss, var_list=g_vars
    )
    return {
        "x": x,
        "z": z,
        "fake": fake,
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_train": d_train,
        "g_train": g_train,
        "d_vars": d_vars,
        "g_vars": g_vars,
    }


def _max_change(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(before, after, strict=True))


def main(
    steps: int = 2000,
    batch_size: int = 64,
    seed: int = 0,
    verbose: bool = True,
    learning_rate: float = 2e-4,
) -> dict:
    """Run ``steps`` alternating D/G updates; return the losses, pixel statistics and update isolation."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed)
    rng = np.random.default_rng(seed)

    gan = build_gan(learning_rate)
    x, z, d_vars, g_vars = gan["x"], gan["z"], gan["d_vars"], gan["g_vars"]
    losses = [gan["d_loss"], gan["g_loss"]]
    n_eval = 512
    z_eval = rng.uniform(-1.0, 1.0, size=(n_eval, Z_DIM)).astype(np.float32)
    eval_feed = {x: data.x_train[:n_eval], z: z_eval}
    data_mean_image = data.x_train.mean(axis=0)

    def sample_z(n: int) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, Z_DIM)).astype(np.float32)

    batches = BatchIterator(data.x_train, batch_size=batch_size, seed=seed).epochs(
        -(-steps * batch_size // len(data.x_train))
    )
    metrics: dict = {}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        d0, g0, fake0 = sess.run(losses + [gan["fake"]], feed_dict=eval_feed)
        for step in range(1, steps + 1):
            (bx,) = next(batches)
            if step == 1:
                g_before, d_before = sess.run(g_vars), sess.run(d_vars)
            sess.run(gan["d_train"], feed_dict={x: bx, z: sample_z(len(bx))})
            if step == 1:
                g_mid, d_mid = sess.run(g_vars), sess.run(d_vars)
            sess.run(gan["g_train"], feed_dict={z: sample_z(batch_size)})
            if step == 1:
                g_after, d_after = sess.run(g_vars), sess.run(d_vars)
                metrics["d_step_generator_change"] = _max_change(g_before, g_mid)
                metrics["d_step_discriminator_change"] = _max_change(d_before, d_mid)
                metrics["g_step_generator_change"] = _max_change(g_mid, g_after)
                metrics["g_step_discriminator_change"] = _max_change(d_mid, d_after)
            if verbose and step % 250 == 0:
                d_l, g_l = sess.run(losses, feed_dict=eval_feed)
                print(f"step {step}: D loss {d_l:.4f}, G loss {g_l:.4f}")
        d1, g1, fake1 = sess.run(losses + [gan["fake"]], feed_dict=eval_feed)
    metrics.update(
        initial_d_loss=float(d0),
        initial_g_loss=float(g0),
        final_d_loss=float(d1),
        final_g_loss=float(g1),
        data_mean_pixel=float(data_mean_image.mean()),
        initial_sample_mean_pixel=float(fake0.mean()),
        final_sample_mean_pixel=float(fake1.mean()),
        # Distance between the average generated image and the average digit, per pixel (RMS).
        initial_mean_image_rmse=float(np.sqrt(((fake0.mean(axis=0) - data_mean_image) ** 2).mean())),
        final_mean_image_rmse=float(np.sqrt(((fake1.mean(axis=0) - data_mean_image) ** 2).mean())),
        data_pixel_std=float(data.x_train.std()),
        final_sample_pixel_std=float(fake1.std()),
    )
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    m = main(steps=args.steps, seed=args.seed)
    print(
        f"D loss {m['initial_d_loss']:.4f} -> {m['final_d_loss']:.4f}, "
        f"G loss {m['initial_g_loss']:.4f} -> {m['final_g_loss']:.4f}"
    )
    print(
        f"mean pixel: data {m['data_mean_pixel']:.4f}, samples {m['initial_sample_mean_pixel']:.4f} -> "
        f"{m['final_sample_mean_pixel']:.4f}"
    )
    print(f"pixel std: data {m['data_pixel_std']:.4f}, samples {m['final_sample_pixel_std']:.4f}")
    print(
        f"mean-image RMSE samples vs data: {m['initial_mean_image_rmse']:.4f} -> {m['final_mean_image_rmse']:.4f}"
    )
