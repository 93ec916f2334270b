"""The on-disk compile cache: compiled code kept between processes, for every backend that
can export it (``Backend.cache_identity``/``export``/``load``, graphc/runtime/backend.py).

Where: the ``directory`` argument, else ``$GRAPHC_CACHE_DIR``, else the user's cache
directory (``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``). ``GRAPHC_CACHE=0``
switches caching off.

The key (:func:`key_parts`) names everything compiled code depends on: the program's
content hash (its serialised bytes after the passes), graphc's version, the backend's
name and identity (its and its compiler's versions, the target triple, the CPU name and
features) and every option that changes code. An entry is one file named by the sha256
of those parts: a magic line, the manifest's length, the manifest (JSON: the key parts,
the payload's length and sha256, when it was made) and the payload (the exported code).

- Writes are atomic: a temporary file in the same folder, flushed and fsynced, then
  renamed over the entry. Two processes compiling one program at once both succeed
  (the later rename wins; both entries are whole).
- Reads verify the magic, the manifest, that its key parts are the ones wanted, the
  payload's length and checksum. An entry that fails (truncated, corrupted, foreign), or
  whose code the backend refuses to load, is never run: it is moved to ``quarantine/``
  with a :class:`CacheWarning` saying why, and the program is compiled and stored again.
- A size limit (``max_bytes``, ``$GRAPHC_CACHE_MAX_BYTES``, default 1 GiB) with
  least-recently-used eviction: a hit refreshes its entry's time; after a store the
  oldest entries go until the cache fits (never the one just written).
- :meth:`CompileCache.explain_miss` says which parts of the key differ from the nearest
  stored entries (``GRAPHC_CACHE_EXPLAIN=1`` prints it on every miss).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphc.ir.program import Program
from graphc.runtime.backend import Backend, CompileOptions, Executable, can_export

MAGIC = b"GRAPHC-COMPILE-CACHE 1\n"
SUFFIX = ".entry"
DEFAULT_MAX_BYTES = 1 << 30
_MAX_MANIFEST = 1 << 20


class CacheWarning(UserWarning):
    """A cache entry was refused (and moved aside), or the cache could not be written."""


def default_directory() -> Path:
    env = os.environ.get("GRAPHC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "graphc"


def enabled() -> bool:
    return os.environ.get("GRAPHC_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def graphc_version() -> str:
    try:
        return importlib.metadata.version("graphc")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def key_parts(backend: Backend, program: Program, options: CompileOptions) -> dict[str, str]:
    """Everything the compiled code of ``program`` depends on, by name."""
    parts = {
        "program": program.content_hash(),
        "graphc": graphc_version(),
        "backend": backend.name,
        "options": options.cache_key(),
    }
    for k, v in sorted(backend.cache_identity().items()):  # type: ignore[attr-defined]
        parts[f"backend.{k}"] = str(v)
    return parts


def entry_key(parts: Mapping[str, str]) -> str:
    text = json.dumps(dict(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CompileCache:
    """One cache directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, max_bytes: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_directory()
        if max_bytes is None:
            env = os.environ.get("GRAPHC_CACHE_MAX_BYTES", "").strip()
            max_bytes = int(env) if env else DEFAULT_MAX_BYTES
        self.max_bytes = int(max_bytes)
        self.stats = {"hits": 0, "misses": 0, "stores": 0, "corrupt": 0, "evicted": 0}

    # -- files ----------------------------------------------------------------------------
    def path_of(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def _files(self) -> list[Path]:
        try:
            return [p for p in self.directory.iterdir() if p.name.endswith(SUFFIX) and p.is_file()]
        except FileNotFoundError:
            return []

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, Any], bytes]:
        """The manifest and payload of an entry file; ValueError says what is wrong."""
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            raise ValueError("not a graphc cache entry (bad magic)")
        at = len(MAGIC)
        if len(data) < at + 8:
            raise ValueError("truncated before the manifest")
        n = int.from_bytes(data[at : at + 8], "little")
        if n > _MAX_MANIFEST or len(data) < at + 8 + n:
            raise ValueError("truncated manifest")
        try:
            manifest = json.loads(data[at + 8 : at + 8 + n])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"unreadable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != 1:
            raise ValueError("unknown manifest format")
        payload = data[at + 8 + n :]
        if len(payload) != manifest.get("payload_bytes"):
            raise ValueError(f"payload is {len(payload)} bytes, the manifest says {manifest.get('payload_bytes')}")
        if hashlib.sha256(payload).hexdigest() != manifest.get("payload_sha256"):
            raise ValueError("payload checksum mismatch")
        return manifest, payload

    def _quarantine(self, path: Path, why: str) -> None:
        self.stats["corrupt"] += 1
        aside = self.directory / "quarantine"
        try:
            aside.mkdir(parents=True, exist_ok=True)
            os.replace(path, aside / f"{path.name}.{int(time.time() * 1e6)}")
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
        warnings.warn(f"graphc compile cache: refused entry {path.name} ({why}); recompiling", CacheWarning, stacklevel=3)

    # -- the cache ------------------------------------------------------------------------
    def get(self, parts: Mapping[str, str]) -> bytes | None:
        """The payload stored for ``parts``, verified; None on a miss or a refused entry."""
        path = self.path_of(entry_key(parts))
        if not path.exists():
            return None
        try:
            manifest, payload = self._read(path)
            if manifest.get("parts") != dict(parts):
                raise ValueError("its key parts are not this program's (a foreign entry)")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._quarantine(path, str(exc))
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used: a hit is a use
        return payload

    def refuse(self, parts: Mapping[str, str], why: str) -> None:
        """Move an entry aside whose code the backend could not load."""
        path = self.path_of(entry_key(parts))
        if path.exists():
            self._quarantine(path, why)

    def put(self, parts: Mapping[str, str], payload: bytes) -> None:
        """Store ``payload`` for ``parts`` atomically, then evict down to the size limit."""
        key = entry_key(parts)
        manifest = {
            "format": 1,
            "key": key,
            "parts": dict(parts),
            "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "created": time.time(),
        }
        head = json.dumps(manifest, sort_keys=True).encode()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC + len(head).to_bytes(8, "little") + head + payload)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path_of(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            warnings.warn(f"graphc compile cache: cannot write to {self.directory} ({exc})", CacheWarning, stacklevel=3)
            return
        self.stats["stores"] += 1
        self._evict(keep=self.path_of(key))

    def _evict(self, keep: Path) -> None:
        files = []
        for p in self._files():
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files, key=lambda t: t[0]):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size
                self.stats["evicted"] += 1

    def _manifests(self) -> list[tuple[Path, dict[str, Any]]]:
        out = []
        for p in self._files():
            try:
                with p.open("rb") as f:
                    head = f.read(len(MAGIC) + 8)
                    if not head.startswith(MAGIC):
                        continue
                    n = int.from_bytes(head[len(MAGIC) :], "little")
                    if n > _MAX_MANIFEST:
                        continue
                    manifest = json.loads(f.read(n))
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict):
                out.append((p, manifest))
        return out

    def explain_miss(self, parts: Mapping[str, str]) -> str:
        """Why ``parts`` missed: which key parts differ from the nearest stored entries."""
        stored = [m.get("parts", {}) for _, m in self._manifests()]
        same_program = [s for s in stored if s.get("program") == parts.get("program")]
        near = same_program or [s for s in stored if s.get("backend") == parts.get("backend")]
        if not near:
            return f"no entry for this program or backend in {self.directory}"
        lines = [] if same_program else ["no entry for this program; nearest entries of the same backend:"]
        for s in near[:3]:
            diff = [k for k in sorted(set(parts) | set(s)) if parts.get(k) != s.get(k)]
            if not diff:
                lines.append("an entry with this key exists (it was refused or removed)")
                continue
            lines.append(
                "; ".join(f"{k} differs: {_short(s.get(k))} stored, {_short(parts.get(k))} now" for k in diff)
            )
        return "\n".join(lines)

    def info(self) -> dict[str, Any]:
        files = self._files()
        return {
            "directory": str(self.directory),
            "entries": len(files),
            "bytes": sum(p.stat().st_size for p in files if p.exists()),
            "max_bytes": self.max_bytes,
            "enabled": enabled(),
        }

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for p, m in self._manifests():
            st = p.stat()
            parts = m.get("parts", {})
            out.append(
                {
                    "key": p.name[: -len(SUFFIX)],
                    "backend": parts.get("backend", "?"),
                    "program": str(parts.get("program", ""))[:12],
                    "bytes": st.st_size,
                    "last_used": st.st_mtime,
                }
            )
        return sorted(out, key=lambda e: -e["last_used"])

    def clear(self) -> int:
        n = 0
        for p in self._files():
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
        return n


