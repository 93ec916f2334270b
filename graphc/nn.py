"""tf.nn: the public names of graphc.ops.nn_ops, plus embedding_lookup (partitioned params
included), the candidate samplers and the sampled losses (nce_loss, sampled_softmax_loss)
of graphc.ops.candidate_sampling_ops, top_k, and the RNNs: ``tf.nn.rnn_cell`` (graphc.ops.rnn_cell),
static_rnn, static_bidirectional_rnn, dynamic_rnn, bidirectional_dynamic_rnn, raw_rnn (graphc.ops.rnn)."""

from graphc.ops import rnn_cell  # tf.nn.rnn_cell: the RNN cells
from graphc.ops.candidate_sampling_ops import (
    embedding_lookup,
    log_uniform_candidate_sampler,
    nce_loss,
    sampled_softmax_loss,
    uniform_candidate_sampler,
)
from graphc.ops.dynamic_shape_ops import top_k  # a static k: TopKV2; a run-time k: TopKDynamic
from graphc.ops.nn_ops import *  # noqa: F403
from graphc.ops.nn_ops import __all__ as _NN_ALL
from graphc.ops.rnn import (
    bidirectional_dynamic_rnn,
    dynamic_rnn,
    raw_rnn,
    static_bidirectional_rnn,
    static_rnn,
)

__all__ = sorted(
    [
        *_NN_ALL,
        "bidirectional_dynamic_rnn",
        "dynamic_rnn",
        "embedding_lookup",
        "log_uniform_candidate_sampler",
        "nce_loss",
        "raw_rnn",
        "rnn_cell",
        "sampled_softmax_loss",
        "static_bidirectional_rnn",
        "static_rnn",
        "top_k",
        "uniform_candidate_sampler",
    ]
)
