"""2-D convolution of TF1's ``tf.nn``: Conv2D and its two backprops (Conv2DBackpropInput,
Conv2DBackpropFilter), their API (conv2d, conv2d_backprop_input, conv2d_backprop_filter,
conv2d_transpose, conv1d), and the window and argument helpers that pooling shares.

Convolution and pooling are NHWC only; their NumPy meaning is
:mod:`graphc.kernels.conv`. Every backprop is an op with its own gradient so
that hessians through a CNN work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.frontend.graph import Operation, Tensor
from graphc.kernels import conv as _k
from graphc.ops.common import (
    FLOATS,
    check_dtypes,
    check_same_dtypes,
    convert_to_tensor,
    make,
    rand,
    static_value,
)
from graphc.ops.layout_ops import expand_dims, squeeze
from graphc.ops.nn_common import _INDEX_DTYPES, _scope, _shape_input

# =============================================================================
# Convolution
# =============================================================================
_PADDINGS = ("SAME", "VALID")


def _hw(v: Sequence[int]) -> tuple[int, int]:
    return int(v[1]), int(v[2])


def _check_nhwc(data_format: Any) -> None:
    if data_format not in (None, "NHWC"):
        if data_format in ("NCHW", "NCHW_VECT_C"):
            raise NotImplementedError(
                f"data_format={data_format!r} is not supported: graphc convolutions and pools are "
                f"NHWC only; transpose the input with tf.transpose(x, [0, 2, 3, 1]) instead"
            )
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")


def _check_window_attrs(ctx: reg.InferenceContext, keys: Sequence[str]) -> None:
    attrs = ctx.attrs
    _check_nhwc(attrs.get("data_format", "NHWC"))
    if attrs["padding"] not in _PADDINGS:
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {attrs['padding']!r}")
    for key in keys:
        v = attrs[key]
        if len(v) != 4 or any(int(x) < 1 for x in v):
            raise ValueError(f"{key} must be 4 positive ints, got {v!r}")
        if v[0] != 1 or v[3] != 1:
            raise ValueError(
                f"{ctx.op_type} does not support {key} other than 1 in the batch and channel "
                f"dimensions, got {tuple(v)}"
            )


def _window_out(size: sym.Dim, k: sym.Dim, stride: int, dilation: int, padding: str, what: str) -> sym.Dim:
    """TF's windowed output size: SAME ceil(in / s); VALID floor((in - ek) / s) + 1."""
    if padding == "SAME":
        out = sym.ceildiv(size, stride)
    else:
        out = sym.floordiv(size - (k - 1) * dilation - 1, stride) + 1  # type: ignore[operator]
    if isinstance(out, int) and out <= 0:
        raise reg.ShapeError(
            f"computed {what} output size would be {out} (non-positive) for input size {size}, "
            f"window {k}, stride {stride}, dilation {dilation}, padding {padding}"
        )
    return out


def _conv_out_shape(
    ctx: reg.InferenceContext, x: Sequence[sym.Dim], w: Sequence[sym.Dim]
) -> tuple[sym.Dim, ...]:
    a = ctx.attrs
    s, d, pad = a["strides"], a["dilations"], a["padding"]
    oh = _window_out(x[1], w[0], s[1], d[1], pad, "height")
    ow = _window_out(x[2], w[1], s[2], d[2], pad, "width")
    return (x[0], oh, ow, w[3])


def _rank4(s: reg.Shape, what: str) -> None:
    if s is not None and len(s) != 4:
        raise reg.ShapeError(f"{what} must be 4-D, got shape {reg.format_shape(s)}")


def _known4(ctx: reg.InferenceContext, s: reg.Shape) -> list[sym.Dim]:
    return list(s) if s is not None else [ctx.fresh() for _ in range(4)]


def _sizes_from_value(ctx: reg.InferenceContext, i: int, what: str) -> list[sym.Dim]:
    v = ctx.value(i)
    s = ctx.shapes[i]
    if s is not None and (len(s) != 1 or (isinstance(s[0], int) and s[0] != 4)):
        raise reg.ShapeError(f"{what} must be a 1-D tensor of 4 ints, got shape {reg.format_shape(s)}")
    if v is None:
        return [ctx.fresh() for _ in range(4)]
    dims = list(v.reshape(-1))
    for d in dims:
        if isinstance(d, int) and d < 0:
            raise reg.ShapeError(f"{what} has a negative dimension {d}")
    return dims


