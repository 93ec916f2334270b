"""Memory planning: liveness, in-place updates, the arena layout (offsets as formulas in the
symbolic dims), results kept out of the arena, the peak as a formula, the plan checker,
and plans that cannot be applied to a program they were not made for."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

import dataclasses
import runpy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as tf
from graphc import symbolic as sym
from graphc.ir.lower import lower
from graphc.ir.program import Program, canonicalize
from graphc.passes import pipeline
from graphc.passes.dce import dce
from graphc.passes.fuse import fuse
from graphc.passes.memory import (
    ALIGNMENT,
    MemoryPlan,
    PeakFormula,
    PlanError,
    StalePlanError,
    aligned,
    check_plan,
    plan_for,
    plan_memory,
    provably_ge,
    sample_envs,
    upper_bound,
    value_bytes,
)
from graphc.passes.rewrite import copy_program
from graphc.passes.simplify import simplify

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "inspect" / "mlp_step.py"


def lowered(targets: Sequence[Any], shapes: dict[Any, tuple[int, ...]] | None = None) -> Program:
    feeds = {t: (t.dtype, s) for t, s in (shapes or {}).items()}
    return lower(tf.get_default_graph(), list(targets), feeds).program


def planned(program: Program) -> MemoryPlan:
    before = program.canonical_text()
    digest = program.content_hash()
    out = plan_memory(program)
    assert out.canonical_text() == before and out.content_hash() == digest  # the program is unchanged
    plan = out.meta["memory_plan"]
    assert isinstance(plan, MemoryPlan) and plan.matches(out)
    assert plan_memory(out).canonical_text() == before  # idempotent
    return plan


def n_symbol(program: Program) -> str:
    (s,) = program.symbols()
    return s


def entry_of(plan: MemoryPlan, program: Program, v: Any) -> Any:
    return plan.entry(program, v)


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


def brute_force_arena_live(program: Program, plan: MemoryPlan, env: dict[str, int]) -> int:
    """The most bytes of arena values live at one node (in-place chains counted once)."""
    spans = intervals(program)
    num = program.numbering()
    best = 0
    for i in range(len(program.nodes)):
        seen: set[int] = set()
        total = 0
        for v in program.values():
            e = plan.entries[num[v]]
            if id(v) in spans and plan.buffers[e.buffer].kind == "arena" and e.buffer not in seen:
                a, b = spans[id(v)]
                if a <= i <= b:
                    seen.add(e.buffer)
                    total += sym.evaluate(e.bytes, env)
        best = max(best, total)
    return best


def check_sound(program: Program, plan: MemoryPlan, env: dict[str, int]) -> None:
    """The checker accepts the plan; the peak is the brute-force count for the live values
    and lies between the live lower bound and the footprints; the arena holds what is live."""
    check_plan(program, plan, env)
    assert plan.live_peak.evaluate(env) == brute_force_live_peak(program, env)
    peak, arena = plan.evaluate(env), plan.arena_bytes(env)
    assert brute_force_arena_live(program, plan, env) <= arena
    assert peak <= plan.footprint.evaluate(env) == arena + sym.evaluate(plan.result_bytes, env)
    assert plan.live_peak.evaluate(env) <= sym.evaluate(plan.naive_bytes, env)


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


def test_the_prover_knows_max_min_and_floordiv() -> None:
    n, m = sym.symbol("N"), sym.symbol("M")
    big = sym.maximum(1024 * n, 802816)
    assert provably_ge(big, 1024 * n) and provably_ge(big, 802816) and not provably_ge(big, 1024 * n + 1)
    assert provably_ge(big + 64, sym.maximum(1024 * n + 64, 802880))
    assert provably_ge(n, sym.minimum(n, m)) and not provably_ge(sym.minimum(n, m), n)
    assert provably_ge(aligned(16 * n), aligned(8 * n)) and not provably_ge(aligned(8 * n), aligned(16 * n))
    assert provably_ge(aligned(16 * n), 16 * n) and not provably_ge(aligned(16 * n), 2 * aligned(4 * n))
    assert not provably_ge(aligned(16 * n), 16 * n + 64)
    # A signed symbol (a fed integer used as a size) is not taken to be >= 0.
    assert not provably_ge(64 * SIGNED + 640, 640) and provably_ge(sym.maximum(SIGNED, 0), 0)
    assert provably_ge(SIGNED * SIGNED, 0) and provably_ge(aligned(64 * SIGNED * n), 0)
    assert "max(0, " in str(aligned(64 * SIGNED * n))  # the size of a run, which is never negative


SIGNED = sym.symbol("Kprover", signed=True)  # a fed integer's value: may be negative


def random_dims(draw: Any) -> Any:
    n, m = sym.symbol("N"), sym.symbol("M")
    leaves = [n, m, n * m, 1, 3, SIGNED, SIGNED * n]
    atoms = st.sampled_from(leaves)
    coef = st.integers(0, 70)
    poly = st.lists(st.tuples(coef, atoms), min_size=1, max_size=3).map(
        lambda ts: sum((c * a for c, a in ts), 0)
    )
    shape = st.sampled_from(["poly", "aligned", "max", "min"])
    kind = draw(shape)
    a, b = draw(poly), draw(poly)
    if kind == "aligned":
        return aligned(a)
    if kind == "max":
        return sym.maximum(a, b)
    if kind == "min":
        return sym.minimum(a, b)
    return a


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_prover_is_sound(data: Any) -> None:
    terms = data.draw(
        st.lists(st.tuples(st.integers(-2, 2), st.builds(lambda: None)), min_size=1, max_size=3)
    )
    a: Any = 0
    b: Any = 0
    for c, _ in terms:
        d = random_dims(data.draw)
        if c >= 0:
            a = a + (c or 1) * d
        else:
            b = b + (-c) * d
    if provably_ge(a, b):
        for nv in (0, 1, 2, 5, 63, 64, 65, 1000):
            for mv in (0, 1, 7, 130):
                for kv in (-70, -3, 0, 2, 100):
                    env = {"N": nv, "M": mv, "Kprover": kv}
                    assert sym.evaluate(a, env) >= sym.evaluate(b, env), (a, b, env)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(1, 100), st.integers(-64, 200), st.integers(0, 5000))
def test_aligned_sizes_are_exact_round_ups(c: int, c2: int, const: int, nv: int) -> None:
    n, m = sym.symbol("N"), sym.symbol("M")
    size = c * n + c2 * n * m + const
    r = aligned(size)
    assert all(k >= 0 for k in (r.terms.values() if isinstance(r, sym.Poly) else [r]))
    for mv in (1, 3):
        s, got = sym.evaluate(size, {"N": nv, "M": mv}), sym.evaluate(r, {"N": nv, "M": mv})
        assert got % ALIGNMENT == 0 and got >= s and (s < 0 or got - s < ALIGNMENT or c % 64 == c2 % 64 == 0)
    assert aligned(100) == 128 and aligned(0) == 0 and aligned(64) == 64
    assert str(aligned(1024 * n + 40)) == "1024*N + 64"
    assert upper_bound([1024 * n + 100, 2048 * n, 5]) == 2048 * n + 100


# -- small programs --------------------------------------------------------------------------------
def test_a_fetched_elementwise_chain_runs_in_one_output_buffer() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.tanh(-tf.exp(x))
    p = lowered([y], {x: (3, 4)})
    plan = planned(p)
    n = n_symbol(p)
    assert plan.n_values == 3 and plan.n_buffers == 1
    assert len(plan.in_place) == 2  # Neg over Exp's output, Tanh over Neg's
    (own,) = [b for b in plan.buffers if b.kind in ("arena", "output", "update")]
    assert own.kind == "output" and own.values == [1, 2, 3] and own.outputs == [0]
    assert str(plan.peak) == f"16*{n}" and plan.evaluate({n: 10}) == 160
    assert str(plan.naive_bytes) == f"48*{n}" and plan.arena_bytes({n: 10}) == 0
    assert str(plan.result_bytes) == f"16*{n}"
    check_sound(p, plan, {n: 7})


def test_a_feed_is_never_overwritten() -> None:
    x = tf.placeholder(tf.float32, [5])
    p = lowered([tf.exp(x)], {x: (5,)})
    plan = planned(p)
    assert plan.in_place == [] and plan.n_buffers == 1
    assert plan.input_bytes["feed"] == 20
    assert plan.buffers[plan.entries[0].buffer].kind == "feed"
    check_sound(p, plan, {})


def test_dead_values_free_their_place_in_the_arena() -> None:
    x = tf.placeholder(tf.float32, [None, 8])
    w = tf.Variable(np.eye(8, dtype=np.float32))
    a = tf.matmul(x, w)
    b = tf.matmul(a, w)
    c = tf.matmul(b, w)  # a is dead by now: c goes where a was
    d = tf.matmul(c, w)
    p = lowered([d], {x: (2, 8)})
    plan = planned(p)
    av, bv, cv, dv = (n.outputs[0] for n in p.nodes)
    ea, eb, ec, ed = (entry_of(plan, p, v) for v in (av, bv, cv, dv))
    assert plan.buffers[ed.buffer].kind == "output"
    assert ea.offset == ec.offset == 0 and eb.offset != 0
    n = n_symbol(p)
    assert plan.arena_bytes({n: 2}) == 128 and plan.arena_bytes({n: 3}) == 2 * aligned(96)
    for batch in (1, 3, 100):
        check_sound(p, plan, {n: batch})


def test_symbolic_sizes_share_a_place_when_it_is_provably_large_enough() -> None:
    x = tf.placeholder(tf.float32, [None, 8])
    a = tf.matmul(x, tf.Variable(np.ones((8, 4), np.float32)))  # [N, 4]
    b = tf.matmul(a, tf.Variable(np.ones((4, 16), np.float32)))  # [N, 16]
    c = tf.matmul(b, tf.Variable(np.ones((16, 2), np.float32)))  # [N, 2]: fits where a was
    d = tf.matmul(c, tf.Variable(np.ones((2, 2), np.float32)))
    p = lowered([d], {x: (2, 8)})
    plan = planned(p)
    av, bv, cv = (n.outputs[0] for n in p.nodes[:3])
    assert entry_of(plan, p, cv).offset == entry_of(plan, p, av).offset
    assert entry_of(plan, p, bv).offset != entry_of(plan, p, av).offset
    n = n_symbol(p)
    for batch in (1, 3, 5, 1000):
        check_sound(p, plan, {n: batch})


def test_values_live_together_get_disjoint_aligned_places() -> None:
    x = tf.placeholder(tf.float32, [4, 4])
    small = tf.matmul(x, tf.Variable(np.ones((4, 2), np.float32)))  # 32 B
    big = tf.matmul(x, tf.Variable(np.ones((4, 8), np.float32)))  # 128 B, made while small is alive
    s = tf.reduce_sum(small) + tf.reduce_sum(big) + tf.reduce_max(small)  # both are dead after this
    last = tf.matmul(x, tf.Variable(np.ones((4, 1), np.float32)))  # 16 B, made after s
    p = lowered([s * last], {x: (4, 4)})
    plan = planned(p)
    small_v, big_v, last_v = (n.outputs[0] for n in p.nodes if n.op == "MatMul")
    es, eb, el = (entry_of(plan, p, v) for v in (small_v, big_v, last_v))
    assert {es.offset, eb.offset} in ({0, 64}, {0, 128}) and es.bytes == 32 and eb.bytes == 128
    assert all(e.offset % ALIGNMENT == 0 for e in plan.entries if plan.buffers[e.buffer].kind == "arena")
    # At the fullest node the two matrices and two scalar sums are live: each takes its size
    # rounded up to the alignment, and the arena is exactly that.
    assert plan.arena_bytes() == 64 + 128 + 64 + 64 and el.offset % ALIGNMENT == 0
    check_sound(p, plan, {})


def test_variable_updates_are_in_place_when_the_old_value_dies_there() -> None:
    w = tf.Variable(np.ones((3, 4), np.float32), name="w")
    v = tf.Variable(np.ones((3, 4), np.float32), name="v")
    step = tf.group(tf.assign(w, w * 0.9 + 1.0), tf.assign(v, tf.exp(v)))
    p = lowered([step])
    unfused = planned(p)
    # Unfused, w dies at the Mul while its new value is made by the Add: not in place, so
    # w's new value (the Mul's buffer, which the Add writes over) is a buffer of its own.
    assert [x.variable for x in unfused.in_place if x.variable] == ["v"]
    (own,) = [b for b in unfused.buffers if b.kind in ("arena", "output", "update")]
    assert own.kind == "update" and len(own.values) == 2 and own.outputs == [0]
    check_sound(p, unfused, {})
    f = fuse(p)
    plan = planned(f)
    assert sorted(x.variable for x in plan.in_place if x.variable) == ["v", "w"]
    assert plan.n_buffers == 0 and plan.evaluate() == 0  # both new values live in the variables
    assert plan.arena_bytes() == 0 and plan.result_bytes == 0
    check_sound(f, plan, {})


def test_a_variable_read_after_its_update_is_not_overwritten() -> None:
    w = tf.Variable(np.ones((3,), np.float32), name="w")
    new = tf.assign(w, tf.exp(w))
    p = lowered([new, w * 2.0])  # the second fetch reads the old value, after the Exp
    assert [n.op for n in p.nodes if n.op != "Const"] == ["Exp", "Mul"]
    plan = planned(p)
    assert not any(x.variable == "w" for x in plan.in_place)
    exp_v = next(n.outputs[0] for n in p.nodes if n.op == "Exp")
    buf = plan.buffers[entry_of(plan, p, exp_v).buffer]
    assert buf.kind == "update" and len(buf.outputs) == 2  # fetched, and w's new value
    check_sound(p, plan, {})


def test_constants_are_read_only_and_not_counted() -> None:
    x = tf.placeholder(tf.float32, [3])
    p = lowered([tf.exp(tf.constant([1.0, 2.0, 3.0]) * 2.0) + x], {x: (3,)})
    plan = planned(p)
    num = p.numbering()
    consts = [num[n.outputs[0]] for n in p.nodes if n.op == "Const"]
    assert consts and all(plan.buffers[plan.entries[k].buffer].kind == "const" for k in consts)
    assert all(x.input not in consts for x in plan.in_place)
    check_sound(p, plan, {})


def test_the_peak_and_the_arena_are_formulas_evaluated_per_run_without_replanning() -> None:
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
        assert plan.arena_bytes(env) == max(sym.evaluate(f, env) for f, _ in plan.arena_size.candidates)
    assert plan.evaluate({n: 128}) > plan.evaluate({n: 1})
    assert plan.arena_bytes({n: 128}) > plan.arena_bytes({n: 1})


def test_describe_shows_formulas_numbers_and_the_layout() -> None:
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
    assert f"arena ({ALIGNMENT} B aligned)" in text and "layout (buffer" in text and " output own " in text
    assert "= " not in plan.describe().split("feeds (caller)")[1].splitlines()[0]  # formulas only


# -- the checker catches wrong plans --------------------------------------------------------------
def two_live_values() -> tuple[Program, MemoryPlan, int, int]:
    x = tf.placeholder(tf.float32, [8, 8])
    w = tf.Variable(np.ones((8, 8), np.float32))
    a = tf.matmul(x, w)
    b = tf.matmul(x, w * 2.0)
    p = lowered([tf.reduce_sum(tf.matmul(a, b))], {x: (8, 8)})
    plan = planned(p)
    check_plan(p, plan)
    num = p.numbering()
    ka, kb, _ = (num[n.outputs[0]] for n in p.nodes if n.op == "MatMul")  # a, b, and a @ b
    return p, plan, ka, kb


def test_the_checker_rejects_overlapping_live_values() -> None:
    p, plan, ka, kb = two_live_values()
    ea, eb = plan.entries[ka], plan.entries[kb]
    assert plan.buffers[ea.buffer].kind == plan.buffers[eb.buffer].kind == "arena"
    assert ea.offset != eb.offset
    plan.buffers[eb.buffer].offset = ea.offset
    plan.entries[kb] = dataclasses.replace(eb, offset=ea.offset)
    with pytest.raises(PlanError, match="live at the same time and overlap"):
        check_plan(p, plan)


def test_the_checker_rejects_misaligned_or_outside_places() -> None:
    p, plan, ka, _ = two_live_values()
    e = plan.entries[ka]
    plan.entries[ka] = dataclasses.replace(e, offset=e.offset + 4)  # type: ignore[operator]
    with pytest.raises(PlanError):
        check_plan(p, plan)
    p, plan, ka, _ = two_live_values()
    e = plan.entries[ka]
    plan.buffers[e.buffer].offset = 1 << 20
    plan.entries[ka] = dataclasses.replace(e, offset=1 << 20)
    with pytest.raises(PlanError, match="not an aligned place"):
        check_plan(p, plan)


def test_the_checker_rejects_in_place_where_the_op_may_not_overwrite() -> None:
    # MatMul reads its whole input while writing: its output may not take the input's place.
    x = tf.placeholder(tf.float32, [4, 4])
    w = tf.Variable(np.ones((4, 4), np.float32))
    a = tf.exp(x)
    b = tf.matmul(a, w)  # a dies here
    p = lowered([tf.reduce_sum(b)], {x: (4, 4)})
    plan = planned(p)
    num = p.numbering()
    ka = num[next(n.outputs[0] for n in p.nodes if n.op == "Exp")]
    kb = num[next(n.outputs[0] for n in p.nodes if n.op == "MatMul")]
    ea, eb = plan.entries[ka], plan.entries[kb]
    assert ea.offset != eb.offset or ea.buffer != eb.buffer
    plan.entries[kb] = dataclasses.replace(eb, offset=ea.offset)
    plan.buffers[eb.buffer].offset = ea.offset
    with pytest.raises(PlanError, match="overlap"):
        check_plan(p, plan)


def test_the_checker_rejects_a_result_in_the_arena() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    p = lowered([tf.exp(x) * 2.0], {x: (3, 4)})
    plan = planned(p)
    (own,) = [b for b in plan.buffers if b.kind == "output"]
    own.kind = "arena"
    with pytest.raises(PlanError, match="leaves the program but lives in the arena"):
        check_plan(p, plan)


def test_the_checker_rejects_a_feed_written_in_place() -> None:
    x = tf.placeholder(tf.float32, [5])
    p = lowered([tf.exp(x)], {x: (5,)})
    plan = planned(p)
    plan.entries[1] = dataclasses.replace(plan.entries[1], buffer=plan.entries[0].buffer)
    plan.buffers[plan.entries[0].buffer].values.append(1)
    with pytest.raises(PlanError):
        check_plan(p, plan)


# -- a plan belongs to one program ----------------------------------------------------------------
def test_a_pass_that_changes_the_program_drops_the_plan_and_the_old_plan_is_rejected() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    w = tf.Variable(np.ones((4, 4), np.float32), name="w")
    y = tf.identity(tf.nn.relu(tf.matmul(x, w) + 1.0)) * 1.0
    p = plan_memory(lowered([y], {x: (2, 4)}))
    old = p.meta["memory_plan"]
    for changed in (simplify(p), fuse(p)):
        assert changed.canonical_text() != p.canonical_text()
        assert "memory_plan" not in changed.meta  # passes do not carry analyses over
        assert not old.matches(changed)
        with pytest.raises(StalePlanError):
            old.entries_of(changed)
        with pytest.raises(StalePlanError):
            check_plan(changed, old)
        changed.meta["memory_plan"] = old  # even when attached by hand, it is not used
        fresh = plan_for(changed)
        assert fresh is not old and fresh.matches(changed)
        check_plan(changed, fresh)
    assert plan_for(p) is old  # the program it was made for still has it


def test_a_copy_starts_without_analyses_and_an_identical_copy_can_use_the_plan() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    p = plan_memory(lowered([tf.exp(tf.exp(x) + 1.0)], {x: (2, 4)}))
    plan = p.meta["memory_plan"]
    q = copy_program(p)
    assert q.meta == {}
    # Keyed by value numbers and the program's structure, the plan fits a copy exactly.
    assert plan.matches(q) and [e.buffer for e in plan.entries_of(q).values()] == [
        e.buffer for e in plan.entries
    ]
    check_plan(q, plan)
    assert dce(p).meta == {}


def test_editing_a_program_in_place_makes_its_plan_stale() -> None:
    x = tf.placeholder(tf.float32, [None, 4])
    p = plan_memory(lowered([tf.exp(x) + 1.0, tf.tanh(x)], {x: (2, 4)}))
    plan = p.meta["memory_plan"]
    p.nodes[0].outputs[0].shape = (p.nodes[0].outputs[0].shape[0], 5)  # another size
    assert not plan.matches(p)
    with pytest.raises(StalePlanError):
        check_plan(p, plan)
    p.nodes[0].outputs[0].shape = (p.nodes[0].outputs[0].shape[0], 4)
    assert plan.matches(p)
    # Reordering the nodes: canonicalize puts them back and drops what was planned.
    p.nodes.reverse()
    assert not plan.matches(p)
    canonicalize(p)
    assert "memory_plan" not in p.meta and plan.matches(p)


def test_which_variable_an_update_writes_is_part_of_the_structure() -> None:
    # a := exp(a), b := exp(b) and a := exp(b), b := exp(a) print alike but for the updates;
    # only the first may write in place.
    def build(swap: bool) -> Program:
        g = tf.Graph()
        with g.as_default():
            a = tf.Variable(np.ones(3, np.float32), name="a")
            b = tf.Variable(np.ones(3, np.float32), name="b")
            ea, eb = tf.exp(a), tf.exp(b)
            step = tf.group(tf.assign(a, eb if swap else ea), tf.assign(b, ea if swap else eb))
            return lower(g, [step], {}).program

    same, swapped = build(False), build(True)
    assert same.structure_hash() != swapped.structure_hash()
    assert same.content_hash() != swapped.content_hash()
    plan = planned(same)
    assert not plan.matches(swapped)
    assert sorted(x.variable for x in plan.in_place) == ["a", "b"]
    other = planned(swapped)
    assert not any(x.variable for x in other.in_place)
    check_plan(swapped, other)


# -- real programs ---------------------------------------------------------------------------------
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
    for batch in (1, 64, 1000):
        check_sound(p, before, {n: batch})
        check_sound(f, after, {n: batch})
        assert after.evaluate({n: batch}) <= before.evaluate({n: batch})
    assert after.n_buffers <= before.n_buffers
    n_vars = sum(1 for q in p.params if q.kind == "variable")
    assert sum(1 for x in after.in_place if x.variable) == n_vars  # every variable updated in place
    assert all(b.kind != "update" for b in after.buffers)


def example_program() -> Program:
    with tf.Graph().as_default() as g:
        ns = runpy.run_path(str(EXAMPLE))
        shapes = ns["FEED_SHAPES"]
        feeds = {ns[k]: (ns[k].dtype, s) for k, s in shapes.items()}
        return lower(g, ns["FETCHES"], feeds).program


def test_the_tutorial_step_arena_is_close_to_its_peak() -> None:
    p = pipeline.optimize(example_program())
    plan = p.meta["memory_plan"]
    assert plan_for(p) is plan
    n = n_symbol(p)
    for batch in (1, 7, 128, 1000):
        env = {n: batch}
        check_sound(p, plan, env)
        peak, arena = plan.evaluate(env), plan.arena_bytes(env)
        results = sym.evaluate(plan.result_bytes, env)
        # The layout wastes at most the alignment of each buffer, and 1% more.
        assert peak <= arena + results <= peak * 1.01 + ALIGNMENT * plan.n_buffers, (batch, peak, arena)
    check_plan(p, plan)  # and at the checker's own dims


def cnn_step() -> tuple[list[Any], dict[Any, tuple[int, ...]]]:
    x = tf.placeholder(tf.float32, [None, 12, 12, 1])
    y = tf.placeholder(tf.float32, [None, 10])
    keep = tf.placeholder(tf.float32, [])
    w1 = tf.Variable(tf.truncated_normal([3, 3, 1, 4], stddev=0.1))
    b1 = tf.Variable(tf.constant(0.1, shape=[4]))
    h = tf.nn.relu(tf.nn.conv2d(x, w1, strides=[1, 1, 1, 1], padding="SAME") + b1)
    h = tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    w2 = tf.Variable(tf.truncated_normal([3, 3, 4, 8], stddev=0.1))
    h = tf.nn.relu(tf.nn.conv2d(h, w2, strides=[1, 1, 1, 1], padding="SAME"))
    h = tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    flat = tf.reshape(h, [-1, 3 * 3 * 8])
    w3 = tf.Variable(tf.truncated_normal([72, 10], stddev=0.1))
    logits = tf.matmul(tf.nn.dropout(flat, keep), w3)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    step = tf.train.AdamOptimizer(1e-3).minimize(loss)
    return [loss, step], {x: (4, 12, 12, 1), y: (4, 10), keep: ()}


def test_a_cnn_step_plan_is_sound_before_and_after_the_pipeline() -> None:
    targets, shapes = cnn_step()
    p = lowered(targets, shapes)
    o = pipeline.optimize(p)
    for prog, plan in ((p, planned(p)), (o, o.meta["memory_plan"])):
        n = n_symbol(prog)
        for batch in (1, 2, 33, 256):
            check_sound(prog, plan, {n: batch})
        assert len(sample_envs(prog)) >= 5
        check_plan(prog, plan)
        assert plan.arena_bytes({n: 256}) > plan.arena_bytes({n: 1})
    assert o.meta["memory_plan"].evaluate({n_symbol(o): 64}) < planned(p).evaluate({n_symbol(p): 64})


def test_a_program_with_two_symbolic_dims_and_a_data_defined_one() -> None:
    a = tf.placeholder(tf.float32, [None, 6])
    b = tf.placeholder(tf.float32, [None, 6])
    k = tf.placeholder(tf.int32, [])
    both = tf.concat([tf.exp(a), tf.tanh(b)], axis=0)  # [A + B, 6]
    r = tf.cast(tf.range(k), tf.float32)  # [max(0, K)]: from a fed value, K may be negative
    tiled = tf.tile(tf.exp(a), tf.stack([k, 1]))  # [K*A, 6]
    out = tf.reduce_sum(tf.matmul(both, tf.ones([6, 3]))) + tf.reduce_sum(r * r) + tf.reduce_sum(tiled)
    p = pipeline.optimize(lowered([out], {a: (2, 6), b: (3, 6), k: ()}))
    plan = p.meta["memory_plan"]
    names = sorted({s for v in p.values() for d in v.shape for s in sym.free_symbols(d)})
    assert len(names) >= 3
    for vals in [(1, 1, 1), (5, 2, 9), (100, 3, 0), (2, 200, 40)]:
        env = dict(zip(names, vals, strict=False))
        check_sound(p, plan, env)
    assert any(min(e.values()) < 0 for e in sample_envs(p))  # K checked negative too
    check_plan(p, plan)


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
        for batch in (1, 5, 64):
            check_sound(prog, plan, {s: batch for s in prog.symbols()})
        check_plan(prog, plan)


def test_a_conv_with_unknown_image_sizes_plans_with_floordiv_dims() -> None:
    # VALID convolutions and pools of [None, None, None, 1] images: sizes hold floordiv atoms
    # of expressions that are not provably non-negative (floordiv(floordiv(H + 1, 2) - 3, 2)).
    x = tf.placeholder(tf.float32, [None, None, None, 1])
    w1 = tf.Variable(tf.ones([3, 3, 1, 4]) * 0.1)
    w2 = tf.Variable(tf.ones([4, 4, 4, 2]) * 0.1)
    h = tf.nn.max_pool(
        tf.nn.relu(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME")), [1, 2, 2, 1], [1, 2, 2, 1], "SAME"
    )
    h = tf.nn.conv2d(h, w2, [1, 2, 2, 1], "VALID")
    loss = tf.reduce_mean(tf.square(h))
    step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    p = pipeline.optimize(lowered([loss, step], {x: (2, 12, 10, 1)}))
    plan = p.meta["memory_plan"]
    assert any("floordiv" in str(d) for v in p.values() for d in v.shape)
    names = sorted({s for v in p.values() for d in v.shape for s in sym.free_symbols(d)})
    for vals in [(1, 12, 10), (3, 9, 30), (64, 28, 28)]:
        check_sound(p, plan, dict(zip(names, vals, strict=True)))
    check_plan(p, plan)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run([loss, step], {x: np.ones((3, 9, 30, 1), np.float32)})  # the same program
        assert sess.stats["peak_bytes"] == plan.evaluate(
            p.bind_dims([(3, 9, 30, 1), (3, 3, 1, 4), (4, 4, 4, 2)])
        )


def test_the_checker_rejects_a_temporary_in_a_dead_variable_buffer() -> None:
    # w is last read by the Exp; the Tanh after it could take w's bytes by liveness alone,
    # but w's buffer is the caller's: only w's new value may go there.
    w = tf.Variable(np.ones((3,), np.float32), name="w")
    t = tf.tanh(tf.exp(w) * 2.0)
    p = lowered([t])
    plan = planned(p)
    num = p.numbering()
    kw = num[p.params[0].value]
    kt = num[next(n.outputs[0] for n in p.nodes if n.op == "Tanh")]
    wb = plan.entries[kw].buffer
    plan.entries[kt] = dataclasses.replace(plan.entries[kt], buffer=wb, offset=0)
    plan.buffers[wb].values.append(kt)
    with pytest.raises(PlanError, match="not that variable's new value"):
        check_plan(p, plan)
