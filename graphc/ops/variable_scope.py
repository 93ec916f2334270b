"""TF1 variable scopes and tf.get_variable: named, shareable variables.

Each graph keeps one store (``graph._variable_store``) mapping full variable
names ("layer1/w") to the Variables that tf.get_variable created, plus the
current variable scope and the counts used to make default scope names unique
(per thread, as in TF1). The rules follow TF1's variable_scope.py:

- a variable's name depends only on the variable scopes, not on name scopes;
- creating a name that exists needs reuse (True or AUTO_REUSE), reusing a name
  that does not exist needs reuse False or AUTO_REUSE;
- reuse, once True, is inherited by every sub-scope; the initializer, regularizer,
  dtype, constraint and custom getter are inherited unless a scope sets its own;
- entering a variable scope also opens a name scope, made unique like any name
  scope, so re-entering "foo" puts ops under "foo_1/" while variables stay "foo/...".

Differences from TF1: partitioned variables are not supported (a partitioner
raises NotImplementedError); ``caching_device`` and ``use_resource`` are
accepted and ignored (graphc has ref-style variables only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from graphc.frontend.graph import Graph, GraphKeys, Tensor, get_default_graph

# The scope objects and the per-graph store live in variable_store; every name there is
# re-exported here, this being the module graphc and its users import them from.
from graphc.ops.variable_store import (  # noqa: F401
    AUTO_REUSE,
    VariableAggregation,
    VariableScope,
    VariableSynchronization,
    _accepts_keyword,
    _default_initializer,
    _empty_strings,
    _get_default_variable_store,
    _needs_no_arguments,
    _ReuseMode,
    _store_for,
    _validate_sync_trainable,
    _value_dtype,
    _VariableScopeStore,
    _VariableStore,
    bind_arguments,
    get_variable_scope,
    get_variable_scope_store,
    get_variable_signature,
)
from graphc.ops.variables import Variable

# -- tf.get_variable --------------------------------------------------------------------------
_GET_VARIABLE = get_variable_signature(("name",))
_GET_LOCAL_VARIABLE = get_variable_signature(("name",), trainable=False)


def get_variable(*args: Any, **kwargs: Any) -> Variable:
    """tf.get_variable(name, shape=None, dtype=None, initializer=None, ...): the variable
    "<current variable scope>/<name>", created or reused according to the scope's reuse
    (its arguments are variable_store.GET_VARIABLE_ARGS). The initializer may be an
    initializer (called with the shape and dtype), a Tensor or a Python/NumPy value (then
    the shape comes from it and ``shape`` must be None); by default Glorot uniform for
    floats, zeros otherwise. Partitioned variables are not supported."""
    a = bind_arguments(_GET_VARIABLE, args, kwargs)
    name = a.pop("name")
    return get_variable_scope().get_variable(_get_default_variable_store(), name, **a)


def get_local_variable(*args: Any, **kwargs: Any) -> Variable:
    """tf.get_local_variable: get_variable into LOCAL_VARIABLES, never trainable (TF1
    ignores the ``trainable`` argument here too)."""
    a = bind_arguments(_GET_LOCAL_VARIABLE, args, kwargs)
    collections = a["collections"]
    a["collections"] = (
        [*collections, GraphKeys.LOCAL_VARIABLES] if collections else [GraphKeys.LOCAL_VARIABLES]
    )
    a["trainable"] = False
    return get_variable(**a)


get_variable.__signature__ = _GET_VARIABLE.replace(return_annotation=Variable)  # type: ignore[attr-defined]
get_local_variable.__signature__ = _GET_LOCAL_VARIABLE.replace(return_annotation=Variable)  # type: ignore[attr-defined]


def no_regularizer(_: Any) -> None:
    """tf.no_regularizer: use it to switch off a scope's regularizer for one variable."""
    return None