def _conv2d_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _check_window_attrs(ctx, ("strides", "dilations"))
    _rank4(ctx.shapes[0], "input")
    _rank4(ctx.shapes[1], "filter")
    x, w = _known4(ctx, ctx.shapes[0]), _known4(ctx, ctx.shapes[1])
    x[3] = w[2] = ctx.equal(x[3], w[2], "input channels and filter in_channels")
    return [_conv_out_shape(ctx, x, w)]


def _check_out_backprop(
    ctx: reg.InferenceContext, x: list[sym.Dim], w: list[sym.Dim], dy: list[sym.Dim]
) -> None:
    expected = _conv_out_shape(ctx, x, w)
    for e, g, what in zip(expected, dy, ("batch", "height", "width", "channels"), strict=True):
        ctx.equal(e, g, f"out_backprop {what} and the convolution's output {what}")


def _conv2d_bpi_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _check_window_attrs(ctx, ("strides", "dilations"))
    _rank4(ctx.shapes[1], "filter")
    _rank4(ctx.shapes[2], "out_backprop")
    x = _sizes_from_value(ctx, 0, "input_sizes")
    w, dy = _known4(ctx, ctx.shapes[1]), _known4(ctx, ctx.shapes[2])
    x[0] = ctx.equal(x[0], dy[0], "input_sizes batch and out_backprop batch")
    x[3] = ctx.equal(x[3], w[2], "input_sizes channels and filter in_channels")
    _check_out_backprop(ctx, x, w, dy)
    return [tuple(x)]


def _conv2d_bpf_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _check_window_attrs(ctx, ("strides", "dilations"))
    _rank4(ctx.shapes[0], "input")
    _rank4(ctx.shapes[2], "out_backprop")
    w = _sizes_from_value(ctx, 1, "filter_sizes")
    x, dy = _known4(ctx, ctx.shapes[0]), _known4(ctx, ctx.shapes[2])
    w[2] = ctx.equal(w[2], x[3], "filter_sizes in_channels and input channels")
    w[3] = ctx.equal(w[3], dy[3], "filter_sizes out_channels and out_backprop channels")
    _check_out_backprop(ctx, x, w, dy)
    return [tuple(w)]


def _conv_dtype(float_inputs: Sequence[int], size_input: int | None) -> Any:
    def rule(ctx: reg.InferenceContext) -> list[_dt.DType]:
        check_dtypes(ctx, FLOATS, float_inputs)
        check_same_dtypes(ctx, float_inputs)
        if size_input is not None:
            check_dtypes(ctx, _INDEX_DTYPES, [size_input])
        return [ctx.dtypes[float_inputs[0]]]

    return rule


def _conv_attrs(op: Operation) -> dict[str, Any]:
    a = op.attrs
    return {
        "strides": a["strides"],
        "padding": a["padding"],
        "data_format": "NHWC",
        "dilations": a["dilations"],
    }


def _conv_op(op_type: str, inputs: list[Tensor], attrs: dict[str, Any], name: str | None) -> Tensor:
    return make(op_type, inputs, attrs, name=name or op_type)


def _conv2d_grad(op: Operation, g: Tensor) -> list[Any]:
    x, w = op.inputs
    a = _conv_attrs(op)
    return [
        _conv_op("Conv2DBackpropInput", [_shape_input(x), w, g], a, None),
        _conv_op("Conv2DBackpropFilter", [x, _shape_input(w), g], a, None),
    ]


def _conv2d_bpi_grad(op: Operation, g: Tensor) -> list[Any]:
    # Backprop-input is linear in filter and in out_backprop; its adjoints are the
    # filter backprop (of g against dy) and the forward conv (of g with the filter).
    _, w, dy = op.inputs
    a = _conv_attrs(op)
    return [
        None,
        _conv_op("Conv2DBackpropFilter", [g, _shape_input(w), dy], a, None),
        _conv_op("Conv2D", [g, w], a, None),
    ]


def _conv2d_bpf_grad(op: Operation, g: Tensor) -> list[Any]:
    x, _, dy = op.inputs
    a = _conv_attrs(op)
    return [
        _conv_op("Conv2DBackpropInput", [_shape_input(x), g, dy], a, None),
        None,
        _conv_op("Conv2D", [x, g], a, None),
    ]


