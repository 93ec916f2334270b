"""Every scalar primitive's edge cases (``graphc.scalar.EDGE_CASES``: NaN, infinities,
signed zeros, division by zero, overflow, out-of-range casts, ...) on every loaded
backend, bit for bit (any NaN matches a NaN; the sign of a zero counts): through a Fused
node holding the primitive, and through the op that computes the same thing unfused. The
reductions a fused node can end with are checked the same way on their own edge cases.

Each case runs inside a long array (the cases of one primitive and dtype, repeated), so
vectorised loops are exercised as well as scalar ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import graphc  # noqa: F401  (registers every op)
from graphc import dtypes
from graphc import registry as reg
from graphc import scalar as S
from graphc.ir.program import Node, Output, Param, Program, Value
from graphc.ops import fused_ops
from graphc.runtime.backend import available_backends, get_backend, run_program
from tests import op_harness as H

BACKENDS = available_backends()
REPEAT = 17  # copies of each group of cases in one array: longer than any vector loop's width

# The op that computes each primitive unfused (cast: Cast with DstT, select: Select).
OP_OF = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "RealDiv",
    "floordiv": "FloorDiv",
    "mod": "FloorMod",
    "pow": "Pow",
    "neg": "Neg",
    "abs": "Abs",
    "sign": "Sign",
    "exp": "Exp",
    "expm1": "Expm1",
    "log": "Log",
    "log1p": "Log1p",
    "sqrt": "Sqrt",
    "sin": "Sin",
    "cos": "Cos",
    "tanh": "Tanh",
    "erf": "Erf",
    "floor": "Floor",
    "ceil": "Ceil",
    "round": "Round",
    "max": "Maximum",
    "min": "Minimum",
    "lt": "Less",
    "le": "LessEqual",
    "gt": "Greater",
    "ge": "GreaterEqual",
    "eq": "Equal",
    "ne": "NotEqual",
    "and": "LogicalAnd",
    "or": "LogicalOr",
    "not": "LogicalNot",
    "select": "Select",
    "cast": "Cast",
}


# -- the cases, grouped by primitive, operand dtype and attr ---------------------------------------
def _groups() -> dict[tuple[str, str, Any], list[S.Edge]]:
    out: dict[tuple[str, str, Any], list[S.Edge]] = {}
    for edge in S.EDGE_CASES:
        out.setdefault((edge.op, edge.dtype, edge.attr), []).append(edge)
    return out


GROUPS = _groups()


def _gid(key: tuple[str, str, Any]) -> str:
    op, dtype, attr = key
    return f"{op}-{dtype}" + (f"-{attr}" if attr is not None else "")


def _operands(edges: Sequence[S.Edge]) -> list[np.ndarray]:
    """Operand k of every case, in one array per operand, repeated REPEAT times."""
    per_case = [S.edge_operands(e) for e in edges]
    return [np.tile(np.concatenate([c[k] for c in per_case]), REPEAT) for k in range(len(per_case[0]))]


def _expected(edges: Sequence[S.Edge]) -> np.ndarray:
    dtype = S.edge_expr(edges[0]).dtype
    return np.tile(np.array([e.expected for e in edges], dtype=dtype), REPEAT)


def _mismatches(got: np.ndarray, want: np.ndarray, edges: Sequence[S.Edge]) -> list[str]:
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape)
    bad = []
    for k in range(want.size):
        g, w = got[k], want[k]
        same = bool(np.isnan(g)) if want.dtype.kind == "f" and np.isnan(w) else g.tobytes() == w.tobytes()
        if not same:
            e = edges[k % len(edges)]
            bad.append(f"{e.op}{e.inputs}{'; ' + e.attr if e.attr else ''} gave {g!r}, the table says {w!r}")
    return sorted(set(bad))


def _fused_program(
    inputs: Sequence[np.ndarray], attrs: dict[str, Any], out_shape: tuple[int, ...]
) -> Program:
    params = [Param(Value(dtypes.as_dtype(x.dtype), x.shape), "feed", f"in{i}") for i, x in enumerate(inputs)]
    out = Value(attrs["dtype"], out_shape)
    node = Node("Fused", [p.value for p in params], attrs, [out])
    out.producer = node
    return Program(params, [node], [Output(out, "fetch", "0")])


# -- the table covers every primitive ------------------------------------------------------------------
def test_every_primitive_has_a_signature_an_evaluation_and_edge_cases() -> None:
    assert set(S.SIGNATURES) == set(S.PRIMITIVES) == {e.op for e in S.EDGE_CASES} == set(OP_OF)
    assert S.EDGE_CASES_DOC in (S.__doc__ or "")
    for op in S.SIGNATURES:  # each primitive is documented, with its cases, in the docstring
        assert f"\n{op}: " in S.EDGE_CASES_DOC


# -- through a Fused node ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", list(GROUPS), ids=_gid)
def test_a_fused_primitive_gives_the_table_s_results(backend: str, key: tuple[str, str, Any]) -> None:
    edges = GROUPS[key]
    inputs = _operands(edges)
    expr = S.edge_expr(edges[0])
    attrs = fused_ops.elementwise_attrs(
        expr, dtypes.as_dtype(expr.dtype), inputs[0].shape, [x.shape for x in inputs], (key[0],)
    )
    (got,) = run_program(get_backend(backend), _fused_program(inputs, attrs, inputs[0].shape), inputs)
    assert _mismatches(np.asarray(got), _expected(edges), edges) == []


# -- through the op, unfused ---------------------------------------------------------------------------------
def _numpy_casts_saturate() -> bool:
    """Whether NumPy's own float-to-int conversion already saturates and sends NaN to 0 on
    this machine (it does on AArch64; on x86 it gives the integer's minimum)."""
    f = np.array([np.nan, 3e9, -3e9, np.inf], dtype=np.float32)
    u = np.array([-1.5, 300.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        return f.astype(np.int32).tolist() == [0, 2**31 - 1, -(2**31), 2**31 - 1] and u.astype(
            np.uint8
        ).tolist() == [0, 255]


# The ops' NumPy references follow the table too: nothing is expected to differ.
_UNFUSED_DIFFERS: dict[Any, tuple[bool, str]] = {}


def _unfused_cases() -> list[Any]:
    out = []
    for key, edges in GROUPS.items():
        op, dtype, attr = key
        opdef = reg.get(OP_OF[op])
        inputs = _operands(edges)
        attrs = {"DstT": dtypes.as_dtype(attr)} if op == "cast" else {}
        sample = reg.Sample(inputs, attrs, grad=False)
        try:
            ctx = reg.InferenceContext(
                opdef.name, [x.shape for x in inputs], [dtypes.as_dtype(x.dtype) for x in inputs],
                [None] * len(inputs), attrs, reg.FrontendDims(),
            )  # fmt: skip
            opdef.dtype(ctx)
        except (TypeError, ValueError):
            continue  # the op does not take these dtypes (e.g. Add on uint8): nothing to compare
        marks = []
        if key in _UNFUSED_DIFFERS:
            condition, reason = _UNFUSED_DIFFERS[key]
            marks.append(pytest.mark.xfail(condition, reason=reason, strict=True))
        out.append(pytest.param(key, sample, marks=marks, id=_gid(key)))
    return out


UNFUSED = _unfused_cases()


def test_most_primitives_are_also_checked_unfused() -> None:
    assert {p.values[0][0] for p in UNFUSED} == set(OP_OF)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key,sample", UNFUSED)
def test_the_unfused_op_gives_the_table_s_results(
    backend: str, key: tuple[str, str, Any], sample: reg.Sample
) -> None:
    edges = GROUPS[key]
    (got,) = H.run_on_backend(backend, reg.get(OP_OF[key[0]]), sample)
    assert _mismatches(np.asarray(got), _expected(edges), edges) == []


# -- reductions --------------------------------------------------------------------------------------------
_NAN, _INF = float("nan"), float("inf")
# (op, dtype, elements, result, why): one row reduced over its only axis.
REDUCTIONS = [
    ("Max", "float32", [-0.0, 0.0], 0.0, "max combines as the max primitive: -0 < +0"),
    ("Max", "float32", [0.0, -0.0], 0.0, ""),
    ("Max", "float32", [-0.0, -0.0], -0.0, ""),
    ("Max", "float32", [1.0, _NAN, 2.0], _NAN, "NaN propagates"),
    ("Max", "float32", [], -_INF, "no elements: the identity, -inf"),
    ("Max", "int32", [], -(2**31), "no elements: the identity, the dtype's minimum"),
    ("Min", "float32", [0.0, -0.0], -0.0, "min combines as the min primitive"),
    ("Min", "float32", [-0.0, 0.0], -0.0, ""),
    ("Min", "float32", [0.0, 0.0], 0.0, ""),
    ("Min", "float32", [_NAN, 1.0], _NAN, "NaN propagates"),
    ("Min", "float32", [], _INF, "no elements: +inf"),
    ("Sum", "float32", [-0.0, -0.0], 0.0, "a sum starts from the identity +0, so a sum of -0s is +0"),
    ("Sum", "float32", [_INF, -_INF], _NAN, ""),
    ("Sum", "float32", [], 0.0, "no elements: +0"),
    ("Sum", "int32", [2**31 - 1, 1], -(2**31), "the accumulator wraps"),
    ("Prod", "float32", [], 1.0, "no elements: 1"),
    ("Prod", "float32", [0.0, _INF], _NAN, ""),
    ("Prod", "float32", [-1.0, 0.0], -0.0, ""),
    ("Mean", "float32", [], _NAN, "no elements: 0 / 0"),
    ("Mean", "float32", [_INF, 1.0], _INF, ""),
    ("Mean", "int32", [], 0, "an integer mean of nothing is 0"),
    ("Mean", "int32", [-7, 0], -3, "truncates toward zero"),
    ("Mean", "int32", [2**31 - 1, 2**31 - 1], 2**31 - 1, "accumulated in 64 bits, no wrap"),
    ("Mean", "float16", [60000.0, 60000.0], 60000.0, "accumulated in float32, no overflow"),
]
REDUCTION_GROUPS: dict[tuple[str, str], list[tuple[list[float], float]]] = {}
for _op, _dtype, _values, _result, _why in REDUCTIONS:
    REDUCTION_GROUPS.setdefault((_op, _dtype), []).append((_values, _result))

# np.max / np.min (the Max and Min references) return one of two equal zeros, by operand
# order, so of [-0.0, 0.0] and [0.0, -0.0] one comes out as the table says and one does not.
_REDUCTION_DIFFERS: dict[tuple[str, str], str] = {}


def _reduction_mismatches(op: str, dtype: str, run: Any) -> list[str]:
    """Each row of the group reduced by ``run(x, attrs)`` (x: REPEAT copies of the row)."""
    dt = dtypes.as_dtype(dtype)
    bad = []
    for values, result in REDUCTION_GROUPS[(op, dtype)]:
        x = np.tile(np.array(values, dtype=dt.np), REPEAT).reshape(REPEAT, len(values))
        got = np.asarray(run(x, dt))
        want = np.full(REPEAT, result, dtype=dt.np)
        assert got.dtype == want.dtype and got.shape == want.shape
        same = np.isnan(got).all() if np.isnan(want).any() else got.tobytes() == want.tobytes()
        if not same:
            bad.append(f"{op}({values}) gave {got[0]!r}, the table says {want[0]!r}")
    return bad


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", list(REDUCTION_GROUPS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_a_fused_reduction_gives_the_table_s_results(backend: str, key: tuple[str, str]) -> None:
    def run(x: np.ndarray, dt: dtypes.DType) -> np.ndarray:
        attrs = fused_ops.elementwise_attrs(S.inp(0, dt), dt, x.shape, [x.shape], ("Test", key[0]))
        attrs.update(fused_ops.reduction_attrs(key[0], dt, x.shape, (1,), False))
        return run_program(get_backend(backend), _fused_program([x], attrs, (REPEAT,)), [x])[0]

    assert _reduction_mismatches(*key, run) == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "key",
    [
        pytest.param(
            k,
            marks=[pytest.mark.xfail(reason=_REDUCTION_DIFFERS[k], strict=True)]
            if k in _REDUCTION_DIFFERS
            else [],
        )
        for k in REDUCTION_GROUPS
    ],
    ids=lambda k: f"{k[0]}-{k[1]}",
)
def test_the_unfused_reduction_gives_the_table_s_results(backend: str, key: tuple[str, str]) -> None:
    def run(x: np.ndarray, dt: dtypes.DType) -> np.ndarray:
        sample = reg.Sample([x], {"axis": (1,), "keepdims": False}, grad=False)
        return H.run_on_backend(backend, reg.get(key[0]), sample)[0]

    assert _reduction_mismatches(*key, run) == []
