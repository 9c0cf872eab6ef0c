"""`tingfeng worker crawl`: crawls spread over hosts through the `crawl.requests` topic.

The scheduler (`tingfeng run`, one active instance) publishes one `CrawlRequest` per due
source instead of starting the crawl itself (`publish_crawl_request`); every crawl worker in
the consumer group takes the requests of its partitions and runs each crawl exactly as the
scheduler would, in its own subprocess (`python -m crawlers.run`), whose posts go to
`posts.raw`. The worker claims a request (a checkpoint record `crawl-request:<source>@<due>`)
before crawling, so a request delivered again after a rebalance or a crash is not crawled a
second time; the next due time crawls the source again (incrementally, from its checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from crawlers.run import run_subprocess
from store.base import Store
from store.records import Checkpoint
from store.settings import Settings
from stream.consume import BatchConsumer, ConsumeStats, Delivery, Rejects
from stream.kafka import Producer, ensure_topics, group_id
from stream.messages import CrawlRequest

log = logging.getLogger(__name__)

CLAIMS = "checkpoints"


def claim_id(request: CrawlRequest) -> str:
    return f"crawl-request:{request.claim_id}"


def publish_crawl_request(
    producer: Producer, settings: Settings, source: str, due_at: datetime
) -> CrawlRequest:
    """One request for one due time of one source (key: the source, so a source's requests
    stay in order on one partition)."""
    request = CrawlRequest(source=source, due_at=due_at, requested_at=datetime.now(UTC))
    producer.send(settings.kafka_topic_crawl_requests, source, request)
    producer.flush()
    return request


def due_time(now: datetime, every: float | None) -> datetime:
    """The due time a run at `now` stands for: `now` rounded down to the source's interval
    (to the minute for cron schedules), so a second scheduler instance publishes the same
    request and the workers' claim makes it one crawl."""
    step = every if every and every >= 1 else 60.0
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


def request_crawl(
    settings: Settings, source: str, *, every: float | None = None, now: datetime | None = None
) -> CrawlRequest:
    """The scheduler's crawl job when Kafka is on: publish a request for this due time."""
    producer = Producer(settings)
    try:
        due = due_time(now or datetime.now(UTC), every)
        request = publish_crawl_request(producer, settings, source, due)
    finally:
        producer.close()
    log.info("requested crawl of %s due %s", source, due.isoformat())
    return request


class CrawlHandler:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        variables: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.store = store
        self.variables = variables
        self.extra_args = list(extra_args)
        self.crawled: list[tuple[str, int]] = []

    def __call__(self, deliveries: list[Delivery[CrawlRequest]]) -> Rejects:
        rejects: Rejects = []
        for d in deliveries:
            request = d.value
            if d.key is not None and d.key != request.source:
                rejects.append((d, f"key {d.key!r} is not the source {request.source!r}"))
                continue
            cid = claim_id(request)
            if self.store.get(CLAIMS, cid, Checkpoint) is not None:
                log.info(
                    "crawl of %s due %s already claimed; skipped", request.source, request.due_at
                )
                continue
            self.store.put(
                CLAIMS,
                Checkpoint(id=cid, source=request.source, newest_at=request.due_at,
                           updated_at=datetime.now(UTC)),
            )  # fmt: skip
            code = run_subprocess(
                [request.source], self.settings, variables=self.variables, quiet=False
            )
            self.crawled.append((request.source, code))
            log.info("crawl of %s due %s ended with %d", request.source, request.due_at, code)
        return rejects


def run_crawl_worker(
    settings: Settings,
    store: Store,
    stop: Callable[[], bool],
    *,
    variables: dict[str, str] | None = None,
) -> ConsumeStats:
    """Run one crawl worker until `stop()`; one request at a time (a crawl is a process)."""
    ensure_topics(settings)
    consumer = BatchConsumer(
        settings,
        group=group_id(settings, "crawl"),
        topic=settings.kafka_topic_crawl_requests,
        model=CrawlRequest,
        handler=CrawlHandler(settings, store, variables=variables),
        producer=Producer(settings),
        batch_size=1,
        # a crawl may take up to crawl_timeout_s between two polls
        config={"max.poll.interval.ms": int((settings.crawl_timeout_s + 300) * 1000)},
    )
    return consumer.run(stop)
