"""Authentication and authorization as typed dependencies.

Every route except `/health` and the login endpoint declares what it needs:

    from api.auth import Reader, Worker

    @router.get("/api/v1/topics")
    def topics(principal: Reader, store: StoreDep) -> ...: ...

or, when the route does not use the principal, `dependencies=[Depends(Require("read"))]`.
Routes ask for a *permission* (see `triage.users.ROLE_PERMISSIONS`), never a role name:

    Reader      read      patrol, press, supervisor, admin
    Flagger     flag      patrol, press, supervisor
    Worker      work      press, supervisor
    Approver    approve   supervisor
    Auditor     audit     supervisor, admin
    UserAdmin   users     admin
    PlaybookAdmin playbooks admin
    Ingestor    ingest    service accounts whose token has the `ingest` scope
    FeedReader  feed      service accounts whose token has the `feed` scope
    Person      account   any person (not service accounts)
    Authenticated  (any valid token)

Tokens come as `Authorization: Bearer <token>`: a session token from `POST /api/v1/auth/login`
(signed with `settings.secret_key`) or a service-account API token. 401 means no or a bad
token, 403 a valid token without the permission; both in the one error shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.limits import LoginThrottle, client_address
from store import Settings, Store
from triage.errors import AuthError
from triage.users import Principal, ensure_bootstrap_admin, resolve_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="Session token from POST /api/v1/auth/login, or a service-account API token.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


PRINCIPAL_CACHE_SECONDS = 5.0


class PrincipalCache:
    """Resolved tokens for a few seconds, so a request costs no store lookup and no thread
    hop for authentication. Changes made through this app's user endpoints clear it; changes
    made elsewhere (the CLI, another process) apply within `ttl` seconds."""

    def __init__(
        self, ttl: float = PRINCIPAL_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        now = self.clock()
        if len(self._entries) > 10_000:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        self._entries[token] = (now + self.ttl, principal)

    def clear(self) -> None:
        self._entries = {}


def principal_cache(app: Any) -> PrincipalCache:
    cache: PrincipalCache | None = getattr(app.state, "principal_cache", None)
    if cache is None:
        cache = app.state.principal_cache = PrincipalCache()
    return cache


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "missing bearer token", headers=_CHALLENGE)
    cache = principal_cache(request.app)
    token = credentials.credentials
    principal = cache.get(token)
    if principal is not None:
        return principal
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    try:
        principal = await run_in_threadpool(
            resolve_token,
            store,
            settings.secret_key.get_secret_value(),
            token,
            now=datetime.now(UTC),
        )
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc), headers=_CHALLENGE) from None
    cache.put(token, principal)
    return principal


class Require:
    """Dependency: the caller must hold `permission` (None: any authenticated caller).
    The RBAC test finds it on every route through its `permission` attribute."""

    def __init__(self, permission: str | None) -> None:
        self.permission = permission

    async def __call__(
        self, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if self.permission is not None and not principal.can(self.permission):
            raise ApiError(
                403,
                "forbidden",
                f"role {principal.role.value!r} lacks the {self.permission!r} permission",
            )
        return principal


Authenticated = Annotated[Principal, Depends(Require(None))]
Reader = Annotated[Principal, Depends(Require("read"))]
Flagger = Annotated[Principal, Depends(Require("flag"))]
Worker = Annotated[Principal, Depends(Require("work"))]
Approver = Annotated[Principal, Depends(Require("approve"))]
Auditor = Annotated[Principal, Depends(Require("audit"))]
UserAdmin = Annotated[Principal, Depends(Require("users"))]
PlaybookAdmin = Annotated[Principal, Depends(Require("playbooks"))]
Ingestor = Annotated[Principal, Depends(Require("ingest"))]
FeedReader = Annotated[Principal, Depends(Require("feed"))]
Person = Annotated[Principal, Depends(Require("account"))]


def login_throttle(app: Any) -> LoginThrottle:
    """The app's one login throttle (built from the settings on first use)."""
    throttle: LoginThrottle | None = getattr(app.state, "login_throttle", None)
    if throttle is None:
        settings: Settings = app.state.settings
        throttle = app.state.login_throttle = LoginThrottle(
            client_limit=settings.auth_rate_limit,
            window=settings.auth_rate_window_seconds,
            account_failures=settings.auth_account_failures,
            backoff_max=settings.auth_backoff_max_seconds,
            max_keys=settings.auth_throttle_max_keys,
        )
    return throttle


def client_of(request: Request) -> str:
    """The caller's address; X-Forwarded-For counts only from `TINGFENG_TRUSTED_PROXIES`."""
    settings: Settings = request.app.state.settings
    return client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxies,
    )


def too_many(retry_after: int, what: str) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many {what}; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


async def auth_rate_limit(request: Request) -> None:
    """Dependency for auth endpoints: at most `auth_rate_limit` calls per client address
    per window (429 with Retry-After beyond that). The login route adds the per-account
    backoff (`LoginThrottle`)."""
    retry_after = login_throttle(request.app).hit_client(f"{client_of(request)}:{request.url.path}")
    if retry_after is not None:
        raise too_many(retry_after, "attempts from this address")


AuthRateLimit = Depends(auth_rate_limit)


def _error_model() -> dict[int | str, dict[str, object]]:
    from api.errors import ErrorResponse

    return {
        401: {"model": ErrorResponse, "description": "missing, invalid or expired token"},
        403: {"model": ErrorResponse, "description": "the token lacks the permission"},
    }


AUTH_RESPONSES = _error_model()


def bootstrap_admin(store: Store, settings: Settings) -> None:
    """Create the bootstrap admin at start-up when configured and no admin exists."""
    if settings.bootstrap_admin_password is None:
        return
    ensure_bootstrap_admin(
        store,
        settings.bootstrap_admin_username,
        settings.bootstrap_admin_password.get_secret_value(),
        now=datetime.now(UTC),
    )
