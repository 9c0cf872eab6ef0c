"""API hardening (issue 12, Low): security headers on every response, a minimal public
/health, docs that can be turned off, API tokens that expire and can be listed and revoked
(API and CLI), feed tokens that must name their jurisdictions, and paging capped inside
Elasticsearch's result window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from store import Settings, Store
from store.records import ApiToken, AuditEvent, User
from store.sqlite import SqliteStore
from tests.auth import bearer, make_tokens, make_user
from tests.conftest import TEST_KEYS, make_settings
from triage.users import issue_api_token


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as c:
        yield c


@pytest.fixture
def lite_client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(tmp_path)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    tokens = make_tokens(store, settings)
    with TestClient(create_app(settings, store=store)) as c:
        yield c, tokens
    store.close()


def test_security_headers_on_every_response(lite_client: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = lite_client
    responses = [
        client.get("/health"),
        client.get("/api/v1/incidents"),  # 401
        client.get("/api/v1/incidents", headers=bearer(tokens["patrol"])),
        client.get("/no/such/page"),  # 404
        client.put("/health"),  # 405
        client.post(
            "/api/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"}
        ),
    ]
    for resp in responses:
        csp = resp.headers.get("Content-Security-Policy", "")
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", resp.request.url
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and resp.headers.get("X-Frame-Options") == "DENY"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]


def test_health_is_minimal_without_a_token(lite_client: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = lite_client
    public = client.get("/health")
    assert public.status_code == 200 and public.json() == {"status": "ok"}
    assert client.get("/health/details").status_code == 401
    assert client.get("/health/details", headers=bearer(tokens["patrol"])).status_code == 403
    details = client.get("/health/details", headers=bearer(tokens["supervisor"])).json()
    assert details["store"]["backend"] == "sqlite" and details["store"]["counts"]["users"] >= 5


def test_docs_can_be_turned_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_docs=False)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    with TestClient(create_app(settings, store=store)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
        assert client.get("/health").status_code == 200
    store.close()


def test_api_tokens_expire_by_default_and_can_be_listed_and_revoked(
    client: TestClient, store: Store, settings: Settings
) -> None:
    admin = bearer(make_tokens(store, settings)["admin"])
    make_user(store, "partner", "service")
    issued = client.post(
        "/api/v1/users/partner/tokens",
        json={"name": "hotline", "scopes": ["ingest"], "sources": ["partner-hotline"]},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    expires = datetime.fromisoformat(body["expires_at"])
    expected = datetime.now(UTC) + timedelta(days=settings.api_token_ttl_days)
    assert abs((expires - expected).total_seconds()) < 60
    no_source = client.post("/api/v1/users/partner/tokens",
                            json={"name": "x", "scopes": ["ingest"]}, headers=admin)  # fmt: skip
    assert no_source.status_code == 422 and "sources" in no_source.text
    store.refresh()
    listed = client.get("/api/v1/users/partner/tokens", headers=admin).json()
    assert [t["id"] for t in listed["items"]] == [body["id"]]
    assert "token_hash" not in listed["items"][0] and listed["items"][0]["revoked_at"] is None
    partner = bearer(body["token"])
    assert client.get("/api/v1/auth/me", headers=partner).status_code == 200
    revoked = client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/auth/me", headers=partner).status_code == 401
    assert client.post("/api/v1/tokens/000000000000/revoke", headers=admin).status_code == 404
    store.refresh()
    actions = {e.action for e in store.find("audit", AuditEvent, where={"entity_id": "partner"})}
    assert {"token.create", "token.revoke"} <= actions


def test_a_feed_token_must_name_its_jurisdictions(
    client: TestClient, store: Store, settings: Settings
) -> None:
    now = datetime.now(UTC)
    make_user(store, "city-feed", "service")
    # a token issued before: no jurisdictions used to mean every one
    old, _ = issue_api_token(store, "city-feed", name="old", scopes=["feed"],
                             jurisdictions=["all"], now=now, actor="test")  # fmt: skip
    record = store.get("api-tokens", old.split("_")[1], ApiToken)
    assert record is not None
    store.put("api-tokens", record.model_copy(update={"jurisdictions": []}))
    refused = client.get("/api/v1/feeds/incidents", headers=bearer(old))
    assert refused.status_code == 403 and "all" in refused.json()["error"]["message"]
    everything, _ = issue_api_token(store, "city-feed", name="all", scopes=["feed"],
                                    jurisdictions=["all"], now=now, actor="test")  # fmt: skip
    assert client.get("/api/v1/feeds/incidents", headers=bearer(everything)).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/posts", "/api/v1/topics", "/api/v1/kb/entries"])
def test_paging_stays_inside_the_result_window(
    client: TestClient, store: Store, settings: Settings, path: str
) -> None:
    reader = bearer(make_tokens(store, settings)["patrol"])
    deep = client.get(path, params={"offset": 9990, "size": 100}, headers=reader)
    assert deep.status_code == 422, deep.text
    assert deep.json()["error"]["details"][0]["field"] == "query.offset"
    last = client.get(path, params={"offset": 9900, "size": 100}, headers=reader)
    assert last.status_code == 200, last.text


def test_token_commands_list_revoke_and_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINGFENG_PSEUDONYM_KEY", TEST_KEYS["pseudonym_key"])
    monkeypatch.setenv("TINGFENG_SECRET_KEY", TEST_KEYS["secret_key"])
    monkeypatch.setenv("TINGFENG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TINGFENG_ES_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["users", "add", "partner", "--role", "service"]).exit_code == 0
    issued = runner.invoke(
        app, ["users", "token", "partner", "--scope", "ingest", "--source", "partner-hotline"]
    )
    assert issued.exit_code == 0, issued.output
    token_id = issued.output.split()[1]
    listed = runner.invoke(app, ["users", "tokens", "partner"], env={"COLUMNS": "200"})
    assert token_id in listed.output and "partner-hotline" in listed.output
    assert "active" in listed.output
    assert runner.invoke(app, ["users", "revoke-token", token_id]).exit_code == 0
    listed = runner.invoke(app, ["users", "tokens"], env={"COLUMNS": "200"})
    assert "revoked" in listed.output

    store = SqliteStore(tmp_path / "data" / "tingfeng.sqlite3")
    now = datetime.now(UTC)
    store.put("users", User(id="li.na", username="li.na", role="supervisor",  # type: ignore[arg-type]
                            created_at=now, updated_at=now))  # fmt: skip
    session = runner.invoke(app, ["users", "token", "li.na", "--hours", "1"])
    assert session.exit_code == 0 and "tfs." in session.output
    events = store.find("audit", AuditEvent, where={"actor": "cli"}, size=20)
    by_action = {e.action: e for e in events}
    assert {"token.create", "token.revoke", "session.issue"} <= set(by_action)
    assert json.loads(by_action["token.create"].after or "{}")["sources"] == ["partner-hotline"]
    assert by_action["session.issue"].entity_id == "li.na"
    store.close()
