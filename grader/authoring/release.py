"""``grade release``: the students' template repository, generated from the instructor's course.

Each exercise folder is copied from ``exercises/`` except its module, which is regenerated from the
solution with every solution block replaced by ``raise NotImplementedError("TODO: ...")``
(:func:`grader.authoring.solutions.strip_solutions`). Solutions and hidden cases are never copied. ``--check``
compares the committed ``exercises/`` with what release would write, so stubs cannot drift.

The repository also gets a workflow (``grade.yml`` for plain GitHub Actions, :mod:`grader.ci.actions`; or
``classroom.yml`` for the retired Classroom reporter, :mod:`grader.ci.legacy`; or none, for Classroom 50, which
adds its own), the grader to install (a copy of this grader's source in ``.grader/`` unless a requirement is
given, see :mod:`grader.ci.install`) and, with ``notebooks``, one notebook per exercise
(:mod:`grader.authoring.notebook_release`).
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.authoring.notebook_release import exercise_notebook, notebook_path, write_notebook
from grader.authoring.public_spec import without_catalogues
from grader.authoring.solutions import SolutionMarkerError, strip_solutions
from grader.ci.install import CPU_INDEX, VENDORED, torch_requirement, write_source
from grader.errors import SpecError, UsageError
from grader.spec import CourseSpec, load_exercise

STUDENT_README = """# {title}

Each folder in `exercises/` is one exercise: read its README.md, then fill in the `backward` methods of its
module. The `forward` methods are given.

| exercise | title | file |
|---|---|---|
{rows}

Install the grader once (Python 3.10 or newer; a virtual environment is a good idea):

```
python -m pip install "{torch}" --index-url {index}
python -m pip install {grader}
```
{notebooks}
Check your work at any time:

```
grade ex01        # one exercise (or: grade 1, grade all)
grade list        # the exercises
```

`grade` shows, for each operation and each input, whether your gradient is right and, if not, what is
wrong with it (for example "grad_weight is the transpose of the expected gradient").{pushing} Your final grade
comes from the instructor's run, which also uses cases you cannot see.
"""

PUSHING = {
    "actions": " Pushing to GitHub runs the same checks: the Actions tab shows your points, with each mistake on its line.",
    "legacy": " Pushing to GitHub runs the same checks: the Actions tab shows your points.",
    "none": "",
}


@dataclass(frozen=True)
class Stub:
    """The stub module release generates for one exercise, and where it goes."""

    slug: str
    relative: Path
    text: str


def stubs(course: CourseSpec) -> list[Stub]:
    out = []
    for slug in course.exercises:
        exercise = load_exercise(course, slug)
        solution = course.root / "solutions" / slug / exercise.module
        if not solution.is_file():
            raise SpecError(solution, "", f"missing: release generates exercises/{slug}/{exercise.module} from it")
        try:
            text = strip_solutions(solution.read_text(encoding="utf-8"))
        except SolutionMarkerError as exc:
            raise SpecError(solution, "", str(exc)) from None
        out.append(Stub(slug=slug, relative=Path("exercises") / slug / exercise.module, text=text))
    return out


NOTEBOOKS = """
Working in Jupyter? `notebooks/` has one notebook per exercise: the same code as `exercises/`, split into
cells, and a last cell that checks your work. Hand in the `.ipynb` file.
"""


def release(course: CourseSpec, out: Path, grader_requirement: str | None = None, notebooks: bool = False,
            workflow: str = "actions") -> list[Path]:
    """Write the student repository to ``out``; return the files written.

    ``grader_requirement`` is what the workflow and the README install as the grader (a git URL, a wheel path
    in the repository); without it, a copy of this grader goes to ``.grader/`` and that is installed.
    ``workflow`` is ``actions`` (``grade.yml``), ``legacy`` (``classroom.yml``) or ``none``.
    """
    if workflow not in PUSHING:
        raise UsageError(f"unknown workflow {workflow!r}; choose actions, legacy or none")
    root = course.root.resolve()
    out = out.resolve()
    if out == root or root in out.parents:
        raise UsageError(f"release output {out} must be outside the course folder {root}")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"release output {out} is not empty; choose a new folder")
    written: list[Path] = []
    for stub in stubs(course):
        source = root / "exercises" / stub.slug
        target = out / "exercises" / stub.slug
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.name != "hidden.yaml":
                dest = target / path.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if path.name == "exercise.yaml":
                    dest.write_text(without_catalogues(path.read_text(encoding="utf-8")), encoding="utf-8")
                else:
                    shutil.copyfile(path, dest)
                written.append(dest)
        (out / stub.relative).write_text(stub.text, encoding="utf-8")
        if notebooks:
            exercise = load_exercise(course, stub.slug)
            readme = source / "README.md"
            nb = exercise_notebook(exercise.id, exercise.module,
                                   readme.read_text(encoding="utf-8") if readme.is_file() else f"# {exercise.title}",
                                   stub.text)
            written.append(write_notebook(notebook_path(out, stub.slug), nb))
    written.append(_write(out / "course.yaml", (root / "course.yaml").read_text(encoding="utf-8")))
    if grader_requirement is None:
        written += write_source(out / VENDORED)
    grader = grader_requirement or f"./{VENDORED}"
    rows = "\n".join(f"| {s.split('_', 1)[0]} | {load_exercise(course, s).title} | `exercises/{s}/` |"
                     for s in course.exercises)
    readme_text = STUDENT_README.format(title=course.title, rows=rows, torch=torch_requirement(), index=CPU_INDEX,
                                        grader=shlex.quote(grader), notebooks=NOTEBOOKS if notebooks else "",
                                        pushing=PUSHING[workflow])
    written.append(_write(out / "README.md", readme_text))
    if workflow == "actions":
        from grader.ci.actions import workflow as actions_workflow

        written.append(_write(out / ".github" / "workflows" / "grade.yml", actions_workflow(grader)))
    elif workflow == "legacy":
        from grader.ci.legacy import workflow as legacy_workflow

        written.append(_write(out / ".github" / "workflows" / "classroom.yml", legacy_workflow(course, grader)))
    written.append(_write(out / ".gitignore", "__pycache__/\n.venv/\n.grader/hints.json\n"))  # what grade --hint has shown
    return sorted(set(written))


def drift(course: CourseSpec) -> list[str]:
    """The committed stubs that differ from what release would generate (empty when in sync)."""
    problems = []
    for stub in stubs(course):
        committed = course.root / stub.relative
        if not committed.is_file():
            problems.append(f"{stub.relative}: missing")
        elif committed.read_text(encoding="utf-8") != stub.text:
            problems.append(f"{stub.relative}: differs from the stub generated from solutions/{stub.slug}")
    return problems


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
