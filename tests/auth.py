"""Test setup for the secured API: users of every role and their bearer tokens.

Users are written straight to the store (no password hashing: tests get session tokens
directly), which is what `tingfeng users add` + login would produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from store import Settings, Store
from store.records import Role, User
from triage.users import issue_api_token, issue_session_token

PEOPLE = ("patrol", "press", "supervisor", "admin")


def make_user(store: Store, username: str, role: str, *, teams: list[str] | None = None) -> User:
    now = datetime.now(UTC)
    user = User(
        id=username,
        username=username,
        role=Role(role),
        teams=teams or [],
        created_at=now,
        updated_at=now,
    )
    store.put("users", user)
    return user


def session_token(settings: Settings, user: User) -> str:
    token, _ = issue_session_token(
        user, settings.secret_key.get_secret_value(), now=datetime.now(UTC), ttl=timedelta(hours=1)
    )
    return token


# The post sources the test service account's ingest token may write.
SERVICE_SOURCES = ["partner-12345", "s", "partner-hotline"]


def service_token(
    store: Store,
    username: str,
    scopes: list[str],
    jurisdictions: list[str] | None = None,
    sources: list[str] | None = None,
) -> str:
    """An API token; a feed token sees every jurisdiction ('all') and an ingest token writes
    SERVICE_SOURCES unless given."""
    if store.get("users", username, User) is None:
        make_user(store, username, "service")
    token, _ = issue_api_token(
        store,
        username,
        name="test",
        scopes=scopes,
        jurisdictions=jurisdictions or (["all"] if "feed" in scopes else None),
        sources=sources or (SERVICE_SOURCES if "ingest" in scopes else None),
        now=datetime.now(UTC),
        actor="test",
    )
    return token


def make_tokens(store: Store, settings: Settings) -> dict[str, str]:
    """One token per role: the four people roles and a service account (ingest + feed)."""
    tokens = {role: session_token(settings, make_user(store, f"t-{role}", role)) for role in PEOPLE}
    tokens["service"] = service_token(store, "t-service", ["ingest", "feed"])
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class RouteAuth:
    """Picks the token by route: posting posts as the ingest service account, everything else
    as `reader` (for tests of routes that predate authentication). A callable, so it works as
    the `auth` of any httpx-style client (TestClient included)."""

    def __init__(self, tokens: dict[str, str], reader: str = "patrol") -> None:
        self.tokens = tokens
        self.reader = reader

    def __call__(self, request: Any) -> Any:
        ingest = request.method == "POST" and request.url.path == "/api/v1/posts"
        token = self.tokens["service" if ingest else self.reader]
        request.headers["Authorization"] = f"Bearer {token}"
        return request
