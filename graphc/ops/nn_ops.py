"""Neural-network ops (TF1's ``tf.nn``): in_top_k, l2_loss, and the composite API
built on the ops (dropout, moments, batch_normalization, ...). The rest of tf.nn is
defined in these modules and re-exported here (the public module: import tf.nn from here):

- :mod:`~graphc.ops.softmax_ops`: softmax and the cross-entropies
- :mod:`~graphc.ops.conv_ops`: 2-D convolution and its two backprops, conv1d, conv2d_transpose
- :mod:`~graphc.ops.pool_ops`: max/avg pooling and their gradients

tf.nn.embedding_lookup is in :mod:`~graphc.ops.embedding_ops` (it clips with clip_ops,
which builds on this module's l2_loss); graphc.nn re-exports it with the names here.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Tensor
from graphc.ops.activation_ops import (  # noqa: F401  (re-exported as tf.nn.*)
    elu,
    leaky_relu,
    relu,
    relu6,
    selu,
    softplus,
)
from graphc.ops.common import (
    FLOATS,
    check_dtypes,
    convert_to_tensor,
    deprecated_argument,
    make,
    rand,
    scalar_like,
    static_value,
)
from graphc.ops.conv_ops import (  # noqa: F401  (re-exported)
    conv1d,
    conv2d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    conv2d_transpose,
)
from graphc.ops.core_ops import shape, stop_gradient
from graphc.ops.gather_ops import gather
from graphc.ops.layout_ops import reshape, squeeze
from graphc.ops.linalg_ops import matmul
from graphc.ops.math_ops import (  # noqa: F401  (sigmoid and tanh re-exported as tf.nn.*)
    add,
    cast,
    exp,
    floor,
    log1p,
    maximum,
    multiply,
    negative,
    real_div,
    rsqrt,
    sigmoid,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    where,
)
from graphc.ops.nn_common import _INDEX_DTYPES, _scope, _shape_input
from graphc.ops.pool_ops import avg_pool, max_pool  # noqa: F401  (re-exported)
from graphc.ops.random_ops import random_uniform
from graphc.ops.reduction_ops import reduce_mean, reduce_sum
from graphc.ops.softmax_ops import (  # noqa: F401  (re-exported)
    _float_dtype,
    _rank2,
    log_softmax,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
    weighted_cross_entropy_with_logits,
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
        attrs={"k": reg.INT},
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
        attrs={},
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
        b = reshape(b, [-1] + [1] * (v.shape.ndims - 2))
    return add(v, b, name=name or "BiasAdd")


def xw_plus_b(x: Any, weights: Any, biases: Any, name: str | None = None) -> Tensor:
    """tf.nn.xw_plus_b: matmul(x, weights) + biases."""
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
            keep_prob = subtract(scalar_like(1.0, xt), convert_to_tensor(rate, dtype=xt.dtype))
    if isinstance(keep_prob, numbers.Real):
        if not 0 < keep_prob <= 1:
            raise ValueError(
                f"keep_prob must be a scalar tensor or a float in the range (0, 1], got {keep_prob}"
            )
        if keep_prob == 1:
            return xt
    with _scope(name, "dropout"):
        kp = convert_to_tensor(keep_prob, dtype=xt.dtype, name="keep_prob")
        if kp.shape.ndims not in (None, 0):
            raise ValueError(f"keep_prob must be a scalar, got shape {kp.shape}")
        uniform = random_uniform(_noise_shape(xt, noise_shape), dtype=xt.dtype, seed=seed)
        binary = floor(add(kp, uniform))
        out = multiply(real_div(xt, kp), binary)
    out.set_shape(xt.shape)
    return out


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
    keep = bool(deprecated_argument(keepdims, keep_dims, "keepdims", "keep_dims") or False)
    xt = convert_to_tensor(x)
    axes_list = [int(a) for a in np.asarray(static_value(axes, "axes")).reshape(-1)]
    with _scope(name, "moments"):
        y = cast(xt, _dt.float32) if xt.dtype == _dt.float16 else xt
        mean = reduce_mean(y, axes_list, keepdims=True, name="mean")
        variance = reduce_mean(
            squared_difference(y, stop_gradient(mean)), axes_list, keepdims=True, name="variance"
        )
        if not keep:
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


def l2_normalize(
    x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None, dim: Any = None
) -> Tensor:
    """tf.nn.l2_normalize: ``x * rsqrt(max(sum(x ** 2, axis), epsilon))``; ``dim`` is the deprecated alias."""
    axis = deprecated_argument(axis, dim, "axis", "dim")
    xt = convert_to_tensor(x)
    with _scope(name, "l2_normalize"):
        square_sum = reduce_sum(square(xt), axis, keepdims=True)
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
