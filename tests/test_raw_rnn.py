"""tf.nn.raw_rnn (graphc.ops.rnn): TF1 1.15's loop_fn protocol on tf.while_loop and a growing
TensorArray. The TF1 docs' example (an inputs TensorArray read per step, sequence lengths)
against dynamic_rnn on the same cell and input; a loop_fn with its own loop state and emit
structure against a NumPy implementation of the same recurrence (rows past their end emit
zeros and keep their state), with gradients by central differences; TF1's errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from tests.support import BACKENDS as _BACKENDS
from tests.support import central as _central
from tests.support import session as _session

_T, _B, _D, _U = 4, 3, 2, 3
_X = np.random.default_rng(0).normal(size=(_T, _B, _D))


@pytest.mark.parametrize("backend", _BACKENDS)
def test_tf1_docs_example_matches_dynamic_rnn(backend: str) -> None:
    inputs = tf.placeholder(tf.float64, [_T, None, _D])
    sequence_length = tf.placeholder(tf.int32, [None])
    batch_size = tf.shape(inputs)[1]
    inputs_ta = tf.TensorArray(tf.float64, size=_T).unstack(inputs)
    cell = tf.nn.rnn_cell.LSTMCell(_U)

    def loop_fn(time, cell_output, cell_state, loop_state):  # noqa: ANN001, ANN202  (TF1's protocol)
        emit_output = cell_output  # None at time 0
        next_cell_state = cell.zero_state(batch_size, tf.float64) if cell_output is None else cell_state
        elements_finished = time >= sequence_length
        finished = tf.reduce_all(elements_finished)
        next_input = tf.cond(
            finished, lambda: tf.zeros([batch_size, _D], tf.float64), lambda: inputs_ta.read(time)
        )
        return elements_finished, next_input, next_cell_state, emit_output, None

    outputs_ta, final_state, final_loop_state = tf.nn.raw_rnn(cell, loop_fn)
    assert final_loop_state is None
    assert isinstance(outputs_ta, tf.TensorArray)
    outputs = outputs_ta.stack()
    # The same cell (its variables) over the same input, time-major.
    with tf.variable_scope("rnn", reuse=True):
        dyn_out, dyn_state = tf.nn.dynamic_rnn(
            cell, inputs, sequence_length=sequence_length, dtype=tf.float64, time_major=True, scope="rnn"
        )
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        for lengths in ([4, 2, 3], [1, 0, 2]):
            feeds = {inputs: _X, sequence_length: lengths}
            got, got_c, got_h, want, want_c, want_h = sess.run(
                [outputs, final_state.c, final_state.h, dyn_out, dyn_state.c, dyn_state.h], feeds
            )
            steps = max(lengths)
            assert got.shape == (steps, _B, _U)
            np.testing.assert_allclose(got, want[:steps], rtol=1e-12, atol=1e-15)
            np.testing.assert_array_equal(want[steps:], 0.0)
            np.testing.assert_allclose(got_c, want_c, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(got_h, want_h, rtol=1e-12, atol=1e-15)
        assert sess.run(outputs_ta.size(), {inputs: _X, sequence_length: [2, 3, 1]}) == 3


def _numpy_recurrence(
    x: np.ndarray, lengths: list[int], kernel: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The loop_fn below in NumPy: a BasicRNNCell over x[t] (zeros past the end) emitting
    [output, 2 * output.sum()] per row, with the step count and the emitted sums as loop state."""
    state = np.zeros((_B, _U))
    emits, total, steps = [], np.zeros(_B), 0
    finished = np.array([0 >= n for n in lengths])
    t = 0
    while not finished.all():
        inp = x[t] if t < _T else np.zeros((_B, _D))
        out = np.tanh(np.concatenate([inp, state], 1) @ kernel + bias)
        emit = np.concatenate([out, 2 * out.sum(1, keepdims=True)], 1)
        emit[finished] = 0.0  # rows finished before this step emit zeros...
        state = np.where(finished[:, None], state, out)  # ...and keep their state
        total, steps = total + emit[:, -1], steps + 1
        emits.append(emit)
        t += 1
        finished = finished | np.array([t >= n for n in lengths])
    return np.array(emits), state, total, steps


