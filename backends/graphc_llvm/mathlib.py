"""Inline, vectorisable transcendentals for the LLVM backend.

Calls into libm stop LLVM's loop vectoriser, so every transcendental primitive of
``graphc/scalar.py`` is written here as straight-line LLVM IR: a range reduction, a
polynomial, and the special cases of graphc's edge-case table (``EDGE_CASES``) chosen by
``select`` rather than branches, so a loop calling these functions vectorises (each is
``alwaysinline`` and is gone after optimisation). No fast-math flag is used: NaN and
infinity handling relies on IEEE arithmetic; fused multiply-adds are explicit
(``llvm.fma``).

:func:`math_function` defines one function per (primitive, float type) in a module, once,
as ``graphc.<name>.f32`` / ``graphc.<name>.f64``. float32 is computed in float32
arithmetic (twice the vector width of float64), except ``pow``, whose float32 version
evaluates log and exp in float64 (exact enough that the float32 result is rounded once
from a near-exact value).

Algorithms (the polynomial coefficients are near-minimax fits, made by iteratively
reweighted least squares at Chebyshev nodes in 60-digit arithmetic, for each type):

- exp: x = n ln2 + r, |r| <= ln2/2 (Cody-Waite, ln2 in two parts, with FMA); n is
  rounded by adding 1.5 2^mant in the FMA x log2(e) + 1.5 2^mant and read as an integer
  from the sum's bits (no float-to-int conversion, which AVX2 lacks for float64);
  e^r = 1 + r + r^2/2 + r^3 Q(r); times 2^n as two powers of two, so results that
  overflow give inf and results in the denormal range are rounded once. A NaN argument
  passes the clamps and the polynomial as NaN (no select).
- exp_nonpos (not a graphc primitive: exp of an argument known to be <= 0, such as
  -|y| or -(y y), which scalars.py renders with it): e^r 2^(n + 64), then times 2^-64,
  rounding a denormal result once: exp's bits with one scaling.
- expm1: the same reduction (Q of one degree more: its error must be small next to
  e^r - 1); 2^n (e^r - 1) + (2^n - 1) in one FMA for small n, e^r 2^n for large n.
- log: x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f),
  log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) (the classic atanh arrangement, with our
  own R); denormals are scaled by 2^mant first.
- log1p: the same on u = 1 + x, with the rounding error of u added back as c/u.
- tanh: |x| < 0.55: x + x^3 T(x^2); else 1 - 2/(e^2|x| + 1), with 2|x| clamped where
  tanh rounds to 1 (so e^2|x| needs one scaling); the sign copied from x. (One formula
  for all x, t/(t + 2) with t = expm1(2|x|), measured 2.06 ulp for float32 and 2.27 for
  float64, over the bound.)
- sigmoid: e = exp_nonpos(-|x|); 1/(1 + e) for x >= 0, e/(1 + e) for x < 0 (never
  overflows).
- erf: |x| < 1: x E(x^2); else 1 - exp(-x^2) C(|x| - c), C a fit of erfc(x) e^(x^2);
  1 where erf rounds to 1.
- sin, cos: n = round(x 2/pi), r = x - n pi/2 with pi/2 in three parts (Cody-Waite with
  FMA), a sine or cosine polynomial on |r| <= pi/4 by the quadrant n mod 4.
- pow: exp(y log|x|) with C99 pow's special cases (Annex F.9.4.4, which graphc's edge
  table follows): pow(x, 0) = 1 and pow(1, y) = 1 even for NaN, negative base with a
  finite non-integer exponent NaN, the sign of a negative base to an odd integer power,
  pow(-1, +-inf) = 1, zeros and infinities by the signs. The float64 version carries
  log|x| and y log|x| as double-double values.
- sqrt, floor, ceil, round (half to even), abs, copysign, fma, min, max: LLVM
  intrinsics (``llvm.sqrt``, ``llvm.floor``, ``llvm.ceil``, ``llvm.roundeven``,
  ``llvm.fabs``, ``llvm.copysign``, ``llvm.fma``, ``llvm.minimum``, ``llvm.maximum``),
  which vectorise; min/max are IEEE 754-2019 minimum/maximum (NaN propagates, -0 < +0).

Accuracy. Measured maximum error in ulps of the result over dense sweeps of every binade
of both signs, random bit patterns and the special values (``tests/test_llvm_mathlib.py``),
against NumPy (float32: NumPy's float64 result; float64: NumPy's long double), and
guaranteed by that test (:data:`ACCURACY`):

=========  =======  =======
function   float32  float64
=========  =======  =======
exp        1.5      1.5
expm1      2        2
log        1        1
log1p      1        1
tanh       2        2
sigmoid    2.5      2.5
erf        1.5      1.5
sin        2        2
cos        2        2
pow        1        2
=========  =======  =======

sin and cos hold their bound for |x| <= 1e5 (float32) and |x| <= 1e9 (float64), where
the three-part pi/2 reduces exactly enough; beyond, the reduced argument is clamped to
[-pi/4, pi/4], so the result is a finite value in [-1, 1] (never NaN for finite input)
but not the correctly reduced sine. pow's float64 bound holds everywhere, including
|y log x| near the overflow threshold, where the error of log|x| is multiplied by y
(hence log|x| to about 2^-62 as a double-double).

Special values follow ``graphc/scalar.py`` ``EDGE_CASES`` (and IEEE/NumPy where the table
is silent): NaN in gives NaN out (pow: except pow(x, 0) and pow(1, y)); exp(-inf) = +0,
exp(+inf) = inf; expm1(-inf) = -1; log(+-0) = -inf, log(negative) = NaN, log(inf) = inf;
log1p(-1) = -inf, log1p(x < -1) = NaN; sin/cos(+-inf) = NaN; tanh/erf(+-inf) = +-1;
expm1, log1p, sin, tanh and erf keep the sign of a zero; overflow gives inf and underflow
0; denormal inputs and results are handled throughout.
"""

