"""Differential fuzzing of the LLVM backend against the NumPy backend (whose kernels are
every op's meaning, ARCHITECTURE.md "Adding an op").

A generator writes a random TF1 graph as Python source (so that any failure prints a
program that reproduces it): elementwise chains broadcasting [N, 1] against [1, M], [M]
and scalars; casts between int, float and bool dtypes; comparisons and selects;
reductions over random axes with keepdims; reshape, transpose, slice, strided slice,
concat, stack, tile, pad and reverse; gather and gather_nd with valid indices; matmul
with transposes and batch dims; softmax, log_softmax, cumsum, argmax and one_hot. Its
placeholders have None dims and are fed, in one session per backend, several sizes
(0, 1 and primes among them) and values with NaN, infinities, -0.0, huge, tiny and
subnormal numbers. The two backends must agree: ints and bools exactly, floats to rtol
1e-5 (float32) or 1e-12 (float64) with NaN equal to NaN, and when one raises the other
raises the same exception class. A new size never recompiles (``sess.stats["compiles"]``).

Besides: gather/gather_nd indices out of range raise InvalidArgumentError on the llvm
backend (TF1's CPU behaviour); and the llvm results do not depend on
``GRAPHC_NUM_THREADS`` (each chunk of a threaded loop is over output elements).

The generator takes its choices from a ``Chooser``: hypothesis draws them in the tests, a
seeded ``random.Random`` in ``hunt`` (run this file as a script to try many more cases,
each group of cases in a child process so that a crash is reported with its case).
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as tf
from graphc import errors
from graphc.runtime.backend import available_backends

pytestmark = pytest.mark.skipif(
    "llvm" not in available_backends(), reason="the LLVM backend is not available"
)

Dim = int | str  # an int is a static size; "N", "M" are fed sizes; any other string a derived one
FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
NUMERIC = FLOATS + INTS
DTYPES = NUMERIC + ("bool",)
SYMBOLS = ("N", "M")
SIZES = (0, 1, 2, 3, 5, 7, 13)


# ---------------------------------------------------------------------------
# Choices: hypothesis or a seeded random generator.


class Chooser:
    """Where the generator's choices come from."""

    def integer(self, lo: int, hi: int) -> int:  # inclusive bounds
        raise NotImplementedError

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.integer(0, len(seq) - 1)]

    def coin(self, p_true: float = 0.5) -> bool:
        return self.integer(0, 999) < int(p_true * 1000)


class RandomChooser(Chooser):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class DrawChooser(Chooser):
    """Choices drawn by hypothesis (so failures shrink)."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))


# ---------------------------------------------------------------------------
# The generator: a graph as Python source, with each tensor's dims and dtype tracked.


@dataclass
class Value:
    name: str
    dims: tuple[Dim, ...]
    dtype: str
    f32: bool = False  # computed from a float32 value: compared at float32's tolerance


@dataclass
class Case:
    """A generated graph: ``source`` defines the placeholders and ``fetches`` (names in it);
    ``placeholders`` give each one's dims and dtype, ``sizes`` the fed sizes of N and M for
    each run and ``seed`` the fed values."""

    source: str
    placeholders: list[Value]
    fetches: list[str]
    sizes: list[dict[str, int]]
    seed: int
    value_mix: str
    f32: frozenset[str] = frozenset()  # fetches computed from a float32 value

    def text(self) -> str:
        return (
            f"# sizes {self.sizes}, seed {self.seed}, values {self.value_mix!r}\n"
            + self.source
            + f"fetches = [{', '.join(self.fetches)}]\n"
        )


def _basic(dims: Sequence[Dim]) -> bool:
    """Dims a new placeholder can have (a fed array's shape is known from N and M)."""
    return all(isinstance(d, int) or d in SYMBOLS for d in dims)


def _broadcast(*shapes: Sequence[Dim]) -> tuple[Dim, ...] | None:
    """NumPy broadcasting on dims (a symbol counts as possibly large, never as 1)."""
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for k in range(rank):
        d: Dim = 1
        for s in shapes:
            e = s[k - rank + len(s)] if k - rank + len(s) >= 0 else 1
            if e == 1:
                continue
            if d == 1:
                d = e
            elif d != e:
                return None
        out.append(d)
    return tuple(out)


def _static(dims: Sequence[Dim]) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in dims]


_UNARY_FLOAT = (
    "tf.exp", "tf.log", "tf.sqrt", "tf.rsqrt", "tf.tanh", "tf.sigmoid", "tf.abs", "tf.negative",
    "tf.square", "tf.sign", "tf.floor", "tf.ceil", "tf.round", "tf.reciprocal", "tf.sin", "tf.cos",
    "tf.erf", "tf.expm1", "tf.log1p", "tf.nn.relu", "tf.nn.relu6", "tf.nn.elu", "tf.nn.selu",
    "tf.nn.softplus", "tf.nn.leaky_relu",
)  # fmt: skip
_UNARY_INT = ("tf.abs", "tf.negative", "tf.square", "tf.sign")
_BINARY = (
    "tf.add", "tf.subtract", "tf.multiply", "tf.floordiv", "tf.floormod", "tf.maximum", "tf.minimum",
    "tf.squared_difference",
)  # fmt: skip
_BINARY_FLOAT = ("tf.truediv", "tf.pow")
_COMPARE = ("tf.equal", "tf.not_equal", "tf.less", "tf.less_equal", "tf.greater", "tf.greater_equal")
_LITERALS = {
    "f": ("0.5", "-0.0", "2.0", "-3.0", "1e30", "1e-30", "float('inf')", "float('nan')", "7.0"),
    "i": ("0", "1", "-1", "2", "3", "-7", "2147483647"),
}


