"""Array ops: layout (Reshape, Transpose, ExpandDims, Squeeze, ConcatV2, Pack, Unpack, Split,
SplitV, Slice, StridedSlice, ReverseV2, Tile, Pad), gathers and scatters (GatherV2,
ScatterAddDense), generators (Fill, ZerosLike, OnesLike, Range, OneHot), the gradient
helpers StridedSliceGrad and MirrorPadGrad, and their TF1 API. Importing this module
installs ``Tensor.__getitem__``.

Axes are attrs: non-negative ints when the input's rank is known when the op is built;
with an unknown rank they keep the user's (possibly negative) ints and the rules
normalise them. Index-like arguments (perm, begin/size, paddings, multiples, slice
bounds) must be known when the graph is built: Python values or constant tensors.

On a symbolic dim (a None batch ``N``), slices give exact expressions: ``x[1:]`` has
``max(N - 1, 0)`` rows, ``x[::2]`` has ``ceildiv(N, 2)``, ``x[:3]`` has ``min(3, N)``.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor
from graphc.frontend.tensor_shape import Dimension, TensorShape
from graphc.ops import core_ops, math_ops
from graphc.ops import registry as reg
from graphc.ops import scalar as S
from graphc.ops.common import (
    NUMERIC,
    as_int_list,
    check_dtypes,
    check_same_dtypes,
    convert_to_tensor,
    make,
    make_op,
    rand,
    static_value,
)
from graphc.ops.core_ops import identity
from graphc.ops.math_ops import _value_shape
from graphc.symbolic import Dim

# TF1 also has these in array_ops (they are defined with their ops elsewhere).
shape = core_ops.shape
size = core_ops.size
rank = core_ops.rank
broadcast_to = math_ops.broadcast_to

# This module defines tf.range and tf.slice, which shadow the builtins inside it.
_pyrange = builtins.range
_pyslice = builtins.slice

newaxis = None
_INDEX_DTYPES = (_dt.int32, _dt.int64)
_LAYOUT = frozenset({"layout"})
_GATHER = frozenset({"gather"})
_MAX_VALUE = 256  # partial values are kept for small int tensors only (as the graph does)

Spec = tuple[tuple[Any, ...], ...]


# =============================================================================================
# Helpers shared by the rules and the API.
def _fmt(s: Sequence[Any] | None) -> str:
    return reg.format_shape(None if s is None else tuple(s))


def _max0(d: Dim) -> Dim:
    """max(d, 0), simplified when d is visibly non-negative (every atom is a dim, so >= 0)."""
    if isinstance(d, int):
        return builtins.max(d, 0)
    if all(c >= 0 for c in d.terms.values()):
        return d
    return symbolic.maximum(d, 0)


def _static_dims(x: Tensor) -> list[int] | None:
    return x.shape.as_list() if x.shape.is_fully_defined() else None  # type: ignore[return-value]


def _shape_arg(x: Tensor) -> Tensor:
    """x's shape as an int32 tensor: a constant when static, else a Shape op."""
    dims = _static_dims(x)
    if dims is not None:
        return core_ops.constant(np.array(dims, dtype=np.int32))
    return core_ops.shape(x)


def _dim_arg(x: Tensor, axis: int) -> Tensor:
    """x's size along ``axis`` as a scalar int32 tensor (a constant when static; ``axis`` may be
    negative when x's rank is unknown)."""
    dims = x.shape.as_tuple()
    if dims is not None and dims[axis] is not None:
        return core_ops.constant(np.int32(dims[axis]))
    return strided_slice_spec(core_ops.shape(x), (("int", axis),))


def _static_int(v: Any, what: str) -> int:
    arr = static_value(v, what) if isinstance(v, Tensor) else np.asarray(v)
    if arr.size != 1:
        raise ValueError(f"{what} must be a single int, got {v!r}")
    return as_int_list(arr, what)[0]


def _static_ints(v: Any, what: str) -> list[int]:
    if isinstance(v, list | tuple) and any(isinstance(e, Tensor) for e in v):
        return [_static_int(e, what) for e in v]
    arr = static_value(v, what) if isinstance(v, Tensor) else np.asarray(v)
    return as_int_list(arr, what) if arr.size else []


def _api_axis(axis: int, ndim: int | None, what: str = "axis") -> int:
    """An axis attr: non-negative when the rank is known (ValueError when out of range)."""
    return axis if ndim is None else reg.normalize_axis(axis, ndim, what)


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
            return core_ops.constant(np.array(items, dtype=np.int32))
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
    if isinstance(d, Tensor) or hasattr(d, "_as_graph_element"):
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
    tensors = [convert_to_tensor(v) if _is_tensorish(v) else v for v in values]
    dtype = next((t.dtype for t in tensors if isinstance(t, Tensor)), None)
    return [t if isinstance(t, Tensor) else convert_to_tensor(t, preferred_dtype=dtype) for t in tensors]


def _is_tensorish(v: Any) -> bool:
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element")


def _index_dtype(ctx: reg.InferenceContext, which: Sequence[int]) -> None:
    check_dtypes(ctx, _INDEX_DTYPES, which)


def _same_dtypes(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_same_dtypes(ctx)
    return [ctx.dtypes[0]]


def _grads_or_zeros(op: Operation, grads: Sequence[Tensor | None]) -> list[Tensor]:
    """Output gradients with None (an unused output) replaced by zeros."""
    return [zeros_like(op.outputs[i]) if g is None else g for i, g in enumerate(grads)]


def _small(shape: Sequence[Any]) -> bool:
    return all(isinstance(d, int) for d in shape) and math.prod(shape) <= _MAX_VALUE


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


def _copy(a: Any, dtype: Any = None) -> np.ndarray:
    """References return fresh arrays, never views of their inputs."""
    return np.array(a, dtype=dtype, copy=True)


# =============================================================================================
# Reshape
def _reshape_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, s = ctx.shapes
    if s is not None and len(s) != 1:
        raise reg.ShapeError(f"shape must be a vector, got a tensor of shape {_fmt(s)}")
    v = ctx.value(1)
    if v is None:
        if s is None or not isinstance(s[0], int):
            return [None]
        return [tuple(ctx.fresh() for _ in _pyrange(s[0]))]
    target: list[Dim] = list(v.reshape(-1))
    for d in target:
        if isinstance(d, int) and d < -1:
            raise reg.ShapeError(f"shape {_fmt(target)} has a negative dimension {d}")
    holes = [i for i, d in enumerate(target) if isinstance(d, int) and d == -1]
    if len(holes) > 1:
        raise reg.ShapeError(f"can only infer one dimension (-1) of shape {_fmt(target)}")
    if x is None:
        return [tuple(ctx.fresh() if i in holes else d for i, d in enumerate(target))]
    total = symbolic.product(x)
    if not holes:
        n = symbolic.product(target)
        if isinstance(total, int) and isinstance(n, int) and total != n:
            raise reg.ShapeError(
                f"cannot reshape a tensor of shape {_fmt(x)} ({total} elements) to shape "
                f"{_fmt(target)} ({n} elements)"
            )
        return [tuple(target)]
    k = holes[0]
    rest = [d for i, d in enumerate(target) if i != k]
    target[k] = _infer_hole(ctx, x, total, symbolic.product(rest), rest, target)
    return [tuple(target)]


def _infer_hole(
    ctx: reg.InferenceContext, x: Sequence[Dim], total: Dim, known: Dim, rest: list[Dim], target: list[Dim]
) -> Dim:
    """The -1 of a reshape: total // known, exact when the symbolic division is."""
    if isinstance(known, int) and known == 0:
        raise reg.ShapeError(
            f"cannot infer the -1 in shape {_fmt(target)}: the other dimensions multiply to 0"
        )
    if isinstance(total, int) and isinstance(known, int):
        if total % known:
            raise reg.ShapeError(
                f"cannot reshape a tensor of shape {_fmt(x)} ({total} elements) to shape {_fmt(target)}: "
                f"{total} is not divisible by {known}"
            )
        return total // known
    q = symbolic.floordiv(total, known)
    if q * known == total or not isinstance(ctx.env, reg.FrontendDims):
        return q
    # When the graph is built each unknown dim is its own symbol, so N*784 // M is opaque.
    # Like TF's shape inference, take one unknown dim on each side to be the same one:
    # reshape(x, [tf.shape(x)[0], -1]) of an (N, 28, 28) x is (N, 784).
    in_sym = [d for d in x if not isinstance(d, int)]
    out_sym = [d for d in rest if not isinstance(d, int)]
    in_static = math.prod(d for d in x if isinstance(d, int))
    out_static = math.prod(d for d in rest if isinstance(d, int))
    if len(in_sym) == 1 and len(out_sym) == 1 and out_static and in_static % out_static == 0:
        return in_static // out_static
    return q


def _reshape_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    if v is None:
        return None
    out = _reshape_shape(ctx)[0]
    if out is None or not all(isinstance(d, int) for d in out):
        return None
    return [v.reshape(out)]


def _reshape_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1])
    return [ctx.dtypes[0]]


