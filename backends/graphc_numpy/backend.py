"""The interpreter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import errors
from graphc.ir.program import Node, Program
from graphc.ops import registry as reg

# Ops this backend runs differently from the op's reference, in one visible table.
# Everything else runs the registered reference.
Lowering = Callable[[Node, list[np.ndarray]], list[np.ndarray]]
LOWERINGS: dict[str, Lowering] = {}


def lowering(op: str) -> Callable[[Lowering], Lowering]:
    def deco(fn: Lowering) -> Lowering:
        LOWERINGS[op] = fn
        return fn

    return deco


@lowering("Fused")
def _fused(node: Node, ins: list[np.ndarray]) -> list[np.ndarray]:
    """The scalar expression, evaluated op by op with broadcasting, then (for a reduction
    epilogue) the reduction op's own reference, so fused and unfused agree exactly."""
    from graphc.ops import scalar

    out = scalar.evaluate(node.attrs["expr"], ins)
    shape = tuple(np.broadcast_shapes(*[np.shape(x) for x in ins])) if ins else ()
    arr = np.asarray(out).astype(node.attrs["dtype"].np, copy=False)
    reduce = node.attrs.get("reduce")
    if reduce is not None:
        if arr.shape != shape:
            arr = np.broadcast_to(arr, shape)  # a read-only view is enough to reduce
        attrs = {"axis": tuple(node.attrs["axis"]), "keepdims": bool(node.attrs["keepdims"])}
        return [reg.get(reduce).reference([arr], attrs)[0]]
    if arr.shape != shape:
        arr = np.broadcast_to(arr, shape).copy()
    return [arr]


class NumpyExecutable:
    def __init__(self, program: Program) -> None:
        self.program = program
        # Resolve each node's function once, not per run.
        self._steps: list[
            tuple[Node, Callable[[list[np.ndarray]], list[np.ndarray]], list[int], list[int]]
        ] = []
        slot: dict[int, int] = {}
        for i, p in enumerate(program.params):
            slot[id(p.value)] = i
        n = len(program.params)
        for node in program.nodes:
            fn = self._function(node)
            ins = [slot[id(v)] for v in node.inputs]
            outs = []
            for v in node.outputs:
                slot[id(v)] = n
                outs.append(n)
                n += 1
            self._steps.append((node, fn, ins, outs))
        self._n_slots = n
        self._out_slots = [slot[id(o.value)] for o in program.outputs]

    @staticmethod
    def _function(node: Node) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
        if node.op in LOWERINGS:
            low = LOWERINGS[node.op]
            return lambda ins: low(node, ins)
        ref = reg.get(node.op).reference
        attrs = node.attrs
        return lambda ins: ref(ins, attrs)

    def run(self, inputs: Sequence[Any]) -> list[Any]:
        if len(inputs) != len(self.program.params):
            raise ValueError(f"expected {len(self.program.params)} inputs, got {len(inputs)}")
        slots: list[Any] = [None] * self._n_slots
        slots[: len(inputs)] = inputs
        for node, fn, ins, outs in self._steps:
            try:
                with np.errstate(all="ignore"):
                    results = fn([slots[i] for i in ins])
            except errors.OpError:
                raise
            except Exception as exc:  # noqa: BLE001  (any failure is reported against the user's op)
                raise errors.InvalidArgumentError(None, node.origin, f"{type(exc).__name__}: {exc}") from exc
            for o, r, v in zip(outs, results, node.outputs):
                arr = np.asarray(r)
                if arr.dtype != v.dtype.np and not v.dtype.is_string:
                    arr = arr.astype(v.dtype.np)
                slots[o] = arr
        return [slots[i] for i in self._out_slots]


class NumpyBackend:
    name = "numpy"

    def is_available(self) -> bool:
        return True

    def compile(self, program: Program, options: dict[str, Any] | None = None) -> NumpyExecutable:
        return NumpyExecutable(program)

    def to_device(self, array: np.ndarray) -> np.ndarray:
        # A copy, as a transfer to a device would be: the caller keeps its array.
        return np.array(array, copy=True)

    def to_host(self, array: Any) -> np.ndarray:
        # A copy: what the caller gets never aliases the backend's buffers.
        return np.array(array, copy=True)
