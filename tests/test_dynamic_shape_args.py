"""Shape arguments built from tf.shape: tile multiples and range bounds known only at run
time still give symbolic shapes, so one program serves every batch size."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc.ir.lower import lower


def test_tile_by_the_batch_size() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    v = tf.constant([1.0, 2.0, 3.0])
    tiled = tf.tile(tf.expand_dims(v, 0), [tf.shape(x)[0], 1])
    assert tiled.shape.as_list() == [None, 3]
    (g,) = tf.gradients(tf.reduce_sum(tiled * tiled), v)
    with tf.Session() as sess:
        for n in (2, 5):
            t, gv = sess.run([tiled, g], {x: np.zeros((n, 3))})
            np.testing.assert_array_equal(t, np.tile([[1.0, 2.0, 3.0]], (n, 1)))
            np.testing.assert_allclose(gv, 2 * n * np.array([1.0, 2.0, 3.0]))
        assert sess.stats["compiles"] == 1
    low = lower(tf.get_default_graph(), [tiled], {x: (tf.float32, (2, 3))})
    assert [str(d) for d in low.program.fetches[0].value.shape] == ["N0", "3"]


def test_range_of_the_batch_size() -> None:
    x = tf.placeholder(tf.float32, [None, 2])
    idx = tf.range(tf.shape(x)[0])
    odd = tf.range(1, tf.shape(x)[0] * 2, 2)
    weighted = tf.cast(idx, tf.float32)[:, None] * x
    low = lower(tf.get_default_graph(), [idx], {x: (tf.float32, (4, 2))})
    assert [str(d) for d in low.program.fetches[0].value.shape] == ["N0"]
    with tf.Session() as sess:
        i, o, w = sess.run([idx, odd, weighted], {x: np.ones((4, 2))})
    np.testing.assert_array_equal(i, np.arange(4))
    np.testing.assert_array_equal(o, np.arange(1, 8, 2))
    np.testing.assert_array_equal(w, np.arange(4)[:, None] * np.ones((4, 2)))
    assert i.dtype == np.int32
