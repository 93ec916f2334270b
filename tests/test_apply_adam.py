"""ApplyAdam (graphc/ops/training_ops.py): the LLVM kernel against the op's NumPy reference,
bit for bit (whole vector blocks, a partial last block, empty, threads, non-finite values,
outputs written over dying inputs), the reference against Adam's formula written out
step by step, the "per_element" trait's promise, and AdamOptimizer's use of the op."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import registry as reg
from graphc.ops.training_ops import adam_reference, apply_adam
from graphc.passes.memory import plan_for

HYPER = (0.9**3, 0.999**3, 0.01, 0.9, 0.999, 1e-8)  # beta1^t, beta2^t, lr, beta1, beta2, epsilon


def adam_inputs(n: int, dtype: type, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=n), rng.normal(size=n) * 0.1, rng.uniform(0.0, 0.2, size=n)]
    return (
        [a.astype(dtype) for a in arrays]
        + [np.asarray(h, dtype) for h in HYPER]
        + [rng.normal(size=n).astype(dtype)]
    )


def run_llvm(ins: list[np.ndarray]) -> list[np.ndarray]:
    with tf.Graph().as_default():
        phs = [tf.placeholder(tf.as_dtype(a.dtype), a.shape) for a in ins]
        with tf.Session(backend="llvm") as sess:
            return sess.run(list(apply_adam(*phs)), dict(zip(phs, ins)))


def same_bits(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), np.max(np.abs(a.astype(np.float64) - b))


def written_out(ins: list[np.ndarray]) -> list[np.ndarray]:
    """Adam's update as the optimizer's documentation states it, one NumPy step at a time."""
    var, m, v, b1p, b2p, lr, b1, b2, eps, g = ins
    dt = var.dtype.type
    with np.errstate(all="ignore"):
        lr_t = dt(lr * np.sqrt(dt(1) - b2p)) / (dt(1) - b1p)
        m_t = m * b1 + g * (dt(1) - b1)
        v_t = v * b2 + (g * g) * (dt(1) - b2)
        return [var - (lr_t * m_t) / (np.sqrt(v_t) + eps), m_t, v_t]


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 40, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_llvm_kernel_gives_the_reference_bits(n: int, dtype: type) -> None:
    ins = adam_inputs(n, dtype, seed=n)
    want = adam_reference(ins, {})
    same_bits(want, [np.asarray(x, dtype) for x in written_out(ins)])
    same_bits(run_llvm(ins), want)


def test_non_finite_values_follow_the_reference() -> None:
    ins = adam_inputs(24, np.float32)
    ins[2][:4] = [-1.0, np.inf, np.nan, 0.0]  # v: sqrt of a negative is NaN; m / inf is 0
    ins[9][4:8] = [np.inf, -np.inf, np.nan, 1e30]  # grad: g * g overflows
    ins[0][8] = np.nan
    want = adam_reference(ins, {})
    assert np.isnan(want[0][[0, 2]]).all() and want[0][1] == ins[0][1]
    assert not np.isfinite(want[2][4:8]).any()
    same_bits(run_llvm(ins), want)


def test_threads_split_the_blocks_without_changing_a_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "2")
    ins = adam_inputs(3 * 65536 + 5, np.float32, seed=3)
    same_bits(run_llvm(ins), adam_reference(ins, {}))


def test_outputs_over_dying_inputs_in_the_arena() -> None:
    """The plan puts each new value over a temporary input that dies at the op; the kernel
    reads every block before writing it, so the results are the reference's."""
    ins = adam_inputs(100, np.float32, seed=5)
    scale = [np.float32(1.5), np.float32(0.5), np.float32(2.0), np.float32(3.0)]
    with tf.Graph().as_default():
        phs = [tf.placeholder(tf.float32, a.shape) for a in ins]
        w, m, v, g = (phs[i] * scale[j] for j, i in enumerate((0, 1, 2, 9)))
        outs = apply_adam(w, m, v, *phs[3:9], g)
        fetches = [o * 2.0 for o in outs]
        with tf.Session(backend="llvm") as sess:
            got = sess.run(fetches, dict(zip(phs, ins)))
    ref_in = list(ins)
    for j, i in enumerate((0, 1, 2, 9)):
        ref_in[i] = ins[i] * scale[j]
    same_bits(got, [o * np.float32(2.0) for o in adam_reference(ref_in, {})])


