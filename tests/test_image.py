"""tf.image ops against NumPy references; gradients by central differences in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as tf
from graphc import image as im


def run(fetches, feeds=None):  # type: ignore[no-untyped-def]
    with tf.Session() as sess:
        return sess.run(fetches, feeds)


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=shape)


def check_grad(fn, x0: np.ndarray, tol: float = 1e-6) -> None:  # type: ignore[no-untyped-def]
    """d sum(fn(x) * c) / dx from graphc against central differences, in float64."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, x0.shape)
        y = fn(x)
        c = np.random.default_rng(1).normal(size=y.shape.as_list())
        loss = tf.reduce_sum(y * c)
        (grad,) = tf.gradients(loss, [x])
        with tf.Session(graph=g) as sess:
            both = [loss, grad]  # one program for every run
            got = sess.run(both, {x: x0})[1]
            eps = 1e-6
            num = np.zeros_like(x0)
            for i in np.ndindex(x0.shape):
                hi, lo = x0.copy(), x0.copy()
                hi[i] += eps
                lo[i] -= eps
                num[i] = (sess.run(both, {x: hi})[0] - sess.run(both, {x: lo})[0]) / (2 * eps)
    np.testing.assert_allclose(got, num, atol=tol, rtol=1e-5)


# -- flips and rotations by quarter turns ---------------------------------------------------
def test_flips_transpose_and_rot90_match_numpy() -> None:
    x = _rand(2, 3, 4, 2)
    X = tf.constant(x)
    outs = run(
        {
            "lr": im.flip_left_right(X),
            "ud": im.flip_up_down(X[0]),
            "tr": im.transpose_image(X),
            **{f"r{k}": im.rot90(X, k) for k in range(-1, 5)},
            "r3d": im.rot90(X[1], 1),
        }
    )
    np.testing.assert_array_equal(outs["lr"], x[:, :, ::-1])
    np.testing.assert_array_equal(outs["ud"], x[0, ::-1])
    np.testing.assert_array_equal(outs["tr"], x.transpose(0, 2, 1, 3))
    for k in range(-1, 5):
        np.testing.assert_array_equal(outs[f"r{k}"], np.rot90(x, k, axes=(1, 2)))
    np.testing.assert_array_equal(outs["r3d"], np.rot90(x[1]))
    with pytest.raises(TypeError, match="Python int"):
        im.rot90(X, tf.constant(1))
    with pytest.raises(ValueError, match="3-D"):
        im.flip_left_right(tf.constant(np.zeros((2, 2))))
    check_grad(lambda t: im.rot90(t, 1), _rand(3, 2, 2))


def test_random_flips_choose_per_image_and_are_seeded() -> None:
    x = _rand(64, 2, 3, 1)
    flips = im.random_flip_left_right(tf.constant(x), seed=3)
    ud = im.random_flip_up_down(tf.constant(x[0]), seed=4)
    got = run(flips)
    is_flipped = [np.array_equal(g, xi[:, ::-1]) for g, xi in zip(got, x)]
    is_same = [np.array_equal(g, xi) for g, xi in zip(got, x)]
    assert all(a or b for a, b in zip(is_flipped, is_same))
    assert 10 < sum(is_flipped) < 54  # each image decided on its own
    one = run(ud)
    assert np.array_equal(one, x[0]) or np.array_equal(one, x[0, ::-1])

    def seeded() -> np.ndarray:
        with tf.Graph().as_default():
            tf.set_random_seed(11)
            return run(im.random_flip_left_right(tf.constant(x), seed=2))

    np.testing.assert_array_equal(seeded(), seeded())


def test_random_flip_gradient_follows_the_draw() -> None:
    x = tf.placeholder(tf.float64, [8, 2, 3, 1])
    y = im.random_flip_left_right(x, seed=1)
    c = np.random.default_rng(0).normal(size=(8, 2, 3, 1))
    (g,) = tf.gradients(tf.reduce_sum(y * c), [x])
    x0 = _rand(8, 2, 3, 1)
    got_y, got_g = run([y, g], {x: x0})  # one run: one draw for both
    for i in range(8):
        flipped = np.array_equal(got_y[i], x0[i, :, ::-1])
        np.testing.assert_allclose(got_g[i], c[i, :, ::-1] if flipped else c[i])


