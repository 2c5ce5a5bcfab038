"""Writers: the terminal report and the JSON report, from hand-made results (no grading needed)."""

from __future__ import annotations

import io
import json

import pytest

from grader.diagnose import HINTS
from grader.results import Report, Row, combined_dict
from grader.writers import json_report, terminal


def _row(input: str | None, check: str, diagnosis: str = "ok", case: str = "public-1", message: str = "",
         hidden: bool = False) -> Row:
    return Row(target="Linear", check=check, case=case, input=input, passed=diagnosis == "ok", diagnosis=diagnosis,
               message=message or diagnosis, hint=HINTS[diagnosis], hidden=hidden)


@pytest.fixture
def report() -> Report:
    rows = [_row(None, "forward"), _row(None, "policy")]
    for case in ("public-1", "hidden-1"):
        for name in ("x", "bias"):
            wrong = name == "bias"
            rows.append(_row(name, "autograd", "broadcast_not_reduced" if wrong else "ok", case,
                             "grad_bias has the broadcast shape [5, 4]" if wrong else "", hidden=case.startswith("h")))
    return Report(exercise="ex04", title="Matrix multiply and Linear", score=2.0, max_score=4.0, seed=7,
                  checks=tuple(r.with_points(1.0 if r.passed and r.input else 0.0, 1.0 if r.input else 0.0)
                               for r in rows),
                  output="hello\x1b]0;pwned\x07\x1b[2J from the student\n")


def test_terminal_report_names_each_mistake_once_with_its_hint(report):
    out = io.StringIO()
    terminal.write([report], out, color=False)
    text = out.getvalue()
    assert "ex04 · Matrix multiply and Linear" in text and "seed 7" in text and "Score: 2 / 4" in text
    assert text.count("✗ bias: broadcast_not_reduced") == 1
    assert "public-1, hidden-1 (hidden)" in text
    assert HINTS["broadcast_not_reduced"] in text


def test_terminal_escapes_control_characters_in_student_output(report):
    out = io.StringIO()
    terminal.write([report], out, color=False)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text and "from the student" in text


def test_terminal_can_leave_student_output_out(report):
    out = io.StringIO()
    terminal.write([report], out, color=False, show_output=False)
    assert "from the student" not in out.getvalue()


def test_json_report_is_strict_json_without_the_output(report):
    out = io.StringIO()
    json_report.write([report], out)
    data = json.loads(out.getvalue())
    assert data == report.to_dict()
    assert "from the student" not in out.getvalue()
    assert [r["hidden"] for r in data["checks"] if r["check"] == "autograd"] == [False, False, True, True]


def test_json_report_for_all(report):
    out = io.StringIO()
    json_report.write([report, report], out, combined=True)
    data = json.loads(out.getvalue())
    assert data == combined_dict([report, report])
    assert (data["score"], data["max_score"], len(data["exercises"])) == (4.0, 8.0, 2)


def _patterned() -> Report:
    message = "grad_bias: summed over the wrong axis — worst element at [1]: got 0.5, expected 2"
    rows = (Row("Linear", "autograd", "public-1", "bias", False, "wrong_values", message, "Sum over the batch.",
                pattern="bias_wrong_axis"),
            Row("Linear", "gradcheck", "public-1", "bias", False, "wrong_values", "grad_bias disagrees", "Look."),
            Row("Linear", "autograd", "public-1", "x", True, "ok", "fine"))
    return Report("ex04", "Linear", 1.0, 3.0, 1234, rows)


def test_every_view_shows_the_pattern_with_its_message_and_hint():
    """Terminal, feedback (Markdown and HTML), notebook HTML, the LMS brief and the JSON report."""
    from grader.jupyter import Source, render
    from grader.writers import feedback

    report = _patterned()
    out = io.StringIO()
    terminal.write([report], out, color=False, columns=100)
    text = out.getvalue()
    assert "✗ bias: wrong_values · bias_wrong_axis" in text and "summed over the wrong axis" in text
    assert "Sum over the batch." in text and "grad_bias disagrees" not in text  # the pattern's row is shown
    markdown = "\n".join(feedback.report_markdown(report))
    assert "**✗ bias: wrong_values · bias_wrong_axis**" in markdown and "Sum over the batch" in markdown
    page = "\n".join(feedback.html_table(feedback.tables(report)[0]))
    assert "✗ bias: wrong_values · bias_wrong_axis" in page
    assert "✗ bias: wrong_values · bias_wrong_axis" in render(report, Source("", "here"))
    assert feedback.brief(report) == "ex04 1/3: Linear wrong_values · bias_wrong_axis in grad_bias"
    out = io.StringIO()
    json_report.write([report], out)
    checks = json.loads(out.getvalue())["checks"]
    assert [c["pattern"] for c in checks] == ["bias_wrong_axis", None, None]
