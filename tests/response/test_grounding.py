"""Sentence-level grounding: citations, and numbers / dates / places found in cited sources."""

from __future__ import annotations

import pytest

from store.records import DraftSource
from triage.replies.facts import cn_to_number
from triage.replies.grounding import check_text, extract_facts, split_sentences

POST = DraftSource(ref=1, kind="post", id="p1", name="微博网民",
                   text="2024年5月1日 08:30 听说明天武汉全市封城，江岸区超市都被抢空了！")  # fmt: skip
DEBUNK = DraftSource(ref=2, kind="claim", id="c1", name="武汉发布", authoritative=True,
                     text="武汉不会封城。全市三百家超市正常营业，已调运蔬菜2.5万吨，5%的门店延长营业。")  # fmt: skip
SOURCES = [POST, DEBUNK]


def facts(text: str) -> set[tuple[str, str]]:
    return {(f.kind, f.text) for f in extract_facts(text)}


def test_sentences_keep_their_trailing_citations() -> None:
    text = (
        "网传封城[1]。经核实，不实。[2][1]\n“谣言！”他说[1]\n请以官方发布为准！\n【待核实】请补充"
    )
    got = [(s.plain, s.refs) for s in split_sentences(text)]
    assert got == [
        ("网传封城。", (1,)),
        ("经核实，不实。", (2, 1)),
        ("“谣言！”他说", (1,)),
        ("请以官方发布为准！", ()),
        ("【待核实】请补充", ()),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("全市新增3例，均在武昌区。", {("number", "3"), ("place", "武昌区")}),
        ("三十名志愿者送去2.5万斤蔬菜，占比百分之二十。", {("number", "三十"), ("number", "2.5万"), ("number", "百分之二十")}),
        ("2024年5月1日上午8:30", {("date", "2024年"), ("date", "5月1日"), ("date", "上午"), ("date", "8:30")}),
        ("周一下午三点半在光谷广场", {("date", "周一"), ("date", "下午"), ("date", "三点半"), ("place", "光谷广场")}),
        ("请广大市民以官方发布的信息为准，不信谣、不传谣。", set()),
        ("我们将进一步做好工作，第一时间发布，一起努力。", set()),
        ("超市都被抢空了，全市的市场很乱", set()),
    ],
)  # fmt: skip
def test_facts(text: str, expected: set[tuple[str, str]]) -> None:
    assert facts(text) == expected


def test_chinese_numerals() -> None:
    assert [cn_to_number(t) for t in ("二十五", "三万二千", "二〇二四", "两", "十", "一百零五")] == [
        25, 32000, 2024, 2, 10, 105,
    ]  # fmt: skip


def test_a_grounded_draft_has_no_problems() -> None:
    text = (
        "近日，有网民发布“听说明天武汉全市封城”等内容[1]。\n"
        "据武汉发布核实，该说法不实[2]。全市300家超市正常营业，已调运蔬菜25000吨[2]。\n"
        "请广大市民以官方发布的信息为准，不信谣、不传谣。"
    )
    report = check_text("关于网传“明天武汉封城”的辟谣声明", text, SOURCES)
    assert report.problems == []
    assert report.cited == {1, 2}


def test_facts_must_be_in_the_cited_source_not_just_any_source() -> None:
    # 江岸区 and 5月1日 are in the post [1], not in the debunk [2] this sentence cites
    report = check_text("声明", "5月1日起江岸区超市正常营业[2]。", SOURCES)
    assert {(p.kind, p.severity) for p in report.problems} == {("ungrounded", "error")}
    assert sorted(p.message.split("»")[0] for p in report.problems) == [
        "date «5月1日",
        "place «江岸区",
    ]
    assert check_text("声明", "5月1日起江岸区超市正常营业[1][2]。", SOURCES).problems == []


def test_uncited_sentences_unknown_sources_and_notes() -> None:
    text = "全市有400家超市[2]。\n该说法不实[7]。\n我们高度重视。\n明天恢复供应。\n【待核实】还缺权威来源"
    report = check_text("关于汉阳区的声明", text, SOURCES)
    kinds = [(p.sentence, p.kind, p.severity) for p in report.problems]
    assert kinds == [
        (0, "ungrounded", "error"),
        (1, "ungrounded", "error"),
        (2, "unknown_source", "error"),
        (3, "uncited", "warning"),
        (4, "uncited_fact", "error"),
        (5, "note", "error"),
    ]
    assert "汉阳区" in str(report.problems[0]) and "400" in str(report.problems[1])


def test_a_quote_left_open_hides_no_sentence() -> None:
    got = [(s.plain, s.refs) for s in split_sentences("“武汉不会封城[2]。汉阳区已封控。")]
    assert got == [("“武汉不会封城。", (2,)), ("汉阳区已封控。", ())]
    assert [(s.plain, s.refs) for s in split_sentences("文章《请擦亮双眼！》已辟谣[2]。")] == [
        ("文章《请擦亮双眼！》已辟谣。", (2,))
    ]


def test_stock_phrases_may_be_reworded_but_not_given_facts() -> None:
    assert (
        check_text("声明", "请广大市民以官方发布信息为准，不信谣不传谣。", SOURCES).problems == []
    )
    report = check_text("声明", "请广大市民以明天的官方发布信息为准，不信谣不传谣。", SOURCES)
    assert [p.kind for p in report.problems] == ["uncited_fact"]
