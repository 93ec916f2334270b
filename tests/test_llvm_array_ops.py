"""The LLVM backend's data-movement and index ops (backends/graphc_llvm/lower_array.py)
against NumPy: graphs with None dims run natively (the whole program on the llvm backend,
no NumPy segment) for several sizes from one compile, with odd sizes (0, 1, primes),
negative axes, int, float and bool dtypes, and indices out of range raising
InvalidArgumentError as TF1 does on CPU."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.ir.lower import lower
from graphc.passes import pipeline
from graphc.runtime import segments
from graphc.runtime.backend import available_backends, get_backend

pytestmark = pytest.mark.skipif(
    "llvm" not in available_backends(), reason="the LLVM backend is not available"
)

RNG = np.random.default_rng(7)

Build = Callable[..., Any]


def _program_ops(fetches: Sequence[Any], feeds: dict[Any, np.ndarray]) -> tuple[set[str], Any]:
    """The optimised program's op names and the executable the llvm backend makes of it."""
    targets = list(fetches)
    low = lower(tf.get_default_graph(), targets, {t: (t.dtype, v.shape) for t, v in feeds.items()})
    program = pipeline.optimize(low.program)
    backend = get_backend("llvm")
    assert segments.plan(program, backend) is None, segments.lacking_ops(program, backend)
    exe = backend.compile(program)
    return {n.op for n in program.nodes}, exe


def check(
    placeholders: Sequence[tuple[Any, Sequence[int | None]]],
    build: Build,
    reference: Callable[..., Sequence[np.ndarray]],
    inputs: Sequence[Sequence[np.ndarray]],
    ops: Sequence[str],
    exact: bool = True,
) -> None:
    """Build ``build(*placeholders)``, run it on the llvm backend for every input tuple (one
    compile), compare with ``reference(*arrays)``, and check that the program holds ``ops``
    and runs as one native executable."""
    phs = [tf.placeholder(dt, shape) for dt, shape in placeholders]
    out = build(*phs)
    fetches = list(out) if isinstance(out, list | tuple) else [out]
    with tf.Session(backend="llvm") as sess:
        for arrays in inputs:
            got = sess.run(fetches, dict(zip(phs, arrays)))
            want = reference(*arrays)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                w = np.asarray(w)
                g = np.asarray(g)
                assert g.shape == w.shape, (g.shape, w.shape)
                assert g.dtype == w.dtype, (g.dtype, w.dtype)
                if exact or w.dtype.kind != "f":
                    np.testing.assert_array_equal(g, w)
                else:
                    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        assert sess.stats["compiles"] == 1
    names, exe = _program_ops(fetches, dict(zip(phs, inputs[0])))
    for op in ops:
        assert op in names, (op, names)
    from graphc_llvm.native import LLVMExecutable  # after the entry point has loaded the backend

    assert isinstance(exe, LLVMExecutable)


def raises(
    placeholders: Sequence[tuple[Any, Sequence[int | None]]],
    build: Build,
    arrays: Sequence[np.ndarray],
    match: str,
) -> None:
    phs = [tf.placeholder(dt, shape) for dt, shape in placeholders]
    out = build(*phs)
    with tf.Session(backend="llvm") as sess:
        with pytest.raises(errors.InvalidArgumentError, match=match):
            sess.run(out, dict(zip(phs, arrays)))


