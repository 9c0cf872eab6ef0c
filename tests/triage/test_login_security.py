"""Accounts that stay shut (issue 12, Medium 3 and 6, and the password items of Low):
a login never writes back a stale user record (a deterministic interleaving, both backends),
login throttling per account with backoff and trusted proxies, bounded and expiring, scrypt
at N=2^17 with rehash on login, common and breached passwords refused, logins audited."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import LoginThrottle, client_address
from store import Settings, Store
from store.records import AuditEvent, Role, User
from triage.errors import AuthError, UserError
from triage.users import (
    authenticate,
    check_password_strength,
    hash_password,
    issue_session_token,
    resolve_token,
    set_disabled,
    set_password,
    verify_password,
)

SECRET = "test-secret-key-0123456789ab"
PASSWORD = "kite-orbit-lantern-47"
NEW_PASSWORD = "mossy-canyon-violet-82"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def legacy_hash(password: str) -> str:
    """A hash as the old code made it (scrypt N=2^14)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${_b64(salt)}${_b64(digest)}"


def _person(store: Store, password_hash: str) -> User:
    now = datetime.now(UTC)
    user = User(
        id="wang.wei", username="wang.wei", role=Role.press, password_hash=password_hash,
        created_at=now, updated_at=now,
    )  # fmt: skip
    store.put("users", user)
    return user


def interleave(store: Store, between: Callable[[], None]) -> None:
    """Run `between` right after the next read of a user: the point where a login has read
    the record and not yet written anything back. The store stays the real backend."""
    base = type(store)

    class Interleaved(base):  # type: ignore[valid-type, misc]
        def get(self, kind, id, model):  # type: ignore[no-untyped-def]
            record = super().get(kind, id, model)
            if kind == "users" and getattr(self, "_between", None) is not None:
                action, self._between = self._between, None
                action()
            return record

    store.__class__ = Interleaved
    store._between = between  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def current_hash() -> str:
    return hash_password(PASSWORD)


def test_a_login_racing_a_disable_leaves_the_account_disabled(
    store: Store, current_hash: str
) -> None:
    _person(store, current_hash)
    now = datetime.now(UTC)
    interleave(store, lambda: set_disabled(store, "wang.wei", True, now=now, actor="admin"))
    user = authenticate(store, "wang.wei", PASSWORD, now=now)  # read before the disable
    token, _ = issue_session_token(user, SECRET, now=now, ttl=timedelta(hours=1))
    stored = store.get("users", "wang.wei", User)
    assert stored is not None and stored.disabled and stored.token_version == 1
    assert stored.last_login_at == now
    with pytest.raises(AuthError):
        resolve_token(store, SECRET, token, now=now)
    with pytest.raises(AuthError):
        authenticate(store, "wang.wei", PASSWORD, now=now)


def test_a_login_racing_a_password_change_keeps_the_new_password(store: Store) -> None:
    # an old-cost hash: the login also tries to upgrade it, and must not undo the change
    _person(store, legacy_hash(PASSWORD))
    now = datetime.now(UTC)
    interleave(
        store, lambda: set_password(store, "wang.wei", NEW_PASSWORD, now=now, actor="wang.wei")
    )
    authenticate(store, "wang.wei", PASSWORD, now=now)
    stored = store.get("users", "wang.wei", User)
    assert stored is not None and stored.token_version == 1 and stored.password_hash
    assert verify_password(NEW_PASSWORD, stored.password_hash)
    assert not verify_password(PASSWORD, stored.password_hash)


def test_scrypt_cost_and_rehash_on_login(store: Store) -> None:
    assert hash_password(PASSWORD).startswith("scrypt$131072$8$1$")
    old = legacy_hash(PASSWORD)
    _person(store, old)
    authenticate(store, "wang.wei", PASSWORD, now=datetime.now(UTC))
    upgraded = store.get("users", "wang.wei", User).password_hash  # type: ignore[union-attr]
    assert upgraded != old and upgraded.startswith("scrypt$131072$")  # type: ignore[union-attr]
    assert verify_password(PASSWORD, upgraded)  # type: ignore[arg-type]
    # a planted hash with an absurd cost is refused, not computed
    assert not verify_password(PASSWORD, "scrypt$1073741824$8$1$AAAA$AAAA")


def test_every_login_is_audited(store: Store, current_hash: str) -> None:
    _person(store, current_hash)
    now = datetime.now(UTC)
    authenticate(store, "wang.wei", PASSWORD, now=now, client="198.51.100.7")
    with pytest.raises(AuthError):
        authenticate(store, "wang.wei", "wrong password", now=now, client="203.0.113.9")
    with pytest.raises(AuthError):
        authenticate(store, "nobody", "wrong password", now=now, client="203.0.113.9")
    store.refresh()
    events = store.find("audit", AuditEvent, where={"entity_type": "user"}, size=10)
    seen = sorted((e.action, e.entity_id, e.reason) for e in events)
    assert seen == [
        ("auth.login", "wang.wei", "from 198.51.100.7"),
        ("auth.login_failed", "nobody", "from 203.0.113.9"),
        ("auth.login_failed", "wang.wei", "from 203.0.113.9"),
    ]


