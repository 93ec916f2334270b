"""Ops whose output shape depends on the data, and their TF1 API: ``tf.where(cond)`` (one
argument), ``tf.boolean_mask``, ``tf.unique``, ``tf.unique_with_counts``,
``tf.dynamic_partition``, ``tf.dynamic_stitch``, ``tf.nn.top_k`` with a run-time ``k``,
``tf.slice`` with run-time bounds and ``x[a:b]`` with tensor bounds.

Each output dim that only the data decides is a fresh symbol of the shape rule
(``ctx.fresh()``): lowering records it in ``Program.defined_dims`` as defined by the node
that makes the value, the memory plan sizes that value only once the node has run, and
an executable binds the symbol (or checks the expression it was unified with) right
after the node runs (``graphc.ir.entry.DimState``). A size that is a fed integer's value
(``top_k(x, k)`` with ``k`` fed) is a ``K`` symbol bound at entry instead, so nothing
waits for the data.

The gradients follow TF1's: boolean_mask, dynamic_partition and slices scatter the
output gradient back to where the values came from, dynamic_stitch gathers it (only to the
rows that survive in the output: TF1 also hands it to rows a later duplicate index
overwrote, whose true derivative is zero); where and unique have none (integer outputs,
and TF1 registers unique as not differentiable).
"""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops import math_ops, slicing_ops, topk_ops
from graphc.ops.array_common import _has_static_value, _shape_arg
from graphc.ops.common import (
    INTS,
    NUMERIC,
    check_dtypes,
    convert_to_tensor,
    is_tensorish,
    make,
    make_op,
    normalize_axis,
    rand,
    value_shape,
)
from graphc.ops.compare_ops import equal, less, logical_and
from graphc.ops.concat_ops import stack
from graphc.ops.core_ops import shape as _shape
from graphc.ops.core_ops import size as _size
from graphc.ops.fill_ops import fill, zeros_like
from graphc.ops.fill_ops import range as _range
from graphc.ops.gather_ops import gather
from graphc.ops.layout_ops import reshape
from graphc.ops.math_ops import add, cast, maximum, minimum, subtract
from graphc.symbolic import Dim

_INDEX = (_dt.int32, _dt.int64)
_SORTABLE = (*NUMERIC, _dt.bool_, _dt.string)
_pyslice = builtins.slice  # this module defines tf.slice


def _known_int(v: Any) -> int | None:
    """A partial value's element as an int when it is one (not a symbol, not unknown)."""
    return v if isinstance(v, int) and not isinstance(v, bool) else None


# =============================================================================================
# Where (one argument): the coordinates of the true (non-zero) elements
def _where_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[0]
    return [(ctx.fresh(), ctx.fresh() if s is None else len(s))]


def _where_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, (*NUMERIC, _dt.bool_))
    return [_dt.int64]


def _where_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    # Row-major order of the true elements, as TF1's Where gives them.
    return [np.ascontiguousarray(np.argwhere(ins[0]), dtype=np.int64)]


def _where_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (3, 4), "bool")]),
        reg.Sample([rand(rng, (7,), "bool")]),
        reg.Sample([np.zeros((2, 3), bool)]),  # no true element: [0, 2]
        reg.Sample([np.ones((2, 1, 3), bool)]),
        reg.Sample([np.array(True)]),  # a scalar: [1, 0]
        reg.Sample([np.array([[0.0, -1.5], [np.nan, 0.0]])]),  # non-zero counts as true
        reg.Sample([np.array([3, 0, -2, 0], np.int32)]),
    ]


reg.register(
    reg.OpDef(
        name="Where",
        attrs={},
        shape=_where_shape,
        dtype=_where_dtype,
        reference=_where_ref,
        grad=reg.NotDifferentiable("the coordinates of true elements are integers"),
        samples=_where_samples,
        doc="int64 [num_true, rank]: the coordinates of the non-zero elements in row-major order "
        "(TF1's one-argument tf.where); num_true is defined by the data.",
    )
)


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """tf.where (TF1). With x and y: the select of :func:`graphc.ops.math_ops.where` (rows
    picked by a rank-1 condition). With neither: the coordinates of the true elements,
    int64 [num_true, rank] in row-major order; num_true is known once the op has run."""
    if x is None and y is None:
        c = convert_to_tensor(condition)
        return make("Where", [c], name=name or "Where")
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    return math_ops.where(condition, x, y, name=name)


