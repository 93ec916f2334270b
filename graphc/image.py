"""tf.image (TF1): image ops built from graphc's graph ops, so they are compiled and
differentiated like any other op.

Images are ``[height, width, channels]`` or batches ``[batch, height, width, channels]``
(NHWC). Sizes, offsets, ``k`` of :func:`rot90` and resize sizes must be Python ints (known
when the graph is built); the random ops draw their numbers with graphc's random ops
(TF1's seed rules, Philox numbers: not TF1's exact draws).

Where graphc differs from TF1:

- float16 and float64 images keep their dtype in :func:`resize_images` (bilinear),
  :func:`per_image_standardization`, the brightness/contrast ops and :func:`rotate`, where
  TF1 returns float32 for most of them; integer images give float32 as in TF1.
- :func:`resize_images` supports ``BILINEAR`` and ``NEAREST_NEIGHBOR`` (``BICUBIC`` and
  ``AREA`` raise NotImplementedError).
- :func:`rotate` is ``tf.contrib.image.rotate`` (contrib is not otherwise provided) and
  :func:`random_rotation` is graphc's: a uniform angle in ``[-max_degrees,
  max_degrees]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc.frontend.graph import Tensor, get_default_graph
from graphc.ops.array_ops import (
    expand_dims,
    gather,
    pad,
    reshape,
    reverse,
    squeeze,
    stack,
    tile,
    transpose,
)
from graphc.ops.array_ops import (
    range as _range,
)
from graphc.ops.array_ops import (
    slice as _slice,
)
from graphc.ops.common import convert_to_tensor
from graphc.ops.compare_ops import less
from graphc.ops.core_ops import constant, identity, shape
from graphc.ops.gather_nd_ops import gather_nd
from graphc.ops.math_ops import (
    abs as _abs,
)
from graphc.ops.math_ops import (
    add,
    cast,
    clip_by_value,
    cos,
    floor,
    floordiv,
    maximum,
    minimum,
    multiply,
    rsqrt,
    sign,
    sin,
    subtract,
    truediv,
    where,
)
from graphc.ops.norm_ops import reduce_std
from graphc.ops.random_ops import random_uniform
from graphc.ops.reduction_ops import reduce_mean, reduce_sum

__all__ = [
    "ResizeMethod",
    "adjust_brightness",
    "adjust_contrast",
    "central_crop",
    "convert_image_dtype",
    "crop_to_bounding_box",
    "flip_left_right",
    "flip_up_down",
    "grayscale_to_rgb",
    "pad_to_bounding_box",
    "per_image_standardization",
    "random_brightness",
    "random_contrast",
    "random_crop",
    "random_flip_left_right",
    "random_flip_up_down",
    "random_rotation",
    "resize",
    "resize_bilinear",
    "resize_image_with_crop_or_pad",
    "resize_images",
    "resize_nearest_neighbor",
    "resize_with_crop_or_pad",
    "rgb_to_grayscale",
    "rot90",
    "rotate",
    "transpose_image",
]


class ResizeMethod:
    """TF1's resize methods (the values tf.image.ResizeMethod has in TF1)."""

    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


# -- helpers -------------------------------------------------------------------------------
def _image(image: Any, what: str) -> tuple[Tensor, int]:
    """The image tensor and its rank (3 or 4)."""
    t = convert_to_tensor(image, name="image")
    rank = t.shape.ndims
    if rank not in (3, 4):
        raise ValueError(
            f"{what}: 'image' must be a 3-D [h, w, c] or 4-D [n, h, w, c] tensor, got shape {t.shape}"
        )
    return t, rank


def _static_int(v: Any, what: str) -> int:
    if isinstance(v, Tensor):
        raise TypeError(
            f"{what} must be a Python int in graphc (known when the graph is built), got a Tensor"
        )
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise TypeError(f"{what} must be an int, got {v!r}")
    return int(v)


