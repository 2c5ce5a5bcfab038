"""``--roster CSV``: the LMS ids of each student, which a download's folder and file names rarely carry.

Columns are matched by name, case and spacing ignored:

=============  =====================================================================
``student``    the student's id: the entry name exactly (``zoë_müller``), or the username the layout found
``name``       display name, e.g. ``Doe, Jane`` (Canvas's ``Student`` column)
``email``      email address
``username``   LMS login (aliases ``login``, ``sis_login_id``)
``sis_id``     institution id (aliases ``sis_user_id``, ``id_number``)
``lms_id``     the LMS's user id (aliases ``canvas_id``, ``user_id``; Canvas's ``ID``)
``section``    section
``lti_id``     LTI 1.3 ``userId`` (alias ``lti_user_id``)
``github``     GitHub username (alias ``github_username``)
=============  =====================================================================

A Canvas gradebook export works as a roster as it is: its ``Student`` column is the name and ``ID`` the
user id, which the file names of a Canvas download carry, so the two are matched. A roster row matches a
student when any of its ids (student, lms_id, sis_id, email, username, github) equals the same kind of id of
the student, or the student's id (``zoë_müller``, exactly as the download names them) or file key
(``zoe_muller-5b0c8e``); failing those, a ``name`` that only one row has and that equals the student's id.
Text is compared in Unicode NFC, exactly first and then ignoring case (``JOSÉ`` is ``José``), but accents
always count (``Josè`` is not ``José``). The roster is applied when the outputs are written, not stored in
the reports, so fixing the roster never re-grades anyone.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from grader.batch.naming import folded, nfc
from grader.batch.record import Identity
from grader.errors import UsageError

_ALIASES = {
    "student": "student", "name": "name", "full_name": "name", "email": "email", "e_mail": "email", "email_address": "email",
    "username": "username", "login": "username", "sis_login_id": "username", "sis_id": "sis_id",
    "sis_user_id": "sis_id", "id_number": "sis_id", "idnumber": "sis_id", "lms_id": "lms_id", "canvas_id": "lms_id",
    "user_id": "lms_id", "section": "section", "lti_id": "lti_id", "lti_user_id": "lti_id", "github": "github",
    "github_username": "github",
}
_CANVAS_EXPORT = {"student": "name", "id": "lms_id"}
MATCHED_BY = ("lms_id", "sis_id", "email", "username", "github", "student")


@dataclass(frozen=True)
class Roster:
    """Roster rows as field dictionaries, indexed by every id they carry."""

    rows: tuple[dict[str, str], ...]

    @cached_property
    def _exact(self) -> dict[tuple[str, str], int]:
        """(kind, NFC value) to the first row that has it."""
        return self._indexed(nfc)

    @cached_property
    def _folded(self) -> dict[tuple[str, str], int]:
        """(kind, case-folded value) to the first row that has it."""
        return self._indexed(folded)

    @cached_property
    def _names(self) -> dict[str, int]:
        """Case-folded names that only one row has, to that row (a name two students share matches neither)."""
        seen: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            if row.get("name"):
                seen.setdefault(folded(row["name"]), []).append(i)
        return {name: rows[0] for name, rows in seen.items() if len(rows) == 1}

    def _indexed(self, normal: Callable[[str], str]) -> dict[tuple[str, str], int]:
        index: dict[tuple[str, str], int] = {}
        for i, row in enumerate(self.rows):
            for kind in MATCHED_BY:
                if row.get(kind):
                    index.setdefault((kind, normal(row[kind])), i)
        return index

    def _find(self, kind: str, value: str) -> int | None:
        """The row whose ``kind`` is ``value``: exactly (NFC), else ignoring case."""
        if not value:
            return None
        found = self._exact.get((kind, nfc(value)))
        return found if found is not None else self._folded.get((kind, folded(value)))

    def match(self, identity: Identity) -> int | None:
        """The index of the roster row for ``identity``, or ``None``."""
        known = identity.known() | {"student": identity.student_id}
        tries = [(kind, known.get(kind, "")) for kind in MATCHED_BY]
        tries += [(kind, value) for value in dict.fromkeys((identity.student_id, identity.student)) for kind in MATCHED_BY]
        found = next((i for kind, value in tries if (i := self._find(kind, value)) is not None), None)
        return found if found is not None else self._names.get(folded(identity.student_id))

    def identify(self, identity: Identity) -> Identity:
        """``identity`` with the fields of its roster row filled in (the roster wins; the key stays)."""
        found = self.match(identity)
        return identity if found is None else identity.updated(self.rows[found])

    def unmatched(self, identities: list[Identity]) -> list[dict[str, str]]:
        """Roster rows that match no student: enrolled students with no submission."""
        used = {self.match(i) for i in identities}
        return [row for i, row in enumerate(self.rows) if i not in used]


def load_roster(path: Path) -> Roster:
    """Read the roster CSV; a file without any known column is a usage error naming the file (exit 2)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"roster {path} cannot be read: {exc}") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, [])
    canvas = any(_normal(h) == "sis_user_id" for h in header)
    columns = [(_CANVAS_EXPORT.get(_normal(h)) if canvas else None) or _ALIASES.get(_normal(h), "") for h in header]
    if not any(columns):
        raise UsageError(f"roster {path}: no known column in the header; expected some of "
                         + ", ".join(sorted(set(_ALIASES.values()))))
    rows = []
    for line in reader:
        if not line or line[0].strip().startswith("Points Possible"):
            continue
        row = {col: nfc(value.strip()) for col, value in zip(columns, line, strict=False) if col and value.strip()}
        if row:
            rows.append(row)
    return Roster(tuple(rows))


def _normal(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
