"""Making untrusted text (a student's printed output, exception messages) safe in every output format.

Students control their output and their exception messages, so a student printing ``::notice::Points 10/10``,
a ``</table>``, a Markdown link or an ANSI escape must show up as that text and do nothing. Each writer
passes untrusted text through the function for its format.
"""

from __future__ import annotations

import html as _html
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_XML_INVALID = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def printable(text: str) -> str:
    """Replace control and bidi-override characters with ``\\xNN``/``\\uNNNN`` escapes; keep tabs and newlines."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def markdown_inline(text: str) -> str:
    """Text that renders literally inside a Markdown paragraph or table cell (one line)."""
    flat = printable(text).replace("\r", " ").replace("\n", " ")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def markdown_block(text: str) -> str:
    """A fenced code block that no backtick run inside ``text`` can close early."""
    body = printable(text)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def html(text: str) -> str:
    """HTML-escaped text (also safe inside attribute values)."""
    return _html.escape(printable(text), quote=True)


def xml(text: str) -> str:
    """Text legal in XML 1.0 (control characters removed) and escaped for element or attribute content."""
    return _html.escape(_XML_INVALID.sub("", text), quote=True)


def xml_chars(text: str) -> str:
    """Text legal in XML 1.0, for writers (like ElementTree) that escape markup themselves."""
    return _XML_INVALID.sub("", text)


def annotation(text: str) -> str:
    """A GitHub Actions workflow-command value: ``%``, CR and LF escaped, so no line can start a command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation_property(text: str) -> str:
    """A workflow-command property (``file=``, ``title=``): also ``:`` and ``,`` escaped, which end a property."""
    return annotation(text).replace(":", "%3A").replace(",", "%2C")


def log_line(text: str) -> str:
    """Text for a CI log: every line that would start a workflow command (``::``) is defused."""
    return "\n".join((" " + line) if line.lstrip().startswith("::") else line for line in printable(text).split("\n"))
