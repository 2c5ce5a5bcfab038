"""The attack suite: hostile submissions get no points for what they target, and grading goes on.

Every attack is graded end to end through the CLI (its own sandbox server), on a copy of the course whose
course.yaml lowers the wall time to 2 s. For each one we assert the verdict on the rows it targets, that
MatMul (honest in every attack that leaves the module importable) still earns full marks, exit status 1,
that nothing outside the work directory changed, and that no process is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from helpers import ROOT, SUBMISSIONS

from grader.cli import main
from grader.sandbox import spawn

HOSTILE = SUBMISSIONS / "hostile"
MARKERS = ("/tmp/hostile-write-outside-marker", os.path.expanduser("~/hostile-write-outside-marker"))

# attack -> the diagnoses acceptable on Linear's gradient rows, and whether MatMul is still graded honestly.
VERDICTS: dict[str, tuple[set[str], bool]] = {
    "exit_at_import": ({"crashed"}, False),
    "sys_exit_at_import": ({"crashed"}, False),
    "os_exit_in_backward": ({"crashed"}, True),
    "sys_exit_in_backward": ({"crashed"}, True),
    "monkeypatch_checks": ({"wrong_values", "ok"}, True),
    "fake_report": ({"broadcast_not_reduced", "ok"}, True),
    "steal_solution": ({"not_implemented", "forbidden_api"}, True),
    "write_outside": ({"broadcast_not_reduced", "ok"}, True),
    "setsid_daemon": ({"broadcast_not_reduced", "ok"}, True),
    "fork_bomb": ({"resource_limit"}, True),
    "memory_bomb": ({"resource_limit"}, True),
    "infinite_loop": ({"timeout"}, True),
    "long_sleep": ({"timeout"}, True),
    "disk_fill": ({"resource_limit"}, True),
    "print_flood": ({"resource_limit"}, True),
    "open_socket": ({"exception", "ok", "broadcast_not_reduced"}, True),
    "signal_others": ({"broadcast_not_reduced", "ok"}, True),
}


@pytest.fixture(scope="module")
def short_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "exercises" / "ex04_linear", root / "exercises" / "ex04_linear")
    shutil.copytree(ROOT / "solutions" / "ex04_linear", root / "solutions" / "ex04_linear")
    (root / "course.yaml").write_text("id: hostile\ntitle: Attack suite\nexercises: [ex04_linear]\n"
                                      "defaults:\n  limits: {wall_seconds: 2, output_kb: 64}\n")
    return root


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def _processes() -> dict[int, str]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


def _parent(pid: int) -> int | None:
    """The parent of ``pid``; orphans of a killed server would be re-parented to 1 (or to us, the caller)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _grade(course: Path, submission: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    with pytest.raises(SystemExit) as stop:
        main(["ex04", "--course", str(course), "--submission", str(submission), "--json"])
    captured = capsys.readouterr()
    return int(stop.value.code or 0), json.loads(captured.out)


@pytest.mark.parametrize("attack", sorted(VERDICTS))
def test_attack(attack: str, short_course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(HOSTILE / attack, submission)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    (submission / "port.py").write_text(f"PORT = {listener.getsockname()[1]}\n")
    course_before, repo_before = _fingerprint(short_course), _fingerprint(ROOT / "solutions")
    spawn.prestart()  # this process's zygote lives on by design: started by the first grading, which may be this one
    before = _processes()
    try:
        status, report = _grade(short_course, submission, capsys)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    acceptable, matmul_honest = VERDICTS[attack]
    assert status == 1
    linear = [r for r in report["checks"] if r["target"] == "Linear" and r["check"] in ("autograd", "gradcheck")]
    # The static policy flags every attack (os, sys, subprocess...), but the sandbox still runs it and must
    # still contain it: the rows show what the sandbox saw, or forbidden_api where nothing stopped the case.
    assert linear and {r["diagnosis"] for r in linear} <= acceptable | {"forbidden_api"}, {r["diagnosis"] for r in linear}
    assert any(not r["passed"] for r in linear)
    assert sum(r["score"] for r in report["checks"] if r["target"] == "Linear") == 0
    matmul = [r for r in report["checks"] if r["target"] == "MatMul"]
    flagged = any(r["check"] == "policy" and r["diagnosis"] == "forbidden_api" for r in matmul)
    if flagged:  # module-level code of the attack runs for every target
        assert sum(r["score"] for r in matmul) == 0
    else:
        assert all(r["passed"] for r in matmul) == matmul_honest
    assert report["score"] < report["max_score"]
    assert not any(os.path.exists(m) for m in MARKERS)
    assert not (short_course / "exercises" / "hostile-write-outside-marker").exists()
    assert _fingerprint(short_course) == course_before and _fingerprint(ROOT / "solutions") == repo_before
    alive = _processes()
    leftovers = {pid: cmd for pid, cmd in alive.items() if pid not in before and (
        "31.4159" in cmd or ("grader.sandbox.server" in cmd and _parent(pid) in (1, os.getpid())))}
    assert leftovers == {}


def test_stolen_paths_are_unreadable_so_the_thief_gets_nothing(short_course: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    submission = tmp_path / "thief"
    shutil.copytree(HOSTILE / "steal_solution", submission)
    _, report = _grade(short_course, submission, capsys)
    linear = [r for r in report["checks"] if r["target"] == "Linear" and r["check"] == "autograd"]
    assert all(r["score"] == 0 for r in linear)
    assert any("nothing stolen" in r["message"] or r["diagnosis"] == "forbidden_api" for r in linear)


def test_fake_output_never_reaches_json_stdout(short_course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = _grade(short_course, HOSTILE / "fake_report", capsys)
    assert status == 1 and report["score"] < report["max_score"]
    assert report["schema"] == "grader-report/1" and report["checks"]


def test_the_isolation_layers_this_machine_provides(short_course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Which layers were active where this suite runs (Linux, kernel with Landlock, as root or not)."""
    _, report = _grade(short_course, ROOT / "solutions" / "ex04_linear", capsys)
    sandbox = report["sandbox"]
    layers = sandbox["layers"]
    assert sandbox["server"] == "fork" and sandbox["subreaper"] is True
    assert layers["environment"] is True and layers["seccomp"] is True
    assert all(sandbox["rlimits"][k] for k in ("address_space", "file_size", "open_files", "core"))
    assert layers["landlock"] is (sandbox["landlock_abi"] > 0)
    assert layers["no_fork"] is (os.geteuid() == 0 and not layers["unprivileged_user"])
    # the server imported torch with the collector off; its children must have it back on
    assert sandbox["garbage_collector"] is True
    print(json.dumps(sandbox, sort_keys=True))


BROKEN = {
    "zip_slip.zip": ("broadcast_not_reduced", "grad_bias"),
    "notebook_invalid_json.ipynb": ("exception", "not valid notebook JSON"),
    "notebook_syntax_error.ipynb": ("exception", "syntax error"),
    "notebook_missing_class.ipynb": ("exception", "has no class Linear"),
    "notebook_not_utf8.ipynb": ("exception", "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_or_malicious_archives_and_notebooks(name: str, short_course: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Zip-slip members and a symlink are ignored (the real module is graded); broken notebooks score 0."""
    status, report = _grade(short_course, HOSTILE / name, capsys)
    code, text = BROKEN[name]
    linear = [r for r in report["checks"] if r["target"] == "Linear" and r["check"] == "autograd" and not r["passed"]]
    assert status == 1 and linear
    assert {r["diagnosis"] for r in linear} == {code} and all(text in r["message"] for r in linear)
    if name.endswith(".ipynb"):
        assert report["score"] == 0
    for escaped in ("/tmp/hostile-zip-absolute-marker.py", str(HOSTILE.parent.parent / "hostile-zip-slip-marker.py"),
                    str(Path.cwd().parent / "hostile-zip-slip-marker.py")):
        assert not os.path.exists(escaped)


def test_a_batch_of_every_attack_finishes_and_grades_the_honest_students(short_course: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Issue: a class made of all the attacks plus two honest students is graded to the end, correctly."""
    import csv

    submissions = tmp_path / "class"
    submissions.mkdir()
    for entry in HOSTILE.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, submissions / entry.name)
        else:
            shutil.copyfile(entry, submissions / entry.name)
    shutil.copytree(ROOT / "solutions" / "ex04_linear", submissions / "honestfull")
    shutil.copytree(SUBMISSIONS / "linear_bias_not_summed", submissions / "honestpartial")
    before = _processes()
    out = tmp_path / "grades"
    with pytest.raises(SystemExit) as stop:
        main(["batch", str(submissions), "--out", str(out), "--course", str(short_course), "--jobs", "2",
              "--lms", "junit"])
    capsys.readouterr()
    assert stop.value.code == 0
    with open(out / "gradebook.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    students = {p.name.split(".")[0] for p in HOSTILE.iterdir()} | {"honestfull", "honestpartial"}
    assert students <= set(rows)
    assert float(rows["honestfull"]["total"]) == 9.0
    assert abs(float(rows["honestpartial"]["total"]) - 22 / 3) < 1e-3
    for name in students - {"honestfull", "honestpartial"}:
        assert float(rows[name]["total"] or 0) < 9.0, name
    assert not any(os.path.exists(m) for m in MARKERS)
    alive = _processes()
    assert {pid: cmd for pid, cmd in alive.items() if pid not in before and (
        "31.4159" in cmd or ("grader.sandbox.server" in cmd and _parent(pid) in (1, os.getpid())))} == {}
