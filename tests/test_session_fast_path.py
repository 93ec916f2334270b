"""The session's short path (feeds-only programs on a host_io executable, the LLVM
backend's) keeps every TF1 behaviour of Session.run and make_callable: values, fetch
structures, feed checks and their messages, the entry check, fresh arrays the caller
may mutate, the executable's own input checks, threads, and the longer path for
programs with variables, updates and random ops."""

from __future__ import annotations

import collections
import threading

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.runtime.backend import available_backends

pytestmark = pytest.mark.skipif(
    "llvm" not in available_backends(), reason="the LLVM backend is not available"
)


def _both(build, call):  # type: ignore[no-untyped-def]
    """``call(sess, parts)`` on the LLVM backend and on the NumPy reference backend."""
    out = []
    for backend in ("llvm", "numpy"):
        g = tf.Graph()
        with g.as_default():
            parts = build()
            with tf.Session(backend=backend) as sess:
                out.append(call(sess, parts))
    return out


def _error(fn):  # type: ignore[no-untyped-def]
    try:
        fn()
    except Exception as exc:  # noqa: BLE001  (the test compares the exception itself)
        return type(exc), str(exc)
    return None


def test_scalar_feeds_of_every_kind_give_numpys_value() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        y = x * 2.0 + 1.0
        with tf.Session(backend="llvm") as sess:
            f = sess.make_callable(y, [x])
            for value in (np.float32(1.5), 1.5, np.array(1.5, np.float32), np.float64(1.5), 3, [2.0]):
                want = np.float32(np.asarray(value, np.float32).reshape(()) * np.float32(2) + np.float32(1))
                if isinstance(value, list):
                    # A rank-1 value for a scalar: refused by the shape check, run and callable alike.
                    with pytest.raises(ValueError, match=r"Cannot feed value of shape \(1,\)"):
                        f(value)
                    with pytest.raises(ValueError, match=r"Cannot feed value of shape \(1,\)"):
                        sess.run(y, {x: value})
                    continue
                for got in (f(value), sess.run(y, {x: value})):
                    assert type(got) is np.float32  # a 0-d result comes back as a NumPy scalar
                    assert got == want


def test_feed_errors_match_the_reference_backend() -> None:
    def build():  # type: ignore[no-untyped-def]
        i = tf.placeholder(tf.int32, [2], name="i")
        return i, i + 1

    cases = [np.array([1.5, 2.0]), np.array([1, 2, 3], np.int32), np.float32(1.0), "ab", [2**40, 1], [1, 2]]

    def call(sess, parts):  # type: ignore[no-untyped-def]
        i, y = parts
        f = sess.make_callable(y, [i])
        return [(_error(lambda v=v: f(v)), _error(lambda v=v: sess.run(y, {i: v}))) for v in cases]

    llvm, ref = _both(build, call)
    assert llvm == ref
    assert llvm[-1] == (None, None)  # [1, 2] is a valid feed
    assert all(a is not None for a, _ in llvm[:-1])


def test_fetch_structures_are_rebuilt() -> None:
    Pair = collections.namedtuple("Pair", "a b")

    def build():  # type: ignore[no-untyped-def]
        x = tf.placeholder(tf.float32, [None], name="x")
        return x, x + 1.0, tf.reduce_sum(x), tf.no_op()

    def call(sess, parts):  # type: ignore[no-untyped-def]
        x, y, s, op = parts
        xv = np.arange(4, dtype=np.float32)
        structures = [y, [y, s], (y, s), {"y": y, "s": [s, op]}, Pair(y, s), [], [[y], (s,)], op, "add:0"]
        out = []
        for st in structures:
            out.append(sess.run(st, {x: xv}))
            out.append(sess.make_callable(st, [x])(xv))
        return out

    llvm, ref = _both(build, call)
    assert len(llvm) == len(ref)
    for a, b in zip(llvm, ref):
        assert type(a) is type(b)
        assert repr(a) == repr(b)
    np.testing.assert_array_equal(llvm[0], np.arange(4, dtype=np.float32) + 1)


def test_fetched_arrays_are_the_callers_own() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        c = tf.constant([7.0, 8.0, 9.0])
        y = x + 1.0
        with tf.Session(backend="llvm") as sess:
            xv = np.array([1.0, 2.0, 3.0], np.float32)
            for fetch in (sess.make_callable([x, y, y, c], [x]), lambda v: sess.run([x, y, y, c], {x: v})):
                got_x, got_y, got_y2, got_c = fetch(xv)
                assert got_x is not xv and got_y is not got_y2
                got_x[:] = -1  # mutating a fetched feed leaves the fed array alone
                got_y[:] = -1  # one fetch of y leaves the other alone
                got_c[:] = -1  # and a fetched constant leaves the program's constant alone
                np.testing.assert_array_equal(xv, [1.0, 2.0, 3.0])
                np.testing.assert_array_equal(got_y2, [2.0, 3.0, 4.0])
                np.testing.assert_array_equal(sess.run(c), [7.0, 8.0, 9.0])


