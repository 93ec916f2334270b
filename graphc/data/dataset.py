"""tf.data (TF1): ``Dataset``, its transformations and the iterators a Session pulls from.

A :class:`Dataset` is a description of a stream of elements; each element is a NumPy
array or a tuple or dict (nested) of them. It runs on the host, in Python: an iterator
walks the stream one element at a time, and the tensors ``get_next()`` returns are
placeholders that the Session fills at the start of each run that needs them, so a run
of ``next_element`` or of a train op built on it pulls ONE new element, as in TF1.

How the Session finds them: every graph that holds an iterator has, in its collection
:data:`FEED_PROVIDERS`, one callable ``provider(session, targets, feeds) -> dict[Tensor,
np.ndarray]``. The Session calls each provider before a run with the run's targets and
its fed values and feeds what it returns (:func:`iterator_feeds` does the same for any
session). A provider walks back from the targets (stopping at fed tensors); for every
iterator initializer it reaches it (re)starts that iterator for this session, then for
every ``get_next()`` it reaches it pulls one element. Iterator state belongs to the
session, as TF1's iterator resources do: two sessions iterate independently.

Where graphc differs from TF1 (on purpose or for now):

- Functions given to ``map`` and ``filter`` are traced once into a private graph, as TF1
  does, and that graph runs (on a private session) once per element. A function that
  cannot be traced (it calls NumPy on its arguments, say) is called instead on the
  elements' NumPy values; it must then return NumPy values (or Python numbers).
- ``prefetch`` is accepted and does nothing: elements are produced when a run asks for
  them, on the thread of that run.
- ``shuffle`` follows TF1's algorithm (a buffer of ``buffer_size`` elements, each output
  drawn uniformly from the buffer and replaced by the next input), with NumPy's
  generator: the same seeds give the same orders in every session, not TF1's orders.
  Re-initializing an iterator restarts its sequence of orders.
- ``cache()`` keeps the elements in memory (a file name is refused).
- ``Iterator.string_handle``, ``padded_batch``, ``interleave``, ``flat_map``, ``window``
  and file-reading datasets (``TFRecordDataset``, ``TextLineDataset``) are left out.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable
from collections.abc import Iterator as PyIterator
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import errors
from graphc.frontend.graph import Graph, Operation, Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape, as_shape
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import no_op, placeholder
from graphc.ops.random_ops import get_seed
from graphc.runtime import nest
from graphc.runtime.session import Session

__all__ = [
    "FEED_PROVIDERS",
    "Dataset",
    "Iterator",
    "iterator_feeds",
    "make_initializable_iterator",
    "make_one_shot_iterator",
]

# The graph collection holding, per graph, the one callable that gives the Session the
# values of the iterators' get_next() tensors for a run (see the module docstring).
FEED_PROVIDERS = "graphc_feed_providers"

_Flat = list  # one element, flattened: a list of NumPy arrays in structure order


# -- structures: nested tuples and dicts; anything else (a list too, as in TF1) is a leaf --
def _flatten(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [leaf for k in _sorted_keys(x) for leaf in _flatten(x[k])]
    if isinstance(x, tuple):
        return [leaf for v in x for leaf in _flatten(v)]
    return [x]


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:
        return list(d)


def _pack(structure: Any, flat: list[Any]) -> Any:
    it = iter(flat)

    def build(x: Any) -> Any:
        if isinstance(x, dict):
            built = {k: build(x[k]) for k in _sorted_keys(x)}
            return {k: built[k] for k in x}
        if isinstance(x, tuple):
            items = [build(v) for v in x]
            return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
        return next(it)

    return build(structure)


def _up_to(structure: Any, value: Any, what: str) -> list[Any]:
    """Flatten ``value`` following ``structure``'s nesting only (a leaf of ``structure``
    takes the whole corresponding part of ``value``, e.g. a shape given as a tuple)."""
    if isinstance(structure, dict):
        if not isinstance(value, dict) or set(value) != set(structure):
            raise TypeError(f"{what} {value!r} does not match the structure {structure!r}")
        return [leaf for k in _sorted_keys(structure) for leaf in _up_to(structure[k], value[k], what)]
    if isinstance(structure, tuple):
        if not isinstance(value, list | tuple) or len(value) != len(structure):
            raise TypeError(f"{what} {value!r} does not match the structure {structure!r}")
        return [leaf for s, v in zip(structure, value) for leaf in _up_to(s, v, what)]
    return [value]


def _to_array(x: Any) -> np.ndarray:
    """A leaf as TF1 converts it: NumPy values keep their dtype, Python floats become
    float32 and Python ints int32 (int64 when they need it), strings bytes objects."""
    dt = _dt.infer_dtype(x)
    if dt.is_string:
        return np.asarray(x).astype(object)
    return np.asarray(x, dtype=dt.np)


class _Spec:
    """The type of one component: a dtype and a (partial) static shape."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype: Any, shape: Any) -> None:
        self.dtype = _dt.as_dtype(dtype)
        self.shape = as_shape(shape)

    def __repr__(self) -> str:
        return f"_Spec({self.dtype.name}, {self.shape})"


