"""tf.Variable and the variable helpers of TF1 (collections, initializers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphc import dtypes as _dt
from graphc.frontend.default_session import session_for
from graphc.frontend.graph import GraphKeys, Operation, Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops import state_ops
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import group, identity, no_op


class Variable:
    """A TF1 variable: a VariableV2 op, an initial value and an ``initializer`` (Assign).

    Using a Variable where a Tensor is expected reads its value. Within one run,
    a read that depends (through data or control) on an assignment sees the new
    value; other reads see the value from the start of the run.
    """

    def __init__(
        self,
        initial_value: Any = None,
        trainable: bool = True,
        collections: Sequence[str] | None = None,
        validate_shape: bool = True,
        caching_device: Any = None,
        name: str | None = None,
        variable_def: Any = None,
        dtype: Any = None,
        expected_shape: Any = None,
        import_scope: Any = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
        use_resource: Any = None,
        synchronization: Any = None,
        aggregation: Any = None,
        shape: Any = None,
    ) -> None:

        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        graph = get_default_graph()
        with graph.name_scope(name or "Variable") as scope:
            base_name = scope[:-1]
            with graph.control_dependencies(None):
                with graph.name_scope("Initializer"):
                    init = initial_value() if callable(initial_value) else initial_value
                    init_t = convert_to_tensor(init, dtype=dtype, name="initial_value")
                var_shape = TensorShape(shape) if shape is not None else init_t.shape
                if validate_shape and not var_shape.is_fully_defined():
                    raise ValueError(
                        f"initial_value of variable {base_name!r} must have a fully defined shape "
                        f"(got {init_t.shape}); pass validate_shape=False or a static shape"
                    )
                self._variable = graph.create_op(
                    "VariableV2",
                    [],
                    {"shape": var_shape.as_tuple(), "dtype": init_t.dtype},
                    name="VariableV2",
                ).outputs[0]
                self._initializer_op = state_ops.assign(
                    self._variable, init_t, validate_shape=validate_shape, name="Assign"
                ).op
                self._snapshot = self._variable
                self._initial_value = init_t
        # The VariableV2 op takes the scope's own name ("w", not "w/var"): TF1 naming.
        self._rename_var_op(graph, base_name)
        graph._variable_initializers[self._variable.op._id] = self._initializer_op
        _record_initial_value_reads(graph, init_t)
        self._trainable = trainable
        self._constraint = constraint
        self._graph = graph
        self._save_slice_info = None
        cols = list(collections) if collections is not None else [GraphKeys.GLOBAL_VARIABLES]
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in cols:
            cols.append(GraphKeys.TRAINABLE_VARIABLES)
        graph.add_to_collections(cols, self)
        _ = (
            caching_device,
            variable_def,
            expected_shape,
            import_scope,
            use_resource,
            synchronization,
            aggregation,
            identity,
        )

    def _rename_var_op(self, graph: Any, base_name: str) -> None:
        op = self._variable.op
        del graph._by_name[op.name]
        op.name = base_name
        graph._by_name[base_name] = op

    # -- TF1 attributes ---------------------------------------------------------
    @property
    def name(self) -> str:
        return self._variable.name

    @property
    def op(self) -> Operation:
        return self._variable.op

    @property
    def dtype(self) -> _dt.DType:
        return self._variable.dtype

    @property
    def shape(self) -> TensorShape:
        return self._variable.shape

    def get_shape(self) -> TensorShape:
        return self._variable.shape

    @property
    def graph(self) -> Any:
        return self._graph

    @property
    def device(self) -> str:
        return self._variable.op.device

    @property
    def initializer(self) -> Operation:
        return self._initializer_op

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def constraint(self) -> Any:
        return self._constraint

    def value(self) -> Tensor:
        return self._snapshot

    def read_value(self) -> Tensor:

        return identity(self._variable, name="read")

    def initialized_value(self) -> Tensor:
        """The initial value; unlike TF1 this does not need a conditional read."""
        return self._initial_value

    def _as_graph_element(self) -> Tensor:
        return self._variable

    def _ref(self) -> Tensor:
        return self._variable

    def assign(
        self, value: Any, use_locking: bool = False, name: str | None = None, read_value: bool = True
    ) -> Any:

        t = state_ops.assign(self, value, name=name)
        return t if read_value else t.op

    def assign_add(
        self, delta: Any, use_locking: bool = False, name: str | None = None, read_value: bool = True
    ) -> Any:

        t = state_ops.assign_add(self, delta, name=name)
        return t if read_value else t.op

    def assign_sub(
        self, delta: Any, use_locking: bool = False, name: str | None = None, read_value: bool = True
    ) -> Any:

        t = state_ops.assign_sub(self, delta, name=name)
        return t if read_value else t.op

    def eval(self, session: Any = None) -> Any:
        return self._variable.eval(session=session)

    def load(self, value: Any, session: Any = None) -> None:
        """Write ``value`` into the variable in ``session`` without adding ops."""
        session_for(session, self._graph)._load_variable(self, value)

    def set_shape(self, shape: Any) -> None:
        self._variable.set_shape(shape)

    def __repr__(self) -> str:
        return f"<graphc.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> Any:
        raise TypeError("'Variable' object is not iterable.")

    def __getitem__(self, key: Any) -> Tensor:
        return self._variable[key]


def _record_initial_value_reads(graph: Any, init: Tensor) -> None:
    """Note the ops in an initial value that read other variables. In a run that also
    runs those variables' initializers, such a read sees the initialized value (TF1 makes
    an initial value that uses another variable wait for that variable's initializer)."""
    seen: set[int] = set()
    stack = [init.op]
    while stack:
        op = stack.pop()
        if op._id in seen:
            continue
        seen.add(op._id)
        for t in op.inputs:
            if t.op.type == "VariableV2":
                graph._initial_value_readers.setdefault(op._id, set()).add(t.op._id)
            else:
                stack.append(t.op)


def _forward(name: str) -> Callable[..., Any]:
    def method(self: Variable, *args: Any) -> Any:
        return getattr(self._variable, name)(*args)

    method.__name__ = name
    return method


for _op in (
    "add",
    "sub",
    "mul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "matmul",
    "and",
    "or",
    "xor",
):
    setattr(Variable, f"__{_op}__", _forward(f"__{_op}__"))
    setattr(Variable, f"__r{_op}__", _forward(f"__r{_op}__"))
for _op in ("neg", "abs", "invert", "lt", "le", "gt", "ge"):
    setattr(Variable, f"__{_op}__", _forward(f"__{_op}__"))


def global_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.MODEL_VARIABLES, scope)


def variables_initializer(var_list: Sequence[Variable], name: str = "init") -> Operation:
    """A single op that runs the initializers of ``var_list``."""

    if not var_list:
        return no_op(name=name)
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


def local_variables_initializer() -> Operation:
    return variables_initializer(local_variables(), name="init_1")
