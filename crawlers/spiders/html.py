"""HTML sources: a list page (next-link or page-parameter pagination) and, optionally, detail
pages, read by CSS/XPath selectors; article text by trafilatura when no text selector is set.
Detail pages of posts already stored are not fetched again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from parsel import Selector
from scrapy.http import Response

from crawlers.items import PostItem
from crawlers.normalize import extract_article
from crawlers.sources import Fields, HtmlSource
from crawlers.spiders.base import SourceSpider, select, select_html, select_text
from ingest.posts import post_id

_META_DATES = (
    "meta[property='article:published_time']::attr(content)",
    "meta[name='pubdate']::attr(content)",
    "meta[name='PubDate']::attr(content)",
    "meta[name='publishdate']::attr(content)",
    "meta[itemprop='datePublished']::attr(content)",
)


def with_param(url: str, param: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    query.append((param, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


class HtmlSpider(SourceSpider):
    name = "html"
    source_type = "html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requested: set[str] = set()

    @property
    def cfg(self) -> HtmlSource:
        assert isinstance(self.ctx.source, HtmlSource)
        return self.ctx.source

    def build_page_request(self, token: str | None) -> scrapy.Request:
        page = self.cfg.listing.page
        if token is None:
            url = self.cfg.start_url
        elif page is not None:
            url = with_param(self.cfg.start_url, page.param, token)
        else:
            url = token
        return self.request(url, self.parse_list)

    def native_id(self, url: str | None) -> str | None:
        if url and self.cfg.id_pattern:
            match = re.search(self.cfg.id_pattern, url)
            if match:
                return match.group(1)
        return None

    def next_token(self, response: Response, sel: Selector, found: int) -> str | None:
        spec = self.cfg.listing
        if spec.next:
            href = select_text(sel, spec.next)
            return response.urljoin(href) if href else None
        if spec.page and found:
            current = response.meta.get("token_value")
            value = int(current) if current is not None else spec.page.start
            return str(value + spec.page.step)
        return None

    def parse_list(self, response: Response) -> Iterator[Any]:
        sel = self.selector(response)
        spec = self.cfg.listing
        name = self.ctx.source.name
        if spec.links:
            links = []
            for href in select(sel, spec.links).getall():
                url = response.urljoin(href.strip())
                if url not in links and url.startswith(("http://", "https://")):
                    links.append(url)
            ids = {url: post_id(name, self.native_id(url), url) for url in links}
            known = self.ctx.known_ids(list(ids.values()))
            fresh = [url for url in links if ids[url] not in known and url not in self.requested]
            self.requested.update(fresh)  # a link on two list pages is fetched once per run
            self.ctx.stats.skipped_known += len(links) - len(fresh)
            subrequests = [self.request(url, self.parse_detail) for url in fresh]
            items: list[PostItem] = []
            found = len(links)
            has_new = bool(fresh)
        else:
            assert spec.item is not None
            items = [
                self.item_from(block, spec.fields, response) for block in select(sel, spec.item)
            ]
            subrequests = []
            found = len(items)
            known = self.ctx.known_ids(
                [post_id(name, i.native_id, i.url) for i in items if i.native_id or i.url]
            )
            has_new = any(
                post_id(name, i.native_id, i.url) not in known
                for i in items
                if i.native_id or i.url
            )
        token = self.next_token(response, sel, found)
        yield from self.finish_page(
            response, items=items, subrequests=subrequests, next_token=token, has_new=has_new
        )

    def page_request(self, token: str | None, walk: str, page: int) -> scrapy.Request:
        request = super().page_request(token, walk, page)
        if self.cfg.listing.page is not None and token is not None:
            request.meta["token_value"] = token
        return request

    def item_from(self, sel: Selector, fields: Fields, response: Response) -> PostItem:
        link = select_text(sel, fields.link)
        url = response.urljoin(link) if link else None
        return PostItem(
            source=self.ctx.source.name,
            platform=self.ctx.source.platform,
            fetched_at=datetime.now(UTC),
            native_id=select_text(sel, fields.id) or self.native_id(url),
            url=url,
            author_id=select_text(sel, fields.author),
            title=select_text(sel, fields.title),
            text=(select_html(sel, fields.text) if fields.text else None) or "",
            text_is_html=True,
            created=select_text(sel, fields.time),
            reposts=select_text(sel, fields.reposts),
            comments=select_text(sel, fields.comments),
            likes=select_text(sel, fields.likes),
            region_raw=select_text(sel, fields.region),
        )

    def parse_detail(self, response: Response) -> Iterator[Any]:
        fields = self.cfg.detail
        assert fields is not None
        html = self.decoded(response)
        sel = Selector(text=html or "<html></html>", base_url=response.url)
        item = self.item_from(sel, fields, response)
        # the URL as listed (before redirects), so the post id matches the list's known-check
        item.url = (response.meta.get("redirect_urls") or [response.url])[0]
        item.native_id = self.native_id(item.url)
        if item.title is None:
            item.title = select_text(sel, "title::text")
        if not fields.text:
            text = extract_article(html, response.url) or ""
            if item.title and text.startswith(item.title):
                text = text[len(item.title) :].lstrip()
            item.text = text
            item.text_is_html = False
        if item.created is None:
            item.created = next((d for q in _META_DATES if (d := sel.css(q).get())), None)
        yield item
        assert response.request is not None
        yield from self.sub_done(response.request)
