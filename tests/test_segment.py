"""Shared-memory segments: what the trusted side checks before it takes a child's arrays, and what it refuses.

The child controls everything it writes: the message's index and the segment's bytes, before and after it
reports. These tests forge both at the protocol level (no sandbox needed): bounds, dtypes, shapes, keys, a
segment that is truncated or scribbled on after it was written.
"""

from __future__ import annotations

import errno
import os
import resource
import struct

import numpy as np
import pytest

from grader.layout import place
from grader.sandbox.protocol import ProtocolError, decode, encode
from grader.sandbox.segment import HEADER, THRESHOLD, SegmentError, copy_out, fill, map_in, reader, results, sealed, split

KEY = "a" * 32
CAP = 1 << 30


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return {"c0.k0.g0": np.arange(20000.0).reshape(200, 100), "c0.out": np.arange(12.0).reshape(3, 4),
            "idx": np.arange(9000, dtype=np.int64)}


@pytest.fixture
def written(arrays):
    """A result segment as the child leaves it, and the index its message carries."""
    fd = results(1 << 24)
    index = fill(fd, KEY, arrays)
    yield fd, index
    os.close(fd)


def test_only_large_arrays_go_to_the_segment(arrays):
    small, large = split(arrays)
    assert set(large) == {"c0.k0.g0", "idx"} and set(small) == {"c0.out"}
    assert all(a.nbytes >= THRESHOLD for a in large.values())


def test_a_result_segment_round_trips_through_a_message(arrays, written):
    fd, index = written
    small, large = split(arrays)
    message = encode({"nonce": KEY}, small, (KEY, {k: index[k] for k in large}))
    header, out = decode(message, 1 << 20, reader(fd, KEY, CAP))
    assert header == {"nonce": KEY} and set(out) == set(arrays)
    for name, value in arrays.items():
        assert out[name].dtype == value.dtype and np.array_equal(out[name], value)


def test_copied_arrays_do_not_change_when_the_segment_does(arrays, written):
    fd, index = written
    out = copy_out(fd, KEY, index, CAP)
    os.pwrite(fd, b"\xff" * 4096, index["c0.k0.g0"][2])
    os.ftruncate(fd, 0)
    assert np.array_equal(out["c0.k0.g0"], arrays["c0.k0.g0"])


def test_a_segment_truncated_after_reporting_is_refused_not_a_crash(written):
    fd, index = written
    os.ftruncate(fd, HEADER + 1000)  # the header survives; the arrays it indexes do not
    with pytest.raises(SegmentError, match="claims"):
        copy_out(fd, KEY, index, CAP)
    os.ftruncate(fd, 10)
    with pytest.raises(SegmentError, match="shorter than its header"):
        copy_out(fd, KEY, index, CAP)


def test_a_segment_that_shrinks_while_it_is_read_is_refused(written, monkeypatch):
    """Another process holding the descriptor truncates it between the size check and the copy."""
    fd, index = written
    real = os.preadv

    def shrinking(fd_: int, buffers: list, offset: int) -> int:
        os.ftruncate(fd_, HEADER)
        return real(fd_, buffers, offset)

    monkeypatch.setattr(os, "preadv", shrinking)
    with pytest.raises(SegmentError, match="shrank"):
        copy_out(fd, KEY, index, CAP)


def test_another_runs_segment_is_refused(written):
    fd, index = written
    with pytest.raises(SegmentError, match="another run"):
        copy_out(fd, "b" * 32, index, CAP)  # the header carries KEY's key
    with pytest.raises(SegmentError, match="another run"):
        decode(encode({}, {}, ("b" * 32, index)), 1 << 20, reader(fd, KEY, CAP))  # the message names another


def test_a_scribbled_header_is_refused(written):
    fd, index = written
    os.pwrite(fd, b"NOTASEG!", 0)
    with pytest.raises(SegmentError, match="no segment header"):
        copy_out(fd, KEY, index, CAP)


