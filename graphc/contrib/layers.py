"""tf.contrib.layers: the names TF1 tutorials use most, built from graphc's own ops,
initializers and variables with TF1's contrib semantics and variable names
(``fully_connected/weights``, ``Conv/biases``, ...). Any other name raises an
AttributeError saying what to use instead."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from graphc import dtypes as _dt
from graphc.contrib._missing import contrib_error
from graphc.frontend.graph import GraphKeys, Tensor, get_default_graph
from graphc.layers.core import flatten as _layers_flatten
from graphc.layers.utils import check_training, select_training
from graphc.ops.activation_ops import relu
from graphc.ops.common import convert_to_tensor
from graphc.ops.conv_ops import conv2d as _nn_conv2d
from graphc.ops.gather_ops import one_hot
from graphc.ops.init_ops import Initializer, zeros_initializer
from graphc.ops.linalg_ops import matmul, tensordot
from graphc.ops.math_ops import abs as _abs
from graphc.ops.math_ops import add_n, multiply
from graphc.ops.nn_ops import bias_add, l2_loss
from graphc.ops.nn_ops import dropout as _nn_dropout
from graphc.ops.pool_ops import avg_pool, max_pool
from graphc.ops.random_ops import random_uniform, truncated_normal
from graphc.ops.reduction_ops import reduce_sum
from graphc.ops.variable_scope import get_variable, variable_scope

__all__ = [
    "apply_regularization",
    "avg_pool2d",
    "conv2d",
    "convolution2d",
    "dropout",
    "flatten",
    "fully_connected",
    "l1_l2_regularizer",
    "l1_regularizer",
    "l2_regularizer",
    "linear",
    "max_pool2d",
    "one_hot_encoding",
    "sum_regularizer",
    "variance_scaling_initializer",
    "xavier_initializer",
    "xavier_initializer_conv2d",
]


# -- initializers ------------------------------------------------------------------------------
class _ContribVarianceScaling(Initializer):
    """TF1's contrib variance_scaling_initializer: n is fan_in, fan_out or their mean
    (``mode`` "FAN_IN", "FAN_OUT", "FAN_AVG"), fans from the shape as TF1 computes them
    (the last two dims, times the receptive field of a convolution kernel). ``uniform``:
    uniform in [-sqrt(3 * factor / n), +sqrt(3 * factor / n)]; otherwise a truncated normal
    of stddev sqrt(1.3 * factor / n), contrib's correction for the truncation."""

    def __init__(self, factor: float, mode: str, uniform: bool, seed: int | None, dtype: Any) -> None:
        if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
            raise TypeError(f"Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]")
        self.factor = float(factor)
        self.mode = mode
        self.uniform = bool(uniform)
        self.seed = seed
        self.dtype = _dt.as_dtype(dtype)
        if not self.dtype.is_floating:
            raise TypeError("Cannot create initializer for non-floating point type.")

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        dims = [int(d) for d in (shape.as_list() if hasattr(shape, "as_list") else shape)]
        if dims:
            fan_in = float(dims[-2]) if len(dims) > 1 else float(dims[-1])
            fan_out = float(dims[-1])
        else:
            fan_in = fan_out = 1.0
        for d in dims[:-2]:
            fan_in *= d
            fan_out *= d
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[self.mode]
        dt = _dt.as_dtype(dtype) if dtype is not None else self.dtype
        if self.uniform:
            limit = math.sqrt(3.0 * self.factor / n)
            return random_uniform(dims, -limit, limit, dt, seed=self.seed)
        return truncated_normal(dims, 0.0, math.sqrt(1.3 * self.factor / n), dt, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode, "uniform": self.uniform, "seed": self.seed}


def variance_scaling_initializer(
    factor: float = 2.0,
    mode: str = "FAN_IN",
    uniform: bool = False,
    seed: int | None = None,
    dtype: Any = _dt.float32,
) -> Initializer:
    """tf.contrib.layers.variance_scaling_initializer (TF1): He's initializer by default."""
    return _ContribVarianceScaling(factor, mode, uniform, seed, dtype)


def xavier_initializer(
    uniform: bool = True, seed: int | None = None, dtype: Any = _dt.float32
) -> Initializer:
    """tf.contrib.layers.xavier_initializer (TF1; Glorot & Bengio): variance_scaling with
    factor 1 and FAN_AVG, so uniform in [-sqrt(6 / (fan_in + fan_out)), +...]."""
    return _ContribVarianceScaling(1.0, "FAN_AVG", uniform, seed, dtype)


xavier_initializer_conv2d = xavier_initializer


