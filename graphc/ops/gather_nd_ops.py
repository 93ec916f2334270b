"""Gathering and scattering by index tuples: GatherNd and ScatterNd (its gradient), and their
TF1 API (gather_nd, scatter_nd).

The last dim of ``indices`` (the index depth: how many leading dims of params each index
tuple addresses) must be known when the graph is built; the other dims may be symbolic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops.array_common import _fmt, _index_dtype, _shape_arg
from graphc.ops.common import convert_to_tensor, make, rand, value_shape
from graphc.ops.concat_ops import _shape_tensor


def _depth(ctx: reg.InferenceContext, which: int, what: str) -> int | None:
    """The index depth (the last dim of input ``which``, the indices), or None when the rank
    of indices is unknown."""
    i = ctx.shapes[which]
    if i is None:
        return None
    if not i:
        raise reg.ShapeError(f"indices must be at least a vector, got a scalar ({what})")
    d = i[-1]
    if not isinstance(d, int):
        raise reg.ShapeError(
            f"the last dim of indices (the index depth) must be known when the graph is built ({what})"
        )
    return d


def _index_tuple(idx: np.ndarray, dims: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """indices[..., j] for each j, checked against dims (TF raises for out-of-range indices)."""
    parts = []
    for j, dim in enumerate(dims):
        col = idx[..., j]
        bad = (col < 0) | (col >= dim)
        if np.any(bad):
            pos = tuple(int(p) for p in np.argwhere(bad)[0])
            shown = ", ".join(str(int(v)) for v in idx[pos])
            raise IndexError(f"indices{list(pos)} = [{shown}] does not index into shape {list(dims)}")
        parts.append(col.astype(np.intp))
    return tuple(parts)


# =============================================================================================
# GatherNd
def _gather_nd_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    p, i = ctx.shapes
    d = _depth(ctx, 1, "gather_nd")
    if d is None or p is None:
        return [None]
    if d > len(p):
        raise reg.ShapeError(f"index depth {d} is more than the rank {len(p)} of params {_fmt(p)}")
    v = ctx.value(1)
    if v is not None and all(isinstance(x, int) for x in p[:d]) and all(isinstance(x, int) for x in v.flat):
        try:
            _index_tuple(np.array(v.tolist(), dtype=np.int64).reshape(v.shape), tuple(p[:d]))
        except IndexError as exc:
            raise reg.ShapeError(str(exc)) from None
    return [tuple(i[:-1]) + tuple(p[d:])]  # type: ignore[index]


def _gather_nd_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1])
    return [ctx.dtypes[0]]


def _gather_nd_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    p, idx = ins
    d = idx.shape[-1]
    if d == 0:  # every index tuple addresses all of params
        return [np.broadcast_to(p, idx.shape[:-1] + p.shape).copy()]
    return [np.array(p[_index_tuple(idx, p.shape[:d])], copy=True)]


def _gather_nd_grad(op: Operation, g: Tensor) -> list[Any]:
    params, indices = op.inputs
    return [make("ScatterNd", [indices, g, _shape_arg(params)]), None]


def _gather_nd_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (4, 3)), np.array([[0], [2], [2]], np.int32)], wrt=(0,)),
        reg.Sample([rand(rng, (4, 3)), np.array([[0, 1], [3, 2], [0, 1]], np.int64)], wrt=(0,)),
        reg.Sample(
            [rand(rng, (2, 3, 4)), np.array([[[1, 0], [0, 2]], [[1, 1], [1, 0]]], np.int32)], wrt=(0,)
        ),
        reg.Sample([rand(rng, (2, 3)), np.zeros((2, 0), np.int32)], wrt=(0,)),
        reg.Sample([np.array([[4, 7], [9, 1]], np.int32), np.array([[1, 0], [0, 1]], np.int32)], grad=False),
    ]


reg.register(
    reg.OpDef(
        name="GatherNd",
        attrs={},
        shape=_gather_nd_shape,
        dtype=_gather_nd_dtype,
        reference=_gather_nd_ref,
        grad=_gather_nd_grad,
        samples=_gather_nd_samples,
        doc="out[i...] = params[indices[i..., :]] (the index depth is indices' last dim, at most "
        "params' rank); an index out of range raises IndexError.",
    )
)


def gather_nd(params: Any, indices: Any, name: str | None = None, batch_dims: int = 0) -> Tensor:
    """tf.gather_nd (TF1): indices' last dim must be known when the graph is built; batch_dims
    other than 0 is not supported. Indices out of range raise when the graph runs (TF:
    InvalidArgumentError), or when it is built if they are constant."""
    if batch_dims != 0:
        raise NotImplementedError("tf.gather_nd with batch_dims != 0 is not supported by graphc")
    p = convert_to_tensor(params)
    idx = convert_to_tensor(indices)
    return make("GatherNd", [p, idx], name=name or "GatherNd")


# =============================================================================================
# ScatterNd
def _scatter_nd_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    i, u, s = ctx.shapes
    if s is not None and len(s) != 1:
        raise reg.ShapeError(f"shape must be a vector, got shape {_fmt(s)}")
    out = value_shape(ctx, 2, "shape")
    d = _depth(ctx, 0, "scatter_nd")
    if out is None or d is None:
        return [out]
    if d > len(out):
        raise reg.ShapeError(f"index depth {d} is more than the rank {len(out)} of shape {_fmt(out)}")
    if u is not None and i is not None:
        expected = tuple(i[:-1]) + tuple(out[d:])
        if len(expected) != len(u):
            raise reg.ShapeError(f"updates of shape {_fmt(u)} do not match {_fmt(expected)}")
        for a, b in zip(expected, u, strict=True):
            try:
                ctx.equal(a, b, "updates dimensions")
            except reg.ShapeError:
                raise reg.ShapeError(f"updates of shape {_fmt(u)} do not match {_fmt(expected)}") from None
    return [out]


def _scatter_nd_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [0, 2])
    return [ctx.dtypes[1]]


def _scatter_nd_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    idx, updates, dims = ins
    out = np.zeros(tuple(int(x) for x in dims), dtype=updates.dtype)
    d = idx.shape[-1]
    if d == 0:  # every update lands on the whole output
        out += updates.reshape((-1, *out.shape)).sum(axis=0, dtype=updates.dtype)
        return [out]
    np.add.at(out, _index_tuple(idx, out.shape[:d]), updates)
    return [out]


reg.register(
    reg.OpDef(
        name="ScatterNd",
        attrs={},
        shape=_scatter_nd_shape,
        dtype=_scatter_nd_dtype,
        reference=_scatter_nd_ref,
        grad=lambda op, g: [None, gather_nd(g, op.inputs[0]), None],
        samples=lambda rng: [
            reg.Sample(
                [np.array([[0], [2], [2]], np.int32), rand(rng, (3, 3)), np.array([4, 3], np.int32)], wrt=(1,)
            ),
            reg.Sample(
                [np.array([[0, 1], [3, 2], [0, 1]], np.int64), rand(rng, (3,)), np.array([4, 3], np.int64)],
                wrt=(1,),
            ),
            reg.Sample(
                [
                    np.array([[[1], [0]], [[2], [2]]], np.int32),
                    rand(rng, (2, 2, 4)),
                    np.array([3, 4], np.int32),
                ],
                wrt=(1,),
            ),
            reg.Sample(
                [
                    np.array([[1], [1]], np.int32),
                    np.array([[5, 6], [1, 2]], np.int32),
                    np.array([2, 2], np.int32),
                ],
                grad=False,
            ),
        ],
        doc="Zeros of shape input 2 with updates added at the index tuples in indices (duplicates "
        "add up); the gradient of GatherNd.",
    )
)


def scatter_nd(indices: Any, updates: Any, shape: Any, name: str | None = None) -> Tensor:
    """tf.scatter_nd (TF1): zeros of ``shape`` with ``updates`` added at the index tuples in
    ``indices`` (duplicates add up); indices' last dim must be known when the graph is built."""
    idx = convert_to_tensor(indices)
    u = convert_to_tensor(updates)
    s = _shape_tensor(shape)
    return make("ScatterNd", [idx, u, s], name=name or "ScatterNd")
