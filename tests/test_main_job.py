"""The README's main job (examples/keras/mlp_sequential.py) learns, and its figures agree
with an independent computation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the main job trains on sklearn's bundled digits")

PATH = Path(__file__).resolve().parent.parent / "examples" / "keras" / "mlp_sequential.py"


def _load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("mlp_sequential", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_main_job_learns_and_reports_macro_precision_and_recall() -> None:
    job = _load()
    m = job.main(epochs=4, verbose=0)
    assert m["test_accuracy"] >= 0.85
    cm = np.asarray(m["confusion_matrix"])
    assert cm.shape == (10, 10)
    # Macro precision and recall from the confusion matrix, computed here independently.
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(np.diag(cm) / cm.sum(axis=0)).mean()
        recall = np.nan_to_num(np.diag(cm) / cm.sum(axis=1)).mean()
    assert m["precision"] == pytest.approx(precision, abs=1e-6)
    assert m["recall"] == pytest.approx(recall, abs=1e-6)
    assert np.trace(cm) / cm.sum() == pytest.approx(m["test_accuracy"], abs=1e-4)
    # One program per step (training, evaluation, prediction), reused for every batch size.
    assert m["compiled_programs"] == 3
    assert len(m["history"]["loss"]) == 4 and m["history"]["loss"][-1] < m["history"]["loss"][0]


def test_a_second_run_loads_its_steps_from_the_on_disk_cache(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from graphc.runtime.backend import available_backends

    if "llvm" not in available_backends():
        pytest.skip("the LLVM backend (which keeps compiled code on disk) is not available")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"), GRAPHC_BACKEND="llvm")
    cmd = [sys.executable, str(PATH), "--epochs", "2"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "compiled and stored in the on-disk compile cache" in first.stdout
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "compiled units came from the on-disk compile cache" in second.stdout
