"""Runs from several threads on one session: no update is lost, read-only runs see a
consistent snapshot, and every run draws its own random numbers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphc as tf

THREADS = 4
STEPS = 50


def _in_threads(fn, n: int = THREADS) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            barrier.wait()
            fn(i)
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_no_update_is_lost() -> None:
    """GradientDescent on loss = w (gradient 1) moves w by exactly -lr a step."""
    tf.reset_default_graph()
    w = tf.Variable(0.0, dtype=tf.float64)
    step = tf.train.GradientDescentOptimizer(0.5).minimize(w)
    counter = tf.Variable(0, dtype=tf.int64)
    count = tf.assign_add(counter, 1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())

        def train(_: int) -> None:
            for _ in range(STEPS):
                sess.run(step)
                sess.run(count)

        assert _in_threads(train) == []
        assert sess.run(w) == -0.5 * THREADS * STEPS
        assert sess.run(counter) == THREADS * STEPS


def test_read_only_runs_see_a_consistent_snapshot() -> None:
    """A writer keeps a == b at the end of every run (both move together); a reader fetching
    both in one run must never see them apart."""
    tf.reset_default_graph()
    a = tf.Variable(np.zeros(1000))
    b = tf.Variable(np.zeros(1000))
    with tf.control_dependencies([tf.assign_add(a, tf.ones(1000, tf.float64))]):
        both = tf.group(tf.assign_add(b, tf.ones(1000, tf.float64)))
    diff = tf.reduce_max(tf.abs(a - b))
    seen: list[float] = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())

        def work(i: int) -> None:
            for _ in range(STEPS):
                if i == 0:
                    sess.run(both)
                else:
                    seen.append(float(sess.run(diff)))

        assert _in_threads(work) == []
        assert seen and max(seen) == 0.0
        np.testing.assert_array_equal(sess.run(a), np.full(1000, STEPS))


def test_concurrent_runs_draw_different_random_numbers() -> None:
    tf.reset_default_graph()
    r = tf.random_uniform([4], seed=7)
    draws: list[tuple[float, ...]] = []
    lock = threading.Lock()
    with tf.Session() as sess:

        def draw(_: int) -> None:
            for _ in range(STEPS):
                x = tuple(sess.run(r).tolist())
                with lock:
                    draws.append(x)

        assert _in_threads(draw) == []
    assert len(draws) == THREADS * STEPS
    assert len(set(draws)) == len(draws)
    # The same seeds give the same numbers as one thread drawing them in turn.
    tf.reset_default_graph()
    r = tf.random_uniform([4], seed=7)
    with tf.Session() as sess:
        sequential = {tuple(sess.run(r).tolist()) for _ in range(THREADS * STEPS)}
    assert sequential == set(draws)


def test_a_failed_run_gives_back_its_random_counter() -> None:
    """A failed run changes no counter: the next run draws what a first run draws."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None])
    r = tf.random_uniform([3], seed=1)
    bad = r + tf.concat([x, x], 0)
    with tf.Session() as sess:
        first = sess.run(r)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(bad, {x: np.ones(2, np.float32)})
        np.testing.assert_array_equal(sess.run(r), first)


def test_integer_feeds_out_of_range_are_refused() -> None:
    tf.reset_default_graph()
    x = tf.placeholder(tf.int32, [None], name="counts")
    u = tf.placeholder(tf.uint8, [], name="byte")
    with tf.Session() as sess:
        for value in ([1, 2**40], [2**70], [-(2**31) - 1]):
            with pytest.raises(ValueError, match="'counts:0' is out of range for its type int32"):
                sess.run(x, {x: value})
        np.testing.assert_array_equal(sess.run(x, {x: [-(2**31), 2**31 - 1]}), [-(2**31), 2**31 - 1])
        with pytest.raises(ValueError, match="byte:0"):
            sess.run(u, {u: -1})
        with pytest.raises(ValueError, match="byte:0"):
            sess.run(u, {u: 256})
        assert sess.run(u, {u: 255}) == 255
        with pytest.raises(ValueError, match="out of range"):
            sess.run(x, {x: np.array([3e10])})


def test_huge_allocations_raise_resource_exhausted_naming_the_op() -> None:
    tf.reset_default_graph()
    z = tf.zeros([10**10, 10**10], name="huge")  # builds, as in TF1
    assert z.shape.as_list() == [10**10, 10**10]
    x = tf.placeholder(tf.float32, [None])
    tiled = tf.tile(x, [10**9], name="tiled")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.ResourceExhaustedError, match="'huge'"):
            sess.run(z)
        with pytest.raises(tf.errors.ResourceExhaustedError, match="'tiled'"):
            sess.run(tiled, {x: np.ones(100, np.float32)})
        assert sess.run(tiled, {x: np.ones(0, np.float32)}).shape == (0,)
