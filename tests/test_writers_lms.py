"""Each class-level writer against its hand-checked file in tests/fixtures/batch/expected/.

The input is the hand-made class of tests/fixtures/batch/reports/ (see make_reports.py there) with the
roster next to it: a full mark, a partial mark, a hostile student, an unusable submission, and a student the
grader could not grade.
"""

from __future__ import annotations

import base64
import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.batch.outputs import lms_writer, write_classroom
from grader.batch.record import ClassRecords
from grader.batch.roster import load_roster
from grader.writers import gradebook

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
EXPECTED = FIXTURES / "expected"


def records() -> ClassRecords:
    return ClassRecords(FIXTURES / "reports", roster=load_roster(FIXTURES / "roster.csv"))


def same_files(written: Path, expected: Path) -> None:
    """Every file under ``expected`` is byte-identical under ``written``, and nothing else was written."""
    if expected.is_file():
        assert written.read_bytes() == expected.read_bytes(), written
        return
    names = sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    assert sorted(p.relative_to(written) for p in written.rglob("*") if p.is_file()) == names
    for name in names:
        assert (written / name).read_bytes() == (expected / name).read_bytes(), name


@pytest.mark.parametrize("name, output", [
    ("canvas", "canvas.csv"), ("moodle", "moodle.csv"), ("blackboard", "blackboard"), ("lti", "lti"),
    ("gradescope", "gradescope"), ("junit", "junit.xml"), ("classroom", "classroom"),
])
def test_lms_writer_matches_the_hand_checked_file(name: str, output: str, tmp_path: Path) -> None:
    written = lms_writer(name)(records(), tmp_path)
    assert written == tmp_path / output
    same_files(written, EXPECTED / output)


def test_gradebook_matches_the_hand_checked_file(tmp_path: Path) -> None:
    same_files(gradebook.write(records(), tmp_path), EXPECTED / "gradebook.csv")


def test_gradebook_keeps_an_ungraded_student_with_the_error(tmp_path: Path) -> None:
    rows = list(csv.DictReader(gradebook.write(records(), tmp_path).read_text().splitlines()))
    assert [r["student"] for r in rows] == ["doejane", "mary-jane", "o-brien", "quinn", "zed"]
    assert rows[-1] == {"student": "zed", "ex01": "", "ex04": "", "total": "", "error": "RuntimeError: boom"}
    assert [r["total"] for r in rows[:-1]] == ["7", "5", "2", "3"]


def test_a_cell_is_never_a_formula() -> None:
    assert gradebook.cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert gradebook.cell("@SUM(A1)") == "'@SUM(A1)"
    assert gradebook.cell("two\nlines\x1b") == "two lines\\x1b"


def test_canvas_rows_carry_the_roster_ids_and_quote_names_with_commas() -> None:
    lines = (EXPECTED / "canvas.csv").read_text().splitlines()
    assert lines[0] == "Student,ID,SIS User ID,SIS Login ID,Section,ex01 The chain rule,ex04 Matrix multiply and Linear"
    assert lines[1].startswith("    Points Possible,")
    assert '"Doe, Jane",1001,S001,jdoe,A,3,4' in lines


def test_moodle_uses_one_identity_column_every_student_has(tmp_path: Path) -> None:
    header = next(csv.reader(lms_writer("moodle")(records(), tmp_path).read_text().splitlines()))
    assert header[0] == "Username"  # quinn and zed have no email in the roster
    assert header[1:] == ["ex01 The chain rule", "ex01 feedback", "ex04 Matrix multiply and Linear", "ex04 feedback"]


def test_blackboard_quotes_every_value_and_targets_a_column_per_file() -> None:
    for path in (EXPECTED / "blackboard").iterdir():
        for line in path.read_text().splitlines():
            assert line.startswith('"') and line.endswith('"')
    header = (EXPECTED / "blackboard" / "ex04.csv").read_text().splitlines()[0]
    assert "[Total Pts: 4 Score]" in header and "Feedback to Learner" in header


def test_lti_scores_have_what_the_platform_requires() -> None:
    for path in (EXPECTED / "lti").iterdir():
        score = json.loads(path.read_text())
        assert {"userId", "timestamp", "activityProgress", "gradingProgress"} <= set(score)
        assert ("scoreGiven" in score) == ("scoreMaximum" in score)
        assert "." in score["timestamp"]  # sub-second precision
    jane = json.loads((EXPECTED / "lti" / "doejane.json").read_text())
    assert jane["userId"] == "lti-7f3a" and jane["scoreGiven"] == 7 and jane["gradingProgress"] == "FullyGraded"
    assert json.loads((EXPECTED / "lti" / "zed.json").read_text())["gradingProgress"] == "Failed"


def test_gradescope_hides_hidden_cases_until_published_but_says_they_failed() -> None:
    data = json.loads((EXPECTED / "gradescope" / "mary-jane" / "results.json").read_text())
    assert data["score"] == 5
    hidden = [t for t in data["tests"] if t["name"].endswith("(hidden cases)")]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)
    assert all(t["visibility"] == "visible" for t in data["tests"] if t not in hidden)
    assert "hidden cases: 1 of 3 tests failed" in data["output"] and data["visibility"] == "visible"
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-6
    assert {t["number"] for t in data["tests"]} >= {"1.1", "4.1", "4.3"}


def test_junit_parses_with_points_as_properties() -> None:
    root = ET.parse(EXPECTED / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    cases = root.findall("testsuite/testcase")
    assert int(root.get("tests", "")) == len(cases) == sum(int(s.get("tests", "")) for s in suites)
    assert int(root.get("failures", "")) == len(root.findall("testsuite/testcase/failure")) == 2
    assert int(root.get("errors", "")) == len(root.findall("testsuite/testcase/error")) == 6  # unusable: <error>
    mary = next(s for s in suites if s.get("name") == "mary-jane.ex04")
    props = {p.get("name"): p.get("value") for p in mary.findall("properties/property")}
    assert props == {"score": "2", "max_score": "4"}
    [failure] = mary.findall("testcase/failure")
    assert failure.get("type") == "broadcast_not_reduced"
    timeout = next(s for s in suites if s.get("name") == "o-brien.ex01").findall("testcase/error")
    assert {e.get("type") for e in timeout} == {"timeout"}
    text = "".join(e.text or "" for e in root.iter())
    assert "\x1b" not in text and "\x00" not in text and "</td><script>" in text  # legal XML, markup as text


def test_classroom_files_hold_what_the_reporter_decodes(tmp_path: Path) -> None:
    folder = write_classroom(records(), tmp_path)
    lines = (folder / "mary-jane.env").read_text().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["EX01_RESULTS", "EX04_RESULTS"]
    ex04 = json.loads(base64.b64decode(lines[1].split("=", 1)[1]))
    assert ex04["version"] == 1 and ex04["status"] == "fail" and ex04["max_score"] == 4
    assert sum(t["score"] for t in ex04["tests"]) == 2
    zed = [json.loads(base64.b64decode(line.split("=", 1)[1])) for line in (folder / "zed.env").read_text().splitlines()]
    assert [z["status"] for z in zed] == ["error", "error"]
