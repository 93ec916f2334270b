"""Session: lowers what a run needs, compiles it once per (fetches, feeds), runs it.

A run is a pure function of (feeds, variable values): the session keeps the
variables' device arrays and commits the program's updated values only after
the whole run succeeded, so a run that raises changes no variable.

What a run does that does not depend on the fed values is worked out once per compiled
program (``_Compiled``): where each param comes from, how the dims bind, the peak bytes of
a static plan. A program whose params are all feeds, with no random ops and no updates, on
an executable that takes host arrays as they are (``host_io``), runs on a short path: no
locks (it reads no session state), no copies, the entry check specialised to its bindings.

What a run resolves from its fetches and feed_dict keys (targets, fed tensors, their
checks, the compiled program) is kept per (fetch objects, feed keys) while the graph's
version stays the same and no feed provider is registered (``_RunPlan``): a repeated run
checks its fed values and goes to the program without looking anything up.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from graphc import errors
from graphc import symbolic as sym
from graphc.frontend.default_session import session_stack
from graphc.frontend.graph import Graph, Operation, Tensor, get_default_graph
from graphc.ir.entry import bind_entry, facts
from graphc.ir.lower import Lowered, lower
from graphc.ir.verify import verify
from graphc.runtime import nest
from graphc.runtime.backend import Backend, CompileOptions, Executable, get_backend
from graphc.runtime.cache import optimize_cached
from graphc.runtime.rwlock import ReadWriteLock
from graphc.runtime.segments import compile_program

# The graph collection of per-run feed providers: ``provider(session, targets, feeds) ->
# dict[Tensor, value]`` (graphc.data's iterators register one).
FEED_PROVIDERS = "graphc_feed_providers"


class _Options:
    """A TF1 config message: its fields have TF1's defaults, can be set by keyword or by
    attribute (``config.gpu_options.allow_growth = True``), and a field TF1 does not have
    is an AttributeError when read, as with a protobuf message. graphc ignores the device
    and threading fields (a backend has its own settings) and reads its own options."""

    _defaults: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        for name, value in self._defaults.items():
            object.__setattr__(self, name, value() if callable(value) else value)
        self.__dict__.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


class GPUOptions(_Options):
    _defaults = {
        "allow_growth": False,
        "per_process_gpu_memory_fraction": 0.0,
        "visible_device_list": "",
        "force_gpu_compatible": False,
    }


class OptimizerOptions(_Options):
    L0, L1 = 0, 1  # opt_level values
    OFF, ON_1, ON_2 = 0, 1, 2  # global_jit_level values
    DEFAULT = 0
    _defaults = {
        "do_common_subexpression_elimination": True,
        "do_constant_folding": True,
        "opt_level": 0,
        "global_jit_level": 0,
    }


class GraphOptions(_Options):
    _defaults = {
        "optimizer_options": OptimizerOptions,
        "enable_bfloat16_sendrecv": False,
        "infer_shapes": False,
    }


class ConfigProto(_Options):
    """TF1's ConfigProto (its fields accepted and ignored) with graphc's own options:
    ``disable_passes`` (pass names to switch off) and ``backend``."""

    _defaults = {
        "gpu_options": GPUOptions,
        "graph_options": GraphOptions,
        "allow_soft_placement": False,
        "log_device_placement": False,
        "intra_op_parallelism_threads": 0,
        "inter_op_parallelism_threads": 0,
        "use_per_session_threads": False,
        "operation_timeout_in_ms": 0,
        "device_count": dict,
    }


class RunOptions(_Options):
    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3
    _defaults = {"trace_level": 0, "timeout_in_ms": 0, "report_tensor_allocations_upon_oom": False}


class RunMetadata(_Options):
    _defaults = {"step_stats": None, "cost_graph": None, "partition_graphs": list}


# The bindings of a program: none at all, symbols each bound from a param's axis only, or
# anything else (values, expressions, assertions: the full entry check).
_BIND_NONE, _BIND_SHAPES, _BIND_FULL = 0, 1, 2
_NO_DONATION: frozenset[int] = frozenset()
# A make_callable whose arguments are its program's feed params in order (no reordering).
_IN_ORDER: list[int] = []


class _Compiled:
    """One compiled program and everything its runs need that the fed values do not change."""

    def __init__(self, lowered: Lowered, executable: Executable) -> None:
        self.lowered = lowered
        self.executable = executable
        self.n_fetch = len(lowered.program.fetches)
        self.fetch_index = lowered.fetch_index
        program = lowered.program
        self.program = program
        # Params whose value the entry check reads (fed integers used as sizes).
        self.value_params = sorted({b.param for b in program.bindings if b.source == "value"})
        # VariableV2 op id -> its param; the variable params whose buffers the executable
        # may overwrite with their own new value (the variables this run updates).
        self.var_param = {var._id: i for i, var in _variable_index(lowered)}
        updated = {v._id for v in lowered.update_vars}
        self.donatable = frozenset(i for vid, i in self.var_param.items() if vid in updated)
        self.writes = bool(lowered.update_vars)
        # An executable that reads host arrays as they are and returns fresh arrays of its
        # own (graphc_llvm's): feeds go in and fetches come out without copies.
        self.host_io = bool(getattr(executable, "host_io", False))
        # The fed tensors, in param order (each feed param is one of them).
        self.feed_params: list[Tensor] = list(lowered.feeds)
        feeds_only = all(p.kind == "feed" for p in program.params) and not lowered.update_vars
        # The short path (module docstring): only feeds, no random op, no update.
        self.fast = feeds_only and not lowered.rng_ops and self.host_io
        f = facts(program)
        self.shape_binds: list[tuple[int, int, str]] = []
        if not program.bindings and not f.entry_assertions:
            self.bind_mode = _BIND_NONE
        elif (
            not f.entry_assertions
            and not f.value_sized
            and all(b.source == "shape" and sym.as_symbol(b.dim) is not None for b in program.bindings)
        ):
            self.bind_mode = _BIND_SHAPES
            self.shape_binds = [(b.param, b.axis, sym.as_symbol(b.dim)) for b in program.bindings]  # type: ignore[misc]
        else:
            self.bind_mode = _BIND_FULL
        # The peak bytes of the memory plan: a number when the plan is static, else its
        # formula evaluated for the dims of a run (the last one kept: dims repeat).
        self.plan = program.meta.get("memory_plan")
        self.peak_static: int | None = None
        if self.plan is not None and self.plan.peak.is_static:
            self.peak_static = self.plan.peak.candidates[0][0]
        self._peak_last: tuple[dict[str, int], int | None] | None = None

    def bind(self, host: list[Any]) -> dict[str, int]:
        """The entry check (graphc.ir.entry.bind_entry) for params ``host`` (in param order):
        done directly for a program whose symbols are each bound from a param's axis, with
        bind_entry itself giving the error when two bindings of a symbol disagree."""
        mode = self.bind_mode
        if mode == _BIND_NONE:
            return {}
        if mode == _BIND_SHAPES:
            env: dict[str, int] = {}
            for p, axis, name in self.shape_binds:
                x = host[p]
                n = int((x.shape if type(x) is np.ndarray else np.shape(x))[axis])
                if env.setdefault(name, n) != n:
                    break
            else:
                return env
        shapes = [() if x is None else tuple(np.shape(x)) for x in host]
        return bind_entry(self.program, shapes, {i: host[i] for i in self.value_params})

    def peak_bytes(self, env: dict[str, int]) -> int | None:
        """The plan's peak bytes for a run with dims ``env`` (the plan exists)."""
        if self.peak_static is not None:
            return self.peak_static
        last = self._peak_last
        if last is not None and last[0] == env:
            return last[1]
        # The plan is a formula in the symbolic dims: evaluated per run, never recompiled.
        # A dim known only once the run computed it (e.g. tf.range of a fed value)
        # leaves the peak unknown before the run.
        try:
            peak = self.plan.evaluate(env)  # type: ignore[union-attr]
        except KeyError:
            peak = None
        self._peak_last = (env, peak)
        return peak


