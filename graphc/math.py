"""tf.math: the elementwise and reduction ops under their tf.math names."""

from graphc.metrics import confusion_matrix  # noqa: F401
from graphc.ops.activation_ops import softplus  # noqa: F401
from graphc.ops.compare_ops import (  # noqa: F401
    equal,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    not_equal,
)
from graphc.ops.math_ops import (  # noqa: F401
    abs,
    add,
    add_n,
    ceil,
    cos,
    divide,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    floormod,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    pow,
    reciprocal,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    truediv,
)
from graphc.ops.math_ops import floormod as mod  # noqa: F401
from graphc.ops.nn_ops import log_softmax, softmax  # noqa: F401
from graphc.ops.norm_ops import reduce_std, reduce_variance  # noqa: F401
from graphc.ops.reduction_ops import (  # noqa: F401
    argmax,
    argmin,
    count_nonzero,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
)
from graphc.ops.scan_ops import cumprod, cumsum  # noqa: F401
from graphc.ops.topk_ops import top_k  # noqa: F401
