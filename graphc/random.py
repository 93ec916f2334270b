"""tf.random (the TF1 names that live under it)."""

from graphc.ops.random_ops import random_normal as normal
from graphc.ops.random_ops import random_uniform as uniform
from graphc.ops.random_ops import set_random_seed, truncated_normal
from graphc.ops.random_ops import set_random_seed as set_seed

__all__ = ["normal", "uniform", "truncated_normal", "set_random_seed", "set_seed"]