def test_loop_state_and_emit_structure_against_numpy_with_gradients() -> None:
    x = tf.placeholder(tf.float64, [_T, _B, _D])
    lengths = tf.placeholder(tf.int32, [_B])
    x_ta = tf.TensorArray(tf.float64, size=_T).unstack(x)
    cell = tf.nn.rnn_cell.BasicRNNCell(_U)

    def loop_fn(time, cell_output, cell_state, loop_state):  # noqa: ANN001, ANN202
        finished = time >= lengths
        nxt = tf.cond(
            time < _T, lambda: x_ta.read(tf.minimum(time, _T - 1)), lambda: tf.zeros([_B, _D], tf.float64)
        )
        if cell_output is None:
            # emit_output at time 0: the per-example structure of what is emitted.
            emit = (tf.zeros([_U], tf.float64), tf.zeros([1], tf.float64))
            return (
                finished,
                nxt,
                cell.zero_state(_B, tf.float64),
                emit,
                (tf.constant(0), tf.zeros([_B], tf.float64)),
            )
        steps, total = loop_state
        emit = (cell_output, 2.0 * tf.reduce_sum(cell_output, 1, keepdims=True))
        # The loop state sees the emitted sum before the masking of finished rows: count it
        # only for rows still going.
        going = tf.cast(tf.logical_not(time - 1 >= lengths), tf.float64)
        return finished, nxt, cell_state, emit, (steps + 1, total + going * emit[1][:, 0])

    (out_ta, sum_ta), final_state, (steps, total) = tf.nn.raw_rnn(cell, loop_fn)
    coef = tf.placeholder(tf.float64, [None, _B, _U])
    loss = tf.reduce_sum(out_ta.stack() * coef) + tf.reduce_sum(tf.sin(final_state)) + tf.reduce_sum(total)
    (gx,) = tf.gradients(loss, x)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kernel, bias = sess.run(cell.weights)
        for lens in ([3, 1, 4], [2, 2, 0]):
            want_emit, want_state, want_total, want_steps = _numpy_recurrence(_X, lens, kernel, bias)
            cv = np.arange(want_steps * _B * _U).reshape(want_steps, _B, _U) / 10 - 0.5
            feeds = {x: _X, lengths: lens, coef: cv}
            got_out, got_sum, got_state, got_steps, got_total, got_gx = sess.run(
                [out_ta.stack(), sum_ta.stack(), final_state, steps, total, gx], feeds
            )
            np.testing.assert_allclose(got_out, want_emit[..., :_U], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(got_sum, want_emit[..., _U:], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(got_state, want_state, rtol=1e-12, atol=1e-15)
            assert got_steps == want_steps == max(lens)
            np.testing.assert_allclose(got_total, want_total, rtol=1e-12, atol=1e-14)

            def ref(xv: np.ndarray, lens: list[int] = lens, cv: np.ndarray = cv) -> float:
                e, s, tot, _ = _numpy_recurrence(xv, lens, kernel, bias)
                return float((e[..., :_U] * cv).sum() + np.sin(s).sum() + tot.sum())

            np.testing.assert_allclose(got_gx, _central(ref, _X), rtol=1e-6, atol=1e-8)


def test_errors_as_tf1() -> None:
    cell = tf.nn.rnn_cell.BasicRNNCell(2)
    with pytest.raises(TypeError, match="loop_fn must be a callable"):
        tf.nn.raw_rnn(cell, None)
    with pytest.raises(TypeError, match="not an RNNCell"):
        tf.nn.raw_rnn(object(), lambda *a: None)
    with pytest.raises(TypeError, match="parallel_iterations must be a positive integer"):
        tf.nn.raw_rnn(cell, lambda *a: None, parallel_iterations=0)
