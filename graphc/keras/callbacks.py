"""tf.keras.callbacks: Callback, History, ProgbarLogger (a tqdm bar per epoch),
EarlyStopping, ModelCheckpoint, TerminateOnNaN, LambdaCallback and TensorBoard.

``logs`` are dicts of floats: per batch ``loss`` and the metrics of that batch; per
epoch the means over the epoch's samples and, with validation, ``val_*``.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from tqdm import tqdm

try:  # summaries come with graphc.summary where it is present
    from graphc import summary as _summary
except ImportError:  # not part of this build: TensorBoard says so when made
    _summary = None  # type: ignore[assignment]

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "ProgbarLogger",
    "TensorBoard",
    "TerminateOnNaN",
]


class Callback:
    """tf.keras.callbacks.Callback: override the ``on_*`` hooks; ``self.model`` is the
    model being trained and ``self.params`` its fit settings (``epochs``, ``steps``,
    ``samples``, ``batch_size``, ``verbose``, ``metrics``)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self.validation_data: Any = None

    def set_model(self, model: Any) -> None:
        """Called by fit with the model being trained."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Called by fit with its settings."""
        self.params = params

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...


class CallbackList:
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def set_model(self, model: Any) -> None:
        """Give every callback the model."""
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        """Give every callback fit's settings."""
        for c in self.callbacks:
            c.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            for c in self.callbacks:
                getattr(c, hook)(*args)

        return call


class History(Callback):
    """Records each epoch's logs: ``history.history`` maps each name (``loss``, the
    metrics, ``val_*``) to its list of per-epoch values; ``history.epoch`` the epochs."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _format_logs(logs: dict[str, Any]) -> dict[str, str]:
    return {k: f"{v:.4f}" for k, v in logs.items() if k not in ("batch", "size")}


class ProgbarLogger(Callback):
    """The progress shown by ``fit``: verbose=1, a tqdm bar per epoch with the running
    loss and metrics, ending with the epoch's values (val_* included); verbose=2, one
    line per epoch. Written to stdout, as Keras."""

    def __init__(self, count_mode: str = "steps", stateful_metrics: Any = None, verbose: int = 1) -> None:
        super().__init__()
        self.verbose = verbose
        self._bar: Any = None
        self._seen = 0
        self._totals: dict[str, float] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._seen = 0
        self._totals = {}
        if self.verbose == 1:
            self._bar = tqdm(
                total=self.params.get("steps"),
                desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
                unit="step",
                file=sys.stdout,
                leave=True,
                dynamic_ncols=True,
            )

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        size = int(logs.get("size", 1))
        self._seen += size
        for k, v in logs.items():
            if k not in ("batch", "size"):
                self._totals[k] = self._totals.get(k, 0.0) + float(v) * size
        if self._bar is not None:
            self._bar.set_postfix(
                _format_logs({k: t / self._seen for k, t in self._totals.items()}), refresh=False
            )
            self._bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        shown = _format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix(shown, refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            text = " - ".join(f"{k}: {v}" for k, v in shown.items())
            tqdm.write(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {text}", file=sys.stdout)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _monitor_op(mode: str, monitor: str) -> Callable[[Any, Any], bool]:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
        mode = "auto"
    if mode == "min" or (mode == "auto" and not ("acc" in monitor or monitor.startswith("fmeasure"))):
        return np.less
    return np.greater


class EarlyStopping(Callback):
    """tf.keras.callbacks.EarlyStopping(monitor='val_loss', min_delta=0, patience=0,
    verbose=0, mode='auto', baseline=None, restore_best_weights=False): stops training
    once ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the weights of the best epoch are put back
    when it stops. ``stopped_epoch`` is the (0-based) epoch it stopped at, 0 if none."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = restore_best_weights
        self.monitor_op = _monitor_op(mode, monitor)
        if self.monitor_op is np.less:
            self.min_delta *= -1
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        if self.baseline is not None:
            self.best = self.baseline
        else:
            self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs or {})}",
                stacklevel=2,
            )
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                if self.restore_best_weights and self.best_weights is not None:
                    if self.verbose > 0:
                        tqdm.write("Restoring model weights from the end of the best epoch.", file=sys.stdout)
                    self.model.set_weights(self.best_weights)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            tqdm.write(f"Epoch {self.stopped_epoch + 1:05d}: early stopping", file=sys.stdout)


