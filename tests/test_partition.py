"""Devices in the IR and partitioning: devices recorded from tf.device and normalised,
kept by the passes; programs split into per-device segments with Transfer nodes; ops a
backend lacks run on the NumPy backend as fallback segments, with results, variable
updates, failures, symbolic and data-defined dims checked against NumPy references."""

from __future__ import annotations

import textwrap
from collections import Counter
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.cli import main as cli_main
from graphc.ir import devices
from graphc.ir.entry import bind_entry
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.ir.verify import verify
from graphc.passes import pipeline
from graphc.passes.cse import cse
from graphc.passes.fuse import fuse
from graphc.passes.partition import Partition, partition
from graphc.passes.rewrite import copy_program
from graphc.passes.stabilize import stabilize
from graphc.runtime import segments
from graphc.runtime.backend import CompileOptions, get_backend, run_program


# -- a backend that lacks some ops ----------------------------------------------------------
class Buf:
    """The lacking backend's device array: not a NumPy array, so a value that reaches the
    backend without its to_device (or leaves without its to_host) fails."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    @property
    def shape(self) -> tuple[int, ...]:
        return self.a.shape


class _LackingExecutable:
    def __init__(self, inner: Any, program: Program) -> None:
        self.inner = inner
        self.program = program

    def run(self, inputs: Any, dims: Any, donated: frozenset[int] = frozenset()) -> list[Any]:
        for x in inputs:
            assert isinstance(x, Buf), f"a {type(x).__name__} reached the lacking backend"
        arrays = [x.a for x in inputs]
        outs = self.inner.run(arrays, dims, donated)
        by_id = {id(x.a): x for x in inputs}  # a donated buffer comes back as itself
        return [by_id.get(id(o)) or Buf(o) for o in outs]


class LackingBackend:
    """The NumPy backend's kernels, declaring that it lacks ``lacks``: compiling a program
    with one of them fails, so they must come as fallback segments."""

    def __init__(self, lacks: tuple[str, ...] = ("Softmax", "TopKV2"), name: str = "lacking") -> None:
        self.name = name
        self.lacks = frozenset(lacks)
        self.inner = get_backend("numpy")
        self.compiled: list[Program] = []

    def is_available(self) -> bool:
        return True

    def supported_ops(self) -> frozenset[str]:
        return frozenset(op.name for op in reg.all_ops()) - self.lacks | {"Fused"}

    def compile(self, program: Program, options: CompileOptions | None = None) -> _LackingExecutable:
        bad = sorted({n.op for n in program.nodes if n.op in self.lacks})
        assert not bad, f"the lacking backend was asked to compile {bad}"
        self.compiled.append(program)
        return _LackingExecutable(self.inner.compile(program, options or CompileOptions()), program)

    def to_device(self, array: np.ndarray) -> Buf:
        return Buf(np.array(array, copy=True))

    def to_host(self, array: Any) -> np.ndarray:
        assert isinstance(array, Buf), f"to_host of a {type(array).__name__}"
        return np.array(array.a, copy=True)


def _optimised(targets: list[Any], feeds: dict[Any, tuple[int, ...]]) -> Program:
    graph = tf.get_default_graph()
    low = lower(graph, targets, {t: (t.dtype, shape) for t, shape in feeds.items()})
    return pipeline.optimize(low.program)


def _lowered(targets: list[Any], feeds: dict[Any, tuple[int, ...]]) -> Program:
    graph = tf.get_default_graph()
    return lower(graph, targets, {t: (t.dtype, shape) for t, shape in feeds.items()}).program


def _by_origin(program: Program) -> dict[str, str]:
    return {n.origin.name: n.device for n in program.nodes if n.origin is not None}


def _check_partition(part: Partition) -> None:
    """What every partition promises: verified programs, edges forward, one Transfer per
    transfer, no two neighbouring segments of one device and backend."""
    verify(part.program)
    transfer_nodes = [n for n in part.program.nodes if n.op == "Transfer"]
    assert len(transfer_nodes) == len(part.transfers)
    for seg in part.segments:
        verify(seg.program)
        assert all(n.op != "Transfer" for n in seg.program.nodes)
        assert {devices.canonical(n.device) for n in seg.program.nodes} == {seg.device}
        for p, inp in zip(seg.program.params, seg.inputs, strict=True):
            assert p.kind in ("feed", "variable", "rng")
            if inp.kind == "param":
                orig = part.program.params[inp.index]
                assert (p.kind, p.name) == (orig.kind, orig.name)
    for t in part.transfers:
        assert t.source < t.destination
        assert t.node.attrs == {
            "source": part.segments[t.source].device,
            "destination": part.segments[t.destination].device,
        }
        sent = part.segments[t.source].program.outputs[t.output].value
        got = part.segments[t.destination].program.params[t.param].value
        assert (sent.dtype, sent.shape) == (got.dtype, got.shape)
    for a, b in zip(part.segments, part.segments[1:]):
        assert (a.device, a.backend) != (b.device, b.backend)


# -- devices -------------------------------------------------------------------------------
def test_device_names_normalise_by_tf1_rules() -> None:
    same = ["/cpu:0", "/CPU:0", "/device:CPU:0", "/job:localhost/replica:0/task:0/device:CPU:0", "cpu:0"]
    assert {devices.canonical(s) for s in same} == {"/device:CPU:0"}
    assert devices.canonical("/gpu:1") == "/device:GPU:1" != devices.canonical("/gpu:0")
    assert devices.canonical("/gpu") == devices.canonical("/device:GPU:*") == "/device:GPU:0"
    assert devices.canonical("") == devices.canonical("/job:localhost") == ""
    assert devices.canonical("/job:ps/task:1/cpu:0") == "/job:ps/replica:0/task:1/device:CPU:0"
    assert not devices.same_device("/job:ps/cpu:0", "/cpu:0")
    assert devices.canonical("/device:XLA_GPU:0") == "/device:XLA_GPU:0"
    spec = devices.parse("/job:w/replica:2/task:3/device:GPU:4")
    assert (spec.job, spec.replica, spec.task, spec.device_type, spec.device_index) == ("w", 2, 3, "GPU", 4)
    # Nested scopes (DeviceSpec.merge_from): inner fields over outer ones.
    assert devices.merge("/job:ps/gpu:1", "/cpu") == "/job:ps/device:CPU:1"
    assert devices.merge("/job:ps/task:2", "/gpu:0") == "/job:ps/task:2/device:GPU:0"
    for bad in ["/foo:1", "/cpu:x", "/cpu:0/gpu:1", "/device:CPU", "/task:-1"]:
        with pytest.raises(ValueError):
            devices.parse(bad)


def test_nodes_record_the_device_of_their_scope() -> None:
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with tf.device("/cpu:0"):
        a = tf.exp(x, name="a")
        with tf.device("/device:GPU:1"):
            b = tf.tanh(a, name="b")
        c = tf.sin(b, name="c")  # back in the outer scope
    d = tf.cos(c, name="d")  # outside every scope
    with tf.device("/job:localhost/replica:0/task:0/device:CPU:0"):
        e = tf.negative(d, name="e")
    program = _lowered([e], {x: (2, 3)})
    dev = _by_origin(program)
    assert dev == {"a": "/cpu:0", "b": "/device:GPU:1", "c": "/cpu:0", "d": "", "e": dev["e"]}
    assert devices.canonical(dev["e"]) == devices.canonical(dev["a"]) == "/device:CPU:0"
    # copy_program keeps every node's device.
    assert _by_origin(copy_program(program)) == dev


def test_cse_merges_only_nodes_on_the_same_device() -> None:
    x = tf.placeholder(tf.float32, [3], name="x")
    with tf.device("/cpu:0"):
        a = tf.exp(x, name="a")
    with tf.device("/device:CPU:0"):
        b = tf.exp(x, name="b")  # the same device, spelt differently: merges with a
    with tf.device("/gpu:0"):
        c = tf.exp(x, name="c")
    program = _lowered([a, b, c], {x: (3,)})
    out = cse(program)
    exps = [n for n in out.nodes if n.op == "Exp"]
    assert sorted(devices.canonical(n.device) for n in exps) == ["/device:CPU:0", "/device:GPU:0"]
    f = out.fetches
    assert f[0].value is f[1].value and f[0].value is not f[2].value


def test_fused_nodes_keep_their_roots_device() -> None:
    x = tf.placeholder(tf.float32, [3], name="x")
    with tf.device("/gpu:0"):
        y = tf.exp(x) * 2.0 + 1.0
    out = fuse(_lowered([y], {x: (3,)}))
    assert [n.op for n in out.nodes] == ["Fused"]
    assert devices.canonical(out.nodes[0].device) == "/device:GPU:0"


def test_rewritten_nodes_keep_their_device() -> None:
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    with tf.device("/gpu:0"):
        y = tf.log(tf.nn.softmax(x))
    out = stabilize(_lowered([y], {x: (2, 3)}))
    assert "LogSoftmax" in [n.op for n in out.nodes]
    assert {devices.canonical(n.device) for n in out.nodes} == {"/device:GPU:0"}


# -- partitioning by device ----------------------------------------------------------------
def _two_device_graph() -> tuple[Any, Any, Any, Any]:
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4) / 10.0)
    with tf.device("/cpu:0"):
        a = tf.exp(x, name="a")
    with tf.device("/gpu:0"):
        b = tf.matmul(a, w, name="b")
        b2 = tf.tanh(b, name="b2")
    with tf.device("/cpu:0"):
        c = tf.reduce_sum(b2, axis=1, name="c") + tf.reduce_sum(a, axis=1)
    d = tf.square(c, name="d")  # unplaced: runs where its input does
    return x, w, d, b


def _two_device_reference(xs: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.exp(xs)
    b = a @ w
    c = np.tanh(b).sum(axis=1) + a.sum(axis=1)
    return c**2, b


def test_partition_over_two_devices_gives_segments_with_transfers() -> None:
    x, w, d, b = _two_device_graph()
    program = _lowered([d, b], {x: (2, 3)})
    part = partition(program)
    _check_partition(part)
    assert [s.device for s in part.segments] == ["/device:CPU:0", "/device:GPU:0", "/device:CPU:0"]
    ops = [Counter(s.ops) for s in part.segments]
    assert ops[0] == {"Exp": 1, "Sum": 1}  # the CPU's reduce_sum(a) needs nothing from the GPU
    assert ops[1] == {"MatMul": 1, "Tanh": 1, "Const": 1}  # the unplaced Const joins its user
    assert ops[2] == {"Sum": 1, "Add": 1, "Square": 1}
    # exp(x) goes to the GPU, its sum and tanh's result to the last; b is fetched from segment 1.
    moved = sorted((t.source, t.destination) for t in part.transfers)
    assert moved == [(0, 1), (0, 2), (1, 2)]
    kinds = [[o.kind for o in s.outputs] for s in part.segments]
    assert kinds == [["send", "send"], ["output", "send"], ["output"]]
    # The partitioned program, Transfer nodes included, computes what the input does.
    xs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    want_d, want_b = _two_device_reference(xs, np.arange(12, dtype=np.float32).reshape(3, 4) / 10.0)
    numpy = get_backend("numpy")
    for prog in (program, part.program):
        got_d, got_b = run_program(numpy, prog, [xs])
        np.testing.assert_allclose(got_d, want_d, rtol=1e-5)
        np.testing.assert_allclose(got_b, want_b, rtol=1e-5)


def test_session_runs_a_two_device_program_as_segments() -> None:
    x, w, d, b = _two_device_graph()
    wv = np.arange(12, dtype=np.float32).reshape(3, 4) / 10.0
    rng = np.random.default_rng(1)
    for disabled in ([], ["fuse"]):
        with tf.Session(config={"disable_passes": disabled}) as sess:
            for n in (2, 7):  # two batch sizes, one compile
                xs = rng.normal(size=(n, 3)).astype(np.float32)
                got_d, got_b = sess.run([d, b], {x: xs})
                want_d, want_b = _two_device_reference(xs, wv)
                np.testing.assert_allclose(got_d, want_d, rtol=1e-5)
                np.testing.assert_allclose(got_b, want_b, rtol=1e-5)
            assert sess.stats["compiles"] == 1
            exe = next(iter(sess._executables.values()))
            assert isinstance(exe, segments.SegmentedExecutable)
            assert len(exe.segments) >= 2


def test_one_device_however_spelt_compiles_as_a_whole() -> None:
    x = tf.placeholder(tf.float32, [3], name="x")
    with tf.device("/cpu:0"):
        a = tf.exp(x)
    with tf.device("/job:localhost/replica:0/task:0/device:CPU:0"):
        b = a + 1.0
    c = b * 2.0  # unplaced
    program = _optimised([c], {x: (3,)})
    assert segments.plan(program, get_backend("numpy")) is None
    with tf.Session() as sess:
        np.testing.assert_allclose(
            sess.run(c, {x: [0.0, 1.0, 2.0]}), (np.exp([0.0, 1.0, 2.0]) + 1) * 2, rtol=1e-6
        )
        exe = next(iter(sess._executables.values()))
        assert not isinstance(exe, segments.SegmentedExecutable)


def test_bad_device_string_names_the_op() -> None:
    x = tf.placeholder(tf.float32, [3], name="x")
    with tf.device("/cpu:0"):
        a = tf.exp(x)
    with tf.device("/tpu_core:zero"):
        b = tf.negative(a, name="badly_placed")
    with tf.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="(?s)tpu_core.*badly_placed"):
        sess.run(b, {x: [1.0, 2.0, 3.0]})


def test_independent_work_merges_into_few_segments() -> None:
    # a (main) and b (fallback) are independent; c needs both: two segments, not three.
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    a = tf.exp(x, name="a")
    b = tf.nn.softmax(x, name="b")
    c = tf.add(a, b, name="c")
    program = _lowered([c], {x: (2, 3)})
    backend = LackingBackend()
    part = segments.plan(program, backend)
    assert part is not None
    _check_partition(part)
    assert [(s.backend, sorted(s.ops)) for s in part.segments] == [
        ("numpy", ["Softmax"]),
        ("lacking", ["Add", "Exp"]),
    ]
    # Alternating ops on a chain give one segment per change.
    y = tf.exp(tf.nn.softmax(tf.exp(tf.nn.softmax(x))))
    program = _lowered([y], {x: (2, 3)})
    part = segments.plan(program, backend)
    assert part is not None
    _check_partition(part)
    assert [s.backend for s in part.segments] == ["numpy", "lacking", "numpy", "lacking"]


# -- fallback segments -------------------------------------------------------------------------
def _mlp(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    init = {
        "W1": rng.normal(size=(4, 5)).astype(np.float32) * 0.5,
        "b1": rng.normal(size=(5,)).astype(np.float32) * 0.1,
        "W2": rng.normal(size=(5, 3)).astype(np.float32) * 0.5,
        "b2": np.zeros(3, np.float32),
    }
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.placeholder(tf.float32, [None, 3], name="y")
    v = {k: tf.Variable(a, name=k) for k, a in init.items()}
    h = tf.nn.relu(tf.matmul(x, v["W1"]) + v["b1"])
    p = tf.nn.softmax(tf.matmul(h, v["W2"]) + v["b2"])
    loss = tf.reduce_mean(tf.reduce_sum(tf.square(p - y), axis=1))
    top = tf.nn.top_k(p, k=2)[0]
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    return {"x": x, "y": y, "vars": v, "init": init, "loss": loss, "top": top, "train": train}


def _mlp_reference_step(
    w: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray, lr: float = 0.5
) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    """Loss, top-2 probabilities and the variables after one step, by hand in float64."""
    w = {k: a.astype(np.float64) for k, a in w.items()}
    pre = xs @ w["W1"] + w["b1"]
    h = np.maximum(pre, 0)
    z = h @ w["W2"] + w["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    n = xs.shape[0]
    loss = float(np.mean(np.sum((p - ys) ** 2, axis=1)))
    dp = 2 * (p - ys) / n
    dz = p * (dp - np.sum(dp * p, axis=1, keepdims=True))
    dh = dz @ w["W2"].T
    dpre = dh * (pre > 0)
    grads = {"W2": h.T @ dz, "b2": dz.sum(axis=0), "W1": xs.T @ dpre, "b1": dpre.sum(axis=0)}
    top = -np.sort(-p, axis=1)[:, :2]
    return loss, top, {k: w[k] - lr * grads[k] for k in w}


def _mlp_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, 4)).astype(np.float32)
    ys = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=n)]
    return xs, ys


def test_mlp_training_runs_softmax_and_top_k_in_a_numpy_fallback_segment() -> None:
    m = _mlp()
    backend = LackingBackend()
    batches = [_mlp_data(6, 10), _mlp_data(3, 11), _mlp_data(6, 12)]  # two batch sizes
    runs: dict[str, list[Any]] = {}
    for which in ("numpy", "lacking"):
        out = []
        with tf.Session(backend=backend if which == "lacking" else "numpy") as sess:
            sess.run(tf.global_variables_initializer())
            names = sorted(m["vars"])
            for xs, ys in batches:
                loss, top, _ = sess.run([m["loss"], m["top"], m["train"]], {m["x"]: xs, m["y"]: ys})
                values = sess.run([m["vars"][k] for k in names])
                out.append((loss, top, dict(zip(names, values, strict=True))))
            if which == "lacking":
                # The initializer, the step (once for both batch sizes), the variables' read.
                assert sess.stats["compiles"] == 3
                exe = next(
                    e for e in sess._executables.values() if isinstance(e, segments.SegmentedExecutable)
                )
        runs[which] = out
    # The same as the plain NumPy backend, bit for bit: the same kernels run.
    for (l1, t1, v1), (l2, t2, v2) in zip(runs["numpy"], runs["lacking"], strict=True):
        assert l1 == l2
        np.testing.assert_array_equal(t1, t2)
        for k in v1:
            np.testing.assert_array_equal(v1[k], v2[k])
    # And what the maths says: the loss, top-2 and updates of each step, by hand.
    w = dict(m["init"])
    for (xs, ys), (loss, top, after) in zip(batches, runs["lacking"], strict=True):
        want_loss, want_top, w = _mlp_reference_step(w, xs, ys)
        assert loss == pytest.approx(want_loss, rel=1e-5)
        np.testing.assert_allclose(top, want_top, rtol=1e-5)
        for k in w:
            np.testing.assert_allclose(after[k], w[k], rtol=1e-4, atol=1e-6)
    # The segments: the lacking ops ran on NumPy, as segments of their own, compiled once.
    assert isinstance(exe, segments.SegmentedExecutable)
    _check_partition(exe.partition)
    fallback = [s for s in exe.segments if s.backend == "numpy"]
    assert fallback and all(set(s.ops) <= {"Softmax", "TopKV2"} for s in fallback)
    assert sum(s.ops["Softmax"] for s in fallback) == 1 and sum(s.ops["TopKV2"] for s in fallback) == 1
    native = [s for s in exe.segments if s.backend == "lacking"]
    for seg in native:  # compiled once each, for every batch size
        assert sum(p is seg.program for p in backend.compiled) == 1
    assert all(n.op not in backend.lacks for p in backend.compiled for n in p.nodes)


@pytest.mark.parametrize("disabled", [[], ["simplify", "resimplify"]], ids=["param_fetched", "identity_kept"])
def test_donation_never_lets_an_earlier_result_see_the_new_value(disabled: list[str]) -> None:
    # r is v's own buffer: the program's param itself (simplify drops the identity), or
    # the first segment's Identity (the NumPy kernel returns its input), which the fallback
    # needs. v's update comes in the last segment: donating v there would overwrite r's
    # bytes before the caller reads them.
    v = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), name="v")
    r = tf.identity(v)
    s = tf.nn.softmax(r)
    upd = tf.assign(v, v + tf.reduce_sum(s, axis=1, keepdims=True))  # v + 1
    backend = LackingBackend()
    with tf.Session(backend=backend, config={"disable_passes": disabled}) as sess:
        sess.run(v.initializer)
        for step in range(3):  # after the first, v's buffer is one a run may write
            got_r, got_v = sess.run([r, upd])
            np.testing.assert_array_equal(got_r, [[1.0 + step, 2.0 + step], [3.0 + step, 4.0 + step]])
            np.testing.assert_allclose(got_v, [[2.0 + step, 3.0 + step], [4.0 + step, 5.0 + step]], rtol=1e-6)
        exe = next(e for e in sess._executables.values() if isinstance(e, segments.SegmentedExecutable))
        assert "Softmax" in exe.segments[-2].ops and exe.segments[-2].backend == "numpy"
        assert exe.donatable == frozenset()


def test_donation_goes_to_the_last_segment_when_it_is_safe() -> None:
    # The last segment makes v's update and nothing else holds v's buffer: in place.
    v = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), name="v")
    upd = tf.assign(v, v + tf.reduce_sum(tf.nn.softmax(v), axis=1, keepdims=True))
    with tf.Session(backend=LackingBackend()) as sess:
        sess.run(v.initializer)
        sess.run(upd.op)  # the first new value is a buffer of the run's own
        before = sess._variables[v.op._id]
        sess.run(upd.op)
        exe = next(e for e in sess._executables.values() if isinstance(e, segments.SegmentedExecutable))
        assert exe.donatable == frozenset({0})
        assert sess._variables[v.op._id] is before  # the same buffer, written in place
        np.testing.assert_allclose(sess.run(v), [[3.0, 4.0], [5.0, 6.0]], rtol=1e-6)


def test_a_run_failing_in_a_later_segment_changes_no_variable() -> None:
    v = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32), name="v")
    w = tf.Variable(np.array([5.0, 6.0], np.float32), name="w")
    idx = tf.placeholder(tf.int32, [None], name="idx")
    u = tf.assign_add(v, [1.0, 1.0, 1.0])  # made in the first segment
    g = tf.gather(u * 2.0, idx)  # the fallback: fails for an index out of range
    wu = tf.assign(w, w + tf.reduce_sum(g))  # the last segment
    backend = LackingBackend(lacks=("GatherV2",))
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        got_g, _ = sess.run([g, wu], {idx: [1]})  # now v and w have buffers a run may write
        np.testing.assert_array_equal(got_g, [6.0])
        with pytest.raises(errors.InvalidArgumentError, match="GatherV2"):
            sess.run([g, wu], {idx: [0, 7]})
        np.testing.assert_array_equal(sess.run(v), [2.0, 3.0, 4.0])
        np.testing.assert_array_equal(sess.run(w), [11.0, 12.0])
        exe = next(e for e in sess._executables.values() if isinstance(e, segments.SegmentedExecutable))
        segs = exe.segments
        assert [s.backend for s in segs] == ["lacking", "numpy", "lacking"]
        assert [o.name for o in segs[0].program.updates] == ["v"]
        # Now a good run: both variables change, as a NumPy reference says.
        got_g, _ = sess.run([g, wu], {idx: [2, 0]})
        np.testing.assert_array_equal(got_g, [10.0, 6.0])
        np.testing.assert_array_equal(sess.run(v), [3.0, 4.0, 5.0])
        np.testing.assert_array_equal(sess.run(w), [27.0, 28.0])


def test_graphc_inspect_lists_the_fallback_segment(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import graphc as tf
            from tests.test_partition import LackingBackend

            x = tf.placeholder(tf.float32, [None, 4], name="x")
            W = tf.Variable(np.ones((4, 3), np.float32), name="W")
            p = tf.nn.softmax(tf.matmul(x, W))
            loss = tf.reduce_sum(p * p)
            train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
            FETCHES = [loss, train]
            FEED_SHAPES = {"x": (8, 4)}
            BACKEND = LackingBackend()
            """
        )
    )
    assert cli_main(["inspect", str(path), "--passes-only"]) == 0
    text = capsys.readouterr().out
    section = text[text.index("== segments") :].split("\n\n")[0]
    assert section.startswith("== segments: 3 on backend lacking; it lacks Softmax")
    assert (
        "segment 1: device (default device), backend numpy (fallback: lacking lacks Softmax): 1 node"
        in section
    )
    assert "ops: Softmax" in section
    assert "from segment 0" in section and "to segment 2" in section
    assert "outputs: fetch '0', update 'W'" in section
    assert cli_main(["inspect", str(path), "--passes-only", "--backend", "numpy"]) == 0
    text = capsys.readouterr().out
    assert (
        "== segments: one (device (default device), backend numpy): the program compiles as a whole" in text
    )


