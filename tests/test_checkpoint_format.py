"""Tests for graphc.train.checkpoint_format."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from graphc.train import checkpoint_format as ckpt

CheckpointError = ckpt.CheckpointError

NUMERIC_DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
]
SHAPES = [(), (0,), (7,), (3, 4), (2, 0, 3), (2, 3, 5)]


def _sample(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind == "f":
        return (rng.standard_normal(size=shape) * 100).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


def _dir_listing(directory: Path) -> set[str]:
    return set(os.listdir(directory))


def _tensor_entry(path: Path, name: str) -> tuple[dict, int]:
    """Parse the header by hand; returns (entry for name, data start)."""
    raw = path.read_bytes()
    (header_len,) = struct.unpack_from("<Q", raw, 12)
    header = json.loads(raw[20 : 20 + header_len])
    (entry,) = [e for e in header["tensors"] if e["name"] == name]
    return entry, 20 + header_len


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=lambda d: np.dtype(d).name)
def test_numeric_round_trip_all_shapes(tmp_path: Path, dtype: type) -> None:
    tensors = {f"t{i}": _sample(dtype, s, seed=i) for i, s in enumerate(SHAPES)}
    path = tmp_path / "model.ckpt"
    ckpt.write_checkpoint(str(path), tensors)
    loaded, meta = ckpt.read_checkpoint(str(path))
    assert meta == {}
    assert list(loaded) == list(tensors)
    for name, expected in tensors.items():
        got = loaded[name]
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert got.flags.writeable


def test_special_float_values_round_trip_bit_exact(tmp_path: Path) -> None:
    values = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], np.float32)
    path = tmp_path / "f.ckpt"
    ckpt.write_checkpoint(str(path), {"v": values})
    loaded, _ = ckpt.read_checkpoint(str(path))
    assert loaded["v"].tobytes() == values.tobytes()


def test_big_endian_and_non_contiguous_inputs(tmp_path: Path) -> None:
    big = np.arange(6, dtype=">i4").reshape(2, 3)
    strided = np.arange(24, dtype=np.float64).reshape(4, 6)[::2, ::-3]
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), {"big": big, "strided": strided})
    loaded, _ = ckpt.read_checkpoint(str(path))
    # Stored little-endian: values survive, byte order is normalised.
    assert loaded["big"].dtype == np.dtype("<i4")
    np.testing.assert_array_equal(loaded["big"], big)
    np.testing.assert_array_equal(loaded["strided"], strided)


def test_string_round_trip(tmp_path: Path) -> None:
    tensors = {
        "unicode": np.array([["ä", "", "日本語"], ["x", "yy", "z\nq"]]),
        "wide": np.array(["a", "b"], dtype="<U10"),
        "scalar": np.array("hello"),
        "empty": np.zeros((0, 2), dtype="<U4"),
        "bytes": np.array([b"a\x00b", b"", b"\xff\xfe"]),
        "bytes_scalar": np.array(b"raw"),
        "objects": np.array(["p", "qq"], dtype=object),
    }
    path = tmp_path / "s.ckpt"
    ckpt.write_checkpoint(str(path), tensors)
    loaded, _ = ckpt.read_checkpoint(str(path))
    for name, expected in tensors.items():
        got = loaded[name]
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected.astype(got.dtype), err_msg=name)
    # Original item sizes are preserved, not shrunk to the longest value.
    assert loaded["wide"].dtype == np.dtype("<U10")
    assert loaded["bytes"].dtype.kind == "S"
    assert loaded["objects"].dtype.kind == "U"
    listing = ckpt.list_checkpoint(str(path))
    assert listing["unicode"] == ("str", (2, 3))
    assert listing["scalar"] == ("str", ())


def test_meta_round_trip_and_numpy_scalars(tmp_path: Path) -> None:
    meta = {"global_step": np.int64(1200), "lr": np.float32(0.5), "tags": ["a"]}
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), {"w": np.ones(2, np.float32)}, meta)
    _, loaded_meta = ckpt.read_checkpoint(str(path))
    assert loaded_meta == {"global_step": 1200, "lr": 0.5, "tags": ["a"]}


def test_empty_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "empty.ckpt"
    ckpt.write_checkpoint(str(path), {}, {"note": "nothing"})
    assert ckpt.read_checkpoint(str(path)) == ({}, {"note": "nothing"})
    assert ckpt.list_checkpoint(str(path)) == {}


def test_accepts_path_objects(tmp_path: Path) -> None:
    path = tmp_path / "p.ckpt"
    ckpt.write_checkpoint(path, {"a": np.arange(3)})
    loaded, _ = ckpt.read_checkpoint(path)
    np.testing.assert_array_equal(loaded["a"], np.arange(3))


@pytest.mark.parametrize(
    "bad",
    [
        {"c": np.zeros(2, np.complex64)},
        {"o": np.array([1, "a"], dtype=object)},
        {"d": np.array(["2020-01-01"], dtype="datetime64[D]")},
    ],
    ids=["complex", "object", "datetime"],
)
def test_unsupported_dtype_writes_nothing(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(TypeError):
        ckpt.write_checkpoint(str(tmp_path / "x.ckpt"), bad)
    assert _dir_listing(tmp_path) == set()


def test_non_json_meta_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ckpt.write_checkpoint(str(tmp_path / "x.ckpt"), {}, {"loss": float("nan")})
    with pytest.raises(TypeError):
        ckpt.write_checkpoint(str(tmp_path / "x.ckpt"), {}, {"obj": object()})
    assert _dir_listing(tmp_path) == set()


# --------------------------------------------------------------------------
# Byte layout (the documented spec)
# --------------------------------------------------------------------------


def test_layout_matches_spec(tmp_path: Path) -> None:
    tensors = {
        "a": np.arange(5, dtype=np.float32),
        "b": np.array(True),
        "c": np.arange(12, dtype=np.int64).reshape(3, 4),
        "e": np.zeros((0,), np.float64),
        "s": np.array(["x"]),
    }
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), tensors, {"step": 3})
    raw = path.read_bytes()

    assert raw[:8] == b"GRAPHCKP"
    assert struct.unpack_from("<I", raw, 8) == (1,)
    (header_len,) = struct.unpack_from("<Q", raw, 12)
    data_start = 20 + header_len
    assert data_start % 64 == 0  # writer pads the header with spaces
    header = json.loads(raw[20:data_start].decode("utf-8"))
    assert set(header) == {"tensors", "meta"}
    assert header["meta"] == {"step": 3}
    assert [e["name"] for e in header["tensors"]] == list(tensors)

    by_name = {e["name"]: e for e in header["tensors"]}
    assert by_name["a"]["dtype"] == "<f4"
    assert by_name["b"]["dtype"] == "|b1"
    assert by_name["c"]["dtype"] == "<i8"
    assert by_name["b"]["shape"] == []
    assert by_name["c"]["shape"] == [3, 4]
    for name in ("a", "b", "c", "e"):
        entry = by_name[name]
        assert entry["offset"] % 64 == 0
        data = raw[data_start + entry["offset"] :][: entry["nbytes"]]
        assert data == tensors[name].tobytes(order="C")
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    # Tensors do not overlap and appear in order.
    assert by_name["b"]["offset"] >= by_name["a"]["offset"] + by_name["a"]["nbytes"]
    assert by_name["c"]["offset"] >= by_name["b"]["offset"] + by_name["b"]["nbytes"]
    assert by_name["s"]["dtype"] == "str"
    assert by_name["s"]["values"] == ["x"]
    assert by_name["s"]["offset"] is None
    # The file ends exactly where the last tensor (here the empty one) ends.
    assert by_name["e"]["offset"] >= by_name["c"]["offset"] + by_name["c"]["nbytes"]
    assert len(raw) == data_start + by_name["e"]["offset"]


def test_list_checkpoint_reads_only_header(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), {"w": np.zeros((3, 2), np.float32), "flag": np.array(False)})
    # Damage the tensor data: listing must still work, reading must not.
    entry, data_start = _tensor_entry(path, "w")
    raw = bytearray(path.read_bytes())
    raw[data_start + entry["offset"]] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert ckpt.list_checkpoint(str(path)) == {
        "w": ("<f4", (3, 2)),
        "flag": ("|b1", ()),
    }
    with pytest.raises(CheckpointError):
        ckpt.read_checkpoint(str(path))


# --------------------------------------------------------------------------
# Corruption
# --------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_corrupted_byte_names_tensor(tmp_path: Path, position: str) -> None:
    tensors = {
        "layer1/kernel": np.ones((4, 4), np.float32),
        "layer1/bias": np.arange(4, dtype=np.float32),
        "layer2/kernel": np.full((2, 3), 7, np.int16),
    }
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), tensors)
    entry, data_start = _tensor_entry(path, "layer1/bias")
    raw = bytearray(path.read_bytes())
    index = {"first": 0, "middle": entry["nbytes"] // 2, "last": entry["nbytes"] - 1}
    raw[data_start + entry["offset"] + index[position]] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch") as info:
        ckpt.read_checkpoint(str(path))
    message = str(info.value)
    assert "layer1/bias" in message
    assert "layer1/kernel" not in message
    assert str(path) in message


def test_corrupted_string_values_names_tensor(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), {"vocab": np.array(["apple", "pear"])})
    raw = path.read_bytes()
    assert raw.count(b'"apple"') == 1
    path.write_bytes(raw.replace(b'"apple"', b'"apply"'))
    with pytest.raises(CheckpointError, match=r"checksum mismatch.*vocab"):
        ckpt.read_checkpoint(str(path))


def test_checkpoint_error_is_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


def _full_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(
        str(path),
        {"a": np.arange(100, dtype=np.float64), "b": np.arange(10, dtype=np.int8)},
    )
    return path


@pytest.mark.parametrize("keep", [0, 4, 8, 12, 19, 20, 40, -200, -1])
def test_truncated_file(tmp_path: Path, keep: int) -> None:
    path = _full_file(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])
    with pytest.raises(CheckpointError, match="truncated") as info:
        ckpt.read_checkpoint(str(path))
    assert str(path) in str(info.value)


def test_truncated_file_listing(tmp_path: Path) -> None:
    path = _full_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CheckpointError, match="truncated"):
        ckpt.list_checkpoint(str(path))


def test_bad_magic(tmp_path: Path) -> None:
    path = _full_file(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[:8] = b"NOTACKPT"
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="bad magic"):
        ckpt.read_checkpoint(str(path))
    path.write_bytes(b"PK\x03")  # short and not a prefix of the magic
    with pytest.raises(CheckpointError, match="bad magic"):
        ckpt.read_checkpoint(str(path))


def test_unsupported_version(tmp_path: Path) -> None:
    path = _full_file(tmp_path)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 8, 2)
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="unsupported format version 2"):
        ckpt.read_checkpoint(str(path))


def test_garbage_header(tmp_path: Path) -> None:
    header = b"{not json"
    path = tmp_path / "g.ckpt"
    path.write_bytes(b"GRAPHCKP" + struct.pack("<IQ", 1, len(header)) + header)
    with pytest.raises(CheckpointError, match="header"):
        ckpt.read_checkpoint(str(path))


def test_header_nbytes_inconsistent_with_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), {"a": np.zeros(4, np.float32)})
    raw = path.read_bytes()
    patched = raw.replace(b'"shape":[4]', b'"shape":[5]')
    assert patched != raw
    path.write_bytes(patched)
    with pytest.raises(CheckpointError, match="nbytes"):
        ckpt.read_checkpoint(str(path))


# --------------------------------------------------------------------------
# Atomicity
# --------------------------------------------------------------------------


def _write_previous(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "model.ckpt"
    ckpt.write_checkpoint(str(path), {"w": np.zeros((64, 64), np.float32)}, {"v": 1})
    return path, path.read_bytes()


def _new_tensors() -> dict[str, np.ndarray]:
    return {
        "w": np.ones((64, 64), np.float32),
        "b": np.arange(1000, dtype=np.int64),
    }


def test_failed_replace_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, before = _write_previous(tmp_path)
    listing = _dir_listing(tmp_path)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        ckpt.write_checkpoint(str(path), _new_tensors(), {"v": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == listing
    assert ckpt.read_checkpoint(str(path))[1] == {"v": 1}


def test_failure_midway_through_data_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _write_previous(tmp_path)
    listing = _dir_listing(tmp_path)
    real_write = ckpt._write_bytes
    calls = {"n": 0}

    def flaky_write(f, data) -> None:  # type: ignore[no-untyped-def]
        calls["n"] += 1
        view = memoryview(data)
        if view.nbytes >= 8000:  # the big int64 tensor: write half, then die
            real_write(f, view[: view.nbytes // 2])
            raise OSError("disk full")
        real_write(f, data)

    monkeypatch.setattr(ckpt, "_write_bytes", flaky_write)
    with pytest.raises(OSError, match="disk full"):
        ckpt.write_checkpoint(str(path), _new_tensors())
    assert calls["n"] > 2  # really failed inside the data section
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == listing


def test_keyboard_interrupt_during_fsync_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, before = _write_previous(tmp_path)
    listing = _dir_listing(tmp_path)

    def interrupted_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        ckpt.write_checkpoint(str(path), _new_tensors())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == listing


def test_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(src: str, dst: str) -> None:
        raise OSError("nope")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        ckpt.write_checkpoint(str(tmp_path / "new.ckpt"), _new_tensors())
    monkeypatch.undo()
    assert _dir_listing(tmp_path) == set()


def test_overwrite_replaces_contents(tmp_path: Path) -> None:
    path, _ = _write_previous(tmp_path)
    ckpt.write_checkpoint(str(path), _new_tensors(), {"v": 2})
    loaded, meta = ckpt.read_checkpoint(str(path))
    assert meta == {"v": 2}
    np.testing.assert_array_equal(loaded["w"], np.ones((64, 64), np.float32))
    assert _dir_listing(tmp_path) == {"model.ckpt"}


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_file_is_not_private_and_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(str(path), {})
    assert path.stat().st_mode & 0o777 == 0o644
    os.chmod(path, 0o600)
    ckpt.write_checkpoint(str(path), {})
    assert path.stat().st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------
# State file
# --------------------------------------------------------------------------


def test_state_round_trip_stores_relative_paths(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    paths = [str(directory / f"model.ckpt-{step}") for step in (100, 200, 300)]
    ckpt.write_state(str(directory), paths[-1], paths)

    stored = json.loads((directory / "checkpoint").read_text())
    assert stored == {
        "model_checkpoint_path": "model.ckpt-300",
        "all_model_checkpoint_paths": [
            "model.ckpt-100",
            "model.ckpt-200",
            "model.ckpt-300",
        ],
    }
    state = ckpt.read_state(str(directory))
    assert state == {
        "model_checkpoint_path": paths[-1],
        "all_model_checkpoint_paths": paths,
    }
    assert all(os.path.isabs(p) for p in state["all_model_checkpoint_paths"])
    assert _dir_listing(directory) == {"checkpoint"}


def test_state_survives_moving_directory(tmp_path: Path) -> None:
    old = tmp_path / "old"
    ckpt.write_state(str(old), str(old / "sub" / "m-1"), [str(old / "sub" / "m-1")])
    new = tmp_path / "new"
    shutil.move(str(old), str(new))
    state = ckpt.read_state(str(new))
    assert state is not None
    assert state["model_checkpoint_path"] == str(new / "sub" / "m-1")


def test_state_outside_paths_stay_absolute_and_latest_appended(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "run"
    outside = str(tmp_path / "elsewhere" / "m-5")
    inside = str(directory / "m-6")
    ckpt.write_state(str(directory), inside, [outside])
    stored = json.loads((directory / "checkpoint").read_text())
    assert stored["all_model_checkpoint_paths"] == [outside, "m-6"]
    state = ckpt.read_state(str(directory))
    assert state is not None
    assert state["all_model_checkpoint_paths"] == [outside, inside]
    assert state["model_checkpoint_path"] == inside


def test_state_latest_moved_to_end(tmp_path: Path) -> None:
    d = tmp_path
    ckpt.write_state(str(d), str(d / "a"), [str(d / "a"), str(d / "b")])
    state = ckpt.read_state(str(d))
    assert state is not None
    assert state["all_model_checkpoint_paths"] == [str(d / "b"), str(d / "a")]


@pytest.mark.parametrize(
    "content",
    [
        b"{broken",
        b"[1, 2]",
        b'{"all_model_checkpoint_paths": []}',
        b'{"model_checkpoint_path": 3}',
        b'{"model_checkpoint_path": "a", "all_model_checkpoint_paths": [1]}',
        b"\xff\xfe",
    ],
)
def test_read_state_unreadable_returns_none(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "checkpoint").write_bytes(content)
    assert ckpt.read_state(str(tmp_path)) is None


def test_read_state_absent_returns_none(tmp_path: Path) -> None:
    assert ckpt.read_state(str(tmp_path)) is None
    assert ckpt.read_state(str(tmp_path / "does-not-exist")) is None


def test_write_state_failure_keeps_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt.write_state(str(tmp_path), str(tmp_path / "m-1"), [])
    before = (tmp_path / "checkpoint").read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("crash")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        ckpt.write_state(str(tmp_path), str(tmp_path / "m-2"), [])
    monkeypatch.undo()
    assert (tmp_path / "checkpoint").read_bytes() == before
    assert _dir_listing(tmp_path) == {"checkpoint"}
