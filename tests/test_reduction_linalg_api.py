"""API-level checks of the reduction and matmul ops: static shapes, TF1 argument
handling, errors, and a few values through the ops' NumPy references."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from graphc import dtypes as dt
from graphc import registry as reg
from graphc.frontend.graph import Graph, Tensor
from graphc.ops.common import normalize_axes, normalize_axis
from graphc.ops.concat_ops import unstack
from graphc.ops.core_ops import constant, placeholder, shape
from graphc.ops.linalg_ops import matmul, tensordot
from graphc.ops.math_ops import multiply
from graphc.ops.reduction_ops import (
    arg_max,
    arg_min,
    argmax,
    argmin,
    count_nonzero,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
)
from graphc.ops.scan_ops import cumsum
from graphc.ops.softmax_ops import softmax


@pytest.fixture()
def g() -> Any:
    graph = Graph()
    with graph.as_default():
        yield graph


def run(fetches: Any, feeds: dict[Tensor, Any] | None = None) -> Any:
    """Evaluate frontend tensors by running each op's reference (no backend needed)."""
    values: dict[int, np.ndarray] = {id(t): np.asarray(v, dtype=t.dtype.np) for t, v in (feeds or {}).items()}

    def one(t: Tensor) -> np.ndarray:
        ops, stack, seen = [], [t.op], set()
        while stack:
            op = stack.pop()
            if op._id in seen or all(id(o) in values for o in op.outputs):
                continue
            seen.add(op._id)
            ops.append(op)
            stack.extend(i.op for i in op.inputs if id(i) not in values)
        for op in sorted(ops, key=lambda o: o._id):
            outs = reg.get(op.type).reference([values[id(i)] for i in op.inputs], op.attrs)
            for o, v in zip(op.outputs, outs, strict=True):
                values[id(o)] = np.asarray(v)
        return values[id(t)]

    return [one(t) for t in fetches] if isinstance(fetches, list) else one(fetches)


def grads(y: Tensor, xs: list[Tensor]) -> list[Any]:
    from graphc.autodiff.gradients import gradients

    return gradients(y, xs)


# -- reductions: shapes and attrs ----------------------------------------------------------------
@pytest.mark.parametrize(
    "axis, keepdims, expected, attr",
    [
        (None, False, [], None),
        (None, True, [1, 1, 1], None),
        (1, False, [2, 4], (1,)),
        (-1, False, [2, 3], (2,)),
        ([2, 0], False, [3], (0, 2)),
        ((0, -1), True, [1, 3, 1], (0, 2)),
        (np.array([1]), False, [2, 4], (1,)),
        ([], False, [2, 3, 4], ()),
    ],
)
def test_reduce_sum_static_shapes(
    g: Graph, axis: Any, keepdims: bool, expected: list[int], attr: Any
) -> None:
    x = placeholder(dt.float32, [2, 3, 4])
    y = reduce_sum(x, axis=axis, keepdims=keepdims)
    assert y.shape.as_list() == expected
    assert y.op.attrs == {"axis": attr, "keepdims": keepdims}
    assert y.dtype == dt.float32


def test_axis_from_constant_tensor_and_tf1_aliases(g: Graph) -> None:
    x = placeholder(dt.float32, [2, 3, 4])
    assert reduce_mean(x, axis=constant([0, 2])).shape.as_list() == [3]
    assert reduce_max(x, reduction_indices=[1], keep_dims=True).shape.as_list() == [2, 1, 4]
    with pytest.raises(ValueError, match="Cannot specify both 'axis' and 'reduction_indices'"):
        reduce_sum(x, axis=1, reduction_indices=1)
    with pytest.raises(ValueError, match="Cannot specify both 'keepdims' and 'keep_dims'"):
        reduce_sum(x, keepdims=True, keep_dims=True)
    with pytest.raises(TypeError, match="known when the graph is built"):
        reduce_sum(x, axis=placeholder(dt.int32, []))


def test_symbolic_batch_and_unknown_rank(g: Graph) -> None:
    x = placeholder(dt.float32, [None, 3])
    assert reduce_sum(x, 1).shape.as_list() == [None]
    assert reduce_logsumexp(x, 1, keepdims=True).shape.as_list() == [None, 1]
    assert reduce_min(x, 0).shape.as_list() == [3]
    u = placeholder(dt.float32, None)
    assert reduce_sum(u).shape.as_list() == []
    y = reduce_sum(u, axis=-1)
    assert y.shape.ndims is None and y.op.attrs["axis"] == (-1,)
    assert run(y, {u: np.ones((2, 5))}).tolist() == [5.0, 5.0]


