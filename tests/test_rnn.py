"""Recurrent networks (graphc.ops.rnn_cell, graphc.ops.rnn, graphc.keras.recurrent): each
cell against a NumPy implementation of TF1's equations (LSTM gates i, j, f, o with
forget_bias added to f; GRU's r, u gates then the candidate from r * h), static_rnn and
dynamic_rnn against each other, sequence_length semantics (zero outputs past each length,
the state carried through), TF1's variable names and sharing, gradients by central
differences (float64), and the Keras layers' shapes and values against Keras's equations."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from tests.support import central as _central

rnn_cell = tf.nn.rnn_cell


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _values(sess: tf.Session, cell: object) -> dict[str, np.ndarray]:
    """The cell's variables by their name inside the cell's scope ("kernel", "gates/kernel")."""
    prefix = cell.name + "/"  # type: ignore[attr-defined]  (the cell's variable scope)
    return {v.op.name[len(prefix) :]: sess.run(v) for v in cell.variables}  # type: ignore[attr-defined]


# -- NumPy references of TF1's cells (x: [T, B, D]; states [B, H]) -----------------------------------
def np_basic_rnn(x: np.ndarray, h: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outs = []
    for t in range(x.shape[0]):
        h = np.tanh(np.concatenate([x[t], h], 1) @ w + b)
        outs.append(h)
    return np.stack(outs), h


def np_lstm(
    x: np.ndarray,
    c: np.ndarray,
    h: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    forget_bias: float = 1.0,
    peep: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    cell_clip: float | None = None,
    proj: np.ndarray | None = None,
    proj_clip: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1's LSTMCell (BasicLSTMCell without peep/clip/proj): [i, j, f, o] = [x, h] W + b."""
    outs = []
    for t in range(x.shape[0]):
        i, j, f, o = np.split(np.concatenate([x[t], h], 1) @ w + b, 4, axis=1)
        if peep is not None:
            wf, wi, wo = peep
            c = _sig(f + forget_bias + wf * c) * c + _sig(i + wi * c) * np.tanh(j)
        else:
            c = _sig(f + forget_bias) * c + _sig(i) * np.tanh(j)
        if cell_clip is not None:
            c = np.clip(c, -cell_clip, cell_clip)
        m = _sig(o + (peep[2] * c if peep is not None else 0.0)) * np.tanh(c)
        if proj is not None:
            m = m @ proj
            if proj_clip is not None:
                m = np.clip(m, -proj_clip, proj_clip)
        h = m
        outs.append(h)
    return (np.stack(outs) if outs else np.zeros((0, *h.shape))), c, h


