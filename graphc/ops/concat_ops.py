"""Joining and splitting along an axis: ConcatV2, Pack, Unpack, Split, SplitV, and their TF1
API (concat, stack, unstack, split). Shape arguments given as lists of ints and tensors
become tensors here (they are a Pack)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor
from graphc.frontend.tensor_shape import Dimension, TensorShape
from graphc.ops import build, core_ops
from graphc.ops.array_common import (
    _INDEX_DTYPES,
    _LAYOUT,
    _copy,
    _fmt,
    _has_static_value,
    _index_dtype,
    _pyrange,
    _small,
    _static_int,
    _static_ints,
)
from graphc.ops.common import (
    as_int_list,
    check_same_dtypes,
    convert_to_tensor,
    is_tensorish,
    make,
    make_op,
    normalize_axis,
    rand,
    static_value,
)
from graphc.ops.core_ops import identity
from graphc.ops.slicing_ops import _dim_arg
from graphc.symbolic import Dim


# =============================================================================================
# Helpers: shape arguments as tensors (built with Pack), and conversions for joining.
def _shape_tensor(dims: Any, what: str = "shape") -> Tensor:
    """A shape argument (list of ints/tensors/Dimensions, TensorShape, or an int tensor) as a tensor."""
    if isinstance(dims, Tensor):
        if dims.dtype not in _INDEX_DTYPES:
            raise TypeError(f"{what} must be an int32 or int64 tensor, got {dims.dtype.name}")
        return dims
    if isinstance(dims, TensorShape):
        if not dims.is_fully_defined():
            raise ValueError(f"{what} {dims} is not fully defined")
        dims = dims.as_list()
    if isinstance(dims, np.ndarray) and dims.dtype.kind in "iu":
        return core_ops.constant(dims.astype(np.int64 if dims.dtype == np.int64 else np.int32))
    if isinstance(dims, list | tuple):
        items = [_dim_item(d, what) for d in dims]
        if not items:
            return core_ops.constant(np.zeros(0, dtype=np.int32))
        tensors = [t for t in items if isinstance(t, Tensor)]
        if not tensors:
            # int64 where a dim does not fit int32, as TF1 converts shapes.
            big = any(not -(2**31) <= d < 2**31 for d in items)
            return core_ops.constant(np.array(items, dtype=np.int64 if big else np.int32))
        dt = tensors[0].dtype
        return stack(
            [t if isinstance(t, Tensor) else core_ops.constant(t, dtype=dt) for t in items], name="shape"
        )
    return core_ops.constant(np.array(_static_ints(dims, what), dtype=np.int32))


def _dim_item(d: Any, what: str) -> Any:
    if isinstance(d, Dimension):
        if d.value is None:
            raise ValueError(f"{what} contains an unknown Dimension; pass a tensor such as tf.shape(x)[i]")
        return d.value
    if is_tensorish(d):
        t = convert_to_tensor(d)
        if t.dtype not in _INDEX_DTYPES:
            raise TypeError(f"{what} entries must be int32 or int64 tensors, got {t.dtype.name}")
        return t
    if isinstance(d, bool) or not isinstance(d, int | np.integer):
        raise TypeError(f"{what} entries must be ints or int tensors, got {d!r}")
    return int(d)


def _convert_n(values: Sequence[Any], what: str) -> list[Tensor]:
    """Convert op inputs together: Python values take the dtype of the first tensor."""
    if not isinstance(values, list | tuple):
        raise TypeError(f"{what} expects a list of tensors, got {type(values).__name__}")
    tensors = [convert_to_tensor(v) if is_tensorish(v) else v for v in values]
    dtype = next((t.dtype for t in tensors if isinstance(t, Tensor)), None)
    return [t if isinstance(t, Tensor) else convert_to_tensor(t, preferred_dtype=dtype) for t in tensors]


def _same_dtypes(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_same_dtypes(ctx)
    return [ctx.dtypes[0]]


def _grads_or_zeros(op: Operation, grads: Sequence[Tensor | None]) -> list[Tensor]:
    """Output gradients with None (an unused output) replaced by zeros."""
    return [build.zeros_like(op.outputs[i]) if g is None else g for i, g in enumerate(grads)]


def _value_or_fresh(ctx: reg.InferenceContext, i: int) -> np.ndarray | None:
    """Input i's partial value; unknown entries of a small static-shaped input become fresh dims."""
    v = ctx.value(i)
    if v is not None:
        return v
    s = ctx.shapes[i]
    if s is None or not _small(s) or not ctx.dtypes[i].is_integer:
        return None
    out = np.empty(tuple(s), dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = ctx.fresh()
    return out


# =============================================================================================
# ConcatV2 / Pack / Unpack
def _common_rank(ctx: reg.InferenceContext, what: str) -> int | None:
    known = [(i, s) for i, s in enumerate(ctx.shapes) if s is not None]
    if not known:
        return None
    i0, s0 = known[0]
    for i, s in known[1:]:
        if len(s) != len(s0):
            raise reg.ShapeError(
                f"{what} inputs must have the same rank: input {i0} has shape {_fmt(s0)} and input {i} {_fmt(s)}"
            )
    return len(s0)


def _unify(ctx: reg.InferenceContext, ndim: int, skip: int | None, what: str) -> list[Dim]:
    """Dims shared by all inputs (all but ``skip``), unified across the known shapes."""
    out: list[Dim | None] = [None] * ndim
    for s in ctx.shapes:
        if s is None:
            continue
        for i, d in enumerate(s):
            if i == skip:
                continue
            out[i] = d if out[i] is None else ctx.equal(out[i], d, what)  # type: ignore[arg-type]
    return [ctx.fresh() if d is None else d for d in out]


def _concat_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    ndim = _common_rank(ctx, "concat")
    if ndim is None:
        return [None]
    if ndim == 0:
        raise reg.ShapeError("can't concatenate scalars (use tf.stack instead)")
    ax = normalize_axis(ctx.attrs["axis"], ndim)
    out = _unify(ctx, ndim, ax, "dimensions of concat inputs (other than the concat axis)")
    total: Dim = 0
    for s in ctx.shapes:
        total = total + (ctx.fresh() if s is None else s[ax])  # type: ignore[operator]
    out[ax] = total
    return [tuple(out)]


def _concat_value(ctx: reg.InferenceContext) -> list[Any] | None:
    if all(ctx.value(i) is None for i in _pyrange(len(ctx.shapes))):
        return None
    parts = [_value_or_fresh(ctx, i) for i in _pyrange(len(ctx.shapes))]
    if any(p is None or p.ndim == 0 for p in parts):
        return None
    try:
        return [np.concatenate(parts, axis=ctx.attrs["axis"])]
    except ValueError:
        return None


def _concat_grad(op: Operation, g: Tensor) -> list[Any]:
    xs = op.inputs
    ndim = next((x.shape.ndims for x in xs if x.shape.ndims is not None), None)
    ax = op.attrs["axis"] if ndim is None else normalize_axis(op.attrs["axis"], ndim)
    sizes = [None if x.shape.ndims is None else x.shape.as_list()[ax] for x in xs]
    unknown = sum(d is None for d in sizes)
    if unknown <= 1:
        attr = tuple(-1 if d is None else d for d in sizes)
        return list(make_op("Split", [g], {"axis": ax, "sizes": attr}).outputs)
    size_splits = stack([_dim_arg(x, ax) for x in xs])
    return list(make_op("SplitV", [g, size_splits], {"axis": ax, "num": len(xs)}).outputs)


reg.register(
    reg.OpDef(
        name="ConcatV2",
        attrs={"axis": reg.AXIS},
        shape=_concat_shape,
        dtype=_same_dtypes,
        reference=lambda ins, attrs: [np.concatenate(ins, axis=attrs["axis"])],
        grad=_concat_grad,
        traits=_LAYOUT,
        value=_concat_value,
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 3)), rand(rng, (2, 5))], {"axis": 1}),
            reg.Sample([rand(rng, (2, 3)), rand(rng, (4, 3)), rand(rng, (1, 3))], {"axis": 0}),
            reg.Sample([rand(rng, (2, 2, 3)), rand(rng, (2, 2, 1))], {"axis": -1}),
            reg.Sample([rand(rng, (3,))], {"axis": 0}),
        ],
        doc="Concatenate the inputs along attr axis (TF's ConcatV2 takes the axis as a last input).",
    )
)


