"""`tingfeng run` wiring: one job per enabled source, run as a subprocess with the service's
settings in its environment."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawlers.run import settings_env, subprocess_command
from crawlers.schedule import add_crawl_jobs, crawl_source
from store import Settings
from tests.conftest import make_settings


def write_sources(path: Path) -> Path:
    doc = {
        "sources": [
            {
                "name": "a",
                "type": "feed",
                "platform": "gov",
                "urls": ["http://127.0.0.1:1/a"],
                "schedule": {"every": "5m", "jitter": "30s"},
            },
            {
                "name": "b",
                "type": "feed",
                "platform": "gov",
                "urls": ["http://127.0.0.1:1/b"],
                "schedule": {"cron": "*/10 * * * *"},
            },
            {
                "name": "off",
                "type": "feed",
                "platform": "gov",
                "urls": ["http://127.0.0.1:1/c"],
                "enabled": False,
            },
        ]
    }
    path.write_text(yaml.safe_dump(doc), "utf-8")
    return path


def test_one_job_per_enabled_source(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sources_file=write_sources(tmp_path / "s.yaml"))
    scheduler = BackgroundScheduler(timezone=settings.timezone)
    now = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert add_crawl_jobs(scheduler, settings, now=now) == ["crawl:a", "crawl:b"]
    a, b = scheduler.get_job("crawl:a"), scheduler.get_job("crawl:b")
    for job in (a, b):
        assert job.func is crawl_source and job.max_instances == 1 and job.coalesce
        assert job.executor == "crawls"
    assert isinstance(a.trigger, IntervalTrigger) and a.trigger.interval.total_seconds() == 300
    assert a.trigger.jitter == 30
    assert isinstance(b.trigger, CronTrigger)
    assert b.trigger.start_date is None or b.trigger.start_date >= now
    assert tuple(a.args) == ("a", settings)
    assert (b.trigger.jitter or 0) == 30  # the default jitter
    assert a.trigger.start_date < datetime(2024, 5, 1, 8, 1, tzinfo=UTC)  # staggered, soon


def test_the_service_schedules_crawls(tmp_path: Path) -> None:
    from cli.service import build_scheduler
    from store.sqlite import SqliteStore

    settings = make_settings(tmp_path, sources_file=write_sources(tmp_path / "s.yaml"))
    store = SqliteStore(settings.sqlite_path)
    store.init()
    try:
        jobs = {job.id for job in build_scheduler(settings, store).get_jobs()}
    finally:
        store.close()
    assert {"crawl:a", "crawl:b"} <= jobs and "crawl:off" not in jobs


def test_subprocess_settings_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(
        tmp_path,
        crawler_credentials='{"w": {"cookies": {"SUB": "x"}}}',
        es_url="http://127.0.0.1:9",
    )
    base = {"TINGFENG_KIBANA_URL": "http://stale", "PATH": "/bin"}
    env = settings_env(settings, base=base)
    assert "TINGFENG_KIBANA_URL" not in env  # unset here: a stale value is not inherited
    assert env["PATH"] == "/bin"
    for key in list(os.environ):
        if key.startswith("TINGFENG_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("TINGFENG_"):
            monkeypatch.setenv(key, value)
    child = Settings(_env_file=None)  # type: ignore[call-arg]
    assert child.model_dump(mode="json") == settings.model_dump(mode="json")
    assert child.crawler_credentials is not None
    assert child.crawler_credentials.get_secret_value() == '{"w": {"cookies": {"SUB": "x"}}}'
    assert subprocess_command(["a", "b"], {"fixture": "http://h"})[-4:] == [
        "a",
        "b",
        "--var",
        "fixture=http://h",
    ]


def test_source_politeness_becomes_scrapy_settings(tmp_path: Path) -> None:
    from scrapy.settings import Settings as ScrapySettings

    from crawlers.context import CrawlContext, Runtime
    from crawlers.run import scrapy_settings
    from crawlers.sources import parse_sources
    from crawlers.spiders.base import apply_source_settings
    from store.sqlite import SqliteStore

    settings = make_settings(tmp_path)
    sources = parse_sources(
        {
            "sources": [
                {
                    "name": "slow",
                    "type": "feed",
                    "platform": "gov",
                    "urls": ["http://127.0.0.1:1/"],
                    "politeness": {
                        "delay": "6s",
                        "concurrency": 1,
                        "max_bytes": "2MB",
                        "retries": 4,
                    },
                }
            ]
        }
    )
    store = SqliteStore(settings.sqlite_path)
    store.init()
    ctx = CrawlContext.open(Runtime(settings, store, sources), "slow")
    target: ScrapySettings = scrapy_settings()
    apply_source_settings(target, ctx)
    store.close()
    assert target.getfloat("DOWNLOAD_DELAY") == 6.0
    assert target.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 1
    assert target.getint("DOWNLOAD_MAXSIZE") == 2 * 1024 * 1024
    assert target.getint("RETRY_TIMES") == 4
    assert target.getbool("ROBOTSTXT_OBEY") and target.getbool("AUTOTHROTTLE_ENABLED")
    assert settings.crawler_contact in target["USER_AGENT"]
    assert target.getint("REDIRECT_MAX_TIMES") == 5
    overridden = scrapy_settings({"DOWNLOAD_DELAY": 0})
    apply_source_settings(overridden, ctx)
    assert overridden.getfloat("DOWNLOAD_DELAY") == 0  # an explicit override wins (benchmarks)
