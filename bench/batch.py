#!/usr/bin/env python
"""Benchmark of ``grade batch``: throughput against the naive way, per-submission overhead, and memory.

Run with the project's interpreter: ``.venv/bin/python bench/batch.py`` (about 10 minutes on 2 cores).
Markdown tables go to stdout, progress notes to stderr. Everything is written under a temporary folder,
with its own empty case cache (``$GRADER_CACHE``).

1. **Throughput.** A class of ``--students`` (default 24) submissions of ex04's ``linear.py`` (correct and
   typical mistakes, in turn), graded two at a time both ways, then ours on classes ``--scale`` (4 and 10) times
   larger, which gives the cost of one more student once start-up is paid:

   - naive: for each student a fresh ``python`` that imports torch, loads the student's module and runs
     ``torch.autograd.gradcheck`` on their ``Linear`` (one public-sized case), two processes at a time;
   - ours: ``grade batch CLASS --out DIR --exercise ex04 --jobs 2 --lms all`` as one command (so its start-up,
     the sandbox zygote's torch import, the reference cases and every output file are counted), once with an
     empty case cache, then with ``--force`` (the cache warm, as on any later run).

   The naive class and our three classes are timed in ``--rounds`` (3) rounds, one after the other, and each
   speedup is the median of the rounds' own ratios: the machine's speed drifts over minutes, so a naive time
   taken once at the start would count the drift for or against us.

   Ours does more per student: MatMul and Linear, two public and two hidden cases each, three checks per input.
2. **Overhead.** The same class through the API (:func:`grader.batch.runner.grade_class`, two workers):
   per student, the worker's wall time against the time spent grading proper
   (:func:`grader.grading.grade_module`), plus the one-off costs (servers, rebuilding the class files).
3. **Dask.** A class of ``--dask-students`` (default 96) through ``grade batch ... --dask local --jobs 2`` (a
   ``LocalCluster`` of two worker processes, started and stopped by the command) against the same command
   with ``--jobs 2``, ``--dask-repeats`` (3) times each, interleaved, warm case cache, ``--force``: the median
   wall times, and the overhead of Dask (goal: at most 20 %).
4. **Memory.** ``--memory-students`` (default 1000) students through the API, two workers: the grading
   process's resident memory (and the sandbox servers') sampled as students finish, then the peak after the
   class files are rebuilt from the 1000 reports.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.batch import LMS_NAMES
from grader.batch.layouts import discover
from grader.batch.outputs import write_outputs
from grader.batch.runner import Outcome, grade_class, make_plan
from grader.sandbox.client import SandboxServer
from grader.spec import load_course
from grader.writers import summary

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "tests" / "submissions"
VARIANTS = ("linear_alternative", "linear_bias_not_summed", "linear_weight_transposed", "linear_bias_mean",
            "linear_bias_float32", "linear_two_grads")
NAIVE = """
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location("linear", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
g = torch.Generator().manual_seed(0)
x, w, b = (torch.randn(*s, dtype=torch.float64, generator=g, requires_grad=True) for s in ((5, 3), (4, 3), (4,)))
try:
    ok = torch.autograd.gradcheck(module.Linear.apply, (x, w, b), raise_exception=False)
except Exception as exc:
    ok = f"error: {exc}"
print(ok)
"""


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests while this machine's processes were ready to run (the
    ``steal`` column of ``/proc/stat``, summed over the cores); 0 where the kernel does not count it. On a shared
    virtual machine a round with much of it is slow for reasons outside the grader."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def stolen_text(stolen: float, wall: float) -> str:
    """Stolen CPU seconds, and their share of the wall time's core-seconds."""
    return f"{stolen:.1f} s ({100 * stolen / (wall * (os.cpu_count() or 1)):.0f} %)"


def huge_pages_mode() -> str:
    """The kernel's transparent huge page mode (``always``, ``madvise`` or ``never``; ``MADV_COLLAPSE``, which a
    batch's zygote asks for, works in all three from Linux 6.1), or ``unknown``."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as handle:
            text = handle.read()
    except OSError:
        return "unknown"
    chosen = [word[1:-1] for word in text.split() if word.startswith("[")]
    return chosen[0] if chosen else "unknown"


def make_class(folder: Path, students: int) -> list[Path]:
    """``students`` folders ``s0001/linear.py`` ..., cycling through a correct module and typical mistakes."""
    solution = (ROOT / "solutions" / "ex04_linear" / "linear.py").read_bytes()
    sources = [solution] + [(SUBMISSIONS / v / "linear.py").read_bytes() for v in VARIANTS]
    folder.mkdir(parents=True)
    modules = []
    for i in range(students):
        path = folder / f"s{i:04d}" / "linear.py"
        path.parent.mkdir()
        path.write_bytes(sources[i % len(sources)])
        modules.append(path)
    return modules


def naive(modules: list[Path], script: Path, jobs: int) -> float:
    def check(module: Path) -> None:
        subprocess.run([sys.executable, str(script), str(module)], check=True, capture_output=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(check, modules))
    return time.perf_counter() - started


def ours(folder: Path, out: Path, jobs: int, force: bool, extra: tuple[str, ...] = ()) -> float:
    grade = Path(sys.executable).with_name("grade")
    command = [str(grade), "batch", str(folder), "--out", str(out), "--exercise", "ex04", "--jobs", str(jobs),
               "--lms", "all", "--course", str(ROOT), *extra] + (["--force"] if force else [])
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def throughput(work: Path, students: int, jobs: int, scales: list[int], rounds: int) -> None:
    """The naive way and ours, in ``rounds`` rounds: each round times the naive class, then our 24, 96 and 240
    (``--force``, warm cache), so every ratio pairs two measurements a minute apart. The machine's speed drifts
    over minutes (a bare torch import takes 1.8 s at one hour and 3 s at another) and the two ways feel it
    differently; a naive time taken once at the start would credit or blame us for the drift. Each ratio is the
    median of the rounds' own ratios."""
    folder = work / "class"
    modules = make_class(folder, students)
    script = work / "naive.py"
    script.write_text(NAIVE)
    sizes = [students * scale for scale in scales]
    for big in sizes:
        make_class(work / f"class-{big}", big)
    note("ours: grade batch, empty case cache ...")
    cold = ours(folder, work / "out", jobs, force=False)
    naive_s: list[float] = []
    warm: list[float] = []
    larger: dict[int, list[float]] = {big: [] for big in sizes}
    stolen: list[tuple[float, float]] = []  # (steal, wall) of each round
    for r in range(rounds):
        started, steal = time.perf_counter(), steal_seconds()
        note(f"round {r + 1} of {rounds}: naive, {students} fresh interpreters, {jobs} at a time ...")
        naive_s.append(naive(modules, script, jobs))
        note(f"round {r + 1} of {rounds}: grade batch --force on {students}, then {' and '.join(map(str, sizes))} ...")
        warm.append(ours(folder, work / "out", jobs, force=True))
        for big in sizes:
            larger[big].append(ours(work / f"class-{big}", work / f"out-{big}", jobs, force=True))
        stolen.append((steal_seconds() - steal, time.perf_counter() - started))
    per_naive = [t / students for t in naive_s]
    median = statistics.median
    print(f"### Throughput: {jobs} at a time, {rounds} rounds\n")
    print("| way | students | wall time (median) | per student | speedup (median of the rounds) |")
    print("|---|---|---|---|---|")
    print(f"| naive: fresh `python` + `gradcheck` per student | {students} | {median(naive_s):.1f} s | "
          f"{median(per_naive):.3f} s | 1× |")
    print(f"| `grade batch`, empty case cache (once, before the rounds) | {students} | {cold:.1f} s | "
          f"{cold / students:.3f} s | {median(per_naive) * students / cold:.1f}× |")
    rows = [("`grade batch --force`, warm case cache", students, warm)]
    rows += [("`grade batch --force`, warm case cache", big, larger[big]) for big in sizes]
    for label, n, times in rows:
        ratio = median(p * n / t for p, t in zip(per_naive, times, strict=True))
        print(f"| {label} | {n} | {median(times):.1f} s | {median(times) / n:.3f} s | {ratio:.1f}× |")
    if sizes:
        big = sizes[-1]
        marginal = [(t - w) / (big - students) for t, w in zip(larger[big], warm, strict=True)]
        ratio = median(p / m for p, m in zip(per_naive, marginal, strict=True))
        print(f"| each additional student: naive / `grade batch` | | | {median(per_naive):.3f} s / "
              f"{median(marginal):.3f} s | {ratio:.1f}× |")
    print(f"\nRounds, naive per student: {', '.join(f'{p:.3f} s' for p in per_naive)}; ours on {students}: "
          f"{', '.join(f'{t:.1f} s' for t in warm)}"
          + "".join(f"; on {big}: {', '.join(f'{t:.1f} s' for t in larger[big])}" for big in sizes) + ".")
    print("\nCPU time stolen by the hypervisor in each round (of the round's wall time × cores): "
          + ", ".join(stolen_text(s, w) for s, w in stolen) + ".")
    print(f"\nThe naive time for {' and '.join(map(str, sizes))} students is the measured {students} scaled: each "
          "student is its own process, so it is linear by construction. Our start-up (the sandbox zygote's torch "
          "import, the reference cases, every class file) is paid once per run; the last line is the cost of one "
          "more student.\n")


def dask_overhead(work: Path, students: int, jobs: int, repeats: int) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        note('dask: skipped, Dask is not installed (pip install "grader[dask]")')
        return
    folder = work / "dask-class"
    make_class(folder, students)
    ours(folder, work / "dask-warmup", jobs, force=False)  # fills the case cache
    times: dict[str, list[float]] = {"jobs": [], "dask": []}
    started, steal = time.perf_counter(), steal_seconds()
    for i in range(repeats):
        note(f"dask: {students} students, run {i + 1} of {repeats}, --jobs {jobs} then --dask local ...")
        times["jobs"].append(ours(folder, work / "dask-jobs-out", jobs, force=True))
        times["dask"].append(ours(folder, work / "dask-out", jobs, force=True, extra=("--dask", "local")))
    stolen, wall = steal_seconds() - steal, time.perf_counter() - started
    jobs_s, dask_s = statistics.median(times["jobs"]), statistics.median(times["dask"])
    print(f"### Dask: {students} students, {jobs} worker processes against {jobs} threads\n")
    print("| command | runs | median wall time | min | max | per student |")
    print("|---|---|---|---|---|---|")
    for label, key in ((f"`grade batch --jobs {jobs}`", "jobs"), (f"`grade batch --dask local --jobs {jobs}`", "dask")):
        runs = times[key]
        print(f"| {label} | {len(runs)} | {statistics.median(runs):.1f} s | {min(runs):.1f} s | {max(runs):.1f} s | "
              f"{statistics.median(runs) / students:.3f} s |")
    paired = statistics.median(d / j for d, j in zip(times["dask"], times["jobs"], strict=True))
    print(f"\nOverhead of Dask: {100 * (dask_s / jobs_s - 1):+.1f} % of the medians, {100 * (paired - 1):+.1f} % the "
          "median of the run-by-run ratios (goal: at most +20 %); the cluster's start (scheduler, worker processes, "
          "the sandbox zygote's torch import) and stop are counted. CPU time stolen by the hypervisor meanwhile "
          f"(of the wall time × cores): {stolen_text(stolen, wall)}.\n")


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))


