"""graphc.datasets readers on small files the tests write, and graphc.preprocessing."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from graphc import datasets, errors, preprocessing

Image = pytest.importorskip("PIL.Image")


# -- IDX / MNIST --------------------------------------------------------------------------
def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """An IDX file, written from the format's description."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = struct.pack(">HBB", 0, code, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(big).tobytes()


def write_mnist(d: Path, n_train: int = 5, n_test: int = 3, gz: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for i, (name, arr) in enumerate(arrays.items()):
        data = idx_bytes(arr, 0x08)
        if gz and i % 2 == 0:  # a mix of gzipped and plain files
            (d / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (d / name).write_bytes(data)
    return arrays


def test_mnist_reads_plain_and_gzipped_files(tmp_path: Path) -> None:
    want = write_mnist(tmp_path)
    (x_train, y_train), (x_test, y_test) = datasets.mnist(tmp_path)
    np.testing.assert_array_equal(x_train, want["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, want["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, want["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, want["t10k-labels-idx1-ubyte"])
    assert x_train.dtype == np.uint8 and x_train.shape == (5, 28, 28) and y_test.shape == (3,)


@pytest.mark.parametrize(
    "code,dtype",
    [
        (0x08, np.uint8),
        (0x09, np.int8),
        (0x0B, np.int16),
        (0x0C, np.int32),
        (0x0D, np.float32),
        (0x0E, np.float64),
    ],
)
def test_read_idx_every_type(tmp_path: Path, code: int, dtype: type) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if code == 0x08:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "a.idx"
    p.write_bytes(idx_bytes(arr, code))
    got = datasets.read_idx(p)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_idx_malformed_files_name_the_file(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((3, 2, 2), np.uint8), 0x08)
    cases = {
        "magic.idx": (b"\x01\x00" + good[2:], "bad magic"),
        "type.idx": (good[:2] + b"\x07" + good[3:], "type code"),
        "short.idx": (good[:3], "too short"),
        "header.idx": (good[:10], "truncated header"),
        "truncated.idx": (good[:-1], "truncated"),
        "trailing.idx": (good + b"\x00", "trailing"),
        "bad.gz": (gzip.compress(good)[:-6], "gzip"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(errors.DataLossError, match=message) as info:
            datasets.read_idx(tmp_path / name)
        assert name in str(info.value)
    # Huge dims in a small file fail on the size check, before any allocation.
    (tmp_path / "huge.idx").write_bytes(struct.pack(">HBBIII", 0, 8, 3, 2**31, 2**31, 2**31))
    with pytest.raises(errors.DataLossError, match="huge.idx: truncated"):
        datasets.read_idx(tmp_path / "huge.idx")
    with pytest.raises(FileNotFoundError):
        datasets.read_idx(tmp_path / "nope.idx")


def test_mnist_missing_mismatched_and_wrong_dims(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        datasets.mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(errors.DataLossError, match="4 labels for the 3 images"):
        datasets.mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros((3, 1, 1), np.uint8), 0x08))
    with pytest.raises(errors.DataLossError, match="1-D uint8 labels"):
        datasets.mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        datasets.mnist(tmp_path / "missing")


# -- CIFAR-10 --------------------------------------------------------------------------------
def cifar_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Records as CIFAR-10's page describes them: a label byte, then the red, green and
    blue 1024-byte planes."""
    out = bytearray()
    for img, lab in zip(images, labels):
        out.append(int(lab))
        for ch in range(3):
            out += img[:, :, ch].tobytes()
    return bytes(out)


def write_cifar(d: Path, per_batch: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    xs, ys = [], []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        x = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch, dtype=np.uint8)
        (d / name).write_bytes(cifar_records(x, y))
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


def test_cifar10_reads_batches_in_nhwc(tmp_path: Path) -> None:
    inner = tmp_path / "cifar-10-batches-bin"
    inner.mkdir()
    x_train, y_train, x_test, y_test = write_cifar(inner)
    for where in (tmp_path, inner):  # the extracted folder or the one above it
        (gx, gy), (tx, ty) = datasets.cifar10(where)
        np.testing.assert_array_equal(gx, x_train)
        np.testing.assert_array_equal(gy, y_train)
        np.testing.assert_array_equal(tx, x_test)
        np.testing.assert_array_equal(ty, y_test)
    assert gx.shape == (10, 32, 32, 3) and ty.dtype == np.uint8
    # The first pixel's red value is the record's second byte.
    raw = (inner / "test_batch.bin").read_bytes()
    assert tx[0, 0, 0, 0] == raw[1] and tx[0, 0, 1, 0] == raw[2] and tx[0, 0, 0, 1] == raw[1 + 1024]
    assert len(datasets.CIFAR10_CLASSES) == 10 and datasets.CIFAR10_CLASSES[3] == "cat"


def test_cifar10_malformed_and_missing(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_3.bin"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(errors.DataLossError, match="data_batch_3.bin: size"):
        datasets.cifar10(tmp_path)
    path.write_bytes(b"\x0a" + data[1:])
    with pytest.raises(errors.DataLossError, match="data_batch_3.bin: record 0 has label 10"):
        datasets.cifar10(tmp_path)
    path.write_bytes(b"")
    with pytest.raises(errors.DataLossError, match="data_batch_3.bin"):
        datasets.cifar10(tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin"):
        datasets.cifar10(tmp_path)


# -- image folders --------------------------------------------------------------------------
def test_image_folder_reads_png_and_jpeg_by_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pixels = {}
    for cls, count in (("dog", 2), ("cat", 1)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            arr = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            pixels[(cls, i)] = arr
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.png")
    smooth = np.tile(np.linspace(0, 255, 5, dtype=np.uint8)[None, :, None], (6, 1, 3))
    Image.fromarray(smooth).save(tmp_path / "dog" / "2.JPG", quality=95)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "dog" / ".hidden.png").write_bytes(b"")

    x, y, names = datasets.image_folder(tmp_path, size=None)
    assert names == ["cat", "dog"] and y.tolist() == [0, 1, 1, 1]
    assert x.shape == (4, 6, 5, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], pixels[("cat", 0)])  # PNG is lossless
    np.testing.assert_array_equal(x[2], pixels[("dog", 1)])
    assert np.abs(x[3].astype(int) - smooth).max() <= 8  # JPEG, close

    small, _, _ = datasets.image_folder(tmp_path, size=(3, 4))
    assert small.shape == (4, 3, 4, 3)
    want = np.asarray(Image.fromarray(pixels[("cat", 0)]).resize((4, 3), Image.BILINEAR))
    np.testing.assert_array_equal(small[0], want)
    gray, _, _ = datasets.image_folder(tmp_path, size=(6, 5), color_mode="grayscale")
    assert gray.shape == (4, 6, 5, 1)
    np.testing.assert_array_equal(
        gray[0, :, :, 0], np.asarray(Image.fromarray(pixels[("cat", 0)]).convert("L"))
    )


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        datasets.image_folder(tmp_path / "none")
    with pytest.raises(ValueError, match="no class folders"):
        datasets.image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no images"):
        datasets.image_folder(tmp_path)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((5, 4, 3), np.uint8)).save(tmp_path / "a" / "y.png")
    with pytest.raises(ValueError, match="different sizes"):
        datasets.image_folder(tmp_path, size=None)
    (tmp_path / "a" / "z.jpeg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(errors.DataLossError, match="z.jpeg"):
        datasets.image_folder(tmp_path, size=(4, 4))
    with pytest.raises(ValueError, match="color_mode"):
        datasets.image_folder(tmp_path, color_mode="cmyk")


# -- bundled digits ------------------------------------------------------------------------
def test_digits_in_both_layouts_split_the_same_rows() -> None:
    sk = pytest.importorskip("sklearn.datasets").load_digits()
    (x8, y8), (t8, ty8) = datasets.digits(layout="8x8")
    (x28, y28), (t28, ty28) = datasets.digits()
    assert x8.shape == (1438, 8, 8, 1) and t8.shape == (359, 8, 8, 1) and x28.shape == (1438, 28, 28, 1)
    np.testing.assert_array_equal(y8, y28)
    np.testing.assert_array_equal(ty8, ty28)
    # Each 8x8 training image is one of sklearn's, scaled to [0, 1], with its label.
    lookup = {img.tobytes(): lab for img, lab in zip((sk.images / 16.0).astype(np.float32), sk.target)}
    assert all(lookup[img[..., 0].tobytes()] == lab for img, lab in zip(x8[:50], y8[:50]))
    (f8, oh), _ = datasets.digits(layout="8x8", flatten=True, one_hot=True, test_fraction=0.5, seed=3)
    assert f8.shape == (899, 64) and oh.shape == (899, 10) and np.all(oh.sum(1) == 1)
    with pytest.raises(ValueError, match="layout"):
        datasets.digits(layout="16x16")


# -- preprocessing ----------------------------------------------------------------------------
def test_standardize_and_min_max_match_sklearn() -> None:
    skp = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(4)
    train = rng.normal(3, 2, (20, 4))
    train[:, 2] = 5.0  # a constant feature: left unscaled, no NaN
    test = rng.normal(3, 2, (6, 4))
    scaled, mean, std = preprocessing.standardize(train, return_stats=True)
    sc = skp.StandardScaler().fit(train)
    np.testing.assert_allclose(scaled, sc.transform(train), atol=1e-12)
    np.testing.assert_allclose(
        preprocessing.standardize(test, mean=mean, std=std), sc.transform(test), atol=1e-12
    )
    mm, lo, hi = preprocessing.normalize_min_max(train, feature_range=(-1, 1), return_stats=True)
    ms = skp.MinMaxScaler(feature_range=(-1, 1)).fit(train)
    np.testing.assert_allclose(mm, ms.transform(train), atol=1e-12)
    np.testing.assert_allclose(
        preprocessing.normalize_min_max(test, (-1, 1), data_min=lo, data_max=hi),
        ms.transform(test),
        atol=1e-12,
    )
    images = rng.integers(0, 256, (3, 4, 4, 1)).astype(np.uint8)
    whole = preprocessing.standardize(images, axis=None)
    assert whole.dtype == np.float64
    np.testing.assert_allclose(whole, (images - images.mean()) / images.std())
    f32 = preprocessing.normalize_min_max(images.astype(np.float32), axis=None)
    assert f32.dtype == np.float32 and f32.min() == 0 and f32.max() == 1
    with pytest.raises(ValueError, match="feature_range"):
        preprocessing.normalize_min_max(train, (1, 0))


def test_one_hot() -> None:
    labels = np.array([[2, 0], [1, 2]])
    got = preprocessing.one_hot(labels)
    assert got.shape == (2, 2, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.eye(3)[labels])
    np.testing.assert_array_equal(
        preprocessing.one_hot([1.0, 3.0], 5, dtype=np.int64), np.eye(5, dtype=np.int64)[[1, 3]]
    )
    for bad, n in (([0, 3], 3), ([-1], 2), ([0.5], 2), (["a"], 2)):
        with pytest.raises(ValueError):
            preprocessing.one_hot(bad, n)
