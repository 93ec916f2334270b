"""tf.keras.activations: the named activations (shared with tf.layers)."""

from graphc.layers.activations import *  # noqa: F403
from graphc.layers.activations import __all__  # noqa: F401
