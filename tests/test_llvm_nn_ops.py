"""The LLVM backend's softmax family, losses and random ops (backends/graphc_llvm/lower_nn.py)
against NumPy formulas written here in float64, on odd sizes (0, 1, primes), negative
axes, rows holding inf and NaN, symbolic batch dims (one compile for several sizes), and
out-of-range labels; the random ops bit for bit against graphc.kernels.philox and the
published Philox4x32-10 known-answer vector."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir.entry import bind_entry
from graphc.ir.lower import LoweringDims
from graphc.ir.program import DimBinding, Node, Origin, Output, Param, Program, Value
from graphc.kernels import philox
from graphc.runtime.backend import CompileOptions, available_backends, get_backend

pytestmark = pytest.mark.skipif("llvm" not in available_backends(), reason="the LLVM backend cannot run here")

RNG = np.random.default_rng(1234)
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 2e-6}
LOWERED = (
    "Softmax",
    "LogSoftmax",
    "LogSumExp",
    "SoftmaxCrossEntropyWithLogits",
    "SparseSoftmaxCrossEntropyWithLogits",
    "L2Loss",
    "RandomUniform",
    "RandomUniformInt",
)


# -- running one node natively ------------------------------------------------------------------
def _program(
    op: str, inputs: list[np.ndarray], attrs: dict[str, Any], symbolic: tuple[int, ...] = ()
) -> Program:
    """A one-node program; axis 0 of each input listed in ``symbolic`` is the symbol N (so
    those inputs share their batch dim, as the ops' shape rules ask)."""
    n = sym.symbol("N")
    params = []
    for i, x in enumerate(inputs):
        shape: tuple[Any, ...] = tuple(x.shape)
        if i in symbolic:
            shape = (n, *shape[1:])
        params.append(Param(Value(_dt.as_dtype(x.dtype), shape), "feed", f"in{i}"))
    node = Node(op, [p.value for p in params], dict(attrs), [], Origin("op", op, "test"))
    opdef = reg.get(op)
    env = LoweringDims()
    random = opdef.has("random")
    shaped = params[:-1] if random else params  # a random op's counter is no part of its shape rule
    values = [
        np.array(inputs[0].tolist(), dtype=object) if random and i == 0 else None for i in range(len(shaped))
    ]
    ctx = reg.InferenceContext(
        op, [p.value.shape for p in shaped], [p.value.dtype for p in shaped], values, dict(attrs), env
    )
    for j, (s, d) in enumerate(zip(opdef.shape(ctx), opdef.dtype(ctx))):
        node.outputs.append(Value(d, tuple(env.resolve(x) for x in s), node, j))
    bindings = [DimBinding(n, i, 0) for i in symbolic]
    outputs = [Output(v, "fetch", str(j)) for j, v in enumerate(node.outputs)]
    return Program(params, [node], outputs, bindings=bindings)


def _compile(program: Program) -> Any:
    exe = get_backend("llvm").compile(program, CompileOptions())
    assert hasattr(exe, "llvm_ir"), "compiled by the NumPy fallback, not natively"
    assert '@"node0"' in exe.llvm_ir  # the node's own kernel
    return exe


def _run(exe: Any, program: Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    dims = bind_entry(program, [x.shape for x in inputs], dict(enumerate(inputs)))
    return [np.asarray(o) for o in exe.run(list(inputs), dims)]


def native(op: str, inputs: list[np.ndarray], attrs: dict[str, Any] | None = None) -> list[np.ndarray]:
    prog = _program(op, inputs, attrs or {})
    return _run(_compile(prog), prog, inputs)


def close(got: np.ndarray, want: np.ndarray, dtype: Any) -> None:
    dtype = np.dtype(dtype)
    assert got.dtype == dtype and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=TOL[dtype], atol=1e-6, equal_nan=True)


# -- independent float64 formulas ---------------------------------------------------------------
def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = x - x.max(axis=axis, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def np_logsumexp(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    """log(sum(exp(x))) with the max shift when it is finite (an empty or all -inf row: -inf)."""
    x = x.astype(np.float64)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis if axis is not None else tuple(range(x.ndim)))


def logits(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return (RNG.normal(size=shape) * 3).astype(dtype)


# -- the table ---------------------------------------------------------------------------------
def test_lowered_ops_are_native() -> None:
    from graphc_llvm.lowerings import supported_ops

    assert set(LOWERED) <= supported_ops()


# -- Softmax / LogSoftmax --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,axis",
    [
        ((7, 13), 1),
        ((7, 13), -1),
        ((7, 13), 0),
        ((2, 5, 3), 1),
        ((2, 5, 3), -2),
        ((1, 1), -1),
        ((131,), 0),
        ((0, 4), 1),
        ((3, 1, 2), 1),
        ((2, 1031), -1),  # rows longer than a staging chunk, of a prime length
    ],
)
def test_softmax_and_log_softmax(shape: tuple[int, ...], axis: int, dtype: Any) -> None:
    x = logits(shape, dtype)
    close(native("Softmax", [x], {"axis": axis})[0], np_softmax(x, axis), dtype)
    close(native("LogSoftmax", [x], {"axis": axis})[0], np_log_softmax(x, axis), dtype)


def test_softmax_of_an_empty_axis_is_empty() -> None:
    x = np.zeros((3, 0), np.float32)
    for op in ("Softmax", "LogSoftmax"):
        out = native(op, [x], {"axis": -1})[0]
        assert out.shape == (3, 0) and out.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_with_inf_and_nan(dtype: Any) -> None:
    x = np.array(
        [
            [1.0, 2.0, 3.0],
            [np.inf, 0.0, 1.0],
            [-np.inf, -np.inf, -np.inf],
            [np.nan, 0.0, 1.0],
            [-np.inf, 0.0, 1.0],
            [1e30, -1e30, 0.0],
        ],
        dtype,
    )
    sm, lsm = native("Softmax", [x], {"axis": 1})[0], native("LogSoftmax", [x], {"axis": 1})[0]
    close(sm, np_softmax(x, 1), dtype)
    close(lsm, np_log_softmax(x, 1), dtype)
    assert np.isnan(sm[1:4]).all() and sm[4, 0] == 0 and lsm[4, 0] == -np.inf


def test_softmax_large_logits_do_not_overflow() -> None:
    x = (RNG.normal(size=(4, 9)) + 1000).astype(np.float32)
    close(native("Softmax", [x], {"axis": -1})[0], np_softmax(x, -1), np.float32)


def test_softmax_float16_close() -> None:
    x = logits((5, 11), np.float16)
    out = native("Softmax", [x], {"axis": -1})[0]
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.astype(np.float64), np_softmax(x, -1), rtol=2e-3, atol=1e-4)


# -- LogSumExp ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,axis,keepdims",
    [
        ((5, 7), (1,), False),
        ((5, 7), (-1,), True),
        ((5, 7), (0,), False),
        ((2, 3, 5), (0, 2), False),
        ((2, 3, 5), (0, 2), True),
        ((2, 3, 5), None, False),
        ((2, 3, 5), (1, 2), False),
        ((3, 0), (1,), False),
        ((0, 3), (1,), True),
        ((), None, False),
        ((13,), (0,), True),
        ((3, 1031), (1,), False),
        ((2, 3, 293), (1, 2), True),
    ],
)
def test_logsumexp(shape: tuple[int, ...], axis: Any, keepdims: bool, dtype: Any) -> None:
    x = logits(shape, dtype)
    got = native("LogSumExp", [x], {"axis": axis, "keepdims": keepdims})[0]
    np_axis = None if axis is None else tuple(a % len(shape) for a in axis)
    close(got, np_logsumexp(x, np_axis, keepdims), dtype)


