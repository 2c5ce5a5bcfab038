#!/usr/bin/env python
"""Benchmarks: the ``grade`` command's start-up, and the check engine against ``torch.autograd.gradcheck``.

Run from anywhere with the project's interpreter: ``.venv/bin/python bench/run.py`` (``make bench``).
Everything is printed as Markdown tables, ready to paste into the README. See ``bench/README.md``.

1. Start-up: wall time of ``grade ex04 --submission solutions`` (a subprocess of the venv's ``grade``
   script) against a bare ``python -c "import torch"`` on the same interpreter, interleaved, medians.
2. Engine cost against input size: one ``Linear`` case whose ``x`` has 10 … 10⁶ elements, graded through
   :func:`grader.grading.grade_exercise` on an already-running sandbox server, next to
   ``torch.autograd.gradcheck`` (slow and fast mode) on the same ``Linear`` in this process, with the
   number of forward and backward calls each makes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from grader import grading
from grader.cases import build_cases, forget, training_data
from grader.probe import build_job
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CaseSpec, CourseSpec, ExerciseSpec, load_course, load_exercise
from grader.submission import Module, load_submission

ROOT = Path(__file__).resolve().parents[1]
SLUG = "ex04_linear"
TARGET = "Linear"
SOLUTIONS = ROOT / "solutions"
SOLUTION_MODULE = SOLUTIONS / SLUG / "linear.py"
STARTUP_GOAL = 1.3
SLOW_DATA_BUDGET = 2 << 30  # bytes of dense Jacobians slow gradcheck may build (numerical + analytical)
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Size:
    """``x`` is (n, inp), ``weight`` (out, inp), ``bias`` (out,); n, inp and out all differ."""

    n: int
    inp: int
    out: int

    @property
    def elements(self) -> int:
        return self.n * self.inp

    @property
    def label(self) -> str:
        exponent = len(str(self.elements)) - 1
        return f"10{str(exponent).translate(SUPERSCRIPT)}" if self.elements == 10**exponent else str(self.elements)

    @property
    def shapes(self) -> str:
        return f"({self.n}, {self.inp}) · ({self.out}, {self.inp}) · ({self.out},)"

    @property
    def jacobian_bytes(self) -> int:
        """Slow gradcheck's dense Jacobians: (all input elements) × (output elements), numerical and analytical."""
        inputs = self.elements + self.out * self.inp + self.out
        return 2 * 8 * inputs * self.n * self.out


SIZES = (Size(2, 5, 3), Size(20, 5, 3), Size(50, 20, 4), Size(200, 50, 5), Size(1000, 100, 6), Size(5000, 200, 7))


# ---------------------------------------------------------------------------------------------- helpers


def seconds(value: float) -> str:
    return f"{value:.2f}" if value >= 10 else f"{value:.3g}"


def calls(fwd: int, bwd: int) -> str:
    return f"{fwd:,} / {bwd:,}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


@contextlib.contextmanager
def cache_dir(parent: Path) -> Iterator[Path]:
    """A fresh, empty case cache (``$GRADER_CACHE``) for the duration of the block, in this process."""
    folder = Path(tempfile.mkdtemp(prefix="cache-", dir=parent))
    forget()
    old = os.environ.get("GRADER_CACHE")
    os.environ["GRADER_CACHE"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("GRADER_CACHE", None)
        else:
            os.environ["GRADER_CACHE"] = old
        shutil.rmtree(folder, ignore_errors=True)


def environment() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"python {platform.python_version()}, torch {torch.__version__}, {cores} cores available, "
            f"{platform.machine()} {platform.system()}, commit {commit}, {load_average()}")


def load_average() -> str:
    """Other work on the machine skews every number here; say how busy it was."""
    try:
        return f"load average {os.getloadavg()[0]:.2f}"
    except OSError:
        return "load average unknown"


# ---------------------------------------------------------------------------------------------- 1. start-up


