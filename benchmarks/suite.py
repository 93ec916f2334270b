"""graphc's benchmark suite: each case measured on graphc's backends, hand-written NumPy
and the installed peers (JAX; TensorFlow 1 graph mode and PyTorch when they import),
side by side in one run.

    python3 benchmarks/suite.py [--quick] [--cases mlp_step,overhead] [--backends numpy,llvm]
                                [--repeats N] [--threads N] [--json PATH] [--png PATH]
    graphc bench [same options]

Every implementation of a case starts from the same values and is value-checked against
the hand-written NumPy one before it is timed; calls are interleaved across
implementations (the order rotates every repeat) after a warm-up, and the report is the
median per-call time of the repeats, its ratio to graphc's NumPy backend and to
hand-written NumPy, and each case's own figure (GB/s, µs per call, ratio to the matmuls).
A case that fails on an implementation shows the error in its cell; the suite goes on.
See benchmarks/README.md for what each case measures and the targets.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# `graphc bench` loads this file by path, so its sibling modules are found through it.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import suite_models as models  # noqa: E402
import suite_timing as timing  # noqa: E402
from suite_timing import Case, Config, Impl  # noqa: E402

CASES = ("mlp_step", "mlp_fwd", "elementwise", "softmax_ce", "cnn_step", "overhead", "compile")
PEERS = ("jax", "tensorflow", "torch")
HAND = "numpy (hand)"


# -- implementations of TF1-style graphs ------------------------------------------------------


def _graphc_session(backend: str, graph: Any) -> Any:
    import graphc

    return graphc.Session(graph=graph, backend=backend)


def _tf_session(tfv1: Any, graph: Any, threads: int) -> Any:
    config = tfv1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    return tfv1.Session(graph=graph, config=config)


def _tf1_impl(
    name: str,
    tf: Any,
    make_session: Callable[[Any], Any],
    build: Callable[[Any], dict[str, Any]],
    fetches: list[str],
    feeds: list[str],
    values: list[Any],
    post: Callable[[Any], Any],
    callable_: bool = True,
) -> Impl:
    """Build the graph with ``tf`` (graphc or tensorflow.compat.v1), open a session, run
    its initializer, and wrap one ``fetches`` run as the implementation's call."""
    try:
        graph = tf.Graph()
        with graph.as_default():
            parts = build(tf)
        sess = make_session(graph)
        if "init" in parts:
            sess.run(parts["init"])
        call, how = models.tf1_runner(
            sess, [parts[k] for k in fetches], [parts[k] for k in feeds], values, callable_
        )
        return Impl(name, call=lambda: post(call()), note=how)
    except Exception as exc:  # noqa: BLE001 - reported in the cell
        return Impl(name, error=timing.describe(exc))


def tf1_impls(
    cfg: Config,
    build: Callable[[Any], dict[str, Any]],
    fetches: list[str],
    feeds: list[str],
    values: list[Any],
    post: Callable[[Any], Any] = lambda out: out,
    callable_: bool = True,
    suffix: str = "",
) -> list[Impl]:
    """One implementation per graphc backend, and TensorFlow's when it imported."""
    import graphc

    out = [
        _tf1_impl(
            f"graphc[{b}]{suffix}",
            graphc,
            lambda g, b=b: _graphc_session(b, g),
            build,
            fetches,
            feeds,
            values,
            post,
            callable_,
        )
        for b in cfg.backends
    ]
    tfv1 = cfg.peers.get("tensorflow")
    if not isinstance(tfv1, str) and tfv1 is not None:
        out.append(
            _tf1_impl(
                f"tensorflow{suffix}",
                tfv1,
                lambda g: _tf_session(tfv1, g, cfg.threads),
                build,
                fetches,
                feeds,
                values,
                post,
                callable_,
            )
        )
    elif isinstance(tfv1, str):
        out.append(Impl(f"tensorflow{suffix}", error=tfv1))
    return out


