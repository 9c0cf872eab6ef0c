"""Claim matching without a store: config validation, recall + rerank, levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.kb_import import make_claim
from nlp.matching import ClaimIndex, MatchingError, config_from_dict, load_match_config

CLAIMS = [
    make_claim(
        origin="t", native_id=str(i), claim=text, answer=answer, verdict="false", source_name="t"
    )
    for i, (text, answer) in enumerate(
        [
            ("盐水漱口能预防感染新冠病毒", "漱口没有办法清洁呼吸道。"),
            ("吃维生素C泡腾片能预防新型冠状病毒", "维生素C不能预防新冠病毒。"),
            ("武汉上空将播撒消毒粉液，请大家不要出门", "播撒消毒粉液系谣言。"),
            ("喝高度白酒可以杀死新冠病毒", "饮酒不能杀灭体内病毒。"),
            ("上海火车站返程人山人海", "该视频为旧视频。"),
        ]
    )
]


def test_packaged_config_loads_and_orders_thresholds() -> None:
    config = load_match_config()
    assert 0 < config.suggest <= config.confirm <= 1
    assert config.level(config.confirm) == "confirm"
    assert config.level(config.suggest) == "suggest"
    assert config.level(config.suggest - 0.01) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"thresholds": {"suggest": 0.9, "confirm": 0.5}}, "suggest <= confirm"),
        ({"bm25": {"k3": 1}}, "unknown field 'k3'"),
        ({"candidates": "many"}, "must be a number"),
    ],
)
def test_invalid_config_names_the_field(raw: dict, message: str) -> None:
    with pytest.raises(MatchingError, match=message):
        config_from_dict(raw, "matching.yaml")


def test_invalid_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("thresholds: [", "utf-8")
    with pytest.raises(MatchingError, match=r"m\.yaml"):
        load_match_config(path)


def test_paraphrased_posts_find_their_claim() -> None:
    index = ClaimIndex(CLAIMS)
    cases = {
        "听说用盐水漱口就能预防新冠病毒感染，赶紧转给家人": CLAIMS[0].id,
        "每天吃两片维生素C泡腾片可以预防新型冠状病毒！": CLAIMS[1].id,
        "紧急扩散：今晚武汉上空播撒消毒粉液，大家千万不要出门": CLAIMS[2].id,
    }
    for text, claim_id in cases.items():
        hits = index.search(text, k=3)
        assert hits[0].claim.id == claim_id, text
        assert hits[0].level is not None


def test_unrelated_text_gets_no_level_and_empty_index_no_hits() -> None:
    index = ClaimIndex(CLAIMS)
    hits = index.search("今天阳光明媚，和朋友去公园野餐，心情很好", k=3)
    assert all(h.level is None for h in hits)
    assert ClaimIndex([]).search("盐水漱口") == []
    assert index.search("!!!") == []
