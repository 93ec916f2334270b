"""Elementwise fusion: which groups form, what they compute, and that fusing changes
no result (unit tests on small programs, an MLP training step, and random programs)."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import graphc as tf
from graphc import dtypes
from graphc import scalar as S
from graphc.ir.lower import lower
from graphc.ir.program import Node, Program, Value
from graphc.ir.verify import VerificationError, verify
from graphc.ops import fused_ops
from graphc.passes.fuse import fuse
from graphc.runtime.backend import get_backend, run_program


# -- helpers -------------------------------------------------------------------------------------
def lowered(targets: Sequence[Any], shapes: dict[Any, tuple[int, ...]] | None = None) -> Program:
    feeds = {t: (t.dtype, s) for t, s in (shapes or {}).items()}
    return lower(tf.get_default_graph(), list(targets), feeds).program


def fused(program: Program) -> Program:
    """fuse, verified, and checked to be idempotent and to leave its input alone."""
    before = program.canonical_text()
    out = fuse(program)
    verify(out)
    assert program.canonical_text() == before, "fuse changed its input program"
    again = fuse(out)
    assert again.canonical_text() == out.canonical_text(), "fuse is not idempotent"
    assert again.content_hash() == out.content_hash()
    return out


def ops(program: Program) -> list[str]:
    """The program's ops, constants left out."""
    return [n.op for n in program.nodes if n.op != "Const"]


def fused_nodes(program: Program) -> list[Node]:
    return [n for n in program.nodes if n.op == "Fused"]


def run(program: Program, inputs: Sequence[Any]) -> list[np.ndarray]:
    return [np.asarray(x) for x in run_program(get_backend("numpy"), program, inputs)]


def random_inputs(program: Program, env: dict[str, int], seed: int = 0) -> list[np.ndarray]:
    from graphc import symbolic as sym

    rng = np.random.default_rng(seed)
    out = []
    for p in program.params:
        shape = tuple(sym.evaluate(d, env) for d in p.value.shape)
        if p.value.dtype.is_bool:
            out.append(rng.integers(0, 2, size=shape).astype(bool))
        elif p.value.dtype.is_integer:
            out.append(rng.integers(1, 5, size=shape).astype(p.value.dtype.np))
        else:
            out.append(rng.normal(size=shape).astype(p.value.dtype.np))
    return out


