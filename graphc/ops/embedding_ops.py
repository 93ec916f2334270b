"""tf.nn.embedding_lookup (TF1's embedding_ops): a gather, clipped by clip_ops.clip_by_norm
when ``max_norm`` is given. Here, above both nn_ops and clip_ops (clip_ops' global norm is
built from nn_ops' l2_loss); tf.nn re-exports it."""

from __future__ import annotations

from typing import Any

from graphc.frontend.graph import Tensor
from graphc.ops.clip_ops import clip_by_norm
from graphc.ops.common import convert_to_tensor
from graphc.ops.gather_ops import gather
from graphc.ops.nn_common import _scope


def embedding_lookup(
    params: Any,
    ids: Any,
    partition_strategy: str = "mod",
    name: str | None = None,
    validate_indices: bool = True,
    max_norm: float | None = None,
) -> Tensor:
    """tf.nn.embedding_lookup for one params tensor (or a list of one): gather(params, ids);
    with max_norm, each embedding is clipped to that L2 norm (TF's clip_by_norm).
    Sharded params (a list of several) raise NotImplementedError."""
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}")
    if isinstance(params, list | tuple):
        if not params:
            raise ValueError("Need at least one param")
        if len(params) > 1:
            raise NotImplementedError(
                f"embedding_lookup over {len(params)} sharded params is not supported; concatenate "
                f"them (tf.concat(params, 0)) and pass one tensor"
            )
        params = params[0]
    with _scope(name, "embedding_lookup"):
        p = convert_to_tensor(params)
        i = convert_to_tensor(ids)
        result = gather(p, i)
        if max_norm is None:
            return result
        r, ir = result.shape.ndims, i.shape.ndims
        if r is None or ir is None:
            raise NotImplementedError("embedding_lookup with max_norm needs ids and params of known rank")
        return clip_by_norm(result, max_norm, axes=list(range(ir, r)))
