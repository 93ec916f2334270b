"""tf.data: Dataset pipelines read through iterators in a Session, one element per run."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.data import FEED_PROVIDERS, Dataset, Iterator, iterator_feeds


class IterSession(tf.Session):
    """A Session that asks the graph's iterators for their feeds before each run, as
    graphc.data's hook expects the Session to do (harmless if the Session does it too: a
    tensor already fed is not pulled again)."""

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):  # type: ignore[no-untyped-def]
        feeds = dict(feed_dict or {})
        feeds.update(iterator_feeds(self, fetches, feeds))
        return super().run(fetches, feeds, options, run_metadata)


def drain(sess: tf.Session, fetch) -> list:  # type: ignore[no-untyped-def]
    out = []
    while True:
        try:
            out.append(sess.run(fetch))
        except errors.OutOfRangeError:
            return out
        if len(out) > 10_000:
            raise AssertionError("the iterator did not end")


def test_slices_one_epoch_in_order_then_out_of_range() -> None:
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6, dtype=np.int64) * 10
    ds = Dataset.from_tensor_slices((x, y))
    assert ds.output_types == (tf.float32, tf.int64)
    assert ds.output_shapes == (tf.TensorShape([2]), tf.TensorShape([]))
    a, b = ds.make_one_shot_iterator().get_next()
    assert a.shape.as_list() == [2] and a.dtype == tf.float32
    with IterSession() as sess:
        got = drain(sess, (a, b))
        assert len(got) == 6
        for i, (ga, gb) in enumerate(got):
            np.testing.assert_array_equal(ga, x[i])
            assert gb == y[i]
        with pytest.raises(errors.OutOfRangeError, match="End of sequence"):
            sess.run(a)  # stays at the end


def test_python_lists_follow_tf1_dtypes_and_dicts_keep_keys() -> None:
    ds = Dataset.from_tensor_slices({"f": [1.5, 2.5], "i": [1, 2]})
    assert ds.output_types == {"f": tf.float32, "i": tf.int32}
    el = ds.make_one_shot_iterator().get_next()
    with IterSession() as sess:
        first = sess.run(el)
        assert set(first) == {"f", "i"} and first["f"] == np.float32(1.5) and first["i"] == 1
        assert sess.run(el)["i"] == 2


def test_batch_with_and_without_remainder() -> None:
    x = np.arange(10)
    ds = Dataset.from_tensor_slices(x).batch(4)
    assert ds.output_shapes.as_list() == [None]
    with IterSession() as sess:
        got = drain(sess, ds.make_one_shot_iterator().get_next())
    assert [g.tolist() for g in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = Dataset.from_tensor_slices(x).batch(4, drop_remainder=True)
    assert dropped.output_shapes.as_list() == [4]
    with IterSession() as sess:
        got = drain(sess, dropped.make_one_shot_iterator().get_next())
    assert [g.tolist() for g in got] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError):
        Dataset.from_tensor_slices(x).batch(0)


def test_seeded_shuffle_is_a_permutation_per_epoch_deterministic_and_reshuffled() -> None:
    n = 20
    ds = Dataset.from_tensor_slices(np.arange(n)).shuffle(n, seed=7).repeat(3)

    def epochs() -> list[list[int]]:
        with tf.Graph().as_default(), IterSession() as sess:
            got = [int(v) for v in drain(sess, ds.make_one_shot_iterator().get_next())]
        assert len(got) == 3 * n
        return [got[i * n : (i + 1) * n] for i in range(3)]

    first = epochs()
    for e in first:
        assert sorted(e) == list(range(n))  # every element once per epoch
    assert first[0] != first[1] != first[2]  # reshuffled each pass
    assert first[0] != list(range(n))
    assert epochs() == first  # same seed, same orders, in a new session
    fixed = (
        Dataset.from_tensor_slices(np.arange(n)).shuffle(n, seed=7, reshuffle_each_iteration=False).repeat(2)
    )
    got = [int(v) for v in fixed.as_numpy_iterator()]
    assert got[:n] == got[n:] and sorted(got[:n]) == list(range(n))


def test_shuffle_buffer_bounds_how_far_an_element_moves() -> None:
    n, buf = 50, 5
    got = [int(v) for v in Dataset.from_tensor_slices(np.arange(n)).shuffle(buf, seed=3).as_numpy_iterator()]
    assert sorted(got) == list(range(n))
    # Output position i is drawn from a buffer holding inputs 0 .. i + buf - 1.
    assert all(v <= i + buf - 1 for i, v in enumerate(got))
    assert got != list(range(n))
    ones = [int(v) for v in Dataset.from_tensor_slices(np.arange(n)).shuffle(1, seed=3).as_numpy_iterator()]
    assert ones == list(range(n))  # a buffer of one keeps the order


def test_graph_seed_makes_shuffle_deterministic() -> None:
    def order() -> list[int]:
        with tf.Graph().as_default():
            tf.set_random_seed(5)
            return [int(v) for v in Dataset.range(15).shuffle(15).as_numpy_iterator()]

    assert order() == order()
    assert sorted(order()) == list(range(15))


def test_repeat_counts_take_and_skip() -> None:
    base = Dataset.range(4)
    assert [int(v) for v in base.repeat(3).as_numpy_iterator()] == [0, 1, 2, 3] * 3
    assert [int(v) for v in base.repeat(0).as_numpy_iterator()] == []
    assert [int(v) for v in base.repeat().take(10).as_numpy_iterator()] == [0, 1, 2, 3] * 2 + [0, 1]
    assert [int(v) for v in base.skip(1).take(2).as_numpy_iterator()] == [1, 2]
    assert [int(v) for v in base.take(-1).as_numpy_iterator()] == [0, 1, 2, 3]
    assert [int(v) for v in base.skip(-1).as_numpy_iterator()] == []
    assert [int(v) for v in Dataset.range(2, 9, 3).as_numpy_iterator()] == [2, 5, 8]


def test_one_element_per_run_for_a_train_op_and_fetches_agree() -> None:
    x = np.arange(8, dtype=np.float32)
    ds = Dataset.from_tensor_slices((x, x * 2)).batch(3)
    a, b = ds.make_one_shot_iterator().get_next()
    acc = tf.Variable(0.0)
    step = tf.assign_add(acc, tf.reduce_sum(a))
    with IterSession() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(step) == pytest.approx(0 + 1 + 2)
        ga, gb = sess.run([a, b])  # one element for both tensors of one get_next
        np.testing.assert_array_equal(gb, ga * 2)
        np.testing.assert_array_equal(ga, [3, 4, 5])
        assert sess.run(step) == pytest.approx(3 + 6 + 7)
        assert sess.run(acc) == pytest.approx(3 + 13)  # reading the variable pulls nothing
        with pytest.raises(errors.OutOfRangeError):
            sess.run(step)


def test_two_get_next_calls_pull_two_elements_and_feeding_overrides() -> None:
    it = Dataset.range(10).make_one_shot_iterator()
    p, q = it.get_next(), it.get_next()
    with IterSession() as sess:
        first, second = sess.run([p, q])
        assert {int(first), int(second)} == {0, 1}
        assert int(sess.run(p, {q: 99})) == 2  # a fed get_next tensor pulls nothing
        assert int(sess.run(q + 0, {q: 99})) == 99
        assert int(sess.run(q)) == 3


def test_initializable_iterator_with_fed_placeholder_and_reinit() -> None:
    data = tf.placeholder(tf.float32, [None, 2])
    ds = Dataset.from_tensor_slices(data).map(lambda v: v * 2.0).batch(2)
    it = ds.make_initializable_iterator()
    nxt = it.get_next()
    assert nxt.shape.as_list() == [None, 2]
    with IterSession() as sess:
        with pytest.raises(errors.FailedPreconditionError, match="not been initialized"):
            sess.run(nxt)
        sess.run(it.initializer, {data: np.ones((3, 2))})
        got = drain(sess, nxt)
        assert [g.shape for g in got] == [(2, 2), (1, 2)]
        np.testing.assert_array_equal(np.concatenate(got), np.full((3, 2), 2.0))
        sess.run(it.initializer, {data: np.arange(4.0).reshape(2, 2)})  # start over, new data
        np.testing.assert_array_equal(sess.run(nxt), np.arange(4.0).reshape(2, 2) * 2)
        with pytest.raises(errors.OutOfRangeError):
            sess.run(nxt)
    one_shot = Dataset.range(3).make_one_shot_iterator()
    with pytest.raises(ValueError, match="initializer"):
        _ = one_shot.initializer


def test_sessions_iterate_independently() -> None:
    nxt = Dataset.range(5).make_one_shot_iterator().get_next()
    with IterSession() as s1, IterSession() as s2:
        assert [int(s1.run(nxt)) for _ in range(3)] == [0, 1, 2]
        assert int(s2.run(nxt)) == 0
        assert int(s1.run(nxt)) == 3


def test_reinitializable_iterator_switches_datasets() -> None:
    train = Dataset.from_tensor_slices(np.arange(6, dtype=np.float32)).batch(2)
    val = Dataset.from_tensor_slices(np.full(3, -1.0, np.float32)).batch(2)
    it = Iterator.from_structure(train.output_types, train.output_shapes)
    nxt = it.get_next()
    init_train, init_val = it.make_initializer(train), it.make_initializer(val)
    with IterSession() as sess:
        sess.run(init_train)
        np.testing.assert_array_equal(sess.run(nxt), [0, 1])
        sess.run(init_val)
        assert [g.tolist() for g in drain(sess, nxt)] == [[-1, -1], [-1]]
        sess.run(init_train)
        np.testing.assert_array_equal(sess.run(nxt), [0, 1])
    with pytest.raises(TypeError, match="types"):
        it.make_initializer(Dataset.range(3))


def test_from_generator_types_shapes_and_mismatch() -> None:
    def gen():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield np.full(2, i), i

    ds = Dataset.from_generator(gen, (tf.float32, tf.int64), ((2,), ()))
    assert ds.output_shapes == (tf.TensorShape([2]), tf.TensorShape([]))
    el = ds.repeat(2).batch(4).make_one_shot_iterator().get_next()
    with IterSession() as sess:
        got = drain(sess, el)
    assert [g[1].tolist() for g in got] == [[0, 1, 2, 0], [1, 2]]
    assert got[0][0].dtype == np.float32 and got[0][0].shape == (4, 2)

    def bad():  # type: ignore[no-untyped-def]
        yield np.zeros(3)

    nxt = Dataset.from_generator(bad, tf.float32, [2]).make_one_shot_iterator().get_next()
    with IterSession() as sess, pytest.raises(errors.InvalidArgumentError, match=r"shape \(3,\)"):
        sess.run(nxt)
    unknown = Dataset.from_generator(lambda: iter([[1, 2], [3, 4, 5]]), tf.int32)
    assert unknown.output_shapes.ndims is None
    assert [v.tolist() for v in unknown.as_numpy_iterator()] == [[1, 2], [3, 4, 5]]


def test_map_traced_with_graph_ops_and_on_numpy_values() -> None:
    images = np.arange(24, dtype=np.uint8).reshape(6, 2, 2)
    labels = np.arange(6)
    traced = Dataset.from_tensor_slices((images, labels)).map(
        lambda x, y: (tf.cast(x, tf.float32) / 255.0, tf.one_hot(y, 6))
    )
    assert traced.output_types == (tf.float32, tf.float32)
    assert traced.output_shapes == (tf.TensorShape([2, 2]), tf.TensorShape([6]))
    got = list(traced.as_numpy_iterator())
    np.testing.assert_allclose(got[4][0], images[4] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(got[4][1], np.eye(6)[4])
    numpy_fn = Dataset.from_tensor_slices(np.arange(5.0)).map(lambda v: np.sqrt(v) + np.float64(1))
    assert numpy_fn.output_types == tf.float64
    np.testing.assert_allclose(list(numpy_fn.as_numpy_iterator()), np.sqrt(np.arange(5.0)) + 1)
    before = len(tf.get_default_graph().get_operations())
    dicts = Dataset.from_tensor_slices({"a": np.arange(3), "b": np.arange(3) * 2}).map(
        lambda d: d["a"] + d["b"]
    )
    assert [int(v) for v in dicts.as_numpy_iterator()] == [0, 3, 6]
    assert len(tf.get_default_graph().get_operations()) == before  # traced elsewhere
    listed = Dataset.range(2).map(lambda v: [v, 1])  # a list result is a tuple, as in TF1
    assert listed.output_types == (tf.int64, tf.int32)
    assert [tuple(int(a) for a in e) for e in listed.as_numpy_iterator()] == [(0, 1), (1, 1)]


def test_filter_zip_concatenate_cache() -> None:
    evens = Dataset.range(10).filter(lambda v: tf.equal(v % 2, 0))
    assert [int(v) for v in evens.as_numpy_iterator()] == [0, 2, 4, 6, 8]
    zipped = Dataset.zip((Dataset.range(3), Dataset.range(10, 20)))
    assert [tuple(int(a) for a in e) for e in zipped.as_numpy_iterator()] == [(0, 10), (1, 11), (2, 12)]
    both = Dataset.range(2).concatenate(Dataset.range(5, 7))
    assert [int(v) for v in both.as_numpy_iterator()] == [0, 1, 5, 6]
    with pytest.raises(TypeError):
        Dataset.range(2).concatenate(Dataset.from_tensor_slices(np.zeros(2, np.float32)))
    calls = collections.Counter()

    def gen():  # type: ignore[no-untyped-def]
        calls["gen"] += 1
        yield from range(3)

    cached = Dataset.from_generator(gen, tf.int64, []).cache().repeat(3)
    assert [int(v) for v in cached.as_numpy_iterator()] == [0, 1, 2] * 3
    assert calls["gen"] == 1


def test_random_op_in_map_draws_per_element() -> None:
    tf.set_random_seed(1)
    noisy = Dataset.from_tensor_slices(np.zeros((4, 3), np.float32)).map(lambda v: v + tf.random_uniform([3]))
    got = np.stack(list(noisy.as_numpy_iterator()))
    assert got.shape == (4, 3) and np.all((got >= 0) & (got < 1))
    assert len({tuple(r) for r in got.tolist()}) == 4  # a new draw for every element


def test_training_from_a_dataset_fits_a_line() -> None:
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
    ys = 3 * xs - 1
    x, y = (
        Dataset.from_tensor_slices((xs, ys))
        .shuffle(64, seed=0)
        .repeat()
        .batch(16)
        .make_one_shot_iterator()
        .get_next()
    )
    w = tf.Variable(tf.zeros([1, 1]))
    b = tf.Variable(tf.zeros([1]))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    with IterSession() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(200):
            sess.run(train)
        np.testing.assert_allclose(sess.run(w).ravel(), [3.0], atol=1e-3)
        np.testing.assert_allclose(sess.run(b), [-1.0], atol=1e-3)


def test_hook_registry_and_errors() -> None:
    g = tf.Graph()
    with g.as_default():
        assert g.get_collection(FEED_PROVIDERS) == []
        nxt = Dataset.range(2).make_one_shot_iterator().get_next()
        Dataset.range(3).make_one_shot_iterator()
        assert len(g.get_collection(FEED_PROVIDERS)) == 1  # one provider per graph
        with IterSession(graph=g) as sess:
            feeds = iterator_feeds(sess, [nxt])
            assert list(feeds) == [nxt] and int(feeds[nxt]) == 0
            assert iterator_feeds(sess, tf.constant(1.0)) == {}
    with pytest.raises(ValueError, match="first dimension"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(RuntimeError, match="graph mode"):
        iter(Dataset.range(2))
    with pytest.raises(ValueError, match="graph tensors"):
        list(Dataset.from_tensor_slices(tf.placeholder(tf.float32, [None])).as_numpy_iterator())