def _conv_args(attrs: dict[str, Any]) -> tuple[tuple[int, int], str, tuple[int, int]]:
    """The window arguments of the conv kernels: strides (h, w), padding, dilations (h, w)."""
    return _hw(attrs["strides"]), attrs["padding"], _hw(attrs["dilations"])


def _conv2d_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w = ins
    return [_k.conv2d(x, w, *_conv_args(attrs))]


def _conv2d_bpi_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    sizes, w, dy = ins
    return [_k.conv2d_backprop_input([int(v) for v in sizes], w, dy, *_conv_args(attrs))]


def _conv2d_bpf_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, sizes, dy = ins
    return [_k.conv2d_backprop_filter(x, [int(v) for v in sizes], dy, *_conv_args(attrs))]


# (input shape, filter shape, strides, padding, dilations) for the samples
_CONV_CASES: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str, tuple[int, ...]]] = [
    ((2, 5, 5, 3), (3, 3, 3, 4), (1, 1, 1, 1), "SAME", (1, 1, 1, 1)),
    ((2, 6, 7, 2), (3, 2, 2, 3), (1, 1, 1, 1), "VALID", (1, 1, 1, 1)),
    ((1, 7, 6, 2), (3, 3, 2, 2), (1, 2, 2, 1), "SAME", (1, 1, 1, 1)),
    ((2, 7, 8, 2), (3, 2, 2, 3), (1, 2, 2, 1), "VALID", (1, 1, 1, 1)),
    ((1, 7, 7, 2), (2, 2, 2, 3), (1, 1, 1, 1), "VALID", (1, 2, 2, 1)),
    ((1, 5, 6, 1), (2, 3, 1, 2), (1, 1, 1, 1), "SAME", (1, 2, 2, 1)),
]


def _conv_case_attrs(case: tuple[Any, ...]) -> dict[str, Any]:
    _, _, strides, padding, dilations = case
    return {"strides": strides, "padding": padding, "data_format": "NHWC", "dilations": dilations}


def _conv_out_np(case: tuple[Any, ...]) -> tuple[int, int, int, int]:
    xs, ws, strides, padding, dilations = case
    oh = _k.conv_output_size(xs[1], ws[0], strides[1], dilations[1], padding)[0]
    ow = _k.conv_output_size(xs[2], ws[1], strides[2], dilations[2], padding)[0]
    return (xs[0], oh, ow, ws[3])


def _conv2d_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [reg.Sample([rand(rng, c[0]), rand(rng, c[1])], _conv_case_attrs(c)) for c in _CONV_CASES]


def _conv_backprop_samples(sizes_at: int) -> Any:
    """Samples of a conv backprop whose input ``sizes_at`` (0: input_sizes, 1: filter_sizes)
    holds the other operand's sizes: (x or sizes, w or sizes, out_backprop), wrt the rest."""

    def samples(rng: np.random.Generator) -> list[reg.Sample]:
        out = []
        for c in _CONV_CASES:
            ins = [np.array(c[i], np.int32) if i == sizes_at else rand(rng, c[i]) for i in (0, 1)]
            wrt = tuple(i for i in (0, 1, 2) if i != sizes_at)
            out.append(reg.Sample([*ins, rand(rng, _conv_out_np(c))], _conv_case_attrs(c), wrt=wrt))
        return out

    return samples


# Conv2D and its backprops take the same attributes (the gradients pass their op's on).
_CONV_ATTRS = {
    "strides": reg.record(reg.INT, reg.INT, reg.INT, reg.INT),
    "padding": reg.choice("SAME", "VALID"),
    "data_format": reg.choice("NHWC"),
    "dilations": reg.record(reg.INT, reg.INT, reg.INT, reg.INT),
}

