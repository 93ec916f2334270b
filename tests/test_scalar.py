"""Scalar expressions: the compiled NumPy form (scalar.compile_numpy) against the plain
tree walk (scalar.evaluate) on random expression DAGs, and the NumPy backend's Fused
nodes on the shapes the compiled form does not work out by itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphc import dtypes
from graphc import scalar as S
from graphc.ir.program import Node, Output, Param, Program, Value
from graphc.ir.verify import verify
from graphc.runtime.backend import get_backend, run_program

# Primitive signatures by kind of value: "f" float, "i" integer, "b" bool.
_UNARY = {
    "f": ["neg", "abs", "sign", "exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tanh", "erf"]
    + ["floor", "ceil", "round"],
    "i": ["neg", "abs", "sign"],
    "b": ["not"],
}
_BINARY = {
    "f": ["add", "sub", "mul", "div", "pow", "max", "min", "floordiv", "mod"],
    # No pow: NumPy raises for integers to negative integer powers.
    "i": ["add", "sub", "mul", "max", "min", "floordiv", "mod"],
    "b": ["and", "or"],
}
_COMPARE = ["lt", "le", "gt", "ge", "eq", "ne"]
_CASTS = [("f", "i", "int32"), ("i", "f", "float64"), ("b", "f", "float32"), ("f", "f", "float32")]


def _inputs(rng: np.random.Generator) -> list[np.ndarray]:
    x = rng.normal(size=(3, 4)) * 3.0
    x[0, 0], x[1, 1], x[2, 2] = 0.0, -0.0, np.inf  # edge values: errors must stay silent
    return [
        x,
        rng.normal(size=(4,)),
        np.asarray(rng.normal()),
        rng.random((3, 1)) < 0.5,
        rng.integers(-3, 4, size=(4,)).astype(np.int32),  # zeros: integer division by zero
    ]


def _random_expr(rng: np.random.Generator, n_nodes: int) -> list[S.SExpr]:
    """Random well-typed expressions over _inputs; later ones reuse earlier ones (a DAG)."""
    pool: dict[str, list[S.SExpr]] = {
        "f": [S.inp(0), S.inp(1), S.inp(2), S.const(0.5), S.const(-2.0), S.const(np.float32(1.5))],
        "i": [S.inp(4), S.const(3), S.const(np.int32(-2))],
        "b": [S.inp(3), S.const(True)],
    }
    made: list[S.SExpr] = []

    def pick(kind: str) -> S.SExpr:
        options = pool[kind]
        # Favour recent nodes so that expressions grow deep, not only wide.
        k = len(options) - 1 - min(int(rng.exponential(3.0)), len(options) - 1)
        return options[k]

    for _ in range(n_nodes):
        form = rng.choice(["unary", "binary", "compare", "select", "cast"], p=[0.25, 0.35, 0.1, 0.15, 0.15])
        if form == "unary":
            kind = str(rng.choice(["f", "f", "i", "b"]))
            e = S.call(str(rng.choice(_UNARY[kind])), pick(kind))
        elif form == "binary":
            kind = str(rng.choice(["f", "f", "i", "b"]))
            e = S.call(str(rng.choice(_BINARY[kind])), pick(kind), pick(kind))
        elif form == "compare":
            src = str(rng.choice(["f", "i"]))
            kind = "b"
            e = S.call(str(rng.choice(_COMPARE)), pick(src), pick(src))
        elif form == "select":
            kind = str(rng.choice(["f", "i"]))
            e = S.call("select", pick("b"), pick(kind), pick(kind))
        else:
            src, kind, dtype = _CASTS[int(rng.integers(len(_CASTS)))]
            e = S.call("cast", pick(src), attr=dtype)
        pool[kind].append(e)
        made.append(e)
    return made


def _assert_identical(got: Any, want: Any) -> None:
    g, w = np.asarray(got), np.asarray(want)
    assert type(got) is type(want)
    assert g.dtype == w.dtype and g.shape == w.shape
    assert g.tobytes() == w.tobytes(), (g, w)  # bit for bit: the same NumPy calls


@pytest.mark.parametrize("seed", range(40))
def test_compiled_expressions_match_evaluate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ins = _inputs(rng)
    made = _random_expr(rng, int(rng.integers(5, 40)))
    for expr in [made[-1], *(made[int(i)] for i in rng.integers(len(made), size=4))]:
        want = S.evaluate(expr, ins)
        fn = S.compile_numpy(expr)
        with np.errstate(all="ignore"):
            got = fn(ins)
            again = fn(ins)  # a compiled function is reusable
        _assert_identical(got, want)
        _assert_identical(again, want)


def test_compiled_leaves_and_shared_subexpressions() -> None:
    x = np.arange(4.0)
    assert S.compile_numpy(S.inp(0))([x]) is x
    assert S.compile_numpy(S.const(2.5))([x]) == 2.5
    e = S.call("exp", S.inp(0))
    shared = S.call("add", e, S.call("exp", S.inp(0)))  # equal subexpressions: computed once
    calls: list[int] = []
    real_exp = S.PRIMITIVES["exp"]
    S.PRIMITIVES["exp"] = lambda a: calls.append(1) or real_exp(a)
    try:
        fn = S.compile_numpy(shared)
    finally:
        S.PRIMITIVES["exp"] = real_exp
    np.testing.assert_array_equal(fn([x]), 2 * np.exp(x))
    assert len(calls) == 1


def test_compiling_a_deep_expression_does_not_recurse() -> None:
    e = S.inp(0)
    for k in range(5000):
        e = e * 1.0001 + (k % 3)
    x = np.linspace(-1, 1, 5)
    with np.errstate(all="ignore"):
        got = S.compile_numpy(e)([x])
    _assert_identical(got, S.evaluate(e, [x]))


# -- the NumPy backend's Fused nodes ----------------------------------------------------------------
def _fused_program(expr: S.SExpr, shapes: list[tuple[int, ...]], **reduce: Any) -> Program:
    f64 = dtypes.float64
    ins = [Value(f64, s) for s in shapes]
    out_shape = np.broadcast_shapes(*shapes) if shapes else ()
    if reduce:
        out_shape = tuple(d for i, d in enumerate(out_shape) if i not in reduce["axis"])
    out = Value(f64, tuple(out_shape))
    node = Node("Fused", ins, {"expr": expr, "dtype": f64, "ops": ("Test",), **reduce}, [out])
    out.producer = node
    params = [Param(v, "feed", f"in{i}") for i, v in enumerate(ins)]
    program = Program(params, [node], [Output(out, "fetch", "0")])
    verify(program)
    return program


@pytest.mark.parametrize(
    "expr,want",
    [
        # Reads every input: the result has the broadcast shape by itself.
        (S.call("mul", S.inp(0), S.inp(1)), lambda a, b: a * b),
        # Reads only in(1), or nothing: the result is broadcast to the inputs' shape.
        (S.call("exp", S.inp(1)), lambda a, b: np.broadcast_to(np.exp(b), (3, 4))),
        (S.const(2.0), lambda a, b: np.full((3, 4), 2.0)),
        (S.call("div", S.inp(0), 0.0), lambda a, b: a / 0.0),  # no warning, no error
    ],
)
def test_fused_node_shapes(expr: S.SExpr, want: Any) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    exe = get_backend("numpy").compile(_fused_program(expr, [(3, 4), (4,)]))
    with np.errstate(all="raise"):  # the run ignores floating-point errors itself
        (got,) = exe.run([a, b], {})
    with np.errstate(all="ignore"):
        expected = np.asarray(want(a, b))
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert got.flags.writeable


def test_fused_node_with_a_reduction_epilogue() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    for expr, want in [
        (S.call("mul", S.inp(0), S.inp(1)), (a * b).sum(axis=1)),
        (S.call("exp", S.inp(1)), np.broadcast_to(np.exp(b), (3, 4)).sum(axis=1)),
    ]:
        program = _fused_program(expr, [(3, 4), (4,)], reduce="Sum", axis=(1,), keepdims=False)
        (got,) = run_program(get_backend("numpy"), program, [a, b])
        np.testing.assert_allclose(got, want, rtol=1e-15)
