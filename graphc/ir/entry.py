"""The program's entry check: bind every dim symbol and check every assumption on dims
before any backend code runs.

Native code trusts the sizes it is given, so everything the program assumes about
them is checked here, once per run, from the params' shapes and the values of fed
integers used as sizes: each binding (a symbol's first binding defines it, every
other must agree), each assertion lowering recorded, and every size built from fed
values being non-negative. What is known only once a node has run (a data-defined
dim, see :class:`graphc.ir.program.DefinedDim`) is checked by :class:`DimState` as
soon as that node has run, before anything reads its output.

Errors are :class:`graphc.errors.InvalidArgumentError` naming the feeds involved and
the user's op and line.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc import errors
from graphc import symbolic as sym
from graphc.ir.program import Assertion, DefinedDim, DimBinding, Origin, Program, Value
from graphc.symbolic import Dim

_EXPLAIN_UNIFY = " (dims left None that meet in one op, broadcasting included, are taken to be equal)"


class _Facts:
    """What the entry check needs of a program, worked out once per program."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.first: dict[str, DimBinding] = {}  # symbol -> the binding that defines it
        self.defined_syms: set[str] = set()
        for d in program.defined_dims:
            name = sym.as_symbol(d.dim)
            if name is not None:
                self.defined_syms.add(name)
        self.entry_assertions: list[Assertion] = []
        self.late_assertions: list[Assertion] = []  # need a data-defined dim
        for a in program.assertions:
            names = sym.free_symbols(a.lhs) | sym.free_symbols(a.rhs)
            (self.late_assertions if names & self.defined_syms else self.entry_assertions).append(a)
        # Sizes computed from fed values (tf.range(n), tf.tile(x, [k])) can come out
        # negative for a bad value: each such dim, with the op that makes it.
        value_syms = {sym.as_symbol(b.dim) for b in program.bindings if b.source == "value"}
        value_syms.discard(None)
        self.value_sized: list[tuple[Dim, Origin | None]] = []
        if value_syms:
            seen: set[str] = set()
            for node in program.nodes:
                for v in node.outputs:
                    for d in v.shape:
                        if sym.free_symbols(d) & value_syms and str(d) not in seen:  # type: ignore[operator]
                            seen.add(str(d))
                            self.value_sized.append((d, node.origin))


_facts: weakref.WeakKeyDictionary[Program, _Facts] = weakref.WeakKeyDictionary()


def facts(program: Program) -> _Facts:
    f = _facts.get(program)
    if f is None:
        f = _facts[program] = _Facts(program)
    return f


def bind_entry(
    program: Program, shapes: Sequence[tuple[int, ...]], values: Mapping[int, Any]
) -> dict[str, int]:
    """The value of every symbol bound at entry, after checking every binding, assertion
    and value-derived size. ``shapes[i]`` is param i's shape; ``values[i]`` is the host
    array of a param that has value bindings (fed integers)."""
    env: dict[str, int] = {}
    first: dict[str, DimBinding] = {}
    pending: list[tuple[DimBinding, int]] = []
    for b in program.bindings:
        actual = _actual(program, b, shapes, values)
        name = sym.as_symbol(b.dim)
        if name is not None and name not in env:
            env[name] = actual
            first[name] = b
        elif name is not None and env[name] != actual:
            raise errors.InvalidArgumentError(
                None, None, _conflict(program, b, actual, first[name], env[name])
            )
        elif name is None:
            pending.append((b, actual))
    for b, actual in pending:
        try:
            expected = sym.evaluate(b.dim, env)
        except KeyError:
            continue  # depends on a data-defined dim: checked when that is known
        if expected != actual:
            raise errors.InvalidArgumentError(
                None, None, _conflict(program, b, actual, None, expected, first, env)
            )
    f = facts(program)
    for a in f.entry_assertions:
        check_assertion(program, a, env, first)
    for d, origin in f.value_sized:
        n = sym.evaluate(d, env)
        if n < 0:
            raise errors.InvalidArgumentError(
                None,
                origin,
                f"a size computed from fed values is negative: {d} = {n}, with "
                + _describe_symbols(program, sym.free_symbols(d), env, first),
            )
    return env