def peer_impl(cfg: Config, peer: str, name: str, factory: Callable[[], Callable[[], Any]]) -> Impl | None:
    """A JAX or PyTorch implementation, or its cell's "n/a"/error when the peer did not
    import or the factory fails; None (no row) when ``--peers`` left it out."""
    mod = cfg.peers.get(peer)
    if mod is None:
        return None
    if isinstance(mod, str):
        return Impl(name, error=mod)
    try:
        return Impl(name, call=factory(), note="jit" if peer == "jax" else "")
    except Exception as exc:  # noqa: BLE001
        return Impl(name, error=timing.describe(exc))


def hand_impl(factory: Callable[[], Callable[[], Any]]) -> Impl:
    try:
        return Impl(HAND, call=factory())
    except Exception as exc:  # noqa: BLE001
        return Impl(HAND, error=timing.describe(exc))


# -- the value check --------------------------------------------------------------------------


def check(impls: list[Impl], calls: int, rtol: float, atol: float) -> None:
    """Call every implementation ``calls`` times from its initial state and compare the
    results with hand-written NumPy's (for a training step: the loss before and after one
    Adam step, so the gradient and the update are checked too). These calls also warm up
    (compile) each implementation."""
    ref_impl = next((im for im in impls if im.name == HAND and im.error is None), None)
    ref = None
    if ref_impl is not None:
        try:
            ref = [_host(ref_impl.call()) for _ in range(calls)]
            ref_impl.check = "reference"
        except Exception as exc:  # noqa: BLE001
            ref_impl.error = timing.describe(exc)
    for im in impls:
        if im is ref_impl or im.error is not None or im.reference:
            continue
        try:
            got = [_host(im.call()) for _ in range(calls)]
        except Exception as exc:  # noqa: BLE001
            im.error = timing.describe(exc)
            continue
        im.check = "unchecked" if ref is None else timing.compare(got, ref, rtol, atol)


def _host(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_host(v) for v in x]
    return np.array(x)


def run_case(
    cfg: Config, name: str, impls: list[Impl | None], rtol: float, atol: float, calls: int = 1, **info: Any
) -> Case:
    """Check, then time, the case's implementations (None: a peer left out)."""
    impls = [im for im in impls if im is not None]
    check(impls, calls, rtol, atol)
    timing.measure(impls, cfg.repeats, cfg.warmup, cfg.sample_s)
    return Case(name, impls, info)


# -- the cases --------------------------------------------------------------------------------


def case_mlp_step(cfg: Config) -> list[Case]:
    batch = cfg.sizes["mlp_batch"]
    params = models.mlp_params()
    x, y = models.classification_batch((batch, 784))
    impls: list[Impl | None] = [hand_impl(lambda: (lambda m: lambda: m.step(x, y))(models.NumpyMLP(params)))]
    impls += tf1_impls(
        cfg,
        lambda tf: models.tf1_mlp(tf, params, train=True),
        ["train", "loss"],
        ["x", "y"],
        [x, y],
        post=lambda out: out[1],
    )
    impls.append(peer_impl(cfg, "jax", "jax", lambda: models.jax_mlp_step(params, x, y)))
    impls.append(peer_impl(cfg, "torch", "torch", lambda: models.torch_mlp_step(params, x, y)))
    try:
        sgemm = timing.Sgemm()
        sgemm.set_threads(cfg.threads)
        impls.append(
            Impl(
                "matmuls alone (BLAS)", call=models.matmul_plan(sgemm, batch), reference=True, note="8 sgemm"
            )
        )
    except Exception as exc:  # noqa: BLE001
        impls.append(Impl("matmuls alone (BLAS)", error=timing.describe(exc), reference=True))
    case = run_case(
        cfg, "mlp_step", impls, rtol=1e-3, atol=1e-5, calls=2, batch=batch, layers="784-256-256-10"
    )
    mm = next((im.median for im in case.impls if im.reference and im.median), None)
    for im in case.impls:
        if mm and im.median and not im.reference:
            im.extra["x_matmuls"] = im.median / mm
    return [case]


