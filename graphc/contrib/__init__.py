"""tf.contrib: the few of TF1's contrib names that tutorials use most, as aliases of
graphc's own (``tf.contrib.layers``, ``tf.contrib.framework``, ``tf.contrib.rnn``: the
cells and functions of ``tf.nn.rnn_cell`` and ``tf.nn``).

TF1's contrib was a collection of experimental packages outside its API; graphc does not
provide it. Any other ``tf.contrib.X`` raises an AttributeError saying so and naming what
to use instead (``tf.contrib.slim``: ``tf.layers``; ...)."""

from __future__ import annotations

from typing import NoReturn

from graphc.contrib import framework, layers, rnn
from graphc.contrib._missing import contrib_error

__all__ = ["framework", "layers", "rnn"]

# What to use instead of each contrib package TF1 programs commonly reach for.
_INSTEAD: dict[str, str] = {
    "cudnn_rnn": "use the cells of tf.nn.rnn_cell",
    "slim": "use tf.layers (dense, conv2d, max_pooling2d, batch_normalization, dropout) and tf.losses",
    "keras": "use tf.keras",
    "losses": "use tf.losses",
    "metrics": "use tf.metrics",
    "training": "use tf.train",
    "data": "use tf.data",
    "image": "use tf.image",
    "opt": "use the optimizers of tf.train",
    "summary": "use tf.summary",
    "learn": "write the training loop with tf.Session and tf.train's optimizers",
    "estimator": "write the training loop with tf.Session and tf.train's optimizers",
    "seq2seq": "build the model from tf.nn.rnn_cell's cells and tf.nn's ops",
    "legacy_seq2seq": "build the model from tf.nn.rnn_cell's cells and tf.nn's ops",
    "distributions": "sample with tf.random_* and write the densities with tf.math",
}


def __getattr__(name: str) -> NoReturn:
    """Any tf.contrib package graphc lacks: an AttributeError naming what to use instead."""
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise contrib_error(f"tf.contrib.{name}", _INSTEAD.get(name), __name__)