def test_reduction_errors(g: Graph) -> None:
    x = placeholder(dt.float32, [2, 3])
    with pytest.raises(ValueError, match="Invalid reduction dimension 2 for input with 2 dimensions"):
        reduce_sum(x, axis=2)
    with pytest.raises(ValueError, match="duplicate"):
        reduce_sum(x, axis=[1, -1])
    with pytest.raises(TypeError):
        reduce_sum(x, axis=1.5)
    with pytest.raises(TypeError):
        reduce_any(x)
    with pytest.raises(TypeError):
        reduce_sum(placeholder(dt.bool_, [2]))
    with pytest.raises(TypeError):
        reduce_logsumexp(placeholder(dt.int32, [2]))
    with pytest.raises(ValueError, match="Invalid reduction dimension 0 for input with 0 dimensions"):
        reduce_sum(constant(1.0), axis=0)


_REDUCTIONS = [
    (reduce_sum, "Sum", "Sum", np.sum),
    (reduce_mean, "Mean", "Mean", np.mean),
    (reduce_max, "Max", "Max", np.max),
    (reduce_min, "Min", "Min", np.min),
    (reduce_prod, "Prod", "Prod", np.prod),
    (
        reduce_logsumexp,
        "LogSumExp",
        "ReduceLogSumExp",
        lambda v, axis, keepdims: np.log(np.sum(np.exp(v), axis=axis, keepdims=keepdims)),
    ),
    (reduce_any, "Any", "Any", np.any),
    (reduce_all, "All", "All", np.all),
]


@pytest.mark.parametrize("fn,op_type,default_name,np_fn", _REDUCTIONS, ids=[r[1] for r in _REDUCTIONS])
def test_each_reduction_takes_tf1_arguments(
    g: Graph, fn: Any, op_type: str, default_name: str, np_fn: Any
) -> None:
    params = list(inspect.signature(fn).parameters)
    assert params == ["input_tensor", "axis", "keepdims", "name", "reduction_indices", "keep_dims"]
    assert fn.__name__ == "reduce_" + ("logsumexp" if op_type == "LogSumExp" else op_type.lower())
    assert fn.__doc__.startswith(f"tf.{fn.__name__} (TF1)")
    rng = np.random.default_rng(1)
    v = (
        rng.integers(0, 2, size=(2, 3, 4)).astype(bool)
        if op_type in ("Any", "All")
        else rng.normal(size=(2, 3, 4))
    )
    x = constant(v)
    for k, y in enumerate((fn(x, [0, -1], True), fn(x, reduction_indices=[0, 2], keep_dims=True))):
        assert y.op.type == op_type and y.op.name == (default_name if k == 0 else f"{default_name}_1")
        assert y.op.attrs == {"axis": (0, 2), "keepdims": True}
        np.testing.assert_allclose(run(y), np_fn(v, axis=(0, 2), keepdims=True), rtol=1e-12)
    assert fn(x, name="r").op.name == "r"
    np.testing.assert_allclose(run(fn(x)), np_fn(v, axis=None, keepdims=False), rtol=1e-12)
    with pytest.raises(ValueError, match="Cannot specify both 'axis' and 'reduction_indices'"):
        fn(x, axis=0, reduction_indices=0)


@pytest.mark.parametrize("fn", [r[0] for r in _REDUCTIONS], ids=[r[1] for r in _REDUCTIONS])
def test_a_scalar_has_no_axis_to_reduce(g: Graph, fn: Any) -> None:
    # TF1: "Invalid reduction dimension 0 for input with 0 dimensions" for 0 and -1 alike.
    x = constant(True) if fn in (reduce_any, reduce_all) else constant(2.0)
    for axis in (0, -1, [0]):
        with pytest.raises(
            ValueError, match=f"Invalid reduction dimension {np.ravel(axis)[0]} for input with 0"
        ):
            fn(x, axis=axis)
    for axis in (None, []):
        y = fn(x, axis=axis)
        assert y.shape.as_list() == [] and run(y) == run(x)


