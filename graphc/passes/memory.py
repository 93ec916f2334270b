"""Memory planning: liveness over the scheduled program, in-place updates, one arena per
run laid out by offsets, and the peak and the arena's size as formulas in the program's
dimension symbols.

The schedule is the program's node order. A value is live from the node that makes it
to its last use (both included); program outputs live to the end. Params (feeds,
variables, run counters) are the caller's buffers and constants the executable's: they
are not part of a run's own memory, with one exception: a variable's new value may be
written into the variable's own buffer when the old value is last read by the node
that computes the new one (an in-place variable update).

The plan, keyed by the program's value numbers (:meth:`Program.numbering`):

- **buffers**: a buffer is one storage that holds a chain of values handed over in
  place. An elementwise, fused (without a reduction), "per_element" (ApplyAdam) or "view"
  (reshaping) node writes an output into an input's buffer when that input dies at the
  node and has the same dtype and the same size formula; a variable's buffer is taken
  only for that variable's update. Every other value the program makes starts a new buffer.
- **kinds**: ``"feed"``, ``"variable"``, ``"rng"`` (the caller's, by param), ``"const"``
  (the executable's), and for the program's own buffers: ``"output"`` (holds a fetched
  value), ``"update"`` (holds a variable's new value that is not written in place;
  possibly fetched too) and ``"arena"`` (everything else: temporaries). Values that leave
  the program are never in the arena: the arena is reused by the next run, so a backend
  allocates each output/update buffer on its own per run (or copies the value out). A
  fetch whose value lives in a caller's or the executable's buffer (a fed value, a
  constant, a variable's new value written in place) must be copied out as well.
- **layout**: every arena buffer gets an ``offset`` in the run's one arena, a multiple of
  :data:`ALIGNMENT`, as a formula in the dims. Each buffer reserves its size rounded up
  to :data:`ALIGNMENT` (a polynomial with non-negative coefficients over the dims and
  their atoms, see :func:`aligned`). Buffers are placed one at a time (greedy first fit);
  each goes at the lowest candidate offset that is *provably* clear of every placed
  buffer it is live with: for each such buffer, the new one provably starts at or after
  its end, or provably ends at or before its start (:func:`provably_ge`: for every
  non-negative value of the symbols). The candidates are zero, the ends of those
  buffers, their maximum (a formula with ``max`` atoms) and their coefficient-wise
  maximum (a polynomial); the last two are always clear, so a place always exists.
  Hence two buffers live at the same time never share a byte, whatever the dims. Which
  clear candidate is lowest, and the order of placement, are decided at
  :data:`REFERENCE_DIM` for every symbol (then for large dims): they affect only how
  compact the arena is, never its correctness. The placement runs in two orders
  (largest first, longest-lived first) and keeps the smaller arena. The arena's size is
  the maximum over the arena buffers of offset plus reserved size
  (:attr:`MemoryPlan.arena_size`, evaluated per run). :func:`check_plan` checks a plan
  for concrete dims, independently of how it was made.

Each value's :class:`Entry` is ``number -> (buffer, offset, bytes)``; the offset is the
value's byte offset in the arena for an arena buffer, and 0 (the start of its own
buffer) otherwise.

A plan cannot be applied to a program it was not made for: it records the program's
:meth:`Program.structure_hash` (the canonical text with the program's own dim symbols:
node order, ops, attrs, dtypes, shapes, params, outputs), and everything that reads it
with a program (:meth:`MemoryPlan.entries_of`, :func:`check_plan`,
:func:`describe_values`, :func:`plan_for`) checks it first (:class:`StalePlanError`).
Passes do not carry analyses over: ``copy_program`` starts with an empty ``meta`` and
``canonicalize`` drops it when it changes the node list.

The peak (:meth:`MemoryPlan.evaluate`) is the most bytes the program's own live buffers
hold at any point of the schedule (a value handed over in place counted once): a lower
bound for any allocator. With symbolic dims it is kept as the candidate formulas that
no other candidate provably exceeds, and evaluated for the dims of a run, without
recompiling.

The plan is advice to a backend. One that writes variable updates in place must still
keep graphc's rule that a run which fails changes no variable (for example by doing so
only once nothing after the write can fail, or by double buffering).

Guarantee of the pass: the program is unchanged (its canonical text and hash stay the
same); the plan is attached as ``program.meta["memory_plan"]``.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir.encoding import DimWriter
from graphc.ir.program import Node, Program, Value, canonicalize, format_shape
from graphc.ir.serialize import DimReader
from graphc.symbolic import Dim

ALIGNMENT = 64  # bytes: every arena offset is a multiple of this
REFERENCE_DIM = 64  # every symbol's value when the layout orders formulas it cannot compare
_LARGE_DIM = 1 << 16  # the tie-break: the order for large dims


class StalePlanError(Exception):
    """A memory plan was used with a program it was not made for."""


class PlanError(Exception):
    """:func:`check_plan` found a plan that is wrong for its program."""


def plan_memory(program: Program) -> Program:
    """Attach a :class:`MemoryPlan` for the program's schedule; the program is otherwise unchanged."""
    canonicalize(program)
    program.meta["memory_plan"] = MemoryPlan.build(program)
    return program


def plan_for(program: Program) -> MemoryPlan:
    """The plan attached to ``program`` when it was made for exactly this program, else a
    new one (not attached)."""
    plan = program.meta.get("memory_plan")
    if isinstance(plan, MemoryPlan) and plan.matches(program):
        return plan
    return MemoryPlan.build(program)


def value_bytes(v: Value) -> Dim:
    """The bytes of a value (a formula when its shape is symbolic)."""
    return sym.product(v.shape) * v.dtype.size  # type: ignore[operator]


# ---------------------------------------------------------------------------
# Formulas.


