"""Helpers several test files share: the backends to run on, a session on one of them,
and central differences (the independent reference for gradients)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import graphc as tf
from graphc.runtime.backend import available_backends

# The NumPy reference backend, and the LLVM backend where it can run.
BACKENDS = ["numpy"] + (["llvm"] if "llvm" in available_backends() else [])


def session(backend: str = "numpy") -> tf.Session:
    """A session on ``backend`` (the default session's backend for "numpy")."""
    return tf.Session() if backend == "numpy" else tf.Session(backend=backend)


def central(f: Callable[[Any], float], x: Any, eps: float = 1e-6) -> Any:
    """The central difference ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for each
    element ``i`` of the array ``x``; for a Python number, the derivative itself."""
    if not isinstance(x, np.ndarray):
        return (f(x + eps) - f(x - eps)) / (2 * eps)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g
