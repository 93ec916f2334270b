"""graphc.compile, CompiledProgram.save and graphc.load (graphc/runtime/artifact.py).

The reference for values is NumPy: a forward pass written here from the variables'
values, and the session's own run of the same fetches (bit for bit on the NumPy
backend, which compiles the same optimised program). Saved artifacts are loaded in a
fresh interpreter that imports only graphc and NumPy.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.runtime.artifact import ArtifactError, run_cli
from graphc.runtime.backend import CompileOptions, available_backends, can_export, get_backend

BACKENDS = available_backends()
N_IN, N_HIDDEN, N_OUT = 5, 7, 3
HEADER = struct.Struct("<8sQ32s")  # the artifact's header, as its docstring lays it out


class MLP:
    """x -> relu(x W1 + b1) W2 + b2, trained one step of SGD on fixed data."""

    def __init__(self, backend: str = "numpy") -> None:
        rng = np.random.default_rng(0)
        self.x = tf.placeholder(tf.float32, [None, N_IN], name="x")
        self.labels = tf.placeholder(tf.float32, [None, N_OUT], name="labels")
        self.w1 = tf.Variable(rng.normal(size=(N_IN, N_HIDDEN)).astype(np.float32), name="w1")
        self.b1 = tf.Variable(np.zeros(N_HIDDEN, np.float32), name="b1")
        self.w2 = tf.Variable(rng.normal(size=(N_HIDDEN, N_OUT)).astype(np.float32), name="w2")
        self.b2 = tf.Variable(np.zeros(N_OUT, np.float32), name="b2")
        hidden = tf.nn.relu(tf.matmul(self.x, self.w1) + self.b1)
        self.logits = tf.identity(tf.matmul(hidden, self.w2) + self.b2, name="logits")
        self.probs = tf.nn.softmax(self.logits, name="probs")
        self.loss = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits_v2(labels=self.labels, logits=self.logits), name="loss"
        )
        self.train = tf.train.GradientDescentOptimizer(0.5).minimize(self.loss)
        self.variables = [self.w1, self.b1, self.w2, self.b2]
        self.sess = tf.Session(backend=backend)
        self.sess.run(tf.global_variables_initializer())
        initial = self.sess.run(self.variables)
        self.sess.run(self.train, {self.x: batch(8, 1), self.labels: onehot(8, 2)})
        trained = self.sess.run(self.variables)
        assert all(not np.array_equal(a, b) for a, b in zip(initial, trained))  # every variable moved

    def reference(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The forward pass in NumPy, from the session's variable values."""
        w1, b1, w2, b2 = (v.astype(np.float64) for v in self.sess.run(self.variables))
        logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return logits, e / e.sum(axis=1, keepdims=True)


def batch(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, N_IN)).astype(np.float32)


def onehot(n: int, seed: int) -> np.ndarray:
    return np.eye(N_OUT, dtype=np.float32)[np.random.default_rng(seed).integers(0, N_OUT, n)]


@pytest.fixture
def mlp() -> Any:
    m = MLP()
    yield m
    m.sess.close()


