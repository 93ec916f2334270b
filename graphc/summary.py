"""``tf.summary``: TF1's summary ops, and a ``FileWriter`` that writes TensorBoard event files.

In TF1 a summary op outputs a serialized ``Summary`` protobuf (a string tensor). In
graphc a summary op is an ``Identity`` of the value it summarises, so it runs in
``Session.run`` with everything else and is optimised like any other op; what
``tf.summary.scalar`` (and ``histogram``, ``image``, ``text``, ``merge``,
``merge_all``) returns is a :class:`SummaryFetch`: a dict from each summary's
:class:`SummarySpec` (tag, kind, options) to that graph tensor. ``Session.run`` fetches
it as a structure and returns a ``SummaryFetch`` of the same specs holding the values;
``FileWriter.add_summary`` turns that into a ``Summary`` protobuf (histogram buckets,
image scaling and PNG encoding as TF1 does them) and writes it. ``add_summary`` also
takes a ``Summary`` protobuf or its serialized bytes, as TF1's does.

Writing uses tensorboardX, an optional dependency (``pip install graphc[summary]``):
building summary ops does not need it, and graphc imports without it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import io
import itertools
import os
import re
import sys
import threading
import time
import types
import warnings
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import errors
from graphc.frontend.graph import Graph, GraphKeys, Operation, Tensor, get_default_graph
from graphc.frontend.tensor_shape import TensorShape
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import identity

__all__ = [
    "Event",
    "FileWriter",
    "FileWriterCache",
    "SessionLog",
    "Summary",
    "SummaryFetch",
    "SummarySpec",
    "histogram",
    "image",
    "merge",
    "merge_all",
    "scalar",
    "text",
]

_INSTALL_HINT = "pip install graphc[summary]"


# -- the optional dependencies -------------------------------------------------------------
@functools.cache
def _tbx() -> types.SimpleNamespace:
    """tensorboardX's protobuf classes and its event-file writer."""
    try:
        # Optional dependency (the `summary` extra): only writing summaries needs it.
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto import (  # optional dependency, as above
            attr_value_pb2,
            event_pb2,
            graph_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
        )
    except ImportError as exc:
        raise ImportError(
            f"writing summaries needs tensorboardX, an optional dependency of graphc: {_INSTALL_HINT}"
        ) from exc
    return types.SimpleNamespace(
        EventsWriter=EventsWriter,
        AttrValue=attr_value_pb2.AttrValue,
        Event=event_pb2.Event,
        SessionLog=event_pb2.SessionLog,
        GraphDef=graph_pb2.GraphDef,
        Summary=summary_pb2.Summary,
        SummaryMetadata=summary_pb2.SummaryMetadata,
        HistogramProto=summary_pb2.HistogramProto,
        TensorProto=tensor_pb2.TensorProto,
        TensorShapeProto=tensor_shape_pb2.TensorShapeProto,
        DataType=types_pb2.DataType,
    )


def _encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an ``[height, width, channels]`` uint8 image (1, 3 or 4 channels)."""
    try:
        # Optional dependency (the `summary` extra): only image summaries need it.
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            f"image summaries need Pillow, an optional dependency of graphc: {_INSTALL_HINT}"
        ) from exc
    buf = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buf, format="PNG")
    return buf.getvalue()


class _LazyProtoType(type):
    """A stand-in for one of tensorboardX's protobuf classes, loaded at first use:
    calling it builds that class's message, its attributes are that class's, and
    ``isinstance`` checks against it."""

    _proto_name: str

    def _proto(cls) -> type:
        return getattr(_tbx(), cls._proto_name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._proto()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):  # introspection must not load the optional dependency
            raise AttributeError(name)
        return getattr(cls._proto(), name)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._proto())


class Summary(metaclass=_LazyProtoType):
    """TF1's ``tf.Summary`` protobuf class (``Summary.Value``, ``Summary.Image``,
    ``FromString``, ...), tensorboardX's, which has the same fields and wire format.
    Loaded at first use: it needs the ``summary`` extra."""

    _proto_name = "Summary"


class Event(metaclass=_LazyProtoType):
    """TF1's ``tf.summary.Event`` protobuf class (tensorboardX's, same wire format)."""

    _proto_name = "Event"


class SessionLog(metaclass=_LazyProtoType):
    """TF1's ``tf.summary.SessionLog`` protobuf class (tensorboardX's, same wire format)."""

    _proto_name = "SessionLog"


# -- summary ops ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, order=True)
class SummarySpec:
    """What one summary op writes: its tag, its kind ("scalar", "histogram", "image" or
    "text"), the graph tensor it reads (unique in its graph) and, for images, how many of
    the batch it writes."""

    tag: str
    kind: str
    name: str
    max_outputs: int = 0
    op: Operation | None = dataclasses.field(default=None, compare=False, repr=False)


class SummaryFetch(dict):
    """A summary op (or several merged): a dict from :class:`SummarySpec` to the graph
    tensor holding that summary's value. ``Session.run`` fetches it as a structure and
    returns a ``SummaryFetch`` of the same specs holding the values, which
    ``FileWriter.add_summary`` accepts (TF1: a string tensor, and the serialized
    ``Summary`` it evaluates to; ``SerializeToString()`` gives those bytes)."""

    @property
    def name(self) -> str:
        """The name of the (first) tensor the summary reads (TF1: the summary tensor's name)."""
        return min(self).name if self else ""

    @property
    def tags(self) -> list[str]:
        return [s.tag for s in sorted(self)]

    @property
    def graph(self) -> Graph | None:
        for v in self.values():
            if isinstance(v, Tensor):
                return v.graph
        return None

    def evaluated(self) -> bool:
        """True once this holds values (what ``Session.run`` returned), not graph tensors."""
        return not any(isinstance(v, Tensor) for v in self.values())

    def to_proto(self) -> Any:
        """The ``Summary`` protobuf of the fetched values (needs the ``summary`` extra)."""
        if not self.evaluated():
            raise TypeError(
                "this summary holds graph tensors: fetch it first, "
                "writer.add_summary(sess.run(summary), step)"
            )
        pb = _tbx()
        out = pb.Summary()
        for spec in sorted(self):
            out.value.extend(_proto_values(pb, spec, self[spec]))
        return out

    def SerializeToString(self) -> bytes:  # noqa: N802  (protobuf's name)
        """The serialized ``Summary`` protobuf (what the TF1 op evaluates to)."""
        return self.to_proto().SerializeToString()

    def __repr__(self) -> str:
        what = "values" if self.evaluated() else "graph tensors"
        return f"<graphc.summary.SummaryFetch tags={self.tags} ({what})>"


_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w\.]")


def _clean_tag(name: str | None) -> str | None:
    """TF1's tag cleaning: characters other than word characters, '-', '/' and '.'
    become '_', and leading slashes go."""
    if name is None:
        return None
    return _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")


@contextlib.contextmanager
def _summary_scope(name: str, family: str | None) -> Iterator[tuple[str, str]]:
    """TF1's summary scope: a name scope named after the summary (made unique like any
    scope); the tag is that scope's name, prefixed by ``family`` if given."""
    name = _clean_tag(name) or ""
    family = _clean_tag(family)
    base = name if family is None else f"{family}/{name}"
    with get_default_graph().name_scope(base) as scope:
        tag = scope.rstrip("/") if family is None else f"{family}/{scope.rstrip('/')}"
        yield tag, scope


def _summary_op(
    kind: str,
    name: str,
    tensor: Any,
    collections: Iterable[str] | None,
    family: str | None,
    check: Any,
    max_outputs: int = 0,
) -> SummaryFetch:
    with _summary_scope(name, family) as (tag, _scope):
        t = convert_to_tensor(tensor)
        check(t, tag)
        out = identity(t, name=_OP_NAMES[kind])
    fetch = SummaryFetch({SummarySpec(tag, kind, out.name, max_outputs, out.op): out})
    graph = out.graph
    for key in [GraphKeys.SUMMARIES] if collections is None else list(collections):
        graph.add_to_collection(key, fetch)
    return fetch


_OP_NAMES = {
    "scalar": "ScalarSummary",
    "histogram": "HistogramSummary",
    "image": "ImageSummary",
    "text": "TextSummary",
}