def _reshape_samples(rng: np.random.Generator) -> list[reg.Sample]:
    cases = [
        ((2, 3, 4), [4, -1]),
        ((2, 3, 4), [24]),
        ((2, 3, 4), [-1, 2, 3, 2]),
        ((), [1, 1]),
        ((6,), [2, 3]),
    ]
    return [reg.Sample([rand(rng, s), np.array(t, dtype=np.int32)], wrt=(0,)) for s, t in cases]


reg.register(
    reg.OpDef(
        name="Reshape",
        shape=_reshape_shape,
        dtype=_reshape_dtype,
        reference=lambda ins, attrs: [_copy(np.reshape(ins[0], tuple(int(d) for d in ins[1])))],
        grad=lambda op, g: [reshape(g, _shape_arg(op.inputs[0])), None],
        traits=_LAYOUT,
        value=_reshape_value,
        samples=_reshape_samples,
        doc="Reshape x to the shape given by input 1 (one -1 is inferred).",
    )
)


def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    """tf.reshape: ``shape`` is a list (ints, -1 once, scalar int tensors), a TensorShape or an int tensor."""
    x = convert_to_tensor(tensor)
    return make("Reshape", [x, _shape_tensor(shape, "shape")], name=name or "Reshape")


# =============================================================================================
# Transpose
def _perm(perm: tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    if perm is None:
        return tuple(reversed(_pyrange(ndim)))
    if len(perm) != ndim:
        raise reg.ShapeError(f"perm {list(perm)} has {len(perm)} entries for a tensor of rank {ndim}")
    out = tuple(reg.normalize_axis(p, ndim, "perm entry") for p in perm)
    if sorted(out) != list(_pyrange(ndim)):
        raise reg.ShapeError(f"perm {list(perm)} is not a permutation of 0..{ndim - 1}")
    return out


def _transpose_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, perm = ctx.shapes[0], ctx.attrs["perm"]
    if x is None:
        return [None if perm is None else tuple(ctx.fresh() for _ in perm)]
    return [tuple(x[p] for p in _perm(perm, len(x)))]


def _transpose_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    return [_copy(np.transpose(ins[0], _perm(attrs["perm"], ins[0].ndim)))]


def _transpose_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    return None if v is None else [np.transpose(v, _perm(ctx.attrs["perm"], v.ndim))]


def _transpose_grad(op: Operation, g: Tensor) -> list[Any]:
    perm = op.attrs["perm"]
    if perm is None:
        return [make("Transpose", [g], {"perm": None})]
    inverse = tuple(int(i) for i in np.argsort(_perm(perm, len(perm))))
    return [make("Transpose", [g], {"perm": inverse})]


reg.register(
    reg.OpDef(
        name="Transpose",
        shape=_transpose_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=_transpose_ref,
        grad=_transpose_grad,
        traits=_LAYOUT,
        value=_transpose_value,
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 3, 4))], {"perm": (2, 0, 1)}),
            reg.Sample([rand(rng, (2, 3, 4))], {"perm": (1, 0, 2)}),
            reg.Sample([rand(rng, (2, 3, 4))], {"perm": (-1, 0, 1)}),
            reg.Sample([rand(rng, (3, 4))], {"perm": None}),
        ],
        doc="Permute axes; perm None reverses them (for an input of unknown rank).",
    )
)


def transpose(a: Any, perm: Any = None, name: str = "transpose", conjugate: bool = False) -> Tensor:
    """tf.transpose: perm (default reversed) must be known when the graph is built; conjugate
    is accepted and ignored (graphc has no complex dtypes)."""
    x = convert_to_tensor(a)
    ndim = x.shape.ndims
    if perm is None:
        p: tuple[int, ...] | None = None if ndim is None else tuple(reversed(_pyrange(ndim)))
    else:
        p = tuple(_static_ints(perm, "perm"))
        if ndim is not None:
            p = _perm(p, ndim)
    return make("Transpose", [x], {"perm": p}, name=name)


# =============================================================================================
# ExpandDims / Squeeze
def _expand_axis(axis: int, ndim: int) -> int:
    if not -ndim - 1 <= axis <= ndim:
        raise reg.ShapeError(f"axis {axis} is out of range for expand_dims of a tensor of rank {ndim}")
    return axis % (ndim + 1)


def _expand_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x = ctx.shapes[0]
    if x is None:
        return [None]
    a = _expand_axis(ctx.attrs["axis"], len(x))
    return [tuple(x[:a]) + (1,) + tuple(x[a:])]


def _expand_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    return None if v is None else [np.expand_dims(v, _expand_axis(ctx.attrs["axis"], v.ndim))]


reg.register(
    reg.OpDef(
        name="ExpandDims",
        shape=_expand_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [
            _copy(np.expand_dims(ins[0], _expand_axis(attrs["axis"], ins[0].ndim)))
        ],
        grad=lambda op, g: [reshape(g, _shape_arg(op.inputs[0]))],
        traits=_LAYOUT,
        value=_expand_value,
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 3))], {"axis": 0}),
            reg.Sample([rand(rng, (2, 3))], {"axis": 2}),
            reg.Sample([rand(rng, (2, 3))], {"axis": -1}),
            reg.Sample([rand(rng, ())], {"axis": 0}),
        ],
    )
)


def expand_dims(input: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    """tf.expand_dims (TF1, with the deprecated ``dim`` alias); axis in [-rank-1, rank]."""
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'")
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    x = convert_to_tensor(input)
    a = _static_int(axis, "the axis of expand_dims")
    if x.shape.ndims is not None:
        a = _expand_axis(a, x.shape.ndims)
    return make("ExpandDims", [x], {"axis": a}, name=name or "ExpandDims")


def _squeeze_axes(axis: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    out = sorted({reg.normalize_axis(a, ndim, "squeeze axis") for a in axis})
    return tuple(out)


def _squeeze_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, axis = ctx.shapes[0], ctx.attrs["axis"]
    if x is None:
        return [None]
    if not axis:
        # The reference squeezes every dim that is 1 when it runs; with a symbolic dim that
        # is not known here (TF gives an unknown shape too). The API never builds this case
        # for a known rank: it names the static 1s.
        if not all(isinstance(d, int) for d in x):
            return [None]
        return [tuple(d for d in x if d != 1)]
    axes = _squeeze_axes(axis, len(x))
    for a in axes:
        d = x[a]
        if isinstance(d, int) and d != 1:
            raise reg.ShapeError(f"Can not squeeze dim[{a}], expected a dimension of 1, got {d}")
        if not isinstance(d, int):
            ctx.equal(d, 1, f"squeezed dimension {a} and 1")
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def _squeeze_np(v: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    if not axis:
        return np.squeeze(v)
    return np.squeeze(v, axis=_squeeze_axes(axis, v.ndim))


reg.register(
    reg.OpDef(
        name="Squeeze",
        shape=_squeeze_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [_copy(_squeeze_np(ins[0], attrs["axis"]))],
        grad=lambda op, g: [reshape(g, _shape_arg(op.inputs[0]))],
        traits=_LAYOUT,
        value=lambda ctx: None if ctx.value(0) is None else [_squeeze_np(ctx.value(0), ctx.attrs["axis"])],
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 1, 3, 1))], {"axis": (1,)}),
            reg.Sample([rand(rng, (2, 1, 3, 1))], {"axis": (1, 3)}),
            reg.Sample([rand(rng, (2, 1, 3, 1))], {"axis": (-1,)}),
            reg.Sample([rand(rng, (2, 1, 3, 1))], {"axis": ()}),
            reg.Sample([rand(rng, (1, 1))], {"axis": ()}),
        ],
        doc="Remove size-1 axes; axis () removes every size-1 dim (decided when it runs).",
    )
)


