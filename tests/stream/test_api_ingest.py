"""POST /api/v1/posts with Kafka on: the validated batch is in posts.raw (key: post id) when
the call returns, and the store is written by the enrichment worker, not by the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from store import Settings, Store
from store.base import PostQuery
from store.records import Post
from stream.messages import decode
from tests.auth import RouteAuth, make_tokens
from tests.stream.test_dead_letters import read_topic

POST = {
    "source": "partner-12345",
    "platform": "partner",
    "text": "网传自来水检出病毒，市水务集团称系谣言",
    "created_at": "2026-03-01T10:00:00+08:00",
}


def test_ingest_batches_are_produced_to_posts_raw(ksettings: Settings, es_store: Store) -> None:
    with TestClient(create_app(ksettings, store=es_store)) as client:
        client.auth = RouteAuth(make_tokens(es_store, ksettings))
        batch = {"posts": [{**POST, "native_id": f"k-{i}"} for i in range(3)]}
        resp = client.post("/api/v1/posts", json=batch)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["written"] == 3 and body["spooled"] == 0 and len(set(body["ids"])) == 3
    messages = read_topic(ksettings, ksettings.kafka_topic_posts_raw, 3)
    assert sorted(m.key().decode() for m in messages) == sorted(body["ids"])  # type: ignore[attr-defined]
    posts = [decode(m.value(), Post) for m in messages]  # type: ignore[attr-defined]
    assert {p.id for p in posts} == set(body["ids"]) and all(p.tokens for p in posts)
    es_store.refresh()
    assert es_store.count_posts(PostQuery()) == 0  # the enrichment workers store them
