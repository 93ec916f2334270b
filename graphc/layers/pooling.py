"""tf.layers' 2-D pooling: MaxPooling2D and AveragePooling2D, and their functional
forms (channels_last only; 'same' average pooling divides by the cells inside the
input, as TF1)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.layers.base import InputSpec, Layer
from graphc.layers.utils import conv_output_length, normalize_data_format, normalize_padding, normalize_tuple
from graphc.ops.pool_ops import avg_pool, max_pool

__all__ = [
    "AveragePooling2D",
    "MaxPooling2D",
    "average_pooling2d",
    "max_pooling2d",
]


class _Pooling2D(Layer):
    _pool_fn: Any = None

    def __init__(
        self,
        pool_size: Any,
        strides: Any,
        padding: str = "valid",
        data_format: str | None = "channels_last",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.pool_size = normalize_tuple(pool_size, 2, "pool_size")
        self.strides = normalize_tuple(strides if strides is not None else self.pool_size, 2, "strides")
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs: Tensor) -> Tensor:
        return type(self)._pool_fn(
            inputs,
            ksize=(1, *self.pool_size, 1),
            strides=(1, *self.strides, 1),
            padding=self.padding.upper(),
        )

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        dims = TensorShape(input_shape).as_list()
        hw = [
            conv_output_length(dims[1 + i], self.pool_size[i], self.padding, self.strides[i])
            for i in range(2)
        ]
        return TensorShape([dims[0], *hw, dims[3]])


class MaxPooling2D(_Pooling2D):
    """tf.layers.MaxPooling2D(pool_size, strides, padding='valid'): the max over each
    window (``tf.nn.max_pool``)."""

    _pool_fn = staticmethod(max_pool)


class AveragePooling2D(_Pooling2D):
    """tf.layers.AveragePooling2D(pool_size, strides, padding='valid'): the mean over
    each window (``tf.nn.avg_pool``)."""

    _pool_fn = staticmethod(avg_pool)


def max_pooling2d(
    inputs: Any,
    pool_size: Any,
    strides: Any,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> Tensor:
    """tf.layers.max_pooling2d: :class:`MaxPooling2D` applied to ``inputs``."""
    return MaxPooling2D(pool_size, strides, padding=padding, data_format=data_format, name=name).apply(inputs)


def average_pooling2d(
    inputs: Any,
    pool_size: Any,
    strides: Any,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> Tensor:
    """tf.layers.average_pooling2d: :class:`AveragePooling2D` applied to ``inputs``."""
    return AveragePooling2D(pool_size, strides, padding=padding, data_format=data_format, name=name).apply(
        inputs
    )
