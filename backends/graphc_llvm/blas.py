"""The BLAS the generated code calls: scipy-openblas32 (LP64 integers), loaded once so its
``scipy_cblas_*gemm`` symbols resolve in loaded object code."""

from __future__ import annotations

import ctypes
import functools
import os

from graphc_llvm import jit


@functools.cache
def library() -> str:
    """The path of the BLAS shared library, loaded into the process for the JIT."""
    import scipy_openblas32  # a dependency of this backend; imported when the backend is used

    path = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library() + ".so")
    if not os.path.exists(path):
        # Other platforms name it differently: the first shared library in the folder.
        names = [n for n in os.listdir(scipy_openblas32.get_lib_dir()) if ".so" in n or n.endswith((".dylib", ".dll"))]
        if not names:
            raise RuntimeError("scipy-openblas32 has no shared library")
        path = os.path.join(scipy_openblas32.get_lib_dir(), names[0])
    jit.load_library(path)
    return path


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
