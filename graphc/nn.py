"""tf.nn: the public names of graphc.ops.nn_ops, plus top_k."""

from graphc.ops.nn_ops import *  # noqa: F403
from graphc.ops.nn_ops import __all__ as _NN_ALL
from graphc.ops.topk_ops import top_k

__all__ = [*_NN_ALL, "top_k"]
