"""The benchmark suite's measuring machinery: thread limits, the interleaved timing loop,
the reference BLAS (scipy-openblas32's ``cblas_sgemm`` through ctypes) and the copy
bandwidth probe.

Nothing here knows about graphc: an implementation is a zero-argument callable that does
one unit of work (one training step, one forward pass, ...) and returns its result, with
any asynchronous work (JAX) finished before it returns.
"""

from __future__ import annotations

import ctypes
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# -- threads --------------------------------------------------------------------------


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that limit every BLAS and XLA to ``threads`` threads.

    They must be in the environment before a library starts its thread pool, so the suite
    sets them in its own process before importing any peer and passes them to every
    subprocess; OpenBLAS libraries that are already loaded are limited at run time too
    (``limit_loaded_blas``)."""
    env = {
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        # graphc's LLVM backend splits large loop nests over this many threads.
        "GRAPHC_NUM_THREADS": str(threads),
    }
    if threads == 1:
        # XLA's CPU client runs its own Eigen pool; these flags make it run on the calling
        # thread only.
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    # With more threads XLA keeps its Eigen pool, which has a thread per core; a bare
    # "intra_op_parallelism_threads=N" (no leading "--") aborts XLA's flag parser.
    return env


def apply_thread_env(threads: int) -> None:
    """Put ``thread_env(threads)`` into this process's environment (keeping any XLA flags
    the user set besides ours)."""
    for key, value in thread_env(threads).items():
        if key == "XLA_FLAGS" and os.environ.get("XLA_FLAGS"):
            value = os.environ["XLA_FLAGS"] + " " + value
        os.environ[key] = value


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS builds mapped into this process (NumPy's bundled one, and
    scipy-openblas32 once something loaded it), read from /proc/self/maps (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line and ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


# OpenBLAS renames its entry points per build (scipy-openblas64 suffixes ``64_``).
_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads",
)


def limit_loaded_blas(threads: int) -> dict[str, int]:
    """Set every loaded OpenBLAS to ``threads`` threads; return each library's count as it
    reports it afterwards (file name -> threads)."""
    counts: dict[str, int] = {}
    for path in _loaded_openblas():
        lib = ctypes.CDLL(path)  # already mapped: dlopen returns the same instance
        for name in _SETTERS:
            if hasattr(lib, name):
                getattr(lib, name)(ctypes.c_int(threads))
                break
        for name in _GETTERS:
            if hasattr(lib, name):
                counts[os.path.basename(path)] = int(getattr(lib, name)())
                break
    return counts


# -- the reference BLAS -----------------------------------------------------------------

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class Sgemm:
    """``C = op(A) @ op(B)`` in float32 through scipy-openblas32's ``scipy_cblas_sgemm``,
    the BLAS graphc's LLVM backend links, called through ctypes on preallocated arrays."""

    def __init__(self) -> None:
        import scipy_openblas32  # only the matmul reference needs it

        lib_dir = scipy_openblas32.get_lib_dir()
        names = sorted(n for n in os.listdir(lib_dir) if n.endswith(".so") or ".so." in n)
        if not names:
            raise RuntimeError(f"no shared library in {lib_dir}")
        self.path = os.path.join(lib_dir, names[0])
        self.lib = ctypes.CDLL(self.path)
        fn = self.lib.scipy_cblas_sgemm
        i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
        fn.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
        fn.restype = None
        self.fn = fn

    def bind(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, ta: bool, tb: bool) -> Callable[[], None]:
        """A zero-argument call computing ``c[...] = op(a) @ op(b)`` (C-contiguous float32
        arrays; ``ta``/``tb`` transpose ``a``/``b``). Arguments are converted once, so a
        call costs the GEMM and one ctypes call."""
        for arr in (a, b, c):
            assert arr.dtype == np.float32 and arr.flags.c_contiguous
        m, k = (a.shape[1], a.shape[0]) if ta else a.shape
        k2, n = (b.shape[1], b.shape[0]) if tb else b.shape
        assert k == k2 and c.shape == (m, n), (a.shape, b.shape, c.shape, ta, tb)
        args = (
            _ROW_MAJOR,
            _TRANS if ta else _NO_TRANS,
            _TRANS if tb else _NO_TRANS,
            m,
            n,
            k,
            1.0,
            a.ctypes.data,
            a.shape[1],
            b.ctypes.data,
            b.shape[1],
            0.0,
            c.ctypes.data,
            c.shape[1],
        )
        fn = self.fn
        return lambda: fn(*args)

    def threads(self) -> int:
        return int(self.lib.scipy_openblas_get_num_threads())

    def set_threads(self, threads: int) -> None:
        self.lib.scipy_openblas_set_num_threads(ctypes.c_int(threads))


