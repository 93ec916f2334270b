"""Neural-network ops (TF1's ``tf.nn``): softmax and cross-entropies, 2-D convolution
and its two backprops, max/avg pooling and their gradients, in_top_k, l2_loss, and
the composite API built on them (dropout, moments, batch_normalization, ...).

Convolution and pooling are NHWC only; their NumPy meaning is
:mod:`graphc.ops.kernels.conv`. Every backprop is an op with its own gradient so
that hessians through a CNN work.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc import dtypes as _dt
from graphc import symbolic as sym
from graphc.frontend.graph import Operation, Tensor, get_default_graph
from graphc.ops import registry as reg
from graphc.ops.common import (
    FLOATS,
    NUMERIC,
    check_dtypes,
    check_same_dtypes,
    convert_to_tensor,
    make,
    make_op,
    rand,
    static_value,
)
from graphc.ops.core_ops import constant, shape, stop_gradient
from graphc.ops.kernels import conv as _k
from graphc.ops.math_ops import (  # noqa: F401  (re-exported as tf.nn.*)
    add,
    cast,
    elu,
    exp,
    leaky_relu,
    log1p,
    maximum,
    multiply,
    negative,
    relu,
    relu6,
    rsqrt,
    selu,
    sigmoid,
    softplus,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    where,
)

_INDEX_DTYPES = (_dt.int32, _dt.int64)


# -- lazily imported siblings (written alongside this module) ----------------------------
def _reduce_sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    from graphc.ops.reduction_ops import reduce_sum

    return reduce_sum(x, axis=axis, keepdims=keepdims)


def _reduce_mean(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    from graphc.ops.reduction_ops import reduce_mean

    return reduce_mean(x, axis=axis, keepdims=keepdims, name=name)


def _expand_dims(x: Tensor, axis: int) -> Tensor:
    from graphc.ops.array_ops import expand_dims

    return expand_dims(x, axis)


def _reshape(x: Tensor, new_shape: Any, name: str | None = None) -> Tensor:
    from graphc.ops.array_ops import reshape

    return reshape(x, new_shape, name=name)


def _zeros_like(x: Tensor) -> Tensor:
    from graphc.ops.array_ops import zeros_like

    return zeros_like(x)


def _ones_like(x: Tensor) -> Tensor:
    from graphc.ops.array_ops import ones_like

    return ones_like(x)


@contextlib.contextmanager
def _scope(name: str | None, default: str) -> Iterator[str]:
    with get_default_graph().name_scope(name or default) as s:
        yield s


def _c(v: float, like: Tensor) -> Tensor:
    return convert_to_tensor(v, dtype=like.dtype)


def _shape_input(t: Tensor) -> Tensor:
    """The shape of ``t`` as an int32 tensor: a constant when static (no dependency on t)."""
    if t.shape.is_fully_defined():
        return constant(np.array(t.shape.as_list(), dtype=np.int32))
    return shape(t)


def _alias(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    if new is not None and old is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'.")
    return new if new is not None else old


def _static_rank(t: Tensor) -> int | None:
    return t.shape.ndims


# =============================================================================
# Softmax / LogSoftmax
# =============================================================================
def _softmax_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, axis = ins[0], attrs["axis"]
    # Shifting by the max keeps exp() from overflowing for large logits.
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return [(e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype, copy=False)]


def _log_softmax_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, axis = ins[0], attrs["axis"]
    shifted = x - np.max(x, axis=axis, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return [out.astype(x.dtype, copy=False)]


def _softmax_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[0]
    if s is not None:
        if not s:
            raise reg.ShapeError(f"{ctx.op_type} needs a tensor of rank >= 1, got a scalar")
        reg.normalize_axis(ctx.attrs["axis"], len(s))
    return [s]


def _float_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, FLOATS)
    check_same_dtypes(ctx)
    return [ctx.dtypes[0]]


def _softmax_grad(op: Operation, g: Tensor) -> list[Any]:
    y, axis = op.outputs[0], op.attrs["axis"]
    return [multiply(subtract(g, _reduce_sum(multiply(g, y), axis, keepdims=True)), y)]


def _log_softmax_grad(op: Operation, g: Tensor) -> list[Any]:
    y, axis = op.outputs[0], op.attrs["axis"]
    return [subtract(g, multiply(_reduce_sum(g, axis, keepdims=True), exp(y)))]


def _softmax_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (3, 4))], {"axis": 1}),
        reg.Sample([rand(rng, (3, 4))], {"axis": 0}),
        reg.Sample([rand(rng, (2, 3, 4))], {"axis": 1}),
        reg.Sample([rand(rng, (5,))], {"axis": 0}),
        reg.Sample([rand(rng, (2, 3))], {"axis": -1}),  # as built when the rank is unknown
    ]


for _name, _ref, _grad in (
    ("Softmax", _softmax_ref, _softmax_grad),
    ("LogSoftmax", _log_softmax_ref, _log_softmax_grad),
):
    reg.register(
        reg.OpDef(
            name=_name,
            shape=_softmax_shape,
            dtype=_float_dtype,
            reference=_ref,
            grad=_grad,
            traits=frozenset({"softmax"}),
            samples=_softmax_samples,
        )
    )


def _softmax_axis(logits: Tensor, axis: Any, dim: Any) -> int:
    axis = _alias(axis, dim, "axis", "dim")
    axis = -1 if axis is None else int(axis)
    r = _static_rank(logits)
    if r is not None:
        try:
            axis = reg.normalize_axis(axis, r)
        except reg.ShapeError as e:
            raise ValueError(str(e)) from None
    return axis


def softmax(logits: Any, axis: int | None = None, name: str | None = None, dim: int | None = None) -> Tensor:
    """tf.nn.softmax (max-shifted, stable); ``dim`` is TF1's deprecated alias of ``axis``."""
    x = convert_to_tensor(logits)
    return make("Softmax", [x], {"axis": _softmax_axis(x, axis, dim)}, name=name or "Softmax")


