"""Pooling of TF1's ``tf.nn``: MaxPool, AvgPool, their gradients (MaxPoolGrad,
MaxPoolGradGrad, AvgPoolGrad), and their API (max_pool, avg_pool). NHWC only, as
convolution (whose window helpers this module uses); the NumPy meaning is
:mod:`graphc.kernels.conv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.frontend.graph import Operation, Tensor
from graphc.kernels import conv as _k
from graphc.ops.common import (
    FLOATS,
    NUMERIC,
    check_dtypes,
    check_same_dtypes,
    convert_to_tensor,
    make,
    rand,
)
from graphc.ops.conv_ops import (
    _check_nhwc,
    _check_window_attrs,
    _hw,
    _known4,
    _one_of,
    _padding,
    _rank4,
    _sizes_from_value,
    _spatial4,
    _window_out,
)
from graphc.ops.nn_common import _INDEX_DTYPES, _shape_input


# =============================================================================
# Pooling
# =============================================================================
def _pool_out_shape(ctx: reg.InferenceContext, x: Sequence[sym.Dim]) -> tuple[sym.Dim, ...]:
    a = ctx.attrs
    k, s, pad = a["ksize"], a["strides"], a["padding"]
    oh = _window_out(x[1], k[1], s[1], 1, pad, "height")
    ow = _window_out(x[2], k[2], s[2], 1, pad, "width")
    return (x[0], oh, ow, x[3])


def _pool_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _check_window_attrs(ctx, ("ksize", "strides"))
    _rank4(ctx.shapes[0], "input")
    return [_pool_out_shape(ctx, _known4(ctx, ctx.shapes[0]))]


def _max_pool_grad_input(ctx: reg.InferenceContext) -> list[sym.Dim]:
    """What MaxPoolGrad and MaxPoolGradGrad check first: the window attrs and three 4-D
    inputs (orig_input, orig_output, grad); orig_input's dims."""
    _check_window_attrs(ctx, ("ksize", "strides"))
    for i, what in enumerate(("orig_input", "orig_output", "grad")):
        _rank4(ctx.shapes[i], what)
    return _known4(ctx, ctx.shapes[0])


def _max_pool_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    # (orig_input, orig_output, grad): the result has orig_input's shape.
    x = _max_pool_grad_input(ctx)
    expected = _pool_out_shape(ctx, x)
    for i, what in ((1, "orig_output"), (2, "grad")):
        s = ctx.shapes[i]
        if s is not None:
            for e, d in zip(expected, s, strict=True):
                ctx.equal(e, d, f"{what} dimensions and the pool's output dimensions")
    return [tuple(x)]


def _max_pool_grad_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    # (orig_input, orig_output, grad of the input's shape): the result has the pool output's shape.
    x = _max_pool_grad_input(ctx)
    if ctx.shapes[2] is not None:
        for a, b in zip(x, ctx.shapes[2], strict=True):
            ctx.equal(a, b, "grad dimensions and orig_input dimensions")
    return [_pool_out_shape(ctx, x)]


def _avg_pool_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _check_window_attrs(ctx, ("ksize", "strides"))
    _rank4(ctx.shapes[1], "grad")
    x = _sizes_from_value(ctx, 0, "orig_input_shape")
    g = _known4(ctx, ctx.shapes[1])
    x[0] = ctx.equal(x[0], g[0], "orig_input_shape batch and grad batch")
    x[3] = ctx.equal(x[3], g[3], "orig_input_shape channels and grad channels")
    for e, d in zip(_pool_out_shape(ctx, x)[1:3], g[1:3], strict=True):
        ctx.equal(e, d, "grad spatial dimensions and the pool's output dimensions")
    return [tuple(x)]


def _pool_dtype(allowed: Sequence[_dt.DType], which: Sequence[int], out: int) -> Any:
    def rule(ctx: reg.InferenceContext) -> list[_dt.DType]:
        check_dtypes(ctx, allowed, which)
        check_same_dtypes(ctx, which)
        return [ctx.dtypes[out]]

    return rule


def _avg_pool_grad_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, _INDEX_DTYPES, [0])
    check_dtypes(ctx, FLOATS, [1])
    return [ctx.dtypes[1]]


def _pool_attrs(op: Operation) -> dict[str, Any]:
    a = op.attrs
    return {"ksize": a["ksize"], "strides": a["strides"], "padding": a["padding"], "data_format": "NHWC"}


def _max_pool_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y = op.inputs[0], op.outputs[0]
    return [make("MaxPoolGrad", [x, y, g], _pool_attrs(op))]


