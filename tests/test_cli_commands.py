"""The ``graphc`` command's subcommands (graphc/cli.py): ``cache info|list|clear``, ``run``,
``bench``, ``python -m graphc``, and ``inspect`` stopping a training script at its first
Session.run (or, with --build-only, using only --fetch/FETCHES)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import cli
from graphc.runtime import cache as C
from graphc.runtime.backend import CompileOptions
from graphc.runtime.session import Session
from tests.test_cache import ExportingBackend, make_program

ROOT = Path(__file__).resolve().parents[1]


def graphc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- graphc cache --------------------------------------------------------------------------------------
def test_cache_info_list_and_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    monkeypatch.delenv("GRAPHC_CACHE_MAX_BYTES", raising=False)
    cache = C.CompileCache(tmp_path)
    backend = ExportingBackend()
    programs = [make_program(scale) for scale in (2.0, 3.0)]
    for p in programs:
        cache.compile(backend, p, CompileOptions())
    files = sorted(tmp_path.glob("*.entry"))
    total = sum(f.stat().st_size for f in files)

    code, out, err = graphc(capsys, "cache", "info", "--dir", str(tmp_path))
    assert code == 0, err
    assert f"directory:   {tmp_path}\n" in out
    assert "enabled:     yes\n" in out
    assert "entries:     2\n" in out
    assert f"total size:  {total:,} B" in out
    assert "limit:       1,073,741,824 B (1.00 GiB)" in out

    code, out, err = graphc(capsys, "cache", "list", "--dir", str(tmp_path))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["KEY", "BACKEND", "SIZE", "LAST", "USED", "PROGRAM"]
    rows = [line.split() for line in lines[1:]]
    assert sorted(r[0] for r in rows) == sorted(f.name[:12] for f in files)
    assert {r[1] for r in rows} == {"fake"}
    sizes = {f.name[:12]: f.stat().st_size for f in files}
    assert all(int(r[2].replace(",", "")) == sizes[r[0]] for r in rows)
    assert sorted(r[-1] for r in rows) == sorted(p.content_hash()[:12] for p in programs)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r[4]) for r in rows)

    code, out, err = graphc(capsys, "cache", "clear", "--dir", str(tmp_path))
    assert code == 0, err
    assert out == f"removed 2 entries from {tmp_path}\n"
    assert list(tmp_path.glob("*.entry")) == []
    code, out, _ = graphc(capsys, "cache", "list", "--dir", str(tmp_path))
    assert out == f"no entries in {tmp_path}\n"
    code, out, _ = graphc(capsys, "cache", "info", "--dir", str(tmp_path))
    assert "entries:     0\n" in out and "total size:  0 B\n" in out


def test_cache_commands_follow_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", "64M")
    code, out, err = graphc(capsys, "cache", "info")
    assert code == 0, err
    assert f"directory:   {tmp_path}\n" in out
    assert "enabled:     no" in out and "limit:       67,108,864 B (64.00 MiB)" in out
    code, out, _ = graphc(capsys, "cache", "clear")
    assert out == f"removed 0 entries from {tmp_path}\n"


def test_python_dash_m_graphc(tmp_path: Path) -> None:
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: graphc ")
    for command in ("cache", "run", "bench", "inspect"):
        assert command in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "inspect", str(tmp_path / "missing.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"graphc inspect: error: no such file: {tmp_path / 'missing.py'}"
    ]


# -- graphc run -------------------------------------------------------------------------------------------
def test_run_parses_feeds_and_calls_the_artifact_runner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = pytest.importorskip("graphc.runtime.artifact")
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(artifact, "run_cli", lambda a, feeds, out: calls.append((a, dict(feeds), out)) or 7)
    code, _, err = graphc(capsys, "run", "m.gca", "--feed", "x=a.npy", "--feed", "y=dir/b.npy", "--out", "o")
    assert code == 7, err
    assert calls == [("m.gca", {"x": "a.npy", "y": "dir/b.npy"}, "o")]
    code, _, _ = graphc(capsys, "run", "m.gca")
    assert code == 7 and calls[-1] == ("m.gca", {}, None)
    for bad, message in (
        (["--feed", "x"], "expected NAME=FILE.npy"),
        (["--feed", "x=a", "--feed", "x=b"], "twice"),
    ):
        code, _, err = graphc(capsys, "run", "m.gca", *bad)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert len(calls) == 2


def test_run_a_saved_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = pytest.importorskip("graphc.runtime.artifact")
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.tanh(x) * 2.0 + 1.0
    path = tmp_path / "f.gca"
    artifact.compile(y, [x]).save(path)
    value = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "x.npy", value)
    out_dir = tmp_path / "out"
    code, _, err = graphc(
        capsys, "run", str(path), "--feed", f"x={tmp_path / 'x.npy'}", "--out", str(out_dir)
    )
    assert code == 0, err
    (written,) = sorted(out_dir.glob("*.npy"))
    np.testing.assert_allclose(np.load(written), np.tanh(value.astype(np.float64)) * 2 + 1, rtol=1e-5)


# -- graphc bench -----------------------------------------------------------------------------------------
FAKE_SUITE = """
import dataclasses
import json
import sys


@dataclasses.dataclass
class Seen:  # a dataclass: the suite's module must be importable by name while it runs
    argv: list


def main(argv):
    with open({log!r}, "w") as f:
        json.dump(Seen(list(argv)).argv, f)
    return 3
