"""Activation ops (elementwise; tf.nn exposes them): Relu, Relu6, LeakyRelu, Elu, Selu,
Softplus and their TF1 API functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import registry as reg
from graphc import scalar as S
from graphc.frontend.graph import Operation, Tensor
from graphc.ops import build
from graphc.ops.common import NUMERIC, convert_to_tensor, make, rand, scalar_like
from graphc.ops.compare_ops import greater, less, logical_and
from graphc.ops.math_ops import _elementwise, _unary_api, _unary_grad, add, multiply, sigmoid, where

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_elementwise(
    "Relu",
    1,
    lambda x: np.maximum(x, 0),
    lambda x: S.call("max", x, 0),
    _unary_grad(lambda op, g, x, y: where(greater(x, build.zeros_like(x)), g, build.zeros_like(g))),
    NUMERIC,
    domains=["offgrid"],
)
_elementwise(
    "Relu6",
    1,
    lambda x: np.minimum(np.maximum(x, 0), 6),
    lambda x: S.call("min", S.call("max", x, 0), 6),
    _unary_grad(
        lambda op, g, x, y: where(
            logical_and(greater(x, build.zeros_like(x)), less(x, scalar_like(6.0, x))), g, build.zeros_like(g)
        )
    ),
    NUMERIC,
    samples=lambda rng: [reg.Sample([rand(rng, (3, 4), "offgrid") * 3.0])],
)


def _leaky_grad(op: Operation, g: Tensor) -> list[Any]:
    x = op.inputs[0]
    alpha = op.attrs["alpha"]
    return [where(greater(x, build.zeros_like(x)), g, multiply(g, scalar_like(alpha, g)))]


_elementwise(
    "LeakyRelu",
    1,
    lambda x, alpha: np.where(x > 0, x, alpha * x),
    lambda x, alpha: S.call("select", S.call("gt", x, 0), x, x * alpha),
    _leaky_grad,
    samples=lambda rng: [reg.Sample([rand(rng, (3, 4), "offgrid")], {"alpha": 0.2})],
    attrs={"alpha": reg.FLOAT},
)
_elementwise(
    "Elu",
    1,
    lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    lambda x: S.call("select", S.call("gt", x, 0), x, S.call("expm1", S.call("min", x, 0))),
    _unary_grad(
        lambda op, g, x, y: where(greater(x, build.zeros_like(x)), g, multiply(g, add(y, scalar_like(1.0, y))))
    ),
    domains=["offgrid"],
)
_elementwise(
    "Selu",
    1,
    lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    lambda x: (
        SELU_SCALE
        * S.call("select", S.call("gt", x, 0), x, SELU_ALPHA * S.call("expm1", S.call("min", x, 0)))
    ),
    _unary_grad(
        lambda op, g, x, y: where(
            greater(x, build.zeros_like(x)),
            multiply(g, scalar_like(SELU_SCALE, g)),
            multiply(g, add(y, scalar_like(SELU_SCALE * SELU_ALPHA, y))),
        )
    ),
    domains=["offgrid"],
)
_elementwise(
    "Softplus",
    1,
    lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
    lambda x: S.call("max", x, 0) + S.call("log1p", S.call("exp", -S.call("abs", x))),
    _unary_grad(lambda op, g, x, y: multiply(g, sigmoid(x))),
)


# -- public API ---------------------------------------------------------------------------------
relu = _unary_api("Relu", "relu")
relu6 = _unary_api("Relu6", "relu6")
elu = _unary_api("Elu", "elu")
selu = _unary_api("Selu", "selu")
softplus = _unary_api("Softplus", "softplus")


def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """tf.nn.leaky_relu (TF1, alpha 0.2 by default): features where positive, alpha * features elsewhere."""
    return make("LeakyRelu", [convert_to_tensor(features)], {"alpha": float(alpha)}, name=name or "LeakyRelu")