def squeeze(input: Any, axis: Any = None, name: str | None = None, squeeze_dims: Any = None) -> Tensor:
    """tf.squeeze (TF1, with the deprecated ``squeeze_dims`` alias). Without an axis only the
    dims known to be 1 when the graph is built are removed (a None batch dim is kept even if
    it is 1 when the graph runs, so the static shape stays exact); TF1 gives an unknown shape
    there instead. With an unknown rank every size-1 dim is removed when the graph runs."""
    if axis is not None and squeeze_dims is not None:
        raise ValueError("Cannot specify both 'axis' and 'squeeze_dims'")
    axis = squeeze_dims if axis is None else axis
    x = convert_to_tensor(input)
    ndim = x.shape.ndims
    axes = [] if axis is None else _static_ints(axis, "squeeze axis")
    if axes:
        attr = tuple(axes) if ndim is None else _squeeze_axes(tuple(axes), ndim)
    elif ndim is None:
        attr = ()
    else:
        attr = tuple(i for i, d in enumerate(x.shape.as_list()) if d == 1)
        if not attr:
            return identity(x, name=name or "Squeeze")
    return make("Squeeze", [x], {"axis": attr}, name=name or "Squeeze")


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
    ax = reg.normalize_axis(ctx.attrs["axis"], ndim)
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
    ax = op.attrs["axis"] if ndim is None else reg.normalize_axis(op.attrs["axis"], ndim)
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
    return make("ConcatV2", ts, {"axis": _api_axis(ax, ndim)}, name=name)


def _pack_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    ndim = _common_rank(ctx, "stack")
    if ndim is None:
        return [None]
    out = _unify(ctx, ndim, None, "shapes of stacked tensors")
    ax = reg.normalize_axis(ctx.attrs["axis"], ndim + 1, "stack axis")
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
        ax = reg.normalize_axis(ax, ndim + 1, "stack axis")
    return make("Pack", ts, {"axis": ax}, name=name)


def _unpack_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, num = ctx.shapes[0], ctx.attrs["num"]
    if x is None:
        return [None] * num
    if not x:
        raise reg.ShapeError("can't unstack a scalar")
    ax = reg.normalize_axis(ctx.attrs["axis"], len(x))
    d = x[ax]
    if isinstance(d, int) and d != num:
        raise reg.ShapeError(f"unstack of {num} tensors along axis {ax}, but the dimension is {d}")
    if not isinstance(d, int):
        ctx.equal(d, num, f"unstacked dimension {ax} and num")
    out = tuple(x[:ax]) + tuple(x[ax + 1 :])
    return [out] * num


def _unpack_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    ax = reg.normalize_axis(attrs["axis"], x.ndim)
    if x.shape[ax] != attrs["num"]:
        raise ValueError(f"unstack of {attrs['num']} tensors along axis {ax} of an array of shape {x.shape}")
    return [_copy(np.take(x, i, axis=ax)) for i in _pyrange(attrs["num"])]


def _unpack_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    if v is None or v.ndim == 0:
        return None
    ax = reg.normalize_axis(ctx.attrs["axis"], v.ndim)
    if v.shape[ax] != ctx.attrs["num"]:
        return None
    return [np.asarray(np.take(v, i, axis=ax), dtype=object) for i in _pyrange(ctx.attrs["num"])]


