"""End to end on both storage backends: crawl -> stored posts searchable by a Chinese query,
near-duplicates linked, run stats and checkpoints stored."""

from __future__ import annotations

from pathlib import Path

from crawlers.fixtures.server import FixtureSite
from store import Settings, Store
from store.base import PostQuery
from store.records import Checkpoint, SourceRun, make_id
from tests.crawlers.conftest import DEFAULT_SOURCES, LOCAL_HOSTS, run_crawl


def test_crawl_then_search_in_chinese(
    store: Store, settings: Settings, site: FixtureSite, tmp_path: Path
) -> None:
    crawl_settings = settings.model_copy(
        update={"sources_file": DEFAULT_SOURCES, "crawler_internal_hosts": LOCAL_HOSTS}
    )
    crawl = run_crawl(crawl_settings, ["demo-news", "demo-weibo"], site, tmp_path)
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    store.refresh()
    assert store.count_posts(PostQuery()) == 16

    hits = store.search_posts(PostQuery(q="停水"), size=20).posts
    weibo = {make_id("demo-weibo", f"49900000000001{n:02d}") for n in (4, 8)}
    assert {p.id for p in hits} == {make_id("demo-news", "qhrb-1003"), *weibo}

    originals = store.search_posts(PostQuery(q="停水", missing=["dup_of"]), size=20).posts
    assert len(originals) == 2  # the reposted debunk is counted once when copies are excluded

    runs = store.find("source-runs", SourceRun, where={"source": "demo-weibo"})
    assert [(r.status, r.new) for r in runs] == [("ok", 11)]
    assert store.get("checkpoints", "demo-news", Checkpoint) is not None
