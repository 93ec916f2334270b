"""tf.layers' 2-D convolutions: Conv2D and Conv2DTranspose, and their functional forms.
Channels-last (NHWC) only; ``padding`` is 'same' or 'valid' in any case."""

from __future__ import annotations

from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.layers import activations
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.layers.base import InputSpec, Layer
from graphc.layers.utils import (
    conv_output_length,
    deconv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from graphc.ops.array_ops import stack
from graphc.ops.conv_ops import conv2d as _nn_conv2d
from graphc.ops.conv_ops import conv2d_transpose as _nn_conv2d_transpose
from graphc.ops.core_ops import shape
from graphc.ops.init_ops import Zeros
from graphc.ops.nn_ops import bias_add

__all__ = ["Conv2D", "Conv2DTranspose", "conv2d", "conv2d_transpose"]


class Conv2D(Layer):
    """tf.layers.Conv2D(filters, kernel_size, strides=(1, 1), padding='valid',
    data_format='channels_last', dilation_rate=(1, 1), activation=None, use_bias=True,
    ...): ``activation(conv2d(inputs, kernel) + bias)`` with ``kernel`` [kh, kw, in,
    filters] and ``bias`` [filters]. ``data_format='channels_first'`` raises
    NotImplementedError (graphc convolutions are NHWC)."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: Any = (1, 1),
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
        super().__init__(
            trainable=trainable,
            name=name,
            activity_regularizer=_regs.get(activity_regularizer),
            **kwargs,
        )
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, 2, "kernel_size")
        self.strides = normalize_tuple(strides, 2, "strides")
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = normalize_tuple(dilation_rate, 2, "dilation_rate")
        if any(s != 1 for s in self.strides) and any(d != 1 for d in self.dilation_rate):
            raise ValueError("strides > 1 not supported in conjunction with dilation_rate > 1")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _inits.get(kernel_initializer)
        self.bias_initializer = _inits.get(bias_initializer) if bias_initializer is not None else Zeros()
        self.kernel_regularizer = _regs.get(kernel_regularizer)
        self.bias_regularizer = _regs.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.input_spec = InputSpec(ndim=4)

    def _channels(self, input_shape: Any) -> int:
        dims = TensorShape(input_shape).as_list()
        if len(dims) != 4:
            raise ValueError(
                f"Inputs to `{type(self).__name__}` should have rank 4. Received input shape: {input_shape}"
            )
        if dims[-1] is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found `None`.")
        return int(dims[-1])

    def build(self, input_shape: Any) -> None:
        in_ch = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel",
            shape=[*self.kernel_size, in_ch, self.filters],
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            dtype=self._dtype,
            trainable=True,
        )
        self.bias = (
            self.add_weight(
                "bias",
                shape=[self.filters],
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                dtype=self._dtype,
                trainable=True,
            )
            if self.use_bias
            else None
        )
        self.input_spec = InputSpec(ndim=4, axes={-1: in_ch})
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        outputs = _nn_conv2d(
            inputs,
            self.kernel,
            strides=(1, *self.strides, 1),
            padding=self.padding.upper(),
            dilations=(1, *self.dilation_rate, 1),
        )
        if self.use_bias:
            outputs = bias_add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        dims = TensorShape(input_shape).as_list()
        hw = [
            conv_output_length(
                dims[1 + i], self.kernel_size[i], self.padding, self.strides[i], self.dilation_rate[i]
            )
            for i in range(2)
        ]
        return TensorShape([dims[0], *hw, self.filters])


def conv2d(
    inputs: Any,
    filters: int,
    kernel_size: Any,
    strides: Any = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate: Any = (1, 1),
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
    """tf.layers.conv2d: a :class:`Conv2D` applied to ``inputs``; variables
    ``<scope>/kernel`` and ``<scope>/bias`` with the scope ``name`` or ``conv2d``,
    ``conv2d_1``, ...; ``reuse`` shares them."""
    layer = Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        data_format=data_format,
        dilation_rate=dilation_rate,
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


class Conv2DTranspose(Conv2D):
    """tf.layers.Conv2DTranspose(filters, kernel_size, strides=(1, 1), padding='valid',
    ...): the transpose (gradient) of a convolution, ``tf.nn.conv2d_transpose`` (the
    ``Conv2DBackpropInput`` op), with ``kernel`` [kh, kw, filters, in] and ``bias``
    [filters]. The output's height is ``in * stride`` ('same') or ``in * stride +
    max(kh - stride, 0)`` ('valid'), as TF1; dilation and output_padding are not
    supported."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = "channels_last",
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
        dilation_rate = kwargs.pop("dilation_rate", (1, 1))
        output_padding = kwargs.pop("output_padding", None)
        if normalize_tuple(dilation_rate, 2, "dilation_rate") != (1, 1):
            raise NotImplementedError("Conv2DTranspose with dilation_rate other than 1 is not supported")
        if output_padding is not None:
            raise NotImplementedError("Conv2DTranspose's output_padding is not supported")
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
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
            **kwargs,
        )

    def build(self, input_shape: Any) -> None:
        in_ch = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel",
            shape=[*self.kernel_size, self.filters, in_ch],
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            dtype=self._dtype,
            trainable=True,
        )
        self.bias = (
            self.add_weight(
                "bias",
                shape=[self.filters],
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                dtype=self._dtype,
                trainable=True,
            )
            if self.use_bias
            else None
        )
        self.input_spec = InputSpec(ndim=4, axes={-1: in_ch})
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        dims = inputs.shape.as_list()
        dyn = None
        sizes: list[Any] = []
        for i, d in enumerate(dims[:3]):
            if d is None:
                if dyn is None:
                    dyn = shape(inputs, out_type=_dt.int32)
                d = dyn[i]
            if i == 0:
                sizes.append(d)
            else:
                sizes.append(
                    deconv_output_length(d, self.kernel_size[i - 1], self.padding, self.strides[i - 1])
                )
        sizes.append(self.filters)
        static = all(isinstance(s, int) for s in sizes)
        output_shape = list(sizes) if static else stack(sizes)
        outputs = _nn_conv2d_transpose(
            inputs,
            self.kernel,
            output_shape,
            strides=(1, *self.strides, 1),
            padding=self.padding.upper(),
        )
        outputs.set_shape(self.compute_output_shape(inputs.shape))
        if self.use_bias:
            outputs = bias_add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        dims = TensorShape(input_shape).as_list()
        hw = [
            None
            if dims[1 + i] is None
            else deconv_output_length(dims[1 + i], self.kernel_size[i], self.padding, self.strides[i])
            for i in range(2)
        ]
        return TensorShape([dims[0], *hw, self.filters])


def conv2d_transpose(
    inputs: Any,
    filters: int,
    kernel_size: Any,
    strides: Any = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
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
    """tf.layers.conv2d_transpose: a :class:`Conv2DTranspose` applied to ``inputs``;
    variables ``<scope>/kernel`` and ``<scope>/bias`` with the scope ``name`` or
    ``conv2d_transpose``, ``conv2d_transpose_1``, ...; ``reuse`` shares them."""
    layer = Conv2DTranspose(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        data_format=data_format,
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
