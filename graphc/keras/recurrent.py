"""tf.keras.layers.SimpleRNN, LSTM and GRU (TF1 1.15's Keras, its v1 recurrent layers):
Keras's weights (``kernel`` [input_dim, k * units], ``recurrent_kernel`` [units, k * units],
``bias``) and equations, run over time by ``tf.nn.dynamic_rnn``'s while loop
(graphc.ops.rnn) with a cell holding the layer's weights.

- SimpleRNN: ``h' = act(x W + h U + b)``.
- LSTM (gates ``i, f, c, o`` in that order): ``i = ra(x W_i + h U_i + b_i)``, ``f``
  alike, ``c' = f c + i act(x W_c + h U_c + b_c)``, ``o = ra(...)``, ``h' = o act(c')``;
  ``unit_forget_bias`` starts ``b_f`` at 1. States ``[h, c]``.
- GRU (gates ``z, r, h``): ``z = ra(x W_z + h U_z + b_z)``, ``r`` alike,
  ``hh = act(x W_h + (r h) U_h + b_h)`` (``reset_after=True``: ``act(x W_h + b_h + r (h U_h
  + b'_h))`` with a bias of shape [2, 3 units]), ``h' = z h + (1 - z) hh``.

TF1 1.15's defaults: ``activation='tanh'``, ``recurrent_activation='hard_sigmoid'`` (LSTM,
GRU), ``kernel_initializer='glorot_uniform'``, ``recurrent_initializer='orthogonal'``,
``bias_initializer='zeros'``. ``return_sequences``, ``return_state``, ``go_backwards``
(the sequence read backwards, outputs in that reversed order, as Keras) and an
``initial_state`` call argument are supported. Not supported (NotImplementedError):
``dropout`` / ``recurrent_dropout`` other than 0, ``stateful``, ``unroll``, masking.

These layers derive from graphc.layers.base's Layer (Keras style) directly, not from
graphc.keras.layers.Layer, which imports this module; they have the same weights API.
"""

from __future__ import annotations

from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.keras.weights import KerasWeights
from graphc.layers import activations
from graphc.layers import base as _base
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.ops.concat_ops import concat, split
from graphc.ops.fill_ops import ones, zeros
from graphc.ops.init_ops import Initializer
from graphc.ops.layout_ops import reverse
from graphc.ops.linalg_ops import matmul
from graphc.ops.math_ops import add, multiply, subtract
from graphc.ops.rnn import dynamic_rnn
from graphc.ops.rnn_cell import RNNCell

__all__ = ["GRU", "LSTM", "SimpleRNN"]


class _StepCell(RNNCell):
    """A cell whose step is the layer's (its weights are the layer's, made before any loop)."""

    def __init__(self, layer: _Recurrent) -> None:
        super().__init__(name=layer.name)
        self._layer = layer
        self.built = True

    @property
    def state_size(self) -> Any:
        return tuple([self._layer.units] * self._layer._n_states)

    @property
    def output_size(self) -> int:
        return self._layer.units

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        out, new_state = self._layer._step(inputs, list(state))
        return out, tuple(new_state)


