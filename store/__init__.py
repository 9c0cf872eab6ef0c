"""Shared package: settings, record types and the storage layer (SQLite or Elasticsearch)."""

from __future__ import annotations

from store.base import Store
from store.settings import Settings
from store.spool import Spool


def open_store(settings: Settings) -> Store:
    """The configured store: Elasticsearch when `TINGFENG_ES_URL` is set, else embedded SQLite.

    Connects lazily; call `init()` once at start-up (it is idempotent)."""
    spool = Spool(settings.spool_dir)
    if settings.es_url:
        from store.es import ElasticsearchStore

        return ElasticsearchStore.from_settings(settings, spool=spool)
    from store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, spool=spool)


__all__ = ["Settings", "Store", "open_store"]
