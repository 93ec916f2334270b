"""tf.keras.initializers: graphc's initializers by Keras's names (shared with tf.layers)."""

from graphc.layers.initializers import *  # noqa: F403
from graphc.layers.initializers import __all__  # noqa: F401