# What a run's fetches and feed_dict keys may be for its resolution to be kept: objects
# whose meaning in the graph never changes once they resolve.
_PLAIN_KEYS = (Tensor, Operation, str)
_RUN_MEMO_SIZE = 256


class _RunPlan:
    """What run() resolved for one (fetch objects, feed_dict keys) pair, valid while the
    graph's version is the one it was made at: the targets, the fed tensor of each key
    (in the dict's order) with its dtype and static dims, the compiled program when the
    keys alone decide it (no feed of unknown rank), and for the short path the key
    position feeding each param. It holds the fetch and key objects, so their ids, which
    key the memo, stay theirs."""

    def __init__(
        self, session: Session, fetches: Any, feed_dict: Any, targets: list[Any], kind: Any, compiled: _Compiled
    ) -> None:
        self.version = session.graph.version
        self.leaves = list(fetches) if kind is list or kind is tuple else [fetches]
        self.keys = list(feed_dict or ())
        self.targets = targets
        self.kind = kind
        self.feed_tensors = [session._feed_tensor(k) for k in self.keys]
        self.feed_specs = [_feed_spec(t) for t in self.feed_tensors]
        fixed = all(t.shape.ndims is not None for t in self.feed_tensors)
        self.compiled = compiled if fixed else None
        self.order: list[int] | None = None
        if fixed and compiled.fast:
            position = {t: i for i, t in enumerate(self.feed_tensors)}  # the last key wins
            self.order = [position[t] for t in compiled.feed_params]
            if self.order == list(range(len(self.keys))):
                self.order = _IN_ORDER  # the keys are the params, in order


