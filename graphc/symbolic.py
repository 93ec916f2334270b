"""Symbolic dimensions.

A dimension is an ``int`` or a :class:`Poly`: a polynomial with integer
coefficients over atoms, where an atom is a named symbol (a dim left ``None`` by
a placeholder) or an opaque function of dims (``floordiv``, ``max``, ...) that
cannot be simplified further. Polynomials cover what shape rules need in
practice (``N*28*28``, ``N*784 // 784 == N``, ``A + B`` from concat) and keep
equality structural, so two programs built alike get the same shapes.

Shapes in the IR hold these values; a backend binds the symbols from the fed
arrays and evaluates each expression once per run, so a new batch size never
forces a recompile.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Union

Dim = Union[int, "Poly"]
Monomial = tuple[tuple["Atom", int], ...]


class Atom:
    """A symbol (``args`` empty) or an opaque function of dims."""

    __slots__ = ("op", "args", "_key")

    def __init__(self, op: str, args: tuple[Dim, ...] = ()) -> None:
        self.op = op
        self.args = args
        self._key = op if not args else f"{op}({', '.join(map(str, args))})"

    def __repr__(self) -> str:
        return self._key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Atom) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: Atom) -> bool:
        return self._key < other._key

    @property
    def is_symbol(self) -> bool:
        return not self.args


class Poly:
    """An integer polynomial over :class:`Atom` s; immutable."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: Mapping[Monomial, int]) -> None:
        self.terms = {m: c for m, c in terms.items() if c != 0}
        self._hash = hash(frozenset(self.terms.items()))

    # -- construction ---------------------------------------------------
    @staticmethod
    def atom(a: Atom) -> Poly:
        return Poly({((a, 1),): 1})

    # -- arithmetic -----------------------------------------------------
    def __add__(self, other: Dim) -> Dim:
        o = _as_poly(other)
        terms = dict(self.terms)
        for m, c in o.terms.items():
            terms[m] = terms.get(m, 0) + c
        return _norm(Poly(terms))

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return _norm(Poly({m: -c for m, c in self.terms.items()}))

    def __sub__(self, other: Dim) -> Dim:
        return self + (-_as_poly(other))

    def __rsub__(self, other: Dim) -> Dim:
        return _as_poly(other) + (-self)

    def __mul__(self, other: Dim) -> Dim:
        o = _as_poly(other)
        terms: dict[Monomial, int] = {}
        for (m1, c1), (m2, c2) in itertools.product(self.terms.items(), o.terms.items()):
            m = _mono_mul(m1, m2)
            terms[m] = terms.get(m, 0) + c1 * c2
        return _norm(Poly(terms))

    __rmul__ = __mul__

    def __floordiv__(self, other: Dim) -> Dim:
        return floordiv(self, other)

    def __rfloordiv__(self, other: Dim) -> Dim:
        return floordiv(other, self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return False  # a normalised Poly is never constant
        return isinstance(other, Poly) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        parts = []
        for m, c in sorted(self.terms.items(), key=lambda t: str(t[0])):
            factors = [str(a) if p == 1 else f"{a}^{p}" for a, p in m]
            if not factors:
                parts.append(str(c))
            elif c == 1:
                parts.append("*".join(factors))
            else:
                parts.append("*".join([str(c), *factors]))
        return " + ".join(parts).replace("+ -", "- ")

    def atoms(self) -> set[Atom]:
        return {a for m in self.terms for a, _ in m}


def _mono_mul(m1: Monomial, m2: Monomial) -> Monomial:
    powers: dict[Atom, int] = {}
    for a, p in itertools.chain(m1, m2):
        powers[a] = powers.get(a, 0) + p
    return tuple(sorted(powers.items()))


def _as_poly(d: Dim) -> Poly:
    if isinstance(d, Poly):
        return d
    if isinstance(d, int | bool) or hasattr(d, "__index__"):
        return Poly({(): int(d)})
    raise TypeError(f"not a dimension: {d!r}")


def _norm(p: Poly) -> Dim:
    if not p.terms:
        return 0
    if len(p.terms) == 1 and () in p.terms:
        return p.terms[()]
    return p


# Symbols that may take negative values: a fed integer's value used as a size (tf.range(n))
# may be negative, where every dim of an array is not. Names are unique per program.
_SIGNED: set[str] = set()


def symbol(name: str, signed: bool = False) -> Poly:
    """A dimension symbol; ``signed`` for one whose value may be negative."""
    if signed:
        _SIGNED.add(name)
    return Poly.atom(Atom(name))


def provably_nonnegative(d: Dim) -> bool:
    """Whether ``d >= 0`` for every value of its symbols: no negative coefficient and no
    signed symbol (dims, and floordiv/max/min of dims, are never negative)."""
    if isinstance(d, int):
        return d >= 0
    if any(c < 0 for c in d.terms.values()):
        return False
    return not (free_symbols(d) & _SIGNED)


class Facts:
    """Dims known to be ``>= 0`` where a program runs (the sizes of arrays that exist by
    then, the expressions its entry and data-defined dims were checked against), and the
    lower bounds of symbols they imply: ``L - 1 >= 0`` gives ``L >= 1``, ``2*K + 5 >= 0``
    gives ``K >= -2``. A dim that equals a size is one, even when unification wrote it as
    ``L - 1``: these facts let :meth:`nonnegative` and :meth:`simplify` see it."""

    __slots__ = ("known", "bounds")

    def __init__(self, dims: Iterable[Dim] = ()) -> None:
        self.known: set[Poly] = set()
        self.bounds: dict[str, int] = {}
        for d in dims:
            self.add(d)

    def add(self, d: Dim) -> None:
        """Record ``d >= 0``."""
        if not isinstance(d, Poly) or d in self.known:
            return
        self.known.add(d)
        linear = _linear_in_one_symbol(d)
        if linear is not None:
            name, a, c = linear  # a*s + c >= 0 with a > 0: s >= ceil(-c / a)
            lb = -(c // a)
            if name in self.bounds:
                self.bounds[name] = max(self.bounds[name], lb)
            elif name in _SIGNED or lb > 0:
                self.bounds[name] = lb if name in _SIGNED else max(lb, 0)

    def nonnegative(self, d: Dim) -> bool:
        """Whether ``d >= 0`` follows from the facts: ``d`` is a known one, or with each
        bounded symbol written as its bound plus a non-negative rest, ``d`` has no negative
        coefficient and no unbounded signed symbol."""
        if provably_nonnegative(d) or (isinstance(d, Poly) and d in self.known):
            return True
        if isinstance(d, int):
            return False
        names = free_symbols(d)
        if not self.bounds or not names & self.bounds.keys():
            return False
        # s -> s' + lb(s), s' a fresh unsigned symbol (no program names one with a quote),
        # so a signed symbol with a bound is no longer unbounded once shifted.
        shift = {s: Poly.atom(Atom(f"{s}'")) + self.bounds[s] for s in names & self.bounds.keys()}
        return provably_nonnegative(substitute(d, shift))

    def simplify(self, d: Dim) -> Dim:
        """``d`` with each ``max``/``min`` atom decided by the facts where they decide it
        (``max(0, L - 1)`` is ``L - 1`` when ``L >= 1``), inner atoms first."""
        if isinstance(d, int) or all(a.is_symbol for a in d.atoms()):
            return d
        total: Dim = 0
        for m, c in d.terms.items():
            term: Dim = c
            for a, p in m:
                v = Poly.atom(a) if a.is_symbol else self._simplify_atom(a)
                for _ in range(p):
                    term = term * v  # type: ignore[operator]
            total = total + term  # type: ignore[operator]
        return total

    def _simplify_atom(self, a: Atom) -> Dim:
        x, y = (self.simplify(arg) for arg in a.args)
        if a.op == "floordiv":
            return floordiv(x, y)
        if self.nonnegative(x - y):  # type: ignore[operator]
            return x if a.op == "max" else y
        if self.nonnegative(y - x):  # type: ignore[operator]
            return y if a.op == "max" else x
        return maximum(x, y) if a.op == "max" else minimum(x, y)


def _linear_in_one_symbol(d: Poly) -> tuple[str, int, int] | None:
    """(s, a, c) when ``d`` is ``a*s + c`` for one symbol s and an int a > 0, else None."""
    c = d.terms.get((), 0)
    rest = [(m, k) for m, k in d.terms.items() if m]
    if len(rest) != 1:
        return None
    ((mono, a),) = rest
    if a <= 0 or len(mono) != 1 or mono[0][1] != 1 or not mono[0][0].is_symbol:
        return None
    return mono[0][0].op, a, c


def as_symbol(d: Dim | None) -> str | None:
    """The symbol's name if ``d`` is exactly one symbol (not an expression), else None."""
    if isinstance(d, Poly) and len(d.terms) == 1:
        ((mono, coef),) = d.terms.items()
        if coef == 1 and len(mono) == 1 and mono[0][1] == 1 and mono[0][0].is_symbol:
            return mono[0][0].op
    return None


def is_static(d: Dim | None) -> bool:
    return isinstance(d, int)


def _exact_div(a: Poly, b: Poly) -> Dim | None:
    """a / b when b is a single term dividing every term of a, else None."""
    if len(b.terms) != 1:
        return None
    ((bm, bc),) = b.terms.items()
    bpow = dict(bm)
    out: dict[Monomial, int] = {}
    for m, c in a.terms.items():
        if c % bc:
            return None
        powers = dict(m)
        for atom_, p in bpow.items():
            if powers.get(atom_, 0) < p:
                return None
            powers[atom_] -= p
        mono = tuple(sorted((x, p) for x, p in powers.items() if p))
        out[mono] = out.get(mono, 0) + c // bc
    return _norm(Poly(out))


def floordiv(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    if b == 1:
        return a
    exact = _exact_div(_as_poly(a), _as_poly(b))
    if exact is not None:
        return exact
    return Poly.atom(Atom("floordiv", (a, b)))


def ceildiv(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b)
    exact = _exact_div(_as_poly(a), _as_poly(b))
    if exact is not None:
        return exact
    return floordiv(a + b - 1, b)  # type: ignore[operator]


def maximum(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    if a == b:
        return a
    if b == 0 and provably_nonnegative(a):
        return a
    if a == 0 and provably_nonnegative(b):
        return b
    lo, hi = sorted((a, b), key=str)
    return Poly.atom(Atom("max", (lo, hi)))


def minimum(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    if a == b:
        return a
    lo, hi = sorted((a, b), key=str)
    return Poly.atom(Atom("min", (lo, hi)))


def product(dims: Iterable[Dim]) -> Dim:
    out: Dim = 1
    for d in dims:
        out = out * d  # type: ignore[operator]
    return out


def free_symbols(d: Dim | None) -> set[str]:
    if not isinstance(d, Poly):
        return set()
    out: set[str] = set()
    stack = list(d.atoms())
    while stack:
        a = stack.pop()
        if a.is_symbol:
            out.add(a.op)
        else:
            for arg in a.args:
                if isinstance(arg, Poly):
                    stack.extend(arg.atoms())
    return out


_FUNCS = {
    "floordiv": lambda x, y: x // y,
    "max": max,
    "min": min,
}


def evaluate(d: Dim, env: Mapping[str, int]) -> int:
    """The value of ``d`` with each symbol taken from ``env``."""
    if isinstance(d, int):
        return d
    total = 0
    for m, c in d.terms.items():
        v = c
        for a, p in m:
            v *= _eval_atom(a, env) ** p
        total += v
    return total


def _eval_atom(a: Atom, env: Mapping[str, int]) -> int:
    if a.is_symbol:
        try:
            return env[a.op]
        except KeyError:
            raise KeyError(f"dimension symbol {a.op!r} is not bound") from None
    return _FUNCS[a.op](*(evaluate(x, env) for x in a.args))


def substitute(d: Dim, mapping: Mapping[str, Dim]) -> Dim:
    """Replace symbols by dims (for unification of equal symbols)."""
    if isinstance(d, int) or not mapping or not (free_symbols(d) & mapping.keys()):
        return d
    total: Dim = 0
    for m, c in d.terms.items():
        term: Dim = c
        for a, p in m:
            if a.is_symbol:
                v = mapping.get(a.op, Poly.atom(a))
            else:
                args = tuple(substitute(x, mapping) for x in a.args)
                v = {"floordiv": floordiv, "max": maximum, "min": minimum}[a.op](*args)
            for _ in range(p):
                term = term * v  # type: ignore[operator]
        total = total + term  # type: ignore[operator]
    return total
