"""Structured control flow: ``tf.cond``, ``tf.case``, ``tf.while_loop``, ``tf.map_fn``,
``tf.scan``, ``tf.foldl`` / ``tf.foldr`` (TF1's signatures and checks).

Design. As in TF1, each branch and loop function is called once, while the graph is
built, and the ops it makes go into the same frontend graph; each op made inside one is
tagged with its :class:`Body` (the branch, the loop condition or the loop body), and a
body knows the body it was built in (its ``parent``; None for the top level). A body's
ops are those its outputs reach going back through op inputs and, from the body's own
ops, control inputs, without leaving it (as in TF1, an op of a branch that nothing of the
branch reaches does not run); the tensors it reaches that belong to its parent or an
enclosing body are its *captures*, and they become explicit inputs of the control-flow
op: ``If(pred, *captures)`` and ``While(*loop_vars, *captures)``; the outside ops its ops
have control dependencies on become control inputs of the op. Loop variables inside
``cond``/``body`` are ``ControlFlowArg`` ops, one per variable. A branch may return an
Operation (``tf.group(...)``, ``opt.minimize(...)``): as TF1's cond does, it stands for a
bool that depends on it, True in the then branch and False in the else branch, so the
cond's result is the predicate. A variable made while a body is built (an optimizer's
slot) lives at the top level with its initializer.

State. Reading a variable inside a branch or a loop captures the variable, so the op
reads its value as an input (the lowering's ordering rules apply to it as to any
reader). Assignments (``tf.assign``/``assign_add``/``assign_sub``, an optimizer's
updates) may sit in a branch or a loop body, reached by data or control dependencies:
each body records the variables it assigns (``Body.assigns``; a nested If/While's count
as its own), and the op the union (``ControlFlow.assigns``). Lowering (graphc.ir.lower)
carries each such variable through the node: an If's branches return its value after
the branch as extra results (the captured value where a branch leaves it alone); a While
carries it as a hidden loop variable, so each iteration sees the value the previous one
left. Inside a body a read sees the latest of the body's assignments it depends on
(through data or control), else the value the body entered with; two assignments with
no order between them are an error, as at the top level; the If/While counts as an
assignment of each variable for the ops around it. Host ops inside (tf.print, tf.Assert,
py_func), reached perhaps by control dependencies only, run each time their body runs:
the node gets a host token output that lowering fetches. A failed run (an assertion in
iteration 3) commits nothing, as any failed run. A loop's condition may not assign.
Gradients do not go through assignments (TF1 registers none): the gradient of an op
that assigns is built only when no differentiable result of its bodies depends on an
assignment or on a read of a variable it assigns (NotImplementedError names the op).

Random ops (``tf.nn.dropout`` in a branch, ``tf.random_uniform`` in a loop body) draw
from the op's run counter like any random op: lowering threads each random op's counter
param into every sub-program that runs it. Inside a loop each iteration must draw other
numbers, so a loop whose functions build a random op carries one more variable, its
iteration index ``j`` (0, 1, ...; hidden from the caller), and a random op nested in loops
draws with the counter ``RandomLoopCounter(... RandomLoopCounter(k, j_1) ..., j_d)``
(``j_1`` the outermost loop's index; :func:`loop_counter` gives the formula). The
stream is thus a function of (the op's seeds, the run's counter k, the iteration
indices): a gradient loop that recomputes an iteration with the forward iteration's
saved index draws the same numbers as the forward loop did.

A ``tf.TensorArray`` (graphc.ops.tensor_array_ops) is a loop variable or a branch
result through its buffer, a dense ``[size, *element_shape]`` tensor: nests flatten any
value with ``_cf_flat``/``_cf_rebuild``/``_cf_signature`` into its tensors. One that
enters a loop without a buffer (its element shape unknown) carries nothing until the
body's first write, which makes its buffer a loop variable in its place (zeros made
outside the loop, in the loop's parent).

Lowering (graphc.ir.lower) turns each body into a sub-program: a Program whose params
are the body's arguments (a loop's variables, the variables it carries and its host
token, then the captures) and whose fetches are its results (then, for a branch or a
loop body, the carried variables' new values and the host token). The IR nodes ``If`` (regions: then, else) and ``While`` (regions: cond,
body) carry them in ``Node.regions``; they are verified, printed, hashed and serialised
with their node. Their attrs are the output dtypes and shapes; a ``None`` dim is one the
op defines when it runs (a branch-dependent dim, or a loop-carried dim that changes per
iteration, which inside the body is a symbol bound from the argument's shape). Passes
treat both as opaque (the "stateful" trait: never folded, merged or fused).

Gradients (graphc.autodiff.gradients calls :func:`control_flow_gradient`): the gradient
of ``cond`` is a ``cond`` on the same predicate whose branches are the gradients of the
forward branches (the taken branch's gradient, as TF1); the gradient of ``while_loop``
first runs a loop that saves each iteration's loop variables in accumulators (TF1's
approach: a stack of rows, or for a variable that may change shape per iteration a flat
buffer with each iteration's offset and shape, ``_History``), then a backward loop that
walks them in reverse, recomputing each iteration's body from its saved inputs. A
gradient body refers to the forward body's tensors; those are recomputed inside it (its
``substitutions`` replace the forward body's arguments by the saved values). As in TF1,
these gradient loops are not differentiated again: a second-order gradient through a
while loop is a ValueError ("Second-order gradient for while loops not supported") when
tf.gradients is called; through a cond it works.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor, get_default_graph
from graphc.frontend.location import user_location
from graphc.frontend.tensor_shape import TensorShape, as_shape
from graphc.ops import (
    compare_ops,
    concat_ops,
    core_ops,
    dynamic_shape_ops,
    fill_ops,
    gather_ops,
    layout_ops,
    math_ops,
    reduction_ops,
    slicing_ops,
)
from graphc.ops.common import constant, convert_to_tensor

del slicing_ops  # imported for Tensor.__getitem__ (x[:0] below)

_STATE_OPS = frozenset({"Assign", "AssignAdd", "AssignSub"})


# -- the IR ops ---------------------------------------------------------------------------
def _cf_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    # Output shapes are the node's attr; a None dim is defined by the op when it runs.
    return [tuple(ctx.fresh() if d is None else d for d in shp) for shp in ctx.attrs["shapes"]]


def _cf_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    return list(ctx.attrs["dtypes"])


def _no_reference(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    raise NotImplementedError("If/While run their sub-programs: a backend interprets them")


def _grad_needs_gradients(op: Operation, *grads: Any) -> list[Any]:
    raise LookupError(f"the gradient of {op.type} is built by tf.gradients (control_flow_gradient)")


_CF_ATTRS = {
    "dtypes": reg.tuple_of(reg.DTYPE),
    "shapes": reg.tuple_of(reg.tuple_of(reg.optional(reg.DIM))),
    # Frontend only: the id of the op's bodies in _BODIES (lowering drops it).
    "bodies": reg.omittable(reg.INT),
}

def _register_control_flow(name: str, doc: str) -> reg.OpDef:
    """If and While share their rules: the outputs' types are attrs, the meaning is in the
    regions (run by the backends), the gradient is built by gradients.py."""
    return reg.register(
        reg.OpDef(
            name=name,
            attrs=dict(_CF_ATTRS),
            shape=_cf_shape,
            dtype=_cf_dtype,
            reference=_no_reference,
            grad=_grad_needs_gradients,
            traits=frozenset({"stateful"}),
            num_outputs=None,
            no_samples="runs sub-programs; tested by tests/test_control_flow.py",
            doc=doc,
        )
    )


IF = _register_control_flow("If", "If(pred, *args): regions (then, else), each args -> outputs")
WHILE = _register_control_flow(
    "While", "While(*vars, *captures): regions (cond, body); cond -> bool[], body -> vars"
)
ARG = reg.register(
    reg.OpDef(
        name="ControlFlowArg",
        attrs={"dtype": reg.DTYPE, "shape": reg.SHAPE, "index": reg.INT},
        shape=lambda ctx: [
            None
            if ctx.attrs["shape"] is None
            else tuple(ctx.fresh() if d is None else d for d in ctx.attrs["shape"])
        ],
        dtype=lambda ctx: [ctx.attrs["dtype"]],
        reference=_no_reference,
        grad=reg.NotDifferentiable("a loop variable inside its loop: the loop's gradient handles it"),
        traits=frozenset({"stateful"}),
        no_samples="frontend only: a loop variable inside cond/body; never in a program",
    )
)


_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def loop_counter(counter: Any, index: Any) -> np.ndarray:
    """The run counter a random op uses in iteration ``index`` of a loop, given the counter
    ``counter`` it uses outside that loop: ``mix(counter XOR ((index + 1) << 32))`` in
    wrapping uint64 arithmetic, ``mix`` being SplitMix64's finalizer (a bijection of
    uint64: ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
    z ^= z >> 31``). For a top-level counter below 2**32 (a session's runs of one op) and
    0 <= index < 2**32 - 1 the map is one to one, so no two (run, iteration) pairs of one
    loop draw the same numbers, nor any iteration the numbers the op would draw outside
    the loop; in nested loops the outer counter is already mixed and distinct pairs meet
    only by chance (as for two random 64-bit counters)."""
    c = np.asarray(counter, dtype=np.uint64)
    j = np.asarray(index).astype(np.int64)
    if np.any(j < 0):
        raise ValueError(f"a loop's iteration index must be non-negative, got {j}")
    with np.errstate(over="ignore"):
        z = c ^ ((j.astype(np.uint64) + np.uint64(1)) << np.uint64(32))
        z = z ^ (z >> np.uint64(30))
        z = z * _MIX1
        z = z ^ (z >> np.uint64(27))
        z = z * _MIX2
        z = z ^ (z >> np.uint64(31))
    return np.asarray(z, dtype=np.uint64)


def _loop_counter_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([np.array(0, np.uint64), np.array(0, np.int32)], grad=False),
        reg.Sample([np.array(7, np.uint64), np.array(3, np.int32)], grad=False),
        reg.Sample([np.array(2**63 + 5, np.uint64), np.array(2**31 - 1, np.int32)], grad=False),
    ]


def _loop_counter_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    if ctx.dtypes[0] != _dt.uint64 or not ctx.dtypes[1].is_integer:
        raise TypeError(f"RandomLoopCounter takes a uint64 counter and an integer index, got {ctx.dtypes}")
    return [_dt.uint64]


def _loop_counter_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    if ctx.shapes[0] != () or ctx.shapes[1] != ():
        raise reg.ShapeError(f"RandomLoopCounter takes two scalars, got {ctx.shapes}")
    return [()]


LOOP_COUNTER = reg.register(
    reg.OpDef(
        name="RandomLoopCounter",
        attrs={},
        shape=_loop_counter_shape,
        dtype=_loop_counter_dtype,
        reference=lambda ins, attrs: [loop_counter(ins[0], ins[1])],
        grad=reg.NotDifferentiable("a random op's run counter: an integer"),
        samples=_loop_counter_samples,
        doc="RandomLoopCounter(counter: uint64[], index: int[]) -> uint64[]: a random op's "
        "counter in loop iteration index (control_flow_ops.loop_counter)",
    )
)


# -- bodies -------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class Body:
    """A branch, loop condition or loop body built in the frontend graph."""

    parent: Body | None
    args: list[Tensor] = dataclasses.field(default_factory=list)
    outputs: list[Tensor] = dataclasses.field(default_factory=list)
    captures: list[Tensor] = dataclasses.field(default_factory=list)
    # id(tensor) -> tensor standing for it inside this body (a gradient body recomputes a
    # forward body's tensors with the forward body's arguments replaced by saved values).
    substitutions: dict[int, Tensor] = dataclasses.field(default_factory=dict)
    kind: str = "branch"  # "branch" | "loop" (a loop's cond or body)
    # A loop's cond or body whose functions build random ops: its iteration index arg.
    iteration: Tensor | None = None
    # Ops outside the body that its ops have control dependencies on: the control-flow op
    # depends on them (set with the captures).
    controls: list[Operation] = dataclasses.field(default_factory=list)
    # The variables (VariableV2 ops) the body assigns: its own assignments and those of
    # control flow nested in it (set with the captures).
    assigns: list[Operation] = dataclasses.field(default_factory=list)

    def substitute(self, t: Tensor) -> Tensor:
        """``t`` as this body sees it (its own and enclosing bodies' substitutions)."""
        b: Body | None = self
        while b is not None:
            while id(t) in b.substitutions:
                t = b.substitutions[id(t)]
            b = b.parent
        return t

    def in_loop(self) -> bool:
        b: Body | None = self
        while b is not None:
            if b.kind == "loop":
                return True
            b = b.parent
        return False


@dataclasses.dataclass(eq=False)
class ControlFlow:
    """What an If or While frontend op was built from: its bodies and how its inputs split."""

    kind: str  # "If" | "While"
    bodies: tuple[Body, ...]  # (then, else) or (cond, body)
    n_vars: int  # While: the number of loop variables (inputs before the captures)
    # The variables its bodies assign (VariableV2 ops, by op id): for the lowering's
    # ordering rules the op is an assignment of each.
    assigns: tuple[Operation, ...] = ()


_BODIES: dict[int, ControlFlow] = {}
_ids = itertools.count(1)
_stack: list[Body] = []


def body_of(op: Operation) -> Body | None:
    """The body ``op`` was built in (None: the top level)."""
    return getattr(op, "_cf_body", None)


def control_flow_of(op: Operation) -> ControlFlow:
    """The bodies of an If or While frontend op."""
    return _BODIES[op.attrs["bodies"]]


def current_body() -> Body | None:
    return _stack[-1] if _stack else None


def loop_indices(op: Operation) -> list[Tensor]:
    """The iteration indices of the loops a random op was built in, outermost first (what
    its counter inside them is derived from; empty for any other op)."""
    if not reg.get(op.type).has("random"):
        return []
    out = []
    b = body_of(op)
    while b is not None:
        if b.iteration is not None:
            out.append(b.iteration)
        b = b.parent
    return out[::-1]


def _reads(op: Operation) -> list[Tensor]:
    """What ``op`` reads inside a body: its inputs, and for a random op in a loop the loops'
    iteration indices (its counter depends on them)."""
    return [*op.inputs, *loop_indices(op)]


def _encloses(outer: Body | None, inner: Body | None) -> bool:
    """Whether ``outer`` is ``inner`` or a body ``inner`` was built in (None: the top)."""
    if outer is None:
        return True
    b = inner
    while b is not None:
        if b is outer:
            return True
        b = b.parent
    return False


def _is_outside(body: Body, op: Operation) -> bool:
    """Whether ``op`` belongs to ``body``'s parent or a body enclosing it (a capture's op)."""
    return _encloses(body_of(op), body.parent)


def _controls(body: Body, op: Operation) -> list[Operation]:
    """The control inputs ``body`` follows from ``op``: those of an op built in ``body``
    itself. (An op of another body that a gradient body recomputes is recomputed for its
    value alone: its assignments, prints and assertions ran with its own body.)"""
    return op.control_inputs if body_of(op) is body else []


def body_ops(body: Body) -> list[Operation]:
    """The ops of ``body``'s sub-program, inputs before users: what its outputs reach going
    back through inputs (and substitutions) and, for the body's own ops, control inputs
    (an assignment, a print or an assertion only a control dependency reaches runs with
    the body), without reaching its args, its captures or ops outside it. (Creation
    order is not enough: a substitution made later stands for a forward body's argument
    that older ops read.)"""
    stop = {id(t) for t in body.args} | {id(t) for t in body.captures}
    order: list[Operation] = []
    state: dict[int, bool] = {}  # op id -> placed
    stack: list[tuple[Operation, bool]] = []
    for t in reversed(body.outputs):
        t = body.substitute(t)
        if id(t) not in stop:
            stack.append((t.op, False))
    while stack:
        op, expanded = stack.pop()
        if expanded:
            if not state.get(op._id):
                state[op._id] = True
                order.append(op)
            continue
        if op._id in state:
            continue
        state[op._id] = False
        stack.append((op, True))
        for c in reversed(_controls(body, op)):
            if c._id not in state and not _is_outside(body, c):
                stack.append((c, False))
        for x in reversed(_reads(op)):
            x = body.substitute(x)
            if id(x) not in stop and x.op._id not in state:
                stack.append((x.op, False))
    return order


def _find_captures(body: Body) -> list[Tensor]:
    """The tensors from outside that ``body`` reads (its captures). Also sets
    ``body.controls`` (the outside ops its ops have control dependencies on) and
    ``body.assigns`` (the variables it assigns)."""
    args = {id(t) for t in body.args}
    caps: dict[int, Tensor] = {}
    controls: dict[int, Operation] = {}
    assigns: dict[int, Operation] = {}
    seen: set[int] = set()
    stack: list[Tensor | Operation] = [body.substitute(t) for t in reversed(body.outputs)]
    while stack:
        item = stack.pop()
        if isinstance(item, Operation):
            op = item
            if _is_outside(body, op):
                controls.setdefault(op._id, op)
                continue
        else:
            t = item
            if id(t) in args or id(t) in caps:
                continue
            op = t.op
            if _is_outside(body, op):
                caps[id(t)] = t
                continue
        if op._id in seen:
            continue
        seen.add(op._id)
        if op.type == "ControlFlowArg":
            raise ValueError(
                f"the loop variable {op.outputs[0].name} is used outside its loop (created at {op.location})"
            )
        if op.type == "Placeholder":
            raise ValueError(f"placeholder {op.name!r} created inside control flow (at {op.location})")
        own = body_of(op) is body
        made = assigned_by(op)
        if made and not own:
            raise NotImplementedError(
                f"{op.type} op {op.name!r} (at {op.location}) assigns a variable inside a tf.cond "
                "branch or tf.while_loop body, and a value computed from it is needed again outside "
                "that body (a gradient recomputes it): gradients through assignments in control flow "
                "are not supported"
            )
        if not own:
            _check_foreign_read(body, op)
        for var in made:
            assigns.setdefault(var._id, var)
        stack.extend(reversed(_controls(body, op)))
        stack.extend(body.substitute(x) for x in reversed(_reads(op)))
    body.controls = list(controls.values())
    body.assigns = [assigns[k] for k in sorted(assigns)]
    return list(caps.values())


def assigned_by(op: Operation) -> list[Operation]:
    """The variables ``op`` assigns: an Assign/AssignAdd/AssignSub's, or those an If or
    While assigns inside."""
    if op.type in _STATE_OPS:
        return [op.inputs[0].op]
    if op.type in ("If", "While"):
        return list(control_flow_of(op).assigns)
    return []


def depends_on(body: Body, op: Operation) -> list[Operation]:
    """The ops ``op`` depends on directly inside ``body``: the producers of what it reads
    (after substitution) and the control inputs the body follows from it."""
    return [*(body.substitute(x).op for x in _reads(op)), *_controls(body, op)]


def _refuse_gradient_through_state(op: Operation, cf: ControlFlow) -> None:
    """The gradient of an If or While that assigns variables: TF1 does not differentiate
    through assignments, and a read of an assigned variable inside sees a value that the
    gradient's recomputation could not see again. So the gradient is built only when no
    floating result of a body depends (through data) on an assignment or on a read of a
    variable the op assigns; NotImplementedError names the op otherwise."""
    if not cf.assigns:
        return
    assigned = {v._id for v in cf.assigns}
    for b in cf.bodies[1:] if cf.kind == "While" else cf.bodies:
        seen: set[int] = set()
        stack = [b.substitute(t) for t in b.outputs if t.dtype.is_floating]
        while stack:
            t = stack.pop()
            o = t.op
            if o._id in seen or body_of(o) is not b:
                continue
            seen.add(o._id)
            for x in o.inputs:
                if x.op.type == "VariableV2" and x.op._id in assigned:
                    raise NotImplementedError(
                        f"the gradient of {cf.kind} op {op.name!r}: {o.type} op {o.name!r} (at {o.location}) "
                        f"reads variable {x.op.name!r}, which the {'loop' if cf.kind == 'While' else 'cond'} "
                        "assigns, on the way to a differentiable result: gradients through assignments and "
                        "through reads of variables assigned in control flow are not supported"
                    )
            stack.extend(b.substitute(x) for x in o.inputs)


def _check_foreign_read(body: Body, op: Operation) -> None:
    """``op`` belongs to another body and ``body`` recomputes it (a gradient body): refuse
    it if it reads a variable that its own loop or branch assigns, whose value there
    depends on the assignments made before it."""
    for x in op.inputs:
        if x.op.type != "VariableV2":
            continue
        b = body_of(op)
        while b is not None and not _encloses(b, body):
            if x.op in b.assigns:
                raise NotImplementedError(
                    f"{op.type} op {op.name!r} (at {op.location}) reads variable {x.op.name!r}, which "
                    "its tf.cond branch or tf.while_loop body assigns, and is needed again outside that "
                    "body (a gradient recomputes it): gradients through reads of a variable assigned in "
                    "control flow are not supported"
                )
            b = b.parent


def _build(fn: Callable[..., Any], body: Body, args: Sequence[Any]) -> Any:
    graph = get_default_graph()
    start = graph._last_id
    _stack.append(body)
    try:
        result = fn(*args)
    finally:
        _stack.pop()
        _tag(graph, start, body)
    return result


def _tag(graph: Any, start: int, body: Body) -> None:
    """Tag the ops made after op id ``start`` with ``body``, except those tagged already
    (``_outside`` tags its ops itself) and variables: a variable made while a body is
    built (an optimizer's slot, when ``minimize`` is called in a branch) lives at the top
    level with its initializer, as TF1's slot variables do."""
    made = []
    for op in reversed(graph._ops):
        if op._id <= start:
            break
        made.append(op)
    top: set[int] = set()
    for op in made:
        if op.type != "VariableV2" or hasattr(op, "_cf_body"):
            continue
        top.add(op._id)
        init = graph._variable_initializers.get(op._id)
        stack = [init] if init is not None else []
        while stack:
            o = stack.pop()
            if o._id in top or o._id <= start or hasattr(o, "_cf_body"):
                if body_of(o) is not None and o._id not in top:
                    raise ValueError(
                        f"the initial value of variable {op.name!r} (at {op.location}) reads "
                        f"{o.name!r}, a value of a tf.cond branch or tf.while_loop body: a variable "
                        "made in control flow must be initialized from values outside it"
                    )
                continue
            top.add(o._id)
            stack.extend(x.op for x in o.inputs)
            stack.extend(o.control_inputs)
    for op in made:
        if not hasattr(op, "_cf_body"):
            op._cf_body = None if op._id in top else body  # type: ignore[attr-defined]


def _tensor_in(body: Body, x: Any, dtype: Any = None, taken: bool = True) -> Tensor:
    """A body's result as a tensor: a Python value becomes a constant inside the body; an
    Operation (a branch returning ``tf.group(...)`` or ``opt.minimize(...)``) becomes, as
    TF1's cond makes it, a bool scalar that depends on the op: True in the then branch,
    False in the else branch (``taken``), so the cond's result is the predicate."""
    if isinstance(x, Tensor):
        return x
    graph = get_default_graph()
    start = graph._last_id
    _stack.append(body)
    try:
        if isinstance(x, Operation):
            with graph.control_dependencies([x]):
                t = constant(taken, dtype=_dt.bool_, name="branch_executed")
        else:
            t = convert_to_tensor(x, dtype=dtype)
    finally:
        _stack.pop()
        _tag(graph, start, body)
    return t


# -- nested structures (lists, tuples, dicts, namedtuples) -----------------------------------
# A value with ``_cf_flat``/``_cf_rebuild``/``_cf_signature`` (a TensorArray,
# graphc.ops.tensor_array_ops) flattens into the tensors it is made of.
def _is_composite(x: Any) -> bool:
    return hasattr(x, "_cf_flat") and not isinstance(x, type)


def _flatten(x: Any) -> list[Any]:
    if _is_composite(x):
        return list(x._cf_flat())
    if isinstance(x, dict):
        return [y for k in sorted(x) for y in _flatten(x[k])]
    if isinstance(x, list | tuple):
        return [y for e in x for y in _flatten(e)]
    return [x]


def _pack(like: Any, flat: Sequence[Any]) -> Any:
    it = iter(flat)

    def rec(s: Any) -> Any:
        if _is_composite(s):
            return s._cf_rebuild([next(it) for _ in s._cf_flat()])
        if isinstance(s, dict):
            return {k: rec(s[k]) for k in sorted(s)}
        if isinstance(s, list | tuple):
            items = [rec(e) for e in s]
            if isinstance(s, tuple) and hasattr(s, "_fields"):
                return type(s)(*items)
            return type(s)(items) if isinstance(s, tuple) else items
        return next(it)

    return rec(like)


def _leaves(x: Any) -> list[Any]:
    """The leaves of a nest in flattening order, a composite value as one leaf."""
    if _is_composite(x):
        return [x]
    if isinstance(x, dict):
        return [y for k in sorted(x) for y in _leaves(x[k])]
    if isinstance(x, list | tuple):
        return [y for e in x for y in _leaves(e)]
    return [x]


def _with_leaves(like: Any, leaves: Sequence[Any]) -> Any:
    """``like``'s structure with its leaves replaced by ``leaves`` (in flattening order)."""
    it = iter(leaves)

    def rec(s: Any) -> Any:
        if _is_composite(s):
            return next(it)
        if isinstance(s, dict):
            return {k: rec(s[k]) for k in sorted(s)}
        if isinstance(s, list | tuple):
            items = [rec(e) for e in s]
            if isinstance(s, tuple) and hasattr(s, "_fields"):
                return type(s)(*items)
            return type(s)(items) if isinstance(s, tuple) else items
        return next(it)

    return rec(like)


def _outside(body: Body | None, fn: Callable[[], Tensor]) -> Tensor:
    """``fn()``'s ops made in ``body`` (a loop's parent) while a body inside it is built."""
    graph = get_default_graph()
    start = graph._last_id
    t = fn()
    for op in reversed(graph._ops):
        if op._id <= start:
            break
        op._cf_body = body  # type: ignore[attr-defined]
    return t


def _structure(x: Any) -> Any:
    if _is_composite(x):
        return x._cf_signature()
    if isinstance(x, dict):
        return ("dict", tuple((k, _structure(x[k])) for k in sorted(x)))
    if isinstance(x, list | tuple):
        return (type(x).__name__ if hasattr(x, "_fields") else "seq", tuple(_structure(e) for e in x))
    return "."


def _merge_shapes(a: TensorShape, b: TensorShape) -> TensorShape:
    """The most specific shape both are instances of (TF1's cond output shape)."""
    if a.ndims is None or b.ndims is None or a.ndims != b.ndims:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.as_list(), b.as_list())])