def _restructure(kind: Any, fetches: Any, fetch_index: list[int | None], values: list[Any]) -> Any:
    """run()'s result: the fetched values in the structure of ``fetches`` (``kind``: list
    or tuple for a flat one, None for any other structure, else a single fetch)."""
    results = [None if idx is None else values[idx] for idx in fetch_index]
    if kind is list:
        return results
    if kind is tuple:
        return tuple(results)
    if kind is None:
        return nest.pack_sequence_as(fetches, results)
    return results[0]


class Session:
    """tf.Session(graph=None, backend=None, config=None)."""

    def __init__(
        self,
        target: str = "",
        graph: Graph | None = None,
        config: Any = None,
        backend: str | Backend | None = None,
    ) -> None:
        self._graph = graph or get_default_graph()
        opts = (
            dict(getattr(config, "__dict__", {}))
            if config is not None and not isinstance(config, dict)
            else dict(config or {})
        )
        self._options = opts
        self._backend = get_backend(backend or opts.get("backend"))
        self._compile_options = CompileOptions.make(opts.get("disable_passes"))
        self._variables: dict[int, Any] = {}  # VariableV2 op id -> device array
        self._rng_counters: dict[int, int] = {}
        self._cache: dict[Any, _Compiled] = {}
        # run()'s resolutions, by the identities of its fetches and feed keys (_RunPlan).
        self._run_memo: dict[Any, _RunPlan] = {}
        self._executables: dict[str, Executable] = {}
        # Runs that update variables are serialised and exclude every other run (they may
        # overwrite variable buffers in place); read-only runs go on together, each on the
        # variables as they were when it started. ``_state`` guards the dicts themselves.
        self._run_lock = ReadWriteLock()
        self._state = threading.Lock()
        self._compile_lock = threading.Lock()
        self._closed = False
        self._default_cm: Any = None
        self.stats = {
            "lowerings": 0,
            "compiles": 0,
            "runs": 0,
            "cache_hits": 0,
            "cache_misses": 0,
            "passes_hits": 0,  # programs whose optimised form came from the on-disk cache
        }

    # -- context ------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def sess_str(self) -> str:
        return ""

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        session_stack().append(self)
        try:
            yield self
        finally:
            session_stack().remove(self)

    def __enter__(self) -> Session:
        self._default_cm = contextlib.ExitStack()
        self._default_cm.enter_context(self._graph.as_default())
        self._default_cm.enter_context(self.as_default())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._default_cm is not None:
            self._default_cm.close()
            self._default_cm = None
        self.close()

    def close(self) -> None:
        self._closed = True
        self._variables.clear()
        self._cache.clear()
        self._run_memo.clear()
        self._executables.clear()

    def list_devices(self) -> list[str]:
        return [f"/device:{self._backend.name}:0"]

    # -- run ------------------------------------------------------------------------
    def run(
        self,
        fetches: Any,
        feed_dict: dict[Any, Any] | None = None,
        options: Any = None,
        run_metadata: Any = None,
    ) -> Any:
        """Run the ops and evaluate the tensors in ``fetches`` (any nesting of lists, tuples,
        namedtuples and dicts; an op fetches None)."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        # A run like an earlier one (the same fetch objects, the same feed keys, the graph
        # unchanged since, no feed providers) reuses that run's resolution (_RunPlan):
        # every fed value is still checked; only the lookups are skipped.
        kind = type(fetches)
        fkey = (kind, *map(id, fetches)) if kind is list or kind is tuple else id(fetches)
        key = (fkey, tuple(map(id, feed_dict))) if feed_dict else fkey
        plan = self._run_memo.get(key)
        graph = self._graph
        if plan is None or plan.version != graph.version or graph.get_collection(FEED_PROVIDERS):
            return self._run_resolving(fetches, feed_dict, key)
        specs = plan.feed_specs
        if specs:
            checked = [
                v if type(v) is np.ndarray and v.dtype is spec[1] and v.shape == spec[2] else _check_spec(spec, v)
                for spec, v in zip(specs, feed_dict.values())  # type: ignore[union-attr]
            ]
        else:
            checked = []
        compiled = plan.compiled
        if compiled is None:
            compiled = self._compile(plan.targets, dict(zip(plan.feed_tensors, checked)))
        order = plan.order
        if order is not None and compiled is plan.compiled:  # the short path, params known
            values = self._run_fast(compiled, checked if order is _IN_ORDER else [checked[i] for i in order])
        elif compiled.fast:
            feeds = dict(zip(plan.feed_tensors, checked))
            values = self._run_fast(compiled, [feeds[t] for t in compiled.feed_params])
        else:
            values = self._execute(compiled, dict(zip(plan.feed_tensors, checked)))
        kind = plan.kind
        if kind is list or kind is tuple:
            results = [None if i is None else values[i] for i in compiled.fetch_index]
            return results if kind is list else tuple(results)
        i = compiled.fetch_index[0]  # a single fetch
        return None if i is None else values[i]

    def _run_resolving(self, fetches: Any, feed_dict: Any, key: Any) -> Any:
        """run() resolving its fetches and feeds; the resolution is kept for the next run
        with the same key when it depends only on the key's objects."""
        if fetches is None:
            raise TypeError("Fetch argument None has invalid type <class 'NoneType'>")
        # A single fetch and a flat list or tuple (the common structures) skip nest.
        kind = type(fetches)
        if kind is list or kind is tuple:
            leaves = list(fetches)
            for x in leaves:
                if isinstance(x, list | tuple | dict):
                    leaves, kind = nest.flatten(fetches), None
                    break
        elif isinstance(fetches, list | tuple | dict):
            leaves, kind = nest.flatten(fetches), None
        else:
            leaves = [fetches]
        targets = [self._fetch_target(x) for x in leaves]
        feeds = self._prepare_feeds(feed_dict) if feed_dict else {}
        # Host-side inputs the graph produces per run (tf.data iterators' get_next()):
        # each provider in the collection returns values for tensors this run needs.
        providers = self._graph.get_collection(FEED_PROVIDERS)
        for provide in providers:
            for t, value in provide(self, targets, feeds).items():
                feeds[t] = _check_feed(t, value)
        compiled = self._compile(targets, feeds)
        # The plan is kept only when the key's objects fix what it resolved: flat fetches
        # and feed keys that are tensors, operations or names (each held by the plan, so
        # no other object takes its id while the plan lives).
        if (
            kind is not None
            and not providers
            and all(type(x) in _PLAIN_KEYS for x in leaves)
            and all(type(k) in _PLAIN_KEYS for k in (feed_dict or ()))
        ):
            self._remember(key, _RunPlan(self, fetches, feed_dict, targets, kind, compiled))
        if compiled.fast:
            values = self._run_fast(compiled, [feeds[t] for t in compiled.feed_params])
        else:
            values = self._execute(compiled, feeds)
        return _restructure(kind, fetches, compiled.fetch_index, values)

    def _remember(self, key: Any, plan: _RunPlan) -> None:
        memo = self._run_memo
        if len(memo) >= _RUN_MEMO_SIZE:
            memo.clear()  # keys made anew for each run (names built per call) never pile up
        memo[key] = plan

    def make_callable(self, fetches: Any, feed_list: Any = None, accept_options: bool = False) -> Any:
        """tf.Session.make_callable: a function that runs ``fetches`` with its positional
        arguments fed to ``feed_list`` (tensors or names, in order), returning what
        ``run(fetches, feed_dict)`` would. The fetches and feeds are resolved once, so each
        call goes straight to the compiled program: the fastest way to call a step repeatedly.
        ``accept_options`` adds TF1's ``options`` and ``run_metadata`` keywords (accepted,
        ignored, as ``run`` does)."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        if fetches is None:
            raise TypeError("Fetch argument None has invalid type <class 'NoneType'>")
        leaves = nest.flatten(fetches)
        targets = [self._fetch_target(x) for x in leaves]
        feed_tensors: list[Tensor] = []
        for f in list(feed_list or []):
            try:
                el = self._graph.as_graph_element(f, allow_tensor=True, allow_operation=False)
            except (KeyError, ValueError, TypeError) as exc:
                raise TypeError(f"Cannot interpret feed_list element {f!r} as a Tensor: {exc}") from None
            assert isinstance(el, Tensor)
            feed_tensors.append(el)
        providers = self._graph.get_collection(FEED_PROVIDERS)
        single = not isinstance(fetches, list | tuple | dict) and len(leaves) == 1
        flat_list = type(fetches) is list and not any(isinstance(x, list | tuple | dict) for x in fetches)
        n_feeds = len(feed_tensors)
        # The program depends on the feeds' values only through the ranks of feeds of
        # unknown rank and the providers' feeds: without those, the first call's compiled
        # program serves every call, found without a cache lookup.
        fixed = not providers and all(t.shape.ndims is not None for t in feed_tensors)
        # The last position feeding each tensor (a dict keeps the last value for a key).
        position = {t: i for i, t in enumerate(feed_tensors)}
        # Each feed's dtype and static dims: an array of exactly these is taken as it is.
        specs = [_feed_spec(t) for t in feed_tensors]
        # [compiled, the argument position of each feed param (short path) or None], once known.
        known: list[Any] = []

        def call(*args: Any, **kwargs: Any) -> Any:
            if kwargs and not (accept_options and set(kwargs) <= {"options", "run_metadata"}):
                raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
            if len(args) != n_feeds:
                raise TypeError(f"the callable takes {n_feeds} feed values, got {len(args)}")
            if self._closed:
                known.clear()  # the closed session's program is not kept alive by its callables
                raise RuntimeError("Attempted to use a closed Session.")
            checked = [
                v if type(v) is np.ndarray and v.dtype is spec[1] and v.shape == spec[2] else _check_spec(spec, v)
                for spec, v in zip(specs, args)
            ]
            if known:
                compiled, order = known
                if order is not None:
                    host = checked if order is _IN_ORDER else [checked[i] for i in order]
                    values = self._run_fast(compiled, host)
                else:
                    values = self._execute(compiled, dict(zip(feed_tensors, checked)))
            else:
                feeds = dict(zip(feed_tensors, checked))
                for provide in providers:
                    for t, value in provide(self, targets, feeds).items():
                        feeds[t] = _check_feed(t, value)
                compiled = self._compile(targets, feeds)
                if fixed:
                    order = [position[t] for t in compiled.feed_params] if compiled.fast else None
                    if order == list(range(n_feeds)):
                        order = _IN_ORDER  # the arguments are the params, in order
                    known[:] = [compiled, order]
                if compiled.fast:
                    values = self._run_fast(compiled, [feeds[t] for t in compiled.feed_params])
                else:
                    values = self._execute(compiled, feeds)
            index = compiled.fetch_index
            if single:
                i = index[0]
                return None if i is None else values[i]
            results = [None if i is None else values[i] for i in index]
            return results if flat_list else nest.pack_sequence_as(fetches, results)

        return call

    def _fetch_target(self, x: Any) -> Tensor | Operation:
        if type(x) is Tensor and x.graph is self._graph:
            return x  # what as_graph_element gives a tensor of this graph, found directly
        if x is None:
            raise TypeError("Fetch argument None has invalid type <class 'NoneType'>")
        try:
            return self._graph.as_graph_element(x, allow_tensor=True, allow_operation=True)
        except TypeError as exc:
            raise TypeError(
                f"Fetch argument {x!r} has invalid type {type(x)}, must be a string or Tensor. ({exc})"
            ) from None
        except KeyError as exc:
            raise ValueError(
                f"Fetch argument {x!r} cannot be interpreted as a Tensor. ({exc.args[0]})"
            ) from None

    def _prepare_feeds(self, feed_dict: dict[Any, Any]) -> dict[Tensor, np.ndarray]:
        feeds: dict[Tensor, np.ndarray] = {}
        graph = self._graph
        for key, value in feed_dict.items():
            if type(key) is Tensor and key.graph is graph:
                feeds[key] = _check_feed(key, value)
            else:
                el = self._feed_tensor(key)
                feeds[el] = _check_feed(el, value)
        return feeds

    def _feed_tensor(self, key: Any) -> Tensor:
        """The tensor a feed_dict key names."""
        graph = self._graph
        if type(key) is Tensor and key.graph is graph:
            return key
        try:
            el = graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
        except (KeyError, ValueError) as exc:
            raise TypeError(f"Cannot interpret feed_dict key as Tensor: {exc.args[0]}") from None
        except TypeError:
            raise TypeError(f"Cannot interpret feed_dict key {key!r} as a Tensor.") from None
        assert isinstance(el, Tensor)
        return el

    def _compile(self, targets: list[Tensor | Operation], feeds: dict[Tensor, np.ndarray]) -> _Compiled:
        unknown_ranks = tuple([v.ndim for t, v in feeds.items() if t.shape.ndims is None])
        key = (tuple(map(id, targets)), tuple(sorted(map(id, feeds))), unknown_ranks)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        with self._compile_lock, _collector_paused():  # one thread compiles; the others then find it
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            lowered = lower(self._graph, targets, {t: (t.dtype, v.shape) for t, v in feeds.items()})
            self.stats["lowerings"] += 1
            if _verify_enabled():
                verify(lowered.program)
            # The pipeline's result, from the on-disk cache when an earlier process optimised
            # this very program (then no pass runs), with its content hash.
            lowered.program, h, passes = optimize_cached(
                lowered.program, self._compile_options.disable_passes
            )
            self.stats["passes_hits"] += passes == "hit"
            exe = self._executables.get(h)
            if exe is None:
                outcomes: list[str] = []
                exe = compile_program(
                    lowered.program,
                    self._backend,
                    self._compile_options,
                    outcomes=outcomes,
                    program_hash=h,
                )
                self.stats["compiles"] += 1
                # Units loaded from the on-disk cache (no code generated) and compiled anew.
                self.stats["cache_hits"] += outcomes.count("hit")
                self.stats["cache_misses"] += outcomes.count("miss")
                self._executables[h] = exe
            compiled = _Compiled(lowered, exe)
            self._cache[key] = compiled
            return compiled

    def _run_fast(self, compiled: _Compiled, host: list[np.ndarray]) -> list[Any]:
        """The short path (module docstring): the fetches of a program whose params are all
        feeds (``host``, checked, in param order), with no random op and no update, on a
        ``host_io`` executable. It takes no lock: it reads and writes no session state (no
        variable, no counter), so no other run can change what it computes."""
        # The entry check, before any native code.
        env = {} if compiled.bind_mode == _BIND_NONE else compiled.bind(host)
        outputs = compiled.executable.run(host, env, _NO_DONATION)
        stats = self.stats
        stats["runs"] += 1
        if compiled.plan is not None:
            peak = compiled.peak_static
            stats["peak_bytes"] = peak if peak is not None else compiled.peak_bytes(env)
        # The outputs are the executable's own fresh arrays: no copy; a 0-d one becomes a
        # NumPy scalar, as TF1 returns.
        return [v[()] if v.ndim == 0 else v for v in outputs]

    def _execute(self, compiled: _Compiled, feeds: dict[Tensor, np.ndarray]) -> list[Any]:
        lock = self._run_lock.write if compiled.writes else self._run_lock.read
        with lock():
            return self._execute_locked(compiled, feeds)

    def _execute_locked(self, compiled: _Compiled, feeds: dict[Tensor, np.ndarray]) -> list[Any]:
        low = compiled.lowered
        program = low.program
        backend = self._backend
        host_io = compiled.host_io
        # Every check comes before any backend code: the variables exist, every dim binds
        # and every assumption on dims holds.
        host: list[Any] = []  # fed arrays (host) and variable buffers (device), in param order
        feed_i = var_i = 0
        with self._state:
            for p in program.params:
                if p.kind == "feed":
                    host.append(feeds[low.feeds[feed_i]])
                    feed_i += 1
                elif p.kind == "variable":
                    var = low.variables[var_i]
                    var_i += 1
                    if var._id not in self._variables:
                        raise errors.FailedPreconditionError(
                            None, var, f"Attempting to use uninitialized value {var.name}"
                        )
                    host.append(self._variables[var._id])
                else:
                    host.append(None)
            # Each random op's counter for this run is reserved now, atomically, so
            # concurrent runs never draw the same numbers.
            counters = []
            for op in low.rng_ops:
                c = self._rng_counters.get(op._id, 0)
                self._rng_counters[op._id] = c + 1
                counters.append(c)
        try:
            env = compiled.bind(host)
            # A host_io executable takes host arrays as they are (it never writes them).
            inputs: list[Any] = []
            rng_i = 0
            for p, x in zip(program.params, host):
                if p.kind == "feed":
                    inputs.append(x if host_io else backend.to_device(x))
                elif p.kind == "variable":
                    inputs.append(x)
                else:
                    counter = np.array(counters[rng_i], dtype=np.uint64)
                    inputs.append(counter if host_io else backend.to_device(counter))
                    rng_i += 1
            outputs = compiled.executable.run(inputs, env, compiled.donatable)
        except BaseException:
            self._release_counters(low.rng_ops, counters)
            raise
        self.stats["runs"] += 1
        # Commit state only now that the whole run succeeded. A variable must never share
        # a buffer with another input (assign(v, w) returns w's array): copy such updates.
        # Its own donated buffer, updated in place, is fine. A host_io executable's outputs
        # are all fresh and distinct: nothing to copy.
        n_fetch = compiled.n_fetch
        if low.update_vars:
            held = set() if host_io else {id(x) for x in inputs}
            with self._state:
                for var, new in zip(low.update_vars, outputs[n_fetch:]):
                    own = compiled.var_param.get(var._id)
                    if id(new) in held and not (
                        own is not None and new is inputs[own] and own in compiled.donatable
                    ):
                        new = backend.to_device(backend.to_host(new))
                    if not host_io:
                        held.add(id(new))
                    self._variables[var._id] = new
        if compiled.plan is not None:
            self.stats["peak_bytes"] = compiled.peak_bytes(env)
        if host_io:
            return [_to_python(v) for v in outputs[:n_fetch]]
        return [_to_python(backend.to_host(v)) for v in outputs[:n_fetch]]

    def _release_counters(self, rng_ops: list[Operation], counters: list[int]) -> None:
        """Undo a failed run's counter reservations where no later run reserved after it
        (a failed run changes no counter; a concurrent one that went on keeps its own)."""
        with self._state:
            for op, c in zip(rng_ops, counters):
                if self._rng_counters.get(op._id) == c + 1:
                    self._rng_counters[op._id] = c

    def _load_variable(self, var: Any, value: Any) -> None:
        op = var.op
        arr = self._backend.to_device(_check_feed(var._variable, value))
        with self._run_lock.write(), self._state:
            self._variables[op._id] = arr

    def _variable_value(self, var_op: Operation) -> np.ndarray | None:
        v = self._variables.get(var_op._id)
        return None if v is None else self._backend.to_host(v)


# Python's cyclic garbage collector, paused while any session compiles (see _collector_paused).
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_resume = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Compiling allocates tens of thousands of objects that stay alive (the lowered and
    optimised programs, their nodes, values and dims), and those allocations set off the
    collector's full collections, each walking every object of the process, again and
    again (about half of a warm-cache start, measured). Compiling makes little cyclic
    garbage (the programs that passes replace), so the collector is paused while any
    session compiles and resumed, if it was on, when the last compile ends; it then
    collects that garbage at its next run. A user who switched it off keeps it off."""
    global _gc_pauses, _gc_resume
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


