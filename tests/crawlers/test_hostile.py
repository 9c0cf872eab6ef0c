"""Hostile and broken inputs, each a fixture, all crawled in one process: each is logged with
a reason and counted in the run stats, the crawl keeps going, nothing is stored twice, and
credentials never reach the log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from crawlers.fixtures.server import FixtureSite
from store import Settings, Store
from store.base import PostQuery
from store.records import Alert
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import (
    CREDENTIALS,
    LOCAL_HOSTS,
    TEST_SOURCES,
    Crawl,
    run_crawl,
)

HOSTILE = [
    "hostile-html",
    "hostile-json",
    "hostile-feed",
    "expired-weibo",
    "expired-weibo-api",
    "captcha-tieba",
    "robots-html",
]


@dataclass
class Hostile:
    settings: Settings
    store: Store
    crawl: Crawl
    site: FixtureSite


@pytest.fixture(scope="module")
def hostile(site: FixtureSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    tmp = tmp_path_factory.mktemp("hostile")
    settings = make_settings(
        tmp,
        sources_file=TEST_SOURCES,
        crawler_credentials=CREDENTIALS,
        crawler_internal_hosts=LOCAL_HOSTS,
    )
    store = open_backend("sqlite", settings, None)
    crawl = run_crawl(settings, HOSTILE, site, tmp)
    yield Hostile(settings, store, crawl, site)
    store.close()


def natives(store: Store, source: str) -> list[str]:
    page = store.search_posts(PostQuery(terms={"source": [source]}), size=100)
    return sorted(p.native_id or p.url or "" for p in page.posts)


def test_every_broken_page_is_counted_with_its_reason(hostile: Hostile) -> None:
    errors = hostile.crawl.detail("hostile-html")["errors"]
    assert errors == {
        "timeout": 1,
        "http_404": 1,
        "http_500": 1,
        "redirect_loop": 1,
        "truncated": 1,
        "too_large": 1,
        "too_large_decompressed": 1,
        "robots_disallowed": 1,
    }
    run = hostile.crawl.runs["hostile-html"]
    assert run.status == "ok"  # the crawl went on past every broken page
    assert hostile.crawl.detail("hostile-html")["dropped"] == {"empty_text": 1}  # cut HTML
    for kind in ("timeout", "http_404", "redirect_loop", "too_large", "robots_disallowed"):
        assert f"failed: {kind}" in hostile.crawl.stderr


def test_good_pages_among_broken_ones_are_stored_once(hostile: Hostile) -> None:
    stored = natives(hostile.store, "hostile-html")
    assert stored == sorted(
        f"{hostile.site.url}/hostile/{name}.html" for name in ("good", "busy", "wrong-charset")
    )
    wrong = hostile.store.search_posts(PostQuery(q="志愿者 清理 淤泥"), size=5).posts
    assert [p.title for p in wrong] == ["街道办组织志愿者清理积水淤泥"]  # GBK declared UTF-8


def test_429_is_retried_after_retry_after(hostile: Hostile) -> None:
    times = [t for target, t in hostile.site.log if target == "/hostile/busy.html"]
    assert len(times) >= 2
    assert times[1] - times[0] >= 0.95  # Retry-After: 1
    assert hostile.crawl.detail("hostile-html")["retries"].get("http_429") == 1


def test_json_missing_fields_and_invalid_json(hostile: Hostile) -> None:
    detail = hostile.crawl.detail("hostile-json")
    assert detail["errors"] == {"invalid_json": 1}
    assert detail["dropped"] == {
        "empty_text": 2,
        "invalid_native_id": 1,
        "invalid_date": 1,
        "missing_date": 1,
        "invalid_item": 1,
    }
    assert natives(hostile.store, "hostile-json") == ["h1"]


def test_feed_with_invalid_dates(hostile: Hostile) -> None:
    detail = hostile.crawl.detail("hostile-feed")
    assert detail["dropped"] == {"invalid_date": 2, "missing_date": 1, "invalid_created_at": 1}
    assert natives(hostile.store, "hostile-feed") == ["hf-1"]


@pytest.mark.parametrize("source", ["expired-weibo", "expired-weibo-api"])
def test_expired_credentials_stop_the_source(hostile: Hostile, source: str) -> None:
    run = hostile.crawl.runs[source]
    assert run.status == "credentials_expired"
    assert run.new == 0 and natives(hostile.store, source) == []
    alerts = hostile.store.find("alerts", Alert, where={"source": source})
    assert [a.kind for a in alerts] == ["credentials_expired"]


def test_captcha_page_blocks_the_source_and_robots_disallow_fails_it(hostile: Hostile) -> None:
    assert hostile.crawl.runs["captcha-tieba"].status == "blocked"
    assert natives(hostile.store, "captcha-tieba") == []
    robots = hostile.crawl.runs["robots-html"]
    assert robots.status == "failed"
    assert hostile.crawl.detail("robots-html")["errors"] == {"robots_disallowed": 1}
    assert not [t for t, _ in hostile.site.log if t.startswith("/private/")]


def test_credentials_are_sent_but_never_logged(hostile: Hostile) -> None:
    sent = hostile.site.headers["/hostile/weibo?containerid=1"]
    assert sent.get("Cookie") == "SUB=s3cret-cookie-value-do-not-log"
    assert "s3cret-cookie-value-do-not-log" not in hostile.crawl.stderr
    assert not hostile.site.headers["/hostile/list.html"].get("Cookie")  # only where configured
    assert hostile.crawl.returncode == 1  # some sources did not end ok
