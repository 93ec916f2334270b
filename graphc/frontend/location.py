"""Where in user code an op was created: the first frame outside graphc."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SKIP = (_PKG_DIR, os.path.dirname(os.__file__) + os.sep + "contextlib.py")


@dataclass(frozen=True)
class Location:
    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} (in {self.function})"


UNKNOWN = Location("<unknown>", 0, "?")


def user_location() -> Location:
    """The innermost stack frame that is not graphc's own code (nor contextlib)."""
    frame = sys._getframe(1)
    while frame is not None:
        fname = frame.f_code.co_filename
        if not fname.startswith(_SKIP[0]) and fname != _SKIP[1]:
            return Location(fname, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back  # type: ignore[assignment]
    return UNKNOWN
