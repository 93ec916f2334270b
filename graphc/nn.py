"""tf.nn: the public names of graphc.ops.nn_ops, plus embedding_lookup and top_k."""

from graphc.ops.embedding_ops import embedding_lookup
from graphc.ops.nn_ops import *  # noqa: F403
from graphc.ops.nn_ops import __all__ as _NN_ALL
from graphc.ops.topk_ops import top_k

__all__ = sorted([*_NN_ALL, "embedding_lookup", "top_k"])
