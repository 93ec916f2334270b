"""Host callbacks (graphc/ops/host_ops.py): tf.py_func / tf.numpy_function, tf.Print /
tf.print and the tf.assert_* family, on the NumPy and LLVM backends. Values are checked
against NumPy, printed text against TF1's documented layouts, errors against TF1's
classes and messages."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.ir.lower import lower
from graphc.ops import host_ops
from graphc.passes import pipeline
from graphc.runtime.backend import available_backends, get_backend
from graphc.runtime.segments import compile_program

BACKENDS = [b for b in ("numpy", "llvm") if b in available_backends()]


@pytest.fixture(autouse=True)
def _graph() -> None:
    tf.reset_default_graph()


def _lowering_keeps_host_ops() -> bool:
    """Whether lowering keeps a host op that no fetched value reads (its token fetched)."""
    g = tf.Graph()
    with g.as_default():
        op = tf.Assert(tf.constant(True), ["never shown"])
        low = lower(g, [op], {})
    return any(n.op == "Assert" for n in low.program.nodes)


def test_lowering_keeps_a_host_op_nothing_reads() -> None:
    """A host op that only control dependencies (or an op fetch) reach is kept: lowering
    fetches its token (graphc/ir/lower.py)."""
    assert _lowering_keeps_host_ops()


def _session(backend: str) -> tf.Session:
    return tf.Session() if backend == "numpy" else tf.Session(backend=backend)


# =============================================================================================
# py_func
@pytest.mark.parametrize("backend", BACKENDS)
def test_py_func_values_and_dtypes(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    # float64 results converted to Tout float32; an int result to int64.
    y = tf.py_func(lambda a: a.astype(np.float64) ** 2 + 1.0, [x], tf.float32)
    y.set_shape([None, 3])
    n, s = tf.py_func(lambda a: (np.int32(a.shape[0]), a.sum(axis=1)), [x], [tf.int64, tf.float64])
    n.set_shape([])
    s.set_shape([None])
    z = tf.reduce_sum(y * 2.0, axis=1)
    xs = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    with _session(backend) as sess:
        got_y, got_n, got_s, got_z = sess.run([y, n, s, z], {x: xs})
    assert got_y.dtype == np.float32 and got_n.dtype == np.int64 and got_s.dtype == np.float64
    np.testing.assert_allclose(got_y, xs.astype(np.float64) ** 2 + 1.0, rtol=1e-6)
    assert got_n == 2
    np.testing.assert_allclose(got_s, xs.sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(got_z, 2 * (xs.astype(np.float64) ** 2 + 1.0).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_py_func_output_sized_by_the_data(backend: str) -> None:
    x = tf.placeholder(tf.float64, [None])
    pos = tf.numpy_function(lambda a: a[a > 0], [x], tf.float64)
    pos.set_shape([None])
    total = tf.reduce_sum(tf.sqrt(pos)) + tf.cast(tf.size(pos), tf.float64)
    with _session(backend) as sess:
        for xs in (np.array([1.0, -2.0, 4.0, 9.0]), np.array([-1.0]), np.array([16.0, 0.25])):
            want = np.sqrt(xs[xs > 0]).sum() + (xs > 0).sum()
            np.testing.assert_allclose(sess.run(total, {x: xs}), want, rtol=1e-12)


def test_py_func_shapes_keyword_and_copies() -> None:
    x = tf.placeholder(tf.float32, [2])

    def scribble(a: np.ndarray) -> np.ndarray:
        a[0] = 100.0  # the function's own copy: the feed and other readers keep theirs
        return a

    y = tf.py_func(scribble, [x], tf.float32, shapes=[2])
    assert y.shape.as_list() == [2]
    xs = np.array([1.0, 2.0], np.float32)
    with tf.Session() as sess:
        got_y, got_x = sess.run([y, x + 0.0], {x: xs})
    np.testing.assert_array_equal(got_y, [100.0, 2.0])
    np.testing.assert_array_equal(got_x, [1.0, 2.0])
    np.testing.assert_array_equal(xs, [1.0, 2.0])


def test_py_func_stateful_runs_every_time() -> None:
    calls: list[int] = []

    def count(a: np.ndarray) -> np.ndarray:
        calls.append(1)
        return a * 0 + len(calls)

    x = tf.constant([1.0, 2.0])
    y = tf.py_func(count, [x], tf.float32, shapes=[2])
    with tf.Session() as sess:
        assert list(sess.run(y)) == [1.0, 1.0]
        assert list(sess.run(y)) == [2.0, 2.0]
    assert len(calls) == 2


def test_py_func_errors_are_tf1_errors_naming_the_op() -> None:
    x = tf.constant([1.0, -1.0])

    def bad_value(a: np.ndarray) -> np.ndarray:
        raise ValueError("negative input")

    def bad_other(a: np.ndarray) -> np.ndarray:
        raise RuntimeError("boom")

    cases = [
        (
            tf.py_func(bad_value, [x], tf.float32, shapes=[2], name="bad_value"),
            errors.InvalidArgumentError,
            "ValueError: negative input",
        ),
        (
            tf.py_func(bad_other, [x], tf.float32, shapes=[2], name="bad_other"),
            errors.UnknownError,
            "RuntimeError: boom",
        ),
        (
            tf.py_func(lambda a: (a, a), [x], [tf.float32], shapes=[[2]], name="count")[0],
            errors.InvalidArgumentError,
            "returns 2 values, but expects to see 1 values",
        ),
        (
            tf.py_func(lambda a: a + 0.5, [x], tf.int32, shapes=[2], name="dtype"),
            errors.InvalidArgumentError,
            "0-th value returned by pyfunc .* is float32, but expects int32",
        ),
        (
            tf.py_func(lambda a: a[:1], [x], tf.float32, shapes=[2], name="shape"),
            errors.InvalidArgumentError,
            r"has shape \[1\], declared \[2\]",
        ),
    ]
    with tf.Session() as sess:
        for t, cls, text in cases:
            with pytest.raises(cls, match=text) as info:
                sess.run(t)
            assert type(info.value) is cls
            assert t.op.name in str(info.value) and "test_host_ops.py" in str(info.value)


def test_py_func_needs_a_rank_before_it_runs() -> None:
    y = tf.py_func(lambda a: a, [tf.constant([1.0])], tf.float32)
    assert y.shape.ndims is None  # TF1: unknown
    with tf.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="set_shape"):
        sess.run(y)


def test_py_func_unknown_token_fails_clearly() -> None:
    with pytest.raises(errors.FailedPreconditionError, match="not registered in this process"):
        host_ops.run_py_func([np.ones(2)], {"token": 10**9, "Tout": (tf.float32,), "shapes": ((2,),)})


@pytest.mark.parametrize("backend", BACKENDS)
def test_py_func_in_a_training_graph(backend: str) -> None:
    # loss = sum((w * f(x) - t)^2) with f(x) = x^3 computed in Python: the gradient wrt w
    # needs only f(x)'s value; gradient descent moves w by -lr * 2 * sum((w f - t) f).
    x = tf.placeholder(tf.float64, [None])
    t = tf.placeholder(tf.float64, [None])
    f = tf.py_func(lambda a: a**3, [x], tf.float64, shapes=[None])
    w = tf.Variable(0.5, dtype=tf.float64)
    loss = tf.reduce_sum(tf.square(w * f - t))
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    xs, ts = np.array([1.0, 2.0, -1.0]), np.array([2.0, 15.0, -3.0])
    fx = xs**3
    want = 0.5
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train, {x: xs, t: ts})
            want -= 0.01 * 2 * np.sum((want * fx - ts) * fx)
        np.testing.assert_allclose(sess.run(w), want, rtol=1e-7)
    # TF1 registers no gradient for py_func: asking for one through it is a LookupError.
    with pytest.raises(LookupError, match="No gradient defined for operation .*PyFunc"):
        tf.gradients(loss, x)


def test_py_func_gradient_by_override() -> None:
    @tf.RegisterGradient("HostCubeGrad")
    def _cube_grad(op: tf.Operation, g: tf.Tensor, token_grad: object = None) -> list[tf.Tensor]:
        return [g * 3.0 * tf.square(op.inputs[0])]

    x = tf.placeholder(tf.float64, [3])
    with tf.get_default_graph().gradient_override_map({"PyFunc": "HostCubeGrad"}):
        y = tf.py_func(lambda a: a**3, [x], tf.float64, shapes=[3])
    (g,) = tf.gradients(tf.reduce_sum(y), x)
    xs = np.array([1.0, -2.0, 0.5])
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {x: xs}), 3 * xs**2)


# =============================================================================================
# Formatting (TF's SummarizeValue layouts, worked out by hand from their rules)
def test_summaries_follow_tf_layouts() -> None:
    v1 = host_ops.summarize_v1
    assert v1(np.arange(1, 6), 3) == "1 2 3..."
    assert v1(np.arange(1, 4), 3) == "1 2 3"
    assert v1(np.arange(1, 7).reshape(2, 3), 3) == "[1 2 3]..."
    assert v1(np.arange(1, 5).reshape(2, 2), 3) == "[1 2][3...]..."
    assert v1(np.arange(1, 5).reshape(2, 2), -1) == "[1 2][3 4]"
    assert v1(np.array(7), 3) == "7"
    assert v1(np.array([0.5, 1.0, 1 / 3], np.float32), 3) == "0.5 1 0.333333343"
    assert v1(np.array([0.1, np.nan, -np.inf]), 3) == "0.1 nan -inf"
    assert v1(np.array([True, False]), 3) == "1 0"
    assert v1(np.array([b"ab", b"c"], dtype=object), 3) == "ab c"
    v2 = host_ops.summarize_v2
    assert v2(np.arange(10), 3) == "[0 1 2 ... 7 8 9]"
    assert v2(np.arange(6), 3) == "[0 1 2 3 4 5]"
    assert v2(np.arange(4).reshape(2, 2), 3) == "[[0 1]\n [2 3]]"
    assert v2(np.arange(8).reshape(2, 2, 2), 3) == "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]"
    assert v2(np.arange(5), 1) == "[0 ... 4]"
    assert v2(np.array(2.5), 3) == "2.5"


# =============================================================================================
# tf.Print and tf.print
@pytest.mark.parametrize("backend", BACKENDS)
def test_print_writes_tf1_layout_to_stderr(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    x = tf.placeholder(tf.float32, [None])
    y = tf.Print(x * 2.0, [x, tf.constant([[1, 2], [3, 4]])], message="x is ", summarize=2)
    z = tf.reduce_sum(y)
    xs = np.array([1.0, 2.5, -1.0], np.float32)
    with _session(backend) as sess:
        got = sess.run(z, {x: xs})
    assert got == pytest.approx(5.0)
    assert capsys.readouterr().err == "x is [1 2.5...][[1 2]...]\n"


def test_print_first_n_and_gradient(capfd: pytest.CaptureFixture[str]) -> None:
    x = tf.placeholder(tf.float64, [2])
    y = tf.Print(x, [tf.reduce_sum(x)], "sum: ", first_n=2)
    (g,) = tf.gradients(tf.reduce_sum(y * y), x)  # Print passes the gradient through
    with tf.Session() as sess:
        for k in range(3):
            got = sess.run(g, {x: [1.0, float(k)]})
            np.testing.assert_allclose(got, [2.0, 2.0 * k])
    assert capfd.readouterr().err == "sum: [1]\nsum: [2]\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_tf_print_as_fetch_and_control_dependency(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    x = tf.placeholder(tf.int32, [None])
    shown = tf.print("x =", x, {"n": tf.size(x)}, summarize=2)
    with tf.control_dependencies([tf.print("before", output_stream=sys.stdout)]):
        y = tf.identity(x * 3)
    with _session(backend) as sess:
        assert sess.run(shown, {x: np.arange(5, dtype=np.int32)}) is None
        got = sess.run(y, {x: np.array([1, 2], np.int32)})
    np.testing.assert_array_equal(got, [3, 6])
    out = capsys.readouterr()
    assert out.err == "x = [0 1 ... 3 4] {'n': 5}\n"
    assert out.out == "before\n"


# =============================================================================================
# Assertions
_X = np.array([1.0, 2.0, 3.0], np.float32)


def _assert_cases() -> list[tuple[str, object, np.ndarray, np.ndarray, str]]:
    """(name, builder(x, y) -> op, passing x, failing x, TF1's condition text); y is [1, 2, 3]."""
    return [
        ("assert_equal", tf.assert_equal, _X, _X + [0, 0, 1], "Condition x == y did not hold element-wise:"),
        (
            "assert_none_equal",
            tf.assert_none_equal,
            _X + 1,
            _X * [1, 0, 0],
            "Condition x != y did not hold for every single element:",
        ),
        ("assert_less", tf.assert_less, _X - 1, _X, "Condition x < y did not hold element-wise:"),
        ("assert_less_equal", tf.assert_less_equal, _X, _X + [0, 1, 0], "Condition x <= y did not hold"),
        ("assert_greater", tf.assert_greater, _X + 1, _X, "Condition x > y did not hold element-wise:"),
        (
            "assert_greater_equal",
            tf.assert_greater_equal,
            _X,
            _X - [0, 1, 0],
            "Condition x >= y did not hold",
        ),
        ("assert_near", tf.assert_near, _X + 1e-7, _X + [0, 1e-3, 0], "x and y not equal to tolerance"),
    ]


def _sign_cases() -> list[tuple[str, object, np.ndarray, np.ndarray, str]]:
    return [
        ("assert_positive", tf.assert_positive, _X, _X - 1, "Condition x > 0 did not hold"),
        ("assert_negative", tf.assert_negative, -_X, -_X + 1, "Condition x < 0 did not hold"),
        ("assert_non_negative", tf.assert_non_negative, _X - 1, _X - 2, "Condition x >= 0 did not hold"),
        ("assert_non_positive", tf.assert_non_positive, 1 - _X, 2 - _X, "Condition x <= 0 did not hold"),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_assertion_passes_and_fails_with_its_message(backend: str) -> None:
    x = tf.placeholder(tf.float32, [3])
    y = tf.constant(_X)
    checks = []
    for name, build, good, bad, text in _assert_cases():
        checks.append((name, build(x, y, message=f"{name} says"), good, bad, text))  # type: ignore[operator]
    for name, build, good, bad, text in _sign_cases():
        checks.append((name, build(x, message=f"{name} says"), good, bad, text))  # type: ignore[operator]
    with _session(backend) as sess:
        for name, op, good, bad, text in checks:
            assert sess.run(op, {x: good}) is None, name
            with pytest.raises(errors.InvalidArgumentError) as info:
                sess.run(op, {x: bad})
            msg = str(info.value)
            assert msg.startswith(f"assertion failed: [{name} says] [{text}"), (name, msg)
            assert f"[x ({x.name}) = ] [" in msg and f"{name}/Assert" in msg, msg
            assert "test_host_ops.py" in msg, msg  # the user's line


def test_assert_shows_summarized_data() -> None:
    x = tf.placeholder(tf.int32, [None])
    op = tf.Assert(tf.reduce_all(x > 0), ["x has a non-positive entry:", x], summarize=4, name="check_x")
    with tf.Session() as sess:
        sess.run(op, {x: [1, 2]})
        with pytest.raises(errors.InvalidArgumentError) as info:
            sess.run(op, {x: [5, 4, 3, 2, 1, 0]})
    assert str(info.value).startswith("assertion failed: [x has a non-positive entry:] [5 4 3 2...]")
    assert "'check_x' (Assert)" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_failed_assertion_before_an_update_changes_no_variable(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None])
    v = tf.Variable([10.0, 20.0])
    with tf.control_dependencies([tf.assert_positive(x), tf.assert_rank(x, 1)]):
        step = tf.assign_add(v, x[:2] * 2.0)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step, {x: [1.0, 2.0, 3.0]})
        np.testing.assert_allclose(sess.run(v), [12.0, 24.0])
        with pytest.raises(errors.InvalidArgumentError, match="Condition x > 0 did not hold"):
            sess.run(step, {x: [1.0, -2.0, 3.0]})
        np.testing.assert_allclose(sess.run(v), [12.0, 24.0])
        sess.run(step, {x: [0.5, 0.5]})
        np.testing.assert_allclose(sess.run(v), [13.0, 25.0])


