"""The case cache on disk: what a fresh process reads back is what was computed, mapped read-only; a damaged
file is a miss, never an error."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from helpers import ROOT

from grader import cache
from grader.cases import build_cases, forget
from grader.catalogue import candidates
from grader.localise import elementwise, slope_at_output
from grader.reference import compute_cases
from grader.spec import CatalogueEntry, Domain, load_exercise

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


def _derived_target(course, slug: str, name: str, **changes):
    """Exercise ``slug`` with its target ``name`` changed by ``changes``, and that target's index."""
    exercise = load_exercise(course, slug)
    index = [t.name for t in exercise.targets].index(name)
    targets = list(exercise.targets)
    targets[index] = replace(targets[index], **changes)
    return replace(exercise, targets=tuple(targets)), index


def test_the_values_only_torch_computes_are_saved_with_the_cases(course):
    """The catalogue's gradients and the slopes at the output come back from disk, ``None`` included, equal to
    what the checks would compute lazily; so a fresh process needs no torch for them."""
    plain, index = _derived_target(course, "ex02_elementwise", "Log")
    log = plain.targets[index]
    x = log.args[0]
    asin = _derived_target(  # asin(y) is undefined where y = asin(x) > 1: no slope at the output
        course, "ex02_elementwise", "Log", reference="torch.asin(x)",
        args=(replace(x, domain=Domain(dist="uniform", low=0.9, high=0.99)),),
        catalogue=(*log.catalogue, CatalogueEntry("log_boom", "x", "grad_output.sum(7)", "raised", "Log.")))
    nones = []
    for exercise, index in (asin, _derived_target(course, "ex03_activations", "Tanh")):
        target = exercise.targets[index]
        build_cases(exercise, index, SEED + 2, 3)  # computed, derived and saved
        forget()
        loaded = build_cases(exercise, index, SEED + 2, 3)
        lazy = compute_cases(exercise, index, SEED + 2, 3)  # nothing derived yet: the checks' own computation
        for got, case in zip(loaded, lazy, strict=True):
            want = {f"catalogue.{e.id}": candidates(e, target, case) for e in target.catalogue}
            want.update({f"slope_at_output.{ai}": slope_at_output(target, case, ai)
                         for ai in range(len(target.args)) if elementwise(case, ai)})
            assert set(got.derived) == set(want) and any(k.startswith("slope") for k in want)
            for name, value in want.items():
                back = got.derived[name]
                nones += [name] if value is None else []
                if value is None:
                    assert back is None, name
                elif isinstance(value, tuple):
                    assert len(back) == len(value) and all(np.array_equal(a, b) for a, b in zip(back, value, strict=True))
                    assert not any(a.flags.writeable for a in back)  # mapped from the file, not recomputed
                else:
                    assert np.array_equal(back, value) and not back.flags.writeable
    assert {"catalogue.log_boom", "slope_at_output.0"} <= set(nones)  # asin's cases: a failed formula, no slope
    assert "catalogue.tanh_at_output" not in nones


WRONG_GRADIENTS = """
import sys
from pathlib import Path

import numpy as np

from grader.cases import build_cases
from grader.catalogue import match
from grader.localise import localise
from grader.spec import load_course, load_exercise

course = load_course(Path(sys.argv[1]))
named = set()
for slug in ("ex03_activations", "ex04_linear"):
    exercise = load_exercise(course, slug)
    for index, target in enumerate(exercise.targets):
        for case in build_cases(exercise, index, course.seed, course.grad_outputs):
            for ai, arg in enumerate(target.args):
                if not arg.differentiable:
                    continue
                want = [case.expected[k][ai] for k in range(case.random_calls)]
                wrong = [2 * w + 1 for w in want]  # named by no entry: every entry is tried, then localised
                assert match(target, case, ai, wrong, target.tolerance) is None
                localise(target, case, ai, wrong, want, target.tolerance, "grad")
                u = case.upstream[: case.random_calls]
                if (target.name, arg.name) == ("Tanh", "x"):  # tanh' taken at the output
                    mistake = [g * (1 - np.tanh(case.output) ** 2) for g in u]
                elif (target.name, arg.name) == ("Linear", "bias"):  # averaged where the sum belongs
                    mistake = [g.mean(0) for g in u]
                else:
                    continue
                entry = match(target, case, ai, mistake, target.tolerance)
                named.add(entry and entry.id)
print(sorted(named), "torch" in sys.modules)
"""


def test_a_wrong_gradient_is_explained_without_torch_from_a_warm_cache(course, tmp_path, monkeypatch):
    """With the cases cached, the catalogue and localisation of a wrong gradient import no torch."""
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path))
    forget()  # the cases in memory were saved elsewhere: compute them again, into this cache
    for slug in ("ex03_activations", "ex04_linear"):
        exercise = load_exercise(course, slug)
        for index in range(len(exercise.targets)):
            build_cases(exercise, index, course.seed, course.grad_outputs)
    run = subprocess.run([sys.executable, "-c", WRONG_GRADIENTS, str(ROOT)], capture_output=True, text=True,
                         check=False, env={**os.environ, "GRADER_CACHE": str(tmp_path)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["['bias_averaged',", "'tanh_at_output']", "False"]