def where_v2(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """tf.where_v2: the broadcasting select, or with neither x nor y, tf.where(condition)."""
    if x is None and y is None:
        return where(condition, name=name)
    return math_ops.where_v2(condition, x, y, name=name)


# =============================================================================================
# BooleanMask / BooleanMaskGrad
def _mask_axes(ctx: reg.InferenceContext, t: tuple[Dim, ...], m: tuple[Dim, ...]) -> int:
    if not m:
        raise reg.ShapeError("mask cannot be a scalar")
    ax = normalize_axis(ctx.attrs["axis"], len(t) if t else 1)
    if ax + len(m) > len(t):
        raise reg.ShapeError(
            f"mask of rank {len(m)} at axis {ax} does not fit a tensor of rank {len(t)} "
            f"(shapes {reg.format_shape(t)} and {reg.format_shape(m)})"
        )
    for i, d in enumerate(m):
        ctx.equal(
            t[ax + i],
            d,
            f"the mask's shape {reg.format_shape(m)} must match the tensor's dims {ax}..{ax + len(m) - 1} "
            f"{reg.format_shape(t[ax : ax + len(m)])}: dimensions",
        )
    return ax


def _boolean_mask_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    t, m = ctx.shapes
    if m is not None and not m:
        raise reg.ShapeError("mask cannot be a scalar")
    if t is None or m is None:
        return [None]
    ax = _mask_axes(ctx, t, m)
    return [(*t[:ax], ctx.fresh(), *t[ax + len(m) :])]


def _mask_dtype(ctx: reg.InferenceContext, mask: int) -> None:
    if ctx.dtypes[mask] != _dt.bool_:
        raise TypeError(f"the mask of boolean_mask must be bool, got {ctx.dtypes[mask].name}")


def _boolean_mask_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _mask_dtype(ctx, 1)
    return [ctx.dtypes[0]]


def _flat_mask(shape: tuple[int, ...], mask: np.ndarray, ax: int) -> tuple[tuple[int, ...], np.ndarray]:
    """The tensor's shape with the masked dims merged into one, and the flat mask."""
    if shape[ax : ax + mask.ndim] != mask.shape:
        raise ValueError(
            f"Shapes {list(shape[ax : ax + mask.ndim])} and {list(mask.shape)} are incompatible: the mask "
            f"must match the tensor's dims {ax}..{ax + mask.ndim - 1}"
        )
    merged = (*shape[:ax], int(np.prod(mask.shape, dtype=np.int64)), *shape[ax + mask.ndim :])
    return merged, mask.reshape(-1)


def _boolean_mask_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    t, m = ins
    ax = normalize_axis(attrs["axis"], t.ndim)
    merged, flat = _flat_mask(t.shape, m, ax)
    return [np.ascontiguousarray(np.compress(flat, t.reshape(merged), axis=ax))]


def _boolean_mask_grad(op: Operation, g: Tensor) -> list[Any]:
    t, m = op.inputs
    return [make("BooleanMaskGrad", [_shape_arg(t), m, g], {"axis": op.attrs["axis"]}), None]


def _mask_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (5,)), np.array([True, False, True, True, False])], {"axis": 0}),
        reg.Sample([rand(rng, (4, 3)), rand(rng, (4,), "bool")], {"axis": 0}),
        reg.Sample([rand(rng, (2, 3, 4)), rand(rng, (2, 3), "bool")], {"axis": 0}),
        reg.Sample([rand(rng, (2, 3, 4)), rand(rng, (3, 4), "bool")], {"axis": 1}),
        reg.Sample([rand(rng, (3, 4)), rand(rng, (4,), "bool")], {"axis": -1}),
        reg.Sample([rand(rng, (3, 2)), np.zeros((3,), bool)], {"axis": 0}),  # an empty result
        reg.Sample([np.arange(6, dtype=np.int32).reshape(2, 3), np.ones((2, 3), bool)], {"axis": 0}),
    ]


reg.register(
    reg.OpDef(
        name="BooleanMask",
        attrs={"axis": reg.AXIS},
        shape=_boolean_mask_shape,
        dtype=_boolean_mask_dtype,
        reference=_boolean_mask_ref,
        grad=_boolean_mask_grad,
        samples=_mask_samples,
        doc="tensor's entries where the bool mask (matching dims axis.. of tensor) is true, the "
        "mask's dims merged into one of data-defined size (TF1's tf.boolean_mask).",
    )
)


def _mask_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    out = value_shape(ctx, 0, "shape")
    m, g = ctx.shapes[1], ctx.shapes[2]
    if out is None or m is None:
        return [out]
    ax = _mask_axes(ctx, out, m)
    if g is not None:
        want = (*out[:ax], None, *out[ax + len(m) :])
        if len(g) != len(want):
            raise reg.ShapeError(f"gradient of rank {len(g)} for an output of rank {len(want)}")
        for a, b in zip(g, want, strict=True):
            if b is not None:
                ctx.equal(a, b)
    return [out]


def _mask_grad_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, _INDEX, [0])
    _mask_dtype(ctx, 1)
    return [ctx.dtypes[2]]


def _mask_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    shape, m, g = ins
    shape = tuple(int(d) for d in shape)
    ax = normalize_axis(attrs["axis"], len(shape))
    merged, flat = _flat_mask(shape, m, ax)
    out = np.zeros(merged, dtype=g.dtype)
    out[(_pyslice(None),) * ax + (flat,)] = g
    return [out.reshape(shape)]


def _mask_grad_samples(rng: np.random.Generator) -> list[reg.Sample]:
    m = np.array([[True, False, True], [False, True, True]])
    return [
        reg.Sample([np.array([2, 3, 2], np.int32), m, rand(rng, (4, 2))], {"axis": 0}, wrt=(2,)),
        reg.Sample([np.array([4, 2, 3], np.int32), m, rand(rng, (4, 4))], {"axis": 1}, wrt=(2,)),
        reg.Sample([np.array([3], np.int64), np.zeros(3, bool), rand(rng, (0,))], {"axis": 0}, wrt=(2,)),
    ]


reg.register(
    reg.OpDef(
        name="BooleanMaskGrad",
        attrs={"axis": reg.AXIS},
        shape=_mask_grad_shape,
        dtype=_mask_grad_dtype,
        reference=_mask_grad_ref,
        grad=lambda op, g: [None, None, make("BooleanMask", [g, op.inputs[1]], dict(op.attrs))],
        samples=_mask_grad_samples,
        doc="Zeros of shape input 0 with the gradient (input 2) written where BooleanMask(mask, "
        "axis) reads: the gradient of BooleanMask.",
    )
)


