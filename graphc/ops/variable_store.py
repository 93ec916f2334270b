"""The state behind tf.get_variable and tf.variable_scope: the enums get_variable takes,
each graph's store (its variables by full name and the per-thread scope state) and the
VariableScope objects. graphc.ops.variable_scope, the public module, re-exports every
name here; its docstring gives the rules."""

from __future__ import annotations

import enum
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Graph, GraphKeys, Tensor, get_default_graph
from graphc.frontend.tensor_shape import as_shape
from graphc.ops import init_ops
from graphc.ops.core_ops import constant
from graphc.ops.variables import Variable


class _ReuseMode(enum.Enum):
    """The one reuse mode that is neither True nor False."""

    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE
"""reuse=AUTO_REUSE: get_variable creates a variable that does not exist and returns one that does."""


class VariableSynchronization(enum.Enum):
    """tf.VariableSynchronization (recorded only; graphc runs on one device)."""

    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregation(enum.Enum):
    """tf.VariableAggregation (recorded only; graphc runs on one device)."""

    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3
    ONLY_FIRST_TOWER = 3  # TF1's old name: an alias of ONLY_FIRST_REPLICA


# -- tf.get_variable's arguments ------------------------------------------------------------------
# The arguments of tf.get_variable after ``name``, in TF1's order, with their defaults.
# Every function that takes them (tf.get_variable and tf.get_local_variable,
# VariableScope.get_variable, _VariableStore.get_variable and the getter a custom getter
# is given) binds its arguments against a signature made from this one list.
GET_VARIABLE_ARGS: tuple[tuple[str, Any], ...] = (
    ("shape", None),
    ("dtype", None),
    ("initializer", None),
    ("regularizer", None),
    ("trainable", None),
    ("collections", None),
    ("caching_device", None),
    ("partitioner", None),
    ("validate_shape", True),
    ("use_resource", None),
    ("custom_getter", None),
    ("constraint", None),
    ("synchronization", VariableSynchronization.AUTO),
    ("aggregation", VariableAggregation.NONE),
)


def get_variable_signature(
    leading: Sequence[str],
    with_reuse: bool = False,
    without: Sequence[str] = (),
    **defaults: Any,
) -> inspect.Signature:
    """``leading`` (required, positional or keyword), then GET_VARIABLE_ARGS: with ``reuse``
    after ``regularizer`` (where TF1's scope and store take it), less ``without``, with the
    defaults in ``defaults`` changed."""
    args = list(GET_VARIABLE_ARGS)
    if with_reuse:
        at = [k for k, _ in args].index("regularizer") + 1
        args.insert(at, ("reuse", None))
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind) for n in leading]
    params += [inspect.Parameter(k, kind, default=defaults.get(k, v)) for k, v in args if k not in without]
    return inspect.Signature(params)


