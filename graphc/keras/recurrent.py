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
``bias_initializer='zeros'``, ``implementation=1``. ``return_sequences``,
``return_state``, ``go_backwards`` (the sequence read backwards, outputs in that reversed
order, as Keras) and an ``initial_state`` call argument are supported, and:

- ``dropout`` / ``recurrent_dropout`` (Keras's masks): in training only (the ``training``
  call argument, else the Keras learning phase; a scalar bool tensor selects each run),
  masks of ``tf.nn.dropout(ones, rate)`` are drawn once per call, ``[batch, input_dim]``
  for the inputs and ``[batch, units]`` for the recurrent state ``h``, and used at every
  step: with ``implementation=1`` one mask per gate (``x_i = x * m_i``, ``h_i = h * r_i``,
  ...), with ``implementation=2`` one mask for all gates. ``h' = z h + ...`` (GRU) and the
  carried state use the undropped ``h``. The last call's masks are ``layer.dropout_masks``
  and ``layer.recurrent_dropout_masks`` (lists, one per gate; None when off).
- masking: a ``mask`` call argument ([batch, time], bool or nonzero; ``[time, batch]``
  with ``time_major``): at a masked step the states and the output are the previous ones
  (the output is zeros before the first unmasked step), as Keras's ``K.rnn``; the last
  output is the one of the last unmasked step. The mask of the inputs (``Masking``,
  ``Embedding(mask_zero=True)``: graphc.keras.masking) is used when none is given; the
  sequence output keeps it, the last output has none.
- ``stateful=True``: the states are non-trainable variables ``[batch, units]`` (the batch
  size must be known: ``batch_input_shape``, or an input of static batch size), zeros at
  first; each call starts from them and its outputs depend on the assignment of the final
  states to them (also in ``layer.updates``), so every run that fetches an output carries
  the states on. ``reset_states(states=None)`` writes zeros (or the given arrays).
- ``unroll=True`` is accepted (the time dimension must be known, as Keras) and runs as
  the same loop: the results are the same.

These layers derive from graphc.layers.base's Layer (Keras style) directly, not from
graphc.keras.layers.Layer, which imports this module; they have the same weights API.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.keras import backend as _backend
from graphc.keras.masking import KerasMasking
from graphc.keras.weights import KerasWeights
from graphc.layers import activations
from graphc.layers import base as _base
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.layers.utils import select_training
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import greater, not_equal
from graphc.ops.concat_ops import concat, split
from graphc.ops.core_ops import identity
from graphc.ops.core_ops import shape as _shape
from graphc.ops.fill_ops import ones, zeros, zeros_like
from graphc.ops.init_ops import Initializer
from graphc.ops.layout_ops import expand_dims, reverse
from graphc.ops.linalg_ops import matmul
from graphc.ops.math_ops import add, cast, multiply, subtract
from graphc.ops.math_ops import where_v2 as _select
from graphc.ops.nn_ops import dropout as _nn_dropout
from graphc.ops.rnn import dynamic_rnn
from graphc.ops.rnn_cell import RNNCell
from graphc.ops.state_ops import assign
from graphc.ops.variables import Variable

__all__ = ["GRU", "LSTM", "SimpleRNN"]


class _StepCell(RNNCell):
    """A cell whose step is the layer's (its weights are the layer's, made before any
    loop). With a mask its inputs are ``(x_t, mask_t [batch, 1])`` and its state ends with
    the previous output: a masked row keeps its states and output."""

    def __init__(self, layer: _Recurrent, masked: bool = False) -> None:
        super().__init__(name=layer.name)
        self._layer = layer
        self._with_mask = masked
        self.built = True

    @property
    def state_size(self) -> Any:
        return tuple([self._layer.units] * (self._layer._n_states + int(self._with_mask)))

    @property
    def output_size(self) -> int:
        return self._layer.units

    def call(self, inputs: Any, state: Any) -> tuple[Tensor, Any]:
        if not self._with_mask:
            out, new_state = self._layer._step(inputs, list(state))
            return out, tuple(new_state)
        x, m = inputs
        states, prev_out = list(state[:-1]), state[-1]
        out, new_state = self._layer._step(x, states)
        keep = greater(m, convert_to_tensor(0.5, dtype=m.dtype))  # [batch, 1]
        out = _select(keep, out, prev_out)
        new_state = [_select(keep, n, o) for n, o in zip(new_state, states)]
        return out, (*new_state, out)


def _dot_gates(parts: list[Tensor], w: Tensor, n: int) -> list[Tensor]:
    """``[parts[k] w_k]`` for ``w``'s ``n`` column blocks; one matmul when every part is the
    same tensor (no dropout, or one mask for all gates)."""
    if all(p is parts[0] for p in parts):
        y = matmul(parts[0], w)
        return split(y, n, axis=1) if n > 1 else [y]
    return [matmul(p, wk) for p, wk in zip(parts, split(w, n, axis=1) if n > 1 else [w])]


