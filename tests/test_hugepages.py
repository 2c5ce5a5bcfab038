"""The zygote's memory in huge pages before a batch (grader.sandbox.hugepages): collapsed where the kernel can,
asked for only by a batch large enough to gain, and changing nothing a child computes."""

from __future__ import annotations

import ctypes
import mmap
import os
import re
from pathlib import Path

import pytest
from test_sandbox import SOLUTION, _job, _parent

from grader.batch import runner
from grader.sandbox import hugepages, spawn
from grader.sandbox.client import SandboxServer


def _huge_kb(pid: int | str = "self") -> int:
    """A process's anonymous memory in huge pages, in kB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def _huge_kb_at(address: int) -> int:
    """The huge pages, in kB, of this process's mapping that holds ``address``."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            inside = low <= address < high
        elif inside and line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def _area(blocks: int) -> tuple[mmap.mmap, bytes, int]:
    """A fresh private anonymous area of ``blocks`` huge pages' worth, filled with a pattern, and its address."""
    area = mmap.mmap(-1, blocks * hugepages.HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    pattern = bytes(range(256)) * (len(area) // 256)
    area.write(pattern)
    return area, pattern, ctypes.addressof(ctypes.c_char.from_buffer(area))


def _kernel_collapses() -> bool:
    """Whether this kernel collapses memory on request, here and now (``MADV_COLLAPSE``, Linux 6.1 and later,
    huge pages not turned off, 2 MB of memory free): asked directly, not through the code under test."""
    area, _, address = _area(2)
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        start = -(-address // hugepages.HUGE) * hugepages.HUGE
        madvise(start, hugepages.HUGE, hugepages.MADV_COLLAPSE)
        return _huge_kb_at(address) > 0
    finally:
        area.close()


def test_collapse_puts_anonymous_memory_in_huge_pages_and_keeps_its_bytes():
    if not _kernel_collapses():
        pytest.skip("this kernel does not collapse memory on request (no MADV_COLLAPSE, or no free huge pages)")
    area, pattern, address = _area(8)
    try:
        hugepages.collapse()
        assert area[:] == pattern
        assert _huge_kb_at(address) >= 6 * hugepages.HUGE // 1024  # 8 blocks' worth hold at least 7 aligned ones
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
            if not _huge_kb(zygote):  # only a kernel that cannot collapse, here and now, leaves it all small
                assert not _kernel_collapses(), "the zygote was not collapsed, though this kernel collapses memory"
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
