"""TopKV2: the k largest entries of each row (last axis) and their indices, and its TF1 API
(tf.nn.top_k, tf.math.top_k). ``k`` is an attr (TF passes it as a tensor input)."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops.array_common import _shape_arg, _static_dims, _static_int
from graphc.ops.common import NUMERIC, check_dtypes, convert_to_tensor, make, make_op, rand
from graphc.ops.core_ops import size
from graphc.ops.fill_ops import ones_like, zeros_like
from graphc.ops.layout_ops import reshape
from graphc.ops.math_ops import add, multiply
from graphc.ops.scan_ops import cumsum


def _top_k_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s, k = ctx.shapes[0], ctx.attrs["k"]
    if k < 0:
        raise reg.ShapeError(f"k must be non-negative, got {k}")
    if s is None:
        return [None, None]
    if not s:
        raise reg.ShapeError("top_k needs an input of rank >= 1, got a scalar")
    if isinstance(s[-1], int) and s[-1] < k:
        raise reg.ShapeError(f"input must have at least k={k} columns, got shape {reg.format_shape(s)}")
    out = (*s[:-1], k)
    return [out, out]


def _top_k_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, NUMERIC)
    return [ctx.dtypes[0], _dt.int32]


def _top_k_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, k = ins[0], attrs["k"]
    n = x.shape[-1]
    # Descending order with ties broken by the lower index (TF's order): a stable ascending
    # sort of the row read backwards, read backwards again. No negation, so the lowest
    # integer cannot overflow. NaN sorts above everything, as in np.sort.
    ascending = np.argsort(x[..., ::-1], axis=-1, kind="stable")
    indices = (n - 1 - ascending[..., ::-1][..., :k]).astype(np.int32)
    values = np.take_along_axis(x, indices.astype(np.intp), axis=-1)
    return [np.ascontiguousarray(values, dtype=x.dtype), indices]


def _top_k_grad(op: Operation, g_values: Tensor | None, g_indices: Tensor | None) -> list[Any]:
    """g scattered into the positions the values came from (the indices have no gradient).

    Rows are flattened so that one ScatterAddDense along axis 0 serves every rank and batch
    size; built from differentiable ops (its own gradient gathers), so hessians work."""
    if g_values is None:
        return [None]
    x, indices = op.inputs[0], op.outputs[1]
    k = op.attrs["k"]
    if k == 0:
        return [zeros_like(x)]
    dims = _static_dims(x)
    if dims is not None:
        n: Any = dims[-1]
        total: Any = np.array([int(np.prod(dims, dtype=np.int64))], np.int32)
    else:
        n = _shape_arg(x)[-1]
        total = reshape(size(x), [1])
    rows = reshape(indices, [-1, k])
    # Row numbers 0..R-1 as a column, built without knowing R when the graph is built.
    row_ids = cumsum(_ones_column(rows), axis=0, exclusive=True)
    flat_indices = reshape(add(rows, multiply(row_ids, n)), [-1])
    flat_g = reshape(g_values, [-1])
    scattered = make("ScatterAddDense", [flat_g, flat_indices, convert_to_tensor(total)], {"axis": 0})
    return [reshape(scattered, _shape_arg(x))]


def _ones_column(rows: Tensor) -> Tensor:
    return ones_like(rows[:, :1])


def _top_k_samples(rng: np.random.Generator) -> list[reg.Sample]:
    ties = np.array([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2], [-5, 7, -5, 7, 0]], dtype=np.int32)
    return [
        reg.Sample([rand(rng, (6,))], {"k": 2, "sorted": True}),
        reg.Sample([rand(rng, (3, 6))], {"k": 3, "sorted": True}),
        reg.Sample([rand(rng, (2, 3, 4))], {"k": 4, "sorted": True}),
        reg.Sample([rand(rng, (3, 5))], {"k": 1, "sorted": False}),
        reg.Sample([rand(rng, (3, 4))], {"k": 0, "sorted": True}),
        reg.Sample([ties], {"k": 3, "sorted": True}, grad=False),
        # Ties are not differentiable (a perturbation reorders them): values and indices only.
        reg.Sample(
            [np.array([[1.0, 2.0, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0]])], {"k": 2, "sorted": True}, grad=False
        ),
        reg.Sample(
            [np.array([np.iinfo(np.int64).min, 3, -1], np.int64)], {"k": 3, "sorted": True}, grad=False
        ),
    ]


reg.register(
    reg.OpDef(
        name="TopKV2",
        attrs={"k": reg.INT, "sorted": reg.BOOL},
        shape=_top_k_shape,
        dtype=_top_k_dtype,
        reference=_top_k_ref,
        grad=_top_k_grad,
        num_outputs=2,
        samples=_top_k_samples,
        doc="(values, int32 indices) of the k largest entries along the last axis, largest first, "
        "ties by lower index; the input needs at least k entries per row.",
    )
)


def top_k(input: Any, k: Any = 1, sorted: bool = True, name: str | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """tf.nn.top_k (TF1): (values, indices) of the k largest entries of each last-axis row;
    ties give the lower index first. ``k`` must be known when the graph is built (TF also
    takes a run-time tensor); with sorted=False graphc still returns them sorted."""
    x = convert_to_tensor(input)
    if x.shape.ndims == 0:
        raise ValueError(f"top_k needs a tensor of rank >= 1, got the scalar {x.name}")
    kv = _static_int(k, "k of top_k")
    op = make_op("TopKV2", [x], {"k": kv, "sorted": bool(sorted)}, name=name or "TopKV2")
    return op.outputs[0], op.outputs[1]