def _short(v: Any) -> str:
    s = "(none)" if v is None else str(v)
    return s if len(s) <= 60 else s[:57] + "..."


_default: CompileCache | None = None


def default_cache() -> CompileCache:
    """The cache of ``default_directory()`` (made again when the environment changes it)."""
    global _default
    want = default_directory()
    if _default is None or _default.directory != want:
        _default = CompileCache(want)
    return _default


def compile_cached(
    backend: Backend, program: Program, options: CompileOptions, cache: CompileCache | None = None
) -> tuple[Executable, str]:
    """``backend.compile(program, options)`` through the cache: ("hit": loaded, nothing
    compiled), ("miss": compiled and stored) or ("off": the backend cannot export, caching
    is off, or this executable has no code to keep)."""
    if not enabled() or not can_export(backend):
        return backend.compile(program, options), "off"
    cache = cache if cache is not None else default_cache()
    parts = key_parts(backend, program, options)
    payload = cache.get(parts)
    if payload is not None:
        try:
            exe = backend.load(program, payload, options)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001  (a stored entry that does not load is refused, never fatal)
            cache.refuse(parts, f"the backend could not load it: {type(exc).__name__}: {exc}")
        else:
            cache.stats["hits"] += 1
            return exe, "hit"
    cache.stats["misses"] += 1
    if os.environ.get("GRAPHC_CACHE_EXPLAIN", "") not in ("", "0"):
        print(f"graphc compile cache miss: {cache.explain_miss(parts)}", file=sys.stderr)
    exe = backend.compile(program, options)
    try:
        code = backend.export(exe)  # type: ignore[attr-defined]
    except TypeError:
        return exe, "off"  # e.g. a program the backend ran on its interpreter
    cache.put(parts, code)
    return exe, "miss"