def test_logsumexp_special_rows() -> None:
    x = np.array(
        [[-np.inf, -np.inf], [np.inf, 0.0], [np.nan, 1.0], [1000.0, 1000.0], [-np.inf, 2.0]], np.float64
    )
    got = native("LogSumExp", [x], {"axis": (1,), "keepdims": False})[0]
    assert got[0] == -np.inf and got[1] == np.inf and np.isnan(got[2])
    close(got, np_logsumexp(x, (1,), False), np.float64)


# -- cross-entropies -----------------------------------------------------------------------------
def np_xent(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lp = np_log_softmax(x, 1)
    with np.errstate(invalid="ignore"):
        return -(y.astype(np.float64) * lp).sum(1), np.exp(lp) - y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 11), (1, 1), (1, 2), (0, 3), (2, 523)])
def test_softmax_cross_entropy(shape: tuple[int, int], dtype: Any) -> None:
    x = logits(shape, dtype)
    e = np.exp(RNG.normal(size=shape))
    y = (e / np.maximum(e.sum(1, keepdims=True), 1e-300)).astype(dtype)
    loss, bp = native("SoftmaxCrossEntropyWithLogits", [x, y])
    want_loss, want_bp = np_xent(x, y)
    close(loss, want_loss, dtype)
    close(bp, want_bp, dtype)


