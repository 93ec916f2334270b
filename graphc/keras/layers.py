"""tf.keras.layers: Keras-style layers (each owns its variables, named
``<layer name>/<weight name>``; see :mod:`graphc.layers.base`), with Keras's defaults
(initializers and activations by name) and ``get_config`` / ``from_config`` for saved
models.

The math is tf.layers' (:mod:`graphc.layers`); ``training=None`` (the default here)
takes the mode from :func:`graphc.keras.backend.learning_phase_scope`, which models set
when they build their training and inference graphs. Masks (``Masking``,
``Embedding(mask_zero=True)``) travel from layer to layer as in TF1 1.15's Keras (see
:mod:`graphc.keras.masking`): ``Dense``, ``Dropout``, ``Activation``,
``BatchNormalization``, ``Add`` and ``Concatenate`` pass them on (the merge layers
combine their inputs' masks), the recurrent layers use them, and the other layers drop
them. Not supported: constraints in saved configs, channels_first.
"""

from __future__ import annotations

import math
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.keras.masking import KerasMasking, set_mask
from graphc.keras.weights import KerasWeights
from graphc.layers import activations, convolutional, core, normalization, pooling
from graphc.layers import base as _base
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.layers.utils import normalize_data_format
from graphc.ops.array_ops import stack
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import not_equal
from graphc.ops.concat_ops import concat
from graphc.ops.core_ops import placeholder, shape
from graphc.ops.embedding_ops import embedding_lookup
from graphc.ops.fill_ops import ones_like
from graphc.ops.init_ops import RandomUniform
from graphc.ops.layout_ops import expand_dims, reshape, squeeze
from graphc.ops.math_ops import add, cast
from graphc.ops.reduction_ops import reduce_all, reduce_any, reduce_max, reduce_mean

__all__ = [
    "Activation",
    "Add",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "InputSpec",
    "Layer",
    "Masking",
    "MaxPooling2D",
    "Reshape",
    "deserialize",
    "serialize",
]

InputSpec = _base.InputSpec


def _no_constraint(value: Any, what: str) -> None:
    if value is not None:
        raise ValueError(f"{what} cannot be stored in a model's config")


class Layer(KerasMasking, KerasWeights, _base.Layer):
    """tf.keras.layers.Layer: subclass it with ``build(input_shape)`` (weights from
    ``self.add_weight(name, shape, initializer=...)``) and ``call(inputs)``. Keyword
    arguments: ``name``, ``trainable``, ``dtype``, ``input_shape`` / ``batch_input_shape``
    (a model's first layer), ``activity_regularizer``. Masks: a ``call(inputs,
    mask=None)`` receives its inputs' mask; ``self.supports_masking = True`` passes it on,
    or override ``compute_mask(inputs, mask=None)`` (:mod:`graphc.keras.masking`)."""

    _keras_style = True
    _call_training_default = None

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as JSON (Keras's layer config)."""
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype or "float32",
        }
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    def _node_attr(self, attr: str) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} is not connected, no input to return.")
        value = getattr(self._inbound_nodes[0], attr)
        return value

    @property
    def input(self) -> Any:
        return self._node_attr("inputs")

    @property
    def output(self) -> Any:
        return self._node_attr("outputs")

    @property
    def input_shape(self) -> Any:
        return _shape_tuple(self.input)

    @property
    def output_shape(self) -> Any:
        return _shape_tuple(self.output)


def _shape_tuple(x: Any) -> Any:
    if isinstance(x, list | tuple):
        return [_shape_tuple(t) for t in x]
    if isinstance(x, Tensor):
        return tuple(x.shape.as_list()) if x.shape.ndims is not None else None
    return None


def _common_config(layer: Layer, **extra: Any) -> dict[str, Any]:
    config = Layer.get_config(layer)
    config.update(extra)
    return config


def _weights_config(layer: Any) -> dict[str, Any]:
    """The config entries of a layer with a kernel and a bias: activation, use_bias, the
    initializers and regularizers (constraints cannot be stored)."""
    _no_constraint(layer.kernel_constraint, "kernel_constraint")
    _no_constraint(layer.bias_constraint, "bias_constraint")
    return {
        "activation": activations.serialize(layer.activation),
        "use_bias": layer.use_bias,
        "kernel_initializer": _inits.serialize(layer.kernel_initializer),
        "bias_initializer": _inits.serialize(layer.bias_initializer),
        "kernel_regularizer": _regs.serialize(layer.kernel_regularizer),
        "bias_regularizer": _regs.serialize(layer.bias_regularizer),
        "activity_regularizer": _regs.serialize(layer.activity_regularizer),
    }


