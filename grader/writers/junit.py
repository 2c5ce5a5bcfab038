"""JUnit XML for CI dashboards: ``junit.xml``, one ``testsuite`` per student and exercise.

Each ``testcase`` is a target and input (``classname`` ``<student>.<exercise>.<target>``, ``name``
``grad_bias``). JUnit's convention decides between its two outcomes: a ``failure`` is a test that ran and
found a wrong answer, an ``error`` is a test that could not run as intended. So a wrong gradient (or a
backward that raised or was not attempted, a forbidden API, a changed forward) is a ``failure``, ``type`` its
diagnosis; an ``error`` is an unusable submission (a syntax error, no module, a corrupt zip or notebook, a
refused link: ``type`` ``unusable``, ``message`` the reason), a crash, a timeout or a limit (``type`` the
diagnosis), and a student the grader could not grade (``grader_error``). JUnit has no points, so ``score`` and
``max_score`` are suite properties. Student text is stripped of characters XML 1.0 forbids. Durations are
written as 0 so that a re-run writes the same bytes. Suites are written one at a time: memory does not
grow with the class.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from grader.batch.record import TROUBLE_CODES, Assignment, ClassRecords, StudentRecord, groups, points
from grader.escape import xml, xml_chars
from grader.results import Row
from grader.writers.feedback import problems
from grader.writers.sinks import Sink, written


def suites(record: StudentRecord) -> list[ET.Element]:
    if record.error:
        suite = _suite(record.student, record.score, record.max_score)
        case = ET.SubElement(suite, "testcase", classname=xml_chars(record.student), name="grading", time="0")
        ET.SubElement(case, "error", message=xml_chars(record.error[:500]), type="grader_error").text = \
            xml_chars(record.error)
        return [_count(suite)]
    out = []
    for report in record.reports:
        suite = _suite(f"{record.student}.{report.exercise}", report.score, report.max_score)
        unusable = record.problems.get(report.exercise, "")
        for group in groups(report):
            case = ET.SubElement(suite, "testcase", classname=xml_chars(f"{record.student}.{report.exercise}.{group.target}"),
                                 name=f"grad_{group.input}" if group.input else "forward and policy", time="0")
            if group.failed:
                _outcome(case, group.failed, unusable)
        out.append(_count(suite))
    return out


def _outcome(case: ET.Element, failed: tuple[Row, ...], unusable: str) -> None:
    """Add the ``error`` or ``failure`` element of a test case whose ``failed`` rows did not pass.

    ``unusable`` is why the submission had no usable module for this exercise (``""`` when it had one).
    """
    codes = list(dict.fromkeys(r.diagnosis for r in failed))
    text = xml_chars("\n".join(f"{p.named} ({p.checks}; {p.cases}): {p.message}" for p in problems(failed)))
    if unusable:
        ET.SubElement(case, "error", message=xml_chars(unusable[:500]), type="unusable").text = text
        return
    trouble = [c for c in codes if c in TROUBLE_CODES]
    kind = "error" if trouble else "failure"
    ET.SubElement(case, kind, message=xml_chars(", ".join(codes)), type=(trouble or codes)[0]).text = text


def _suite(name: str, score: float, max_score: float) -> ET.Element:
    suite = ET.Element("testsuite", name=xml_chars(name))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="score", value=points(score))
    ET.SubElement(properties, "property", name="max_score", value=points(max_score))
    return suite


def _count(suite: ET.Element) -> ET.Element:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", "0")
    suite.set("time", "0")
    return suite


class Writer(Sink):
    """Streams the suites to a temporary file, then puts the totals on ``testsuites`` and renames it into place."""

    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "junit.xml"
        self._totals = {"tests": 0, "failures": 0, "errors": 0}
        self._tmp = ""
        self._body: TextIO | None = None

    def add(self, record: StudentRecord) -> None:
        body = self._open()
        for suite in suites(record):
            for key in self._totals:
                self._totals[key] += int(suite.get(key, "0"))
            ET.indent(suite, space="  ", level=1)
            body.write("  " + ET.tostring(suite, encoding="unicode") + "\n")

    def _open(self) -> TextIO:
        if self._body is None:
            fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".junit.", suffix=".tmp")
            self._body = os.fdopen(fd, "w", encoding="utf-8")
        return self._body

    def finish(self) -> Path:
        self._open().close()
        opening = " ".join(f'{k}="{v}"' for k, v in self._totals.items())
        with open(self._tmp, encoding="utf-8") as body, open(self._tmp + ".x", "w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="utf-8"?>\n')
            out.write(f'<testsuites name="{xml("grade batch")}" {opening} time="0">\n')
            while chunk := body.read(1 << 20):
                out.write(chunk)
            out.write("</testsuites>\n")
        os.replace(self._tmp + ".x", self.path)
        return self.path

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
        if self._tmp:
            Path(self._tmp).unlink(missing_ok=True)
            Path(self._tmp + ".x").unlink(missing_ok=True)


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
