"""The sources file: validated at load, errors name the file, the source and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crawlers.errors import SourceConfigError, UnknownSource
from crawlers.sources import FeedSource, HtmlSource, WeiboSource, load_sources, parse_sources
from tests.crawlers.conftest import DEFAULT_SOURCES, TEST_SOURCES


def feed(**extra: Any) -> dict[str, Any]:
    return {
        "name": "gov",
        "type": "feed",
        "platform": "gov",
        "urls": ["https://x.example/rss"],
        **extra,
    }


def test_shipped_sources_file_is_valid_and_keeps_examples_disabled() -> None:
    sources = load_sources(DEFAULT_SOURCES)
    assert {s.type for s in sources} == {"feed", "html", "json_api", "weibo", "tieba"}
    assert sources.enabled() == []  # nothing crawls the internet until an operator says so
    demo = [s for s in sources if s.demo]
    assert {s.name for s in demo} >= {"demo-news", "demo-html", "demo-weibo", "demo-tieba"}
    assert all("127.0.0.1:8765" in s.entry_urls()[0] for s in demo)
    load_sources(TEST_SOURCES)


def test_variables_are_substituted_and_can_be_overridden() -> None:
    doc = {"vars": {"base": "http://a.example"}, "sources": [feed(urls=["${base}/rss"])]}
    assert parse_sources(doc).get("gov").entry_urls() == ["http://a.example/rss"]
    site = parse_sources(doc, variables={"base": "http://127.0.0.1:9"}).get("gov")
    assert site.entry_urls() == ["http://127.0.0.1:9/rss"]


def test_defaults_merge_into_each_source() -> None:
    doc = {
        "defaults": {"politeness": {"delay": "5s", "retries": 4}, "schedule": {"every": "2m"}},
        "sources": [feed(politeness={"delay": "1s"})],
    }
    source = parse_sources(doc).get("gov")
    assert isinstance(source, FeedSource)
    assert source.politeness.delay == 1.0 and source.politeness.retries == 4
    assert source.schedule.every == 120.0


@pytest.mark.parametrize(
    ("item", "source", "field", "words"),
    [
        (feed(urls=[]), "gov", "urls", "at least 1"),
        (feed(urls=["ftp://x"]), "gov", "urls.0", "pattern"),
        (feed(schedule={"every": "10 minutes"}), "gov", "schedule.every", "duration"),
        (feed(schedule={"cron": "61 * * * *"}), "gov", "schedule", "cron"),
        (feed(schedule={"every": "5m", "cron": "* * * * *"}), "gov", "schedule", "exactly one"),
        (feed(politeness={"concurrency": 0}), "gov", "politeness.concurrency", "greater"),
        (feed(colour="red"), "gov", "colour", "Extra inputs"),
        (feed(name="Bad Name"), "Bad Name", "name", "pattern"),
        ({"name": "x", "type": "rss", "platform": "p"}, "x", "type", "unknown type"),
        ({"name": "x", "platform": "p"}, "x", "type", "missing"),
        (
            {"name": "w", "type": "weibo"},
            "w",
            "api_url",
            "Field required",
        ),
        (
            {
                "name": "h",
                "type": "html",
                "platform": "news",
                "start_url": "http://x/",
                "list": {"links": "a::attr(href)"},
            },
            "h",
            "",
            "detail",
        ),
        (
            {
                "name": "h",
                "type": "html",
                "platform": "news",
                "start_url": "http://x/",
                "list": {"item": "div"},
            },
            "h",
            "list",
            "fields.text",
        ),
        (
            {
                "name": "h",
                "type": "html",
                "platform": "news",
                "start_url": "http://x/",
                "list": {"item": "div", "fields": {"text": "p"}},
                "id_pattern": "no-group",
            },
            "h",
            "id_pattern",
            "capturing group",
        ),
    ],
)
def test_errors_name_source_and_field(
    item: dict[str, Any], source: str, field: str, words: str
) -> None:
    with pytest.raises(SourceConfigError) as exc:
        parse_sources({"sources": [item]}, "sources.yaml")
    assert exc.value.source == source
    assert (exc.value.field or "") == field
    message = str(exc.value)
    assert message.startswith("sources.yaml, source ")
    assert words in message


def test_unknown_variable_duplicate_name_and_unknown_source() -> None:
    with pytest.raises(SourceConfigError, match=r"unknown variable \$\{nope\}"):
        parse_sources({"sources": [feed(urls=["${nope}/rss"])]})
    with pytest.raises(SourceConfigError, match="duplicate source name"):
        parse_sources({"sources": [feed(), feed()]})
    with pytest.raises(UnknownSource, match="no source named 'other'"):
        parse_sources({"sources": [feed()]}).get("other")


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="cannot read"):
        load_sources(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: [unclosed\n", "utf-8")
    with pytest.raises(SourceConfigError, match="not valid YAML at line"):
        load_sources(bad)


def test_type_specific_models() -> None:
    sources = load_sources(DEFAULT_SOURCES)
    assert isinstance(sources.get("demo-weibo"), WeiboSource)
    html = sources.get("demo-bulletin")
    assert isinstance(html, HtmlSource) and html.listing.page is not None
    assert sources.get("demo-weibo").platform == "weibo"


def test_credentials_from_settings_and_file(tmp_path: Path) -> None:
    from crawlers.credentials import credential_for, load_credentials
    from crawlers.errors import CredentialsError
    from tests.conftest import make_settings

    path = tmp_path / "creds.json"
    path.write_text('{"hotline": {"headers": {"Authorization": "Bearer t0ken-value"}}}', "utf-8")
    settings = make_settings(
        tmp_path,
        crawler_credentials_file=path,
        crawler_credentials='{"weibo": {"cookies": {"SUB": "c00kie-value"}}}',
    )
    entries = load_credentials(settings)
    assert set(entries) == {"hotline", "weibo"}
    assert entries["weibo"].cookies == {"SUB": "c00kie-value"}
    assert "c00kie-value" not in repr(entries) and "t0ken-value" not in repr(entries)
    assert credential_for(settings, None) is None
    with pytest.raises(CredentialsError, match="needs credentials 'tieba'") as exc:
        credential_for(settings, "tieba")
    assert "c00kie" not in str(exc.value)
    broken = make_settings(tmp_path, crawler_credentials='{"weibo": {"cookies": "SUB=x"}}')
    with pytest.raises(CredentialsError, match="entry 'weibo' field 'cookies'"):
        load_credentials(broken)
    with pytest.raises(CredentialsError, match="not valid JSON"):
        load_credentials(make_settings(tmp_path, crawler_credentials="{nope"))


def test_credentials_name_their_hosts(tmp_path: Path) -> None:
    from crawlers.credentials import load_credentials
    from crawlers.errors import CredentialsError
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path,
        crawler_credentials='{"w": {"hosts": ["M.Weibo.cn."], "cookies": {"SUB": "c00kie"}}}',
    )
    entry = load_credentials(settings)["w"]
    assert entry.hosts == ("m.weibo.cn",)
    assert "c00kie" not in repr(entry) and "m.weibo.cn" in repr(entry)
    bad = make_settings(tmp_path, crawler_credentials='{"w": {"hosts": ["https://m.weibo.cn/"]}}')
    with pytest.raises(CredentialsError, match="entry 'w' field 'hosts'"):
        load_credentials(bad)


def test_a_source_may_name_extra_hosts_and_opt_out_of_tls(tmp_path: Path) -> None:
    from crawlers.errors import SourceConfigError
    from crawlers.sources import parse_sources

    doc = {
        "sources": [
            {
                "name": "cdn-news",
                "type": "html",
                "platform": "news",
                "start_url": "https://news.example.cn/list.html",
                "list": {"links": "a::attr(href)"},
                "detail": {"text": "div.article"},
                "extra_hosts": ["img.example-cdn.com"],
                "verify_tls": False,
            }
        ]
    }
    source = parse_sources(doc).get("cdn-news")
    assert source.allowed_hosts() == ["img.example-cdn.com", "news.example.cn"]
    assert source.verify_tls is False
    assert (
        parse_sources({"sources": [{**doc["sources"][0], "verify_tls": True}]})
        .get("cdn-news")
        .verify_tls
    )
    doc["sources"][0]["extra_hosts"] = ["https://img.example-cdn.com/"]
    with pytest.raises(SourceConfigError, match=r"source 'cdn-news', field 'extra_hosts\.0'"):
        parse_sources(doc)
