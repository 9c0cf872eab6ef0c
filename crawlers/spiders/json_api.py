"""JSON API sources: a path to the item list, paths to each field, page or cursor paging."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from scrapy.http import Response

from crawlers.items import PostItem
from crawlers.sources import CursorPagination, JsonApiSource, PagePagination
from crawlers.spiders.base import SourceSpider
from ingest.posts import post_id

log = logging.getLogger(__name__)
_MISSING = object()


def get_path(data: Any, path: str | None) -> Any:
    """Value at a dotted path (`data.items`, `user.id`, `cards.0.mblog`), or None."""
    if not path:
        return None
    value = data
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            return None
    return value


def with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def scalar(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


class JsonApiSpider(SourceSpider):
    name = "json_api"
    source_type = "json_api"

    @property
    def cfg(self) -> JsonApiSource:
        assert isinstance(self.ctx.source, JsonApiSource)
        return self.ctx.source

    def build_page_request(self, token: str | None) -> scrapy.Request:
        params = dict(self.cfg.params)
        paging = self.cfg.pagination
        if isinstance(paging, PagePagination):
            params[paging.param] = token if token is not None else str(paging.start)
        elif isinstance(paging, CursorPagination) and token is not None:
            params[paging.param] = token
        request = self.request(with_params(self.cfg.url, params), self.parse_api)
        request.meta["token_value"] = params.get(paging.param) if paging else None
        return request

    def load_json(self, response: Response) -> Any:
        """The response's JSON, or None (counted as invalid_json, walk kept consistent)."""
        try:
            return json.loads(self.decoded(response))
        except ValueError as exc:
            self.ctx.stats.error("invalid_json")
            log.warning(
                "source %s: %s is not valid JSON: %s", self.ctx.source.name, response.url, exc
            )
            return None

    def parse_api(self, response: Response) -> Iterator[Any]:
        cfg = self.cfg
        data = self.load_json(response)
        if data is not None and cfg.ok_path and not get_path(data, cfg.ok_path):
            self.ctx.stats.error("api_not_ok")
            log.warning("source %s: %s answered not ok", cfg.name, response.url)
            data = None
        entries = get_path(data, cfg.items_path) if data is not None else None
        if data is not None and not isinstance(entries, list):
            self.ctx.stats.error("missing_items")
            log.warning("source %s: %s has no list at %r", cfg.name, response.url, cfg.items_path)
            data = None
        if data is None:
            yield from self.page_failed(response.meta["walk"])
            return
        assert isinstance(entries, list)
        fetched = datetime.now(UTC)
        items = []
        f = cfg.fields
        for entry in entries:
            if not isinstance(entry, dict):
                self.ctx.stats.fetched += 1
                self.ctx.stats.drop("invalid_item")
                continue
            native = scalar(get_path(entry, f.native_id))
            url = scalar(get_path(entry, f.url))
            if url is None and cfg.url_template and native:
                url = cfg.url_template.format(native_id=native)
            items.append(
                PostItem(
                    source=cfg.name,
                    platform=cfg.platform,
                    fetched_at=fetched,
                    native_id=native,
                    url=response.urljoin(url) if url else None,
                    author_id=scalar(get_path(entry, f.author_id)),
                    title=scalar(get_path(entry, f.title)),
                    text=scalar(get_path(entry, f.text)) or "",
                    text_is_html=cfg.text_is_html,
                    created=get_path(entry, f.created_at),
                    reposts=get_path(entry, f.reposts),
                    comments=get_path(entry, f.comments),
                    likes=get_path(entry, f.likes),
                    region_raw=scalar(get_path(entry, f.region)),
                )
            )
        ids = [post_id(cfg.name, i.native_id, i.url) for i in items if i.native_id or i.url]
        known = self.ctx.known_ids(ids)
        yield from self.finish_page(
            response,
            items=items,
            subrequests=[],
            next_token=self.next_token(response, data, len(entries)),
            has_new=any(i not in known for i in ids),
        )

    def next_token(self, response: Response, data: Any, found: int) -> str | None:
        paging = self.cfg.pagination
        if isinstance(paging, PagePagination):
            if not found:
                return None
            current = response.meta.get("token_value")
            value = int(current) if current is not None else paging.start
            return str(value + paging.step)
        if isinstance(paging, CursorPagination):
            cursor = scalar(get_path(data, paging.path))
            return cursor if cursor not in (None, "", "0", "None") else None
        return None