def boolean_mask(tensor: Any, mask: Any, name: str = "boolean_mask", axis: Any = None) -> Tensor:
    """tf.boolean_mask (TF1): the entries of ``tensor`` where the bool ``mask`` is true. The
    mask's shape must match ``tensor``'s dims ``axis .. axis + rank(mask) - 1`` (axis 0 by
    default) and its rank must be known; those dims become one, of the number of true
    entries, known once the op has run."""
    t = convert_to_tensor(tensor)
    m = convert_to_tensor(mask)
    if m.shape.ndims is None:
        raise ValueError("Number of mask dimensions must be specified, even if some dimensions are None.")
    ax = 0 if axis is None else int(axis)
    if t.shape.ndims is not None:
        ax = normalize_axis(ax, t.shape.ndims)
    return make("BooleanMask", [t, m], {"axis": ax}, name=name)


# =============================================================================================
# Unique / UniqueWithCounts
def _unique_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x = ctx.shapes[0]
    if x is not None and len(x) != 1:
        raise reg.ShapeError(f"unique needs a vector (rank 1), got shape {reg.format_shape(x)}")
    n = ctx.fresh()
    idx = x if x is not None else (ctx.fresh(),)
    return [(n,), idx] + ([(n,)] if ctx.op_type == "UniqueWithCounts" else [])


def _unique_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, _SORTABLE)
    out = ctx.attrs["out_idx"]
    if out not in _INDEX:
        raise TypeError(f"out_idx must be int32 or int64, got {out.name}")
    return [ctx.dtypes[0], out] + ([out] if ctx.op_type == "UniqueWithCounts" else [])


def _unique_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first index of each distinct value in order of first occurrence, idx, counts).

    Values compare as TF1's hash table compares them: -0.0 equals 0.0, and a NaN equals no
    value (each NaN is distinct)."""
    if x.ndim != 1:
        raise ValueError(f"unique expects a 1D vector, got shape {list(x.shape)}")
    if x.size == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    if x.dtype.kind == "f":
        _, first, inverse, counts = np.unique(
            x, return_index=True, return_inverse=True, return_counts=True, equal_nan=False
        )
    else:
        _, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse.reshape(-1)], counts[order]


def _unique_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, dt = ins[0], attrs["out_idx"].np
    first, idx, _ = _unique_parts(x)
    return [x[first].copy(), idx.astype(dt)]


def _unique_counts_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, dt = ins[0], attrs["out_idx"].np
    first, idx, counts = _unique_parts(x)
    return [x[first].copy(), idx.astype(dt), counts.astype(dt)]


def _unique_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([np.array([1, 1, 2, 4, 4, 4, 7, 8, 8], np.int32)], {"out_idx": _dt.int32}),
        reg.Sample([np.array([5, -3, 5, 0, -3], np.int64)], {"out_idx": _dt.int64}),
        reg.Sample([rng.integers(0, 4, size=20).astype(np.float32)], {"out_idx": _dt.int32}),
        reg.Sample([np.zeros(0, np.float64)], {"out_idx": _dt.int32}),
        reg.Sample([np.array([0.0, -0.0, np.nan, 1.5, np.nan, 1.5])], {"out_idx": _dt.int64}),
        reg.Sample([np.array([True, True, False])], {"out_idx": _dt.int32}),
    ]


_NOT_DIFFERENTIABLE_UNIQUE = reg.NotDifferentiable("TF1 registers Unique as not differentiable")

reg.register(
    reg.OpDef(
        name="Unique",
        attrs={"out_idx": reg.DTYPE},
        shape=_unique_shape,
        dtype=_unique_dtype,
        reference=_unique_ref,
        grad=_NOT_DIFFERENTIABLE_UNIQUE,
        num_outputs=2,
        samples=_unique_samples,
        doc="(y, idx): the distinct values of a vector in order of first occurrence (y's length "
        "defined by the data), and for each element the position of its value in y.",
    )
)
reg.register(
    reg.OpDef(
        name="UniqueWithCounts",
        attrs={"out_idx": reg.DTYPE},
        shape=_unique_shape,
        dtype=_unique_dtype,
        reference=_unique_counts_ref,
        grad=_NOT_DIFFERENTIABLE_UNIQUE,
        num_outputs=3,
        samples=_unique_samples,
        doc="(y, idx, count): Unique's outputs and how many times each value of y occurs.",
    )
)


class UniqueOutput(NamedTuple):
    """tf.unique's result (TF1's named outputs)."""

    y: Tensor
    idx: Tensor


class UniqueWithCountsOutput(NamedTuple):
    """tf.unique_with_counts's result (TF1's named outputs)."""

    y: Tensor
    idx: Tensor
    count: Tensor


def unique(x: Any, out_idx: Any = _dt.int32, name: str | None = None) -> UniqueOutput:
    """tf.unique (TF1): (y, idx) with y the distinct values of the vector x in order of first
    occurrence and x == gather(y, idx). -0.0 equals 0.0 and each NaN is distinct, as in TF1.
    Not differentiable (as in TF1)."""
    t = convert_to_tensor(x)
    op = make_op("Unique", [t], {"out_idx": _dt.as_dtype(out_idx)}, name=name or "Unique")
    return UniqueOutput(*op.outputs)


def unique_with_counts(x: Any, out_idx: Any = _dt.int32, name: str | None = None) -> UniqueWithCountsOutput:
    """tf.unique_with_counts (TF1): tf.unique's (y, idx) and the count of each value of y."""
    t = convert_to_tensor(x)
    op = make_op("UniqueWithCounts", [t], {"out_idx": _dt.as_dtype(out_idx)}, name=name or "UniqueWithCounts")
    return UniqueWithCountsOutput(*op.outputs)