from __future__ import annotations

import decimal
import math
import struct
from collections.abc import Callable, Sequence

from llvmlite import ir

__all__ = ["ACCURACY", "NAMES", "TRIG_ACCURATE_RANGE", "math_function"]

F32 = ir.FloatType()
F64 = ir.DoubleType()

# Maximum error in ulps, per (primitive, dtype); see the table in the module docstring.
ACCURACY: dict[tuple[str, str], float] = {
    ("exp", "float32"): 1.5,
    ("exp", "float64"): 1.5,
    ("expm1", "float32"): 2.0,
    ("expm1", "float64"): 2.0,
    ("log", "float32"): 1.0,
    ("log", "float64"): 1.0,
    ("log1p", "float32"): 1.0,
    ("log1p", "float64"): 1.0,
    ("tanh", "float32"): 2.0,
    ("tanh", "float64"): 2.0,
    ("sigmoid", "float32"): 2.5,
    ("sigmoid", "float64"): 2.5,
    ("erf", "float32"): 1.5,
    ("erf", "float64"): 1.5,
    ("sin", "float32"): 2.0,
    ("sin", "float64"): 2.0,
    ("cos", "float32"): 2.0,
    ("cos", "float64"): 2.0,
    ("pow", "float32"): 1.0,
    ("pow", "float64"): 2.0,
}

# Where the sin/cos bound in ACCURACY holds (|x| at most this).
TRIG_ACCURATE_RANGE: dict[str, float] = {"float32": 1e5, "float64": 1e9}

# ---------------------------------------------------------------------------
# Constants, computed once in 50-digit decimal arithmetic and rounded to each type.

_CTX = decimal.Context(prec=50)  # a context of our own: the thread's is left alone
_LN2 = decimal.Decimal("0.69314718055994530941723212145817656807550013436026")
_PI = decimal.Decimal("3.1415926535897932384626433832795028841971693993751")
_LOG2E = _CTX.divide(1, _LN2)
_HALF_PI = _CTX.divide(_PI, 2)
_TWO_OVER_PI = _CTX.divide(2, _PI)
_SQRT_HALF = _CTX.divide(_CTX.sqrt(2), 2)


def _round(v: decimal.Decimal | float, ty: ir.Type) -> float:
    """``v`` rounded to the nearest value of ``ty`` (as a Python float)."""
    f = float(v)
    if ty == F32:
        return struct.unpack("<f", struct.pack("<f", f))[0]
    return f


def _short(v: decimal.Decimal, bits: int) -> float:
    """``v`` rounded to ``bits`` significant bits: products with small integers stay exact."""
    m, e = math.frexp(float(v))
    return math.ldexp(round(m * 2**bits), e - bits)


def _parts(v: decimal.Decimal, ty: ir.Type, n: int) -> list[float]:
    """``v`` as a sum of ``n`` values of ``ty``, each the rounded remainder of the ones before."""
    out = []
    rest = v
    for _ in range(n):
        p = _round(rest, ty)
        out.append(p)
        rest = _CTX.subtract(rest, decimal.Decimal(p))
    return out


class _Fmt:
    """The binary layout of an IEEE type."""

    def __init__(self, ty: ir.Type) -> None:
        self.ty = ty
        self.wide = ty == F64
        self.bits = 64 if self.wide else 32
        self.mant = 52 if self.wide else 23  # explicit significand bits
        self.bias = 1023 if self.wide else 127
        self.ity = ir.IntType(self.bits)
        self.suffix = "f64" if self.wide else "f32"

    def to_bits(self, v: float) -> int:
        if self.wide:
            return struct.unpack("<q", struct.pack("<d", v))[0]
        return struct.unpack("<i", struct.pack("<f", v))[0]


# ---------------------------------------------------------------------------
# Polynomial coefficients, lowest degree first, per type (see the module docstring).

