"""Malformed and hostile checkpoint files: every one raises DataLossError naming the file,
and reading never allocates more than the file's size can justify."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as tf
from graphc import errors
from graphc.train import checkpoint_format as ckpt

MAGIC = b"GRAPHCKP"
DEEP = 100_000


def _base(tmp_path: Path) -> tuple[dict, bytes]:
    """A valid file's parsed header and its data section."""
    path = tmp_path / "base.ckpt"
    ckpt.write_checkpoint(
        path,
        {
            "a": np.arange(128, dtype="<f4"),
            "b": np.arange(6, dtype="<i8").reshape(2, 3),
            "s": np.array(["x", "yz"]),
            "raw": np.array([b"ab"]),
            "e": np.zeros((0, 3), np.float32),
        },
        {"step": 1},
    )
    raw = path.read_bytes()
    (header_len,) = struct.unpack_from("<Q", raw, 12)
    return json.loads(raw[20 : 20 + header_len]), raw[20 + header_len :]


def _pack(header: bytes, data: bytes = b"", *, version: int = 1, header_len: int | None = None) -> bytes:
    length = len(header) if header_len is None else header_len
    return MAGIC + struct.pack("<IQ", version, length) + header + data


def _entry(header: dict, name: str) -> dict:
    return next(e for e in header["tensors"] if e["name"] == name)


def _string_sha(values: list) -> str:
    return hashlib.sha256(json.dumps(values, ensure_ascii=True, separators=(",", ":")).encode()).hexdigest()


Builder = Callable[[dict, bytes], bytes]


def _edit(mutate: Callable[[dict], Any]) -> Builder:
    """A file whose header is the valid one changed by ``mutate``."""

    def build(header: dict, data: bytes) -> bytes:
        mutate(header)
        return _pack(json.dumps(header).encode(), data)

    return build


def _set(tensor: str, **fields: Any) -> Builder:
    return _edit(lambda h: _entry(h, tensor).update(fields))


def _raw_header(text: bytes) -> Builder:
    return lambda header, data: _pack(text, data)


def _meta(text: bytes) -> Builder:
    return _raw_header(b'{"tensors":[],"meta":{"x":' + text + b"}}")


def _flip_data_byte(header: dict, data: bytes) -> bytes:
    raw = bytearray(data)
    raw[_entry(header, "b")["offset"] + 3] ^= 0x10
    return _pack(json.dumps(header).encode(), bytes(raw))


def _bad_base64(header: dict) -> None:
    _entry(header, "raw").update(values=["!!!!"], sha256=_string_sha(["!!!!"]))


def _overlap_partly(header: dict) -> None:
    # "a" holds bytes [0, 512); "b" now starts inside it.
    _entry(header, "b")["offset"] = 448


