"""Special functions with NumPy only (no SciPy at run time)."""

from __future__ import annotations

import math

import numpy as np

_erf_vec = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, to double precision (math.erf), keeping x's float dtype."""
    x = np.asarray(x)
    out = _erf_vec(x.astype(np.float64)) if x.size else np.zeros(x.shape)
    return out.astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)


def erfinv(y: np.ndarray) -> np.ndarray:
    """Inverse error function: a rational initial guess refined by Newton steps."""
    y = np.asarray(y, dtype=np.float64)
    # Initial guess from Winitzki's approximation, then Newton on erf(x) - y.
    a = 0.147
    ln = np.log1p(-y * y)
    t = 2.0 / (math.pi * a) + ln / 2.0
    x = np.sign(y) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    for _ in range(3):
        err = erf(x) - y
        x = x - err / (2.0 / math.sqrt(math.pi) * np.exp(-x * x))
    return x