def test_shape_bindings_and_their_conflicts() -> None:
    def build():  # type: ignore[no-untyped-def]
        a = tf.placeholder(tf.float32, [None, 3], name="a")
        b = tf.placeholder(tf.float32, [None, 3], name="b")
        return a, b, tf.reduce_sum(a * b, axis=1)

    def call(sess, parts):  # type: ignore[no-untyped-def]
        a, b, y = parts
        f = sess.make_callable(y, [a, b])
        rng = np.random.default_rng(0)
        values = []
        for n in (2, 5, 2, 0, 5):  # dims that come back: each size computed anew or reused
            av = rng.normal(size=(n, 3)).astype(np.float32)
            bv = rng.normal(size=(n, 3)).astype(np.float32)
            got = f(av, bv)
            np.testing.assert_allclose(got, (av * bv).sum(axis=1), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(sess.run(y, {a: av, b: bv}), got, rtol=1e-6)
            values.append(got.shape)
        bad = np.ones((4, 3), np.float32), np.ones((3, 3), np.float32)
        return values, _error(lambda: f(*bad)), _error(lambda: sess.run(y, {a: bad[0], b: bad[1]}))

    llvm, ref = _both(build, call)
    assert llvm[0] == [(2,), (5,), (2,), (0,), (5,)]
    assert llvm[1] is not None and llvm[1][0] is errors.InvalidArgumentError
    assert llvm == ref  # the same entry-check message, before any native code


def test_peak_bytes_follow_the_dims() -> None:
    def build():  # type: ignore[no-untyped-def]
        x = tf.placeholder(tf.float32, [None, 8], name="x")
        return x, tf.reduce_sum(tf.exp(x) * 2.0 + x, axis=1)

    def call(sess, parts):  # type: ignore[no-untyped-def]
        x, y = parts
        f = sess.make_callable(y, [x])
        peaks = []
        for n in (3, 300, 3, 300):  # the plan's formula for each run's dims, reused or not
            f(np.zeros((n, 8), np.float32))
            peaks.append(sess.stats["peak_bytes"])
        return peaks

    llvm, ref = _both(build, call)
    assert llvm == ref  # the NumPy backend's session evaluates the plan for every run
    assert llvm[0] == llvm[2] and llvm[1] == llvm[3] and llvm[1] > llvm[0] > 0


def test_threads_share_a_callable() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        y = tf.cumsum(x) * 3.0
        with tf.Session(backend="llvm") as sess:
            f = sess.make_callable(y, [x])
            failures: list[str] = []

            def work(k: int) -> None:
                rng = np.random.default_rng(k)
                for _ in range(50):
                    v = rng.normal(size=int(rng.integers(1, 40)))
                    got = f(v) if k % 2 else sess.run(y, {x: v})
                    if not np.allclose(got, np.cumsum(v) * 3.0, rtol=1e-12, atol=1e-12):
                        failures.append(f"thread {k}")

            threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not failures


def test_kernel_errors_and_variables_on_the_longer_path() -> None:
    g = tf.Graph()
    with g.as_default():
        params = tf.constant([10.0, 20.0, 30.0])
        i = tf.placeholder(tf.int32, [None], name="i")
        v = tf.Variable([1.0, 2.0, 3.0])
        gathered = tf.gather(params, i)
        step = tf.assign_add(v, tf.reduce_sum(gathered) * tf.ones([3]))
        with tf.Session(backend="llvm") as sess:
            sess.run(tf.global_variables_initializer())
            g_only = sess.make_callable(gathered, [i])
            np.testing.assert_array_equal(g_only(np.array([2, 0], np.int32)), [30.0, 10.0])
            with pytest.raises(errors.InvalidArgumentError, match=r"is not in \[0, 3\)"):
                g_only(np.array([0, 5], np.int32))
            # A run that fails changes no variable; one that succeeds commits its update.
            with pytest.raises(errors.InvalidArgumentError):
                sess.run(step, {i: np.array([3], np.int32)})
            np.testing.assert_array_equal(sess.run(v), [1.0, 2.0, 3.0])
            new = sess.run(step, {i: np.array([1], np.int32)})
            np.testing.assert_array_equal(new, [21.0, 22.0, 23.0])
            new[:] = 0  # the fetched new value is the caller's: the variable keeps its own
            held = sess.run(v)
            np.testing.assert_array_equal(held, [21.0, 22.0, 23.0])
            held[:] = 0  # and so is a fetched variable
            np.testing.assert_array_equal(sess.run(v), [21.0, 22.0, 23.0])


def test_random_ops_draw_anew_each_run() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        y = x + tf.random_uniform([4], seed=1)
        with tf.Session(backend="llvm") as sess:
            f = sess.make_callable(y, [x])
            zeros = np.zeros(4, np.float32)
            a, b = f(zeros), sess.run(y, {x: zeros})
            assert not np.array_equal(a, b)
            assert np.all((a >= 0) & (a < 1)) and np.all((b >= 0) & (b < 1))
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        y = x + tf.random_uniform([4], seed=1)
        with tf.Session(backend="numpy") as sess:  # the same seed, the same draws, in order
            zeros = np.zeros(4, np.float32)
            np.testing.assert_allclose(sess.run(y, {x: zeros}), a, rtol=1e-6)
            np.testing.assert_allclose(sess.run(y, {x: zeros}), b, rtol=1e-6)


def test_addresses_through_ctypes_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc_llvm import native  # the backend's module, to run without its call helper

    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.matmul(x, tf.constant([[1.0, 2.0], [3.0, 4.0]])) + x
        with tf.Session(backend="llvm") as sess:
            xv = np.arange(10, dtype=np.float32).reshape(5, 2)
            want = xv @ np.array([[1, 2], [3, 4]], np.float32) + xv
            np.testing.assert_allclose(sess.run(y, {x: xv}), want)
            monkeypatch.setattr(native, "_call_helper", lambda: None)
            got: list[np.ndarray] = []
            # A new thread makes new per-thread buffers, which take the ctypes path now.
            t = threading.Thread(target=lambda: got.append(sess.run(y, {x: xv})))
            t.start()
            t.join()
            np.testing.assert_allclose(got[0], want)


@pytest.mark.parametrize("n", [4, 40_000])  # results made new each run, and large ones reused (native.py)
def test_results_kept_by_the_caller_are_never_overwritten(n: int) -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None])
        y = x * 2.0
        with tf.Session(backend="llvm") as sess:
            step = sess.make_callable(y, [x])
            kept = [step(np.full(n, float(i), np.float32)) for i in range(4)]
            view = sess.run(y, {x: np.ones(n, np.float32)})[1:]  # a view keeps its base
            for i in range(6):  # results dropped at once: their buffers are free for the next run
                out = step(np.full(n, -1.0 - i, np.float32))
                np.testing.assert_array_equal(out, np.full(n, -2.0 - 2 * i, np.float32))
                del out
            for i, a in enumerate(kept):
                np.testing.assert_array_equal(a, np.full(n, 2.0 * i, np.float32))
            np.testing.assert_array_equal(view, np.full(n - 1, 2.0, np.float32))


