"""tf.contrib.rnn: TF1's contrib names for the RNN cells and functions, as aliases of
graphc's own (``tf.nn.rnn_cell`` and ``tf.nn``'s static/dynamic RNNs), with the same
variable names. TF1's contrib-only cells (LayerNormBasicLSTMCell, ...) are not provided."""

from __future__ import annotations

from graphc.ops.rnn import bidirectional_dynamic_rnn, static_bidirectional_rnn, static_rnn
from graphc.ops.rnn_cell import (
    BasicLSTMCell,
    BasicRNNCell,
    DropoutWrapper,
    GRUCell,
    LSTMCell,
    LSTMStateTuple,
    MultiRNNCell,
    RNNCell,
)

__all__ = [
    "BasicLSTMCell",
    "BasicRNNCell",
    "DropoutWrapper",
    "GRUCell",
    "LSTMCell",
    "LSTMStateTuple",
    "MultiRNNCell",
    "RNNCell",
    "bidirectional_dynamic_rnn",
    "static_bidirectional_rnn",
    "static_rnn",
]