class CountingCompiles:
    """Counts ``backend.compile`` calls (monkeypatched onto the backend object)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, backend: Any) -> None:
        self.n = 0
        inner = backend.compile

        def compile(program: Any, options: Any) -> Any:  # noqa: A001
            self.n += 1
            return inner(program, options)

        monkeypatch.setattr(backend, "compile", compile)


# -- compile and call --------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_compiled_mlp_matches_session_and_numpy(backend_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_CACHE", "0")  # count real compiles, not loads from the cache
    m = MLP(backend_name)
    batches = [batch(3, 10), batch(11, 11)]  # two batch sizes: one compile serves both
    session_results = [m.sess.run([m.logits, m.probs], {m.x: x}) for x in batches]
    backend = get_backend(backend_name)
    counter = CountingCompiles(monkeypatch, backend)
    with m.sess.as_default():
        f = tf.compile([m.logits, m.probs], [m.x])
    compiles = counter.n
    assert compiles >= 1 and f.backend is backend
    for x, (s_logits, s_probs) in zip(batches, session_results):
        logits, probs = f(x)
        assert logits.shape == (len(x), N_OUT) and logits.dtype == np.float32
        want_logits, want_probs = m.reference(x.astype(np.float64))
        np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(probs, want_probs, rtol=1e-5, atol=1e-6)
        if backend_name == "numpy":
            assert np.array_equal(logits, s_logits) and np.array_equal(probs, s_probs)
        else:
            np.testing.assert_allclose(logits, s_logits, rtol=1e-6, atol=1e-6)
    assert counter.n == compiles
    if backend_name == "numpy":
        assert compiles == 1
    m.sess.close()


def test_signature_and_return_structure(mlp: MLP) -> None:
    f = tf.compile((mlp.logits, mlp.probs), {"images": mlp.x}, session=mlp.sess)
    (inp,) = f.signature.inputs
    assert (inp.name, inp.dtype) == ("images", "float32")
    sym_dim, width = inp.shape
    assert isinstance(sym_dim, str) and width == N_IN
    assert [(o.name, o.dtype, o.shape) for o in f.signature.outputs] == [
        ("logits", "float32", (sym_dim, N_OUT)),
        ("probs", "float32", (sym_dim, N_OUT)),
    ]
    assert str(f.signature) == (
        f"(images: float32[{sym_dim},{N_IN}]) -> "
        f"(logits: float32[{sym_dim},{N_OUT}], probs: float32[{sym_dim},{N_OUT}])"
    )
    out = f(batch(2, 0))
    assert isinstance(out, tuple) and len(out) == 2
    single = tf.compile(mlp.probs, [mlp.x], session=mlp.sess)
    assert isinstance(single(batch(2, 0)), np.ndarray)
    # By name, and a Python list converted within its kind (float64 -> float32).
    np.testing.assert_array_equal(single(x=batch(2, 0).tolist()), single(batch(2, 0)))


def test_variables_are_captured_when_compiled(mlp: MLP) -> None:
    f = tf.compile(mlp.logits, [mlp.x], session=mlp.sess)
    x = batch(4, 3)
    before = f(x)
    mlp.sess.run(mlp.train, {mlp.x: batch(8, 1), mlp.labels: onehot(8, 2)})
    assert not np.array_equal(mlp.sess.run(mlp.logits, {mlp.x: x}), before)  # the session moved on
    assert np.array_equal(f(x), before)  # the compiled program did not


def test_bad_inputs_are_refused_clearly(mlp: MLP) -> None:
    f = tf.compile(mlp.loss, [mlp.x, mlp.labels], session=mlp.sess)
    x, y = batch(4, 0), onehot(4, 0)
    np.testing.assert_allclose(f(x, y), mlp.sess.run(mlp.loss, {mlp.x: x, mlp.labels: y}), rtol=0)
    with pytest.raises(TypeError, match=r"'x' has dtype float32; got an array of float64"):
        f(x.astype(np.float64), y)
    with pytest.raises(ValueError, match=r"'x' has shape \[N\d+,5\]; got an array of shape \(4, 4\)"):
        f(x[:, :4], y)
    with pytest.raises(ValueError, match=r"'labels' has shape .*got an array of shape \(4,\)"):
        f(x, y[:, 0])
    with pytest.raises(TypeError, match=r"takes 2 inputs"):
        f(x, y, y)
    with pytest.raises(TypeError, match=r"Missing input\(s\) \['labels'\]"):
        f(x)
    # Both batch dims are one symbol (the loss adds them): the entry check names both feeds.
    with pytest.raises(
        errors.InvalidArgumentError, match=r"'labels:0' is 5, but dimension 0 of feed 'x:0' is 4"
    ):
        f(x, onehot(5, 0))


def test_compile_errors() -> None:
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    v = tf.Variable(np.ones((2, 2), np.float32), name="v")
    y = tf.matmul(x, v)
    with pytest.raises(ValueError, match=r"read variables \('v'\)"):
        tf.compile(y, [x])
    with tf.Session() as sess:
        with pytest.raises(errors.FailedPreconditionError, match="uninitialized value v"):
            tf.compile(y, [x])
        sess.run(v.initializer)
        with pytest.raises(ValueError, match=r"assign variables \('v'\)"):
            tf.compile(tf.assign_add(v, v), [])
        with pytest.raises(TypeError, match="Operation"):
            tf.compile([v.initializer], [x])
        unknown_rank = tf.placeholder(tf.float32, None, name="u")
        with pytest.raises(ValueError, match="rank is unknown"):
            tf.compile(unknown_rank * 2.0, [unknown_rank])
        np.testing.assert_array_equal(tf.compile(y, [x])(np.eye(2, dtype=np.float32)), np.ones((2, 2)))


def test_random_ops_draw_as_a_fresh_session(tmp_path: Path) -> None:
    r = tf.random_uniform([4], seed=7, name="r")
    with tf.Session() as fresh:
        want = [fresh.run(r), fresh.run(r)]
    assert not np.array_equal(want[0], want[1])
    with tf.Session() as sess:
        f = tf.compile(r, [], session=sess)
    assert np.array_equal(f(), want[0]) and np.array_equal(f(), want[1])
    f.save(tmp_path / "r.gca")
    g = tf.load(tmp_path / "r.gca")
    assert np.array_equal(g(), want[0]) and np.array_equal(g(), want[1])


# -- save and load -----------------------------------------------------------------------------


LOADER = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np
    import graphc

    def refuse(*a, **k):
        raise AssertionError("something unpickled while loading")

    pickle.loads = pickle.load = refuse
    artifact, out = sys.argv[1], sys.argv[2]
    prog = graphc.load(artifact)
    for name in sys.argv[3:]:
        x = np.load(name, allow_pickle=False)
        for spec, value in zip(prog.signature.outputs, prog(x)):
            np.save(f"{out}/{spec.name}-{x.shape[0]}.npy", value, allow_pickle=False)
    assert "test_artifact" not in sys.modules and "tests" not in sys.modules
    print(prog.signature)
    """
)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_saved_artifact_runs_in_a_fresh_process(backend_name: str, tmp_path: Path) -> None:
    mlp = MLP(backend_name)
    f = tf.compile([mlp.logits, mlp.probs], [mlp.x], session=mlp.sess)
    path = tmp_path / "mlp.gca"
    f.save(path)
    inputs = []
    for n in (3, 9):
        inputs.append(tmp_path / f"x{n}.npy")
        np.save(inputs[-1], batch(n, n), allow_pickle=False)
    script = tmp_path / "loader.py"
    script.write_text(LOADER)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, str(script), str(path), str(out), *map(str, inputs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(f.signature)
    assert "Warning" not in proc.stderr  # same machine: its code (if any) was used
    for n in (3, 9):
        logits, probs = f(batch(n, n))
        for name, want in (("logits", logits), ("probs", probs)):
            got = np.load(out / f"{name}-{n}.npy", allow_pickle=False)
            assert got.dtype == want.dtype and np.array_equal(got, want)
    mlp.sess.close()


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_save_load_on_each_backend(
    backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = MLP(backend_name)
    f = tf.compile([m.logits, m.probs], [m.x], session=m.sess)
    path = tmp_path / "mlp.gca"
    f.save(path)
    _, manifest, _ = read_layout(path)
    has_code = any(p["name"].startswith("code:") for p in manifest["parts"])
    backend = get_backend(backend_name)
    # The MLP's dense layers are plain ops: a backend that exports code has some for them.
    assert has_code == can_export(backend)
    if backend_name == "numpy":
        assert manifest["backend"]["identity"] is None
    counter = CountingCompiles(monkeypatch, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same machine: no warning, whatever the backend
        g = tf.load(path)
    assert g.backend is backend
    if has_code:
        assert counter.n == 0  # the exported code was loaded, not compiled again
    for n in (2, 6):
        x = batch(n, n)
        for got, want in zip(g(x), f(x)):
            assert np.array_equal(got, want)
    m.sess.close()


def test_load_never_unpickles(mlp: MLP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tf.compile(mlp.logits, [mlp.x], session=mlp.sess)
    f.save(tmp_path / "a.gca")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something unpickled while loading")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    g = tf.load(tmp_path / "a.gca")
    x = batch(5, 5)
    assert np.array_equal(g(x), f(x))
    assert g.signature == f.signature


def read_layout(path: Path) -> tuple[bytes, dict[str, Any], int]:
    """The artifact's bytes, its manifest and where its body starts (read independently)."""
    data = path.read_bytes()
    magic, n, digest = HEADER.unpack_from(data)
    assert magic == b"GRAPHCA\n"
    text = data[HEADER.size : HEADER.size + n]
    assert hashlib.sha256(text).digest() == digest
    return data, json.loads(text), HEADER.size + n


def test_manifest_contents(mlp: MLP, tmp_path: Path) -> None:
    f = tf.compile(mlp.probs, {"images": mlp.x}, session=mlp.sess)
    f.save(tmp_path / "a.gca")
    data, manifest, base = read_layout(tmp_path / "a.gca")
    assert manifest["format"] == "graphc.artifact" and manifest["version"] == 1
    assert manifest["graphc_version"] == tf.__version__
    assert manifest["backend"]["name"] == "numpy"
    assert [s["name"] for s in manifest["signature"]["inputs"]] == ["images"]
    assert manifest["program_hash"] == f.program.content_hash()
    names = [p["name"] for p in manifest["parts"]]
    assert names[0] == "program" and not [n for n in names if n.startswith("code")]  # NumPy exports nothing
    assert manifest["units"] == [f.program.content_hash()]  # one unit: the whole program
    values = dict(zip([v.op.name for v in mlp.variables], mlp.sess.run(mlp.variables)))
    assert sorted(v["name"] for v in manifest["variables"]) == sorted(values)
    for v in manifest["variables"]:
        (part,) = [p for p in manifest["parts"] if p["name"] == v["part"]]
        raw = data[base + part["offset"] : base + part["offset"] + part["length"]]
        assert hashlib.sha256(raw).hexdigest() == part["sha256"]
        stored = np.frombuffer(raw, dtype="<f4").reshape(v["shape"])
        assert v["dtype"] == "float32" and np.array_equal(stored, values[v["name"]])
    end = max(p["offset"] + p["length"] for p in manifest["parts"])
    assert base + end == len(data)


@pytest.fixture
def saved(mlp: MLP, tmp_path: Path) -> Path:
    path = tmp_path / "mlp.gca"
    tf.compile(mlp.logits, [mlp.x], session=mlp.sess).save(path)
    return path


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("part", ["program", "variable:0", "variable:3"])
def test_tampered_part_is_refused(saved: Path, part: str) -> None:
    data, manifest, base = read_layout(saved)
    (entry,) = [p for p in manifest["parts"] if p["name"] == part]
    saved.write_bytes(flip(data, base + entry["offset"] + entry["length"] // 2))
    with pytest.raises(ArtifactError, match=f"checksum of part '{part}' does not match"):
        tf.load(saved)


def test_tampered_manifest_header_and_truncation_are_refused(saved: Path) -> None:
    data, manifest, base = read_layout(saved)
    saved.write_bytes(flip(data, HEADER.size + 5))
    with pytest.raises(ArtifactError, match="manifest's checksum"):
        tf.load(saved)
    saved.write_bytes(flip(data, 0))
    with pytest.raises(ArtifactError, match="not a graphc artifact"):
        tf.load(saved)
    saved.write_bytes(data[:-3])
    last = manifest["parts"][-1]["name"]
    with pytest.raises(ArtifactError, match=f"truncated: part '{last}'"):
        tf.load(saved)
    saved.write_bytes(data[: HEADER.size + 10])
    with pytest.raises(ArtifactError, match="truncated: its manifest"):
        tf.load(saved)
    saved.write_bytes(data + b"\0")
    with pytest.raises(ArtifactError, match="unexpected bytes after the last part"):
        tf.load(saved)


def rewrite_manifest(path: Path, edit: Any) -> None:
    """Change the manifest and give it a matching checksum (the format checks then speak)."""
    data, manifest, base = read_layout(path)
    edit(manifest)
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(HEADER.pack(b"GRAPHCA\n", len(text), hashlib.sha256(text).digest()) + text + data[base:])


def test_format_version_and_consistency_are_checked(saved: Path) -> None:
    original = saved.read_bytes()
    rewrite_manifest(saved, lambda m: m.update(version=2))
    with pytest.raises(ArtifactError, match="format version 2"):
        tf.load(saved)
    saved.write_bytes(original)
    rewrite_manifest(saved, lambda m: m.update(program_hash="0" * 64))
    with pytest.raises(ArtifactError, match="part 'program' is not the program the manifest names"):
        tf.load(saved)
    saved.write_bytes(original)

    def wrong_shape(m: dict[str, Any]) -> None:
        m["variables"][0]["shape"] = list(reversed(m["variables"][0]["shape"]))

    rewrite_manifest(saved, wrong_shape)
    with pytest.raises(ArtifactError, match="does not fit its param"):
        tf.load(saved)
    saved.write_bytes(original)
    tf.load(saved)  # untouched, it loads


# -- exported code ------------------------------------------------------------------------------


class ExportingBackend:
    """The NumPy backend with the optional export/load part of protocol v2: its "code" is
    the program's hash, and ``load`` counts how often it stood in for a compile."""

    name = "exporting-test"

    def __init__(self) -> None:
        self.inner = get_backend("numpy")
        self.identity = {"cpu": "test-cpu", "version": "1"}
        self.compiles = self.loads = 0

    def is_available(self) -> bool:
        return True

    def supported_ops(self) -> frozenset[str] | None:
        return None

    def compile(self, program: Any, options: CompileOptions) -> Any:
        self.compiles += 1
        return self.inner.compile(program, options)

    def to_device(self, array: np.ndarray) -> Any:
        return self.inner.to_device(array)

    def to_host(self, array: Any) -> np.ndarray:
        return self.inner.to_host(array)

    def cache_identity(self) -> dict[str, str]:
        return dict(self.identity)

    def export(self, exe: Any) -> bytes:
        return b"code-for:" + exe.program.content_hash().encode()

    def load(self, program: Any, code: bytes, options: CompileOptions) -> Any:
        assert code == b"code-for:" + program.content_hash().encode()
        self.loads += 1
        return self.inner.compile(program, options)


def test_exported_code_is_used_only_on_a_matching_machine(mlp: MLP, tmp_path: Path) -> None:
    backend = ExportingBackend()
    f = tf.compile(mlp.logits, [mlp.x], backend=backend, session=mlp.sess)
    assert backend.compiles == 1
    path = tmp_path / "a.gca"
    f.save(path)
    _, manifest, _ = read_layout(path)
    assert manifest["backend"] == {"name": "exporting-test", "identity": backend.identity}
    x = batch(6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = tf.load(path, backend=backend)
    assert (backend.compiles, backend.loads) == (1, 1)
    assert np.array_equal(g(x), f(x))

    backend.identity["cpu"] = "another-cpu"
    with pytest.warns(RuntimeWarning, match=r"another machine.*cpu: 'test-cpu' there, 'another-cpu' here"):
        h = tf.load(path, backend=backend)
    assert (backend.compiles, backend.loads) == (2, 1)
    assert np.array_equal(h(x), f(x))

    # Not installed here under its name: the default backend runs it (its code unused).
    with pytest.warns(RuntimeWarning) as caught:
        k = tf.load(path)
    messages = [str(w.message) for w in caught]
    assert any("not installed here" in m for m in messages)
    default = get_backend().name
    assert any(f"compiled by backend 'exporting-test', not '{default}'" in m for m in messages)
    assert k.backend.name == default and np.array_equal(k(x), f(x))

    data, manifest, base = read_layout(path)
    (code,) = [p for p in manifest["parts"] if p["name"] == "code:0"]
    path.write_bytes(flip(data, base + code["offset"]))
    with pytest.raises(ArtifactError, match="checksum of part 'code:0'"):
        tf.load(path, backend=backend)


# -- graphc run ---------------------------------------------------------------------------------


def test_run_cli_end_to_end(mlp: MLP, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tf.compile([mlp.logits, mlp.probs], {"images": mlp.x}, session=mlp.sess)
    path = tmp_path / "mlp.gca"
    f.save(path)
    x = batch(4, 4)
    np.save(tmp_path / "x.npy", x, allow_pickle=False)
    out = tmp_path / "out"
    assert run_cli(str(path), {"images": str(tmp_path / "x.npy")}, str(out)) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == ["logits", "probs"]
    assert all("float32 [4, 3]" in line for line in printed)
    for name, want in zip(("logits", "probs"), f(x)):
        got = np.load(out / f"{name}.npy", allow_pickle=False)
        assert got.dtype == np.float32 and np.array_equal(got, want)

    # Without --out: printed only.
    assert run_cli(str(path), {"images": str(tmp_path / "x.npy")}, None) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    def fails(feeds: dict[str, str], match: str, artifact: str = str(path)) -> None:
        assert run_cli(artifact, feeds, None) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("graphc run: error:") and match in err, err

    fails({"images": str(tmp_path / "x.npy"), "extra": "y.npy"}, "unknown feed 'extra'")
    fails({}, "missing feed 'images'")
    np.save(tmp_path / "x64.npy", x.astype(np.float64), allow_pickle=False)
    fails({"images": str(tmp_path / "x64.npy")}, "'images' has dtype float32; got an array of float64")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    fails({"images": str(tmp_path / "obj.npy")}, "cannot read feed 'images'")
    fails({"images": str(tmp_path / "x.npy")}, "cannot read artifact", str(tmp_path / "missing.gca"))
