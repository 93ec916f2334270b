"""The default-session stack (TF1's ``get_default_session``).

It lives in the frontend, below the runtime, because ``Tensor.eval``,
``Operation.run`` and ``Variable.load`` need the default session while the
Session class itself sits above them: a Session pushes itself onto this stack
(``with sess.as_default()``) and the frontend only ever calls the small
interface below (``run``, ``graph``, ``_load_variable``).
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def session_stack() -> list[Any]:
    """This thread's stack of default sessions (TF1 keeps one per thread)."""
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def get_default_session() -> Any:
    """The innermost session of ``with sess.as_default()`` on this thread, or None."""
    stack = session_stack()
    return stack[-1] if stack else None


def clear_interactive_sessions() -> None:
    """Drop InteractiveSessions from the stack (``reset_default_graph`` does, as in TF1)."""
    stack = session_stack()
    stack[:] = [s for s in stack if not getattr(s, "_is_interactive", False)]


def session_for(session: Any, graph: Any) -> Any:
    """The session that ``eval``/``run`` on an object of ``graph`` should use."""
    sess = session or get_default_session()
    if sess is None:
        raise ValueError(
            "Cannot evaluate tensor using `eval()`: No default session is registered. Use "
            "`with sess.as_default()` or pass an explicit session to `eval(session=sess)`"
        )
    if sess.graph is not graph:
        raise ValueError(
            "Cannot use the given session to evaluate tensor: the tensor's graph is different from the session's graph."
        )
    return sess
