"""Tieba-style forum adapter: thread list pages, then each changed thread's post pages.

The thread list (`/f?kw=NAME&pn=0`, 50 threads a page) has `li.j_thread_list` items whose
`data-field` JSON gives the thread id and `reply_num` (real pages hide the list inside an HTML
comment in a `<code>` element; both forms are read). A thread is fetched again only when its
reply count changed since the last run (kept in the checkpoint). Thread pages (`/p/TID?pn=N`)
have `div.l_post` floors with `data-field` JSON (author, post id, floor number), the text in
`div.d_post_content` and the time in `span.tail-info`. Each floor becomes a post.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import scrapy
from parsel import Selector
from scrapy.http import Response

from crawlers.items import PostItem
from crawlers.sources import TiebaSource
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.html import with_param

_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2}")
MAX_REMEMBERED_THREADS = 2000


def data_field(sel: Selector) -> dict[str, Any]:
    raw = sel.attrib.get("data-field") or "{}"
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def thread_nodes(sel: Selector) -> list[Selector]:
    """Thread items, including those real pages ship inside commented-out `<code>` blocks."""
    nodes = list(sel.css("li.j_thread_list"))
    for code in sel.css("code").getall():
        for hidden in _COMMENT.findall(code):
            nodes.extend(Selector(text=hidden).css("li.j_thread_list"))
    return nodes


class TiebaSpider(SourceSpider):
    name = "tieba"
    source_type = "tieba"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requested: set[str] = set()  # thread ids fetched in this run

    @property
    def cfg(self) -> TiebaSource:
        assert isinstance(self.ctx.source, TiebaSource)
        return self.ctx.source

    def build_page_request(self, token: str | None) -> scrapy.Request:
        request = self.request(with_param(self.cfg.forum_url, "pn", token or "0"), self.parse_forum)
        request.meta["pn"] = int(token or 0)
        return request

    def parse_forum(self, response: Response) -> Iterator[Any]:
        sel = self.selector(response)
        replies: dict[str, int] = self.ctx.state.setdefault("threads", {})
        subrequests = []
        for node in thread_nodes(sel):
            field = data_field(node)
            tid = str(field.get("id") or node.attrib.get("data-tid") or "")
            href = node.css("a.j_th_tit::attr(href)").get()
            if not tid or not href:
                continue
            reply_num = int(field.get("reply_num") or 0)
            if replies.get(tid) == reply_num or tid in self.requested:
                self.ctx.stats.skipped_known += 1
                continue
            self.requested.add(tid)
            title = node.css("a.j_th_tit::attr(title)").get() or node.css("a.j_th_tit::text").get()
            subrequests.append(
                self.request(
                    urljoin(response.url, href),
                    self.parse_thread,
                    meta={"tid": tid, "reply_num": reply_num, "title": title, "thread_page": 1},
                )
            )
        has_next = bool(sel.css("a.next::attr(href)").get())
        token = str(response.meta["pn"] + self.cfg.page_size) if has_next else None
        yield from self.finish_page(
            response, items=[], subrequests=subrequests, next_token=token, has_new=bool(subrequests)
        )

    def parse_thread(self, response: Response) -> Iterator[Any]:
        sel = self.selector(response)
        meta = response.meta
        title = (
            meta.get("title")
            or sel.css("h3.core_title_txt::attr(title)").get()
            or sel.css("h1.core_title_txt::attr(title)").get()
        )
        thread_url = response.url.split("?")[0]
        fetched = datetime.now(UTC)
        for floor in sel.css("div.l_post"):
            field = data_field(floor)
            content: dict[str, Any] = (
                field["content"] if isinstance(field.get("content"), dict) else {}
            )
            author: dict[str, Any] = (
                field["author"] if isinstance(field.get("author"), dict) else {}
            )
            pid = str(content.get("post_id") or "")
            body = floor.css("div.d_post_content").get() or ""
            tails = " ".join(floor.css("span.tail-info::text").getall())
            date = content.get("date") or (m.group(0) if (m := _DATE.search(tails)) else None)
            yield PostItem(
                source=self.cfg.name,
                platform=self.cfg.platform,
                fetched_at=fetched,
                native_id=pid or None,
                url=f"{thread_url}?pid={pid}#{pid}" if pid else None,
                author_id=str(author.get("user_id") or author.get("user_name") or "") or None,
                title=title if content.get("post_no") == 1 else None,
                text=body,
                text_is_html=True,
                created=date,
            )
        assert response.request is not None
        next_href = sel.xpath("//a[normalize-space(text())='下一页']/@href").get()
        if next_href and meta["thread_page"] < self.cfg.max_thread_pages:
            nxt = self.request(
                urljoin(response.url, next_href),
                self.parse_thread,
                meta={
                    **{k: meta[k] for k in ("tid", "reply_num", "title")},
                    "thread_page": meta["thread_page"] + 1,
                },
            )
            yield self.add_subrequest(response.request, nxt)
        else:
            self.remember(meta["tid"], meta["reply_num"])
        yield from self.sub_done(response.request)

    def remember(self, tid: str, reply_num: int) -> None:
        """Record the reply count once the thread's posts are in (bounded, newest kept)."""
        replies: dict[str, int] = self.ctx.state.setdefault("threads", {})
        replies.pop(tid, None)
        replies[tid] = reply_num
        while len(replies) > MAX_REMEMBERED_THREADS:
            replies.pop(next(iter(replies)))
