"""Kibana dashboards as code: YAML sources -> saved-objects NDJSON -> Kibana import.

    dashboards/source/*.yaml  (readable source, reviewed like code)
        -> dashboards.build   (Lens objects; every field checked against our mappings)
        -> dashboards/*.ndjson (committed)
        -> dashboards.importer (data views API + saved-objects import API)

Exceptions (see `dashboards.errors`):

    DashboardError
     ├── SourceError
     ├── KibanaUnavailable
     └── ImportFailed
"""

from __future__ import annotations

from dashboards.errors import DashboardError, ImportFailed, KibanaUnavailable, SourceError

__all__ = ["DashboardError", "ImportFailed", "KibanaUnavailable", "SourceError"]
