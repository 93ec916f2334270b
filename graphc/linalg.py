"""tf.linalg."""

from graphc.ops.linalg_ops import matmul, tensordot  # noqa: F401