# (e^r - 1 - r - r^2/2) / r^3 on |r| <= ln2/2.
_EXPM1_Q = {
    "f32": [0.1666666567325592, 0.041666481643915176, 0.0083334194496274, 0.0013933253940194845,
            0.00019824120681732893],
    "f64": [0.16666666666666677, 0.04166666666666658, 0.008333333333322156, 0.0013888888888942347,
            0.00019841269884949544, 2.4801587198943354e-05, 2.755724528788987e-06, 2.755738638435508e-07,
            2.5108688454078527e-08, 2.08791228654863e-09],
}  # fmt: skip
# The same for e^r alone, where an error need only be small next to e^r (not next to
# e^r - 1): weighted by r^3 / e^r, one degree fewer.
_EXP_Q = {
    "f32": [0.16666534543037415, 0.041667237877845764, 0.00836748257279396, 0.0013863785425201058],
    "f64": [0.16666666666666433, 0.041666666666603944, 0.008333333333500054, 0.0013888888926801813,
            0.00019841269466197844, 2.4801508674848278e-05, 2.7557640870757283e-06, 2.7625190191705337e-07,
            2.4978383503038064e-08],
}  # fmt: skip
# (2 atanh(s)/s - 2) / z, z = s^2 <= ((sqrt2 - 1)/(sqrt2 + 1))^2.
_LOG_P = {
    "f32": [0.6666666269302368, 0.4000033438205719, 0.2853729724884033, 0.23582349717617035],
    # 2/3 and a fit of the rest with 2/3 held exact (log_dd uses 2/3 as a double-double).
    "f64": [0.6666666666666666, 0.4000000000000226, 0.2857142857009812, 0.2222222252015316,
            0.18181784348941238, 0.15386758097272035, 0.1325680125966712, 0.13196471330634835],
}  # fmt: skip
# The reduced argument's bound: pi/4, plus what a wrong choice of n next to a half-integer
# x 2/pi (rounded, then rounded half to even) adds within the accurate range (float32:
# up to 2^-8 pi/2 at |x| <= 1e5).
_TRIG_R = {"f32": 0.795, "f64": 0.7858}
# (sin r - r) / r^3 as a polynomial in z = r^2, |r| <= _TRIG_R.
_SIN_S = {
    "f32": [-0.1666666716337204, 0.008333329111337662, -0.00019839213928207755, 2.7171961392014055e-06],
    "f64": [-0.16666666666666666, 0.008333333333333323, -0.00019841269841254717, 2.7557319214022278e-06,
            -2.505210487070251e-08, 1.6058361733624596e-10, -7.578468707423468e-13],
}  # fmt: skip
# (cos r - 1 + z/2) / z^2, z = r^2, |r| <= _TRIG_R.
_COS_C = {
    "f32": [0.0416666679084301, -0.0013888883404433727, 2.4799352104309946e-05, -2.719702933973167e-07],
    "f64": [0.041666666666666664, -0.0013888888888888872, 2.4801587301570466e-05, -2.7557319214963113e-07,
            2.0876754278836353e-09, -1.1470283908122629e-11, 4.73770857622568e-14],
}  # fmt: skip
# (tanh a - a) / a^3 in z = a^2, a < 0.55.
_TANH_T = {
    "f32": [-0.33333316445350647, 0.13332585990428925, -0.05385230481624603, 0.0210716649889946,
            -0.006274220999330282],
    "f64": [-0.333333333333333, 0.13333333333326622, -0.05396825396376207, 0.02186948838590012,
            -0.008863232602180473, 0.003592092037906182, -0.00145554289343395, 0.0005884446797453122,
            -0.00023338204987746367, 8.331713006782741e-05, -1.9495101497778676e-05],
}  # fmt: skip
_TANH_SMALL = 0.55
# erf(x) / x in z = x^2, x < 1; the constant term as hi + lo (its rounding alone would
# cost most of an ulp).
_ERF_E = {
    "f32": [1.1283791065216064, 5.9205060409794896e-08, -0.3761262595653534, 0.1128358542919159,
            -0.026853810995817184, 0.00518832728266716, -0.000801019137725234, 7.85385345807299e-05],
    "f64": [1.1283791670955126, 7.088801108251122e-18, -0.3761263890318352, 0.11283791670944185,
            -0.02686617064311158, 0.005223977606120629, -0.0008548325929463506, 0.00012055293582436886,
            -1.492471242489535e-05, 1.6447133251159506e-06, -1.6206327633985157e-07, 1.3711043949007396e-08,
            -7.779592454875642e-10],
}  # fmt: skip
# erfc(x) e^(x^2) in t = x - centre, 1 <= x <= the point where erf rounds to 1 (weighted by
# e^(-x^2): the absolute error of erfc is what reaches erf = 1 - erfc).
_ERFC_C = {
    "f32": [0.21268191933631897, -0.07560333609580994, 0.02553136833012104, -0.008371947333216667,
            0.002388143679127097, -0.0007313489331863821, 0.0005183627945370972, 0.00021050963550806046,
            0.00010817357542691752],
    "f64": [0.1563334502863935, -0.041861687601202034, 0.010864085875333005, -0.0027393262194557668,
            0.0006724632766478782, -0.00016100668027209663, 3.765647788341142e-05, -8.611368150785334e-06,
            1.9340372233950694e-06, -4.241287366544206e-07, 8.607771342862587e-08, -2.4723694131895178e-08,
            2.9142283683513e-09, 1.3494974411354805e-09, 2.34324426722964e-09, 7.306024813791748e-10,
            -9.696319044740822e-11, -2.2107972710834802e-10, -1.0185983788225007e-10,
            -2.542238728889607e-11, -3.482531139766296e-12, -2.160571398138121e-13],
}  # fmt: skip
_ERFC_CENTRE = {"f32": 2.475, "f64": 3.475}
_ERF_ONE = {"f32": 3.95, "f64": 5.95}  # erf(x) rounds to 1 from here on


# ---------------------------------------------------------------------------
# An emitter: IR builder helpers for one float type.


