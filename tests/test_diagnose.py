"""Diagnoses: the pattern functions on plain arrays, then one realistic wrong submission per CONTRACT code.

The end-to-end table grades each module under tests/submissions/ and checks that the mistake gets exactly its
code on the rows of the input it concerns, while every other input (and every other target) keeps full credit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from helpers import DIAGNOSIS_CODES, GRADIENT_CHECKS, SUBMISSIONS, line_of, rows

from grader.diagnose import HINTS, describe_factor, nonfinite_verdict, shape_verdict, value_verdict
from grader.spec import Tolerance

TOL = Tolerance()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---------------------------------------------------------------- shape_verdict: gradients of the wrong shape


def test_shape_transposed(rng):
    want = rng.normal(size=(4, 3))
    verdict = shape_verdict("grad_weight", want.T.copy(), (4, 3), want, {}, TOL)
    assert verdict.code == "transposed"
    assert "[3, 4]" in verdict.message and "[4, 3]" in verdict.message


def test_shape_batched_transpose_of_the_last_two_dims(rng):
    want = rng.normal(size=(2, 5, 4))
    verdict = shape_verdict("grad_k", np.swapaxes(want, -1, -2).copy(), (2, 5, 4), want, {}, TOL)
    assert (verdict.code, verdict.pattern) == ("transposed", "batched_transpose")
    assert "[2, 4, 5]" in verdict.message and "[2, 5, 4]" in verdict.message and "last two" in verdict.message
    other = shape_verdict("grad_k", rng.normal(size=(2, 4, 5)), (2, 5, 4), want, {}, TOL)
    assert other.code == "wrong_shape" and other.pattern is None


def test_shape_broadcast_not_reduced_says_whether_summing_would_fix_it(rng):
    per_row = rng.normal(size=(5, 4))
    right = shape_verdict("grad_bias", per_row, (4,), per_row.sum(0), {}, TOL)
    assert right.code == "broadcast_not_reduced"
    assert "[5, 4]" in right.message and "summing it back would give the right values" in right.message
    wrong = shape_verdict("grad_bias", per_row, (4,), per_row.sum(0) + 1, {}, TOL)
    assert wrong.code == "broadcast_not_reduced" and "even summed back" in wrong.message


def test_shape_broadcast_over_a_kept_dimension(rng):
    got = rng.normal(size=(3, 5))
    verdict = shape_verdict("grad_b", got, (3, 1), got.sum(1, keepdims=True), {}, TOL)
    assert verdict.code == "broadcast_not_reduced"


def test_shape_swapped_inputs(rng):
    grad_b = rng.normal(size=(5, 4))
    verdict = shape_verdict("grad_a", grad_b, (3, 5), rng.normal(size=(3, 5)), {"b": grad_b}, TOL)
    assert verdict.code == "swapped_inputs" and "gradient of b" in verdict.message


def test_shape_otherwise_wrong_shape(rng):
    verdict = shape_verdict("grad_bias", rng.normal(size=5), (4,), rng.normal(size=4), {}, TOL)
    assert verdict.code == "wrong_shape"
    assert verdict.message == "grad_bias has shape [5] but its input has shape [4]"


# ---------------------------------------------------------------- value_verdict: right shape, wrong numbers


def _want(rng: np.random.Generator, shape: tuple[int, ...] = (5, 3), calls: int = 3) -> list[np.ndarray]:
    return [rng.normal(size=shape) for _ in range(calls)]


def _verdict(got, want, others=None, ones=None, sizes=(5, 3)):
    ones = np.full_like(want[0], 7.0) if ones is None else ones
    return value_verdict("grad_x", got, want, TOL, others or {}, ones, sizes)


def test_value_ok_within_tolerance(rng):
    want = _want(rng)
    verdict = _verdict([w * (1 + 1e-9) for w in want], want)
    assert verdict.passed and verdict.code == "ok"


def test_value_nan_or_inf(rng):
    want = _want(rng)
    got = [w.copy() for w in want]
    got[1][2, 0] = np.inf
    got[1][0, 0] = np.nan
    verdict = _verdict(got, want)
    assert verdict.code == "nan_or_inf" and "2 NaN or infinite element(s)" in verdict.message


def test_nonfinite_is_not_blamed_where_the_reference_is_not_finite_either():
    want = [np.array([np.inf, 1.0])]
    assert nonfinite_verdict("grad_x", [np.array([np.inf, 1.0])], want) is None
    assert nonfinite_verdict("grad_x", [np.array([np.inf, np.nan])], want) is not None


def test_value_sign_flipped(rng):
    want = _want(rng)
    verdict = _verdict([-w for w in want], want)
    assert verdict.code == "sign_flipped"


def test_value_pattern_must_hold_for_every_grad_output(rng):
    want = _want(rng)
    verdict = _verdict([-want[0], want[1], want[2]], want)
    assert verdict.code == "wrong_values"


def test_value_transposed_square(rng):
    want = _want(rng, (4, 4))
    verdict = _verdict([w.T.copy() for w in want], want, sizes=(4, 4))
    assert verdict.code == "transposed"


def test_value_swapped_inputs(rng):
    want, other = _want(rng), _want(rng)
    verdict = _verdict(other, want, others={"b": other})
    assert verdict.code == "swapped_inputs" and "gradient of b" in verdict.message


def test_value_not_swapped_when_both_inputs_have_the_same_gradient(rng):
    want = _want(rng)
    verdict = _verdict([2 * w for w in want], want, others={"b": want})
    assert verdict.code == "scaled"


def test_value_ignores_upstream_grad(rng):
    want = _want(rng)
    ones = rng.normal(size=want[0].shape)
    verdict = _verdict([ones] * len(want), want, ones=ones)
    assert verdict.code == "ignores_upstream_grad" and "grad_output" in verdict.message


def test_value_scaled_names_the_batch_size(rng):
    want = _want(rng)
    verdict = _verdict([w / 5 for w in want], want, sizes=(5, 3))
    assert verdict.code == "scaled"
    assert "1/N = 0.2" in verdict.message and "N = 5" in verdict.message


def test_value_all_zeros(rng):
    want = _want(rng)
    verdict = _verdict([np.zeros_like(w) for w in want], want)
    assert verdict.code == "wrong_values" and "all zeros" in verdict.message


def test_value_wrong_values_gives_the_worst_element(rng):
    want = _want(rng)
    got = [w.copy() for w in want]
    got[0][3, 1] += 10.0
    verdict = _verdict(got, want)
    assert verdict.code == "wrong_values"
    assert "worst element at [3, 1]" in verdict.message


@pytest.mark.parametrize(("factor", "sizes", "text"), [
    (0.25, (4, 3), "1/N = 0.25 (N = 4"),
    (3.0, (5, 3), "N = 3 (a sum instead of a mean?)"),
    (2 / 3, (5, 7), "2/3 = 0.666667"),
    (-0.5, (5, 7), "-1/2 = -0.5"),
    (1.2345678, (5,), "1.23457"),
])
def test_describe_factor(factor, sizes, text):
    assert describe_factor(factor, sizes).startswith(text)


def test_every_contract_code_has_a_hint():
    assert set(HINTS) == set(DIAGNOSIS_CODES)
    assert all(HINTS[code] for code in DIAGNOSIS_CODES if code != "ok")


# ---------------------------------------------------------------- one realistic wrong submission per code


@dataclass(frozen=True)
class Mistake:
    """A wrong submission and the diagnosis it must get.

    Attributes:
        submission: folder under tests/submissions/.
        exercise: the exercise it is graded as.
        target: the autograd.Function with the mistake.
        code: the diagnosis every row in ``where`` must carry, in every case.
        where: the (check, input) rows that carry ``code`` (input ``None`` for whole-op rows); every other row
            must pass.
        whole_op: the mistake stops the whole target (crash, timeout, changed forward): all its rows fail.
        also_wrong: other targets of the same module with their own mistakes (not checked here).
        message: text every row in ``where`` must contain; ``"autograd:text"`` or ``"contract/x:text"`` only
            on those rows.
        spec: limits to replace in the course, for hanging and hogging submissions.
        patterns: per input, the catalogue entry or generic pattern its ``autograd`` rows in ``where`` also
            name (their message and hint are then the pattern's); every other row names none.
    """

    submission: str
    exercise: str
    target: str
    code: str
    where: tuple[tuple[str, str | None], ...]
    whole_op: bool = False
    also_wrong: tuple[str, ...] = ()
    message: tuple[str, ...] = ()
    spec: dict = field(default_factory=dict)
    patterns: dict[str, str] = field(default_factory=dict)


def _each(checks: tuple[str, ...], *inputs: str) -> tuple[tuple[str, str | None], ...]:
    return tuple((check, name) for check in checks for name in inputs)


ALL_ROWS = GRADIENT_CHECKS
MISTAKES = [
    Mistake("linear_only_matmul", "ex04", "Linear", "not_implemented", _each(ALL_ROWS, "x", "weight", "bias"),
            message=("NotImplementedError",)),
    Mistake("linear_index_error", "ex04", "Linear", "exception", _each(ALL_ROWS, "x", "weight", "bias"),
            message=("IndexError", "is out of bounds", "linear.py, line {line:range(out_features + 1)}, in backward")),
    Mistake("linear_class_typos", "ex04", "Linear", "exception",
            (("forward", None), ("policy", None), *_each(ALL_ROWS, "x", "weight", "bias")), whole_op=True,
            also_wrong=("MatMul",), message=("has no class Linear",)),
    Mistake("infinite_loop", "ex01", "ShiftedSquare", "timeout", (("forward", None), *_each(ALL_ROWS, "x")),
            whole_op=True, message=("time limit of 2 s",), spec={"wall_seconds": 2}),
    Mistake("huge_tensor", "ex01", "SinComposite", "resource_limit", _each(ALL_ROWS, "x"),
            message=("can't allocate memory", "chain_rule.py, line {line:torch.empty(10 ** 12)}")),
    Mistake("big_file", "ex01", "ShiftedSquare", "resource_limit", _each(ALL_ROWS, "x"),
            message=("File too large",), spec={"file_mb": 1}),
    Mistake("exits_in_backward", "ex01", "ShiftedSquare", "crashed", (("forward", None), *_each(ALL_ROWS, "x")),
            whole_op=True, message=("exit status 0", "os._exit")),
    Mistake("exits_at_import", "ex01", "SinComposite", "crashed", (("forward", None), *_each(ALL_ROWS, "x")),
            whole_op=True, also_wrong=("ShiftedSquare",), message=("sys.exit", "done testing")),
    Mistake("linear_two_grads", "ex04", "Linear", "wrong_count", _each(ALL_ROWS, "x", "weight", "bias"),
            message=("returned 2 value(s)", "3 argument(s) (x, weight, bias)")),
    Mistake("linear_bias_float32", "ex04", "Linear", "wrong_type", _each(ALL_ROWS, "bias"),
            message=("float32",)),
    Mistake("pow_grad_for_p", "ex02", "Pow", "wrong_type", (("contract", "p"),), message=("return None",)),
    Mistake("linear_bias_wrong_axis", "ex04", "Linear", "wrong_shape", _each(ALL_ROWS, "bias"),
            message=("grad_bias has shape",)),
    Mistake("linear_bias_not_summed", "ex04", "Linear", "broadcast_not_reduced", _each(ALL_ROWS, "bias"),
            message=("broadcast shape", "summing it back would give the right values")),
    Mistake("linear_weight_transposed", "ex04", "Linear", "transposed", _each(ALL_ROWS, "weight"),
            message=("transpose",)),
    Mistake("div_sign_flipped", "ex02", "Div", "sign_flipped", _each(("autograd", "gradcheck"), "b"),
            message=("gradcheck:minus", "autograd:dropped the minus"), patterns={"b": "div_b_positive"}),
    Mistake("linear_bias_mean", "ex04", "Linear", "scaled", _each(("autograd", "gradcheck"), "bias"),
            message=("1/N",), patterns={"bias": "bias_averaged"}),
    Mistake("forgot_grad_output", "ex01", "ShiftedSquare", "ignores_upstream_grad", _each(ALL_ROWS, "x"),
            message=("grad_output",)),
    Mistake("matmul_swapped", "ex04", "MatMul", "swapped_inputs", _each(ALL_ROWS, "a", "b"),
            message=("exchanged",)),
    Mistake("mul_swapped", "ex02", "Mul", "swapped_inputs", _each(("autograd", "gradcheck"), "a", "b"),
            message=("gradcheck:exchanged", "autograd:instead of by the other factor"),
            patterns={"a": "mul_own_factor_a", "b": "mul_own_factor_b"}),
    # a difference quotient is numerical differentiation, whatever its step: the policy says so first
    Mistake("log_zero_step", "ex02", "Log", "forbidden_api", (("policy", None), *_each(("autograd", "gradcheck"), "x")),
            whole_op=True, message=("finite differences",)),
    Mistake("log_divides_by_zero", "ex02", "Log", "nan_or_inf", _each(ALL_ROWS, "x"),
            message=("NaN or infinite element(s)", "autograd:inf, expected")),
    Mistake("activations_in_place", "ex03", "ReLU", "mutates_input", (("contract", "x"),),
            also_wrong=("LeakyReLU", "Sigmoid"), message=("changed grad_output in place",)),
    Mistake("activations_in_place", "ex03", "LeakyReLU", "mutates_input", (("contract", "x"),),
            also_wrong=("ReLU", "Sigmoid"), message=("in place", "contract/x:changed the input x in place")),
    Mistake("activations_in_place", "ex03", "Sigmoid", "mutates_input", (("contract", "x"),),
            also_wrong=("ReLU", "LeakyReLU"), message=("changed a saved tensor in place",)),
    Mistake("linear_autograd_grad", "ex04", "Linear", "forbidden_api",
            (("policy", None), *_each(("autograd", "gradcheck"), "x", "weight", "bias")),
            message=("torch.autograd.grad",)),
    Mistake("tanh_calls_backward", "ex03", "Tanh", "forbidden_api",
            (("policy", None), *_each(("autograd", "gradcheck"), "x")), message=("backward", "enable_grad")),
    Mistake("sigmoid_hidden_autograd", "ex03", "Sigmoid", "forbidden_api",
            (("policy", None), *_each(("autograd", "gradcheck"), "x")),
            message=("import importlib", "getattr()", "ran the autograd engine")),
    Mistake("linear_forward_changed", "ex04", "Linear", "forward_mismatch",
            (("forward", None), *_each(ALL_ROWS, "x", "weight", "bias")), whole_op=True,
            message=("forward output differs from the reference",)),
    Mistake("gelu_tanh_approximation", "ex03", "GELU", "wrong_values", _each(("autograd", "gradcheck"), "x"),
            message=("autograd:worst element at [", "autograd:the tanh approximation",
                     "gradcheck:disagrees with finite differences"), patterns={"x": "gelu_tanh_approximation"}),
]


_SCOPE = re.compile(r"^(forward|policy|contract|autograd|gradcheck)(/\w+)?:")


def _messages(mistake: Mistake, check: str, name: str | None) -> list[str]:
    """The texts the row (check, name) must contain: unscoped ones, and those scoped to it."""
    out = []
    for text in mistake.message:
        scope = _SCOPE.match(text)
        if scope is None:
            out.append(_expected_text(mistake, text))
        elif scope.group(0)[:-1] in (check, f"{check}/{name}"):
            out.append(_expected_text(mistake, text[scope.end():]))
    return out


def _expected_text(mistake: Mistake, text: str) -> str:
    """Resolve ``{line:snippet}`` to the line number of ``snippet`` in the submission's module."""
    if "{line:" not in text:
        return text
    head, rest = text.split("{line:", 1)
    snippet, tail = rest.split("}", 1)
    [module] = [p for p in (SUBMISSIONS / mistake.submission).iterdir() if p.suffix == ".py"]
    return f"{head}{line_of(module, snippet)}{tail}"


def test_every_diagnosis_code_has_a_realistic_submission():
    covered = {m.code for m in MISTAKES}
    assert covered == set(DIAGNOSIS_CODES) - {"ok"}


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: f"{m.code}-{m.submission}-{m.target}")
def test_mistake_gets_exactly_its_diagnosis(grade, course, mistake):
    spec = replace(course, limits=replace(course.limits, **mistake.spec)) if mistake.spec else course
    report = grade(mistake.submission, mistake.exercise, spec=spec)
    target_rows = rows(report, mistake.target)
    case_names = {r.case for r in target_rows}
    assert len(case_names) >= 2

    for check, name in mistake.where:
        found = rows(report, mistake.target, check, name)
        assert len(found) == len(case_names), (check, name)
        for row in found:
            assert (row.diagnosis, row.passed, row.score) == (mistake.code, False, 0.0), (check, name, row.message)
            named = mistake.patterns.get(name or "") if check == "autograd" else None
            assert row.pattern == named, (check, name, row.pattern, row.message)
            assert (row.hint == HINTS[mistake.code]) is (named is None)
            for text in _messages(mistake, check, name):
                assert text in row.message, (check, name)

    # every other row keeps its credit: the other inputs and checks of this target, and the other targets
    for row in report.checks:
        if row.target in mistake.also_wrong or (row.target == mistake.target and
                                                (mistake.whole_op or (row.check, row.input) in mistake.where)):
            continue
        assert row.passed and row.diagnosis == "ok", (row.target, row.check, row.input, row.diagnosis, row.message)
        # a contract row earns its share only where the same input's value rows pass (scoring.py)
        gated = row.check == "contract" and row.target == mistake.target and (
            any(name == row.input for _, name in mistake.where))
        assert row.score == (0.0 if gated else row.max_score), (row.target, row.check, row.input)
    assert 0 <= report.score < report.max_score
    if not mistake.whole_op and not mistake.also_wrong:
        assert report.score > 0
