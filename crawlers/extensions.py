"""The run-health extension: counts pages and spider errors, and when the spider closes,
stores the run's `SourceRun`, evaluates alerts and logs one summary line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals

from crawlers.health import record_run

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from twisted.python.failure import Failure

log = logging.getLogger(__name__)


class RunHealthExtension:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_error, signal=signals.spider_error)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        ctx = getattr(spider, "ctx", None)
        if ctx is not None:
            ctx.stats.started_at = datetime.now(UTC)

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        ctx = getattr(spider, "ctx", None)
        if ctx is None or request.url.endswith("/robots.txt"):
            return
        if 200 <= response.status < 300 or response.status == 304:
            ctx.stats.pages += 1

    def spider_error(self, failure: Failure, response: Response, spider: Spider) -> None:
        ctx = getattr(spider, "ctx", None)
        if ctx is not None:
            ctx.stats.error("parse_error")
            log.warning(
                "source %s: could not parse %s: %s",
                ctx.source.name,
                response.url,
                failure.getErrorMessage(),
            )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        ctx: Any = getattr(spider, "ctx", None)
        if ctx is None:
            return
        try:
            run = record_run(
                ctx.store, ctx.source, ctx.stats, finished_at=datetime.now(UTC), close_reason=reason
            )
            ctx.run = run
            stats = ctx.stats
            log.info(
                "source %s: %s; %d pages, %d posts (%d new, %d duplicate, %d dropped %s), "
                "%d errors %s, %d refused %s in %.1fs",
                run.source,
                run.status,
                stats.pages,
                run.fetched,
                run.new,
                run.duplicate,
                run.dropped,
                dict(stats.dropped),
                run.errors,
                dict(stats.errors),
                sum(stats.refused.values()),
                dict(stats.refused),
                (run.finished_at - run.started_at).total_seconds(),
            )
        finally:
            if getattr(spider, "owns_runtime", False):
                ctx.runtime.close()
