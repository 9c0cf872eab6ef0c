"""Crawl jobs of `tingfeng run`: every enabled source on its own schedule, each crawl in its
own subprocess (`python -m crawlers.run NAME`), at most one at a time per source, missed runs
coalesced into one, random jitter per run and staggered first runs across sources."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawlers.run import run_subprocess
from crawlers.sources import SourceBase, load_sources
from store.settings import Settings

log = logging.getLogger(__name__)
STAGGER_S = 20.0
MAX_CONCURRENT_CRAWLS = 4


def trigger_for(source: SourceBase, settings: Settings, *, start: datetime) -> Any:
    schedule = source.schedule
    jitter = int(schedule.jitter) or None
    if schedule.every is not None:
        return IntervalTrigger(
            seconds=schedule.every, start_date=start, timezone=settings.tz, jitter=jitter
        )
    assert schedule.cron is not None
    minute, hour, day, month, day_of_week = schedule.cron.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=day_of_week,
        timezone=settings.tz,
        jitter=jitter,
    )


def crawl_source(name: str, settings: Settings, every: float | None = None) -> int:
    """One scheduled crawl: a subprocess, stopped after `crawl_timeout_s`. With Kafka on, a
    crawl request for a worker instead (`crawlers.worker`)."""
    if settings.kafka_bootstrap:
        from crawlers.worker import request_crawl

        request_crawl(settings, name, every=every)
        return 0
    code = run_subprocess([name], settings)
    if code != 0:
        log.warning("crawl of %s ended with status %d (see its run stats)", name, code)
    return code


def add_crawl_jobs(scheduler: Any, settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Add a job per enabled source; returns the job ids. Sources-file errors propagate."""
    from apscheduler.executors.pool import ThreadPoolExecutor

    sources = load_sources(settings.sources_file).enabled()
    now = now or datetime.now(settings.tz)
    # crawls wait on subprocesses: their own pool, so they never starve triage or replay
    scheduler.add_executor(ThreadPoolExecutor(MAX_CONCURRENT_CRAWLS), alias="crawls")
    ids = []
    for index, source in enumerate(sources):
        start = now + timedelta(seconds=5 + index * STAGGER_S)
        job_id = f"crawl:{source.name}"
        scheduler.add_job(
            crawl_source,
            trigger_for(source, settings, start=start),
            id=job_id,
            name=f"crawl {source.name}",
            args=[source.name, settings],
            kwargs={"every": source.schedule.every},
            executor="crawls",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(source.schedule.every or 600),
            replace_existing=True,
        )
        ids.append(job_id)
    log.info("scheduled %d crawl jobs", len(ids))
    return ids