def _shape_attr(shape: TensorShape) -> tuple[Any, ...]:
    if shape.ndims is None:
        raise NotImplementedError("a control-flow result of unknown rank is not supported")
    return tuple(shape.as_list())


def _make_cf_op(
    kind: str,
    inputs: list[Tensor],
    bodies: tuple[Body, ...],
    n_vars: int,
    dtypes: list[_dt.DType],
    shapes: list[TensorShape],
    name: str | None,
) -> Operation:
    """The If or While op: it depends on what its bodies' ops have control dependencies on
    outside them, and assigns the variables they assign (those it captures)."""
    assigns: dict[int, Operation] = {}
    controls: list[Operation] = []
    for b in bodies:
        assigns.update((v._id, v) for v in b.assigns)
        controls.extend(c for c in b.controls if c not in controls)
    key = next(_ids)
    _BODIES[key] = ControlFlow(kind, bodies, n_vars, tuple(assigns[k] for k in sorted(assigns)))
    attrs = {
        "dtypes": tuple(dtypes),
        "shapes": tuple(_shape_attr(s) for s in shapes),
        "bodies": key,
    }
    graph = inputs[0].graph if inputs else get_default_graph()
    return graph.create_op(kind, inputs, attrs, name=name or kind, control_inputs=controls)


