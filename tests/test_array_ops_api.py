"""array_ops: static shapes (with None batch dims), TF1 argument handling, errors, and each
op's samples run through a small reference interpreter with a directional gradient check
(also with a None batch dim, so the gradient rules run on symbolic shapes)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Graph, Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops import array_ops as A
from graphc.ops.core_ops import constant, placeholder
from graphc.ops.math_ops import add, multiply

ARRAY_OPS = [
    "Reshape", "Transpose", "ExpandDims", "Squeeze", "ConcatV2", "Pack", "Unpack", "Split", "SplitV",
    "Slice", "StridedSlice", "StridedSliceGrad", "GatherV2", "ScatterAddDense", "OneHot", "Tile", "Pad",
    "MirrorPadGrad", "ReverseV2", "Fill", "ZerosLike", "OnesLike", "Range",
]  # fmt: skip


# -- a tiny reference interpreter and reverse-mode differentiator ---------------------------------
def run(fetches: Sequence[Tensor], feeds: dict[Tensor, Any] | None = None) -> list[np.ndarray]:
    vals: dict[Tensor, np.ndarray] = {t: np.asarray(v) for t, v in (feeds or {}).items()}

    def value(t: Tensor) -> np.ndarray:
        if t not in vals:
            op = t.op
            outs = reg.get(op.type).reference([value(i) for i in op.inputs], op.attrs)
            for o, v in zip(op.outputs, outs, strict=True):
                vals[o] = np.asarray(v)
        return vals[t]

    return [value(t) for t in fetches]


def gradients(
    ys: Sequence[Tensor], xs: Sequence[Tensor], dys: Sequence[Tensor | None]
) -> list[Tensor | None]:
    live: set[Any] = set()
    seen_x = set(xs)
    # Ops downstream of xs (ids grow with creation, so a scan in id order is topological).
    for op in sorted(xs[0].graph.get_operations(), key=lambda o: o._id):
        if any(i in seen_x for i in op.inputs):
            live.add(op)
            seen_x.update(op.outputs)
    acc: dict[Tensor, list[Tensor]] = {}
    for y, dy in zip(ys, dys, strict=True):
        if dy is not None:
            acc.setdefault(y, []).append(dy)
    for op in sorted(live, key=lambda o: -o._id):
        outs = [_sum(acc.get(o)) for o in op.outputs]
        if all(g is None for g in outs):
            continue
        rule = reg.get(op.type).grad
        if isinstance(rule, reg.NotDifferentiable):
            continue
        for t, g in zip(op.inputs, rule(op, *outs), strict=True):
            if g is not None:
                acc.setdefault(t, []).append(g)
    return [_sum(acc.get(x)) for x in xs]


def _sum(gs: list[Tensor] | None) -> Tensor | None:
    if not gs:
        return None
    out = gs[0]
    for g in gs[1:]:
        out = add(out, g)
    return out


# -- every sample of every array op -----------------------------------------------------------------
def _samples() -> list[tuple[str, int, reg.Sample]]:
    import graphc.ops.reduction_ops  # noqa: F401  (gradients of Tile and Fill use reduce_sum)

    out = []
    for name in ARRAY_OPS:
        opdef = reg.get(name)
        for i, s in enumerate(opdef.samples(np.random.default_rng(0))):  # type: ignore[misc]
            out.append((name, i, s))
    return out


def _wrt(sample: reg.Sample) -> tuple[int, ...]:
    if sample.wrt is not None:
        return sample.wrt
    return tuple(i for i, a in enumerate(sample.inputs) if a.dtype.kind == "f")


def _build(name: str, sample: reg.Sample, batch_none: bool) -> tuple[Any, list[Tensor], dict[Tensor, Any]]:
    feeds: dict[Tensor, Any] = {}
    ins: list[Tensor] = []
    wrt = _wrt(sample) if sample.grad else ()
    for i, a in enumerate(sample.inputs):
        if i in wrt:
            shp = list(a.shape)
            if batch_none and shp:
                shp[0] = None
            p = placeholder(_dt.as_dtype(a.dtype), shp)
            feeds[p] = a
            ins.append(p)
        else:
            ins.append(constant(a))
    op = ins[0].graph.create_op(name, ins, dict(sample.attrs)) if ins else Graph().create_op(name, [], {})
    return op, ins, feeds


@pytest.mark.parametrize("batch_none", [False, True])
@pytest.mark.parametrize("name,idx,sample", _samples(), ids=lambda v: v if isinstance(v, str | int) else "")
def test_sample(name: str, idx: int, sample: reg.Sample, batch_none: bool) -> None:
    opdef = reg.get(name)
    expected = opdef.reference([a.copy() for a in sample.inputs], dict(sample.attrs))
    g = Graph()
    with g.as_default():
        if sample.inputs:
            op, ins, feeds = _build(name, sample, batch_none)
        else:
            op, ins, feeds = g.create_op(name, [], dict(sample.attrs)), [], {}
        got = run(op.outputs, feeds)
        for t, e, r in zip(op.outputs, expected, got, strict=True):
            assert r.dtype == e.dtype and r.shape == e.shape
            np.testing.assert_array_equal(r, e)
            assert t.shape.is_compatible_with(e.shape), (t.shape, e.shape)
            if not batch_none:
                assert t.shape.as_list() == list(e.shape), (t.shape, e.shape)
            assert t.dtype.np == e.dtype
        for a in sample.inputs:
            if a.dtype.kind == "f":
                assert all(e.dtype == a.dtype for e in expected if e.dtype.kind == "f")
        if not sample.grad:
            return
        wrt = _wrt(sample)
        dys_np = [np.random.default_rng(1).normal(size=e.shape) for e in expected]
        dys = [placeholder(_dt.float64, [None] * e.ndim if batch_none else e.shape) for e in expected]
        grads = opdef.grad(op, *dys)  # type: ignore[operator]
        assert len(grads) == len(ins)
        feeds.update(dict(zip(dys, dys_np, strict=True)))
        fetch = [grads[i] for i in wrt]
        analytic = run([t for t in fetch if t is not None], feeds)
        it = iter(analytic)
        analytic = [
            next(it) if t is not None else np.zeros_like(sample.inputs[i])
            for t, i in zip(fetch, wrt, strict=True)
        ]
        rng = np.random.default_rng(2)
        vs = [rng.normal(size=sample.inputs[i].shape) for i in wrt]

        def f(h: float) -> float:
            xs = [a.copy() for a in sample.inputs]
            for i, v in zip(wrt, vs, strict=True):
                xs[i] = xs[i] + h * v
            outs = opdef.reference(xs, dict(sample.attrs))
            return float(sum(np.sum(o * d) for o, d in zip(outs, dys_np, strict=True)))

        numeric = (f(1e-6) - f(-1e-6)) / 2e-6
        exact = float(sum(np.sum(a * v) for a, v in zip(analytic, vs, strict=True)))
        for a, i in zip(analytic, wrt, strict=True):
            assert a.shape == sample.inputs[i].shape and a.dtype == sample.inputs[i].dtype
        assert numeric == pytest.approx(exact, rel=1e-6, abs=1e-8)


def test_every_array_op_is_listed() -> None:
    """ARRAY_OPS (which the sample checks below run) is exactly the set of ops the array
    modules register, so an array op added later cannot miss those checks."""
    import graphc.ops.array_ops  # noqa: F401  (registers the array ops)

    modules = {
        f"graphc.ops.{m}" for m in ("layout_ops", "concat_ops", "slicing_ops", "gather_ops", "fill_ops")
    }
    registered = {op.name for op in reg.all_ops() if op.reference.__module__ in modules}
    assert len(ARRAY_OPS) == len(set(ARRAY_OPS)), "ARRAY_OPS lists an op twice"
    assert sorted(registered - set(ARRAY_OPS)) == [], "array ops missing from ARRAY_OPS"
    assert sorted(set(ARRAY_OPS) - registered) == [], "ARRAY_OPS names ops the array modules do not register"


def _graph() -> Graph:
    return Graph()


# -- Reshape ------------------------------------------------------------------------------------------
def test_reshape_shapes() -> None:
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 28, 28])
        assert A.reshape(x, [-1, 784]).shape.as_list() == [None, 784]
        # TF1: an element of the shape tensor that is not a constant is an unknown dim, and
        # a -1 beside an unknown dim is unknown too.
        assert A.reshape(x, [A.shape(x)[0], -1]).shape.as_list() == [None, None]
        assert A.reshape(x, [A.shape(x)[0], 28 * 28]).shape.as_list() == [None, 784]
        assert A.reshape(x, A.stack([A.shape(x)[0], 14, -1])).shape.as_list() == [None, 14, None]
        assert A.reshape(x, A.concat([[-1], A.shape(x)[1:]], 0)).shape.as_list() == [None, 28, 28]
        assert A.reshape(x, TensorShape([4, 196])).shape.as_list() == [4, 196]
        y = placeholder(_dt.float32, [2, 3, 4])
        assert A.reshape(y, [4, -1]).shape.as_list() == [4, 6]
        assert A.reshape(y, [y.shape[2], -1]).shape.as_list() == [4, 6]
        s = placeholder(_dt.int32, [3])
        assert A.reshape(y, s).shape.as_list() == [None, None, None]
        assert A.reshape(y, placeholder(_dt.int32, [None])).shape.ndims is None
        u = placeholder(_dt.float32, None)
        assert A.reshape(u, [-1, 3]).shape.as_list() == [None, 3]
        with pytest.raises(ValueError, match="24 elements"):
            A.reshape(y, [5, 5])
        with pytest.raises(ValueError, match="not divisible"):
            A.reshape(y, [5, -1])
        with pytest.raises(ValueError, match="only infer one"):
            A.reshape(y, [-1, -1])
        with pytest.raises(TypeError):
            A.reshape(y, constant([2.0, 12.0]))
        with pytest.raises(ValueError, match="unknown Dimension"):
            A.reshape(y, [x.shape[0], -1])
        (out,) = run([A.reshape(x, [A.shape(x)[0], -1])], {x: np.ones((5, 28, 28), np.float32)})
        assert out.shape == (5, 784) and out.dtype == np.float32


class _ProgramDims(reg.DimEnv):
    """Named dims as a lowering would use: fresh symbols, equal keeps the first."""

    def __init__(self) -> None:
        self.n = 0

    def fresh(self, hint: str = "d") -> Any:
        self.n += 1
        return symbolic.symbol(f"{hint}{self.n}")

    def equal(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and a != b:
            raise reg.ShapeError(f"{a} != {b}")
        return a


def _ctx(
    op: str, shapes: list[Any], values: list[Any], attrs: dict[str, Any], dts: list[Any] | None = None
) -> Any:
    dts = dts or [_dt.float32] + [_dt.int32] * (len(shapes) - 1)
    vals = [None if v is None else np.array(v, dtype=object) for v in values]
    return reg.InferenceContext(op, shapes, dts, vals, attrs, _ProgramDims())


def test_reshape_symbolic_program_dims() -> None:
    n = symbolic.symbol("N")
    opdef = reg.get("Reshape")
    ctx = _ctx("Reshape", [(n, 28, 28), (2,)], [None, [n, -1]], {})
    assert opdef.shape(ctx) == [(n, 784)]
    ctx = _ctx("Reshape", [(n, 28, 28), (2,)], [None, [-1, 784]], {})
    assert opdef.shape(ctx) == [(n, 784)]
    ctx = _ctx("Reshape", [(n, 6), (3,)], [None, [n, 2, -1]], {})
    assert opdef.shape(ctx) == [(n, 2, 3)]
    ctx = _ctx("Reshape", [(n, 6), (2,)], [None, [4, -1]], {})
    out = opdef.shape(ctx)[0]
    assert out[0] == 4 and symbolic.evaluate(out[1], {"N": 8}) == 12
    # The value rule of a shape vector keeps the symbols.
    ctx = _ctx("StridedSlice", [(3,)], [[n, 28, 28]], {"spec": (("int", 0),)}, [_dt.int32])
    assert reg.get("StridedSlice").value(ctx)[0].item() == n
    ctx = _ctx("Pack", [(), ()], [n, 784], {"axis": 0}, [_dt.int32, _dt.int32])
    assert list(reg.get("Pack").value(ctx)[0]) == [n, 784]


# -- StridedSlice and __getitem__ ---------------------------------------------------------------------
def test_slice_len_matches_python() -> None:
    n = symbolic.symbol("N")
    bounds = [None, -7, -3, -1, 0, 1, 2, 5, 8]
    for start, stop, step in itertools.product(bounds, bounds, [None, 1, 2, 3, -1, -2, -3]):
        expr = A._slice_len(n, start, stop, step)
        for d in range(0, 10):
            want = len(range(d)[slice(start, stop, step)])
            assert symbolic.evaluate(expr, {"N": d}) == want, (start, stop, step, d, expr)


def test_slice_len_canonical_forms() -> None:
    n = symbolic.symbol("N")
    assert A._slice_len(n, None, None, None) == n
    assert A._slice_len(n, None, None, -1) == n
    assert A._slice_len(n, 1, None, None) == A._slice_len(n, None, -1, None)
    assert A._slice_len(n + 5, 2, -3, None) == n


def test_getitem_shapes_and_values() -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    keys: list[Any] = [
        0, -1, (1, 2), (slice(None), 1), (Ellipsis, 1), (None, 0), (slice(None, None, -1),), (0, slice(1, None, 2)),
        (slice(None), None, slice(None), Ellipsis), (Ellipsis,), (slice(5, 0, -2), slice(-2, None)), (1, 2, 3),
        (np.int64(1), Ellipsis, None),
    ]  # fmt: skip
    with _graph().as_default():
        x = constant(arr)
        px = placeholder(_dt.float32, [None, 3, 4])
        for k in keys:
            t = x[k]
            assert t.shape.as_list() == list(arr[k].shape), k
            (out,) = run([t])
            np.testing.assert_array_equal(out, arr[k])
            assert out.dtype == np.float32
            (out,) = run([px[k]], {px: arr})
            np.testing.assert_array_equal(out, arr[k])
        assert px[0].shape.as_list() == [3, 4]
        assert px[:, 1].shape.as_list() == [None, 4]
        assert px[1:].shape.as_list() == [None, 3, 4]
        assert px[..., ::2].shape.as_list() == [None, 3, 2]
        assert px[tf_newaxis()].shape.as_list() == [1, None, 3, 4]
        assert x[constant(1)].shape.as_list() == [3, 4]
        s = A.shape(px)
        assert s[1:]._value.tolist() == [3, 4]
        assert s[0]._value.tolist() is None
        assert list(x.shape) and len(list(iter(x))) == 2
        with pytest.raises(TypeError, match="tf.gather"):
            x[placeholder(_dt.int32, [])]
        with pytest.raises(TypeError, match="tf.gather"):
            x[[0, 1]]
        with pytest.raises(TypeError, match="tf.gather"):
            x[constant([0, 1])]
        with pytest.raises(ValueError, match="out of bounds"):
            x[2]
        with pytest.raises(ValueError, match="too many indices"):
            x[0, 0, 0, 0]
        with pytest.raises(ValueError, match="single ellipsis"):
            x[..., 0, ...]
        with pytest.raises(ValueError, match="zero"):
            x[::0]


def tf_newaxis() -> Any:
    return A.newaxis


def test_strided_slice_masks() -> None:
    arr = np.arange(3 * 4 * 5, dtype=np.float64).reshape(3, 4, 5)
    with _graph().as_default():
        x = constant(arr)
        cases = [
            (dict(begin=[1, 0], end=[3, 4], strides=[1, 2]), arr[1:3, 0:4:2]),
            (dict(begin=[1, 0], end=[0, 4], strides=[1, 1], end_mask=1), arr[1:, 0:4]),
            (dict(begin=[1, 0], end=[2, 3], begin_mask=2, shrink_axis_mask=1), arr[1, :3]),
            (dict(begin=[0, 2], end=[0, 3], ellipsis_mask=1), arr[..., 2:3]),
            (
                dict(begin=[0, 0, 1], end=[0, 0, 2], new_axis_mask=1, ellipsis_mask=2, shrink_axis_mask=4),
                arr[None, ..., 1],
            ),
            (dict(begin=[-1], end=[0], strides=[-1], end_mask=1), arr[::-1]),
        ]
        for kw, want in cases:
            t = A.strided_slice(x, **kw)
            assert t.shape.as_list() == list(want.shape)
            np.testing.assert_array_equal(run([t])[0], want)


# -- Transpose / ExpandDims / Squeeze ---------------------------------------------------------------
def test_transpose_expand_squeeze() -> None:
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 3, 4])
        assert A.transpose(x).shape.as_list() == [4, 3, None]
        assert A.transpose(x, [0, 2, 1]).shape.as_list() == [None, 4, 3]
        assert A.transpose(x, constant([1, 0, 2])).shape.as_list() == [3, None, 4]
        assert A.transpose(x, [0, 2, 1]).op.attrs["perm"] == (0, 2, 1)
        assert A.transpose(placeholder(_dt.float32, None)).shape.ndims is None
        with pytest.raises(ValueError, match="permutation"):
            A.transpose(x, [0, 0, 1])
        with pytest.raises(ValueError):
            A.transpose(x, [0, 1])
        assert A.expand_dims(x, 0).shape.as_list() == [1, None, 3, 4]
        assert A.expand_dims(x, -1).shape.as_list() == [None, 3, 4, 1]
        assert A.expand_dims(x, dim=1).shape.as_list() == [None, 1, 3, 4]
        assert A.expand_dims(x, -1).op.attrs["axis"] == 3
        with pytest.raises(ValueError, match="both"):
            A.expand_dims(x, 0, dim=0)
        with pytest.raises(ValueError, match="Must specify"):
            A.expand_dims(x)
        with pytest.raises(ValueError, match="out of range"):
            A.expand_dims(x, 5)
        assert A.expand_dims(A.shape(x)[0], 0)._value.tolist() == [None]
        y = placeholder(_dt.float32, [None, 1, 3, 1])
        assert A.squeeze(y).shape.as_list() == [None, 3]
        assert A.squeeze(y).op.attrs["axis"] == (1, 3)
        assert A.squeeze(y, [1]).shape.as_list() == [None, 3, 1]
        assert A.squeeze(y, squeeze_dims=[-1]).shape.as_list() == [None, 1, 3]
        assert A.squeeze(y, 1).shape.as_list() == [None, 3, 1]
        assert A.squeeze(y, [0]).shape.as_list() == [1, 3, 1]  # the None dim must then be 1
        with pytest.raises(ValueError, match="Can not squeeze dim\\[2\\]"):
            A.squeeze(y, [2])
        with pytest.raises(ValueError, match="both"):
            A.squeeze(y, [1], squeeze_dims=[1])
        assert A.squeeze(placeholder(_dt.float32, [None, 3])).op.type == "Identity"
        u = A.squeeze(placeholder(_dt.float32, None))
        assert u.shape.ndims is None
        (out,) = run([u], {u.op.inputs[0]: np.zeros((1, 2, 1))})
        assert out.shape == (2,)
        (out,) = run([A.squeeze(y)], {y: np.zeros((1, 1, 3, 1), np.float32)})
        assert out.shape == (1, 3)  # the static decision holds at run time


# -- ConcatV2 / Pack / Unpack / Split -------------------------------------------------------------------
def test_concat_stack_unstack() -> None:
    with _graph().as_default():
        a = placeholder(_dt.float32, [None, 3])
        b = placeholder(_dt.float32, [None, 5])
        assert A.concat([a, b], 1).shape.as_list() == [None, 8]
        assert A.concat([a, b], -1).op.attrs["axis"] == 1
        assert A.concat([a, a], 0).shape.as_list() == [None, 3]
        assert A.concat([constant(np.zeros((2, 3), np.float32)), a], 0).shape.as_list() == [None, 3]
        assert A.concat([a], 0).op.type == "Identity"
        with pytest.raises(ValueError):
            A.concat([a, b], 0)
        with pytest.raises(ValueError, match="scalars"):
            A.concat([constant(1.0), constant(2.0)], 0)
        with pytest.raises(ValueError, match="same rank"):
            A.concat([a, placeholder(_dt.float32, [3])], 0)
        with pytest.raises(TypeError):
            A.concat([a, placeholder(_dt.int32, [None, 3])], 0)
        v = A.concat([[-1], A.shape(b)[1:]], 0)
        assert v._value.tolist() == [-1, 5]
        s = A.stack([A.shape(a)[0], 784])
        assert s._value.tolist() == [None, 784] and s.dtype == _dt.int32
        assert A.stack([a, a], axis=1).shape.as_list() == [None, 2, 3]
        assert A.stack([a, a], axis=-1).shape.as_list() == [None, 3, 2]
        assert A.stack([1.0, constant(2.0, dtype=_dt.float64)]).dtype == _dt.float64
        with pytest.raises(ValueError):
            A.stack([a, b])
        with pytest.raises(ValueError):
            A.stack([])
        parts = A.unstack(placeholder(_dt.float32, [None, 3]), axis=1)
        assert len(parts) == 3 and parts[0].shape.as_list() == [None]
        with pytest.raises(ValueError, match="Cannot infer num"):
            A.unstack(a)
        assert len(A.unstack(a, num=4)) == 4
        with pytest.raises(ValueError, match="dimension is 3"):
            A.unstack(a, num=2, axis=1)
        x0, x1 = A.unstack(A.shape(placeholder(_dt.float32, [2, None])))
        assert x0._value.tolist() == 2 and x1._value.tolist() is None


def test_split() -> None:
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 6])
        p = A.split(x, 3, axis=1)
        assert [t.shape.as_list() for t in p] == [[None, 2]] * 3
        assert p[0].op.attrs["sizes"] == (2, 2, 2)
        p = A.split(x, [1, -1, 2], axis=-1)
        assert [t.shape.as_list() for t in p] == [[None, 1], [None, 3], [None, 2]]
        with pytest.raises(ValueError, match="evenly divisible"):
            A.split(x, 4, axis=1)
        with pytest.raises(ValueError, match="add up"):
            A.split(x, [1, 2], axis=1)
        p = A.split(x, 2, axis=0)
        assert [t.shape.as_list() for t in p] == [[None, 6]] * 2
        (a, b) = run(p, {x: np.arange(24, dtype=np.float32).reshape(4, 6)})
        assert a.shape == (2, 6) and b[0, 0] == 12
        sizes = placeholder(_dt.int32, [2])
        p = A.split(x, sizes, axis=1)
        assert p[0].op.type == "SplitV" and p[0].shape.as_list() == [None, None]
        outs = run(p, {x: np.zeros((2, 6), np.float32), sizes: np.array([4, 2], np.int32)})
        assert [o.shape for o in outs] == [(2, 4), (2, 2)]
        p = A.split(x, constant([4, 2]), axis=1)
        assert p[0].op.type == "Split" and p[1].shape.as_list() == [None, 2]


def test_concat_gradient_of_two_batches() -> None:
    """Concatenating two None-batch tensors along the batch axis: the gradient needs SplitV."""
    with _graph().as_default():
        a = placeholder(_dt.float64, [None, 3])
        b = placeholder(_dt.float64, [None, 3])
        c = A.concat([a, b], 0)
        dy = placeholder(_dt.float64, [None, 3])
        ga, gb = gradients([c], [a, b], [dy])
        assert ga.op.type == "SplitV"
        av, bv, dv = np.ones((2, 3)), np.ones((4, 3)), np.arange(18.0).reshape(6, 3)
        oa, ob = run([ga, gb], {a: av, b: bv, dy: dv})
        np.testing.assert_array_equal(oa, dv[:2])
        np.testing.assert_array_equal(ob, dv[2:])


# -- Slice / Gather / OneHot -----------------------------------------------------------------------------
def test_slice_gather_one_hot() -> None:
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 5])
        assert A.slice(x, [0, 1], [-1, 3]).shape.as_list() == [None, 3]
        assert A.slice(x, constant([1, 0]), [2, -1]).shape.as_list() == [2, 5]
        with pytest.raises(ValueError, match="out of bounds"):
            A.slice(x, [0, 3], [-1, 3])
        with pytest.raises(ValueError, match="length 2"):
            A.slice(x, [0], [1])
        with pytest.raises(TypeError, match="known when the graph is built"):
            A.slice(x, [0, 0], A.stack([A.shape(x)[0], 2]))
        with pytest.raises(IndexError, match="out of bounds"):
            run([A.slice(x, [3, 0], [2, -1])], {x: np.zeros((4, 5), np.float32)})
        assert A.gather(x, [0, 2]).shape.as_list() == [2, 5]
        assert A.gather(x, [[0, 2]], axis=1).shape.as_list() == [None, 1, 2]
        assert A.gather(x, 3, axis=-1).shape.as_list() == [None]
        assert A.gather(x, constant([1], dtype=_dt.int64), axis=1).shape.as_list() == [None, 1]
        with pytest.raises(NotImplementedError):
            A.gather(x, [0], batch_dims=1)
        with pytest.raises(ValueError, match="not in \\[0, 5\\)"):
            A.gather(x, [0, 7], axis=1)
        with pytest.raises(TypeError):
            A.gather(x, constant([0.0]))
        idx = placeholder(_dt.int32, [2])
        with pytest.raises(IndexError, match="indices\\[1\\] = 9 is not in \\[0, 5\\)"):
            run(
                [A.gather(x, idx, axis=1)], {x: np.zeros((2, 5), np.float32), idx: np.array([0, 9], np.int32)}
            )
        assert A.gather(A.shape(x), [1])._value.tolist() == [5]
        labels = placeholder(_dt.int32, [None])
        oh = A.one_hot(labels, 10)
        assert oh.shape.as_list() == [None, 10] and oh.dtype == _dt.float32
        assert A.one_hot(labels, 10, axis=0).shape.as_list() == [10, None]
        assert A.one_hot(labels, 3, on_value=5, off_value=-1).dtype == _dt.int32
        assert A.one_hot(labels, 3, dtype=_dt.float64).dtype == _dt.float64
        assert A.one_hot(labels, constant(4)).shape.as_list() == [None, 4]
        with pytest.raises(TypeError):
            A.one_hot(labels, placeholder(_dt.int32, []))
        (out,) = run([A.one_hot(labels, 3, on_value=2.0)], {labels: np.array([2, 0, 7], np.int32)})
        np.testing.assert_array_equal(out, [[0, 0, 2], [2, 0, 0], [0, 0, 0]])
        assert out.dtype == np.float32


# -- Tile / Pad / Reverse --------------------------------------------------------------------------------
def test_tile_pad_reverse() -> None:
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 3])
        assert A.tile(x, [2, 3]).shape.as_list() == [None, 9]
        assert A.tile(x, constant([1, 2])).shape.as_list() == [None, 6]
        with pytest.raises(ValueError, match="length 2"):
            A.tile(x, [2])
        # Multiples known only at run time are a second input; values come out right.
        m = placeholder(_dt.int32, [2])
        dyn = A.tile(x, m)
        assert dyn.shape.as_list() == [None, None]
        (out,) = run([dyn], {x: np.arange(6, dtype=np.float32).reshape(2, 3), m: np.array([2, 1], np.int32)})
        np.testing.assert_array_equal(out, np.tile(np.arange(6).reshape(2, 3), (2, 1)))
        assert A.pad(x, [[1, 2], [0, 1]]).shape.as_list() == [None, 4]
        assert A.pad(x, [[0, 0], [2, 2]], mode="reflect").shape.as_list() == [None, 7]
        assert A.pad(x, [[0, 0], [3, 3]], mode="SYMMETRIC").shape.as_list() == [None, 9]
        with pytest.raises(ValueError, match="at most 2"):
            A.pad(x, [[0, 0], [3, 0]], mode="REFLECT")
        with pytest.raises(ValueError, match="Unknown padding mode"):
            A.pad(x, [[0, 0], [1, 0]], mode="EDGE")
        with pytest.raises(ValueError, match="2 columns"):
            A.pad(x, [1, 2])
        with pytest.raises(ValueError, match="rows"):
            A.pad(x, [[1, 2]])
        (out,) = run([A.pad(x, [[0, 0], [1, 0]], constant_values=7)], {x: np.zeros((1, 3), np.float32)})
        np.testing.assert_array_equal(out, [[7, 0, 0, 0]])
        assert out.dtype == np.float32
        assert A.reverse(x, [1]).shape.as_list() == [None, 3]
        assert A.reverse(x, -1).op.attrs["axis"] == (1,)
        assert A.reverse_v2 is A.reverse
        with pytest.raises(ValueError, match="duplicate"):
            A.reverse(x, [1, -1])


def test_tile_and_pad_gradients_with_none_batch() -> None:
    import graphc.ops.reduction_ops  # noqa: F401

    with _graph().as_default():
        x = placeholder(_dt.float64, [None, 3])
        y = A.tile(x, [2, 3])
        dy = placeholder(_dt.float64, [None, 9])
        (gx,) = gradients([y], [x], [dy])
        dv = np.arange(36.0).reshape(4, 9)
        (out,) = run([gx], {x: np.zeros((2, 3)), dy: dv})
        np.testing.assert_allclose(out, dv.reshape(2, 2, 3, 3).sum(axis=(0, 2)))
        for mode in ("CONSTANT", "REFLECT", "SYMMETRIC"):
            p = A.pad(x, [[1, 2], [2, 1]], mode=mode)
            dp = placeholder(_dt.float64, [None, 6])
            (gx,) = gradients([p], [x], [dp])
            xv = np.random.default_rng(0).normal(size=(3, 3))
            dpv = np.random.default_rng(1).normal(size=(6, 6))
            (out,) = run([gx], {x: xv, dp: dpv})
            # pad is linear: <dp, pad(v)> == <pad^T(dp), v>
            v = np.random.default_rng(2).normal(size=(3, 3))
            (pv,) = run([p], {x: v})
            assert np.sum(out * v) == pytest.approx(np.sum(dpv * pv))


def test_second_derivatives() -> None:
    """Gradients of the gradient ops (hessian-vector products through gather and slicing)."""
    with _graph().as_default():
        x = placeholder(_dt.float64, [None, 4])
        y = multiply(A.gather(x, [0, 2, 2], axis=1), A.gather(x, [1, 1, 3], axis=1))
        z = multiply(x[1:, ::-1], x[:-1])
        dy = placeholder(_dt.float64, [None, 3])
        dz = placeholder(_dt.float64, [None, 4])
        (gx,) = gradients([y, z], [x], [dy, dz])
        v = placeholder(_dt.float64, [None, 4])
        (hv,) = gradients([gx], [x], [v])
        rng = np.random.default_rng(0)
        xv, dyv, dzv, vv = (
            rng.normal(size=(3, 4)),
            rng.normal(size=(3, 3)),
            rng.normal(size=(2, 4)),
            rng.normal(size=(3, 4)),
        )

        def grad_at(xa: np.ndarray) -> np.ndarray:
            return run([gx], {x: xa, dy: dyv, dz: dzv})[0]

        numeric = (grad_at(xv + 1e-6 * vv) - grad_at(xv - 1e-6 * vv)) / 2e-6
        (out,) = run([hv], {x: xv, dy: dyv, dz: dzv, v: vv})
        np.testing.assert_allclose(out, numeric, rtol=1e-6, atol=1e-8)


# -- Fill / zeros / ones / *_like / range ----------------------------------------------------------------
def test_fill_zeros_ones() -> None:
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 3])
        assert A.zeros([2, 3]).shape.as_list() == [2, 3]
        assert A.zeros(3, dtype=_dt.int32).shape.as_list() == [3]
        assert A.zeros(TensorShape([4, 1])).shape.as_list() == [4, 1]
        assert A.zeros([A.shape(x)[0], 3]).shape.as_list() == [None, 3]
        assert A.ones(A.shape(x), dtype=_dt.float64).shape.as_list() == [None, 3]
        assert A.ones([], dtype=_dt.bool_).shape.as_list() == []
        assert A.fill([2, 2], 1.5).dtype == _dt.float32
        assert A.fill(constant([3], dtype=_dt.int64), 7).shape.as_list() == [3]
        assert A.fill([2], 7)._value.tolist() == [7, 7]
        with pytest.raises(ValueError, match="scalar"):
            A.fill([2], [1.0, 2.0])
        with pytest.raises(ValueError, match="not fully defined"):
            A.zeros(TensorShape([None, 3]))
        z, o = A.zeros_like(x), A.ones_like(x, dtype=_dt.int32)
        assert z.op.type == "ZerosLike" and z.shape.as_list() == [None, 3] and z.dtype == _dt.float32
        assert o.op.type == "Fill" and o.shape.as_list() == [None, 3] and o.dtype == _dt.int32
        assert A.ones_like(A.shape(x))._value.tolist() == [1, 1]
        assert A.ones_like(constant([1, 2]))._value.tolist() == [1, 1]
        outs = run(
            [A.zeros([A.shape(x)[0], 2]), A.ones_like(x), o, A.ones([2], dtype=_dt.bool_)],
            {x: np.zeros((4, 3), np.float32)},
        )
        assert outs[0].shape == (4, 2) and outs[0].dtype == np.float32
        assert outs[1].dtype == np.float32 and np.all(outs[1] == 1)
        assert outs[2].dtype == np.int32 and outs[2].shape == (4, 3)
        assert outs[3].dtype == np.bool_ and outs[3].all()


def test_range() -> None:
    with _graph().as_default():
        r = A.range(5)
        assert r.dtype == _dt.int32 and r.shape.as_list() == [5] and r._value.tolist() == [0, 1, 2, 3, 4]
        assert A.range(1, 2, 0.25).dtype == _dt.float32
        assert A.range(0, 10, 3).shape.as_list() == [4]
        assert A.range(5, 0, -2).shape.as_list() == [3]
        assert A.range(3, 1).shape.as_list() == [0]
        assert A.range(np.float64(1.0)).dtype == _dt.float64
        assert A.range(constant(4, dtype=_dt.int64)).dtype == _dt.int64
        assert A.range(4, dtype=_dt.float32).dtype == _dt.float32
        (out,) = run([A.range(1, 2, 0.25)])
        np.testing.assert_allclose(out, [1.0, 1.25, 1.5, 1.75])
        assert out.dtype == np.float32
        with pytest.raises(ValueError, match="delta != 0"):
            A.range(0, 3, 0)
        # A bound known only at run time: the length is too.
        n = placeholder(_dt.int32, [])
        dyn = A.range(n)
        assert dyn.shape.as_list() == [None]
        (out,) = run([dyn], {n: 4})
        np.testing.assert_array_equal(out, [0, 1, 2, 3])


def test_namespace() -> None:
    assert A.newaxis is None
    for name in ("shape", "size", "rank", "broadcast_to"):
        assert callable(getattr(A, name))
    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 3])
        assert A.shape(x).shape.as_list() == [2]
        assert A.broadcast_to(constant(1.0), [2, 3]).shape.as_list() == [2, 3]


# -- ops/build: the primitives the lower modules' gradient rules build by name ------------------
def _same_op(a: Tensor, b: Tensor) -> None:
    """The same op type, attrs, name stem and inputs (constants compared by value)."""
    assert a.op.type == b.op.type and a.op.attrs == b.op.attrs
    assert a.op.name.split("_")[0] == b.op.name.split("_")[0]
    assert len(a.op.inputs) == len(b.op.inputs)
    for i, j in zip(a.op.inputs, b.op.inputs, strict=True):
        if i.op.type == "Const":
            assert j.op.type == "Const" and i.dtype == j.dtype
            np.testing.assert_array_equal(i.op.attrs["value"], j.op.attrs["value"])
        else:
            assert i is j
    assert a.shape.as_tuple() == b.shape.as_tuple() and a.dtype == b.dtype


def test_build_makes_the_ops_the_api_makes() -> None:
    from graphc.ops import build
    from graphc.ops.reduction_ops import reduce_sum

    with _graph().as_default():
        x = placeholder(_dt.float32, [None, 3, 4])
        u = placeholder(_dt.float32, None)
        _same_op(build.reshape(x, [-1, 12]), A.reshape(x, [-1, 12]))
        _same_op(build.reshape(x, []), A.reshape(x, []))
        dims = A.shape(x)
        _same_op(build.reshape(x, dims), A.reshape(x, dims))
        for axis, keep in ((None, False), ([2, 0], True), ([-1], False), ([], False)):
            _same_op(build.reduce_sum(x, axis, keep), reduce_sum(x, axis, keep))
        _same_op(build.reduce_sum(u, [-1, 0]), reduce_sum(u, [-1, 0]))
        _same_op(build.zeros_like(x), A.zeros_like(x))
        _same_op(build.ones_like(x), A.ones_like(x))
        with pytest.raises(ValueError, match="duplicate"):
            build.reduce_sum(x, [1, -2])
        with pytest.raises(ValueError, match="Invalid reduction dimension 3"):
            build.reduce_sum(x, [3])
