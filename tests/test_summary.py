"""tf.summary: summary ops run in Session.run, FileWriter writes event files, and a
reader graphc did not write (TensorBoard's EventAccumulator) reads them back."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.summary import _bucket_limits, _histogram_proto, _tbx, _to_uint8

pytest.importorskip("tensorboardX")
PIL_Image = pytest.importorskip("PIL.Image")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _accumulator(logdir: Path) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(
        str(logdir),
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.HISTOGRAMS: 0,
            event_accumulator.IMAGES: 0,
            event_accumulator.TENSORS: 0,
            event_accumulator.GRAPH: 0,
        },
    )
    acc.Reload()
    return acc


def _tf1_buckets(x: np.ndarray) -> tuple[list[float], list[float]]:
    """TF1's histogram layout, written out independently: limits ±1e-12·1.1^k below
    1e20 and ±DBL_MAX around 0; value v counts in the first bucket whose limit > v;
    each run of empty buckets is one bucket with the run's last limit."""
    pos = []
    v = 1e-12
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    pos.append(sys.float_info.max)
    limits = [-p for p in reversed(pos)] + [0.0] + pos
    counts = [0] * len(limits)
    for value in x.reshape(-1).tolist():
        i = next(k for k, lim in enumerate(limits) if lim > value)
        counts[i] += 1
    out_l: list[float] = []
    out_c: list[float] = []
    for lim, c in zip(limits, counts):
        if c == 0 and out_c and out_c[-1] == 0:
            out_l[-1] = lim
        else:
            out_l.append(lim)
            out_c.append(float(c))
    return out_l, out_c


def test_training_program_writes_scalars_histograms_images_and_the_graph(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(16, 3)).astype(np.float32)
    ys = (xs @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [None, 1], name="y")
        w = tf.get_variable("w", [3, 1], initializer=tf.random_normal_initializer(seed=1))
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        tf.summary.scalar("loss", loss)
        tf.summary.histogram("w", w)
        img = tf.reshape(tf.tile(tf.reshape(w, [1, 1, 3, 1]), [2, 4, 1, 1]), [2, 4, 3, 1])
        tf.summary.image("weights", img, max_outputs=2)
        with tf.name_scope("train"):
            tf.summary.scalar("loss", loss * 2.0, family="doubled")
        merged = tf.summary.merge_all()
        # Tags are name scopes made unique, as in TF1: the variable's op is already "w".
        assert merged.tags == ["doubled/train/doubled/loss", "loss", "w_1", "weights"]
        with tf.Session(graph=g) as sess:
            sess.run(tf.global_variables_initializer())
            writer = tf.summary.FileWriter(tmp_path, sess.graph)
            losses, weights = [], []
            for step in range(4):
                feed = {x: xs, y: ys}
                summ, loss_v, w_v = sess.run([merged, loss, w], feed)
                losses.append(float(loss_v))
                weights.append(np.asarray(w_v, np.float64))
                writer.add_summary(summ, step)
                sess.run(train, feed)
            writer.close()
    assert losses[-1] < losses[0]  # it trained

    acc = _accumulator(tmp_path)
    tags = acc.Tags()
    assert sorted(tags["scalars"]) == ["doubled/train/doubled/loss", "loss"]
    assert tags["histograms"] == ["w_1"]
    assert sorted(tags["images"]) == ["weights/image/0", "weights/image/1"]
    assert tags["graph"] is True

    scalars = acc.Scalars("loss")
    assert [e.step for e in scalars] == [0, 1, 2, 3]
    np.testing.assert_array_equal([e.value for e in scalars], np.float32(losses))
    doubled = acc.Scalars("doubled/train/doubled/loss")
    np.testing.assert_allclose([e.value for e in doubled], 2 * np.float32(losses), rtol=1e-6)

    hists = acc.Histograms("w_1")
    assert [e.step for e in hists] == [0, 1, 2, 3]
    for event, wv in zip(hists, weights):
        h = event.histogram_value
        assert h.num == wv.size
        assert h.min == wv.min() and h.max == wv.max()
        assert h.sum == pytest.approx(wv.sum(), rel=1e-12)
        assert h.sum_squares == pytest.approx(float(np.sum(wv * wv)), rel=1e-12)
        limits, counts = _tf1_buckets(wv)
        assert list(h.bucket_limit) == limits
        assert list(h.bucket) == counts

    # Float images: each scaled by TF1's rule (here w has both signs: 127/max|w| around 128).
    images = acc.Images("weights/image/0")
    assert [e.step for e in images] == [0, 1, 2, 3]
    for event, wv in zip(images, weights):
        assert (event.width, event.height) == (3, 4)
        decoded = np.asarray(PIL_Image.open(io.BytesIO(event.encoded_image_string)))
        assert decoded.shape == (4, 3)
        col = wv.reshape(-1).astype(np.float32)
        lo, hi = col.min(), col.max()
        if lo < 0:
            expect = (col * (np.float32(127) / max(abs(lo), abs(hi))) + np.float32(128)).astype(np.uint8)
        else:
            expect = (col * (np.float32(255) / hi)).astype(np.uint8)
        np.testing.assert_array_equal(decoded, np.tile(expect, (4, 1)))

    graph = acc.Graph()
    nodes = {n.name: n for n in graph.node}
    assert nodes["x"].op == "Placeholder"
    assert nodes["w"].op == "VariableV2"
    forward = [n for n in graph.node if n.op == "MatMul" and list(n.input) == ["x", "w"]]
    assert len(forward) == 1 and forward[0].attr["_output_shapes"].list.shape[0].dim[1].size == 1
    assert [d.size for d in nodes["x"].attr["_output_shapes"].list.shape[0].dim] == [-1, 3]
    # Inputs name nodes of the graph, control inputs with "^".
    for n in graph.node:
        for inp in n.input:
            assert inp.lstrip("^").split(":")[0] in nodes


