"""The IR verifier: every value is defined before use, and every node's dtypes and
shapes are what its op's rules say for its inputs."""

from __future__ import annotations

from typing import Any

from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir import serialize
from graphc.ir.dims import LoweredDims, is_placeholder
from graphc.ir.program import Node, Program, format_shape


class VerificationError(Exception):
    """The program is malformed: a compiler bug, not a user error."""


# Dims as every pass sees them in a lowered program (graphc.ir.dims); a dim the rules
# cannot tell is a placeholder, and any recorded dim matches it.
_CheckDims = LoweredDims
_is_free = is_placeholder


def _same_dim(recorded: sym.Dim, inferred: sym.Dim, known: _Known | None = None) -> bool:
    """Whether the recorded dim is the one the rules infer: the same expression, or the
    same once what the program knows decides their max/min atoms. (Unification may write a
    size as ``L - 1`` where a rule re-run on it clamps ``max(0, L - 1)``; both are right
    when the program knows ``L - 1 >= 0``, and it does: ``L - 1`` is the size of an input,
    or the expression a data-defined dim was checked against.)"""
    if recorded == inferred or _is_free(inferred):
        return True
    if known is None:
        return False
    facts = known.facts()
    return facts.simplify(recorded) == facts.simplify(inferred)


class _Known:
    """What a program knows to be ``>= 0`` at the node being checked: the dims of every
    value defined so far (params, earlier nodes' outputs, each verified or checked at
    entry), its bindings to params' axes, the expressions its data-defined dims so far
    were checked against, and what the enclosing program knew where its control-flow node
    runs. The :class:`graphc.symbolic.Facts` are built only when a comparison needs them."""

    def __init__(self, parent: sym.Facts | None = None) -> None:
        self.dims: list[sym.Dim] = []
        self.parent = parent
        self._facts: sym.Facts | None = None
        self._n = 0  # how many of self.dims self._facts holds

    def add(self, dims: Any) -> None:
        self.dims.extend(d for d in dims if not isinstance(d, int))

    def facts(self) -> sym.Facts:
        if self._facts is None:
            self._facts = sym.Facts(self.parent.known if self.parent is not None else ())
        for d in self.dims[self._n :]:
            self._facts.add(d)
        self._n = len(self.dims)
        return self._facts


def verify(program: Program, round_trip: bool = True) -> None:
    """Raise VerificationError describing the first problem found; ``round_trip``: also
    check that the program survives its bytes (graphc.ir.serialize)."""
    _verify(program, round_trip=round_trip)


def _verify(program: Program, round_trip: bool, outer: sym.Facts | None = None) -> None:
    defined: set[int] = set()
    known = _Known(outer)
    for i, p in enumerate(program.params):
        if p.kind not in ("feed", "variable", "rng"):
            raise VerificationError(f"param {i} has unknown kind {p.kind!r}")
        defined.add(id(p.value))
        known.add(p.value.shape)
    known.add(b.dim for b in program.bindings if b.source == "shape")  # a fed value may be < 0
    pvalues: dict[int, Any] = {}
    defined_axes = frozenset((id(d.value), d.axis) for d in program.defined_dims)
    checked_at: dict[int, list[sym.Dim]] = {}  # id(value) -> what its defined dims must equal
    for d in program.defined_dims:
        checked_at.setdefault(id(d.value), []).append(d.dim)
    for k, node in enumerate(program.nodes):
        for j, v in enumerate(node.inputs):
            if id(v) not in defined:
                raise VerificationError(f"node {k} ({node.op}): input {j} is used before it is defined")
        schema = serialize.schema_of(node.op)
        if schema is None:
            raise VerificationError(f"node {k}: no op named {node.op!r} is registered")
        problem = reg.attr_problem(schema, node.attrs)
        if problem is not None:
            raise VerificationError(f"node {k} ({node.op}) {problem}")
        _check_node(k, node, pvalues, defined_axes, known)
        _check_regions(k, node, known)
        for j, v in enumerate(node.outputs):
            if v.producer is not node or v.index != j:
                raise VerificationError(f"node {k} ({node.op}): output {j} does not point back to its node")
            defined.add(id(v))
            known.add(v.shape)
            known.add(checked_at.get(id(v), ()))
    for o in program.outputs:
        if id(o.value) not in defined:
            raise VerificationError(f"output {o.kind} {o.name!r} is not defined by the program")
        if o.kind not in ("fetch", "update"):
            raise VerificationError(f"output {o.name!r} has unknown kind {o.kind!r}")
    # The program survives its bytes: loading them gives a program that writes the same
    # bytes and prints the same.
    if round_trip:
        verify_round_trip(program)