class Recorder:
    """A batch listener that keeps the outcomes and samples memory every ``every`` students."""

    def __init__(self, servers: list[int], every: int) -> None:
        self.outcomes: list[Outcome] = []
        self.samples: list[tuple[int, int, int]] = []
        self.servers = servers
        self.every = every

    def started(self, total: int, unchanged: int) -> None:
        self.samples.append((0, rss_kib(), sum(rss_kib(p) for p in self.servers)))

    def stopping(self, in_flight: int) -> None:
        note(f"interrupted with {in_flight} students in progress")

    def finished(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if len(self.outcomes) % self.every == 0:
            self.samples.append((len(self.outcomes), rss_kib(), sum(rss_kib(p) for p in self.servers)))


def through_api(folder: Path, out: Path, jobs: int, every: int) -> tuple[Recorder, float, float, float]:
    """Grade ``folder`` with ``jobs`` servers started here; return the recorder and the one-off costs."""
    summary.prefetch()  # as the command does
    plan = make_plan(load_course(ROOT), ["ex04"])
    entries = discover([folder]).entries
    started = time.perf_counter()
    servers = [SandboxServer().start() for _ in range(jobs)]
    for server in servers:
        server.ping()
    startup = time.perf_counter() - started
    assert all(s.process is not None for s in servers)
    recorder = Recorder([s.process.pid for s in servers if s.process is not None], every)
    try:
        started = time.perf_counter()
        grade_class(entries, out, plan, servers=servers, listener=recorder)
        grading = time.perf_counter() - started
    finally:
        for server in servers:
            server.close()
    started = time.perf_counter()
    write_outputs(out, [e.student for e in entries], plan.assignments, LMS_NAMES, None, "bench")
    return recorder, startup, grading, time.perf_counter() - started


def overhead(work: Path, students: int, jobs: int) -> None:
    note(f"overhead: {students} students through the API ...")
    recorder, startup, grading, outputs = through_api(work / "class", work / "api-out", jobs, max(1, students))
    outcomes = recorder.outcomes
    seconds = [o.seconds for o in outcomes]
    checks = [o.check_seconds for o in outcomes]
    extra = [s - c for s, c in zip(seconds, checks, strict=True)]
    print(f"### Per-submission overhead: {students} students, {jobs} workers\n")
    print("| | per student (median) | total |")
    print("|---|---|---|")
    print(f"| grading proper (`grade_module`: sandbox run, cases, checks) | {1000 * statistics.median(checks):.1f} ms "
          f"| {sum(checks):.2f} s |")
    print(f"| batch overhead in the worker (read, hash, write the record) | {1000 * statistics.median(extra):.2f} ms "
          f"| {sum(extra):.3f} s |")
    print(f"| overhead / grading proper | {100 * statistics.median(e / c for e, c in zip(extra, checks, strict=True)):.2f} % "
          f"| {100 * sum(extra) / sum(checks):.2f} % |")
    print(f"| rebuilding every class file (gradebook, summary, 7 LMS formats, feedback) | "
          f"{1000 * outputs / students:.1f} ms | {outputs:.2f} s |")
    print(f"| one-off: {jobs} sandbox servers ready (torch imported) | | {startup:.2f} s |")
    print(f"| wall time of the grading itself ({jobs} workers) | | {grading:.2f} s |")
    print()


def memory(work: Path, students: int, jobs: int) -> None:
    folder = work / "memory-class"
    make_class(folder, students)
    note(f"memory: {students} students through the API (a few minutes) ...")
    recorder, _, grading, outputs = through_api(folder, work / "memory-out", jobs, max(1, students // 10))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"### Memory: {students} students, {jobs} workers ({grading:.0f} s grading, {outputs:.1f} s class files)\n")
    print("| students finished | grading process RSS | sandbox servers RSS (sum) |")
    print("|---|---|---|")
    for done, own, servers in recorder.samples:
        print(f"| {done} | {own / 1024:.0f} MiB | {servers / 1024:.0f} MiB |")
    print(f"| peak of the grading process, class files included | {peak / 1024:.0f} MiB | |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=24, help="class size for throughput and overhead")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at a time, both ways")
    parser.add_argument("--scale", type=int, nargs="+", default=[4, 10],
                        help="larger classes, each this many times --students (default: 96 and 240 students)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of naive-then-ours for the throughput table (ratios paired per round)")
    parser.add_argument("--dask-students", type=int, default=96, help="class size for the Dask row (0: skip)")
    parser.add_argument("--dask-repeats", type=int, default=3, help="interleaved runs each way for the Dask row")
    parser.add_argument("--only-dask", action="store_true", help="run only the Dask row")
    parser.add_argument("--memory-students", type=int, default=1000, help="class size for memory (0: skip)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grade-bench-batch-"))
    os.environ["GRADER_CACHE"] = str(work / "cache")
    try:
        print(f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, Linux "
              f"{platform.release()}, transparent huge pages: {huge_pages_mode()}\n")
        if args.only_dask:
            dask_overhead(work, args.dask_students, args.jobs, args.dask_repeats)
            return
        throughput(work, args.students, args.jobs, args.scale, args.rounds)
        overhead(work, args.students, args.jobs)
        if args.dask_students:
            dask_overhead(work, args.dask_students, args.jobs, args.dask_repeats)
        if args.memory_students:
            memory(work, args.memory_students, args.jobs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
