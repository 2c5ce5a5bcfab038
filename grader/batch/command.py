"""``grade batch``: the click command. It parses options and calls the batch API; nothing heavy is imported
until it runs (``grade ex03`` imports this module too, and its start-up time matters)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import click

from grader.batch import LMS_NAMES

if TYPE_CHECKING:
    from grader.batch.record import Assignment
    from grader.spec import CourseSpec

CANVAS_OPTION = "'--canvas-assignment'"


def parse_canvas_ids(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``ex04=12345`` values as (exercise, id) pairs; a value without ``=`` or with a non-numeric id is a usage error."""
    pairs = []
    for value in values:
        exercise, sep, number = (part.strip() for part in value.partition("="))
        if not sep or not exercise:
            raise click.BadParameter(f"{value!r} is not EXERCISE=ID (ex04=12345)", ctx, param)
        if not number.isascii() or not number.isdigit():
            raise click.BadParameter(f"{value!r}: the Canvas assignment id must be a number (the one in the "
                                     f"assignment's Canvas address), not {number!r}", ctx, param)
        pairs.append((exercise, number))
    return tuple(pairs)


def with_canvas_ids(course: CourseSpec, assignments: list[Assignment], pairs: Sequence[tuple[str, str]]
                    ) -> list[Assignment]:
    """``assignments`` with their Canvas ids; an exercise the course lacks, or given twice, is a usage error.

    An exercise of the course that is not graded in this run is accepted and has no column to name.
    """
    from grader.errors import UsageError

    ids: dict[str, str] = {}
    for exercise, number in pairs:
        try:
            slugs = course.resolve(exercise) if exercise != "all" else []
        except UsageError as exc:
            raise click.BadParameter(str(exc), param_hint=CANVAS_OPTION) from None
        if len(slugs) != 1:
            raise click.BadParameter(f"{exercise!r} names no single exercise", param_hint=CANVAS_OPTION)
        key = slugs[0].split("_", 1)[0]
        if ids.setdefault(key, number) != number:
            raise click.BadParameter(f"{key} is given two ids, {ids[key]} and {number}", param_hint=CANVAS_OPTION)
    return [replace(a, canvas_id=ids.get(a.id, a.canvas_id)) for a in assignments]

EXIT_DONE, EXIT_NOT_GRADED, EXIT_INTERRUPTED = 0, 1, 130
DASK_MODULES = ("dask", "distributed")


def dask_backend() -> ModuleType:
    """:mod:`grader.batch.cluster`, imported only for ``--dask``: Dask is an extra, and a plain install has none."""
    from grader.errors import UsageError

    try:
        from grader.batch import cluster
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in DASK_MODULES:
            raise
        raise UsageError(f"--dask needs Dask, which is not installed ({exc}): install the grader's dask extra, "
                         'pip install "grader[dask]" (from a checkout: pip install -e ".[dask]")') from None
    return cluster



@click.command("batch")
@click.argument("submissions", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created); re-running into the same folder resumes.")
@click.option("--exercise", "exercises", multiple=True, metavar="ID",
              help="An exercise to grade (ex04, 4, ex04_linear); repeat for several. Default: all of the course.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Submissions graded at the same time, one sandbox server each (with --dask local: worker "
                   "processes; unused with a scheduler address). Default: the number of cores.")
@click.option("--dask", "dask_address", metavar="tcp://HOST:PORT|local", default=None,
              help="Grade on a Dask cluster: the running scheduler at this address, or 'local' for --jobs worker "
                   'processes here. Needs pip install "grader[dask]".')
@click.option("--lms", multiple=True, type=click.Choice([*LMS_NAMES, "all"]),
              help="Also write this LMS's import format; repeat for several, or 'all'.")
@click.option("--hidden/--no-hidden", default=True, show_default=True,
              help="Add the hidden cases of solutions/<exercise>/hidden.yaml (the grade of record has them).")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with students' LMS ids (student, name, email, username, sis_id, lms_id, section, lti_id).")
@click.option("--canvas-assignment", "canvas_ids", multiple=True, metavar="EX=ID", callback=parse_canvas_ids,
              help="The Canvas assignment id of an exercise (ex04=12345: the number in the assignment's address), "
                   "so canvas.csv fills that assignment instead of creating one; repeat for each exercise.")
