"""`GET /api/v1/digests` and `/api/v1/digests/{date}`: supervisors only, every saved format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from digest.deliver import save_digest
from store.records import Role
from tests.digest.conftest import Built
from triage.users import add_user, issue_session_token


def _token(built: Built, username: str, role: Role) -> dict[str, str]:
    now = datetime.now(UTC)
    user = add_user(
        built.store, username, role, password="a-long-password-123", now=now, actor="test"
    )
    token, _ = issue_session_token(
        user, built.settings.secret_key.get_secret_value(), now=now, ttl=timedelta(hours=1)
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(built: Built) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    save_digest(built.digest, built.rendered, built.settings.data_dir)
    tokens = {
        "supervisor": _token(built, "chief", Role.supervisor),
        "patrol": _token(built, "watcher", Role.patrol),
        "admin": _token(built, "root", Role.admin),
    }
    with TestClient(create_app(built.settings, store=built.store)) as c:
        yield c, tokens


def test_list_and_get_as_supervisor(client: tuple[TestClient, dict]) -> None:
    c, tokens = client
    listed = c.get("/api/v1/digests", headers=tokens["supervisor"])
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(i["kind"], i["day"]) for i in items] == [("daily", "2026-11-18")]
    assert items[0]["links"]["pdf"].endswith("/api/v1/digests/2026-11-18?kind=daily&format=pdf")

    got = c.get("/api/v1/digests/2026-11-18", headers=tokens["supervisor"])
    assert got.status_code == 200
    body = got.json()
    assert body["title"] == "听风舆情日报 2026年11月18日"
    assert {n["key"]: n["value"] for n in body["numbers"]}["posts"] == 12


@pytest.mark.parametrize(
    ("fmt", "media", "marker"),
    [
        ("pdf", "application/pdf", b"%PDF-"),
        ("html", "text/html; charset=utf-8", b"data:image/png;base64,"),
        ("md", "text/markdown; charset=utf-8", "# 听风舆情日报".encode()),
        ("txt", "text/plain; charset=utf-8", "【关键数字】".encode()),
    ],
)
def test_every_format(client: tuple[TestClient, dict], fmt: str, media: str, marker: bytes) -> None:
    c, tokens = client
    r = c.get(f"/api/v1/digests/2026-11-18?format={fmt}", headers=tokens["supervisor"])
    assert r.status_code == 200
    assert r.headers["content-type"] == media
    assert marker in r.content


def test_only_supervisors(client: tuple[TestClient, dict]) -> None:
    c, tokens = client
    assert c.get("/api/v1/digests").status_code == 401
    for role in ("patrol", "admin"):
        r = c.get("/api/v1/digests/2026-11-18", headers=tokens[role])
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "forbidden"


def test_missing_and_invalid(client: tuple[TestClient, dict]) -> None:
    c, tokens = client
    r = c.get("/api/v1/digests/2026-11-17", headers=tokens["supervisor"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = c.get("/api/v1/digests/2026-11-18?kind=weekly", headers=tokens["supervisor"])
    assert r.status_code == 404
    r = c.get("/api/v1/digests/not-a-date", headers=tokens["supervisor"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
    r = c.get("/api/v1/digests/2026-11-18?format=exe", headers=tokens["supervisor"])
    assert r.status_code == 422
