"""A student's real id and the file-name key derived from it.

A download names a student ``zoë_müller``, ``José`` or ``Josè``. That name, NFC-normalised (so a macOS
folder name, which comes back decomposed, is the same id as the one typed in a roster), is the student's
id: the gradebook, the LMS files and roster matching use it as it is. Files need something else, the same
on every file system: ASCII, no separators, no leading dot, short, and distinct even where case is ignored.
The key is the id itself when the id is already such a name (``alice``, ``mary-jane``); otherwise an ASCII
slug of it plus a short hash of the id (``zoe_muller-5b0c8e``), so two ids that slug alike get distinct
keys, and a key never depends on who else is in the class (the resume state is keyed by file name).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_KEY = 100
HASH_CHARS = 6
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._@+-]+")


def nfc(text: str) -> str:
    """``text`` in Unicode normal form C (composed: ``e`` + combining acute is ``é``)."""
    return unicodedata.normalize("NFC", text)


def folded(text: str) -> str:
    """``text`` for a caseless comparison: NFC, case-folded, NFC again (``José`` and ``JOSÉ`` agree; ``Josè`` does not)."""
    return nfc(nfc(text).casefold())


def ascii_slug(text: str) -> str:
    """``text`` in ASCII letters, digits and ``._@+-``: accents dropped (``ë`` is ``e``), any other run one ``_``."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _UNSAFE_RUN.sub("_", plain).lstrip(".")[:MAX_KEY]


def short_hash(text: str) -> str:
    """A few hex digits of the SHA-256 of ``text`` (NFC), the same on every machine and in every run."""
    return hashlib.sha256(nfc(text).encode("utf-8")).hexdigest()[:HASH_CHARS]


def safe_key(name: str, hashed: bool = False) -> str:
    """The file-name key for the id ``name``: ``name`` itself when it is already safe, else its slug and hash.

    ``hashed`` adds the hash to a safe name too, for a key that another student already has.
    """
    text = nfc(name)
    slug = ascii_slug(text)
    if not slug.strip("_.-"):  # nothing of the name is left (``王芳``, ``..``)
        slug = ""
    if slug and slug == text and not hashed:
        return slug
    return f"{(slug or 'student')[:MAX_KEY - HASH_CHARS - 1]}-{short_hash(text)}"


def numbered(base: str, taken: set[str], fold: bool) -> str:
    """``base``, else ``base-2``, ``base-3`` ...: the first not in ``taken`` (compared case-folded when ``fold``),
    which is added to ``taken``."""
    candidate, n = base, 1
    while (candidate.lower() if fold else candidate) in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate.lower() if fold else candidate)
    return candidate


def distinct_id(name: str, taken: set[str]) -> str:
    """The NFC id for ``name``, with ``-2`` ... when an earlier entry has exactly that id (a folder and a zip
    of the same name), so every gradebook row is told apart."""
    return numbered(nfc(name), taken, fold=False)


def file_key(student_id: str, taken: set[str]) -> str:
    """A key for ``student_id`` that no key in ``taken`` equals, ignoring case; it is added to ``taken``.

    The first of two ids whose keys meet (``Alice`` and ``alice``) keeps its key; the next gets the hash of its
    id, and only an improbable clash of hashes falls back to ``-2``.
    """
    key = safe_key(student_id)
    if key.lower() in taken:
        key = safe_key(student_id, hashed=True)
    return numbered(key, taken, fold=True)


def order(name: str) -> tuple[bool, str, str]:
    """Sort order of entries before keys are given out: safe names first, then by name ignoring case."""
    text = nfc(name)
    return safe_key(text) != text, text.lower(), text
