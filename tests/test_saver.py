"""tf.train.Saver on graphc's checkpoint format: round trips, naming, state file,
max_to_keep (and what it may delete), failed restores that change nothing, and
interrupted or killed saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.train import checkpoint_format as ckpt

W_INIT = np.arange(6, dtype=np.float32).reshape(2, 3)
B_INIT = np.array([0.5, -1.5, 2.5], np.float32)


def _model() -> tuple[Any, Any, Any]:
    with tf.name_scope("dense"):
        w = tf.Variable(W_INIT, name="kernel")
        b = tf.Variable(B_INIT, name="bias")
    step = tf.Variable(np.int64(7), name="step", trainable=False)
    return w, b, step


def _set(sess: Any, var: Any, value: Any) -> None:
    sess.run(tf.assign(var, value))


def test_round_trip(tmp_path: Path) -> None:
    w, b, step = _model()
    saver = tf.train.Saver()
    prefix = str(tmp_path / "model.ckpt")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, prefix)
        assert path == prefix and os.path.isfile(path)
        assert ckpt.list_checkpoint(path) == {
            "dense/kernel": ("<f4", (2, 3)),
            "dense/bias": ("<f4", (3,)),
            "step": ("<i8", ()),
        }
        _set(sess, w, np.zeros((2, 3), np.float32))
        _set(sess, b, np.ones(3, np.float32))
        _set(sess, step, np.int64(-1))
        saver.restore(sess, path)
        np.testing.assert_array_equal(sess.run(w), W_INIT)
        np.testing.assert_array_equal(sess.run(b), B_INIT)
        assert sess.run(step) == 7
        # The restored values feed later runs.
        np.testing.assert_allclose(sess.run(w * 2.0), W_INIT * 2)


def test_restore_into_a_new_graph_and_session(tmp_path: Path) -> None:
    w, b, step = _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        _set(sess, w, W_INIT + 10)
        path = saver.save(sess, str(tmp_path / "m"))
    g = tf.Graph()
    with g.as_default():
        w2, b2, step2 = _model()
        saver2 = tf.train.Saver()
        with tf.Session(graph=g) as sess:
            # A restore initializes the variables: no initializer needed.
            saver2.restore(sess, path)
            np.testing.assert_array_equal(sess.run(w2), W_INIT + 10)
            np.testing.assert_array_equal(sess.run(b2), B_INIT)


def test_var_list_forms(tmp_path: Path) -> None:
    w, b, step = _model()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        p1 = tf.train.Saver([w]).save(sess, str(tmp_path / "list"))
        assert list(ckpt.list_checkpoint(p1)) == ["dense/kernel"]
        p2 = tf.train.Saver({"renamed": b}).save(sess, str(tmp_path / "dict"))
        assert list(ckpt.list_checkpoint(p2)) == ["renamed"]
        _set(sess, b, np.zeros(3, np.float32))
        tf.train.Saver({"renamed": b}).restore(sess, p2)
        np.testing.assert_array_equal(sess.run(b), B_INIT)
    with pytest.raises(TypeError, match="not a Variable"):
        tf.train.Saver([tf.constant(1.0)])


def test_empty_saver() -> None:
    with pytest.raises(ValueError, match="No variables to save"):
        tf.train.Saver()
    tf.train.Saver(allow_empty=True)


def test_global_step_naming_and_latest_checkpoint(tmp_path: Path) -> None:
    w, b, _ = _model()
    gs = tf.train.get_or_create_global_step()
    saver = tf.train.Saver()
    prefix = str(tmp_path / "model.ckpt")
    assert tf.train.latest_checkpoint(str(tmp_path)) is None
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        p1 = saver.save(sess, prefix, global_step=100)
        assert p1 == prefix + "-100"
        assert tf.train.latest_checkpoint(str(tmp_path)) == p1
        sess.run(tf.assign(gs, 250))
        p2 = saver.save(sess, prefix, global_step=gs)
        assert p2 == prefix + "-250"
        assert tf.train.latest_checkpoint(str(tmp_path)) == p2
        assert tf.train.checkpoint_exists(p1) and tf.train.checkpoint_exists(p2)
        assert saver.last_checkpoints == [p1, p2]
        state = json.loads((tmp_path / "checkpoint").read_text())
        assert state == {
            "model_checkpoint_path": "model.ckpt-250",
            "all_model_checkpoint_paths": ["model.ckpt-100", "model.ckpt-250"],
        }
        cs = tf.train.get_checkpoint_state(str(tmp_path))
        assert cs.model_checkpoint_path == p2 and cs.all_model_checkpoint_paths == [p1, p2]
        assert ckpt.read_checkpoint(p2)[1]["global_step"] == 250


def test_latest_checkpoint_missing_file(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "m"), global_step=1)
    os.remove(path)
    assert tf.train.latest_checkpoint(str(tmp_path)) is None
    assert not tf.train.checkpoint_exists(path)


def test_max_to_keep_deletes_old_checkpoints(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver(max_to_keep=2)
    prefix = str(tmp_path / "m")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        paths = [saver.save(sess, prefix, global_step=s) for s in (1, 2, 3, 4)]
    assert [os.path.exists(p) for p in paths] == [False, False, True, True]
    assert saver.last_checkpoints == paths[2:]
    state = ckpt.read_state(str(tmp_path))
    assert state["all_model_checkpoint_paths"] == paths[2:]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-3", "m-4"]


def test_max_to_keep_none_keeps_everything(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver(max_to_keep=None)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        paths = [saver.save(sess, str(tmp_path / "m"), global_step=s) for s in range(4)]
    assert all(os.path.exists(p) for p in paths)
    assert tf.train.latest_checkpoint(str(tmp_path)) == paths[-1]


def test_resaving_same_path_is_listed_once(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver(max_to_keep=2)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a = saver.save(sess, str(tmp_path / "m"), global_step=1)
        b = saver.save(sess, str(tmp_path / "m"), global_step=2)
        saver.save(sess, str(tmp_path / "m"), global_step=1)
    assert saver.last_checkpoints == [b, a]
    assert os.path.exists(a) and os.path.exists(b)


def test_restore_shape_mismatch_changes_nothing(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "m"))
    g = tf.Graph()
    with g.as_default():
        # Same names; "step" (restored after the others) has the wrong shape.
        with tf.name_scope("dense"):
            w = tf.Variable(np.full((2, 3), 9.0, np.float32), name="kernel")
            b = tf.Variable(np.full(3, 9.0, np.float32), name="bias")
        step = tf.Variable(np.zeros(2, np.int64), name="step")
        saver2 = tf.train.Saver()
        with tf.Session(graph=g) as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(errors.InvalidArgumentError, match="step"):
                saver2.restore(sess, path)
            np.testing.assert_array_equal(sess.run(w), np.full((2, 3), 9.0))
            np.testing.assert_array_equal(sess.run(b), np.full(3, 9.0))
            np.testing.assert_array_equal(sess.run(step), [0, 0])


def test_restore_dtype_mismatch_and_missing_variable(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "m"))
    g = tf.Graph()
    with g.as_default():
        with tf.name_scope("dense"):
            w = tf.Variable(np.zeros((2, 3), np.float64), name="kernel")
        extra = tf.Variable(1.0, name="extra")
        with tf.Session(graph=g) as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(errors.InvalidArgumentError, match="dense/kernel"):
                tf.train.Saver([w]).restore(sess, path)
            with pytest.raises(errors.NotFoundError, match="extra"):
                tf.train.Saver([extra]).restore(sess, path)
            np.testing.assert_array_equal(sess.run(w), np.zeros((2, 3)))
            assert sess.run(extra) == 1.0


def test_restore_missing_or_corrupt_file(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(errors.NotFoundError):
            saver.restore(sess, str(tmp_path / "nope"))
        with pytest.raises(ValueError, match="None"):
            saver.restore(sess, None)
        bad = tmp_path / "bad"
        bad.write_bytes(b"not a checkpoint")
        with pytest.raises(errors.DataLossError):
            saver.restore(sess, str(bad))


def test_save_uninitialized_variable(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        with pytest.raises(errors.FailedPreconditionError, match="dense/kernel"):
            saver.save(sess, str(tmp_path / "m"))
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(ValueError, match="doesn't exist"):
            saver.save(sess, str(tmp_path / "no" / "m"))


@pytest.mark.parametrize("where", ["data", "replace"])
def test_interrupted_save_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: Any, where: str) -> None:
    w, b, _ = _model()
    saver = tf.train.Saver(max_to_keep=1)
    prefix = str(tmp_path / "m")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = saver.save(sess, prefix, global_step=1)
        _set(sess, w, W_INIT + 100)
        if where == "data":
            real = ckpt._write_bytes
            calls = {"n": 0}

            def failing_write(f: Any, data: Any) -> None:
                calls["n"] += 1
                if calls["n"] > 2:  # preamble and header written, then the data fails
                    raise OSError("disk full")
                real(f, data)

            monkeypatch.setattr(ckpt, "_write_bytes", failing_write)
        else:

            def failing_replace(src: str, dst: str) -> None:
                raise OSError("crash before rename")

            monkeypatch.setattr(ckpt.os, "replace", failing_replace)
        with pytest.raises(OSError):
            saver.save(sess, prefix, global_step=2)
        monkeypatch.undo()
        # Nothing of the failed save remains, and the state still names the first one.
        assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-1"]
        assert tf.train.latest_checkpoint(str(tmp_path)) == first
        assert saver.last_checkpoints == [first]
        saver.restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
        np.testing.assert_array_equal(sess.run(w), W_INIT)
        # A later save works and rotates normally.
        third = saver.save(sess, prefix, global_step=3)
        assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-3"]
        assert tf.train.latest_checkpoint(str(tmp_path)) == third


def test_interrupted_state_write_keeps_old_files(tmp_path: Path, monkeypatch: Any) -> None:
    # The checkpoint is written but the state file update fails: the old checkpoint must
    # not have been deleted, since the state file still names it.
    _model()
    saver = tf.train.Saver(max_to_keep=1)
    prefix = str(tmp_path / "m")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = saver.save(sess, prefix, global_step=1)

        def failing_state(*args: Any, **kwargs: Any) -> None:
            raise OSError("crash writing state")

        monkeypatch.setattr(ckpt, "write_state", failing_state)
        with pytest.raises(OSError):
            saver.save(sess, prefix, global_step=2)
    assert os.path.exists(first)
    assert tf.train.latest_checkpoint(str(tmp_path)) == first
    assert saver.last_checkpoints == [first]


def test_resume_training_matches_uninterrupted(tmp_path: Path) -> None:
    """Saving all global variables (Adam's slots and beta powers included) and restoring
    them in a fresh graph continues training exactly."""
    rng = np.random.default_rng(1)
    xd = rng.normal(size=(8, 2)).astype(np.float32)
    yd = rng.normal(size=(8,)).astype(np.float32)

    def build() -> tuple[Any, Any, Any, Any]:
        x = tf.placeholder(tf.float32, [None, 2])
        y = tf.placeholder(tf.float32, [None])
        w = tf.Variable(np.array([0.3, -0.2], np.float32), name="w")
        loss = tf.reduce_mean(tf.square(tf.reduce_sum(x * w, axis=1) - y))
        gs = tf.train.get_or_create_global_step()
        train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=gs)
        return x, y, w, train

    g1 = tf.Graph()
    with g1.as_default():
        x, y, w, train = build()
        saver = tf.train.Saver()
        with tf.Session(graph=g1) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {x: xd, y: yd})
            path = saver.save(sess, str(tmp_path / "m"), global_step=tf.train.get_global_step())
            for _ in range(3):
                sess.run(train, {x: xd, y: yd})
            expected = sess.run(w)
    assert path.endswith("m-3")
    assert {"w/Adam", "w/Adam_1", "beta1_power", "beta2_power", "global_step"} <= set(
        ckpt.list_checkpoint(path)
    )
    g2 = tf.Graph()
    with g2.as_default():
        x, y, w, train = build()
        saver = tf.train.Saver()
        with tf.Session(graph=g2) as sess:
            saver.restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
            for _ in range(3):
                sess.run(train, {x: xd, y: yd})
            np.testing.assert_array_equal(sess.run(w), expected)
            assert tf.train.global_step(sess, tf.train.get_global_step()) == 6


def test_session_graph_must_match(tmp_path: Path) -> None:
    _model()
    saver = tf.train.Saver()
    with pytest.raises(ValueError, match="graph"):
        saver.save(tf.Session(graph=tf.Graph()), str(tmp_path / "m"))


# -- what max_to_keep may delete -----------------------------------------------------------


def _plant_state(directory: Path, paths: list[str]) -> list[str]:
    """Overwrite the state file (as a user or an attacker could) and recover its paths
    into a new Saver, as a restarted training job does."""
    (directory / "checkpoint").write_text(
        json.dumps({"model_checkpoint_path": paths[-1], "all_model_checkpoint_paths": paths})
    )
    return tf.train.get_checkpoint_state(str(directory)).all_model_checkpoint_paths


def test_max_to_keep_never_deletes_files_outside_the_directory(tmp_path: Path) -> None:
    _model()
    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "victim"  # real checkpoints, but not in run/
    ckpt.write_checkpoint(victim, {"x": np.zeros(1)})
    (tmp_path / "elsewhere").mkdir()
    absolute = tmp_path / "elsewhere" / "m-0"
    ckpt.write_checkpoint(absolute, {"x": np.zeros(1)})
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = tf.train.Saver().save(sess, str(run / "m"), global_step=1)
        listed = _plant_state(run, ["../victim", str(absolute), "m-1"])
        saver = tf.train.Saver(max_to_keep=1)
        saver.recover_last_checkpoints(listed)
        assert saver.last_checkpoints == [str(victim), str(absolute), first]
        with pytest.warns(UserWarning, match="not inside the checkpoint directory") as record:
            second = saver.save(sess, str(run / "m"), global_step=2)
    warned = " ".join(str(w.message) for w in record)
    assert str(victim) in warned and str(absolute) in warned
    assert victim.exists() and absolute.exists()
    assert ckpt.read_checkpoint(victim)[0]["x"].shape == (1,)
    # The Saver's own old checkpoint inside the directory still goes.
    assert not os.path.exists(first)
    assert saver.last_checkpoints == [second]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs symbolic links")
def test_max_to_keep_never_deletes_what_is_not_a_checkpoint(tmp_path: Path) -> None:
    _model()
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("my notes")  # no checkpoint magic
    (run / "short").write_bytes(b"GRAP")
    outside = tmp_path / "target"
    ckpt.write_checkpoint(outside, {"x": np.zeros(1)})
    os.symlink(outside, run / "link")  # a link inside to a checkpoint outside
    (tmp_path / "other").mkdir()
    ckpt.write_checkpoint(tmp_path / "other" / "m-0", {"x": np.zeros(1)})
    os.symlink(tmp_path / "other", run / "sub")  # a directory link leading outside
    names = ["notes.txt", "short", "link", "sub/m-0", "checkpoint"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        saver = tf.train.Saver(max_to_keep=1)
        saver.recover_last_checkpoints(_plant_state(run, names))
        assert len(saver.last_checkpoints) == len(names)
        with pytest.warns(UserWarning) as record:
            latest = saver.save(sess, str(run / "m"), global_step=3)
    assert len(record) == len(names)
    assert (run / "notes.txt").read_text() == "my notes"
    assert (run / "short").read_bytes() == b"GRAP"
    assert os.path.islink(run / "link") and outside.exists()
    assert (tmp_path / "other" / "m-0").exists()
    # The state file itself was listed: it is still there and names the new checkpoint.
    assert tf.train.latest_checkpoint(str(run)) == latest
    assert tf.train.get_checkpoint_state(str(run)).all_model_checkpoint_paths == [latest]


def test_max_to_keep_deletes_the_savers_own_checkpoints_in_an_earlier_directory(tmp_path: Path) -> None:
    _model()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    saver = tf.train.Saver(max_to_keep=1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = saver.save(sess, str(tmp_path / "a" / "m"), global_step=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            second = saver.save(sess, str(tmp_path / "b" / "m"), global_step=2)
    assert not os.path.exists(first)
    assert saver.last_checkpoints == [second]


def test_checkpoint_listed_twice_is_not_deleted_while_still_kept(tmp_path: Path) -> None:
    _model()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = tf.train.Saver().save(sess, str(tmp_path / "m"), global_step=1)
        saver = tf.train.Saver(max_to_keep=2)
        saver.recover_last_checkpoints([first, first])
        second = saver.save(sess, str(tmp_path / "m"), global_step=2)
    assert saver.last_checkpoints == [first, second]
    assert os.path.exists(first)


# -- temporary files of killed saves ------------------------------------------------------


def test_save_removes_stale_temp_files_of_its_prefix_only(tmp_path: Path) -> None:
    _model()
    token = iter(f"{i:016x}" for i in range(1, 100))
    full = tmp_path / "full"
    ckpt.write_checkpoint(full, {"x": np.zeros(3)})
    stale = {
        f".m-1.{next(token)}.tmp": b"GRAPHCKP\x01\x00",  # killed in the preamble
        f".m.{next(token)}.tmp": b"",  # killed right after creating it
        f".m-00000003.{next(token)}.tmp": b"GRA",
        f".m--4.{next(token)}.tmp": full.read_bytes(),  # killed before the rename
    }
    kept = {
        f".m-1.{next(token)}.tmp.bak": b"GRAPHCKP",
        f".mx-1.{next(token)}.tmp": b"GRAPHCKP",
        f".other-1.{next(token)}.tmp": b"GRAPHCKP",
        f"m-1.{next(token)}.tmp": b"GRAPHCKP",
        f".m-1.{'g' * 16}.tmp": b"GRAPHCKP",
        f".m-1.{next(token)[:15]}.tmp": b"GRAPHCKP",
        f".m-best.{next(token)}.tmp": b"GRAPHCKP",
        f".m-1.{next(token)}.tmp": b"hello, not a checkpoint",
        f".checkpoint.{next(token)}.tmp": b'{"model_checkpoint_path"',
        "unrelated.txt": b"",
    }
    for name, content in {**stale, **kept}.items():
        (tmp_path / name).write_bytes(content)
    special = [f".m-2.{next(token)}.tmp"]
    (tmp_path / special[0]).mkdir()
    if hasattr(os, "symlink") and os.name != "nt":
        special.append(f".m-5.{next(token)}.tmp")
        os.symlink(full, tmp_path / special[1])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        tf.train.Saver().save(sess, str(tmp_path / "m"), global_step=6)
    assert set(os.listdir(tmp_path)) == {*kept, *special, "full", "checkpoint", "m-6"}
    for name, content in kept.items():
        assert (tmp_path / name).read_bytes() == content
    assert ckpt.read_checkpoint(full)[0]["x"].shape == (3,)


_KILLED_WRITE = textwrap.dedent(
    """
    import os
    import sys

    import numpy as np

    from graphc.train import checkpoint_format as ckpt

    real_write = ckpt._write_bytes

    def write_then_die(f, data):
        real_write(f, data)
        f.flush()
        os._exit(17)  # the process is killed after writing the preamble

    ckpt._write_bytes = write_then_die
    ckpt.write_checkpoint(sys.argv[1], {"w": np.ones(8, np.float32)})
    """
)


def test_temp_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITE, str(tmp_path / "m-1")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 17, proc.stderr
    (leftover,) = os.listdir(tmp_path)
    assert leftover.startswith(".m-1.") and leftover.endswith(".tmp")
    _model()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        tf.train.Saver().save(sess, str(tmp_path / "m"), global_step=2)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-2"]