class Gen:
    """Writes one random graph; every op is written only where its inputs make it valid
    for every value of N and M."""

    def __init__(self, ch: Chooser, max_ops: int, max_rank: int = 3) -> None:
        self.ch = ch
        self.max_rank = max_rank
        self.lines: list[str] = []
        self.pool: list[Value] = []
        self.placeholders: list[Value] = []
        self.max_ops = max_ops
        self.count = 0

    # -- helpers

    def fresh(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def emit(self, expr: str, dims: Sequence[Dim], dtype: str) -> Value:
        used = set(re.findall(r"\b[pt]\d+\b", expr))
        f32 = dtype == "float32" or "float32" in expr or any(v.f32 for v in self.pool if v.name in used)
        v = Value(self.fresh(), tuple(dims), dtype, f32)
        self.lines.append(f"{v.name} = {expr}")
        self.pool.append(v)
        return v

    def placeholder(self, dims: Sequence[Dim], dtype: str) -> Value:
        v = Value(self.fresh("p"), tuple(dims), dtype, dtype == "float32")
        self.lines.append(f"{v.name} = tf.placeholder(tf.{dtype}, {_static(dims)}, name={v.name!r})")
        self.placeholders.append(v)
        self.pool.append(v)
        return v

    def pick(self, pred: Callable[[Value], bool]) -> Value | None:
        cands = [v for v in self.pool if pred(v)]
        if not cands:
            return None
        # Later values more often: chains get deep.
        k = self.ch.integer(0, len(cands) - 1)
        if self.ch.coin(0.5):
            k = max(k, self.ch.integer(0, len(cands) - 1))
        return cands[k]

    def random_dims(self) -> tuple[Dim, ...]:
        rank = self.ch.integer(0, self.max_rank)
        return tuple(self.ch.choice(("N", "M", 1, 1, 2, 3, 5, "N")) for _ in range(rank))

    def random_dtype(self) -> str:
        return self.ch.choice(("float32", "float32", "float64", "int32", "int64", "bool"))

    def as_dtype(self, v: Value, dtype: str) -> str:
        return v.name if v.dtype == dtype else f"tf.cast({v.name}, tf.{dtype})"

    def partner(self, a: Value, dtype: str) -> tuple[str, tuple[Dim, ...]]:
        """A second operand broadcasting against ``a``: a literal, a pool value, a new
        placeholder or a constant."""
        kind = self.ch.integer(0, 3)
        if kind == 0 and dtype != "bool":
            lit = self.ch.choice(_LITERALS["f" if dtype in FLOATS else "i"])
            if dtype == "int32" and lit == "2147483647" and self.ch.coin():
                lit = "-2147483648"
            return f"tf.constant({lit}, tf.{dtype})", ()
        if kind == 1:
            b = self.pick(lambda v: _broadcast(v.dims, a.dims) is not None)
            if b is not None:
                return self.as_dtype(b, dtype), b.dims
        # A shape derived from a's: leading dims dropped, some dims (every derived one) 1.
        drop = self.ch.integer(0, len(a.dims))
        dims = tuple(
            1 if (not isinstance(d, int) and d not in SYMBOLS) or self.ch.coin(0.3) else d
            for d in a.dims[drop:]
        )
        if kind == 3 and all(isinstance(d, int) for d in dims) and math.prod(dims) <= 64:
            rng = np.random.default_rng(self.ch.integer(0, 10**6))
            if dtype == "bool":
                vals = rng.random(dims) < 0.5
            elif dtype in INTS:
                vals = rng.integers(-4, 5, dims)
            else:
                vals = np.round(rng.normal(size=dims) * 4, 2)
            return f"tf.constant({vals.tolist()!r}, tf.{dtype})", dims
        return self.placeholder(dims, dtype).name, dims

    # -- ops (each returns False when it found no valid input)

    def op_unary(self) -> bool:
        a = self.pick(lambda v: v.dtype in NUMERIC)
        if a is None:
            return False
        fn = self.ch.choice(_UNARY_FLOAT if a.dtype in FLOATS else _UNARY_INT)
        arg = a.name
        if fn in ("tf.sin", "tf.cos"):
            # The llvm backend's sin/cos are accurate for |x| <= 1e5 (float32) / 1e9
            # (float64) only, as backends/graphc_llvm/mathlib.py documents.
            arg = f"tf.clip_by_value({a.name}, -1e4, 1e4)"
        self.emit(f"{fn}({arg})", a.dims, a.dtype)
        return True

    def op_binary(self) -> bool:
        a = self.pick(lambda v: v.dtype in NUMERIC)
        if a is None:
            return False
        fns = _BINARY + (_BINARY_FLOAT if a.dtype in FLOATS else ())
        fn = self.ch.choice(fns)
        b, bdims = self.partner(a, a.dtype)
        dims = _broadcast(a.dims, bdims)
        assert dims is not None
        args = (a.name, b) if self.ch.coin() else (b, a.name)
        self.emit(f"{fn}({args[0]}, {args[1]})", dims, a.dtype)
        return True

    def op_compare(self) -> bool:
        a = self.pick(lambda v: v.dtype in NUMERIC)
        if a is None:
            return False
        b, bdims = self.partner(a, a.dtype)
        dims = _broadcast(a.dims, bdims)
        assert dims is not None
        self.emit(f"{self.ch.choice(_COMPARE)}({a.name}, {b})", dims, "bool")
        return True

    def op_logical(self) -> bool:
        a = self.pick(lambda v: v.dtype == "bool")
        if a is None:
            return False
        if self.ch.coin(0.3):
            self.emit(f"tf.logical_not({a.name})", a.dims, "bool")
            return True
        b, bdims = self.partner(a, "bool")
        dims = _broadcast(a.dims, bdims)
        assert dims is not None
        fn = self.ch.choice(("tf.logical_and", "tf.logical_or", "tf.logical_xor"))
        self.emit(f"{fn}({a.name}, {b})", dims, "bool")
        return True

    def op_select(self) -> bool:
        c = self.pick(lambda v: v.dtype == "bool")
        if c is None:
            return False
        a = self.pick(lambda v: v.dtype != "bool" and _broadcast(v.dims, c.dims) is not None)
        if a is None:
            return False
        b, bdims = self.partner(a, a.dtype)
        dims = _broadcast(c.dims, a.dims, bdims)
        if dims is None:
            return False
        fn = "tf.where" if c.dims == a.dims == bdims else "tf.where_v2"
        self.emit(f"{fn}({c.name}, {a.name}, {b})", dims, a.dtype)
        return True

    def op_cast(self) -> bool:
        a = self.pick(lambda v: True)
        if a is None:
            return False
        dt = self.ch.choice([d for d in DTYPES if d != a.dtype])
        self.emit(f"tf.cast({a.name}, tf.{dt})", a.dims, dt)
        return True

    def axes(self, rank: int, allow_none: bool = True) -> tuple[list[int] | None, list[int]]:
        """A random axis list (with negative spellings) and the axes it names."""
        if allow_none and self.ch.coin(0.25):
            return None, list(range(rank))
        chosen = sorted({self.ch.integer(0, rank - 1) for _ in range(self.ch.integer(1, rank))})
        spelled = [k - rank if self.ch.coin(0.3) else k for k in chosen]
        return spelled, chosen

    def op_reduce(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        if a.dtype == "bool":
            fn = self.ch.choice(("tf.reduce_any", "tf.reduce_all"))
        else:
            fns = ["tf.reduce_sum", "tf.reduce_max", "tf.reduce_min", "tf.reduce_mean", "tf.reduce_prod"]
            if a.dtype in FLOATS:
                fns.append("tf.reduce_logsumexp")
            fn = self.ch.choice(fns)
        spelled, chosen = self.axes(len(a.dims))
        keep = self.ch.coin()
        dims = tuple(1 if k in chosen else d for k, d in enumerate(a.dims) if keep or k not in chosen)
        self.emit(f"{fn}({a.name}, axis={spelled}, keepdims={keep})", dims, a.dtype)
        return True

    def op_reshape(self) -> bool:
        a = self.pick(lambda v: True)
        if a is None:
            return False
        r = len(a.dims)
        k = self.ch.integer(0, 3)
        if k == 0 and r >= 1:
            dims: tuple[Dim, ...] = (f"flat({','.join(map(str, a.dims))})",)
            if all(isinstance(d, int) for d in a.dims):
                dims = (math.prod(a.dims),)  # type: ignore[arg-type]
            self.emit(f"tf.reshape({a.name}, [-1])", dims, a.dtype)
        elif k == 1 and r >= 2 and isinstance(a.dims[-1], int) and a.dims[-1] != 0:
            lead: Dim = f"lead({','.join(map(str, a.dims[:-1]))})"
            if all(isinstance(d, int) for d in a.dims[:-1]):
                lead = math.prod(a.dims[:-1])  # type: ignore[arg-type]
            self.emit(f"tf.reshape({a.name}, [-1, {a.dims[-1]}])", (lead, a.dims[-1]), a.dtype)
        elif k == 2:
            ax = self.ch.integer(-r - 1, r)
            pos = ax if ax >= 0 else r + 1 + ax
            self.emit(f"tf.expand_dims({a.name}, {ax})", a.dims[:pos] + (1,) + a.dims[pos:], a.dtype)
        else:
            ones = [k for k, d in enumerate(a.dims) if d == 1]
            if not ones:
                return False
            drop = [k for k in ones if self.ch.coin()] or ones[:1]
            dims = tuple(d for k, d in enumerate(a.dims) if k not in drop)
            self.emit(f"tf.squeeze({a.name}, {drop})", dims, a.dtype)
        return True

    def op_transpose(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 2)
        if a is None:
            return False
        perm = list(range(len(a.dims)))
        for k in range(len(perm) - 1, 0, -1):
            j = self.ch.integer(0, k)
            perm[k], perm[j] = perm[j], perm[k]
        self.emit(f"tf.transpose({a.name}, {perm})", tuple(a.dims[k] for k in perm), a.dtype)
        return True

    def op_slice(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        begin, size, dims = [], [], []
        for d in a.dims:
            if isinstance(d, int):
                b = self.ch.integer(0, d)
                s = self.ch.choice((-1, self.ch.integer(0, d - b)))
                begin.append(b)
                size.append(s)
                dims.append(d - b if s == -1 else s)
            else:
                begin.append(0)
                size.append(-1)
                dims.append(d)
        self.emit(f"tf.slice({a.name}, {begin}, {size})", dims, a.dtype)
        return True

    _SYM_SLICES = ("::-1", "1:", ":-1", "::2", "1::3", "-3:", ":", "2:1", "::-2", "-2::-1", ":100")

    def op_strided_slice(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        parts, dims = [], []
        n = self.ch.integer(1, len(a.dims))
        for d in a.dims[:n]:
            if isinstance(d, int):
                if d > 0 and self.ch.coin(0.25):
                    parts.append(str(self.ch.integer(-d, d - 1)))
                    continue
                start = self.ch.choice((None, self.ch.integer(-d - 2, d + 2)))
                stop = self.ch.choice((None, self.ch.integer(-d - 2, d + 2)))
                step = self.ch.choice((None, 1, -1, 2, -2, 3))
                parts.append(
                    f"{'' if start is None else start}:{'' if stop is None else stop}"
                    + ("" if step is None else f":{step}")
                )
                dims.append(len(range(d)[slice(start, stop, step)]))
            else:
                sl = self.ch.choice(self._SYM_SLICES)
                parts.append(sl)
                dims.append(d if sl in (":", ":100") else f"{d}[{sl}]")
            if self.ch.coin(0.1):
                parts.append("tf.newaxis")
                dims.append(1)
        dims.extend(a.dims[n:])
        self.emit(f"{a.name}[{', '.join(parts)}]", dims, a.dtype)
        return True

    def same_or_derived(self, a: Value, axis: int | None) -> tuple[str, tuple[Dim, ...]]:
        """A value with ``a``'s dtype and dims (except on ``axis``): from the pool, or
        computed from ``a``."""
        b = self.pick(
            lambda v: (
                v.dtype == a.dtype
                and len(v.dims) == len(a.dims)
                and all(x == y for k, (x, y) in enumerate(zip(v.dims, a.dims)) if k != axis)
            )
        )
        if b is not None and self.ch.coin(0.7):
            return b.name, b.dims
        if a.dtype == "bool":
            return f"tf.logical_not({a.name})", a.dims
        return self.ch.choice((f"tf.negative({a.name})", a.name, f"({a.name} + 1)")), a.dims

    def op_concat(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        r = len(a.dims)
        axis = self.ch.integer(0, r - 1)
        b, bdims = self.same_or_derived(a, axis)
        x, y = a.dims[axis], bdims[axis]
        dims = list(a.dims)
        dims[axis] = x + y if isinstance(x, int) and isinstance(y, int) else f"cat({x},{y})"
        spelled = axis - r if self.ch.coin(0.3) else axis
        self.emit(f"tf.concat([{a.name}, {b}], {spelled})", dims, a.dtype)
        return True

    def op_stack(self) -> bool:
        a = self.pick(lambda v: True)
        if a is None:
            return False
        r = len(a.dims)
        b, _ = self.same_or_derived(a, None)
        ax = self.ch.integer(-r - 1, r)
        pos = ax if ax >= 0 else r + 1 + ax
        self.emit(f"tf.stack([{a.name}, {b}], axis={ax})", a.dims[:pos] + (2,) + a.dims[pos:], a.dtype)
        return True

    def op_tile(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        mult = [self.ch.choice((1, 1, 2, 3, 0)) for _ in a.dims]
        dims = [d * m if isinstance(d, int) else (d if m == 1 else f"{d}*{m}") for d, m in zip(a.dims, mult)]
        self.emit(f"tf.tile({a.name}, {mult})", dims, a.dtype)
        return True

    def op_pad(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        mode = self.ch.choice(("CONSTANT", "CONSTANT", "REFLECT", "SYMMETRIC"))
        if 0 in a.dims:
            mode = "CONSTANT"  # a mirror pad of an empty static dim is refused when built
        pads, dims = [], []
        for d in a.dims:
            limit = 2
            if mode != "CONSTANT":
                # REFLECT needs pad < size, SYMMETRIC pad <= size; a fed size may be 0.
                limit = 0 if not isinstance(d, int) else min(2, d - 1 if mode == "REFLECT" else d)
            lo, hi = self.ch.integer(0, max(limit, 0)), self.ch.integer(0, max(limit, 0))
            pads.append([lo, hi])
            dims.append(d + lo + hi if isinstance(d, int) else (d if lo + hi == 0 else f"{d}+{lo + hi}"))
        extra = ""
        if mode == "CONSTANT" and a.dtype != "bool" and self.ch.coin():
            extra = f", constant_values={self.ch.choice(('-1', '2', '7'))}"
        self.emit(f"tf.pad({a.name}, {pads}, mode={mode!r}{extra})", dims, a.dtype)
        return True

    def op_reverse(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        spelled, _ = self.axes(len(a.dims), allow_none=False)
        self.emit(f"tf.reverse({a.name}, {spelled})", a.dims, a.dtype)
        return True

    def indices_for(self, a: Value, axis: int, shape: Sequence[int], idx_dt: str) -> str:
        """Indices valid along ``a``'s ``axis``: constants for a nonzero static size, else
        wrapped into range in the graph (a fed size 0 then has no valid index: both
        backends must raise)."""
        d = a.dims[axis]
        rng = np.random.default_rng(self.ch.integer(0, 10**6))
        np_dt = idx_dt.replace("tf.", "np.")
        if isinstance(d, int) and d > 0:
            vals = rng.integers(0, d, shape).tolist()
            return f"tf.constant(np.array({vals!r}, {np_dt}).reshape({list(shape)}))"
        if len(shape) == 1 and self.ch.coin(0.3):
            return f"tf.range(tf.shape({a.name}, out_type={idx_dt})[{axis}])[::-1]"
        raw = rng.integers(0, 50, shape).tolist()
        return (
            f"tf.floormod(tf.constant(np.array({raw!r}, {np_dt}).reshape({list(shape)})), "
            f"tf.maximum(tf.shape({a.name}, out_type={idx_dt})[{axis}], 1))"
        )

    def op_gather(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        axis = self.ch.integer(0, len(a.dims) - 1)
        shape = [self.ch.integer(0, 4) for _ in range(self.ch.integer(0, 2))]
        idx = self.indices_for(a, axis, shape, self.ch.choice(("tf.int32", "tf.int64")))
        if "tf.range" in idx:
            shape = [f"range({a.dims[axis]})"]  # type: ignore[list-item]
        dims = a.dims[:axis] + tuple(shape) + a.dims[axis + 1 :]
        self.emit(f"tf.gather({a.name}, {idx}, axis={axis})", dims, a.dtype)
        return True

    def op_gather_nd(self) -> bool:
        a = self.pick(lambda v: len(v.dims) >= 1)
        if a is None:
            return False
        j = self.ch.integer(1, len(a.dims))
        k = self.ch.integer(1, 4)  # no indices: test_gather_nd_of_no_indices
        idx_dt = self.ch.choice(("tf.int32", "tf.int64"))
        cols = [self.indices_for(a, c, [k, 1], idx_dt) for c in range(j)]
        idx = cols[0] if j == 1 else f"tf.concat([{', '.join(cols)}], 1)"
        self.emit(f"tf.gather_nd({a.name}, {idx})", (k,) + a.dims[j:], a.dtype)
        return True

    def op_matmul(self) -> bool:
        a = self.pick(lambda v: v.dtype in FLOATS and len(v.dims) >= 2)
        if a is None:
            return False
        ta, tb = self.ch.coin(), self.ch.coin()
        batch, (r0, r1) = a.dims[:-2], a.dims[-2:]
        n, k = (r1, r0) if ta else (r0, r1)
        if self.ch.coin(0.3):
            # a against itself: [n, k] x [n, k]^T or [n, k]^T x [n, k].
            if self.ch.coin():
                self.emit(f"tf.matmul({a.name}, {a.name}, transpose_b=True)", batch + (r0, r0), a.dtype)
            else:
                self.emit(f"tf.matmul({a.name}, {a.name}, transpose_a=True)", batch + (r1, r1), a.dtype)
            return True
        m = self.ch.choice(("N", "M", 1, 2, 3, 5))
        bdims = batch + ((m, k) if tb else (k, m))
        if not _basic(bdims):
            b = self.pick(lambda v: v.dtype == a.dtype and v.dims == bdims)
            if b is None:
                return False
            bname = b.name
        else:
            bname = self.placeholder(bdims, a.dtype).name
        self.emit(
            f"tf.matmul({a.name}, {bname}, transpose_a={ta}, transpose_b={tb})", batch + (n, m), a.dtype
        )
        return True

    def op_softmax(self) -> bool:
        a = self.pick(lambda v: v.dtype in FLOATS and len(v.dims) >= 1)
        if a is None:
            return False
        fn = self.ch.choice(("tf.nn.softmax", "tf.nn.log_softmax"))
        ax = self.ch.choice((-1, self.ch.integer(0, len(a.dims) - 1)))
        self.emit(f"{fn}({a.name}, axis={ax})", a.dims, a.dtype)
        return True

    def op_cumsum(self) -> bool:
        a = self.pick(lambda v: v.dtype in NUMERIC and len(v.dims) >= 1)
        if a is None:
            return False
        fn = self.ch.choice(("tf.cumsum", "tf.cumsum", "tf.cumprod"))
        ax = self.ch.integer(-len(a.dims), len(a.dims) - 1)
        ex, rev = self.ch.coin(), self.ch.coin()
        self.emit(f"{fn}({a.name}, axis={ax}, exclusive={ex}, reverse={rev})", a.dims, a.dtype)
        return True

    def op_argmax(self) -> bool:
        a = self.pick(lambda v: v.dtype in NUMERIC and any(d != 0 for d in v.dims))
        if a is None:
            return False
        fn = self.ch.choice(("tf.argmax", "tf.argmin"))
        ax = self.ch.choice([k for k, d in enumerate(a.dims) if d != 0])  # a static 0 is refused
        ax -= len(a.dims) if self.ch.coin(0.3) else 0
        out = self.ch.choice(("int32", "int64"))
        dims = a.dims[: ax % len(a.dims)] + a.dims[ax % len(a.dims) + 1 :]
        self.emit(f"{fn}({a.name}, axis={ax}, output_type=tf.{out})", dims, out)
        return True

    def op_one_hot(self) -> bool:
        a = self.pick(lambda v: v.dtype in INTS)
        if a is None:
            return False
        depth = self.ch.integer(0, 5)
        r = len(a.dims)
        ax = self.ch.choice((-1, self.ch.integer(0, r)))
        pos = r if ax == -1 else ax
        dt = self.ch.choice(("float32", "int32", "float64", "int64"))
        on, off = self.ch.choice(((1, 0), (5, -2), (0, 3)))
        self.emit(
            f"tf.one_hot({a.name}, {depth}, on_value={on}, off_value={off}, axis={ax}, dtype=tf.{dt})",
            a.dims[:pos] + (depth,) + a.dims[pos:],
            dt,
        )
        return True

    def op_add_n(self) -> bool:
        a = self.pick(lambda v: v.dtype in NUMERIC)
        if a is None:
            return False
        b, _ = self.same_or_derived(a, None)
        c, _ = self.same_or_derived(a, None)
        self.emit(f"tf.add_n([{a.name}, {b}, {c}])", a.dims, a.dtype)
        return True

    OPS: tuple[tuple[str, int], ...] = (
        ("op_unary", 6), ("op_binary", 8), ("op_compare", 3), ("op_logical", 2), ("op_select", 3),
        ("op_cast", 4), ("op_reduce", 5), ("op_reshape", 3), ("op_transpose", 2), ("op_slice", 2),
        ("op_strided_slice", 3), ("op_concat", 2), ("op_stack", 1), ("op_tile", 1), ("op_pad", 2),
        ("op_reverse", 1), ("op_gather", 2), ("op_gather_nd", 1), ("op_matmul", 3), ("op_softmax", 2),
        ("op_cumsum", 2), ("op_argmax", 2), ("op_one_hot", 1), ("op_add_n", 1),
    )  # fmt: skip

    def generate(self, only: Sequence[str] | None = None, first: Sequence[Dim] | None = None) -> None:
        if first is not None:
            self.placeholder(first, self.ch.choice(("float32", "float64")))
        for _ in range(self.ch.integer(1, 3)):
            self.placeholder(self.random_dims(), self.random_dtype())
        table = [(n, w) for n, w in self.OPS if only is None or n in only]
        names = [n for n, w in table for _ in range(w)]
        n_ops, tries = self.ch.integer(1, self.max_ops), 0
        while n_ops > 0 and tries < 4 * self.max_ops:
            tries += 1
            if getattr(self, self.ch.choice(names))():
                n_ops -= 1


def make_case(
    ch: Chooser,
    max_ops: int = 8,
    only: Sequence[str] | None = None,
    max_rank: int = 3,
    first: Sequence[Dim] | None = None,
) -> Case:
    """A random graph of up to ``max_ops`` ops (from ``only`` if given), its placeholders
    of rank up to ``max_rank`` (the first with dims ``first`` if given)."""
    g = Gen(ch, max_ops, max_rank)
    g.generate(only, first)
    derived = [v.name for v in g.pool if v not in g.placeholders] or [g.pool[-1].name]
    fetches = [derived[-1]]
    for _ in range(ch.integer(0, 2)):
        fetches.append(ch.choice(derived))
    fetches = list(dict.fromkeys(fetches))
    sizes = [{s: ch.choice(SIZES) for s in SYMBOLS} for _ in range(ch.integer(2, 3))]
    mix = ch.choice(("normal", "special", "special", "ints", "extreme"))
    f32 = frozenset(v.name for v in g.pool if v.f32 and v.name in fetches)
    source = "\n".join(g.lines) + "\n"
    return Case(source, g.placeholders, fetches, sizes, ch.integer(0, 2**31), mix, f32)


# ---------------------------------------------------------------------------
# Feeds and the differential run.

_SPECIAL = (
    math.nan, math.inf, -math.inf, -0.0, 0.0, 1.0, -1.0, 0.5, -2.5, 1e30, -1e30, 1e-30, 3e38, -3e38,
    1.17549435e-38, 1e-45, 2.0**-1074, 1e300, -1e-300, 88.8, -104.0, 710.0, 1e7 + 0.5,
)  # fmt: skip


def feed_value(v: Value, sizes: dict[str, int], rng: np.random.Generator, mix: str) -> np.ndarray:
    shape = tuple(d if isinstance(d, int) else sizes[d] for d in v.dims)
    dt = np.dtype(v.dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind == "i":
        info = np.iinfo(dt)
        small = rng.integers(-4, 6, shape)
        if mix != "extreme":
            return small.astype(dt)
        ext = rng.choice(np.array([info.min, info.max, -1, 0, 1, info.min + 1], dtype=dt), shape)
        return np.where(rng.random(shape) < 0.3, ext, small).astype(dt)
    with np.errstate(over="ignore"):
        if mix == "ints":
            return rng.integers(-3, 4, shape).astype(dt)
        base = rng.normal(size=shape) * (100.0 if mix == "extreme" else 2.0)
        if mix in ("special", "extreme"):
            spec = rng.choice(np.array(_SPECIAL), shape)
            base = np.where(rng.random(shape) < 0.3, spec, base)
        return base.astype(dt)


@dataclass
class Outcome:
    values: list[np.ndarray] | None = None
    error: BaseException | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def build(case: Case) -> tuple[dict[str, Any], list[Any]]:
    tf.reset_default_graph()
    ns: dict[str, Any] = {"tf": tf, "np": np}
    exec(case.source, ns)  # noqa: S102  (the generated graph)
    return ns, [ns[name] for name in case.fetches]


def run_backend(case: Case, backend: str) -> tuple[list[Outcome], dict[str, Any]]:
    """Every size of ``case`` in one session on ``backend``."""
    ns, fetches = build(case)
    outs: list[Outcome] = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with tf.Session(backend=backend) as sess:
            for k, sizes in enumerate(case.sizes):
                rng = np.random.default_rng([case.seed, k])
                feeds = {ns[p.name]: feed_value(p, sizes, rng, case.value_mix) for p in case.placeholders}
                try:
                    outs.append(Outcome([np.asarray(x) for x in sess.run(fetches, feeds)]))
                except Exception as e:  # noqa: BLE001  (compared across backends)
                    outs.append(Outcome(error=e))
            stats = dict(sess.stats)
    return outs, stats


# Ops whose sums have no fixed order across backends (BLAS, pairwise sums in NumPy,
# float32 sums in float64 registers on llvm): where a sum overflows, one order gives inf
# and another NaN or a huge finite number.
_SUMMING = ("tf.matmul", "tf.reduce_", "tf.cumsum", "tf.cumprod", "softmax", "tf.add_n")


def compare_values(
    got: np.ndarray, want: np.ndarray, what: str, summing: bool = False, f32: bool = False
) -> None:
    """Ints and bools exactly, floats to rtol 1e-5 (float32) / 1e-12 (float64) with NaN
    equal to NaN. With ``summing``, an element where both sides overflowed (each is
    non-finite or beyond 1e37 / 1e307) is not compared."""
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind in "f":
        if summing:
            big = 1e37 if want.dtype.itemsize <= 4 else 1e307
            with np.errstate(invalid="ignore"):
                over = ~(np.abs(got) < big) & ~(np.abs(want) < big)
            got, want = np.where(over, 0, got), np.where(over, 0, want)
        # A few ulps of unit-sized intermediates is allowed where a result cancels to near 0
        # (log_softmax then logsumexp): the two backends round transcendentals differently.
        rtol, atol = (1e-5, 1e-6) if f32 or want.dtype.itemsize <= 4 else (1e-12, 1e-13)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def known_bug(want: Outcome, got: Outcome) -> str | None:
    """A discrepancy reported and not fixed yet (each has a strict xfail test below, which
    starts failing, and so must go with this entry, when it is fixed). None are open."""
    return None


def differential(case: Case) -> dict[str, Any]:
    """Run ``case`` on both backends and require the same outcome for every size; returns
    the llvm session's stats."""
    want, _ = run_backend(case, "numpy")
    got, stats = run_backend(case, "llvm")
    summing = any(op in case.source for op in _SUMMING)
    for k, (g, w) in enumerate(zip(got, want)):
        where = f"run {k} (sizes {case.sizes[k]})\n{case.text()}"
        if w.error is not None or g.error is not None:
            if known_bug(w, g):
                continue
            assert type(g.error) is type(w.error), f"{where}\nnumpy: {w.error!r}\nllvm: {g.error!r}"
            continue
        assert g.values is not None and w.values is not None
        for name, gv, wv in zip(case.fetches, g.values, w.values):
            compare_values(gv, wv, f"{name} in {where}", summing, name in case.f32)
    assert stats["compiles"] <= 1, f"recompiled: {stats}\n{case.text()}"
    return stats


# ---------------------------------------------------------------------------
# The tests.

# Fixed examples (derandomize) so the suite is reproducible and fast; the hunt (below) is
# where many more cases are tried.
FUZZ = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@FUZZ
@given(st.data())
def test_random_graphs_match_numpy(data: st.DataObject) -> None:
    """Graphs drawn by hypothesis (small ones first)."""
    differential(make_case(DrawChooser(data.draw)))


@pytest.mark.parametrize("seed", range(24))
def test_seeded_graphs_match_numpy(seed: int) -> None:
    """Graphs as the hunt makes them (``make_case(RandomChooser(seed))``): full-sized ones."""
    differential(make_case(RandomChooser(seed), max_ops=10))


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(
    st.sampled_from(("gather", "gather_nd")),
    st.sampled_from(SIZES),
    st.lists(st.integers(-(2**40), 2**40) | st.integers(-3, 16), min_size=1, max_size=6),
    st.sampled_from(("int32", "int64")),
    st.integers(0, 1),
)
def test_invalid_gather_indices_raise(op: str, n: int, idx: list[int], idx_dtype: str, axis: int) -> None:
    """TF1 on CPU raises InvalidArgumentError for an index outside [0, size) (negative ones
    included), also for empty params; both backends must, and never crash."""
    rows = 3
    size = n if axis == 0 else rows
    bad = [i for i in idx if not 0 <= i < size]
    if not bad:
        idx = idx + [size]  # at least one index out of range
    dt = np.dtype(idx_dtype)
    idx = [int(np.array(i).astype(dt)) for i in idx]  # as the fed dtype holds them
    if all(0 <= i < size for i in idx):
        idx.append(size)
    x = tf.placeholder(tf.float32, [None, rows])
    i = tf.placeholder(tf.as_dtype(idx_dtype), [None])
    if op == "gather":
        y = tf.gather(x, i, axis=axis)
    elif axis == 0:
        y = tf.gather_nd(x, tf.expand_dims(i, 1))
    else:
        y = tf.gather_nd(x, tf.stack([tf.zeros_like(i), i], 1))
        if n == 0:
            return  # row 0 is itself out of range: the same error, already covered
    feeds = {x: np.arange(n * rows, dtype=np.float32).reshape(n, rows), i: np.array(idx, dt)}
    for backend in ("llvm", "numpy"):
        with tf.Session(backend=backend) as sess:
            with pytest.raises(errors.InvalidArgumentError):
                sess.run(y, feeds)
            if n > 0:
                # The session still works after the failed run: valid indices (0) gather
                # element 0 along the axis.
                got = sess.run(y, {x: feeds[x], i: np.zeros(len(idx), dt)})
                ref = feeds[x][0] if axis == 0 else feeds[x][:, 0] if op == "gather" else feeds[x][0, 0]
                want = np.stack([ref] * len(idx), axis=axis if op == "gather" else 0)
                np.testing.assert_array_equal(got, want)


def test_new_sizes_do_not_recompile() -> None:
    """A new batch size (and a new fed count) binds the dims at entry: one compile."""
    x = tf.placeholder(tf.float32, [None, None])
    w = tf.placeholder(tf.float32, [None, 4])
    y = tf.nn.log_softmax(tf.matmul(x, w)) + tf.reduce_max(x, axis=1, keepdims=True)
    z = tf.cumsum(tf.concat([x, x[:, ::-1]], 1), axis=1)
    rng = np.random.default_rng(0)
    with tf.Session(backend="llvm") as sess:
        for n, k in [(3, 5), (0, 5), (1, 1), (13, 7), (2, 0), (7, 3)]:
            xv = rng.normal(size=(n, k)).astype(np.float32)
            wv = rng.normal(size=(k, 4)).astype(np.float32)
            got_y, got_z = sess.run([y, z], {x: xv, w: wv})
            logits = (xv.astype(np.float64) @ wv).reshape(n, 4)
            lsm = logits - logits.max(axis=1, keepdims=True)
            lsm -= np.log(np.exp(lsm).sum(axis=1, keepdims=True))
            ref = lsm + (xv.max(axis=1, keepdims=True) if k else -np.inf)
            np.testing.assert_allclose(got_y, ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(
                got_z, np.cumsum(np.concatenate([xv, xv[:, ::-1]], 1), 1), rtol=1e-5, atol=1e-5
            )
        assert sess.stats["compiles"] == 1
        assert sess.stats["runs"] == 6


def _run_with_threads(case: Case, threads: int) -> list[Outcome]:
    """``case`` on llvm with ``GRAPHC_NUM_THREADS`` set before the session is made (each
    thread's executable state reads it on its first run)."""
    old = os.environ.get("GRAPHC_NUM_THREADS")
    os.environ["GRAPHC_NUM_THREADS"] = str(threads)
    try:
        outs, _ = run_backend(case, "llvm")
    finally:
        if old is None:
            del os.environ["GRAPHC_NUM_THREADS"]
        else:
            os.environ["GRAPHC_NUM_THREADS"] = old
    return outs


THREAD_OPS = (
    "op_unary", "op_binary", "op_compare", "op_select", "op_cast", "op_reduce", "op_transpose",
    "op_strided_slice", "op_concat", "op_tile", "op_pad", "op_reverse", "op_gather", "op_softmax",
    "op_cumsum", "op_argmax", "op_matmul",
)  # fmt: skip


@settings(
    max_examples=8,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
def test_thread_count_does_not_change_results(data: st.DataObject) -> None:
    """Sizes large enough that loops split over threads (over 2**16 elements each): one
    thread and three give bit-identical llvm results (and the same errors)."""
    ch = DrawChooser(data.draw)
    first = ch.choice((("N", "M"), ("M", "N"), ("N", "N")))
    case = make_case(ch, max_ops=5, only=THREAD_OPS, max_rank=2, first=first)
    case.sizes = [{"N": ch.choice((521, 1031)), "M": ch.choice((1, 131, 257))} for _ in range(2)]
    one = _run_with_threads(case, 1)
    three = _run_with_threads(case, 3)
    for a, b in zip(one, three):
        assert type(a.error) is type(b.error), (a.error, b.error, case.text())
        if a.values is not None and b.values is not None:
            for x, y in zip(a.values, b.values):
                assert x.dtype == y.dtype and x.shape == y.shape
                np.testing.assert_array_equal(x, y, err_msg=case.text())


# ---------------------------------------------------------------------------
# Discrepancies the fuzzing found, reduced (fixed; kept as regression tests).


def test_argmax_over_an_empty_axis_raises_with_an_empty_result() -> None:
    """TF1 raises InvalidArgumentError ("Reduction axis 0 is empty") whatever the other
    dims, the result empty or not."""
    x = tf.placeholder(tf.float32, [None, None])
    y = tf.argmax(x, axis=0)
    with tf.Session(backend="llvm") as sess:
        with pytest.raises(errors.InvalidArgumentError):
            sess.run(y, {x: np.zeros((0, 3), np.float32)})
        with pytest.raises(errors.InvalidArgumentError):
            sess.run(y, {x: np.zeros((0, 0), np.float32)})


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_of_an_empty_tensor_is_empty(fn: str) -> None:
    """TF1's Softmax of a tensor with no elements is that empty tensor, on every backend."""
    x = tf.placeholder(tf.float32, [None, None])
    y = getattr(tf.nn, fn)(x)
    for backend in ("llvm", "numpy"):
        with tf.Session(backend=backend) as sess:
            for shape in [(2, 0), (0, 3)]:
                got = sess.run(y, {x: np.zeros(shape, np.float32)})
                assert got.shape == shape and got.dtype == np.float32


def test_gather_nd_of_no_indices() -> None:
    """indices of shape [0, 1] gather nothing: the result has shape [0] (TF1); the shape
    rule reads the constant's value in its own shape [0, 1]."""
    p = tf.placeholder(tf.float32, [5])
    y = tf.gather_nd(p, tf.constant(np.zeros((0, 1), np.int32)))
    with tf.Session(backend="llvm") as sess:
        got = sess.run(y, {p: np.arange(5, dtype=np.float32)})
    assert got.shape == (0,)


def test_int64_mean_of_a_sum_of_int64_min() -> None:
    """TF's integer mean is the sum divided by the count, truncated toward zero:
    INT64_MIN / 3 = -3074457345618258602 on every backend (np.abs of INT64_MIN would wrap)."""
    x = tf.placeholder(tf.int64, [None])
    y = tf.reduce_mean(x)
    lo = np.iinfo(np.int64).min
    want = -(-(lo + 1) // 3)  # = trunc(lo / 3): lo + 1 changes nothing as 3 does not divide lo
    assert want == -3074457345618258602
    for backend in ("llvm", "numpy"):
        with tf.Session(backend=backend) as sess:
            assert int(sess.run(y, {x: np.array([lo, 0, 0], np.int64)})) == want, backend


# ---------------------------------------------------------------------------
# Hunting: many more cases than the tests run, each group in a child process.


def _hunt_child(first: int, stop: int, log: str, max_ops: int) -> None:
    """Seeds [first, stop): writes ``START seed`` before each case (so a crash names it),
    then ``OK``, or ``FAIL`` with the case's text."""
    with open(log, "a") as f:
        for seed in range(first, stop):
            case = make_case(RandomChooser(seed), max_ops=max_ops)
            f.write(f"START {seed}\n")
            f.flush()
            try:
                differential(case)
                f.write(f"OK {seed}\n")
            except Exception as e:  # noqa: BLE001  (an assertion, or a graph the generator got wrong)
                f.write(f"FAIL {seed}\n{type(e).__name__}: {str(e)[:4000]}\n{case.text()}ENDFAIL\n")
            f.flush()


def hunt(first: int, stop: int, log: str, max_ops: int = 8, chunk: int = 100) -> None:
    """Runs seeds [first, stop) in child processes of ``chunk`` seeds; a child that dies
    (a crash of native code) is logged as ``CRASH seed rc`` and the hunt goes on after it."""
    seed = first
    while seed < stop:
        end = min(seed + chunk, stop)
        cmd = [sys.executable, __file__, "--child", str(seed), str(end), log, str(max_ops)]
        rc = subprocess.run(cmd, check=False).returncode
        if rc == 0:
            seed = end
            continue
        with open(log) as f:
            started = [line.split()[1] for line in f if line.startswith("START ")]
        last = int(started[-1]) if started else seed
        with open(log, "a") as f:
            f.write(
                f"CRASH {last} rc={rc}\n{make_case(RandomChooser(last), max_ops=max_ops).text()}ENDFAIL\n"
            )
        seed = last + 1


if __name__ == "__main__":
    # python3 tests/test_llvm_fuzz.py FIRST STOP LOG [MAX_OPS]: hunt over seeds FIRST..STOP;
    # a case is make_case(RandomChooser(seed), max_ops).
    if sys.argv[1] == "--child":
        _hunt_child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        hunt(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], *(int(a) for a in sys.argv[4:5]))
