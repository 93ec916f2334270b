"""Numerical stabilisation: rewrites that compute the same function without overflow,
underflow to log(0), or cancellation.

Guarantees: the returned program has the same params, outputs, dtypes and shapes as
its input, and wherever the input's outputs are finite the output values agree up
to rounding; where the input overflows or takes log(0), the rewritten program is
finite. The rule set reaches a fixpoint (each rule replaces a pattern by one with
fewer nodes of the rewritten kinds), so the pass is idempotent.

Forward rewrites (patterns look through Identity/StopGradient; a constant 1 may be a
scalar, a broadcast, a fill or a ones_like):

- ``log(softmax(x))`` -> ``LogSoftmax(x)``
- ``sum(y * log(softmax(z)), axis=1)`` (z of rank 2, softmax over axis 1; also over
  every axis, with the negation anywhere: ``-sum(y * l)``, ``sum(-(y * l))``,
  ``sum(-y * l)``, ``sum(y * -l)``; and a Mean or Sum of ``-sum(...)``) -> the loss
  of ``SoftmaxCrossEntropyWithLogits(z, y)``; two helper rules (``-(-x) -> x`` and
  ``-reduce(-x) -> reduce(x)`` for Sum and Mean) tidy up the negations this leaves
- ``log(sum(exp(x), axis))`` -> ``LogSumExp(x, axis)`` (same axis and keepdims)
- ``log(1 + x)``, ``log(x + 1)`` -> ``Log1p(x)``
- ``exp(x) - 1``, ``exp(x) + (-1)`` -> ``Expm1(x)``
- ``log(sigmoid(x))`` -> ``-Softplus(-x)``

Gradients were built before lowering, from the unstable forward graph, so a stable
forward value alone would still leave inf/NaN in the backward graph. Three rules
rewrite the gradient patterns the registered gradient rules produce:

- softmax's gradient applied to ``g / softmax(z)`` (log's gradient):
  ``(g/s - sum(g/s * s)) * s`` -> ``g - sum(g) * s``
- sigmoid's gradient applied to ``g / sigmoid(x)``:
  ``(g/s) * (s * (1 - s))`` -> ``g * sigmoid(-x)``
- exp's gradient applied to the broadcast of ``g / sum(exp(x))``:
  ``bcast(g / sum(e)) * e`` -> ``bcast(g) * exp(x - bcast(logsumexp(x)))``
"""

from __future__ import annotations

from graphc.ir.program import Node, Program, Value
from graphc.passes.rewrite import (
    Decline,
    Match,
    Rewriter,
    Rule,
    alt,
    broadcast_as,
    const,
    look_through,
    normalized_axes,
    op,
    rewrite,
    same_shape,
    var,
)
from graphc.passes.simplify import RULES as _SIMPLIFY_RULES

# Ops a gradient's broadcast back to an input's shape is made of (input 0 is the data).
_BROADCAST_CHAIN = frozenset({"Reshape", "ExpandDims", "BroadcastTo"})


# -- forward rewrites -----------------------------------------------------------------------
def _log_softmax(rw: Rewriter, m: Match) -> Value:
    return rw.make1("LogSoftmax", [m["x"]], {"axis": m["s"].producer.attrs["axis"]})  # type: ignore[union-attr]


def _log_sigmoid(rw: Rewriter, m: Match) -> Value:
    """log(sigmoid(x)) = -softplus(-x), which neither overflows nor takes log(0)."""
    return rw.make1("Neg", [rw.make1("Softplus", [rw.make1("Neg", [m["x"]])])])


def _logsumexp(rw: Rewriter, m: Match) -> Value:
    return rw.make1("LogSumExp", [m["x"]], dict(m["sm"].producer.attrs))  # type: ignore[union-attr]


def _log1p(rw: Rewriter, m: Match) -> Value:
    return rw.make1("Log1p", [broadcast_as(rw, m["x"], m["sum"])])


