"""TF1's config messages: fields with TF1's defaults, set by keyword or attribute."""

from __future__ import annotations

import pytest

import graphc as tf


def test_attribute_style_settings_are_accepted() -> None:
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
    assert config.gpu_options.allow_growth is False and config.intra_op_parallelism_threads == 0
    config.gpu_options.allow_growth = True
    config.gpu_options.per_process_gpu_memory_fraction = 0.5
    config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    config.inter_op_parallelism_threads = 2
    assert config.gpu_options.allow_growth is True and config.allow_soft_placement is True
    # Two configs do not share their nested messages.
    assert tf.ConfigProto().gpu_options.allow_growth is False
    with tf.Session(config=config) as sess:
        opts = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
        assert sess.run(tf.constant(2.0) * 3.0, options=opts, run_metadata=tf.RunMetadata()) == 6.0
    with pytest.raises(AttributeError, match="no field"):
        _ = config.not_a_field
    gpu = tf.GPUOptions(allow_growth=True)
    assert tf.ConfigProto(gpu_options=gpu).gpu_options is gpu


def test_graphc_options_still_come_through_the_config() -> None:
    x = tf.placeholder(tf.float32, [2])
    y = x * 2.0 + 1.0
    with tf.Session(config=tf.ConfigProto(disable_passes=["fuse"], backend="numpy")) as sess:
        assert sess.backend.name == "numpy"
        assert list(sess.run(y, {x: [1.0, 2.0]})) == [3.0, 5.0]