# -- dims across segments ---------------------------------------------------------------------------
def test_data_defined_dims_bound_in_one_segment_and_used_in_the_next() -> None:
    n = tf.placeholder(tf.int32, [None], name="n")
    x = tf.placeholder(tf.float32, [3], name="x")
    r = tf.cast(tf.range(tf.reduce_sum(n)), tf.float32)  # size D, known once it ran
    c = tf.concat([r, r], 0)  # 2*D: the next segment cannot read D off a shape
    s = tf.nn.softmax(c)  # fallback
    z = tf.reduce_sum(s * tf.concat([r, r * 0.0 + 1.0], 0))
    t = tf.tile(x, [tf.reduce_sum(n)])  # 3*D', solved for D' from the output's size
    st = tf.nn.softmax(t) * 2.0
    backend = LackingBackend()
    with tf.Session(backend=backend) as sess:
        for counts in ([1, 2], [4, 0, 1], [2]):
            k = sum(counts)
            xs = np.array([0.5, -1.0, 2.0], np.float32)
            got_s, got_z, got_st = sess.run([s, z, st], {n: counts, x: xs})
            rv = np.arange(k, dtype=np.float64)
            cv = np.concatenate([rv, rv])
            want_s = np.exp(cv - cv.max()) / np.exp(cv - cv.max()).sum()
            np.testing.assert_allclose(got_s, want_s, rtol=1e-5)
            assert got_z == pytest.approx(float(np.sum(want_s * np.concatenate([rv, np.ones(k)]))), rel=1e-5)
            tv = np.tile(xs.astype(np.float64), k)
            want_st = 2 * np.exp(tv - tv.max()) / np.exp(tv - tv.max()).sum() if k else np.zeros(0)
            np.testing.assert_allclose(got_st, want_st, rtol=1e-5)
        assert sess.stats["compiles"] == 1
        exe = next(iter(sess._executables.values()))
    assert isinstance(exe, segments.SegmentedExecutable)
    part = exe.partition
    _check_partition(part)
    defined = {d.symbol for seg in part.segments for d in seg.defines}
    assert len(defined) == 2  # D and D', each learnt from a segment's output
    passed = [seg for seg in part.segments if seg.dims_symbols]
    assert passed, "a segment that receives 2*D must get D in its dims param"
    for seg in part.segments:
        # Every symbol the segment's shapes use is bound by its bindings, or defined by it.
        own = {s for d in seg.program.defined_dims for s in _symbols(d.dim)}
        used = {s for v in seg.program.values() for d in v.shape for s in _symbols(d)}
        assert used <= set(seg.symbols) | own