def test_one_axis_normaliser() -> None:
    assert normalize_axis(-1, 3) == 2 and normalize_axis(2, 3) == 2
    assert normalize_axis(-4, None) == -4  # unknown rank: kept for the rules
    for axis, rank in ((3, 3), (-4, 3), (0, 0), (-1, 0)):
        with pytest.raises(reg.ShapeError, match=f"Invalid axis {axis} for input with {rank} dimensions"):
            normalize_axis(axis, rank)
    assert normalize_axes([2, 0, -2], 3) == (0, 1, 2)
    assert normalize_axes([-1, 0], None) == (-1, 0)
    assert normalize_axes([], 0) == ()
    with pytest.raises(reg.ShapeError, match="duplicate dimension 2"):
        normalize_axes([2, -1], 3)
    with pytest.raises(reg.ShapeError, match="duplicate"):
        normalize_axes([1, 1], None)
    # Ops whose axis is an index into the input reject a scalar's axis too, as TF1.
    with Graph().as_default():
        s = constant(1.0)
        for build in (lambda: argmax(s, 0), lambda: cumsum(s, 0), lambda: softmax(s), lambda: unstack(s)):
            with pytest.raises(ValueError):
                build()


# -- reductions: values ------------------------------------------------------------------------------
def test_values_against_numpy(g: Graph) -> None:
    v = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    x = constant(v)
    outs = run(
        [
            reduce_sum(x, [0, 2]),
            reduce_mean(x, 1, keepdims=True),
            reduce_max(x, -1),
            reduce_min(x),
            reduce_prod(x, 0),
            reduce_logsumexp(x, 2),
        ]
    )
    expected = [
        v.sum((0, 2)),
        v.mean(1, keepdims=True),
        v.max(-1),
        v.min(),
        v.prod(0),
        np.log(np.exp(v.astype(np.float64)).sum(2)),
    ]
    for o, e in zip(outs, expected, strict=True):
        assert o.dtype == np.float32
        np.testing.assert_allclose(o, e, rtol=1e-5)


def test_integer_mean_truncates_like_tf(g: Graph) -> None:
    x = constant(np.array([[-4, -3], [3, 4], [-1, 0], [7, 7]], dtype=np.int32))
    y = reduce_mean(x, 1)
    assert y.dtype == dt.int32
    assert run(y).tolist() == [-3, 3, 0, 7]


def test_logsumexp_is_stable(g: Graph) -> None:
    x = constant(np.array([[-np.inf, -np.inf], [1000.0, 1000.0], [0.0, -np.inf]], dtype=np.float32))
    out = run(reduce_logsumexp(x, 1))
    assert out.dtype == np.float32
    assert out[0] == -np.inf
    np.testing.assert_allclose(out[1:], [1000.0 + np.log(2.0), 0.0], rtol=1e-6)


def test_empty_and_bool_reductions(g: Graph) -> None:
    e = constant(np.zeros((2, 0), np.float32))
    assert run(reduce_max(e, 1)).tolist() == [-np.inf, -np.inf]
    assert run(reduce_sum(e, 1)).tolist() == [0.0, 0.0]
    b = constant(np.array([[True, False], [True, True]]))
    assert run(reduce_any(b, 1)).tolist() == [True, True]
    assert run(reduce_all(b, 1)).tolist() == [False, True]
    assert run(reduce_all(b)).tolist() is False


def test_reduce_prod_of_shape_keeps_static_value(g: Graph) -> None:
    x = placeholder(dt.float32, [2, 3, 4])
    assert reduce_prod(shape(x))._value.tolist() == 24
    assert reduce_sum(shape(x), keepdims=True)._value.tolist() == [9]


def test_count_nonzero(g: Graph) -> None:
    x = constant(np.array([[0.0, 1.5, 0.0], [2.0, -1.0, 0.0]], np.float32))
    y = count_nonzero(x, axis=1)
    assert y.dtype == dt.int64
    assert run(y).tolist() == [1, 2]
    assert run(count_nonzero(x, keep_dims=True, dtype=dt.int32)).tolist() == [[3]]
    assert run(count_nonzero(constant([True, False, True]))).tolist() == 2
    assert count_nonzero(placeholder(dt.float32, [None, 3]), 0).shape.as_list() == [3]


