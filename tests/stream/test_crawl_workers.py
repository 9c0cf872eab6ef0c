"""Crawls through Kafka: the scheduler's job publishes crawl requests (twice for one due time,
as two scheduler instances would), two crawl workers in separate processes run them against
the local fixture site, and each source is crawled once per due time. The crawled posts go to
posts.raw (not the store), and an enrichment worker stores them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crawlers.fixtures.server import FixtureSite
from crawlers.health import RUNS
from crawlers.schedule import crawl_source
from crawlers.worker import CLAIMS, request_crawl
from store import Settings, Store
from store.base import PostQuery
from store.records import Checkpoint
from stream.kafka import group_id, lag, total_lag
from stream.messages import CrawlRequest, decode
from tests.crawlers.conftest import LOCAL_HOSTS
from tests.stream.conftest import Worker, wait_for
from tests.stream.test_dead_letters import enrich_thread, read_topic

SOURCES = ["demo-news", "demo-gov"]


def test_two_crawl_workers_each_source_once_per_due_time(
    ksettings: Settings, es_store: Store, workers: Callable[..., Worker]
) -> None:
    # the fixture site is on 127.0.0.1, which crawls refuse unless it is named internal
    crawl_settings = ksettings.model_copy(update={"crawler_internal_hosts": LOCAL_HOSTS})
    with FixtureSite() as site:
        crawlers = [
            workers(crawl_settings, "crawl", "--var", f"fixture={site.url}") for _ in range(2)
        ]
        first = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        for due in (first, first + timedelta(minutes=10)):
            for name in SOURCES:
                for _instance in range(2):  # two schedulers publish the same due time
                    request_crawl(ksettings, name, every=600, now=due + timedelta(seconds=7))
        wait_for(
            lambda: (
                total_lag(
                    ksettings, group_id(ksettings, "crawl"), ksettings.kafka_topic_crawl_requests
                )
                == 0
            ),
            300,
            "the crawl workers to run every request",
            crawlers,
        )
    claims = [
        c for c in es_store.find(CLAIMS, Checkpoint, size=100) if c.id.startswith("crawl-request:")
    ]
    assert sorted(c.source for c in claims) == sorted(SOURCES * 2)
    for name in SOURCES:
        assert es_store.count(RUNS, where={"source": name}) == 2, name
    assert es_store.count_posts(PostQuery()) == 0  # crawled posts went to the log
    raw = sum(
        p.end
        for p in lag(ksettings, group_id(ksettings, "enrich"), ksettings.kafka_topic_posts_raw)
    )
    assert raw > 0
    with enrich_thread(ksettings):
        wait_for(
            lambda: (
                total_lag(ksettings, group_id(ksettings, "enrich"), ksettings.kafka_topic_posts_raw)
                == 0
            ),
            180,
            "the crawled posts to be enriched and stored",
        )
    es_store.refresh()
    stored = es_store.count_posts(PostQuery())
    assert 0 < stored <= raw
    assert {p.source for p in es_store.iter_posts(PostQuery())} == set(SOURCES)


def test_the_scheduler_job_publishes_a_request_when_kafka_is_on(ksettings: Settings) -> None:
    before = datetime.now(UTC)
    assert crawl_source("demo-news", ksettings, every=300) == 0
    (msg,) = read_topic(ksettings, ksettings.kafka_topic_crawl_requests, 1)
    request = decode(msg.value(), CrawlRequest)  # type: ignore[attr-defined]
    assert msg.key() == b"demo-news"  # type: ignore[attr-defined]
    assert request.source == "demo-news"
    assert request.due_at.timestamp() % 300 == 0
    assert before - timedelta(seconds=300) < request.due_at <= before + timedelta(seconds=1)
