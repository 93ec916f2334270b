"""tf.keras.regularizers: l1, l2, l1_l2 and L1L2 (shared with tf.layers)."""

from graphc.layers.regularizers import *  # noqa: F403
from graphc.layers.regularizers import __all__  # noqa: F401
