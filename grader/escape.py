"""Making untrusted text (a student's printed output, exception messages) safe to display.

Terminal: control characters, including ANSI escape sequences that could move the cursor, rewrite lines
or set the window title, are shown as visible escapes. Other writers add their own quoting on top.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Replace control and bidi-override characters with ``\\xNN``/``\\uNNNN`` escapes; keep tabs and newlines."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
