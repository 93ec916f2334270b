"""Host callbacks: ``tf.py_func`` / ``tf.numpy_function``, ``tf.Print`` / ``tf.print`` and
the ``tf.assert_*`` family (TF1 1.15's signatures and messages).

Each of these ops has the "host" trait: when it runs it calls back into Python (the
user's function, a write to a stream, a check that raises). Whatever backend a session
uses, such a node runs on the NumPy backend: the partition pass puts it in a NumPy
segment (graphc/runtime/segments.py), so a native backend's code never calls Python and
the segment boundary is the callback. Every host op's last output is a scalar bool
token (True once the op has run): it is how a host op that only control dependencies
reach is kept in the program it belongs to.

The Python callable of a py_func cannot be part of the IR (a program is plain data:
printed, hashed, serialised). The op holds an int attr ``token``, an id into this
module's process-level table of functions (:func:`register_function`). So:

- a program with a host op is never stored in the on-disk compile cache (its key could
  not tell two functions apart in another process): its host segments run on the NumPy
  backend, which is never cached, and ``segments.compile_program`` compiles any unit
  holding a host op without the cache;
- such a program cannot be saved as an artifact (``graphc.compile(...).save``): the
  function would not be there when it is loaded. A host op whose token is not in this
  process's table raises FailedPreconditionError saying so.

Table entries live as long as the process (TF1's py_func registry likewise keeps each
function while its graph may run).

Shapes: TF1 gives a py_func's outputs an unknown shape. graphc's programs need each
value's rank, so an output's shape is what the caller declares (``shapes=`` or
``y.set_shape(...)`` on the returned tensor, as TF1 code does); a dim left None is
defined by the data when the op runs (a ``D`` symbol, as ``tf.where`` makes).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import errors
from graphc import registry as reg
from graphc.frontend.graph import Operation, Tensor, get_default_graph
from graphc.frontend.tensor_shape import as_shape
from graphc.ops.common import constant, convert_to_tensor, is_tensorish, make_op
from graphc.ops.compare_ops import equal, greater, greater_equal, less, less_equal, not_equal
from graphc.ops.core_ops import no_op
from graphc.ops.core_ops import rank as _rank
from graphc.ops.core_ops import shape as _shape
from graphc.ops.math_ops import abs as _abs
from graphc.ops.math_ops import add, cast, multiply, subtract
from graphc.ops.reduction_ops import reduce_all

# =============================================================================================
# The process-level table of host functions.


@dataclasses.dataclass
class HostFunction:
    """One entry of the table: the callable (a py_func's function, or a stream's writer)
    and a call counter (tf.Print's ``first_n``)."""

    fn: Any
    what: str
    calls: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


_TABLE: dict[int, HostFunction] = {}
_TABLE_LOCK = threading.Lock()
_TOKENS = itertools.count(1)


def register_function(fn: Any, what: str = "function") -> int:
    """Put ``fn`` in the table and return its token (an int, unique in this process)."""
    with _TABLE_LOCK:
        token = next(_TOKENS)
        _TABLE[token] = HostFunction(fn, what)
    return token


def lookup(token: int, origin: Any = None) -> HostFunction:
    """The table entry of ``token``; FailedPreconditionError naming ``origin`` (the node's
    user op) when this process has none (a program with host callbacks moved elsewhere)."""
    entry = _TABLE.get(token)
    if entry is None:
        raise errors.FailedPreconditionError(
            None,
            origin,
            f"host function {token} is not registered in this process: a program with tf.py_func, "
            "tf.Print, tf.print or other host callbacks holds only a reference to its Python "
            "function, so it cannot be saved and run elsewhere",
        )
    return entry


HOST_TRAIT = "host"
TOKEN_DTYPE = _dt.bool_


def _token() -> np.ndarray:
    return np.array(True)


# =============================================================================================
# Formatting values as TF's summaries do (Tensor::SummarizeValue), for tf.Print, tf.Assert
# (the v1 layout) and tf.print (the v2 layout).


def _element(x: Any, dtype: np.dtype, quote: bool) -> str:
    if dtype.kind == "O" or isinstance(x, bytes | str):
        s = x.decode("utf-8", "backslashreplace") if isinstance(x, bytes) else str(x)
        return f'"{s}"' if quote else s
    if dtype.kind == "b":
        return "1" if x else "0"
    if dtype.kind in "iu":
        return str(int(x))
    if dtype.kind == "f":
        v = float(x)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        # The shortest of printf's %g with the type's digits, or with 3 more when that does
        # not read back as the same value (TF's FloatToBuffer / DoubleToBuffer).
        if dtype.itemsize == 8:
            s = f"{v:.15g}"
            return s if float(s) == v else f"{v:.17g}"
        s = f"{v:.6g}"
        return s if np.float32(s) == np.float32(v) else f"{v:.9g}"
    return str(x)


def summarize_v1(value: Any, summarize: int) -> str:
    """TF1's layout (tf.Print, tf.Assert): at most ``summarize`` elements (all when it is
    negative) in row-major order, each innermost row bracketed except the outermost
    level, ``...`` where elements were left out."""
    arr = np.asarray(value)
    n = arr.size
    limit = n if summarize < 0 else min(summarize, n)
    flat = arr.reshape(-1)
    dt = arr.dtype
    if arr.ndim == 0:
        out = " ".join(_element(flat[i], dt, False) for i in range(limit))
        return out + ("..." if n > limit else "")
    shape = arr.shape
    parts: list[str] = []
    index = [0]

    def one_dim(d: int) -> None:
        if index[0] >= limit:
            return
        if d == len(shape) - 1:
            for i in range(shape[d]):
                if index[0] >= limit:
                    if d != 0:
                        parts.append("...")
                    return
                if i > 0:
                    parts.append(" ")
                parts.append(_element(flat[index[0]], dt, False))
                index[0] += 1
            return
        for _ in range(shape[d]):
            opened = index[0] < limit
            if opened:
                parts.append("[")
            one_dim(d + 1)
            if opened:
                parts.append("]")

    one_dim(0)
    return "".join(parts) + ("..." if n > limit else "")


def summarize_v2(value: Any, summarize: int) -> str:
    """TF2's layout (tf.print): nested brackets like NumPy's, rows on new lines; along each
    dim longer than ``2 * summarize`` only the first and last ``summarize`` entries, with
    ``...`` between (every entry when ``summarize`` is negative)."""
    arr = np.asarray(value)
    dt = arr.dtype
    if arr.ndim == 0:
        return _element(arr.reshape(())[()], dt, True)
    ends = max(arr.shape) if summarize < 0 else summarize
    nd = arr.ndim

    def spacing(d: int) -> str:
        return " " if d == nd - 1 else "\n" * (nd - d - 1) + " " * (d + 1)

    def walk(sub: np.ndarray, d: int) -> str:
        if d == nd:
            return _element(sub[()], dt, True)
        count = sub.shape[0]
        items: list[str] = []
        for i in range(min(ends, count)):
            items.append(walk(sub[i], d + 1))
        tail_start = max(ends, count - ends)
        if count > 2 * ends:
            items.append("...")
        for i in range(tail_start, count):
            items.append(walk(sub[i], d + 1))
        return "[" + spacing(d).join(items) + "]"

    return walk(arr, 0)


# =============================================================================================
# Running host ops: shared by the references and the NumPy backend's kernels (which pass the
# node's origin, so that errors name the user's op and line).


def _copy_in(ins: Sequence[Any]) -> list[np.ndarray]:
    # The function gets arrays of its own: writing into them must not change a feed, a
    # variable's buffer or another node's value.
    return [np.array(x, copy=True) for x in ins]


def _to_output(value: Any, dtype: _dt.DType, k: int, what: str, origin: Any) -> np.ndarray:
    if dtype.is_string:
        arr = np.asarray(value, dtype=object)
        conv = np.vectorize(lambda s: s.encode() if isinstance(s, str) else s, otypes=[object])
        return conv(arr) if arr.size else arr.copy()
    arr = np.asarray(value)
    want = dtype.np
    if arr.dtype == want:
        return np.array(arr, copy=True)
    if arr.dtype.kind in "biuf" and np.can_cast(arr.dtype, want, casting="same_kind"):
        return arr.astype(want)
    if arr.dtype.kind in "biu" and want.kind == "f":
        return arr.astype(want)
    raise errors.InvalidArgumentError(
        None, origin, f"{k}-th value returned by {what} is {arr.dtype.name}, but expects {dtype.name}"
    )


def _python_error(exc: BaseException, what: str, origin: Any) -> errors.OpError:
    """TF1's mapping of a py_func's Python exception to an error class (py_func.cc)."""
    text = f"{type(exc).__name__}: {exc}\n  (raised by {what})"
    if isinstance(exc, errors.OpError):
        return exc
    if isinstance(exc, ValueError | TypeError):
        return errors.InvalidArgumentError(None, origin, text)
    if isinstance(exc, StopIteration | IndexError):
        return errors.OutOfRangeError(None, origin, text)
    if isinstance(exc, MemoryError):
        return errors.ResourceExhaustedError(None, origin, text)
    if isinstance(exc, NotImplementedError):
        return errors.UnimplementedError(None, origin, text)
    return errors.UnknownError(None, origin, text)


def run_py_func(ins: Sequence[Any], attrs: dict[str, Any], origin: Any = None) -> list[np.ndarray]:
    """PyFunc / PyFuncStateless: ``func(*inputs)`` -> one array per ``Tout``, then the token."""
    entry = lookup(attrs["token"], origin)
    what = entry.what
    tout: tuple[_dt.DType, ...] = attrs["Tout"]
    try:
        result = entry.fn(*_copy_in(ins))
    except Exception as exc:  # noqa: BLE001  (the user's function: any failure becomes TF1's error)
        raise _python_error(exc, what, origin) from exc
    if not tout:
        values: list[Any] = []
    elif isinstance(result, list | tuple):
        values = list(result)
    else:
        values = [result]
    if len(values) != len(tout):
        raise errors.InvalidArgumentError(
            None, origin, f"{what} returns {len(values)} values, but expects to see {len(tout)} values."
        )
    outs = [_to_output(v, dt, k, what, origin) for k, (v, dt) in enumerate(zip(values, tout))]
    for k, (out, declared) in enumerate(zip(outs, attrs["shapes"])):
        if declared is None:
            continue
        if out.ndim != len(declared) or any(
            isinstance(d, int) and d != a for d, a in zip(declared, out.shape)
        ):
            shown = "[" + ", ".join("?" if d is None else str(d) for d in declared) + "]"
            raise errors.InvalidArgumentError(
                None, origin, f"{k}-th value returned by {what} has shape {list(out.shape)}, declared {shown}"
            )
    return [*outs, _token()]


def _write(stream: Any, text: str) -> None:
    # The standard streams are looked up when the op runs (so redirecting sys.stderr, as
    # pytest's capsys does, redirects the output too); any other object is written to.
    target = (
        {"stderr": sys.stderr, "stdout": sys.stdout}.get(stream, stream)
        if isinstance(stream, str)
        else stream
    )
    target.write(text)
    flush = getattr(target, "flush", None)
    if flush is not None:
        flush()


def run_print(ins: Sequence[Any], attrs: dict[str, Any], origin: Any = None) -> list[np.ndarray]:
    """Print(input, *data): writes ``message`` then ``[value]`` per data tensor (TF1's v1
    layout, at most ``summarize`` elements each) and a newline to stderr, at most
    ``first_n`` times (always when negative); returns input unchanged, then the token."""
    entry = lookup(attrs["token"], origin)
    first_n = attrs["first_n"]
    with entry.lock:
        if first_n >= 0 and entry.calls >= first_n:
            show = False
        else:
            entry.calls += 1
            show = True
    if show:
        text = attrs["message"] + "".join(f"[{summarize_v1(x, attrs['summarize'])}]" for x in ins[1:])
        _write("stderr", text + "\n")
    return [np.array(ins[0], copy=True), _token()]


def run_print_v2(ins: Sequence[Any], attrs: dict[str, Any], origin: Any = None) -> list[np.ndarray]:
    """PrintV2(*tensors): the template's literal pieces and each tensor (TF2's layout),
    joined by ``sep``, then ``end``, written to the stream of its token."""
    entry = lookup(attrs["token"], origin)
    values = iter(ins)
    pieces = [summarize_v2(next(values), attrs["summarize"]) if p is None else p for p in attrs["template"]]
    text = "".join(pieces) + attrs["end"]
    with entry.lock:
        _write(entry.fn, text)
    return [_token()]


def run_assert(ins: Sequence[Any], attrs: dict[str, Any], origin: Any = None) -> list[np.ndarray]:
    """Assert(condition, *data): InvalidArgumentError ``assertion failed: [d0] [d1] ...``
    (TF1's message, each data tensor summarised to ``summarize`` elements) when the
    condition is false; else the token."""
    cond = np.asarray(ins[0])
    if cond.size != 1:
        raise errors.InvalidArgumentError(None, origin, f"In[0] should be a scalar: {list(cond.shape)}")
    if not bool(cond.reshape(())):
        data = " ".join(f"[{summarize_v1(x, attrs['summarize'])}]" for x in ins[1:])
        raise errors.InvalidArgumentError(None, origin, f"assertion failed: {data}")
    return [_token()]


RUNNERS: dict[str, Callable[[Sequence[Any], dict[str, Any], Any], list[np.ndarray]]] = {
    "PyFunc": run_py_func,
    "PyFuncStateless": run_py_func,
    "Print": run_print,
    "PrintV2": run_print_v2,
    "Assert": run_assert,
}


def kernel(op: str, attrs: dict[str, Any], origin: Any) -> Callable[[list[Any]], list[np.ndarray]]:
    """The run function of host op ``op`` for one node: errors name ``origin`` (the node's
    user op and line). The NumPy backend runs host nodes with it."""
    run = RUNNERS[op]
    return lambda ins: run(ins, attrs, origin)


# =============================================================================================
# The ops.

_TOKEN_SHAPE: reg.Shape = ()


def _declared(ctx: reg.InferenceContext, k: int, shape: Any) -> reg.Shape:
    if shape is None:
        if isinstance(ctx.env, reg.FrontendDims):
            return None  # TF1: unknown; the program needs it (below)
        raise reg.ShapeError(
            f"the rank of output {k} is unknown: declare it with shapes=[...] or "
            "tensor.set_shape(...) on the py_func's result (a None dim is defined by the data)"
        )
    return tuple(ctx.fresh() if d is None else d for d in shape)


def _py_func_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    return [*(_declared(ctx, k, s) for k, s in enumerate(ctx.attrs["shapes"])), _TOKEN_SHAPE]


def _py_func_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    tout = ctx.attrs["Tout"]
    if len(ctx.attrs["shapes"]) != len(tout):
        raise ValueError(f"{len(ctx.attrs['shapes'])} shapes for {len(tout)} outputs")
    return [*tout, TOKEN_DTYPE]


_PY_FUNC_ATTRS = {"token": reg.INT, "Tout": reg.tuple_of(reg.DTYPE), "shapes": reg.tuple_of(reg.SHAPE)}
_PY_FUNC_GRAD = reg.GradientNotImplemented(
    "TF1 registers no gradient for py_func; give one with tf.custom_gradient or "
    "graph.gradient_override_map({'PyFunc': name}) and tf.RegisterGradient(name)"
)

# Functions the samples call (the registry-wide tests run each host op like any other).
_SAMPLE_AFFINE = register_function(lambda x: 2 * x + 1, "the sample function 2x+1")
_SAMPLE_SPLIT = register_function(lambda x, y: (x * y, np.sum(x)), "the sample function (x*y, sum x)")
_SAMPLE_FILTER = register_function(lambda x: x[x > 0], "the sample function x[x > 0]")


def _py_func_samples(rng: np.random.Generator) -> list[reg.Sample]:
    x = rng.normal(size=(3, 4))
    return [
        reg.Sample([x], {"token": _SAMPLE_AFFINE, "Tout": (_dt.float64,), "shapes": ((3, 4),)}, grad=False),
        reg.Sample(
            [x.astype(np.float32), x[0].astype(np.float32)],
            {"token": _SAMPLE_SPLIT, "Tout": (_dt.float32, _dt.float64), "shapes": ((None, 4), ())},
            grad=False,
        ),
        reg.Sample(
            [x.reshape(-1)],
            {"token": _SAMPLE_FILTER, "Tout": (_dt.float64,), "shapes": ((None,),)},
            grad=False,
        ),
    ]


def _host_doc(text: str) -> str:
    return text + " Runs on the host (NumPy) as a segment of its own; the last output is the token."


reg.register(
    reg.OpDef(
        name="PyFunc",
        attrs=dict(_PY_FUNC_ATTRS),
        shape=_py_func_shape,
        dtype=_py_func_dtype,
        reference=lambda ins, attrs: run_py_func(ins, attrs),
        grad=_PY_FUNC_GRAD,
        traits=frozenset({HOST_TRAIT, "stateful"}),
        num_outputs=None,
        samples=_py_func_samples,
        doc=_host_doc("tf.py_func(stateful=True): the table's function of token on the inputs' arrays."),
    )
)
reg.register(
    reg.OpDef(
        name="PyFuncStateless",
        attrs=dict(_PY_FUNC_ATTRS),
        shape=_py_func_shape,
        dtype=_py_func_dtype,
        reference=lambda ins, attrs: run_py_func(ins, attrs),
        grad=_PY_FUNC_GRAD,
        traits=frozenset({HOST_TRAIT}),
        num_outputs=None,
        samples=_py_func_samples,
        doc=_host_doc("tf.py_func(stateful=False): may be folded or merged like a pure op (TF1)."),
    )
)

_SAMPLE_PRINT = register_function(None, "the sample tf.Print")


class _Discard:
    """A stream that keeps nothing (the tf.print sample writes to it)."""

    def write(self, text: str) -> None:
        pass


_SINK = register_function(_Discard(), "a stream that keeps nothing")


def _print_grad(op: Operation, g: Any, *rest: Any) -> list[Any]:
    # TF1's _PrintGrad: the gradient passes through to the input, none to the data.
    return [g] + [None] * (len(op.inputs) - 1)


reg.register(
    reg.OpDef(
        name="Print",
        attrs={"token": reg.INT, "message": reg.STR, "first_n": reg.INT, "summarize": reg.INT},
        shape=lambda ctx: [ctx.shapes[0], _TOKEN_SHAPE],
        dtype=lambda ctx: [ctx.dtypes[0], TOKEN_DTYPE],
        reference=lambda ins, attrs: run_print(ins, attrs),
        grad=_print_grad,
        traits=frozenset({HOST_TRAIT, "stateful"}),
        num_outputs=2,
        samples=lambda rng: [
            # first_n=0: prints nothing, so the registry-wide tests stay quiet.
            reg.Sample(
                [rng.normal(size=(2, 3)), np.arange(4, dtype=np.int32)],
                {"token": _SAMPLE_PRINT, "message": "x: ", "first_n": 0, "summarize": 3},
                wrt=(0,),
            ),
        ],
        doc=_host_doc("tf.Print: input unchanged; writes message[data0][data1]... to stderr."),
    )
)


def _print_v2_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    slots = sum(1 for p in ctx.attrs["template"] if p is None)
    if slots != len(ctx.dtypes):
        raise ValueError(f"the template has {slots} tensor slots for {len(ctx.dtypes)} inputs")
    return [TOKEN_DTYPE]


reg.register(
    reg.OpDef(
        name="PrintV2",
        attrs={
            "token": reg.INT,
            "template": reg.tuple_of(reg.optional(reg.STR)),
            "summarize": reg.INT,
            "end": reg.STR,
        },
        shape=lambda ctx: [_TOKEN_SHAPE],
        dtype=_print_v2_dtype,
        reference=lambda ins, attrs: run_print_v2(ins, attrs),
        grad=reg.NotDifferentiable("tf.print has no outputs to differentiate"),
        traits=frozenset({HOST_TRAIT, "stateful"}),
        num_outputs=1,
        samples=lambda rng: [
            reg.Sample(
                [rng.normal(size=(3,)), np.arange(12, dtype=np.int64).reshape(3, 4)],
                {"token": _SINK, "template": ("x = ", None, " ", None), "summarize": 1, "end": "\n"},
                grad=False,
            ),
        ],
        doc=_host_doc("tf.print: writes the template with each tensor formatted to its token's stream."),
    )
)


def _assert_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    if ctx.dtypes[0] != _dt.bool_:
        raise TypeError(f"the condition of Assert must be bool, got {ctx.dtypes[0].name}")
    return [TOKEN_DTYPE]


def _assert_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[0]
    if s is not None and (len(s) > 1 or any(isinstance(d, int) and d != 1 for d in s)):
        raise reg.ShapeError(f"the condition of Assert must be a scalar, got shape {reg.format_shape(s)}")
    return [_TOKEN_SHAPE]


reg.register(
    reg.OpDef(
        name="Assert",
        attrs={"summarize": reg.INT},
        shape=_assert_shape,
        dtype=_assert_dtype,
        reference=lambda ins, attrs: run_assert(ins, attrs),
        grad=reg.NotDifferentiable("an assertion has no outputs to differentiate (TF1)"),
        traits=frozenset({HOST_TRAIT, "stateful"}),
        num_outputs=1,
        samples=lambda rng: [
            reg.Sample([np.array(True), rng.normal(size=(4,))], {"summarize": 3}, grad=False),
            reg.Sample([np.array([True])], {"summarize": 3}, grad=False),
        ],
        doc=_host_doc(
            "tf.Assert: InvalidArgumentError 'assertion failed: [data]...' when the condition is false."
        ),
    )
)

HOST_OPS: frozenset[str] = frozenset(RUNNERS)


# =============================================================================================
# The TF1 API.


class _DeclaredShapeTensor(Tensor):
    """A py_func output: ``set_shape`` also declares the shape to the op (TF1 code calls
    it to give a py_func's result the shape TF1 cannot infer)."""

    def set_shape(self, shape: Any) -> None:
        super().set_shape(shape)
        op = self.op
        shapes = list(op.attrs["shapes"])
        shapes[self.value_index] = _shape_attr(self.shape)
        op.attrs["shapes"] = tuple(shapes)


def _shape_attr(shape: Any) -> tuple[int | None, ...] | None:
    s = as_shape(shape)
    dims = s.as_list() if s.ndims is not None else None
    return None if dims is None else tuple(None if d is None else int(d) for d in dims)


def _func_name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__


def py_func(
    func: Callable[..., Any],
    inp: Any,
    Tout: Any,  # noqa: N803  (TF's name)
    stateful: bool = True,
    name: str | None = None,
    *,
    shapes: Any = None,
) -> Any:
    """tf.py_func (TF1): ``func`` called on the inputs' values as NumPy arrays (copies of
    their own) when the op runs; what it returns is converted to ``Tout`` (a dtype: one
    tensor; a list: a list of tensors; NumPy's same-kind casts, ints to floats; anything
    else is TF1's "0-th value returned by ... is X, but expects Y" error). Its exceptions
    become TF1's errors: ValueError/TypeError InvalidArgumentError, StopIteration and
    IndexError OutOfRangeError, MemoryError ResourceExhaustedError, NotImplementedError
    UnimplementedError, others UnknownError.

    ``stateful=True`` (TF1's PyFunc) runs on every run; ``stateful=False``
    (PyFuncStateless) may be folded or merged with an equal call, as TF1 allows. No
    gradient (TF1: tf.gradients raises LookupError; override it with
    gradient_override_map). ``shapes`` (graphc): each output's shape, None dims defined by
    the data; without it the rank must come from ``set_shape`` before the graph runs."""
    single = not isinstance(Tout, list | tuple)
    touts = tuple(_dt.as_dtype(t) for t in ([Tout] if single else Tout))
    if shapes is None:
        declared: list[Any] = [None] * len(touts)
    elif single:
        declared = [_shape_attr(shapes)]
    else:
        declared = [None if s is None else _shape_attr(s) for s in shapes]
        if len(declared) != len(touts):
            raise ValueError(f"py_func: {len(declared)} shapes for {len(touts)} outputs (Tout)")
    if isinstance(inp, Tensor) or not isinstance(inp, list | tuple):
        inp = [inp]
    inputs = [convert_to_tensor(x) for x in inp]
    token = register_function(func, f"pyfunc {_func_name(func)}")
    op_type = "PyFunc" if stateful else "PyFuncStateless"
    attrs = {"token": token, "Tout": touts, "shapes": tuple(declared)}
    if inputs:
        op = make_op(op_type, inputs, attrs, name=name or op_type)
    else:
        op = get_default_graph().create_op(op_type, [], attrs, name=name or op_type)
    outs = op.outputs[:-1]
    for t in outs:
        t.__class__ = _DeclaredShapeTensor
    if not touts:
        return op
    return outs[0] if single else list(outs)


def numpy_function(func: Callable[..., Any], inp: Any, Tout: Any, name: str | None = None) -> Any:  # noqa: N803
    """tf.numpy_function (TF1 1.15): tf.py_func with ``stateful=True``."""
    return py_func(func, inp, Tout, stateful=True, name=name)


def Print(  # noqa: N802  (TF's name)
    input_: Any,
    data: Any,
    message: str | None = None,
    first_n: int | None = None,
    summarize: int | None = None,
    name: str | None = None,
) -> Tensor:
    """tf.Print (TF1): ``input_`` unchanged; when it runs, writes ``message`` followed by
    ``[v]`` for each tensor of ``data`` (at most ``summarize`` elements each, default 3,
    in TF1's layout: ``[[1 2 3]...]``) and a newline to stderr, the first ``first_n``
    times only (None or negative: every time). Its gradient passes through to
    ``input_``."""
    x = convert_to_tensor(input_)
    items = [convert_to_tensor(d) for d in (data if isinstance(data, list | tuple) else [data])]
    attrs = {
        "token": register_function(None, "tf.Print"),
        "message": "" if message is None else str(message),
        "first_n": -1 if first_n is None else int(first_n),
        "summarize": 3 if summarize is None else int(summarize),
    }
    return make_op("Print", [x, *items], attrs, name=name or "Print").outputs[0]


def _stream(output_stream: Any) -> Any:
    if output_stream is sys.stderr or output_stream == "stderr":
        return "stderr"
    if output_stream is sys.stdout or output_stream == "stdout":
        return "stdout"
    if isinstance(output_stream, str):
        if output_stream.startswith("file://"):
            path = output_stream[len("file://") :]

            class _File:
                def write(self, text: str) -> None:
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(text)

            return _File()
        raise ValueError(
            f"Unsupported output stream {output_stream!r}: use sys.stderr, sys.stdout, "
            "'file://<path>' or an object with a write method"
        )
    if not callable(getattr(output_stream, "write", None)):
        raise ValueError(f"output_stream {output_stream!r} has no write method")
    return output_stream


def _template(x: Any, pieces: list[str | None], tensors: list[Tensor]) -> None:
    """Append ``x`` to the template: a tensor is a slot, a string itself, a list, tuple or
    dict holding tensors its Python form with each tensor in place, anything else str()."""
    if is_tensorish(x):
        pieces.append(None)
        tensors.append(convert_to_tensor(x))
    elif isinstance(x, str):
        pieces.append(x)
    elif isinstance(x, list | tuple | dict) and _holds_tensor(x):
        items = list(x.items()) if isinstance(x, dict) else list(x)
        opening, closing = (
            ("{", "}") if isinstance(x, dict) else ("[", "]") if isinstance(x, list) else ("(", ")")
        )
        pieces.append(opening)
        for i, item in enumerate(items):
            if i:
                pieces.append(", ")
            if isinstance(x, dict):
                pieces.append(f"{item[0]!r}: ")
                item = item[1]
            _template(item, pieces, tensors)
        pieces.append(closing)
    else:
        pieces.append(str(x))


def _holds_tensor(x: Any) -> bool:
    items = x.values() if isinstance(x, dict) else x
    return any(is_tensorish(i) or (isinstance(i, list | tuple | dict) and _holds_tensor(i)) for i in items)


def print(*inputs: Any, **kwargs: Any) -> Operation:  # noqa: A001  (TF's name)
    """tf.print (TF 1.15's print_v2): an op that, when it runs, writes ``inputs`` joined by
    ``sep`` (default " ") and then ``end`` (default "\\n") to ``output_stream`` (default
    sys.stderr; sys.stdout, 'file://path' or any object with ``write``). Strings are
    written as they are, tensors in TF2's layout (``summarize`` entries at each end of a
    dim, default 3; -1 for all). Run it as a fetch or through tf.control_dependencies."""
    unknown = set(kwargs) - {"output_stream", "summarize", "sep", "end", "name"}
    if unknown:
        raise ValueError(f"Unrecognized keyword arguments for tf.print: {sorted(unknown)}")
    sep = kwargs.get("sep", " ")
    summarize = kwargs.get("summarize", 3)
    pieces: list[str | None] = []
    tensors: list[Tensor] = []
    for i, x in enumerate(inputs):
        if i:
            pieces.append(sep)
        _template(x, pieces, tensors)
    merged: list[str | None] = []
    for p in pieces:  # neighbouring literal pieces as one
        if p is not None and merged and merged[-1] is not None:
            merged[-1] = merged[-1] + p
        else:
            merged.append(p)
    stream = _stream(kwargs.get("output_stream", sys.stderr))
    attrs = {
        "token": register_function(stream, "tf.print"),
        "template": tuple(merged),
        "summarize": -1 if summarize is None else int(summarize),
        "end": str(kwargs.get("end", "\n")),
    }
    name = kwargs.get("name") or "PrintV2"
    if tensors:
        return make_op("PrintV2", tensors, attrs, name=name)
    return get_default_graph().create_op("PrintV2", [], attrs, name=name)


# -- assertions --------------------------------------------------------------------------------


def _data_tensor(d: Any) -> Tensor:
    if isinstance(d, str):
        return constant(d, dtype=_dt.string)
    return convert_to_tensor(d)


def Assert(  # noqa: N802  (TF's name)
    condition: Any, data: Any, summarize: int | None = None, name: str | None = None
) -> Operation:
    """tf.Assert (TF1): an op that raises InvalidArgumentError ``assertion failed: [d0]
    [d1] ...`` (each data item summarised to ``summarize`` elements, default 3), naming
    the op and the user's line, when the scalar bool ``condition`` is false at run time.
    Use it through tf.control_dependencies (or fetch it); a run it fails changes no
    variable."""
    cond = convert_to_tensor(condition)
    items = [_data_tensor(d) for d in (data if isinstance(data, list | tuple) else [data])]
    attrs = {"summarize": 3 if summarize is None else int(summarize)}
    return make_op("Assert", [cond, *items], attrs, name=name or "Assert")


def _const(t: Tensor) -> np.ndarray | None:
    return t.op.attrs["value"] if t.op.type == "Const" else None


def _scope(name: str | None, default: str) -> Any:
    return get_default_graph().name_scope(name or default)


def _data(message: str | None, *items: Any) -> list[Any]:
    # TF1 puts the message first; an empty one is left out rather than printed as "[]".
    return [message, *items] if message else list(items)


def _binary_assert(
    test: Callable[..., Tensor],
    symbol: str,
    default: str,
    x: Any,
    y: Any,
    data: Any,
    summarize: int | None,
    message: str | None,
    name: str | None,
    *,
    static: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    condition_text: str | None = None,
) -> Operation:
    with _scope(name, default):
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, name="y", dtype=x.dtype) if not is_tensorish(y) else convert_to_tensor(y)
        if data is None:
            text = condition_text or f"Condition x {symbol} y did not hold element-wise:"
            data = _data(message, text, f"x ({x.name}) = ", x, f"y ({y.name}) = ", y)
        if static is not None:
            xs, ys = _const(x), _const(y)
            if xs is not None and ys is not None and not bool(np.all(static(xs, ys))):
                shown = [str(d) if not isinstance(d, Tensor) else summarize_v1(_const(d), -1) for d in data]
                raise errors.InvalidArgumentError(None, None, "\n".join(shown))
        condition = reduce_all(test(x, y))
        return Assert(condition, data, summarize=summarize)


