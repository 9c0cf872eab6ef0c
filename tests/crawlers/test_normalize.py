"""Normalization: dates (Weibo, RSS/Atom, Chinese), counts, HTML -> text, charsets."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crawlers.feeds import FeedError, parse_feed
from crawlers.middlewares import retry_after_seconds
from crawlers.normalize import (
    declared_charsets,
    decode_body,
    html_to_text,
    parse_count,
    parse_datetime,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("刚刚", datetime(2024, 5, 1, 10, 0, tzinfo=TZ)),
        ("3分钟前", datetime(2024, 5, 1, 9, 57, tzinfo=TZ)),
        ("2小时前", datetime(2024, 5, 1, 8, 0, tzinfo=TZ)),
        ("昨天 12:30", datetime(2024, 4, 30, 12, 30, tzinfo=TZ)),
        ("今天 08:05", datetime(2024, 5, 1, 8, 5, tzinfo=TZ)),
        ("01月01日 18:46", datetime(2024, 1, 1, 18, 46, tzinfo=TZ)),
        ("12-31", datetime(2023, 12, 31, tzinfo=TZ)),  # a future month-day is last year's
        ("04-30", datetime(2024, 4, 30, tzinfo=TZ)),
        ("Sat Jan 01 18:46:00 +0800 2022", datetime(2022, 1, 1, 18, 46, tzinfo=TZ)),
        ("Wed, 01 May 2024 00:30:00 GMT", datetime(2024, 5, 1, 8, 30, tzinfo=TZ)),
        ("Wed, 01 May 2024 08:30:00 +0800", datetime(2024, 5, 1, 8, 30, tzinfo=TZ)),
        ("2024-05-01T00:30:00Z", datetime(2024, 5, 1, 8, 30, tzinfo=TZ)),
        ("2024-05-01T08:30:00+08:00", datetime(2024, 5, 1, 8, 30, tzinfo=TZ)),
        ("2024-05-01 08:30", datetime(2024, 5, 1, 8, 30, tzinfo=TZ)),
        ("2024/4/30", datetime(2024, 4, 30, tzinfo=TZ)),
        ("2024年4月30日 09:15", datetime(2024, 4, 30, 9, 15, tzinfo=TZ)),
        ("发布于 2024-04-01 10:00", datetime(2024, 4, 1, 10, 0, tzinfo=TZ)),
        ("09:30", datetime(2024, 5, 1, 9, 30, tzinfo=TZ)),
        ("11:30", datetime(2024, 4, 30, 11, 30, tzinfo=TZ)),  # later today: yesterday's
        (1714530600, datetime(2024, 5, 1, 10, 30, tzinfo=TZ)),
        ("1714530600000", datetime(2024, 5, 1, 10, 30, tzinfo=TZ)),
    ],
)
def test_dates(raw: object, expected: datetime) -> None:
    value = parse_datetime(raw, now=NOW, tz=TZ)
    assert value == expected
    assert value is not None and value.tzinfo is not None


@pytest.mark.parametrize(
    "raw",
    [None, "", "not a date", "上周三下午", "Thu, 32 Foo 2024", "2024-13-45", "1899-01-01", True],
)
def test_unreadable_dates_are_none(raw: object) -> None:
    assert parse_datetime(raw, now=NOW, tz=TZ) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.2万", 12000),
        ("100万+", 1_000_000),
        ("评论 12", 12),
        ("转发", 0),
        (5, 5),
        (-3, 0),
        ("3亿", 300_000_000),
        (None, 0),
        ("1,024", 1024),
    ],
)
def test_counts(raw: object, expected: int) -> None:
    assert parse_count(raw) == expected


def test_html_to_text_keeps_emoticons_and_line_breaks() -> None:
    html = (
        '今天<a href="/n/x">@某人</a> 说<br/>第二行<span class="url-icon">'
        '<img alt="[泪]" src="x"></span><script>bad()</script><style>p{}</style>尾巴<p>段落</p>'
    )
    assert html_to_text(html) == "今天@某人 说\n第二行[泪]尾巴\n段落"
    assert html_to_text("纯文本，没有标签") == "纯文本，没有标签"
    assert html_to_text("") == ""


TRAD = "網友稱明天全市將停水，經核實，該消息不實，請大家不要轉發謠言。"
SIMP = "市应急管理局发布通知：受强降雨影响，部分路段积水严重，请市民减少外出。"


@pytest.mark.parametrize(
    ("text", "encoding", "declared"),
    [
        (TRAD, "big5", ["utf-8"]),  # wrong declaration
        (TRAD, "big5", []),  # none
        (TRAD, "big5", ["gb18030"]),  # wrong, and GBK would decode it without error
        (SIMP, "gbk", ["utf-8"]),
        (SIMP, "gbk", ["big5hkscs"]),
        (SIMP, "gb18030", []),
        (SIMP, "gbk", ["gb18030"]),  # right
        (SIMP, "utf-8", ["gb18030"]),  # valid UTF-8 wins over a wrong legacy declaration
    ],
)
def test_charset_detection(text: str, encoding: str, declared: list[str]) -> None:
    body = f"<html><body><p>{text}</p></body></html>".encode(encoding)
    decoded, _ = decode_body(body, declared)
    assert text in decoded


def test_declared_charsets_in_order_of_authority() -> None:
    body = b'<?xml version="1.0" encoding="GB2312"?><meta charset="big5">'
    assert declared_charsets("text/html; charset=UTF-8", body) == ["utf-8", "gb18030", "big5hkscs"]
    assert declared_charsets(None, b"<html>") == []


def test_feed_formats() -> None:
    rss = parse_feed(
        '<?xml version="1.0" encoding="gbk"?><rss><channel><item><title>标题</title>'
        "<guid>g1</guid><link>/a</link><pubDate>Wed, 01 May 2024 08:30:00 +0800</pubDate>"
        "<description><![CDATA[<p>正文</p>]]></description></item></channel></rss>".encode("gbk")
    )
    assert [(e.id, e.link, e.title, e.content) for e in rss] == [
        ("g1", "/a", "标题", "<p>正文</p>")
    ]
    atom = parse_feed(
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:1</id><title>公告</title>'
        '<link rel="self" href="/self"/><link href="/alt"/><updated>2024-05-01T08:30:00+08:00</updated>'
        "<author><name>市政府</name></author><summary>摘要</summary></entry></feed>".encode()
    )
    assert [(e.id, e.link, e.author, e.published) for e in atom] == [
        ("urn:1", "/alt", "市政府", "2024-05-01T08:30:00+08:00")
    ]
    with pytest.raises(FeedError):
        parse_feed("<html><body>不是订阅源</body></html>".encode())
    with pytest.raises(FeedError):
        parse_feed(b'{"version": 1, "items": []}', "application/json")
    broken = parse_feed("<rss><channel><item><title>没闭合<guid>x</guid></item>".encode())
    assert len(broken) == 1  # recovered


def test_feeds_expand_no_declared_entities() -> None:
    laughs = "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "哈" * 10}">' for i in range(10)
    )
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{laughs}'
        '<!ENTITY x SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel><item>'
        "<title>&l9;&x;</title><guid>g</guid><description>正文</description></item></channel></rss>"
    )
    [entry] = parse_feed(doc.encode())
    assert "哈" not in (entry.title or "") and "root:" not in (entry.title or "")
    assert (entry.id, entry.content) == ("g", "正文")


def test_retry_after_header() -> None:
    assert retry_after_seconds(b"120") == 120.0
    now = datetime(2024, 5, 1, 0, 0, tzinfo=ZoneInfo("UTC"))
    assert retry_after_seconds("Wed, 01 May 2024 00:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds(b"soon") is None
    assert retry_after_seconds(None) is None
