"""Programs as bytes (graphc.ir.serialize): real programs round-trip exactly, the bytes
are canonical and name-free for the hash, floats keep every bit, crafted input raises
SerializationError and nothing else, and nothing is ever unpickled. Also the registry's
contract the format relies on: attr schemas and the closed set of traits."""

from __future__ import annotations

import ast
import json
import pickle
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import registry as reg
from graphc import scalar as S
from graphc import symbolic as sym
from graphc.ir import encoding, serialize
from graphc.ir.lower import lower
from graphc.ir.program import Assertion, DefinedDim, DimBinding, Node, Origin, Output, Param, Program, Value
from graphc.ir.serialize import SerializationError, from_bytes, to_bytes
from graphc.ir.verify import VerificationError, verify
from graphc.passes import pipeline
from graphc.passes.fold import fold
from tests import op_harness as H

ROOT = Path(__file__).resolve().parents[1]


def roundtrip(p: Program) -> Program:
    """Load ``p``'s bytes and check the loaded program is ``p`` again."""
    data = to_bytes(p)
    q = from_bytes(data)
    assert to_bytes(q) == data
    assert str(q) == str(p)
    assert q.canonical_text() == p.canonical_text()
    assert q.content_hash() == p.content_hash()
    return q


# -- real programs ------------------------------------------------------------------------------
def _mlp_step(prefix: str = "") -> tuple[Program, Program]:
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(3)
        x = tf.placeholder(tf.float32, [None, 6], name=f"{prefix}x")
        y = tf.placeholder(tf.int32, [None], name=f"{prefix}y")
        w1 = tf.Variable(tf.random_normal([6, 8], stddev=0.1), name=f"{prefix}w1")
        b1 = tf.Variable(tf.zeros([8]), name=f"{prefix}b1")
        w2 = tf.Variable(tf.truncated_normal([8, 3], stddev=0.1), name=f"{prefix}w2")
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
        logits = tf.matmul(h, w2)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        step = tf.train.AdamOptimizer(0.01).minimize(loss)
        feeds = {x: (tf.float32, (4, 6)), y: (tf.int32, (4,))}
        p = lower(g, [loss, step], feeds).program
    return p, pipeline.optimize(p)


def _cnn_step() -> tuple[Program, Program]:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 8, 8, 1], name="images")
        labels = tf.placeholder(tf.float32, [None, 2], name="labels")
        k = tf.Variable(tf.ones([3, 3, 1, 4]) * 0.1, name="k")
        c = tf.nn.relu(tf.nn.conv2d(x, k, strides=[1, 1, 1, 1], padding="SAME"))
        pooled = tf.nn.max_pool(c, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
        avg = tf.nn.avg_pool(pooled, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="SAME")
        flat = tf.reshape(avg, [-1, 4 * 4 * 4])
        w = tf.Variable(tf.ones([64, 2]) * 0.01, name="w")
        loss = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=tf.matmul(flat, w))
        )
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        feeds = {x: (tf.float32, (2, 8, 8, 1)), labels: (tf.float32, (2, 2))}
        p = lower(g, [loss, step], feeds).program
    return p, pipeline.optimize(p)


def _symbolic() -> Program:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, None], name="x")
        n = tf.placeholder(tf.int32, [], name="n")
        flat = tf.reshape(x, [-1])
        both = tf.concat([flat, flat * 2.0], axis=0)
        r = tf.cast(tf.range(n), tf.float32)
        tiled = tf.tile(x, [tf.shape(x)[0], 1])
        half = x[:, ::2]
        p = lower(
            g,
            [both, r, tiled, half, tf.reduce_sum(x, axis=1)],
            {x: (tf.float32, (3, 5)), n: (tf.int32, ())},
        ).program
    return p


def _strings() -> Program:
    g = tf.Graph()
    with g.as_default():
        a = tf.constant([b"a", b"\xff\x00bytes", b""])
        e = tf.constant(np.zeros((0, 2), dtype=object), dtype=tf.string)
        s = tf.constant("scalar \u00e9")
        return lower(g, [a, e, s, tf.identity(a)], {}).program


@pytest.mark.parametrize("which", ["lowered", "optimized"])
def test_an_mlp_training_step_round_trips(which: str) -> None:
    lowered, optimized = _mlp_step()
    p = lowered if which == "lowered" else optimized
    q = roundtrip(p)
    assert [n.op for n in q.nodes] == [n.op for n in p.nodes]
    assert [x.name for x in q.params] == [x.name for x in p.params]
    verify(q)


