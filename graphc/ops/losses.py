"""TF1's ``tf.losses``: weighted losses reduced as ``Reduction`` says, added to a collection.

All are composites of registered ops (no op of their own). Weights broadcast to the
per-element losses (a scalar, or a tensor of the losses' rank whose dims are 1 or
equal); the default reduction, SUM_BY_NONZERO_WEIGHTS, divides the weighted sum by
the number of elements whose (broadcast) weight is non-zero, and gives 0, not NaN,
when there are none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import GraphKeys, Tensor, get_default_graph
from graphc.ops import nn_ops
from graphc.ops.common import convert_to_tensor, deprecated_argument, scalar_like
from graphc.ops.compare_ops import equal
from graphc.ops.core_ops import shape, size, stop_gradient
from graphc.ops.fill_ops import ones_like, zeros_like
from graphc.ops.gather_ops import gather
from graphc.ops.layout_ops import squeeze
from graphc.ops.math_ops import (
    abs,  # noqa: A004  (TF's name)
    add,
    add_n,
    cast,
    log,
    minimum,
    multiply,
    negative,
    real_div,
    squared_difference,
    subtract,
    where,
)
from graphc.ops.nn_common import _scope
from graphc.ops.reduction_ops import reduce_sum


class Reduction:
    """How compute_weighted_loss reduces the weighted losses (TF1's tf.losses.Reduction)."""

    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_OVER_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_BY_NONZERO_WEIGHTS = SUM_OVER_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key: str) -> None:
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}.")


# -- helpers ---------------------------------------------------------------------------
def _compute_dtype(dt: _dt.DType) -> _dt.DType:
    # TF1 computes every loss in float32; float64 is kept here so that double-precision
    # models (and gradient checks) lose nothing.
    return _dt.float64 if dt == _dt.float64 else _dt.float32


def _as_float(x: Any, dtype: _dt.DType | None = None) -> Tensor:
    t = convert_to_tensor(x)
    return cast(t, dtype or _compute_dtype(t.dtype))


def _check_not_none(**values: Any) -> None:
    for k, v in values.items():
        if v is None:
            raise ValueError(f"{k} must not be None.")


def _check_compatible(a: Tensor, b: Tensor, a_name: str, b_name: str) -> None:
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"Shapes {a.shape} ({a_name}) and {b.shape} ({b_name}) are incompatible")