# -- regularizers ------------------------------------------------------------------------------
def _check_scale(scale: Any) -> float | None:
    """TF1's checks; None for a scale of 0 (the regularizer then returns None)."""
    if isinstance(scale, numbers.Integral):
        raise ValueError(f"scale cannot be an integer: {scale}")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise ValueError(f"Setting a scale less than 0 on a regularizer: {scale}")
        if scale == 0.0:
            return None
    return float(scale)


def l1_regularizer(scale: float, scope: str | None = None) -> Callable[[Any], Tensor | None]:
    """tf.contrib.layers.l1_regularizer (TF1): ``weights -> scale * sum(|weights|)``; a scale
    of 0 gives a regularizer returning None."""
    s = _check_scale(scale)

    def l1(weights: Any) -> Tensor | None:
        if s is None:
            return None
        with get_default_graph().name_scope(scope or "l1_regularizer"):
            w = convert_to_tensor(weights)
            return multiply(convert_to_tensor(s, dtype=w.dtype), reduce_sum(_abs(w)), name="value")

    return l1


def l2_regularizer(scale: float, scope: str | None = None) -> Callable[[Any], Tensor | None]:
    """tf.contrib.layers.l2_regularizer (TF1): ``weights -> scale * tf.nn.l2_loss(weights)``,
    i.e. ``scale * sum(weights ** 2) / 2``; a scale of 0 gives a regularizer returning None."""
    s = _check_scale(scale)

    def l2(weights: Any) -> Tensor | None:
        if s is None:
            return None
        with get_default_graph().name_scope(scope or "l2_regularizer"):
            w = convert_to_tensor(weights)
            return multiply(convert_to_tensor(s, dtype=w.dtype), l2_loss(w), name="value")

    return l2


def sum_regularizer(
    regularizer_list: Sequence[Callable[[Any], Any]], scope: str | None = None
) -> Callable[[Any], Tensor | None]:
    """tf.contrib.layers.sum_regularizer (TF1): the sum of the regularizers' non-None losses."""
    regs = [r for r in regularizer_list if r is not None]

    def total(weights: Any) -> Tensor | None:
        losses = [t for t in (r(weights) for r in regs) if t is not None]
        if not losses:
            return None
        with get_default_graph().name_scope(scope or "sum_regularizer"):
            return add_n(losses)

    return total


def l1_l2_regularizer(
    scale_l1: float = 1.0, scale_l2: float = 1.0, scope: str | None = None
) -> Callable[[Any], Tensor | None]:
    """tf.contrib.layers.l1_l2_regularizer (TF1): l1_regularizer(scale_l1) + l2_regularizer(scale_l2)."""
    return sum_regularizer(
        [l1_regularizer(scale_l1), l2_regularizer(scale_l2)], scope=scope or "l1_l2_regularizer"
    )


def apply_regularization(
    regularizer: Callable[[Any], Any], weights_list: Iterable[Any] | None = None
) -> Tensor:
    """tf.contrib.layers.apply_regularization (TF1): the sum of ``regularizer(w)`` over
    ``weights_list`` (default: the WEIGHTS collection), also added to the
    REGULARIZATION_LOSSES collection."""
    graph = get_default_graph()
    weights = list(weights_list) if weights_list is not None else graph.get_collection(GraphKeys.WEIGHTS)
    if not weights:
        raise ValueError("No weights to regularize.")
    with graph.name_scope("get_regularization_penalty"):
        penalties = [p for p in (regularizer(w) for w in weights) if p is not None]
        if not penalties:
            raise ValueError("No regularization penalties: the regularizer returned None for every weight.")
        total = add_n(penalties)
    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, total)
    return total


# -- layers ------------------------------------------------------------------------------------
def _add_collections(value: Any, collections: Any) -> Any:
    if collections:
        graph = get_default_graph()
        for c in [collections] if isinstance(collections, str) else collections:
            graph.add_to_collection(c, value)
    return value


def _variable(
    name: str,
    shape: list[int],
    dtype: _dt.DType,
    initializer: Any,
    regularizer: Any,
    trainable: bool,
    collections: Any,
) -> Any:
    # contrib's model_variable: in GLOBAL_VARIABLES and MODEL_VARIABLES (and any extra ones).
    extra = [collections] if isinstance(collections, str) else list(collections or [])
    cols = [GraphKeys.GLOBAL_VARIABLES, GraphKeys.MODEL_VARIABLES, *extra]
    return get_variable(
        name,
        shape,
        dtype=dtype,
        initializer=initializer,
        regularizer=regularizer,
        trainable=trainable,
        collections=cols,
    )


def _normalize_and_activate(
    y: Tensor, normalizer_fn: Any, normalizer_params: Any, activation_fn: Any
) -> Tensor:
    if normalizer_fn is not None:
        y = normalizer_fn(y, **(normalizer_params or {}))
    return activation_fn(y) if activation_fn is not None else y


