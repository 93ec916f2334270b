"""tf.cond / tf.while_loop compiled natively by the LLVM backend (graphc_llvm/lower_control.py).

Every program runs on ``backend="llvm"`` and is compared with the NumPy backend (the
reference interpreter of If/While) and, where it is short, with the same computation in
NumPy. The native tests also check that the If/While did not go to a NumPy segment;
the last tests check that what the backend cannot compile (a loop whose variable changes
shape, a random op in a loop body) still runs correctly through NumPy segments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.runtime.backend import available_backends

pytestmark = pytest.mark.skipif(
    "llvm" not in available_backends(), reason="the LLVM backend is not available"
)


@pytest.fixture(autouse=True)
def _graph() -> None:
    tf.reset_default_graph()


def _executables(sess: Any) -> list[Any]:
    return [c.executable for c in sess._cache.values()]


def _is_native(exe: Any) -> bool:
    """Whether the whole program runs as LLVM code (no NumPy segment, no whole-program
    fallback to the interpreter)."""
    if type(exe).__name__ == "SegmentedExecutable":
        return all(b.name == "llvm" for b in exe.backends) and all(
            type(e).__name__ == "LLVMExecutable" for e in exe.executables
        )
    return type(exe).__name__ == "LLVMExecutable"


def _has_control_flow_on_numpy(exe: Any) -> bool:
    if type(exe).__name__ != "SegmentedExecutable":
        return type(exe).__name__ != "LLVMExecutable"
    for seg, b in zip(exe.partition.segments, exe.backends):
        if b.name != "llvm" and any(n.op in ("If", "While") for n in seg.program.nodes):
            return True
    return False


def _both(
    fetches: Sequence[Any], feeds: dict[Any, Any], init: bool = False
) -> tuple[list[Any], list[Any], Any]:
    """The fetches on the LLVM and the NumPy backends, and the LLVM session."""
    out = []
    sessions = []
    for backend in ("llvm", "numpy"):
        sess = tf.Session(backend=backend)
        if init:
            sess.run(tf.global_variables_initializer())
        out.append(sess.run(list(fetches), feeds))
        sessions.append(sess)
    return out[0], out[1], sessions[0]


def _assert_native(sess: Any) -> None:
    exes = _executables(sess)
    assert exes
    assert all(_is_native(e) for e in exes), [type(e).__name__ for e in exes]


def test_while_fed_trip_count_over_a_matmul() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    w = tf.placeholder(tf.float32, [4, 4])
    n = tf.placeholder(tf.int32, [])

    def body(i: Any, a: Any) -> Any:
        return i + 1, tf.tanh(tf.matmul(a, w)) + 0.5 * a

    i, a = tf.while_loop(lambda i, a: i < n, body, [tf.constant(0), x])
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((3, 4)).astype(np.float32)
    ws = rng.standard_normal((4, 4)).astype(np.float32)
    for trips in (0, 1, 2, 5):
        got, want, sess = _both([i, a], {x: xs, w: ws, n: trips})
        ref = xs.copy()
        for _ in range(trips):
            ref = np.tanh(ref @ ws) + 0.5 * ref
        assert got[0] == want[0] == trips
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], ref, rtol=1e-5, atol=1e-6)
        _assert_native(sess)


def test_while_maximum_iterations_bounds_the_trip_count() -> None:
    n = tf.placeholder(tf.int32, [])
    v = tf.placeholder(tf.float64, [5])
    i, s = tf.while_loop(
        lambda i, s: i < n, lambda i, s: (i + 1, s * 2.0 + 1.0), [0, v], maximum_iterations=3
    )
    vs = np.arange(5.0)
    for trips in (0, 2, 3, 10):
        got, want, sess = _both([i, s], {n: trips, v: vs})
        k = min(trips, 3)
        ref = vs.copy()
        for _ in range(k):
            ref = ref * 2 + 1
        assert got[0] == want[0] == k
        np.testing.assert_array_equal(got[1], ref)
        np.testing.assert_array_equal(got[1], want[1])
        _assert_native(sess)


def test_cond_in_a_while_body() -> None:
    x = tf.placeholder(tf.float32, [None])

    def body(i: Any, a: Any) -> Any:
        a = tf.cond(tf.equal(i % 2, 0), lambda: a * 2.0, lambda: a - 1.0)
        return i + 1, a

    _, a = tf.while_loop(lambda i, a: i < 7, body, [0, x])
    xs = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    got, want, sess = _both([a], {x: xs})
    ref = xs.copy()
    for i in range(7):
        ref = ref * 2 if i % 2 == 0 else ref - 1
    np.testing.assert_array_equal(got[0], ref)
    np.testing.assert_array_equal(got[0], want[0])
    _assert_native(sess)


def test_cond_selects_between_two_reductions() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    p = tf.placeholder(tf.bool, [])
    y = tf.cond(p, lambda: tf.reduce_sum(x, axis=0), lambda: tf.reduce_max(x, axis=0))
    z = tf.cond(p, lambda: x, lambda: x * 3.0)  # a branch that returns its argument
    xs = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    for pv in (True, False):
        got, want, sess = _both([y, z], {x: xs, p: pv})
        np.testing.assert_allclose(got[0], xs.sum(0) if pv else xs.max(0), rtol=1e-6)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        np.testing.assert_array_equal(got[1], xs if pv else xs * 3)
        _assert_native(sess)


def test_while_with_a_captured_variable() -> None:
    v = tf.Variable(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    _, acc = tf.while_loop(
        lambda i, acc: i < 4, lambda i, acc: (i + 1, acc + tf.reduce_sum(v * acc)), [0, tf.ones([2, 3])]
    )
    got, want, sess = _both([acc], {}, init=True)
    ref = np.ones((2, 3), np.float32)
    vv = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    for _ in range(4):
        ref = ref + np.sum(vv * ref)
    np.testing.assert_allclose(got[0], ref, rtol=1e-6)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    _assert_native(sess)


def test_gradient_of_a_loop_matches_the_numpy_backend() -> None:
    x = tf.placeholder(tf.float64, [None, 3])
    w = tf.placeholder(tf.float64, [3, 3])
    _, a = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, tf.sin(tf.matmul(a, w))), [0, x])
    loss = tf.reduce_sum(a * a)
    gx, gw = tf.gradients(loss, [x, w])
    rng = np.random.default_rng(2)
    xs, ws = rng.standard_normal((2, 3)), rng.standard_normal((3, 3)) * 0.5
    got, want, sess = _both([loss, gx, gw], {x: xs, w: ws})
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    # Central differences on the loss, independently of either backend.
    eps = 1e-6

    def f(xv: np.ndarray) -> float:
        a = xv
        for _ in range(3):
            a = np.sin(a @ ws)
        return float(np.sum(a * a))

    num = np.zeros_like(xs)
    for idx in np.ndindex(xs.shape):
        d = np.zeros_like(xs)
        d[idx] = eps
        num[idx] = (f(xs + d) - f(xs - d)) / (2 * eps)
    np.testing.assert_allclose(got[1], num, rtol=1e-5, atol=1e-7)
    # The backward loops are native (the forward loop that saves every iteration's values
    # grows its accumulators, so it stays a NumPy segment).
    (exe,) = _executables(sess)
    assert any(
        b.name == "llvm" and any(n.op == "While" for n in seg.program.nodes)
        for seg, b in zip(exe.partition.segments, exe.backends)
    )
    # The forward loop (fetched alone) is native.
    sess2 = tf.Session(backend="llvm")
    sess2.run(loss, {x: xs, w: ws})
    _assert_native(sess2)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_out_of_range_gather_in_a_loop_body_raises_and_frees() -> None:
    table = tf.placeholder(tf.float32, [None, 1024])
    idx = tf.placeholder(tf.int32, [None])

    def body(i: Any, acc: Any) -> Any:
        rows = tf.gather(table, idx + i)  # out of range once idx + i reaches len(table)
        return i + 1, acc + rows

    _, acc = tf.while_loop(lambda i, acc: i < 4, body, [0, tf.zeros([256, 1024])])
    sess = tf.Session(backend="llvm")
    ts = np.ones((8, 1024), np.float32)
    good = np.zeros(256, np.int32)
    np.testing.assert_array_equal(
        sess.run(acc, {table: ts, idx: good}), np.full((256, 1024), 4.0, np.float32)
    )
    _assert_native(sess)
    bad = np.full(256, 6, np.int32)  # 6 and 7 are rows; 8 (the third iteration) is not
    with pytest.raises(errors.InvalidArgumentError):
        tf.Session(backend="numpy").run(acc, {table: ts, idx: bad})
    with pytest.raises(errors.InvalidArgumentError):
        sess.run(acc, {table: ts, idx: bad})
    # Each failing run allocated (and must free) its 2 MiB of loop state: 200 runs that
    # leaked would grow the process by 400 MiB.
    before = _rss_bytes()
    for _ in range(200):
        with pytest.raises(errors.InvalidArgumentError):
            sess.run(acc, {table: ts, idx: bad})
    assert _rss_bytes() - before < 64 << 20
    # The session still runs correctly afterwards.
    np.testing.assert_array_equal(
        sess.run(acc, {table: ts, idx: good}), np.full((256, 1024), 4.0, np.float32)
    )


def test_results_do_not_depend_on_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    x = tf.placeholder(tf.float32, [None, 512])
    _, a = tf.while_loop(
        lambda i, a: i < 3,
        lambda i, a: (i + 1, tf.exp(tf.sin(a)) + tf.reduce_sum(a, axis=1, keepdims=True) * 1e-3),
        [0, x],
    )
    y = tf.cond(tf.reduce_sum(a) > 0.0, lambda: a * 2.0, lambda: tf.sqrt(tf.abs(a)))
    xs = np.random.default_rng(3).standard_normal((1024, 512)).astype(np.float32)  # splits over threads
    outs = []
    for threads in ("1", "4"):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        sess = tf.Session(backend="llvm")
        outs.append(sess.run(y, {x: xs}))
        _assert_native(sess)
    np.testing.assert_array_equal(outs[0], outs[1])
    want = tf.Session(backend="numpy").run(y, {x: xs})
    np.testing.assert_allclose(outs[0], want, rtol=2e-5, atol=1e-5)


def test_a_shape_changing_loop_runs_as_a_numpy_segment() -> None:
    x = tf.placeholder(tf.float32, [None])
    _, s = tf.while_loop(
        lambda i, s: i < 3,
        lambda i, s: (i + 1, tf.concat([s, s * 2.0], 0)),
        [0, x],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])],
    )
    y = tf.reduce_sum(s) + 1.0
    xs = np.array([1.0, 2.0], np.float32)
    got, want, sess = _both([s, y], {x: xs})
    ref = xs.copy()
    for _ in range(3):
        ref = np.concatenate([ref, ref * 2])
    np.testing.assert_array_equal(got[0], ref)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], ref.sum() + 1.0)
    assert any(_has_control_flow_on_numpy(e) for e in _executables(sess))


def test_a_random_op_in_a_loop_body_draws_as_on_numpy() -> None:
    x = tf.placeholder(tf.float32, [4])
    _, a = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a + tf.random_uniform([4], seed=7)), [0, x])
    tf.set_random_seed(1)
    got, want, _ = _both([a], {x: np.zeros(4, np.float32)})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    assert np.all((got[0] >= 0) & (got[0] <= 3)) and len(set(got[0].tolist())) == 4


def test_a_failure_inside_regions_names_the_op_that_failed() -> None:
    """An index out of range in a gather inside a cond inside a loop body: the error names
    the gather and the user's line (as the NumPy backend does), not the While."""
    table = tf.placeholder(tf.float32, [None, 4])
    idx = tf.placeholder(tf.int32, [None])
    made: dict[str, Any] = {}

    def body(i: Any, acc: Any) -> Any:
        def gathered() -> Any:
            rows = tf.gather(table, idx + i, name="rows_of_table")
            made["op"], made["line"] = rows.op, sys._getframe().f_lineno - 1
            return acc + rows

        return i + 1, tf.cond(i > 0, gathered, lambda: acc * 2.0)

    _, acc = tf.while_loop(lambda i, acc: i < 3, body, [0, tf.zeros([5, 4])])
    ts = np.ones((4, 4), np.float32)
    sess = tf.Session(backend="llvm")
    sess.run(acc, {table: ts, idx: np.zeros(5, np.int32)})
    _assert_native(sess)
    bad = np.full(5, 2, np.int32)  # row 2 + i is out of range in the second iteration
    errs = []
    for s in (sess, tf.Session(backend="numpy")):
        with pytest.raises(errors.InvalidArgumentError) as info:
            s.run(acc, {table: ts, idx: bad})
        errs.append(info.value)
    native, reference = errs
    assert native.op is not None and reference.op is not None
    assert native.op.name == reference.op.name == made["op"].name
    assert native.op.type == made["op"].type
    assert f"{__file__}:{made['line']}" in native.op.location
    assert "rows_of_table" in str(native) and "4" in native.message
