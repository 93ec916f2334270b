"""Matrix products: the MatMul op (TF's MatMul and BatchMatMulV2 in one) and tensordot."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import symbolic
from graphc.frontend.graph import Operation, Tensor
from graphc.frontend.location import user_location
from graphc.ops.broadcast_ops import sum_to_shape, unbroadcast
from graphc.ops.common import (
    FLOATS,
    as_int_list,
    check_dtypes,
    check_same_dtypes,
    convert_pair,
    make,
    rand,
    static_value,
)
from graphc.ops.concat_ops import concat, stack
from graphc.ops.core_ops import constant, shape
from graphc.ops.gather_ops import gather
from graphc.ops.layout_ops import reshape, transpose
from graphc.ops.reduction_ops import reduce_prod

MATMUL_DTYPES = (*FLOATS, _dt.int32, _dt.int64)


# -- MatMul ---------------------------------------------------------------------------------
def _fmt_dim(d: symbolic.Dim) -> str:
    if isinstance(d, int):
        return str(d)
    names = symbolic.free_symbols(d)
    # Frontend dims left unknown are anonymous symbols "?k": show them as TF does.
    return "?" if names and all(n.startswith("?") for n in names) else str(d)


def _fmt_shape(s: reg.Shape) -> str:
    return "<unknown>" if s is None else "[" + ",".join(_fmt_dim(d) for d in s) + "]"


def _matmul_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    a, b = ctx.shapes
    shown = f"{_fmt_shape(a)}, {_fmt_shape(b)}"
    for which, s in (("a", a), ("b", b)):
        if s is not None and len(s) < 2:
            raise reg.ShapeError(
                f"Shape must be rank >= 2 but is rank {len(s)} for input {which} of MatMul with input shapes {shown}"
            )
    if a is None or b is None:
        return [None]
    m, k_a = (a[-1], a[-2]) if ctx.attrs["transpose_a"] else (a[-2], a[-1])
    k_b, n = (b[-1], b[-2]) if ctx.attrs["transpose_b"] else (b[-2], b[-1])
    try:
        ctx.equal(k_a, k_b)
    except reg.ShapeError:
        raise reg.ShapeError(
            f"Dimensions must be equal, but are {_fmt_dim(k_a)} and {_fmt_dim(k_b)} for MatMul with input shapes {shown}"
        ) from None
    try:
        batch = ctx.broadcast(a[:-2], b[:-2])
    except reg.ShapeError:
        raise reg.ShapeError(
            f"Batch dimensions of MatMul inputs cannot be broadcast together: input shapes {shown}"
        ) from None
    assert batch is not None
    return [(*batch, m, n)]


def _matmul_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    check_dtypes(ctx, MATMUL_DTYPES)
    check_same_dtypes(ctx)
    return [ctx.dtypes[0]]


def _matmul_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    a, b = ins
    if attrs["transpose_a"]:
        a = np.swapaxes(a, -1, -2)
    if attrs["transpose_b"]:
        b = np.swapaxes(b, -1, -2)
    return [np.asarray(np.matmul(a, b)).astype(ins[0].dtype, copy=False)]


def _sum_batch(g: Tensor, x: Tensor) -> Tensor:
    """Sum the gradient of a batch-broadcast operand back over the batch dims it was broadcast along."""
    xs, gs = x.shape, g.shape
    if xs.ndims is not None and xs.ndims == gs.ndims:
        # Batch dims known and not 1 cannot have been broadcast: nothing to sum.
        if all(d is not None and d != 1 for d in xs.as_list()[:-2]):
            return g
    if xs.is_fully_defined() and gs.is_fully_defined():
        result = unbroadcast(g, x)
        assert result is not None
        return result
    # An unknown batch dim may be 1 at run time and broadcast: decide when the shapes are known.
    return sum_to_shape(g, shape(x))


def _matmul_grad(op: Operation, g: Tensor) -> list[Any]:
    a, b = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    # For C = op(A) op(B): the four cases of TF's _MatMulGrad, so no explicit transpose is built.
    if not ta and not tb:
        ga, gb = matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)
    elif ta and not tb:
        ga, gb = matmul(b, g, transpose_b=True), matmul(a, g)
    elif not ta and tb:
        ga, gb = matmul(g, b), matmul(g, a, transpose_a=True)
    else:
        ga = matmul(b, g, transpose_a=True, transpose_b=True)
        gb = matmul(g, a, transpose_a=True, transpose_b=True)
    return [_sum_batch(ga, a), _sum_batch(gb, b)]


def _matmul_samples(rng: np.random.Generator) -> list[reg.Sample]:
    def s(sa: tuple[int, ...], sb: tuple[int, ...], ta: bool = False, tb: bool = False) -> reg.Sample:
        return reg.Sample([rand(rng, sa), rand(rng, sb)], {"transpose_a": ta, "transpose_b": tb})

    ints = reg.Sample(
        [rand(rng, (3, 4), "int", np.int32), rand(rng, (4, 2), "int", np.int32)],
        {"transpose_a": False, "transpose_b": False},
        grad=False,
    )
    return [
        s((3, 4), (4, 5)),
        s((4, 3), (4, 5), ta=True),
        s((3, 4), (5, 4), tb=True),
        s((4, 3), (5, 4), ta=True, tb=True),
        s((2, 3, 4), (2, 4, 5)),  # batched
        s((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims
        s((3, 4), (2, 5, 4), tb=True),  # a matrix against a batch
        s((2, 2, 4, 3), (2, 1, 4, 2), ta=True),  # a batch dim of b broadcast
        s((1, 4), (4, 1)),
        ints,
    ]


reg.register(
    reg.OpDef(
        name="MatMul",
        attrs={"transpose_a": reg.BOOL, "transpose_b": reg.BOOL},
        shape=_matmul_shape,
        dtype=_matmul_dtype,
        reference=_matmul_ref,
        grad=_matmul_grad,
        traits=frozenset({"matmul"}),
        samples=_matmul_samples,
        doc="Matrix product over the last two dims, batch dims broadcast as NumPy's matmul.",
    )
)


def matmul(
    a: Any,
    b: Any,
    transpose_a: bool = False,
    transpose_b: bool = False,
    adjoint_a: bool = False,
    adjoint_b: bool = False,
    a_is_sparse: bool = False,
    b_is_sparse: bool = False,
    name: str | None = None,
) -> Tensor:
    """tf.matmul (TF1, batch dims broadcast as BatchMatMulV2). Adjoint is transpose (no
    complex dtypes); the sparsity hints are ignored; rank-1 inputs raise, as in TF1."""
    if transpose_a and adjoint_a:
        raise ValueError("Only one of transpose_a and adjoint_a can be True.")
    if transpose_b and adjoint_b:
        raise ValueError("Only one of transpose_b and adjoint_b can be True.")
    x, y = convert_pair(a, b)
    for which, t in (("a", x), ("b", y)):
        rank = t.shape.ndims
        if rank is not None and rank < 2:
            raise ValueError(
                f"matmul: Shape must be rank >= 2 but is rank {rank} for input {which} ({t.name}); input shapes "
                f"{x.shape}, {y.shape}. TF1's matmul takes no vectors: use tf.tensordot, or tf.expand_dims to "
                f"make a matrix (at {user_location()})"
            )
    attrs = {"transpose_a": bool(transpose_a or adjoint_a), "transpose_b": bool(transpose_b or adjoint_b)}
    return make("MatMul", [x, y], attrs, name=name or "MatMul")


# -- tensordot ------------------------------------------------------------------------------
def _axes_list(v: Any, rank: int, which: str) -> list[int]:
    axes = as_int_list(np.asarray(v) if np.size(v) else np.zeros(0, np.int64), f"tensordot: axes of {which}")
    out = []
    for ax in axes:
        if not -rank <= ax < rank:
            raise ValueError(f"tensordot: axis {ax} is out of range for {which} of rank {rank}")
        out.append(ax % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"tensordot: repeated axis in {axes} for {which}")
    return out


def _tensordot_axes(axes: Any, rank_a: int, rank_b: int) -> tuple[list[int], list[int]]:
    arr = static_value(axes, "tensordot's axes") if isinstance(axes, Tensor) else axes
    if not isinstance(arr, list | tuple) and np.ndim(arr) == 0:
        n = as_int_list(np.asarray(arr), "tensordot: axes")[0]
        if n < 0:
            raise ValueError(f"tensordot: 'axes' must be at least 0, got {n}")
        if n > rank_a or n > rank_b:
            raise ValueError(
                f"tensordot: 'axes' ({n}) must not be larger than the rank of either tensor "
                f"(ranks {rank_a} and {rank_b})"
            )
        return list(range(rank_a - n, rank_a)), list(range(n))
    if isinstance(arr, np.ndarray):
        arr = arr.tolist()
    if len(arr) != 2:
        raise ValueError(f"tensordot: 'axes' must be an int or a pair of axis lists, got {axes!r}")
    a_axes = _axes_list(arr[0], rank_a, "a")
    b_axes = _axes_list(arr[1], rank_b, "b")
    if len(a_axes) != len(b_axes):
        raise ValueError(
            f"tensordot: different number of contraction axes for a and b: {len(a_axes)} != {len(b_axes)}"
        )
    return a_axes, b_axes


def _product(dims: list[int | None]) -> int | None:
    if any(d is None for d in dims):
        return None
    return int(np.prod(dims, dtype=np.int64))


def _dims_tensor(t: Tensor, axes: list[int]) -> Tensor:
    """The product of ``t``'s dims at ``axes``, as an int32 scalar computed at run time."""
    return reduce_prod(gather(shape(t), constant(axes, dtype=_dt.int32)))