reg.register(
    reg.OpDef(
        name="Conv2D",
        attrs=_CONV_ATTRS,
        shape=_conv2d_shape,
        dtype=_conv_dtype([0, 1], None),
        reference=_conv2d_ref,
        grad=_conv2d_grad,
        traits=frozenset({"conv"}),
        doc="NHWC input, HWIO filter; cross-correlation as TF1.",
        samples=_conv2d_samples,
    )
)
reg.register(
    reg.OpDef(
        name="Conv2DBackpropInput",
        attrs=_CONV_ATTRS,
        shape=_conv2d_bpi_shape,
        dtype=_conv_dtype([1, 2], 0),
        reference=_conv2d_bpi_ref,
        grad=_conv2d_bpi_grad,
        traits=frozenset({"conv"}),
        doc="(input_sizes, filter, out_backprop) -> d(conv2d)/d(input); also conv2d_transpose.",
        samples=_conv_backprop_samples(0),
    )
)
reg.register(
    reg.OpDef(
        name="Conv2DBackpropFilter",
        attrs=_CONV_ATTRS,
        shape=_conv2d_bpf_shape,
        dtype=_conv_dtype([0, 2], 1),
        reference=_conv2d_bpf_ref,
        grad=_conv2d_bpf_grad,
        traits=frozenset({"conv"}),
        doc="(input, filter_sizes, out_backprop) -> d(conv2d)/d(filter).",
        samples=_conv_backprop_samples(1),
    )
)


def _spatial4(value: Any, what: str, default: Any = None) -> tuple[int, int, int, int]:
    """TF's int / [h, w] / [1, h, w, 1] forms of strides, dilations and ksize, as a 4-tuple."""
    if value is None:
        if default is None:
            raise ValueError(f"{what} must be given")
        value = default
    if isinstance(value, Tensor):
        value = static_value(value, what)
    arr = np.asarray(value).reshape(-1)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be ints, got {value!r}")
    v = [int(x) for x in arr]
    if len(v) == 1:
        v = v * 2
    if len(v) == 2:
        return (1, v[0], v[1], 1)
    if len(v) == 4:
        return (v[0], v[1], v[2], v[3])
    raise ValueError(f"{what} should be of length 1, 2 or 4, got {len(v)}: {value!r}")


def _padding(padding: Any) -> str:
    if isinstance(padding, str):
        p = padding.upper()
        if p in _PADDINGS:
            return p
        if p == "EXPLICIT":
            raise NotImplementedError("explicit padding is not supported; use tf.pad, then 'VALID'")
    elif isinstance(padding, list | tuple):
        raise NotImplementedError(
            "explicit padding lists are not supported; use tf.pad on the input, then padding='VALID'"
        )
    raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")


def _conv_api_attrs(strides: Any, padding: Any, data_format: Any, dilations: Any) -> dict[str, Any]:
    _check_nhwc(data_format)
    return {
        "strides": _spatial4(strides, "strides"),
        "padding": _padding(padding),
        "data_format": "NHWC",
        "dilations": _spatial4(dilations, "dilations", (1, 1, 1, 1)),
    }


def _one_of(a: Any, b: Any, a_name: str, b_name: str) -> Any:
    if a is not None and b is not None:
        raise ValueError(f"'{a_name}' and '{b_name}' are aliases: pass only one of them")
    if a is None and b is None:
        raise ValueError(f"'{a_name}' (or its alias '{b_name}') must be given")
    return a if a is not None else b


def _floats_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    x = convert_to_tensor(a)
    return x, convert_to_tensor(b, preferred_dtype=x.dtype)


def _sizes_tensor(v: Any) -> Tensor:
    if isinstance(v, Tensor):
        return v
    return convert_to_tensor(v, dtype=_dt.int32)


def conv2d(
    input: Any,  # noqa: A002  (TF's name)
    filter: Any = None,  # noqa: A002
    strides: Any = None,
    padding: Any = None,
    use_cudnn_on_gpu: bool = True,
    data_format: str | None = "NHWC",
    dilations: Any = (1, 1, 1, 1),
    name: str | None = None,
    filters: Any = None,
) -> Tensor:
    """tf.nn.conv2d (NHWC only; NCHW raises NotImplementedError). strides/dilations may be
    an int, [h, w] or [1, h, w, 1]; padding 'SAME'/'VALID' (any case); use_cudnn_on_gpu is ignored."""
    w = _one_of(filter, filters, "filter", "filters")
    attrs = _conv_api_attrs(strides, padding, data_format, dilations)
    x, w = _floats_pair(input, w)
    return _conv_op("Conv2D", [x, w], attrs, name)


