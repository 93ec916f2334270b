"""Variables' ops: VariableV2 (a read of the variable's value) and Assign/AssignAdd/AssignSub.

These ops never run as such: lowering turns a variable into a program input and
its last assignment in a run into a program output (see graphc/ir/lower.py).
Their references state what they mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor
from graphc.ops.common import check_same_dtypes, convert_to_tensor, make, rand


def _var_grad(op: Operation, *grads: Any) -> list[Any]:
    return []


reg.register(
    reg.OpDef(
        name="VariableV2",
        attrs={"shape": reg.SHAPE, "dtype": reg.DTYPE},
        shape=lambda ctx: [ctx.attrs["shape"]],
        dtype=lambda ctx: [ctx.attrs["dtype"]],
        reference=lambda ins, attrs: [_raise_unbound(attrs)],
        grad=_var_grad,
        traits=frozenset({"stateful"}),
        no_samples="holds state: lowering turns it into a program input",
    )
)


def _raise_unbound(attrs: dict[str, Any]) -> np.ndarray:
    raise RuntimeError("a variable's value comes from the session")


def _assign_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    ref, val = ctx.shapes
    if not ctx.attrs.get("validate_shape", True):
        return [val]
    if ref is None or val is None:
        return [ref if val is None else val]
    if len(ref) != len(val):
        raise reg.ShapeError(
            f"cannot assign a value of shape {reg.format_shape(val)} to a variable of shape {reg.format_shape(ref)}"
        )
    return [
        tuple(
            ctx.equal(a, b, f"variable shape {reg.format_shape(ref)} and value shape {reg.format_shape(val)}")
            for a, b in zip(ref, val)
        )
    ]


def _assign_dtype(ctx: reg.InferenceContext) -> list[Any]:
    check_same_dtypes(ctx)
    return [ctx.dtypes[0]]


_NOT_DIFF = reg.NotDifferentiable("assignments change state; they have no gradient")

for _name, _ref in [
    ("Assign", lambda ins, attrs: [np.asarray(ins[1])]),
    ("AssignAdd", lambda ins, attrs: [np.asarray(ins[0] + ins[1])]),
    ("AssignSub", lambda ins, attrs: [np.asarray(ins[0] - ins[1])]),
]:
    reg.register(
        reg.OpDef(
            name=_name,
            attrs={"validate_shape": reg.omittable(reg.BOOL)},
            shape=_assign_shape,
            dtype=_assign_dtype,
            reference=_ref,
            grad=_NOT_DIFF,
            traits=frozenset({"stateful"}),
            samples=lambda rng: [reg.Sample([rand(rng, (2, 3)), rand(rng, (2, 3))], grad=False)],
        )
    )


def _ref_of(ref: Any) -> Tensor:
    """The VariableV2 output of a Variable (its graph element) or of the op itself."""
    el = ref._as_graph_element() if hasattr(ref, "_as_graph_element") and not isinstance(ref, Tensor) else ref
    if isinstance(el, Tensor) and el.op.type == "VariableV2":
        return el
    raise TypeError(f"assign needs a Variable, got {ref!r}")


def _assign(
    op_type: str, ref: Any, value: Any, name: str | None, attrs: dict[str, Any] | None = None
) -> Tensor:
    r = _ref_of(ref)
    v = convert_to_tensor(value, dtype=r.dtype)
    return make(op_type, [r, v], attrs or {}, name=name or op_type)


def assign(
    ref: Any,
    value: Any,
    validate_shape: bool = True,
    use_locking: bool | None = None,
    name: str | None = None,
) -> Tensor:
    """tf.assign: the result is the new value; reads that depend on it see the new value."""
    return _assign("Assign", ref, value, name, {"validate_shape": bool(validate_shape)})


def assign_add(ref: Any, value: Any, use_locking: bool | None = None, name: str | None = None) -> Tensor:
    return _assign("AssignAdd", ref, value, name)


def assign_sub(ref: Any, value: Any, use_locking: bool | None = None, name: str | None = None) -> Tensor:
    return _assign("AssignSub", ref, value, name)
