"""Between checks and sandbox: what the child is sent (no answers), and how its reply becomes observations."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from grader.cases import build_cases
from grader.probe import Failure, build_job, failure_from_error, observe
from grader.sandbox.client import ChildRun
from grader.spec import Limits, load_exercise


@pytest.fixture(scope="module")
def linear(course):
    exercise = load_exercise(course, "ex04_linear")
    index = [t.name for t in exercise.targets].index("Linear")
    return exercise.targets[index], build_cases(exercise, index, course.seed, course.grad_outputs)


def test_job_carries_inputs_but_never_the_answers(linear):
    target, cases = linear
    header, arrays = build_job("linear.py", target, cases)
    assert (header["module"], header["target"]) == ("linear.py", "Linear")
    assert [a["name"] for a in header["args"]] == ["x", "weight", "bias"]
    assert len(header["cases"]) == len(cases) and len(header["nonce"]) == 32
    sent = list(arrays.values())
    for case in cases:
        answers = [case.output, *(g for grads in case.expected for g in grads if g is not None),
                   *(g for g in case.expected_ones if g is not None)]
        for answer in answers:
            assert not any(a.shape == answer.shape and np.array_equal(a, answer) for a in sent)
    assert all(key.split(".")[1][0] in "aud" for key in arrays)
    assert all(a.dtype == np.float64 for a in sent)


def test_each_job_has_a_fresh_nonce(linear):
    target, cases = linear
    assert build_job("linear.py", target, cases)[0]["nonce"] != build_job("linear.py", target, cases)[0]["nonce"]


def _run(**fields) -> ChildRun:
    return ChildRun(header=fields.pop("header", {}), arrays={}, **fields)


@pytest.mark.parametrize(("run", "code", "text"), [
    (_run(timed_out=True, signal=signal.SIGKILL), "timeout", "time limit of 20 s"),
    (_run(overflow=True), "resource_limit", "more result data"),
    (_run(signal=signal.SIGXFSZ), "resource_limit", "file-size limit of 64 MiB"),
    (_run(signal=signal.SIGSEGV), "crashed", "killed by signal SIGSEGV"),
    (_run(exit_code=0), "crashed", "exit status 0"),
    (_run(exit_code=3, problem="bad arrays"), "crashed", "(bad arrays)"),
    (_run(header={"nonce": "n", "load": {"kind": "exit", "type": "SystemExit", "message": "bye", "frames": []}}),
     "crashed", "sys.exit while loading your module"),
    (_run(header={"nonce": "n", "load": {"kind": "exception", "type": "LookupError",
                                         "message": "linear.py has no class Linear", "frames": []}}),
     "exception", "LookupError: linear.py has no class Linear (while loading your module)"),
    (_run(header={"nonce": "n", "load": None, "cases": []}), "crashed", "wrong number of cases"),
])
def test_a_run_without_results_fails_every_case_alike(linear, run, code, text):
    target, cases = linear
    observations = observe(run, target, cases, Limits())
    assert len(observations) == len(cases)
    assert {o.failure for o in observations} == {observations[0].failure}
    failure = observations[0].failure
    assert failure is not None and failure.code == code and text in failure.message


@pytest.mark.parametrize(("error", "code"), [
    ({"kind": "not_implemented", "type": "NotImplementedError", "message": "TODO"}, "not_implemented"),
    ({"kind": "exit", "type": "SystemExit", "message": "0"}, "crashed"),
    ({"kind": "resource", "type": "MemoryError", "message": ""}, "resource_limit"),
    ({"kind": "exception", "type": "ValueError", "message": "bad"}, "exception"),
    ({"type": "ValueError", "message": "no kind"}, "exception"),
    ("not a dict", "crashed"),
])
def test_failure_from_error(error, code):
    assert failure_from_error(error, "running backward").code == code


def test_exception_message_shows_the_students_frames_only_the_last_eight():
    frames = [f"linear.py, line {n}, in helper: x = f(x)" for n in range(1, 13)]
    failure = failure_from_error({"kind": "exception", "type": "IndexError", "message": "out of range",
                                  "frames": frames}, "running backward")
    assert failure == Failure("exception", "IndexError: out of range (while running backward)\n  "
                                           + "\n  ".join(frames[-8:]))
