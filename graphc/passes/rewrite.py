"""A small pattern language for local rewrites, and the driver that applies rules to a fixpoint.

A :class:`Rule` is a name, a :class:`Pat` (a pattern over op types, attributes and
input structure, rooted at one node output) and a builder that makes the value
replacing the matched one. A rule of more than one line is a named function::

    Rule("neg_neg", op("Neg", op("Neg", var("x"))), lambda rw, m: m["x"])

Patterns look through ops that only forward their input at run time (Identity,
StopGradient, CustomGradient), so a rewrite still fires when the user wrapped a
value in ``tf.identity``. A name bound twice in one pattern must match the same
value (``Sub(x, x)``).

:func:`rewrite` copies the program, sweeps its nodes in order trying each rule
whose root op matches, and repeats whole sweeps until one changes nothing (at
most :data:`MAX_ROUNDS`), so a rule set designed to terminate reaches its fixpoint
and running it again changes nothing (the passes are idempotent). Builders make
nodes with :meth:`Rewriter.make`, which infers dtypes and shapes through the op's
own rules and gives each new node the origin of the node being replaced. A
replacement whose dtype or shape differs from the matched value's is refused.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir.dims import LoweredDims, is_placeholder
from graphc.ir.program import DefinedDim, Node, Origin, Output, Param, Program, Value, canonicalize

MAX_ROUNDS = 64
# The largest constant a pass may create (elements); folding and simplification share it.
MAX_CONST_ELEMENTS = 65536

# Ops that pass their (first) input through unchanged when the program runs.
TRANSPARENT = frozenset({"Identity", "StopGradient"})


class Decline(Exception):
    """Raised by a builder (or by :meth:`Rewriter.make`) when the rewrite does not apply."""


# =============================================================================================
# Program utilities


def copy_program(program: Program) -> Program:
    """A copy with new Values and Nodes (attrs dicts copied shallowly, so Const arrays are
    shared), so a pass can edit it without touching its input. The analyses in ``meta``
    are not copied: each describes the exact program it was made for."""
    vmap: dict[int, Value] = {}
    params: list[Param] = []
    for p in program.params:
        v = Value(p.value.dtype, p.value.shape)
        vmap[id(p.value)] = v
        params.append(Param(v, p.kind, p.name))
    nodes: list[Node] = []
    for n in program.nodes:
        # Sub-programs (If/While) are shared, not copied: no pass edits one in place.
        new = Node(n.op, [vmap[id(v)] for v in n.inputs], dict(n.attrs), [], n.origin, n.device, n.regions)
        for i, v in enumerate(n.outputs):
            nv = Value(v.dtype, v.shape, new, i)
            vmap[id(v)] = nv
            new.outputs.append(nv)
        nodes.append(new)
    outputs = [Output(vmap[id(o.value)], o.kind, o.name) for o in program.outputs]
    defined = [DefinedDim(vmap[id(d.value)], d.axis, d.dim) for d in program.defined_dims]
    return Program(params, nodes, outputs, list(program.bindings), list(program.assertions), defined)


def look_through(v: Value) -> Value:
    """The value ``v`` forwards at run time: past Identity, StopGradient and CustomGradient."""
    while v.producer is not None:
        n = v.producer
        if n.op in TRANSPARENT:
            v = n.inputs[0]
        elif n.op == "CustomGradient":
            v = n.inputs[n.attrs["n_x"] + v.index]
        else:
            break
    return v


def constant_elements(v: Value) -> np.ndarray | None:
    """An array holding exactly the elements of ``v`` (``v`` is a broadcast of it) when ``v``
    is a constant: a Const, or a BroadcastTo / Fill / OnesLike / ZerosLike of one."""
    v = look_through(v)
    while v.producer is not None:
        n = v.producer
        if n.op == "Const":
            return np.asarray(n.attrs["value"])
        if n.op in ("OnesLike", "ZerosLike"):
            return np.array(1 if n.op == "OnesLike" else 0, dtype=v.dtype.np)
        if n.op == "BroadcastTo":
            v = look_through(n.inputs[0])
        elif n.op == "Fill":
            v = look_through(n.inputs[1])
        else:
            return None
    return None


def is_constant(v: Value, c: float) -> bool:
    """Whether every element of ``v`` is the number ``c``."""
    arr = constant_elements(v)
    if arr is None or arr.size == 0 or arr.dtype.kind not in "biuf":
        return False
    return bool(np.all(arr == c))


def is_static(shape: Iterable[sym.Dim]) -> bool:
    return all(isinstance(d, int) for d in shape)


def same_shape(a: Value, b: Value) -> bool:
    return tuple(a.shape) == tuple(b.shape)


# =============================================================================================
# Patterns


@dataclasses.dataclass(frozen=True, eq=False)
class Pat:
    """A pattern matching one value. Build with :func:`var`, :func:`op`, :func:`const`, :func:`alt`.

    - ``ops``: the producer's op must be one of these (None: any value, a leaf)
    - ``args``: patterns for the producer's inputs, in order (None: not examined)
    - ``attrs``: attributes the producer must have, compared by value
    - ``commutative``: a binary op's inputs may match in either order
    - ``where``: an extra condition on the matched value
    - ``bind``: the name the matched value is bound to; bound twice, it must be the same value
    - ``alts``: alternatives, the first that matches wins (then ``ops``/``args`` are unused)
    """

    ops: frozenset[str] | None = None
    args: tuple[Pat, ...] | None = None
    attrs: tuple[tuple[str, Any], ...] = ()
    commutative: bool = False
    where: Callable[[Value], bool] | None = None
    bind: str | None = None
    alts: tuple[Pat, ...] | None = None


def var(bind: str | None = None, where: Callable[[Value], bool] | None = None) -> Pat:
    """Any value."""
    return Pat(where=where, bind=bind)


def op(
    ops: str | Iterable[str],
    *args: Pat,
    bind: str | None = None,
    commutative: bool = False,
    where: Callable[[Value], bool] | None = None,
    **attrs: Any,
) -> Pat:
    """An output of a node whose op is ``ops`` (a name or several); with ``args``, its
    inputs must match them (without, its inputs are not examined)."""
    names = frozenset([ops] if isinstance(ops, str) else ops)
    return Pat(names, tuple(args) if args else None, tuple(sorted(attrs.items())), commutative, where, bind)


def const(c: float, bind: str | None = None) -> Pat:
    """A constant whose every element is ``c`` (through broadcasts; see constant_elements)."""
    return Pat(where=lambda v: is_constant(v, c), bind=bind)


def alt(*pats: Pat, bind: str | None = None) -> Pat:
    """The first of ``pats`` that matches."""
    return Pat(alts=tuple(pats), bind=bind)


def attr_equal(a: Any, b: Any) -> bool:
    """Attribute equality that handles NumPy arrays (by dtype, shape and bytes)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


