"""A crawl killed mid-walk resumes from its checkpoint: no page it finished is fetched again,
every post ends up stored exactly once."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from crawlers.fixtures.server import FixtureSite
from store.base import PostQuery
from store.records import Checkpoint
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import LOCAL_HOSTS, TEST_SOURCES, run_crawl, start_crawl


def _wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_killed_crawl_resumes_without_duplicates(site: FixtureSite, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, sources_file=TEST_SOURCES, crawler_internal_hosts=LOCAL_HOSTS
    )
    store = open_backend("sqlite", settings, None)
    gate = threading.Event()
    site.gates["/api/bulk?pages=5&page=3"] = gate
    try:
        proc = start_crawl(settings, ["bulk"], site, tmp_path)

        def cursor_at_page_3() -> bool:
            checkpoint = store.get("checkpoints", "bulk", Checkpoint)
            if checkpoint is None or not checkpoint.cursor:
                return False
            return json.loads(checkpoint.cursor)["walk"]["next"] == "3"

        _wait_for(
            lambda: cursor_at_page_3() and bool(site.requests_for("/api/bulk?pages=5&page=3"))
        )
        proc.kill()  # mid-walk: page 3 is in flight
        proc.communicate(timeout=30)
        assert store.count_posts(PostQuery(terms={"source": ["bulk"]})) == 20
    finally:
        del site.gates["/api/bulk?pages=5&page=3"]
        gate.set()

    before = len(site.log)
    crawl = run_crawl(settings, ["bulk"], site, tmp_path)
    pages = [t.rsplit("page=", 1)[1] for t, _ in site.log[before:] if t.startswith("/api/bulk")]
    assert pages == ["3", "4", "5", "6", "1"]  # resume 3..end, then the head (all known)
    run = crawl.runs["bulk"]
    assert run.status == "ok" and run.new == 30 and run.duplicate == 10
    posts = store.search_posts(PostQuery(terms={"source": ["bulk"]}), size=100).posts
    assert len(posts) == 50 and len({p.native_id for p in posts}) == 50
    checkpoint = store.get("checkpoints", "bulk", Checkpoint)
    assert checkpoint is not None and checkpoint.cursor is None
    store.close()
