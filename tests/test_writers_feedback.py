"""Per-student feedback pages against hand-checked files, and what a hostile student's text cannot do there."""

from __future__ import annotations

import re
from pathlib import Path

from grader.batch.record import ClassRecords, read_record
from grader.batch.roster import load_roster
from grader.writers import feedback

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
EXPECTED = FIXTURES / "expected" / "feedback"


def records() -> ClassRecords:
    return ClassRecords(FIXTURES / "reports", roster=load_roster(FIXTURES / "roster.csv"))


def test_feedback_matches_the_hand_checked_files(tmp_path: Path) -> None:
    for record in records():
        md, page = feedback.write(record, tmp_path)
        assert md.read_bytes() == (EXPECTED / md.name).read_bytes(), md.name
        assert page.read_bytes() == (EXPECTED / page.name).read_bytes(), page.name


def test_the_table_has_one_line_per_input_and_one_column_per_gradient_check() -> None:
    text = (EXPECTED / "mary-jane.md").read_text()
    assert "| input | contract | autograd |" in text
    assert "| bias | broadcast\\_not\\_reduced | broadcast\\_not\\_reduced |" in text
    assert "# Feedback: Jane, Mary" in text  # the roster's name


def test_one_mistake_shared_by_inputs_is_explained_once() -> None:
    record = read_record(FIXTURES / "reports" / "o-brien.json")
    [table] = feedback.tables(record.reports[0])
    [problem] = table.problems
    assert problem.subject == "(whole op), x" and problem.diagnosis == "timeout"
    assert problem.checks == "forward, contract, autograd" and problem.cases == "public-1, hidden-1 (hidden)"


def test_hostile_text_is_shown_not_obeyed() -> None:
    md = (EXPECTED / "o-brien.md").read_text()
    page = (EXPECTED / "o-brien.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in md + page and "\x00" not in md + page and "\\x1b[31m" in md
    fences = re.findall(r"^ *```", md, flags=re.MULTILINE)
    assert len(fences) % 2 == 0  # every block the student's text is in is closed
    outside = re.sub(r"```text\n.*?\n *```", "", md, flags=re.DOTALL)
    assert "<script>" not in outside and "::notice::" not in outside


def test_brief_is_one_plain_line_per_exercise() -> None:
    record = read_record(FIXTURES / "reports" / "mary-jane.json")
    assert feedback.brief(record.reports[1]) == "ex04 2/4: Linear broadcast_not_reduced in grad_bias"
    assert feedback.record_brief(record) == ("ex01 3/3: every check passed | "
                                             "ex04 2/4: Linear broadcast_not_reduced in grad_bias")
    quinn = read_record(FIXTURES / "reports" / "quinn.json")
    assert feedback.record_brief(quinn).endswith("ex04 0/4: the submission could not be used: "
                                                 "syntax error in linear.py line 3: invalid syntax")
    assert feedback.record_brief(read_record(FIXTURES / "reports" / "zed.json")) == "not graded: RuntimeError: boom"