def _union(*lists: Sequence[Tensor]) -> list[Tensor]:
    out: dict[int, Tensor] = {}
    for ts in lists:
        for t in ts:
            out.setdefault(id(t), t)
    return list(out.values())


# -- tf.cond / tf.case ---------------------------------------------------------------------
def cond(
    pred: Any,
    true_fn: Callable[[], Any] | None = None,
    false_fn: Callable[[], Any] | None = None,
    strict: bool = False,
    name: str | None = None,
    fn1: Callable[[], Any] | None = None,
    fn2: Callable[[], Any] | None = None,
) -> Any:
    """tf.cond: ``true_fn()`` if ``pred`` else ``false_fn()`` (TF1). Both functions are
    called once to build their branches; they must return the same structure of tensors
    with the same dtypes (ValueError otherwise, as TF1). Without ``strict``, a result
    that is a one-element list or tuple is returned as its element (TF1)."""
    true_fn = true_fn if true_fn is not None else fn1
    false_fn = false_fn if false_fn is not None else fn2
    if not callable(true_fn):
        raise TypeError("true_fn must be callable.")
    if not callable(false_fn):
        raise TypeError("false_fn must be callable.")
    pred_t = convert_to_tensor(pred, dtype=_dt.bool_)
    if pred_t.dtype != _dt.bool_ or (pred_t.shape.ndims not in (None, 0)):
        raise ValueError(f"pred must be a scalar bool tensor, got {pred_t}")
    parent = current_body()
    then_b, else_b = Body(parent), Body(parent)
    res_t = _build(true_fn, then_b, ())
    res_f = _build(false_fn, else_b, ())
    if res_t is None or res_f is None:
        raise ValueError("true_fn and false_fn must return values (TF1 graphc cond needs results)")
    if _structure(res_t) != _structure(res_f):
        raise ValueError(f"Outputs of true_fn and false_fn must have the same structure: {res_t} and {res_f}")
    flat_t = [_tensor_in(then_b, x) for x in _flatten(res_t)]
    flat_f = [_tensor_in(else_b, x, dtype=t.dtype, taken=False) for x, t in zip(_flatten(res_f), flat_t)]
    for x, y in zip(flat_t, flat_f):
        if x.dtype != y.dtype:
            raise ValueError(
                f"Outputs of true_fn and false_fn must have the same type: {x.dtype.name}, {y.dtype.name}"
            )
    then_b.outputs, else_b.outputs = flat_t, flat_f
    then_b.captures = _find_captures(then_b)
    else_b.captures = _find_captures(else_b)
    caps = _union(then_b.captures, else_b.captures)
    then_b.captures = else_b.captures = caps
    shapes = [_merge_shapes(x.shape, y.shape) for x, y in zip(flat_t, flat_f)]
    op = _make_cf_op(
        "If", [pred_t, *caps], (then_b, else_b), 0, [t.dtype for t in flat_t], shapes, name or "cond"
    )
    outs = list(op.outputs)
    if not strict and isinstance(res_t, list | tuple) and len(res_t) == 1 and not hasattr(res_t, "_fields"):
        return outs[0] if len(outs) == 1 else _pack(res_t[0], outs)
    return _pack(res_t, outs) if isinstance(res_t, list | tuple | dict) or _is_composite(res_t) else outs[0]