def _check_real(t: Tensor, tag: str, what: str) -> None:
    if t.dtype.is_string or t.dtype.is_bool:
        raise TypeError(f"{what} {tag!r}: needs a real numeric tensor, got {t.dtype.name}")


def _check_scalar(t: Tensor, tag: str) -> None:
    _check_real(t, tag, "tf.summary.scalar")
    if t.shape.ndims not in (None, 0):
        raise ValueError(f"tf.summary.scalar {tag!r}: needs a scalar tensor, got shape {t.shape}")


def _check_histogram(t: Tensor, tag: str) -> None:
    _check_real(t, tag, "tf.summary.histogram")


_IMAGE_DTYPES = (_dt.uint8, _dt.float16, _dt.float32, _dt.float64)


def _check_image(t: Tensor, tag: str) -> None:
    if t.dtype not in _IMAGE_DTYPES:
        raise TypeError(
            f"tf.summary.image {tag!r}: needs uint8, float16, float32 or float64 images, got {t.dtype.name}"
        )
    shape: TensorShape = t.shape
    if shape.ndims is not None:
        if shape.ndims != 4:
            raise ValueError(
                f"tf.summary.image {tag!r}: needs a 4-D [batch, height, width, channels] tensor, "
                f"got shape {shape}"
            )
        channels = shape.as_list()[3]
        if channels is not None and channels not in (1, 3, 4):
            raise ValueError(f"tf.summary.image {tag!r}: channels must be 1, 3 or 4, got {channels}")


def _check_text(t: Tensor, tag: str) -> None:
    if not t.dtype.is_string:
        raise ValueError(f"tf.summary.text {tag!r}: needs a string tensor, got {t.dtype.name}")


def scalar(
    name: str,
    tensor: Any,
    collections: Iterable[str] | None = None,
    family: str | None = None,
) -> SummaryFetch:
    """TF1's ``tf.summary.scalar``: a summary of one real number (written as a float32
    ``simple_value``), tagged with the unique name scope made from ``name`` (and
    ``family``), added to ``collections`` (default ``[GraphKeys.SUMMARIES]``).

    Returns a :class:`SummaryFetch`, not a string tensor. A tensor of known shape that is
    not a scalar is refused here; one of unknown shape is checked when written."""
    return _summary_op("scalar", name, tensor, collections, family, _check_scalar)


def histogram(
    name: str,
    values: Any,
    collections: Iterable[str] | None = None,
    family: str | None = None,
) -> SummaryFetch:
    """TF1's ``tf.summary.histogram``: a histogram of every element of ``values`` with
    TF1's bucket layout (limits ±1e-12·1.1^k up to 1e20, and 0; runs of empty buckets
    collapsed), its count, sum, sum of squares, min and max.

    Returns a :class:`SummaryFetch`; a value that is NaN or infinite raises
    ``InvalidArgumentError`` when written (TF1: when run)."""
    return _summary_op("histogram", name, values, collections, family, _check_histogram)


def image(
    name: str,
    tensor: Any,
    max_outputs: int = 3,
    collections: Iterable[str] | None = None,
    family: str | None = None,
) -> SummaryFetch:
    """TF1's ``tf.summary.image``: the first ``max_outputs`` images of a
    ``[batch, height, width, channels]`` tensor (1, 3 or 4 channels) as PNG, tagged
    ``tag/image`` (``max_outputs == 1``) or ``tag/image/i``. uint8 images are written as
    they are; float images are scaled as TF1 does, each on its own: all values >= 0 by
    255/max, otherwise by 127/max(|min|, |max|) around 128; non-finite pixels become red.

    Returns a :class:`SummaryFetch`; the PNG is encoded when written (TF1: when run)."""
    if int(max_outputs) < 1:
        raise ValueError(f"tf.summary.image: max_outputs must be at least 1, got {max_outputs}")
    return _summary_op("image", name, tensor, collections, family, _check_image, int(max_outputs))


def text(name: str, tensor: Any, collections: Iterable[str] | None = None) -> SummaryFetch:
    """TF1's ``tf.summary.text``: a string tensor (any shape) for TensorBoard's text
    plugin, written as a string ``TensorProto``. Returns a :class:`SummaryFetch`."""
    return _summary_op("text", name, tensor, collections, None, _check_text)


def merge(
    inputs: Iterable[SummaryFetch],
    collections: Iterable[str] | None = None,
    name: str | None = None,
) -> SummaryFetch:
    """TF1's ``tf.summary.merge``: one summary holding all of ``inputs`` (results of
    ``tf.summary.*``), added to ``collections`` if given.

    Two summaries with the same tag are refused here (TF1: when run). ``name`` is
    accepted for TF1's signature: no graph op is built."""
    out = SummaryFetch()
    by_tag: dict[str, SummarySpec] = {}
    graph: Graph | None = None
    for s in inputs:
        if not isinstance(s, SummaryFetch):
            raise TypeError(
                f"tf.summary.merge takes what tf.summary.scalar/histogram/image/text/merge return, got {s!r}"
            )
        for spec, t in s.items():
            if isinstance(t, Tensor):
                if graph is not None and t.graph is not graph:
                    raise ValueError(f"tf.summary.merge: summary {spec.tag!r} is from another graph")
                graph = t.graph
            seen = by_tag.get(spec.tag)
            if seen is not None and seen != spec:
                raise ValueError(f"tf.summary.merge: duplicate tag {spec.tag!r} in the summaries merged")
            by_tag[spec.tag] = spec
            out[spec] = t
    if not out:
        raise ValueError("tf.summary.merge needs at least one summary")
    if collections is not None:
        g = graph or get_default_graph()
        for key in collections:
            g.add_to_collection(key, out)
    return out


def merge_all(
    key: str = GraphKeys.SUMMARIES,
    scope: str | None = None,
    name: str | None = None,
) -> SummaryFetch | None:
    """TF1's ``tf.summary.merge_all``: every summary in the default graph's collection
    ``key`` (those whose tensor name matches the regex ``scope``, if given) merged into
    one; None if there are none."""
    found = get_default_graph().get_collection(key, scope)
    if not found:
        return None
    return merge(found, name=name)


# -- turning fetched values into protobufs -------------------------------------------------
def _proto_values(pb: types.SimpleNamespace, spec: SummarySpec, value: Any) -> list[Any]:
    if spec.kind == "scalar":
        arr = np.asarray(value)
        if arr.ndim != 0:
            raise errors.InvalidArgumentError(
                None, spec.op, f"tf.summary.scalar {spec.tag!r}: needs a scalar, got shape {arr.shape}"
            )
        return [pb.Summary.Value(tag=spec.tag, simple_value=float(arr))]
    if spec.kind == "histogram":
        return [pb.Summary.Value(tag=spec.tag, histo=_histogram_proto(pb, spec, value))]
    if spec.kind == "image":
        return _image_values(pb, spec, value)
    if spec.kind == "text":
        arr = np.asarray(value, dtype=object)
        strings = [s.encode() if isinstance(s, str) else bytes(s) for s in arr.reshape(-1)]
        tensor = pb.TensorProto(
            dtype=pb.DataType.Value("DT_STRING"), string_val=strings, tensor_shape=_shape_proto(pb, arr.shape)
        )
        meta = pb.SummaryMetadata(plugin_data=pb.SummaryMetadata.PluginData(plugin_name="text"))
        return [pb.Summary.Value(tag=spec.tag, metadata=meta, tensor=tensor)]
    raise ValueError(f"unknown summary kind {spec.kind!r}")


@functools.cache
def _bucket_limits() -> np.ndarray:
    """TF1's default histogram bucket limits (each bucket's exclusive upper end)."""
    pos = []
    v = 1.0e-12
    while v < 1.0e20:
        pos.append(v)
        v *= 1.1
    pos.append(sys.float_info.max)
    limits = np.array([-x for x in reversed(pos)] + [0.0] + pos)
    limits.setflags(write=False)
    return limits


