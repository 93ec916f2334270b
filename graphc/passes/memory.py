"""Memory planning: liveness over the scheduled program, buffer reuse, in-place
updates, and the peak bytes as a formula in the program's dimension symbols.

The schedule is the program's node order. A value is live from the node that
makes it to its last use; program outputs live to the end. Params (feeds,
variables, run counters) are the caller's buffers and are not counted in the
program's own memory, with one exception: a variable's new value may be written
into the variable's own buffer when the old value is last read by the node that
computes the new one (an in-place variable update).

Buffer assignment walks the schedule once:

- in place: an elementwise, fused (without a reduction) or "view" (reshaping) node writes
  its output into an input's buffer when that input dies at the node and has the
  same dtype and the same size formula; a variable's buffer is taken only for
  that variable's update;
- otherwise a dead buffer is reused when its size formula equals the one needed,
  or both are static and the dead one is at least as large (the smallest such);
- otherwise a new buffer is made.

With symbolic dims sizes are :mod:`graphc.symbolic` polynomials, so the plan
holds for every batch size: the peak is kept as the candidate formulas that no
other candidate provably exceeds, and :meth:`MemoryPlan.evaluate` computes it for
the dims of a run, without recompiling.

The plan is advice to a backend. One that writes variable updates in place must
still keep graphc's rule that a run which fails changes no variable (for example by
doing so only once nothing after the write can fail, or by double buffering).

Guarantee of the pass: the program is unchanged (its canonical text and hash
stay the same); the plan is attached as ``program.meta["memory_plan"]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir.program import Node, Program, Value, canonicalize, format_shape
from graphc.symbolic import Dim


def plan_memory(program: Program) -> Program:
    """Attach a :class:`MemoryPlan` for the program's schedule; the program is otherwise unchanged."""
    canonicalize(program)
    program.meta["memory_plan"] = MemoryPlan.build(program)
    return program


def value_bytes(v: Value) -> Dim:
    """The bytes of a value (a formula when its shape is symbolic)."""
    return sym.product(v.shape) * v.dtype.size  # type: ignore[operator]


# ---------------------------------------------------------------------------
# Formulas.


def provably_ge(a: Dim, b: Dim) -> bool:
    """a >= b for every non-negative value of the symbols: a - b has no negative coefficient
    (dims, and the floordiv/max/min atoms of dims, are never negative)."""
    d = a - b  # type: ignore[operator]
    if isinstance(d, int):
        return d >= 0
    return all(c >= 0 for c in d.terms.values())


@dataclasses.dataclass
class PeakFormula:
    """max(candidates): each candidate is the bytes live at some schedule point, kept only
    if no other candidate is provably at least as large."""

    candidates: list[tuple[Dim, int]]  # (bytes, node index where they are live)

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
        """(bytes, node index) of the largest candidate for these dims."""
        values = [(sym.evaluate(f, env or {}), i) for f, i in self.candidates]
        return max(values, key=lambda t: (t[0], -t[1]))

    @property
    def is_static(self) -> bool:
        return len(self.candidates) == 1 and isinstance(self.candidates[0][0], int)

    def __str__(self) -> str:
        parts = [str(f) for f, _ in self.candidates]
        return parts[0] if len(parts) == 1 else "max(" + ", ".join(parts) + ")"


# ---------------------------------------------------------------------------
# The plan.


@dataclasses.dataclass
class Buffer:
    size: Dim  # bytes
    owner: str  # "program", or the param kind ("feed", "variable", "rng") of a caller's buffer
    values: list[str] = dataclasses.field(default_factory=list)  # labels of the values it holds


@dataclasses.dataclass
class InPlace:
    node: int  # schedule position
    op: str
    input: str  # value label
    output: str
    variable: str | None = None  # the variable, for an in-place variable update