# (id, builder, detected from the header alone, i.e. list_checkpoint fails too)
CASES: list[tuple[str, Builder, bool]] = [
    # preamble
    ("empty file", lambda h, d: b"", True),
    ("short magic", lambda h, d: b"GRAPH", True),
    ("magic only", lambda h, d: MAGIC, True),
    ("truncated version", lambda h, d: MAGIC + b"\x01\x00", True),
    ("wrong magic", lambda h, d: b"NOTACKPT" + _pack(json.dumps(h).encode(), d)[8:], True),
    ("version 0", lambda h, d: _pack(json.dumps(h).encode(), d, version=0), True),
    ("version 2", lambda h, d: _pack(json.dumps(h).encode(), d, version=2), True),
    ("version max", lambda h, d: _pack(json.dumps(h).encode(), d, version=2**32 - 1), True),
    ("header length past EOF", lambda h, d: _pack(b"{}", header_len=3), True),
    ("header length 2**63", lambda h, d: _pack(b"{}", header_len=2**63), True),
    ("header length 2**64-1", lambda h, d: _pack(b"{}", header_len=2**64 - 1), True),
    # header syntax
    ("empty header", _raw_header(b""), True),
    ("not JSON", _raw_header(b"{not json"), True),
    ("not UTF-8", _raw_header(b'{"tensors":[],"meta":{"x":"\xff"}}'), True),
    ("trailing garbage", _raw_header(b'{"tensors":[],"meta":{}} x'), True),
    ("header is a list", _raw_header(b"[]"), True),
    ("header is null", _raw_header(b"null"), True),
    ("deep lists", _raw_header(b"[" * DEEP + b"]" * DEEP), True),
    ("deep objects", _raw_header(b'{"a":' * DEEP + b"1" + b"}" * DEEP), True),
    ("deep unclosed", _raw_header(b"[" * DEEP), True),
    ("deep in meta", _meta(b"[" * DEEP + b"]" * DEEP), True),
    ("deep after escaped quote", _meta(b'"\\"' + b"[" * DEEP), True),
    ("duplicate key", _raw_header(b'{"tensors":[],"meta":{},"meta":{}}'), True),
    ("duplicate key in entry", _raw_header(b'{"tensors":[{"name":"a","name":"b"}],"meta":{}}'), True),
    ("int with 5000 digits", _meta(b"9" * 5000), True),
    ("int 2**63", _meta(str(2**63).encode()), True),
    ("int -2**63-1", _meta(str(-(2**63) - 1).encode()), True),
    ("NaN", _meta(b"NaN"), True),
    ("Infinity", _meta(b"-Infinity"), True),
    ("float overflow", _meta(b"1e999"), True),
    # header structure
    ("no tensors", _raw_header(b'{"meta":{}}'), True),
    ("tensors is an object", _raw_header(b'{"tensors":{},"meta":{}}'), True),
    ("meta is a list", _edit(lambda h: h.update(meta=[])), True),
    ("entry is a number", _edit(lambda h: h.update(tensors=[1])), True),
    ("entry without name", _edit(lambda h: _entry(h, "a").pop("name")), True),
    ("name is a number", _set("a", name=7), True),
    ("duplicate names", _set("b", name="a"), True),
    # shapes
    ("huge dims", _set("e", shape=[0, 10**30]), True),
    ("huge dims, zero elements", _set("e", shape=[0, 2**62, 2**62]), True),
    ("huge dims, matching nbytes", _set("a", shape=[2**40], nbytes=2**42), True),
    ("huge dims, nbytes mismatch", _set("a", shape=[2**62, 2**62]), True),
    ("negative dims", _set("a", shape=[-1, -128]), True),
    ("float dims", _set("a", shape=[128.0]), True),
    ("bool dims", _set("b", shape=[True, 6]), True),
    ("string dims", _set("a", shape=["128"]), True),
    ("shape is null", _set("a", shape=None), True),
    ("33 dims", _set("e", shape=[0] + [1] * 32), True),
    # numeric entries
    ("shape/nbytes mismatch", _set("a", shape=[129]), True),
    ("nbytes short", _set("a", nbytes=508), True),
    ("nbytes float", _set("a", nbytes=512.0), True),
    ("nbytes bool", _set("e", nbytes=False), True),
    ("nbytes negative", _set("e", nbytes=-1), True),
    ("offset negative", _set("b", offset=-64), True),
    ("offset unaligned", _set("b", offset=520), True),
    ("offset float", _set("b", offset=512.0), True),
    ("offset bool", _set("a", offset=False), True),
    ("offset null", _set("a", offset=None), True),
    ("offset past EOF", _set("b", offset=2**40), True),
    ("offset 2**63-64", _set("b", offset=2**63 - 64), True),
    ("offsets overlap", _set("b", offset=0), True),
    ("offsets overlap partly", _edit(_overlap_partly), True),
    ("unsupported dtype", _set("a", dtype="<c8"), True),
    ("big-endian dtype", _set("a", dtype=">f4"), True),
    ("object dtype", _set("a", dtype="|O"), True),
    ("sha256 upper case", _set("a", sha256="A" * 64), True),
    ("sha256 short", _set("a", sha256="a" * 63), True),
    ("sha256 missing", _edit(lambda h: _entry(h, "a").pop("sha256")), True),
    ("sha256 mismatch", _flip_data_byte, False),
    ("data truncated", lambda h, d: _pack(json.dumps(h).encode(), d[:-1]), True),
    ("data truncated inside a tensor", lambda h, d: _pack(json.dumps(h).encode(), d[:100]), True),
    # string entries
    ("huge string width", _set("s", string_dtype="<U999999999"), True),
    ("string width numpy accepts", _set("s", string_dtype="<U536870911"), True),
    ("string width past 256x file", _set("s", string_dtype="<U1000000"), True),
    ("string width 0", _set("raw", string_dtype="|S0"), True),
    ("string width with 11 digits", _set("s", string_dtype="<U00000000005"), True),
    ("string dtype without byte order", _set("s", string_dtype="U5"), True),
    ("string dtype numeric", _set("s", string_dtype="<f4"), True),
    ("string dtype is a list", _set("s", string_dtype=["<U5"]), True),
    ("too few string values", _set("s", values=["x"]), True),
    ("too many string values", _set("s", values=["x", "yz", "w"]), True),
    ("string values not strings", _set("s", values=[1, 2]), True),
    ("string values missing", _edit(lambda h: _entry(h, "s").pop("values")), True),
    ("string zero elements, huge dims", _set("s", shape=[0, 2**62], values=[]), True),
    ("string offset not null", _set("s", offset=0), True),
    ("string nbytes not 0", _set("s", nbytes=8), True),
    ("string sha256 mismatch", _set("s", values=["x", "zz"]), False),
    ("string wider than its dtype", _set("s", string_dtype="<U1"), False),
    ("bad base64", _edit(_bad_base64), False),
]