def assert_same_results(a: Program, b: Program, env: dict[str, int] | None = None, seed: int = 0) -> None:
    inputs = random_inputs(a, env or {}, seed)
    for x, y in zip(run(a, inputs), run(b, inputs), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def var(shape: Sequence[int], name: str) -> tf.Variable:
    return tf.Variable(np.zeros(shape, dtype=np.float32), name=name)


# -- what groups form -----------------------------------------------------------------------------
def test_bias_add_and_relu_become_one_fused_node() -> None:
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    w, b = var([4, 3], "w"), var([3], "b")
    h = tf.nn.relu(tf.matmul(x, w) + b, name="act")
    p = lowered([h], {x: (2, 4)})
    f = fused(p)
    assert ops(f) == ["MatMul", "Fused"]
    (node,) = fused_nodes(f)
    assert node.attrs["ops"] == ("Add", "Relu")
    # Relu's literal 0 is typed as its operand: a float32 0.0.
    assert S.format_expr(node.attrs["expr"]) == "max(in0 + in1, 0.0)"
    assert node.attrs["expr"].args[1].attr.dtype == np.float32
    assert node.origin is not None and node.origin.name == "act"  # the group's root
    (n0,) = f.symbols()
    assert (
        "= Fused(%3, %2) {broadcast=((0, 1), (1,)), dtype=float32, "
        "expr=max(add(in0, in1), 0.0:float32), ops=('Add', 'Relu'), shape=(" + n0 + ", 3)}"
    ) in str(f)
    assert_same_results(p, f, {s: 5 for s in p.symbols()})


def test_a_chain_with_broadcasting_inputs_fuses_with_inputs_in_first_use_order() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    c = tf.placeholder(tf.float32, [3])
    r = tf.placeholder(tf.float32, [2, 1])
    y = tf.tanh(x * c + r) - c
    p = lowered([y], {x: (2, 3), c: (3,), r: (2, 1)})
    f = fused(p)
    assert ops(f) == ["Fused"]
    node = f.nodes[0]
    assert [f.params.index(next(q for q in f.params if q.value is v)) for v in node.inputs] == [0, 1, 2]
    assert S.format_expr(node.attrs["expr"]) == "tanh(in0 * in1 + in2) - in1"
    assert node.attrs["shape"] == (2, 3)
    assert node.attrs["broadcast"] == ((0, 1), (1,), (0, None))  # r's axis 1 is stretched
    assert_same_results(p, f)


def test_a_scalar_constant_becomes_a_literal() -> None:
    x = tf.placeholder(tf.float32, [4])
    p = lowered([tf.exp(x * 0.5) + 2.0], {x: (4,)})
    f = fused(p)
    assert ops(f) == ["Fused"]
    assert S.format_expr(f.nodes[0].attrs["expr"]) == "exp(in0 * 0.5) + 2.0"
    assert len(f.nodes[0].inputs) == 1
    assert_same_results(p, f)


def test_int_and_float_literals_stay_apart() -> None:
    # (i + 1) with an int64 1 and (f > 1.0) with a float32 1.0 in one group: the literals
    # must not merge (int64 arithmetic done in float64 would lose the last bit).
    i = tf.placeholder(tf.int64, [1])
    f = tf.placeholder(tf.float32, [1])
    p = lowered([(i + 1) * tf.cast(f > 1.0, tf.int64)], {i: (1,), f: (1,)})
    fp = fused(p)
    assert ops(fp) == ["Fused"]
    inputs = [np.array([2**60], np.int64), np.array([2.0], np.float32)]
    assert run(fp, inputs)[0][0] == run(p, inputs)[0][0] == 2**60 + 1


def test_matmul_is_never_in_a_group_and_splits_the_chain() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    w = var([3, 3], "w")
    y = tf.exp(tf.matmul(tf.tanh(x) * 2.0, w)) + 1.0
    p = lowered([y], {x: (2, 3)})
    f = fused(p)
    assert ops(f) == ["Fused", "MatMul", "Fused"]
    first, _, last = f.nodes
    assert first.attrs["ops"] == ("Tanh", "Mul") and last.attrs["ops"] == ("Exp", "Add")
    assert f.nodes[1].inputs[0] is first.outputs[0]
    assert_same_results(p, f)


@pytest.mark.parametrize("reduce", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"])
@pytest.mark.parametrize("axis,keepdims", [(1, False), (0, True), (None, False), ([0, 1], True)])
def test_a_reduction_ends_a_group(reduce: str, axis: Any, keepdims: bool) -> None:
    x = tf.placeholder(tf.float64, [3, 4])
    b = tf.placeholder(tf.float64, [4])
    y = getattr(tf, reduce)(tf.sigmoid(x + b) * 1.5, axis=axis, keepdims=keepdims)
    p = lowered([y], {x: (3, 4), b: (4,)})
    f = fused(p)
    assert ops(f) == ["Fused"]
    node = f.nodes[0]
    op = {
        "reduce_sum": "Sum",
        "reduce_mean": "Mean",
        "reduce_max": "Max",
        "reduce_min": "Min",
        "reduce_prod": "Prod",
    }
    assert fused_ops.reduction_label(node.attrs) == op[reduce]
    assert node.attrs["ops"] == ("Add", "Sigmoid", "Mul", op[reduce])
    expected_axis = {1: (1,), 0: (0,), None: (0, 1)}.get(axis if not isinstance(axis, list) else None, (0, 1))
    assert node.attrs["reduce_axes"] == expected_axis and node.attrs["keepdims"] == keepdims
    combiner, identity = {
        "reduce_sum": ("add", 0.0),
        "reduce_mean": ("add", 0.0),
        "reduce_max": ("max", -np.inf),
        "reduce_min": ("min", np.inf),
        "reduce_prod": ("mul", 1.0),
    }[reduce]
    assert node.attrs["combiner"] == combiner and node.attrs["accumulator_dtype"] == tf.float64
    assert node.attrs["identity"] == S.const(np.float64(identity))
    if reduce == "reduce_mean":
        assert node.attrs["count"] == int(np.prod([(3, 4)[a] for a in expected_axis]))
    else:
        assert "count" not in node.attrs
    assert_same_results(p, f)
    # Bit for bit the unfused reductions' results.
    inputs = random_inputs(p, {})
    for x, y in zip(run(p, inputs), run(f, inputs), strict=True):
        assert x.tobytes() == y.tobytes()


def test_a_reduction_is_only_ever_the_last_step() -> None:
    x = tf.placeholder(tf.float32, [3, 4])
    y = tf.exp(tf.reduce_sum(x * x, axis=1)) + 1.0
    p = lowered([y], {x: (3, 4)})
    f = fused(p)
    assert ops(f) == ["Fused", "Fused"]
    red, tail = f.nodes
    assert red.attrs["combiner"] == "add" and red.attrs["ops"] == ("Mul", "Sum")
    assert "combiner" not in tail.attrs and tail.attrs["ops"] == ("Exp", "Add")
    assert_same_results(p, f)


def test_a_reduction_of_a_matmul_stays_alone() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    y = tf.reduce_sum(tf.matmul(x, var([3, 3], "w")), axis=0)
    f = fused(lowered([y], {x: (2, 3)}))
    assert ops(f) == ["MatMul", "Sum"]


def test_an_expensive_shared_value_is_computed_once() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    e = tf.exp(x)
    p = lowered([e + 1.0, e * 2.0], {x: (2, 3)})
    f = fused(p)
    assert sorted(ops(f)) == ["Add", "Exp", "Mul"]  # nothing to fuse: every group has one op
    assert_same_results(p, f)


def test_a_value_used_outside_the_group_is_a_root() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    a = tf.tanh(x) * 3.0
    p = lowered([a, tf.exp(a) - 1.0], {x: (2, 3)})
    f = fused(p)
    assert ops(f) == ["Fused", "Fused"]
    assert f.nodes[0].attrs["ops"] == ("Tanh", "Mul")
    assert f.nodes[1].inputs == [f.nodes[0].outputs[0]]
    assert_same_results(p, f)


def test_a_cheap_producer_is_copied_into_each_consumer_group() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    z = tf.matmul(x, var([4, 3], "w")) + var([3], "b")
    p = lowered([tf.nn.relu(z), tf.tanh(z) * 2.0], {x: (2, 4)})
    f = fused(p)
    assert sorted(ops(f)) == ["Fused", "Fused", "MatMul"]  # z itself is never stored
    assert sorted(n.attrs["ops"] for n in fused_nodes(f)) == [("Add", "Relu"), ("Add", "Tanh", "Mul")]
    assert_same_results(p, f, {s: 3 for s in p.symbols()})


def test_an_expensive_producer_is_never_copied() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    z = tf.exp(tf.matmul(x, var([3, 3], "w")))
    f = fused(lowered([tf.nn.relu(z), tf.tanh(z)], {x: (2, 3)}))
    assert sorted(ops(f)) == ["Exp", "MatMul", "Relu", "Tanh"]


def test_a_scalar_computation_is_not_repeated_per_element() -> None:
    x = tf.placeholder(tf.float32, [5, 6])
    s = tf.placeholder(tf.float32, [])
    scale = tf.sqrt(1.0 - s) / (1.0 + s)
    p = lowered([x * scale + 1.0], {x: (5, 6), s: ()})
    f = fused(p)
    assert ops(f) == ["Fused", "Fused"]
    small, big = f.nodes
    assert small.outputs[0].shape == () and small.attrs["ops"] == ("Sub", "Sqrt", "Add", "RealDiv")
    assert big.attrs["ops"] == ("Mul", "Add") and small.outputs[0] in big.inputs
    assert_same_results(p, f)


def test_a_group_of_one_op_is_left_alone() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    p = lowered([tf.exp(x)], {x: (2, 3)})
    f = fused(p)
    assert ops(f) == ["Exp"] and "fusion_groups" in f.meta and f.meta["fusion_groups"] == []


def test_a_very_long_chain_fuses_into_one_group_that_prints_and_hashes() -> None:
    x = tf.placeholder(tf.float32, [3])
    y = x
    for k in range(3000):  # deeper than Python's recursion limit
        y = tf.tanh(y) * 1.0001 if k % 2 else y + 0.5
    p = lowered([y], {x: (3,)})
    f = fused(p)  # types, prints, hashes and verifies: no RecursionError
    assert ops(f) == ["Fused"]
    assert S.depth(f.nodes[0].attrs["expr"]) == 4500  # 1500 adds, 1500 (tanh, mul) pairs
    assert_same_results(p, f)


def test_random_and_stateful_ops_are_not_fused() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    y = tf.random_uniform([2, 3]) * x + 1.0
    f = fused(lowered([y], {x: (2, 3)}))
    assert any(n.op.startswith("Random") for n in f.nodes)
    assert all("Random" not in op for n in fused_nodes(f) for op in n.attrs["ops"])


def test_fusion_groups_are_recorded_for_inspection() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    b = var([4], "b")
    y = tf.reduce_sum(tf.nn.relu(x + b), axis=1)
    f = fused(lowered([y], {x: (2, 4)}))
    (group,) = f.meta["fusion_groups"]
    assert group["ops"] == ["Add", "Relu", "Sum"]
    assert group["expr"] == "max(in0 + in1, 0.0)" and group["reduce"] == "Sum" and group["axis"] == (1,)
    assert group["input_shapes"] == ["float32[N0,4]", "float32[4]"]
    assert group["output_shape"] == "float32[N0]"


def test_graphs_built_alike_fuse_to_the_same_hash() -> None:
    hashes = []
    for scope in ("a", "b"):
        with tf.Graph().as_default() as g, tf.name_scope(scope):
            x = tf.placeholder(tf.float32, [None, 4])
            y = tf.reduce_mean(tf.sigmoid(x * 2.0 + 1.0), axis=1)
            prog = lower(g, [y], {x: (tf.float32, (2, 4))}).program
            hashes.append(fuse(prog).content_hash())
    assert hashes[0] == hashes[1]


def test_a_fused_node_fuses_again_with_its_neighbours() -> None:
    from graphc.ir.program import Output, Param

    f64 = dtypes.float64
    x = Value(f64, (2, 3))

    def node(op: str, inputs: list[Value], attrs: dict[str, Any]) -> Node:
        n = Node(op, inputs, attrs, [])
        n.outputs = [Value(f64, (2, 3), n, 0)]
        return n

    neg = node("Neg", [x], {})
    inner_attrs = fused_ops.elementwise_attrs(
        S.call("exp", S.inp(0, f64)) * 2.0, f64, (2, 3), [(2, 3)], ("Exp", "Mul")
    )
    inner = node("Fused", neg.outputs, inner_attrs)
    tanh = node("Tanh", inner.outputs, {})
    p = Program([Param(x, "feed", "x")], [neg, inner, tanh], [Output(tanh.outputs[0], "fetch", "0")])
    verify(p)
    f = fused(p)
    assert ops(f) == ["Fused"]
    assert f.nodes[0].attrs["ops"] == ("Neg", "Exp", "Mul", "Tanh")
    assert S.format_expr(f.nodes[0].attrs["expr"]) == "tanh(exp(-in0) * 2.0)"
    assert_same_results(p, f)


def test_the_verifier_checks_fused_nodes() -> None:
    f32 = dtypes.float32
    a = Value(f32, (2, 3))
    from graphc.ir.program import Output, Param

    def program(attrs: dict[str, Any], out_shape: tuple[int, ...], out_dtype: Any = f32) -> Program:
        out = Value(out_dtype, out_shape)
        full = {"dtype": f32, "ops": ("Exp",), "shape": (2, 3), "broadcast": ((0, 1),), **attrs}
        node = Node("Fused", [a], full, [out])
        out.producer = node
        return Program([Param(a, "feed", "a")], [node], [Output(out, "fetch", "0")])

    x = S.inp(0, f32)
    sum_1 = fused_ops.reduction_attrs("Sum", f32, (2, 3), (1,), False)
    verify(program({"expr": S.call("exp", x)}, (2, 3)))
    verify(program({"expr": x, **sum_1}, (2,)))
    with pytest.raises(VerificationError, match="reads in"):
        verify(program({"expr": S.inp(1, f32)}, (2, 3)))
    with pytest.raises(VerificationError, match="rules say"):  # the output shape
        verify(program({"expr": x, **sum_1}, (2, 3)))
    with pytest.raises(VerificationError, match="reduce axes"):
        verify(program({"expr": x, **sum_1, "reduce_axes": (2,)}, (2,)))
    with pytest.raises(VerificationError, match="combiner"):
        verify(program({"expr": x, **sum_1, "combiner": "sub"}, (2,)))
    with pytest.raises(VerificationError, match="identity"):
        verify(program({"expr": x, **sum_1, "identity": S.const(0.0)}, (2,)))
    with pytest.raises(VerificationError, match="count"):
        verify(program({"expr": x, **sum_1, "count": 4}, (2,)))
    # Types: a weak literal, operands of different dtypes, a leaf of the wrong dtype.
    with pytest.raises(VerificationError, match="weak"):
        verify(program({"expr": S.call("max", x, 0)}, (2, 3)))
    with pytest.raises(VerificationError, match="one dtype"):
        verify(program({"expr": S.call("add", x, S.const(np.float64(1.0)))}, (2, 3)))
    with pytest.raises(VerificationError, match="in0 as float64"):
        verify(program({"expr": S.inp(0, np.float64), "dtype": dtypes.float64}, (2, 3), dtypes.float64))
    with pytest.raises(VerificationError, match="output is float64"):
        verify(program({"expr": x, "dtype": dtypes.float64}, (2, 3), dtypes.float64))
    # Broadcasts: the input's dims must be the iteration dims they run along.
    with pytest.raises(VerificationError, match="iteration axis"):
        verify(program({"expr": x, "broadcast": ((1, 0),)}, (2, 3)))
    with pytest.raises(VerificationError, match="stretched"):
        verify(program({"expr": x, "broadcast": ((0, None),)}, (2, 3)))
    with pytest.raises(VerificationError, match="must be equal"):
        verify(program({"expr": x, "shape": (2, 4)}, (2, 4)))


def test_fused_results_agree_with_int_and_bool_ops() -> None:
    i = tf.placeholder(tf.int32, [3, 4])
    m = tf.placeholder(tf.bool, [3, 4])
    y = tf.where(tf.logical_and(m, i > 2), i * 3 - 1, tf.zeros_like(i))
    p = lowered([tf.reduce_sum(y, axis=0), tf.cast(y, tf.float32) * 0.5], {i: (3, 4), m: (3, 4)})
    f = fused(p)
    assert len(fused_nodes(f)) >= 1
    assert_same_results(p, f)


# -- a training step, and the pipeline ---------------------------------------------------------------
def mlp_step() -> tuple[list[Any], dict[Any, tuple[int, ...]], Any, Any]:
    x = tf.placeholder(tf.float32, [None, 12], name="x")
    y = tf.placeholder(tf.float32, [None, 5], name="y")
    rng = np.random.default_rng(1)
    h = x
    params = []
    for k, (n_in, n_out) in enumerate([(12, 8), (8, 8), (8, 5)]):
        w = tf.Variable(rng.normal(size=(n_in, n_out)).astype(np.float32) * 0.3, name=f"w{k}")
        b = tf.Variable(np.zeros(n_out, np.float32), name=f"b{k}")
        params += [w, b]
        h = tf.matmul(h, w) + b
        if k < 2:
            h = tf.nn.relu(h)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=h))
    grads = tf.gradients(loss, params)
    step = tf.group(*[tf.assign_sub(v, 0.1 * g) for v, g in zip(params, grads, strict=True)])
    return [loss, step], {x: (16, 12), y: (16, 5)}, x, y


