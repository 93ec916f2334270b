"""The pass pipeline: a plain ordered list, read top to bottom.

Each pass is a function ``Program -> Program`` whose docstring states what it
guarantees. Any pass can be switched off by name: ``Session(config={"disable_passes":
["fuse"]})`` or ``GRAPHC_DISABLE_PASSES=fuse,cse``. The pipeline records each pass's
time and what it changed; ``GRAPHC_DUMP_IR=<dir>`` writes the program after every pass;
with ``GRAPHC_VERIFY=1`` (set by the test suite) the verifier checks the program's
structure after every pass, and its round trip through its bytes after the last.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable

from graphc.ir.program import Program
from graphc.ir.verify import verify, verify_round_trip
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.fold import fold
from graphc.passes.fuse import fuse
from graphc.passes.memory import plan_memory
from graphc.passes.rewrite import copy_program
from graphc.passes.simplify import simplify
from graphc.passes.stabilize import stabilize
from graphc.passes.unroll import unroll
from graphc.passes.xent_backprop import xent_backprop

Pass = Callable[[Program], Program]

# (name, pass), in order.
#
# Why this order:
# - simplify first: dropping Identity/StopGradient and neutral elements (x*1, x+0, ...)
#   exposes the patterns the later passes look for and shrinks their work.
# - stabilize before fold: folding log(softmax(c)) of a constant through the references
#   would bake the unstable value (a -inf) into a constant that no rewrite can repair.
# - fold, then cse: folded constants merge with equal ones, and nodes whose inputs became
#   the same constants merge in turn.
# - resimplify: CSE turns x - y into x - x where x and y were computed alike, and folding
#   makes constant ones and zeros that the neutral-element rules remove.
# - dce: removes whatever the rewrites left unused (each pass also drops dead nodes when it
#   canonicalizes; this pass states the guarantee on its own).
# - xent_backprop after the rewrites that merge and tidy (one Softmax per logits, no
#   Identity in the way) and before fuse, which would hide the Sub it matches; the
#   Softmax it frees goes when it canonicalizes.
# - fuse and plan memory last: they work on the final set of nodes.
PASSES: list[tuple[str, Pass]] = [
    ("simplify", simplify),
    ("unroll", unroll),  # before fold/cse/fuse: they then work across the inlined iterations
    ("stabilize", stabilize),
    ("fold", fold),
    ("cse", cse),
    ("resimplify", simplify),
    ("dce", dce),
    ("xent_backprop", xent_backprop),
    ("fuse", fuse),
    ("memory", plan_memory),
]

DISABLE_ENV = "GRAPHC_DISABLE_PASSES"
DUMP_ENV = "GRAPHC_DUMP_IR"
VERIFY_ENV = "GRAPHC_VERIFY"


@dataclasses.dataclass
class PassRecord:
    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    ops_removed: dict[str, int]
    ops_added: dict[str, int]
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return f"{self.name:<12} (disabled)"
        delta = []
        for op, n in sorted(self.ops_removed.items()):
            delta.append(f"-{n} {op}")
        for op, n in sorted(self.ops_added.items()):
            delta.append(f"+{n} {op}")
        change = ", ".join(delta) if delta else "no change"
        return (
            f"{self.name:<12} {self.seconds * 1e3:8.2f} ms  nodes {self.nodes_before:>4} -> "
            f"{self.nodes_after:<4} {change}"
        )


@dataclasses.dataclass
class Report:
    records: list[PassRecord] = dataclasses.field(default_factory=list)
    snapshots: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (pass, program text)

    def __str__(self) -> str:
        return "\n".join(r.summary() for r in self.records)


def pass_names() -> list[str]:
    return [name for name, _ in PASSES]


def get_pass(name: str) -> Pass:
    for n, fn in PASSES:
        if n == name:
            return fn
    raise KeyError(f"no pass named {name!r}; passes are {pass_names()}")


def disabled_set(disabled: Iterable[str] | None) -> set[str]:
    """The passes switched off: ``disabled`` and ``$GRAPHC_DISABLE_PASSES`` (ValueError for
    a name that is no pass's; "all" switches every pass off)."""
    out = set(disabled or ())
    env = os.environ.get(DISABLE_ENV, "")
    out.update(x.strip() for x in env.split(",") if x.strip())
    unknown = out - set(pass_names()) - {"all"}
    if unknown:
        raise ValueError(f"unknown pass name(s) {sorted(unknown)}; passes are {pass_names()}")
    return out


def optimize(program: Program, disabled: Iterable[str] | None = None) -> Program:
    """Run the pipeline; see ``optimize_with_report``."""
    return optimize_with_report(program, disabled)[0]


def optimize_with_report(
    program: Program, disabled: Iterable[str] | None = None, keep_snapshots: bool = False
) -> tuple[Program, Report]:
    """Run every enabled pass in order, timing each and recording what it changed."""
    off = disabled_set(disabled)
    report = Report()
    dump_dir = os.environ.get(DUMP_ENV)
    verify_each = os.environ.get(VERIFY_ENV, "") not in ("", "0")
    if keep_snapshots:
        report.snapshots.append(("input", str(program)))
    # All dumps of one compile share the input program's hash as a prefix.
    dump_prefix = program.content_hash()[:12] if dump_dir else ""
    if dump_dir:
        _dump(dump_dir, dump_prefix, program, 0, "input")
    # Control flow's branches and bodies first, each a program of its own through the same
    # pipeline (innermost first), so constants fold, common subexpressions merge and
    # elementwise chains fuse inside them too; the passes below then see each If/While
    # as one opaque node, and the memory plan hashes the optimised regions.
    program = _optimize_regions(program, disabled)
    for i, (name, _) in enumerate(PASSES, start=1):
        if name in off or "all" in off:
            report.records.append(
                PassRecord(name, 0.0, len(program.nodes), len(program.nodes), {}, {}, skipped=True)
            )
            continue
        before = Counter(n.op for n in program.nodes)
        n_before = len(program.nodes)
        t0 = time.perf_counter()
        program = get_pass(name)(program)
        dt = time.perf_counter() - t0
        after = Counter(n.op for n in program.nodes)
        report.records.append(
            PassRecord(name, dt, n_before, len(program.nodes), dict(before - after), dict(after - before))
        )
        if verify_each:
            # The structure after each pass; the round trip through the program's bytes
            # (the costlier half) once, after the last.
            verify(program, round_trip=False)
        if keep_snapshots:
            report.snapshots.append((name, str(program)))
        if dump_dir:
            _dump(dump_dir, dump_prefix, program, i, name)
    if verify_each:
        verify_round_trip(program)
    program.meta["pass_report"] = report
    return program, report


def _optimize_regions(program: Program, disabled: Iterable[str] | None) -> Program:
    """``program`` with every control-flow node's regions optimised (a copy when any is)."""
    if not any(n.regions for n in program.nodes):
        return program
    program = copy_program(program)
    for n in program.nodes:
        if n.regions:
            n.regions = tuple(optimize(r, disabled) for r in n.regions)
    return program


def _dump(directory: str, prefix: str, program: Program, index: int, name: str) -> None:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{prefix}-{index:02d}-{name}.txt")
    with open(path, "w") as f:
        f.write(str(program) + "\n")
