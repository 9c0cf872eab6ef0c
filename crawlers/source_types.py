"""The shape of a source, by type: schedule, politeness limits, auth checks, and the fields of
`feed`, `html`, `json_api` and the `weibo` / `tieba` adapters (see `crawlers.sources` for
the file format and the loader)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, None: 1}


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 30s, 5m, 2h or 1d")
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


def _bytes(value: Any) -> Any:
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a size like 512KB or 5MB")
        unit = match.group(2).lower() if match.group(2) else None
        return int(float(match.group(1)) * _SIZES[unit])
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
Bytes = Annotated[int, BeforeValidator(_bytes), Field(gt=0)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://\S+$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(Model):
    """When to crawl: `every` (interval) or `cron` (five-field crontab), plus random jitter."""

    every: Seconds | None = None
    cron: str | None = None
    jitter: Annotated[float, BeforeValidator(_seconds), Field(ge=0)] = 30.0

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' (e.g. 10m) or 'cron' (e.g. */10 * * * *)")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from None
        return self


class Politeness(Model):
    """Per-source limits: delay between requests, concurrency per domain, retries, sizes."""

    delay: Annotated[float, BeforeValidator(_seconds), Field(ge=0)] = 2.0
    concurrency: int = Field(2, ge=1, le=16)
    autothrottle: bool = True
    target_concurrency: float = Field(1.0, gt=0, le=16)
    timeout: Seconds = 30.0
    max_bytes: Bytes = 5 * 1024 * 1024
    retries: int = Field(2, ge=0, le=10)
    max_retry_after: Seconds = 120.0
    obey_robots: bool = True


class AuthCheck(Model):
    """How a login wall or captcha shows itself (stops the source instead of storing junk)."""

    login_url_patterns: list[str] = Field(
        default_factory=lambda: ["/login", "passport.", "/signin", "/sso/"]
    )
    captcha_markers: list[str] = Field(
        default_factory=lambda: ["验证码", "安全验证", "captcha", "访问异常", "请登录"]
    )


class SourceBase(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")
    type: str
    platform: str = Field(min_length=1, max_length=40)
    enabled: bool = True
    demo: bool = Field(False, description="part of the demo fixture site")
    description: str | None = None
    schedule: Schedule = Field(default_factory=lambda: Schedule(every=600))
    politeness: Politeness = Field(default_factory=Politeness)
    freshness_limit: Seconds | None = Field(
        None, description="coverage-gap alert when the newest post is older than this"
    )
    max_failures: int = Field(3, ge=1, description="consecutive failed runs before an alert")
    max_pages: int = Field(5, ge=1, le=1000, description="list/API pages per walk")
    credentials: str | None = Field(None, description="entry name in the crawler credentials")
    auth: AuthCheck = Field(default_factory=AuthCheck)
    undated: Literal["drop", "fetched"] = Field(
        "drop", description="items without a readable date: drop, or use the fetch time"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    extra_hosts: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")]] = Field(
        default_factory=list,
        description="hosts besides those of the entry URLs that the crawl may fetch (e.g. "
        "detail pages on a CDN host), each with its subdomains; host names only, no scheme",
    )
    verify_tls: bool = Field(
        True, description="verify TLS certificates; false is an opt-out logged at every run"
    )

    def domains(self) -> list[str]:
        return sorted({urlsplit(u).hostname or "" for u in self.entry_urls()} - {""})

    def allowed_hosts(self) -> list[str]:
        """Hosts this source may fetch (each with its subdomains)."""
        return sorted({*self.domains(), *(h.lower().rstrip(".") for h in self.extra_hosts)})

    def entry_urls(self) -> list[str]:
        raise NotImplementedError


class FeedSource(SourceBase):
    """RSS 2.0, Atom or RSS 1.0 (RDF) feeds; conditional GET with ETag / Last-Modified."""

    type: Literal["feed"]
    urls: list[HttpUrl] = Field(min_length=1)

    def entry_urls(self) -> list[str]:
        return list(self.urls)


class Fields(Model):
    """Selectors (CSS, or XPath when starting with `/` or `(`) for the parts of a post."""

    title: str | None = None
    text: str | None = Field(None, description="omit on detail pages to use trafilatura")
    time: str | None = None
    author: str | None = None
    link: str | None = None
    id: str | None = None
    reposts: str | None = None
    comments: str | None = None
    likes: str | None = None
    region: str | None = None


class PageParam(Model):
    param: str
    start: int = 1
    step: int = 1


class ListSpec(Model):
    links: str | None = Field(None, description="selector of detail-page links")
    item: str | None = Field(None, description="selector of item blocks (no detail pages)")
    fields: Fields = Field(default_factory=Fields, description="relative to each item block")
    next: str | None = Field(None, description="selector of the next-page link")
    page: PageParam | None = None

    @model_validator(mode="after")
    def _mode(self) -> ListSpec:
        if (self.links is None) == (self.item is None):
            raise ValueError("give exactly one of 'links' (with detail) or 'item' (list only)")
        if self.item is not None and not self.fields.text:
            raise ValueError("list-only mode needs fields.text")
        if self.next is not None and self.page is not None:
            raise ValueError("paginate by 'next' or by 'page', not both")
        return self


class HtmlSource(SourceBase):
    """A list page (paginated) with optional detail pages, read by selectors."""

    type: Literal["html"]
    start_url: HttpUrl
    listing: ListSpec = Field(alias="list")
    detail: Fields | None = None
    id_pattern: str | None = Field(None, description="regex; group 1 of the item URL = native id")

    @field_validator("id_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and re.compile(value).groups < 1:
            raise ValueError("needs one capturing group")
        return value

    @model_validator(mode="after")
    def _detail(self) -> HtmlSource:
        if self.listing.links is not None and self.detail is None:
            raise ValueError("list.links needs a 'detail' section (selectors of the detail page)")
        return self

    def entry_urls(self) -> list[str]:
        return [self.start_url]


class JsonFields(Model):
    """Dotted paths into each item (e.g. `user.id`, `stats.0.count`)."""

    native_id: str
    text: str
    title: str | None = None
    created_at: str | None = None
    url: str | None = None
    author_id: str | None = None
    reposts: str | None = None
    comments: str | None = None
    likes: str | None = None
    region: str | None = None


class PagePagination(Model):
    type: Literal["page"]
    param: str
    start: int = 1
    step: int = 1


class CursorPagination(Model):
    type: Literal["cursor"]
    param: str
    path: str = Field(description="dotted path of the next cursor in the response")


class JsonApiSource(SourceBase):
    """An HTTP JSON endpoint: path to the item list, paths to fields, page or cursor paging."""

    type: Literal["json_api"]
    url: HttpUrl
    params: dict[str, str] = Field(default_factory=dict)
    items_path: str
    fields: JsonFields
    text_is_html: bool = False
    url_template: str | None = Field(None, description="post URL, e.g. https://x/p/{native_id}")
    pagination: Annotated[PagePagination | CursorPagination, Field(discriminator="type")] | None = (
        None
    )
    ok_path: str | None = Field(None, description="path that must be truthy (e.g. ok)")

    def entry_urls(self) -> list[str]:
        return [self.url]


class WeiboSource(SourceBase):
    """Weibo-style mobile API: `data.cards[].mblog` (or `card_group`), `since_id` paging."""

    type: Literal["weibo"]
    platform: str = "weibo"
    api_url: HttpUrl = Field(description="container API URL incl. containerid")
    status_url: str = "https://m.weibo.cn/detail/{id}"
    long_text_url: str | None = Field(
        None, description="e.g. https://m.weibo.cn/statuses/extend?id={id} for truncated posts"
    )

    def entry_urls(self) -> list[str]:
        return [self.api_url]

    def domains(self) -> list[str]:
        """The API's host, and the long-text endpoint's (the spider fetches both)."""
        urls = [self.api_url, *([self.long_text_url] if self.long_text_url else [])]
        return sorted({urlsplit(u).hostname or "" for u in urls} - {""})


class TiebaSource(SourceBase):
    """Tieba-style forum: thread list pages (`pn` step 50) and each thread's post pages."""

    type: Literal["tieba"]
    platform: str = "tieba"
    forum_url: HttpUrl = Field(description="thread list, e.g. https://tieba.baidu.com/f?kw=NAME")
    page_size: int = Field(50, ge=1)
    max_thread_pages: int = Field(3, ge=1, le=100)

    def entry_urls(self) -> list[str]:
        return [self.forum_url]


Source = Annotated[
    FeedSource | HtmlSource | JsonApiSource | WeiboSource | TiebaSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = ("feed", "html", "json_api", "weibo", "tieba")