def test_single_summaries_protobuf_bytes_text_and_uint8_images(tmp_path: Path) -> None:
    g = tf.Graph()
    with g.as_default():
        v = tf.placeholder(tf.float32, [], name="value")
        s = tf.summary.scalar("v", v, collections=[])
        t = tf.summary.text("note", tf.constant(["hello", "wörld"]))
        pix = tf.placeholder(tf.uint8, [None, 2, 3, 3])
        im = tf.summary.image("rgb", pix, max_outputs=1)
        assert tf.summary.merge_all().tags == ["note", "rgb"]  # collections=[]: v is in none
        pixels = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3) * 7
        with tf.Session(graph=g) as sess, tf.summary.FileWriter(tmp_path) as writer:
            for step in range(3):
                writer.add_summary(sess.run(s, {v: step * 1.5}), step)
            fetched = sess.run(tf.summary.merge([t, im]), {pix: pixels})
            writer.add_summary(fetched, 7)
            # TF1 programs that build a Summary protobuf, or pass serialized bytes.
            proto = tf.Summary(value=[tf.Summary.Value(tag="manual", simple_value=2.5)])
            assert isinstance(proto, tf.Summary)
            writer.add_summary(proto, 10)
            writer.add_summary(proto.SerializeToString(), 11)
            serialized = sess.run(s, {v: -4.0}).SerializeToString()
            writer.add_summary(serialized, 12)
            assert tf.Summary.FromString(serialized).value[0].simple_value == -4.0

    acc = _accumulator(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("v")] == [(0, 0.0), (1, 1.5), (2, 3.0), (12, -4.0)]
    assert [(e.step, e.value) for e in acc.Scalars("manual")] == [(10, 2.5), (11, 2.5)]
    (image,) = acc.Images("rgb/image")  # max_outputs=1: one image, tag "rgb/image"
    assert image.step == 7
    np.testing.assert_array_equal(
        np.asarray(PIL_Image.open(io.BytesIO(image.encoded_image_string))), pixels[0]
    )
    (note,) = acc.Tensors("note")
    assert note.step == 7
    assert list(note.tensor_proto.string_val) == [b"hello", "wörld".encode()]
    assert [d.size for d in note.tensor_proto.tensor_shape.dim] == [2]
    assert acc.SummaryMetadata("note").plugin_data.plugin_name == "text"
    assert "graph" not in acc.Tags() or acc.Tags()["graph"] is False


