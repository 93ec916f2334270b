"""The LLVM backend's inline transcendentals (backends/graphc_llvm/mathlib.py), run as
compiled, optimised loops and compared with NumPy.

Each function is called from a loop kernel ``void k(T* in..., T* out, i64 n)``; all the
kernels live in one module, optimised and loaded once for the file. References: float32
results against NumPy's float64 result (error in ulps of the float32 result), float64
results against NumPy's long double (``math.erf`` for erf, which NumPy lacks). Inputs:
bit patterns evenly spaced over every binade of both signs (so every exponent, denormals
included, gets the same number of points), random bit patterns, windows around each
function's thresholds, and the special values, checked bit for bit (NaN as NaN, the sign
of a zero).
"""

from __future__ import annotations

import ctypes
import math
import re
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from graphc_llvm import jit, mathlib  # noqa: E402
from llvmlite import ir  # noqa: E402

from graphc import scalar  # noqa: E402

LD = np.longdouble
DTYPES = {"float32": np.float32, "float64": np.float64}
TYPES = {"float32": mathlib.F32, "float64": mathlib.F64}
ARITY = {"pow": 2, "copysign": 2, "min": 2, "max": 2, "fma": 3}
UNARY = ["exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "erf", "sigmoid"]
INTRINSICS = ["sqrt", "floor", "ceil", "round", "abs", "copysign", "fma", "min", "max"]


def _kernel(module: ir.Module, name: str, ty: ir.Type) -> str:
    """``k_<name>_<dtype>(in..., out, n)``: out[i] = name(in[i]...) for i < n."""
    arity = ARITY.get(name, 1)
    fn = mathlib.math_function(module, name, ty)
    ptr, i64 = ty.as_pointer(), ir.IntType(64)
    kname = f"k_{name}_{'f32' if ty == mathlib.F32 else 'f64'}"
    k = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr] * (arity + 1) + [i64]), name=kname)
    for a in k.args[:-1]:
        a.add_attribute("noalias")  # no runtime alias checks needed to vectorise
    entry, loop, done = (k.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    n = k.args[-1]
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    args = [b.load(b.gep(k.args[j], [i])) for j in range(arity)]
    b.store(b.call(fn, args), b.gep(k.args[arity], [i]))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return kname


class Compiled:
    def __init__(self) -> None:
        module = jit.new_module("mathlib_test")
        self.kernels = {
            (name, dt): _kernel(module, name, TYPES[dt])
            for name in UNARY + ["pow", "exp_nonpos"] + INTRINSICS
            for dt in DTYPES
        }
        self.ir_text = str(module)
        self.ref = jit.optimize(module)
        self.asm = jit.emit_assembly(self.ref)
        self.code = jit.LoadedCode(jit.emit_object(self.ref))
        self._fns: dict[tuple[str, str], Callable[..., None]] = {}

    def __call__(self, name: str, dt: str, *xs: np.ndarray) -> np.ndarray:
        key = (name, dt)
        if key not in self._fns:
            proto = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * (len(xs) + 1)), ctypes.c_int64)
            self._fns[key] = proto(self.code.address(self.kernels[key]))
        arrays = [np.ascontiguousarray(x, dtype=DTYPES[dt]) for x in np.broadcast_arrays(*xs)]
        out = np.empty_like(arrays[0])
        self._fns[key](*[a.ctypes.data for a in arrays], out.ctypes.data, out.size)
        return out

    def function_asm(self, kname: str) -> str:
        """The assembly of one kernel, from its label to the end of its function."""
        m = re.search(rf"^{kname}:\n(.*?)^\.Lfunc_end", self.asm, re.S | re.M)
        assert m, f"{kname} not in the assembly"
        return m.group(1)


@pytest.fixture(scope="module")
def lib() -> Compiled:
    return Compiled()


# ---------------------------------------------------------------------------
# References and error measurement.


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))