def _hw(t: Tensor, rank: int, what: str) -> tuple[int, int]:
    dims = t.shape.as_list()
    h, w = dims[rank - 3], dims[rank - 2]
    if h is None or w is None:
        raise ValueError(
            f"{what} needs the image's height and width known when the graph is built, got {t.shape}"
        )
    return h, w


def _float_image(t: Tensor) -> Tensor:
    """Integer images as float32 (values unchanged); floating images as they are."""
    return t if t.dtype.is_floating else cast(t, _dt.float32)


def _scope(name: str | None, default: str) -> Any:
    return get_default_graph().name_scope(name or default)


# -- flips, transposes, rotations by 90 degrees ---------------------------------------
def flip_left_right(image: Any) -> Tensor:
    """tf.image.flip_left_right: reverse the width axis (3-D or 4-D images)."""
    t, rank = _image(image, "flip_left_right")
    return reverse(t, [rank - 2])


def flip_up_down(image: Any) -> Tensor:
    """tf.image.flip_up_down: reverse the height axis (3-D or 4-D images)."""
    t, rank = _image(image, "flip_up_down")
    return reverse(t, [rank - 3])


def transpose_image(image: Any) -> Tensor:
    """tf.image.transpose_image: swap height and width."""
    t, rank = _image(image, "transpose_image")
    return transpose(t, [1, 0, 2] if rank == 3 else [0, 2, 1, 3])


def _random_flip(image: Any, seed: int | None, axis_from_end: int, what: str) -> Tensor:
    t, rank = _image(image, what)
    axis = rank - axis_from_end
    flipped = reverse(t, [axis])
    if rank == 3:
        u = random_uniform([], 0, 1.0, seed=seed)
        return where(less(u, 0.5), flipped, t)
    # A batch: each image flips on its own draw (TF1.15).
    u = random_uniform(shape(t)[:1], 0, 1.0, seed=seed)
    mirror = reshape(less(u, 0.5), [-1, 1, 1, 1])
    return where(mirror, flipped, t)


def random_flip_left_right(image: Any, seed: int | None = None) -> Tensor:
    """tf.image.random_flip_left_right: with probability 1/2, flip_left_right (each image of
    a 4-D batch decided on its own)."""
    return _random_flip(image, seed, 2, "random_flip_left_right")


def random_flip_up_down(image: Any, seed: int | None = None) -> Tensor:
    """tf.image.random_flip_up_down: with probability 1/2, flip_up_down (each image of a
    4-D batch decided on its own)."""
    return _random_flip(image, seed, 3, "random_flip_up_down")


def rot90(image: Any, k: int = 1, name: str | None = None) -> Tensor:
    """tf.image.rot90: rotate by ``k`` quarter turns counter-clockwise (``np.rot90`` on the
    height and width axes). ``k`` must be a Python int here (TF1 also takes a tensor)."""
    t, rank = _image(image, "rot90")
    k = _static_int(k, "rot90's k") % 4
    h_ax, w_ax = rank - 3, rank - 2
    perm = [1, 0, 2] if rank == 3 else [0, 2, 1, 3]
    with _scope(name, "rot90"):
        if k == 0:
            return identity(t)
        if k == 1:
            return transpose(reverse(t, [w_ax]), perm)
        if k == 2:
            return reverse(t, [h_ax, w_ax])
        return reverse(transpose(t, perm), [w_ax])


