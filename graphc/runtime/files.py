"""Files written whole or not at all: the compile cache's entries and saved artifacts.

:func:`write_atomically` writes to a temporary file in the destination's folder, flushes
and fsyncs it, renames it over the destination (``os.replace``, atomic within one file
system) and fsyncs the folder, so a reader sees the old file or the whole new one, and a
crash leaves no half-written file under the final name. Checkpoints
(graphc/train/checkpoint_format.py) add locking of their temporary files on top of the
same steps.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable


def write_atomically(path: str | os.PathLike[str], chunks: Iterable[bytes], prefix: str = ".graphc-") -> None:
    """Write ``chunks``, in order, as the file ``path`` (module docstring). On any failure
    the temporary file is removed and the exception propagates; ``path`` is unchanged."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable (best effort: not every platform can open a folder)."""
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