Binds = dict[str, Value]


def match(pat: Pat, v: Value, binds: Binds | None = None, root: bool = False) -> Binds | None:
    """The bindings under which ``pat`` matches ``v`` (extending ``binds``), or None.

    The root value is taken as it is; values below it are looked through (see look_through).
    Recursion follows the pattern, whose depth the rule's author fixes, never the program's."""
    binds = {} if binds is None else binds
    if not root:
        v = look_through(v)
    if pat.bind is not None and pat.bind in binds and binds[pat.bind] is not v:
        return None
    if pat.where is not None and not pat.where(v):
        return None
    if pat.alts is not None:
        for a in pat.alts:
            got = match(a, v, binds)
            if got is not None:
                binds = got
                break
        else:
            return None
    elif pat.ops is not None:
        n = v.producer
        if n is None or n.op not in pat.ops:
            return None
        for key, want in pat.attrs:
            if key not in n.attrs or not attr_equal(n.attrs[key], want):
                return None
        if pat.args is not None:
            if len(pat.args) != len(n.inputs):
                return None
            orders = [list(n.inputs)]
            if pat.commutative and len(n.inputs) == 2:
                orders.append([n.inputs[1], n.inputs[0]])
            for inputs in orders:
                got = _match_all(pat.args, inputs, binds)
                if got is not None:
                    binds = got
                    break
            else:
                return None
    if pat.bind is not None:
        binds = {**binds, pat.bind: v}
    return binds


def _match_all(pats: Sequence[Pat], values: Sequence[Value], binds: Binds) -> Binds | None:
    for p, v in zip(pats, values, strict=True):
        got = match(p, v, binds)
        if got is None:
            return None
        binds = got
    return binds


@dataclasses.dataclass
class Match:
    """A successful match: the root value, its node, and the bound values."""

    root: Value
    node: Node
    binds: Binds

    def __getitem__(self, name: str) -> Value:
        return self.binds[name]

    def get(self, name: str) -> Value | None:
        return self.binds.get(name)


Builder = Callable[["Rewriter", Match], Value | None]


@dataclasses.dataclass(frozen=True)
class Rule:
    """Replace the value matching ``pattern`` by what ``build`` returns (None: no rewrite).
    A builder must not use the root value itself (that would make a cycle)."""

    name: str
    pattern: Pat
    build: Builder

    def root_ops(self) -> frozenset[str]:
        if self.pattern.ops is None:
            raise ValueError(f"rule {self.name!r}: the root of a pattern must name its op(s)")
        return self.pattern.ops


# =============================================================================================
# Editing


