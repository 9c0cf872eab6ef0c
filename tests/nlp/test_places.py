"""Places from text and platform location fields, on a hand-labelled set of posts
(fixtures/places.yaml, written for this test, including the ambiguous names)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from analysis.text import normalize
from ingest.posts import RawPost, build_post
from nlp.places import gazetteer, place_codes, tag_places
from store import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "places.yaml"
ITEMS = yaml.safe_load(FIXTURE.read_text("utf-8"))


def found(text: str, region: str | None = None) -> set[str]:
    return {p.code for p in gazetteer().places_for(normalize(text), region)}


def test_labelled_posts_precision_and_recall() -> None:
    assert len(ITEMS) >= 60
    tp = fp = fn = 0
    for item in ITEMS:
        got, want = found(item["text"], item.get("region")), set(item["expect"])
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("北京朝阳区发现一例确诊病例", None, {"11", "110105"}),
        ("辽宁朝阳市发布通告", None, {"21", "2113"}),
        ("长春市朝阳区红旗街有人聚集", None, {"2201", "220104"}),
        ("朝阳区今天新增病例", None, {"110105"}),  # no context: the stated preference
        ("朝阳区今天新增病例", "发布于 吉林", {"22", "220104"}),  # platform location decides
        ("吉林发布最新通报", None, {"22"}),  # bare name: the province
        ("吉林丰满区解封", None, {"2202", "220211"}),  # a district of 吉林市: the city
        ("吉林市船营区封控", None, {"2202", "220204"}),
        ("鼓楼区出现病例", None, set()),  # four 鼓楼区, no context: not guessed
        ("南京鼓楼区升级为中风险", None, {"3201", "320106"}),
        ("福州市鼓楼区全员检测", None, {"3501", "350102"}),
        ("祝大家平安健康", None, set()),  # 平安区 only with context
        ("青海平安区植树", None, {"63", "630203"}),
        ("中山路上人很多", None, set()),  # a street, not 中山市
        ("今天出门了", "IP属地：浙江", {"33"}),
        ("转发微博", "发布于 美国", set()),
        # the platform province decides county short names (南湖 = 嘉兴 南湖区 only)
        ("南湖新村小区今天封了", "发布于 江苏", {"32"}),
        ("南湖新村小区今天封了", None, set()),  # 南湖 + 新村: a neighbourhood's own name
        ("浙江南湖今天下雨", "发布于 江苏", {"32", "33", "330402"}),  # the text names 浙江
        ("嘉兴南湖区新增确诊", "发布于 江苏", {"32", "3304", "330402"}),
        ("青山湖边跑步", "发布于 北京", {"11"}),
        ("青山湖区新增病例", "发布于 北京", {"11", "360111"}),  # a full name is kept
    ],
)
def test_ambiguous_names_resolve_by_context(
    text: str, region: str | None, expected: set[str]
) -> None:
    assert found(text, region) == expected


def test_tag_places_fills_every_level_code(settings: Settings) -> None:
    raw = RawPost(
        source="test",
        platform="weibo",
        native_id="1",
        text="北京朝阳区某小区封控，河南济源市解封",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        region_raw="发布于 江苏",
    )
    post = build_post(raw, settings)
    tag_places([post])
    sources = {(p.code, p.source) for p in post.places}
    assert ("32", "platform") in sources
    assert ("110105", "text") in sources
    assert set(post.place_codes) == {"32", "11", "1101", "110105", "41", "419001"}
    county = next(p for p in post.places if p.code == "110105")
    assert (county.province, county.city, county.level) == ("北京市", "北京市", "county")
    assert place_codes([]) == []
