"""Philox-4x32-10, a counter-based random generator, in NumPy.

Counter-based means element ``i`` of a random tensor is a pure function of
(key, counter, i): every backend can compute it in parallel and get the same
bits, and a run's random numbers depend only on the seeds and how many times
the op has run before in this session (TF1's behaviour for seeded ops).
"""

from __future__ import annotations

import numpy as np

from graphc.kernels.special import erfinv

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def philox(key: tuple[int, int], counter: int, n: int) -> np.ndarray:
    """Four uint32 words for each of ``n`` elements: counter block (i, 0, lo, hi)."""
    idx = np.arange(n, dtype=np.uint64)
    c0 = idx & _MASK
    c1 = idx >> _S32
    c2 = np.full(n, np.uint64(counter) & _MASK, dtype=np.uint64)
    c3 = np.full(n, np.uint64(counter) >> _S32, dtype=np.uint64)
    k0 = np.uint64(key[0] & 0xFFFFFFFF)
    k1 = np.uint64(key[1] & 0xFFFFFFFF)
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0, lo0 = p0 >> _S32, p0 & _MASK
        hi1, lo1 = p1 >> _S32, p1 & _MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return np.stack([c0, c1, c2, c3]).astype(np.uint32)


def key_from_seeds(seed: int, seed2: int) -> tuple[int, int]:
    """Fold two 64-bit seeds into Philox's 2x32-bit key."""
    a = (seed ^ (seed >> 32) ^ 0x5DEECE66) & 0xFFFFFFFF
    b = (seed2 ^ (seed2 >> 32) ^ 0x2545F491) & 0xFFFFFFFF
    return a, b


def uniform(key: tuple[int, int], counter: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uniform [0, 1) with the float type's full mantissa resolution."""
    n = int(np.prod(shape, dtype=np.int64))
    w = philox(key, counter, n).astype(np.uint64)
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        u = ((w[0] << np.uint64(21)) ^ (w[1] >> np.uint64(11))).astype(np.float64) * 2.0**-53
    elif dtype == np.float16:
        u = (w[0] >> np.uint64(21)).astype(np.float64) * 2.0**-11
    else:
        u = (w[0] >> np.uint64(8)).astype(np.float64) * 2.0**-24
    return u.astype(dtype).reshape(shape)


def uniform_int(
    key: tuple[int, int], counter: int, shape: tuple[int, ...], lo: int, hi: int, dtype: np.dtype
) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    w = philox(key, counter, n).astype(np.uint64)
    r = (w[0] << np.uint64(32)) | w[1]
    span = np.uint64(hi - lo)
    return (np.int64(lo) + (r % span).astype(np.int64)).astype(dtype).reshape(shape)


def normal(key: tuple[int, int], counter: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal by Box-Muller on words 0 and 1 (computed in float64)."""
    n = int(np.prod(shape, dtype=np.int64))
    w = philox(key, counter, n).astype(np.float64)
    u1 = (w[0] + 1.0) * 2.0**-32  # (0, 1]: log is finite
    u2 = w[1] * 2.0**-32
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(dtype).reshape(shape)


_PHI_LO = 0.022750131948179195  # standard normal CDF at -2
_PHI_HI = 0.9772498680518208  # at +2


def truncated_normal(
    key: tuple[int, int], counter: int, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """Normal truncated to [-2, 2] by inverting the CDF (no data-dependent resampling)."""
    n = int(np.prod(shape, dtype=np.int64))
    w = philox(key, counter, n).astype(np.float64)
    u = (w[2] + 0.5) * 2.0**-32
    p = _PHI_LO + u * (_PHI_HI - _PHI_LO)
    z = np.sqrt(2.0) * erfinv(2.0 * p - 1.0)
    return np.clip(z, -2.0, 2.0).astype(dtype).reshape(shape)
