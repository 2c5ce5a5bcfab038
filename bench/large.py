#!/usr/bin/env python
"""Large tensors: ``grade ex04`` with a 10⁶-element Linear case against the same with 10⁴, side by side.

Run with the project's interpreter: ``.venv/bin/python bench/large.py`` (about a minute on 2 cores).
Markdown tables go to stdout, progress notes to stderr; everything is written under a temporary folder,
with its own case cache (``$GRADER_CACHE``).

1. **Ratio.** Two copies of the course, identical but for the shapes of ex04 Linear's first public case:
   ``x`` of ``(200, 50)`` (10⁴ elements) in one, ``(5000, 200)`` (10⁶) in the other. Each is graded as a
   student types it, ``grade ex04 --course COPY --submission COPY/solutions`` (the venv's ``grade`` script,
   so start-up is included), with a warm case cache: one discarded warm-up run each, then ``--runs`` rounds
   (default 5) that alternate which copy goes first. The table gives median, min and max, and the ratio of
   the medians (goal: at most 1.15×: a large case should cost what its arithmetic costs); and the CPU time of
   the whole command (``grade``, its sandbox server and every child, as ``RUSAGE_CHILDREN`` counts them once
   they are reaped), which other work on the machine disturbs far less than wall time. With
   ``--before TREE`` (another checkout of the grader, say the commit before a change), the same two copies
   are also graded by that tree's code, all four commands interleaved, so before and after are side by side.
2. **In-process.** :func:`grader.grading.grade_exercise` on each copy through one sandbox server started
   beforehand, so that the torch import, whose time varies by about half a second from run to run, is out
   of the figures: the median of ``--runs`` alternating runs for each size, and the difference, for this
   tree and (``--before``) the other, each in its own process.
3. **Breakdown.** The steps of grading the Linear target in this process, through one sandbox server
   started beforehand (median of ``--runs``): the cases from the warm disk cache, building the job, the
   sandbox round trip (of which the child's own time, fork to exit), reading the reply into observations,
   and the checks; with the bytes that came back through shared memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.sandbox.client import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
SLUG = "ex04_linear"
GOAL = 1.15
PUBLIC = "shapes: {x: [5, 3], weight: [4, 3], bias: [4]}"
SIZES = {"10⁴": (200, 50, 5), "10⁶": (5000, 200, 7)}


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def course_copy(folder: Path, n: int, inp: int, out: int) -> Path:
    """The course, with Linear's first public case of shapes (n, inp) · (out, inp) · (out,)."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "course.yaml", folder / "course.yaml")
    for part in ("exercises", "solutions"):
        shutil.copytree(ROOT / part, folder / part)
    spec = folder / "exercises" / SLUG / "exercise.yaml"
    text = spec.read_text()
    if PUBLIC not in text:
        raise SystemExit(f"{spec.relative_to(folder)} no longer has Linear's case {PUBLIC!r}: update bench/large.py")
    spec.write_text(text.replace(PUBLIC, f"shapes: {{x: [{n}, {inp}], weight: [{out}, {inp}], bias: [{out}]}}"))
    return folder


LAUNCH = "import sys; sys.path.insert(0, {tree!r}); sys.argv[0] = 'grade'; from grader.launch import main; main()"
IN_PROCESS = """
import json, statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from grader import cases
from grader.grading import grade_exercise
from grader.sandbox.client import SandboxServer
from grader.spec import load_course
from grader.submission import load_submission
runs, copies = int(sys.argv[2]), dict(arg.split("=", 1) for arg in sys.argv[3:])
loaded = {size: (load_course(Path(root)), load_submission(Path(root) / "solutions")) for size, root in copies.items()}
times = {size: [] for size in copies}
with SandboxServer() as server:
    server.ping()
    for course, submission in loaded.values():  # warm-up
        grade_exercise(course, "ex04_linear", submission, server)
    for i in range(runs):
        for size in list(copies) if i % 2 == 0 else list(copies)[::-1]:
            cases.forget()  # as in a fresh `grade`: the cases come from the disk cache
            start = time.perf_counter()
            grade_exercise(*loaded[size][:1], "ex04_linear", loaded[size][1], server)
            times[size].append(time.perf_counter() - start)
print(json.dumps({size: statistics.median(samples) for size, samples in times.items()}))
"""


