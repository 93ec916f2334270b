"""Softmax and cross-entropy ops of TF1's ``tf.nn``: Softmax, LogSoftmax,
SoftmaxCrossEntropyWithLogits, SparseSoftmaxCrossEntropyWithLogits, and their API
(softmax, log_softmax, the softmax, sparse, sigmoid and weighted cross-entropies)."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops.activation_ops import relu
from graphc.ops.common import (
    FLOATS,
    check_dtypes,
    check_same_dtypes,
    convert_to_tensor,
    deprecated_argument,
    make,
    make_op,
    normalize_axis,
    rand,
    scalar_like,
)
from graphc.ops.concat_ops import concat
from graphc.ops.core_ops import constant, shape, stop_gradient
from graphc.ops.fill_ops import zeros_like
from graphc.ops.gather_ops import gather, one_hot
from graphc.ops.layout_ops import expand_dims, reshape, transpose
from graphc.ops.math_ops import abs as abs_
from graphc.ops.math_ops import add, cast, exp, log1p, multiply, negative, subtract, where
from graphc.ops.nn_common import _INDEX_DTYPES, _scope
from graphc.ops.reduction_ops import reduce_sum


# =============================================================================
# Softmax / LogSoftmax
# =============================================================================
def _softmax_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, axis = ins[0], attrs["axis"]
    if x.size == 0:
        return [x.copy()]  # an empty tensor's softmax is empty (TF1); np.max would raise
    # Shifting by the max keeps exp() from overflowing for large logits.
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return [(e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype, copy=False)]


def _log_softmax_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, axis = ins[0], attrs["axis"]
    if x.size == 0:
        return [x.copy()]  # empty in, empty out (TF1); np.max would raise
    shifted = x - np.max(x, axis=axis, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return [out.astype(x.dtype, copy=False)]


def _softmax_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[0]
    if s is not None:
        if not s:
            raise reg.ShapeError(f"{ctx.op_type} needs a tensor of rank >= 1, got a scalar")
        normalize_axis(ctx.attrs["axis"], len(s))
    return [s]


def _float_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, FLOATS)
    check_same_dtypes(ctx)
    return [ctx.dtypes[0]]


def _softmax_grad(op: Operation, g: Tensor) -> list[Any]:
    y, axis = op.outputs[0], op.attrs["axis"]
    return [multiply(subtract(g, reduce_sum(multiply(g, y), axis, keepdims=True)), y)]


def _log_softmax_grad(op: Operation, g: Tensor) -> list[Any]:
    y, axis = op.outputs[0], op.attrs["axis"]
    return [subtract(g, multiply(reduce_sum(g, axis, keepdims=True), exp(y)))]


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
            attrs={"axis": reg.AXIS},
            shape=_softmax_shape,
            dtype=_float_dtype,
            reference=_ref,
            grad=_grad,
            samples=_softmax_samples,
        )
    )


def _softmax_axis(logits: Tensor, axis: Any, dim: Any) -> int:
    axis = deprecated_argument(axis, dim, "axis", "dim")
    axis = -1 if axis is None else int(axis)
    try:
        return normalize_axis(axis, logits.shape.ndims)
    except reg.ShapeError as e:
        raise ValueError(str(e)) from None


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
    return multiply(subtract(g_bp, reduce_sum(multiply(g_bp, probs), -1, keepdims=True)), probs)


def _xent_grad(op: Operation, g_loss: Tensor | None, g_bp: Tensor | None) -> list[Any]:
    logits, labels = op.inputs
    # Rebuilt from Softmax/LogSoftmax (not from the backprop output) so that these
    # gradients are themselves differentiable.
    probs = softmax(logits)
    g_logits: Tensor | None = None
    g_labels: Tensor | None = None
    if g_loss is not None:
        gl = expand_dims(g_loss, -1)
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
        attrs={},
        shape=_xent_shape,
        dtype=_xent_dtype,
        reference=_xent_ref,
        grad=_xent_grad,
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
        return one_hot(labels, depth, dtype=logits.dtype)
    # one_hot needs a static depth; with an unknown class count, recover the labels
    # as softmax - backprop (exact up to rounding), behind stop_gradient.
    return stop_gradient(subtract(probs, op.outputs[1]))


def _sparse_xent_grad(op: Operation, g_loss: Tensor | None, g_bp: Tensor | None) -> list[Any]:
    logits = op.inputs[0]
    probs = softmax(logits)
    g_logits: Tensor | None = None
    if g_loss is not None:
        g_logits = multiply(expand_dims(g_loss, -1), subtract(probs, _labels_one_hot(op, probs)))
    if g_bp is not None:
        extra = _softmax_jacobian_vjp(g_bp, probs)
        g_logits = extra if g_logits is None else add(g_logits, extra)
    return [g_logits, None]


reg.register(
    reg.OpDef(
        name="SparseSoftmaxCrossEntropyWithLogits",
        attrs={},
        shape=_sparse_xent_shape,
        dtype=_sparse_xent_dtype,
        reference=_sparse_xent_ref,
        grad=_sparse_xent_grad,
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
    return gather(shape(x), list(range(len(dims))))


def _flatten_to_2d(x: Tensor) -> Tensor:
    last = x.shape.as_list()[-1]
    if last is None:
        target = concat([constant(np.array([-1], np.int32)), gather(shape(x), [len(x.shape) - 1])], 0)
        return reshape(x, target)
    return reshape(x, [-1, last])


def _move_axis_last(x: Tensor, axis: int) -> Tensor:
    r = len(x.shape)
    perm = [i for i in range(r) if i != axis] + [axis]
    return transpose(x, perm)


def _dense_xent(labels: Tensor, logits: Tensor, axis: int, name: str) -> Tensor:
    """The loss output of the op, moving ``axis`` last and flattening to 2-D as TF1 does."""
    precise = cast(logits, _dt.float32) if logits.dtype == _dt.float16 else logits
    labels = cast(labels, precise.dtype)
    rank = precise.shape.ndims
    if rank is None:
        # Unknown rank: the op itself checks for rank 2 when the graph is lowered.
        loss = make_op("SoftmaxCrossEntropyWithLogits", [precise, labels], name=name).outputs[0]
    else:
        if rank == 0:
            raise ValueError("logits must have rank >= 1 for a softmax cross-entropy, got a scalar")
        axis = normalize_axis(axis, rank)
        if axis != rank - 1:
            precise, labels = _move_axis_last(precise, axis), _move_axis_last(labels, axis)
        if rank == 2:
            loss = make_op("SoftmaxCrossEntropyWithLogits", [precise, labels], name=name).outputs[0]
        else:
            out_shape = _leading_shape(precise)
            flat = make_op(
                "SoftmaxCrossEntropyWithLogits", [_flatten_to_2d(precise), _flatten_to_2d(labels)]
            ).outputs[0]
            loss = reshape(flat, out_shape, name=name)
    return cast(loss, _dt.float16) if logits.dtype == _dt.float16 else loss


def softmax_cross_entropy_with_logits_v2(
    labels: Any, logits: Any, axis: int | None = None, name: str | None = None, dim: int | None = None
) -> Tensor:
    """tf.nn.softmax_cross_entropy_with_logits_v2: gradients flow into ``labels`` too;
    labels are cast to the logits' dtype; any rank (flattened to 2-D internally)."""
    axis = deprecated_argument(axis, dim, "axis", "dim")
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
    xr, yr = x.shape.ndims, y.shape.ndims
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
            "SparseSoftmaxCrossEntropyWithLogits", [_flatten_to_2d(precise), reshape(y, [-1])]
        ).outputs[0]
        loss = reshape(flat, out_shape, name=nm)
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
        zeros = zeros_like(x)
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
    targets = deprecated_argument(targets, labels, "targets", "labels")
    x = convert_to_tensor(logits)
    z = convert_to_tensor(targets, preferred_dtype=x.dtype)
    if not z.shape.is_compatible_with(x.shape):
        raise ValueError(f"logits and targets must have the same shape ({x.shape} vs {z.shape})")
    with _scope(name, "logistic_loss"):
        log_weight = add(
            scalar_like(1.0, x), multiply(subtract(convert_to_tensor(pos_weight, preferred_dtype=x.dtype), 1.0), z)
        )
        stable = add(log1p(exp(negative(abs_(x)))), relu(negative(x)))
        return add(multiply(subtract(scalar_like(1.0, z), z), x), multiply(log_weight, stable))