def fully_connected(
    inputs: Any,
    num_outputs: int,
    activation_fn: Callable[[Any], Any] | None = relu,
    normalizer_fn: Callable[..., Any] | None = None,
    normalizer_params: dict[str, Any] | None = None,
    weights_initializer: Any = None,
    weights_regularizer: Any = None,
    biases_initializer: Any = zeros_initializer(),
    biases_regularizer: Any = None,
    reuse: Any = None,
    variables_collections: Any = None,
    outputs_collections: Any = None,
    trainable: bool = True,
    scope: Any = None,
) -> Tensor:
    """tf.contrib.layers.fully_connected (TF1): ``activation_fn(inputs . weights + biases)``
    over the last axis, variables ``<scope>/weights`` [in, num_outputs] (default
    initializer: xavier_initializer()) and ``<scope>/biases`` (none with a normalizer_fn or
    biases_initializer=None); the default scope is "fully_connected" (made unique)."""
    x = convert_to_tensor(inputs)
    if not isinstance(num_outputs, numbers.Integral):
        raise ValueError(f"num_outputs type should be one of (int, long), got {type(num_outputs)}.")
    if x.shape.ndims is None or x.shape.as_list()[-1] is None:
        raise ValueError(f"fully_connected needs the last dimension of its inputs known, got {x.shape}")
    dim = int(x.shape.as_list()[-1])
    with variable_scope(scope, default_name="fully_connected", values=[x], reuse=reuse):
        w = _variable(
            "weights",
            [dim, int(num_outputs)],
            x.dtype,
            weights_initializer if weights_initializer is not None else xavier_initializer(),
            weights_regularizer,
            trainable,
            variables_collections,
        )
        y = matmul(x, w) if x.shape.ndims == 2 else tensordot(x, w, [[x.shape.ndims - 1], [0]])
        if normalizer_fn is None and biases_initializer is not None:
            b = _variable(
                "biases", [int(num_outputs)], x.dtype, biases_initializer, biases_regularizer, trainable,
                variables_collections,
            )  # fmt: skip
            y = bias_add(y, b)
        y = _normalize_and_activate(y, normalizer_fn, normalizer_params, activation_fn)
    return _add_collections(y, outputs_collections)


def linear(inputs: Any, num_outputs: int, **kwargs: Any) -> Tensor:
    """tf.contrib.layers.linear (TF1): fully_connected without an activation."""
    return fully_connected(inputs, num_outputs, activation_fn=None, **kwargs)


def _pair(v: Any, what: str) -> list[int]:
    if isinstance(v, numbers.Integral):
        return [int(v), int(v)]
    vals = [int(d) for d in v]
    if len(vals) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")
    return vals


def _nhwc_only(data_format: Any) -> None:
    if data_format not in (None, "NHWC"):
        raise NotImplementedError(f"data_format={data_format!r}: graphc supports NHWC only")


def conv2d(
    inputs: Any,
    num_outputs: int,
    kernel_size: Any,
    stride: Any = 1,
    padding: str = "SAME",
    data_format: str | None = None,
    rate: Any = 1,
    activation_fn: Callable[[Any], Any] | None = relu,
    normalizer_fn: Callable[..., Any] | None = None,
    normalizer_params: dict[str, Any] | None = None,
    weights_initializer: Any = None,
    weights_regularizer: Any = None,
    biases_initializer: Any = zeros_initializer(),
    biases_regularizer: Any = None,
    reuse: Any = None,
    variables_collections: Any = None,
    outputs_collections: Any = None,
    trainable: bool = True,
    scope: Any = None,
) -> Tensor:
    """tf.contrib.layers.conv2d (TF1, NHWC): a 2-D convolution with ``<scope>/weights``
    [kh, kw, in, num_outputs] and ``<scope>/biases``, then normalizer_fn and activation_fn;
    the default scope is "Conv" (made unique)."""
    _nhwc_only(data_format)
    x = convert_to_tensor(inputs)
    if x.shape.ndims != 4 or x.shape.as_list()[-1] is None:
        raise ValueError(f"conv2d needs NHWC inputs with known channels, got {x.shape}")
    kh, kw = _pair(kernel_size, "kernel_size")
    with variable_scope(scope, default_name="Conv", values=[x], reuse=reuse):
        w = _variable(
            "weights",
            [kh, kw, int(x.shape.as_list()[-1]), int(num_outputs)],
            x.dtype,
            weights_initializer if weights_initializer is not None else xavier_initializer(),
            weights_regularizer,
            trainable,
            variables_collections,
        )
        y = _nn_conv2d(
            x, w, strides=_pair(stride, "stride"), padding=padding.upper(), dilations=_pair(rate, "rate")
        )
        if normalizer_fn is None and biases_initializer is not None:
            b = _variable(
                "biases", [int(num_outputs)], x.dtype, biases_initializer, biases_regularizer, trainable,
                variables_collections,
            )  # fmt: skip
            y = bias_add(y, b)
        y = _normalize_and_activate(y, normalizer_fn, normalizer_params, activation_fn)
    return _add_collections(y, outputs_collections)