def test_a_training_step_fuses_and_gives_the_same_results() -> None:
    targets, shapes, _, _ = mlp_step()
    p = lowered(targets, shapes)
    f = fused(p)
    assert len(f.nodes) < len(p.nodes)
    assert any(n.attrs["ops"] == ("Add", "Relu") for n in fused_nodes(f))
    for n in f.nodes:
        if n.op == "MatMul":  # a matmul's inputs come from outside any group it could be in
            assert all(
                v.producer is None or v.producer.op != "MatMul" or v.producer is not n for v in n.inputs
            )
    assert_same_results(p, f, {s: 16 for s in p.symbols()})


def test_sessions_with_and_without_fusion_train_alike() -> None:
    targets, _, x, y = mlp_step()
    rng = np.random.default_rng(0)
    bx = rng.normal(size=(16, 12)).astype(np.float32)
    by = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 16)]
    losses = []
    for disable in ([], ["fuse"]):
        with tf.Session(config={"disable_passes": disable}) as sess:
            sess.run(tf.global_variables_initializer())
            losses.append([sess.run(targets, {x: bx, y: by})[0] for _ in range(5)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]


# -- random programs -----------------------------------------------------------------------------------
UNARY = ["tanh", "sigmoid", "negative", "abs", "square", "exp", "sin", "relu", "softplus"]
BINARY = ["add", "subtract", "multiply", "maximum", "minimum"]
SHAPES = [(2, 3), (3,), (1, 3), (2, 1), ()]
REDUCE = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"]


@st.composite
def programs(draw: Any) -> tuple[list[tuple], list[int]]:
    """A random DAG of elementwise ops (with broadcasting) and reductions, and which
    values it fetches: a list of steps, each reading earlier values by index."""
    steps: list[tuple] = []
    n_inputs = 3
    for _ in range(draw(st.integers(2, 14))):
        n = n_inputs + len(steps)
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "const"]))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(UNARY)), draw(st.integers(0, n - 1))))
        elif kind == "binary":
            steps.append(
                (
                    "binary",
                    draw(st.sampled_from(BINARY)),
                    draw(st.integers(0, n - 1)),
                    draw(st.integers(0, n - 1)),
                )
            )
        elif kind == "reduce":
            steps.append(
                ("reduce", draw(st.sampled_from(REDUCE)), draw(st.integers(0, n - 1)), draw(st.booleans()))
            )
        else:
            steps.append(("const", draw(st.sampled_from([0.5, 2.0, -1.0])), draw(st.integers(0, n - 1))))
    n = n_inputs + len(steps)
    others = draw(st.lists(st.integers(n_inputs, n - 2), max_size=2, unique=True))
    return steps, [n - 1, *others]