# =============================================================================================
# DynamicPartition
def _partition_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    d, p = ctx.shapes
    n = ctx.attrs["num_partitions"]
    if n < 1:
        raise reg.ShapeError(f"num_partitions must be at least 1, got {n}")
    if d is None or p is None:
        return [None] * n
    if len(p) > len(d):
        raise reg.ShapeError(
            f"partitions of shape {reg.format_shape(p)} must be a prefix of data's shape {reg.format_shape(d)}"
        )
    for i, b in enumerate(p):
        ctx.equal(d[i], b, f"partitions' shape must be a prefix of data's shape: dimensions {i}")
    return [(ctx.fresh(), *d[len(p) :]) for _ in range(n)]


def _partition_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    if ctx.dtypes[1] != _dt.int32:
        raise TypeError(f"partitions must be int32, got {ctx.dtypes[1].name}")
    return [ctx.dtypes[0]] * ctx.attrs["num_partitions"]


def _partition_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    data, parts = ins
    n = attrs["num_partitions"]
    if data.shape[: parts.ndim] != parts.shape:
        raise ValueError(
            f"data.shape must start with partitions.shape, got data.shape = {list(data.shape)}, "
            f"partitions.shape = {list(parts.shape)}"
        )
    bad = (parts < 0) | (parts >= n)
    if np.any(bad):
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"partitions{list(pos)} = {parts[pos]} is not in [0, {n})")
    rows = data.reshape((parts.size, *data.shape[parts.ndim :]))
    flat = parts.reshape(-1)
    return [np.ascontiguousarray(rows[flat == i]) for i in range(n)]


def _partition_grad(op: Operation, *grads: Tensor | None) -> list[Any]:
    """TF1's: partition the positions 0..size(partitions)-1 the same way and stitch the
    gradients back to them (a partition with no gradient contributes zeros)."""
    data, parts = op.inputs
    n = op.attrs["num_partitions"]
    positions = reshape(_range(_size(parts)), _shape(parts))
    where_from = make_op("DynamicPartition", [positions, parts], {"num_partitions": n}).outputs
    gs = [g if g is not None else zeros_like(o) for g, o in zip(grads, op.outputs, strict=True)]
    stitched = make("DynamicStitch", [*where_from, *gs], {"N": n})
    return [reshape(stitched, _shape(data)), None]


def _partition_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (6,)), np.array([0, 1, 1, 0, 2, 1], np.int32)], {"num_partitions": 3}),
        reg.Sample([rand(rng, (5, 2)), np.array([1, 1, 0, 1, 1], np.int32)], {"num_partitions": 2}),
        reg.Sample([rand(rng, (2, 3, 2)), np.array([[0, 2, 0], [2, 2, 0]], np.int32)], {"num_partitions": 4}),
        reg.Sample([np.array([10, 20, 30], np.int64), np.array([2, 0, 2], np.int32)], {"num_partitions": 3}),
        reg.Sample([rand(rng, (0, 3)), np.zeros(0, np.int32)], {"num_partitions": 2}),
    ]


reg.register(
    reg.OpDef(
        name="DynamicPartition",
        attrs={"num_partitions": reg.INT},
        shape=_partition_shape,
        dtype=_partition_dtype,
        reference=_partition_ref,
        grad=_partition_grad,
        num_outputs=None,
        samples=_partition_samples,
        doc="num_partitions outputs: output i holds data's slices (along partitions' dims, "
        "merged) whose partition is i, in order; each output's length is defined by the data.",
    )
)


def dynamic_partition(
    data: Any, partitions: Any, num_partitions: int, name: str | None = None
) -> list[Tensor]:
    """tf.dynamic_partition (TF1): splits ``data`` into ``num_partitions`` tensors by the
    int32 ``partitions`` (whose shape is a prefix of data's); each keeps the order of its
    slices. A partition out of [0, num_partitions) is an InvalidArgumentError when it runs."""
    d = convert_to_tensor(data)
    p = convert_to_tensor(partitions, dtype=_dt.int32)
    n = int(num_partitions)
    op = make_op("DynamicPartition", [d, p], {"num_partitions": n}, name=name or "DynamicPartition")
    return list(op.outputs)


# =============================================================================================
# DynamicStitch
def _stitch_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    n = ctx.attrs["N"]
    if n < 1 or len(ctx.shapes) != 2 * n:
        raise reg.ShapeError(f"dynamic_stitch needs N >= 1 index tensors and N data tensors, got N = {n}")
    rest: tuple[Dim, ...] | None = None
    for i in range(n):
        ix, d = ctx.shapes[i], ctx.shapes[n + i]
        if ix is None or d is None:
            continue
        if len(d) < len(ix):
            raise reg.ShapeError(
                f"data[{i}] of shape {reg.format_shape(d)} must start with indices[{i}]'s shape "
                f"{reg.format_shape(ix)}"
            )
        for a, b in zip(ix, d):
            ctx.equal(a, b, f"data[{i}].shape must start with indices[{i}].shape: dimensions")
        tail = tuple(d[len(ix) :])
        if rest is None:
            rest = tail
        elif len(rest) != len(tail):
            raise reg.ShapeError(
                f"data[{i}] has trailing dims {reg.format_shape(tail)}, not {reg.format_shape(rest)}"
            )
        else:
            rest = tuple(ctx.equal(a, b, f"data[{i}]'s trailing dims") for a, b in zip(rest, tail))
    if rest is None:
        return [None]
    # The length is max(index) + 1, defined by the data even for constant indices: a rule
    # that read constant values would say more after constant folding than it did when
    # the program was lowered.
    return [(ctx.fresh(), *rest)]