def log_softmax(
    logits: Any, axis: int | None = None, name: str | None = None, dim: int | None = None
) -> Tensor:
    """tf.nn.log_softmax (max-shifted, stable); ``dim`` is TF1's deprecated alias of ``axis``."""
    x = convert_to_tensor(logits)
    return make("LogSoftmax", [x], {"axis": _softmax_axis(x, axis, dim)}, name=name or "LogSoftmax")


# =============================================================================
# Cross-entropies
# =============================================================================
def _log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _xent_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    logits, labels = ins
    logp = _log_softmax_rows(logits)
    loss = -np.sum(labels * logp, axis=-1)
    return [loss.astype(logits.dtype, copy=False), (np.exp(logp) - labels).astype(logits.dtype, copy=False)]


def _rank2(ctx: reg.InferenceContext, i: int, what: str) -> None:
    s = ctx.shapes[i]
    if s is not None and len(s) != 2:
        raise reg.ShapeError(f"{what} must be 2-D [batch, classes], got shape {reg.format_shape(s)}")


def _xent_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _rank2(ctx, 0, "logits")
    _rank2(ctx, 1, "labels")
    known = [s for s in ctx.shapes if s is not None]
    if not known:
        b, c = ctx.fresh(), ctx.fresh()
    else:
        b, c = known[0]
        for s in known[1:]:
            b = ctx.equal(b, s[0], "batch dimensions of logits and labels")
            c = ctx.equal(c, s[1], "class dimensions of logits and labels")
    return [(b,), (b, c)]


def _xent_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, FLOATS)
    check_same_dtypes(ctx)
    return [ctx.dtypes[0], ctx.dtypes[0]]


def _softmax_jacobian_vjp(g_bp: Tensor, probs: Tensor) -> Tensor:
    """g_bp pushed back through softmax: the second-order term for d(backprop)/d(logits)."""
    return multiply(subtract(g_bp, _reduce_sum(multiply(g_bp, probs), -1, keepdims=True)), probs)


def _xent_grad(op: Operation, g_loss: Tensor | None, g_bp: Tensor | None) -> list[Any]:
    logits, labels = op.inputs
    # Rebuilt from Softmax/LogSoftmax (not from the backprop output) so that these
    # gradients are themselves differentiable.
    probs = softmax(logits)
    g_logits: Tensor | None = None
    g_labels: Tensor | None = None
    if g_loss is not None:
        gl = _expand_dims(g_loss, -1)
        g_logits = multiply(gl, subtract(probs, labels))
        g_labels = multiply(gl, negative(log_softmax(logits)))
    if g_bp is not None:
        extra = _softmax_jacobian_vjp(g_bp, probs)
        g_logits = extra if g_logits is None else add(g_logits, extra)
        g_labels = negative(g_bp) if g_labels is None else subtract(g_labels, g_bp)
    return [g_logits, g_labels]


def _prob_labels(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    e = np.exp(rng.normal(size=shape))
    return e / e.sum(-1, keepdims=True)


reg.register(
    reg.OpDef(
        name="SoftmaxCrossEntropyWithLogits",
        shape=_xent_shape,
        dtype=_xent_dtype,
        reference=_xent_ref,
        grad=_xent_grad,
        traits=frozenset({"xent"}),
        num_outputs=2,
        doc="(logits [b, c], labels [b, c]) -> (loss [b], backprop [b, c] = softmax(logits) - labels).",
        samples=lambda rng: [
            reg.Sample([rand(rng, (3, 5)), _prob_labels(rng, (3, 5))]),
            reg.Sample([rand(rng, (1, 2)), _prob_labels(rng, (1, 2))]),
        ],
    )
)


def _sparse_xent_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    logits, labels = ins
    n, c = logits.shape
    bad = (labels < 0) | (labels >= c)
    if np.any(bad):
        first = int(labels[np.argmax(bad)])
        raise ValueError(
            f"Received a label value of {first} which is outside the valid range of [0, {c}). "
            f"Label values: {' '.join(str(int(v)) for v in labels)}"
        )
    logp = _log_softmax_rows(logits)
    rows = np.arange(n)
    loss = -logp[rows, labels]
    backprop = np.exp(logp)
    backprop[rows, labels] -= 1
    return [loss.astype(logits.dtype, copy=False), backprop.astype(logits.dtype, copy=False)]


def _sparse_xent_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _rank2(ctx, 0, "logits")
    lab = ctx.shapes[1]
    if lab is not None and len(lab) != 1:
        raise reg.ShapeError(f"labels must be 1-D [batch], got shape {reg.format_shape(lab)}")
    logits = ctx.shapes[0]
    b, c = logits if logits is not None else (ctx.fresh(), ctx.fresh())
    if lab is not None:
        b = ctx.equal(b, lab[0], "batch dimensions of logits and labels")
    return [(b,), (b, c)]


def _sparse_xent_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, FLOATS, [0])
    check_dtypes(ctx, _INDEX_DTYPES, [1])
    return [ctx.dtypes[0], ctx.dtypes[0]]


