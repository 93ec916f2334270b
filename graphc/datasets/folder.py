"""A folder per class of JPEG/PNG images, read with Pillow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from graphc.datasets._files import data_loss

__all__ = ["IMAGE_EXTENSIONS", "image_folder"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1), "rgba": ("RGBA", 4)}


def _pillow() -> Any:
    try:
        from PIL import Image  # optional dependency: Pillow (the images extra)
    except ImportError as exc:
        raise ImportError(
            "image_folder needs Pillow to read images; install it with `pip install graphc[images]`"
        ) from exc
    return Image


def _bilinear(image: Any) -> Any:
    return getattr(image, "Resampling", image).BILINEAR  # Pillow < 9.1 has no Resampling


def image_folder(
    path: str | os.PathLike[str],
    size: tuple[int, int] | None = (256, 256),
    color_mode: str = "rgb",
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``path/<class>/<image>`` files: one sub-folder per class, classes in sorted
    order (as Keras's ``image_dataset_from_directory`` and torchvision's ``ImageFolder``),
    the images of each in sorted order; files whose names end otherwise than
    ``extensions`` (case-insensitive) and hidden files are skipped.

    Each image is converted to ``color_mode`` (``'rgb'``, ``'grayscale'`` or ``'rgba'``)
    and resized to ``size = (height, width)`` with Pillow's bilinear filter (``None``:
    every image must already have one size). Returns images uint8 ``[N, height, width,
    channels]``, labels int64 ``[N]`` (the class's index) and the class names.

    Raises ImportError without Pillow, FileNotFoundError for a missing folder,
    ValueError for a folder with no class folders or no images, and DataLossError naming
    the file for an image Pillow cannot read.
    """
    image = _pillow()
    base = Path(path)
    if not base.is_dir():
        raise FileNotFoundError(f"{os.fspath(base)}: not a directory")
    if color_mode not in _MODES:
        raise ValueError(f"color_mode must be one of {sorted(_MODES)}, got {color_mode!r}")
    mode, channels = _MODES[color_mode]
    if size is not None:
        h, w = (int(v) for v in size)
        if h <= 0 or w <= 0:
            raise ValueError(f"size must be positive, got {size}")
    exts = tuple(e.lower() for e in extensions)
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(
            f"{os.fspath(base)}: no class folders in it (expected {os.fspath(base)}/<class>/<image>)"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        files = sorted(
            p
            for p in (base / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(exts)
        )
        for f in files:
            try:
                with image.open(f) as img:
                    img = img.convert(mode)
                    if size is not None and img.size != (w, h):
                        img = img.resize((w, h), _bilinear(image))
                    arr = np.asarray(img, dtype=np.uint8)
            except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for bad files
                raise data_loss(f, f"cannot read the image ({type(exc).__name__}: {exc})") from None
            images.append(arr.reshape(arr.shape[0], arr.shape[1], channels))
            labels.append(index)
    if not images:
        raise ValueError(f"{os.fspath(base)}: no images with extensions {list(exts)} in its class folders")
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise ValueError(
            f"images of different sizes {sorted(shapes)}: pass size=(height, width) to resize them"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes
