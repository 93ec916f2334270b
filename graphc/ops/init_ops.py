"""TF1's variable initializers (tf.zeros_initializer, tf.glorot_uniform_initializer, ...).

An initializer is a configuration object; calling it as
``init(shape, dtype=None, partition_info=None)`` builds the ops that make the
initial value and returns their Tensor. Shapes must be fully known when the
initializer is called (a list/tuple of ints, an int, a TensorShape, or a Tensor
whose value is known when the graph is built).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops.broadcast_ops import broadcast_to
from graphc.ops.common import static_value
from graphc.ops.core_ops import constant
from graphc.ops.random_ops import get_seed, random_normal, random_uniform, truncated_normal

# Above this many elements a scalar fill is built as BroadcastTo(scalar) instead of a
# Const holding every element: TF1's tf.zeros makes the same switch (Const vs Fill).
_FILL_THRESHOLD = 1000

# The standard deviation of a unit normal truncated to [-2, 2]
# (scipy.stats.truncnorm.std(a=-2, b=2)); VarianceScaling divides by it so that the
# truncated samples have the variance asked for.
_TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def _static_shape(shape: Any, what: str = "initializer") -> tuple[int, ...]:
    """A fully known shape as a tuple of ints, or a ValueError saying what is unknown."""
    if isinstance(shape, Tensor):
        dims = static_value(shape, f"the shape passed to an {what}").reshape(-1).tolist()
    elif isinstance(shape, TensorShape):
        if not shape.is_fully_defined():
            raise ValueError(f"An {what} needs a fully defined shape, got {shape}")
        dims = shape.as_list()
    elif isinstance(shape, int | np.integer):
        dims = [int(shape)]
    elif shape is None:
        raise ValueError(f"An {what} needs a shape, got None")
    else:
        ts = TensorShape(shape)
        if not ts.is_fully_defined():
            raise ValueError(f"An {what} needs a fully defined shape, got {ts}")
        dims = ts.as_list()
    return tuple(int(d) for d in dims)


def _assert_float_dtype(dtype: _dt.DType) -> _dt.DType:
    if not dtype.is_floating:
        raise ValueError(f"Expected floating point type, got {dtype.name}.")
    return dtype


def _fill(value: Any, shape: tuple[int, ...], dtype: _dt.DType, name: str) -> Tensor:

    if math.prod(shape) <= _FILL_THRESHOLD:
        return constant(value, dtype=dtype, shape=shape, name=name)

    return broadcast_to(constant(value, dtype=dtype, name="Const"), list(shape), name=name)


def _compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """TF1's fan-in/fan-out: a matrix is (in, out); a conv kernel (..., in, out) has
    both multiplied by its receptive field size (the product of the leading dims)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _scale_shape(shape: tuple[int, ...], partition_info: Any) -> tuple[int, ...]:
    # A slice of a partitioned variable scales by the whole variable's shape (TF1).
    full = getattr(partition_info, "full_shape", None)
    return tuple(int(d) for d in full) if full is not None else shape


class Initializer:
    """Base class of the initializers (tf.keras.initializers.Initializer in TF1)."""

    dtype: _dt.DType

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def _dtype(self, dtype: Any) -> _dt.DType:
        return _dt.as_dtype(dtype) if dtype is not None else self.dtype


class Zeros(Initializer):
    """tf.zeros_initializer: all zeros (False for bool)."""

    def __init__(self, dtype: Any = _dt.float32) -> None:
        self.dtype = _dt.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        return _fill(0, _static_shape(shape), self._dtype(dtype), "zeros")

    def get_config(self) -> dict[str, Any]:
        return {"dtype": self.dtype.name}


class Ones(Initializer):
    """tf.ones_initializer: all ones (True for bool)."""

    def __init__(self, dtype: Any = _dt.float32) -> None:
        self.dtype = _dt.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        return _fill(1, _static_shape(shape), self._dtype(dtype), "ones")

    def get_config(self) -> dict[str, Any]:
        return {"dtype": self.dtype.name}


