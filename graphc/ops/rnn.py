"""TF1's RNN functions: ``tf.nn.static_rnn``, ``tf.nn.static_bidirectional_rnn``,
``tf.nn.dynamic_rnn``, ``tf.nn.bidirectional_dynamic_rnn``, ``tf.nn.raw_rnn`` (TF1 1.15's
signatures and variable scopes: ``rnn/<cell>/...``, ``bidirectional_rnn/fw/<cell>/...`` and
``.../bw/...``).

``static_rnn`` unrolls the cell over a Python list of time steps. ``dynamic_rnn`` is one
``tf.while_loop`` over time. Its loop variables must keep their shapes (the loop's
gradient needs it), so the outputs are accumulated in a loop variable of fixed shape
``[T, batch, *output_size]``: step ``t`` adds ``onehot(t) * output_t`` (a dense update,
differentiable like any other op). The cell is built (its variables made) before the
loop, since variables cannot be made inside a loop body, and cells that need random
masks (``DropoutWrapper``) draw them before the loop too (see graphc.ops.rnn_cell).

``sequence_length`` (both): as TF1, at steps ``t >= sequence_length[b]`` row ``b``'s
output is zero and its state is carried through unchanged, so the final state is each
sequence's state after its last step. Inputs past a sequence's end are still computed
(and masked), unlike TF1, which skips the steps past the longest sequence: the results
are the same.

``raw_rnn`` is one ``tf.while_loop`` too, driven by the user's ``loop_fn``; what it emits
goes to TensorArrays with ``dynamic_size=True`` (graphc.ops.tensor_array_ops), one element
per step, loop variables that grow (so the loop's gradient saves them per iteration, and
on the LLVM backend the loop runs as a NumPy segment).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import equal, less, logical_not, logical_or
from graphc.ops.concat_ops import concat, stack, unstack
from graphc.ops.control_flow_ops import while_loop
from graphc.ops.core_ops import shape as _shape
from graphc.ops.fill_ops import range as _range
from graphc.ops.fill_ops import zeros
from graphc.ops.gather_nd_ops import gather_nd
from graphc.ops.gather_ops import gather
from graphc.ops.layout_ops import expand_dims, reshape, reverse, transpose
from graphc.ops.math_ops import add, cast, multiply, subtract
from graphc.ops.math_ops import where_v2 as _select
from graphc.ops.reduction_ops import reduce_all
from graphc.ops.rnn_cell import RNNCell, _size_dims, flatten, map_state, pack_as
from graphc.ops.tensor_array_ops import TensorArray
from graphc.ops.variable_scope import variable_scope

__all__ = [
    "bidirectional_dynamic_rnn",
    "dynamic_rnn",
    "raw_rnn",
    "reverse_sequence",
    "static_bidirectional_rnn",
    "static_rnn",
]


# -- helpers -------------------------------------------------------------------------------------
def _batch_size(x: Tensor, axis: int = 0) -> Any:
    d = x.shape.as_list()[axis] if x.shape.ndims else None
    return d if d is not None else _shape(x)[axis]


def _initial_state(cell: RNNCell, initial_state: Any, batch: Any, dtype: Any) -> Any:
    if initial_state is not None:
        return map_state(convert_to_tensor, initial_state)
    if dtype is None:
        raise ValueError("If there is no initial_state, you must give a dtype.")
    return cell.zero_state(batch, dtype)


def _state_dtype(state: Any) -> _dt.DType:
    return flatten(state)[0].dtype


def _build_cell(cell: Any, x_shape: TensorShape, dtype: _dt.DType, x0: Tensor, state: Any) -> None:
    """Make ``cell``'s variables outside any loop: graphc cells build from the input
    shape; any other cell object is called once on the first step (its results unused:
    nothing fetches them, so lowering prunes them) so that its variables exist."""
    if isinstance(cell, RNNCell) or hasattr(cell, "build_for"):
        cell.build_for(x_shape, dtype)
    else:
        cell(x0, state)


def _step_mask(t: Any, sequence_length: Tensor | None, dtype: _dt.DType) -> Tensor | None:
    """[batch, 1]: 1 where step ``t`` is inside the sequence, else 0 (None: no lengths)."""
    if sequence_length is None:
        return None
    return expand_dims(cast(less(t, sequence_length), dtype), 1)


def _masked(mask: Tensor | None, new: Any, old: Any) -> Any:
    """TF1's _rnn_step: ``new`` where the sequence goes on, ``old`` past its end."""
    if mask is None:
        return new
    return map_state(lambda n, o: _select_rows(mask, n, o), new, old)


