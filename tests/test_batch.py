"""``grade batch`` end to end: the fixture class graded into every format, resume, kill and re-run, the CLI.

Grading uses ex04 only and the session's sandbox server; the course is a copy whose time limit is 2 s, so the
student whose backward never returns costs 2 s, not 20.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import SUBMISSIONS, fast_course, threads_beside_class_files, tree

from grader.batch import LMS_NAMES, runner
from grader.batch.layouts import discover
from grader.batch.outputs import write_outputs
from grader.batch.record import read_record
from grader.batch.runner import Outcome, Plan, grade_class, make_plan
from grader.batch.unpack import unpack
from grader.cli import main
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import load_course
from grader.submission import Submission

CLASS = SUBMISSIONS / "class"
EPOCH = "1714564800"  # pins every grading time, so two runs can be compared byte for byte
BROKEN = {"dave", "ivan", "judy", "walter"}  # syntax error, corrupt zip, invalid notebook, no module
FULL_MARKS = {"alice", "doejane", "heidi", "leekim", "nguyenan", "parkmin"}


@pytest.fixture(scope="module")
def course_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course with a 2 s time limit, as an instructor's course.yaml override would set it."""
    return fast_course(tmp_path_factory.mktemp("course").resolve())


@pytest.fixture(scope="module")
def plan(course_root: Path) -> Plan:
    return make_plan(load_course(course_root), ["ex04"])


@pytest.fixture(scope="module")
def pinned_time() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        yield


def run(submissions: Path, out: Path, plan: Plan, server: SandboxServer, force: bool = False) -> list[Outcome]:
    entries = discover([submissions], exclude=[out]).entries
    outcomes = grade_class(entries, out, plan, force=force, servers=[server])
    write_outputs(out, [e.student for e in entries], plan.assignments, LMS_NAMES, None, "Backprop 101")
    return outcomes


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, plan: Plan, server: SandboxServer, pinned_time: None
           ) -> tuple[Path, dict[str, Outcome]]:
    out = tmp_path_factory.mktemp("class-out")
    outcomes = run(CLASS, out, plan, server)
    return out, {o.student: o for o in outcomes}


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").read_text().splitlines())}


def test_the_class_is_graded_into_every_format(graded: tuple[Path, dict[str, Outcome]]) -> None:
    out, outcomes = graded
    students = sorted(outcomes)
    assert len(students) >= 20
    assert sorted(p.stem for p in (out / "reports").glob("*.json")) == students
    for student in students:
        for path in (f"feedback/{student}.md", f"feedback/{student}.html", f"lti/{student}.json",
                     f"gradescope/{student}/results.json", f"classroom/{student}.env"):
            assert (out / path).is_file(), path
    assert list(gradebook(out)) == students
    for name in ("summary.md", "summary.html", "histogram.png", "canvas.csv", "moodle.csv", "blackboard/ex04.csv"):
        assert (out / name).is_file(), name
    root = ET.parse(out / "junit.xml").getroot()
    assert {s.get("name") for s in root.findall("testsuite")} == {f"{s}.ex04" for s in students}
    assert not [p for p in out.rglob(".*.tmp")]


def test_grades_follow_the_submissions(graded: tuple[Path, dict[str, Outcome]], plan: Plan) -> None:
    out, outcomes = graded
    book = gradebook(out)
    [maximum] = [a.max_score for a in plan.assignments]
    for student, row in book.items():
        record = read_record(out / "reports" / f"{student}.json")
        assert row["ex04"] == row["total"], student
        assert row["error"] == (f"ex04: {record.problems['ex04']}" if record.problems else ""), student
        assert record.max_score == maximum, student
        if student in FULL_MARKS:
            assert record.score == maximum, student
        elif student in BROKEN | {"erin", "peggy"}:  # stubs; classes renamed
            assert record.score == 0, student
        else:
            assert 0 < record.score < maximum, student
    assert all(book[s]["error"] for s in BROKEN)  # an unusable submission says why in the gradebook
    diagnoses = {s: {r.diagnosis for r in read_record(out / "reports" / f"{s}.json").reports[0].checks} - {"ok"}
                 for s in book}
    assert diagnoses["bob"] == diagnoses["mary-jane"] == {"broadcast_not_reduced"}
    assert diagnoses["carol"] == {"transposed"} and diagnoses["smithjohn"] == {"scaled"}
    assert diagnoses["frank"] == {"crashed", "forbidden_api"}  # os._exit: the static scan flags `import os`
    assert diagnoses["grace"] == {"timeout"}
    assert diagnoses["erin"] == {"not_implemented"} and diagnoses["mallory"] == {"forbidden_api"}
    assert {s for s, o in outcomes.items() if o.status == "failed"} == BROKEN | {"frank", "grace"}
    assert not any(o.error for o in outcomes.values())


