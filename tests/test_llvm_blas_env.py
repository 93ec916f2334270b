"""The settings graphc gives its BLAS while loading it: put in place only for the load
(OpenBLAS reads them then), never over a user's own, and removed afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("llvmlite")
from graphc_llvm import blas  # noqa: E402


def test_thread_timeout_is_set_only_while_the_library_loads(monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    with blas._kernel_choice():
        assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == blas.THREAD_TIMEOUT
    assert "OPENBLAS_THREAD_TIMEOUT" not in os.environ


def test_a_users_own_thread_timeout_is_kept(monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "25")
    with blas._kernel_choice():
        assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "25"
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "25"


def test_a_fresh_process_loads_the_blas_and_its_environment_is_as_before() -> None:
    code = (
        "import os\n"
        "from graphc_llvm import blas\n"
        "before = dict(os.environ)\n"
        "path = blas.library()\n"
        "assert os.path.exists(path), path\n"
        "assert dict(os.environ) == before\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