class Dense(Layer, core.Dense):
    """tf.keras.layers.Dense(units, activation=None, use_bias=True,
    kernel_initializer='glorot_uniform', bias_initializer='zeros', ...): the weights
    ``kernel`` and ``bias``; ``input_dim``/``input_shape`` on a model's first layer."""

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        core.Dense.__init__(
            self,
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
            **kwargs,
        )
        self.supports_masking = True

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, units=self.units, **_weights_config(self))


class Conv2D(Layer, convolutional.Conv2D):
    """tf.keras.layers.Conv2D(filters, kernel_size, strides=(1, 1), padding='valid',
    data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
    kernel_initializer='glorot_uniform', bias_initializer='zeros', ...); channels_last
    only (channels_first raises NotImplementedError)."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        convolutional.Conv2D.__init__(
            self,
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
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        return _common_config(
            self,
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=list(self.dilation_rate),
            **_weights_config(self),
        )


class Conv2DTranspose(Layer, convolutional.Conv2DTranspose):
    """tf.keras.layers.Conv2DTranspose(filters, kernel_size, strides=(1, 1),
    padding='valid', ...): ``tf.nn.conv2d_transpose`` with ``kernel`` [kh, kw, filters,
    in]; no dilation or output_padding."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        convolutional.Conv2DTranspose.__init__(
            self,
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
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        config = Conv2D.get_config(self)  # type: ignore[arg-type]
        config.pop("dilation_rate")
        return config


class _Pool2DConfig:
    pool_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    data_format: str

    def get_config(self) -> dict[str, Any]:
        return _common_config(
            self,  # type: ignore[arg-type]
            pool_size=list(self.pool_size),
            strides=list(self.strides),
            padding=self.padding,
            data_format=self.data_format,
        )


class MaxPooling2D(_Pool2DConfig, Layer, pooling.MaxPooling2D):
    """tf.keras.layers.MaxPooling2D(pool_size=(2, 2), strides=None (= pool_size),
    padding='valid', data_format=None)."""

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        pooling.MaxPooling2D.__init__(
            self, pool_size, strides, padding=padding, data_format=data_format, **kwargs
        )


class AveragePooling2D(_Pool2DConfig, Layer, pooling.AveragePooling2D):
    """tf.keras.layers.AveragePooling2D(pool_size=(2, 2), strides=None (= pool_size),
    padding='valid', data_format=None)."""

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        pooling.AveragePooling2D.__init__(
            self, pool_size, strides, padding=padding, data_format=data_format, **kwargs
        )


class Dropout(Layer, core.Dropout):
    """tf.keras.layers.Dropout(rate, noise_shape=None, seed=None): active in the
    training graph only (``training`` from the learning phase, or a Python bool), or,
    with ``training`` a scalar bool tensor, in the runs that feed it True (a select each
    run: see :class:`graphc.layers.Dropout`)."""

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any) -> None:
        core.Dropout.__init__(self, rate, noise_shape=noise_shape, seed=seed, **kwargs)

    def get_config(self) -> dict[str, Any]:
        ns = list(self.noise_shape) if self.noise_shape is not None else None
        return _common_config(self, rate=self.rate, noise_shape=ns, seed=self.seed)


class Flatten(Layer, core.Flatten):
    """tf.keras.layers.Flatten(data_format=None): ``[batch, ...] -> [batch, prod(...)]``."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        core.Flatten.__init__(self, data_format=data_format, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, data_format=self.data_format)


class BatchNormalization(Layer, normalization.BatchNormalization):
    """tf.keras.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, ...):
    tf.layers' batch normalization, Keras style: the moving-average updates stay on the
    layer (``layer.updates``); a model runs those of its training graph with each
    training step (not through ``UPDATE_OPS``, as TF1's Keras). ``training`` may be a
    scalar bool tensor: batch or moving moments selected each run, and updates that leave
    the moving statistics unchanged in runs feeding False (see
    :class:`graphc.layers.BatchNormalization`)."""

    def __init__(
        self,
        axis: Any = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        normalization.BatchNormalization.__init__(
            self,
            axis=axis,
            momentum=momentum,
            epsilon=epsilon,
            center=center,
            scale=scale,
            beta_initializer=beta_initializer,
            gamma_initializer=gamma_initializer,
            moving_mean_initializer=moving_mean_initializer,
            moving_variance_initializer=moving_variance_initializer,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        _no_constraint(self.beta_constraint, "beta_constraint")
        _no_constraint(self.gamma_constraint, "gamma_constraint")
        return _common_config(
            self,
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=_inits.serialize(self.beta_initializer),
            gamma_initializer=_inits.serialize(self.gamma_initializer),
            moving_mean_initializer=_inits.serialize(self.moving_mean_initializer),
            moving_variance_initializer=_inits.serialize(self.moving_variance_initializer),
            beta_regularizer=_regs.serialize(self.beta_regularizer),
            gamma_regularizer=_regs.serialize(self.gamma_regularizer),
        )


class Activation(Layer):
    """tf.keras.layers.Activation(activation): the activation (a name or callable)
    applied to the inputs."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation) or activations.linear
        self.supports_masking = True

    def call(self, inputs: Tensor) -> Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        return TensorShape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, activation=activations.serialize(self.activation))