REFERENCE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "expm1": np.expm1,
    "log": np.log,
    "log1p": np.log1p,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def reference(name: str, dt: str, *xs: np.ndarray) -> np.ndarray:
    """The true value to well below one ulp of ``dt``, in a wider type."""
    wide = np.float64 if dt == "float32" else LD
    with np.errstate(all="ignore"):
        if name == "erf":
            r = _erf(xs[0])
            return r if dt == "float32" else r.astype(LD)
        if name == "pow":
            return np.power(xs[0].astype(wide), xs[1].astype(wide))
        return REFERENCE[name](xs[0].astype(wide))


def ulp_error(y: np.ndarray, ref: np.ndarray, dt: str) -> np.ndarray:
    """|y - ref| in ulps of ref rounded to dt (so a correctly rounded result is at most
    0.5). Both NaN, or equal infinities, are 0; inf counts as the next value after dt's max when ref is finite; any other
    mismatch of NaN or infinity is inf."""
    t = DTYPES[dt]
    wide = np.float64 if dt == "float32" else LD
    ref = ref.astype(wide)
    fmax = np.finfo(t).max
    with np.errstate(all="ignore"):
        ref_r = ref.astype(t)
        beyond = wide(fmax) + wide(np.spacing(np.finfo(t).max / 2) * 2)
        yw = np.where(np.isinf(y) & np.isfinite(ref), np.sign(y).astype(wide) * beyond, y.astype(wide))
        spacing = np.spacing(np.minimum(np.abs(ref_r), fmax)).astype(wide)
        err = np.abs(yw - ref) / spacing
    same = (np.isinf(y) & (y == ref_r)) | (np.isnan(y) & np.isnan(ref_r))
    return np.where(same, 0.0, np.where(np.isfinite(err) & np.isfinite(ref), err, np.inf))


