"""tf.contrib.rnn: TF1's contrib names for the RNN cells and functions, as aliases of
graphc's own (``tf.nn.rnn_cell`` and ``tf.nn``'s static/dynamic RNNs), with the same
variable names, and one contrib-only cell, :class:`LayerNormBasicLSTMCell`. The other
contrib-only cells (``GridLSTMCell``, ``AttentionCellWrapper``, ...) are not provided."""

from __future__ import annotations

import numbers
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops.common import convert_to_tensor
from graphc.ops.concat_ops import concat, split
from graphc.ops.init_ops import constant_initializer
from graphc.ops.linalg_ops import matmul
from graphc.ops.math_ops import add, floor, multiply, real_div, sigmoid
from graphc.ops.nn_ops import batch_normalization, moments
from graphc.ops.random_ops import random_uniform
from graphc.ops.rnn import bidirectional_dynamic_rnn, static_bidirectional_rnn, static_rnn
from graphc.ops.rnn_cell import (
    BasicLSTMCell,
    BasicRNNCell,
    DeviceWrapper,
    DropoutWrapper,
    GRUCell,
    LSTMCell,
    LSTMStateTuple,
    MultiRNNCell,
    ResidualWrapper,
    RNNCell,
    _activation,
    _batch_size_of,
    _depth,
)
from graphc.ops.variable_scope import variable_scope

__all__ = [
    "BasicLSTMCell",
    "BasicRNNCell",
    "DeviceWrapper",
    "DropoutWrapper",
    "GRUCell",
    "LSTMCell",
    "LSTMStateTuple",
    "LayerNormBasicLSTMCell",
    "MultiRNNCell",
    "RNNCell",
    "ResidualWrapper",
    "bidirectional_dynamic_rnn",
    "static_bidirectional_rnn",
    "static_rnn",
]


class LayerNormBasicLSTMCell(RNNCell):
    """tf.contrib.rnn.LayerNormBasicLSTMCell(num_units, forget_bias=1.0, input_size=None,
    activation=tanh, layer_norm=True, norm_gain=1.0, norm_shift=0.0, dropout_keep_prob=1.0,
    dropout_prob_seed=None, reuse=None): TF1's LSTM with layer normalization (Ba et al.
    2016) and recurrent dropout (Semeniuta et al. 2016).

    ``[i, j, f, o] = [x, h] kernel`` (no bias with ``layer_norm``; else ``+ bias``), each
    gate layer-normalized over its units (``LN(z) = (z - mean) / sqrt(var + 1e-12) * gamma
    + beta``, gamma starting at ``norm_gain``, beta at ``norm_shift``; scopes ``input``,
    ``transform``, ``forget``, ``output``), ``g = dropout(act(j), dropout_keep_prob)``,
    ``c' = LN_state(c * sigmoid(f + forget_bias) + sigmoid(i) * g)``, ``h' = act(c') *
    sigmoid(o)``. Variables under ``layer_norm_basic_lstm_cell/``: ``kernel``
    (``bias``), ``input/gamma``, ``input/beta``, ..., ``state/beta``.

    The dropout draws a fresh mask at each step under ``tf.nn.static_rnn`` or a direct call,
    as TF1; under ``tf.nn.dynamic_rnn`` it draws one mask per call, before the loop, and
    uses it at every step (graphc refuses random ops inside a loop body)."""

    _default_name = "layer_norm_basic_lstm_cell"

    def __init__(
        self,
        num_units: int,
        forget_bias: float = 1.0,
        input_size: Any = None,
        activation: Any = None,
        layer_norm: bool = True,
        norm_gain: float = 1.0,
        norm_shift: float = 0.0,
        dropout_keep_prob: Any = 1.0,
        dropout_prob_seed: int | None = None,
        reuse: Any = None,
    ) -> None:
        super().__init__(reuse=reuse)
        self._num_units = int(num_units)
        self._forget_bias = float(forget_bias)
        self._activation = _activation(activation)
        self._layer_norm = bool(layer_norm)
        self._norm_gain = float(norm_gain)
        self._norm_shift = float(norm_shift)
        self._keep_prob = dropout_keep_prob
        self._seed = dropout_prob_seed
        self._loop_mask: Tensor | None = None

    @property
    def state_size(self) -> LSTMStateTuple:
        return LSTMStateTuple(self._num_units, self._num_units)

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, inputs_shape: TensorShape) -> None:
        d = _depth(inputs_shape)
        n = self._num_units
        self._kernel = self.add_variable("kernel", [d + n, 4 * n])
        self._bias = None if self._layer_norm else self.add_variable("bias", [4 * n])
        self._norms: dict[str, tuple[Any, Any]] = {}
        if self._layer_norm:
            for what in ("input", "transform", "forget", "output", "state"):
                with variable_scope(what):
                    gamma = self.add_variable("gamma", [n], initializer=constant_initializer(self._norm_gain))
                    beta = self.add_variable("beta", [n], initializer=constant_initializer(self._norm_shift))
                self._norms[what] = (gamma, beta)
        self.built = True

    def _norm(self, x: Tensor, what: str) -> Tensor:
        gamma, beta = self._norms[what]
        mean, var = moments(x, [1], keep_dims=True)
        return batch_normalization(x, mean, var, beta, gamma, 1e-12)

    def _dropout_active(self) -> bool:
        return not (isinstance(self._keep_prob, numbers.Real) and float(self._keep_prob) >= 1.0)

    def _mask(self, batch_size: Any, dtype: _dt.DType) -> Tensor:
        # tf.nn.dropout's mask: floor(keep + U[0, 1)) / keep.
        kp = convert_to_tensor(self._keep_prob, dtype=dtype)
        u = random_uniform([batch_size, self._num_units], dtype=dtype, seed=self._seed)
        return real_div(floor(add(kp, u)), kp)

    def _begin_loop(self, batch_size: Any, inputs_shape: TensorShape, dtype: _dt.DType) -> None:
        if self._dropout_active():
            self._loop_mask = self._mask(batch_size, dtype)

    def _end_loop(self) -> None:
        self._loop_mask = None

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, LSTMStateTuple]:
        c, h = state
        z = matmul(concat([inputs, h], 1), self._kernel)
        if self._bias is not None:
            z = add(z, self._bias)
        i, j, f, o = split(z, 4, axis=1)
        if self._layer_norm:
            i, j = self._norm(i, "input"), self._norm(j, "transform")
            f, o = self._norm(f, "forget"), self._norm(o, "output")
        g = self._activation(j)
        if self._dropout_active():
            mask = self._loop_mask if self._loop_mask is not None else self._mask(_batch_size_of(g), g.dtype)
            g = multiply(g, mask)
        fb = convert_to_tensor(self._forget_bias, dtype=f.dtype)
        new_c = add(multiply(c, sigmoid(add(f, fb))), multiply(sigmoid(i), g))
        if self._layer_norm:
            new_c = self._norm(new_c, "state")
        new_h = multiply(self._activation(new_c), sigmoid(o))
        return new_h, LSTMStateTuple(new_c, new_h)
