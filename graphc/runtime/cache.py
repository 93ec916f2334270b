"""The on-disk compile cache: compiled code kept between processes.

A backend that implements the export part of the protocol (``cache_identity()``,
``export(executable)``, ``load(program, code, options)``; see graphc.runtime.backend) has
its compiled code stored here and loaded again, without compiling, by any later process
that compiles the same program with the same options on the same backend and machine. A
backend without it (the NumPy backend) is never cached: :func:`compile_cached` compiles
it and says "off".

Where: the ``directory`` argument, else ``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``,
else ``~/.cache/graphc``. ``GRAPHC_CACHE=0`` (or ``off``, ``false``, ``no``) switches the
cache off. ``GRAPHC_CACHE_MAX_BYTES`` (an int, or with a K/M/G suffix; default 1 GiB)
bounds its size. ``GRAPHC_CACHE_EXPLAIN=1`` prints, on every miss, why no stored entry fitted.

The key (:func:`key_parts`) names everything the code depends on: the program's content
hash (its serialised bytes after the passes, without names), graphc's version, a
fingerprint of graphc's and the backend's source files (:func:`code_fingerprint`), the
backend's name, every item of ``backend.cache_identity()`` (compiler versions, target
triple, CPU name and features) and ``options.cache_key()``. The entry's file name is the
SHA-256 of the parts' canonical JSON.

An entry is one file (integers little-endian)::

    magic          8 bytes  b"GRAPHCK\\n"
    version        u32      FORMAT_VERSION
    manifest_len   u32      length of the manifest
    manifest_sha   32 bytes SHA-256 of the manifest (so no flipped byte in it goes unseen)
    manifest       canonical JSON: {"key": ..., "parts": {...}, "payload_length": int,
                   "payload_sha256": hex, "created": float (seconds since the epoch)}
    payload        the exported code, payload_length bytes, nothing after it

It is written to a temporary file in the same folder, flushed and fsynced, then renamed
over the entry (``os.replace``), so a reader sees a whole entry or none, and two processes
storing the same key at once both succeed (the last rename wins; either entry is valid).

Loading checks the magic, the version, the manifest, that the stored key parts are the
wanted ones (a file copied or renamed under another key is foreign), the payload's length
and checksum. An entry that fails, or that the backend's ``load`` refuses, is never used
again: it is moved to ``quarantine/`` (deleted if that fails), a :class:`CacheWarning`
names it and why, and the program is compiled and stored afresh.

The size limit is kept least-recently-used: a hit refreshes the entry's modification time,
and after a store the oldest entries are removed until the total fits (never the entry
just written). The folder is listed for that only when it may be over the limit: on a
cache object's first store, when the total its last listing found plus what it stored since
exceeds the limit, and at least every :data:`RESCAN_SECONDS` (other processes store into
the folder too). Listing it after every store made a run that compiles many programs spend
time quadratic in their number.

Optimised programs. The session also keeps the pass pipeline's result here
(:func:`optimize_cached`), so a later process that lowers the same program runs no pass:
an entry of the same file format whose key parts (:func:`passes_key_parts`) are
``kind="passes"``, the SHA-256 of the lowered program's bytes *with* its names (the result
holds them: the origins that errors name), graphc's version, a fingerprint of graphc's
source files (:func:`source_fingerprint`: a source tree's passes change without a new
version), NumPy's version (constant folding runs its kernels), the pass list and the passes
switched off. Its payload::

    magic          b"GRAPHC-PASSES1\n"
    head_len       u64
    head           canonical JSON: {"content_hash": the optimised program's content hash,
                   "plan": its memory plan (graphc.passes.memory.plan_to_json) or null}
    program        the optimised program's bytes (graphc.ir.serialize, names kept)

A loaded program carries its memory plan in ``meta["memory_plan"]`` (the other analyses
and the pipeline's report are not kept); with ``GRAPHC_VERIFY`` it is verified and its
content hash and plan checked against it. Programs with a host op, with an op or an op's
rule that is not graphc's own (a user's op may change between processes under the same
key), or compiled with ``GRAPHC_DUMP_IR`` set are optimised without the cache. Such entries
share the folder, the checks, the quarantine and the LRU limit with code entries;
``graphc cache list`` shows them as backend ``(passes)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import struct
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graphc import registry as reg
from graphc.ir.encoding import SerializationError, to_bytes
from graphc.ir.program import Program
from graphc.ir.serialize import from_bytes
from graphc.ir.verify import verify
from graphc.passes import pipeline
from graphc.passes.memory import MemoryPlan, plan_from_json, plan_to_json
from graphc.runtime.backend import Backend, CompileOptions, Executable, can_export
from graphc.runtime.files import write_atomically

MAGIC = b"GRAPHCK\n"
FORMAT_VERSION = 1
SUFFIX = ".entry"
QUARANTINE = "quarantine"
QUARANTINE_KEEP = 32  # quarantined files kept for a post-mortem; older ones are deleted
DEFAULT_MAX_BYTES = 1 << 30

DIR_ENV = "GRAPHC_CACHE_DIR"
ENABLE_ENV = "GRAPHC_CACHE"
MAX_BYTES_ENV = "GRAPHC_CACHE_MAX_BYTES"
EXPLAIN_ENV = "GRAPHC_CACHE_EXPLAIN"

_HEADER = struct.Struct("<8sII32s")
_OFF_WORDS = frozenset({"0", "off", "false", "no"})
# Key parts graphc itself sets; an identity item of the same name is stored as "backend.<name>".
_RESERVED = ("program", "graphc", "backend", "options", "kind", "source")
# How a miss explanation names a part, and whether it reads as a plural ("differ").
_LABELS: dict[str, tuple[str, bool]] = {
    "program": ("program hash", False),
    "graphc": ("graphc version", False),
    "backend": ("backend", False),
    "options": ("compile options", True),
    "source": ("graphc's or the backend's source files", True),
    "features": ("cpu features", True),
    "cpu": ("cpu name", False),
    "triple": ("target triple", False),
    "llvm": ("LLVM version", False),
    "llvmlite": ("llvmlite version", False),
}
# Temporary files older than this are left over from a writer that died; eviction removes them.
_STALE_TMP_SECONDS = 3600.0


class CacheWarning(UserWarning):
    """A cache entry was unusable (and set aside), or the cache could not be written."""


class _BadEntry(Exception):
    """Why an entry file cannot be used (internal: turned into a CacheWarning)."""


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One stored entry, as ``graphc cache list`` shows it."""

    key: str
    backend: str
    size: int  # bytes on disk
    last_used: float  # modification time: the store, or the latest hit
    program_hash: str  # a prefix of the program's content hash ("" when unreadable)
    path: Path
    # "code" (a backend's compiled code) or "passes" (an optimised program, for the input
    # program whose hash ``program_hash`` begins; ``backend`` then reads "(passes)").
    kind: str = "code"


