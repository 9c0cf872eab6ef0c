"""Reading feeds: RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and CDF with feedparser; JSON Feed 1.0/1.1
with a small reader of our own (feedparser 6.0 does not read it).

Charsets are ours: `normalize.decode_body` reads the HTTP charset first, then the XML
declaration, each checked by detection (Big5 declared as GBK, GB18030 with four-byte
characters, UTF-8 whatever it claims; ISO-8859-1 read as Windows-1252, as browsers do), and
feedparser gets the text as UTF-8 with a matching declaration, so its own RFC 3023 guesses
(us-ascii for `text/xml` without a charset) never apply.

Each entry is plain fields for the pipeline: id, link, title and content as HTML (plain text is
escaped, so the pipeline's HTML-to-text gives it back exactly), the raw date string (parsed by
our `parse_datetime`, not feedparser's) and the author. Content precedence: the full content
(Atom `content`, `content:encoded`, `xhtml:body`) over the summary (`summary`,
`description`); RSS `guid isPermaLink` (the default) is the link when there is no `<link>`.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from crawlers.normalize import declared_charsets, decode_body

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# a DOCTYPE's internal subset: feeds need no entity declarations of their own, and nested ones
# ("billion laughs") only cost time (external ones are never loaded)
_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*\[.*?\]\s*>", re.IGNORECASE | re.DOTALL)
_PLAIN = ("text/plain", "text")


class FeedError(ValueError):
    """The document is not a feed we can read."""


@dataclass
class FeedEntry:
    id: str | None
    link: str | None
    title: str | None
    content: str | None
    published: str | None
    author: str | None


def _as_html(value: str | None, kind: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if (kind or "text/html").lower() in _PLAIN:
        return html.escape(value, quote=False)
    return value


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def parse_feed(body: bytes, content_type: str | None = None) -> list[FeedEntry]:
    """Entries of a feed document as fetched; FeedError if it is not a feed."""
    text, _ = decode_body(body, declared_charsets(content_type, body))
    text = text.lstrip("\ufeff")
    if "json" in (content_type or "").lower() or text.lstrip().startswith("{"):
        return _json_feed(text)
    return _xml_feed(text)


def _xml_feed(text: str) -> list[FeedEntry]:
    import feedparser

    text = _XML_DECL.sub("", text, count=1)
    if "<!doctype" in text[:1024].lower():
        text = _DOCTYPE.sub("", text, count=1)
    data = '<?xml version="1.0" encoding="utf-8"?>' + text
    parsed = feedparser.parse(
        io.BytesIO(data.encode("utf-8")),  # a stream: a str would be taken for a URL or path
        # no base URL: feedparser would resolve ids (`<guid>hf-1</guid>`) against it; the
        # spider resolves links against the feed's URL itself
        response_headers={"content-type": "application/xml; charset=utf-8"},
        resolve_relative_uris=False,
        sanitize_html=True,
    )
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no feed elements found"
        raise FeedError(f"not RSS, Atom or CDF: {reason}")
    entries = []
    for entry in parsed.entries:
        content = next(
            (c for c in entry.get("content") or [] if (c.get("value") or "").strip()), None
        )
        if content is not None:
            body = _as_html(content.get("value"), content.get("type"))
        else:
            detail = entry.get("summary_detail") or {}
            body = _as_html(entry.get("summary"), detail.get("type"))
        title_detail = entry.get("title_detail") or {}
        entries.append(
            FeedEntry(
                id=_str(entry.get("id")),
                link=_str(entry.get("link")),
                title=_as_html(entry.get("title"), title_detail.get("type")),
                content=body,
                published=_str(
                    entry.get("published") or entry.get("updated") or entry.get("created")
                ),
                author=_str(entry.get("author")),
            )
        )
    return entries


def _json_feed(text: str) -> list[FeedEntry]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise FeedError("JSON without a jsonfeed.org version: not a JSON Feed")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError("JSON Feed without an items list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if _str(item.get("content_html")):
            content = _str(item.get("content_html"))
        else:
            content = _as_html(
                _str(item.get("content_text")) or _str(item.get("summary")), "text/plain"
            )
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        first = authors[0] if authors and isinstance(authors[0], dict) else {}
        entries.append(
            FeedEntry(
                id=_str(item.get("id")),
                link=_str(item.get("url")) or _str(item.get("external_url")),
                title=_as_html(_str(item.get("title")), "text/plain"),
                content=content,
                published=_str(item.get("date_published")) or _str(item.get("date_modified")),
                author=_str(first.get("name")) or _str(first.get("url")),
            )
        )
    return entries
