"""Random ops with TF1's seed rules, on a counter-based generator (Philox).

A random op's k-th run in a session gives the same numbers on every backend and
in every session built from the same seeds. In the IR each random node takes a
second input, the op's run counter, which the session owns and advances.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.kernels import philox
from graphc.ops.common import FLOATS, convert_to_tensor, make, value_shape
from graphc.ops.math_ops import add, multiply, subtract

DEFAULT_GRAPH_SEED = 87654321


def set_random_seed(seed: int | None) -> None:
    """tf.set_random_seed: the graph-level seed of the default graph."""
    get_default_graph().seed = seed


def get_seed(op_seed: int | None) -> tuple[int, int]:
    """TF1's rules: graph seed + op seed; the op counter stands in for a missing op seed;
    with neither, a fresh nondeterministic seed."""
    graph = get_default_graph()
    graph_seed = graph.seed
    if graph_seed is not None:
        if op_seed is None:
            op_seed = graph._last_id
        return int(graph_seed), int(op_seed)
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, int(op_seed)
    a, b = np.frombuffer(os.urandom(8), dtype=np.uint32)
    return int(a), int(b)


def _random_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    return [value_shape(ctx, 0, "shape")]


def _shape_tuple(shape_arr: np.ndarray) -> tuple[int, ...]:
    dims = tuple(int(d) for d in np.asarray(shape_arr).reshape(-1))
    if any(d < 0 for d in dims):
        raise ValueError(f"random shape must be non-negative, got {dims}")
    return dims


def _counter(ins: list[np.ndarray]) -> int:
    # Outside a program (constant folding never folds random ops) the counter is 0.
    return int(ins[1]) if len(ins) > 1 else 0


def _uniform_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    key = philox.key_from_seeds(attrs["seed"], attrs["seed2"])
    shape = _shape_tuple(ins[0])
    dt: _dt.DType = attrs["dtype"]
    if dt.is_integer:
        return [philox.uniform_int(key, _counter(ins), shape, attrs["minval"], attrs["maxval"], dt.np)]
    return [philox.uniform(key, _counter(ins), shape, dt.np)]


def _normal_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    key = philox.key_from_seeds(attrs["seed"], attrs["seed2"])
    return [philox.normal(key, _counter(ins), _shape_tuple(ins[0]), attrs["dtype"].np)]


def _truncated_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    key = philox.key_from_seeds(attrs["seed"], attrs["seed2"])
    return [philox.truncated_normal(key, _counter(ins), _shape_tuple(ins[0]), attrs["dtype"].np)]


def _samples(extra: dict[str, Any]) -> Any:
    def make_samples(rng: np.random.Generator) -> list[reg.Sample]:
        attrs = {"seed": 7, "seed2": 3, **extra}
        return [
            reg.Sample([np.array([2, 3], np.int32), np.array(0, np.uint64)], attrs, grad=False),
            reg.Sample([np.array([4], np.int32), np.array(5, np.uint64)], attrs, grad=False),
        ]

    return make_samples


_NOT_DIFF = reg.NotDifferentiable("random sampling has no gradient")
for _name, _ref, _extra in [
    ("RandomUniform", _uniform_ref, {"dtype": _dt.float32}),
    ("RandomUniformInt", _uniform_ref, {"dtype": _dt.int32, "minval": -3, "maxval": 9}),
    ("RandomStandardNormal", _normal_ref, {"dtype": _dt.float64}),
    ("TruncatedNormal", _truncated_ref, {"dtype": _dt.float32}),
]:
    reg.register(
        reg.OpDef(
            name=_name,
            attrs={
                "dtype": reg.DTYPE,
                "seed": reg.INT,
                "seed2": reg.INT,
                **({"minval": reg.INT, "maxval": reg.INT} if _name == "RandomUniformInt" else {}),
            },
            shape=_random_shape,
            dtype=lambda ctx: [ctx.attrs["dtype"]],
            reference=_ref,
            grad=_NOT_DIFF,
            traits=frozenset({"random", "stateful"}),
            samples=_samples(_extra),
        )
    )


def _shape_tensor(shape: Any) -> Tensor:
    if isinstance(shape, Tensor):
        return shape
    if isinstance(shape, TensorShape):
        shape = shape.as_list()
    return convert_to_tensor(shape, dtype=_dt.int32) if not _has_tensor(shape) else convert_to_tensor(shape)


def _has_tensor(v: Any) -> bool:
    return isinstance(v, list | tuple) and any(isinstance(x, Tensor) for x in v)


def _random_op(
    op_type: str, shape: Any, dtype: Any, seed: int | None, name: str, extra: dict[str, Any] | None = None
) -> Tensor:
    dt = _dt.as_dtype(dtype)
    s1, s2 = get_seed(seed)
    attrs = {"dtype": dt, "seed": s1, "seed2": s2, **(extra or {})}
    return make(op_type, [_shape_tensor(shape)], attrs, name=name)


def random_uniform(
    shape: Any,
    minval: Any = 0,
    maxval: Any = None,
    dtype: Any = _dt.float32,
    seed: int | None = None,
    name: str | None = None,
) -> Tensor:
    """tf.random_uniform: floats in [minval, maxval) (maxval defaults to 1); ints need maxval."""
    dt = _dt.as_dtype(dtype)
    if dt.is_integer:
        if maxval is None:
            raise ValueError(f"Must specify maxval for integer dtype {dt.name}")
        if isinstance(minval, Tensor) or isinstance(maxval, Tensor):
            raise TypeError("integer random_uniform needs Python minval/maxval in graphc")
        if maxval <= minval:
            raise ValueError(f"Need minval < maxval, got {minval} >= {maxval}")
        return _random_op(
            "RandomUniformInt",
            shape,
            dt,
            seed,
            name or "random_uniform",
            {"minval": int(minval), "maxval": int(maxval)},
        )
    if dt not in FLOATS:
        raise TypeError(f"random_uniform: unsupported dtype {dt.name}")
    u = _random_op("RandomUniform", shape, dt, seed, name or "random_uniform")
    if maxval is None:
        maxval = 1
    if _is_python_number(minval) and _is_python_number(maxval) and minval == 0 and maxval == 1:
        return u
    lo = convert_to_tensor(minval, dtype=dt)
    hi = convert_to_tensor(maxval, dtype=dt)
    return add(multiply(u, subtract(hi, lo)), lo)


def _is_python_number(v: Any) -> bool:
    return isinstance(v, int | float | np.number)


def random_normal(
    shape: Any,
    mean: Any = 0.0,
    stddev: Any = 1.0,
    dtype: Any = _dt.float32,
    seed: int | None = None,
    name: str | None = None,
) -> Tensor:
    """tf.random_normal."""
    return _scale(
        _random_op("RandomStandardNormal", shape, dtype, seed, name or "random_normal"), mean, stddev
    )


def truncated_normal(
    shape: Any,
    mean: Any = 0.0,
    stddev: Any = 1.0,
    dtype: Any = _dt.float32,
    seed: int | None = None,
    name: str | None = None,
) -> Tensor:
    """tf.truncated_normal: values beyond two standard deviations are redrawn (here:
    sampled by inverting the truncated CDF, which gives the same distribution)."""
    return _scale(_random_op("TruncatedNormal", shape, dtype, seed, name or "truncated_normal"), mean, stddev)


def _scale(z: Tensor, mean: Any, stddev: Any) -> Tensor:
    if not (_is_python_number(stddev) and stddev == 1):
        z = multiply(z, convert_to_tensor(stddev, dtype=z.dtype))
    if not (_is_python_number(mean) and mean == 0):
        z = add(z, convert_to_tensor(mean, dtype=z.dtype))
    return z