def _max_pool_grad_grad(op: Operation, g: Tensor) -> list[Any]:
    # Linear in its third input with the argmax fixed; the argmax routing is piecewise
    # constant in orig_input, so that input (and orig_output) get no gradient, as in TF.
    x, y, _ = op.inputs
    return [None, None, make("MaxPoolGradGrad", [x, y, g], _pool_attrs(op))]


def _max_pool_grad_grad_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y, _ = op.inputs
    return [None, None, make("MaxPoolGrad", [x, y, g], _pool_attrs(op))]


def _avg_pool_grad(op: Operation, g: Tensor) -> list[Any]:
    return [make("AvgPoolGrad", [_shape_input(op.inputs[0]), g], _pool_attrs(op))]


def _avg_pool_grad_grad(op: Operation, g: Tensor) -> list[Any]:
    # AvgPoolGrad is the adjoint of the (linear) AvgPool, so its adjoint is AvgPool again.
    return [None, make("AvgPool", [g], _pool_attrs(op))]


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    raise TypeError(f"max pooling does not support dtype {dtype}")


def _max_pool_grad_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    """For each pool window, the incoming value at the window's argmax (ties: the first in
    row-major order, the same rule as max_pool_grad, so this is its exact adjoint)."""
    x, _, gg = ins
    (kh, kw), (sh, sw), pad = _pool_args(attrs)
    n, h, w, c = x.shape
    oh, ph0, ph1 = _k.conv_output_size(h, kh, sh, 1, pad)
    ow, pw0, pw1 = _k.conv_output_size(w, kw, sw, 1, pad)
    widths = ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0))

    def windows(a: np.ndarray) -> np.ndarray:
        v = sliding_window_view(a, (kh, kw), axis=(1, 2))
        return v[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw].reshape(n, oh, ow, c, kh * kw)

    arg = windows(np.pad(x, widths, constant_values=_lowest(x.dtype))).argmax(axis=-1)
    picked = np.take_along_axis(windows(np.pad(gg, widths)), arg[..., None], axis=-1)[..., 0]
    return [np.ascontiguousarray(picked)]


def _pool_args(attrs: dict[str, Any]) -> tuple[tuple[int, int], tuple[int, int], str]:
    """The window arguments of the pool kernels: (ksize, strides) as (h, w) pairs, padding."""
    return _hw(attrs["ksize"]), _hw(attrs["strides"]), attrs["padding"]


def _pool_ref(fn: Any) -> Any:
    def ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        return [fn(ins[0], *_pool_args(attrs))]

    return ref


def _max_pool_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, y, dy = ins
    return [_k.max_pool_grad(x, y, dy, *_pool_args(attrs))]


def _avg_pool_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    sizes, dy = ins
    return [_k.avg_pool_grad([int(v) for v in sizes], dy, *_pool_args(attrs))]


