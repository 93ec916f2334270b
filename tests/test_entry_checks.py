"""Every assumption on dims is checked at the program's entry, before any backend code.

Native kernels trust the sizes they are given, so a run whose fed sizes disagree with
what the graph assumed must fail in the entry check, naming the feeds and the user's op,
and never reach a kernel. Each case is run on every loaded backend, through a wrapper
that counts the executable's runs.
"""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import CompileOptions, available_backends, get_backend


class CountingBackend:
    """A loaded backend, with a count of the executables' runs."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.runs = 0

    def is_available(self) -> bool:
        return True

    def supported_ops(self) -> Any:
        return self.inner.supported_ops()

    def compile(self, program: Any, options: CompileOptions) -> Any:
        exe = self.inner.compile(program, options)
        outer = self

        class Counted:
            def __init__(self) -> None:
                self.program = exe.program

            def run(self, inputs: Any, dims: Any, donated: frozenset[int] = frozenset()) -> Any:
                outer.runs += 1
                return exe.run(inputs, dims, donated)

        return Counted()

    def to_device(self, a: np.ndarray) -> Any:
        return self.inner.to_device(a)

    def to_host(self, a: Any) -> np.ndarray:
        return self.inner.to_host(a)


def vec() -> Any:
    return tf.placeholder(tf.float32, [None])


def ones(n: int) -> np.ndarray:
    return np.ones(n, np.float32)


# name -> build() returning (fetch, good feeds, expected result for good feeds, bad feeds)
Case = Callable[[], tuple[Any, dict[Any, Any], np.ndarray, dict[Any, Any]]]


def _concat() -> Any:
    a, b, c, d = vec(), vec(), vec(), vec()
    out = tf.exp(tf.concat([a, b], 0)) + tf.concat([c, d], 0)
    good = {a: ones(3), b: ones(2), c: ones(4), d: ones(1)}
    bad = {a: ones(3), b: ones(2), c: ones(1), d: ones(1)}
    return out, good, np.full(5, np.e + 1, np.float32), bad


def _range() -> Any:
    n, v = tf.placeholder(tf.int32, []), vec()
    out = tf.cast(tf.range(n), tf.float32) + v
    return out, {n: 4, v: ones(4)}, np.arange(4, dtype=np.float32) + 1, {n: 5, v: ones(3)}


def _tile() -> Any:
    k, x, v = tf.placeholder(tf.int32, []), vec(), vec()
    out = tf.tile(x, [k]) + v
    return out, {k: 2, x: ones(3), v: ones(6)}, np.full(6, 2, np.float32), {k: 2, x: ones(3), v: ones(5)}


def _tile_negative() -> Any:
    k, x = tf.placeholder(tf.int32, []), vec()
    out = tf.tile(x, [k])
    return out, {k: 2, x: ones(3)}, np.ones(6, np.float32), {k: -2, x: ones(3)}


def _reshape_hole() -> Any:
    x, y = vec(), tf.placeholder(tf.float32, [None, 3])
    out = tf.reshape(x, [-1, 3]) + y
    good = {x: ones(6), y: np.ones((2, 3), np.float32)}
    bad = {x: ones(7), y: np.ones((2, 3), np.float32)}
    return out, good, np.full((2, 3), 2, np.float32), bad


def _reshape_flat() -> Any:
    x, y = tf.placeholder(tf.float32, [None, None]), vec()
    out = tf.reshape(x, [-1]) + y
    good = {x: np.ones((2, 3), np.float32), y: ones(6)}
    return out, good, np.full(6, 2, np.float32), {x: np.ones((2, 3), np.float32), y: ones(5)}


def _slice() -> Any:
    x, y = vec(), vec()
    out = x[1:] + y
    return out, {x: ones(5), y: ones(4)}, np.full(4, 2, np.float32), {x: ones(5), y: ones(5)}


def _strided_slice() -> Any:
    x, y = vec(), vec()
    out = x[::2] + y
    return out, {x: ones(5), y: ones(3)}, np.full(3, 2, np.float32), {x: ones(5), y: ones(2)}


def _pad() -> Any:
    x, y = vec(), vec()
    out = tf.pad(x, [[1, 2]]) + y
    want = np.array([1, 2, 2, 1, 1], np.float32)
    return out, {x: ones(2), y: ones(5)}, want, {x: ones(5), y: ones(5)}


def _stack() -> Any:
    x, y = vec(), vec()
    out = tf.stack([x, y])
    return out, {x: ones(3), y: ones(3)}, np.ones((2, 3), np.float32), {x: ones(3), y: ones(4)}


def _matmul() -> Any:
    x, y = tf.placeholder(tf.float32, [None, None]), tf.placeholder(tf.float32, [None, None])
    out = tf.matmul(x, y)
    good = {x: np.ones((2, 3), np.float32), y: np.ones((3, 2), np.float32)}
    bad = {x: np.ones((2, 3), np.float32), y: np.ones((4, 2), np.float32)}
    return out, good, np.full((2, 2), 3, np.float32), bad


CASES: dict[str, Case] = {
    "concat": _concat,
    "range": _range,
    "tile": _tile,
    "tile_negative": _tile_negative,
    "reshape_hole": _reshape_hole,
    "reshape_flat": _reshape_flat,
    "slice": _slice,
    "strided_slice": _strided_slice,
    "pad": _pad,
    "stack": _stack,
    "matmul": _matmul,
}


@pytest.mark.parametrize("backend_name", available_backends())
@pytest.mark.parametrize("case", sorted(CASES))
def test_disagreeing_sizes_fail_at_entry(case: str, backend_name: str) -> None:
    tf.reset_default_graph()
    out, good, want, bad = CASES[case]()
    backend = CountingBackend(get_backend(backend_name))
    with tf.Session(backend=backend) as sess:
        np.testing.assert_allclose(sess.run(out, good), want, rtol=1e-6)
        assert backend.runs == 1
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(out, bad)
        # No kernel ran, and one program served both runs.
        assert backend.runs == 1
        assert sess.stats["compiles"] == 1
    message = str(info.value)
    # The error names a feed involved and the user's line (this file).
    assert "Placeholder" in message
    assert "test_entry_checks.py" in message or "created at" in message


def test_error_names_the_feeds_and_the_op() -> None:
    tf.reset_default_graph()
    a, b, c, d = vec(), vec(), vec(), vec()
    out = tf.add(tf.concat([a, b], 0), tf.concat([c, d], 0), name="the_sum")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(out, {a: ones(3), b: ones(2), c: ones(1), d: ones(1)})
    message = str(info.value)
    for name in ("Placeholder:0", "Placeholder_1:0", "Placeholder_2:0", "Placeholder_3:0"):
        assert name in message
    assert "'the_sum'" in message and "test_entry_checks.py" in message
    assert "5" in message and "2" in message


def test_fed_sizes_stay_symbolic() -> None:
    """A fed integer used as a size is bound per run: new values never recompile."""
    tf.reset_default_graph()
    k, x = tf.placeholder(tf.int32, []), vec()
    out = tf.tile(x, [k])
    with tf.Session() as sess:
        for n in (0, 1, 3, 7):
            np.testing.assert_array_equal(
                sess.run(out, {k: n, x: np.arange(2, dtype=np.float32)}), np.tile(np.arange(2), n)
            )
        assert sess.stats["compiles"] == 1


def test_range_of_a_negative_value_is_empty_as_in_tf1() -> None:
    tf.reset_default_graph()
    n = tf.placeholder(tf.int32, [])
    with tf.Session() as sess:
        assert sess.run(tf.range(n), {n: -3}).shape == (0,)
        np.testing.assert_array_equal(sess.run(tf.range(n), {n: 3}), [0, 1, 2])


def test_data_defined_dim_is_checked_when_its_node_has_run() -> None:
    """A size known only once a node ran (here a range over a computed bound) is checked
    right after that node, before anything reads its output."""
    tf.reset_default_graph()
    x, y = vec(), vec()
    r = tf.range(1, tf.cast(tf.reduce_sum(x), tf.int32), 2)  # data: the sum of fed floats
    out = tf.cast(r, tf.float32) + y
    backend = CountingBackend(get_backend("numpy"))
    with tf.Session(backend=backend) as sess:
        np.testing.assert_array_equal(sess.run(out, {x: ones(6), y: ones(3)}), [2, 4, 6])
        with pytest.raises(tf.errors.InvalidArgumentError, match="needs it to be 4") as info:
            sess.run(out, {x: ones(6), y: ones(4)})
        assert "Range" in str(info.value)


def test_a_failed_entry_check_changes_no_variable() -> None:
    tf.reset_default_graph()
    a, b = vec(), vec()
    v = tf.Variable(1.0)
    step = tf.assign_add(v, tf.reduce_sum(tf.concat([a, b], 0) + a))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(step, {a: ones(2), b: ones(1)})
        assert sess.run(v) == 1.0
