"""tf.math: the elementwise and reduction ops under their tf.math names."""

from graphc.ops.math_ops import (  # noqa: F401
    abs, add, add_n, ceil, cos, divide, equal, erf, exp, expm1, floor, floordiv, floormod,
    greater, greater_equal, less, less_equal, log, log1p, logical_and, logical_not, logical_or,
    logical_xor, maximum, minimum, multiply, negative, not_equal, pow, reciprocal, round, rsqrt,
    sigmoid, sign, sin, softplus, sqrt, square, squared_difference, subtract, tanh, truediv,
)
from graphc.ops.reduction_ops import (  # noqa: F401
    argmax, argmin, count_nonzero, reduce_all, reduce_any, reduce_logsumexp, reduce_max,
    reduce_mean, reduce_min, reduce_prod, reduce_sum,
)
from graphc.ops.nn_ops import log_softmax, softmax  # noqa: F401
from graphc.ops.math_ops import floormod as mod  # noqa: F401
