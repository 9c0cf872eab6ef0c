"""From raw input (JSONL file, ingest API, crawlers) to validated `Post` records.

`RawPost` is what partner systems and crawlers send. `build_post` pseudonymizes the author
(keyed hash; the clear id is never stored), canonicalizes the URL, normalizes and segments the
text, and gives the post its deterministic id, so re-ingesting the same input is a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.text import SEGMENTER_VERSION, normalize, segment
from store.base import BulkResult, Store
from store.errors import InvalidRecord
from store.records import Engagement, Post, make_id
from store.settings import Settings

FUTURE_SKEW = timedelta(minutes=10)
TRACKING_PARAMS = frozenset(
    {"spm", "from", "share_token", "share_from", "wfr", "isappinstalled", "scene", "fbclid"}
)


class RawPost(BaseModel):
    """A post as it arrives, before normalization. Naive times are read in the settings' zone."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        # stated in the schema: a native id or a URL gives the post its id
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["native_id"],
                    "properties": {"native_id": {"type": "string", "pattern": r"\S"}},
                },
                {"required": ["url"], "properties": {"url": {"type": "string"}}},
            ]
        },
    )

    source: str = Field(min_length=1, max_length=100, pattern=r"\S")
    platform: str = Field(min_length=1, max_length=40, pattern=r"\S")
    native_id: str | None = Field(None, max_length=200)
    url: str | None = Field(  # the pattern states the validator's rule in the schema
        None, max_length=2000, json_schema_extra={"pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://"}
    )
    author_id: str | None = Field(None, max_length=200, description="clear id; hashed at ingest")
    title: str | None = Field(None, max_length=500)
    text: str = Field(
        min_length=1, pattern=r"\S", description="at most TINGFENG_MAX_TEXT_CHARS characters"
    )
    created_at: datetime = Field(description="not more than 10 minutes in the future")
    engagement: Engagement = Field(default_factory=Engagement)
    region_raw: str | None = Field(None, max_length=100)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no fragment, no tracking parameters, sorted query."""
    parts = urlsplit(url.strip())
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith("utm_")
    )
    path = parts.path or "/"
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (
        parts.scheme == "https" and netloc.endswith(":443")
    ):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))


def pseudonymize(key: str, platform: str, author_id: str) -> str:
    """Keyed hash of an author id: stable per platform, not reversible without the key."""
    digest = hmac.new(key.encode(), f"{platform}:{author_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def post_id(source: str, native_id: str | None, url: str | None) -> str:
    if native_id:
        return make_id(source, native_id)
    if url:
        return make_id(canonical_url(url))
    raise InvalidRecord("needs 'native_id' or 'url' to derive a stable id", field="native_id")


def build_post(raw: RawPost, settings: Settings, *, fetched_at: datetime | None = None) -> Post:
    """Validate and normalize one raw post into a `Post`."""
    if len(raw.text) > settings.max_text_chars:
        raise InvalidRecord(
            f"is {len(raw.text)} characters; the limit is {settings.max_text_chars} "
            "(TINGFENG_MAX_TEXT_CHARS)",
            field="text",
        )
    created = raw.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=ZoneInfo(settings.timezone))
    now = datetime.now(UTC)
    if created > now + FUTURE_SKEW:
        raise InvalidRecord(f"{created.isoformat()} is in the future", field="created_at")
    url = canonical_url(raw.url) if raw.url else None
    text_norm = normalize((raw.title + "。" if raw.title else "") + raw.text)
    author = (
        pseudonymize(settings.pseudonym_key.get_secret_value(), raw.platform, raw.author_id)
        if raw.author_id
        else None
    )
    return Post(
        id=post_id(raw.source, raw.native_id, raw.url),
        source=raw.source,
        platform=raw.platform,
        native_id=raw.native_id,
        url=url,
        author=author,
        title=raw.title,
        text=raw.text,
        text_norm=text_norm,
        tokens=" ".join(segment(text_norm)),
        segmenter=SEGMENTER_VERSION,
        created_at=created.astimezone(settings.tz),
        fetched_at=(fetched_at or now).astimezone(settings.tz),
        engagement=raw.engagement,
        region_raw=raw.region_raw,
    )


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    return (field or "", err["msg"])


def parse_raw(data: Any, *, line: int | None = None) -> RawPost:
    """Validate one raw post; InvalidRecord names the line and field on failure."""
    try:
        return RawPost.model_validate(data)
    except ValidationError as exc:
        field, msg = _first_error(exc)
        raise InvalidRecord(msg, field=field, line=line) from None


def read_jsonl(path: Path, settings: Settings) -> list[Post]:
    """Read and validate a whole JSONL file of raw posts. Any bad line fails the whole file
    (InvalidRecord naming the line and field), so nothing is written half-way."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRecord(f"cannot read {path}: {exc.strerror}") from None
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidRecord(
            f"{path} is not UTF-8 (byte {exc.start}); convert it, e.g. iconv -f GB18030 -t UTF-8",
            line=line,
        ) from None
    posts: list[Post] = []
    fetched = datetime.now(UTC)
    for number, text in enumerate(content.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRecord(f"not valid JSON ({exc.msg})", line=number) from None
        raw = parse_raw(obj, line=number)
        try:
            posts.append(build_post(raw, settings, fetched_at=fetched))
        except InvalidRecord as exc:
            raise InvalidRecord(str(exc).split(": ", 1)[-1], field=exc.field, line=number) from None
    return posts


def foreign_posts(store: Store, posts: list[Post]) -> list[tuple[str, str]]:
    """(id, owning source) of each post whose id is already stored under another source.
    Ids derive from source + native id, or from the URL alone, so a writer could otherwise
    replace another source's post (a partner overwriting a government bulletin)."""
    owners = store.post_sources([p.id for p in posts])
    return [(p.id, owners[p.id]) for p in posts if owners.get(p.id, p.source) != p.source]


def ingest_posts(
    store: Store,
    posts: list[Post],
    *,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> BulkResult:
    """Write posts in batches; per-document failures are collected in the result. A post
    whose id another source owns is never overwritten: it is reported as failed."""
    result = BulkResult()
    for chunk in _chunks(posts, batch):
        foreign = dict(foreign_posts(store, chunk))
        own = [p for p in chunk if p.id not in foreign]
        refused = [
            (i, f"owned by source {owner!r}; a post of another source is never overwritten")
            for i, owner in foreign.items()
        ]
        result = result.merge(store.write_posts(own)).merge(BulkResult(failed=refused))
        if progress:
            progress(len(chunk))
    return result


def _chunks(items: list[Post], size: int) -> Iterator[list[Post]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