def _to_matrix(
    t: Tensor, row_axes: list[int], col_axes: list[int], rows: list[Any], cols: list[Any]
) -> Tensor:
    """``t`` (already transposed to rows-then-cols order) as a [prod(rows), prod(cols)] matrix."""
    if len(rows) == 1 and len(cols) == 1:
        return t
    r, c = _product(rows), _product(cols)
    if r is not None and c is not None:
        return reshape(t, [r, c])
    # One unknown side is inferred with -1, unless the other side is empty (then -1 is ambiguous).
    if r is None and c:
        return reshape(t, [-1, c])
    if c is None and r:
        return reshape(t, [r, -1])
    # Both unknown: the dims of the transposed tensor, counted in its own axis order.
    n_rows = len(row_axes)
    r_t = _dims_tensor(t, list(range(n_rows)))
    c_t = _dims_tensor(t, list(range(n_rows, n_rows + len(col_axes))))
    return reshape(t, stack([r_t, c_t]))


def tensordot(a: Any, b: Any, axes: Any, name: str | None = None) -> Tensor:
    """tf.tensordot (TF1): a transpose, reshape to matrices, matmul and reshape back. Both
    inputs need a known rank, and ``axes`` must be known when the graph is built."""
    x, y = convert_pair(a, b)
    rank_a, rank_b = x.shape.ndims, y.shape.ndims
    if rank_a is None or rank_b is None:
        raise ValueError(f"tensordot needs inputs of known rank, got shapes {x.shape} and {y.shape}")
    a_axes, b_axes = _tensordot_axes(axes, rank_a, rank_b)
    dims_a, dims_b = x.shape.as_list(), y.shape.as_list()
    contracted: list[int | None] = []
    for i, j in zip(a_axes, b_axes, strict=True):
        da, db = dims_a[i], dims_b[j]
        if da is not None and db is not None and da != db:
            raise ValueError(
                f"tensordot: dimension {i} of a ({da}) does not match dimension {j} of b ({db}); "
                f"shapes {x.shape} and {y.shape}"
            )
        contracted.append(da if da is not None else db)
    free_a = [i for i in range(rank_a) if i not in a_axes]
    free_b = [j for j in range(rank_b) if j not in b_axes]
    free_dims = [dims_a[i] for i in free_a] + [dims_b[j] for j in free_b]

    perm_a, perm_b = free_a + a_axes, b_axes + free_b
    xt = x if perm_a == list(range(rank_a)) else transpose(x, perm_a)
    yt = y if perm_b == list(range(rank_b)) else transpose(y, perm_b)
    x2 = _to_matrix(xt, free_a, a_axes, [dims_a[i] for i in free_a], contracted)
    y2 = _to_matrix(yt, b_axes, free_b, contracted, [dims_b[j] for j in free_b])
    out_name = name or "Tensordot"
    if len(free_a) == 1 and len(free_b) == 1:
        out = matmul(x2, y2, name=out_name)
    else:
        product = matmul(x2, y2)
        if None not in free_dims:
            out = reshape(product, free_dims, name=out_name)
        elif free_dims.count(None) == 1 and _product([d for d in free_dims if d is not None]):
            out = reshape(product, [-1 if d is None else d for d in free_dims], name=out_name)
        else:
            parts = []
            if free_a:
                parts.append(gather(shape(x), constant(free_a, dtype=_dt.int32)))
            if free_b:
                parts.append(gather(shape(y), constant(free_b, dtype=_dt.int32)))
            out = reshape(product, concat(parts, 0), name=out_name)
    # Reshapes by -1 or by run-time shapes may lose what is known statically; restore it.
    out.set_shape(free_dims)
    return out