def test_layout_ids_reach_the_reports(graded: tuple[Path, dict[str, Outcome]]) -> None:
    out, _ = graded
    mary = read_record(out / "reports" / "mary-jane.json")
    assert (mary.layout, mary.identity.github) == ("classroom", "mary-jane")
    parkmin = read_record(out / "reports" / "parkmin.json")
    assert (parkmin.layout, parkmin.identity.lms_id) == ("canvas", "1005")
    assert "ID" in (out / "canvas.csv").read_text().splitlines()[0] and "\nparkmin,1005," in (out / "canvas.csv").read_text()


def test_hostile_output_is_kept_as_text_and_fools_nothing(graded: tuple[Path, dict[str, Outcome]]) -> None:
    out, _ = graded
    assert gradebook(out)["heidi"]["total"] == "9"  # it printed a fake 10/10 report
    heidi = read_record(out / "reports" / "heidi.json")
    assert "::notice::Points 10/10" in heidi.output
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".csv", ".xml", ".json", ".env"):
            assert not any(line.startswith("::") for line in path.read_text().splitlines()), path
    page = (out / "feedback" / "zoe.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_summary_names_the_common_mistakes_and_the_troubled_students(
        graded: tuple[Path, dict[str, Outcome]]) -> None:
    out, outcomes = graded
    text = (out / "summary.md").read_text()
    share = round(100 * 2 / len(outcomes))
    assert f"| ex04 | Linear | 2 | {share}% of the class did not sum the bias gradient in Linear |" in text
    troubled = text.split("## Crashed, timed out or could not be graded")[1]
    assert "| frank | ex04 | crashed |" in troubled and "| grace | ex04 | timeout |" in troubled
    for student in BROKEN:
        assert f"| {student} | ex04 | unusable |" in troubled
    assert (out / "histogram.png").read_bytes().startswith(b"\x89PNG")


def test_the_summary_warns_about_students_graded_without_a_sandbox_layer(
        graded: tuple[Path, dict[str, Outcome]], plan: Plan, tmp_path: Path) -> None:
    out, outcomes = graded
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    path = copy / "reports" / "alice.json"
    data = json.loads(path.read_text())
    data["exercises"][0]["sandbox"]["layers"]["landlock"] = False  # as a worker on a host without Landlock says
    path.write_text(json.dumps(data))
    written = write_outputs(copy, sorted(outcomes), plan.assignments, (), None, "Backprop 101")
    [warning] = [w for w in written.warnings if "sandbox" in w]
    assert "without landlock" in warning and "alice" in warning and "dave" not in warning  # dave's code never ran
    shown = (copy / "summary.md").read_text().split("## Warnings")[1].split("\n\n")[1]
    assert "without landlock" in shown and "alice" in shown


def test_a_rerun_skips_everyone_and_rewrites_the_same_files(graded: tuple[Path, dict[str, Outcome]], plan: Plan,
                                                            server: SandboxServer, tmp_path: Path) -> None:
    out, _ = graded
    again = tmp_path / "again"
    shutil.copytree(out, again)
    outcomes = run(CLASS, again, plan, server)
    assert {o.status for o in outcomes} == {"unchanged"}
    assert tree(again) == tree(out)


