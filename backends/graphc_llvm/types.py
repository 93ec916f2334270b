"""NumPy dtypes as LLVM types, and how elements are loaded and stored.

A value in a kernel has its dtype's *register* type: i1 for bool, iN for integers (signed
or not: the operations choose), half/float/double for floats. In memory a bool is one
byte (NumPy's layout), so loads and stores convert.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = I8.as_pointer()
F16 = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()
VOID = ir.VoidType()

_FLOATS = {2: F16, 4: F32, 8: F64}

# Dtypes a kernel can hold; anything else (strings, complex) is not compiled natively.
NATIVE_KINDS = "biuf"


def is_native(dtype: np.dtype) -> bool:
    dtype = np.dtype(dtype)
    return dtype.kind in NATIVE_KINDS and (dtype.kind != "f" or dtype.itemsize in _FLOATS)


def reg_type(dtype: np.dtype) -> ir.Type:
    """The type a kernel computes an element of ``dtype`` in."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return I1
    if dtype.kind in "iu":
        return ir.IntType(8 * dtype.itemsize)
    if dtype.kind == "f":
        return _FLOATS[dtype.itemsize]
    raise TypeError(f"no native type for {dtype}")


def mem_type(dtype: np.dtype) -> ir.Type:
    """The type of an element in memory."""
    dtype = np.dtype(dtype)
    return I8 if dtype.kind == "b" else reg_type(dtype)


def load(b: ir.IRBuilder, ptr: ir.Value, dtype: np.dtype) -> ir.Value:
    v = b.load(ptr)
    if np.dtype(dtype).kind == "b":
        return b.icmp_unsigned("!=", v, I8(0))
    return v


def store(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, dtype: np.dtype) -> None:
    if np.dtype(dtype).kind == "b":
        value = b.zext(value, I8)
    b.store(value, ptr)


def constant(dtype: np.dtype, value: object) -> ir.Constant:
    """An LLVM constant of ``dtype``'s register type (floats keep their exact bits)."""
    dtype = np.dtype(dtype)
    ty = reg_type(dtype)
    if dtype.kind == "b":
        return ir.Constant(ty, int(bool(value)))
    if dtype.kind in "iu":
        return ir.Constant(ty, int(np.asarray(value).astype(dtype)) & ((1 << ty.width) - 1))
    # Exact: the value as a float64 holds every float16/float32 exactly, and llvmlite
    # prints a double constant as its hex bits.
    return ir.Constant(ty, float(np.asarray(value, dtype=dtype)))
