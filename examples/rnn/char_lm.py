"""A character-level language model on a small bundled text (examples/rnn/text.txt,
about 2.6 KB of plain English), written as a TF1 program: a GRU unrolled by
``tf.nn.dynamic_rnn`` over windows of characters, trained to predict each next
character, then sampled one character at a time by the same cell on a one-step graph
that reuses its variables.

Run:  python3 examples/rnn/char_lm.py [--steps 300] [--units 128] [--seq-len 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

import graphc as tf

try:  # a scikit-learn dependency (the examples extra)
    from threadpoolctl import threadpool_limits
except ImportError:  # without it BLAS keeps its default threads
    threadpool_limits = None


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """One BLAS thread: the loop body's matrices are small, and on a busy machine
    OpenBLAS's spinning worker threads made each of its matmuls ~100x slower."""
    return threadpool_limits(limits=1, user_api="blas") if threadpool_limits else contextlib.nullcontext()


TEXT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "text.txt")


def main(
    steps: int = 300,
    units: int = 128,
    seq_len: int = 32,
    batch_size: int = 32,
    learning_rate: float = 1e-2,
    sample_length: int = 120,
    seed: int = 0,
    verbose: bool = True,
) -> dict:
    """Train for ``steps`` steps, sample ``sample_length`` characters; return the figures."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    with open(TEXT_PATH, encoding="utf-8") as f:
        text = " ".join(f.read().split())  # one line: whitespace runs become one space
    chars = sorted(set(text))
    vocab = len(chars)
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], np.int32)

    # Training graph: [batch, time] ids -> one-hot -> GRU -> logits for the next id.
    x = tf.placeholder(tf.int32, [None, seq_len], name="x")
    y = tf.placeholder(tf.int32, [None, seq_len], name="y")
    cell = tf.nn.rnn_cell.GRUCell(units)
    outputs, _ = tf.nn.dynamic_rnn(cell, tf.one_hot(x, vocab), dtype=tf.float32)
    logits = tf.layers.dense(tf.reshape(outputs, [-1, units]), vocab, name="logits")
    loss = tf.losses.sparse_softmax_cross_entropy(tf.reshape(y, [-1]), logits)
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss)

    # Sampling graph: one step of the same cell (its variables are reused), state fed back.
    c_in = tf.placeholder(tf.int32, [1], name="char")
    h_in = tf.placeholder(tf.float32, [1, units], name="state")
    with tf.variable_scope("rnn"):
        step_out, h_out = cell(tf.one_hot(c_in, vocab), h_in)
    step_probs = tf.nn.softmax(tf.layers.dense(step_out, vocab, name="logits", reuse=True))

    rng = np.random.default_rng(seed)
    starts_max = len(ids) - seq_len - 1
    losses: list[float] = []
    step_times: list[float] = []
    with _one_blas_thread(), tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(steps):
            starts = rng.integers(0, starts_max, batch_size)
            bx = np.stack([ids[s : s + seq_len] for s in starts])
            by = np.stack([ids[s + 1 : s + seq_len + 1] for s in starts])
            t0 = time.perf_counter()
            _, batch_loss = sess.run([train_op, loss], {x: bx, y: by})
            step_times.append(time.perf_counter() - t0)
            losses.append(float(batch_loss))
            if verbose and (step + 1) % 50 == 0:
                print(f"step {step + 1}: loss {np.mean(losses[-50:]):.3f} (nats per character)")
        # Sample: warm the state up on a prompt, then draw each next character.
        prompt = "The keeper "
        h = np.zeros((1, units), np.float32)
        probs = None
        for ch in prompt:
            probs, h = sess.run([step_probs, h_out], {c_in: [index[ch]], h_in: h})
        sampled = []
        for _ in range(sample_length):
            p = probs[0].astype(np.float64)
            nxt = int(rng.choice(vocab, p=p / p.sum()))
            sampled.append(chars[nxt])
            probs, h = sess.run([step_probs, h_out], {c_in: [nxt], h_in: h})
    sample = prompt + "".join(sampled)
    step_time = float(np.median(step_times[1:])) if len(step_times) > 1 else float(step_times[0])
    if verbose:
        print(f"sample: {sample}")
        print(f"step time: {step_time * 1e3:.1f} ms (batch {batch_size}, {seq_len} steps, {units} units)")
    return {
        "vocab": vocab,
        "initial_loss": losses[0],
        "final_loss": float(np.mean(losses[-20:])),
        "sample": sample,
        "step_time_s": step_time,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    main(steps=a.steps, units=a.units, seq_len=a.seq_len, seed=a.seed)