def _symbols(d: Any) -> set[str]:
    return sym.free_symbols(d)


def test_symbolic_batch_dims_reach_every_segment_through_a_flattened_shape() -> None:
    # reshape(-1) makes a size 4*N: the fallback segment gets N in its dims param.
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    flat = tf.reshape(tf.exp(x), [-1])
    s = tf.nn.softmax(flat)
    back = tf.reshape(s, [-1, 4]) * 3.0
    backend = LackingBackend()
    with tf.Session(backend=backend) as sess:
        for n in (2, 5):
            xs = np.random.default_rng(n).normal(size=(n, 4)).astype(np.float32)
            e = np.exp(xs.astype(np.float64)).reshape(-1)
            want = (np.exp(e - e.max()) / np.exp(e - e.max()).sum()).reshape(n, 4) * 3
            np.testing.assert_allclose(sess.run(back, {x: xs}), want, rtol=1e-5)
        assert sess.stats["compiles"] == 1
        exe = next(iter(sess._executables.values()))
    assert isinstance(exe, segments.SegmentedExecutable)
    fallback = [seg for seg in exe.segments if seg.backend == "numpy"]
    assert len(fallback) == 1
    assert fallback[0].dims_symbols == fallback[0].symbols and len(fallback[0].symbols) == 1


