"""tf.keras (Keras in TF1's graph mode): Sequential, functional and subclassed models,
layers, losses, metrics, optimizers, callbacks and saving, all built from graphc's graph
ops and run in a graphc Session (:mod:`graphc.keras.backend`). See
:mod:`graphc.keras.models` for how training runs and :mod:`graphc.keras.saving` for the
file format."""

from graphc.keras import (
    activations,
    backend,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from graphc.keras.layers import Input
from graphc.keras.models import Model, Sequential

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "utils",
]
