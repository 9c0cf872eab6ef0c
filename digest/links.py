"""API URLs a person follows to check a number in a digest or report."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from digest.model import Kind, Period


class Links:
    """API URLs a person can follow to check a number."""

    def __init__(self, public_url: str) -> None:
        self.base = public_url.rstrip("/")

    def url(self, path: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def posts(self, period: Period, **filters: str) -> str:
        return self.url(
            "/api/v1/posts", since=period.start.isoformat(), until=period.end.isoformat(), **filters
        )

    def incidents(self, period: Period, **filters: str) -> str:
        return self.url(
            "/api/v1/incidents",
            since=period.start.isoformat(),
            until=period.end.isoformat(),
            **filters,
        )

    def incident(self, incident_id: str) -> str:
        return self.url(f"/api/v1/incidents/{incident_id}")

    def topic(self, topic_id: str) -> str:
        """The topic's posts (the API lists topics; a topic's posts are filtered by its id)."""
        return self.url("/api/v1/posts", topic_id=topic_id)

    def source(self, source: str) -> str:
        """Health of every source (the entry of `source` is in the list)."""
        return self.url("/api/v1/sources")

    def digest(self, kind: Kind, day: date) -> str:
        return self.url(f"/api/v1/digests/{day}", kind=None if kind == "daily" else kind)