@dataclass
class StartupResult:
    torch_import: list[float] = field(default_factory=list)
    grade_warm: list[float] = field(default_factory=list)
    grade_cold: list[float] = field(default_factory=list)


def run_timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}:\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def bench_startup(runs: int, scratch: Path) -> StartupResult:
    grade = Path(sys.executable).parent / "grade"
    if not grade.exists():
        raise SystemExit(f"no grade script next to {sys.executable}: run `make` first")
    torch_cmd = [sys.executable, "-c", "import torch"]
    grade_cmd = [str(grade), "ex04", "--submission", "solutions"]
    warm_cache = Path(tempfile.mkdtemp(prefix="startup-warm-", dir=scratch))
    warm_env = {**os.environ, "GRADER_CACHE": str(warm_cache)}

    def cold() -> float:
        folder = Path(tempfile.mkdtemp(prefix="startup-cold-", dir=scratch))
        try:
            return run_timed(grade_cmd, {**os.environ, "GRADER_CACHE": str(folder)})
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    result = StartupResult()
    kinds: list[tuple[list[float], Callable[[], float]]] = [
        (result.torch_import, lambda: run_timed(torch_cmd, warm_env)),
        (result.grade_warm, lambda: run_timed(grade_cmd, warm_env)),
        (result.grade_cold, cold),
    ]
    for _, measure in kinds:  # warm the page cache and the case cache; not recorded
        measure()
    for i in range(runs):  # interleaved, rotating which command goes first
        for samples, measure in kinds[i % 3:] + kinds[: i % 3]:
            samples.append(measure())
    shutil.rmtree(warm_cache, ignore_errors=True)
    return result


def print_startup(result: StartupResult) -> None:
    base = median(result.torch_import)

    def row(name: str, samples: list[float]) -> list[str]:
        ratio = median(samples) / base
        return [name, str(len(samples)), seconds(median(samples)), seconds(min(samples)), seconds(max(samples)),
                f"{ratio:.2f}×"]

    print("## Start-up\n")
    print(table(["command", "runs", "median s", "min s", "max s", "× import torch"], [
        row('`python -c "import torch"`', result.torch_import),
        row("`grade ex04 --submission solutions` (warm case cache)", result.grade_warm),
        row("`grade ex04 --submission solutions` (empty case cache)", result.grade_cold),
    ]))
    ratio = median(result.grade_warm) / base
    verdict = "met" if ratio <= STARTUP_GOAL else "NOT met"
    print(f"\nGoal: `grade` with a warm cache ≤ {STARTUP_GOAL}× a bare `import torch`: **{verdict}** "
          f"({ratio:.2f}×). Runs are interleaved; the first run of each command is a discarded warm-up.\n")


# ---------------------------------------------------------------------------------------------- 2. engine


COUNTING_SUFFIX = """

# --- appended by bench/run.py: count the calls the engine makes ---
_BenchCounted = {name}


class {name}(_BenchCounted):
    @staticmethod
    def forward(ctx, *args):
        print("[fwd]", end="")
        return _BenchCounted.forward(ctx, *args)

    @staticmethod
    def backward(ctx, *grads):
        print("[bwd]", end="")
        return _BenchCounted.backward(ctx, *grads)
"""


@dataclass
class EngineResult:
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    derived: tuple[int, int] = (0, 0)
    observed: tuple[int, int] = (0, 0)
    cases_cold: float = 0.0
    cases_warm: float = 0.0
    round_trip: float = 0.0
    child: float = 0.0
    job_mb: float = 0.0


