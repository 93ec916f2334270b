"""tf.train.Saver over graphc's checkpoint format (graphc/train/checkpoint_format.py).

A checkpoint is one file at exactly the path ``save`` returns (TF1 writes an
index and data shards next to a prefix instead). Variables are read from and
written to the session directly, without running the graph; a restore checks
every variable before loading any, so a failed restore changes nothing.

Deleting old checkpoints (``max_to_keep``) trusts no path it is given: the
state file, ``recover_last_checkpoints`` and ``set_last_checkpoints_with_time``
may name any file. A checkpoint's one file is deleted only if it lies directly
in the directory being saved to (or, for a checkpoint this Saver wrote, the
directory it wrote it to), is a regular file and starts with the checkpoint
magic; anything else is left in place with a warning. Each save first removes
the temporary files that killed saves of the same prefix left behind (see
``checkpoint_format.remove_stale_temp_files``).
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import errors
from graphc.frontend.graph import GraphKeys, Tensor, get_default_graph
from graphc.ops.variables import Variable
from graphc.train import checkpoint_format as ckpt
from graphc.train.optimizers import _as_variable
from graphc.train.training_util import global_step as _read_step


def _as_saveable(v: Any) -> Variable:
    try:
        return _as_variable(v)
    except TypeError:
        raise TypeError(f"Saver: variable to save is not a Variable: {v!r}") from None


def _check_state_filename(latest_filename: str | None) -> None:
    if latest_filename not in (None, ckpt.STATE_FILENAME):
        raise NotImplementedError(
            f"graphc keeps checkpoint state in a file named {ckpt.STATE_FILENAME!r}; "
            f"latest_filename={latest_filename!r} is not supported"
        )


class Saver:
    """tf.train.Saver(var_list=None, max_to_keep=5, keep_checkpoint_every_n_hours=10000.0, ...).

    ``var_list``: None (all global variables), a list of Variables (saved under their op
    names, e.g. "dense/kernel"), or a dict from checkpoint name to Variable. Differences
    from TF1: no meta graph is written (``write_meta_graph`` is accepted and ignored), and
    the state file is always "<dir>/checkpoint" (JSON, see checkpoint_format)."""

    def __init__(
        self,
        var_list: Any = None,
        reshape: bool = False,
        sharded: bool = False,
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float = 10000.0,
        name: str | None = None,
        restore_sequentially: bool = False,
        saver_def: Any = None,
        builder: Any = None,
        defer_build: bool = False,
        allow_empty: bool = False,
        write_version: Any = None,
        pad_step_number: bool = False,
        save_relative_paths: bool = False,
        filename: str | None = None,
    ) -> None:
        if reshape:
            raise NotImplementedError("Saver(reshape=True) is not supported by graphc")
        graph = get_default_graph()
        if var_list is None:
            var_list = graph.get_collection(GraphKeys.GLOBAL_VARIABLES)
        self._vars: dict[str, Variable] = {}
        if isinstance(var_list, dict):
            for key, v in var_list.items():
                if not isinstance(key, str):
                    raise TypeError(f"Saver: names in var_list must be strings, got {key!r}")
                self._vars[key] = _as_saveable(v)
        else:
            if isinstance(var_list, Variable | Tensor):
                var_list = [var_list]
            for v in var_list:
                var = _as_saveable(v)
                key = var.op.name
                if key in self._vars:
                    if self._vars[key] is var:
                        continue
                    raise ValueError(f"At least two variables have the same name: {key}")
                self._vars[key] = var
        if not self._vars and not allow_empty:
            raise ValueError("No variables to save")
        graphs = {id(v.graph) for v in self._vars.values()}
        if len(graphs) > 1:
            raise ValueError("Saver: all variables must be from the same graph")
        self._graph = next(iter(self._vars.values())).graph if self._vars else graph
        self._max_to_keep = max_to_keep
        self._keep_every_s = keep_checkpoint_every_n_hours * 3600.0
        self._next_keep_time = time.time() + self._keep_every_s
        self._pad_step_number = pad_step_number
        self._filename = filename
        self._last_checkpoints: list[tuple[str, float]] = []
        # Directory of each kept checkpoint this Saver wrote (by absolute path).
        self._own_dirs: dict[str, str] = {}
        _ = (
            sharded,
            name,
            restore_sequentially,
            saver_def,
            builder,
            defer_build,
            write_version,
            save_relative_paths,
        )

    # -- bookkeeping ---------------------------------------------------------------------
    @property
    def last_checkpoints(self) -> list[str]:
        """Paths of the checkpoints still kept, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time: Sequence[tuple[str, float]]) -> None:
        self._last_checkpoints = [(str(p), float(t)) for p, t in last_checkpoints_with_time]

    def recover_last_checkpoints(self, checkpoint_paths: Sequence[str]) -> None:
        """Take over the checkpoints a previous Saver kept (existing files only), e.g. those
        listed by get_checkpoint_state, so max_to_keep counts them."""
        now = time.time()
        self._last_checkpoints = [(p, now) for p in checkpoint_paths if checkpoint_exists(p)]

    def _check_session(self, sess: Any) -> None:
        if sess is None:
            raise TypeError("Saver needs a session: got None")
        if self._vars and sess.graph is not self._graph:
            raise ValueError("The session's graph is not the graph of the Saver's variables.")

    # -- save ---------------------------------------------------------------------------
    def save(
        self,
        sess: Any,
        save_path: str,
        global_step: Any = None,
        latest_filename: str | None = None,
        meta_graph_suffix: str = "meta",
        write_meta_graph: bool = True,
        write_state: bool = True,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
    ) -> str:
        """Write the variables to ``save_path`` (``"<save_path>-<step>"`` with a global step)
        and return that path. The state file is updated only once the checkpoint file is
        in place, and checkpoints beyond ``max_to_keep`` are deleted only after that."""
        _check_state_filename(latest_filename)
        self._check_session(sess)
        save_path = os.fspath(save_path)
        path = save_path
        step: int | None = None
        if global_step is not None:
            step = global_step if isinstance(global_step, int | np.integer) else _eval_step(sess, global_step)
            step = int(step)
            path = f"{save_path}-{step:08d}" if self._pad_step_number else f"{save_path}-{step}"
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        if os.path.basename(path) == ckpt.STATE_FILENAME:
            raise ValueError(
                f"'latest_filename' collides with 'save_path': '{ckpt.STATE_FILENAME}' and '{save_path}'"
            )
        tensors: dict[str, np.ndarray] = {}
        for key, var in self._vars.items():
            value = sess._variable_value(var.op)
            if value is None:
                raise errors.FailedPreconditionError(
                    None, var.op, f"Attempting to use uninitialized value {var.op.name}"
                )
            tensors[key] = np.asarray(value)
        meta: dict[str, Any] = {"producer": "graphc"}
        if step is not None:
            meta["global_step"] = step
        ckpt.remove_stale_temp_files(directory, _prefix_names(save_path))
        ckpt.write_checkpoint(path, tensors, meta)
        if write_state:
            kept, to_delete = self._record(path)
            ckpt.write_state(directory, path, [p for p, _ in kept])
            self._last_checkpoints = kept
            kept_abs = {os.path.abspath(p) for p, _ in kept}
            own_dirs = {**self._own_dirs, os.path.abspath(path): directory}
            self._own_dirs = {p: d for p, d in own_dirs.items() if p in kept_abs}
            for old in to_delete:
                old_abs = os.path.abspath(old)
                if old_abs in kept_abs:  # listed twice: still kept
                    continue
                reason = ckpt.remove_checkpoint(old, own_dirs.get(old_abs, directory))
                if reason is not None:
                    warnings.warn(f"Saver: not deleting old checkpoint {old!r}: {reason}", stacklevel=2)
        _ = (meta_graph_suffix, write_meta_graph, strip_default_attrs, save_debug_info)
        return path

    def _record(self, path: str) -> tuple[list[tuple[str, float]], list[str]]:
        """The kept list after saving ``path``, and the files it drops (TF1's rules: with
        max_to_keep None or 0 nothing is deleted and only the newest is listed)."""
        now = time.time()
        if not self._max_to_keep:
            return [], []
        kept = [(p, t) for p, t in self._last_checkpoints if os.path.abspath(p) != os.path.abspath(path)]
        kept.append((path, now))
        to_delete: list[str] = []
        while len(kept) > self._max_to_keep:
            old, stamp = kept.pop(0)
            # keep_checkpoint_every_n_hours: one dropped checkpoint per period survives on
            # disk (it is no longer listed, as in TF1).
            if stamp > self._next_keep_time:
                self._next_keep_time += self._keep_every_s
                continue
            to_delete.append(old)
        return kept, to_delete

    # -- restore ------------------------------------------------------------------------
    def restore(self, sess: Any, save_path: str) -> None:
        """Load the variables from the checkpoint at ``save_path``. Every variable is checked
        (present, dtype, shape) before any is loaded; errors name the variable."""
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        self._check_session(sess)
        save_path = os.fspath(save_path)
        if not os.path.isfile(save_path):
            raise errors.NotFoundError(
                None, None, f"Failed to find any matching files for {save_path}: no such checkpoint file"
            )
        try:
            tensors, _ = ckpt.read_checkpoint(save_path)
        except ckpt.CheckpointError as exc:
            raise errors.DataLossError(None, None, str(exc)) from None
        except OSError as exc:
            raise errors.NotFoundError(None, None, f"Unable to open checkpoint {save_path}: {exc}") from None
        loads: list[tuple[Variable, np.ndarray]] = []
        for key, var in self._vars.items():
            if key not in tensors:
                raise errors.NotFoundError(
                    None, var.op, f"Key {key} not found in checkpoint {save_path} (variable {var.op.name})"
                )
            loads.append((var, _checked_value(var, key, tensors[key], save_path)))
        for var, value in loads:
            sess._load_variable(var, value)