# -- crops and pads -------------------------------------------------------------------------
def test_random_crop_is_a_window_and_reaches_every_offset() -> None:
    x = np.arange(5 * 4 * 2, dtype=np.float32).reshape(5, 4, 2)
    crop = im.random_crop(tf.constant(x), [3, 3, 2], seed=5)
    assert crop.shape.as_list() == [3, 3, 2]
    seen = set()
    with tf.Session() as sess:
        for _ in range(60):
            c = sess.run(crop)
            oy, ox = np.argwhere(x[..., 0] == c[0, 0, 0])[0]
            np.testing.assert_array_equal(c, x[oy : oy + 3, ox : ox + 3])
            seen.add((int(oy), int(ox)))
    assert seen == {(a, b) for a in range(3) for b in range(2)}
    fed = tf.placeholder(tf.float32, [None, 4])
    dyn = im.random_crop(fed, [2, 4])
    got = run(dyn, {fed: x[..., 0]})
    assert any(np.array_equal(got, x[o : o + 2, :, 0]) for o in range(4))
    with pytest.raises(ValueError, match="size"):
        im.random_crop(tf.constant(x), [6, 3, 2])
    with tf.Graph().as_default():
        t = tf.placeholder(tf.float64, [4, 4])
        y = im.random_crop(t, [2, 2], seed=1)
        (g,) = tf.gradients(tf.reduce_sum(y * y), [t])
        x0 = _rand(4, 4)
        got_y, got_g = run([y, g], {t: x0})
        window = np.isin(x0, got_y)
        np.testing.assert_allclose(got_g, np.where(window, 2 * x0, 0.0))


def test_bounding_box_crop_pad_and_central_crop() -> None:
    x = _rand(2, 5, 6, 3)
    X = tf.constant(x)
    outs = run(
        {
            "crop": im.crop_to_bounding_box(X, 1, 2, 3, 4),
            "pad": im.pad_to_bounding_box(X[0], 1, 2, 8, 9),
            "grow": im.resize_image_with_crop_or_pad(X, 8, 3),
            "central": im.central_crop(X[0], 0.5),
        }
    )
    np.testing.assert_array_equal(outs["crop"], x[:, 1:4, 2:6])
    want_pad = np.zeros((8, 9, 3))
    want_pad[1:6, 2:8] = x[0]
    np.testing.assert_array_equal(outs["pad"], want_pad)
    # Height 5 -> 8 pads 1 above and 2 below; width 6 -> 3 crops from offset 1.
    want_grow = np.zeros((2, 8, 3, 3))
    want_grow[:, 1:6] = x[:, :, 1:4]
    np.testing.assert_array_equal(outs["grow"], want_grow)
    np.testing.assert_array_equal(outs["central"], x[0, 1:4, 1:5])
    with pytest.raises(ValueError, match="target"):
        im.crop_to_bounding_box(X, 3, 0, 3, 1)
    with pytest.raises(ValueError, match="central_fraction"):
        im.central_crop(X, 0.0)