def test_softmax_cross_entropy_without_classes() -> None:
    # An empty sum: the loss is 0 (the NumPy reference cannot take the max of an empty row).
    loss, bp = native("SoftmaxCrossEntropyWithLogits", [np.zeros((3, 0), np.float32)] * 2)
    assert loss.tolist() == [0.0, 0.0, 0.0] and bp.shape == (3, 0)


def test_softmax_cross_entropy_with_infinite_logits() -> None:
    x = np.array([[-np.inf, 0.0, 1.0], [np.inf, 0.0, 1.0]], np.float32)
    y = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], np.float32)
    loss, bp = native("SoftmaxCrossEntropyWithLogits", [x, y])
    want_loss, want_bp = np_xent(x, y)
    assert np.isnan(loss).all()  # 0 * -inf, and inf - inf
    close(bp, want_bp, np.float32)


def np_sparse_xent(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lp = np_log_softmax(x, 1)
    rows = np.arange(x.shape[0])
    bp = np.exp(lp)
    bp[rows, labels] -= 1.0
    return -lp[rows, labels], bp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", [(7, 11), (1, 1), (3, 2), (0, 4), (2, 523)])
def test_sparse_softmax_cross_entropy(shape: tuple[int, int], label_dtype: Any, dtype: Any) -> None:
    x = logits(shape, dtype)
    labels = RNG.integers(0, shape[1], size=shape[0]).astype(label_dtype)
    loss, bp = native("SparseSoftmaxCrossEntropyWithLogits", [x, labels])
    want_loss, want_bp = np_sparse_xent(x, labels)
    close(loss, want_loss, dtype)
    close(bp, want_bp, dtype)


@pytest.mark.parametrize("bad", [-1, 5, 2**31 - 1, -(2**31)])
def test_sparse_softmax_cross_entropy_label_out_of_range(bad: int) -> None:
    x = logits((4, 5))
    labels = np.array([0, 4, bad, 1], np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"label value of {bad} which is outside the valid range"):
        native("SparseSoftmaxCrossEntropyWithLogits", [x, labels])


def test_sparse_softmax_cross_entropy_no_classes() -> None:
    with pytest.raises(tf.errors.InvalidArgumentError):
        native("SparseSoftmaxCrossEntropyWithLogits", [np.zeros((2, 0), np.float32), np.zeros(2, np.int64)])


# -- L2Loss --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (1,), (97,), (3, 7, 11)])
def test_l2_loss(shape: tuple[int, ...], dtype: Any) -> None:
    x = logits(shape, dtype)
    out = native("L2Loss", [x])[0]
    close(out, np.asarray((x.astype(np.float64) ** 2).sum() / 2), dtype)


# -- symbolic batch dims: one compile, several sizes -----------------------------------------------
@pytest.mark.parametrize(
    "op,attrs",
    [
        ("Softmax", {"axis": -1}),
        ("LogSoftmax", {"axis": 1}),
        ("LogSumExp", {"axis": (1,), "keepdims": False}),
        ("LogSumExp", {"axis": None, "keepdims": True}),
        ("L2Loss", {}),
    ],
)
def test_symbolic_batch_one_compile(op: str, attrs: dict[str, Any]) -> None:
    prog = _program(op, [np.zeros((2, 5), np.float32)], attrs, symbolic=(0,))
    exe = _compile(prog)
    for n in (1, 7, 0, 3):
        x = logits((n, 5))
        got = _run(exe, prog, [x])[0]
        if op == "Softmax":
            want = np_softmax(x, -1)
        elif op == "LogSoftmax":
            want = np_log_softmax(x, 1)
        elif op == "LogSumExp":
            want = np_logsumexp(x, 1 if attrs["axis"] else None, attrs["keepdims"])
        else:
            want = np.asarray((x.astype(np.float64) ** 2).sum() / 2)
        close(got, want, np.float32)


def test_symbolic_batch_cross_entropies() -> None:
    x0, y0 = np.zeros((2, 5), np.float32), np.zeros((2, 5), np.float32)
    dense = _program("SoftmaxCrossEntropyWithLogits", [x0, y0], {}, symbolic=(0, 1))
    sparse = _program("SparseSoftmaxCrossEntropyWithLogits", [x0, np.zeros(2, np.int64)], {}, symbolic=(0, 1))
    exe_d, exe_s = _compile(dense), _compile(sparse)
    for n in (3, 1, 0, 11):
        x = logits((n, 5))
        e = np.exp(RNG.normal(size=(n, 5)))
        y = (e / e.sum(1, keepdims=True)).astype(np.float32)
        for g, w in zip(_run(exe_d, dense, [x, y]), np_xent(x, y)):
            close(g, w, np.float32)
        lab = RNG.integers(0, 5, size=n).astype(np.int64)
        for g, w in zip(_run(exe_s, sparse, [x, lab]), np_sparse_xent(x, lab)):
            close(g, w, np.float32)


def test_session_one_compile_for_two_batch_sizes() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 5])
        lab = tf.placeholder(tf.int32, [None])
        fetches = [
            tf.nn.softmax(x),
            tf.nn.log_softmax(x),
            tf.reduce_logsumexp(x, axis=1),
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=x),
            tf.nn.l2_loss(x),
        ]
        with tf.Session(backend="llvm") as sess:
            for n in (4, 9):
                xv = logits((n, 5))
                lv = RNG.integers(0, 5, size=n).astype(np.int32)
                sm, lsm, lse, xe, l2 = sess.run(fetches, {x: xv, lab: lv})
                close(sm, np_softmax(xv, -1), np.float32)
                close(lsm, np_log_softmax(xv, -1), np.float32)
                close(lse, np_logsumexp(xv, 1, False), np.float32)
                close(xe, np_sparse_xent(xv, lv)[0], np.float32)
                close(l2, np.asarray((xv.astype(np.float64) ** 2).sum() / 2), np.float32)
            assert sess.stats["compiles"] == 1
            with pytest.raises(tf.errors.InvalidArgumentError):
                sess.run(fetches, {x: logits((2, 5)), lab: np.array([0, 5], np.int32)})


