"""graphc's NumPy backend: an interpreter over the IR, the reference for every other backend.

Each node runs its op's registered reference implementation (which defines the
op); a fused node evaluates its scalar expression with NumPy. Device arrays are
NumPy arrays.
"""

from graphc_numpy.backend import NumpyBackend, NumpyExecutable

__all__ = ["NumpyBackend", "NumpyExecutable", "backend"]


def backend() -> NumpyBackend:
    """Entry point for the ``graphc.backends`` group."""
    return NumpyBackend()
