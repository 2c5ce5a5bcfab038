"""The entry point starts the sandbox zygote early only for commands that grade, and a local Dask cluster's
fork server for ``grade batch --dask local``."""

from __future__ import annotations

import pytest

from grader.launch import early_start


@pytest.mark.parametrize(("args", "started"), [
    (["ex03"], "zygote"), (["all", "--json"], "zygote"), (["list"], ""), (["release", "out"], ""),
    (["validate"], ""), (["ex03", "--help"], ""), (["--version"], ""), ([], ""),
    (["batch", "subs", "--jobs", "1"], "zygote"), (["batch", "subs", "--jobs=64"], "zygote"), (["batch", "subs"], "zygote"),
    (["batch", "subs", "--dask", "local"], "forkserver"), (["batch", "subs", "--dask=local", "--jobs", "2"], "forkserver"),
    (["batch", "subs", "--dask", "tcp://10.0.0.1:8786"], ""), (["batch", "subs", "--dask=tcp://10.0.0.1:8786"], ""),
    (["batch", "subs", "--dask", "local", "--help"], ""),
])
def test_what_starts_first(args: list[str], started: str) -> None:
    """One zygote whatever ``--jobs`` (every server is a fork of it); nothing here for a running cluster."""
    assert early_start(args) == started
