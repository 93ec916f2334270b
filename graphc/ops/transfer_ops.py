"""Transfer: a value moving from one device (or backend) to another.

Transfer nodes are made by the partition pass (graphc.passes.partition), not by the
frontend: the partitioned program has one on every edge between two segments. Its
meaning is the identity; ``source`` and ``destination`` are the normal forms of the two
devices (graphc.ir.devices, ``""`` for the default device). The runtime carries a
Transfer out between segments (the source backend's ``to_host``, then the destination
backend's ``to_device``), so no segment contains one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import registry as reg
from graphc.ops.common import rand, same_dtype


def _transfer_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    for key in ("source", "destination"):
        if not isinstance(ctx.attrs.get(key), str):
            raise reg.ShapeError(f"Transfer needs a device string in attr {key!r}")
    return [ctx.shapes[0]]


def _transfer_value(ctx: reg.InferenceContext) -> list[Any] | None:
    return [ctx.value(0)]


def _transfer_reference(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    # A copy: the destination holds a buffer of its own.
    return [np.array(ins[0], copy=True)]


def _transfer_samples(rng: np.random.Generator) -> list[reg.Sample]:
    return [
        reg.Sample([rand(rng, (2, 3))], {"source": "/device:CPU:0", "destination": "/device:GPU:0"}),
        reg.Sample([np.arange(4, dtype=np.int32)], {"source": "", "destination": "/device:CPU:0"}),
    ]



reg.register(
    reg.OpDef(
        name="Transfer",
        shape=_transfer_shape,
        dtype=same_dtype(0),
        reference=_transfer_reference,
        # The identity's gradient; partitioning comes after differentiation, so a
        # gradient of a Transfer is only ever asked for by a graph built by hand.
        grad=lambda op, g: [g],
        value=_transfer_value,
        samples=_transfer_samples,
        attrs={"source": reg.STR, "destination": reg.STR},
        doc="The identity, from device `source` to device `destination` (made by partitioning).",
    )
)