class _Recurrent(KerasMasking, KerasWeights, _base.Layer):
    """What SimpleRNN, LSTM and GRU share: the weights, the loop, the outputs, the config."""

    _keras_style = True
    _call_training_default = None
    _gates = 1
    _n_states = 1
    _default_recurrent_activation: str | None = None
    _has_implementation = False

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
        implementation: int = 1,
        **kwargs: Any,
    ) -> None:
        if int(implementation) not in (1, 2):
            raise ValueError(f"{type(self).__name__}: implementation must be 1 or 2, got {implementation!r}")
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
        # Keras clips the rates to [0, 1]; a rate of 0 or 1 means no dropout.
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.implementation = int(implementation)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.time_major = bool(time_major)
        self.input_spec = _base.InputSpec(ndim=3)
        self.supports_masking = True
        self.states: list[Variable | None] = [None] * self._n_states
        self.dropout_masks: list[Tensor] | None = None
        self.recurrent_dropout_masks: list[Tensor] | None = None
        self._dp: list[Tensor] | None = None
        self._rdp: list[Tensor] | None = None

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
        if self.stateful:
            batch = shp[1] if self.time_major else shp[0]
            if batch is None:
                raise ValueError(
                    "If a RNN is stateful, it needs to know its batch size. Specify the batch size "
                    "of your input tensors: with a Sequential model, a `batch_input_shape` argument "
                    "to your first layer; with the functional API, a `batch_shape` argument to your "
                    "Input layer."
                )
            self.states = [
                Variable(np.zeros((int(batch), self.units), dt.np), trainable=False, name=f"state_{k}")
                for k in range(self._n_states)
            ]
        self.built = True

    def _step(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        raise NotImplementedError

    def _gate_parts(self, x: Tensor, masks: list[Tensor] | None, n: int) -> list[Tensor]:
        """``x`` for each of ``n`` gates: ``x * mask_k`` with dropout, else ``x`` itself."""
        if masks is None:
            return [x] * n
        return [multiply(x, m) for m in masks[:n]]

    # -- dropout masks ----------------------------------------------------------------------------
    def _masks(self, rate: float, shape: list[Any], dtype: _dt.DType, training: Any) -> list[Tensor] | None:
        """Keras's ``_generate_dropout_mask(ones, rate, training, count)``: one mask per gate
        (implementation 1) or one for all (2); None when off (rate 0 or 1, not training)."""
        if not 0.0 < rate < 1.0 or training is False:
            return None
        graph = get_default_graph()
        with graph.name_scope("dropout_mask"):
            base = ones(shape, dtype=dtype)
            count = self._gates if self.implementation == 1 else 1
            masks = []
            for _ in range(count):
                dropped = _nn_dropout(base, rate=rate)
                masks.append(dropped if training is True else select_training(training, dropped, base))
        return masks if count == self._gates else masks * self._gates

    # -- the call ---------------------------------------------------------------------------------
    def call(self, inputs: Tensor, initial_state: Any = None, training: Any = None, mask: Any = None) -> Any:
        x = inputs
        time_axis, batch_axis = (0, 1) if self.time_major else (1, 0)
        steps = x.shape.as_list()[time_axis]
        if self.unroll and steps is None:
            raise ValueError("Cannot unroll a RNN if the time dimension is undefined.")
        if self.stateful:
            batch = int(self.states[0].shape.as_list()[0])  # type: ignore[union-attr]
            got = x.shape.as_list()[batch_axis]
            if got is not None and got != batch:
                raise ValueError(
                    f"Layer {self.name} is stateful with batch size {batch}, but its input {x.name} has "
                    f"batch size {got}"
                )
        batch_size = x.shape.as_list()[batch_axis]
        if batch_size is None:
            batch_size = _shape(x)[batch_axis]
        training = self._resolve_training(training)
        depth = int(x.shape.as_list()[-1])
        self._dp = self._masks(self.dropout, [batch_size, depth], x.dtype, training)
        self._rdp = self._masks(self.recurrent_dropout, [batch_size, self.units], x.dtype, training)
        self.dropout_masks, self.recurrent_dropout_masks = self._dp, self._rdp

        seq: Any = x
        if mask is not None:
            if isinstance(mask, list | tuple):
                mask = mask[0]
            m = convert_to_tensor(mask)
            if m.shape.ndims not in (None, 2):
                raise ValueError(f"{self.name}: the mask must be [batch, time], got shape {m.shape}")
            if m.dtype != _dt.bool_:
                m = not_equal(m, convert_to_tensor(0, dtype=m.dtype))
            seq = (x, expand_dims(cast(m, x.dtype), -1))
        if self.go_backwards:
            seq = reverse(x, [time_axis]) if mask is None else tuple(reverse(t, [time_axis]) for t in seq)
        cell = _StepCell(self, masked=mask is not None)

        states: list[Any] | None = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
            if len(states) != self._n_states:
                raise ValueError(
                    f"Layer {self.name} expects {self._n_states} state(s), but it received "
                    f"{len(states)} initial state(s)."
                )
            states = [convert_to_tensor(t) for t in states]
        elif self.stateful:
            states = [v.value() if hasattr(v, "value") else v for v in self.states]  # type: ignore[union-attr]
        init = None
        if states is not None:
            init = (*states, zeros_like(states[0])) if mask is not None else tuple(states)
        outputs, final = dynamic_rnn(cell, seq, initial_state=init, dtype=x.dtype, time_major=self.time_major)
        final = list(final)
        if mask is not None:
            last, final = final[-1], final[:-1]  # the last unmasked step's output
        else:
            last = final[0]  # h' is the last step's output
        out = outputs if self.return_sequences else last
        results = [out, *final] if self.return_state else [out]
        if self.stateful:
            updates = [assign(v, f) for v, f in zip(self.states, final)]
            self.add_update(updates, inputs)
            with get_default_graph().control_dependencies(updates):
                results = [identity(t) for t in results]
        return results if self.return_state else results[0]

    def reset_states(self, states: Any = None) -> None:
        """Keras's ``reset_states``: the stateful layer's states set to zeros, or to
        ``states`` (one array, or a list of one per state, each ``[batch, units]``)."""
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        if self.states[0] is None:
            raise ValueError(f"Layer {self.name} is not built yet: call it on an input first")
        expected = [tuple(v.shape.as_list()) for v in self.states]  # type: ignore[union-attr]
        if states is None:
            values = [np.zeros(e, np.float64) for e in expected]
        else:
            values = list(states) if isinstance(states, list | tuple) else [states]
            if len(values) != len(self.states):
                raise ValueError(
                    f"Layer {self.name} expects {len(self.states)} states, but it received "
                    f"{len(values)} state values. Input received: {states}"
                )
            values = [np.asarray(v) for v in values]
            for k, (v, e) in enumerate(zip(values, expected)):
                if v.shape != e:
                    raise ValueError(
                        f"State {k} is incompatible with layer {self.name}: expected shape={e}, "
                        f"found shape={v.shape}"
                    )
        _backend.batch_set_value(list(zip(self.states, values)))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's: the input mask for the sequence output (None for the last output)."""
        if isinstance(mask, list | tuple):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        return [out_mask] + [None] * self._n_states if self.return_state else out_mask

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
            "stateful": self.stateful,
            "unroll": self.unroll,
            "time_major": self.time_major,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        if self._has_implementation:
            config["implementation"] = self.implementation
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
        (xw,) = _dot_gates(self._gate_parts(x, self._dp, 1), self.kernel, 1)
        if self.bias is not None:
            xw = add(xw, self.bias)
        (hu,) = _dot_gates(self._gate_parts(states[0], self._rdp, 1), self.recurrent_kernel, 1)
        z = add(xw, hu)
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
    _has_implementation = True

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
        xw = _dot_gates(self._gate_parts(x, self._dp, 4), self.kernel, 4)
        if self.bias is not None:
            xw = [add(a, b) for a, b in zip(xw, split(self.bias, 4, axis=0))]
        hu = _dot_gates(self._gate_parts(h_prev, self._rdp, 4), self.recurrent_kernel, 4)
        zi, zf, zc, zo = (add(a, b) for a, b in zip(xw, hu))
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
    _has_implementation = True

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
        x_z, x_r, x_h = _dot_gates(self._gate_parts(x, self._dp, 3), self.kernel, 3)
        b_rec = None
        if self.bias is not None:
            b_in = self.bias[0] if self.reset_after else self.bias
            b_rec = self.bias[1] if self.reset_after else None
            bz, br, bh = split(b_in, 3, axis=0)
            x_z, x_r, x_h = add(x_z, bz), add(x_r, br), add(x_h, bh)
        h_z_in, h_r_in, h_h_in = self._gate_parts(h_prev, self._rdp, 3)
        if self.reset_after:
            h_z, h_r, h_h = _dot_gates([h_z_in, h_r_in, h_h_in], self.recurrent_kernel, 3)
            if b_rec is not None:
                rz, rr, rh = split(b_rec, 3, axis=0)
                h_z, h_r, h_h = add(h_z, rz), add(h_r, rr), add(h_h, rh)
            z, r = ra(add(x_z, h_z)), ra(add(x_r, h_r))
            hh = act(add(x_h, multiply(r, h_h)))
        else:
            u_zr, u_h = split(self.recurrent_kernel, [2 * n, n], axis=1)
            h_z, h_r = _dot_gates([h_z_in, h_r_in], u_zr, 2)
            z, r = ra(add(x_z, h_z)), ra(add(x_r, h_r))
            hh = act(add(x_h, matmul(multiply(r, h_h_in), u_h)))
        one = ones([], dtype=z.dtype)
        h = add(multiply(z, h_prev), multiply(subtract(one, z), hh))
        return h, [h]