class Embedding(Layer):
    """tf.keras.layers.Embedding(input_dim, output_dim, embeddings_initializer='uniform',
    mask_zero=False, ...): ``embeddings`` [input_dim, output_dim] looked up by integer ids
    (float ids are cast to int32); output ``ids.shape + [output_dim]``. With
    ``mask_zero=True`` the output's mask is ``ids != 0`` (id 0 is padding; it still looks
    up row 0, as Keras). Its gradient is dense (graphc has no IndexedSlices)."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        activity_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs and input_length is not None:
            kwargs["input_shape"] = (input_length,)
        super().__init__(activity_regularizer=_regs.get(activity_regularizer), **kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if embeddings_initializer == "uniform":
            embeddings_initializer = RandomUniform(minval=-0.05, maxval=0.05)
        self.embeddings_initializer = _inits.get(embeddings_initializer)
        self.embeddings_regularizer = _regs.get(embeddings_regularizer)
        self.embeddings_constraint = embeddings_constraint
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length

    def build(self, input_shape: Any) -> None:
        self.embeddings = self.add_weight(
            "embeddings",
            shape=[self.input_dim, self.output_dim],
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            dtype=_dt.float32 if self._dtype is None else self._dtype,
        )
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.dtype not in (_dt.int32, _dt.int64):
            inputs = cast(inputs, _dt.int32)
        return embedding_lookup(self.embeddings, inputs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """``inputs != 0`` with ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        ids = convert_to_tensor(inputs)
        return not_equal(ids, convert_to_tensor(0, dtype=ids.dtype))

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        return TensorShape([*TensorShape(input_shape).as_list(), self.output_dim])

    def get_config(self) -> dict[str, Any]:
        _no_constraint(self.embeddings_constraint, "embeddings_constraint")
        return _common_config(
            self,
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=_inits.serialize(self.embeddings_initializer),
            embeddings_regularizer=_regs.serialize(self.embeddings_regularizer),
            activity_regularizer=_regs.serialize(self.activity_regularizer),
            mask_zero=self.mask_zero,
            input_length=self.input_length,
        )


class Masking(Layer):
    """tf.keras.layers.Masking(mask_value=0.0): a step (a position of the last axis'
    vectors) whose features all equal ``mask_value`` is masked: the output is ``inputs *
    any(inputs != mask_value, axis=-1, keepdims=True)`` (masked steps zeroed) and its mask
    ``any(inputs != mask_value, axis=-1)``, for the layers after it."""

    _compute_output_and_mask_jointly = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
        self.mask_value = mask_value

    def _keep(self, inputs: Tensor) -> Tensor:
        x = convert_to_tensor(inputs)
        return reduce_any(not_equal(x, convert_to_tensor(self.mask_value, dtype=x.dtype)), axis=-1, keepdims=True)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor:
        return squeeze(self._keep(inputs), axis=[-1])

    def call(self, inputs: Tensor) -> Tensor:
        keep = self._keep(inputs)
        outputs = inputs * cast(keep, inputs.dtype)
        set_mask(outputs, squeeze(keep, axis=[-1]))
        return outputs

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        return TensorShape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, mask_value=self.mask_value)


