"""Keras masks (TF1 1.15's tf.keras): where they come from and how they travel.

A mask is a bool tensor ``[batch, time]`` (for a ``[batch, time, ...]`` tensor) that says
which steps are real data. A layer's output mask is ``layer.compute_mask(inputs, mask)``
and is kept with the output tensor (Keras's ``tensor._keras_mask``; here a table keyed by
the tensor, :func:`get_mask`). When a Keras layer is called:

- the mask argument is the ``mask`` given to the call, else the masks of its inputs (a
  nest like the inputs; None when no input has one); it is passed to ``call(...,
  mask=...)`` when ``call`` takes a ``mask`` argument and none was given;
- the outputs' masks: kept as they are when the layer sets them itself in ``call``
  (``_compute_output_and_mask_jointly``, as ``Masking``) or when every output already
  has one (a layer that returns its input); else ``compute_mask(inputs, mask)`` when the
  layer ``supports_masking`` or defines its own ``compute_mask``; else None. So a layer
  that does not support masking drops the mask (TF1 1.15's ``_set_mask_metadata``);
  only ``compute_mask`` called on it with a mask raises Keras's TypeError.

Because every layer call does this, masks travel through ``Sequential`` and functional
models, when they are built and when they are called on new inputs, without the models
doing anything (``Model.call(inputs, mask=...)`` sets the masks of the new inputs). The
models weight the loss and the metrics by the output's mask (see graphc.keras.models).
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from graphc.frontend.graph import Tensor
from graphc.runtime import nest

__all__ = ["KerasMasking", "get_mask", "set_mask"]

# tensor -> its Keras mask (Keras's ``_keras_mask`` attribute).
_MASKS: weakref.WeakKeyDictionary[Tensor, Tensor] = weakref.WeakKeyDictionary()


def get_mask(t: Any) -> Tensor | None:
    """The Keras mask of ``t`` (None when it has none, or ``t`` is not a tensor)."""
    return _MASKS.get(t) if isinstance(t, Tensor) else None


def set_mask(t: Tensor, mask: Tensor | None) -> None:
    """Give ``t`` the Keras mask ``mask`` (None removes it)."""
    if mask is None:
        _MASKS.pop(t, None)
    else:
        _MASKS[t] = mask


def _input_masks(inputs: Any) -> Any:
    masks = nest.map_structure(get_mask, inputs)
    return None if all(m is None for m in nest.flatten(masks)) else masks


class KerasMasking:
    """Mixed into Keras layer classes, ahead of graphc.layers.base.Layer: the mask
    handling of a layer call (see the module docstring) and Keras's default
    ``compute_mask``."""

    supports_masking: bool
    name: str
    _inbound_nodes: list[Any]
    # True for layers whose call sets their outputs' masks itself (set_mask).
    _compute_output_and_mask_jointly = False

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's default: the input mask, for a layer that ``supports_masking``; None
        for one that does not, which raises TypeError if it is given a mask."""
        if not self.supports_masking:
            if any(m is not None for m in nest.flatten(mask)):
                raise TypeError(
                    f"Layer {self.name} does not support masking, but was passed an input_mask: {mask}"
                )
            return None
        return mask

    def _mask_arg_index(self) -> int | None:
        """The position of ``call``'s ``mask`` argument among the arguments after the
        inputs, or None."""
        params = [
            p
            for p in inspect.signature(self.call).parameters.values()  # type: ignore[attr-defined]
            if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        names = [p.name for p in params[1:]]
        return names.index("mask") if "mask" in names else None

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        injected = False
        index = self._mask_arg_index()
        if "mask" in kwargs:
            previous = kwargs["mask"]
        elif index is not None and index < len(args):
            previous = args[index]
        else:
            previous = _input_masks(inputs)
            if previous is not None and self._call_accepts("mask"):  # type: ignore[attr-defined]
                kwargs["mask"] = previous
                injected = True
        outputs = super().__call__(inputs, *args, **kwargs)  # type: ignore[misc]
        node = self._inbound_nodes[-1]
        if injected:
            # The mask came from the inputs: a replay of this call (a model called on
            # new inputs, or rebuilt from its config) takes it from its own inputs.
            node.kwargs.pop("mask", None)
        self._set_output_masks(node.inputs, outputs, previous)
        return outputs

    def _set_output_masks(self, inputs: Any, outputs: Any, previous: Any) -> None:
        flat = [t for t in nest.flatten(outputs) if isinstance(t, Tensor)]
        if self._compute_output_and_mask_jointly or (flat and all(get_mask(t) is not None for t in flat)):
            return
        own = type(self).compute_mask is not KerasMasking.compute_mask
        masks = self.compute_mask(inputs, previous) if (self.supports_masking or own) else None
        flat_masks = [None] * len(flat) if masks is None else nest.flatten(masks)
        for t, m in zip(flat, flat_masks):
            set_mask(t, m)
