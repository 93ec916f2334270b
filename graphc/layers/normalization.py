"""tf.layers' batch normalization: BatchNormalization and ``batch_normalization``."""

from __future__ import annotations

from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.layers.base import InputSpec, Layer
from graphc.layers.utils import select_training
from graphc.ops.common import convert_to_tensor
from graphc.ops.init_ops import Ones, Zeros
from graphc.ops.layout_ops import reshape
from graphc.ops.math_ops import cast
from graphc.ops.nn_ops import batch_normalization as _nn_batch_normalization
from graphc.ops.nn_ops import moments
from graphc.ops.state_ops import assign, assign_sub

__all__ = ["BatchNormalization", "batch_normalization"]


class BatchNormalization(Layer):
    """tf.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True,
    scale=True, ...): ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` per feature of
    ``axis``. Weights ``gamma``, ``beta`` (trainable), ``moving_mean``,
    ``moving_variance`` (not trainable), made in that order as TF1.

    ``training=True``: the batch's moments (``tf.nn.moments`` over the other axes: the
    biased variance), and the updates ``moving = moving - (moving - batch) * (1 -
    momentum)`` (``AssignMovingAvg`` ops, added to ``tf.GraphKeys.UPDATE_OPS`` by
    tf.layers; run them with the train op). ``training=False``: the moving statistics.

    ``training`` may be a scalar bool tensor (``tf.placeholder(tf.bool, [])``), as TF1's
    ``smart_cond``: the moments are ``tf.where(training, batch moments, moving
    statistics)``, and each update assigns ``tf.where(training, moving - (moving - batch) *
    (1 - momentum), moving)``, so an update run with ``training`` False writes the moving
    statistics back unchanged, bit for bit (TF1: the momentum becomes ``cond(training,
    momentum, 1.0)``). The batch's moments are computed in inference runs too, and
    discarded.

    Differs from TF1: ``fused`` is accepted and ignored (always the non-fused formula, so
    moving_variance tracks the biased batch variance, where TF1's fused kernel tracks the
    unbiased one); ``renorm``, ``virtual_batch_size`` and ``adjustment`` are not supported.
    """

    def __init__(
        self,
        axis: Any = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = None,
        gamma_initializer: Any = None,
        moving_mean_initializer: Any = None,
        moving_variance_initializer: Any = None,
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: Any = None,
        renorm_momentum: float = 0.99,
        fused: Any = None,
        trainable: bool = True,
        virtual_batch_size: Any = None,
        adjustment: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(trainable=trainable, name=name, **kwargs)
        if renorm:
            raise NotImplementedError("BatchNormalization(renorm=True) is not supported")
        if virtual_batch_size is not None:
            raise NotImplementedError("BatchNormalization's virtual_batch_size is not supported")
        if adjustment is not None:
            raise NotImplementedError("BatchNormalization's adjustment is not supported")
        _ = (renorm_clipping, renorm_momentum, fused)
        self.axis = list(axis) if isinstance(axis, list | tuple) else int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _inits.get(beta_initializer) if beta_initializer is not None else Zeros()
        self.gamma_initializer = _inits.get(gamma_initializer) if gamma_initializer is not None else Ones()
        self.moving_mean_initializer = (
            _inits.get(moving_mean_initializer) if moving_mean_initializer is not None else Zeros()
        )
        self.moving_variance_initializer = (
            _inits.get(moving_variance_initializer) if moving_variance_initializer is not None else Ones()
        )
        self.beta_regularizer = _regs.get(beta_regularizer)
        self.gamma_regularizer = _regs.get(gamma_regularizer)
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.supports_masking = True

    def build(self, input_shape: Any) -> None:
        input_shape = TensorShape(input_shape)
        ndims = input_shape.ndims
        if ndims is None:
            raise ValueError(f"Input has undefined rank: {input_shape}")
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        norm = sorted({a + ndims if a < 0 else a for a in axes})
        for a in norm:
            if not 0 <= a < ndims:
                raise ValueError(f"Invalid axis: {self.axis} for an input of rank {ndims}")
        dims = input_shape.as_list()
        for a in norm:
            if dims[a] is None:
                raise ValueError(f"Input has undefined `axis` dimension. Input shape: {input_shape}")
        self._axes = norm
        self.input_spec = InputSpec(ndim=ndims, axes={a: dims[a] for a in norm})
        param_shape = [int(dims[a]) for a in norm]
        param_dtype = _dt.float32 if self._dtype is None or self._dtype == _dt.float16 else self._dtype
        self.gamma = (
            self.add_weight(
                "gamma",
                shape=param_shape,
                dtype=param_dtype,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                trainable=True,
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                "beta",
                shape=param_shape,
                dtype=param_dtype,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                trainable=True,
            )
            if self.center
            else None
        )
        self.moving_mean = self.add_weight(
            "moving_mean",
            shape=param_shape,
            dtype=param_dtype,
            initializer=self.moving_mean_initializer,
            trainable=False,
        )
        self.moving_variance = self.add_weight(
            "moving_variance",
            shape=param_shape,
            dtype=param_dtype,
            initializer=self.moving_variance_initializer,
            trainable=False,
        )
        self.built = True

    def _assign_moving_average(self, variable: Any, value: Tensor, training: bool | Tensor) -> Any:
        # TF1's assign_moving_average: moving -= (moving - value) * (1 - momentum). With a
        # tensor ``training`` the new value is selected: an inference run writes the old
        # value back unchanged (TF1 makes the momentum cond(training, momentum, 1.0) or
        # runs the update in a cond; a select also keeps NaN batch moments out).
        graph = get_default_graph()
        with graph.name_scope("AssignMovingAvg"):
            decay = convert_to_tensor(1.0 - self.momentum, dtype=variable.dtype, name="decay")
            update_delta = (variable - cast(value, variable.dtype)) * decay
            if training is True:
                return assign_sub(variable, update_delta)
            current = convert_to_tensor(variable)
            return assign(variable, select_training(training, current - update_delta, current))

    def call(self, inputs: Tensor, training: Any = None) -> Tensor:
        if training is None:
            training = self._call_training_default if not self._keras_style else None
        training = self._resolve_training(training)
        ndims = inputs.shape.ndims
        reduction_axes = [i for i in range(ndims) if i not in self._axes]
        needs_broadcast = self._axes != [ndims - 1]
        bshape = [1] * ndims
        for a in self._axes:
            bshape[a] = int(inputs.shape.as_list()[a])

        def bcast(v: Any) -> Any:
            if v is None or not needs_broadcast:
                return v
            return reshape(v, bshape)

        if training is False:
            mean, variance = self.moving_mean, self.moving_variance
        else:
            mean, variance = moments(inputs, reduction_axes, keep_dims=False)
            if len(self._axes) > 1:
                mean, variance = (
                    reshape(mean, self.moving_mean.shape.as_list()),
                    reshape(variance, self.moving_variance.shape.as_list()),
                )
            self.add_update(self._assign_moving_average(self.moving_mean, mean, training), inputs)
            self.add_update(self._assign_moving_average(self.moving_variance, variance, training), inputs)
            if training is not True:
                # TF1: mean = smart_cond(training, batch mean, moving mean), the same for
                # the variance, then one normalization with the selected moments.
                pdt = self.moving_mean.dtype
                mean = select_training(training, cast(mean, pdt), convert_to_tensor(self.moving_mean))
                variance = select_training(
                    training, cast(variance, pdt), convert_to_tensor(self.moving_variance)
                )
        pdt = self.moving_mean.dtype
        return _nn_batch_normalization(
            inputs,
            bcast(cast(mean, pdt) if isinstance(mean, Tensor) and mean.dtype != pdt else mean),
            bcast(
                cast(variance, pdt) if isinstance(variance, Tensor) and variance.dtype != pdt else variance
            ),
            bcast(self.beta),
            bcast(self.gamma),
            self.epsilon,
        )

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        return TensorShape(input_shape)


def batch_normalization(
    inputs: Any,
    axis: Any = -1,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    center: bool = True,
    scale: bool = True,
    beta_initializer: Any = None,
    gamma_initializer: Any = None,
    moving_mean_initializer: Any = None,
    moving_variance_initializer: Any = None,
    beta_regularizer: Any = None,
    gamma_regularizer: Any = None,
    beta_constraint: Any = None,
    gamma_constraint: Any = None,
    training: Any = False,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
    renorm: bool = False,
    renorm_clipping: Any = None,
    renorm_momentum: float = 0.99,
    fused: Any = None,
    virtual_batch_size: Any = None,
    adjustment: Any = None,
) -> Tensor:
    """tf.layers.batch_normalization: :class:`BatchNormalization` applied to ``inputs``;
    variables ``<scope>/gamma``, ``beta``, ``moving_mean``, ``moving_variance`` with the
    scope ``name`` or ``batch_normalization``, ``batch_normalization_1``, ... With
    ``training=True`` or a bool tensor (see :class:`BatchNormalization`) the moving-average
    updates go to ``tf.GraphKeys.UPDATE_OPS``:

        with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
            train_op = optimizer.minimize(loss)
    """
    layer = BatchNormalization(
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
        renorm=renorm,
        renorm_clipping=renorm_clipping,
        renorm_momentum=renorm_momentum,
        fused=fused,
        trainable=trainable,
        virtual_batch_size=virtual_batch_size,
        adjustment=adjustment,
        name=name,
        _scope=name,
        _reuse=reuse,
    )
    return layer.apply(inputs, training=training)
