"""`tingfeng run`: one scheduler process (APScheduler 3.x job stores cannot be shared) plus
the API in the same process. Crawls run as subprocesses (the Twisted reactor cannot restart)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from store import Settings, Store

log = logging.getLogger(__name__)


def build_scheduler(settings: Settings, store: Store) -> BackgroundScheduler:
    """Every periodic job of the service, in one place."""
    scheduler = BackgroundScheduler(
        timezone=settings.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(store.replay_spool, "interval", seconds=30, id="spool-replay")
    scheduler.add_job(_retention, "cron", hour=3, minute=17, id="retention", args=[settings, store])
    from nlp.enrich import EnrichJob  # classifiers + keywords on posts lacking the version

    enrich_job = EnrichJob.from_settings(settings, store)
    summary = ServiceSummary(store, enrich_job)
    scheduler.add_job(summary.track(enrich_job), "interval",
                      seconds=settings.enrich_interval_seconds, id="enrich")  # fmt: skip
    from triage.job import TriageJob  # near-real-time: incidents within seconds of a topic

    scheduler.add_job(
        TriageJob.from_settings(settings, store),
        "interval",
        seconds=settings.triage_interval_seconds,
        id="triage",
        misfire_grace_time=None,
    )
    from triage.replies.effect_job import EffectJob  # reply effect: close / re-escalate

    scheduler.add_job(
        EffectJob.from_settings(settings, store),
        "interval",
        seconds=settings.effect_interval_seconds,
        id="reply-effect",
    )
    from crawlers.schedule import add_crawl_jobs  # every enabled source, as subprocesses

    add_crawl_jobs(scheduler, settings)
    from digest.jobs import add_digest_jobs  # daily and weekly supervisors' digests

    add_digest_jobs(scheduler, settings, store)
    from nlp.bursts import add_burst_job  # hot topics: bursts with their reasons

    add_burst_job(scheduler, store)
    if settings.log_summary_minutes:
        scheduler.add_job(summary, "interval", minutes=settings.log_summary_minutes, id="summary")
    return scheduler


class ServiceSummary:
    """The service's periodic one-line summary: posts stored (and new since the last line),
    open incidents (and opened since), lag (posts waiting for enrichment, spooled batches
    waiting for the store) and warnings/errors logged since the last line."""

    def __init__(self, store: Store, enrich_job: object | None = None) -> None:
        from cli.logs import ErrorCounter

        self.store = store
        self.errors = ErrorCounter()
        logging.getLogger().addHandler(self.errors)
        self._version: str | None = None
        self._last: tuple[int, int] | None = None

    def track(self, job: Callable[[], Any]) -> Callable[[], Any]:
        """Wrap the enrichment job to learn its pipeline version (for the backlog count)."""

        def run() -> Any:
            result = job()
            self._version = getattr(result, "version", self._version)
            return result

        return run

    def line(self) -> str:
        from store.base import PostQuery
        from triage.workflow import OPEN_STATES

        status = self.store.status()
        posts = status.counts.get("posts", 0)
        incidents = self.store.count("incidents")
        open_ = self.store.count("incidents", where={"state": [s.value for s in OPEN_STATES]})
        new_posts, new_incidents = (
            (posts - self._last[0], incidents - self._last[1]) if self._last else (0, 0)
        )
        self._last = (posts, incidents)
        if self._version is None:
            backlog = "?"
        else:
            query = PostQuery(exclude_terms={"nlp.version": [self._version]})
            backlog = str(self.store.count_posts(query))
        warnings, errors = self.errors.take()
        return (
            f"summary: posts {posts} (+{new_posts}), incidents open {open_} "
            f"(+{new_incidents} opened), lag: {backlog} posts to enrich, "
            f"{status.spool_depth} spooled batches; {warnings} warnings, {errors} errors"
        )

    def __call__(self) -> None:
        log.info("%s", self.line())


def _retention(settings: Settings, store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    cutoff = datetime.now(UTC) - timedelta(days=settings.retention_days)
    log.info("retention: deleted %d posts before %s", store.delete_posts_before(cutoff), cutoff)


def run_service(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from api.app import create_app
    from store import open_store

    store = open_store(settings)
    store.init()
    scheduler = build_scheduler(settings, store)
    scheduler.start()
    log.info("scheduler started with %d jobs", len(scheduler.get_jobs()))
    import gc

    gc.freeze()  # import-time objects leave the collector's view: no 80 ms full collections
    try:
        uvicorn.run(
            create_app(settings, store=store),
            host=host or settings.api_host,
            port=port or settings.api_port,
        )
    finally:
        scheduler.shutdown(wait=False)
        store.close()