class Reshape(Layer):
    """tf.keras.layers.Reshape(target_shape): each sample reshaped to ``target_shape``
    (one entry may be -1)."""

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError("There must be at most one unknown dimension in output_shape.")

    def _fix_unknown(self, input_shape: Any) -> list[int]:
        dims = TensorShape(input_shape).as_list()[1:]
        target = list(self.target_shape)
        if all(d is not None for d in dims):
            total = math.prod(int(d) for d in dims)
            known = math.prod(d for d in target if d != -1)
            if -1 in target:
                if known == 0 or total % known:
                    raise ValueError(
                        f"total size of new array must be unchanged: {dims} -> {self.target_shape}"
                    )
                target[target.index(-1)] = total // known
            elif known != total:
                raise ValueError(f"total size of new array must be unchanged: {dims} -> {self.target_shape}")
        return target

    def call(self, inputs: Tensor) -> Tensor:
        target = self._fix_unknown(inputs.shape)
        batch = inputs.shape.as_list()[0]
        if -1 not in target:
            return reshape(inputs, [batch if batch is not None else -1, *target])
        n = batch if batch is not None else shape(inputs, out_type=_dt.int32)[0]
        return reshape(inputs, stack([n, *target]))

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        target = self._fix_unknown(input_shape)
        return TensorShape([TensorShape(input_shape).as_list()[0], *[None if d == -1 else d for d in target]])

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, target_shape=list(self.target_shape))


class GlobalAveragePooling2D(Layer):
    """tf.keras.layers.GlobalAveragePooling2D: the mean over height and width (NHWC)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs: Tensor) -> Tensor:
        return reduce_mean(inputs, axis=[1, 2])

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, data_format=self.data_format)


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """tf.keras.layers.GlobalMaxPooling2D: the max over height and width (NHWC)."""

    def call(self, inputs: Tensor) -> Tensor:
        return reduce_max(inputs, axis=[1, 2])


def _merge_masks_check(inputs: Any, mask: Any) -> bool:
    """Keras's checks of a merge layer's masks; False when there is none to merge."""
    if mask is None:
        return False
    if not isinstance(mask, list | tuple):
        raise ValueError("`mask` should be a list.")
    if not isinstance(inputs, list | tuple):
        raise ValueError("`inputs` should be a list.")
    if len(mask) != len(inputs):
        raise ValueError("The lists `inputs` and `mask` should have the same length.")
    return any(m is not None for m in mask)


class Add(Layer):
    """tf.keras.layers.Add: the sum of a list of tensors of one shape; the output's mask
    is the logical and of the inputs' masks (those given)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        if not _merge_masks_check(inputs, mask):
            return None
        masks = [expand_dims(m, 0) for m in mask if m is not None]
        return reduce_all(concat(masks, axis=0), axis=0)

    def call(self, inputs: Any) -> Tensor:
        if not isinstance(inputs, list | tuple) or len(inputs) < 2:
            raise ValueError("A merge layer should be called on a list of at least 2 inputs.")
        out = inputs[0]
        for t in inputs[1:]:
            out = add(out, t)
        return out


