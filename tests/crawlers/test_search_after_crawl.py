"""A crawled post is found by full-text search within seconds of its crawl, on both backends,
with no enrichment run: the crawl pipeline itself writes the analyzer's tokens, and the search
is what a person's query does (no forced refresh; Elasticsearch refreshes every second)."""

from __future__ import annotations

import time
from pathlib import Path

from analysis.text import SEGMENTER_VERSION
from crawlers.fixtures.server import FixtureSite
from store import Settings, Store
from store.base import PostQuery
from store.records import make_id
from tests.crawlers.conftest import DEFAULT_SOURCES, LOCAL_HOSTS, run_crawl

FRESH_WITHIN_S = 10.0  # a bound on freshness, not a speed target: ES refreshes every 1 s


def test_crawled_posts_are_searchable_within_seconds(
    store: Store, settings: Settings, site: FixtureSite, tmp_path: Path
) -> None:
    crawl_settings = settings.model_copy(
        update={"sources_file": DEFAULT_SOURCES, "crawler_internal_hosts": LOCAL_HOSTS}
    )
    crawl = run_crawl(crawl_settings, ["demo-news", "demo-weibo"], site, tmp_path)
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    crawled_at = time.monotonic()

    expected = {
        make_id("demo-news", "qhrb-1003"),
        *(make_id("demo-weibo", f"49900000000001{n:02d}") for n in (4, 8)),
    }
    found: set[str] = set()
    while time.monotonic() - crawled_at < FRESH_WITHIN_S:
        hits = store.search_posts(PostQuery(q="停水"), size=20).posts
        found = {p.id for p in hits}
        if found == expected:
            break
        time.sleep(0.1)
    waited = time.monotonic() - crawled_at
    assert found == expected, f"after {waited:.1f}s search found {sorted(found)}"

    posts = [p for p in hits if p.id in expected]
    assert all(p.segmenter == SEGMENTER_VERSION for p in posts)
    assert all(p.nlp.version is None for p in posts)  # found before any enrichment