def concat(values: Any, axis: Any, name: str = "concat") -> Tensor:
    """tf.concat: a single value is returned through identity (TF1); the axis must be static."""
    vals = list(values) if isinstance(values, list | tuple) else [values]
    if not vals:
        raise ValueError("concat needs at least one value")
    ax = _static_int(axis, "the axis of concat")
    if len(vals) == 1:
        return identity(convert_to_tensor(vals[0]), name=name)
    ts = _convert_n(vals, "concat")
    ndim = next((t.shape.ndims for t in ts if t.shape.ndims is not None), None)
    if ndim == 0:
        raise ValueError("Can't concatenate scalars (use tf.stack instead)")
    return make("ConcatV2", ts, {"axis": normalize_axis(ax, ndim)}, name=name)


def _pack_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    ndim = _common_rank(ctx, "stack")
    if ndim is None:
        return [None]
    out = _unify(ctx, ndim, None, "shapes of stacked tensors")
    ax = normalize_axis(ctx.attrs["axis"], ndim + 1, "stack axis")
    out.insert(ax, len(ctx.shapes))
    return [tuple(out)]


def _pack_value(ctx: reg.InferenceContext) -> list[Any] | None:
    if all(ctx.value(i) is None for i in _pyrange(len(ctx.shapes))):
        return None
    parts = [_value_or_fresh(ctx, i) for i in _pyrange(len(ctx.shapes))]
    if any(p is None for p in parts):
        return None
    return [np.stack(parts, axis=ctx.attrs["axis"])]