def test_static_assertions_as_tf1() -> None:
    a, b = tf.constant([1, 2]), tf.constant([1, 3])
    with pytest.raises(errors.InvalidArgumentError, match="Condition x == y did not hold element-wise"):
        tf.assert_equal(a, b)
    assert tf.assert_equal(a, a).type == "Assert"
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(ValueError, match=r"Tensor .* must have rank 1.  Received rank 2"):
        tf.assert_rank(x, 1, message="needs a vector")
    ok = tf.assert_rank(x, 2)
    assert ok.type == "NoOp" and ok.name.endswith("static_checks_determined_all_ok")
    with pytest.raises(TypeError, match="must be of type"):
        tf.assert_type(x, tf.int32)
    assert tf.assert_type(x, tf.float32).type == "NoOp"
    with pytest.raises(TypeError, match='Expected "x" to be integer type'):
        tf.assert_integer(x)
    assert tf.assert_integer(tf.constant([1])).type == "NoOp"


def test_assert_rank_at_run_time() -> None:
    x = tf.placeholder(tf.float32)  # rank unknown while building: checked when it runs
    op = tf.assert_rank(x, 2)
    assert op.type == "Assert"
    with tf.Session() as sess:
        sess.run(op, {x: np.zeros((2, 3))})
        with pytest.raises(errors.InvalidArgumentError, match="must have rank"):
            sess.run(op, {x: np.zeros(3)})


