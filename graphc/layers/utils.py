"""Argument helpers shared by tf.layers and tf.keras.layers: TF1's ``conv_utils`` forms of
sizes, strides, padding and data format, output lengths of (transposed) convolutions,
and ``training`` arguments (a Python bool or a scalar bool tensor) with the select that
applies a tensor one.
"""

from __future__ import annotations

import numbers
import re
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.ops.common import convert_to_tensor
from graphc.ops.layout_ops import reshape
from graphc.ops.math_ops import where
from graphc.ops.variables import Variable

__all__ = [
    "check_training",
    "conv_output_length",
    "deconv_output_length",
    "normalize_data_format",
    "normalize_padding",
    "normalize_tuple",
    "select_training",
    "to_snake_case",
]


def normalize_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int or an iterable of ``n`` ints as a tuple of ``n`` ints (TF1's
    ``conv_utils.normalize_tuple``), with TF1's error messages."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        values = tuple(value)
    except TypeError:
        raise ValueError(
            f"The `{name}` argument must be a tuple of {n} integers. Received: {value!r}"
        ) from None
    if len(values) != n:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received: {value!r}")
    out = []
    for v in values:
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise ValueError(
                f"The `{name}` argument must be a tuple of {n} integers. Received: {value!r} "
                f"including element {v!r} of type {type(v).__name__}"
            )
        out.append(int(v))
    return tuple(out)


def normalize_padding(value: Any) -> str:
    """'same' or 'valid' (any case) as the lower-case form layers keep (TF1's
    ``conv_utils.normalize_padding``)."""
    if not isinstance(value, str):
        raise ValueError(f"The `padding` argument must be 'valid' or 'same'. Received: {value!r}")
    padding = value.lower()
    if padding not in ("valid", "same"):
        if padding == "causal":
            raise NotImplementedError("padding='causal' is for 1-D convolutions, which tf.layers here lacks")
        raise ValueError(f"The `padding` argument must be 'valid' or 'same'. Received: {value!r}")
    return padding


def normalize_data_format(value: Any) -> str:
    """``channels_last`` (the default, also for None). ``channels_first`` raises
    NotImplementedError: graphc's convolutions and pools are NHWC only."""
    if value is None:
        return "channels_last"
    if not isinstance(value, str):
        raise ValueError(f"The `data_format` argument must be 'channels_last'. Received: {value!r}")
    data_format = value.lower()
    if data_format == "channels_first":
        raise NotImplementedError(
            "data_format='channels_first' (NCHW) is not supported: graphc's convolutions and pools "
            "are channels_last (NHWC) only; transpose the input with tf.transpose(x, [0, 2, 3, 1]) "
            "and use data_format='channels_last'"
        )
    if data_format != "channels_last":
        raise ValueError(
            f"The `data_format` argument must be 'channels_last' or 'channels_first'. Received: {value!r}"
        )
    return data_format


def conv_output_length(
    input_length: int | None, filter_size: int, padding: str, stride: int, dilation: int = 1
) -> int | None:
    """The output length of a convolution along one axis (TF1's ``conv_output_length``)."""
    if input_length is None:
        return None
    dilated = filter_size + (filter_size - 1) * (dilation - 1)
    if padding == "same":
        length = input_length
    else:
        length = input_length - dilated + 1
    return (length + stride - 1) // stride


def deconv_output_length(input_length: Any, filter_size: int, padding: str, stride: int) -> Any:
    """The output length of a transposed convolution along one axis (TF1's
    ``deconv_output_length`` without output_padding): ``in * stride`` for 'same',
    ``in * stride + max(filter - stride, 0)`` for 'valid'. ``input_length`` may be an int
    or a scalar int tensor (a dim unknown when the graph is built)."""
    length = input_length * stride
    if padding == "valid":
        length = length + max(filter_size - stride, 0)
    return length


def check_training(training: Any, layer: str) -> bool | Tensor:
    """``training`` as TF1's layers take it (``tf_utils.smart_cond``'s predicate): a Python
    bool, or 0 / 1, is that bool; a tensor (a ``tf.placeholder(tf.bool, [])``, a
    ``tf.placeholder_with_default(False, [])``, a bool variable) is returned as a scalar bool
    tensor, and the layer selects between its training and inference results with
    :func:`select_training` when the graph runs. A constant tensor is its value, as TF1's
    ``smart_cond`` folds a predicate whose value is known when the graph is built.

    A tensor must be bool (TypeError otherwise, as TF1's ``cond``) and a scalar: a known
    rank other than 0 is a ValueError (TF1's ``Switch`` shape check); an unknown shape is
    reshaped to ``[]``, so a fed value of any other size is an InvalidArgumentError when the
    graph runs."""
    if isinstance(training, Tensor | Variable) or hasattr(training, "_as_graph_element"):
        pred = convert_to_tensor(training)
        if pred.dtype != _dt.bool_:
            raise TypeError(
                f"{layer}: `training` given as a tensor must be bool, got {pred.name} of dtype {pred.dtype.name}"
            )
        ndims = pred.shape.ndims
        if ndims is not None and ndims != 0:
            raise ValueError(
                f"{layer}: `training` given as a tensor must be a scalar, got {pred.name} of shape {pred.shape}"
            )
        if pred.op.type == "Const":
            # TF1's smart_cond: a predicate known when the graph is built picks its branch then.
            return bool(np.asarray(pred.op.attrs["value"]).reshape(()))
        if ndims is None:
            pred = reshape(pred, [])
        return pred
    if isinstance(training, bool | np.bool_):
        return bool(training)
    if isinstance(training, numbers.Integral) and training in (0, 1):
        return bool(training)
    raise TypeError(f"{layer}: `training` must be a Tensor, or a Python bool, or 1 or 0, got {training!r}")


def select_training(
    training: bool | Tensor, on_true: Any, on_false: Any, name: str = "training_select"
) -> Any:
    """``on_true`` if ``training`` else ``on_false``: for a Python bool the chosen value
    itself (no op in the graph); for a scalar bool tensor (from :func:`check_training`)
    ``tf.where(training, on_true, on_false)``, the scalar broadcast over both values.

    This stands for TF1's ``smart_cond(training, true_fn, false_fn)``. The values are the
    same, but both sides are computed in every run (a select, not a cond): an inference
    run also computes the training side (dropout draws its mask, advancing its random
    counter; batch normalization computes the batch's moments), and its result is
    discarded. Both sides must have the same dtype; their shapes broadcast."""
    if isinstance(training, bool):
        return on_true if training else on_false
    with get_default_graph().name_scope(name):
        return where(training, on_true, on_false)


def to_snake_case(name: str) -> str:
    """Keras's default layer names from class names: ``Conv2DTranspose`` -> ``conv2d_transpose``."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    if insecure[0] != "_":
        return insecure
    return "private" + insecure
