"""The traits that passes rely on hold for every op that declares them, checked on the
ops' own samples: "commutative" (CSE merges swapped inputs), "view" (memory planning
lets the output take the input's buffer), "fusable_reduction" (fusion ends a group with
it, passing on only axis and keepdims), "host" (a host op's last output is its token)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc  # noqa: F401  (registers every op)
from graphc import registry as reg


def _with(trait: str) -> list[reg.OpDef]:
    ops = [op for op in reg.all_ops() if op.has(trait)]
    assert ops, f"no op has the trait {trait!r}"
    return ops


def _samples(opdef: reg.OpDef) -> list[reg.Sample]:
    assert opdef.samples is not None, opdef.name
    return opdef.samples(np.random.default_rng(0))


@pytest.mark.parametrize("opdef", _with("commutative"), ids=lambda o: o.name)
def test_commutative_ops_give_the_same_result_with_inputs_swapped(opdef: reg.OpDef) -> None:
    cases = [s.inputs for s in _samples(opdef)]
    x = cases[0][0]
    if x.dtype.kind == "f":  # every pair of the values where order could show
        edge = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1.0], dtype=x.dtype)
        cases.append([np.repeat(edge, len(edge)), np.tile(edge, len(edge))])
    for a, b in cases:
        with np.errstate(all="ignore"):
            ab = opdef.reference([a, b], {})[0]
            ba = opdef.reference([b, a], {})[0]
        assert ab.dtype == ba.dtype and ab.shape == ba.shape
        # Bit for bit, signed zeros included, except which NaN comes out: IEEE leaves that
        # open, and x86 passes on the first operand's (so nan + -nan has the sign of the left one).
        nan = np.isnan(ab) if ab.dtype.kind == "f" else np.zeros(ab.shape, bool)
        assert np.array_equal(nan, np.isnan(ba) if ba.dtype.kind == "f" else nan), (opdef.name, a, b)
        assert ab[~nan].tobytes() == ba[~nan].tobytes(), (opdef.name, a, b)


@pytest.mark.parametrize("opdef", _with("view"), ids=lambda o: o.name)
def test_view_ops_relabel_their_input_bytes(opdef: reg.OpDef) -> None:
    for s in _samples(opdef):
        x = np.asarray(s.inputs[0])
        out = np.asarray(opdef.reference(list(s.inputs), dict(s.attrs))[0])
        assert out.dtype == x.dtype and out.size == x.size
        assert np.ascontiguousarray(out).tobytes() == np.ascontiguousarray(x).tobytes(), opdef.name


@pytest.mark.parametrize("opdef", _with("fusable_reduction"), ids=lambda o: o.name)
def test_fusable_reductions_take_one_input_and_only_axis_and_keepdims(opdef: reg.OpDef) -> None:
    assert opdef.has("reduction")
    for s in _samples(opdef):
        assert len(s.inputs) == 1, opdef.name
        assert set(s.attrs) <= {"axis", "keepdims"}, (opdef.name, s.attrs)


@pytest.mark.parametrize("opdef", _with("host"), ids=lambda o: o.name)
def test_host_ops_end_with_a_true_scalar_bool_token(opdef: reg.OpDef) -> None:
    # Lowering keeps a host op by fetching its last output; segments run it on NumPy.
    for s in _samples(opdef):
        out = opdef.reference(list(s.inputs), dict(s.attrs))
        assert len(out) >= 1, opdef.name
        token = np.asarray(out[-1])
        assert token.dtype == np.bool_ and token.shape == () and bool(token), opdef.name
