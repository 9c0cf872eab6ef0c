"""Parameter types routes share, so that what the schema says is what the API accepts.

`IsoDatetime`: an RFC 3339 date-time with its offset (`2026-03-01T08:00:00+08:00`, or `Z`),
and nothing else: pydantic on its own would also take a number as Unix seconds and a time
without an offset (read in an unknown zone), neither of which the schema's `date-time` allows.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):  # from Python callers
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time with a timezone offset, "
            "e.g. 2026-03-01T08:00:00+08:00 or 2026-03-01T00:00:00Z"
        )
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_rfc3339)]


# Control characters other than tab and newline are refused in free text; the patterns say
# so in the schema, and the value is stored stripped.
_NO_CONTROL = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
NON_BLANK = r"^[^\x00-\x08\x0b-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x08\x0b-\x1f\x7f]*$"
_ONE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def _strip(value: str) -> str:
    return value.strip()


FreeText = Annotated[str, StringConstraints(pattern=_NO_CONTROL), AfterValidator(_strip)]
"""Optional free text: no control characters (tab and newline allowed)."""
Text = Annotated[str, StringConstraints(pattern=NON_BLANK), AfterValidator(_strip)]
"""Required free text: as FreeText, and not only whitespace."""
Line = Annotated[str, StringConstraints(pattern=_ONE_LINE), AfterValidator(_strip)]
"""One line of text, not only whitespace (titles)."""