"""


def _write_suite(folder: Path, log: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.py"
    path.write_text(FAKE_SUITE.replace("{log!r}", repr(str(log))))
    return path


def test_bench_runs_the_suite_with_the_remaining_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "argv.json"
    suite = _write_suite(tmp_path / "elsewhere", log)
    code, _, err = graphc(capsys, "bench", "--suite", str(suite), "--quick", "--cases", "mlp")
    assert code == 3, err
    assert log.read_text() == '["--quick", "--cases", "mlp"]'
    code, _, err = graphc(capsys, "bench", f"--suite={suite}", "--", "--help")
    assert code == 3 and log.read_text() == '["--help"]'

    # Without --suite: ./benchmarks/suite.py first.
    work = tmp_path / "work"
    _write_suite(work / "benchmarks", log)
    monkeypatch.chdir(work)
    code, _, err = graphc(capsys, "bench", "--repeats", "1")
    assert code == 3 and log.read_text() == '["--repeats", "1"]'


def test_bench_finds_the_suite_beside_the_package_or_says_it_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "argv.json"
    beside = _write_suite(tmp_path / "checkout" / "benchmarks", log)
    monkeypatch.setattr(cli, "_package_suite", lambda: beside)
    code, _, err = graphc(capsys, "bench", "-x")
    assert code == 3 and log.read_text() == '["-x"]'
    monkeypatch.setattr(cli, "_package_suite", lambda: tmp_path / "nowhere" / "suite.py")
    code, _, err = graphc(capsys, "bench")
    assert code == 2
    assert err.startswith("graphc bench: error: no benchmark suite found") and "--suite PATH" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = graphc(capsys, "bench", "--suite", str(tmp_path / "none.py"))
    assert code == 2 and "no such file" in err


# -- graphc inspect on a training script ------------------------------------------------------------------
TRAINING = """
import numpy as np
import graphc as tf

x = tf.placeholder(tf.float32, [None, 4], name="x")
y = tf.placeholder(tf.float32, [None, 1], name="y")
w = tf.Variable(np.zeros((4, 1), np.float32), name="w")
loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y), name="loss")
train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
{fetches}
rng = np.random.default_rng(0)
with tf.Session() as sess:
    for step in range(1000):
        bx = rng.normal(size=(16, 4)).astype(np.float32)
        try:
            sess.run([train, loss], feed_dict={x: bx, y: bx[:, :1]})  # THE RUN
        except Exception:  # the script's own handler must not swallow the stop
            pass
        with open({log!r}, "a") as f:
            f.write(f"step {step}\\n")
"""


def write_training(tmp_path: Path, fetches: str = "") -> tuple[Path, Path, int]:
    log = tmp_path / "steps.txt"
    text = TRAINING.replace("{fetches}", fetches).replace("{log!r}", repr(str(log)))
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(text))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "# THE RUN" in t)
    return path, log, line


def test_inspect_stops_a_training_script_at_its_first_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, log, line = write_training(tmp_path)
    code, out, err = graphc(capsys, "inspect", str(path), "--passes-only")
    assert code == 0, err
    assert not log.exists()  # no step ran
    assert (
        f"stopped the script at its first Session.run (line {line} of {path}); inspecting its fetches\n"
        in out
    )
    assert re.search(r"fetches: \S+ \(op\), loss:0\n", out)
    # The shapes the run would have fed.
    assert "feed:    x:0 float32[16,4]" in out and "feed:    y:0 float32[16,1]" in out
    assert "== summary" in out and "== memory plan" in out
    # Session.run is itself again afterwards.
    assert Session.run is Session.__dict__["run"]
    tf.reset_default_graph()
    a = tf.constant(np.float32(2.0)) * 3.0
    with tf.Session() as sess:
        assert sess.run(a) == 6.0


def test_inspect_build_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Without --fetch or FETCHES there is nothing to inspect: the stopped run is not used.
    path, log, _ = write_training(tmp_path)
    code, _, err = graphc(capsys, "inspect", str(path), "--build-only")
    assert code == 2 and "nothing to fetch" in err and "--build-only" in err
    assert not log.exists()

    path, log, line = write_training(tmp_path, fetches="FETCHES = [loss]")
    code, out, err = graphc(capsys, "inspect", str(path), "--build-only", "--passes-only")
    assert code == 0, err
    assert not log.exists()
    assert f"(line {line} of {path}); inspecting the fetches from FETCHES\n" in out
    assert "fetches: loss:0\n" in out
    assert "float32[16,4]" not in out  # the stopped run's feeds are not used either

    code, out, err = graphc(capsys, "inspect", str(path), "--build-only", "--fetch", "loss", "--passes-only")
    assert code == 0, err
    assert "inspecting the fetches from --fetch\n" in out and "fetches: loss (op)\n" in out


def test_inspect_a_script_that_runs_no_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.py"
    path.write_text(
        textwrap.dedent(
            """
            import graphc as tf
            x = tf.placeholder(tf.float32, [2, 3], name="x")
            y = tf.reduce_sum(tf.exp(x) * 2.0, name="y")
            FETCHES = [y]
            """
        )
    )
    for extra in ([], ["--build-only"]):
        code, out, err = graphc(capsys, "inspect", str(path), "--passes-only", *extra)
        assert code == 0, err
        assert out.splitlines()[1] == "the script finished without running a session"
        assert "fetches: y:0" in out