# =============================================================================================
# Segments and the cache
@pytest.mark.skipif("llvm" not in available_backends(), reason="the LLVM backend is not available")
def test_llvm_runs_host_ops_in_a_numpy_segment_and_the_rest_natively(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", "1")
    x = tf.placeholder(tf.float32, [None])
    h = tf.exp(x) * 2.0
    y = tf.py_func(lambda a: a[a > 1], [h], tf.float32, shapes=[None])
    z = tf.reduce_sum(tf.sqrt(y) + 1.0)
    low = lower(tf.get_default_graph(), [z], {x: (tf.float32, (4,))})
    program = pipeline.optimize(low.program)
    outcomes: list[str] = []
    exe = compile_program(program, get_backend("llvm"), outcomes=outcomes)
    segs = exe.partition.segments  # type: ignore[attr-defined]
    kinds = [(s.backend, sorted(s.ops)) for s in segs]
    assert ("numpy", ["PyFunc"]) in kinds
    assert all(b == "llvm" for b, ops in kinds if "PyFunc" not in ops) and len(kinds) == 3
    assert [type(e).__name__ for e in exe.executables] == [
        "LLVMExecutable",
        "NumpyExecutable",
        "LLVMExecutable",
    ]  # type: ignore[attr-defined]
    # The host segment never goes through the disk cache; the native ones do.
    assert [o for s, o in zip(segs, outcomes) if s.backend == "numpy"] == ["off"]
    assert all(o in ("hit", "miss") for s, o in zip(segs, outcomes) if s.backend == "llvm")
    assert "host callbacks: PyFunc" in exe.partition.describe("llvm")  # type: ignore[attr-defined]
    xs = np.array([-1.0, 0.0, 1.0, 2.0], np.float32)
    h_np = np.exp(xs) * 2.0
    want = (np.sqrt(h_np[h_np > 1]) + 1.0).sum()
    with tf.Session(backend="llvm") as sess:
        np.testing.assert_allclose(sess.run(z, {x: xs}), want, rtol=1e-5)


def test_numpy_backend_compiles_host_programs_without_the_cache() -> None:
    y = tf.Print(tf.constant([1.0]), [], "quiet", first_n=0)
    low = lower(tf.get_default_graph(), [y], {})
    outcomes: list[str] = []
    compile_program(pipeline.optimize(low.program), get_backend("numpy"), outcomes=outcomes)
    assert outcomes == ["off"]


def test_artifact_with_a_host_op_cannot_be_saved(tmp_path: object) -> None:
    x = tf.placeholder(tf.float32, [None])
    y = tf.py_func(lambda a: a + 1, [x], tf.float32, shapes=[None])
    compiled = tf.compile(y * 2.0, [x])
    np.testing.assert_allclose(compiled(np.array([1.0, 2.0], np.float32)), [4.0, 6.0])
    with pytest.raises(ValueError, match="host"):
        compiled.save(f"{tmp_path}/host.graphc")