# -- copy bandwidth ---------------------------------------------------------------------


def copy_bandwidth(nbytes: int = 64 << 20, repeats: int = 9) -> tuple[float, float]:
    """The machine's streaming bandwidth: the median time of ``np.copyto`` between two
    ``nbytes`` arrays (far larger than the caches), and bytes read + written per second."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in before timing
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return med, 2 * nbytes / med


# -- the interleaved timing loop --------------------------------------------------------


@dataclass
class Impl:
    """One implementation of a case: ``call()`` does one unit of work; ``reference`` marks
    a row that is not the case's computation (the matmuls alone, the copy) and so has no
    ratios and no value check; ``note`` says how it was called (make_callable, run, ...)."""

    name: str
    call: Callable[[], Any] | None = None
    error: str | None = None
    note: str = ""
    reference: bool = False
    samples: list[float] = field(default_factory=list)
    inner: int = 1
    check: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


# The suite's own records live here rather than in suite.py: `graphc bench` loads suite.py
# by path, and dataclasses need their defining module to be importable.
@dataclass
class Config:
    """What to run and how long: sizes shrink and repeats drop with ``--quick``."""

    quick: bool
    repeats: int
    warmup: int
    sample_s: float
    threads: int
    backends: list[str]
    peers: dict[str, Any] = field(default_factory=dict)  # name -> module, or the import error text
    sizes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """One row group of the table: a case's name, its implementations, and what it fed."""

    name: str
    impls: list[Impl]
    info: dict[str, Any] = field(default_factory=dict)


def describe(exc: BaseException) -> str:
    """One line for a table cell: the exception's type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def measure(impls: list[Impl], repeats: int, warmup: int, sample_s: float) -> None:
    """Time every working implementation, interleaved: each repeat times one sample of each
    (``inner`` calls, chosen so a sample lasts about ``sample_s``) and the order rotates
    by one every repeat (A B C, B C A, ...), so drift and noise fall on all alike.
    Per-call medians land in ``impl.samples``; an implementation that raises is dropped
    with its error."""
    live = [im for im in impls if im.call is not None and im.error is None]
    for im in live:
        try:
            for _ in range(warmup):
                im.call()
            t0 = time.perf_counter()
            im.call()
            once = time.perf_counter() - t0
            im.inner = max(1, min(100_000, math.ceil(sample_s / max(once, 1e-7))))
        except Exception as exc:  # noqa: BLE001 - a failing case is reported, not fatal
            im.error = describe(exc)
    live = [im for im in live if im.error is None]
    cpu: dict[str, float] = {}
    busy: dict[str, float] = {}
    for r in range(repeats):
        k = r % len(live) if live else 0
        for im in live[k:] + live[:k]:
            if im.error is not None:
                continue
            call, n = im.call, im.inner
            try:
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(n):
                    call()
                wall = time.perf_counter() - t0
                im.samples.append(wall / n)
                # CPU time of all this process's threads over wall time: the threads the
                # implementation really kept busy (recorded in the JSON as a check on the limits).
                cpu[im.name] = cpu.get(im.name, 0.0) + time.process_time() - c0
                busy[im.name] = busy.get(im.name, 0.0) + wall
            except Exception as exc:  # noqa: BLE001
                im.error = describe(exc)
                im.samples.clear()
    for im in live:
        if im.samples and busy.get(im.name):
            im.extra["cpu_per_wall"] = round(cpu[im.name] / busy[im.name], 2)


def compare(value: Any, ref: Any, rtol: float, atol: float) -> str:
    """``"ok"`` when every array of ``value`` is within tolerance of ``ref`` (same nesting
    of tuples/lists), else the largest error found."""
    vs = _leaves(value)
    rs = _leaves(ref)
    if len(vs) != len(rs):
        return f"MISMATCH ({len(vs)} outputs, expected {len(rs)})"
    worst: float | None = None
    for v, r in zip(vs, rs):
        if v.shape != r.shape:
            return f"MISMATCH shape {v.shape} vs {r.shape}"
        err = np.abs(v.astype(np.float64) - r.astype(np.float64))
        bound = atol + rtol * np.abs(r.astype(np.float64))
        bad = ~(err <= bound)  # NaN compares False, so a NaN is a mismatch
        if bad.any():
            e = err[bad]
            e = float(np.max(e)) if not np.isnan(e).any() else math.nan
            worst = e if worst is None or math.isnan(e) else max(worst, e)
    return "ok" if worst is None else f"MISMATCH max err {worst:.2g}"


def _leaves(x: Any) -> list[np.ndarray]:
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [np.asarray(x)]
