"""The interpreter."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphc import errors
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir.entry import DimState
from graphc.ir.program import Node, Program
from graphc.ops import fused_ops, host_ops
from graphc.runtime.backend import MACHINE_MEMORY_BYTES, CompileOptions

# Ops this backend runs differently from the op's reference, in one visible table.
# Everything else runs the registered reference. A lowering is prepared once per node,
# when the program is compiled, and returns the function each run calls.
Kernel = Callable[[list[np.ndarray]], list[np.ndarray]]
Lowering = Callable[[Node], Kernel]
LOWERINGS: dict[str, Lowering] = {}


def lowering(op: str) -> Callable[[Lowering], Lowering]:
    def deco(fn: Lowering) -> Lowering:
        LOWERINGS[op] = fn
        return fn

    return deco


@lowering(fused_ops.FUSED.name)
def _fused(node: Node) -> Kernel:
    """The Fused op's meaning (``fused_ops.kernel``: the typed expression over the inputs
    as its ``broadcast`` attr reads them, then the reduction's monoid), prepared once per
    node: the expression compiled to a flat list of NumPy calls and the broadcasts and
    epilogue worked out, so a run only makes the calls."""
    fn = fused_ops.kernel(node.attrs, len(node.inputs))
    return lambda ins: [fn(ins)]


def _host(node: Node) -> Kernel:
    """A host op (graphc/ops/host_ops.py: py_func, Print, print, Assert): its reference,
    with errors naming the node's user op and line (a failed assertion, the user
    function's exception as TF1's error class)."""
    return host_ops.kernel(node.op, node.attrs, node.origin)


for _op in sorted(host_ops.HOST_OPS):
    LOWERINGS[_op] = _host


class _Region:
    """A control-flow node's sub-program, compiled once: called with its args, it binds
    its dims from their shapes (and checks its assertions), then runs."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.exe = NumpyExecutable(program)

    def __call__(self, ins: list[Any]) -> list[Any]:
        p = self.program
        env: dict[str, int] = {}
        for b in p.bindings:
            name = sym.as_symbol(b.dim)
            if name is not None and name not in env:
                env[name] = int(np.shape(ins[b.param])[b.axis])
        for b in p.bindings:
            actual = int(np.shape(ins[b.param])[b.axis])
            try:
                expected = sym.evaluate(b.dim, env)
            except KeyError:
                continue
            if expected != actual:
                raise errors.InvalidArgumentError(
                    None,
                    None,
                    f"a control-flow argument's dimension {b.axis} is {actual}, expected {expected}",
                )
        for a in p.assertions:
            try:
                lhs, rhs = sym.evaluate(a.lhs, env), sym.evaluate(a.rhs, env)
            except KeyError:
                continue
            if lhs != rhs:
                raise errors.InvalidArgumentError(
                    None, a.origin, f"dimensions must be equal: {a.lhs} = {lhs} and {a.rhs} = {rhs}"
                )
        return self.exe.run(ins, env)


@lowering("If")
def _if(node: Node) -> Kernel:
    """If(pred, *args): runs the then or the else sub-program on args (TF1's cond runs
    only the taken branch)."""
    then_r, else_r = (_Region(r) for r in node.regions)
    return lambda ins: (then_r if bool(np.asarray(ins[0])) else else_r)(list(ins[1:]))


@lowering("While")
def _while(node: Node) -> Kernel:
    """While(*vars, *captures): runs the body on the loop variables while the cond
    sub-program gives true (TF1's while_loop, iterations in order)."""
    cond_r, body_r = (_Region(r) for r in node.regions)
    n = len(node.outputs)

    def run(ins: list[Any]) -> list[Any]:
        vs, caps = list(ins[:n]), list(ins[n:])
        while bool(np.asarray(cond_r(vs + caps)[0])):
            vs = body_r(vs + caps)
        return vs

    return run