def case_mlp_fwd(cfg: Config) -> list[Case]:
    params = models.mlp_params()
    ref = models.NumpyMLP(params)
    out = []
    for batch in cfg.sizes["fwd_batches"]:
        x, _ = models.classification_batch((batch, 784))
        impls: list[Impl | None] = [hand_impl(lambda x=x: lambda: ref.forward(x)[-1])]
        impls += tf1_impls(cfg, lambda tf: models.tf1_mlp(tf, params, train=False), ["logits"], ["x"], [x])
        impls.append(peer_impl(cfg, "jax", "jax", lambda x=x: models.jax_mlp_forward(params, x)))
        impls.append(peer_impl(cfg, "torch", "torch", lambda x=x: models.torch_mlp_forward(params, x)))
        out.append(run_case(cfg, f"mlp_fwd_b{batch}", impls, rtol=1e-4, atol=1e-4, batch=batch))
    return out


def case_elementwise(cfg: Config) -> list[Case]:
    n = cfg.sizes["ew_elements"]
    x = (np.random.default_rng(3).standard_normal(n) * 2).astype(np.float32)
    impls: list[Impl | None] = [hand_impl(lambda: lambda: models.numpy_elementwise(x))]
    impls += tf1_impls(cfg, models.tf1_elementwise, ["out"], ["x"], [x])
    impls.append(peer_impl(cfg, "jax", "jax", lambda: models.jax_elementwise(x)))
    impls.append(peer_impl(cfg, "torch", "torch", lambda: models.torch_elementwise(x)))
    copy_s, copy_bw = timing.copy_bandwidth()
    case = run_case(cfg, "elementwise", impls, rtol=1e-4, atol=1e-5, elements=n, a=models.EW_A, b=models.EW_B)
    moved = 2 * 4 * n  # x read once, the result written once
    for im in case.impls:
        if im.median:
            im.extra["GB/s"] = moved / im.median / 1e9
            im.extra["of_copy_bw"] = moved / im.median / copy_bw
    copy = Impl("copy (np.copyto 64 MB)", reference=True, samples=[copy_s], check="-")
    copy.extra["GB/s"] = copy_bw / 1e9
    case.impls.append(copy)
    case.info.update(
        bytes_moved=moved, copy_bandwidth_GBps=copy_bw / 1e9, scalars="a, b are Python floats (constants)"
    )
    return [case]


def case_softmax_ce(cfg: Config) -> list[Case]:
    rows, cols = cfg.sizes["ce_shape"]
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
    labels = np.eye(cols, dtype=np.float32)[rng.integers(0, cols, rows)]
    impls: list[Impl | None] = [hand_impl(lambda: lambda: models.numpy_softmax_ce(logits, labels))]
    impls += tf1_impls(cfg, models.tf1_softmax_ce, ["ce", "grad"], ["logits", "labels"], [logits, labels])
    impls.append(peer_impl(cfg, "jax", "jax", lambda: models.jax_softmax_ce(logits, labels)))
    impls.append(peer_impl(cfg, "torch", "torch", lambda: models.torch_softmax_ce(logits, labels)))
    return [run_case(cfg, "softmax_ce", impls, rtol=1e-4, atol=1e-6, shape=[rows, cols], labels="one-hot")]


def case_cnn_step(cfg: Config) -> list[Case]:
    batch = cfg.sizes["cnn_batch"]
    params = models.cnn_params()
    x, y = models.classification_batch((batch, 28, 28, 1))
    impls: list[Impl | None] = [hand_impl(lambda: (lambda m: lambda: m.step(x, y))(models.NumpyCNN(params)))]
    impls += tf1_impls(
        cfg,
        lambda tf: models.tf1_cnn(tf, params),
        ["train", "loss"],
        ["x", "y"],
        [x, y],
        post=lambda out: out[1],
    )
    impls.append(peer_impl(cfg, "jax", "jax", lambda: models.jax_cnn_step(params, x, y)))
    impls.append(peer_impl(cfg, "torch", "torch", lambda: models.torch_cnn_step(params, x, y)))
    return [run_case(cfg, "cnn_step", impls, rtol=1e-3, atol=1e-5, calls=2, batch=batch, layout="NHWC")]