def grade_once(tree: Path, course: Path, env: dict[str, str]) -> tuple[float, float]:
    """``grade ex04`` on ``course`` with the grader of ``tree``, as the ``grade`` script starts it: wall and CPU s."""
    command = [sys.executable, "-c", LAUNCH.format(tree=str(tree)), "ex04", "--course", str(course),
               "--submission", str(course / "solutions")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return elapsed, cpu


def ratio(trees: dict[str, Path], copies: dict[str, Path], runs: int, env: dict[str, str]
          ) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Wall and CPU times per (tree, size), every command once per round, the order rotating from round to round."""
    kinds = [(tree, size) for tree in trees for size in copies]
    times: dict[tuple[str, str], list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for tree, size in kinds:  # warm-up: fills the case cache and the page cache; not recorded
        grade_once(trees[tree], copies[size], env)
    for i in range(runs):
        for tree, size in kinds[i % len(kinds):] + kinds[: i % len(kinds)]:
            times[(tree, size)].append(grade_once(trees[tree], copies[size], env))
        note(f"round {i + 1}/{runs}: " + ", ".join(f"{t} {s} {v[-1][0]:.2f} s" for (t, s), v in times.items()))
    return times


def print_ratio(times: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    def median(kind: tuple[str, str], which: int) -> float:
        return statistics.median(sample[which] for sample in times[kind])

    rows = []
    for (tree, size), samples in times.items():
        wall = [w for w, _ in samples]
        rows.append([tree, size, str(len(samples)), f"{median((tree, size), 0):.2f}", f"{min(wall):.2f}",
                     f"{max(wall):.2f}", f"{median((tree, size), 0) / median((tree, '10⁴'), 0):.2f}×",
                     f"{median((tree, size), 1):.2f}", f"{median((tree, size), 1) / median((tree, '10⁴'), 1):.2f}×"])
    print("## `grade ex04` with a large Linear case\n")
    print(table(["grader", "x elements", "runs", "median s", "min s", "max s", "× 10⁴", "CPU s", "CPU × 10⁴"], rows))
    got = median(("this tree", "10⁶"), 0) / median(("this tree", "10⁴"), 0)
    print(f"\nGoal: 10⁶ at most {GOAL}× 10⁴: **{'met' if got <= GOAL else 'NOT met'}** ({got:.2f}×). "
          "Warm case cache, runs interleaved, first run of each discarded.\n")


def in_process(trees: dict[str, Path], copies: dict[str, Path], runs: int) -> None:
    rows = []
    for tree, root in trees.items():
        command = [sys.executable, "-c", IN_PROCESS, str(root), str(runs), *(f"{k}={v}" for k, v in copies.items())]
        proc = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
        if proc.returncode != 0:
            raise SystemExit(f"grading in-process with {root} failed:\n{proc.stderr}")
        medians = json.loads(proc.stdout.strip().splitlines()[-1])
        small, large = medians["10⁴"], medians["10⁶"]
        rows.append([tree, f"{small:.3f}", f"{large:.3f}", f"+{large - small:.3f}", f"{large / small:.1f}×"])
    print("## `grade_exercise` of ex04 in-process, through a running server\n")
    print(table(["grader", "10⁴ s", "10⁶ s", "difference s", "× 10⁴"], rows))
    print(f"\nMedians of {runs} alternating runs after a warm-up, warm case cache, one process per tree: what a "
          "large case adds to the grading itself, without the start-up's run-to-run noise.\n")


def steps(course_root: Path, server: SandboxServer) -> dict[str, float]:
    """One grading of the Linear target, step by step (seconds), as :func:`grader.grading.grade_module` does it."""
    from grader.cases import build_cases, forget
    from grader.checks import CHECKS, Context
    from grader.probe import build_job, observe
    from grader.spec import load_course, load_exercise
    from grader.submission import Module, load_submission

    course = load_course(course_root)
    exercise = load_exercise(course, SLUG)
    index = [t.name for t in exercise.targets].index("Linear")
    target = exercise.targets[index]
    module = load_submission(course_root / "solutions").module(exercise.slug, exercise.module)
    assert isinstance(module, Module), module
    forget()  # as in a fresh `grade`: the cases come from the disk cache
    split: dict[str, float] = {}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = work()
        split[name] = time.perf_counter() - start
        return value

    cases = timed("cases (warm disk cache)", lambda: build_cases(exercise, index, course.seed, course.grad_outputs))
    job, arrays = timed("building the job", lambda: build_job(exercise.module, target, cases))
    run = timed("sandbox round trip", lambda: server.run(job, arrays, module.files, course.limits))
    split["of which the child (fork → exit)"] = run.elapsed
    observations = timed("reading the reply", lambda: observe(run, target, cases, course.limits))
    contexts = [Context(target=target, case=c, obs=o) for c, o in zip(cases, observations, strict=True)]
    rows = timed("checks", lambda: [row for ctx in contexts for check in CHECKS for row in check.rows(ctx)])
    if not rows or not all(row.passed for row in rows):
        raise SystemExit(f"the solution failed in {course_root}: {[r.message for r in rows if not r.passed]}")
    split["results through shared memory, MiB"] = run.shared_bytes / 2**20
    return split


def breakdown(copies: dict[str, Path], runs: int) -> None:
    # The grader is imported here, after main() has set the environment as `grade` does (one BLAS thread).
    from grader.sandbox.client import SandboxServer

    samples: dict[str, dict[str, list[float]]] = {label: {} for label in copies}
    with SandboxServer() as server:
        server.ping()
        for course in copies.values():  # warm-up
            steps(course, server)
        for _ in range(runs):
            for label, course in copies.items():
                for name, value in steps(course, server).items():
                    samples[label].setdefault(name, []).append(value)
    small, large = (samples[label] for label in SIZES)
    rows = []
    for name in small:
        a, b = statistics.median(small[name]), statistics.median(large[name])
        unit = "" if "MiB" in name else " s"
        rows.append([name, f"{a:.3f}{unit}", f"{b:.3f}{unit}", f"{b - a:+.3f}{unit}"])
    print("### Where a large case's time goes (Linear only, in-process, one running server)\n")
    print(table(["step", "10⁴", "10⁶", "difference"], rows))
    print(f"\nMedians of {runs} runs each; the server is started and pinged beforehand, so start-up is not in "
          "these figures.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--skip-breakdown", action="store_true")
    parser.add_argument("--before", type=Path, help="another grader source tree to time side by side")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as grader.launch sets it for `grade`
    started = time.perf_counter()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# Large tensors\n\npython {platform.python_version()}, {cores} cores available, "
          f"load average {os.getloadavg()[0]:.2f} at the start.\n")
    with tempfile.TemporaryDirectory(prefix="grader-large-") as tmp:
        work = Path(tmp)
        os.environ["GRADER_CACHE"] = str(work / "cache")
        copies = {label: course_copy(work / f"course-{i}", *shape) for i, (label, shape) in enumerate(SIZES.items())}
        trees = {"this tree": ROOT, **({"before": args.before.resolve()} if args.before else {})}
        print_ratio(ratio(trees, copies, max(args.runs, 1), dict(os.environ)))
        in_process(trees, copies, max(args.runs, 1))
        if not args.skip_breakdown:
            breakdown(copies, max(args.runs, 1))
    print(f"_Total: {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f} at the end._")


if __name__ == "__main__":
    main()