class NumpyExecutable:
    def __init__(self, program: Program) -> None:
        self.program = program
        # Resolve each node's function once, not per run: (node, kernel, input slots,
        # output slots, the NumPy dtype of each output or None for strings).
        self._steps: list[tuple[Node, Kernel, list[int], list[int], list[np.dtype | None]]] = []
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
            dtypes = [None if v.dtype.is_string else v.dtype.np for v in node.outputs]
            self._steps.append((node, fn, ins, outs, dtypes))
        self._n_slots = n
        self._out_slots = [slot[id(o.value)] for o in program.outputs]
        # Each node's output bytes as formulas in the dims: a run whose sizes cannot be
        # allocated fails before its first node, naming the op (ResourceExhaustedError).
        sizes: dict[Any, Node] = {}  # each distinct size once, with the first op that needs it
        for node in program.nodes:
            for v in node.outputs:
                size = sym.product(v.shape) * v.dtype.size
                if not v.dtype.is_string and (not isinstance(size, int) or size > MACHINE_MEMORY_BYTES):
                    sizes.setdefault(size, node)
        self._sizes = [(node, size) for size, node in sizes.items()]
        # Output k updates the variable of param i (by name): where a donated buffer goes.
        var_param = {p.name: i for i, p in enumerate(program.params) if p.kind == "variable"}
        self._update_param = {
            k: var_param[o.name]
            for k, o in enumerate(program.outputs)
            if o.kind == "update" and o.name in var_param
        }

    @staticmethod
    def _function(node: Node) -> Kernel:
        if node.op in LOWERINGS:
            return LOWERINGS[node.op](node)
        ref = reg.get(node.op).reference
        attrs = node.attrs
        return lambda ins: ref(ins, attrs)

    def run(
        self, inputs: Sequence[Any], dims: Mapping[str, int], donated: frozenset[int] = frozenset()
    ) -> list[Any]:
        """Run the program (protocol v2): ``dims`` were bound and checked at entry; each
        data-defined dim is bound or checked as its node runs; a donated variable buffer
        receives its variable's new value only after every node succeeded."""
        if len(inputs) != len(self.program.params):
            raise ValueError(f"expected {len(self.program.params)} inputs, got {len(inputs)}")
        self._check_sizes(dims)
        state = DimState(self.program, dims) if self.program.defined_dims else None
        slots: list[Any] = [None] * self._n_slots
        slots[: len(inputs)] = inputs
        # Floating-point errors give inf/nan as in compiled code: ignored for the whole run,
        # entered once here rather than around every node or primitive.
        with np.errstate(all="ignore"):
            for node, fn, ins, outs, dtypes in self._steps:
                try:
                    results = fn([slots[i] for i in ins])
                except errors.OpError:
                    raise
                except MemoryError as exc:
                    raise errors.ResourceExhaustedError(
                        None, node.origin, f"out of memory computing this op's outputs ({exc})"
                    ) from None
                except Exception as exc:  # noqa: BLE001  (any failure is reported against the user's op)
                    raise errors.InvalidArgumentError(
                        None, node.origin, f"{type(exc).__name__}: {exc}"
                    ) from exc
                for o, r, dt, v in zip(outs, results, dtypes, node.outputs):
                    arr = np.asarray(r)
                    if dt is not None and arr.dtype != dt:
                        arr = arr.astype(dt)
                    if state is not None and state.has_defined(v):
                        state.after_node(v, arr.shape, node.origin)
                    slots[o] = arr
        results = [slots[i] for i in self._out_slots]
        return self._donate(inputs, results, donated)

    def _check_sizes(self, dims: Mapping[str, int]) -> None:
        for node, size in self._sizes:
            try:
                n = sym.evaluate(size, dims)
            except KeyError:
                continue  # a data-defined size: known once its node has run
            if n > MACHINE_MEMORY_BYTES:
                raise errors.ResourceExhaustedError(
                    None,
                    node.origin,
                    f"OOM when allocating an output of {n:,} bytes for this op "
                    f"(the machine has {MACHINE_MEMORY_BYTES:,} bytes of memory)",
                )

    def _donate(self, inputs: Sequence[Any], results: list[Any], donated: frozenset[int]) -> list[Any]:
        """Write each donated variable's new value into its buffer (nothing can fail now)."""
        if not donated:
            return results
        for k, r in enumerate(results):
            i = self._update_param.get(k)
            if i is None or i not in donated:
                continue
            buf = inputs[i]
            if r is buf:
                continue
            if (
                not isinstance(buf, np.ndarray)
                or not buf.flags.writeable
                or buf.shape != np.shape(r)
                or buf.dtype != np.asarray(r).dtype
            ):
                continue
            # Results that read the old value (a fetch of the variable) keep it: copy them first.
            for j, other in enumerate(results):
                if j != k and isinstance(other, np.ndarray) and np.shares_memory(other, buf):
                    results[j] = other.copy()
            np.copyto(buf, r)
            results[k] = buf
        return results


class NumpyBackend:
    name = "numpy"

    def is_available(self) -> bool:
        return True

    def supported_ops(self) -> frozenset[str] | None:
        return None  # every registered op: their references are this backend's kernels

    def compile(self, program: Program, options: CompileOptions | None = None) -> NumpyExecutable:
        return NumpyExecutable(program)

    def to_device(self, array: np.ndarray) -> np.ndarray:
        # A copy, as a transfer to a device would be: the caller keeps its array.
        return np.array(array, copy=True)

    def to_host(self, array: Any) -> np.ndarray:
        # A copy: what the caller gets never aliases the backend's buffers.
        return np.array(array, copy=True)
