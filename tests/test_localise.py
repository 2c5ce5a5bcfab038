"""Generic patterns: each one found on a wrong submission made from a solution, and proven on arrays.

Every generic id of CONTRACT section 5 has a submission here that gets exactly it on the rows of the input it
concerns (the catalogue names none of these mistakes). The variants are the solution with a line or two
replaced, built in the test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from helpers import ROOT

from grader.grading import grade_module
from grader.localise import _per_slice, _wrong_axis
from grader.patterns import GENERIC
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CaseSpec, CourseSpec, ExerciseSpec, Tolerance, load_exercise
from grader.submission import Module

TOL = Tolerance()


@dataclass(frozen=True)
class Variant:
    """A solution with ``changes`` (find → replace) applied, and the pattern its ``input`` rows must get."""

    slug: str
    target: str
    input: str
    changes: tuple[tuple[str, str], ...]
    pattern: str
    words: str
    cases: tuple[CaseSpec, ...] = ()
    """Cases to grade instead of the spec's (shapes where the mistake shows as this pattern)."""


SQUARE_SUM = CaseSpec("square", {"x": (3, 3, 4)}, {"dim": 1, "keepdim": False})
VARIANTS = [
    Variant("ex01_chain_rule", "ShiftedSquare", "x", (("dy_dg = 2 * g", "dy_dg = 2 * ((x + 2) ** 2 + 2)"),),
            "evaluated_at_output", "evaluated at the output y instead of at the input x"),
    Variant("ex03_activations", "LeakyReLU", "x", (("negative_slope * grad_output)", "0.01 * grad_output)"),),
            "sign_region", "is wrong only where x < 0"),
    Variant("ex05_broadcasting", "Sum", "x", (("grad_x = grad.expand(x_shape).clone()",
                                               "grad_x = grad_output.unsqueeze(0).expand(x_shape).clone()"),),
            "wrong_axis", "the expected gradient with dims 0, 1 exchanged", cases=(SQUARE_SUM,)),
    Variant("ex08_normalization", "LayerNorm", "x",
            (("grad_x = rstd * (g_hat - g_hat.mean(dim=-1, keepdim=True)",
              "grad_x = 1 / rstd * (g_hat - g_hat.mean(dim=-1, keepdim=True)"),),
            "per_slice_scale", "times a factor that is constant along dim"),
    Variant("ex09_conv", "MaxPool2d", "x", (("grad_x = F.fold(grad_cols, (h, w), k, stride=stride).reshape(n, c, h, w)",
                                             "grad_x = _assign(g, argmax, (n, c, h, w), k, stride)"),),
            "repeated_indices", "did you assign instead of accumulate?"),
    Variant("ex09_conv", "MaxPool2d", "x", (("ctx.save_for_backward(argmax)", "ctx.save_for_backward(argmax, x)"),
                                            ("argmax, = ctx.saved_tensors", "argmax, x = ctx.saved_tensors"),
                                            (".reshape(n, c, h, w)\n        return grad_x, None, None",
                                             ".reshape(n, c, h, w) * x\n        return grad_x, None, None")),
            "masked_positions", "is wrong only where the gradient passes the mask"),
    Variant("ex09_conv", "Conv2d", "x", (("        return grad_x, grad_weight, grad_bias, None, None",
                                          "        if padding:\n            grad_x[..., :padding, :] = 0\n"
                                          "            grad_x[..., -padding:, :] = 0\n"
                                          "            grad_x[..., :, :padding] = 0\n"
                                          "            grad_x[..., :, -padding:] = 0\n"
                                          "        return grad_x, grad_weight, grad_bias, None, None"),),
            "border", "is wrong only on the border of the image, the outer 2 row(s) and column(s)"),
    Variant("ex10_attention", "ScaledDotProductAttention", "k",
            (("return grad_q, grad_k, grad_v, None", "return grad_q, grad_k.transpose(-2, -1), grad_v, None"),),
            "batched_transpose", "last two dimensions swapped"),
]

