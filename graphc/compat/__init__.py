"""``graphc.compat.v1`` is graphc itself: its namespace already is TF1's."""

from graphc.compat import v1

__all__ = ["v1"]