def f32(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def i32(lo: int, hi: int, *shape: int) -> np.ndarray:
    return RNG.integers(lo, hi, size=shape).astype(np.int32)


SIZES = (1, 7, 0, 13)


# ---------------------------------------------------------------------------
# Broadcasts, sums back, fills, one-hot, range.


def test_broadcast_to_and_sum_to_shape() -> None:
    def build(x: Any, c: Any) -> Any:
        b = tf.placeholder_with_default(np.arange(5, dtype=np.float32), [5])
        y = tf.broadcast_to(x, tf.shape(c))
        loss = tf.reduce_sum((c + b) * c)
        (gb,) = tf.gradients(loss, [b])
        return [y, gb]

    check(
        [(tf.float32, [None, 1]), (tf.float32, [None, 5])],
        build,
        lambda x, c: [np.broadcast_to(x, c.shape), c.sum(axis=0)],
        [(f32(n, 1), f32(n, 5)) for n in SIZES],
        ["BroadcastTo", "SumToShape"],
        exact=False,
    )


def test_sum_to_shape_with_a_dim_decided_at_run_time() -> None:
    # The target is (M, 3) for a g of (N, 3): summed when M is 1, kept when M == N.
    def build(g: Any, t: Any) -> Any:
        from graphc.ops.broadcast_ops import sum_to_shape  # the op the gradients build

        return sum_to_shape(g, tf.shape(t))

    check(
        [(tf.float64, [None, 3]), (tf.float64, [None, 3])],
        build,
        lambda g, t: [g.sum(axis=0, keepdims=True) if t.shape[0] == 1 and g.shape[0] != 1 else g],
        [
            (np.arange(15.0).reshape(5, 3), np.zeros((1, 3))),
            (np.arange(15.0).reshape(5, 3), np.zeros((5, 3))),
        ],
        ["SumToShape"],
    )


def test_fill_one_hot_and_range() -> None:
    def build(lab: Any) -> Any:
        n = tf.shape(lab)[0]
        return [
            tf.one_hot(lab, 5),
            tf.one_hot(lab, 3, on_value=7, off_value=-2, axis=0, dtype=tf.int32),
            tf.fill(tf.stack([n, 3]), np.float32(2.5)),
            tf.range(n),
        ]

    def ref(lab: np.ndarray) -> list[np.ndarray]:
        n = lab.shape[0]
        hot = (lab[:, None] == np.arange(5)).astype(np.float32)
        hot0 = np.where(lab[None, :] == np.arange(3)[:, None], 7, -2).astype(np.int32)
        return [hot, hot0, np.full((n, 3), 2.5, np.float32), np.arange(n, dtype=np.int32)]

    # -1 and 5 are out of range: a line of off_value (TF).
    check(
        [(tf.int32, [None])],
        build,
        ref,
        [(np.array([0, 4, -1, 5, 2, 2, 1], np.int32),), (np.zeros(0, np.int32),), (np.array([3], np.int32),)],
        ["OneHot", "Fill", "Range"],
    )


# ---------------------------------------------------------------------------
# Layout.


@pytest.mark.parametrize("perm", [(2, 0, 1), (-1, 0, 1), None])
def test_transpose(perm: tuple[int, ...] | None) -> None:
    np_perm = None if perm is None else tuple(p % 3 for p in perm)
    check(
        [(tf.int32, [None, 3, 4])],
        lambda x: tf.transpose(x, perm),
        lambda x: [np.transpose(x, np_perm)],
        [(i32(-9, 9, n, 3, 4),) for n in SIZES],
        ["Transpose"],
    )


def test_concat_with_two_batch_sizes_and_bools() -> None:
    def build(x: Any, y: Any, m: Any) -> Any:
        return [tf.concat([x, y, x], axis=0), tf.concat([x, y[:, :2]], axis=-1), tf.concat([m, m], 1)]

    def ref(x: np.ndarray, y: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
        return [np.concatenate([x, y, x], 0), np.concatenate([x, y[:, :2]], -1), np.concatenate([m, m], 1)]

    cases = [(f32(n, 3), f32(n, 3), RNG.random((n, 2)) > 0.5) for n in SIZES]
    check(
        [(tf.float32, [None, 3]), (tf.float32, [None, 3]), (tf.bool, [None, 2])],
        build,
        ref,
        cases,
        ["ConcatV2"],
    )
    # Inputs of different batch sizes (different symbols) meet only along the concat axis.
    tf.reset_default_graph()
    check(
        [(tf.float32, [None, 3]), (tf.float32, [None, 3])],
        lambda x, y: tf.concat([y, x], 0),
        lambda x, y: [np.concatenate([y, x], 0)],
        [(f32(n0, 3), f32(n1, 3)) for n0, n1 in [(1, 7), (0, 3), (13, 0), (5, 5)]],
        ["ConcatV2"],
    )


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_and_unstack(axis: int) -> None:
    def build(x: Any, y: Any) -> Any:
        s = tf.stack([x, y, x], axis=axis)
        return [s, *tf.unstack(s, axis=axis)[::2], *tf.unstack(x, axis=-1)]

    def ref(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        s = np.stack([x, y, x], axis=axis)
        return [s, x, x, *(x[:, j] for j in range(4))]

    check(
        [(tf.float64, [None, 4]), (tf.float64, [None, 4])],
        build,
        ref,
        [(f32(n, 4).astype(np.float64), f32(n, 4).astype(np.float64)) for n in SIZES],
        ["Pack", "Unpack"],
    )


def test_split() -> None:
    def build(x: Any) -> Any:
        return [*tf.split(x, [1, -1, 2], axis=1), *tf.split(x, 2, axis=0)]

    def ref(x: np.ndarray) -> list[np.ndarray]:
        return [x[:, :1], x[:, 1:4], x[:, 4:], *np.split(x, 2, axis=0)]

    check([(tf.int32, [None, 6])], build, ref, [(i32(-5, 5, n, 6),) for n in (2, 0, 14)], ["Split"])


def test_split_of_an_odd_batch_fails() -> None:
    raises(
        [(tf.float32, [None, 2])],
        lambda x: tf.split(x, 2, axis=0),
        [f32(7, 2)],
        "out of range|divisible|multiple",
    )


def test_tile_static_and_run_time_multiples() -> None:
    def build(x: Any) -> Any:
        n = tf.shape(x)[0]
        return [tf.tile(x, [2, 3]), tf.tile(x, tf.stack([1, n]))]

    check(
        [(tf.float32, [None, 3])],
        build,
        lambda x: [np.tile(x, (2, 3)), np.tile(x, (1, x.shape[0]))],
        [(f32(n, 3),) for n in SIZES],
        ["Tile"],
    )


def test_reverse() -> None:
    def build(x: Any) -> Any:
        return [tf.reverse(x, [0]), tf.reverse(x, [-1]), tf.reverse(x, [0, 2])]

    check(
        [(tf.int32, [None, 2, 5])],
        build,
        lambda x: [x[::-1], x[..., ::-1], x[::-1, :, ::-1]],
        [(i32(-9, 9, n, 2, 5),) for n in SIZES],
        ["ReverseV2"],
    )


# ---------------------------------------------------------------------------
# Slices and pads.


def test_slices() -> None:
    def build(x: Any) -> Any:
        return [tf.slice(x, [0, 1], [-1, 3]), x[1:-1:2, ::-1], x[::-3, 2], x[:, None, -1], x[-2::-1, 1:3]]

    check(
        [(tf.float32, [None, 5])],
        build,
        lambda x: [x[:, 1:4], x[1:-1:2, ::-1], x[::-3, 2], x[:, None, -1], x[-2::-1, 1:3]],
        [(f32(n, 5),) for n in SIZES],
        ["Slice", "StridedSlice"],
    )


def test_strided_slice_index_out_of_range_fails() -> None:
    raises([(tf.float32, [None, 5])], lambda x: x[3], [f32(2, 5)], "out of range")


def test_strided_slice_gradient() -> None:
    def build(x: Any, w: Any) -> Any:
        (g,) = tf.gradients(tf.reduce_sum(x[1::2, ::-2] * w), [x])
        return g

    def ref(x: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        g = np.zeros_like(x)
        g[1::2, ::-2] = w
        return [g]

    cases = []
    for n in (1, 7, 0, 12):
        x = f32(n, 5)
        cases.append((x, f32(*x[1::2, ::-2].shape)))
    check([(tf.float32, [None, 5]), (tf.float32, [None, 3])], build, ref, cases, ["StridedSliceGrad"])


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad_and_its_gradient(mode: str) -> None:
    pads = [[2, 1], [0, 3]]
    cv = 1.5 if mode == "CONSTANT" else 0

    def build(x: Any, w: Any) -> Any:
        y = tf.pad(x, pads, mode=mode, constant_values=cv)
        (g,) = tf.gradients(tf.reduce_sum(y * w), [x])
        return [y, g]

    def ref(x: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        if mode == "CONSTANT":
            y = np.pad(x, pads, constant_values=cv)
        else:
            y = np.pad(x, pads, mode=mode.lower())
        # The gradient is the pad's transpose: each padded position adds its weight to the
        # element it was copied from (found by padding the elements' own positions).
        src = np.arange(x.size).reshape(x.shape)
        where = (
            np.pad(src, pads, constant_values=-1)
            if mode == "CONSTANT"
            else np.pad(src, pads, mode=mode.lower())
        )
        g = np.zeros(x.size, np.float64)
        keep = where >= 0
        np.add.at(g, where[keep], w[keep])
        return [y, g.reshape(x.shape).astype(np.float32)]

    cases = []
    for n in (3, 4, 11):
        x = f32(n, 4)
        cases.append((x, f32(n + 3, 7)))
    check([(tf.float32, [None, 4]), (tf.float32, [None, 7])], build, ref, cases, ["Pad"], exact=False)


def test_reflect_pad_wider_than_the_input_fails() -> None:
    # REFLECT needs each padding <= d - 1: 2 rows of padding on a 2-row input is too much.
    raises(
        [(tf.float32, [None, 3])],
        lambda x: tf.pad(x, [[2, 0], [0, 0]], mode="REFLECT"),
        [f32(2, 3)],
        "out of range",
    )


# ---------------------------------------------------------------------------
# Gathers and scatters.


@pytest.mark.parametrize("index_dtype", [tf.int32, tf.int64])
def test_gather_and_its_gradient(index_dtype: Any) -> None:
    def build(p: Any, idx: Any, w: Any) -> Any:
        y = tf.gather(p, idx)
        z = tf.gather(p, idx[:2], axis=1)
        (g,) = tf.gradients(tf.reduce_sum(y * w), [p])
        return [y, z, g]

    def ref(p: np.ndarray, idx: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        g = np.zeros_like(p)
        np.add.at(g, idx, w)
        return [p[idx], p[:, idx[:2]], g]

    cases = []
    for n in (5, 1, 13):
        idx = RNG.integers(0, n, size=6).astype(index_dtype.np)  # duplicates add up in the gradient
        idx[:2] = np.minimum(idx[:2], 2)
        cases.append((f32(n, 3), idx, f32(6, 3)))
    check(
        [(tf.float32, [None, 3]), (index_dtype, [None]), (tf.float32, [None, 3])],
        build,
        ref,
        cases,
        ["GatherV2", "ScatterAddDense"],
        exact=False,
    )


@pytest.mark.parametrize("bad", [5, -1, 2**31 - 1])
def test_gather_index_out_of_range_fails(bad: int) -> None:
    raises(
        [(tf.float32, [None, 3]), (tf.int32, [None])],
        lambda p, i: tf.gather(p, i),
        [f32(5, 3), np.array([0, bad, 1], np.int32)],
        rf"{bad}\D.*\[0, 5\)",
    )


def test_gather_nd_and_scatter_nd() -> None:
    def build(p: Any, idx: Any, u: Any) -> Any:
        return [tf.gather_nd(p, idx), tf.scatter_nd(idx, u, tf.shape(p))]

    def ref(p: np.ndarray, idx: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
        out = np.zeros_like(p)
        np.add.at(out, (idx[:, 0], idx[:, 1]), u)
        return [p[idx[:, 0], idx[:, 1]], out]

    cases = []
    for n, k in [(5, 7), (1, 3), (4, 0)]:
        idx = np.stack([RNG.integers(0, n, k), RNG.integers(0, 4, k)], axis=1).astype(np.int32)
        cases.append((i32(-9, 9, n, 4, 2), idx, i32(-9, 9, k, 2)))
    check(
        [(tf.int32, [None, 4, 2]), (tf.int32, [None, 2]), (tf.int32, [None, 2])],
        build,
        ref,
        cases,
        ["GatherNd", "ScatterNd"],
    )


def test_gather_nd_index_out_of_range_fails() -> None:
    raises(
        [(tf.float32, [None, 4]), (tf.int64, [None, 2])],
        lambda p, i: tf.gather_nd(p, i),
        [f32(3, 4), np.array([[0, 1], [1, 4]], np.int64)],
        r"4\D.*\[0, 4\)",
    )


def test_scatter_nd_index_out_of_range_fails() -> None:
    raises(
        [(tf.int32, [None, 1]), (tf.float32, [None, 2])],
        lambda i, u: tf.scatter_nd(i, u, [3, 2]),
        [np.array([[1], [-2]], np.int32), f32(2, 2)],
        r"-2\D.*\[0, 3\)",
    )


# ---------------------------------------------------------------------------
# Scans, arg-extrema, boolean reductions, top-k.


@pytest.mark.parametrize("exclusive,reverse", [(False, False), (True, False), (False, True), (True, True)])
def test_cumsum_and_cumprod(exclusive: bool, reverse: bool) -> None:
    def scan(fn: Any, x: np.ndarray, axis: int, identity: int) -> np.ndarray:
        y = np.flip(x, axis) if reverse else x
        out = fn(y, axis=axis, dtype=x.dtype)
        if exclusive:
            first = (
                np.full_like(np.take(out, [0], axis=axis), identity)
                if y.shape[axis]
                else np.take(out, [], axis=axis)
            )
            out = np.concatenate([first, np.delete(out, -1, axis=axis) if y.shape[axis] else out], axis=axis)
        return np.flip(out, axis) if reverse else out

    def build(x: Any, n: Any) -> Any:
        a = {"exclusive": exclusive, "reverse": reverse}
        return [tf.cumsum(x, axis=0, **a), tf.cumsum(x, axis=-1, **a), tf.cumprod(n, axis=1, **a)]

    def ref(x: np.ndarray, n: np.ndarray) -> list[np.ndarray]:
        return [
            scan(np.add.accumulate, x, 0, 0),
            scan(np.add.accumulate, x, 1, 0),
            scan(np.multiply.accumulate, n, 1, 1),
        ]

    # int32 products of 3..7 numbers up to 3**7 do not overflow; the sums of floats are
    # made in order, as NumPy's accumulate.
    cases = [(f32(n, 7).astype(np.float64), i32(-3, 4, n, 7)) for n in (1, 5, 0, 11)]
    check([(tf.float64, [None, 7]), (tf.int32, [None, 7])], build, ref, cases, ["Cumsum", "Cumprod"])


def test_argmax_argmin_ties_and_nan() -> None:
    def build(x: Any, n: Any) -> Any:
        return [tf.argmax(x, 1), tf.argmin(x, -1, output_type=tf.int32), tf.argmax(n, 0), tf.argmin(n, 0)]

    def ref(x: np.ndarray, n: np.ndarray) -> list[np.ndarray]:
        return [np.argmax(x, 1), np.argmin(x, -1).astype(np.int32), np.argmax(n, 0), np.argmin(n, 0)]

    x = np.array([[1, 3, 3, 0], [np.nan, 2, np.nan, 5], [2, 2, 2, 2], [-1, np.nan, -7, -7]], np.float32)
    cases = [(x, i32(-3, 3, 4, 5)), (x[:1], i32(-3, 3, 1, 5)), (f32(9, 4), i32(-3, 3, 9, 5))]
    check([(tf.float32, [None, 4]), (tf.int32, [None, 5])], build, ref, cases, ["ArgMax", "ArgMin"])


def test_argmax_of_an_empty_axis_fails() -> None:
    raises([(tf.float32, [3, None])], lambda x: tf.argmax(x, 1), [f32(3, 0)], "Reduction axis 1 is empty")


def test_any_all() -> None:
    def build(m: Any) -> Any:
        return [
            tf.reduce_any(m),
            tf.reduce_all(m, axis=1),
            tf.reduce_any(m, axis=0, keepdims=True),
            tf.reduce_all(m, axis=-1, keepdims=True),
        ]

    check(
        [(tf.bool, [None, 3])],
        build,
        lambda m: [
            np.any(m),
            np.all(m, axis=1),
            np.any(m, axis=0, keepdims=True),
            np.all(m, axis=-1, keepdims=True),
        ],
        [(RNG.random((n, 3)) > p,) for n, p in [(7, 0.5), (0, 0.5), (5, 0.05), (1, 0.9)]],
        ["Any", "All"],
    )


def test_in_top_k_and_top_k() -> None:
    def build(p: Any, t: Any) -> Any:
        v, i = tf.nn.top_k(p, 3)
        return [tf.nn.in_top_k(p, t, 2), v, i]

    def ref(p: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        c = p.shape[1]
        valid = (t >= 0) & (t < c)
        tp = p[np.arange(len(t)), np.where(valid, t, 0)]
        above = (p > tp[:, None]).sum(axis=1)
        in_top = valid & np.all(np.isfinite(p), axis=1) & (above < 2)
        # Descending, ties to the lower index: a stable sort on the negated values.
        order = np.argsort(-p, axis=1, kind="stable")[:, :3].astype(np.int32)
        return [in_top, np.take_along_axis(p, order, 1), order]

    p = np.array([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2], [-5, 7, -5, 7, 0], [0, 1, np.inf, 2, 3]], np.float32)
    t = np.array([2, 4, 0, 1], np.int32)
    cases = [(p, t), (f32(11, 5), i32(-1, 6, 11)), (p[:0], t[:0])]
    check([(tf.float32, [None, 5]), (tf.int32, [None])], build, ref, cases, ["InTopKV2", "TopKV2"])