# -- resizing -------------------------------------------------------------------------------
def _ref_bilinear(x: np.ndarray, nh: int, nw: int, align: bool, half: bool) -> np.ndarray:
    """TF1's ResizeBilinear, one output value at a time (x: [h, w])."""
    h, w = x.shape

    def src(i: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        scale = (n_in - 1) / (n_out - 1) if align and n_out > 1 else n_in / n_out
        s = (i + 0.5) * scale - 0.5 if half else i * scale
        lo = math.floor(s)
        return max(lo, 0), min(math.ceil(s), n_in - 1), s - lo

    out = np.zeros((nh, nw))
    for i in range(nh):
        y0, y1, fy = src(i, h, nh)
        for j in range(nw):
            x0, x1, fx = src(j, w, nw)
            top = x[y0, x0] + (x[y0, x1] - x[y0, x0]) * fx
            bottom = x[y1, x0] + (x[y1, x1] - x[y1, x0]) * fx
            out[i, j] = top + (bottom - top) * fy
    return out


def _ref_nearest(x: np.ndarray, nh: int, nw: int, align: bool, half: bool) -> np.ndarray:
    h, w = x.shape

    def src(i: int, n_in: int, n_out: int) -> int:
        scale = (n_in - 1) / (n_out - 1) if align and n_out > 1 else n_in / n_out
        s = (i + 0.5) * scale if half else i * scale
        k = math.floor(s + 0.5) if align else math.floor(s)
        return min(max(k, 0), n_in - 1)

    return np.array([[x[src(i, h, nh), src(j, w, nw)] for j in range(nw)] for i in range(nh)])


def test_resize_matches_tf1_known_outputs() -> None:
    x = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)[None, :, :, None]
    bil, near = run(
        [im.resize_images(x, [4, 4]), im.resize_images(x, [4, 4], method=im.ResizeMethod.NEAREST_NEIGHBOR)]
    )
    # TF1's resize_images (align_corners=False, no half-pixel centres) on this input.
    np.testing.assert_allclose(
        bil[0, :, :, 0], [[0, 0.5, 1, 1], [1, 1.5, 2, 2], [2, 2.5, 3, 3], [2, 2.5, 3, 3]]
    )
    np.testing.assert_array_equal(near[0, :, :, 0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    assert bil.dtype == np.float32 and near.dtype == np.float32


@pytest.mark.parametrize("align,half", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("size", [(7, 3), (2, 9), (1, 1)])
def test_resize_bilinear_and_nearest_against_reference(
    align: bool, half: bool, size: tuple[int, int]
) -> None:
    x = _rand(2, 5, 4, 2)
    X = tf.constant(x)
    bil, near = run(
        [
            im.resize_bilinear(X, size, align_corners=align, half_pixel_centers=half),
            im.resize_nearest_neighbor(X, size, align_corners=align, half_pixel_centers=half),
        ]
    )
    for n in range(2):
        for ch in range(2):
            np.testing.assert_allclose(
                bil[n, :, :, ch], _ref_bilinear(x[n, :, :, ch], *size, align, half), rtol=1e-6
            )
            np.testing.assert_array_equal(near[n, :, :, ch], _ref_nearest(x[n, :, :, ch], *size, align, half))


def test_resize_images_options_dtypes_and_errors() -> None:
    u8 = (np.arange(2 * 3 * 3) % 256).astype(np.uint8).reshape(2, 3, 3, 1)[0]
    out = im.resize_images(tf.constant(u8), [6, 6])
    near = im.resize(tf.constant(u8), [6, 6], method="nearest")
    same = im.resize_images(tf.constant(u8), [3, 3])
    fit = im.resize_images(tf.constant(np.zeros((4, 8, 1))), [6, 6], preserve_aspect_ratio=True)
    assert out.dtype == tf.float32 and near.dtype == tf.uint8
    assert same.dtype == tf.uint8 and fit.shape.as_list() == [3, 6, 1]
    got = run(out)
    np.testing.assert_allclose(
        got[..., 0], _ref_bilinear(u8[..., 0].astype(np.float64), 6, 6, False, False), rtol=1e-6
    )
    with pytest.raises(NotImplementedError):
        im.resize_images(tf.constant(u8), [4, 4], method=im.ResizeMethod.BICUBIC)
    with pytest.raises(TypeError, match="Python ints"):
        im.resize_images(tf.constant(u8), tf.constant([4, 4]))


def test_resize_gradients() -> None:
    check_grad(lambda t: im.resize_bilinear(t, [5, 3]), _rand(1, 3, 4, 2))
    check_grad(lambda t: im.resize_bilinear(t, [2, 2], half_pixel_centers=True), _rand(4, 3, 1))
    check_grad(lambda t: im.resize_nearest_neighbor(t, [5, 2]), _rand(1, 3, 4, 1))


# -- values -------------------------------------------------------------------------------------
def test_per_image_standardization_formula_constant_images_and_gradient() -> None:
    x = _rand(3, 4, 5, 3) * 10
    x[1] = 7.0  # constant image: stddev 0, divided by 1 / sqrt(N)
    got = run(im.per_image_standardization(tf.constant(x)))
    for i in range(3):
        n = x[i].size
        want = (x[i] - x[i].mean()) / max(x[i].std(), 1 / math.sqrt(n))
        np.testing.assert_allclose(got[i], want, rtol=1e-10, atol=1e-12)
    assert np.all(got[1] == 0)
    u8 = (x[0] * 20).astype(np.uint8)
    out = im.per_image_standardization(tf.constant(u8))
    assert out.dtype == tf.float32
    f = u8.astype(np.float64)
    np.testing.assert_allclose(run(out), (f - f.mean()) / f.std(), rtol=1e-5, atol=1e-5)
    check_grad(im.per_image_standardization, _rand(2, 3, 2))


def test_convert_image_dtype_follows_tf1() -> None:
    u8 = np.array([0, 1, 128, 255], np.uint8).reshape(1, 2, 2, 1)
    f = np.array([0.0, 0.3, 0.999, 1.0], np.float32).reshape(1, 2, 2, 1)
    big = np.array([-0.5, 0.5, 1.5, 1.0], np.float32).reshape(1, 2, 2, 1)
    outs = run(
        [
            im.convert_image_dtype(tf.constant(u8), tf.float32),
            im.convert_image_dtype(tf.constant(f), tf.uint8),
            im.convert_image_dtype(tf.constant(big), tf.uint8, saturate=True),
            im.convert_image_dtype(tf.constant(u8), tf.int32),
            im.convert_image_dtype(tf.constant(u8.astype(np.int32) << 23), tf.uint8),
            im.convert_image_dtype(tf.constant(f), tf.float64),
        ]
    )
    np.testing.assert_allclose(outs[0], u8 / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(outs[1], np.trunc(f * 255.5).astype(np.uint8))
    np.testing.assert_array_equal(outs[2], np.clip(big * 255.5, 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(outs[3], u8.astype(np.int64) * 2**23)
    np.testing.assert_array_equal(outs[4], u8)
    assert outs[5].dtype == np.float64


def test_brightness_contrast_grayscale() -> None:
    x = _rand(2, 3, 4, 3)
    X = tf.constant(x)
    br = im.random_brightness(X, 0.25, seed=1)
    ct = im.random_contrast(X, 0.5, 1.5, seed=2)
    outs = run(
        {
            "br": br,
            "ct": ct,
            "adj": im.adjust_contrast(X, 2.0),
            "gray": im.rgb_to_grayscale(X),
            "rgb": im.grayscale_to_rgb(X[..., :1]),
            "u8": im.adjust_brightness(tf.constant(np.array([[[10], [250]]], np.uint8)), 0.1),
        }
    )
    delta = outs["br"] - x
    assert np.allclose(delta, delta.flat[0]) and -0.25 <= delta.flat[0] < 0.25
    mean = x.mean(axis=(1, 2), keepdims=True)
    factor = (outs["ct"] - mean) / (x - mean)
    assert np.allclose(factor, factor.flat[0]) and 0.5 <= factor.flat[0] < 1.5
    np.testing.assert_allclose(outs["adj"], (x - mean) * 2.0 + mean)
    np.testing.assert_allclose(outs["gray"][..., 0], x @ np.array([0.2989, 0.5870, 0.1140]))
    np.testing.assert_array_equal(outs["rgb"], np.repeat(x[..., :1], 3, axis=-1))
    # uint8 goes through [0, 1] floats and back, saturating: 10 + 25.5 -> 35, 250 -> 255.
    np.testing.assert_array_equal(outs["u8"].ravel(), [35, 255])
    with pytest.raises(ValueError, match="non-negative"):
        im.random_brightness(X, -1.0)


# -- rotations by any angle -------------------------------------------------------------------
def _ref_rotate(x: np.ndarray, angle: float, bilinear: bool) -> np.ndarray:
    """contrib.image.rotate on one [h, w] image, one output pixel at a time."""
    h, w = x.shape
    c, s = math.cos(angle), math.sin(angle)
    dx = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2
    dy = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2

    def read(yy: int, xx: int) -> float:
        return float(x[yy, xx]) if 0 <= yy < h and 0 <= xx < w else 0.0

    out = np.zeros_like(x, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            sx, sy = c * j - s * i + dx, s * j + c * i + dy
            if not bilinear:
                out[i, j] = read(
                    int(math.copysign(math.floor(abs(sy) + 0.5), sy)),
                    int(math.copysign(math.floor(abs(sx) + 0.5), sx)),
                )
                continue
            y0, x0 = math.floor(sy), math.floor(sx)
            fy, fx = sy - y0, sx - x0
            top = read(y0, x0) * (1 - fx) + read(y0, x0 + 1) * fx
            bottom = read(y0 + 1, x0) * (1 - fx) + read(y0 + 1, x0 + 1) * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


def test_rotate_against_reference_and_rot90() -> None:
    sq = _rand(2, 5, 5, 1)
    x = _rand(4, 6)
    outs = run(
        {
            "near": im.rotate(tf.constant(x), 0.4),
            "bil": im.rotate(tf.constant(x[..., None]), -0.7, "BILINEAR"),
            "each": im.rotate(tf.constant(sq), [math.pi / 2, math.pi]),  # an angle per image
        }
    )
    np.testing.assert_allclose(outs["near"], _ref_rotate(x, 0.4, False))
    np.testing.assert_allclose(outs["bil"][..., 0], _ref_rotate(x, -0.7, True), atol=1e-12)
    np.testing.assert_allclose(outs["each"][0], np.rot90(sq[0]), atol=1e-12)
    np.testing.assert_allclose(outs["each"][1], sq[1, ::-1, ::-1], atol=1e-12)
    check_grad(lambda t: im.rotate(t, 0.3, "BILINEAR"), _rand(3, 4, 1))


def test_random_rotation_draws_its_angle_with_tf1_seed_rules() -> None:
    x = _rand(1, 6, 6, 1)
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        rotated = run(im.random_rotation(tf.constant(x), 30.0, seed=1))
    with tf.Graph().as_default():
        tf.set_random_seed(3)  # the same seeds draw the same angle
        rad = math.radians(30.0)
        angle = run(tf.random_uniform([1], -rad, rad, dtype=tf.float64, seed=1))[0]
    assert abs(angle) < rad
    np.testing.assert_allclose(rotated[0, :, :, 0], _ref_rotate(x[0, :, :, 0], angle, True), atol=1e-12)


def test_image_ops_in_a_dataset_map() -> None:
    imgs = _rand(6, 4, 4, 1).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(imgs).map(lambda t: im.random_flip_left_right(t, seed=1))
    got = list(ds.as_numpy_iterator())
    assert all(np.array_equal(g, i) or np.array_equal(g, i[:, ::-1]) for g, i in zip(got, imgs))
