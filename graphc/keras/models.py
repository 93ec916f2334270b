"""tf.keras.Model and tf.keras.Sequential, Keras-in-TF1 style, and loading saved models.

Three ways to make a model, as in Keras: ``Sequential([...])`` (``input_shape`` on the
first layer builds it at once; without it, the first ``fit``/``predict`` builds it from
the data), the functional ``Model(inputs, outputs)`` from ``tf.keras.Input``, and a
``Model`` subclass whose layers are made in ``__init__`` and applied in ``call(x)``.

How a model runs:

- Its weights are graph variables in the graph the model was built in, and it runs in
  :func:`graphc.keras.backend.get_session` for that graph.
- ``compile`` then the first ``fit``/``evaluate`` build a **training graph** (the model
  applied with ``training=True``: dropout on, batch statistics and their moving-average
  updates) and an **inference graph** (``training=False``), from the same input
  placeholders and sharing every variable (each layer makes its weights once). The
  batch dimension is symbolic, so each step (training, evaluation, prediction) is one
  program compiled once and reused for every batch, the last partial one included:
  ``model.compiled_programs`` counts the programs the backend compiled for this model's
  steps.
- ``fit`` feeds NumPy batches (shuffled each epoch with NumPy's global generator, as
  Keras), shows a tqdm progress bar per epoch (verbose=1), and returns a ``History``.
- Masks (``Masking``, ``Embedding(mask_zero=True)``) travel between the layers by
  themselves (:mod:`graphc.keras.masking`). When the output has a mask, the loss and
  the metrics are weighted by it, as TF1 1.15's Keras: the loss is ``sum(loss * mask)``
  over the number of loss elements, masked ones included (its ``sum_over_batch_size``;
  a Loss object's ``sum`` is ``sum(loss * mask)``), a metric is ``sum(value * mask) /
  sum(mask)`` (0 when all is masked). Each batch's values are averaged over the epoch
  weighted by the batch's size (Keras's stateful metrics weight a masked metric by the
  batch's mask sum instead).

Not supported (NotImplementedError): several outputs in ``compile``/``fit`` (``predict``
returns them all), ``sample_weight``/``class_weight``, ``loss_weights``, data
generators and ``steps_per_epoch``, saving a subclassed model's architecture (its
weights can be saved).
"""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from graphc import dtypes as _dt
from graphc.frontend.graph import Operation, Tensor
from graphc.keras import backend, saving
from graphc.keras import callbacks as _callbacks
from graphc.keras import layers as _layers
from graphc.keras import losses as _losses
from graphc.keras import metrics as _metrics
from graphc.keras import optimizers as _optimizers
from graphc.keras.layers import Input, InputLayer, Layer
from graphc.keras.masking import get_mask, set_mask
from graphc.layers.base import Layer as _BaseLayer
from graphc.layers.base import Node, collect_call_effects, keras_history, learning_phase_scope
from graphc.ops.core_ops import group, placeholder
from graphc.ops.layout_ops import expand_dims, squeeze
from graphc.ops.math_ops import add_n, cast, maximum
from graphc.ops.reduction_ops import reduce_mean, reduce_sum
from graphc.runtime import nest

__all__ = ["Model", "Sequential", "load_model", "model_from_config", "model_from_json"]


class _Step:
    """One compiled step of a model: fixed fetches and feeds, run with new values each
    time; ``compiles`` counts the backend compiles its runs caused."""

    def __init__(self, fetches: list[Any], feeds: list[Tensor]) -> None:
        self.fetches = fetches
        self.feeds = feeds
        self.compiles = 0

    def __call__(self, values: Sequence[np.ndarray]) -> list[Any]:
        sess = backend.get_session(self.feeds[0].graph)
        before = sess.stats["compiles"]
        out = sess.run(self.fetches, dict(zip(self.feeds, values, strict=True)))
        self.compiles += sess.stats["compiles"] - before
        return out


def _call_layer(layer: _BaseLayer, x: Any, training: bool | None) -> Any:
    if training is not None and layer._call_accepts("training"):
        return layer(x, training=training)
    return layer(x)


def _np_dtype_for(arr: np.ndarray) -> _dt.DType:
    if arr.dtype.kind == "f":
        return _dt.float32
    if arr.dtype.kind in "iu":
        return _dt.int32
    if arr.dtype.kind == "b":
        return _dt.bool_
    raise TypeError(f"cannot feed arrays of dtype {arr.dtype} to a model")


def _shape_str(x: Any) -> str:
    if isinstance(x, list | tuple):
        return str([tuple(t.shape.as_list()) for t in x])
    return str(tuple(x.shape.as_list())) if x.shape.ndims is not None else "?"


def _mask_weights(mask: Tensor, values: Tensor) -> Tensor:
    """``mask`` as float weights for ``values`` (Keras's squeeze_or_expand_dimensions:
    a trailing axis of 1 dropped, or one added, to match the rank)."""
    w = cast(mask, values.dtype)
    rw, rv = w.shape.ndims, values.shape.ndims
    if rw is not None and rv is not None:
        if rw == rv + 1 and w.shape.as_list()[-1] == 1:
            w = squeeze(w, axis=[-1])
        elif rv == rw + 1:
            w = expand_dims(w, -1)
    return w


def _n_params(variables: Sequence[Any]) -> int:
    return int(sum(np.prod(v.shape.as_list(), dtype=np.int64) for v in variables))


