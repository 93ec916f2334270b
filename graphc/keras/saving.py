"""The file format of ``Model.save`` / ``tf.keras.models.load_model`` and of
``save_weights`` / ``load_weights`` (version 1).

A saved model is one graphc checkpoint file (:mod:`graphc.train.checkpoint_format`:
a JSON header and raw little-endian array bytes, no pickle, written atomically), so
loading one never runs code. In it:

- **tensors**: every weight's value, named ``"<layer name>/<weight name>"``
  (``"dense/kernel"``, ``"batch_normalization/moving_mean"``, ...).
- **meta**: a JSON object::

    {
      "format": "graphc.keras",          # always this string
      "version": 1,
      "model": {"class_name": "Sequential" | "Model", "config": {...}} | null,
      "weights": [{"layer": "dense", "tensors": ["dense/kernel", "dense/bias"]}, ...],
      "compile": {"optimizer": {"class_name": "Adam", "config": {...}},
                  "loss": "sparse_categorical_crossentropy" | {"class_name", "config"},
                  "metrics": ["accuracy"]} | null
    }

  ``model`` is the architecture (null in a ``save_weights`` file): a Sequential's
  config is ``{"name", "layers": [layer, ...]}``, each layer ``{"class_name",
  "config"}`` with its constructor arguments (the first one's ``batch_input_shape``
  gives the input); a functional Model's is ``{"name", "layers": [layer, ...],
  "nodes": [{"layer": name, "inputs": [[layer, node, tensor], ...], "single": bool,
  "kwargs": {...}}, ...], "input_layers": [[layer, node, tensor], ...],
  "output_layers": [...]}``, the nodes (layer calls) in the order they run, each input
  naming the call (the ``node``-th call of that layer in the model) and output that
  feeds it. Initializers, regularizers and optimizers are ``{"class_name",
  "config"}``; activations and losses by name.
  ``weights`` lists the model's layers that have weights, in model order, with their
  weights' tensor names in ``layer.weights`` order (trainable first): loading assigns
  them by that order and checks every shape. ``compile`` is null when the model was
  not compiled or its optimizer / loss / metrics have no name (a graphc.train
  optimizer, a custom function); the optimizer's slot values are not saved, so a loaded
  model's optimizer starts afresh.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from graphc.train.checkpoint_format import read_checkpoint, write_checkpoint

__all__ = ["FORMAT", "VERSION", "read_model_file", "write_model_file"]

FORMAT = "graphc.keras"
VERSION = 1


def write_model_file(
    path: str,
    layer_weights: list[tuple[str, list[tuple[str, np.ndarray]]]],
    model_config: dict[str, Any] | None,
    compile_config: dict[str, Any] | None,
) -> None:
    """Write a model file: ``layer_weights`` is ``[(layer name, [(weight name, value),
    ...]), ...]`` in model order."""
    tensors: dict[str, np.ndarray] = {}
    listing = []
    for layer_name, weights in layer_weights:
        names = []
        for weight_name, value in weights:
            key = f"{layer_name}/{weight_name}"
            if key in tensors:
                raise ValueError(
                    f"two weights would be saved as {key!r}: give the model's layers unique names"
                )
            tensors[key] = np.asarray(value)
            names.append(key)
        listing.append({"layer": layer_name, "tensors": names})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": model_config,
        "weights": listing,
        "compile": compile_config,
    }
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    write_checkpoint(os.fspath(path), tensors, meta)


def read_model_file(path: str) -> tuple[dict[str, Any], list[tuple[str, list[np.ndarray]]]]:
    """``(meta, [(layer name, [values in order]), ...])`` of a model file; a file that is
    not one raises ValueError naming it."""
    tensors, meta = read_checkpoint(os.fspath(path))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a graphc.keras model file (its meta has no format {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path!r}: unsupported graphc.keras model file version {meta.get('version')!r}")
    weights = []
    for entry in meta.get("weights", []):
        try:
            values = [tensors[name] for name in entry["tensors"]]
        except KeyError as exc:
            raise ValueError(f"{path!r}: the weight {exc.args[0]!r} is listed but not stored") from None
        weights.append((entry["layer"], values))
    return meta, weights