def test_a_changed_submission_is_regraded_and_force_regrades_all(plan: Plan, server: SandboxServer,
                                                                 tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    for name in ("hw-bob", "hw-carol", "heidi", "doejane_1001_5001_linear.py"):
        source = CLASS / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, submissions / name)
    out = tmp_path / "out"
    assert {o.status for o in run(submissions, out, plan, server)} == {"graded"}
    with (submissions / "heidi" / "linear.py").open("a") as handle:
        handle.write("# resubmitted\n")
    assert {o.student: o.status for o in run(submissions, out, plan, server)} == {
        "bob": "unchanged", "carol": "unchanged", "doejane": "unchanged", "heidi": "graded"}
    assert {o.status for o in run(submissions, out, plan, server, force=True)} == {"graded"}


def test_a_student_the_grader_fails_on_gets_a_row_with_the_error_and_is_retried(
        plan: Plan, server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    for name in ("frank.py", "doejane_1001_5001_linear.py"):
        shutil.copy(CLASS / name, submissions / name)
    real = runner._grade

    def fail_for_frank(submission: Submission, plan: Plan, server: SandboxServer
                       ) -> tuple[list[Report], dict[str, str], str, float]:
        if submission.origin.endswith("frank.py"):
            raise RuntimeError("grader bug")
        return real(submission, plan, server)

    monkeypatch.setattr(runner, "_grade", fail_for_frank)
    out = tmp_path / "out"
    outcomes = {o.student: o for o in run(submissions, out, plan, server)}
    assert outcomes["frank"].error == "RuntimeError: grader bug" and outcomes["doejane"].error == ""
    book = gradebook(out)
    assert book["frank"] == {"student": "frank", "ex04": "", "total": "", "error": "RuntimeError: grader bug"}
    assert book["doejane"]["total"] == "9"
    frank = read_record(out / "reports" / "frank.json")
    assert frank.key == "" and all("could not grade" in r.message for r in frank.reports[0].checks)
    assert json.loads((out / "lti" / "frank.json").read_text())["gradingProgress"] == "Failed"
    monkeypatch.setattr(runner, "_grade", real)
    assert {o.student: o.status for o in run(submissions, out, plan, server)} == {
        "doejane": "unchanged", "frank": "failed"}  # retried, and now it crashes as it should


def test_a_canvas_download_zip_is_graded_as_it_is(plan: Plan, server: SandboxServer, tmp_path: Path) -> None:
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("doejane_1001_5001_linear.py", "smithjohn_1002_5002_linear-1.py", "ivan.zip"):
            zipped.write(CLASS / name, name)
    out = tmp_path / "out"
    root, skipped = unpack(archive, out / ".unpacked" / "submissions")
    assert skipped == []
    outcomes = {o.student: o.status for o in run(root, out, plan, server)}
    assert outcomes == {"doejane": "graded", "ivan": "failed", "smithjohn": "graded"}
    lines = (out / "canvas.csv").read_text().splitlines()
    assert lines[2:] == ["doejane,1001,,,,9", "ivan,,,,,0", "smithjohn,1002,,,,7.3333"]


@pytest.fixture(scope="module")
def kill_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The class without its never-returning student: a killed grader's sandbox children are not its to reap."""
    folder = tmp_path_factory.mktemp("kill-class")
    for entry in CLASS.iterdir():
        if entry.name != "grace":
            (shutil.copytree if entry.is_dir() else shutil.copy)(entry, folder / entry.name)
    return folder


def test_killing_the_batch_halfway_and_rerunning_gives_the_same_files(
        kill_class: Path, course_root: Path, plan: Plan, server: SandboxServer, tmp_path: Path,
        pinned_time: None) -> None:
    reference = tmp_path / "reference"
    total = len(run(kill_class, reference, plan, server))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "grader", "batch", str(kill_class), "--out", str(out), "--exercise", "ex04",
               "--jobs", "1", "--lms", "all", "--course", str(course_root)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "reports").glob("*.json"))) < 4:
            assert process.poll() is None, "the batch finished before it could be killed"
            assert time.monotonic() < deadline, "the batch wrote no reports"
            time.sleep(0.05)
        process.kill()  # SIGKILL: no clean-up of any kind
    finally:
        process.kill()
        process.wait()
    finished = len(list((out / "reports").glob("*.json")))
    assert 4 <= finished < total and not (out / "gradebook.csv").exists()
    outcomes = run(kill_class, out, plan, server)
    assert sum(o.status == "unchanged" for o in outcomes) == finished
    assert tree(out) == tree(reference)


