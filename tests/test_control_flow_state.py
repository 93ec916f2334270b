"""Variables assigned inside tf.cond branches and tf.while_loop bodies, and ops that only
control dependencies reach inside them (assignments, tf.print / tf.Print, tf.Assert),
on the NumPy and the LLVM backends. Every value is checked against a NumPy loop written
out by hand (what TF1 computes); gradients against central differences."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from tests.support import BACKENDS as _BACKENDS
from tests.support import session as _session


def _control_flow_backends(sess: tf.Session) -> set[str]:
    """The backends the If/While nodes of the session's programs ran on (LLVM: native
    code, or a NumPy segment; a whole-program fallback counts as NumPy)."""
    out: set[str] = set()
    for compiled in sess._cache.values():
        exe = compiled.executable
        if type(exe).__name__ == "SegmentedExecutable":
            for seg, b, e in zip(exe.partition.segments, exe.backends, exe.executables):
                if any(n.op in ("If", "While") for n in seg.program.nodes):
                    out.add("llvm" if type(e).__name__ == "LLVMExecutable" else b.name)
        elif any(n.op in ("If", "While") for n in compiled.lowered.program.nodes):
            out.add("llvm" if type(exe).__name__ == "LLVMExecutable" else "numpy")
    return out


def _next_line() -> int:
    """The number of the caller's next line."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


# -- tf.cond -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", _BACKENDS)
def test_cond_assigns_only_in_the_taken_branch(backend: str) -> None:
    v = tf.Variable(np.float32(0.5))
    p = tf.placeholder(tf.bool, [])
    r = tf.cond(p, lambda: tf.assign_add(v, 1.5), lambda: tf.identity(v) * 2.0)
    with tf.control_dependencies([r]):
        after = v * 10.0  # ordered after the cond: sees the value it leaves
    before = v * 1.0  # no order: the value from the start of the run
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        ref = 0.5
        for pv in [True, False, True, False, False]:
            got_r, got_after, got_before = sess.run([r, after, before], {p: pv})
            np.testing.assert_allclose(got_before, ref)
            np.testing.assert_allclose(got_r, ref + 1.5 if pv else ref * 2)
            ref = ref + 1.5 if pv else ref
            np.testing.assert_allclose(got_after, ref * 10)
            np.testing.assert_allclose(sess.run(v), ref)
        if backend == "llvm":
            assert _control_flow_backends(sess) == {"llvm"}  # compiled natively


@pytest.mark.parametrize("backend", _BACKENDS)
def test_cond_branches_returning_operations_give_the_predicate(backend: str) -> None:
    # TF1: a branch that returns an Operation returns a bool that depends on it, True in
    # the then branch and False in the else branch, so the cond gives the predicate.
    v = tf.Variable(np.float32(0.0))
    w = tf.Variable(np.float32(3.0))
    p = tf.placeholder(tf.bool, [])
    r = tf.cond(p, lambda: tf.group(tf.assign(v, 1.0), tf.assign_add(w, 1.0)), lambda: tf.no_op())
    assert r.dtype == tf.bool
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        assert not bool(sess.run(r, {p: False}))
        np.testing.assert_allclose(sess.run([v, w]), [0.0, 3.0])
        assert bool(sess.run(r, {p: True}))
        np.testing.assert_allclose(sess.run([v, w]), [1.0, 4.0])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_minimize_in_a_cond_updates_on_even_steps(backend: str) -> None:
    x = tf.Variable(np.array([1.0, -2.0], np.float32))
    gs = tf.train.get_or_create_global_step()
    step = tf.placeholder(tf.int32, [])
    loss = tf.reduce_sum(x * x)
    opt = tf.train.GradientDescentOptimizer(0.1)
    train = tf.cond(tf.equal(step % 2, 0), lambda: opt.minimize(loss, global_step=gs), lambda: tf.no_op())
    ref = np.array([1.0, -2.0], np.float32)
    updates = 0
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        for k in range(4):
            sess.run(train, {step: k})
            if k % 2 == 0:
                ref = ref - np.float32(0.1) * 2 * ref
                updates += 1
            np.testing.assert_allclose(sess.run(x), ref, rtol=1e-6)
            assert int(sess.run(gs)) == updates


@pytest.mark.parametrize("backend", _BACKENDS)
def test_adam_in_a_cond_makes_its_slots_outside_and_steps_when_taken(backend: str) -> None:
    # The reference: the same optimizer on a twin variable, outside any cond, run on the
    # steps the cond takes (tests/test_optimizers.py checks Adam against TF1's formula).
    x = tf.Variable(np.array([1.0, -2.0]), dtype=tf.float64)
    twin = tf.Variable(np.array([1.0, -2.0]), dtype=tf.float64)
    take = tf.placeholder(tf.bool, [])
    opt = tf.train.AdamOptimizer(0.1)
    train = tf.cond(take, lambda: opt.minimize(tf.reduce_sum(x * x * x)), lambda: tf.no_op())
    # Its slots and beta powers are variables of the top level, initialized as usual.
    assert len(tf.global_variables()) == 6
    train_twin = tf.train.AdamOptimizer(0.1).minimize(tf.reduce_sum(twin * twin * twin))
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        for taken in [True, False, True, True, False]:
            sess.run(train, {take: taken})
            if taken:
                sess.run(train_twin)
            np.testing.assert_allclose(sess.run(x), sess.run(twin), rtol=1e-12)
        assert not np.allclose(sess.run(x), [1.0, -2.0])