@pytest.mark.parametrize("which", ["lowered", "optimized"])
def test_a_cnn_training_step_round_trips(which: str) -> None:
    lowered, optimized = _cnn_step()
    p = lowered if which == "lowered" else optimized
    q = roundtrip(p)
    ops = {n.op for n in q.nodes}
    assert {"Conv2D", "MaxPool", "AvgPool"} <= ops
    conv = next(n for n in q.nodes if n.op == "Conv2D")
    assert conv.attrs["strides"] == (1, 1, 1, 1) and conv.attrs["padding"] == "SAME"
    verify(q)


def test_fused_programs_round_trip_with_their_expressions_shared() -> None:
    _, p = _mlp_step()
    fused = [n for n in p.nodes if n.op == "Fused"]
    assert fused, "the pipeline fuses the MLP's elementwise ops"
    q = roundtrip(p)
    for a, b in zip(p.nodes, q.nodes):
        for key, v in a.attrs.items():
            if isinstance(v, S.SExpr):
                assert b.attrs[key] is v  # interned: the same expression object comes back


def test_symbolic_dims_and_bindings_round_trip() -> None:
    p = _symbolic()
    assert p.symbols() and any(b.source == "value" for b in p.bindings)
    q = roundtrip(p)
    assert [(b.dim, b.param, b.axis, b.source, b.origin) for b in q.bindings] == [
        (b.dim, b.param, b.axis, b.source, b.origin) for b in p.bindings
    ]
    for u, v in zip(p.values(), q.values()):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert all(type(a) is type(b) for a, b in zip(u.shape, v.shape))
    verify(q)


def _nested_dims() -> Program:
    """A hand-built program with every kind of dim: nested floordiv/max/min atoms shared
    between dims, powers, negative coefficients, assertions and data-defined dims."""
    n, m = sym.symbol("N0"), sym.symbol("M1")
    q = sym.floordiv(n + 3, 4)
    deep: sym.Dim = n
    for k in range(40):  # an atom nested 40 deep, written without recursion
        deep = sym.maximum(sym.floordiv(deep, 2), m + k)
    dims = [n * n * m - 2 * q + 7, sym.minimum(q, m), deep]
    x = Value(tf.float32, (n, m))
    node = Node("Identity", [x], {}, [], Origin("id", "Identity", "here"), device="/device:CPU:0")
    out = Value(tf.float32, (n, m), node, 0)
    node.outputs.append(out)
    sizes = Value(tf.int32, (3,))
    c = Node("Const", [], {"value": np.array([1.5, -0.0], np.float32), "dtype": tf.float32}, [])
    c.outputs.append(Value(tf.float32, (2,), c, 0))
    return Program(
        [Param(x, "feed", "x"), Param(sizes, "feed", "sizes")],
        [node, c],
        [Output(out, "fetch", "0"), Output(c.outputs[0], "fetch", "1")],
        [
            DimBinding(n, 0, 0, "", "shape"),
            DimBinding(m, 0, 1, "op 'a' at b", "shape"),
            DimBinding(dims[0], 1, 2, "", "value"),
        ],
        [Assertion(dims[1], dims[2], Origin("a", "Add", "f.py:1")), Assertion(n, m * 2, None)],
        [DefinedDim(out, 1, dims[0])],
    )


def test_hand_built_dims_assertions_and_defined_dims_round_trip() -> None:
    p = _nested_dims()
    q = roundtrip(p)
    assert [(a.lhs, a.rhs, a.origin) for a in q.assertions] == [
        (a.lhs, a.rhs, a.origin) for a in p.assertions
    ]
    assert [(d.axis, d.dim) for d in q.defined_dims] == [(d.axis, d.dim) for d in p.defined_dims]
    assert q.defined_dims[0].value is q.nodes[0].outputs[0]
    assert q.nodes[0].device == "/device:CPU:0"
    assert q.bindings[2].dim == p.bindings[2].dim and isinstance(q.bindings[2].dim, sym.Poly)
    doc = _doc(to_bytes(p))
    # A shared atom is written once; each atom comes after the atoms it is made of.
    assert len(doc["atoms"]) == len({repr(a) for a in doc["atoms"]})
    assert sym.evaluate(q.assertions[0].rhs, {"N0": 100, "M1": 3}) == sym.evaluate(
        p.assertions[0].rhs, {"N0": 100, "M1": 3}
    )


def test_string_constants_round_trip_as_bytes() -> None:
    p = _strings()
    q = roundtrip(p)
    values = [n.attrs["value"] for n in q.nodes if n.op == "Const"]
    assert [v.tolist() for v in values] == [
        [b"a", b"\xff\x00bytes", b""],
        [],
        "scalar \u00e9".encode(),
    ]
    assert all(v.dtype == object and not v.flags.writeable for v in values)
    assert values[1].shape == (0, 2)
    doc = _doc(to_bytes(p))
    assert doc["blobs"] == []  # string arrays are JSON lists, not blobs