def _stitch_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    n = ctx.attrs["N"]
    if len(ctx.dtypes) != 2 * n:
        raise TypeError(f"dynamic_stitch needs {n} index and {n} data tensors, got {len(ctx.dtypes)} inputs")
    for i in range(n):
        if ctx.dtypes[i] != _dt.int32:
            raise TypeError(f"indices[{i}] must be int32, got {ctx.dtypes[i].name}")
        if ctx.dtypes[n + i] != ctx.dtypes[n]:
            raise TypeError(f"data[{i}] is {ctx.dtypes[n + i].name}, data[0] is {ctx.dtypes[n].name}")
    return [ctx.dtypes[n]]


def _stitch_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    n = attrs["N"]
    idx, data = ins[:n], ins[n:]
    rest: tuple[int, ...] | None = None
    for i, (ix, d) in enumerate(zip(idx, data, strict=True)):
        if d.shape[: ix.ndim] != ix.shape:
            raise ValueError(
                f"data[{i}].shape = {list(d.shape)} does not start with indices[{i}].shape = {list(ix.shape)}"
            )
        tail = d.shape[ix.ndim :]
        if rest is None:
            rest = tail
        elif tail != rest:
            raise ValueError(f"data[{i}] has trailing dims {list(tail)}, data[0] has {list(rest)}")
        if np.any(ix < 0):
            raise ValueError(f"indices[{i}] holds a negative index {int(ix.min())}")
    size = max((int(ix.max()) + 1 for ix in idx if ix.size), default=0)
    # Rows no index names are zero (graphc's choice: TF1 leaves them unspecified).
    out = np.zeros((size, *(rest or ())), dtype=data[0].dtype)
    for ix, d in zip(idx, data, strict=True):
        # Later rows win, in order: within one input NumPy's assignment keeps the last one.
        out[ix.reshape(-1)] = d.reshape((ix.size, *(rest or ())))
    return [out]


def _stitch_grad(op: Operation, g: Tensor) -> list[Any]:
    """Each data row gets the output gradient of its index, if the output kept that row:
    a row overwritten by a later duplicate index gets zeros (its true derivative; TF1 hands
    it the gradient too)."""
    n = op.attrs["N"]
    idx = op.inputs[:n]
    grads: list[Any] = [gather(g, ix) for ix in idx]
    # Which input (and which of its rows) wrote each output row: stitch their own numbers.
    rows = [reshape(_range(_size(ix)), _shape(ix)) for ix in idx]
    inputs_no = [fill(_shape(ix), np.int32(m)) for m, ix in enumerate(idx)]
    winner_row = make("DynamicStitch", [*idx, *rows], {"N": n})
    winner_in = make("DynamicStitch", [*idx, *inputs_no], {"N": n})
    out: list[Any] = [None] * n
    for m, ix in enumerate(idx):
        won = logical_and(equal(gather(winner_row, ix), rows[m]), equal(gather(winner_in, ix), inputs_no[m]))
        rank_i = ix.shape.ndims
        rank_g = grads[m].shape.ndims
        if rank_i is not None and rank_g is not None and rank_g > rank_i:
            won = reshape(won, stack([*[_shape(ix)[k] for k in range(rank_i)], *([1] * (rank_g - rank_i))]))
        out[m] = math_ops.multiply(grads[m], cast(won, g.dtype))
    return [None] * n + out


def _stitch_samples(rng: np.random.Generator) -> list[reg.Sample]:
    i32 = np.int32
    return [
        reg.Sample(
            [np.array([0, 2], i32), np.array([1, 3, 4], i32), rand(rng, (2,)), rand(rng, (3,))],
            {"N": 2},
        ),
        reg.Sample(
            [np.array([[4, 0]], i32), np.array([1, 3], i32), rand(rng, (1, 2, 3)), rand(rng, (2, 3))],
            {"N": 2},
        ),  # row 2 is named by no index: zeros
        reg.Sample(
            [np.array([0, 1, 1], i32), np.array([1, 2], i32), rand(rng, (3, 2)), rand(rng, (2, 2))],
            {"N": 2},
        ),  # duplicates: the last one wins
        reg.Sample([np.array([2, 0, 1], i32), np.array([5, 6, 7], np.int64)], {"N": 1}),
        reg.Sample([np.zeros(0, i32), rand(rng, (0, 4))], {"N": 1}),
    ]


reg.register(
    reg.OpDef(
        name="DynamicStitch",
        attrs={"N": reg.INT},
        shape=_stitch_shape,
        dtype=_stitch_dtype,
        reference=_stitch_ref,
        grad=_stitch_grad,
        samples=_stitch_samples,
        doc="Inputs: N int32 index tensors, then N data tensors. merged[indices[m][i]] = data[m][i], "
        "later (m, i) winning; length max(index) + 1 (defined by the data), unnamed rows zero.",
    )
)


def dynamic_stitch(indices: Any, data: Any, name: str | None = None) -> Tensor:
    """tf.dynamic_stitch (TF1): interleaves the rows of ``data`` into one tensor by the int32
    ``indices``: ``merged[indices[m][i, ...]] = data[m][i, ...]``, a later (m, i) winning
    where indices repeat. The length is max(index) + 1, known once the op has run (TF1
    computes it when the graph is built for constant indices); rows no index names are zero."""
    idx = [convert_to_tensor(i, dtype=_dt.int32) for i in indices]
    dat = [convert_to_tensor(d) for d in data]
    if len(idx) != len(dat) or not idx:
        raise ValueError(
            f"dynamic_stitch needs as many data tensors as index tensors, got {len(idx)} and {len(dat)}"
        )
    return make("DynamicStitch", [*idx, *dat], {"N": len(idx)}, name=name or "DynamicStitch")


