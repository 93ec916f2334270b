"""tf.losses."""

from graphc.ops.losses import *  # noqa: F403
from graphc.ops.losses import __all__  # noqa: F401
