"""Lowering: the part of a frontend graph that a run needs -> an ir.Program.

What a run computes is a pure function of (feeds, variable values): variables
become inputs, and each variable's last assignment in the run becomes an
output. An op that reads a variable sees the value of the latest assignment to
it that the op depends on (through data or control edges); with none, the value
from the start of the run. An If or While whose bodies assign a variable is an
assignment of it (its sub-programs carry the variable, and the same rule holds inside
each body: :meth:`_Lowering.lower_control_flow`). Dims a placeholder leaves as None
become symbols, so the same program serves every batch size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import errors
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.frontend.graph import Graph, Operation, Tensor
from graphc.ir.program import (
    Assertion,
    DefinedDim,
    DimBinding,
    Node,
    Origin,
    Output,
    Param,
    Program,
    Value,
    canonicalize,
)
from graphc.ops import control_flow_ops as cf_ops
from graphc.symbolic import Dim

_STATE_OPS = {"Assign", "AssignAdd", "AssignSub"}
_CONTROL_FLOW_OPS = {"If", "While"}
# A fed integer vector up to this length gets a symbol per element (see feed_param).
_MAX_VALUE_SYMBOLS = 8


class LoweringDims(reg.DimEnv):
    """Dims unify: requiring two symbols to be equal makes them one symbol.

    Symbols are named by where their value comes from: ``N``/``V`` from a fed array's or
    a variable's shape, ``K`` from a fed integer's value, ``D`` from data (a shape rule
    that cannot tell the size before the run: the node that makes the value defines
    it). An equality that unification cannot express (``N0 + N1 == N2 + N3``) is kept
    as an assertion that the session checks at the program's entry.
    """

    def __init__(self) -> None:
        self.subst: dict[str, Dim] = {}
        self._n = 0
        self.assertions: list[tuple[Dim, Dim, Origin | None]] = []
        self.origin: Origin | None = None  # the op whose rules are running
        self.why: dict[str, Origin] = {}  # symbol -> the op that tied it to another dim
        self.fresh_names: list[str] = []  # the data symbols, in order of creation

    def new_symbol(self, prefix: str = "N") -> Dim:
        name = f"{prefix}{self._n}"
        self._n += 1
        return sym.symbol(name, signed=prefix == "K")

    def fresh(self, hint: str = "d") -> Dim:
        d = self.new_symbol("D")
        self.fresh_names.append(sym.as_symbol(d))  # type: ignore[arg-type]
        return d

    def resolve(self, d: Dim) -> Dim:
        for _ in range(64):
            new = sym.substitute(d, self.subst)
            if new == d:
                return new
            d = new
        return d

    def equal(self, a: Dim, b: Dim) -> Dim:
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return a
        if isinstance(a, int) and isinstance(b, int):
            raise reg.ShapeError(f"{a} != {b}")
        for x, y in ((a, b), (b, a)):
            name = sym.as_symbol(x)
            if name is not None and name not in sym.free_symbols(y):
                self.subst[name] = y
                if self.origin is not None:
                    self.why[name] = self.origin
                return y
        self.assertions.append((a, b, self.origin))
        return a


@dataclasses.dataclass
class Lowered:
    """A program and how its inputs and outputs map to the frontend graph."""

    program: Program
    feeds: list[Tensor]  # param i (kind feed) <- this tensor's fed value
    variables: list[Operation]  # VariableV2 ops, for params of kind variable
    rng_ops: list[Operation]  # random ops, for params of kind rng
    fetch_index: list[int | None]  # per fetch target: index into program.fetches, None for ops
    update_vars: list[Operation]  # per program.updates entry


def lower(
    graph: Graph,
    targets: Sequence[Tensor | Operation],
    feeds: dict[Tensor, tuple[Any, tuple[int, ...]]],
) -> Lowered:
    """Lower what ``targets`` need. ``feeds`` maps fed tensors to (dtype, fed shape)."""
    return _Lowering(graph, targets, feeds).run()


class _Lowering:
    def __init__(self, graph: Graph, targets: Sequence[Tensor | Operation], feeds: dict[Tensor, Any]):
        self.graph = graph
        self.targets = list(targets)
        self.feeds = feeds
        self.fed_ids = {id(t) for t in feeds}
        self.dims = LoweringDims()
        self.params: list[Param] = []
        self.feed_tensors: list[Tensor] = []
        self.var_ops: list[Operation] = []
        self.rng_ops: list[Operation] = []
        self.values: dict[int, Value] = {}  # id(frontend tensor) -> Value
        self.pvalues: dict[int, Any] = {}  # id(Value) -> partial value
        self.var_params: dict[int, Value] = {}  # id(var op) -> param value
        self.nodes: list[Node] = []
        self.original_dims: list[tuple[int, int, Dim]] = []
        self.value_dims: list[tuple[int, int, Dim]] = []  # (param, flat index, symbol)
        self.defined: list[tuple[Value, int, Dim]] = []  # data-dependent output dims
        self.device = ""  # the device of the op being lowered
        # Control-flow nodes whose sub-programs are made in finish(), once every dim is final.
        self.pending_regions: list[tuple[Node, list[_PendingBody]]] = []
        self.rng_params: dict[int, Value] = {}  # random op id -> its run counter param
        # Inside a body being lowered: random op id -> the counter param threaded into it
        # (None at the top level, where counters are the program's rng params).
        self.body_rng: dict[int, Value] | None = None
        self._randoms_memo: dict[int, list[Operation]] = {}
        self._host_memo: dict[int, bool] = {}
        # (assignment op id, variable op id) -> the variable's value after that assignment
        # (an Assign/AssignAdd/AssignSub, or an If/While whose bodies assign the variable).
        self.assigned: dict[tuple[int, int], Value] = {}
        # id(If/While node) -> (node, its host token output): the node runs host ops.
        self.cf_tokens: dict[int, tuple[Node, Value]] = {}
        # The ordering rules inside the body being lowered (None at the top level).
        self.scope: _Scope | None = None

    # -- which ops run --------------------------------------------------------------
    def needed_ops(self) -> dict[int, Operation]:
        needed: dict[int, Operation] = {}
        stack: list[Operation] = []
        for t in self.targets:
            if isinstance(t, Tensor):
                if id(t) not in self.fed_ids:
                    stack.append(t.op)
            else:
                stack.append(t)
        while stack:
            op = stack.pop()
            if op._id in needed:
                continue
            needed[op._id] = op
            for t in op.inputs:
                if id(t) not in self.fed_ids:
                    stack.append(t.op)
            stack.extend(op.control_inputs)
        return needed

    def run(self) -> Lowered:
        needed = self.needed_ops()
        order = [needed[k] for k in sorted(needed)]
        self.descendants = self._assign_descendants(order, needed)
        for op in order:
            self.lower_op(op)
        return self.finish(order)

    def _assign_descendants(
        self, order: list[Operation], needed: dict[int, Operation]
    ) -> dict[int, set[int]]:
        """For each assignment op: the ids of needed ops that depend on it."""
        forward: dict[int, list[int]] = {}
        for op in order:
            preds = {t.op._id for t in op.inputs if id(t) not in self.fed_ids} | {
                c._id for c in op.control_inputs
            }
            for p in preds:
                forward.setdefault(p, []).append(op._id)
        self.assigns_of, out = _assignments(order, forward)
        return out

    def _latest(
        self,
        assigns: list[Operation],
        var: Operation,
        reader: Operation | None,
        descendants: dict[int, set[int]] | None = None,
    ) -> Operation | None:
        """The assignment every other one in ``assigns`` precedes; error if they are unordered."""
        if not assigns:
            return None
        desc = self.descendants if descendants is None else descendants
        for cand in assigns:
            if all(a is cand or cand._id in desc[a._id] for a in assigns):
                return cand
        names = ", ".join(f"{a.name!r} (at {a.location})" for a in assigns)
        where = f" as read by {reader.name!r}" if reader is not None else ""
        raise errors.InvalidArgumentError(
            None,
            var,
            f"Variable {var.name!r} is assigned by {names} in one run with no order between "
            f"them{where}; add a control dependency to order them",
        )

    # -- values ---------------------------------------------------------------------
    def feed_param(self, t: Tensor) -> Value:
        dtype, fed_shape = self.feeds[t]
        static = t.shape.as_tuple()
        if static is None:
            static = (None,) * len(fed_shape)
        shape: list[Dim] = []
        pidx = len(self.params)
        for axis, d in enumerate(static):
            if d is None:
                s = self.dims.new_symbol("N")
                shape.append(s)
                self.original_dims.append((pidx, axis, s))
            else:
                shape.append(d)
        v = Value(t.dtype, tuple(shape))
        self.params.append(Param(v, "feed", t.name))
        self.feed_tensors.append(t)
        self.values[id(t)] = v
        if t.dtype.is_integer and (
            not shape or (len(shape) == 1 and isinstance(shape[0], int) and shape[0] <= _MAX_VALUE_SYMBOLS)
        ):
            # A fed integer scalar (or short vector) may be used as a size: tf.range(n),
            # tf.tile(x, [k]). Its elements become symbols bound from the fed value at entry,
            # so such sizes are checked before the run and a new value never recompiles.
            n = 1 if not shape else shape[0]
            elems = []
            for i in range(n):
                k = self.dims.new_symbol("K")
                elems.append(k)
                self.value_dims.append((pidx, i, k))
            self.pvalues[id(v)] = np.array(elems, dtype=object).reshape(tuple(shape))
        return v

    def var_value(self, var: Operation) -> Value:
        if var._id not in self.var_params:
            shape: list[Dim] = []
            pidx = len(self.params)
            for axis, d in enumerate(var.attrs["shape"] or ()):
                if d is None:
                    s = self.dims.new_symbol("V")
                    shape.append(s)
                    self.original_dims.append((pidx, axis, s))
                else:
                    shape.append(d)
            v = Value(var.attrs["dtype"], tuple(shape))
            self.params.append(Param(v, "variable", var.name))
            self.var_ops.append(var)
            self.var_params[var._id] = v
        return self.var_params[var._id]

    def value_of(self, t: Tensor, reader: Operation | None) -> Value:
        """The IR value the frontend tensor ``t`` has for the op ``reader``."""
        if id(t) in self.fed_ids:
            if id(t) not in self.values:
                self.feed_param(t)
            return self.values[id(t)]
        op = t.op
        if op.type == "VariableV2":
            visible = [
                a
                for a in self.assigns_of.get(op._id, [])
                if reader is not None and reader._id in self.descendants[a._id]
            ]
            if reader is not None and op._id in self.graph._initial_value_readers.get(reader._id, ()):
                # An initial value reading another variable sees that variable's
                # initializer when this run runs it too (TF1 orders them).
                init = self.graph._variable_initializers.get(op._id)
                if init is not None and init in self.assigns_of.get(op._id, []) and init not in visible:
                    visible.append(init)
            latest = self._latest(visible, op, reader)
            if latest is not None:
                return self.assigned[(latest._id, op._id)]
            return self.var_value(op)
        if op.type == "Placeholder":
            shape = t.shape
            raise errors.InvalidArgumentError(
                None,
                op,
                f"You must feed a value for placeholder tensor '{t.name}' with dtype "
                f"{t.dtype.name} and shape {shape}",
            )
        try:
            return self.values[id(t)]
        except KeyError:
            raise errors.InternalError(None, op, f"tensor {t.name} was not lowered") from None

    # -- ops --------------------------------------------------------------------------
    def lower_op(self, op: Operation) -> None:
        if op.type in ("NoOp", "Placeholder", "VariableV2"):
            return
        if all(id(t) in self.fed_ids for t in op.outputs) and op.outputs:
            return
        origin = Origin(op.name, op.type, str(op.location))
        self.device = op.device
        if op.type == "Assign":
            # A plain assignment does not read the variable: it may be uninitialized.
            val = self.assigned_value(op, self.value_of(op.inputs[1], op))
            self.values[id(op.outputs[0])] = self.assigned[(op._id, op.inputs[0].op._id)] = val
            return
        inputs = [self.value_of(t, op) for t in op.inputs]
        if op.type in _STATE_OPS:
            self.lower_assign(op, inputs, origin)
            return
        if op.type == "PlaceholderWithDefault":
            self.values[id(op.outputs[0])] = inputs[0]
            return
        if op.type in _CONTROL_FLOW_OPS:
            outs = self.lower_control_flow(op, inputs, origin)
            for t, v in zip(op.outputs, outs):
                if id(t) not in self.fed_ids:
                    self.values[id(t)] = v
            return
        attrs = dict(op.attrs)
        if reg.get(op.type).has("random"):
            inputs = [*inputs, self.counter_value(op)]
        outs = self.make_node(op.type, inputs, attrs, origin, n_frontend_inputs=len(op.inputs))
        for t, v in zip(op.outputs, outs):
            if id(t) not in self.fed_ids:
                self.values[id(t)] = v

    def counter_value(self, op: Operation) -> Value:
        """The run counter of the random op ``op`` where it is being lowered: at the top
        level its rng param (one per op, however many sub-programs run it: a gradient
        that recomputes a branch or an iteration draws the forward's numbers again),
        inside a body the param that carries it in."""
        if self.body_rng is not None:
            try:
                return self.body_rng[op._id]
            except KeyError:
                raise errors.InternalError(
                    None, op, f"the run counter of {op.name} was not threaded into its control-flow body"
                ) from None
        if op._id not in self.rng_params:
            counter = Value(_uint64(), ())
            self.params.append(Param(counter, "rng", op.name))
            self.rng_ops.append(op)
            self.rng_params[op._id] = counter
        return self.rng_params[op._id]

    def randoms_in(self, op: Operation) -> list[Operation]:
        """The random ops an If or While op runs, in its bodies and the bodies of control
        flow nested in them, by op id: their counters become extra captures."""
        if op._id not in self._randoms_memo:
            found: dict[int, Operation] = {}
            for b in cf_ops.control_flow_of(op).bodies:
                for o in cf_ops.body_ops(b):
                    if o.type in _CONTROL_FLOW_OPS:
                        found.update((r._id, r) for r in self.randoms_in(o))
                    elif reg.get(o.type).has("random"):
                        found[o._id] = o
            self._randoms_memo[op._id] = [found[k] for k in sorted(found)]
        return self._randoms_memo[op._id]

    def assigned_value(self, op: Operation, val: Value) -> Value:
        var = op.inputs[0].op
        static = var.attrs["shape"]
        if op.attrs.get("validate_shape", True) and static is not None:
            if len(static) != len(val.shape):
                raise errors.InvalidArgumentError(
                    None, op, f"Assign: value of rank {len(val.shape)} for a variable of shape {static}"
                )
            for a, b in zip(static, val.shape):
                if a is not None:
                    self.dims.equal(a, b)
        return val

    def lower_assign(self, op: Operation, inputs: list[Value], origin: Origin) -> None:
        ref, val = inputs
        (new,) = self.make_node("Add" if op.type == "AssignAdd" else "Sub", [ref, val], {}, origin)
        self.values[id(op.outputs[0])] = self.assigned[(op._id, op.inputs[0].op._id)] = new

    def make_node(
        self,
        op_type: str,
        inputs: list[Value],
        attrs: dict[str, Any],
        origin: Origin,
        n_frontend_inputs: int | None = None,
    ) -> list[Value]:
        opdef = reg.get(op_type)
        self.dims.origin = origin
        n_fresh = len(self.dims.fresh_names)
        n = len(inputs) if n_frontend_inputs is None else n_frontend_inputs
        ctx = reg.InferenceContext(
            op_type,
            [tuple(self.dims.resolve(d) for d in v.shape) for v in inputs[:n]],
            [v.dtype for v in inputs[:n]],
            [self.pvalues.get(id(v)) for v in inputs[:n]],
            attrs,
            self.dims,
        )
        try:
            dtypes = opdef.dtype(ctx)
            shapes = opdef.shape(ctx)
            pvals = opdef.value(ctx) if opdef.value is not None else None
        except (reg.ShapeError, ValueError, TypeError) as exc:
            raise errors.InvalidArgumentError(None, origin, f"{op_type}: {exc}") from None
        node = Node(op_type, list(inputs), attrs, [], origin, self.device)
        made_here = set(self.dims.fresh_names[n_fresh:])
        for i, (dt, shp) in enumerate(zip(dtypes, shapes)):
            if shp is None:
                raise errors.UnimplementedError(
                    None, origin, f"{op_type}: the rank of output {i} cannot be determined before the run"
                )
            v = Value(dt, tuple(shp), node, i)
            node.outputs.append(v)
            for axis, d in enumerate(shp):
                if sym.free_symbols(d) & made_here:
                    self.defined.append((v, axis, d))
            if pvals is not None and pvals[i] is not None:
                self.pvalues[id(v)] = pvals[i]
        self.nodes.append(node)
        return node.outputs

    # -- control flow (graphc.ops.control_flow_ops) ----------------------------------------
    def lower_control_flow(self, op: Operation, inputs: list[Value], origin: Origin) -> list[Value]:
        """An If or While frontend op: its bodies become sub-programs (made final in
        :meth:`finish_regions`), its captures explicit inputs; returns the values of the
        frontend op's outputs. A cond whose predicate is a constant is replaced by its
        taken branch, lowered in place.

        State. Each variable the bodies assign is carried through the node: an If's
        branches return its value after the branch (its captured value where the branch
        does not assign it) as extra results after the frontend's; a While carries it as
        an extra loop variable after the frontend's (taken out of the captures), so each
        iteration sees the previous one's value. The node's extra outputs are the values
        after it: for the ordering rules the frontend op is an assignment of each
        variable (``self.assigned``). A node that runs host ops (a print, an assertion,
        a py_func, reached only by control dependencies perhaps) has one more output
        last, its host token (the AND of its regions' host ops' tokens; a While carries
        it as a loop variable), fetched like a host op's so nothing keeps it from
        running."""
        cf = cf_ops.control_flow_of(op)
        state = list(cf.assigns)
        host = self.has_host(op)
        if cf.kind == "If":
            caps = cf.bodies[0].captures
            n_out = len(cf.bodies[0].outputs)
            pred = inputs[0].producer
            if pred is not None and pred.op == "Const" and pred.attrs["value"].size == 1:
                taken = cf.bodies[0] if bool(pred.attrs["value"].reshape(())) else cf.bodies[1]
                values = {id(t): v for t, v in zip(caps, inputs[1:])}
                outs, finals = self.lower_in_scope(taken, values, state)
                self.record_state(op, state, finals)
                return outs
            randoms = self.randoms_in(op)
            inputs = [*inputs, *(self.counter_value(r) for r in randoms)]
            types = [(v.dtype, v.shape) for v in inputs[1:]]
            keys: list[Tensor | None] = list(caps)
            subs = [self.lower_body(b, keys, types, randoms, state, host, "branch") for b in cf.bodies]
            shapes = []
            for k, (x, y) in enumerate(zip(subs[0].outputs, subs[1].outputs)):
                a = [self.dims.resolve(d) for d in x.shape]
                b = [self.dims.resolve(d) for d in y.shape]
                if len(a) != len(b):
                    raise errors.UnimplementedError(
                        None,
                        origin,
                        f"tf.cond: result {k} has rank {len(a)} in one branch, {len(b)} in the other",
                    )
                shapes.append(tuple(d if d == e else None for d, e in zip(a, b)))
            dtypes = tuple(v.dtype for v in subs[0].outputs)
            outs = self.cf_node("If", inputs, dtypes, tuple(shapes), subs, origin)
            self.record_state(op, state, outs[n_out : n_out + len(state)])
            if host:
                self.cf_tokens[id(outs[-1].producer)] = (outs[-1].producer, outs[-1])
            return outs[:n_out]
        n = cf.n_vars
        cond_b, body_b = cf.bodies
        caps = body_b.captures
        position = {id(t): k for k, t in enumerate(caps)}
        carried = [inputs[n + position[id(var.outputs[0])]] for var in state]
        if host:
            (token0,) = self.make_node("Const", [], {"value": np.array(True), "dtype": _dt.bool_}, origin)
            carried.append(token0)
        state_keys: list[Tensor | None] = [var.outputs[0] for var in state] + ([None] if host else [])
        held = {id(t) for t in state_keys if t is not None}
        others = [(t, v) for t, v in zip(caps, inputs[n:]) if id(t) not in held]
        m = n + len(carried)  # the node's loop variables: the frontend's, the state, the token
        randoms = self.randoms_in(op)
        inputs = [*inputs[:n], *carried, *(v for _, v in others), *(self.counter_value(r) for r in randoms)]
        varying = {
            (k, axis)
            for k, shp in enumerate(op.attrs["shapes"])
            for axis, d in enumerate(shp)
            if d is None and isinstance(inputs[k].shape[axis], int)
        }
        # A dim the shape invariant fixes (the frontend refused a body whose static shape
        # contradicts it) never varies: where the body's result has another dim (one only
        # its data tells), that dim is checked against it in each iteration.
        fixed = {
            (k, axis)
            for k, shp in enumerate(op.attrs["shapes"][:n])
            if shp is not None
            for axis, d in enumerate(shp)
            if d is not None
        }
        # A loop-carried dim is assumed to stay what it enters with; where the body gives
        # another one it becomes a symbol of the body (bound from its argument each
        # iteration) and a dim the While defines: lower again with that symbol.
        for _ in range(1 + sum(len(v.shape) for v in inputs[:n])):
            snap = self._snapshot()
            types: list[tuple[Any, tuple[Dim, ...]]] = []
            for k, v in enumerate(inputs):
                if k < n:
                    shape = tuple(
                        self.dims.new_symbol("L") if (k, axis) in varying else d
                        for axis, d in enumerate(v.shape)
                    )
                else:
                    shape = v.shape
                types.append((v.dtype, shape))
            subs = [
                self.lower_body(
                    b, [*b.args, *state_keys, *(t for t, _ in others)], types, randoms, state, host, role
                )
                for b, role in ((cond_b, "cond"), (body_b, "body"))
            ]
            changed = {
                (k, axis)
                for k, out in enumerate(subs[1].outputs[:n])
                for axis, d in enumerate(out.shape)
                if (k, axis) not in varying | fixed
                and self.dims.resolve(d) != self.dims.resolve(types[k][1][axis])
            }
            if not changed:
                break
            varying |= changed
            self._restore(snap)
        for k, out in enumerate(subs[1].outputs[:n]):
            for axis, d in enumerate(out.shape):
                want = types[k][1][axis]
                if (k, axis) in fixed and self.dims.resolve(d) != self.dims.resolve(want):
                    loop = getattr(op, "_cf_gradient_of", None) or op  # a gradient's re-run: the user's loop
                    where = Origin(f"{loop.name}, loop variable {op.inputs[k].name}", op.type, str(loop.location))
                    subs[1].assertions.append((d, want, where))
        for var, out, (_, shape) in zip(state, subs[1].outputs[n:], types[n:]):
            if [self.dims.resolve(d) for d in out.shape] != [self.dims.resolve(d) for d in shape]:
                raise errors.UnimplementedError(
                    None, origin, f"tf.while_loop: variable {var.name!r} changes shape in the loop's body"
                )
        shapes = tuple(
            tuple(None if (k, axis) in varying else d for axis, d in enumerate(inputs[k].shape))
            for k in range(m)
        )
        dtypes = tuple(v.dtype for v in inputs[:m])
        outs = self.cf_node("While", inputs, dtypes, shapes, subs, origin)
        self.record_state(op, state, outs[n : n + len(state)])
        if host:
            self.cf_tokens[id(outs[m - 1].producer)] = (outs[m - 1].producer, outs[m - 1])
        return outs[:n]

    def record_state(self, op: Operation, state: Sequence[Operation], values: Sequence[Value]) -> None:
        """The If/While ``op`` assigns each variable of ``state`` the value in ``values``."""
        for var, v in zip(state, values):
            self.assigned[(op._id, var._id)] = v

    def has_host(self, op: Operation) -> bool:
        """Whether the If or While ``op`` runs a host op (in its bodies or nested control flow)."""
        if op._id not in self._host_memo:
            found = False
            for b in cf_ops.control_flow_of(op).bodies:
                for o in cf_ops.body_ops(b):
                    if o.type in _CONTROL_FLOW_OPS:
                        found = found or self.has_host(o)
                    elif reg.get(o.type).has("host"):
                        found = True
            self._host_memo[op._id] = found
        return self._host_memo[op._id]

    def host_tokens(self, nodes: Sequence[Node]) -> list[tuple[Node, Value]]:
        """The host tokens of ``nodes``: each host op's last output, and the token output of
        each If/While that runs host ops."""
        out = []
        for node in nodes:
            if reg.get(node.op).has("host"):
                out.append((node, node.outputs[-1]))
            else:
                entry = self.cf_tokens.get(id(node))
                if entry is not None and entry[0] is node:
                    out.append((node, entry[1]))
        return out

    def cf_node(
        self,
        op_type: str,
        inputs: list[Value],
        dtypes: tuple[Any, ...],
        shapes: tuple[tuple[Dim | None, ...], ...],
        subs: list[_PendingBody],
        origin: Origin,
    ) -> list[Value]:
        outs = self.make_node(op_type, inputs, {"dtypes": dtypes, "shapes": shapes}, origin)
        node = outs[0].producer if outs else self.nodes[-1]
        assert node is not None
        self.pending_regions.append((node, subs))
        return outs

    def _snapshot(self) -> tuple[Any, ...]:
        d = self.dims
        return (
            dict(d.subst),
            dict(d.why),
            list(d.assertions),
            list(d.fresh_names),
            len(self.defined),
            len(self.pending_regions),
        )

    def _restore(self, snap: tuple[Any, ...]) -> None:
        d = self.dims
        d.subst, d.why, d.assertions, d.fresh_names = snap[0], snap[1], snap[2], snap[3]
        del self.defined[snap[4] :]
        del self.pending_regions[snap[5] :]

    def lower_body(
        self,
        body: cf_ops.Body,
        keys: Sequence[Tensor | None],
        types: list[tuple[Any, tuple[Dim, ...]]],
        randoms: Sequence[Operation] = (),
        state: Sequence[Operation] = (),
        host: bool = False,
        role: str = "branch",
    ) -> _PendingBody:
        """``body`` as a sub-program: a param for each of ``keys`` (the frontend tensors it
        stands for: args, carried variables, captures; None for a While's carried host
        token), then the run counters of ``randoms`` (of ``types``), its ops lowered in
        their own node list and value map. Its results: the body's outputs, then (a
        branch, a loop's body) each variable of ``state`` as the body leaves it, then
        with ``host`` the host token (a loop's cond ANDs it into its result instead)."""
        params: list[Param] = []
        values: dict[int, Value] = {}
        token_in: Value | None = None
        for k, (t, (dtype, shape)) in enumerate(zip(keys, types)):
            v = Value(dtype, shape)
            params.append(Param(v, "feed", f"arg{k}"))
            if t is None:
                token_in = v
            else:
                values[id(t)] = v
        rng: dict[int, Value] = {}
        for k, (r, (dtype, shape)) in enumerate(zip(randoms, types[len(keys) :]), start=len(keys)):
            v = Value(dtype, shape)
            params.append(Param(v, "feed", f"arg{k}"))
            rng[r._id] = v
        saved_nodes, saved_device, saved_rng = self.nodes, self.device, self.body_rng
        n_assert, n_defined = len(self.dims.assertions), len(self.defined)
        self.nodes, self.body_rng = [], rng
        try:
            outs, finals = self.lower_in_scope(body, values, state if role != "cond" else ())
            if host:
                tokens = [t for _, t in self.host_tokens(self.nodes)]
                if token_in is not None:
                    tokens.insert(0, token_in)
                where = Origin("host token", "LogicalAnd", "")
                if role == "cond":
                    if tokens:
                        outs = [self.all_of([outs[0], *tokens], where)]
                else:
                    outs = [*outs, *finals, self.all_of(tokens, where)]
            else:
                outs = [*outs, *finals]
            nodes = self.nodes
        finally:
            self.nodes, self.device, self.body_rng = saved_nodes, saved_device, saved_rng
        assertions = self.dims.assertions[n_assert:]
        del self.dims.assertions[n_assert:]
        defined = self.defined[n_defined:]
        del self.defined[n_defined:]
        return _PendingBody(params, nodes, outs, assertions, defined)

    def all_of(self, bools: Sequence[Value], origin: Origin) -> Value:
        """The AND of scalar bools (a True constant for none)."""
        if not bools:
            (t,) = self.make_node("Const", [], {"value": np.array(True), "dtype": _dt.bool_}, origin)
            return t
        acc = bools[0]
        for b in bools[1:]:
            (acc,) = self.make_node("LogicalAnd", [acc, b], {}, origin)
        return acc

    def lower_in_scope(
        self, body: cf_ops.Body, values: dict[int, Value], state: Sequence[Operation]
    ) -> tuple[list[Value], list[Value]]:
        """Lower ``body``'s ops into the current node list, ``values`` holding its params;
        returns its outputs' values and each ``state`` variable's value after it (the
        latest of the body's assignments to it, else the value it entered with). Inside,
        a read of a variable sees the latest assignment of the body that it depends on
        (through data or control), else the value the body entered with: the top
        level's rule, per body."""
        ops = cf_ops.body_ops(body)
        saved = self.scope
        self.scope = _Scope.of(body, ops)
        try:
            for o in ops:
                self.lower_body_op(o, body, values)
            outs = [self.body_value(body.substitute(t), body, values) for t in body.outputs]
            finals = [self.visible(var.outputs[0], None, body, values) for var in state]
        finally:
            self.scope = saved
        return outs, finals

    def visible(
        self, t: Tensor, reader: Operation | None, body: cf_ops.Body, values: dict[int, Value]
    ) -> Value:
        """The value of the variable ``t`` (a VariableV2 output) that ``reader`` sees inside
        ``body`` (None: at the body's end)."""
        var, scope = t.op, self.scope
        assert scope is not None
        assigns = [
            a
            for a in scope.assigns_of.get(var._id, [])
            if reader is None or reader._id in scope.descendants[a._id]
        ]
        latest = self._latest(assigns, var, reader, scope.descendants)
        if latest is not None:
            return self.assigned[(latest._id, var._id)]
        return self.body_value(t, body, values)

    def body_value(self, t: Tensor, body: cf_ops.Body, values: dict[int, Value]) -> Value:
        try:
            return values[id(t)]
        except KeyError:
            raise errors.InternalError(
                None, t.op, f"tensor {t.name} is not available inside this control-flow body"
            ) from None

    def body_input(self, t: Tensor, reader: Operation, body: cf_ops.Body, values: dict[int, Value]) -> Value:
        t = body.substitute(t)
        if t.op.type == "VariableV2":
            return self.visible(t, reader, body, values)
        return self.body_value(t, body, values)

    def lower_body_op(self, op: Operation, body: cf_ops.Body, values: dict[int, Value]) -> None:
        """One op of a body, in the body's own context (no feeds or variables: those are
        captures; assignments change the body's values of the variables, see
        :meth:`lower_in_scope`)."""
        if op.type == "NoOp":
            return
        origin = Origin(op.name, op.type, str(op.location))
        if op.type in ("Placeholder", "VariableV2", "ControlFlowArg"):
            raise errors.UnimplementedError(
                None, origin, f"{op.type} inside a tf.cond branch or tf.while_loop body is not supported"
            )
        self.device = op.device
        inputs = [self.body_input(t, op, body, values) for t in op.inputs]
        if op.type in _STATE_OPS:
            var = op.inputs[0].op
            if op.type == "Assign":
                new = self.assigned_value(op, inputs[1])
            else:
                kind = "Add" if op.type == "AssignAdd" else "Sub"
                (new,) = self.make_node(kind, inputs, {}, origin)
            values[id(op.outputs[0])] = self.assigned[(op._id, var._id)] = new
            return
        if op.type == "PlaceholderWithDefault":
            values[id(op.outputs[0])] = inputs[0]
            return
        if op.type in _CONTROL_FLOW_OPS:
            outs = self.lower_control_flow(op, inputs, origin)
        elif reg.get(op.type).has("random"):
            # Its counter here: the run's, stepped by each enclosing loop's iteration index
            # (control_flow_ops.loop_counter), outermost first.
            counter = self.counter_value(op)
            for it in cf_ops.loop_indices(op):
                index = self.body_value(body.substitute(it), body, values)
                (counter,) = self.make_node("RandomLoopCounter", [counter, index], {}, origin)
            outs = self.make_node(
                op.type, [*inputs, counter], dict(op.attrs), origin, n_frontend_inputs=len(op.inputs)
            )
        else:
            outs = self.make_node(op.type, inputs, dict(op.attrs), origin, n_frontend_inputs=len(op.inputs))
        for t, v in zip(op.outputs, outs):
            values[id(t)] = v

    def finish_regions(self) -> None:
        """Make every control-flow node's sub-programs, with final dims: each param axis
        bound (or checked) at the sub-program's entry, its own assertions and defined dims."""
        resolve = self.dims.resolve
        for node, subs in self.pending_regions:
            node.attrs["shapes"] = tuple(
                tuple(None if d is None else resolve(d) for d in shp) for shp in node.attrs["shapes"]
            )
            regions = []
            for sp in subs:
                for v in [p.value for p in sp.params] + [v for n in sp.nodes for v in n.outputs]:
                    v.shape = tuple(resolve(d) for d in v.shape)
                bindings = [
                    DimBinding(d, k, axis)
                    for k, p in enumerate(sp.params)
                    for axis, d in enumerate(p.value.shape)
                    if not isinstance(d, int)
                ]
                # Lone symbols first: bind_dims binds them, then checks expressions.
                bindings.sort(key=lambda b: sym.as_symbol(b.dim) is None)
                assertions = []
                seen: set[tuple[str, str]] = set()
                for a, b, o in sp.assertions:
                    a, b = resolve(a), resolve(b)
                    if a != b and (str(a), str(b)) not in seen:
                        seen.add((str(a), str(b)))
                        assertions.append(Assertion(a, b, o))
                defined = [DefinedDim(v, axis, resolve(d)) for v, axis, d in sp.defined]
                outputs = [Output(v, "fetch", str(i)) for i, v in enumerate(sp.outputs)]
                prog = Program(sp.params, sp.nodes, outputs, bindings, assertions, defined)
                regions.append(canonicalize(prog))
            node.regions = tuple(regions)

    # -- outputs -------------------------------------------------------------------------
    def finish(self, order: list[Operation]) -> Lowered:
        outputs: list[Output] = []
        fetch_index: list[int | None] = []
        for t in self.targets:
            if isinstance(t, Tensor):
                v = self.value_of(t, None)
                fetch_index.append(len(outputs))
                outputs.append(Output(v, "fetch", str(len(outputs))))
            else:
                fetch_index.append(None)
        # A host op (py_func, Print, Assert, ...: the "host" trait) acts outside the
        # program's values, so each one the run needs (through data or control edges) is
        # kept: its token, the last output, is fetched. Fetches come before updates.
        for node, token in self.host_tokens(self.nodes):
            outputs.append(Output(token, "fetch", f"host {node.origin.name}"))
        update_vars: list[Operation] = []
        for var_id, assigns in self.assigns_of.items():
            var = next(v for v in cf_ops.assigned_by(assigns[0]) if v._id == var_id)
            last = self._latest(assigns, var, None)
            assert last is not None
            outputs.append(Output(self.assigned[(last._id, var._id)], "update", var.name))
            update_vars.append(var)
        for v in self.values_all():
            v.shape = tuple(self.dims.resolve(d) for d in v.shape)
        self.finish_regions()
        bindings = [
            DimBinding(self.dims.resolve(d), p, axis, self._why(d)) for p, axis, d in self.original_dims
        ]
        bindings += [
            DimBinding(self.dims.resolve(d), p, i, self._why(d), "value") for p, i, d in self.value_dims
        ]
        assertions = []
        seen: set[tuple[str, str]] = set()
        for a, b, origin in self.dims.assertions:
            a, b = self.dims.resolve(a), self.dims.resolve(b)
            key = (str(a), str(b))
            if a != b and key not in seen:
                seen.add(key)
                assertions.append(Assertion(a, b, origin))
        defined = [DefinedDim(v, axis, self.dims.resolve(d)) for v, axis, d in self.defined]
        program = Program(self.params, self.nodes, outputs, bindings, assertions, defined)
        canonicalize(program)
        return Lowered(program, self.feed_tensors, self.var_ops, self.rng_ops, fetch_index, update_vars)

    def _why(self, d: Dim) -> str:
        """The op that tied the dim ``d`` to another one, as text for error messages."""
        name = sym.as_symbol(d)
        seen = set()
        while name is not None and name not in seen:
            seen.add(name)
            if name in self.dims.why:
                o = self.dims.why[name]
                return f"{o.type} op {o.name!r} at {o.location}"
            name = sym.as_symbol(self.dims.subst.get(name))
        return ""

    def values_all(self) -> list[Value]:
        out = [p.value for p in self.params]
        for n in self.nodes:
            out.extend(n.outputs)
        return out


@dataclasses.dataclass
class _PendingBody:
    """A body lowered but not yet final: its sub-program is made in finish_regions."""

    params: list[Param]
    nodes: list[Node]
    outputs: list[Value]
    assertions: list[tuple[Dim, Dim, Origin | None]]
    defined: list[tuple[Value, int, Dim]]


@dataclasses.dataclass
class _Scope:
    """The ordering rules inside one body: its assignments per variable, and for each
    assignment the body's ops that depend on it (through data or control)."""

    assigns_of: dict[int, list[Operation]]  # variable op id -> the body's assignments of it
    descendants: dict[int, set[int]]  # assignment op id -> ids of the body's ops after it

    @staticmethod
    def of(body: cf_ops.Body, ops: Sequence[Operation]) -> _Scope:
        ids = {o._id for o in ops}
        forward: dict[int, list[int]] = {}
        for o in ops:
            for p in {d._id for d in cf_ops.depends_on(body, o)} & ids:
                forward.setdefault(p, []).append(o._id)
        own = [o for o in ops if cf_ops.body_of(o) is body]
        assigns_of, descendants = _assignments(own, forward)
        return _Scope(assigns_of, descendants)


def _assignments(
    ops: Sequence[Operation], forward: dict[int, list[int]]
) -> tuple[dict[int, list[Operation]], dict[int, set[int]]]:
    """The assignments among ``ops`` per variable (an Assign/AssignAdd/AssignSub, or an
    If/While whose bodies assign it) and, for each, the ids of the ops after it
    (``forward``: op id -> the ids of the ops that use it directly)."""
    assigns_of: dict[int, list[Operation]] = {}
    descendants: dict[int, set[int]] = {}
    for op in ops:
        made = cf_ops.assigned_by(op)
        if not made:
            continue
        for var in made:
            assigns_of.setdefault(var._id, []).append(op)
        seen: set[int] = set()
        stack = list(forward.get(op._id, []))
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                stack.extend(forward.get(k, []))
        descendants[op._id] = seen
    return assigns_of, descendants


def _uint64() -> Any:
    return _dt.uint64
