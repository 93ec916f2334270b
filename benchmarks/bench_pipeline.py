"""Time the classic TF1 MLP training step (784-256-256-10, batch 128, softmax cross
entropy, Adam) on the NumPy backend with the optimisation pipeline on and off.

Both sessions run the same graph from the same initial values; their steps are
interleaved so machine noise hits both alike, and the report is the median of many
steps and the ratio of the medians.

    python benchmarks/bench_pipeline.py [--steps 200] [--backend numpy]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import graphc as tf


def build() -> tuple[object, object, object, object]:
    tf.reset_default_graph()
    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y = tf.placeholder(tf.float32, [None, 10], name="y")
    h = x
    for i, width in enumerate((256, 256)):
        w = tf.Variable(tf.truncated_normal([int(h.shape[1]), width], stddev=0.05), name=f"w{i}")
        b = tf.Variable(tf.zeros([width]), name=f"b{i}")
        h = tf.nn.relu(tf.matmul(h, w) + b)
    w = tf.Variable(tf.truncated_normal([256, 10], stddev=0.05), name="w_out")
    logits = tf.matmul(h, w)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    train = tf.train.AdamOptimizer(1e-3).minimize(loss)
    return x, y, loss, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args()

    x, y, loss, train = build()
    rng = np.random.default_rng(0)
    xs = rng.random((128, 784), dtype=np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    on = tf.Session(backend=args.backend)
    off = tf.Session(backend=args.backend, config={"disable_passes": ["all"]})
    init = tf.global_variables_initializer()
    for sess in (on, off):
        sess.run(init)
        sess.run([train, loss], {x: xs, y: ys})  # compile outside the timed loop

    times: dict[str, list[float]] = {"pipeline on": [], "pipeline off": []}
    for step in range(args.steps):
        order = [("pipeline on", on), ("pipeline off", off)]
        if step % 2:
            order.reverse()
        for label, sess in order:
            t0 = time.perf_counter()
            sess.run(train, {x: xs, y: ys})
            times[label].append(time.perf_counter() - t0)

    l_on, l_off = (s.run(loss, {x: xs, y: ys}) for s in (on, off))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"MLP 784-256-256-10 Adam step, batch 128, backend {args.backend}, {args.steps} steps each")
    for k, v in med.items():
        print(f"  {k:<13} median {v * 1e3:7.3f} ms")
    print(f"  ratio off/on  {med['pipeline off'] / med['pipeline on']:.2f}x")
    print(f"  loss after training: on {l_on:.6f}, off {l_off:.6f}")


if __name__ == "__main__":
    main()