def np_gru(
    x: np.ndarray, h: np.ndarray, wg: np.ndarray, bg: np.ndarray, wc: np.ndarray, bc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """TF1's GRUCell: r, u = sigmoid([x, h] Wg + bg); c = tanh([x, r h] Wc + bc); h' = u h + (1-u) c."""
    outs = []
    for t in range(x.shape[0]):
        r, u = np.split(_sig(np.concatenate([x[t], h], 1) @ wg + bg), 2, axis=1)
        cand = np.tanh(np.concatenate([x[t], r * h], 1) @ wc + bc)
        h = u * h + (1 - u) * cand
        outs.append(h)
    return np.stack(outs), h


RNG = np.random.default_rng(7)
T, B, D, H = 5, 3, 4, 6


def _x(dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal((B, T, D)).astype(dtype)


# -- cells against NumPy ----------------------------------------------------------------------------
def test_basic_rnn_cell_dynamic_rnn_batch_major_and_time_major() -> None:
    xs = _x()
    x = tf.placeholder(tf.float32, [None, T, D])
    cell = rnn_cell.BasicRNNCell(H)
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    out_tm, st_tm = tf.nn.dynamic_rnn(cell, tf.transpose(x, [1, 0, 2]), dtype=tf.float32, time_major=True)
    assert out.shape.as_list() == [None, T, H]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess, cell)
        o, s, o2, s2 = sess.run([out, st, out_tm, st_tm], {x: xs})
    ref_o, ref_s = np_basic_rnn(xs.transpose(1, 0, 2), np.zeros((B, H), np.float32), w["kernel"], w["bias"])
    np.testing.assert_allclose(o, ref_o.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o2, ref_o, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s2, ref_s, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("state_is_tuple", [True, False])
def test_basic_lstm_cell_forget_bias_and_initial_state(state_is_tuple: bool) -> None:
    xs = _x()
    c0 = RNG.standard_normal((B, H)).astype(np.float32)
    h0 = RNG.standard_normal((B, H)).astype(np.float32)
    x = tf.placeholder(tf.float32, [B, T, D])
    cell = rnn_cell.BasicLSTMCell(H, forget_bias=0.25, state_is_tuple=state_is_tuple)
    init = (
        rnn_cell.LSTMStateTuple(tf.constant(c0), tf.constant(h0))
        if state_is_tuple
        else tf.constant(np.concatenate([c0, h0], 1))
    )
    out, st = tf.nn.dynamic_rnn(cell, x, initial_state=init)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        # A bias with a visible effect on every gate.
        bias = RNG.standard_normal(4 * H).astype(np.float32)
        cell.variables[1].load(bias, sess)
        w = _values(sess, cell)
        o, s = sess.run([out, st], {x: xs})
    ref_o, ref_c, ref_h = np_lstm(xs.transpose(1, 0, 2), c0, h0, w["kernel"], bias, forget_bias=0.25)
    np.testing.assert_allclose(o, ref_o.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    if state_is_tuple:
        assert isinstance(s, tuple) and hasattr(s, "c")
        np.testing.assert_allclose(s.c, ref_c, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s.h, ref_h, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(s, np.concatenate([ref_c, ref_h], 1), rtol=1e-5, atol=1e-5)


def test_lstm_cell_peepholes_projection_and_clipping() -> None:
    xs = 3 * _x()
    x = tf.placeholder(tf.float32, [B, T, D])
    cell = rnn_cell.LSTMCell(H, use_peepholes=True, cell_clip=0.5, num_proj=3, proj_clip=0.2, forget_bias=0.5)
    assert cell.state_size == (H, 3) and cell.output_size == 3
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == [
        "rnn/lstm_cell/bias",
        "rnn/lstm_cell/kernel",
        "rnn/lstm_cell/projection/kernel",
        "rnn/lstm_cell/w_f_diag",
        "rnn/lstm_cell/w_i_diag",
        "rnn/lstm_cell/w_o_diag",
    ]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess, cell)
        assert w["kernel"].shape == (D + 3, 4 * H)
        o, s = sess.run([out, st], {x: xs})
    ref_o, ref_c, ref_h = np_lstm(
        xs.transpose(1, 0, 2),
        np.zeros((B, H), np.float32),
        np.zeros((B, 3), np.float32),
        w["kernel"],
        w["bias"],
        forget_bias=0.5,
        peep=(w["w_f_diag"], w["w_i_diag"], w["w_o_diag"]),
        cell_clip=0.5,
        proj=w["projection/kernel"],
        proj_clip=0.2,
    )
    assert np.abs(s.c).max() <= 0.5 + 1e-6 and np.abs(o).max() <= 0.2 + 1e-6
    np.testing.assert_allclose(o, ref_o.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.c, ref_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.h, ref_h, rtol=1e-5, atol=1e-5)


def test_gru_cell_and_its_variable_names() -> None:
    xs = _x()
    x = tf.placeholder(tf.float32, [B, T, D])
    cell = rnn_cell.GRUCell(H)
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == [
        "rnn/gru_cell/candidate/bias",
        "rnn/gru_cell/candidate/kernel",
        "rnn/gru_cell/gates/bias",
        "rnn/gru_cell/gates/kernel",
    ]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess, cell)
        np.testing.assert_array_equal(w["gates/bias"], np.ones(2 * H, np.float32))  # TF1's default
        o, s = sess.run([out, st], {x: xs})
    ref_o, ref_s = np_gru(
        xs.transpose(1, 0, 2),
        np.zeros((B, H), np.float32),
        w["gates/kernel"],
        w["gates/bias"],
        w["candidate/kernel"],
        w["candidate/bias"],
    )
    np.testing.assert_allclose(o, ref_o.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-5)


def test_multi_rnn_cell_names_values_and_static_equals_dynamic() -> None:
    xs = _x()
    x = tf.placeholder(tf.float32, [B, T, D])
    cells = [rnn_cell.BasicLSTMCell(H), rnn_cell.GRUCell(4)]
    cell = rnn_cell.MultiRNNCell(cells)
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == [
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias",
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel",
        "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/bias",
        "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/kernel",
        "rnn/multi_rnn_cell/cell_1/gru_cell/gates/bias",
        "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel",
    ]
    # The same cell unrolled by static_rnn reuses its variables (no new ones).
    s_out, s_st = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32)
    assert len(tf.global_variables()) == 6
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        lstm_w, gru_w = _values(sess, cells[0]), _values(sess, cells[1])
        o, s, so, ss = sess.run([out, st, s_out, s_st], {x: xs})
    xt = xs.transpose(1, 0, 2)
    o1, c1, h1 = np_lstm(xt, np.zeros((B, H)), np.zeros((B, H)), lstm_w["kernel"], lstm_w["bias"])
    o2, h2 = np_gru(
        o1,
        np.zeros((B, 4)),
        gru_w["gates/kernel"],
        gru_w["gates/bias"],
        gru_w["candidate/kernel"],
        gru_w["candidate/bias"],
    )
    np.testing.assert_allclose(o, o2.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s[0].c, c1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s[1], h2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack(so, 1), o, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ss[0].h, s[0].h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ss[1], s[1], rtol=1e-6, atol=1e-6)


# -- sequence_length ---------------------------------------------------------------------------------
def test_sequence_length_zero_outputs_and_carried_state_static_and_dynamic() -> None:
    xs = _x()
    lengths = np.array([5, 2, 0], np.int32)
    x = tf.placeholder(tf.float32, [None, T, D])
    sl = tf.placeholder(tf.int32, [None])
    cell = rnn_cell.BasicLSTMCell(H)
    out, st = tf.nn.dynamic_rnn(cell, x, sequence_length=sl, dtype=tf.float32)
    s_out, s_st = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), sequence_length=sl, dtype=tf.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess, cell)
        o, s, so, ss = sess.run([out, st, s_out, s_st], {x: xs, sl: lengths})
    for b in range(B):
        n = lengths[b]
        ref_o, ref_c, ref_h = np_lstm(
            xs[b : b + 1, :n].transpose(1, 0, 2), np.zeros((1, H)), np.zeros((1, H)), w["kernel"], w["bias"]
        )
        if n:
            np.testing.assert_allclose(o[b, :n], ref_o[:, 0], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(o[b, n:], 0.0)
        np.testing.assert_allclose(s.c[b], ref_c[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s.h[b], ref_h[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack(so, 1), o, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ss.c, s.c, rtol=1e-6, atol=1e-6)


def test_bidirectional_rnns_reverse_within_each_length() -> None:
    xs = _x()
    lengths = np.array([5, 3, 1], np.int32)
    x = tf.placeholder(tf.float32, [B, T, D])
    fw, bw = rnn_cell.GRUCell(H), rnn_cell.BasicRNNCell(2)
    (of, ob), (sf, sb) = tf.nn.bidirectional_dynamic_rnn(fw, bw, x, sequence_length=lengths, dtype=tf.float32)
    names = sorted(v.op.name for v in tf.global_variables())
    assert "bidirectional_rnn/fw/gru_cell/gates/kernel" in names
    assert "bidirectional_rnn/bw/basic_rnn_cell/kernel" in names
    with tf.variable_scope("static"):
        so, ssf, ssb = tf.nn.static_bidirectional_rnn(
            fw, bw, tf.unstack(x, axis=1), sequence_length=lengths, dtype=tf.float32
        )
    assert len(tf.global_variables()) == len(names)  # the cells keep their variables
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        g, r = _values(sess, fw), _values(sess, bw)
        a, b_, c, d, e, f, h = sess.run([of, ob, sf, sb, so, ssf, ssb], {x: xs})
    for k in range(B):
        n = lengths[k]
        seq = xs[k : k + 1, :n].transpose(1, 0, 2)
        rf, rsf = np_gru(
            seq,
            np.zeros((1, H)),
            g["gates/kernel"],
            g["gates/bias"],
            g["candidate/kernel"],
            g["candidate/bias"],
        )
        rb, rsb = np_basic_rnn(seq[::-1], np.zeros((1, 2)), r["kernel"], r["bias"])
        np.testing.assert_allclose(a[k, :n], rf[:, 0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(b_[k, :n], rb[::-1, 0], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(b_[k, n:], 0.0)
        np.testing.assert_allclose(c[k], rsf[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(d[k], rsb[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack(e, 1), np.concatenate([a, b_], 2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(f, c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h, d, rtol=1e-6, atol=1e-6)


# -- names and sharing --------------------------------------------------------------------------------
def test_variable_names_and_sharing_as_tf1() -> None:
    x = tf.placeholder(tf.float32, [2, 3, D])
    with tf.variable_scope("model"):
        tf.nn.dynamic_rnn(rnn_cell.BasicLSTMCell(H), x, dtype=tf.float32)
    with tf.variable_scope("model", reuse=True):
        tf.nn.dynamic_rnn(rnn_cell.BasicLSTMCell(H), x, dtype=tf.float32)  # shares model/rnn/...
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == ["model/rnn/basic_lstm_cell/bias", "model/rnn/basic_lstm_cell/kernel"]
    # A second cell called in the same scope gets a unique name, as TF1's default_name does;
    # a second RNN in a scope that was closed and reopened clashes, as in TF1.
    tf.nn.static_rnn(rnn_cell.BasicRNNCell(3), tf.unstack(x, axis=1), dtype=tf.float32)
    with pytest.raises(ValueError, match="already exists"):
        tf.nn.static_rnn(rnn_cell.BasicRNNCell(3), tf.unstack(x, axis=1), dtype=tf.float32)
    with tf.variable_scope("two"):
        c1, c2 = rnn_cell.BasicRNNCell(3), rnn_cell.BasicRNNCell(3)
        c2(c1(x[:, 0], c1.zero_state(2, tf.float32))[0], c2.zero_state(2, tf.float32))
    tf.nn.dynamic_rnn(rnn_cell.BasicRNNCell(3, name="mine"), x, dtype=tf.float32, scope="enc")
    names = sorted(v.op.name for v in tf.global_variables())
    assert "two/basic_rnn_cell/kernel" in names and "two/basic_rnn_cell_1/kernel" in names
    assert c2.variables[0].shape.as_list() == [6, 3]
    assert "enc/mine/kernel" in names and "enc/mine/bias" in names
    assert tf.trainable_variables("model")[0].shape.as_list() in ([4 * H], [D + H, 4 * H])


def test_inputs_of_unknown_depth_and_missing_dtype_are_errors() -> None:
    with pytest.raises(ValueError, match="dtype"):
        tf.nn.dynamic_rnn(rnn_cell.BasicRNNCell(2), tf.zeros([2, 3, 4]))
    with pytest.raises(ValueError, match="rank 3"):
        tf.nn.dynamic_rnn(rnn_cell.BasicRNNCell(2), tf.zeros([2, 4]), dtype=tf.float32)


# -- gradients -----------------------------------------------------------------------------------------


def test_dynamic_rnn_gradients_match_central_differences() -> None:
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((2, 3, 2))
    lengths = np.array([3, 2], np.int32)
    weights = rng.standard_normal(3)
    x = tf.placeholder(tf.float64, [2, 3, 2])
    cell = rnn_cell.LSTMCell(3, use_peepholes=True, num_proj=2)
    out, st = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float64)
    loss = tf.reduce_sum(tf.square(out)) + tf.reduce_sum(st.c * tf.constant(weights))
    kernel = cell.variables[0]
    gx, gk = tf.gradients(loss, [x, kernel])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess, cell)
        ax, ak = sess.run([gx, gk], {x: xs})

    def np_loss(xv: np.ndarray, kv: np.ndarray) -> float:
        total = 0.0
        for b in range(2):
            n = lengths[b]
            o, c, _ = np_lstm(
                xv[b : b + 1, :n].transpose(1, 0, 2),
                np.zeros((1, 3)),
                np.zeros((1, 2)),
                kv,
                w["bias"],
                peep=(w["w_f_diag"], w["w_i_diag"], w["w_o_diag"]),
                proj=w["projection/kernel"],
            )
            total += float((o**2).sum() + (c[0] * weights).sum())
        return total

    np.testing.assert_allclose(ax, _central(lambda v: np_loss(v, w["kernel"]), xs), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ak, _central(lambda v: np_loss(xs, v), w["kernel"]), rtol=1e-5, atol=1e-7)
    assert np.all(ax[1, 2] == 0)  # past the second sequence's end: no gradient


# -- DropoutWrapper ------------------------------------------------------------------------------------
def test_dropout_wrapper_keeps_names_and_draws_masks_outside_the_loop() -> None:
    xs = np.ones((B, T, D), np.float32)
    x = tf.placeholder(tf.float32, [B, T, D])
    base = rnn_cell.BasicRNNCell(H)
    cell = rnn_cell.DropoutWrapper(base, output_keep_prob=0.5)
    out, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    plain, _ = tf.nn.dynamic_rnn(base, x, dtype=tf.float32, scope="rnn")  # same variables
    s_out, _ = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32, scope="rnn")
    assert sorted(v.op.name for v in tf.global_variables()) == [
        "rnn/basic_rnn_cell/bias",
        "rnn/basic_rnn_cell/kernel",
    ]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        o, p, so = sess.run([out, plain, s_out], {x: xs})
    kept = o != 0
    # dynamic_rnn: one mask per call, the same at every step; kept values scaled by 1/keep.
    assert kept.any() and (~kept).any()
    assert np.all(kept == kept[:, :1, :])
    np.testing.assert_allclose(o[kept], 2 * p[kept], rtol=1e-6)
    # static_rnn: a fresh mask at each step (TF1's non-variational dropout).
    so = np.stack(so, 1)
    assert not np.all((so != 0) == (so != 0)[:, :1, :])
    np.testing.assert_allclose(so[so != 0], 2 * p[so != 0], rtol=1e-6)


# -- Keras layers ------------------------------------------------------------------------------------
def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def np_keras(kind: str, x: np.ndarray, w: list[np.ndarray], units: int, reset_after: bool = False) -> tuple:
    """Keras's SimpleRNN / LSTM (gates i, f, c, o) / GRU (gates z, r, h) over x [B, T, D]."""
    k, u, b = w
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        if kind == "SimpleRNN":
            h = np.tanh(x[:, t] @ k + h @ u + b)
        elif kind == "LSTM":
            zi, zf, zc, zo = np.split(x[:, t] @ k + h @ u + b, 4, axis=1)
            c = _hard_sigmoid(zf) * c + _hard_sigmoid(zi) * np.tanh(zc)
            h = _hard_sigmoid(zo) * np.tanh(c)
        else:
            xz, xr, xh = np.split(x[:, t] @ k + (b[0] if reset_after else b), 3, axis=1)
            if reset_after:
                hz, hr, hh = np.split(h @ u + b[1], 3, axis=1)
                z, r = _hard_sigmoid(xz + hz), _hard_sigmoid(xr + hr)
                cand = np.tanh(xh + r * hh)
            else:
                z = _hard_sigmoid(xz + h @ u[:, :units])
                r = _hard_sigmoid(xr + h @ u[:, units : 2 * units])
                cand = np.tanh(xh + (r * h) @ u[:, 2 * units :])
            h = z * h + (1 - z) * cand
        outs.append(h)
    return np.stack(outs, 1), h, c


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("SimpleRNN", {}),
        ("LSTM", {}),
        ("GRU", {}),
        ("GRU", {"reset_after": True}),
        ("LSTM", {"go_backwards": True}),
    ],
)
def test_keras_recurrent_layers_shapes_and_values(kind: str, kwargs: dict) -> None:
    xs = _x()
    x = tf.placeholder(tf.float32, [None, T, D])
    layer = getattr(tf.keras.layers, kind)(H, return_sequences=True, return_state=True, **kwargs)
    outs = layer(x)
    assert [o.shape.as_list() for o in outs] == [[None, T, H]] + [[None, H]] * (2 if kind == "LSTM" else 1)
    last = getattr(tf.keras.layers, kind)(H, **kwargs)
    y = last(x)
    assert y.shape.as_list() == [None, H]
    assert [v.name for v in layer.weights] == [
        f"{layer.name}/{n}:0" for n in ("kernel", "recurrent_kernel", "bias")
    ]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = sess.run(layer.weights)
        if kind == "LSTM":  # unit_forget_bias: the f gate's bias starts at 1
            np.testing.assert_array_equal(w[2], np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
        w[2] = RNG.standard_normal(w[2].shape).astype(np.float32)
        for v, value in zip(last.weights, w):
            v.load(value, sess)
        layer.variables[2].load(w[2], sess)
        got, y_last = sess.run([outs, y], {x: xs})
    seq = xs[:, ::-1] if kwargs.get("go_backwards") else xs
    ref_seq, ref_h, ref_c = np_keras(kind, seq, w, H, kwargs.get("reset_after", False))
    np.testing.assert_allclose(got[0], ref_seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], ref_h, rtol=1e-5, atol=1e-5)
    if kind == "LSTM":
        np.testing.assert_allclose(got[2], ref_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_last, ref_h, rtol=1e-5, atol=1e-5)


def test_keras_lstm_in_a_sequential_model_trains_and_round_trips_its_config() -> None:
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, 6, 2)).astype(np.float32)
    ys = (xs[:, :, 0].sum(1) > 0).astype(np.int32)
    model = tf.keras.Sequential(
        [tf.keras.layers.LSTM(8, input_shape=(6, 2)), tf.keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(tf.keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    first = model.evaluate(xs, ys, verbose=0)[0]
    model.fit(xs, ys, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(xs, ys, verbose=0)[0] < first
    assert model.predict(xs[:3]).shape == (3, 2)
    cfg = tf.keras.layers.serialize(model.layers[0])
    again = tf.keras.layers.deserialize(cfg)
    assert type(again).__name__ == "LSTM" and again.units == 8 and again.unit_forget_bias


def test_reverse_sequence_against_numpy() -> None:
    xs = RNG.standard_normal((3, 5, 2)).astype(np.float32)
    lengths = [5, 2, 0]
    with tf.Session() as sess:
        got = sess.run(tf.reverse_sequence(xs, lengths, seq_axis=1, batch_axis=0))
    ref = xs.copy()
    for b, n in enumerate(lengths):
        ref[b, :n] = xs[b, :n][::-1]
    np.testing.assert_array_equal(got, ref)