def case(
    pred_fn_pairs: Any,
    default: Callable[[], Any] | None = None,
    exclusive: bool = False,
    strict: bool = False,
    name: str = "case",
) -> Any:
    """tf.case: the function of the first true predicate, else ``default`` (TF1; a dict's
    pairs are taken in their order). Built as nested conds. ``exclusive=True`` is
    accepted; the check that at most one predicate holds is not made."""
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) else list(pred_fn_pairs)
    for p in pairs:
        if not isinstance(p, tuple) or len(p) != 2:
            raise TypeError(f"Each entry in pred_fn_pairs must be a 2-tuple, got {p!r}")
        if not callable(p[1]):
            raise TypeError("fn for pred must be callable.")
    if default is None:
        if not pairs:
            raise ValueError("tf.case needs at least one (pred, fn) pair or a default")
        *pairs, (_, default) = pairs
    result: Callable[[], Any] = default
    for p, fn in reversed(pairs):
        result = (lambda p_, fn_, rest: lambda: cond(p_, fn_, rest, strict=strict))(p, fn, result)
    return result()


# -- tf.while_loop ---------------------------------------------------------------------------
def _arg(body: Body, t: Tensor, shape: TensorShape, index: int) -> Tensor:
    attrs = {
        "dtype": t.dtype,
        "shape": None if shape.ndims is None else tuple(shape.as_list()),
        "index": index,
    }
    graph = t.graph
    _stack.append(body)
    try:
        out = graph.create_op("ControlFlowArg", [], attrs, name="loop_var").outputs[0]
    finally:
        _stack.pop()
    out.op._cf_body = body  # type: ignore[attr-defined]
    return out