convolution2d = conv2d


def max_pool2d(
    inputs: Any,
    kernel_size: Any,
    stride: Any = 2,
    padding: str = "VALID",
    data_format: str = "NHWC",
    outputs_collections: Any = None,
    scope: str | None = None,
) -> Tensor:
    """tf.contrib.layers.max_pool2d (TF1, NHWC): tf.nn.max_pool with 2-D kernel and stride."""
    _nhwc_only(data_format)
    with get_default_graph().name_scope(scope or "MaxPool2D"):
        y = max_pool(inputs, _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), padding.upper())
    return _add_collections(y, outputs_collections)


def avg_pool2d(
    inputs: Any,
    kernel_size: Any,
    stride: Any = 2,
    padding: str = "VALID",
    data_format: str = "NHWC",
    outputs_collections: Any = None,
    scope: str | None = None,
) -> Tensor:
    """tf.contrib.layers.avg_pool2d (TF1, NHWC): tf.nn.avg_pool with 2-D kernel and stride."""
    _nhwc_only(data_format)
    with get_default_graph().name_scope(scope or "AvgPool2D"):
        y = avg_pool(inputs, _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), padding.upper())
    return _add_collections(y, outputs_collections)


def dropout(
    inputs: Any,
    keep_prob: float = 0.5,
    noise_shape: Any = None,
    is_training: bool = True,
    outputs_collections: Any = None,
    scope: str | None = None,
    seed: int | None = None,
) -> Tensor:
    """tf.contrib.layers.dropout (TF1): tf.nn.dropout(inputs, keep_prob) when ``is_training``
    (a Python bool, or a scalar bool tensor selecting per run, as tf.layers.dropout does),
    the inputs unchanged otherwise."""
    training = check_training(is_training, "tf.contrib.layers.dropout")
    x = convert_to_tensor(inputs)
    with get_default_graph().name_scope(scope or "Dropout"):
        if training is False:
            y = x
        else:
            dropped = _nn_dropout(x, keep_prob=keep_prob, noise_shape=noise_shape, seed=seed)
            y = select_training(training, dropped, x)
    return _add_collections(y, outputs_collections)


def flatten(inputs: Any, outputs_collections: Any = None, scope: str | None = None) -> Tensor:
    """tf.contrib.layers.flatten (TF1): [batch, ...] -> [batch, k], as tf.layers.flatten."""
    with get_default_graph().name_scope(scope or "Flatten"):
        y = _layers_flatten(inputs)
    return _add_collections(y, outputs_collections)


def one_hot_encoding(
    labels: Any,
    num_classes: int,
    on_value: float = 1.0,
    off_value: float = 0.0,
    outputs_collections: Any = None,
    scope: str | None = None,
) -> Tensor:
    """tf.contrib.layers.one_hot_encoding (TF1): tf.one_hot with float on/off values."""
    with get_default_graph().name_scope(scope or "OneHotEncoding"):
        y = one_hot(labels, num_classes, on_value=on_value, off_value=off_value)
    return _add_collections(y, outputs_collections)


# What to use for the contrib.layers names graphc does not provide.
_INSTEAD: dict[str, str] = {
    "batch_norm": "use tf.layers.batch_normalization",
    "layer_norm": "write it with tf.nn.moments and tf.nn.batch_normalization over the last axis",
    "conv2d_transpose": "use tf.layers.conv2d_transpose",
    "separable_conv2d": "use tf.nn.conv2d",
    "embed_sequence": "use tf.get_variable and tf.nn.embedding_lookup",
    "optimize_loss": "use an optimizer of tf.train and its minimize()",
    "summarize_activation": "use tf.summary.histogram",
    "summarize_tensors": "use tf.summary.scalar / tf.summary.histogram",
    "repeat": "call the layer in a Python loop",
    "stack": "call the layers in a Python loop",
    "arg_scope": "pass the arguments to each call",
}


def __getattr__(name: str) -> NoReturn:
    """A tf.contrib.layers name graphc lacks: an AttributeError naming what to use instead."""
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise contrib_error(f"tf.contrib.layers.{name}", _INSTEAD.get(name), __name__)
