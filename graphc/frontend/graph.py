"""The frontend graph: Graph, Operation, Tensor, scopes and collections (TF1 semantics)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.frontend.default_session import clear_interactive_sessions, session_for
from graphc.frontend.location import Location, user_location
from graphc.frontend.tensor_shape import TensorShape, as_shape

_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$")
_MAX_VALUE_ELEMENTS = 256  # small int tensors keep a partial value for shape inference


class GraphKeys:
    """Standard collection names (TF1's)."""

    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    MODEL_VARIABLES = "model_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    TABLE_INITIALIZERS = "table_initializer"
    GLOBAL_STEP = "global_step"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    INIT_OP = "init_op"
    TRAIN_OP = "train_op"
    SAVERS = "savers"
    METRIC_VARIABLES = "metric_variables"
    ACTIVATIONS = "activations"
    WEIGHTS = "weights"
    BIASES = "biases"
    VARIABLES = GLOBAL_VARIABLES


class Tensor:
    """A symbolic value: output ``value_index`` of ``op``."""

    __array_priority__ = 100  # so ndarray (op) tensor defers to Tensor's reflected ops

    def __init__(self, op: Operation, value_index: int, dtype: _dt.DType, shape: TensorShape):
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = shape
        self._value: np.ndarray | None = None  # partial value (ints/None) for shape rules
        self._consumers: list[Operation] = []

    @property
    def op(self) -> Operation:
        return self._op

    @property
    def value_index(self) -> int:
        return self._value_index

    @property
    def dtype(self) -> _dt.DType:
        return self._dtype

    @property
    def graph(self) -> Graph:
        return self._op.graph

    @property
    def name(self) -> str:
        return f"{self._op.name}:{self._value_index}"

    @property
    def device(self) -> str:
        return self._op.device

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    def set_shape(self, shape: Any) -> None:
        """Refine the static shape (TF1): must be compatible with the inferred one."""
        try:
            self._shape = self._shape.merge_with(as_shape(shape))
        except ValueError:
            raise ValueError(
                f"Tensor {self.name} has shape {self._shape}, which is incompatible with "
                f"{as_shape(shape)} (created at {self._op.location})"
            ) from None

    def consumers(self) -> list[Operation]:
        return list(self._consumers)

    def eval(self, feed_dict: Any = None, session: Any = None) -> Any:
        return session_for(session, self.graph).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<graphc.Tensor '{self.name}' shape={self._shape} dtype={self._dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "Using a graphc Tensor as a Python bool is not allowed: its value is only "
            "known when the graph runs. Use tf.cond-free arithmetic or tf.where instead."
        )

    def __len__(self) -> int:
        if self._shape.ndims == 0:
            # TF1: a scalar has no length (and NumPy must not take it for an empty sequence).
            raise TypeError(f"len() of unsized object: tensor {self.name} is a scalar")
        d = self._shape.ndims and self._shape.as_list()[0]
        if d is None:
            raise TypeError(f"len() of tensor {self.name} with unknown first dimension")
        return d

    def __iter__(self) -> Iterator[Tensor]:
        n = len(self)
        for i in range(n):
            yield self[i]

    # Python operators are attached by graphc.ops.operators, indexing by graphc.ops.slicing_ops
    # (the op modules sit above the frontend).


class Operation:
    """A node of the frontend graph."""

    def __init__(
        self,
        graph: Graph,
        op_type: str,
        name: str,
        inputs: Sequence[Tensor],
        attrs: dict[str, Any],
        control_inputs: Sequence[Operation],
        device: str,
        location: Location,
    ) -> None:
        self.graph = graph
        self.type = op_type
        self.name = name
        self._inputs = tuple(inputs)
        self.attrs = attrs
        self._control_inputs = list(control_inputs)
        self.device = device
        self.location = location
        self.outputs: list[Tensor] = []
        self._id = graph._next_id()
        self._grad_override: str | None = None

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return self._inputs

    @property
    def control_inputs(self) -> list[Operation]:
        return list(self._control_inputs)

    @property
    def op_def(self) -> reg.OpDef:
        return reg.get(self.type)

    @property
    def node_def(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.type, "input": [t.name for t in self._inputs]}

    def values(self) -> tuple[Tensor, ...]:
        return tuple(self.outputs)

    def get_attr(self, name: str) -> Any:
        if name not in self.attrs:
            raise ValueError(f"Operation {self.name!r} has no attr named {name!r}")
        return self.attrs[name]

    def _add_control_input(self, op: Operation) -> None:
        if op not in self._control_inputs:
            self._control_inputs.append(op)

    def run(self, feed_dict: Any = None, session: Any = None) -> None:
        session_for(session, self.graph).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<graphc.Operation '{self.name}' type={self.type}>"


class Graph:
    """A TF1 graph: ops, name scopes, control-dependency and device scopes, collections."""

    def __init__(self) -> None:
        self._ops: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._control_stack: list[list[Operation] | None] = []
        self._device_stack: list[str] = []
        self._collections: dict[str, list[Any]] = {}
        self._finalized = False
        self._gradient_override_map: dict[str, str] = {}
        self.seed: int | None = None
        self._id_counter = 0
        self._lock = threading.RLock()
        self._variable_store: Any = None  # set by variable_scope machinery
        # Variables whose initial value reads other variables: reader op id -> variable op
        # ids it reads, and variable op id -> its initializer (see Variable and ir/lower.py).
        self._initial_value_readers: dict[int, set[int]] = {}
        self._variable_initializers: dict[int, Operation] = {}
        self._version = 0

    # -- identity ------------------------------------------------------
    def _next_id(self) -> int:
        self._id_counter += 1
        return self._id_counter

    @property
    def _last_id(self) -> int:
        return self._id_counter

    @property
    def version(self) -> int:
        return self._version

    @property
    def finalized(self) -> bool:
        return self._finalized

    def finalize(self) -> None:
        """Make the graph read-only: creating an op afterwards raises RuntimeError."""
        self._finalized = True

    def _unsafe_unfinalize(self) -> None:
        self._finalized = False

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        _default_graph_stack.append(self)
        try:
            yield self
        finally:
            _default_graph_stack.pop()

    # -- names ---------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        if self._name_stack:
            name = f"{self._name_stack}/{name}"
        key = name.lower()
        count = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = count + 1
        if count > 0:
            base = name
            while True:
                name = f"{base}_{count}"
                if name.lower() not in self._names_in_use:
                    break
                count += 1
            if mark_as_used:
                self._names_in_use[name.lower()] = 1
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """TF1 name scopes: a name ending in '/' is absolute; '' or None resets to the top."""
        old = self._name_stack
        if not name:
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            if not _VALID_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid scope name")
            # A scope name is made unique like an op name, then kept for its ops.
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    # -- control dependencies and devices -------------------------------
    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Sequence[Any] | None) -> Iterator[None]:
        """Ops built inside depend on ``control_inputs``; None clears the outer scopes."""
        if control_inputs is None:
            self._control_stack.append(None)
        else:
            ops: list[Operation] = []
            for c in control_inputs:
                el = self.as_graph_element(c, allow_tensor=True, allow_operation=True)
                ops.append(el.op if isinstance(el, Tensor) else el)
            self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    def _current_control_inputs(self) -> list[Operation]:
        out: list[Operation] = []
        for frame in reversed(self._control_stack):
            if frame is None:
                break
            for op in frame:
                if op not in out:
                    out.append(op)
        return out

    @contextlib.contextmanager
    def device(self, device_name: str | None) -> Iterator[None]:
        """Record a device on ops built inside (placement is done by the backend)."""
        self._device_stack.append(device_name or "")
        try:
            yield
        finally:
            self._device_stack.pop()

    def _current_device(self) -> str:
        for d in reversed(self._device_stack):
            if d:
                return d
        return ""

    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map: dict[str, str]) -> Iterator[None]:
        old = dict(self._gradient_override_map)
        self._gradient_override_map.update(op_type_map)
        try:
            yield
        finally:
            self._gradient_override_map = old

    # -- collections ---------------------------------------------------
    def add_to_collection(self, name: str, value: Any) -> None:
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names: Sequence[str] | str, value: Any) -> None:
        for n in [names] if isinstance(names, str) else names:
            self.add_to_collection(n, value)

    def get_collection(self, name: str, scope: str | None = None) -> list[Any]:
        items = self._collections.get(name, [])
        if scope is None:
            return list(items)
        pat = re.compile(scope)
        return [x for x in items if hasattr(x, "name") and pat.match(x.name)]

    def get_collection_ref(self, name: str) -> list[Any]:
        return self._collections.setdefault(name, [])

    def get_all_collection_keys(self) -> list[str]:
        return list(self._collections)

    def clear_collection(self, name: str) -> None:
        self._collections.pop(name, None)

    # -- lookup --------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"The name {name!r} refers to an Operation not in the graph.") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        el = self.as_graph_element(name, allow_tensor=True, allow_operation=False)
        assert isinstance(el, Tensor)
        return el

    def as_graph_element(
        self, obj: Any, allow_tensor: bool = True, allow_operation: bool = True
    ) -> Tensor | Operation:
        """Resolve a Tensor, Operation, Variable or name ("op" or "op:0") to this graph's."""
        if hasattr(obj, "_as_graph_element"):
            obj = obj._as_graph_element()
        if isinstance(obj, Tensor) and allow_tensor:
            if obj.graph is not self:
                raise ValueError(f"Tensor {obj.name} is not an element of this graph.")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj.graph is not self:
                raise ValueError(f"Operation {obj.name} is not an element of this graph.")
            return obj
        if isinstance(obj, str):
            if ":" in obj and allow_tensor:
                op_name, _, idx = obj.rpartition(":")
                if op_name not in self._by_name:
                    raise KeyError(f"The name {obj!r} refers to a Tensor which does not exist.")
                op = self._by_name[op_name]
                try:
                    return op.outputs[int(idx)]
                except (ValueError, IndexError):
                    raise KeyError(
                        f"The name {obj!r} refers to a Tensor which does not exist "
                        f"(operation {op_name!r} has {len(op.outputs)} outputs)."
                    ) from None
            if obj in self._by_name:
                if allow_operation:
                    return self._by_name[obj]
                raise ValueError(
                    f"The name {obj!r} refers to an Operation, not a Tensor. Tensor names "
                    f"must be of the form '<op_name>:<output_index>'."
                )
            raise KeyError(f"The name {obj!r} refers to nothing in the graph.")
        kinds = " or ".join(k for k, ok in (("Tensor", allow_tensor), ("Operation", allow_operation)) if ok)
        raise TypeError(f"Can not convert a {type(obj).__name__} into a {kinds}.")

    # -- building ------------------------------------------------------
    def create_op(
        self,
        op_type: str,
        inputs: Sequence[Tensor],
        attrs: dict[str, Any] | None = None,
        name: str | None = None,
        control_inputs: Sequence[Operation] = (),
    ) -> Operation:
        """Build an op: run its shape and dtype rules now, naming the op and the user's line on error."""
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        opdef = reg.get(op_type)
        attrs = dict(attrs or {})
        location = user_location()
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{op_type}: input {t!r} is not a Tensor")
            if t.graph is not self:
                raise ValueError(
                    f"{op_type} at {location}: Tensor {t.name} must be from the same graph "
                    f"as the other inputs of this op."
                )
        with self._lock:
            op_name = self.unique_name(name or op_type)
            env = reg.FrontendDims()
            ctx = reg.InferenceContext(
                op_type,
                [_to_dims(t.shape, env) for t in inputs],
                [t.dtype for t in inputs],
                [_load_value(t._value, env) for t in inputs],
                attrs,
                env,
            )
            try:
                out_dtypes = opdef.dtype(ctx)
                out_shapes = opdef.shape(ctx)
                out_values = opdef.value(ctx) if opdef.value is not None else None
            except (reg.ShapeError, TypeError, ValueError) as exc:
                err = type(exc) if not isinstance(exc, reg.ShapeError) else ValueError
                shapes = ", ".join(str(t.shape) for t in inputs)
                raise err(
                    f"{op_type} op {op_name!r} at {location}: {exc} (input shapes: {shapes or 'none'})"
                ) from None
            controls = self._current_control_inputs()
            for c in control_inputs:
                if c not in controls:
                    controls.append(c)
            op = Operation(self, op_type, op_name, inputs, attrs, controls, self._current_device(), location)
            if op_type in self._gradient_override_map:
                op._grad_override = self._gradient_override_map[op_type]
            for i, (dt, shp) in enumerate(zip(out_dtypes, out_shapes)):
                t = Tensor(op, i, dt, _from_dims(shp, env))
                if out_values is not None and out_values[i] is not None:
                    t._value = _store_value(out_values[i], env)
                op.outputs.append(t)
            for t in inputs:
                t._consumers.append(op)
            self._ops.append(op)
            self._by_name[op_name] = op
            self._version += 1
        return op


