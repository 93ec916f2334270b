"""Lowerings (registered into graphc_llvm.lowerings.LOWERINGS when imported)."""
