"""The base of every source spider: source lookup, per-source settings, requests with
credentials, error accounting, and the incremental *walk* over paginated lists.

A walk starts at the head of a list (newest first) and follows pages while a page brings
anything new, up to `max_pages`. After each page (and its detail/sub-requests) the spider
yields a `CheckpointItem` whose state holds the next page; the StorePipeline saves it only
after the page's posts are stored. A run that finds a saved walk resumes it first (an earlier
run was interrupted), then walks the head again, so nothing in between is skipped.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import scrapy
from parsel import Selector, SelectorList
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError

from crawlers.context import CrawlContext, Runtime, user_agent
from crawlers.hostguard import HostRefused
from crawlers.items import CheckpointItem
from crawlers.middlewares import AuthWall, stop, use_offline_suffix_list
from crawlers.normalize import declared_charsets, decode_body

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import Settings as ScrapySettings
    from twisted.python.failure import Failure

log = logging.getLogger(__name__)


def parse_vars(text: str | None) -> dict[str, str]:
    """`a=b,c=d` (the `-a vars=...` spider argument) -> dict."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def classify_failure(failure: Failure) -> str:
    """A short, countable kind for a failed request."""
    exc = failure.value
    message = str(exc)
    if isinstance(exc, AuthWall | HostRefused):
        return exc.kind
    if isinstance(exc, HttpError):
        return f"http_{exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in message:
            return "robots_disallowed"
        if "redirections" in message:
            return "redirect_loop"
        if "DOWNLOAD_MAXSIZE" in message or "decompress" in message:
            return "too_large_decompressed"
        return "ignored"
    if "max size" in message:
        return "too_large"
    if "certificate verify failed" in message or "SSL routines" in message:
        return "tls"
    if isinstance(exc, DownloadTimeoutError | TimeoutError) or "Timeout" in type(exc).__name__:
        return "timeout"
    if (
        isinstance(exc, ResponseDataLossError)
        or "DataLoss" in message
        or "ResponseFailed" in type(exc).__name__
    ):
        return "truncated"
    if isinstance(exc, DownloadCancelledError):
        return "cancelled"
    if isinstance(exc, DownloadConnectionRefusedError | ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, CannotResolveHostError):
        return "dns"
    return type(exc).__name__


