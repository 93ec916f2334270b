"""Graphviz export of graphs and programs, and the ``graphc inspect`` command."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import cli
from graphc import scalar as S
from graphc.ir import dot
from graphc.ir.lower import lower
from graphc.passes.fuse import fuse

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def small_program() -> tuple[Any, Any]:
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    w = tf.Variable(np.ones((4, 3), np.float32), name="w")
    b = tf.Variable(np.zeros(3, np.float32), name="b")
    h = tf.nn.relu(tf.matmul(x, w) + b)
    y = tf.reduce_sum(tf.exp(h) * 0.5, axis=1)
    prog = lower(tf.get_default_graph(), [y, h], {x: (tf.float32, (2, 4))}).program
    return prog, fuse(prog)


# -- DOT -------------------------------------------------------------------------------------------
def test_graph_to_dot_has_one_node_per_op_and_one_edge_per_input() -> None:
    small_program()
    graph = tf.get_default_graph()
    text = dot.graph_to_dot(graph)
    assert text.startswith('digraph "graph" {') and text.rstrip().endswith("}")
    assert dot.count_nodes(text) == len(graph.get_operations())
    n_edges = sum(len(op.inputs) + len(op.control_inputs) for op in graph.get_operations())
    assert text.count(" -> ") == n_edges
    assert dot.count_clusters(text) == 0
    assert '"x\\nPlaceholder\\nfloat32[?,4]"' in text


def test_program_to_dot_draws_each_fused_group_as_a_cluster() -> None:
    prog, fused = small_program()
    text = dot.program_to_dot(fused)
    groups = [n for n in fused.nodes if n.op == "Fused"]
    assert len(groups) == 2  # bias+relu (also fetched), and exp*0.5 with its Sum
    assert dot.count_clusters(text) == len(groups)
    primitives = sum(1 for n in groups for e in S.postorder(n.attrs["expr"]) if e.op != "in")
    reductions = sum(1 for n in groups if "combiner" in n.attrs)
    expected = len(fused.params) + len(fused.nodes) + len(fused.outputs) + primitives + reductions
    assert dot.count_nodes(text) == expected
    assert "fused group 0: Add + Relu\\nmax(in0 + in1, 0.0)" in text
    assert "fused group 1: Exp + Mul + Sum\\nSum(axis=(1,), keepdims=False) of exp(in0) * 0.5" in text
    # Without the expression inside, each cluster holds only its fused node.
    flat = dot.program_to_dot(fused, expand_fused=False)
    assert dot.count_clusters(flat) == 2
    assert dot.count_nodes(flat) == len(fused.params) + len(fused.nodes) + len(fused.outputs)
    # An unfused program has no clusters.
    assert dot.count_clusters(dot.program_to_dot(prog)) == 0


@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_render_writes_an_image(tmp_path: Path, suffix: str) -> None:
    _, fused = small_program()
    out = dot.render(dot.program_to_dot(fused), tmp_path / f"p{suffix}")
    data = Path(out).read_bytes()
    assert len(data) > 100
    assert b"<svg" in data if suffix == ".svg" else data.startswith(b"\x89PNG")


def test_render_without_graphviz_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dot.shutil, "which", lambda name: None)
    with pytest.raises(dot.GraphvizNotFound, match="Graphviz's 'dot' program is not installed"):
        dot.render("digraph g {}", tmp_path / "g.svg")
    assert Path(dot.render("digraph g {}", tmp_path / "g.dot")).read_text() == "digraph g {}"
    with pytest.raises(ValueError, match="cannot render"):
        dot.render("digraph g {}", tmp_path / "g.jpeg")


# -- graphc inspect -----------------------------------------------------------------------------------
MLP_GD = """
import numpy as np
import graphc as tf

x = tf.placeholder(tf.float32, [None, 784], name="x")
y = tf.placeholder(tf.float32, [None, 10], name="y")
rng = np.random.default_rng(0)
h, params = x, []
for k, (n_in, n_out) in enumerate([(784, 32), (32, 32), (32, 10)]):
    w = tf.Variable(rng.normal(size=(n_in, n_out)).astype(np.float32) * 0.05, name=f"w{k}")
    b = tf.Variable(np.zeros(n_out, np.float32), name=f"b{k}")
    params += [w, b]
    h = tf.matmul(h, w) + b
    if k < 2:
        h = tf.nn.relu(h)
loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=h))
{optimizer}
"""
GD_STEP = """
grads = tf.gradients(loss, params)
train = tf.group(*[tf.assign_sub(v, 0.1 * g) for v, g in zip(params, grads)], name="train")
"""
ADAM_STEP = """
train = tf.train.AdamOptimizer(0.001).minimize(loss, name="train")
"""


def write_example(tmp_path: Path, step: str, module_vars: bool = True) -> Path:
    text = MLP_GD.replace("{optimizer}", step)
    if module_vars:
        text += '\nFETCHES = [train, loss]\nFEED_SHAPES = {"x": (128, 784), y: (128, 10)}\n'
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(text))
    return path


def inspect(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["inspect", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def number(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    assert m is not None, f"{pattern!r} not found in:\n{text}"
    return int(m.group(1).replace(",", ""))


def check_report(out: str, with_programs: bool = True) -> None:
    for section in ("== passes", "== fusion groups:", "== memory plan", "== summary"):
        assert section in out
    assert ("== program input (lowered)" in out) == with_programs
    assert ("== program after fuse" in out) == with_programs
    before = number(r"nodes\s+(\d+) before the pipeline", out)
    after = number(r"-> (\d+) after", out)
    assert after < before
    planned = number(r"peak live, planned .*?= ([\d,]+) B", out)
    naive = number(r"peak live, no reuse .*?= ([\d,]+) B", out)
    assert planned <= naive
    with_reuse = number(r"footprint with reuse .*?= ([\d,]+) B", out)
    without = number(r"footprint without reuse .*?= ([\d,]+) B", out)
    assert planned <= with_reuse <= without
    peak_before = number(r"peak memory\s+([\d,]+) B", out)
    peak_after = number(r"peak memory .*?-> ([\d,]+) B", out)
    assert peak_after == planned and peak_after <= peak_before
    assert "Add + Relu" in out and "max(in0 + in1, 0.0)" in out
    assert re.search(r"fuse\s+[\d.]+ ms\s+nodes", out)


def test_inspect_a_gradient_descent_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_example(tmp_path, GD_STEP)
    code, out, err = inspect(capsys, str(path))
    assert code == 0, err
    check_report(out)
    assert "dims:    N0=128" in out or re.search(r"dims:\s+N\d+=128", out)
    assert "(variable 'w0')" in out  # the update is written in place


def test_inspect_an_adam_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not hasattr(tf.train, "AdamOptimizer"):
        pytest.skip("graphc.train.AdamOptimizer is not available")
    path = write_example(tmp_path, ADAM_STEP)
    code, out, err = inspect(capsys, str(path), "--passes-only")
    assert code == 0, err
    check_report(out, with_programs=False)
    # Adam's update of a variable and its two slots is one op, written over their buffers.
    assert re.search(r"ApplyAdam %\d+ overwrites %\d+ \(variable 'w0/Adam'\)", out)


def test_inspect_with_command_line_fetches_and_shapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_example(tmp_path, GD_STEP, module_vars=False)
    code, out, err = inspect(
        capsys,
        str(path),
        "--fetch",
        "train",
        "--fetch",
        "Mean:0",
        "--feed-shape",
        "x=64,784",
        "--feed-shape",
        "y=64,10",
    )
    assert code == 0, err
    check_report(out)
    assert "fetches: train (op), Mean:0" in out
    # Without feed shapes the memory plan is given as formulas.
    code, out, err = inspect(capsys, str(path), "--fetch", "Mean:0", "--passes-only")
    assert code == 0, err
    assert "formulas only" in out and re.search(r"peak memory\s+max\(|peak memory\s+\d+\*N", out)


def test_inspect_a_size_from_a_fed_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # maximum_iterations fed: a dim bound to a fed integer's value, which the feed shapes
    # cannot give; the report shows formulas instead of failing.
    path = tmp_path / "loop.py"
    path.write_text(
        "import graphc as tf\n"
        "x0 = tf.placeholder(tf.float64, [3], name='x0')\n"
        "m = tf.placeholder(tf.int32, [], name='m')\n"
        "_, xn = tf.while_loop(lambda i, x: tf.reduce_sum(x) < 5.0, lambda i, x: [i + 1, x * 1.5],\n"
        "                      [tf.constant(0), x0], maximum_iterations=m)\n"
        "g = tf.gradients(tf.reduce_sum(xn * xn), x0)[0]\n"
        "FETCHES = [g]\n"
    )
    code, out, err = inspect(capsys, str(path), "--passes-only")
    assert code == 0, err
    assert re.search(r"dims: .*K\d+ .*from fed values: formulas only", out), out


def test_inspect_with_fusion_switched_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_example(tmp_path, GD_STEP)
    code, out, err = inspect(capsys, str(path), "--disable", "fuse", "--passes-only")
    assert code == 0, err
    assert "== fusion groups: none" in out
    assert re.search(r"fuse\s+\(disabled\)", out)


def test_inspect_writes_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_example(tmp_path, GD_STEP)
    out_dot = tmp_path / "prog.dot"
    code, out, err = inspect(capsys, str(path), "--passes-only", "--dot", str(out_dot))
    assert code == 0, err
    text = out_dot.read_text()
    assert text.startswith('digraph "program"') and dot.count_clusters(text) >= 2
    if shutil.which("dot") is not None:
        svg = tmp_path / "graph.svg"
        code, _, err = inspect(capsys, str(path), "--passes-only", "--graph-dot", str(svg))
        assert code == 0, err
        assert svg.stat().st_size > 100


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--fetch", "nope:0"], "is not a tensor or op"),
        (["--disable", "no_such_pass"], "unknown pass name"),
        (["--feed-shape", "x=12,784,1"], "does not fit"),
        (["--feed-shape", "x"], "expected NAME=D0,D1"),
    ],
)
def test_inspect_reports_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    path = write_example(tmp_path, GD_STEP)
    code, out, err = inspect(capsys, str(path), *argv)
    assert code == 2 and message in err, err


def test_inspect_without_fetches_or_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_example(tmp_path, GD_STEP, module_vars=False)
    code, _, err = inspect(capsys, str(path))
    assert code == 2 and "nothing to fetch" in err
    code, _, err = inspect(capsys, str(tmp_path / "missing.py"))
    assert code == 2 and "no such file" in err


def test_the_tutorial_example(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "inspect" / "mlp_step.py"
    code, out, err = inspect(capsys, str(example), "--passes-only")
    assert code == 0, err
    check_report(out, with_programs=False)
    assert "$ graphc inspect" in out and "feed:    X:0 float32[128,784]" in out
