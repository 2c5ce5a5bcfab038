"""Arrays laid out flat: the index a reader checks before it believes a byte of the buffer."""

from __future__ import annotations

import numpy as np
import pytest

from grader.layout import ALIGN, LayoutError, entries, place, views


def test_arrays_are_placed_aligned_and_read_back_as_views():
    arrays = {"x": np.arange(10.0).reshape(2, 5), "i": np.array([3, 1], dtype=np.int64),
              "flag": np.array([True, False, True]), "half": np.ones(3, dtype=np.float16), "empty": np.zeros((0, 4))}
    index, end = place(arrays, 64)
    assert all(entry[2] % ALIGN == 0 for entry in index.values())
    buffer = bytearray(end)
    for name, arr in arrays.items():
        buffer[index[name][2]:index[name][2] + arr.nbytes] = arr.tobytes()
    back = views(bytes(buffer), entries(index, 64, end))
    for name, arr in arrays.items():
        assert back[name].dtype == arr.dtype and back[name].shape == arr.shape and np.array_equal(back[name], arr)


def test_only_plain_numbers_can_be_placed():
    with pytest.raises(LayoutError, match="non-numeric"):
        place({"s": np.array(["a"])}, 64)
    with pytest.raises(LayoutError, match="non-numeric"):
        place({"o": np.array([{}], dtype=object)}, 64)


@pytest.mark.parametrize(("entry", "reason"), [
    (["|O", [1], 64], "not a plain numeric dtype"),            # an object array would need unpickling
    (["<U1", [1], 64], "not a plain numeric dtype"),
    (["f8", [1], 64], "not a plain numeric dtype"),             # only canonical type strings
    (["<f8,<f8", [1], 64], "not a plain numeric dtype"),        # no structures
    (["(2,)<f8", [1], 64], "not a plain numeric dtype"),        # no sub-arrays
    (["a", [1], 64], "not a plain numeric dtype"),              # never handed to numpy's parser
    ([8, [1], 64], "not a plain numeric dtype"),
    (["<f8", [-1], 64], "bad shape"),
    (["<f8", [True], 64], "bad shape"),
    (["<f8", [1.5], 64], "bad shape"),
    (["<f8", "12", 64], "bad shape"),
    (["<f8", [1] * 33, 64], "bad shape"),
    (["<f8", [1], 0], "outside"),                               # inside the header
    (["<f8", [1], -8], "outside"),
    (["<f8", [1], 1024 - 4], "outside"),                        # runs past the end
    (["<f8", [200], 64], "outside"),                            # 1600 bytes in a 1024-byte buffer
    (["<f8", [2**40, 2**40], 64], "outside"),                   # a size no machine word would hold
    (["<f8", [1], "64"], "outside"),
    (["<f8", [1], True], "outside"),
    (["<f8", [1]], "bad index entry"),
    ("junk", "bad index entry"),
])
def test_forged_index_entries_are_refused(entry, reason):
    with pytest.raises(LayoutError, match=reason):
        entries({"x": entry}, 64, 1024)


def test_an_index_that_repeats_one_region_cannot_make_the_reader_copy_more_than_the_buffer():
    """Each entry lies inside the buffer, but a thousand of them would make a copying reader allocate ~1000×."""
    index = {f"x{i}": ["<f8", [100], 64] for i in range(1000)}
    with pytest.raises(LayoutError, match="add up to more"):
        entries(index, 64, 1024)


def test_the_index_itself_must_be_an_object():
    with pytest.raises(LayoutError, match="not an object"):
        entries([["<f8", [1], 64]], 64, 1024)