# (input shape, ksize, strides, padding) for the samples
_POOL_CASES: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]] = [
    ((2, 4, 4, 3), (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
    ((2, 5, 5, 2), (1, 3, 3, 1), (1, 2, 2, 1), "SAME"),
    ((1, 5, 6, 2), (1, 3, 2, 1), (1, 1, 1, 1), "SAME"),
    ((1, 7, 6, 1), (1, 3, 3, 1), (1, 2, 2, 1), "VALID"),
]


def _pool_case_attrs(case: tuple[Any, ...]) -> dict[str, Any]:
    return {"ksize": case[1], "strides": case[2], "padding": case[3], "data_format": "NHWC"}


def _pool_out_np(case: tuple[Any, ...]) -> tuple[int, int, int, int]:
    xs, k, s, pad = case
    return (
        xs[0],
        _k.conv_output_size(xs[1], k[1], s[1], 1, pad)[0],
        _k.conv_output_size(xs[2], k[2], s[2], 1, pad)[0],
        xs[3],
    )


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values with gaps >= 0.1 between any two, so a max's argmax survives a finite-difference step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float64) * 0.1 - n * 0.05).reshape(shape)


def _max_pool_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [reg.Sample([_distinct(rng, c[0])], _pool_case_attrs(c)) for c in _POOL_CASES] + [
        reg.Sample(
            [rng.integers(-9, 9, size=(1, 4, 4, 2)).astype(np.int32)],
            _pool_case_attrs(_POOL_CASES[0]),
            grad=False,
        )
    ]


def _max_pool_grad_samples_of(grad_of_input: bool) -> Any:
    """Samples of MaxPoolGrad (a grad of the pool output's shape) or MaxPoolGradGrad (a grad
    of orig_input's shape, ``grad_of_input``): (orig_input, orig_output, grad), wrt grad."""

    def samples(rng: np.random.Generator) -> list[reg.Sample]:
        out = []
        for c in _POOL_CASES:
            x = _distinct(rng, c[0])
            y = _k.max_pool(x, *_pool_args(_pool_case_attrs(c)))
            g = rand(rng, x.shape if grad_of_input else y.shape)
            out.append(reg.Sample([x, y, g], _pool_case_attrs(c), wrt=(2,)))
        return out

    return samples


# Every pool op and every pool gradient op takes the same attributes (the gradients pass
# their forward op's on).
_POOL_ATTRS = {
    "ksize": reg.record(reg.INT, reg.INT, reg.INT, reg.INT),
    "strides": reg.record(reg.INT, reg.INT, reg.INT, reg.INT),
    "padding": reg.choice("SAME", "VALID"),
    "data_format": reg.choice("NHWC"),
}


reg.register(
    reg.OpDef(
        name="MaxPool",
        attrs=_POOL_ATTRS,
        shape=_pool_shape,
        dtype=_pool_dtype(NUMERIC, [0], 0),
        reference=_pool_ref(_k.max_pool),
        grad=_max_pool_grad,
        samples=_max_pool_samples,
    )
)
reg.register(
    reg.OpDef(
        name="MaxPoolGrad",
        attrs=_POOL_ATTRS,
        shape=_max_pool_grad_shape,
        dtype=_pool_dtype(FLOATS, [0, 1, 2], 2),
        reference=_max_pool_grad_ref,
        grad=_max_pool_grad_grad,
        doc="(orig_input, orig_output, grad) -> grad routed to each window's first argmax.",
        samples=_max_pool_grad_samples_of(False),
    )
)
reg.register(
    reg.OpDef(
        name="MaxPoolGradGrad",
        attrs=_POOL_ATTRS,
        shape=_max_pool_grad_grad_shape,
        dtype=_pool_dtype(FLOATS, [0, 1, 2], 2),
        reference=_max_pool_grad_grad_ref,
        grad=_max_pool_grad_grad_grad,
        doc="(orig_input, orig_output, g of orig_input's shape) -> g at each window's argmax.",
        samples=_max_pool_grad_samples_of(True),
    )
)
reg.register(
    reg.OpDef(
        name="AvgPool",
        attrs=_POOL_ATTRS,
        shape=_pool_shape,
        dtype=_pool_dtype(FLOATS, [0], 0),
        reference=_pool_ref(_k.avg_pool),
        grad=_avg_pool_grad,
        doc="Mean over each window's real (unpadded) cells, as TF1.",
        samples=lambda rng: [reg.Sample([rand(rng, c[0])], _pool_case_attrs(c)) for c in _POOL_CASES],
    )
)
reg.register(
    reg.OpDef(
        name="AvgPoolGrad",
        attrs=_POOL_ATTRS,
        shape=_avg_pool_grad_shape,
        dtype=_avg_pool_grad_dtype,
        reference=_avg_pool_grad_ref,
        grad=_avg_pool_grad_grad,
        doc="(orig_input_shape, grad) -> the adjoint of AvgPool applied to grad.",
        samples=lambda rng: [
            reg.Sample([np.array(c[0], np.int32), rand(rng, _pool_out_np(c))], _pool_case_attrs(c), wrt=(1,))
            for c in _POOL_CASES
        ],
    )
)


def _pool_api(
    op_type: str, value: Any, ksize: Any, strides: Any, padding: Any, data_format: Any, name: str | None
) -> Tensor:
    _check_nhwc(data_format)
    attrs = {
        "ksize": _spatial4(ksize, "ksize"),
        "strides": _spatial4(strides, "strides"),
        "padding": _padding(padding),
        "data_format": "NHWC",
    }
    return make(op_type, [convert_to_tensor(value)], attrs, name=name or op_type)


def max_pool(
    value: Any = None,
    ksize: Any = None,
    strides: Any = None,
    padding: Any = None,
    data_format: str | None = "NHWC",
    name: str | None = None,
    input: Any = None,  # noqa: A002
) -> Tensor:
    """tf.nn.max_pool (NHWC only); ksize/strides may be an int, [h, w] or [1, h, w, 1]."""
    return _pool_api(
        "MaxPool", _one_of(value, input, "value", "input"), ksize, strides, padding, data_format, name
    )


def avg_pool(
    value: Any = None,
    ksize: Any = None,
    strides: Any = None,
    padding: Any = None,
    data_format: str | None = "NHWC",
    name: str | None = None,
    input: Any = None,  # noqa: A002
) -> Tensor:
    """tf.nn.avg_pool (NHWC only): with SAME, border windows average their real cells only."""
    return _pool_api(
        "AvgPool", _one_of(value, input, "value", "input"), ksize, strides, padding, data_format, name
    )
