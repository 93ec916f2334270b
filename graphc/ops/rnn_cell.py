"""tf.nn.rnn_cell (TF1 1.15): ``RNNCell``, ``BasicRNNCell``, ``BasicLSTMCell``, ``LSTMCell``,
``GRUCell``, ``MultiRNNCell``, ``DropoutWrapper``, ``ResidualWrapper``, ``DeviceWrapper``,
``LSTMStateTuple``.

Each cell follows TF1's equations and names its variables as TF1 does, so TF1 programs'
``variable_scope`` reuse and checkpoints' names work unchanged:

- ``BasicRNNCell``: ``h' = act([x, h] W + b)``; ``basic_rnn_cell/kernel``, ``.../bias``.
- ``BasicLSTMCell``: ``[i, j, f, o] = [x, h] W + b`` (that gate order);
  ``c' = c * sigmoid(f + forget_bias) + sigmoid(i) * act(j)``, ``h' = act(c') * sigmoid(o)``;
  ``basic_lstm_cell/kernel``, ``.../bias``.
- ``LSTMCell``: the same gates, with peepholes (``w_f_diag``, ``w_i_diag``, ``w_o_diag``:
  ``sigmoid(f + forget_bias + w_f_diag * c)`` ...), the cell clipped to ``[-cell_clip,
  cell_clip]``, the output projected by ``projection/kernel`` (``num_proj``) and clipped to
  ``proj_clip``; ``lstm_cell/kernel``, ``.../bias``.
- ``GRUCell``: ``[r, u] = sigmoid([x, h] W_g + b_g)`` (``gates/kernel``, ``gates/bias``,
  the bias initialised to 1), ``c = act([x, r * h] W_c + b_c)`` (``candidate/kernel``,
  ``candidate/bias``), ``h' = u * h + (1 - u) * c``.
- ``MultiRNNCell``: the cells stacked, each in ``cell_<i>``, under ``multi_rnn_cell``.
- The wrappers (``DropoutWrapper``, ``ResidualWrapper``: ``output = input + cell output``,
  ``DeviceWrapper``: the cell built under ``tf.device``) add no scope of their own.

Inputs may be nests of tensors (a tuple of ``[batch, depth]`` tensors, ...): a cell's
``build`` then gets the nest of their shapes. State sizes may be nests of ints and
TensorShapes (``zero_state`` gives zeros ``[batch, *size]`` in that structure).

As in TF1, a cell is a layer: on its first call it opens a variable scope named after it
inside the caller's scope (``basic_lstm_cell``, made unique by ``default_name`` — a second
cell in the same scope is ``basic_lstm_cell_1`` — or the ``name`` given), makes its
variables there with ``tf.get_variable`` (so an enclosing ``reuse=True`` or
``tf.AUTO_REUSE`` shares them) and keeps them; later calls reuse them wherever they are
made. ``build(inputs_shape)`` can also be called directly: ``tf.nn.dynamic_rnn`` builds
the cell before its loop, since variables cannot be made inside a ``tf.while_loop`` body.

``DropoutWrapper`` differs from TF1 in one respect: random ops are refused inside a loop
body, so under ``tf.nn.dynamic_rnn`` its masks are drawn once per call, before the loop,
and used at every time step (TF1's ``variational_recurrent=True`` behaviour, whatever
``variational_recurrent`` says). Under ``tf.nn.static_rnn`` (or a direct call) it draws
a fresh mask at each step, as TF1 does, unless ``variational_recurrent=True``.
"""

from __future__ import annotations

import collections
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops.common import convert_to_tensor
from graphc.ops.concat_ops import concat, split
from graphc.ops.core_ops import shape as _shape
from graphc.ops.fill_ops import zeros
from graphc.ops.init_ops import constant_initializer, zeros_initializer
from graphc.ops.linalg_ops import matmul
from graphc.ops.math_ops import add, clip_by_value, floor, multiply, real_div, sigmoid, tanh
from graphc.ops.random_ops import random_uniform
from graphc.ops.variable_scope import get_variable, variable_scope
from graphc.ops.variables import Variable