# -- tf.while_loop ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", _BACKENDS)
def test_while_assigns_per_iteration_with_a_fed_trip_count(backend: str) -> None:
    v = tf.Variable(np.float32(1.0))
    n = tf.placeholder(tf.int32, [])

    def body(i: tf.Tensor) -> tf.Tensor:
        with tf.control_dependencies([tf.assign_add(v, 2.0)]):
            return i + 1

    out = tf.while_loop(lambda i: i < n, body, [0])
    with tf.control_dependencies([out]):
        after = tf.identity(v)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        ref = 1.0
        for count in [3, 0, 2]:
            got_out, got_after = sess.run([out, after], {n: count})
            ref += 2.0 * count
            assert int(got_out) == count
            np.testing.assert_allclose([got_after, sess.run(v)], [ref, ref])
        if backend == "llvm":
            assert _control_flow_backends(sess) == {"llvm"}


@pytest.mark.parametrize("backend", _BACKENDS)
def test_body_reads_see_the_assignments_they_are_ordered_after(backend: str) -> None:
    v = tf.Variable(1.0, dtype=tf.float64)
    x = tf.placeholder(tf.float64, [])
    n = tf.placeholder(tf.int32, [])

    def body(i: tf.Tensor, acc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        a = tf.assign(v, v * 2.0)  # reads the value the previous iteration left
        with tf.control_dependencies([a]):
            seen_after = v + 0.0  # ordered after the assignment: the new value
        seen_before = v * 1.0  # not ordered after it: the value at the iteration's start
        return i + 1, acc + seen_after * x + seen_before

    _, acc = tf.while_loop(lambda i, acc: i < n, body, [0, tf.constant(0.0, tf.float64)])
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(acc, {x: 0.5, n: 3})
        ref_v, ref_acc = 1.0, 0.0
        for _ in range(3):
            start, ref_v = ref_v, ref_v * 2
            ref_acc += ref_v * 0.5 + start
        np.testing.assert_allclose(got, ref_acc)
        np.testing.assert_allclose(sess.run(v), ref_v)
        # The next run starts from the committed value.
        np.testing.assert_allclose(sess.run(acc, {x: 1.0, n: 1}), ref_v * 2 + ref_v)
        np.testing.assert_allclose(sess.run(v), ref_v * 2)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_several_variables_and_a_nested_cond_that_assigns(backend: str) -> None:
    v = tf.Variable(np.float32(0.0))
    w = tf.Variable(np.float32(10.0))
    count = tf.Variable(0)
    scale = tf.Variable(np.float32(2.0))  # read inside, never assigned
    n = tf.placeholder(tf.int32, [])

    def body(i: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        even = tf.equal(i % 2, 0)
        c = tf.cond(
            even,
            lambda: tf.assign_add(v, tf.cast(i, tf.float32) * scale),
            lambda: tf.assign_sub(w, 1.0),
        )
        with tf.control_dependencies([c, tf.assign_add(count, 1)]):
            return i + 1, s + c

    _, s = tf.while_loop(lambda i, s: i < n, body, [0, tf.constant(0.0)])
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        got_s = sess.run(s, {n: 5})
        ref_v, ref_w, ref_s = 0.0, 10.0, 0.0
        for i in range(5):
            if i % 2 == 0:
                ref_v += i * 2.0
                ref_s += ref_v
            else:
                ref_w -= 1.0
                ref_s += ref_w
        np.testing.assert_allclose(got_s, ref_s)
        np.testing.assert_allclose(sess.run([v, w, scale]), [ref_v, ref_w, 2.0])
        assert int(sess.run(count)) == 5


# -- ops only control dependencies reach -------------------------------------------------------
@pytest.mark.parametrize("backend", _BACKENDS)
def test_prints_reached_only_by_control_dependencies_run_each_iteration(backend: str, capsys: Any) -> None:
    n = tf.placeholder(tf.int32, [])
    p = tf.placeholder(tf.bool, [])

    def body(i: tf.Tensor, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.control_dependencies([tf.print("step", i, "of", n)]):
            return i + 1, x * 2

    _, y = tf.while_loop(lambda i, x: i < n, body, [0, tf.constant(1)])

    def taken() -> tf.Tensor:
        with tf.control_dependencies([tf.Print(tf.constant(0), [y], message="taken: ")]):
            return y + 1

    z = tf.cond(p, taken, lambda: y - 1)
    with _session(backend) as sess:
        capsys.readouterr()
        assert int(sess.run(z, {n: 3, p: True})) == 9
        assert capsys.readouterr().err == "step 0 of 3\nstep 1 of 3\nstep 2 of 3\ntaken: [8]\n"
        assert int(sess.run(z, {n: 1, p: False})) == 1
        assert capsys.readouterr().err == "step 0 of 1\n"
        if backend == "llvm":
            # A host op is a callback into Python: its region runs in a NumPy segment.
            assert _control_flow_backends(sess) == {"numpy"}


@pytest.mark.parametrize("backend", _BACKENDS)
def test_a_failing_assertion_in_a_loop_changes_no_variable(backend: str) -> None:
    v = tf.Variable(np.float32(0.0))
    w = tf.Variable(np.float32(-1.0))
    x0 = tf.placeholder(tf.float32, [])

    def body(i: tf.Tensor, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        line = _next_line()
        a = tf.assert_positive(x, message="x must stay positive")
        body.line = line  # type: ignore[attr-defined]
        with tf.control_dependencies([a, tf.assign_add(v, 1.0)]):
            return i + 1, x - 1.0

    _, x_out = tf.while_loop(lambda i, x: i < 4, body, [0, x0])
    top = tf.assign(w, x_out)  # a top-level assignment after the loop
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(top, {x0: 10.0}), 6.0)
        np.testing.assert_allclose(sess.run([v, w]), [4.0, 6.0])
        # 2.5, 1.5, 0.5 pass; the fourth iteration's x = -0.5 fails.
        with pytest.raises(errors.InvalidArgumentError) as info:
            sess.run(top, {x0: 2.5})
        msg = str(info.value)
        assert "x must stay positive" in msg and "[-0.5]" in msg
        assert f"{__file__}:{body.line}" in msg  # type: ignore[attr-defined]
        np.testing.assert_allclose(sess.run([v, w]), [4.0, 6.0])
        np.testing.assert_allclose(sess.run(top, {x0: 4.0}), 0.0)
        np.testing.assert_allclose(sess.run([v, w]), [8.0, 0.0])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_an_assertion_in_the_untaken_branch_does_not_run(backend: str) -> None:
    x = tf.placeholder(tf.float32, [])

    def checked() -> tf.Tensor:
        with tf.control_dependencies([tf.Assert(x > 0, ["x must be positive", x])]):
            return tf.sqrt(x)

    y = tf.cond(x > -10.0, checked, lambda: x * 0.0)
    with _session(backend) as sess:
        np.testing.assert_allclose(sess.run(y, {x: 4.0}), 2.0)
        np.testing.assert_allclose(sess.run(y, {x: -20.0}), 0.0)
        with pytest.raises(errors.InvalidArgumentError, match="x must be positive"):
            sess.run(y, {x: -1.0})


# -- ordering rules and gradients ------------------------------------------------------------
def test_unordered_assignments_in_a_body_are_an_error() -> None:
    v = tf.Variable(0.0)

    def body(i: tf.Tensor) -> tf.Tensor:
        with tf.control_dependencies([tf.assign_add(v, 1.0, name="inc"), tf.assign(v, 5.0, name="set")]):
            return i + 1

    out = tf.while_loop(lambda i: i < 2, body, [0])
    p = tf.placeholder(tf.bool, [])
    r = tf.cond(p, lambda: tf.assign(v, 1.0), lambda: tf.identity(v))
    top = tf.assign(v, 2.0)  # no order with the cond
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(errors.InvalidArgumentError, match="inc.*set|set.*inc"):
            sess.run(out)
        with pytest.raises(errors.InvalidArgumentError, match="no order between them"):
            sess.run([r, top], {p: True})
        np.testing.assert_allclose(sess.run(v), 0.0)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_gradient_of_a_result_the_assignments_do_not_touch(backend: str) -> None:
    v = tf.Variable(0.0, dtype=tf.float64)
    x = tf.placeholder(tf.float64, [])

    def body(i: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.control_dependencies([tf.assign_add(v, 1.0)]):
            return i + 1, tf.sin(y * x)

    _, y = tf.while_loop(lambda i, y: i < 3, body, [0, tf.constant(0.7, tf.float64)])
    (g,) = tf.gradients(y, [x])

    def f(xv: float) -> float:
        y = 0.7
        for _ in range(3):
            y = np.sin(y * xv)
        return y

    eps = 1e-6
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        got_y, got_g = sess.run([y, g], {x: 1.3})
        np.testing.assert_allclose(got_y, f(1.3), rtol=1e-12)
        np.testing.assert_allclose(got_g, (f(1.3 + eps) - f(1.3 - eps)) / (2 * eps), rtol=1e-6)
        np.testing.assert_allclose(sess.run(v), 3.0)  # the gradient's loops assign nothing


def test_gradient_through_a_read_of_an_assigned_variable_is_refused() -> None:
    v = tf.Variable(1.0)
    x = tf.placeholder(tf.float32, [])

    def body(i: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        a = tf.assign_add(v, 1.0)
        with tf.control_dependencies([a]):
            return i + 1, y * v * x

    _, y = tf.while_loop(lambda i, y: i < 3, body, [0, tf.constant(1.0)])
    with pytest.raises(NotImplementedError, match="reads variable"):
        tf.gradients(y, [x])
