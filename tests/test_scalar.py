"""Scalar expressions: the compiled NumPy form (scalar.compile_numpy) against the plain
walk (scalar.evaluate) on random expression DAGs; typing (weak literals, refusals, the
dtype in an expression's identity, every op's typed scalar rule against its reference);
and the Fused op's NumPy form: shapes the compiled expression does not work out by
itself, and reduction epilogues bit for bit against the reduction ops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphc import dtypes
from graphc import scalar as S
from graphc.ir.program import Node, Output, Param, Program, Value
from graphc.ir.verify import verify
from graphc.ops import fused_ops
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


def _random_expr(
    rng: np.random.Generator,
    n_nodes: int,
    pool: dict[str, list[S.SExpr]] | None = None,
    casts: list[tuple[str, str, str]] = _CASTS,
) -> list[S.SExpr]:
    """Random expressions over _inputs, of the right kinds (float, integer, bool) for each
    primitive; later ones reuse earlier ones (a DAG)."""
    pool = pool or {
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
            src, kind, dtype = casts[int(rng.integers(len(casts)))]
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


# -- typing -----------------------------------------------------------------------------------------
F32, F64, I32, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))


def test_weak_literals_take_the_dtype_their_primitive_implies() -> None:
    x, i, c = S.inp(0, F32), S.inp(1, I32), S.inp(2, BOOL)
    relu = S.typed(S.call("max", x, 0))
    assert relu.dtype == F32 and relu.args[1].attr.dtype == F32 and relu.args[1].attr == 0
    # Comparisons give bool and type their literal as the other operand.
    gt = S.typed(S.call("gt", i, 2.0))
    assert gt.dtype == BOOL and gt.args[1].attr.dtype == I32
    # A select's condition is bool, its branches the result's dtype.
    sel = S.typed(S.call("select", True, x, 1.5))
    assert sel.args[0].attr.dtype == BOOL and sel.args[2].attr.dtype == F32
    assert S.typed(S.call("select", c, 1, 2), I64).dtype == I64
    assert S.typed(S.call("and", c, True)).args[1].attr.dtype == BOOL
    # A cast carries its target; a weak literal under it is NumPy's default for the value.
    cast = S.typed(S.call("cast", 2.5, attr="int32"))
    assert cast.dtype == I32 and cast.args[0].attr.dtype == F64
    # A weak subexpression takes the dtype of what it meets.
    nested = S.typed(x * (S.const(1.0) + 2.0))
    assert [e.dtype for e in S.postorder(nested)] == [F32] * 5
    # A weak root takes the dtype asked for (ZerosLike's 0 for a bool output is False).
    assert S.typed(S.const(0), BOOL).attr is np.bool_(False)
    assert S.typed(S.const(0.5) * 2.0, F32).dtype == F32
    assert S.typed(S.const(0.5)).dtype == F64  # no context: NumPy's default
    # Every node of a typed expression has its dtype; typing a typed one changes nothing.
    assert S.is_typed(relu) and not S.is_typed(S.call("max", x, 0))
    assert S.typed(relu) is relu


@pytest.mark.parametrize(
    "expr,dtype,message",
    [
        (S.call("add", S.inp(0, F32), S.inp(1, F64)), None, "one dtype"),
        (S.call("add", S.inp(0, F32), S.const(np.float64(1.0))), None, "one dtype"),
        (S.call("add", S.inp(0), 1.0), None, "in0 has no dtype"),
        (S.call("mul", S.inp(0, I32), 0.5), None, "not an integer"),
        (S.call("add", S.inp(0, np.int8), 300), None, "out of range"),
        (S.call("add", S.inp(0, np.float16), 1e6), None, "overflows"),
        (S.call("select", S.inp(0, F32), 1.0, 2.0), None, "bool condition"),
        (S.call("exp", S.inp(0, I32)), None, "does not take int32"),
        (S.call("div", S.inp(0, I32), S.inp(1, I32)), None, "does not take int32"),
        (S.call("and", S.inp(0, F32), True), None, "does not take float32"),
        (S.call("exp", S.inp(0, F32)), F64, "gives float32, not float64"),
        (S.call("not", S.const(2)), None, "not a bool"),
    ],
)
def test_ill_typed_expressions_are_refused(expr: S.SExpr, dtype: Any, message: str) -> None:
    with pytest.raises(S.ScalarTypeError, match=message):
        S.typed(expr, dtype)


def test_the_dtype_is_part_of_an_expression_s_identity() -> None:
    assert S.inp(0, F32) is S.inp(0, F32) and S.inp(0, F32) is not S.inp(0, F64)
    assert S.inp(0, F32) is not S.inp(0)
    assert S.const(np.int64(1)) is not S.const(np.float32(1.0))
    assert S.const(np.float32(0.0)) is not S.const(np.float32(-0.0))
    assert S.const(1) is not S.const(1.0) and S.const(0.0) is not S.const(-0.0)
    x = S.inp(0, F32)
    assert S.typed(S.call("max", x, 0)) is S.call("max", x, np.float32(0))
    assert S.typed(S.call("max", x, 0)) is not S.typed(S.call("max", S.inp(0, F64), 0))
    # A dtype given for a primitive (as a stored program has it) must agree with its rule.
    assert S.SExpr("exp", (x,), None, F32) is S.call("exp", x)
    with pytest.raises(ValueError, match="gives float32"):
        S.SExpr("exp", (x,), None, F64)


_TYPED_CASTS = [("f", "i", "int32"), ("i", "f", "float64"), ("b", "f", "float64"), ("f", "f", "float64")]


@pytest.mark.parametrize("seed", range(20))
def test_typed_expressions_evaluate_in_their_dtypes(seed: int) -> None:
    # float64, int32 and bool inputs; weak and typed literals; every node's NumPy result
    # has the node's dtype (no promotion is left to NumPy).
    rng = np.random.default_rng(seed)
    ins = _inputs(rng)
    pools = {
        "f": [S.inp(0, F64), S.inp(1, F64), S.inp(2, F64), S.const(0.5), S.const(np.float64(-2.0))],
        "i": [S.inp(4, I32), S.const(3), S.const(np.int32(-2))],
        "b": [S.inp(3, BOOL), S.const(True)],
    }
    made = _random_expr(rng, int(rng.integers(5, 40)), pools, _TYPED_CASTS)
    for expr in made:
        t = S.typed(expr, None)
        assert S.is_typed(t)
        for e in S.postorder(t):
            if e.op != "in":
                assert np.asarray(S.evaluate(e, ins)).dtype == e.dtype, (e, e.dtype)
        with np.errstate(all="ignore"):
            _assert_identical(S.compile_numpy(t)(ins), S.evaluate(t, ins))


def test_walks_do_not_recurse() -> None:
    x = S.inp(0, F32)
    e = x
    for _ in range(3000):  # deeper than Python's recursion limit
        e = S.call("tanh", e) * 1.5
    assert S.depth(e) == 6000 and S.inputs_read(e) == {0}
    assert len(S.postorder(e)) == 6002  # x, the literal, and the primitives
    t = S.typed(e)
    assert S.is_typed(t) and S.typed(t) is t and S.depth(t) == 6000
    assert repr(t).count("tanh(") == 3000 and S.format_expr(t).count("tanh") == 3000


def test_every_elementwise_op_s_scalar_rule_types_and_matches_its_reference() -> None:
    # The typed scalar expression of each elementwise op, evaluated as a fused node does,
    # gives its reference's result bit for bit on the op's samples.
    import graphc  # noqa: F401  (registers every op)
    from graphc import registry as reg

    checked = 0
    for opdef in reg.all_ops():
        if not opdef.has("elementwise") or opdef.samples is None:
            continue
        for sample in opdef.samples(np.random.default_rng(0)):
            ins = [np.asarray(x) for x in sample.inputs]
            with np.errstate(all="ignore"):
                want = np.asarray(opdef.reference(ins, dict(sample.attrs))[0])
            rule = opdef.scalar([S.inp(i, x.dtype) for i, x in enumerate(ins)], sample.attrs)  # type: ignore[misc]
            expr = S.typed(rule if isinstance(rule, S.SExpr) else S.const(rule), want.dtype)
            got = np.broadcast_to(np.asarray(S.evaluate(expr, ins)), want.shape)
            assert got.dtype == want.dtype, opdef.name
            assert got.tobytes() == np.ascontiguousarray(want).tobytes(), opdef.name
            checked += 1
    assert checked > 50


# -- the NumPy backend's Fused nodes ----------------------------------------------------------------
def _fused_program(
    expr: S.SExpr, shapes: list[tuple[int, ...]], reduce: tuple[str, tuple[int, ...]] | None = None
) -> Program:
    f64 = dtypes.float64
    ins = [Value(f64, s) for s in shapes]
    shape = tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    attrs = fused_ops.elementwise_attrs(expr, f64, shape, shapes, ("Test",))
    out_shape = shape
    if reduce is not None:
        attrs.update(fused_ops.reduction_attrs(reduce[0], f64, shape, reduce[1], False))
        out_shape = tuple(d for i, d in enumerate(shape) if i not in reduce[1])
    out = Value(f64, tuple(out_shape))
    node = Node("Fused", ins, attrs, [out])
    out.producer = node
    params = [Param(v, "feed", f"in{i}") for i, v in enumerate(ins)]
    program = Program(params, [node], [Output(out, "fetch", "0")])
    verify(program)
    return program


_A, _B = S.inp(0, np.float64), S.inp(1, np.float64)


@pytest.mark.parametrize(
    "expr,want",
    [
        # Reads every input: the result has the broadcast shape by itself.
        (S.call("mul", _A, _B), lambda a, b: a * b),
        # Reads only in(1), or nothing: the result is broadcast to the iteration shape.
        (S.call("exp", _B), lambda a, b: np.broadcast_to(np.exp(b), (3, 4))),
        (S.const(2.0), lambda a, b: np.full((3, 4), 2.0)),
        (S.call("div", _A, 0.0), lambda a, b: a / 0.0),  # no warning, no error
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
        (S.call("mul", _A, _B), (a * b).sum(axis=1)),
        (S.call("exp", _B), np.broadcast_to(np.exp(b), (3, 4)).sum(axis=1)),
    ]:
        program = _fused_program(expr, [(3, 4), (4,)], reduce=("Sum", (1,)))
        (got,) = run_program(get_backend("numpy"), program, [a, b])
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "uint8"])
@pytest.mark.parametrize("op", ["Sum", "Mean", "Max", "Min", "Prod"])
@pytest.mark.parametrize("axes,keepdims", [((1,), False), ((0,), True), ((0, 1), False), ((), False)])
def test_fused_reductions_give_the_reduction_ops_bits(
    op: str, dtype: str, axes: tuple[int, ...], keepdims: bool
) -> None:
    # The monoid form gives what the unfused op's reference gives, bit for bit.
    import graphc  # noqa: F401  (registers every op)
    from graphc import registry as reg

    rng = np.random.default_rng(3)
    x = (
        (rng.normal(size=(5, 7)) * 4).astype(dtype)
        if dtype[0] == "f"
        else rng.integers(0, 9, (5, 7)).astype(dtype)
    )
    dt = dtypes.as_dtype(dtype)
    attrs = fused_ops.elementwise_attrs(S.inp(0, dt), dt, (5, 7), [(5, 7)], ("Test", op))
    attrs.update(fused_ops.reduction_attrs(op, dt, (5, 7), axes, keepdims))
    (got,) = reg.get("Fused").reference([x], attrs)
    with np.errstate(all="ignore"):  # float16 products overflow
        (want,) = reg.get(op).reference([x], {"axis": axes, "keepdims": keepdims})
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
