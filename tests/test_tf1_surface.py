"""The TF1 names tutorials use: the candidate samplers against their documented
distributions, nce_loss and sampled_softmax_loss against a NumPy implementation of TF1's
formulas (given the same sampled candidates), embedding_lookup over partitioned params
against NumPy indexing with TF1's "mod" and "div" rules, var_list as any iterable,
tf.contrib's aliases against their documented formulas, and the AttributeError messages
for TF1 names graphc does not provide."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

import graphc as tf

FLT_MAX = float(np.finfo(np.float32).max)


def _run(fetches: Any, feeds: dict[Any, Any] | None = None) -> Any:
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feeds or {})


# -- the candidate samplers ------------------------------------------------------------------
def _log_uniform_p(k: np.ndarray, range_max: int) -> np.ndarray:
    # TF1's documented distribution: P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1).
    k = np.asarray(k, np.float64)
    return (np.log(k + 2) - np.log(k + 1)) / np.log(range_max + 1)


def test_log_uniform_sampler_distribution() -> None:
    range_max, n = 12, 60000
    labels = tf.constant(np.array([[0], [5], [11]], np.int64))
    s, tec, sec = tf.nn.log_uniform_candidate_sampler(labels, 1, n, False, range_max, seed=11)
    sampled, true_count, sampled_count = _run([s, tec, sec])
    assert sampled.dtype == np.int64 and sampled.shape == (n,)
    assert sampled.min() >= 0 and sampled.max() < range_max
    p = _log_uniform_p(np.arange(range_max), range_max)
    freq = np.bincount(sampled, minlength=range_max) / n
    # Binomial standard error is at most sqrt(0.25 / n) = 0.002: 5 of them is a loose bound.
    np.testing.assert_allclose(freq, p, atol=0.01)
    # Without unique, the expected count is p * num_sampled (TF1).
    np.testing.assert_allclose(true_count[:, 0], _log_uniform_p([0, 5, 11], range_max) * n, rtol=1e-5)
    np.testing.assert_allclose(sampled_count, _log_uniform_p(sampled, range_max) * n, rtol=1e-5)


def test_uniform_sampler_distribution() -> None:
    range_max, n = 7, 35000
    s, tec, sec = tf.nn.uniform_candidate_sampler(
        tf.constant([[1, 2]], tf.int64), 2, n, False, range_max, seed=4
    )
    sampled, true_count, sampled_count = _run([s, tec, sec])
    np.testing.assert_allclose(np.bincount(sampled, minlength=range_max) / n, 1 / range_max, atol=0.01)
    np.testing.assert_allclose(true_count, [[n / range_max, n / range_max]], rtol=1e-5)
    np.testing.assert_allclose(sampled_count, n / range_max, rtol=1e-5)


def test_unique_sampler_counts_follow_the_number_of_tries() -> None:
    range_max, num_sampled = 30, 20
    labels = tf.constant(np.array([[0, 1], [3, 29]], np.int64))
    s, tec, sec = tf.nn.log_uniform_candidate_sampler(labels, 2, num_sampled, True, range_max, seed=5)
    sampled, true_count, sampled_count = _run([s, tec, sec])
    assert len(set(sampled.tolist())) == num_sampled  # distinct
    # TF1: with rejections, expected count = 1 - (1 - p) ** num_tries, the same num_tries for
    # every class. Recover num_tries from the rarest class (the best conditioned in float32)
    # and check every count against it.
    p_s = _log_uniform_p(sampled, range_max)
    rare = int(np.argmin(p_s))
    t = round(float(np.log1p(-float(sampled_count[rare])) / np.log1p(-p_s[rare])))
    assert t > num_sampled  # 20 distinct of 30 log-uniform classes take more than 20 draws
    np.testing.assert_allclose(sampled_count, 1 - (1 - p_s) ** t, rtol=1e-5)
    p_t = _log_uniform_p(np.array([[0, 1], [3, 29]]), range_max)
    np.testing.assert_allclose(true_count, 1 - (1 - p_t) ** t, rtol=1e-5)


def test_sampler_is_reproducible_and_advances_per_run() -> None:
    def draw() -> list[np.ndarray]:
        tf.reset_default_graph()
        s, _, _ = tf.nn.log_uniform_candidate_sampler(tf.constant([[1]], tf.int64), 1, 8, True, 100, seed=9)
        with tf.Session() as sess:
            return [sess.run(s) for _ in range(3)]

    first, second = draw(), draw()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])


def test_unique_sampler_needs_enough_classes() -> None:
    with pytest.raises(ValueError, match="range_max >= num_sampled"):
        tf.nn.log_uniform_candidate_sampler(tf.constant([[1]], tf.int64), 1, 8, True, 5)


# -- the sampled losses against TF1's formulas -------------------------------------------------
def _np_sampled_logits(
    w: np.ndarray,
    b: np.ndarray,
    labels: np.ndarray,
    x: np.ndarray,
    sampled: np.ndarray,
    true_count: np.ndarray,
    sampled_count: np.ndarray,
    remove_accidental_hits: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """TF1's _compute_sampled_logits (nn_impl.py), written out in NumPy."""
    num_true = labels.shape[1]
    true_logits = np.einsum("bd,btd->bt", x, w[labels]) + b[labels] - np.log(true_count)
    sampled_logits = x @ w[sampled].T + b[sampled]
    if remove_accidental_hits:
        hits = (labels[:, :, None] == sampled[None, None, :]).any(axis=1)
        sampled_logits = sampled_logits + np.where(hits, -FLT_MAX, 0.0)
    sampled_logits = sampled_logits - np.log(sampled_count)
    logits = np.concatenate([true_logits, sampled_logits], 1)
    targets = np.concatenate([np.full_like(true_logits, 1.0 / num_true), np.zeros_like(sampled_logits)], 1)
    return logits, targets


