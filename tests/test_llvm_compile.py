"""The LLVM backend's compile path: the shared thread spawner, the plain loop for
statically small work, dim formulas, and the optimiser's settings.

Threaded results are compared with NumPy and with a one-thread run (chunks are over
output elements, so they must match bit for bit); dim formulas with Python's ``//``
(floor division) over negative and extreme values.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from llvmlite import ir

import graphc as tf
from graphc import symbolic as sym
from graphc.runtime.backend import available_backends, get_backend

pytestmark = pytest.mark.skipif("llvm" not in available_backends(), reason="LLVM backend unavailable")


def _compiled(build, feeds):  # type: ignore[no-untyped-def]
    """The native executable of the program ``build()`` fetches, with feeds' shapes."""
    from graphc.ir.lower import lower
    from graphc.passes import pipeline

    g = tf.Graph()
    with g.as_default():
        fetches, placeholders = build()
        low = lower(g, fetches, {p: (p.dtype, shape) for p, shape in zip(placeholders, feeds)})
    return get_backend("llvm").compile(pipeline.optimize(low.program))


@pytest.mark.parametrize("threads", ["1", "4", "7"])
def test_threaded_chunks_match_numpy_and_one_thread(monkeypatch: pytest.MonkeyPatch, threads: str) -> None:
    # 5 rows of 2**16: a reduction splits its 5 output rows into min(threads, 5) chunks of
    # ceil(5 / chunks) rows (4 threads: chunks of 2, 2, 1 and an empty one).
    xv = np.random.default_rng(1).normal(size=(5, 1 << 16)).astype(np.float32)
    monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 1 << 16])
        outs = [tf.reduce_sum(x * x, axis=1), tf.reduce_max(x, axis=1), tf.exp(x * 0.25) - x]
        with tf.Session(backend="llvm") as sess:
            got = sess.run(outs, {x: xv})
            one = sess.run(outs, {x: xv[:1]})  # a single row: one chunk whatever the count
    np.testing.assert_allclose(got[0], (xv.astype(np.float64) ** 2).sum(1), rtol=1e-5)
    np.testing.assert_array_equal(got[1], xv.max(1))
    np.testing.assert_allclose(got[2], np.exp(xv * 0.25) - xv, rtol=2e-6, atol=1e-6)
    for a, b in zip(one, got):
        np.testing.assert_array_equal(a, b[:1])


def test_threaded_results_independent_of_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    xv = np.random.default_rng(2).normal(size=(3, 300_001)).astype(np.float32)
    results = []
    for threads in ("1", "2", "64"):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, None])
            outs = [tf.reduce_sum(x, axis=0), tf.reduce_sum(x, axis=1), tf.tanh(x) * 2.0]
            with tf.Session(backend="llvm") as sess:
                results.append(sess.run(outs, {x: xv}))
    np.testing.assert_allclose(results[0][1], xv.astype(np.float64).sum(1), rtol=1e-5)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_one_spawner_per_module_and_none_for_static_small_work() -> None:
    def dynamic():  # type: ignore[no-untyped-def]
        x = tf.placeholder(tf.float32, [None, 8])
        return [tf.exp(x) + 1.0, tf.reduce_sum(x * x, axis=1), tf.nn.relu(x) * 3.0], [x]

    exe = _compiled(dynamic, [(None, 8)])
    text = exe.llvm_ir
    assert text.count('define internal i32 @"graphc.parallel"') == 1
    assert text.count('define internal i8* @"graphc.worker"') == 1
    assert "worker" not in text.replace("graphc.worker", "")  # no per-node workers
    assert text.count("pthread_create") == 2  # its declaration and its one call

    def small():  # type: ignore[no-untyped-def]
        x = tf.placeholder(tf.float32, [16, 8])
        return [tf.exp(x) + 1.0, tf.reduce_sum(x * x, axis=1)], [x]

    exe = _compiled(small, [(16, 8)])
    assert "graphc.parallel" not in exe.llvm_ir and "pthread" not in exe.llvm_ir
    xv = np.random.default_rng(3).normal(size=(16, 8)).astype(np.float32)
    got = exe.run([xv], {})
    np.testing.assert_allclose(got[0], np.exp(xv) + 1.0, rtol=2e-6)
    np.testing.assert_allclose(got[1], (xv.astype(np.float64) ** 2).sum(1), rtol=1e-5)


