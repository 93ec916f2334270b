"""Optimisation passes: each a ``Program -> Program`` function; see pipeline.py."""