def check_assertion(
    program: Program, a: Assertion, env: Mapping[str, int], first: Mapping[str, DimBinding]
) -> None:
    lhs, rhs = sym.evaluate(a.lhs, env), sym.evaluate(a.rhs, env)
    if lhs != rhs:
        names = sym.free_symbols(a.lhs) | sym.free_symbols(a.rhs)
        raise errors.InvalidArgumentError(
            None,
            a.origin,
            f"dimensions must be equal: {a.lhs} is {lhs} but {a.rhs} is {rhs}, with "
            + _describe_symbols(program, names, env, first)
            + _EXPLAIN_UNIFY,
        )


class DimState:
    """The symbols of one run: those bound at entry, then each data-defined dim as the
    node defining it runs (an executable calls :meth:`after_node` before anything reads
    the node's outputs)."""

    def __init__(self, program: Program, env: Mapping[str, int]) -> None:
        self.program = program
        self.env = dict(env)
        self._by_value: dict[int, list[DefinedDim]] = {}
        for d in program.defined_dims:
            self._by_value.setdefault(id(d.value), []).append(d)
        self._late = list(facts(program).late_assertions)

    def has_defined(self, v: Value) -> bool:
        return id(v) in self._by_value

    def after_node(self, v: Value, shape: tuple[int, ...], origin: Origin | None) -> None:
        """Bind or check the data-defined dims of output ``v``, whose actual shape is ``shape``."""
        for d in self._by_value.get(id(v), ()):
            actual = shape[d.axis]
            name = sym.as_symbol(d.dim)
            if name is not None and name not in self.env:
                self.env[name] = actual
                continue
            try:
                expected = sym.evaluate(d.dim, self.env)
            except KeyError:
                continue
            if expected != actual:
                raise errors.InvalidArgumentError(
                    None,
                    origin,
                    f"dimension {d.axis} of this op's output is {actual}, but the graph needs it to be "
                    f"{expected} ({d.dim})" + _EXPLAIN_UNIFY,
                )
        still = []
        for a in self._late:
            names = sym.free_symbols(a.lhs) | sym.free_symbols(a.rhs)
            if names <= self.env.keys():
                check_assertion(self.program, a, self.env, {})
            else:
                still.append(a)
        self._late = still


def _actual(
    program: Program, b: DimBinding, shapes: Sequence[tuple[int, ...]], values: Mapping[int, Any]
) -> int:
    if b.source == "shape":
        return int(shapes[b.param][b.axis])
    arr = np.asarray(values[b.param]).reshape(-1)
    return int(arr[b.axis])


def _param_label(program: Program, b: DimBinding) -> str:
    p = program.params[b.param]
    if b.source == "value":
        return f"the value of {p.kind} {p.name!r}" + (
            f" [{b.axis}]" if program.params[b.param].value.shape else ""
        )
    return f"dimension {b.axis} of {p.kind} {p.name!r}"


def _conflict(
    program: Program,
    b: DimBinding,
    actual: int,
    other: DimBinding | None,
    expected: int,
    first: Mapping[str, DimBinding] | None = None,
    env: Mapping[str, int] | None = None,
) -> str:
    text = f"{_param_label(program, b)} is {actual}, but "
    if other is not None:
        text += f"{_param_label(program, other)} is {expected}"
    else:
        text += f"the graph needs {expected} ({b.dim})"
        if first is not None and env is not None:
            text += ", with " + _describe_symbols(program, sym.free_symbols(b.dim), env, first)
    why = b.origin or (other.origin if other is not None else "")
    if why:
        text += f", and {why} needs them to be equal"
    return text + _EXPLAIN_UNIFY


def _describe_symbols(
    program: Program, names: set[str], env: Mapping[str, int], first: Mapping[str, DimBinding]
) -> str:
    parts = []
    for name in sorted(names):
        b = first.get(name)
        where = _param_label(program, b) if b is not None else "computed by the graph"
        parts.append(f"{name} = {env.get(name, '?')} ({where})")
    return "; ".join(parts)
