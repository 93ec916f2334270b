"""tf.nn: the public names of graphc.ops.nn_ops, plus embedding_lookup (partitioned params
included), the candidate samplers and the sampled losses (nce_loss, sampled_softmax_loss)
of graphc.ops.candidate_sampling_ops, and top_k."""

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

__all__ = sorted(
    [
        *_NN_ALL,
        "embedding_lookup",
        "log_uniform_candidate_sampler",
        "nce_loss",
        "sampled_softmax_loss",
        "top_k",
        "uniform_candidate_sampler",
    ]
)