def _dim_function(formulas: list[sym.Dim]):  # type: ignore[no-untyped-def]
    """Native ``f(dims, out)`` storing each formula's value (codegen.emit_dim) over its one symbol."""
    from graphc_llvm import codegen, jit
    from graphc_llvm import types as T

    mod = jit.new_module("dims")
    fn = ir.Function(mod, ir.FunctionType(T.VOID, [T.I64.as_pointer()] * 2), name="f")
    dims, out = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    for k, d in enumerate(formulas):
        v = codegen.emit_dim(b, d, lambda eb, name: eb.load(eb.gep(dims, [T.I64(0)])))
        b.store(v, b.gep(out, [T.I64(k)]))
    b.ret_void()
    code = jit.LoadedCode(jit.emit_object(jit.optimize(mod)))
    f = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(code.address("f"))
    return code, f


def test_dim_formulas_floor_divide_like_python() -> None:
    n = sym.symbol("Kfloordiv_test", signed=True)  # signedness is per name, process-wide: a name of its own
    divisors = [1, 2, 3, 7, 10, 64, 4096, 1 << 40]
    formulas = [sym.floordiv(n, d) for d in divisors] + [sym.floordiv(n * 40 + 63, 64) * 64 + n * 4096]
    code, f = _dim_function(formulas)
    small = [-4097, -65, -64, -63, -11, -10, -9, -7, -3, -2, -1, 0, 1, 2, 3, 9, 10, 63, 64, 65]
    values = [-(2**62), *small, 2**62]
    out = np.zeros(len(formulas), dtype=np.int64)
    for v in values:
        dv = np.array([v], dtype=np.int64)
        f(dv.ctypes.data, out.ctypes.data)
        want = [sym.evaluate(d, {"Kfloordiv_test": v}) for d in formulas[:-1]]
        assert out[:-1].tolist() == want, v
        assert want == [v // d for d in divisors]
        if abs(v) < 2**40:
            assert int(out[-1]) == (v * 40 + 63) // 64 * 64 + v * 4096
    del code


def test_pipeline_still_vectorises_without_unrolling() -> None:
    from graphc_llvm import jit

    def chain():  # type: ignore[no-untyped-def]
        x = tf.placeholder(tf.float32, [None])
        return [x * 2.0 + 1.0], [x]

    exe = _compiled(chain, [(None,)])
    optimised = str(jit.optimize(exe.llvm_ir))
    assert "x float>" in optimised  # a vector loop (width chosen for the host)
    assert jit.identity()["pipeline"] == f"unroll={int(jit.LOOP_UNROLLING)}"


def test_nodes_alike_share_one_kernel_and_each_computes_its_own_values() -> None:
    """The same elementwise update over arrays of different shapes and ranks (an optimizer's
    per-variable update) is one shared kernel called by every node of its kind; each
    node's values are still NumPy's."""

    def build():  # type: ignore[no-untyped-def]
        a = tf.placeholder(tf.float32, [3, 5])
        d = tf.placeholder(tf.float32, [2, 2, 2])
        b = tf.placeholder(tf.float32, [300, 700])  # large: the threaded path
        c = tf.placeholder(tf.float32, [None, 4])
        return [tf.sqrt(x * x + 1.0) * 0.5 - x for x in (a, d, b, c)] + [c * c + c], [a, d, b, c]

    exe = _compiled(build, [(3, 5), (2, 2, 2), (300, 700), (None, 4)])
    # Two shared kernels: one for the two small constant-sized nodes (no thread code),
    # one for the large and the symbolic one; c * c + c, alone of its kind, has its own.
    assert exe.llvm_ir.count('define internal i32 @"graphc.kernel') == 2
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=s).astype(np.float32) for s in ((3, 5), (2, 2, 2), (300, 700), (9, 4))]
    got = exe.run(xs, {s: 9 for s in exe.layout.symbols})
    for x, y in zip(xs, got[:4]):
        np.testing.assert_allclose(y, np.sqrt(x * x + 1.0) * 0.5 - x, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(got[4], xs[3] * xs[3] + xs[3], rtol=1e-6)