reg.register(
    reg.OpDef(
        name="Pack",
        attrs={"axis": reg.AXIS},
        shape=_pack_shape,
        dtype=_same_dtypes,
        reference=lambda ins, attrs: [np.stack(ins, axis=attrs["axis"])],
        grad=lambda op, g: unstack(g, num=len(op.inputs), axis=op.attrs["axis"]),
        traits=_LAYOUT,
        value=_pack_value,
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 3)) for _ in _pyrange(3)], {"axis": 0}),
            reg.Sample([rand(rng, (2, 3)) for _ in _pyrange(2)], {"axis": 2}),
            reg.Sample([rand(rng, (2, 3)) for _ in _pyrange(2)], {"axis": -2}),
            reg.Sample([rand(rng, ()) for _ in _pyrange(4)], {"axis": 0}),
            reg.Sample([np.array(3, np.int32), np.array(5, np.int32)], {"axis": 0}, grad=False),
        ],
    )
)


def stack(values: Any, axis: int = 0, name: str = "stack") -> Tensor:
    """tf.stack: Python values among tensors take the first tensor's dtype."""
    if not isinstance(values, list | tuple) or not values:
        raise ValueError("stack needs a non-empty list of values")
    ts = _convert_n(list(values), "stack")
    ndim = next((t.shape.ndims for t in ts if t.shape.ndims is not None), None)
    ax = _static_int(axis, "the axis of stack")
    if ndim is not None:
        ax = normalize_axis(ax, ndim + 1, "stack axis")
    return make("Pack", ts, {"axis": ax}, name=name)


def _unpack_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, num = ctx.shapes[0], ctx.attrs["num"]
    if x is None:
        return [None] * num
    if not x:
        raise reg.ShapeError("can't unstack a scalar")
    ax = normalize_axis(ctx.attrs["axis"], len(x))
    d = x[ax]
    if isinstance(d, int) and d != num:
        raise reg.ShapeError(f"unstack of {num} tensors along axis {ax}, but the dimension is {d}")
    if not isinstance(d, int):
        ctx.equal(d, num, f"unstacked dimension {ax} and num")
    out = tuple(x[:ax]) + tuple(x[ax + 1 :])
    return [out] * num


def _unpack_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    ax = normalize_axis(attrs["axis"], x.ndim)
    if x.shape[ax] != attrs["num"]:
        raise ValueError(f"unstack of {attrs['num']} tensors along axis {ax} of an array of shape {x.shape}")
    return [_copy(np.take(x, i, axis=ax)) for i in _pyrange(attrs["num"])]


def _unpack_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    if v is None or v.ndim == 0:
        return None
    ax = normalize_axis(ctx.attrs["axis"], v.ndim)
    if v.shape[ax] != ctx.attrs["num"]:
        return None
    return [np.asarray(np.take(v, i, axis=ax), dtype=object) for i in _pyrange(ctx.attrs["num"])]


reg.register(
    reg.OpDef(
        name="Unpack",
        attrs={"num": reg.INT, "axis": reg.AXIS},
        shape=_unpack_shape,
        dtype=lambda ctx: [ctx.dtypes[0]] * ctx.attrs["num"],
        reference=_unpack_ref,
        grad=lambda op, *gs: [make("Pack", _grads_or_zeros(op, gs), {"axis": op.attrs["axis"]})],
        traits=_LAYOUT,
        value=_unpack_value,
        num_outputs=None,
        samples=lambda rng: [
            reg.Sample([rand(rng, (3, 2, 4))], {"num": 3, "axis": 0}),
            reg.Sample([rand(rng, (3, 2, 4))], {"num": 4, "axis": -1}),
            reg.Sample([rand(rng, (3, 2))], {"num": 2, "axis": 1}),
        ],
        doc="Split along attr axis into attr num tensors with that axis removed.",
    )
)