def test_a_header_claiming_more_than_the_file_or_the_cap_is_refused(written):
    fd, index = written
    magic, key, _ = struct.unpack_from("<8s16sQ", os.pread(fd, 32, 0))
    os.pwrite(fd, struct.pack("<8s16sQ", magic, key, 1 << 40), 0)
    with pytest.raises(SegmentError, match="claims"):
        copy_out(fd, KEY, index, CAP)
    os.pwrite(fd, struct.pack("<8s16sQ", magic, key, 1 << 20), 0)
    with pytest.raises(SegmentError, match="claims"):
        copy_out(fd, KEY, index, 1 << 16)


@pytest.mark.parametrize(("entry", "reason"), [
    (["<f8", [200, 100], 1 << 24], "outside"),               # offset past the end
    (["<f8", [2000, 1000], HEADER], "outside"),              # size past the end
    (["<f8", [10], 8], "outside"),                           # inside the header
    (["|O", [10], HEADER], "not a plain numeric dtype"),     # an object array: never unpickled
    (["<c16", [10], HEADER], "not a plain numeric dtype"),
    (["<f8", [-5, 4], HEADER], "bad shape"),
    (["<f8", "200x100", HEADER], "bad shape"),
])
def test_forged_index_entries_are_refused(written, entry, reason):
    fd, _ = written
    with pytest.raises(SegmentError, match=reason):
        decode(encode({}, {}, (KEY, {"c0.k0.g0": entry})), 1 << 20, reader(fd, KEY, CAP))


def test_a_forged_shape_or_dtype_within_bounds_reads_as_what_it_claims(arrays, written):
    """In bounds, a lie about shape or dtype only reinterprets the child's own bytes; the checks then see an
    array of the wrong shape or dtype (and fail the student), never memory outside the segment."""
    fd, index = written
    offset = index["c0.k0.g0"][2]
    out = copy_out(fd, KEY, {"g": ["<i8", [100, 200], offset]}, CAP)
    assert out["g"].shape == (100, 200) and out["g"].dtype == np.int64
    assert np.array_equal(out["g"].view(np.float64).reshape(-1), arrays["c0.k0.g0"].reshape(-1))


def test_a_message_that_names_a_segment_needs_one():
    with pytest.raises(ProtocolError, match="none came"):
        decode(encode({}, {}, (KEY, {})), 1 << 20)


def test_an_array_in_both_places_is_refused(arrays, written):
    fd, index = written
    with pytest.raises(ProtocolError, match="both"):
        decode(encode({}, {"idx": np.zeros(2)}, (KEY, index)), 1 << 20, reader(fd, KEY, CAP))


def test_job_segments_are_sealed_and_map_read_only(arrays):
    fd, index = sealed(KEY, arrays)
    try:
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", HEADER)
        with pytest.raises(PermissionError):
            os.ftruncate(fd, 0)
        mapped = map_in(fd, KEY, index)
        assert all(np.array_equal(mapped[k], v) for k, v in arrays.items())
        with pytest.raises(ValueError, match="read-only"):
            mapped["c0.out"][0, 0] = 1.0
    finally:
        os.close(fd)


def test_an_unsealed_segment_is_never_mapped(written):
    fd, index = written
    with pytest.raises(SegmentError, match="not sealed"):
        map_in(fd, KEY, index)


def test_results_that_do_not_fit_the_segment_are_refused_by_the_writer(arrays):
    fd = results(4096)
    try:
        with pytest.raises(SegmentError, match="do not fit"):
            fill(fd, KEY, arrays)
    finally:
        os.close(fd)


def test_result_segments_take_no_seals():
    """A child cannot seal its result segment to make the server or the grader fail on it."""
    import fcntl

    fd = results(4096)
    try:
        with pytest.raises(PermissionError) as raised:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        assert raised.value.errno == errno.EPERM
    finally:
        os.close(fd)


def test_results_beyond_the_file_size_limit_are_written_through_a_mapping(arrays):
    """The child's RLIMIT_FSIZE caps write(), not a mapping: results larger than the limit still arrive (in a
    forked process, so a wrong choice kills it with SIGXFSZ, not the test run)."""
    fd = results(1 << 24)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
                fill(fd, KEY, arrays)  # 230 KB of results against a 64 KiB limit
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        out = copy_out(fd, KEY, place(arrays, HEADER)[0], CAP)
        assert all(np.array_equal(out[k], v) for k, v in arrays.items())
    finally:
        os.close(fd)
