"""The instructor's class summary against hand-checked files: histogram, common mistakes, troubled students."""

from __future__ import annotations

from pathlib import Path

from grader.batch.record import ClassRecords
from grader.batch.roster import load_roster
from grader.writers import summary

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
EXPECTED = FIXTURES / "expected"


def records() -> ClassRecords:
    return ClassRecords(FIXTURES / "reports", roster=load_roster(FIXTURES / "roster.csv"))


def test_summary_matches_the_hand_checked_files(tmp_path: Path) -> None:
    md, page, png = summary.write(records(), tmp_path, "Backprop 101", ["name: Absent, Al"])
    assert md.read_text() == (EXPECTED / "summary.md").read_text().replace(
        "name: Absent, Al, email: al\\.absent@uni\\.edu, username: aabsent, sis\\_id: S009, lms\\_id: 1009, section: B, "
        "lti\\_id: lti\\-ffff", "name: Absent, Al")
    assert page.read_bytes().startswith(b"<!DOCTYPE html>")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_histogram_is_the_same_bytes_every_time() -> None:
    assert summary.histogram_png([10.0, 55.0, 100.0], "t") == summary.histogram_png([10.0, 55.0, 100.0], "t")


def test_common_mistakes_read_as_sentences_with_the_share_of_the_class() -> None:
    text = (EXPECTED / "summary.md").read_text()
    assert "| ex04 | Linear | 1 | 25% of the class did not sum the bias gradient in Linear |" in text
    assert "| ex01 | ShiftedSquare | 1 | 25% of the class timed out in ShiftedSquare |" in text
    assert "syntax error" not in text.split("## Most common mistakes")[1].split("## Crashed")[0]  # unusable: listed below
    assert summary.mistake("broadcast_not_reduced", "Linear", "bias") == "did not sum the bias gradient in Linear"
    assert summary.mistake("crashed", "Linear", None) == "crashed in Linear"


def test_students_that_crashed_timed_out_or_were_not_graded_are_listed() -> None:
    troubled = (EXPECTED / "summary.md").read_text().split("## Crashed, timed out or could not be graded")[1]
    assert "| o\\-brien | ex01 | timeout |" in troubled
    assert "| quinn | ex04 | unusable | syntax error" in troubled
    assert "| zed | - | error | RuntimeError: boom |" in troubled
    assert "Absent, Al" in troubled  # in the roster, no submission
    page = (EXPECTED / "summary.html").read_text()
    assert '<img src="histogram.png"' in page and "<td>zed</td>" in page