def _labels_one_hot(op: Operation, probs: Tensor) -> Tensor:
    """The one-hot labels as a constant of the logits' dtype (no gradient flows into it)."""
    logits, labels = op.inputs
    depth = logits.shape.as_list()[-1] if logits.shape.ndims is not None else None
    if depth is not None:
        from graphc.ops.array_ops import one_hot

        return one_hot(labels, depth, dtype=logits.dtype)
    # one_hot needs a static depth; with an unknown class count, recover the labels
    # as softmax - backprop (exact up to rounding), behind stop_gradient.
    return stop_gradient(subtract(probs, op.outputs[1]))


def _sparse_xent_grad(op: Operation, g_loss: Tensor | None, g_bp: Tensor | None) -> list[Any]:
    logits = op.inputs[0]
    probs = softmax(logits)
    g_logits: Tensor | None = None
    if g_loss is not None:
        g_logits = multiply(_expand_dims(g_loss, -1), subtract(probs, _labels_one_hot(op, probs)))
    if g_bp is not None:
        extra = _softmax_jacobian_vjp(g_bp, probs)
        g_logits = extra if g_logits is None else add(g_logits, extra)
    return [g_logits, None]


reg.register(
    reg.OpDef(
        name="SparseSoftmaxCrossEntropyWithLogits",
        shape=_sparse_xent_shape,
        dtype=_sparse_xent_dtype,
        reference=_sparse_xent_ref,
        grad=_sparse_xent_grad,
        traits=frozenset({"xent"}),
        num_outputs=2,
        doc="(logits [b, c], int labels [b]) -> (loss [b], backprop [b, c]); labels must be in [0, c).",
        samples=lambda rng: [
            reg.Sample([rand(rng, (4, 5)), rng.integers(0, 5, size=4).astype(np.int32)], wrt=(0,)),
            reg.Sample([rand(rng, (3, 2)), rng.integers(0, 2, size=3).astype(np.int64)], wrt=(0,)),
        ],
    )
)


def _check_named(sentinel: Any, fn: str, labels: Any, logits: Any) -> None:
    if sentinel is not None:
        raise ValueError(f"Only call `{fn}` with named arguments (labels=..., logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError(f"Both labels and logits must be provided to `{fn}`.")


def _leading_shape(x: Tensor) -> Any:
    """x's shape without its last dim, as a list (-1 for one unknown dim) or a tensor."""
    dims = x.shape.as_list()[:-1]
    if dims.count(None) <= 1:
        return [-1 if d is None else d for d in dims]
    from graphc.ops.array_ops import gather

    return gather(shape(x), list(range(len(dims))))


def _flatten_to_2d(x: Tensor) -> Tensor:
    last = x.shape.as_list()[-1]
    if last is None:
        from graphc.ops.array_ops import concat, gather

        target = concat([constant(np.array([-1], np.int32)), gather(shape(x), [len(x.shape) - 1])], 0)
        return _reshape(x, target)
    return _reshape(x, [-1, last])


def _move_axis_last(x: Tensor, axis: int) -> Tensor:
    from graphc.ops.array_ops import transpose

    r = len(x.shape)
    perm = [i for i in range(r) if i != axis] + [axis]
    return transpose(x, perm)


def _dense_xent(labels: Tensor, logits: Tensor, axis: int, name: str) -> Tensor:
    """The loss output of the op, moving ``axis`` last and flattening to 2-D as TF1 does."""
    precise = cast(logits, _dt.float32) if logits.dtype == _dt.float16 else logits
    labels = cast(labels, precise.dtype)
    rank = _static_rank(precise)
    if rank is None:
        # Unknown rank: the op itself checks for rank 2 when the graph is lowered.
        loss = make_op("SoftmaxCrossEntropyWithLogits", [precise, labels], name=name).outputs[0]
    else:
        if rank == 0:
            raise ValueError("logits must have rank >= 1 for a softmax cross-entropy, got a scalar")
        axis = reg.normalize_axis(axis, rank)
        if axis != rank - 1:
            precise, labels = _move_axis_last(precise, axis), _move_axis_last(labels, axis)
        if rank == 2:
            loss = make_op("SoftmaxCrossEntropyWithLogits", [precise, labels], name=name).outputs[0]
        else:
            out_shape = _leading_shape(precise)
            flat = make_op(
                "SoftmaxCrossEntropyWithLogits", [_flatten_to_2d(precise), _flatten_to_2d(labels)]
            ).outputs[0]
            loss = _reshape(flat, out_shape, name=name)
    return cast(loss, _dt.float16) if logits.dtype == _dt.float16 else loss


def softmax_cross_entropy_with_logits_v2(
    labels: Any, logits: Any, axis: int | None = None, name: str | None = None, dim: int | None = None
) -> Tensor:
    """tf.nn.softmax_cross_entropy_with_logits_v2: gradients flow into ``labels`` too;
    labels are cast to the logits' dtype; any rank (flattened to 2-D internally)."""
    axis = _alias(axis, dim, "axis", "dim")
    x = convert_to_tensor(logits)
    y = convert_to_tensor(labels, preferred_dtype=x.dtype)
    return _dense_xent(y, x, -1 if axis is None else int(axis), name or "softmax_cross_entropy_with_logits")


def softmax_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, dim: int = -1, name: str | None = None
) -> Tensor:
    """TF1's (deprecated) v1 op: as v2 but ``labels`` are wrapped in stop_gradient."""
    _check_named(_sentinel, "softmax_cross_entropy_with_logits", labels, logits)
    x = convert_to_tensor(logits)
    y = stop_gradient(convert_to_tensor(labels, preferred_dtype=x.dtype))
    return _dense_xent(y, x, dim, name or "softmax_cross_entropy_with_logits")