def test_repeated_runs_check_every_value_and_follow_the_fetch_objects() -> None:
    """Session.run keeps what it resolved for a (fetch objects, feed keys) pair: later runs
    with those still check each fed value and see a list changed in between."""
    for backend in ("llvm", "numpy"):
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [2], name="x")
            a, b = x * 2.0, x - 1.0
            with tf.Session(backend=backend) as sess:
                rng = np.random.default_rng(0)
                fetches = [a, "sub:0"]
                for _ in range(3):
                    v = rng.standard_normal(2).astype(np.float32)
                    got = sess.run(fetches, {x: v})
                    np.testing.assert_array_equal(got[0], v * np.float32(2))
                    np.testing.assert_array_equal(got[1], v - np.float32(1))
                    np.testing.assert_array_equal(sess.run(b, {"x:0": v}), v - np.float32(1))
                fetches[0] = b  # the same list, another tensor in it
                np.testing.assert_array_equal(sess.run(fetches, {x: v})[0], v - np.float32(1))
                # After runs that took the same keys, a wrong value is still refused.
                with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3,\)"):
                    sess.run(fetches, {x: np.zeros(3, np.float32)})
                with pytest.raises(TypeError, match="Cannot feed a value of type"):
                    sess.run(fetches, {x: np.array(["a", "b"])})
                # A float64 array and a tensor fed twice (the name's value, given last, wins).
                np.testing.assert_array_equal(sess.run(a, {x: [1.0, 2.0]}), [2.0, 4.0])
                for _ in range(2):
                    got = sess.run(a, {x: np.ones(2, np.float32), "x:0": np.full(2, 3.0, np.float32)})
                    np.testing.assert_array_equal(got, [6.0, 6.0])


def test_a_feed_provider_added_later_is_asked() -> None:
    """A provider registered after runs that needed none (no new op: the graph's version is
    unchanged) is asked on the next run."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        y = x + 1.0
        with tf.Session(backend="llvm") as sess:
            for _ in range(2):
                assert sess.run(y, {x: np.float32(1.0)}) == np.float32(2.0)
            with pytest.raises(errors.InvalidArgumentError):
                sess.run(y)
            g.add_to_collection(
                tf.data.FEED_PROVIDERS,
                lambda session, targets, feeds: {} if x in feeds else {x: np.float32(41.0)},
            )
            for _ in range(2):
                assert sess.run(y) == np.float32(42.0)
                assert sess.run(y, {x: np.float32(1.0)}) == np.float32(2.0)


def test_names_made_for_each_run_keep_few_resolutions() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        tf.identity(x * 3.0, name="y")
        with tf.Session(backend="llvm") as sess:
            for i in range(300):
                name = "".join(["y", ":0"])  # a new string object each run
                assert sess.run(name, {"".join(["x", ":0"]): np.float32(i)}) == np.float32(3 * i)
            assert len(sess._run_memo) <= 256
