"""Registry-wide checks: every op on every backend against its reference, every shape
and dtype rule against the reference's outputs, every gradient rule against central
differences. A new op with samples is covered with no new test code."""

from __future__ import annotations

import numpy as np
import pytest

import graphc  # noqa: F401  (registers every op)
from graphc import registry as reg
from graphc.runtime.backend import available_backends
from tests import op_harness as H

OPS = reg.all_ops()


def _cases(only_grad: bool = False, trait: str | None = None) -> list[tuple[str, int]]:
    out = []
    for opdef in OPS:
        if opdef.samples is None or (trait is not None and not opdef.has(trait)):
            continue
        if only_grad and isinstance(opdef.grad, reg.NotDifferentiable):
            continue
        for k, sample in enumerate(opdef.samples(np.random.default_rng(0))):
            if only_grad and (not sample.grad or not H.wrt_indices(sample)):
                continue
            out.append(pytest.param(opdef.name, k, id=f"{opdef.name}-{k}"))
    return out


def _sample(name: str, k: int) -> tuple[reg.OpDef, reg.Sample]:
    opdef = reg.get(name)
    return opdef, opdef.samples(np.random.default_rng(0))[k]  # type: ignore[misc]


def _assert_same(got: np.ndarray, want: np.ndarray, exact: bool) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype, f"dtype {got.dtype} != reference {want.dtype}"
    if want.dtype.kind in "fc" and not exact:
        np.testing.assert_allclose(
            got, want, rtol=2e-6 if want.dtype == np.float64 else 2e-5, atol=1e-6, equal_nan=True
        )
    elif want.dtype == object:
        assert got.tolist() == want.tolist()
    else:
        np.testing.assert_array_equal(got, want)


def test_every_op_is_complete() -> None:
    for opdef in OPS:
        assert opdef.grad is not None, opdef.name
        assert opdef.samples is not None or opdef.no_samples, opdef.name
        if opdef.has("elementwise"):
            assert opdef.scalar is not None, opdef.name


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("name,k", _cases())
def test_op_matches_reference(backend: str, name: str, k: int) -> None:
    opdef, sample = _sample(name, k)
    want = H.reference(opdef, sample)
    got = H.run_on_backend(backend, opdef, sample)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _assert_same(np.asarray(g), w, exact=(backend == "numpy"))


@pytest.mark.parametrize("name,k", _cases())
def test_shape_and_dtype_rules(name: str, k: int) -> None:
    opdef, sample = _sample(name, k)
    want = H.reference(opdef, sample)
    shapes, dtypes = H.infer(opdef, sample)
    assert [tuple(s) for s in shapes] == [w.shape for w in want]
    assert [d.np for d in dtypes] == [w.dtype for w in want]
    sym_shapes, _ = H.infer(opdef, sample, symbolic_batch=True)
    for got, w in zip(sym_shapes, want):
        if got is not None:  # unknown rank is a weaker, still correct answer
            assert tuple(got) == w.shape


@pytest.mark.parametrize("name,k", _cases(trait="elementwise"))
def test_elementwise_scalar_matches_reference(name: str, k: int) -> None:
    opdef, sample = _sample(name, k)
    from graphc import scalar as S

    ins = [np.asarray(x) for x in sample.inputs]
    expr = opdef.scalar([S.inp(i) for i in range(len(ins))], sample.attrs)  # type: ignore[misc]
    want = H.reference(opdef, sample)[0]
    got = np.asarray(S.evaluate(expr, ins))
    got = np.broadcast_to(got, want.shape).astype(want.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,k", _cases(only_grad=True))
def test_gradient_matches_central_differences(name: str, k: int) -> None:
    opdef, sample = _sample(name, k)
    analytic, numeric = H.gradient_check(opdef, sample)
    assert np.isclose(analytic, numeric, rtol=1e-5, atol=1e-6), (analytic, numeric)
