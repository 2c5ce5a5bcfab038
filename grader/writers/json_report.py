"""The CONTRACT section 4 JSON report: one exercise's report, or the combined report for ``all``."""

from __future__ import annotations

import json
from typing import IO, Any

from grader.results import Report, combined_dict


def as_data(reports: list[Report], combined: bool) -> dict[str, Any]:
    return combined_dict(reports) if combined else reports[0].to_dict()


def write(reports: list[Report], destination: IO[str], combined: bool = False) -> None:
    json.dump(as_data(reports, combined), destination, indent=2, allow_nan=False)
    destination.write("\n")