def case_overhead(cfg: Config) -> list[Case]:
    one = np.float32(1.0)
    impls: list[Impl | None] = [hand_impl(lambda: lambda: one + np.float32(1.0))]
    for callable_, suffix in ((False, " run"), (True, " make_callable")):
        for im in tf1_impls(
            cfg, models.tf1_scalar, ["out"], ["x"], [one], callable_=callable_, suffix=suffix
        ):
            if callable_ and im.error is None and im.note != "make_callable":
                im.call, im.error = None, "Session has no make_callable"
            impls.append(im)
    impls.append(peer_impl(cfg, "jax", "jax", models.jax_scalar))
    impls.append(peer_impl(cfg, "torch", "torch", models.torch_scalar))
    case = run_case(cfg, "overhead", impls, rtol=0.0, atol=0.0, graph="x + 1 on a fed float32 scalar")
    for im in case.impls:
        if im.median:
            im.extra["us/call"] = im.median * 1e6
    return [case]


def case_compile(cfg: Config) -> list[Case]:
    """Cold compile and warm-cache load of the MLP step, each in a new process (see
    suite_probe.py); the samples are interleaved across implementations too."""
    batch = cfg.sizes["mlp_batch"]
    env = dict(os.environ, **timing.thread_env(cfg.threads))
    probe = str(HERE / "suite_probe.py")
    rows: dict[str, Impl] = {}
    for b in cfg.backends:
        rows[f"graphc[{b}] cold"] = Impl(f"graphc[{b}] cold", note="empty GRAPHC_CACHE_DIR")
        rows[f"graphc[{b}] warm cache"] = Impl(f"graphc[{b}] warm cache", note="second process, same cache")
    jax_ok = not isinstance(cfg.peers.get("jax"), str) and cfg.peers.get("jax") is not None
    rows["jax first call"] = Impl(
        "jax first call", error=None if jax_ok else str(cfg.peers.get("jax", "n/a"))
    )
    details: dict[str, list[dict[str, Any]]] = {k: [] for k in rows}

    def sample(name: str, args: list[str], cache: str | None) -> None:
        im = rows[name]
        if im.error is not None:
            return
        penv = dict(env, GRAPHC_CACHE_DIR=cache) if cache else env
        proc = subprocess.run(
            [sys.executable, probe, *args], env=penv, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            im.error = f"probe failed: {lines[-1] if lines else proc.returncode}"[:200]
            return
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        details[name].append(out)
        im.samples.append(max(out["compile_s"], 0.0))

    cache_files: dict[str, list[int]] = {}
    reps = max(1, cfg.repeats // 5)
    for _ in range(reps):
        for b in cfg.backends:
            with tempfile.TemporaryDirectory(prefix="graphc-bench-cache-") as cache:
                sample(f"graphc[{b}] cold", ["graphc", b, str(batch)], cache)
                # Whether the backend wrote an on-disk cache at all: without one, the warm
                # row measures a second cold start.
                cache_files.setdefault(b, []).append(sum(len(f) for _, _, f in os.walk(cache)))
                sample(f"graphc[{b}] warm cache", ["graphc", b, str(batch)], cache)
        sample("jax first call", ["jax", str(batch)], None)
    for name, im in rows.items():
        im.reference = True  # no ratios: the backends' compile times are not comparable work
        im.check = "-"
        if im.median is not None:
            im.extra["ms"] = im.median * 1e3
            im.extra["probes"] = details[name]
        backend = name[len("graphc[") : name.find("]")] if name.startswith("graphc[") else None
        if backend in cache_files:
            im.extra["cache_files"] = max(cache_files[backend])
    return [Case("compile", list(rows.values()), {"batch": batch, "repeats": reps})]


CASE_FUNCS: dict[str, Callable[[Config], list[Case]]] = {
    "mlp_step": case_mlp_step,
    "mlp_fwd": case_mlp_fwd,
    "elementwise": case_elementwise,
    "softmax_ce": case_softmax_ce,
    "cnn_step": case_cnn_step,
    "overhead": case_overhead,
    "compile": case_compile,
}


# -- targets ----------------------------------------------------------------------------------


def _base(case: Case) -> float | None:
    """The case's graphc NumPy-backend time (``graphc[numpy]``, or its ``run`` row)."""
    return next((im.median for im in case.impls if im.name.split(" ")[0] == "graphc[numpy]"), None)


def _median(case: Case | None, name: str) -> float | None:
    if case is None:
        return None
    return next((im.median for im in case.impls if im.name == name), None)


def evaluate_targets(cases: list[Case], backends: list[str]) -> list[dict[str, Any]]:
    """The product's goals on this machine, each evaluated for every graphc backend run:
    measured value, the bound, and whether it is met (None where a side is missing)."""
    by = {c.name: c for c in cases}
    out: list[dict[str, Any]] = []

    def add(case: str, goal: str, value: float | None, bound: float | None, unit: str, backend: str) -> None:
        met = None if value is None or bound is None else value <= bound
        out.append(
            {
                "case": case,
                "backend": backend,
                "goal": goal,
                "value": value,
                "bound": bound,
                "unit": unit,
                "met": met,
            }
        )

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    for b in backends:
        g = f"graphc[{b}]"
        c = by.get("mlp_step")
        if c:
            add(
                "mlp_step",
                "step / its matmuls alone <= 1.2",
                ratio(_median(c, g), _median(c, "matmuls alone (BLAS)")),
                1.2,
                "x",
                b,
            )
            add("mlp_step", "step / JAX <= 1", ratio(_median(c, g), _median(c, "jax")), 1.0, "x", b)
        c = by.get("elementwise")
        if c:
            add("elementwise", "chain / JAX <= 1", ratio(_median(c, g), _median(c, "jax")), 1.0, "x", b)
            add(
                "elementwise",
                "chain / hand NumPy <= 0.1",
                ratio(_median(c, g), _median(c, HAND)),
                0.1,
                "x",
                b,
            )
            im = next((i for i in c.impls if i.name == g), None)
            frac = im.extra.get("of_copy_bw") if im else None
            add("elementwise", "copy bandwidth / chain's <= 2 (aim)", 1 / frac if frac else None, 2.0, "x", b)
        for name in ("softmax_ce", "cnn_step"):
            c = by.get(name)
            if c:
                add(name, "time / JAX <= 1", ratio(_median(c, g), _median(c, "jax")), 1.0, "x", b)
        c = by.get("overhead")
        if c:
            run, mc = _median(c, f"{g} run"), _median(c, f"{g} make_callable")
            add("overhead", "Session.run < 10 µs", run * 1e6 if run else None, 10.0, "µs", b)
            add("overhead", "make_callable call < 5 µs", mc * 1e6 if mc else None, 5.0, "µs", b)
        c = by.get("compile")
        if c:
            cold, warm = _median(c, f"{g} cold"), _median(c, f"{g} warm cache")
            add("compile", "cold compile < 0.5 s", cold, 0.5, "s", b)
            add("compile", "warm-cache load < 30 ms", warm * 1e3 if warm is not None else None, 30.0, "ms", b)
    return out


# -- output -----------------------------------------------------------------------------------


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _extra_text(im: Impl) -> str:
    e = im.extra
    parts = []
    if "x_matmuls" in e:
        parts.append(f"{e['x_matmuls']:.2f}x matmuls")
    if "GB/s" in e:
        parts.append(f"{e['GB/s']:.1f} GB/s")
        if "of_copy_bw" in e:
            parts.append(f"{100 * e['of_copy_bw']:.0f}% of copy")
    if "ms" in e:
        parts.append(f"{e['ms']:.1f} ms")
    if e.get("cache_files") == 0 and im.name.endswith("warm cache"):
        parts.append("no cache files written: a second cold start")
    if "us/call" in e:
        parts.append(f"{e['us/call']:.2f} µs/call")
    return ", ".join(parts)


def table(cases: list[Case]) -> str:
    header = ("case", "implementation", "median", "/graphc[numpy]", "/numpy(hand)", "check", "extra")
    lines = []
    for c in cases:
        base = _base(c)
        hand = _median(c, HAND)
        for im in c.impls:
            med = im.median
            r_base = f"{med / base:.2f}x" if med and base and not im.reference else ""
            r_hand = f"{med / hand:.2f}x" if med and hand and not im.reference else ""
            if im.error is not None:
                cells = (c.name, im.name, "", "", "", "", im.error)
            else:
                cells = (c.name, im.name, fmt_time(med), r_base, r_hand, im.check, _extra_text(im))
            lines.append(cells)
    widths = [max(len(header[i]), *(len(r[i]) for r in lines)) if lines else len(header[i]) for i in range(6)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header[:6], widths)) + "  " + header[6]]
    out.append("-" * (sum(widths) + 2 * 6 + len(header[6])))
    prev = None
    for r in lines:
        if prev is not None and r[0] != prev:
            out.append("")
        prev = r[0]
        out.append("  ".join(v.ljust(w) for v, w in zip(r[:6], widths)) + "  " + r[6])
    return "\n".join(out)


