"""The entry point starts sandbox servers early only for commands that grade."""

from __future__ import annotations

import os

import pytest

from grader.launch import servers_wanted


@pytest.mark.parametrize(("args", "wanted"), [
    (["ex03"], 1), (["all", "--json"], 1), (["list"], 0), (["release", "out"], 0), (["validate"], 0),
    (["ex03", "--help"], 0), (["--version"], 0), ([], 0), (["batch", "subs", "--jobs", "1"], 1),
    (["batch", "subs", "--jobs=1"], 1),
])
def test_servers_wanted(args: list[str], wanted: int) -> None:
    assert servers_wanted(args) == wanted


def test_a_batch_starts_one_server_per_job_up_to_the_cores() -> None:
    cores = os.cpu_count() or 1
    assert servers_wanted(["batch", "subs"]) == min(cores, 16)
    assert servers_wanted(["batch", "subs", "--jobs", "64"]) == min(cores, 16)
