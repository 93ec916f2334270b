"""The IR: lowering, printing, value numbering, content hash, verifier, symbolic dims and
the dim environment of lowered programs."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir import dot
from graphc.ir import verify as verify_module
from graphc.ir.dims import LoweredDims, is_placeholder
from graphc.ir.lower import lower
from graphc.ir.program import Node, Value, format_program
from graphc.ir.verify import VerificationError, verify
from graphc.passes import rewrite as rewrite_module
from graphc.passes.fuse import fuse
from graphc.passes.memory import plan_memory, value_bytes
from graphc.passes.rewrite import copy_program


def _mlp(prefix: str, with_names: bool) -> tuple[tf.Graph, list]:
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(1)
        x = tf.placeholder(tf.float32, [None, 8], name=f"{prefix}x" if with_names else None)
        w = tf.Variable(tf.ones([8, 4]), name=f"{prefix}w")
        h = tf.nn.relu(tf.matmul(x, w), name=f"{prefix}h")
        loss = tf.reduce_mean(tf.square(h), name=f"{prefix}loss")
        (gw,) = tf.gradients(loss, [w])
        step = tf.assign_sub(w, 0.1 * gw, name=f"{prefix}step")
    return g, [loss, step.op], x


def test_hash_is_stable_across_names() -> None:
    g1, t1, x1 = _mlp("a_", True)
    g2, t2, x2 = _mlp("other_", False)
    p1 = lower(g1, t1, {x1: (tf.float32, (5, 8))}).program
    p2 = lower(g2, t2, {x2: (tf.float32, (9, 8))}).program
    assert p1.canonical_text() == p2.canonical_text()
    assert p1.content_hash() == p2.content_hash()
    assert str(p1) != str(p2)  # the readable form keeps names
    # A different constant changes the hash.
    g3 = tf.Graph()
    with g3.as_default():
        x = tf.placeholder(tf.float32, [None, 8])
        y = x * 2.0
    g4 = tf.Graph()
    with g4.as_default():
        x4 = tf.placeholder(tf.float32, [None, 8])
        y4 = x4 * 3.0
    h3 = lower(g3, [y], {x: (tf.float32, (1, 8))}).program.content_hash()
    h4 = lower(g4, [y4], {x4: (tf.float32, (1, 8))}).program.content_hash()
    assert h3 != h4


def test_program_text_is_readable_and_typed() -> None:
    g, targets, x = _mlp("", True)
    low = lower(g, targets, {x: (tf.float32, (5, 8))})
    text = str(low.program)
    assert text.startswith("program(")
    assert "feed 'x:0'" in text and "variable 'w'" in text
    assert "float32[N0,8]" in text  # the None batch dim is a symbol
    assert "MatMul" in text and "update 'w'" in text
    verify(low.program)
    assert [o.kind for o in low.program.outputs] == ["fetch", "update"]


def test_symbolic_dims_unify_and_check_at_run_time() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 3])
    z = x + y
    low = lower(tf.get_default_graph(), [z], {x: (tf.float32, (2, 3)), y: (tf.float32, (2, 3))})
    (out,) = low.program.fetches
    assert len(low.program.symbols()) == 1  # N0 and N1 became one symbol
    assert list(low.program.bind_dims([(4, 3), (4, 3)]).values()) == [4]
    with pytest.raises(ValueError, match="dimension 0"):
        low.program.bind_dims([(4, 3), (5, 3)])
    assert out.value.shape[1] == 3


def test_reshape_with_symbolic_batch_keeps_the_symbol() -> None:
    x = tf.placeholder(tf.float32, [None, 28, 28, 1])
    flat = tf.reshape(x, [-1, 784])
    back = tf.reshape(flat, [tf.shape(x)[0], 28, 28])
    low = lower(tf.get_default_graph(), [flat, back], {x: (tf.float32, (3, 28, 28, 1))})
    shapes = [tuple(str(d) for d in o.value.shape) for o in low.program.fetches]
    assert shapes == [("N0", "784"), ("N0", "28", "28")]


def test_verifier_catches_a_wrong_shape_and_use_before_def() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    y = tf.exp(x)
    low = lower(tf.get_default_graph(), [y], {x: (tf.float32, (2, 3))})
    prog = low.program
    verify(prog)
    node = prog.nodes[0]
    node.outputs[0].shape = (3, 2)
    with pytest.raises(VerificationError, match="rules say"):
        verify(prog)
    node.outputs[0].shape = (2, 3)
    stray = Value(tf.float32, (2, 3))
    prog.nodes.insert(0, Node("Exp", [stray], {}, [Value(tf.float32, (2, 3))]))
    prog.nodes[0].outputs[0].producer = prog.nodes[0]
    with pytest.raises(VerificationError, match="before it is defined"):
        verify(prog)


def test_lowering_prunes_to_what_fetches_need() -> None:
    x = tf.placeholder(tf.float32, [2])
    a = tf.exp(x)
    unused = tf.log(x)  # noqa: F841
    other = tf.placeholder(tf.float32, [2])  # not fed and not needed: no error
    del other
    low = lower(tf.get_default_graph(), [a], {x: (tf.float32, (2,))})
    assert [n.op for n in low.program.nodes] == ["Exp"]


def test_feeding_an_intermediate_tensor_cuts_the_graph() -> None:
    x = tf.placeholder(tf.float32, [2])
    h = tf.exp(x)
    y = h * 2.0
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(y, {h: [1.0, 2.0]}), [2.0, 4.0])


# -- one numbering ---------------------------------------------------------------------------------
def test_one_numbering_for_the_printer_the_memory_plan_fusion_and_dot() -> None:
    g, targets, x = _mlp("", True)
    low = lower(g, targets, {x: (tf.float32, (5, 8))})
    program = fuse(low.program)
    num = program.numbering()
    values = list(program.values())
    assert list(num.values) == values and len(num) == len(values)
    assert [num[v] for v in values] == list(range(len(values)))
    assert num.label(values[0]) == "%0" and num[program.params[0].value] == 0
    # params first, then each node's outputs in node order
    k = len(program.params)
    for node in program.nodes:
        for v in node.outputs:
            assert num[v] == k
            k += 1
    # The printer: every "%k: type" definition names value k.
    text = str(program)
    for line in text.splitlines()[1:-2]:
        outs = line.split(" = ")[0].strip()
        for part in outs.split(", "):
            label, ty = part.split(": ")
            v = num.values[int(label[1:])]
            assert ty.startswith(v.dtype.name)
    # The fusion report and the DOT export label values the same way.
    groups = program.meta["fusion_groups"]
    assert groups
    for grp in groups:
        node = program.nodes[grp["node"]]
        assert grp["value"] == num.label(node.outputs[0])
        assert grp["inputs"] == [num.label(v) for v in node.inputs]
    dot_text = dot.program_to_dot(program)
    for v in values:
        assert num.label(v) in dot_text
    # The memory plan is keyed by the same numbers.
    plan = plan_memory(program).meta["memory_plan"]
    assert [e.value for e in plan.entries] == list(range(len(values)))
    assert all(e.bytes == value_bytes(num.values[e.value]) for e in plan.entries)


def test_a_value_of_another_program_has_no_number() -> None:
    x = tf.placeholder(tf.float32, [2])
    p = lower(tf.get_default_graph(), [tf.exp(x)], {x: (tf.float32, (2,))}).program
    num = p.numbering()
    stray = Value(tf.float32, (2,))
    assert stray not in num and num.get(stray) is None
    with pytest.raises(KeyError, match="not a value of this program"):
        num[stray]
    assert num.labels() == {id(v): f"%{k}" for k, v in enumerate(p.values())}


def test_canonical_text_names_the_variable_an_update_writes() -> None:
    g, targets, x = _mlp("", True)
    p = lower(g, targets, {x: (tf.float32, (5, 8))}).program
    (w,) = [k for k, q in enumerate(p.params) if q.kind == "variable"]
    assert f"update(%{w}) %" in p.canonical_text()
    assert "update 'w' %" in str(p)
    # The structure keeps the program's own dim symbols; the canonical text renames them.
    (n,) = p.symbols()
    assert "s0" in p.canonical_text() and n not in p.canonical_text()
    assert format_program(p, with_names=False, rename_dims=False).count(n) > 0
    q = copy_program(p)
    assert q.structure_hash() == p.structure_hash() and q.content_hash() == p.content_hash()


# -- one dim environment ---------------------------------------------------------------------------
def test_lowered_programs_have_one_dim_environment() -> None:
    n, m = sym.symbol("N"), sym.symbol("M")
    env = LoweredDims()
    assert env.equal(3, 3) == 3 and env.equal(n, n) == n
    assert env.equal(n, m) == n  # recorded by lowering, checked when the program runs
    assert env.equal(n, 4) == n and env.equal(4, n) == 4
    with pytest.raises(reg.ShapeError):
        env.equal(3, 4)
    free = env.fresh()
    assert is_placeholder(free) and is_placeholder(free * 2 + n) and not is_placeholder(n)
    assert env.fresh() != free
    assert env.equal(free, n) == n and env.equal(5, free) == 5
    # The verifier and the rewrite passes use it.
    assert verify_module._CheckDims is LoweredDims and rewrite_module._PassDims is LoweredDims
