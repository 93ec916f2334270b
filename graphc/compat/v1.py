"""Alias: ``graphc.compat.v1`` is the ``graphc`` module (the TF1 namespace)."""

import sys

import graphc as _graphc

sys.modules[__name__] = _graphc