@pytest.mark.parametrize(
    "password", ["Woaini1314", "QWERTYUIOP123", "1234567890", "zzzzzzzzzzzz", "Password2024!"]
)
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(UserError, match="too common"):
        check_password_strength(password)


def test_a_breached_password_list_is_honoured(tmp_path: Path) -> None:
    breached = "glacier-tulip-1987"
    digest = hashlib.sha1(breached.encode(), usedforsecurity=False).hexdigest().upper()
    listing = tmp_path / "breached.txt"
    listing.write_text(f"{digest}:42\nplain-old-secret-77\n", encoding="utf-8")
    check_password_strength(breached)  # not on the bundled list
    for password in (breached, "Plain-Old-Secret-77"):
        with pytest.raises(UserError, match="too common"):
            check_password_strength(password, blocklist=listing)
    with pytest.raises(UserError, match="username"):
        check_password_strength("wang.wei-2026-spring", username="wang.wei")
    check_password_strength(PASSWORD, username="wang.wei", blocklist=listing)


# -- throttling ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_account_backoff_grows_resets_and_expires() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        client_limit=100, window=60, account_failures=3, backoff_max=300, clock=clock
    )
    for _ in range(3):
        assert throttle.account_wait("wang.wei") is None
        throttle.account_failed("wang.wei")
    waits = []
    for _ in range(12):
        wait = throttle.account_wait("wang.wei")
        assert wait is not None
        waits.append(wait)
        clock.now += wait
        throttle.account_failed("wang.wei")
    assert waits[:4] == [1, 2, 4, 8] and max(waits) == 300 and waits == sorted(waits)
    assert throttle.account_wait("li.na") is None  # other accounts are not affected
    clock.now += 301  # idle past the longest backoff: forgotten
    assert throttle.account_wait("wang.wei") is None
    throttle.account_failed("li.na")
    throttle.account_succeeded("li.na")
    assert throttle.account_wait("li.na") is None and len(throttle) == 0


def test_the_throttle_is_bounded_and_forgets_idle_clients() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        client_limit=2, window=60, account_failures=3, backoff_max=300, max_keys=100, clock=clock
    )
    for i in range(5000):
        throttle.hit_client(f"10.0.{i // 256}.{i % 256}")
        throttle.account_failed(f"user{i}")
    assert len(throttle) <= 200
    assert throttle.hit_client("192.0.2.1") is None and throttle.hit_client("192.0.2.1") is None
    assert throttle.hit_client("192.0.2.1") == 60
    clock.now += 61
    assert throttle.hit_client("192.0.2.1") is None


def test_forwarded_for_counts_only_from_trusted_proxies() -> None:
    chain = ["198.51.100.7, 10.0.0.9"]
    assert client_address("10.0.0.5", chain, "") == "10.0.0.5"
    assert client_address("10.0.0.5", chain, "10.0.0.0/24") == "198.51.100.7"
    assert client_address("203.0.113.1", chain, "10.0.0.0/24") == "203.0.113.1"  # not a proxy
    assert client_address("10.0.0.5", ["spoofed, 198.51.100.7"], "10.0.0.5") == "198.51.100.7"
    assert client_address("10.0.0.5", ["not-an-ip"], "10.0.0.5") == "10.0.0.5"


@pytest.fixture
def proxied(settings: Settings, store: Store, current_hash: str) -> Iterator[TestClient]:
    """The API behind a reverse proxy at 10.0.0.5 (every request arrives from it)."""
    now = datetime.now(UTC)
    for name in ("wang.wei", "li.na"):
        store.put("users", User(id=name, username=name, role=Role.press,
                                password_hash=current_hash, created_at=now, updated_at=now))  # fmt: skip
    configured = settings.model_copy(
        update={"trusted_proxies": "10.0.0.5", "auth_account_failures": 3}
    )
    app = create_app(configured, store=store)
    with TestClient(app, client=("10.0.0.5", 40000)) as client:
        yield client


def _login(client: TestClient, user: str, password: str, ip: str) -> int:
    return client.post(
        "/api/v1/auth/login",
        json={"username": user, "password": password},
        headers={"X-Forwarded-For": ip},
    ).status_code


def test_behind_the_proxy_one_account_is_throttled_not_everyone(proxied: TestClient) -> None:
    # an attacker spreads guesses for wang.wei over many addresses
    codes = [_login(proxied, "wang.wei", f"guess-{i}", f"203.0.113.{i}") for i in range(12)]
    assert codes[:3] == [401, 401, 401] and set(codes[3:]) == {429}
    # even the right password waits now, from any address
    assert _login(proxied, "wang.wei", PASSWORD, "198.51.100.50") == 429
    # a colleague behind the same proxy still logs in
    assert _login(proxied, "li.na", PASSWORD, "198.51.100.7") == 200


def test_addresses_are_limited_and_spoofing_does_not_help(
    settings: Settings, store: Store, current_hash: str
) -> None:
    configured = settings.model_copy(update={"auth_rate_limit": 4})
    with TestClient(create_app(configured, store=store), client=("203.0.113.1", 1)) as client:
        # not behind a trusted proxy: X-Forwarded-For is the attacker's own claim
        codes = [_login(client, f"user{i}", "guess", f"198.51.100.{i}") for i in range(6)]
    assert codes == [401, 401, 401, 401, 429, 429]