def conv2d_backprop_input(
    input_sizes: Any,
    filter: Any = None,  # noqa: A002
    out_backprop: Any = None,
    strides: Any = None,
    padding: Any = None,
    use_cudnn_on_gpu: bool = True,
    data_format: str | None = "NHWC",
    dilations: Any = (1, 1, 1, 1),
    name: str | None = None,
    filters: Any = None,
) -> Tensor:
    """tf.nn.conv2d_backprop_input: the gradient of conv2d w.r.t. its input (NHWC only)."""
    w = _one_of(filter, filters, "filter", "filters")
    attrs = _conv_api_attrs(strides, padding, data_format, dilations)
    w, dy = _floats_pair(w, out_backprop)
    return _conv_op("Conv2DBackpropInput", [_sizes_tensor(input_sizes), w, dy], attrs, name)


def conv2d_backprop_filter(
    input: Any,  # noqa: A002
    filter_sizes: Any,
    out_backprop: Any,
    strides: Any,
    padding: Any,
    use_cudnn_on_gpu: bool = True,
    data_format: str | None = "NHWC",
    dilations: Any = (1, 1, 1, 1),
    name: str | None = None,
) -> Tensor:
    """tf.nn.conv2d_backprop_filter: the gradient of conv2d w.r.t. its filter (NHWC only)."""
    attrs = _conv_api_attrs(strides, padding, data_format, dilations)
    x, dy = _floats_pair(input, out_backprop)
    return _conv_op("Conv2DBackpropFilter", [x, _sizes_tensor(filter_sizes), dy], attrs, name)


def conv2d_transpose(
    value: Any = None,
    filter: Any = None,  # noqa: A002
    output_shape: Any = None,
    strides: Any = None,
    padding: str = "SAME",
    data_format: str | None = "NHWC",
    name: str | None = None,
    input: Any = None,  # noqa: A002
    filters: Any = None,
    dilations: Any = None,
) -> Tensor:
    """tf.nn.conv2d_transpose: Conv2DBackpropInput with ``output_shape`` as the input sizes
    (filter is [h, w, out_channels, in_channels]); NHWC only."""
    v = _one_of(value, input, "value", "input")
    w = _one_of(filter, filters, "filter", "filters")
    if output_shape is None:
        raise ValueError("conv2d_transpose needs output_shape")
    attrs = _conv_api_attrs(strides, padding, data_format, dilations)
    w, dy = _floats_pair(w, v)
    return _conv_op(
        "Conv2DBackpropInput", [_sizes_tensor(output_shape), w, dy], attrs, name or "conv2d_transpose"
    )


def conv1d(
    value: Any = None,
    filters: Any = None,
    stride: Any = None,
    padding: Any = None,
    use_cudnn_on_gpu: Any = None,
    data_format: str | None = None,
    name: str | None = None,
    input: Any = None,  # noqa: A002
    dilations: Any = None,
) -> Tensor:
    """tf.nn.conv1d ('NWC' only): as TF, a conv2d over [N, 1, W, C] with a [1, k, C, O] filter."""
    if data_format not in (None, "NWC"):
        if data_format == "NCW":
            raise NotImplementedError(
                "data_format='NCW' is not supported: graphc convolutions are channels-last"
            )
        raise ValueError(f"data_format must be 'NWC' or 'NCW', got {data_format!r}")
    v = _one_of(value, input, "value", "input")
    s = _conv1d_param(stride, "stride", None)
    d = _conv1d_param(dilations, "dilations", 1)
    with _scope(name, "conv1d"):
        x, w = _floats_pair(v, filters)
        y = conv2d(expand_dims(x, 1), expand_dims(w, 0), (1, 1, s, 1), padding, dilations=(1, 1, d, 1))
        return squeeze(y, [1])


def _conv1d_param(value: Any, what: str, default: int | None) -> int:
    """TF's int / [w] / [1, w, 1] forms of conv1d's stride and dilations."""
    if value is None:
        if default is None:
            raise ValueError(f"{what} must be given")
        return default
    v = [int(x) for x in np.asarray(value).reshape(-1)]
    if len(v) == 1:
        return v[0]
    if len(v) == 3 and v[0] == v[2] == 1:
        return v[1]
    raise ValueError(f"{what} should be an int, [w] or [1, w, 1], got {value!r}")
