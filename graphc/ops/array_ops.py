"""Array ops and their TF1 API, defined in these modules and re-exported here (the public
module: import array ops from here):

- :mod:`~graphc.ops.layout_ops`: Reshape, Transpose, ExpandDims, Squeeze, Tile, Pad (and its
  gradient MirrorPadGrad), ReverseV2
- :mod:`~graphc.ops.concat_ops`: ConcatV2, Pack, Unpack, Split, SplitV
- :mod:`~graphc.ops.slicing_ops`: StridedSlice (and its gradient StridedSliceGrad), Slice,
  and ``Tensor.__getitem__``, which importing array_ops (or slicing_ops) installs
- :mod:`~graphc.ops.gather_ops`: GatherV2 (and its gradient ScatterAddDense), OneHot
- :mod:`~graphc.ops.fill_ops`: Fill, ZerosLike, OnesLike, Range

Axes are attrs: non-negative ints when the input's rank is known when the op is built;
with an unknown rank they keep the user's (possibly negative) ints and the rules
normalise them. Index-like arguments (perm, begin/size, paddings, multiples, slice
bounds) must be known when the graph is built: Python values or constant tensors.
"""

from __future__ import annotations

from graphc.ops import core_ops, math_ops
from graphc.ops.concat_ops import concat, split, stack, unstack  # noqa: F401  (re-exported)
from graphc.ops.fill_ops import (  # noqa: F401  (re-exported)
    fill,
    ones,
    ones_like,
    range,  # noqa: A004  (TF's name)
    zeros,
    zeros_like,
)
from graphc.ops.gather_ops import gather, one_hot  # noqa: F401  (re-exported)
from graphc.ops.layout_ops import (  # noqa: F401  (re-exported)
    expand_dims,
    pad,
    reshape,
    reverse,
    reverse_v2,
    squeeze,
    tile,
    transpose,
)
from graphc.ops.slicing_ops import (  # noqa: F401  (re-exported)
    Spec,
    _slice_len,
    newaxis,
    slice,  # noqa: A004  (TF's name)
    strided_slice,
    strided_slice_spec,
)

# TF1 also has these in array_ops (they are defined with their ops elsewhere).
shape = core_ops.shape
size = core_ops.size
rank = core_ops.rank
broadcast_to = math_ops.broadcast_to