def _np_nce(logits: np.ndarray, z: np.ndarray) -> np.ndarray:
    # sigmoid_cross_entropy_with_logits: max(x, 0) - x * z + log(1 + exp(-|x|)), summed per row.
    return (np.maximum(logits, 0) - logits * z + np.log1p(np.exp(-np.abs(logits)))).sum(1)


def _np_sampled_softmax(logits: np.ndarray, z: np.ndarray) -> np.ndarray:
    m = logits.max(1, keepdims=True)
    log_sm = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    return -(z * log_sm).sum(1)


def _loss_problem(num_true: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    num_classes, dim, batch = 10, 4, 5
    labels = rng.integers(0, num_classes, size=(batch, num_true))
    labels[0, 0] = 2  # an accidental hit: class 2 is also sampled
    return {
        "w": rng.normal(size=(num_classes, dim)),
        "b": rng.normal(size=num_classes),
        "x": rng.normal(size=(batch, dim)),
        "labels": labels,
        "sampled": np.array([2, 7, 0, 5]),
        "tc": rng.uniform(0.1, 0.9, size=(batch, num_true)),
        "sc": rng.uniform(0.1, 0.9, size=4),
    }


@pytest.mark.parametrize("num_true", [1, 2])
@pytest.mark.parametrize("remove", [False, True])
@pytest.mark.parametrize("which", ["nce", "softmax"])
def test_sampled_losses_match_tf1_formulas(num_true: int, remove: bool, which: str) -> None:
    d = _loss_problem(num_true)
    sampled_values = (
        tf.constant(d["sampled"], tf.int64),
        tf.constant(d["tc"], tf.float64),
        tf.constant(d["sc"], tf.float64),
    )
    fn = tf.nn.nce_loss if which == "nce" else tf.nn.sampled_softmax_loss
    loss = fn(
        tf.constant(d["w"]),
        tf.constant(d["b"]),
        tf.constant(d["labels"], tf.int64),
        tf.constant(d["x"]),
        num_sampled=4,
        num_classes=10,
        num_true=num_true,
        sampled_values=sampled_values,
        remove_accidental_hits=remove,
    )
    assert loss.shape.as_list() == [5]
    logits, z = _np_sampled_logits(
        d["w"], d["b"], d["labels"], d["x"], d["sampled"], d["tc"], d["sc"], remove
    )
    want = _np_nce(logits, z) if which == "nce" else _np_sampled_softmax(logits, z)
    np.testing.assert_allclose(_run(loss), want, rtol=1e-10)


def test_loss_defaults_follow_tf1() -> None:
    # remove_accidental_hits: False for nce_loss, True for sampled_softmax_loss.
    d = _loss_problem(1)
    sv = (tf.constant(d["sampled"], tf.int64), tf.constant(d["tc"]), tf.constant(d["sc"]))
    args = (tf.constant(d["w"]), tf.constant(d["b"]), tf.constant(d["labels"]), tf.constant(d["x"]), 4, 10)
    nce, ssm = _run(
        [tf.nn.nce_loss(*args, sampled_values=sv), tf.nn.sampled_softmax_loss(*args, sampled_values=sv)]
    )
    logits_keep, z = _np_sampled_logits(
        d["w"], d["b"], d["labels"], d["x"], d["sampled"], d["tc"], d["sc"], False
    )
    logits_drop, _ = _np_sampled_logits(
        d["w"], d["b"], d["labels"], d["x"], d["sampled"], d["tc"], d["sc"], True
    )
    np.testing.assert_allclose(nce, _np_nce(logits_keep, z), rtol=1e-10)
    np.testing.assert_allclose(ssm, _np_sampled_softmax(logits_drop, z), rtol=1e-10)


def test_sampled_loss_with_partitioned_weights() -> None:
    d = _loss_problem(1)
    sv = (tf.constant(d["sampled"], tf.int64), tf.constant(d["tc"]), tf.constant(d["sc"]))
    # "div" over 3 shards of 4, 3 and 3 rows (the first N % P shards hold one more row).
    shards = [tf.constant(d["w"][:4]), tf.constant(d["w"][4:7]), tf.constant(d["w"][7:])]
    bias_shards = [tf.constant(d["b"][:4]), tf.constant(d["b"][4:7]), tf.constant(d["b"][7:])]
    loss = tf.nn.sampled_softmax_loss(
        shards, bias_shards, tf.constant(d["labels"]), tf.constant(d["x"]), 4, 10,
        sampled_values=sv, partition_strategy="div",
    )  # fmt: skip
    logits, z = _np_sampled_logits(d["w"], d["b"], d["labels"], d["x"], d["sampled"], d["tc"], d["sc"], True)
    np.testing.assert_allclose(_run(loss), _np_sampled_softmax(logits, z), rtol=1e-10)


def test_nce_trains_a_tiny_word2vec() -> None:
    # Skip-gram pairs from a tiny corpus in which each word predicts the next one.
    vocab, dim, batch = 20, 8, 16
    rng = np.random.default_rng(0)
    centers = rng.integers(0, vocab, size=256)
    contexts = (centers + 1) % vocab
    tf.set_random_seed(1)
    embeddings = tf.Variable(tf.random_uniform([vocab, dim], -1.0, 1.0))
    nce_w = tf.Variable(tf.truncated_normal([vocab, dim], stddev=1.0 / np.sqrt(dim)))
    nce_b = tf.Variable(tf.zeros([vocab]))
    x = tf.placeholder(tf.int32, [batch])
    y = tf.placeholder(tf.int64, [batch, 1])
    embed = tf.nn.embedding_lookup(embeddings, x)
    loss = tf.reduce_mean(tf.nn.nce_loss(nce_w, nce_b, y, embed, num_sampled=5, num_classes=vocab))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    # The loss of a fixed sample of candidates on all the pairs, before and after training.
    full = tf.nn.embedding_lookup(embeddings, tf.constant(centers))
    eval_sv = tf.nn.log_uniform_candidate_sampler(
        tf.constant(contexts[:, None], tf.int64), 1, 5, True, vocab, seed=2
    )
    eval_loss = tf.reduce_mean(
        tf.nn.nce_loss(nce_w, nce_b, tf.constant(contexts[:, None]), full, 5, vocab, sampled_values=eval_sv)
    )
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(eval_loss)
        for step in range(150):
            i = (step * batch) % 256
            sess.run(train, {x: centers[i : i + batch], y: contexts[i : i + batch, None]})
        after = sess.run(eval_loss)
    assert np.isfinite(before) and after < 0.5 * before


# -- embedding_lookup over partitioned params ----------------------------------------------------
def _np_partitioned_rows(shards: list[np.ndarray], ids: np.ndarray, strategy: str) -> np.ndarray:
    """TF1's partitioning of ids: "mod" puts id i in shard i % P at row i // P; "div" gives
    contiguous blocks, the first N % P shards one row longer."""
    p = len(shards)
    if strategy == "mod":
        full = np.zeros((sum(len(s) for s in shards), *shards[0].shape[1:]))
        for k, s in enumerate(shards):
            full[k::p] = s
    else:
        full = np.concatenate(shards, 0)
    return full[ids]


@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_embedding_lookup_partitioned(strategy: str) -> None:
    rng = np.random.default_rng(2)
    total, p = 11, 3
    if strategy == "mod":
        sizes = [len(range(k, total, p)) for k in range(p)]
    else:
        q, r = divmod(total, p)
        sizes = [q + 1 if k < r else q for k in range(p)]
    shards = [rng.normal(size=(n, 2, 3)) for n in sizes]
    ids = rng.integers(0, total, size=(4, 5))
    params = [tf.Variable(s) for s in shards]
    ids_t = tf.placeholder(tf.int32, [None, 5])
    out = tf.nn.embedding_lookup(params, ids_t, partition_strategy=strategy)
    got = _run(out, {ids_t: ids})
    np.testing.assert_array_equal(got, _np_partitioned_rows(shards, ids, strategy))
    # The gradient reaches exactly the rows looked up, once per lookup.
    grads = tf.gradients(tf.reduce_sum(out), params)
    got_g = _run(grads, {ids_t: ids})
    want_full = np.zeros((total, 2, 3))
    np.add.at(want_full, ids.reshape(-1), 1.0)
    want = (
        [want_full[k::p] for k in range(p)]
        if strategy == "mod"
        else np.split(want_full, np.cumsum(sizes)[:-1])
    )
    for g, w in zip(got_g, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_embedding_lookup_partitioned_max_norm() -> None:
    shards = [np.array([[3.0, 4.0], [0.3, 0.4]]), np.array([[6.0, 8.0]])]
    out = tf.nn.embedding_lookup([tf.constant(s) for s in shards], tf.constant([0, 1, 2]), max_norm=1.0)
    # mod: id 0 -> shard 0 row 0, id 1 -> shard 1 row 0, id 2 -> shard 0 row 1.
    np.testing.assert_allclose(_run(out), [[0.6, 0.8], [0.6, 0.8], [0.3, 0.4]], rtol=1e-12)


def test_embedding_lookup_single_and_bad_strategy() -> None:
    w = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(_run(tf.nn.embedding_lookup([tf.constant(w)], [3, 0])), w[[3, 0]])
    with pytest.raises(ValueError, match="Unrecognized partition strategy"):
        tf.nn.embedding_lookup([tf.constant(w), tf.constant(w)], [0], partition_strategy="block")


# -- var_list as any iterable ----------------------------------------------------------------
def _two_var_problem() -> tuple[Any, Any, Any]:
    a = tf.Variable(1.0, name="a")
    b = tf.Variable(2.0, name="b")
    loss = 3.0 * a + 5.0 * b
    return a, b, loss


@pytest.mark.parametrize("kind", ["dict_values", "generator", "set", "dict", "nested"])
def test_var_list_any_iterable(kind: str) -> None:
    a, b, loss = _two_var_problem()
    var_list: Any = {
        "dict_values": lambda: {"x": a, "y": b}.values(),
        "generator": lambda: (v for v in [a, b]),
        "set": lambda: {b, a},
        "dict": lambda: {"y": b, "x": a},
        "nested": lambda: [a, (b,)],
    }[kind]()
    opt = tf.train.GradientDescentOptimizer(0.1)
    gvs = opt.compute_gradients(loss, var_list=var_list)
    assert [v.op.name for _, v in gvs] == ["a", "b"]  # a set and a dict: by name / sorted key
    step = tf.train.GradientDescentOptimizer(0.1).minimize(loss, var_list={"x": a}.values())
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step)
        np.testing.assert_allclose(sess.run([a, b]), [1.0 - 0.1 * 3.0, 2.0])


def test_saver_var_list_any_iterable(tmp_path: Any) -> None:
    a, b, _ = _two_var_problem()
    for var_list in ({"x": a, "y": b}.values(), (v for v in [a, b]), {a, b}):
        saver = tf.train.Saver(var_list=var_list)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "ckpt"))
            sess.run([tf.assign(a, 10.0), tf.assign(b, 20.0)])
            saver.restore(sess, path)
            np.testing.assert_allclose(sess.run([a, b]), [1.0, 2.0])


