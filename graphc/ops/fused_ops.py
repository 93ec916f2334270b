"""The Fused op: a group of elementwise ops, with an optional reduction epilogue, as one
node (made by ``graphc/passes/fuse.py``; a code generator emits one kernel for it).

Its attributes are the whole contract; nothing else about the group survives fusion:

- ``expr`` (SExpr): the typed scalar expression (``graphc.scalar``; every node has a
  dtype) over ``in(i)``, the elements of input ``i``; ``in(i)`` has input i's dtype.
- ``dtype`` (DType): the output's dtype; without a reduction it is ``expr``'s.
- ``ops`` (tuple of str): the op types the node replaced, in program order (provenance,
  for people and tools reading the program; the op's rules and meaning do not depend on it).
- ``shape`` (tuple of dims, ints or symbolic): the iteration shape. ``expr`` is evaluated
  once per index of it.
- ``broadcast`` (one tuple per input, one entry per input axis): the iteration axis that
  input axis runs along (increasing), or None for an axis of size 1 that is stretched
  (stride 0). Iteration axes an input has no axis for are stretched too. So input i is
  read at ``x_i[idx[b_0], idx[b_1], ...]`` (0 for a None). Every iteration axis that no
  input runs along has a static size.

A reduction epilogue (these attrs are all present, or all absent but ``count``):

- ``reduce_axes`` (sorted tuple of distinct iteration axes) and ``keepdims`` (bool): the
  axes combined, and whether they stay as size-1 axes of the output;
- ``combiner`` ("add", "mul", "max" or "min"): the scalar primitive that combines two
  accumulator values (max and min with the IEEE 754-2019 rules of graphc.scalar's table);
- ``accumulator_dtype`` (DType): each element of ``expr`` is cast to it (the ``cast``
  primitive) before it is combined;
- ``identity`` (a typed literal SExpr of the accumulator dtype): what the accumulator
  starts from, so the result of combining no elements (+0 for add: a sum of -0s is +0,
  as NumPy and TF1 give; 1 for mul; the lowest value for max, the highest for min). The
  order in which elements are combined is the backend's.
- ``count`` (optional; only with "add"): the reduction is a mean: the accumulator is
  divided by ``count``, the number of elements combined into each output (the product of
  the reduced iteration dims). In a floating accumulator that is IEEE division by the
  count converted to the accumulator dtype; in an integer one, division truncated toward
  zero, and 0 when the count is 0 (TF's integer mean).

The output has ``shape`` without the reduced axes (as 1 with ``keepdims``) and is the
accumulator (after the mean's division) cast to ``dtype``. The epilogue's edge cases
(``tests/test_scalar_edges.py`` checks them on every backend): combining no elements
gives the identity (and a mean of none 0 / 0: NaN for floats, 0 for integers); a sum of
-0s is +0; max and min of +-0 follow the primitives (+0 for max, -0 for min, in any
order) and propagate NaN; an integer accumulator wraps.

The NumPy reference evaluates the expression with the broadcasts and then reduces with
the monoid, making the same NumPy calls as the unfused ops (``np.sum``, ``np.mean``, ...),
so fused and unfused results agree bit for bit; only the signed zeros of max/min follow
the scalar table where NumPy's answer depends on the platform and dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as S
from graphc import symbolic as sym

COMBINERS = ("add", "mul", "max", "min")
_REDUCTION_ATTRS = ("reduce_axes", "keepdims", "combiner", "identity", "accumulator_dtype")

# The reductions fusion may end a group with (ops with the "fusable_reduction" trait), as
# monoids: the combiner, and whether the result is the mean of the combined elements.
_MONOIDS: dict[str, tuple[str, bool]] = {
    "Sum": ("add", False),
    "Prod": ("mul", False),
    "Max": ("max", False),
    "Min": ("min", False),
    "Mean": ("add", True),
}

# ---------------------------------------------------------------------------
# Building the attrs.


def right_aligned_broadcast(in_shape: Sequence[sym.Dim], shape: Sequence[sym.Dim]) -> tuple[int | None, ...]:
    """NumPy's broadcasting of an input of ``in_shape`` into the iteration ``shape`` as a
    ``broadcast`` entry: axes aligned from the right, a size-1 axis stretched when the
    iteration axis is not 1."""
    offset = len(shape) - len(in_shape)
    if offset < 0:
        raise reg.ShapeError(f"an input of rank {len(in_shape)} in a rank-{len(shape)} iteration")
    return tuple(None if (d == 1 and shape[offset + k] != 1) else offset + k for k, d in enumerate(in_shape))


def elementwise_attrs(
    expr: S.SExpr,
    dtype: _dt.DType,
    shape: Sequence[sym.Dim],
    input_shapes: Sequence[Sequence[sym.Dim]],
    ops: Sequence[str] = (),
) -> dict[str, Any]:
    """The attrs of a Fused node without a reduction: ``expr`` (typed here, its weak
    literals taking the dtypes their primitives imply and the root ``dtype``) evaluated over
    ``shape``, each input broadcast as NumPy does."""
    return {
        "expr": S.typed(expr, dtype),
        "dtype": dtype,
        "ops": tuple(ops),
        "shape": tuple(shape),
        "broadcast": tuple(right_aligned_broadcast(s, shape) for s in input_shapes),
    }


def reduction_monoid(op: str, dtype: _dt.DType) -> tuple[str, _dt.DType, bool] | None:
    """(combiner, accumulator dtype, is a mean) for the reduction op ``op`` over elements of
    ``dtype`` (None for an op fusion cannot end a group with). The accumulators are the ones
    the ops' references use: the element dtype, but 64-bit integers for an integer mean and
    float32 for a float16 mean (as np.mean)."""
    try:
        if not reg.get(op).has("fusable_reduction"):
            return None
    except KeyError:
        return None
    monoid = _MONOIDS.get(op)
    if monoid is None:
        return None
    combiner, mean = monoid
    acc = dtype
    if mean and dtype.is_integer:
        acc = _dt.as_dtype(np.uint64 if dtype.is_unsigned else np.int64)
    elif mean and dtype.np == np.float16:
        acc = _dt.float32
    return combiner, acc, mean


def identity_of(combiner: str, acc: _dt.DType) -> S.SExpr:
    """The combiner's value for no elements, as a typed literal of ``acc``."""
    dt = acc.np
    if combiner == "add":
        v: Any = 0
    elif combiner == "mul":
        v = 1
    elif dt.kind == "f":
        v = -np.inf if combiner == "max" else np.inf
    else:
        info = np.iinfo(dt)
        v = info.min if combiner == "max" else info.max
    return S.const(dt.type(v))


