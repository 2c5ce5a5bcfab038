#!/usr/bin/env python
"""Benchmark of the sandbox child: the CPU one forked child takes to run an exercise's job, this checkout against
another, in pairs.

Run with the project's interpreter: ``.venv/bin/python bench/child.py --before OLD_CHECKOUT`` (about a minute).

A whole ``grade batch`` varies by ±10 % from one run to the next on a shared machine, more than most changes
to the child. So each checkout gets a worker process that builds the job once (grading the submission through
a real sandbox server, whose job it keeps), then forks a child per request that runs the job as the server's
child does (:func:`grader.sandbox.runner.run_job`; without the sandbox layers, which cost the same in both),
and reports the child's CPU time and page faults (``wait4``). The driver asks the two workers in turn, the
order swapped every pair, so each pair is two forks a fraction of a second apart, and reports the median of
the pairs' ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import gc, io, os, sys, tempfile
gc.disable()
tree, exercise, submission = sys.argv[1:4]
sys.path.insert(0, tree)
from pathlib import Path
import numpy as np
from grader.grading import grade_module
from grader.sandbox import runner
from grader.sandbox.client import SandboxServer
from grader.spec import load_course, load_exercise
from grader.submission import Module

course = load_course(Path(tree))
spec = load_exercise(course, exercise, hidden=True)
source = Path(submission).read_bytes()
name = spec.module
module = Module(files={name: source}, source=source.decode(), origin=submission)
jobs = []
run = SandboxServer.run
SandboxServer.run = lambda self, job, arrays, files, limits: jobs.append((job, arrays)) or run(self, job, arrays, files, limits)
server = SandboxServer().start()
grade_module(course, spec, module, server, course.seed)
server.close()
job, arrays = jobs[-1]
arrays = {key: np.array(value) for key, value in arrays.items()}
for value in arrays.values():
    value.setflags(write=False)
work = Path(tempfile.mkdtemp())
(work / name).write_bytes(source)
os.chdir(work)
sys.path.append(str(work))
gc.freeze()
gc.enable()
print("ready", flush=True)
for _ in sys.stdin:
    getattr(runner, "list_grader_modules", lambda: None)()  # as the server does before it forks, where it does
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            runner.run_job(job, dict(arrays), work)
        finally:
            os._exit(0)
    _, status, usage = os.wait4(pid, 0)
    print(usage.ru_utime, usage.ru_stime, usage.ru_minflt, flush=True)
"""


def start(tree: Path, exercise: str, submission: Path) -> subprocess.Popen[str]:
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tree), exercise, str(submission)], cwd=tree,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    if worker.stdout.readline().strip() != "ready":
        raise SystemExit(f"bench/child.py: the worker for {tree} did not start")
    return worker


def fork(worker: subprocess.Popen[str]) -> tuple[float, float, int]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    user, system, faults = worker.stdout.readline().split()
    return float(user), float(system), int(faults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout of the grader, timed in the same pairs")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--exercise", default="ex04_linear")
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions" / "ex04_linear" / "linear.py")
    args = parser.parse_args()
    trees = [args.before.resolve(), ROOT] if args.before else [ROOT]
    workers = [start(tree, args.exercise, args.submission.resolve()) for tree in trees]
    samples: list[list[tuple[float, float, int]]] = [[] for _ in trees]
    for i in range(args.pairs):
        for k in (range(len(trees)) if i % 2 == 0 else reversed(range(len(trees)))):
            samples[k].append(fork(workers[k]))
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    median = statistics.median
    print(f"### The sandbox child on {args.exercise} ({args.submission.name}), {args.pairs} forks each\n")
    print("| checkout | CPU ms (median) | user ms | system ms | page faults |")
    print("|---|---|---|---|---|")
    for tree, runs in zip(trees, samples, strict=True):
        print(f"| {tree} | {1000 * median(u + s for u, s, _ in runs):.1f} | {1000 * median(u for u, _, _ in runs):.1f} "
              f"| {1000 * median(s for _, s, _ in runs):.1f} | {median(f for _, _, f in runs):.0f} |")
    if len(trees) == 2:
        ratios = [(b[0] + b[1]) / (a[0] + a[1]) for a, b in zip(*samples, strict=True)]
        print(f"\nThis checkout / the other, CPU: median of the pairs' ratios {median(ratios):.3f}")


if __name__ == "__main__":
    main()