def test_default_sampler_is_log_uniform_unique() -> None:
    # With an op seed and no graph seed, the loss's own sampler and this one share their seeds,
    # so in a first run they draw the same candidates.
    d = _loss_problem(1)
    labels = tf.constant(d["labels"], tf.int64)
    sv = tf.nn.log_uniform_candidate_sampler(labels, 1, 4, True, 10, seed=5)
    loss = tf.nn.sampled_softmax_loss(
        tf.constant(d["w"]), tf.constant(d["b"]), labels, tf.constant(d["x"]), 4, 10, seed=5
    )
    (sampled, tc, sc), got = _run([sv, loss])
    logits, z = _np_sampled_logits(d["w"], d["b"], d["labels"], d["x"], sampled, tc, sc, True)
    np.testing.assert_allclose(got, _np_sampled_softmax(logits, z), rtol=1e-6)


# -- tf.contrib ---------------------------------------------------------------------------------
def test_contrib_flatten() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    y = tf.contrib.layers.flatten(tf.constant(x))
    assert y.shape.as_list() == [2, 12]
    np.testing.assert_array_equal(_run(y), x.reshape(2, 12))


@pytest.mark.parametrize("uniform", [True, False])
def test_xavier_initializer(uniform: bool) -> None:
    fan_in, fan_out = 300, 200
    init = tf.contrib.layers.xavier_initializer(uniform=uniform, seed=3)
    w = _run(init([fan_in, fan_out]))
    n = (fan_in + fan_out) / 2.0
    if uniform:
        # Glorot uniform: U(-sqrt(6 / (fan_in + fan_out)), +...), variance limit^2 / 3.
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit
        np.testing.assert_allclose(w.std(), limit / np.sqrt(3.0), rtol=0.02)
    else:
        # contrib: truncated normal of stddev sqrt(1.3 / n), cut at two stddevs (std x 0.8796).
        sigma = np.sqrt(1.3 / n)
        assert np.abs(w).max() <= 2 * sigma * (1 + 1e-6)
        np.testing.assert_allclose(w.std(), sigma * 0.87962566, rtol=0.02)
    # conv2d: the receptive field multiplies both fans.
    wc = _run(tf.contrib.layers.xavier_initializer_conv2d(seed=1)([5, 5, 16, 32]))
    assert np.abs(wc).max() <= np.sqrt(6.0 / (25 * 16 + 25 * 32))


