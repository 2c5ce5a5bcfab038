"""The hint ladder: ``grade EXERCISE --hint [N]``, ``check(..., hint=True)``, and hints that teach without the answer.

The CLI runs here grade for real once per submission (through the session's memoised ``grade`` fixture) and
hand the same report to every later run, so climbing the ladder costs no sandbox time. Each test works in its
own copy of the course, since the state file lives in the course root.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Grade
from helpers import ROOT, SUBMISSIONS
from test_release_teaches import fragments, normalise_text

import grader.grading
import grader.jupyter
from grader import hints
from grader.authoring.notebook_release import exercise_notebook
from grader.cli import cli, main
from grader.errors import UsageError
from grader.escape import html
from grader.results import Report, Row
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec, load_course, load_exercise

HINTS_PENDING = {"ex12_transformer"}
"""Exercises still being written, whose ladders are their author's to add (test_spec.py keeps the same set)."""

CODE = re.compile(r"\bgrad_\w*\s*[-+*/]?=(?!=)|@|\.sum\(|\.mean\(|\.T\b|torch\.")
"""What no hint may hold: an assignment to a gradient, a matrix product, a reduction call, a transpose, torch."""


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "course.yaml", root / "course.yaml")
    for name in ("exercises", "solutions"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def graded(monkeypatch: pytest.MonkeyPatch, grade: Grade, shared: None) -> dict[str, str | Path]:
    """Grading through the CLI or check() returns the memoised report of the submission named per exercise id
    (edit the dict to change it); by default ex04 has Linear's bias unsummed and everything else is a stub."""
    chosen: dict[str, str | Path] = {"ex04": "linear_bias_not_summed"}

    def fake(spec: CourseSpec, slug: str, submission: object, server: object, hidden: bool = False,
             seed: int | None = None) -> object:
        ex_id = slug.split("_", 1)[0]
        return grade(chosen.get(ex_id, ROOT / "exercises"), exercise=ex_id)

    monkeypatch.setattr(grader.grading, "grade_exercise", fake)
    return chosen


def run(*args: str | Path):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def ladder(exercise: str, target: str) -> tuple[str, ...]:
    spec = load_course(ROOT)
    [slug] = spec.resolve(exercise)
    return next(t.hints for t in load_exercise(spec, slug).targets if t.name == target)


def flat(text: str) -> str:
    """Terminal output with the panel's borders and line breaks taken out, for finding a wrapped hint in it."""
    lines = [line.strip().strip("│").strip() for line in text.splitlines()]
    return " ".join(" ".join(lines).split())


def test_the_next_level_advances_across_runs_and_fits_80_columns(graded, course_copy, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    linear, matmul = ladder("ex04", "Linear"), ladder("ex04", "MatMul")
    texts = []
    for _ in range(4):
        result = run("ex04", "--course", course_copy, "--hint")
        assert result.exit_code == 1
        assert "Score: 7.33333 / 9" in result.stdout  # the report as usual, then the hints
        assert all(len(line) <= 80 for line in result.stdout.splitlines())
        texts.append(flat(result.stdout))
        assert not any(hint in texts[-1] for hint in matmul)  # MatMul passes: no hint for it
    assert [[n for n, hint in enumerate(linear, start=1) if hint in text] for text in texts] == [[1], [2], [3], [3]]
    assert "Linear · hint 1 of 3" in texts[0] and "grade ex04 --hint again shows the next hint" in texts[0]
    assert "Linear · hint 3 of 3 (the last one)" in texts[2] and "again shows" not in texts[2]
    assert "Linear · hint 3 of 3 (the last one again: you have seen every hint)" in texts[3]
    assert json.loads((course_copy / ".grader" / "hints.json").read_text()) == {"ex04": {"Linear": 3}}


def test_hint_n_shows_level_n_and_the_next_one_follows_it(graded, course_copy):
    linear = ladder("ex04", "Linear")
    text = flat(run("ex04", "--course", course_copy, "--hint", "2").stdout)
    assert linear[1] in text and linear[0] not in text and "hint 2 of 3" in text
    text = flat(run("ex04", "--course", course_copy, "--hint").stdout)
    assert linear[2] in text
    text = flat(run("ex04", "--course", course_copy, "--hint", "1").stdout)
    assert linear[0] in text  # asking for an earlier level shows it and forgets nothing
    assert "again shows the next hint" not in text  # there is no level left unseen
    assert json.loads((course_copy / ".grader" / "hints.json").read_text()) == {"ex04": {"Linear": 3}}


def test_without_hint_nothing_is_shown_or_written(graded, course_copy):
    result = run("ex04", "--course", course_copy)
    assert "Hints" not in result.stdout and not (course_copy / ".grader").exists()


def test_an_exercise_that_passes_needs_no_hint(graded, course_copy):
    graded["ex04"] = ROOT / "solutions"
    result = run("ex04", "--course", course_copy, "--hint")
    assert result.exit_code == 0
    assert "Every target passes: no hint needed." in result.stdout
    assert not (course_copy / ".grader" / "hints.json").exists()


def test_grade_all_gives_hints_per_exercise(graded, course_copy):
    yaml_path = course_copy / "course.yaml"
    yaml_path.write_text(re.sub(r"exercises:.*?\ndefaults:", "exercises: [ex03_activations, ex04_linear]\ndefaults:",
                                yaml_path.read_text(), flags=re.S))
    result = run("all", "--course", course_copy, "--hint")
    text = flat(result.stdout)
    assert result.exit_code == 1
    for target in ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU"):  # stubs: every target gets level 1
        assert f"ex03 · {target} · hint 1 of 3" in text and ladder("ex03", target)[0] in text
    assert "ex04 · Linear · hint 1 of 3" in text and "ex04 · MatMul" not in text
    assert "grade all --hint again shows the next hint" in text
    state = json.loads((course_copy / ".grader" / "hints.json").read_text())
    assert state == {"ex03": dict.fromkeys(("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU"), 1), "ex04": {"Linear": 1}}


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"ex04": {"Linear": "two"}}', "\udcff"])
def test_a_corrupt_state_file_warns_and_grading_goes_on(graded, course_copy, content):
    state = course_copy / ".grader" / "hints.json"
    state.parent.mkdir()
    state.write_bytes(content.encode("utf-8", "surrogateescape"))
    result = run("ex04", "--course", course_copy, "--hint")
    assert result.exit_code == 1 and "Score: 7.33333 / 9" in result.stdout
    assert "grade: warning:" in result.stderr and "start again from level 1" in result.stderr
    assert ladder("ex04", "Linear")[0] in flat(result.stdout)
    assert json.loads(state.read_text()) == {"ex04": {"Linear": 1}}  # repaired


def test_an_unwritable_state_file_warns_and_grading_goes_on(graded, course_copy):
    (course_copy / ".grader").write_text("a file where the folder should be")
    result = run("ex04", "--course", course_copy, "--hint")
    assert result.exit_code == 1 and "Score: 7.33333 / 9" in result.stdout
    assert "could not save the hint levels" in result.stderr
    assert ladder("ex04", "Linear")[0] in flat(result.stdout)


@pytest.mark.parametrize("level", ["0", "4", "two", "12"])
def test_a_level_out_of_range_exits_2_before_grading(graded, course_copy, capsys, level):
    with pytest.raises(SystemExit) as info:
        main(["ex04", "--course", str(course_copy), f"--hint={level}"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert "Invalid value for '--hint'" in err and "expected a hint level from 1 to 3" in err and repr(level) in err
    assert "Score" not in out and not (course_copy / ".grader").exists()


def test_a_negative_level_is_a_usage_error_too(graded, course_copy, capsys):
    with pytest.raises(SystemExit) as info:
        main(["ex04", "--course", str(course_copy), "--hint=-1"])
    assert info.value.code == 2 and "-1" in capsys.readouterr().err  # click reads it as an unknown option


def test_json_stdout_stays_exactly_one_report(graded, course_copy):
    result = run("ex04", "--course", course_copy, "--json", "--hint")
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # the whole of stdout is the one report
    assert report["exercise"] == "ex04"
    assert ladder("ex04", "Linear")[0] in flat(result.stderr) and "Hints" not in result.stdout


def test_check_in_a_notebook_shows_the_hints_as_html(graded, course_copy, monkeypatch, server: SandboxServer):
    shown: list[str] = []
    monkeypatch.setattr(grader.jupyter, "_display", shown.append)
    monkeypatch.setattr(grader.jupyter, "_server", lambda: server)
    notebook = SUBMISSIONS / "notebook" / "linear.ipynb"
    linear = ladder("ex04", "Linear")
    report = grader.jupyter.check("ex04", course=course_copy, notebook=notebook, hint=True)
    assert round(report.score, 4) == 7.3333
    assert '<div class="grader-report grader-hints">' in shown[0]
    assert shown[0].index("Score:") < shown[0].index("<h4>Hints</h4>")  # under the report
    assert html(linear[0]) in shown[0] and "hint 1 of 3" in shown[0]
    assert html('check("ex04", hint=True) again shows the next hint') in shown[0]
    grader.jupyter.check("ex04", course=course_copy, notebook=notebook, hint=True)
    assert html(linear[1]) in shown[1]
    grader.jupyter.check("ex04", course=course_copy, notebook=notebook, hint=3)
    assert html(linear[2]) in shown[2] and "(the last one)" in shown[2]
    grader.jupyter.check("ex04", course=course_copy, notebook=notebook)
    assert "grader-hints" not in shown[3]
    assert json.loads((course_copy / ".grader" / "hints.json").read_text()) == {"ex04": {"Linear": 3}}
    for wrong in (0, 4, "2"):
        with pytest.raises(UsageError, match="from 1 to 3"):
            grader.jupyter.check("ex04", course=course_copy, notebook=notebook, hint=wrong)  # type: ignore[arg-type]


def test_the_released_notebook_tells_how_to_ask_for_a_hint():
    nb = exercise_notebook("ex04", "linear.py", "# ex04: Linear\n\nText.", "import torch\n")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert 'check("ex04", hint=True)' in markdown and 'check("ex04", hint=2)' in markdown


def test_choose_climbs_clamps_and_repeats(course):
    spec = load_exercise(course, "ex04_linear")
    report = Report("ex04", spec.title, 0, 1, 1, (
        Row("Linear", "autograd", "public-1", "bias", False, "wrong_values", "m"),
        Row("MatMul", "autograd", "public-1", "a", True, "ok", "")))
    state = hints.HintState(Path("unused"))
    levels = [hints.choose([report], [spec], state)[0].hints[0] for _ in range(4)]
    assert [(h.target, h.level, h.last, h.repeated, h.more) for h in levels] == [
        ("Linear", 1, False, False, True), ("Linear", 2, False, False, True), ("Linear", 3, True, False, False),
        ("Linear", 3, True, True, False)]
    again = hints.choose([report], [spec], state, level=1)[0].hints[0]
    assert (again.level, again.last, again.repeated, again.more) == (1, False, False, False)
    assert state.seen == {"ex04": {"Linear": 3}}


def test_every_target_has_three_levels(course):
    for slug in course.exercises:
        for target in load_exercise(course, slug).targets:
            if slug in HINTS_PENDING and not target.hints:
                continue
            assert len(target.hints) == 3, f"{slug} {target.name}"


def _every_hint(course: CourseSpec) -> list[tuple[str, str]]:
    """(where, text) of every hint of the course: the ladders and the catalogue entries' hints."""
    found = []
    for slug in course.exercises:
        for target in load_exercise(course, slug).targets:
            found += [(f"{slug} {target.name} hints[{i}]", h) for i, h in enumerate(target.hints)]
            found += [(f"{slug} {target.name} catalogue {e.id}", e.hint) for e in target.catalogue]
    from grader.diagnose import HINTS  # the grader's own hint for each diagnosis code, shown on every row

    return found + [(f"diagnosis {code}", text) for code, text in HINTS.items()]


def test_no_hint_holds_code(course):
    found = _every_hint(course)
    assert len(found) > 200
    code = [f"{where}: {text}" for where, text in found if CODE.search(text)]
    assert not code, "hints that hold code:\n" + "\n".join(code)


def test_no_hint_holds_a_statement_of_the_solution(course):
    every = []
    for slug in course.exercises:
        path = ROOT / "solutions" / slug / load_exercise(course, slug).module
        every += fragments(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert len(every) > 100
    leaks = [f"{where} holds {f.source!r} ({f.where})" for where, text in _every_hint(course)
             for f in every if f.text in normalise_text(text)]
    assert not leaks, "hints that give the answer away:\n" + "\n".join(leaks)


def test_the_code_check_catches_what_it_should():
    for text in ("so grad_bias = grad_output.sum(0)", "dL/dv = p.T times g", "use a @ b", "torch.where",
                 "take the .mean(0)", "grad_x += 1"):
        assert CODE.search(text), text
    for text in ("d tanh(u)/du = 1 − tanh²(u)", "x kᵀ", "keep grad_output", "sum over the batch, not a mean",
                 "∂y_no/∂W_oi = x_ni", "grad_x == 0 nowhere"):
        assert not CODE.search(text), text
