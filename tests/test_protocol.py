"""The wire format between grader, server and child: JSON header plus plain numeric arrays, framed."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from grader.sandbox.protocol import ProtocolError, decode, digest, encode, read_frame, write_frame


def test_round_trip_keeps_header_and_arrays():
    arrays = {"c0.a0": np.arange(6.0).reshape(2, 3), "c0.i": np.array([3, 1], dtype=np.int64),
              "flags": np.array([True, False]), "file.0": np.frombuffer(b"import torch\n", dtype=np.uint8)}
    header, out = decode(encode({"op": "run", "nested": {"k": [1, 2.5, None]}}, arrays), 1 << 20)
    assert header == {"op": "run", "nested": {"k": [1, 2.5, None]}}
    assert set(out) == set(arrays)
    for name, array in arrays.items():
        assert out[name].dtype == array.dtype and np.array_equal(out[name], array)


def test_header_only_message():
    assert decode(encode({"ok": True}), 1 << 10) == ({"ok": True}, {})


def _handmade(header: dict, body: bytes = b"") -> bytes:
    """A message as a hostile child could write it, bypassing encode's own checks."""
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + body


def test_object_arrays_are_refused_without_unpickling():
    blob = _handmade({"arrays": {"evil": ["|O", [1], 0]}, "groups": [["|O", 1]]}, b"\0" * 8)
    with pytest.raises(ProtocolError, match="bad arrays"):
        decode(blob, 1 << 20)


def test_string_arrays_are_refused():
    with pytest.raises(ProtocolError, match="non-numeric dtype"):
        encode({}, {"s": np.array(["a", "b"])})
    blob = _handmade({"arrays": {"s": ["<U1", [2], 0]}, "groups": [["<U1", 2]]}, b"a\0\0\0b\0\0\0")
    with pytest.raises(ProtocolError, match="not a plain numeric array"):
        decode(blob, 1 << 20)


@pytest.mark.parametrize("entry", [["<f8", [5], 0], ["<f8", [2], 2], ["<f8", [-1], 0], ["<i8", [1], 0], "junk",
                                   [["<f8"], [1], 0]])
def test_index_entries_outside_their_group_are_refused(entry):
    blob = _handmade({"arrays": {"x": entry}, "groups": [["<f8", 3]]}, np.zeros(3).tobytes())
    with pytest.raises(ProtocolError):
        decode(blob, 1 << 20)


@pytest.mark.parametrize(("groups", "body", "reason"), [
    ([["<f8", 4]], np.zeros(3).tobytes(), "longer than the message"),
    ([["<f8", 3]], np.zeros(4).tobytes(), "8 bytes after the last group"),
    ([["<f8", -1]], b"", "longer than the message"),
    ({"<f8": "g0"}, np.zeros(3).tobytes(), "not a list"),
    ([["f8", 3]], np.zeros(3).tobytes(), "not a plain numeric array"),
    ([["<f8", 3], ["<f8", 3]], np.zeros(6).tobytes(), "not a plain numeric array"),
    ([["i4,i4", 1]], b"\0" * 8, "not a plain numeric array"),
    ([["no such dtype", 1]], b"\0" * 8, "bad arrays"),
    ([["<f8"]], b"", "bad arrays"),
])
def test_groups_that_do_not_fill_the_message_exactly_are_refused(groups, body, reason):
    with pytest.raises(ProtocolError, match=reason):
        decode(_handmade({"arrays": {}, "groups": groups}, body), 1 << 20)


def test_decoded_arrays_are_aligned_and_writable_copies():
    sent = {"a": np.arange(3, dtype=np.uint8), "b": np.arange(5.0), "c": np.arange(2, dtype=np.int32)}
    blob = encode({}, sent)
    _, back = decode(blob, 1 << 20)
    for name, array in back.items():
        assert array.flags.aligned and array.flags.writeable, name
        array[...] = 0
    assert np.array_equal(decode(blob, 1 << 20)[1]["b"], sent["b"])  # the message itself is untouched


def test_many_arrays_of_several_dtypes_round_trip():
    arrays = {f"a{i}": np.arange(i + 1, dtype=np.float64).reshape(-1, 1) for i in range(50)}
    arrays["idx"] = np.array([[3, 1]], dtype=np.int64)
    arrays["bytes"] = np.frombuffer(b"hello", dtype=np.uint8)
    arrays["scalar"] = np.array(2.5)
    _, back = decode(encode({"k": 1}, arrays), 1 << 20)
    assert set(back) == set(arrays)
    for name, value in arrays.items():
        assert back[name].dtype == value.dtype and back[name].shape == value.shape
        assert np.array_equal(back[name], value)


@pytest.mark.parametrize(("blob", "reason"), [
    (b"", "empty message"),
    (b"\x00\x00\x00\x05hello", "bad header"),
    (b"\x00\x00\x00\x02[]", "not an object"),
    (b"\x00\x00\x00\x02{}garbage", "bad arrays"),
])
def test_malformed_messages_raise_protocol_errors(blob, reason):
    with pytest.raises(ProtocolError, match=reason):
        decode(blob, 1 << 20)


def test_oversized_message_is_refused():
    blob = encode({"pad": "x" * 100})
    with pytest.raises(ProtocolError, match="exceeds the cap"):
        decode(blob, 50)


def test_frames_round_trip_and_detect_truncation():
    stream = io.BytesIO()
    write_frame(stream, b"first")
    write_frame(stream, b"")
    write_frame(stream, b"third")
    stream.seek(0)
    assert [read_frame(stream, 100) for _ in range(3)] == [b"first", b"", b"third"]
    with pytest.raises(EOFError):
        read_frame(stream, 100)
    truncated = io.BytesIO(stream.getvalue()[:-2])
    read_frame(truncated, 100)
    read_frame(truncated, 100)
    with pytest.raises(EOFError):
        read_frame(truncated, 100)


def test_oversized_frame_is_refused_before_reading_it():
    stream = io.BytesIO()
    write_frame(stream, b"x" * 100)
    stream.seek(0)
    with pytest.raises(ProtocolError, match="exceeds the cap"):
        read_frame(stream, 10)


def test_digest_sees_values_dtype_and_shape():
    a = np.arange(6.0)
    assert digest(a) == digest(a.copy())
    assert digest(a) == digest(a[::-1][::-1])
    changed = a.copy()
    changed[3] += 1e-12
    assert digest(changed) != digest(a)
    assert digest(a.reshape(2, 3)) != digest(a)
    assert digest(a.astype(np.float32)) != digest(a)
    assert digest(a.reshape(2, 3).T) == digest(np.ascontiguousarray(a.reshape(2, 3).T))
