"""Shared pieces for op definitions: building ops (and constants, and converting values to
tensors), axis normalisation, rule helpers, sample makers. Every op module builds on this
one, so it imports no other op module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor, get_default_graph
from graphc.frontend.tensor_shape import as_shape

FLOATS = (_dt.float16, _dt.float32, _dt.float64)
SIGNED_INTS = (_dt.int8, _dt.int16, _dt.int32, _dt.int64)
INTS = (*SIGNED_INTS, _dt.uint8, _dt.uint32, _dt.uint64)
NUMERIC = (*FLOATS, *INTS)


# -- building ops -------------------------------------------------------------
def make_op(
    op_type: str,
    inputs: Sequence[Tensor],
    attrs: dict[str, Any] | None = None,
    name: str | None = None,
) -> Operation:
    graph = inputs[0].graph if inputs else get_default_graph()
    return graph.create_op(op_type, list(inputs), attrs or {}, name=name)


def make(
    op_type: str,
    inputs: Sequence[Tensor],
    attrs: dict[str, Any] | None = None,
    name: str | None = None,
) -> Tensor:
    """Build a single-output op and return its output."""
    return make_op(op_type, inputs, attrs, name).outputs[0]


def constant(
    value: Any, dtype: Any = None, shape: Any = None, name: str = "Const", verify_shape: bool = False
) -> Tensor:
    """tf.constant: a Python float becomes float32, an int int32 (TF1), unless ``dtype`` says."""
    if isinstance(value, Tensor):
        raise TypeError("tf.constant takes a Python or NumPy value, not a Tensor")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.infer_dtype(value)
    if dt.is_string:
        arr = np.asarray(value, dtype=object)
        arr = (
            np.vectorize(lambda s: s.encode() if isinstance(s, str) else s, otypes=[object])(arr)
            if arr.size
            else arr
        )
    else:
        src = np.asarray(value)
        if src.dtype.kind in "fc" and dt.is_integer and np.any(src != np.round(src)):
            raise TypeError(f"Expected {dt.name}, got {value!r} of type {src.dtype.name} instead.")
        if src.dtype.kind in "USO":
            raise TypeError(f"Expected {dt.name}, got {value!r} (strings need dtype tf.string)")
        arr = src.astype(dt.np)
    if shape is not None:
        target = tuple(as_shape(shape).as_list())
        if arr.shape != target:
            if verify_shape:
                raise TypeError(f"Expected Tensor's shape: {target}, got {arr.shape}.")
            if arr.size == 1:
                arr = np.full(target, arr.reshape(()), dtype=arr.dtype)
            elif arr.size == int(np.prod(target)):
                arr = arr.reshape(target)
            else:
                raise TypeError(
                    f"Eager execution of tf.constant with unsupported shape: value has "
                    f"{arr.size} elements, shape is {target} with {int(np.prod(target))} elements."
                )
    arr.setflags(write=False)
    return make_op("Const", [], {"value": arr, "dtype": dt}, name=name).outputs[0]


def convert_to_tensor(
    value: Any, dtype: Any = None, name: str | None = None, preferred_dtype: Any = None
) -> Tensor:
    """TF1's convert_to_tensor: Tensors pass through (dtype checked), Variables read,
    a (nested) list holding tensors is stacked, anything else becomes a constant (of
    ``dtype`` if given)."""
    if hasattr(value, "_as_graph_element") and not isinstance(value, Tensor):
        value = value._as_graph_element()
    if isinstance(value, Tensor):
        if dtype is not None and _dt.as_dtype(dtype) != value.dtype:
            raise ValueError(
                f"Tensor conversion requested dtype {_dt.as_dtype(dtype).name} for Tensor "
                f"with dtype {value.dtype.name}: {value!r}"
            )
        return value
    if isinstance(value, Operation):
        raise TypeError(f"Can't convert Operation {value.name!r} to Tensor")
    if isinstance(value, list | tuple) and any(_contains_tensor(v) for v in value):
        # tf.stack along axis 0 (concat_ops.stack builds the same op).
        parts = [convert_to_tensor(v, dtype) for v in value]
        return make("Pack", parts, {"axis": 0}, name=name or "packed")
    if dtype is None and preferred_dtype is not None:
        try:
            return constant(value, dtype=preferred_dtype, name=name)
        except (TypeError, ValueError):
            pass
    return constant(value, dtype=dtype, name=name)


def _contains_tensor(v: Any) -> bool:
    if is_tensorish(v):
        return True
    if isinstance(v, list | tuple):
        return any(_contains_tensor(x) for x in v)
    return False


def convert_pair(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    """Convert the two operands of a binary op; a Python number takes the other's dtype."""
    if is_tensorish(x):
        x = convert_to_tensor(x)
        y = convert_to_tensor(y, preferred_dtype=x.dtype) if not is_tensorish(y) else convert_to_tensor(y)
    elif is_tensorish(y):
        y = convert_to_tensor(y)
        x = convert_to_tensor(x, preferred_dtype=y.dtype)
    else:
        x = convert_to_tensor(x)
        y = convert_to_tensor(y, preferred_dtype=x.dtype)
    return x, y


def is_tensorish(v: Any) -> bool:
    """A Tensor, or a value that stands for one (a Variable)."""
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element")


def scalar_like(v: float, like: Tensor) -> Tensor:
    """The Python number ``v`` as a constant of ``like``'s dtype."""
    return convert_to_tensor(v, dtype=like.dtype)


