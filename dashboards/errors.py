"""Exceptions of the dashboards package.

DashboardError
 ├── SourceError        a dashboard source file (YAML) is invalid: names file, item, field
 ├── KibanaUnavailable  Kibana did not become ready (connection refused, 503) in time
 └── ImportFailed       Kibana answered, but refused a data view or saved object
"""

from __future__ import annotations


class DashboardError(Exception):
    """Base of every error the dashboards package raises."""


class SourceError(DashboardError):
    """A dashboard source file is invalid."""


class KibanaUnavailable(DashboardError):
    """Kibana could not be reached or stayed 'not ready' until the deadline."""


class ImportFailed(DashboardError):
    """Kibana refused at least one object; `failures` lists (type, id, reason)."""

    def __init__(self, message: str, failures: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []
