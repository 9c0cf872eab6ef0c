"""Item pipelines: normalize -> dedup -> store.

- `NormalizePipeline`: HTML -> text, raw dates/counts -> values, then `ingest.posts.build_post`
  (pseudonymized author, canonical URL, traditional -> simplified `text_norm`, analyzer tokens,
  deterministic id). An item that cannot become a valid post is dropped with a reason
  (`missing_date`, `invalid_date`, `empty_text`, `invalid_<field>`), counted in the run stats.
- `DedupPipeline`: SimHash/MinHash fingerprints; an id already seen in this run is a duplicate.
- `StorePipeline`: batches posts; per batch, posts already stored are duplicates (only their
  engagement counts are updated, enrichment is kept), new posts get `dup_of` when they
  near-duplicate a stored post of any source, then are written. A checkpoint marker is saved
  only after the posts before it are written, so a crash never skips posts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future

from crawlers.context import CHECKPOINTS, CrawlContext
from crawlers.dedup import fingerprint, link_near_duplicates, split_known
from crawlers.items import CheckpointItem, PostItem
from crawlers.normalize import html_to_text, parse_count, parse_datetime
from ingest.posts import RawPost, build_post
from store.errors import InvalidRecord, StoreUnavailable
from store.records import Checkpoint, Engagement, Post

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from store.base import BulkResult
    from stream.kafka import Producer

log = logging.getLogger(__name__)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _ctx(crawler: Crawler) -> CrawlContext:
    ctx = getattr(crawler.spider, "ctx", None)
    if ctx is None:
        raise RuntimeError("Tingfeng pipelines need a Tingfeng source spider")
    return ctx  # type: ignore[no-any-return]


def to_post(item: PostItem, ctx: CrawlContext) -> Post:
    """The validated Post for a raw item; raises Rejected with a reason."""
    settings = ctx.settings
    text = html_to_text(item.text) if item.text_is_html else (item.text or "").strip()
    if not text:
        raise Rejected("empty_text")
    title = html_to_text(item.title) if item.title else None
    if item.created is None or item.created == "":
        created = None
        reason = "missing_date"
    else:
        created = parse_datetime(item.created, now=item.fetched_at, tz=settings.tz)
        reason = "invalid_date"
    if created is None:
        if ctx.source.undated != "fetched":
            raise Rejected(reason, repr(item.created)[:80])
        created = item.fetched_at
    try:
        raw = RawPost(
            source=item.source,
            platform=item.platform,
            native_id=str(item.native_id) if item.native_id not in (None, "") else None,
            url=item.url,
            author_id=str(item.author_id) if item.author_id not in (None, "") else None,
            title=(title or None) and title[:500],
            text=text,
            created_at=created,
            engagement=Engagement(
                reposts=parse_count(item.reposts),
                comments=parse_count(item.comments),
                likes=parse_count(item.likes),
            ),
            region_raw=(item.region_raw or None) and item.region_raw[:100],
        )
        return build_post(raw, settings, fetched_at=item.fetched_at)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "item"
        raise Rejected(f"invalid_{field}", err["msg"]) from None
    except InvalidRecord as exc:
        raise Rejected(f"invalid_{exc.field or 'item'}", str(exc)) from None


class NormalizePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self) -> None:
        """Load the segmenter and converters now, not on the first item (which would stall
        the reactor, and with it every download in flight, for a few seconds)."""
        from analysis.text import normalize, segment

        segment(normalize("預熱分词器"))
        html_to_text("<p>预热</p>")

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PostItem):
            return item
        ctx = _ctx(self.crawler)
        ctx.stats.fetched += 1
        try:
            item.post = to_post(item, ctx)
        except Rejected as exc:
            ctx.stats.drop(exc.reason)
            where = item.url or item.native_id or "?"
            raise DropItem(
                f"source {item.source}: dropped {where}: {exc.reason} {exc.detail}".rstrip(),
                log_level="INFO",
            ) from None
        return item


class DedupPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PostItem) or item.post is None:
            return item
        if item.post.id in self.seen:
            _ctx(self.crawler).stats.duplicate += 1
            raise DropItem(f"duplicate in this run: {item.post.id}", log_level="DEBUG")
        self.seen.add(item.post.id)
        item.post = fingerprint(item.post)
        return item


@dataclass
class Written:
    """What one flush did (computed in the worker thread, counted in the reactor thread)."""

    new: list[Post] = field(default_factory=list)
    duplicate: int = 0
    updated: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


class StorePipeline:
    """Batches posts and writes them in a worker thread (one flush at a time, in order), so
    downloads go on while the store works; a page's checkpoint marker is saved right after the
    posts before it, by the next flush: a full batch, or at most `TINGFENG_CHECKPOINT_WAIT`
    seconds after the marker (so a fast walk writes a few large batches, not one per page)."""

    def __init__(self, crawler: Crawler, batch: int, checkpoint_wait: float = 1.0) -> None:
        self.crawler = crawler
        self.batch = batch
        self.checkpoint_wait = checkpoint_wait
        self.buffer: list[Post] = []
        self.marker: CheckpointItem | None = None
        self.saved: CheckpointItem | None = None
        self.newest: tuple[datetime, str] | None = None
        self._lock: asyncio.Lock | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timed: set[asyncio.Future[None]] = set()
        self._producer: Producer | None = None  # with TINGFENG_KAFKA_BOOTSTRAP only

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(
            crawler,
            crawler.settings.getint("TINGFENG_STORE_BATCH", 200),
            crawler.settings.getfloat("TINGFENG_CHECKPOINT_WAIT", 1.0),
        )

    def open_spider(self) -> None:
        ctx = _ctx(self.crawler)
        cp = ctx.checkpoint
        if cp is not None and cp.newest_at is not None and cp.newest_id is not None:
            self.newest = (cp.newest_at, cp.newest_id)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, CheckpointItem):
            self.marker = item  # a newer marker replaces a waiting one: it is after its posts
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self.checkpoint_wait, self._flush_marker)
        elif isinstance(item, PostItem) and item.post is not None:
            self.buffer.append(item.post)
            if len(self.buffer) >= self.batch:
                await self.flush()
        return item

    def _flush_marker(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._timed.add(task)
        task.add_done_callback(self._timed_done)

    def _timed_done(self, task: asyncio.Future[None]) -> None:
        self._timed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("checkpoint flush failed", exc_info=task.exception())

    async def close_spider(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._timed:
            await asyncio.gather(*self._timed, return_exceptions=True)
        await self.flush(final=True)
        if self._producer is not None:
            self._producer.close()

    async def flush(self, *, final: bool = False) -> None:
        from twisted.internet.threads import deferToThread

        ctx = _ctx(self.crawler)
        posts, self.buffer = self.buffer, []
        marker, self.marker = self.marker, None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # flushes stay in order: a checkpoint never overtakes posts
            written = await maybe_deferred_to_future(deferToThread(self._write, ctx, posts))
            self._count(ctx, written)
            if marker is not None:
                self.saved = marker
            if marker is not None or (final and posts):
                await maybe_deferred_to_future(deferToThread(self._save_checkpoint, ctx))

    def _write(self, ctx: CrawlContext, posts: list[Post]) -> Written:
        """Dedup and write one batch (worker thread)."""
        if not posts:
            return Written()
        store = ctx.store
        try:
            new, stored = split_known(store, posts)
            new = link_near_duplicates(store, new, ctx.runtime.recent)
        except StoreUnavailable as exc:
            log.warning(
                "source %s: store unavailable (%s); writing without dedup", ctx.source.name, exc
            )
            new, stored = list(posts), {}
        updates = [
            stored[p.id].model_copy(update={"engagement": p.engagement})
            for p in posts
            if p.id in stored and stored[p.id].engagement != p.engagement
        ]
        if ctx.runtime.settings.kafka_bootstrap:  # scale-out: enrichment workers store them
            result = self._produce(ctx, [*new, *updates])
        else:
            result = store.write_posts([*new, *updates])
        failed = {doc_id for doc_id, _ in result.failed}
        written = [p for p in new if p.id not in failed]
        for post in written:
            ctx.runtime.recent.add(post)
        return Written(
            new=written,
            duplicate=len(posts) - len(new),
            updated=sum(1 for p in updates if p.id not in failed),
            rejected=result.failed,
        )

    def _produce(self, ctx: CrawlContext, posts: list[Post]) -> BulkResult:
        from stream.kafka import Producer, produce_posts

        if self._producer is None:
            self._producer = Producer(ctx.runtime.settings)
        return produce_posts(self._producer, ctx.runtime.settings, posts)

    def _count(self, ctx: CrawlContext, written: Written) -> None:
        stats = ctx.stats
        stats.duplicate += written.duplicate
        stats.updated += written.updated
        for doc_id, why in written.rejected:
            stats.error("store_rejected")
            log.error("source %s: store rejected post %s: %s", ctx.source.name, doc_id, why)
        for post in written.new:
            stats.new += 1
            stats.saw_post(post.created_at)
            if self.newest is None or post.created_at > self.newest[0]:
                self.newest = (post.created_at, post.id)

    def _save_checkpoint(self, ctx: CrawlContext) -> None:
        previous = ctx.checkpoint
        saved = self.saved
        if saved is not None:
            cursor = (
                json.dumps(saved.state, ensure_ascii=False, sort_keys=True) if saved.state else None
            )
            etag, modified = saved.etag, saved.last_modified
        else:
            cursor = previous.cursor if previous else None
            etag = previous.etag if previous else None
            modified = previous.last_modified if previous else None
        checkpoint = Checkpoint(
            id=ctx.source.name,
            source=ctx.source.name,
            cursor=cursor,
            newest_id=self.newest[1] if self.newest else None,
            newest_at=self.newest[0] if self.newest else None,
            etag=etag,
            last_modified=modified,
            updated_at=datetime.now(UTC),
        )
        ctx.store.put(CHECKPOINTS, checkpoint)
        ctx.checkpoint = checkpoint
