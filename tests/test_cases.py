"""Cases: seeded inputs from each argument's domain, the reference answers, upstream gradients, directions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.cases import LINEAR_MIX, build_cases
from grader.errors import SpecError
from grader.reference import compute_cases
from grader.spec import load_course, load_exercise

CUSTOM = """\
id: ex01
title: Custom targets for the case generator
module: custom.py
targets:
  - name: Gather
    reference: x[idx]
    args:
      - name: x
        domain: {dist: normal, distinct: true, margin: 0.2}
      - name: idx
        kind: index
        high: x.0
    points: {autograd: 1}
    cases:
      - name: c1
        shapes: {x: [6], idx: [9]}
  - name: Kinks
    reference: F.relu(x) + F.relu(x - 1) * s
    args:
      - name: x
        domain: {dist: uniform, low: -2.0, high: 3.0, avoid: [0.0, 1.0], margin: 0.1}
      - name: s
        kind: value
        default: 2.0
    points: {autograd: 1}
    cases:
      - name: c1
        shapes: {x: [40, 50]}
      - name: c2
        shapes: {x: [3]}
        values: {s: 0.5}
  - name: Broken
    reference: x @ x
    args:
      - name: x
    points: {autograd: 1}
    cases:
      - name: c1
        shapes: {x: [2, 3]}
  - name: NotPython
    reference: "x +"
    args:
      - name: x
    points: {autograd: 1}
    cases:
      - name: c1
        shapes: {x: [2]}
