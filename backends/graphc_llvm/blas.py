"""The BLAS the generated code calls: scipy-openblas32 (LP64 integers), loaded once so its
``scipy_cblas_*gemm`` symbols resolve in loaded object code."""

from __future__ import annotations

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


@functools.cache
def identity() -> str:
    import importlib.metadata

    try:
        return "scipy-openblas32 " + importlib.metadata.version("scipy-openblas32")
    except importlib.metadata.PackageNotFoundError:
        return "scipy-openblas32"
