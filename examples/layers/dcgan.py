"""A small DCGAN on the bundled digits, written with tf.layers as TF1 DCGAN code is.

What it shows:

- a generator of ``tf.layers.dense`` + ``conv2d_transpose`` with
  ``tf.layers.batch_normalization`` (7x7x32 -> 14x14x16 -> 28x28x1, tanh), and a
  discriminator of strided ``conv2d`` with leaky ReLU;
- the discriminator applied to real and to generated images with one set of variables
  (``tf.variable_scope("discriminator", reuse=True)``); the generator rebuilt with
  ``training=False`` (moving statistics) and ``reuse=True`` to draw samples;
- one Adam optimizer per network, each restricted to its own variables
  (``tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope=...)``), the generator's
  step running its batch-norm moving-average updates
  (``tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS, scope=...))``);
- alternating updates; the losses and the discriminator's accuracy on real vs generated
  images are printed, and a PNG grid of samples is written with matplotlib if it is
  installed.

Run:  python examples/layers/dcgan.py [--steps 300] [--batch-size 32] [--out dcgan_out] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as tf
from graphc import datasets

Z_DIM = 32


def generator(z, training: bool):  # noqa: ANN001, ANN201
    """Images in [-1, 1], ``[N, 28, 28, 1]``, from noise ``z`` ``[N, Z_DIM]``."""
    net = tf.layers.dense(z, 7 * 7 * 32, use_bias=False, name="project")
    net = tf.nn.relu(tf.layers.batch_normalization(net, training=training, name="bn0"))
    net = tf.reshape(net, [-1, 7, 7, 32])
    net = tf.layers.conv2d_transpose(net, 16, 5, strides=2, padding="same", use_bias=False, name="deconv1")
    net = tf.nn.relu(tf.layers.batch_normalization(net, training=training, name="bn1"))  # 14x14x16
    net = tf.layers.conv2d_transpose(net, 1, 5, strides=2, padding="same", name="deconv2")  # 28x28x1
    return tf.tanh(net)


def discriminator(images):  # noqa: ANN001, ANN201
    """One logit per image: real (> 0) or generated (< 0)."""
    net = tf.layers.conv2d(
        images, 16, 5, strides=2, padding="same", activation=tf.nn.leaky_relu, name="conv1"
    )
    net = tf.layers.conv2d(net, 32, 5, strides=2, padding="same", activation=tf.nn.leaky_relu, name="conv2")
    return tf.layers.dense(tf.layers.flatten(net), 1, name="logit")


def build_dcgan(learning_rate: float = 2e-4) -> dict:
    """The DCGAN's graph in the default graph: placeholders, losses, train ops, samples."""
    x = tf.placeholder(tf.float32, [None, 28, 28, 1], name="x")  # real images in [-1, 1]
    z = tf.placeholder(tf.float32, [None, Z_DIM], name="z")
    with tf.variable_scope("generator"):
        fake = generator(z, training=True)
    with tf.variable_scope("generator", reuse=True):
        samples = generator(z, training=False)
    with tf.variable_scope("discriminator"):
        real_logits = discriminator(x)
    with tf.variable_scope("discriminator", reuse=True):
        fake_logits = discriminator(fake)

    def xent(logits, label: float):  # noqa: ANN001, ANN202
        labels = tf.ones_like(logits) * label
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))

    d_loss = xent(real_logits, 1.0) + xent(fake_logits, 0.0)
    g_loss = xent(fake_logits, 1.0)  # the non-saturating generator loss
    d_accuracy = 0.5 * (
        tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
        + tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32))
    )

    d_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="discriminator")
    g_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="generator")
    d_train = tf.train.AdamOptimizer(learning_rate, beta1=0.5).minimize(d_loss, var_list=d_vars)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS, scope="generator")):
        g_train = tf.train.AdamOptimizer(learning_rate, beta1=0.5).minimize(g_loss, var_list=g_vars)
    return {
        "x": x,
        "z": z,
        "samples": samples,
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_accuracy": d_accuracy,
        "d_vars": d_vars,
        "g_vars": g_vars,
        "d_train": d_train,
        "g_train": g_train,
    }


