"""Memory planning: liveness, buffer reuse, in-place updates, and the peak as a formula
in the symbolic dims (checked against a brute-force count and for soundness)."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as tf
from graphc import symbolic as sym
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.passes.fuse import fuse
from graphc.passes.memory import MemoryPlan, PeakFormula, plan_memory, provably_ge, value_bytes


def lowered(targets: Sequence[Any], shapes: dict[Any, tuple[int, ...]] | None = None) -> Program:
    feeds = {t: (t.dtype, s) for t, s in (shapes or {}).items()}
    return lower(tf.get_default_graph(), list(targets), feeds).program


def planned(program: Program) -> MemoryPlan:
    before = program.canonical_text()
    digest = program.content_hash()
    out = plan_memory(program)
    assert out.canonical_text() == before and out.content_hash() == digest  # the program is unchanged
    plan = out.meta["memory_plan"]
    assert isinstance(plan, MemoryPlan)
    assert plan_memory(out).canonical_text() == before  # idempotent
    return plan


def n_symbol(program: Program) -> str:
    (s,) = program.symbols()
    return s


# -- brute force ---------------------------------------------------------------------------------
def intervals(program: Program) -> dict[int, tuple[int, int]]:
    """id(value) -> (defining node, last node that needs it) for values the program makes."""
    end = len(program.nodes)
    out: dict[int, tuple[int, int]] = {}
    for i, n in enumerate(program.nodes):
        if n.op == "Const":
            continue
        for v in n.outputs:
            out[id(v)] = (i, i)
    for i, n in enumerate(program.nodes):
        for v in n.inputs:
            if id(v) in out:
                out[id(v)] = (out[id(v)][0], i)
    for o in program.outputs:
        if id(o.value) in out:
            out[id(o.value)] = (out[id(o.value)][0], end)
    return out


def brute_force_live_peak(program: Program, env: dict[str, int]) -> int:
    spans = intervals(program)
    size = {id(v): sym.evaluate(value_bytes(v), env) for v in program.values()}
    return max(
        [sum(size[k] for k, (a, b) in spans.items() if a <= i <= b) for i in range(len(program.nodes))] or [0]
    )


def check_sound(program: Program, plan: MemoryPlan, env: dict[str, int]) -> None:
    """Values sharing a buffer never hold it at the same time, except an in-place output
    taking over from an input that dies at the very node that makes the output; every value
    fits its buffer; the peak lies between the live lower bound and the footprints."""
    spans = intervals(program)
    by_buffer: dict[int, list[int]] = {}
    for v in program.values():
        b = plan.buffer_of[id(v)]
        assert sym.evaluate(value_bytes(v), env) <= sym.evaluate(plan.buffers[b].size, env)
        if id(v) in spans:
            by_buffer.setdefault(b, []).append(id(v))
    in_place = {(p.node, p.input, p.output) for p in plan.in_place}
    for ids in by_buffer.values():
        for x in ids:
            for y in ids:
                if x == y:
                    continue
                (a1, b1), (a2, _) = spans[x], spans[y]
                if a1 <= a2 <= b1:  # y is made while x is alive
                    assert b1 == a2 and (a2, plan.labels[x], plan.labels[y]) in in_place, (
                        f"{plan.labels[x]} and {plan.labels[y]} overlap in one buffer"
                    )
    assert plan.live_peak.evaluate(env) == brute_force_live_peak(program, env)
    assert plan.evaluate(env) <= sym.evaluate(plan.arena_bytes, env) <= sym.evaluate(plan.naive_bytes, env)


# -- formulas --------------------------------------------------------------------------------------
def test_provably_ge_and_peak_pruning() -> None:
    n, m = sym.symbol("N"), sym.symbol("M")
    assert provably_ge(4 * n + 8, 4 * n) and provably_ge(8 * n, 4 * n) and not provably_ge(4 * n, 8 * n)
    assert not provably_ge(n, m) and not provably_ge(4 * n, 100) and provably_ge(4 * n + 100, 100)
    peak = PeakFormula.of([4 * n, 8 * n + 4, 100, 6 * n, n * m, 12])
    assert sorted(str(f) for f, _ in peak.candidates) == ["100", "8*N + 4", "M*N"]
    assert peak.evaluate({"N": 10, "M": 1}) == 100
    assert peak.evaluate({"N": 10, "M": 100}) == 1000
    assert peak.argmax({"N": 100, "M": 1}) == (804, 1)


def test_an_elementwise_chain_runs_in_one_buffer() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.tanh(-tf.exp(x))
    p = lowered([y], {x: (3, 4)})
    plan = planned(p)
    n = n_symbol(p)
    assert plan.n_values == 3 and plan.n_buffers == 1
    assert len(plan.in_place) == 2  # Neg over Exp's output, Tanh over Neg's
    assert str(plan.peak) == f"16*{n}" and plan.evaluate({n: 10}) == 160
    assert str(plan.naive_bytes) == f"48*{n}" and str(plan.arena_bytes) == f"16*{n}"
    check_sound(p, plan, {n: 7})


def test_a_feed_is_never_overwritten() -> None:
    x = tf.placeholder(tf.float32, [5])
    plan = planned(lowered([tf.exp(x)], {x: (5,)}))
    assert plan.in_place == [] and plan.n_buffers == 1
    assert plan.input_bytes["feed"] == 20


def test_dead_buffers_are_reused_when_the_sizes_match() -> None:
    x = tf.placeholder(tf.float32, [None, 8])
    w = tf.Variable(np.eye(8, dtype=np.float32))
    a = tf.matmul(x, w)
    b = tf.matmul(a, w)
    c = tf.matmul(b, w)  # a is dead by now: c takes a's buffer
    p = lowered([c], {x: (2, 8)})
    plan = planned(p)
    assert plan.n_values == 3 and plan.n_buffers == 2
    a_v, b_v, c_v = (n.outputs[0] for n in p.nodes)
    assert plan.buffer_of[id(c_v)] == plan.buffer_of[id(a_v)] != plan.buffer_of[id(b_v)]
    check_sound(p, plan, {n_symbol(p): 3})


def test_symbolic_sizes_are_reused_only_when_the_formulas_are_equal() -> None:
    x = tf.placeholder(tf.float32, [None, 8])
    a = tf.matmul(x, tf.Variable(np.ones((8, 4), np.float32)))  # [N, 4]
    b = tf.matmul(a, tf.Variable(np.ones((4, 16), np.float32)))  # [N, 16]
    c = tf.matmul(b, tf.Variable(np.ones((16, 2), np.float32)))  # [N, 2]: smaller than a, yet not reused
    p = lowered([c], {x: (2, 8)})
    plan = planned(p)
    assert plan.n_buffers == 3
    check_sound(p, plan, {n_symbol(p): 5})


def test_static_sizes_reuse_the_smallest_large_enough_dead_buffer() -> None:
    x = tf.placeholder(tf.float32, [4, 4])
    small = tf.matmul(x, tf.Variable(np.ones((4, 2), np.float32)))  # 32 B
    big = tf.matmul(x, tf.Variable(np.ones((4, 8), np.float32)))  # 128 B, made while small is alive
    s = tf.reduce_sum(small) + tf.reduce_sum(big) + tf.reduce_max(small)  # both are dead after this
    last = tf.matmul(x, tf.Variable(np.ones((4, 1), np.float32)))  # 16 B, made after s
    p = lowered([s * last], {x: (4, 4)})
    plan = planned(p)
    small_v, big_v, last_v = (n.outputs[0] for n in p.nodes if n.op == "MatMul")
    assert plan.buffer_of[id(last_v)] == plan.buffer_of[id(small_v)] != plan.buffer_of[id(big_v)]
    check_sound(p, plan, {})


def test_variable_updates_are_in_place_when_the_old_value_dies_there() -> None:
    w = tf.Variable(np.ones((3, 4), np.float32), name="w")
    v = tf.Variable(np.ones((3, 4), np.float32), name="v")
    step = tf.group(tf.assign(w, w * 0.9 + 1.0), tf.assign(v, tf.exp(v)))
    p = lowered([step])
    unfused = planned(p)
    # Unfused, w dies at the Mul while its new value is made by the Add: not in place.
    assert [x.variable for x in unfused.in_place if x.variable] == ["v"]
    f = fuse(p)
    plan = planned(f)
    assert sorted(x.variable for x in plan.in_place if x.variable) == ["v", "w"]
    assert plan.n_buffers == 0 and plan.evaluate() == 0  # both new values live in the variables
    check_sound(f, plan, {})


def test_a_variable_read_after_its_update_is_not_overwritten() -> None:
    w = tf.Variable(np.ones((3,), np.float32), name="w")
    new = tf.assign(w, tf.exp(w))
    p = lowered([new, w * 2.0])  # the second fetch reads the old value, after the Exp
    assert [n.op for n in p.nodes if n.op != "Const"] == ["Exp", "Mul"]
    plan = planned(p)
    assert not any(x.variable == "w" for x in plan.in_place)
    check_sound(p, plan, {})


def test_constants_are_read_only_and_not_counted() -> None:
    x = tf.placeholder(tf.float32, [3])
    p = lowered([tf.exp(tf.constant([1.0, 2.0, 3.0]) * 2.0) + x], {x: (3,)})
    plan = planned(p)
    consts = [n.outputs[0] for n in p.nodes if n.op == "Const"]
    assert consts and all(plan.buffers[plan.buffer_of[id(c)]].owner == "const" for c in consts)
    assert all(x.input not in {plan.labels[id(c)] for c in consts} for x in plan.in_place)


def test_the_peak_is_a_formula_evaluated_per_run_without_replanning() -> None:
    x = tf.placeholder(tf.float32, [None, 10])
    h = tf.nn.relu(tf.matmul(x, tf.Variable(np.ones((10, 30), np.float32))))
    y = tf.reduce_sum(tf.matmul(h, tf.Variable(np.ones((30, 2), np.float32))), axis=1)
    p = fuse(lowered([y], {x: (2, 10)}))
    plan = planned(p)
    n = n_symbol(p)
    for batch in (1, 7, 128):
        env = p.bind_dims([(batch, 10), (10, 30), (30, 2)])
        assert env == {n: batch}
        check_sound(p, plan, env)
        assert plan.evaluate(env) == max(sym.evaluate(f, env) for f, _ in plan.peak.candidates)
    assert plan.evaluate({n: 128}) > plan.evaluate({n: 1})


def test_describe_shows_formulas_and_numbers() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    w = tf.Variable(np.ones((4, 4), np.float32), name="w")
    loss = tf.reduce_sum(tf.square(tf.matmul(x, w)))
    step = tf.assign_sub(w, 0.1 * tf.gradients(loss, [w])[0])
    p = fuse(lowered([loss, step], {x: (2, 4)}))
    plan = planned(p)
    n = n_symbol(p)
    text = plan.describe({n: 32})
    assert "feeds (caller)" in text and f"16*{n} B = 512 B" in text
    assert "values ->" in text and "buffers after reuse" in text
    assert "peak live, planned" in text and "in-place updates:" in text and "(variable 'w')" in text
    assert "= " not in plan.describe().split("feeds (caller)")[1].splitlines()[0]  # formulas only


# -- the MLP step, and random programs ----------------------------------------------------------------
def mlp(adam: bool) -> tuple[list[Any], dict[Any, tuple[int, ...]]]:
    x = tf.placeholder(tf.float32, [None, 20])
    y = tf.placeholder(tf.float32, [None, 4])
    h = x
    for k, (a, b) in enumerate([(20, 16), (16, 16), (16, 4)]):
        h = tf.matmul(h, tf.Variable(np.full((a, b), 0.1, np.float32))) + tf.Variable(np.zeros(b, np.float32))
        h = tf.nn.relu(h) if k < 2 else h
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=h))
    if adam:
        step = tf.train.AdamOptimizer(0.01).minimize(loss)
    else:
        vs = tf.trainable_variables()
        step = tf.group(*[tf.assign_sub(v, 0.1 * g) for v, g in zip(vs, tf.gradients(loss, vs), strict=True)])
    return [loss, step], {x: (8, 20), y: (8, 4)}


@pytest.mark.parametrize("adam", [False, True])
def test_the_training_step_plan_is_sound_and_fusion_lowers_the_peak(adam: bool) -> None:
    targets, shapes = mlp(adam)
    p = lowered(targets, shapes)
    f = fuse(p)
    before, after = planned(p), planned(f)
    n = n_symbol(p)
    for batch in (1, 64):
        check_sound(p, before, {n: batch})
        check_sound(f, after, {n: batch})
        assert after.evaluate({n: batch}) <= before.evaluate({n: batch})
    assert after.n_buffers <= before.n_buffers
    n_vars = sum(1 for q in p.params if q.kind == "variable")
    assert sum(1 for x in after.in_place if x.variable) == n_vars  # every variable updated in place


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["exp", "matmul", "add", "sum", "neg"]), st.integers(0, 50)),
        min_size=1,
        max_size=12,
    )
)
def test_random_plans_are_sound(steps: list[tuple[str, int]]) -> None:
    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float32, [None, 6])
        w = tf.Variable(np.ones((6, 6), np.float32))
        values: list[Any] = [x]
        for op, k in steps:
            a = values[k % len(values)]
            b = values[(k * 7 + 3) % len(values)]
            if op == "exp":
                values.append(tf.exp(a))
            elif op == "neg":
                values.append(-a)
            elif op == "matmul":
                values.append(tf.matmul(a, w) if a.shape.as_list()[-1] == 6 else a * 2.0)
            elif op == "add":
                values.append(a + b)
            else:
                values.append(tf.reduce_sum(a, axis=-1, keepdims=True))
        targets = [values[-1], values[len(values) // 2]]
        p = lower(g, targets, {x: (tf.float32, (2, 6))}).program
    for prog in (p, fuse(p)):
        plan = planned(prog)
        for batch in (1, 5):
            check_sound(prog, plan, {s: batch for s in prog.symbols()})
