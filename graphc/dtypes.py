"""Data types, with TF1's names and conversions.

A Python float becomes float32 and a Python int int32 (TF1's defaults, not
NumPy's float64/int64); the string "float" means float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class DType:
    """A tensor element type. Compare with ``==``; ``as_numpy_dtype`` gives NumPy's."""

    __slots__ = ("name", "_np")

    def __init__(self, name: str, np_dtype: Any) -> None:
        self.name = name
        self._np = np.dtype(np_dtype) if np_dtype is not None else None

    @property
    def as_numpy_dtype(self) -> type:
        return object if self._np is None else self._np.type

    @property
    def np(self) -> np.dtype:
        return np.dtype(object) if self._np is None else self._np

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def is_floating(self) -> bool:
        return self._np is not None and self._np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self._np is not None and self._np.kind in "iu"

    @property
    def is_unsigned(self) -> bool:
        return self._np is not None and self._np.kind == "u"

    @property
    def is_bool(self) -> bool:
        return self._np is not None and self._np.kind == "b"

    @property
    def is_string(self) -> bool:
        return self._np is None

    @property
    def is_numeric(self) -> bool:
        return self.is_floating or self.is_integer

    @property
    def size(self) -> int:
        return 8 if self._np is None else self._np.itemsize

    @property
    def min(self) -> Any:
        if self.is_floating:
            return np.finfo(self._np).min
        if self.is_integer:
            return np.iinfo(self._np).min
        raise TypeError(f"{self.name} has no minimum")

    @property
    def max(self) -> Any:
        if self.is_floating:
            return np.finfo(self._np).max
        if self.is_integer:
            return np.iinfo(self._np).max
        raise TypeError(f"{self.name} has no maximum")

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self.name == other.name
        if other is None:
            return False  # np.dtype(None) is float64: None names no dtype here
        try:
            return self.name == as_dtype(other).name  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> tuple:
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
uint32 = DType("uint32", np.uint32)
uint64 = DType("uint64", np.uint64)
bool_ = DType("bool", np.bool_)
string = DType("string", None)
half = float16
double = float64

ALL: tuple[DType, ...] = (
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint32,
    uint64,
    bool_,
    string,
)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "int": int32, "str": string})
_BY_NP = {d.np: d for d in ALL if not d.is_string}


def as_dtype(value: Any) -> DType:
    """Convert a DType, a name ("float32", "float"), a NumPy dtype or a Python type."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        if value in _BY_NAME:
            return _BY_NAME[value]
        raise TypeError(f"Unknown dtype name {value!r}; expected one of {sorted(_BY_NAME)}")
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    if value is str or value is bytes:
        return string
    try:
        npd = np.dtype(value)
    except TypeError as exc:
        raise TypeError(f"Cannot convert {value!r} to a graphc dtype") from exc
    if npd.kind in "USO":
        return string
    if npd in _BY_NP:
        return _BY_NP[npd]
    raise TypeError(f"Unsupported dtype {npd}")


def infer_dtype(value: Any) -> DType:
    """The dtype TF1 gives a Python or NumPy value turned into a constant."""
    if isinstance(value, np.ndarray | np.generic):
        return as_dtype(value.dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return float32
    if arr.dtype.kind in "iu":
        return int32 if np.all((arr >= -(2**31)) & (arr < 2**31)) else int64
    return as_dtype(arr.dtype)
