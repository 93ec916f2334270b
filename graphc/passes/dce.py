"""Dead-code elimination.

Guarantees: the returned program has the same params (the calling convention) and
outputs, and keeps exactly the nodes some output depends on, in canonical order. A
program is a pure function (lowering made variables, assignments and random counters
explicit inputs and outputs), so a node no output needs has no effect at all and is
removed, random and stateful ones included. The pass is idempotent.
"""

from __future__ import annotations

from graphc.ir.program import Node, Program, canonicalize
from graphc.passes.rewrite import copy_program


def dce(program: Program) -> Program:
    """Remove every node no output depends on."""
    program = copy_program(program)
    live: set[int] = set()
    stack: list[Node] = [o.value.producer for o in program.outputs if o.value.producer is not None]
    while stack:
        node = stack.pop()
        if id(node) in live:
            continue
        live.add(id(node))
        stack.extend(v.producer for v in node.inputs if v.producer is not None and id(v.producer) not in live)
    program.nodes = [n for n in program.nodes if id(n) in live]
    canonicalize(program)
    return program
