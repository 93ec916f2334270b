"""Tensor's Python operators (+, -, *, /, //, %, **, @, &, |, ^, unary -, abs, ~, <, <=, >,
>=), installed when this module is imported (graphc's __init__ imports it). They live
above every op module they call, math_ops, compare_ops and linalg_ops; indexing
(``Tensor.__getitem__``) is installed by slicing_ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor
from graphc.ops import compare_ops, linalg_ops, math_ops
from graphc.ops.common import convert_pair


def _logical(f_bool: Callable[..., Tensor], symbol: str) -> Callable[..., Tensor]:
    def op(x: Any, y: Any, name: str | None = None) -> Tensor:
        a, b = convert_pair(x, y)
        if a.dtype != _dt.bool_:
            raise TypeError(f"operator {symbol} needs bool tensors, got {a.dtype.name}")
        return f_bool(a, b, name=name)

    return op


def _binary(fn: Callable[..., Tensor], name: str | None, reflected: bool = False) -> Callable[..., Any]:
    if reflected:
        return lambda self, other: fn(other, self, name=name)
    return lambda self, other: fn(self, other, name=name)


def _install() -> None:
    # Operators name their ops in lower case ("add", "mul", ...), tf.add & co. after the
    # op type ("Add", "Mul", ...), as TF1 does.
    ops = {
        "add": math_ops.add,
        "sub": math_ops.subtract,
        "mul": math_ops.multiply,
        "truediv": math_ops.truediv,
        "floordiv": math_ops.floordiv,
        "mod": math_ops.floormod,
        "pow": math_ops.pow,
        "matmul": linalg_ops.matmul,
        "and": _logical(compare_ops.logical_and, "&"),
        "or": _logical(compare_ops.logical_or, "|"),
        "xor": _logical(compare_ops.logical_xor, "^"),
    }
    lower_case = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"}
    for key, fn in ops.items():
        name = key if key in lower_case else None
        setattr(Tensor, f"__{key}__", _binary(fn, name))
        setattr(Tensor, f"__r{key}__", _binary(fn, name, reflected=True))
    Tensor.__neg__ = lambda self: math_ops.negative(self)  # type: ignore[method-assign]
    Tensor.__abs__ = lambda self: math_ops.abs(self)  # type: ignore[method-assign]
    Tensor.__invert__ = lambda self: compare_ops.logical_not(self)  # type: ignore[method-assign]
    Tensor.__lt__ = lambda self, o: compare_ops.less(self, o)  # type: ignore[method-assign,assignment]
    Tensor.__le__ = lambda self, o: compare_ops.less_equal(self, o)  # type: ignore[method-assign,assignment]
    Tensor.__gt__ = lambda self, o: compare_ops.greater(self, o)  # type: ignore[method-assign,assignment]
    Tensor.__ge__ = lambda self, o: compare_ops.greater_equal(self, o)  # type: ignore[method-assign,assignment]


_install()