def apply_source_settings(settings: ScrapySettings, ctx: CrawlContext) -> None:
    """Per-source politeness limits and the operator's User-Agent (before settings freeze)."""
    p = ctx.source.politeness
    values: dict[str, Any] = {
        "DOWNLOAD_DELAY": p.delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": p.concurrency,
        "AUTOTHROTTLE_ENABLED": p.autothrottle,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": p.target_concurrency,
        "AUTOTHROTTLE_START_DELAY": max(p.delay, 0.5),
        "DOWNLOAD_TIMEOUT": p.timeout,
        "DOWNLOAD_MAXSIZE": p.max_bytes,
        "DOWNLOAD_WARNSIZE": max(p.max_bytes // 2, 1),
        "RETRY_TIMES": p.retries,
        "RETRY_AFTER_MAX": p.max_retry_after,
        "ROBOTSTXT_OBEY": p.obey_robots,
        "DOWNLOAD_VERIFY_CERTIFICATES": ctx.source.verify_tls,
        "USER_AGENT": user_agent(ctx.settings.crawler_contact),
    }
    for key, value in values.items():
        settings.set(key, value, priority="spider")


def select(sel: Selector, expr: str) -> SelectorList[Selector]:
    """CSS, or XPath when the expression starts with `/`, `(` or `./`."""
    if expr.startswith(("/", "(", "./")):
        return sel.xpath(expr)
    return sel.css(expr)


def select_text(sel: Selector, expr: str | None) -> str | None:
    """Text of the selection (elements: their whole text; text/attribute nodes: as is)."""
    if not expr:
        return None
    parts = []
    for node in select(sel, expr):
        if isinstance(node.root, str):
            parts.append(node.root)
        else:
            parts.append(node.xpath("string(.)").get() or "")
    text = " ".join(p.strip() for p in parts if p and p.strip())
    return text or None


def select_html(sel: Selector, expr: str) -> str | None:
    html = "\n".join(select(sel, expr).getall())
    return html or None


class SourceSpider(scrapy.Spider):
    """Base of the source spiders; `scrapy crawl <type> -a source=NAME [-a vars=k=v,...]`."""

    source_type: ClassVar[str] = ""
    ctx: CrawlContext
    owns_runtime: bool = False
    allowed_domains: list[str]  # the source's hosts (the host guard enforces them)

    def __init__(
        self,
        source: str | None = None,
        runtime: Runtime | None = None,
        vars: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not source:
            raise ValueError(f"give the source name: scrapy crawl {self.name} -a source=NAME")
        super().__init__(**kwargs)
        self.source_name = source
        self._runtime = runtime
        self._vars = parse_vars(vars)
        self._pending: dict[str, int] = {}
        self._page_ends: dict[str, tuple[str, int, str | None, bool]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, SourceSpider)
        use_offline_suffix_list()
        runtime = spider._runtime
        if runtime is None:  # `scrapy crawl`: settings from the environment
            from store.settings import Settings

            runtime = Runtime.open(Settings(), spider._vars)  # type: ignore[call-arg]
            spider.owns_runtime = True
        spider.ctx = CrawlContext.open(runtime, spider.source_name)
        kind = spider.ctx.source.type
        if kind != cls.source_type:
            raise ValueError(
                f"source '{spider.source_name}' has type '{kind}'; crawl it with the '{kind}' spider"
            )
        apply_source_settings(crawler.settings, spider.ctx)
        spider.allowed_domains = spider.ctx.allowed_hosts
        if not spider.ctx.source.verify_tls:
            log.warning(
                "source %s: TLS certificate verification is OFF (verify_tls: false in the "
                "sources file); its pages and credentials can be read or forged on the way",
                spider.source_name,
            )
        return spider

    # -- requests ------------------------------------------------------------------------------
    def request(self, url: str, callback: Any, **kwargs: Any) -> scrapy.Request:
        """A request carrying the source's headers, and its credentials when the credential
        names the URL's host (never logged)."""
        headers = dict(self.ctx.source.headers)
        cookies: dict[str | bytes, str | bytes | bool | float | int] = {}
        if self.ctx.credential is not None and self.ctx.may_carry_credential(url):
            headers.update(self.ctx.credential.headers)
            cookies.update(self.ctx.credential.cookies)
        headers.update(kwargs.pop("headers", {}) or {})
        kwargs.setdefault("dont_filter", True)
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_error,
            headers=headers,
            cookies=cookies,
            **kwargs,
        )

    def decoded(self, response: Response) -> str:
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        text, _ = decode_body(response.body, declared_charsets(ctype, response.body))
        return text

    def selector(self, response: Response) -> Selector:
        return Selector(text=self.decoded(response) or "<html></html>", base_url=response.url)

    def stop_source(self, reason: str) -> None:
        assert self.crawler is not None
        stop(self.crawler, self.ctx, reason)
        self.ctx.stats.error(self.ctx.stats.status or "blocked")

    def marker(self, **extra: Any) -> CheckpointItem:
        return CheckpointItem(state=copy.deepcopy(self.ctx.state), **extra)

    # -- errors ----------------------------------------------------------------------------------
    def on_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        kind = classify_failure(failure)
        if isinstance(failure.value, HostRefused):
            self.ctx.stats.refused[kind] += 1
            log.warning(
                "source %s: refused %s: %s", self.ctx.source.name, request.url, failure.value
            )
        else:
            self.ctx.stats.error(kind)
        if not isinstance(failure.value, AuthWall | HostRefused):
            log.warning(
                "source %s: %s failed: %s (%s)",
                self.ctx.source.name,
                request.url,
                kind,
                failure.getErrorMessage()[:200],
            )
        if self.ctx.stats.status is not None:
            return
        fallback = request.meta.get("fallback_item")
        if fallback is not None:
            yield fallback
        yield from self.on_request_failed(request)

    def on_request_failed(self, request: scrapy.Request) -> Iterator[Any]:
        """A page or sub-request failed for good: keep the walk consistent."""
        if "page_key" in request.meta:
            yield from self.sub_done(request)
        elif "walk" in request.meta:
            yield from self.page_failed(request.meta["walk"])

    def page_failed(self, walk: str) -> Iterator[Any]:
        """A list page could not be read. A head walk keeps its cursor (the next run retries
        that page); a resumed walk is abandoned so a dead cursor cannot stall the source."""
        if walk == "resume":
            self.ctx.state.pop("walk", None)
            yield self.marker()
            yield self.page_request(None, "head", 1)

    # -- the walk --------------------------------------------------------------------------------
    def page_request(self, token: str | None, walk: str, page: int) -> scrapy.Request:
        request = self.build_page_request(token)
        request.meta.update(walk=walk, page=page)
        return request

    def build_page_request(self, token: str | None) -> scrapy.Request:
        """The request of the list page at `token` (None: the head)."""
        raise NotImplementedError

    def walk_start(self) -> scrapy.Request:
        saved = self.ctx.state.get("walk")
        if isinstance(saved, dict) and saved.get("next") is not None:
            log.info(
                "source %s: resuming an interrupted walk at page %s",
                self.ctx.source.name,
                saved.get("page"),
            )
            return self.page_request(str(saved["next"]), "resume", int(saved.get("page", 1)))
        return self.page_request(None, "head", 1)

    async def start(self) -> Any:
        yield self.walk_start()

    def finish_page(
        self,
        response: Response,
        *,
        items: Iterable[Any],
        subrequests: list[scrapy.Request],
        next_token: str | None,
        has_new: bool,
    ) -> Iterator[Any]:
        walk, page = response.meta["walk"], response.meta["page"]
        key = f"{walk}:{page}"
        yield from items
        if subrequests:
            self._pending[key] = len(subrequests)
            self._page_ends[key] = (walk, page, next_token, has_new)
            for sub in subrequests:
                sub.meta["page_key"] = key
                yield sub
        else:
            yield from self.end_page(walk, page, next_token, has_new)

    def add_subrequest(self, parent: scrapy.Request, request: scrapy.Request) -> scrapy.Request:
        """Another sub-request of the same page (e.g. a thread's next page)."""
        key = parent.meta["page_key"]
        self._pending[key] += 1
        request.meta["page_key"] = key
        return request

    def sub_done(self, request: scrapy.Request) -> Iterator[Any]:
        key = request.meta.get("page_key")
        if key is None or key not in self._pending:
            return
        self._pending[key] -= 1
        if self._pending[key] <= 0:
            del self._pending[key]
            yield from self.end_page(*self._page_ends.pop(key))

    def end_page(
        self, walk: str, page: int, next_token: str | None, has_new: bool
    ) -> Iterator[Any]:
        go_on = next_token is not None and has_new and page < self.ctx.source.max_pages
        if go_on:
            self.ctx.state["walk"] = {"kind": walk, "next": next_token, "page": page + 1}
        else:
            self.ctx.state.pop("walk", None)
        yield self.marker()
        if go_on:
            yield self.page_request(next_token, walk, page + 1)
        elif walk == "resume":
            yield self.page_request(None, "head", 1)