reg.register(
    reg.OpDef(
        name="Unpack",
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
        ax = reg.normalize_axis(ax, ndim)
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
    ax = reg.normalize_axis(ctx.attrs["axis"], len(x))
    pieces = _split_dims(ctx, x[ax], sizes)
    return [tuple(x[:ax]) + (p,) + tuple(x[ax + 1 :]) for p in pieces]


def _split_np(x: np.ndarray, axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
    ax = reg.normalize_axis(axis, x.ndim)
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
    ax = _api_axis(_static_int(axis, "the axis of split"), ndim)
    if isinstance(num_or_size_splits, list | tuple) and any(_is_tensorish(v) for v in num_or_size_splits):
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


def _has_static_value(t: Tensor) -> bool:
    return t._value is not None and all(v is not None for v in t._value.flat)


# =============================================================================================
# StridedSlice (a NumPy basic index, held as a spec) and its gradient StridedSliceGrad
def _check_spec(spec: Spec) -> None:
    if not isinstance(spec, tuple):
        raise reg.ShapeError(f"spec must be a tuple of index items, got {spec!r}")
    ellipses = 0
    for item in spec:
        kind = item[0] if isinstance(item, tuple) and item else None
        if kind == "int" and len(item) == 2 and isinstance(item[1], int):
            continue
        if kind == "slice" and len(item) == 4 and all(v is None or isinstance(v, int) for v in item[1:]):
            if item[3] == 0:
                raise reg.ShapeError("slice step cannot be zero")
            continue
        if kind == "newaxis" and len(item) == 1:
            continue
        if kind == "ellipsis" and len(item) == 1:
            ellipses += 1
            continue
        raise reg.ShapeError(f"bad index item {item!r} in spec {spec!r}")
    if ellipses > 1:
        raise reg.ShapeError("an index can only have a single ellipsis ('...')")


def _expand_spec(spec: Spec, ndim: int) -> list[tuple[Any, ...]]:
    """The spec with its ellipsis (or the implicit trailing one) written out as full slices."""
    consumed = sum(1 for it in spec if it[0] in ("int", "slice"))
    if consumed > ndim:
        raise reg.ShapeError(f"too many indices ({consumed}) for a tensor of rank {ndim}")
    full = [("slice", None, None, None)] * (ndim - consumed)
    items = list(spec)
    for i, it in enumerate(items):
        if it[0] == "ellipsis":
            return items[:i] + full + items[i + 1 :]
    return items + full


def _slice_len(d: Dim, start: int | None, stop: int | None, step: int | None) -> Dim:
    """len(range(d)[start:stop:step]), for an int or symbolic d."""
    step = 1 if step is None else step
    if isinstance(d, int):
        return len(_pyrange(d)[_pyslice(start, stop, step)])
    if step == 1:
        return _unit_slice_len(d, start, stop)
    if step > 0:
        lo = 0 if not start else symbolic.minimum(start, d) if start > 0 else _max0(d + start)
        hi = (
            d
            if stop is None
            else 0
            if stop == 0
            else symbolic.minimum(stop, d)
            if stop > 0
            else _max0(d + stop)
        )
        return symbolic.ceildiv(_max0(hi - lo), step)  # type: ignore[operator]
    # A negative step walks down from start to just above stop; shifted up by one, both
    # bounds lie in [0, d] like the positive case.
    hi = d if start is None else symbolic.minimum(start + 1, d) if start >= 0 else _max0(d + start + 1)
    lo = 0 if stop is None else symbolic.minimum(stop + 1, d) if stop >= 0 else _max0(d + stop + 1)
    return symbolic.ceildiv(_max0(hi - lo), -step)  # type: ignore[operator]


def _unit_slice_len(d: Dim, start: int | None, stop: int | None) -> Dim:
    """Step-1 slices in canonical forms, so that x[1:] and x[:-1] get the same size."""
    # Each bound as (from the beginning?, offset).
    b_begin, b = (True, 0) if start is None else (True, start) if start >= 0 else (False, -start)
    e_begin, e = (False, 0) if stop is None else (True, stop) if stop >= 0 else (False, -stop)
    if b_begin and not e_begin:
        return _max0(d - (b + e))  # type: ignore[operator]
    if b_begin and e_begin:
        return 0 if e <= b else _max0(symbolic.minimum(e, d) - b)  # type: ignore[operator]
    if not b_begin and not e_begin:
        return 0 if b <= e else _max0(symbolic.minimum(b, d) - e)  # type: ignore[operator]
    return _max0(symbolic.minimum(e, d) - _max0(d - b))  # type: ignore[operator]


def _strided_shape(x: reg.Shape, spec: Spec) -> reg.Shape:
    _check_spec(spec)
    if x is None:
        return None
    out: list[Dim] = []
    axis = 0
    for it in _expand_spec(spec, len(x)):
        if it[0] == "newaxis":
            out.append(1)
            continue
        d = x[axis]
        if it[0] == "int":
            i = it[1]
            if isinstance(d, int) and not -d <= i < d:
                raise reg.ShapeError(f"slice index {i} of dimension {axis} out of bounds (size {d})")
        else:
            out.append(_slice_len(d, it[1], it[2], it[3]))
        axis += 1
    return tuple(out)


def _index_of(spec: Spec) -> tuple[Any, ...]:
    out: list[Any] = []
    for it in spec:
        if it[0] == "int":
            out.append(it[1])
        elif it[0] == "slice":
            out.append(_pyslice(it[1], it[2], it[3]))
        elif it[0] == "newaxis":
            out.append(None)
        else:
            out.append(Ellipsis)
    return tuple(out)


def _strided_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    if v is None:
        return None
    return [np.asarray(v[_index_of(ctx.attrs["spec"])], dtype=object)]


def _strided_grad(op: Operation, g: Tensor) -> list[Any]:
    return [make("StridedSliceGrad", [g, _shape_arg(op.inputs[0])], {"spec": op.attrs["spec"]})]


_SPECS: list[tuple[tuple[int, ...], Spec]] = [
    ((4, 5), (("int", 1),)),
    ((4, 5), (("slice", 1, 3, None),)),
    ((4, 5), (("slice", None, None, -1),)),
    ((4, 5), (("ellipsis",), ("int", -1))),
    ((4, 5), (("newaxis",), ("slice", None, None, None), ("slice", 3, 0, -2))),
    ((4, 5), (("int", -1), ("slice", None, None, 2))),
    ((2, 3, 4), (("slice", 1, -1, None), ("ellipsis",), ("newaxis",))),
    ((2, 3, 4), (("int", 0), ("int", 2), ("int", 3))),
    ((5,), (("slice", -3, None, None),)),
]


reg.register(
    reg.OpDef(
        name="StridedSlice",
        shape=lambda ctx: [_strided_shape(ctx.shapes[0], ctx.attrs["spec"])],
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [_copy(ins[0][_index_of(attrs["spec"])], dtype=ins[0].dtype)],
        grad=_strided_grad,
        traits=_LAYOUT,
        value=_strided_value,
        samples=lambda rng: (
            [reg.Sample([rand(rng, s)], {"spec": spec}) for s, spec in _SPECS]
            + [reg.Sample([np.array([7, 8, 9], np.int32)], {"spec": (("slice", 1, None, None),)}, grad=False)]
        ),
        doc=(
            "x[index] for a NumPy basic index, attr spec: items ('int', i), ('slice', start, stop, "
            "step) (each may be None), ('newaxis',), ('ellipsis',)."
        ),
    )
)


def _strided_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[1]
    if s is not None and len(s) != 1:
        raise reg.ShapeError(f"shape must be a vector, got shape {_fmt(s)}")
    out = _value_shape(ctx, 1, "shape")
    sliced = _strided_shape(out, ctx.attrs["spec"])
    dy = ctx.shapes[0]
    if sliced is not None and dy is not None:
        if len(sliced) != len(dy):
            raise reg.ShapeError(
                f"dy has shape {_fmt(dy)}, but the slice of {_fmt(out)} has rank {len(sliced)}"
            )
        for a, b in zip(sliced, dy, strict=True):
            if isinstance(a, int) and isinstance(b, int) and a != b:
                raise reg.ShapeError(
                    f"dy has shape {_fmt(dy)}, but the slice of {_fmt(out)} has shape {_fmt(sliced)}"
                )
    return [out]


def _strided_grad_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1])
    return [ctx.dtypes[0]]


def _strided_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    dy, dims = ins
    out = np.zeros(tuple(int(d) for d in dims), dtype=dy.dtype)
    out[_index_of(attrs["spec"])] = dy
    return [out]


reg.register(
    reg.OpDef(
        name="StridedSliceGrad",
        shape=_strided_grad_shape,
        dtype=_strided_grad_dtype,
        reference=_strided_grad_ref,
        grad=lambda op, g: [strided_slice_spec(g, op.attrs["spec"]), None],
        traits=_LAYOUT,
        samples=lambda rng: [
            reg.Sample(
                [rand(rng, (2, 5)), np.array([4, 5], np.int32)], {"spec": (("slice", 1, 3, None),)}, wrt=(0,)
            ),
            reg.Sample([rand(rng, (5,)), np.array([4, 5], np.int32)], {"spec": (("int", -1),)}, wrt=(0,)),
            reg.Sample(
                [rand(rng, (1, 4, 2)), np.array([4, 5], np.int32)],
                {"spec": (("newaxis",), ("slice", None, None, -1), ("slice", 3, 0, -2))},
                wrt=(0,),
            ),
        ],
        doc="Zeros of shape input 1 with dy written where StridedSlice(spec) would read.",
    )
)


def strided_slice_spec(x: Tensor, spec: Spec, name: str | None = None) -> Tensor:
    """x[index] for a spec already built (see StridedSlice)."""
    return make("StridedSlice", [x], {"spec": spec}, name=name or "strided_slice")


def _bound(v: Any, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, Tensor) or hasattr(v, "_as_graph_element"):
        t = convert_to_tensor(v)
        if t.shape.ndims not in (0, None) or not t.dtype.is_integer or not _has_static_value(t):
            raise TypeError(
                f"{what} must be an int known when the graph is built; tensor {t.name} is only known "
                f"at run time (dynamic slice bounds are not supported)"
            )
        return int(static_value(t, what).reshape(-1)[0])
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
        raise TypeError(f"{what} must be an int or None, got {v!r}")
    return int(v)


def _spec_from_key(key: Any) -> Spec:
    items = key if isinstance(key, tuple) else (key,)
    spec: list[tuple[Any, ...]] = []
    for k in items:
        if k is Ellipsis:
            spec.append(("ellipsis",))
        elif k is None:
            spec.append(("newaxis",))
        elif isinstance(k, _pyslice):
            step = _bound(k.step, "a slice step")
            if step == 0:
                raise ValueError("slice step cannot be zero")
            spec.append(("slice", _bound(k.start, "a slice start"), _bound(k.stop, "a slice stop"), step))
        elif isinstance(k, bool | np.bool_):
            raise TypeError(
                "Indexing a Tensor with a bool is not supported (use tf.boolean_mask-free code, e.g. tf.where)"
            )
        elif isinstance(k, int | np.integer):
            spec.append(("int", int(k)))
        elif isinstance(k, Tensor) or hasattr(k, "_as_graph_element"):
            t = convert_to_tensor(k)
            if t.shape.ndims == 0 and t.dtype.is_integer and _has_static_value(t):
                spec.append(("int", int(static_value(t, "index").reshape(()))))
            else:
                raise TypeError(
                    f"Indexing a Tensor with tensor {t.name} (shape {t.shape}, {t.dtype.name}) is not "
                    f"supported: only ints, slices, ... and tf.newaxis are; use tf.gather(x, indices, axis=...)"
                )
        else:
            raise TypeError(
                f"Only integers, slices (`:`), ellipsis (`...`) and tf.newaxis (`None`) are valid indices, "
                f"got {k!r}; for a list of indices use tf.gather"
            )
    if sum(1 for it in spec if it[0] == "ellipsis") > 1:
        raise ValueError("An index can only have a single ellipsis ('...')")
    return tuple(spec)


def _getitem(self: Tensor, key: Any) -> Tensor:
    return strided_slice_spec(self, _spec_from_key(key))


def _install_getitem() -> None:
    Tensor.__getitem__ = _getitem  # type: ignore[attr-defined]


_install_getitem()


def strided_slice(
    input_: Any,
    begin: Any,
    end: Any,
    strides: Any = None,
    begin_mask: int = 0,
    end_mask: int = 0,
    ellipsis_mask: int = 0,
    new_axis_mask: int = 0,
    shrink_axis_mask: int = 0,
    name: str | None = None,
) -> Tensor:
    """tf.strided_slice with TF's masks; begin, end and strides must be known when the graph is built."""
    x = convert_to_tensor(input_)
    b = _static_ints(begin, "begin")
    e = _static_ints(end, "end")
    s = [1] * len(b) if strides is None else _static_ints(strides, "strides")
    if not len(b) == len(e) == len(s):
        raise ValueError(
            f"begin, end and strides must have the same length, got {len(b)}, {len(e)}, {len(s)}"
        )
    spec: list[tuple[Any, ...]] = []
    for i in _pyrange(len(b)):
        bit = 1 << i
        if ellipsis_mask & bit:
            spec.append(("ellipsis",))
        elif new_axis_mask & bit:
            spec.append(("newaxis",))
        elif shrink_axis_mask & bit:
            spec.append(("int", b[i]))
        else:
            if s[i] == 0:
                raise ValueError("strides cannot contain 0")
            spec.append(("slice", None if begin_mask & bit else b[i], None if end_mask & bit else e[i], s[i]))
    if sum(1 for it in spec if it[0] == "ellipsis") > 1:
        raise ValueError("Multiple ellipses in slice spec not allowed")
    return strided_slice_spec(x, tuple(spec), name=name)


# =============================================================================================
# Slice
def _slice_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, begin, sz = ctx.shapes[0], ctx.attrs["begin"], ctx.attrs["size"]
    if len(begin) != len(sz):
        raise reg.ShapeError(f"begin {list(begin)} and size {list(sz)} must have the same length")
    for b, s in zip(begin, sz, strict=True):
        if b < 0 or s < -1:
            raise reg.ShapeError(
                f"slice begin must be >= 0 and size >= -1, got begin {list(begin)}, size {list(sz)}"
            )
    if x is None:
        return [tuple(ctx.fresh() if s == -1 else s for s in sz)]
    if len(x) != len(begin):
        raise reg.ShapeError(f"Expected begin and size arguments to be length {len(x)}, got {len(begin)}")
    out: list[Dim] = []
    for i, (d, b, s) in enumerate(zip(x, begin, sz, strict=True)):
        if isinstance(d, int):
            if b > d or (s != -1 and b + s > d):
                raise reg.ShapeError(
                    f"slice begin[{i}] = {b} with size[{i}] = {s} is out of bounds for a dimension of {d}"
                )
        out.append((d - b if b else d) if s == -1 else s)  # type: ignore[operator]
    return [tuple(out)]


def _slice_index(begin: Sequence[int], sz: Sequence[int]) -> tuple[Any, ...]:
    return tuple(_pyslice(b, None if s == -1 else b + s) for b, s in zip(begin, sz, strict=True))


def _slice_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, begin, sz = ins[0], attrs["begin"], attrs["size"]
    if x.ndim != len(begin):
        raise ValueError(f"slice of rank {len(begin)} applied to an array of shape {x.shape}")
    for i, (d, b, s) in enumerate(zip(x.shape, begin, sz, strict=True)):
        if b > d or (s != -1 and b + s > d):
            raise IndexError(
                f"slice begin[{i}] = {b} with size[{i}] = {s} is out of bounds for a dimension of {d}"
            )
    return [_copy(x[_slice_index(begin, sz)])]


def _slice_spec(begin: Sequence[int], sz: Sequence[int]) -> Spec:
    return tuple(("slice", b, None if s == -1 else b + s, None) for b, s in zip(begin, sz, strict=True))


reg.register(
    reg.OpDef(
        name="Slice",
        shape=_slice_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=_slice_ref,
        grad=lambda op, g: [
            make(
                "StridedSliceGrad",
                [g, _shape_arg(op.inputs[0])],
                {"spec": _slice_spec(op.attrs["begin"], op.attrs["size"])},
            )
        ],
        traits=_LAYOUT,
        value=lambda ctx: (
            None
            if ctx.value(0) is None
            else [ctx.value(0)[_slice_index(ctx.attrs["begin"], ctx.attrs["size"])]]
        ),
        samples=lambda rng: [
            reg.Sample([rand(rng, (4, 5))], {"begin": (1, 0), "size": (2, -1)}),
            reg.Sample([rand(rng, (4, 5))], {"begin": (0, 2), "size": (4, 3)}),
            reg.Sample([rand(rng, (2, 3, 4))], {"begin": (1, 1, 1), "size": (1, -1, 2)}),
        ],
        doc="x[begin : begin + size] per dim (size -1: to the end).",
    )
)


def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:  # noqa: A001  (TF's name)
    """tf.slice: begin and size (-1: to the end) must be known when the graph is built."""
    x = convert_to_tensor(input_)
    b = _static_ints(begin, "begin")
    s = _static_ints(size, "size")
    return make("Slice", [x], {"begin": tuple(b), "size": tuple(s)}, name=name or "Slice")


# =============================================================================================
# GatherV2 / ScatterAddDense
def _check_indices(idx: np.ndarray, dim: int, what: str = "indices") -> None:
    bad = (idx < 0) | (idx >= dim)
    if np.any(bad):
        pos = tuple(int(p) for p in np.argwhere(bad)[0])
        where_ = "[" + ",".join(map(str, pos)) + "]" if pos else ""
        raise IndexError(f"{what}{where_} = {idx[pos]} is not in [0, {dim})")


def _gather_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    p, i = ctx.shapes
    if p is None:
        return [None]
    if not p:
        raise reg.ShapeError("params must be at least a vector")
    ax = reg.normalize_axis(ctx.attrs["axis"], len(p))
    v = ctx.value(1)
    if v is not None and isinstance(p[ax], int):
        known = np.array([x for x in v.flat if isinstance(x, int)], dtype=np.int64)
        try:
            _check_indices(known, p[ax])
        except IndexError as exc:
            raise reg.ShapeError(str(exc)) from None
    if i is None:
        return [None]
    return [tuple(p[:ax]) + tuple(i) + tuple(p[ax + 1 :])]


def _gather_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1])
    return [ctx.dtypes[0]]