@pytest.mark.parametrize("seed", range(6))
def test_random_placements_partition_into_valid_segments(seed: int) -> None:
    """Random graphs of binary ops over three devices (some ops unplaced): segments run in
    order, and the partitioned program and the segments compute what the input does."""
    rng = np.random.default_rng(seed)
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    values = [x, tf.exp(x * 0.1)]
    places = ["/cpu:0", "/gpu:0", "/device:GPU:1", None]
    fns = [tf.add, tf.subtract, tf.maximum, lambda a, b: tf.tanh(a) * b]
    for _ in range(25):
        a, b = (values[i] for i in rng.integers(0, len(values), size=2))
        fn = fns[rng.integers(0, len(fns))]
        place = places[rng.integers(0, len(places))]
        if place is None:
            values.append(fn(a, b))
        else:
            with tf.device(place):
                values.append(fn(a, b))
    fetches = [values[-1], values[len(values) // 2]]
    program = _lowered(fetches, {x: (2, 3)})
    part = partition(program)
    _check_partition(part)
    xs = rng.normal(size=(4, 3)).astype(np.float32)
    numpy = get_backend("numpy")
    want = run_program(numpy, program, [xs])
    for got, w in zip(run_program(numpy, part.program, [xs]), want, strict=True):
        np.testing.assert_array_equal(got, w)
    exe = segments.compile_program(program, numpy)
    assert isinstance(exe, segments.SegmentedExecutable) == (len(part.segments) > 1)
    dims = bind_entry(program, [xs.shape], {})
    got = [numpy.to_host(o) for o in exe.run([numpy.to_device(xs)], dims)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
