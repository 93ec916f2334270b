"""Structured control flow (graphc.ops.control_flow_ops): tf.cond, tf.case, tf.while_loop,
map_fn/scan/foldl/foldr, their gradients, If/While in the IR (printed, serialised,
verified), and the LLVM backend running a loop through its NumPy fallback. Values are
checked against NumPy, gradients against central differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.ir import lower as ir_lower
from graphc.ir import serialize
from graphc.ir.verify import verify
from graphc.kernels import philox
from graphc.ops import control_flow_ops as cf
from graphc.runtime.backend import available_backends
from tests.support import BACKENDS as _BACKENDS
from tests.support import central as _central
from tests.support import session as _session


def _lowered(fetches: list[tf.Tensor], feeds: dict[tf.Tensor, np.ndarray]) -> object:
    spec = {t: (t.dtype, np.shape(v)) for t, v in feeds.items()}
    return ir_lower.lower(tf.get_default_graph(), fetches, spec).program


# -- cond ----------------------------------------------------------------------------------
def test_cond_with_captured_tensors_and_a_variable() -> None:
    x = tf.placeholder(tf.float32, [None])
    p = tf.placeholder(tf.bool, [])
    v = tf.Variable(np.float32(3.0))
    c = tf.constant(np.float32(10.0))
    y, z = cf.cond(p, lambda: (x * v, x + c), lambda: (x - 1.0, tf.reduce_sum(x) + c * 0.0 + x))
    xs = np.array([1.0, 2.0, 4.0], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([y, z], {x: xs, p: True})
        np.testing.assert_allclose(a, xs * 3)
        np.testing.assert_allclose(b, xs + 10)
        a, b = sess.run([y, z], {x: xs, p: False})
        np.testing.assert_allclose(a, xs - 1)
        np.testing.assert_allclose(b, xs.sum() + xs)
        sess.run(v.assign(5.0))
        np.testing.assert_allclose(sess.run(y, {x: xs, p: True}), xs * 5)


def test_cond_ir_round_trips_prints_and_verifies() -> None:
    x = tf.placeholder(tf.float32, [None])
    p = tf.placeholder(tf.bool, [])
    y = cf.cond(p, lambda: x * 2.0, lambda: tf.concat([x, x], 0))
    prog = _lowered([y], {x: np.zeros(3, np.float32), p: np.bool_(True)})
    (node,) = [n for n in prog.nodes if n.op == "If"]
    assert len(node.regions) == 2
    assert node.attrs["shapes"] == ((None,),)  # the branches disagree: the If defines the dim
    verify(prog)
    text = str(prog)
    assert "If(" in text and text.count("program(") == 3
    back = serialize.from_bytes(serialize.to_bytes(prog))
    assert serialize.difference(prog, back) is None
    assert back.content_hash() == prog.content_hash()
    with tf.Session() as sess:
        assert sess.run(y, {x: [1.0, 2.0], p: False}).tolist() == [1, 2, 1, 2]
        assert sess.run(y, {x: [1.0, 2.0], p: True}).tolist() == [2, 4]


def test_cond_on_a_constant_predicate_is_folded() -> None:
    x = tf.placeholder(tf.float32, [2])
    y = cf.cond(tf.constant(False), lambda: x * 2.0, lambda: x * 3.0)
    prog = _lowered([y], {x: np.zeros(2, np.float32)})
    assert not any(n.op == "If" for n in prog.nodes)
    with tf.Session() as sess:
        assert sess.run(y, {x: [1.0, 2.0]}).tolist() == [3, 6]


def test_case_picks_the_first_true_predicate() -> None:
    k = tf.placeholder(tf.int32, [])
    r = cf.case(
        [(tf.equal(k, 0), lambda: tf.constant(10)), (tf.equal(k, 1), lambda: tf.constant(11))],
        default=lambda: tf.constant(-1),
    )
    with tf.Session() as sess:
        assert [sess.run(r, {k: i}) for i in (0, 1, 2)] == [10, 11, -1]


def test_cond_branches_must_agree() -> None:
    p = tf.placeholder(tf.bool, [])
    with pytest.raises(ValueError, match="same structure"):
        cf.cond(p, lambda: (tf.constant(1.0), tf.constant(2.0)), lambda: tf.constant(1.0))
    with pytest.raises(ValueError, match="same type"):
        cf.cond(p, lambda: tf.constant(1.0), lambda: tf.constant(1))
    with pytest.raises(TypeError, match="callable"):
        cf.cond(p, 1.0, lambda: tf.constant(1.0))  # type: ignore[arg-type]


def test_assignment_in_a_branch_runs_only_when_taken() -> None:
    # More in tests/test_control_flow_state.py.
    v = tf.Variable(1.0)
    p = tf.placeholder(tf.bool, [])
    r = cf.cond(p, lambda: v.assign(2.0), lambda: tf.constant(0.0))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(r, {p: False}) == 0.0 and sess.run(v) == 1.0
        assert sess.run(r, {p: True}) == 2.0 and sess.run(v) == 2.0


# -- while_loop --------------------------------------------------------------------------------
def test_while_with_a_fed_trip_count_and_nested_cond() -> None:
    n = tf.placeholder(tf.int32, [])
    x = tf.placeholder(tf.float64, [None])

    def body(i: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        even = tf.equal(tf.mod(i, 2), 0)
        return i + 1, cf.cond(even, lambda: s + x, lambda: s * 2.0)

    i, s = cf.while_loop(lambda i, s: i < n, body, [tf.constant(0), tf.zeros_like(x)])
    xs = np.array([1.0, -2.0], np.float64)

    def ref(count: int) -> np.ndarray:
        s = np.zeros(2)
        for j in range(count):
            s = s + xs if j % 2 == 0 else s * 2
        return s

    with tf.Session() as sess:
        for count in (0, 1, 5):
            got_i, got_s = sess.run([i, s], {n: count, x: xs})
            assert got_i == count
            np.testing.assert_allclose(got_s, ref(count))


def test_while_with_maximum_iterations() -> None:
    x = cf.while_loop(lambda v: v < 1000.0, lambda v: v * 2.0, tf.constant(1.0), maximum_iterations=4)
    with tf.Session() as sess:
        assert sess.run(x) == 16.0


def test_loop_variable_that_grows_each_iteration() -> None:
    n = tf.placeholder(tf.int32, [])

    def body(i: tf.Tensor, acc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return i + 1, tf.concat([acc, tf.reshape(tf.cast(i, tf.float32), [1])], 0)

    _, acc = cf.while_loop(
        lambda i, a: i < n,
        body,
        [tf.constant(0), tf.zeros([0])],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])],
    )
    assert acc.shape.as_list() == [None]
    with tf.Session() as sess:
        assert sess.run(acc, {n: 4}).tolist() == [0, 1, 2, 3]
        assert sess.run(acc, {n: 0}).tolist() == []


def test_loop_shape_must_keep_its_invariant() -> None:
    with pytest.raises(ValueError, match="shape_invariants"):
        cf.while_loop(lambda a: tf.size(a) < 5, lambda a: tf.concat([a, a], 0), [tf.zeros([1])])
    with pytest.raises(TypeError, match="type"):
        cf.while_loop(lambda a: a < 5, lambda a: tf.cast(a, tf.float32), [tf.constant(0)])


# -- map_fn, scan, foldl, foldr -----------------------------------------------------------------
def test_map_fn_scan_and_folds_against_numpy() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    xs = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    m = cf.map_fn(lambda r: tf.reduce_sum(r * r), x)
    sc = cf.scan(lambda a, r: a + r, x)
    sc0 = cf.scan(lambda a, r: a * 0.5 + r, x, initializer=tf.zeros([3]), reverse=True)
    fl = cf.foldl(lambda a, r: a * 2.0 + r, x, initializer=tf.zeros([3]))
    fr = cf.foldr(lambda a, r: a * 2.0 + r, x, initializer=tf.zeros([3]))
    with tf.Session() as sess:
        got = sess.run([m, sc, sc0, fl, fr], {x: xs})
    np.testing.assert_allclose(got[0], (xs * xs).sum(1))
    np.testing.assert_allclose(got[1], np.cumsum(xs, 0))
    want, a = [], np.zeros(3, np.float32)
    for r in xs[::-1]:
        a = a * 0.5 + r
        want.append(a)
    np.testing.assert_allclose(got[2], np.array(want[::-1]))
    a = np.zeros(3, np.float32)
    for r in xs:
        a = a * 2 + r
    np.testing.assert_allclose(got[3], a)
    a = np.zeros(3, np.float32)
    for r in xs[::-1]:
        a = a * 2 + r
    np.testing.assert_allclose(got[4], a)


# -- gradients -------------------------------------------------------------------------------
def test_gradient_of_cond_is_the_taken_branchs() -> None:
    x = tf.placeholder(tf.float64, [3])
    w = tf.placeholder(tf.float64, [3])
    p = tf.placeholder(tf.bool, [])
    y = tf.reduce_sum(cf.cond(p, lambda: tf.sin(x) * w, lambda: x * x))
    gx, gw = tf.gradients(y, [x, w])
    xs, ws = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -2.0])
    with tf.Session() as sess:
        for taken in (True, False):
            got_x, got_w = sess.run([gx, gw], {x: xs, w: ws, p: taken})
            f = (lambda v: float(np.sum(np.sin(v) * ws))) if taken else (lambda v: float(np.sum(v * v)))
            np.testing.assert_allclose(got_x, _central(f, xs), rtol=1e-6, atol=1e-8)
            want_w = np.sin(xs) if taken else np.zeros(3)
            np.testing.assert_allclose(got_w, want_w, rtol=1e-6, atol=1e-8)


def test_gradient_of_while_power_by_repeated_multiply() -> None:
    x = tf.placeholder(tf.float64, [2])
    n = tf.placeholder(tf.int32, [])
    _, y = cf.while_loop(lambda i, p: i < n, lambda i, p: (i + 1, p * x), [tf.constant(0), tf.ones_like(x)])
    (g,) = tf.gradients(tf.reduce_sum(y), x)
    xs = np.array([1.3, -0.7])
    with tf.Session() as sess:
        for k in (0, 1, 4):
            got = sess.run(g, {x: xs, n: k})
            np.testing.assert_allclose(
                got, _central(lambda v, k=k: float(np.sum(v**k)), xs), rtol=1e-6, atol=1e-8
            )


def test_gradient_through_a_loop_with_a_cond_inside() -> None:
    x = tf.placeholder(tf.float64, [])

    def body(i: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return i + 1, cf.cond(i < 2, lambda: s * x, lambda: tf.sin(s))

    _, y = cf.while_loop(lambda i, s: i < 4, body, [tf.constant(0), tf.constant(1.5, tf.float64)])
    (g,) = tf.gradients(y, x)

    def f(v: np.ndarray) -> float:
        s = 1.5
        for i in range(4):
            s = s * float(v) if i < 2 else np.sin(s)
        return float(s)

    with tf.Session() as sess:
        got = sess.run(g, {x: 0.8})
    np.testing.assert_allclose(got, _central(f, np.array(0.8)), rtol=1e-6)


# -- backends --------------------------------------------------------------------------------
@pytest.mark.skipif("llvm" not in available_backends(), reason="the LLVM backend is not available")
def test_llvm_runs_a_loop_through_the_numpy_fallback() -> None:
    x = tf.placeholder(tf.float32, [None])
    n = tf.placeholder(tf.int32, [])
    _, y = cf.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s * 1.5 + x), [tf.constant(0), x])
    z = tf.reduce_sum(tf.exp(y * 0.1))
    xs = np.array([0.5, -1.0, 2.0], np.float32)
    s = xs.copy()
    for _ in range(3):
        s = s * 1.5 + xs
    with tf.Session(backend="llvm") as sess:
        got_y, got_z = sess.run([y, z], {x: xs, n: 3})
    np.testing.assert_allclose(got_y, s, rtol=1e-6)
    np.testing.assert_allclose(got_z, np.exp(s * 0.1).sum(), rtol=1e-5)


# -- random ops inside branches and loops ---------------------------------------------------


def _uniform_of(op: tf.Operation, counter: int, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """What a RandomUniform op draws with run counter ``counter`` (graphc.kernels.philox)."""
    key = philox.key_from_seeds(op.get_attr("seed"), op.get_attr("seed2"))
    return philox.uniform(key, int(counter), shape, np.dtype(dtype))


def _random_ops(kind: str = "RandomUniform") -> list[tf.Operation]:
    return [op for op in tf.get_default_graph().get_operations() if op.type == kind]


def test_loop_counter_is_the_documented_splitmix_step() -> None:
    def mix(z: int) -> int:
        m = 2**64 - 1
        z ^= z >> 30
        z = (z * 0xBF58476D1CE4E5B9) & m
        z ^= z >> 27
        z = (z * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    for k, j in [(0, 0), (5, 0), (5, 1), (2**32 - 1, 2**31 - 1), (2**63 + 3, 7)]:
        assert int(cf.loop_counter(k, j)) == mix(k ^ ((j + 1) << 32))
    got = {int(cf.loop_counter(k, j)) for k in range(20) for j in range(50)}
    assert len(got) == 20 * 50  # one to one on (run, iteration)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_dropout_in_cond_training_graph(backend: str) -> None:
    tf.set_random_seed(11)
    x = tf.placeholder(tf.float32, [None, 4])
    training = tf.placeholder(tf.bool, [])
    w0 = np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(4, 2)
    w = tf.Variable(w0)
    h = tf.matmul(x, w)
    hd = cf.cond(training, lambda: tf.nn.dropout(h, keep_prob=0.5), lambda: h)
    loss = tf.reduce_mean(tf.square(hd))
    lr = 0.1
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
    (rnd,) = _random_ops()
    xs = np.arange(24, dtype=np.float32).reshape(6, 4) / 10 - 1

    def mask(k: int) -> np.ndarray:
        return np.floor(np.float32(0.5) + _uniform_of(rnd, k, (6, 2), np.float32))

    def step(wv: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hv = xs.astype(np.float64) @ wv
        d = hv / 0.5 * m
        grad_h = 2 * d / d.size * m / 0.5
        return d, wv - lr * (xs.astype(np.float64).T @ grad_h)

    def training_runs(sess: tf.Session, wv: np.ndarray, counters: list[int]) -> np.ndarray:
        for k in counters:
            got, _ = sess.run([hd, train], {x: xs, training: True})
            want, wv = step(wv, mask(k))
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(sess.run(w), wv, rtol=1e-5, atol=1e-6)
        return wv

    assert not np.array_equal(mask(0), mask(1))
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        wv = training_runs(sess, w0.astype(np.float64), [0, 1])
        # The eval branch: no dropout (its run still takes the op's next counter).
        np.testing.assert_allclose(sess.run(hd, {x: xs, training: False}), xs @ wv, rtol=1e-5, atol=1e-6)
        wv = training_runs(sess, wv, [3])
    # A new session with the same seeds draws the same masks again.
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        training_runs(sess, w0.astype(np.float64), [0, 1])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_random_in_a_loop_body_draws_per_iteration(backend: str) -> None:
    tf.set_random_seed(3)
    n = tf.placeholder(tf.int32, [])

    def body(i: tf.Tensor, acc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return i + 1, tf.concat([acc, tf.random_uniform([1, 3])], 0)

    _, rows = cf.while_loop(
        lambda i, a: i < n,
        body,
        [tf.constant(0), tf.zeros([0, 3])],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, 3])],
    )
    (rnd,) = _random_ops()
    with _session(backend) as sess:
        for k, count in enumerate([4, 2]):
            got = sess.run(rows, {n: count})
            want = [_uniform_of(rnd, cf.loop_counter(k, j), (1, 3), np.float32) for j in range(count)]
            np.testing.assert_array_equal(got, np.concatenate(want))
        assert len({tuple(r) for r in sess.run(rows, {n: 5})}) == 5


def test_random_in_a_cond_inside_a_loop_and_nested_loops() -> None:
    tf.set_random_seed(4)

    def inner(j: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return j + 1, s + tf.random_uniform([], dtype=tf.float64)

    def outer(i: tf.Tensor, acc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        _, s = cf.while_loop(lambda j, s: j < 2, inner, [tf.constant(0), tf.constant(0.0, tf.float64)])
        noisy = cf.cond(tf.equal(tf.mod(i, 2), 0), lambda: tf.random_normal([], dtype=tf.float64), lambda: s)
        return i + 1, tf.concat([acc, tf.reshape(noisy, [1]), tf.reshape(s, [1])], 0)

    _, out = cf.while_loop(
        lambda i, a: i < 3,
        outer,
        [tf.constant(0), tf.zeros([0], tf.float64)],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])],
    )
    (uni,) = _random_ops()
    (nor,) = _random_ops("RandomStandardNormal")
    nkey = philox.key_from_seeds(nor.get_attr("seed"), nor.get_attr("seed2"))
    with tf.Session() as sess:
        for k in range(2):
            want = []
            for i in range(3):
                outer_c = cf.loop_counter(k, i)
                s = sum(
                    float(_uniform_of(uni, cf.loop_counter(outer_c, j), (), np.float64)) for j in range(2)
                )
                noisy = float(philox.normal(nkey, int(outer_c), (), np.float64)) if i % 2 == 0 else s
                want += [noisy, s]
            np.testing.assert_allclose(sess.run(out), want, rtol=1e-12)


def test_gradient_through_dropout_in_a_loop_uses_the_forward_masks() -> None:
    tf.set_random_seed(3)
    x = tf.placeholder(tf.float64, [3])

    def body(i: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return i + 1, tf.nn.dropout(tf.sin(s * x) + 1.0, keep_prob=0.6)

    _, y = cf.while_loop(lambda i, s: i < 3, body, [tf.constant(0), tf.ones_like(x)])
    f_t = tf.reduce_sum(y * y)
    (g,) = tf.gradients(f_t, x)
    xs = np.array([0.4, -1.1, 0.9])

    def f(v: np.ndarray) -> float:
        with tf.Session() as sess:  # a new session: the run counters start again at 0
            return float(sess.run(f_t, {x: v}))

    with tf.Session() as sess:
        got = sess.run(g, {x: xs})
    assert np.count_nonzero(got) == 2  # these seeds keep two elements through every iteration
    np.testing.assert_allclose(got, _central(f, xs), rtol=1e-6, atol=1e-8)


def test_a_failed_run_does_not_advance_the_counters_of_a_branch() -> None:
    tf.set_random_seed(2)
    p = tf.placeholder(tf.bool, [])
    k = tf.placeholder(tf.int32, [])
    u = cf.cond(p, lambda: tf.random_uniform([4]), lambda: tf.zeros([4]))
    picked = tf.gather(u, k)
    (rnd,) = _random_ops()
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(picked, {p: True, k: 7})
        np.testing.assert_array_equal(sess.run(u, {p: True}), _uniform_of(rnd, 0, (4,), np.float32))
        np.testing.assert_array_equal(sess.run(u, {p: True}), _uniform_of(rnd, 1, (4,), np.float32))


def test_the_pipeline_optimises_inside_bodies() -> None:
    """A loop body is a program of its own through the same passes: x * 1.0 simplified, the
    repeated relu merged (CSE), the chain fused into one node; values unchanged."""
    from graphc.ir.lower import lower
    from graphc.passes import pipeline

    x = tf.placeholder(tf.float32, [None])
    n = tf.placeholder(tf.int32, [])

    def body(i, v):  # type: ignore[no-untyped-def]
        return i + 1, tf.nn.relu(v * 1.0) * 2.0 + tf.nn.relu(v * 1.0)

    _, y = tf.while_loop(lambda i, v: i < n, body, [0, x])
    low = lower(tf.get_default_graph(), [y], {x: (tf.float32, (3,)), n: (tf.int32, ())})
    program = pipeline.optimize(low.program)
    (loop,) = [node for node in program.nodes if node.op == "While"]
    body_ops = [node.op for node in loop.regions[1].nodes]
    assert body_ops.count("Fused") == 1 and "Relu" not in body_ops and "Mul" not in body_ops
    with tf.Session() as sess:
        got = sess.run(y, {x: [1.0, -1.0, 2.0], n: 2})
    np.testing.assert_allclose(got, [9.0, 0.0, 18.0])
