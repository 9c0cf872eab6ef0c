"""Named exceptions of the crawlers package (the tree is drawn in `crawlers/__init__.py`)."""

from __future__ import annotations


class CrawlerError(Exception):
    """Base of all crawler errors that are the operator's to fix."""


class SourceConfigError(CrawlerError):
    """The sources file is unreadable or invalid; the message names file, source and field."""

    def __init__(
        self, path: str, message: str, *, source: str | None = None, field: str | None = None
    ):
        where = [path]
        if source:
            where.append(f"source '{source}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(", ".join(where) + ": " + message)
        self.path = path
        self.source = source
        self.field = field


class UnknownSource(CrawlerError):
    def __init__(self, name: str, known: list[str]) -> None:
        shown = ", ".join(known[:20]) or "none"
        super().__init__(f"no source named '{name}' in the sources file (known: {shown})")
        self.name = name


class CredentialsError(CrawlerError):
    """Crawler credentials are unreadable, or a source names an entry that does not exist.

    The message never contains a credential value."""
