"""Running one registered op on its samples: as a one-node program on a backend,
through its shape rule, and through its gradient rule in a frontend graph."""

from __future__ import annotations

from typing import Any

import numpy as np

import graphc
from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir.program import DefinedDim, Node, Origin, Output, Param, Program, Value
from graphc.runtime.backend import get_backend, run_program


def as_list(out: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in out]


def reference(opdef: reg.OpDef, sample: reg.Sample) -> list[np.ndarray]:
    return as_list(opdef.reference([np.asarray(x) for x in sample.inputs], sample.attrs))


def _is_value_input(x: np.ndarray) -> bool:
    return x.dtype.kind in "iu" and x.size <= 256


class _Wildcard:
    """An output dim a shape rule leaves unknown (a fresh symbol): matches any size."""

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "?"


WILDCARD = _Wildcard()


def infer(opdef: reg.OpDef, sample: reg.Sample, symbolic_batch: bool = False) -> tuple[list[Any], list[Any]]:
    """The op's shape and dtype rules on the sample's inputs (optionally with the first
    dim of every rank>=1 float input made symbolic, then evaluated back)."""
    from graphc.ir.lower import LoweringDims

    env = LoweringDims()
    ins = [np.asarray(x) for x in sample.inputs]
    if opdef.has("random"):
        ins = ins[:-1]
    shapes: list[Any] = []
    bind: dict[str, int] = {}
    for i, x in enumerate(ins):
        shp: list[Any] = list(x.shape)
        if symbolic_batch and x.ndim >= 1 and x.dtype.kind == "f" and x.shape[0] > 1:
            s = sym.symbol(f"B{i}")
            bind[f"B{i}"] = x.shape[0]
            shp[0] = s
        shapes.append(tuple(shp))
    values = [np.array(x.tolist(), dtype=object) if _is_value_input(x) else None for x in ins]
    ctx = reg.InferenceContext(
        opdef.name, shapes, [_dt.as_dtype(x.dtype) for x in ins], values, sample.attrs, env
    )
    dts = opdef.dtype(ctx)
    out_shapes = opdef.shape(ctx)
    if out_shapes is not None:
        # Unified symbols resolve to one another; bind all of them.
        resolved = []
        for s in out_shapes:
            if s is None:  # a rule may know less with symbolic dims (e.g. squeeze without axis)
                resolved.append(None)
                continue
            dims = []
            for d in s:
                d = env.resolve(d)
                full = dict(bind)
                for name, val in env.subst.items():
                    full.setdefault(
                        name, sym.evaluate(val, bind) if not sym.free_symbols(val) - bind.keys() else None
                    )
                known = {k: v for k, v in full.items() if v is not None}
                if isinstance(d, int) or not sym.free_symbols(d) - known.keys():
                    dims.append(sym.evaluate(d, known))
                else:
                    dims.append(WILDCARD)  # a dim the rule leaves unknown
            resolved.append(tuple(dims))
        out_shapes = resolved
    return out_shapes, dts


def one_node_program(opdef: reg.OpDef, sample: reg.Sample) -> Program:
    ins = [np.asarray(x) for x in sample.inputs]
    params = [
        Param(Value(_dt.as_dtype(x.dtype), tuple(x.shape)), "feed", f"in{i}") for i, x in enumerate(ins)
    ]
    out_shapes, dts = infer(opdef, sample)
    node = Node(
        opdef.name, [p.value for p in params], dict(sample.attrs), [], Origin("op", opdef.name, "test")
    )
    defined: list[DefinedDim] = []
    for j, (s, d) in enumerate(zip(out_shapes, dts)):
        # A dim the rules leave unknown is data-defined: a symbol the node's run binds.
        dims = [sym.symbol(f"D{j}_{a}") if x is WILDCARD else x for a, x in enumerate(s)]
        v = Value(d, tuple(dims), node, j)
        node.outputs.append(v)
        defined += [DefinedDim(v, a, x) for a, x in enumerate(dims) if not isinstance(x, int)]
    outputs = [Output(v, "fetch", str(j)) for j, v in enumerate(node.outputs)]
    return Program(params, [node], outputs, defined_dims=defined)


def run_on_backend(backend_name: str, opdef: reg.OpDef, sample: reg.Sample) -> list[np.ndarray]:
    return run_program(get_backend(backend_name), one_node_program(opdef, sample), sample.inputs)


def wrt_indices(sample: reg.Sample) -> list[int]:
    if sample.wrt is not None:
        return list(sample.wrt)
    return [i for i, x in enumerate(sample.inputs) if np.asarray(x).dtype.kind == "f"]


def gradient_check(opdef: reg.OpDef, sample: reg.Sample, seed: int = 0) -> tuple[float, float]:
    """(analytic, numeric) directional derivative of sum_j <out_j, r_j> along a random
    direction, in float64; the analytic one comes from the op's gradient rule."""
    rng = np.random.default_rng(seed)
    ins = [np.asarray(x) for x in sample.inputs]
    ins = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in ins]
    wrt = wrt_indices(sample)
    outs0 = as_list(opdef.reference(ins, sample.attrs))
    weights = [rng.normal(size=o.shape) if o.dtype.kind == "f" else None for o in outs0]
    direction = {i: rng.normal(size=ins[i].shape) for i in wrt}

    def loss(xs: list[np.ndarray]) -> float:
        outs = as_list(opdef.reference(xs, sample.attrs))
        return float(sum(np.sum(o * w) for o, w in zip(outs, weights) if w is not None))

    eps = 1e-6
    plus = [x + eps * direction[i] if i in direction else x for i, x in enumerate(ins)]
    minus = [x - eps * direction[i] if i in direction else x for i, x in enumerate(ins)]
    numeric = (loss(plus) - loss(minus)) / (2 * eps)

    g = graphc.Graph()
    with g.as_default():
        tensors = []
        feeds = {}
        for i, x in enumerate(ins):
            if i in direction:
                p = graphc.placeholder(graphc.float64, x.shape, name=f"x{i}")
                feeds[p] = x
                tensors.append(p)
            else:
                tensors.append(graphc.constant(x, dtype=_dt.as_dtype(x.dtype)))
        op = g.create_op(opdef.name, tensors, dict(sample.attrs))
        terms = [
            graphc.reduce_sum(graphc.multiply(o, graphc.constant(w, dtype=graphc.float64)))
            for o, w in zip(op.outputs, weights)
            if w is not None
        ]
        total = graphc.add_n(terms)
        xs = [tensors[i] for i in wrt]
        grads = graphc.gradients(total, xs)
        with graphc.Session(graph=g) as sess:
            fetch = [gr for gr in grads if gr is not None]
            vals = iter(sess.run(fetch, feeds))
        analytic = 0.0
        for i, gr in zip(wrt, grads):
            if gr is not None:
                analytic += float(np.sum(next(vals) * direction[i]))
    return analytic, numeric
