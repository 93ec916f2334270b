"""tf.metrics and tf.confusion_matrix against NumPy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf

skm = pytest.importorskip("sklearn.metrics")


def _batches(n: int, k: int) -> list[slice]:
    edges = np.linspace(0, n, k + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _stream(value, update, feeds_per_batch):  # type: ignore[no-untyped-def]
    """Run ``update`` once per batch after resetting; return (updates, final value)."""
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        ups = [sess.run(update, fd) for fd in feeds_per_batch]
        return ups, sess.run(value)


@pytest.fixture
def binary_data():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    n = 300
    labels = rng.integers(0, 2, n)
    scores = np.clip(labels * 0.3 + rng.uniform(0, 0.7, n), 0, 1).astype(np.float32)
    weights = rng.uniform(0, 2, n).astype(np.float32)
    return labels, scores, weights


def test_accuracy_streams_and_matches_sklearn_with_weights(binary_data) -> None:  # type: ignore[no-untyped-def]
    labels, scores, weights = binary_data
    preds = (scores > 0.5).astype(np.int64)
    lab = tf.placeholder(tf.int64, [None])
    pred = tf.placeholder(tf.int64, [None])
    w = tf.placeholder(tf.float32, [None])
    acc, update = tf.metrics.accuracy(lab, pred)
    wacc, wupdate = tf.metrics.accuracy(lab, pred, weights=w)
    parts = _batches(len(labels), 3)
    feeds = [{lab: labels[s], pred: preds[s], w: weights[s]} for s in parts]
    ups, final = _stream(acc, update, feeds)
    assert final == pytest.approx(skm.accuracy_score(labels, preds), rel=1e-6)
    # Each update gives the accuracy over everything seen so far.
    seen = parts[0].stop
    assert ups[0] == pytest.approx(skm.accuracy_score(labels[:seen], preds[:seen]), rel=1e-6)
    _, wfinal = _stream(wacc, wupdate, feeds)
    assert wfinal == pytest.approx(skm.accuracy_score(labels, preds, sample_weight=weights), rel=1e-5)


def test_metric_variables_collections_and_reset() -> None:
    v = tf.placeholder(tf.float32, [None])
    m, update = tf.metrics.mean(v, metrics_collections=["my_metrics"], updates_collections=["my_updates"])
    names = sorted(x.name for x in tf.local_variables())
    assert names == ["mean/count:0", "mean/total:0"]
    assert sorted(x.name for x in tf.get_collection(tf.metrics.METRIC_VARIABLES)) == names
    assert tf.trainable_variables() == [] and tf.global_variables() == []
    assert tf.get_collection("my_metrics") == [m] and tf.get_collection("my_updates") == [update]
    _, m2 = tf.metrics.mean(v, name="other")
    assert any(x.name.startswith("other/") for x in tf.local_variables())
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        assert sess.run(m) == 0.0  # nothing seen yet: 0, not NaN
        sess.run(update, {v: [1.0, 2.0]})
        assert sess.run(update, {v: [6.0]}) == pytest.approx(3.0)
        assert sess.run(m) == pytest.approx(3.0)  # reading changes nothing
        assert sess.run(m) == pytest.approx(3.0)
        sess.run(tf.local_variables_initializer())
        assert sess.run(m) == 0.0
        assert sess.run(update, {v: [5.0]}) == pytest.approx(5.0)


def test_weighted_mean_with_squeezable_weights_and_regression_errors() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8,)).astype(np.float32)
    y = rng.normal(size=(8,)).astype(np.float32)
    w = rng.uniform(0, 1, (8, 1)).astype(np.float32)
    m, up = tf.metrics.mean(tf.constant(x), weights=tf.constant(w))
    mae, mae_up = tf.metrics.mean_absolute_error(tf.constant(y), tf.constant(x))
    mse, mse_up = tf.metrics.mean_squared_error(tf.constant(y), tf.constant(x), weights=w[:, 0])
    rmse, rmse_up = tf.metrics.root_mean_squared_error(tf.constant(y), tf.constant(x))
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        sess.run([up, mae_up, mse_up, rmse_up])
        got = sess.run([m, mae, mse, rmse])
    np.testing.assert_allclose(got[0], np.sum(x * w[:, 0]) / np.sum(w), rtol=1e-5)
    np.testing.assert_allclose(got[1], skm.mean_absolute_error(y, x), rtol=1e-5)
    np.testing.assert_allclose(got[2], skm.mean_squared_error(y, x, sample_weight=w[:, 0]), rtol=1e-5)
    np.testing.assert_allclose(got[3], np.sqrt(skm.mean_squared_error(y, x)), rtol=1e-5)
    with pytest.raises(ValueError, match="broadcast"):
        tf.metrics.mean(tf.constant(x), weights=tf.constant(np.ones(3, np.float32)))


def test_precision_recall_and_counts(binary_data) -> None:  # type: ignore[no-untyped-def]
    labels, scores, weights = binary_data
    preds = scores > 0.55
    lab = tf.placeholder(tf.int64, [None])
    pred = tf.placeholder(tf.bool, [None])
    w = tf.placeholder(tf.float32, [None])
    p, p_up = tf.metrics.precision(lab, pred, weights=w)
    r, r_up = tf.metrics.recall(lab, pred)
    tp, tp_up = tf.metrics.true_positives(lab, pred)
    fp, fp_up = tf.metrics.false_positives(lab, pred)
    fn, fn_up = tf.metrics.false_negatives(lab, pred)
    tn, tn_up = tf.metrics.true_negatives(lab, pred)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        assert sess.run([p, r]) == [0.0, 0.0]  # no positives yet: 0
        for s in _batches(len(labels), 4):
            sess.run(
                [p_up, r_up, tp_up, fp_up, fn_up, tn_up], {lab: labels[s], pred: preds[s], w: weights[s]}
            )
        got = sess.run([p, r, tp, fp, fn, tn])
    assert got[0] == pytest.approx(skm.precision_score(labels, preds, sample_weight=weights), rel=1e-5)
    assert got[1] == pytest.approx(skm.recall_score(labels, preds), rel=1e-6)
    (sk_tn, sk_fp), (sk_fn, sk_tp) = skm.confusion_matrix(labels, preds)
    assert got[2:] == [sk_tp, sk_fp, sk_fn, sk_tn]


def _tf1_auc_reference(labels, scores, weights, num_thresholds, curve, method):  # type: ignore[no-untyped-def]
    """TF1's thresholded AUC written with loops over thresholds, from its documentation."""
    eps_t = 1e-7
    ts = [-eps_t] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + eps_t]
    w = np.ones_like(scores, dtype=np.float64) if weights is None else weights.astype(np.float64)
    pos = labels.astype(bool)
    tp, fn, tn, fp = [], [], [], []
    for t in ts:
        above = scores.astype(np.float32) > np.float32(t)
        tp.append(np.sum(w[pos & above]))
        fn.append(np.sum(w[pos & ~above]))
        tn.append(np.sum(w[~pos & ~above]))
        fp.append(np.sum(w[~pos & above]))
    tp, fn, tn, fp = map(np.array, (tp, fn, tn, fp))
    e = 1e-6
    rec = (tp + e) / (tp + fn + e)
    if curve == "ROC":
        x, y = fp / (fp + tn + e), rec
    else:
        x, y = rec, (tp + e) / (tp + fp + e)
    total = 0.0
    for i in range(len(ts) - 1):
        h = {
            "trapezoidal": (y[i] + y[i + 1]) / 2,
            "minoring": min(y[i], y[i + 1]),
            "majoring": max(y[i], y[i + 1]),
        }
        total += (x[i] - x[i + 1]) * h[method]
    return total


