"""tf.TensorArray (graphc.ops.tensor_array_ops): a dense [size, *element_shape] tensor.
Reads, writes, stack, unstack, gather, scatter, split, concat and size against NumPy, as a
while_loop variable (element shape given, or learnt from the first write in the body),
as a cond result, dynamic_size=True arrays growing (in a loop with a fed trip count, from
size 0, a fed size or a static one, and outside loops), gradients through
write/read/stack in loops (a grown array's too) by central differences (float64), the
errors TF1 gives, and the LLVM backend (control flow in a NumPy segment)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from tests.support import BACKENDS as _BACKENDS
from tests.support import central as _central
from tests.support import session as _session

_XS = np.random.default_rng(0).normal(size=(4, 3))


# -- outside loops ---------------------------------------------------------------------------
def test_write_read_stack_gather_concat_size() -> None:
    x = tf.placeholder(tf.float64, [4, 3])
    ta = tf.TensorArray(tf.float64, size=5)
    ta = ta.write(3, x[0]).write(0, x[1] * 2.0)
    assert ta.element_shape.as_list() == [3]
    stacked = ta.stack()
    assert stacked.shape.as_list() == [5, 3]
    want = np.zeros((5, 3))
    want[3], want[0] = _XS[0], _XS[1] * 2
    with tf.Session() as sess:
        got = sess.run(
            [stacked, ta.read(3), ta.read(1), ta.gather([3, 0, 3]), ta.concat(), ta.size()], {x: _XS}
        )
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], _XS[0])
    np.testing.assert_array_equal(got[2], np.zeros(3))  # never written: zeros
    np.testing.assert_array_equal(got[3], want[[3, 0, 3]])
    np.testing.assert_array_equal(got[4], want.reshape(-1))
    assert got[5] == 5


def test_write_keeps_inf_and_nan_in_their_rows() -> None:
    ta = tf.TensorArray(tf.float32, size=3, element_shape=[2])
    ta = ta.write(1, tf.constant([np.inf, np.nan], tf.float32))
    with tf.Session() as sess:
        got = sess.run(ta.stack())
    np.testing.assert_array_equal(got, np.array([[0, 0], [np.inf, np.nan], [0, 0]], np.float32))


def test_unstack_scatter_and_identity() -> None:
    x = tf.placeholder(tf.float64, [4, 3])
    un = tf.TensorArray(tf.float64, size=4).unstack(x)
    sc = tf.TensorArray(tf.float64, size=5, element_shape=[3]).scatter([4, 1, 4], x[:3])
    same = sc.identity()
    want = np.zeros((5, 3))
    want[1], want[4] = _XS[1], _XS[2]  # a repeated index takes the last value
    with tf.Session() as sess:
        got = sess.run([un.stack(), un.read(2), sc.stack(), same.read(4)], {x: _XS})
    np.testing.assert_array_equal(got[0], _XS)
    np.testing.assert_array_equal(got[1], _XS[2])
    np.testing.assert_array_equal(got[2], want)
    np.testing.assert_array_equal(got[3], _XS[2])


def test_a_size_known_only_at_run_time() -> None:
    x = tf.placeholder(tf.float32, [None, 2])
    n = tf.shape(x)[0]
    ta = tf.TensorArray(tf.float32, size=n).unstack(x * 3.0)
    back = tf.TensorArray(tf.float32, size=n, element_shape=[2]).write(0, ta.read(n - 1))
    with tf.Session() as sess:
        for rows in (1, 3):
            xs = np.arange(2 * rows, dtype=np.float32).reshape(rows, 2)
            got_size, got = sess.run([ta.size(), back.stack()], {x: xs})
            assert got_size == rows
            want = np.zeros_like(xs)
            want[0] = xs[-1] * 3
            np.testing.assert_array_equal(got, want)


def test_errors_as_tf1() -> None:
    ta = tf.TensorArray(tf.float32, size=3, element_shape=[2])
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        ta.write(0, tf.zeros([3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="dtype"):
        ta.write(0, tf.zeros([2], tf.int32))
    with pytest.raises(ValueError, match="size 3"):
        ta.unstack(tf.zeros([4, 2]))
    with pytest.raises(ValueError, match="not been written"):
        tf.TensorArray(tf.float32, size=3).stack()
    i = tf.placeholder(tf.int32, [])
    bad = ta.write(i, tf.ones([2]))
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(bad.read(2), {i: 2}), np.ones(2, np.float32))
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(bad.stack(), {i: 3})
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(ta.read(i), {i: -1})


# -- in loops and conds ----------------------------------------------------------------------
@pytest.mark.parametrize("backend", _BACKENDS)
def test_accumulate_per_iteration_outputs_in_a_loop(backend: str) -> None:
    x = tf.placeholder(tf.float64, [4, 3])
    n = tf.placeholder(tf.int32, [])
    # No element_shape: the first write inside the body tells it.
    ta = tf.TensorArray(tf.float64, size=4)

    def body(i: tf.Tensor, acc: tf.Tensor, out: tf.TensorArray) -> tuple:
        acc = acc + tf.gather(x, i)
        return i + 1, acc, out.write(i, tf.sin(acc))

    _, total, out = tf.while_loop(
        lambda i, a, o: i < n, body, [tf.constant(0), tf.zeros([3], tf.float64), ta]
    )
    assert isinstance(out, tf.TensorArray)
    assert out.stack().shape.as_list() == [4, 3]
    with _session(backend) as sess:
        for count in (4, 2, 0):
            got_total, got = sess.run([total, out.stack()], {x: _XS, n: count})
            want = np.zeros((4, 3))
            want[:count] = np.sin(np.cumsum(_XS, 0)[:count])
            np.testing.assert_allclose(got, want, rtol=1e-12)
            np.testing.assert_allclose(got_total, _XS[:count].sum(0), rtol=1e-12)


def test_unstacked_input_read_in_a_loop_with_element_shape() -> None:
    x = tf.placeholder(tf.float64, [4, 3])
    inp = tf.TensorArray(tf.float64, size=4).unstack(x)
    out = tf.TensorArray(tf.float64, size=4, element_shape=[3])

    def body(i: tf.Tensor, o: tf.TensorArray) -> tuple:
        return i + 1, o.write(i, inp.read(3 - i) * tf.cast(i, tf.float64))

    _, o = tf.while_loop(lambda i, o: i < 4, body, [0, out])
    with tf.Session() as sess:
        got = sess.run(o.stack(), {x: _XS})
    np.testing.assert_allclose(got, _XS[::-1] * np.arange(4)[:, None], rtol=1e-12)


def test_a_tensor_array_as_the_only_loop_variable_and_a_cond_result() -> None:
    p = tf.placeholder(tf.bool, [])
    ta = tf.TensorArray(tf.float32, size=2, element_shape=[])
    picked = tf.cond(p, lambda: ta.write(0, 5.0), lambda: ta.write(1, 7.0))
    assert isinstance(picked, tf.TensorArray)
    looped = tf.while_loop(lambda t: t.read(0) < 3.0, lambda t: t.write(0, t.read(0) + 1.0), ta)
    assert isinstance(looped, tf.TensorArray)
    with tf.Session() as sess:
        assert sess.run(picked.stack(), {p: True}).tolist() == [5, 0]
        assert sess.run(picked.stack(), {p: False}).tolist() == [0, 7]
        assert sess.run(looped.stack()).tolist() == [3, 0]


def test_loop_errors_for_a_tensor_array_without_an_element_shape() -> None:
    ta = tf.TensorArray(tf.float32, size=2)

    def replaced(i: tf.Tensor, t: tf.TensorArray) -> tuple:
        return i + 1, tf.TensorArray(tf.float32, size=2, element_shape=[3])

    with pytest.raises(ValueError, match="written in the body"):
        tf.while_loop(lambda i, t: i < 2, replaced, [0, ta])
    v = tf.placeholder(tf.float32, [None])
    with pytest.raises(ValueError, match="fully known"):
        tf.while_loop(lambda i, t: i < 2, lambda i, t: (i + 1, t.write(i, v)), [0, ta])


# -- dynamic_size=True: the buffer grows -------------------------------------------------------
_STARTS = ["zero", "zero_with_shape", "fed", "static_two"]


@pytest.mark.parametrize(
    ("backend", "start"),
    [("numpy", s) for s in _STARTS] + [(b, s) for b in _BACKENDS[1:] for s in ("zero", "fed")],
)
def test_dynamic_size_grows_in_a_loop_with_a_fed_trip_count(backend: str, start: str) -> None:
    x = tf.placeholder(tf.float64, [3])
    n = tf.placeholder(tf.int32, [])
    if start == "zero":
        ta = tf.TensorArray(tf.float64, size=0, dynamic_size=True)
    elif start == "zero_with_shape":
        ta = tf.TensorArray(tf.float64, size=0, dynamic_size=True, element_shape=[3])
    elif start == "fed":
        ta = tf.TensorArray(tf.float64, size=tf.maximum(n - 2, 0), dynamic_size=True)
    else:
        ta = tf.TensorArray(tf.float64, size=2, dynamic_size=True)

    def body(i: tf.Tensor, s: tf.Tensor, out: tf.TensorArray) -> tuple:
        s = tf.sin(s) * x
        return i + 1, s, out.write(i, s)

    _, _, out = tf.while_loop(lambda i, s, o: i < n, body, [tf.constant(0), x, ta])
    stacked = out.stack()
    assert stacked.shape.as_list() == [None, 3]
    with _session(backend) as sess:
        for count in (0, 1, 4):
            got, got_size = sess.run([stacked, out.size()], {x: _XS[0], n: count})
            rows = max(count, 2) if start == "static_two" else count
            want, s = np.zeros((rows, 3)), _XS[0]
            for i in range(count):
                s = np.sin(s) * _XS[0]
                want[i] = s
            np.testing.assert_allclose(got, want, rtol=1e-12)
            assert got_size == rows


def test_dynamic_size_outside_loops() -> None:
    x = tf.placeholder(tf.float32, [2, 2])
    i = tf.placeholder(tf.int32, [])
    ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    a = ta.write(3, x[0]).write(1, x[1])  # grows to 4 rows, then writes inside them
    b = tf.TensorArray(tf.float32, size=1, dynamic_size=True).scatter([0, 2], x)
    c = tf.TensorArray(tf.float32, size=1, dynamic_size=True, element_shape=[2]).write(i, x[0])
    d = tf.TensorArray(tf.float32, size=2, dynamic_size=True).unstack(tf.concat([x, x], 0))
    assert a.stack().shape.as_list() == [None, 2]
    xs = np.array([[1, 2], [3, 4]], np.float32)
    with tf.Session() as sess:
        got = sess.run([a.stack(), a.size(), b.stack(), d.size(), d.read(3)], {x: xs})
        np.testing.assert_array_equal(got[0], [[0, 0], xs[1], [0, 0], xs[0]])
        assert got[1] == 4 and got[3] == 4
        np.testing.assert_array_equal(got[2], [xs[0], [0, 0], xs[1]])
        np.testing.assert_array_equal(got[4], xs[1])
        np.testing.assert_array_equal(sess.run(c.stack(), {x: xs, i: 2}), [[0, 0], [0, 0], xs[0]])
        np.testing.assert_array_equal(sess.run(c.stack(), {x: xs, i: 0}), [xs[0]])
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(c.stack(), {x: xs, i: -1})
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(a.read(i), {x: xs, i: 4})  # past the size it grew to


@pytest.mark.parametrize("backend", _BACKENDS)
def test_gradient_through_stack_of_a_grown_tensor_array(backend: str) -> None:
    x = tf.placeholder(tf.float64, [3])
    n = tf.placeholder(tf.int32, [])
    coef = tf.placeholder(tf.float64, [None, 3])
    ta = tf.TensorArray(tf.float64, size=0, dynamic_size=True)

    def body(i: tf.Tensor, h: tf.Tensor, out: tf.TensorArray) -> tuple:
        h = tf.tanh(h * x + 0.3)
        return i + 1, h, out.write(i, h * h)

    _, h, out = tf.while_loop(lambda i, h, o: i < n, body, [tf.constant(0), x, ta])
    loss = tf.reduce_sum(out.stack() * coef) + tf.reduce_sum(h)
    (g,) = tf.gradients(loss, x)

    def ref(xv: np.ndarray, k: int, cv: np.ndarray) -> float:
        hv, rows = xv, []
        for _ in range(k):
            hv = np.tanh(hv * xv + 0.3)
            rows.append(hv * hv)
        return float((np.array(rows).reshape(k, 3) * cv).sum() + hv.sum())

    with _session(backend) as sess:
        for k in (1, 3):
            cv = np.arange(3.0 * k).reshape(k, 3) / 5 - 0.5
            got = sess.run(g, {x: _XS[1], n: k, coef: cv})
            want = _central(lambda v, k=k, cv=cv: ref(v, k, cv), _XS[1])
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


# -- gradients -------------------------------------------------------------------------------
def test_gradient_through_write_read_and_stack_in_loops() -> None:
    x = tf.placeholder(tf.float64, [4, 3])
    w = tf.placeholder(tf.float64, [3])
    inp = tf.TensorArray(tf.float64, size=4).unstack(x)
    out = tf.TensorArray(tf.float64, size=4, element_shape=[3])

    def body(i: tf.Tensor, h: tf.Tensor, o: tf.TensorArray) -> tuple:
        h = tf.tanh(h * w + inp.read(i))
        return i + 1, h, o.write(i, h * h)

    _, h, o = tf.while_loop(lambda i, h, o: i < 4, body, [tf.constant(0), tf.zeros([3], tf.float64), out])
    coef = np.arange(12, dtype=np.float64).reshape(4, 3) / 7 - 0.5
    loss = tf.reduce_sum(o.stack() * coef) + tf.reduce_sum(o.read(1)) + tf.reduce_sum(h)
    gx, gw = tf.gradients(loss, [x, w])
    ws = np.array([0.5, -0.8, 1.2])

    def ref(xv: np.ndarray, wv: np.ndarray) -> float:
        hv, rows = np.zeros(3), []
        for i in range(4):
            hv = np.tanh(hv * wv + xv[i])
            rows.append(hv * hv)
        stacked = np.array(rows)
        return float((stacked * coef).sum() + stacked[1].sum() + hv.sum())

    with tf.Session() as sess:
        got_loss, got_x, got_w = sess.run([loss, gx, gw], {x: _XS, w: ws})
    np.testing.assert_allclose(got_loss, ref(_XS, ws), rtol=1e-12)
    np.testing.assert_allclose(got_x, _central(lambda v: ref(v, ws), _XS), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_w, _central(lambda v: ref(_XS, v), ws), rtol=1e-6, atol=1e-8)


def test_gradient_through_scatter_and_gather() -> None:
    x = tf.placeholder(tf.float64, [3, 2])
    ta = tf.TensorArray(tf.float64, size=4, element_shape=[2]).scatter([2, 0, 2], tf.sin(x))
    y = tf.reduce_sum(ta.gather([2, 2, 0]) * tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], tf.float64))
    (g,) = tf.gradients(y, x)
    xs = _XS[:3, :2]

    def ref(v: np.ndarray) -> float:
        buf = np.zeros((4, 2))
        buf[0], buf[2] = np.sin(v[1]), np.sin(v[2])
        return float((buf[[2, 2, 0]] * np.array([[1, 2], [3, 4], [5, 6]])).sum())

    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(y, {x: xs}), ref(xs), rtol=1e-12)
        np.testing.assert_allclose(sess.run(g, {x: xs}), _central(ref, xs), rtol=1e-6, atol=1e-8)


# -- split -----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", _BACKENDS)
def test_split_into_equal_lengths_as_tf1(backend: str) -> None:
    x = tf.placeholder(tf.float64, [6, 2])
    ta = tf.TensorArray(tf.float64, size=3).split(x * 3.0, [2, 2, 2])
    assert ta.element_shape.as_list() == [2, 2]
    xs = np.arange(12.0).reshape(6, 2)
    pieces = np.split(xs * 3.0, [2, 4])  # TF1: element i is value[sum(lengths[:i]):sum(lengths[:i+1])]
    with _session(backend) as sess:
        got = sess.run([ta.read(1), ta.stack(), ta.concat(), ta.size()], {x: xs})
    np.testing.assert_array_equal(got[0], pieces[1])
    np.testing.assert_array_equal(got[1], np.stack(pieces))
    np.testing.assert_array_equal(got[2], xs * 3.0)
    assert got[3] == 3


def test_split_gradient_by_central_differences() -> None:
    x = tf.placeholder(tf.float64, [4, 3])
    ta = tf.TensorArray(tf.float64, size=2).split(x, tf.constant([2, 2]))
    y = tf.reduce_sum(tf.sin(ta.read(1)) * ta.read(0))
    (g,) = tf.gradients(y, x)

    def ref(v: np.ndarray) -> float:
        return float(np.sum(np.sin(v[2:4]) * v[0:2]))

    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {x: _XS}), _central(ref, _XS), rtol=1e-6, atol=1e-8)


def test_split_refusals() -> None:
    x = tf.placeholder(tf.float32, [5, 2])
    with pytest.raises(ValueError, match="size 3 cannot split into 2"):
        tf.TensorArray(tf.float32, size=3).split(x, [2, 2])
    with pytest.raises(ValueError, match="size 3 cannot split into 2"):
        tf.TensorArray(tf.float32, size=3).split(x, tf.placeholder(tf.int32, [2]))
    with pytest.raises(ValueError, match="sum to 4 but the value has 5 rows"):
        tf.TensorArray(tf.float32, size=2).split(x, [2, 2])
    with pytest.raises(ValueError, match="non-negative"):
        tf.TensorArray(tf.float32, size=2).split(x, [6, -1])
    with pytest.raises(ValueError, match="Expected lengths to be a vector"):
        tf.TensorArray(tf.float32, size=2).split(x, tf.placeholder(tf.int32, [2, 1]))
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        tf.TensorArray(tf.float32, size=2, element_shape=[2, 2]).split(x, [2, 3])


# -- ragged elements: unequal or run-time split lengths, infer_shape=False writes --------------
def _pieces(xs: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    # TF1: element i is value[sum(lengths[:i]) : sum(lengths[:i + 1])]
    ends = np.cumsum(lengths)
    return [xs[e - n : e] for n, e in zip(lengths, ends)]


_XR = np.random.default_rng(1).normal(size=(6, 2))


@pytest.mark.parametrize("backend", _BACKENDS)
def test_split_into_unequal_and_run_time_lengths_then_read_and_concat(backend: str) -> None:
    x = tf.placeholder(tf.float64, [None, 2])
    ln = tf.placeholder(tf.int32, [None])
    i = tf.placeholder(tf.int32, [])
    fixed = tf.TensorArray(tf.float64, size=3).split(x * 2.0, [1, 3, 2])
    fed = tf.TensorArray(tf.float64, size=0, dynamic_size=True).split(x, tf.cast(ln, tf.int64))
    assert fixed.element_shape.as_list() == [None, 2]
    assert fixed.concat().shape.as_list() == [None, 2]
    with _session(backend) as sess:
        got = sess.run([fixed.read(0), fixed.read(1), fixed.read(2), fixed.concat(), fixed.size()], {x: _XR})
        for g, want in zip(got[:3], _pieces(_XR * 2.0, [1, 3, 2])):
            np.testing.assert_array_equal(g, want)
        np.testing.assert_array_equal(got[3], _XR * 2.0)
        assert got[4] == 3
        for lengths in ([2, 0, 4], [6], [1, 1, 1, 1, 2], [0, 0]):
            xs = _XR[: sum(lengths)]
            for k, want in enumerate(_pieces(xs, lengths)):
                g, size, cat = sess.run([fed.read(i), fed.size(), fed.concat()], {x: xs, ln: lengths, i: k})
                np.testing.assert_array_equal(g, want)
                assert size == len(lengths)
                np.testing.assert_array_equal(cat, xs)
        with pytest.raises(tf.errors.InvalidArgumentError, match="sum of lengths is"):
            sess.run(fed.read(0), {x: _XR, ln: [2, 3], i: 0})
        with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):
            sess.run(fed.concat(), {x: _XR, ln: [7, -1], i: 0})
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(fed.read(i), {x: _XR, ln: [2, 4], i: 2})


def test_stack_and_gather_of_ragged_elements_need_one_length_as_tf1() -> None:
    x = tf.placeholder(tf.float64, [6, 2])
    ln = tf.placeholder(tf.int32, [3])
    ta = tf.TensorArray(tf.float64, size=3).split(x, ln)
    fixed_size = tf.TensorArray(tf.float64, size=4).split(x, tf.placeholder_with_default(ln, [None]))
    with tf.Session() as sess:
        got = sess.run([ta.stack(), ta.gather([2, 0])], {x: _XR, ln: [2, 2, 2]})
        np.testing.assert_array_equal(got[0], _XR.reshape(3, 2, 2))
        np.testing.assert_array_equal(got[1], _XR.reshape(3, 2, 2)[[2, 0]])
        # Only the gathered elements need one length.
        got = sess.run(ta.gather([2, 0]), {x: _XR, ln: [1, 4, 1]})
        np.testing.assert_array_equal(got, np.stack([_XR[5:6], _XR[0:1]]))
        with pytest.raises(tf.errors.InvalidArgumentError, match="inconsistent shapes.*1 3 2"):
            sess.run(ta.stack(), {x: _XR, ln: [1, 3, 2]})
        with pytest.raises(tf.errors.InvalidArgumentError, match="not equal to the size of lengths"):
            sess.run(fixed_size.concat(), {x: _XR, ln: [1, 3, 2]})


def test_writes_of_different_first_dims_with_infer_shape_false() -> None:
    a = tf.placeholder(tf.float32, [None, 3])
    b = tf.placeholder(tf.float32, [2, 3])
    i = tf.placeholder(tf.int32, [])
    av = np.arange(12, dtype=np.float32).reshape(4, 3)
    bv = -np.arange(6, dtype=np.float32).reshape(2, 3)
    # element_shape with an open first dim: ragged from the start, unwritten elements empty.
    ta = tf.TensorArray(tf.float32, size=3, element_shape=[None, 3], infer_shape=False)
    ta = ta.write(2, a).write(0, b)
    # No element_shape: dense after the first write, ragged at a write of another length.
    tb = tf.TensorArray(tf.float32, size=3, infer_shape=False).write(1, b).write(i, a)
    grown = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False, element_shape=[None, 3])
    grown = grown.write(1, a).write(3, b)
    with tf.Session() as sess:
        got = sess.run([ta.concat(), ta.read(0), ta.read(1), ta.read(2), ta.size()], {a: av, b: bv})
        np.testing.assert_array_equal(got[0], np.concatenate([bv, av]))
        np.testing.assert_array_equal(got[1], bv)
        assert got[2].shape == (0, 3)
        np.testing.assert_array_equal(got[3], av)
        got = sess.run([tb.concat(), tb.read(1)], {a: av, b: bv, i: 2})
        np.testing.assert_array_equal(got[0], np.concatenate([np.zeros((2, 3)), bv, av]))  # unwritten: zeros
        np.testing.assert_array_equal(got[1], bv)
        got = sess.run([tb.concat(), tb.read(1)], {a: av, b: bv, i: 1})  # the later write wins
        np.testing.assert_array_equal(got[0], np.concatenate([np.zeros((2, 3)), av, np.zeros((2, 3))]))
        got = sess.run([grown.concat(), grown.size(), grown.read(3)], {a: av, b: bv})
        np.testing.assert_array_equal(got[0], np.concatenate([av, bv]))
        assert got[1] == 4
        np.testing.assert_array_equal(got[2], bv)
        with pytest.raises(tf.errors.InvalidArgumentError, match="inconsistent shapes"):
            sess.run(ta.stack(), {a: av, b: bv})
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        tf.TensorArray(tf.float32, size=2, element_shape=[None, 3], infer_shape=False).write(
            0, tf.zeros([2, 4])
        )
    # infer_shape=True (TF1's default): the elements keep one shape.
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        tf.TensorArray(tf.float32, size=2).write(0, tf.zeros([2, 3])).write(1, tf.zeros([1, 3]))


def test_gradients_through_ragged_split_read_write_and_concat() -> None:
    x = tf.placeholder(tf.float64, [6, 2])
    y = tf.placeholder(tf.float64, [3, 2])
    ta = tf.TensorArray(tf.float64, size=3).split(tf.sin(x), [1, 3, 2])
    tb = ta.write(1, y * y)  # element 1 becomes 3 rows of y * y
    coef = np.arange(12.0).reshape(6, 2) / 5 - 1
    loss = (
        tf.reduce_sum(ta.read(1) * ta.read(1))
        + tf.reduce_sum(tb.concat() * coef)
        + tf.reduce_sum(tf.exp(tb.read(2)))
    )
    gx, gy = tf.gradients(loss, [x, y])
    ys = _XR[:3]

    def ref(xv: np.ndarray, yv: np.ndarray) -> float:
        p = _pieces(np.sin(xv), [1, 3, 2])
        cat = np.concatenate([p[0], yv * yv, p[2]])
        return float((p[1] ** 2).sum() + (cat * coef).sum() + np.exp(p[2]).sum())

    with tf.Session() as sess:
        got_loss, got_x, got_y = sess.run([loss, gx, gy], {x: _XR, y: ys})
    np.testing.assert_allclose(got_loss, ref(_XR, ys), rtol=1e-12)
    np.testing.assert_allclose(got_x, _central(lambda v: ref(v, ys), _XR), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_y, _central(lambda v: ref(_XR, v), ys), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_ragged_arrays_in_a_loop_with_gradients(backend: str) -> None:
    x = tf.placeholder(tf.float64, [6, 2])
    w = tf.placeholder(tf.float64, [2])
    ln = tf.placeholder(tf.int32, [3])
    inp = tf.TensorArray(tf.float64, size=3).split(x, ln)
    out = tf.TensorArray(tf.float64, size=3, element_shape=[None, 2], infer_shape=False)

    def body(i: tf.Tensor, h: tf.Tensor, o: tf.TensorArray) -> tuple:
        piece = tf.tanh(inp.read(i) * w + h)
        return i + 1, h + tf.reduce_sum(piece, 0), o.write(2 - i, piece)

    _, h, o = tf.while_loop(lambda i, h, o: i < 3, body, [0, tf.zeros([2], tf.float64), out])
    coef = np.arange(12.0).reshape(6, 2) / 5 - 1
    loss = tf.reduce_sum(o.concat() * coef) + tf.reduce_sum(o.read(0)) + tf.reduce_sum(h * h)
    gx, gw = tf.gradients(loss, [x, w])
    ws = np.array([0.5, -1.2])

    def ref(xv: np.ndarray, wv: np.ndarray, lengths: list[int]) -> float:
        hv, outs = np.zeros(2), []
        for p in _pieces(xv, lengths):
            piece = np.tanh(p * wv + hv)
            hv = hv + piece.sum(0)
            outs.append(piece)
        cat = np.concatenate(outs[::-1])
        return float((cat * coef).sum() + outs[2].sum() + (hv * hv).sum())

    with _session(backend) as sess:
        for lengths in ([1, 3, 2], [0, 4, 2]):
            feeds = {x: _XR, w: ws, ln: lengths}
            got_loss, got_x, got_w = sess.run([loss, gx, gw], feeds)
            np.testing.assert_allclose(got_loss, ref(_XR, ws, lengths), rtol=1e-12)
            want_x = _central(lambda v, n=lengths: ref(v, ws, n), _XR)
            np.testing.assert_allclose(got_x, want_x, rtol=1e-6, atol=1e-8)
            want_w = _central(lambda v, n=lengths: ref(_XR, v, n), ws)
            np.testing.assert_allclose(got_w, want_w, rtol=1e-6, atol=1e-8)