class Model(Layer):
    """tf.keras.Model: ``Model(inputs, outputs, name=None)`` from ``tf.keras.Input``
    tensors (functional), or subclassed (layers made in ``__init__``, applied in
    ``call(inputs, training=None)``). See the module docstring for how it runs."""

    # A model's outputs keep the masks its layers gave them.
    _compute_output_and_mask_jointly = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        inputs = kwargs.pop("inputs", None)
        outputs = kwargs.pop("outputs", None)
        if len(args) >= 2:
            inputs, outputs, *rest = args
            if rest:
                raise TypeError("Model takes (inputs, outputs) and keyword arguments")
        elif args:
            raise TypeError("Model(inputs, outputs): both are needed for a functional model")
        functional = inputs is not None or outputs is not None
        if functional and (inputs is None or outputs is None):
            raise ValueError("A functional Model needs both inputs and outputs")
        super().__init__(name=kwargs.pop("name", None), trainable=kwargs.pop("trainable", True), **kwargs)
        self._is_graph_network = False
        self.inputs: list[Tensor] | None = None
        self.outputs: list[Tensor] | None = None
        self._nodes: list[Node] = []
        self._network_layers: list[_BaseLayer] = []
        self._tensor_refs: dict[int, tuple[str, int, int]] = {}
        self._init_training_state()
        if functional:
            self._init_graph_network(inputs, outputs)

    def _init_training_state(self) -> None:
        self.optimizer: Any = None
        self.loss: Any = None
        self._loss_fn: Any = None
        self._metric_ids: list[Any] = []
        self._metric_fns: list[tuple[str, Callable[..., Tensor]]] | None = None
        self._compiled = False
        self._steps: dict[str, _Step] = {}
        self._retired_compiles = 0
        self._model_inputs: list[Tensor] | None = None
        self._infer_outputs: list[Tensor] | None = None
        self._infer_losses: list[Tensor] = []
        self._target: Tensor | None = None
        self.stop_training = False
        self.history: Any = None

    # -- the functional network ------------------------------------------------------
    def _init_graph_network(self, inputs: Any, outputs: Any) -> None:
        ins = nest.flatten(inputs)
        outs = nest.flatten(outputs)
        for t in ins:
            hist = keras_history(t)
            if hist is None or not isinstance(hist[0], InputLayer):
                raise ValueError(
                    f"Input tensors to a functional Model must come from `tf.keras.Input`; received {t!r}"
                )
        self._nested_outputs = outputs
        self.inputs = ins
        self.outputs = outs
        self._graph = ins[0].graph
        self._nodes = self._walk(ins, outs)
        self._set_network_layers()
        self._is_graph_network = True
        self.built = True

    @staticmethod
    def _walk(inputs: list[Tensor], outputs: list[Tensor]) -> list[Node]:
        """The layer calls between ``inputs`` and ``outputs``, each after those it reads."""
        input_ids = {id(t) for t in inputs}
        order: list[Node] = []
        done: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(t, False) for t in reversed(outputs)]
        while stack:
            t, expanded = stack.pop()
            hist = keras_history(t)
            if hist is None:
                raise ValueError(
                    f"Output tensors of a functional Model must be the output of a Keras layer; {t.name} is not"
                )
            layer, node_index, _ = hist
            node = layer._inbound_nodes[node_index]
            if id(node) in done:
                continue
            if isinstance(layer, InputLayer):
                if id(t) not in input_ids:
                    raise ValueError(
                        f"Graph disconnected: cannot obtain value for tensor {t.name} at layer "
                        f"{layer.name!r}: it is not among the model's inputs"
                    )
                done.add(id(node))
                order.append(node)
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            stack.append((t, True))
            for inp in reversed(node.input_tensors):
                stack.append((inp, False))
        # Inputs no output depends on still enter the model, in the order given.
        present = {id(n) for n in order}
        head = []
        for t in inputs:
            hist = keras_history(t)
            assert hist is not None
            node = hist[0]._inbound_nodes[hist[1]]
            if id(node) not in present:
                head.append(node)
                present.add(id(node))
        return head + order

    def _set_network_layers(self) -> None:
        layers: list[_BaseLayer] = []
        seen: set[int] = set()
        counts: collections.Counter[str] = collections.Counter()
        refs: dict[int, tuple[str, int, int]] = {}
        for node in self._nodes:
            layer = node.layer
            if id(layer) not in seen:
                seen.add(id(layer))
                layers.append(layer)
            index = counts[layer.name]
            counts[layer.name] += 1
            for i, t in enumerate(node.output_tensors):
                refs[id(t)] = (layer.name, index, i)
        self._network_layers = layers
        self._tensor_refs = refs
        for layer in layers:
            if all(layer is not s for s in self._sublayers):
                self._sublayers.append(layer)

    def _run_graph(self, xs: list[Tensor], training: bool | None, masks: list[Any] | None = None) -> Any:
        assert self.inputs is not None and self.outputs is not None
        if len(xs) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self.inputs)} input(s), got {len(xs)}")
        tmap: dict[int, Tensor] = {id(a): b for a, b in zip(self.inputs, xs)}
        if masks is not None:
            for x, m in zip(xs, masks):
                set_mask(x, m)
        for node in self._nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            args = nest.map_structure(lambda t: tmap[id(t)] if isinstance(t, Tensor) else t, node.inputs)
            kwargs = dict(node.kwargs)
            if training is not None and kwargs.get("training") is None and layer._call_accepts("training"):
                kwargs["training"] = training
            out = layer(args, *node.args, **kwargs)
            new = [t for t in nest.flatten(out) if isinstance(t, Tensor)]
            for a, b in zip(node.output_tensors, new):
                tmap[id(a)] = b
        outs = [tmap[id(t)] for t in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    # -- layers and calling ----------------------------------------------------------
    @property
    def weights(self) -> list[Any]:
        """Each layer's weights in turn (trainable first within a layer), as TF1's Keras."""
        out: list[Any] = []
        for layer in self.layers:
            out.extend(layer.weights)
        out.extend(self._trainable_weights + self._non_trainable_weights)
        return self._unique(out)

    @property
    def layers(self) -> list[_BaseLayer]:
        """The model's layers: a functional model's in the order they run (inputs
        first), a subclassed model's in the order they were assigned."""
        if self._is_graph_network:
            return list(self._network_layers)
        return list(self._sublayers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> _BaseLayer:
        """The layer named ``name`` or at ``index`` of ``layers``."""
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has {len(self.layers)} layers."
                )
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}")

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        """A functional model's computation on new inputs (the recorded layer calls
        replayed; ``mask``, one per input, becomes the inputs' masks); subclasses define
        their own."""
        if not self._is_graph_network:
            raise NotImplementedError(
                "When subclassing the `Model` class, you should implement a `call` method."
            )
        xs = nest.flatten(inputs)
        masks = None if mask is None else (list(mask) if isinstance(mask, list | tuple) else [mask])
        return self._run_graph(xs, training, masks)

    def _build_and_call(self, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # A model's layers build themselves when called.
        out = self.call(inputs, *args, **kwargs)
        self.built = True
        return out

    def _forward(self, inputs: list[Tensor], training: bool) -> list[Tensor]:
        with self._graph.as_default(), learning_phase_scope(training):
            x: Any = inputs[0] if len(inputs) == 1 else list(inputs)
            out = self.call(x, training=training) if self._call_accepts("training") else self.call(x)
        self.built = True
        flat = [t for t in nest.flatten(out) if isinstance(t, Tensor)]
        if not flat:
            raise ValueError(f"model {self.name!r}: call() returned no tensor")
        return flat

    def build(self, input_shape: Any = None) -> None:
        """Build a subclassed model for inputs of ``input_shape`` (batch dim included,
        e.g. ``(None, 784)``; a list for several inputs)."""
        if self._model_inputs is not None or self._is_graph_network:
            self.built = True
            return
        if input_shape is None:
            raise ValueError("build needs an input_shape")
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        with self._graph.as_default():
            self._model_inputs = [Input(batch_shape=tuple(s)) for s in shapes]
        self._make_inference()

    def _ensure_inputs(self, xs: list[np.ndarray]) -> None:
        if self._model_inputs is not None:
            return
        if self._is_graph_network:
            assert self.inputs is not None
            self._model_inputs = list(self.inputs)
            return
        with self._graph.as_default():
            self._model_inputs = [Input(shape=a.shape[1:], dtype=_np_dtype_for(a)) for a in xs]

    # -- compile ------------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        sample_weight_mode: Any = None,
        weighted_metrics: Any = None,
        target_tensors: Any = None,
        **kwargs: Any,
    ) -> None:
        """Keras's compile: ``optimizer`` a name ('adam', 'sgd', 'rmsprop', 'adagrad') or
        an optimizer object (tf.keras.optimizers or graphc.train); ``loss`` a name
        ('sparse_categorical_crossentropy', 'categorical_crossentropy', 'mse',
        'binary_crossentropy', ...), a function or a tf.keras.losses object; ``metrics`` a
        list of names ('accuracy', 'mae', ...) or functions. The programs are built and
        compiled by the first fit / evaluate after it."""
        for key, value in (
            ("loss_weights", loss_weights),
            ("sample_weight_mode", sample_weight_mode),
            ("weighted_metrics", weighted_metrics),
            ("target_tensors", target_tensors),
        ):
            if value is not None:
                raise NotImplementedError(f"compile({key}=...) is not supported")
        kwargs.pop("run_eagerly", None)
        if kwargs:
            raise TypeError(f"Invalid keyword argument(s) in `compile`: {sorted(kwargs)}")
        if isinstance(loss, list | tuple):
            if len(loss) != 1:
                raise NotImplementedError("compile supports one output (one loss)")
            loss = loss[0]
        if loss is None or isinstance(loss, dict):
            raise NotImplementedError("compile needs one loss (a name, function or Loss object)")
        if isinstance(metrics, dict):
            raise NotImplementedError("per-output metrics (a dict) are not supported")
        self.optimizer = _optimizers.get(optimizer)
        self.loss = loss
        self._loss_fn = _losses.get(loss)
        self._metric_ids = list(metrics or [])
        self._metric_fns = None
        for kind in ("train", "eval"):
            step = self._steps.pop(kind, None)
            if step is not None:
                self._retired_compiles += step.compiles
        self._target = None
        self._compiled = True

    @property
    def metrics_names(self) -> list[str]:
        """``['loss', *metric names]``: the order of ``evaluate``'s list."""
        names = ["loss"]
        for m in self._metric_ids:
            names.append(m if isinstance(m, str) else getattr(m, "__name__", type(m).__name__))
        return names

    @property
    def compiled_programs(self) -> int:
        """How many programs the backend compiled for this model's training, evaluation
        and prediction steps (each step's program is compiled once, whatever the batch
        sizes; a new compile() makes new training and evaluation steps)."""
        return self._retired_compiles + sum(s.compiles for s in self._steps.values())

    def _check_compiled(self, what: str) -> None:
        if not self._compiled:
            raise RuntimeError(
                f"You must compile your model before {what}. Use `model.compile(optimizer, loss)`."
            )

    def _is_sparse_loss(self) -> bool:
        fn = self._loss_fn
        return fn is _losses.sparse_categorical_crossentropy or isinstance(
            fn, _losses.SparseCategoricalCrossentropy
        )

    def _get_target(self, y_pred: Tensor) -> Tensor:
        if self._target is None:
            dims = y_pred.shape.as_list()
            with self._graph.as_default():
                name = f"{self.name}_target"
                if self._is_sparse_loss():
                    self._target = placeholder(_dt.int32, [None, *dims[1:-1]], name=name)
                else:
                    self._target = placeholder(y_pred.dtype, [None, *dims[1:]], name=name)
        return self._target

    def _loss_and_metrics(
        self, target: Tensor, y_pred: Tensor, extra: list[Tensor]
    ) -> tuple[Tensor, list[Tensor]]:
        graph = self._graph
        mask = get_mask(y_pred)
        with graph.name_scope("loss"):
            if mask is not None:
                data_loss = self._masked_loss(target, y_pred, mask)
            elif isinstance(self._loss_fn, _losses.Loss):
                data_loss = self._loss_fn(target, y_pred)
            else:
                data_loss = reduce_mean(self._loss_fn(target, y_pred))
            others = [*self.losses, *extra]
            total = add_n([data_loss, *others]) if others else data_loss
        if self._metric_fns is None:
            self._metric_fns = [
                _metrics.resolve(m, self._loss_fn, y_pred.shape.as_list()) for m in self._metric_ids
            ]
        mets = []
        with graph.name_scope("metrics"):
            for _, fn in self._metric_fns:
                value = fn(target, y_pred)
                if mask is None:
                    mets.append(reduce_mean(value))
                else:
                    w = _mask_weights(mask, value)
                    mets.append(reduce_sum(value * w) / maximum(reduce_sum(w), 1.0))
        return total, mets

    def _masked_loss(self, target: Tensor, y_pred: Tensor, mask: Tensor) -> Tensor:
        """TF1 1.15's Keras loss with the output's mask as sample weights."""
        fn = self._loss_fn
        per = fn.call(target, y_pred) if isinstance(fn, _losses.Loss) else fn(target, y_pred)
        weighted = per * _mask_weights(mask, per)
        reduction = fn.reduction if isinstance(fn, _losses.Loss) else "auto"
        if reduction == "none":
            return weighted
        if reduction == "sum":
            return reduce_sum(weighted)
        return reduce_mean(weighted)

    def _single_output(self, outs: list[Tensor]) -> Tensor:
        if len(outs) != 1:
            raise NotImplementedError(
                f"fit/evaluate support models with one output; {self.name!r} has {len(outs)}"
            )
        return outs[0]

    def _make_inference(self) -> list[Tensor]:
        if self._infer_outputs is None:
            assert self._model_inputs is not None
            with collect_call_effects() as effects:
                self._infer_outputs = self._forward(self._model_inputs, training=False)
            self._infer_losses = list(effects.losses)
        return self._infer_outputs

    def _train_step(self) -> _Step:
        step = self._steps.get("train")
        if step is None:
            assert self._model_inputs is not None
            graph = self._graph
            with graph.as_default():
                with collect_call_effects() as effects:
                    outs = self._forward(self._model_inputs, training=True)
                y_pred = self._single_output(outs)
                target = self._get_target(y_pred)
                total, mets = self._loss_and_metrics(target, y_pred, effects.losses)
                var_list = self.trainable_weights
                if not var_list:
                    raise ValueError(f"model {self.name!r} has no trainable weights to fit")
                with graph.name_scope("training"):
                    train_op: Operation = self.optimizer.minimize(total, var_list=var_list)
                    if effects.updates:
                        train_op = group(train_op, *effects.updates)
            step = self._steps["train"] = _Step([train_op, total, *mets], [*self._model_inputs, target])
        return step

    def _eval_step(self) -> _Step:
        step = self._steps.get("eval")
        if step is None:
            assert self._model_inputs is not None
            with self._graph.as_default():
                y_pred = self._single_output(self._make_inference())
                target = self._get_target(y_pred)
                total, mets = self._loss_and_metrics(target, y_pred, self._infer_losses)
            step = self._steps["eval"] = _Step([total, *mets], [*self._model_inputs, target])
        return step

    def _predict_step(self) -> _Step:
        step = self._steps.get("predict")
        if step is None:
            assert self._model_inputs is not None
            step = self._steps["predict"] = _Step(list(self._make_inference()), list(self._model_inputs))
        return step

    # -- data -----------------------------------------------------------------------------
    def _x_arrays(self, x: Any) -> list[np.ndarray]:
        if x is None:
            raise ValueError("x is needed (data generators are not supported)")
        if isinstance(x, dict):
            raise NotImplementedError("inputs given as a dict are not supported; pass a list in input order")
        n_inputs = (
            len(self._model_inputs)
            if self._model_inputs is not None
            else (len(self.inputs) if self.inputs is not None else None)
        )
        if (
            isinstance(x, list | tuple)
            and x
            and all(isinstance(a, np.ndarray) for a in x)
            and ((n_inputs or len(x)) > 1)
        ):
            xs = [np.asarray(a) for a in x]
        elif isinstance(x, list | tuple) and len(x) == 1 and isinstance(x[0], np.ndarray):
            xs = [x[0]]
        else:
            xs = [np.asarray(x)]
        self._ensure_inputs(xs)
        assert self._model_inputs is not None
        if len(xs) != len(self._model_inputs):
            raise ValueError(
                f"model {self.name!r} expects {len(self._model_inputs)} input array(s), got {len(xs)}"
            )
        out = []
        for a, ph in zip(xs, self._model_inputs):
            want = ph.shape.as_list()
            if a.ndim != len(want):
                raise ValueError(
                    f"Error when checking input: expected {ph.op.name} to have {len(want)} dimensions, "
                    f"but got array with shape {a.shape}"
                )
            for i, (d, w) in enumerate(zip(a.shape[1:], want[1:]), 1):
                if w is not None and d != w:
                    raise ValueError(
                        f"Error when checking input: expected {ph.op.name} to have shape {tuple(want[1:])} "
                        f"but got array with shape {a.shape[1:]} (axis {i})"
                    )
            out.append(np.ascontiguousarray(a, dtype=ph.dtype.np))
        n = {len(a) for a in out}
        if len(n) > 1:
            raise ValueError(f"All input arrays (x) should have the same number of samples, got {sorted(n)}")
        return out

    def _y_array(self, y: Any, target: Tensor) -> np.ndarray:
        if y is None:
            raise ValueError("y is needed to fit or evaluate")
        if isinstance(y, list | tuple) and len(y) == 1 and isinstance(y[0], np.ndarray):
            y = y[0]
        arr = np.asarray(y)
        want = target.shape.as_list()
        if arr.ndim == len(want) + 1 and arr.shape[-1] == 1:
            arr = arr.reshape(arr.shape[:-1])
        elif arr.ndim == len(want) - 1:
            arr = arr.reshape(*arr.shape, 1)
        if arr.ndim != len(want) or any(w is not None and d != w for d, w in zip(arr.shape[1:], want[1:])):
            kind = "integer class labels" if self._is_sparse_loss() else "targets"
            raise ValueError(
                f"Error when checking target: expected {kind} of shape {tuple(want[1:])} per sample "
                f"but got array with shape {arr.shape}"
            )
        if target.dtype.is_integer and arr.dtype.kind == "f":
            if not np.all(arr == np.round(arr)):
                raise ValueError("sparse labels must be integers")
        return np.ascontiguousarray(arr, dtype=target.dtype.np)

    # -- fit / evaluate / predict ---------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: Sequence[_callbacks.Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Any = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: Any = None,
        validation_steps: Any = None,
        validation_freq: int = 1,
        **kwargs: Any,
    ) -> _callbacks.History:
        """Keras's fit on NumPy arrays: ``epochs`` passes over ``x``/``y`` in batches of
        ``batch_size`` (default 32; the last one may be smaller, without recompiling),
        shuffled each epoch unless ``shuffle=False``; ``validation_split`` holds out the
        last fraction of the data (before shuffling), ``validation_data=(x_val, y_val)``
        gives it. Returns the History; ``history.history`` has per-epoch lists of
        ``loss``, each metric, and ``val_*``. verbose: 0 silent, 1 a progress bar per
        epoch, 2 one line per epoch."""
        self._check_compiled("training/testing")
        if class_weight is not None or sample_weight is not None:
            raise NotImplementedError("class_weight and sample_weight are not supported")
        if steps_per_epoch is not None or validation_steps is not None:
            raise NotImplementedError(
                "steps_per_epoch / validation_steps (data generators) are not supported"
            )
        kwargs.pop("workers", None)
        kwargs.pop("use_multiprocessing", None)
        kwargs.pop("max_queue_size", None)
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
        batch_size = int(batch_size or 32)
        xs = self._x_arrays(x)
        step = self._train_step()
        target = step.feeds[-1]
        ys = self._y_array(y, target)
        n = len(xs[0])
        if len(ys) != n:
            raise ValueError(
                f"Input arrays should have the same number of samples as target arrays: {n} vs {len(ys)}"
            )
        val: tuple[list[np.ndarray], np.ndarray] | None = None
        if validation_data is not None:
            if not isinstance(validation_data, list | tuple) or len(validation_data) != 2:
                raise NotImplementedError("validation_data must be (x_val, y_val)")
            val = (self._x_arrays(validation_data[0]), self._y_array(validation_data[1], target))
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            split = int(n * (1.0 - validation_split))
            val = ([a[split:] for a in xs], ys[split:])
            xs, ys = [a[:split] for a in xs], ys[:split]
            n = split
        if val is not None:
            self._eval_step()
        names = self.metrics_names
        steps = (n + batch_size - 1) // batch_size
        history = _callbacks.History()
        cbs: list[_callbacks.Callback] = [history]
        if verbose:
            cbs.append(_callbacks.ProgbarLogger(verbose=verbose))
        cbs.extend(callbacks or [])
        cb = _callbacks.CallbackList(cbs)
        cb.set_model(self)
        cb.set_params(
            {
                "batch_size": batch_size,
                "epochs": epochs,
                "steps": steps,
                "samples": n,
                "verbose": verbose,
                "do_validation": val is not None,
                "metrics": names + ([f"val_{m}" for m in names] if val is not None else []),
            }
        )
        self.stop_training = False
        self.history = history
        cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            order = np.random.permutation(n) if shuffle else np.arange(n)
            totals = np.zeros(len(names))
            seen = 0
            for b in range(steps):
                idx = order[b * batch_size : (b + 1) * batch_size]
                size = len(idx)
                batch_logs: dict[str, Any] = {"batch": b, "size": size}
                cb.on_train_batch_begin(b, batch_logs)
                outs = step([a[idx] for a in xs] + [ys[idx]])
                values = [float(v) for v in outs[1:]]
                totals += np.asarray(values) * size
                seen += size
                batch_logs.update(zip(names, values))
                cb.on_train_batch_end(b, batch_logs)
                if self.stop_training:
                    break
            epoch_logs = {k: float(t / max(seen, 1)) for k, t in zip(names, totals)}
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_values = self._evaluate_arrays(val[0], val[1], batch_size)
                epoch_logs.update({f"val_{k}": v for k, v in zip(names, val_values)})
            cb.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cb.on_train_end()
        return history

    def _evaluate_arrays(
        self, xs: list[np.ndarray], ys: np.ndarray, batch_size: int, bar: Any = None
    ) -> list[float]:
        step = self._eval_step()
        n = len(xs[0])
        totals = np.zeros(len(step.fetches))
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            outs = step([a[sl] for a in xs] + [ys[sl]])
            size = len(ys[sl])
            totals += np.asarray([float(v) for v in outs]) * size
            if bar is not None:
                bar.update(1)
        return [float(t / max(n, 1)) for t in totals]

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int = 1,
        sample_weight: Any = None,
        steps: Any = None,
        callbacks: Any = None,
        **kwargs: Any,
    ) -> Any:
        """The loss (and metrics: then ``[loss, *metrics]``, in ``metrics_names`` order) on
        ``x``/``y`` with the inference graph (dropout off, moving statistics), averaged
        over the samples; batches of ``batch_size`` (default 32)."""
        self._check_compiled("training/testing")
        if sample_weight is not None or steps is not None:
            raise NotImplementedError("sample_weight and steps are not supported")
        batch_size = int(batch_size or 32)
        xs = self._x_arrays(x)
        step = self._eval_step()
        ys = self._y_array(y, step.feeds[-1])
        if len(ys) != len(xs[0]):
            raise ValueError("x and y should have the same number of samples")
        n_batches = (len(ys) + batch_size - 1) // batch_size
        bar = tqdm(total=n_batches, unit="step", file=sys.stdout, leave=True) if verbose == 1 else None
        try:
            values = self._evaluate_arrays(xs, ys, batch_size, bar)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in zip(self.metrics_names, values)}, refresh=False)
        finally:
            if bar is not None:
                bar.close()
        return values[0] if len(values) == 1 else values

    def predict(
        self, x: Any, batch_size: int | None = None, verbose: int = 0, steps: Any = None, **kwargs: Any
    ) -> Any:
        """The inference graph's outputs on ``x`` in batches of ``batch_size`` (default 32):
        an array, or a list of arrays for several outputs."""
        if steps is not None:
            raise NotImplementedError("predict(steps=...) is not supported")
        batch_size = int(batch_size or 32)
        xs = self._x_arrays(x)
        self._make_inference()
        step = self._predict_step()
        n = len(xs[0])
        chunks: list[list[np.ndarray]] = []
        for start in range(0, n, batch_size):
            outs = step([a[start : start + batch_size] for a in xs])
            chunks.append([np.asarray(o) for o in outs])
        if not chunks:
            raise ValueError("predict needs at least one sample")
        results = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        return results[0] if len(results) == 1 else results

    def train_on_batch(self, x: Any, y: Any) -> Any:
        """One training step on one batch: the loss (and metrics) before the update."""
        self._check_compiled("training/testing")
        xs = self._x_arrays(x)
        step = self._train_step()
        ys = self._y_array(y, step.feeds[-1])
        values = [float(v) for v in step([*xs, ys])[1:]]
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x: Any, y: Any) -> Any:
        """The loss (and metrics) on one batch, with the inference graph."""
        self._check_compiled("training/testing")
        xs = self._x_arrays(x)
        step = self._eval_step()
        ys = self._y_array(y, step.feeds[-1])
        values = [float(v) for v in step([*xs, ys])]
        return values[0] if len(values) == 1 else values

    def predict_on_batch(self, x: Any) -> Any:
        """The inference graph's outputs on one batch."""
        return self.predict(x, batch_size=max(len(np.asarray(x if not isinstance(x, list) else x[0])), 1))

    # -- weights and saving ----------------------------------------------------------------
    def _leaf_layers(self) -> list[_BaseLayer]:
        out: list[_BaseLayer] = []
        for layer in self.layers:
            if isinstance(layer, Model):
                out.extend(layer._leaf_layers())
            else:
                out.append(layer)
        return out

    def _weighted_leaves(self) -> list[_BaseLayer]:
        leaves = [layer for layer in self._leaf_layers() if layer.weights]
        return leaves

    def _check_built_for_weights(self) -> None:
        if not self.built or any(not layer.built for layer in self._leaf_layers()):
            raise ValueError(
                f"model {self.name!r} is not built yet: call it on data (fit / predict) or build(input_shape) first"
            )

    def _weight_listing(self) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
        self._check_built_for_weights()
        leaves = self._weighted_leaves()
        flat = backend.batch_get_value([w for layer in leaves for w in layer.weights])
        out = []
        for layer in leaves:
            ws = layer.weights
            values, flat = flat[: len(ws)], flat[len(ws) :]
            names = [layer.weight_name(w) for w in ws]
            if len(set(names)) != len(names):
                names = [w.op.name for w in ws]
            out.append((layer.name, list(zip(names, values))))
        return out

    def _assign_weights(self, saved: list[tuple[str, list[np.ndarray]]], by_name: bool = False) -> None:
        self._check_built_for_weights()
        leaves = self._weighted_leaves()
        pairs = []
        if by_name:
            by = {name: values for name, values in saved}
            targets = [(layer, by[layer.name]) for layer in leaves if layer.name in by]
        else:
            if len(leaves) != len(saved):
                raise ValueError(
                    f"You are trying to load a weight file containing {len(saved)} layers into a model "
                    f"with {len(leaves)} layers."
                )
            targets = [(layer, values) for layer, (_, values) in zip(leaves, saved)]
        for layer, values in targets:
            ws = layer.weights
            if len(ws) != len(values):
                raise ValueError(
                    f"Layer {layer.name!r} expects {len(ws)} weights, but the saved weights have {len(values)} elements."
                )
            for w, v in zip(ws, values):
                if tuple(w.shape.as_list()) != tuple(v.shape):
                    raise ValueError(
                        f"Layer {layer.name!r} weight {w.name} has shape {tuple(w.shape.as_list())}, the saved "
                        f"value {tuple(v.shape)}"
                    )
                pairs.append((w, v))
        backend.batch_set_value(pairs)

    def _compile_config(self) -> dict[str, Any] | None:
        if not self._compiled:
            return None
        opt = _optimizers.serialize(self.optimizer)
        try:
            loss = _losses.serialize(self.loss)
        except ValueError:
            return None
        if opt is None or not all(isinstance(m, str) for m in self._metric_ids):
            return None
        return {"optimizer": opt, "loss": loss, "metrics": list(self._metric_ids)}

    def save(
        self, filepath: str, overwrite: bool = True, include_optimizer: bool = True, save_format: Any = None
    ) -> None:
        """Save the architecture (JSON), the weights and the compile settings in one graphc
        checkpoint file (format: :mod:`graphc.keras.saving`); reload it with
        ``tf.keras.models.load_model``. Subclassed models cannot be saved this way (their
        architecture is Python code): use ``save_weights``."""
        if not self._is_graph_network:
            raise NotImplementedError(
                "Saving the architecture needs a functional or Sequential model (a subclassed model's "
                "architecture is its Python code); use model.save_weights(path) instead"
            )
        config = {"class_name": self._class_name(), "config": self.get_config()}
        compile_config = self._compile_config() if include_optimizer else None
        saving.write_model_file(filepath, self._weight_listing(), config, compile_config)

    def save_weights(self, filepath: str, overwrite: bool = True, save_format: Any = None) -> None:
        """Save the weights only (same file format, ``model: null``)."""
        saving.write_model_file(filepath, self._weight_listing(), None, None)

    def load_weights(self, filepath: str, by_name: bool = False) -> None:
        """Load weights saved by ``save``/``save_weights``: layer by layer in order (or
        matching layer names with ``by_name=True``), every shape checked."""
        _, saved = saving.read_model_file(filepath)
        self._assign_weights(saved, by_name=by_name)

    def _class_name(self) -> str:
        return "Model"

    def get_config(self) -> dict[str, Any]:
        """A functional model's architecture: its layers' configs and the layer calls
        between inputs and outputs (see :mod:`graphc.keras.saving`)."""
        if not self._is_graph_network:
            raise NotImplementedError("a subclassed model has no config (its architecture is Python code)")
        assert self.inputs is not None and self.outputs is not None
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"the layers of model {self.name!r} need unique names to be saved: {names}")
        nodes = []
        for node in self._nodes:
            inputs = [list(self._tensor_refs[id(t)]) for t in node.input_tensors]
            if isinstance(node.layer, InputLayer):
                inputs = []
            kwargs = {k: v for k, v in node.kwargs.items() if v is not None}
            try:
                json.dumps(kwargs)
            except TypeError:
                raise ValueError(
                    f"layer call arguments {kwargs!r} of {node.layer.name!r} cannot be saved"
                ) from None
            nodes.append(
                {
                    "layer": node.layer.name,
                    "inputs": inputs,
                    "single": isinstance(node.inputs, Tensor),
                    "kwargs": kwargs,
                }
            )
        return {
            "name": self.name,
            "layers": [_serialize(layer) for layer in self.layers],
            "nodes": nodes,
            "input_layers": [list(self._tensor_refs[id(t)]) for t in self.inputs],
            "output_layers": [list(self._tensor_refs[id(t)]) for t in self.outputs],
        }

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON: ``{"class_name", "config"}``."""
        return json.dumps({"class_name": self._class_name(), "config": self.get_config()}, **kwargs)

    # -- summary ------------------------------------------------------------------------------
    def _layer_nodes(self, layer: _BaseLayer) -> list[Node]:
        if self._is_graph_network:
            return [n for n in self._nodes if n.layer is layer]
        return list(layer._inbound_nodes)

    def summary(self, line_length: int | None = None, positions: Any = None, print_fn: Any = None) -> None:
        """Print Keras's layer table: each layer's name and class, output shape and
        parameter count, then the total, trainable and non-trainable counts. A functional
        model that is not a plain chain also lists each layer's inputs ("Connected to")."""
        if not self.built:
            raise ValueError(
                "This model has not yet been built. Build the model first by calling `build()` or calling "
                "`fit()` with some data, or specify an `input_shape` argument in the first layer(s) for "
                "automatic build."
            )
        print_fn = print_fn or print
        chain = (
            not self._is_graph_network
            or isinstance(self, Sequential)
            or all(len(n.input_tensors) <= 1 for n in self._nodes)
            and len({id(n.layer) for n in self._nodes}) == len(self._nodes)
        )
        if chain:
            line_length = line_length or 65
            positions = positions or [0.45, 0.85, 1.0]
            header = ["Layer (type)", "Output Shape", "Param #"]
        else:
            line_length = line_length or 98
            positions = positions or [0.33, 0.55, 0.67, 1.0]
            header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        if positions[-1] <= 1:
            positions = [int(line_length * p) for p in positions]

        def row(fields: list[str]) -> None:
            line = ""
            for i, field in enumerate(fields):
                if i > 0:
                    line = line[:-1] + " "
                line += str(field)
                line = line[: positions[i]]
                line += " " * (positions[i] - len(line))
            print_fn(line)

        print_fn(f'Model: "{self.name}"')
        print_fn("_" * line_length)
        row(header)
        print_fn("=" * line_length)
        layers = self.layers
        for i, layer in enumerate(layers):
            nodes = self._layer_nodes(layer)
            shapes = {_shape_str(n.outputs) for n in nodes}
            if isinstance(layer, InputLayer):
                shape_text = f"[{_shape_str(layer.placeholder)}]"
            elif len(shapes) == 1:
                shape_text = shapes.pop()
            else:
                shape_text = "multiple"
            fields = [
                f"{layer.name} ({type(layer).__name__})",
                shape_text,
                str(layer.count_params() if layer.built else 0),
            ]
            if chain:
                row(fields)
            else:
                connections = []
                for n in nodes:
                    for t in n.input_tensors:
                        ref = self._tensor_refs.get(id(t))
                        if ref is not None and not isinstance(layer, InputLayer):
                            connections.append(f"{ref[0]}[{ref[1]}][{ref[2]}]")
                row([*fields, connections[0] if connections else ""])
                for c in connections[1:]:
                    row(["", "", "", c])
            print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
        trainable = _n_params(self.trainable_weights)
        non_trainable = _n_params(self.non_trainable_weights)
        print_fn(f"Total params: {trainable + non_trainable:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {non_trainable:,}")
        print_fn("_" * line_length)


