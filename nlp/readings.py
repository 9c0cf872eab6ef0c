"""Second (and third) readings of a hand-labelled set: TSV files (`key` + one column per
reader, `#` lines are comments) listing the labels other annotators gave, by post key, where
they are needed (e.g. only where a reader differs from the labels of record)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from nlp.errors import DatasetError


def read_readings(
    path: Path, keys: Sequence[str], labels: Sequence[str], columns: Sequence[str]
) -> dict[str, dict[int, str]]:
    """For each reader column, the labels listed in `path`, by position in `keys`; an empty
    cell is a post that reader did not label, but every listed post needs the first column.
    Errors name the file and line."""
    if not path.is_file():
        raise DatasetError(f"{path}: file of second readings not found")
    index = {k: i for i, k in enumerate(keys)}
    out: dict[str, dict[int, str]] = {c: {} for c in columns}
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        for n, row in enumerate(reader, 2):
            key = row.get("key") or ""
            if key not in index:
                raise DatasetError(f"{path}:{n}: {key!r} is not a labelled post")
            for column in columns:
                value = row.get(column) or ""
                if (value or column == columns[0]) and value not in labels:
                    raise DatasetError(f"{path}:{n}: bad {column} label {value!r}")
                if value:
                    out[column][index[key]] = value
    return out
