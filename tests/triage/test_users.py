"""Users, passwords, tokens and the auth endpoints: login, rate limit, revocation, user
management by admins, and the `tingfeng users` commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from api.app import create_app
from store import Settings, Store
from store.records import AuditEvent, Role, User
from tests.auth import bearer
from tests.conftest import TEST_KEYS
from triage.errors import AuthError, UserError
from triage.users import (
    add_user,
    authenticate,
    hash_password,
    issue_api_token,
    issue_session_token,
    resolve_token,
    set_disabled,
    verify_password,
)

SECRET = TEST_KEYS["secret_key"]
PASSWORD = "correct horse battery"


def test_password_hashes_are_salted_scrypt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$")
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password("wrong password", first)
    assert not verify_password(PASSWORD, "garbage")


def test_session_tokens_expire_and_are_revoked_by_disabling(store: Store) -> None:
    now = datetime.now(UTC)
    user = add_user(store, "Wang.Wei", "press", password=PASSWORD, now=now, actor="test")
    assert user.id == "wang.wei" and user.password_hash != PASSWORD
    assert authenticate(store, "wang.wei", PASSWORD, now=now).id == "wang.wei"
    with pytest.raises(AuthError):
        authenticate(store, "wang.wei", "wrong password!", now=now)
    with pytest.raises(AuthError):
        authenticate(store, "nobody", PASSWORD, now=now)

    token, _ = issue_session_token(user, SECRET, now=now, ttl=timedelta(hours=1))
    principal = resolve_token(store, SECRET, token, now=now)
    assert (principal.username, principal.role) == ("wang.wei", Role.press)
    assert principal.permissions == {"account", "read", "flag", "work"}
    with pytest.raises(AuthError, match="expired"):
        resolve_token(store, SECRET, token, now=now + timedelta(hours=2))
    with pytest.raises(AuthError, match="invalid"):
        resolve_token(store, "another-secret-key-0123456789", token, now=now)
    with pytest.raises(AuthError, match="invalid"):
        resolve_token(store, SECRET, token[:-2] + "xx", now=now)
    for junk in ("tfs.é.x", "tfs." + "a" * 5000, "tfk_../../x_y", "tfk_" + "é" * 12 + "_x", ""):
        with pytest.raises(AuthError, match="invalid"):
            resolve_token(store, SECRET, junk, now=now)

    set_disabled(store, "wang.wei", True, now=now, actor="admin")
    with pytest.raises(AuthError):
        resolve_token(store, SECRET, token, now=now)
    with pytest.raises(AuthError):
        authenticate(store, "wang.wei", PASSWORD, now=now)
    set_disabled(store, "wang.wei", False, now=now, actor="admin")
    with pytest.raises(AuthError, match="revoked"):  # old sessions stay revoked
        resolve_token(store, SECRET, token, now=now)


def test_api_tokens_are_hashed_scoped_and_revocable(store: Store) -> None:
    now = datetime.now(UTC)
    add_user(store, "health-commission", "service", password=None, now=now, actor="test")
    token, record = issue_api_token(
        store,
        "health-commission",
        name="feed",
        scopes=["feed"],
        jurisdictions=["4201"],
        now=now,
        actor="test",
    )
    assert token not in record.token_hash and record.token_hash.startswith("sha256$")
    principal = resolve_token(store, SECRET, token, now=now)
    assert principal.permissions == {"feed"} and principal.jurisdictions == ("4201",)
    with pytest.raises(AuthError):
        resolve_token(store, SECRET, token + "x", now=now)
    with pytest.raises(UserError, match="scopes"):
        issue_api_token(store, "health-commission", name="x", scopes=["admin"], now=now, actor="t")
    with pytest.raises(UserError, match="service accounts"):
        add_user(store, "svc2", "service", password=PASSWORD, now=now, actor="t")
    with pytest.raises(UserError, match="at least"):
        add_user(store, "shorty", "patrol", password="short", now=now, actor="t")
    with pytest.raises(UserError, match="unknown role"):
        add_user(store, "x-user", "god", password=PASSWORD, now=now, actor="t")
    with pytest.raises(UserError, match="already exists"):
        add_user(store, "HEALTH-commission", "service", password=None, now=now, actor="t")
    set_disabled(store, "health-commission", True, now=now, actor="admin")
    with pytest.raises(AuthError):
        resolve_token(store, SECRET, token, now=now)
    store.refresh()
    actions = {e.action for e in store.find("audit", AuditEvent, where={"entity_type": "user"})}
    assert actions == {"user.create", "token.create", "user.disable"}


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={
            "auth_rate_limit": 3,
            "bootstrap_admin_username": "root",
            "bootstrap_admin_password": SecretStr(PASSWORD),
        }
    )
    with TestClient(create_app(limited, store=store)) as c:
        yield c


def test_login_rate_limit_and_user_management(client: TestClient, store: Store) -> None:
    # the bootstrap admin exists from start-up
    login = client.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
    assert login.status_code == 200, login.text
    admin = bearer(login.json()["access_token"])
    assert client.get("/api/v1/auth/me", headers=admin).json()["role"] == "admin"

    created = client.post(
        "/api/v1/users",
        json={"username": "li.na", "role": "patrol", "password": PASSWORD, "teams": ["hotline"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["permissions"] == ["account", "flag", "read"]
    duplicate = client.post(
        "/api/v1/users", json={"username": "li.na", "role": "patrol", "password": PASSWORD},
        headers=admin,
    )  # fmt: skip
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"
    weak = client.post(
        "/api/v1/users", json={"username": "weak", "role": "patrol", "password": "123"},
        headers=admin,
    )  # fmt: skip
    assert weak.status_code == 422 and weak.json()["error"]["details"][0]["field"] == "password"
    store.refresh()
    assert {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]} == {
        "root",
        "li.na",
    }

    client.post("/api/v1/users", json={"username": "partner", "role": "service"}, headers=admin)
    unscoped = client.post(
        "/api/v1/users/partner/tokens", json={"name": "feed", "scopes": ["feed"]}, headers=admin
    )
    assert unscoped.status_code == 422, unscoped.text  # a feed token names its jurisdictions
    issued = client.post(
        "/api/v1/users/partner/tokens",
        json={"name": "feed", "scopes": ["feed"], "jurisdictions": ["all"]},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    partner = bearer(issued.json()["token"])
    assert client.get("/api/v1/feeds/incidents", headers=partner).status_code == 200
    person_token = client.post(
        "/api/v1/users/li.na/tokens", json={"name": "x", "scopes": ["feed"]}, headers=admin
    )
    assert person_token.status_code == 409  # people log in; tokens are for services

    # wrong passwords: 401 in the error shape, then 429 with Retry-After (limit 3 per window)
    wrong = {"username": "li.na", "password": "wrong password"}
    first = client.post("/api/v1/auth/login", json=wrong)
    assert first.status_code == 401 and first.json()["error"]["code"] == "unauthorized"
    second = client.post("/api/v1/auth/login", json=wrong)
    assert second.status_code == 401
    limited = client.post("/api/v1/auth/login", json={**wrong, "password": PASSWORD})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1

    disabled = client.post("/api/v1/users/partner/disable", headers=admin)
    assert disabled.json()["disabled"] is True
    revoked = client.get("/api/v1/feeds/incidents", headers=partner)
    assert revoked.status_code == 401 and revoked.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/api/v1/users/root/disable", headers=admin).status_code == 409
    assert client.post("/api/v1/users/ghost/disable", headers=admin).status_code == 404


def test_missing_and_malformed_tokens_get_401(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        resp = client.get("/api/v1/incidents", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "unauthorized"


def test_users_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINGFENG_PSEUDONYM_KEY", TEST_KEYS["pseudonym_key"])
    monkeypatch.setenv("TINGFENG_SECRET_KEY", SECRET)
    monkeypatch.setenv("TINGFENG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TINGFENG_ES_URL", raising=False)
    runner = CliRunner()
    added = runner.invoke(
        app, ["users", "add", "zhang.san", "--role", "supervisor", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert runner.invoke(app, ["users", "add", "feeder", "--role", "service"]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"], env={"COLUMNS": "200"})
    assert "zhang.san" in listed.output and "supervisor" in listed.output
    token = runner.invoke(
        app, ["users", "token", "feeder", "--scope", "feed", "--jurisdiction", "all"]
    )
    assert token.exit_code == 0 and "tfk_" in token.output
    session = runner.invoke(app, ["users", "token", "zhang.san", "--hours", "1"])
    assert session.exit_code == 0 and "tfs." in session.output
    assert runner.invoke(app, ["users", "disable", "zhang.san"]).exit_code == 0
    from store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "data" / "tingfeng.sqlite3")
    user = store.get("users", "zhang.san", User)
    assert user is not None and user.disabled
    store.close()
