"""Claim matching without a store: config validation, recall + rerank, levels."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from analysis.text import normalize, segment
from nlp.kb_import import make_claim
from nlp.matching import (
    ClaimIndex,
    MatchingError,
    char_ngrams,
    config_from_dict,
    gram_keys,
    load_match_config,
    match_text,
    top_k,
)

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


# -- the vectorized index agrees with the plain definitions ---------------------------------
TEXTS = [
    "听说用盐水漱口就能预防新冠病毒感染，赶紧转给家人",
    "covid-19 疫苗 5g 基站 wifi2.4g 传播病毒？？",
    "#武汉加油# 武汉上空播撒消毒粉液 abc_def ①② Ⅻ",
    "",
    "!!!",
    "a",
    "😀 表情 😀😀 ２０２０年",
]


@pytest.mark.parametrize(("low", "high"), [(1, 1), (1, 3), (2, 3), (3, 3)])
def test_gram_keys_are_the_char_ngrams_of_each_text(low: int, high: int) -> None:
    texts = [match_text(t) for t in TEXTS]
    doc, keys = gram_keys(texts, low, high)
    for i, text in enumerate(texts):
        mine = set(keys[doc == i].tolist())
        expected = {
            sum(ord(ch) << (21 * (len(g) - 1 - j)) for j, ch in enumerate(g))
            for g in char_ngrams(text, low, high)
        }
        assert mine == expected, text


def test_ngrams_longer_than_three_characters_are_refused() -> None:
    with pytest.raises(MatchingError, match="ngram_max <= 3"):
        config_from_dict({"rerank": {"ngram_max": 4}})


def _reference_top_k(row: np.ndarray, k: int) -> list[int]:
    top = np.argpartition(-row, k - 1)[:k]
    return sorted((int(i) for i in top if row[i] > 0), key=lambda i: (-row[i], i))


def test_top_k_matches_a_full_partition_with_ties_and_sparse_rows() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for _ in range(60):
        row = np.zeros(3000, dtype=np.float32)
        touched = rng.choice(3000, size=int(rng.integers(0, 3000)), replace=False)
        row[touched] = rng.choice([0.5, 1.0, 1.5, 2.0], size=len(touched)).astype(np.float32)
        if rng.random() < 0.5:  # distinct values too
            row[touched] += rng.random(len(touched)).astype(np.float32)
        rows.append(row)
    scores = np.stack(rows)
    for k in (1, 5, 20):
        for row, (idx, values) in zip(scores, top_k(scores, k), strict=True):
            assert idx.tolist() == _reference_top_k(row, k)
            assert values.tolist() == row[idx].tolist()


def test_match_many_is_match_of_each_post() -> None:
    from store.records import Post

    index = ClaimIndex(CLAIMS)
    now = datetime.now(UTC)
    posts = []
    for i, text in enumerate([*TEXTS, "紧急扩散：今晚武汉上空播撒消毒粉液，大家千万不要出门"]):
        norm = normalize(text)
        posts.append(
            Post(
                id=str(i),
                source="t",
                platform="weibo",
                text=text,
                text_norm=norm,
                tokens=" ".join(segment(norm)),
                segmenter="",
                created_at=now,
                fetched_at=now,
                title="喝高度白酒" if i == 2 else None,
            )
        )
    together = index.match_many(posts)
    assert together == [index.match(p) for p in posts]
    assert together[-1] is not None and together[-1].claim_id == CLAIMS[2].id
    assert index.search_many([], []) == []
