"""Downloader middlewares: retries with backoff honouring Retry-After, and the auth guard.

`BackoffRetryMiddleware` replaces Scrapy's RetryMiddleware: timeouts, connection errors,
429 and 5xx are retried after `Retry-After` (seconds or HTTP date) when the server sends one,
else after an exponential backoff with jitter; a Retry-After longer than the source's
`max_retry_after` gives up for this run instead of hammering or stalling.

`AuthGuardMiddleware` stops a source whose session has expired (redirect to a login page,
401/403 with credentials, a captcha or "please log in" page): the run ends with status
`credentials_expired` (or `blocked` for sources without credentials) instead of storing junk.
"""

from __future__ import annotations

import logging
import random
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.response import response_status_message

from crawlers.normalize import declared_charsets, decode_body, html_to_text

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

    from crawlers.context import CrawlContext

log = logging.getLogger(__name__)

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
SMALL_PAGE_CHARS = 2000


class AuthWall(IgnoreRequest):
    """A login wall or captcha stopped the source (kind: credentials_expired or blocked)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _context(crawler: Crawler) -> CrawlContext | None:
    return getattr(crawler.spider, "ctx", None)


def _sleep(delay: float) -> Any:
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    return maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))  # type: ignore[arg-type]


def retry_after_seconds(value: bytes | str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)
        self.max_retry_after = settings.getfloat("RETRY_AFTER_MAX", 120.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        mw = cls(crawler.settings)
        mw.crawler = crawler
        return mw

    def backoff(self, attempt: int) -> float:
        delay = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return delay * random.uniform(0.5, 1.0)

    def _note(self, reason: str) -> None:
        ctx = _context(self.crawler)
        if ctx is not None:
            ctx.stats.retries[reason] += 1

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        attempt = request.meta.get("retry_times", 0) + 1
        wait = retry_after_seconds(response.headers.get(b"Retry-After"))
        if wait is not None and wait > self.max_retry_after:
            log.warning(
                "%s asks to retry after %.0fs (limit %.0fs); giving up on it for this run",
                request.url,
                wait,
                self.max_retry_after,
            )
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        delay = wait if wait is not None else self.backoff(attempt)
        self._note(f"http_{response.status}")
        log.info("retrying %s (HTTP %d) in %.1fs", request.url, response.status, delay)
        await _sleep(delay)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry"):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        attempt = request.meta.get("retry_times", 0) + 1
        delay = self.backoff(attempt)
        self._note(type(exception).__name__)
        log.info("retrying %s (%s) in %.1fs", request.url, type(exception).__name__, delay)
        await _sleep(delay)
        return retry


def use_offline_suffix_list() -> None:
    """Scrapy's cookie middleware asks tldextract for the Public Suffix List, which fetches it
    from the internet (blocking the reactor, failing offline) before using its bundled copy.
    Use the bundled copy only."""
    from scrapy.downloadermiddlewares import cookies
    from tldextract import TLDExtract

    cookies._split_domain = TLDExtract(  # type: ignore[attr-defined]
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def auth_failure(ctx: CrawlContext, response: Response) -> str | None:
    """Why this response is a login wall or captcha, or None if it looks like content."""
    check = ctx.source.auth
    if 300 <= response.status < 400:
        location = (response.headers.get(b"Location") or b"").decode("latin-1").lower()
        if any(p.lower() in location for p in check.login_url_patterns):
            return f"redirected to a login page ({location.split('?')[0]})"
        return None
    if response.status == 401:
        return "HTTP 401 (not logged in)"
    if response.status == 403 and ctx.credential is not None:
        return "HTTP 403 with credentials (session rejected)"
    if response.status != 200:
        return None
    ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
    body = response.body
    if "html" not in ctype and body.lstrip()[:1] != b"<":
        return None
    declared = declared_charsets(ctype, body)
    title = _TITLE.search(body[:8192])
    if title:
        text, _ = decode_body(title.group(1), declared)
        hit = next((m for m in check.captcha_markers if m.lower() in text.lower()), None)
        if hit:
            return f"captcha or login page (title mentions {hit!r})"
    if len(body) <= 64 * 1024:
        text = html_to_text(decode_body(body, declared)[0])
        if len(text) <= SMALL_PAGE_CHARS:
            hit = next((m for m in check.captcha_markers if m.lower() in text.lower()), None)
            if hit:
                return f"captcha or login page (mentions {hit!r})"
    return None


class AuthGuardMiddleware:
    """Sits after the redirect middleware (sees raw 3xx) and before the spider."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        ctx = _context(self.crawler)
        if (
            ctx is None
            or request.meta.get("skip_auth_guard")
            or request.url.endswith("/robots.txt")
        ):
            return response
        reason = auth_failure(ctx, response)
        if reason is None:
            return response
        stop(self.crawler, ctx, reason)
        raise AuthWall(ctx.stats.status or "blocked", reason)


def stop(crawler: Crawler, ctx: CrawlContext, reason: str) -> None:
    """End this source's run: credentials_expired if it uses credentials, else blocked."""
    status = "credentials_expired" if ctx.source.credentials else "blocked"
    if ctx.stats.status is None:
        log.warning("source %s: %s; stopping the source (%s)", ctx.source.name, reason, status)
    ctx.stats.stop(status, reason)
    assert crawler.engine is not None
    deferred_from_coro(crawler.engine.close_spider_async(reason=status))
