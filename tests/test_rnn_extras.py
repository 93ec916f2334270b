"""The rest of TF1's recurrent API around the cells: ``tf.nn.dynamic_rnn`` / ``static_rnn``
with nested inputs, outputs and states (and ``zero_state`` of nested state sizes),
``ResidualWrapper``, ``DeviceWrapper`` and ``tf.contrib.rnn.LayerNormBasicLSTMCell``, each
against a NumPy implementation of TF1's documented equations, on the NumPy and the LLVM
backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.backend import available_backends

rnn_cell = tf.nn.rnn_cell
BACKENDS = [b for b in ("numpy", "llvm") if b in available_backends()]
RNG = np.random.default_rng(11)
B, T, H = 3, 4, 5


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _NestCell(rnn_cell.RNNCell):
    """Inputs ``(a [B, 2], b [B, 3])``; state ``(h [B, H], s [B, 2, 2])``;
    ``h' = tanh(a Wa + b Wb + h U)``, ``s' = s + outer(a, a)``; outputs ``(h', sum(b))``."""

    @property
    def state_size(self) -> Any:
        return (H, tf.TensorShape([2, 2]))

    @property
    def output_size(self) -> Any:
        return (H, 1)

    def build(self, inputs_shape: Any) -> None:
        sa, sb = inputs_shape
        self.wa = self.add_variable("wa", [sa.as_list()[-1], H])
        self.wb = self.add_variable("wb", [sb.as_list()[-1], H])
        self.u = self.add_variable("u", [H, H])
        self.built = True

    def call(self, inputs: Any, state: Any) -> Any:
        a, b = inputs
        h, s = state
        h2 = tf.tanh(tf.matmul(a, self.wa) + tf.matmul(b, self.wb) + tf.matmul(h, self.u))
        s2 = s + tf.expand_dims(a, 2) * tf.expand_dims(a, 1)
        return (h2, tf.reduce_sum(b, 1, keepdims=True)), (h2, s2)


def _np_nest(a: np.ndarray, b: np.ndarray, w: dict[str, np.ndarray], lengths: list[int]) -> tuple:
    h = np.zeros((B, H), np.float32)
    s = np.zeros((B, 2, 2), np.float32)
    o1 = np.zeros((B, T, H), np.float32)
    o2 = np.zeros((B, T, 1), np.float32)
    for t in range(T):
        live = (t < np.asarray(lengths))[:, None]
        h2 = np.tanh(a[:, t] @ w["wa"] + b[:, t] @ w["wb"] + h @ w["u"])
        s2 = s + a[:, t, :, None] * a[:, t, None, :]
        o1[:, t] = np.where(live, h2, 0)
        o2[:, t] = np.where(live, b[:, t].sum(1, keepdims=True), 0)
        h = np.where(live, h2, h)
        s = np.where(live[:, :, None], s2, s)
    return o1, o2, h, s


@pytest.mark.parametrize("backend", BACKENDS)
def test_dynamic_and_static_rnn_with_nested_inputs_outputs_and_states(backend: str) -> None:
    a_np = RNG.standard_normal((B, T, 2)).astype(np.float32)
    b_np = RNG.standard_normal((B, T, 3)).astype(np.float32)
    lengths = [4, 2, 0]
    a = tf.placeholder(tf.float32, [None, T, 2])
    b = tf.placeholder(tf.float32, [None, T, 3])
    cell = _NestCell()
    zero = cell.zero_state(7, tf.float32)
    assert [z.shape.as_list() for z in (zero[0], zero[1])] == [[7, H], [7, 2, 2]]
    (o1, o2), (h, s) = tf.nn.dynamic_rnn(cell, (a, b), sequence_length=lengths, dtype=tf.float32)
    assert o1.shape.as_list() == [None, T, H] and o2.shape.as_list() == [None, T, 1]
    steps = [(a[:, t], b[:, t]) for t in range(T)]
    s_outs, (sh, ss) = tf.nn.static_rnn(cell, steps, sequence_length=lengths, dtype=tf.float32, scope="rnn")
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        w = {v.op.name.rsplit("/", 1)[-1]: sess.run(v) for v in cell.variables}
        got = sess.run([o1, o2, h, s, sh, ss, s_outs], {a: a_np, b: b_np})
    assert sorted(v.op.name for v in tf.global_variables()) == [
        "rnn/rnn_cell/u",
        "rnn/rnn_cell/wa",
        "rnn/rnn_cell/wb",
    ]
    ref = _np_nest(a_np, b_np, w, lengths)
    for g, r in zip(got[:4], ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[4], ref[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[5], ref[3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack([o[0] for o in got[6]], 1), ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack([o[1] for o in got[6]], 1), ref[1], rtol=1e-5, atol=1e-5)


def test_nested_inputs_of_different_lengths_are_an_error() -> None:
    a = tf.placeholder(tf.float32, [B, T, 2])
    b = tf.placeholder(tf.float32, [B, T + 1, 3])
    with pytest.raises(ValueError, match="same batch and time"):
        tf.nn.dynamic_rnn(_NestCell(), (a, b), dtype=tf.float32)


def test_zero_state_of_nested_state_sizes() -> None:
    cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(2), _NestCell(), rnn_cell.GRUCell(3)])
    z = cell.zero_state(4, tf.float64)
    assert isinstance(z[0], rnn_cell.LSTMStateTuple)
    shapes = [t.shape.as_list() for t in (z[0].c, z[0].h, z[1][0], z[1][1], z[2])]
    assert shapes == [[4, 2], [4, 2], [4, H], [4, 2, 2], [4, 3]]
    with tf.Session() as sess:
        values = sess.run(z)
    assert all(np.all(v == 0) for v in (values[0].c, values[0].h, values[1][0], values[1][1], values[2]))
    assert values[2].dtype == np.float64


@pytest.mark.parametrize("backend", BACKENDS)
def test_residual_wrapper_adds_the_inputs_and_keeps_the_names(backend: str) -> None:
    xs = RNG.standard_normal((B, T, H)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, T, H])
    base = rnn_cell.BasicRNNCell(H)
    cell = tf.contrib.rnn.ResidualWrapper(base)
    assert tf.contrib.rnn.ResidualWrapper is rnn_cell.ResidualWrapper
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    twice = rnn_cell.ResidualWrapper(base, residual_fn=lambda i, o: 2.0 * i + o)
    out2, _ = tf.nn.dynamic_rnn(twice, x, dtype=tf.float32, scope="rnn")
    assert sorted(v.op.name for v in tf.global_variables()) == [
        "rnn/basic_rnn_cell/bias",
        "rnn/basic_rnn_cell/kernel",
    ]
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        kernel, bias = sess.run([base._kernel, base._bias])
        o, s, o2 = sess.run([out, st, out2], {x: xs})
    h = np.zeros((B, H), np.float32)
    for t in range(T):
        h = np.tanh(np.concatenate([xs[:, t], h], 1) @ kernel + bias)
        np.testing.assert_allclose(o[:, t], xs[:, t] + h, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(o2[:, t], 2 * xs[:, t] + h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s, h, rtol=1e-5, atol=1e-5)  # the state is the cell's, no residual


def test_residual_wrapper_needs_matching_shapes() -> None:
    x = tf.placeholder(tf.float32, [B, T, 3])
    with pytest.raises(ValueError, match="incompatible"):
        tf.nn.dynamic_rnn(rnn_cell.ResidualWrapper(rnn_cell.BasicRNNCell(H)), x, dtype=tf.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_device_wrapper_places_the_cell_and_computes_the_same(backend: str) -> None:
    xs = RNG.standard_normal((B, T, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [B, T, 2])
    base = rnn_cell.GRUCell(H)
    cell = tf.contrib.rnn.DeviceWrapper(base, "/cpu:0")
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    plain, _ = tf.nn.dynamic_rnn(base, x, dtype=tf.float32, scope="rnn")
    assert all(v.op.device == "/cpu:0" for v in base.variables) and len(base.variables) == 4
    zero = cell.zero_state(B, tf.float32)
    assert zero.op.device == "/cpu:0"
    body_ops = [op for op in tf.get_default_graph().get_operations() if op.type == "Sigmoid"]
    assert body_ops and {op.device for op in body_ops} == {"/cpu:0", ""}  # the wrapped call and the plain one
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        o, s, p = sess.run([out, st, plain], {x: xs})
    np.testing.assert_allclose(o, p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s, p[:, -1], rtol=1e-6, atol=1e-6)


def _np_ln(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = z.mean(1, keepdims=True)
    var = ((z - mean) ** 2).mean(1, keepdims=True)
    return (z - mean) / np.sqrt(var + 1e-12) * gamma + beta


def _np_ln_lstm(xs: np.ndarray, w: dict[str, np.ndarray], layer_norm: bool, drop_g: bool = False) -> tuple:
    c = np.zeros((B, H))
    h = np.zeros((B, H))
    outs = []
    for t in range(xs.shape[1]):
        z = np.concatenate([xs[:, t], h], 1) @ w["kernel"]
        if not layer_norm:
            z = z + w["bias"]
        i, j, f, o = np.split(z, 4, axis=1)
        if layer_norm:
            i, j, f, o = (
                _np_ln(g, w[f"{n}/gamma"], w[f"{n}/beta"])
                for g, n in zip((i, j, f, o), ("input", "transform", "forget", "output"))
            )
        g = np.zeros_like(j) if drop_g else np.tanh(j)
        c = c * _sig(f + 1.0) + _sig(i) * g
        if layer_norm:
            c = _np_ln(c, w["state/gamma"], w["state/beta"])
        h = np.tanh(c) * _sig(o)
        outs.append(h)
    return np.stack(outs, 1), c, h


@pytest.mark.parametrize(("backend", "layer_norm"), [(b, True) for b in BACKENDS] + [("numpy", False)])
def test_layer_norm_basic_lstm_cell_against_numpy(backend: str, layer_norm: bool) -> None:
    xs = RNG.standard_normal((B, T, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, T, 2])
    keep = tf.placeholder_with_default(tf.constant(1.0), [])
    cell = tf.contrib.rnn.LayerNormBasicLSTMCell(
        H, layer_norm=layer_norm, norm_gain=1.5, norm_shift=0.25, dropout_keep_prob=keep, dropout_prob_seed=3
    )
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    names = sorted(v.op.name[len("rnn/layer_norm_basic_lstm_cell/") :] for v in cell.variables)
    if layer_norm:
        assert names == sorted(
            ["kernel"]
            + [
                f"{n}/{p}"
                for n in ("input", "transform", "forget", "output", "state")
                for p in ("gamma", "beta")
            ]
        )
    else:
        assert names == ["bias", "kernel"]
    with tf.Session(backend=backend) as sess:
        sess.run(tf.global_variables_initializer())
        w = {v.op.name[len("rnn/layer_norm_basic_lstm_cell/") :]: sess.run(v) for v in cell.variables}
        if layer_norm:  # the gains and shifts start at norm_gain / norm_shift; make them differ per unit
            np.testing.assert_array_equal(w["input/gamma"], np.full(H, 1.5, np.float32))
            np.testing.assert_array_equal(w["state/beta"], np.full(H, 0.25, np.float32))
            for v in cell.variables:
                key = v.op.name[len("rnn/layer_norm_basic_lstm_cell/") :]
                if key != "kernel":
                    w[key] = w[key] + RNG.uniform(-0.5, 0.5, H).astype(np.float32)
                    v.load(w[key], sess)
        o, (c, h) = sess.run([out, st], {x: xs})
        o_drop = sess.run(out, {x: xs, keep: 1e-7})  # nearly every g unit dropped
    ref_o, ref_c, ref_h = _np_ln_lstm(xs.astype(np.float64), w, layer_norm)
    np.testing.assert_allclose(o, ref_o, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(c, ref_c, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(h, ref_h, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        o_drop, _np_ln_lstm(xs.astype(np.float64), w, layer_norm, drop_g=True)[0], rtol=1e-4, atol=1e-4
    )


class _SumCell(rnn_cell.RNNCell):
    """Inputs ``(a, b)`` [B, 2] each; ``s' = s + a * b``, the output ``s'``."""

    @property
    def state_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 2

    def call(self, inputs: Any, state: Any) -> Any:
        a, b = inputs
        new = state + a * b
        return new, new


def test_bidirectional_rnns_with_nested_inputs_reverse_each_within_its_length() -> None:
    a_np = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    b_np = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    lengths = [3, 1]
    a = tf.placeholder(tf.float32, [2, 3, 2])
    b = tf.placeholder(tf.float32, [2, 3, 2])
    (of, ob), (sf, sb) = tf.nn.bidirectional_dynamic_rnn(
        _SumCell(), _SumCell(), (a, b), sequence_length=lengths, dtype=tf.float32
    )
    steps = [(a[:, t], b[:, t]) for t in range(3)]
    so, ssf, ssb = tf.nn.static_bidirectional_rnn(
        _SumCell(), _SumCell(), steps, sequence_length=lengths, dtype=tf.float32
    )
    with tf.Session(backend="numpy") as sess:
        got = sess.run([of, ob, sf, sb, so, ssf, ssb], {a: a_np, b: b_np})
    prod = a_np * b_np
    ref_f = np.zeros_like(prod)
    ref_b = np.zeros_like(prod)
    for i, n in enumerate(lengths):
        ref_f[i, :n] = np.cumsum(prod[i, :n], 0)
        ref_b[i, :n] = np.cumsum(prod[i, :n][::-1], 0)[::-1]  # in input order
    for g, r in ((got[0], ref_f), (got[1], ref_b), (np.stack(got[4], 1), np.concatenate([ref_f, ref_b], 2))):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    total = np.stack([prod[i, :n].sum(0) for i, n in enumerate(lengths)])
    for g in (got[2], got[3], got[5], got[6]):
        np.testing.assert_allclose(g, total, rtol=1e-5, atol=1e-6)
