"""RBAC matrix: every endpoint of the app x every role, allowed and denied.

The endpoints come from the app's own OpenAPI, so a new route without a row in `RULES` fails
`test_every_route_has_a_rule`. Each row names the permission the route needs; `ROLES_WITH` says,
independently of the code's table, which roles must hold it (least privilege as the triage
issue defines it). A denied caller must get the auth layer's 403 (or 401 without a token); an
allowed one must get past it (any other status: 404 for the dummy ids, 422 for empty bodies).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store.sqlite import SqliteStore
from tests.auth import bearer, make_tokens
from tests.conftest import make_settings

PUBLIC = {("GET", "/health"), ("POST", "/api/v1/auth/login")}
ANY = "authenticated"
PEOPLE = "account"

RULES: dict[tuple[str, str], str] = {
    # posts, topics, knowledge base, sources (other stages' routes)
    ("GET", "/api/v1/posts"): "read",
    ("POST", "/api/v1/posts"): "ingest",
    ("GET", "/api/v1/topics"): "read",
    ("GET", "/api/v1/kb/search"): "read",
    ("GET", "/api/v1/kb/entries"): "read",
    ("POST", "/api/v1/kb/entries"): "approve",
    ("GET", "/api/v1/kb/entries/{claim_id}"): "read",
    ("GET", "/api/v1/sources"): "read",
    # auth and users
    ("GET", "/api/v1/auth/me"): ANY,
    ("POST", "/api/v1/auth/password"): PEOPLE,
    ("GET", "/api/v1/users"): "users",
    ("POST", "/api/v1/users"): "users",
    ("POST", "/api/v1/users/{username}/disable"): "users",
    ("POST", "/api/v1/users/{username}/enable"): "users",
    ("POST", "/api/v1/users/{username}/tokens"): "users",
    ("GET", "/api/v1/users/{username}/tokens"): "users",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "users",
    ("GET", "/health/details"): "audit",
    # incidents
    ("GET", "/api/v1/incidents"): "read",
    ("POST", "/api/v1/incidents"): "flag",
    ("GET", "/api/v1/incidents/{incident_id}"): "read",
    ("POST", "/api/v1/incidents/{incident_id}/flag"): "flag",
    ("POST", "/api/v1/incidents/{incident_id}/transition"): "work",
    ("POST", "/api/v1/incidents/{incident_id}/assign"): "work",
    ("GET", "/api/v1/audit"): "audit",
    ("GET", "/api/v1/playbook"): "read",
    ("POST", "/api/v1/playbook/check"): "playbooks",
    ("GET", "/api/v1/feeds/incidents"): "feed",
    ("GET", "/api/v1/feeds/rumors"): "feed",
    # drafts, publishing and effect (response stage)
    ("POST", "/api/v1/incidents/{incident_id}/drafts"): "work",
    ("GET", "/api/v1/incidents/{incident_id}/drafts"): "read",
    ("GET", "/api/v1/drafts/{draft_id}"): "read",
    ("PATCH", "/api/v1/drafts/{draft_id}"): "work",
    ("GET", "/api/v1/drafts/{draft_id}/versions"): "read",
    ("POST", "/api/v1/drafts/{draft_id}/sources"): "work",
    ("POST", "/api/v1/drafts/{draft_id}/regenerate"): "work",
    ("POST", "/api/v1/drafts/{draft_id}/rewrite"): "work",
    ("POST", "/api/v1/drafts/{draft_id}/submit"): "work",
    ("POST", "/api/v1/drafts/{draft_id}/approve"): "approve",
    ("POST", "/api/v1/drafts/{draft_id}/reject"): "approve",
    ("POST", "/api/v1/drafts/{draft_id}/publish"): "approve",
    ("GET", "/api/v1/drafts/{draft_id}/export"): "read",
    ("GET", "/api/v1/incidents/{incident_id}/publications"): "read",
    ("GET", "/api/v1/incidents/{incident_id}/effect"): "read",
    # digests (supervisors)
    ("GET", "/api/v1/digests"): "approve",
    ("GET", "/api/v1/digests/{day}"): "approve",
}

CALLERS = ("anonymous", "patrol", "press", "supervisor", "admin", "service")
ROLES_WITH: dict[str, set[str]] = {
    "read": {"patrol", "press", "supervisor", "admin"},
    "flag": {"patrol", "press", "supervisor"},
    "work": {"press", "supervisor"},
    "approve": {"supervisor"},
    "audit": {"supervisor", "admin"},
    "users": {"admin"},
    "playbooks": {"admin"},
    "ingest": {"service"},
    "feed": {"service"},
    ANY: {"patrol", "press", "supervisor", "admin", "service"},
    PEOPLE: {"patrol", "press", "supervisor", "admin"},
}


def app_operations() -> set[tuple[str, str]]:
    app = create_app(make_settings(Path("/nonexistent")))
    return {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_route_has_a_rule() -> None:
    operations = app_operations()
    unruled = sorted(operations - set(RULES) - PUBLIC)
    assert unruled == [], f"routes without an RBAC rule (add them to RULES): {unruled}"
    stale = sorted(set(RULES) - operations)
    assert stale == [], f"RULES for routes that no longer exist: {stale}"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(tmp_path_factory.mktemp("rbac"), auth_rate_limit=10_000)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    tokens = make_tokens(store, settings)
    with TestClient(create_app(settings, store=store)) as c:
        yield c, tokens
    store.close()


def _call(client: TestClient, method: str, path: str, token: str | None) -> Any:
    url = path.replace("{day}", "2026-03-01")
    for name in ("incident_id", "draft_id", "claim_id", "username"):
        url = url.replace("{" + name + "}", "no-such-id")
    headers = bearer(token) if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.request(method, url, **kwargs)


def _denied_by_auth(resp: Any) -> bool:
    if resp.status_code != 403:
        return False
    error = resp.json()["error"]
    return error["code"] == "forbidden" and "lacks the" in error["message"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path"), sorted(RULES), ids=[f"{m} {p}" for m, p in sorted(RULES)]
)
def test_rbac_matrix(
    client: tuple[TestClient, dict[str, str]], method: str, path: str, caller: str
) -> None:
    http, tokens = client
    resp = _call(http, method, path, tokens.get(caller))
    assert resp.status_code < 500, resp.text
    if caller == "anonymous":
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    elif caller in ROLES_WITH[RULES[(method, path)]]:
        assert resp.status_code != 401 and not _denied_by_auth(resp), resp.text
    else:
        assert _denied_by_auth(resp), resp.text


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_routes_need_no_token(
    client: tuple[TestClient, dict[str, str]], method: str, path: str
) -> None:
    http, _ = client
    resp = _call(http, method, path, None)
    assert resp.status_code not in (401, 403) and resp.status_code < 500, resp.text
