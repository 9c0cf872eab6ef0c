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
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

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
# scrypt cost: N=2^17, r=8, p=1 (about 128 MiB and a few hundred ms per hash); hashes made
# with a lower cost are upgraded at the next successful login (`needs_rehash`)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
SCRYPT_MAXMEM = 2 * 128 * SCRYPT_R * SCRYPT_N * SCRYPT_P + 2**20
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ALL_JURISDICTIONS = "all"
DEFAULT_API_TOKEN_TTL = timedelta(days=90)
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
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
    sources: tuple[str, ...] = field(default_factory=tuple)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


# --------------------------------------------------------------------------------------------
# passwords
# --------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=dklen,
        maxmem=2 * 128 * r * n * p + 2**20,
    )


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` with a random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def needs_rehash(encoded: str) -> bool:
    """True if the hash was made with a lower cost than the current one."""
    try:
        scheme, n, r, p, _, _ = encoded.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        n_, r_, p_ = int(n), int(r), int(p)
        if n_ > 2**20 or r_ > 32 or p_ > 16:  # a planted hash must not exhaust memory
            return False
        actual = _scrypt(password, _unb64(salt), n_, r_, p_, len(_unb64(digest)))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


@lru_cache(maxsize=4)
def _blocklist(path: Path | None) -> frozenset[str]:
    """Lower-cased common passwords (bundled list), plus an operator's list: one password per
    line, or SHA-1 hex digests (as in breached-password downloads, `HASH` or `HASH:count`)."""
    words: set[str] = set()
    for file in (COMMON_PASSWORDS_FILE, path):
        if file is None:
            continue
        for line in file.read_text(encoding="utf-8").splitlines():
            entry = line.strip()
            if entry and not entry.startswith("#"):
                words.add(entry.split(":", 1)[0].lower() if _SHA1.match(entry) else entry.lower())
    return frozenset(words)


_TRAILING = re.compile(r"[\W\d_]+$")
_SHA1 = re.compile(r"^[0-9A-Fa-f]{40}(:\d+)?$")


def _weak_pattern(password: str) -> bool:
    """One repeated character, or a run of consecutive characters (1234567890, abcdefghij)."""
    if len(set(password)) <= 2:
        return True
    steps = {ord(b) - ord(a) for a, b in pairwise(password)}
    return steps <= {1} or steps <= {-1}


def check_password_strength(
    password: str, *, username: str | None = None, blocklist: Path | None = None
) -> None:
    """At least MIN_PASSWORD characters, not a common or breached password (the bundled list
    and `TINGFENG_PASSWORD_BLOCKLIST_FILE`), not a keyboard run, not the username."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters", field="password")
    lowered = password.lower()
    sha1 = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest()
    words = _blocklist(blocklist)
    stem = _TRAILING.sub("", lowered)
    if lowered in words or stem in words or sha1 in words or _weak_pattern(password):
        raise UserError(
            "password is too common (it is on a list of common or breached passwords); "
            "choose a longer, unusual one",
            field="password",
        )
    if username and len(username) >= 4 and username.lower() in lowered:
        raise UserError("password must not contain the username", field="password")


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
    blocklist: Path | None = None,
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
        check_password_strength(password, username=name, blocklist=blocklist)
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
    user = _revoking_update(store, user, {"disabled": disabled}, now=now)
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


def set_password(
    store: Store,
    username: str,
    password: str,
    *,
    now: datetime,
    actor: str,
    blocklist: Path | None = None,
) -> User:
    user = _require_user(store, username)
    if user.role is Role.service:
        raise UserError("service accounts use API tokens, not passwords", field="password")
    check_password_strength(password, username=user.id, blocklist=blocklist)
    user = _revoking_update(store, user, {"password_hash": hash_password(password)}, now=now)
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


def _revoking_update(store: Store, user: User, fields: dict[str, object], *, now: datetime) -> User:
    """Set `fields` and bump `token_version` (revoking every session) with a partial,
    compare-and-set write: nothing else of the stored user is touched, and a concurrent
    change of the same user is re-read instead of overwritten."""
    for _ in range(5):
        changes = {**fields, "token_version": user.token_version + 1, "updated_at": now}
        if store.update_fields(
            USERS, user.id, changes, expect={"token_version": user.token_version}
        ):
            return user.model_copy(update=changes)
        user = _require_user(store, user.id)
    raise UserError(
        f"user {user.id!r} is being changed concurrently; try again",
        field="username",
        kind="conflict",
    )


def authenticate(
    store: Store, username: str, password: str, *, now: datetime, client: str | None = None
) -> User:
    """The user if the password is right and the account active; AuthError otherwise
    (same message and about the same time whether or not the user exists).

    Every attempt is audited (`auth.login` / `auth.login_failed`, with the client address).
    Only `last_login_at` is written back (a partial write), so a login racing a disable or a
    password change can never restore the old record; a hash of an older scrypt cost is
    upgraded only if the stored hash is still the one just verified."""
    user = get_user(store, username)
    encoded = user.password_hash if user and user.password_hash else _dummy_hash()
    ok = verify_password(password, encoded)
    name = user.id if user else username.strip().lower()[:64]
    reason = f"from {client}" if client else None
    if not ok or user is None or user.disabled or user.password_hash is None:
        _audit_login(store, name, "auth.login_failed", now, reason)
        raise AuthError("wrong username or password, or the account is disabled")
    store.update_fields(USERS, user.id, {"last_login_at": now})
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        upgraded = hash_password(password)
        if store.update_fields(
            USERS,
            user.id,
            {"password_hash": upgraded},
            expect={"password_hash": user.password_hash},
        ):
            user.password_hash = upgraded
    _audit_login(store, user.id, "auth.login", now, reason)
    return user


def _audit_login(store: Store, name: str, action: str, now: datetime, reason: str | None) -> None:
    record_change(
        store,
        entity_type="user",
        entity_id=name or "-",
        action=action,
        actor=name or "-",
        at=now,
        before={},
        after={},
        reason=reason,
        key=f"{action}@{now.isoformat()}#{secrets.token_hex(4)}",
    )


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
    sources: list[str] | None = None,
    ttl: timedelta | None = DEFAULT_API_TOKEN_TTL,
    now: datetime,
    actor: str,
) -> tuple[str, ApiToken]:
    """A new API token for a service account; the clear token is returned once, never stored.

    An `ingest` token names the post sources it may write (`sources`); a `feed` token names
    its admin-code prefixes, or `all` explicitly (`jurisdictions`). Tokens expire after `ttl`
    (None: never, which must be asked for explicitly)."""
    user = _require_user(store, username)
    if user.role is not Role.service:
        raise UserError(
            "API tokens are for service accounts; people log in",
            field="username",
            kind="conflict",
        )
    if user.disabled:
        raise UserError(f"user {user.id!r} is disabled", field="username", kind="conflict")
    unknown = sorted(set(scopes) - SERVICE_SCOPES)
    if unknown or not scopes:
        raise UserError(
            f"scopes must be some of {sorted(SERVICE_SCOPES)} (got {scopes})", field="scopes"
        )
    jurisdictions = sorted(set(jurisdictions or []))
    sources = sorted(set(sources or []))
    if ALL_JURISDICTIONS in jurisdictions and len(jurisdictions) > 1:
        raise UserError(
            f"jurisdictions: {ALL_JURISDICTIONS!r} stands alone (got {jurisdictions})",
            field="jurisdictions",
        )
    for code in jurisdictions:
        if code != ALL_JURISDICTIONS and (not code.isdigit() or len(code) > 12):
            raise UserError(
                f"jurisdiction {code!r} is not an admin code (or {ALL_JURISDICTIONS!r})",
                field="jurisdictions",
            )
    if "feed" in scopes and not jurisdictions:
        raise UserError(
            "a feed token needs its jurisdictions (admin-code prefixes), "
            f"or {ALL_JURISDICTIONS!r} for every one",
            field="jurisdictions",
        )
    for source in sources:
        if not SOURCE_NAME.match(source):
            raise UserError(f"source {source!r} is not a source name", field="sources")
    if "ingest" in scopes and not sources:
        raise UserError(
            "an ingest token needs the post sources it may write (e.g. partner-hotline)",
            field="sources",
        )
    key_id = secrets.token_hex(6)
    token = f"{API_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiToken(
        id=key_id,
        user_id=user.id,
        name=name,
        scopes=sorted(set(scopes)),
        jurisdictions=jurisdictions if "feed" in scopes else [],
        sources=sources if "ingest" in scopes else [],
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
        after={
            "token": key_id,
            "scopes": record.scopes,
            "jurisdictions": record.jurisdictions,
            "sources": record.sources,
            "expires_at": record.expires_at,
        },
        key=key_id,
    )
    return token, record


def list_api_tokens(store: Store, username: str | None = None) -> list[ApiToken]:
    """API tokens (hashes only), newest first; of one service account if `username`."""
    where = {"user_id": normalize_username(username)} if username else None
    return store.find(TOKENS, ApiToken, where=where, sort="created_at", descending=True, size=1000)


def audit_session_token(
    store: Store, user: User, *, expires: datetime, now: datetime, actor: str
) -> None:
    """Record a session token issued outside a login (the CLI)."""
    record_change(
        store,
        entity_type="user",
        entity_id=user.id,
        action="session.issue",
        actor=actor,
        at=now,
        before={},
        after={"expires_at": expires},
        key=f"session.issue@{now.isoformat()}#{secrets.token_hex(4)}",
    )


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
            sources=tuple(record.sources),
        )
    raise AuthError("invalid token")