"""


@pytest.fixture
def custom(tmp_path: Path):
    (tmp_path / "course.yaml").write_text(textwrap.dedent("""\
        id: custom
        title: Custom
        exercises: [ex01_custom]
        defaults: {seed: 5, grad_outputs: 4}
        """))
    folder = tmp_path / "exercises" / "ex01_custom"
    folder.mkdir(parents=True)
    (folder / "exercise.yaml").write_text(CUSTOM)
    course = load_course(tmp_path)
    return course, load_exercise(course, "ex01_custom")


@pytest.fixture(scope="module")
def linear(course):
    exercise = load_exercise(course, "ex04_linear", hidden=True)
    return exercise, exercise.targets[1], build_cases(exercise, 1, course.seed, course.grad_outputs)


def test_same_seed_same_cases_other_seed_other_cases(course):
    exercise = load_exercise(course, "ex04_linear")
    first, again, other = (compute_cases(exercise, 1, seed, 3) for seed in (11, 11, 12))
    for a, b, c in zip(first, again, other, strict=True):
        for x, y, z in zip(a.args, b.args, c.args, strict=True):
            assert np.array_equal(x, y) and not np.array_equal(x, z)
        assert all(np.array_equal(u, v) for u, v in zip(a.upstream, b.upstream, strict=True))


def test_cases_differ_between_targets_and_case_names(course):
    exercise = load_exercise(course, "ex04_linear")
    matmul, linear = compute_cases(exercise, 0, 1, 3), compute_cases(exercise, 1, 1, 3)
    assert not np.array_equal(matmul[0].args[0][:3, :3], linear[0].args[0][:3, :3])


def test_cache_returns_the_same_cases(course, case_cache):
    exercise = load_exercise(course, "ex02_elementwise")
    fresh = compute_cases(exercise, 3, 77, 3)
    before = set(case_cache.iterdir())
    first = build_cases(exercise, 3, 77, 3)
    assert len(set(case_cache.iterdir()) - before) == 1
    cached = build_cases(exercise, 3, 77, 3)
    for a, b, c in zip(fresh, first, cached, strict=True):
        assert a.spec == b.spec == c.spec
        assert a.args[1] == c.args[1] == a.spec.values["p"]  # python values survive the cache
        assert np.array_equal(a.args[0], c.args[0]) and np.array_equal(a.output, c.output)
        assert all(np.array_equal(u, v) for u, v in zip(a.upstream, c.upstream, strict=True))
        for want, got in zip((*a.expected, a.expected_ones), (*c.expected, c.expected_ones), strict=True):
            assert [g is None for g in got] == [w is None for w in want]
            assert all(np.array_equal(w, g) for w, g in zip(want, got, strict=True) if w is not None)
        assert c.coordinates == a.coordinates


def test_upstream_gradients_are_random_plus_their_linear_mix(linear, course):
    _, _, cases = linear
    for case in cases:
        assert len(case.upstream) == course.grad_outputs + 1 and case.random_calls == course.grad_outputs
        for u in case.upstream:
            assert u.shape == case.output.shape and u.dtype == np.float64
            assert not np.allclose(u, 1.0)
        assert not np.allclose(case.upstream[0], case.upstream[1])
        alpha, beta = LINEAR_MIX
        assert np.allclose(case.upstream[-1], alpha * case.upstream[0] + beta * case.upstream[1])


def test_expected_vjps_are_the_linear_layer_gradients(linear):
    _, target, cases = linear
    assert [a.name for a in target.args] == ["x", "weight", "bias"]
    for case in cases:
        x, weight, bias = case.args
        assert np.allclose(case.output, x @ weight.T + bias)
        for u, (gx, gw, gb) in zip(case.upstream, case.expected, strict=True):
            assert np.allclose(gx, u @ weight) and np.allclose(gw, u.T @ x) and np.allclose(gb, u.sum(0))
        ones = np.ones_like(case.output)
        assert np.allclose(case.expected_ones[2], ones.sum(0))


def test_shapes_of_ex04_are_all_different_so_a_transpose_shows(linear):
    _, _, cases = linear
    for case in cases:
        n, i = case.spec.shapes["x"]
        o, _ = case.spec.shapes["weight"]
        assert len({n, i, o}) == 3


def test_finite_difference_directions(linear):
    _, target, cases = linear
    for case in cases:
        for ai, arg in enumerate(target.args):
            dirs, coords = case.directions[ai], case.coordinates[ai]
            assert len(dirs) == len(coords) == target.fd.directions + min(target.fd.coordinates, case.args[ai].size)
            for v, coord in zip(dirs, coords, strict=True):
                assert v.shape == case.args[ai].shape and np.isclose(np.linalg.norm(v), 1.0)
                if coord is not None:
                    assert v.reshape(-1)[coord] == 1.0 and np.count_nonzero(v) == 1
            assert coords[: target.fd.directions] == (None,) * target.fd.directions, arg.name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_inputs_keep_away_from_kinks_and_stay_in_their_domain(custom, seed):
    course, exercise = custom
    cases = build_cases(exercise, 1, seed, course.grad_outputs)
    x = np.concatenate([c.args[0].reshape(-1) for c in cases])
    assert x.size == 40 * 50 + 3
    assert np.all(np.abs(x) >= 0.1) and np.all(np.abs(x - 1.0) >= 0.1)
    assert np.all((x >= -2.0) & (x <= 3.0))
    assert [c.args[1] for c in cases] == [2.0, 0.5]  # the value default, then the case's value
    assert all(c.expected[0][1] is None and c.expected_ones[1] is None for c in cases)


def test_distinct_entries_and_repeated_indices(custom):
    course, exercise = custom
    [case] = build_cases(exercise, 0, 9, course.grad_outputs)
    x, idx = case.args
    gaps = np.diff(np.sort(x))
    assert np.all(gaps >= 0.2 - 1e-12)
    assert idx.dtype == np.int64 and idx.shape == (9,)
    assert np.all((idx >= 0) & (idx < 6)) and len(set(idx.tolist())) < idx.size
    assert case.expected[0][1] is None and 1 not in case.directions
    grad_x = np.zeros(6)
    np.add.at(grad_x, idx, case.upstream[0])
    assert np.allclose(case.expected[0][0], grad_x)


def test_a_reference_that_fails_is_a_spec_error(custom):
    course, exercise = custom
    with pytest.raises(SpecError, match="the reference failed on these inputs") as info:
        build_cases(exercise, 2, 1, course.grad_outputs)
    assert info.value.path.endswith("exercise.yaml") and "Broken" in info.value.key


def test_a_reference_that_is_not_python_is_a_spec_error(custom):
    course, exercise = custom
    with pytest.raises(SpecError, match="not a python expression") as info:
        build_cases(exercise, 3, 1, course.grad_outputs)
    assert info.value.key == "targets[3].reference"