class Constant(Initializer):
    """tf.constant_initializer: a scalar fills the shape; an array-like is reshaped to it and
    must have as many elements (TF1 would pad a short list with its last element; graphc
    raises). ``verify_shape=True`` requires the value's shape to equal the shape exactly."""

    def __init__(self, value: Any = 0, dtype: Any = _dt.float32, verify_shape: bool = False) -> None:
        if not (np.isscalar(value) or isinstance(value, list | tuple | np.ndarray)):
            raise TypeError(
                f"Invalid type for initial value: {type(value).__name__} (expected Python scalar, "
                f"list or tuple of values, or numpy.ndarray)."
            )
        self.value = value
        self.dtype = _dt.as_dtype(dtype)
        self._verify_shape = verify_shape

    def __call__(
        self, shape: Any, dtype: Any = None, partition_info: Any = None, verify_shape: bool | None = None
    ) -> Tensor:

        dims = _static_shape(shape)
        dt = self._dtype(dtype)
        verify = self._verify_shape if verify_shape is None else verify_shape
        if np.size(self.value) == 1 and not verify:
            return _fill(np.asarray(self.value).reshape(()), dims, dt, "Const")
        return constant(self.value, dtype=dt, shape=dims, verify_shape=verify, name="Const")

    def get_config(self) -> dict[str, Any]:
        # verify_shape is left out, as in TF1 (for Keras compatibility).
        return {"value": self.value, "dtype": self.dtype.name}


class RandomUniform(Initializer):
    """tf.random_uniform_initializer: uniform in [minval, maxval) (maxval None means 1 for
    floats); integer dtypes need maxval."""

    def __init__(
        self, minval: Any = 0, maxval: Any = None, seed: int | None = None, dtype: Any = _dt.float32
    ) -> None:
        self.minval = minval
        self.maxval = maxval
        self.seed = seed
        self.dtype = _dt.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:

        return random_uniform(
            _static_shape(shape), self.minval, self.maxval, self._dtype(dtype), seed=self.seed
        )

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed, "dtype": self.dtype.name}


class _Normal(Initializer):
    """What RandomNormal and TruncatedNormal share: mean, stddev, seed and a float dtype;
    ``_sampler`` draws the values."""

    _sampler: Any

    def __init__(
        self, mean: Any = 0.0, stddev: Any = 1.0, seed: int | None = None, dtype: Any = _dt.float32
    ) -> None:
        self.mean = mean
        self.stddev = stddev
        self.seed = seed
        self.dtype = _assert_float_dtype(_dt.as_dtype(dtype))

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        dt = _assert_float_dtype(self._dtype(dtype))
        return type(self)._sampler(_static_shape(shape), self.mean, self.stddev, dt, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed, "dtype": self.dtype.name}


class RandomNormal(_Normal):
    """tf.random_normal_initializer."""

    _sampler = staticmethod(random_normal)


class TruncatedNormal(_Normal):
    """tf.truncated_normal_initializer: normal samples beyond two standard deviations are
    redrawn (``stddev`` is that of the untruncated normal, as in TF1)."""

    _sampler = staticmethod(truncated_normal)


class UniformUnitScaling(Initializer):
    """tf.uniform_unit_scaling_initializer (deprecated in TF1): uniform in
    [-sqrt(3 / fan_in) * factor, +...], fan_in being the product of all dims but the last."""

    def __init__(self, factor: float = 1.0, seed: int | None = None, dtype: Any = _dt.float32) -> None:
        self.factor = factor
        self.seed = seed
        self.dtype = _assert_float_dtype(_dt.as_dtype(dtype))

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:

        dims = _static_shape(shape)
        input_size = max(float(math.prod(_scale_shape(dims, partition_info)[:-1])), 1.0)
        limit = math.sqrt(3.0 / input_size) * self.factor
        dt = _assert_float_dtype(self._dtype(dtype))
        return random_uniform(dims, -limit, limit, dt, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "seed": self.seed, "dtype": self.dtype.name}