# -- argmax / argmin ---------------------------------------------------------------------------------
def test_argmax_tf1_arguments(g: Graph) -> None:
    x = constant(np.array([[1.0, 3.0, 3.0], [4.0, 0.0, 4.0]], np.float32))
    y = argmax(x)
    assert y.dtype == dt.int64 and y.shape.as_list() == [3] and y.op.attrs["axis"] == 0
    assert run(argmax(x, 1)).tolist() == [1, 0]  # ties: the first index
    assert run(argmin(x, dimension=-1, output_type=dt.int32)).tolist() == [0, 1]
    assert run(arg_max(x, 1)).tolist() == [1, 0]
    assert arg_min(x, 0).op.type == "ArgMin"
    with pytest.raises(ValueError, match="Cannot specify both 'axis' and 'dimension'"):
        argmax(x, axis=0, dimension=0)
    with pytest.raises(TypeError, match="int32 or int64"):
        argmax(x, 1, output_type=dt.float32)
    with pytest.raises(ValueError, match="out of range"):
        argmax(x, 2)
    with pytest.raises(ValueError):
        argmax(constant(1.0))
    u = argmax(placeholder(dt.float32, None), -1)
    assert u.shape.ndims is None and u.op.attrs["axis"] == -1
    assert argmax(placeholder(dt.float32, [None, 10]), 1).shape.as_list() == [None]


# -- reduction gradients ----------------------------------------------------------------------------
def test_reduction_gradients_with_a_none_batch(g: Graph) -> None:
    x = placeholder(dt.float64, [None, 3])
    v = np.array([[1.0, 2.0, 2.0], [0.5, 0.0, 3.0]])
    (gs,) = grads(reduce_sum(x, 1), [x])
    (gm,) = grads(reduce_mean(x, 1), [x])
    (gx,) = grads(reduce_max(x, 1), [x])
    (gp,) = grads(reduce_prod(x, 1), [x])
    for t in (gs, gm, gx, gp):
        assert t.shape.as_list() == [None, 3]
    out = run([gs, gm, gx, gp], {x: v})
    np.testing.assert_allclose(out[0], np.ones((2, 3)))
    np.testing.assert_allclose(out[1], np.full((2, 3), 1 / 3))
    np.testing.assert_allclose(out[2], [[0, 0.5, 0.5], [0, 0, 1]])  # ties share the gradient
    np.testing.assert_allclose(out[3], [[4.0, 2.0, 2.0], [0.0, 1.5, 0.0]])  # exact at a zero


def test_second_derivative_of_logsumexp(g: Graph) -> None:
    x = placeholder(dt.float64, [None, 3])
    v = np.array([[0.1, -0.3, 0.7]])
    (g1,) = grads(reduce_logsumexp(x, 1), [x])
    (g2,) = grads(reduce_sum(multiply(g1, constant(np.array([1.0, 0.0, 0.0])))), [x])
    p = np.exp(v) / np.exp(v).sum()
    np.testing.assert_allclose(run(g1, {x: v}), p)
    np.testing.assert_allclose(run(g2, {x: v}), p[0, 0] * (np.eye(3)[0] - p), atol=1e-12)


# -- matmul ---------------------------------------------------------------------------------------
def test_matmul_shapes_and_flags(g: Graph) -> None:
    a = placeholder(dt.float32, [None, 784])
    w = placeholder(dt.float32, [784, 10])
    assert matmul(a, w).shape.as_list() == [None, 10]
    assert (a @ w).shape.as_list() == [None, 10]
    assert matmul(w, a, transpose_a=True, transpose_b=True).shape.as_list() == [10, None]
    y = matmul(w, a, adjoint_a=True, adjoint_b=True)
    assert y.op.attrs == {"transpose_a": True, "transpose_b": True}
    assert matmul(
        placeholder(dt.float32, [2, 1, 3, 4]), placeholder(dt.float32, [5, 4, 2])
    ).shape.as_list() == [
        2,
        5,
        3,
        2,
    ]
    assert matmul(placeholder(dt.float32, None), w).shape.ndims is None
    assert matmul(constant([[1, 2]]), constant([[3], [4]])).dtype == dt.int32