__all__ = [
    "BasicLSTMCell",
    "BasicRNNCell",
    "DeviceWrapper",
    "DropoutWrapper",
    "GRUCell",
    "LSTMCell",
    "LSTMStateTuple",
    "MultiRNNCell",
    "RNNCell",
    "ResidualWrapper",
]


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """TF1's LSTMStateTuple ``(c, h)``: the cell state and the output (hidden) state."""

    __slots__ = ()

    @property
    def dtype(self) -> _dt.DType:
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


# -- nests of state (tuples, LSTMStateTuples, ints / TensorShapes as sizes) ----------------------
def flatten(x: Any) -> list[Any]:
    """The leaves of a state nest (tuples and lists, namedtuples included), in order."""
    if isinstance(x, list | tuple):
        return [y for e in x for y in flatten(e)]
    return [x]


def pack_as(like: Any, flat: Sequence[Any]) -> Any:
    """``flat`` in the structure of ``like`` (namedtuples keep their type)."""
    it = iter(flat)

    def rec(s: Any) -> Any:
        if isinstance(s, list | tuple):
            items = [rec(e) for e in s]
            if hasattr(s, "_fields"):
                return type(s)(*items)
            return type(s)(items)
        return next(it)

    out = rec(like)
    return out


def map_state(fn: Callable[..., Any], *nests: Any) -> Any:
    """``fn`` applied leaf by leaf to nests of one structure."""
    flats = [flatten(n) for n in nests]
    return pack_as(nests[0], [fn(*xs) for xs in zip(*flats)])


def _size_dims(size: Any) -> list[int | None]:
    if isinstance(size, TensorShape):
        return size.as_list()
    if isinstance(size, numbers.Integral):
        return [int(size)]
    return [None if d is None else int(d) for d in size]


def _batch_size_of(x: Any) -> Any:
    """The batch size (static if known, else a tensor) of a tensor or of a nest's first leaf."""
    x = flatten(x)[0]
    d = x.shape.as_list()[0] if x.shape.ndims else None
    return d if d is not None else _shape(x)[0]


def _is_shape_nest(shape: Any) -> bool:
    """Whether ``shape`` is a nest of shapes (a tuple of TensorShapes, ...) rather than one
    shape (a TensorShape, or a list of ints and Nones)."""
    return (
        isinstance(shape, list | tuple)
        and bool(shape)
        and all(isinstance(s, TensorShape | list | tuple) for s in shape)
    )


def _as_shapes(shape: Any) -> Any:
    """A shape or a nest of shapes, each leaf a TensorShape."""
    if _is_shape_nest(shape):
        items = [_as_shapes(s) for s in shape]
        return type(shape)(*items) if hasattr(shape, "_fields") else type(shape)(items)
    return TensorShape(shape)


def _flat_shapes(shape: Any) -> list[TensorShape]:
    if _is_shape_nest(shape):
        return [t for s in shape for t in _flat_shapes(s)]
    return [TensorShape(shape)]