def test_the_plan_writes_over_the_dying_temporaries() -> None:
    with tf.Graph().as_default() as graph:
        phs = [tf.placeholder(tf.float32, [8] if i in (0, 1, 2, 9) else []) for i in range(10)]
        outs = apply_adam(*(p * 2.0 for p in phs[:3]), *phs[3:9], phs[9] * 2.0)
        fetches = [o * 2.0 for o in outs]
    from graphc.ir.lower import lower  # the pipeline's program, as a backend receives it
    from graphc.passes import pipeline

    feeds = {p: (tf.float32, tuple(p.shape.as_list())) for p in phs}
    program = pipeline.optimize(lower(graph, fetches, feeds).program)
    plan = plan_for(program)
    assert sum(1 for p in plan.in_place if p.op == "ApplyAdam") == 3


def test_per_element_ops_map_permuted_elements_to_permuted_outputs() -> None:
    ops = [op for op in reg.all_ops() if op.has("per_element")]
    assert ops
    rng = np.random.default_rng(0)
    for opdef in ops:
        assert opdef.samples is not None
        for s in opdef.samples(rng):
            shape = max((np.shape(x) for x in s.inputs), key=len)
            perm = rng.permutation(int(np.prod(shape)))
            moved = [
                np.asarray(x).reshape(-1)[perm].reshape(shape) if np.shape(x) == shape else x
                for x in s.inputs
            ]
            base = opdef.reference(list(s.inputs), dict(s.attrs))
            for a, b in zip(base, opdef.reference(moved, dict(s.attrs)), strict=True):
                assert np.shape(a) == shape
                np.testing.assert_array_equal(np.asarray(a).reshape(-1)[perm].reshape(shape), b)


def adam_steps(dtype: type, backend: str, steps: int = 3) -> tuple[list[str], np.ndarray]:
    with tf.Graph().as_default() as graph:
        x = np.linspace(-1.0, 1.0, 12).reshape(4, 3).astype(dtype)
        w = tf.Variable(np.full((3, 2), 0.5, dtype))
        loss = tf.reduce_sum(tf.square(tf.matmul(tf.constant(x), w)))
        step = tf.train.AdamOptimizer(0.1).minimize(loss)
        ops = sorted({op.type for op in graph.get_operations()})
        with tf.Session(backend=backend) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                sess.run(step)
            return ops, sess.run(w)


def numpy_adam(dtype: type, steps: int = 3) -> np.ndarray:
    x = np.linspace(-1.0, 1.0, 12).reshape(4, 3).astype(dtype)
    w = np.full((3, 2), 0.5, dtype)
    m, v = np.zeros_like(w), np.zeros_like(w)
    b1p, b2p = np.float32(0.9), np.float32(0.999)  # TF1's beta powers are float32 variables
    for _ in range(steps):
        g = (2 * x.T @ (x @ w)).astype(dtype)
        ins = [w, m, v, np.asarray(b1p, dtype), np.asarray(b2p, dtype)]
        b1p, b2p = b1p * np.float32(0.9), b2p * np.float32(0.999)
        ins += [np.asarray(np.float32(h), dtype) for h in (0.1, 0.9, 0.999, 1e-8)] + [g]  # float32 hypers
        w, m, v = (np.asarray(a, dtype) for a in written_out(ins))
    return w


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_adam_optimizer_uses_the_op_for_float32_and_float64(backend: str) -> None:
    for dtype in (np.float32, np.float64):
        ops, w = adam_steps(dtype, backend)
        assert "ApplyAdam" in ops
        # float32: the graph's gradient rounds differently from NumPy's matmuls.
        np.testing.assert_allclose(w, numpy_adam(dtype), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_adam_optimizer_keeps_the_elementwise_update_for_float16() -> None:
    ops, w = adam_steps(np.float16, "numpy")
    assert "ApplyAdam" not in ops
    np.testing.assert_allclose(w.astype(np.float64), numpy_adam(np.float64), atol=5e-3)