def _variable_index(low: Lowered) -> list[tuple[int, Operation]]:
    """(param index, VariableV2 op) for each variable param."""
    out = []
    var_i = 0
    for i, p in enumerate(low.program.params):
        if p.kind == "variable":
            out.append((i, low.variables[var_i]))
            var_i += 1
    return out


def _verify_enabled() -> bool:
    return os.environ.get("GRAPHC_VERIFY", "") not in ("", "0")


def _to_python(arr: np.ndarray) -> Any:
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return arr[()]
    return arr


# The NumPy scalar types _check_feed takes directly when they are the tensor's own.
_NUMPY_SCALARS = frozenset(
    np.dtype(name).type
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    + ("float16", "float32", "float64")
)


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


# A fed tensor, its NumPy dtype, its static dims (None: unknown rank) and, for a scalar of a
# numeric dtype, that dtype's scalar type.
_FeedSpec = tuple[Tensor, np.dtype, tuple[int | None, ...] | None, Any]


def _feed_spec(t: Tensor) -> _FeedSpec:
    """What a run checks a value fed to ``t`` against, worked out once (run plans,
    make_callable): an array of exactly the dtype and dims is taken as it is."""
    dt = t.dtype.np
    dims = t.shape.as_tuple()
    return t, dt, dims, dt.type if dims == () and dt.type in _NUMPY_SCALARS else None


