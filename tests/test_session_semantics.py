"""TF1 run semantics: fetch structures, feeds, variables' read/update order, errors, seeds."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import graphc as tf


def test_fetch_structures_keep_their_shape() -> None:
    a = tf.constant(1.0)
    b = tf.constant([2, 3])
    Pair = collections.namedtuple("Pair", ["x", "y"])
    op = tf.no_op()
    with tf.Session() as sess:
        out = sess.run({"a": a, "nested": [b, (a, Pair(a, b))], "op": op})
    assert out["a"] == np.float32(1.0) and isinstance(out["a"], np.float32)
    np.testing.assert_array_equal(out["nested"][0], [2, 3])
    assert isinstance(out["nested"][1], tuple)
    assert isinstance(out["nested"][1][1], Pair)
    np.testing.assert_array_equal(out["nested"][1][1].y, [2, 3])
    assert out["op"] is None


def test_fetch_by_name_and_variable() -> None:
    v = tf.Variable([1.0, 2.0], name="v")
    c = tf.multiply(v, 2.0, name="double")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run("double:0"), [2.0, 4.0])
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
        assert sess.run("double") is None  # an op name fetches the op
        assert c.eval() is not None


def test_python_constants_get_tf1_dtypes() -> None:
    assert tf.constant(1.5).dtype == tf.float32
    assert tf.constant(3).dtype == tf.int32
    assert tf.placeholder("float").dtype == tf.float32
    s = tf.constant("hello")
    with tf.Session() as sess:
        assert sess.run(s) == b"hello"


def test_feed_errors_name_the_tensor() -> None:
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = x * 2.0
    with tf.Session() as sess:
        with pytest.raises(
            ValueError,
            match=r"Cannot feed value of shape \(2, 4\) for Tensor 'x:0'.*test_session_semantics.py",
        ):
            sess.run(y, {x: np.zeros((2, 4))})
        with pytest.raises(TypeError, match="Cannot feed a value of type"):
            sess.run(y, {x: np.array([["a", "b", "c"]])})
        with pytest.raises(TypeError, match="Cannot interpret feed_dict key"):
            sess.run(y, {"nope:0": np.zeros((1, 3))})
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="You must feed a value for placeholder tensor 'x:0'"
        ):
            sess.run(y)
    i = tf.placeholder(tf.int32, [2])
    with tf.Session() as sess:
        with pytest.raises(TypeError):
            sess.run(i + 1, {i: np.array([1.5, 2.0])})
        np.testing.assert_array_equal(sess.run(i + 1, {i: [1, 2]}), [2, 3])


def test_new_batch_size_reuses_the_program() -> None:
    x = tf.placeholder(tf.float32, [None, 784])
    w = tf.constant(np.ones((784, 10), np.float32))
    y = tf.reduce_sum(tf.matmul(x, w), axis=1)
    with tf.Session() as sess:
        a = sess.run(y, {x: np.ones((128, 784))})
        b = sess.run(y, {x: np.ones((297, 784))})
        assert a.shape == (128,) and b.shape == (297,)
        assert sess.stats["compiles"] == 1 and sess.stats["lowerings"] == 1
        np.testing.assert_allclose(b, 7840.0)


def test_symbolic_dims_must_agree_at_run_time() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 3])
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="dimension 0"):
            sess.run(x + y, {x: np.zeros((2, 3)), y: np.zeros((5, 3))})


def test_construction_shape_error_points_at_user_line() -> None:
    a = tf.placeholder(tf.float32, [None, 784])
    b = tf.placeholder(tf.float32, [785, 10])
    with pytest.raises(ValueError, match=r"MatMul.*test_session_semantics.py:\d+"):
        tf.matmul(a, b)
    with pytest.raises(ValueError, match=r"broadcast"):
        tf.constant([1.0, 2.0]) + tf.constant([1.0, 2.0, 3.0])


def test_reads_see_start_value_unless_they_depend_on_the_assign() -> None:
    v = tf.Variable(1.0)
    inc = tf.assign_add(v, 10.0)
    before = v * 1.0  # no dependency on inc: start-of-run value
    with tf.control_dependencies([inc]):
        after = v * 1.0  # depends on inc: sees the new value
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        b, a, new = sess.run([before, after, inc])
        assert (b, a, new) == (1.0, 11.0, 11.0)
        assert sess.run(v) == 11.0


def test_chained_assignments_in_one_run() -> None:
    v = tf.Variable(2.0)
    a1 = tf.assign(v, 5.0)
    with tf.control_dependencies([a1]):
        a2 = tf.assign_add(v, 1.0)  # reads the value a1 wrote
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(a2) == 6.0
        assert sess.run(v) == 6.0


def test_unordered_assignments_are_an_error() -> None:
    v = tf.Variable(0.0)
    g = tf.group(tf.assign(v, 1.0), tf.assign(v, 2.0))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError, match="no order between"):
            sess.run(g)


def test_uninitialized_variable_is_named() -> None:
    w = tf.Variable(tf.zeros([2]), name="weights")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value weights"):
            sess.run(w + 1.0)


def test_failed_run_changes_no_variable() -> None:
    v = tf.Variable([1.0, 2.0, 3.0])
    idx = tf.placeholder(tf.int32, [None])
    update = tf.assign_add(v, tf.ones([3]))
    with tf.control_dependencies([update]):
        bad = tf.gather(v, idx)  # an out-of-range index fails after the update was computed
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(bad, {idx: [0, 7]})
        assert "test_session_semantics.py" in str(info.value)
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(sess.run(bad, {idx: [2]}), [4.0])


def test_seeds_repeat_across_sessions_and_advance_within_one() -> None:
    def draws() -> list[np.ndarray]:
        tf.reset_default_graph()
        tf.set_random_seed(42)
        r = tf.random_normal([3])
        u = tf.random_uniform([2], seed=7)
        with tf.Session() as sess:
            return [sess.run(r), sess.run(r), sess.run(u)]

    first, second = draws(), draws()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # the op's state advances per run


def test_op_seed_without_graph_seed_is_deterministic() -> None:
    def draw() -> np.ndarray:
        tf.reset_default_graph()
        t = tf.truncated_normal([1000], seed=3)
        with tf.Session() as sess:
            return sess.run(t)

    a, b = draw(), draw()
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a) <= 2.0)


def test_control_dependencies_and_group() -> None:
    v = tf.Variable(0)
    inc = tf.assign_add(v, 1)
    g = tf.group(inc)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(g)
        assert sess.run(v) == 3


def test_interactive_session_and_eval() -> None:
    c = tf.constant([1.0, 2.0])
    sess = tf.InteractiveSession()
    try:
        np.testing.assert_array_equal(c.eval(), [1.0, 2.0])
        assert tf.get_default_session() is sess
    finally:
        sess.close()
    assert tf.get_default_session() is None


def test_graph_finalize_and_names() -> None:
    g = tf.Graph()
    with g.as_default():
        a = tf.constant(1.0, name="a")
        b = tf.constant(1.0, name="a")
        with tf.name_scope("block"):
            c = tf.identity(a)
        assert (a.name, b.name, c.name) == ("a:0", "a_1:0", "block/Identity:0")
        assert g.get_tensor_by_name("a_1:0") is b
        g.finalize()
        with pytest.raises(RuntimeError, match="finalized"):
            tf.constant(2.0)


def test_tensor_operators_and_slicing() -> None:
    x = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    ref = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    exprs = {
        "slice": (x[1, ::2, 1:], ref[1, ::2, 1:]),
        "ellipsis": (x[..., -1], ref[..., -1]),
        "newaxis": (x[:, None, 0], ref[:, None, 0]),
        "arith": ((x + 1) * 2 - x / 4 // 1 % 3, (ref + 1) * 2 - ref / 4 // 1 % 3),
        "pow": (x**2, ref**2),
        "neg": (-x, -ref),
        "cmp": (x > 5.0, ref > 5),
        "matmul": (x[0] @ tf.transpose(x[1]), ref[0] @ ref[1].T),
    }
    with tf.Session() as sess:
        for name, (t, want) in exprs.items():
            np.testing.assert_allclose(sess.run(t), want, err_msg=name)


def test_placeholder_with_default_and_unknown_rank() -> None:
    d = tf.placeholder_with_default(tf.constant([1.0, 2.0]), shape=[None])
    u = tf.placeholder(tf.float32, shape=None)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(d * 2.0), [2.0, 4.0])
        np.testing.assert_array_equal(sess.run(d * 2.0, {d: [5.0]}), [10.0])
        assert sess.run(tf.reduce_sum(u), {u: np.ones((2, 3, 4))}) == 24.0
        assert sess.run(tf.reduce_sum(u), {u: np.ones(5)}) == 5.0


def test_memory_plan_is_evaluated_per_run_without_recompiling() -> None:
    x = tf.placeholder(tf.float32, [None, 64])
    w = tf.constant(np.ones((64, 32), np.float32))
    y = tf.reduce_sum(tf.nn.relu(tf.matmul(x, w) + 1.0))
    with tf.Session() as sess:
        sess.run(y, {x: np.ones((8, 64))})
        small = sess.stats["peak_bytes"]
        sess.run(y, {x: np.ones((80, 64))})
        large = sess.stats["peak_bytes"]
        assert sess.stats["compiles"] == 1
    # The program's intermediates are [N, 32] float32 buffers: the peak grows with N.
    assert large > small > 0
    assert (large - small) % (72 * 32 * 4) == 0


def test_where_with_a_vector_condition_selects_rows_as_tf1() -> None:
    x = [[1, 2], [3, 4]]
    y = [[5, 6], [7, 8]]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(tf.where([True, False], x, y)), [[1, 2], [7, 8]])
        # where_v2 broadcasts the condition against the last axis instead.
        np.testing.assert_array_equal(sess.run(tf.where_v2([True, False], x, y)), [[1, 6], [3, 8]])


def test_session_state_never_aliases_user_arrays() -> None:
    w = tf.Variable(tf.zeros([3]))
    p = tf.placeholder(tf.float32, [3])
    a = tf.assign(w, p)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        buf = np.ones(3, np.float32)
        sess.run(a, {p: buf})
        buf[:] = 99  # changing the fed array afterwards must not reach the variable
        np.testing.assert_array_equal(sess.run(w), [1, 1, 1])
        w.load(buf, sess)
        buf[:] = 42
        got = sess.run(w)
        np.testing.assert_array_equal(got, [99, 99, 99])
        got[:] = -1  # nor may changing a fetched array
        np.testing.assert_array_equal(sess.run(w), [99, 99, 99])
        c = sess.run(tf.constant([1.0, 2.0]))
        c += 1  # fetched arrays are ordinary writable arrays
        np.testing.assert_array_equal(c, [2.0, 3.0])


def test_dim_conflict_names_both_feeds_and_the_op() -> None:
    p = tf.placeholder(tf.float32, [None], name="p")
    q = tf.placeholder(tf.float32, [None], name="q")
    total = p + q
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(total, {p: np.ones(2), q: np.ones(3)})
    text = str(info.value)
    assert "'q:0' is 3" in text and "'p:0' is 2" in text
    assert "Add op 'add'" in text and "test_session_semantics.py" in text


def test_ragged_feed_names_the_placeholder() -> None:
    x = tf.placeholder(tf.float32, [None, 2], name="ragged")
    with tf.Session() as sess:
        with pytest.raises(ValueError, match="Tensor 'ragged:0'"):
            sess.run(x, {x: [[1, 2], [3]]})


def test_device_scopes_and_collections_are_recorded() -> None:
    with tf.device("/gpu:0"):
        a = tf.constant(1.0, name="on_gpu")
        with tf.device("/cpu:0"):
            b = tf.constant(2.0)
    c = tf.constant(3.0)
    assert (a.device, b.device, c.device) == ("/gpu:0", "/cpu:0", "")
    tf.add_to_collection("mine", a)
    tf.add_to_collections(["mine", "other"], b)
    assert tf.get_collection("mine") == [a, b]
    assert tf.get_collection("other") == [b]
    assert tf.get_collection("mine", scope="on_") == [a]
    v = tf.Variable(1.0, trainable=False, name="counter")
    w = tf.Variable(1.0, name="weight")
    assert tf.trainable_variables() == [w]
    assert tf.global_variables() == [v, w]
    assert tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES) == [v, w]


def test_initial_value_from_another_variable() -> None:
    a = tf.Variable([1.0, 2.0])
    c = tf.Variable(a * 3)
    d = tf.get_variable("d", initializer=tf.identity(a) + c)
    grow = tf.assign_add(a, [10.0, 10.0])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())  # one run: c and d wait for a (TF1)
        np.testing.assert_array_equal(sess.run(c), [3.0, 6.0])
        np.testing.assert_array_equal(sess.run(d), [4.0, 8.0])
        sess.run(grow)
        sess.run(c.initializer)  # alone, c's initializer reads a's current value
        np.testing.assert_array_equal(sess.run(c), [33.0, 36.0])


def test_compat_v1_is_the_same_namespace_and_operation_run_works() -> None:
    import graphc.compat.v1 as v1

    import graphc

    assert v1 is graphc and graphc.compat.v1 is graphc
    v = v1.Variable(0)
    inc = v1.assign_add(v, 5)
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        inc.op.run()  # Operation.run uses the default session
        inc.op.run(session=sess)
        assert v.eval() == 10
        assert v.get_shape().as_list() == [] and inc.shape.as_list() == []