def _gather_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    p, idx = ins
    ax = reg.normalize_axis(attrs["axis"], p.ndim)
    _check_indices(idx, p.shape[ax])
    return [np.take(p, idx, axis=ax)]


def _gather_value(ctx: reg.InferenceContext) -> list[Any] | None:
    vp, vi = ctx.value(0), ctx.value(1)
    if vp is None or vi is None or vp.ndim == 0 or not all(isinstance(x, int) for x in vi.flat):
        return None
    ax = reg.normalize_axis(ctx.attrs["axis"], vp.ndim)
    idx = np.array(vi.tolist(), dtype=np.int64).reshape(vi.shape)
    if np.any((idx < 0) | (idx >= vp.shape[ax])):
        return None
    return [np.asarray(np.take(vp, idx, axis=ax), dtype=object)]


def _gather_grad(op: Operation, g: Tensor) -> list[Any]:
    params, indices = op.inputs
    return [make("ScatterAddDense", [g, indices, _shape_arg(params)], {"axis": op.attrs["axis"]}), None]


def _gather_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (5, 3)), np.array([0, 2, 2, 4], np.int32)], {"axis": 0}, wrt=(0,)),
        reg.Sample([rand(rng, (2, 4, 3)), np.array([[3, 0], [1, 1]], np.int32)], {"axis": 1}, wrt=(0,)),
        reg.Sample([rand(rng, (2, 4)), np.array(3, np.int64)], {"axis": -1}, wrt=(0,)),
        reg.Sample([np.array([4, 7, 9], np.int32), np.array([2, 0], np.int32)], {"axis": 0}, grad=False),
    ]


reg.register(
    reg.OpDef(
        name="GatherV2",
        shape=_gather_shape,
        dtype=_gather_dtype,
        reference=_gather_ref,
        grad=_gather_grad,
        traits=_GATHER,
        value=_gather_value,
        samples=_gather_samples,
        doc="Take slices of params at indices along attr axis; an index out of range raises IndexError.",
    )
)


def gather(
    params: Any,
    indices: Any,
    validate_indices: Any = None,
    name: str | None = None,
    axis: Any = None,
    batch_dims: int = 0,
) -> Tensor:
    """tf.gather (GatherV2); batch_dims other than 0 is not supported. Indices out of range
    raise when the graph runs (InvalidArgumentError in TF), or when it is built if constant."""
    if batch_dims != 0:
        raise NotImplementedError("tf.gather with batch_dims != 0 is not supported by graphc")
    p = convert_to_tensor(params)
    idx = convert_to_tensor(indices)
    ax = _api_axis(_static_int(0 if axis is None else axis, "the axis of gather"), p.shape.ndims)
    return make("GatherV2", [p, idx], {"axis": ax}, name=name or "GatherV2")


def _scatter_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    u, i, s = ctx.shapes
    if s is not None and len(s) != 1:
        raise reg.ShapeError(f"shape must be a vector, got shape {_fmt(s)}")
    out = _value_shape(ctx, 2, "shape")
    if out is None:
        return [None]
    ax = reg.normalize_axis(ctx.attrs["axis"], len(out))
    if u is not None and i is not None:
        expected = tuple(out[:ax]) + tuple(i) + tuple(out[ax + 1 :])
        if len(expected) != len(u) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(expected, u, strict=True)
        ):
            raise reg.ShapeError(f"updates of shape {_fmt(u)} do not match {_fmt(expected)}")
    return [out]


def _scatter_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [1, 2])
    return [ctx.dtypes[0]]


def _scatter_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    updates, idx, dims = ins
    out = np.zeros(tuple(int(d) for d in dims), dtype=updates.dtype)
    ax = reg.normalize_axis(attrs["axis"], out.ndim)
    _check_indices(idx, out.shape[ax])
    np.add.at(out, (_pyslice(None),) * ax + (idx,), updates)
    return [out]