class Concatenate(Layer):
    """tf.keras.layers.Concatenate(axis=-1): a list of tensors joined along ``axis``; the
    output's mask from the inputs' masks as Keras (see ``compute_mask``)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.supports_masking = True

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """Keras's: each input's mask (all True for an input without one, given a last
        axis when it has one axis fewer than its input) joined along ``axis``, then the
        logical and over the last axis."""
        if not _merge_masks_check(inputs, mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                masks.append(cast(ones_like(x), _dt.bool_))
            elif m.shape.ndims is not None and x.shape.ndims is not None and m.shape.ndims < x.shape.ndims:
                masks.append(expand_dims(m, -1))
            else:
                masks.append(m)
        return reduce_all(concat(masks, axis=self.axis), axis=-1)

    def call(self, inputs: Any) -> Tensor:
        if not isinstance(inputs, list | tuple) or len(inputs) < 2:
            raise ValueError("A `Concatenate` layer should be called on a list of at least 2 inputs")
        return concat(list(inputs), axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return _common_config(self, axis=self.axis)


class InputLayer(Layer):
    """tf.keras.layers.InputLayer(input_shape=None, batch_size=None, dtype=None,
    input_tensor=None, name=None): the entry of a model, a placeholder of shape
    ``[batch_size] + input_shape`` (float32 by default) named after the layer
    (``input_1``, ...). ``sparse=True`` and ragged inputs are not supported."""

    def __init__(
        self,
        input_shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        input_tensor: Tensor | None = None,
        sparse: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse:
            raise NotImplementedError("sparse inputs are not supported (graphc has no sparse tensors)")
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        if kwargs:
            raise TypeError(f"Keyword argument not understood: {sorted(kwargs)[0]!r}")
        if name is None:
            name = _base.unique_layer_name("input", zero_based=False)
        super().__init__(name=name, dtype=dtype if dtype is not None else "float32")
        if input_tensor is not None:
            self.placeholder = input_tensor
            batch_input_shape = tuple(input_tensor.shape.as_list())
        else:
            if batch_input_shape is None:
                if input_shape is None:
                    raise ValueError("An InputLayer needs input_shape or batch_input_shape")
                batch_input_shape = (batch_size, *tuple(input_shape))
            batch_input_shape = tuple(None if d is None else int(d) for d in batch_input_shape)
            self.placeholder = placeholder(_dt.as_dtype(self._dtype), list(batch_input_shape), name=self.name)
        self._batch_input_shape = tuple(batch_input_shape)
        self.built = True
        self.is_placeholder = input_tensor is None
        self._record_node(self.placeholder, self.placeholder, (), {})

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_input_shape": list(self._batch_input_shape),
            "dtype": self.dtype,
            "sparse": False,
            "name": self.name,
        }


def Input(  # noqa: N802  (Keras's name)
    shape: Any = None,
    batch_size: int | None = None,
    name: str | None = None,
    dtype: Any = None,
    sparse: bool = False,
    tensor: Tensor | None = None,
    batch_shape: Any = None,
    **kwargs: Any,
) -> Tensor:
    """tf.keras.Input(shape, batch_size=None, name=None, dtype=None, tensor=None): the
    placeholder of a new :class:`InputLayer`, to build a functional ``Model`` from."""
    if batch_shape is not None:
        layer = InputLayer(
            batch_input_shape=batch_shape, dtype=dtype, name=name, sparse=sparse, input_tensor=tensor
        )
    else:
        if shape is None and tensor is None:
            raise ValueError("Please provide to Input either a `shape` or a `tensor` argument.")
        layer = InputLayer(
            input_shape=shape,
            batch_size=batch_size,
            dtype=dtype,
            name=name,
            sparse=sparse,
            input_tensor=tensor,
        )
    if kwargs:
        raise TypeError(f"Keyword argument not understood: {sorted(kwargs)[0]!r}")
    return layer.placeholder


_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        Activation,
        Add,
        AveragePooling2D,
        BatchNormalization,
        Concatenate,
        Conv2D,
        Conv2DTranspose,
        Dense,
        Dropout,
        Embedding,
        Flatten,
        GlobalAveragePooling2D,
        GlobalMaxPooling2D,
        InputLayer,
        Masking,
        MaxPooling2D,
        Reshape,
    )
}
# The recurrent layers (graphc/keras/recurrent.py builds on graphc.layers.base, not on this module).
from graphc.keras.recurrent import GRU, LSTM, SimpleRNN  # noqa: E402

_CLASSES.update({c.__name__: c for c in (GRU, LSTM, SimpleRNN)})
__all__ += ["GRU", "LSTM", "SimpleRNN"]
# Keras's aliases.
Convolution2D = Conv2D
Convolution2DTranspose = Deconvolution2D = Conv2DTranspose
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": layer.get_config()}``."""
    if not hasattr(layer, "get_config"):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) has no get_config: it cannot be saved"
        )
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Layer:
    """The layer a :func:`serialize` result describes (``custom_objects`` first)."""
    name = config["class_name"]
    classes = {**_CLASSES, **(custom_objects or {})}
    if name not in classes:
        raise ValueError(f"Unknown layer: {name}; pass it in custom_objects")
    cfg = dict(config.get("config", {}))
    for key in (
        "kernel_initializer",
        "bias_initializer",
        "embeddings_initializer",
        "beta_initializer",
        "gamma_initializer",
        "moving_mean_initializer",
        "moving_variance_initializer",
    ):
        if isinstance(cfg.get(key), dict):
            cfg[key] = _inits.deserialize(cfg[key], custom_objects)
    for key in (
        "kernel_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "embeddings_regularizer",
        "beta_regularizer",
        "gamma_regularizer",
    ):
        if isinstance(cfg.get(key), dict):
            cfg[key] = _regs.deserialize(cfg[key], custom_objects)
    if isinstance(cfg.get("activation"), str) and custom_objects and cfg["activation"] in custom_objects:
        cfg["activation"] = custom_objects[cfg["activation"]]
    cls = classes[name]
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg)
    return cls(**cfg)