def _check_broadcastable(weights: Tensor, losses: Tensor) -> None:
    """TF's assert_broadcastable, statically: weights are a scalar, or have the losses'
    rank with every dim 1 or equal to the losses' dim."""
    ws, ls = weights.shape, losses.shape
    if ws.ndims is None or ls.ndims is None or ws.ndims == 0:
        return
    if ws.ndims != ls.ndims:
        raise ValueError(
            f"weights can not be broadcast to values. values.rank={ls.ndims}. weights.rank={ws.ndims}. "
            f"values.shape={ls}. weights.shape={ws}."
        )
    for w, v in zip(ws.as_list(), ls.as_list(), strict=True):
        if w is not None and w != 1 and v is not None and w != v:
            raise ValueError(
                f"weights can not be broadcast to values: weights.shape={ws}, values.shape={ls}."
            )


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, or 0 where den == 0 (TF's div_no_nan), with a finite gradient either way."""
    zero = zeros_like(den)
    is_zero = equal(den, zero)
    return where(is_zero, zero, real_div(num, where(is_zero, ones_like(den), den)))


def _num_present(losses: Tensor, weights: Tensor, weights_value: Any) -> Tensor:
    """The number of loss elements whose broadcast weight is non-zero."""
    if isinstance(weights_value, int | float) and not isinstance(weights_value, bool) and weights_value != 0:
        return cast(size(losses), losses.dtype)
    present = where(equal(weights, zeros_like(weights)), zeros_like(weights), ones_like(weights))
    return reduce_sum(multiply(present, ones_like(losses)))


# -- the core ---------------------------------------------------------------------------
def compute_weighted_loss(
    losses: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.compute_weighted_loss: ``losses * weights`` reduced by ``reduction``, cast
    back to the losses' dtype and added to ``loss_collection``. Differences from TF1: the
    broadcastability of weights is checked when the graph is built (from static shapes),
    and float64 losses are computed in float64 (TF1 computes in float32)."""
    Reduction.validate(reduction)
    with _scope(scope, "weighted_loss"):
        losses_t = convert_to_tensor(losses)
        input_dtype = losses_t.dtype
        work = _compute_dtype(input_dtype)
        lt = cast(losses_t, work)
        wt = cast(convert_to_tensor(weights, preferred_dtype=work), work)
        _check_broadcastable(wt, lt)
        weighted = multiply(lt, wt)
        if reduction == Reduction.NONE:
            loss = weighted
        else:
            loss = reduce_sum(weighted)
            if reduction == Reduction.MEAN:
                loss = _safe_div(loss, reduce_sum(multiply(ones_like(lt), wt)))
            elif reduction == Reduction.SUM_OVER_NONZERO_WEIGHTS:
                loss = _safe_div(loss, _num_present(lt, wt, weights))
            elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                loss = _safe_div(loss, cast(size(lt), work))
        loss = cast(loss, input_dtype)
        add_loss(loss, loss_collection)
        return loss


def add_loss(loss: Any, loss_collection: str | None = GraphKeys.LOSSES) -> None:
    """tf.losses.add_loss: append ``loss`` to ``loss_collection`` (nothing if it is None/empty)."""
    if loss_collection:
        get_default_graph().add_to_collection(loss_collection, loss)


def get_losses(scope: str | None = None, loss_collection: str = GraphKeys.LOSSES) -> list[Any]:
    """tf.losses.get_losses: the collection's losses whose names match the ``scope`` regex."""
    return get_default_graph().get_collection(loss_collection, scope)


def get_regularization_losses(scope: str | None = None) -> list[Any]:
    """tf.losses.get_regularization_losses."""
    return get_default_graph().get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope: str | None = None, name: str = "total_regularization_loss") -> Tensor:
    """tf.losses.get_regularization_loss: the sum of the regularization losses, or 0.0."""
    losses = get_regularization_losses(scope)
    if losses:
        return add_n(losses, name=name)
    return convert_to_tensor(0.0, dtype=_dt.float32, name=name)


def get_total_loss(
    add_regularization_losses: bool = True, name: str = "total_loss", scope: str | None = None
) -> Tensor:
    """tf.losses.get_total_loss: add_n of the losses (and regularization losses); with none,
    a ValueError as TF1 (whose add_n rejects an empty list)."""
    losses = get_losses(scope=scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope=scope)
    if not losses:
        raise ValueError("No losses to sum: the losses collection is empty (add_n needs at least one input)")
    return add_n(losses, name=name)


# -- the losses ------------------------------------------------------------------------------
def _weighted(
    default_scope: str,
    labels: Any,
    inputs: Any,
    weights: Any,
    scope: str | None,
    loss_collection: str | None,
    reduction: str,
    per_element: Callable[[Tensor, Tensor], Tensor],
    names: tuple[str, str] = ("labels", "predictions"),
    logits: bool = False,
) -> Tensor:
    """What the losses of ``inputs`` (predictions or logits) against ``labels`` share:
    both must be given; in the scope, the inputs become a tensor of the compute dtype
    (logits keep theirs), the labels are cast to it and must have a compatible shape;
    ``per_element(inputs, labels)`` is weighted and reduced by compute_weighted_loss."""
    labels_name, inputs_name = names
    _check_not_none(**{labels_name: labels, inputs_name: inputs})
    with _scope(scope, default_scope) as s:
        x = convert_to_tensor(inputs) if logits else _as_float(inputs)
        y = _as_float(labels, x.dtype)
        _check_compatible(x, y, inputs_name, labels_name)
        return compute_weighted_loss(per_element(x, y), weights, s, loss_collection, reduction)


def mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.mean_squared_error: weighted (predictions - labels) ** 2."""
    return _weighted(
        "mean_squared_error",
        labels,
        predictions,
        weights,
        scope,
        loss_collection,
        reduction,
        squared_difference,
    )


def absolute_difference(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.absolute_difference: weighted |predictions - labels|."""
    return _weighted(
        "absolute_difference",
        labels,
        predictions,
        weights,
        scope,
        loss_collection,
        reduction,
        lambda p, y: abs(subtract(p, y)),
    )


def log_loss(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    epsilon: float = 1e-7,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.log_loss: -y log(p + eps) - (1 - y) log(1 - p + eps)."""

    def losses(p: Tensor, y: Tensor) -> Tensor:
        eps = scalar_like(epsilon, p)
        one = scalar_like(1.0, p)
        return subtract(
            negative(multiply(y, log(add(p, eps)))),
            multiply(subtract(one, y), log(add(subtract(one, p), eps))),
        )

    return _weighted("log_loss", labels, predictions, weights, scope, loss_collection, reduction, losses)


def huber_loss(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    delta: float = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.huber_loss: 0.5 x^2 for |x| <= delta, else delta (|x| - delta / 2), x = p - y."""

    def losses(p: Tensor, y: Tensor) -> Tensor:
        abs_error = abs(subtract(p, y))
        d = scalar_like(delta, p)
        quadratic = minimum(abs_error, d)
        linear = subtract(abs_error, quadratic)
        return add(multiply(scalar_like(0.5, p), multiply(quadratic, quadratic)), multiply(d, linear))

    return _weighted("huber_loss", labels, predictions, weights, scope, loss_collection, reduction, losses)


def hinge_loss(
    labels: Any,
    logits: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.hinge_loss: max(0, 1 - (2y - 1) * logits) for labels y in {0, 1}."""

    def losses(x: Tensor, y: Tensor) -> Tensor:
        one = scalar_like(1.0, x)
        signs = subtract(multiply(scalar_like(2.0, x), y), one)
        return nn_ops.relu(subtract(one, multiply(signs, x)))

    return _weighted(
        "hinge_loss", labels, logits, weights, scope, loss_collection, reduction, losses, ("labels", "logits")
    )


def cosine_distance(
    labels: Any,
    predictions: Any,
    axis: int | None = None,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
    dim: int | None = None,
) -> Tensor:
    """tf.losses.cosine_distance: 1 - sum(labels * predictions, axis, keepdims=True), for
    unit-normalised inputs; ``dim`` is the deprecated alias of ``axis``."""
    axis = deprecated_argument(axis, dim, "axis", "dim")
    if axis is None:
        raise ValueError("You must specify 'axis'.")
    return _weighted(
        "cosine_distance_loss",
        labels,
        predictions,
        weights,
        scope,
        loss_collection,
        reduction,
        lambda p, y: subtract(scalar_like(1.0, p), reduce_sum(multiply(p, y), axis=axis, keepdims=True)),
    )


def softmax_cross_entropy(
    onehot_labels: Any,
    logits: Any,
    weights: Any = 1.0,
    label_smoothing: float = 0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.softmax_cross_entropy: labels smoothed to y (1 - s) + s / classes, under
    stop_gradient, then softmax_cross_entropy_with_logits_v2 per example."""

    def losses(x: Tensor, y: Tensor) -> Tensor:
        if label_smoothing > 0:
            y = add(
                multiply(y, scalar_like(1.0 - label_smoothing, x)), real_div(scalar_like(label_smoothing, x), _num_classes(y))
            )
        y = stop_gradient(y, name="labels_stop_gradient")
        return nn_ops.softmax_cross_entropy_with_logits_v2(labels=y, logits=x, name="xentropy")

    return _weighted(
        "softmax_cross_entropy_loss",
        onehot_labels,
        logits,
        weights,
        scope,
        loss_collection,
        reduction,
        losses,
        ("onehot_labels", "logits"),
        logits=True,
    )


def _num_classes(labels: Tensor) -> Tensor:
    rank = labels.shape.ndims
    if not rank:
        raise ValueError(f"label_smoothing needs onehot_labels of known rank >= 1, got shape {labels.shape}")
    last = labels.shape.as_list()[-1]
    if last is not None:
        return scalar_like(float(last), labels)
    return cast(gather(shape(labels), rank - 1), labels.dtype)


def sparse_softmax_cross_entropy(
    labels: Any,
    logits: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.sparse_softmax_cross_entropy: labels of shape [batch] (or [batch, 1], squeezed
    as TF does); weights of shape [batch, 1] are squeezed likewise."""
    _check_not_none(labels=labels, logits=logits)
    with _scope(scope, "sparse_softmax_cross_entropy_loss") as s:
        x = convert_to_tensor(logits)
        y = convert_to_tensor(labels)
        y = _squeeze_last_if(y, x.shape.ndims)
        w = weights
        if isinstance(weights, Tensor) or not isinstance(weights, int | float):
            w = _squeeze_last_if(convert_to_tensor(weights), x.shape.ndims)
        losses = nn_ops.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x, name="xentropy")
        return compute_weighted_loss(losses, w, s, loss_collection, reduction)


def _squeeze_last_if(t: Tensor, logits_rank: int | None) -> Tensor:
    """Drop a trailing dim of 1 from labels/weights that have the logits' rank (TF's
    remove_squeezable_dimensions with expected_rank_diff=1)."""
    r = t.shape.ndims
    if r is None or logits_rank is None or r != logits_rank or r == 0:
        return t
    if t.shape.as_list()[-1] not in (1, None):
        return t
    return squeeze(t, [-1])


def sigmoid_cross_entropy(
    multi_class_labels: Any,
    logits: Any,
    weights: Any = 1.0,
    label_smoothing: float = 0,
    scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """tf.losses.sigmoid_cross_entropy: labels smoothed to y (1 - s) + s / 2, then
    sigmoid_cross_entropy_with_logits per element."""

    def losses(x: Tensor, y: Tensor) -> Tensor:
        if label_smoothing > 0:
            y = add(multiply(y, scalar_like(1.0 - label_smoothing, x)), scalar_like(0.5 * label_smoothing, x))
        return nn_ops.sigmoid_cross_entropy_with_logits(labels=y, logits=x, name="xentropy")

    return _weighted(
        "sigmoid_cross_entropy_loss",
        multi_class_labels,
        logits,
        weights,
        scope,
        loss_collection,
        reduction,
        losses,
        ("multi_class_labels", "logits"),
        logits=True,
    )


__all__ = [
    "Reduction",
    "absolute_difference",
    "add_loss",
    "compute_weighted_loss",
    "cosine_distance",
    "get_losses",
    "get_regularization_loss",
    "get_regularization_losses",
    "get_total_loss",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]
