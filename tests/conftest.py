"""Each test starts with a fresh default graph; the verifier checks every program."""

from __future__ import annotations

import os

import pytest

# The verifier runs after lowering and after every pass throughout the suite.
os.environ.setdefault("GRAPHC_VERIFY", "1")


@pytest.fixture(autouse=True)
def _fresh_graph():  # type: ignore[no-untyped-def]
    import graphc

    graphc.reset_default_graph()
    yield
    graphc.reset_default_graph()
