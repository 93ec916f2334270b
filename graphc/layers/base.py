"""The layer base class shared by ``tf.layers`` and ``tf.keras.layers``.

A layer builds its weights on its first call (``build(input_shape)``) and applies
``call(inputs, ...)`` on every call; what it builds are ordinary graph ops and variables,
so it is compiled, differentiated and checkpointed like any TF1 program.

Two ways of making weights, as in TF1:

- ``tf.layers`` (``Layer``): each layer opens a variable scope named after it
  (``dense``, ``dense_1``, ... made unique by ``variable_scope``'s ``default_name``, or
  the ``name`` given) and makes its weights with ``tf.get_variable``, so the enclosing
  ``variable_scope``'s ``reuse`` (True, ``tf.AUTO_REUSE``) shares them and
  ``get_collection(TRAINABLE_VARIABLES, scope)`` finds them. Updates (batch
  normalization's moving averages) go to ``tf.GraphKeys.UPDATE_OPS``; weight
  regularization losses to ``REGULARIZATION_LOSSES``.
- Keras style (``_keras_style = True``, graphc.keras's layers): a layer owns its
  variables (``tf.Variable`` in the name scope of the layer's name); calling it again
  reuses them; updates and losses stay on the layer (``layer.updates``,
  ``layer.losses``) for the model to use, as in TF1's Keras.

Layer names are unique per graph (``dense``, ``dense_1``, ...), from the class name in
snake case, as in TF1. The training mode of layers that have one (dropout, batch
normalization) is a Python bool (or 0 / 1), which picks the branch when the graph is
built, or a scalar bool tensor (``training=is_training`` with ``is_training =
tf.placeholder(tf.bool, [])``), which selects between both branches each run
(:func:`graphc.layers.utils.select_training`; TF1 uses ``smart_cond``). Keras layers
called with ``training=None`` take it from the innermost :func:`learning_phase_scope`
(False outside any).
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.graph import Graph, GraphKeys, Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.layers import initializers as _inits
from graphc.layers import regularizers as _regs
from graphc.layers.utils import check_training, to_snake_case
from graphc.ops.common import convert_to_tensor
from graphc.ops.init_ops import GlorotUniform, Zeros
from graphc.ops.variable_scope import VariableScope, get_variable, variable_scope
from graphc.ops.variables import Variable
from graphc.runtime import nest

__all__ = [
    "InputSpec",
    "Layer",
    "Node",
    "collect_call_effects",
    "keras_history",
    "learning_phase",
    "learning_phase_scope",
    "unique_layer_name",
]

# graph -> {base name: how many layers took it}, as TF1's per-graph object-name uids.
_NAME_UIDS: weakref.WeakKeyDictionary[Graph, collections.Counter[str]] = weakref.WeakKeyDictionary()
# tensor -> (layer, node index, tensor index): which layer call made it (Keras's history).
_HISTORY: weakref.WeakKeyDictionary[Tensor, tuple[Layer, int, int]] = weakref.WeakKeyDictionary()
_local = threading.local()


def unique_layer_name(base: str, graph: Graph | None = None, zero_based: bool = True) -> str:
    """``base``, then ``base_1``, ``base_2``, ... for each new layer in ``graph`` (the default
    graph); ``zero_based=False`` starts at ``base_1`` (Keras's ``input_1``)."""
    uids = _NAME_UIDS.setdefault(graph or get_default_graph(), collections.Counter())
    if zero_based:
        number = uids[base]
        uids[base] += 1
        return f"{base}_{number}" if number else base
    uids[base] += 1
    return f"{base}_{uids[base]}"


def _phase_stack() -> list[bool]:
    if not hasattr(_local, "phases"):
        _local.phases = []
    return _local.phases


@contextlib.contextmanager
def learning_phase_scope(value: bool) -> Iterator[None]:
    """Within it, Keras layers called with ``training=None`` run in training mode if
    ``value`` is True (Keras's ``learning_phase_scope``, a Python bool here)."""
    stack = _phase_stack()
    stack.append(bool(value))
    try:
        yield
    finally:
        stack.pop()


def learning_phase() -> bool:
    """The innermost :func:`learning_phase_scope`'s value; False outside any."""
    stack = _phase_stack()
    return stack[-1] if stack else False


class _Effects:
    """What layer calls made while a :func:`collect_call_effects` block was open."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.losses: list[Tensor] = []


@contextlib.contextmanager
def collect_call_effects() -> Iterator[_Effects]:
    """Collect the updates (e.g. moving averages) and per-call losses (activity
    regularization) that layer calls add inside the block: a model takes those of the
    graph it built for training, and no others."""
    if not hasattr(_local, "collectors"):
        _local.collectors = []
    effects = _Effects()
    _local.collectors.append(effects)
    try:
        yield effects
    finally:
        _local.collectors.remove(effects)


def _collectors() -> list[_Effects]:
    return getattr(_local, "collectors", [])


def keras_history(t: Any) -> tuple[Layer, int, int] | None:
    """(layer, node index, tensor index) of the layer call that made ``t``, or None."""
    return _HISTORY.get(t) if isinstance(t, Tensor) else None


class Node:
    """One call of a layer: its input and output tensors (nests) and the call's extra
    arguments (Keras's Node)."""

    def __init__(
        self, layer: Layer, inputs: Any, outputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.args = args
        self.kwargs = kwargs

    @property
    def input_tensors(self) -> list[Tensor]:
        return [t for t in nest.flatten(self.inputs) if isinstance(t, Tensor)]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [t for t in nest.flatten(self.outputs) if isinstance(t, Tensor)]


class InputSpec:
    """Keras's InputSpec: the dtype, rank (``ndim``/``min_ndim``) and fixed axes
    (``{axis: size}``) a layer accepts; checked when the layer is called."""

    def __init__(
        self,
        dtype: Any = None,
        shape: Any = None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: dict[int, int] | None = None,
    ) -> None:
        self.dtype = dtype
        self.shape = shape
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = axes or {}

    def check(self, layer: str, x: Tensor) -> None:
        """Raise ValueError, naming ``layer``, if ``x`` does not fit the spec."""
        rank = x.shape.ndims
        if rank is None:
            return
        if self.ndim is not None and rank != self.ndim:
            raise ValueError(
                f"Input 0 of layer {layer} is incompatible with the layer: expected ndim={self.ndim}, "
                f"found ndim={rank}. Full shape received: {x.shape}"
            )
        if self.min_ndim is not None and rank < self.min_ndim:
            raise ValueError(
                f"Input 0 of layer {layer} is incompatible with the layer: expected min_ndim="
                f"{self.min_ndim}, found ndim={rank}. Full shape received: {x.shape}"
            )
        dims = x.shape.as_list()
        for axis, size in self.axes.items():
            d = dims[axis]
            if d is not None and size is not None and d != size:
                raise ValueError(
                    f"Input 0 of layer {layer} is incompatible with the layer: expected axis {axis} of "
                    f"input shape to have value {size} but received input with shape {x.shape}"
                )


def _graph_of(inputs: Any) -> Graph | None:
    for t in nest.flatten(inputs):
        if isinstance(t, Tensor):
            return t.graph
        if isinstance(t, Variable):
            return t.graph
    return None


def _to_tensors(inputs: Any) -> Any:
    return nest.map_structure(
        lambda t: t if isinstance(t, Tensor) else convert_to_tensor(t),
        inputs,
    )


def _shapes(inputs: Any) -> Any:
    return nest.map_structure(lambda t: t.shape, inputs)


class Layer:
    """TF1's ``tf.layers.Layer``: ``Layer(trainable=True, name=None, dtype=None)``;
    subclasses define ``build(input_shape)`` (make weights with :meth:`add_weight`) and
    ``call(inputs, ...)``. The first call builds; every call opens the layer's variable
    scope (tf.layers) or name scope (Keras style). Weights: ``trainable_weights``,
    ``non_trainable_weights``, ``weights`` (trainable first), also as ``variables``.

    Differs from TF1: no eager mode, no partitioners, no ``dynamic``/mixed precision.
    """

    _keras_style = False  # tf.layers: weights through variable scopes and get_variable
    _call_training_default: bool | None = False

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None, **kwargs: Any):
        self._reuse = kwargs.pop("_reuse", None)
        scope = kwargs.pop("_scope", None)
        self.activity_regularizer = kwargs.pop("activity_regularizer", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        input_shape = kwargs.pop("input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        kwargs.pop("autocast", None)
        if kwargs:
            raise TypeError(f"Keyword argument not understood: {sorted(kwargs)[0]!r}")
        object.__setattr__(self, "_sublayers", [])
        self._trainable = bool(trainable)
        self.built = False
        self._dtype = _dt.as_dtype(dtype) if dtype is not None else None
        self._trainable_weights: list[Variable] = []
        self._non_trainable_weights: list[Variable] = []
        self._weight_names: dict[int, str] = {}
        self._losses: list[Tensor] = []
        self._updates: list[Any] = []
        self._inbound_nodes: list[Node] = []
        self.input_spec: InputSpec | None = None
        self.supports_masking = False
        self._in_call = False
        self._graph = get_default_graph()
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size, *tuple(input_shape))
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape is not None else None
        self._init_set_name(name)
        self._scope: VariableScope | None = None
        self._current_scope: VariableScope | None = None
        if scope:
            with variable_scope(scope) as captured:
                self._scope = captured

    def _init_set_name(self, name: Any) -> None:
        if isinstance(name, VariableScope):
            self._base_name = name.name
            self._name = unique_layer_name(to_snake_case(type(self).__name__), self._graph)
        elif name:
            self._base_name = str(name)
            self._name = str(name)
        else:
            self._base_name = to_snake_case(type(self).__name__)
            self._name = unique_layer_name(self._base_name, self._graph)

    # -- attributes -------------------------------------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        # Layers assigned as attributes (also in lists) are tracked, Keras style: their
        # weights, losses and updates are this layer's too.
        subs = self.__dict__.get("_sublayers")
        if subs is not None and not key.startswith("_"):
            for v in value if isinstance(value, list | tuple) else [value]:
                if isinstance(v, Layer) and v is not self and all(v is not s for s in subs):
                    subs.append(v)
        object.__setattr__(self, key, value)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self) -> str | None:
        return self._dtype.name if self._dtype is not None else None

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for s in self._sublayers:
            s.trainable = value

    @property
    def scope_name(self) -> str:
        if self._scope is None:
            raise ValueError(
                f"No name available for layer scope because the layer {self._name!r} has not been used yet."
            )
        return self._scope.name

    def _flat_sublayers(self) -> list[Layer]:
        out: list[Layer] = []
        for s in self._sublayers:
            out.append(s)
            out.extend(s._flat_sublayers())
        return out

    @staticmethod
    def _unique(vs: list[Any]) -> list[Any]:
        seen: set[int] = set()
        out = []
        for v in vs:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        own = list(self._trainable_weights)
        for s in self._sublayers:
            own.extend(s.trainable_weights)
        return self._unique(own)

    @property
    def non_trainable_weights(self) -> list[Variable]:
        own = list(self._non_trainable_weights)
        if not self.trainable:
            own = list(self._trainable_weights) + own
        for s in self._sublayers:
            own.extend(s.non_trainable_weights)
        return self._unique(own)

    @property
    def weights(self) -> list[Variable]:
        return self._unique(self.trainable_weights + self.non_trainable_weights)

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.non_trainable_weights

    @property
    def losses(self) -> list[Tensor]:
        out = list(self._losses)
        for s in self._sublayers:
            out.extend(s.losses)
        return self._unique(out)

    @property
    def updates(self) -> list[Any]:
        out = list(self._updates)
        for s in self._sublayers:
            out.extend(s.updates)
        return self._unique(out)

    def weight_name(self, v: Variable) -> str:
        """The name ``v`` was made with in :meth:`add_weight` (``kernel``, ``bias``, ...)."""
        return self._weight_names.get(id(v), v.op.name.rsplit("/", 1)[-1])

    def count_params(self) -> int:
        """The number of scalars in the layer's weights (the layer must be built)."""
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on {self.name}, but the layer isn't built. "
                "You can build it manually via: `layer.build(batch_input_shape)`."
            )
        total = 0
        for w in self.weights:
            n = 1
            for d in w.shape.as_list():
                n *= int(d)
            total += n
        return total

    # -- what subclasses define -------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Make the layer's weights for inputs of ``input_shape`` (a TensorShape)."""
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        """The layer's computation on ``inputs``."""
        return inputs

    def compute_output_shape(self, input_shape: Any) -> TensorShape:
        """The output's static shape for inputs of ``input_shape`` (a TensorShape)."""
        raise NotImplementedError(f"{type(self).__name__}.compute_output_shape")

    # -- weights, updates, losses -------------------------------------------------------
    def add_weight(
        self,
        name: str,
        shape: Any = None,
        dtype: Any = None,
        initializer: Any = None,
        regularizer: Callable[[Any], Any] | None = None,
        trainable: bool = True,
        constraint: Callable[[Tensor], Tensor] | None = None,
        **kwargs: Any,
    ) -> Variable:
        """Make (or, for tf.layers under a reusing scope, find) the weight ``name``; the
        initializer and regularizer may be given by name (``"zeros"``, ``"l2"``).

        tf.layers: ``tf.get_variable(name, shape, dtype, initializer, ...)`` in the
        layer's variable scope (so a None initializer means the scope's, else Glorot
        uniform for floats); a regularizer's loss is added (to ``layer.losses`` and
        ``REGULARIZATION_LOSSES``) only when the variable is made, not when reused.
        Keras style: a ``tf.Variable`` named ``<layer name>/<name>``, the initializer
        (default Glorot uniform for floats, zeros otherwise) called with shape and dtype."""
        for k in ("partitioner", "use_resource", "synchronization", "aggregation", "getter"):
            kwargs.pop(k, None)
        if kwargs:
            raise TypeError(f"add_weight got an unexpected keyword argument {sorted(kwargs)[0]!r}")
        dt = _dt.as_dtype(dtype) if dtype is not None else (self._dtype or _dt.float32)
        initializer = _inits.get(initializer)
        regularizer = _regs.get(regularizer)
        shape_list = [int(d) for d in TensorShape(shape).as_list()] if shape is not None else []
        graph = get_default_graph()
        if self._keras_style:
            v = self._keras_weight(
                graph, name, shape_list, dt, initializer, trainable and self.trainable, constraint
            )
            created = True
        else:
            before = {id(x) for x in graph.get_collection(GraphKeys.GLOBAL_VARIABLES)}
            v = get_variable(
                name,
                shape=shape_list,
                dtype=dt,
                initializer=initializer,
                trainable=trainable and self.trainable,
                constraint=constraint,
            )
            created = id(v) not in before
        if trainable and self.trainable and v.trainable:
            if all(v is not w for w in self._trainable_weights):
                self._trainable_weights.append(v)
        elif all(v is not w for w in self._non_trainable_weights):
            self._non_trainable_weights.append(v)
        self._weight_names[id(v)] = name
        if regularizer is not None and created:
            with graph.name_scope(name + "/Regularizer"):
                loss = regularizer(v)
            if loss is not None:
                self._losses.append(loss)
                if not self._keras_style:
                    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
        return v

    def _keras_weight(
        self,
        graph: Graph,
        name: str,
        shape: list[int],
        dtype: _dt.DType,
        initializer: Any,
        trainable: bool,
        constraint: Any,
    ) -> Variable:
        if initializer is None:
            initializer = GlorotUniform() if dtype.is_floating else Zeros()
        if isinstance(initializer, type):
            initializer = initializer()
        init = initializer

        def initial_value() -> Any:
            return init(shape, dtype=dtype)

        scope = contextlib.nullcontext() if self._in_call else graph.name_scope(self.name)
        with scope:
            return Variable(initial_value, name=name, trainable=trainable, dtype=dtype, constraint=constraint)

    def add_update(self, updates: Any, inputs: Any = None) -> None:
        """Record update ops (run with each training step): on the layer, in every open
        :func:`collect_call_effects` block, and for tf.layers in ``UPDATE_OPS``."""
        graph = get_default_graph()
        for u in nest.flatten(updates):
            self._updates.append(u)
            for c in _collectors():
                c.updates.append(u)
            if not self._keras_style:
                graph.add_to_collection(GraphKeys.UPDATE_OPS, u)

    def add_loss(self, losses: Any, inputs: Any = None) -> None:
        """Record losses to be added to the training loss (tf.layers: also to
        ``REGULARIZATION_LOSSES``, as TF1's layers do)."""
        graph = get_default_graph()
        for loss in nest.flatten(losses):
            t = convert_to_tensor(loss)
            if inputs is None:
                self._losses.append(t)
            for c in _collectors():
                c.losses.append(t)
            if not self._keras_style:
                graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, t)

    def get_updates_for(self, inputs: Any) -> list[Any]:
        """The layer's updates (graphc does not track which inputs they came from)."""
        return list(self._updates)

    def get_losses_for(self, inputs: Any) -> list[Tensor]:
        """The layer's losses (graphc does not track which inputs they came from)."""
        return list(self._losses)

    # -- calling ------------------------------------------------------------------------
    def _call_accepts(self, arg: str) -> bool:
        params = inspect.signature(self.call).parameters
        return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def _resolve_training(self, training: Any) -> bool | Tensor:
        """``training`` as a Python bool or a scalar bool tensor (see
        :func:`graphc.layers.utils.check_training`); None is the layer's default."""
        if training is None:
            return learning_phase() if self._keras_style else False
        return check_training(training, f"layer {self.name!r}")

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Build on the first call, then ``call(inputs, *args, **kwargs)``; a ``scope``
        keyword (tf.layers) names the variable scope on the first call."""
        scope = kwargs.pop("scope", None)
        graph = _graph_of(inputs) or get_default_graph()
        with graph.as_default():
            inputs = _to_tensors(inputs)
            if self._keras_style:
                with graph.name_scope(self.name):
                    outputs = self._build_and_call(inputs, args, kwargs)
            else:
                self._set_scope(scope)
                assert self._scope is not None
                reuse = True if self.built else self._reuse
                with variable_scope(self._scope, reuse=reuse, auxiliary_name_scope=False) as vs:
                    self._current_scope = vs
                    with graph.name_scope(vs.original_name_scope):
                        outputs = self._build_and_call(inputs, args, kwargs)
            self._record_node(inputs, outputs, args, kwargs)
        return outputs

    def _set_scope(self, scope: Any = None) -> None:
        if self._scope is None:
            if self._reuse:
                with variable_scope(scope if scope is not None else self._base_name) as captured:
                    self._scope = captured
            else:
                with variable_scope(scope, default_name=self._base_name) as captured:
                    self._scope = captured

    def _build_and_call(self, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        first = nest.flatten(inputs)[0] if nest.flatten(inputs) else None
        if self.input_spec is not None and isinstance(first, Tensor):
            self.input_spec.check(self.name, first)
        self._in_call = True
        try:
            if not self.built:
                if self._dtype is None:
                    dt = first.dtype if isinstance(first, Tensor) else _dt.float32
                    self._dtype = dt if dt.is_floating else _dt.float32
                self.build(_shapes(inputs) if not isinstance(inputs, Tensor) else inputs.shape)
                self.built = True
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            self._in_call = False
        if self.activity_regularizer is not None:
            graph = get_default_graph()
            with graph.name_scope("ActivityRegularizer"):
                losses = [
                    self.activity_regularizer(t) for t in nest.flatten(outputs) if isinstance(t, Tensor)
                ]
            for loss in losses:
                for c in _collectors():
                    c.losses.append(loss)
                if not self._keras_style:
                    self._losses.append(loss)
                    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
        return outputs

    def _record_node(self, inputs: Any, outputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        node = Node(self, inputs, outputs, args, dict(kwargs))
        self._inbound_nodes.append(node)
        index = len(self._inbound_nodes) - 1
        for i, t in enumerate(node.output_tensors):
            _HISTORY[t] = (self, index, i)

    def apply(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """TF1's alias of ``__call__``."""
        return self(inputs, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} name={self.name!r}>"
