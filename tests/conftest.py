"""Each test starts with a fresh default graph; the verifier checks every program; the
suite's compile cache is a folder of its own (never the user's)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# The verifier runs after lowering and after every pass throughout the suite.
os.environ.setdefault("GRAPHC_VERIFY", "1")

# One compile cache for the whole run (programs that recur across tests load their code),
# removed at the end; a test about the cache uses its own folder. Under pytest-xdist the
# controller sets it before the workers start, so they share it.
if "GRAPHC_CACHE_DIR" not in os.environ:
    _cache_dir = tempfile.mkdtemp(prefix="graphc-test-cache-")
    os.environ["GRAPHC_CACHE_DIR"] = _cache_dir
    atexit.register(shutil.rmtree, _cache_dir, True)


@pytest.fixture(autouse=True)
def _fresh_graph():  # type: ignore[no-untyped-def]
    import graphc

    graphc.reset_default_graph()
    yield
    graphc.reset_default_graph()