parallel_dynamic_stitch = dynamic_stitch  # TF1's ParallelDynamicStitch: the same result


# =============================================================================================
# TopKDynamic: top_k with k given as a tensor
def _top_k_dyn_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s, ks = ctx.shapes
    if ks is not None and len(ks) != 0:
        raise reg.ShapeError(f"k must be a scalar, got shape {reg.format_shape(ks)}")
    if s is None:
        return [None, None]
    if not s:
        raise reg.ShapeError("top_k needs an input of rank >= 1, got a scalar")
    v = ctx.value(1)
    k: Dim | None = None if v is None else v.reshape(()).item()
    if isinstance(k, int):
        if k < 0:
            raise reg.ShapeError(f"k must be non-negative, got {k}")
        if isinstance(s[-1], int) and s[-1] < k:
            raise reg.ShapeError(f"input must have at least k={k} columns, got shape {reg.format_shape(s)}")
    # A fed k is its K symbol (bound and checked non-negative at entry); a k computed from
    # data is defined by this node.
    dim = k if k is not None else ctx.fresh()
    out = (*s[:-1], dim)
    return [out, out]


def _top_k_dyn_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, NUMERIC, [0])
    check_dtypes(ctx, (_dt.int32,), [1])
    return [ctx.dtypes[0], _dt.int32]


def _top_k_dyn_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, k = ins[0], int(np.asarray(ins[1]).reshape(()))
    if k < 0:
        raise ValueError(f"Need k >= 0, got {k}")
    if x.shape[-1] < k:
        raise ValueError(f"input must have at least k columns. Had {x.shape[-1]}, needed {k}")
    return topk_ops._top_k_ref([x], {"k": k, "sorted": attrs["sorted"]})


def _top_k_dyn_grad(op: Operation, g_values: Tensor | None, g_indices: Tensor | None) -> list[Any]:
    if g_values is None:
        return [None, None]
    x = op.inputs[0]
    return [make("TopKDynamicGrad", [_shape_arg(x), op.outputs[1], g_values]), None]


def _top_k_dyn_samples(rng: np.random.Generator) -> list[reg.Sample]:
    k = lambda v: np.array(v, np.int32)  # noqa: E731
    return [
        reg.Sample([rand(rng, (6,)), k(2)], {"sorted": True}),
        reg.Sample([rand(rng, (3, 6)), k(3)], {"sorted": True}),
        reg.Sample([rand(rng, (2, 3, 4)), k(4)], {"sorted": True}),
        reg.Sample([rand(rng, (4,)), k(0)], {"sorted": True}),
        reg.Sample(
            [np.array([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2]], np.int32), k(3)], {"sorted": True}, grad=False
        ),
    ]


reg.register(
    reg.OpDef(
        name="TopKDynamic",
        attrs={"sorted": reg.BOOL},
        shape=_top_k_dyn_shape,
        dtype=_top_k_dyn_dtype,
        reference=_top_k_dyn_ref,
        grad=_top_k_dyn_grad,
        num_outputs=2,
        samples=_top_k_dyn_samples,
        doc="TopKV2 with k as an int32 scalar input (fed or computed): (values, int32 indices) of "
        "the k largest entries along the last axis, largest first, ties by lower index.",
    )
)


def _top_k_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    out = value_shape(ctx, 0, "shape")
    i, g = ctx.shapes[1], ctx.shapes[2]
    if i is not None and g is not None:
        if len(i) != len(g):
            raise reg.ShapeError(f"indices {reg.format_shape(i)} and gradient {reg.format_shape(g)} differ")
        for a, b in zip(i, g, strict=True):
            ctx.equal(a, b)
    if out is not None and i is not None:
        if len(out) != len(i):
            raise reg.ShapeError(f"indices of rank {len(i)} for an input of rank {len(out)}")
        for a, b in zip(out[:-1], i[:-1]):
            ctx.equal(a, b)
    return [out]


def _top_k_grad_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, _INDEX, [0, 1])
    return [ctx.dtypes[2]]


def _top_k_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    shape, idx, g = ins
    out = np.zeros(tuple(int(d) for d in shape), dtype=g.dtype)
    n = out.shape[-1]
    if np.any((idx < 0) | (idx >= n)):
        raise ValueError(f"top_k indices must be in [0, {n})")
    # The indices of one row are distinct (top_k never picks an entry twice): put suffices.
    np.put_along_axis(out, idx.astype(np.intp), g, axis=-1)
    return [out]


reg.register(
    reg.OpDef(
        name="TopKDynamicGrad",
        attrs={},
        shape=_top_k_grad_shape,
        dtype=_top_k_grad_dtype,
        reference=_top_k_grad_ref,
        grad=reg.GradientNotImplemented("the second derivative of top_k with a run-time k"),
        samples=lambda rng: [
            reg.Sample([np.array([2, 4], np.int32), np.array([[3, 1], [0, 2]], np.int32), rand(rng, (2, 2))]),
            reg.Sample([np.array([3], np.int32), np.zeros(0, np.int32), rand(rng, (0,))]),
        ],
        doc="Zeros of shape input 0 with g (input 2) put at the last-axis positions of input 1 "
        "(distinct per row): the gradient of TopKDynamic.",
    )
)


