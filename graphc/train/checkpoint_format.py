"""graphc's on-disk checkpoint format (version 1) and checkpoint state file.

A checkpoint is a single file holding named numpy arrays plus a small JSON
``meta`` dictionary.  Nothing is pickled: a checkpoint can be inspected with
any language that can parse JSON, and loading one never executes code.

File layout
===========

All integers are little-endian.  Offsets are in bytes from the start of the
file unless stated otherwise.

======  ==========  =========================================================
Offset  Size        Content
======  ==========  =========================================================
0       8           Magic ``b"GRAPHCKP"`` (ASCII ``47 52 41 50 48 43 4B 50``).
8       4           Format version, ``uint32`` (currently ``1``).
12      8           Header length ``H`` in bytes, ``uint64``.
20      H           Header: a UTF-8 encoded JSON object (see below).
20+H    rest        Data section: raw tensor bytes.
======  ==========  =========================================================

The writer pads the header with trailing ASCII spaces (legal JSON
whitespace) so that the data section starts at a file offset that is a
multiple of 64; readers must not rely on this and should always locate the
data section at ``20 + H``.

Header
------

::

    {
      "tensors": [
        {"name": "dense/kernel", "dtype": "<f4", "shape": [784, 10],
         "offset": 0, "nbytes": 31360, "sha256": "<64 hex digits>"},
        {"name": "vocab", "dtype": "str", "shape": [3],
         "offset": null, "nbytes": 0, "sha256": "<64 hex digits>",
         "string_dtype": "<U5", "values": ["a", "bb", "ccccc"]},
        ...
      ],
      "meta": {...}
    }

``tensors`` lists the tensors in the order they were given to the writer.
Each numeric entry has:

``name``
    Unique tensor name (any JSON string).
``dtype``
    The numpy dtype string: ``"<f2"``, ``"<f4"``, ``"<f8"``, ``"|i1"``,
    ``"<i2"``, ``"<i4"``, ``"<i8"``, ``"|u1"``, ``"<u2"``, ``"<u4"``,
    ``"<u8"`` or ``"|b1"`` (bool, one byte per element, 0 or 1).  Multi-byte
    types are always stored little-endian.
``shape``
    List of non-negative ints; ``[]`` is a 0-d (scalar) array.
``offset``
    Start of the tensor's bytes, relative to the start of the data section.
    Always a multiple of 64, so the data can be memory-mapped with aligned
    access.  Bytes between tensors are zero padding.
``nbytes``
    ``prod(shape) * itemsize``; the bytes are the array in C (row-major)
    order.
``sha256``
    Lower-case hex SHA-256 of those ``nbytes`` bytes.

String arrays (numpy ``U`` or ``S`` dtypes) are not stored in the data
section.  Their entry has ``"dtype": "str"``, ``"offset": null`` and
``"nbytes": 0``, plus:

``string_dtype``
    The original numpy dtype string (e.g. ``"<U5"`` or ``"|S8"``) so the
    array is restored with the same item size.
``values``
    The elements flattened in C order, as a JSON list of strings.  For bytes
    arrays (``S``) each element is base64-encoded.
``sha256``
    SHA-256 of ``json.dumps(values, ensure_ascii=True,
    separators=(",", ":"))`` encoded as UTF-8.

``meta`` is an arbitrary JSON object supplied by the caller (e.g. the global
step).  It must be strict JSON: NaN and infinities are rejected.

Atomicity
---------

:func:`write_checkpoint` and :func:`write_state` write to a temporary file in
the destination directory, flush and ``fsync`` it, then ``os.replace`` it onto
the final name.  A crash or exception at any point leaves either the old file
or the new one, never a mix, and the temporary file is removed.

State file
----------

Like TensorFlow's ``checkpoint`` file, ``<directory>/checkpoint`` records the
newest checkpoint and the ones still kept, but as JSON::

    {"model_checkpoint_path": "model.ckpt-200",
     "all_model_checkpoint_paths": ["model.ckpt-100", "model.ckpt-200"]}

Paths inside the directory are stored relative to it, so a checkpoint
directory can be moved or copied as a whole; :func:`read_state` returns
absolute paths.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "STATE_FILENAME",
    "CheckpointError",
    "list_checkpoint",
    "read_checkpoint",
    "read_state",
    "write_checkpoint",
    "write_state",
]

MAGIC = b"GRAPHCKP"
FORMAT_VERSION = 1
STATE_FILENAME = "checkpoint"

# magic (8) + version uint32 (4) + header length uint64 (8)
_PREAMBLE = struct.Struct("<8sIQ")
_ALIGNMENT = 64
_STRING_DTYPE = "str"

# Only fixed-width plain numeric types: they have an unambiguous byte layout
# that other languages can read without numpy.
_NUMERIC_DTYPES = frozenset(
    np.dtype(t).newbyteorder("<").str
    for t in (
        np.float16,
        np.float32,
        np.float64,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.bool_,
    )
)

# Bound on header size we are willing to parse; protects against a corrupt
# length field making us allocate an absurd buffer.
_MAX_HEADER_BYTES = 1 << 31


class CheckpointError(ValueError):
    """A checkpoint or state file is malformed, truncated or corrupted."""


# ---------------------------------------------------------------------------
# Atomic file replacement
# ---------------------------------------------------------------------------


def _write_bytes(f: BinaryIO, data: bytes | memoryview) -> None:
    """Write ``data`` fully to ``f``.

    Kept as a separate function so tests can simulate a failure in the
    middle of the data section.
    """
    f.write(data)


def _fsync_directory(directory: str) -> None:
    # Persisting the rename itself needs the directory entry flushed; not
    # possible on every platform (e.g. Windows), so this is best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: str, write_body: Callable[[BinaryIO], None]) -> None:
    """Write a file via a same-directory temp file and ``os.replace``.

    The temp file must live in the destination directory because
    ``os.replace`` is only atomic within one filesystem.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            write_body(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; keep the permissions of the file being
        # replaced, or use conventional ones, so checkpoints stay shareable.
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o644
        with contextlib.suppress(OSError):
            os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        # BaseException so that KeyboardInterrupt also cleans up.
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    _fsync_directory(directory)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays routinely end up in meta (e.g. a step counter read
    # from a tensor); convert them rather than making every caller do it.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _align_up(n: int, alignment: int = _ALIGNMENT) -> int:
    return (n + alignment - 1) // alignment * alignment


def _string_entry(name: str, arr: np.ndarray) -> dict[str, Any]:
    flat = arr.reshape(-1)
    if arr.dtype.kind == "S":
        values = [base64.b64encode(bytes(v)).decode("ascii") for v in flat]
    else:
        values = [str(v) for v in flat]
    digest = hashlib.sha256(_canonical_json(values).encode("utf-8")).hexdigest()
    return {
        "name": name,
        "dtype": _STRING_DTYPE,
        "shape": list(arr.shape),
        "offset": None,
        "nbytes": 0,
        "sha256": digest,
        "string_dtype": arr.dtype.str,
        "values": values,
    }


def _prepare_numeric(name: str, arr: np.ndarray) -> np.ndarray:
    dtype = arr.dtype
    # newbyteorder is a no-op for single-byte types ("|i1", "|b1").
    le_dtype = dtype.newbyteorder("<")
    if le_dtype.str not in _NUMERIC_DTYPES:
        raise TypeError(
            f"tensor {name!r}: unsupported dtype {dtype} for checkpointing "
            "(supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool, "
            "and unicode/bytes strings)"
        )
    # Always little-endian on disk so files are portable across hosts.  (Not
    # np.ascontiguousarray: it turns 0-d arrays into 1-d ones.)
    return np.asarray(arr, dtype=le_dtype, order="C")


def _as_array(name: str, value: Any) -> np.ndarray:
    if not isinstance(name, str):
        raise TypeError(f"tensor names must be str, got {type(name).__name__}")
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        # Object arrays only make sense here when they hold Python strings.
        flat = arr.reshape(-1)
        if all(isinstance(v, str) for v in flat):
            arr = arr.astype(str) if flat.size else np.zeros(arr.shape, "<U1")
        else:
            raise TypeError(f"tensor {name!r}: object arrays are only supported when every element is a str")
    return arr


def write_checkpoint(path: str, tensors: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Atomically write ``tensors`` and ``meta`` to a checkpoint file.

    Args:
      path: Destination file.  Its directory must exist.  An existing file is
        replaced only once the new one is complete and fsynced.
      tensors: Mapping from tensor name to array (anything ``np.asarray``
        accepts).  Order is preserved in the file.
      meta: Optional JSON-serialisable dictionary stored in the header.

    Raises:
      TypeError: A tensor has an unsupported dtype, or ``meta`` is not JSON
        serialisable.  Nothing is written in that case.
      ValueError: ``meta`` contains NaN/infinity.
      OSError: The file could not be written; any previous file at ``path``
        is left untouched.
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")

    # Build the whole header (including every checksum) before touching the
    # filesystem, so invalid input can never leave a partial temp file.
    entries: list[dict[str, Any]] = []
    blobs: list[tuple[int, np.ndarray]] = []
    cursor = 0
    for name, value in tensors.items():
        arr = _as_array(name, value)
        if arr.dtype.kind in "US":
            entries.append(_string_entry(name, arr))
            continue
        arr = _prepare_numeric(name, arr)
        raw = arr.reshape(-1).view(np.uint8)
        offset = _align_up(cursor)
        entries.append(
            {
                "name": name,
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
                "offset": offset,
                "nbytes": int(raw.nbytes),
                "sha256": hashlib.sha256(memoryview(raw)).hexdigest(),
            }
        )
        blobs.append((offset, raw))
        cursor = offset + raw.nbytes

    header_text = json.dumps(
        {"tensors": entries, "meta": meta},
        ensure_ascii=True,
        separators=(",", ":"),
        allow_nan=False,
        default=_json_default,
    )
    header = header_text.encode("utf-8")
    data_start = _align_up(_PREAMBLE.size + len(header))
    header += b" " * (data_start - _PREAMBLE.size - len(header))
    preamble = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header))

    def write_body(f: BinaryIO) -> None:
        _write_bytes(f, preamble)
        _write_bytes(f, header)
        position = 0
        for offset, raw in blobs:
            if offset > position:
                _write_bytes(f, b"\0" * (offset - position))
            _write_bytes(f, memoryview(raw))
            position = offset + raw.nbytes

    _atomic_write(path, write_body)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _fail(path: str, problem: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path!r}: {problem}")


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    return data if data is not None else b""


def _validate_entry(path: str, i: int, entry: Any) -> dict[str, Any]:
    """Type-check one header entry so later code can trust its fields."""
    if not isinstance(entry, dict):
        raise _fail(path, f"malformed header: tensor entry {i} is not an object")
    name = entry.get("name")
    if not isinstance(name, str):
        raise _fail(path, f"malformed header: tensor entry {i} has no name")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _fail(path, f"malformed header: bad shape for tensor {name!r}")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise _fail(path, f"malformed header: bad sha256 for tensor {name!r}")
    dtype = entry.get("dtype")
    count = math.prod(shape)
    if dtype == _STRING_DTYPE:
        values = entry.get("values")
        string_dtype = entry.get("string_dtype")
        if (
            not isinstance(values, list)
            or len(values) != count
            or not all(isinstance(v, str) for v in values)
        ):
            raise _fail(path, f"malformed header: bad values for tensor {name!r}")
        try:
            kind = np.dtype(string_dtype).kind
        except TypeError:
            kind = ""
        if kind not in ("U", "S"):
            raise _fail(path, f"malformed header: bad string_dtype for tensor {name!r}")
        return entry
    if dtype not in _NUMERIC_DTYPES:
        raise _fail(path, f"unsupported dtype {dtype!r} for tensor {name!r}")
    offset = entry.get("offset")
    nbytes = entry.get("nbytes")
    if not isinstance(offset, int) or offset < 0 or offset % _ALIGNMENT:
        raise _fail(path, f"malformed header: bad offset for tensor {name!r}")
    if not isinstance(nbytes, int) or nbytes != count * np.dtype(dtype).itemsize:
        raise _fail(
            path,
            f"malformed header: nbytes of tensor {name!r} does not match its dtype and shape",
        )
    return entry


def _read_header(path: str, f: BinaryIO) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Parse and validate everything up to the data section.

    Returns the tensor entries, the meta dict and the data section offset.
    """
    file_size = os.fstat(f.fileno()).st_size
    preamble = _read_exact(f, _PREAMBLE.size)
    if len(preamble) < len(MAGIC):
        if MAGIC.startswith(preamble):
            raise _fail(path, f"truncated file ({len(preamble)} bytes)")
        raise _fail(path, "bad magic (not a graphc checkpoint)")
    if preamble[: len(MAGIC)] != MAGIC:
        raise _fail(path, "bad magic (not a graphc checkpoint)")
    if len(preamble) < _PREAMBLE.size:
        raise _fail(path, f"truncated file ({len(preamble)} bytes)")
    _, version, header_len = _PREAMBLE.unpack(preamble)
    if version != FORMAT_VERSION:
        raise _fail(
            path,
            f"unsupported format version {version} (this reader supports {FORMAT_VERSION})",
        )
    data_start = _PREAMBLE.size + header_len
    if header_len > _MAX_HEADER_BYTES or data_start > file_size:
        raise _fail(
            path,
            f"truncated file (header needs {data_start} bytes, file has {file_size})",
        )
    raw_header = _read_exact(f, header_len)
    if len(raw_header) != header_len:
        raise _fail(path, "truncated file (short read in header)")
    try:
        header = json.loads(raw_header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"corrupt header ({exc})") from None
    if not isinstance(header, dict):
        raise _fail(path, "malformed header: not a JSON object")
    raw_entries = header.get("tensors")
    meta = header.get("meta", {})
    if not isinstance(raw_entries, list) or not isinstance(meta, dict):
        raise _fail(path, "malformed header: missing 'tensors' list or 'meta'")

    entries = [_validate_entry(path, i, e) for i, e in enumerate(raw_entries)]
    seen: set[str] = set()
    for entry in entries:
        name = entry["name"]
        if name in seen:
            raise _fail(path, f"malformed header: duplicate tensor {name!r}")
        seen.add(name)
        if entry["dtype"] == _STRING_DTYPE:
            continue
        end = data_start + entry["offset"] + entry["nbytes"]
        if end > file_size:
            raise _fail(
                path,
                f"truncated file (tensor {name!r} needs bytes up to {end}, file has {file_size})",
            )
    return entries, meta, data_start


def _decode_strings(path: str, entry: dict[str, Any]) -> np.ndarray:
    name = entry["name"]
    values = entry["values"]
    digest = hashlib.sha256(_canonical_json(values).encode("utf-8")).hexdigest()
    if digest != entry["sha256"]:
        raise _fail(path, f"checksum mismatch for tensor {name!r}")
    dtype = np.dtype(entry["string_dtype"])
    if dtype.kind == "S":
        try:
            items: list[Any] = [base64.b64decode(v, validate=True) for v in values]
        except ValueError:
            raise _fail(path, f"bad base64 data in tensor {name!r}") from None
    else:
        items = values
    arr = np.empty(len(items), dtype=dtype)
    arr[...] = items
    return arr.reshape(entry["shape"])


def _read_numeric(path: str, f: BinaryIO, entry: dict[str, Any], data_start: int) -> np.ndarray:
    name = entry["name"]
    arr = np.empty(entry["shape"], dtype=np.dtype(entry["dtype"]))
    # Read straight into the destination buffer: avoids holding a second
    # copy of large tensors in memory.
    raw = arr.reshape(-1).view(np.uint8)
    f.seek(data_start + entry["offset"])
    got = f.readinto(memoryview(raw)) if raw.nbytes else 0
    if got != raw.nbytes:
        raise _fail(path, f"truncated file (short read in tensor {name!r})")
    if hashlib.sha256(memoryview(raw)).hexdigest() != entry["sha256"]:
        raise _fail(path, f"checksum mismatch for tensor {name!r}")
    return arr


def read_checkpoint(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read and verify a checkpoint written by :func:`write_checkpoint`.

    Returns:
      ``(tensors, meta)``: tensors in file order, each a fresh writable
      array; ``meta`` as stored.

    Raises:
      CheckpointError: bad magic, unsupported version, truncated file,
        malformed header, or a checksum mismatch (naming the tensor).
      OSError: the file cannot be opened.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        entries, meta, data_start = _read_header(path, f)
        tensors: dict[str, np.ndarray] = {}
        for entry in entries:
            if entry["dtype"] == _STRING_DTYPE:
                tensors[entry["name"]] = _decode_strings(path, entry)
            else:
                tensors[entry["name"]] = _read_numeric(path, f, entry, data_start)
    return tensors, meta


def list_checkpoint(path: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Return ``{name: (dtype, shape)}`` reading only the file's header.

    ``dtype`` is the header's dtype string (``"<f4"``, ``"|b1"``, ``"str"``,
    ...).  Tensor data and checksums are not read.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        entries, _, _ = _read_header(path, f)
    return {e["name"]: (e["dtype"], tuple(e["shape"])) for e in entries}


# ---------------------------------------------------------------------------
# State file
# ---------------------------------------------------------------------------


def _to_stored_path(directory: str, p: str) -> str:
    # Relative input paths are ordinary filesystem paths (relative to the
    # current directory), like everywhere else in Python.
    abs_p = os.path.abspath(os.fspath(p))
    try:
        inside = os.path.commonpath([directory, abs_p]) == directory
    except ValueError:  # different drives on Windows
        inside = False
    return os.path.relpath(abs_p, directory) if inside else abs_p


def write_state(directory: str, latest: str, all_paths: list[str]) -> None:
    """Atomically write ``<directory>/checkpoint`` as JSON.

    Args:
      directory: The checkpoint directory (created if missing).
      latest: Path of the newest checkpoint.
      all_paths: Paths of all checkpoints still kept, oldest first.  As in
        TensorFlow, ``latest`` is appended if it is not already the last
        entry.

    Paths inside ``directory`` are stored relative to it; others are stored
    absolute.
    """
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(directory, exist_ok=True)
    stored_latest = _to_stored_path(directory, latest)
    stored_all = [_to_stored_path(directory, p) for p in all_paths]
    if not stored_all or stored_all[-1] != stored_latest:
        stored_all = [p for p in stored_all if p != stored_latest]
        stored_all.append(stored_latest)
    payload = json.dumps(
        {
            "model_checkpoint_path": stored_latest,
            "all_model_checkpoint_paths": stored_all,
        },
        indent=2,
    ).encode("utf-8")
    _atomic_write(
        os.path.join(directory, STATE_FILENAME),
        lambda f: _write_bytes(f, payload + b"\n"),
    )


def read_state(directory: str) -> dict | None:
    """Read ``<directory>/checkpoint``, returning absolute paths.

    Returns:
      ``{"model_checkpoint_path": str, "all_model_checkpoint_paths": [str]}``
      with every path absolute, or ``None`` if the file is absent or cannot
      be parsed (so callers can simply start training from scratch).
    """
    directory = os.path.abspath(os.fspath(directory))
    try:
        with open(os.path.join(directory, STATE_FILENAME), "rb") as f:
            state = json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    latest = state.get("model_checkpoint_path")
    all_paths = state.get("all_model_checkpoint_paths", [])
    if not isinstance(latest, str) or not isinstance(all_paths, list):
        return None
    if not all(isinstance(p, str) for p in all_paths):
        return None

    def absolute(p: str) -> str:
        return os.path.normpath(os.path.join(directory, p))

    return {
        "model_checkpoint_path": absolute(latest),
        "all_model_checkpoint_paths": [absolute(p) for p in all_paths],
    }