def reduction_attrs(
    op: str, dtype: _dt.DType, shape: Sequence[sym.Dim], axes: Sequence[int], keepdims: bool
) -> dict[str, Any]:
    """The epilogue attrs for ending a group with the reduction op ``op`` (over elements of
    ``dtype``, reducing the iteration ``axes``)."""
    monoid = reduction_monoid(op, dtype)
    if monoid is None:
        raise ValueError(f"{op} is not a reduction a fused node can end with")
    combiner, acc, mean = monoid
    out: dict[str, Any] = {
        "reduce_axes": tuple(sorted(int(a) for a in axes)),
        "keepdims": bool(keepdims),
        "combiner": combiner,
        "identity": identity_of(combiner, acc),
        "accumulator_dtype": acc,
    }
    if mean:
        out["count"] = sym.product([shape[a] for a in out["reduce_axes"]])
    return out


def has_reduction(attrs: dict[str, Any]) -> bool:
    """Whether a Fused node's attrs end in a reduction."""
    return "combiner" in attrs


def reduction_label(attrs: dict[str, Any]) -> str | None:
    """The epilogue as the op it came from reads (Sum, Mean, Prod, Max, Min), or None."""
    if not has_reduction(attrs):
        return None
    if "count" in attrs:
        return "Mean"
    return {"add": "Sum", "mul": "Prod", "max": "Max", "min": "Min"}[attrs["combiner"]]


# ---------------------------------------------------------------------------
# Rules.


def _check_expr(attrs: dict[str, Any], n_inputs: int) -> S.SExpr:
    expr = attrs.get("expr")
    if not isinstance(expr, S.SExpr):
        raise TypeError(f"attr expr is {type(expr).__name__}, not a scalar expression")
    for i in sorted(S.inputs_read(expr)):
        if not (isinstance(i, int) and 0 <= i < n_inputs):
            raise reg.ShapeError(f"expr reads in({i}) but the node has {n_inputs} inputs")
    return expr