def test_numeric_constants_come_back_read_only_and_exact() -> None:
    g = tf.Graph()
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(3, 4)).astype(np.float16),
        rng.normal(size=(5,)),
        rng.integers(-(2**62), 2**62, size=(2, 2)),
        np.array([0, 255], np.uint8),
        np.array([2**64 - 1], np.uint64),
        np.array([[True, False]]),
        np.zeros((0, 3), np.float32),
        np.array(-0.0, np.float32),
    ]
    with g.as_default():
        p = lower(g, [tf.constant(a) for a in arrays], {}).program
    q = roundtrip(p)
    got = [n.attrs["value"] for n in q.nodes]
    assert len(got) == len(arrays)
    for a, b in zip(arrays, got):
        assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
        assert not b.flags.writeable and b.flags.c_contiguous


def _samples() -> list[Any]:
    out = []
    for opdef in reg.all_ops():
        if opdef.samples is None:
            continue
        for k, _ in enumerate(opdef.samples(np.random.default_rng(0))):
            out.append(pytest.param(opdef.name, k, id=f"{opdef.name}-{k}"))
    return out


@pytest.mark.parametrize("name,k", _samples())
def test_every_op_sample_round_trips(name: str, k: int) -> None:
    opdef = reg.get(name)
    sample = opdef.samples(np.random.default_rng(0))[k]  # type: ignore[misc]
    assert reg.attr_problem(opdef.attrs, sample.attrs) is None  # type: ignore[arg-type]
    p = H.one_node_program(opdef, sample)
    q = roundtrip(p)
    (node,) = q.nodes
    assert set(node.attrs) == set(sample.attrs)
    for key, v in sample.attrs.items():
        if isinstance(v, np.ndarray):
            assert node.attrs[key].tobytes() == v.tobytes() and node.attrs[key].dtype == v.dtype
        else:
            assert node.attrs[key] == v and type(node.attrs[key]) is type(v)


# -- canonical bytes and the hash --------------------------------------------------------------
def test_the_same_program_gives_the_same_bytes() -> None:
    p, opt = _mlp_step()
    assert to_bytes(p) == to_bytes(p)
    again, again_opt = _mlp_step()
    assert to_bytes(again) == to_bytes(p) and to_bytes(again_opt) == to_bytes(opt)
    doc = _doc(to_bytes(p))
    text = to_bytes(p)[encoding.HEADER.size : encoding.HEADER.size + _json_len(to_bytes(p))]
    assert text == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_graphs_built_alike_with_other_names_hash_the_same() -> None:
    a, a_opt = _mlp_step("first_")
    b, b_opt = _mlp_step("second/")
    assert to_bytes(a) != to_bytes(b)  # the names are in the bytes
    assert to_bytes(a, names=False) == to_bytes(b, names=False)
    assert a.content_hash() == b.content_hash() and a_opt.content_hash() == b_opt.content_hash()
    doc = _doc(to_bytes(a, names=False))
    assert all(x["name"] == "" for x in doc["params"])
    assert all(n["origin"] is None for n in doc["nodes"])
    assert {o["name"] for o in doc["outputs"] if o["kind"] == "update"} == {""}
    assert [o["name"] for o in doc["outputs"] if o["kind"] == "fetch"] == ["0"]


def test_the_hash_sees_constants_devices_and_dims() -> None:
    def program(scale: float, device: str, batch: int | None) -> Program:
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [batch, 3])
            with tf.device(device):
                y = x * scale
            return lower(g, [y], {x: (tf.float32, (2, 3))}).program

    base = program(2.0, "", None).content_hash()
    assert program(2.0, "", None).content_hash() == base
    assert program(-2.0, "", None).content_hash() != base
    assert program(2.0, "/cpu:0", None).content_hash() != base
    assert program(2.0, "", 2).content_hash() != base
    assert program(0.0, "", None).content_hash() != program(-0.0, "", None).content_hash()


# -- floats keep every bit -----------------------------------------------------------------------
_EDGE_BITS = [
    0x0000000000000000,  # 0.0
    0x8000000000000000,  # -0.0
    0x7FF8000000000000,  # quiet NaN
    0xFFF8000000000000,  # -NaN
    0x7FF0000000000001,  # signalling NaN payload
    0x7FFFFFFFFFFFFFFF,  # NaN, every payload bit
    0x7FF0000000000000,  # inf
    0xFFF0000000000000,  # -inf
    0x0000000000000001,  # the smallest subnormal
    0x800FFFFFFFFFFFFF,  # the largest negative subnormal
    0x7FEFFFFFFFFFFFFF,  # the largest finite
    0x3FB999999999999A,  # 0.1
]