def _to_dims(shape: TensorShape, env: reg.FrontendDims) -> reg.Shape:
    dims = shape.as_tuple()
    if dims is None:
        return None
    return tuple(env.fresh() if d is None else d for d in dims)


def _from_dims(shape: reg.Shape, env: reg.FrontendDims) -> TensorShape:
    if shape is None:
        return TensorShape(None)
    return TensorShape([d if isinstance(d, int) else None for d in shape])


def _load_value(v: np.ndarray | None, env: reg.FrontendDims) -> np.ndarray | None:
    if v is None:
        return None
    out = np.empty(v.shape, dtype=object)
    for idx, x in np.ndenumerate(v):
        out[idx] = env.fresh() if x is None else x
    return out


def _store_value(v: Any, env: reg.FrontendDims) -> np.ndarray | None:
    arr = np.asarray(v, dtype=object)
    if arr.size > _MAX_VALUE_ELEMENTS:
        return None
    out = np.empty(arr.shape, dtype=object)
    for idx, x in np.ndenumerate(arr):
        if isinstance(x, sym.Poly) or x is None:
            out[idx] = None
        elif isinstance(x, np.generic):
            out[idx] = x.item()
        else:
            out[idx] = x
    return out


# -- the default graph ---------------------------------------------------------
_default_graph_stack: list[Graph] = []
_global_default_graph: Graph | None = None


def get_default_graph() -> Graph:
    global _global_default_graph
    if _default_graph_stack:
        return _default_graph_stack[-1]
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph() -> None:
    """Clear the global default graph (TF1: not allowed inside a ``with g.as_default()``)."""
    global _global_default_graph
    if _default_graph_stack:
        raise AssertionError(
            "Do not use tf.reset_default_graph() to clear nested graphs. If you need a "
            "cleared graph, exit the nesting and create a new graph."
        )
    _global_default_graph = Graph()
    clear_interactive_sessions()