def sparse_softmax_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, name: str | None = None
) -> Tensor:
    """tf.nn.sparse_softmax_cross_entropy_with_logits: labels (int32/int64) have the rank
    of logits minus one; an out-of-range label is an error when run (TF's CPU behaviour)."""
    _check_named(_sentinel, "sparse_softmax_cross_entropy_with_logits", labels, logits)
    x = convert_to_tensor(logits)
    y = convert_to_tensor(labels)
    if y.dtype not in _INDEX_DTYPES:
        raise TypeError(f"labels must be int32 or int64 for a sparse cross-entropy, got {y.dtype.name}")
    precise = cast(x, _dt.float32) if x.dtype == _dt.float16 else x
    xr, yr = _static_rank(x), _static_rank(y)
    nm = name or "SparseSoftmaxCrossEntropyWithLogits"
    if xr is not None and yr is not None:
        if yr != xr - 1:
            raise ValueError(
                f"Rank mismatch: Rank of labels (received {yr}) should equal rank of logits minus 1 "
                f"(received {xr})."
            )
        if not y.shape.is_compatible_with(x.shape[:-1]):
            raise ValueError(
                f"Shape mismatch: The shape of labels (received {y.shape}) should equal the shape of "
                f"logits except for the last dimension (received {x.shape})."
            )
    if xr is None or xr == 2:
        loss = make_op("SparseSoftmaxCrossEntropyWithLogits", [precise, y], name=nm).outputs[0]
    elif xr == 1:
        raise ValueError(f"logits must have rank >= 2 for a sparse cross-entropy, got shape {x.shape}")
    else:
        out_shape = _leading_shape(precise)
        flat = make_op(
            "SparseSoftmaxCrossEntropyWithLogits", [_flatten_to_2d(precise), _reshape(y, [-1])]
        ).outputs[0]
        loss = _reshape(flat, out_shape, name=nm)
    return cast(loss, _dt.float16) if x.dtype == _dt.float16 else loss


def sigmoid_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, name: str | None = None
) -> Tensor:
    """tf.nn.sigmoid_cross_entropy_with_logits, TF's stable form
    ``max(x, 0) - x * z + log1p(exp(-|x|))``."""
    _check_named(_sentinel, "sigmoid_cross_entropy_with_logits", labels, logits)
    x = convert_to_tensor(logits)
    z = convert_to_tensor(labels, preferred_dtype=x.dtype)
    if not z.shape.is_compatible_with(x.shape):
        raise ValueError(f"logits and labels must have the same shape ({x.shape} vs {z.shape})")
    with _scope(name, "logistic_loss"):
        zeros = _zeros_like(x)
        cond = x >= zeros
        relu_logits = where(cond, x, zeros)
        neg_abs_logits = where(cond, negative(x), x)
        return add(subtract(relu_logits, multiply(x, z)), log1p(exp(neg_abs_logits)))


def weighted_cross_entropy_with_logits(
    targets: Any = None,
    logits: Any = None,
    pos_weight: Any = None,
    name: str | None = None,
    labels: Any = None,
) -> Tensor:
    """tf.nn.weighted_cross_entropy_with_logits (TF1 argument names; ``labels`` is the v2 alias)."""
    targets = _alias(targets, labels, "targets", "labels")
    x = convert_to_tensor(logits)
    z = convert_to_tensor(targets, preferred_dtype=x.dtype)
    if not z.shape.is_compatible_with(x.shape):
        raise ValueError(f"logits and targets must have the same shape ({x.shape} vs {z.shape})")
    with _scope(name, "logistic_loss"):
        log_weight = add(
            _c(1.0, x), multiply(subtract(convert_to_tensor(pos_weight, preferred_dtype=x.dtype), 1.0), z)
        )
        stable = add(log1p(exp(negative(_abs(x)))), relu(negative(x)))
        return add(multiply(subtract(_c(1.0, z), z), x), multiply(log_weight, stable))


def _abs(x: Tensor) -> Tensor:
    from graphc.ops.math_ops import abs as abs_

    return abs_(x)


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


def _conv2d_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w = ins
    return [_k.conv2d(x, w, _hw(attrs["strides"]), attrs["padding"], _hw(attrs["dilations"]))]


def _conv2d_bpi_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    sizes, w, dy = ins
    return [
        _k.conv2d_backprop_input(
            [int(v) for v in sizes], w, dy, _hw(attrs["strides"]), attrs["padding"], _hw(attrs["dilations"])
        )
    ]