def _float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def _bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


@pytest.mark.parametrize("bits", _EDGE_BITS, ids=hex)
def test_float_attrs_round_trip_bit_for_bit(bits: int) -> None:
    v = _float(bits)
    sample = reg.Sample([np.ones((2, 2), np.float32)], {"alpha": v})
    q = roundtrip(H.one_node_program(reg.get("LeakyRelu"), sample))
    assert _bits(q.nodes[0].attrs["alpha"]) == bits
    onehot = reg.Sample(
        [np.array([0, 1], np.int32)],
        {"depth": 2, "on_value": v, "off_value": -v, "axis": -1, "dtype": tf.float64},
    )
    q = roundtrip(H.one_node_program(reg.get("OneHot"), onehot))
    assert _bits(q.nodes[0].attrs["on_value"]) == bits
    assert _bits(q.nodes[0].attrs["off_value"]) == bits ^ (1 << 63)


def _edge_literals() -> list[Any]:
    out: list[Any] = [_float(b) for b in _EDGE_BITS]
    for dt, bits in [
        (np.float64, _EDGE_BITS),
        (np.float32, [0x0, 0x80000000, 0x7FC00000, 0x7F800001, 0xFF800000, 0x00000001, 0x7FFFFFFF]),
        (np.float16, [0x0, 0x8000, 0x7E00, 0x7C01, 0xFC00, 0x0001, 0x7FFF]),
    ]:
        width = np.dtype(dt).itemsize
        out += [np.frombuffer(b.to_bytes(width, "little"), dt)[0] for b in bits]
    return out


def test_float_literals_in_scalar_expressions_round_trip_bit_for_bit() -> None:
    literals = _edge_literals()
    fused = reg.get("Fused")
    assert fused.samples is not None
    sample = fused.samples(np.random.default_rng(0))[0]
    key = next(k for k, v in sample.attrs.items() if isinstance(v, S.SExpr))
    # One expression holding every literal (the loader does not run the op's rules).
    expr = sample.attrs[key]
    for lit in literals:
        expr = S.SExpr("select", (S.SExpr("const", (), True), expr, S.SExpr("const", (), lit)))
    p = H.one_node_program(fused, sample)
    p.nodes[0].attrs[key] = expr
    data = to_bytes(p)
    q = from_bytes(data)
    assert to_bytes(q) == data
    got = q.nodes[0].attrs[key]
    assert got is expr  # interning gives back the very same expression
    found = [e.attr for e in S.postorder(got) if e.op == "const" and e.attr is not True]
    assert len(found) >= len(literals)
    for lit in literals:
        match = [
            f for f in found if type(f) is type(lit) and np.asarray(f).tobytes() == np.asarray(lit).tobytes()
        ]
        assert match, lit


# -- crafted input --------------------------------------------------------------------------------
def _json_len(data: bytes) -> int:
    return int(encoding.HEADER.unpack_from(data, 0)[1])


def _doc(data: bytes) -> dict[str, Any]:
    n = _json_len(data)
    return json.loads(data[encoding.HEADER.size : encoding.HEADER.size + n])


def _blobs(data: bytes) -> bytes:
    return data[encoding.HEADER.size + _json_len(data) :]


def _pack(doc: Any, blobs: bytes = b"", text: str | None = None) -> bytes:
    body = (text if text is not None else json.dumps(doc, sort_keys=True, separators=(",", ":"))).encode()
    return encoding.HEADER.pack(encoding.MAGIC, len(body)) + body + blobs