def targets_text(targets: list[dict[str, Any]]) -> str:
    out = ["targets (product goals on this machine):"]
    for t in targets:
        v = "-" if t["value"] is None else f"{t['value']:.3g} {t['unit']}"
        met = {True: "met", False: "NOT MET", None: "n/a"}[t["met"]]
        out.append(f"  {t['case']:<12} graphc[{t['backend']}]  {t['goal']:<38} measured {v:<12} {met}")
    return "\n".join(out)


def write_png(cases: list[Case], path: Path) -> str | None:
    """A horizontal bar chart of each case's median times (log scale); None when written,
    else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    shown = [c for c in cases if any(im.median for im in c.impls)]
    if not shown:
        return "no timings"
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(9, 1.2 + 0.35 * sum(len(c.impls) for c in shown)), squeeze=False
    )
    for ax, c in zip(axes[:, 0], shown):
        ims = [im for im in c.impls if im.median]
        ax.barh(
            [im.name for im in ims],
            [im.median * 1e3 for im in ims],
            color=["C0" if "graphc" in im.name else "C7" for im in ims],
        )
        ax.set_xscale("log")
        # Bars start well left of the fastest, so every bar's length shows on the log axis.
        lo, hi = min(im.median for im in ims) * 1e3, max(im.median for im in ims) * 1e3
        ax.set_xlim(lo / 3, hi * 3)
        for i, im in enumerate(ims):
            ax.text(im.median * 1e3, i, " " + fmt_time(im.median), va="center", fontsize=7)
        ax.set_title(c.name, fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.invert_yaxis()
    axes[-1, 0].set_xlabel("median time per call (ms, log scale)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def _versions(cfg: Config) -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("graphc", "llvmlite", "scipy_openblas32", "jax", "jaxlib", "matplotlib"):
        try:
            out[name] = str(getattr(importlib.import_module(name), "__version__", "?"))
        except Exception:  # noqa: BLE001 - a missing optional package is just not listed
            pass
    for name in ("tensorflow", "torch"):
        mod = cfg.peers.get(name)
        if mod is not None and not isinstance(mod, str):
            out[name] = str(getattr(sys.modules.get(name), "__version__", "?"))
    return out


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def thread_report(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"requested": cfg.threads, "openblas": timing.limit_loaded_blas(cfg.threads)}
    out["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    out["OPENBLAS_NUM_THREADS"] = os.environ.get("OPENBLAS_NUM_THREADS", "")
    out["GRAPHC_NUM_THREADS"] = os.environ.get("GRAPHC_NUM_THREADS", "")
    torch = cfg.peers.get("torch")
    if torch is not None and not isinstance(torch, str):
        out["torch"] = torch.get_num_threads()
    if cfg.peers.get("tensorflow") is not None and not isinstance(cfg.peers["tensorflow"], str):
        out["tensorflow"] = {"intra_op": cfg.threads, "inter_op": 1}
    return out


# -- main -------------------------------------------------------------------------------------


def load_peers(names: list[str], threads: int) -> dict[str, Any]:
    """Import each selected peer; a peer that does not import is its "n/a (...)" text."""
    out: dict[str, Any] = {}
    for name in names:
        try:
            if name == "jax":
                import jax

                out[name] = jax
            elif name == "tensorflow":
                import tensorflow.compat.v1 as tfv1

                out[name] = tfv1
            elif name == "torch":
                import torch

                torch.set_num_threads(threads)
                out[name] = torch
            else:
                raise SystemExit(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
        except ImportError as exc:
            out[name] = f"n/a ({exc.name or name} not installed)"
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="graphc bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few repeats and small sizes: a smoke run")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    p.add_argument("--backends", default="numpy,llvm", help="graphc backends, comma-separated")
    p.add_argument("--peers", default=",".join(PEERS), help="peers to try, comma-separated ('' for none)")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per implementation")
    p.add_argument("--threads", type=int, default=1, help="BLAS/XLA/torch threads for every implementation")
    p.add_argument("--json", default=str(HERE / "results" / "latest.json"), help="where the JSON goes")
    p.add_argument(
        "--png", default=None, help="bar chart path (default: next to the JSON, when matplotlib is installed)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected cases and print, save and plot the results; returns 0 (a failing
    implementation is reported in its cell, not as a failure of the suite)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASE_FUNCS]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}", file=sys.stderr)
        return 2
    # Before any peer starts its thread pool; already-loaded OpenBLAS is limited below.
    timing.apply_thread_env(args.threads)
    cfg = Config(
        quick=args.quick,
        repeats=args.repeats or (3 if args.quick else 15),
        warmup=1 if args.quick else 3,
        sample_s=0.01 if args.quick else 0.1,
        threads=args.threads,
        backends=[b for b in args.backends.split(",") if b],
    )
    cfg.sizes = (
        {
            "mlp_batch": 64,
            "fwd_batches": [1, 256],
            "ew_elements": 1 << 18,
            "ce_shape": [512, 1000],
            "cnn_batch": 8,
        }
        if args.quick
        else {
            "mlp_batch": 256,
            "fwd_batches": [1, 1024],
            "ew_elements": 1 << 22,
            "ce_shape": [4096, 1000],
            "cnn_batch": 64,
        }
    )
    cfg.peers = load_peers([p for p in args.peers.split(",") if p], args.threads)
    threads = thread_report(cfg)
    results: list[Case] = []
    for name in cases:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        timing.limit_loaded_blas(cfg.threads)  # a backend may have loaded its BLAS since
        try:
            results += CASE_FUNCS[name](cfg)
        except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others
            results.append(Case(name, [Impl("(case)", error=timing.describe(exc))]))
    threads["openblas_after"] = timing.limit_loaded_blas(cfg.threads)
    targets = evaluate_targets(results, cfg.backends)
    print(table(results))
    print()
    print(targets_text(targets))
    if args.quick:
        print("(--quick: small sizes and few repeats; not comparable with the targets' sizes)")

    record = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "argv": list(sys.argv[1:] if argv is None else argv),
            "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "platform": platform.platform()},
            "versions": _versions(cfg),
            "threads": threads,
            "quick": cfg.quick,
            "repeats": cfg.repeats,
            "warmup": cfg.warmup,
            "sample_s": cfg.sample_s,
            "sizes": cfg.sizes,
            "peers": {k: (v if isinstance(v, str) else "loaded") for k, v in cfg.peers.items()},
        },
        "results": [
            {
                "case": c.name,
                "info": c.info,
                "implementations": [
                    {
                        "name": im.name,
                        "median_s": im.median,
                        "samples_s": im.samples,
                        "calls_per_sample": im.inner,
                        "ratio_to_numpy_backend": _ratio(im, _base(c)),
                        "ratio_to_hand_numpy": _ratio(im, _median(c, HAND)),
                        "check": im.check,
                        "error": im.error,
                        "how": im.note,
                        "reference_row": im.reference,
                        "extra": im.extra,
                    }
                    for im in c.impls
                ],
            }
            for c in results
        ],
        "targets": targets,
    }
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(record, indent=1, default=str))
    png_path = Path(args.png) if args.png else json_path.with_suffix(".png")
    why = write_png(results, png_path)
    print(f"JSON: {json_path}" + (f"; PNG: {png_path}" if why is None else f"; no PNG ({why})"))
    return 0


def _ratio(im: Impl, base: float | None) -> float | None:
    return im.median / base if im.median and base and not im.reference else None


if __name__ == "__main__":
    sys.exit(main())