def test_the_command_grades_a_class_with_a_roster_and_two_jobs(course_root: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """...and writes its class files with no thread of its own left beside the main one (its grading threads,
    the matplotlib import, a progress bar's redrawing), so their share goes to forked copies (:mod:`aside`)."""
    beside = threads_beside_class_files(monkeypatch)
    submissions = tmp_path / "class"
    submissions.mkdir()
    for name in ("hw-bob", "hw-mary-jane", "doejane_1001_5001_linear.py", "judy.ipynb"):
        source = CLASS / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, submissions / name)
    roster = tmp_path / "roster.csv"
    roster.write_text('name,lms_id,github,email\n"Doe, Jane",1001,,jane@uni.edu\n"Roe, Bob",1002,bob,bob@uni.edu\n')
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(submissions), "--out", str(out), "--exercise", "4", "--jobs", "2", "--lms", "all",
              "--roster", str(roster), "--course", str(course_root)])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3 graded, 1 failed" in captured.err and "0 unchanged" in captured.err
    canvas = (out / "canvas.csv").read_text()
    assert '"Doe, Jane",1001,' in canvas and '"Roe, Bob",1002,' in canvas
    assert (out / "moodle.csv").read_text().startswith("Username,")  # mary-jane has no email
    assert "Feedback: Roe, Bob" in (out / "feedback" / "bob.md").read_text()
    assert len(beside) == 3 and beside == [[], [], []]  # the two pictures and the feedback pages


def test_usage_errors_exit_2_with_the_reason(course_root: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for args, reason in [(["--exercise", "ex99"], "unknown exercise 'ex99'"),
                         (["--roster", str(CLASS / "README.txt")], "no known column")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["batch", str(CLASS), "--out", str(tmp_path / "out"), "--course", str(course_root), *args])
        assert exit_info.value.code == 2
        assert reason in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--course", str(course_root)])
    assert exit_info.value.code == 2 and "no submissions in" in capsys.readouterr().err


def test_the_grading_process_never_imports_torch_once_the_cases_are_cached(plan: Plan, course_root: Path,
                                                                           tmp_path: Path) -> None:
    """The sandbox servers have torch; the process that grades needs none of its own (about 2 s of CPU): cases,
    catalogue values and slopes come from the cache, and the static scan is made by a server. A class with a
    right answer, named mistakes (a catalogue entry, a transpose) and a cheat (the scan's finding)."""
    runner.warm_cases(plan)
    for i, name in enumerate(("linear_alternative", "linear_bias_mean", "linear_weight_transposed",
                              "linear_autograd_grad")):
        (tmp_path / "class" / f"s{i}").mkdir(parents=True)
        shutil.copy(SUBMISSIONS / name / "linear.py", tmp_path / "class" / f"s{i}" / "linear.py")
    script = (f"import sys; from pathlib import Path; from grader.batch.layouts import discover; "
              f"from grader.batch.runner import grade_class, make_plan; from grader.spec import load_course; "
              f"plan = make_plan(load_course(Path({str(course_root)!r})), ['ex04']); "
              f"grade_class(discover([Path({str(tmp_path / 'class')!r})]).entries, Path({str(tmp_path / 'out')!r}), "
              f"plan, jobs=2); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False", done.stderr
    records = {p.stem: read_record(p) for p in (tmp_path / "out" / "reports").glob("*.json")}
    rows = {s: [r for e in rec.reports for r in e.checks if not r.passed] for s, rec in records.items()}
    assert rows["s0"] == [] and {r.pattern for r in rows["s1"]} >= {"bias_averaged"}
    assert {r.diagnosis for r in rows["s2"]} >= {"transposed"}
    assert any(r.check == "policy" and "autograd" in r.message for r in rows["s3"])
