"""Users, roles, passwords and tokens (standard library only).

Least privilege: each role gets a fixed set of permissions (`ROLE_PERMISSIONS`); API routes ask
for a permission, never for a role name. Service accounts (partner systems) have no password;
their API tokens carry scopes (`ingest`, `feed`) and optionally the admin-code prefixes their
feed is limited to.

Tokens:
- session tokens (login, `tingfeng users token` for a person): `tfs.<payload>.<hmac>`, signed
  with `settings.secret_key`, expiring; they name the user's `token_version`, so disabling a
  user or changing the password revokes every session at once.
- API tokens (service accounts): `tfk_<key id>_<secret>`; only a SHA-256 of the token is
  stored, looked up by key id and compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from store.base import Store
from store.records import ApiToken, Role, User
from triage.audit import record_change
from triage.errors import AuthError, UserError

log = logging.getLogger(__name__)

USERS = "users"
TOKENS = "api-tokens"

PERMISSIONS = {
    "read": "read incidents, posts, topics, sources, the playbook",
    "flag": "open incidents by hand, flag posts into incidents",
    "work": "transition and assign incidents, write reply drafts",
    "approve": "approve and publish replies",
    "audit": "read the audit log",
    "users": "manage users and tokens",
    "playbooks": "check and manage playbooks",
    "ingest": "send posts (service accounts)",
    "feed": "read the partner feeds (service accounts)",
    "account": "change one's own password (people)",
}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.patrol: frozenset({"account", "read", "flag"}),
    Role.press: frozenset({"account", "read", "flag", "work"}),
    Role.supervisor: frozenset({"account", "read", "flag", "work", "approve", "audit"}),
    Role.admin: frozenset({"account", "read", "audit", "users", "playbooks"}),
    Role.service: frozenset(),  # from the token's scopes
}
SERVICE_SCOPES = frozenset({"ingest", "feed"})

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
KEY_ID = re.compile(r"[0-9a-f]{12}")
MIN_PASSWORD = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_PREFIX = "tfs"
API_PREFIX = "tfk"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, their role and what they may do."""

    username: str
    role: Role
    permissions: frozenset[str]
    via: str = "session"  # session | api_token
    token_id: str | None = None
    jurisdictions: tuple[str, ...] = field(default_factory=tuple)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


# --------------------------------------------------------------------------------------------
# passwords
# --------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` with a random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(digest)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters", field="password")
    if password.lower() in {"changeme123", "password123", "1234567890", "qwertyuiop"}:
        raise UserError("password is too common", field="password")


# --------------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------------


def normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise UserError(
            f"username {username!r} must be 2-64 of a-z, 0-9, '.', '_', '-' "
            "and start with a letter or digit",
            field="username",
        )
    return name


def get_user(store: Store, username: str) -> User | None:
    try:
        name = normalize_username(username)
    except UserError:
        return None
    return store.get(USERS, name, User)


