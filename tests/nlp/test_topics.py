"""Incremental topics on both backends: assignment, re-runs, persistence, idle topics, the
topics API; and the NMI/ARI used by `tingfeng topics evaluate`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from ingest.posts import RawPost, build_post
from nlp.eval_topics import ari, nmi
from nlp.topics import assign_topics
from store import Settings, Store
from store.base import PostQuery
from store.records import Label, Post, Topic, make_id
from tests.auth import RouteAuth

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)

MASKS = [
    "#口罩抢购# 药店口罩又卖光了，排了两个小时队也没买到口罩",
    "#口罩抢购# 口罩断货，药店门口排长队，还是买不到N95口罩",
    "#口罩抢购# 好不容易在药店抢到一包口罩，排队的人太多了",
]
SCHOOL = [
    "#延期开学# 教育厅通知中小学延期开学，学生在家上网课",
    "#延期开学# 中小学继续延期开学，网课安排公布，家长们注意",
]


def post(settings: Settings, i: int, text: str, at: datetime, platform: str = "weibo") -> Post:
    raw = RawPost(
        source=f"test-{platform}",
        platform=platform,
        native_id=str(i),
        text=text,
        created_at=at,
        region_raw="发布于 湖北",
    )
    p = build_post(raw, settings)
    p.places = []
    return p


def test_posts_group_into_topics_and_reruns_count_once(store: Store, settings: Settings) -> None:
    posts = [post(settings, i, t, T0 + timedelta(minutes=i)) for i, t in enumerate(MASKS)]
    posts += [
        post(settings, 10 + i, t, T0 + timedelta(minutes=5 + i)) for i, t in enumerate(SCHOOL)
    ]
    posts[0].nlp.emotion = Label(label="fear", score=0.9)
    posts[1].nlp.rumor = Label(label="rumor", score=0.8)
    changed = assign_topics(posts, store, now=T0 + timedelta(hours=1))
    store.write_posts(posts)
    store.refresh()
    masks, school = make_id("topic", posts[0].id), make_id("topic", posts[3].id)
    assert {t.id for t in changed} == {masks, school}
    assert {p.nlp.topic_id for p in posts[:3]} == {masks}
    assert {p.nlp.topic_id for p in posts[3:]} == {school}
    topic = store.get("topics", masks, Topic)
    assert topic is not None
    assert topic.post_count == 3
    assert topic.representative_post_id in {p.id for p in posts[:3]}
    assert "口罩" in topic.keywords
    assert [(k.key, k.count) for k in topic.by_platform] == [("weibo", 3)]
    assert [(k.key, k.count) for k in topic.by_emotion] == [("fear", 1)]
    assert abs(topic.rumor_share - 1 / 3) < 1e-3

    # re-running the step on the same posts changes nothing
    assert assign_topics(posts, store, now=T0 + timedelta(hours=2)) == []
    # a later post joins the stored topic (state reloaded from the store)
    late = post(
        settings, 99, "#口罩抢购# 药店今天到货一批口罩，排队限购两包", T0 + timedelta(hours=3)
    )
    assign_topics([late], store, now=T0 + timedelta(hours=3))
    store.refresh()
    assert late.nlp.topic_id == masks
    refreshed = store.get("topics", masks, Topic)
    assert refreshed is not None
    assert refreshed.post_count == 4
    assert store.count("topics") == 2


def test_idle_topics_take_no_new_posts(store: Store, settings: Settings) -> None:
    first = post(settings, 1, MASKS[0], T0)
    assign_topics([first], store, now=T0)
    store.refresh()
    much_later = post(settings, 2, MASKS[1], T0 + timedelta(days=10))
    assign_topics([much_later], store, now=T0 + timedelta(days=10))
    assert much_later.nlp.topic_id == make_id("topic", much_later.id)
    assert post(settings, 3, "转发微博", T0).tokens  # has tokens, but only stop words
    empty = post(settings, 3, "转发微博", T0)
    assign_topics([empty], store, now=T0)
    assert empty.nlp.topic_id is None


def test_topics_route_sorts_by_burst_score(
    store: Store, settings: Settings, api_tokens: dict[str, str]
) -> None:
    posts = [post(settings, i, t, T0 + timedelta(minutes=i)) for i, t in enumerate(MASKS)]
    posts.append(post(settings, 10, SCHOOL[0], T0))
    topics = assign_topics(posts, store, now=T0)
    hot = next(t for t in topics if t.post_count == 3)
    hot.burst_score = 5.0
    store.put("topics", hot)
    store.refresh()
    with TestClient(create_app(settings, store=store)) as client:
        client.auth = RouteAuth(api_tokens)
        body = client.get("/api/v1/topics").json()
        assert body["total"] == 2
        assert body["items"][0]["id"] == hot.id
        assert "centroid" not in body["items"][0]
        only = client.get("/api/v1/topics", params={"bursting": True}).json()
        assert [t["id"] for t in only["items"]] == [hot.id]
        assert (
            client.get("/api/v1/topics", params={"since": "2026-03-01T08:00:00"}).status_code == 422
        )
    found = store.search_posts(PostQuery(terms={"nlp.topic_id": [hot.id]}))
    assert found.total == 0  # posts are written by the enrichment job, not by this step


def test_nmi_and_ari() -> None:
    labels = ["a", "a", "b", "b", "c", "c"]
    assert nmi(labels, [1, 1, 2, 2, 3, 3]) == 1.0
    assert abs(ari(labels, ["x", "x", "y", "y", "z", "z"]) - 1.0) < 1e-9
    assert nmi(labels, [1, 1, 1, 1, 1, 1]) == 0.0
    assert ari(labels, [1, 2, 1, 2, 1, 2]) < 0.1
    assert 0 < nmi(labels, [1, 1, 2, 2, 2, 2]) < 1