def top_k(input: Any, k: Any = 1, sorted: bool = True, name: str | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """tf.nn.top_k (TF1): (values, indices) of the k largest entries of each last-axis row,
    ties giving the lower index first. A ``k`` known when the graph is built makes a TopKV2
    with a static size; a run-time ``k`` (an int32 scalar tensor, fed or computed) makes a
    TopKDynamic whose size is ``k``'s value. With sorted=False the results are still sorted."""
    if not is_tensorish(k) or _has_static_value(convert_to_tensor(k)):
        return topk_ops.top_k(input, k, sorted=sorted, name=name)
    x = convert_to_tensor(input)
    if x.shape.ndims == 0:
        raise ValueError(f"top_k needs a tensor of rank >= 1, got the scalar {x.name}")
    kt = convert_to_tensor(k)
    if kt.dtype != _dt.int32:
        raise TypeError(f"k of top_k must be int32, got {kt.dtype.name}")
    op = make_op("TopKDynamic", [x, kt], {"sorted": bool(sorted)}, name=name or "TopKV2")
    return op.outputs[0], op.outputs[1]


# =============================================================================================
# SliceDynamic / SliceDynamicGrad: tf.slice with begin and size given as tensors
def _vector_values(ctx: reg.InferenceContext, i: int, rank: int, what: str) -> list[Any]:
    s = ctx.shapes[i]
    if s is not None and (len(s) != 1 or (isinstance(s[0], int) and s[0] != rank)):
        raise reg.ShapeError(f"{what} must be a vector of length {rank}, got shape {reg.format_shape(s)}")
    v = ctx.value(i)
    return [None] * rank if v is None else list(v.reshape(-1))


def _slice_dyn_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x = ctx.shapes[0]
    if x is None:
        return [None]
    begin = _vector_values(ctx, 1, len(x), "begin")
    size = _vector_values(ctx, 2, len(x), "size")
    out: list[Dim] = []
    for d, b, s in zip(x, begin, size, strict=True):
        b, s = _known_int(b), _known_int(s)
        if s is not None and s >= 0:
            out.append(s)
        elif s == -1 and b is not None:
            out.append(d - b if b else d)  # type: ignore[operator]
        else:
            out.append(ctx.fresh())  # -1 (to the end) or a size: known once the op has run
    return [tuple(out)]


def _slice_dyn_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, _INDEX, [1, 2])
    return [ctx.dtypes[0]]


def _slice_bounds(shape: tuple[int, ...], begin: np.ndarray, size: np.ndarray) -> tuple[builtins.slice, ...]:
    b = [int(v) for v in np.asarray(begin).reshape(-1)]
    s = [int(v) for v in np.asarray(size).reshape(-1)]
    if len(b) != len(shape) or len(s) != len(shape):
        raise ValueError(
            f"Expected begin and size arguments to be length {len(shape)}, got {len(b)} and {len(s)}"
        )
    out = []
    for i, (d, bi, si) in enumerate(zip(shape, b, s, strict=True)):
        end = d if si == -1 else bi + si
        if not (0 <= bi <= d and si >= -1 and bi <= end <= d):
            raise ValueError(
                f"Expected size[{i}] in [0, {d - bi}], but got {si}"
                if 0 <= bi <= d
                else f"Expected begin[{i}] in [0, {d}], but got {bi}"
            )
        out.append(_pyslice(bi, end))
    return tuple(out)


def _slice_dyn_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, begin, size = ins
    return [np.array(x[_slice_bounds(x.shape, begin, size)], copy=True)]


def _slice_dyn_grad(op: Operation, g: Tensor) -> list[Any]:
    x, begin, _ = op.inputs
    return [make("SliceDynamicGrad", [_shape_arg(x), begin, g]), None, None]


reg.register(
    reg.OpDef(
        name="SliceDynamic",
        attrs={},
        shape=_slice_dyn_shape,
        dtype=_slice_dyn_dtype,
        reference=_slice_dyn_ref,
        grad=_slice_dyn_grad,
        samples=lambda rng: [
            reg.Sample(
                [rand(rng, (4, 5)), np.array([1, 2], np.int32), np.array([2, -1], np.int32)], wrt=(0,)
            ),
            reg.Sample([rand(rng, (6,)), np.array([3], np.int64), np.array([0], np.int64)], wrt=(0,)),
            reg.Sample(
                [rand(rng, (2, 3, 4)), np.array([0, 1, 1], np.int32), np.array([-1, 2, 3], np.int32)],
                wrt=(0,),
            ),
        ],
        doc="tf.slice with begin and size as int tensors: x[begin : begin + size] per dim (size -1: "
        "to the end); a size known only at run time is defined by this node.",
    )
)


def _slice_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    out = value_shape(ctx, 0, "shape")
    g = ctx.shapes[2]
    if out is not None and g is not None and len(out) != len(g):
        raise reg.ShapeError(f"gradient of rank {len(g)} for an input of rank {len(out)}")
    return [out]


def _slice_grad_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, _INDEX, [0, 1])
    return [ctx.dtypes[2]]


def _slice_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    shape, begin, g = ins
    out = np.zeros(tuple(int(d) for d in shape), dtype=g.dtype)
    out[_slice_bounds(out.shape, begin, np.array(g.shape))] = g
    return [out]


def _slice_grad_grad(op: Operation, g: Tensor) -> list[Any]:
    _, begin, dy = op.inputs
    return [None, None, make("SliceDynamic", [g, begin, _shape(dy, out_type=begin.dtype)])]


