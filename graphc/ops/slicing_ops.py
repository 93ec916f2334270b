"""Slicing: StridedSlice (a NumPy basic index, held as a spec), its gradient StridedSliceGrad,
Slice, their TF1 API (strided_slice, slice), and ``Tensor.__getitem__``, which importing this
module installs.

On a symbolic dim (a None batch ``N``), slices give exact expressions: ``x[1:]`` has
``max(N - 1, 0)`` rows, ``x[::2]`` has ``ceildiv(N, 2)``, ``x[:3]`` has ``min(3, N)``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor
from graphc.ops import core_ops
from graphc.ops.array_common import (
    _LAYOUT,
    _copy,
    _fmt,
    _has_static_value,
    _index_dtype,
    _pyrange,
    _pyslice,
    _shape_arg,
    _static_ints,
)
from graphc.ops.common import convert_to_tensor, is_tensorish, make, rand, static_value, value_shape
from graphc.symbolic import Dim

newaxis = None

Spec = tuple[tuple[Any, ...], ...]


# =============================================================================================
# Helpers: symbolic slice lengths, and one dim of a shape as a tensor.
def _max0(d: Dim) -> Dim:
    """max(d, 0), simplified when d is visibly non-negative (every atom is a dim, so >= 0)."""
    if isinstance(d, int):
        return builtins.max(d, 0)
    if all(c >= 0 for c in d.terms.values()):
        return d
    return symbolic.maximum(d, 0)


def _dim_arg(x: Tensor, axis: int) -> Tensor:
    """x's size along ``axis`` as a scalar int32 tensor (a constant when static; ``axis`` may be
    negative when x's rank is unknown)."""
    dims = x.shape.as_tuple()
    if dims is not None and dims[axis] is not None:
        return core_ops.constant(np.int32(dims[axis]))
    return strided_slice_spec(core_ops.shape(x), (("int", axis),))


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
        attrs={"spec": reg.SLICE_SPEC},
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
    out = value_shape(ctx, 1, "shape")
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
        attrs={"spec": reg.SLICE_SPEC},
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
    if is_tensorish(v):
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
        elif is_tensorish(k):
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
        attrs={"begin": reg.tuple_of(reg.INT), "size": reg.tuple_of(reg.INT)},
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
