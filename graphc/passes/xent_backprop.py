"""Reuse a softmax cross-entropy's backprop output for the gradient that rebuilds it.

The gradient rules of ``SoftmaxCrossEntropyWithLogits`` and
``SparseSoftmaxCrossEntropyWithLogits`` (``graphc/ops/softmax_ops.py``) rebuild
``softmax(logits) - labels`` from a fresh ``Softmax`` node, so that the gradient is
itself differentiable (``tf.hessians`` of a cross-entropy). Once the program is lowered,
autodiff is over: nothing differentiates the program any more, and that ``Sub`` computes
exactly the op's second output, ``backprop``, which TF1 defines as
``softmax(logits) - labels`` (dense) or ``softmax(logits) - one_hot(labels)`` (sparse),
and which a backend computes in the same pass over the logits as the loss.

Rewrites (``X`` an op already in the program, ``Softmax`` over the last axis of rank-2
logits; patterns look through Identity/StopGradient/CustomGradient):

- ``Sub(Softmax(z), y)`` -> ``X.backprop`` for ``X = SoftmaxCrossEntropyWithLogits(z, y)``
- ``Sub(Softmax(z), OneHot(ids, depth=classes, on_value=1, off_value=0, axis=-1 or 1,
  dtype=z's dtype))`` -> ``X.backprop`` for ``X = SparseSoftmaxCrossEntropyWithLogits(z, ids)``
- the commuted ``Sub(y, Softmax(z))`` (and its one-hot form) -> ``Neg(X.backprop)``

The ``Softmax`` then has no reader left in the common case and goes with the dead nodes;
one that something else reads stays.

Guarantees: the returned program has the same params, outputs, dtypes and shapes as its
input, and computes the same values up to rounding. The op's reference computes backprop
as ``exp(log_softmax(z)) - labels`` where the Softmax reference computes
``e / sum(e)``; the two agree to a few units in the last place of each probability
(relative error about ``|log p| * eps``), so the rewritten gradient matches the original
within 1e-6 relative for float32 and 1e-12 for float64 (measured against the largest
element of a row: an element that is a near-cancelling ``p - y`` is compared in absolute
terms). A sparse op raises on a label outside ``[0, classes)`` where OneHot gives a row of
zeros; the rewrite only uses an op that the program already runs (dead nodes are dropped
first), so it changes no error. No ``Sub`` that the pass makes matches again, so the pass is
idempotent.
"""

from __future__ import annotations

from graphc.ir.program import Node, Program, Value, canonicalize
from graphc.passes.rewrite import copy_program, look_through

_DENSE = "SoftmaxCrossEntropyWithLogits"
_SPARSE = "SparseSoftmaxCrossEntropyWithLogits"


def xent_backprop(program: Program) -> Program:
    """Replace ``softmax(z) - labels`` by the backprop output of the cross-entropy op on
    the same ``z`` and ``labels`` (see the module docstring)."""
    program = canonicalize(copy_program(program))  # only ops the program runs may be reused
    # (kind, id(logits), id(labels)) -> the op; "dense" labels are the labels value,
    # "sparse" ones the class ids.
    xents: dict[tuple[str, int, int], Node] = {}
    for node in program.nodes:
        if node.op in (_DENSE, _SPARSE):
            kind = "dense" if node.op == _DENSE else "sparse"
            z, y = (look_through(v) for v in node.inputs)
            xents.setdefault((kind, id(z), id(y)), node)
    if not xents:
        return program
    subst: dict[int, Value] = {}
    new_nodes: list[Node] = []
    for node in program.nodes:
        node.inputs = [subst.get(id(v), v) for v in node.inputs]
        if node.op != "Sub":
            continue
        out = node.outputs[0]
        a, b = (look_through(v) for v in node.inputs)
        for probs, labels, negate in ((a, b, False), (b, a, True)):
            x = _matching_xent(xents, probs, labels)
            if x is None:
                continue
            bp = x.outputs[1]
            if bp.dtype != out.dtype or tuple(bp.shape) != tuple(out.shape):
                continue  # a broadcasting Sub: not the op's elementwise backprop
            if negate:
                neg = Node("Neg", [bp], {}, [], node.origin, node.device)
                neg.outputs.append(Value(out.dtype, out.shape, neg, 0))
                new_nodes.append(neg)
                subst[id(out)] = neg.outputs[0]
            else:
                subst[id(out)] = bp
            break
    if not subst:
        return program
    for o in program.outputs:
        o.value = subst.get(id(o.value), o.value)
    # canonicalize orders the new Neg nodes after the op they read and drops what is dead.
    program.nodes = program.nodes + new_nodes
    canonicalize(program)
    return program


def _matching_xent(xents: dict[tuple[str, int, int], Node], probs: Value, labels: Value) -> Node | None:
    """The cross-entropy op whose backprop is ``probs - labels``, if the program has one."""
    sm = probs.producer
    if sm is None or sm.op != "Softmax" or not _last_axis_of_matrix(probs, sm):
        return None
    z = look_through(sm.inputs[0])
    x = xents.get(("dense", id(z), id(labels)))
    if x is not None:
        return x
    hot = labels.producer
    if hot is None or hot.op != "OneHot" or not _is_class_one_hot(hot, probs):
        return None
    return xents.get(("sparse", id(z), id(look_through(hot.inputs[0]))))


def _last_axis_of_matrix(probs: Value, sm: Node) -> bool:
    """A softmax over axis 1 of a rank-2 value: the ops' [batch, classes] layout."""
    axis = sm.attrs.get("axis")
    return len(probs.shape) == 2 and isinstance(axis, int) and axis % 2 == 1


def _is_class_one_hot(hot: Node, probs: Value) -> bool:
    """OneHot(ids) over the class axis with 1 on and 0 off, in the probabilities' dtype:
    the dense labels the sparse op's backprop subtracts."""
    a = hot.attrs
    return (
        a.get("axis") in (-1, 1)
        and a.get("depth") == probs.shape[1]
        and a.get("dtype") == probs.dtype
        and _is_number(a.get("on_value"), 1.0)
        and _is_number(a.get("off_value"), 0.0)
        and hot.outputs[0].dtype == probs.dtype
        and tuple(hot.outputs[0].shape) == tuple(probs.shape)
    )


def _is_number(x: object, c: float) -> bool:
    try:
        return float(x) == c  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