def build(steps: list[tuple], fetches: list[int]) -> tuple[tf.Graph, list[Any], dict[Any, Any]]:
    g = tf.Graph()
    with g.as_default():
        inputs = [tf.placeholder(tf.float64, s) for s in ((2, 3), (3,), (2, 1))]
        values: list[Any] = list(inputs)
        for step in steps:
            try:
                values.append(_apply(step, values))
            except ValueError:  # shapes that do not broadcast: this step reads its first operand
                values.append(values[step[2]])
        targets = [values[i] for i in fetches]
    return g, targets, {t: (t.dtype, tuple(t.shape.as_list())) for t in inputs}


def _apply(step: tuple, values: list[Any]) -> Any:
    if step[0] == "unary":
        fn = getattr(tf.nn if step[1] in ("relu", "softplus") else tf, step[1])
        return fn(values[step[2]])
    if step[0] == "binary":
        return getattr(tf, step[1])(values[step[2]], values[step[3]])
    if step[0] == "reduce":
        v = values[step[2]]
        return getattr(tf, step[1])(v, axis=-1 if v.shape.ndims else None, keepdims=step[3])
    return values[step[2]] * step[1]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2**16))
def test_random_programs_give_the_same_results_fused(case: tuple[list[tuple], list[int]], seed: int) -> None:
    steps, fetches = case
    g, targets, feeds = build(steps, fetches)
    p = lower(g, targets, feeds).program
    f = fused(p)
    for n in fused_nodes(f):
        assert len(n.attrs["ops"]) >= 2
    event("fused" if fused_nodes(f) else "nothing fused")
    event(
        "with a reduction epilogue" if any("combiner" in n.attrs for n in fused_nodes(f)) else "no epilogue"
    )
    assert_same_results(p, f, seed=seed)


