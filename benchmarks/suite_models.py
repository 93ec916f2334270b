"""The benchmark suite's models, each written once per framework from the same initial
values, so every implementation of a case computes the same numbers.

- TF1-style graph builders take the ``tf`` module as an argument: the same code builds
  the graph for graphc (``import graphc as tf``) and for TensorFlow
  (``tensorflow.compat.v1``, graph mode).
- Hand-written NumPy: forward, backward and Adam by hand (the documented formulas below).
- JAX: ``jax.jit`` of ``value_and_grad`` plus the same Adam update by hand.
- PyTorch: ``torch.nn.functional`` and ``torch.optim.Adam``.

Adam is TF1's ``AdamOptimizer`` (lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8):
``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``, ``m = beta1 m + (1 - beta1) g``,
``v = beta2 v + (1 - beta2) g^2``, ``w -= lr_t m / (sqrt(v) + epsilon)``.
The loss is the mean sparse softmax cross entropy ``mean(logsumexp(z) - z[label])``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
MLP_SIZES = (784, 256, 256, 10)
# The elementwise chain's scalars: Python floats, so every framework folds them into
# its code as constants (x is the only array).
EW_A, EW_B = 0.7, -0.3

Params = list[tuple[np.ndarray, np.ndarray]]


# -- initial values and data ------------------------------------------------------------


def mlp_params(seed: int = 0) -> Params:
    """He-initialised weights and small positive biases of the 784-256-256-10 MLP."""
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.standard_normal((n, m)) * np.sqrt(2.0 / n)).astype(np.float32),
            np.full(m, 0.01, np.float32),
        )
        for n, m in zip(MLP_SIZES[:-1], MLP_SIZES[1:])
    ]


def cnn_params(seed: int = 0) -> Params:
    """The small CNN's kernels (HWIO) and dense weights, He-initialised."""
    rng = np.random.default_rng(seed)
    shapes = [(5, 5, 1, 32), (5, 5, 32, 64), (7 * 7 * 64, 1024), (1024, 10)]
    out = []
    for shape in shapes:
        fan_in = int(np.prod(shape[:-1]))
        w = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        out.append((w, np.full(shape[-1], 0.01, np.float32)))
    return out


def classification_batch(shape: tuple[int, ...], seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs uniform in [0, 1) of ``shape`` and int32 labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, shape[0]).astype(np.int32)


# -- TF1-style graphs (graphc and TensorFlow) ---------------------------------------------