def _checked_value(var: Variable, key: str, value: np.ndarray, path: str) -> np.ndarray:
    dt = var.dtype
    if dt.is_string:
        ok = value.dtype.kind in "US"
    else:
        ok = value.dtype == np.dtype(dt.np)
    if not ok:
        raise errors.InvalidArgumentError(
            None,
            var.op,
            f"tensor {key} in checkpoint {path} has dtype {value.dtype}, but variable "
            f"{var.op.name} has dtype {dt.name}",
        )
    if not var.shape.is_compatible_with(value.shape):
        raise errors.InvalidArgumentError(
            None,
            var.op,
            f"Assign requires shapes of both tensors to match: variable {var.op.name} has shape "
            f"{var.shape}, tensor {key} in checkpoint {path} has shape {list(value.shape)}",
        )
    return value


def _eval_step(sess: Any, global_step: Any) -> int:
    return _read_step(sess, global_step)


def _prefix_names(save_path: str) -> re.Pattern[str]:
    """The file names ``save`` gives checkpoints of this prefix: the prefix, or the
    prefix plus "-<step>" (the step possibly zero-padded or negative)."""
    return re.compile(re.escape(os.path.basename(save_path)) + r"(?:--?[0-9]+)?")


def checkpoint_exists(checkpoint_prefix: str) -> bool:
    """tf.train.checkpoint_exists: whether a checkpoint file is at this path."""
    return os.path.isfile(os.fspath(checkpoint_prefix))


class CheckpointState:
    """What tf.train.get_checkpoint_state returns: the newest and all kept paths."""

    def __init__(self, model_checkpoint_path: str, all_model_checkpoint_paths: list[str]) -> None:
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = all_model_checkpoint_paths

    def __repr__(self) -> str:
        return (
            f"CheckpointState(model_checkpoint_path={self.model_checkpoint_path!r}, "
            f"all_model_checkpoint_paths={self.all_model_checkpoint_paths!r})"
        )


def get_checkpoint_state(checkpoint_dir: str, latest_filename: str | None = None) -> CheckpointState | None:
    """tf.train.get_checkpoint_state: the directory's state file (absolute paths), or None."""
    _check_state_filename(latest_filename)
    state = ckpt.read_state(checkpoint_dir)
    if state is None:
        return None
    return CheckpointState(state["model_checkpoint_path"], list(state["all_model_checkpoint_paths"]))


def latest_checkpoint(checkpoint_dir: str, latest_filename: str | None = None) -> str | None:
    """tf.train.latest_checkpoint: the newest checkpoint's path (absolute), or None when
    there is no state file or its newest checkpoint is gone."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None:
        return None
    path = state.model_checkpoint_path
    return path if checkpoint_exists(path) else None