def test_base_file_is_valid(tmp_path: Path) -> None:
    # The crafted files below differ from this valid one only where each case says.
    header, data = _base(tmp_path)
    path = tmp_path / "same.ckpt"
    path.write_bytes(_pack(json.dumps(header).encode(), data))
    tensors, meta = ckpt.read_checkpoint(path)
    assert meta == {"step": 1}
    np.testing.assert_array_equal(tensors["a"], np.arange(128, dtype=np.float32))
    assert list(tensors["s"]) == ["x", "yz"]


@pytest.mark.parametrize("build, header_level", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_crafted_file_raises_data_loss_naming_the_file(
    tmp_path: Path, build: Builder, header_level: bool
) -> None:
    header, data = _base(tmp_path)
    path = tmp_path / "crafted.ckpt"
    path.write_bytes(build(copy.deepcopy(header), data))
    with pytest.raises(errors.DataLossError) as info:
        ckpt.read_checkpoint(str(path))
    assert str(path) in str(info.value)
    assert isinstance(info.value, ckpt.CheckpointError)
    if header_level:
        with pytest.raises(errors.DataLossError) as info:
            ckpt.list_checkpoint(str(path))
        assert str(path) in str(info.value)


def test_truncated_at_every_byte(tmp_path: Path) -> None:
    src = tmp_path / "full.ckpt"
    ckpt.write_checkpoint(src, {"w": np.arange(20, dtype=np.float64), "s": np.array(["ab"])}, {"k": [1]})
    raw = src.read_bytes()
    path = tmp_path / "cut.ckpt"
    for keep in range(len(raw)):
        path.write_bytes(raw[:keep])
        with pytest.raises(errors.DataLossError, match="truncated|magic|header") as info:
            ckpt.read_checkpoint(path)
        assert str(path) in str(info.value), keep


def test_corrupting_any_byte_gives_data_loss_or_a_valid_read(tmp_path: Path) -> None:
    src = tmp_path / "full.ckpt"
    ckpt.write_checkpoint(src, {"w": np.arange(3, dtype=np.int16), "s": np.array(["a"])}, {"k": 1})
    raw = src.read_bytes()
    path = tmp_path / "fuzzed.ckpt"
    rng = random.Random(0)
    substitutes = [0xFF, ord("["), ord('"'), ord("\\"), ord("9")]
    for i in range(len(raw)):
        for value in [*substitutes, raw[i] ^ (1 << rng.randrange(8))]:
            if value == raw[i]:
                continue
            mutated = bytearray(raw)
            mutated[i] = value
            path.write_bytes(bytes(mutated))
            try:
                ckpt.read_checkpoint(path)
            except errors.DataLossError as exc:
                assert str(path) in str(exc), (i, value)


def test_restore_of_a_crafted_file_raises_data_loss(tmp_path: Path) -> None:
    tf.Variable(np.zeros(2, np.float32), name="v")
    saver = tf.train.Saver()
    path = tmp_path / "deep.ckpt"
    path.write_bytes(_pack(b"[" * DEEP + b"]" * DEEP))
    with tf.Session() as sess, pytest.raises(errors.DataLossError, match="deep.ckpt"):
        saver.restore(sess, str(path))


def test_checkpoint_error_is_data_loss_and_value_error() -> None:
    assert issubclass(ckpt.CheckpointError, errors.DataLossError)
    assert issubclass(ckpt.CheckpointError, ValueError)
    assert ckpt.CheckpointError("x").error_code == errors.DataLossError.error_code


# --------------------------------------------------------------------------
# Allocation bounds
# --------------------------------------------------------------------------

HUGE = [
    ("string width 2 GB", _set("s", string_dtype="<U536870911"), True),
    ("string width 4 MB per value", _set("s", string_dtype="<U1000000"), True),
    ("1 TB tensor", _set("a", shape=[2**38], nbytes=2**40), True),
    ("far offset", _set("b", offset=2**62), True),
    # Valid: a tensor with no elements allocates nothing, whatever its other dims.
    ("1 TB zero-element tensor", _set("e", shape=[0, 2**38]), False),
]


@pytest.mark.parametrize("build, malformed", [c[1:] for c in HUGE], ids=[c[0] for c in HUGE])
def test_huge_declared_sizes_allocate_little(tmp_path: Path, build: Builder, malformed: bool) -> None:
    header, data = _base(tmp_path)
    path = tmp_path / "huge.ckpt"
    path.write_bytes(build(header, data))
    assert path.stat().st_size < 2048
    ckpt.read_checkpoint(tmp_path / "base.ckpt")  # warm up caches before measuring
    tracemalloc.start()
    try:
        if malformed:
            with pytest.raises(errors.DataLossError):
                ckpt.read_checkpoint(path)
        else:
            assert ckpt.read_checkpoint(path)[0]["e"].shape == (0, 2**38)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024


def test_deep_nesting_allocates_a_small_multiple_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.ckpt"
    path.write_bytes(_pack(b"[" * DEEP + b"]" * DEEP))
    tracemalloc.start()
    try:
        with pytest.raises(errors.DataLossError, match="nested"):
            ckpt.read_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * path.stat().st_size


def test_string_size_rule_is_the_same_for_writer_and_reader(tmp_path: Path) -> None:
    # Short values in a wide dtype: 5001 items of 20000 bytes from a file of ~35 KB.
    padded = np.array(["x" * 5000] + [""] * 5000)
    with pytest.raises(ValueError, match="256 times"):
        ckpt.write_checkpoint(tmp_path / "wide.ckpt", {"s": padded})
    assert list(tmp_path.iterdir()) == []
    # Modest padding is fine and keeps its item size.
    ckpt.write_checkpoint(tmp_path / "ok.ckpt", {"s": np.array(["a", "b"], dtype="<U200")})
    tensors, _ = ckpt.read_checkpoint(tmp_path / "ok.ckpt")
    assert tensors["s"].dtype == np.dtype("<U200")


# --------------------------------------------------------------------------
# JSON rules: the writer refuses what the reader rejects
# --------------------------------------------------------------------------


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_meta_at_the_depth_limit_round_trips(tmp_path: Path) -> None:
    # header object -> meta object -> 62 lists = 64 levels.
    tricky = '"[[[{{\\"\\\\' * 200  # brackets, quotes and backslashes inside a string
    meta = {"deep": _nested(62), "tricky": tricky, "[[[": {"]]": -(2**63)}}
    path = tmp_path / "m.ckpt"
    ckpt.write_checkpoint(path, {'[[["\\': np.zeros(1)}, meta)
    tensors, loaded = ckpt.read_checkpoint(path)
    assert loaded == meta
    assert list(tensors) == ['[[["\\']


@pytest.mark.parametrize(
    "meta",
    [{"deep": _nested(63)}, {"big": 2**63}, {"u64": np.uint64(2**64 - 1)}, {"deeper": _nested(5000)}],
    ids=["depth 65", "int 2**63", "uint64 max", "depth 5001"],
)
def test_writer_refuses_meta_the_reader_rejects(tmp_path: Path, meta: dict) -> None:
    with pytest.raises(ValueError, match="meta"):
        ckpt.write_checkpoint(tmp_path / "m.ckpt", {}, meta)
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_more_than_32_dims(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32"):
        ckpt.write_checkpoint(tmp_path / "m.ckpt", {"t": np.zeros((1,) * 33)})
    ckpt.write_checkpoint(tmp_path / "m.ckpt", {"t": np.zeros((1,) * 32)})
    assert ckpt.list_checkpoint(tmp_path / "m.ckpt")["t"][1] == (1,) * 32


def _depth(obj: Any) -> int:
    if isinstance(obj, list):
        return 1 + max((_depth(v) for v in obj), default=0)
    if isinstance(obj, dict):
        return 1 + max((_depth(v) for v in obj.values()), default=0)
    return 0


@pytest.mark.parametrize("chunk, count", [(1, 40), (5, 150), (1 << 16, 300)])
def test_depth_scan_matches_json_nesting(monkeypatch: pytest.MonkeyPatch, chunk: int, count: int) -> None:
    # The scan works in chunks; small chunks put every boundary case between two chunks.
    monkeypatch.setattr(ckpt, "_DEPTH_CHUNK", chunk)
    rng = random.Random(chunk)
    alphabet = ["[", "]", "{", "}", '"', "\\", "a", " ", "é", "\n"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def value(level: int) -> Any:
        r = rng.random()
        if level > 8 or r < 0.3:
            return rng.choice([text(), 1, None, 2.5, True])
        if r < 0.65:
            return [value(level + 1) for _ in range(rng.randint(0, 3))]
        return {text(): value(level + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(count):
        obj = value(0)
        for ascii_only in (True, False):
            raw = json.dumps(obj, ensure_ascii=ascii_only).encode()
            depth = _depth(obj)
            assert not ckpt._json_depth_exceeds(raw, depth), raw
            assert depth == 0 or ckpt._json_depth_exceeds(raw, depth - 1), raw


# --------------------------------------------------------------------------
# State file
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"model_checkpoint_path":' + b"[" * DEEP,
        b'{"model_checkpoint_path": NaN}',
    ],
    ids=["deep", "deep unclosed", "NaN"],
)
def test_read_state_of_a_hostile_file_returns_none(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "checkpoint").write_bytes(content)
    assert ckpt.read_state(tmp_path) is None


def test_read_state_of_a_huge_file_returns_none(tmp_path: Path) -> None:
    state = {"model_checkpoint_path": "m", "all_model_checkpoint_paths": ["m"]}
    text = json.dumps(state).encode()
    (tmp_path / "checkpoint").write_bytes(text + b" " * (16 << 20))
    assert ckpt.read_state(tmp_path) is None
    (tmp_path / "checkpoint").write_bytes(text + b" " * 1000)
    assert ckpt.read_state(tmp_path)["model_checkpoint_path"] == str(tmp_path / "m")


# --------------------------------------------------------------------------
# Temporary files
# --------------------------------------------------------------------------


def test_cleanup_leaves_the_temp_file_of_a_write_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m-1"
    real_write = ckpt._write_bytes
    seen: list[tuple[list[str], list[str]]] = []

    def write_and_clean(f: Any, data: Any) -> None:
        # Another saver of the same prefix cleans up while this write is halfway.
        real_write(f, data)
        if not seen:
            present = sorted(p.name for p in tmp_path.iterdir())
            seen.append((present, ckpt.remove_stale_temp_files(tmp_path, re.compile(r"m-\d+"))))

    monkeypatch.setattr(ckpt, "_write_bytes", write_and_clean)
    ckpt.write_checkpoint(path, {"w": np.arange(4.0)})
    present, removed = seen[0]
    assert len(present) == 1 and present[0].startswith(".m-1.") and present[0].endswith(".tmp")
    assert removed == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-1"]
    np.testing.assert_array_equal(ckpt.read_checkpoint(path)[0]["w"], np.arange(4.0))