reg.register(
    reg.OpDef(
        name="ScatterAddDense",
        shape=_scatter_shape,
        dtype=_scatter_dtype,
        reference=_scatter_ref,
        grad=lambda op, g: [gather(g, op.inputs[1], axis=op.attrs["axis"]), None, None],
        traits=_GATHER,
        samples=lambda rng: [
            reg.Sample(
                [rand(rng, (4, 3)), np.array([0, 2, 2, 4], np.int32), np.array([5, 3], np.int32)],
                {"axis": 0},
                wrt=(0,),
            ),
            reg.Sample(
                [
                    rand(rng, (2, 2, 2, 3)),
                    np.array([[3, 0], [1, 1]], np.int32),
                    np.array([2, 4, 3], np.int32),
                ],
                {"axis": -2},
                wrt=(0,),
            ),
        ],
        doc="Zeros of shape input 2 plus updates added at indices along attr axis (the gradient of GatherV2).",
    )
)


# =============================================================================================
# OneHot
def _one_hot_axis(axis: int, ndim: int) -> int:
    if axis == -1:
        return ndim
    if not 0 <= axis <= ndim:
        raise reg.ShapeError(f"one_hot axis must be -1 or in [0, {ndim}], got {axis}")
    return axis


def _one_hot_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, depth = ctx.shapes[0], ctx.attrs["depth"]
    if depth < 0:
        raise reg.ShapeError(f"depth must be non-negative, got {depth}")
    if x is None:
        return [None]
    ax = _one_hot_axis(ctx.attrs["axis"], len(x))
    return [tuple(x[:ax]) + (depth,) + tuple(x[ax:])]


def _one_hot_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, (_dt.uint8, _dt.int32, _dt.int64))
    return [ctx.attrs["dtype"]]


def _one_hot_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    idx = ins[0]
    hot = idx[..., None] == np.arange(attrs["depth"])
    hot = np.moveaxis(hot, -1, _one_hot_axis(attrs["axis"], idx.ndim))
    dt = attrs["dtype"].np
    return [np.where(hot, np.asarray(attrs["on_value"], dt), np.asarray(attrs["off_value"], dt)).astype(dt)]


def _one_hot_samples(rng: np.random.Generator) -> list[reg.Sample]:
    idx = np.array([[0, 3, 1], [2, 5, -1]], np.int32)  # 5 and -1 are out of range: all off
    base = {"depth": 4, "on_value": 1.0, "off_value": 0.0, "dtype": _dt.float32}
    return [
        reg.Sample([idx], {**base, "axis": -1}, grad=False),
        reg.Sample([idx], {**base, "axis": 0}, grad=False),
        reg.Sample(
            [idx], {**base, "axis": 1, "on_value": 5, "off_value": -1, "dtype": _dt.int32}, grad=False
        ),
        reg.Sample([np.array(2, np.int64)], {**base, "axis": -1}, grad=False),
    ]


reg.register(
    reg.OpDef(
        name="OneHot",
        shape=_one_hot_shape,
        dtype=_one_hot_dtype,
        reference=_one_hot_ref,
        grad=reg.NotDifferentiable("its input is integer indices (TF: NotDifferentiable)"),
        traits=frozenset({"one_hot"}),
        samples=_one_hot_samples,
        doc="on_value where the index equals the position along the new axis, else off_value.",
    )
)


def one_hot(
    indices: Any,
    depth: Any,
    on_value: Any = None,
    off_value: Any = None,
    axis: Any = None,
    dtype: Any = None,
    name: str | None = None,
) -> Tensor:
    """tf.one_hot: depth, on_value and off_value must be known when the graph is built; the dtype
    defaults to on_value's or off_value's, else float32. Out-of-range indices give all off_value."""
    idx = convert_to_tensor(indices)
    d = _static_int(depth, "depth")
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
    else:
        given = on_value if on_value is not None else off_value
        dt = (
            _dt.float32
            if given is None
            else given.dtype
            if isinstance(given, Tensor)
            else _dt.infer_dtype(given)
        )
    for v in (on_value, off_value):
        if isinstance(v, Tensor) and v.dtype != dt:
            raise TypeError(
                f"one_hot: on_value/off_value dtype {v.dtype.name} does not match dtype {dt.name}"
            )

    def scalar_attr(v: Any, default: int, what: str) -> Any:
        arr = static_value(v, what) if isinstance(v, Tensor) else np.asarray(default if v is None else v)
        if arr.size != 1:
            raise ValueError(f"{what} must be a scalar, got {v!r}")
        return dt.np.type(arr.reshape(())).item()

    attrs = {
        "depth": d,
        "on_value": scalar_attr(on_value, 1, "on_value"),
        "off_value": scalar_attr(off_value, 0, "off_value"),
        "axis": -1 if axis is None else _static_int(axis, "the axis of one_hot"),
        "dtype": dt,
    }
    return make("OneHot", [idx], attrs, name=name or "one_hot")


# =============================================================================================
# Tile
def _tile_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, mult = ctx.shapes[0], ctx.attrs["multiples"]
    if any(m < 0 for m in mult):
        raise reg.ShapeError(f"multiples must be non-negative, got {list(mult)}")
    if x is None:
        return [tuple(ctx.fresh() for _ in mult)]
    if len(x) != len(mult):
        raise reg.ShapeError(
            f"multiples {list(mult)} must have one entry per dimension of a tensor of rank {len(x)}"
        )
    return [tuple(d * m for d, m in zip(x, mult, strict=True))]  # type: ignore[misc]


def _tile_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, mult = ins[0], attrs["multiples"]
    if x.ndim != len(mult):
        raise ValueError(f"multiples {list(mult)} do not match an array of shape {x.shape}")
    return [np.tile(x, mult)]


def _tile_grad(op: Operation, g: Tensor) -> list[Any]:
    """Each input element is copied once per tile: view dim i as (multiple, dim) and sum the copies."""
    from graphc.ops.reduction_ops import reduce_sum

    x = op.inputs[0]
    mult = op.attrs["multiples"]
    if all(m == 1 for m in mult):
        return [g]
    dims = x.shape.as_tuple() or (None,) * len(mult)
    split_dims: list[Any] = []
    axes: list[int] = []
    for i, (m, d) in enumerate(zip(mult, dims, strict=True)):
        if m != 1:
            axes.append(len(split_dims))
            split_dims.append(m)
        split_dims.append(_dim_arg(x, i) if d is None else d)
    return [reduce_sum(reshape(g, split_dims), axis=axes)]


reg.register(
    reg.OpDef(
        name="Tile",
        shape=_tile_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=_tile_ref,
        grad=_tile_grad,
        traits=_LAYOUT,
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 3))], {"multiples": (2, 1)}),
            reg.Sample([rand(rng, (2, 3))], {"multiples": (1, 3)}),
            reg.Sample([rand(rng, (2, 3))], {"multiples": (2, 2)}),
            reg.Sample([rand(rng, (3,))], {"multiples": (4,)}),
            reg.Sample([rand(rng, (2, 3))], {"multiples": (1, 1)}),
        ],
    )
)


def tile(input: Any, multiples: Any, name: str | None = None) -> Tensor:
    """tf.tile: multiples (one per dim) must be known when the graph is built."""
    x = convert_to_tensor(input)
    mult = tuple(_static_ints(multiples, "multiples"))
    if x.shape.ndims is not None and len(mult) != x.shape.ndims:
        raise ValueError(
            f"Expected multiples argument to be a vector of length {x.shape.ndims}, got {list(mult)}"
        )
    return make("Tile", [x], {"multiples": mult}, name=name or "Tile")


# =============================================================================================
# Pad / MirrorPadGrad
_PAD_MODES = ("CONSTANT", "REFLECT", "SYMMETRIC")