# -- crops and pads -----------------------------------------------------------------------
def random_crop(value: Any, size: Sequence[int], seed: int | None = None, name: str | None = None) -> Tensor:
    """tf.random_crop / tf.image.random_crop: a slice of ``size`` (Python ints, one per
    axis of ``value``) at an offset drawn uniformly along each axis. The offsets are
    drawn with one random op, as floats scaled to ``dim - size + 1`` (TF1 takes an integer
    draw modulo that), so the dims of ``value`` may be unknown."""
    with _scope(name, "random_crop"):
        x = convert_to_tensor(value, name="value")
        sizes = [_static_int(s, "random_crop's size") for s in size]
        rank = x.shape.ndims
        if rank is None or rank != len(sizes):
            raise ValueError(
                f"random_crop: size {sizes} must give one size per axis of a value of shape {x.shape}"
            )
        dims = x.shape.as_list()
        for d, s in zip(dims, sizes):
            if s < 0 or (d is not None and s > d):
                raise ValueError(f"Need value.shape >= size, got value shape {x.shape} and size {sizes}")
        u = random_uniform([rank], 0, 1.0, dtype=_dt.float32, seed=seed)
        dyn = shape(x)
        out = x
        for axis, (d, s) in enumerate(zip(dims, sizes)):
            if d is not None and d == s:
                continue
            limit = cast(dyn[axis] - s + 1, _dt.float32)
            off = cast(floor(multiply(u[axis], limit)), _dt.int32)
            off = minimum(off, cast(limit, _dt.int32) - 1)  # u < 1, but rounding could reach limit
            idx = add(off, constant(np.arange(s, dtype=np.int32)))
            out = gather(out, idx, axis=axis)
        if out is x:
            out = identity(x)
        return out


def crop_to_bounding_box(
    image: Any, offset_height: int, offset_width: int, target_height: int, target_width: int
) -> Tensor:
    """tf.image.crop_to_bounding_box: the ``target_height x target_width`` window whose top
    left corner is at (``offset_height``, ``offset_width``)."""
    t, rank = _image(image, "crop_to_bounding_box")
    oh, ow = _static_int(offset_height, "offset_height"), _static_int(offset_width, "offset_width")
    th, tw = _static_int(target_height, "target_height"), _static_int(target_width, "target_width")
    h, w = _hw(t, rank, "crop_to_bounding_box")
    if oh < 0 or ow < 0:
        raise ValueError("offset_height and offset_width must be >= 0")
    if th <= 0 or tw <= 0:
        raise ValueError("target_width and target_height must be > 0")
    if oh + th > h:
        raise ValueError("height must be >= target + offset.")
    if ow + tw > w:
        raise ValueError("width must be >= target + offset.")
    begin = [oh, ow, 0] if rank == 3 else [0, oh, ow, 0]
    size = [th, tw, -1] if rank == 3 else [-1, th, tw, -1]
    return _slice(t, begin, size)


def pad_to_bounding_box(
    image: Any, offset_height: int, offset_width: int, target_height: int, target_width: int
) -> Tensor:
    """tf.image.pad_to_bounding_box: zeros around the image, which lands at (``offset_height``,
    ``offset_width``) of a ``target_height x target_width`` image."""
    t, rank = _image(image, "pad_to_bounding_box")
    oh, ow = _static_int(offset_height, "offset_height"), _static_int(offset_width, "offset_width")
    th, tw = _static_int(target_height, "target_height"), _static_int(target_width, "target_width")
    h, w = _hw(t, rank, "pad_to_bounding_box")
    after_h, after_w = th - oh - h, tw - ow - w
    if oh < 0 or ow < 0:
        raise ValueError("offset_height and offset_width must be >= 0")
    if after_h < 0:
        raise ValueError("height must be <= target - offset")
    if after_w < 0:
        raise ValueError("width must be <= target - offset")
    pads = [[oh, after_h], [ow, after_w], [0, 0]]
    return pad(t, pads if rank == 3 else [[0, 0], *pads])