def _histogram_proto(pb: types.SimpleNamespace, spec: SummarySpec, value: Any) -> Any:
    x = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(x)):
        what = "Nan" if np.any(np.isnan(x)) else "Infinity"
        raise errors.InvalidArgumentError(None, spec.op, f"{what} in summary histogram for: {spec.tag}")
    limits = _bucket_limits()
    # TF1: a value goes to the first bucket whose limit is greater than it.
    index = np.minimum(np.searchsorted(limits, x, side="right"), len(limits) - 1)
    counts = np.bincount(index, minlength=len(limits)).astype(np.float64)
    out_limits: list[float] = []
    out_counts: list[float] = []
    i = 0
    while i < len(counts):  # TF1's encoding: each run of empty buckets becomes one
        end, count = limits[i], counts[i]
        i += 1
        if count <= 0.0:
            while i < len(counts) and counts[i] <= 0.0:
                end, count = limits[i], counts[i]
                i += 1
        out_limits.append(float(end))
        out_counts.append(float(count))
    return pb.HistogramProto(
        min=float(x.min()) if x.size else float(limits[-1]),
        max=float(x.max()) if x.size else -float(limits[-1]),
        num=float(x.size),
        sum=float(x.sum()),
        sum_squares=float(np.dot(x, x)),
        bucket_limit=out_limits,
        bucket=out_counts,
    )


_BAD_COLOR = np.array([255, 0, 0, 255], dtype=np.uint8)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """TF1's scaling of one float image to uint8: min and max over the pixels whose
    channels are all finite, the scale in float32, the affine map in the image's dtype,
    truncated; other pixels become red."""
    finite = np.isfinite(img).all(axis=-1)
    vals = img[finite].astype(np.float32)
    lo = vals.min() if vals.size else np.float32(np.inf)
    hi = vals.max() if vals.size else np.float32(-np.inf)
    if lo < 0:
        biggest = max(abs(lo), abs(hi))
        scale = np.float32(0.0) if biggest < 1e-6 else np.float32(127.0) / biggest
        offset = np.float32(128.0)
    else:
        scale = np.float32(0.0) if hi < 1e-6 else np.float32(255.0) / hi
        offset = np.float32(0.0)
    calc = img.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = img * calc(scale) + calc(offset)
    out = np.where(finite[..., None], scaled, 0).astype(np.uint8)
    out[~finite] = _BAD_COLOR[: img.shape[-1]]
    return out


def _image_values(pb: types.SimpleNamespace, spec: SummarySpec, value: Any) -> list[Any]:
    arr = np.asarray(value)
    if arr.ndim != 4 or arr.shape[3] not in (1, 3, 4):
        raise errors.InvalidArgumentError(
            None,
            spec.op,
            f"tf.summary.image {spec.tag!r}: needs [batch, height, width, channels] with 1, 3 or 4 "
            f"channels, got shape {arr.shape}",
        )
    _, height, width, channels = arr.shape
    if height < 1 or width < 1:
        raise errors.InvalidArgumentError(
            None, spec.op, f"tf.summary.image {spec.tag!r}: dimensions must be positive, got {arr.shape}"
        )
    out = []
    for i in range(min(spec.max_outputs, arr.shape[0])):
        pixels = arr[i] if arr.dtype == np.uint8 else _to_uint8(arr[i])
        tag = f"{spec.tag}/image" if spec.max_outputs == 1 else f"{spec.tag}/image/{i}"
        img = pb.Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=_encode_png(pixels)
        )
        out.append(pb.Summary.Value(tag=tag, image=img))
    return out


def _shape_proto(pb: types.SimpleNamespace, dims: Iterable[int | None] | None) -> Any:
    if dims is None:
        return pb.TensorShapeProto(unknown_rank=True)
    return pb.TensorShapeProto(dim=[pb.TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in dims])


def _as_summary_proto(pb: types.SimpleNamespace, summary: Any) -> Any:
    if isinstance(summary, SummaryFetch):
        return summary.to_proto()
    if isinstance(summary, bytes | bytearray | memoryview):
        return pb.Summary.FromString(bytes(summary))
    if isinstance(summary, np.ndarray) and summary.dtype == object and summary.ndim == 0:
        return _as_summary_proto(pb, summary[()])
    if isinstance(summary, pb.Summary):
        return summary
    if hasattr(summary, "SerializeToString"):  # another library's Summary: same wire format
        return pb.Summary.FromString(summary.SerializeToString())
    raise TypeError(
        "add_summary takes what sess.run returned for a tf.summary op, a Summary protobuf "
        f"or its serialized bytes, got {type(summary).__name__}"
    )


# -- the graph, as TensorBoard shows it ----------------------------------------------------
_DATA_TYPES = {
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
    "string": "DT_STRING",
}


def _attr_value(pb: types.SimpleNamespace, key: str, v: Any) -> Any:
    """An ``AttrValue`` for the attribute kinds TensorBoard shows; None for the others
    (constants' values among them)."""
    if isinstance(v, _dt.DType):
        name = _DATA_TYPES.get(v.name)
        return None if name is None else pb.AttrValue(type=pb.DataType.Value(name))
    if key == "shape" and (v is None or isinstance(v, TensorShape | tuple | list)):
        dims = v.as_tuple() if isinstance(v, TensorShape) else v
        return pb.AttrValue(shape=_shape_proto(pb, dims))
    if isinstance(v, bool | np.bool_):
        return pb.AttrValue(b=bool(v))
    if isinstance(v, int | np.integer):
        return pb.AttrValue(i=int(v))
    if isinstance(v, float | np.floating):
        return pb.AttrValue(f=float(v))
    if isinstance(v, str):
        return pb.AttrValue(s=v.encode())
    if isinstance(v, tuple | list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return pb.AttrValue(list=pb.AttrValue.ListValue(i=[int(x) for x in v]))
    return None


def _graph_def_of(graph: Graph) -> Any:
    """The frontend graph as a TensorFlow ``GraphDef`` protobuf for TensorBoard: one
    node per op with its type, inputs (``op``, ``op:k``, control inputs ``^op``), device,
    simple attributes and ``_output_shapes`` (unknown dims -1). Needs the ``summary``
    extra."""
    pb = _tbx()
    out = pb.GraphDef()
    for op in graph.get_operations():
        node = out.node.add(name=op.name, op=op.type, device=op.device)
        node.input.extend(
            t.op.name if t.value_index == 0 else f"{t.op.name}:{t.value_index}" for t in op.inputs
        )
        node.input.extend(f"^{c.name}" for c in op.control_inputs)
        for key, v in op.attrs.items():
            attr = _attr_value(pb, key, v)
            if attr is not None:
                node.attr[key].CopyFrom(attr)
        shapes = [_shape_proto(pb, t.shape.as_tuple()) for t in op.outputs]
        node.attr["_output_shapes"].CopyFrom(pb.AttrValue(list=pb.AttrValue.ListValue(shape=shapes)))
    return out


# -- the writer ----------------------------------------------------------------------------
_file_numbers = itertools.count()
_open_writers: weakref.WeakSet[FileWriter] = weakref.WeakSet()


@atexit.register
def _flush_open_writers() -> None:
    for w in list(_open_writers):
        with contextlib.suppress(Exception):
            w.flush()


class FileWriter:
    """TF1's ``tf.summary.FileWriter``: writes ``Event`` protobufs to a new event file
    (``events.out.tfevents.<time>.<host>.<pid>.<n><filename_suffix>``) in ``logdir``,
    created if missing; with ``graph``, the graph is written first.

    Differs from TF1: events are written as they are added, from the calling thread
    (no queue and no writer thread); the file is flushed every ``max_queue`` events, on
    the first add ``flush_secs`` after the last flush, on ``flush()``, ``close()`` and at
    exit. The file name carries the process id and a counter, so two writers never share
    a file. ``session`` (TF2's writer ops) is not supported."""

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        graph: Graph | None = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        graph_def: Any = None,
        filename_suffix: str | None = None,
        session: Any = None,
    ) -> None:
        if session is not None:
            raise NotImplementedError(
                "FileWriter(session=...) (summary writer ops) is not supported: leave it out"
            )
        self._pb = _tbx()
        self._logdir = os.fspath(logdir)
        self._max_queue = max(1, int(max_queue))
        self._flush_secs = float(flush_secs)
        self._suffix = filename_suffix or ""
        self._lock = threading.Lock()
        self._writer: Any = None
        self._closed = True
        self.reopen()
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self) -> str:
        """The directory the event file is in."""
        return self._logdir

    def reopen(self) -> None:
        """After ``close()``, start a new event file in the same directory (TF1); does
        nothing on an open writer."""
        with self._lock:
            if not self._closed:
                return
            os.makedirs(self._logdir, exist_ok=True)
            suffix = f".{os.getpid()}.{next(_file_numbers)}{self._suffix}"
            self._writer = self._pb.EventsWriter(os.path.join(self._logdir, "events"), suffix)
            self._writer.flush()
            self._pending = 0
            self._last_flush = time.monotonic()
            self._closed = False
            _open_writers.add(self)

    def add_event(self, event: Any) -> None:
        """Write an ``Event`` protobuf (TF1). After ``close()`` the event is dropped with a
        warning (TF1 drops it too)."""
        if not isinstance(event, self._pb.Event):
            event = self._pb.Event.FromString(event.SerializeToString())
        with self._lock:
            if self._closed:
                warnings.warn("this FileWriter is closed: the event is not written", stacklevel=2)
                return
            self._writer.write_event(event)
            self._pending += 1
            now = time.monotonic()
            if self._pending >= self._max_queue or now - self._last_flush >= self._flush_secs:
                self._flush_locked(now)

    def _event(self, global_step: Any, **fields: Any) -> Any:
        event = self._pb.Event(wall_time=time.time(), **fields)
        if global_step is not None:
            event.step = int(global_step)
        return event

    def add_summary(self, summary: Any, global_step: Any = None) -> None:
        """TF1's ``add_summary``: write ``summary`` at step ``global_step``. ``summary`` is
        what ``sess.run`` returned for a ``tf.summary`` op (a :class:`SummaryFetch` of
        values), a ``Summary`` protobuf, or its serialized bytes."""
        proto = _as_summary_proto(self._pb, summary)
        self.add_event(self._event(global_step, summary=proto))

    def add_graph(self, graph: Graph | None, global_step: Any = None, graph_def: Any = None) -> None:
        """TF1's ``add_graph``: write ``graph`` (a graphc ``Graph``: one node per op with its type, inputs, device,
        simple attributes and output shapes)
        or a ``GraphDef`` protobuf given as ``graph_def``, for TensorBoard's graph tab."""
        if graph is not None and graph_def is not None:
            raise ValueError("add_graph takes graph or graph_def, not both")
        if graph is None and graph_def is None:
            raise ValueError("add_graph needs a graph")
        if graph is not None:
            if not isinstance(graph, Graph):
                raise TypeError(f"add_graph takes a graphc Graph, got {type(graph).__name__}")
            graph_def = _graph_def_of(graph)
        data = graph_def if isinstance(graph_def, bytes) else graph_def.SerializeToString()
        self.add_event(self._event(global_step, graph_def=data))

    def add_session_log(self, session_log: Any, global_step: Any = None) -> None:
        """TF1's ``add_session_log``: write a ``SessionLog`` protobuf (START, STOP, CHECKPOINT)."""
        self.add_event(self._event(global_step, session_log=session_log))

    def flush(self) -> None:
        """Write everything added so far to disk (TF1)."""
        with self._lock:
            if not self._closed:
                self._flush_locked(time.monotonic())

    def _flush_locked(self, now: float) -> None:
        self._writer.flush()
        self._pending = 0
        self._last_flush = now

    def close(self) -> None:
        """Flush and close the event file (TF1); ``reopen()`` starts a new one."""
        with self._lock:
            if self._closed:
                return
            self._writer.close()
            self._closed = True
            _open_writers.discard(self)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FileWriterCache:
    """TF1's ``tf.summary.FileWriterCache``: one ``FileWriter`` per log directory, made on
    first ``get`` with the default graph."""

    _cache: dict[str, FileWriter] = {}
    _lock = threading.Lock()

    @staticmethod
    def get(logdir: str | os.PathLike[str]) -> FileWriter:
        """The cached writer for ``logdir``, made (with the default graph) if missing."""
        key = os.fspath(logdir)
        with FileWriterCache._lock:
            writer = FileWriterCache._cache.get(key)
            if writer is None:
                writer = FileWriterCache._cache[key] = FileWriter(key, graph=get_default_graph())
            return writer

    @staticmethod
    def clear() -> None:
        """Close every cached writer and forget them."""
        with FileWriterCache._lock:
            for w in FileWriterCache._cache.values():
                w.close()
            FileWriterCache._cache.clear()
