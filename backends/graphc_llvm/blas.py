"""The BLAS the generated code calls: scipy-openblas32 (LP64 integers), loaded once so its
``scipy_cblas_*gemm`` symbols resolve in loaded object code."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator

from graphc_llvm import jit


@functools.cache
def library() -> str:
    """The path of the BLAS shared library, loaded into the process for the JIT."""
    with _kernel_choice():
        # Importing scipy_openblas32 loads the library (its module keeps a handle): the
        # kernel choice must be in place before.
        import scipy_openblas32  # a dependency of this backend; imported when the backend is used

        path = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library() + ".so")
        if not os.path.exists(path):
            # Other platforms name it differently: the first shared library in the folder.
            names = [
                n for n in os.listdir(scipy_openblas32.get_lib_dir()) if ".so" in n or n.endswith((".dylib", ".dll"))
            ]
            if not names:
                raise RuntimeError("scipy-openblas32 has no shared library")
            path = os.path.join(scipy_openblas32.get_lib_dir(), names[0])
        jit.load_library(path)
    return path


# OpenBLAS picks its kernels by CPU model; for an AVX-512 CPU it does not know (AMD's Zen 4
# and 5 under this build) it falls back to its AVX2 (Haswell) kernels, at well under half
# the speed of its AVX-512 (SkylakeX) ones, which such a CPU runs. The features SkylakeX's
# kernels use.
_SKYLAKEX_FEATURES = ("+avx512f", "+avx512bw", "+avx512dq", "+avx512vl", "+avx512cd")


# How long an idle OpenBLAS thread spins before it sleeps, as log2 of CPU cycles (its
# OPENBLAS_THREAD_TIMEOUT; its own default is 28, about a tenth of a second). Between two
# gemm calls the generated code runs its own kernels on the same cores, so a BLAS thread
# spinning that long takes a core from them: the MLP training step on two threads took
# 2.93 ms with the default and 2.54 ms with 16 (one thread: 4.17 ms either way). 2^16
# cycles is tens of microseconds: long enough for back-to-back gemm calls.
THREAD_TIMEOUT = "16"


@contextlib.contextmanager
def _kernel_choice() -> Iterator[None]:
    """While the BLAS loads (it reads these variables then; they are put back as they were
    afterwards), unless the user set them: ``OPENBLAS_CORETYPE=SKYLAKEX`` for a Zen CPU with
    AVX-512, and ``OPENBLAS_THREAD_TIMEOUT`` (:data:`THREAD_TIMEOUT`)."""
    features = set(jit.host_features().split(","))
    import llvmlite.binding as llvm  # the host's CPU name, as LLVM sees it

    zen = llvm.get_host_cpu_name().startswith("znver")
    settings = {"OPENBLAS_THREAD_TIMEOUT": THREAD_TIMEOUT}
    if zen and all(f in features for f in _SKYLAKEX_FEATURES):
        settings["OPENBLAS_CORETYPE"] = "SKYLAKEX"
    added = [name for name in settings if name not in os.environ]
    for name in added:
        os.environ[name] = settings[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


threads_set = 0  # the thread count last given to the BLAS (0: its own default)


def set_threads(n: int) -> None:
    """The BLAS's own thread count, kept equal to the generated code's (the same CPU
    affinity and ``GRAPHC_NUM_THREADS``): its threads serve every executable's gemm calls."""
    global threads_set
    lib = ctypes.CDLL(library())
    lib.scipy_openblas_set_num_threads(ctypes.c_int(max(1, int(n))))
    threads_set = int(n)


@functools.cache
def identity() -> str:
    import importlib.metadata

    try:
        return "scipy-openblas32 " + importlib.metadata.version("scipy-openblas32")
    except importlib.metadata.PackageNotFoundError:
        return "scipy-openblas32"