def _check_spec(spec: _FeedSpec, value: Any) -> np.ndarray:
    """_check_feed for a value that is not an array of exactly the spec's dtype and dims: a
    NumPy scalar of a scalar tensor's own dtype becomes a 0-d array directly."""
    if type(value) is spec[3]:
        return np.array(value, spec[1])
    return _check_feed(spec[0], value)


def _check_feed(t: Tensor, value: Any) -> np.ndarray:
    """Convert a fed value to the tensor's dtype; wrong dtype or shape raises, naming the tensor."""
    kind = type(value)
    if kind is np.ndarray or kind is float or kind in _NUMPY_SCALARS:
        # The common cases, checked without the general conversion: an array of the
        # tensor's dtype (taken as it is), a NumPy scalar of that dtype, or a Python float
        # fed to a float tensor (each made a 0-d array, as np.asarray(value).astype would).
        np_dtype = t.dtype.np
        if np_dtype.kind != "O":
            dims = t.shape.as_tuple()
            if kind is np.ndarray:
                shape = value.shape
                if value.dtype == np_dtype and (
                    dims is None
                    or shape == dims  # a fully known shape (a None never equals a size)
                    or (len(dims) == len(shape) and all(d is None or d == n for d, n in zip(dims, shape)))
                ):
                    return value
            elif not dims and (kind is np_dtype.type or (kind is float and np_dtype.kind == "f")):
                return np.array(value, dtype=np_dtype)
    where = f" (created at {t.op.location})"
    if isinstance(value, Tensor | Operation):
        raise TypeError(
            f"The value of a feed cannot be a graphc Tensor or Operation (feeding {t.name}). "
            f"Acceptable feed values include Python scalars, strings, lists, and numpy ndarrays."
        )
    try:
        src = np.asarray(value)
    except ValueError as exc:
        raise ValueError(
            f"Cannot convert the value fed to Tensor '{t.name}' to an array: {exc}{where}"
        ) from None
    dt = t.dtype
    if dt.is_string:
        if src.dtype.kind not in "USO":
            raise TypeError(f"Cannot feed a {src.dtype.name} value to string Tensor '{t.name}'{where}")
        arr = src.astype(object)
    else:
        kind = src.dtype.kind
        bad = kind in "USOcMm" or (kind == "f" and (dt.is_integer or dt.is_bool))
        if (
            kind == "f"
            and dt.is_integer
            and src.size
            and np.all(np.isfinite(src))
            and np.all(src == np.round(src))
        ):
            bad = False
        if kind == "O" and dt.is_integer and src.size and all(_is_int(x) for x in src.reshape(-1)):
            bad = False  # Python ints beyond int64: the range check below names them
        if bad:
            raise TypeError(
                f"Cannot feed a value of type {src.dtype.name} to Tensor '{t.name}', which has "
                f"type {dt.name}{where}"
            )
        if dt.is_integer and src.size:
            # A cast would wrap silently (2**40 fed to an int32 gives 0): refuse instead.
            info = np.iinfo(dt.np)
            lo, hi = (min(src.reshape(-1)), max(src.reshape(-1))) if kind == "O" else (src.min(), src.max())
            if lo < info.min or hi > info.max:
                bad_value = lo if lo < info.min else hi
                raise ValueError(
                    f"The value {bad_value} fed to Tensor '{t.name}' is out of range for its type "
                    f"{dt.name} [{info.min}, {info.max}]{where}"
                )
        arr = src.astype(dt.np, copy=False)
    static = t.shape
    dims = static.as_tuple()
    if dims is not None and (
        len(dims) != arr.ndim or any(d is not None and d != n for d, n in zip(dims, arr.shape))
    ):
        raise ValueError(
            f"Cannot feed value of shape {tuple(arr.shape)} for Tensor '{t.name}', which has "
            f"shape '{static}'{where}"
        )
    return arr


class InteractiveSession(Session):
    """A Session that installs itself as the default on construction (TF1)."""

    _is_interactive = True

    def __init__(
        self, target: str = "", graph: Graph | None = None, config: Any = None, backend: Any = None
    ) -> None:
        super().__init__(target, graph, config, backend)
        session_stack().append(self)

    def close(self) -> None:
        stack = session_stack()
        if self in stack:
            stack.remove(self)
        super().close()
