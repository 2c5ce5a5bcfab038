"""Typed access to parsed YAML that reports problems by file and dotted key.

Every spec problem becomes a :class:`grader.errors.SpecError` such as
``exercises/ex04_linear/exercise.yaml: targets[1].cases[0].shapes.x: expected a list of positive ints``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml

from grader.errors import SpecError

T = TypeVar("T")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a mapping"}


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing or unparsable file is a :class:`SpecError` naming it."""
    if not path.is_file():
        raise SpecError(path, "", "file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(path, "", f"not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(path, "", f"invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


class Node:
    """A YAML mapping plus where it came from, with validated getters."""

    def __init__(self, data: Any, path: Path, key: str = "") -> None:
        if not isinstance(data, dict):
            raise SpecError(path, key or "(top level)", f"expected a mapping, got {_describe(data)}")
        self.data: dict[str, Any] = data
        self.path = path
        self.key = key

    def where(self, name: str) -> str:
        if not name:
            return self.key
        return f"{self.key}.{name}" if self.key else name

    def fail(self, name: str, problem: str) -> SpecError:
        return SpecError(self.path, self.where(name), problem)

    def has(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def get(self, name: str, kind: type[T], default: T | None = None) -> T:
        """The value under ``name``, which must be of ``kind``; ``default`` when absent (if given)."""
        if not self.has(name):
            if default is not None:
                return default
            raise self.fail(name, f"missing; expected {_TYPE_NAMES.get(kind, kind.__name__)}")
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise self.fail(name, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {_describe(value)}")
        return value

    def positive(self, name: str, kind: type[T], default: T) -> T:
        value = self.get(name, kind, default)
        if not value > 0:  # type: ignore[operator]
            raise self.fail(name, f"expected a positive number, got {value!r}")
        return value

    def child(self, name: str, default_empty: bool = True) -> Node:
        if not self.has(name) and default_empty:
            return Node({}, self.path, self.where(name))
        return Node(self.data.get(name), self.path, self.where(name))

    def children(self, name: str) -> list[Node]:
        items = self.get(name, list)
        return [Node(item, self.path, f"{self.where(name)}[{i}]") for i, item in enumerate(items)]

    def only(self, allowed: set[str]) -> None:
        """Reject unknown keys, so that a typo such as ``shape:`` for ``shapes:`` is not silently ignored."""
        for name in self.data:
            if name not in allowed:
                raise self.fail(str(name), f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]
