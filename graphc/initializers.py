"""tf.initializers."""

from graphc.ops.init_ops import constant_initializer as constant
from graphc.ops.init_ops import glorot_normal_initializer as glorot_normal
from graphc.ops.init_ops import glorot_uniform_initializer as glorot_uniform
from graphc.ops.init_ops import ones_initializer as ones
from graphc.ops.init_ops import orthogonal_initializer as orthogonal
from graphc.ops.init_ops import random_normal_initializer as random_normal
from graphc.ops.init_ops import random_uniform_initializer as random_uniform
from graphc.ops.init_ops import truncated_normal_initializer as truncated_normal
from graphc.ops.init_ops import variance_scaling_initializer as variance_scaling
from graphc.ops.init_ops import zeros_initializer as zeros
from graphc.ops.variables import global_variables_initializer


def global_variables():  # type: ignore[no-untyped-def]
    """tf.initializers.global_variables()."""

    return global_variables_initializer()


__all__ = [
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "zeros",
    "global_variables",
]
