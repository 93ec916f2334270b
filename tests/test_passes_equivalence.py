"""Semantic equivalence of every pass: random programs built from registered ops give the
same results, within tolerance, with the pass on and off on the NumPy backend, and every
pass is idempotent. The whole pipeline is checked the same way."""

from __future__ import annotations

import os

os.environ["GRAPHC_VERIFY"] = "1"  # the pipeline verifies after every pass

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphc as tf
from graphc.ir.lower import lower
from graphc.ir.program import Program
from graphc.ir.verify import verify
from graphc.ops.common import make
from graphc.passes import pipeline
from graphc.passes.rewrite import copy_program
from graphc.runtime.backend import get_backend, run_program

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# One entry per distinct pass function ("resimplify" runs the same function as "simplify").
_seen: set[str] = set()
PASS_NAMES = [n for n, target in pipeline.PASSES if not (target in _seen or _seen.add(target))]  # type: ignore[func-returns-value]


# == random programs =====================================================================================
@dataclasses.dataclass
class Built:
    graph: tf.Graph
    fetches: list[tf.Tensor]
    feeds: dict[tf.Tensor, np.ndarray]
    steps: list[str]

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        shapes = {t.name: v.shape for t, v in self.feeds.items()}
        return f"Built(steps={self.steps}, feeds={shapes}, fetches={[t.name for t in self.fetches]})"


Draw = Callable[[st.SearchStrategy[Any]], Any]
Tensor = Any


def _static(v: Tensor) -> list[int] | None:
    return v.shape.as_list() if v.shape.is_fully_defined() else None


def _pick(draw: Draw, pool: list[Tensor], where: Callable[[Tensor], bool] = lambda v: True) -> Tensor | None:
    choices = [v for v in pool if where(v)]
    return draw(st.sampled_from(choices)) if choices else None


def _rank(v: Tensor) -> int:
    return len(v.shape.as_list())


def _compatible(a: Tensor, b: Tensor) -> bool:
    sa, sb = a.shape.as_list(), b.shape.as_list()
    for x, y in zip(reversed(sa), reversed(sb), strict=False):
        if x is None or y is None:
            if x != y and 1 not in (x, y):
                return False
        elif x != y and 1 not in (x, y):
            return False
    return True


UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "neg": tf.negative,
    "sin": tf.sin,
    "abs": tf.abs,
    "exp_tanh": lambda v: tf.exp(tf.tanh(v)),
    "square_tanh": lambda v: tf.square(tf.tanh(v)),
    "identity": tf.identity,
    "stop_gradient": tf.stop_gradient,
}
BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "add": tf.add,
    "sub": tf.subtract,
    "mul": tf.multiply,
    "safe_div": lambda a, b: a / (1.0 + b * b),
    "maximum": tf.maximum,
}


