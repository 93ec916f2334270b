"""The compile cache's optimised programs (graphc.runtime.cache: ``optimize_cached``): a
second session on a graph built alike, in this process or another, gets the pipeline's
result from disk without running a pass, and it is the same program (names, origins,
memory plan) with the same values; what the result depends on is in the key (the input
program with its names, the passes switched off, graphc's source files); a damaged entry
is set aside and recomputed; programs whose passes may differ in another process (host
ops, ops or rules that are not graphc's) are never stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import registry as reg
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.ir.serialize import difference
from graphc.passes import memory, pipeline
from graphc.runtime import cache as C
from graphc.runtime.backend import get_backend

ROOT = Path(__file__).resolve().parents[1]
W = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
X = (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.0) / 5.0
LR = 0.1


def build(name: str = "w") -> dict[str, Any]:
    """A small training graph: y = tanh(x @ w) * 2 + 1, loss sum(y*y), one SGD step."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.Variable(W, name=name)
        y = tf.tanh(tf.matmul(x, w)) * 2.0 + 1.0
        loss = tf.reduce_sum(y * y)
        train = tf.train.GradientDescentOptimizer(LR).minimize(loss)
        init = tf.global_variables_initializer()
    return {"graph": g, "x": x, "w": w, "y": y, "loss": loss, "train": train, "init": init}


def reference() -> tuple[np.ndarray, np.ndarray]:
    """y before the step and w after it, by hand in float64."""
    x, w = X.astype(np.float64), W.astype(np.float64)
    t = np.tanh(x @ w)
    y = t * 2.0 + 1.0
    grad = x.T @ (2.0 * y * 2.0 * (1.0 - t * t))
    return y, w - LR * grad


def step(parts: dict[str, Any], backend: str = "numpy") -> tuple[Any, np.ndarray, np.ndarray, Any]:
    sess = tf.Session(graph=parts["graph"], backend=backend)
    sess.run(parts["init"])
    y, _ = sess.run([parts["y"], parts["train"]], {parts["x"]: X})
    w = sess.run(parts["w"])
    return sess, y, w, sess.stats["peak_bytes"]


def compiled_program(sess: Any, parts: dict[str, Any]) -> Program:
    (hit,) = [c for c in sess._cache.values() if len(c.program.params) == 2]  # the step
    return hit.program


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    monkeypatch.delenv(pipeline.DUMP_ENV, raising=False)
    monkeypatch.delenv(pipeline.DISABLE_ENV, raising=False)
    return tmp_path


def passes_entries(directory: Path) -> list[C.CacheEntry]:
    return [e for e in C.CompileCache(directory).entries() if e.kind == C.PASSES_KIND]