def test_contrib_regularizers() -> None:
    w0 = np.array([[1.0, -2.0], [3.0, -0.5]])
    w = tf.constant(w0)
    l2 = tf.contrib.layers.l2_regularizer(0.1)(w)
    l1 = tf.contrib.layers.l1_regularizer(0.3)(w)
    both = tf.contrib.layers.l1_l2_regularizer(0.3, 0.1)(w)
    got = _run([l2, l1, both])
    # TF1: l2 is scale * l2_loss(w) = scale * sum(w ** 2) / 2; l1 is scale * sum(|w|).
    want_l2, want_l1 = 0.1 * (w0**2).sum() / 2, 0.3 * np.abs(w0).sum()
    np.testing.assert_allclose(got, [want_l2, want_l1, want_l1 + want_l2], rtol=1e-12)
    assert tf.contrib.layers.l2_regularizer(0.0)(w) is None
    with pytest.raises(ValueError, match="integer"):
        tf.contrib.layers.l2_regularizer(1)
    with pytest.raises(ValueError, match="less than 0"):
        tf.contrib.layers.l1_regularizer(-0.5)
    total = tf.contrib.layers.apply_regularization(tf.contrib.layers.l1_regularizer(0.3), [w, 2 * w])
    np.testing.assert_allclose(_run(total), 3 * want_l1, rtol=1e-12)
    assert total in tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)