def _unary(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor:
    return UNARY[draw(st.sampled_from(sorted(UNARY)))](_pick(draw, pool))


def _binary(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor:
    a = _pick(draw, pool)
    b = _pick(draw, pool, lambda v: _compatible(a, v))
    return BINARY[draw(st.sampled_from(sorted(BINARY)))](a, b)


def _reduce(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor | None:
    v = _pick(draw, pool, lambda v: _rank(v) >= 1)
    if v is None:
        return None
    axes = draw(st.lists(st.integers(0, _rank(v) - 1), unique=True, max_size=_rank(v)))
    fn = draw(st.sampled_from([tf.reduce_sum, tf.reduce_mean, tf.reduce_max]))
    return fn(v, axis=axes or None, keepdims=draw(st.booleans()))


def _reshape(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor | None:
    v = _pick(draw, pool, lambda v: _static(v) is not None)
    if v is None:
        return None
    dims = _static(v)
    assert dims is not None
    target = draw(st.sampled_from([[-1], list(reversed(dims)), [*dims, 1], dims]))
    out = tf.reshape(v, target)
    if draw(st.booleans()):
        out = tf.reshape(out, draw(st.sampled_from([dims, [-1]])))
    return out


def _transpose(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor | None:
    v = _pick(draw, pool, lambda v: _rank(v) >= 2)
    if v is None:
        return None
    out = tf.transpose(v, draw(st.permutations(range(_rank(v)))))
    if draw(st.booleans()):
        out = tf.transpose(out, draw(st.permutations(range(_rank(v)))))
    return out


def _matmul(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor | None:
    v = _pick(draw, pool, lambda v: _rank(v) == 2)
    if v is None:
        return None
    if draw(st.booleans()):
        return tf.matmul(v, v, transpose_b=True)  # [m, k] x [k, m]
    return tf.matmul(v, v, transpose_a=True)  # [k, m] x [m, k]


def _neutral(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor:
    v = _pick(draw, pool)
    forms: dict[str, Callable[[Tensor], Tensor]] = {
        "x*1": lambda x: x * 1.0,
        "1*x": lambda x: 1.0 * x,
        "x+0": lambda x: x + 0.0,
        "x-0": lambda x: x - 0.0,
        "x/1": lambda x: x / 1.0,
        "--x": lambda x: tf.negative(tf.negative(x)),
        "x-x": lambda x: x - x,
        "x*ones_like": lambda x: x * tf.ones_like(x),
        "cast_same": lambda x: make("Cast", [x], {"DstT": x.dtype}),
    }
    return forms[draw(st.sampled_from(sorted(forms)))](v)


def _constant(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor | None:
    v = _pick(draw, pool, lambda v: _static(v) is not None)
    if v is None:
        return None
    c = tf.constant(rng.normal(size=_static(v)), dtype=tf.float64) * tf.constant(2.0, dtype=tf.float64)
    return v + tf.exp(tf.tanh(c))


def _duplicate(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor:
    v = _pick(draw, pool)
    f = UNARY[draw(st.sampled_from(sorted(UNARY)))]
    return f(v) * f(v)


def _shape_reshape(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor:
    v = _pick(draw, pool)
    return tf.reshape(tf.sin(v), tf.shape(v))


def _stable_pattern(draw: Draw, rng: np.random.Generator, pool: list[Tensor]) -> Tensor | None:
    kind = draw(st.sampled_from(["log1p", "expm1", "log_sigmoid", "log_softmax", "logsumexp", "xent"]))
    if kind == "log1p":
        return tf.log(1.0 + tf.sigmoid(_pick(draw, pool)))
    if kind == "expm1":
        return tf.exp(tf.tanh(_pick(draw, pool))) - 1.0
    if kind == "log_sigmoid":
        return tf.log(tf.sigmoid(_pick(draw, pool)))
    v = _pick(draw, pool, lambda v: _rank(v) >= 1)
    if v is None:
        return None
    if kind == "log_softmax":
        return tf.log(tf.nn.softmax(v))
    if kind == "logsumexp":
        axes = draw(st.lists(st.integers(0, _rank(v) - 1), unique=True, min_size=1, max_size=_rank(v)))
        return tf.log(tf.reduce_sum(tf.exp(v), axis=axes, keepdims=draw(st.booleans())))
    z = _pick(draw, pool, lambda v: _rank(v) == 2)
    if z is None:
        return None
    y = _pick(draw, pool, lambda v: v.shape.as_list() == z.shape.as_list())
    return -tf.reduce_sum(tf.nn.softmax(y) * tf.log(tf.nn.softmax(z)), axis=1)


BUILDERS: dict[str, Callable[[Draw, np.random.Generator, list[Tensor]], Tensor | None]] = {
    "unary": _unary,
    "binary": _binary,
    "reduce": _reduce,
    "reshape": _reshape,
    "transpose": _transpose,
    "matmul": _matmul,
    "neutral": _neutral,
    "constant": _constant,
    "duplicate": _duplicate,
    "shape_reshape": _shape_reshape,
    "stable_pattern": _stable_pattern,
}
# The rewrites' patterns are drawn more often than plain ops, so most programs hold some.
BUILDER_CHOICES = sorted(BUILDERS) + ["stable_pattern", "stable_pattern", "neutral", "duplicate"]


@st.composite
def random_programs(draw: Draw) -> Built:
    """A random DAG of registered ops on float64 placeholders with random static shapes
    (sometimes a symbolic leading dim), optionally with gradients fetched as well."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rank = draw(st.integers(1, 3))
    base = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    symbolic = draw(st.booleans())
    graph = tf.Graph()
    steps: list[str] = []
    with graph.as_default():
        feeds: dict[Tensor, np.ndarray] = {}
        for _ in range(draw(st.integers(1, 3))):
            drop = draw(st.integers(0, rank - 1))
            shape = [1 if draw(st.booleans()) and draw(st.booleans()) else d for d in base[drop:]]
            declared: list[int | None] = list(shape)
            if symbolic and drop == 0:
                # Lowering takes symbolic dims that broadcast together to be equal.
                shape[0] = base[0]
                declared[0] = None
            ph = tf.placeholder(tf.float64, declared)
            feeds[ph] = rng.normal(size=shape)
        pool = list(feeds)
        for _ in range(draw(st.integers(2, 10))):
            name = draw(st.sampled_from(BUILDER_CHOICES))
            out = BUILDERS[name](draw, rng, pool)
            if out is not None:
                pool.append(out)
                steps.append(name)
        # Fetch every built value nothing else uses (up to 4), so little is pruned away.
        sinks = [v for v in pool[len(feeds) :] if not v.consumers()]
        fetches = sinks[-4:] or pool[-1:]
        if draw(st.booleans()):
            grads = tf.gradients(tf.reduce_sum(fetches[-1]), list(feeds))
            fetches = fetches + [g for g in grads if g is not None]
            steps.append("gradients")
    return Built(graph, fetches, feeds, steps)


# == running ==============================================================================================
def _lower(built: Built) -> tuple[Program, list[np.ndarray]]:
    low = lower(built.graph, built.fetches, {t: (t.dtype, v.shape) for t, v in built.feeds.items()})
    return low.program, [built.feeds[t] for t in low.feeds]


def _run(program: Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    program.bind_dims([x.shape for x in inputs])
    return [np.asarray(x) for x in run_program(get_backend("numpy"), program, inputs)]


def _assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9 * scale)


def _reference(built: Built) -> tuple[Program, list[np.ndarray], list[np.ndarray]]:
    program, inputs = _lower(built)
    want = _run(program, inputs)
    # Passes may legitimately turn an inf or NaN into a finite value (that is stabilize's job).
    assume(all(np.all(np.isfinite(w)) for w in want))
    return program, inputs, want


@pytest.mark.parametrize("name", PASS_NAMES)
@SETTINGS
@given(built=random_programs())
def test_each_pass_preserves_results_and_is_idempotent(name: str, built: Built) -> None:
    program, inputs, want = _reference(built)
    fn = pipeline.get_pass(name)
    before = program.canonical_text()
    once = fn(copy_program(program))
    verify(once)
    assert program.canonical_text() == before
    _assert_same(_run(once, inputs), want)
    twice = fn(copy_program(once))
    assert twice.canonical_text() == once.canonical_text()
    assert twice.content_hash() == once.content_hash()


@SETTINGS
@given(built=random_programs())
def test_whole_pipeline_preserves_results(built: Built) -> None:
    program, inputs, want = _reference(built)
    optimized = pipeline.optimize(copy_program(program))
    verify(optimized)
    _assert_same(_run(optimized, inputs), want)
    assert len(optimized.params) == len(program.params)
    assert [(o.kind, o.value.dtype, tuple(o.value.shape)) for o in optimized.outputs] == [
        (o.kind, o.value.dtype, tuple(o.value.shape)) for o in program.outputs
    ]


@SETTINGS
@given(built=random_programs())
def test_my_passes_in_pipeline_order_reach_a_fixpoint(built: Built) -> None:
    """simplify..dce as the pipeline runs them, twice over: the second round changes nothing
    the first did not (the middle end converges)."""
    program, inputs, want = _reference(built)
    names = ["simplify", "stabilize", "fold", "cse", "resimplify", "dce"]
    once = program
    for n in names:
        once = pipeline.get_pass(n)(once)
    _assert_same(_run(once, inputs), want)
    twice = once
    for n in names:
        twice = pipeline.get_pass(n)(twice)
    assert len(twice.nodes) <= len(once.nodes)