def test_matmul_errors(g: Graph) -> None:
    a = placeholder(dt.float32, [None, 784])
    with pytest.raises(
        ValueError, match=r"Dimensions must be equal, but are 784 and 785.*\[\?,784\], \[785,10\]"
    ):
        matmul(a, placeholder(dt.float32, [785, 10]))
    with pytest.raises(ValueError, match="rank >= 2 but is rank 1"):
        matmul(placeholder(dt.float32, [3]), placeholder(dt.float32, [3, 2]))
    with pytest.raises(ValueError, match="Only one of transpose_a and adjoint_a"):
        matmul(a, a, transpose_a=True, adjoint_a=True)
    with pytest.raises(TypeError):
        matmul(a, placeholder(dt.float64, [784, 2]))
    with pytest.raises(TypeError):
        matmul(placeholder(dt.bool_, [2, 2]), placeholder(dt.bool_, [2, 2]))
    with pytest.raises(ValueError, match="Batch dimensions"):
        matmul(placeholder(dt.float32, [2, 3, 4]), placeholder(dt.float32, [3, 4, 5]))


def test_matmul_values_and_batch_broadcast_gradient(g: Graph) -> None:
    rng = np.random.default_rng(0)
    av, bv = rng.normal(size=(2, 1, 3, 4)), rng.normal(size=(5, 4, 2))
    a = placeholder(dt.float64, [None, None, 3, 4])
    b = placeholder(dt.float64, [5, 4, 2])
    y = matmul(a, b)
    ga, gb = grads(y, [a, b])
    out, ga_v, gb_v = run([y, ga, gb], {a: av, b: bv})
    np.testing.assert_allclose(out, np.matmul(av, bv))
    ones = np.ones((2, 5, 3, 2))
    np.testing.assert_allclose(ga_v, np.matmul(ones, np.swapaxes(bv, -1, -2)).sum(1, keepdims=True))
    np.testing.assert_allclose(gb_v, np.matmul(np.swapaxes(av, -1, -2), ones).sum(0))
    f32 = run(matmul(constant(av[0, 0].astype(np.float32)), constant(bv[0].astype(np.float32))))
    assert f32.dtype == np.float32


# -- tensordot ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sa, sb, axes",
    [
        ((3, 4), (4, 5), 1),
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3, 4), (4, 3, 5), [[1, 2], [1, 0]]),
        ((2, 3), (4,), 0),
        ((3, 4), (4, 5), [1, 0]),
        ((2, 3, 4), (5, 2), ([0], [1])),
    ],
)
def test_tensordot_values(g: Graph, sa: tuple[int, ...], sb: tuple[int, ...], axes: Any) -> None:
    rng = np.random.default_rng(0)
    av, bv = rng.normal(size=sa), rng.normal(size=sb)
    y = tensordot(constant(av), constant(bv), axes)
    expected = np.tensordot(av, bv, axes)
    assert y.shape.as_list() == list(expected.shape)
    np.testing.assert_allclose(run(y), expected)


def test_tensordot_symbolic_leading_dim(g: Graph) -> None:
    rng = np.random.default_rng(1)
    a = placeholder(dt.float64, [None, 5, 6])
    w = rng.normal(size=(6, 7))
    y = tensordot(a, constant(w), 1)
    assert y.shape.as_list() == [None, 5, 7]
    av = rng.normal(size=(3, 5, 6))
    np.testing.assert_allclose(run(y, {a: av}), np.tensordot(av, w, 1))
    b = placeholder(dt.float64, [None, None, 6])
    z = tensordot(b, constant(w), [[2], [0]], name="td")
    assert z.shape.as_list() == [None, None, 7] and z.op.name == "td"
    np.testing.assert_allclose(run(z, {b: av}), np.tensordot(av, w, 1))


def test_tensordot_errors(g: Graph) -> None:
    a = placeholder(dt.float32, [2, 3])
    with pytest.raises(ValueError, match="does not match"):
        tensordot(a, placeholder(dt.float32, [2, 3]), 1)
    with pytest.raises(ValueError, match="must not be larger"):
        tensordot(a, placeholder(dt.float32, [3]), 2)
    with pytest.raises(ValueError, match="known rank"):
        tensordot(a, placeholder(dt.float32, None), 1)
    with pytest.raises(ValueError, match="different number"):
        tensordot(a, placeholder(dt.float32, [3, 2]), [[1], [0, 1]])