def _check_pads(x: reg.Shape, pads: tuple[tuple[int, int], ...], mode: str) -> None:
    if mode not in _PAD_MODES:
        raise reg.ShapeError(f"mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    if any(a < 0 or b < 0 for a, b in pads):
        raise reg.ShapeError(f"paddings must be non-negative, got {[list(p) for p in pads]}")
    if x is None:
        return
    if len(x) != len(pads):
        raise reg.ShapeError(f"paddings has {len(pads)} rows for a tensor of rank {len(x)}")
    if mode == "CONSTANT":
        return
    limit = 1 if mode == "REFLECT" else 0
    for i, (d, (a, b)) in enumerate(zip(x, pads, strict=True)):
        if isinstance(d, int) and builtins.max(a, b) > d - limit:
            raise reg.ShapeError(
                f"paddings ({a}, {b}) of dimension {i} must be at most {d - limit} for {mode} mode (the dimension is {d})"
            )


def _pad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, pads = ctx.shapes[0], ctx.attrs["paddings"]
    _check_pads(x, pads, ctx.attrs["mode"])
    if x is None:
        return [tuple(ctx.fresh() for _ in pads)]
    return [tuple(d + a + b for d, (a, b) in zip(x, pads, strict=True))]  # type: ignore[misc]


def _pad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, pads, mode = ins[0], attrs["paddings"], attrs["mode"]
    if mode == "CONSTANT":
        return [np.pad(x, pads, mode="constant", constant_values=attrs["constant_values"])]
    return [np.pad(x, pads, mode=mode.lower())]


def _pad_grad(op: Operation, g: Tensor) -> list[Any]:
    pads, mode = op.attrs["paddings"], op.attrs["mode"]
    if mode == "CONSTANT":
        spec = tuple(("slice", a, -b if b else None, None) for a, b in pads)
        return [strided_slice_spec(g, spec)]
    return [make("MirrorPadGrad", [g], {"paddings": pads, "mode": mode})]


def _pad_samples(rng: np.random.Generator) -> list[reg.Sample]:
    def s(shape: tuple[int, ...], pads: Any, mode: str = "CONSTANT", cv: float = 0.0) -> reg.Sample:
        return reg.Sample([rand(rng, shape)], {"paddings": pads, "mode": mode, "constant_values": cv})

    return [
        s((2, 3), ((1, 2), (0, 1))),
        s((2, 3), ((0, 0), (2, 0)), cv=1.5),
        s((3, 4), ((1, 2), (2, 0)), "REFLECT"),
        s((3, 4), ((2, 3), (1, 4)), "SYMMETRIC"),
        s((4,), ((3, 3),), "REFLECT"),
    ]


reg.register(
    reg.OpDef(
        name="Pad",
        shape=_pad_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=_pad_ref,
        grad=_pad_grad,
        traits=_LAYOUT,
        samples=_pad_samples,
        doc="Pad by attr paddings ((before, after) per dim); mode CONSTANT (constant_values), REFLECT or SYMMETRIC.",
    )
)


def _mirror_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    g, pads, mode = ctx.shapes[0], ctx.attrs["paddings"], ctx.attrs["mode"]
    if mode == "CONSTANT":
        raise reg.ShapeError("MirrorPadGrad is for REFLECT and SYMMETRIC padding")
    if g is None:
        _check_pads(None, pads, mode)
        return [tuple(ctx.fresh() for _ in pads)]
    if len(g) != len(pads):
        raise reg.ShapeError(f"paddings has {len(pads)} rows for a tensor of rank {len(g)}")
    out = tuple(d - a - b for d, (a, b) in zip(g, pads, strict=True))  # type: ignore[misc]
    _check_pads(out, pads, mode)
    return [out]


def _mirror_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    """Fold each padded border back onto the elements it copied (the transpose of the pad)."""
    g = ins[0]
    reflect = attrs["mode"] == "REFLECT"
    for ax, (a, b) in enumerate(attrs["paddings"]):
        if not a and not b:
            continue
        moved = np.moveaxis(g, ax, 0)
        d = moved.shape[0] - a - b
        out = moved[a : a + d].copy()
        shift = 1 if reflect else 0  # REFLECT skips the edge element; SYMMETRIC repeats it
        if a:
            out[shift : shift + a] += moved[:a][::-1]
        if b:
            out[d - shift - b : d - shift] += moved[a + d :][::-1]
        g = np.moveaxis(out, 0, ax)
    return [np.ascontiguousarray(g)]


reg.register(
    reg.OpDef(
        name="MirrorPadGrad",
        shape=_mirror_grad_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=_mirror_grad_ref,
        grad=lambda op, g: [make("Pad", [g], {**op.attrs, "constant_values": 0})],
        traits=_LAYOUT,
        samples=lambda rng: [
            reg.Sample([rand(rng, (6, 6))], {"paddings": ((1, 2), (2, 0)), "mode": "REFLECT"}),
            reg.Sample([rand(rng, (8, 9))], {"paddings": ((2, 3), (1, 4)), "mode": "SYMMETRIC"}),
        ],
        doc="The gradient of a REFLECT or SYMMETRIC Pad.",
    )
)


def pad(
    tensor: Any, paddings: Any, mode: str = "CONSTANT", name: str | None = None, constant_values: Any = 0
) -> Tensor:
    """tf.pad: paddings (an [rank, 2] list or constant) and constant_values must be known when the
    graph is built; mode is CONSTANT, REFLECT or SYMMETRIC (any case). All three are differentiable."""
    x = convert_to_tensor(tensor)
    arr = static_value(paddings, "paddings") if isinstance(paddings, Tensor) else np.asarray(paddings)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"paddings must be a matrix with 2 columns, got shape {arr.shape}")
    flat = as_int_list(arr, "paddings")
    pads = tuple((flat[2 * i], flat[2 * i + 1]) for i in _pyrange(arr.shape[0]))
    m = str(mode).upper()
    if m not in _PAD_MODES:
        raise ValueError(f"Unknown padding mode: {mode}")
    cv_arr = (
        static_value(constant_values, "constant_values")
        if isinstance(constant_values, Tensor)
        else np.asarray(constant_values)
    )
    if cv_arr.size != 1:
        raise ValueError(f"constant_values must be a scalar, got {constant_values!r}")
    cv = cv_arr.reshape(()).item()
    if m != "CONSTANT" and cv != 0:
        raise ValueError(f"constant_values is only used in CONSTANT mode, got {cv} for mode {m}")
    return make("Pad", [x], {"paddings": pads, "mode": m, "constant_values": cv}, name=name or "Pad")


