"""The on-disk compile cache (graphc.runtime.cache): a hit loads and compiles nothing, in
this process and in another; bad entries (truncated, corrupted, foreign, refused by the
backend) are set aside with a CacheWarning and recompiled; concurrent stores of one key
both succeed; LRU eviction by size; a changed identity misses and the explanation names
what changed; the environment's settings are followed.

The backend is a fake one that exports: its executables are the NumPy backend's (so every
result is checked against NumPy), its "code" is the program's serialised bytes, and it
counts how often it compiles."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.ir.entry import bind_entry
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.ir.serialize import to_bytes
from graphc.passes import pipeline
from graphc.runtime import cache as C
from graphc.runtime.backend import CompileOptions, can_export, get_backend
from graphc.runtime.segments import compile_program

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = CompileOptions()
FEATURES = "+avx,+avx2,+fma,-avx512f"


class ExportingBackend:
    """A backend with the protocol's export part; compiles with the NumPy backend."""

    name = "fake"

    def __init__(self, features: str = FEATURES, fail_load: bool = False, barrier: Any = None) -> None:
        self.features = features
        self.fail_load = fail_load
        self.barrier = barrier  # compiles wait here, so concurrent stores really meet
        self.compiles = 0
        self.loads = 0
        self._numpy = get_backend("numpy")

    def is_available(self) -> bool:
        return True

    def supported_ops(self) -> frozenset[str] | None:
        return None

    def cache_identity(self) -> dict[str, str]:
        return {"compiler": "fake-1.0", "cpu": "znver5", "features": self.features}

    def compile(self, program: Program, options: CompileOptions) -> Any:
        self.compiles += 1
        if self.barrier is not None:
            self.barrier.wait(timeout=30)
        return self._numpy.compile(program, options)

    def export(self, executable: Any) -> bytes:
        return b"FAKECODE" + to_bytes(executable.program)

    def load(self, program: Program, code: bytes, options: CompileOptions) -> Any:
        if self.fail_load:
            raise RuntimeError("this code does not load here")
        if code != b"FAKECODE" + to_bytes(program):
            raise ValueError("the code is not this program's")
        self.loads += 1
        return self._numpy.compile(program, options)

    def to_device(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True)

    def to_host(self, array: Any) -> np.ndarray:
        return np.array(array, copy=True)


W = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
X = np.arange(6, dtype=np.float32).reshape(2, 3) / 5.0


