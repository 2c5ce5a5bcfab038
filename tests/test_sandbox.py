"""The sandbox: one limited child per job, killed with every process it started; the server outlives them all."""

from __future__ import annotations

import os
import platform
import re
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, SUBMISSIONS, failures

from grader.cases import build_cases
from grader.integrity.static import findings_for
from grader.probe import build_job, observe
from grader.sandbox.client import SandboxServer
from grader.spec import Limits, load_exercise

SOLUTION = (ROOT / "solutions" / "ex01_chain_rule" / "chain_rule.py").read_text()
FAST = Limits(wall_seconds=2)


def _job(server: SandboxServer, shifted_square, source: str, limits: Limits = FAST):
    target, cases = shifted_square
    job, arrays = build_job("chain_rule.py", target, cases)
    return server.run(job, arrays, {"chain_rule.py": source.encode()}, limits), job


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_a_good_job_reports_every_case(server, shifted_square):
    run, job = _job(server, shifted_square, SOLUTION)
    assert (run.timed_out, run.overflow, run.exit_code, run.signal, run.problem) == (False, False, 0, None, "")
    assert run.header["nonce"] == job["nonce"] and run.header["load"] is None
    target, cases = shifted_square
    observations = observe(run, target, cases, FAST)
    assert all(o.failure is None and len(o.calls) == len(c.upstream) for o, c in zip(observations, cases, strict=True))


