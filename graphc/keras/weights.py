"""What every Keras-style layer adds to a tf.layers layer: its weights read and written
as NumPy arrays, and a layer made again from its config. A module of its own so that
graphc/keras/layers.py and graphc/keras/recurrent.py (which layers.py imports) share it."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.keras import backend


class KerasWeights:
    """Mixed into Keras layer classes, ahead of graphc.layers.base.Layer."""

    weights: list[Any]
    name: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """The layer ``get_config`` describes."""
        return cls(**config)

    def get_weights(self) -> list[np.ndarray]:
        """The weights' values (``weights`` order), read in the backend's session."""
        return backend.batch_get_value(self.weights)

    def set_weights(self, weights: list[Any]) -> None:
        """Write ``weights`` (``weights`` order, matching shapes)."""
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f"You called `set_weights(weights)` on layer {self.name!r} with a weight list of length "
                f"{len(weights)}, but the layer was expecting {len(params)} weights."
            )
        backend.batch_set_value(list(zip(params, weights)))
