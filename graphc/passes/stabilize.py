"""Numerical stabilisation: rewrites that compute the same function without overflow,
underflow to log(0), or cancellation.

Guarantees: the returned program has the same params, outputs, dtypes and shapes as
its input, and wherever the input's outputs are finite the output values agree up
to rounding; where the input overflows or takes log(0), the rewritten program is
finite. The rule set reaches a fixpoint (each rule replaces a pattern by one with
fewer nodes of the rewritten kinds, a gradient rule one with fewer divisions by the value
it repairs), so the pass is idempotent.

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
rewrite the gradient patterns the registered gradient rules produce. Log's gradient
is ``g / s`` or ``g * reciprocal(s)`` (``reciprocal(s)`` once simplify drops a ``1 *``,
then g is ones). Where s (or ``sum(e)``) has other uses too, the gradient reaching it
is a sum (AddN or Add, nested, in any order; its terms of its shape) of log's gradient
and the others' gradients h; the gradients of sigmoid, softmax and exp (through a Sum's broadcast) are linear in
it, so each rule splits the sum, repairs log's terms (their g summed) and applies the
original gradient to the rest:

- softmax's gradient: ``(g/s + h - sum((g/s + h) * s)) * s`` ->
  ``(g - sum(g) * s) + (h - sum(h * s)) * s``
- sigmoid's gradient: ``(g/s + h) * (s * (1 - s))`` -> ``g * sigmoid(-x) + h * (s * (1 - s))``
- exp's gradient of a sum of broadcasts of ``g / sum(e)`` (a broadcast of a sum is the
  sum of the broadcasts): ``(bcast(g / sum(e)) + h) * e`` ->
  ``bcast(g) * exp(x - bcast(logsumexp(x))) + h * e``

Without h they are the single-use repairs ``g - sum(g) * s``, ``g * sigmoid(-x)`` and
``bcast(g) * exp(x - bcast(logsumexp(x)))``. Each removes a division by s (or
``sum(e)``) from a gradient and leaves h's part with none, so it does not match again.
"""

from __future__ import annotations

from collections.abc import Callable

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
# Gradients reaching a value from several uses are summed (AddN, or Add in a user's gradient);
# the rules below split such a sum into log's gradient and the other terms.
_SUMS = frozenset({"Add", "AddN"})


def _sum_terms(v: Value) -> list[Value]:
    """The terms of ``v`` as a sum, through nested Add and AddN whose inputs all have the
    sum's shape (a broadcasting Add is one term); ``[v]`` when ``v`` is not such a sum."""
    terms: list[Value] = []
    stack = [look_through(v)]
    while stack:
        u = stack.pop()
        n = u.producer
        if n is not None and n.op in _SUMS and all(same_shape(x, u) for x in n.inputs):
            stack.extend(look_through(x) for x in reversed(n.inputs))
        else:
            terms.append(u)
    return terms


def _log_grad(t: Value, is_x: Callable[[Value], bool]) -> tuple[Value | None, Value] | None:
    """``(g, x)`` when ``t`` is log's gradient ``g / x`` or ``g * reciprocal(x)`` for an x
    (looked through) that ``is_x``, with g, x and t of one shape; ``(None, x)`` for
    ``reciprocal(x)`` (g is 1: simplify removes ``1 * ...``); else None."""
    n = t.producer
    if n is None:
        return None
    found: list[tuple[Value | None, Value]] = []
    if n.op == "RealDiv":
        found.append((n.inputs[0], look_through(n.inputs[1])))
    elif n.op == "Reciprocal":
        found.append((None, look_through(n.inputs[0])))
    elif n.op == "Mul":
        for g, r in (n.inputs, n.inputs[::-1]):
            rn = look_through(r).producer
            if rn is not None and rn.op == "Reciprocal":
                found.append((g, look_through(rn.inputs[0])))
    for g, x in found:
        if is_x(x) and same_shape(x, t) and (g is None or same_shape(g, t)):
            return g, x
    return None


def _numerator(rw: Rewriter, g: Value | None, x: Value) -> Value:
    """Log's incoming gradient g (see _log_grad), ones of x's shape for None."""
    return rw.make1("OnesLike", [x]) if g is None else g


def _add_all(rw: Rewriter, vs: list[Value]) -> Value:
    return vs[0] if len(vs) == 1 else rw.make1("AddN", vs)


def _split_log_grads(rw: Rewriter, d: Value, s: Value) -> tuple[Value, Value | None]:
    """The terms of the sum ``d`` that are log's gradient ``g_i / s``: the sum of their
    ``g_i``, and the sum of the other terms (None when there are none)."""
    logs: list[Value] = []
    rest: list[Value] = []
    for t in _sum_terms(d):
        lg = _log_grad(t, lambda x: x is s)
        if lg is not None:
            logs.append(_numerator(rw, *lg))
        else:
            rest.append(t)
    if not logs:
        raise Decline("no term is log's gradient")
    return _add_all(rw, logs), (_add_all(rw, rest) if rest else None)


