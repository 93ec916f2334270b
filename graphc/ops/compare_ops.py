"""Comparison and logical ops (Less ... NotEqual, LogicalAnd / LogicalOr / LogicalNot) and
their TF1 API functions, logical_xor included."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as S
from graphc.frontend.graph import Tensor
from graphc.ops.common import NUMERIC, rand
from graphc.ops.math_ops import _COMMUTATIVE, _binary_api, _elementwise, _unary_api

_CMP = reg.NotDifferentiable("comparisons have no gradient")
for _name, _fn, _prim, _traits in [
    ("Less", np.less, "lt", ()),
    ("LessEqual", np.less_equal, "le", ()),
    ("Greater", np.greater, "gt", ()),
    ("GreaterEqual", np.greater_equal, "ge", ()),
    ("Equal", np.equal, "eq", _COMMUTATIVE),
    ("NotEqual", np.not_equal, "ne", _COMMUTATIVE),
]:
    _elementwise(
        _name,
        2,
        _fn,
        (lambda p: lambda x, y: S.call(p, x, y))(_prim),
        _CMP,
        (*NUMERIC, _dt.bool_),
        out=_dt.bool_,
        samples=lambda rng: [
            reg.Sample(
                [rand(rng, (3, 4), "int").astype(np.float64), rand(rng, (4,), "int").astype(np.float64)],
                grad=False,
            )
        ],
        traits=_traits,
    )

_LOGIC = reg.NotDifferentiable("boolean logic has no gradient")
_bool_samples2 = lambda rng: [reg.Sample([rand(rng, (3, 4), "bool"), rand(rng, (3, 4), "bool")], grad=False)]  # noqa: E731
for _name, _np_fn, _prim in (("LogicalAnd", np.logical_and, "and"), ("LogicalOr", np.logical_or, "or")):
    _elementwise(
        _name,
        2,
        _np_fn,
        lambda x, y, _prim=_prim: S.call(_prim, x, y),
        _LOGIC,
        (_dt.bool_,),
        samples=_bool_samples2,
        traits=_COMMUTATIVE,
    )
del _name, _np_fn, _prim
_elementwise(
    "LogicalNot",
    1,
    np.logical_not,
    lambda x: S.call("not", x),
    _LOGIC,
    (_dt.bool_,),
    samples=lambda rng: [reg.Sample([rand(rng, (3, 4), "bool")], grad=False)],
)

less = _binary_api("Less", "less")
less_equal = _binary_api("LessEqual", "less_equal")
greater = _binary_api("Greater", "greater")
greater_equal = _binary_api("GreaterEqual", "greater_equal")
equal = _binary_api("Equal", "equal")
not_equal = _binary_api("NotEqual", "not_equal")
logical_and = _binary_api("LogicalAnd", "logical_and")
logical_or = _binary_api("LogicalOr", "logical_or")
logical_not = _unary_api("LogicalNot", "logical_not")


def logical_xor(x: Any, y: Any, name: str | None = None) -> Tensor:
    return logical_and(logical_or(x, y), logical_not(logical_and(x, y)), name=name or "LogicalXor")
