"""Parameter types routes share, so that what the schema says is what the API accepts.

`IsoDatetime`: an RFC 3339 date-time with its offset (`2026-03-01T08:00:00+08:00`, or `Z`),
and nothing else: pydantic on its own would also take a number as Unix seconds and a time
without an offset (read in an unknown zone), neither of which the schema's `date-time` allows.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

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