def _conv2d_bpf_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, sizes, dy = ins
    return [
        _k.conv2d_backprop_filter(
            x, [int(v) for v in sizes], dy, _hw(attrs["strides"]), attrs["padding"], _hw(attrs["dilations"])
        )
    ]


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


def _conv2d_bpi_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample(
            [np.array(c[0], np.int32), rand(rng, c[1]), rand(rng, _conv_out_np(c))],
            _conv_case_attrs(c),
            wrt=(1, 2),
        )
        for c in _CONV_CASES
    ]


def _conv2d_bpf_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample(
            [rand(rng, c[0]), np.array(c[1], np.int32), rand(rng, _conv_out_np(c))],
            _conv_case_attrs(c),
            wrt=(0, 2),
        )
        for c in _CONV_CASES
    ]


reg.register(
    reg.OpDef(
        name="Conv2D",
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
        shape=_conv2d_bpi_shape,
        dtype=_conv_dtype([1, 2], 0),
        reference=_conv2d_bpi_ref,
        grad=_conv2d_bpi_grad,
        traits=frozenset({"conv"}),
        doc="(input_sizes, filter, out_backprop) -> d(conv2d)/d(input); also conv2d_transpose.",
        samples=_conv2d_bpi_samples,
    )
)
reg.register(
    reg.OpDef(
        name="Conv2DBackpropFilter",
        shape=_conv2d_bpf_shape,
        dtype=_conv_dtype([0, 2], 1),
        reference=_conv2d_bpf_ref,
        grad=_conv2d_bpf_grad,
        traits=frozenset({"conv"}),
        doc="(input, filter_sizes, out_backprop) -> d(conv2d)/d(filter).",
        samples=_conv2d_bpf_samples,
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
    from graphc.ops.array_ops import squeeze

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
        y = conv2d(_expand_dims(x, 1), _expand_dims(w, 0), (1, 1, s, 1), padding, dilations=(1, 1, d, 1))
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


def _max_pool_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    # (orig_input, orig_output, grad): the result has orig_input's shape.
    _check_window_attrs(ctx, ("ksize", "strides"))
    for i, what in enumerate(("orig_input", "orig_output", "grad")):
        _rank4(ctx.shapes[i], what)
    x = _known4(ctx, ctx.shapes[0])
    expected = _pool_out_shape(ctx, x)
    for i, what in ((1, "orig_output"), (2, "grad")):
        s = ctx.shapes[i]
        if s is not None:
            for e, d in zip(expected, s, strict=True):
                ctx.equal(e, d, f"{what} dimensions and the pool's output dimensions")
    return [tuple(x)]


def _max_pool_grad_grad_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    # (orig_input, orig_output, grad of the input's shape): the result has the pool output's shape.
    _check_window_attrs(ctx, ("ksize", "strides"))
    for i, what in enumerate(("orig_input", "orig_output", "grad")):
        _rank4(ctx.shapes[i], what)
    x = _known4(ctx, ctx.shapes[0])
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
    (kh, kw), (sh, sw), pad = _hw(attrs["ksize"]), _hw(attrs["strides"]), attrs["padding"]
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


def _pool_ref(fn: Any) -> Any:
    def ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        return [fn(ins[0], _hw(attrs["ksize"]), _hw(attrs["strides"]), attrs["padding"])]

    return ref


def _max_pool_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, y, dy = ins
    return [_k.max_pool_grad(x, y, dy, _hw(attrs["ksize"]), _hw(attrs["strides"]), attrs["padding"])]


def _avg_pool_grad_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    sizes, dy = ins
    return [
        _k.avg_pool_grad(
            [int(v) for v in sizes], dy, _hw(attrs["ksize"]), _hw(attrs["strides"]), attrs["padding"]
        )
    ]


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


def _max_pool_grad_samples(rng: np.random.Generator) -> list[reg.Sample]:
    out = []
    for c in _POOL_CASES:
        x = _distinct(rng, c[0])
        y = _k.max_pool(x, _hw(c[1]), _hw(c[2]), c[3])
        out.append(reg.Sample([x, y, rand(rng, y.shape)], _pool_case_attrs(c), wrt=(2,)))
    return out


def _max_pool_grad_grad_samples(rng: np.random.Generator) -> list[reg.Sample]:
    out = []
    for c in _POOL_CASES:
        x = _distinct(rng, c[0])
        y = _k.max_pool(x, _hw(c[1]), _hw(c[2]), c[3])
        out.append(reg.Sample([x, y, rand(rng, x.shape)], _pool_case_attrs(c), wrt=(2,)))
    return out


reg.register(
    reg.OpDef(
        name="MaxPool",
        shape=_pool_shape,
        dtype=_pool_dtype(NUMERIC, [0], 0),
        reference=_pool_ref(_k.max_pool),
        grad=_max_pool_grad,
        traits=frozenset({"pool"}),
        samples=_max_pool_samples,
    )
)
reg.register(
    reg.OpDef(
        name="MaxPoolGrad",
        shape=_max_pool_grad_shape,
        dtype=_pool_dtype(FLOATS, [0, 1, 2], 2),
        reference=_max_pool_grad_ref,
        grad=_max_pool_grad_grad,
        traits=frozenset({"pool"}),
        doc="(orig_input, orig_output, grad) -> grad routed to each window's first argmax.",
        samples=_max_pool_grad_samples,
    )
)
reg.register(
    reg.OpDef(
        name="MaxPoolGradGrad",
        shape=_max_pool_grad_grad_shape,
        dtype=_pool_dtype(FLOATS, [0, 1, 2], 2),
        reference=_max_pool_grad_grad_ref,
        grad=_max_pool_grad_grad_grad,
        traits=frozenset({"pool"}),
        doc="(orig_input, orig_output, g of orig_input's shape) -> g at each window's argmax.",
        samples=_max_pool_grad_grad_samples,
    )
)
reg.register(
    reg.OpDef(
        name="AvgPool",
        shape=_pool_shape,
        dtype=_pool_dtype(FLOATS, [0], 0),
        reference=_pool_ref(_k.avg_pool),
        grad=_avg_pool_grad,
        traits=frozenset({"pool"}),
        doc="Mean over each window's real (unpadded) cells, as TF1.",
        samples=lambda rng: [reg.Sample([rand(rng, c[0])], _pool_case_attrs(c)) for c in _POOL_CASES],
    )
)
reg.register(
    reg.OpDef(
        name="AvgPoolGrad",
        shape=_avg_pool_grad_shape,
        dtype=_avg_pool_grad_dtype,
        reference=_avg_pool_grad_ref,
        grad=_avg_pool_grad_grad,
        traits=frozenset({"pool"}),
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


# =============================================================================
# InTopKV2, L2Loss
# =============================================================================
def _in_top_k_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    pred, targets = ins
    k = attrs["k"]
    n, c = pred.shape
    valid = (targets >= 0) & (targets < c)
    target_pred = pred[np.arange(n), np.where(valid, targets, 0)]
    # TF cannot rank a target when any prediction in its row is inf or nan: False.
    finite = np.all(np.isfinite(pred), axis=1)
    with np.errstate(invalid="ignore"):
        above = np.sum(pred > target_pred[:, None], axis=1)
    return [valid & finite & (above < k)]


def _in_top_k_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    _rank2(ctx, 0, "predictions")
    t = ctx.shapes[1]
    if t is not None and len(t) != 1:
        raise reg.ShapeError(f"targets must be 1-D [batch], got shape {reg.format_shape(t)}")
    p = ctx.shapes[0]
    b = p[0] if p is not None else (t[0] if t is not None else ctx.fresh())
    if p is not None and t is not None:
        b = ctx.equal(p[0], t[0], "batch dimensions of predictions and targets")
    return [(b,)]


def _in_top_k_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, FLOATS, [0])
    check_dtypes(ctx, _INDEX_DTYPES, [1])
    return [_dt.bool_]


def _in_top_k_samples(rng: np.random.Generator) -> list[reg.Sample]:
    ties = np.array(
        [[1.0, 2.0, 2.0, 0.0], [3.0, 3.0, 3.0, 3.0], [0.5, np.nan, 0.1, 0.2], [0.1, 0.2, np.inf, 0.0]]
    )
    return [
        reg.Sample([rand(rng, (5, 6)), rng.integers(0, 6, size=5).astype(np.int32)], {"k": 2}, grad=False),
        reg.Sample([ties, np.array([1, 3, 0, 0], np.int64)], {"k": 1}, grad=False),
        reg.Sample([ties, np.array([0, 2, 2, 1], np.int32)], {"k": 2}, grad=False),
        reg.Sample([rand(rng, (2, 3)), np.array([-1, 3], np.int32)], {"k": 3}, grad=False),
    ]


reg.register(
    reg.OpDef(
        name="InTopKV2",
        shape=_in_top_k_shape,
        dtype=_in_top_k_dtype,
        reference=_in_top_k_ref,
        grad=reg.NotDifferentiable("a boolean result of comparisons"),
        doc="targets[i] is in the top k of predictions[i] when fewer than k entries are strictly "
        "greater; rows with a non-finite prediction and out-of-range targets give False.",
        samples=_in_top_k_samples,
    )
)


def in_top_k(predictions: Any, targets: Any, k: Any, name: str | None = None) -> Tensor:
    """tf.nn.in_top_k (TF semantics for ties and non-finite values); ``k`` must be known
    when the graph is built (TF also accepts a run-time tensor)."""
    p = convert_to_tensor(predictions)
    t = convert_to_tensor(targets)
    kv = int(static_value(k, "k").reshape(()))
    return make("InTopKV2", [p, t], {"k": kv}, name=name or "in_top_k")


def _l2_loss_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    return [np.asarray(np.sum(np.square(x)) / 2, dtype=x.dtype)]


reg.register(
    reg.OpDef(
        name="L2Loss",
        shape=lambda ctx: [()],
        dtype=_float_dtype,
        reference=_l2_loss_ref,
        grad=lambda op, g: [multiply(g, op.inputs[0])],
        traits=frozenset({"reduction"}),
        doc="sum(x ** 2) / 2 as a scalar.",
        samples=lambda rng: [reg.Sample([rand(rng, (3, 4))]), reg.Sample([rand(rng, ())])],
    )
)


def l2_loss(t: Any, name: str | None = None) -> Tensor:
    """tf.nn.l2_loss: sum(t ** 2) / 2."""
    return make("L2Loss", [convert_to_tensor(t)], name=name or "L2Loss")


# =============================================================================
# Composite API
# =============================================================================
def swish(features: Any, name: str | None = None) -> Tensor:
    """tf.nn.swish: x * sigmoid(x) (TF uses a custom gradient; this one is autodiff's)."""
    x = convert_to_tensor(features)
    return multiply(x, sigmoid(x), name=name or "swish")


def bias_add(value: Any, bias: Any, data_format: str | None = None, name: str | None = None) -> Tensor:
    """tf.nn.bias_add as an Add: ``bias`` must be 1-D and match the channel dim (last for
    NHWC/None; dim 1 for NC..., where bias is reshaped to broadcast)."""
    v = convert_to_tensor(value)
    b = convert_to_tensor(bias, preferred_dtype=v.dtype)
    if b.shape.ndims is not None and b.shape.ndims != 1:
        raise ValueError(f"bias must be 1-D, got shape {b.shape} (value shape {v.shape})")
    if v.shape.ndims is not None and v.shape.ndims < 2:
        raise ValueError(f"value must have rank >= 2 for bias_add, got shape {v.shape}")
    channels_first = data_format is not None and data_format.startswith("NC")
    if data_format is not None and not channels_first and not data_format.endswith("C"):
        raise ValueError(f"unknown data_format {data_format!r}")
    if v.shape.ndims is not None:
        ch = v.shape[1 if channels_first else -1]
        if not ch.is_compatible_with(b.shape[0]):
            raise ValueError(
                f"bias of shape {b.shape} must match the {'second' if channels_first else 'last'} dimension "
                f"of value, whose shape is {v.shape}"
            )
    if channels_first:
        if v.shape.ndims is None:
            raise ValueError("bias_add with a channels-first data_format needs the rank of value to be known")
        b = _reshape(b, [-1] + [1] * (v.shape.ndims - 2))
    return add(v, b, name=name or "BiasAdd")


def xw_plus_b(x: Any, weights: Any, biases: Any, name: str | None = None) -> Tensor:
    """tf.nn.xw_plus_b: matmul(x, weights) + biases."""
    from graphc.ops.linalg_ops import matmul

    with _scope(name, "xw_plus_b"):
        return bias_add(matmul(x, weights), biases)


def dropout(
    x: Any,
    keep_prob: Any = None,
    noise_shape: Any = None,
    seed: int | None = None,
    name: str | None = None,
    rate: Any = None,
) -> Tensor:
    """TF1's dropout: ``x / keep_prob * floor(keep_prob + uniform[0, 1))``; pass exactly one of
    keep_prob and rate (= 1 - keep_prob); a Python keep_prob of 1 returns x unchanged."""
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout needs exactly one of keep_prob and rate")
    xt = convert_to_tensor(x)
    if not xt.dtype.is_floating:
        raise ValueError(
            f"x has to be a floating point tensor since it's going to be scaled. Got a {xt.dtype.name} tensor instead."
        )
    if rate is not None:
        if isinstance(rate, numbers.Real):
            if not 0 <= rate < 1:
                raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), got {rate}")
            keep_prob = 1.0 - float(rate)
        else:
            keep_prob = subtract(_c(1.0, xt), convert_to_tensor(rate, dtype=xt.dtype))
    if isinstance(keep_prob, numbers.Real):
        if not 0 < keep_prob <= 1:
            raise ValueError(
                f"keep_prob must be a scalar tensor or a float in the range (0, 1], got {keep_prob}"
            )
        if keep_prob == 1:
            return xt
    from graphc.ops.random_ops import random_uniform

    with _scope(name, "dropout"):
        kp = convert_to_tensor(keep_prob, dtype=xt.dtype, name="keep_prob")
        if kp.shape.ndims not in (None, 0):
            raise ValueError(f"keep_prob must be a scalar, got shape {kp.shape}")
        uniform = random_uniform(_noise_shape(xt, noise_shape), dtype=xt.dtype, seed=seed)
        binary = _floor(add(kp, uniform))
        out = multiply(_div(xt, kp), binary)
    out.set_shape(xt.shape)
    return out


def _floor(x: Tensor) -> Tensor:
    from graphc.ops.math_ops import floor

    return floor(x)


def _div(x: Tensor, y: Tensor) -> Tensor:
    from graphc.ops.math_ops import real_div

    return real_div(x, y)


def _noise_shape(x: Tensor, noise_shape: Any) -> Any:
    if noise_shape is None:
        return _shape_input(x)
    if isinstance(noise_shape, Tensor):
        return noise_shape
    dims = list(noise_shape)
    if any(d is None for d in dims):
        # TF fills None entries from x's shape.
        xs = x.shape.as_list() if x.shape.ndims is not None else [None] * len(dims)
        if len(xs) != len(dims):
            raise ValueError(f"noise_shape {noise_shape} does not have the rank of x {x.shape}")
        filled = [xd if d is None else d for d, xd in zip(dims, xs, strict=True)]
        if any(d is None for d in filled):
            from graphc.ops.array_ops import gather

            shp = shape(x)
            return convert_to_tensor(
                [gather(shp, i) if d is None else d for i, d in enumerate(filled)], dtype=_dt.int32
            )
        dims = filled
    return dims


def moments(
    x: Any,
    axes: Any,
    shift: Any = None,
    name: str | None = None,
    keep_dims: bool | None = None,
    keepdims: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.nn.moments: (mean, variance) over ``axes``; the variance is the mean of squared
    differences from stop_gradient(mean), as TF; float16 is computed in float32; ``shift`` is ignored (as TF)."""
    keep = bool(_alias(keepdims, keep_dims, "keepdims", "keep_dims") or False)
    xt = convert_to_tensor(x)
    axes_list = [int(a) for a in np.asarray(static_value(axes, "axes")).reshape(-1)]
    with _scope(name, "moments"):
        y = cast(xt, _dt.float32) if xt.dtype == _dt.float16 else xt
        mean = _reduce_mean(y, axes_list, keepdims=True, name="mean")
        variance = _reduce_mean(
            squared_difference(y, stop_gradient(mean)), axes_list, keepdims=True, name="variance"
        )
        if not keep:
            from graphc.ops.array_ops import squeeze

            mean, variance = squeeze(mean, axes_list), squeeze(variance, axes_list)
        if xt.dtype == _dt.float16:
            mean, variance = cast(mean, _dt.float16), cast(variance, _dt.float16)
        return mean, variance


def batch_normalization(
    x: Any,
    mean: Any,
    variance: Any,
    offset: Any,
    scale: Any,
    variance_epsilon: float,
    name: str | None = None,
) -> Tensor:
    """tf.nn.batch_normalization, TF's formula: ``x * inv + (offset - mean * inv)`` with
    ``inv = scale * rsqrt(variance + epsilon)``; offset and scale may be None."""
    xt = convert_to_tensor(x)
    with _scope(name, "batchnorm"):
        var = convert_to_tensor(variance, preferred_dtype=xt.dtype)
        m = convert_to_tensor(mean, preferred_dtype=xt.dtype)
        inv = rsqrt(add(var, convert_to_tensor(variance_epsilon, dtype=var.dtype)))
        if scale is not None:
            inv = multiply(inv, convert_to_tensor(scale, preferred_dtype=var.dtype))
        if offset is not None:
            shift = subtract(convert_to_tensor(offset, preferred_dtype=var.dtype), multiply(m, inv))
        else:
            shift = negative(multiply(m, inv))
        return add(multiply(xt, cast(inv, xt.dtype)), cast(shift, xt.dtype))


def embedding_lookup(
    params: Any,
    ids: Any,
    partition_strategy: str = "mod",
    name: str | None = None,
    validate_indices: bool = True,
    max_norm: float | None = None,
) -> Tensor:
    """tf.nn.embedding_lookup for one params tensor (or a list of one): gather(params, ids);
    with max_norm, each embedding is clipped to that L2 norm (TF's clip_by_norm).
    Sharded params (a list of several) raise NotImplementedError."""
    from graphc.ops.array_ops import gather

    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}")
    if isinstance(params, list | tuple):
        if not params:
            raise ValueError("Need at least one param")
        if len(params) > 1:
            raise NotImplementedError(
                f"embedding_lookup over {len(params)} sharded params is not supported; concatenate "
                f"them (tf.concat(params, 0)) and pass one tensor"
            )
        params = params[0]
    with _scope(name, "embedding_lookup"):
        p = convert_to_tensor(params)
        i = convert_to_tensor(ids)
        result = gather(p, i)
        if max_norm is None:
            return result
        r, ir = _static_rank(result), _static_rank(i)
        if r is None or ir is None:
            raise NotImplementedError("embedding_lookup with max_norm needs ids and params of known rank")
        return _clip_by_norm(result, max_norm, list(range(ir, r)))


def _clip_by_norm(t: Tensor, clip_norm: Any, axes: list[int]) -> Tensor:
    l2sum = _reduce_sum(square(t), axes, keepdims=True)
    zero = _zeros_like(l2sum)
    positive = l2sum > zero
    # sqrt only of positive values keeps the gradient finite at an all-zero embedding.
    l2norm = where(positive, sqrt(where(positive, l2sum, _ones_like(l2sum))), l2sum)
    cn = convert_to_tensor(clip_norm, dtype=t.dtype)
    return _div(multiply(t, cn), maximum(l2norm, cn))


def l2_normalize(
    x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None, dim: Any = None
) -> Tensor:
    """tf.nn.l2_normalize: ``x * rsqrt(max(sum(x ** 2, axis), epsilon))``; ``dim`` is the deprecated alias."""
    axis = _alias(axis, dim, "axis", "dim")
    xt = convert_to_tensor(x)
    with _scope(name, "l2_normalize"):
        square_sum = _reduce_sum(square(xt), axis, keepdims=True)
        inv_norm = rsqrt(maximum(square_sum, convert_to_tensor(epsilon, dtype=xt.dtype)))
        return multiply(xt, inv_norm)


__all__ = [
    "avg_pool",
    "batch_normalization",
    "bias_add",
    "conv1d",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "conv2d_transpose",
    "dropout",
    "elu",
    "embedding_lookup",
    "in_top_k",
    "l2_loss",
    "l2_normalize",
    "leaky_relu",
    "log_softmax",
    "max_pool",
    "moments",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "softplus",
    "sparse_softmax_cross_entropy_with_logits",
    "swish",
    "tanh",
    "weighted_cross_entropy_with_logits",
    "xw_plus_b",
]
