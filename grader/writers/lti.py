"""LTI 1.3 Assignment and Grade Services: one score document per student, ``lti/<student>.json``.

Each is the body of a ``POST {lineitem}/scores`` (``application/vnd.ims.lis.v1.score+json``). Posting needs
the platform's OAuth credentials and is a separate, explicit step; this writer only prepares the bodies.
``userId`` is the roster's ``lti_id`` (the platform's ``sub``), else the LMS username, else the student's id
(:func:`unmatched` lists the students without an ``lti_id``). The file is named after the student's file key.
``timestamp`` is when the student was graded, stored in their report, so a re-run writes the same bytes.
A student the grader could not grade gets ``gradingProgress: Failed`` and no score, rather than a zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from grader.batch.record import Assignment, ClassRecords, StudentRecord
from grader.batch.state import write_atomic
from grader.writers.feedback import record_brief
from grader.writers.sinks import Sink, written

NEEDS = "LTI userId"


def unmatched(records: Iterable[StudentRecord]) -> list[str]:
    """The ids of the students without an ``lti_id``: their ``userId`` is a guess the platform may not know."""
    return [r.student_id for r in records if not r.identity.lti_id]


def score(record: StudentRecord) -> dict[str, Any]:
    who = record.identity
    body: dict[str, Any] = {"userId": who.lti_id or who.username or who.student_id}
    if not record.error:
        body |= {"scoreGiven": record.score, "scoreMaximum": record.max_score}
    body |= {"comment": record_brief(record)[:4000], "timestamp": record.graded_at, "activityProgress": "Completed",
             "gradingProgress": "Failed" if record.error else "FullyGraded"}
    return body


class Writer(Sink):
    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "lti"

    def add(self, record: StudentRecord) -> None:
        write_atomic(self.path / f"{record.student}.json", json.dumps(score(record), indent=2, allow_nan=False) + "\n")


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
