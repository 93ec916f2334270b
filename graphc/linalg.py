"""tf.linalg."""

from graphc.ops.linalg_ops import matmul, tensordot  # noqa: F401
from graphc.ops.misc_ops import eye  # noqa: F401
from graphc.ops.norm_ops import norm  # noqa: F401