# -- the base class -----------------------------------------------------------------------------
class RNNCell:
    """TF1's ``tf.nn.rnn_cell.RNNCell``: subclasses give ``state_size``, ``output_size``,
    ``build(inputs_shape)`` (variables from :meth:`add_variable`) and ``call(inputs,
    state) -> (output, new_state)``. ``cell(inputs, state, scope=None)`` builds on the
    first call (in ``scope`` if given, else a scope named after the cell) and then calls.
    Constructor arguments as TF1's: ``name``, ``reuse``, ``dtype`` (``trainable`` too)."""

    _default_name = "rnn_cell"

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        reuse: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"Keyword argument not understood: {sorted(kwargs)[0]!r}")
        self.trainable = bool(trainable)
        self._name = name
        self._base_name = name or self._default_name
        self._dtype = _dt.as_dtype(dtype) if dtype is not None else None
        self._reuse = reuse
        self._scope: Any = None
        self._variables: list[Variable] = []
        self.built = False

    # -- what a cell is ---------------------------------------------------------------------
    @property
    def state_size(self) -> Any:
        """The state's size: an int, a TensorShape or a nest of them."""
        raise NotImplementedError("Abstract method")

    @property
    def output_size(self) -> Any:
        """The output's size (an int or a TensorShape)."""
        raise NotImplementedError("Abstract method")

    @property
    def name(self) -> str:
        return self._scope.name if self._scope is not None else self._base_name

    @property
    def variables(self) -> list[Variable]:
        """The variables the cell made (or found, under reuse), sub-cells' included."""
        out = list(self._variables)
        for c in self._sub_cells():
            out.extend(v for v in c.variables if all(v is not w for w in out))
        return out

    weights = variables

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.trainable] if self.trainable else []

    trainable_weights = trainable_variables

    def _sub_cells(self) -> list[RNNCell]:
        return []

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        """Zeros in the structure of ``state_size``, each ``[batch_size, *size]``."""
        dt = _dt.as_dtype(dtype)
        graph = get_default_graph()
        with graph.name_scope(type(self).__name__.lstrip("_") + "ZeroState"):
            return map_state(lambda s: zeros([batch_size, *_size_dims(s)], dtype=dt), self.state_size)

    def get_initial_state(self, inputs: Any = None, batch_size: Any = None, dtype: Any = None) -> Any:
        """Keras's name: the zero state for ``inputs``' batch (or ``batch_size``, ``dtype``)."""
        if inputs is not None:
            x = convert_to_tensor(inputs)
            return self.zero_state(_batch_size_of(x), dtype or x.dtype)
        return self.zero_state(batch_size, dtype)

    # -- building ---------------------------------------------------------------------------
    def build(self, inputs_shape: TensorShape) -> None:
        """Make the cell's variables for inputs of ``inputs_shape`` ([batch, depth])."""
        self.built = True

    def call(self, inputs: Tensor, state: Any) -> tuple[Any, Any]:
        raise NotImplementedError("Abstract method")

    def add_variable(
        self, name: str, shape: Sequence[int], initializer: Any = None, dtype: Any = None
    ) -> Variable:
        """``tf.get_variable(name, shape, ...)`` in the cell's scope (call from ``build``)."""
        dt = _dt.as_dtype(dtype) if dtype is not None else (self._dtype or _dt.float32)
        v = get_variable(name, shape=list(shape), dtype=dt, initializer=initializer, trainable=self.trainable)
        if all(v is not w for w in self._variables):
            self._variables.append(v)
        return v

    add_weight = add_variable

    def _open_scope(self, scope: Any = None) -> variable_scope:
        # TF1's Layer._set_scope: the first call fixes the scope, inside the caller's.
        if self._scope is None:
            if self._reuse:
                return variable_scope(scope if scope is not None else self._base_name, reuse=self._reuse)
            return variable_scope(scope, default_name=self._base_name)
        return variable_scope(self._scope, reuse=True)

    def build_for(self, inputs_shape: Any, dtype: Any = None, scope: Any = None) -> None:
        """Build the cell (if it is not yet) for inputs of ``inputs_shape`` in its scope:
        what the first call does, without computing anything."""
        if self.built:
            return
        shp = _as_shapes(inputs_shape)
        for leaf in _flat_shapes(shp):
            if leaf.ndims is None or leaf.as_list()[-1] is None:
                raise ValueError(f"The last dimension of the inputs to an RNN cell must be known, got {leaf}")
        if self._dtype is None and dtype is not None:
            self._dtype = _dt.as_dtype(dtype)
        with self._open_scope(scope) as vs:
            self._scope = vs
            self.build(shp)
        self.built = True

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        """``(output, new_state)``: builds on the first call, then ``call(inputs, state)``.
        ``inputs`` may be a nest of tensors (``build`` then gets the nest of their shapes)."""
        x = map_state(convert_to_tensor, inputs)
        leaves = flatten(x)
        self.build_for(pack_as(x, [t.shape for t in leaves]), leaves[0].dtype, scope)
        graph = get_default_graph()
        with graph.name_scope(self._scope.name.rsplit("/", 1)[-1] if self._scope is not None else None):
            return self.call(x, state)

    # -- loops (graphc): what tf.nn.dynamic_rnn asks of a cell around its while loop ------------
    def _begin_loop(self, batch_size: Any, inputs_shape: TensorShape, dtype: _dt.DType) -> None:
        """Called by dynamic_rnn before its loop: draw anything random the loop body needs."""
        for c in self._sub_cells():
            c._begin_loop(batch_size, inputs_shape, dtype)

    def _end_loop(self) -> None:
        for c in self._sub_cells():
            c._end_loop()


