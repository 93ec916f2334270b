"""graphc's LLVM CPU backend: fused, vectorised loop kernels generated with llvmlite, BLAS
for matrix products, the whole program one native call per run."""

from __future__ import annotations

from typing import Any


def backend() -> Any:
    """Entry point for the ``graphc.backends`` group."""
    # Imported here so that discovering the backend costs nothing until it is used.
    from graphc_llvm.native import LLVMBackend

    return LLVMBackend()
