"""tf.reshape with a shape tensor that is only partly known when the graph is built.

Static shapes are checked against TF1's shape function for Reshape, written out below
from its documented rules (``tf1_reshape_shape``): the shape tensor gives a dim per
element, known where the element is a constant >= 0 and unknown where it is -1 or not a
constant; then a single unknown output dim is inferred when the input's element count is
known, or set to the input's single unknown dim when the known parts of both multiply to
the same number. Run results are checked against NumPy's reshape on every backend, and
the sizes fed at run time against TF1's kernel rules at the program's entry: a -1 beside
a 0 is refused (for an empty tensor too), a -1 of an empty tensor is 0 when the other
sizes are non-zero.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import symbolic as sym
from graphc.ir.lower import lower
from graphc.passes import pipeline
from graphc.passes.memory import check_plan, provably_ge, sample_envs
from graphc.runtime.backend import available_backends

BACKENDS = [b for b in ("numpy", "llvm") if b in available_backends()]
UNKNOWN = "unknown"  # an element of the shape tensor that is not a constant


def tf1_reshape_shape(in_dims: list[int | None] | None, elements: list[Any]) -> list[int | None] | str:
    """TF1's static shape of reshape(x, shape tensor); "error" where it refuses the graph.

    TF1's shape function, with what its kernel then does at every run taken at once: a -1
    beside a 0 is refused (whatever the input), so is a 0 for an input that has elements,
    and a -1 is 0 for an input known to be empty (one with a 0 dim)."""
    if -1 in elements and 0 in elements:
        return "error"
    out: list[int | None] = [e if isinstance(e, int) and e >= 0 else None for e in elements]
    if in_dims is None:
        return out
    count = 0 if 0 in in_dims else (math.prod(in_dims) if None not in in_dims else None)  # type: ignore[arg-type]
    unknown_out = [i for i, d in enumerate(out) if d is None]
    known_out = math.prod(d for d in out if d is not None)
    if count is None:
        # At most one unknown dim on each side with the same known product: the output's
        # is the input's (unknown too).
        return out
    if not unknown_out:
        return out if count == known_out else "error"
    if known_out == 0:
        return out if count == 0 else "error"
    if len(unknown_out) == 1:
        if count % known_out:
            return "error"
        out[unknown_out[0]] = count // known_out
    elif count == 0 and -1 in elements:
        out[elements.index(-1)] = 0
    return out


def shape_tensor(elements: list[Any], feeds: list[Any]) -> Any:
    """tf.stack of the elements, a fed scalar for each unknown one."""
    parts = []
    for e in elements:
        if e == UNKNOWN:
            n = tf.placeholder(tf.int32, [])
            feeds.append(n)
            parts.append(n)
        else:
            parts.append(e)
    return tf.stack(parts)


def test_the_unknown_element_beside_a_minus_one() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.placeholder(tf.int32, [])
    assert tf.reshape(x, tf.stack([-1, n])).shape.as_list() == [None, None]
    assert tf.reshape(x, tf.stack([n, -1])).shape.as_list() == [None, None]
    assert tf.reshape(x, tf.stack([2, n, -1])).shape.as_list() == [2, None, None]
    # The element count is known but another dim is not: the -1 is unknown.
    y = tf.placeholder(tf.float32, [4, 3])
    assert tf.reshape(y, tf.stack([-1, n])).shape.as_list() == [None, None]
    assert tf.reshape(y, tf.stack([n, 2, -1])).shape.as_list() == [None, 2, None]
    assert tf.reshape(y, tf.stack([-1, 2])).shape.as_list() == [6, 2]


def test_shape_tensors_from_concat_and_shape_arithmetic() -> None:
    x = tf.placeholder(tf.float32, [None, 28, 28])
    assert tf.reshape(x, tf.concat([[-1], tf.shape(x)[1:]], 0)).shape.as_list() == [None, 28, 28]
    assert tf.reshape(x, tf.concat([tf.shape(x)[:1], [-1]], 0)).shape.as_list() == [None, None]
    assert tf.reshape(x, tf.stack([tf.shape(x)[0], -1])).shape.as_list() == [None, None]
    assert tf.reshape(x, tf.stack([-1, tf.shape(x)[1] * tf.shape(x)[2]])).shape.as_list() == [None, None]
    assert tf.reshape(x, tf.stack([-1, tf.shape(x)[2] // 2, 2])).shape.as_list() == [None, None, 2]
    y = tf.placeholder(tf.float32, [4, 6])
    assert tf.reshape(y, tf.shape(y)[::-1]).shape.as_list() == [6, 4]
    assert tf.reshape(y, tf.concat([tf.shape(y)[1:], [-1]], 0)).shape.as_list() == [6, 4]
    z = tf.placeholder(tf.float32, [None, 6])
    assert tf.reshape(z, tf.stack([tf.shape(z)[0] * 2, -1])).shape.as_list() == [None, None]
    assert tf.reshape(z, tf.concat([[-1], tf.shape(z)[1:] // 2], 0)).shape.as_list() == [None, None]
    u = tf.placeholder(tf.float32, None)
    assert tf.reshape(u, tf.stack([-1, 3])).shape.as_list() == [None, 3]


IN_SHAPES = [[None, 3], [4, 3], [2, None, 6], [None, None], [4, 6], [None], None, [0, 3], [0, None]]
ELEMENTS = [-1, UNKNOWN, 0, 2, 3, 12]


@pytest.mark.parametrize("in_dims", IN_SHAPES, ids=str)
def test_static_shapes_follow_tf1(in_dims: list[int | None] | None) -> None:
    seen = 0
    for rank in (1, 2, 3):
        for elements in itertools.product(ELEMENTS, repeat=rank):
            if list(elements).count(-1) > 1:
                continue
            feeds: list[Any] = []
            x = tf.placeholder(tf.float32, in_dims)
            want = tf1_reshape_shape(in_dims, list(elements))
            s = shape_tensor(list(elements), feeds)
            if want == "error":
                with pytest.raises(ValueError):
                    tf.reshape(x, s)
                continue
            assert tf.reshape(x, s).shape.as_list() == want, (in_dims, elements)
            seen += 1
    assert seen > 40


def _run(backend: str, fetch: Any, feeds: dict[Any, Any]) -> np.ndarray:
    with tf.Session(backend=backend) as s:
        return s.run(fetch, feeds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_runs_match_numpy(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.placeholder(tf.int32, [])
    a = tf.reshape(x * 2.0, tf.stack([-1, n])) + 1.0
    b = tf.reshape(x, tf.concat([[n], [-1]], 0))
    c = tf.reshape(x, tf.stack([tf.shape(x)[1], -1]))
    with tf.Session(backend=backend) as s:
        for rows, k in [(4, 6), (4, 2), (2, 3), (0, 5), (1, 1)]:
            xv = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
            got_a, got_b, got_c = s.run([a, b, c], {x: xv, n: k})
            np.testing.assert_array_equal(got_a, np.reshape(xv * 2 + 1, (-1, k)))
            np.testing.assert_array_equal(got_b, np.reshape(xv, (k, -1)))
            np.testing.assert_array_equal(got_c, np.reshape(xv, (3, -1)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fed_sizes_are_checked_at_entry(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.placeholder(tf.int32, [])
    y = tf.reshape(x, tf.stack([-1, n]), name="hole")
    with tf.Session(backend=backend) as s:
        # TF1: a -1 beside a 0 is refused, for an empty tensor too.
        for rows in (4, 0):
            with pytest.raises(tf.errors.InvalidArgumentError, match="hole"):
                s.run(y, {x: np.ones((rows, 3), np.float32), n: 0})
        # A negative size, or a second -1.
        for k in (-2, -1):
            with pytest.raises(tf.errors.InvalidArgumentError, match="hole"):
                s.run(y, {x: np.ones((4, 3), np.float32), n: k})
        # Elements that the other sizes do not divide.
        with pytest.raises(tf.errors.InvalidArgumentError, match="hole"):
            s.run(y, {x: np.ones((4, 3), np.float32), n: 5})
        # The -1 of an empty tensor is 0 when the other sizes are non-zero.
        assert s.run(y, {x: np.ones((0, 3), np.float32), n: 5}).shape == (0, 5)
        assert s.run(y, {x: np.ones((4, 3), np.float32), n: 4}).shape == (3, 4)


def test_memory_plan_of_a_division_by_a_fed_count() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.placeholder(tf.int32, [])
    y = tf.exp(tf.reshape(tf.tanh(x), tf.stack([-1, n]))) * 2.0
    z = tf.reduce_sum(tf.exp(y), axis=1)
    p = pipeline.optimize(
        lower(tf.get_default_graph(), [z], {x: (tf.float32, (4, 3)), n: (tf.int32, ())}).program
    )
    plan = p.meta["memory_plan"]
    assert any("floordiv" in str(d) for v in p.values() for d in v.shape)
    assert sample_envs(p)
    check_plan(p, plan)
    names = sorted({s for v in p.values() for d in v.shape for s in sym.free_symbols(d)})
    assert len(names) == 2
    for rows, k in itertools.product((0, 1, 4, 12), (1, 2, 3, 12)):
        check_plan(p, plan, {s: (k if s.startswith("K") else rows) for s in names})


def test_proofs_over_an_undefined_probe_stay_sound() -> None:
    n, k = sym.symbol("N"), sym.symbol("K", signed=True)
    q = sym.floordiv(3 * n, k)  # undefined where K = 0; negative where K < 0
    assert not provably_ge(q, 0)
    assert not provably_ge(q, n)
    assert not provably_ge(n, q + 1)
    assert provably_ge(q * q + n, n)  # a square is never negative
    assert provably_ge(sym.maximum(q, 0) + n, n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_count_the_data_defines_is_checked_when_known(backend: str) -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    m = tf.placeholder(tf.bool, [None])
    k = tf.shape(tf.boolean_mask(m, m))[0]
    y = tf.reshape(x, tf.stack([-1, k]), name="by_data") * 2.0
    xv = np.arange(12, dtype=np.float32).reshape(4, 3)
    with tf.Session(backend=backend) as s:
        np.testing.assert_array_equal(s.run(y, {x: xv, m: [True, False, True]}), np.reshape(xv, (-1, 2)) * 2)
        with pytest.raises(tf.errors.InvalidArgumentError, match="by_data"):
            s.run(y, {x: xv, m: [False, False]})