def while_loop(
    cond: Callable[..., Any],
    body: Callable[..., Any],
    loop_vars: Any,
    shape_invariants: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    name: str | None = None,
    maximum_iterations: Any = None,
    return_same_structure: bool = False,
) -> Any:
    """tf.while_loop (TF1): repeat ``loop_vars = body(*loop_vars)`` while
    ``cond(*loop_vars)``. ``cond`` and ``body`` are called once, to build them. A loop
    variable keeps its shape (TypeError for a changed dtype, ValueError for a shape the
    invariant does not allow) unless ``shape_invariants`` gives a less specific shape:
    a dim left None there may change per iteration. A dim the invariant fixes but the
    body's static shape leaves None (a slice with a run-time bound) is checked in each
    iteration (InvalidArgumentError naming the loop variable and the loop, ``ir/lower.py``).
    ``maximum_iterations`` bounds the
    trip count (TF1 adds a counter). ``parallel_iterations``, ``back_prop`` and
    ``swap_memory`` are accepted; iterations run in order. Returns the final loop
    variables: a single one unpacked unless ``return_same_structure`` (TF1)."""
    if not callable(cond):
        raise TypeError("cond must be callable.")
    if not callable(body):
        raise TypeError("body must be callable.")
    if parallel_iterations < 1:
        raise TypeError("parallel_iterations must be a positive integer.")
    single = not isinstance(loop_vars, list | tuple | dict)
    structure = [loop_vars] if single else loop_vars
    flat = [convert_to_tensor(x) for x in _flatten(structure)]
    if not _leaves(structure):
        raise ValueError("No loop variables provided")
    if shape_invariants is not None:
        inv_flat = _flatten([shape_invariants] if single else shape_invariants)
        if len(inv_flat) != len(flat):
            raise ValueError("shape_invariants must have the same structure as loop_vars")
        invariants = [as_shape(s) for s in inv_flat]
        for t, s in zip(flat, invariants):
            if not s.is_compatible_with(t.shape):
                raise ValueError(
                    f"The shape invariant specified for {t.name} is not compatible with the initial shape "
                    f"of the loop variable. It enters the loop with shape {t.shape}, but the specified "
                    f"shape invariant is {s}."
                )
    else:
        invariants = [t.shape for t in flat]
    counted = maximum_iterations is not None
    if counted:
        max_t = convert_to_tensor(maximum_iterations, dtype=_dt.int32)
        flat = [constant(0, dtype=max_t.dtype, name="iteration_counter"), *flat]
        invariants = [TensorShape([]), *invariants]
    parent = current_body()
    cond_b, body_b = Body(parent, kind="loop"), Body(parent, kind="loop")
    cond_args = [_arg(cond_b, t, s, k) for k, (t, s) in enumerate(zip(flat, invariants))]
    body_args = [_arg(body_b, t, s, k) for k, (t, s) in enumerate(zip(flat, invariants))]
    # The iteration index, a loop variable only if the functions build a random op (see
    # the module's docstring). Made before they are built: a loop nested in them captures
    # it when a random op inside reads it.
    graph = get_default_graph()
    iteration0 = constant(0, dtype=_dt.int32, name="iteration")
    cond_b.iteration = _arg(cond_b, iteration0, TensorShape([]), len(flat))
    body_b.iteration = _arg(body_b, iteration0, TensorShape([]), len(flat))
    built_from = graph._last_id
    user_c = cond_args[1:] if counted else cond_args
    user_b = body_args[1:] if counted else body_args

    # A TensorArray without a buffer (its element shape not known yet) carries nothing
    # into the loop; its first write in the body makes its buffer a loop variable, inserted
    # at its place among the loop variables (``late``: position -> initial value, shape).
    leaves = _leaves(structure)
    counts = [len(_flatten(x)) for x in leaves]
    offset = 1 if counted else 0
    late: dict[int, tuple[Tensor, TensorShape]] = {}

    def materializer(leaf: int) -> Callable[[Any, TensorShape], Tensor]:
        def materialize(ta: Any, elem: TensorShape) -> Tensor:
            pos = offset + sum(counts[:leaf])
            initial = _outside(parent, lambda: ta._cf_initial(elem))
            inv = TensorShape([None if ta._cf_size() is None else ta._cf_size(), *elem.as_list()])
            arg = _arg(body_b, initial, inv, pos)
            flat.insert(pos, initial)
            invariants.insert(pos, inv)
            body_args.insert(pos, arg)
            for p in sorted(late, reverse=True):
                if p >= pos:
                    late[p + 1] = late.pop(p)
            late[pos] = (initial, inv)
            counts[leaf] = 1
            ta._materialize = None
            return arg

        return materialize

    def unflatten(vs: Sequence[Tensor], with_materialize: bool) -> Any:
        packed = _pack(structure, vs)
        if with_materialize:
            for k, x in enumerate(_leaves(packed)):
                if _is_composite(x) and not x._cf_flat():
                    x._materialize = materializer(k)
        return packed

    holder: dict[str, Any] = {}

    def cond_fn(*vs: Tensor) -> Any:
        c = cond(*unflatten(vs, False)) if not single else cond(unflatten(vs, False)[0])
        c = convert_to_tensor(c, dtype=_dt.bool_)
        if counted:
            c = compare_ops.logical_and(compare_ops.less(cond_args[0], max_t), c)
        return c

    def body_fn(*vs: Tensor) -> Any:
        r = body(*unflatten(vs, True)) if not single else body(unflatten(vs, True)[0])
        if single and isinstance(r, list | tuple) and len(r) == 1:
            r = r[0]
        if not single and not isinstance(r, list | tuple | dict) and len(structure) == 1:
            r = [r]  # TF1: a one-variable body may return the bare tensor
        if _structure(r if not single else [r]) != _structure(structure):
            raise ValueError(f"body must return the same structure as loop_vars: {structure} and {r}")
        holder["leaves"] = _leaves([r] if single else r)
        out = _flatten([r] if single else r)
        if counted:
            out = [math_ops.add(body_args[0], constant(1, dtype=max_t.dtype)), *out]
        return out

    c_out = _build(cond_fn, cond_b, user_c)
    b_out = _build(body_fn, body_b, user_b)
    for pos in sorted(late):
        initial, inv = late[pos]
        cond_args.insert(pos, _arg(cond_b, initial, inv, pos))
    if len(b_out) != len(flat):
        raise ValueError(
            "body must return the same structure as loop_vars: a TensorArray entering the loop unwritten "
            "must be written in the body (or be given element_shape=)"
        )
    c_t = _tensor_in(cond_b, c_out, _dt.bool_)
    if c_t.dtype != _dt.bool_ or c_t.shape.ndims not in (None, 0):
        raise ValueError(f"cond must return a boolean scalar tensor, got {c_t}")
    b_ts = [_tensor_in(body_b, x, dtype=t.dtype) for x, t in zip(b_out, flat)]
    for t, o, s in zip(flat, b_ts, invariants):
        if o.dtype != t.dtype:
            raise TypeError(
                f"Loop var {t.name} enters the loop with type {t.dtype.name}, but has type "
                f"{o.dtype.name} after 1 iteration."
            )
        if not s.is_compatible_with(o.shape) or (s.ndims is not None and o.shape.ndims is None):
            raise ValueError(
                f"Input tensor '{t.name}' enters the loop with shape {s}, but has shape {o.shape} after "
                "one iteration. To allow the shape to vary across iterations, use the `shape_invariants` "
                "argument of tf.while_loop to specify a less-specific shape."
            )
    if _builds_random(graph, built_from):
        flat, invariants = [*flat, iteration0], [*invariants, TensorShape([])]
        cond_args, body_args = [*cond_args, cond_b.iteration], [*body_args, body_b.iteration]
        it = body_b.iteration
        b_ts = [*b_ts, _build(lambda: math_ops.add(it, constant(1, dtype=_dt.int32)), body_b, ())]
        n_hidden = 1
    else:
        cond_b.iteration = body_b.iteration = None
        n_hidden = 0
    cond_b.args, cond_b.outputs = cond_args, [c_t]
    body_b.args, body_b.outputs = body_args, b_ts
    caps = _union(_find_captures(cond_b), _find_captures(body_b))
    if cond_b.assigns:
        raise NotImplementedError(
            f"the condition of tf.while_loop assigns variable {cond_b.assigns[0].name!r}: assignments "
            "in a loop's condition are not supported; assign in its body"
        )
    cond_b.captures = body_b.captures = caps
    op = _make_cf_op(
        "While",
        [*flat, *caps],
        (cond_b, body_b),
        len(flat),
        [t.dtype for t in flat],
        invariants,
        name or "while",
    )
    outs = list(op.outputs)[: len(flat) - n_hidden]
    if counted:
        outs = outs[1:]
        # The bound, known before the loop runs: the gradient preallocates its history.
        op._cf_max_iterations = max_t  # type: ignore[attr-defined]
    # The results have the loop variables' structure and the body results' leaves (a
    # TensorArray's element shape as the body left it).
    like = _with_leaves(structure, holder["leaves"])
    if single:
        v = _pack(like, outs)[0]
        return [v] if return_same_structure else v
    packed = _pack(like, outs)
    if not return_same_structure and isinstance(packed, list | tuple) and len(packed) == 1:
        return packed[0]
    return packed


