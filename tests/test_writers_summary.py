"""The instructor's class summary: the hand-checked files, and a small class that must lead with its lesson.

The small class (:func:`small_class`) has eight students: two who did not sum Linear's bias gradient (the
lesson), one who transposed a weight gradient, an untouched stub (its rows are ``not_implemented`` for every
input, ``dim`` and ``keepdim`` included), one who left ex07 alone, one who returned a gradient for ``dim``,
a syntax error, and one who handed in no module at all.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.image import imread

from grader.batch.record import ClassRecords, Identity, StudentRecord
from grader.batch.roster import load_roster
from grader.results import Report, Row
from grader.writers import summary
from grader.writers.heatmap import Grid, grid, heatmap_png
from grader.writers.tally import tally, target_mistakes

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
EXPECTED = FIXTURES / "expected"


def records() -> ClassRecords:
    return ClassRecords(FIXTURES / "reports", roster=load_roster(FIXTURES / "roster.csv"))


def test_summary_matches_the_hand_checked_files(tmp_path: Path) -> None:
    md, page, histogram, heatmap = summary.write(records(), tmp_path, "Backprop 101", ["name: Absent, Al"])
    assert md.read_text() == (EXPECTED / "summary.md").read_text().replace(
        "name: Absent, Al, email: al\\.absent@uni\\.edu, username: aabsent, sis\\_id: S009, lms\\_id: 1009, section: B, "
        "lti\\_id: lti\\-ffff", "name: Absent, Al")
    assert page.read_bytes().startswith(b"<!DOCTYPE html>")
    for png in (histogram, heatmap):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_pictures_are_the_same_bytes_every_time() -> None:
    assert summary.histogram_png([10.0, 55.0, 100.0], "t") == summary.histogram_png([10.0, 55.0, 100.0], "t")
    cells = grid({("ex04 · Linear", "transposed"): 25})
    assert heatmap_png(cells, "t") == heatmap_png(cells, "t")


def test_common_mistakes_read_as_sentences_with_the_share_of_the_class() -> None:
    text = (EXPECTED / "summary.md").read_text()
    assert ("| ex04 | Linear | 1 | 25% of the class did not sum the bias gradient in Linear | "
            "`broadcast_not_reduced (grad_bias)` |") in text
    mistakes = text.split("## Most common mistakes")[1].split("## Not attempted")[0]
    assert "syntax error" not in mistakes and "timed out" not in mistakes  # listed below, by cause
    assert summary.mistake("broadcast_not_reduced", "Linear", "bias") == "did not sum the bias gradient in Linear"
    assert summary.mistake("transposed", "MatMul", "a", "b") == "transposed the a and b gradients in MatMul"
    assert summary.mistake("crashed", "Linear") == "crashed in Linear"


def test_students_that_crashed_timed_out_or_were_not_graded_are_listed() -> None:
    troubled = (EXPECTED / "summary.md").read_text().split("## Crashed, timed out or could not be graded")[1]
    assert "- syntax error: 1 student (quinn: syntax error in linear\\.py line 3: invalid syntax)" in troubled
    assert "| o\\-brien | ex01 | timeout |" in troubled
    assert "| quinn | ex04 | unusable | syntax error" in troubled
    assert "| zed | - | error | RuntimeError: boom |" in troubled
    assert "Absent, Al" in troubled  # in the roster, no submission
    page = (EXPECTED / "summary.html").read_text()
    assert '<img src="histogram.png"' in page and '<img src="heatmap.png"' in page and "<td>zed</td>" in page


# A small class, built here ------------------------------------------------------------------------------------

LINEAR = ("x", "weight", "bias")
BIAS_NOT_SUMMED = {("Linear", "bias"): "broadcast_not_reduced"}
SYNTAX = "syntax error in linear.py line 3: invalid syntax"


def rows(target: str, tensors: tuple[str, ...], others: tuple[str, ...] = (),
         fail: dict[tuple[str, str | None], str] | None = None, everything: str = "") -> list[Row]:
    """One case of ``target``: forward, contract rows for every argument, value rows for the tensors only.

    ``fail[(target, input)]`` is the diagnosis of that input's rows; ``everything`` fails every gradient row.
    """
    fail = fail or {}
    found = [Row(target, "forward", "public-1", None, True, "ok", "ok")]
    for check, names in (("contract", tensors + others), ("autograd", tensors), ("gradcheck", tensors)):
        for name in names:
            code = everything or fail.get((target, name), "ok")
            found.append(Row(target, check, "public-1", name, code == "ok", code, code, max_score=1.0,
                             score=1.0 if code == "ok" else 0.0))
    return found


def report(exercise: str, checks: list[Row]) -> Report:
    return Report(exercise, exercise, sum(r.score for r in checks), sum(r.max_score for r in checks), 1, tuple(checks))


def ex04(fail: dict[tuple[str, str | None], str] | None = None, everything: str = "") -> Report:
    return report("ex04", rows("MatMul", ("a", "b"), fail=fail, everything=everything)
                  + rows("Linear", LINEAR, fail=fail, everything=everything))


def ex05(fail: dict[tuple[str, str | None], str] | None = None, everything: str = "") -> Report:
    return report("ex05", rows("Sum", ("x",), ("dim", "keepdim"), fail=fail, everything=everything))


def ex07(everything: str = "") -> Report:
    return report("ex07", rows("TwoLayerMLP", ("x", "w1", "b1", "w2", "b2"), everything=everything))


def loading_failed(exercise: str, target: str, why: str) -> Report:
    """Every row an exception, as when the module could not be loaded."""
    return report(exercise, [Row(target, check, "public-1", None, False, "exception", why)
                             for check in ("forward", "contract", "autograd")])


def small_class(folder: Path) -> ClassRecords:
    stub = "not_implemented"
    students = {
        "ana": ((ex04(), ex05(), ex07()), {}),
        "ben": ((ex04(BIAS_NOT_SUMMED), ex05(), ex07()), {}),
        "cat": ((ex04(BIAS_NOT_SUMMED), ex05({("Sum", "x"): "wrong_values"}), ex07()), {}),
        "dan": ((ex04(everything=stub), ex05(everything=stub), ex07(everything=stub)), {}),
        "eve": ((ex04(everything="exception"), ex05(), ex07()), {"ex04": SYNTAX}),
        "fay": ((ex04(everything="exception"), ex05(everything="exception"), ex07(everything="exception")),
                {ex: f"no {module} found in the submission (fay)" for ex, module in
                 (("ex04", "linear.py"), ("ex05", "broadcasting.py"), ("ex07", "mlp.py"))}),
        "gus": ((ex04({("Linear", "weight"): "transposed"}), ex05({("Sum", "dim"): "wrong_type"}),
                 loading_failed("ex07", "TwoLayerMLP", "LookupError: mlp.py has no class TwoLayerMLP "
                                                       "(while loading your module)")), {}),
        "hal": ((ex04(), ex05(), ex07(everything=stub)), {}),
    }
    reports = folder / "reports"
    reports.mkdir()
    for student, (graded, problems) in students.items():
        record = StudentRecord(Identity(student), graded, "2024-05-01T12:00:00+00:00", problems=problems)
        (reports / f"{student}.json").write_text(record.to_json())
    return ClassRecords(reports)


def written(tmp_path: Path) -> tuple[str, str, Path]:
    """summary.md, summary.html and the heat map of the small class."""
    md, page, _, heatmap = summary.write(small_class(tmp_path), tmp_path, "Small class")
    return md.read_text(), page.read_text(), heatmap


def section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n")[1].split("\n## ")[0]


def test_the_most_frequent_real_mistake_leads(tmp_path: Path) -> None:
    md, _, _ = written(tmp_path)
    table = [line for line in section(md, "Most common mistakes").splitlines() if line.startswith("| ex0")]
    assert table[0] == ("| ex04 | Linear | 2 | 25% of the class did not sum the bias gradient in Linear | "
                        "`broadcast_not_reduced (grad_bias)` |")
    assert [line.split(" | ")[2] for line in table] == ["2", "1", "1", "1"]  # most students first
    assert table[1].startswith("| ex04 | Linear | 1 | 13% of the class transposed the weight gradient")  # ex04 first
    assert len(table) == 4  # one row per target and diagnosis: the stub and the unusable add none


def test_a_stub_and_arguments_without_a_gradient_make_no_mistake_rows(tmp_path: Path) -> None:
    mistakes = section(written(tmp_path)[0], "Most common mistakes")
    assert "not implement" not in mistakes and "not_implemented" not in mistakes
    for name in ("dim", "keepdim"):
        assert f"the {name} gradient" not in mistakes and f"grad_{name}" not in mistakes
    assert "| ex05 | Sum | 1 | 13% of the class returned a gradient for an argument of Sum that takes None | " \
           "`wrong_type` |" in mistakes
    assert target_mistakes(ex05({("Sum", "keepdim"): "wrong_type"}))[("Sum", "wrong_type", "")] == ((), "")


def test_not_attempted_is_its_own_short_section(tmp_path: Path) -> None:
    lines = section(written(tmp_path)[0], "Not attempted").strip().splitlines()
    assert lines == ["- ex04: 1 student did not attempt any of it (dan)",
                     "- ex05: 1 student did not attempt Sum (dan)",
                     "- ex07: 2 students did not attempt TwoLayerMLP (dan, hal)"]


def test_unusable_submissions_are_grouped_by_cause_with_the_names(tmp_path: Path) -> None:
    md, page, _ = written(tmp_path)
    troubled = section(md, "Crashed, timed out or could not be graded")
    causes = [line for line in troubled.splitlines() if line.startswith("- ")]
    assert causes == ["- class missing: 1 student (gus: LookupError: mlp\\.py has no class TwoLayerMLP)",
                      "- no module found: 1 student (fay)",
                      "- syntax error: 1 student (eve: syntax error in linear\\.py line 3: invalid syntax)"]
    assert "| fay | ex04, ex05, ex07 | unusable | no linear\\.py found" in troubled  # one line, not three
    assert "<li>no module found: 1 student (fay)</li>" in page


def test_many_students_with_one_cause_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    for i in range(20):
        record = StudentRecord(Identity(f"s{i:02d}"), (ex04(everything="exception"),), "2024-05-01T12:00:00+00:00",
                               problems={"ex04": "no linear.py found in the submission"})
        (tmp_path / "reports" / f"s{i:02d}.json").write_text(record.to_json())
    md = summary.write(ClassRecords(tmp_path / "reports"), tmp_path)[0].read_text()
    [line] = [line for line in section(md, "Crashed, timed out or could not be graded").splitlines() if "- " in line]
    assert line.startswith("- no module found: 20 students (s00, s01,") and line.endswith("s11 and 8 more)")
    assert "Every student attempted every target." in md


def test_the_heat_map_is_in_the_page_and_a_valid_image(tmp_path: Path) -> None:
    md, page, heatmap = written(tmp_path)
    assert '<img src="heatmap.png" alt="mistakes per target and diagnosis">' in page
    assert page.index('src="histogram.png"') < page.index('src="heatmap.png"') < page.index("<h2>")  # side by side
    assert "![mistakes per target and diagnosis](heatmap.png)" in md
    image = imread(io.BytesIO(heatmap.read_bytes()), format="png")
    height, width = image.shape[:2]
    assert 400 <= width <= 1600 and 250 <= height <= 1200


def test_the_heat_map_has_no_empty_rows_or_columns_and_no_ok(tmp_path: Path) -> None:
    cells = summary.heatmap_grid(tally(small_class(tmp_path)), [])
    assert cells == Grid(("ex04 · Linear", "ex05 · Sum"), ("broadcast_not_reduced", "transposed", "wrong_type",
                                                          "wrong_values"), ((25, 13, 0, 0), (0, 0, 13, 13)))
    assert grid({("a", "ok"): 0, ("b", "scaled"): 0}) == Grid((), (), ())


def _sigmoid(student: str, pattern: str | None, message: str) -> StudentRecord:
    """A student whose Sigmoid gradient is wrong: the autograd row names ``pattern``, the gradcheck row cannot."""
    checks = [Row("Sigmoid", "forward", "public-1", None, True, "ok", "ok"),
              Row("Sigmoid", "autograd", "public-1", "x", False, "wrong_values", message, pattern=pattern),
              Row("Sigmoid", "gradcheck", "public-1", "x", False, "wrong_values", "grad_x disagrees")]
    return StudentRecord(Identity(student), (report("ex03", checks),), "2024-05-01T12:00:00+00:00")


def test_patterns_are_counted_as_the_misconception(tmp_path: Path) -> None:
    """One row per target and pattern (in the pattern's words), else per diagnosis; the heat map keeps codes."""
    at_output = "grad_x: evaluated σ' at the output y (not x) — worst element at [3]: got 0.1, expected 0.2"
    class_ = [_sigmoid("a", "sigmoid_at_output", at_output), _sigmoid("b", "sigmoid_at_output", at_output),
              _sigmoid("c", "sign_region", "grad_x is wrong only where x < 0 (3 of 7 elements)"),
              _sigmoid("d", None, "grad_x is wrong: worst element at [1]")]
    reports = tmp_path / "reports"
    reports.mkdir()
    for record in class_:
        (reports / f"{record.student}.json").write_text(record.to_json())
    md = summary.write(ClassRecords(reports), tmp_path, "t")[0].read_text()
    table = [line for line in section(md, "Most common mistakes").splitlines() if line.startswith("| ex03")]
    assert table == [
        "| ex03 | Sigmoid | 2 | 50% of the class evaluated σ' at the output y \\(not x\\), in the x gradient of "
        "Sigmoid | `wrong_values · sigmoid_at_output (grad_x)` |",
        "| ex03 | Sigmoid | 1 | 25% of the class got the x gradient in Sigmoid wrong only on one side of zero | "
        "`wrong_values · sign_region (grad_x)` |",
        "| ex03 | Sigmoid | 1 | 25% of the class got wrong values for the x gradient in Sigmoid | "
        "`wrong_values (grad_x)` |"]
    found = tally(ClassRecords(reports))
    assert found.code_share(("ex03", "Sigmoid", "wrong_values")) == 100