# -- tf.variable_scope ------------------------------------------------------------------------
def _maybe_wrap_custom_getter(
    custom_getter: Callable[..., Any] | None, old_getter: Callable[..., Any] | None
) -> Callable[..., Any] | None:
    """Nest custom getters: the inner scope's getter receives one that calls the outer's."""
    if custom_getter is None or old_getter is None:
        return custom_getter if custom_getter is not None else old_getter

    def wrapped_custom_getter(getter: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def outer(*a: Any, **kw: Any) -> Any:
            return old_getter(getter, *a, **kw)

        return custom_getter(outer, *args, **kwargs)

    return wrapped_custom_getter


def _get_unique_variable_scope(prefix: str) -> str:
    """``prefix``, or ``prefix_N`` with the first N whose scope was not opened here yet."""
    store = get_variable_scope_store()
    current = get_variable_scope()
    name = f"{current.name}/{prefix}" if current.name else prefix
    if store.variable_scope_count(name) == 0:
        return prefix
    idx = 1
    while store.variable_scope_count(f"{name}_{idx}") > 0:
        idx += 1
    return f"{prefix}_{idx}"


class _pure_variable_scope:  # noqa: N801 (TF1's name)
    """Switch the current VariableScope without touching name scopes."""

    def __init__(
        self,
        name_or_scope: str | VariableScope,
        reuse: Any = None,
        initializer: Any = None,
        regularizer: Callable[[Any], Any] | None = None,
        caching_device: Any = None,
        partitioner: Any = None,
        custom_getter: Callable[..., Any] | None = None,
        old_name_scope: str | None = None,
        dtype: Any = None,
        use_resource: Any = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self._name_or_scope = name_or_scope
        self._reuse = reuse
        self._initializer = initializer
        self._regularizer = regularizer
        self._caching_device = caching_device
        self._partitioner = partitioner
        self._custom_getter = custom_getter
        self._old_name_scope = old_name_scope
        self._dtype = dtype
        self._use_resource = use_resource
        self._constraint = constraint
        self._store = get_variable_scope_store()
        self._old: VariableScope | None = None
        self._old_subscopes: dict[str, int] | None = None
        self._new_name = ""

    def __enter__(self) -> VariableScope:
        store = self._store
        self._old = old = store.current_scope
        if isinstance(self._name_or_scope, VariableScope):
            # Jumping to a shared scope: a copy of it, with what this call overrides.
            src = self._name_or_scope
            self._new_name = src.name
            scope = VariableScope(
                src.reuse if not self._reuse else self._reuse,
                name=self._new_name,
                initializer=src.initializer,
                regularizer=src.regularizer,
                caching_device=src.caching_device,
                partitioner=src.partitioner,
                dtype=src.dtype,
                custom_getter=src.custom_getter,
                name_scope=src.original_name_scope,
                use_resource=src.use_resource,
                constraint=src.constraint,
            )
            store.open_variable_scope(self._new_name)
            self._old_subscopes = dict(store.variable_scopes_count)
            inherited_getter = src.custom_getter
        else:
            # Extending the current scope: reuse=True is inherited by all sub-scopes.
            self._new_name = f"{old.name}/{self._name_or_scope}" if old.name else self._name_or_scope
            self._reuse = self._reuse or old.reuse
            name_scope = self._old_name_scope if self._old_name_scope is not None else self._name_or_scope
            scope = VariableScope(
                self._reuse,
                name=self._new_name,
                initializer=old.initializer,
                regularizer=old.regularizer,
                caching_device=old.caching_device,
                partitioner=old.partitioner,
                dtype=old.dtype,
                use_resource=old.use_resource,
                custom_getter=old.custom_getter,
                name_scope=name_scope,
                constraint=old.constraint,
            )
            store.open_variable_scope(self._new_name)
            inherited_getter = old.custom_getter
        if self._initializer is not None:
            scope.set_initializer(self._initializer)
        if self._regularizer is not None:
            scope.set_regularizer(self._regularizer)
        if self._caching_device is not None:
            scope.set_caching_device(self._caching_device)
        if self._partitioner is not None:
            scope.set_partitioner(self._partitioner)
        if self._custom_getter is not None:
            scope.set_custom_getter(_maybe_wrap_custom_getter(self._custom_getter, inherited_getter))
        if self._dtype is not None:
            scope.set_dtype(self._dtype)
        if self._use_resource is not None:
            scope.set_use_resource(self._use_resource)
        if self._constraint is not None:
            scope._constraint = self._constraint
        store.current_scope = scope
        return scope

    def __exit__(self, *exc: Any) -> None:
        store = self._store
        if isinstance(self._name_or_scope, VariableScope):
            assert self._old_subscopes is not None
            store.variable_scopes_count = self._old_subscopes
        else:
            store.close_variable_subscopes(self._new_name)
        assert self._old is not None
        store.current_scope = self._old


def _graph_from_values(values: Sequence[Any]) -> Graph | None:
    for v in values:
        el = v._as_graph_element() if hasattr(v, "_as_graph_element") else v
        if isinstance(el, Tensor):
            return el.graph
    return None


class variable_scope:  # noqa: N801 (TF1's name)
    """tf.variable_scope: a context manager that opens a variable scope (and a name scope)
    and yields its VariableScope.

    ``name_or_scope`` is a string (extends the current scope) or a VariableScope
    (re-enters it: its name and settings, not the enclosing scope's); with
    ``name_or_scope=None``, ``default_name`` is used, made unique among the scopes
    opened here. ``reuse``: None/False inherit, True, or AUTO_REUSE. The other
    arguments set the defaults of get_variable in the scope. With
    ``auxiliary_name_scope=False`` no name scope is opened. As in TF1, each
    entry of a string scope opens a new, uniquified name scope ("foo_1/").
    """

    def __init__(
        self,
        name_or_scope: str | VariableScope | None,
        default_name: str | None = None,
        values: Sequence[Any] | None = None,
        initializer: Any = None,
        regularizer: Callable[[Any], Any] | None = None,
        caching_device: Any = None,
        partitioner: Any = None,
        custom_getter: Callable[..., Any] | None = None,
        reuse: Any = None,
        dtype: Any = None,
        use_resource: Any = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
        auxiliary_name_scope: bool = True,
    ) -> None:
        if default_name is None and name_or_scope is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        if reuse is False:
            reuse = None  # scopes always inherit reuse: False means "as the enclosing scope"
        if not (reuse is True or reuse is None or reuse is AUTO_REUSE):
            raise ValueError("The reuse parameter must be True or False or None.")
        if custom_getter is not None and not callable(custom_getter):
            raise ValueError(f"Passed a custom_getter which is not callable: {custom_getter}")
        if not isinstance(auxiliary_name_scope, bool):
            raise TypeError(
                f"The auxiliary_name_scope must be `True` or `False`, while get {auxiliary_name_scope}"
            )
        if name_or_scope is not None and not isinstance(name_or_scope, str | VariableScope):
            raise TypeError("VariableScope: name_or_scope must be a string or VariableScope.")
        self._name_or_scope = name_or_scope
        self._default_name = default_name
        self._values = list(values) if values is not None else []
        self._initializer = initializer
        self._regularizer = regularizer
        self._caching_device = caching_device
        self._partitioner = partitioner
        self._custom_getter = custom_getter
        self._reuse = reuse
        self._dtype = dtype
        self._use_resource = use_resource
        self._constraint = constraint
        self._auxiliary_name_scope = auxiliary_name_scope
        self._graph = _graph_from_values(self._values)
        # One ExitStack per active entry, so the same object can be entered again.
        self._exits: list[contextlib.ExitStack] = []

    def __enter__(self) -> VariableScope:
        stack = contextlib.ExitStack()
        try:
            scope = self._enter(stack)
        except BaseException:
            stack.close()
            raise
        self._exits.append(stack)
        return scope

    def __exit__(self, *exc: Any) -> Any:
        return self._exits.pop().__exit__(*exc)

    def _pure(
        self, name_or_scope: str | VariableScope, old_name_scope: str | None, with_reuse: bool
    ) -> _pure_variable_scope:
        return _pure_variable_scope(
            name_or_scope,
            reuse=self._reuse if with_reuse else None,
            initializer=self._initializer,
            regularizer=self._regularizer,
            caching_device=self._caching_device,
            partitioner=self._partitioner,
            custom_getter=self._custom_getter,
            old_name_scope=old_name_scope,
            dtype=self._dtype,
            use_resource=self._use_resource,
            constraint=self._constraint,
        )

    def _enter(self, stack: contextlib.ExitStack) -> VariableScope:
        graph = get_default_graph()
        if self._graph is not None and self._graph is not graph:
            stack.enter_context(self._graph.as_default())
            graph = self._graph
        current_name_scope: Any = None
        if not self._auxiliary_name_scope:
            # Re-enter the current name scope (absolute form) instead of opening a new one.
            ns = graph.get_name_scope()
            current_name_scope = graph.name_scope(ns + "/" if ns else "")
        if self._name_or_scope is not None:
            if isinstance(self._name_or_scope, str):
                ns_name = self._name_or_scope
            else:
                ns_name = self._name_or_scope.name.split("/")[-1]
            if ns_name or current_name_scope is not None:
                entered = stack.enter_context(current_name_scope or graph.name_scope(ns_name))
                if isinstance(self._name_or_scope, str):
                    old_name_scope = entered
                else:
                    old_name_scope = self._name_or_scope.original_name_scope
                return stack.enter_context(self._pure(self._name_or_scope, old_name_scope, True))
            # Only reachable when entering the root scope: no name scope to open.
            return stack.enter_context(self._pure(self._name_or_scope, None, True))
        if self._reuse:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        assert self._default_name is not None
        entered = stack.enter_context(current_name_scope or graph.name_scope(self._default_name))
        unique_default_name = _get_unique_variable_scope(self._default_name)
        return stack.enter_context(self._pure(unique_default_name, entered, False))


__all__ = [
    "AUTO_REUSE",
    "VariableAggregation",
    "VariableScope",
    "VariableSynchronization",
    "get_local_variable",
    "get_variable",
    "get_variable_scope",
    "no_regularizer",
    "variable_scope",
]