def verify_round_trip(program: Program) -> None:
    """Raise VerificationError unless ``program`` survives its bytes (its structure already
    verified: :func:`verify` without the round trip)."""
    problem = serialize.round_trip_problem(program, attrs_checked=True)
    if problem is not None:
        raise VerificationError(f"the program does not round-trip through its bytes: {problem}")


_REGIONS = {"If": 2, "While": 2}  # op -> its number of sub-programs


def _check_regions(k: int, node: Node, known: _Known | None = None) -> None:
    """A control-flow node's sub-programs are programs of their own (verified, without the
    round trip: the enclosing program's covers them) whose signatures fit the node: If's
    branches take the args after the predicate and give the node's outputs; While's cond
    and body take all its inputs, the cond gives one bool scalar, the body the loop
    variables. Every other node has none."""
    want = _REGIONS.get(node.op, 0)
    if len(node.regions) != want:
        raise VerificationError(f"node {k} ({node.op}): {len(node.regions)} sub-programs, the op has {want}")
    if not want:
        return
    args = node.inputs[1:] if node.op == "If" else node.inputs
    outer = known.facts() if known is not None else None
    for j, region in enumerate(node.regions):
        try:
            _verify(region, round_trip=False, outer=outer)
        except VerificationError as exc:
            raise VerificationError(f"node {k} ({node.op}) sub-program {j}: {exc}") from None
        if len(region.params) != len(args) or any(
            p.value.dtype != v.dtype or len(p.value.shape) != len(v.shape)
            for p, v in zip(region.params, args)
        ):
            raise VerificationError(
                f"node {k} ({node.op}) sub-program {j}: its params do not fit the node's args"
            )
        outs = [o.value for o in region.outputs]
        if node.op == "While" and j == 0:
            ok = len(outs) == 1 and outs[0].dtype.name == "bool" and outs[0].shape == ()
        else:
            ok = len(outs) == len(node.outputs) and all(
                u.dtype == v.dtype and len(u.shape) == len(v.shape) for u, v in zip(outs, node.outputs)
            )
        if not ok:
            raise VerificationError(f"node {k} ({node.op}) sub-program {j}: its results do not fit the node")


def _check_node(
    k: int,
    node: Node,
    pvalues: dict[int, Any],
    defined_axes: frozenset[tuple[int, int]] = frozenset(),
    known: _Known | None = None,
) -> None:
    opdef = reg.get(node.op)
    inputs = node.inputs
    if opdef.has("random"):
        inputs = inputs[:-1]  # the run counter is not a frontend input
    env = _CheckDims()
    ctx = reg.InferenceContext(
        node.op,
        [v.shape for v in inputs],
        [v.dtype for v in inputs],
        [pvalues.get(id(v)) for v in inputs],
        node.attrs,
        env,
    )
    try:
        dtypes = opdef.dtype(ctx)
        shapes = opdef.shape(ctx)
        values = opdef.value(ctx) if opdef.value is not None else None
    except (reg.ShapeError, TypeError, ValueError) as exc:
        raise VerificationError(f"node {k} ({node.op}): its rules reject its inputs: {exc}") from None
    if len(dtypes) != len(node.outputs):
        raise VerificationError(
            f"node {k} ({node.op}): {len(node.outputs)} outputs, rules give {len(dtypes)}"
        )
    for j, (v, dt, shp) in enumerate(zip(node.outputs, dtypes, shapes)):
        if v.dtype != dt:
            raise VerificationError(
                f"node {k} ({node.op}): output {j} is {v.dtype.name}, rules say {dt.name}"
            )
        # A data-defined axis is checked when its node runs; any size the rules can now infer
        # (a run-time bound folded to a constant, say) is one that check accepts or refuses.
        if (
            shp is None
            or len(shp) != len(v.shape)
            or not all(
                (id(v), axis) in defined_axes or _same_dim(a, b, known) for axis, (a, b) in enumerate(zip(v.shape, shp))
            )
        ):
            raise VerificationError(
                f"node {k} ({node.op}): output {j} has shape {format_shape(v.shape)}, rules say {format_shape(shp)}"
            )
        if values is not None and values[j] is not None:
            pvalues[id(v)] = values[j]
