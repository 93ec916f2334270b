"""graphc's scalar primitives (graphc/scalar.py) rendered as LLVM IR, one element at a time.

:func:`render` walks a typed expression once (shared subexpressions once) and emits each
primitive with the results graphc.scalar's EDGE_CASES table gives: IEEE max/min
(``llvm.maximum``/``llvm.minimum``: NaN propagates, -0 < +0), NumPy's floor division and
modulo for floats (fmod, then the divisor's sign), integer division and modulo by zero
giving 0 (no undefined behaviour: the divisor is replaced before the division, and
``MIN // -1`` wraps), saturating float-to-int casts with NaN giving 0
(``llvm.fptosi.sat``), round half to even (``llvm.roundeven``). Transcendentals are
inline polynomials from :mod:`graphc_llvm.mathlib` (they vectorise; libm calls would not).
No fast-math flag is set on any instruction: results are IEEE operations in program order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir

from graphc import scalar as S
from graphc_llvm import mathlib
from graphc_llvm import types as T

Leaf = Callable[[int], ir.Value]


def _suffix(ty: ir.Type) -> str:
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{_suffix(ty.element)}"
    if isinstance(ty, ir.IntType):
        return f"i{ty.width}"
    return {T.F16: "f16", T.F32: "f32", T.F64: "f64"}[ty]


def intrinsic(
    module: ir.Module, name: str, ret: ir.Type, args: Sequence[ir.Type], overloads: Sequence[ir.Type]
) -> ir.Function:
    """An LLVM intrinsic, declared once per module under its mangled name."""
    full = ".".join([name, *(_suffix(t) for t in overloads)])
    fn = module.globals.get(full)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, list(args)), name=full)
    return fn


def _intrinsic(b: ir.IRBuilder, name: str, ty: ir.Type, args: Sequence[ir.Value]) -> ir.Value:
    """A same-typed intrinsic of one float type (fabs, maximum, sqrt, copysign, ...)."""
    return b.call(intrinsic(b.module, name, ty, [ty] * len(args), [ty]), list(args))


def _float_math(b: ir.IRBuilder, name: str, dtype: np.dtype, args: Sequence[ir.Value]) -> ir.Value:
    """A transcendental in the element's float type; float16 computes in float32 and rounds
    once (as NumPy's float16 loops do)."""
    ty = T.reg_type(dtype)
    if ty == T.F16:
        wide = [b.fpext(a, T.F32) for a in args]
        return b.fptrunc(b.call(mathlib.math_function(b.module, name, T.F32), wide), T.F16)
    return b.call(mathlib.math_function(b.module, name, ty), list(args))


def _is_float(dt: np.dtype) -> bool:
    return np.dtype(dt).kind == "f"


def _signed(dt: np.dtype) -> bool:
    return np.dtype(dt).kind == "i"


def render(b: ir.IRBuilder, expr: S.SExpr, leaf: Leaf) -> ir.Value:
    """Emit ``expr`` (typed) at the builder's position; ``leaf(i)`` gives ``in(i)``'s value."""
    values: dict[S.SExpr, ir.Value] = {}
    for e in S.postorder(expr):
        if e.op == "in":
            values[e] = leaf(e.attr)
        elif e.op == "const":
            values[e] = T.constant(e.dtype, e.attr)
        else:
            args = [values[a] for a in e.args]
            values[e] = _primitive(b, e, args)
    return values[expr]


def _primitive(b: ir.IRBuilder, e: S.SExpr, args: list[ir.Value]) -> ir.Value:
    op = e.op
    adt = e.args[0].dtype
    if op == "cast":
        return cast(b, args[0], adt, S.as_dtype(e.attr))
    if op in _COMPARE_F:
        if _is_float(adt):
            return b.fcmp_ordered(_COMPARE_F[op], *args) if op != "ne" else b.fcmp_unordered("!=", *args)
        if np.dtype(adt).kind == "b":
            return b.icmp_unsigned(_COMPARE_F[op], *args)
        cmp = b.icmp_signed if _signed(adt) else b.icmp_unsigned
        return cmp(_COMPARE_F[op], *args)
    if op == "and":
        return b.and_(*args)
    if op == "or":
        return b.or_(*args)
    if op == "not":
        return b.xor(args[0], T.I1(1))
    if op == "select":
        return b.select(*args)
    dt = e.dtype
    if _is_float(dt):
        if op == "exp" and _nonpositive(e.args[0]):
            op = "exp_nonpos"  # the same results, cheaper
        return _float_op(b, op, dt, args)
    return _int_op(b, op, dt, args)


def _nonpositive(e: S.SExpr) -> bool:
    """Whether float ``e`` is <= 0 (or NaN) for every input: -|y|, -(y y), -exp(y)."""
    if e.op != "neg":
        return False
    a = e.args[0]
    return a.op in ("abs", "exp") or (a.op == "mul" and a.args[0] == a.args[1])


_COMPARE_F = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_MATH = {"exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "erf", "pow"}
# Primitives rendered as mathlib's inline polynomials (long straight-line code).
TRANSCENDENTALS = frozenset(_MATH)
_INTRINSIC_1 = {"sqrt": "llvm.sqrt", "floor": "llvm.floor", "ceil": "llvm.ceil", "round": "llvm.roundeven"}


def _lane_type(dt: np.dtype, args: list[ir.Value]) -> ir.Type:
    """The register type of ``dt``, or the vector type of ``args`` when they are vectors (a
    reduction's lanes, graphc_llvm.lowerings.LaneFold: the same primitive on each lane)."""
    ty = args[0].type if args else None
    return ty if isinstance(ty, ir.VectorType) else T.reg_type(dt)


def _float_op(b: ir.IRBuilder, op: str, dt: np.dtype, args: list[ir.Value]) -> ir.Value:
    ty = _lane_type(dt, args)
    if op == "add":
        return b.fadd(*args)
    if op == "sub":
        return b.fsub(*args)
    if op == "mul":
        return b.fmul(*args)
    if op == "div":
        return b.fdiv(*args)
    if op == "neg":
        return b.fneg(args[0])
    if op == "abs":
        return _intrinsic(b, "llvm.fabs", ty, args)
    if op == "max":
        return _intrinsic(b, "llvm.maximum", ty, args)
    if op == "min":
        return _intrinsic(b, "llvm.minimum", ty, args)
    if op in _INTRINSIC_1:
        return _intrinsic(b, _INTRINSIC_1[op], ty, args)
    if op in _MATH or op == "exp_nonpos":
        return _float_math(b, op, dt, args)
    if op == "sign":
        x = args[0]
        one, zero = ir.Constant(ty, 1.0), ir.Constant(ty, 0.0)
        s = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(ty, -1.0), zero)
        s = b.select(b.fcmp_ordered(">", x, zero), one, s)
        return b.select(b.fcmp_unordered("uno", x, x), x, s)
    if op in ("floordiv", "mod"):
        return _float_divmod(b, op, ty, *args)
    raise NotImplementedError(f"float primitive {op}")


def _float_divmod(b: ir.IRBuilder, op: str, ty: ir.Type, a: ir.Value, d: ir.Value) -> ir.Value:
    """NumPy's floor_divide / remainder for floats: ``m = fmod(a, d)``; when ``m`` is not 0
    and its sign differs from ``d``'s, ``m += d`` and the quotient ``(a - m) / d`` drops by
    one; a zero ``m`` takes ``d``'s sign; the quotient is rounded to the nearest integer
    (floor, then up when more than half away), or is a zero with the sign of ``a / d``.
    A zero divisor gives ``a / d`` and ``fmod``'s NaN."""
    zero, one = ir.Constant(ty, 0.0), ir.Constant(ty, 1.0)
    m = b.frem(a, d)
    q = b.fdiv(b.fsub(a, m), d)
    nonzero = b.fcmp_unordered("!=", m, zero)
    flip = b.and_(nonzero, b.xor(b.fcmp_ordered("<", d, zero), b.fcmp_ordered("<", m, zero)))
    m_adj = b.select(flip, b.fadd(m, d), m)
    m_adj = b.select(nonzero, m_adj, _intrinsic(b, "llvm.copysign", ty, [zero, d]))
    q = b.select(flip, b.fsub(q, one), q)
    if op == "mod":
        return m_adj
    fl = _intrinsic(b, "llvm.floor", ty, [q])
    fl = b.select(b.fcmp_ordered(">", b.fsub(q, fl), ir.Constant(ty, 0.5)), b.fadd(fl, one), fl)
    fl = b.select(
        b.fcmp_unordered("!=", q, zero), fl, _intrinsic(b, "llvm.copysign", ty, [zero, b.fdiv(a, d)])
    )
    return b.select(b.fcmp_ordered("==", d, zero), b.fdiv(a, d), fl)


def _int_op(b: ir.IRBuilder, op: str, dt: np.dtype, args: list[ir.Value]) -> ir.Value:
    ty = _lane_type(dt, args)
    signed = _signed(dt)
    zero = ir.Constant(ty, 0)
    if op == "add":
        return b.add(*args)
    if op == "sub":
        return b.sub(*args)
    if op == "mul":
        return b.mul(*args)
    if op == "neg":
        return b.sub(zero, args[0])
    if op == "abs":
        x = args[0]
        return b.select(b.icmp_signed("<", x, zero), b.sub(zero, x), x) if signed else x
    if op == "sign":
        x = args[0]
        if not signed:
            return b.zext(b.icmp_unsigned("!=", x, zero), ty)
        pos = b.zext(b.icmp_signed(">", x, zero), ty)
        neg = b.zext(b.icmp_signed("<", x, zero), ty)
        return b.sub(pos, neg)
    if op == "max":
        cmp = b.icmp_signed if signed else b.icmp_unsigned
        return b.select(cmp(">", args[0], args[1]), args[0], args[1])
    if op == "min":
        cmp = b.icmp_signed if signed else b.icmp_unsigned
        return b.select(cmp("<", args[0], args[1]), args[0], args[1])
    if op in ("floordiv", "mod"):
        return _int_divmod(b, op, ty, signed, *args)
    if op == "pow":
        return _int_pow(b, ty, signed, *args)
    raise NotImplementedError(f"integer primitive {op} on {dt}")


def _int_divmod(b: ir.IRBuilder, op: str, ty: ir.Type, signed: bool, a: ir.Value, d: ir.Value) -> ir.Value:
    """Floor division / modulo (the divisor's sign) for integers; by 0 gives 0; ``MIN // -1``
    wraps to MIN (and its modulo is 0). The divisor is made safe before dividing: LLVM's
    division by 0, or of MIN by -1, is undefined behaviour."""
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    is_zero = b.icmp_unsigned("==", d, zero)
    if not signed:
        safe = b.select(is_zero, one, d)
        r = b.udiv(a, safe) if op == "floordiv" else b.urem(a, safe)
        return b.select(is_zero, zero, r)
    minus_one = b.icmp_signed("==", d, ir.Constant(ty, -1))
    safe = b.select(b.or_(is_zero, minus_one), one, d)
    q = b.sdiv(a, safe)
    r = b.srem(a, safe)
    # Truncated -> floored: when the remainder is not 0 and its sign differs from d's.
    adjust = b.and_(
        b.icmp_signed("!=", r, zero), b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", d, zero))
    )
    if op == "floordiv":
        q = b.select(adjust, b.sub(q, one), q)
        q = b.select(minus_one, b.sub(zero, a), q)
        return b.select(is_zero, zero, q)
    r = b.select(adjust, b.add(r, d), r)
    return b.select(b.or_(is_zero, minus_one), zero, r)


def _int_pow(b: ir.IRBuilder, ty: ir.Type, signed: bool, x: ir.Value, y: ir.Value) -> ir.Value:
    """``x ** y`` by squaring, wrapping; a negative exponent gives the truncated result
    (1 for x == 1, +-1 for x == -1, else 0), as graphc.scalar's table says. Unrolled over
    the exponent's bits, so no loop breaks the enclosing loop's vectorisation."""
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    result, base, e = one, x, y
    for _ in range(ty.width):
        bit = b.trunc(b.and_(e, one), T.I1)
        result = b.select(bit, b.mul(result, base), result)
        base = b.mul(base, base)
        e = b.lshr(e, one)
    if not signed:
        return result
    neg = b.icmp_signed("<", y, zero)
    odd = b.trunc(b.and_(y, one), T.I1)
    neg_result = b.select(
        b.icmp_signed("==", x, one),
        one,
        b.select(b.icmp_signed("==", x, ir.Constant(ty, -1)), b.select(odd, ir.Constant(ty, -1), one), zero),
    )
    return b.select(neg, neg_result, result)


def cast(b: ir.IRBuilder, x: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """``x`` from ``src`` to ``dst`` by the cast primitive's rules."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return x
    st, dty = T.reg_type(src), T.reg_type(dst)
    if dst.kind == "b":
        if src.kind == "f":
            return b.fcmp_unordered("!=", x, ir.Constant(st, 0.0))
        return b.icmp_unsigned("!=", x, ir.Constant(st, 0))
    if src.kind == "b":
        return b.uitofp(x, dty) if dst.kind == "f" else b.zext(x, dty)
    if src.kind == "f" and dst.kind == "f":
        if src.itemsize < dst.itemsize:
            return b.fpext(x, dty)
        return b.fptrunc(x, dty)
    if src.kind == "f":
        name = "llvm.fptosi.sat" if dst.kind == "i" else "llvm.fptoui.sat"
        return b.call(intrinsic(b.module, name, dty, [st], [dty, st]), [x])
    if dst.kind == "f":
        return b.sitofp(x, dty) if src.kind == "i" else b.uitofp(x, dty)
    # Integer to integer: wraps.
    if st.width > dty.width:
        return b.trunc(x, dty)
    if st.width < dty.width:
        return b.sext(x, dty) if src.kind == "i" else b.zext(x, dty)
    return x


def combine(b: ir.IRBuilder, combiner: str, dtype: np.dtype, acc: ir.Value, x: ir.Value) -> ir.Value:
    """A reduction's combiner (``add``, ``mul``, ``max``, ``min``) as the scalar primitive (on
    each lane when ``acc`` and ``x`` are vectors)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return _float_op(b, combiner, dtype, [acc, x])
    if dtype.kind == "b":
        # Sums and products of bools are not reductions graphc makes; any/all are max/min.
        return b.or_(acc, x) if combiner in ("add", "max") else b.and_(acc, x)
    return _int_op(b, combiner, dtype, [acc, x])
