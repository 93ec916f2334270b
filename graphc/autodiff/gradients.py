"""tf.gradients: reverse-mode differentiation as a graph-to-graph transformation.

For each op between ``xs`` and ``ys`` (newest first) the op's gradient rule
builds new frontend ops from the gradients of its outputs; contributions from
several consumers or several ys are summed with add_n. Integer and boolean
tensors carry no gradient. Rules are built from ordinary ops, so gradients of
gradients (``hessians``) work the same way. The gradients of ``cond`` and
``while_loop`` (If, While) are built by graphc.ops.control_flow_ops, which calls
gradients() on their bodies (TF1's: the taken branch's gradient; a backward loop over
the saved iterations).
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable
from typing import Any

from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor, get_default_graph
from graphc.ops import control_flow_ops
from graphc.ops.common import convert_to_tensor
from graphc.ops.concat_ops import stack
from graphc.ops.fill_ops import ones_like, zeros_like
from graphc.ops.layout_ops import reshape
from graphc.ops.math_ops import add_n

_CUSTOM_GRADIENTS: dict[str, Callable[..., Any]] = {}
_CONTROL_FLOW = frozenset({"If", "While"})


def _control_flow_grad(gradients_fn: Callable[..., Any], op: Operation, *grads: Any) -> list[Any]:
    return control_flow_ops.control_flow_gradient(op, grads, gradients_fn)


class RegisterGradient:
    """Decorator registering a gradient function under a name, for use with
    ``Graph.gradient_override_map({"OpType": name})`` (TF1)."""

    def __init__(self, op_type: str) -> None:
        if not isinstance(op_type, str):
            raise TypeError("op_type must be a string")
        self._op_type = op_type

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if self._op_type in _CUSTOM_GRADIENTS:
            raise KeyError(f"Registering two gradient with name '{self._op_type}'!")
        _CUSTOM_GRADIENTS[self._op_type] = fn
        return fn


def _flatten(x: Any) -> list[Any]:
    return list(x) if isinstance(x, list | tuple) else [x]


def _as_tensor(x: Any, graph: Any) -> Tensor:
    el = graph.as_graph_element(x, allow_tensor=True, allow_operation=False)
    assert isinstance(el, Tensor)
    return el


def _differentiable(t: Tensor) -> bool:
    return t.dtype.is_floating


def _grad_fn(op: Operation) -> Callable[..., Any] | reg.NotDifferentiable:
    if op._grad_override is not None:
        try:
            return _CUSTOM_GRADIENTS[op._grad_override]
        except KeyError:
            raise LookupError(
                f"No gradient registered under the name {op._grad_override!r} "
                f"(gradient_override_map for op {op.name!r}, created at {op.location})"
            ) from None
    return reg.get(op.type).grad


def gradients(
    ys: Any,
    xs: Any,
    grad_ys: Any = None,
    name: str = "gradients",
    colocate_gradients_with_ops: bool = False,
    gate_gradients: bool = False,
    aggregation_method: Any = None,
    stop_gradients: Any = None,
    unconnected_gradients: str = "none",
) -> list[Tensor | None]:
    """Symbolic d(sum(ys))/d(xs) (TF1 semantics): a list with one entry per x, None for
    an x that ys do not depend on (or zeros with ``unconnected_gradients="zero"``)."""

    graph = get_default_graph()
    ys_l = [_as_tensor(y, graph) for y in _flatten(ys)]
    if ys_l:
        graph = ys_l[0].graph
    xs_l = [_as_tensor(x, graph) for x in _flatten(xs)]
    stops = (
        {id(_as_tensor(s, graph)) for s in _flatten(stop_gradients)} if stop_gradients is not None else set()
    )
    gys = _flatten(grad_ys) if grad_ys is not None else [None] * len(ys_l)
    if len(gys) != len(ys_l):
        raise ValueError(f"Passed {len(gys)} grad_ys for {len(ys_l)} ys")

    with graph.as_default(), graph.name_scope(name):
        # Ops that ys depend on (data edges only), then those of them that depend on xs.
        reach_back: set[int] = set()
        todo = [y.op for y in ys_l]
        while todo:
            op = todo.pop()
            if op._id in reach_back:
                continue
            reach_back.add(op._id)
            for t in op.inputs:
                if id(t) not in stops:
                    todo.append(t.op)
        # A stop tensor is a constant: it still receives its own gradient, but nothing
        # flows through it to what computed it (TF1's stop_gradients).
        x_ids = {id(x) for x in xs_l}
        between: dict[int, Operation] = {}
        frontier = list(xs_l)
        while frontier:
            t = frontier.pop()
            for c in t._consumers:
                if c._id in reach_back and c._id not in between:
                    between[c._id] = c
                    frontier.extend(o for o in c.outputs if id(o) not in stops)

        # Gradients flowing into each tensor (lists summed when the producer is processed).
        pending: dict[int, list[Tensor]] = {}
        tensors: dict[int, Tensor] = {}

        def contribute(t: Tensor, g: Tensor | None) -> None:
            if g is None or not _differentiable(t):
                return
            pending.setdefault(id(t), []).append(g)
            tensors[id(t)] = t

        for y, gy in zip(ys_l, gys):
            if not _differentiable(y):
                continue
            g = ones_like(y) if gy is None else convert_to_tensor(gy, dtype=y.dtype)
            contribute(y, g)

        def total(t: Tensor) -> Tensor | None:
            parts = pending.get(id(t))
            if not parts:
                return None
            if len(parts) > 1:
                summed = add_n(parts)
                pending[id(t)] = [summed]
                return summed
            return parts[0]

        for op_id in sorted(between, reverse=True):
            op = between[op_id]
            out_grads = [None if id(t) in stops else total(t) for t in op.outputs]
            if all(g is None for g in out_grads):
                continue
            fn = _grad_fn(op)
            if op._grad_override is None and op.type in _CONTROL_FLOW:
                # cond/while_loop gradients are built with gradients() itself (on their bodies).
                fn = functools.partial(_control_flow_grad, gradients)
            if isinstance(fn, reg.GradientNotImplemented):
                raise LookupError(
                    f"No gradient defined for operation '{op.name}' (op type: {op.type}): "
                    f"{fn.reason} (created at {op.location})"
                )
            if isinstance(fn, reg.NotDifferentiable):
                continue
            with graph.name_scope(op.name.replace("/", "_") + "_grad"):
                in_grads = list(fn(op, *out_grads))
            if len(in_grads) != len(op.inputs):
                raise ValueError(
                    f"The gradient rule of {op.type} returned {len(in_grads)} gradients for "
                    f"{len(op.inputs)} inputs (op {op.name!r})"
                )
            for t, g in zip(op.inputs, in_grads):
                if g is not None and t.shape.ndims is not None and g.shape.ndims is not None:
                    if not t.shape.is_compatible_with(g.shape):
                        raise ValueError(
                            f"The gradient of {op.type} op {op.name!r} for input {t.name} has shape "
                            f"{g.shape}, expected {t.shape} (created at {op.location})"
                        )
                contribute(t, g)

        results: list[Tensor | None] = []
        for x in xs_l:
            g = total(x) if id(x) in x_ids else None
            if g is None and unconnected_gradients == "zero":
                g = zeros_like(x)
            results.append(g)
        return results


def hessians(
    ys: Any, xs: Any, name: str = "hessians", gate_gradients: bool = False, aggregation_method: Any = None
) -> list[Tensor | None]:
    """tf.hessians: for each x, the Hessian of sum(ys) with shape x.shape + x.shape.
    Each x needs a fully known static shape (one gradient is built per element)."""

    graph = get_default_graph()
    xs_l = [_as_tensor(x, graph) for x in _flatten(xs)]
    out: list[Tensor | None] = []
    for x in xs_l:
        if not x.shape.is_fully_defined():
            raise ValueError(f"hessians needs a fully defined shape for {x.name}, got {x.shape}")
        (g,) = gradients(ys, x, name=name)
        if g is None:
            out.append(None)
            continue
        n = x.shape.num_elements()
        flat = reshape(g, [-1])
        rows = []
        for i in range(n):
            (gi,) = gradients(flat[i], x, name=name)
            rows.append(reshape(gi if gi is not None else zeros_like(x), [-1]))
        out.append(reshape(stack(rows), x.shape.as_list() * 2))
    return out


# -- custom_gradient -------------------------------------------------------------------
_custom_fns: dict[int, Callable[..., Any]] = {}
_custom_ids = itertools.count(1)


def _custom_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    return list(ctx.shapes[ctx.attrs["n_x"] :])


def _custom_dtype(ctx: reg.InferenceContext) -> list[Any]:
    return list(ctx.dtypes[ctx.attrs["n_x"] :])


def _custom_grad(op: Operation, *grads: Any) -> list[Any]:
    n_x = op.attrs["n_x"]
    fn = _custom_fns[op.attrs["grad_id"]]
    dys = grads[0] if len(grads) == 1 else list(grads)
    dxs = _flatten(fn(dys) if len(grads) == 1 else fn(*dys))
    if len(dxs) != n_x:
        raise ValueError(f"custom gradient returned {len(dxs)} gradients for {n_x} inputs")
    return list(dxs) + [None] * (len(op.inputs) - n_x)


reg.register(
    reg.OpDef(
        name="CustomGradient",
        attrs={"n_x": reg.INT, "grad_id": reg.INT},
        shape=_custom_shape,
        dtype=_custom_dtype,
        reference=lambda ins, attrs: list(ins[attrs["n_x"] :]),
        grad=_custom_grad,
        num_outputs=None,
        no_samples="wraps a user function; tested through custom_gradient",
    )
)


def custom_gradient(f: Callable[..., Any]) -> Callable[..., Any]:
    """tf.custom_gradient: ``f(*x)`` returns ``(y, grad_fn)``; ``grad_fn(dy)`` gives dx.
    graphc does not pass ``variables=`` to grad_fn: gradients reach only f's inputs."""

    def wrapped(*args: Any) -> Any:

        xs = [convert_to_tensor(a) for a in args]
        result, grad_fn = f(*xs)
        if "variables" in inspect.signature(grad_fn).parameters:
            raise NotImplementedError("custom_gradient with grad_fn(..., variables=...) is not supported")
        ys = [convert_to_tensor(y) for y in _flatten(result)]
        gid = next(_custom_ids)
        _custom_fns[gid] = grad_fn
        graph = xs[0].graph if xs else get_default_graph()
        op = graph.create_op(
            "CustomGradient", xs + ys, {"n_x": len(xs), "grad_id": gid}, name="CustomGradient"
        )
        outs = list(op.outputs)
        return outs if isinstance(result, list | tuple) else outs[0]

    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    return wrapped
