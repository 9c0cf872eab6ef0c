"""Ingest ownership (issue 12, High 1), on both backends: an ingest token writes only the
sources it was issued for, never a post id another source owns, and every batch is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.posts import RawPost, build_post, ingest_posts
from store import Settings, Store
from store.records import AuditEvent, Post
from tests.auth import bearer, service_token

BULLETIN_URL = "https://gov.example.cn/wjw/2026/0301.html"
TRUE_TEXT = "网传全市封城消息不实，生活物资供应充足。"
FAKE_TEXT = "明日零时起全市封城，请市民尽快囤货。"


def _raw(source: str, text: str, *, native_id: str | None, url: str | None) -> dict[str, str]:
    raw = {"source": source, "platform": "gov", "text": text}
    raw["created_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    if native_id:
        raw["native_id"] = native_id
    if url:
        raw["url"] = url
    return raw


def _crawl(store: Store, settings: Settings, **ids: str | None) -> Post:
    """The government bulletin as the crawler stored it."""
    post = build_post(RawPost.model_validate(_raw("gov-bulletin", TRUE_TEXT, **ids)), settings)  # type: ignore[arg-type]
    assert not store.write_posts([post]).failed
    store.refresh()
    return post


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as c:
        yield c


@pytest.fixture
def partner(store: Store) -> dict[str, str]:
    return bearer(service_token(store, "partner", ["ingest"], sources=["partner-hotline"]))


def test_a_token_writes_only_its_own_sources(
    client: TestClient, store: Store, settings: Settings, partner: dict[str, str]
) -> None:
    bulletin = _crawl(store, settings, native_id="wjw-0301", url=BULLETIN_URL)
    forged = _raw("gov-bulletin", FAKE_TEXT, native_id="wjw-0301", url=BULLETIN_URL)
    resp = client.post("/api/v1/posts", json={"posts": [forged]}, headers=partner)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["details"][0]["field"] == "posts.0.source"
    store.refresh()
    assert store.get_posts([bulletin.id])[0].text == TRUE_TEXT


def test_a_post_of_another_source_is_never_overwritten(
    client: TestClient, store: Store, settings: Settings, partner: dict[str, str]
) -> None:
    # without a native id the id derives from the URL alone: the partner's own source name
    # would otherwise reach the bulletin's id
    bulletin = _crawl(store, settings, native_id=None, url=BULLETIN_URL)
    own = _raw("partner-hotline", "市民来电反映超市排队情况", native_id="call-1", url=None)
    forged = _raw("partner-hotline", FAKE_TEXT, native_id=None, url=BULLETIN_URL)
    resp = client.post("/api/v1/posts", json={"posts": [own, forged]}, headers=partner)
    assert resp.status_code == 409, resp.text
    assert bulletin.id in resp.json()["error"]["details"][0]["message"]
    store.refresh()
    assert store.get_posts([bulletin.id])[0].text == TRUE_TEXT
    assert store.get_posts([bulletin.id])[0].source == "gov-bulletin"
    assert store.count("audit", where={"action": "posts.ingest"}) == 0  # nothing written

    # the same through the file importer: the foreign post is reported, the rest written
    posts = [build_post(RawPost.model_validate(r), settings) for r in (own, forged)]
    result = ingest_posts(store, posts)
    assert result.written == 1 and [i for i, _ in result.failed] == [bulletin.id]
    store.refresh()
    assert store.get_posts([bulletin.id])[0].text == TRUE_TEXT


def test_every_ingest_batch_is_audited(
    client: TestClient, store: Store, settings: Settings, partner: dict[str, str]
) -> None:
    batch = [
        _raw("partner-hotline", f"市民来电第{i}条：小区门口核酸排队", native_id=f"c{i}", url=None)
        for i in range(3)
    ]
    resp = client.post("/api/v1/posts", json={"posts": batch}, headers=partner)
    assert resp.status_code == 202, resp.text
    ids = resp.json()["ids"]
    token_id = partner["Authorization"].split("_")[1]
    store.refresh()
    events = store.find("audit", AuditEvent, where={"action": "posts.ingest"})
    assert len(events) == 1
    event = events[0]
    after = json.loads(event.after or "{}")
    assert (event.actor, event.entity_id) == ("partner", token_id)
    assert (after["token"], after["count"], after["ids"]) == (token_id, 3, ids)
