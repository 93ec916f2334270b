"""Reading a data file whole, with errors that name it."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from graphc import errors


def data_loss(path: str | os.PathLike[str], problem: str) -> errors.DataLossError:
    """A DataLossError naming ``path`` and what is wrong with it."""
    return errors.DataLossError(None, None, f"{os.fspath(path)}: {problem}")


def find(directory: str | os.PathLike[str], names: list[str], what: str) -> Path:
    """The first of ``names`` that exists in ``directory``; FileNotFoundError naming them all."""
    base = Path(directory)
    for name in names:
        p = base / name
        if p.is_file():
            return p
    raise FileNotFoundError(f"{what}: none of {names} found in {os.fspath(base)}")


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, decompressed if it is gzipped (by its magic, not its name)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{os.fspath(p)}: no such file")
    raw = p.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise data_loss(p, f"corrupt or truncated gzip data ({exc})") from None