def test_os_exit_is_crashed_and_the_server_serves_the_next_job(server, shifted_square):
    pid = server.process.pid
    run, _ = _job(server, shifted_square, "import os\nos._exit(3)\n")
    assert (run.header, run.exit_code, run.signal) == ({}, 3, None)
    [failure] = {o.failure for o in observe(run, *shifted_square, FAST)}
    assert failure.code == "crashed" and "exit status 3" in failure.message

    run, _ = _job(server, shifted_square, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert run.signal == 9 and run.header == {}
    assert {o.failure.code for o in observe(run, *shifted_square, FAST)} == {"crashed"}

    run, _ = _job(server, shifted_square, SOLUTION)
    assert run.header["cases"] and server.process.pid == pid and server.process.poll() is None


def test_a_daemon_grandchild_does_not_survive_the_job(grade, fast_course, server):
    """The backward double-forks a child that calls setsid and sleeps; nothing may survive the job.

    Where the child runs unprivileged it may fork (up to the process limit), and the server must find and
    kill the re-parented daemon. Where it stays root, seccomp denies process creation outright, and the
    attempt is the student's ``resource_limit``.
    """
    report = grade("daemon_grandchild", "ex01", spec=fast_course)
    pids = [int(p) for p in re.findall(r"daemon pid (\d+)", report.output)]
    if server.ping().get("layers", {}).get("no_fork"):
        assert pids == []
        # the static scan flags `import os` too, and its forbidden_api gates the value rows
        sandbox_rows = [r for r in failures(report) if r.diagnosis != "forbidden_api"]
        assert {r.diagnosis for r in sandbox_rows} == {"resource_limit"}
        assert {r.target for r in failures(report)} == {"ShiftedSquare"}
        assert all("BlockingIOError" in r.message for r in sandbox_rows)
    else:
        assert [r for r in failures(report) if r.check != "policy"] == []
        assert len(pids) == 8  # one per backward call: 4 grad_outputs x 2 cases
        assert not any(_alive(pid) for pid in pids)
    assert _children(server.process.pid) == []


def test_timeout_kills_the_child_and_the_server_carries_on(server, shifted_square):
    run, _ = _job(server, shifted_square, "print('started', flush=True)\nwhile True:\n    pass\n", Limits(wall_seconds=1))
    assert run.timed_out and run.header == {} and run.output == "started\n"
    [failure] = {o.failure for o in observe(run, *shifted_square, Limits(wall_seconds=1))}
    assert failure.code == "timeout" and "1 s" in failure.message
    assert _children(server.process.pid) == []
    assert _job(server, shifted_square, SOLUTION)[0].header["cases"]


def test_nothing_but_the_students_own_output_is_captured(server, shifted_square):
    run, _ = _job(server, shifted_square, SOLUTION)
    assert run.output == "" and not run.output_truncated


def test_printed_output_is_captured_and_capped(server, shifted_square):
    run, _ = _job(server, shifted_square, "print('x' * 10000)\n" + SOLUTION, Limits(output_kb=1))
    assert run.output_truncated and run.output == "x" * 1024
    assert run.header["cases"]


def test_limits_apply_inside_the_child(server, shifted_square):
    source = ("import resource\n"
              "print('as', resource.getrlimit(resource.RLIMIT_AS)[0])\n"
              "print('fsize', resource.getrlimit(resource.RLIMIT_FSIZE)[0])\n" + SOLUTION)
    run, _ = _job(server, shifted_square, source, Limits(memory_mb=3000, file_mb=5))
    assert f"as {3000 * 1024 * 1024}" in run.output and f"fsize {5 * 1024 * 1024}" in run.output


def test_the_child_works_in_a_fresh_folder_that_is_removed_afterwards(server, shifted_square):
    source = "import os\nprint('cwd', os.getcwd(), sorted(os.listdir('.')))\n" + SOLUTION
    run, _ = _job(server, shifted_square, source)
    match = re.search(r"cwd (\S+) \[('__pycache__', )?'chain_rule.py'\]", run.output)
    assert match, run.output
    assert Path(match.group(1)).resolve() != ROOT and not Path(match.group(1)).exists()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the i386 ABI is x86_64's")
def test_an_i386_syscall_at_import_kills_the_child(server, shifted_square):
    """The seccomp_i386 cheat, run by the real child (no static policy on this road): SIGSYS at its first
    ``int 0x80``, before its socket or any fork; the server lives on.
    """
    source = (SUBMISSIONS / "cheats" / "seccomp_i386" / "linear.py").read_text()
    run, _ = _job(server, shifted_square, source)
    assert run.output == "seccomp_i386: int 0x80\n" and run.signal == signal.SIGSYS
    assert {o.failure.code for o in observe(run, *shifted_square, FAST)} == {"crashed"}
    assert _children(server.process.pid) == [] and server.process.poll() is None


LINEAR = (ROOT / "solutions" / "ex04_linear" / "linear.py").read_text()


def _linear(course, shapes: dict[str, tuple[int, ...]]):
    """ex04's Linear with a single case of the given shapes, and that case."""
    exercise = load_exercise(course, "ex04_linear")
    index = [t.name for t in exercise.targets].index("Linear")
    case = replace(exercise.targets[index].cases[0], name="large", shapes=shapes)
    target = replace(exercise.targets[index], cases=(case,))
    exercise = replace(exercise, targets=(target,))
    return target, build_cases(exercise, 0, course.seed, course.grad_outputs)


def test_a_million_element_case_comes_back_through_shared_memory(server, course):
    """The gradients of a 10⁶-element input travel in the result segment and arrive intact."""
    target, cases = _linear(course, {"x": (5000, 200), "weight": (7, 200), "bias": (7,)})
    job, arrays = build_job("linear.py", target, cases)
    run = server.run(job, arrays, {"linear.py": LINEAR.encode()}, course.limits)
    assert run.problem == "" and run.header["nonce"] == job["nonce"]
    assert run.shared_bytes >= len(cases[0].upstream) * 8 * 10**6
    [obs] = observe(run, target, cases, course.limits)
    assert obs.failure is None and not any(obs.forward_changed)
    for call, expected in zip(obs.calls, cases[0].expected, strict=True):
        assert not call.upstream_changed and not any(call.inputs_changed) and not call.saved_changed
        for ai, want in enumerate(expected):
            assert np.allclose(call.grads[ai], want, rtol=1e-10, atol=1e-10)


SPOIL = '''
import os as _os
import stat as _stat

_write = _os.write


def _spoil_segments_then_write(fd, data):
    """Runs when the child sends its message, after its results are in the segment."""
    for seg in range(3, 256):
        try:
            info = _os.fstat(seg)
        except OSError:
            continue
        if _stat.S_ISREG(info.st_mode) and info.st_nlink == 0 and _os.pread(seg, 8, 0) == b"GRADESEG":
            try:
                {action}
            except OSError:
                pass  # the job's own inputs: sealed against every change
    return _write(fd, data)


_os.write = _spoil_segments_then_write
'''

SPOILS = {
    "truncate": ("_os.ftruncate(seg, 100)", "claims"),
    "truncate_to_nothing": ("_os.ftruncate(seg, 0)", "shorter than its header"),
    "foreign_key": ("_os.pwrite(seg, bytes(16), 8)", "another run"),
    "claims_a_terabyte": ("_os.pwrite(seg, (1 << 40).to_bytes(8, 'little'), 24)", "claims"),
}


@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_a_child_that_spoils_its_segment_after_writing_it_crashes_alone(server, course, spoil):
    """The child truncates its result segment, rewrites its key or inflates its size after filling it: the
    grader refuses the results (``crashed``, saying why), never reads outside the segment, and goes on."""
    action, reason = SPOILS[spoil]
    target, cases = _linear(course, {"x": (300, 40), "weight": (3, 40), "bias": (3,)})
    job, arrays = build_job("linear.py", target, cases)
    source = SPOIL.format(action=action) + LINEAR
    run = server.run(job, arrays, {"linear.py": source.encode()}, course.limits)
    assert run.header == {} and reason in run.problem, run.problem
    [obs] = observe(run, target, cases, course.limits)
    assert obs.failure is not None and obs.failure.code == "crashed" and reason in obs.failure.message
    assert server.process.poll() is None
    good = server.run(job, arrays, {"linear.py": LINEAR.encode()}, course.limits)
    assert good.problem == "" and good.shared_bytes > 0


def test_a_child_that_scribbles_over_its_results_only_spoils_its_own_numbers(server, course):
    """Garbage written into the arrays of the segment is read as numbers: the child's own (wrong) answer."""
    target, cases = _linear(course, {"x": (300, 40), "weight": (3, 40), "bias": (3,)})
    job, arrays = build_job("linear.py", target, cases)
    source = SPOIL.format(action="_os.pwrite(seg, b'\\xff' * 200000, 4096)") + LINEAR
    run = server.run(job, arrays, {"linear.py": source.encode()}, course.limits)
    assert run.problem == "" and run.header["cases"]
    [obs] = observe(run, target, cases, course.limits)
    assert obs.failure is None
    assert any(not np.all(np.isfinite(c.grads[0])) for c in obs.calls)  # 0xff…ff is a NaN


def test_the_child_cannot_change_or_truncate_the_inputs_it_was_sent(server, course):
    probe = '''
import os as _os, stat as _stat
for _fd in range(3, 256):
    try:
        _info = _os.fstat(_fd)
        if not (_stat.S_ISREG(_info.st_mode) and _info.st_nlink == 0 and _os.pread(_fd, 8, 0) == b"GRADESEG"):
            continue
    except OSError:
        continue
    for _name, _attempt in (("write", lambda: _os.pwrite(_fd, b"x", 64)), ("truncate", lambda: _os.ftruncate(_fd, 64))):
        try:
            _attempt()
            print(_name, "allowed")
        except OSError as _exc:
            print(_name, "refused", _exc.errno)
'''
    target, cases = _linear(course, {"x": (300, 40), "weight": (3, 40), "bias": (3,)})
    job, arrays = build_job("linear.py", target, cases)
    run = server.run(job, arrays, {"linear.py": (probe + LINEAR).encode()}, course.limits)
    assert run.output.split("\n")[:2] == ["write refused 1", "truncate refused 1"], run.output
    assert "allowed" not in run.output and run.problem == ""


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_servers_are_forks_of_one_zygote_and_a_dead_one_is_replaced(server, shifted_square):
    """torch is imported once (by the zygote) for every server of the process; a killed server's next job runs
    in a new fork of the same zygote."""
    with SandboxServer() as other:
        other.ping()
        assert other.process is not None and server.process is not None
        zygote = _parent(other.process.pid)
        assert zygote == _parent(server.process.pid) and zygote != os.getpid()
        first = other.process.pid
        other.process.kill()
        other.process.wait()
        run, _ = _job(other, shifted_square, SOLUTION)
        assert run.header["cases"] and other.process.pid != first and _parent(other.process.pid) == zygote


def test_the_server_scans_a_module_as_the_grader_would(server):
    cheat = ("import torch\nclass Linear(torch.autograd.Function):\n    @staticmethod\n"
             "    def backward(ctx, g):\n        return torch.autograd.grad(g, g)\n")
    args = (("torch", "math"), (), {}, ())
    assert server.scan(cheat, ["Linear", "Other"], *args) == [findings_for(cheat, t, *args[:3]) for t in
                                                             ("Linear", "Other")]
    assert server.scan(cheat, ["Linear"], *args)[0][0].startswith("line 5: torch.autograd.grad")
    deep = "x = " + "a." * 100_000 + "b\n"  # too deep for Python's parser: the import fails, the scan finds nothing
    assert server.scan(deep, ["Linear"], *args) == [()] == [findings_for(deep, "Linear")]


def test_a_killed_zygote_takes_its_servers_but_the_next_job_runs_on_a_new_one(shifted_square):
    """Killing the zygote ends the servers it forked (they die with it); a server's next job is sent again to a
    fork of a new zygote, and nothing is lost."""
    from grader.sandbox import spawn

    with SandboxServer() as own:
        own.ping()
        assert own.process is not None
        zygote = _parent(own.process.pid)
        os.kill(zygote, signal.SIGKILL)
        run, _ = _job(own, shifted_square, SOLUTION)
        assert run.header["cases"] and run.exit_code == 0
        assert own.process is not None and _parent(own.process.pid) != zygote
        assert spawn._zygote and spawn._zygote[0].process.pid == _parent(own.process.pid)


def test_the_child_forgets_the_grader_modules_listed_before_the_fork_and_any_loaded_since(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server lists the grader's modules before each fork, so the child need not go through ``sys.modules``
    (which copies hundreds of pages); a module loaded after the list changes the count, and the child then
    goes through ``sys.modules`` after all."""
    from grader.sandbox import runner

    modules = {"grader": 1, "grader.sandbox": 2, "torch": 3, "graderx": 4}
    monkeypatch.setattr(runner, "_sys_modules", modules)
    monkeypatch.setattr(runner, "_grader_modules", ([], -1))
    runner.list_grader_modules()
    assert runner._grader_modules == (["grader", "grader.sandbox"], 4)
    runner._forget_grader()
    assert modules == {"torch": 3, "graderx": 4}
    modules.update({"grader": 1, "grader.sandbox": 2, "grader.late": 5})
    runner._forget_grader()
    assert modules == {"torch": 3, "graderx": 4}