def deprecated_argument(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """TF1's deprecated_argument_lookup: a renamed argument, given under at most one of its names."""
    if new is not None and old is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'")
    return new if new is not None else old


# -- axes ------------------------------------------------------------------------------
def normalize_axis(axis: int, rank: int | None, what: str = "axis") -> int:
    """``axis`` in [-rank, rank) as a non-negative int, or ShapeError (a ValueError). A
    scalar has no axis, as in TF1 (``tf.reduce_sum(x, 0)`` of a scalar x is an error).
    With an unknown rank (None) the axis is kept as given; the op's rules normalise it
    once the rank is known."""
    if rank is None:
        return axis
    if not -rank <= axis < rank:
        raise reg.ShapeError(
            f"Invalid {what} {axis} for input with {rank} dimensions (out of range [-{rank}, {rank}))"
        )
    return axis % rank


def normalize_axes(axes: Sequence[int], rank: int | None, what: str = "axis") -> tuple[int, ...]:
    """Distinct axes (ShapeError on a repeated one), sorted and non-negative as
    normalize_axis makes them; with an unknown rank, as given."""
    out = [normalize_axis(a, rank, what) for a in axes]
    for i, a in enumerate(out):
        if a in out[:i]:
            raise reg.ShapeError(f"Invalid {what}s {list(axes)}: duplicate dimension {a}")
    return tuple(out) if rank is None else tuple(sorted(out))


# -- rule helpers ---------------------------------------------------------------
def same_shape(i: int = 0) -> Callable[[reg.InferenceContext], list[reg.Shape]]:
    return lambda ctx: [ctx.shapes[i]]


def same_dtype(i: int = 0) -> Callable[[reg.InferenceContext], list[_dt.DType]]:
    return lambda ctx: [ctx.dtypes[i]]


def check_dtypes(
    ctx: reg.InferenceContext, allowed: Sequence[_dt.DType], which: Sequence[int] | None = None
) -> None:
    for i in which if which is not None else range(len(ctx.dtypes)):
        if ctx.dtypes[i] not in allowed:
            names = ", ".join(d.name for d in allowed)
            raise TypeError(
                f"Value passed to parameter {i} of {ctx.op_type} has DataType "
                f"{ctx.dtypes[i].name} not in list of allowed values: {names}"
            )


def check_same_dtypes(ctx: reg.InferenceContext, which: Sequence[int] | None = None) -> None:
    idx = list(which if which is not None else range(len(ctx.dtypes)))
    if not idx:
        return
    first = ctx.dtypes[idx[0]]
    for i in idx[1:]:
        if ctx.dtypes[i] != first:
            raise TypeError(
                f"Input {i} of {ctx.op_type} has type {ctx.dtypes[i].name} that does not "
                f"match type {first.name} of input {idx[0]}"
            )


def value_shape(ctx: reg.InferenceContext, i: int, what: str) -> reg.Shape:
    """The shape named by input i's (partial) value, or unknown dims of a known rank."""
    v = ctx.value(i)
    if v is not None:
        dims: list[Any] = []
        for d in v.reshape(-1):
            if isinstance(d, int) and d < 0:
                raise reg.ShapeError(f"{what} has a negative dimension {d}")
            dims.append(d)
        return tuple(dims)
    s = ctx.shapes[i]
    if s is None or not isinstance(s[0], int):
        return None
    return tuple(ctx.fresh() for _ in range(s[0]))


def as_int_list(v: Any, what: str) -> list[int]:
    arr = np.asarray(v)
    if arr.dtype.kind not in "iu" and not (arr.dtype == object and all(isinstance(x, int) for x in arr.flat)):
        raise TypeError(f"{what} must be integers, got {v!r}")
    return [int(x) for x in arr.reshape(-1)]


def static_value(t: Any, what: str) -> np.ndarray:
    """A Python/NumPy value, or a Tensor whose value is known when the graph is built."""
    if isinstance(t, Tensor):
        v = t._value
        if v is None or any(x is None for x in v.flat):
            raise TypeError(
                f"{what} must be known when the graph is built (a Python value or a constant); "
                f"got tensor {t.name} whose value is only known at run time"
            )
        return np.array(v.tolist())
    return np.asarray(t)


# -- samples for the registry-wide tests -----------------------------------------
def rand(
    rng: np.random.Generator, shape: Sequence[int], domain: str = "any", dtype: Any = np.float64
) -> np.ndarray:
    """Random test input in a domain where the op is smooth."""
    shape = tuple(shape)
    if domain == "any":
        x = rng.normal(size=shape)
    elif domain == "positive":
        x = rng.uniform(0.5, 2.0, size=shape)
    elif domain == "unit":
        x = rng.uniform(-0.9, 0.9, size=shape)
    elif domain == "nonzero":
        x = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    elif domain == "offgrid":  # away from the kinks of floor/round/abs/relu
        x = rng.integers(-3, 3, size=shape) + rng.uniform(0.2, 0.4, size=shape)
    elif domain == "int":
        return rng.integers(-5, 6, size=shape).astype(dtype if np.dtype(dtype).kind in "iu" else np.int32)
    elif domain == "posint":
        return rng.integers(1, 6, size=shape).astype(dtype if np.dtype(dtype).kind in "iu" else np.int32)
    elif domain == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    else:
        raise ValueError(domain)
    return np.asarray(x, dtype=dtype)