def _select_rows(mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
    # A select, not a blend: a state past its end is copied exactly (even inf or nan).
    m = mask if new.shape.ndims in (None, 2) else reshape(mask, [-1, *([1] * (new.shape.ndims - 1))])
    return _select(equal(m, convert_to_tensor(1, dtype=m.dtype)), new, old)


def _zero_past_end(mask: Tensor | None, out: Any) -> Any:
    if mask is None:
        return out
    return map_state(
        lambda o: multiply(o, mask if o.shape.ndims in (None, 2) else expand_dims(mask, -1)), out
    )


def _check_lengths(sequence_length: Any) -> Tensor | None:
    if sequence_length is None:
        return None
    sl = convert_to_tensor(sequence_length)
    if sl.shape.ndims not in (None, 1):
        raise ValueError(f"sequence_length must be a vector of length batch_size, but saw shape: {sl.shape}")
    return cast(sl, _dt.int32) if sl.dtype != _dt.int32 else sl


def reverse_sequence(
    input: Any,  # noqa: A002  (TF's name)
    seq_lengths: Any,
    seq_axis: int | None = None,
    batch_axis: int | None = None,
    name: str | None = None,
    seq_dim: int | None = None,
    batch_dim: int | None = None,
) -> Tensor:
    """tf.reverse_sequence (TF1): for each ``b`` along ``batch_axis``, the first
    ``seq_lengths[b]`` elements along ``seq_axis`` reversed, the rest unchanged. Built
    from a gather (its gradient is the scatter back)."""
    seq_axis = seq_axis if seq_axis is not None else seq_dim
    batch_axis = batch_axis if batch_axis is not None else (batch_dim if batch_dim is not None else 0)
    if seq_axis is None:
        raise ValueError("reverse_sequence needs seq_axis")
    x = convert_to_tensor(input)
    rank = x.shape.ndims
    if rank is None:
        raise ValueError("reverse_sequence needs an input of known rank")
    seq_axis %= rank
    batch_axis %= rank
    if seq_axis == batch_axis:
        raise ValueError("seq_axis and batch_axis must differ")
    graph = get_default_graph()
    with graph.name_scope(name or "ReverseSequence"):
        # Bring [seq, batch, ...] to the front, gather, put the axes back.
        rest = [a for a in range(rank) if a not in (seq_axis, batch_axis)]
        perm = [seq_axis, batch_axis, *rest]
        xt = transpose(x, perm)
        lengths = cast(convert_to_tensor(seq_lengths), _dt.int32)
        steps = _shape(xt)[0]
        batch = _shape(xt)[1]
        t = expand_dims(_range(0, steps), 1)  # [T, 1]
        b = expand_dims(_range(0, batch), 0)  # [1, B]
        ln = expand_dims(lengths, 0)  # [1, B]
        src_t = _select(less(t, ln), subtract(subtract(ln, 1), t), t + 0 * ln)  # [T, B]
        src_b = b + 0 * t
        out = gather_nd(xt, stack([src_t, src_b], axis=-1))
        inverse = [perm.index(a) for a in range(rank)]
        out = transpose(out, inverse)
    out.set_shape(x.shape)
    return out


# -- static_rnn ---------------------------------------------------------------------------------
def static_rnn(
    cell: RNNCell,
    inputs: Sequence[Any],
    initial_state: Any = None,
    dtype: Any = None,
    sequence_length: Any = None,
    scope: Any = None,
) -> tuple[list[Any], Any]:
    """tf.nn.static_rnn (TF1): the cell unrolled over ``inputs`` (a list of ``[batch,
    depth]`` tensors, or of nests of them) in variable scope ``scope`` (default ``rnn``); returns ``(outputs,
    state)``. With ``sequence_length``, outputs past each length are zero and the state
    is carried through."""
    if not isinstance(inputs, list | tuple):
        raise TypeError("inputs must be a sequence")
    if not inputs:
        raise ValueError("inputs must not be empty")
    xs = [map_state(convert_to_tensor, x) for x in inputs]
    lengths = _check_lengths(sequence_length)
    outputs: list[Any] = []
    with variable_scope(scope or "rnn"):
        batch = _batch_size(flatten(xs[0])[0])
        state = _initial_state(cell, initial_state, batch, dtype)
        dt = _state_dtype(state)
        for t, x in enumerate(xs):
            out, new_state = cell(x, state)
            mask = _step_mask(t, lengths, dt)
            outputs.append(_zero_past_end(mask, out))
            state = _masked(mask, new_state, state)
    return outputs, state


def static_bidirectional_rnn(
    cell_fw: RNNCell,
    cell_bw: RNNCell,
    inputs: Sequence[Any],
    initial_state_fw: Any = None,
    initial_state_bw: Any = None,
    dtype: Any = None,
    sequence_length: Any = None,
    scope: Any = None,
) -> tuple[list[Tensor], Any, Any]:
    """tf.nn.static_bidirectional_rnn (TF1): a forward static_rnn (scope ``fw``) and one
    over the reversed inputs (``bw``; each sequence reversed within its length), in
    ``scope`` (default ``bidirectional_rnn``); outputs ``concat([fw_t, bw_t], 1)`` per step.
    Returns ``(outputs, output_state_fw, output_state_bw)``."""
    if not isinstance(inputs, list | tuple):
        raise TypeError("inputs must be a list")
    if not inputs:
        raise ValueError("inputs must not be empty")
    xs = [map_state(convert_to_tensor, x) for x in inputs]
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            out_fw, state_fw = static_rnn(
                cell_fw, xs, initial_state_fw, dtype, sequence_length, scope=fw_scope
            )
        with variable_scope("bw") as bw_scope:
            rev = _reverse_list(xs, sequence_length)
            tmp, state_bw = static_rnn(cell_bw, rev, initial_state_bw, dtype, sequence_length, scope=bw_scope)
        out_bw = _reverse_list(tmp, sequence_length)
        outputs = [map_state(lambda a, c: concat([a, c], 1), f, b) for f, b in zip(out_fw, out_bw)]
    return outputs, state_fw, state_bw


def _reverse_list(xs: list[Any], lengths: Any) -> list[Any]:
    """The steps reversed (each sequence within its length); steps may be nests."""
    if lengths is None:
        return list(reversed(xs))
    leaves = [flatten(x) for x in xs]
    per_leaf = [
        unstack(
            reverse_sequence(stack([lv[k] for lv in leaves]), lengths, seq_axis=0, batch_axis=1), num=len(xs)
        )
        for k in range(len(leaves[0]))
    ]
    return [pack_as(xs[t], [col[t] for col in per_leaf]) for t in range(len(xs))]


# -- dynamic_rnn --------------------------------------------------------------------------------
def dynamic_rnn(
    cell: RNNCell,
    inputs: Any,
    sequence_length: Any = None,
    initial_state: Any = None,
    dtype: Any = None,
    parallel_iterations: int | None = None,
    swap_memory: bool = False,
    time_major: bool = False,
    scope: Any = None,
) -> tuple[Any, Any]:
    """tf.nn.dynamic_rnn (TF1): the cell applied over time by one ``tf.while_loop``.
    ``inputs``: ``[batch, time, depth]`` (``[time, batch, depth]`` with ``time_major``), or
    a nest (tuples, lists, namedtuples) of such tensors with one batch and time, the cell
    then called on the same nest of ``[batch, depth]`` steps; returns ``(outputs,
    state)``, outputs in the same layout with the cell's output size (a nest when
    ``output_size`` is one). Variables in ``scope`` (default ``rnn``).
    ``parallel_iterations`` and ``swap_memory`` are accepted (iterations run in order)."""
    flat_in = [convert_to_tensor(t) for t in flatten(inputs)]
    if not flat_in:
        raise ValueError("dynamic_rnn needs at least one input tensor")
    nested = isinstance(inputs, list | tuple)
    xs = []
    for x in flat_in:
        rank = x.shape.ndims
        if rank is None or rank < 3:
            raise ValueError(
                f"dynamic_rnn needs inputs of rank 3 or more ([batch, time, depth]), got {x.shape}"
            )
        xs.append(x if time_major else transpose(x, [1, 0, *range(2, rank)]))
    lengths = _check_lengths(sequence_length)
    x = xs[0]
    steps_static = x.shape.as_list()[0]
    for other in xs[1:]:
        s0, b0 = other.shape.as_list()[:2]
        if (steps_static is not None and s0 is not None and s0 != steps_static) or (
            x.shape.as_list()[1] is not None and b0 is not None and b0 != x.shape.as_list()[1]
        ):
            raise ValueError(
                "All inputs of dynamic_rnn must have the same batch and time sizes, got "
                f"{[t.shape for t in flat_in]}"
            )
    with variable_scope(scope or "rnn"):
        batch = _batch_size(x, 1)
        state0 = _initial_state(cell, initial_state, batch, dtype)
        dt = _state_dtype(state0)
        if not nested and x.dtype != dt:
            raise ValueError(f"inputs ({x.dtype.name}) and the state ({dt.name}) must have one dtype")
        flat_shapes = [TensorShape(t.shape.as_list()[1:]) for t in xs]
        step_shape = pack_as(inputs, flat_shapes) if nested else flat_shapes[0]
        x0 = pack_as(inputs, [gather(t, 0) for t in xs]) if nested else gather(x, 0)
        _build_cell(cell, step_shape, dt, x0, state0)
        steps = steps_static if steps_static is not None else _shape(x)[0]
        out_sizes = flatten(cell.output_size)
        out_struct = cell.output_size
        begin = getattr(cell, "_begin_loop", None)
        if begin is not None:
            begin(batch, step_shape, dt)
        try:
            accs0 = [zeros([steps, batch, *_size_dims(s)], dtype=dt) for s in out_sizes]
            if steps_static is not None:
                positions = _range(0, steps_static)
            else:
                positions = _range(0, steps)
            flat_state0 = flatten(state0)

            def cond(t: Tensor, *rest: Tensor) -> Tensor:
                return less(t, steps)

            def body(t: Tensor, *rest: Tensor) -> list[Tensor]:
                accs = list(rest[: len(accs0)])
                state = pack_as(state0, rest[len(accs0) :])
                x_t = pack_as(inputs, [gather(a, t) for a in xs]) if nested else gather(x, t)
                out, new_state = cell(x_t, state)
                mask = _step_mask(t, lengths, dt)
                out = _zero_past_end(mask, out)
                new_state = _masked(mask, new_state, state)
                # The step's output goes to row t of each accumulator: a fixed-shape dense
                # update (the loop variables keep their shapes, so the loop has a gradient).
                hot = cast(equal(positions, t), dt)
                new_accs = []
                for acc, o in zip(accs, flatten(out)):
                    h = reshape(hot, [-1, *([1] * (o.shape.ndims or 2))])
                    new_accs.append(add(acc, multiply(h, expand_dims(o, 0))))
                return [t + 1, *new_accs, *flatten(new_state)]

            t0 = convert_to_tensor(0, dtype=_dt.int32)
            # TF1 bounds the loop by the time steps too; the bound lets the gradient save
            # each step's state in buffers allocated before the loop.
            result = while_loop(
                cond, body, [t0, *accs0, *flat_state0], name="while", maximum_iterations=steps
            )
        finally:
            end = getattr(cell, "_end_loop", None)
            if end is not None:
                end()
        accs = list(result[1 : 1 + len(accs0)])
        final_state = pack_as(state0, result[1 + len(accs0) :])
        outs = []
        for a in accs:
            if not time_major:
                a = transpose(a, [1, 0, *range(2, a.shape.ndims)])
            outs.append(a)
        outputs = pack_as(out_struct, outs) if isinstance(out_struct, list | tuple) else outs[0]
    return outputs, final_state


def bidirectional_dynamic_rnn(
    cell_fw: RNNCell,
    cell_bw: RNNCell,
    inputs: Any,
    sequence_length: Any = None,
    initial_state_fw: Any = None,
    initial_state_bw: Any = None,
    dtype: Any = None,
    parallel_iterations: int | None = None,
    swap_memory: bool = False,
    time_major: bool = False,
    scope: Any = None,
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """tf.nn.bidirectional_dynamic_rnn (TF1): a forward dynamic_rnn (scope ``fw``) and a
    backward one over the time-reversed inputs (``bw``; each sequence reversed within its
    length, as ``tf.reverse_sequence``), in ``scope`` (default ``bidirectional_rnn``).
    Returns ``((output_fw, output_bw), (output_state_fw, output_state_bw))``, the backward
    outputs reversed back into input order."""
    x = map_state(convert_to_tensor, inputs)
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            out_fw, state_fw = dynamic_rnn(
                cell_fw, x, sequence_length, initial_state_fw, dtype, time_major=time_major, scope=fw_scope
            )
        with variable_scope("bw") as bw_scope:

            def rev(t: Tensor) -> Tensor:
                if sequence_length is None:
                    return reverse(t, [time_axis])
                return reverse_sequence(t, sequence_length, seq_axis=time_axis, batch_axis=batch_axis)

            tmp, state_bw = dynamic_rnn(
                cell_bw,
                map_state(rev, x),
                sequence_length,
                initial_state_bw,
                dtype,
                time_major=time_major,
                scope=bw_scope,
            )
        out_bw = map_state(rev, tmp)
    return (out_fw, out_bw), (state_fw, state_bw)


# -- raw_rnn ------------------------------------------------------------------------------------
def raw_rnn(
    cell: RNNCell,
    loop_fn: Any,
    parallel_iterations: int | None = None,
    swap_memory: bool = False,
    scope: Any = None,
) -> tuple[Any, Any, Any]:
    """tf.nn.raw_rnn (TF1 1.15): the cell driven by ``loop_fn`` in one ``tf.while_loop``.

    ``loop_fn(time, cell_output, cell_state, loop_state)`` returns ``(finished,
    next_input, next_cell_state, emit_output, next_loop_state)``. It is called once
    before the loop with ``time = 0`` and ``cell_output = cell_state = loop_state = None``:
    ``finished`` (bool ``[batch]``), the first input, the initial state (the structure of
    ``cell.state_size``), ``emit_output`` giving the structure and per-example sizes of what
    is emitted (None: ``cell.output_size``, in the state's dtype) and the initial loop state
    (None: none). Then each step ``time`` runs ``output, state' = cell(input, state)`` and
    ``loop_fn(time + 1, output, state', loop_state)``; for the rows ``finished`` before the
    step, the emitted value is zeros and the state is carried through unchanged (a row
    select, TF1's ``_copy_some_through``; scalars and TensorArrays pass as ``loop_fn`` gave
    them); the emitted value is written at ``time`` of ``emit_ta``, a TensorArray (or nest of
    them) with ``dynamic_size=True`` that grows by one element per step; a ``None``
    ``next_loop_state`` keeps the previous one. The loop runs while any row is unfinished.
    Returns ``(emit_ta, final_state, final_loop_state)`` (the last None when ``loop_fn``
    gave no loop state). Variables live in ``scope`` (default ``rnn``), as dynamic_rnn's;
    the cell is built before the loop. ``parallel_iterations`` and ``swap_memory`` are
    accepted (iterations run in order)."""
    for attr in ("output_size", "state_size", "zero_state"):
        if not hasattr(cell, attr) or not callable(cell):
            raise TypeError(
                f"The argument 'cell' ({cell}) is not an RNNCell: it has no {attr!r} or is not callable"
            )
    if not callable(loop_fn):
        raise TypeError("loop_fn must be a callable")
    if parallel_iterations is not None and (
        not isinstance(parallel_iterations, int) or parallel_iterations < 1
    ):
        raise TypeError("parallel_iterations must be a positive integer.")
    with variable_scope(scope or "rnn"):
        time = convert_to_tensor(0, dtype=_dt.int32)
        finished, next_input, initial_state, emit_structure, init_loop_state = loop_fn(
            time=time, cell_output=None, cell_state=None, loop_state=None
        )
        if initial_state is None:
            raise ValueError("loop_fn must return the initial cell state (next_cell_state) when time == 0")
        finished = convert_to_tensor(finished, dtype=_dt.bool_)
        next_input = map_state(convert_to_tensor, next_input)
        flat_input = flatten(next_input)
        static_batch = None
        for x in flat_input:
            if x.shape.ndims is None or x.shape.ndims < 1:
                raise ValueError(f"raw_rnn's inputs need a known rank >= 1 ([batch, ...]), got {x.shape}")
            d = x.shape.as_list()[0]
            if static_batch is not None and d is not None and d != static_batch:
                raise ValueError(
                    f"All inputs of raw_rnn must have one batch size, got {[t.shape for t in flat_input]}"
                )
            static_batch = d if static_batch is None else static_batch
        batch: Any = static_batch if static_batch is not None else _shape(flat_input[0])[0]
        state0 = map_state(convert_to_tensor, initial_state)
        if len(flatten(state0)) != len(flatten(cell.state_size)):
            raise ValueError(
                f"The initial state from loop_fn does not have the structure of cell.state_size: {state0} and "
                f"{cell.state_size}"
            )
        dt = _state_dtype(state0)
        loop_state0 = (
            init_loop_state if init_loop_state is not None else convert_to_tensor(0, dtype=_dt.int32)
        )

        # What is emitted: its structure, per-example sizes and dtypes.
        if emit_structure is not None:
            flat_emit = [convert_to_tensor(e) for e in flatten(emit_structure)]
            emit_sizes: list[Any] = [
                e.shape.as_list() if e.shape.is_fully_defined() else _shape(e) for e in flat_emit
            ]
            emit_dtypes = [e.dtype for e in flat_emit]
        else:
            emit_structure = cell.output_size
            emit_sizes = [_size_dims(s) for s in flatten(emit_structure)]
            emit_dtypes = [dt] * len(emit_sizes)

        def _zero_dims(size: Any) -> Any:
            if isinstance(size, list):
                return [batch, *size]
            return concat([reshape(convert_to_tensor(batch, dtype=_dt.int32), [1]), size], 0)

        flat_zero_emit = [zeros(_zero_dims(s), dtype=d) for s, d in zip(emit_sizes, emit_dtypes)]
        flat_emit_ta = []
        for k, (s, d) in enumerate(zip(emit_sizes, emit_dtypes)):
            elem = TensorShape([static_batch, *s]) if isinstance(s, list) else TensorShape(None)
            ta = TensorArray(d, size=0, dynamic_size=True, element_shape=elem, name=f"rnn_output_{k}")
            if not elem.is_fully_defined():
                # The batch (or the emitted size) is known only when the graph runs: the array
                # enters the loop with no elements of that shape, so that it is a loop variable.
                ta = ta.unstack(zeros(concat([[0], _shape(flat_zero_emit[k])], 0), dtype=d))
            flat_emit_ta.append(ta)
        emit_ta0 = pack_as(emit_structure, flat_emit_ta)

        in_shape = map_state(lambda t: t.shape, next_input)
        _build_cell(cell, in_shape, dt, next_input, state0)
        begin = getattr(cell, "_begin_loop", None)
        if begin is not None:
            begin(batch, in_shape, dt)

        def copy_some_through(done: Tensor, current: Any, candidate: Any) -> Any:
            def pick(cur: Any, cand: Any) -> Any:
                if isinstance(cur, TensorArray):
                    return cand
                cand = convert_to_tensor(cand)
                if cur.shape.ndims == 0:
                    return cand
                rank = cand.shape.ndims if cand.shape.ndims is not None else cur.shape.ndims
                mask = reshape(done, [-1, *([1] * (rank - 1))])
                return _select(mask, cur, cand)

            return pack_as(current, [pick(c, n) for c, n in zip(flatten(current), flatten(candidate))])

        def cond(t: Tensor, done: Tensor, *rest: Any) -> Tensor:
            return logical_not(reduce_all(done))

        def body(t: Tensor, done: Tensor, inp: Any, emit_ta: Any, state: Any, loop_state: Any) -> list[Any]:
            output, cell_state = cell(inp, state)
            next_time = t + 1
            nxt_finished, nxt_input, nxt_state, emit, nxt_loop_state = loop_fn(
                next_time, output, cell_state, None if init_loop_state is None else loop_state
            )
            if len(flatten(nxt_state)) != len(flatten(state)):
                raise ValueError(
                    f"loop_fn's next_cell_state must have the structure of the state: {nxt_state}"
                )
            if len(flatten(emit)) != len(flat_emit_ta):
                raise ValueError(f"loop_fn's emit_output must have the structure of emit_structure: {emit}")
            loop_state = loop_state if nxt_loop_state is None or init_loop_state is None else nxt_loop_state
            emit = copy_some_through(done, pack_as(emit_structure, flat_zero_emit), emit)
            nxt_state = copy_some_through(done, state, nxt_state)
            new_tas = [ta.write(t, e) for ta, e in zip(flatten(emit_ta), flatten(emit))]
            done = logical_or(done, convert_to_tensor(nxt_finished, dtype=_dt.bool_))
            return [
                next_time,
                done,
                map_state(convert_to_tensor, nxt_input),
                pack_as(emit_structure, new_tas),
                pack_as(state0, flatten(nxt_state)),
                loop_state,
            ]

        try:
            result = while_loop(
                cond, body, [time, finished, next_input, emit_ta0, state0, loop_state0], name="while"
            )
        finally:
            end = getattr(cell, "_end_loop", None)
            if end is not None:
                end()
        emit_ta, final_state, final_loop_state = result[-3:]
        if init_loop_state is None:
            final_loop_state = None
    return emit_ta, final_state, final_loop_state