def test_contrib_fully_connected() -> None:
    x0 = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    x = tf.constant(x0)
    y = tf.contrib.layers.fully_connected(x, 5, weights_regularizer=tf.contrib.layers.l2_regularizer(0.01))
    y2 = tf.contrib.layers.fully_connected(
        y, 2, activation_fn=None, biases_initializer=tf.constant_initializer(0.5)
    )
    names = [v.op.name for v in tf.global_variables()]
    assert names == [
        "fully_connected/weights",
        "fully_connected/biases",
        "fully_connected_1/weights",
        "fully_connected_1/biases",
    ]
    assert [v.op.name for v in tf.model_variables()] == names
    (reg,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    w1, b1, w2, b2 = tf.global_variables()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        vals = sess.run([y, y2, reg, w1, b1, w2, b2])
    got_y, got_y2, got_reg, w1v, b1v, w2v, b2v = vals
    np.testing.assert_array_equal(b1v, 0.0)
    np.testing.assert_array_equal(b2v, 0.5)
    want_y = np.maximum(x0 @ w1v + b1v, 0)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_y2, want_y @ w2v + b2v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_reg, 0.01 * (w1v.astype(np.float64) ** 2).sum() / 2, rtol=1e-5)
    # A named scope is reused as TF1 reuses it.
    a = tf.contrib.layers.fully_connected(x, 3, scope="fc")
    b = tf.contrib.layers.fully_connected(x, 3, scope="fc", reuse=True)
    assert len([v for v in tf.global_variables() if v.op.name.startswith("fc/")]) == 2
    va, vb = _run([a, b])
    np.testing.assert_array_equal(va, vb)


