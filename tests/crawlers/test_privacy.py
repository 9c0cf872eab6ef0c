"""Clear author ids never reach a log or a file: a crawl with dropped items, logged at DEBUG
(Scrapy then logs every scraped item too), leaves the ids in no log line and in no file under
the data dir, while the stored posts carry the keyed hashes of those very ids."""

from __future__ import annotations

from pathlib import Path

from crawlers.fixtures.server import FixtureSite
from ingest.posts import pseudonymize
from store.base import PostQuery
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import LOCAL_HOSTS, TEST_SOURCES, run_crawl

FIXTURE = Path(__file__).resolve().parents[2] / "crawlers/fixtures/site/privacy/api.json"
CLEAR_IDS = ["5123456789", "5234567891", "5345678912", "5456789123", "5567891234"]


def test_clear_author_ids_reach_no_log_and_no_file(site: FixtureSite, tmp_path: Path) -> None:
    assert all(uid in FIXTURE.read_text("utf-8") for uid in CLEAR_IDS)
    settings = make_settings(
        tmp_path, sources_file=TEST_SOURCES, crawler_internal_hosts=LOCAL_HOSTS
    )
    crawl = run_crawl(settings, ["privacy-api"], site, tmp_path, args=["--set", "LOG_LEVEL=DEBUG"])
    run = crawl.runs["privacy-api"]
    assert (run.new, run.dropped) == (2, 3)
    assert crawl.detail("privacy-api")["dropped"] == {
        "missing_date": 1,
        "empty_text": 1,
        "invalid_date": 1,
    }
    log = crawl.stderr
    assert log.count("Dropped: source privacy-api") == 3  # the drops were logged ...
    assert "Scraped from" in log and "native_id='pv1'" in log  # ... and so was every item
    for uid in CLEAR_IDS:
        assert uid not in log, uid

    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert files  # the store's database at least
    for path in files:
        data = path.read_bytes()
        for uid in CLEAR_IDS:
            assert uid.encode() not in data, (path, uid)

    store = open_backend("sqlite", settings, None)
    try:
        posts = store.search_posts(PostQuery(terms={"source": ["privacy-api"]}), size=10).posts
    finally:
        store.close()
    key = settings.pseudonym_key.get_secret_value()
    assert {p.native_id: p.author for p in posts} == {
        "pv1": pseudonymize(key, "hotline", "5123456789"),
        "pv2": pseudonymize(key, "hotline", "5234567891"),
    }