# -- random ops: bit for bit -----------------------------------------------------------------------
def _random(op: str, shape: tuple[int, ...], counters: tuple[int, ...], **attrs: Any) -> list[np.ndarray]:
    """The op's output for each run counter, from one compile (the counter is an input)."""
    ins = [np.array(shape, np.int32), np.array(0, np.uint64)]
    prog = _program(op, ins, attrs)
    exe = _compile(prog)
    return [_run(exe, prog, [ins[0], np.array(c, np.uint64)])[0] for c in counters]


def test_philox_known_answer() -> None:
    # Random123's Philox4x32-10 vector for key 0, counter 0: words 6627e8d5 e169c58d ...;
    # these seeds fold to key (0, 0), and element 0 of run 0 is counter block 0.
    seeds = {"seed": 0x5DEECE66, "seed2": 0x2545F491}
    (u32,) = _random("RandomUniform", (1,), (0,), dtype=tf.float32, **seeds)
    assert u32[0] == np.float32(0x6627E8 * 2.0**-24)
    (u64,) = _random("RandomUniform", (1,), (0,), dtype=tf.float64, **seeds)
    assert u64[0] == ((0x6627E8D5 << 21) ^ (0xE169C58D >> 11)) * 2.0**-53
    (r,) = _random("RandomUniformInt", (1,), (0,), dtype=tf.int64, minval=0, maxval=2**62, **seeds)
    assert r[0] == ((0x6627E8D5 << 32) | 0xE169C58D) % 2**62


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
@pytest.mark.parametrize("shape", [(0,), (1,), (7, 3), (1031,)])
def test_random_uniform_bit_identical(dtype: Any, shape: tuple[int, ...]) -> None:
    counters = (0, 5, 2**32 + 3)  # the last one sets the counter's high word
    for counter, got in zip(
        counters, _random("RandomUniform", shape, counters, dtype=dtype, seed=7, seed2=-3)
    ):
        want = philox.uniform(philox.key_from_seeds(7, -3), counter, shape, dtype.np)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
        assert ((got >= 0) & (got < 1)).all()


