"""One cold-start measurement for the suite's ``compile`` case, run in a fresh process.

    python3 benchmarks/suite_probe.py graphc BACKEND BATCH
    python3 benchmarks/suite_probe.py jax BATCH

graphc: the MLP training step's graph is built, the backend loaded and the variables
initialised first (their times are reported apart: ``session_s`` includes importing the
backend's modules, ``init_s`` compiling and running the initializer); the step's compile
is the first step's time minus a warm step's: lowering, the passes, and the backend's
compile or its load from the cache. ``GRAPHC_CACHE_DIR`` (set by the caller) decides
whether the compile cache starts empty. JAX: the clock covers the first call of
the jitted step. Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402 - after the path, like the suite's other modules
import suite_models as models  # noqa: E402


def _warm(call: Callable[[], Any], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def probe_graphc(backend: str, batch: int) -> dict[str, float]:
    import graphc as tf

    params = models.mlp_params()
    x, y = models.classification_batch((batch, 784))
    graph = tf.Graph()
    with graph.as_default():
        parts = models.tf1_mlp(tf, params, train=True)
    t0 = time.perf_counter()
    sess = tf.Session(graph=graph, backend=backend)
    t1 = time.perf_counter()
    sess.run(parts["init"])
    t2 = time.perf_counter()
    call, how = models.tf1_runner(
        sess, [parts["train"], parts["loss"]], [parts["x"], parts["y"]], [x, y], True
    )
    t2 = time.perf_counter()
    call()
    t3 = time.perf_counter()
    warm = _warm(call)
    return {
        "session_s": t1 - t0,
        "init_s": t2 - t1,
        "first_step_s": t3 - t2,
        "warm_step_s": warm,
        "compile_s": (t3 - t2) - warm,
        "call": how,  # type: ignore[dict-item]
    }


def probe_jax(batch: int) -> dict[str, float]:
    params = models.mlp_params()
    x, y = models.classification_batch((batch, 784))
    call = models.jax_mlp_step(params, x, y)
    t0 = time.perf_counter()
    np.asarray(call())
    t1 = time.perf_counter()
    warm = _warm(call)
    return {"first_call_s": t1 - t0, "warm_step_s": warm, "compile_s": (t1 - t0) - warm}


def main(argv: list[str]) -> int:
    if argv[0] == "graphc":
        out = probe_graphc(argv[1], int(argv[2]))
    elif argv[0] == "jax":
        out = probe_jax(int(argv[1]))
    else:
        raise SystemExit(f"unknown probe {argv[0]!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
