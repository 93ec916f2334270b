"""Preprocessing of NumPy data before it is fed: standardisation, min-max scaling, one-hot.

Each scaler computes its statistics from the data it is given, or takes them (computed
on a training set, say) to apply them to other data: pass ``return_stats=True`` to get
them. Features whose spread is zero are left unscaled (divided by 1), as scikit-learn's
``StandardScaler`` and ``MinMaxScaler`` do, so a constant feature gives no NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["normalize_min_max", "one_hot", "standardize"]


def _floating(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(f"expected numeric data, got {arr.dtype}")


def standardize(
    x: Any,
    axis: int | tuple[int, ...] | None = 0,
    mean: Any = None,
    std: Any = None,
    return_stats: bool = False,
) -> Any:
    """``(x - mean) / std`` with ``mean`` and (population) ``std`` over ``axis`` (default:
    per feature, over the rows; None: over everything), or the given ones. A zero std is
    replaced by 1. Integer data become float64, float data keep their dtype.

    Returns the scaled array, or ``(scaled, mean, std)`` with ``return_stats`` (the
    statistics with ``axis`` kept as size-1 dims, ready to apply to other data)."""
    arr = _floating(x)
    m = arr.mean(axis=axis, keepdims=True) if mean is None else np.asarray(mean, dtype=arr.dtype)
    s = arr.std(axis=axis, keepdims=True) if std is None else np.asarray(std, dtype=arr.dtype)
    if np.any(s < 0):
        raise ValueError("std must be non-negative")
    safe = np.where(s == 0, np.ones_like(s), s)
    out = ((arr - m) / safe).astype(arr.dtype, copy=False)
    return (out, m, s) if return_stats else out


def normalize_min_max(
    x: Any,
    feature_range: tuple[float, float] = (0.0, 1.0),
    axis: int | tuple[int, ...] | None = 0,
    data_min: Any = None,
    data_max: Any = None,
    return_stats: bool = False,
) -> Any:
    """Map ``[data_min, data_max]`` (over ``axis``, default per feature; or the given ones)
    linearly onto ``feature_range``; a feature with ``data_min == data_max`` maps to
    ``feature_range[0]``. Values outside the given range land outside ``feature_range``
    (no clipping, as scikit-learn's MinMaxScaler).

    Returns the scaled array, or ``(scaled, data_min, data_max)`` with ``return_stats``."""
    lo, hi = (float(v) for v in feature_range)
    if not lo < hi:
        raise ValueError(f"feature_range must be increasing, got {feature_range}")
    arr = _floating(x)
    dmin = arr.min(axis=axis, keepdims=True) if data_min is None else np.asarray(data_min, dtype=arr.dtype)
    dmax = arr.max(axis=axis, keepdims=True) if data_max is None else np.asarray(data_max, dtype=arr.dtype)
    span = dmax - dmin
    if np.any(span < 0):
        raise ValueError("data_max must be >= data_min")
    safe = np.where(span == 0, np.ones_like(span), span)
    out = ((arr - dmin) / safe * (hi - lo) + lo).astype(arr.dtype, copy=False)
    return (out, dmin, dmax) if return_stats else out


def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """One-hot rows for integer class ids: shape ``labels.shape + (num_classes,)`` (default:
    ``max(labels) + 1``). Ids must be integers (integer-valued floats are accepted) in
    ``[0, num_classes)``; anything else raises ValueError."""
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("one_hot: labels must be integer class ids")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"one_hot: labels must be integer class ids, got {arr.dtype}")
    if num_classes is None:
        num_classes = int(arr.max()) + 1 if arr.size else 0
    n = int(num_classes)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"one_hot: labels must be in [0, {n}), got values in [{arr.min()}, {arr.max()}]")
    out = np.zeros(arr.shape + (n,), dtype=dtype)
    np.put_along_axis(out, arr[..., None].astype(np.intp), 1, axis=-1)
    return out
