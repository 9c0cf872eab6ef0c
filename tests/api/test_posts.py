"""Ingest and search through the HTTP API, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store import Settings, Store
from tests.auth import RouteAuth

POST = {
    "source": "partner-12345",
    "platform": "partner",
    "native_id": "a-1",
    "text": "网传自来水检出病毒，市水务集团称系谣言",
    "created_at": "2026-03-01T10:00:00+08:00",
}


@pytest.fixture
def client(settings: Settings, store: Store, api_tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as c:
        c.auth = RouteAuth(api_tokens)  # ingest as a service account, search as patrol
        yield c


def test_ingest_is_idempotent_and_searchable(client: TestClient, store: Store) -> None:
    batch = {"posts": [POST, {**POST, "native_id": "a-2", "text": "超市物资供应充足"}]}
    first = client.post("/api/v1/posts", json=batch)
    assert first.status_code == 202, first.text
    again = client.post("/api/v1/posts", json=batch)
    assert again.json()["ids"] == first.json()["ids"]
    store.refresh()
    found = client.get("/api/v1/posts", params={"q": "自来水"}).json()
    assert found["total"] == 1
    assert found["items"][0]["id"] == first.json()["ids"][0]
    assert client.get("/api/v1/posts").json()["total"] == 2


def test_one_bad_post_rejects_the_batch(client: TestClient, store: Store) -> None:
    bad = {**POST, "native_id": "b", "created_at": "2999-01-01T00:00:00+08:00"}
    resp = client.post("/api/v1/posts", json={"posts": [POST, bad]})
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"]["code"] == "invalid_input"
    assert "posts.1.created_at" in body["error"]["message"]
    store.refresh()
    assert client.get("/api/v1/posts").json()["total"] == 0


def test_validation_errors_use_the_error_shape(client: TestClient) -> None:
    resp = client.post("/api/v1/posts", json={"posts": [{**POST, "text": ""}]})
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["details"][0]["field"] == "posts.0.text"
    resp = client.get("/api/v1/posts", params={"size": 1000})
    assert resp.status_code == 422 and resp.json()["error"]["details"][0]["field"] == "query.size"
    resp = client.get("/api/v1/posts", params={"since": "2026-03-01T00:00:00"})
    assert resp.status_code == 422 and "timezone" in resp.json()["error"]["message"]


def test_health_reports_store_and_spool(client: TestClient, store: Store) -> None:
    assert client.get("/health").json() == {"status": "ok"}  # public: nothing more
    details = client.get("/health/details")  # the details need the audit permission
    assert details.status_code == 403
