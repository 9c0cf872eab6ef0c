"""Files of second (and third) readings of a hand-labelled set (nlp.readings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nlp.errors import DatasetError
from nlp.readings import read_readings

LABELS = ("yes", "no")


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "readings.tsv"
    path.write_text("# a comment\nkey\tsecond\tthird\n" + body, encoding="utf-8")
    return path


def test_listed_labels_come_back_by_position_and_empty_cells_stay_out(tmp_path: Path) -> None:
    path = _write(tmp_path, "c\tno\t\na\tyes\tno\n")
    got = read_readings(path, ["a", "b", "c"], LABELS, ("second", "third"))
    assert got == {"second": {2: "no", 0: "yes"}, "third": {0: "no"}}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("d\tyes\t\n", "readings.tsv:2: 'd' is not a labelled post"),
        ("a\tmaybe\t\n", "readings.tsv:2: bad second label 'maybe'"),
        ("a\t\tyes\n", "readings.tsv:2: bad second label ''"),  # the first reader is required
        ("a\tyes\tperhaps\n", "readings.tsv:2: bad third label 'perhaps'"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(named)):
        read_readings(_write(tmp_path, body), ["a", "b"], LABELS, ("second", "third"))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"readings\.tsv: file of second readings not found"):
        read_readings(tmp_path / "readings.tsv", ["a"], LABELS, ("second",))
