"""Feed edge cases, crawled from the fixture site (one source per feed, one crawl): every stored
field of every entry is exactly what the feed says. Cases: Atom 0.3 base64 and escaped modes,
Atom 1.0 xhtml/html/text titles and content, RSS guid isPermaLink as the link, content:encoded
and xhtml:body over the description, CDF, JSON Feed, Windows-1252 declared as ISO-8859-1, the
HTTP charset over the XML declaration, the XML declaration without an HTTP charset, uppercase
hex character references, GB18030 with four-byte characters, Big5 declared as GBK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawlers.fixtures.server import FixtureSite
from ingest.posts import pseudonymize
from store import Settings
from store.base import PostQuery
from store.records import Post
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import LOCAL_HOSTS, Crawl, run_crawl

HERE = Path(__file__).resolve().parent
CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (HERE / "feed_cases.yaml").read_text("utf-8")
)
FIELDS = ("native_id", "url", "title", "text", "created_at", "author")


def source_name(file: str) -> str:
    return "feed-" + file.rsplit(".", 1)[0].replace(".", "-")


def expected_value(row: dict[str, Any], field: str, settings: Settings) -> Any:
    value = row[field]
    if field == "created_at":
        return datetime.fromisoformat(value)
    if field == "author" and value is not None:
        return pseudonymize(settings.pseudonym_key.get_secret_value(), "news", value)
    return value


@pytest.fixture(scope="module")
def feeds(
    site: FixtureSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Crawl, dict[str, list[Post]]]]:
    tmp = tmp_path_factory.mktemp("feeds")
    sources = {
        "defaults": {
            "politeness": {"delay": "0s", "concurrency": 4, "autothrottle": False, "timeout": "5s"}
        },
        "sources": [
            {
                "name": source_name(file),
                "type": "feed",
                "platform": "news",
                "urls": [f"${{fixture}}/feeds/{file}"],
            }
            for file in CASES
        ],
    }
    path = tmp / "feeds.yaml"
    path.write_text(yaml.safe_dump(sources, allow_unicode=True), "utf-8")
    settings = make_settings(tmp, sources_file=path, crawler_internal_hosts=LOCAL_HOSTS)
    crawl = run_crawl(settings, [source_name(f) for f in CASES], site, tmp)
    store = open_backend("sqlite", settings, None)
    try:
        posts = {
            file: store.search_posts(
                PostQuery(terms={"source": [source_name(file)]}), size=50
            ).posts
            for file in CASES
        }
    finally:
        store.close()
    yield settings, crawl, posts


@pytest.mark.parametrize("file", sorted(CASES))
def test_every_field_of_every_entry_is_exact(
    feeds: tuple[Settings, Crawl, dict[str, list[Post]]], file: str
) -> None:
    settings, crawl, posts = feeds
    run = crawl.runs[source_name(file)]
    assert run.status == "ok", crawl.detail(source_name(file))
    assert run.dropped == 0 and run.errors == 0, crawl.detail(source_name(file))
    by_id = {p.native_id: p for p in posts[file]}
    expected = CASES[file]
    assert sorted(by_id) == sorted(row["native_id"] for row in expected)
    wrong = [
        (row["native_id"], field, getattr(by_id[row["native_id"]], field))
        for row in expected
        for field in FIELDS
        if getattr(by_id[row["native_id"]], field) != expected_value(row, field, settings)
    ]
    assert wrong == []


def test_the_cases_cover_every_fixture_feed() -> None:
    served = {p.name for p in (HERE.parent.parent / "crawlers/fixtures/site/feeds").iterdir()}
    assert served == set(CASES)
    assert sum(len(rows) * len(FIELDS) for rows in CASES.values()) == 144