class Sequential(Model):
    """tf.keras.Sequential(layers=None, name=None): a stack of single-input,
    single-output layers. With ``input_shape`` (or ``input_dim``, ``batch_input_shape``)
    on the first layer, or an ``InputLayer`` first, it is built at once; else the first
    ``fit``/``predict``/``build`` builds it from the data's shape. ``layers`` leaves out
    the input layer, as Keras."""

    def __init__(self, layers: Sequence[_BaseLayer] | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self._seq_layers: list[_BaseLayer] = []
        self._input_layer: InputLayer | None = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[_BaseLayer]:
        return list(self._seq_layers)

    def _class_name(self) -> str:
        return "Sequential"

    def add(self, layer: _BaseLayer) -> None:
        """Append ``layer`` (built at once when the model's input is known)."""
        if not isinstance(layer, _BaseLayer):
            raise TypeError(f"The added layer must be an instance of class Layer. Found: {layer!r}")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._seq_layers:
                raise ValueError("An InputLayer can only be the first layer of a Sequential model")
            self._set_input(layer)
            return
        if not self._seq_layers and self._input_layer is None:
            bis = layer._batch_input_shape
            if bis is None and isinstance(layer, Model) and layer.inputs is not None:
                bis = tuple(layer.inputs[0].shape.as_list())
            if bis is not None:
                with self._graph.as_default():
                    self._set_input(
                        InputLayer(
                            batch_input_shape=bis, dtype=layer.dtype or "float32", name=f"{layer.name}_input"
                        )
                    )
        self._seq_layers.append(layer)
        if all(layer is not s for s in self._sublayers):
            self._sublayers.append(layer)
        if self.outputs is not None:
            self._apply(layer)

    def _set_input(self, input_layer: InputLayer) -> None:
        self._input_layer = input_layer
        self.inputs = [input_layer.placeholder]
        self.outputs = [input_layer.placeholder]
        self._nodes = [input_layer._inbound_nodes[0]]
        for layer in self._seq_layers:
            self._apply(layer)
        self._set_network_layers()
        self._is_graph_network = True
        self.built = True

    def _apply(self, layer: _BaseLayer) -> None:
        assert self.outputs is not None
        with self._graph.as_default():
            out = layer(self.outputs[0])
        flat = [t for t in nest.flatten(out) if isinstance(t, Tensor)]
        if len(flat) != 1:
            raise TypeError(
                "All layers in a Sequential model should have a single output tensor. For multi-output "
                "layers, use the functional API."
            )
        self.outputs = [flat[0]]
        self._nodes.append(layer._inbound_nodes[-1])
        self._set_network_layers()
        self._is_graph_network = True
        self.built = True

    def _set_network_layers(self) -> None:
        super()._set_network_layers()
        self._network_layers = list(self._seq_layers)

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        x = inputs
        if mask is not None and isinstance(x, Tensor):
            set_mask(x, mask)
        for layer in self._seq_layers:
            x = _call_layer(layer, x, training)
        return x

    def build(self, input_shape: Any = None) -> None:
        """Build for inputs of ``input_shape`` (batch dim included, e.g. ``(None, 784)``)."""
        if self._input_layer is not None:
            return
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument.")
        with self._graph.as_default():
            self._set_input(InputLayer(batch_input_shape=tuple(input_shape)))

    def _ensure_inputs(self, xs: list[np.ndarray]) -> None:
        if self._model_inputs is not None:
            return
        if self._input_layer is None:
            if len(xs) != 1:
                raise ValueError("a Sequential model has one input")
            a = xs[0]
            with self._graph.as_default():
                self._set_input(
                    InputLayer(batch_input_shape=(None, *a.shape[1:]), dtype=_np_dtype_for(a).name)
                )
        assert self.inputs is not None
        self._model_inputs = list(self.inputs)

    def get_config(self) -> dict[str, Any]:
        """``{"name", "layers": [...]}``; the input layer first unless the first layer
        carries the input shape."""
        layers = [_serialize(layer) for layer in self._seq_layers]
        first = self._seq_layers[0] if self._seq_layers else None
        if self._input_layer is not None and (first is None or first._batch_input_shape is None):
            layers.insert(0, _serialize(self._input_layer))
        return {"name": self.name, "layers": layers}


def _serialize(layer: _BaseLayer) -> dict[str, Any]:
    if isinstance(layer, Model):
        return {"class_name": layer._class_name(), "config": layer.get_config()}
    return _layers.serialize(layer)  # type: ignore[arg-type]


def _deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> _BaseLayer:
    name = config["class_name"]
    if name == "Sequential":
        cfg = config["config"]
        model = Sequential(name=cfg.get("name"))
        for lc in cfg["layers"]:
            model.add(_deserialize(lc, custom_objects))
        return model
    if name in ("Model", "Functional"):
        return _functional_from_config(config["config"], custom_objects)
    return _layers.deserialize(config, custom_objects)


def _functional_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None) -> Model:
    created: dict[str, _BaseLayer] = {}
    for lc in config["layers"]:
        layer = _deserialize(lc, custom_objects)
        created[lc["config"]["name"]] = layer
    made: dict[tuple[str, int], list[Tensor]] = {}
    counts: collections.Counter[str] = collections.Counter()
    for node in config["nodes"]:
        layer = created[node["layer"]]
        if isinstance(layer, InputLayer):
            outs = [layer.placeholder]
        else:
            ins = [made[(lname, int(ni))][int(ti)] for lname, ni, ti in node["inputs"]]
            arg: Any = ins[0] if node.get("single", len(ins) == 1) else ins
            outs = [t for t in nest.flatten(layer(arg, **node.get("kwargs", {}))) if isinstance(t, Tensor)]
        made[(node["layer"], counts[node["layer"]])] = outs
        counts[node["layer"]] += 1
    inputs = [made[(lname, int(ni))][int(ti)] for lname, ni, ti in config["input_layers"]]
    outputs = [made[(lname, int(ni))][int(ti)] for lname, ni, ti in config["output_layers"]]
    return Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=config.get("name"))


