"""Optimizer update ops: one op per update rule, computing every slot's new value in one
pass over the parameter (graphc.train's optimizers build them).

``ApplyAdam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad) ->
(var', m', v')`` is tf.train.AdamOptimizer's dense update (TF1's ApplyAdam kernel takes the
same inputs), every step in the parameter's dtype and in this order::

    lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)
    m'   = m * beta1 + grad * (1 - beta1)
    v'   = v * beta2 + (grad * grad) * (1 - beta2)
    var' = var - (lr_t * m') / (sqrt(v') + epsilon)

(the same operations as the elementwise graph graphc built before this op existed, so the
values are those bits). ``var``, ``m``, ``v`` and ``grad`` have one shape, the other five
inputs are scalars. Output element ``i`` depends only on element ``i`` of the four arrays
(the ``per_element`` trait), so the memory plan may write each new value over its slot's
old buffer. The op is an update step, not a function anyone differentiates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Tensor
from graphc.ops.common import check_dtypes, check_same_dtypes, make_op

# Input positions.
VAR, M, V, BETA1_POWER, BETA2_POWER, LR, BETA1, BETA2, EPSILON, GRAD = range(10)
_ARRAYS = (VAR, M, V, GRAD)
_SCALARS = (BETA1_POWER, BETA2_POWER, LR, BETA1, BETA2, EPSILON)
_NAMES = ("var", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon", "grad")
# The dtypes the op takes (graphc.train keeps the elementwise graph for float16).
ADAM_DTYPES = (_dt.float32, _dt.float64)


def _adam_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    for i in _SCALARS:
        s = ctx.shapes[i]
        if s is not None and len(s) != 0:
            raise reg.ShapeError(f"ApplyAdam: {_NAMES[i]} must be a scalar, got shape {reg.format_shape(s)}")
    shape = None
    for i in _ARRAYS:
        s = ctx.shapes[i]
        if s is None:
            continue
        if shape is None:
            shape = s
            continue
        if len(s) != len(shape):
            raise reg.ShapeError(
                f"ApplyAdam: {_NAMES[i]} has shape {reg.format_shape(s)}, var {reg.format_shape(shape)}"
            )
        shape = tuple(ctx.equal(a, b, f"dimensions of var and {_NAMES[i]}") for a, b in zip(shape, s))
    return [shape, shape, shape]


def _adam_dtype(ctx: reg.InferenceContext) -> list[Any]:
    check_dtypes(ctx, ADAM_DTYPES, [VAR])
    check_same_dtypes(ctx)
    return [ctx.dtypes[VAR]] * 3


def adam_reference(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    var, m, v, b1p, b2p, lr, b1, b2, eps, g = (np.asarray(x) for x in ins)
    one = np.array(1, dtype=var.dtype)
    with np.errstate(all="ignore"):
        lr_t = lr * np.sqrt(one - b2p) / (one - b1p)
        m_t = m * b1 + g * (one - b1)
        v_t = v * b2 + (g * g) * (one - b2)
        var_t = var - (lr_t * m_t) / (np.sqrt(v_t) + eps)
    return [np.asarray(x, dtype=var.dtype) for x in (var_t, m_t, v_t)]


def _adam_samples(rng: np.random.Generator) -> list[reg.Sample]:
    out = []
    for shape, dt in (((3, 4), np.float32), ((5,), np.float64), ((2, 1, 3), np.float32)):
        arrays = {
            VAR: rng.normal(size=shape),
            M: rng.normal(size=shape) * 0.1,
            V: rng.uniform(0.0, 0.2, size=shape),
            GRAD: rng.normal(size=shape),
        }
        scalars = {
            BETA1_POWER: 0.9**3,
            BETA2_POWER: 0.999**3,
            LR: 0.01,
            BETA1: 0.9,
            BETA2: 0.999,
            EPSILON: 1e-8,
        }
        ins = [np.asarray(arrays[i] if i in arrays else scalars[i], dtype=dt) for i in range(10)]
        out.append(reg.Sample(ins, grad=False))
    return out


reg.register(
    reg.OpDef(
        name="ApplyAdam",
        attrs={},
        shape=_adam_shape,
        dtype=_adam_dtype,
        reference=adam_reference,
        grad=reg.NotDifferentiable("an optimizer's update step"),
        traits=frozenset({"per_element"}),
        num_outputs=3,
        doc="Adam's dense update: (var, m, v, beta1_power, beta2_power, lr, beta1, beta2, "
        "epsilon, grad) -> (var', m', v'), see graphc/ops/training_ops.py.",
        samples=_adam_samples,
    )
)


def apply_adam(
    var: Tensor,
    m: Tensor,
    v: Tensor,
    beta1_power: Tensor,
    beta2_power: Tensor,
    lr: Tensor,
    beta1: Tensor,
    beta2: Tensor,
    epsilon: Tensor,
    grad: Tensor,
    name: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The new (var, m, v) of one Adam step (the values only: the caller assigns them)."""
    op = make_op(
        "ApplyAdam",
        [var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad],
        name=name or "ApplyAdam",
    )
    return op.outputs[0], op.outputs[1], op.outputs[2]