def unstack(value: Any, num: int | None = None, axis: int = 0, name: str = "unstack") -> list[Tensor]:
    """tf.unstack: num is inferred from the static shape when not given (ValueError if unknown)."""
    x = convert_to_tensor(value)
    ndim = x.shape.ndims
    ax = _static_int(axis, "the axis of unstack")
    if ndim is not None:
        if ndim == 0:
            raise ValueError(f"Cannot unstack a scalar tensor {x.name}")
        ax = normalize_axis(ax, ndim)
    if num is None:
        d = None if ndim is None else x.shape.as_list()[ax]
        if d is None:
            raise ValueError(f"Cannot infer num from shape {x.shape}")
        num = d
    return list(make_op("Unpack", [x], {"num": int(num), "axis": ax}, name=name).outputs)


# =============================================================================================
# Split (static sizes) / SplitV (sizes as a tensor)
def _split_dims(ctx: reg.InferenceContext, d: Dim, sizes: Sequence[Dim]) -> list[Dim]:
    """Each piece's size; the -1 entries share what the others leave equally (one -1 is
    TF's SplitV; all -1 is TF's Split into equal parts)."""
    for s in sizes:
        if isinstance(s, int) and s < -1:
            raise reg.ShapeError(f"split sizes must be non-negative or -1, got {list(sizes)}")
    holes = [i for i, s in enumerate(sizes) if isinstance(s, int) and s == -1]
    fixed: Dim = sum((s for i, s in enumerate(sizes) if i not in holes), start=0)  # type: ignore[arg-type]
    if not holes:
        if isinstance(d, int) and isinstance(fixed, int) and d != fixed:
            raise reg.ShapeError(f"split sizes {list(sizes)} must add up to the dimension {d}, got {fixed}")
        return list(sizes)
    rest = d - fixed  # type: ignore[operator]
    if isinstance(rest, int):
        if rest < 0 or rest % len(holes):
            what = "the dimension" if len(holes) == len(sizes) else "what the other sizes leave"
            raise reg.ShapeError(
                f"split sizes {list(sizes)}: {what} ({rest}) must be evenly divisible by {len(holes)}"
            )
    each = symbolic.floordiv(rest, len(holes))
    return [each if i in holes else s for i, s in enumerate(sizes)]


def _split_shapes(ctx: reg.InferenceContext, sizes: Sequence[Dim]) -> list[reg.Shape]:
    x = ctx.shapes[0]
    if x is None:
        return [None] * len(sizes)
    if not x:
        raise reg.ShapeError("can't split a scalar")
    ax = normalize_axis(ctx.attrs["axis"], len(x))
    pieces = _split_dims(ctx, x[ax], sizes)
    return [tuple(x[:ax]) + (p,) + tuple(x[ax + 1 :]) for p in pieces]


def _split_np(x: np.ndarray, axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
    ax = normalize_axis(axis, x.ndim)
    holes = [i for i, s in enumerate(sizes) if s == -1]
    if holes:
        rest = x.shape[ax] - sum(s for s in sizes if s != -1)
        if rest < 0 or rest % len(holes):
            raise ValueError(
                f"split sizes {list(sizes)} do not fit dimension {ax} of an array of shape {x.shape}"
            )
        sizes = [rest // len(holes) if s == -1 else s for s in sizes]
    if sum(sizes) != x.shape[ax]:
        raise ValueError(
            f"split sizes {list(sizes)} do not add up to dimension {ax} of an array of shape {x.shape}"
        )
    cuts = np.cumsum(sizes)[:-1]
    return [_copy(p) for p in np.split(x, cuts, axis=ax)]


def _split_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    if v is None or v.ndim == 0:
        return None
    try:
        return _split_np(v, ctx.attrs["axis"], ctx.attrs["sizes"])
    except ValueError:
        return None


def _split_grad(op: Operation, *gs: Tensor | None) -> list[Any]:
    return [make("ConcatV2", _grads_or_zeros(op, gs), {"axis": op.attrs["axis"]})]


reg.register(
    reg.OpDef(
        name="Split",
        attrs={"axis": reg.AXIS, "sizes": reg.tuple_of(reg.INT)},
        shape=lambda ctx: _split_shapes(ctx, ctx.attrs["sizes"]),
        dtype=lambda ctx: [ctx.dtypes[0]] * len(ctx.attrs["sizes"]),
        reference=lambda ins, attrs: _split_np(ins[0], attrs["axis"], attrs["sizes"]),
        grad=_split_grad,
        traits=_LAYOUT,
        value=_split_value,
        num_outputs=None,
        samples=lambda rng: [
            reg.Sample([rand(rng, (6, 4))], {"axis": 0, "sizes": (2, 4)}),
            reg.Sample([rand(rng, (6, 4))], {"axis": 0, "sizes": (1, -1, 2)}),
            reg.Sample([rand(rng, (6, 4))], {"axis": -1, "sizes": (-1, -1)}),
            reg.Sample([rand(rng, (6, 4))], {"axis": 1, "sizes": (0, 4)}),
        ],
        doc="Split along attr axis into pieces of attr sizes; -1 entries share the rest equally.",
    )
)


def _splitv_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[1]
    if s is not None and len(s) != 1:
        raise reg.ShapeError(f"size_splits must be a vector, got shape {_fmt(s)}")
    v = ctx.value(1)
    sizes = [ctx.fresh() for _ in _pyrange(ctx.attrs["num"])] if v is None else list(v.reshape(-1))
    if len(sizes) != ctx.attrs["num"]:
        raise reg.ShapeError(f"size_splits has {len(sizes)} entries, but num is {ctx.attrs['num']}")
    return _split_shapes(ctx, sizes)


def _splitv_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1])
    return [ctx.dtypes[0]] * ctx.attrs["num"]