def bind_arguments(
    signature: inspect.Signature, args: Sequence[Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Every argument by name, defaults filled in (TypeError as for a call of a function
    with that signature)."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _validate_sync_trainable(
    synchronization: Any, aggregation: Any, trainable: bool | None, name: str
) -> bool:
    """TF1's rule: trainable defaults to True unless the variable is synchronised on read."""
    if synchronization is None:
        synchronization = VariableSynchronization.AUTO
    if not isinstance(synchronization, VariableSynchronization):
        synchronization = VariableSynchronization(synchronization)
    if aggregation is not None and not isinstance(aggregation, VariableAggregation):
        try:
            VariableAggregation(aggregation)
        except ValueError:
            raise ValueError(
                f"Invalid variable aggregation mode: {aggregation} for variable: {name}"
            ) from None
    if synchronization == VariableSynchronization.ON_READ:
        if trainable:
            raise ValueError(
                "Synchronization value can be set to VariableSynchronization.ON_READ only for "
                "non-trainable variables. You have specified trainable=True and "
                "synchronization=VariableSynchronization.ON_READ."
            )
        return False
    return True if trainable is None else bool(trainable)


# -- the per-graph store ----------------------------------------------------------------
class _VariableScopeStore(threading.local):
    """The current variable scope and how often each scope name was opened (per thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.current_scope = VariableScope(False)
        self.variable_scopes_count: dict[str, int] = {}

    def open_variable_scope(self, scope_name: str) -> None:
        self.variable_scopes_count[scope_name] = self.variable_scopes_count.get(scope_name, 0) + 1

    def close_variable_subscopes(self, scope_name: str | None) -> None:
        # Leaving a scope forgets its sub-scopes' counts: default names restart there.
        for k in list(self.variable_scopes_count):
            if scope_name is None or k.startswith(scope_name + "/"):
                self.variable_scopes_count[k] = 0

    def variable_scope_count(self, scope_name: str) -> int:
        return self.variable_scopes_count.get(scope_name, 0)


class _VariableStore:
    """The variables tf.get_variable made in one graph, by full name, and the scope state."""

    def __init__(self) -> None:
        self._vars: dict[str, Variable] = {}
        self.scopes = _VariableScopeStore()

    @property
    def variables(self) -> dict[str, Variable]:
        return dict(self._vars)

    def get_variable(self, *args: Any, **kwargs: Any) -> Variable:
        """Create or return the variable ``name`` (a full name), as TF1's _VariableStore does;
        a custom getter gets the real getter as ``getter`` and may wrap it."""
        a = bind_arguments(_STORE_GET_VARIABLE, (self, *args), kwargs)
        del a["self"]
        name, custom_getter, constraint = a.pop("name"), a.pop("custom_getter"), a.pop("constraint")
        if custom_getter is not None and not callable(custom_getter):
            raise ValueError(f"Passed a custom_getter which is not callable: {custom_getter}")
        if a["dtype"] is not None:
            a["dtype"] = _dt.as_dtype(a["dtype"])
        a["trainable"] = _validate_sync_trainable(
            a["synchronization"], a["aggregation"], a["trainable"], name
        )

        def true_getter(*args: Any, **kwargs: Any) -> Variable:
            g = bind_arguments(_TRUE_GETTER, args, kwargs)
            shape, partitioner = g["shape"], g["partitioner"]
            is_scalar = isinstance(shape, list | tuple) and not shape
            if partitioner is not None and not is_scalar:
                raise NotImplementedError(
                    f"get_variable({g['name']!r}): partitioned variables (partitioner=...) are not "
                    f"supported by graphc"
                )
            return self._get_single_variable(**{k: g[k] for k in _SINGLE_VARIABLE_ARGS})

        true_getter.__signature__ = _TRUE_GETTER  # type: ignore[attr-defined]
        if custom_getter is None:
            return true_getter(name, constraint=constraint, **a)
        # Custom getters written before `constraint` existed do not take it (TF1 checks too).
        if _accepts_keyword(custom_getter, "constraint"):
            a["constraint"] = constraint
        return custom_getter(getter=true_getter, name=name, **a)

    def _get_single_variable(
        self,
        name: str,
        shape: Any,
        dtype: Any,
        initializer: Any,
        regularizer: Callable[[Any], Any] | None,
        reuse: Any,
        trainable: bool | None,
        collections: Sequence[str] | None,
        validate_shape: bool,
        constraint: Callable[[Tensor], Tensor] | None,
    ) -> Variable:
        initializing_from_value = initializer is not None and not callable(initializer)
        if shape is not None and initializing_from_value:
            raise ValueError("If initializer is a constant, do not specify shape.")
        dt = _dt.as_dtype(dtype if dtype is not None else _dt.float32)
        var_shape = as_shape(shape)

        if name in self._vars:
            found = self._vars[name]
            if reuse is False:
                raise ValueError(
                    f"Variable {name} already exists, disallowed. Did you mean to set reuse=True or "
                    f"reuse=tf.AUTO_REUSE in VarScope? Originally defined at:\n\n  {found.op.location}"
                )
            if not var_shape.is_compatible_with(found.get_shape()):
                raise ValueError(
                    f"Trying to share variable {name}, but specified shape {var_shape} and found "
                    f"shape {found.get_shape()}."
                )
            if dt != found.dtype:
                raise ValueError(
                    f"Trying to share variable {name}, but specified dtype {dt.name} and found "
                    f"dtype {found.dtype.name}."
                )
            return found

        if reuse is True:
            raise ValueError(
                f"Variable {name} does not exist, or was not created with tf.get_variable(). "
                f"Did you mean to set reuse=tf.AUTO_REUSE in VarScope?"
            )

        if initializer is None:
            initializer = _default_initializer(name, dt)
        init_val: Any
        variable_dtype: _dt.DType | None
        if initializing_from_value:
            init_val = initializer
            variable_dtype = None
        else:
            if isinstance(initializer, type):
                initializer = initializer()
            if var_shape.is_fully_defined():
                dims = var_shape.as_list()
                init_fn = initializer
                if _accepts_keyword(init_fn, "partition_info"):
                    init_val = lambda: init_fn(dims, dtype=dt, partition_info=None)  # noqa: E731
                else:
                    init_val = lambda: init_fn(dims, dtype=dt)  # noqa: E731
                variable_dtype = dt
            elif _needs_no_arguments(initializer):
                init_val = initializer
                variable_dtype = None
            else:
                raise ValueError(
                    f"The initializer passed for variable {name} is not valid. It should be a "
                    f"callable with no arguments and the shape should not be provided, or an "
                    f"initializer object and `shape` should be fully defined (got shape {var_shape})."
                )

        graph = get_default_graph()
        # The variable's name is the full scoped name, whatever name scope is open.
        with graph.name_scope(None):
            v = Variable(
                initial_value=init_val,
                name=name,
                trainable=bool(trainable),
                collections=collections,
                dtype=variable_dtype,
                validate_shape=validate_shape,
                constraint=constraint,
            )
            self._vars[name] = v
            if regularizer:
                with graph.name_scope(name + "/Regularizer/"):
                    loss = regularizer(v)
                if loss is not None:
                    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
        return v


# The store's and the real getter's signatures: TF1's, with ``reuse`` and dtype float32.
_STORE_GET_VARIABLE = get_variable_signature(("self", "name"), with_reuse=True, dtype=_dt.float32)
_TRUE_GETTER = get_variable_signature(
    ("name",), with_reuse=True, without=("custom_getter",), dtype=_dt.float32
)
_SINGLE_VARIABLE_ARGS = (
    "name",
    "shape",
    "dtype",
    "initializer",
    "regularizer",
    "reuse",
    "trainable",
    "collections",
    "validate_shape",
    "constraint",
)
_VariableStore.get_variable.__signature__ = _STORE_GET_VARIABLE  # type: ignore[attr-defined]


def _default_initializer(name: str, dtype: _dt.DType) -> Any:
    """TF1's defaults: Glorot uniform for floats, zeros (False, "") for ints, bools, strings."""
    if dtype.is_floating:
        return init_ops.glorot_uniform_initializer()
    if dtype.is_integer or dtype.is_bool:
        return init_ops.zeros_initializer()
    if dtype.is_string:
        return _empty_strings
    raise ValueError(f"An initializer for variable {name} of {dtype.name} is required")


def _empty_strings(shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
    return constant(np.full(tuple(shape), b"", dtype=object), dtype=_dt.string, name="zeros")


def _accepts_keyword(fn: Callable[..., Any], keyword: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _needs_no_arguments(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return all(p.default is not inspect.Parameter.empty for p in params if p.kind in required)


def _store_for(graph: Graph) -> _VariableStore:
    store = graph._variable_store
    if store is None:
        store = _VariableStore()
        graph._variable_store = store
    return store


def _get_default_variable_store() -> _VariableStore:
    return _store_for(get_default_graph())


def get_variable_scope_store() -> _VariableScopeStore:
    return _get_default_variable_store().scopes


def get_variable_scope() -> VariableScope:
    """tf.get_variable_scope: the current variable scope of the default graph."""
    return get_variable_scope_store().current_scope


# -- VariableScope ------------------------------------------------------------------------------
class VariableScope:
    """tf.VariableScope: a scope's name and the defaults get_variable takes from it.

    ``reuse`` is False, True or AUTO_REUSE (None only for a scope built by hand,
    which then reuses existing variables and creates missing ones, as in TF1).
    """

    def __init__(
        self,
        reuse: Any,
        name: str = "",
        initializer: Any = None,
        regularizer: Callable[[Any], Any] | None = None,
        caching_device: Any = None,
        partitioner: Any = None,
        custom_getter: Callable[..., Any] | None = None,
        name_scope: str = "",
        dtype: Any = _dt.float32,
        use_resource: Any = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self._name = name
        self._initializer = initializer
        self._regularizer = regularizer
        self._reuse = reuse
        self._caching_device = caching_device
        self._partitioner = partitioner
        self._custom_getter = custom_getter
        self._name_scope = name_scope
        self._dtype = _dt.as_dtype(dtype) if dtype is not None else _dt.float32
        self._use_resource = use_resource
        self._constraint = constraint

    @property
    def name(self) -> str:
        return self._name

    @property
    def original_name_scope(self) -> str:
        return self._name_scope

    @property
    def reuse(self) -> Any:
        return self._reuse

    @property
    def initializer(self) -> Any:
        return self._initializer

    @property
    def dtype(self) -> _dt.DType:
        return self._dtype

    @property
    def use_resource(self) -> Any:
        return self._use_resource

    @property
    def regularizer(self) -> Callable[[Any], Any] | None:
        return self._regularizer

    @property
    def caching_device(self) -> Any:
        return self._caching_device

    @property
    def partitioner(self) -> Any:
        return self._partitioner

    @property
    def custom_getter(self) -> Callable[..., Any] | None:
        return self._custom_getter

    @property
    def constraint(self) -> Callable[[Tensor], Tensor] | None:
        return self._constraint

    def reuse_variables(self) -> None:
        """Reuse variables in this scope from now on (until the scope is left)."""
        self._reuse = True

    def set_initializer(self, initializer: Any) -> None:
        self._initializer = initializer

    def set_dtype(self, dtype: Any) -> None:
        self._dtype = _dt.as_dtype(dtype)

    def set_use_resource(self, use_resource: Any) -> None:
        self._use_resource = use_resource

    def set_regularizer(self, regularizer: Callable[[Any], Any] | None) -> None:
        self._regularizer = regularizer

    def set_caching_device(self, caching_device: Any) -> None:
        self._caching_device = caching_device

    def set_partitioner(self, partitioner: Any) -> None:
        self._partitioner = partitioner

    def set_custom_getter(self, custom_getter: Callable[..., Any] | None) -> None:
        self._custom_getter = custom_getter

    def get_collection(self, name: str) -> list[Any]:
        """The items of collection ``name`` whose names start with this scope's name."""
        scope = self._name + "/" if self._name else ""
        return get_default_graph().get_collection(name, scope)

    def trainable_variables(self) -> list[Any]:
        return self.get_collection(GraphKeys.TRAINABLE_VARIABLES)

    def global_variables(self) -> list[Any]:
        return self.get_collection(GraphKeys.GLOBAL_VARIABLES)

    def local_variables(self) -> list[Any]:
        return self.get_collection(GraphKeys.LOCAL_VARIABLES)

    def get_variable(self, *args: Any, **kwargs: Any) -> Variable:
        """Get or create ``name`` in this scope, filling unset arguments from the scope."""
        a = bind_arguments(_SCOPE_GET_VARIABLE, (self, *args), kwargs)
        del a["self"]
        var_store, name = a.pop("var_store"), a.pop("name")
        for key in ("regularizer", "caching_device", "partitioner", "custom_getter", "reuse", "use_resource"):
            if a[key] is None:
                a[key] = getattr(self, "_" + key)
        full_name = f"{self._name}/{name}" if self._name else name
        graph = get_default_graph()
        with graph.name_scope(None):
            # An explicit dtype must agree with a value initializer's (checked before defaults).
            dtype, initializer = a["dtype"], a["initializer"]
            if dtype is not None and initializer is not None and not callable(initializer):
                init_dtype = _value_dtype(initializer)
                if init_dtype != _dt.as_dtype(dtype):
                    raise ValueError(
                        f"Initializer type '{init_dtype.name}' and explicit dtype "
                        f"'{_dt.as_dtype(dtype).name}' don't match."
                    )
            for key in ("initializer", "constraint", "dtype"):
                if a[key] is None:
                    a[key] = getattr(self, "_" + key)
            return var_store.get_variable(full_name, **a)

    def __repr__(self) -> str:
        return f"<graphc.VariableScope name={self._name!r} reuse={self._reuse!r}>"


_SCOPE_GET_VARIABLE = get_variable_signature(("self", "var_store", "name"), with_reuse=True)
VariableScope.get_variable.__signature__ = _SCOPE_GET_VARIABLE  # type: ignore[attr-defined]


def _value_dtype(value: Any) -> _dt.DType:
    if hasattr(value, "_as_graph_element"):
        value = value._as_graph_element()
    if isinstance(value, Tensor):
        return value.dtype
    return _dt.infer_dtype(value)