def _expm1(rw: Rewriter, m: Match) -> Value:
    return broadcast_as(rw, rw.make1("Expm1", [m["x"]]), m.root)


# -- cross entropy ---------------------------------------------------------------------------
def _softmax_rows(v: Value) -> bool:
    """A softmax (or log-softmax) of a rank-2 value over its last axis."""
    n = v.producer
    return (
        n is not None
        and len(v.shape) == 2
        and isinstance(n.attrs.get("axis"), int)
        and n.attrs["axis"] % 2 == 1
    )


_LOG_PROBS = alt(
    op("LogSoftmax", var("z"), where=_softmax_rows),
    op("Log", op("Softmax", var("z"), where=_softmax_rows)),
)
_PRODUCT = op("Mul", var("y"), _LOG_PROBS, commutative=True)
_NEG_PRODUCT = alt(
    op("Neg", _PRODUCT),
    op("Mul", op("Neg", var("y")), _LOG_PROBS, commutative=True),
    op("Mul", var("y"), op("Neg", _LOG_PROBS), commutative=True),
)


def _xent_loss(rw: Rewriter, m: Match) -> Value:
    """-sum(y * log_softmax(z)) over the Sum at the root, from the fused op's loss (the
    loss is linear in y, so any y will do)."""
    y, z, total = m["y"], m["z"], m.node
    if not (same_shape(y, z) and y.dtype == z.dtype and z.dtype.is_floating):
        raise Decline("labels and logits differ in shape or dtype")
    if not same_shape(look_through(total.inputs[0]), z):
        raise Decline("the product broadcasts")
    axes = normalized_axes(total.attrs["axis"], 2)
    keepdims = bool(total.attrs["keepdims"])
    loss = rw.make("SoftmaxCrossEntropyWithLogits", [z, y])[0]
    if axes == (1,):
        return rw.make1("ExpandDims", [loss], {"axis": 1}) if keepdims else loss
    if axes == (0, 1) and not keepdims:
        return rw.make1("Sum", [loss], {"axis": (0,), "keepdims": False})
    raise Decline("not a sum over the classes")


def _neg_xent_loss(rw: Rewriter, m: Match) -> Value:
    return rw.make1("Neg", [_xent_loss(rw, m)])


def _reduce_of_neg(rw: Rewriter, m: Match) -> Value:
    """-reduce(-x) = reduce(x) for a linear reduction."""
    r: Node = m["r"].producer  # type: ignore[assignment]
    return rw.make1(r.op, [m["x"]], dict(r.attrs))


# -- gradient rewrites --------------------------------------------------------------------------
def _log_softmax_grad(rw: Rewriter, m: Match) -> Value:
    """Softmax's gradient of log's gradient g/s: (g/s - sum(g/s * s)) * s = g - sum(g) * s."""
    g, s, total = m["g"], m["s"], m["t"].producer
    rank = len(s.shape)
    axis = s.producer.attrs["axis"] % rank  # type: ignore[union-attr]
    if not same_shape(g, s) or total is None:
        raise Decline("the gradient broadcasts")
    if normalized_axes(total.attrs["axis"], rank) != (axis,) or not total.attrs["keepdims"]:
        raise Decline("not softmax's gradient")
    g_sum = rw.make1("Sum", [g], {"axis": (axis,), "keepdims": True})
    return rw.make1("Sub", [g, rw.make1("Mul", [g_sum, s])])


def _log_sigmoid_grad(rw: Rewriter, m: Match) -> Value:
    """Sigmoid's gradient of log's gradient g/s: (g/s) * s * (1 - s) = g * sigmoid(-x)."""
    g, s = m["g"], m["s"]
    if not same_shape(g, s):
        raise Decline("the gradient broadcasts")
    return rw.make1("Mul", [g, rw.make1("Sigmoid", [rw.make1("Neg", [m["x"]])])])