def _activation(activation: Any) -> Callable[[Tensor], Tensor]:
    if activation is None:
        return tanh
    if isinstance(activation, str):
        # TF1 1.15 accepts an activation by name (Keras's activations.get).
        from graphc.ops import activation_ops  # only for names given as strings (rare)

        table = {"tanh": tanh, "sigmoid": sigmoid, "relu": activation_ops.relu}
        if activation not in table:
            raise ValueError(f"Unknown activation {activation!r}")
        return table[activation]
    return activation


def _depth(inputs_shape: TensorShape) -> int:
    d = inputs_shape.as_list()[-1]
    if d is None:
        raise ValueError(f"Expected inputs.shape[-1] to be known, saw shape: {inputs_shape}")
    return int(d)


def _linear(args: Sequence[Tensor], kernel: Tensor, bias: Tensor | None) -> Tensor:
    x = args[0] if len(args) == 1 else concat(list(args), 1)
    y = matmul(x, kernel)
    return add(y, bias) if bias is not None else y


# -- the cells ----------------------------------------------------------------------------------
class BasicRNNCell(RNNCell):
    """tf.nn.rnn_cell.BasicRNNCell(num_units, activation=None (tanh), reuse=None,
    name=None, dtype=None): ``output = new_state = act([x, h] kernel + bias)``."""

    _default_name = "basic_rnn_cell"

    def __init__(
        self,
        num_units: int,
        activation: Any = None,
        reuse: Any = None,
        name: str | None = None,
        dtype: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, reuse=reuse, **kw)
        self._num_units = int(num_units)
        self._activation = _activation(activation)

    @property
    def state_size(self) -> int:
        return self._num_units

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, inputs_shape: TensorShape) -> None:
        d = _depth(inputs_shape)
        self._kernel = self.add_variable("kernel", [d + self._num_units, self._num_units])
        self._bias = self.add_variable("bias", [self._num_units], initializer=zeros_initializer())
        self.built = True

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, Tensor]:
        out = self._activation(_linear([inputs, state], self._kernel, self._bias))
        return out, out


class BasicLSTMCell(RNNCell):
    """tf.nn.rnn_cell.BasicLSTMCell(num_units, forget_bias=1.0, state_is_tuple=True,
    activation=None (tanh), reuse=None, name=None, dtype=None): TF1's LSTM without
    peepholes or projection, gates ``i, j, f, o`` in that order in ``kernel``/``bias``.
    The state is an :class:`LSTMStateTuple` ``(c, h)``, or ``concat([c, h], 1)`` with
    ``state_is_tuple=False``."""

    _default_name = "basic_lstm_cell"

    def __init__(
        self,
        num_units: int,
        forget_bias: float = 1.0,
        state_is_tuple: bool = True,
        activation: Any = None,
        reuse: Any = None,
        name: str | None = None,
        dtype: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, reuse=reuse, **kw)
        self._num_units = int(num_units)
        self._forget_bias = float(forget_bias)
        self._state_is_tuple = bool(state_is_tuple)
        self._activation = _activation(activation)

    @property
    def state_size(self) -> Any:
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, inputs_shape: TensorShape) -> None:
        d = _depth(inputs_shape)
        n = self._num_units
        self._kernel = self.add_variable("kernel", [d + n, 4 * n])
        self._bias = self.add_variable("bias", [4 * n], initializer=zeros_initializer())
        self.built = True

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        if self._state_is_tuple:
            c, h = state
        else:
            c, h = split(state, 2, axis=1)
        i, j, f, o = split(_linear([inputs, h], self._kernel, self._bias), 4, axis=1)
        fb = convert_to_tensor(self._forget_bias, dtype=f.dtype)
        new_c = add(multiply(c, sigmoid(add(f, fb))), multiply(sigmoid(i), self._activation(j)))
        new_h = multiply(self._activation(new_c), sigmoid(o))
        new_state = LSTMStateTuple(new_c, new_h) if self._state_is_tuple else concat([new_c, new_h], 1)
        return new_h, new_state