@dataclasses.dataclass
class MemoryPlan:
    """Where every value lives, and how many bytes the program needs."""

    buffer_of: dict[int, int]  # id(Value) -> index into buffers
    buffers: list[Buffer]
    labels: dict[int, str]  # id(Value) -> "%k" as the program prints it
    node_labels: list[str]  # per schedule position: "Op 'origin'"
    peak: PeakFormula  # max over the schedule of bytes in the program's live buffers
    live_peak: PeakFormula  # the same with one buffer per value and nothing in place
    arena_bytes: Dim  # sum of the program's buffers: its footprint with reuse
    naive_bytes: Dim  # sum of all values the program makes: its footprint without reuse
    input_bytes: dict[str, Dim]  # caller-owned bytes by param kind
    n_values: int  # values the program makes (buffers without reuse)
    in_place: list[InPlace]
    symbols: list[str]

    @property
    def n_buffers(self) -> int:
        return sum(1 for b in self.buffers if b.owner == "program")

    @property
    def peak_bytes(self) -> PeakFormula:
        return self.peak

    def evaluate(self, env: Mapping[str, int] | None = None) -> int:
        """The peak bytes for the dims of one run (e.g. ``program.bind_dims(shapes)``)."""
        return self.peak.evaluate(env)

    # -- building ---------------------------------------------------------------
    @staticmethod
    def build(program: Program) -> MemoryPlan:
        return _Planner(program).run()

    # -- text ---------------------------------------------------------------------
    def describe(self, env: Mapping[str, int] | None = None) -> str:
        """The plan as text: formulas, and their values for ``env`` when given."""
        lines = [f"memory plan over {len(self.node_labels)} scheduled nodes"]

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
        lines.append(
            f"  buffers: {self.n_values} values -> {self.n_buffers} buffers after reuse "
            f"({len(self.in_place)} in place, {n_var} of them variable updates)"
        )
        lines.append(f"  footprint without reuse  {show(self.naive_bytes)}")
        lines.append(f"  footprint with reuse     {show(self.arena_bytes)}")
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
                lines.append(f"    node {p.node:>3} {p.op:<8} {p.output} overwrites {p.input}{what}")
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
        self.labels: dict[int, str] = {}
        for p in program.params:
            self.labels[id(p.value)] = f"%{len(self.labels)}"
        for n in program.nodes:
            for v in n.outputs:
                self.labels[id(v)] = f"%{len(self.labels)}"
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
        buffers: list[Buffer] = []
        buffer_of: dict[int, int] = {}
        input_bytes: dict[str, Dim] = {}
        for p in self.program.params:
            size = value_bytes(p.value)
            input_bytes[p.kind] = input_bytes.get(p.kind, 0) + size  # type: ignore[operator]
            buffer_of[id(p.value)] = len(buffers)
            buffers.append(Buffer(size, p.kind, [self.labels[id(p.value)]]))

        for node in self.nodes:
            if node.op == "Const":
                # Constants are the executable's, made once and read by every run: never
                # overwritten or reused, and not part of a run's own memory.
                for v in node.outputs:
                    size = value_bytes(v)
                    input_bytes["const"] = input_bytes.get("const", 0) + size  # type: ignore[operator]
                    buffer_of[id(v)] = len(buffers)
                    buffers.append(Buffer(size, "const", [self.labels[id(v)]]))

        free: list[int] = []  # dead program buffers
        live: dict[int, int] = {}  # program buffer -> number of live values in it
        live_bytes: Dim = 0
        naive_live: Dim = 0
        points: list[Dim] = []
        naive_points: list[Dim] = []
        in_place: list[InPlace] = []
        n_values = 0
        made: set[int] = set()  # values the program makes (not params, not constants)
        naive_total: Dim = 0
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
                    taken.add(b)
                    src = next(u for u in dying if buffer_of[id(u)] == b)
                    p = self.param_kind.get(id(src))
                    in_place.append(
                        InPlace(
                            i,
                            node.op,
                            self.labels[id(src)],
                            self.labels[id(v)],
                            p.name if p is not None else None,
                        )
                    )
                else:
                    b = self._reuse(size, free, buffers)
                    if b is None:
                        b = len(buffers)
                        buffers.append(Buffer(size, "program"))
                    else:
                        free.remove(b)
                    taken.add(b)
                buffer_of[id(v)] = b
                buffers[b].values.append(self.labels[id(v)])
                if buffers[b].owner == "program":
                    if live.get(b, 0) == 0:
                        live_bytes = live_bytes + buffers[b].size  # type: ignore[operator]
                    live[b] = live.get(b, 0) + 1
            points.append(live_bytes)
            naive_points.append(naive_live)
            # After the node: values last used here die (outputs nobody reads included).
            for v in [*dying, *(v for v in node.outputs if self.last_use[id(v)] == i)]:
                b = buffer_of[id(v)]
                if id(v) in made:
                    naive_live = naive_live - value_bytes(v)  # type: ignore[operator]
                if buffers[b].owner != "program":
                    continue
                live[b] -= 1
                if live[b] == 0:
                    live_bytes = live_bytes - buffers[b].size  # type: ignore[operator]
                    free.append(b)

        arena: Dim = 0
        for b in buffers:
            if b.owner == "program":
                arena = arena + b.size  # type: ignore[operator]
        return MemoryPlan(
            buffer_of=buffer_of,
            buffers=buffers,
            labels=self.labels,
            node_labels=node_labels,
            peak=PeakFormula.of(points),
            live_peak=PeakFormula.of(naive_points),
            arena_bytes=arena,
            naive_bytes=naive_total,
            input_bytes=input_bytes,
            n_values=n_values,
            in_place=in_place,
            symbols=self.program.symbols(),
        )

    def _can_overwrite(self, node: Node) -> bool:
        if node.op == "Fused":
            return node.attrs.get("reduce") is None
        try:
            opdef = reg.get(node.op)
        except KeyError:
            return False
        # A "view" op's output is a relabelling of its input's bytes.
        return opdef.has("view") or opdef.has("elementwise")

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
            if buffers[b].owner == "const":
                continue
            p = self.param_kind.get(id(u))
            if p is not None:
                # Only a variable, and only with its own new value: feeds and counters are the caller's.
                if p.kind != "variable" or p.name not in self.update_of.get(id(v), set()):
                    continue
            return b
        return None

    @staticmethod
    def _reuse(size: Dim, free: list[int], buffers: list[Buffer]) -> int | None:
        best: int | None = None
        for b in free:
            have = buffers[b].size
            if have == size:
                return b
            if isinstance(have, int) and isinstance(size, int) and have >= size:
                if best is None or have < buffers[best].size:  # type: ignore[operator]
                    best = b
        return best


def describe_values(plan: MemoryPlan, program: Program) -> str:
    """Each value's buffer, one line per value (for ``graphc inspect``'s verbose output)."""
    lines = []
    for v in program.values():
        b = plan.buffer_of.get(id(v))
        if b is None:
            continue
        buf = plan.buffers[b]
        lines.append(
            f"  {plan.labels[id(v)]:>6}: {v.dtype.name}{format_shape(v.shape)} -> buffer {b} ({buf.owner}, {buf.size} B)"
        )
    return "\n".join(lines)
