"""Crawled text chosen to make fact extraction slow: long digit and numeral runs, long
whitespace runs, thousands of numbers. Each input once cost tens of seconds per draft check
(quadratic regexes retried at every position of a run); now the whole set stays far inside a
generous bound, and normal text still yields the same facts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from store.records import Draft, DraftSource
from triage.replies.compose import answer_sentences, quote_of
from triage.replies.exports import export
from triage.replies.facts import MAX_EXTRACT_CHARS, extract_facts, source_facts
from triage.replies.grounding import check_text, split_sentences, strip_markers

N = 20_000
BOUND_SECONDS = 5.0  # the old code took 50-120 s on the first input alone on this machine
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def source(text: str) -> DraftSource:
    return DraftSource(ref=1, kind="post", id="p1", name="微博网民", text=text, at=NOW)


ATTACKS: dict[str, Callable[[], object]] = {
    "digit run in a source": lambda: source_facts(source("1" * N)),
    "digit run in a sentence": lambda: extract_facts("网传" + "1" * N + "人"),
    "numeral run in a sentence": lambda: extract_facts("三" * N),
    "numeral run in a source": lambda: source_facts(source("十" * N + "月")),
    "digit run, checked draft": lambda: check_text(
        "标题", f"网传{'9' * N}月。[1]", [source("1" * N)]
    ),
    "space runs": lambda: check_text("标题", "a" + " " * N + "b[1]", [source(" " * N)]),
    "thousands of numbers": lambda: source_facts(source("1 " * (N // 2))),
    "space run before no marker": lambda: strip_markers(" " * N + "x"),
    "space run in a quoted post": lambda: quote_of("网传" + " " * N + "消息"),
    "space run in a debunk": lambda: answer_sentences("经核实" + " " * N + "不实。"),
    "long stock-like sentence": lambda: check_text("标题", "请广大市民" * (N // 5), []),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_adversarial_input_is_fast(name: str) -> None:
    extract_facts("武汉市5月1日3例")  # load the dictionary before the clock starts
    start = time.perf_counter()
    ATTACKS[name]()
    assert time.perf_counter() - start < BOUND_SECONDS, name


def test_spaced_markers_export_fast_and_right() -> None:
    text = "经核实不实" + " " * N + "详见通报 [1]。\n已处置。[1]"
    draft = Draft(
        id="d1",
        incident_id="i1",
        template="t",
        title="关于网传消息的说明",
        text=text,
        sources=[
            DraftSource(
                ref=1, kind="claim", id="c1", name="武汉发布", url="https://example.gov.cn/1",
                text="不实", at=NOW, authoritative=True,
            )
        ],
        created_by="press1",
        last_editor="press1",
        created_at=NOW,
        updated_at=NOW,
    )  # fmt: skip
    start = time.perf_counter()
    markdown = export(draft, "markdown").text
    plain = export(draft, "plain").text
    assert time.perf_counter() - start < BOUND_SECONDS
    assert "详见通报[^1]。" in markdown and "已处置。[^1]" in markdown
    assert "[1]" not in plain and plain.endswith("已处置。")


def test_normal_text_keeps_its_facts() -> None:
    got = {
        (f.kind, f.text) for f in extract_facts("2024年5月1日上午8:30，江岸区新增3例，十二月再核。")
    }
    assert got == {
        ("date", "2024年"),
        ("date", "5月1日"),
        ("date", "上午"),
        ("date", "8:30"),
        ("date", "十二月"),
        ("number", "3"),
        ("place", "江岸区"),
    }
    keys = source_facts(source("2024年5月1日 八时 已调运蔬菜2.5万吨，三十名志愿者")).keys
    assert {"Y2024", "M5D1", "M5", "D1", "T8", "25000", "30"} <= keys
    # runs too long to be a month or a day are no date (as before), and no crash
    assert not any(f.kind == "date" for f in extract_facts("1234567890123月"))
    assert strip_markers("甲 [1] [2]乙\t[3]") == "甲乙"
    assert [s.refs for s in split_sentences("一。 [1]\n二。[2]")] == [(1,), (2,)]


def test_text_past_the_cap_is_not_read() -> None:
    early = source_facts(source("5月1日 已调运蔬菜25吨"))
    late = source_facts(source("甲" * MAX_EXTRACT_CHARS + " 已调运蔬菜25吨"))
    assert "25" in early.keys and "25" not in late.keys


def test_markdown_export_keeps_post_text_literal() -> None:
    """A quoted post's Markdown (link, image, emphasis, raw HTML, a heading line) renders as
    the text it is; the authority footnote stays a working link."""
    from markdown_it import MarkdownIt

    quoted = "网传“[点此领补贴](http://evil.example/p) ![i](http://evil.example/i.png) **紧急** <b>x</b>”[1]。"
    draft = Draft(
        id="d1", incident_id="i1", template="t", title="# 关于[网传](http://evil.example/t)的说明",
        text=f"{quoted}\n# 经核实，上述消息不实。[2]\n1. 请勿转发。",
        sources=[
            DraftSource(ref=1, kind="post", id="p1", name="微博网民", text="x", at=NOW,
                        url="http://weibo.example/1"),
            DraftSource(ref=2, kind="claim", id="c1", name="武汉发布", text="不实", at=NOW,
                        url="https://example.gov.cn/1", authoritative=True),
        ],
        created_by="press1", last_editor="press1", created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    markdown = export(draft, "markdown").text
    html = MarkdownIt("commonmark").render(markdown)
    assert "evil.example" in html and 'href="http://evil' not in html and "<img" not in html
    assert "<strong>" not in html and "<b>" not in html and html.count("<h1>") == 1
    assert "<ol>" not in html and "[点此领补贴](http://evil.example/p)" in html
    assert "[^1]" in markdown and "[^1]: 武汉发布：https://example.gov.cn/1" in markdown