def make_program(scale: float = 2.0) -> Program:
    """tanh(x @ w) * scale + 1, lowered and optimised (a real program of the pipeline)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.Variable(W, name="w")
        y = tf.tanh(tf.matmul(x, w)) * scale + 1.0
        program = lower(g, [y], {x: (tf.float32, (2, 3))}).program
    return pipeline.optimize(program)


def reference(scale: float = 2.0) -> np.ndarray:
    return np.tanh(X.astype(np.float64) @ W.astype(np.float64)) * scale + 1.0


def run(exe: Any, program: Program) -> np.ndarray:
    inputs = [X if p.kind == "feed" else W for p in program.params]
    dims = bind_entry(program, [a.shape for a in inputs], dict(enumerate(inputs)))
    (out,) = exe.run(inputs, dims)
    return np.asarray(out)


def check(exe: Any, program: Program, scale: float = 2.0) -> None:
    np.testing.assert_allclose(run(exe, program), reference(scale), rtol=1e-5, atol=1e-6)


def entry_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*" + C.SUFFIX))


# -- hits -----------------------------------------------------------------------------------------
def test_miss_then_hit_after_a_restart(tmp_path: Path) -> None:
    program = make_program()
    backend = ExportingBackend()
    assert can_export(backend)
    first = C.CompileCache(tmp_path)
    exe, outcome = first.compile(backend, program, OPTIONS)
    assert outcome == "miss" and backend.compiles == 1
    check(exe, program)
    assert first.stats.as_dict() == {
        "hits": 0,
        "misses": 1,
        "stores": 1,
        "corrupt": 0,
        "evicted": 0,
        "passes_hits": 0,
        "passes_misses": 0,
    }
    (path,) = entry_files(tmp_path)
    assert path.name == C.entry_key(C.key_parts(backend, program, OPTIONS)) + C.SUFFIX

    # A new cache object on the same folder, and a program built again: nothing compiles.
    again = make_program()
    assert again.content_hash() == program.content_hash()
    second = C.CompileCache(tmp_path)
    exe2, outcome2 = second.compile(backend, again, OPTIONS)
    assert outcome2 == "hit" and backend.compiles == 1 and backend.loads == 1
    check(exe2, again)
    assert second.stats.hits == 1 and second.stats.misses == 0

    # Another program misses and gets an entry of its own.
    other = make_program(scale=3.0)
    exe3, outcome3 = second.compile(backend, other, OPTIONS)
    assert outcome3 == "miss" and backend.compiles == 2
    check(exe3, other, scale=3.0)
    assert len(entry_files(tmp_path)) == 2


def test_the_key_changes_with_the_backends_source_files(tmp_path, monkeypatch) -> None:
    # A backend whose module lives in a folder of its own: editing a file there (a
    # lowering changed in a source tree, same versions) gives another key.
    import importlib.util

    folder = tmp_path / "fake_backend_pkg"
    folder.mkdir()
    source = folder / "fake_backend_mod.py"
    source.write_text("class B:\n    name = 'b'\n")
    spec = importlib.util.spec_from_file_location("fake_backend_mod", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fake_backend_mod", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(C, "_BACKEND_FINGERPRINTS", {})
    before = C.code_fingerprint(module.B())
    assert before == C.code_fingerprint(module.B())
    (folder / "lowerings.py").write_text("# a new lowering\n")
    monkeypatch.setattr(C, "_BACKEND_FINGERPRINTS", {})
    after = C.code_fingerprint(module.B())
    assert after != before
    expected = hashlib.sha256(f"{C.source_fingerprint()}:{C.fingerprint_of(folder)}".encode()).hexdigest()
    assert after == expected


def test_key_parts_name_everything_code_depends_on() -> None:
    program = make_program()
    backend = ExportingBackend()
    parts = C.key_parts(backend, program, OPTIONS)
    assert parts == {
        "program": program.content_hash(),
        "graphc": C.graphc_version(),
        "backend": "fake",
        "options": OPTIONS.cache_key(),
        "source": C.code_fingerprint(backend),
        "compiler": "fake-1.0",
        "cpu": "znver5",
        "features": FEATURES,
    }
    # The documented formula of the key, computed independently.
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    assert C.entry_key(parts) == hashlib.sha256(canonical).hexdigest()
    # Other options give another key.
    other = C.key_parts(backend, program, CompileOptions.make(["fuse"]))
    assert C.entry_key(other) != C.entry_key(parts)


SECOND_PROCESS = """
import json, sys
from tests.test_cache import ExportingBackend, OPTIONS, make_program, run, reference
from graphc.runtime import cache as C
import numpy as np
backend = ExportingBackend()
program = make_program()
exe, outcome = C.compile_cached(backend, program, OPTIONS)
ok = bool(np.allclose(run(exe, program), reference(), rtol=1e-5, atol=1e-6))
print(json.dumps({"outcome": outcome, "compiles": backend.compiles, "ok": ok}))
"""


def test_a_second_process_compiles_nothing(tmp_path: Path) -> None:
    backend = ExportingBackend()
    C.CompileCache(tmp_path).compile(backend, make_program(), OPTIONS)
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    env.pop("GRAPHC_CACHE", None)
    proc = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"outcome": "hit", "compiles": 0, "ok": True}


def test_compile_program_reports_one_outcome_per_compiled_unit(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    program = make_program()
    backend = ExportingBackend()
    outcomes: list[str] = []
    check(compile_program(program, backend, OPTIONS, outcomes=outcomes), program)
    check(compile_program(program, backend, OPTIONS, outcomes=outcomes), program)
    assert outcomes == ["miss", "hit"] and backend.compiles == 1
    # The NumPy backend cannot export: never cached, nothing written.
    numpy_outcomes: list[str] = []
    check(compile_program(program, get_backend("numpy"), OPTIONS, outcomes=numpy_outcomes), program)
    assert numpy_outcomes == ["off"] and len(entry_files(tmp_path)) == 1


# -- bad entries --------------------------------------------------------------------------------------
def _header_and_manifest(path: Path) -> tuple[int, int]:
    """(where the manifest starts, its length) in an entry file, from the documented header."""
    data = path.read_bytes()
    assert data[:8] == C.MAGIC
    version = int.from_bytes(data[8:12], "little")
    assert version == C.FORMAT_VERSION
    length = int.from_bytes(data[12:16], "little")
    return 16 + 32, length


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])


def _flip_payload(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))


def _flip_manifest(path: Path) -> None:
    start, length = _header_and_manifest(path)
    data = bytearray(path.read_bytes())
    text = bytes(data[start : start + length])
    # A digit of the "created" time: the JSON stays valid, only the checksum can tell.
    at = start + text.index(b'"created":') + len(b'"created":') + 1
    data[at] = ord("1") if data[at] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


def _flip_magic(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "damage,reason",
    [
        (_truncate, "truncated"),
        (_flip_payload, "payload's checksum"),
        (_flip_manifest, "manifest's checksum"),
        (_flip_magic, "wrong magic"),
        (_empty, "truncated"),
    ],
)
def test_a_damaged_entry_is_set_aside_and_recompiled(tmp_path: Path, damage: Any, reason: str) -> None:
    program = make_program()
    backend = ExportingBackend()
    C.CompileCache(tmp_path).compile(backend, program, OPTIONS)
    (path,) = entry_files(tmp_path)
    damage(path)
    cache = C.CompileCache(tmp_path)
    with pytest.warns(C.CacheWarning, match=reason) as record:
        exe, outcome = cache.compile(backend, program, OPTIONS)
    assert path.name in str(record[0].message)
    assert outcome == "miss" and backend.compiles == 2 and backend.loads == 0
    check(exe, program)
    assert cache.stats.corrupt == 1 and cache.stats.stores == 1
    quarantined = list((tmp_path / C.QUARANTINE).iterdir())
    assert len(quarantined) == 1 and quarantined[0].name.startswith(path.name)
    # Stored afresh: the next lookup is a clean hit.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exe, outcome = C.CompileCache(tmp_path).compile(backend, program, OPTIONS)
    assert outcome == "hit" and backend.compiles == 2
    check(exe, program)


def test_a_foreign_entry_is_set_aside(tmp_path: Path) -> None:
    a, b = make_program(), make_program(scale=5.0)
    backend = ExportingBackend()
    cache = C.CompileCache(tmp_path)
    cache.compile(backend, a, OPTIONS)
    cache.compile(backend, b, OPTIONS)
    key_a = C.entry_key(C.key_parts(backend, a, OPTIONS))
    key_b = C.entry_key(C.key_parts(backend, b, OPTIONS))
    os.replace(cache.path_for(key_b), cache.path_for(key_a))  # b's entry under a's name
    with pytest.warns(C.CacheWarning, match="foreign"):
        exe, outcome = cache.compile(backend, a, OPTIONS)
    assert outcome == "miss" and backend.compiles == 3
    check(exe, a)  # a's values, not b's
    assert cache.stats.corrupt == 1


def test_an_entry_the_backend_cannot_load_is_set_aside(tmp_path: Path) -> None:
    program = make_program()
    C.CompileCache(tmp_path).compile(ExportingBackend(), program, OPTIONS)
    refusing = ExportingBackend(fail_load=True)
    cache = C.CompileCache(tmp_path)
    with pytest.warns(C.CacheWarning, match="could not load it .*does not load here"):
        exe, outcome = cache.compile(refusing, program, OPTIONS)
    assert outcome == "miss" and refusing.compiles == 1
    check(exe, program)
    assert len(list((tmp_path / C.QUARANTINE).iterdir())) == 1
    assert len(entry_files(tmp_path)) == 1  # stored again


# -- concurrency ---------------------------------------------------------------------------------------
def test_concurrent_stores_of_one_key_all_succeed(tmp_path: Path) -> None:
    program = make_program()
    n = 4
    barrier = threading.Barrier(n)
    backends = [ExportingBackend(barrier=barrier) for _ in range(n)]
    results: list[tuple[str, np.ndarray] | BaseException] = [RuntimeError("not run")] * n

    def work(i: int) -> None:
        try:
            exe, outcome = C.CompileCache(tmp_path).compile(backends[i], program, OPTIONS)
            results[i] = (outcome, run(exe, program))
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            results[i] = exc

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    for r in results:
        assert not isinstance(r, BaseException), r
        outcome, values = r
        assert outcome == "miss"
        np.testing.assert_allclose(values, reference(), rtol=1e-5, atol=1e-6)
    assert len(entry_files(tmp_path)) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    later = ExportingBackend()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exe, outcome = C.CompileCache(tmp_path).compile(later, program, OPTIONS)
    assert outcome == "hit" and later.compiles == 0


# -- eviction ---------------------------------------------------------------------------------------------
def test_eviction_keeps_the_recently_used(tmp_path: Path) -> None:
    backend = ExportingBackend()
    a, b, c = (make_program(scale=s) for s in (2.0, 3.0, 4.0))
    cache = C.CompileCache(tmp_path)
    cache.compile(backend, a, OPTIONS)
    cache.compile(backend, b, OPTIONS)
    path_a, path_b = (cache.path_for(C.entry_key(C.key_parts(backend, p, OPTIONS))) for p in (a, b))
    now = time.time()
    os.utime(path_a, (now - 200, now - 200))  # a is the older entry ...
    os.utime(path_b, (now - 100, now - 100))
    _, outcome = cache.compile(backend, a, OPTIONS)  # ... until it is hit
    assert outcome == "hit" and path_a.stat().st_mtime > now - 10
    size_a, size_b = path_a.stat().st_size, path_b.stat().st_size
    cache.max_bytes = size_a + size_b + 10  # room for two entries, not three
    _, outcome = cache.compile(backend, c, OPTIONS)
    assert outcome == "miss"
    path_c = cache.path_for(C.entry_key(C.key_parts(backend, c, OPTIONS)))
    assert sorted(entry_files(tmp_path)) == sorted([path_a, path_c])
    assert cache.stats.evicted == 1
    assert sum(p.stat().st_size for p in entry_files(tmp_path)) <= cache.max_bytes
    # The entry just written stays even when it alone is over the limit.
    cache.max_bytes = 1
    _, outcome = cache.compile(backend, b, OPTIONS)
    assert outcome == "miss"
    assert entry_files(tmp_path) == [path_b] and cache.stats.evicted == 3


def test_the_size_limit_from_the_environment(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", "512M")
    assert C.CompileCache(tmp_path).max_bytes == 512 * 2**20
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", "12345")
    assert C.CompileCache(tmp_path).max_bytes == 12345
    assert C.CompileCache(tmp_path, max_bytes=7).max_bytes == 7
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", "lots")
    with pytest.warns(C.CacheWarning, match="GRAPHC_CACHE_MAX_BYTES='lots'"):
        assert C.CompileCache(tmp_path).max_bytes == C.DEFAULT_MAX_BYTES
    monkeypatch.delenv("GRAPHC_CACHE_MAX_BYTES")
    assert C.CompileCache(tmp_path).max_bytes == 2**30


# -- misses explained ------------------------------------------------------------------------------------
def test_changed_cpu_features_miss_and_are_named(
    tmp_path: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    program = make_program()
    cache = C.CompileCache(tmp_path)
    assert cache.explain_miss(C.key_parts(ExportingBackend(), program, OPTIONS)) == (
        "no entry for this program (the cache is empty)"
    )
    cache.compile(ExportingBackend(), program, OPTIONS)
    other_cpu = ExportingBackend(features="+avx,+avx2,+fma,+avx512f")
    parts = C.key_parts(other_cpu, program, OPTIONS)
    why = cache.explain_miss(parts)
    assert why == "cpu features differ: -avx512f stored vs +avx512f wanted"
    monkeypatch.setenv("GRAPHC_CACHE_EXPLAIN", "1")
    exe, outcome = cache.compile(other_cpu, program, OPTIONS)
    assert outcome == "miss" and other_cpu.compiles == 1
    check(exe, program)
    err = capsys.readouterr().err
    assert f"miss for fake program {program.content_hash()[:12]}: {why}" in err
    assert cache.log == [err.strip()]
    # Another program: nothing stored for it.
    why_other = cache.explain_miss(C.key_parts(other_cpu, make_program(scale=9.0), OPTIONS))
    assert why_other.startswith("no entry for this program (2 entries for backend fake")


def test_changed_options_are_named(tmp_path: Path) -> None:
    program = make_program()
    cache = C.CompileCache(tmp_path)
    cache.compile(ExportingBackend(), program, OPTIONS)
    parts = C.key_parts(ExportingBackend(), program, CompileOptions.make(opt_level=2))
    assert cache.explain_miss(parts).startswith("compile options differ: ")


# -- the environment ------------------------------------------------------------------------------------
def test_the_cache_folder_from_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("GRAPHC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert C.default_directory() == tmp_path / "xdg" / "graphc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert C.default_directory() == tmp_path / "home" / ".cache" / "graphc"

    where = tmp_path / "explicit"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(where))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    program = make_program()
    backend = ExportingBackend()
    _, outcome = C.compile_cached(backend, program, OPTIONS)
    exe, outcome2 = C.compile_cached(backend, program, OPTIONS)
    assert (outcome, outcome2) == ("miss", "hit") and backend.compiles == 1
    check(exe, program)
    assert len(entry_files(where)) == 1
    assert not (tmp_path / "home").exists()  # nothing written to the user's folder
    assert C.default_cache().stats.hits == 1


@pytest.mark.parametrize("value", ["0", "off", "FALSE"])
def test_caching_switched_off(tmp_path: Path, monkeypatch: Any, value: str) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", value)
    program = make_program()
    backend = ExportingBackend()
    for _ in range(2):
        exe, outcome = C.compile_cached(backend, program, OPTIONS)
        assert outcome == "off"
        check(exe, program)
    # An explicit cache object follows the switch too.
    _, outcome = C.CompileCache(tmp_path).compile(backend, program, OPTIONS)
    assert outcome == "off" and backend.compiles == 3
    assert list(tmp_path.iterdir()) == []


def test_an_executable_without_code_is_not_cached(tmp_path: Path) -> None:
    class NoCode(ExportingBackend):
        def export(self, executable: Any) -> bytes:
            raise TypeError("only native executables are exported")

    program = make_program()
    backend = NoCode()
    cache = C.CompileCache(tmp_path)
    for _ in range(2):
        exe, outcome = cache.compile(backend, program, OPTIONS)
        assert outcome == "off"
        check(exe, program)
    assert backend.compiles == 2 and list(tmp_path.iterdir()) == []
    assert cache.stats.misses == 0


def test_an_unwritable_folder_warns_once_and_still_compiles(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = C.CompileCache(blocker / "cache")
    backend = ExportingBackend()
    with pytest.warns(C.CacheWarning, match="cannot store") as record:
        for scale in (2.0, 3.0):
            exe, outcome = cache.compile(backend, make_program(scale), OPTIONS)
            assert outcome == "miss"
            check(exe, make_program(scale), scale)
    assert len([w for w in record if issubclass(w.category, C.CacheWarning)]) == 1
    assert cache.stats.stores == 0


# -- looking at it ---------------------------------------------------------------------------------------
def test_info_entries_and_clear(tmp_path: Path) -> None:
    backend = ExportingBackend()
    cache = C.CompileCache(tmp_path, max_bytes=10**6)
    programs = [make_program(scale=s) for s in (2.0, 3.0)]
    for p in programs:
        cache.compile(backend, p, OPTIONS)
    entries = cache.entries()
    assert len(entries) == 2
    assert {e.program_hash for e in entries} == {p.content_hash()[:12] for p in programs}
    assert all(e.backend == "fake" and e.size == e.path.stat().st_size for e in entries)
    assert entries[0].last_used <= entries[1].last_used
    info = cache.info()
    assert info["directory"] == str(tmp_path) and info["entries"] == 2
    assert info["total_bytes"] == sum(e.size for e in entries) and info["max_bytes"] == 10**6
    assert info["stats"]["stores"] == 2
    assert cache.clear() == 2
    assert cache.entries() == [] and cache.info()["total_bytes"] == 0
    assert C.CompileCache(tmp_path / "never-made").clear() == 0


def test_eviction_lists_the_folder_only_when_it_may_be_over_the_limit(monkeypatch: Any, tmp_path: Path) -> None:
    backend = ExportingBackend()
    listings = []
    real_iterdir = Path.iterdir

    def counting_iterdir(self: Path):  # type: ignore[no-untyped-def]
        if self == tmp_path:
            listings.append(self)
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", counting_iterdir)
    cache = C.CompileCache(tmp_path)
    programs = [make_program(scale=float(s)) for s in range(2, 8)]
    for p in programs:
        assert cache.compile(backend, p, OPTIONS)[1] == "miss"
    assert len(listings) == 1  # the first store; the others fit in what it knows
    sizes = sorted(p.stat().st_size for p in entry_files(tmp_path))
    # Another process fills the folder past this object's limit: this object sees it at
    # its next listing, which the rescan interval brings.
    other = C.CompileCache(tmp_path)
    other.compile(backend, make_program(scale=11.0), OPTIONS)
    cache.max_bytes = sum(sizes) + 10  # room for the six entries, not seven
    monkeypatch.setattr(C, "RESCAN_SECONDS", 0.0)
    cache.compile(backend, make_program(scale=12.0), OPTIONS)
    assert sum(p.stat().st_size for p in entry_files(tmp_path)) <= cache.max_bytes
    assert cache.stats.evicted >= 2