def _builds_random(graph: Any, after: int) -> bool:
    """Whether an op made after op id ``after`` draws random numbers."""
    for op in reversed(graph._ops):
        if op._id <= after:
            return False
        if reg.get(op.type).has("random"):
            return True
    return False


# -- map_fn, scan, foldl, foldr (TF1's, as while loops) ------------------------------------------
def _length(x: Tensor) -> Tensor:
    d = x.shape.as_list()[0] if x.shape.ndims else None
    if d is not None:
        return constant(d, dtype=_dt.int32)
    return core_ops.shape(x)[0]


def _elem(x: Tensor, i: Tensor) -> Tensor:
    return gather_ops.gather(x, i)


def _stack_append(acc: Tensor, x: Tensor) -> Tensor:
    return concat_ops.concat([acc, layout_ops.expand_dims(x, 0)], 0)


def _no_rows(x: Tensor) -> Tensor:
    """An empty stack of ``x``-shaped rows: shape [0, *x.shape]."""
    return layout_ops.expand_dims(x, 0)[:0]


def _scan_impl(
    fn: Callable[..., Any],
    elems: Any,
    initializer: Any,
    reverse: bool,
    keep_all: bool,
    name: str,
    dtype: Any = None,
    map_only: bool = False,
) -> Any:
    """The loop behind map_fn, scan, foldl and foldr: ``i`` over the elements (reversed for
    ``reverse``), the state ``a = fn(a, x)`` (``fn(x)`` for map_fn), every result stacked
    in an accumulator whose first dim grows per iteration (``keep_all``)."""
    elems_flat = [convert_to_tensor(e) for e in _flatten(elems)]
    if not elems_flat:
        raise ValueError("elems must be a tensor or a nest of tensors")
    one_elem = not isinstance(elems, list | tuple | dict)
    n = _length(elems_flat[0])
    one = constant(1, dtype=_dt.int32)

    def index(i: Tensor) -> Tensor:
        return math_ops.subtract(math_ops.subtract(n, one), i) if reverse else i

    def elem_at(i: Tensor) -> Any:
        xs = [_elem(e, index(i)) for e in elems_flat]
        return xs[0] if one_elem else _pack(elems, xs)

    out_dtypes = [_dt.as_dtype(d) for d in _flatten(dtype)] if dtype is not None else None
    skip_first = initializer is None and not map_only
    if map_only:
        state_like: Any = None
        state_flat: list[Tensor] = []
    else:
        state_like = elem_at(constant(0, dtype=_dt.int32)) if skip_first else initializer
        state_flat = [convert_to_tensor(x) for x in _flatten(state_like)]
    structured_state = isinstance(state_like, list | tuple | dict)

    def call(state: list[Tensor], x: Any) -> tuple[Any, list[Tensor]]:
        if map_only:
            r = fn(x)
        else:
            r = fn(_pack(state_like, state) if structured_state else state[0], x)
        flat = _flatten(r)
        if out_dtypes is not None:
            flat = [convert_to_tensor(y, dtype=d) for y, d in zip(flat, out_dtypes)]
        else:
            flat = [convert_to_tensor(y) for y in flat]
        return r, flat

    holder: dict[str, Any] = {}

    def loop_cond(i: Tensor, *rest: Tensor) -> Tensor:
        return compare_ops.less(i, n)

    def loop_body(i: Tensor, *rest: Tensor) -> list[Tensor]:
        k = len(state_flat)
        state, accs = list(rest[:k]), list(rest[k:])
        r, r_flat = call(state, elem_at(i))
        holder["structure"] = r
        new_state = [] if map_only else r_flat
        new_accs = [_stack_append(a, y) for a, y in zip(accs, r_flat)] if keep_all else []
        return [math_ops.add(i, one), *new_state, *new_accs]

    # The accumulators' row shapes come from the results' static shapes: a first call of
    # fn, outside the loop, on element 0 tells them (its ops are dead code).
    if keep_all:
        _, probe = call(state_flat, elem_at(constant(0, dtype=_dt.int32)))
        for y in probe:
            if y.shape.ndims is None:
                raise NotImplementedError(f"{name}: a result of fn has an unknown rank")
        if skip_first:
            acc0 = [layout_ops.expand_dims(s, 0) for s in state_flat]
        else:
            acc0 = [_no_rows(y) for y in probe]
    else:
        acc0 = []
    start = constant(1 if skip_first else 0, dtype=_dt.int32)
    invariants = [TensorShape([]), *[t.shape for t in state_flat]]
    invariants += [TensorShape([None, *a.shape.as_list()[1:]]) for a in acc0]
    outs = while_loop(
        loop_cond,
        loop_body,
        [start, *state_flat, *acc0],
        shape_invariants=invariants,
        name=name,
        return_same_structure=True,
    )
    k = len(state_flat)
    if keep_all:
        accs = list(outs[1 + k :])
        if reverse:
            accs = [layout_ops.reverse(a, [0]) for a in accs]
        like = holder["structure"]
        return _pack(like, accs) if isinstance(like, list | tuple | dict) else accs[0]
    final = list(outs[1 : 1 + k])
    return _pack(state_like, final) if structured_state else final[0]


