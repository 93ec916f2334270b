"""tf.nn."""

from graphc.ops.math_ops import elu, leaky_relu, relu, relu6, selu, sigmoid, softplus, tanh
from graphc.ops.nn_ops import (
    avg_pool,
    batch_normalization,
    bias_add,
    conv1d,
    conv2d,
    conv2d_transpose,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    dropout,
    embedding_lookup,
    in_top_k,
    l2_loss,
    l2_normalize,
    log_softmax,
    max_pool,
    moments,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
    swish,
    weighted_cross_entropy_with_logits,
    xw_plus_b,
)

__all__ = [
    "avg_pool", "conv1d", "conv2d_transpose", "swish", "weighted_cross_entropy_with_logits", "xw_plus_b", "batch_normalization", "bias_add", "conv2d", "conv2d_backprop_filter",
    "conv2d_backprop_input", "dropout", "elu", "embedding_lookup", "in_top_k", "l2_loss",
    "l2_normalize", "leaky_relu", "log_softmax", "max_pool", "moments", "relu", "relu6", "selu",
    "sigmoid", "sigmoid_cross_entropy_with_logits", "softmax", "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2", "softplus", "sparse_softmax_cross_entropy_with_logits", "tanh",
]
