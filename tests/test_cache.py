"""The case cache on disk: what a fresh process reads back is what was computed, mapped read-only; a damaged
file is a miss, never an error."""

from __future__ import annotations

import numpy as np
import pytest

from grader import cache
from grader.cases import build_cases, forget
from grader.reference import compute_cases
from grader.spec import load_exercise

SEED = 91


@pytest.fixture
def linear(course):
    exercise = load_exercise(course, "ex04_linear")
    return exercise, [t.name for t in exercise.targets].index("Linear")


def _same(a, b) -> None:
    assert all(np.array_equal(x, y) for x, y in zip(a.args, b.args, strict=True))
    assert np.array_equal(a.output, b.output)
    assert all(np.array_equal(x, y) for x, y in zip(a.upstream, b.upstream, strict=True))
    for want, got in zip((*a.expected, a.expected_ones), (*b.expected, b.expected_ones), strict=True):
        assert all((w is None and g is None) or np.array_equal(w, g) for w, g in zip(want, got, strict=True))
    assert a.coordinates == b.coordinates and set(a.directions) == set(b.directions)
    for ai, dirs in a.directions.items():
        assert all(np.array_equal(v, w) for v, w in zip(dirs, b.directions[ai], strict=True))


def test_a_fresh_process_reads_back_the_computed_cases(course, linear):
    exercise, index = linear
    fresh = compute_cases(exercise, index, SEED, 3)
    build_cases(exercise, index, SEED, 3)  # computed and saved
    forget()  # as in the next `grade`: nothing in memory
    loaded = build_cases(exercise, index, SEED, 3)
    for a, b in zip(fresh, loaded, strict=True):
        _same(a, b)  # the unit directions e_i, not stored, are rebuilt from their index
    with pytest.raises(ValueError, match="read-only"):
        loaded[0].args[0][0, 0] = 1.0  # mapped from the file: no check can change a reference by accident


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_cache_file_is_a_miss(course, linear, damage):
    exercise, index = linear
    name = cache.key(exercise, exercise.targets[index], SEED + 1, 3)
    build_cases(exercise, index, SEED + 1, 3)
    path = cache.directory() / f"{name}.arrays"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"x" * len(data), "empty": b""}[damage])
    assert cache.load(name, exercise.targets[index]) is None
    forget()
    for a, b in zip(compute_cases(exercise, index, SEED + 1, 3), build_cases(exercise, index, SEED + 1, 3),
                    strict=True):
        _same(a, b)