def assert_equal(
    x: Any,
    y: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_equal (TF1): fails when some ``x[i] != y[i]`` (broadcast); with both
    constant, checked when the graph is built (InvalidArgumentError then, as TF1)."""
    return _binary_assert(equal, "==", "assert_equal", x, y, data, summarize, message, name, static=np.equal)


def assert_none_equal(
    x: Any,
    y: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_none_equal (TF1): fails when some ``x[i] == y[i]``."""
    return _binary_assert(
        not_equal,
        "!=",
        "assert_none_equal",
        x,
        y,
        data,
        summarize,
        message,
        name,
        condition_text="Condition x != y did not hold for every single element:",
    )


def assert_less(
    x: Any,
    y: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_less (TF1): fails unless ``x[i] < y[i]`` for every i."""
    return _binary_assert(less, "<", "assert_less", x, y, data, summarize, message, name)


def assert_less_equal(
    x: Any,
    y: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_less_equal (TF1): fails unless ``x[i] <= y[i]`` for every i."""
    return _binary_assert(less_equal, "<=", "assert_less_equal", x, y, data, summarize, message, name)


def assert_greater(
    x: Any,
    y: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_greater (TF1): fails unless ``x[i] > y[i]`` for every i."""
    return _binary_assert(greater, ">", "assert_greater", x, y, data, summarize, message, name)


def assert_greater_equal(
    x: Any,
    y: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_greater_equal (TF1): fails unless ``x[i] >= y[i]`` for every i."""
    return _binary_assert(greater_equal, ">=", "assert_greater_equal", x, y, data, summarize, message, name)


def _sign_assert(
    test: Callable[..., Tensor],
    text: str,
    default: str,
    x: Any,
    data: Any,
    summarize: int | None,
    message: str | None,
    name: str | None,
) -> Operation:
    with _scope(name, default):
        x = convert_to_tensor(x, name="x")
        if data is None:
            data = _data(message, f"Condition x {text} 0 did not hold element-wise:", f"x ({x.name}) = ", x)
        zero = constant(0, dtype=x.dtype)
        return Assert(reduce_all(test(x, zero)), data, summarize=summarize)


def assert_positive(
    x: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_positive (TF1): fails unless every ``x[i] > 0``."""
    return _sign_assert(greater, ">", "assert_positive", x, data, summarize, message, name)


def assert_negative(
    x: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_negative (TF1): fails unless every ``x[i] < 0``."""
    return _sign_assert(less, "<", "assert_negative", x, data, summarize, message, name)


def assert_non_negative(
    x: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_non_negative (TF1): fails unless every ``x[i] >= 0``."""
    return _sign_assert(greater_equal, ">=", "assert_non_negative", x, data, summarize, message, name)


def assert_non_positive(
    x: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_non_positive (TF1): fails unless every ``x[i] <= 0``."""
    return _sign_assert(less_equal, "<=", "assert_non_positive", x, data, summarize, message, name)


def assert_near(
    x: Any,
    y: Any,
    rtol: Any = None,
    atol: Any = None,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_near (TF1): fails unless ``|x - y| <= atol + rtol * |y|`` element-wise;
    ``rtol`` and ``atol`` default to 10 times the dtype's machine epsilon (TF1)."""
    with _scope(name, "assert_near"):
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, name="y", dtype=x.dtype)
        if not (x.dtype.is_floating):
            raise TypeError(f"assert_near needs floating tensors, got {x.dtype.name}")
        eps = float(np.finfo(x.dtype.np).eps)
        rtol = 10 * eps if rtol is None else rtol
        atol = 10 * eps if atol is None else atol
        rt = cast(convert_to_tensor(rtol), x.dtype) if is_tensorish(rtol) else constant(rtol, dtype=x.dtype)
        at = cast(convert_to_tensor(atol), x.dtype) if is_tensorish(atol) else constant(atol, dtype=x.dtype)
        if data is None:
            data = _data(
                message,
                f"x and y not equal to tolerance rtol = {rtol}, atol = {atol}",
                f"x ({x.name}) = ",
                x,
                f"y ({y.name}) = ",
                y,
            )
        tol = add(at, multiply(rt, _abs(y)))
        diff = _abs(subtract(x, y))
        return Assert(reduce_all(less_equal(diff, tol)), data, summarize=summarize)


def assert_rank(
    x: Any,
    rank: Any,
    data: Any = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Operation:
    """tf.assert_rank (TF1): checked when the graph is built when x's rank and ``rank``
    are known (ValueError ``... Tensor x must have rank r.  Received rank k, shape s``;
    a NoOp when it holds), else an Assert on tf.rank(x) == rank at run time."""
    with _scope(name, "assert_rank"):
        x = convert_to_tensor(x, name="tensor")
        message = message or ""
        want: int | None = None
        r: Tensor | None = None
        if is_tensorish(rank):
            r = convert_to_tensor(rank)
            value = _const(r)
            if value is not None:
                want = int(value.reshape(()))
        else:
            want = int(rank)
        if want is not None and x.shape.ndims is not None:
            if x.shape.ndims != want:
                raise ValueError(
                    f"{message}.  Tensor {x.name} must have rank {want}.  Received rank "
                    f"{x.shape.ndims}, shape {x.shape}"
                )
            return no_op(name="static_checks_determined_all_ok")
        if r is None:
            r = constant(want, dtype=_dt.int32)
        if data is None:
            data = _data(message, f"Tensor {x.name} must have rank", r, "Received shape: ", _shape(x))
        return Assert(equal(_rank(x), cast(r, _dt.int32)), data, summarize=summarize)


def assert_type(tensor: Any, tf_type: Any, message: str | None = None, name: str | None = None) -> Operation:
    """tf.assert_type (TF1): static: TypeError ``{message}  {name} must be of type
    {tf_type}`` unless the tensor has that dtype; a NoOp when it has."""
    with _scope(name, "assert_type"):
        t = convert_to_tensor(tensor, name="tensor")
        want = _dt.as_dtype(tf_type)
        if t.dtype != want:
            raise TypeError(f"{message or ''}  {t.name} must be of type {want!r}")
        return no_op(name="statically_determined_correct_type")


def assert_integer(x: Any, message: str | None = None, name: str | None = None) -> Operation:
    """tf.assert_integer (TF1): static: TypeError ``{message}  Expected "x" to be integer
    type.  Found: {name} of dtype {dtype}`` unless x is an integer tensor; a NoOp when it is."""
    with _scope(name, "assert_integer"):
        t = convert_to_tensor(x, name="x")
        if not t.dtype.is_integer:
            raise TypeError(
                f'{message or ""}  Expected "x" to be integer type.  Found: {t.name} of dtype {t.dtype!r}'
            )
        return no_op(name="statically_determined_was_integer")