# =============================================================================================
# ReverseV2
def _reverse_axes(axis: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    out = [reg.normalize_axis(a, ndim, "reverse axis") for a in axis]
    if len(set(out)) != len(out):
        raise reg.ShapeError(f"axis {list(axis)} contains a duplicate dimension")
    return tuple(out)


def _reverse_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x = ctx.shapes[0]
    if x is not None:
        _reverse_axes(ctx.attrs["axis"], len(x))
    return [x]


def _reverse_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.value(0)
    return None if v is None else [np.flip(v, _reverse_axes(ctx.attrs["axis"], v.ndim))]


reg.register(
    reg.OpDef(
        name="ReverseV2",
        shape=_reverse_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [_copy(np.flip(ins[0], _reverse_axes(attrs["axis"], ins[0].ndim)))],
        grad=lambda op, g: [make("ReverseV2", [g], {"axis": op.attrs["axis"]})],
        traits=_LAYOUT,
        value=_reverse_value,
        samples=lambda rng: [
            reg.Sample([rand(rng, (2, 3, 4))], {"axis": (0,)}),
            reg.Sample([rand(rng, (2, 3, 4))], {"axis": (1, 2)}),
            reg.Sample([rand(rng, (2, 3, 4))], {"axis": (-1,)}),
            reg.Sample([rand(rng, (2, 3))], {"axis": ()}),
        ],
    )
)


def reverse(tensor: Any, axis: Any, name: str | None = None) -> Tensor:
    """tf.reverse (ReverseV2): axis is an int or a list of ints known when the graph is built."""
    x = convert_to_tensor(tensor)
    axes = tuple(_static_ints(axis, "the axis of reverse"))
    if x.shape.ndims is not None:
        axes = _reverse_axes(axes, x.shape.ndims)
    elif len(set(axes)) != len(axes):
        raise ValueError(f"reverse axis {list(axes)} contains a duplicate dimension")
    return make("ReverseV2", [x], {"axis": axes}, name=name or "ReverseV2")


reverse_v2 = reverse


# =============================================================================================
# Fill / ZerosLike / OnesLike / zeros / ones
def _fill_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    dims, value = ctx.shapes
    if dims is not None and len(dims) != 1:
        raise reg.ShapeError(f"dims must be a vector, got shape {_fmt(dims)}")
    if value is not None and len(value) != 0:
        raise reg.ShapeError(f"value must be a scalar, got shape {_fmt(value)}")
    return [_value_shape(ctx, 0, "dims")]


def _fill_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    _index_dtype(ctx, [0])
    return [ctx.dtypes[1]]


def _fill_value(ctx: reg.InferenceContext) -> list[Any] | None:
    dims, v = ctx.value(0), ctx.value(1)
    if dims is None or v is None or not _small(list(dims.flat)):
        return None
    return [np.full(tuple(dims.flat), v.reshape(()).item(), dtype=object)]


def _fill_grad(op: Operation, g: Tensor) -> list[Any]:
    from graphc.ops.reduction_ops import reduce_sum

    return [None, reduce_sum(g)]


reg.register(
    reg.OpDef(
        name="Fill",
        shape=_fill_shape,
        dtype=_fill_dtype,
        reference=lambda ins, attrs: [np.full(tuple(int(d) for d in ins[0]), ins[1], dtype=ins[1].dtype)],
        grad=_fill_grad,
        traits=frozenset({"fill"}),
        value=_fill_value,
        samples=lambda rng: [
            reg.Sample([np.array([2, 3], np.int32), rand(rng, ())], wrt=(1,)),
            reg.Sample([np.array([], np.int32), rand(rng, ())], wrt=(1,)),
            reg.Sample([np.array([4], np.int64), np.array(7, np.int32)], grad=False),
        ],
        doc="A tensor of shape dims (input 0) filled with the scalar input 1.",
    )
)


def fill(dims: Any, value: Any, name: str | None = None) -> Tensor:
    """tf.fill: dims is a list (ints or scalar int tensors), a TensorShape or an int tensor."""
    v = convert_to_tensor(value)
    return make("Fill", [_shape_tensor(_as_dims(dims), "dims"), v], name=name or "Fill")


def _as_dims(shape: Any) -> Any:
    """A scalar int shape means a vector of that length (tf.zeros(3))."""
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        return [int(shape)]
    return shape


def _zero_of(dt: _dt.DType, one: bool) -> Any:
    if dt.is_string:
        raise TypeError("zeros/ones of dtype string are not supported")
    return dt.np.type(1 if one else 0)


def zeros(shape: Any, dtype: Any = _dt.float32, name: str | None = None) -> Tensor:
    """tf.zeros: shape is a list (ints or scalar int tensors), a TensorShape or an int tensor."""
    dt = _dt.as_dtype(dtype)
    dims = _shape_tensor(_as_dims(shape), "shape")
    return make("Fill", [dims, core_ops.constant(_zero_of(dt, False), dtype=dt)], name=name or "zeros")


def ones(shape: Any, dtype: Any = _dt.float32, name: str | None = None) -> Tensor:
    """tf.ones: shape is a list (ints or scalar int tensors), a TensorShape or an int tensor."""
    dt = _dt.as_dtype(dtype)
    dims = _shape_tensor(_as_dims(shape), "shape")
    return make("Fill", [dims, core_ops.constant(_zero_of(dt, True), dtype=dt)], name=name or "ones")


def _like_value(fill_value: int) -> Callable[[reg.InferenceContext], list[Any] | None]:
    def rule(ctx: reg.InferenceContext) -> list[Any] | None:
        s = ctx.shapes[0]
        if s is None or not ctx.dtypes[0].is_integer or not _small(s):
            return None
        return [np.full(tuple(s), fill_value, dtype=object)]

    return rule


def _like_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, (*NUMERIC, _dt.bool_))
    return [ctx.dtypes[0]]


for _name, _fn, _k in [("ZerosLike", np.zeros_like, 0), ("OnesLike", np.ones_like, 1)]:
    reg.register(
        reg.OpDef(
            name=_name,
            shape=lambda ctx: [ctx.shapes[0]],
            dtype=_like_dtype,
            reference=(lambda fn: lambda ins, attrs: [fn(ins[0])])(_fn),
            # The output does not depend on the input's values: a zero derivative.
            grad=lambda op, g: [None],
            traits=frozenset({"elementwise"}),
            scalar=(lambda k: lambda args, attrs: S.const(k))(_k),
            value=_like_value(_k),
            samples=lambda rng: [
                reg.Sample([rand(rng, (2, 3))]),
                reg.Sample([rand(rng, (3,), "int", np.int32)], grad=False),
                reg.Sample([rand(rng, (2, 2), "bool")], grad=False),
            ],
            doc=f"A tensor like the input, all {_k}.",
        )
    )


def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    """tf.zeros_like (ZerosLike; a Fill of shape(tensor) when another dtype is asked for)."""
    x = convert_to_tensor(tensor)
    if dtype is not None and _dt.as_dtype(dtype) != x.dtype:
        return zeros(_shape_arg(x), dtype=dtype, name=name or "zeros_like")
    return make("ZerosLike", [x], name=name or "zeros_like")


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    """tf.ones_like (OnesLike; a Fill of shape(tensor) when another dtype is asked for)."""
    x = convert_to_tensor(tensor)
    if dtype is not None and _dt.as_dtype(dtype) != x.dtype:
        return ones(_shape_arg(x), dtype=dtype, name=name or "ones_like")
    return make("OnesLike", [x], name=name or "ones_like")


# =============================================================================================
# Range
def _range_len(start: Any, limit: Any, delta: Any, dt: _dt.DType) -> int:
    if delta == 0:
        raise reg.ShapeError("Requires delta != 0")
    if dt.is_integer:
        n = -((start - limit) // delta)
    else:
        n = math.ceil((limit - start) / delta)
    return builtins.max(int(n), 0)


def _range_np(attrs: dict[str, Any]) -> np.ndarray:
    dt = attrs["dtype"]
    n = _range_len(attrs["start"], attrs["limit"], attrs["delta"], dt)
    if dt.is_integer:
        return (attrs["start"] + attrs["delta"] * np.arange(n, dtype=np.int64)).astype(dt.np)
    return (attrs["start"] + attrs["delta"] * np.arange(n, dtype=np.float64)).astype(dt.np)


def _range_value(ctx: reg.InferenceContext) -> list[Any] | None:
    a = ctx.attrs
    if not a["dtype"].is_integer or _range_len(a["start"], a["limit"], a["delta"], a["dtype"]) > _MAX_VALUE:
        return None
    return [np.array(_range_np(a).tolist(), dtype=object).reshape(-1)]


def _range_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    dt = ctx.attrs["dtype"]
    if dt not in (_dt.int32, _dt.int64, _dt.float32, _dt.float64):
        raise TypeError(f"range dtype must be int32, int64, float32 or float64, got {dt.name}")
    return [dt]


reg.register(
    reg.OpDef(
        name="Range",
        shape=lambda ctx: [
            (_range_len(ctx.attrs["start"], ctx.attrs["limit"], ctx.attrs["delta"], ctx.attrs["dtype"]),)
        ],
        dtype=_range_dtype,
        reference=lambda ins, attrs: [_range_np(attrs)],
        grad=lambda op, *grads: [],
        traits=frozenset({"generator"}),
        value=_range_value,
        samples=lambda rng: [
            reg.Sample([], {"start": 0, "limit": 5, "delta": 1, "dtype": _dt.int32}, grad=False),
            reg.Sample([], {"start": 5, "limit": 0, "delta": -2, "dtype": _dt.int64}, grad=False),
            reg.Sample([], {"start": 1.0, "limit": 2.0, "delta": 0.25, "dtype": _dt.float32}, grad=False),
            reg.Sample([], {"start": 3, "limit": 3, "delta": 1, "dtype": _dt.int32}, grad=False),
        ],
        doc="start, start + delta, ... up to (not including) limit; attrs only (no inputs).",
    )
)

_RANGE_ORDER = (_dt.int32, _dt.int64, _dt.float32, _dt.float64)


def range(  # noqa: A001  (TF's name)
    start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: str = "range"
) -> Tensor:
    """tf.range: start, limit and delta must be known when the graph is built (a range whose
    length is only known at run time is not supported). Without dtype: all ints give int32
    (int64 if any is int64), any float gives float32 (float64 if any is float64), as TF1."""
    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    kinds: list[_dt.DType] = []
    values: list[Any] = []
    for what, v in zip(("start", "limit", "delta"), args, strict=True):
        if isinstance(v, Tensor):
            kinds.append(v.dtype)
            arr = static_value(v, f"range {what}")
        else:
            arr = np.asarray(v)
            kinds.append(_dt.infer_dtype(v))
        if arr.size != 1:
            raise ValueError(f"range {what} must be a scalar, got {v!r}")
        values.append(arr.reshape(()).item())
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
    else:
        for k in kinds:
            if k not in _RANGE_ORDER:
                raise TypeError(f"range arguments must be ints or floats, got {k.name}")
        dt = builtins.max(kinds, key=_RANGE_ORDER.index)
    conv = [dt.np.type(v).item() for v in values]
    if conv[2] == 0:
        raise ValueError("Requires delta != 0")
    return make_op(
        "Range", [], {"start": conv[0], "limit": conv[1], "delta": conv[2], "dtype": dt}, name=name
    ).outputs[0]