def add_user(
    store: Store,
    username: str,
    role: Role | str,
    *,
    password: str | None,
    now: datetime,
    actor: str,
    display_name: str | None = None,
    email: str | None = None,
    teams: list[str] | None = None,
) -> User:
    """Create a user. People need a password; service accounts must not have one."""
    name = normalize_username(username)
    try:
        role = Role(role)
    except ValueError:
        raise UserError(
            f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}", field="role"
        ) from None
    if role is Role.service:
        if password:
            raise UserError("service accounts use API tokens, not passwords", field="password")
        password_hash = None
    else:
        if not password:
            raise UserError("people need a password", field="password")
        check_password_strength(password)
        password_hash = hash_password(password)
    if store.get(USERS, name, User) is not None:
        raise UserError(f"user {name!r} already exists", field="username", kind="exists")
    user = User(
        id=name,
        username=name,
        display_name=display_name,
        role=role,
        email=email,
        teams=list(teams or []),
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    store.put(USERS, user)
    record_change(
        store,
        entity_type="user",
        entity_id=name,
        action="user.create",
        actor=actor,
        at=now,
        before={},
        after={"role": role.value, "teams": user.teams},
    )
    return user


def list_users(store: Store, *, size: int = 1000) -> list[User]:
    return store.find(USERS, User, sort="username", size=size)


def _require_user(store: Store, username: str) -> User:
    user = get_user(store, username)
    if user is None:
        raise UserError(f"no user {username!r}", field="username", kind="missing")
    return user


def set_disabled(store: Store, username: str, disabled: bool, *, now: datetime, actor: str) -> User:
    """Disable (revoking every session and API token) or re-enable a user."""
    user = _require_user(store, username)
    if user.disabled == disabled:
        return user
    before = {"disabled": user.disabled}
    user.disabled = disabled
    user.token_version += 1
    user.updated_at = now
    store.put(USERS, user)
    if disabled:
        tokens = store.find(TOKENS, ApiToken, where={"user_id": user.id}, size=1000)
        revoked = [t.model_copy(update={"revoked_at": now}) for t in tokens if t.revoked_at is None]
        result = store.put_many(TOKENS, revoked)
        if result.failed:
            raise ValueError(f"api tokens not revoked: {result.failed}")
    record_change(
        store,
        entity_type="user",
        entity_id=user.id,
        action="user.disable" if disabled else "user.enable",
        actor=actor,
        at=now,
        before=before,
        after={"disabled": disabled},
    )
    return user


def set_password(store: Store, username: str, password: str, *, now: datetime, actor: str) -> User:
    user = _require_user(store, username)
    if user.role is Role.service:
        raise UserError("service accounts use API tokens, not passwords", field="password")
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.token_version += 1
    user.updated_at = now
    store.put(USERS, user)
    record_change(
        store,
        entity_type="user",
        entity_id=user.id,
        action="user.password",
        actor=actor,
        at=now,
        before={},
        after={},
    )
    return user


def authenticate(store: Store, username: str, password: str, *, now: datetime) -> User:
    """The user if the password is right and the account active; AuthError otherwise
    (same message and about the same time whether or not the user exists)."""
    user = get_user(store, username)
    encoded = user.password_hash if user and user.password_hash else _dummy_hash()
    ok = verify_password(password, encoded)
    if not ok or user is None or user.disabled or user.password_hash is None:
        raise AuthError("wrong username or password, or the account is disabled")
    user.last_login_at = now
    store.put(USERS, user)
    return user


def ensure_bootstrap_admin(store: Store, username: str, password: str, *, now: datetime) -> bool:
    """Create the bootstrap admin when no active admin exists; True if one was created."""
    admins = store.find(USERS, User, where={"role": Role.admin.value, "disabled": False}, size=1)
    if admins or get_user(store, username) is not None:
        return False
    add_user(store, username, Role.admin, password=password, now=now, actor="bootstrap")
    log.info("created bootstrap admin %r", username)
    return True


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


def _sign(secret: str, payload: bytes) -> str:
    return _b64(hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest())


def issue_session_token(
    user: User, secret: str, *, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    expires = now + ttl
    payload = json.dumps(
        {"sub": user.id, "ver": user.token_version, "exp": int(expires.timestamp())},
        separators=(",", ":"),
    ).encode("utf-8")
    body = _b64(payload)
    return f"{SESSION_PREFIX}.{body}.{_sign(secret, body.encode('ascii'))}", expires


def _token_hash(token: str) -> str:
    return "sha256$" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_api_token(
    store: Store,
    username: str,
    *,
    name: str,
    scopes: list[str],
    jurisdictions: list[str] | None = None,
    ttl: timedelta | None = None,
    now: datetime,
    actor: str,
) -> tuple[str, ApiToken]:
    """A new API token for a service account; the clear token is returned once, never stored."""
    user = _require_user(store, username)
    if user.role is not Role.service:
        raise UserError("API tokens are for service accounts; people log in", field="username")
    if user.disabled:
        raise UserError(f"user {user.id!r} is disabled", field="username")
    unknown = sorted(set(scopes) - SERVICE_SCOPES)
    if unknown or not scopes:
        raise UserError(
            f"scopes must be some of {sorted(SERVICE_SCOPES)} (got {scopes})", field="scopes"
        )
    for code in jurisdictions or []:
        if not code.isdigit() or len(code) > 12:
            raise UserError(f"jurisdiction {code!r} is not an admin code", field="jurisdictions")
    key_id = secrets.token_hex(6)
    token = f"{API_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiToken(
        id=key_id,
        user_id=user.id,
        name=name,
        scopes=sorted(set(scopes)),
        jurisdictions=list(jurisdictions or []),
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    store.put(TOKENS, record)
    record_change(
        store,
        entity_type="user",
        entity_id=user.id,
        action="token.create",
        actor=actor,
        at=now,
        before={},
        after={"token": key_id, "scopes": record.scopes, "jurisdictions": record.jurisdictions},
    )
    return token, record


def revoke_api_token(store: Store, key_id: str, *, now: datetime, actor: str) -> ApiToken:
    token = store.get(TOKENS, key_id, ApiToken)
    if token is None:
        raise UserError(f"no token {key_id!r}", field="token", kind="missing")
    if token.revoked_at is None:
        token.revoked_at = now
        store.put(TOKENS, token)
        record_change(
            store,
            entity_type="user",
            entity_id=token.user_id,
            action="token.revoke",
            actor=actor,
            at=now,
            before={"token": key_id},
            after={},
        )
    return token


def _active_user(store: Store, user_id: str) -> User:
    user = store.get(USERS, user_id, User)
    if user is None or user.disabled:
        raise AuthError("the account is unknown or disabled")
    return user


def resolve_token(store: Store, secret: str, token: str, *, now: datetime) -> Principal:
    """The principal a bearer token stands for; AuthError if it is invalid, expired or revoked."""
    if not token.isascii() or len(token) > 2048:
        raise AuthError("invalid token")
    if token.startswith(SESSION_PREFIX + "."):
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(
            _sign(secret, parts[1].encode("ascii")).encode("ascii"), parts[2].encode("ascii")
        ):
            raise AuthError("invalid token")
        try:
            claims = json.loads(_unb64(parts[1]))
            user_id, version, expires = str(claims["sub"]), int(claims["ver"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError):
            raise AuthError("invalid token") from None
        if expires <= now.timestamp():
            raise AuthError("token expired; log in again")
        user = _active_user(store, user_id)
        if user.token_version != version:
            raise AuthError("token revoked; log in again")
        return Principal(user.id, user.role, ROLE_PERMISSIONS[user.role])
    if token.startswith(API_PREFIX + "_"):
        parts = token.split("_", 2)
        if len(parts) != 3 or not KEY_ID.fullmatch(parts[1]):
            raise AuthError("invalid token")
        record = store.get(TOKENS, parts[1], ApiToken)
        if record is None or not hmac.compare_digest(record.token_hash, _token_hash(token)):
            raise AuthError("invalid token")
        if record.revoked_at is not None:
            raise AuthError("token revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise AuthError("token expired")
        user = _active_user(store, record.user_id)
        return Principal(
            user.id,
            user.role,
            frozenset(record.scopes) & SERVICE_SCOPES,
            via="api_token",
            token_id=record.id,
            jurisdictions=tuple(record.jurisdictions),
        )
    raise AuthError("invalid token")
