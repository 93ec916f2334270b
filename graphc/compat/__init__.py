"""``graphc.compat.v1`` is graphc itself: its namespace already is TF1's.

The ``v1`` attribute and the ``graphc.compat.v1`` module entry are set by
``graphc/__init__.py``, so this package imports nothing from above it.
"""
