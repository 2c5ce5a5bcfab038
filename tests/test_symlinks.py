"""Issue 9 item 7: no symbolic link (or pipe, or device) carries anything from outside a submission into a report.

Every road a student (or an LMS download) can put a link on: the ``--submission`` path, a ``grade batch`` entry,
a member of a repository or a folder, a member of a student's zip or of the class zip; plus pipes, devices and
loops, which must neither hang nor crash. Each points at a secret made here, outside every submission, whose
marker line must appear in no output file, on stdout or on stderr, while the student still gets a zero row that
says why. Links inside a submission to its own regular files are followed: they add nothing from outside.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT

from grader.batch.layouts import discover
from grader.batch.unpack import unpack
from grader.cli import main
from grader.submission import Module, load_submission

SLUG, MODULE = "ex04_linear", "linear.py"
SOLUTION = (ROOT / "solutions" / SLUG / MODULE).read_bytes()
FULL = 9.0
MARKER = f"MARKER-{uuid.uuid4().hex}"
SECRET = f"{MARKER} root:$6$not-a-real-hash:19000:0:99999:7:::\n"  # a syntax error whose line used to be quoted
LINK = "symbolic link"


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A pipe that is opened blocks forever: fail the test instead of hanging the suite."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("a submission read blocked (a FIFO or device was opened)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(240)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """The instructor's files, outside every submission: a secret file and a folder that looks like a submission."""
    folder = tmp_path / "outside"
    (folder / "repo" / SLUG).mkdir(parents=True)
    (folder / "secret.txt").write_text(SECRET)
    (folder / MODULE).write_text(SECRET)
    (folder / "repo" / SLUG / MODULE).write_text(SECRET)
    return folder


def _leaks(*places: Path | str) -> list[str]:
    """The output files (links never followed) and texts that contain the marker."""
    found = []
    for place in places:
        if isinstance(place, str):
            found += ["<captured output>"] if MARKER in place else []
            continue
        for folder, _, names in os.walk(place):
            for name in names:
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                if MARKER.encode() in path.read_bytes():
                    found.append(str(path))
    return found


def _zip_with_link(path: Path, link: str, target: str, members: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in (members or {}).items():
            archive.writestr(name, data)
        info = zipfile.ZipInfo(link)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return path


def _grade_one(capsys: pytest.CaptureFixture[str], submission: Path) -> tuple[int, dict, str]:
    with pytest.raises(SystemExit) as info:
        main(["ex04", "--submission", str(submission), "--course", str(ROOT), "--json"])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), json.loads(out), out + err


# --- grade EXERCISE --submission PATH ---------------------------------------------------------------------------


def _road(tmp_path: Path, outside: Path, road: str) -> Path:
    """The ``--submission`` path for one road; every one of them leads to the secret."""
    secret = outside / "secret.txt"
    if road == "file link":
        os.symlink(secret, tmp_path / MODULE)
        return tmp_path / MODULE
    if road == "file link next to the secret":  # a lone file is its own root: its own folder is no excuse
        os.symlink(secret, outside / "next.py")
        return outside / "next.py"
    if road == "repository member":
        (tmp_path / "repo" / "exercises" / SLUG).mkdir(parents=True)
        os.symlink(secret, tmp_path / "repo" / "exercises" / SLUG / MODULE)
        return tmp_path / "repo"
    if road == "folder member":
        (tmp_path / "student").mkdir()
        os.symlink(secret, tmp_path / "student" / MODULE)
        return tmp_path / "student"
    if road == "folder member through a linked folder":
        (tmp_path / "repo").mkdir()
        os.symlink(outside / "repo", tmp_path / "repo" / "exercises")
        return tmp_path / "repo"
    if road == "zip member":
        return _zip_with_link(tmp_path / "student.zip", MODULE, str(secret))
    if road == "fifo":
        os.mkfifo(tmp_path / MODULE)
        return tmp_path / MODULE
    if road == "fifo member":
        (tmp_path / "student").mkdir()
        os.mkfifo(tmp_path / "student" / MODULE)
        return tmp_path / "student"
    if road == "link to /dev/zero":
        os.symlink("/dev/zero", tmp_path / MODULE)
        return tmp_path / MODULE
    if road == "symlink loop":
        os.symlink(tmp_path / "b.py", tmp_path / "a.py")
        os.symlink(tmp_path / "a.py", tmp_path / "b.py")
        return tmp_path / "a.py"
    raise AssertionError(road)


ROADS = {
    "file link": f"{MODULE} is a {LINK} that leaves the submission",
    "file link next to the secret": f"next.py is a {LINK} that leaves the submission",
    "repository member": f"exercises/{SLUG}/{MODULE} is a {LINK} that leaves the submission",
    "folder member": f"{MODULE} is a {LINK} that leaves the submission",
    "folder member through a linked folder": f"exercises is a {LINK} to a folder",
    "zip member": f"{MODULE} is a {LINK} in a zip",
    "fifo": f"{MODULE} is not a regular file",
    "fifo member": f"{MODULE} is not a regular file",
    "link to /dev/zero": f"{MODULE} is a {LINK} that leaves the submission",
    "symlink loop": f"a.py is a {LINK} whose target is missing or loops",
}