class VarianceScaling(Initializer):
    """tf.variance_scaling_initializer: samples with variance ``scale / n``, n being fan_in,
    fan_out or their mean (``mode``). ``distribution``: "truncated_normal" (TF1's "normal"
    is the same), "untruncated_normal" or "uniform" (in [-sqrt(3 * scale / n), +...])."""

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        dtype: Any = _dt.float32,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"`scale` must be positive float, got {scale}.")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(f"Invalid `mode` argument: {mode!r} (expected fan_in, fan_out or fan_avg)")
        distribution = distribution.lower()
        if distribution not in {"normal", "uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution!r} (expected normal, uniform, "
                f"truncated_normal or untruncated_normal)"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self.dtype = _assert_float_dtype(_dt.as_dtype(dtype))

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:

        dims = _static_shape(shape)
        dt = _assert_float_dtype(self._dtype(dtype))
        fan_in, fan_out = _compute_fans(_scale_shape(dims, partition_info))
        if self.mode == "fan_in":
            scale = self.scale / max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale = self.scale / max(1.0, fan_out)
        else:
            scale = self.scale / max(1.0, (fan_in + fan_out) / 2.0)
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(scale) / _TRUNCATED_NORMAL_STDDEV
            return truncated_normal(dims, 0.0, stddev, dt, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_normal(dims, 0.0, math.sqrt(scale), dt, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_uniform(dims, -limit, limit, dt, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
            "dtype": self.dtype.name,
        }


class GlorotUniform(VarianceScaling):
    """tf.glorot_uniform_initializer (Xavier uniform): uniform in
    [-sqrt(6 / (fan_in + fan_out)), +...]."""

    def __init__(self, seed: int | None = None, dtype: Any = _dt.float32) -> None:
        super().__init__(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "dtype": self.dtype.name}


class GlorotNormal(VarianceScaling):
    """tf.glorot_normal_initializer (Xavier normal): truncated normal with
    stddev sqrt(2 / (fan_in + fan_out)) after truncation."""

    def __init__(self, seed: int | None = None, dtype: Any = _dt.float32) -> None:
        super().__init__(scale=1.0, mode="fan_avg", distribution="truncated_normal", seed=seed, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "dtype": self.dtype.name}


class Orthogonal(Initializer):
    """tf.orthogonal_initializer: a (gain-scaled) matrix with orthonormal rows or columns;
    a shape of rank > 2 is treated as (prod(shape[:-1]), shape[-1]) and reshaped back.

    Differs from TF1: graphc has no QR op, so the matrix is computed with NumPy when
    the graph is built and stored as a Const. The normal draws come from a
    ``numpy.random.Generator`` (Philox) keyed by the op's TF1 seed pair (graph seed
    and ``seed``, see random_ops.get_seed), so the value is reproducible whenever a
    graph or op seed is set, but differs from TF's numbers.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None, dtype: Any = _dt.float32) -> None:
        self.gain = gain
        self.seed = seed
        self.dtype = _assert_float_dtype(_dt.as_dtype(dtype))

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:

        dims = _static_shape(shape)
        dt = _assert_float_dtype(self._dtype(dtype))
        if len(dims) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional, got shape {dims}")
        num_rows = math.prod(dims[:-1])
        num_cols = dims[-1]
        flat = (num_cols, num_rows) if num_rows < num_cols else (num_rows, num_cols)
        seed1, seed2 = get_seed(self.seed)
        rng = np.random.Generator(
            np.random.Philox(key=[seed1 & 0xFFFFFFFFFFFFFFFF, seed2 & 0xFFFFFFFFFFFFFFFF])
        )
        a = rng.standard_normal(flat)
        q, r = np.linalg.qr(a)
        # Multiplying by the signs of R's diagonal makes Q uniformly distributed (Haar).
        d = np.diag(r)
        q = q * np.where(d < 0, -1.0, 1.0)
        if num_rows < num_cols:
            q = q.T
        value = (self.gain * q).reshape(dims).astype(dt.np)
        return constant(value, dtype=dt, name="orthogonal")

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed, "dtype": self.dtype.name}


def he_normal(seed: int | None = None) -> VarianceScaling:
    """tf.keras.initializers.he_normal: truncated normal, variance 2 / fan_in."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def he_uniform(seed: int | None = None) -> VarianceScaling:
    """tf.keras.initializers.he_uniform: uniform in [-sqrt(6 / fan_in), +...]."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=seed)


def lecun_normal(seed: int | None = None) -> VarianceScaling:
    """tf.keras.initializers.lecun_normal: truncated normal, variance 1 / fan_in."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def lecun_uniform(seed: int | None = None) -> VarianceScaling:
    """tf.keras.initializers.lecun_uniform: uniform in [-sqrt(3 / fan_in), +...]."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)


# TF1's snake_case names are the classes themselves.
zeros_initializer = Zeros
ones_initializer = Ones
constant_initializer = Constant
random_uniform_initializer = RandomUniform
random_normal_initializer = RandomNormal
truncated_normal_initializer = TruncatedNormal
uniform_unit_scaling_initializer = UniformUnitScaling
variance_scaling_initializer = VarianceScaling
orthogonal_initializer = Orthogonal
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "Initializer",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "UniformUnitScaling",
    "VarianceScaling",
    "Zeros",
    "constant_initializer",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "ones_initializer",
    "orthogonal_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "truncated_normal_initializer",
    "uniform_unit_scaling_initializer",
    "variance_scaling_initializer",
    "zeros_initializer",
]
