"""Issue 11 item 6: a batch leaves nothing behind and loses nobody.

- the sandbox's ``grade-work-<pid>-*`` folders (student code) that a ``kill -9`` left are removed when the next
  batch starts, and only those whose server is dead;
- a class zip unpacks within a quota (a multiple of its size): a zip bomb's member is left out with a reason,
  the others are graded, and ``OUT/.unpacked`` is gone after the batch;
- every entry of the class zip gets a gradebook row: a symlink member, a member over the quota, a damaged one;
- JUnit: an unusable submission is an ``<error>``, a wrong gradient a ``<failure>``.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, SUBMISSIONS

from grader.batch import unpack as unpacking
from grader.batch.layouts import discover
from grader.batch.record import ClassRecords
from grader.batch.runner import grade_class, load, make_plan
from grader.cli import main
from grader.sandbox import workdirs
from grader.spec import load_course
from grader.writers import junit

SLUG, MODULE = "ex04_linear", "linear.py"
SOLUTION = (ROOT / "solutions" / SLUG / MODULE).read_bytes()
FULL = "9"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
BOMB = 30 * 1024 * 1024  # zeros: about 30 kB compressed, far over 20 times that plus 8 MB


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary folder of the test's own, so that no real run's work folders are touched."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _work_folder(base: Path, pid: int, kind: str = "work") -> Path:
    folder = base / f"grade-{kind}-{pid}-abc123"
    folder.mkdir()
    (folder / MODULE).write_bytes(SOLUTION)  # student code: exactly what must not linger
    return folder


# --- work folders -------------------------------------------------------------------------------------------------


def test_work_folders_carry_their_owners_pid(private_tmp: Path) -> None:
    for kind in workdirs.KINDS:
        folder = workdirs.make(kind)
        assert folder.parent == private_tmp and folder.name.startswith(f"grade-{kind}-{os.getpid()}-")
        assert workdirs.owner(folder.name) == os.getpid()
    assert workdirs.owner("grade-work-abc123") is None


def test_a_dead_runs_work_folders_go_and_a_live_runs_stay(private_tmp: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = [_work_folder(private_tmp, _dead_pid()), _work_folder(private_tmp, _dead_pid(), "probe")]
        kept = [_work_folder(private_tmp, live.pid), _work_folder(private_tmp, os.getpid())]
        unmarked = private_tmp / "grade-work-k2j4h5"  # an older grader's: whose it is cannot be told
        unmarked.mkdir()
        other = private_tmp / "pytest-of-someone"
        other.mkdir()
        assert sorted(workdirs.sweep()) == sorted(dead)
        assert not any(p.exists() for p in dead)
        assert all((p / MODULE).is_file() for p in kept) and unmarked.is_dir() and other.is_dir()
    finally:
        live.kill()
        live.wait()


def test_a_link_named_like_a_work_folder_is_not_followed(private_tmp: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    os.symlink(precious, private_tmp / f"grade-work-{_dead_pid()}-xyz")
    workdirs.sweep()
    assert (precious / "keep.txt").read_text() == "mine"


def test_a_batch_starts_by_removing_a_killed_runs_work_folders(private_tmp: Path, tmp_path: Path) -> None:
    stale = _work_folder(private_tmp, _dead_pid())
    live = _work_folder(private_tmp, os.getpid())
    plan = make_plan(load_course(ROOT), ["ex04"])
    assert grade_class([], tmp_path / "out", plan, servers=[]) == []
    assert not stale.exists() and live.is_dir()


def test_a_killed_grader_leaves_a_work_folder_that_the_next_batch_removes(tmp_path: Path) -> None:
    """The real thing: ``kill -9`` while a student's backward runs, then a sweep."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    command = [sys.executable, "-m", "grader", "ex04", "--submission", str(SUBMISSIONS / "class" / "grace"),
               "--course", str(ROOT), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TMPDIR": str(scratch)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(scratch.glob("grade-work-*")):
            assert process.poll() is None, "the grader finished before it could be killed"
            assert time.monotonic() < deadline, "no work folder appeared"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    [left] = scratch.glob("grade-work-*")
    owner = workdirs.owner(left.name)
    assert owner is not None
    deadline = time.monotonic() + 30
    while workdirs.alive(owner) and time.monotonic() < deadline:  # the server dies with its parent
        time.sleep(0.05)
    assert workdirs.sweep(scratch) == [left] and not left.exists()


# --- the class zip ------------------------------------------------------------------------------------------------