def provably_ge(a: Dim, b: Dim) -> bool:
    """a >= b for every non-negative value of the symbols (a sound test: False when it cannot
    tell). Dims, and the floordiv/max/min atoms of dims, are never negative; so a - b >= 0
    when it has no negative coefficient, or when it does after these steps, each of which
    only makes it smaller or splits it into cases:

    - a max or min atom is one of its two arguments: the difference is proved for both
      (for a max with only positive coefficients, or a min with only negative ones, one
      suffices: the atom is at least, or at most, each argument);
    - ``floordiv(x, k) >= floordiv(y, k)`` when ``x >= y`` (proved the same way): a
      negative floordiv term cancels against a positive one;
    - what is left of ``c * floordiv(x, k)`` (``c`` a multiple of ``k``) is bounded by
      ``c / k * x`` from above and ``c / k * (x - k + 1)`` from below.

    The steps are tried a bounded number of times (:data:`_PROOF_DEPTH`). A pair that is
    false at some probe (every symbol 0, 1, 7, 64 or 65536) is refused without a proof; a
    probe where either side is undefined (a floordiv by a dim that is 0 there, which no run
    has: the entry check refuses it) tells nothing and is skipped."""
    if isinstance(a, int) and isinstance(b, int):
        return a >= b
    return _provably_ge(a, b)


_PROOF_DEPTH = 6


class _AllSymbols(dict):  # type: ignore[type-arg]
    """An environment giving every symbol one value."""

    def __init__(self, value: int) -> None:
        super().__init__()
        self.value = value

    def __missing__(self, key: str) -> int:
        return self.value


_PROBES = tuple(_AllSymbols(v) for v in (0, 1, 7, REFERENCE_DIM, _LARGE_DIM))
_REFERENCE_PROBE, _LARGE_PROBE = 3, 4


@functools.lru_cache(maxsize=1 << 16)
def _probe(d: Dim) -> tuple[int | None, ...]:
    """``d`` at each probe; None where it is undefined (it divides by something 0 there)."""
    return tuple(_evaluate_or_none(d, e) for e in _PROBES)


def _evaluate_or_none(d: Dim, env: Mapping[str, int]) -> int | None:
    try:
        return sym.evaluate(d, env)
    except ZeroDivisionError:
        return None


@functools.lru_cache(maxsize=1 << 16)
def _provably_ge(a: Dim, b: Dim) -> bool:
    if any(x is not None and y is not None and x < y for x, y in zip(_probe(a), _probe(b), strict=True)):
        return False
    return _nonnegative(a - b, _PROOF_DEPTH)  # type: ignore[operator]


