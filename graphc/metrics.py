"""tf.metrics (TF1): streaming metrics, and tf.confusion_matrix.

Each metric returns ``(value, update_op)``. Its state lives in local variables (in the
``LOCAL_VARIABLES`` and ``METRIC_VARIABLES`` collections, not trainable), created under a
variable scope named by ``name`` (default: the metric's name); run
``tf.local_variables_initializer()`` to reset them. ``update_op`` adds a batch to the
state and gives the metric's value after the update; ``value`` reads the state without
changing it. ``metrics_collections`` / ``updates_collections`` receive ``value`` /
``update_op``.

Where graphc differs from TF1: TF1 adds run-time assertions (predictions within [0, 1] for
``auc``, labels within range for ``confusion_matrix``); graphc has no assertion ops, so
such inputs are not checked. ``confusion_matrix`` needs ``num_classes`` unless labels and
predictions are constants (its shape would otherwise depend on the data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import GraphKeys, Tensor, get_default_graph
from graphc.ops.array_ops import reshape, squeeze, stack
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import equal, greater, logical_and, logical_not
from graphc.ops.core_ops import constant, size
from graphc.ops.fill_ops import ones_like, zeros_like
from graphc.ops.gather_nd_ops import scatter_nd
from graphc.ops.math_ops import (
    abs as _abs,
)
from graphc.ops.math_ops import (
    cast,
    log,
    maximum,
    minimum,
    multiply,
    sqrt,
    squared_difference,
    truediv,
    where,
)
from graphc.ops.reduction_ops import reduce_sum
from graphc.ops.state_ops import assign_add
from graphc.ops.variable_scope import variable_scope
from graphc.ops.variables import Variable

__all__ = [
    "METRIC_VARIABLES",
    "accuracy",
    "auc",
    "confusion_matrix",
    "false_negatives",
    "false_positives",
    "mean",
    "mean_absolute_error",
    "mean_iou",
    "mean_squared_error",
    "precision",
    "precision_at_thresholds",
    "recall",
    "recall_at_thresholds",
    "root_mean_squared_error",
    "true_negatives",
    "true_positives",
]

METRIC_VARIABLES = "metric_variables"  # TF1's GraphKeys.METRIC_VARIABLES


# -- helpers -----------------------------------------------------------------------------
def _metric_variable(shape: Sequence[int], dtype: Any, name: str) -> Variable:
    """A zero-initialized local variable in the metric collections (TF1's metric_variable)."""
    zeros = np.zeros(tuple(shape), dtype=_dt.as_dtype(dtype).np)
    return Variable(
        zeros,
        trainable=False,
        collections=[GraphKeys.LOCAL_VARIABLES, METRIC_VARIABLES],
        name=name,
    )


def _collect(value: Tensor, update_op: Tensor, metrics_collections: Any, updates_collections: Any) -> None:
    graph = get_default_graph()
    if metrics_collections:
        graph.add_to_collections(metrics_collections, value)
    if updates_collections:
        graph.add_to_collections(updates_collections, update_op)


def _rank(t: Tensor) -> int | None:
    return t.shape.ndims


def _remove_squeezable_dimensions(
    predictions: Tensor, labels: Tensor | None, weights: Tensor | None
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """TF1's rule: where the ranks of labels and predictions differ by one and the extra
    last dim is 1, squeeze it; the same for weights against predictions (static ranks)."""
    if labels is not None:
        rp, rl = _rank(predictions), _rank(labels)
        if rp is not None and rl is not None:
            if rl == rp + 1 and labels.shape.as_list()[-1] in (1, None):
                labels = squeeze(labels, [-1])
            elif rp == rl + 1 and predictions.shape.as_list()[-1] in (1, None):
                predictions = squeeze(predictions, [-1])
    if weights is not None:
        rp, rw = _rank(predictions), _rank(weights)
        if rp is not None and rw is not None and rw == rp + 1 and weights.shape.as_list()[-1] in (1, None):
            weights = squeeze(weights, [-1])
    return predictions, labels, weights


def _broadcast_weights(weights: Tensor, values: Tensor) -> Tensor:
    """``weights`` broadcast to ``values``' shape (TF1's broadcast_weights: a scalar, or the
    same rank with each dim 1 or equal)."""
    ws, vs = weights.shape.as_tuple(), values.shape.as_tuple()
    if ws is not None and vs is not None and len(ws) != 0:
        bad = len(ws) != len(vs) or any(
            w is not None and v is not None and w not in (1, v) for w, v in zip(ws, vs)
        )
        if bad:
            raise ValueError(
                f"weights can not be broadcast to values. values.shape={values.shape}, weights.shape={weights.shape}"
            )
    return multiply(weights, ones_like(values))


def _div_no_nan(num: Tensor, den: Tensor) -> Tensor:
    """num / den, or 0 where den == 0 (TF's div_no_nan)."""
    is_zero = equal(den, zeros_like(den))
    return where(is_zero, zeros_like(num), truediv(num, where(is_zero, ones_like(den), den)))


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den where den > 0, else 0 (TF1's precision and recall)."""
    pos = greater(den, zeros_like(den))
    return where(pos, truediv(num, where(pos, den, ones_like(den))), zeros_like(num))


def _as_float(x: Any) -> Tensor:
    t = convert_to_tensor(x)
    return t if t.dtype == _dt.float32 else cast(t, _dt.float32)


def _as_bool(x: Any) -> Tensor:
    t = convert_to_tensor(x)
    return t if t.dtype == _dt.bool_ else cast(t, _dt.bool_)


def _check_compatible(predictions: Tensor, labels: Tensor) -> None:
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"Shapes {predictions.shape} and {labels.shape} are incompatible")


# -- mean and the metrics built on it ---------------------------------------------------
def mean(
    values: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.mean: the (weighted) mean of ``values`` over all batches seen, in
    float32: ``total / count`` with ``total += sum(values * weights)`` and ``count +=
    sum(weights)`` (0 while count is 0)."""
    with variable_scope(name, "mean"):
        v = _as_float(values)
        total = _metric_variable([], _dt.float32, "total")
        count = _metric_variable([], _dt.float32, "count")
        if weights is None:
            num = cast(size(v), _dt.float32)
        else:
            v, _, w = _remove_squeezable_dimensions(v, None, _as_float(weights))
            w = _broadcast_weights(w, v)
            v = multiply(v, w)
            num = reduce_sum(w)
        update_total = assign_add(total, reduce_sum(v))
        update_count = assign_add(count, num)
        value = _div_no_nan(total.value(), maximum(count.value(), 0.0))
        update_op = _div_no_nan(update_total, maximum(update_count, 0.0))
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


def accuracy(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.accuracy: the (weighted) fraction of ``predictions`` equal to ``labels``
    (predictions are cast to the labels' dtype; a trailing dim of 1 is squeezed)."""
    lab = convert_to_tensor(labels)
    pred = convert_to_tensor(predictions)
    w = None if weights is None else _as_float(weights)
    pred, lab, w = _remove_squeezable_dimensions(pred, lab, w)
    assert lab is not None
    _check_compatible(pred, lab)
    if pred.dtype != lab.dtype:
        pred = cast(pred, lab.dtype)
    is_correct = cast(equal(pred, lab), _dt.float32)
    return mean(is_correct, w, metrics_collections, updates_collections, name or "accuracy")


def mean_absolute_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.mean_absolute_error: the (weighted) mean of ``|predictions - labels|``."""
    pred, lab, w = _prepare_regression(labels, predictions, weights)
    return mean(_abs(pred - lab), w, metrics_collections, updates_collections, name or "mean_absolute_error")


def mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.mean_squared_error: the (weighted) mean of ``(predictions - labels)**2``."""
    pred, lab, w = _prepare_regression(labels, predictions, weights)
    return mean(
        squared_difference(pred, lab),
        w,
        metrics_collections,
        updates_collections,
        name or "mean_squared_error",
    )


def root_mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.root_mean_squared_error: the square root of ``mean_squared_error``."""
    pred, lab, w = _prepare_regression(labels, predictions, weights)
    mse, update_mse = mean(squared_difference(pred, lab), w, None, None, name or "root_mean_squared_error")
    value, update_op = sqrt(mse), sqrt(update_mse)
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


def _prepare_regression(labels: Any, predictions: Any, weights: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    lab = _as_float(labels)
    pred = _as_float(predictions)
    w = None if weights is None else _as_float(weights)
    pred, lab2, w = _remove_squeezable_dimensions(pred, lab, w)
    assert lab2 is not None
    _check_compatible(pred, lab2)
    return pred, lab2, w


# -- counts of a condition --------------------------------------------------------------
def _count_condition(
    values: Tensor,
    weights: Any,
    metrics_collections: Any,
    updates_collections: Any,
) -> tuple[Tensor, Tensor]:
    """TF1's _count_condition: ``count += sum(float(values) * weights)``."""
    count = _metric_variable([], _dt.float32, "count")
    v = cast(values, _dt.float32)
    if weights is not None:
        w = _as_float(weights)
        v, _, w = _remove_squeezable_dimensions(v, None, w)
        assert w is not None
        v = multiply(v, _broadcast_weights(w, v))
    value = count.value()
    update_op = assign_add(count, reduce_sum(v))
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


def _count_metric(kind: str) -> Any:
    def metric(
        labels: Any,
        predictions: Any,
        weights: Any = None,
        metrics_collections: Any = None,
        updates_collections: Any = None,
        name: str | None = None,
    ) -> tuple[Tensor, Tensor]:
        with variable_scope(name, kind):
            pred, lab, w = _remove_squeezable_dimensions(
                _as_bool(predictions), _as_bool(labels), None if weights is None else _as_float(weights)
            )
            assert lab is not None
            _check_compatible(pred, lab)
            want_label = kind in ("true_positives", "false_negatives")
            want_pred = kind in ("true_positives", "false_positives")
            lab_ok = lab if want_label else logical_not(lab)
            pred_ok = pred if want_pred else logical_not(pred)
            return _count_condition(logical_and(lab_ok, pred_ok), w, metrics_collections, updates_collections)

    metric.__name__ = kind
    label = {"true": "", "false": "not "}
    first, second = kind.split("_")
    metric.__doc__ = (
        f"tf.metrics.{kind}: the (weighted) count of elements whose prediction is "
        f"{'positive' if second == 'positives' else 'negative'} and is {label[first]}right "
        f"(labels and predictions are cast to bool)."
    )
    return metric


true_positives = _count_metric("true_positives")
false_positives = _count_metric("false_positives")
false_negatives = _count_metric("false_negatives")
true_negatives = _count_metric("true_negatives")


def _ratio_metric(name: str, other: Callable[..., Any], doc: str) -> Callable[..., tuple[Tensor, Tensor]]:
    """A metric ``tp / (tp + other)`` on the streaming counts (0 while the sum is 0)."""
    default_name = name  # the metric's scope; its ``name`` argument may override it

    def metric(
        labels: Any,
        predictions: Any,
        weights: Any = None,
        metrics_collections: Any = None,
        updates_collections: Any = None,
        name: str | None = None,
    ) -> tuple[Tensor, Tensor]:
        with variable_scope(name, default_name):
            tp, tp_up = true_positives(labels, predictions, weights)
            o, o_up = other(labels, predictions, weights)
            value = _safe_ratio(tp, tp + o)
            update_op = _safe_ratio(tp_up, tp_up + o_up)
        _collect(value, update_op, metrics_collections, updates_collections)
        return value, update_op

    metric.__name__ = metric.__qualname__ = default_name
    metric.__doc__ = doc
    return metric


precision = _ratio_metric(
    "precision",
    false_positives,
    """tf.metrics.precision: ``tp / (tp + fp)`` (0 while nothing was predicted positive);
    labels and predictions are cast to bool.""",
)
recall = _ratio_metric(
    "recall",
    false_negatives,
    """tf.metrics.recall: ``tp / (tp + fn)`` (0 while no label was positive); labels and
    predictions are cast to bool.""",
)


# -- metrics at thresholds ----------------------------------------------------------------
def _confusion_at_thresholds(
    labels: Any, predictions: Any, thresholds: Sequence[float], weights: Any, includes: Sequence[str]
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """TF1's _confusion_matrix_at_thresholds: per threshold t, the (weighted) counts of
    ``predictions > t`` against the labels, as [len(thresholds)] float32 variables."""
    pred = _as_float(predictions)
    lab = _as_bool(labels)
    w = None if weights is None else _as_float(weights)
    pred, lab, w = _remove_squeezable_dimensions(pred, lab, w)
    assert lab is not None
    _check_compatible(pred, lab)
    n_t = len(thresholds)
    pred_row = reshape(pred, [1, -1])
    lab_row = reshape(lab, [1, -1])
    thresh = constant(np.asarray(thresholds, dtype=np.float32).reshape(n_t, 1))
    pred_pos = greater(pred_row, thresh)  # [T, N]
    pred_neg = logical_not(pred_pos)
    lab_pos = logical_and(lab_row, ones_like(pred_pos))
    lab_neg = logical_not(lab_pos)
    w_row = None if w is None else reshape(_broadcast_weights(w, pred), [1, -1])
    conditions = {
        "tp": (lab_pos, pred_pos, "true_positives"),
        "fn": (lab_pos, pred_neg, "false_negatives"),
        "tn": (lab_neg, pred_neg, "true_negatives"),
        "fp": (lab_neg, pred_pos, "false_positives"),
    }
    values: dict[str, Tensor] = {}
    updates: dict[str, Tensor] = {}
    for key in includes:
        a, b, var_name = conditions[key]
        hit = cast(logical_and(a, b), _dt.float32)
        if w_row is not None:
            hit = multiply(hit, w_row)
        var = _metric_variable([n_t], _dt.float32, var_name)
        values[key] = var.value()
        updates[key] = assign_add(var, reduce_sum(hit, axis=1))
    return values, updates


def auc(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    num_thresholds: int = 200,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    curve: str = "ROC",
    name: str | None = None,
    summation_method: str = "trapezoidal",
    thresholds: Sequence[float] | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.auc: the area under the ROC or PR curve, approximated as TF1 does.

    ``num_thresholds`` thresholds (the given ``thresholds``, sorted, plus ``-1e-7`` and
    ``1 + 1e-7``; by default ``(i + 1) / (num_thresholds - 1)`` for i < num_thresholds -
    2) split the predictions (probabilities in [0, 1]) into positive and negative; recall
    is ``(tp + 1e-6) / (tp + fn + 1e-6)``, the false positive rate ``fp / (fp + tn +
    1e-6)``, precision ``(tp + 1e-6) / (tp + fp + 1e-6)``, and the area is a Riemann sum
    over consecutive thresholds: ``'trapezoidal'`` (mean of the two heights),
    ``'minoring'`` (the smaller), ``'majoring'`` (the larger) or, for the PR curve,
    ``'careful_interpolation'`` (TF1's interpolated precision; for ROC it is
    trapezoidal).
    """
    if curve not in ("ROC", "PR"):
        raise ValueError(f"curve must be either ROC or PR, {curve} unknown")
    if summation_method not in ("trapezoidal", "careful_interpolation", "minoring", "majoring"):
        raise ValueError(f"Invalid summation_method: {summation_method}")
    kepsilon = 1e-7
    if thresholds is not None:
        inner = sorted(float(t) for t in thresholds)
    else:
        if num_thresholds < 2:
            raise ValueError("`num_thresholds` must be > 1.")
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    ts = [0.0 - kepsilon, *inner, 1.0 + kepsilon]
    n = len(ts)
    with variable_scope(name, "auc"):
        values, updates = _confusion_at_thresholds(labels, predictions, ts, weights, ("tp", "fn", "tn", "fp"))
        value = _auc_from_counts(values, n, curve, summation_method)
        update_op = _auc_from_counts(updates, n, curve, summation_method)
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


def _auc_from_counts(c: dict[str, Tensor], n: int, curve: str, method: str) -> Tensor:
    tp, fn, tn, fp = c["tp"], c["fn"], c["tn"], c["fp"]
    if curve == "PR" and method == "careful_interpolation":
        return _interpolate_pr_auc(tp, fp, fn, n)
    epsilon = 1.0e-6
    rec = truediv(tp + epsilon, tp + fn + epsilon)
    if curve == "ROC":
        x, y = truediv(fp, fp + tn + epsilon), rec
    else:
        x, y = rec, truediv(tp + epsilon, tp + fp + epsilon)
    dx = x[: n - 1] - x[1:]
    if method == "minoring":
        height = minimum(y[: n - 1], y[1:])
    elif method == "majoring":
        height = maximum(y[: n - 1], y[1:])
    else:
        height = (y[: n - 1] + y[1:]) / 2.0
    return reduce_sum(multiply(dx, height))


def _interpolate_pr_auc(tp: Tensor, fp: Tensor, fn: Tensor, n: int) -> Tensor:
    """TF1's interpolate_pr_auc (Davis & Goadrich 2006): precision interpolated linearly in
    the true positives between consecutive thresholds, integrated exactly over recall."""
    dtp = tp[: n - 1] - tp[1:]
    p = tp + fp
    prec_slope = _div_no_nan(dtp, maximum(p[: n - 1] - p[1:], 0.0))
    intercept = tp[1:] - multiply(prec_slope, p[1:])
    both_pos = logical_and(greater(p[: n - 1], 0.0), greater(p[1:], 0.0))
    safe_p_ratio = where(both_pos, _div_no_nan(p[: n - 1], maximum(p[1:], 0.0)), ones_like(p[1:]))
    return reduce_sum(
        _div_no_nan(
            multiply(prec_slope, dtp + multiply(intercept, log(safe_p_ratio))),
            maximum(tp[1:] + fn[1:], 0.0),
        )
    )


def precision_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.precision_at_thresholds: per threshold, ``tp / (tp + fp + 1e-7)`` where a
    prediction above the threshold counts as positive."""
    with variable_scope(name, "precision_at_thresholds"):
        values, updates = _confusion_at_thresholds(
            labels, predictions, list(thresholds), weights, ("tp", "fp")
        )
        eps = 1e-7
        value = truediv(values["tp"], eps + values["tp"] + values["fp"])
        update_op = truediv(updates["tp"], eps + updates["tp"] + updates["fp"])
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


def recall_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.recall_at_thresholds: per threshold, ``tp / (tp + fn + 1e-7)``."""
    with variable_scope(name, "recall_at_thresholds"):
        values, updates = _confusion_at_thresholds(
            labels, predictions, list(thresholds), weights, ("tp", "fn")
        )
        eps = 1e-7
        value = truediv(values["tp"], eps + values["tp"] + values["fn"])
        update_op = truediv(updates["tp"], eps + updates["tp"] + updates["fn"])
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


# -- confusion matrix ---------------------------------------------------------------------
def _static_int_values(t: Tensor) -> np.ndarray | None:
    v = getattr(t, "_value", None)
    if v is None or t.op.type != "Const":
        return None
    return np.asarray(t.op.get_attr("value"))


def confusion_matrix(
    labels: Any,
    predictions: Any,
    num_classes: int | None = None,
    dtype: Any = _dt.int32,
    name: str | None = None,
    weights: Any = None,
) -> Tensor:
    """tf.confusion_matrix / tf.math.confusion_matrix (TF1's argument order): the
    ``[num_classes, num_classes]`` matrix whose entry (i, j) counts (or sums ``weights``
    over) the elements with label i predicted as j. Labels and predictions are 1-D class
    ids (a trailing dim of 1 is squeezed). ``num_classes`` is required unless both are
    constants (TF1 computes it from the data, which would make the shape data-defined);
    ids outside ``[0, num_classes)`` are not checked."""
    graph = get_default_graph()
    with graph.name_scope(name or "confusion_matrix"):
        lab = convert_to_tensor(labels)
        pred = convert_to_tensor(predictions)
        w = None if weights is None else convert_to_tensor(weights)
        pred, lab2, w = _remove_squeezable_dimensions(pred, lab, w)
        assert lab2 is not None
        lab = lab2
        for t, what in ((lab, "labels"), (pred, "predictions")):
            if not (t.dtype.is_integer or t.dtype.is_floating):
                raise TypeError(f"confusion_matrix: {what} must be numeric, got {t.dtype.name}")
        if num_classes is None:
            lv, pv = _static_int_values(lab), _static_int_values(pred)
            if lv is None or pv is None:
                raise ValueError(
                    "confusion_matrix needs num_classes in graphc when labels and predictions are not "
                    "constants: the output's shape would depend on the data"
                )
            num_classes = int(max(lv.max(initial=-1), pv.max(initial=-1))) + 1
        if isinstance(num_classes, Tensor):
            raise TypeError("confusion_matrix: num_classes must be a Python int in graphc")
        n = int(num_classes)
        dt = _dt.as_dtype(dtype)
        lab = cast(lab, _dt.int64) if lab.dtype != _dt.int64 else lab
        pred = cast(pred, _dt.int64) if pred.dtype != _dt.int64 else pred
        _check_compatible(pred, lab)
        indices = stack([reshape(lab, [-1]), reshape(pred, [-1])], axis=1)
        if w is None:
            updates = ones_like(reshape(lab, [-1]), dtype=dt)
        else:
            updates = reshape(cast(w, dt) if w.dtype != dt else w, [-1])
        return scatter_nd(indices, updates, constant(np.array([n, n], dtype=np.int64)))


# -- mean IoU ------------------------------------------------------------------------------
def mean_iou(
    labels: Any,
    predictions: Any,
    num_classes: int,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor]:
    """tf.metrics.mean_iou: the mean over classes of ``tp / (tp + fp + fn)`` from a streamed
    float64 confusion matrix (a ``total_confusion_matrix`` variable); classes that never
    occur are left out of the mean, as in TF1."""
    with variable_scope(name, "mean_iou"):
        pred, lab, w = _remove_squeezable_dimensions(
            convert_to_tensor(predictions),
            convert_to_tensor(labels),
            None if weights is None else _as_float(weights),
        )
        assert lab is not None
        n = int(num_classes)
        total = _metric_variable([n, n], _dt.float64, "total_confusion_matrix")
        lab_flat = reshape(lab, [-1])
        pred_flat = reshape(pred, [-1])
        w_flat = None if w is None else reshape(_broadcast_weights(w, cast(lab, _dt.float32)), [-1])
        cm = confusion_matrix(lab_flat, pred_flat, n, dtype=_dt.float64, weights=w_flat)
        update_cm = assign_add(total, cm)
        value = _mean_iou(total.value(), n)
        update_op = _mean_iou(update_cm, n)
    _collect(value, update_op, metrics_collections, updates_collections)
    return value, update_op


def _mean_iou(cm: Tensor, n: int) -> Tensor:
    rows = reduce_sum(cm, axis=0)
    cols = reduce_sum(cm, axis=1)
    diag = reduce_sum(multiply(cm, constant(np.eye(n))), axis=1)
    denom = rows + cols - diag
    present = cast(greater(denom, 0.0), _dt.float32)
    num_valid = reduce_sum(present)
    safe = where(greater(denom, 0.0), denom, ones_like(denom))
    iou = cast(truediv(diag, safe), _dt.float32)
    return _div_no_nan(reduce_sum(multiply(iou, present)), num_valid)
