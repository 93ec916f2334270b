"""Elementwise ops (with NumPy broadcasting), add_n, cast, where, clip, and the helpers
that define elementwise ops (``_elementwise``, ``_binary_api``, ``_unary_api``), which
compare_ops and activation_ops build on. The broadcasting pair (broadcast_ops) lives in
its own module; its API functions are re-exported here. Tensor's Python operators are
installed by graphc.ops.operators."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as S
from graphc.frontend.graph import Operation, Tensor
from graphc.kernels import special
from graphc.ops import build, core_ops

# The broadcasting pair lives in its own module; its API functions are re-exported here.
from graphc.ops.broadcast_ops import broadcast_to, sum_to_shape, unbroadcast  # noqa: F401
from graphc.ops.common import (
    FLOATS,
    NUMERIC,
    check_dtypes,
    check_same_dtypes,
    convert_pair,
    convert_to_tensor,
    make,
    rand,
    scalar_like,
)

BINARY_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3))]
UNARY_SHAPES = [(3, 4), (2, 1, 3), ()]


# -- defining elementwise ops -------------------------------------------------------------
def _elementwise_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    return [ctx.broadcast(*ctx.shapes)]


def _float_samples(
    shapes: Sequence[Any], domains: Sequence[str]
) -> Callable[[np.random.Generator], list[reg.Sample]]:
    def make_samples(rng: np.random.Generator) -> list[reg.Sample]:
        return [reg.Sample([rand(rng, s, d) for s, d in zip(shp, domains, strict=False)]) for shp in shapes]

    return make_samples


def _dtype_rule(
    allowed: Sequence[_dt.DType], out: _dt.DType | None = None
) -> Callable[[reg.InferenceContext], list[_dt.DType]]:
    def rule(ctx: reg.InferenceContext) -> list[_dt.DType]:
        check_dtypes(ctx, allowed)
        check_same_dtypes(ctx)
        return [out if out is not None else ctx.dtypes[0]]

    return rule


def _elementwise(
    name: str,
    arity: int,
    reference: Callable[..., np.ndarray],
    scalar: Callable[..., S.SExpr],
    grad: Callable[..., Sequence[Any]] | reg.NotDifferentiable,
    allowed: Sequence[_dt.DType] = FLOATS,
    out: _dt.DType | None = None,
    domains: Sequence[str] | None = None,
    samples: Callable[[np.random.Generator], list[reg.Sample]] | None = None,
    traits: Iterable[str] = (),
    attrs: dict[str, reg.AttrType] | None = None,
) -> None:
    """Register an elementwise op; ``traits`` are added to "elementwise" (e.g. "commutative");
    ``attrs``: its attribute schema (none by default)."""
    domains = domains or ["any"] * arity
    if samples is None:
        shapes = BINARY_SHAPES if arity == 2 else [tuple([s] * arity) for s in UNARY_SHAPES]
        samples = _float_samples(shapes, domains)
        if not isinstance(grad, reg.NotDifferentiable) and all(d == "bool" for d in domains):
            raise ValueError(name)

    def ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            r = np.asarray(reference(*ins, **attrs))
        dt = out.np if out is not None else np.result_type(*ins) if ins else r.dtype
        return [r.astype(dt, copy=False)]

    reg.register(
        reg.OpDef(
            name=name,
            attrs=attrs if attrs is not None else {},
            shape=_elementwise_shape,
            dtype=_dtype_rule(allowed, out),
            reference=ref,
            grad=grad,
            traits=frozenset({"elementwise", *traits}),
            scalar=lambda args, attrs: scalar(*args, **attrs),
            samples=samples,
        )
    )


def _binary_api(op_type: str, default_name: str) -> Callable[..., Tensor]:
    """The tf.<default_name> function; its op is named after the op type, as in TF1."""

    def api(x: Any, y: Any, name: str | None = None) -> Tensor:
        a, b = convert_pair(x, y)
        return make(op_type, [a, b], name=name or op_type)

    api.__name__ = default_name
    return api


def _unary_api(op_type: str, default_name: str) -> Callable[..., Tensor]:
    """The tf.<default_name> function; its op is named after the op type, as in TF1."""

    def api(x: Any, name: str | None = None) -> Tensor:
        return make(op_type, [convert_to_tensor(x)], name=name or op_type)

    api.__name__ = default_name
    return api


# -- gradients ---------------------------------------------------------------------------
def _binary_grads(op: Operation, gx: Tensor | None, gy: Tensor | None) -> list[Tensor | None]:
    x, y = op.inputs
    return [unbroadcast(gx, x), unbroadcast(gy, y)]


def _add_grad(op: Operation, g: Tensor) -> list[Any]:
    return _binary_grads(op, g, g)


def _sub_grad(op: Operation, g: Tensor) -> list[Any]:
    return _binary_grads(op, g, negative(g))


def _mul_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y = op.inputs
    return _binary_grads(op, multiply(g, y), multiply(x, g))


def _div_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y = op.inputs
    return _binary_grads(op, real_div(g, y), negative(real_div(multiply(g, x), multiply(y, y))))


def _floormod_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y = op.inputs
    return _binary_grads(op, g, negative(multiply(g, floor(real_div(x, y)))))


def _pow_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y = op.inputs
    z = op.outputs[0]
    one = convert_to_tensor(1, dtype=y.dtype)
    gx = multiply(g, multiply(y, pow(x, subtract(y, one))))
    zero = build.zeros_like(x)
    positive = make("Greater", [x, zero])
    safe_log = where(positive, log(where(positive, x, build.ones_like(x))), zero)
    gy = multiply(g, multiply(z, safe_log))
    return _binary_grads(op, gx, gy)


def _maxmin_grad(cmp: str) -> Callable[..., list[Any]]:
    """The gradient goes to x where ``cmp(x, y)`` (GreaterEqual for Maximum), else to y."""

    def grad(op: Operation, g: Tensor) -> list[Any]:
        x, y = op.inputs
        mask = make(cmp, [x, y])
        zero = build.zeros_like(g)
        return _binary_grads(op, where(mask, g, zero), where(mask, zero, g))

    return grad


def _sqdiff_grad(op: Operation, g: Tensor) -> list[Any]:
    x, y = op.inputs
    d = multiply(multiply(convert_to_tensor(2.0, dtype=g.dtype), g), subtract(x, y))
    return _binary_grads(op, d, negative(d))


def _unary_grad(fn: Callable[[Operation, Tensor, Tensor, Tensor], Tensor | None]) -> Callable[..., list[Any]]:
    def grad(op: Operation, g: Tensor) -> list[Any]:
        return [fn(op, g, op.inputs[0], op.outputs[0])]

    return grad


_SQRT_PI = math.sqrt(math.pi)


# -- binary arithmetic ------------------------------------------------------------------
# "commutative": swapping the inputs gives the same bits, up to which NaN comes out (IEEE
# leaves that open), so CSE merges x+y and y+x. Not Maximum or Minimum: which zero
# max(-0.0, 0.0) returns depends on the order.
_COMMUTATIVE = ("commutative",)
_elementwise("Add", 2, np.add, lambda x, y: x + y, _add_grad, NUMERIC, traits=_COMMUTATIVE)
_elementwise("Sub", 2, np.subtract, lambda x, y: x - y, _sub_grad, NUMERIC)
_elementwise("Mul", 2, np.multiply, lambda x, y: x * y, _mul_grad, NUMERIC, traits=_COMMUTATIVE)
_elementwise("RealDiv", 2, np.divide, lambda x, y: x / y, _div_grad, FLOATS, domains=["any", "nonzero"])
_elementwise(
    "FloorDiv",
    2,
    lambda x, y: np.floor_divide(x, y),
    lambda x, y: S.call("floordiv", x, y),
    reg.NotDifferentiable("piecewise constant"),
    NUMERIC,
    samples=lambda rng: [reg.Sample([rand(rng, (3, 4), "int"), rand(rng, (3, 4), "posint")], grad=False)],
)
_elementwise(
    "FloorMod",
    2,
    lambda x, y: np.mod(x, y),
    lambda x, y: S.call("mod", x, y),
    _floormod_grad,
    NUMERIC,
    samples=lambda rng: [
        reg.Sample([rand(rng, (3, 4), "int"), rand(rng, (3, 4), "posint")], grad=False),
        reg.Sample([rand(rng, (3, 4), "offgrid") * 3.0, np.full((3, 4), 2.0)]),
    ],
)
_elementwise(
    "Pow",
    2,
    S.PRIMITIVES["pow"],  # C pow for floats; integers per the scalar table (NumPy raises)
    lambda x, y: S.call("pow", x, y),
    _pow_grad,
    NUMERIC,
    samples=lambda rng: (
        [reg.Sample([rand(rng, sx, "positive"), rand(rng, sy)]) for sx, sy in BINARY_SHAPES]
        + [reg.Sample([rand(rng, (3, 4), "int"), rand(rng, (3, 4), "posint")], grad=False)]
    ),
)
_elementwise(
    "Maximum",
    2,
    S.PRIMITIVES["max"],  # IEEE 754-2019 maximum (np.maximum's -0/+0 depends on operand order)
    lambda x, y: S.call("max", x, y),
    _maxmin_grad("GreaterEqual"),
    NUMERIC,
)
_elementwise(
    "Minimum",
    2,
    S.PRIMITIVES["min"],
    lambda x, y: S.call("min", x, y),
    _maxmin_grad("LessEqual"),
    NUMERIC,
)
_elementwise(
    "SquaredDifference",
    2,
    lambda x, y: np.square(x - y),
    lambda x, y: (x - y) * (x - y),
    _sqdiff_grad,
    NUMERIC,
    traits=_COMMUTATIVE,
)

# -- unary ---------------------------------------------------------------------------------
_elementwise("Neg", 1, np.negative, lambda x: -x, _unary_grad(lambda op, g, x, y: negative(g)), NUMERIC)
_elementwise(
    "Abs",
    1,
    np.abs,
    lambda x: S.call("abs", x),
    _unary_grad(lambda op, g, x, y: multiply(g, sign(x))),
    NUMERIC,
    domains=["nonzero"],
)
_elementwise(
    "Sign",
    1,
    np.sign,
    lambda x: S.call("sign", x),
    _unary_grad(lambda op, g, x, y: build.zeros_like(x)),
    NUMERIC,
    domains=["nonzero"],
)
_elementwise(
    "Square",
    1,
    np.square,
    lambda x: x * x,
    _unary_grad(lambda op, g, x, y: multiply(g, multiply(scalar_like(2.0, x), x))),
    NUMERIC,
)
_elementwise(
    "Sqrt",
    1,
    np.sqrt,
    lambda x: S.call("sqrt", x),
    _unary_grad(lambda op, g, x, y: real_div(multiply(g, scalar_like(0.5, y)), y)),
    domains=["positive"],
)
_elementwise(
    "Rsqrt",
    1,
    lambda x: 1.0 / np.sqrt(x),
    lambda x: 1.0 / S.call("sqrt", x),
    _unary_grad(lambda op, g, x, y: multiply(g, multiply(scalar_like(-0.5, y), multiply(y, square(y))))),
    domains=["positive"],
)
_elementwise(
    "Reciprocal",
    1,
    lambda x: 1.0 / x,
    lambda x: 1.0 / x,
    _unary_grad(lambda op, g, x, y: negative(multiply(g, square(y)))),
    domains=["nonzero"],
)
_elementwise("Exp", 1, np.exp, lambda x: S.call("exp", x), _unary_grad(lambda op, g, x, y: multiply(g, y)))
_elementwise(
    "Expm1", 1, np.expm1, lambda x: S.call("expm1", x), _unary_grad(lambda op, g, x, y: multiply(g, exp(x)))
)
_elementwise(
    "Log",
    1,
    np.log,
    lambda x: S.call("log", x),
    _unary_grad(lambda op, g, x, y: real_div(g, x)),
    domains=["positive"],
)
_elementwise(
    "Log1p",
    1,
    np.log1p,
    lambda x: S.call("log1p", x),
    _unary_grad(lambda op, g, x, y: real_div(g, add(scalar_like(1.0, x), x))),
    domains=["positive"],
)
_elementwise(
    "Sin", 1, np.sin, lambda x: S.call("sin", x), _unary_grad(lambda op, g, x, y: multiply(g, cos(x)))
)
_elementwise(
    "Cos",
    1,
    np.cos,
    lambda x: S.call("cos", x),
    _unary_grad(lambda op, g, x, y: negative(multiply(g, sin(x)))),
)
_elementwise(
    "Tanh",
    1,
    np.tanh,
    lambda x: S.call("tanh", x),
    _unary_grad(lambda op, g, x, y: multiply(g, subtract(scalar_like(1.0, y), square(y)))),
)


def _sigmoid_ref(x: np.ndarray) -> np.ndarray:
    # exp of a negative argument only: no overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_scalar(x: S.SExpr) -> S.SExpr:
    """The same two-branch form as the reference, so fused and unfused agree exactly."""
    e = S.call("exp", -S.call("abs", x))
    return S.call("select", S.call("ge", x, 0), 1.0 / (1.0 + e), e / (1.0 + e))


_elementwise(
    "Sigmoid",
    1,
    _sigmoid_ref,
    lambda x: _sigmoid_scalar(x),
    _unary_grad(lambda op, g, x, y: multiply(g, multiply(y, subtract(scalar_like(1.0, y), y)))),
    samples=lambda rng: (
        [reg.Sample([rand(rng, s)]) for s in UNARY_SHAPES]
        + [
            # Tails where 1/(1+exp(-x)) would underflow to 0 or overflow: fused must agree.
            reg.Sample([np.array([-95.0, -89.0, -20.0, 0.0, 20.0, 95.0], np.float32)], grad=False),
            reg.Sample([np.array([-17.0, -12.0, -10.0, 10.0, 12.0], np.float16)], grad=False),
        ]
    ),
)


_elementwise(
    "Erf",
    1,
    special.erf,
    lambda x: S.call("erf", x),
    _unary_grad(lambda op, g, x, y: multiply(g, multiply(scalar_like(2.0 / _SQRT_PI, x), exp(negative(square(x)))))),
)
# TF1 registers Floor, Ceil and Round as not differentiable: tf.gradients through them
# gives None (no contribution), not zeros.
_PIECEWISE = reg.NotDifferentiable(
    "piecewise constant: the gradient is zero almost everywhere and undefined at the steps"
)
_elementwise("Floor", 1, np.floor, lambda x: S.call("floor", x), _PIECEWISE, domains=["offgrid"])
_elementwise("Ceil", 1, np.ceil, lambda x: S.call("ceil", x), _PIECEWISE, domains=["offgrid"])
_elementwise("Round", 1, np.round, lambda x: S.call("round", x), _PIECEWISE, domains=["offgrid"])


# -- cast, where, clip, add_n -------------------------------------------------------------
def _cast_grad(op: Operation, g: Tensor) -> list[Any]:
    src = op.inputs[0].dtype
    if src.is_floating and op.outputs[0].dtype.is_floating:
        return [cast(g, src)]
    return [None]


def _cast_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    if ctx.dtypes[0].is_string or ctx.attrs["DstT"].is_string:
        raise TypeError("casting to or from strings is not supported")
    return [ctx.attrs["DstT"]]


def _cast_value(ctx: reg.InferenceContext) -> list[Any] | None:
    return [ctx.value(0)] if ctx.attrs["DstT"].is_integer else None


reg.register(
    reg.OpDef(
        name="Cast",
        attrs={"DstT": reg.DTYPE},
        shape=lambda ctx: [ctx.shapes[0]],
        dtype=_cast_dtype,
        # The scalar table's cast: float to int truncates and saturates, NaN gives 0.
        reference=lambda ins, attrs: [np.asarray(S.PRIMITIVES["cast"](ins[0], attrs["DstT"].np))],
        grad=_cast_grad,
        traits=frozenset({"elementwise"}),
        scalar=lambda args, attrs: S.call("cast", args[0], attr=attrs["DstT"].np.name),
        value=_cast_value,
        samples=lambda rng: [
            reg.Sample([rand(rng, (3, 4))], {"DstT": _dt.float32}, grad=False),
            reg.Sample([rand(rng, (3, 4), "offgrid")], {"DstT": _dt.int32}, grad=False),
            reg.Sample([rand(rng, (3, 4), "bool")], {"DstT": _dt.float64}, grad=False),
            reg.Sample([rand(rng, (3, 4))], {"DstT": _dt.float64}),
        ],
    )
)


def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    t = convert_to_tensor(x)
    dt = _dt.as_dtype(dtype)
    if t.dtype == dt:
        return t
    return make("Cast", [t], {"DstT": dt}, name=name or "Cast")


def _select_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    if ctx.dtypes[0] != _dt.bool_:
        raise TypeError(f"condition must be bool, got {ctx.dtypes[0].name}")
    check_same_dtypes(ctx, [1, 2])
    return [ctx.dtypes[1]]


def _select_grad(op: Operation, g: Tensor) -> list[Any]:
    c, x, y = op.inputs
    zero = build.zeros_like(g)
    return [None, unbroadcast(where(c, g, zero), x), unbroadcast(where(c, zero, g), y)]


reg.register(
    reg.OpDef(
        name="Select",
        attrs={},
        shape=lambda ctx: [ctx.broadcast(*ctx.shapes)],
        dtype=_select_dtype,
        reference=lambda ins, attrs: [np.where(ins[0], ins[1], ins[2])],
        grad=_select_grad,
        traits=frozenset({"elementwise"}),
        scalar=lambda args, attrs: S.call("select", *args),
        samples=lambda rng: [
            reg.Sample([rand(rng, (3, 4), "bool"), rand(rng, (3, 4)), rand(rng, (3, 4))], wrt=(1, 2)),
            reg.Sample([rand(rng, (3, 1), "bool"), rand(rng, (4,)), rand(rng, (3, 4))], wrt=(1, 2)),
        ],
    )
)


def where_v2(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """tf.where_v2: elementwise select with NumPy broadcasting of all three operands.
    The one-argument form (indices of true elements) has a data-dependent shape and is
    not supported."""
    if x is None or y is None:
        raise NotImplementedError(
            "tf.where(condition) without x and y returns a data-dependent shape, which graphc "
            "does not support; pass x and y"
        )
    c = convert_to_tensor(condition)
    a, b = convert_pair(x, y)
    return make("Select", [c, a, b], name=name or "Select")


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """tf.where (TF1): a rank-1 condition with higher-rank x and y selects whole rows
    (x's first dimension); otherwise the select is elementwise. graphc also broadcasts
    operands of other shapes, as tf.where_v2 does, where TF1 would raise."""
    if x is None or y is None:
        return where_v2(condition, x, y, name)
    c = convert_to_tensor(condition)
    a, b = convert_pair(x, y)
    rank_c, rank_x = c.shape.ndims, a.shape.ndims
    if rank_c == 1 and rank_x is not None and rank_x > 1:
        c = build.reshape(c, [-1] + [1] * (rank_x - 1))
    return make("Select", [c, a, b], name=name or "Select")


def _clip_grad(op: Operation, g: Tensor) -> list[Any]:
    x, lo, hi = op.inputs
    zero = build.zeros_like(g)
    below = make("Less", [x, lo])
    above = make("Greater", [x, hi])
    gx = where(make("LogicalOr", [below, above]), zero, g)
    return [
        unbroadcast(gx, x),
        unbroadcast(where(below, g, zero), lo),
        unbroadcast(where(above, g, zero), hi),
    ]


reg.register(
    reg.OpDef(
        name="ClipByValue",
        attrs={},
        shape=lambda ctx: [ctx.broadcast(*ctx.shapes)],
        dtype=_dtype_rule(NUMERIC),
        reference=lambda ins, attrs: [np.minimum(np.maximum(ins[0], ins[1]), ins[2]).astype(ins[0].dtype)],
        grad=_clip_grad,
        traits=frozenset({"elementwise"}),
        scalar=lambda args, attrs: S.call("min", S.call("max", args[0], args[1]), args[2]),
        samples=lambda rng: [reg.Sample([rand(rng, (3, 4), "offgrid"), np.array(-1.5), np.array(1.5)])],
    )
)


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(t)
    lo = convert_to_tensor(clip_value_min, preferred_dtype=x.dtype)
    hi = convert_to_tensor(clip_value_max, preferred_dtype=x.dtype)
    return make("ClipByValue", [x, lo, hi], name=name or "clip_by_value")


def _add_n_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    out = ctx.shapes[0]
    for s in ctx.shapes[1:]:
        if out is None:
            out = s
        elif s is not None:
            if len(s) != len(out):
                raise reg.ShapeError("add_n inputs must all have the same shape")
            out = tuple(ctx.equal(a, b, "add_n input dimensions") for a, b in zip(out, s, strict=False))
    return [out]


def _add_n_scalar(args: list[S.SExpr], attrs: dict[str, Any]) -> S.SExpr:
    acc = args[0]
    for a in args[1:]:
        acc = acc + a
    return acc


reg.register(
    reg.OpDef(
        name="AddN",
        attrs={},
        shape=_add_n_shape,
        dtype=_dtype_rule(NUMERIC),
        reference=lambda ins, attrs: [np.sum(np.stack(ins), axis=0).astype(ins[0].dtype)],
        grad=lambda op, g: [g] * len(op.inputs),
        traits=frozenset({"elementwise"}),
        scalar=_add_n_scalar,
        samples=lambda rng: [reg.Sample([rand(rng, (3, 4)) for _ in range(3)])],
    )
)


def add_n(inputs: Sequence[Any], name: str | None = None) -> Tensor:
    if not inputs:
        raise ValueError("add_n needs at least one input")
    ts = [convert_to_tensor(t) for t in inputs]
    if len(ts) == 1:
        return core_ops.identity(ts[0], name=name)
    return make("AddN", ts, name=name or "AddN")


# -- public API ---------------------------------------------------------------------------------
add = _binary_api("Add", "add")
subtract = _binary_api("Sub", "sub")
multiply = _binary_api("Mul", "mul")
real_div = _binary_api("RealDiv", "truediv")
floordiv_ = _binary_api("FloorDiv", "floordiv")
floormod = _binary_api("FloorMod", "mod")
pow = _binary_api("Pow", "pow")  # noqa: A001  (TF's name)
maximum = _binary_api("Maximum", "maximum")
minimum = _binary_api("Minimum", "minimum")
squared_difference = _binary_api("SquaredDifference", "squared_difference")
negative = _unary_api("Neg", "neg")
abs = _unary_api("Abs", "abs")  # noqa: A001
sign = _unary_api("Sign", "sign")
square = _unary_api("Square", "square")
sqrt = _unary_api("Sqrt", "sqrt")
rsqrt = _unary_api("Rsqrt", "rsqrt")
reciprocal = _unary_api("Reciprocal", "reciprocal")
exp = _unary_api("Exp", "exp")
expm1 = _unary_api("Expm1", "expm1")
log = _unary_api("Log", "log")
log1p = _unary_api("Log1p", "log1p")
sin = _unary_api("Sin", "sin")
cos = _unary_api("Cos", "cos")
tanh = _unary_api("Tanh", "tanh")
sigmoid = _unary_api("Sigmoid", "sigmoid")
erf = _unary_api("Erf", "erf")
floor = _unary_api("Floor", "floor")
ceil = _unary_api("Ceil", "ceil")
round = _unary_api("Round", "round")  # noqa: A001


def truediv(x: Any, y: Any, name: str | None = None) -> Tensor:
    """x / y. Integer operands are first cast to float (int8/16 -> float32, wider -> float64), as TF1."""
    a, b = convert_pair(x, y)
    if a.dtype != b.dtype:
        raise TypeError(f"x and y must have the same dtype, got {a.dtype.name} != {b.dtype.name}")
    if a.dtype.is_integer:
        target = _dt.float32 if a.dtype.size <= 2 else _dt.float64
        a, b = cast(a, target), cast(b, target)
    return make("RealDiv", [a, b], name=name or "truediv")


divide = truediv


def div(x: Any, y: Any, name: str | None = None) -> Tensor:
    """TF1's div: floor division for integers, true division for floats."""
    a, b = convert_pair(x, y)
    if a.dtype.is_integer:
        return floordiv_(a, b, name=name)
    return make("RealDiv", [a, b], name=name or "div")


def floordiv(x: Any, y: Any, name: str | None = None) -> Tensor:
    a, b = convert_pair(x, y)
    if a.dtype.is_floating:
        return floor(make("RealDiv", [a, b]), name=name)
    return make("FloorDiv", [a, b], name=name or "floordiv")


def scalar_mul(scalar: Any, x: Any, name: str | None = None) -> Tensor:
    return multiply(scalar, x, name=name)
