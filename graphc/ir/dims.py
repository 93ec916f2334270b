"""Dims in an already lowered program: the one :class:`graphc.registry.DimEnv` that the
verifier, the rewrite passes and fusion give the op rules.

In a lowered program every dim is final: lowering unified the dims that must be
equal, and recorded what it could not prove as entry assertions or run-time checks.
So this environment never unifies anything:

- ``equal(a, b)``: equal dims give that dim; a placeholder (see below) gives way to the
  other dim; two different ints are a :class:`graphc.registry.ShapeError`; two different
  symbolic dims give ``a`` (their equality was recorded by lowering and is checked when
  the program runs, so a rule re-run on the program accepts it);
- ``fresh()``: a placeholder symbol ``?rule<k>`` for a dim the rules cannot tell (a
  data-dependent size). It never belongs in a program: the caller decides what it stands
  for. The verifier accepts whatever dim the program recorded there; a rewrite takes the
  dim of the value it replaces, or declines. :func:`is_placeholder` tells them apart.
"""

from __future__ import annotations

from graphc import registry as reg
from graphc import symbolic as sym

PLACEHOLDER_PREFIX = "?rule"


class LoweredDims(reg.DimEnv):
    """Dims as op rules see them in a lowered program (see the module docstring)."""

    def __init__(self) -> None:
        self._n = 0

    def fresh(self, hint: str = "d") -> sym.Dim:
        self._n += 1
        return sym.symbol(f"{PLACEHOLDER_PREFIX}{self._n}")

    def equal(self, a: sym.Dim, b: sym.Dim) -> sym.Dim:
        if a == b:
            return a
        if is_placeholder(a) or is_placeholder(b):
            return b if is_placeholder(a) else a
        if isinstance(a, int) and isinstance(b, int):
            raise reg.ShapeError(f"{a} != {b}")
        return a  # symbolic relations beyond equality are checked when the program runs


def is_placeholder(d: sym.Dim | None) -> bool:
    """Whether ``d`` involves a placeholder made by :meth:`LoweredDims.fresh`."""
    return any(s.startswith(PLACEHOLDER_PREFIX) for s in sym.free_symbols(d))