def model_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Model:
    """The model a ``{"class_name", "config"}`` architecture describes (new weights)."""
    model = _deserialize(config, custom_objects)
    if not isinstance(model, Model):
        raise ValueError(f"{config.get('class_name')!r} is not a model")
    return model


def model_from_json(json_string: str, custom_objects: dict[str, Any] | None = None) -> Model:
    """The model ``model.to_json()`` describes (new weights)."""
    return model_from_config(json.loads(json_string), custom_objects)


def load_model(filepath: str, custom_objects: dict[str, Any] | None = None, compile: bool = True) -> Model:  # noqa: A002
    """tf.keras.models.load_model: rebuild the model ``Model.save`` wrote (in the default
    graph), load its weights, and compile it as it was (unless ``compile=False`` or it
    was not compiled with named settings)."""
    meta, saved = saving.read_model_file(filepath)
    if meta.get("model") is None:
        raise ValueError(
            f"{filepath!r} holds weights only (save_weights): build the model and call load_weights instead"
        )
    model = model_from_config(meta["model"], custom_objects)
    model._assign_weights(saved)
    c = meta.get("compile")
    if compile and c:
        model.compile(
            optimizer=_optimizers.deserialize(c["optimizer"], custom_objects),
            loss=_losses.deserialize(c["loss"], custom_objects),
            metrics=c.get("metrics") or None,
        )
    return model