@dataclasses.dataclass
class CacheStats:
    """Per-process counters of one :class:`CompileCache`."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    corrupt: int = 0
    evicted: int = 0
    passes_hits: int = 0  # optimised programs loaded (the pass pipeline not run)
    passes_misses: int = 0  # optimised programs computed and stored

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# -- the key -------------------------------------------------------------------------------------
@functools.cache
def graphc_version() -> str:
    """The installed distribution's version, else the package's ``__version__`` (looked up
    once per process: the metadata search costs about a millisecond)."""
    try:
        return importlib.metadata.version("graphc")
    except importlib.metadata.PackageNotFoundError:
        # A source tree that is not installed: the package states its version itself. It is
        # imported already (it is this module's parent package); importing it here would
        # reach up a layer.
        return str(getattr(sys.modules.get("graphc"), "__version__", "unknown"))


def key_parts(
    backend: Backend, program: Program, options: CompileOptions, program_hash: str | None = None
) -> dict[str, str]:
    """Everything the compiled code depends on, as text (module docstring).
    ``program_hash``: ``program.content_hash()`` when the caller has it already."""
    parts = {
        "program": program_hash if program_hash is not None else program.content_hash(),
        "graphc": graphc_version(),
        "backend": str(backend.name),
        "options": options.cache_key(),
        "source": code_fingerprint(backend),
    }
    identity = backend.cache_identity()  # type: ignore[attr-defined]
    for name, value in sorted(identity.items()):
        name = str(name)
        parts[f"backend.{name}" if name in _RESERVED else name] = str(value)
    return parts


def entry_key(parts: Mapping[str, str]) -> str:
    """The entry's key: SHA-256 of the parts' canonical JSON."""
    return hashlib.sha256(_canonical(dict(parts))).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# -- settings from the environment -------------------------------------------------------------
def default_directory() -> Path:
    """``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``."""
    explicit = os.environ.get(DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "graphc"


def enabled_by_env() -> bool:
    """False when ``GRAPHC_CACHE`` is 0, off, false or no."""
    return os.environ.get(ENABLE_ENV, "1").strip().lower() not in _OFF_WORDS


def parse_size(text: str) -> int:
    """Bytes from ``"1073741824"``, ``"512M"``, ``"2G"``, ``"64k"`` (binary multiples)."""
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(s[-1:], 1)
    digits = s[:-1] if scale != 1 else s
    try:
        value = int(digits)
    except ValueError:
        raise ValueError(
            f"{MAX_BYTES_ENV}={text!r}: expected a size in bytes such as 1073741824 or 512M"
        ) from None
    if value < 0:
        raise ValueError(f"{MAX_BYTES_ENV}={text!r}: the size must not be negative")
    return value * scale


def default_max_bytes() -> int:
    """``$GRAPHC_CACHE_MAX_BYTES``, else 1 GiB; a value that is not a size is warned about
    and ignored (a typo in the environment must not stop compiling)."""
    text = os.environ.get(MAX_BYTES_ENV)
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        return parse_size(text)
    except ValueError as exc:
        warnings.warn(f"graphc compile cache: {exc}; using 1 GiB", CacheWarning, stacklevel=2)
        return DEFAULT_MAX_BYTES


# -- the cache -------------------------------------------------------------------------------------
# The longest a cache object goes without listing its folder after a store (seconds).
RESCAN_SECONDS = 30.0


class CompileCache:
    """Compiled code on disk, in one folder (module docstring).

    ``directory`` and ``max_bytes`` default to the environment's settings (read once, here);
    ``enabled`` None follows ``GRAPHC_CACHE`` at each compile."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_directory()
        self.max_bytes = int(max_bytes) if max_bytes is not None else default_max_bytes()
        self._enabled = enabled
        self.stats = CacheStats()
        # This process's miss explanations, newest last (only when GRAPHC_CACHE_EXPLAIN is set).
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._store_warned = False
        # What the folder held at this object's last listing (bytes; None before the first)
        # plus what it has stored since, and when it listed it (time.monotonic()).
        self._estimate: int | None = None
        self._listed_at = 0.0

    @property
    def enabled(self) -> bool:
        return self._enabled if self._enabled is not None else enabled_by_env()

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    # -- compile through the cache ----------------------------------------------------------
    def compile(
        self, backend: Backend, program: Program, options: CompileOptions, program_hash: str | None = None
    ) -> tuple[Executable, str]:
        """``(executable, outcome)``: "hit" (loaded, nothing compiled), "miss" (compiled and
        stored) or "off" (the backend cannot export, the cache is switched off, or the
        backend's ``export`` raises TypeError: this executable has no code to keep).
        ``program_hash``: ``program.content_hash()``, when the caller has it already."""
        if not self.enabled or not can_export(backend):
            return backend.compile(program, options), "off"
        parts = key_parts(backend, program, options, program_hash)
        key = entry_key(parts)
        path = self.path_for(key)
        code = self._read(path, parts)
        if code is not None:
            try:
                exe = backend.load(program, code, options)  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001  (any refusal: set the entry aside, recompile)
                self._set_aside(path, f"the {backend.name} backend could not load it ({exc})")
            else:
                with contextlib.suppress(OSError):  # evicted meanwhile: the hit stands
                    os.utime(path)
                self._count("hits")
                return exe, "hit"
        exe = backend.compile(program, options)
        try:
            payload = bytes(backend.export(exe))  # type: ignore[attr-defined]
        except TypeError:
            # This executable has no code to keep (the LLVM backend runs some programs on
            # its NumPy path): compiled as if there were no cache.
            return exe, "off"
        self._count("misses")
        if os.environ.get(EXPLAIN_ENV, "").strip().lower() not in ("", *_OFF_WORDS):
            why = f"graphc cache: miss for {parts['backend']} program {parts['program'][:12]}: "
            why += self.explain_miss(parts)
            with self._lock:
                self.log.append(why)
            print(why, file=sys.stderr)
        if self._store(key, parts, payload):
            self._evict(keep=path)
        return exe, "miss"

    # -- the pass pipeline through the cache ----------------------------------------------
    def optimize(self, program: Program, disabled: Iterable[str] | None = None) -> tuple[Program, str, str]:
        """``(optimised program, its content hash, outcome)``: the pipeline's result for
        ``program`` (graphc.passes.pipeline.optimize) loaded from its entry ("hit": no pass
        runs), else computed and stored ("miss"), or computed only ("off": the cache is
        switched off, ``GRAPHC_DUMP_IR`` asks for every pass's output, or the program is
        not :func:`passes_cacheable`)."""
        off = pipeline.disabled_set(disabled)
        if not self.enabled or os.environ.get(pipeline.DUMP_ENV) or not passes_cacheable(program):
            out = pipeline.optimize(program, off)
            return out, out.content_hash(), "off"
        try:
            parts = passes_key_parts(program, off)
        except SerializationError:  # a program the format cannot hold: nothing to key it by
            out = pipeline.optimize(program, off)
            return out, out.content_hash(), "off"
        key = entry_key(parts)
        path = self.path_for(key)
        payload = self._read(path, parts)
        if payload is not None:
            try:
                out, content_hash = _load_optimised(payload)
            except (ValueError, KeyError, TypeError) as exc:  # SerializationError is a ValueError
                self._set_aside(path, f"its optimised program does not load ({exc})")
            else:
                if os.environ.get(pipeline.VERIFY_ENV, "") not in ("", "0"):
                    _check_loaded(out, content_hash)
                with contextlib.suppress(OSError):  # evicted meanwhile: the hit stands
                    os.utime(path)
                self._count("passes_hits")
                return out, content_hash, "hit"
        out = pipeline.optimize(program, off)
        content_hash = out.content_hash()
        try:
            payload = _dump_optimised(out, content_hash)
        except SerializationError:
            return out, content_hash, "off"
        self._count("passes_misses")
        if self._store(key, parts, payload):
            self._evict(keep=path)
        return out, content_hash, "miss"

    # -- reading -------------------------------------------------------------------------------------
    def _read(self, path: Path, parts: Mapping[str, str]) -> bytes | None:
        """The payload of a verified entry; None when there is none (or it was set aside)."""
        try:
            data = path.read_bytes()
        except OSError:
            # Absent, or the folder is not there or not readable: a miss (storing will
            # say so if the folder is unusable); nothing was read, so nothing is set aside.
            return None
        try:
            manifest, payload = _parse(data)
            if manifest.get("parts") != dict(parts) or manifest.get("key") != path.name.removesuffix(SUFFIX):
                raise _BadEntry("it is foreign: its key parts are not the ones this file name stands for")
        except _BadEntry as exc:
            self._set_aside(path, str(exc))
            return None
        return payload

    def _set_aside(self, path: Path, why: str) -> None:
        self._count("corrupt")
        where = self.directory / QUARANTINE
        moved = False
        try:
            where.mkdir(parents=True, exist_ok=True)
            os.replace(path, where / f"{path.name}.{time.time_ns()}.{os.getpid()}")
            moved = True
            self._trim_quarantine(where)
        except FileNotFoundError:
            pass  # another process set it aside (or replaced it) first
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
        fate = f"moved to {where}" if moved else "removed"
        warnings.warn(
            f"graphc compile cache: entry {path.name} is unusable: {why}; {fate}, recompiling",
            CacheWarning,
            stacklevel=4,
        )

    @staticmethod
    def _trim_quarantine(where: Path) -> None:
        files = sorted(where.iterdir(), key=lambda p: (_mtime(p), p.name))
        for p in files[: max(0, len(files) - QUARANTINE_KEEP)]:
            with contextlib.suppress(OSError):
                p.unlink()

    # -- writing ---------------------------------------------------------------------------------------
    def _store(self, key: str, parts: Mapping[str, str], payload: bytes) -> bool:
        manifest = {
            "key": key,
            "parts": dict(parts),
            "payload_length": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "created": time.time(),
        }
        blob = _canonical(manifest)
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, len(blob), hashlib.sha256(blob).digest())
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path_for(key), (header, blob, payload), prefix=f".{key[:16]}.")
        except OSError as exc:
            with self._lock:
                first, self._store_warned = not self._store_warned, True
            if first:  # once per cache: a read-only folder must not flood the output
                warnings.warn(
                    f"graphc compile cache: cannot store into {self.directory} ({exc}); compiling without it",
                    CacheWarning,
                    stacklevel=4,
                )
            return False
        self._count("stores")
        return True

    def _evict(self, keep: Path) -> None:
        """After ``keep`` was stored: remove the least recently used entries until the total
        fits (never ``keep``), once the folder may be over the limit (module docstring)."""
        try:
            stored = keep.stat().st_size
        except OSError:
            stored = 0
        with self._lock:
            if self._estimate is not None:
                self._estimate += stored
                if self._estimate <= self.max_bytes and time.monotonic() - self._listed_at < RESCAN_SECONDS:
                    return
        now = time.time()
        listed: list[tuple[float, str, int, Path]] = []
        try:
            names = list(self.directory.iterdir())
        except OSError:
            return
        for p in names:
            if p.name.endswith(".tmp") and p.name.startswith("."):
                if now - _mtime(p) > _STALE_TMP_SECONDS:
                    with contextlib.suppress(OSError):
                        p.unlink()
                continue
            if not p.name.endswith(SUFFIX):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            listed.append((st.st_mtime, p.name, st.st_size, p))
        total = sum(size for _, _, size, _ in listed)
        for _, _, size, p in sorted(listed):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            try:
                p.unlink()
            except FileNotFoundError:
                pass  # another process evicted it: it no longer counts either way
            except OSError:
                continue
            else:
                self._count("evicted")
            total -= size
        with self._lock:
            self._estimate = total
            self._listed_at = time.monotonic()

    # -- looking at it ------------------------------------------------------------------------------
    def _entry_files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX) and p.is_file())
        except OSError:
            return []

    def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first."""
        out = []
        for p in self._entry_files():
            try:
                st = p.stat()
            except OSError:
                continue
            manifest = _read_manifest(p)
            parts = manifest.get("parts", {}) if manifest else {}
            passes = isinstance(parts, dict) and parts.get("kind") == PASSES_KIND
            if not isinstance(parts, dict):
                parts = {}
            out.append(
                CacheEntry(
                    key=p.name.removesuffix(SUFFIX),
                    backend="(passes)" if passes else str(parts.get("backend", "(unreadable)")),
                    size=st.st_size,
                    last_used=st.st_mtime,
                    program_hash=str(parts.get("program", ""))[:12],
                    path=p,
                    kind=PASSES_KIND if passes else "code",
                )
            )
        out.sort(key=lambda e: (e.last_used, e.key))
        return out

    def info(self) -> dict[str, Any]:
        """The folder, how many entries, their total size, the limit, whether it is on,
        and this process's counters."""
        entries = self.entries()
        where = self.directory / QUARANTINE
        try:
            quarantined = sum(1 for _ in where.iterdir())
        except OSError:
            quarantined = 0
        return {
            "directory": str(self.directory),
            "enabled": self.enabled,
            "entries": len(entries),
            "total_bytes": sum(e.size for e in entries),
            "max_bytes": self.max_bytes,
            "quarantined": quarantined,
            "stats": self.stats.as_dict(),
        }

    def clear(self) -> int:
        """Remove every entry (and the quarantine, and leftover temporary files); returns
        how many entries were removed."""
        removed = 0
        for p in self._entry_files():
            try:
                p.unlink()
                removed += 1
            except OSError:
                continue
        with contextlib.suppress(OSError):
            for p in self.directory.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        p.unlink()
        where = self.directory / QUARANTINE
        with contextlib.suppress(OSError):
            for p in where.iterdir():
                with contextlib.suppress(OSError):
                    p.unlink()
            where.rmdir()
        return removed

    def explain_miss(self, parts: Mapping[str, str]) -> str:
        """Why no stored entry has these key parts: the nearest stored entry (same program
        hash, else same backend; fewest differing parts) and which parts differ."""
        stored = []
        for p in self._entry_files():
            manifest = _read_manifest(p)
            found = manifest.get("parts") if manifest else None
            if isinstance(found, dict) and found.get("kind") != PASSES_KIND:  # code entries only
                stored.append(found)
        wanted = dict(parts)
        if not stored:
            return "no entry for this program (the cache is empty)"
        if any(s == wanted for s in stored):
            return "an entry with these key parts is stored (it was written after this lookup began)"
        same_program = [s for s in stored if s.get("program") == wanted.get("program")]
        if not same_program:
            same_backend = [s for s in stored if s.get("backend") == wanted.get("backend")]
            n = len(same_backend)
            return (
                f"no entry for this program ({n} entr{'y' if n == 1 else 'ies'} for backend "
                f"{wanted.get('backend')}, {len(stored)} in all)"
            )
        nearest = min(same_program, key=lambda s: (_n_differing(s, wanted), entry_key(s)))
        reasons = [
            _describe(name, nearest.get(name), wanted.get(name)) for name in _differing(nearest, wanted)
        ]
        return "; ".join(reasons)


