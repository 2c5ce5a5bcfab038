"""The zygote's memory in huge pages before a batch (grader.sandbox.hugepages): collapsed where the kernel can,
asked for only by a batch large enough to gain, and changing nothing a child computes."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest
from test_sandbox import SOLUTION, _job, _parent

from grader.batch import runner
from grader.sandbox import hugepages, spawn
from grader.sandbox.client import SandboxServer


def _huge_kb(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def _can_collapse() -> bool:
    """Whether this kernel collapses on request (Linux 6.1 and later, huge pages not turned off)."""
    area = mmap.mmap(-1, 2 * hugepages.HUGE)
    try:
        area.write(b"\1" * len(area))
        return hugepages.collapse() > 0
    finally:
        area.close()


def test_collapse_puts_anonymous_memory_in_huge_pages_and_keeps_its_bytes():
    if not _can_collapse():
        pytest.skip("this kernel does not collapse memory on request (MADV_COLLAPSE)")
    area = mmap.mmap(-1, 8 * hugepages.HUGE)
    try:
        pattern = bytes(range(256)) * (len(area) // 256)
        area.write(pattern)
        before = _huge_kb()
        assert hugepages.collapse() >= 6 * hugepages.HUGE
        assert _huge_kb() >= before + 6 * hugepages.HUGE // 1024
        assert area[:] == pattern
    finally:
        area.close()


def test_a_zygote_readied_for_a_batch_forks_servers_that_grade_as_before(shifted_square):
    """After ``b"huge"`` the zygote's memory is in huge pages; a server forked from it gives the same report
    as one forked before, and the zygote still answers (the request has no reply to wait for)."""
    with SandboxServer() as before:
        plain, _ = _job(before, shifted_square, SOLUTION)
        spawn.ready_for_batch()
        spawn.ready_for_batch()  # a second request (another Dask worker's) changes nothing
        with SandboxServer() as after:
            readied, _ = _job(after, shifted_square, SOLUTION)
            assert after.process is not None and before.process is not None
            zygote = _parent(after.process.pid)
            assert zygote == _parent(before.process.pid)
            if _can_collapse():
                assert _huge_kb(zygote) > 0
    assert readied.exit_code == plain.exit_code == 0
    assert readied.header["cases"] == plain.header["cases"]
    assert set(readied.arrays) == set(plain.arrays)
    assert all((readied.arrays[k] == plain.arrays[k]).all() for k in plain.arrays)


@pytest.mark.parametrize("students, asked", [(runner.HUGE_PAGES_FROM - 1, False), (runner.HUGE_PAGES_FROM, True)])
def test_only_a_batch_large_enough_to_gain_asks_for_huge_pages(monkeypatch, tmp_path, students, asked):
    calls = []
    monkeypatch.setattr(runner, "ready_for_batch", lambda: calls.append(os.getpid()))
    monkeypatch.setattr(runner, "prepare", lambda entries, *a: (tmp_path, [], []) if not entries else
                        (tmp_path, list(entries), []))
    monkeypatch.setattr(runner, "warm_cases", lambda plan: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        runner._grade_class([object()] * students, tmp_path, None, 2, False, None, None, str)  # type: ignore[arg-type]
    assert calls == ([os.getpid()] if asked else [])