class LSTMCell(RNNCell):
    """tf.nn.rnn_cell.LSTMCell(num_units, use_peepholes=False, cell_clip=None,
    initializer=None, num_proj=None, proj_clip=None, num_unit_shards=None,
    num_proj_shards=None, forget_bias=1.0, state_is_tuple=True, activation=None,
    reuse=None, name=None, dtype=None): TF1's LSTM with optional peepholes, cell
    clipping and an output projection (its state is ``(c [num_units], m [num_proj])``).
    Shards are not supported (graphc has no partitioned variables here)."""

    _default_name = "lstm_cell"

    def __init__(
        self,
        num_units: int,
        use_peepholes: bool = False,
        cell_clip: float | None = None,
        initializer: Any = None,
        num_proj: int | None = None,
        proj_clip: float | None = None,
        num_unit_shards: int | None = None,
        num_proj_shards: int | None = None,
        forget_bias: float = 1.0,
        state_is_tuple: bool = True,
        activation: Any = None,
        reuse: Any = None,
        name: str | None = None,
        dtype: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, reuse=reuse, **kw)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise NotImplementedError("LSTMCell: num_unit_shards / num_proj_shards are not supported")
        self._num_units = int(num_units)
        self._use_peepholes = bool(use_peepholes)
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = int(num_proj) if num_proj is not None else None
        self._proj_clip = proj_clip
        self._forget_bias = float(forget_bias)
        self._state_is_tuple = bool(state_is_tuple)
        self._activation = _activation(activation)

    @property
    def state_size(self) -> Any:
        n, m = self._num_units, self._num_proj or self._num_units
        return LSTMStateTuple(n, m) if self._state_is_tuple else n + m

    @property
    def output_size(self) -> int:
        return self._num_proj or self._num_units

    def build(self, inputs_shape: TensorShape) -> None:
        d = _depth(inputs_shape)
        n = self._num_units
        h_depth = self._num_proj or n
        self._kernel = self.add_variable("kernel", [d + h_depth, 4 * n], initializer=self._initializer)
        self._bias = self.add_variable("bias", [4 * n], initializer=zeros_initializer())
        if self._use_peepholes:
            self._w_f_diag = self.add_variable("w_f_diag", [n], initializer=self._initializer)
            self._w_i_diag = self.add_variable("w_i_diag", [n], initializer=self._initializer)
            self._w_o_diag = self.add_variable("w_o_diag", [n], initializer=self._initializer)
        if self._num_proj is not None:
            with variable_scope("projection"):
                self._proj_kernel = self.add_variable(
                    "kernel", [n, self._num_proj], initializer=self._initializer
                )
        self.built = True

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        n = self._num_units
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev, m_prev = split(state, [n, self._num_proj or n], axis=1)
        i, j, f, o = split(_linear([inputs, m_prev], self._kernel, self._bias), 4, axis=1)
        fb = convert_to_tensor(self._forget_bias, dtype=f.dtype)
        act = self._activation
        if self._use_peepholes:
            c = add(
                multiply(sigmoid(add(add(f, fb), multiply(self._w_f_diag, c_prev))), c_prev),
                multiply(sigmoid(add(i, multiply(self._w_i_diag, c_prev))), act(j)),
            )
        else:
            c = add(multiply(sigmoid(add(f, fb)), c_prev), multiply(sigmoid(i), act(j)))
        if self._cell_clip is not None:
            c = clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = multiply(sigmoid(add(o, multiply(self._w_o_diag, c))), act(c))
        else:
            m = multiply(sigmoid(o), act(c))
        if self._num_proj is not None:
            m = matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple else concat([c, m], 1)
        return m, new_state


