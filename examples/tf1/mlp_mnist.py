"""A 784-64-64-10 ReLU multilayer perceptron on the digits, written as a TF1 program.

Run:  python examples/tf1/mlp_mnist.py [--epochs 20] [--backend numpy]
"""

from __future__ import annotations

import argparse
import time

import graphc as tf
from graphc.data import BatchIterator, load_digits_mnist


def dense(x: tf.Tensor, n_out: int, name: str, activation=None) -> tf.Tensor:  # noqa: ANN001
    """A fully connected layer built from tf.get_variable, the pre-Keras TF1 way."""
    n_in = x.shape[-1].value
    with tf.variable_scope(name):
        w = tf.get_variable("weights", [n_in, n_out], initializer=tf.glorot_uniform_initializer())
        b = tf.get_variable("biases", [n_out], initializer=tf.zeros_initializer())
        y = tf.matmul(x, w) + b
    return activation(y) if activation is not None else y


def main(
    steps: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    verbose: bool = True,
    epochs: int = 20,
    backend: str | None = None,
    learning_rate: float = 1e-3,
) -> dict:
    """Train for ``epochs`` epochs (or exactly ``steps`` steps when given) and return the metrics."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    data = load_digits_mnist(seed=seed)

    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y_ = tf.placeholder(tf.float32, [None, 10], name="labels")
    h1 = dense(x, 64, "hidden1", tf.nn.relu)
    h2 = dense(h1, 64, "hidden2", tf.nn.relu)
    logits = dense(h2, 10, "softmax_linear")
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y_, logits=logits))
    global_step = tf.train.get_or_create_global_step()
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=global_step)
    correct = tf.equal(tf.argmax(logits, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))

    batches = BatchIterator(data.x_train, data.y_train, batch_size=batch_size, seed=seed)
    if steps is None:
        steps = epochs * len(batches)
    train_feed = {x: data.x_train, y_: data.y_train}
    test_feed = {x: data.x_test, y_: data.y_test}
    start = time.perf_counter()
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        initial_loss = sess.run(loss, feed_dict=train_feed)
        if verbose:
            print(f"step 0: train loss {initial_loss:.4f}")
        stream = batches.epochs(-(-steps // len(batches)))
        for step in range(1, steps + 1):
            bx, by = next(stream)
            _, batch_loss = sess.run([train_op, loss], feed_dict={x: bx, y_: by})
            if verbose and step % len(batches) == 0:
                test_acc = sess.run(accuracy, feed_dict=test_feed)
                print(
                    f"epoch {step // len(batches)} (step {step}): batch loss {batch_loss:.4f}, "
                    f"test accuracy {test_acc:.4f}"
                )
        final_loss, train_acc = sess.run([loss, accuracy], feed_dict=train_feed)
        test_loss, test_acc = sess.run([loss, accuracy], feed_dict=test_feed)
        final_step = sess.run(global_step)
    return {
        "steps": steps,
        "global_step": int(final_step),
        "initial_loss": float(initial_loss),
        "final_loss": float(final_loss),
        "train_accuracy": float(train_acc),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
        "seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="numpy", help="graphc backend name (default: numpy)")
    args = parser.parse_args()
    metrics = main(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, backend=args.backend)
    print(
        f"final train loss {metrics['final_loss']:.4f} (from {metrics['initial_loss']:.4f}), "
        f"train accuracy {metrics['train_accuracy']:.4f}, {metrics['steps']} steps "
        f"in {metrics['seconds']:.1f} s"
    )
    print(f"test accuracy: {metrics['test_accuracy']:.4f}")