def _logsumexp_grad(rw: Rewriter, m: Match) -> Value:
    """Exp's gradient of the broadcast of log's gradient g / sum(e):
    bcast(g / sum(e)) * e = bcast(g) * exp(x - bcast(logsumexp(x)))."""
    e, x = m["e"], m["x"]
    chain: list[Node] = []
    v = look_through(m["a"])
    while v.producer is not None and v.producer.op in _BROADCAST_CHAIN:
        chain.append(v.producer)
        v = look_through(v.producer.inputs[0])
    div = v.producer
    if div is None or div.op != "RealDiv" or not same_shape(m["a"], e):
        raise Decline("not log's gradient through a broadcast")
    g, total = div.inputs[0], look_through(div.inputs[1])
    reduce = total.producer
    if reduce is None or reduce.op != "Sum" or look_through(reduce.inputs[0]) is not e:
        raise Decline("not the gradient of log(sum(exp(x)))")
    if not same_shape(g, total):
        raise Decline("the gradient broadcasts")
    lse = rw.make1("LogSumExp", [x], dict(reduce.attrs))

    def rebroadcast(src: Value) -> Value:
        for n in reversed(chain):
            src = rw.make1(n.op, [src, *n.inputs[1:]], dict(n.attrs), like=n.outputs[0])
        return src

    shifted = rw.make1("Sub", [x, rebroadcast(lse)])
    return rw.make1("Mul", [rebroadcast(g), rw.make1("Exp", [shifted])])


_SOFTMAX = op("Softmax", var("z"), bind="s")
_SIGMOID = op("Sigmoid", var("x"), bind="s")
_NEG_NEG = next(r for r in _SIMPLIFY_RULES if r.name == "neg_neg")

RULES: list[Rule] = [
    # log of ...
    Rule("log_softmax", op("Log", op("Softmax", var("x"), bind="s")), _log_softmax),
    Rule("log_sigmoid", op("Log", op("Sigmoid", var("x"))), _log_sigmoid),
    Rule("logsumexp", op("Log", op("Sum", op("Exp", var("x")), bind="sm")), _logsumexp),
    Rule("log1p", op("Log", op("Add", var("x"), const(1), commutative=True, bind="sum")), _log1p),
    # exp(x) - 1
    Rule("expm1", op("Sub", op("Exp", var("x")), const(1)), _expm1),
    Rule("expm1_add", op("Add", op("Exp", var("x")), const(-1), commutative=True), _expm1),
    # cross entropy (the negated product first: it gives the loss without a Neg)
    Rule("softmax_xent_neg", op("Sum", _NEG_PRODUCT), _xent_loss),
    Rule("softmax_xent", op("Sum", _PRODUCT), _neg_xent_loss),
    _NEG_NEG,
    Rule("neg_reduce_neg", op("Neg", op(("Sum", "Mean"), op("Neg", var("x")), bind="r")), _reduce_of_neg),
    # gradients
    Rule(
        "log_softmax_grad",
        op(
            "Mul",
            op(
                "Sub",
                op("RealDiv", var("g"), _SOFTMAX, bind="d"),
                op("Sum", op("Mul", var("d"), var("s"), commutative=True), bind="t"),
            ),
            var("s"),
            commutative=True,
        ),
        _log_softmax_grad,
    ),
    Rule(
        "log_sigmoid_grad",
        op(
            "Mul",
            op("RealDiv", var("g"), _SIGMOID),
            op("Mul", var("s"), op("Sub", const(1), var("s")), commutative=True),
            commutative=True,
        ),
        _log_sigmoid_grad,
    ),
    Rule(
        "logsumexp_grad",
        op("Mul", var("a"), op("Exp", var("x"), bind="e"), commutative=True),
        _logsumexp_grad,
    ),
]


def stabilize(program: Program) -> Program:
    """Apply the stabilising rewrites (module docstring) to a fixpoint."""
    return rewrite(program, RULES)
