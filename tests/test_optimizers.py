"""TF1 optimizers against a NumPy re-implementation of TF1's update formulas.

The problem is least squares ``mean((X w + b - y)^2)`` with placeholders; the
reference computes its gradient by hand in float64 and applies the documented
update rules of tf.compat.v1.train.*Optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as tf

RNG = np.random.default_rng(0)
X_DATA = RNG.normal(size=(6, 3)).astype(np.float32)
Y_DATA = RNG.normal(size=(6,)).astype(np.float32)
W0 = np.array([0.5, -0.25, 1.0], np.float32)
B0 = np.float32(0.2)


def _loss_and_grads(w: np.ndarray, b: float) -> tuple[float, np.ndarray, float]:
    x = X_DATA.astype(np.float64)
    r = x @ w + b - Y_DATA.astype(np.float64)
    n = len(r)
    return float(np.mean(r * r)), 2.0 / n * x.T @ r, 2.0 / n * float(np.sum(r))


def _build() -> tuple[Any, Any, Any, Any, Any]:
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.placeholder(tf.float32, [None], name="y")
    w = tf.Variable(W0, name="w")
    b = tf.Variable(B0, name="b")
    pred = tf.reduce_sum(x * w, axis=1) + b
    loss = tf.reduce_mean(tf.square(pred - y))
    return x, y, w, b, loss


# -- NumPy references: state is a dict of float64 arrays per parameter ------------------
class RefGD:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def init(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def step(self, p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        return p - self.lr * g


class RefMomentum:
    def __init__(self, lr: float, momentum: float, nesterov: bool = False) -> None:
        self.lr, self.mu, self.nesterov = lr, momentum, nesterov

    def init(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {"momentum": np.zeros_like(p)}

    def step(self, p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        s["momentum"] = self.mu * s["momentum"] + g
        if self.nesterov:
            return p - (self.lr * g + self.lr * self.mu * s["momentum"])
        return p - self.lr * s["momentum"]


class RefAdam:
    def __init__(self, lr: float = 0.001, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps

    def init(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def step(self, p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        lr_t = self.lr * np.sqrt(1 - self.b2**t) / (1 - self.b1**t)
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g
        s["v"] = self.b2 * s["v"] + (1 - self.b2) * g * g
        return p - lr_t * s["m"] / (np.sqrt(s["v"]) + self.eps)


class RefRMSProp:
    def __init__(
        self, lr: float, decay: float = 0.9, momentum: float = 0.0, eps: float = 1e-10, centered: bool = False
    ):
        self.lr, self.decay, self.mu, self.eps, self.centered = lr, decay, momentum, eps, centered

    def init(self, p: np.ndarray) -> dict[str, np.ndarray]:
        s = {"rms": np.ones_like(p), "momentum": np.zeros_like(p)}
        if self.centered:
            s["mg"] = np.zeros_like(p)
        return s

    def step(self, p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        s["rms"] = self.decay * s["rms"] + (1 - self.decay) * g * g
        denom = s["rms"] + self.eps
        if self.centered:
            s["mg"] = self.decay * s["mg"] + (1 - self.decay) * g
            denom = s["rms"] - s["mg"] ** 2 + self.eps
        s["momentum"] = self.mu * s["momentum"] + self.lr * g / np.sqrt(denom)
        return p - s["momentum"]


class RefAdagrad:
    def __init__(self, lr: float, init: float = 0.1) -> None:
        self.lr, self.init_value = lr, init

    def init(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {"accumulator": np.full_like(p, self.init_value)}

    def step(self, p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        s["accumulator"] = s["accumulator"] + g * g
        return p - self.lr * g / np.sqrt(s["accumulator"])


CASES: list[tuple[str, Callable[[], Any], Any]] = [
    ("gd", lambda: tf.train.GradientDescentOptimizer(0.1), RefGD(0.1)),
    ("momentum", lambda: tf.train.MomentumOptimizer(0.05, 0.9), RefMomentum(0.05, 0.9)),
    (
        "nesterov",
        lambda: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
        RefMomentum(0.05, 0.9, True),
    ),
    ("adam", lambda: tf.train.AdamOptimizer(0.1), RefAdam(0.1)),
    ("adam_custom", lambda: tf.train.AdamOptimizer(0.05, 0.8, 0.99, 1e-3), RefAdam(0.05, 0.8, 0.99, 1e-3)),
    ("rmsprop", lambda: tf.train.RMSPropOptimizer(0.01), RefRMSProp(0.01)),
    (
        "rmsprop_momentum",
        lambda: tf.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5, epsilon=1e-6),
        RefRMSProp(0.01, 0.8, 0.5, 1e-6),
    ),
    (
        "rmsprop_centered",
        lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.3, centered=True),
        RefRMSProp(0.01, 0.9, 0.3, 1e-10, centered=True),
    ),
    ("adagrad", lambda: tf.train.AdagradOptimizer(0.3), RefAdagrad(0.3)),
    (
        "adagrad_init",
        lambda: tf.train.AdagradOptimizer(0.3, initial_accumulator_value=0.5),
        RefAdagrad(0.3, 0.5),
    ),
]


@pytest.mark.parametrize("make_opt,ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_three_steps_match_tf1_formulas(make_opt: Callable[[], Any], ref: Any) -> None:
    x, y, w, b, loss = _build()
    opt = make_opt()
    train = opt.minimize(loss)
    pw, pb = W0.astype(np.float64), np.float64(B0)
    sw, sb = ref.init(pw), ref.init(np.asarray(pb))
    feed = {x: X_DATA, y: Y_DATA}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for slot_name, value in sw.items():
            np.testing.assert_allclose(sess.run(opt.get_slot(w, slot_name)), value, rtol=1e-6)
        for t in range(1, 4):
            loss_before, gw, gb = _loss_and_grads(pw, float(pb))
            # Fetching the loss with the train op gives the loss before this step's update.
            _, got_loss = sess.run([train, loss], feed)
            np.testing.assert_allclose(got_loss, loss_before, rtol=1e-5)
            pw = ref.step(pw, gw, sw, t)
            pb = ref.step(np.asarray(pb), np.asarray(gb), sb, t)
            np.testing.assert_allclose(sess.run(w), pw, rtol=2e-5, atol=1e-6)
            np.testing.assert_allclose(sess.run(b), pb, rtol=2e-5, atol=1e-6)
            for slot_name, value in sw.items():
                np.testing.assert_allclose(sess.run(opt.get_slot(w, slot_name)), value, rtol=2e-5, atol=1e-7)


def test_adam_beta_powers_advance_after_updates() -> None:
    x, y, w, b, loss = _build()
    opt = tf.train.AdamOptimizer(0.1, beta1=0.8, beta2=0.95)
    train = opt.minimize(loss)
    b1, b2 = opt._get_beta_accumulators()
    assert (b1.op.name, b2.op.name) == ("beta1_power", "beta2_power")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run([b1, b2]), [0.8, 0.95], rtol=1e-6)
        for _ in range(3):
            sess.run(train, {x: X_DATA, y: Y_DATA})
        np.testing.assert_allclose(sess.run([b1, b2]), [0.8**4, 0.95**4], rtol=1e-6)


def test_slot_names_and_collections() -> None:
    x, y, w, b, loss = _build()
    expected = {
        tf.train.AdamOptimizer(0.1): {"m": "w/Adam", "v": "w/Adam_1"},
        tf.train.MomentumOptimizer(0.1, 0.9): {"momentum": "w/Momentum"},
        tf.train.RMSPropOptimizer(0.1): {"rms": "w/RMSProp", "momentum": "w/RMSProp_1"},
        tf.train.AdagradOptimizer(0.1): {"accumulator": "w/Adagrad"},
    }
    for opt, slots in expected.items():
        opt.minimize(loss)
        assert opt.get_slot_names() == sorted(slots)
        for slot_name, var_name in slots.items():
            slot = opt.get_slot(w, slot_name)
            assert slot.op.name == var_name
            assert not slot.trainable
            assert slot in tf.global_variables()
            assert slot not in tf.trainable_variables()
            assert slot.shape.as_list() == [3]
        assert opt.get_slot(w, "nonexistent") is None
    assert set(tf.trainable_variables()) == {w, b}


def test_optimizer_variables_sorted_by_name() -> None:
    x, y, w, b, loss = _build()
    opt = tf.train.AdamOptimizer()
    opt.minimize(loss)
    names = [v.op.name for v in opt.variables()]
    assert names == sorted(["b/Adam", "b/Adam_1", "beta1_power", "beta2_power", "w/Adam", "w/Adam_1"])


def test_minimize_increments_global_step() -> None:
    x, y, w, b, loss = _build()
    assert tf.train.get_global_step() is None
    gs = tf.train.get_or_create_global_step()
    assert gs.dtype == tf.int64 and gs.op.name == "global_step"
    assert tf.train.get_global_step() is gs
    assert gs in tf.global_variables() and gs not in tf.trainable_variables()
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
    assert train in tf.get_collection(tf.GraphKeys.TRAIN_OP)
    pw = W0.astype(np.float64)
    pb = float(B0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert tf.train.global_step(sess, gs) == 0
        for step in range(1, 4):
            _, gw, gb = _loss_and_grads(pw, pb)
            pw, pb = pw - 0.1 * gw, pb - 0.1 * gb
            sess.run(train, {x: X_DATA, y: Y_DATA})
            assert tf.train.global_step(sess, gs) == step
            np.testing.assert_allclose(sess.run(w), pw, rtol=1e-5)


def test_global_step_helpers_errors() -> None:
    tf.train.create_global_step()
    with pytest.raises(ValueError, match="already exists"):
        tf.train.create_global_step()
    g = tf.Graph()
    assert tf.train.get_global_step(g) is None
    gs = tf.train.get_or_create_global_step(g)
    assert gs.graph is g and tf.train.get_or_create_global_step(g) is gs


def test_var_list_restricts_updates() -> None:
    x, y, w, b, loss = _build()
    opt = tf.train.MomentumOptimizer(0.1, 0.9)
    train = opt.minimize(loss, var_list=[w])
    assert opt.get_slot(b, "momentum") is None
    _, gw, _ = _loss_and_grads(W0.astype(np.float64), float(B0))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {x: X_DATA, y: Y_DATA})
        np.testing.assert_allclose(sess.run(w), W0 - 0.1 * gw, rtol=1e-5)
        assert sess.run(b) == B0


def test_variable_without_gradient_is_skipped() -> None:
    x, y, w, b, loss = _build()
    unused = tf.Variable(np.ones(2, np.float32), name="unused")
    opt = tf.train.AdamOptimizer(0.1)
    grads_and_vars = opt.compute_gradients(loss)
    assert [v for _, v in grads_and_vars] == [w, b, unused]
    assert grads_and_vars[2][0] is None
    train = opt.apply_gradients(grads_and_vars)
    assert opt.get_slot(unused, "m") is None
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {x: X_DATA, y: Y_DATA})
        np.testing.assert_array_equal(sess.run(unused), np.ones(2, np.float32))
        assert not np.allclose(sess.run(w), W0)


def test_learning_rate_placeholder_and_callable() -> None:
    x, y, w, b, loss = _build()
    lr = tf.placeholder(tf.float32, [], name="lr")
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss, var_list=[w])
    train2 = tf.train.GradientDescentOptimizer(lambda: tf.constant(0.05)).minimize(loss, var_list=[b])
    pw = W0.astype(np.float64)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for rate in (0.1, 0.01, 0.3):
            _, gw, _ = _loss_and_grads(pw, float(B0))
            pw = pw - rate * gw
            sess.run(train, {x: X_DATA, y: Y_DATA, lr: rate})
            np.testing.assert_allclose(sess.run(w), pw, rtol=1e-5)
        _, _, gb = _loss_and_grads(pw, float(B0))
        sess.run(train2, {x: X_DATA, y: Y_DATA})
        np.testing.assert_allclose(sess.run(b), B0 - 0.05 * gb, rtol=1e-5)


def test_float64_variables() -> None:
    x = tf.placeholder(tf.float64, [None, 3])
    y = tf.placeholder(tf.float64, [None])
    w = tf.Variable(W0.astype(np.float64), name="w")
    loss = tf.reduce_mean(tf.square(tf.reduce_sum(x * w, axis=1) + float(B0) - y))
    train = tf.train.AdamOptimizer(0.1).minimize(loss)
    ref = RefAdam(0.1)
    pw = W0.astype(np.float64)
    s = ref.init(pw)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for t in range(1, 4):
            _, gw, _ = _loss_and_grads(pw, float(np.float32(B0)))
            pw = ref.step(pw, gw, s, t)
            sess.run(train, {x: X_DATA.astype(np.float64), y: Y_DATA.astype(np.float64)})
            # The hyperparameters and beta powers are float32 in TF1 too, hence the tolerance.
            np.testing.assert_allclose(sess.run(w), pw, rtol=1e-5)
        assert sess.run(w).dtype == np.float64


def test_apply_gradients_with_explicit_gradients() -> None:
    w = tf.Variable(np.array([1.0, 2.0], np.float32), name="w")
    g = tf.constant(np.array([0.5, -1.0], np.float32))
    train = tf.train.MomentumOptimizer(0.1, 0.5).apply_gradients([(g, w)])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        sess.run(train)
        # accum: g, then 0.5 g + g = 1.5 g; var -= 0.1 * (g + 1.5 g)
        np.testing.assert_allclose(sess.run(w), [1.0 - 0.25 * 0.5, 2.0 + 0.25], rtol=1e-6)


def test_no_gradients_errors() -> None:
    x = tf.placeholder(tf.float32, [3])
    w = tf.Variable(np.ones(3, np.float32), name="w")
    loss = tf.reduce_sum(x * x)
    opt = tf.train.GradientDescentOptimizer(0.1)
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.minimize(loss)
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply_gradients([(None, w)])
    with pytest.raises(ValueError, match="No variables provided"):
        opt.apply_gradients([])
    with pytest.raises(ValueError, match="No variables to optimize"):
        opt.compute_gradients(loss, var_list=[])
    with pytest.raises(ValueError, match="Invalid type"):
        opt.compute_gradients(tf.constant(1, tf.int32), var_list=[w])
    with pytest.raises(ValueError, match="gate_gradients"):
        opt.compute_gradients(loss, gate_gradients=7)


def test_no_trainable_variables() -> None:
    x = tf.placeholder(tf.float32, [3])
    tf.Variable(np.ones(3, np.float32), name="frozen", trainable=False)
    with pytest.raises(ValueError, match="No variables to optimize"):
        tf.train.AdamOptimizer().minimize(tf.reduce_sum(x))


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError, match="optimizer name"):
        tf.train.GradientDescentOptimizer(0.1, name="")


def test_initializer_does_not_run_training_ops() -> None:
    # Slots are created outside the caller's control-dependency scope: running the
    # initializer must not need the training feeds.
    x, y, w, b, loss = _build()
    with tf.control_dependencies([loss]):
        train = tf.train.AdamOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {x: X_DATA, y: Y_DATA})


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase: bool) -> None:
    step = tf.placeholder(tf.int64, [])
    lr = tf.train.exponential_decay(0.5, step, decay_steps=4, decay_rate=0.7, staircase=staircase)
    assert lr.dtype == tf.float32
    with tf.Session() as sess:
        for s in (0, 1, 3, 4, 9):
            p = s // 4 if staircase else s / 4
            np.testing.assert_allclose(sess.run(lr, {step: s}), 0.5 * 0.7**p, rtol=1e-6)
    with pytest.raises(ValueError, match="global_step is required"):
        tf.train.exponential_decay(0.1, None, 10, 0.9)


def test_exponential_decay_drives_training() -> None:
    x, y, w, b, loss = _build()
    gs = tf.train.get_or_create_global_step()
    lr = tf.train.exponential_decay(0.1, gs, 1, 0.5)
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss, global_step=gs, var_list=[w])
    pw = W0.astype(np.float64)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(3):
            _, gw, _ = _loss_and_grads(pw, float(B0))
            # The rate uses the step before this run's increment.
            pw = pw - 0.1 * 0.5**step * gw
            sess.run(train, {x: X_DATA, y: Y_DATA})
            np.testing.assert_allclose(sess.run(w), pw, rtol=1e-5)
