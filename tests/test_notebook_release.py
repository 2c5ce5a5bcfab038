"""grade release --notebooks: valid notebooks whose code, graded as a submission, is exactly the stub module."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from conftest import Grade
from helpers import GRADIENT_CHECKS, ROOT, rows

from grader.authoring.notebook_release import code_cells, exercise_notebook, markdown_cells, notebook_path, write_notebook
from grader.authoring.release import release
from grader.notebook import SKIP_TAG, notebook_to_source
from grader.spec import CourseSpec, load_exercise


@pytest.fixture(scope="module")
def released(course: CourseSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notebooks") / "student-repo"
    release(course, out, notebooks=True)
    return out


def _top_level(source: str) -> list[str]:
    return [ast.unparse(node) for node in ast.parse(source).body]


def test_every_notebook_validates_and_ends_with_a_skipped_check(released: Path, course: CourseSpec) -> None:
    for slug in course.exercises:
        exercise = load_exercise(course, slug)
        nb = nbformat.read(notebook_path(released, slug), as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        *cells, last = nb.cells
        assert last.cell_type == "code" and last.metadata.tags == [SKIP_TAG]
        assert last.source == f'from grader import check\n\ncheck("{exercise.id}")'
        markdown = [c.source for c in cells if c.cell_type == "markdown"]
        assert markdown[0].startswith(f"# {exercise.id}") and exercise.module in markdown[-1]
        stub = (released / "exercises" / slug / exercise.module).read_text()
        joined = notebook_to_source(nbformat.writes(nb).encode())
        assert _top_level(joined) == _top_level(stub)  # graded as a submission, it is the stub module
        assert "check(" not in joined


def test_release_is_reproducible(released: Path, course: CourseSpec, tmp_path: Path) -> None:
    release(course, tmp_path / "again", notebooks=True)
    for slug in course.exercises:
        assert notebook_path(tmp_path / "again", slug).read_bytes() == notebook_path(released, slug).read_bytes()


def test_code_cells_put_each_class_in_its_own_cell() -> None:
    source = (ROOT / "solutions" / "ex03_activations" / "activations.py").read_text()
    cells = code_cells(source)
    assert cells[0].startswith('"""') and "import torch" in cells[0]
    classes = [c for c in cells if c.startswith("class ")]
    assert [c.split("(")[0].removeprefix("class ") for c in classes] == ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU"]
    assert len(cells) == 6 and _top_level("\n\n".join(cells)) == _top_level(source)
    decorated = code_cells("import x\n\n# a helper\n@cache\ndef f():\n    return 1\ny = f()\n")
    assert decorated == ["import x", "# a helper\n@cache\ndef f():\n    return 1\ny = f()"]


def test_markdown_splits_at_sections_but_not_inside_code() -> None:
    readme = "# Title\n\nintro\n\n## One\n\ntext\n\n```\n## not a heading\n```\n\n## Two\n\nmore\n"
    assert markdown_cells(readme) == ["# Title\n\nintro", "## One\n\ntext\n\n```\n## not a heading\n```", "## Two\n\nmore"]


def test_stub_notebook_scores_zero_and_solution_notebook_full_marks(released: Path, course: CourseSpec,
                                                                     grade: Grade, tmp_path: Path) -> None:
    stub = grade(notebook_path(released, "ex03_activations"), "ex03")
    assert stub.score == 0 and stub.max_score > 0
    assert {r.diagnosis for r in rows(stub, check=GRADIENT_CHECKS)} == {"not_implemented"}
    exercise = load_exercise(course, "ex03_activations")
    solution = (ROOT / "solutions" / "ex03_activations" / "activations.py").read_text()
    nb = exercise_notebook(exercise.id, exercise.module, "# ex03", solution)
    solved = grade(write_notebook(tmp_path / "solved.ipynb", nb), "ex03")
    assert solved.passed and solved.score == solved.max_score