class Engine:
    """The grader's own path: ``grade_exercise`` on a spec with one Linear case, through one running server."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.course: CourseSpec = load_course(ROOT)
        self.base: ExerciseSpec = load_exercise(self.course, SLUG)
        self.submission = load_submission(SOLUTIONS)
        counting = scratch / "counting" / "linear.py"
        counting.parent.mkdir()
        counting.write_text(SOLUTION_MODULE.read_text() + COUNTING_SUFFIX.format(name=TARGET))
        self.counting = load_submission(counting)
        self.server = SandboxServer().start()
        self.server.ping()  # wait for the server's torch import: start-up is not part of this measurement

    def close(self) -> None:
        self.server.close()

    def exercise(self, size: Size) -> ExerciseSpec:
        target = next(t for t in self.base.targets if t.name == TARGET)
        case = CaseSpec(name=f"bench-{size.elements}", values={},
                        shapes={"x": (size.n, size.inp), "weight": (size.out, size.inp), "bias": (size.out,)})
        return replace(self.base, targets=(replace(target, cases=(case,)),))

    def grade(self, exercise: ExerciseSpec, counting: bool = False) -> tuple[float, Report]:
        """Time ``grade_exercise`` itself; its spec loader is pointed at our in-memory spec."""
        submission = self.counting if counting else self.submission
        with mock.patch.object(grading, "load_exercise", lambda *_args, **_kwargs: exercise):
            start = time.perf_counter()
            report = grading.grade_exercise(self.course, exercise.slug, submission, self.server)
            elapsed = time.perf_counter() - start
        wanted = {c.name for c in exercise.targets[0].cases}
        graded = {row.case for row in report.checks}
        if graded != wanted:
            raise SystemExit(f"graded cases {sorted(graded)}, expected {sorted(wanted)}: the spec override failed")
        if not counting and not (report.passed and report.score == report.max_score > 0):
            failed = [f"{r.check}/{r.input}: {r.message}" for r in report.checks if not r.passed]
            raise SystemExit(f"the reference solution failed at {exercise.targets[0].cases[0].name}: {failed}")
        return elapsed, report

    def derived_calls(self, exercise: ExerciseSpec) -> tuple[int, int]:
        """Forward and backward calls the child makes for this job, from the job the engine sends.

        Per case (see ``grader/sandbox/runner.py``): one forward through ``apply``; for each upstream gradient
        a fresh forward and one raw backward; for each differentiable input and each of its directions two
        forwards (``x + h v`` and ``x - h v``). A target with a ``training`` check adds one forward and one
        backward per SGD step.
        """
        target = exercise.targets[0]
        cases = build_cases(exercise, 0, self.course.seed, self.course.grad_outputs)
        training = training_data(exercise, 0, self.course.seed) if target.training is not None else None
        job, _ = build_job(exercise.module, target, cases, training)
        fwd = bwd = 0
        for case in job["cases"]:
            bwd += int(case["calls"])
            fwd += 1 + int(case["calls"]) + 2 * sum(int(n) for n in case["fd"].values())
        if job.get("training"):
            fwd += int(job["training"]["steps"])
            bwd += int(job["training"]["steps"])
        return fwd, bwd

    def breakdown(self, exercise: ExerciseSpec, result: EngineResult) -> None:
        """One lower-level pass with an empty cache: cases, then the sandbox round trip."""
        with cache_dir(self.scratch):
            start = time.perf_counter()
            cases = build_cases(exercise, 0, self.course.seed, self.course.grad_outputs)
            result.cases_cold = time.perf_counter() - start
            start = time.perf_counter()
            build_cases(exercise, 0, self.course.seed, self.course.grad_outputs)
            result.cases_warm = time.perf_counter() - start
        module = self.submission.module(exercise.slug, exercise.module)
        assert isinstance(module, Module), module
        job, arrays = build_job(exercise.module, exercise.targets[0], cases)
        result.job_mb = sum(a.nbytes for a in arrays.values()) / 2**20
        start = time.perf_counter()
        run = self.server.run(job, arrays, module.files, self.course.limits)
        result.round_trip = time.perf_counter() - start
        result.child = run.elapsed

    def measure(self, size: Size, repeats: int) -> EngineResult:
        exercise = self.exercise(size)
        result = EngineResult()
        for _ in range(repeats):
            with cache_dir(self.scratch):
                result.cold.append(self.grade(exercise)[0])  # empty cache: references computed and saved
                result.warm.append(self.grade(exercise)[0])  # same cache again: a repeated `grade`
                if not result.derived[0]:
                    result.derived = self.derived_calls(exercise)
        _, report = self.grade(exercise, counting=True)
        result.observed = (report.output.count("[fwd]"), report.output.count("[bwd]"))
        self.breakdown(exercise, result)
        return result


# ---------------------------------------------------------------------------------------------- 2b. gradcheck


@dataclass
class Counter:
    fwd: int = 0
    bwd: int = 0


def load_solution() -> type[torch.autograd.Function]:
    spec = importlib.util.spec_from_file_location("bench_solution_linear", SOLUTION_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: type[torch.autograd.Function] = getattr(module, TARGET)
    return fn


def counted(base: type[torch.autograd.Function]) -> tuple[type[torch.autograd.Function], Counter]:
    """A subclass of ``base`` that counts the calls autograd makes to its forward and backward."""
    counter = Counter()

    class Counted(base):  # type: ignore[valid-type, misc]
        @staticmethod
        def forward(ctx: Any, *args: Any) -> Any:
            counter.fwd += 1
            return base.forward(ctx, *args)

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:
            counter.bwd += 1
            return base.backward(ctx, *grads)

    return Counted, counter


@dataclass
class GradcheckResult:
    seconds: float | None = None
    fwd: int = 0
    bwd: int = 0
    skipped: str = ""


class Budget:
    """Skip a size (and every larger one) once the previous size's time, scaled by how this method's cost
    grows with size, would exceed the budget. The projection only decides what to skip; it is never reported."""

    def __init__(self, limit: float, exponent: float) -> None:
        self.limit = limit
        self.exponent = exponent
        self.previous: tuple[int, float] | None = None
        self.exhausted = False

    def allows(self, elements: int) -> bool:
        if not self.exhausted and self.previous is not None:
            done, took = self.previous
            self.exhausted = took > self.limit or took * (elements / done) ** self.exponent > self.limit
        return not self.exhausted

    def record(self, elements: int, took: float) -> None:
        self.previous = (elements, took)


def gradcheck(fn: type[torch.autograd.Function], size: Size, fast: bool, budget: Budget,
              repeats: int) -> GradcheckResult:
    if not budget.allows(size.elements):
        return GradcheckResult(skipped="skipped (> budget)")
    if not fast and size.jacobian_bytes > SLOW_DATA_BUDGET:
        budget.exhausted = True
        return GradcheckResult(skipped="skipped (> budget)")
    gen = torch.Generator().manual_seed(size.elements)
    inputs = tuple(torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_(True)
                   for shape in ((size.n, size.inp), (size.out, size.inp), (size.out,)))
    samples: list[float] = []
    result = GradcheckResult()
    for _ in range(repeats):
        Counted, counter = counted(fn)
        start = time.perf_counter()
        ok = torch.autograd.gradcheck(Counted.apply, inputs, fast_mode=fast)
        samples.append(time.perf_counter() - start)
        if not ok:
            raise SystemExit(f"gradcheck rejected the reference solution at {size.label}")
        result.fwd, result.bwd = counter.fwd, counter.bwd
        if samples[-1] > 2.0:  # long enough that one run is a stable measurement
            break
    result.seconds = median(samples)
    budget.record(size.elements, result.seconds)
    return result


def gradcheck_cell(result: GradcheckResult) -> tuple[str, str]:
    if result.seconds is None:
        return result.skipped, "–"
    return seconds(result.seconds), calls(result.fwd, result.bwd)


# ---------------------------------------------------------------------------------------------- main


def bench_sizes(sizes: tuple[Size, ...], budget_s: float, repeats: int, scratch: Path) -> None:
    fn = load_solution()
    slow_budget, fast_budget = Budget(budget_s, 2.0), Budget(budget_s, 1.0)
    engine = Engine(scratch)
    try:
        engine.measure(sizes[0], 1)  # warm-up: lazy imports, first fork, first gradcheck; not recorded
        gradcheck(fn, sizes[0], True, Budget(budget_s, 1.0), 1)
        gradcheck(fn, sizes[0], False, Budget(budget_s, 2.0), 1)
        rows, details = [], []
        mismatches = []
        for size in sizes:
            eng = engine.measure(size, repeats)
            slow = gradcheck(fn, size, False, slow_budget, repeats)
            fast = gradcheck(fn, size, True, fast_budget, repeats)
            rows.append([size.label, f"`{size.shapes}`", seconds(median(eng.cold)), seconds(median(eng.warm)),
                         calls(*eng.derived), *gradcheck_cell(slow), *gradcheck_cell(fast)])
            details.append([size.label, seconds(eng.cases_cold), seconds(eng.cases_warm), f"{eng.job_mb:.3g}",
                            seconds(eng.round_trip), seconds(eng.child), calls(*eng.observed)])
            if eng.observed != eng.derived:
                mismatches.append(f"{size.label}: derived {calls(*eng.derived)}, observed {calls(*eng.observed)}")
            print(f"<!-- measured {size.label} -->", file=sys.stderr, flush=True)
    finally:
        engine.close()

    print("## Check engine against `torch.autograd.gradcheck`, one Linear case\n")
    print(table(["x elements", "shapes x · weight · bias", "engine s (empty cache)", "engine s (warm cache)",
                 "engine fwd / bwd calls", "gradcheck slow s", "calls", "gradcheck fast s", "calls"], rows))
    print(f"\nEngine: `grade_exercise` through an already-running sandbox server (median of {repeats}); "
          "\"empty cache\" includes computing the reference cases, \"warm cache\" is a repeated run. "
          "gradcheck: `torch.autograd.gradcheck(Linear.apply, (x, weight, bias))` on float64 inputs in the "
          f"benchmark process (median of up to {repeats}). Calls are forward / backward calls of the Function. "
          f"A method is skipped at a size (and above) once its previous size's time, scaled by its growth "
          f"(size² for slow, size for fast), would exceed {budget_s:g} s, or slow mode's dense Jacobians would "
          f"exceed {SLOW_DATA_BUDGET >> 30} GiB.\n")
    print("### Where the engine's time goes\n")
    print(table(["x elements", "cases s (empty cache)", "cases s (warm cache)", "job arrays MiB",
                 "sandbox round trip s", "child s (fork → exit)", "fwd / bwd calls observed in the child"], details))
    print("\nThe observed calls come from a copy of the solution whose forward and backward print a marker, "
          "graded through the same sandbox.")
    if mismatches:
        print("\n**Derived and observed call counts differ:** " + "; ".join(mismatches))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--startup-runs", type=int, default=7, help="interleaved runs per command (at least 5)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per size for the engine and gradcheck")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds one gradcheck measurement may take")
    parser.add_argument("--max-exponent", type=int, default=6, help="largest size is 10**N elements (1-6)")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--skip-engine", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the sandbox child runs single-threaded too: compare per core
    started = time.perf_counter()
    print("# Benchmarks\n")
    print(f"{environment()}; torch work in the benchmark process uses 1 thread.\n")
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        scratch = Path(tmp)
        if not args.skip_startup:
            print_startup(bench_startup(max(args.startup_runs, 5), scratch))
        if not args.skip_engine:
            sizes = tuple(s for s in SIZES if s.elements <= 10**args.max_exponent)
            bench_sizes(sizes, args.budget, max(args.repeats, 1), scratch)
    print(f"_Total benchmark time: {time.perf_counter() - started:.0f} s; {load_average()} at the end._")


if __name__ == "__main__":
    main()