class _E:
    def __init__(self, builder: ir.IRBuilder, ty: ir.Type) -> None:
        self.b = builder
        self.f = _Fmt(ty)
        self.ty = ty
        self.module: ir.Module = builder.module

    # constants
    def c(self, v: float) -> ir.Constant:
        return ir.Constant(self.ty, _round(v, self.ty))

    def ic(self, v: int) -> ir.Constant:
        return ir.Constant(self.f.ity, v)

    # intrinsics
    def intr(self, name: str, *args: ir.Value) -> ir.Value:
        fn = _intrinsic(self.module, name, self.ty, len(args))
        return self.b.call(fn, args)

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        return self.b.call(math_function(self.module, name, self.ty), args)

    # arithmetic
    def add(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fadd(a, b)

    def sub(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fsub(a, b)

    def mul(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fmul(a, b)

    def div(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fdiv(a, b)

    def neg(self, a: ir.Value) -> ir.Value:
        return self.b.fneg(a)

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        return self.intr("fma", a, b, c)

    def abs(self, a: ir.Value) -> ir.Value:
        return self.intr("fabs", a)

    def rint(self, a: ir.Value) -> ir.Value:
        return self.intr("roundeven", a)

    def floor(self, a: ir.Value) -> ir.Value:
        return self.intr("floor", a)

    def copysign(self, mag: ir.Value, sign: ir.Value) -> ir.Value:
        return self.intr("copysign", mag, sign)

    def poly(self, t: ir.Value, coeffs: Sequence[float]) -> ir.Value:
        """sum coeffs[k] t^k by Horner's rule with FMAs."""
        acc: ir.Value = self.c(coeffs[-1])
        for k in range(len(coeffs) - 2, -1, -1):
            acc = self.fma(acc, t, self.c(coeffs[k]))
        return acc

    # comparisons (ordered: false when either is NaN, except ``ne``)
    def cmp(self, op: str, a: ir.Value, b: ir.Value | float) -> ir.Value:
        if not isinstance(b, ir.Value):
            b = self.c(b)
        if op == "!=":
            return self.b.fcmp_unordered("!=", a, b)
        return self.b.fcmp_ordered(op, a, b)

    def isnan(self, a: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", a, a)

    def finite(self, a: ir.Value) -> ir.Value:
        return self.cmp("<", self.abs(a), math.inf)

    def sel(self, cond: ir.Value, a: ir.Value | float, b: ir.Value | float) -> ir.Value:
        if not isinstance(a, ir.Value):
            a = self.c(a)
        if not isinstance(b, ir.Value):
            b = self.c(b)
        return self.b.select(cond, a, b)

    # bits
    def bits(self, a: ir.Value) -> ir.Value:
        return self.b.bitcast(a, self.f.ity)

    def from_bits(self, i: ir.Value) -> ir.Value:
        return self.b.bitcast(i, self.ty)

    def signbit(self, a: ir.Value) -> ir.Value:
        return self.b.icmp_signed("<", self.bits(a), self.ic(0))

    def pow2(self, n: ir.Value) -> ir.Value:
        """2^n for an integer n in the normal exponent range."""
        e = self.b.add(n, self.ic(self.f.bias))
        return self.from_bits(self.b.shl(e, self.ic(self.f.mant)))

    def to_int(self, a: ir.Value) -> ir.Value:
        return self.b.fptosi(a, self.f.ity)


def _intrinsic(module: ir.Module, name: str, ty: ir.Type, nargs: int) -> ir.Function:
    """The declaration of ``llvm.<name>.f32/f64`` in ``module`` (declared once)."""
    full = f"llvm.{name}.{_Fmt(ty).suffix}"
    found = module.globals.get(full)
    if found is not None:
        return found
    return ir.Function(module, ir.FunctionType(ty, [ty] * nargs), name=full)


# ---------------------------------------------------------------------------
# The primitives. Each takes an emitter and its operands and returns the result.


def _clamp(e: _E, x: ir.Value, lo: float, hi: float) -> ir.Value:
    """x clamped to [lo, hi], NaN replaced by 0 (so that no later conversion sees NaN; the
    caller selects the NaN result at the end)."""
    x1 = e.sel(e.cmp(">", x, hi), hi, x)
    x1 = e.sel(e.cmp("<", x1, lo), lo, x1)
    return e.sel(e.isnan(x), 0.0, x1)


def _clamp_keep_nan(e: _E, x: ir.Value, lo: float | None, hi: float | None) -> ir.Value:
    """x clamped to [lo, hi] (a bound None: none), NaN passed through (each bound one
    vector min or max)."""
    if hi is not None:
        x = e.sel(e.cmp(">", x, hi), hi, x)
    if lo is not None:
        x = e.sel(e.cmp("<", x, lo), lo, x)
    return x


def _exp_reduce(e: _E, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """n = x / ln2 rounded to an integer, as a float and as an integer, and r = x - n ln2,
    for |x| < 2^(mant - 2). n is rounded by adding 1.5 2^mant (whose ulp is 1) in the same
    FMA as the product, and the integer is read from the sum's bits: no conversion, and a
    NaN x gives a NaN r (and some integer) without undefined behaviour, so NaN reaches the
    result through the polynomial. With FMA, x - n ln2_hi is exact (its bits span less
    than one significand), so r has one rounding error (of relative size 2^-mant)."""
    ln2_hi, ln2_lo = _parts(_LN2, e.ty, 2)
    magic = 1.5 * 2.0**e.f.mant
    t = e.fma(x, e.c(float(_LOG2E)), e.c(magic))
    n = e.sub(t, e.c(magic))
    ni = e.b.sub(e.bits(t), e.ic(e.f.to_bits(magic)))
    nn = e.neg(n)
    r = e.fma(nn, e.c(ln2_hi), x)
    r = e.fma(nn, e.c(ln2_lo), r)
    return n, ni, r


def _expm1_core(e: _E, r: ir.Value) -> ir.Value:
    """e^r - 1 = r + r^2 (1/2 + r Q(r)) on |r| <= ln2/2, with a relative error ~2^-mant."""
    q = e.poly(r, _EXPM1_Q[e.f.suffix])
    return e.fma(e.mul(r, r), e.fma(r, q, e.c(0.5)), r)


def _exp_core(e: _E, r: ir.Value) -> ir.Value:
    """e^r = 1 + (r + r^2 (1/2 + r Q(r))) on |r| <= ln2/2 (_EXP_Q's fit)."""
    q = e.poly(r, _EXP_Q[e.f.suffix])
    return e.add(e.c(1.0), e.fma(e.mul(r, r), e.fma(r, q, e.c(0.5)), r))


def _scale(e: _E, p: ir.Value, ni: ir.Value) -> ir.Value:
    """p 2^ni for an integer ni (an integer value) beyond the normal exponent range (down
    to the denormals and up to overflow): two normal powers of two, so the product rounds
    once."""
    n1 = e.b.ashr(ni, e.ic(1))
    n2 = e.b.sub(ni, n1)
    return e.mul(e.mul(p, e.pow2(n1)), e.pow2(n2))


# exp's input range: below lo the result rounds to +0, above hi it overflows.
_EXP_LIMITS = {"f32": (-104.0, 88.8), "f64": (-745.2, 709.9)}


def _exp(e: _E, x: ir.Value) -> ir.Value:
    lo, hi = _EXP_LIMITS[e.f.suffix]
    _, ni, r = _exp_reduce(e, _clamp_keep_nan(e, x, lo, hi))
    return _scale(e, _exp_core(e, r), ni)  # NaN stays NaN


def _expm1(e: _E, x: ir.Value) -> ir.Value:
    _, hi = _EXP_LIMITS[e.f.suffix]
    # Below lo, e^x < 2^-(mant+2): the result rounds to -1.
    lo = -18.0 if not e.f.wide else -40.0
    n, ni, r = _exp_reduce(e, _clamp_keep_nan(e, x, lo, hi))
    em = _expm1_core(e, r)
    # Small n: 2^n em + (2^n - 1) in one FMA (2^n - 1 is exact for n <= mant + 1).
    big_n = e.cmp(">", n, float(e.f.mant + 1))
    s = e.pow2(e.b.select(big_n, e.ic(0), ni))
    small = e.fma(s, em, e.sub(s, e.c(1.0)))
    # Large n: the -1 is below half an ulp of e^x.
    large = _scale(e, e.add(e.c(1.0), em), ni)
    y = e.sel(big_n, large, small)  # NaN stays NaN
    return e.sel(e.cmp("==", x, 0.0), x, y)  # keeps the sign of a zero


def _split_log(e: _E, u: ir.Value) -> tuple[ir.Value, ir.Value]:
    """u = 2^k m with m in [sqrt(1/2), sqrt(2)) for a positive normal u: (k as a float, m)."""
    off = e.f.to_bits(_round(_SQRT_HALF, e.ty))
    ix = e.b.sub(e.bits(u), e.ic(off))
    k = e.b.ashr(ix, e.ic(e.f.mant))
    mb = e.b.add(e.b.and_(ix, e.ic((1 << e.f.mant) - 1)), e.ic(off))
    return e.b.sitofp(k, e.ty), e.from_bits(mb)


def _ln2_split(e: _E) -> tuple[float, float]:
    """ln2 as hi + lo, hi short enough that k * hi is exact for every exponent k."""
    hi = _short(_LN2, 42 if e.f.wide else 16)
    return hi, _round(_CTX.subtract(_LN2, decimal.Decimal(hi)), e.ty)


def _log1p_of_m(e: _E, f: ir.Value) -> tuple[ir.Value, ir.Value]:
    """For f = m - 1: (s (f^2/2 + R), f^2/2), with log(1 + f) = f - f^2/2 + s (f^2/2 + R)."""
    s = e.div(f, e.add(e.c(2.0), f))
    z = e.mul(s, s)
    big_r = e.mul(z, e.poly(z, _LOG_P[e.f.suffix]))
    hfsq = e.mul(e.mul(e.c(0.5), f), f)
    return e.mul(s, e.add(hfsq, big_r)), hfsq


def _log(e: _E, x: ir.Value) -> ir.Value:
    tiny = e.cmp("<", x, 2.0 ** (1 - e.f.bias))  # denormals (and what the selects below replace)
    xs = e.sel(tiny, e.mul(x, e.c(2.0**e.f.mant)), x)
    dk, m = _split_log(e, xs)
    dk = e.sub(dk, e.sel(tiny, float(e.f.mant), 0.0))
    f = e.sub(m, e.c(1.0))
    t, hfsq = _log1p_of_m(e, f)
    ln2_hi, ln2_lo = _ln2_split(e)
    # Small terms first; k ln2_hi (exact) last.
    y = e.add(t, e.mul(dk, e.c(ln2_lo)))
    y = e.sub(y, hfsq)
    y = e.add(y, f)
    y = e.add(y, e.mul(dk, e.c(ln2_hi)))
    y = e.sel(e.cmp("==", x, math.inf), math.inf, y)
    y = e.sel(e.cmp("==", x, 0.0), -math.inf, y)
    y = e.sel(e.cmp("<", x, 0.0), math.nan, y)
    return e.sel(e.isnan(x), x, y)


def _log1p(e: _E, x: ir.Value) -> ir.Value:
    u = e.add(e.c(1.0), x)
    dk, m = _split_log(e, u)
    f = e.sub(m, e.c(1.0))
    # c: the rounding error of u = 1 + x, exact; log(1 + x) = log(u) + c/u to first order.
    c_hi = e.sub(e.c(1.0), e.sub(u, x))
    c_lo = e.sub(x, e.sub(u, e.c(1.0)))
    c = e.div(e.sel(e.cmp(">=", dk, 2.0), c_hi, c_lo), u)
    t, hfsq = _log1p_of_m(e, f)
    ln2_hi, ln2_lo = _ln2_split(e)
    y = e.add(t, e.add(e.mul(dk, e.c(ln2_lo)), c))
    y = e.sub(y, hfsq)
    y = e.add(y, f)
    y = e.add(y, e.mul(dk, e.c(ln2_hi)))
    y = e.sel(e.cmp("==", x, math.inf), math.inf, y)
    y = e.sel(e.cmp("==", x, -1.0), -math.inf, y)
    y = e.sel(e.cmp("<", x, -1.0), math.nan, y)
    y = e.sel(e.cmp("==", x, 0.0), x, y)  # keeps the sign of a zero
    return e.sel(e.isnan(x), x, y)


def _exp_in_range(e: _E, x: ir.Value, lo: float | None, hi: float | None, bias: int = 0) -> ir.Value:
    """e^x for x clamped to [lo, hi] (NaN stays NaN), for callers whose clamped range keeps
    e^x 2^bias and 2^-bias normal: one power of two scales the polynomial exactly, and with
    a bias a second multiplication (by 2^-bias) rounds a result in the denormal range once.
    Cheaper than exp: one scaling where exp needs two, and no overflow to guard."""
    _, ni, r = _exp_reduce(e, _clamp_keep_nan(e, x, lo, hi))
    y = e.mul(_exp_core(e, r), e.pow2(e.b.add(ni, e.ic(bias))))
    return y if bias == 0 else e.mul(y, e.c(2.0**-bias))


# tanh(a) rounds to 1 from a = _TANH_ONE / 2 on (2 / (e^2a + 1) is below a quarter of
# an ulp of 1 there); 2a is clamped to this, where e^2a is still a normal number.
_TANH_ONE = {"f32": 20.0, "f64": 40.0}


def _tanh(e: _E, x: ir.Value) -> ir.Value:
    a = e.abs(x)
    z = e.mul(a, a)
    small = e.fma(e.mul(a, z), e.poly(z, _TANH_T[e.f.suffix]), a)
    # a >= 0.55: 1 - 2 / (e^2a + 1), with e^2a > 3 (nothing cancels).
    ex = _exp_in_range(e, e.add(a, a), None, _TANH_ONE[e.f.suffix])
    large = e.sub(e.c(1.0), e.div(e.c(2.0), e.add(ex, e.c(1.0))))
    y = e.sel(e.cmp("<", a, _TANH_SMALL), small, large)  # NaN: large, NaN
    return e.copysign(y, x)


# e^x 2^_NONPOS_BIAS for x <= 0 is normal down to exp's lower limit (and 2^-64 is normal).
_NONPOS_BIAS = 64


def _exp_nonpos(e: _E, x: ir.Value) -> ir.Value:
    """e^x for x <= 0 or NaN (what a positive x gives is unspecified): exp's results for
    those, with one scaling instead of two."""
    lo, _ = _EXP_LIMITS[e.f.suffix]
    return _exp_in_range(e, x, lo, None, _NONPOS_BIAS)


def _sigmoid(e: _E, x: ir.Value) -> ir.Value:
    """1/(1 + e) for x >= 0, e/(1 + e) for x < 0, e = e^-|x| (never overflows)."""
    ex = _exp_nonpos(e, e.neg(e.abs(x)))
    d = e.add(e.c(1.0), ex)
    return e.div(e.sel(e.cmp(">=", x, 0.0), e.c(1.0), ex), d)  # NaN: e is NaN


def _erf(e: _E, x: ir.Value) -> ir.Value:
    sfx = e.f.suffix
    a = e.abs(x)
    c0_hi, c0_lo, *rest = _ERF_E[sfx]
    z = e.mul(a, a)
    small = e.fma(a, e.c(c0_hi), e.mul(a, e.fma(z, e.poly(z, rest), e.c(c0_lo))))
    one = _ERF_ONE[sfx]
    ac = e.sel(e.cmp(">", a, one), one, e.sel(e.cmp("<", a, 1.0), 1.0, a))
    tail = e.poly(e.sub(ac, e.c(_ERFC_CENTRE[sfx])), _ERFC_C[sfx])
    erfc = e.mul(e.call("exp", e.neg(e.mul(ac, ac))), tail)
    y = e.sel(e.cmp("<", a, 1.0), small, e.sub(e.c(1.0), erfc))
    y = e.sel(e.cmp(">=", a, one), 1.0, y)
    y = e.copysign(y, x)
    return e.sel(e.isnan(x), x, y)


def _sincos(e: _E, x: ir.Value, cosine: bool) -> ir.Value:
    fin = e.finite(x)
    xs = e.sel(fin, x, 0.0)
    n = e.rint(e.mul(xs, e.c(float(_TWO_OVER_PI))))
    c1, c2, c3 = _parts(_HALF_PI, e.ty, 3)
    nn = e.neg(n)
    r = e.fma(nn, e.c(c1), xs)
    r = e.fma(nn, e.c(c2), r)
    r = e.fma(nn, e.c(c3), r)
    # Beyond the accurate range r may be anything; clamping keeps the result in [-1, 1].
    lim = _TRIG_R[e.f.suffix]
    r = e.sel(e.cmp(">", r, lim), lim, e.sel(e.cmp("<", r, -lim), -lim, r))
    # The quadrant n mod 4, exactly in floating point (n may exceed every integer type).
    q = e.sub(n, e.mul(e.c(4.0), e.floor(e.mul(n, e.c(0.25)))))
    qi = e.b.fptosi(q, ir.IntType(32))
    if cosine:
        qi = e.b.add(qi, ir.Constant(ir.IntType(32), 1))
    z = e.mul(r, r)
    sin_r = e.fma(e.mul(r, z), e.poly(z, _SIN_S[e.f.suffix]), r)
    cos_r = e.fma(e.mul(z, z), e.poly(z, _COS_C[e.f.suffix]), e.fma(z, e.c(-0.5), e.c(1.0)))
    i32 = ir.IntType(32)
    odd = e.b.icmp_unsigned("!=", e.b.and_(qi, ir.Constant(i32, 1)), ir.Constant(i32, 0))
    flip = e.b.icmp_unsigned("!=", e.b.and_(qi, ir.Constant(i32, 2)), ir.Constant(i32, 0))
    v = e.sel(odd, cos_r, sin_r)
    v = e.sel(flip, e.neg(v), v)
    if not cosine:
        v = e.sel(e.cmp("==", x, 0.0), x, v)  # keeps the sign of a zero
    return e.sel(fin, v, e.sub(x, x))  # inf - inf and NaN - NaN are NaN


def _sin(e: _E, x: ir.Value) -> ir.Value:
    return _sincos(e, x, cosine=False)


def _cos(e: _E, x: ir.Value) -> ir.Value:
    return _sincos(e, x, cosine=True)


def _fast2sum(e: _E, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """s + t = a + b exactly, s = fl(a + b), for |a| >= |b| (or a = 0)."""
    s = e.add(a, b)
    return s, e.add(e.sub(a, s), b)


def _two_prod(e: _E, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """p + q = a b exactly, p = fl(a b) (barring underflow), by FMA."""
    p = e.mul(a, b)
    return p, e.fma(a, b, e.neg(p))


def _log_dd(e: _E, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log(x) for a positive finite x as hi + lo, relative error ~2^-(mant+10).

    log(1 + f) = 2 atanh(s) = 2s + (2/3) s^3 + s^5 P2(s^2): s = s_hi + s_lo, the first two
    terms as exact products and sums (they decide the bits below 2^-mant), the rest and
    the cross term 2 s^2 s_lo in plain arithmetic (they are 2^-12 of the result)."""
    tiny = e.cmp("<", x, 2.0 ** (1 - e.f.bias))
    xs = e.sel(tiny, e.mul(x, e.c(2.0**e.f.mant)), x)
    dk, m = _split_log(e, xs)
    dk = e.sub(dk, e.sel(tiny, float(e.f.mant), 0.0))
    f = e.sub(m, e.c(1.0))
    t_hi, t_lo = _fast2sum(e, e.c(2.0), f)
    s_hi = e.div(f, t_hi)
    # f - s_hi (t_hi + t_lo), with f - s_hi t_hi exact by FMA; s_lo = that / t.
    res = e.sub(e.fma(e.neg(s_hi), t_hi, f), e.mul(s_hi, t_lo))
    s_lo = e.div(res, t_hi)
    # s^3 as s3_hi + s3_lo, then (2/3) s^3 as c_hi + c_lo.
    z_hi, z_lo = _two_prod(e, s_hi, s_hi)
    s3_hi, s3_lo = _two_prod(e, s_hi, z_hi)
    s3_lo = e.fma(s_hi, z_lo, s3_lo)
    two_thirds_hi, two_thirds_lo = _parts(_CTX.divide(2, 3), e.ty, 2)
    c_hi, c_lo = _two_prod(e, e.c(two_thirds_hi), s3_hi)
    c_lo = e.fma(e.c(two_thirds_hi), s3_lo, e.fma(e.c(two_thirds_lo), s3_hi, c_lo))
    rest = e.mul(e.mul(s3_hi, z_hi), e.poly(z_hi, _LOG_P[e.f.suffix][1:]))
    cross = e.mul(e.add(s_lo, s_lo), e.add(e.c(1.0), z_hi))  # 2 s_lo (1 + s^2)
    l_hi, l_lo = _fast2sum(e, e.add(s_hi, s_hi), c_hi)
    l_lo = e.add(l_lo, e.add(c_lo, e.add(cross, rest)))
    ln2_hi, ln2_lo = _ln2_split(e)
    h, lo = _fast2sum(e, e.mul(dk, e.c(ln2_hi)), l_hi)
    lo = e.add(lo, e.add(l_lo, e.mul(dk, e.c(ln2_lo))))
    return _fast2sum(e, h, lo)


def _exp_dd(e: _E, hi: ir.Value, lo: ir.Value) -> ir.Value:
    """e^(hi + lo) for |lo| <= ulp(hi) (lo need not be finite when hi is not)."""
    lo_lim, hi_lim = _EXP_LIMITS[e.f.suffix]
    _, ni, r = _exp_reduce(e, _clamp(e, hi, lo_lim, hi_lim))
    # lo only where hi was not clamped (then it may be as large as ulp(hi) > 1, or NaN).
    inside = e.b.and_(e.cmp(">=", hi, lo_lim), e.cmp("<=", hi, hi_lim))
    r = e.add(r, e.sel(inside, lo, 0.0))
    y = _scale(e, e.add(e.c(1.0), _expm1_core(e, r)), ni)
    return e.sel(e.isnan(hi), hi, y)


def _pow_specials(e: _E, x: ir.Value, y: ir.Value, mag: ir.Value) -> ir.Value:
    """C99 pow's special cases around mag = exp(y log|x|)."""
    y_int = e.cmp("==", e.rint(y), y)  # true for +-inf
    half = e.mul(y, e.c(0.5))
    y_odd = e.b.and_(y_int, e.cmp("!=", e.rint(half), half))
    r = e.sel(e.b.and_(e.signbit(x), y_odd), e.neg(mag), mag)
    neg_finite = e.b.and_(e.cmp("<", x, 0.0), e.cmp(">", x, -math.inf))
    non_int = e.b.and_(e.b.not_(y_int), e.cmp("==", y, y))
    r = e.sel(e.b.and_(neg_finite, non_int), math.nan, r)
    r = e.sel(e.b.and_(e.cmp("==", e.abs(x), 1.0), e.cmp("==", e.abs(y), math.inf)), 1.0, r)
    r = e.sel(e.cmp("==", x, 1.0), 1.0, r)
    return e.sel(e.cmp("==", y, 0.0), 1.0, r)


def _pow(e: _E, x: ir.Value, y: ir.Value) -> ir.Value:
    if not e.f.wide:
        # float32 in float64: exp and log to 2^-52 give y log|x| and the result to far
        # below a float32 ulp; the result is rounded to float32 once more.
        d = _E(e.b, F64)
        xd, yd = e.b.fpext(x, F64), e.b.fpext(y, F64)
        mag = d.call("exp", d.mul(yd, d.call("log", d.abs(xd))))
        return e.b.fptrunc(_pow_specials(d, xd, yd, mag), F32)
    ax = e.abs(x)
    l_hi, l_lo = _log_dd(e, ax)
    # log|x| for 0, inf and NaN: its own special values (the double-double parts are garbage).
    l_hi = e.sel(e.cmp("==", ax, 0.0), -math.inf, l_hi)
    l_hi = e.sel(e.cmp("==", ax, math.inf), math.inf, l_hi)
    l_hi = e.sel(e.isnan(ax), ax, l_hi)
    p_hi, p_lo = _two_prod(e, y, l_hi)
    p_lo = e.fma(y, l_lo, p_lo)
    return _pow_specials(e, x, y, _exp_dd(e, p_hi, p_lo))


def _intrinsic_op(name: str, nargs: int) -> Callable[..., ir.Value]:
    def gen(e: _E, *args: ir.Value) -> ir.Value:
        return e.b.call(_intrinsic(e.module, name, e.ty, nargs), args)

    return gen


# name -> (arity, generator)
_GENERATORS: dict[str, tuple[int, Callable[..., ir.Value]]] = {
    "exp": (1, _exp),
    "exp_nonpos": (1, _exp_nonpos),
    "expm1": (1, _expm1),
    "log": (1, _log),
    "log1p": (1, _log1p),
    "sin": (1, _sin),
    "cos": (1, _cos),
    "tanh": (1, _tanh),
    "erf": (1, _erf),
    "sigmoid": (1, _sigmoid),
    "pow": (2, _pow),
    "sqrt": (1, _intrinsic_op("sqrt", 1)),
    "floor": (1, _intrinsic_op("floor", 1)),
    "ceil": (1, _intrinsic_op("ceil", 1)),
    "round": (1, _intrinsic_op("roundeven", 1)),
    "abs": (1, _intrinsic_op("fabs", 1)),
    "copysign": (2, _intrinsic_op("copysign", 2)),
    "fma": (3, _intrinsic_op("fma", 3)),
    "min": (2, _intrinsic_op("minimum", 2)),
    "max": (2, _intrinsic_op("maximum", 2)),
}

NAMES: tuple[str, ...] = tuple(_GENERATORS)


def math_function(module: ir.Module, name: str, ty: ir.FloatType | ir.DoubleType) -> ir.Function:
    """The function ``graphc.<name>.f32`` / ``.f64`` computing primitive ``name`` on one
    scalar of ``ty``, defined in ``module`` on first use (internal, ``alwaysinline``,
    ``nounwind``, ``readnone``; straight-line code, so a loop calling it vectorises).

    ``name`` is one of :data:`NAMES`; ``pow``, ``copysign``, ``min`` and ``max`` take two
    operands and ``fma`` three."""
    if ty != F32 and ty != F64:
        raise TypeError(f"math_function takes float or double, not {ty}")
    if name not in _GENERATORS:
        raise KeyError(f"no math function {name!r}; known: {', '.join(NAMES)}")
    fmt = _Fmt(ty)
    mangled = f"graphc.{name}.{fmt.suffix}"
    found = module.globals.get(mangled)
    if found is not None:
        return found
    arity, gen = _GENERATORS[name]
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * arity), name=mangled)
    fn.linkage = "internal"
    for attr in ("alwaysinline", "nounwind", "readnone"):
        fn.attributes.add(attr)
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(gen(_E(builder, ty), *fn.args))
    return fn
