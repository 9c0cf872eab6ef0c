"""Weibo-style mobile API adapter.

Container responses (`/api/container/getIndex?containerid=...`) carry
`data.cards[].mblog` (search responses nest them in `card_group`), each with HTML `text`,
`created_at` ("刚刚", "3分钟前", "昨天 12:30", "01-01", "Sat Jan 01 18:46:00 +0800 2022"),
`reposts_count` / `comments_count` / `attitudes_count`, `user.id`, `region_name`
("发布于 江苏"); the next page is `since_id=<data.cardlistInfo.since_id>`. Truncated posts
(`isLongText`) are completed from the long-text endpoint when one is configured.
`{"ok": -100}` (or a redirect to a login page) means the session cookie has expired.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import PostItem
from crawlers.sources import WeiboSource
from crawlers.spiders.json_api import JsonApiSpider, get_path, scalar, with_params
from ingest.posts import post_id

log = logging.getLogger(__name__)
LOGIN_REQUIRED = -100


def mblogs(data: Any) -> list[dict[str, Any]]:
    """The mblog objects of a container or search response, in page order."""
    out = []
    for card in get_path(data, "data.cards") or []:
        if not isinstance(card, dict):
            continue
        if isinstance(card.get("mblog"), dict):
            out.append(card["mblog"])
        for sub in card.get("card_group") or []:
            if isinstance(sub, dict) and isinstance(sub.get("mblog"), dict):
                out.append(sub["mblog"])
    return out


class WeiboSpider(JsonApiSpider):
    name = "weibo"
    source_type = "weibo"

    @property
    def weibo(self) -> WeiboSource:
        assert isinstance(self.ctx.source, WeiboSource)
        return self.ctx.source

    def build_page_request(self, token: str | None) -> scrapy.Request:
        url = self.weibo.api_url
        if token is not None:
            url = with_params(url, {"since_id": token})
        return self.request(url, self.parse_api, headers={"Accept": "application/json"})

    def item_from(self, mblog: dict[str, Any], fetched: datetime) -> PostItem:
        mid = scalar(mblog.get("id")) or scalar(mblog.get("mid")) or scalar(mblog.get("idstr"))
        user: dict[str, Any] = mblog["user"] if isinstance(mblog.get("user"), dict) else {}
        return PostItem(
            source=self.weibo.name,
            platform=self.weibo.platform,
            fetched_at=fetched,
            native_id=mid,
            url=self.weibo.status_url.format(id=mid, bid=mblog.get("bid") or mid) if mid else None,
            author_id=scalar(user.get("id")),
            text=scalar(mblog.get("text")) or "",
            text_is_html=True,
            created=mblog.get("created_at"),
            reposts=mblog.get("reposts_count"),
            comments=mblog.get("comments_count"),
            likes=mblog.get("attitudes_count"),
            region_raw=scalar(mblog.get("region_name")),
        )

    def parse_api(self, response: Response) -> Iterator[Any]:
        data = self.load_json(response)
        if data is None or not isinstance(data, dict):
            if data is not None:
                self.ctx.stats.error("invalid_json")
            yield from self.page_failed(response.meta["walk"])
            return
        ok = data.get("ok")
        if ok == LOGIN_REQUIRED:
            self.stop_source("API answered ok=-100 (login required)")
            return
        posts = mblogs(data)
        if ok != 1 and not posts:
            if ok == 0:  # "这里还没有内容": the end of the list
                yield from self.finish_page(
                    response, items=[], subrequests=[], next_token=None, has_new=False
                )
                return
            self.ctx.stats.error("api_not_ok")
            log.warning("source %s: %s answered ok=%r", self.weibo.name, response.url, ok)
            yield from self.page_failed(response.meta["walk"])
            return
        fetched = datetime.now(UTC)
        items, subrequests = [], []
        fresh = False
        ids = [
            post_id(self.weibo.name, scalar(m.get("id") or m.get("mid")), None)
            for m in posts
            if m.get("id") or m.get("mid")
        ]
        known = self.ctx.known_ids(ids)
        for mblog in posts:
            item = self.item_from(mblog, fetched)
            pinned = bool(mblog.get("isTop")) or mblog.get("mblogtype") == 2
            is_new = (
                bool(item.native_id) and post_id(self.weibo.name, item.native_id, None) not in known
            )
            fresh = fresh or (is_new and not pinned)
            if is_new and mblog.get("isLongText") and self.weibo.long_text_url and item.native_id:
                url = self.weibo.long_text_url.format(id=item.native_id)
                subrequests.append(
                    self.request(url, self.parse_long_text, meta={"fallback_item": item})
                )
            else:
                items.append(item)
        since = scalar(get_path(data, "data.cardlistInfo.since_id"))
        yield from self.finish_page(
            response,
            items=items,
            subrequests=subrequests,
            next_token=since if since not in (None, "", "0") else None,
            has_new=fresh,
        )

    def parse_long_text(self, response: Response) -> Iterator[Any]:
        item: PostItem = response.meta["fallback_item"]
        data = self.load_json(response)
        full = scalar(get_path(data, "data.longTextContent")) if isinstance(data, dict) else None
        if full:
            item.text = full
        yield item
        assert response.request is not None
        yield from self.sub_done(response.request)