reg.register(
    reg.OpDef(
        name="SliceDynamicGrad",
        attrs={},
        shape=_slice_grad_shape,
        dtype=_slice_grad_dtype,
        reference=_slice_grad_ref,
        grad=_slice_grad_grad,
        samples=lambda rng: [
            reg.Sample([np.array([4, 5], np.int32), np.array([1, 2], np.int32), rand(rng, (2, 3))], wrt=(2,)),
            reg.Sample([np.array([3], np.int32), np.array([3], np.int32), rand(rng, (0,))], wrt=(2,)),
        ],
        doc="Zeros of shape input 0 with dy (input 2) written at begin (input 1): the gradient of SliceDynamic.",
    )
)


def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:  # noqa: A001  (TF's name)
    """tf.slice (TF1): ``input_[begin : begin + size]`` per dim, size -1 meaning to the end.
    Bounds known when the graph is built make a Slice; run-time bounds (int tensors, or
    lists holding scalar tensors) make a SliceDynamic, whose sizes not known before the run
    are defined by the op. Out-of-range bounds are an InvalidArgumentError when it runs."""
    dynamic = [_is_dynamic(v) for v in (begin, size)]
    if not any(dynamic):
        return slicing_ops.slice(input_, begin, size, name=name)
    x = convert_to_tensor(input_)
    b = _index_vector(begin)
    s = _index_vector(size, like=b.dtype)
    if b.dtype != s.dtype:
        b = cast(b, s.dtype)
    return make("SliceDynamic", [x, b, s], name=name or "Slice")


def _is_dynamic(v: Any) -> bool:
    if isinstance(v, list | tuple):
        return any(_is_dynamic(e) for e in v)
    return is_tensorish(v) and not _has_static_value(convert_to_tensor(v))


def _index_vector(v: Any, like: _dt.DType | None = None) -> Tensor:
    if isinstance(v, list | tuple):
        parts = [convert_to_tensor(e) if is_tensorish(e) else e for e in v]
        dt = next((p.dtype for p in parts if isinstance(p, Tensor)), like or _dt.int32)
        return stack([p if isinstance(p, Tensor) else convert_to_tensor(int(p), dtype=dt) for p in parts])
    t = convert_to_tensor(v) if is_tensorish(v) else convert_to_tensor(np.asarray(v), dtype=like or _dt.int32)
    if t.dtype not in INTS:
        raise TypeError(f"slice bounds must be integers, got {t.dtype.name}")
    return t


# =============================================================================================
# x[a:b] with tensor bounds: the static part of the index as a StridedSlice, then a
# SliceDynamic over the axes whose bounds are tensors (Python's clamping rules).
def _is_dynamic_bound(v: Any) -> bool:
    return v is not None and is_tensorish(v) and not _has_static_value(convert_to_tensor(v))


def _getitem(self: Tensor, key: Any) -> Tensor:
    items = key if isinstance(key, tuple) else (key,)
    if not any(
        isinstance(k, _pyslice) and (_is_dynamic_bound(k.start) or _is_dynamic_bound(k.stop)) for k in items
    ):
        return _static_getitem(self, key)
    static_items: list[Any] = []
    dyn: list[tuple[int, Any, Any]] = []  # (result axis, start, stop)
    rank = self.shape.ndims
    n_axes = sum(1 for k in items if k is not None and k is not Ellipsis)
    n_ints = 0
    out_axis = 0
    for k in items:
        if k is Ellipsis:
            if rank is None:
                raise ValueError("an index with '...' and tensor bounds needs a tensor of known rank")
            out_axis += rank - n_axes
            static_items.append(k)
        elif k is None:
            out_axis += 1
            static_items.append(k)
        elif isinstance(k, _pyslice):
            if _is_dynamic_bound(k.start) or _is_dynamic_bound(k.stop):
                if k.step not in (None, 1):
                    raise TypeError("a slice with tensor bounds must have step 1 (or none)")
                dyn.append((out_axis, k.start, k.stop))
                static_items.append(_pyslice(None))
            else:
                static_items.append(k)
            out_axis += 1
        else:
            n_ints += 1
            static_items.append(k)
    y = _static_getitem(self, tuple(static_items))
    r = y.shape.ndims
    assert r is not None  # a StridedSlice of a known-rank tensor (the slice items fix its rank)
    shape = _shape(y)
    begins: list[Any] = [0] * r
    sizes: list[Any] = [-1] * r
    for ax, start, stop in dyn:
        d = shape[ax]
        lo = _clamp_bound(start, d, 0)
        hi = _clamp_bound(stop, d, d)
        begins[ax] = lo
        sizes[ax] = maximum(subtract(hi, lo), 0)
    return make("SliceDynamic", [y, stack([_int32(b) for b in begins]), stack([_int32(s) for s in sizes])])


def _int32(v: Any) -> Tensor:
    if isinstance(v, Tensor):
        return v if v.dtype == _dt.int32 else cast(v, _dt.int32)
    return convert_to_tensor(int(v), dtype=_dt.int32)


def _clamp_bound(v: Any, d: Tensor, default: Any) -> Any:
    """A slice bound as Python reads it for a dim of size d: negative counts from the end,
    then clamped to [0, d]."""
    if v is None:
        return default
    b = _int32(convert_to_tensor(v) if is_tensorish(v) else int(v))
    b = math_ops.where(less(b, 0), add(b, d), b)
    return minimum(maximum(b, 0), d)


_static_getitem = slicing_ops._getitem
Tensor.__getitem__ = _getitem  # type: ignore[assignment]
