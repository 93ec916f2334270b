"""``tf.TensorArray`` (TF1's API) as a dense tensor.

Representation. A TensorArray of ``size`` elements of shape ``element_shape`` is one
tensor of shape ``[size, *element_shape]`` (its *buffer*); a TensorArray object is an
immutable view of such a tensor, and every operation that changes it (``write``,
``unstack``, ``scatter``) returns a new TensorArray over a new buffer, as TF1's return a
new TensorArray over a new flow. As a ``tf.while_loop`` variable, or a ``tf.cond``
result, the buffer is what is carried (graphc.ops.control_flow_ops flattens a
TensorArray into it), so a fixed-size array's shape stays fixed across iterations and
the while loop's gradient applies unchanged: gradients flow through ``write``/``read``/``stack``/
``gather``/``scatter``/``unstack`` because each is built from differentiable ops
(``GatherV2`` for reads, a row select for writes).

- ``write(i, v)``: the buffer with row ``i`` replaced by ``v`` (a select on
  ``range(size) == i``: no arithmetic touches the values, so inf and NaN stay where they
  are). The index is checked when the graph runs (InvalidArgumentError for an index
  outside ``[0, size)``, as TF1).
- ``read(i)``, ``gather(indices)``: rows of the buffer. ``stack()``: the buffer.
  ``concat()``: the buffer with its first two axes merged (elements concatenated along
  their first axis; they all have the same shape here). ``size()``: the size.
- ``unstack(x)``: a buffer equal to ``x``; ``split(x, lengths)``: ``x`` reshaped to
  ``[len(lengths), length, ...]`` (equal static lengths only); ``scatter(indices, value)``: rows
  ``indices[k]`` replaced by ``value[k]`` (the last ``k`` for a repeated index).

The element shape comes from ``element_shape`` when it is fully defined, else (with
``infer_shape``, TF1's default) from the first value written; every value must then have
that shape (ValueError, as TF1). A TensorArray whose element shape is not yet known has
no buffer: outside a loop its first ``write``/``unstack``/``scatter`` makes one (the
value's shape at run time), inside a ``tf.while_loop`` body the first ``write`` makes it a
loop variable (its value's static shape must then be fully known).

``dynamic_size=True``: the buffer grows. ``size`` (static or a run-time int32 scalar)
is the initial number of rows; a ``write``/``scatter`` past the last row first appends
zero rows up to the index (``concat`` with zeros: ``max(rows, i + 1)`` rows, static when
the index and the size are), ``unstack``/``split`` set the size, and ``size()`` is the
buffer's rows. Such a buffer's static first dim is left open (TF1's dynamic array has no
static size) and the tensor is marked ``_cf_varying``: as a ``tf.while_loop`` variable
(``ta = ta.write(i, x)`` in the body, ``ta.stack()`` after the loop, a fed trip count) it
is a loop variable that changes shape per iteration, which the loop's gradient saves per
iteration (graphc.ops.control_flow_ops ``_History``); it runs as a NumPy segment on the
LLVM backend. A negative index fails when the graph runs, as does a read past the rows.

Differences from TF1, by design of the dense representation: reading an element
twice (``clear_after_read``) and writing one twice are not errors here (the later write
wins); an element never written reads as zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc import dtypes as _dt
from graphc import errors
from graphc.frontend.graph import Tensor
from graphc.frontend.tensor_shape import TensorShape, as_shape
from graphc.ops import (
    compare_ops,
    concat_ops,
    core_ops,
    fill_ops,
    gather_ops,
    layout_ops,
    math_ops,
    reduction_ops,
)
from graphc.ops.common import constant, convert_to_tensor


class TensorArray:
    """tf.TensorArray (TF1's constructor and methods); see the module docstring."""

    def __init__(
        self,
        dtype: Any,
        size: Any = None,
        dynamic_size: bool | None = None,
        clear_after_read: bool | None = None,
        tensor_array_name: str | None = None,
        handle: Any = None,
        flow: Any = None,
        infer_shape: bool = True,
        element_shape: Any = None,
        colocate_with_first_write_call: bool = True,
        name: str | None = None,
    ) -> None:
        if handle is not None or flow is not None:
            raise NotImplementedError(
                "TensorArray(handle=..., flow=...): graphc's TensorArray is a dense tensor"
            )
        if size is None:
            raise ValueError("Size must be provided if handle is not provided")
        self._dtype = _dt.as_dtype(dtype)
        if isinstance(size, Tensor):
            if size.dtype != _dt.int32:
                raise TypeError(f"TensorArray size must be an int32 scalar, got {size.dtype.name}")
            self._size: int | Tensor = size
        else:
            self._size = int(size)
            if self._size < 0:
                raise ValueError(f"TensorArray size must be non-negative, got {self._size}")
        self._dynamic_size = bool(dynamic_size)
        self._infer_shape = infer_shape
        self._element_shape = as_shape(element_shape) if element_shape is not None else TensorShape(None)
        self._name = name or tensor_array_name or "TensorArray"
        self._buffer: Tensor | None = None
        # Set by tf.while_loop on a TensorArray without a buffer inside a loop body: makes
        # the buffer a loop variable once the element shape is known (see control_flow_ops).
        self._materialize: Callable[[TensorArray, TensorShape], Tensor] | None = None
        if self._element_shape.is_fully_defined():
            self._buffer = self._own(
                fill_ops.zeros(self._buffer_dims(self._element_shape), dtype=self._dtype)
            )

    # -- helpers -----------------------------------------------------------------------------
    def _buffer_dims(self, elem: TensorShape | Tensor) -> Any:
        if isinstance(elem, TensorShape) and isinstance(self._size, int):
            return [self._size, *elem.as_list()]
        if isinstance(elem, TensorShape):
            elem = constant(elem.as_list(), dtype=_dt.int32)
        return concat_ops.concat([layout_ops.reshape(self._size_tensor(), [1]), elem], 0)

    def _size_tensor(self) -> Tensor:
        if self._size is None:  # a dynamic-size array: its buffer's rows
            assert self._buffer is not None
            return core_ops.shape(self._buffer)[0]
        return self._size if isinstance(self._size, Tensor) else constant(self._size, dtype=_dt.int32)

    def _own(self, buffer: Tensor) -> Tensor:
        """``buffer`` as this array holds it. A dynamic-size array's buffer may grow, so its
        static first dim is left open (TF1's dynamic TensorArray has no static size) and it
        is marked ``_cf_varying``: as a loop variable it may change shape per iteration,
        which the while loop's gradient must know (control_flow_ops ``_History``)."""
        if not self._dynamic_size:
            return buffer
        shp = buffer.shape
        if shp.ndims is not None and shp.ndims >= 1 and shp.as_list()[0] is not None:
            buffer = core_ops.placeholder_with_default(buffer, [None, *shp.as_list()[1:]])
        buffer._cf_varying = True  # type: ignore[attr-defined]
        return buffer

    def _derive(
        self, buffer: Tensor, element_shape: TensorShape | None = None, size: Any = None
    ) -> TensorArray:
        """A TensorArray over ``buffer``. A dynamic-size array's size is ``size`` if given
        (an int when known statically), else its buffer's rows; a fixed one keeps its size."""
        ta = TensorArray.__new__(TensorArray)
        ta.__dict__.update(self.__dict__)
        ta._materialize = None
        if buffer is not None and self._dynamic_size:
            d0 = buffer.shape.as_list()[0] if buffer.shape.ndims else None
            ta._size = size if size is not None else d0
            buffer = self._own(buffer)
        ta._buffer = buffer
        if element_shape is not None:
            ta._element_shape = element_shape
        return ta

    def _grown(self, base: Tensor, needed: Any) -> tuple[Tensor, Any]:
        """A dynamic-size array's buffer ``base`` (this array's rows) with zero rows appended
        up to ``needed`` rows (an int, or an int32 scalar tensor) when it has fewer, and the
        size after: both static when both are known."""
        d0 = base.shape.as_list()[0] if base.shape.ndims else None
        size = d0 if d0 is not None else (self._size if base is self._buffer else None)
        rest = base.shape.as_list()[1:] if base.shape.ndims is not None else None
        if isinstance(size, int) and isinstance(needed, int):
            if needed <= size:
                return base, size
            if rest is not None and all(d is not None for d in rest):
                pad = fill_ops.zeros([needed - size, *rest], dtype=self._dtype)
            else:
                dims = concat_ops.concat(
                    [constant([needed - size], dtype=_dt.int32), core_ops.shape(base)[1:]], 0
                )
                pad = fill_ops.zeros(dims, dtype=self._dtype)
            return concat_ops.concat([base, pad], 0), needed
        have = core_ops.shape(base)[0]
        want = needed if isinstance(needed, Tensor) else constant(needed, dtype=_dt.int32)
        new = math_ops.maximum(have, want)
        dims = concat_ops.concat(
            [layout_ops.reshape(math_ops.subtract(new, have), [1]), core_ops.shape(base)[1:]], 0
        )
        return concat_ops.concat([base, fill_ops.zeros(dims, dtype=self._dtype)], 0), None

    def _check_element(self, shape: TensorShape, what: str) -> TensorShape:
        """The element shape after a value of ``shape`` is stored (TF1's infer_shape rules)."""
        if not self._infer_shape:
            return self._element_shape
        if not self._element_shape.is_compatible_with(shape):
            raise ValueError(
                f"Inconsistent shapes: saw {shape} but expected {self._element_shape} (and infer_shape=True) "
                f"in TensorArray {what}"
            )
        return self._element_shape.merge_with(shape)

    def _value_in(self, value: Any, what: str) -> Tensor:
        v = value if isinstance(value, Tensor) else convert_to_tensor(value, dtype=self._dtype)
        if v.dtype != self._dtype:
            # TF1 raises InvalidArgumentError when the op is built.
            raise errors.InvalidArgumentError(
                None,
                None,
                f"TensorArray dtype is {self._dtype.name} but Op is trying to write dtype {v.dtype.name}",
            )
        return v

    def _base(self, elem: TensorShape, dynamic_elem: Tensor | None) -> Tensor:
        """The buffer to update: this one, or (no buffer yet) a zero one for ``elem``."""
        if self._buffer is not None:
            return self._buffer
        if self._materialize is not None:
            if not elem.is_fully_defined():
                raise ValueError(
                    f"TensorArray {self._name!r} is first written inside a tf.while_loop body with a value of "
                    f"shape {elem}: its element shape must be fully known there (give element_shape=)"
                )
            return self._materialize(self, elem)
        if elem.is_fully_defined() or dynamic_elem is None:
            return fill_ops.zeros(self._buffer_dims(elem), dtype=self._dtype)
        return fill_ops.zeros(self._buffer_dims(dynamic_elem), dtype=self._dtype)

    def _checked(self, index: Tensor, size: Tensor | None = None) -> Tensor:
        """``index`` as int32, through a gather from ``range(size)`` (this array's size unless
        given) so that an index out of range fails when the graph runs (TF1's error) instead
        of touching no row."""
        idx = _int32(index)
        return gather_ops.gather(fill_ops.range(self._size_tensor() if size is None else size), idx)

    def _rows_mask(self, index: Tensor, rank: int, size: Tensor | None = None) -> Tensor:
        """bool [size, 1, ..., 1] (``rank`` dims): true on row ``index``."""
        n = self._size_tensor() if size is None else size
        m = compare_ops.equal(fill_ops.range(n), self._checked(index, n))
        return layout_ops.reshape(m, [-1] + [1] * (rank - 1))

    def _resized(self, base: Tensor, needed: Any) -> tuple[Tensor, Any, Tensor | None]:
        """The buffer to write rows ``< needed`` into: ``base`` itself for a fixed-size array
        (its size; an index past it fails when the graph runs), grown for a dynamic-size one;
        with the size after (for ``_derive``) and the size as a tensor for the row masks
        (None: this array's)."""
        if not self._dynamic_size:
            return base, None, None
        grown, size = self._grown(base, needed)
        n = constant(size, dtype=_dt.int32) if isinstance(size, int) else core_ops.shape(grown)[0]
        return grown, size, n

    # -- TF1's API ------------------------------------------------------------------------------
    @property
    def dtype(self) -> _dt.DType:
        return self._dtype

    @property
    def element_shape(self) -> TensorShape:
        return self._element_shape

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic_size

    @property
    def flow(self) -> Tensor:
        """The buffer stands for TF1's flow (what orders the TensorArray's operations)."""
        return self.stack()

    def size(self, name: str | None = None) -> Tensor:
        """The number of elements (int32 scalar)."""
        return self._size_tensor()

    def write(self, index: Any, value: Any, name: str | None = None) -> TensorArray:
        """A TensorArray with element ``index`` set to ``value``."""
        v = self._value_in(value, "value")
        elem = self._check_element(v.shape, "write")
        dyn = core_ops.shape(v) if not v.shape.is_fully_defined() else None
        base = self._base(elem if elem.ndims is not None else v.shape, dyn)
        idx = convert_to_tensor(index)
        if idx.shape.ndims not in (None, 0) or not idx.dtype.is_integer:
            raise ValueError(f"TensorArray.write needs a scalar integer index, got {idx}")
        rank = base.shape.ndims if base.shape.ndims is not None else v.shape.ndims + 1
        known = _static_int(idx)
        needed = (
            known + 1
            if known is not None and known >= 0
            else math_ops.add(_int32(idx), constant(1, dtype=_dt.int32))
        )
        base, size, n = self._resized(base, needed)
        new = math_ops.where_v2(self._rows_mask(idx, rank, n), layout_ops.expand_dims(v, 0), base)
        return self._derive(new, elem, size)

    def read(self, index: Any, name: str | None = None) -> Tensor:
        """Element ``index`` (zeros if it was never written)."""
        idx = convert_to_tensor(index)
        if idx.shape.ndims not in (None, 0) or not idx.dtype.is_integer:
            raise ValueError(f"TensorArray.read needs a scalar integer index, got {idx}")
        out = gather_ops.gather(self._stacked("read"), idx)
        return out

    def _stacked(self, what: str) -> Tensor:
        if self._buffer is None:
            if not self._element_shape.is_fully_defined():
                raise ValueError(
                    f"TensorArray {self._name!r} has not been written to and its element shape "
                    f"{self._element_shape} is not fully defined: cannot {what} it (give element_shape=)"
                )
            self._buffer = self._own(
                fill_ops.zeros(self._buffer_dims(self._element_shape), dtype=self._dtype)
            )
        return self._buffer

    def stack(self, name: str | None = None) -> Tensor:
        """All elements stacked: ``[size, *element_shape]``."""
        return self._stacked("stack")

    def gather(self, indices: Any, name: str | None = None) -> Tensor:
        """The elements at ``indices``, stacked."""
        return gather_ops.gather(self._stacked("gather"), convert_to_tensor(indices))

    def concat(self, name: str | None = None) -> Tensor:
        """The elements concatenated along their first axis (each needs rank >= 1)."""
        buf = self._stacked("concat")
        elem = self._element_shape
        if elem.ndims is None or elem.ndims < 1:
            raise ValueError(f"TensorArray.concat needs elements of rank >= 1, got {elem}")
        rest = elem.as_list()[1:]
        if all(d is not None for d in rest):
            return layout_ops.reshape(buf, [-1, *rest])
        dims = concat_ops.concat([constant([-1], dtype=_dt.int32), core_ops.shape(buf)[2:]], 0)
        return layout_ops.reshape(buf, dims)

    def unstack(self, value: Any, name: str | None = None) -> TensorArray:
        """A TensorArray whose elements are ``value``'s rows (``value`` has ``size`` rows)."""
        v = self._value_in(value, "value")
        if v.shape.ndims == 0:
            raise ValueError("TensorArray.unstack needs a value of rank >= 1")
        if v.shape.ndims is not None:
            rows = v.shape.as_list()[0]
            fixed = isinstance(self._size, int) and not self._dynamic_size
            if fixed and rows is not None and rows != self._size:
                raise ValueError(f"TensorArray of size {self._size} cannot unstack a value of {rows} rows")
            elem = self._check_element(TensorShape(v.shape.as_list()[1:]), "unstack")
        else:
            elem = self._element_shape
        if self._materialize is not None and self._buffer is None:
            self._base(elem, None)  # inside a loop body: the buffer becomes a loop variable
        return self._derive(core_ops.identity(v), elem)

    def scatter(self, indices: Any, value: Any, name: str | None = None) -> TensorArray:
        """A TensorArray with element ``indices[k]`` set to ``value[k]`` for each k."""
        v = self._value_in(value, "value")
        idx = convert_to_tensor(indices)
        if idx.shape.ndims != 1 or not idx.dtype.is_integer:
            raise ValueError(f"TensorArray.scatter needs a rank-1 integer index vector, got {idx}")
        if v.shape.ndims is None or v.shape.ndims < 1:
            raise ValueError("TensorArray.scatter needs a value of known rank >= 1")
        elem = self._check_element(TensorShape(v.shape.as_list()[1:]), "scatter")
        dyn = core_ops.shape(v)[1:] if not elem.is_fully_defined() else None
        base = self._base(elem, dyn)
        rank = v.shape.ndims
        known = _static_lengths(idx)
        if known is not None:
            needed: Any = max(known, default=-1) + 1
        else:
            top = reduction_ops.reduce_max(
                concat_ops.concat([_int32(idx), constant([-1], dtype=_dt.int32)], 0)
            )
            needed = math_ops.add(top, constant(1, dtype=_dt.int32))
        base, size, n = self._resized(base, needed)
        # hits[r, k]: indices[k] == r; a row takes the last k that hits it.
        rows_n = self._size_tensor() if n is None else n
        hits = compare_ops.equal(
            layout_ops.expand_dims(fill_ops.range(rows_n), 1),
            layout_ops.expand_dims(self._checked(idx, rows_n), 0),
        )
        n = core_ops.size(idx)
        order = fill_ops.range(n)
        last = reduction_ops.reduce_max(
            math_ops.where_v2(hits, layout_ops.expand_dims(order, 0), constant(-1, dtype=_dt.int32)), axis=1
        )
        hit = reduction_ops.reduce_any(hits, axis=1)
        rows = gather_ops.gather(v, math_ops.maximum(last, constant(0, dtype=_dt.int32)))
        mask = layout_ops.reshape(hit, [-1] + [1] * (rank - 1))
        return self._derive(math_ops.where_v2(mask, rows, base), elem, size)

    def split(self, value: Any, lengths: Any, name: str | None = None) -> TensorArray:
        """TF1's split: element ``i`` is ``value[sum(lengths[:i]) : sum(lengths[:i + 1])]``.

        ``lengths`` must be known when the graph is built (a list, or a constant tensor), as
        must ``value``'s first dim: the dense buffer holds elements of one shape, so every
        length must be the same (the buffer is then ``value`` reshaped to
        ``[len(lengths), length, *rest]``). Unequal or run-time lengths are refused with a
        NotImplementedError. As in TF1, a fixed-size TensorArray of static size needs
        ``len(lengths) == size`` and the lengths must sum to ``value``'s first dim.
        """
        v = self._value_in(value, "value")
        if v.shape.ndims == 0:
            raise ValueError("TensorArray.split needs a value of rank >= 1")
        lens = _static_lengths(lengths)
        if lens is None:
            raise NotImplementedError(
                "TensorArray.split with lengths known only when the graph runs: graphc's TensorArray is a "
                "dense [size, ...] tensor; give the lengths as a list or a constant"
            )
        if any(n < 0 for n in lens):
            raise ValueError(f"TensorArray.split: lengths must be non-negative, got {lens}")
        if isinstance(self._size, int) and not self._dynamic_size and len(lens) != self._size:
            # TF1: "Expected lengths to be a vector of length <size>" for a fixed-size array.
            raise ValueError(
                f"TensorArray of size {self._size} cannot split into {len(lens)} elements (lengths {lens})"
            )
        if len(set(lens)) > 1:
            raise NotImplementedError(
                f"TensorArray.split with unequal lengths {lens}: graphc's TensorArray is a dense tensor whose "
                "elements all have one shape (split into equal lengths, or use tf.split)"
            )
        length = lens[0] if lens else 0
        rows = v.shape.as_list()[0] if v.shape.ndims is not None else None
        if rows is not None and rows != sum(lens):
            raise ValueError(
                f"TensorArray.split: the lengths {lens} sum to {sum(lens)} but the value has {rows} rows"
            )
        if v.shape.ndims is None:
            raise ValueError("TensorArray.split needs a value of known rank")
        rest = v.shape.as_list()[1:]
        elem = self._check_element(TensorShape([length, *rest]), "split")
        if all(d is not None for d in rest):
            buf = layout_ops.reshape(v, [len(lens), length, *rest])
        else:
            dims = concat_ops.concat(
                [constant([len(lens), length], dtype=_dt.int32), core_ops.shape(v)[1:]], 0
            )
            buf = layout_ops.reshape(v, dims)
        if self._materialize is not None and self._buffer is None:
            self._base(elem, None)  # inside a loop body: the buffer becomes a loop variable
        return self._derive(buf, elem, len(lens))

    def identity(self, name: str | None = None) -> TensorArray:
        """The same elements (TF1's identity: a new flow)."""
        if self._buffer is None:
            return self
        return self._derive(core_ops.identity(self._buffer))

    def close(self, name: str | None = None) -> Any:
        """TF1's close: nothing to release here."""
        return core_ops.no_op(name=name or "TensorArrayClose")

    def grad(self, source: Any, flow: Any = None, name: str | None = None) -> Any:
        raise NotImplementedError(
            "TensorArray.grad: take tf.gradients of the tensors read from it (they flow through the buffer)"
        )

    # -- as a control-flow value (graphc.ops.control_flow_ops) ------------------------------------
    def _cf_flat(self) -> list[Tensor]:
        return [] if self._buffer is None else [self._buffer]

    def _cf_rebuild(self, tensors: list[Tensor]) -> TensorArray:
        if not tensors:
            return self._derive(None)  # type: ignore[arg-type]
        (buf,) = tensors
        return self._derive(buf)

    def _cf_initial(self, elem: TensorShape) -> Tensor:
        """A zero buffer for elements of the fully defined shape ``elem``."""
        return self._own(fill_ops.zeros(self._buffer_dims(elem), dtype=self._dtype))

    def _cf_size(self) -> int | None:
        """The buffer's rows in a loop when fixed (None: a run-time or dynamic size)."""
        return self._size if isinstance(self._size, int) and not self._dynamic_size else None

    def _cf_signature(self) -> Any:
        return ("TensorArray", self._dtype.name)

    def __repr__(self) -> str:
        return f"<TensorArray {self._name!r} dtype={self._dtype.name} size={self._size} element_shape={self._element_shape}>"


def _int32(t: Tensor) -> Tensor:
    return math_ops.cast(t, _dt.int32) if t.dtype != _dt.int32 else t


def _static_int(t: Tensor) -> int | None:
    """A scalar Const tensor's value (None for any other tensor)."""
    if t.op.type != "Const":
        return None
    value = t.op.get_attr("value")
    return int(value.reshape(())) if value.size == 1 else None


def _static_lengths(lengths: Any) -> list[int] | None:
    """``lengths`` as a list of ints when known at graph build time (a Python sequence, a NumPy
    array or a Const tensor), else None."""
    if isinstance(lengths, Tensor):
        op = lengths.op
        if op.type != "Const":
            return None
        value = op.get_attr("value")
        return [int(n) for n in value.reshape(-1)]
    return [int(n) for n in lengths]