def sweep(dt: str, n: int = 1 << 18, seed: int = 0) -> np.ndarray:
    """Evenly spaced bit patterns from +0 to +inf and their negatives (every binade, the
    denormals included, n / exponent-count points each), and n random bit patterns."""
    t = DTYPES[dt]
    it = np.uint32 if dt == "float32" else np.uint64
    top = int(np.array(np.inf, dtype=t).view(it))
    pos = (np.arange(n, dtype=np.uint64) * np.uint64(top // n)).astype(it).view(t)
    rnd = np.random.default_rng(seed).integers(0, np.iinfo(it).max, n, dtype=it, endpoint=True).view(t)
    return np.concatenate([pos, -pos, rnd])


def specials(dt: str) -> np.ndarray:
    fi = np.finfo(DTYPES[dt])
    tiny = fi.smallest_subnormal
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, tiny, -tiny, fi.tiny, -fi.tiny, fi.tiny / 3]
    vals += [fi.max, -fi.max, 1.0, -1.0, fi.eps, -fi.eps, 0.5, -0.5, 2.0, -2.0]
    return np.array(vals, dtype=DTYPES[dt])


# Windows around each function's thresholds: overflow, underflow, rounding to +-1, the
# switch between algorithms.
WINDOWS: dict[tuple[str, str], list[tuple[float, float]]] = {
    ("exp", "float32"): [(-110, 95), (88.5, 88.8), (-104, -87)],
    ("exp", "float64"): [(-750, 715), (709.5, 709.9), (-745.2, -708)],
    ("expm1", "float32"): [(-20, 90), (-1e-3, 1e-3), (88.5, 88.8)],
    ("expm1", "float64"): [(-45, 712), (-1e-3, 1e-3), (709.5, 709.9)],
    ("log", "float32"): [(0, 4), (0.7, 1.5)],
    ("log", "float64"): [(0, 4), (0.7, 1.5)],
    ("log1p", "float32"): [(-1, 4), (-1e-3, 1e-3)],
    ("log1p", "float64"): [(-1, 4), (-1e-3, 1e-3)],
    ("tanh", "float32"): [(-12, 12), (0.5, 0.6)],
    ("tanh", "float64"): [(-22, 22), (0.5, 0.6)],
    ("sigmoid", "float32"): [(-110, 110)],
    ("sigmoid", "float64"): [(-750, 750)],
    ("erf", "float32"): [(-5, 5), (0.95, 1.05), (3.9, 4.0)],
    ("erf", "float64"): [(-7, 7), (0.95, 1.05), (5.9, 6.0)],
    ("sin", "float32"): [(-10, 10), (-1e5, 1e5)],
    ("sin", "float64"): [(-10, 10), (-1e5, 1e5), (-1e9, 1e9)],
}
WINDOWS[("cos", "float32")] = WINDOWS[("sin", "float32")]
WINDOWS[("cos", "float64")] = WINDOWS[("sin", "float64")]


def accuracy_inputs(name: str, dt: str) -> np.ndarray:
    t = DTYPES[dt]
    parts = [sweep(dt), specials(dt)]
    parts += [np.linspace(a, b, 100_001).astype(t) for a, b in WINDOWS[(name, dt)]]
    if name in ("sin", "cos"):
        # Next to multiples of pi/2, where the reduction cancels most.
        k = np.unique(np.geomspace(1, mathlib.TRIG_ACCURATE_RANGE[dt] / 1.6, 20_000).round())
        near = (k * (np.pi / 2)).astype(t)
        parts += [near, np.nextafter(near, t(np.inf)), np.nextafter(near, t(-np.inf)), -near]
    x = np.concatenate(parts)
    if name in ("sin", "cos"):
        x = x[~(np.abs(x) > mathlib.TRIG_ACCURATE_RANGE[dt])]  # NaN stays
    return x


# ---------------------------------------------------------------------------
# Accuracy.


@pytest.mark.parametrize("dt", list(DTYPES))
@pytest.mark.parametrize("name", UNARY)
def test_accuracy(lib: Compiled, name: str, dt: str) -> None:
    x = accuracy_inputs(name, dt)
    y = lib(name, dt, x)
    err = ulp_error(y, reference(name, dt, x), dt)
    worst = int(np.argmax(err))
    bound = mathlib.ACCURACY[(name, dt)]
    assert err[worst] <= bound, f"{name}({x[worst]!r}) = {y[worst]!r}: {err[worst]:.3f} ulp > {bound}"
    # The measurement is not vacuous: rounding errors show up somewhere.
    assert err.max() > 0.3


@pytest.mark.parametrize("dt", list(DTYPES))
@pytest.mark.parametrize("name", UNARY)
def test_special_values_bit_for_bit(lib: Compiled, name: str, dt: str) -> None:
    """Zeros, infinities and NaN as NumPy gives them, the sign of a zero included."""
    x = specials(dt)
    y = lib(name, dt, x)
    ref = reference(name, dt, x).astype(DTYPES[dt])
    for xi, yi, ri in zip(x, y, ref, strict=True):
        if np.isnan(ri):
            assert np.isnan(yi), f"{name}({xi!r}) = {yi!r}, not NaN"
        elif ri == 0 or np.isinf(ri) or xi == 0 or np.isinf(xi):
            assert yi == ri and np.signbit(yi) == np.signbit(ri), f"{name}({xi!r}) = {yi!r}, not {ri!r}"


@pytest.mark.parametrize("dt", list(DTYPES))
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_beyond_the_accurate_range(lib: Compiled, name: str, dt: str) -> None:
    """Large finite arguments still give a finite value in [-1, 1], never NaN."""
    t = DTYPES[dt]
    x = sweep(dt, 1 << 16)
    x = x[np.isfinite(x) & (np.abs(x) > mathlib.TRIG_ACCURATE_RANGE[dt])]
    x = np.concatenate([x, np.array([np.finfo(t).max, -np.finfo(t).max, 1e30, 2.0**60], dtype=t)])
    y = lib(name, dt, x)
    assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1)
    # And within the range, its edge is accurate still.
    edge = np.linspace(0.9, 1.0, 10_001) * mathlib.TRIG_ACCURATE_RANGE[dt]
    edge = edge.astype(t)
    assert ulp_error(lib(name, dt, edge), reference(name, dt, edge), dt).max() <= mathlib.ACCURACY[(name, dt)]


