"""TF1's error classes. Each ``OpError`` names the op and where the user created it."""

from __future__ import annotations

from typing import Any


class OpError(Exception):
    """An error raised while running a graph.

    ``node_def``/``op`` name the frontend op that failed (or None), and the
    message ends with the file and line of user code that created it.
    """

    error_code = 2

    def __init__(self, node_def: Any, op: Any, message: str, *args: Any) -> None:
        self.node_def = node_def
        self.op = op
        self.message = message
        where = getattr(op, "location", None)
        text = message
        if op is not None:
            text = f"{message}\n  [[op {op.name!r} ({op.type}), created at {where}]]"
        super().__init__(text)


class CancelledError(OpError):
    error_code = 1


class UnknownError(OpError):
    error_code = 2


class InvalidArgumentError(OpError):
    error_code = 3


class DeadlineExceededError(OpError):
    error_code = 4


class NotFoundError(OpError):
    error_code = 5


class AlreadyExistsError(OpError):
    error_code = 6


class PermissionDeniedError(OpError):
    error_code = 7


class ResourceExhaustedError(OpError):
    error_code = 8


class FailedPreconditionError(OpError):
    error_code = 9


class AbortedError(OpError):
    error_code = 10


class OutOfRangeError(OpError):
    error_code = 11


class UnimplementedError(OpError):
    error_code = 12


class InternalError(OpError):
    error_code = 13


class UnavailableError(OpError):
    error_code = 14


class DataLossError(OpError):
    error_code = 15


class UnauthenticatedError(OpError):
    error_code = 16
