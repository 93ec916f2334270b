"""The IR: a Program is a typed, pure function.

    (feeds, variable values, random-op counters) -> (fetches, new variable values)

Values are in SSA form; every value has a dtype and a shape whose dims are ints
or symbolic expressions (graphc.symbolic). Nodes are kept in a canonical
topological order, so two graphs built alike (whatever their op names) print
and hash the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import symbolic as sym
from graphc.ir import encoding
from graphc.symbolic import Dim


@dataclasses.dataclass(frozen=True)
class Origin:
    """The frontend op a node came from: enough to name it in an error."""

    name: str
    type: str
    location: str

    def __str__(self) -> str:
        return f"{self.name} ({self.type}) at {self.location}"


class Value:
    """An SSA value."""

    __slots__ = ("dtype", "shape", "producer", "index")

    def __init__(
        self, dtype: _dt.DType, shape: tuple[Dim, ...], producer: Node | None = None, index: int = 0
    ):
        self.dtype = dtype
        self.shape = shape
        self.producer = producer
        self.index = index

    def __repr__(self) -> str:
        return f"Value({self.dtype.name}{format_shape(self.shape)})"


@dataclasses.dataclass(eq=False)
class Param:
    """A program input: a fed tensor, a variable's value, or a random op's run counter."""

    value: Value
    kind: str  # "feed" | "variable" | "rng"
    name: str  # the frontend tensor / variable / op name (not part of the hash)


@dataclasses.dataclass(eq=False)
class Node:
    op: str
    inputs: list[Value]
    attrs: dict[str, Any]
    outputs: list[Value]
    origin: Origin | None = None
    # The device the op was placed on (``tf.device``), as the user wrote it; "" for none.
    device: str = ""
    # Sub-programs of a structured control-flow node (``If``: the two branches; ``While``:
    # the condition and the body; graphc.ops.control_flow_ops). Every other node has none.
    regions: tuple[Program, ...] = ()


@dataclasses.dataclass(eq=False)
class Output:
    value: Value
    kind: str  # "fetch" | "update"
    name: str  # fetch index as text, or the variable's name


@dataclasses.dataclass(frozen=True)
class DimBinding:
    """Where a symbol's value comes from at the program's entry.

    ``source == "shape"``: axis ``axis`` of param ``param`` has size ``dim`` (a symbol, an
    expression or an int). ``source == "value"``: element ``axis`` (flat index) of the
    integer param ``param`` *is* ``dim`` (a fed scalar used as a size, as in
    ``tf.range(n)`` or ``tf.tile(x, [k])``). ``origin`` names the op that tied it to
    another input's dim, if one did. A binding whose ``dim`` is an expression rather than a
    lone symbol is an equality checked at entry."""

    dim: Dim
    param: int
    axis: int
    origin: str = ""
    source: str = "shape"


@dataclasses.dataclass(frozen=True)
class Assertion:
    """An equality ``lhs == rhs`` between dims that lowering relied on and could not prove.

    Every symbol in it is bound at the program's entry (from the params' shapes or
    values), so the session checks it before any backend code runs. ``origin`` is the
    user's op that needs the two to be equal."""

    lhs: Dim
    rhs: Dim
    origin: Origin | None = None


@dataclasses.dataclass(eq=False)
class DefinedDim:
    """Axis ``axis`` of ``value`` has a size that depends on data: only the node that
    makes ``value`` knows it. ``dim`` is what the program assumes it is: a lone symbol
    that this output defines (bound when the node has run), or an expression the actual
    size must equal (checked when the node has run, before anything reads the value)."""

    value: Value
    axis: int
    dim: Dim


class Numbering:
    """Value numbers: the params in order, then each node's outputs in node order.

    Value ``%k`` is ``values[k]``. It is computed from the program each time it is asked
    for, so it always matches the node list it was made from; anything keyed by these
    numbers (the memory plan) must record which program it numbered (see
    :meth:`Program.structure_hash`)."""

    __slots__ = ("values", "_index")

    def __init__(self, program: Program) -> None:
        self.values: tuple[Value, ...] = tuple(program.values())
        self._index = {id(v): k for k, v in enumerate(self.values)}

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, v: object) -> bool:
        return id(v) in self._index and self.values[self._index[id(v)]] is v

    def __getitem__(self, v: Value) -> int:
        """The number of ``v``; KeyError for a value the program does not define."""
        k = self._index.get(id(v))
        if k is None or self.values[k] is not v:
            raise KeyError(f"{v!r} is not a value of this program")
        return k

    def get(self, v: Value) -> int | None:
        return self[v] if v in self else None

    def label(self, v: Value) -> str:
        """``%k``, as the program prints the value."""
        return f"%{self[v]}"

    def labels(self) -> dict[int, str]:
        """``id(value) -> "%k"`` for every value (for code that maps values to text)."""
        return {id(v): f"%{k}" for k, v in enumerate(self.values)}


@dataclasses.dataclass(eq=False)
class Program:
    params: list[Param]
    nodes: list[Node]
    outputs: list[Output]
    bindings: list[DimBinding] = dataclasses.field(default_factory=list)
    assertions: list[Assertion] = dataclasses.field(default_factory=list)
    defined_dims: list[DefinedDim] = dataclasses.field(default_factory=list)
    # Analyses attached by passes (fusion groups, memory plan); not part of the hash.
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    # -- views -----------------------------------------------------------------
    @property
    def fetches(self) -> list[Output]:
        return [o for o in self.outputs if o.kind == "fetch"]

    @property
    def updates(self) -> list[Output]:
        return [o for o in self.outputs if o.kind == "update"]

    def symbols(self) -> list[str]:
        seen: list[str] = []
        for b in self.bindings:
            for s in sorted(sym.free_symbols(b.dim)):
                if s not in seen:
                    seen.append(s)
        return seen

    def values(self) -> Iterator[Value]:
        """Every value, in the order of :meth:`numbering`."""
        for p in self.params:
            yield p.value
        for n in self.nodes:
            yield from n.outputs

    def numbering(self) -> Numbering:
        """The program's value numbers (``%k``), the only numbering of values there is:
        the printer, the memory plan, the fusion report and the DOT export all use it."""
        return Numbering(self)

    def drop_analyses(self) -> None:
        """Forget what passes attached in :attr:`meta`: every analysis there describes the
        exact program it was made for (its node list and values)."""
        self.meta.clear()

    # -- run-time dims ---------------------------------------------------------
    def bind_dims(self, shapes: list[tuple[int, ...]]) -> dict[str, int]:
        """Symbol values from the input arrays' shapes; raises ValueError naming both
        inputs and the op that tied them when two of them disagree. Bindings to a fed
        integer's value (``source == "value"``) need the values, not the shapes: their
        symbols stay unbound here (the entry check, ``ir/entry.py``, binds them)."""
        env: dict[str, int] = {}
        first: dict[str, DimBinding] = {}
        pending: list[DimBinding] = []
        for b in self.bindings:
            if b.source != "shape":
                continue
            actual = shapes[b.param][b.axis]
            name = sym.as_symbol(b.dim)
            if name is None:
                pending.append(b)
            elif name not in env:
                env[name] = actual
                first[name] = b
            elif env[name] != actual:
                raise ValueError(self._dim_conflict(b, actual, first[name], env[name]))
        for b in pending:
            actual = shapes[b.param][b.axis]
            expected = sym.evaluate(b.dim, env)
            if expected != actual:
                raise ValueError(self._dim_conflict(b, actual, None, expected))
        return env

    def _dim_conflict(self, b: DimBinding, actual: int, other: DimBinding | None, expected: int) -> str:
        p = self.params[b.param]
        text = f"dimension {b.axis} of {p.kind} {p.name!r} is {actual}, but "
        if other is not None:
            q = self.params[other.param]
            text += f"dimension {other.axis} of {q.kind} {q.name!r} is {expected}"
        else:
            text += f"the graph needs {expected} ({b.dim})"
        why = b.origin or (other.origin if other is not None else "")
        if why:
            text += f", and {why} needs them to be equal"
        return text + " (dims left None that meet in one op, broadcasting included, are taken to be equal)"

    # -- text --------------------------------------------------------------------
    def __str__(self) -> str:
        return format_program(self)

    def canonical_text(self) -> str:
        """The program without names: equal for graphs built alike."""
        return format_program(self, with_names=False)

    def structure_hash(self) -> str:
        """A hash of everything an analysis keyed by value numbers depends on: the canonical
        text with the program's own dim symbols (node order, ops, attrs, dtypes, shapes,
        param kinds, outputs and the variable each update writes). Constants' contents
        are left out (see :meth:`content_hash`)."""
        text = format_program(self, with_names=False, rename_dims=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def content_hash(self) -> str:
        """SHA-256 of the program's bytes (graphc.ir.serialize) written without its names
        (param names, updated variables' names, origins), so graphs built alike hash the
        same; everything a backend compiles from is in it (ops, attrs, constants, dtypes,
        shapes and their dim symbols, bindings, assertions, defined dims, devices)."""
        return hashlib.sha256(encoding.to_bytes(self, names=False)).hexdigest()


def format_shape(shape: Iterable[Dim] | None) -> str:
    if shape is None:
        return "[?]"
    return "[" + ",".join(str(d) for d in shape) + "]"


def _format_attr(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.size <= 8:
            return f"{v.dtype.name}{list(v.shape)}:{v.tolist()}"
        return f"{v.dtype.name}{list(v.shape)}:<{v.size} values>"
    if isinstance(v, _dt.DType):
        return v.name
    if isinstance(v, float):
        return repr(v)
    return str(v)


def format_program(program: Program, with_names: bool = True, rename_dims: bool | None = None) -> str:
    """The program as text, values numbered by :meth:`Program.numbering`.

    ``with_names=False`` leaves out every frontend name (param, variable and op names) and,
    unless ``rename_dims`` is False, renames the dim symbols ``s0, s1, ...`` in order of
    appearance: graphs built alike print alike. An update names the variable it writes
    by the variable's param number when the program reads the variable (``update(%1)``),
    so the text tells which buffer a new value replaces. A control-flow node's
    sub-programs follow its line, indented, each numbered on its own; dim symbols are
    renamed alike across them (they share the enclosing program's symbols)."""
    rename = not with_names if rename_dims is None else rename_dims
    lines: list[str] = []
    _format_into(lines, program, with_names, rename, {}, "")
    return "\n".join(lines)


def _format_into(
    lines: list[str], program: Program, with_names: bool, rename: bool, sym_names: dict[str, str], indent: str
) -> None:
    num = program.numbering()

    def name(v: Value) -> str:
        return num.label(v)

    def canon_dim(d: Dim) -> str:
        if not rename or isinstance(d, int):
            return str(d)
        s = str(d)
        for orig in sorted(sym.free_symbols(d), key=len, reverse=True):
            if orig not in sym_names:
                sym_names[orig] = f"s{len(sym_names)}"
            s = s.replace(orig, sym_names[orig])
        return s

    def ty(v: Value) -> str:
        return f"{v.dtype.name}[{','.join(canon_dim(d) for d in v.shape)}]"

    params = []
    variable_param: dict[str, int] = {}
    for k, p in enumerate(program.params):
        if p.kind == "variable":
            variable_param.setdefault(p.name, k)
        label = f" {p.name!r}" if with_names else ""
        params.append(f"{name(p.value)}: {ty(p.value)} {p.kind}{label}")
    lines.append(indent + "program(" + ", ".join(params) + ") {")
    for n in program.nodes:
        outs = ", ".join(f"{name(v)}: {ty(v)}" for v in n.outputs) or "()"
        args = ", ".join(name(v) for v in n.inputs)
        attrs = ", ".join(
            f"{k}={_format_attr(v)}" for k, v in sorted(n.attrs.items()) if not k.startswith("_")
        )
        text = f"{indent}  {outs} = {n.op}({args})"
        if attrs:
            text += " {" + attrs + "}"
        if with_names and n.origin is not None:
            text += f"  # {n.origin.name}"
        lines.append(text)
        for region in n.regions:
            _format_into(lines, region, with_names, rename, sym_names, indent + "    ")
    rets = []
    for o in program.outputs:
        if with_names or o.kind == "fetch":
            label = f" {o.name!r}"
        elif o.kind == "update" and o.name in variable_param:
            label = f"(%{variable_param[o.name]})"
        else:
            label = ""
        rets.append(f"{o.kind}{label} {name(o.value)}")
    lines.append(indent + "  return " + ", ".join(rets))
    lines.append(indent + "}")


def canonicalize(program: Program) -> Program:
    """Order nodes by a depth-first walk from the outputs (inputs in order) and drop
    nodes no output needs. Params keep their order (they are the calling convention).
    When the node list changes, the analyses in ``meta`` are dropped."""
    order: list[Node] = []
    placed: set[int] = set()
    for out in program.outputs:
        stack: list[tuple[Node, bool]] = []
        if out.value.producer is not None:
            stack.append((out.value.producer, False))
        while stack:
            node, expanded = stack.pop()
            if id(node) in placed:
                continue
            if expanded:
                placed.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for v in reversed(node.inputs):
                if v.producer is not None and id(v.producer) not in placed:
                    stack.append((v.producer, False))
    if len(order) != len(program.nodes) or any(a is not b for a, b in zip(order, program.nodes)):
        program.drop_analyses()  # they describe the old node list
    program.nodes = order
    # A data-dependent dim is defined by its value's node: it goes when the node goes.
    live = {id(v) for n in order for v in n.outputs}
    program.defined_dims = [d for d in program.defined_dims if id(d.value) in live]
    return program