@pytest.mark.parametrize(
    "curve,method,thresholds",
    [("ROC", "trapezoidal", 200), ("ROC", "minoring", 50), ("PR", "majoring", 7)],
)
def test_auc_matches_tf1_formula_and_approximates_sklearn(binary_data, curve, method, thresholds) -> None:  # type: ignore[no-untyped-def]
    labels, scores, weights = binary_data
    lab = tf.placeholder(tf.int64, [None])
    s = tf.placeholder(tf.float32, [None])
    w = tf.placeholder(tf.float32, [None])
    a, up = tf.metrics.auc(lab, s, weights=w, num_thresholds=thresholds, curve=curve, summation_method=method)
    feeds = [{lab: labels[b], s: scores[b], w: weights[b]} for b in _batches(len(labels), 3)]
    _, got = _stream(a, up, feeds)
    want = _tf1_auc_reference(labels, scores, weights, thresholds, curve, method)
    assert got == pytest.approx(want, abs=2e-5)
    if curve == "ROC" and thresholds == 200:
        assert got == pytest.approx(skm.roc_auc_score(labels, scores, sample_weight=weights), abs=5e-3)


def test_auc_defaults_and_pr_careful_interpolation(binary_data) -> None:  # type: ignore[no-untyped-def]
    labels, scores, _ = binary_data
    a, up = tf.metrics.auc(tf.constant(labels), tf.constant(scores))
    pr, pr_up = tf.metrics.auc(
        tf.constant(labels), tf.constant(scores), curve="PR", summation_method="careful_interpolation"
    )
    assert tf.get_collection(tf.metrics.METRIC_VARIABLES)[0].shape.as_list() == [200]
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        got, got_pr = sess.run([up, pr_up])
    assert got == pytest.approx(_tf1_auc_reference(labels, scores, None, 200, "ROC", "trapezoidal"), abs=2e-5)
    # The interpolated PR curve's area is close to sklearn's average precision.
    assert got_pr == pytest.approx(skm.average_precision_score(labels, scores), abs=0.02)
    with pytest.raises(ValueError, match="curve"):
        tf.metrics.auc(tf.constant(labels), tf.constant(scores), curve="XY")
    with pytest.raises(ValueError, match="summation_method"):
        tf.metrics.auc(tf.constant(labels), tf.constant(scores), summation_method="simpson")


