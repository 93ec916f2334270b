"""LLVM for the host: the target machine, the optimiser, object code, and loading it.

One target machine per process, for the host CPU and all its features (so generated
loops use its widest vectors). :func:`optimize` runs LLVM's O3 pipeline with loop and
SLP vectorisation (runtime unrolling off: see :data:`LOOP_UNROLLING`; interleaving only
where a loop asks for it: :data:`LOOP_INTERLEAVING`); :func:`emit_object` turns an
optimised module into object code (what
the cache stores); :class:`LoadedCode` maps object code into the process without running
the optimiser again and gives the addresses of its functions.

External symbols the generated code calls (the BLAS, libc's threads) are resolved by
name: :func:`load_library` makes a shared library's symbols visible to loaded code.
"""

from __future__ import annotations

import functools
import threading

import llvmlite
import llvmlite.binding as llvm
from llvmlite import ir

_lock = threading.Lock()  # LLVM's global state (engines, symbols) is not thread-safe


# Runtime unrolling of loops (LoopUnrollPass) is off: the vectoriser interleaves its vector
# loops itself (``loop_interleaving``), and unrolling the scalar remainders and the loops
# that do not vectorise (fixed-order reductions) made about a third of the MLP step's
# compile (twice the object code) for no measured speed: reductions, softmax and
# convolutions ran as fast or faster without it. (Measured and left as they are: O2
# instead of O3 saves nothing; a lower code-generation level saves little; turning off
# loop strength reduction, a quarter of code generation, made reductions and convolutions
# 5-15% slower; turning off the vector epilogue saved little.) Part of :func:`identity`.
LOOP_UNROLLING = False

# The vectoriser interleaves only the loops that ask for it (``llvm.loop.interleave.count``,
# codegen.counted_loop's ``interleave``), not every loop its cost model picks: interleaving
# every vector loop four times made a fifth of the MLP step's code generation, and the
# suite's cases ran as fast without it (mlp_step 1.25x -> 1.21x its matmuls, elementwise
# 0.130x -> 0.127x hand NumPy, cnn_step 376 -> 384 ms, within this machine's noise).
# Part of :func:`identity`.
LOOP_INTERLEAVING = False

# The contract between generated code and the executable that runs it (the ``err`` array's
# layout, codegen.ERR_SLOTS): part of :func:`identity`, so code compiled under another
# never comes back from the cache.
CODE_ABI = "2"


@functools.cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()


@functools.cache
def target_machine() -> llvm.TargetMachine:
    """The host's target machine: its CPU name and features, optimisation level 3."""
    return _new_target_machine()


def _new_target_machine() -> llvm.TargetMachine:
    _init()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=host_features(),
        opt=3,
        reloc="pic",
        codemodel="default",
    )


@functools.cache
def host_features() -> str:
    _init()
    return llvm.get_host_cpu_features().flatten()


def identity() -> dict[str, str]:
    """What generated code depends on besides the program: part of every cache key."""
    _init()
    return {
        "llvmlite": llvmlite.__version__,
        "llvm": ".".join(map(str, llvm.llvm_version_info)),
        "triple": llvm.get_process_triple(),
        "cpu": llvm.get_host_cpu_name(),
        "features": host_features(),
        "pipeline": f"unroll={int(LOOP_UNROLLING)}",
        "interleave": "all" if LOOP_INTERLEAVING else "asked",
        "abi": CODE_ABI,
    }


def new_module(name: str) -> ir.Module:
    """An empty module for the host's triple and data layout."""
    tm = target_machine()
    mod = ir.Module(name=name)
    mod.triple = llvm.get_process_triple()
    mod.data_layout = str(tm.target_data)
    return mod


def optimize(module: ir.Module | str, opt_level: int = 3) -> llvm.ModuleRef:
    """Parse, verify and optimise ``module`` (O``opt_level``, loops and SLP vectorised)."""
    _init()
    tm = target_machine()
    with _lock:
        ref = llvm.parse_assembly(str(module))
        ref.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
        pto.loop_vectorization = opt_level >= 2
        pto.slp_vectorization = opt_level >= 2
        pto.loop_interleaving = LOOP_INTERLEAVING and opt_level >= 2
        pto.loop_unrolling = LOOP_UNROLLING and opt_level >= 2
        pb = llvm.create_pass_builder(tm, pto)
        mpm = pb.getModulePassManager()
        mpm.run(ref, pb)
    return ref


def emit_object(ref: llvm.ModuleRef) -> bytes:
    """The host's object code for an optimised module."""
    with _lock:
        return target_machine().emit_object(ref)


def emit_assembly(ref: llvm.ModuleRef) -> str:
    with _lock:
        return target_machine().emit_assembly(ref)


@functools.cache
def load_library(path: str) -> None:
    """Make a shared library's symbols resolvable by loaded code (once per process)."""
    _init()
    with _lock:
        llvm.load_library_permanently(path)


@functools.cache
def runtime_support() -> None:
    """LLVM lowers a few conversions (float64 to float16) to calls into the compiler's
    runtime library (libgcc's ``__truncdfhf2``); make its symbols resolvable by loaded code."""
    import ctypes.util  # only where code is loaded

    name = ctypes.util.find_library("gcc_s")
    if name:
        try:
            load_library(name)
        except RuntimeError:
            pass  # not loadable here: such a conversion is then unresolved, and loading fails


class LoadedCode:
    """Object code mapped into this process; keeps its memory alive while referenced."""

    def __init__(self, object_code: bytes) -> None:
        _init()
        runtime_support()
        with _lock:
            # The engine owns (and frees) the target machine it is given: its own, not the
            # process's shared one.
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _new_target_machine())
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
            self._engine.finalize_object()

    def address(self, name: str) -> int:
        with _lock:
            addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"no function {name!r} in the loaded code")
        return addr