def _np_conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    kh, kw = w.shape[:2]
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    out = np.zeros((*x.shape[:3], w.shape[3]))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j, :] = np.einsum("bhwc,hwco->bo", xp[:, i : i + kh, j : j + kw, :], w)
    return out


def test_contrib_conv_pool_dropout() -> None:
    x0 = np.random.default_rng(1).normal(size=(2, 6, 6, 3))
    x = tf.constant(x0)
    y = tf.contrib.layers.conv2d(x, 4, 3)
    pooled = tf.contrib.layers.max_pool2d(y, 2)
    avg = tf.contrib.layers.avg_pool2d(tf.constant(x0), [2, 2], stride=2)
    assert [v.op.name for v in tf.global_variables()] == ["Conv/weights", "Conv/biases"]
    w = tf.global_variables()[0]
    got_y, got_pool, got_avg, wv = _run([y, pooled, avg, w])
    want_y = np.maximum(_np_conv_same(x0, wv), 0)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_pool, want_y.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4)), rtol=1e-12)
    np.testing.assert_allclose(got_avg, x0.reshape(2, 3, 2, 3, 2, 3).mean(axis=(2, 4)), rtol=1e-12)
    ones = tf.ones([1000])
    np.testing.assert_array_equal(_run(tf.contrib.layers.dropout(ones, 0.5, is_training=False)), 1.0)
    dropped = _run(tf.contrib.layers.dropout(ones, 0.25, seed=1))
    assert set(np.unique(dropped).tolist()) <= {0.0, 4.0} and 0.15 < (dropped > 0).mean() < 0.35
    hot = tf.contrib.layers.one_hot_encoding(tf.constant([2, 0]), 3)
    np.testing.assert_array_equal(_run(hot), [[0, 0, 1], [1, 0, 0]])


def test_contrib_framework_variables() -> None:
    with tf.variable_scope("enc"):
        w = tf.get_variable("weights", [2])
        b = tf.get_variable("biases", [2], trainable=False)
    with tf.variable_scope("dec"):
        w2 = tf.get_variable("weights", [2])
    fw = tf.contrib.framework
    assert fw.get_variables() == [w, b, w2]
    assert fw.get_variables("enc") == [w, b]
    assert fw.get_variables(suffix="weights") == [w, w2]
    assert fw.get_variables_by_name("weights") == [w, w2]
    assert fw.get_variables_by_name("weights", scope="dec") == [w2]
    assert fw.get_trainable_variables("enc") == [w]
    assert fw.get_variables_to_restore(exclude=["dec"]) == [w, b]
    assert fw.get_variables_to_restore(include=["dec", "enc"], exclude=["enc/biases"]) == [w2, w]
    step = fw.get_or_create_global_step()
    assert fw.get_global_step() is step


def test_contrib_rnn_is_tf_nn_rnn_cell() -> None:
    assert tf.contrib.rnn.BasicLSTMCell is tf.nn.rnn_cell.BasicLSTMCell
    assert tf.contrib.rnn.static_rnn is tf.nn.static_rnn


def test_contrib_rnn_missing_names() -> None:
    with pytest.raises(AttributeError):
        _ = tf.contrib.rnn.NotACell


