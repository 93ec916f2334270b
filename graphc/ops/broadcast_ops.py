"""The broadcasting pair BroadcastTo / SumToShape, which gradients use to undo broadcasts,
and unbroadcast. graphc.ops.math_ops re-exports the API functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops import build, core_ops
from graphc.ops.common import convert_to_tensor, make, rand, value_shape


def _broadcast_to_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    target = value_shape(ctx, 1, "shape")
    if target is None or ctx.shapes[0] is None:
        return [target]
    if len(ctx.shapes[0]) > len(target):
        raise reg.ShapeError(f"cannot broadcast a rank-{len(ctx.shapes[0])} tensor to rank {len(target)}")
    for d_in, d_out in zip(reversed(ctx.shapes[0]), reversed(target), strict=False):
        if d_in != 1:
            ctx.equal(d_in, d_out, "broadcast dimensions")
    return [target]


def _broadcast_to_grad(op: Operation, g: Tensor) -> list[Any]:
    return [sum_to_shape(g, core_ops.shape(op.inputs[0])), None]


def _sum_to_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    return [_sum_to(ins[0], tuple(int(d) for d in ins[1]))]


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1
    )
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape(shape).astype(g.dtype, copy=False)


def _sum_to_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    return [value_shape(ctx, 1, "shape")]


def _sum_to_grad(op: Operation, g: Tensor) -> list[Any]:
    return [broadcast_to(g, core_ops.shape(op.inputs[0])), None]


def _shape_samples(in_shape: tuple[int, ...], to: tuple[int, ...], reverse: bool) -> reg.Sample:
    rng = np.random.default_rng(0)
    x = rand(rng, to if reverse else in_shape)
    shp = np.array(in_shape if reverse else to, dtype=np.int32)
    return reg.Sample([x, shp], wrt=(0,))


reg.register(
    reg.OpDef(
        name="BroadcastTo",
        attrs={},
        shape=_broadcast_to_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [np.broadcast_to(ins[0], tuple(int(d) for d in ins[1])).copy()],
        grad=_broadcast_to_grad,
        samples=lambda rng: [_shape_samples((3, 1), (2, 3, 4), False), _shape_samples((4,), (3, 4), False)],
    )
)
reg.register(
    reg.OpDef(
        name="SumToShape",
        attrs={},
        shape=_sum_to_shape,
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=_sum_to_ref,
        grad=_sum_to_grad,
        traits=frozenset({"reduction"}),
        doc="Sum a broadcast gradient back to an input's shape (the inverse of BroadcastTo).",
        samples=lambda rng: [_shape_samples((3, 1), (2, 3, 4), True), _shape_samples((4,), (3, 4), True)],
    )
)


def broadcast_to(input: Any, shape: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    s = convert_to_tensor(shape, dtype=_dt.int32) if not isinstance(shape, Tensor) else shape
    return make("BroadcastTo", [x, s], name=name or "BroadcastTo")


def sum_to_shape(g: Tensor, shape: Any, name: str | None = None) -> Tensor:
    s = convert_to_tensor(shape, dtype=_dt.int32) if not isinstance(shape, Tensor) else shape
    return make("SumToShape", [g, s], name=name or "SumToShape")


def unbroadcast(g: Tensor | None, x: Tensor) -> Tensor | None:
    """Sum ``g`` (the gradient of a broadcast result) back to ``x``'s shape."""
    if g is None:
        return None
    gs, xs = g.shape, x.shape
    if gs.is_fully_defined() and xs.is_fully_defined():
        gl, xl = gs.as_list(), xs.as_list()
        if gl == xl:
            return g
        lead = len(gl) - len(xl)
        axes = list(range(lead)) + [lead + i for i, d in enumerate(xl) if d == 1 and gl[lead + i] != 1]
        summed = build.reduce_sum(g, axis=axes, keepdims=True) if axes else g
        return build.reshape(summed, xl)
    if gs.ndims is not None and gs.ndims == xs.ndims and gs.as_list() == xs.as_list():
        # Dims left None that meet in a broadcast are taken to be equal (see ir/lower.py),
        # so equal static shapes mean nothing was broadcast.
        return g
    return sum_to_shape(g, core_ops.shape(x))
