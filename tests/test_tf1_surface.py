"""The TF1 names tutorials use: the candidate samplers against their documented
distributions, nce_loss and sampled_softmax_loss against a NumPy implementation of TF1's
formulas (given the same sampled candidates), embedding_lookup over partitioned params
against NumPy indexing with TF1's "mod" and "div" rules, var_list as any iterable,
tf.contrib's aliases against their documented formulas, and the AttributeError messages
for TF1 names graphc does not provide."""

from __future__ import annotations

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