@pytest.mark.parametrize(
    ("expr", "advice"),
    [
        ("tf.contrib.cudnn_rnn", "tf.nn.rnn_cell"),
        ("tf.contrib.slim", "tf.layers"),
        ("tf.contrib.learn", "tf.Session"),
        ("tf.contrib.not_a_package", ""),
        ("tf.contrib.layers.batch_norm", "tf.layers.batch_normalization"),
        ("tf.contrib.layers.embed_sequence", "tf.nn.embedding_lookup"),
        ("tf.contrib.framework.arg_scope", "pass the arguments"),
    ],
)
def test_contrib_names_not_provided(expr: str, advice: str) -> None:
    with pytest.raises(AttributeError) as info:
        eval(expr, {"tf": tf})
    text = str(info.value)
    assert text.startswith(f"{expr} is TF1's contrib, which graphc does not provide")
    assert advice in text and "Left out of TF1" in text
    assert not hasattr(tf.contrib, "not_a_package")


# -- TF1 names graphc does not provide -----------------------------------------------------------
from graphc.compat import tf1_names  # noqa: E402


def _module_for(path: str) -> Any:
    mod: Any = tf
    for part in path.split(".")[1:]:
        mod = getattr(mod, part)
    return mod


@pytest.mark.parametrize("path", sorted(tf1_names.TF1_NAMES))
def test_every_listed_tf1_name_is_there_or_explained(path: str) -> None:
    mod = _module_for(path)
    for name in sorted(tf1_names.TF1_NAMES[path]):
        if name in mod.__dict__:
            assert hasattr(mod, name)
            continue
        with pytest.raises(AttributeError) as info:
            getattr(mod, name)
        text = str(info.value)
        assert text.startswith(f"{path}.{name} is a TF1 name that graphc does not provide"), text
        assert "README" in text and "Left out of TF1" in text
        assert info.value.name is None  # so Python adds no "Did you mean" guess


def test_graphc_names_and_other_names_unchanged() -> None:
    for mod, name in [(tf, "placeholder"), (tf.nn, "nce_loss"), (tf.train, "Saver"), (tf.layers, "dense")]:
        assert hasattr(mod, name)
    assert hasattr(tf, "contrib") and hasattr(tf.compat.v1.nn, "sampled_softmax_loss")
    with pytest.raises(AttributeError) as info:
        tf.nn.l2_los  # noqa: B018  (a typo, not a TF1 name)
    assert str(info.value) == "module 'graphc.nn' has no attribute 'l2_los'"
    assert info.value.name == "l2_los" and info.value.obj is tf.nn
    assert not hasattr(tf, "definitely_not_tf1")


def test_tf1_name_error_has_no_did_you_mean(capsys: Any) -> None:
    import sys  # a test of how Python's own hook prints the error

    for expr in ["tf.nn.ctc_loss", "tf.nn.l2_los"]:
        try:
            eval(expr, {"tf": tf})
        except AttributeError as exc:
            sys.__excepthook__(type(exc), exc, None)
    err = capsys.readouterr().err
    first, second = [line for line in err.splitlines() if line.startswith("AttributeError:")]
    assert "tf.nn.ctc_loss is a TF1 name" in first and "Did you mean" not in first
    assert "Did you mean: 'l2_loss'?" in second  # an ordinary typo keeps Python's guess


def test_getattr_hook_is_safe_for_tools() -> None:
    for mod in (tf, tf.nn, tf.train, tf.layers, tf.losses, tf.image, tf.math):
        assert getattr(mod.__getattr__, "_tf1_path", None) is not None
        for dunder in ("__path__", "__wrapped__", "__test__", "__reduce_ex_nonexistent__"):
            if dunder not in mod.__dict__:
                assert not hasattr(mod, dunder)
    namespace: dict[str, Any] = {}
    exec("from graphc import *", namespace)
    assert namespace["placeholder"] is tf.placeholder
    exec("from graphc.nn import *", namespace)
    assert namespace["nce_loss"] is tf.nn.nce_loss
    assert pickle.loads(pickle.dumps(tf.nn.nce_loss)) is tf.nn.nce_loss
    assert pickle.loads(pickle.dumps(tf.train.AdamOptimizer)) is tf.train.AdamOptimizer
    import inspect  # introspection over the whole module must not trip the hook

    assert dict(inspect.getmembers(tf.nn))["nce_loss"] is tf.nn.nce_loss
    tf1_names.install(tf.nn, "tf.nn")  # installing again keeps the one hook
    with pytest.raises(AttributeError, match="TF1 name"):
        tf.nn.ctc_loss  # noqa: B018