class ModelCheckpoint(Callback):
    """tf.keras.callbacks.ModelCheckpoint(filepath, monitor='val_loss', verbose=0,
    save_best_only=False, save_weights_only=False, mode='auto', period=1): saves the
    model (``model.save``) or its weights after each ``period``-th epoch, or only when
    ``monitor`` improved. ``filepath`` may name ``{epoch}`` and log values
    (``'w.{epoch:02d}-{val_loss:.2f}.ckpt'``)."""

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Any = "epoch",
        period: int = 1,
    ) -> None:
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint saves per epoch only (save_freq='epoch')")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.period = int(period)
        self.monitor_op = _monitor_op(mode, monitor)
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self._since_last = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self._since_last += 1
        if self._since_last < self.period:
            return
        self._since_last = 0
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"Can save best model only with {self.monitor} available, skipping.", stacklevel=2
                )
                return
            if not self.monitor_op(current, self.best):
                return
            if self.verbose > 0:
                tqdm.write(
                    f"Epoch {epoch + 1:05d}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                    f"saving model to {path}",
                    file=sys.stdout,
                )
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class TerminateOnNaN(Callback):
    """Stops training when a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            tqdm.write(f"Batch {batch}: Invalid loss, terminating training", file=sys.stdout)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end``,
    ``on_batch_begin(batch, logs)``, ``on_batch_end``, ``on_train_begin(logs)``,
    ``on_train_end``."""

    def __init__(self, **hooks: Callable[..., Any] | None) -> None:
        super().__init__()
        allowed = {
            "on_epoch_begin",
            "on_epoch_end",
            "on_batch_begin",
            "on_batch_end",
            "on_train_begin",
            "on_train_end",
        }
        for name, fn in hooks.items():
            if name not in allowed:
                raise TypeError(f"LambdaCallback got an unexpected hook {name!r}")
            if fn is not None:
                setattr(self, name, fn)


class TensorBoard(Callback):
    """tf.keras.callbacks.TensorBoard(log_dir='./logs', write_graph=True,
    update_freq='epoch'): writes the logs as scalar summaries (each epoch's, or each
    batch's with ``update_freq='batch'``) and, with ``write_graph``, the model's graph,
    through ``graphc.summary.FileWriter`` (which needs the ``summary`` extra,
    tensorboardX). Histograms, images and embeddings (``histogram_freq``,
    ``write_images``, ``embeddings_freq``) are not supported."""

    def __init__(
        self,
        log_dir: str = "./logs",
        histogram_freq: int = 0,
        batch_size: Any = None,
        write_graph: bool = True,
        write_grads: bool = False,
        write_images: bool = False,
        update_freq: Any = "epoch",
        embeddings_freq: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        writer_cls = getattr(_summary, "FileWriter", None)
        if writer_cls is None:
            raise NotImplementedError(
                "tf.keras.callbacks.TensorBoard needs graphc.summary (summary writers), which this "
                "build of graphc does not have; record history.history from fit instead"
            )
        for key, value in (
            ("histogram_freq", histogram_freq),
            ("write_grads", write_grads),
            ("write_images", write_images),
            ("embeddings_freq", embeddings_freq),
        ):
            if value:
                raise NotImplementedError(
                    f"TensorBoard({key}=...) is not supported: scalars and the graph only"
                )
        if update_freq not in ("epoch", "batch"):
            raise NotImplementedError("TensorBoard's update_freq must be 'epoch' or 'batch'")
        kwargs.pop("profile_batch", None)
        if kwargs:
            raise TypeError(f"TensorBoard got unexpected arguments {sorted(kwargs)}")
        self.log_dir = os.fspath(log_dir)
        self.write_graph = write_graph
        self.update_freq = update_freq
        self._writer_cls = writer_cls
        self._writer: Any = None
        self._batches = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        graph = getattr(self.model, "_graph", None) if self.write_graph else None
        self._writer = self._writer_cls(self.log_dir, graph=graph)

    def _write(self, logs: dict[str, Any], step: int) -> None:
        values = [
            _summary.Summary.Value(tag=name, simple_value=float(value))
            for name, value in logs.items()
            if name not in ("batch", "size")
        ]
        if values and self._writer is not None:
            self._writer.add_summary(_summary.Summary(value=values), step)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.update_freq == "batch":
            self._write({f"batch_{k}": v for k, v in (logs or {}).items()}, self._batches)
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._write(
            {f"epoch_{k}" if self.update_freq == "batch" else k: v for k, v in (logs or {}).items()}, epoch
        )
        if self._writer is not None:
            self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