def tf1_mlp(tf: Any, params: Params, train: bool) -> dict[str, Any]:
    """The MLP in TF1's API: ReLU hidden layers, sparse softmax cross entropy, Adam."""
    x = tf.placeholder(tf.float32, [None, MLP_SIZES[0]], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    h = x
    for i, (w, b) in enumerate(params):
        h = tf.matmul(h, tf.Variable(w, name=f"w{i}")) + tf.Variable(b, name=f"b{i}")
        if i < len(params) - 1:
            h = tf.nn.relu(h)
    out: dict[str, Any] = {"x": x, "y": y, "logits": h}
    if train:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
        out["loss"] = loss
        out["train"] = tf.train.AdamOptimizer(LR, BETA1, BETA2, EPS).minimize(loss)
    out["init"] = tf.global_variables_initializer()
    return out


def tf1_cnn(tf: Any, params: Params) -> dict[str, Any]:
    """The small CNN (NHWC): two 5x5 SAME convolutions with ReLU and 2x2 max pooling, a
    1024-wide ReLU dense layer and a 10-way output; sparse softmax cross entropy, Adam."""
    x = tf.placeholder(tf.float32, [None, 28, 28, 1], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    (k1, c1), (k2, c2), (w3, b3), (w4, b4) = params
    h = x
    for i, (k, c) in enumerate(((k1, c1), (k2, c2))):
        h = tf.nn.conv2d(h, tf.Variable(k, name=f"k{i}"), [1, 1, 1, 1], "SAME") + tf.Variable(c, name=f"c{i}")
        h = tf.nn.max_pool(tf.nn.relu(h), [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    h = tf.reshape(h, [-1, 7 * 7 * 64])
    h = tf.nn.relu(tf.matmul(h, tf.Variable(w3, name="w3")) + tf.Variable(b3, name="b3"))
    logits = tf.matmul(h, tf.Variable(w4, name="w4")) + tf.Variable(b4, name="b4")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = tf.train.AdamOptimizer(LR, BETA1, BETA2, EPS).minimize(loss)
    return {"x": x, "y": y, "loss": loss, "train": train, "init": tf.global_variables_initializer()}


def tf1_elementwise(tf: Any) -> dict[str, Any]:
    x = tf.placeholder(tf.float32, [None], name="x")
    return {"x": x, "out": tf.tanh(x * EW_A + EW_B) * tf.sigmoid(x) + 0.5 * x * x}


def tf1_softmax_ce(tf: Any) -> dict[str, Any]:
    """softmax_cross_entropy_with_logits_v2 per row and its gradient w.r.t. the logits
    (tf.gradients of a vector differentiates its sum)."""
    logits = tf.placeholder(tf.float32, [None, None], name="logits")
    labels = tf.placeholder(tf.float32, [None, None], name="labels")
    ce = tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    (grad,) = tf.gradients(ce, [logits])
    return {"logits": logits, "labels": labels, "ce": ce, "grad": grad}


def tf1_scalar(tf: Any) -> dict[str, Any]:
    x = tf.placeholder(tf.float32, [], name="x")
    return {"x": x, "out": x + 1.0}


def tf1_runner(
    sess: Any, fetches: Any, feeds: list[Any], values: list[Any], callable_: bool
) -> tuple[Callable[[], Any], str]:
    """A zero-argument call running ``fetches``: through ``sess.make_callable`` (TF1's
    semantics: the callable takes the feed values positionally) when asked and the
    session has it, else ``sess.run`` with a feed dict. Returns the call and which one."""
    if callable_ and hasattr(sess, "make_callable"):
        fn = sess.make_callable(fetches, feeds)
        return (lambda: fn(*values)), "make_callable"
    feed_dict = dict(zip(feeds, values))
    return (lambda: sess.run(fetches, feed_dict)), "run"


# -- hand-written NumPy -------------------------------------------------------------------


class NumpyAdam:
    """TF1's Adam on a list of float32 arrays, updated in place."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays
        self.m = [np.zeros_like(a) for a in arrays]
        self.v = [np.zeros_like(a) for a in arrays]
        self.t = 0

    def update(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        lr_t = np.float32(LR * np.sqrt(1 - BETA2**self.t) / (1 - BETA1**self.t))
        for a, m, v, g in zip(self.arrays, self.m, self.v, grads):
            m *= np.float32(BETA1)
            m += np.float32(1 - BETA1) * g
            v *= np.float32(BETA2)
            v += np.float32(1 - BETA2) * (g * g)
            denom = np.sqrt(v)
            denom += np.float32(EPS)
            a -= lr_t * m / denom


def _ce_and_dlogits(logits: np.ndarray, y: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Mean sparse softmax cross entropy and its gradient ``(softmax - onehot) / batch``."""
    n = logits.shape[0]
    mx = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - mx)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(s[:, 0]) + mx[:, 0] - logits[rows, y])
    d = e / s
    d[rows, y] -= 1.0
    d /= np.float32(n)
    return loss, d


class NumpyMLP:
    """The MLP step by hand: 3 forward GEMMs, 5 backward GEMMs (3 weight gradients, 2
    input gradients; the input's own gradient is not needed), then Adam."""

    def __init__(self, params: Params) -> None:
        self.params = [(w.copy(), b.copy()) for w, b in params]
        self.adam = NumpyAdam([a for pair in self.params for a in pair])

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        acts = [x]
        for i, (w, b) in enumerate(self.params):
            z = acts[-1] @ w
            z += b
            if i < len(self.params) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        return acts

    def step(self, x: np.ndarray, y: np.ndarray) -> np.floating:
        acts = self.forward(x)
        loss, d = _ce_and_dlogits(acts[-1], y)
        grads: list[np.ndarray] = []
        for i in reversed(range(len(self.params))):
            w = self.params[i][0]
            grads[:0] = [acts[i].T @ d, d.sum(axis=0)]
            if i > 0:
                d = d @ w.T
                d *= acts[i] > 0  # ReLU's gradient: 1 where the activation is positive
        self.adam.update(grads)
        return loss


def _patches(x: np.ndarray, k: int) -> np.ndarray:
    """im2col for a stride-1 SAME ``k``x``k`` window: (B*H*W, k*k*C) in HWC order."""
    b, h, w, c = x.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # B,H,W,C,k,k
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(b * h * w, k * k * c)


def conv_same(x: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TF's conv2d, stride 1, SAME, NHWC/HWIO, as im2col and one GEMM; also returns the
    patches for the filter gradient."""
    kh, _, _, o = kernel.shape
    cols = _patches(x, kh)
    return (cols @ kernel.reshape(-1, o)).reshape(*x.shape[:3], o), cols


def conv_same_input_grad(dout: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The input gradient of a stride-1 SAME convolution with an odd kernel: the SAME
    convolution of the output gradient with the kernel flipped in space, in/out swapped."""
    flipped = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
    return conv_same(dout, flipped)[0]


def maxpool2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 stride-2 max pooling of even-sized NHWC input, and the window-max mask used to
    route its gradient (ties only happen at ReLU's zeros, whose gradient is zero)."""
    b, h, w, c = x.shape
    xr = x.reshape(b, h // 2, 2, w // 2, 2, c)
    m = xr.max(axis=(2, 4))
    return m, xr == m[:, :, None, :, None, :]


def maxpool2_grad(dm: np.ndarray, mask: np.ndarray) -> np.ndarray:
    b, h2, _, w2, _, c = mask.shape
    return (mask * dm[:, :, None, :, None, :]).reshape(b, 2 * h2, 2 * w2, c)


class NumpyCNN:
    """The CNN step by hand (im2col convolutions, mask-routed pooling gradient, Adam)."""

    def __init__(self, params: Params) -> None:
        self.params = [(w.copy(), b.copy()) for w, b in params]
        self.adam = NumpyAdam([a for pair in self.params for a in pair])

    def step(self, x: np.ndarray, y: np.ndarray) -> np.floating:
        (k1, c1), (k2, c2), (w3, b3), (w4, b4) = self.params
        z1, cols1 = conv_same(x, k1)
        z1 += c1
        a1 = np.maximum(z1, 0)
        p1, mask1 = maxpool2(a1)
        z2, cols2 = conv_same(p1, k2)
        z2 += c2
        a2 = np.maximum(z2, 0)
        p2, mask2 = maxpool2(a2)
        flat = p2.reshape(p2.shape[0], -1)
        z3 = flat @ w3
        z3 += b3
        a3 = np.maximum(z3, 0)
        logits = a3 @ w4 + b4
        loss, d4 = _ce_and_dlogits(logits, y)
        gw4, gb4 = a3.T @ d4, d4.sum(axis=0)
        d3 = (d4 @ w4.T) * (z3 > 0)
        gw3, gb3 = flat.T @ d3, d3.sum(axis=0)
        dp2 = (d3 @ w3.T).reshape(p2.shape)
        dz2 = maxpool2_grad(dp2, mask2) * (z2 > 0)
        gk2 = (cols2.T @ dz2.reshape(-1, dz2.shape[-1])).reshape(k2.shape)
        gc2 = dz2.sum(axis=(0, 1, 2))
        dp1 = conv_same_input_grad(dz2, k2)
        dz1 = maxpool2_grad(dp1, mask1) * (z1 > 0)
        gk1 = (cols1.T @ dz1.reshape(-1, dz1.shape[-1])).reshape(k1.shape)
        gc1 = dz1.sum(axis=(0, 1, 2))
        self.adam.update([gk1, gc1, gk2, gc2, gw3, gb3, gw4, gb4])
        return loss


def numpy_elementwise(x: np.ndarray) -> np.ndarray:
    """The chain as one writes it in NumPy (a temporary per operation)."""
    return np.tanh(x * np.float32(EW_A) + np.float32(EW_B)) * (1 / (1 + np.exp(-x))) + np.float32(0.5) * x * x


def numpy_softmax_ce(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``sum(labels * (logsumexp(z) - z))`` and its gradient w.r.t. the logits for
    the sum over rows: ``softmax(z) * sum(labels) - labels``."""
    mx = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - mx)
    s = e.sum(axis=1, keepdims=True)
    lse = np.log(s) + mx
    ce = np.sum(labels * (lse - logits), axis=1)
    grad = e / s * labels.sum(axis=1, keepdims=True) - labels
    return ce, grad


def matmul_plan(sgemm: Any, batch: int) -> Callable[[], None]:
    """The MLP step's 8 GEMMs at their shapes through ``sgemm`` (a ``suite_timing.Sgemm``):
    forward x@W1, h1@W2, h2@W3; backward h2^T d3, d3 W3^T, h1^T d2, d2 W2^T, x^T d1."""
    rng = np.random.default_rng(2)
    n0, n1, n2, n3 = MLP_SIZES

    def arr(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32)

    x, w1, w2, w3 = arr(batch, n0), arr(n0, n1), arr(n1, n2), arr(n2, n3)
    h1, h2, z3 = arr(batch, n1), arr(batch, n2), arr(batch, n3)
    d3, d2, d1 = arr(batch, n3), arr(batch, n2), arr(batch, n1)
    gw1, gw2, gw3 = arr(n0, n1), arr(n1, n2), arr(n2, n3)
    calls = [
        sgemm.bind(x, w1, h1, False, False),
        sgemm.bind(h1, w2, h2, False, False),
        sgemm.bind(h2, w3, z3, False, False),
        sgemm.bind(h2, d3, gw3, True, False),
        sgemm.bind(d3, w3, d2, False, True),
        sgemm.bind(h1, d2, gw2, True, False),
        sgemm.bind(d2, w2, d1, False, True),
        sgemm.bind(x, d1, gw1, True, False),
    ]

    def run() -> None:
        for c in calls:
            c()

    run.keep = (x, w1, w2, w3, h1, h2, z3, d3, d2, d1, gw1, gw2, gw3)  # type: ignore[attr-defined]
    return run


# -- JAX ------------------------------------------------------------------------------


def _jax_adam_step(loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """A jitted ``(params, m, v, t, *batch) -> (loss, params, m, v, t)`` with TF1's Adam;
    the state buffers are donated, as an in-place update would be."""
    import jax
    import jax.numpy as jnp

    def step(p: Any, m: Any, v: Any, t: Any, *batch: Any) -> Any:
        loss, g = jax.value_and_grad(loss_fn)(p, *batch)
        t = t + 1
        lr_t = LR * jnp.sqrt(1 - BETA2**t) / (1 - BETA1**t)
        m = jax.tree_util.tree_map(lambda m_, g_: BETA1 * m_ + (1 - BETA1) * g_, m, g)
        v = jax.tree_util.tree_map(lambda v_, g_: BETA2 * v_ + (1 - BETA2) * g_ * g_, v, g)
        p = jax.tree_util.tree_map(lambda p_, m_, v_: p_ - lr_t * m_ / (jnp.sqrt(v_) + EPS), p, m, v)
        return loss, p, m, v, t

    return jax.jit(step, donate_argnums=(0, 1, 2))


def _jax_trainer(
    loss_fn: Callable[..., Any], params: Params, batch: tuple[np.ndarray, ...]
) -> Callable[[], Any]:
    import jax.numpy as jnp

    step = _jax_adam_step(loss_fn)
    p = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    state = [p, [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in p]]
    state.append([(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in p])
    state.append(jnp.float32(0))

    def call() -> Any:
        # The batch is a host array each step, as it is fed to a Session.
        loss, *new = step(*state, *batch)
        state[:] = new
        return loss.block_until_ready()

    return call


def _jax_sparse_ce(logits: Any, y: Any) -> Any:
    import jax
    import jax.numpy as jnp

    picked = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def _jax_mlp_logits(p: Any, x: Any) -> Any:
    import jax

    h = x
    for i, (w, b) in enumerate(p):
        h = h @ w + b
        if i < len(p) - 1:
            h = jax.nn.relu(h)
    return h


def jax_mlp_step(params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    return _jax_trainer(lambda p, x_, y_: _jax_sparse_ce(_jax_mlp_logits(p, x_), y_), params, (x, y))


def jax_mlp_forward(params: Params, x: np.ndarray) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    p = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    fwd = jax.jit(_jax_mlp_logits)
    return lambda: fwd(p, x).block_until_ready()


def jax_cnn_step(params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    import jax
    from jax import lax

    def loss_fn(p: Any, x_: Any, y_: Any) -> Any:
        (k1, c1), (k2, c2), (w3, b3), (w4, b4) = p
        h = x_
        for k, c in ((k1, c1), (k2, c2)):
            h = lax.conv_general_dilated(h, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + c
            h = lax.reduce_window(jax.nn.relu(h), -float("inf"), lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = jax.nn.relu(h.reshape(h.shape[0], -1) @ w3 + b3)
        return _jax_sparse_ce(h @ w4 + b4, y_)

    return _jax_trainer(loss_fn, params, (x, y))


def jax_elementwise(x: np.ndarray) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda v: jnp.tanh(v * EW_A + EW_B) * jax.nn.sigmoid(v) + 0.5 * v * v)
    return lambda: f(x).block_until_ready()


def jax_softmax_ce(logits: np.ndarray, labels: np.ndarray) -> Callable[[], Any]:
    import jax

    def ce(z: Any, lab: Any) -> Any:
        return (lab * (jax.nn.logsumexp(z, axis=1, keepdims=True) - z)).sum(axis=1)

    def f(z: Any, lab: Any) -> Any:
        rows, vjp = jax.vjp(lambda z_: ce(z_, lab), z)
        return rows, vjp(jax.numpy.ones_like(rows))[0]

    jf = jax.jit(f)

    def call() -> Any:
        out = jf(logits, labels)
        jax.block_until_ready(out)
        return out

    return call


def jax_scalar() -> Callable[[], Any]:
    import jax

    f = jax.jit(lambda v: v + 1.0)
    one = np.float32(1.0)
    return lambda: f(one).block_until_ready()


# -- PyTorch --------------------------------------------------------------------------


def _torch_params(params: Params, conv: int = 0) -> list[Any]:
    """Leaf tensors from the NumPy values; the first ``conv`` kernels go HWIO -> OIHW."""
    import torch

    out = []
    for i, (w, b) in enumerate(params):
        wt = torch.from_numpy(w.transpose(3, 2, 0, 1).copy() if i < conv else w.copy())
        out += [wt.requires_grad_(), torch.from_numpy(b.copy()).requires_grad_()]
    return out


def _torch_trainer(
    forward: Callable[[Any], Any], tensors: list[Any], x: np.ndarray, y: np.ndarray
) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(tensors, lr=LR, betas=(BETA1, BETA2), eps=EPS)
    yt = torch.from_numpy(y.astype(np.int64))

    def call() -> Any:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(torch.from_numpy(x)), yt)
        loss.backward()
        opt.step()
        return loss.detach().numpy()

    return call


def _torch_mlp(t: list[Any], x: Any) -> Any:
    import torch.nn.functional as F

    h = x
    for i in range(0, len(t), 2):
        h = h @ t[i] + t[i + 1]
        if i < len(t) - 2:
            h = F.relu(h)
    return h


def torch_mlp_step(params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    t = _torch_params(params)
    return _torch_trainer(lambda v: _torch_mlp(t, v), t, x, y)


def torch_mlp_forward(params: Params, x: np.ndarray) -> Callable[[], Any]:
    import torch

    t = [v.detach() for v in _torch_params(params)]

    def call() -> Any:
        with torch.no_grad():
            return _torch_mlp(t, torch.from_numpy(x)).numpy()

    return call


def torch_cnn_step(params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    import torch.nn.functional as F

    t = _torch_params(params, conv=2)

    def forward(v: Any) -> Any:
        h = v.permute(0, 3, 1, 2)
        for i in (0, 2):
            h = F.max_pool2d(F.relu(F.conv2d(h, t[i], t[i + 1], padding=2)), 2)
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # NHWC order, as the dense weights
        return F.relu(h @ t[4] + t[5]) @ t[6] + t[7]

    return _torch_trainer(forward, t, x, y)


def torch_elementwise(x: np.ndarray) -> Callable[[], Any]:
    import torch

    xt = torch.from_numpy(x)
    return lambda: (torch.tanh(xt * EW_A + EW_B) * torch.sigmoid(xt) + 0.5 * xt * xt).numpy()


def torch_softmax_ce(logits: np.ndarray, labels: np.ndarray) -> Callable[[], Any]:
    import torch

    lab = torch.from_numpy(labels)

    def call() -> Any:
        z = torch.from_numpy(logits).requires_grad_()
        rows = (lab * (torch.logsumexp(z, dim=1, keepdim=True) - z)).sum(dim=1)
        (grad,) = torch.autograd.grad(rows.sum(), z)
        return rows.detach().numpy(), grad.numpy()

    return call


def torch_scalar() -> Callable[[], Any]:
    import torch

    one = torch.tensor(1.0)
    return lambda: one + 1.0
