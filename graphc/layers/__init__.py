"""tf.layers (TF1's ``tf.compat.v1.layers``): layer classes and their functional forms,
built from graphc's ops and variables (see :mod:`graphc.layers.base` for how weights are
named and shared through variable scopes)."""

from graphc.layers.base import InputSpec, Layer
from graphc.layers.convolutional import Conv2D, Conv2DTranspose, conv2d, conv2d_transpose
from graphc.layers.core import Dense, Dropout, Flatten, dense, dropout, flatten
from graphc.layers.normalization import BatchNormalization, batch_normalization
from graphc.layers.pooling import AveragePooling2D, MaxPooling2D, average_pooling2d, max_pooling2d

# TF1's aliases.
Convolution2D = Conv2D
Convolution2DTranspose = Deconvolution2D = Conv2DTranspose
MaxPool2D = MaxPooling2D
AveragePool2D = AvgPool2D = AveragePooling2D
BatchNorm = BatchNormalization
convolution2d = conv2d
convolution2d_transpose = conv2d_transpose

__all__ = [
    "AveragePool2D",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNorm",
    "BatchNormalization",
    "Conv2D",
    "Conv2DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Deconvolution2D",
    "Dense",
    "Dropout",
    "Flatten",
    "InputSpec",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "average_pooling2d",
    "batch_normalization",
    "conv2d",
    "conv2d_transpose",
    "convolution2d",
    "convolution2d_transpose",
    "dense",
    "dropout",
    "flatten",
    "max_pooling2d",
]