def map_fn(
    fn: Callable[[Any], Any],
    elems: Any,
    dtype: Any = None,
    parallel_iterations: int | None = None,
    back_prop: bool = True,
    swap_memory: bool = False,
    infer_shape: bool = True,
    name: str | None = None,
) -> Any:
    """tf.map_fn (TF1): ``fn`` on each element of ``elems`` along axis 0, the results
    stacked. ``fn`` is traced on element 0 once outside the loop to learn the results'
    structure (its ops are dead unless used) and once inside. Each result needs a static
    shape."""
    return _scan_impl(fn, elems, None, False, True, name or "map", dtype=dtype, map_only=True)


def scan(
    fn: Callable[[Any, Any], Any],
    elems: Any,
    initializer: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    infer_shape: bool = True,
    reverse: bool = False,
    name: str | None = None,
) -> Any:
    """tf.scan (TF1): ``a = fn(a, x)`` over the elements, every ``a`` stacked; without an
    initializer the first element is the first ``a`` (and is the first result)."""
    return _scan_impl(fn, elems, initializer, reverse, True, name or "scan")


def foldl(
    fn: Callable[[Any, Any], Any],
    elems: Any,
    initializer: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    name: str | None = None,
) -> Any:
    """tf.foldl (TF1): ``a = fn(a, x)`` left to right; the final ``a``."""
    return _scan_impl(fn, elems, initializer, False, False, name or "foldl")


def foldr(
    fn: Callable[[Any, Any], Any],
    elems: Any,
    initializer: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    name: str | None = None,
) -> Any:
    """tf.foldr (TF1): ``a = fn(a, x)`` right to left; the final ``a``."""
    return _scan_impl(fn, elems, initializer, True, False, name or "foldr")


# -- gradients ------------------------------------------------------------------------------
GradientsFn = Callable[..., list[Tensor | None]]


def control_flow_gradient(op: Operation, grads: Sequence[Tensor | None], gradients: GradientsFn) -> list[Any]:
    """The gradients of an If or While op's inputs (graphc.autodiff.gradients calls this,
    passing itself as ``gradients``)."""
    cf = control_flow_of(op)
    _refuse_gradient_through_state(op, cf)
    if cf.kind == "If":
        return _if_grad(op, cf, grads, gradients)
    return _while_grad(op, cf, grads, gradients)


def _filled(grads: Sequence[Tensor | None], like: Sequence[Tensor]) -> list[Tensor | None]:
    return [
        g if g is not None else (fill_ops.zeros_like(t) if t.dtype.is_floating else None)
        for g, t in zip(grads, like)
    ]


def _if_grad(
    op: Operation, cf: ControlFlow, grads: Sequence[Tensor | None], gradients: GradientsFn
) -> list[Any]:
    then_b, else_b = cf.bodies
    caps = list(op.inputs[1:])
    dys = _filled(grads, op.outputs)
    wrt = [k for k, c in enumerate(caps) if c.dtype.is_floating]
    if not wrt:
        return [None] * len(op.inputs)
    used: list[bool] = [False] * len(wrt)

    def branch(b: Body) -> Callable[[], list[Tensor]]:
        def fn() -> list[Tensor]:
            ys = [y for y, d in zip(b.outputs, dys) if d is not None]
            gy = [d for d in dys if d is not None]
            gs = gradients(ys, [caps[k] for k in wrt], grad_ys=gy) if ys else [None] * len(wrt)
            out = []
            for j, (k, g) in enumerate(zip(wrt, gs)):
                if g is not None:
                    used[j] = True
                out.append(g if g is not None else fill_ops.zeros_like(caps[k]))
            return out

        return fn

    res = cond(op.inputs[0], branch(then_b), branch(else_b), strict=True, name="cond_grad")
    result: list[Any] = [None] * len(op.inputs)
    for j, (k, g) in enumerate(zip(wrt, res)):
        result[1 + k] = g if used[j] else None
    return result