@pytest.mark.parametrize("road", sorted(ROADS))
def test_a_submission_that_leads_outside_is_graded_zero_and_never_quoted(
        road: str, tmp_path: Path, outside: Path, shared: None, capsys: pytest.CaptureFixture[str]) -> None:
    status, report, printed = _grade_one(capsys, _road(tmp_path, outside, road))
    assert status == 1
    assert report["score"] == 0 and report["checks"]
    assert all(ROADS[road] in row["message"] for row in report["checks"]), report["checks"][0]["message"]
    assert _leaks(printed, tmp_path / "student", tmp_path / "repo") == []


def test_a_folder_link_typed_on_the_command_line_is_followed(tmp_path: Path, shared: None,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The root itself is the instructor's: ``--submission current`` with ``current -> hw4/alice`` is graded."""
    real = tmp_path / "hw4" / "alice"
    real.mkdir(parents=True)
    (real / MODULE).write_bytes(SOLUTION)
    os.symlink(real, tmp_path / "current")
    status, report, _ = _grade_one(capsys, tmp_path / "current")
    assert (status, report["score"]) == (0, FULL)


def test_an_honest_submission_with_a_link_inside_itself_gets_full_marks(tmp_path: Path, shared: None,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A link to the submission's own regular file is followed: it adds nothing from outside."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "exercises" / SLUG).mkdir(parents=True)
    (repo / "src" / "linear_impl.py").write_bytes(SOLUTION)
    os.symlink(Path("..", "..", "src", "linear_impl.py"), repo / "exercises" / SLUG / MODULE)
    status, report, _ = _grade_one(capsys, repo)
    assert (status, report["score"]) == (0, FULL)


# --- grade batch ------------------------------------------------------------------------------------------------


def _batch(capsys: pytest.CaptureFixture[str], source: Path, out: Path) -> str:
    with pytest.raises(SystemExit) as info:
        main(["batch", str(source), "--out", str(out), "--exercise", "ex04", "--jobs", "2", "--lms", "all",
              "--course", str(ROOT)])
    captured = capsys.readouterr()
    assert info.value.code == 0, captured.err
    return captured.out + captured.err


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").read_text().splitlines())}


def _messages(out: Path, student: str) -> set[str]:
    report = json.loads((out / "reports" / f"{student}.json").read_text())
    return {row["message"] for exercise in report["exercises"] for row in exercise["checks"]}


def test_a_class_of_links_leaks_nothing_and_every_student_gets_a_row(
        tmp_path: Path, outside: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = outside / "secret.txt"
    submissions = tmp_path / "class"
    submissions.mkdir()
    expected = {  # student: what every one of their rows says
        "alice": f"alice.py is a {LINK} that leaves the submission",  # entry: link to a file outside
        "bob": f"bob is a {LINK} that leaves the submission",  # entry: link to a folder outside
        "carol": f"exercises/{SLUG}/{MODULE} is a {LINK} that leaves the submission",  # repository member
        "dan": f"{MODULE} is a {LINK} that leaves the submission",  # folder member
        "erin": f"{MODULE} is a {LINK} in a zip",  # member of a student's zip
        "frank": "frank.py is not a regular file",  # a named pipe: must not hang
        "gina": f"gina.py is a {LINK} that leaves the submission",  # entry: link to /dev/zero
        "hank": f"hank is a {LINK} whose target is missing or loops",  # entry: a loop
        "judy": f"exercises is a {LINK} to a folder",  # a repository whose exercises/ leads outside
        "leo": f"leo_1001_5001_linear.py is a {LINK} that leaves the submission",  # a Canvas file
        "mia": f"mia is a {LINK} that leaves the submission",  # entry: a link to the class folder itself
        "noah": f"{MODULE} is a {LINK} that leaves the submission",  # member: a link to a classmate's file
    }
    os.symlink(secret, submissions / "alice.py")
    os.symlink(outside, submissions / "bob")
    (submissions / "carol" / "exercises" / SLUG).mkdir(parents=True)
    os.symlink(secret, submissions / "carol" / "exercises" / SLUG / MODULE)
    (submissions / "dan").mkdir()
    os.symlink(secret, submissions / "dan" / MODULE)
    _zip_with_link(submissions / "erin.zip", MODULE, str(secret), {"README.py": b"# notes\n"})
    os.mkfifo(submissions / "frank.py")
    os.symlink("/dev/zero", submissions / "gina.py")
    os.symlink("hank", submissions / "hank")
    (submissions / "judy").mkdir()
    os.symlink(outside / "repo", submissions / "judy" / "exercises")
    os.symlink(secret, submissions / "leo_1001_5001_linear.py")
    os.symlink(".", submissions / "mia")
    (submissions / "noah").mkdir()
    os.symlink(Path("..", "honest", MODULE), submissions / "noah" / MODULE)
    (submissions / "honest").mkdir()
    (submissions / "honest" / MODULE).write_bytes(SOLUTION)
    (submissions / "kim" / "impl").mkdir(parents=True)  # a link inside the submission to its own file
    (submissions / "kim" / "impl" / "linear_impl.py").write_bytes(SOLUTION)
    os.symlink(Path("impl", "linear_impl.py"), submissions / "kim" / MODULE)
    os.symlink("honest", submissions / "olga")  # an entry linking inside the class folder: followed
    out = tmp_path / "out"
    printed = _batch(capsys, submissions, out)
    rows = _rows(out)
    assert set(rows) == {*expected, "honest", "kim", "olga"}
    for student, why in expected.items():
        assert (rows[student]["ex04"], rows[student]["total"]) == ("0", "0"), student
        messages = _messages(out, student)
        assert messages and all(why in m for m in messages), (student, messages)
        assert why in (out / "feedback" / f"{student}.md").read_text(), student
    for student in ("honest", "kim", "olga"):
        assert float(rows[student]["total"]) == FULL, student
    assert _leaks(printed, out) == []


def test_a_class_zip_with_link_members_keeps_those_students(tmp_path: Path, outside: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A link in the class download is never recreated as written, but its student still gets a row."""
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("noah_1002_5002_linear.py", SOLUTION)
        zipped.writestr("pat/linear_helpers.py", b"X = 1\n")
        for name in ("mia_1001_5001_linear.py", "pat/linear.py", "quinn", "../../escape.py"):
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, str(outside / "secret.txt"))
    out = tmp_path / "out"
    printed = _batch(capsys, archive, out)
    rows = _rows(out)
    assert set(rows) == {"mia", "noah", "pat", "quinn"}
    assert float(rows["noah"]["total"]) == FULL
    for student, why in {"mia": "mia_1001_5001_linear.py", "pat": MODULE, "quinn": "quinn"}.items():
        assert rows[student]["total"] == "0"
        assert all(f"{why} is a {LINK} in a zip" in m for m in _messages(out, student)), student
    assert _leaks(printed, out) == []
    for link in (out / ".unpacked").rglob("*"):
        assert not link.is_symlink() or os.readlink(link).startswith("/dev/null/")
    assert not (tmp_path / "escape.py").exists()


# --- the rules, without grading ---------------------------------------------------------------------------------


def test_which_links_are_followed(tmp_path: Path, outside: Path) -> None:
    student = tmp_path / "student"
    (student / "sub").mkdir(parents=True)
    (student / "sub" / "real.py").write_bytes(SOLUTION)
    os.symlink(Path("sub", "real.py"), student / MODULE)  # inside the root, a regular file: read
    os.symlink("sub", student / "linked_sub")  # a folder link, even inside: never walked into
    os.symlink(outside / "secret.txt", student / "helpers.py")  # outside: refused
    submission = load_submission(student)
    assert set(submission.files) == {MODULE, "sub/real.py"}
    assert set(submission.refused) == {"linked_sub", "helpers.py"}
    module = submission.module(SLUG, MODULE)
    assert isinstance(module, Module) and module.files == {MODULE: SOLUTION}  # the refused helper is no sibling
    assert all(MARKER not in why for why in submission.refused.values())


def test_batch_entries_may_link_only_inside_the_class_folder(tmp_path: Path, outside: Path) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    (submissions / "honest.py").write_bytes(SOLUTION)
    os.symlink("honest.py", submissions / "copy.py")
    os.symlink(outside / "secret.txt", submissions / "thief.py")
    os.symlink("loop", submissions / "loop")
    os.mkfifo(submissions / "pipe.py")
    entries = {e.student: e for e in discover([submissions]).entries}
    assert set(entries) == {"copy", "honest", "loop", "pipe", "thief"}
    assert isinstance(entries["copy"].load().module(SLUG, MODULE), Module)
    for student in ("loop", "pipe", "thief"):
        problem = entries[student].load().problem
        assert problem and MARKER not in problem, student


def test_unpack_replaces_link_members_by_links_that_lead_nowhere(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("a/linear.py", "a/linear.py/inner.py", "b.py"):
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
        with warnings.catch_warnings():  # zipfile warns of the duplicate name
            warnings.simplefilter("ignore")
            archive.writestr("b.py", "B = 1\n")  # the same name again, as a file: not written through the link
    (tmp_path / "class.zip").write_bytes(buffer.getvalue())
    root, skipped = unpack(tmp_path / "class.zip", tmp_path / "out")
    assert sorted(skipped) == ["a/linear.py/inner.py", "b.py"]
    assert os.readlink(root / "a" / "linear.py").startswith("/dev/null/")
    assert os.readlink(root / "b.py").startswith("/dev/null/")