def resize_image_with_crop_or_pad(image: Any, target_height: int, target_width: int) -> Tensor:
    """tf.image.resize_image_with_crop_or_pad: crop the centre or pad evenly with zeros to
    ``target_height x target_width`` (TF1's offsets: the extra pixel goes right/below)."""
    t, rank = _image(image, "resize_image_with_crop_or_pad")
    th, tw = _static_int(target_height, "target_height"), _static_int(target_width, "target_width")
    if th <= 0 or tw <= 0:
        raise ValueError("target_height and target_width must be > 0")
    h, w = _hw(t, rank, "resize_image_with_crop_or_pad")
    dw, dh = tw - w, th - h
    cropped = crop_to_bounding_box(t, max(-dh // 2, 0), max(-dw // 2, 0), min(th, h), min(tw, w))
    return pad_to_bounding_box(cropped, max(dh // 2, 0), max(dw // 2, 0), th, tw)


resize_with_crop_or_pad = resize_image_with_crop_or_pad


def central_crop(image: Any, central_fraction: float) -> Tensor:
    """tf.image.central_crop: the central ``central_fraction`` (in (0, 1]) of each side;
    the start offsets are ``int((size - size * fraction) / 2)`` as in TF1."""
    t, rank = _image(image, "central_crop")
    f = float(central_fraction)
    if f <= 0.0 or f > 1.0:
        raise ValueError("central_fraction must be within (0, 1]")
    if f == 1.0:
        return t
    h, w = _hw(t, rank, "central_crop")
    oh, ow = int((h - h * f) / 2), int((w - w * f) / 2)
    return crop_to_bounding_box(t, oh, ow, h - 2 * oh, w - 2 * ow)


# -- resizing -------------------------------------------------------------------------------
def _bilinear_weights(
    in_size: int, out_size: int, align_corners: bool, half_pixel: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1's compute_interpolation_weights: for each output index, the lower and upper
    source index and the weight of the upper one."""
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    i = np.arange(out_size, dtype=np.float64)
    src = (i + 0.5) * scale - 0.5 if half_pixel else i * scale
    src = src.astype(np.float32).astype(np.float64)  # TF computes the source in float32
    lo_f = np.floor(src)
    lower = np.maximum(lo_f, 0).astype(np.int32)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.int32)
    return lower, upper, (src - lo_f)


def _nearest_index(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """TF1's resize_nearest_neighbor source index for each output index."""
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    i = np.arange(out_size, dtype=np.float64)
    src = ((i + 0.5) * scale if half_pixel else i * scale).astype(np.float32).astype(np.float64)
    idx = np.floor(src + 0.5) if align_corners else np.floor(src)  # roundf: halves away from 0
    return np.clip(idx, 0, in_size - 1).astype(np.int32)


def _size_pair(size: Any) -> tuple[int, int]:
    if isinstance(size, Tensor):
        raise TypeError("the resize size must be Python ints in graphc (known when the graph is built)")
    vals = list(size)
    if len(vals) != 2:
        raise ValueError(f"'size' must be a 1-D tensor of 2 elements: new_height, new_width; got {size!r}")
    h, w = (_static_int(v, "the resize size") for v in vals)
    if h <= 0 or w <= 0:
        raise ValueError(f"the resize size must be positive, got {h}x{w}")
    return h, w


def _as_batch(images: Any, what: str) -> tuple[Tensor, bool]:
    t, rank = _image(images, what)
    return (t, True) if rank == 4 else (expand_dims(t, 0), False)


def _lerp_axis(x: Tensor, axis: int, lower: np.ndarray, upper: np.ndarray, frac: np.ndarray) -> Tensor:
    a = gather(x, constant(lower), axis=axis)
    if np.array_equal(lower, upper) or not frac.any():
        return a
    b = gather(x, constant(upper), axis=axis)
    ndim = x.shape.ndims or 4
    w = constant(frac.astype(x.dtype.np).reshape([-1] + [1] * (ndim - axis - 1)))
    return add(a, multiply(subtract(b, a), w))


def resize_bilinear(
    images: Any,
    size: Any,
    align_corners: bool = False,
    name: str | None = None,
    half_pixel_centers: bool = False,
) -> Tensor:
    """tf.image.resize_bilinear (TF1's ResizeBilinear): 4-D images (3-D accepted too). The
    source of output index ``i`` is ``i * scale`` (``(i + 0.5) * scale - 0.5`` with
    ``half_pixel_centers``), ``scale = in / out`` (``(in - 1) / (out - 1)`` with
    ``align_corners``), blended between its floor and ceiling (clamped to the image).
    Integer images give float32."""
    with _scope(name, "resize_bilinear"):
        x, batched = _as_batch(images, "resize_bilinear")
        nh, nw = _size_pair(size)
        h, w = _hw(x, 4, "resize_bilinear")
        x = _float_image(x)
        x = _lerp_axis(x, 1, *_bilinear_weights(h, nh, align_corners, half_pixel_centers))
        x = _lerp_axis(x, 2, *_bilinear_weights(w, nw, align_corners, half_pixel_centers))
        return x if batched else squeeze(x, [0])


def resize_nearest_neighbor(
    images: Any,
    size: Any,
    align_corners: bool = False,
    name: str | None = None,
    half_pixel_centers: bool = False,
) -> Tensor:
    """tf.image.resize_nearest_neighbor (TF1's ResizeNearestNeighbor): output index ``i``
    reads ``floor(i * scale)`` (``floor((i + 0.5) * scale)`` with ``half_pixel_centers``;
    rounded instead with ``align_corners``), clamped to the image. Keeps the dtype."""
    with _scope(name, "resize_nearest_neighbor"):
        x, batched = _as_batch(images, "resize_nearest_neighbor")
        nh, nw = _size_pair(size)
        h, w = _hw(x, 4, "resize_nearest_neighbor")
        x = gather(x, constant(_nearest_index(h, nh, align_corners, half_pixel_centers)), axis=1)
        x = gather(x, constant(_nearest_index(w, nw, align_corners, half_pixel_centers)), axis=2)
        return x if batched else squeeze(x, [0])


def resize_images(
    images: Any,
    size: Any,
    method: Any = ResizeMethod.BILINEAR,
    align_corners: bool = False,
    preserve_aspect_ratio: bool = False,
    name: str | None = None,
) -> Tensor:
    """tf.image.resize_images (TF1; also ``tf.image.resize`` in TF1): ``BILINEAR`` (default)
    or ``NEAREST_NEIGHBOR`` (also by the names ``'bilinear'``, ``'nearest'``), with TF1's
    defaults: ``align_corners=False`` and no half-pixel centres (so an upscaled image is
    shifted by half a pixel, as in TF1; pass through :func:`resize_bilinear` with
    ``half_pixel_centers=True`` for TF2's sampling). ``preserve_aspect_ratio`` fits the
    image inside ``size``. An image already of that size is returned as it is (TF1)."""
    m = (
        {"bilinear": 0, "nearest": 1, "bicubic": 2, "area": 3}.get(method, method)
        if isinstance(method, str)
        else method
    )
    if m not in (0, 1, 2, 3):
        raise ValueError(f"Resize method is not implemented: {method!r}")
    if m in (2, 3):
        raise NotImplementedError(
            "resize_images: BICUBIC and AREA are not implemented in graphc; use BILINEAR"
        )
    with _scope(name, "resize"):
        t, rank = _image(images, "resize_images")
        nh, nw = _size_pair(size)
        h, w = _hw(t, rank, "resize_images")
        if preserve_aspect_ratio:
            factor = min(nh / h, nw / w)
            nh, nw = int(round(factor * h)), int(round(factor * w))
        if (nh, nw) == (h, w):
            return t
        if m == 1:
            return resize_nearest_neighbor(t, (nh, nw), align_corners=align_corners)
        return resize_bilinear(t, (nh, nw), align_corners=align_corners)


resize = resize_images


# -- values ----------------------------------------------------------------------------------
def per_image_standardization(image: Any) -> Tensor:
    """tf.image.per_image_standardization: ``(x - mean) / max(stddev, 1 / sqrt(N))`` per
    image, N the number of values of one image (height * width * channels), mean and
    (population) standard deviation over that image. Integer images are cast to float32
    (values unchanged) as TF1 does; float64 stays float64."""
    with _scope(None, "per_image_standardization"):
        t, rank = _image(image, "per_image_standardization")
        x = _float_image(t)
        axes = [-1, -2, -3]
        dims = x.shape.as_list()[-3:]
        if all(d is not None for d in dims):
            n = constant(np.asarray(dims[0] * dims[1] * dims[2], dtype=x.dtype.np))
        else:
            n = cast(shape(x)[-3] * shape(x)[-2] * shape(x)[-1], x.dtype)
        mean = reduce_mean(x, axis=axes, keepdims=True)
        std = reduce_std(x, axis=axes, keepdims=True)
        adjusted = maximum(std, rsqrt(n))
        return truediv(subtract(x, mean), adjusted)


def adjust_brightness(image: Any, delta: Any) -> Tensor:
    """tf.image.adjust_brightness: ``image + delta``. Integer images are converted to
    float32 with :func:`convert_image_dtype` and back (saturating), as in TF1."""
    t, _ = _image(image, "adjust_brightness")
    if t.dtype.is_floating:
        return add(t, cast(convert_to_tensor(delta), t.dtype) if isinstance(delta, Tensor) else delta)
    f = convert_image_dtype(t, _dt.float32)
    return convert_image_dtype(add(f, delta), t.dtype, saturate=True)


def random_brightness(image: Any, max_delta: float, seed: int | None = None) -> Tensor:
    """tf.image.random_brightness: :func:`adjust_brightness` by a delta drawn uniformly from
    ``[-max_delta, max_delta)`` (one draw for the whole tensor, as in TF1)."""
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    t, _ = _image(image, "random_brightness")
    dt = t.dtype if t.dtype.is_floating else _dt.float32
    delta = random_uniform([], -max_delta, max_delta, dtype=dt, seed=seed)
    return adjust_brightness(t, delta)


def adjust_contrast(images: Any, contrast_factor: Any) -> Tensor:
    """tf.image.adjust_contrast: per image and channel, ``(x - mean) * factor + mean``, the
    mean over height and width. Integer images give float32 results converted back
    (saturating, values as they are), as TF1's op does."""
    t, rank = _image(images, "adjust_contrast")
    x = _float_image(t)
    mean = reduce_mean(x, axis=[rank - 3, rank - 2], keepdims=True)
    factor = cast(contrast_factor, x.dtype) if isinstance(contrast_factor, Tensor) else contrast_factor
    out = add(multiply(subtract(x, mean), factor), mean)
    if t.dtype.is_floating:
        return out
    lo, hi = float(t.dtype.min), float(t.dtype.max)
    return cast(clip_by_value(out, lo, hi), t.dtype)


def random_contrast(image: Any, lower: float, upper: float, seed: int | None = None) -> Tensor:
    """tf.image.random_contrast: :func:`adjust_contrast` by a factor drawn uniformly from
    ``[lower, upper)``."""
    if upper <= lower:
        raise ValueError("upper must be > lower.")
    if lower < 0:
        raise ValueError("lower must be non-negative.")
    t, _ = _image(image, "random_contrast")
    dt = t.dtype if t.dtype.is_floating else _dt.float32
    factor = random_uniform([], lower, upper, dtype=dt, seed=seed)
    return adjust_contrast(t, factor)


def convert_image_dtype(image: Any, dtype: Any, saturate: bool = False, name: str | None = None) -> Tensor:
    """tf.image.convert_image_dtype (TF1): integer images are scaled to [0, 1] (``x /
    MAX``) when converted to a float type, float images (in [0, 1]) to ``x * (MAX + 0.5)``
    then truncated when converted to an integer type (``saturate`` clips first), integer
    to integer types shift by the ratio of their ranges; float to float is a cast."""
    t = convert_to_tensor(image, name="image")
    dt = _dt.as_dtype(dtype)
    if not (dt.is_floating or dt.is_integer):
        raise AttributeError("dtype must be either floating point or integer")
    src = t.dtype
    with _scope(name, "convert_image"):
        if src == dt:
            return identity(t)
        if src.is_integer and dt.is_integer:
            scale_in, scale_out = int(src.max), int(dt.max)
            if scale_in > scale_out:
                scale = (scale_in + 1) // (scale_out + 1)
                scaled = floordiv(t, constant(np.asarray(scale, dtype=src.np)))
                return _saturate_cast(scaled, dt) if saturate else cast(scaled, dt)
            scale = (scale_out + 1) // (scale_in + 1)
            wide = _saturate_cast(t, dt) if saturate else cast(t, dt)
            return multiply(wide, constant(np.asarray(scale, dtype=dt.np)))
        if src.is_floating and dt.is_floating:
            return cast(t, dt)
        if src.is_integer:
            f = cast(t, dt)
            return multiply(f, constant(np.asarray(1.0 / float(src.max), dtype=dt.np)))
        scaled = multiply(t, constant(np.asarray(float(dt.max) + 0.5, dtype=src.np)))
        return _saturate_cast(scaled, dt) if saturate else cast(scaled, dt)


def _saturate_cast(x: Tensor, dt: _dt.DType) -> Tensor:
    lo = max(float(dt.min), float(x.dtype.min)) if x.dtype.is_integer else float(dt.min)
    hi = min(float(dt.max), float(x.dtype.max)) if x.dtype.is_integer else float(dt.max)
    if x.dtype.is_integer:
        clipped = clip_by_value(
            x, constant(np.asarray(lo, dtype=x.dtype.np)), constant(np.asarray(hi, dtype=x.dtype.np))
        )
    else:
        clipped = clip_by_value(x, lo, hi)
    return cast(clipped, dt)


def rgb_to_grayscale(images: Any, name: str | None = None) -> Tensor:
    """tf.image.rgb_to_grayscale: ``0.2989 R + 0.5870 G + 0.1140 B`` with a last axis of 1
    (integer images go through float32 and back, as TF1)."""
    with _scope(name, "rgb_to_grayscale"):
        t = convert_to_tensor(images, name="images")
        f = t if t.dtype.is_floating else convert_image_dtype(t, _dt.float32)
        weights = constant(np.asarray([0.2989, 0.5870, 0.1140], dtype=f.dtype.np))
        gray = reduce_sum(multiply(f, weights), axis=-1, keepdims=True)
        return gray if t.dtype.is_floating else convert_image_dtype(gray, t.dtype)


def grayscale_to_rgb(images: Any, name: str | None = None) -> Tensor:
    """tf.image.grayscale_to_rgb: repeat the single channel three times."""
    with _scope(name, "grayscale_to_rgb"):
        t = convert_to_tensor(images, name="images")
        rank = t.shape.ndims
        if rank is None or rank < 2:
            raise ValueError(f"grayscale_to_rgb needs a last axis of 1, got shape {t.shape}")
        return tile(t, [1] * (rank - 1) + [3])


# -- rotations by any angle --------------------------------------------------------------
def rotate(images: Any, angles: Any, interpolation: str = "NEAREST", name: str | None = None) -> Tensor:
    """tf.contrib.image.rotate: rotate counter-clockwise by ``angles`` (radians; a scalar, or
    one per image of a batch) about the image centre; pixels from outside the image are 0.

    As contrib's projective transform: output pixel (x, y) reads the input at
    ``(cos a * x - sin a * y + dx, sin a * x + cos a * y + dy)`` with the offsets that keep
    the centre in place, by ``'NEAREST'`` (rounding half away from zero) or ``'BILINEAR'``
    interpolation. Images are [h, w], [h, w, c] or [n, h, w, c]. Differentiable in the
    images (not in the angles)."""
    interpolation = interpolation.upper()
    if interpolation not in ("NEAREST", "BILINEAR"):
        raise ValueError(f"Invalid interpolation {interpolation!r}: NEAREST or BILINEAR")
    with _scope(name, "rotate"):
        t = convert_to_tensor(images, name="images")
        rank = t.shape.ndims
        if rank not in (2, 3, 4):
            raise ValueError(f"rotate: images must have rank 2, 3 or 4, got shape {t.shape}")
        x = t
        if rank == 2:
            x = expand_dims(expand_dims(x, -1), 0)
        elif rank == 3:
            x = expand_dims(x, 0)
        h, w = _hw(x, 4, "rotate")
        work = x.dtype if x.dtype.is_floating else _dt.float32
        if isinstance(angles, Tensor):
            a = angles if angles.dtype == work else cast(angles, work)
        else:
            a = constant(np.asarray(angles, dtype=work.np))
        a = reshape(a, [-1, 1, 1])  # [n or 1, 1, 1]
        c, s = cos(a), sin(a)
        dx = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2.0
        dy = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2.0
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        xs_t = constant(xs.astype(work.np))
        ys_t = constant(ys.astype(work.np))
        src_x = c * xs_t - s * ys_t + dx  # [n or 1, h, w]
        src_y = s * xs_t + c * ys_t + dy
        batch = shape(x)[0]
        # The batch index of each output pixel, [n, h, w] (angles broadcast over the batch).
        n_idx = reshape(_range(batch), [-1, 1, 1]) + constant(np.zeros((1, h, w), np.int32))
        zero_xy = cast(n_idx * 0, work)
        src_x, src_y = src_x + zero_xy, src_y + zero_xy
        xf = x if x.dtype.is_floating else cast(x, work)
        xf = pad(xf, [[0, 0], [1, 1], [1, 1], [0, 0]])
        if interpolation == "NEAREST":
            out = _sample(xf, n_idx, _round_half_away(src_y), _round_half_away(src_x), h, w)
        else:
            y0, x0 = floor(src_y), floor(src_x)
            fy, fx = expand_dims(src_y - y0, -1), expand_dims(src_x - x0, -1)
            v00 = _sample(xf, n_idx, y0, x0, h, w)
            v01 = _sample(xf, n_idx, y0, x0 + 1.0, h, w)
            v10 = _sample(xf, n_idx, y0 + 1.0, x0, h, w)
            v11 = _sample(xf, n_idx, y0 + 1.0, x0 + 1.0, h, w)
            top = v00 * (1.0 - fx) + v01 * fx
            bottom = v10 * (1.0 - fx) + v11 * fx
            out = top * (1.0 - fy) + bottom * fy
        if not t.dtype.is_floating:
            out = cast(_round_half_away(out), t.dtype)
        if rank == 2:
            return squeeze(out, [0, 3])
        if rank == 3:
            return squeeze(out, [0])
        return out


def _round_half_away(v: Tensor) -> Tensor:
    return multiply(sign(v), floor(_abs(v) + 0.5))


def _sample(padded: Tensor, n_idx: Tensor, yf: Tensor, xf: Tensor, h: int, w: int) -> Tensor:
    """x[n, y, x, :] at integer-valued float coordinates, 0 outside the image: ``padded``
    is x with a border of zeros, and a coordinate outside is clamped onto that border."""
    yi = cast(clip_by_value(yf, -1.0, float(h)) + 1.0, _dt.int32)
    xi = cast(clip_by_value(xf, -1.0, float(w)) + 1.0, _dt.int32)
    return gather_nd(padded, stack([n_idx, yi, xi], axis=-1))  # [n, h, w, c]


def random_rotation(
    image: Any,
    max_degrees: float,
    seed: int | None = None,
    interpolation: str = "BILINEAR",
    name: str | None = None,
) -> Tensor:
    """graphc's random rotation: :func:`rotate` by an angle drawn uniformly from
    ``[-max_degrees, max_degrees)`` degrees (one angle per image of a 4-D batch)."""
    if max_degrees < 0:
        raise ValueError("max_degrees must be non-negative.")
    with _scope(name, "random_rotation"):
        t = convert_to_tensor(image, name="image")
        rank = t.shape.ndims
        work = t.dtype if t.dtype.is_floating else _dt.float32
        rad = math.radians(float(max_degrees))
        n = shape(t)[:1] if rank == 4 else []
        angles = random_uniform(n, -rad, rad, dtype=work, seed=seed)
        return rotate(t, angles, interpolation=interpolation)
