"""Helpers shared by the tf.nn op modules (nn_ops, softmax_ops, conv_ops, pool_ops)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.ops.core_ops import constant, shape

_INDEX_DTYPES = (_dt.int32, _dt.int64)


@contextlib.contextmanager
def _scope(name: str | None, default: str) -> Iterator[str]:
    with get_default_graph().name_scope(name or default) as s:
        yield s


def _shape_input(t: Tensor) -> Tensor:
    """The shape of ``t`` as an int32 tensor: a constant when static (no dependency on t)."""
    if t.shape.is_fully_defined():
        return constant(np.array(t.shape.as_list(), dtype=np.int32))
    return shape(t)