@pytest.mark.parametrize("dt", list(DTYPES))
def test_exp_nonpos_is_exp(lib: Compiled, dt: str) -> None:
    """exp_nonpos (exp of an argument known to be <= 0, one scaling instead of two) gives
    exp's bits for every x <= 0, -0, -inf, NaN and the denormal results included."""
    x = accuracy_inputs("exp", dt)
    x = x[~(x > 0)]
    got, want = lib("exp_nonpos", dt, x), lib("exp", dt, x)
    assert np.all(np.isnan(want) == np.isnan(got))
    ok = np.isnan(want) | (got.view(f"u{got.itemsize}") == want.view(f"u{want.itemsize}"))
    assert ok.all(), f"exp_nonpos({x[~ok][0]!r}) = {got[~ok][0]!r}, exp gives {want[~ok][0]!r}"
    assert (want[np.isfinite(x)] < np.finfo(DTYPES[dt]).tiny).sum() > 1000  # denormal results tested


def test_thresholds(lib: Compiled) -> None:
    """Overflow gives inf and underflow 0 exactly where the true result rounds so."""
    for dt, t in DTYPES.items():
        fi = np.finfo(t)
        ln_max, ln_tiny = math.log(float(fi.max)), math.log(float(fi.smallest_subnormal))
        big = np.array([np.nextafter(t(ln_max), t(0)), t(ln_max) + fi.eps * 64 * t(ln_max)], dtype=t)
        assert np.isfinite(lib("exp", dt, big[:1]))[0] and np.isinf(lib("exp", dt, big[1:]))[0]
        assert np.isinf(lib("expm1", dt, big[1:]))[0]
        lo = np.array([ln_tiny + 0.1, ln_tiny - 1.0], dtype=t)
        y = lib("exp", dt, lo)
        assert y[0] == fi.smallest_subnormal and y[1] == 0 and not np.signbit(y[1])
        assert lib("sigmoid", dt, np.array([-1e4], dtype=t))[0] == 0
        assert lib("tanh", dt, np.array([1e4, -1e4], dtype=t)).tolist() == [1.0, -1.0]


# ---------------------------------------------------------------------------
# pow.


