"""Graph leaves and plumbing: Const, Placeholder, Identity, StopGradient, NoOp, Shape, Size, Rank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor, get_default_graph
from graphc.frontend.tensor_shape import as_shape
from graphc.ops.common import (  # noqa: F401  (constant: tf.constant, defined with convert_to_tensor)
    constant,
    convert_to_tensor,
    make,
    rand,
    same_dtype,
    same_shape,
)

_MAX_CONST_VALUE = 256


def _no_inputs_grad(op: Operation, *grads: Any) -> list[Any]:
    return []


# -- Const (tf.constant itself is in common, which convert_to_tensor needs it in) --------
def _const_value(ctx: reg.InferenceContext) -> list[Any] | None:
    v = ctx.attrs["value"]
    if v.dtype.kind in "iu" and v.size <= _MAX_CONST_VALUE:
        # Python ints (exact), in the constant's shape (tolist() of an empty [0, 1] array
        # is [], which would otherwise come back with shape (0,)).
        return [np.array(v.tolist(), dtype=object).reshape(v.shape)]
    return None


reg.register(
    reg.OpDef(
        name="Const",
        attrs={"value": reg.ARRAY, "dtype": reg.DTYPE},
        shape=lambda ctx: [tuple(ctx.attrs["value"].shape)],
        dtype=lambda ctx: [ctx.attrs["dtype"]],
        reference=lambda ins, attrs: [attrs["value"]],
        grad=_no_inputs_grad,
        value=_const_value,
        samples=lambda rng: [reg.Sample([], {"value": rand(rng, (2, 3)), "dtype": _dt.float64})],
    )
)


# -- Placeholder -----------------------------------------------------------------
def _placeholder_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    raise RuntimeError("a placeholder must be fed")


reg.register(
    reg.OpDef(
        name="Placeholder",
        attrs={"dtype": reg.DTYPE, "shape": reg.SHAPE},
        shape=lambda ctx: [ctx.attrs["shape"]],
        dtype=lambda ctx: [ctx.attrs["dtype"]],
        reference=_placeholder_ref,
        grad=_no_inputs_grad,
        no_samples="has no value of its own: it is always fed",
    )
)


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """tf.placeholder: dims may be None, or the whole shape unknown (shape=None)."""
    dims = as_shape(shape).as_tuple()
    graph = get_default_graph()
    return graph.create_op(
        "Placeholder", [], {"dtype": _dt.as_dtype(dtype), "shape": dims}, name=name or "Placeholder"
    ).outputs[0]


def _pwd_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    declared = ctx.attrs["shape"]
    given = ctx.shapes[0]
    if declared is None:
        return [None]
    if given is not None:
        if len(given) != len(declared):
            raise reg.ShapeError(f"default value of rank {len(given)} does not match shape {declared}")
        for g, d in zip(given, declared):
            if d is not None and isinstance(g, int) and g != d:
                raise reg.ShapeError(f"default value shape {given} is incompatible with {declared}")
    return [tuple(ctx.fresh() if d is None else d for d in declared)]


reg.register(
    reg.OpDef(
        name="PlaceholderWithDefault",
        attrs={"shape": reg.SHAPE},
        shape=_pwd_shape,
        dtype=same_dtype(0),
        reference=lambda ins, attrs: [ins[0]],
        grad=lambda op, g: [g],
        samples=lambda rng: [reg.Sample([rand(rng, (2, 3))], {"shape": (None, 3)})],
    )
)


def placeholder_with_default(input: Any, shape: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return make(
        "PlaceholderWithDefault",
        [x],
        {"shape": as_shape(shape).as_tuple()},
        name=name or "PlaceholderWithDefault",
    )


# -- Identity / StopGradient / NoOp ------------------------------------------------
def _identity_value(ctx: reg.InferenceContext) -> list[Any] | None:
    return [ctx.value(0)]


reg.register(
    reg.OpDef(
        name="Identity",
        attrs={},
        shape=same_shape(0),
        dtype=same_dtype(0),
        reference=lambda ins, attrs: [ins[0]],
        grad=lambda op, g: [g],
        traits=frozenset({"elementwise", "view"}),
        scalar=lambda args, attrs: args[0],
        value=_identity_value,
        samples=lambda rng: [reg.Sample([rand(rng, (2, 3))])],
    )
)


def identity(input: Any, name: str | None = None) -> Tensor:
    return make("Identity", [convert_to_tensor(input)], name=name or "Identity")


reg.register(
    reg.OpDef(
        name="StopGradient",
        attrs={},
        shape=same_shape(0),
        dtype=same_dtype(0),
        reference=lambda ins, attrs: [ins[0]],
        grad=reg.NotDifferentiable("stop_gradient blocks gradients by definition"),
        traits=frozenset({"elementwise", "view"}),
        scalar=lambda args, attrs: args[0],
        value=_identity_value,
        samples=lambda rng: [reg.Sample([rand(rng, (2, 3))], grad=False)],
    )
)


def stop_gradient(input: Any, name: str | None = None) -> Tensor:
    return make("StopGradient", [convert_to_tensor(input)], name=name or "StopGradient")


reg.register(
    reg.OpDef(
        name="NoOp",
        attrs={},
        shape=lambda ctx: [],
        dtype=lambda ctx: [],
        reference=lambda ins, attrs: [],
        grad=_no_inputs_grad,
        num_outputs=0,
        samples=lambda rng: [reg.Sample([], grad=False)],
    )
)


def no_op(name: str | None = None) -> Operation:
    return get_default_graph().create_op("NoOp", [], {}, name=name or "NoOp")


def group(*inputs: Any, name: str | None = None) -> Operation:
    """tf.group: a NoOp that runs after all ``inputs`` (tensors or ops, nested lists)."""
    flat: list[Any] = []
    stack = list(inputs)[::-1]
    while stack:
        x = stack.pop()
        if isinstance(x, list | tuple):
            stack.extend(list(x)[::-1])
        elif x is not None:
            flat.append(x)
    graph = get_default_graph()
    deps: list[Operation] = []
    for x in flat:
        el = graph.as_graph_element(x)
        deps.append(el.op if isinstance(el, Tensor) else el)
    return graph.create_op("NoOp", [], {}, name=name or "group_deps", control_inputs=deps)


def tuple_(
    tensors: Sequence[Any], name: str | None = None, control_inputs: Sequence[Any] | None = None
) -> list[Any]:
    """tf.tuple: each output waits for all inputs (identity with control dependencies)."""
    gate = group(*[t for t in tensors if t is not None], *(control_inputs or []))
    graph = get_default_graph()
    out = []
    with graph.control_dependencies([gate]):
        for t in tensors:
            out.append(None if t is None else identity(t))
    return out


# -- Shape / Size / Rank -------------------------------------------------------------
def _shape_value(ctx: reg.InferenceContext) -> list[Any] | None:
    s = ctx.shapes[0]
    return None if s is None else [np.array(list(s) + [], dtype=object).reshape(len(s))]


def _shape_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    return [np.array(np.shape(ins[0]), dtype=attrs["out_type"].np)]


reg.register(
    reg.OpDef(
        name="Shape",
        attrs={"out_type": reg.DTYPE},
        shape=lambda ctx: [None if ctx.shapes[0] is None else (len(ctx.shapes[0]),)],
        dtype=lambda ctx: [ctx.attrs["out_type"]],
        reference=_shape_ref,
        grad=reg.NotDifferentiable("depends only on the input's shape"),
        traits=frozenset({"shape_only"}),
        value=_shape_value,
        samples=lambda rng: [reg.Sample([rand(rng, (2, 3, 4))], {"out_type": _dt.int32}, grad=False)],
    )
)


def shape(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Tensor:
    return make(
        "Shape", [convert_to_tensor(input)], {"out_type": _dt.as_dtype(out_type)}, name=name or "Shape"
    )


def _size_value(ctx: reg.InferenceContext) -> list[Any] | None:
    s = ctx.shapes[0]
    if s is None:
        return None
    return [np.array(symbolic.product(s), dtype=object)]


reg.register(
    reg.OpDef(
        name="Size",
        attrs={"out_type": reg.DTYPE},
        shape=lambda ctx: [()],
        dtype=lambda ctx: [ctx.attrs["out_type"]],
        reference=lambda ins, attrs: [np.array(np.size(ins[0]), dtype=attrs["out_type"].np)],
        grad=reg.NotDifferentiable("depends only on the input's shape"),
        traits=frozenset({"shape_only"}),
        value=_size_value,
        samples=lambda rng: [reg.Sample([rand(rng, (2, 3))], {"out_type": _dt.int32}, grad=False)],
    )
)


def size(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Tensor:
    return make("Size", [convert_to_tensor(input)], {"out_type": _dt.as_dtype(out_type)}, name=name or "Size")


reg.register(
    reg.OpDef(
        name="Rank",
        attrs={},
        shape=lambda ctx: [()],
        dtype=lambda ctx: [_dt.int32],
        reference=lambda ins, attrs: [np.array(np.ndim(ins[0]), dtype=np.int32)],
        grad=reg.NotDifferentiable("depends only on the input's shape"),
        traits=frozenset({"shape_only"}),
        value=lambda ctx: None if ctx.shapes[0] is None else [np.array(len(ctx.shapes[0]), dtype=object)],
        samples=lambda rng: [reg.Sample([rand(rng, (2, 3))], grad=False)],
    )
)


def rank(input: Any, name: str | None = None) -> Tensor:
    return make("Rank", [convert_to_tensor(input)], name=name or "Rank")
