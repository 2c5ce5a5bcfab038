#!/usr/bin/env python
"""Class files at scale: the time ``grade batch`` takes after the last student, for classes of growing size.

Run with the project's interpreter: ``.venv/bin/python bench/classfiles.py`` (a few minutes on 2 cores; add
``--students 200,2000`` for the MOOC-sized row). Markdown tables go to stdout, progress notes to stderr;
everything is written under a temporary folder, with its own case cache (``$GRADER_CACHE``).

1. **A class with every exercise.** ``grade batch`` grades two students on all twelve exercises: the
   course's solutions (every check passes) and a copy of them in which each gradient that ``backward``
   returns is doubled (every value check fails, with its numbers and hint). Their stored reports are then
   copied, under new names and ids, into classes of ``--students`` students (half of each), as a MOOC's
   class would look after grading: ~1,150 rows per student.
2. **Timed.** :func:`grader.batch.outputs.write_outputs` with ``--lms all``, in a fresh process per run (as
   at the end of ``grade batch``, with matplotlib already imported), into an output folder without class
   files: wall time and CPU time (the process and the copies it forks). With ``--before TREE`` (another
   checkout, say the commit before a change), that tree's code writes the same classes in the same rounds,
   alternating which goes first, and the ratio of the medians is given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMED = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from grader.writers import summary
summary._import_matplotlib()
from grader.batch import LMS_NAMES
from grader.batch.outputs import write_outputs
from grader.batch.record import Assignment
out = Path(sys.argv[1])
students = sorted(p.stem for p in (out / "reports").glob("*.json"))
assignments = [Assignment(*a) for a in json.loads(sys.argv[2])]
usage = lambda who: resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
started, cpu = time.perf_counter(), usage(resource.RUSAGE_SELF) + usage(resource.RUSAGE_CHILDREN)
write_outputs(out, students, assignments, list(LMS_NAMES), None, "Backprop")
wall = time.perf_counter() - started
cpu = usage(resource.RUSAGE_SELF) + usage(resource.RUSAGE_CHILDREN) - cpu
import grader
print(json.dumps({"wall": wall, "cpu": cpu, "tree": str(Path(grader.__file__).parents[1])}))
"""


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def doubled(solutions: Path, into: Path) -> None:
    """The solutions with every ``return`` of a ``backward`` doubled: ``return 2 * (...)`` for one value,
    each element doubled for a tuple (``None`` stays ``None``)."""
    shutil.copytree(solutions, into)
    for path in into.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        out, inside = [], False
        for line in text.splitlines():
            if re.match(r"\s*def backward\(", line):
                inside = True
            elif line[:1].strip():  # back at the module's top level
                inside = False
            found = re.match(r"(\s*)return (.+)$", line)
            if inside and found and found.group(2).strip() != "None":
                line = f"{found.group(1)}return _twice({found.group(2)})"
            out.append(line)
        helper = ("\n\ndef _twice(*values):\n    doubled = tuple(None if v is None else 2 * v for v in values)\n"
                  "    return doubled if len(doubled) > 1 else doubled[0]\n")
        path.write_text("\n".join(out) + helper, encoding="utf-8")


def graded_pair(work: Path) -> tuple[list[Path], list[list[object]]]:
    """Two students graded on every exercise; their report files and the class's assignments."""
    subs = work / "submissions"
    shutil.copytree(ROOT / "solutions", subs / "right")
    doubled(ROOT / "solutions", subs / "doubled")
    out = work / "graded"
    note("grading two students on every exercise ...")
    env = dict(os.environ, GRADER_CACHE=str(work / "cache"))
    subprocess.run([str(Path(sys.executable).with_name("grade")), "batch", str(subs / "right"), str(subs / "doubled"),
                    "--out", str(out), "--course", str(ROOT), "--jobs", "2"], check=False, capture_output=True, env=env)
    reports = sorted((out / "reports").glob("*.json"))
    if len(reports) != 2:
        raise SystemExit(f"expected two graded students in {out}, found {len(reports)}")
    first = json.loads(reports[0].read_text(encoding="utf-8"))
    assignments = [[e["exercise"], e["title"], e["max_score"]] for e in first["exercises"]]
    return reports, assignments


def make_class(reports: list[Path], folder: Path, students: int) -> None:
    (folder / "reports").mkdir(parents=True)
    sources = [json.loads(p.read_text(encoding="utf-8")) for p in reports]
    for i in range(students):
        data = sources[i % len(sources)]
        name = f"s{i:05d}"
        data["batch"]["student"] = name
        data["batch"]["source"] = f"submissions/{name}"
        (folder / "reports" / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def timed(tree: Path, folder: Path, assignments: list[list[object]]) -> dict[str, float]:
    for child in folder.iterdir():
        if child.name != "reports":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    done = subprocess.run([sys.executable, "-c", TIMED, str(folder), json.dumps(assignments), str(tree)], check=True,
                          capture_output=True, text=True, cwd=folder)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    where = Path(result.pop("tree"))
    if where != tree:
        raise SystemExit(f"timed the grader of {where}, not {tree}")
    return {k: float(v) for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", default="24,240,600", help="class sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per class and tree")
    parser.add_argument("--before", type=Path, default=None, help="another checkout of the grader to time too")
    args = parser.parse_args()
    sizes = [int(s) for s in args.students.split(",")]
    trees = {"this tree": ROOT} | ({f"--before {args.before}": args.before.resolve()} if args.before else {})
    with tempfile.TemporaryDirectory(prefix="grader-classfiles-") as tmp:
        work = Path(tmp)
        reports, assignments = graded_pair(work)
        rows = []
        for size in sizes:
            folder = work / f"class-{size}"
            make_class(reports, folder, size)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for run in range(args.runs):
                order = list(trees) if run % 2 == 0 else list(trees)[::-1]
                for name in order:
                    note(f"{size} students, run {run + 1} of {args.runs}: {name} ...")
                    results[name].append(timed(trees[name], folder, assignments))
            for name, runs in results.items():
                wall = statistics.median(r["wall"] for r in runs)
                cpu = statistics.median(r["cpu"] for r in runs)
                rows.append([str(size), name, str(len(runs)), f"{wall:.2f}", f"{1000 * wall / size:.1f}", f"{cpu:.2f}"])
            if len(trees) == 2:
                now, then = (statistics.median(r["wall"] for r in results[n]) for n in trees)
                rows.append([str(size), "ratio (before / this tree)", "", f"{then / now:.1f}×", "", ""])
    print("### Class files after the last student (`write_outputs`, `--lms all`, every exercise)\n")
    print("| students | code | runs | wall s (median) | ms per student | CPU s (median) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