class _Recurrent(KerasWeights, _base.Layer):
    """What SimpleRNN, LSTM and GRU share: the weights, the loop, the outputs, the config."""

    _keras_style = True
    _call_training_default = None
    _gates = 1
    _n_states = 1
    _default_recurrent_activation: str | None = None

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        time_major: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("implementation", None)  # Keras's kernel layout choice: the same math here
        if dropout or recurrent_dropout:
            raise NotImplementedError(f"{type(self).__name__}: dropout / recurrent_dropout are not supported")
        if stateful:
            raise NotImplementedError(f"{type(self).__name__}: stateful=True is not supported")
        if unroll:
            raise NotImplementedError(
                f"{type(self).__name__}: unroll=True is not supported (the loop is a while loop)"
            )
        super().__init__(activity_regularizer=_regs.get(activity_regularizer), **kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        ra = recurrent_activation if recurrent_activation is not None else self._default_recurrent_activation
        self.recurrent_activation = activations.get(ra) if ra is not None else None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _inits.get(kernel_initializer)
        self.recurrent_initializer = _inits.get(recurrent_initializer)
        self.bias_initializer = _inits.get(bias_initializer)
        self.kernel_regularizer = _regs.get(kernel_regularizer)
        self.recurrent_regularizer = _regs.get(recurrent_regularizer)
        self.bias_regularizer = _regs.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = 0.0
        self.recurrent_dropout = 0.0
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.time_major = bool(time_major)
        self.input_spec = _base.InputSpec(ndim=3)

    # -- weights --------------------------------------------------------------------------------
    def _bias_shape(self) -> list[int]:
        return [self._gates * self.units]

    def _bias_init(self) -> Any:
        return self.bias_initializer

    def build(self, input_shape: Any) -> None:
        shp = TensorShape(input_shape).as_list()
        depth = shp[-1]
        if depth is None:
            raise ValueError(
                f"The last dimension of the inputs to {self.name} should be defined. Found None."
            )
        n = self._gates * self.units
        dt = self._dtype or _dt.float32
        self.kernel = self.add_weight(
            "kernel",
            shape=[int(depth), n],
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            dtype=dt,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            shape=[self.units, n],
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            dtype=dt,
        )
        self.bias = (
            self.add_weight(
                "bias",
                shape=self._bias_shape(),
                initializer=self._bias_init(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                dtype=dt,
            )
            if self.use_bias
            else None
        )
        self.built = True

    def _step(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        raise NotImplementedError

    # -- the call ---------------------------------------------------------------------------------
    def call(self, inputs: Tensor, initial_state: Any = None, training: Any = None, mask: Any = None) -> Any:
        if mask is not None:
            raise NotImplementedError(f"{self.name}: masking is not supported")
        x = inputs
        time_axis = 0 if self.time_major else 1
        if self.go_backwards:
            x = reverse(x, [time_axis])
        cell = _StepCell(self)
        init = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
            if len(states) != self._n_states:
                raise ValueError(
                    f"Layer {self.name} expects {self._n_states} state(s), but it received "
                    f"{len(states)} initial state(s)."
                )
            init = tuple(states)
        outputs, final = dynamic_rnn(cell, x, initial_state=init, dtype=x.dtype, time_major=self.time_major)
        final = list(final)
        out = outputs if self.return_sequences else final[0]  # h' is the last step's output
        if self.return_state:
            return [out, *final]
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        shp = TensorShape(input_shape).as_list()
        batch, steps = (shp[1], shp[0]) if self.time_major else (shp[0], shp[1])
        if self.return_sequences:
            out = TensorShape([steps, batch, self.units] if self.time_major else [batch, steps, self.units])
        else:
            out = TensorShape([batch, self.units])
        if self.return_state:
            return [out, *[TensorShape([batch, self.units]) for _ in range(self._n_states)]]
        return out

    # -- Keras's layer API ------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as JSON (Keras's layer config)."""
        for what in ("kernel_constraint", "recurrent_constraint", "bias_constraint"):
            if getattr(self, what) is not None:
                raise ValueError(f"{what} cannot be stored in a model's config")
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype or "float32",
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _inits.serialize(self.kernel_initializer),
            "recurrent_initializer": _inits.serialize(self.recurrent_initializer),
            "bias_initializer": _inits.serialize(self.bias_initializer),
            "kernel_regularizer": _regs.serialize(self.kernel_regularizer),
            "recurrent_regularizer": _regs.serialize(self.recurrent_regularizer),
            "bias_regularizer": _regs.serialize(self.bias_regularizer),
            "activity_regularizer": _regs.serialize(self.activity_regularizer),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "time_major": self.time_major,
        }
        if self.recurrent_activation is not None:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config


class SimpleRNN(_Recurrent):
    """tf.keras.layers.SimpleRNN(units, activation='tanh', use_bias=True, ...): a fully
    connected RNN, ``h' = act(x W + h U + b)``."""

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        super().__init__(units, activation=activation, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("recurrent_activation", None)
        return config

    def _step(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        z = add(matmul(x, self.kernel), matmul(states[0], self.recurrent_kernel))
        if self.bias is not None:
            z = add(z, self.bias)
        h = self.activation(z) if self.activation is not None else z
        return h, [h]


class _UnitForgetBias(Initializer):
    """Keras's ``unit_forget_bias``: the bias initializer's values with ones for the f gate."""

    def __init__(self, base: Any, units: int) -> None:
        self.base = base
        self.units = units

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        n = self.units
        dt = _dt.as_dtype(dtype) if dtype is not None else _dt.float32
        b = self.base([n], dtype=dt) if self.base is not None else zeros([n], dtype=dt)
        rest = self.base([2 * n], dtype=dt) if self.base is not None else zeros([2 * n], dtype=dt)
        return concat([b, ones([n], dtype=dt), rest], 0)


class LSTM(_Recurrent):
    """tf.keras.layers.LSTM(units, activation='tanh', recurrent_activation='hard_sigmoid',
    use_bias=True, ..., unit_forget_bias=True, ...): Keras's LSTM (Hochreiter 1997), gates
    ``i, f, c, o``; states ``[h, c]`` (``return_state``: ``[output, h, c]``)."""

    _gates = 4
    _n_states = 2
    _default_recurrent_activation = "hard_sigmoid"

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self) -> Any:
        if self.unit_forget_bias:
            return _UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}

    def _step(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h_prev, c_prev = states
        z = add(matmul(x, self.kernel), matmul(h_prev, self.recurrent_kernel))
        if self.bias is not None:
            z = add(z, self.bias)
        zi, zf, zc, zo = split(z, 4, axis=1)
        ra = self.recurrent_activation
        i, f, o = ra(zi), ra(zf), ra(zo)
        c = add(multiply(f, c_prev), multiply(i, self.activation(zc)))
        h = multiply(o, self.activation(c))
        return h, [h, c]


class GRU(_Recurrent):
    """tf.keras.layers.GRU(units, activation='tanh', recurrent_activation='hard_sigmoid',
    use_bias=True, ..., reset_after=False): Keras's GRU (Cho 2014), gates ``z, r, h``;
    with ``reset_after`` the reset gate applies after the recurrent matmul (CuDNN's
    variant, a bias of shape [2, 3 units])."""

    _gates = 3
    _n_states = 1
    _default_recurrent_activation = "hard_sigmoid"

    def __init__(self, units: int, reset_after: bool = False, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> list[int]:
        return [2, 3 * self.units] if self.reset_after else [3 * self.units]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}

    def _step(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h_prev = states[0]
        n = self.units
        ra, act = self.recurrent_activation, self.activation
        xw = matmul(x, self.kernel)
        if self.bias is not None:
            if self.reset_after:
                b_in, b_rec = self.bias[0], self.bias[1]
            else:
                b_in, b_rec = self.bias, None
            xw = add(xw, b_in)
        else:
            b_rec = None
        x_z, x_r, x_h = split(xw, 3, axis=1)
        u_zr, u_h = split(self.recurrent_kernel, [2 * n, n], axis=1)
        if self.reset_after:
            hu = matmul(h_prev, self.recurrent_kernel)
            if b_rec is not None:
                hu = add(hu, b_rec)
            h_z, h_r, h_h = split(hu, 3, axis=1)
            z, r = ra(add(x_z, h_z)), ra(add(x_r, h_r))
            hh = act(add(x_h, multiply(r, h_h)))
        else:
            h_z, h_r = split(matmul(h_prev, u_zr), 2, axis=1)
            z, r = ra(add(x_z, h_z)), ra(add(x_r, h_r))
            hh = act(add(x_h, matmul(multiply(r, h_prev), u_h)))
        one = ones([], dtype=z.dtype)
        h = add(multiply(z, h_prev), multiply(subtract(one, z), hh))
        return h, [h]