def save_grid(images: np.ndarray, path: str) -> bool:
    """Write ``images`` ``[N, 28, 28, 1]`` in [-1, 1] as a PNG grid; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    side = int(np.ceil(np.sqrt(len(images))))
    fig, axes = plt.subplots(side, side, figsize=(side, side))
    for ax, i in zip(axes.ravel(), range(side * side)):
        ax.axis("off")
        if i < len(images):
            ax.imshow((images[i, :, :, 0] + 1.0) / 2.0, cmap="gray", vmin=0.0, vmax=1.0)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def main(
    steps: int = 300,
    batch_size: int = 32,
    seed: int = 0,
    verbose: bool = True,
    out_dir: str | None = None,
    learning_rate: float = 2e-4,
) -> dict:
    """Alternate ``steps`` discriminator and generator updates; return the losses, the
    discriminator's accuracy and (with ``out_dir``) the path of the sample grid."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    (x_train, _), _ = datasets.digits()
    x_train = x_train * 2.0 - 1.0  # [0, 1] -> [-1, 1], the generator's tanh range
    gan = build_dcgan(learning_rate)
    x, z = gan["x"], gan["z"]

    rng = np.random.default_rng(seed)
    fixed_z = rng.uniform(-1.0, 1.0, size=(36, Z_DIM)).astype(np.float32)
    order = np.array([], dtype=np.int64)
    history = []
    start = time.perf_counter()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(1, steps + 1):
            if len(order) < batch_size:
                order = np.concatenate([order, rng.permutation(len(x_train))])
            idx, order = order[:batch_size], order[batch_size:]
            feed = {x: x_train[idx], z: rng.uniform(-1.0, 1.0, size=(batch_size, Z_DIM)).astype(np.float32)}
            _, d_loss, d_acc = sess.run([gan["d_train"], gan["d_loss"], gan["d_accuracy"]], feed)
            _, g_loss = sess.run([gan["g_train"], gan["g_loss"]], feed)
            history.append((float(d_loss), float(g_loss), float(d_acc)))
            if verbose and (step % 50 == 0 or step == steps):
                recent = np.mean(history[-50:], axis=0)
                print(
                    f"step {step}: D loss {recent[0]:.4f}, G loss {recent[1]:.4f}, "
                    f"D accuracy on real vs generated {recent[2]:.3f}"
                )
        samples = sess.run(gan["samples"], {z: fixed_z})
        # The generator's steps ran its batch norms' UPDATE_OPS: the moving means left zero.
        moving_means = sess.run(
            [
                v
                for v in tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES, scope="generator")
                if "moving_mean" in v.name
            ]
        )
    seconds = time.perf_counter() - start
    grid = None
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "dcgan_samples.png")
        grid = path if save_grid(samples, path) else None
    tail = np.mean(history[-min(50, len(history)) :], axis=0)
    return {
        "steps": steps,
        "d_losses": [h[0] for h in history],
        "g_losses": [h[1] for h in history],
        "d_accuracies": [h[2] for h in history],
        "final_d_loss": float(tail[0]),
        "final_g_loss": float(tail[1]),
        "final_d_accuracy": float(tail[2]),
        "samples": samples,
        "moving_mean_abs": [float(np.abs(m).mean()) for m in moving_means],
        "grid": grid,
        "seconds": seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="dcgan_out", help="folder for the sample grid (default: dcgan_out)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    m = main(steps=args.steps, batch_size=args.batch_size, seed=args.seed, out_dir=args.out)
    print(
        f"{m['steps']} steps in {m['seconds']:.1f} s; last 50 steps: D loss {m['final_d_loss']:.4f}, "
        f"G loss {m['final_g_loss']:.4f}, D accuracy {m['final_d_accuracy']:.3f}"
    )
    print(f"samples: {m['grid'] or 'not written (matplotlib is not installed)'}")
