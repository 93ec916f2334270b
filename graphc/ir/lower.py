"""Lowering: the part of a frontend graph that a run needs -> an ir.Program.

What a run computes is a pure function of (feeds, variable values): variables
become inputs, and each variable's last assignment in the run becomes an
output. An op that reads a variable sees the value of the latest assignment to
it that the op depends on (through data or control edges); with none, the value
from the start of the run. Dims a placeholder leaves as None become symbols, so
the same program serves every batch size.
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
from graphc.symbolic import Dim

_STATE_OPS = {"Assign", "AssignAdd", "AssignSub"}
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
        self.assigns_of: dict[int, list[Operation]] = {}
        out: dict[int, set[int]] = {}
        for op in order:
            if op.type in _STATE_OPS:
                self.assigns_of.setdefault(op.inputs[0].op._id, []).append(op)
                seen: set[int] = set()
                stack = list(forward.get(op._id, []))
                while stack:
                    k = stack.pop()
                    if k not in seen:
                        seen.add(k)
                        stack.extend(forward.get(k, []))
                out[op._id] = seen
        return out

    def _latest(self, assigns: list[Operation], var: Operation, reader: Operation | None) -> Operation | None:
        """The assignment every other one in ``assigns`` precedes; error if they are unordered."""
        if not assigns:
            return None
        for cand in assigns:
            if all(a is cand or cand._id in self.descendants[a._id] for a in assigns):
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
                return self.values[id(latest.outputs[0])]
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
            self.values[id(op.outputs[0])] = self.assigned_value(op, self.value_of(op.inputs[1], op))
            return
        inputs = [self.value_of(t, op) for t in op.inputs]
        if op.type in _STATE_OPS:
            self.lower_assign(op, inputs, origin)
            return
        if op.type == "PlaceholderWithDefault":
            self.values[id(op.outputs[0])] = inputs[0]
            return
        attrs = dict(op.attrs)
        if reg.get(op.type).has("random"):
            counter = Value(_uint64(), ())
            self.params.append(Param(counter, "rng", op.name))
            self.rng_ops.append(op)
            inputs = [*inputs, counter]
        outs = self.make_node(op.type, inputs, attrs, origin, n_frontend_inputs=len(op.inputs))
        for t, v in zip(op.outputs, outs):
            if id(t) not in self.fed_ids:
                self.values[id(t)] = v

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
        self.values[id(op.outputs[0])] = new

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
        update_vars: list[Operation] = []
        for assigns in self.assigns_of.values():
            var = assigns[0].inputs[0].op
            last = self._latest(assigns, var, None)
            assert last is not None
            outputs.append(Output(self.values[id(last.outputs[0])], "update", var.name))
            update_vars.append(var)
        for v in self.values_all():
            v.shape = tuple(self.dims.resolve(d) for d in v.shape)
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


def _uint64() -> Any:
    return _dt.uint64