# Dims as rules see them in a pass (graphc.ir.dims): the program's dims are final, so
# nothing is unified; a dim a rule cannot tell is a placeholder the caller fills in or refuses.
_PassDims = LoweredDims
_is_fresh = is_placeholder


def infer_partial_values(program: Program) -> dict[int, Any]:
    """Partial (symbolic) values of small integer values, from each op's ``value`` rule."""
    pvalues: dict[int, Any] = {}
    for node in program.nodes:
        _infer_node_pvalues(node, pvalues)
    return pvalues


def _infer_node_pvalues(node: Node, pvalues: dict[int, Any]) -> None:
    try:
        opdef = reg.get(node.op)
    except KeyError:
        return  # e.g. Fused: not a registered op, has no value rule
    if opdef.value is None or opdef.has("random"):
        return
    ctx = reg.InferenceContext(
        node.op,
        [v.shape for v in node.inputs],
        [v.dtype for v in node.inputs],
        [pvalues.get(id(v)) for v in node.inputs],
        node.attrs,
        _PassDims(),
    )
    try:
        values = opdef.value(ctx)
    except (reg.ShapeError, TypeError, ValueError, IndexError, KeyError):
        return
    for v, pv in zip(node.outputs, values or (), strict=False):
        if pv is not None:
            pvalues[id(v)] = pv


class Rewriter:
    """The program being rewritten: use lists, node creation and value replacement.

    Nodes that lose every use are marked dead at once (and their inputs' uses dropped),
    so :meth:`n_uses` stays exact while a sweep runs."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.uses: dict[int, list[Node]] = collections.defaultdict(list)
        self.output_uses: dict[int, int] = collections.Counter(id(o.value) for o in program.outputs)
        self.pvalues = infer_partial_values(program)
        self.dead: set[int] = set()
        self.created: list[Node] = []
        self.discarded: list[Node] = []
        self.origin: Origin | None = None
        self.device = ""  # the device of the node being rewritten: what it is replaced by runs there
        for n in program.nodes:
            for v in n.inputs:
                self.uses[id(v)].append(n)

    # -- queries -------------------------------------------------------------------------
    def n_uses(self, v: Value) -> int:
        """How many node inputs and program outputs use ``v``."""
        return len(self.uses.get(id(v), ())) + self.output_uses.get(id(v), 0)

    def users(self, v: Value) -> list[Node]:
        return list(self.uses.get(id(v), ()))

    # -- building --------------------------------------------------------------------------
    def make(
        self,
        op_type: str,
        inputs: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        like: Sequence[Value] = (),
    ) -> list[Value]:
        """A new node; its outputs' dtypes and shapes come from the op's rules. A dim the
        rules cannot tell is taken from ``like[i]`` (the value being replaced), else Decline."""
        attrs = dict(attrs or {})
        opdef = reg.get(op_type)
        ctx = reg.InferenceContext(
            op_type,
            [v.shape for v in inputs],
            [v.dtype for v in inputs],
            [self.pvalues.get(id(v)) for v in inputs],
            attrs,
            _PassDims(),
        )
        try:
            dtypes = opdef.dtype(ctx)
            shapes = opdef.shape(ctx)
            pvals = opdef.value(ctx) if opdef.value is not None else None
        except (reg.ShapeError, TypeError, ValueError) as exc:
            raise Decline(f"{op_type}: {exc}") from None
        node = Node(op_type, list(inputs), attrs, [], self.origin, self.device)
        for i, (dt, shp) in enumerate(zip(dtypes, shapes, strict=False)):
            if shp is None or any(_is_fresh(d) for d in shp):
                if i < len(like) and shp is not None and len(like[i].shape) == len(shp):
                    shp = tuple(like[i].shape)
                else:
                    raise Decline(f"{op_type}: output {i} has a shape the rules cannot tell")
            v = Value(dt, tuple(shp), node, i)
            node.outputs.append(v)
            if pvals is not None and pvals[i] is not None:
                self.pvalues[id(v)] = pvals[i]
        for v in node.inputs:
            self.uses[id(v)].append(node)
        self.created.append(node)
        return node.outputs

    def make1(
        self,
        op_type: str,
        inputs: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        like: Value | None = None,
    ) -> Value:
        """A new single-output node's output (see :meth:`make`)."""
        return self.make(op_type, inputs, attrs, [like] if like is not None else ())[0]

    def constant(self, value: Any, dtype: _dt.DType) -> Value:
        """A new Const node holding ``value`` as ``dtype``."""
        arr = np.array(value, dtype=dtype.np)
        arr.setflags(write=False)
        return self.make1("Const", [], {"value": arr, "dtype": dtype})

    def shape_constant(self, shape: Sequence[int]) -> Value:
        return self.constant(np.array(list(shape), dtype=np.int32).reshape(len(shape)), _dt.int32)

    # -- editing -----------------------------------------------------------------------------
    def replace(self, old: Value, new: Value) -> None:
        """Make every use of ``old`` (node inputs and program outputs) use ``new``."""
        users = self.uses.pop(id(old), [])
        done: set[int] = set()
        for n in users:
            if id(n) in done:
                continue
            done.add(id(n))
            n.inputs = [new if x is old else x for x in n.inputs]
        self.uses[id(new)].extend(users)
        if self.output_uses.get(id(old)):
            for o in self.program.outputs:
                if o.value is old:
                    o.value = new
            self.output_uses[id(new)] = self.output_uses.get(id(new), 0) + self.output_uses.pop(id(old))
        if old.producer is not None:
            self._drop_if_unused(old.producer)

    def _drop_if_unused(self, start: Node) -> None:
        stack = [start]
        while stack:
            n = stack.pop()
            if id(n) in self.dead or any(self.n_uses(v) for v in n.outputs):
                continue
            self.dead.add(id(n))
            for v in n.inputs:
                lst = self.uses.get(id(v))
                if lst is not None:
                    for i, u in enumerate(lst):
                        if u is n:
                            del lst[i]
                            break
                if v.producer is not None:
                    stack.append(v.producer)

    def _discard_since(self, mark: int) -> None:
        """Forget nodes a builder made before it declined (newest first: they use each other).
        They stay referenced (in ``discarded``) so that no new Value reuses one's ``id`` while
        the tables keyed by ``id`` still hold it."""
        for n in reversed(self.created[mark:]):
            self._drop_if_unused(n)
        self.discarded.extend(self.created[mark:])
        del self.created[mark:]

    # -- the sweep -------------------------------------------------------------------------------
    def sweep(self, by_op: dict[str, list[Rule]], log: list[str] | None = None) -> bool:
        """One pass over the nodes in order (and the nodes rewrites make); True if anything changed."""
        queue = collections.deque(self.program.nodes)
        changed = False
        while queue:
            node = queue.popleft()
            for rule in by_op.get(node.op, ()):
                for out in list(node.outputs):
                    if id(node) in self.dead:
                        break
                    if not self.n_uses(out):
                        continue
                    binds = match(rule.pattern, out, root=True)
                    if binds is None:
                        continue
                    mark = len(self.created)
                    self.origin = node.origin
                    self.device = node.device
                    try:
                        new = rule.build(self, Match(out, node, binds))
                    except Decline:
                        new = None
                    if new is None or new is out or new.dtype != out.dtype or not same_shape(new, out):
                        self._discard_since(mark)
                        continue
                    queue.extend(self.created[mark:])
                    self.replace(out, new)
                    changed = True
                    if log is not None:
                        log.append(rule.name)
        return changed