def _check_value(spec: _Spec, value: np.ndarray, where: str) -> np.ndarray:
    """``value`` converted to the component's dtype; a shape outside its spec raises."""
    if spec.dtype.is_string:
        arr = np.asarray(value).astype(object)
    else:
        arr = np.asarray(value)
        if arr.dtype != spec.dtype.np:
            try:
                arr = arr.astype(spec.dtype.np)
            except (TypeError, ValueError) as exc:
                raise errors.InvalidArgumentError(
                    None, None, f"{where}: cannot convert a {arr.dtype} value to {spec.dtype.name}: {exc}"
                ) from None
    if not spec.shape.is_compatible_with(arr.shape):
        raise errors.InvalidArgumentError(
            None,
            None,
            f"{where}: an element of shape {tuple(arr.shape)} where an element of shape "
            f"{spec.shape} was expected",
        )
    return arr


# -- iteration contexts ------------------------------------------------------------------
class _Context:
    """The state of one iterator run over a dataset: the captured tensors' values, and the
    per-stage counters (shuffle epochs) and caches."""

    def __init__(self, values: dict[int, np.ndarray]) -> None:
        self.values = values
        self.epochs: dict[int, int] = {}
        self.caches: dict[int, list[_Flat]] = {}

    def next_epoch(self, stage: Any) -> int:
        k = self.epochs.get(id(stage), 0)
        self.epochs[id(stage)] = k + 1
        return k


# -- functions for map and filter ------------------------------------------------------
class _Function:
    """A user function over elements: traced once into a private graph and run there per
    element; or, when tracing fails, called on the NumPy values."""

    def __init__(self, fn: Callable[..., Any], structure: Any, specs: list[_Spec], what: str) -> None:
        if not callable(fn):
            raise TypeError(f"{what} expects a callable, got {fn!r}")
        self._fn = fn
        self._what = what
        self._in_structure = structure
        self._lock = threading.Lock()
        self._session: Session | None = None
        self.graph: Graph | None = None
        self.out_structure: Any = None
        self.out_specs: list[_Spec] | None = None
        self._trace_error: BaseException | None = None
        outer_seed = get_default_graph().seed
        graph = Graph()
        graph.seed = outer_seed  # TF1: the graph-level seed applies inside dataset functions
        try:
            with graph.as_default():
                self._inputs = [
                    placeholder(s.dtype, s.shape.as_tuple(), name=f"arg{i}") for i, s in enumerate(specs)
                ]
                out = _normalize(self._call(_pack(structure, self._inputs)))
                out_flat = _flatten(out)
                out_tensors = [_as_tensor(x, graph) for x in out_flat]
        except Exception as exc:  # noqa: BLE001  (any failure to trace means: run on NumPy values)
            self._trace_error = exc
            return
        self.graph = graph
        self._outputs = out_tensors
        self.out_structure = _pack(out, [None] * len(out_flat))
        self.out_specs = [_Spec(t.dtype, t.shape) for t in out_tensors]

    @property
    def traced(self) -> bool:
        return self.graph is not None

    def _call(self, args: Any) -> Any:
        if type(args) is tuple:
            return self._fn(*args)
        return self._fn(args)

    def __call__(self, flat: _Flat) -> tuple[Any, _Flat]:
        """The function's result on one element: (structure, flat NumPy values)."""
        if self.graph is not None:
            with self._lock:
                if self._session is None:
                    self._session = Session(graph=self.graph)
            values = self._session.run(self._outputs, dict(zip(self._inputs, flat)))
            return self.out_structure, [np.asarray(v) for v in values]
        # Tracing failed: call the function on the NumPy values, in a throwaway graph so that
        # an op it builds anyway does not land in the user's graph.
        with Graph().as_default():
            out = self._call(_pack(self._in_structure, list(flat)))
        out = _normalize(out)
        leaves = _flatten(out)
        for x in leaves:
            if isinstance(x, Tensor | Operation) or hasattr(x, "_as_graph_element"):
                raise TypeError(
                    f"the function given to {self._what} could not be traced into a graph "
                    f"({type(self._trace_error).__name__}: {self._trace_error}), and called on "
                    f"NumPy values it returned a graph Tensor; use graphc ops throughout or "
                    f"NumPy throughout"
                ) from self._trace_error
        return _pack(out, [None] * len(leaves)), [_to_array(x) for x in leaves]


def _normalize(out: Any) -> Any:
    """A function's result as a structure: a list becomes a tuple (TF1 does the same)."""
    if isinstance(out, list):
        return tuple(_normalize(v) for v in out)
    if isinstance(out, tuple) and not hasattr(out, "_fields"):
        return tuple(_normalize(v) for v in out)
    if isinstance(out, dict):
        return {k: _normalize(v) for k, v in out.items()}
    return out


def _as_tensor(x: Any, graph: Graph) -> Tensor:
    if isinstance(x, Tensor):
        if x.graph is not graph:
            raise ValueError(f"{x.name} belongs to another graph")
        return x
    if hasattr(x, "_as_graph_element"):
        raise ValueError("a dataset function cannot return a Variable of another graph")
    if isinstance(x, int | float | bool | str | bytes):
        return convert_to_tensor(x)
    if isinstance(x, np.ndarray | np.generic):
        # NumPy called on a traced tensor gives garbage, not an error (it reads the tensor
        # as a sequence): a NumPy result means the function is a NumPy one.
        raise TypeError("a dataset function returned a NumPy value while traced")
    raise TypeError(f"a dataset function returned {type(x).__name__}, not a tensor")


