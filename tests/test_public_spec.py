"""What students can read of a spec: every exercise.yaml without its misconception catalogues, nothing else cut."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from grader.authoring.public_spec import without_catalogues


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob("*/exercise.yaml")), ids=lambda p: p.parent.name)
def test_only_the_catalogues_are_cut(path: Path) -> None:
    text = path.read_text()
    cut = without_catalogues(text)
    full = yaml.safe_load(text)
    assert any("catalogue" in target for target in full["targets"])
    for target in full["targets"]:
        target.pop("catalogue", None)
    assert yaml.safe_load(cut) == full and "formula:" not in cut


def test_a_list_at_the_keys_own_indent_is_cut_too() -> None:
    text = "targets:\n  - name: A\n    catalogue:\n    - id: x\n      formula: g\n    points: {autograd: 1}\n"
    assert without_catalogues(text) == "targets:\n  - name: A\n    points: {autograd: 1}\n"


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob("*/exercise.yaml")), ids=lambda p: p.parent.name)
def test_the_hint_ladders_stay_in_what_students_read(path: Path) -> None:
    full = yaml.safe_load(path.read_text())
    cut = yaml.safe_load(without_catalogues(path.read_text()))
    assert [t.get("hints") for t in cut["targets"]] == [t.get("hints") for t in full["targets"]]


def test_hints_after_a_catalogue_are_kept() -> None:
    text = ("targets:\n  - name: A\n    catalogue:\n      - id: x\n        hint: h\n    hints:\n      - idea\n"
            "      - pieces\n")
    assert yaml.safe_load(without_catalogues(text)) == {"targets": [{"name": "A", "hints": ["idea", "pieces"]}]}