def test_precision_recall_at_thresholds(binary_data) -> None:  # type: ignore[no-untyped-def]
    labels, scores, _ = binary_data
    ts = [0.2, 0.5, 0.8]
    p, p_up = tf.metrics.precision_at_thresholds(tf.constant(labels), tf.constant(scores), ts)
    r, r_up = tf.metrics.recall_at_thresholds(tf.constant(labels), tf.constant(scores), ts)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        got_p, got_r = sess.run([p_up, r_up])
    for i, t in enumerate(ts):
        preds = scores > t
        assert got_p[i] == pytest.approx(skm.precision_score(labels, preds), rel=1e-5)
        assert got_r[i] == pytest.approx(skm.recall_score(labels, preds), rel=1e-5)


def test_confusion_matrix_against_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 50)
    p = rng.integers(0, 4, 50)
    w = rng.uniform(0, 1, 50)
    lab = tf.placeholder(tf.int32, [None])
    pred = tf.placeholder(tf.int64, [None, 1])  # a trailing dim of 1 is squeezed
    cm = tf.confusion_matrix(lab, pred, num_classes=5)
    wcm = tf.math.confusion_matrix(lab, pred, num_classes=4, weights=tf.constant(w), dtype=tf.float64)
    assert cm.dtype == tf.int32 and cm.shape.as_list() == [5, 5]
    with tf.Session() as sess:
        got, wgot = sess.run([cm, wcm], {lab: y, pred: p[:, None]})
    np.testing.assert_array_equal(got, skm.confusion_matrix(y, p, labels=range(5)))
    np.testing.assert_allclose(wgot, skm.confusion_matrix(y, p, sample_weight=w), rtol=1e-12)
    static = tf.confusion_matrix([0, 2, 1], [0, 1, 1])  # constants: num_classes from the data
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(static), [[1, 0, 0], [0, 1, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="num_classes"):
        tf.confusion_matrix(lab, lab)


def test_mean_iou_against_numpy() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 40)
    p = np.where(rng.uniform(size=40) < 0.6, y, rng.integers(0, 3, 40))
    miou, up = tf.metrics.mean_iou(tf.constant(y), tf.constant(p), num_classes=4)  # class 3 never occurs
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        got = sess.run(up)
    cm = skm.confusion_matrix(y, p)
    iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
    assert got == pytest.approx(iou.mean(), rel=1e-5)
    assert got == pytest.approx(skm.jaccard_score(y, p, average="macro"), rel=1e-5)
