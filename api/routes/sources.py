"""Crawl sources: health per configured source (last run, failures, freshness, alerts)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, Reader
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError
from crawlers.errors import SourceConfigError
from crawlers.health import SourceHealth, source_health
from crawlers.sources import load_sources

router = APIRouter(prefix="/api/v1/sources", tags=["sources"], responses=AUTH_RESPONSES)


class SourceList(BaseModel):
    items: list[SourceHealth]


@router.get("", response_model=SourceList, summary="Health of every crawl source")
def list_sources(_: Reader, store: StoreDep, settings: SettingsDep) -> SourceList:
    """One entry per source of the sources file: state (ok, failing, stale,
    credentials_expired, never_run, disabled), the last run's stats, consecutive failures,
    age of the newest post, and open coverage-gap / credentials alerts."""
    try:
        sources = load_sources(settings.sources_file)
    except SourceConfigError as exc:
        raise ApiError(503, "sources_invalid", str(exc)) from None
    return SourceList(items=source_health(store, sources, now=datetime.now(UTC)))