@click.option("--force", is_flag=True, help="Re-grade every student, even those whose inputs are unchanged.")
@click.option("--course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The course folder (default: the nearest folder above with a course.yaml).")
@click.option("--seed", type=int, default=None, help="Seed for every generated input (default: the course's).")
def batch_command(submissions: tuple[Path, ...], out: Path, exercises: tuple[str, ...], jobs: int | None,
                  dask_address: str | None, lms: tuple[str, ...], hidden: bool, roster: Path | None,
                  canvas_ids: tuple[tuple[str, str], ...], force: bool, course: Path | None, seed: int | None) -> None:
    """Grade a whole class: every entry of SUBMISSIONS is one student.

    \b
    An entry is a folder, a repository, a .py, a .ipynb or a .zip. GitHub Classroom folders
    (assignment-username), Canvas downloads (name_userid_submissionid_file, also as the one zip
    Canvas gives) and Gradescope exports (submission_metadata.yml) are recognised.

    \b
    The --out folder gets reports/<student>.json, feedback/<student>.md and .html,
    gradebook.csv, summary.md, summary.html, histogram.png, heatmap.png and one file or folder per
    --lms format. A re-run skips students whose submission, specs and grader are
    unchanged; Ctrl-C keeps every finished student.
    With --dask, the students are graded on a Dask cluster's workers (each keeps one sandbox server)
    and this process writes every file, exactly as with --jobs.
    Exit status: 0 every student graded, 1 some could not be graded (see gradebook.csv), 2 usage
    or spec error, 130 interrupted.
    """
    from grader.batch.layouts import discover
    from grader.batch.outputs import write_outputs
    from grader.batch.progress import ProgressBar
    from grader.batch.roster import load_roster
    from grader.batch.runner import grade_class, make_plan
    from grader.batch.unpack import unpack
    from grader.errors import UsageError
    from grader.spec import find_course, load_course
    from grader.writers import summary

    matplotlib_imported = summary.prefetch()
    spec = load_course(course.resolve() if course else find_course(Path.cwd()))
    plan = make_plan(spec, exercises or ("all",), hidden=hidden, seed=seed)
    assignments = with_canvas_ids(spec, plan.assignments, canvas_ids)
    people = load_roster(roster) if roster else None
    out.mkdir(parents=True, exist_ok=True)
    paths = list(submissions)
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() == ".zip":
        root, skipped = unpack(paths[0], out / ".unpacked" / paths[0].stem)
        for name in skipped:
            click.echo(f"grade batch: left out {name} of {paths[0]}: corrupt or too large", err=True)
        paths = [root]
    found = discover(paths, exclude=[out])
    for path in found.ignored:
        click.echo(f"grade batch: ignored {path}: not a folder, .py, .ipynb or .zip", err=True)
    if not found.entries:
        raise UsageError(f"no submissions in {', '.join(str(p) for p in submissions)}")
    workers = jobs or os.cpu_count() or 1
    cluster = dask_backend() if dask_address else None
    outcomes = None
    with ProgressBar(sys.stderr) as bar:
        try:
            if cluster is None:
                outcomes = grade_class(found.entries, out, plan, jobs=workers, force=force, listener=bar)
            else:
                bar.doing("starting Dask" if dask_address == cluster.LOCAL else "connecting")
                with cluster.connect(dask_address, workers) as client:
                    bar.doing("grading")
                    waiting = cluster.no_workers(client, dask_address)
                    if waiting:
                        bar.note(f"grade batch: {waiting}")
                    outcomes = cluster.grade_class_on(client, found.entries, out, plan, force=force, listener=bar)
        except KeyboardInterrupt:
            pass
    if outcomes is None:
        kept = sum((out / "reports" / f"{e.student}.json").is_file() for e in found.entries)
        click.echo(f"grade batch: interrupted; {kept} of {len(found.entries)} students have their results in "
                   f"{out / 'reports'}. Run the same command again to resume.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    names = [*LMS_NAMES] if "all" in lms else list(lms)
    matplotlib_imported.join()  # the class files' copies fork, which needs this process to have no other thread
    with ProgressBar(sys.stderr, "class files", thread=False) as files:
        written = write_outputs(out, [e.student for e in found.entries], assignments, names, people, spec.title,
                                progress=files)
    errors = [o for o in outcomes if o.error]
    click.echo(f"grade batch: {bar.counts['graded']} graded, {bar.counts['failed']} failed (listed in summary.md), "
               f"{bar.counts['unchanged']} unchanged; wrote {out}", err=True)
    real = {e.student: e.identity.student_id for e in found.entries}
    for outcome in errors:
        click.echo(f"grade batch: {real.get(outcome.student, outcome.student)} could not be graded: {outcome.error}",
                   err=True)
    for warning in written.warnings:
        click.echo(f"grade batch: warning: {warning}", err=True)
    sys.exit(EXIT_NOT_GRADED if errors else EXIT_DONE)
