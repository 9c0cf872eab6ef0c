"""One error shape for every error the API returns: 401, 403, 404, 405, 409, 413, 422, 429
and 500 all answer {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store.base import PostQuery
from store.sqlite import SqliteStore
from tests.auth import bearer, make_tokens
from tests.conftest import make_settings
from tests.triage.factories import help_cluster, make_topic, write
from triage.job import TriageJob, topic_incident_id

MAX_BODY = 4096


@pytest.fixture
def ctx(tmp_path: Any) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], SqliteStore]]:
    settings = make_settings(tmp_path, api_max_body_bytes=MAX_BODY, auth_rate_limit=2)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    now = datetime.now(UTC)
    posts = help_cluster(settings, now)
    write(store, posts, [make_topic("topic-help", "求助", posts, now=now)])
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    tokens = {role: bearer(t) for role, t in make_tokens(store, settings).items()}
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as client:
        yield client, tokens, store
    store.close()


def shaped(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert list(body) == ["error"]
    assert sorted(body["error"]) == ["code", "details", "message"]
    assert body["error"]["code"] == code and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    return body["error"]  # type: ignore[no-any-return]


def test_auth_errors(ctx: Any) -> None:
    client, tokens, _ = ctx
    shaped(client.get("/api/v1/incidents"), 401, "unauthorized")
    shaped(client.get("/api/v1/incidents", headers=bearer("tfs.bad.token")), 401, "unauthorized")
    shaped(client.get("/api/v1/audit", headers=tokens["patrol"]), 403, "forbidden")


def test_not_found_and_method_not_allowed(ctx: Any) -> None:
    client, tokens, _ = ctx
    shaped(client.get("/api/v1/nothing-here"), 404, "not_found")
    shaped(client.get("/api/v1/incidents/unknown", headers=tokens["patrol"]), 404, "not_found")
    shaped(client.delete("/api/v1/incidents", headers=tokens["patrol"]), 405, "method_not_allowed")


def test_conflicts(ctx: Any) -> None:
    client, tokens, _ = ctx
    url = f"/api/v1/incidents/{topic_incident_id('topic-help')}/transition"
    stale = client.post(url, json={"to": "triaged", "version": 7}, headers=tokens["press"])
    assert shaped(stale, 409, "conflict")["details"][0]["field"] == "version"
    invalid = client.post(url, json={"to": "published", "version": 1}, headers=tokens["supervisor"])
    shaped(invalid, 409, "invalid_transition")


def test_validation_errors(ctx: Any) -> None:
    client, tokens, _ = ctx
    resp = client.get("/api/v1/incidents", params={"size": 0}, headers=tokens["patrol"])
    assert shaped(resp, 422, "invalid_input")["details"][0]["field"] == "query.size"
    resp = client.post(
        "/api/v1/incidents",
        content=b"{not json",
        headers={**tokens["patrol"], "Content-Type": "application/json"},
    )
    shaped(resp, 422, "invalid_input")
    resp = client.post(
        "/api/v1/incidents", json={"title": "x", "category": "weather", "post_ids": ["a"]},
        headers=tokens["patrol"],
    )  # fmt: skip
    assert shaped(resp, 422, "invalid_input")["details"][0]["field"] == "category"


def test_oversize_payloads_get_413_declared_or_streamed(ctx: Any) -> None:
    client, tokens, store = ctx
    big = {"title": "谣" * 3000, "category": "rumor", "post_ids": ["a"]}
    shaped(
        client.post("/api/v1/incidents", json=big, headers=tokens["patrol"]),
        413,
        "payload_too_large",
    )

    def chunks() -> Iterator[bytes]:
        yield b'{"posts": ['
        for _ in range(100):
            yield b'{"source": "s", "platform": "p", "text": "' + b"x" * 100 + b'"},'
        yield b"]}"

    streamed = client.post(
        "/api/v1/posts",
        content=chunks(),
        headers={**tokens["service"], "Content-Type": "application/json"},
    )
    shaped(streamed, 413, "payload_too_large")
    assert store.count_posts(PostQuery()) == 5  # nothing of the refused batch was stored


def test_rate_limit(ctx: Any) -> None:
    client, _, _ = ctx
    wrong = {"username": "t-patrol", "password": "wrong password"}
    for _ in range(2):
        shaped(client.post("/api/v1/auth/login", json=wrong), 401, "unauthorized")
    limited = client.post("/api/v1/auth/login", json=wrong)
    shaped(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"].isdigit()


def test_unexpected_errors_are_shaped_too(ctx: Any) -> None:
    client, tokens, store = ctx
    store._db.close()  # the store breaks under the app: an unhandled error
    resp = client.get("/api/v1/incidents", headers=tokens["patrol"])
    assert resp.status_code in (500, 503)
    shaped(
        resp, resp.status_code, "internal_error" if resp.status_code == 500 else "store_unavailable"
    )


def test_store_outage_is_503_in_the_shape(tmp_path: Any) -> None:
    """Elasticsearch unreachable (nothing listens on the port): 503 store_unavailable, from
    authentication and from the incident reads alike."""
    from api.auth import principal_cache
    from store.es import ElasticsearchStore
    from store.records import Role
    from triage.users import Principal

    settings = make_settings(tmp_path, es_url="http://127.0.0.1:9")
    store = ElasticsearchStore.from_settings(settings)
    app = create_app(settings, store=store)
    with TestClient(app) as client:
        shaped(client.get("/api/v1/incidents", headers=bearer("tfs.x.y")), 401, "unauthorized")
        token = "tfk_0123456789ab_secret"
        shaped(client.get("/api/v1/incidents", headers=bearer(token)), 503, "store_unavailable")
        principal_cache(app).put(token, Principal("p", Role.patrol, frozenset({"read"})))
        for url in ("/api/v1/incidents", "/api/v1/incidents/some-id"):
            resp = client.get(url, headers=bearer(token))
            shaped(resp, 503, "store_unavailable")
            assert resp.headers["Retry-After"] == "5"
    store.close()
