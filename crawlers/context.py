"""The objects a crawl shares: `Runtime` (per process) and `CrawlContext` (per spider).

`Runtime` holds the Tingfeng settings, the open store and the validated sources; the runner
(`crawlers.run`) builds one per process and hands it to each spider as an argument, and
`scrapy crawl` builds one from the environment. `CrawlContext` is one source's view: its
config, credentials, checkpoint state and run stats.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from crawlers.credentials import Credential, credential_for
from crawlers.dedup import RecentOriginals
from crawlers.health import RunStats
from crawlers.hosts import host_matches, parse_internal_hosts
from crawlers.sources import SourceBase, SourceSet, load_sources
from store import Settings, Store, open_store
from store.errors import StoreUnavailable
from store.records import Checkpoint, SourceRun

log = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"


@dataclass
class Runtime:
    settings: Settings
    store: Store
    sources: SourceSet
    owns_store: bool = False
    recent: RecentOriginals = field(default_factory=RecentOriginals)

    @classmethod
    def open(cls, settings: Settings, variables: dict[str, str] | None = None) -> Runtime:
        sources = load_sources(settings.sources_file, variables)
        store = open_store(settings)
        store.init()
        return cls(settings, store, sources, owns_store=True)

    def close(self) -> None:
        if self.owns_store:
            self.store.close()
            self.owns_store = False


def user_agent(contact: str) -> str:
    return f"Mozilla/5.0 (compatible; Tingfeng/0.1; {contact})"


@dataclass
class CrawlContext:
    source: SourceBase
    runtime: Runtime
    stats: RunStats
    credential: Credential | None
    checkpoint: Checkpoint | None
    state: dict[str, Any] = field(default_factory=dict)
    run: SourceRun | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    credential_hosts: tuple[str, ...] = ()
    internal_hosts: frozenset[str] = frozenset()

    @classmethod
    def open(cls, runtime: Runtime, name: str) -> CrawlContext:
        source = runtime.sources.get(name)
        credential = credential_for(runtime.settings, source.credentials)
        checkpoint = runtime.store.get(CHECKPOINTS, name, Checkpoint)
        state: dict[str, Any] = {}
        if checkpoint and checkpoint.cursor:
            try:
                state = json.loads(checkpoint.cursor)
            except json.JSONDecodeError:
                log.warning("source %s: unreadable checkpoint cursor; starting fresh", name)
        if not isinstance(state, dict):
            state = {}
        stats = RunStats(source=name, started_at=datetime.now(UTC))
        return cls(
            source,
            runtime,
            stats,
            credential,
            checkpoint,
            state,
            allowed_hosts=source.allowed_hosts(),
            # a credential naming no hosts goes only to the source's own entry hosts
            credential_hosts=(credential.hosts or tuple(source.domains())) if credential else (),
            internal_hosts=parse_internal_hosts(runtime.settings.crawler_internal_hosts),
        )

    def may_carry_credential(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return self.credential is not None and host_matches(host, self.credential_hosts)

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def known_ids(self, ids: list[str]) -> set[str]:
        """Ids among `ids` that are already stored."""
        if not ids:
            return set()
        try:
            return {p.id for p in self.store.get_posts(ids)}
        except StoreUnavailable as exc:  # crawl on; the pipeline spools and dedups later
            log.warning(
                "source %s: store unavailable (%s); treating posts as new", self.source.name, exc
            )
            return set()