def index_rules(rules: Sequence[Rule]) -> dict[str, list[Rule]]:
    """Rules by root op, keeping their order (earlier rules are tried first)."""
    names = [r.name for r in rules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"rule names must be unique: {sorted(dup)}")
    by_op: dict[str, list[Rule]] = {}
    for r in rules:
        for name in sorted(r.root_ops()):
            by_op.setdefault(name, []).append(r)
    return by_op


def rewrite(
    program: Program, rules: Sequence[Rule], max_rounds: int = MAX_ROUNDS, log: list[str] | None = None
) -> Program:
    """Apply ``rules`` to a copy of ``program`` until a whole sweep changes nothing.

    Returns the rewritten copy in canonical order. ``log`` (if given) collects the name of
    each rule that fired, in order."""
    program = copy_program(program)
    by_op = index_rules(rules)
    for _ in range(max_rounds):
        changed = Rewriter(program).sweep(by_op, log)
        canonicalize(program)
        if not changed:
            break
    return program


# =============================================================================================
# Helpers for builders


def broadcast_as(rw: Rewriter, x: Value, like: Value) -> Value:
    """``x`` standing in for ``like`` (same dtype, x broadcastable to it): ``x`` itself when
    the shapes agree, else a BroadcastTo to like's static shape; Decline for a symbolic one."""
    if x.dtype != like.dtype:
        raise Decline("dtypes differ")
    if same_shape(x, like):
        return x
    if not is_static(like.shape):
        raise Decline("cannot broadcast to a symbolic shape without a shape tensor")
    return rw.make1("BroadcastTo", [x, rw.shape_constant(like.shape)])  # type: ignore[arg-type]


def normalized_axes(axis: Any, rank: int) -> tuple[int, ...]:
    """A reduction's ``axis`` attr as sorted non-negative axes (None: every axis)."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted({int(a) % rank for a in axis})) if rank else ()
