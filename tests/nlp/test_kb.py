"""Knowledge base on both backends: import from dataset files, office replies, matching posts,
and the `/api/v1/kb/search` route. The dataset files are tiny and hand-written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.posts import RawPost, build_post
from nlp.kb import (
    KbDatasetError,
    add_office_reply,
    claim_index,
    import_claims,
    load_claims,
    match_claims,
    search_claims,
    seed_demo_claims,
)
from nlp.kb_import import checked_rebuttal
from store import Settings, Store
from store.records import Claim, Post, make_id
from tests.auth import RouteAuth

RULING = (
    "经查，此微博称“中部战区空军今天会在武汉上空开始播撒消毒粉液”不实，@人民日报：记者向武汉市"
    "权威部门核实，在武汉上空开始播撒消毒粉液为谣言。详情：https://weibo.com/2803301701/IqNYBEik2。"
    "被投诉人言论构成“发布不实信息”。现根据《微博投诉操作细则》第19条，扣除信用积分2分。"
)

ROWS: dict[str, list[dict[str, object]]] = {
    "tencent_jiaozhen_covid_factcheck/claims.jsonl": [
        {
            "id": "jiaozhen_a1",
            "text": "吃维生素C泡腾片能预防新型冠状病毒",
            "label": "false",
            "debunk_abstract": "目前没有证据表明维生素C能预防新冠病毒感染。",
            "time": "2020-01-21",
            "url_hint": "https://vp.fact.qq.com/article?id=a1",
        },
        {
            "id": "jiaozhen_a2",
            "text": "勤洗手和戴口罩可以降低感染风险",
            "label": "true",
            "debunk_abstract": "洗手、戴口罩是有效的防护措施。",
            "time": "2020-01-22",
            "url_hint": "https://vp.fact.qq.com/article?id=a2",
        },
    ],
    "dxy_covid_rumor_debunks/claims.jsonl": [
        {
            "id": "dxy_2",
            "text": "盐水漱口能预防感染新冠病毒？",
            "label": "false",
            "debunk_summary": "钟南山院士团队辟谣：漱口没有办法清洁呼吸道",
            "debunk_body": "盐水对新型冠状病毒没有杀灭作用。",
            "source_url": None,
        }
    ],
    "piyao_org_cn_titles/titles.jsonl": [
        {
            "id": "piyao_c_1",
            "text": "武汉5日凌晨开展雾炮车消毒？",
            "label": "谣言",
            "time": "2020-02-10 15:42:09",
            "url": "http://www.piyao.org.cn/2020-02/10/c_1.htm",
            "debunk_source": "武汉市城管委",
        }
    ],
    "checked_covid_weibo/posts.jsonl": [
        {
            "id": "p1",
            "text": "空军今天在武汉上空播撒消毒粉液",
            "label": "fake",
            "analysis": RULING,
            "time": "2020-01-25 10:00",
        },
        {
            "id": "p2",
            "text": "不要出门，今晚空军在武汉上空播撒消毒粉",
            "label": "fake",
            "analysis": RULING,
            "time": "2020-01-25 11:00",
        },
        {"id": "p3", "text": "人民日报：武汉新增病例", "label": "real", "analysis": None},
    ],
    "cofacts_early_2017_rumor_answers/pairs.jsonl": [
        {
            "id": "cofacts2017_1",
            "text": "喝熱水可以殺死病毒，請大家轉傳",
            "answer": "熱水無法殺死體內病毒。",
            "reference": "https://example.org/a",
        }
    ],
    "cofacts_replies_2019/replies.jsonl": [
        {
            "id": "r1",
            "text": "柿子和優酪乳一起吃會中毒的說法毫無根據。",
            "label": "RUMOR",
            "reference": "",
            "time": "2018-01-01T00:00:00.000Z",
        },
        {"id": "r2", "text": "這只是個人意見。", "label": "OPINIONATED", "reference": ""},
    ],
}


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    for rel, rows in ROWS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    return root


def make_post(settings: Settings, native_id: str, text: str) -> Post:
    raw = RawPost(
        source="test-weibo",
        platform="weibo",
        native_id=native_id,
        text=text,
        created_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
    )
    return build_post(raw, settings)


def test_checked_ruling_is_cut_into_claim_answer_and_url() -> None:
    rebuttal = checked_rebuttal(RULING)
    assert rebuttal is not None
    assert rebuttal.claim == "中部战区空军今天会在武汉上空开始播撒消毒粉液"
    assert rebuttal.source_url == "https://weibo.com/2803301701/IqNYBEik2"
    assert rebuttal.source_name == "人民日报"
    assert "扣除信用积分" not in rebuttal.answer
    assert checked_rebuttal("没有引用任何说法") is None


def test_import_is_idempotent_with_deterministic_ids(store: Store, datasets: Path) -> None:
    results = import_claims(store, datasets)
    assert {k: r.written for k, r in results.items()} == {
        "tencent_jiaozhen": 2,
        "dxy": 1,
        "piyao_org_cn": 1,
        "checked_covid_weibo": 1,  # two fake posts share one ruling
        "cofacts_2017": 1,
        "cofacts_2019": 1,  # the OPINIONATED reply is skipped
    }
    store.refresh()
    first = {c.id for c in load_claims(store)}
    import_claims(store, datasets)
    store.refresh()
    assert store.count("claims") == 7
    assert {c.id for c in load_claims(store, page_size=2)} == first  # keyset pages
    assert make_id("tencent_jiaozhen", "jiaozhen_a1") in first
    cofacts = store.get("claims", make_id("cofacts_2017", "cofacts2017_1"), Claim)
    assert cofacts is not None
    assert cofacts.claim.startswith("喝热水可以杀死病毒")  # traditional -> simplified
    assert cofacts.source_url == "https://example.org/a"


def test_unknown_or_missing_dataset_is_a_user_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(KbDatasetError, match="unknown dataset"):
        import_claims(store, tmp_path, ["nope"])
    with pytest.raises(KbDatasetError, match="no such file"):
        import_claims(store, tmp_path, ["dxy"])


def test_posts_match_their_debunk_and_office_replies_join(
    store: Store, datasets: Path, settings: Settings
) -> None:
    import_claims(store, datasets)
    store.refresh()
    rumor = make_post(
        settings, "1", "紧急通知！今天中部战区空军会在武汉上空开始播撒消毒粉液，大家不要出门"
    )
    unrelated = make_post(settings, "2", "今天天气不错，去公园散步了，樱花开得正好")
    assert match_claims([rumor, unrelated], store) == 1
    match = rumor.nlp.claim_match
    assert match is not None
    assert match.level == "confirm"
    assert match.source_url == "https://weibo.com/2803301701/IqNYBEik2"
    assert unrelated.nlp.claim_match is None

    reply = add_office_reply(
        store,
        reply_id="incident-42",
        claim="本市自来水检出新冠病毒",
        answer="经市水务集团检测，本市自来水水质达标，未检出新冠病毒。",
        source_url="https://gov.example.cn/notice/42",
    )
    add_office_reply(  # same id again: an update, not a second claim
        store, reply_id="incident-42", claim="本市自来水检出新冠病毒", answer="水质达标。"
    )
    store.refresh()
    assert store.count("claims") == 8
    hits = search_claims(store, "听说本市自来水检出新冠病毒了，还能喝吗")
    assert hits[0].claim.id == reply.id
    assert hits[0].claim.origin == "office"
    assert len(claim_index(store)) == 8


def test_kb_search_route(store: Store, datasets: Path, settings: Settings, api_tokens) -> None:
    import_claims(store, datasets)
    store.refresh()
    with TestClient(create_app(settings, store=store)) as client:
        anonymous = client.get("/api/v1/kb/search", params={"q": "盐水漱口"})
        assert anonymous.status_code == 401
        client.auth = RouteAuth(api_tokens)
        resp = client.get("/api/v1/kb/search", params={"q": "盐水漱口能预防新冠病毒吗", "size": 3})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["items"][0]["id"] == make_id("dxy", "dxy_2")
        assert "claim_tokens" not in body["items"][0]
        bad = client.get("/api/v1/kb/search", params={"q": ""})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_input"


def test_demo_claims_seed_idempotently(store: Store, settings: Settings) -> None:
    first = seed_demo_claims(store)
    seed_demo_claims(store)
    store.refresh()
    assert store.count("claims") == len(first) >= 5
    post = make_post(settings, "9", "喝高度白酒可以杀死新冠病毒，家里老人都在喝，大家快转给家人")
    match_claims([post], store)
    assert post.nlp.claim_match is not None
    assert post.nlp.claim_match.claim_id == make_id("demo", "demo-baijiu")