# -- datasets ----------------------------------------------------------------------------
class Dataset:
    """tf.data.Dataset (TF1): a stream of elements and its transformations.

    Build one with :meth:`from_tensor_slices`, :meth:`from_tensors`,
    :meth:`from_generator`, :meth:`range` or :meth:`zip`; transform it with ``map``,
    ``filter``, ``shuffle``, ``batch``, ``repeat``, ``take``, ``skip``, ``cache``,
    ``concatenate`` and ``prefetch``; read it in a graph through
    :meth:`make_one_shot_iterator` or :meth:`make_initializable_iterator`.
    """

    def __init__(self, structure: Any, specs: list[_Spec], inputs: tuple[Dataset, ...] = ()) -> None:
        self._structure = structure  # the element's nesting, with None leaves
        self._specs = specs
        self._inputs = inputs

    # -- types ----------------------------------------------------------------------
    @property
    def output_types(self) -> Any:
        """The dtypes of an element's components, in the element's structure."""
        return _pack(self._structure, [s.dtype for s in self._specs])

    @property
    def output_shapes(self) -> Any:
        """The static shapes (``TensorShape``) of an element's components."""
        return _pack(self._structure, [s.shape for s in self._specs])

    @property
    def output_classes(self) -> Any:
        """``Tensor`` for every component (TF1's property; sparse components do not exist here)."""
        return _pack(self._structure, [Tensor for _ in self._specs])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shapes: {self.output_shapes}, types: {self.output_types}>"

    def __iter__(self) -> Any:
        raise RuntimeError(
            "iterating over a Dataset in Python is not supported in graph mode (TF1); use "
            "make_one_shot_iterator().get_next() in a Session, or as_numpy_iterator()"
        )

    # -- iteration (overridden by each stage) ---------------------------------------------
    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        raise NotImplementedError

    def _captures(self) -> list[Tensor]:
        """The graph tensors this dataset reads, in a fixed order (no repeats)."""
        seen: dict[int, Tensor] = {}
        for d in self._inputs:
            for t in d._captures():
                seen.setdefault(id(t), t)
        return list(seen.values())

    def as_numpy_iterator(self) -> PyIterator[Any]:
        """Yield the elements as NumPy values, outside any Session (a dataset that reads
        graph tensors raises ValueError). graphc's addition, as TF 2's method of that name."""
        if self._captures():
            raise ValueError("this dataset reads graph tensors; iterate it in a Session through an iterator")
        for flat in self._iterate(_Context({})):
            yield _pack(self._structure, flat)

    # -- sources --------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """tf.data.Dataset.from_tensor_slices: one element per row of the components (a
        NumPy array, a Python list, a graph Tensor, or a tuple or dict of them), which must
        share their first dimension. Tensors (a placeholder, say) are evaluated when the
        iterator is initialized, with that run's feeds."""
        return _Slices(tensors, slices=True)

    @staticmethod
    def from_tensors(tensors: Any) -> Dataset:
        """tf.data.Dataset.from_tensors: a dataset of one element, ``tensors`` itself."""
        return _Slices(tensors, slices=False)

    @staticmethod
    def from_generator(
        generator: Callable[..., Any],
        output_types: Any,
        output_shapes: Any = None,
        args: Any = None,
    ) -> Dataset:
        """tf.data.Dataset.from_generator: ``generator()`` (``generator(*args)``) is called
        for every pass over the data and each value it yields is one element, converted to
        ``output_types`` and checked against ``output_shapes`` (unknown where omitted): a
        mismatch raises InvalidArgumentError when the element is pulled. ``args`` are
        NumPy values here (TF1 also takes tensors)."""
        return _Generator(generator, output_types, output_shapes, args)

    @staticmethod
    def range(*args: int) -> Dataset:  # noqa: A003  (TF's name)
        """tf.data.Dataset.range(stop) / (start, stop[, step]): int64 scalars."""
        if not 1 <= len(args) <= 3:
            raise ValueError(f"Dataset.range takes 1 to 3 arguments, got {len(args)}")
        r = range(*(int(a) for a in args))
        return _Range(r)

    @staticmethod
    def zip(datasets: Any) -> Dataset:  # noqa: A003  (TF's name)
        """tf.data.Dataset.zip: elements of a tuple or dict (nested) of datasets, side by
        side; it ends with the shortest."""
        return _Zip(datasets)

    # -- transformations ----------------------------------------------------------------
    def map(self, map_func: Callable[..., Any], num_parallel_calls: Any = None) -> Dataset:
        """Dataset.map: ``map_func`` on every element (a tuple element is passed as
        positional arguments). Traced once into a graph (see the module docstring); a
        function that cannot be traced runs on NumPy values. ``num_parallel_calls`` is
        accepted and ignored."""
        return _Map(self, map_func)

    def filter(self, predicate: Callable[..., Any]) -> Dataset:
        """Dataset.filter: the elements for which ``predicate`` (a scalar bool) is true."""
        return _Filter(self, predicate)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Dataset.batch: stack ``batch_size`` consecutive elements along a new first axis;
        the last batch is smaller unless ``drop_remainder``. Its first dim is None in
        ``output_shapes`` unless ``drop_remainder``, as in TF1."""
        return _Batch(self, _positive_int(batch_size, "batch_size"), bool(drop_remainder))

    def shuffle(
        self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool | None = None
    ) -> Dataset:
        """Dataset.shuffle: TF1's buffered shuffle. ``seed`` with the graph-level seed (TF1's
        rules) makes it deterministic; ``reshuffle_each_iteration`` (default True) draws a
        new order on every pass (under ``repeat``)."""
        return _Shuffle(
            self,
            _positive_int(buffer_size, "buffer_size"),
            seed,
            True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration),
        )

    def repeat(self, count: int | None = None) -> Dataset:
        """Dataset.repeat: ``count`` passes over the data (None or -1: forever)."""
        return _Repeat(self, None if count is None or int(count) < 0 else int(count))

    def take(self, count: int) -> Dataset:
        """Dataset.take: at most ``count`` elements (-1: all)."""
        return _Take(self, int(count))

    def skip(self, count: int) -> Dataset:
        """Dataset.skip: all but the first ``count`` elements (-1: none)."""
        return _Skip(self, int(count))

    def prefetch(self, buffer_size: Any) -> Dataset:
        """Dataset.prefetch: accepted and does nothing (elements are made when a run needs
        them)."""
        return self

    def cache(self, filename: str = "") -> Dataset:
        """Dataset.cache: the first pass's elements are kept in memory and replayed by the
        later passes of the same iterator. A file cache is not supported."""
        if filename:
            raise NotImplementedError(
                "Dataset.cache(filename) is not supported; cache() keeps elements in memory"
            )
        return _Cache(self)

    def concatenate(self, dataset: Dataset) -> Dataset:
        """Dataset.concatenate: this dataset's elements, then ``dataset``'s (same types)."""
        return _Concatenate(self, dataset)

    def apply(self, transformation_func: Callable[[Dataset], Dataset]) -> Dataset:
        """Dataset.apply: ``transformation_func(self)``."""
        out = transformation_func(self)
        if not isinstance(out, Dataset):
            raise TypeError("`transformation_func` must return a Dataset.")
        return out

    # -- iterators ----------------------------------------------------------------------
    def make_one_shot_iterator(self) -> Iterator:
        """Dataset.make_one_shot_iterator: an iterator that starts by itself on its first
        use in each session and cannot be re-initialized."""
        return Iterator._make(self, one_shot=True)

    def make_initializable_iterator(self, shared_name: str | None = None) -> Iterator:
        """Dataset.make_initializable_iterator: run its ``initializer`` (with the feeds of the
        placeholders the dataset reads) before ``get_next()``, and again to start over."""
        return Iterator._make(self, one_shot=False)


def _positive_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise TypeError(f"{what} must be a Python int, got {v!r}")
    if v <= 0:
        raise ValueError(f"{what} must be positive, got {v}")
    return int(v)


class _Slices(Dataset):
    def __init__(self, tensors: Any, slices: bool) -> None:
        structure = _normalize_input(tensors)
        leaves = _flatten(structure)
        if not leaves:
            raise ValueError("from_tensor_slices/from_tensors needs at least one component")
        self._leaves: list[Any] = []
        specs = []
        for x in leaves:
            if hasattr(x, "_as_graph_element") and not isinstance(x, Tensor):
                x = x._as_graph_element()
            if isinstance(x, Tensor):
                self._leaves.append(x)
                shape = x.shape
            else:
                x = _to_array(x)
                self._leaves.append(x)
                shape = TensorShape(x.shape)
            dt = x.dtype if isinstance(x, Tensor) else _dt.as_dtype(x.dtype)
            if slices:
                if shape.ndims == 0:
                    raise ValueError("from_tensor_slices: every component needs at least one dimension")
                shape = TensorShape(None) if shape.ndims is None else TensorShape(shape.as_list()[1:])
            specs.append(_Spec(dt, shape))
        if slices:
            firsts = {
                (x.shape.as_list()[0] if isinstance(x, Tensor) else x.shape[0])
                for x in self._leaves
                if not isinstance(x, Tensor) or x.shape.ndims is not None
            }
            firsts.discard(None)
            if len(firsts) > 1:
                raise ValueError(
                    f"from_tensor_slices: all components must have the same first dimension, got {sorted(firsts)}"
                )
        self._slices = slices
        super().__init__(_pack(structure, [None] * len(leaves)), specs)

    def _captures(self) -> list[Tensor]:
        seen: dict[int, Tensor] = {}
        for x in self._leaves:
            if isinstance(x, Tensor):
                seen.setdefault(id(x), x)
        return list(seen.values())

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        arrays = [ctx.values[id(x)] if isinstance(x, Tensor) else x for x in self._leaves]
        if not self._slices:
            yield list(arrays)
            return
        lengths = {a.shape[0] if a.ndim else None for a in arrays}
        if None in lengths or len(lengths) != 1:
            shapes = [tuple(a.shape) for a in arrays]
            raise errors.InvalidArgumentError(
                None,
                None,
                f"from_tensor_slices: components of shapes {shapes} do not share a first dimension",
            )
        for i in range(lengths.pop()):
            yield [a[i] for a in arrays]


def _normalize_input(x: Any) -> Any:
    """from_tensor_slices's argument: tuples and dicts are structure; a list is one
    component (TF1 converts it to a tensor)."""
    if isinstance(x, dict):
        return {k: _normalize_input(v) for k, v in x.items()}
    if isinstance(x, tuple):
        items = [_normalize_input(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    return x


class _Generator(Dataset):
    def __init__(
        self, generator: Callable[..., Any], output_types: Any, output_shapes: Any, args: Any
    ) -> None:
        if not callable(generator):
            raise TypeError("`generator` must be callable.")
        types = _normalize(output_types)
        flat_types = [_dt.as_dtype(t) for t in _flatten(types)]
        if output_shapes is None:
            flat_shapes = [TensorShape(None)] * len(flat_types)
        else:
            flat_shapes = [as_shape(s) for s in _up_to(types, output_shapes, "output_shapes")]
        self._generator = generator
        self._args = tuple(args) if args is not None else ()
        structure = _pack(types, [None] * len(flat_types))
        super().__init__(structure, [_Spec(t, s) for t, s in zip(flat_types, flat_shapes)])

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        for value in self._generator(*self._args):
            try:
                leaves = _up_to(self._structure, _normalize(value), "the generator's value")
            except TypeError as exc:
                raise errors.InvalidArgumentError(
                    None,
                    None,
                    f"`generator` yielded an element that did not match the expected structure: {exc}",
                ) from None
            yield [_check_value(s, v, "`generator`") for s, v in zip(self._specs, leaves)]


class _Range(Dataset):
    def __init__(self, r: range) -> None:
        self._range = r
        super().__init__(None, [_Spec(_dt.int64, ())])

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        for i in self._range:
            yield [np.array(i, dtype=np.int64)]


class _Zip(Dataset):
    def __init__(self, datasets: Any) -> None:
        structure = _normalize(datasets)
        members = _flatten(structure)
        if not members or not all(isinstance(d, Dataset) for d in members):
            raise TypeError("Dataset.zip takes a tuple or dict (nested) of datasets")
        self._members = members
        out_structure = _pack(structure, [d._structure for d in members])
        specs = [s for d in members for s in d._specs]
        super().__init__(out_structure, specs, tuple(members))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        for parts in zip(*(d._iterate(ctx) for d in self._members)):
            yield [a for p in parts for a in p]


class _Map(Dataset):
    def __init__(self, input_: Dataset, fn: Callable[..., Any]) -> None:
        self._input = input_
        self._fn = _Function(fn, input_._structure, input_._specs, "Dataset.map")
        if self._fn.traced:
            structure, specs = self._fn.out_structure, list(self._fn.out_specs or [])
        else:
            structure, specs = self._probe(input_)
        super().__init__(structure, specs, (input_,))

    def _probe(self, input_: Dataset) -> tuple[Any, list[_Spec]]:
        """The types of a NumPy function's results: from the first element when the input
        needs no graph values, else from zeros of the input's types (dims unknown)."""
        first: _Flat | None = None
        if not input_._captures():
            first = next(iter(input_._iterate(_Context({}))), None)
        exact = first is not None
        if first is None:
            first = [
                np.zeros([1 if d is None else d for d in (s.shape.as_tuple() or ())], dtype=s.dtype.np)
                for s in input_._specs
            ]
        structure, values = self._fn(first)
        specs = [_Spec(_dt.as_dtype(v.dtype), v.shape if exact else [None] * v.ndim) for v in values]
        return structure, specs

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        for flat in self._input._iterate(ctx):
            _, values = self._fn(flat)
            if len(values) != len(self._specs):
                raise errors.InvalidArgumentError(
                    None,
                    None,
                    f"Dataset.map's function returned {len(values)} components, not {len(self._specs)}",
                )
            yield [_check_value(s, v, "Dataset.map's function") for s, v in zip(self._specs, values)]


