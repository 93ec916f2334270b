"""The LLVM backend's kernels against NumPy: odd sizes, broadcasts, reductions, matrix
products, symbolic dims fed with several sizes, threads, exported code, and the checks
that keep native code from reading past a buffer."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends, get_backend

pytestmark = pytest.mark.skipif("llvm" not in available_backends(), reason="the LLVM backend is not available")

SIZES = [0, 1, 7, 31, 1023]


def _run(fetches, feeds, backend="llvm"):
    with tf.Session(backend=backend) as sess:
        return sess.run(fetches, feeds), dict(sess.stats)


@pytest.mark.parametrize("n", SIZES)
def test_elementwise_broadcasts_on_odd_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 5])
        row = tf.placeholder(tf.float32, [5])
        col = tf.placeholder(tf.float32, [None, 1])
        y = tf.nn.relu(x * row - col) + tf.square(x) / (tf.abs(row) + 1.0)
        z = tf.cast(x > col, tf.int32) * 3 - tf.cast(tf.floor(x * 4.0), tf.int32)
        feeds = {
            x: rng.normal(size=(n, 5)).astype(np.float32),
            row: rng.normal(size=5).astype(np.float32),
            col: rng.normal(size=(n, 1)).astype(np.float32),
        }
        got, _ = _run([y, z], feeds)
        want, _ = _run([y, z], feeds, "numpy")
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(axis, keepdims: bool) -> None:
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(3, 0 if axis == 1 else 5, 7)).astype(np.float64)
    iv = rng.integers(-50, 50, size=(3, 5, 7)).astype(np.int32)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, None, 7])
        i = tf.placeholder(tf.int32, [None, 5, 7])
        outs = [
            tf.reduce_sum(x, axis, keepdims=keepdims),
            tf.reduce_mean(x, axis, keepdims=keepdims),
            tf.reduce_max(i, axis, keepdims=keepdims),
            tf.reduce_min(x * 2.0, axis, keepdims=keepdims),
            tf.reduce_prod(i % 3 + 1, axis, keepdims=keepdims),
            tf.reduce_mean(i, axis, keepdims=keepdims),
        ]
        with np.errstate(all="ignore"):
            got, _ = _run(outs, {x: xv, i: iv})
            want, _ = _run(outs, {x: xv, i: iv}, "numpy")
    for gv, wv in zip(got, want):
        assert np.shape(gv) == np.shape(wv)
        np.testing.assert_allclose(gv, wv, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize(
    "sa,sb,ta,tb",
    [
        ((3, 4), (4, 5), False, False),
        ((4, 3), (4, 5), True, False),
        ((3, 4), (5, 4), False, True),
        ((4, 3), (5, 4), True, True),
        ((2, 3, 4), (2, 4, 5), False, False),
        ((2, 1, 3, 4), (5, 4, 2), False, False),
        ((3, 0), (0, 5), False, False),
        ((0, 4), (4, 5), False, False),
        ((1, 1), (1, 1), False, False),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_matmul_matches_numpy(sa, sb, ta, tb, dtype) -> None:
    rng = np.random.default_rng(1)
    av = (rng.normal(size=sa) * 4).astype(dtype)
    bv = (rng.normal(size=sb) * 4).astype(dtype)
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(dtype, sa)
        b = tf.placeholder(dtype, sb)
        y = tf.matmul(a, b, transpose_a=ta, transpose_b=tb)
        got, _ = _run(y, {a: av, b: bv})
    want = np.matmul(np.swapaxes(av, -1, -2) if ta else av, np.swapaxes(bv, -1, -2) if tb else bv)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_symbolic_dims_never_recompile() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        w = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4))
        y = tf.reduce_sum(tf.nn.relu(tf.matmul(x, w) - 2.0), axis=1)
        with tf.Session(backend="llvm") as sess:
            for n in (1, 2, 5, 64, 3):
                xv = np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
                np.testing.assert_allclose(
                    sess.run(y, {x: xv}), np.maximum(xv @ w.op.get_attr("value") - 2, 0).sum(1), rtol=1e-5
                )
            assert sess.stats["compiles"] == 1


def test_results_do_not_depend_on_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    xv = np.random.default_rng(3).normal(size=(300, 1000)).astype(np.float32)
    results = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, 1000])
            outs = [tf.exp(x * 0.5) - x, tf.reduce_sum(x * x, axis=1), tf.reduce_max(x, axis=1)]
            got, _ = _run(outs, {x: xv})
        results.append(got)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def _program():
    from graphc.ir.lower import lower
    from graphc.passes import pipeline

    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4])
        y = tf.reduce_mean(tf.tanh(x) * 2.0 + 1.0, axis=0)
        low = lower(g, [y], {x: (tf.float32, (5, 4))})
    return pipeline.optimize(low.program)


def test_exported_code_runs_without_compiling() -> None:
    backend = get_backend("llvm")
    program = _program()
    exe = backend.compile(program)
    code = backend.export(exe)
    compiles = backend.stats["compiles"]
    loaded = backend.load(program, code)
    assert backend.stats["compiles"] == compiles
    xv = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    symbol = program.symbols()[0]
    a = exe.run([xv], {symbol: 6})[0]
    b = loaded.run([xv], {symbol: 6})[0]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, (np.tanh(xv) * 2 + 1).mean(0), rtol=1e-5)
    with pytest.raises(ValueError):
        backend.load(program, b"not code" + code)


def test_an_input_that_disagrees_with_the_dims_is_refused() -> None:
    """The executable compares every input's shape with the one the dims imply before any
    native code runs (the kernels trust those sizes)."""
    backend = get_backend("llvm")
    program = _program()
    exe = backend.compile(program)
    symbol = program.symbols()[0]
    with pytest.raises(ValueError, match="shape"):
        exe.run([np.zeros((3, 4), np.float32)], {symbol: 1000})
    with pytest.raises(ValueError, match="shape"):
        exe.run([np.zeros((3, 5), np.float32)], {symbol: 3})
    # A wrong dtype is converted, never reinterpreted.
    out = exe.run([np.ones((2, 4), np.float64)], {symbol: 2})[0]
    np.testing.assert_allclose(out, np.tanh(1.0) * 2 + 1, rtol=1e-6)


def test_elementwise_loops_are_vectorised() -> None:
    from graphc_llvm import jit

    program = _program()
    exe = get_backend("llvm").compile(program)
    asm = jit.emit_assembly(jit.optimize(exe.llvm_ir))
    assert "ymm" in asm or "zmm" in asm or "xmm" in asm and "ps\t" in asm


def test_the_ops_without_a_native_lowering_are_the_documented_ones() -> None:
    """Every registered op has a native lowering but those listed, each with its reason,
    in graphc_llvm.lowerings.WITHOUT_LOWERING (the list a new op must not silently join)."""
    from graphc_llvm.lowerings import WITHOUT_LOWERING, supported_ops

    from graphc import registry as reg

    # graphc's own ops (tests register ops of their own in the same process).
    ours = {op.name for op in reg.all_ops() if getattr(op.reference, "__module__", "").startswith("graphc")}
    missing = ours - supported_ops()
    assert missing == set(WITHOUT_LOWERING), (
        f"undocumented: {sorted(missing - set(WITHOUT_LOWERING))}; "
        f"listed but lowered: {sorted(set(WITHOUT_LOWERING) - missing)}"
    )
    assert all(len(why) > 20 for why in WITHOUT_LOWERING.values())


def test_result_buffers_are_reused_only_when_nothing_holds_them() -> None:
    """A run reuses an earlier run's result buffer only once no one references it: values
    the caller kept are never overwritten by a later run."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None])
        y = x * 2.0
        with tf.Session(backend="llvm") as sess:
            kept = [sess.run(y, {x: np.full(4, float(i), np.float32)}) for i in range(5)]
            for i, a in enumerate(kept):
                np.testing.assert_array_equal(a, np.full(4, 2.0 * i, np.float32))
            view = sess.run(y, {x: np.ones(4, np.float32)})[1:]  # a view keeps its base
            for _ in range(3):
                sess.run(y, {x: np.zeros(4, np.float32)})
            np.testing.assert_array_equal(view, [2.0, 2.0, 2.0])
