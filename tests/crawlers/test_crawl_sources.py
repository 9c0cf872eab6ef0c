"""Every source type and adapter, crawled for real from the fixture site by the shipped
sources.yaml, twice: the second crawl must store nothing new and re-fetch nothing it knows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from crawlers.fixtures.server import FixtureSite
from store import Settings, Store
from store.base import PostQuery
from store.records import Checkpoint, Post, make_id
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import DEFAULT_SOURCES, LOCAL_HOSTS, Crawl, run_crawl

DEMO = [
    "demo-news",
    "demo-gov",
    "demo-html",
    "demo-bulletin",
    "demo-weibo",
    "demo-tieba",
    "demo-hotline",
]
EXPECTED = {
    "demo-news": 5,
    "demo-gov": 5,
    "demo-html": 4,
    "demo-bulletin": 3,
    "demo-weibo": 11,
    "demo-tieba": 11,
    "demo-hotline": 3,
}
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Crawled:
    settings: Settings
    store: Store
    first: Crawl
    second: Crawl
    requests_after_first: list[str]
    requests_after_second: list[str]
    posts_after_first: int


@pytest.fixture(scope="module")
def crawled(site: FixtureSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    tmp = tmp_path_factory.mktemp("demo-crawl")
    settings = make_settings(tmp, sources_file=DEFAULT_SOURCES, crawler_internal_hosts=LOCAL_HOSTS)
    store = open_backend("sqlite", settings, None)
    start = len(site.log)
    first = run_crawl(settings, DEMO, site, tmp)
    after_first = [t for t, _ in site.log[start:]]
    count_first = store.count_posts(PostQuery())
    second = run_crawl(settings, DEMO, site, tmp)
    after_second = [t for t, _ in site.log[start + len(after_first) :]]
    yield Crawled(settings, store, first, second, after_first, after_second, count_first)
    store.close()


def by_native(store: Store, source: str) -> dict[str, Post]:
    page = store.search_posts(PostQuery(terms={"source": [source]}), size=100)
    return {p.native_id or "": p for p in page.posts}


def test_every_source_type_and_adapter_stores_its_posts(crawled: Crawled) -> None:
    assert crawled.first.returncode == 0, crawled.first.stderr[-3000:]
    for source, expected in EXPECTED.items():
        run = crawled.first.runs[source]
        assert run.status == "ok", (source, run.detail)
        assert run.new == expected, (source, run)
        assert run.fetched == run.new + run.duplicate + run.dropped
        assert crawled.store.count_posts(PostQuery(terms={"source": [source]})) == expected
    assert crawled.posts_after_first == sum(EXPECTED.values())


def test_polite_user_agent_names_the_operator(crawled: Crawled, site: FixtureSite) -> None:
    agent = site.headers["/news/list.html"]["User-Agent"]
    assert crawled.settings.crawler_contact in agent and "Tingfeng" in agent
    assert "/robots.txt" in crawled.requests_after_first


def test_feeds_rss_atom_and_rdf(crawled: Crawled) -> None:
    news = by_native(crawled.store, "demo-news")
    assert set(news) == {f"qhrb-100{i}" for i in range(1, 6)}
    assert "自来水厂" in (news["qhrb-1003"].title or "")
    assert "<p>" not in news["qhrb-1003"].text  # content:encoded HTML became text
    gov = by_native(crawled.store, "demo-gov")
    assert set(gov) == {
        "urn:qinghe:gov:2024-017",
        "urn:qinghe:gov:2024-018",
        "urn:qinghe:gov:2024-019",
        "http://jiangbei.qinghe.example/notice/501.html",
        "http://jiangbei.qinghe.example/notice/502.html",
    }
    assert "四级应急响应" in gov["urn:qinghe:gov:2024-017"].text_norm


def test_html_list_detail_with_wrong_and_missing_charsets(crawled: Crawled) -> None:
    html = by_native(crawled.store, "demo-html")
    assert set(html) == {"3001", "3002", "3003", "3004"}
    big5 = html["3003"]  # Big5 bytes declared as UTF-8
    assert big5.title == "兩岸青年文化交流活動在青禾舉辦"
    assert "來自海峽兩岸" in big5.text and "来自海峡两岸" in big5.text_norm
    assert "\ufffd" not in big5.text
    assert "蔬菜价格" in html["3004"].text  # GB18030 without any declaration
    assert "最强降雨" in html["3001"].text and "青禾新闻网版权所有" not in html["3001"].text
    bulletin = by_native(crawled.store, "demo-bulletin")
    assert set(bulletin) == {"701", "702", "703"}


def test_weibo_adapter(crawled: Crawled) -> None:
    weibo = by_native(crawled.store, "demo-weibo")
    assert len(weibo) == 11
    assert "泵房正在抢修" in weibo["4990000000000107"].text  # long text fetched
    help_post = weibo["4990000000000109"]
    assert help_post.engagement.reposts == 2345 and help_post.engagement.likes == 10000
    assert help_post.region_raw == "发布于 江苏"
    assert "[祈祷]" in help_post.text and "<span" not in help_post.text
    assert help_post.author and help_post.author != "6100000012"  # pseudonymized
    assert weibo["4990000000000101"].created_at == datetime(2022, 1, 1, 18, 46, tzinfo=TZ)
    assert "朋友们" in weibo["4990000000000105"].text_norm  # traditional -> simplified
    fetched = weibo["4990000000000110"].fetched_at
    assert abs((fetched - weibo["4990000000000110"].created_at).total_seconds()) < 120  # 刚刚


def test_tieba_adapter(crawled: Crawled) -> None:
    tieba = by_native(crawled.store, "demo-tieba")
    assert set(tieba) == {
        "150000000101", "150000000102", "150000000103",
        "150000000201", "150000000202", "150000000203", "150000000204",
        "150000000301", "150000000302", "150000000401", "150000000402",
    }  # fmt: skip
    assert tieba["150000000201"].title == "城南哪里还能买到桶装水？急！"
    assert tieba["150000000202"].title is None
    assert "[大拇指]" in tieba["150000000202"].text


def test_json_api_source(crawled: Crawled) -> None:
    hotline = by_native(crawled.store, "demo-hotline")
    assert set(hotline) == {"rx20240501", "rx20240502", "rx20240503"}
    assert hotline["rx20240503"].engagement.reposts == 2
    assert hotline["rx20240501"].url and hotline["rx20240501"].url.endswith("/hotline/20240501")


def test_near_duplicates_across_sources_are_linked(crawled: Crawled) -> None:
    html = by_native(crawled.store, "demo-html")
    weibo = by_native(crawled.store, "demo-weibo")
    news_rain = make_id("demo-news", "qhrb-1001")
    news_debunk = make_id("demo-news", "qhrb-1003")
    pairs = [(html["3001"].id, news_rain), (weibo["4990000000000104"].id, news_debunk)]
    for copy_id, original_id in pairs:
        copy, original = crawled.store.get_posts([copy_id, original_id])
        # whichever was stored second points at the other
        assert (copy.dup_of, original.dup_of) in {(original.id, None), (None, copy.id)}
    linked = crawled.store.count_posts(PostQuery()) - crawled.store.count_posts(
        PostQuery(missing=["dup_of"])
    )
    assert linked == 2  # and nothing else was linked


def test_recrawl_stores_nothing_twice_and_refetches_nothing_known(crawled: Crawled) -> None:
    second = crawled.second
    assert second.returncode == 0, second.stderr[-3000:]
    assert crawled.store.count_posts(PostQuery()) == crawled.posts_after_first
    for source in EXPECTED:
        assert second.runs[source].new == 0, source
        assert second.runs[source].status == "ok"
    assert second.detail("demo-news")["not_modified"] == 1
    assert second.detail("demo-gov")["not_modified"] == 2
    again = crawled.requests_after_second
    assert not [t for t in again if t.startswith("/news/2024/")]  # detail pages of known posts
    assert not [t for t in again if t.startswith("/statuses/extend")]
    assert not [t for t in again if t.startswith("/p/")]  # no thread changed
    assert second.runs["demo-weibo"].duplicate >= 4  # the head page was read and recognised


def test_checkpoints_are_saved(crawled: Crawled) -> None:
    for source in EXPECTED:
        checkpoint = crawled.store.get("checkpoints", source, Checkpoint)
        assert checkpoint is not None and checkpoint.newest_at is not None, source
    news = crawled.store.get("checkpoints", "demo-news", Checkpoint)
    assert news is not None and news.etag
    tieba = crawled.store.get("checkpoints", "demo-tieba", Checkpoint)
    assert tieba is not None and '"8100000002": 4' in (tieba.cursor or "")


def test_sources_api_reports_health(crawled: Crawled) -> None:
    from api.app import create_app
    from tests.auth import make_tokens

    tokens = make_tokens(crawled.store, crawled.settings)
    with TestClient(create_app(crawled.settings, store=crawled.store)) as client:
        assert client.get("/api/v1/sources").status_code == 401
        response = client.get(
            "/api/v1/sources", headers={"Authorization": f"Bearer {tokens['patrol']}"}
        )
    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    assert items["demo-weibo"]["state"] == "ok"
    assert items["demo-weibo"]["last_run"]["status"] == "ok"
    assert items["example-gov-rss"]["state"] == "disabled"
    assert items["demo-news"]["freshness_s"] is not None


def test_sources_status_command_shows_every_source(crawled: Crawled) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from crawlers.run import settings_env

    result = CliRunner().invoke(
        app, ["sources", "status"], env=settings_env(crawled.settings), catch_exceptions=False
    )
    assert result.exit_code == 0
    assert result.output.count("demo-") >= len(EXPECTED)  # one row per source (names may be cut)