def test_a_chain_that_reuses_values_stays_a_dag() -> None:
    # Each step reads `a` twice: printed or compared as a tree, the fused expression
    # would grow as 2**48; as a DAG it grows linearly.
    x = tf.placeholder(tf.float32, [4])
    a = x
    for _ in range(48):
        a = tf.cos(a) * a
    xv = np.full(4, 0.5, np.float32)
    with tf.Session() as on, tf.Session(config={"disable_passes": ["all"]}) as off:
        np.testing.assert_array_equal(on.run(a, {x: xv}), off.run(a, {x: xv}))
        (compiled,) = on._cache.values()
    text = str(compiled.lowered.program)
    assert "Fused" in text and len(text) < 20_000


def test_signed_zero_constants_stay_apart_in_a_fused_node() -> None:
    f = tf.placeholder(tf.float32, [2])
    c = tf.placeholder(tf.bool, [2])
    out = tf.where(c, 1.0 / (f * 0.0), 1.0 / (f * -0.0))
    with tf.Session() as sess:
        got = sess.run(out, {f: [1.0, 1.0], c: [True, False]})
    np.testing.assert_array_equal(got, [np.inf, -np.inf])


def test_an_ill_typed_scalar_rule_is_an_error_at_fusion(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc import registry as reg

    x = tf.placeholder(tf.float32, [2, 3])
    p = lowered([tf.nn.relu(x * 2.0)], {x: (2, 3)})
    # A Relu whose literal is a float64 0.0 next to a float32 operand: refused, not promoted.
    monkeypatch.setattr(
        reg.get("Relu"), "scalar", lambda args, attrs: S.call("max", args[0], np.float64(0.0))
    )
    with pytest.raises(S.ScalarTypeError, match="Relu.*one dtype, got float32 and float64"):
        fuse(p)


def test_a_fused_node_with_other_broadcasts_is_not_fused_again() -> None:
    from graphc.ir.program import Output, Param

    f64 = dtypes.float64
    a, m = Value(f64, (3,)), Value(f64, (3, 4))
    # in0 runs along the first iteration axis: not how NumPy would broadcast a (3,) value.
    attrs = {
        "expr": S.inp(0, f64) - S.inp(1, f64),
        "dtype": f64,
        "ops": ("Sub",),
        "shape": (3, 4),
        "broadcast": ((0,), (0, 1)),
    }
    inner = Node("Fused", [a, m], attrs, [])
    inner.outputs = [Value(f64, (3, 4), inner, 0)]
    tanh = Node("Tanh", inner.outputs, {}, [])
    tanh.outputs = [Value(f64, (3, 4), tanh, 0)]
    p = Program(
        [Param(a, "feed", "a"), Param(m, "feed", "m")], [inner, tanh], [Output(tanh.outputs[0], "fetch", "0")]
    )
    verify(p)
    f = fused(p)
    assert ops(f) == ["Fused", "Tanh"]
    av, mv = np.arange(3.0), np.ones((3, 4))
    np.testing.assert_array_equal(run(f, [av, mv])[0], np.tanh(av[:, None] - mv))


def test_a_group_only_takes_in_nodes_on_its_root_s_device() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    with tf.device("/cpu:0"):
        a = tf.tanh(x) * 2.0
    with tf.device("/cpu:1"):
        b = tf.exp(a) + 1.0
    p = lowered([b], {x: (2, 3)})
    f = fused(p)
    assert sorted(n.attrs["ops"] for n in fused_nodes(f)) == [("Exp", "Add"), ("Tanh", "Mul")]
    assert sorted(n.device for n in fused_nodes(f)) == sorted({n.device for n in p.nodes if n.op != "Const"})
    assert_same_results(p, f)