def test_a_second_session_runs_no_pass_and_gets_the_same_program(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want_y, want_w = reference()
    first = build()
    sess1, y1, w1, peak1 = step(first)
    assert sess1.stats["passes_hits"] == 0
    np.testing.assert_allclose(y1, want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w1, want_w, rtol=1e-5, atol=1e-6)
    assert len(passes_entries(cache_dir)) == 3  # the initializer, the step, reading w

    def no_pass(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pass ran on a program the cache holds")

    monkeypatch.setattr(pipeline, "optimize", no_pass)
    second = build()  # the same code: the same names and the same lines
    sess2, y2, w2, peak2 = step(second)
    assert sess2.stats["passes_hits"] == 3
    np.testing.assert_array_equal(y2, y1)
    np.testing.assert_array_equal(w2, w1)
    assert peak2 == peak1
    a, b = compiled_program(sess1, first), compiled_program(sess2, second)
    assert difference(a, b) is None and str(a) == str(b)  # names and origins included
    assert a.content_hash() == b.content_hash()
    assert b.meta["memory_plan"] == a.meta["memory_plan"]
    assert memory.plan_for(b) is b.meta["memory_plan"]  # the plan made for it


def test_other_names_or_disabled_passes_are_other_entries(cache_dir: Path) -> None:
    step(build())
    sess, y, w, _ = step(build(name="v"))  # names are in the result (origins), so in the key
    assert sess.stats["passes_hits"] == 0
    np.testing.assert_allclose(w, reference()[1], rtol=1e-5, atol=1e-6)

    parts = build()
    low = lower(parts["graph"], [parts["y"]], {parts["x"]: (tf.float32, (2, 3))}).program
    cache = C.CompileCache(cache_dir)
    fused, _, outcome = cache.optimize(low)
    unfused, _, outcome2 = cache.optimize(low, ["fuse"])
    assert (outcome, outcome2) == ("miss", "miss")
    assert any(n.op == "Fused" for n in fused.nodes) and not any(n.op == "Fused" for n in unfused.nodes)
    again, h, outcome3 = cache.optimize(low, ["fuse"])
    assert outcome3 == "hit" and difference(again, unfused) is None and h == unfused.content_hash()
    assert cache.stats.passes_hits == 1 and cache.stats.passes_misses == 2


def _lowered(cache_dir: Path) -> Program:
    parts = build()
    return lower(parts["graph"], [parts["y"]], {parts["x"]: (tf.float32, (None, 3))}).program


def test_a_damaged_entry_is_set_aside_and_recomputed(cache_dir: Path) -> None:
    program = _lowered(cache_dir)
    cache = C.CompileCache(cache_dir)
    want, h, _ = cache.optimize(program)
    (entry,) = passes_entries(cache_dir)
    data = bytearray(entry.path.read_bytes())
    data[-3] ^= 0x40
    entry.path.write_bytes(bytes(data))
    with pytest.warns(C.CacheWarning, match="payload's checksum"):
        got, h2, outcome = cache.optimize(program)
    assert outcome == "miss" and h2 == h and difference(got, want) is None
    assert len(list((cache_dir / C.QUARANTINE).iterdir())) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.optimize(program)[2] == "hit"

    # A whole entry (its checksums right) whose payload is no optimised program.
    parts = C.passes_key_parts(program, set())
    assert cache._store(C.entry_key(parts), parts, b"GRAPHC-PASSES1\n" + b"\xff" * 20)
    with pytest.warns(C.CacheWarning, match="optimised program does not load"):
        got, _, outcome = cache.optimize(program)
    assert outcome == "miss" and difference(got, want) is None


def test_programs_whose_passes_may_differ_elsewhere_are_not_stored(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = C.CompileCache(cache_dir)
    x = tf.placeholder(tf.float32, [3], name="x")
    y = tf.py_func(lambda a: a * 2, [x], tf.float32)
    y.set_shape([3])
    y = y + 1.0
    host = lower(tf.get_default_graph(), [y], {x: (tf.float32, (3,))}).program
    assert not C.passes_cacheable(host) and cache.optimize(host)[2] == "off"

    program = _lowered(cache_dir)
    assert C.passes_cacheable(program)
    tanh = reg.get("Tanh")
    monkeypatch.setattr(tanh, "reference", lambda ins, attrs: [np.tanh(ins[0])])  # not graphc's rule
    assert not C.passes_cacheable(program) and cache.optimize(program)[2] == "off"
    monkeypatch.undo()
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv(pipeline.DUMP_ENV, str(cache_dir / "dump"))
    assert cache.optimize(program)[2] == "off"  # every pass's output is asked for
    monkeypatch.delenv(pipeline.DUMP_ENV)
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    assert C.optimize_cached(program)[2] == "off"
    assert passes_entries(cache_dir) == []


def test_the_source_fingerprint_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    mod = tmp_path / "pkg" / "a.py"
    mod.write_text("x = 1\n")
    before = C.fingerprint_of(tmp_path)
    (tmp_path / "pkg" / "__pycache__" / "a.cpython.pyc").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not a module")
    assert C.fingerprint_of(tmp_path) == before
    mod.write_text("x = 22\n")
    assert C.fingerprint_of(tmp_path) != before
    assert C.passes_key_parts(_lowered(tmp_path), set())["source"] == C.source_fingerprint()


def test_listing_and_miss_explanations_tell_the_kinds_apart(cache_dir: Path) -> None:
    step(build(), backend="llvm")
    entries = C.CompileCache(cache_dir).entries()
    kinds = {e.kind for e in entries}
    assert kinds == {"code", C.PASSES_KIND}
    assert all((e.backend == "(passes)") == (e.kind == C.PASSES_KIND) for e in entries)
    assert all(e.backend == "llvm" for e in entries if e.kind == "code")
    parts = {"program": "0" * 64, "graphc": "x", "backend": "llvm", "options": ""}
    n_code = sum(1 for e in entries if e.kind == "code")
    assert f"{n_code} entries for backend llvm, {n_code} in all" in C.CompileCache(cache_dir).explain_miss(parts)


@pytest.mark.parametrize("feed_shape", [(2, 3), (None, 3)])
def test_memory_plans_round_trip_through_json(feed_shape: tuple[Any, ...]) -> None:
    parts = build()
    low = lower(parts["graph"], [parts["y"], parts["train"]], {parts["x"]: (tf.float32, feed_shape)})
    program = pipeline.optimize(low.program)
    plan = program.meta["memory_plan"]
    doc = json.loads(json.dumps(memory.plan_to_json(plan)))
    back = memory.plan_from_json(doc)
    assert back == plan and back.describe() == plan.describe()
    memory.check_plan(program, back, {s: 5 for s in plan.symbols})
    bad = json.loads(json.dumps(doc))
    bad["plan"]["entries"][0] = [0, 10**6, 0, 4]
    for broken in (bad, {**doc, "version": 99}, {**doc, "plan": {}}, [1, 2]):
        with pytest.raises(ValueError):
            memory.plan_from_json(broken)


SECOND_PROCESS = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from tests.test_cache_passes import X, build
import graphc as tf
parts = build()
sess = tf.Session(graph=parts["graph"], backend="llvm")
sess.run(parts["init"])
y, _ = sess.run([parts["y"], parts["train"]], {parts["x"]: X})
w = sess.run(parts["w"])
stats = {k: sess.stats[k] for k in ("passes_hits", "cache_hits", "cache_misses")}
from graphc.runtime.cache import code_fingerprint, source_fingerprint
from graphc.runtime.backend import get_backend
code = code_fingerprint(get_backend("llvm"))
print(json.dumps({"stats": stats, "y": y.tolist(), "w": w.tolist(), "source": source_fingerprint(), "code": code}))
"""


def test_a_new_process_loads_the_optimised_programs_and_their_code(cache_dir: Path) -> None:
    C.source_fingerprint.cache_clear()  # graphc's files as they are now, not at this process's start
    C._BACKEND_FINGERPRINTS.clear()  # and the backend's
    _, y, w, _ = step(build(), backend="llvm")
    code_then = C.code_fingerprint(get_backend("llvm"))  # what the stored entries' keys hold
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if out["source"] == C.source_fingerprint() and out["code"] == code_then:
        assert out["stats"] == {"passes_hits": 3, "cache_hits": 3, "cache_misses": 0}
    elif out["source"] != C.source_fingerprint():
        # A file of graphc changed meanwhile: its passes may differ, none is taken.
        assert out["stats"]["passes_hits"] == 0
    else:  # only the backend's files changed: the passes' results hold, the code is made anew
        assert out["stats"]["passes_hits"] == 3 and out["stats"]["cache_hits"] == 0
    np.testing.assert_array_equal(np.array(out["y"], np.float32), y)
    np.testing.assert_array_equal(np.array(out["w"], np.float32), w)