def _log_softmax_grad(rw: Rewriter, m: Match) -> Value:
    """Softmax's gradient of a sum d of log's gradient g/s and other terms h (softmax's
    gradient is linear in d): (d - sum(d * s)) * s = (g - sum(g) * s) + (h - sum(h * s)) * s."""
    d, s, total = m["d"], m["s"], m["t"].producer
    rank = len(s.shape)
    axis = s.producer.attrs["axis"] % rank  # type: ignore[union-attr]
    if not same_shape(d, s) or total is None:
        raise Decline("the gradient broadcasts")
    if normalized_axes(total.attrs["axis"], rank) != (axis,) or not total.attrs["keepdims"]:
        raise Decline("not softmax's gradient")
    g, h = _split_log_grads(rw, d, s)
    reduce = {"axis": (axis,), "keepdims": True}
    out = rw.make1("Sub", [g, rw.make1("Mul", [rw.make1("Sum", [g], reduce), s])])
    if h is None:
        return out
    h_sum = rw.make1("Sum", [rw.make1("Mul", [h, s])], reduce)
    return rw.make1("Add", [out, rw.make1("Mul", [rw.make1("Sub", [h, h_sum]), s])])


def _log_sigmoid_grad(rw: Rewriter, m: Match) -> Value:
    """Sigmoid's gradient of a sum d of log's gradient g/s and other terms h:
    d * (s * (1 - s)) = g * sigmoid(-x) + h * (s * (1 - s))."""
    d, s = m["d"], m["s"]
    if not same_shape(d, s):
        raise Decline("the gradient broadcasts")
    g, h = _split_log_grads(rw, d, s)
    out = rw.make1("Mul", [g, rw.make1("Sigmoid", [rw.make1("Neg", [m["x"]])])])
    if h is None:
        return out
    return rw.make1("Add", [out, rw.make1("Mul", [h, m["ds"]])])


def _broadcast_terms(v: Value) -> list[tuple[tuple[Node, ...], Value, Value | None]]:
    """The terms of ``v`` as a sum of broadcasts (a broadcast of a sum is the sum of the
    broadcasts): each as (the broadcast nodes applied to it, outermost first; the term; the
    existing value that is the broadcast term, None when a sum was split below a broadcast)."""
    out: list[tuple[tuple[Node, ...], Value, Value | None]] = []
    v = look_through(v)
    stack: list[tuple[tuple[Node, ...], Value, Value | None]] = [((), v, v)]
    while stack:
        chain, u, whole = stack.pop()
        n = u.producer
        if n is not None and n.op in _BROADCAST_CHAIN:
            stack.append(((*chain, n), look_through(n.inputs[0]), whole))
        elif n is not None and n.op in _SUMS and all(same_shape(x, u) for x in n.inputs):
            for x in reversed(n.inputs):
                x = look_through(x)
                stack.append((chain, x, None if chain else x))
        else:
            out.append((chain, u, whole))
    return out


def _logsumexp_grad(rw: Rewriter, m: Match) -> Value:
    """Exp's gradient of a sum of broadcasts of log's gradient g / sum(e) and other terms h
    (a Sum's gradient is a broadcast): bcast(g / sum(e)) * e + h * e =
    bcast(g) * exp(x - bcast(logsumexp(x))) + h * e."""
    e, x = m["e"], m["x"]
    if not same_shape(m["a"], e):
        raise Decline("the gradient broadcasts")

    def sums_e(v: Value) -> bool:
        n = v.producer
        return n is not None and n.op == "Sum" and look_through(n.inputs[0]) is e

    logs: list[tuple[tuple[Node, ...], Value, Node]] = []  # (broadcasts, g, the Sum)
    rest: list[tuple[tuple[Node, ...], Value, Value | None]] = []
    for chain, t, whole in _broadcast_terms(m["a"]):
        lg = _log_grad(t, sums_e)
        if lg is None:
            rest.append((chain, t, whole))
        else:
            logs.append((chain, _numerator(rw, *lg), lg[1].producer))  # type: ignore[arg-type]
    if not logs:
        raise Decline("not the gradient of log(sum(exp(x)))")

    def rebroadcast(chain: tuple[Node, ...], src: Value) -> Value:
        for n in reversed(chain):
            src = rw.make1(n.op, [src, *n.inputs[1:]], dict(n.attrs), like=n.outputs[0])
        return src

    terms = []
    for chain, g, reduce in logs:
        lse = rw.make1("LogSumExp", [x], dict(reduce.attrs))
        shifted = rw.make1("Sub", [x, rebroadcast(chain, lse)])
        terms.append(rw.make1("Mul", [rebroadcast(chain, g), rw.make1("Exp", [shifted])]))
    if rest:
        h = _add_all(rw, [rebroadcast(chain, t) if whole is None else whole for chain, t, whole in rest])
        terms.append(rw.make1("Mul", [h, e]))
    return _add_all(rw, terms)


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
                var("d"),
                op("Sum", op("Mul", var("d"), _SOFTMAX, commutative=True), bind="t"),
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
            var("d"),
            op("Mul", _SIGMOID, op("Sub", const(1), var("s")), commutative=True, bind="ds"),
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