def _shape_rule(ctx: reg.InferenceContext) -> list[reg.Shape]:
    attrs = ctx.attrs
    _check_expr(attrs, len(ctx.shapes))
    shape = tuple(attrs["shape"])
    n = len(shape)
    bcast = attrs["broadcast"]
    if len(bcast) != len(ctx.shapes):
        raise reg.ShapeError(f"{len(bcast)} broadcast entries for {len(ctx.shapes)} inputs")
    covered: set[int] = set()
    for i, (s, b) in enumerate(zip(ctx.shapes, bcast)):
        if s is None:
            raise reg.ShapeError(f"input {i} has an unknown rank")
        if len(b) != len(s):
            raise reg.ShapeError(f"input {i} has rank {len(s)} but {len(b)} broadcast entries")
        prev = -1
        for k, (d, a) in enumerate(zip(s, b)):
            if a is None:
                if d != 1:
                    raise reg.ShapeError(f"input {i} axis {k} is stretched but has size {d}")
                continue
            if not (isinstance(a, int) and prev < a < n):
                raise reg.ShapeError(
                    f"input {i} axis {k} runs along iteration axis {a!r}: not an increasing axis < {n}"
                )
            prev = a
            ctx.equal(d, shape[a], f"input {i} axis {k} and iteration axis {a}")
            covered.add(a)
    for j, d in enumerate(shape):
        if j not in covered and not isinstance(d, int):
            raise reg.ShapeError(
                f"iteration axis {j} ({d}) has no input running along it, and no static size"
            )
    if not has_reduction(attrs):
        if "count" in attrs:
            raise reg.ShapeError("count without a reduction")
        return [shape]
    missing = [k for k in _REDUCTION_ATTRS if k not in attrs]
    if missing:
        raise reg.ShapeError(f"a reduction epilogue needs the attrs {missing}")
    axes = attrs["reduce_axes"]
    if not (
        isinstance(axes, tuple)
        and all(isinstance(a, int) and 0 <= a < n for a in axes)
        and list(axes) == sorted(set(axes))
    ):
        raise reg.ShapeError(f"reduce axes {axes!r} are not sorted distinct axes of a rank-{n} iteration")
    if "count" in attrs:
        want = sym.product([shape[a] for a in axes])
        if attrs["count"] != want:
            raise reg.ShapeError(f"count {attrs['count']} is not the product of the reduced dims, {want}")
    if attrs["keepdims"]:
        return [tuple(1 if j in axes else d for j, d in enumerate(shape))]
    return [tuple(d for j, d in enumerate(shape) if j not in axes)]


def _dtype_rule(ctx: reg.InferenceContext) -> list[_dt.DType]:
    attrs = ctx.attrs
    expr = _check_expr(attrs, len(ctx.dtypes))
    try:
        if S.typed(expr) is not expr:
            raise TypeError(f"expr has weak (untyped) literals: {expr!r}")
    except S.ScalarTypeError as exc:
        raise TypeError(f"expr is ill-typed: {exc}") from None
    for e in S.postorder(expr):
        if e.op == "in" and e.dtype != ctx.dtypes[e.attr].np:
            raise TypeError(
                f"expr reads in{e.attr} as {e.dtype}, but input {e.attr} is {ctx.dtypes[e.attr].name}"
            )
    out = attrs["dtype"]
    if not isinstance(out, _dt.DType):
        raise TypeError(f"attr dtype is {out!r}, not a dtype")
    if not has_reduction(attrs):
        if expr.dtype != out.np:
            raise TypeError(f"expr gives {expr.dtype}, but the output is {out.name}")
        return [out]
    combiner, acc, identity = attrs["combiner"], attrs["accumulator_dtype"], attrs["identity"]
    if combiner not in COMBINERS:
        raise TypeError(f"combiner {combiner!r} is not one of {COMBINERS}")
    if not isinstance(acc, _dt.DType) or acc.np.kind not in "iuf":
        raise TypeError(f"accumulator dtype {acc!r} is not numeric")
    if expr.dtype.kind not in "biuf":
        raise TypeError(f"cannot accumulate {expr.dtype} elements")
    if not (isinstance(identity, S.SExpr) and identity.op == "const" and identity.dtype == acc.np):
        raise TypeError(f"identity {identity!r} is not a literal of the accumulator dtype {acc.name}")
    if "count" in attrs and combiner != "add":
        raise TypeError(f"a mean's combiner is add, not {combiner}")
    return [out]


