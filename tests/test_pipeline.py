"""The pass pipeline: switching passes off, the per-pass report, GRAPHC_DUMP_IR."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as tf
from graphc.ir.lower import lower
from graphc.passes import pipeline


def _program():  # type: ignore[no-untyped-def]
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.identity(tf.exp(x) * 1.0 + 0.0)
    z = tf.reduce_sum(tf.nn.relu(y) * 2.0, axis=1)
    return x, z, lower(tf.get_default_graph(), [z], {x: (tf.float32, (3, 4))}).program


def test_report_records_every_pass_in_order() -> None:
    _, _, program = _program()
    n_in = len(program.nodes)
    out, report = pipeline.optimize_with_report(program)
    assert [r.name for r in report.records] == pipeline.pass_names()
    assert report.records[0].nodes_before == n_in
    assert report.records[-1].nodes_after == len(out.nodes) < n_in
    simplify = report.records[0]
    assert simplify.ops_removed.get("Identity") == 1 and simplify.seconds > 0
    assert "simplify" in str(report) and "ms" in str(report)


def test_passes_switch_off_by_name_option_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, program = _program()
    _, report = pipeline.optimize_with_report(program, disabled=["fuse"])
    assert [r.name for r in report.records if r.skipped] == ["fuse"]
    monkeypatch.setenv(pipeline.DISABLE_ENV, "simplify, cse")
    _, report = pipeline.optimize_with_report(program, disabled=["fuse"])
    assert sorted(r.name for r in report.records if r.skipped) == ["cse", "fuse", "simplify"]
    with pytest.raises(ValueError, match="unknown pass name"):
        pipeline.optimize(program, disabled=["no_such_pass"])


def test_session_option_gives_the_same_values_with_all_passes_off() -> None:
    x, z, _ = _program()
    xv = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    want = np.sum(np.maximum(np.exp(xv), 0) * 2, axis=1)
    with tf.Session() as on, tf.Session(config={"disable_passes": ["all"]}) as off:
        np.testing.assert_allclose(on.run(z, {x: xv}), want, rtol=1e-6)
        np.testing.assert_allclose(off.run(z, {x: xv}), want, rtol=1e-6)


def test_dump_ir_writes_the_program_after_every_pass(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _, _, program = _program()
    monkeypatch.setenv(pipeline.DUMP_ENV, str(tmp_path))
    out = pipeline.optimize(program)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == len(pipeline.PASSES) + 1
    assert len({f.split("-")[0] for f in files}) == 1  # one prefix per compile
    assert [f.split("-", 2)[2][:-4] for f in files] == ["input", *pipeline.pass_names()]
    last = (tmp_path / files[-1]).read_text()
    assert last == str(out) + "\n"
    assert "Identity" in (tmp_path / files[0]).read_text()