@pytest.mark.parametrize(
    "dtype,lo,hi",
    [
        (tf.int32, -3, 9),
        (tf.int64, -(2**40), 2**40 + 7),
        (tf.int32, 0, 1),
        (tf.uint8, 0, 256),
        (tf.int64, -(2**63), 2**63 - 1),
        (tf.int16, -5, 1000),
    ],
)
@pytest.mark.parametrize("shape", [(2, 3), (509,)])
def test_random_uniform_int_bit_identical(dtype: Any, lo: int, hi: int, shape: tuple[int, ...]) -> None:
    (got,) = _random("RandomUniformInt", shape, (9,), dtype=dtype, minval=lo, maxval=hi, seed=11, seed2=2**40)
    want = philox.uniform_int(philox.key_from_seeds(11, 2**40), 9, shape, lo, hi, dtype.np)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    if dtype.np.itemsize == 8 or hi - lo <= 2 ** (8 * dtype.np.itemsize - 1):
        assert ((got.astype(object) >= lo) & (got.astype(object) < hi)).all()


def test_random_symbolic_shape_one_compile() -> None:
    g = tf.Graph()
    with g.as_default():
        n = tf.placeholder(tf.int32, [])
        u = tf.random_uniform(tf.stack([n, 3]), seed=5)
        r = tf.random_uniform(tf.stack([n]), minval=-4, maxval=17, dtype=tf.int64, seed=6)
        with tf.Session(backend="llvm") as sess:
            for run, size in enumerate((4, 11, 0)):
                got_u, got_r = sess.run([u, r], {n: size})
                ku = philox.key_from_seeds(u.op.attrs["seed"], u.op.attrs["seed2"])
                kr = philox.key_from_seeds(r.op.attrs["seed"], r.op.attrs["seed2"])
                assert got_u.tobytes() == philox.uniform(ku, run, (size, 3), np.float32).tobytes()
                assert got_r.tobytes() == philox.uniform_int(kr, run, (size,), -4, 17, np.int64).tobytes()
            assert sess.stats["compiles"] == 1
