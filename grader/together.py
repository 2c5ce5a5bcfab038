"""Every target of an exercise in one sandboxed child, with the one-child-per-target way as the fallback.

A child costs a fork of the torch-loaded server, the isolation layers and an exit, about 30 ms of CPU
whatever it runs; a target's own probing costs as much again. So the grader first sends one job with a
*part* per target: the child imports the student's module once and probes each target in turn (the same
cases, checks and watch as alone, :func:`grader.sandbox.runner.run_job`). Its result is split into one
:class:`~grader.sandbox.client.ChildRun` per target, which the checks read exactly as before, and what the
student printed is split at the marks the child wrote between targets.

Only an honest, complete run is split. When the shared child ran out of time in a target, was killed, sent
too much, or sent something malformed, nothing of it is used and every target runs again in its own child, so
one target's hang or crash never costs another target its result: the outcome is the one-child-per-target
outcome, paid for once more. A hang while importing (the module never finished loading) is the same for
every target and is not run again.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import numpy as np

from grader.sandbox.client import ChildRun, SandboxServer
from grader.sandbox.protocol import part_mark
from grader.spec import Limits
from grader.submission import Module


def run_together(jobs: list[tuple[dict[str, Any], dict[str, np.ndarray]]], module: Module, server: SandboxServer,
                 limits: Limits) -> list[ChildRun] | None:
    """One :class:`ChildRun` per job (in order) from a single child, or ``None``: run each job alone instead."""
    nonce = uuid.uuid4().hex
    header: dict[str, Any] = {"nonce": nonce, "module": jobs[0][0]["module"], "target": None,
                              "parts": [{k: v for k, v in job.items() if k not in ("nonce", "module", "substitutes")}
                                        for job, _ in jobs]}
    if jobs[0][0].get("substitutes"):
        header["substitutes"] = jobs[0][0]["substitutes"]
    arrays = {f"p{i}.{key}": value for i, (_, data) in enumerate(jobs) for key, value in data.items()}
    run = server.run(header, arrays, module.files, limits)
    if run.timed_out and not run.loaded:
        return [run] * len(jobs)  # a hang at import: every target would hang the same way
    if run.timed_out or run.overflow or run.signal is not None or run.exit_code not in (0, None) or run.problem:
        return None
    if run.header.get("load"):
        return [_part(run, {"load": run.header["load"], "cases": []}, {}, run.output if i == 0 else "",
                      run.output_truncated and i == 0) for i in range(len(jobs))]
    parts = run.header.get("parts")
    if not isinstance(parts, list) or len(parts) != len(jobs) or not all(isinstance(p, dict) for p in parts):
        return None
    printed = _split_output(run.output, nonce, len(jobs))
    last = max((i for i, text in enumerate(printed) if text), default=0)  # where the output cap cut, if it did
    runs = []
    for i, record in enumerate(parts):
        prefix = f"p{i}."
        mine = {key[len(prefix):]: value for key, value in run.arrays.items() if key.startswith(prefix)}
        runs.append(_part(run, record, mine, printed[i], run.output_truncated and i == last))
    return runs


def _part(run: ChildRun, record: dict[str, Any], arrays: dict[str, np.ndarray], output: str,
          truncated: bool = False) -> ChildRun:
    header = {"nonce": run.header.get("nonce"), "load": record.get("load"), "cases": record.get("cases", [])}
    if "training" in record:
        header["training"] = record["training"]
    return dataclasses.replace(run, header=header, arrays=arrays, output=output, output_truncated=truncated)


def _split_output(text: str, nonce: str, count: int) -> list[str]:
    """What was printed before each target's mark, from the import on (it goes to the first target). A mark cut
    off by the output cap leaves the rest of the text with the last target whose mark was seen."""
    pieces = [""] * count
    current, rest = 0, text
    for i in range(count):
        mark = part_mark(nonce, i)
        before, found, after = rest.partition(mark)
        if not found:
            break
        pieces[current] += before
        current, rest = i, after
    pieces[current] += rest
    return [p.strip("\n") for p in pieces]