def _while_grad(
    op: Operation, cf: ControlFlow, grads: Sequence[Tensor | None], gradients: GradientsFn
) -> list[Any]:
    """The gradient of a While: a history loop (the forward loop again, saving each
    iteration's loop variables, :class:`_History`), then a backward loop over the saved
    iterations in reverse, each recomputing its iteration's body from the saved values and
    applying that body's gradient. A loop variable's gradient keeps the shape the variable
    had in that iteration, so it changes shape with it. A loop with
    ``maximum_iterations`` (the bound computed before it runs) saves its fixed-shape
    variables in rows of buffers allocated once, so every loop variable of both loops keeps
    its shape."""
    forward = getattr(op, "_cf_gradient_of", None)
    if forward is not None:
        # TF1's message and rule: a gradient loop is not differentiated again.
        raise ValueError(
            f"Second-order gradient for while loops not supported: {op.name!r} is part of the gradient "
            f"of tf.while_loop {forward.name!r} (created at {forward.location}), differentiated again "
            f"at {user_location()}"
        )
    cond_b, body_b = cf.bodies
    n = cf.n_vars
    vars_in = list(op.inputs[:n])
    caps = list(op.inputs[n:])
    dys = _filled(grads, op.outputs)
    invs = [as_shape(s) for s in op.attrs["shapes"]]
    bound = getattr(op, "_cf_max_iterations", None)
    hists = [
        _History(v, inv, f"loop variable {k} of while_loop {op.name!r}", bound)
        for k, (v, inv) in enumerate(zip(vars_in, invs))
    ]
    i32 = _dt.int32

    # 1. The history loop: the forward loop again, saving each iteration's loop variables.
    def h_cond(i: Tensor, *rest: Tensor) -> Tensor:
        b = current_body()
        assert b is not None
        for a, v in zip(cond_b.args, rest[:n]):
            b.substitutions[id(a)] = v
        return cond_b.outputs[0]

    def h_body(i: Tensor, *rest: Tensor) -> list[Tensor]:
        b = current_body()
        assert b is not None
        vs, saved = rest[:n], list(rest[n:])
        for a, v in zip(body_b.args, vs):
            b.substitutions[id(a)] = v
        new_saved: list[Tensor] = []
        for h, v in zip(hists, vs):
            new_saved += h.record(v, saved[: h.width], i)
            saved = saved[h.width :]
        return [math_ops.add(i, constant(1, dtype=i32)), *body_b.outputs, *new_saved]

    hist = while_loop(
        h_cond,
        h_body,
        [constant(0, dtype=i32), *vars_in, *(t for h in hists for t in h.initial)],
        shape_invariants=[TensorShape([]), *invs, *(s for h in hists for s in h.invariants)],
        name="while_history",
        return_same_structure=True,
    )
    hist[0].op._cf_gradient_of = op  # type: ignore[attr-defined]
    trips = hist[0]
    rest = list(hist[1 + n :])
    records = []
    for h in hists:
        records.append(rest[: h.width])
        rest = rest[h.width :]

    # 2. The backward loop, iterations in reverse, each body recomputed from saved inputs.
    fv = [k for k in range(n) if vars_in[k].dtype.is_floating]
    fc = [k for k in range(len(caps)) if caps[k].dtype.is_floating]
    if not fv and not fc:
        return [None] * len(op.inputs)
    d0 = [dys[k] if dys[k] is not None else fill_ops.zeros_like(op.outputs[k]) for k in fv]
    c0 = [fill_ops.zeros_like(caps[k]) for k in fc]

    def g_cond(j: Tensor, *rest: Tensor) -> Tensor:
        return compare_ops.greater_equal(j, constant(0, dtype=i32))

    def g_body(j: Tensor, *rest: Tensor) -> list[Tensor]:
        b = current_body()
        assert b is not None
        dvs, dcs = list(rest[: len(fv)]), list(rest[len(fv) :])
        saved = [h.recall(r, j) for h, r in zip(hists, records)]
        for a, v in zip(body_b.args, saved):
            b.substitutions[id(a)] = v
        ys = [body_b.outputs[k] for k in fv]
        xs = [body_b.args[k] for k in fv] + [caps[k] for k in fc]
        gs = gradients(ys, xs, grad_ys=dvs)
        new_dv = [g if g is not None else fill_ops.zeros_like(saved[k]) for g, k in zip(gs[: len(fv)], fv)]
        new_dc = [dc if g is None else math_ops.add(dc, g) for dc, g in zip(dcs, gs[len(fv) :])]
        return [math_ops.subtract(j, constant(1, dtype=i32)), *new_dv, *new_dc]

    back = while_loop(
        g_cond,
        g_body,
        [math_ops.subtract(trips, constant(1, dtype=i32)), *d0, *c0],
        name="while_grad",
        shape_invariants=[TensorShape([])] + [hists[k].shape for k in fv] + [caps[k].shape for k in fc],
        return_same_structure=True,
    )
    back[0].op._cf_gradient_of = op  # type: ignore[attr-defined]
    result: list[Any] = [None] * len(op.inputs)
    for j, k in enumerate(fv):
        result[k] = back[1 + j]
    for j, k in enumerate(fc):
        result[n + k] = back[1 + len(fv) + j]
    return result


def _static_rows(t: Tensor) -> int | None:
    """A bound's value where it is a scalar Const (None for any other tensor)."""
    if t.op.type != "Const":
        return None
    value = np.asarray(t.op.get_attr("value"))
    return int(value.reshape(())) if value.size == 1 else None


class _History:
    """How the history loop saves one loop variable's value in each iteration, and how the
    backward loop reads iteration ``j``'s back.

    A variable whose shape invariant is fully defined, or is its very entering shape (then
    it is taken to keep the shape it enters with), is saved as rows of a stack
    ``[trips, *shape]`` and read back by a gather: fixed shapes, which the LLVM backend's
    native loops take. A variable whose invariant is less specific than its entering
    shape (TF1's way to let it change shape: ``shape_invariants``), or a tensor marked
    ``_cf_varying`` (a dynamic-size TensorArray's buffer, which may grow), is saved flat:
    ``flat`` holds every iteration's elements one after the other (row-major), ``offsets[t]``
    where iteration ``t``'s start and ``shapes[t]`` its shape; iteration ``j`` is read back
    as ``reshape(flat[offsets[j] : offsets[j] + prod(shapes[j])], shapes[j])`` (a slice with
    run-time bounds: its size is defined when it runs, so such loops run as NumPy
    segments). Total memory is the sum of the iterations' sizes, as a stack's is.

    Where the loop has a bound ``rows`` (its ``maximum_iterations``, a scalar int tensor
    the loop's inputs give), a fixed-shape variable's stack is instead zeros
    ``[rows, *shape]`` made before the loop, iteration ``i`` writing its row with a select
    on ``range(rows) == i`` (the values copied untouched, inf, NaN and -0.0 included): the
    stack keeps its shape, so the history loop runs natively too. It costs ``rows`` rows
    whatever the trip count, and a pass over them per iteration."""

    def __init__(self, v: Tensor, invariant: TensorShape, what: str, rows: Tensor | None = None) -> None:
        declared = v.shape != invariant or getattr(v, "_cf_varying", False)
        self.varying = not invariant.is_fully_defined() and declared
        self.shape = invariant if self.varying else v.shape
        if self.shape.ndims is None:
            raise NotImplementedError(f"the gradient of a while_loop needs its {what} to have a known rank")
        rank = self.shape.ndims
        if self.varying:
            self.width = 3
            self.initial = [
                layout_ops.reshape(v, [-1])[:0],
                fill_ops.zeros([0], dtype=_dt.int32),
                fill_ops.zeros([0, rank], dtype=_dt.int32),
            ]
            self.invariants = [TensorShape([None]), TensorShape([None]), TensorShape([None, rank])]
        else:
            self.width = 1
            dims = v.shape.as_list()
            self.rows = rows if rows is not None and (v.dtype.is_numeric or v.dtype == _dt.bool_) else None
            if self.rows is not None:
                n = _static_rows(self.rows)
                ext = [d if d is not None else core_ops.shape(v)[a] for a, d in enumerate(dims)]
                self.initial = [fill_ops.zeros([self.rows, *ext], dtype=v.dtype)]
                # Made outside the loop: its length is the bound's value.
                self.positions = fill_ops.range(self.rows)
                self.invariants = [TensorShape([n, *dims])]
            else:
                self.initial = [_no_rows(v)]
                self.invariants = [TensorShape([None, *dims])]

    def record(self, v: Tensor, saved: Sequence[Tensor], i: Tensor) -> list[Tensor]:
        """The saved values after one more iteration ``i`` whose variable is ``v``."""
        if not self.varying:
            if self.rows is None:
                return [_stack_append(saved[0], v)]
            hit = compare_ops.equal(self.positions, i)
            hit = layout_ops.reshape(hit, [-1] + [1] * (self.shape.ndims or 0))
            return [math_ops.where_v2(hit, layout_ops.expand_dims(v, 0), saved[0])]
        flat, offsets, shapes = saved
        start = layout_ops.reshape(core_ops.size(flat), [1])
        return [
            concat_ops.concat([flat, layout_ops.reshape(v, [-1])], 0),
            concat_ops.concat([offsets, start], 0),
            concat_ops.concat([shapes, layout_ops.expand_dims(core_ops.shape(v), 0)], 0),
        ]

    def recall(self, saved: Sequence[Tensor], j: Tensor) -> Tensor:
        """The variable's value in iteration ``j``."""
        if not self.varying:
            return _elem(saved[0], j)
        flat, offsets, shapes = saved
        shape = _elem(shapes, j)
        count = reduction_ops.reduce_prod(shape)
        piece = dynamic_shape_ops.slice(
            flat, layout_ops.reshape(_elem(offsets, j), [1]), layout_ops.reshape(count, [1])
        )
        dims = self.shape.as_list()
        open_axes = [a for a, d in enumerate(dims) if d is None]
        target: list[Any] = []
        for a, d in enumerate(dims):
            if d is not None:
                target.append(d)
            elif len(open_axes) == 1:
                target.append(-1)  # the one open dim follows from the element count
            else:
                target.append(_elem(shape, constant(a, dtype=_dt.int32)))
        return layout_ops.reshape(piece, target)
