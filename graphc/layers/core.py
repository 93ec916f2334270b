"""tf.layers' core layers: Dense, Dropout, Flatten, and their functional forms."""

from __future__ import annotations

import math
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.layers import activations
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.layers.base import InputSpec, Layer
from graphc.layers.utils import normalize_data_format, select_training
from graphc.ops.array_ops import stack
from graphc.ops.core_ops import identity, shape
from graphc.ops.init_ops import Zeros
from graphc.ops.layout_ops import expand_dims, reshape
from graphc.ops.linalg_ops import matmul, tensordot
from graphc.ops.math_ops import cast
from graphc.ops.nn_ops import bias_add
from graphc.ops.nn_ops import dropout as _nn_dropout

__all__ = ["Dense", "Dropout", "Flatten", "dense", "dropout", "flatten"]


class Dense(Layer):
    """tf.layers.Dense: ``activation(inputs @ kernel + bias)``; weights ``kernel``
    [in, units] and ``bias`` [units]. An input of rank > 2 is contracted over its last
    axis (``tensordot``), as TF1. ``kernel_initializer=None`` takes the variable scope's
    initializer, else Glorot uniform; the bias starts at zeros."""

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        trainable: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        input_dim = kwargs.pop("input_dim", None)
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(
            trainable=trainable,
            name=name,
            activity_regularizer=_regs.get(activity_regularizer),
            **kwargs,
        )
        self.units = int(units)
        if self.units <= 0:
            raise ValueError(
                f"Received an invalid value for `units`, expected a positive integer, got {units}."
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _inits.get(kernel_initializer)
        self.bias_initializer = _inits.get(bias_initializer) if bias_initializer is not None else Zeros()
        self.kernel_regularizer = _regs.get(kernel_regularizer)
        self.bias_regularizer = _regs.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape: Any) -> None:
        input_shape = TensorShape(input_shape)
        if input_shape.ndims is None or input_shape.as_list()[-1] is None:
            raise ValueError("The last dimension of the inputs to `Dense` should be defined. Found `None`.")
        last_dim = int(input_shape.as_list()[-1])
        self.input_spec = InputSpec(min_ndim=2, axes={-1: last_dim})
        self.kernel = self.add_weight(
            "kernel",
            shape=[last_dim, self.units],
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            dtype=self._dtype,
            trainable=True,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                shape=[self.units],
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                dtype=self._dtype,
                trainable=True,
            )
        else:
            self.bias = None
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        rank = inputs.shape.ndims
        if rank is not None and rank > 2:
            outputs = tensordot(inputs, self.kernel, [[rank - 1], [0]])
            outputs.set_shape(inputs.shape.as_list()[:-1] + [self.units])
        else:
            if inputs.dtype != self.kernel.dtype:
                inputs = cast(inputs, self.kernel.dtype)
            outputs = matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = bias_add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        dims = TensorShape(input_shape).as_list()
        return TensorShape(dims[:-1] + [self.units])


def dense(
    inputs: Any,
    units: int,
    activation: Any = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    kernel_regularizer: Any = None,
    bias_regularizer: Any = None,
    activity_regularizer: Any = None,
    kernel_constraint: Any = None,
    bias_constraint: Any = None,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
) -> Tensor:
    """tf.layers.dense: a :class:`Dense` layer applied to ``inputs``. Its variables are
    ``<scope>/kernel`` and ``<scope>/bias``, the scope being ``name`` or a fresh
    ``dense``, ``dense_1``, ...; ``reuse`` (True, ``tf.AUTO_REUSE``) shares them."""
    layer = Dense(
        units,
        activation=activation,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        activity_regularizer=activity_regularizer,
        kernel_constraint=kernel_constraint,
        bias_constraint=bias_constraint,
        trainable=trainable,
        name=name,
        _scope=name,
        _reuse=reuse,
    )
    return layer.apply(inputs)


class Dropout(Layer):
    """tf.layers.Dropout(rate=0.5, noise_shape=None, seed=None): in training,
    ``tf.nn.dropout(inputs, rate=rate)`` (kept units scaled by ``1 / (1 - rate)``); else
    the inputs unchanged. ``training`` defaults to False (tf.layers); it is a Python bool
    (or 0 / 1), or a scalar bool tensor such as ``tf.placeholder(tf.bool, [])``.

    With a tensor, the output is ``tf.where(training, dropped, inputs)`` (TF1:
    ``smart_cond(training, dropped_inputs, identity)``). The values are TF1's, but the mask
    is drawn in every run, inference runs too, so the random op's counter advances in
    each run where TF1's advances only in training runs: after an inference run, the next
    training run's mask differs from the one TF1 would draw. The random op is the one a
    Python ``True`` builds: with the same seeds, the n-th run draws the mask the n-th run
    of the graph built with ``training=True`` draws."""

    def __init__(
        self,
        rate: float = 0.5,
        noise_shape: Any = None,
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"Invalid value {rate} received for `rate`, expected a value between 0 and 1.")
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self.supports_masking = True

    def call(self, inputs: Tensor, training: Any = None) -> Tensor:
        if training is None:
            training = self._call_training_default if not self._keras_style else None
        training = self._resolve_training(training)
        if training is False or self.rate == 0:
            return identity(inputs)
        dropped = _nn_dropout(inputs, noise_shape=self.noise_shape, seed=self.seed, rate=self.rate)
        if training is True:
            return dropped
        out = select_training(training, dropped, identity(inputs))
        out.set_shape(inputs.shape)
        return out

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        return TensorShape(input_shape)


def dropout(
    inputs: Any,
    rate: float = 0.5,
    noise_shape: Any = None,
    seed: int | None = None,
    training: Any = False,
    name: str | None = None,
) -> Tensor:
    """tf.layers.dropout: :class:`Dropout` applied to ``inputs``; ``training`` is a Python
    bool (default False: the inputs unchanged) or a scalar bool tensor (a select between
    the dropped and the unchanged inputs each run: see :class:`Dropout`)."""
    layer = Dropout(rate, noise_shape=noise_shape, seed=seed, name=name)
    return layer.apply(inputs, training=training)


class Flatten(Layer):
    """tf.layers.Flatten: ``[batch, d1, d2, ...] -> [batch, d1 * d2 * ...]`` (a rank-1
    input becomes ``[batch, 1]``); channels_last only."""

    def __init__(self, data_format: str | None = None, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.shape.ndims == 1:
            return expand_dims(inputs, 1)
        dims = inputs.shape.as_list() if inputs.shape.ndims is not None else None
        if dims is not None and all(d is not None for d in dims[1:]):
            flat = math.prod(int(d) for d in dims[1:])
            return reshape(inputs, [dims[0] if dims[0] is not None else -1, flat])
        batch = dims[0] if dims is not None and dims[0] is not None else shape(inputs, out_type=_dt.int32)[0]
        return reshape(inputs, stack([batch, -1]))

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        dims = TensorShape(input_shape).as_list()
        if len(dims) == 1:
            return TensorShape([dims[0], 1])
        rest = dims[1:]
        flat = math.prod(int(d) for d in rest) if all(d is not None for d in rest) else None
        return TensorShape([dims[0], flat])


def flatten(inputs: Any, name: str | None = None, data_format: str = "channels_last") -> Tensor:
    """tf.layers.flatten: :class:`Flatten` applied to ``inputs``."""
    return Flatten(data_format=data_format, name=name).apply(inputs)