def pow_inputs(dt: str, n: int = 1 << 18, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """x log-uniform over the whole range, y such that y log x is uniform over (a little
    beyond) the range of log of the representable values; x near 1 with large y (where
    log x's error is multiplied most); negative x with integer y; random bit patterns."""
    t = DTYPES[dt]
    rng = np.random.default_rng(seed)
    lmax = math.log(float(np.finfo(t).max))
    lx = rng.uniform(-1, 1, n) * lmax
    x = np.exp(lx)
    y = rng.uniform(-1.03, 1.03, n) * lmax / lx
    x1 = 1 + rng.uniform(-0.3, 0.3, n // 4)
    y1 = rng.uniform(-1, 1, n // 4) * lmax / np.abs(np.log(x1))
    xn = -np.exp(rng.uniform(-1, 1, n // 8) * 20)
    yn = rng.integers(-30, 30, n // 8).astype(np.float64)
    xr, yr = sweep(dt, n // 8, seed=2), sweep(dt, n // 8, seed=3)
    xs = np.concatenate([x, x1, xn]).astype(t)
    ys = np.concatenate([y, y1, yn]).astype(t)
    return np.concatenate([xs, xr]), np.concatenate([ys, yr])


@pytest.mark.parametrize("dt", list(DTYPES))
def test_pow_accuracy(lib: Compiled, dt: str) -> None:
    x, y = pow_inputs(dt)
    z = lib("pow", dt, x, y)
    err = ulp_error(z, reference("pow", dt, x, y), dt)
    worst = int(np.argmax(err))
    bound = mathlib.ACCURACY[("pow", dt)]
    assert err[worst] <= bound, f"pow({x[worst]!r}, {y[worst]!r}) = {z[worst]!r}: {err[worst]:.3f} ulp"


@pytest.mark.parametrize("dt", list(DTYPES))
def test_pow_special_cases_are_c_pow(lib: Compiled, dt: str) -> None:
    """Every pair of special operands as C's pow (NumPy's np.power on floats) gives it."""
    t = DTYPES[dt]
    fi = np.finfo(t)
    vals = np.array(
        [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5, 1 / 3, -8.0, np.inf, -np.inf]
        + [np.nan, fi.max, -fi.max, fi.smallest_subnormal, -fi.smallest_subnormal, 1e10, -1e10, 2.0**60 + 0],
        dtype=t,
    )
    x, y = (a.ravel() for a in np.meshgrid(vals, vals, indexing="ij"))
    z = lib("pow", dt, x, y)
    with np.errstate(all="ignore"):
        ref = np.power(x, y)

    # Decided by the special-case rules, not by rounding (a finite result that rounds to 0
    # or inf is compared in ulps: 2^60^-2.5 is a tie at half the smallest denormal).
    def special(v: np.ndarray) -> np.ndarray:
        return (v == 0) | ~np.isfinite(v)

    exact = np.isnan(ref) | special(x) | special(y) | (np.abs(x) == 1)
    for xi, yi, zi, ri in zip(x[exact], y[exact], z[exact], ref[exact], strict=True):
        ok = np.isnan(zi) if np.isnan(ri) else (zi == ri and np.signbit(zi) == np.signbit(ri))
        assert ok, f"pow({xi!r}, {yi!r}) = {zi!r}, not {ri!r}"
    err = ulp_error(z[~exact], reference("pow", dt, x[~exact], y[~exact]), dt)
    assert err.max() <= mathlib.ACCURACY[("pow", dt)]


# ---------------------------------------------------------------------------
# graphc's edge-case table.

_TABLE_OPS = {"exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tanh", "erf", "floor", "ceil", "round"}
_TABLE_OPS |= {"abs", "max", "min", "pow"}
_EDGES = [e for e in scalar.EDGE_CASES if e.op in _TABLE_OPS and e.dtype in DTYPES and e.op in mathlib.NAMES]


@pytest.mark.parametrize("edge", _EDGES, ids=lambda e: f"{e.op}{e.inputs}-{e.dtype}")
def test_edge_case_table(lib: Compiled, edge: scalar.Edge) -> None:
    t = DTYPES[edge.dtype]
    got = lib(edge.op, edge.dtype, *[np.array([v], dtype=t) for v in edge.inputs])[0]
    want = t(edge.expected)
    if np.isnan(want):
        assert np.isnan(got), f"{edge.op}{edge.inputs} = {got!r}, not NaN"
    else:
        assert got == want and np.signbit(got) == np.signbit(want), f"{edge.op}{edge.inputs} = {got!r}"


def test_edge_table_covers_the_transcendentals() -> None:
    assert {e.op for e in _EDGES} >= {"exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "erf", "pow"}


# ---------------------------------------------------------------------------
# The intrinsic-backed functions: exact.


def _ieee_max(a: np.ndarray, b: np.ndarray, minimum: bool) -> np.ndarray:
    """IEEE 754-2019 maximum/minimum: NaN propagates, -0 < +0."""
    pick = np.minimum(a, b) if minimum else np.maximum(a, b)
    zeros = (a == 0) & (b == 0)
    signed = (
        np.where(np.signbit(a) | np.signbit(b), -0.0, 0.0)
        if minimum
        else np.where(np.signbit(a) & np.signbit(b), -0.0, 0.0)
    )
    out = np.where(zeros, signed.astype(a.dtype), pick)
    return np.where(np.isnan(a) | np.isnan(b), np.nan, out).astype(a.dtype)


def _exact_fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a b + c rounded once, through exact rationals (finite operands only)."""
    out = [float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))) for x, y, z in zip(a, b, c)]
    return np.array(out, dtype=np.float64).astype(a.dtype)


@pytest.mark.parametrize("dt", list(DTYPES))
def test_intrinsic_functions(lib: Compiled, dt: str) -> None:
    t = DTYPES[dt]
    x = np.concatenate([sweep(dt, 1 << 12), specials(dt), np.arange(-5, 5.5, 0.5, dtype=t)])
    y = np.random.default_rng(4).permutation(x)

    def same(got: np.ndarray, want: np.ndarray) -> bool:
        both_nan = np.isnan(got) & np.isnan(want)
        return bool(np.all(both_nan | ((got == want) & (np.signbit(got) == np.signbit(want)))))

    with np.errstate(all="ignore"):
        assert same(lib("sqrt", dt, x), np.sqrt(x))
        assert same(lib("floor", dt, x), np.floor(x))
        assert same(lib("ceil", dt, x), np.ceil(x))
        assert same(lib("round", dt, x), np.round(x))  # NumPy rounds half to even
        assert same(lib("abs", dt, x), np.abs(x))
        assert same(lib("copysign", dt, x, y)[~np.isnan(y)], np.copysign(x, y)[~np.isnan(y)])
        assert same(lib("max", dt, x, y), _ieee_max(x, y, minimum=False))
        assert same(lib("min", dt, x, y), _ieee_max(x, y, minimum=True))
    rng = np.random.default_rng(5)
    a, b, c = (rng.uniform(-4, 4, 2000).astype(t) for _ in range(3))
    if dt == "float32":
        # Operands of 16 significant bits: a b and a b + c are exact in float64, so rounding
        # that to float32 is the one rounding of a fused multiply-add.
        a, b = (np.ldexp(np.round(np.ldexp(v, 14)), -14).astype(t) for v in (a, b))
        want = (a.astype(np.float64) * b + c).astype(t)
    else:
        want = _exact_fma(a, b, c)
    got = lib("fma", dt, a, b, c)
    assert same(got, want)
    # It rounds once: unfused a * b + c differs somewhere.
    assert not same(got, a * b + c)


# ---------------------------------------------------------------------------
# Vectorisation and the function's form.


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sin", "erf", "sigmoid"])
def test_float32_loop_vectorises(lib: Compiled, name: str) -> None:
    asm = lib.function_asm(lib.kernels[(name, "float32")])
    assert re.search(r"\b(ymm|zmm)\d+", asm), "no packed vector registers in the loop"
    assert re.search(r"\bv\w+ps\b.*%[yz]mm", asm), "no packed single-precision instructions"
    assert not re.search(r"\bcall\w*\s", asm), "a call left in the loop"
    assert not re.search(r"\b(expf?|logf?|tanhf?|sinf?|erff?)@", asm)


def test_float64_pow_loop_vectorises(lib: Compiled) -> None:
    asm = lib.function_asm(lib.kernels[("pow", "float64")])
    assert re.search(r"\bv\w+pd\b.*%[yz]mm", asm) and not re.search(r"\bcall\w*\s", asm)


def test_function_definition() -> None:
    module = jit.new_module("defs")
    fn = mathlib.math_function(module, "exp", mathlib.F32)
    assert fn.name == "graphc.exp.f32" and fn.linkage == "internal"
    assert {"alwaysinline", "nounwind", "readnone"} <= set(fn.attributes)
    assert mathlib.math_function(module, "exp", mathlib.F32) is fn  # defined once
    assert mathlib.math_function(module, "exp", mathlib.F64).name == "graphc.exp.f64"
    assert [str(a.type) for a in mathlib.math_function(module, "pow", mathlib.F64).args] == ["double"] * 2
    text = str(module)
    assert len(re.findall(r'define internal float @"?graphc\.exp\.f32"?\(', text)) == 1
    # No fast-math flags that would break NaN and infinity handling.
    assert not re.search(r"\b(fast|nnan|ninf|reassoc|afn)\b", text)
    with pytest.raises(KeyError):
        mathlib.math_function(module, "gamma", mathlib.F32)
    with pytest.raises(TypeError):
        mathlib.math_function(module, "exp", ir.HalfType())


def test_accuracy_table_in_docstring() -> None:
    """The docstring's table states exactly ACCURACY."""
    doc = mathlib.__doc__ or ""
    for name in UNARY + ["pow"]:
        row = re.search(rf"^{name}\s+(\S+)\s+(\S+)$", doc, re.M)
        assert row, name
        assert float(row.group(1)) == mathlib.ACCURACY[(name, "float32")]
        assert float(row.group(2)) == mathlib.ACCURACY[(name, "float64")]
