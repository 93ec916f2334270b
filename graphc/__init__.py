"""graphc: a static-graph deep-learning compiler with TensorFlow 1's API.

``import graphc as tf`` gives the ``tf.compat.v1`` namespace; ``graphc.compat.v1``
is this same module.
"""

from graphc import dtypes, errors
from graphc.dtypes import (
    DType,
    as_dtype,
    bool_ as bool,  # noqa: A001  (TF's name)
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
)
from graphc.frontend.graph import (
    Graph,
    GraphKeys,
    Operation,
    Tensor,
    get_default_graph,
    reset_default_graph,
)
from graphc.frontend.tensor_shape import Dimension, TensorShape
from graphc.ops.variables import (
    Variable,
    all_variables,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    local_variables,
    local_variables_initializer,
    model_variables,
    trainable_variables,
    variables_initializer,
)
from graphc.ops.core_ops import (
    constant,
    group,
    identity,
    no_op,
    placeholder,
    placeholder_with_default,
    rank,
    shape,
    size,
    stop_gradient,
    tuple_ as tuple,  # noqa: A001
)
from graphc.ops.common import convert_to_tensor
from graphc.ops.math_ops import (
    abs,  # noqa: A004
    add,
    add_n,
    cast,
    ceil,
    clip_by_value,
    cos,
    div,
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
    pow,  # noqa: A004
    reciprocal,
    round,  # noqa: A004
    rsqrt,
    scalar_mul,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    truediv,
    where,
    where_v2,
)
from graphc.ops.compare_ops import (
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
from graphc.ops.math_ops import floormod as mod
from graphc.ops.math_ops import multiply as mul
from graphc.ops.math_ops import negative as neg
from graphc.ops.math_ops import subtract as sub
from graphc.ops.array_ops import (
    broadcast_to,
    concat,
    expand_dims,
    fill,
    gather,
    newaxis,
    one_hot,
    ones,
    ones_like,
    pad,
    range,  # noqa: A004
    reshape,
    reverse,
    reverse_v2,
    slice,  # noqa: A004
    split,
    squeeze,
    stack,
    strided_slice,
    tile,
    transpose,
    unstack,
    zeros,
    zeros_like,
)
from graphc.ops.reduction_ops import (
    arg_max,
    arg_min,
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
from graphc.ops.linalg_ops import matmul, tensordot
from graphc.ops import operators as _operators  # noqa: F401  (installs Tensor's Python operators)
from graphc.ops import fused_ops as _fused_ops  # noqa: F401  (registers Fused, made by fusion)
from graphc.ops import transfer_ops as _transfer_ops  # noqa: F401  (registers Transfer, made by partitioning)
from graphc.ops.random_ops import (
    random_normal,
    random_uniform,
    set_random_seed,
    truncated_normal,
)
from graphc.ops.state_ops import assign, assign_add, assign_sub
from graphc.ops.init_ops import (
    constant_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    orthogonal_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variance_scaling_initializer,
    zeros_initializer,
)
from graphc.ops.variable_scope import (
    AUTO_REUSE,
    VariableScope,
    get_variable,
    get_variable_scope,
    variable_scope,
)
from graphc.autodiff import RegisterGradient, custom_gradient, gradients, hessians
from graphc.runtime.session import (
    ConfigProto,
    GPUOptions,
    GraphOptions,
    InteractiveSession,
    OptimizerOptions,
    RunMetadata,
    RunOptions,
    Session,
)
from graphc.runtime.artifact import compile, load  # noqa: A004  (graphc.compile / graphc.load)
from graphc.frontend.default_session import get_default_session
from graphc.api_scopes import (
    add_to_collection,
    add_to_collections,
    control_dependencies,
    device,
    get_collection,
    get_collection_ref,
    name_scope,
    NotDifferentiable,
)
from graphc.ops.clip_ops import clip_by_average_norm, clip_by_global_norm, clip_by_norm, global_norm
from graphc.ops.scan_ops import cumprod, cumsum
from graphc.ops.gather_nd_ops import gather_nd, scatter_nd
from graphc.ops.norm_ops import norm
from graphc.ops.misc_ops import (
    eye,
    lin_space,
    linspace,
    sequence_mask,
    to_double,
    to_float,
    to_int32,
    to_int64,
)
from graphc.ops.control_flow_ops import case, cond, foldl, foldr, map_fn, scan, while_loop
from graphc.ops.tensor_array_ops import TensorArray
from graphc.ops.host_ops import (  # host callbacks: run on the host (NumPy) as segments of their own
    Assert,
    Print,
    assert_equal,
    assert_greater,
    assert_greater_equal,
    assert_integer,
    assert_less,
    assert_less_equal,
    assert_near,
    assert_negative,
    assert_non_negative,
    assert_non_positive,
    assert_none_equal,
    assert_positive,
    assert_rank,
    assert_type,
    numpy_function,
    print,  # noqa: A004  (TF's name)
    py_func,
)
from graphc.ops.unsupported import (  # TF1 names that raise NotImplementedError with advice
    scatter_add,
    scatter_sub,
    scatter_update,
)
from graphc.ops.dynamic_shape_ops import (  # data-dependent shapes (where, slice: all forms)
    boolean_mask,
    dynamic_partition,
    dynamic_stitch,
    parallel_dynamic_stitch,
    slice,  # noqa: A004, F811  (run-time bounds too)
    unique,
    unique_with_counts,
    where,  # noqa: F811  (the one-argument form too)
    where_v2,  # noqa: F811
)
from graphc.ops.rnn import reverse_sequence  # noqa: E402  (built from a gather; tf.nn's RNNs use it)
from graphc import nn, losses, train, initializers, random, math, linalg  # noqa: E402
from graphc import data, datasets, image, metrics, preprocessing  # noqa: E402
from graphc.image import random_crop  # noqa: E402
from graphc.metrics import confusion_matrix  # noqa: E402
from graphc import summary  # noqa: E402
from graphc.summary import Summary  # noqa: E402
from graphc import layers, keras  # noqa: E402
from graphc import contrib  # noqa: E402  (tf.contrib: a few aliases; any other name raises with advice)

# ``graphc.compat.v1`` is this module itself (TF1's namespace already), registered so
# that ``import graphc.compat.v1 as tf`` finds it without graphc.compat importing graphc.
import sys as _sys  # noqa: E402

from graphc import compat  # noqa: E402

compat.v1 = _sys.modules[__name__]
_sys.modules["graphc.compat.v1"] = _sys.modules[__name__]

# A TF1 name graphc lacks (tf.X, tf.nn.X, tf.train.X, ...) raises an AttributeError that says
# so, instead of Python's "Did you mean" (graphc/compat/tf1_names.py).
from graphc.compat import tf1_names as _tf1_names  # noqa: E402

_tf1_names.install_all(_sys.modules[__name__])

__version__ = "0.1.0"
