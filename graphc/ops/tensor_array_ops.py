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
- ``unstack(x)``: a buffer equal to ``x``; ``split(x, lengths)`` with equal static lengths:
  ``x`` reshaped to ``[len(lengths), length, ...]``; ``scatter(indices, value)``: rows
  ``indices[k]`` replaced by ``value[k]`` (the last ``k`` for a repeated index).

Ragged elements. An array whose elements differ in their first dim (TF1 1.15 allows it
after ``split`` with unequal or run-time lengths, and for writes when ``infer_shape=False``)
holds two tensors instead of the buffer: ``flat``, the elements concatenated along their
first axis (``[total, *rest]``, its first dim left open and ``_cf_varying``), and
``lengths``, each element's first dim (int32 ``[size]``). ``split`` with unequal or run-time
lengths makes one (``flat`` is the value; the lengths' sum, sign and, for a fixed-size array,
count are checked when the graph runs where they are not known before, with TF1's
messages); so does an array made with ``infer_shape=False`` and an ``element_shape`` whose
first dim alone is open (its elements start empty), and a write with ``infer_shape=False``
of a value whose first dim differs from the dense buffer's elements' (or is not known
statically). ``read(i)`` is a slice of ``flat`` with run-time bounds
(``dynamic_shape_ops.slice``: ``start = cumsum(lengths, exclusive)[i]``, a data-defined
dim); ``write(i, v)`` concatenates the flat buffer before element ``i``, ``v`` and the flat
buffer after it; ``concat()`` is ``flat``; ``stack()``/``gather()`` gather rows
``start[k] + range(length)`` and need the chosen elements to have one length (an
InvalidArgumentError when the graph runs, as TF1's "inconsistent shapes"); ``scatter`` is
one write per index (an index vector of static length). Gradients flow through the slices,
concats and gathers. Run-time checks are host ``Assert`` ops the results depend on through
control inputs (so such a program runs as NumPy segments on the LLVM backend, as its
data-defined dims do anyway). As a loop variable a ragged array is its two tensors, ``flat``
changing shape per iteration; a loop body cannot turn a dense array ragged (the structures
differ): make it ragged before the loop (``element_shape=[None, ...]``, ``infer_shape=False``).

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
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape, as_shape
from graphc.ops import (
    compare_ops,
    concat_ops,
    core_ops,
    dynamic_shape_ops,
    fill_ops,
    gather_ops,
    host_ops,
    layout_ops,
    math_ops,
    reduction_ops,
    scan_ops,
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
        # Ragged elements (see the module docstring): the elements concatenated along their
        # first axis, and each one's length; both None for a dense array.
        self._flat: Tensor | None = None
        self._lengths: Tensor | None = None
        # Set by tf.while_loop on a TensorArray without a buffer inside a loop body: makes
        # the buffer a loop variable once the element shape is known (see control_flow_ops).
        self._materialize: Callable[[TensorArray, TensorShape], Tensor] | None = None
        if self._element_shape.is_fully_defined():
            self._buffer = self._own(
                fill_ops.zeros(self._buffer_dims(self._element_shape), dtype=self._dtype)
            )
        elif not infer_shape and _ragged_shape(self._element_shape):
            # TF1 lets such an array's elements differ in their first dim: ragged from the start.
            rest = self._element_shape.as_list()[1:]
            self._flat = _varying(fill_ops.zeros([0, *rest], dtype=self._dtype))
            self._lengths = self._own_lengths(fill_ops.zeros(self._lengths_dims(), dtype=_dt.int32))

    # -- helpers -----------------------------------------------------------------------------
    def _buffer_dims(self, elem: TensorShape | Tensor) -> Any:
        if isinstance(elem, TensorShape) and isinstance(self._size, int):
            return [self._size, *elem.as_list()]
        if isinstance(elem, TensorShape):
            elem = constant(elem.as_list(), dtype=_dt.int32)
        return concat_ops.concat([layout_ops.reshape(self._size_tensor(), [1]), elem], 0)

    def _lengths_dims(self) -> Any:
        return [self._size] if isinstance(self._size, int) else layout_ops.reshape(self._size_tensor(), [1])

    def _size_tensor(self) -> Tensor:
        if self._size is None:  # a dynamic-size array: its buffer's rows, or its lengths'
            if self._lengths is not None:
                return core_ops.shape(self._lengths)[0]
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
        ta._flat = ta._lengths = None
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

    # -- ragged elements: a flat buffer and the elements' lengths ---------------------------------
    @property
    def _ragged(self) -> bool:
        return self._lengths is not None

    def _own_lengths(self, lengths: Tensor) -> Tensor:
        """A ragged array's lengths as it holds them: open (and varying in a loop) when the
        array grows, as a dynamic-size dense buffer's rows are."""
        return _varying(lengths) if self._dynamic_size else lengths

    def _ragged_view(self, flat: Tensor, lengths: Tensor, size: Any = None) -> TensorArray:
        """A TensorArray of ragged elements: ``flat`` their concatenation, ``lengths`` their
        first dims (int32 [size]); ``size`` the static size of a dynamic-size one, if known."""
        ta = TensorArray.__new__(TensorArray)
        ta.__dict__.update(self.__dict__)
        ta._materialize = None
        ta._buffer = None
        ta._flat = _varying(flat)
        ta._lengths = self._own_lengths(lengths)
        if self._dynamic_size:
            ta._size = size
        rest = flat.shape.as_list()[1:] if flat.shape.ndims is not None else None
        declared = self._element_shape
        elem = TensorShape(None) if rest is None else TensorShape([None, *rest])
        if declared.ndims is not None and elem.ndims is not None and declared.ndims == elem.ndims:
            elem = TensorShape(
                [None, *TensorShape(declared.as_list()[1:]).merge_with(elem.as_list()[1:]).as_list()]
            )
        ta._element_shape = elem
        return ta

    def _ragged_parts(self, rest: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(flat, lengths)`` of this array: its own when ragged, else the dense buffer's
        rows concatenated (every length the buffer's second dim), or, with no buffer yet,
        an empty flat buffer with trailing dims ``rest`` (int32 vector) and zero lengths."""
        if self._ragged:
            assert self._flat is not None and self._lengths is not None
            return self._flat, self._lengths
        if self._buffer is None:
            assert rest is not None
            dims = concat_ops.concat([constant([0], dtype=_dt.int32), rest], 0)
            lengths = fill_ops.zeros(self._lengths_dims(), dtype=_dt.int32)
            return fill_ops.zeros(dims, dtype=self._dtype), lengths
        buf = self._buffer
        if buf.shape.ndims is None or buf.shape.ndims < 2:
            raise ValueError(
                f"TensorArray {self._name!r}: elements of different first dims need elements of rank >= 1"
            )
        shp = core_ops.shape(buf)
        rest_static = buf.shape.as_list()[2:]
        if all(d is not None for d in rest_static):
            flat = layout_ops.reshape(buf, [-1, *rest_static])
        else:
            flat = layout_ops.reshape(buf, concat_ops.concat([constant([-1], dtype=_dt.int32), shp[2:]], 0))
        lengths = fill_ops.fill(layout_ops.reshape(shp[0], [1]), shp[1])
        return flat, lengths

    def _ragged_read(self, idx: Tensor) -> Tensor:
        """Element ``idx`` of a ragged array: ``flat[start : start + length]``, a slice with
        run-time bounds (an index out of range fails when the graph runs)."""
        assert self._flat is not None and self._lengths is not None
        flat, lengths = self._flat, self._lengths
        i = _int32(idx)
        start, length = _clamped_bounds(flat, lengths, i)
        rank = flat.shape.ndims
        zero, full = constant(0, dtype=_dt.int32), constant(-1, dtype=_dt.int32)
        out = dynamic_shape_ops.slice(
            flat,
            concat_ops.stack([start] + [zero] * (rank - 1)),
            concat_ops.stack([length] + [full] * (rank - 1)),
        )
        out.set_shape(self._element_shape)
        return out

    def _ragged_gather(self, indices: Tensor, what: str) -> Tensor:
        """The elements at ``indices`` stacked: ``[k, length, *rest]``. They must all have
        one length (an InvalidArgumentError when the graph runs, as TF1's)."""
        assert self._flat is not None and self._lengths is not None
        flat, lengths = self._flat, self._lengths
        idx = _int32(indices)
        if idx.shape.ndims != 1:
            raise ValueError(f"TensorArray.{what} needs a rank-1 integer index vector, got {idx}")
        picked = gather_ops.gather(lengths, idx)
        starts = gather_ops.gather(scan_ops.cumsum(lengths, exclusive=True), idx)
        length = reduction_ops.reduce_max(concat_ops.concat([picked, constant([0], dtype=_dt.int32)], 0))
        check = host_ops.Assert(
            reduction_ops.reduce_all(compare_ops.equal(picked, length)),
            [
                f"TensorArray has inconsistent shapes: {what}() of TensorArray {self._name!r} needs "
                "elements of one shape, but their first dims are",
                picked,
                "(concat() joins elements of different first dims)",
            ],
            summarize=16,
        )
        pos = math_ops.add(
            layout_ops.expand_dims(starts, 1), layout_ops.expand_dims(fill_ops.range(length), 0)
        )
        # Inside the flat buffer even when the check fails (which then reports it): the
        # check is not ordered before the gather.
        last = math_ops.subtract(core_ops.shape(flat)[0], constant(1, dtype=_dt.int32))
        out = gather_ops.gather(flat, math_ops.minimum(pos, last))
        with get_default_graph().control_dependencies([check]):
            out = core_ops.identity(out)
        out.set_shape(TensorShape([idx.shape.as_list()[0]]).concatenate(self._element_shape))
        return out

    def _ragged_write(self, index: Tensor, v: Tensor) -> TensorArray:
        """This array, made ragged, with element ``index`` replaced by ``v``: the flat buffer
        before the element, ``v``, the flat buffer after it (slices with run-time bounds)."""
        if v.shape.ndims is None or v.shape.ndims < 1:
            raise ValueError(
                f"TensorArray {self._name!r} holds elements of different first dims: a written value needs "
                f"a known rank >= 1, got {v.shape}"
            )
        flat, lengths = self._ragged_parts(core_ops.shape(v)[1:])
        if flat.shape.ndims is not None and flat.shape.ndims != v.shape.ndims:
            raise ValueError(
                f"Inconsistent shapes: saw {v.shape} but expected elements of rank {flat.shape.ndims} in "
                f"TensorArray {self._name!r} write"
            )
        rest = TensorShape(flat.shape.as_list()[1:]) if flat.shape.ndims is not None else TensorShape(None)
        if not rest.is_compatible_with(v.shape.as_list()[1:]):
            raise ValueError(
                f"Inconsistent shapes: saw {v.shape} but expected elements of shape [?, {str(rest)[1:-1]}] in "
                f"TensorArray {self._name!r} write"
            )
        i = _int32(index)
        if self._dynamic_size:  # grow the lengths with empty elements up to the index
            have = core_ops.shape(lengths)[0]
            want = math_ops.maximum(have, math_ops.add(i, constant(1, dtype=_dt.int32)))
            pad = fill_ops.zeros(layout_ops.reshape(math_ops.subtract(want, have), [1]), dtype=_dt.int32)
            lengths = concat_ops.concat([lengths, pad], 0)
        n = core_ops.shape(lengths)[0]
        i = self._checked(i, n)
        start, length = _clamped_bounds(flat, lengths, i)
        end = math_ops.add(start, length)
        rank = v.shape.ndims
        zero, full = constant(0, dtype=_dt.int32), constant(-1, dtype=_dt.int32)
        before = dynamic_shape_ops.slice(
            flat, concat_ops.stack([zero] * rank), concat_ops.stack([start] + [full] * (rank - 1))
        )
        after = dynamic_shape_ops.slice(
            flat, concat_ops.stack([end] + [zero] * (rank - 1)), concat_ops.stack([full] * rank)
        )
        new_flat = concat_ops.concat([before, v, after], 0)
        rows = core_ops.shape(v)[0]
        new_lengths = math_ops.where_v2(compare_ops.equal(fill_ops.range(n), i), rows, lengths)
        return self._ragged_view(new_flat, new_lengths)

    def _goes_ragged(self, v: Tensor) -> bool:
        """Whether writing ``v`` to this dense array makes it ragged: TF1 lets the elements
        of an array with ``infer_shape=False`` differ in shape; here they may differ in
        their first dim, which happens when ``v``'s differs from the buffer's elements' (or
        either is not known when the graph is built)."""
        if self._infer_shape or self._buffer is None or v.shape.ndims in (None, 0):
            return False
        buf = self._buffer.shape
        if buf.ndims is None or buf.ndims != v.shape.ndims + 1:
            return False
        have, new = buf.as_list()[1], v.shape.as_list()[0]
        return have is None or new is None or have != new

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
        """The buffer stands for TF1's flow (what orders the TensorArray's operations); a
        ragged array's is its flat buffer."""
        return self.concat() if self._ragged else self.stack()

    def size(self, name: str | None = None) -> Tensor:
        """The number of elements (int32 scalar)."""
        return self._size_tensor()

    def write(self, index: Any, value: Any, name: str | None = None) -> TensorArray:
        """A TensorArray with element ``index`` set to ``value``."""
        v = self._value_in(value, "value")
        idx = convert_to_tensor(index)
        if idx.shape.ndims not in (None, 0) or not idx.dtype.is_integer:
            raise ValueError(f"TensorArray.write needs a scalar integer index, got {idx}")
        first_unknown = (
            self._buffer is None
            and self._materialize is None
            and v.shape.ndims is not None
            and v.shape.ndims >= 1
            and v.shape.as_list()[0] is None
        )
        if self._ragged or self._goes_ragged(v) or (not self._infer_shape and first_unknown):
            return self._ragged_write(idx, v)
        elem = self._check_element(v.shape, "write")
        dyn = core_ops.shape(v) if not v.shape.is_fully_defined() else None
        base = self._base(elem if elem.ndims is not None else v.shape, dyn)
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
        if self._ragged:
            return self._ragged_read(idx)
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
        """All elements stacked: ``[size, *element_shape]`` (a ragged array's elements must
        all have one length when the graph runs)."""
        if self._ragged:
            return self._ragged_gather(fill_ops.range(self._size_tensor()), "stack")
        return self._stacked("stack")

    def gather(self, indices: Any, name: str | None = None) -> Tensor:
        """The elements at ``indices``, stacked."""
        if self._ragged:
            return self._ragged_gather(convert_to_tensor(indices), "gather")
        return gather_ops.gather(self._stacked("gather"), convert_to_tensor(indices))

    def concat(self, name: str | None = None) -> Tensor:
        """The elements concatenated along their first axis (each needs rank >= 1)."""
        if self._ragged:
            assert self._flat is not None
            return core_ops.identity(self._flat)
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
        if self._ragged:
            count = idx.shape.as_list()[0]
            if count is None:
                raise NotImplementedError(
                    f"TensorArray.scatter into TensorArray {self._name!r}, whose elements have different first "
                    "dims, needs an index vector of static length (it writes the elements one by one)"
                )
            out = self
            for k in range(count):
                out = out._ragged_write(gather_ops.gather(idx, k), gather_ops.gather(v, k))
            return out
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

        Equal lengths known when the graph is built (a list, or a constant tensor) make a
        dense array: ``value`` reshaped to ``[len(lengths), length, *rest]``. Unequal
        lengths, or lengths known only when the graph runs (an int32/int64 vector), make a
        ragged one: ``value`` itself as the flat buffer and ``lengths`` as the elements'
        first dims. As in TF1, a fixed-size TensorArray needs ``len(lengths) == size`` and
        the lengths must be non-negative and sum to ``value``'s first dim: checked when the
        graph is built where both are known, else when it runs (InvalidArgumentError).
        """
        v = self._value_in(value, "value")
        if v.shape.ndims == 0:
            raise ValueError("TensorArray.split needs a value of rank >= 1")
        if v.shape.ndims is None:
            raise ValueError("TensorArray.split needs a value of known rank")
        rows = v.shape.as_list()[0]
        fixed = isinstance(self._size, int) and not self._dynamic_size
        lens = _static_lengths(lengths)
        if lens is not None:
            if any(n < 0 for n in lens):
                raise ValueError(f"TensorArray.split: lengths must be non-negative, got {lens}")
            if fixed and len(lens) != self._size:
                # TF1: "TensorArray's size is not equal to the size of lengths" for a fixed-size array.
                raise ValueError(
                    f"TensorArray of size {self._size} cannot split into {len(lens)} elements (lengths {lens})"
                )
            if rows is not None and rows != sum(lens):
                raise ValueError(
                    f"TensorArray.split: the lengths {lens} sum to {sum(lens)} but the value has {rows} rows"
                )
            if len(set(lens)) <= 1:
                return self._split_equal(v, lens)
            declared = self._element_shape
            if self._infer_shape and declared.ndims and declared.as_list()[0] is not None:
                raise ValueError(
                    f"Inconsistent shapes: TensorArray {self._name!r} has element shape {declared} but split "
                    f"makes elements of lengths {lens}"
                )
            lt = constant(lens, dtype=_dt.int32)
            checks = [] if rows is not None else [self._split_sum_check(v, lt)]
            size: Any = len(lens)
        else:
            lt = convert_to_tensor(lengths)
            if not lt.dtype.is_integer or lt.shape.ndims not in (None, 1):
                raise ValueError(f"Expected lengths to be a vector, received shape: {lt.shape}")
            lt = _int32(lt)
            count = lt.shape.as_list()[0] if lt.shape.ndims == 1 else None
            if fixed and count is not None and count != self._size:
                raise ValueError(
                    f"TensorArray of size {self._size} cannot split into {count} elements (lengths {lt.name})"
                )
            checks = [self._split_sum_check(v, lt)]
            checks.append(
                host_ops.Assert(
                    reduction_ops.reduce_all(compare_ops.greater_equal(lt, constant(0, dtype=_dt.int32))),
                    ["TensorArray.split: lengths must be non-negative, got", lt],
                    summarize=16,
                )
            )
            if fixed and count is None:
                n = core_ops.size(lt)
                checks.append(
                    host_ops.Assert(
                        compare_ops.equal(n, constant(self._size, dtype=_dt.int32)),
                        [
                            "TensorArray's size is not equal to the size of lengths (",
                            constant(self._size, dtype=_dt.int32),
                            "vs.",
                            n,
                            "), and the TensorArray is not marked as dynamically resizeable",
                        ],
                    )
                )
            size = count
        if self._materialize is not None and self._buffer is None:
            raise ValueError(
                f"TensorArray {self._name!r} is first split into elements of different lengths inside a "
                "tf.while_loop body: it enters the loop dense; split it before the loop, or make it with "
                "element_shape=[None, ...] and infer_shape=False"
            )
        flat, lt = v, lt
        if checks:
            with get_default_graph().control_dependencies(checks):
                flat, lt = core_ops.identity(v), core_ops.identity(lt)
        return self._ragged_view(flat, lt, size)

    def _split_sum_check(self, v: Tensor, lengths: Tensor) -> Any:
        total = reduction_ops.reduce_sum(lengths)
        rows = core_ops.shape(v)[0]
        return host_ops.Assert(
            compare_ops.equal(total, rows),
            [
                "Expected sum of lengths to be equal to values.shape[0], but sum of lengths is:",
                total,
                "and value's shape is:",
                core_ops.shape(v),
            ],
        )

    def _split_equal(self, v: Tensor, lens: list[int]) -> TensorArray:
        """split into equal static lengths: a dense buffer ``[len(lens), length, *rest]``."""
        length = lens[0] if lens else 0
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
        if self._ragged:
            assert self._flat is not None and self._lengths is not None
            return self._ragged_view(
                core_ops.identity(self._flat), core_ops.identity(self._lengths), self._size
            )
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
        if self._ragged:
            assert self._flat is not None and self._lengths is not None
            return [self._flat, self._lengths]
        return [] if self._buffer is None else [self._buffer]

    def _cf_rebuild(self, tensors: list[Tensor]) -> TensorArray:
        if not tensors:
            return self._derive(None)  # type: ignore[arg-type]
        if self._ragged:
            flat, lengths = tensors
            d0 = lengths.shape.as_list()[0] if lengths.shape.ndims == 1 else None
            return self._ragged_view(flat, lengths, d0 if self._dynamic_size else None)
        (buf,) = tensors
        return self._derive(buf)

    def _cf_initial(self, elem: TensorShape) -> Tensor:
        """A zero buffer for elements of the fully defined shape ``elem``."""
        return self._own(fill_ops.zeros(self._buffer_dims(elem), dtype=self._dtype))

    def _cf_size(self) -> int | None:
        """The buffer's rows in a loop when fixed (None: a run-time or dynamic size)."""
        return self._size if isinstance(self._size, int) and not self._dynamic_size else None

    def _cf_signature(self) -> Any:
        # A ragged array is two tensors: a loop body must not turn a dense array ragged.
        return (
            ("TensorArray", self._dtype.name, "ragged") if self._ragged else ("TensorArray", self._dtype.name)
        )

    def __repr__(self) -> str:
        return f"<TensorArray {self._name!r} dtype={self._dtype.name} size={self._size} element_shape={self._element_shape}>"


def _varying(t: Tensor) -> Tensor:
    """``t`` with its static first dim left open and marked ``_cf_varying``: as a loop
    variable it may change that dim per iteration (control_flow_ops ``_History``)."""
    shp = t.shape
    if shp.ndims is not None and shp.ndims >= 1 and shp.as_list()[0] is not None:
        t = core_ops.placeholder_with_default(t, [None, *shp.as_list()[1:]])
    t._cf_varying = True  # type: ignore[attr-defined]
    return t


def _clamped_bounds(flat: Tensor, lengths: Tensor, i: Tensor) -> tuple[Tensor, Tensor]:
    """Element ``i``'s start and length in the flat buffer, clamped into it: lengths that
    fail split's run-time checks (which report them) still slice inside the buffer, since
    those checks are not ordered before the slices."""
    zero = constant(0, dtype=_dt.int32)
    rows = core_ops.shape(flat)[0]
    start = math_ops.minimum(gather_ops.gather(scan_ops.cumsum(lengths, exclusive=True), i), rows)
    start = math_ops.maximum(start, zero)
    length = math_ops.maximum(gather_ops.gather(lengths, i), zero)
    return start, math_ops.minimum(length, math_ops.subtract(rows, start))


def _ragged_shape(shape: TensorShape) -> bool:
    """An element shape whose first dim is open and whose other dims are known."""
    if shape.ndims is None or shape.ndims < 1:
        return False
    dims = shape.as_list()
    return dims[0] is None and all(d is not None for d in dims[1:])


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
