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
    List of at most 32 non-negative ints; ``[]`` is a 0-d (scalar) array.
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
    The original numpy dtype string so the array is restored with the same
    item size: ``"<U<n>"`` or ``">U<n>"`` (unicode, ``n`` code points) or
    ``"|S<n>"`` (bytes, ``n`` bytes), with ``n >= 1``.  Every value fits in
    ``n``.
``values``
    The elements flattened in C order, as a JSON list of strings.  For bytes
    arrays (``S``) each element is base64-encoded.
``sha256``
    SHA-256 of ``json.dumps(values, ensure_ascii=True,
    separators=(",", ":"))`` encoded as UTF-8.

``meta`` is an arbitrary JSON object supplied by the caller (e.g. the global
step).  It must be strict JSON: NaN and infinities are rejected.

Validation
----------

A file is only as trustworthy as its source, so the reader checks every
declared size and position against the file's size before it allocates
anything for it (checksums are verified after reading), and any violation
raises :class:`CheckpointError` (a ``graphc.errors.DataLossError``, and a
``ValueError``) naming the file:

* magic and version as above; the header (``H`` bytes, at most 2 GiB) and
  every tensor's bytes lie inside the file.
* The header is UTF-8, strict JSON nested at most 64 levels deep (measured on
  the raw bytes before parsing), with no duplicate keys in any object, every
  integer in ``[-2**63, 2**63 - 1]`` and every number finite.
* ``tensors`` is a list and ``meta`` an object; tensor names are unique.
* ``shape``, ``offset`` and ``nbytes`` are ints (``true``/``false`` and
  floats are not); ``sha256`` is 64 lower-case hex digits.
* Numeric tensors: ``nbytes == prod(shape) * itemsize``; tensors with data
  do not overlap; ``offset`` is a multiple of 64.
* String tensors: ``offset`` is ``null``, ``nbytes`` is ``0``, ``values``
  holds exactly ``prod(shape)`` strings, each fitting the item width.
  Decoding them as fixed-width numpy arrays needs ``prod(shape) * itemsize``
  bytes, which the values do not bound (short values, wide item), so all
  string tensors of a file together may take at most 256 times the file's
  size; the writer refuses to write a file that breaks this.