def _link(zipped: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zipped.writestr(info, target)


def _class_zip(path: Path) -> Path:
    """alice: honest; bomb: a 30 MB member of zeros; carl: a symlink; dora: a damaged member; eve: an empty folder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("alice.py", SOLUTION)
        zipped.writestr("bomb_1002_5002_linear.py", b"\0" * BOMB)
        _link(zipped, "carl.py", "/etc/passwd")
        zipped.writestr(zipfile.ZipInfo("dora.py"), b"# DAMAGED-HERE\n" + SOLUTION, zipfile.ZIP_STORED)
        zipped.writestr(zipfile.ZipInfo("eve/"), b"")
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"DAMAGED-HERE", b"damaged-here", 1))  # same length, wrong CRC
    return path


def test_the_quota_is_a_multiple_of_the_zips_size_capped() -> None:
    assert unpacking.quota(259_000) == 20 * 259_000 + 8 * 1024 * 1024
    assert unpacking.quota(10 ** 9) == unpacking.QUOTA_CAP == 1024 ** 3


def test_a_zip_bomb_member_is_left_out_with_a_reason_and_its_student_stays(tmp_path: Path) -> None:
    archive = _class_zip(tmp_path / "class.zip")
    assert archive.stat().st_size < 200_000
    root, skipped = unpacking.unpack(archive, tmp_path / "out" / ".unpacked" / "class")
    assert sorted(skipped) == ["bomb_1002_5002_linear.py", "dora.py"]
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    assert size < unpacking.quota(archive.stat().st_size)
    assert "more than" in unpacking.left_out(root / "bomb_1002_5002_linear.py")
    assert "damaged" in unpacking.left_out(root / "dora.py")
    entries = {e.student: e for e in discover([root]).entries}
    assert set(entries) == {"alice", "bomb", "carl", "dora", "eve"}
    bomb = load(entries["bomb"])
    assert bomb.problem.startswith("bomb_1002_5002_linear.py was left out of the class download: it would unpack "
                                   "to more than")
    assert "symbolic link" not in bomb.problem
    assert load(entries["dora"]).problem.startswith("dora.py was left out of the class download: it is damaged")
    assert "symbolic link in a zip" in load(entries["carl"]).problem


def test_the_rest_of_a_zip_over_its_quota_is_left_out_member_by_member(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unpacking, "QUOTA_FACTOR", 0)  # room for two and a half modules, whatever the zip's size
    monkeypatch.setattr(unpacking, "QUOTA_SLACK", len(SOLUTION) * 5 // 2)
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for name in ("a", "b", "c"):
            zipped.writestr(f"{name}/{MODULE}", SOLUTION)
    limit = unpacking.quota(archive.stat().st_size)
    assert len(SOLUTION) * 2 < limit < len(SOLUTION) * 3
    root, skipped = unpacking.unpack(archive, tmp_path / "out")
    assert skipped == [f"c/{MODULE}"]
    entries = {e.student: e for e in discover([root]).entries}
    why = load(entries["c"]).module(SLUG, MODULE)
    assert isinstance(why, str) and why.startswith(f"{MODULE} was left out of the class download")
    assert (tmp_path / "out" / unpacking.MARKER).read_text().startswith(f"c/{MODULE}: it would unpack")


def test_a_class_zip_batch_gives_everyone_a_row_and_cleans_up(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    archive = _class_zip(tmp_path / "class.zip")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["batch", str(archive), "--out", str(out), "--exercise", "ex04", "--jobs", "1", "--lms", "junit",
              "--course", str(ROOT)])
    assert info.value.code == 0, capsys.readouterr().err
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").read_text().splitlines())}
    assert set(rows) == {"alice", "bomb", "carl", "dora", "eve"}
    assert rows["alice"]["total"] == FULL
    reasons = {"bomb": "was left out of the class download: it would unpack to more than",
               "carl": "carl.py is a symbolic link in a zip", "dora": "it is damaged", "eve": f"no {MODULE} found"}
    summary = (out / "summary.md").read_text()
    for student, why in reasons.items():
        assert rows[student]["total"] == "0", student
        report = json.loads((out / "reports" / f"{student}.json").read_text())
        assert why in report["batch"]["problems"]["ex04"], student
        assert all(why in row["message"] for row in report["exercises"][0]["checks"]), student
        assert student in summary, student
    assert not (out / ".unpacked").exists()
    junit = ET.parse(out / "junit.xml").getroot()
    unusable = {s.get("name") for s in junit.findall("testsuite") if s.find("testcase/error[@type='unusable']")
                is not None}
    assert unusable == {f"{s}.ex04" for s in reasons}


def test_a_rerun_unpacks_again_and_skips_the_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("alice.py", SOLUTION)
        _link(zipped, "carl.py", "/etc/passwd")
    out = tmp_path / "out"
    for expected in ("1 graded, 1 failed", "0 graded, 0 failed"):
        with pytest.raises(SystemExit) as info:
            main(["batch", str(archive), "--out", str(out), "--exercise", "ex04", "--jobs", "1", "--course",
                  str(ROOT)])
        err = capsys.readouterr().err
        assert info.value.code == 0 and expected in err, err
        assert not (out / ".unpacked").exists()
    assert "2 unchanged" in err


# --- JUnit ------------------------------------------------------------------------------------------------------


def test_junit_errors_are_tests_that_could_not_run_and_failures_wrong_answers(tmp_path: Path) -> None:
    root = ET.parse(junit.write(ClassRecords(FIXTURES / "reports"), tmp_path)).getroot()
    outcomes = {}
    for suite in root.findall("testsuite"):
        for case in suite.findall("testcase"):
            for kind in ("error", "failure"):
                for element in case.findall(kind):
                    outcomes.setdefault(suite.get("name"), set()).add((kind, element.get("type")))
    assert outcomes == {
        "mary-jane.ex04": {("failure", "broadcast_not_reduced")},  # a wrong gradient
        "o-brien.ex01": {("error", "timeout")},  # the test could not finish
        "o-brien.ex04": {("failure", "exception")},  # the student's backward raised: it ran, and was wrong
        "quinn.ex04": {("error", "unusable")},  # a syntax error: nothing could run
        "zed": {("error", "grader_error")},
    }
    [quinn] = [s for s in root.findall("testsuite") if s.get("name") == "quinn.ex04"]
    assert {e.get("message") for e in quinn.iter("error")} == {"syntax error in linear.py line 3: invalid syntax"}
    assert (quinn.get("failures"), quinn.get("errors")) == ("0", "3")
    assert (root.get("failures"), root.get("errors")) == ("2", "6")


def test_class_files_get_the_mode_the_umask_gives_not_the_temporary_files(tmp_path: Path) -> None:
    """Files are written under a temporary name (made 0600) and renamed: the result must have the mode any new
    file of the instructor's gets, or the TAs sharing the folder (umask 002, 022) could not read the gradebook."""
    from grader.batch.state import write_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "gradebook.csv"
    write_atomic(path, "student,score\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