class GRUCell(RNNCell):
    """tf.nn.rnn_cell.GRUCell(num_units, activation=None (tanh), reuse=None,
    kernel_initializer=None, bias_initializer=None, name=None, dtype=None): TF1's GRU
    (Cho et al. 2014): ``r, u`` gates (``gates/``, bias 1 unless ``bias_initializer``),
    then the candidate from ``[x, r * h]`` (``candidate/``, bias 0), ``h' = u h + (1 - u) c``."""

    _default_name = "gru_cell"

    def __init__(
        self,
        num_units: int,
        activation: Any = None,
        reuse: Any = None,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        name: str | None = None,
        dtype: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, reuse=reuse, **kw)
        self._num_units = int(num_units)
        self._activation = _activation(activation)
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    @property
    def state_size(self) -> int:
        return self._num_units

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, inputs_shape: TensorShape) -> None:
        d = _depth(inputs_shape)
        n = self._num_units
        with variable_scope("gates"):
            self._gate_kernel = self.add_variable(
                "kernel", [d + n, 2 * n], initializer=self._kernel_initializer
            )
            self._gate_bias = self.add_variable(
                "bias", [2 * n], initializer=self._bias_initializer or constant_initializer(1.0)
            )
        with variable_scope("candidate"):
            self._candidate_kernel = self.add_variable(
                "kernel", [d + n, n], initializer=self._kernel_initializer
            )
            self._candidate_bias = self.add_variable(
                "bias", [n], initializer=self._bias_initializer or zeros_initializer()
            )
        self.built = True

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, Tensor]:
        value = sigmoid(_linear([inputs, state], self._gate_kernel, self._gate_bias))
        r, u = split(value, 2, axis=1)
        c = self._activation(
            _linear([inputs, multiply(r, state)], self._candidate_kernel, self._candidate_bias)
        )
        one = convert_to_tensor(1.0, dtype=u.dtype)
        new_h = add(multiply(u, state), multiply(one - u, c))
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """tf.nn.rnn_cell.MultiRNNCell(cells, state_is_tuple=True): the cells applied in
    turn (each one's output the next one's input), cell ``i``'s variables under
    ``cell_<i>/``; the state is the tuple of the cells' states (or their concatenation,
    ``state_is_tuple=False``, for cells whose states are single tensors)."""

    _default_name = "multi_rnn_cell"

    def __init__(self, cells: Sequence[RNNCell], state_is_tuple: bool = True) -> None:
        super().__init__()
        cells = list(cells)
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        self._cells = cells
        self._state_is_tuple = bool(state_is_tuple)
        if not state_is_tuple and any(isinstance(c.state_size, tuple) for c in cells):
            raise ValueError(
                "Some cells return tuples of states, but the flag state_is_tuple is not set. "
                f"State sizes are: {[c.state_size for c in cells]}"
            )

    def _sub_cells(self) -> list[RNNCell]:
        return list(self._cells)

    @property
    def state_size(self) -> Any:
        if self._state_is_tuple:
            return tuple(c.state_size for c in self._cells)
        return sum(int(c.state_size) for c in self._cells)

    @property
    def output_size(self) -> Any:
        return self._cells[-1].output_size

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        if self._state_is_tuple:
            return tuple(c.zero_state(batch_size, dtype) for c in self._cells)
        return super().zero_state(batch_size, dtype)

    def build(self, inputs_shape: TensorShape) -> None:
        shp = _as_shapes(inputs_shape)
        first = _flat_shapes(shp)[0]
        batch = first.as_list()[0] if first.ndims else None
        for k, cell in enumerate(self._cells):
            with variable_scope(f"cell_{k}"):
                cell.build_for(shp, self._dtype)
            shp = TensorShape([batch, *_size_dims(cell.output_size)])
        self.built = True

    def _begin_loop(self, batch_size: Any, inputs_shape: TensorShape, dtype: _dt.DType) -> None:
        shp = _as_shapes(inputs_shape)
        first = _flat_shapes(shp)[0]
        batch = first.as_list()[0] if first.ndims else None
        for cell in self._cells:
            cell._begin_loop(batch_size, shp, dtype)
            shp = TensorShape([batch, *_size_dims(cell.output_size)])

    def call(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        cur = inputs
        new_states = []
        offset = 0
        for k, cell in enumerate(self._cells):
            if self._state_is_tuple:
                s = state[k]
            else:
                size = int(cell.state_size)
                s = state[:, offset : offset + size]
                offset += size
            with variable_scope(f"cell_{k}"):
                cur, ns = cell(cur, s)
            new_states.append(ns)
        return cur, (tuple(new_states) if self._state_is_tuple else concat(new_states, 1))


class _WrapperCell(RNNCell):
    """What TF1's cell wrappers share: the wrapped cell's sizes, name, variables and
    zero state; the wrapper adds no variable scope (the cell keeps its own names)."""

    def __init__(self, cell: RNNCell, dtype: Any = None) -> None:
        super().__init__(dtype=dtype)
        self._cell = cell

    @property
    def cell(self) -> RNNCell:
        return self._cell

    @property
    def wrapped_cell(self) -> RNNCell:
        return self._cell

    def _sub_cells(self) -> list[RNNCell]:
        return [self._cell]

    @property
    def state_size(self) -> Any:
        return self._cell.state_size

    @property
    def output_size(self) -> Any:
        return self._cell.output_size

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def built(self) -> bool:  # type: ignore[override]
        return self._cell.built

    @built.setter
    def built(self, value: bool) -> None:
        pass  # the wrapped cell's

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        return self._cell.zero_state(batch_size, dtype)

    def build_for(self, inputs_shape: Any, dtype: Any = None, scope: Any = None) -> None:
        self._cell.build_for(inputs_shape, dtype, scope)


class ResidualWrapper(_WrapperCell):
    """tf.nn.rnn_cell.ResidualWrapper(cell, residual_fn=None): the cell's output plus its
    input, ``residual_fn(inputs, outputs)`` (default: ``inputs + outputs`` leaf by leaf,
    the two of one structure and compatible shapes); the state is the cell's."""

    def __init__(self, cell: RNNCell, residual_fn: Callable[[Any, Any], Any] | None = None) -> None:
        super().__init__(cell)
        self._residual_fn = residual_fn

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        x = map_state(convert_to_tensor, inputs)
        out, new_state = self._cell(x, state, scope=scope)
        if self._residual_fn is not None:
            return self._residual_fn(x, out), new_state
        xs, outs = flatten(x), flatten(out)
        if len(xs) != len(outs):
            raise ValueError(
                f"The two structures don't have the same number of elements: inputs {x}, outputs {out}"
            )
        for a, b in zip(xs, outs):
            if not a.shape.is_compatible_with(b.shape):
                raise ValueError(f"Shapes {a.shape} and {b.shape} are incompatible")
        return pack_as(x, [add(a, b) for a, b in zip(xs, outs)]), new_state


class DeviceWrapper(_WrapperCell):
    """tf.nn.rnn_cell.DeviceWrapper(cell, device): the cell's ops (its variables, its
    steps and its zero state) built under ``tf.device(device)``."""

    def __init__(self, cell: RNNCell, device: str) -> None:
        super().__init__(cell)
        self._device = device

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        graph = get_default_graph()
        with graph.name_scope(type(self).__name__ + "ZeroState"), graph.device(self._device):
            return self._cell.zero_state(batch_size, dtype)

    def build_for(self, inputs_shape: Any, dtype: Any = None, scope: Any = None) -> None:
        with get_default_graph().device(self._device):
            self._cell.build_for(inputs_shape, dtype, scope)

    def _begin_loop(self, batch_size: Any, inputs_shape: TensorShape, dtype: _dt.DType) -> None:
        with get_default_graph().device(self._device):
            self._cell._begin_loop(batch_size, inputs_shape, dtype)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        with get_default_graph().device(self._device):
            return self._cell(inputs, state, scope=scope)


class DropoutWrapper(_WrapperCell):
    """tf.nn.rnn_cell.DropoutWrapper(cell, input_keep_prob=1.0, output_keep_prob=1.0,
    state_keep_prob=1.0, variational_recurrent=False, input_size=None, dtype=None,
    seed=None, dropout_state_filter_visitor=None): dropout (TF1's ``x / keep *
    floor(keep + U[0, 1))``) on the cell's inputs, outputs and states (for an
    :class:`LSTMStateTuple`, only ``h``, as TF1's default state filter). The cell's
    variables keep its own names (the wrapper adds no scope).

    Inside ``tf.nn.dynamic_rnn`` the masks are drawn once per call, before the loop, and
    reused at every step (variational dropout; see the module docstring): graphc refuses
    random ops inside a loop body."""

    def __init__(
        self,
        cell: RNNCell,
        input_keep_prob: Any = 1.0,
        output_keep_prob: Any = 1.0,
        state_keep_prob: Any = 1.0,
        variational_recurrent: bool = False,
        input_size: Any = None,
        dtype: Any = None,
        seed: int | None = None,
        dropout_state_filter_visitor: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(cell, dtype=dtype)
        for what, p in (
            ("input_keep_prob", input_keep_prob),
            ("output_keep_prob", output_keep_prob),
            ("state_keep_prob", state_keep_prob),
        ):
            if isinstance(p, numbers.Real) and not 0 < float(p) <= 1:
                raise ValueError(f"Parameter {what} must be between 0 and 1: {p}")
        self._input_keep_prob = input_keep_prob
        self._output_keep_prob = output_keep_prob
        self._state_keep_prob = state_keep_prob
        self._variational = bool(variational_recurrent)
        self._seed = seed
        self._state_filter = dropout_state_filter_visitor
        # Masks drawn once (variational, or for a dynamic_rnn loop): input, state leaves, output.
        self._masks: dict[str, Any] | None = None

    @staticmethod
    def _active(p: Any) -> bool:
        return not (isinstance(p, numbers.Real) and float(p) == 1.0)

    def _state_leaf_kept(self) -> list[bool]:
        """Which leaves of the state get state dropout (TF1's default filter: not an
        LSTMStateTuple's ``c``)."""
        size = self._cell.state_size
        if self._state_filter is not None:
            return [bool(b) for b in flatten(self._state_filter(size))]

        def rec(s: Any) -> list[bool]:
            if isinstance(s, LSTMStateTuple):
                return [False, *rec(s.h)]
            if isinstance(s, list | tuple):
                return [b for e in s for b in rec(e)]
            return [True]

        return rec(size)

    def _mask(self, shape: list[Any], keep: Any, dtype: _dt.DType, salt: int) -> Tensor:
        kp = convert_to_tensor(keep, dtype=dtype)
        seed = None if self._seed is None else self._seed + salt
        return real_div(floor(add(kp, random_uniform(shape, dtype=dtype, seed=seed))), kp)

    def _make_masks(self, batch_size: Any, inputs_shape: TensorShape, dtype: _dt.DType) -> dict[str, Any]:
        masks: dict[str, Any] = {"input": None, "output": None, "state": None}
        if self._active(self._input_keep_prob):
            masks["input"] = [
                self._mask(
                    [batch_size, *leaf.as_list()[1:]], self._input_keep_prob, dtype, 0 if k == 0 else 100 + k
                )
                for k, leaf in enumerate(_flat_shapes(inputs_shape))
            ]
        if self._active(self._output_keep_prob):
            masks["output"] = self._mask(
                [batch_size, *_size_dims(self.output_size)], self._output_keep_prob, dtype, 1
            )
        if self._active(self._state_keep_prob):
            kept = self._state_leaf_kept()
            sizes = flatten(self._cell.state_size)
            masks["state"] = [
                self._mask([batch_size, *_size_dims(s)], self._state_keep_prob, dtype, 2 + k)
                if keep
                else None
                for k, (s, keep) in enumerate(zip(sizes, kept))
            ]
        return masks

    def _begin_loop(self, batch_size: Any, inputs_shape: TensorShape, dtype: _dt.DType) -> None:
        if self._masks is None:
            self._masks = self._make_masks(batch_size, _as_shapes(inputs_shape), dtype)
            self._loop_masks = True
        self._cell._begin_loop(batch_size, inputs_shape, dtype)

    def _end_loop(self) -> None:
        if getattr(self, "_loop_masks", False):
            self._masks = None
            self._loop_masks = False
        self._cell._end_loop()

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        x = map_state(convert_to_tensor, inputs)
        leaves = flatten(x)
        masks = self._masks
        if masks is None:
            masks = self._make_masks(
                _batch_size_of(x), pack_as(x, [t.shape for t in leaves]), leaves[0].dtype
            )
            if self._variational:
                self._masks = masks  # TF1: one mask per sequence, reused at every step
        if masks["input"] is not None:
            x = pack_as(x, [multiply(t, m) for t, m in zip(leaves, masks["input"])])
        out, new_state = self._cell(x, state, scope=scope)
        if masks["state"] is not None:
            leaves = flatten(new_state)
            leaves = [s if m is None else multiply(s, m) for s, m in zip(leaves, masks["state"])]
            new_state = pack_as(new_state, leaves)
        if masks["output"] is not None:
            out = multiply(out, masks["output"])
        return out, new_state
