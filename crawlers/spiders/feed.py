"""RSS, Atom, RDF, CDF and JSON feeds with conditional GET (ETag / Last-Modified kept per feed
URL); read by `crawlers.feeds` (feedparser)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy.http import Response

from crawlers.feeds import FeedError, parse_feed
from crawlers.items import PostItem
from crawlers.sources import FeedSource
from crawlers.spiders.base import SourceSpider

log = logging.getLogger(__name__)


class FeedSpider(SourceSpider):
    name = "feed"
    source_type = "feed"

    async def start(self) -> Any:
        source = self.ctx.source
        assert isinstance(source, FeedSource)
        feeds = self.ctx.state.setdefault("feeds", {})
        for url in source.urls:
            saved = feeds.get(url) or {}
            headers = {}
            if saved.get("etag"):
                headers["If-None-Match"] = saved["etag"]
            if saved.get("last_modified"):
                headers["If-Modified-Since"] = saved["last_modified"]
            yield self.request(
                url,
                self.parse_feed,
                headers=headers,
                meta={"handle_httpstatus_list": [304], "feed_url": url},
            )

    def parse_feed(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            self.ctx.stats.not_modified += 1
            log.info("source %s: %s not modified", self.ctx.source.name, response.url)
            return
        try:
            ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
            entries = parse_feed(response.body, ctype)
        except FeedError as exc:
            self.ctx.stats.error("invalid_feed")
            log.warning("source %s: %s is not a feed: %s", self.ctx.source.name, response.url, exc)
            return
        fetched = datetime.now(UTC)
        for entry in entries:
            link = response.urljoin(entry.link) if entry.link else None
            yield PostItem(
                source=self.ctx.source.name,
                platform=self.ctx.source.platform,
                fetched_at=fetched,
                native_id=entry.id or link,
                url=link,
                author_id=entry.author,
                title=entry.title,
                text=entry.content or entry.title or "",
                text_is_html=True,
                created=entry.published,
            )
        etag = (response.headers.get(b"ETag") or b"").decode("latin-1") or None
        modified = (response.headers.get(b"Last-Modified") or b"").decode("latin-1") or None
        self.ctx.state["feeds"][response.meta["feed_url"]] = {
            "etag": etag,
            "last_modified": modified,
        }
        yield self.marker(etag=etag, last_modified=modified)
