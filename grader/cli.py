"""The ``grade`` command (CONTRACT section 3): a thin layer that parses options and calls the API.

``grade EXERCISE`` grades one exercise (``ex03``, ``3``, ``ex03_activations`` or ``all``); the named
subcommands are listed by ``grade --help``. Exit status: 0 every check passed, 1 graded with failures,
2 usage or spec error, 3 internal error.

The sandbox server is spawned before torch is imported here, so the two imports overlap.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click

from grader import __version__
from grader.errors import GraderError

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class GradeGroup(click.Group):
    """A group whose unknown first word is an exercise: ``grade ex03`` runs the ``exercise`` command."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return args[0], self.commands["exercise"], args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("grade", "EXERCISE [OPTIONS]  |  grade COMMAND [ARGS]...")


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grade")
def cli() -> None:
    """Grade hand-written backward passes.

    \b
    grade ex03                  grade exercise 3 of the course you are in
    grade all --json            every exercise, as one JSON report on stdout
    grade list                  the exercises of the course
    """


def _course_root(course: str | None) -> Path:
    from grader.spec import find_course

    return Path(course).resolve() if course else find_course(Path.cwd())


class ExerciseCommand(click.Command):
    """The command behind ``grade EXERCISE``: its usage line reads as users type it."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("grade", "EXERCISE [OPTIONS]")


def _hint_level(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--hint`` alone is the next level (0 here); ``--hint N`` is level N, from 1 to HINT_LEVELS."""
    from grader.spec import HINT_LEVELS

    if value is None or value == _NEXT_HINT:
        return None if value is None else 0
    if not value.isdigit() or not 1 <= int(value) <= HINT_LEVELS:
        raise click.BadParameter(f"expected a hint level from 1 to {HINT_LEVELS}, or --hint alone for the next "
                                 f"one, got {value!r}", ctx=ctx, param=param)
    return int(value)


_NEXT_HINT = "next"


@cli.command("exercise", cls=ExerciseCommand, hidden=True)
@click.argument("exercise")
@click.option("--submission", "submission_path", type=click.Path(path_type=Path),
              help="A module file, a folder, a repository, a .ipynb or a .zip. Default: the course's exercises/.")
@click.option("--course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The course folder (default: the nearest folder above with a course.yaml).")
@click.option("--hidden", is_flag=True, help="Add the hidden cases of solutions/<exercise>/hidden.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Write exactly one JSON report to stdout.")
@click.option("--seed", type=int, default=None, help="Seed for every generated input (default: the course's).")
@click.option("--classroom", is_flag=True,
              help="Legacy GitHub Classroom reporter: append <exercise>=<base64 JSON> per exercise to $GITHUB_OUTPUT "
                   "and exit 0 once every exercise is written.")
@click.option("--hint", "hint", is_flag=False, flag_value=_NEXT_HINT, default=None, metavar="[N]",
              callback=_hint_level,
              help="After the report, a hint for each target that is not right yet: the next one you have not seen, "
                   "or level N (1-3). With --json, on stderr.")
def exercise_command(exercise: str, submission_path: Path | None, course: Path | None, hidden: bool,
                     as_json: bool, seed: int | None, classroom: bool, hint: int | None) -> None:
    """Grade EXERCISE (ex03, 3, ex03_activations or all)."""
    from grader.sandbox.client import SandboxServer
    from grader.spec import load_course

    root = _course_root(str(course) if course else None)
    spec = load_course(root)
    slugs = spec.resolve(exercise)
    if not classroom:  # a broken spec is exit 2 before anything is graded (the legacy path grades the rest)
        from grader.spec import load_exercise

        for slug in slugs:
            load_exercise(spec, slug, hidden=hidden)
    server = SandboxServer().start()
    try:
        from grader.ci.run import grade_each
        from grader.submission import load_submission

        submission = load_submission(submission_path or root / "exercises")
        if classroom:
            outcomes = grade_each(spec, slugs, submission, server, hidden=hidden, seed=seed)
            reports = [o.report for o in outcomes if o.report is not None]
        else:
            from grader.grading import grade_exercise

            reports = [grade_exercise(spec, slug, submission, server, hidden=hidden, seed=seed) for slug in slugs]
    finally:
        server.close()
    from grader.ci import actions
    from grader.writers import json_report, terminal

    if actions.active():
        from grader.spec import load_exercise

        specs = {s: load_exercise(spec, s) for s in slugs}
        modules = {ex.id: (s, ex.module) for s, ex in specs.items()}
        actions.report(reports, submission, modules, None if as_json else sys.stdout)
    if classroom:
        from grader.ci import legacy

        terminal.write(reports, sys.stdout)
        if legacy.write(reports) is not None:
            sys.exit(EXIT_PASSED if len(reports) == len(slugs) else EXIT_INTERNAL)
    elif as_json:
        json_report.write(reports, sys.stdout, combined=exercise == "all")
        total = sum(r.score for r in reports)
        click.echo(f"{total:g} / {sum(r.max_score for r in reports):g}", err=True)
    else:
        terminal.write(reports, sys.stdout)
    if hint is not None and not classroom:
        from grader import hints
        from grader.spec import load_exercise

        chosen, problems = hints.give(root, reports, [load_exercise(spec, s, hidden=hidden) for s in slugs],
                                      hint or None)
        hints.write(chosen, sys.stderr if as_json else sys.stdout, f"grade {exercise} --hint", problems)
    sys.exit(EXIT_PASSED if all(r.passed for r in reports) else EXIT_FAILED)


@cli.command("list")
@click.option("--course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The course folder (default: the nearest folder above with a course.yaml).")
def list_command(course: Path | None) -> None:
    """List the course's exercises and their targets."""
    from grader.spec import load_course, load_exercise

    spec = load_course(_course_root(str(course) if course else None))
    click.echo(f"{spec.title} ({spec.id})")
    for slug in spec.exercises:
        ex = load_exercise(spec, slug)
        names = ", ".join(t.name for t in ex.targets)
        click.echo(f"  {ex.id}  {ex.title:<40} {ex.module:<20} {names}")


def main(argv: list[str] | None = None) -> Any:
    """Entry point: map grader errors to their exit status, and anything unexpected to 3."""
    try:
        return cli.main(args=argv, prog_name="grade", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except GraderError as exc:
        click.echo(f"grade: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a grader bug is exit 3, not a traceback
        click.echo(f"grade: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("".join(traceback.format_exception(exc)[-6:]), err=True)
        sys.exit(EXIT_INTERNAL)


@cli.command("release")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The course folder (default: the nearest folder above with a course.yaml).")
@click.option("--check", is_flag=True, help="Only check that the committed exercises/ match the generated stubs.")
@click.option("--grader-requirement", metavar="SPEC", default=None,
              help="What the workflows, the students' README, Gradescope's setup.sh and the Classroom 50 autograder "
                   "pip-install as the grader: a git URL (git+https://...@TAG), a wheel path in the repository, a "
                   "requirement. Default: a copy of this grader (in OUT/.grader/, and inside each bundle).")
@click.option("--notebooks", is_flag=True, help="Also write OUT/notebooks/<exercise>.ipynb, one notebook per exercise.")
@click.option("--workflow", type=click.Choice(["actions", "legacy", "none"]), default=None,
              help="The workflow in OUT/.github/workflows/: actions (grade.yml: grade all on each push), legacy "
                   "(classroom.yml for the retired GitHub Classroom reporter) or none. Default: actions, or none "
                   "with --classroom50 (Classroom 50 adds its own).")
@click.option("--classroom50", "classroom50", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Also write a Classroom 50 autograder to DIR (autograder.py and a README).")
@click.option("--classroom50-hidden", is_flag=True,
              help="Put the hidden cases in the Classroom 50 autograder (it is public: students can read them).")
@click.option("--gradescope", "gradescope", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="BUNDLE.zip", help="Also build a Gradescope autograder bundle.")
@click.option("--exercise", "exercises", multiple=True, metavar="ID",
              help="What the Classroom 50 autograder and the Gradescope bundle grade (repeatable; default: all).")
@click.option("--gradescope-exercise", "gradescope_exercises", multiple=True, metavar="ID", hidden=True)
def release_command(out: Path | None, course: Path | None, check: bool, grader_requirement: str | None,
                    notebooks: bool, workflow: str | None, classroom50: Path | None, classroom50_hidden: bool,
                    gradescope: Path | None, exercises: tuple[str, ...], gradescope_exercises: tuple[str, ...]) -> None:
    """Write the students' template repository to OUT (no solutions, no hidden cases), and CI bundles."""
    from grader.authoring.release import drift, release
    from grader.spec import load_course

    spec = load_course(_course_root(str(course) if course else None))
    if check:
        problems = drift(spec)
        for problem in problems:
            click.echo(f"grade release --check: {problem}", err=True)
        if problems:
            click.echo("Regenerate the stubs with: grade release OUT, then copy OUT/exercises/ back.", err=True)
        sys.exit(EXIT_FAILED if problems else EXIT_PASSED)
    if out is None and gradescope is None and classroom50 is None:
        raise click.UsageError("OUT is required (or pass --check, --gradescope BUNDLE.zip or --classroom50 DIR)")
    if classroom50_hidden and classroom50 is None:
        raise click.UsageError("--classroom50-hidden needs --classroom50 DIR")
    chosen = exercises or ("all",)
    if out is not None:
        kind = workflow or ("none" if classroom50 is not None else "actions")
        written = release(spec, out, grader_requirement=grader_requirement, notebooks=notebooks, workflow=kind)
        click.echo(f"wrote {len(written)} files to {out}")
    if classroom50 is not None:
        from grader.ci import classroom50 as c50

        if classroom50_hidden:
            click.echo("warning: the Classroom 50 autograder holds the hidden cases, and Classroom 50 publishes it "
                       "on the organisation's public Pages site: students can read them there.", err=True)
        files = c50.build(spec, classroom50, chosen, grader_requirement, hidden=classroom50_hidden)
        size = files[0].stat().st_size / 2**20
        click.echo(f"wrote the Classroom 50 autograder {files[0]} ({size:.2f} MB of the 10 MB cap) and its README")
    if gradescope is not None:
        from grader.ci.gradescope import build

        members = build(spec, gradescope, gradescope_exercises or chosen, grader_requirement)
        click.echo(f"wrote the Gradescope autograder {gradescope} ({len(members)} files)")


@cli.command("validate")
@click.argument("exercises", nargs=-1)
@click.option("--course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The course folder (default: the nearest folder above with a course.yaml).")
@click.option("--seeds", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Seeds the solution must score full marks on.")
def validate_command(exercises: tuple[str, ...], course: Path | None, seeds: int) -> None:
    """Prove the checks: solutions full marks, stubs zero, every mutant of the solution caught, every catalogue
    entry told apart on the cases and named on its own mutant (the coverage column)."""
    from rich.console import Console
    from rich.table import Table

    from grader.authoring.validate import validate_exercise
    from grader.sandbox.client import SandboxServer
    from grader.spec import load_course

    spec = load_course(_course_root(str(course) if course else None))
    slugs = [s for name in (exercises or ("all",)) for s in spec.resolve(name)]
    console = Console(stderr=False, highlight=False)
    table = Table(title="grade validate")
    for column in ("exercise", "solution", "stub", "mutants killed", "diagnosis accuracy", "equivalent",
                   "catalogue named"):
        table.add_column(column)
    results = []
    with SandboxServer() as server:
        with console.status("validating") as status:
            for slug in slugs:
                def progress(name: str, slug: str = slug) -> None:
                    status.update(f"{slug}: {name}")

                results.append(validate_exercise(spec, slug, server, seeds=seeds, progress=progress))
    for v in results:
        table.add_row(v.exercise, "ok" if not v.flaky else f"FLAKY ({len(v.flaky)})",
                      "ok" if not v.stub_problems else "WRONG", f"{v.killed}/{v.total}",
                      f"{v.accurate}/{v.killed}" if v.killed else "-", str(len(v.equivalent)),
                      f"{v.named}/{v.entries}" if v.entries else "-")
    console.print(table)
    for v in results:
        for line in v.flaky[:10] + v.stub_problems + [f"survived: {s}" for s in v.survivors] + \
                [f"misdiagnosed: {m}" for m in v.misdiagnosed] + [f"catalogue: {c}" for c in v.catalogue_problems]:
            console.print(f"{v.exercise}: {line}", markup=False)
    sys.exit(EXIT_PASSED if all(v.ok for v in results) else EXIT_FAILED)


from grader.batch.command import batch_command  # noqa: E402 - registered last; it imports nothing heavy

cli.add_command(batch_command, "batch")