class _Filter(Dataset):
    def __init__(self, input_: Dataset, predicate: Callable[..., Any]) -> None:
        self._input = input_
        self._fn = _Function(predicate, input_._structure, input_._specs, "Dataset.filter")
        if self._fn.traced:
            specs = self._fn.out_specs or []
            if len(specs) != 1 or not specs[0].dtype.is_bool or specs[0].shape.ndims not in (0, None):
                raise ValueError("`predicate` return type must be convertible to a scalar boolean tensor.")
        super().__init__(input_._structure, input_._specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        for flat in self._input._iterate(ctx):
            _, values = self._fn(flat)
            if len(values) != 1 or values[0].size != 1:
                raise errors.InvalidArgumentError(
                    None, None, "Dataset.filter's predicate must return a scalar boolean"
                )
            if bool(values[0].reshape(())):
                yield flat


class _Batch(Dataset):
    def __init__(self, input_: Dataset, batch_size: int, drop_remainder: bool) -> None:
        self._input = input_
        self._n = batch_size
        self._drop = drop_remainder
        lead = TensorShape([batch_size if drop_remainder else None])
        specs = [
            _Spec(s.dtype, TensorShape(None) if s.shape.ndims is None else lead.concatenate(s.shape))
            for s in input_._specs
        ]
        super().__init__(input_._structure, specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        it = self._input._iterate(ctx)
        while True:
            chunk = list(itertools.islice(it, self._n))
            if not chunk or (self._drop and len(chunk) < self._n):
                return
            out = []
            for i in range(len(self._specs)):
                parts = [e[i] for e in chunk]
                shapes = {p.shape for p in parts}
                if len(shapes) > 1:
                    raise errors.InvalidArgumentError(
                        None,
                        None,
                        f"Cannot batch tensors with different shapes in component {i}: {sorted(shapes)}",
                    )
                out.append(np.stack(parts))
            yield out


class _Shuffle(Dataset):
    def __init__(self, input_: Dataset, buffer_size: int, seed: int | None, reshuffle: bool) -> None:
        self._input = input_
        self._buffer = buffer_size
        self._reshuffle = reshuffle
        if seed is None and get_default_graph().seed is None:
            self._seeds: tuple[int, ...] | None = None  # a fresh order for every iterator
        else:
            self._seeds = get_seed(seed)
        super().__init__(input_._structure, input_._specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        epoch = ctx.next_epoch(self) if self._reshuffle else 0
        if self._seeds is None:
            key = ctx.epochs.setdefault(-id(self), int(np.random.SeedSequence().entropy % 2**63))
            rng = np.random.default_rng([key, epoch])
        else:
            rng = np.random.default_rng([*self._seeds, epoch])
        it = self._input._iterate(ctx)
        buf = list(itertools.islice(it, self._buffer))
        done = len(buf) < self._buffer
        while buf:
            i = int(rng.integers(len(buf)))
            out = buf[i]
            nxt = None if done else next(it, None)
            if nxt is None:
                done = True
                buf[i] = buf[-1]
                buf.pop()
            else:
                buf[i] = nxt
            yield out


class _Repeat(Dataset):
    def __init__(self, input_: Dataset, count: int | None) -> None:
        self._input = input_
        self._count = count
        super().__init__(input_._structure, input_._specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        passes = itertools.count() if self._count is None else range(self._count)
        for _ in passes:
            empty = True
            for flat in self._input._iterate(ctx):
                empty = False
                yield flat
            if empty:  # an empty input repeated forever is empty (TF1 does the same)
                return


class _Take(Dataset):
    def __init__(self, input_: Dataset, count: int) -> None:
        self._input = input_
        self._count = count
        super().__init__(input_._structure, input_._specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        it = self._input._iterate(ctx)
        yield from (it if self._count < 0 else itertools.islice(it, self._count))


class _Skip(Dataset):
    def __init__(self, input_: Dataset, count: int) -> None:
        self._input = input_
        self._count = count
        super().__init__(input_._structure, input_._specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        if self._count < 0:
            return
        yield from itertools.islice(self._input._iterate(ctx), self._count, None)


class _Cache(Dataset):
    def __init__(self, input_: Dataset) -> None:
        self._input = input_
        super().__init__(input_._structure, input_._specs, (input_,))

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        cached = ctx.caches.get(id(self))
        if cached is not None:
            yield from cached
            return
        seen: list[_Flat] = []
        for flat in self._input._iterate(ctx):
            seen.append(flat)
            yield flat
        ctx.caches[id(self)] = seen  # only a complete first pass is replayed


class _Concatenate(Dataset):
    def __init__(self, first: Dataset, second: Dataset) -> None:
        if not isinstance(second, Dataset):
            raise TypeError("Dataset.concatenate takes a Dataset")
        a = [s.dtype for s in first._specs]
        b = [s.dtype for s in second._specs]
        if a != b or _pack(first._structure, a) != _pack(second._structure, b):
            raise TypeError(
                f"Two datasets to concatenate have different types {first.output_types} and {second.output_types}"
            )
        specs = [
            _Spec(s.dtype, _most_specific_compatible(s.shape, t.shape))
            for s, t in zip(first._specs, second._specs)
        ]
        super().__init__(first._structure, specs, (first, second))
        self._parts = (first, second)

    def _iterate(self, ctx: _Context) -> PyIterator[_Flat]:
        for d in self._parts:
            yield from d._iterate(ctx)


def _most_specific_compatible(a: TensorShape, b: TensorShape) -> TensorShape:
    if a.ndims is None or b.ndims is None or a.ndims != b.ndims:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.as_tuple(), b.as_tuple())])


# -- iterators -----------------------------------------------------------------------------
class Iterator:
    """tf.data.Iterator (TF1). ``get_next()`` gives the element's tensors; a run that needs
    them pulls one element. Made by a dataset's ``make_*_iterator`` or, reinitializable
    from several datasets of one type, by :meth:`from_structure` and
    :meth:`make_initializer`."""

    def __init__(self, graph: Graph, structure: Any, specs: list[_Spec], one_shot: Dataset | None) -> None:
        self._graph = graph
        self._structure = structure
        self._specs = specs
        self._one_shot = one_shot
        self._initializer: Operation | None = None
        self._registry = _registry(graph)

    @classmethod
    def _make(cls, dataset: Dataset, one_shot: bool) -> Iterator:
        graph = get_default_graph()
        it = cls(graph, dataset._structure, list(dataset._specs), dataset if one_shot else None)
        if not one_shot:
            it._initializer = it.make_initializer(dataset, name="MakeIterator")
        return it

    @staticmethod
    def from_structure(
        output_types: Any,
        output_shapes: Any = None,
        shared_name: str | None = None,
        output_classes: Any = None,
    ) -> Iterator:
        """tf.data.Iterator.from_structure: an iterator of that type, not bound to a dataset;
        each ``make_initializer(dataset)`` op (re)starts it on ``dataset``."""
        types = _normalize(output_types)
        flat_types = [_dt.as_dtype(t) for t in _flatten(types)]
        if output_shapes is None:
            flat_shapes = [TensorShape(None)] * len(flat_types)
        else:
            flat_shapes = [as_shape(s) for s in _up_to(types, output_shapes, "output_shapes")]
        structure = _pack(types, [None] * len(flat_types))
        return Iterator(
            get_default_graph(), structure, [_Spec(t, s) for t, s in zip(flat_types, flat_shapes)], None
        )

    @property
    def initializer(self) -> Operation:
        """The op that (re)starts this iterator on its dataset (initializable iterators)."""
        if self._initializer is None:
            raise ValueError("Iterator does not have an initializer.")
        return self._initializer

    @property
    def output_types(self) -> Any:
        return _pack(self._structure, [s.dtype for s in self._specs])

    @property
    def output_shapes(self) -> Any:
        return _pack(self._structure, [s.shape for s in self._specs])

    @property
    def output_classes(self) -> Any:
        return _pack(self._structure, [Tensor for _ in self._specs])

    def make_initializer(self, dataset: Dataset, name: str | None = None) -> Operation:
        """An op that (re)starts this iterator on ``dataset``, whose types must match."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"make_initializer takes a Dataset, got {dataset!r}")
        mine = _pack(self._structure, [s.dtype for s in self._specs])
        theirs = _pack(dataset._structure, [s.dtype for s in dataset._specs])
        if mine != theirs:
            raise TypeError(f"Expected output types {mine} but got dataset with output types {theirs}.")
        for s, t in zip(self._specs, dataset._specs):
            if not s.shape.is_compatible_with(t.shape):
                raise TypeError(
                    f"Expected output shapes compatible with {self.output_shapes} but got dataset "
                    f"with output shapes {dataset.output_shapes}."
                )
        with self._graph.as_default(), self._graph.control_dependencies(None):
            op = no_op(name=name or "make_initializer")
        self._registry.add_initializer(op, self, dataset)
        return op

    def get_next(self, name: str | None = None) -> Any:
        """Iterator.get_next: the next element's tensors, in the element's structure. Each
        call makes new tensors; a run that needs one call's tensors pulls one element for it.
        At the end of the data the run raises OutOfRangeError."""
        graph = self._graph
        with (
            graph.as_default(),
            graph.control_dependencies(None),
            graph.name_scope(name or "IteratorGetNext"),
        ):
            tensors = [
                placeholder(s.dtype, s.shape.as_tuple(), name=f"component_{i}")
                for i, s in enumerate(self._specs)
            ]
        self._registry.add_get_next(self, tensors)
        return _pack(self._structure, tensors)


def make_one_shot_iterator(dataset: Dataset) -> Iterator:
    """tf.data.make_one_shot_iterator(dataset) (TF1.15's function form)."""
    return dataset.make_one_shot_iterator()


def make_initializable_iterator(dataset: Dataset, shared_name: str | None = None) -> Iterator:
    """tf.data.make_initializable_iterator(dataset) (TF1.15's function form)."""
    return dataset.make_initializable_iterator(shared_name)


# -- the per-graph registry the Session asks -------------------------------------------------
class _State:
    """One iterator's position in one session."""

    def __init__(self, dataset: Dataset, stream: PyIterator[_Flat]) -> None:
        self.dataset = dataset
        self.stream = stream


class _Registry:
    """The iterators of one graph: which ops are their initializers and get_next tensors,
    and each session's iterator states. Called as the graph's feed provider."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._inits: dict[int, tuple[Iterator, Dataset]] = {}  # initializer op id ->
        self._nexts: dict[int, tuple[Iterator, int, int]] = {}  # placeholder op id -> (it, call, component)
        self._calls: list[list[Tensor]] = []  # each get_next() call's tensors
        self._states: weakref.WeakKeyDictionary[Any, dict[int, _State]] = weakref.WeakKeyDictionary()
        self._walks: dict[Any, tuple[list[int], dict[int, list[int]]]] = {}

    def add_initializer(self, op: Operation, it: Iterator, dataset: Dataset) -> None:
        with self._lock:
            self._inits[op._id] = (it, dataset)
            self._walks.clear()

    def add_get_next(self, it: Iterator, tensors: list[Tensor]) -> None:
        with self._lock:
            call = len(self._calls)
            self._calls.append(tensors)
            for i, t in enumerate(tensors):
                self._nexts[t.op._id] = (it, call, i)
            self._walks.clear()

    def _walk(
        self, graph: Graph, targets: list[Any], fed: set[int]
    ) -> tuple[list[int], dict[int, list[int]]]:
        """The initializer ops and the get_next calls (with the components needed) that the
        targets reach, not going through fed tensors."""
        key = (graph.version, tuple(id(t) for t in targets), frozenset(fed))
        hit = self._walks.get(key)
        if hit is not None:
            return hit
        inits: list[int] = []
        calls: dict[int, list[int]] = {}
        seen: set[int] = set()
        stack: list[Operation] = []
        for t in targets:
            if isinstance(t, Tensor):
                if id(t) not in fed:
                    stack.append(t.op)
            elif isinstance(t, Operation):
                stack.append(t)
        while stack:
            op = stack.pop()
            if op._id in seen:
                continue
            seen.add(op._id)
            if op._id in self._inits:
                inits.append(op._id)
            nxt = self._nexts.get(op._id)
            if nxt is not None:
                calls.setdefault(nxt[1], []).append(nxt[2])
            for t in op.inputs:
                if id(t) not in fed:
                    stack.append(t.op)
            stack.extend(op.control_inputs)
        inits.sort()
        for comps in calls.values():
            comps.sort()
        if len(self._walks) > 512:
            self._walks.clear()
        self._walks[key] = (inits, calls)
        return inits, calls

    def __call__(
        self, session: Any, targets: list[Any], feeds: dict[Tensor, Any]
    ) -> dict[Tensor, np.ndarray]:
        """The values of the get_next tensors the run needs (one element per get_next call
        reached), after (re)starting the iterators whose initializer the run reaches."""
        fed = {id(t) for t in feeds}
        with self._lock:
            inits, calls = self._walk(session.graph, targets, fed)
            if not inits and not calls:
                return {}
            states = self._states.setdefault(session, {})
            for op_id in inits:
                it, dataset = self._inits[op_id]
                states[id(it)] = _start(session, dataset, feeds)
            out: dict[Tensor, np.ndarray] = {}
            for call in sorted(calls):
                tensors = self._calls[call]
                it = self._nexts[tensors[0].op._id][0]
                state = states.get(id(it))
                if state is None:
                    if it._one_shot is None:
                        raise errors.FailedPreconditionError(
                            None,
                            tensors[0].op,
                            "GetNext() failed because the iterator has not been initialized. Ensure "
                            "that you have run the initializer operation for this iterator before "
                            "getting the next element.",
                        )
                    state = states[id(it)] = _start(session, it._one_shot, feeds)
                try:
                    flat = next(state.stream)
                except StopIteration:
                    state.stream = iter(())
                    raise errors.OutOfRangeError(None, tensors[0].op, "End of sequence") from None
                except errors.OpError as exc:
                    if exc.op is not None:
                        raise
                    raise type(exc)(None, tensors[0].op, exc.message) from None
                for i in calls[call]:
                    out[tensors[i]] = _check_value(it._specs[i], flat[i], f"Iterator {tensors[i].name}")
            return out


def _start(session: Any, dataset: Dataset, feeds: dict[Tensor, Any]) -> _State:
    """A new position at the start of ``dataset``: the tensors it reads are evaluated now,
    in ``session`` with this run's feeds."""
    captures = dataset._captures()
    values: dict[int, np.ndarray] = {}
    if captures:
        by_id = {id(t): v for t, v in feeds.items()}
        missing = [t for t in captures if id(t) not in by_id]
        if missing:
            got = session.run(missing, dict(feeds))
            for t, v in zip(missing, got):
                by_id[id(t)] = v
        values = {id(t): np.asarray(by_id[id(t)]) for t in captures}
    return _State(dataset, iter(dataset._iterate(_Context(values))))


def _registry(graph: Graph) -> _Registry:
    with graph._lock:
        for p in graph.get_collection(FEED_PROVIDERS):
            if isinstance(p, _Registry):
                return p
        reg = _Registry()
        graph.add_to_collection(FEED_PROVIDERS, reg)
        return reg


def iterator_feeds(
    session: Any, fetches: Any, feed_dict: dict[Any, Any] | None = None
) -> dict[Tensor, np.ndarray]:
    """The values a run of ``fetches`` with ``feed_dict`` in ``session`` must feed for the
    iterators' ``get_next()`` tensors it needs, pulling one element per ``get_next()`` call
    reached (and first restarting every iterator whose initializer it reaches). This is
    what the Session does before each run, through the graph's :data:`FEED_PROVIDERS`."""
    graph = session.graph
    providers = graph.get_collection(FEED_PROVIDERS)
    if not providers:
        return {}
    targets = [
        graph.as_graph_element(x, allow_tensor=True, allow_operation=True) for x in nest.flatten(fetches)
    ]
    feeds: dict[Tensor, Any] = {}
    for key, value in (feed_dict or {}).items():
        el = graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
        feeds[el] = value
    out: dict[Tensor, np.ndarray] = {}
    for provide in providers:
        out.update(provide(session, targets, feeds))
    return out