* A tensor with no elements may still declare big dims; the product of its
  non-zero dims times its item size must be below ``2**63`` (numpy's limit).

So reading allocates at most the file's size for numeric data, 256 times the
file's size for string data, and a small multiple of the header's size while
parsing it.  The writer refuses (``ValueError``) ``meta``, shapes and string
tensors that the reader would reject.

Atomicity
---------

:func:`write_checkpoint` and :func:`write_state` write to a temporary file
``.<final name>.<16 hex digits>.tmp`` in the destination directory, flush and
``fsync`` it, then ``os.replace`` it onto the final name.  A crash or
exception at any point leaves either the old file or the new one, never a
mix, and the temporary file is removed.  Where ``fcntl.flock`` exists the
writer holds an exclusive lock on the temporary file until it is renamed.

Only a killed process leaves a temporary file behind.
:func:`remove_stale_temp_files` removes such leftovers: files named exactly as
above whose final name matches a given pattern, that are regular files, whose
content so far is a prefix of a checkpoint (they start with the magic, or a
piece of it), and that no writer holds locked.  On systems without ``flock``
an open file cannot be deleted, which protects a write in progress instead.
:func:`remove_checkpoint` deletes a checkpoint file only if it is a regular
file directly inside the given directory that starts with the magic.

State file
----------

Like TensorFlow's ``checkpoint`` file, ``<directory>/checkpoint`` records the
newest checkpoint and the ones still kept, but as JSON::

    {"model_checkpoint_path": "model.ckpt-200",
     "all_model_checkpoint_paths": ["model.ckpt-100", "model.ckpt-200"]}

Paths inside the directory are stored relative to it, so a checkpoint
directory can be moved or copied as a whole; :func:`read_state` returns
absolute paths.  A state file that is not such an object, is nested more than
64 levels deep or is larger than 16 MiB reads as absent.  Its paths are not
trusted: they may point anywhere, which is why deletion goes through
:func:`remove_checkpoint`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import math
import os
import re
import secrets
import stat
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from graphc import errors

try:
    import fcntl
except ImportError:  # not POSIX (e.g. Windows): there, open files cannot be deleted
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "STATE_FILENAME",
    "CheckpointError",
    "list_checkpoint",
    "read_checkpoint",
    "read_state",
    "remove_checkpoint",
    "remove_stale_temp_files",
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
# Limits of the validation rules in the module docstring.
_MAX_JSON_DEPTH = 64
_MAX_RANK = 32  # numpy 1.x's limit (numpy 2 allows 64)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_INT32_MAX = (1 << 31) - 1
_STRING_EXPANSION = 256
_MAX_STATE_BYTES = 16 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The string dtypes the writer produces: unicode in either byte order, bytes.
_STRING_DTYPE_FORM = re.compile(r"(?P<kind>[<>]U|\|S)(?P<width>[0-9]{1,10})")

# Temporary files: "." + final name + "." + 16 hex digits + ".tmp".
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.(?P<final>.+)\.[0-9a-f]{16}\.tmp", re.DOTALL)
_TEMP_ATTEMPTS = 100

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class CheckpointError(errors.DataLossError, ValueError):
    """A checkpoint or state file is malformed, truncated or corrupted.

    A ``DataLossError`` (what TF1 raises for a corrupt checkpoint) and, as
    before, a ``ValueError``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(None, None, message)


# ---------------------------------------------------------------------------
# Guarded JSON parsing
# ---------------------------------------------------------------------------


class _Malformed(Exception):
    """Raised by the JSON guards; the caller says which file it was."""


_DEPTH_CHUNK = 1 << 16


def _json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the brackets outside strings in ``raw`` nest deeper than ``limit``.

    ``json`` recurses once per level, so this is checked before parsing, on
    the bytes, in chunks (bounded memory).  A quote starts or ends a string
    unless an odd run of backslashes precedes it; that is JSON's rule up to
    the first syntax error, and ``json`` never parses past that, so this
    never counts fewer levels than ``json`` would enter.
    """
    depth = 0
    inside = 0  # 1 while inside a string
    last_plain = -1  # index of the last byte so far that is not a backslash
    for start in range(0, len(raw), _DEPTH_CHUNK):
        codes = np.frombuffer(raw, np.uint8, count=min(_DEPTH_CHUNK, len(raw) - start), offset=start)
        index = np.arange(start, start + codes.size)
        plain_upto = np.maximum.accumulate(np.where(codes == ord("\\"), last_plain, index))
        plain_before = np.concatenate(([last_plain], plain_upto[:-1]))
        quote = (codes == ord('"')) & ((index - 1 - plain_before) % 2 == 0)
        outside = (np.cumsum(quote) + inside) % 2 == 0
        opening = ((codes == ord("[")) | (codes == ord("{"))) & outside
        closing = ((codes == ord("]")) | (codes == ord("}"))) & outside
        levels = depth + np.cumsum(opening.astype(np.int64) - closing)
        if int(levels.max()) > limit:
            return True
        depth, inside, last_plain = int(levels[-1]), int(not outside[-1]), int(plain_upto[-1])
    return False


def _clip(text: str, n: int = 30) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _parse_int(text: str) -> int:
    digits = text[1:] if text.startswith("-") else text
    # 19 digits cover int64; longer ones are not even converted.
    value = int(text) if len(digits) <= 19 else None
    if value is None or not _INT64_MIN <= value <= _INT64_MAX:
        raise _Malformed(f"integer {_clip(text)} is out of the int64 range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Malformed(f"number {_clip(text)} is out of range")
    return value


def _parse_constant(text: str) -> Any:
    raise _Malformed(f"{text} is not strict JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Malformed(f"duplicate key {_clip(key)!r} in a JSON object")
            seen.add(key)
    return obj


def _loads_guarded(raw: bytes, max_depth: int = _MAX_JSON_DEPTH) -> Any:
    """``json.loads`` under the header rules; raises ``_Malformed``."""
    if _json_depth_exceeds(raw, max_depth):
        raise _Malformed(f"JSON nested more than {max_depth} levels deep")
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_unique_object,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Malformed(f"not valid JSON ({exc})") from None
    except RecursionError:  # not expected after the depth check; kept as a guard
        raise _Malformed("JSON nested too deeply") from None


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


def _create_temp(directory: str, final_name: str) -> tuple[int, str]:
    """Create and (where possible) lock a new temporary file for ``final_name``.

    Returns its descriptor and path.  The file is locked right after it is
    created; :func:`remove_stale_temp_files` may delete it in between, which
    the check after locking notices, and then another name is tried.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW
    for _ in range(_TEMP_ATTEMPTS):
        tmp_path = os.path.join(directory, f".{final_name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}")
        try:
            fd = os.open(tmp_path, flags, 0o600)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp_path
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                return fd, tmp_path  # no locking on this filesystem: write unlocked
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.lstat(tmp_path)):
                    return fd, tmp_path
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", directory)


def _atomic_write(path: str, write_body: Callable[[BinaryIO], None]) -> None:
    """Write a file via a same-directory temp file and ``os.replace``.

    The temp file must live in the destination directory because
    ``os.replace`` is only atomic within one filesystem.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = _create_temp(directory, os.path.basename(path))

    def finish() -> None:
        # The temp file is created 0600; keep the permissions of the file
        # being replaced, or use conventional ones, so checkpoints stay
        # shareable.
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o644
        with contextlib.suppress(OSError):
            os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)

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
            if fcntl is not None:
                # Rename while the lock is held, so a complete temp file is
                # never taken for an abandoned one.
                finish()
        if fcntl is None:
            # Without flock, rename after closing (Windows cannot rename an
            # open file).
            finish()
    except BaseException:
        # BaseException so that KeyboardInterrupt also cleans up.
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    _fsync_directory(directory)


def _same_file(before: os.stat_result, path: str) -> bool:
    try:
        return os.path.samestat(before, os.lstat(path))
    except OSError:
        return False


def remove_stale_temp_files(directory: str, final_names: re.Pattern[str]) -> list[str]:
    """Remove temporary files that killed writes left in ``directory``.

    Only files named like this module's temporary files (see "Atomicity" in
    the module docstring) whose final name fully matches ``final_names`` are
    considered, and each is removed only if it is a regular file whose
    content starts with a prefix of the magic (or is empty) and no writer
    holds its lock.  Anything else is left alone.  Returns the removed paths.
    """
    directory = os.fspath(directory)
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except OSError:
        return []
    removed: list[str] = []
    for name in names:
        match = _TEMP_NAME.fullmatch(name)
        if match is None or final_names.fullmatch(match["final"]) is None:
            continue
        path = os.path.join(directory, name)
        if _remove_if_abandoned(path):
            removed.append(path)
    return removed


def _remove_if_abandoned(path: str) -> bool:
    try:
        before = os.lstat(path)
        if not stat.S_ISREG(before.st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW)
        try:
            if not os.path.samestat(before, os.fstat(fd)):
                return False
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:  # a write in progress holds it (or no locking here)
                    return False
            if not MAGIC.startswith(os.read(fd, len(MAGIC))):
                return False
            if fcntl is not None:
                # Unlink while holding the lock: a writer that was about to
                # lock this file sees it gone and picks another name.
                if not _same_file(before, path):
                    return False
                os.unlink(path)
                return True
        finally:
            os.close(fd)
        if not _same_file(before, path):
            return False
        os.unlink(path)  # fails while another process has it open (Windows)
    except OSError:
        return False
    return True


def remove_checkpoint(path: str, directory: str) -> str | None:
    """Delete the checkpoint file ``path`` if it is safe to.

    The file is deleted only if it lies directly inside ``directory`` (after
    resolving symbolic links in both directory paths), is a regular file and
    not a symbolic link, is not the state file, and starts with the magic.
    Returns ``None`` if it was deleted or was already gone, otherwise the
    reason it was left alone.
    """
    try:
        path = os.fspath(path)
        name = os.path.basename(path)
        if name in ("", ".", "..", STATE_FILENAME):
            return "it is not a checkpoint file name"
        parent = os.path.realpath(os.path.dirname(os.path.abspath(path)))
        if parent != os.path.realpath(os.fspath(directory)):
            return f"it is not inside the checkpoint directory {os.fspath(directory)!r}"
        before = os.lstat(path)
        if stat.S_ISLNK(before.st_mode):
            return "it is a symbolic link"
        if not stat.S_ISREG(before.st_mode):
            return "it is not a regular file"
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW)
        try:
            opened = os.fstat(fd)
            head = os.read(fd, len(MAGIC))
        finally:
            os.close(fd)
        if head != MAGIC:
            return "it is not a graphc checkpoint (no magic)"
        if not (os.path.samestat(before, opened) and _same_file(before, path)):
            return "it changed while it was checked"
        os.unlink(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL in the path
        return f"it could not be checked ({exc})"
    return None


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
      ValueError: ``meta`` contains NaN/infinity or breaks another header
        rule (nesting, integer range), a tensor has more than 32 dims, or the
        string tensors would break the reader's size rule (see "Validation"
        in the module docstring).  Nothing is written in that case.
      OSError: The file could not be written; any previous file at ``path``
        is left untouched.
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    # Refuse meta that the reader would reject (it sits one level below the
    # header object).
    try:
        meta_text = json.dumps(meta, ensure_ascii=True, allow_nan=False, default=_json_default)
        _loads_guarded(meta_text.encode("utf-8"), max_depth=_MAX_JSON_DEPTH - 1)
    except _Malformed as exc:
        raise ValueError(f"meta cannot be stored in a checkpoint: {exc}") from None
    except RecursionError:
        raise ValueError("meta cannot be stored in a checkpoint: nested too deeply") from None

    # Build the whole header (including every checksum) before touching the
    # filesystem, so invalid input can never leave a partial temp file.
    entries: list[dict[str, Any]] = []
    blobs: list[tuple[int, np.ndarray]] = []
    cursor = 0
    string_bytes = 0
    for name, value in tensors.items():
        arr = _as_array(name, value)
        if arr.ndim > _MAX_RANK:
            raise ValueError(f"tensor {name!r}: {arr.ndim} dims; checkpoints hold at most {_MAX_RANK}")
        if arr.dtype.kind in "US":
            entries.append(_string_entry(name, arr))
            string_bytes += arr.size * arr.dtype.itemsize
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
    file_size = data_start + cursor
    if string_bytes > _STRING_EXPANSION * file_size:
        raise ValueError(
            f"string tensors would take {string_bytes} bytes in memory, more than "
            f"{_STRING_EXPANSION} times the file's {file_size} bytes, which readers refuse; "
            "store them with a narrower string dtype"
        )

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


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_constructible(path: str, name: str, shape: list[int], itemsize: int) -> None:
    # numpy refuses arrays whose non-zero dims times the item size reach
    # 2**63, even when a zero dim means nothing is allocated.
    if math.prod(d for d in shape if d) * max(itemsize, 1) > _INT64_MAX:
        raise _fail(path, f"malformed header: shape of tensor {name!r} is too big")


def _string_itemsize(string_dtype: Any) -> int | None:
    """The item size of a valid ``string_dtype``, else None."""
    match = _STRING_DTYPE_FORM.fullmatch(string_dtype) if isinstance(string_dtype, str) else None
    if match is None:
        return None
    width = int(match["width"])
    itemsize = width * (4 if match["kind"].endswith("U") else 1)
    if width < 1 or itemsize > _INT32_MAX:  # numpy's limit on item sizes
        return None
    return itemsize


def _validate_entry(path: str, i: int, entry: Any) -> dict[str, Any]:
    """Type-check one header entry so later code can trust its fields.

    Checks that need the file size or the other entries are made by
    :func:`_read_header`.
    """
    if not isinstance(entry, dict):
        raise _fail(path, f"malformed header: tensor entry {i} is not an object")
    name = entry.get("name")
    if not isinstance(name, str):
        raise _fail(path, f"malformed header: tensor entry {i} has no name")
    shape = entry.get("shape")
    if not isinstance(shape, list) or len(shape) > _MAX_RANK or not all(_is_int(d) and d >= 0 for d in shape):
        raise _fail(path, f"malformed header: bad shape for tensor {name!r}")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise _fail(path, f"malformed header: bad sha256 for tensor {name!r}")
    dtype = entry.get("dtype")
    offset = entry.get("offset")
    nbytes = entry.get("nbytes")
    count = math.prod(shape)
    if dtype == _STRING_DTYPE:
        itemsize = _string_itemsize(entry.get("string_dtype"))
        if itemsize is None:
            raise _fail(path, f"malformed header: bad string_dtype for tensor {name!r}")
        values = entry.get("values")
        if (
            not isinstance(values, list)
            or len(values) != count
            or not all(isinstance(v, str) for v in values)
        ):
            raise _fail(path, f"malformed header: bad values for tensor {name!r}")
        if offset is not None or not _is_int(nbytes) or nbytes != 0:
            raise _fail(path, f"malformed header: string tensor {name!r} must have offset null and nbytes 0")
        _check_constructible(path, name, shape, itemsize)
        return entry
    if dtype not in _NUMERIC_DTYPES:
        raise _fail(path, f"unsupported dtype {dtype!r} for tensor {name!r}")
    if not _is_int(offset) or offset < 0 or offset % _ALIGNMENT:
        raise _fail(path, f"malformed header: bad offset for tensor {name!r}")
    itemsize = np.dtype(dtype).itemsize
    if not _is_int(nbytes) or nbytes != count * itemsize:
        raise _fail(
            path,
            f"malformed header: nbytes of tensor {name!r} does not match its dtype and shape",
        )
    _check_constructible(path, name, shape, itemsize)
    return entry


def _read_header(path: str, f: BinaryIO) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Parse and validate everything up to the data section.

    Returns the tensor entries, the meta dict and the data section offset.
    Nothing is allocated beyond the header itself until every rule of
    "Validation" in the module docstring that needs no tensor data holds.
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
        header = _loads_guarded(raw_header)
    except _Malformed as exc:
        raise _fail(path, f"corrupt header ({exc})") from None
    if not isinstance(header, dict):
        raise _fail(path, "malformed header: not a JSON object")
    raw_entries = header.get("tensors")
    meta = header.get("meta", {})
    if not isinstance(raw_entries, list) or not isinstance(meta, dict):
        raise _fail(path, "malformed header: missing 'tensors' list or 'meta'")

    entries = [_validate_entry(path, i, e) for i, e in enumerate(raw_entries)]
    seen: set[str] = set()
    extents: list[tuple[int, int, str]] = []
    string_bytes = 0
    for entry in entries:
        name = entry["name"]
        if name in seen:
            raise _fail(path, f"malformed header: duplicate tensor {name!r}")
        seen.add(name)
        if entry["dtype"] == _STRING_DTYPE:
            string_bytes += len(entry["values"]) * _string_itemsize(entry["string_dtype"])  # type: ignore[operator]
            continue
        end = data_start + entry["offset"] + entry["nbytes"]
        if end > file_size:
            raise _fail(
                path,
                f"truncated file (tensor {name!r} needs bytes up to {end}, file has {file_size})",
            )
        if entry["nbytes"]:
            extents.append((entry["offset"], entry["offset"] + entry["nbytes"], name))
    extents.sort()
    for (_, prev_end, prev), (start, _, name) in zip(extents, extents[1:]):
        if start < prev_end:
            raise _fail(path, f"malformed header: data of tensors {prev!r} and {name!r} overlap")
    if string_bytes > _STRING_EXPANSION * file_size:
        raise _fail(
            path,
            f"malformed header: string tensors would take {string_bytes} bytes in memory, "
            f"more than {_STRING_EXPANSION} times the file's {file_size} bytes",
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
        width = dtype.itemsize
    else:
        items = values
        width = dtype.itemsize // 4
    if any(len(v) > width for v in items):
        raise _fail(path, f"malformed header: a value of tensor {name!r} is wider than {dtype.str}")
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
      CheckpointError: (a ``graphc.errors.DataLossError``) bad magic,
        unsupported version, truncated file, a header that breaks a rule of
        "Validation" in the module docstring, or a checksum mismatch (naming
        the tensor).  The message names the file.
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
      be parsed (so callers can simply start training from scratch).  The
      paths are as stored, not checked: they may point outside
      ``directory``.
    """
    directory = os.path.abspath(os.fspath(directory))
    try:
        with open(os.path.join(directory, STATE_FILENAME), "rb") as f:
            raw = f.read(_MAX_STATE_BYTES + 1)
        if len(raw) > _MAX_STATE_BYTES:
            return None
        state = _loads_guarded(raw)
    except (OSError, _Malformed):
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