def _differing(a: Mapping[str, str], b: Mapping[str, str]) -> list[str]:
    names = [n for n in _RESERVED if n in a or n in b]
    names += sorted((set(a) | set(b)) - set(_RESERVED))
    return [n for n in names if a.get(n) != b.get(n)]


def _n_differing(a: Mapping[str, str], b: Mapping[str, str]) -> int:
    return len(_differing(a, b))


def _describe(name: str, stored: str | None, wanted: str | None) -> str:
    label, plural = _LABELS.get(name.removeprefix("backend."), (name, False))
    verb = "differ" if plural else "differs"
    if stored is None:
        return f"{label} {verb}: not stored vs {wanted!r} wanted"
    if wanted is None:
        return f"{label} {verb}: {stored!r} stored vs none wanted"
    if "," in stored and "," in wanted:
        # Feature lists are long: name only the items on one side and not the other.
        s, w = set(stored.split(",")), set(wanted.split(","))
        only_s = ",".join(sorted(s - w)) or "(nothing else)"
        only_w = ",".join(sorted(w - s)) or "(nothing else)"
        return f"{label} {verb}: {only_s} stored vs {only_w} wanted"
    return f"{label} {verb}: {stored!r} stored vs {wanted!r} wanted"


def _parse(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The manifest and payload of an entry's bytes, each checked (module docstring)."""
    if len(data) < _HEADER.size:
        raise _BadEntry(f"it is truncated ({len(data)} bytes, shorter than the header)")
    magic, version, mlen, msha = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise _BadEntry("it is not a graphc cache entry (wrong magic)")
    if version != FORMAT_VERSION:
        raise _BadEntry(f"it has format version {version}, this graphc reads {FORMAT_VERSION}")
    start = _HEADER.size
    if len(data) < start + mlen:
        raise _BadEntry("it is truncated (inside the manifest)")
    blob = data[start : start + mlen]
    if hashlib.sha256(blob).digest() != msha:
        raise _BadEntry("its manifest's checksum does not match (corrupted)")
    try:
        manifest = json.loads(blob.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _BadEntry("its manifest is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise _BadEntry("its manifest is not a JSON object")
    length = manifest.get("payload_length")
    digest = manifest.get("payload_sha256")
    if (
        not isinstance(length, int)
        or not isinstance(digest, str)
        or not isinstance(manifest.get("parts"), dict)
    ):
        raise _BadEntry("its manifest lacks the payload's length, checksum or key parts")
    payload = data[start + mlen :]
    if len(payload) != length:
        raise _BadEntry(f"its payload has {len(payload)} bytes, the manifest says {length} (truncated?)")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise _BadEntry("its payload's checksum does not match (corrupted)")
    return manifest, payload


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """An entry's manifest without its payload (for listings), or None when unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size:
                return None
            magic, version, mlen, _ = _HEADER.unpack(head)
            if magic != MAGIC or version != FORMAT_VERSION:
                return None
            manifest = json.loads(f.read(mlen).decode("ascii"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


# -- optimised programs ----------------------------------------------------------------------------
PASSES_KIND = "passes"  # the "kind" key part of an optimised program's entry
PASSES_VERSION = 1  # the layout of such an entry's payload (a key part)
_PASSES_MAGIC = b"GRAPHC-PASSES1\n"
_U64 = struct.Struct("<Q")
# The rules of an op that the passes run (shape and dtype rules, the reference constant
# folding calls, the scalar expression fusion reads, the symbolic value).
_PASS_RULES = ("shape", "dtype", "reference", "scalar", "value")


@functools.cache
def source_fingerprint() -> str:
    """A digest of the size and modification time of every module file of the graphc
    package (taken once per process): the passes' results change with graphc's code, which
    a source tree changes without changing the version."""
    return fingerprint_of(Path(__file__).resolve().parents[1])


_BACKEND_FINGERPRINTS: dict[str, str] = {}


def code_fingerprint(backend: Backend) -> str:
    """:func:`source_fingerprint` and the same digest of the folder of the module that
    defines ``backend``'s class (taken once per process and backend module): generated code
    changes with the backend's lowerings, which a source tree changes without changing the
    version. Part of the cache key only, not of an artifact's identity, so an artifact
    still loads under another install of the same versions."""
    module = type(backend).__module__
    found = _BACKEND_FINGERPRINTS.get(module)
    if found is None:
        path = getattr(sys.modules.get(module), "__file__", None)
        backend_part = fingerprint_of(Path(path).resolve().parent) if path else "unknown"
        found = hashlib.sha256(f"{source_fingerprint()}:{backend_part}".encode()).hexdigest()
        _BACKEND_FINGERPRINTS[module] = found
    return found


def fingerprint_of(root: Path) -> str:
    """The digest :func:`source_fingerprint` takes of the ``.py`` files under ``root``
    (their paths, sizes and modification times; ``__pycache__`` folders left out)."""
    listed: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        if e.name != "__pycache__":
                            stack.append(Path(e.path))
                    elif e.name.endswith(".py"):
                        st = e.stat()
                        listed.append(f"{Path(e.path).relative_to(root)}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            listed.append(f"{folder}:unreadable")
    return hashlib.sha256("\n".join(sorted(listed)).encode()).hexdigest()


def _graphc_code(fn: Any) -> bool:
    module = getattr(fn, "__module__", None)
    return isinstance(module, str) and (module == "graphc" or module.startswith("graphc."))


def passes_cacheable(program: Program) -> bool:
    """Whether the pipeline's result for ``program`` may be kept on disk: no host op (it
    names a Python function of this process) and every op's rules graphc's own (an op a
    user registered, or a rule replaced at run time, may differ in the next process while
    the key stays the same). Control-flow regions included."""
    seen: set[str] = set()
    stack = [program]
    while stack:
        p = stack.pop()
        for n in p.nodes:
            if n.regions:
                stack.extend(n.regions)
            if n.op in seen:
                continue
            seen.add(n.op)
            try:
                opdef = reg.get(n.op)
            except KeyError:
                return False
            if opdef.has("host"):
                return False
            for name in _PASS_RULES:
                fn = getattr(opdef, name, None)
                if fn is not None and not _graphc_code(fn):
                    return False
    return True


def passes_key_parts(program: Program, disabled: set[str]) -> dict[str, str]:
    """What the pipeline's result depends on (module docstring): the input program with its
    names (they are in the result: the ops' origins name the user's lines), graphc's
    version and source files, NumPy's version (constant folding runs its kernels), the
    list of passes and the ones switched off."""
    return {
        "kind": PASSES_KIND,
        "program": hashlib.sha256(to_bytes(program)).hexdigest(),
        "graphc": graphc_version(),
        "source": source_fingerprint(),
        "numpy": np.__version__,
        "passes": ",".join(pipeline.pass_names()) + f";v{PASSES_VERSION}",
        "disabled": ",".join(sorted(disabled)),
    }


def _dump_optimised(program: Program, content_hash: str) -> bytes:
    """An optimised program's payload: its bytes (names kept), its content hash and its
    memory plan (when it has the plan made for it)."""
    plan = program.meta.get("memory_plan")
    plan_doc = plan_to_json(plan) if isinstance(plan, MemoryPlan) and plan.matches(program) else None
    head = _canonical({"content_hash": content_hash, "plan": plan_doc})
    return b"".join([_PASSES_MAGIC, _U64.pack(len(head)), head, to_bytes(program)])


def _load_optimised(payload: bytes) -> tuple[Program, str]:
    """The program and content hash :func:`_dump_optimised` wrote (ValueError otherwise)."""
    if not payload.startswith(_PASSES_MAGIC) or len(payload) < len(_PASSES_MAGIC) + _U64.size:
        raise ValueError("it does not hold an optimised program")
    start = len(_PASSES_MAGIC) + _U64.size
    (n,) = _U64.unpack_from(payload, len(_PASSES_MAGIC))
    if n > len(payload) - start:
        raise ValueError("its optimised program's header is truncated")
    try:
        head = json.loads(payload[start : start + n].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("its optimised program's header is not JSON") from None
    if type(head) is not dict or set(head) != {"content_hash", "plan"}:
        raise ValueError("its optimised program's header lacks the content hash or the plan")
    content_hash = head["content_hash"]
    if type(content_hash) is not str or len(content_hash) != 64:
        raise ValueError("its optimised program's content hash is not a SHA-256")
    program = from_bytes(payload[start + n :])
    if head["plan"] is not None:
        program.meta["memory_plan"] = plan_from_json(head["plan"], budget=16 * len(payload))
    return program, content_hash


def _check_loaded(program: Program, content_hash: str) -> None:
    """With ``GRAPHC_VERIFY``: the loaded program verifies, has the stored content hash and
    (when it came with one) the plan made for it; a failure is a bug, raised as the
    verifier's are."""
    verify(program)
    if program.content_hash() != content_hash:
        raise AssertionError("an optimised program loaded from the cache does not have its stored content hash")
    plan = program.meta.get("memory_plan")
    if plan is not None:
        plan.check(program)


def optimize_cached(
    program: Program, disabled: Iterable[str] | None = None, cache: CompileCache | None = None
) -> tuple[Program, str, str]:
    """The pass pipeline's result for ``program`` through ``cache`` (default:
    :func:`default_cache`): ``(optimised program, its content hash, outcome)``, outcome
    "hit", "miss" or "off" (CompileCache.optimize)."""
    off = pipeline.disabled_set(disabled)
    if cache is None:
        if not enabled_by_env():
            out = pipeline.optimize(program, off)
            return out, out.content_hash(), "off"
        cache = default_cache()
    return cache.optimize(program, off)


# -- the process's default cache -------------------------------------------------------------------
_defaults: dict[tuple[str, int], CompileCache] = {}
_defaults_lock = threading.Lock()


def default_cache() -> CompileCache:
    """The cache the environment names, one object per folder and limit in this process
    (so its counters add up across sessions)."""
    key = (str(default_directory()), default_max_bytes())
    with _defaults_lock:
        cache = _defaults.get(key)
        if cache is None:
            cache = _defaults[key] = CompileCache(key[0], key[1])
        return cache


def compile_cached(
    backend: Backend,
    program: Program,
    options: CompileOptions,
    cache: CompileCache | None = None,
    program_hash: str | None = None,
) -> tuple[Executable, str]:
    """Compile ``program`` on ``backend`` through ``cache`` (default: :func:`default_cache`):
    ``(executable, outcome)`` with outcome "hit", "miss" or "off" (CompileCache.compile)."""
    if cache is None:
        if not enabled_by_env() or not can_export(backend):
            return backend.compile(program, options), "off"
        cache = default_cache()
    return cache.compile(backend, program, options, program_hash)
