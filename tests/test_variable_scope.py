"""tf.variable_scope / tf.get_variable (TF1 semantics) and the TF1 initializers."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import pytest

import graphc.ops.core_ops  # noqa: F401  (registers Const)
import graphc.ops.math_ops  # noqa: F401
import graphc.ops.random_ops  # noqa: F401
import graphc.ops.state_ops  # noqa: F401
from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Graph, GraphKeys, Tensor
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops import init_ops
from graphc.ops import variable_scope as vs
from graphc.ops.core_ops import constant
from graphc.ops.random_ops import set_random_seed
from graphc.ops.variables import Variable


@pytest.fixture
def graph() -> Any:
    g = Graph()
    with g.as_default():
        yield g


def evaluate(t: Tensor) -> np.ndarray:
    """The value of a tensor built from constants and random ops, by running each op's
    NumPy reference (no session needed; random ops run as their first run, counter 0)."""
    memo: dict[int, list[np.ndarray]] = {}
    order: list[Any] = []
    stack: list[tuple[Any, bool]] = [(t.op, False)]
    while stack:
        op, done = stack.pop()
        if id(op) in memo:
            continue
        if done:
            ins = [memo[id(x.op)][x.value_index] for x in op.inputs]
            memo[id(op)] = [np.asarray(o) for o in reg.get(op.type).reference(ins, op.attrs)]
            order.append(op)
            continue
        stack.append((op, True))
        stack.extend((x.op, False) for x in op.inputs if id(x.op) not in memo)
    return memo[id(t.op)][t.value_index]


def init_value(v: Variable) -> np.ndarray:
    return evaluate(v.initial_value)


# -- naming --------------------------------------------------------------------------------
def test_scoped_names(graph: Graph) -> None:
    with vs.variable_scope("layer1") as scope:
        w = vs.get_variable("w", [3, 4])
        with vs.variable_scope("inner"):
            b = vs.get_variable("b", [4])
    assert isinstance(w, Variable)
    assert w.name == "layer1/w:0" and w.op.name == "layer1/w"
    assert b.name == "layer1/inner/b:0"
    assert scope.name == "layer1" and scope.original_name_scope == "layer1/"
    assert vs.get_variable_scope().name == ""
    assert w.initializer.name == "layer1/w/Assign"
    assert w.initial_value.op.name.startswith("layer1/w/Initializer/")


def test_variable_names_ignore_name_scopes(graph: Graph) -> None:
    with graph.name_scope("ns"):
        v = vs.get_variable("v", [2])
        with vs.variable_scope("vs"):
            u = vs.get_variable("u", [2])
            c = constant(1.0, name="c")
    assert v.name == "v:0"
    assert u.name == "vs/u:0"
    assert c.op.name == "ns/vs/c"


def test_reentering_opens_a_new_name_scope(graph: Graph) -> None:
    with vs.variable_scope("foo") as s1:
        a = vs.get_variable("a", [1])
        c1 = constant(1.0, name="c")
    with vs.variable_scope("foo") as s2:
        b = vs.get_variable("b", [1])
        c2 = constant(1.0, name="c")
    assert (a.name, b.name) == ("foo/a:0", "foo/b:0")
    assert (c1.op.name, c2.op.name) == ("foo/c", "foo_1/c")
    assert (s1.original_name_scope, s2.original_name_scope) == ("foo/", "foo_1/")


def test_reentering_a_scope_object(graph: Graph) -> None:
    with vs.variable_scope("outer") as outer:
        pass
    with vs.variable_scope("other"):
        with vs.variable_scope(outer) as again:
            v = vs.get_variable("v", [1])
            c = constant(1.0, name="c")
    assert again.name == "outer" and again.original_name_scope == "outer/"
    assert v.name == "outer/v:0"
    # The name scope is the scope's last component, opened in the current name scope.
    assert c.op.name == "other/outer/c"


def test_default_name_is_made_unique(graph: Graph) -> None:
    names = []
    for _ in range(3):
        with vs.variable_scope(None, default_name="dense") as s:
            names.append((s.name, vs.get_variable("k", [1]).name))
    assert names == [("dense", "dense/k:0"), ("dense_1", "dense_1/k:0"), ("dense_2", "dense_2/k:0")]
    # Sub-scope counts restart each time the enclosing scope is entered.
    inner = []
    for _ in range(2):
        with vs.variable_scope("block", reuse=vs.AUTO_REUSE):
            with vs.variable_scope(None, default_name="conv") as s:
                inner.append(s.name)
    assert inner == ["block/conv", "block/conv"]


def test_default_name_with_reuse_raises(graph: Graph) -> None:
    with pytest.raises(ValueError, match="reuse=True cannot be used without a name_or_scope"):
        with vs.variable_scope(None, default_name="x", reuse=True):
            pass
    with pytest.raises(TypeError, match="default_name is None"):
        vs.variable_scope(None)
    with pytest.raises(ValueError, match="reuse parameter"):
        vs.variable_scope("x", reuse="yes")


def test_auxiliary_name_scope_false(graph: Graph) -> None:
    with graph.name_scope("top"):
        with vs.variable_scope("vs", auxiliary_name_scope=False) as s:
            v = vs.get_variable("v", [1])
            c = constant(0.0, name="c")
    assert v.name == "vs/v:0"
    assert c.op.name == "top/c"
    assert s.original_name_scope == "top/"


def test_values_select_the_graph() -> None:
    g1, g2 = Graph(), Graph()
    with g1.as_default():
        x = constant(1.0)
    with g2.as_default():
        with vs.variable_scope("s", values=[x]):
            v = vs.get_variable("v", [2])
    assert v.graph is g1
    assert g1.get_operation_by_name("s/v") is v.op


# -- reuse --------------------------------------------------------------------------------
def test_creating_twice_raises_with_location(graph: Graph) -> None:
    with vs.variable_scope("foo"):
        vs.get_variable("w", [2])
    with vs.variable_scope("foo"):
        with pytest.raises(ValueError) as info:
            vs.get_variable("w", [2])
    msg = str(info.value)
    assert msg.startswith(
        "Variable foo/w already exists, disallowed. Did you mean to set reuse=True or "
        "reuse=tf.AUTO_REUSE in VarScope?"
    )
    assert "Originally defined at" in msg and "test_variable_scope.py" in msg


def test_reuse_true_missing_raises(graph: Graph) -> None:
    with vs.variable_scope("foo", reuse=True):
        with pytest.raises(ValueError) as info:
            vs.get_variable("w", [2])
    assert str(info.value) == (
        "Variable foo/w does not exist, or was not created with tf.get_variable(). "
        "Did you mean to set reuse=tf.AUTO_REUSE in VarScope?"
    )


def test_reuse_returns_the_same_variable(graph: Graph) -> None:
    with vs.variable_scope("foo"):
        w = vs.get_variable("w", [2, 3])
    with vs.variable_scope("foo", reuse=True) as s:
        assert s.reuse is True
        assert vs.get_variable("w", [2, 3]) is w
        assert vs.get_variable("w") is w  # an unspecified shape is compatible
    with vs.variable_scope("foo") as s:
        s.reuse_variables()
        assert vs.get_variable("w", [2, 3]) is w
    with vs.variable_scope("foo") as s:
        assert s.reuse is False  # reuse_variables() lasted only for that entry
    assert len(graph.get_collection(GraphKeys.GLOBAL_VARIABLES)) == 1


def test_reuse_is_inherited(graph: Graph) -> None:
    with vs.variable_scope("a"):
        with vs.variable_scope("b"):
            v = vs.get_variable("v", [1])
    with vs.variable_scope("a", reuse=True):
        with vs.variable_scope("b", reuse=False) as inner:
            assert inner.reuse is True
            assert vs.get_variable("v", [1]) is v


def test_reuse_through_scope_object(graph: Graph) -> None:
    with vs.variable_scope("model") as scope:
        v = vs.get_variable("v", [3])
    with vs.variable_scope(scope, reuse=True):
        assert vs.get_variable("v", [3]) is v
    # Re-entering a scope object takes the object's reuse, not the enclosing scope's.
    with vs.variable_scope("x", reuse=True):
        with vs.variable_scope(scope) as s:
            assert s.reuse is False


def test_auto_reuse(graph: Graph) -> None:
    def layer() -> Variable:
        with vs.variable_scope("shared", reuse=vs.AUTO_REUSE):
            return vs.get_variable("w", [2])

    first = layer()
    assert layer() is first
    assert len(graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)) == 1


def test_shape_and_dtype_mismatch_on_reuse(graph: Graph) -> None:
    with vs.variable_scope("m"):
        vs.get_variable("w", [2, 3])
    with vs.variable_scope("m", reuse=True):
        with pytest.raises(
            ValueError,
            match=r"Trying to share variable m/w, but specified shape \(3, 3\) and found shape \(2, 3\)",
        ):
            vs.get_variable("w", [3, 3])
        with pytest.raises(ValueError, match="specified dtype float64 and found dtype float32"):
            vs.get_variable("w", [2, 3], dtype=_dt.float64)


# -- initializers, dtypes and their inheritance ---------------------------------------------
def test_default_initializers(graph: Graph) -> None:
    f = vs.get_variable("f", [3, 5])
    i = vs.get_variable("i", [4], dtype=_dt.int32)
    b = vs.get_variable("b", [2], dtype=_dt.bool_)
    assert f.dtype == _dt.float32 and f.shape == TensorShape([3, 5])
    fv = init_value(f)
    limit = math.sqrt(6.0 / (3 + 5))
    assert fv.dtype == np.float32 and np.all(np.abs(fv) <= limit) and np.any(fv != 0)
    np.testing.assert_array_equal(init_value(i), np.zeros(4, np.int32))
    np.testing.assert_array_equal(init_value(b), np.zeros(2, bool))
    assert init_value(i).dtype == np.int32


def test_scope_initializer_and_dtype_are_inherited(graph: Graph) -> None:
    with vs.variable_scope("s", initializer=init_ops.constant_initializer(0.5), dtype=_dt.float64):
        a = vs.get_variable("a", [2])
        with vs.variable_scope("t"):
            b = vs.get_variable("b", [2])
        with vs.variable_scope("u", initializer=init_ops.ones_initializer()):
            c = vs.get_variable("c", [2])
        d = vs.get_variable("d", [2], initializer=init_ops.zeros_initializer())
        e = vs.get_variable("e", [2], dtype=_dt.float32)
    assert a.dtype == b.dtype == c.dtype == d.dtype == _dt.float64
    assert e.dtype == _dt.float32
    np.testing.assert_array_equal(init_value(a), [0.5, 0.5])
    np.testing.assert_array_equal(init_value(b), [0.5, 0.5])
    np.testing.assert_array_equal(init_value(c), [1.0, 1.0])
    np.testing.assert_array_equal(init_value(d), [0.0, 0.0])
    assert init_value(e).dtype == np.float32


def test_initializer_class_is_instantiated(graph: Graph) -> None:
    v = vs.get_variable("v", [2], initializer=init_ops.ones_initializer)
    np.testing.assert_array_equal(init_value(v), [1.0, 1.0])


def test_value_and_tensor_initializers(graph: Graph) -> None:
    a = vs.get_variable("a", initializer=np.arange(6, dtype=np.float64).reshape(2, 3))
    assert a.dtype == _dt.float64 and a.shape == TensorShape([2, 3])
    t = constant([1, 2, 3])
    b = vs.get_variable("b", initializer=t)
    assert b.dtype == _dt.int32 and b.shape == TensorShape([3])
    c = vs.get_variable("c", initializer=2.0)
    assert c.dtype == _dt.float32 and c.shape == TensorShape([])
    with pytest.raises(ValueError, match="If initializer is a constant, do not specify shape."):
        vs.get_variable("d", [3], initializer=t)
    with pytest.raises(
        ValueError, match="Initializer type 'int32' and explicit dtype 'float32' don't match."
    ):
        vs.get_variable("e", initializer=t, dtype=_dt.float32)


def test_callable_initializer(graph: Graph) -> None:
    seen = {}

    def init(shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        seen.update(shape=shape, dtype=dtype, partition_info=partition_info)
        return constant(np.full(shape, 7.0), dtype=dtype)

    v = vs.get_variable("v", [2, 2], initializer=init)
    assert seen == {"shape": [2, 2], "dtype": _dt.float32, "partition_info": None}
    np.testing.assert_array_equal(init_value(v), np.full((2, 2), 7.0, np.float32))
    no_args = vs.get_variable("n", initializer=lambda: constant([1.0, 2.0]))
    assert no_args.shape == TensorShape([2])
    with pytest.raises(ValueError, match="initializer passed for variable x is not valid"):
        vs.get_variable("x")  # no shape and Glorot needs one


# -- collections and regularization ----------------------------------------------------------
def test_collections(graph: Graph) -> None:
    with vs.variable_scope("net") as scope:
        t = vs.get_variable("t", [1])
        n = vs.get_variable("n", [1], trainable=False)
        c = vs.get_variable("c", [1], collections=["mine"])
        loc = vs.get_local_variable("l", [1])
    with vs.variable_scope("other"):
        o = vs.get_variable("o", [1])
    assert graph.get_collection(GraphKeys.GLOBAL_VARIABLES) == [t, n, o]
    assert graph.get_collection(GraphKeys.TRAINABLE_VARIABLES) == [t, c, o]
    assert graph.get_collection("mine") == [c]
    assert graph.get_collection(GraphKeys.LOCAL_VARIABLES) == [loc]
    assert loc.trainable is False
    assert scope.trainable_variables() == [t, c]
    assert scope.global_variables() == [t, n]
    assert scope.local_variables() == [loc]


def test_regularization_losses(graph: Graph) -> None:
    def l2(v: Any) -> Tensor:
        from graphc.ops.math_ops import multiply

        return multiply(v, v, name="l2")

    with vs.variable_scope("r", regularizer=l2):
        a = vs.get_variable("a", [2])
        vs.get_variable("b", [2], regularizer=vs.no_regularizer)
        with vs.variable_scope("inner"):
            c = vs.get_variable("c", [2])
    vs.get_variable("d", [2], regularizer=lambda v: None)
    e = vs.get_variable("e", [2], regularizer=l2)
    losses = graph.get_collection(GraphKeys.REGULARIZATION_LOSSES)
    assert [t.op.name for t in losses] == [
        "r/a/Regularizer/l2",
        "r/inner/c/Regularizer/l2",
        "e/Regularizer/l2",
    ]
    assert losses[0].op.inputs[0].op is a.op
    assert losses[1].op.inputs[0].op is c.op
    assert losses[2].op.inputs[0].op is e.op


# -- custom getters, partitioners, synchronization -------------------------------------------
def test_custom_getter(graph: Graph) -> None:
    calls: list[tuple[str, str]] = []

    def outer(getter: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(("outer", name))
        return getter(name, *args, **kwargs)

    def inner(getter: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(("inner", name))
        kwargs["trainable"] = False
        return getter(name, *args, **kwargs)

    with vs.variable_scope("a", custom_getter=outer):
        with vs.variable_scope("b", custom_getter=inner):
            v = vs.get_variable("v", [1])
    assert calls == [("inner", "a/b/v"), ("outer", "a/b/v")]
    assert v.name == "a/b/v:0" and not v.trainable
    with pytest.raises(ValueError, match="custom_getter which is not callable"):
        vs.variable_scope("c", custom_getter=3)


_TF1_GET_VARIABLE_ARGS = [
    "shape",
    "dtype",
    "initializer",
    "regularizer",
    "trainable",
    "collections",
    "caching_device",
    "partitioner",
    "validate_shape",
    "use_resource",
    "custom_getter",
    "constraint",
    "synchronization",
    "aggregation",
]


def test_get_variable_takes_tf1_arguments(graph: Graph) -> None:
    for fn in (vs.get_variable, vs.get_local_variable):
        assert list(inspect.signature(fn).parameters) == ["name", *_TF1_GET_VARIABLE_ARGS]
    assert inspect.signature(vs.get_variable).parameters["trainable"].default is None
    assert inspect.signature(vs.get_local_variable).parameters["trainable"].default is False
    # TF1's VariableScope.get_variable takes the store first and reuse after regularizer.
    scope_args = list(inspect.signature(vs.get_variable_scope().get_variable).parameters)
    at = _TF1_GET_VARIABLE_ARGS.index("regularizer") + 1
    assert scope_args == [
        "var_store",
        "name",
        *_TF1_GET_VARIABLE_ARGS[:at],
        "reuse",
        *_TF1_GET_VARIABLE_ARGS[at:],
    ]
    # Positional, as in TF1.
    v = vs.get_variable("w", [2, 3], _dt.float64, init_ops.ones_initializer())
    assert v.shape.as_list() == [2, 3] and v.dtype == _dt.float64
    np.testing.assert_array_equal(evaluate(v.initial_value), np.ones((2, 3)))
    loc = vs.get_local_variable("l", [1], _dt.int32, None, None, True)
    assert not loc.trainable and loc in graph.get_collection(GraphKeys.LOCAL_VARIABLES)
    with pytest.raises(TypeError, match="shapes"):
        vs.get_variable("x", shapes=[1])
    with pytest.raises(TypeError):
        vs.get_variable(shape=[1])


def test_custom_getter_receives_tf1_keywords_and_a_tf1_getter(graph: Graph) -> None:
    seen: dict[str, Any] = {}

    def getter_of(getter: Any, name: str, **kwargs: Any) -> Any:
        seen.update(kwargs, getter_args=list(inspect.signature(getter).parameters))
        rest = {k: v for k, v in kwargs.items() if k not in ("shape", "dtype")}
        return getter(name, [4], kwargs["dtype"], **rest)  # positional, as TF1's getter allows

    with vs.variable_scope("s", custom_getter=getter_of):
        v = vs.get_variable("v", [2])
    assert v.name == "s/v:0" and v.shape.as_list() == [4]
    without_getter = [a for a in _TF1_GET_VARIABLE_ARGS if a != "custom_getter"]
    assert set(seen) - {"getter_args"} == {*without_getter, "reuse"}
    at = without_getter.index("regularizer") + 1
    assert seen["getter_args"] == ["name", *without_getter[:at], "reuse", *without_getter[at:]]
    assert seen["shape"] == [2] and seen["dtype"] == _dt.float32 and seen["trainable"] is True


def test_partitioner_is_not_supported(graph: Graph) -> None:
    with pytest.raises(NotImplementedError, match="partitioned"):
        vs.get_variable("p", [4, 2], partitioner=lambda shape, dtype: [2, 1])


def test_on_read_synchronization_is_not_trainable(graph: Graph) -> None:
    v = vs.get_variable("v", [1], synchronization=vs.VariableSynchronization.ON_READ)
    assert not v.trainable
    with pytest.raises(ValueError, match="ON_READ only for non-trainable"):
        vs.get_variable("w", [1], trainable=True, synchronization=vs.VariableSynchronization.ON_READ)


# -- initializers ---------------------------------------------------------------------------
def test_initializer_static_shapes_and_dtypes(graph: Graph) -> None:
    inits = [
        init_ops.zeros_initializer(),
        init_ops.ones_initializer(),
        init_ops.constant_initializer(3),
        init_ops.random_uniform_initializer(-1, 1),
        init_ops.random_normal_initializer(),
        init_ops.truncated_normal_initializer(),
        init_ops.variance_scaling_initializer(),
        init_ops.glorot_uniform_initializer(),
        init_ops.glorot_normal_initializer(),
        init_ops.he_normal(),
        init_ops.he_uniform(),
        init_ops.lecun_normal(),
        init_ops.lecun_uniform(),
        init_ops.orthogonal_initializer(),
        init_ops.uniform_unit_scaling_initializer(),
    ]
    for init in inits:
        for shape in ([3, 4], (2, 3, 4), TensorShape([5, 2])):
            t = init(shape, dtype=_dt.float64)
            assert t.dtype == _dt.float64, init
            assert t.shape == TensorShape(shape), init
            assert evaluate(t).shape == tuple(TensorShape(shape).as_list())
        assert init([2, 2]).dtype == _dt.float32
    with pytest.raises(ValueError, match="fully defined"):
        init_ops.zeros_initializer()([None, 3])


def test_fill_initializers(graph: Graph) -> None:
    np.testing.assert_array_equal(evaluate(init_ops.Zeros()([2, 3])), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(evaluate(init_ops.Ones(_dt.int32)([4])), np.ones(4, np.int32))
    big = init_ops.Zeros()([50, 40])
    assert big.op.type == "BroadcastTo" and big.shape == TensorShape([50, 40])
    np.testing.assert_array_equal(evaluate(big), np.zeros((50, 40), np.float32))
    np.testing.assert_array_equal(evaluate(init_ops.Ones(_dt.bool_)([2])), [True, True])


def test_constant_initializer(graph: Graph) -> None:
    np.testing.assert_array_equal(evaluate(init_ops.Constant(2.5)([2, 2])), np.full((2, 2), 2.5, np.float32))
    v = evaluate(init_ops.Constant([1, 2, 3, 4, 5, 6])([2, 3]))
    np.testing.assert_array_equal(v, np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(
        evaluate(init_ops.Constant(7)([40, 40], dtype=_dt.int32)), np.full((40, 40), 7)
    )
    with pytest.raises(TypeError):
        init_ops.Constant([1, 2, 3])([2, 2])
    with pytest.raises(TypeError):
        init_ops.Constant([1, 2, 3, 4], verify_shape=True)([2, 2])
    with pytest.raises(TypeError, match="Invalid type for initial value"):
        init_ops.Constant({"a": 1})
    assert init_ops.Constant(3, dtype=_dt.float64).get_config() == {"value": 3, "dtype": "float64"}


def test_random_initializer_statistics(graph: Graph) -> None:
    n = (200, 250)
    u = evaluate(init_ops.random_uniform_initializer(-2.0, 3.0, seed=1)(n))
    assert u.dtype == np.float32 and u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.05 and abs(u.var() - 25.0 / 12.0) < 0.05
    r = evaluate(init_ops.random_normal_initializer(1.0, 2.0, seed=2)(n))
    assert abs(r.mean() - 1.0) < 0.03 and abs(r.std() - 2.0) < 0.03
    t = evaluate(init_ops.truncated_normal_initializer(0.0, 0.5, seed=3)(n))
    assert np.abs(t).max() <= 1.0 + 1e-6
    assert abs(t.std() - 0.5 * 0.87962566103423978) < 0.01
    ints = evaluate(init_ops.random_uniform_initializer(0, 5, seed=4, dtype=_dt.int32)([1000]))
    assert ints.dtype == np.int32 and set(np.unique(ints)) == {0, 1, 2, 3, 4}


def test_random_initializers_follow_seeds(graph: Graph) -> None:
    init = init_ops.random_normal_initializer(seed=5)
    a, b = evaluate(init([4])), evaluate(init([4]))
    np.testing.assert_array_equal(a, b)  # same op seed -> same numbers
    other = evaluate(init_ops.random_normal_initializer(seed=6)([4]))
    assert not np.array_equal(a, other)


@pytest.mark.parametrize(
    ("mode", "shape", "n"),
    [
        ("fan_in", (300, 200), 300),
        ("fan_out", (300, 200), 200),
        ("fan_avg", (300, 200), 250),
        ("fan_in", (3, 3, 16, 32), 9 * 16),
        ("fan_out", (3, 3, 16, 32), 9 * 32),
        ("fan_in", (500,), 500),
    ],
)
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "untruncated_normal", "uniform"])
def test_variance_scaling(graph: Graph, mode: str, shape: tuple[int, ...], n: int, distribution: str) -> None:
    set_random_seed(11)
    init = init_ops.variance_scaling_initializer(scale=2.0, mode=mode, distribution=distribution, seed=1)
    x = evaluate(init(shape, dtype=_dt.float64))
    assert x.shape == shape
    target = 2.0 / n
    assert abs(x.var() / target - 1.0) < 0.1
    if distribution == "uniform":
        assert np.abs(x).max() <= math.sqrt(3.0 * target)
    if distribution in ("truncated_normal", "normal"):
        assert np.abs(x).max() <= 2.0 * math.sqrt(target) / 0.87962566103423978 + 1e-9


def test_named_variance_scaling_variants(graph: Graph) -> None:
    cases = [
        (init_ops.glorot_uniform_initializer(), 1.0, "fan_avg", "uniform"),
        (init_ops.glorot_normal_initializer(), 1.0, "fan_avg", "truncated_normal"),
        (init_ops.he_normal(), 2.0, "fan_in", "truncated_normal"),
        (init_ops.he_uniform(), 2.0, "fan_in", "uniform"),
        (init_ops.lecun_normal(), 1.0, "fan_in", "truncated_normal"),
        (init_ops.lecun_uniform(), 1.0, "fan_in", "uniform"),
    ]
    for init, scale, mode, distribution in cases:
        assert isinstance(init, init_ops.VarianceScaling)
        assert (init.scale, init.mode, init.distribution) == (scale, mode, distribution)
    g = evaluate(init_ops.GlorotUniform(seed=1)([30, 50]))
    assert np.abs(g).max() <= math.sqrt(6.0 / 80.0)
    assert init_ops.GlorotUniform(seed=3).get_config() == {"seed": 3, "dtype": "float32"}


def test_variance_scaling_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="scale"):
        init_ops.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        init_ops.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        init_ops.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="floating point"):
        init_ops.RandomNormal(dtype=_dt.int32)


def test_orthogonal(graph: Graph) -> None:
    for shape in [(6, 4), (4, 6), (3, 2, 5), (5, 5)]:
        q = evaluate(init_ops.orthogonal_initializer(gain=2.0, seed=3)(shape, dtype=_dt.float64))
        assert q.shape == shape
        flat = q.reshape(-1, shape[-1])
        if flat.shape[0] >= flat.shape[1]:
            np.testing.assert_allclose(flat.T @ flat, 4.0 * np.eye(flat.shape[1]), atol=1e-10)
        else:
            np.testing.assert_allclose(flat @ flat.T, 4.0 * np.eye(flat.shape[0]), atol=1e-10)
    a = evaluate(init_ops.Orthogonal(seed=9)([4, 4]))
    b = evaluate(init_ops.Orthogonal(seed=9)([4, 4]))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="at least two-dimensional"):
        init_ops.Orthogonal()([3])


def test_get_config_round_trip() -> None:
    for init in [
        init_ops.Zeros(_dt.float64),
        init_ops.Ones(),
        init_ops.RandomUniform(-1.0, 2.0, seed=3),
        init_ops.RandomNormal(0.5, 2.0, seed=4),
        init_ops.TruncatedNormal(0.1, 0.2, seed=5),
        init_ops.VarianceScaling(2.0, "fan_out", "uniform", seed=6),
        init_ops.Orthogonal(1.5, seed=7),
        init_ops.GlorotNormal(seed=8),
    ]:
        config = init.get_config()
        again = type(init).from_config(config)
        assert again.get_config() == config


# -- end to end, once the session exists -----------------------------------------------------
def test_variables_initialize_in_a_session() -> None:
    session = pytest.importorskip("graphc.runtime.session")
    from graphc.ops.variables import global_variables_initializer

    g = Graph()
    with g.as_default():
        with vs.variable_scope("net", initializer=init_ops.constant_initializer(1.5)):
            w = vs.get_variable("w", [2, 2])
            k = vs.get_variable("k", [3], initializer=init_ops.glorot_uniform_initializer(seed=1))
        with vs.variable_scope("net", reuse=True):
            same = vs.get_variable("w", [2, 2])
        init = global_variables_initializer()
        with session.Session(graph=g) as sess:
            sess.run(init)
            np.testing.assert_array_equal(sess.run(w), np.full((2, 2), 1.5, np.float32))
            np.testing.assert_array_equal(sess.run(same), sess.run(w))
            assert np.all(np.abs(sess.run(k)) <= 1.0)


def test_reentering_the_root_scope_with_reuse(graph: Graph) -> None:
    w = vs.get_variable("w", [2])
    with vs.variable_scope(vs.get_variable_scope(), reuse=True) as root:
        assert root.name == "" and root.reuse is True
        assert vs.get_variable("w", [2]) is w
    assert vs.get_variable_scope().reuse is False


def test_scope_state_is_per_thread(graph: Graph) -> None:
    import threading

    seen: list[str] = []

    def other() -> None:
        with graph.as_default():
            seen.append(vs.get_variable_scope().name)

    with vs.variable_scope("main_thread"):
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert seen == [""]


def test_scope_is_restored_after_an_error(graph: Graph) -> None:
    with pytest.raises(RuntimeError):
        with vs.variable_scope("boom"):
            raise RuntimeError("x")
    assert vs.get_variable_scope().name == ""
    assert graph.get_name_scope() == ""