@functools.lru_cache(maxsize=1 << 16)
def _nonnegative(d: Dim, depth: int) -> bool:
    if isinstance(d, int):
        return d >= 0
    if all(c >= 0 and _monomial_nonnegative(m, depth) for m, c in d.terms.items()):
        return True
    if depth <= 0:
        return False
    # A max or min atom: one case per argument.
    split = sorted({a for m in d.terms for a, _ in m if a.op in ("max", "min")})
    if split:
        atom = split[0]
        uses = [(m, c) for m, c in d.terms.items() if any(a == atom for a, _ in m)]
        signs = {c > 0 for _, c in uses}
        # The bound c * atom * rest >= c * arg * rest needs the rest of each term >= 0.
        rests = all(
            _monomial_nonnegative(tuple((a, q) for a, q in m if a != atom), depth - 1) for m, _ in uses
        )
        one_suffices = rests and signs == ({True} if atom.op == "max" else {False})
        cases = (_replace_atom(d, atom, x) for x in atom.args)
        if one_suffices:
            return any(_nonnegative(x, depth - 1) for x in cases)
        return all(_nonnegative(x, depth - 1) for x in cases)
    # floordiv(x, k) terms of degree one.
    pos: dict[sym.Atom, int] = {}
    neg: dict[sym.Atom, int] = {}
    rest: dict[Any, int] = {}
    for m, c in d.terms.items():
        if len(m) == 1 and m[0][1] == 1 and _int_floordiv(m[0][0]):
            (pos if c > 0 else neg)[m[0][0]] = c
        else:
            rest[m] = c
    if not neg and not pos:
        return False  # a negative term that no step applies to
    for f in sorted(neg):
        for g in sorted(pos):
            if neg[f] == 0:
                break
            if pos[g] == 0 or g.args[1] != f.args[1]:
                continue
            if _nonnegative(g.args[0] - f.args[0], depth - 1):  # type: ignore[operator]
                t = min(-neg[f], pos[g])
                neg[f] += t
                pos[g] -= t
    relaxed: Dim = sym.Poly(rest) + 0
    left: list[tuple[sym.Atom, int]] = []
    for f, c in neg.items():
        k = f.args[1]
        if c == 0:
            continue
        if c % k:  # type: ignore[operator]
            return False
        relaxed = relaxed + (c // k) * f.args[0]  # type: ignore[operator]
    for g, c in pos.items():
        if c:
            left.append((g, c))
    exact = relaxed + sum((c * sym.Poly.atom(g) for g, c in left), 0)  # type: ignore[operator]
    if _nonnegative(exact, depth - 1):
        return True
    for g, c in left:
        k = g.args[1]
        if c % k:  # type: ignore[operator]
            continue
        relaxed = relaxed + (c // k) * (g.args[0] - (k - 1))  # type: ignore[operator]
    return _nonnegative(relaxed, depth - 1)


def _int_floordiv(a: sym.Atom) -> bool:
    return a.op == "floordiv" and isinstance(a.args[1], int) and a.args[1] > 0


def _monomial_nonnegative(m: Any, depth: int) -> bool:
    """Every factor of the monomial is an even power or a non-negative atom: a symbol that
    is not signed (see :func:`graphc.symbolic.symbol`), the max of something non-negative,
    the min or the floordiv (by a positive int) of non-negative things."""
    for a, power in m:
        if power % 2 == 0:
            continue
        if a.is_symbol:
            ok = sym.provably_nonnegative(sym.Poly.atom(a))
        elif a.op == "max":
            ok = depth > 0 and any(_nonnegative(x, depth - 1) for x in a.args)
        elif a.op == "min":
            ok = depth > 0 and all(_nonnegative(x, depth - 1) for x in a.args)
        elif _int_floordiv(a):
            ok = depth > 0 and _nonnegative(a.args[0], depth - 1)
        else:
            ok = False
        if not ok:
            return False
    return True


def _replace_atom(d: Dim, atom: sym.Atom, by: Dim) -> Dim:
    """``d`` with each top-level occurrence of ``atom`` replaced by ``by``."""
    if isinstance(d, int):
        return d
    total: Dim = 0
    for m, c in d.terms.items():
        term: Dim = c
        for a, p in m:
            f = by if a == atom else sym.Poly.atom(a)
            for _ in range(p):
                term = term * f  # type: ignore[operator]
        total = total + term  # type: ignore[operator]
    return total


def _terms(d: Dim) -> dict[Any, int]:
    return dict(d.terms) if isinstance(d, sym.Poly) else ({(): d} if d else {})


def _nonnegative_form(d: Dim) -> bool:
    """Every coefficient is >= 0 and every term is (:func:`_monomial_nonnegative`): then so is
    ``d``, and so is the difference between the coefficient-wise maximum of such forms and
    each of them."""
    return all(c >= 0 and _monomial_nonnegative(m, _PROOF_DEPTH) for m, c in _terms(d).items())


def upper_bound(dims: Iterable[Dim]) -> Dim:
    """The coefficient-wise maximum of non-negative forms (:func:`_nonnegative_form`):
    provably at least each of them (and the least polynomial that is, coefficient by
    coefficient)."""
    terms: dict[Any, int] = {}
    for d in dims:
        for m, c in _terms(d).items():
            terms[m] = max(terms.get(m, 0), c)
    return sym.Poly(terms) + 0  # normalised: an int when constant


def aligned(size: Dim, alignment: int = ALIGNMENT) -> Dim:
    """``size`` rounded up to a multiple of ``alignment`` for every value of the symbols, as a
    non-negative form (:func:`_nonnegative_form`): the size itself with its constant rounded
    up when its other terms are non-negative multiples of ``alignment``
    (``1024*N + 40 -> 1024*N + 64``), else
    ``alignment * floordiv(max(size, 0) + alignment - 1, alignment)`` (an atom, exact for
    every run: a run's sizes are never negative)."""
    if isinstance(size, int):
        return -(-max(size, 0) // alignment) * alignment
    terms = _terms(size)
    const = terms.pop((), 0)
    rest = sym.Poly(terms) + 0
    if _nonnegative_form(rest) and all(c % alignment == 0 for c in terms.values()):
        return rest + (-(-max(const, 0) // alignment) * alignment)  # type: ignore[operator]
    # Every dim of a run is >= 0, so is every size: max(0, size) is the size, and the prover
    # can tell it is never negative (a signed symbol or a floordiv in it may be).
    if not _nonnegative_form(size):
        size = sym.Poly.atom(sym.Atom("max", tuple(sorted((size, 0), key=str))))
    units = sym.Atom("floordiv", (size + (alignment - 1), alignment))  # type: ignore[operator]
    return sym.Poly.atom(units) * alignment


@dataclasses.dataclass
class PeakFormula:
    """max(candidates): each candidate is the bytes live at some schedule point (or, for the
    arena's size, the end of some buffer), kept only if no other candidate is provably at
    least as large."""

    candidates: list[tuple[Dim, int]]  # (bytes, node index where they are live / buffer index)

    @staticmethod
    def of(points: list[Dim]) -> PeakFormula:
        kept: list[tuple[Dim, int]] = []
        seen: set[Any] = set()
        best_static: tuple[int, int] | None = None
        for i, f in enumerate(points):
            if isinstance(f, int):
                if best_static is None or f > best_static[0]:
                    best_static = (f, i)
                continue
            if f in seen:
                continue
            seen.add(f)
            if any(provably_ge(k, f) for k, _ in kept):
                continue
            kept = [(k, j) for k, j in kept if not provably_ge(f, k)]
            kept.append((f, i))
        if best_static is not None and not any(provably_ge(k, best_static[0]) for k, _ in kept):
            kept.append(best_static)
        if not kept:
            kept.append((0, -1))
        return PeakFormula(kept)

    def evaluate(self, env: Mapping[str, int] | None = None) -> int:
        return self.argmax(env)[0]

    def argmax(self, env: Mapping[str, int] | None = None) -> tuple[int, int]:
        """(bytes, index) of the largest candidate for these dims."""
        values = [(sym.evaluate(f, env or {}), i) for f, i in self.candidates]
        return max(values, key=lambda t: (t[0], -t[1]))

    def plus(self, d: Dim) -> PeakFormula:
        """max(candidates) + d."""
        return PeakFormula([(f + d, i) for f, i in self.candidates])  # type: ignore[operator]

    @property
    def is_static(self) -> bool:
        return len(self.candidates) == 1 and isinstance(self.candidates[0][0], int)

    def __str__(self) -> str:
        parts = [str(f) for f, _ in self.candidates]
        return parts[0] if len(parts) == 1 else "max(" + ", ".join(parts) + ")"


# ---------------------------------------------------------------------------
# The plan.

PROGRAM_KINDS = ("arena", "output", "update")  # the program's own buffers


@dataclasses.dataclass
class Buffer:
    """One storage, and the values it holds in turn (each after the first is written in
    place over the one before, at the node where that one dies)."""

    kind: str  # "arena" | "output" | "update" | "feed" | "variable" | "rng" | "const"
    size: Dim  # bytes of each value it holds
    values: list[int] = dataclasses.field(default_factory=list)  # value numbers, in schedule order
    live: tuple[int, int] = (-1, -1)  # first and last schedule position it is live at (-1: the run's start)
    offset: Dim = 0  # an arena buffer's byte offset in the arena (a multiple of ALIGNMENT)
    reserved: Dim = 0  # an arena buffer's bytes in the arena: its size, aligned
    param: int | None = None  # a caller's buffer: the param's index
    outputs: list[int] = dataclasses.field(default_factory=list)  # program.outputs it holds (indices)


@dataclasses.dataclass(frozen=True)
class Entry:
    """Where value ``%value`` lives: ``bytes`` at ``offset`` (the arena's for an arena
    buffer, else the start of ``buffer`` itself)."""

    value: int
    buffer: int  # index into MemoryPlan.buffers
    offset: Dim
    bytes: Dim


@dataclasses.dataclass
class InPlace:
    node: int  # schedule position
    op: str
    input: int  # value number
    output: int
    variable: str | None = None  # the variable, for an in-place variable update


@dataclasses.dataclass
class MemoryPlan:
    """Where every value lives, and how many bytes the program needs (see the module docstring)."""

    structure: str  # Program.structure_hash() of the program it was made for
    entries: list[Entry]  # entries[k] is value %k's
    buffers: list[Buffer]
    node_labels: list[str]  # per schedule position: "Op 'origin'"
    alignment: int
    arena_size: PeakFormula  # bytes of the arena: max over arena buffers of offset + reserved
    result_bytes: Dim  # bytes of the output and update buffers (each allocated on its own)
    peak: PeakFormula  # max over the schedule of bytes in the program's live buffers
    live_peak: PeakFormula  # the same with one buffer per value and nothing in place
    naive_bytes: Dim  # sum of all values the program makes: its footprint without reuse
    input_bytes: dict[str, Dim]  # caller-owned bytes by param kind, and the constants' bytes
    n_values: int  # values the program makes
    in_place: list[InPlace]
    symbols: list[str]

    # -- the program it is for ------------------------------------------------------
    def matches(self, program: Program) -> bool:
        """Whether this plan was made for ``program`` (or one with the same structure)."""
        return len(self.entries) == sum(1 for _ in program.values()) and (
            program.structure_hash() == self.structure
        )

    def check(self, program: Program) -> None:
        """Raise :class:`StalePlanError` unless this plan was made for ``program``."""
        if not self.matches(program):
            raise StalePlanError(
                f"the memory plan was made for program {self.structure[:12]}, not for this one "
                f"({program.structure_hash()[:12]}): plan it again"
            )

    def entries_of(self, program: Program) -> dict[int, Entry]:
        """``id(value) -> Entry`` for the values of ``program`` (checked: see :meth:`check`)."""
        self.check(program)
        return {id(v): self.entries[k] for k, v in enumerate(program.numbering().values)}

    def entry(self, program: Program, v: Value) -> Entry:
        self.check(program)
        return self.entries[program.numbering()[v]]

    # -- numbers --------------------------------------------------------------------
    @property
    def n_buffers(self) -> int:
        """The program's own buffers (arena, output and update)."""
        return sum(1 for b in self.buffers if b.kind in PROGRAM_KINDS)

    @property
    def peak_bytes(self) -> PeakFormula:
        return self.peak

    @property
    def footprint(self) -> PeakFormula:
        """The bytes a run allocates with this plan: the arena and the result buffers."""
        return self.arena_size.plus(self.result_bytes)

    def evaluate(self, env: Mapping[str, int] | None = None) -> int:
        """The peak bytes for the dims of one run (e.g. ``program.bind_dims(shapes)``)."""
        return self.peak.evaluate(env)

    def arena_bytes(self, env: Mapping[str, int] | None = None) -> int:
        """The arena's bytes for the dims of one run."""
        return self.arena_size.evaluate(env)

    # -- building -------------------------------------------------------------------
    @staticmethod
    def build(program: Program) -> MemoryPlan:
        return _Planner(program).run()

    # -- text -----------------------------------------------------------------------
    def describe(self, env: Mapping[str, int] | None = None) -> str:
        """The plan as text: formulas, and their values for ``env`` when given."""
        lines = [f"memory plan over {len(self.node_labels)} scheduled nodes (program {self.structure[:12]})"]

        def show(f: Dim | PeakFormula) -> str:
            static = isinstance(f, int) or (isinstance(f, PeakFormula) and f.is_static)
            try:
                n = f.evaluate(env) if isinstance(f, PeakFormula) else sym.evaluate(f, env or {})
            except KeyError:  # symbolic, and no dims given
                return f"{f} B"
            return format_bytes(n) if static else f"{f} B = {format_bytes(n)}"

        for kind, what in (
            ("feed", "feeds"),
            ("variable", "variables"),
            ("rng", "counters"),
            ("const", "constants"),
        ):
            if kind in self.input_bytes:
                owner = "executable" if kind == "const" else "caller"
                lines.append(f"  {what + f' ({owner})':<24} {show(self.input_bytes[kind])}")
        n_var = sum(1 for p in self.in_place if p.variable is not None)
        n_arena = sum(1 for b in self.buffers if b.kind == "arena")
        lines.append(
            f"  buffers: {self.n_values} values -> {self.n_buffers} buffers after reuse "
            f"({len(self.in_place)} in place, {n_var} of them variable updates): "
            f"{n_arena} in the arena, {self.n_buffers - n_arena} of their own (results)"
        )
        lines.append(f"  footprint without reuse  {show(self.naive_bytes)}")
        lines.append(f"  arena ({self.alignment} B aligned)    {show(self.arena_size)}")
        lines.append(f"  results (own buffers)    {show(self.result_bytes)}")
        lines.append(f"  footprint with reuse     {show(self.footprint)}")
        lines.append(f"  peak live, no reuse      {show(self.live_peak)}")
        lines.append(f"  peak live, planned       {show(self.peak)}")
        if env is not None:
            try:
                n, at = self.peak.argmax(env)
                if at >= 0:
                    lines.append(f"  the planned peak is reached at node {at}: {self.node_labels[at]}")
            except KeyError:
                pass
        if self.in_place:
            lines.append("  in-place updates:")
            for p in self.in_place:
                what = f" (variable {p.variable!r})" if p.variable else ""
                lines.append(f"    node {p.node:>3} {p.op:<8} %{p.output} overwrites %{p.input}{what}")
        own = [(k, b) for k, b in enumerate(self.buffers) if b.kind in PROGRAM_KINDS]
        if own:
            lines.append("  layout (buffer, kind, arena offset, bytes, live nodes, values):")
            for k, b in own:
                at = f"@{b.offset}" if b.kind == "arena" else "own"
                values = " ".join(f"%{v}" for v in b.values)
                lines.append(
                    f"    {k:>4} {b.kind:<6} {at:<24} {str(b.size) + ' B':<14} {b.live[0]}..{b.live[1]}  {values}"
                )
        return "\n".join(lines)


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n:,} B ({n / size:.2f} {unit})"
    return f"{n:,} B"


# ---------------------------------------------------------------------------


class _Planner:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.nodes = program.nodes
        self.numbering = program.numbering()
        end = len(self.nodes)
        self.last_use: dict[int, int] = {}
        for i, n in enumerate(self.nodes):
            for v in n.outputs:
                self.last_use[id(v)] = i  # an unused output dies where it is made
            for v in n.inputs:
                self.last_use[id(v)] = i
        for o in program.outputs:
            self.last_use[id(o.value)] = end
        self.param_kind = {id(p.value): p for p in program.params}
        # The variable each update output holds the new value of.
        self.update_of: dict[int, set[str]] = {}
        for o in program.outputs:
            if o.kind == "update":
                self.update_of.setdefault(id(o.value), set()).add(o.name)

    def run(self) -> MemoryPlan:
        num = self.numbering
        end = len(self.nodes)
        buffers: list[Buffer] = []
        buffer_of: dict[int, int] = {}  # id(Value) -> buffer
        input_bytes: dict[str, Dim] = {}
        for k, p in enumerate(self.program.params):
            size = value_bytes(p.value)
            input_bytes[p.kind] = input_bytes.get(p.kind, 0) + size  # type: ignore[operator]
            buffer_of[id(p.value)] = len(buffers)
            buffers.append(Buffer(p.kind, size, [num[p.value]], param=k))

        for node in self.nodes:
            if node.op == "Const":
                # Constants are the executable's, made once and read by every run: never
                # overwritten or reused, and not part of a run's own memory.
                for v in node.outputs:
                    size = value_bytes(v)
                    input_bytes["const"] = input_bytes.get("const", 0) + size  # type: ignore[operator]
                    buffer_of[id(v)] = len(buffers)
                    buffers.append(Buffer("const", size, [num[v]], live=(-1, end)))

        in_place: list[InPlace] = []
        naive_live: Dim = 0
        naive_points: list[Dim] = []
        naive_total: Dim = 0
        n_values = 0
        made: set[int] = set()  # values the program makes (not params, not constants)
        node_labels: list[str] = []

        for i, node in enumerate(self.nodes):
            origin = f" {node.origin.name!r}" if node.origin is not None else ""
            node_labels.append(f"{node.op}{origin}")
            dying = []
            for v in node.inputs:
                if self.last_use[id(v)] == i and v not in dying:
                    dying.append(v)
            taken: set[int] = set()
            for v in node.outputs if node.op != "Const" else ():
                size = value_bytes(v)
                n_values += 1
                made.add(id(v))
                naive_total = naive_total + size  # type: ignore[operator]
                naive_live = naive_live + size  # type: ignore[operator]
                b = self._in_place(node, v, size, dying, taken, buffer_of, buffers)
                if b is not None:
                    src = next(u for u in dying if buffer_of[id(u)] == b)
                    p = self.param_kind.get(id(src))
                    in_place.append(InPlace(i, node.op, num[src], num[v], p.name if p is not None else None))
                else:
                    b = len(buffers)
                    buffers.append(Buffer("arena", size, live=(i, i)))
                taken.add(b)
                buffer_of[id(v)] = b
                buffers[b].values.append(num[v])
            naive_points.append(naive_live)
            for v in [*dying, *(v for v in node.outputs if self.last_use[id(v)] == i)]:
                if id(v) in made:
                    naive_live = naive_live - value_bytes(v)  # type: ignore[operator]

        # Live ranges, and the peak of the program's own buffers.
        for b in buffers:
            last = max((self.last_use.get(id(num.values[k]), -1) for k in b.values), default=-1)
            b.live = (b.live[0] if b.kind != "const" else -1, end if b.kind == "const" else last)
        points: list[Dim] = []
        by_start: dict[int, list[Buffer]] = {}
        by_stop: dict[int, list[Buffer]] = {}
        for b in buffers:
            if b.kind == "arena":  # every buffer the program made: outputs are split off below
                by_start.setdefault(b.live[0], []).append(b)
                by_stop.setdefault(b.live[1], []).append(b)
        live_bytes: Dim = 0
        for i in range(end):
            for b in by_start.get(i, ()):
                live_bytes = live_bytes + b.size  # type: ignore[operator]
            points.append(live_bytes)
            for b in by_stop.get(i, ()):
                live_bytes = live_bytes - b.size  # type: ignore[operator]

        # Values that leave the program: their buffers are not in the arena.
        for j, o in enumerate(self.program.outputs):
            buffers[buffer_of[id(o.value)]].outputs.append(j)
        result_bytes: Dim = 0
        for b in buffers:
            if b.kind == "arena" and b.outputs:
                updates = any(self.program.outputs[j].kind == "update" for j in b.outputs)
                b.kind = "update" if updates else "output"
                result_bytes = result_bytes + b.size  # type: ignore[operator]

        arena = [b for b in buffers if b.kind == "arena"]
        _layout(arena)
        entries = []
        for k, v in enumerate(num.values):
            b = buffer_of[id(v)]
            buf = buffers[b]
            entries.append(Entry(k, b, buf.offset if buf.kind == "arena" else 0, value_bytes(v)))
        return MemoryPlan(
            structure=self.program.structure_hash(),
            entries=entries,
            buffers=buffers,
            node_labels=node_labels,
            alignment=ALIGNMENT,
            arena_size=PeakFormula.of([b.offset + b.reserved for b in arena]),  # type: ignore[operator]
            result_bytes=result_bytes,
            peak=PeakFormula.of(points),
            live_peak=PeakFormula.of(naive_points),
            naive_bytes=naive_total,
            input_bytes=input_bytes,
            n_values=n_values,
            in_place=in_place,
            symbols=self.program.symbols(),
        )

    def _can_overwrite(self, node: Node) -> bool:
        try:
            opdef = reg.get(node.op)
        except KeyError:
            return False
        if opdef.has("fused"):
            # Elementwise unless it ends in a reduction (a "combiner" attr).
            return "combiner" not in node.attrs
        # A "view" op's output is a relabelling of its input's bytes.
        return opdef.has("view") or opdef.has("elementwise") or opdef.has("per_element")

    def _in_place(
        self,
        node: Node,
        v: Value,
        size: Dim,
        dying: list[Value],
        taken: set[int],
        buffer_of: dict[int, int],
        buffers: list[Buffer],
    ) -> int | None:
        if not self._can_overwrite(node):
            return None
        for u in dying:
            b = buffer_of[id(u)]
            if b in taken or u.dtype != v.dtype or value_bytes(u) != size:
                continue
            if buffers[b].kind in ("const", "feed", "rng"):
                continue
            p = self.param_kind.get(id(u))
            if p is not None:
                # Only a variable, and only with its own new value: feeds and counters are the caller's.
                if p.kind != "variable" or p.name not in self.update_of.get(id(v), set()):
                    continue
            return b
        return None


def _max_of(dims: list[Dim]) -> Dim:
    """max(dims) as a formula: the ones no other is provably at least, as nested max atoms."""
    top: list[Dim] = []
    for d in dict.fromkeys(dims):
        if any(provably_ge(t, d) for t in top):
            continue
        top = [t for t in top if not provably_ge(d, t)]
        top.append(d)
    out: Dim = 0
    for d in top:
        out = d if out == 0 else sym.maximum(out, d)
    return out


_UNDEFINED_KEY = 1 << 62  # a formula undefined at a probe orders after every defined one


def _key(d: Dim) -> tuple[int, int]:
    """How large ``d`` is at the reference dims, then for large dims."""
    values = _probe(d)
    ref, large = values[_REFERENCE_PROBE], values[_LARGE_PROBE]
    return (_UNDEFINED_KEY if ref is None else ref), (_UNDEFINED_KEY if large is None else large)


def _layout(arena: list[Buffer]) -> None:
    """Give each arena buffer its aligned size and an offset provably clear of every buffer
    it is live with (see the module docstring). The greedy placement is tried in two
    orders (largest first, longest-lived first); the smaller arena (at the reference dims,
    then for large dims) is kept."""
    for b in arena:
        b.reserved = aligned(b.size)
        assert _nonnegative_form(b.reserved), b.reserved
    # The buffers each one is live with (a sweep over the schedule).
    near: list[list[int]] = [[] for _ in arena]
    active: list[int] = []
    for k in sorted(range(len(arena)), key=lambda k: arena[k].live[0]):
        active = [h for h in active if arena[h].live[1] >= arena[k].live[0]]
        for h in active:
            near[h].append(k)
            near[k].append(h)
        active.append(k)
    size = [_key(b.reserved) for b in arena]
    span = [b.live[1] - b.live[0] for b in arena]
    orders = [
        # the largest first (at the reference dims, then for large dims)
        sorted(range(len(arena)), key=lambda k: (-size[k][0], -size[k][1], k)),
        # the longest-lived first, then the largest
        sorted(range(len(arena)), key=lambda k: (-span[k], -size[k][0], -size[k][1], k)),
    ]
    best: tuple[tuple[int, int], list[Dim]] | None = None
    for order in orders:
        offsets = _place(arena, near, order)
        score = _key(_max_of([o + b.reserved for o, b in zip(offsets, arena, strict=True)]))  # type: ignore[operator]
        if best is None or score < best[0]:
            best = (score, offsets)
    for b, o in zip(arena, best[1] if best is not None else [], strict=True):
        b.offset = o


def _place(arena: list[Buffer], near: list[list[int]], order: list[int]) -> list[Dim]:
    """Offsets for the arena buffers, placing them in ``order``: each at the lowest candidate
    (by :func:`_key`) that is provably clear of the placed buffers it is live with."""
    offsets: list[Dim | None] = [None] * len(arena)
    ends: list[Dim] = [0] * len(arena)
    for k in order:
        b = arena[k]
        if b.reserved == 0:
            offsets[k] = 0  # it takes no byte, so it meets no other buffer
            continue
        placed = [h for h in near[k] if offsets[h] is not None and arena[h].reserved != 0]
        these = [ends[h] for h in placed]
        candidates = list(dict.fromkeys([0, *these, _max_of(these), upper_bound(these)]))
        candidates.sort(key=_key)  # stable: equal keys keep their order
        # A candidate must be clear of the placed buffers at each probe (cheap: the placed
        # buffers' intervals sorted by start, with the running maximum of their ends) before
        # it is proved clear for every value of the dims. A probe where a formula is
        # undefined checks nothing about it (the proof alone decides).
        probes = []
        for j in range(len(_PROBES)):
            spans = sorted(
                (lo, hi)
                for h in placed
                if (lo := _probe(offsets[h])[j]) is not None  # type: ignore[arg-type]
                and (hi := _probe(ends[h])[j]) is not None
            )
            probes.append(([lo for lo, _ in spans], list(itertools.accumulate((hi for _, hi in spans), max))))
        size = _probe(b.reserved)
        # Below the first free place at the reference dims every candidate overlaps there.
        starts, running = probes[_REFERENCE_PROBE]
        lowest, need = 0, size[_REFERENCE_PROBE]
        for lo, hi in zip(starts, running, strict=True):
            if need is None or lo >= lowest + need:
                break
            lowest = max(lowest, hi)
        first = bisect.bisect_left([_key(c)[0] for c in candidates], lowest)
        for c in candidates[first:]:
            at = _probe(c)
            if any(
                at[j] is not None
                and size[j] is not None
                and (i := bisect.bisect_left(starts, at[j] + size[j]))  # type: ignore[operator]
                and running[i - 1] > at[j]
                for j, (starts, running) in enumerate(probes)
            ):
                continue
            top = c + b.reserved  # type: ignore[operator]
            if all(provably_ge(c, ends[h]) or provably_ge(offsets[h], top) for h in placed):  # type: ignore[arg-type]
                offsets[k] = c
                ends[k] = top
                break
        else:  # unreachable: the upper bound of the ends is always clear
            raise AssertionError("no offset for an arena buffer")
    return offsets  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Checking a plan.


def sample_envs(program: Program) -> list[dict[str, int]]:
    """Dim values to check a plan at: every symbol of the program's shapes at 1, 2, 7, 64
    and 1000, all of them different, and the signed ones (fed integers used as sizes)
    negative too; left out where some dim would be negative or undefined (a floordiv by 0):
    no run has such dims."""
    names: set[str] = set()
    dims: set[Dim] = set()
    for v in program.values():
        for d in v.shape:
            names |= sym.free_symbols(d)
            dims.add(d)
    order = sorted(names)
    if not order:
        return [{}]
    envs = [dict.fromkeys(order, n) for n in (1, 2, 7, 64, 1000)]
    envs.append({s: 3 + 5 * i for i, s in enumerate(order)})
    signed = [s for s in order if not sym.provably_nonnegative(sym.Poly.atom(sym.Atom(s)))]
    if signed:
        for n in (-1, -3):
            envs.extend({**dict.fromkeys(order, m), **dict.fromkeys(signed, n)} for m in (0, 1, 7))
    return [e for e in envs if all((n := _evaluate_or_none(d, e)) is not None and n >= 0 for d in dims)]


def check_plan(program: Program, plan: MemoryPlan, env: Mapping[str, int] | None = None) -> None:
    """Check ``plan`` against ``program`` for concrete dims (``env``, or each of
    :func:`sample_envs`), from the program alone: the plan is the program's (else
    :class:`StalePlanError`); every value has an entry of its own size in a buffer of the
    right kind (params in their own, constants in the executable's, values that leave the
    program outside the arena); every value fits its buffer and arena values fit the arena
    at aligned offsets; and no two values live at the same time share a byte, except a
    value written in place over an input that dies at the node making it, where the node's
    op may overwrite (``_can_overwrite``), the two have the same dtype, size and place, and
    the input is no feed, counter or constant, nor a variable other than the one whose new
    value is written (a variable's buffer holds nothing else). Raises :class:`PlanError`
    naming the first problem."""
    plan.check(program)
    num = program.numbering()
    nodes = program.nodes
    end = len(nodes)
    if len(plan.entries) != len(num):
        raise PlanError(f"the plan has {len(plan.entries)} entries for {len(num)} values")
    rules = _Planner(program)  # for the rule of which ops may write over an input

    # Liveness, from the program.
    start: list[int] = [-1] * len(num)
    last: list[int] = [-1] * len(num)
    producer: list[int] = [-1] * len(num)  # schedule position of the node making the value
    const: set[int] = set()
    for i, n in enumerate(nodes):
        for v in n.outputs:
            k = num[v]
            producer[k] = i
            if n.op == "Const":
                const.add(k)
                last[k] = end
            else:
                start[k] = last[k] = i
        for v in n.inputs:
            k = num[v]
            last[k] = max(last[k], i)
    param_of = {k: p for k, p in enumerate(program.params)}
    updates: dict[int, set[str]] = {}
    leaves: dict[int, list[int]] = {}
    for j, o in enumerate(program.outputs):
        k = num[o.value]
        last[k] = end
        leaves.setdefault(k, []).append(j)
        if o.kind == "update":
            updates.setdefault(k, set()).add(o.name)

    # Kinds.
    for k, e in enumerate(plan.entries):
        if e.value != k or not 0 <= e.buffer < len(plan.buffers):
            raise PlanError(f"entry {k} is {e}")
        buf = plan.buffers[e.buffer]
        if k not in buf.values:
            raise PlanError(f"%{k} is not among the values of its buffer {e.buffer}")
        if e.bytes != value_bytes(num.values[k]):
            raise PlanError(
                f"%{k} has {e.bytes} bytes in the plan, {value_bytes(num.values[k])} in the program"
            )
        if k in param_of:
            p = param_of[k]
            if buf.kind != p.kind or buf.param != k:
                raise PlanError(f"param %{k} ({p.kind}) is in a {buf.kind} buffer")
        elif k in const:
            if buf.kind != "const" or buf.values != [k]:
                raise PlanError(f"constant %{k} is in a {buf.kind} buffer")
        elif buf.kind not in (*PROGRAM_KINDS, "variable"):
            raise PlanError(f"%{k} is in a {buf.kind} buffer")
        elif buf.kind == "variable" and (
            buf.param is None or program.params[buf.param].name not in updates.get(k, set())
        ):
            # The caller's variable keeps its bytes: only its own new value goes there.
            raise PlanError(f"%{k} is in variable buffer {e.buffer} but is not that variable's new value")
        elif k in leaves and buf.kind == "arena":
            raise PlanError(f"%{k} leaves the program but lives in the arena")
        if buf.kind == "arena" and e.offset != buf.offset:
            raise PlanError(f"%{k} is at {e.offset} in the arena, its buffer at {buf.offset}")
    for b, buf in enumerate(plan.buffers):
        held = sorted(j for k in buf.values for j in leaves.get(k, ()))
        if sorted(buf.outputs) != held:
            raise PlanError(f"buffer {b} lists outputs {buf.outputs}, holds {held}")
        if buf.kind == "output" and any(program.outputs[j].kind != "fetch" for j in held):
            raise PlanError(f"output buffer {b} holds a new variable value")
        if buf.kind == "update" and not any(program.outputs[j].kind == "update" for j in held):
            raise PlanError(f"update buffer {b} holds no new variable value")
        if buf.kind in ("output", "update") and not held:
            raise PlanError(f"buffer {b} is a {buf.kind} buffer but holds no program output")

    def handover(x: int, y: int, place: tuple[Any, int]) -> bool:
        """y is written in place over x."""
        i = producer[y]
        if i < 0 or start[y] != i or last[x] != i or x in const or x in leaves:
            return False
        node = nodes[i]
        vx, vy = num.values[x], num.values[y]
        if not any(u is vx for u in node.inputs) or not rules._can_overwrite(node):
            return False
        if vx.dtype != vy.dtype or value_bytes(vx) != value_bytes(vy) or places[x] != place:
            return False
        if x in param_of:
            p = param_of[x]
            return p.kind == "variable" and p.name in updates.get(y, set())
        return True

    for env_ in [env] if env is not None else sample_envs(program):
        env_ = dict(env_ or {})
        arena_total = plan.arena_bytes(env_)
        places: list[tuple[Any, int]] = []
        spans: list[tuple[int, int]] = []
        for k, e in enumerate(plan.entries):
            buf = plan.buffers[e.buffer]
            n = sym.evaluate(e.bytes, env_)
            if n < 0:
                raise ValueError(f"%{k} has {n} bytes for dims {env_}: no run has these dims")
            if buf.kind == "arena":
                lo = sym.evaluate(e.offset, env_)
                if lo < 0 or lo % plan.alignment or lo + n > arena_total:
                    raise PlanError(
                        f"%{k} at {lo} ({n} B) is not an aligned place in the {arena_total} B arena"
                    )
                places.append((("arena",), lo))
            else:
                if n > sym.evaluate(buf.size, env_):
                    raise PlanError(f"%{k} ({n} B) does not fit its buffer {e.buffer}")
                places.append((("buffer", e.buffer), 0))
            spans.append((places[-1][1], places[-1][1] + n))
        # Values by space, then sweep the schedule.
        by_space: dict[Any, list[int]] = {}
        for k in range(len(num)):
            if spans[k][1] > spans[k][0]:
                by_space.setdefault(places[k][0], []).append(k)
        for space, ks in by_space.items():
            ks.sort(key=lambda k: start[k])
            active: list[int] = []
            for y in ks:
                active = [x for x in active if last[x] >= start[y]]
                for x in active:
                    if spans[x][0] < spans[y][1] and spans[y][0] < spans[x][1]:
                        if not (handover(x, y, places[y]) or handover(y, x, places[x])):
                            raise PlanError(
                                f"%{x} and %{y} are live at the same time and overlap in "
                                f"{'the arena' if space == ('arena',) else f'buffer {space[1]}'} "
                                f"for dims {env_}"
                            )
                active.append(y)


def describe_values(plan: MemoryPlan, program: Program) -> str:
    """Each value's place, one line per value (for ``graphc inspect``'s verbose output)."""
    plan.check(program)
    lines = []
    for k, v in enumerate(program.numbering().values):
        e = plan.entries[k]
        buf = plan.buffers[e.buffer]
        where = f"arena @{e.offset}" if buf.kind == "arena" else buf.kind
        lines.append(
            f"  %{k:<5}: {v.dtype.name}{format_shape(v.shape)} -> buffer {e.buffer} ({where}, {e.bytes} B)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The plan as JSON (the compile cache keeps it with the optimised program it was made for).

PLAN_FORMAT = "graphc.memory_plan"
PLAN_VERSION = 1
_BUFFER_KINDS = frozenset(("arena", "output", "update", "feed", "variable", "rng", "const"))


def plan_to_json(plan: MemoryPlan) -> dict[str, Any]:
    """``plan`` as a JSON-able document (dims as the program format writes them, over a
    table of atoms); :func:`plan_from_json` gives an equal plan back."""
    w = DimWriter()
    dim = w.dim

    def peak(f: PeakFormula) -> list[Any]:
        return [[dim(d), i] for d, i in f.candidates]

    doc = {
        "structure": plan.structure,
        "entries": [[e.value, e.buffer, dim(e.offset), dim(e.bytes)] for e in plan.entries],
        "buffers": [
            [b.kind, dim(b.size), b.values, list(b.live), dim(b.offset), dim(b.reserved), b.param, b.outputs]
            for b in plan.buffers
        ],
        "node_labels": plan.node_labels,
        "alignment": plan.alignment,
        "arena_size": peak(plan.arena_size),
        "result_bytes": dim(plan.result_bytes),
        "peak": peak(plan.peak),
        "live_peak": peak(plan.live_peak),
        "naive_bytes": dim(plan.naive_bytes),
        "input_bytes": {k: dim(v) for k, v in plan.input_bytes.items()},
        "n_values": plan.n_values,
        "in_place": [[p.node, p.op, p.input, p.output, p.variable] for p in plan.in_place],
        "symbols": plan.symbols,
    }
    return {"format": PLAN_FORMAT, "version": PLAN_VERSION, "atoms": w.atoms, "plan": doc}


def plan_from_json(doc: Any, budget: int = 1 << 20) -> MemoryPlan:
    """The plan :func:`plan_to_json` wrote; ValueError for a document that is not one
    (a wrong shape or type anywhere; ``budget`` bounds the printed size of its dims)."""
    try:
        return _read_plan(doc, budget)
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"not a memory plan document ({type(exc).__name__}: {exc})") from None


def _read_plan(doc: Any, budget: int) -> MemoryPlan:
    if type(doc) is not dict or doc.get("format") != PLAN_FORMAT or doc.get("version") != PLAN_VERSION:
        raise ValueError("not a memory plan document of this version")
    reader = DimReader(doc["atoms"], budget)
    p = doc["plan"]

    def dim(x: Any) -> Dim:
        return x if type(x) is int else reader.dim(x, "a memory plan's dim")

    def num(x: Any) -> int:
        if type(x) is not int:
            raise ValueError(f"expected an int, got {type(x).__name__}")
        return x

    def text(x: Any) -> str:
        if type(x) is not str:
            raise ValueError(f"expected a string, got {type(x).__name__}")
        return x

    def ints(x: Any) -> list[int]:
        return [num(v) for v in _list(x)]

    def peak(x: Any) -> PeakFormula:
        return PeakFormula([(dim(d), num(i)) for d, i in _list(x)])

    entries = [Entry(num(v), num(b), dim(o), dim(n)) for v, b, o, n in _list(p["entries"])]
    buffers = []
    for kind, size, values, live, offset, reserved, param, outputs in _list(p["buffers"]):
        if kind not in _BUFFER_KINDS:
            raise ValueError(f"{kind!r} is not a buffer kind")
        first, last = _list(live)
        buffers.append(
            Buffer(
                kind,
                dim(size),
                ints(values),
                (num(first), num(last)),
                dim(offset),
                dim(reserved),
                None if param is None else num(param),
                ints(outputs),
            )
        )
    in_place = [
        InPlace(num(n), text(op), num(i), num(o), None if var is None else text(var))
        for n, op, i, o, var in _list(p["in_place"])
    ]
    plan = MemoryPlan(
        structure=text(p["structure"]),
        entries=entries,
        buffers=buffers,
        node_labels=[text(s) for s in _list(p["node_labels"])],
        alignment=num(p["alignment"]),
        arena_size=peak(p["arena_size"]),
        result_bytes=dim(p["result_bytes"]),
        peak=peak(p["peak"]),
        live_peak=peak(p["live_peak"]),
        naive_bytes=dim(p["naive_bytes"]),
        input_bytes={text(k): dim(v) for k, v in _dict(p["input_bytes"]).items()},
        n_values=num(p["n_values"]),
        in_place=in_place,
        symbols=[text(s) for s in _list(p["symbols"])],
    )
    n_buffers = len(buffers)
    if any(not 0 <= e.buffer < n_buffers or e.value != k for k, e in enumerate(entries)):
        raise ValueError("an entry names a buffer the plan does not have, or is out of order")
    return plan


def _list(x: Any) -> list[Any]:
    if type(x) is not list:
        raise ValueError(f"expected a list, got {type(x).__name__}")
    return x


def _dict(x: Any) -> dict[str, Any]:
    if type(x) is not dict:
        raise ValueError(f"expected an object, got {type(x).__name__}")
    return x
