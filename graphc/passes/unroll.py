"""Unroll a ``While`` whose trip count is provably a small constant.

A loop that runs at most ``MAX_TRIPS`` times, with a trip count that follows from constants
alone, is replaced by that many copies of its body, each reading the previous copy's
results; the loop's outputs become the last copy's results (the loop's inputs for a loop
that never runs). This is the rewrite the issue on control flow asks the passes for ("a
loop with a static trip count of at most a few iterations unrolled"): the later passes
then fold, merge and fuse across iterations, and no backend runs a loop for it.

The trip count is taken as proved only for the shape ``tf.while_loop`` builds for
``i < N`` with constant ``N`` (and for ``maximum_iterations``, which adds a second
counter): every argument the condition reads is either a counter, a loop variable of an
integer dtype that starts at a ``Const`` and whose body result is ``Add`` of itself and a
constant (a ``Const`` of the body, or a capture the ``While`` is given from a ``Const``),
or a capture from a ``Const``. The condition is then evaluated, by its ops' NumPy
references (their meaning; ``Fused`` included, as region optimisation may have fused
it), on the counters' values run forward in exact integers, until it is false (a counter
that would leave its dtype's range is not unrolled). Anything else leaves the loop alone,
as does a region with bindings, assertions or data-defined dims of its own, a loop whose
carried shapes are not all static, or a region with a host op (kept in one place for its
segment).

Guarantees: the program computes the same values (each body copy is the body, its
arguments renamed: captures map to the ``While``'s capture inputs); params and outputs
are unchanged; the input program is not modified (a copy is returned when anything
changes); the pass is idempotent (an unrolled loop is gone, and a loop left alone is
left alone again). Nested regions are shared by the copies, as ``copy_program`` shares
them: no pass edits one in place. Analyses in ``meta`` are dropped when the node list
changes.
"""

from __future__ import annotations

import numpy as np

from graphc import registry as reg
from graphc.ir.program import Node, Program, Value, canonicalize
from graphc.passes.rewrite import copy_program

# "At most a few iterations": beyond this the code growth outweighs a loop's overhead.
MAX_TRIPS = 4


def unroll(program: Program) -> Program:
    """Replace every ``While`` with a provable trip count <= ``MAX_TRIPS`` by its body, inlined."""
    plans = [(n, t) for n in program.nodes if n.op == "While" for t in [_trip_count(n)] if t is not None]
    if not plans:
        return program
    originals = list(program.nodes)
    program = copy_program(program)
    # copy_program keeps node order: the i-th node of the copy is the i-th of the input.
    old_nodes = list(zip(originals, program.nodes))
    targets = {id(n) for n, _ in plans}
    trips = {id(n): t for n, t in plans}
    new_nodes: list[Node] = []
    replace: dict[int, Value] = {}  # id(While output) -> its value after unrolling
    for orig, node in old_nodes:
        node.inputs = [replace.get(id(v), v) for v in node.inputs]
        if id(orig) not in targets:
            new_nodes.append(node)
            continue
        finals = _inline(node, trips[id(orig)], new_nodes)
        for out, v in zip(node.outputs, finals):
            replace[id(out)] = v
    for o in program.outputs:
        o.value = replace.get(id(o.value), o.value)
    for d in program.defined_dims:
        d.value = replace.get(id(d.value), d.value)
    program.nodes = new_nodes
    program.drop_analyses()
    return canonicalize(program)


def _inline(node: Node, trips: int, into: list[Node]) -> list[Value]:
    """Append ``trips`` copies of ``node``'s body to ``into``; return the loop's results."""
    body = node.regions[1]
    n_vars = len(node.outputs)
    state = list(node.inputs[:n_vars])
    captures = list(node.inputs[n_vars:])
    for _ in range(trips):
        env: dict[int, Value] = {}
        for p, v in zip(body.params, state + captures):
            env[id(p.value)] = v
        for bn in body.nodes:
            new = Node(
                bn.op, [env[id(v)] for v in bn.inputs], dict(bn.attrs), [], bn.origin, bn.device, bn.regions
            )
            for i, v in enumerate(bn.outputs):
                nv = Value(v.dtype, v.shape, new, i)
                env[id(v)] = nv
                new.outputs.append(nv)
            into.append(new)
        state = [env[id(o.value)] for o in body.fetches]
    return state


