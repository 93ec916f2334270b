"""The training step of the classic TF1 MLP tutorial, for ``graphc inspect``.

A 784-256-256-10 multilayer perceptron with ReLU hidden layers, weights and
biases drawn from a normal distribution, softmax cross entropy on the logits,
and Adam (learning rate 0.001), trained on batches of 128 images.

    graphc inspect examples/inspect/mlp_step.py

prints the program after each compiler pass, the fusion groups, the memory
plan and the per-pass times for one training step (the fetches below).
Run it with Python to train for a few steps on the offline digits data:

    python examples/inspect/mlp_step.py
"""

from __future__ import annotations

import graphc as tf

learning_rate = 0.001
batch_size = 128
n_input, n_hidden_1, n_hidden_2, n_classes = 784, 256, 256, 10

X = tf.placeholder(tf.float32, [None, n_input], name="X")
Y = tf.placeholder(tf.float32, [None, n_classes], name="Y")

weights = {
    "h1": tf.Variable(tf.random_normal([n_input, n_hidden_1]), name="h1"),
    "h2": tf.Variable(tf.random_normal([n_hidden_1, n_hidden_2]), name="h2"),
    "out": tf.Variable(tf.random_normal([n_hidden_2, n_classes]), name="w_out"),
}
biases = {
    "b1": tf.Variable(tf.random_normal([n_hidden_1]), name="b1"),
    "b2": tf.Variable(tf.random_normal([n_hidden_2]), name="b2"),
    "out": tf.Variable(tf.random_normal([n_classes]), name="b_out"),
}


def multilayer_perceptron(x: tf.Tensor) -> tf.Tensor:
    layer_1 = tf.nn.relu(tf.add(tf.matmul(x, weights["h1"]), biases["b1"]))
    layer_2 = tf.nn.relu(tf.add(tf.matmul(layer_1, weights["h2"]), biases["b2"]))
    return tf.matmul(layer_2, weights["out"]) + biases["out"]


logits = multilayer_perceptron(X)
loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=Y))
optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
train_op = optimizer.minimize(loss_op)

# What `graphc inspect` compiles: one training step, and the shapes it is fed.
FETCHES = [train_op, loss_op]
FEED_SHAPES = {"X": (batch_size, n_input), "Y": (batch_size, n_classes)}


if __name__ == "__main__":
    import numpy as np

    from graphc.data import BatchIterator, load_digits_mnist

    data = load_digits_mnist(seed=0)
    labels = np.asarray(data.y_train)
    batches = BatchIterator(data.x_train, labels, batch_size=batch_size, seed=0).epochs(10)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(1, 51):
            bx, by = next(batches)
            _, loss = sess.run([train_op, loss_op], feed_dict={X: bx, Y: by})
            if step % 10 == 0:
                print(f"step {step}: batch loss {loss:.4f}")
