"""Each test starts with a fresh default graph and no default session."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_graph():  # type: ignore[no-untyped-def]
    import graphc

    graphc.reset_default_graph()
    yield
    graphc.reset_default_graph()