# ---------------------------------------------------------------------------
# The NumPy meaning.


def _view_function(bcast: tuple[int | None, ...], rank: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """How an input is viewed in the iteration space; None when NumPy's own broadcasting
    (axes aligned from the right) already reads it so."""
    offset = rank - len(bcast)
    if all(a is None or a == offset + k for k, a in enumerate(bcast)):
        return None
    kept = [k for k, a in enumerate(bcast) if a is not None]
    axes = [a for a in bcast if a is not None]

    def view(x: np.ndarray) -> np.ndarray:
        target = [1] * rank
        for k, a in zip(kept, axes):
            target[a] = x.shape[k]
        return np.reshape(x, target)

    return view


def signed_zero_fix(
    r: np.ndarray, x: np.ndarray, combiner: str, axes: tuple[int, ...], keepdims: bool
) -> np.ndarray:
    """max/min reductions as the scalar table defines them: a zero result is +0 for max
    when any combined zero is +0 (-0 for min when any is -0), whatever NumPy's loop gave."""
    zero = np.equal(r, 0)
    if not np.any(zero):
        return r
    flag = np.logical_and(np.equal(x, 0), np.signbit(x) if combiner == "min" else ~np.signbit(x))
    seen = np.logical_or.reduce(flag, axis=axes, keepdims=keepdims)
    pos, neg = r.dtype.type(0.0), r.dtype.type(-0.0)
    signed = np.where(seen, neg if combiner == "min" else pos, pos if combiner == "min" else neg)
    return np.where(zero, signed, r).astype(r.dtype, copy=False)


def kernel(attrs: dict[str, Any], n_inputs: int) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """The node as a NumPy function of its inputs, prepared once (the expression compiled,
    the broadcasts and the epilogue worked out); the function leaves floating-point errors
    to the caller's ``np.errstate``."""
    expr: S.SExpr = attrs["expr"]
    evaluate = S.compile_numpy(expr)
    shape = tuple(attrs["shape"])
    rank = len(shape)
    bcasts = attrs["broadcast"]
    views = [_view_function(tuple(b), rank) for b in bcasts]
    reshape = any(v is not None for v in views)
    # Where each iteration dim comes from at run time: an input's axis, or the static size.
    sources: list[tuple[int, int] | int] = []
    for j, d in enumerate(shape):
        src = next(((i, k) for i, b in enumerate(bcasts) for k, a in enumerate(b) if a == j), None)
        sources.append(src if src is not None else int(d))
    out_dtype = attrs["dtype"].np
    reduce = has_reduction(attrs)
    if reduce:
        axes = tuple(attrs["reduce_axes"])
        keepdims = bool(attrs["keepdims"])
        combiner = attrs["combiner"]
        acc = attrs["accumulator_dtype"].np
        identity = attrs["identity"].attr
        mean = "count" in attrs
        ufunc = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[combiner]

    def run(ins: Sequence[np.ndarray]) -> np.ndarray:
        full = tuple(s if isinstance(s, int) else np.shape(ins[s[0]])[s[1]] for s in sources)
        if reshape:
            ins = [x if v is None else v(x) for x, v in zip(ins, views)]
        arr = np.asarray(evaluate(ins))
        if not reduce:
            if arr.shape != full:
                arr = np.broadcast_to(arr, full).copy()
            return arr
        if arr.shape != full:
            arr = np.broadcast_to(arr, full)  # a read-only view is enough to reduce
        if combiner in ("max", "min"):
            r = ufunc.reduce(arr, axis=axes, dtype=acc, keepdims=keepdims, initial=identity)
            if acc.kind == "f":
                r = signed_zero_fix(np.asarray(r), arr, combiner, axes, keepdims)
        else:
            r = ufunc.reduce(arr, axis=axes, dtype=acc, keepdims=keepdims)
        if mean:
            r = _mean_of(np.asarray(r), int(np.prod([full[a] for a in axes], dtype=np.int64)), out_dtype)
        return np.asarray(r, dtype=out_dtype)

    return run


def _mean_of(total: np.ndarray, count: int, out: np.dtype) -> np.ndarray:
    """The mean's division, as the Mean op's reference does it."""
    if total.dtype.kind in "iu":
        if count == 0:
            return np.zeros(np.shape(total), dtype=out)
        # Truncated toward zero without np.abs (which wraps at the type's minimum).
        q = np.floor_divide(total, count)
        return np.asarray(np.where((q < 0) & (q * count != total), q + 1, q)).astype(out)
    return np.true_divide(total, total.dtype.type(count))


def _reference(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    with np.errstate(all="ignore"):
        return [kernel(attrs, len(ins))([np.asarray(x) for x in ins])]


# ---------------------------------------------------------------------------
# Samples and registration.


def _samples(rng: np.random.Generator) -> list[reg.Sample]:
    f64, f32, i32 = _dt.float64, _dt.float32, _dt.int32
    x = rng.normal(size=(3, 4))
    row = rng.normal(size=(4,))
    col = rng.normal(size=(3, 1))
    out = []

    def sample(
        inputs: list[np.ndarray], expr: S.SExpr, dtype: _dt.DType, shape: tuple[int, ...], **red: Any
    ) -> None:
        attrs = elementwise_attrs(expr, dtype, shape, [a.shape for a in inputs], ops=("Sample",))
        if red:
            attrs.update(reduction_attrs(red["op"], dtype, shape, red["axes"], red["keepdims"]))
        out.append(reg.Sample(inputs, attrs, grad=False))

    a, b = S.inp(0, np.float64), S.inp(1, np.float64)
    sample([x, row], S.call("exp", a) * b + 0.5, f64, (3, 4))
    sample([col, row.reshape(1, 4)], S.call("max", a, b), f64, (3, 4))
    sample([x, row], S.call("tanh", a * b), f64, (3, 4), op="Sum", axes=(1,), keepdims=False)
    xf = x.astype(np.float32)
    sample(
        [xf],
        S.call("sqrt", S.call("abs", S.inp(0, np.float32))),
        f32,
        (3, 4),
        op="Mean",
        axes=(0,),
        keepdims=True,
    )
    xi = rng.integers(-5, 6, size=(3, 4)).astype(np.int32)
    n = S.inp(0, np.int32)
    sample(
        [xi],
        S.call("select", S.call("gt", n, 2), n * 3 - 1, 0),
        i32,
        (3, 4),
        op="Max",
        axes=(0, 1),
        keepdims=False,
    )
    sample(
        [xi], S.call("select", S.call("gt", n, 0), n, -n), i32, (3, 4), op="Mean", axes=(1,), keepdims=False
    )
    sample([xf], S.call("cast", S.inp(0, np.float32) * 3.0, attr="int32"), i32, (3, 4))
    # An input that runs along the first iteration axis (not NumPy's right alignment).
    attrs = {
        "expr": S.inp(0, np.float64) - S.inp(1, np.float64),
        "dtype": f64,
        "ops": ("Sample",),
        "shape": (3, 4),
        "broadcast": ((0,), (0, 1)),
    }
    out.append(reg.Sample([col.reshape(3), x], attrs, grad=False))
    return out


def _attr_schema() -> dict[str, Any]:
    """The attribute schema (the module docstring's contract)."""
    return {
        "attrs": {
            "expr": reg.SEXPR,
            "dtype": reg.DTYPE,
            "ops": reg.tuple_of(reg.STR),
            "shape": reg.DIMS,
            "broadcast": reg.tuple_of(reg.tuple_of(reg.optional(reg.INT))),
            "reduce_axes": reg.omittable(reg.AXES),
            "keepdims": reg.omittable(reg.BOOL),
            "combiner": reg.omittable(reg.choice(*COMBINERS)),
            "identity": reg.omittable(reg.SEXPR),
            "accumulator_dtype": reg.omittable(reg.DTYPE),
            "count": reg.omittable(reg.DIM),
        }
    }


FUSED = reg.register(
    reg.OpDef(
        name="Fused",
        shape=_shape_rule,
        dtype=_dtype_rule,
        reference=_reference,
        grad=reg.NotDifferentiable("fused after autodiff: gradients are taken on the graph before fusion"),
        traits=frozenset({"fused"}),
        samples=_samples,
        doc="A fused elementwise group with an optional reduction epilogue (see graphc/ops/fused_ops.py).",
        **_attr_schema(),
    )
)