def test_float_image_scaling_follows_tf1() -> None:
    pos = np.array([[[0.0], [0.5]], [[1.0], [2.0]]], np.float32)
    np.testing.assert_array_equal(_to_uint8(pos)[..., 0], [[0, 63], [127, 255]])
    mixed = np.array([[[-1.0], [0.0]], [[0.5], [np.nan]]], np.float32)
    # 127/1 around 128; a non-finite pixel is red (its first channel: 255).
    np.testing.assert_array_equal(_to_uint8(mixed)[..., 0], [[1, 128], [191, 255]])
    rgb = np.zeros((1, 2, 3), np.float32)
    rgb[0, 1] = [np.inf, 0, 0]
    np.testing.assert_array_equal(_to_uint8(rgb)[0], [[0, 0, 0], [255, 0, 0]])


def test_errors_name_the_summary() -> None:
    g = tf.Graph()
    with g.as_default():
        with pytest.raises(ValueError, match="scalar tensor"):
            tf.summary.scalar("bad", tf.zeros([2]))
        with pytest.raises(ValueError, match="4-D"):
            tf.summary.image("bad", tf.zeros([2, 2, 3]))
        with pytest.raises(ValueError, match="channels must be 1, 3 or 4"):
            tf.summary.image("bad", tf.zeros([1, 2, 2, 2]))
        with pytest.raises(TypeError, match="real numeric"):
            tf.summary.histogram("bad", tf.constant([True]))
        hp = tf.placeholder(tf.float32, [None])
        sp = tf.placeholder(tf.float32, None)
        h = tf.summary.histogram("h", hp, collections=[])
        s = tf.summary.scalar("s", sp, collections=[])
        assert tf.summary.merge_all() is None
        with pytest.raises(TypeError, match="fetch it first"):
            h.SerializeToString()
        with tf.Session(graph=g) as sess:
            bad = sess.run(h, {hp: np.array([1.0, np.nan], np.float32)})
            with pytest.raises(errors.InvalidArgumentError, match="Nan in summary histogram for: h"):
                bad.SerializeToString()
            vec = sess.run(s, {sp: np.zeros(2, np.float32)})
            with pytest.raises(errors.InvalidArgumentError, match="needs a scalar"):
                vec.to_proto()
    with pytest.raises(TypeError, match="tf.summary.merge takes"):
        tf.summary.merge([tf.constant(1.0)])


def test_histogram_extremes_and_empty_runs() -> None:
    spec = tf.summary.SummarySpec("x", "histogram", "x:0")
    x = np.array([0.0, -0.0, 1e-13, -3.0, 1e25, 5.0, 5.0, -1e30])
    h = _histogram_proto(_tbx(), spec, x)
    limits, counts = _tf1_buckets(x)
    assert list(h.bucket_limit) == limits and list(h.bucket) == counts
    assert sum(h.bucket) == 8 and h.min == -1e30 and h.max == 1e25
    assert math.isclose(h.sum, x.sum()) and h.num == 8
    # Both signed zeros and 1e-13 count in [0, 1e-12).
    zero_bucket = list(h.bucket_limit).index(1e-12)
    assert h.bucket[zero_bucket] == 3 and h.bucket_limit[zero_bucket - 1] == 0.0
    full = _bucket_limits()
    assert full[0] == -sys.float_info.max and full[-1] == sys.float_info.max
    assert np.all(np.diff(full) > 0) and len(full) == 2 * 775 + 1


def test_graphc_imports_without_the_writer_library() -> None:
    code = (
        "import sys; sys.modules['tensorboardX'] = None\n"
        "import graphc as tf\n"
        "s = tf.summary.scalar('a', tf.constant(1.0))\n"
        "try:\n"
        "    tf.summary.FileWriter('/nonexistent-logdir')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install graphc[summary]" in out