# -- proving the trip count --------------------------------------------------------------------
def _trip_count(node: Node) -> int | None:
    """The number of times ``node`` (a While) runs its body, when constants prove it and it is
    at most MAX_TRIPS; else None."""
    if len(node.regions) != 2:
        return None
    cond, body = node.regions
    n_vars = len(node.outputs)
    if len(body.fetches) != n_vars or len(cond.fetches) != 1 or len(body.outputs) != n_vars:
        return None
    if len(cond.params) != len(node.inputs) or len(body.params) != len(node.inputs):
        return None
    for v in node.inputs:
        if not all(isinstance(d, int) for d in v.shape):
            return None
    for region in (cond, body):
        if region.bindings or region.assertions or region.defined_dims or _has_host_op(region):
            return None
    # Every argument the condition reads must be a counter (a loop variable that starts at a
    # Const and steps by a constant) or a capture of a Const.
    env: dict[int, np.ndarray] = {}
    counters: dict[int, tuple[int, int]] = {}  # arg index -> (start, step)
    for k in _params_read(cond):
        if k >= n_vars:
            c = _const_array(node.inputs[k])
            if c is None:
                return None
            env[id(cond.params[k].value)] = c
            continue
        start = _const_int(node.inputs[k])
        step = _step(k, body, node)
        if start is None or step is None:
            return None
        counters[k] = (start, step)
    values = {k: start for k, (start, _) in counters.items()}
    for trips in range(MAX_TRIPS + 1):
        for k, value in values.items():
            env[id(cond.params[k].value)] = np.asarray(value, dtype=node.inputs[k].dtype.np)
        go = _evaluate(cond, env)
        if go is None:
            return None
        if not go:
            return trips
        for k, (_, step) in counters.items():
            values[k] += step
            info = np.iinfo(node.inputs[k].dtype.np)
            if not info.min <= values[k] <= info.max:
                return None  # the counter would wrap: not the integer sum simulated here
    return None  # it would run more than MAX_TRIPS times (or forever)


def _evaluate(cond: Program, env: dict[int, np.ndarray]) -> bool | None:
    """The condition's value given ``env`` (each argument it reads), by the ops' NumPy
    references (their meaning); None when an op cannot be evaluated here."""
    env = dict(env)
    for n in cond.nodes:
        if not all(id(v) in env for v in n.inputs):
            continue  # not on the path to the result (the result's inputs are all in env)
        try:
            opdef = reg.get(n.op)
        except KeyError:
            return None
        if n.regions or opdef.traits & {"stateful", "random", "host"}:
            return None
        try:
            with np.errstate(all="ignore"):
                results = opdef.reference([env[id(v)] for v in n.inputs], n.attrs)
        except Exception:  # noqa: BLE001  (an op that fails here is left for the run to report)
            return None
        if len(results) != len(n.outputs):
            return None
        for out, r in zip(n.outputs, results):
            env[id(out)] = np.asarray(r)
    result = env.get(id(cond.fetches[0].value))
    if result is None or result.shape != () or result.dtype != np.bool_:
        return None
    return bool(result)


def _params_read(region: Program) -> list[int]:
    """The indices of the params ``region``'s results depend on."""
    index = {id(p.value): i for i, p in enumerate(region.params)}
    seen: set[int] = set()
    found: set[int] = set()
    stack = [o.value for o in region.outputs]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.producer is None:
            if id(v) in index:
                found.add(index[id(v)])
        else:
            stack.extend(v.producer.inputs)
    return sorted(found)


def _has_host_op(region: Program) -> bool:
    for n in region.nodes:
        if n.regions and any(_has_host_op(r) for r in n.regions):
            return True
        try:
            if reg.get(n.op).has("host"):
                return True
        except KeyError:
            return True  # an op unknown here: leave the loop alone
    return False


def _step(k: int, body: Program, node: Node) -> int | None:
    """``c`` when the body's result ``k`` is ``arg_k + c`` with a constant ``c``."""
    v = body.fetches[k].value
    n = v.producer
    if n is None or n.op != "Add" or len(n.inputs) != 2 or v.shape != ():
        return None
    a, b = n.inputs
    if _param_index(a, body) == k:
        return _region_const(b, body, node)
    if _param_index(b, body) == k:
        return _region_const(a, body, node)
    return None


def _param_index(v: Value, region: Program) -> int | None:
    if v.producer is not None:
        return None
    for i, p in enumerate(region.params):
        if p.value is v:
            return i
    return None


def _region_const(v: Value, region: Program, node: Node) -> int | None:
    """The integer scalar ``v`` is: a Const of the region, or a capture from a Const."""
    if v.producer is not None:
        return _const_int(v)
    i = _param_index(v, region)
    if i is None or i < len(node.outputs):
        return None  # a loop variable: changes per iteration
    return _const_int(node.inputs[i])


def _const_array(v: Value) -> np.ndarray | None:
    n = v.producer
    if n is None or n.op != "Const":
        return None
    return np.asarray(n.attrs["value"])


def _const_int(v: Value) -> int | None:
    c = _const_array(v)
    if c is None or c.shape != () or not v.dtype.is_integer:
        return None
    return int(c)