reg.register(
    reg.OpDef(
        name="SplitV",
        attrs={"axis": reg.AXIS, "num": reg.INT},
        shape=_splitv_shape,
        dtype=_splitv_dtype,
        reference=lambda ins, attrs: _split_np(ins[0], attrs["axis"], [int(s) for s in ins[1]]),
        grad=lambda op, *gs: [*_split_grad(op, *gs), None],
        traits=_LAYOUT,
        num_outputs=None,
        samples=lambda rng: [
            reg.Sample([rand(rng, (6, 4)), np.array([2, 4], np.int32)], {"axis": 0, "num": 2}, wrt=(0,)),
            reg.Sample([rand(rng, (6, 4)), np.array([-1, 1], np.int32)], {"axis": -1, "num": 2}, wrt=(0,)),
        ],
        doc="Split with the sizes as a tensor input (for sizes known only as symbolic dims).",
    )
)


def split(
    value: Any, num_or_size_splits: Any, axis: Any = 0, num: int | None = None, name: str = "split"
) -> list[Tensor]:
    """tf.split: an int splits evenly (ValueError if a static dim does not divide), a list gives
    the sizes (one may be -1); sizes known only when the graph runs need ``num`` or a static length."""
    x = convert_to_tensor(value)
    ndim = x.shape.ndims
    ax = normalize_axis(_static_int(axis, "the axis of split"), ndim)
    if isinstance(num_or_size_splits, list | tuple) and any(is_tensorish(v) for v in num_or_size_splits):
        num_or_size_splits = _shape_tensor(list(num_or_size_splits), "num_or_size_splits")
    if isinstance(num_or_size_splits, Tensor) and not _has_static_value(num_or_size_splits):
        sizes_t = num_or_size_splits
        n = num
        if n is None and sizes_t.shape.ndims == 1:
            n = sizes_t.shape.as_list()[0]
        if n is None:
            raise ValueError(f"Cannot infer num from shape {sizes_t.shape}")
        return list(make_op("SplitV", [x, sizes_t], {"axis": ax, "num": int(n)}, name=name).outputs)
    arr = (
        static_value(num_or_size_splits, "num_or_size_splits")
        if isinstance(num_or_size_splits, Tensor)
        else np.asarray(num_or_size_splits)
    )
    if arr.ndim == 0:
        n = as_int_list(arr, "num_or_size_splits")[0]
        if n <= 0:
            raise ValueError(f"num_or_size_splits must be positive, got {n}")
        d = None if ndim is None else x.shape.as_list()[ax]
        if d is not None:
            if d % n:
                raise ValueError(
                    f"Dimension size must be evenly divisible by {n} but is {d} for split of {x.name}"
                )
            sizes = (d // n,) * n
        else:
            sizes = (-1,) * n
    else:
        sizes = tuple(as_int_list(arr, "num_or_size_splits"))
        if num is not None and num != len(sizes):
            raise ValueError(f"num={num} does not match the {len(sizes)} sizes given")
    return list(make_op("Split", [x], {"axis": ax, "sizes": sizes}, name=name).outputs)