def _base() -> bytes:
    """x + c, a bool constant and a fused expression with a shared subexpression."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        c = tf.constant([1.0, 2.0, 3.0])
        flags = tf.constant([True, False])
        y = tf.reduce_sum(tf.exp(x + c) * tf.exp(x + c), axis=1)
        p = pipeline.optimize(lower(g, [y, flags, tf.reshape(x, [-1])], {x: (tf.float32, (2, 3))}).program)
    return to_bytes(p)


BASE = _base()


def _node(doc: dict[str, Any], op: str) -> dict[str, Any]:
    return next(n for n in doc["nodes"] if n["op"] == op)


def _edit(fn: Any) -> bytes:
    doc = _doc(BASE)
    blobs = fn(doc)
    return _pack(doc, blobs if isinstance(blobs, bytes) else _blobs(BASE))


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def fn(doc: dict[str, Any]) -> None:
        obj: Any = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return fn


def _deep_attr(doc: dict[str, Any]) -> None:
    v: Any = 1
    for _ in range(200):
        v = [v]
    _node(doc, "Const")["attrs"]["value"] = v


def _atom_blowup(doc: dict[str, Any]) -> None:
    # Each atom is max(previous, previous + 1): its printed form doubles at every level.
    atoms = [["A"]]
    for k in range(1, 80):
        prev = {"poly": [[1, [[k - 1, 1]]]]}
        plus = {"poly": [[1, []], [1, [[k - 1, 1]]]]}
        atoms.append(["max", prev, plus])
    doc["atoms"] = atoms


def _later_input(doc: dict[str, Any]) -> None:
    nodes = doc["nodes"]
    n_values = len(doc["params"]) + sum(len(n["out"]) for n in nodes)
    nodes[0]["in"] = [n_values - 1]  # the last node's output, before it is defined


def _bool_byte(doc: dict[str, Any]) -> bytes:
    blobs = bytearray(_blobs(BASE))
    k = next(i for i, b in enumerate(doc["blobs"]) if b["dtype"] == "bool")
    blobs[doc["blobs"][k]["offset"]] = 2
    return bytes(blobs)


def _huge_blob(doc: dict[str, Any]) -> None:
    doc["blobs"][0]["shape"] = [2**40, 2**40]
    doc["blobs"][0]["length"] = 2**80 * 4


def _blob_twice(doc: dict[str, Any]) -> None:
    consts = [n for n in doc["nodes"] if n["op"] == "Const" and "array" in n["attrs"]["value"]]
    consts[1]["attrs"]["value"] = {"array": 0}


def _object_blob(doc: dict[str, Any]) -> None:
    doc["blobs"][0]["dtype"] = "string"


def _string_attr(shape: list[int], items: list[Any]) -> Any:
    return _set(("nodes", 0, "attrs", "value"), {"strings": items, "shape": shape})


class _Boom:
    """Unpickling this sets a flag: loading must never get that far."""

    fired = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Boom._fire, ())

    @staticmethod
    def _fire() -> None:
        _Boom.fired = True


CRAFTED: dict[str, tuple[Any, str]] = {
    "empty": (b"", "truncated"),
    "truncated header": (BASE[:10], "truncated"),
    "truncated document": (BASE[: encoding.HEADER.size + 30], "truncated"),
    "truncated blobs": (BASE[:-1], "blob"),
    "trailing bytes": (BASE + b"\0", "after the last blob"),
    "bad magic": (b"NOTGRAPH" + BASE[8:], "not a graphc program"),
    "a pickle": (pickle.dumps(_Boom()), "not a graphc program"),
    "huge document length": (encoding.MAGIC + struct.pack("<Q", 2**63) + BASE[16:], "truncated"),
    "bad JSON": (_pack(None, text='{"format": "graphc.program",'), "malformed"),
    "not ASCII": (encoding.HEADER.pack(encoding.MAGIC, 2) + b"\xff\xfe", "malformed"),
    "a JSON float": (
        _pack(None, text=json.dumps(_doc(BASE)).replace('"version": 1', '"version": 1.0')),
        "float",
    ),
    "NaN in JSON": (_pack(None, text='{"version": NaN}'), "not JSON"),
    "deep nesting": (_pack(None, text="[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "not an object": (_pack([1, 2]), "must be a JSON object"),
    "wrong format": (_edit(_set(("format",), "other.program")), "format"),
    "wrong version": (_edit(_set(("version",), 2)), "version 2"),
    "a field missing": (_edit(lambda d: d.pop("assertions")), "missing fields \\['assertions'\\]"),
    "an unknown field": (_edit(_set(("extra",), 1)), "unknown fields \\['extra'\\]"),
    "unknown op": (_edit(_set(("nodes", 0, "op"), "NoSuchOp")), "no op named 'NoSuchOp'"),
    "attr not in schema": (_edit(lambda d: _node(d, "Reshape")["attrs"].update(bogus=1)), "'bogus'"),
    "attr of the wrong type": (
        _edit(lambda d: _node(d, "Const")["attrs"].update(dtype=3)),
        "attr 'dtype' is 3",
    ),
    "a required attr missing": (_edit(lambda d: _node(d, "Const")["attrs"].pop("dtype")), "lacks"),
    "attr nested deeply": (_edit(_deep_attr), "nested more than"),
    "attr object of no kind": (_edit(lambda d: _node(d, "Const")["attrs"].update(dtype={"x": 1})), "fields"),
    "input defined later": (_edit(_later_input), "out of range"),
    "input out of range": (_edit(_set(("nodes", 1, "in"), [10**6])), "out of range"),
    "input a negative number": (_edit(_set(("nodes", 1, "in"), [-1])), "out of range"),
    "input a bool": (_edit(_set(("nodes", 1, "in"), [True])), "out of range"),
    "output value out of range": (_edit(_set(("outputs", 0, "value"), 999)), "output 0 value"),
    "unknown param kind": (_edit(_set(("params", 0, "kind"), "constant")), "param 0 kind"),
    "unknown dtype": (_edit(_set(("params", 0, "type", 0), "float128")), "unknown dtype"),
    "a negative dim": (_edit(_set(("params", 0, "type", 1, 1), -3)), "dim 1 is -3"),
    "a huge int": (_edit(_set(("params", 0, "type", 1, 1), 2**70)), "must be an int in"),
    "a constant polynomial": (_edit(_set(("params", 0, "type", 1, 0), {"poly": [[5, []]]})), "constant"),
    "a zero coefficient": (_edit(_set(("params", 0, "type", 1, 0), {"poly": [[0, [[0, 1]]]]})), "nonzero"),
    "an atom out of range": (_edit(_set(("params", 0, "type", 1, 0), {"poly": [[1, [[7, 1]]]]})), "atom"),
    "a huge power": (_edit(_set(("params", 0, "type", 1, 0), {"poly": [[1, [[0, 10**6]]]]})), "power"),
    "an atom of no kind": (_edit(_set(("atoms", 0), ["pow", 1, 2])), "not one of"),
    "atoms that double": (_edit(_atom_blowup), "would print as"),
    "binding of a missing param": (_edit(_set(("bindings", 0, "param"), 5)), "binding 0 param"),
    "binding past the rank": (_edit(_set(("bindings", 0, "axis"), 2)), "binding 0 axis"),
    "bad origin": (_edit(_set(("nodes", 0, "origin"), ["a", "b"])), "origin"),
    "blob offset past the end": (_edit(_set(("blobs", 0, "offset"), 10**6)), "offset"),
    "blob length wrong": (_edit(_set(("blobs", 0, "length"), 3)), "length"),
    "huge shape in a blob header": (_edit(_huge_blob), "more bytes than the data holds"),
    "a blob of strings": (_edit(_object_blob), "numeric or bool"),
    "a bool blob byte of 2": (_edit(_bool_byte), "other than 0 and 1"),
    "a blob used twice": (_edit(_blob_twice), "blob 0 where blob 1 comes next"),
    "huge string array": (_edit(_string_attr([2**40, 2**40], ["a"])), "strings for shape"),
    "a string above latin-1": (_edit(_string_attr([1], ["\u20ac"])), "U\\+00FF"),
    "unknown scalar primitive": (
        _edit(_set(("sexprs", 0), ["launch", [], None])),
        "unknown scalar primitive",
    ),
    "expression forward reference": (_edit(_set(("sexprs", 0), ["neg", [5], None])), "arg"),
    "input index not an int": (_edit(_set(("sexprs", 0), ["in", [], "x"])), "input index"),
    "a bad float literal": (_edit(_set(("sexprs", 0), ["const", [], {"f": "zz" * 8}])), "not hex"),
    "a short NumPy literal": (
        _edit(_set(("sexprs", 0), ["const", [], {"np": ["float32", "00"]}])),
        "hex digits",
    ),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_input_raises_serialization_error(name: str) -> None:
    data, match = CRAFTED[name]
    with pytest.raises(SerializationError, match=match):
        from_bytes(data)
    assert not _Boom.fired


def test_the_base_of_the_crafted_cases_loads() -> None:
    doc = _doc(BASE)
    assert doc["sexprs"] and doc["atoms"] and any(b["dtype"] == "bool" for b in doc["blobs"])
    assert _pack(doc, _blobs(BASE)) == BASE
    roundtrip(from_bytes(BASE))


def test_corrupted_bytes_load_or_raise_serialization_error() -> None:
    rng = random.Random(0)
    loaded = 0
    for _ in range(400):
        data = bytearray(BASE)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)) :]
        try:
            q = from_bytes(bytes(data))
        except SerializationError:
            continue
        to_bytes(q)  # whatever loads is a program that can be written again
        loaded += 1
    assert loaded < 400


def test_loading_takes_only_bytes() -> None:
    with pytest.raises(SerializationError, match="expected bytes"):
        from_bytes("GRAPHCP\n")  # type: ignore[arg-type]
    assert from_bytes(bytearray(BASE)).canonical_text() == from_bytes(memoryview(BASE)).canonical_text()


# -- writing refuses what could not load -------------------------------------------------------------
def _const(value: Any, dtype: Any = tf.float32) -> Program:
    node = Node("Const", [], {"value": value, "dtype": dtype}, [])
    node.outputs.append(Value(tf.float32, tuple(np.shape(value)), node, 0))
    return Program([], [node], [Output(node.outputs[0], "fetch", "0")])


def test_writing_refuses_object_arrays_and_values_of_no_schema() -> None:
    with pytest.raises(SerializationError, match="attr 'value'"):
        to_bytes(_const(np.array([_Boom()], dtype=object)))
    with pytest.raises(SerializationError, match="attr 'value'"):
        to_bytes(_const([1.0, 2.0]))  # a list is not an array
    with pytest.raises(SerializationError, match="attr 'dtype'"):
        to_bytes(_const(np.ones(2, np.float32), "float32"))
    bad = _const(np.ones(2, np.float32))
    bad.nodes[0].attrs["_note"] = "x"
    with pytest.raises(SerializationError, match="'_note'"):
        to_bytes(bad)
    with pytest.raises(VerificationError, match="'_note'"):
        verify(bad)


def test_serialization_never_unpickles() -> None:
    """The loader and writer import nothing that unpickles or evaluates, and never let
    NumPy load pickles."""
    forbidden = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "copyreg", "importlib", "joblib"}
    for path in (ROOT / "graphc/ir/serialize.py", ROOT / "graphc/ir/encoding.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden, path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in forbidden, path
            if isinstance(node, ast.Name):
                assert node.id not in ("eval", "exec", "__import__", "compile"), path
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("load", "loads", "allow_pickle") or (
                    isinstance(node.value, ast.Name) and node.value.id == "json"
                ), (path, node.attr)


# -- the registry's contract ---------------------------------------------------------------------------
def test_every_op_declares_an_attr_schema_and_known_traits() -> None:
    used: set[str] = set()
    for opdef in reg.all_ops():
        assert isinstance(opdef.attrs, dict), opdef.name
        assert all(isinstance(t, reg.AttrType) for t in opdef.attrs.values()), opdef.name
        assert opdef.traits <= reg.TRAITS.keys(), opdef.name
        used |= opdef.traits
    assert used == set(reg.TRAITS), "every trait is used by an op"  # no trait left declared for nothing


def _opdef(**kw: Any) -> reg.OpDef:
    base: dict[str, Any] = dict(
        name="GraphcTestSchema",
        shape=lambda ctx: [ctx.shapes[0]],
        dtype=lambda ctx: [ctx.dtypes[0]],
        reference=lambda ins, attrs: [ins[0]],
        grad=reg.NOT_DIFFERENTIABLE,
        attrs={},
        no_samples="test",
    )
    base.update(kw)
    return reg.OpDef(**base)


def test_register_refuses_unknown_traits_and_a_missing_schema() -> None:
    with pytest.raises(ValueError, match="unknown traits \\['layout'\\]"):
        reg.register(_opdef(traits=frozenset({"layout"})))
    with pytest.raises(ValueError, match="needs an attribute schema"):
        reg.register(_opdef(attrs=None))
    with pytest.raises(ValueError, match="AttrType"):
        reg.register(_opdef(attrs={"k": int}))
    assert "GraphcTestSchema" not in {o.name for o in reg.all_ops()}
    with pytest.raises(ValueError, match="unknown attr type"):
        reg.AttrType("complex")


@pytest.mark.parametrize(
    "t,good,bad",
    [
        (reg.INT, [0, -5, 2**70], [True, 1.0, np.int64(1), None]),
        (reg.FLOAT, [0.5, float("nan")], [1, np.float32(1.0), True]),
        (reg.BOOL, [True, False], [1, np.bool_(True)]),
        (reg.SCALAR, [True, 3, 2.5], ["3", None, np.float64(1)]),
        (reg.DTYPE, [tf.float32, tf.string], ["float32", np.float32]),
        (reg.DIM, [3, sym.symbol("N")], [3.0, None]),
        (
            reg.ARRAY,
            [np.ones(2), np.array([b"a"], dtype=object)],
            [[1.0], np.array(["a"], dtype=object), np.ones(2, complex)],
        ),
        (reg.SHAPE, [None, (), (None, 3), (sym.symbol("N"),)], [[3], (3.0,)]),
        (reg.optional(reg.AXES), [None, (), (0, -1)], [[0], (0.0,)]),
        (reg.choice("SAME", "VALID"), ["SAME"], ["same", 1]),
        (reg.record(reg.INT, reg.STR), [(1, "a")], [(1,), (1, "a", 2), [1, "a"]]),
        (reg.one_of(reg.INT, reg.FLOAT), [1, 1.5], ["1", None]),
        (
            reg.SLICE_SPEC,
            [(("int", 1), ("slice", None, 3, -1), ("newaxis",), ("ellipsis",))],
            [(("slice", 1),), (("range", 1),)],
        ),
    ],
    ids=lambda v: repr(v) if isinstance(v, reg.AttrType) else "",
)
def test_attr_types_check_exact_python_types(t: reg.AttrType, good: list[Any], bad: list[Any]) -> None:
    assert all(t.check(v) for v in good), [v for v in good if not t.check(v)]
    assert not any(t.check(v) for v in bad), [v for v in bad if t.check(v)]


def test_attr_problem_names_what_is_wrong() -> None:
    schema = {"axis": reg.AXIS, "keep": reg.omittable(reg.BOOL)}
    assert reg.attr_problem(schema, {"axis": 1}) is None
    assert reg.attr_problem(schema, {"axis": 1, "keep": True}) is None
    assert "lacks the required attr 'axis'" in str(reg.attr_problem(schema, {"keep": True}))
    assert "'extra'" in str(reg.attr_problem(schema, {"axis": 1, "extra": 2}))
    assert "not int" in str(reg.attr_problem(schema, {"axis": "1"}))


def test_verify_checks_every_node_against_its_schema() -> None:
    opdef = reg.get("ConcatV2")
    sample = opdef.samples(np.random.default_rng(0))[0]  # type: ignore[misc]
    p = H.one_node_program(opdef, sample)
    verify(p)
    p.nodes[0].attrs["axis"] = np.int64(1)
    with pytest.raises(VerificationError, match="attr 'axis' is .*1.* \\(int64\\), not int"):
        verify(p)
    del p.nodes[0].attrs["axis"]
    with pytest.raises(VerificationError, match="lacks the required attr 'axis'"):
        verify(p)


def test_folding_uses_the_shape_only_trait() -> None:
    assert {"Shape", "Size", "Rank", "ZerosLike", "OnesLike"} <= {
        o.name for o in reg.all_ops() if o.has("shape_only")
    }
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3])
        p = lower(g, [tf.ones_like(x) + x], {x: (tf.float32, (2, 3))}).program
    folded = fold(p)
    assert "OnesLike" not in {n.op for n in folded.nodes}
    const = next(n for n in folded.nodes if n.op == "Const")
    assert const.attrs["value"].tolist() == [[1.0] * 3] * 2


# -- the verifier's round trip --------------------------------------------------------------------
def test_the_round_trip_check_remembers_programs_it_has_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _nested_dims()
    assert serialize.round_trip_problem(p) is None

    def no_loading(data: bytes) -> Program:
        raise AssertionError("loaded again")

    monkeypatch.setattr(serialize, "from_bytes", no_loading)
    again = _nested_dims()
    assert serialize.round_trip_problem(again) is None  # the same bytes: remembered
    again.nodes[1].attrs["value"] = np.array([1.5, 0.0], np.float32)  # -0.0 became 0.0
    with pytest.raises(AssertionError, match="loaded again"):
        serialize.round_trip_problem(again)


def test_the_round_trip_check_catches_what_the_writer_leaves_out(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _nested_dims()
    p.nodes[0].origin = Origin("a fresh origin", "Identity", "nowhere")  # bytes not seen before
    monkeypatch.setattr(encoding._Writer, "origin", lambda self, o: None)
    problem = serialize.round_trip_problem(p)
    assert problem is not None and "node 0 (Identity): op, device or origin" in problem
    with pytest.raises(VerificationError, match="does not round-trip"):
        verify(p)


def test_difference_compares_exact_values() -> None:
    def leaky(alpha: Any) -> Program:
        return H.one_node_program(
            reg.get("LeakyRelu"), reg.Sample([np.ones(2, np.float32)], {"alpha": alpha})
        )

    assert serialize.difference(leaky(0.5), leaky(0.5)) is None
    assert serialize.difference(leaky(0.0), leaky(-0.0)) == "node 0 (LeakyRelu): attrs"
    assert serialize.difference(leaky(1.0), leaky(1)) == "node 0 (LeakyRelu): attrs"  # a float is not an int
    nan, other_nan = _float(0x7FF8000000000000), _float(0x7FF8000000000001)
    assert serialize.difference(leaky(nan), leaky(nan)) is None
    assert serialize.difference(leaky(nan), leaky(other_nan)) is not None
    a, b = _nested_dims(), _nested_dims()
    b.defined_dims[0].axis = 0
    assert serialize.difference(a, b) == "defined dims"
    b = _nested_dims()
    b.params[1].name = "other"
    assert serialize.difference(a, b) == "param 1"
