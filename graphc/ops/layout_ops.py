"""Layout ops: Reshape, Transpose, ExpandDims, Squeeze, Tile, Pad (and its gradient
MirrorPadGrad), ReverseV2, and their TF1 API."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor
from graphc.ops import build
from graphc.ops.array_common import (
    _LAYOUT,
    _copy,
    _fmt,
    _index_dtype,
    _pyrange,
    _shape_arg,
    _static_int,
    _static_ints,
)
from graphc.ops.common import (
    as_int_list,
    convert_to_tensor,
    deprecated_argument,
    make,
    normalize_axis,
    rand,
    static_value,
)
from graphc.ops.concat_ops import _shape_tensor, stack
from graphc.ops.core_ops import identity
from graphc.ops.slicing_ops import _dim_arg, strided_slice_spec
from graphc.symbolic import Dim

# "view": the output is the input's bytes relabelled (same order, same size), so memory
# planning may give it the input's buffer.
_VIEW = _LAYOUT | {"view"}


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
        if not isinstance(ctx.env, reg.FrontendDims):
            return [tuple(ctx.fresh() for _ in _pyrange(s[0]))]
        # No element is known: each is an unknown dim (TF1 still infers a lone one).
        v = np.array([ctx.fresh() for _ in _pyrange(s[0])], dtype=object)
    target: list[Dim] = list(v.reshape(-1))
    for d in target:
        if isinstance(d, int) and d < -1:
            raise reg.ShapeError(f"shape {_fmt(target)} has a negative dimension {d}")
    holes = [i for i, d in enumerate(target) if isinstance(d, int) and d == -1]
    if len(holes) > 1:
        raise reg.ShapeError(f"can only infer one dimension (-1) of shape {_fmt(target)}")
    if holes and any(isinstance(d, int) and d == 0 for d in target):
        raise reg.ShapeError(
            f"cannot infer the -1 in shape {_fmt(target)}: the other dimensions multiply to 0"
        )
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
        ctx.equal(total, n, "the numbers of elements before and after the reshape")
        unknown = [i for i, d in enumerate(target) if not isinstance(d, int)]
        if isinstance(ctx.env, reg.FrontendDims) and len(unknown) == 1 and isinstance(total, int):
            # TF1: one unknown dim beside known ones is what the known element count leaves.
            known = symbolic.product(d for i, d in enumerate(target) if i != unknown[0])
            if isinstance(known, int) and known > 0:
                if total % known:
                    raise reg.ShapeError(
                        f"cannot reshape a tensor of shape {_fmt(x)} ({total} elements) to shape "
                        f"{_fmt(target)}: {total} is not divisible by {known}"
                    )
                target[unknown[0]] = total // known
        return [tuple(target)]
    k = holes[0]
    rest = [d for i, d in enumerate(target) if i != k]
    target[k] = _infer_hole(ctx, x, total, symbolic.product(rest), rest, target)
    return [tuple(target)]


def _infer_hole(
    ctx: reg.InferenceContext, x: Sequence[Dim], total: Dim, known: Dim, rest: list[Dim], target: list[Dim]
) -> Dim:
    """The -1 of a reshape: total // known, exact when the symbolic division is.

    When the graph is built each unknown dim (of ``x``, or an element of the shape tensor
    that is not a constant) is a symbol of its own, so the -1 comes out known only where
    TF1's rule knows it: the element count and the other dims all known, or the
    division exact whatever the unknowns are (``[-1, 784]`` of an ``(?, 28, 28)`` x is
    ``(?, 784)``). In a lowered program the division must be exact and the other dims'
    product positive (TF1 refuses a -1 beside a 0, even for an empty tensor): both are
    assertions checked at the program's entry, the product first, so the division is
    never evaluated by zero."""
    if isinstance(total, int) and isinstance(known, int):
        if total % known:
            raise reg.ShapeError(
                f"cannot reshape a tensor of shape {_fmt(x)} ({total} elements) to shape {_fmt(target)}: "
                f"{total} is not divisible by {known}"
            )
        return total // known
    frontend = isinstance(ctx.env, reg.FrontendDims)
    if not isinstance(known, int) and not frontend:
        ctx.equal(
            symbolic.minimum(known, 1), 1, "the product of the other dimensions and 1 (it must be positive)"
        )
    q = symbolic.floordiv(total, known)
    if q * known == total or frontend:
        return q
    # The elements must divide evenly: an assumption checked at the program's entry.
    ctx.equal(q * known, total, "the number of elements and a multiple of the other dimensions")
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
        attrs={},
        shape=_reshape_shape,
        dtype=_reshape_dtype,
        reference=lambda ins, attrs: [_copy(np.reshape(ins[0], tuple(int(d) for d in ins[1])))],
        grad=lambda op, g: [reshape(g, _shape_arg(op.inputs[0])), None],
        traits=_VIEW,
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
    out = tuple(normalize_axis(p, ndim, "perm entry") for p in perm)
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
        attrs={"perm": reg.optional(reg.AXES)},
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
        attrs={"axis": reg.AXIS},
        shape=_expand_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [
            _copy(np.expand_dims(ins[0], _expand_axis(attrs["axis"], ins[0].ndim)))
        ],
        grad=lambda op, g: [reshape(g, _shape_arg(op.inputs[0]))],
        traits=_VIEW,
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
    axis = deprecated_argument(axis, dim, "axis", "dim")
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    x = convert_to_tensor(input)
    a = _static_int(axis, "the axis of expand_dims")
    if x.shape.ndims is not None:
        a = _expand_axis(a, x.shape.ndims)
    return make("ExpandDims", [x], {"axis": a}, name=name or "ExpandDims")


def _squeeze_axes(axis: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    out = sorted({normalize_axis(a, ndim, "squeeze axis") for a in axis})
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
        attrs={"axis": reg.AXES},
        shape=_squeeze_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [_copy(_squeeze_np(ins[0], attrs["axis"]))],
        grad=lambda op, g: [reshape(g, _shape_arg(op.inputs[0]))],
        traits=_VIEW,
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
    axis = deprecated_argument(axis, squeeze_dims, "axis", "squeeze_dims")
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
# Tile
def _tile_multiples(ctx: reg.InferenceContext) -> list[Dim] | None:
    """The multiples: the static attr, or the partial value of the multiples input."""
    if ctx.attrs["multiples"] is not None:
        return list(ctx.attrs["multiples"])
    v = ctx.value(1)
    if v is not None:
        return [ctx.fresh() if m is None else m for m in v.reshape(-1)]
    n = ctx.shapes[1][0] if ctx.shapes[1] is not None else None
    return None if not isinstance(n, int) else [ctx.fresh() for _ in builtins.range(n)]


def _tile_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    x, mult = ctx.shapes[0], _tile_multiples(ctx)
    if mult is None:
        return [None if x is None else tuple(ctx.fresh() for _ in x)]
    if any(isinstance(m, int) and m < 0 for m in mult):
        raise reg.ShapeError(f"multiples must be non-negative, got {list(mult)}")
    if x is None:
        return [tuple(ctx.fresh() for _ in mult)]
    if len(x) != len(mult):
        raise reg.ShapeError(
            f"multiples {list(mult)} must have one entry per dimension of a tensor of rank {len(x)}"
        )
    return [tuple(d * m for d, m in zip(x, mult, strict=True))]  # type: ignore[misc]


def _tile_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    mult = attrs["multiples"] if attrs["multiples"] is not None else tuple(int(m) for m in ins[1])
    if x.ndim != len(mult):
        raise ValueError(f"multiples {list(mult)} do not match an array of shape {x.shape}")
    return [np.tile(x, mult)]


def _tile_grad(op: Operation, g: Tensor) -> list[Any]:
    """Each input element is copied once per tile: view dim i as (multiple, dim) and sum the copies."""
    x = op.inputs[0]
    mult = op.attrs["multiples"]
    if mult is None:
        # Multiples known only at run time: split every dim; rank must be static.
        rank = x.shape.ndims
        if rank is None:
            raise ValueError(f"the gradient of tile {op.name!r} needs the input's rank to be known")
        m = op.inputs[1]
        split = stack([d for i in builtins.range(rank) for d in (m[i], _dim_arg(x, i))])
        return [build.reduce_sum(reshape(g, split), axis=list(builtins.range(0, 2 * rank, 2))), None]
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
    return [build.reduce_sum(reshape(g, split_dims), axis=axes)]


reg.register(
    reg.OpDef(
        name="Tile",
        attrs={"multiples": reg.optional(reg.tuple_of(reg.INT))},
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
            # Multiples as a run-time input (e.g. built from tf.shape).
            reg.Sample([rand(rng, (2, 3)), np.array([3, 2], np.int32)], {"multiples": None}, wrt=(0,)),
        ],
        doc="attr multiples, or None with the multiples as a second (int) input.",
    )
)


def tile(input: Any, multiples: Any, name: str | None = None) -> Tensor:
    """tf.tile. Multiples known when the graph is built become an attr; multiples built
    from tensors (e.g. ``[tf.shape(x)[0], 1]``) are a second input."""
    x = convert_to_tensor(input)
    try:
        mult = tuple(_static_ints(multiples, "multiples"))
    except TypeError:
        m = convert_to_tensor(multiples, dtype=_dt.int32) if not isinstance(multiples, Tensor) else multiples
        if m.shape.ndims != 1:
            raise ValueError(f"multiples must be a vector, got shape {m.shape}") from None
        n = m.shape.as_list()[0]
        if x.shape.ndims is not None and n is not None and n != x.shape.ndims:
            raise ValueError(
                f"Expected multiples argument to be a vector of length {x.shape.ndims}, got length {n}"
            ) from None
        return make("Tile", [x, m], {"multiples": None}, name=name or "Tile")
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
        attrs={
            "paddings": reg.tuple_of(reg.record(reg.INT, reg.INT)),
            "mode": reg.choice("CONSTANT", "REFLECT", "SYMMETRIC"),
            "constant_values": reg.SCALAR,
        },
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
        attrs={
            "paddings": reg.tuple_of(reg.record(reg.INT, reg.INT)),
            "mode": reg.choice("REFLECT", "SYMMETRIC"),
        },
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
    out = [normalize_axis(a, ndim, "reverse axis") for a in axis]
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
        attrs={"axis": reg.AXES},
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
