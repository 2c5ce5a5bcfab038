"""Session fixtures: the course, one sandbox server for the whole run, and a memoised grading helper.

Starting a :class:`SandboxServer` imports torch in a fresh process (about 1.5 s), so every test shares one
and calls :func:`grader.grading.grade_exercise` directly. Reports are immutable, so a submission graded
once with the same options is graded once per session.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import ROOT, SUBMISSIONS

import grader.sandbox.client
from grader.cases import Case, build_cases
from grader.grading import grade_exercise
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec, TargetSpec, load_course, load_exercise
from grader.submission import load_submission

Grade = Callable[..., Report]


@pytest.fixture(scope="session", autouse=True)
def case_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Computed cases are cached on disk; the suite uses its own empty cache, never the user's."""
    folder = tmp_path_factory.mktemp("case-cache")
    old = os.environ.get("GRADER_CACHE")
    os.environ["GRADER_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("GRADER_CACHE", None)
    else:
        os.environ["GRADER_CACHE"] = old


@pytest.fixture(scope="session")
def course() -> CourseSpec:
    return load_course(ROOT)


@pytest.fixture(scope="session")
def fast_course(course: CourseSpec) -> CourseSpec:
    """The course with a 2 s wall-time limit (instead of 20 s), for submissions that hang."""
    return replace(course, limits=replace(course.limits, wall_seconds=2))


@pytest.fixture(scope="session")
def shifted_square(course: CourseSpec) -> tuple[TargetSpec, list[Case]]:
    """ex01's target and its cases: the smallest job a sandbox test can send."""
    exercise = load_exercise(course, "ex01_chain_rule")
    return exercise.targets[0], build_cases(exercise, 0, course.seed, course.grad_outputs)


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        running.ping()
        yield running


@pytest.fixture(scope="session")
def grade(course: CourseSpec, server: SandboxServer) -> Grade:
    """``grade(submission, exercise="ex04", hidden=False, seed=None, spec=None)``.

    ``submission`` is a folder name under tests/submissions/ or a path; ``exercise`` anything
    :meth:`CourseSpec.resolve` accepts; ``spec`` replaces the course (e.g. with other limits).
    """
    memo: dict[tuple, Report] = {}

    def run(submission: str | Path, exercise: str = "ex04", hidden: bool = False, seed: int | None = None,
            spec: CourseSpec | None = None) -> Report:
        spec = spec or course
        path = submission if isinstance(submission, Path) else SUBMISSIONS / submission
        [slug] = spec.resolve(exercise)
        key = (str(path), slug, hidden, seed, spec.limits)
        if key not in memo:
            memo[key] = grade_exercise(spec, slug, load_submission(path), server, hidden=hidden, seed=seed)
        return memo[key]

    return run


class SharedServer:
    """Stands in for a new SandboxServer: hands out the session's server and never closes it."""

    def __init__(self, server: SandboxServer) -> None:
        self._server = server

    def start(self) -> SharedServer:
        return self

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return getattr(self._server, name)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch, server: SandboxServer) -> None:
    """CLI runs in this test use the session's sandbox server instead of starting their own."""
    monkeypatch.setattr(grader.sandbox.client, "SandboxServer", lambda: SharedServer(server))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    """A web server on a free port, as a Dask dashboard would be."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