ASSIGN = '''

def _assign(g, argmax, shape, k, stride):
    """Each window's gradient written at its argmax in the image: an assignment, not a sum."""
    n, c, h, w = shape
    g = g.reshape(n * c, -1)
    windows = torch.arange(g.shape[1])
    wo = (w - k) // stride + 1
    rows = windows // wo * stride + argmax // k
    columns = windows % wo * stride + argmax % k
    image = torch.zeros(n * c, h * w, dtype=g.dtype)
    image.scatter_(1, rows * w + columns, g)
    return image.reshape(n, c, h, w)
'''


def build(variant: Variant, course: CourseSpec) -> tuple[ExerciseSpec, Module]:
    exercise = load_exercise(course, variant.slug)
    source = (ROOT / "solutions" / variant.slug / exercise.module).read_text()
    for find, new in variant.changes:
        assert source.count(find) == 1, find
        source = source.replace(find, new)
    if "_assign(" in source:
        source += ASSIGN
    [target] = [t for t in exercise.targets if t.name == variant.target]
    if variant.cases:
        target = replace(target, cases=variant.cases)
    exercise = replace(exercise, targets=(target,))
    return exercise, Module(files={exercise.module: source.encode()}, source=source, origin=variant.pattern)


def graded(variant: Variant, course: CourseSpec, server: SandboxServer) -> Report:
    exercise, module = build(variant, course)
    return grade_module(course, exercise, module, server, course.seed)


def test_every_generic_pattern_has_a_submission() -> None:
    assert {v.pattern for v in VARIANTS} == set(GENERIC)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.pattern)
def test_the_variant_gets_exactly_its_pattern(variant: Variant, course: CourseSpec, server: SandboxServer) -> None:
    report = graded(variant, course, server)
    named = [r for r in report.checks if r.check == "autograd" and r.input == variant.input and not r.passed]
    assert named, [(r.check, r.input, r.diagnosis) for r in report.checks if not r.passed]
    for row in named:
        assert row.pattern == variant.pattern, (row.case, row.diagnosis, row.pattern, row.message)
        assert variant.words in row.message and row.hint == GENERIC[variant.pattern].hint
        assert ("got" in row.message and "expected" in row.message) or "has shape" in row.message  # the numbers
    others = [r for r in report.checks if not r.passed and r.input != variant.input]
    assert not others, [(r.check, r.input, r.diagnosis) for r in others]
    assert all(r.pattern in (None, variant.pattern) and (r.pattern is None or r.input == variant.input)
               for r in report.checks)


# ---------------------------------------------------------------- the tests on arrays


def test_per_slice_scale_needs_factors_that_differ_between_slices() -> None:
    rng = np.random.default_rng(0)
    want = [rng.normal(size=(4, 5)) for _ in range(3)]
    rows = np.array([[1.0], [2.0], [0.5], [3.0]])
    found = _per_slice([rows * w for w in want], want, TOL)
    assert found is not None and found[0] == "per_slice_scale" and "from 0.5 to 3" in found[1]
    assert _per_slice([2.0 * w for w in want], want, TOL) is None  # one factor is ``scaled``
    assert _per_slice([w + 1 for w in want], want, TOL) is None


def test_wrong_axis_from_the_sums_to_zero_of_a_shift_invariant_op() -> None:
    rng = np.random.default_rng(1)
    raw = [rng.normal(size=(4, 5)) for _ in range(3)]
    want = [r - r.mean(axis=1, keepdims=True) for r in raw]      # centred along dim 1, as a softmax's is
    got = [r - r.mean(axis=0, keepdims=True) for r in raw]       # centred along dim 0
    found = _wrong_axis(got, want, TOL)
    assert found is not None and "sums to zero along dim 0" in found[1] and "along dim 1" in found[1]
    assert _wrong_axis([r * 2 for r in raw], want, TOL) is None  # not centred at all: no claim


def test_a_row_that_passed_is_never_given_a_pattern(grade) -> None:
    report = grade("linear_alternative", "ex04")
    assert all(r.passed and r.pattern is None for r in report.checks)


def test_correct_alternatives_gain_no_failure_and_no_pattern(grade) -> None:
    for submission, exercise in (("elementwise_alternative", "ex02"), ("activations_alternative", "ex03"),
                                 ("chain_rule_tuples", "ex01")):
        report = grade(submission, exercise, hidden=True)
        assert [(r.target, r.check, r.diagnosis) for r in report.checks if not r.passed] == []
        assert all(r.pattern is None for r in report.checks)


