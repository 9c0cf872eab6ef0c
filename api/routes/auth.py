"""Login, the caller's own account, and user/token management (admins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.auth import (
    AUTH_RESPONSES,
    Authenticated,
    AuthRateLimit,
    Person,
    UserAdmin,
    client_of,
    login_throttle,
    principal_cache,
    too_many,
)
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError
from api.openapi import CONFLICT, THROTTLED
from store.records import ApiToken, Role, User
from triage.errors import AuthError, UserError
from triage.users import (
    ROLE_PERMISSIONS,
    add_user,
    authenticate,
    get_user,
    issue_api_token,
    issue_session_token,
    list_api_tokens,
    list_users,
    revoke_api_token,
    set_disabled,
    set_password,
)

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=AUTH_RESPONSES)

Username = Annotated[str, Path(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserPublic(BaseModel):
    username: str
    display_name: str | None
    role: Role
    email: str | None
    teams: list[str]
    disabled: bool
    permissions: list[str]
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            email=user.email,
            teams=user.teams,
            disabled=user.disabled,
            permissions=sorted(ROLE_PERMISSIONS[user.role]),
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: UserPublic


class Me(BaseModel):
    username: str
    role: Role
    permissions: list[str]
    via: str
    jurisdictions: list[str]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # stated in the schema: people have a password, services none
            "if": {"properties": {"role": {"const": "service"}}, "required": ["role"]},
            "then": {"properties": {"password": {"type": "null"}}},
            "else": {
                "required": ["password"],
                "properties": {"password": {"type": "string", "minLength": 10}},
            },
        },
    )

    username: str = Field(
        min_length=2,
        max_length=64,
        pattern=r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{1,63}\s*$",
        description="a-z, 0-9, '.', '_', '-' (lower-cased)",
    )
    role: Role
    password: str | None = Field(
        None,
        max_length=256,
        description="people: at least 10 characters, not a common or breached password, "
        "not containing the username; none for service accounts",
    )
    display_name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=200)
    teams: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=20)


class UserList(BaseModel):
    total: int
    items: list[UserPublic]


def _needs(scope: str, field: str) -> JsonDict:
    return {
        "if": {"properties": {"scopes": {"contains": {"const": scope}}}, "required": ["scopes"]},
        "then": {"required": [field], "properties": {field: {"minItems": 1}}},
    }


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # stated in the schema: what each scope needs; 'all' alone
            "allOf": [
                _needs("feed", "jurisdictions"),
                _needs("ingest", "sources"),
                {
                    "if": {
                        "properties": {"jurisdictions": {"contains": {"const": "all"}}},
                        "required": ["jurisdictions"],
                    },
                    "then": {"properties": {"jurisdictions": {"maxItems": 1}}},
                },
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["ingest", "feed"]] = Field(min_length=1, max_length=2)
    jurisdictions: list[Annotated[str, Field(pattern=r"^(all|[0-9]{1,12})$")]] = Field(
        default_factory=list,
        max_length=50,
        description="feed scope: admin-code prefixes, or ['all'] for every jurisdiction "
        "(required with feed; 'all' stands alone)",
    )
    sources: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]] = Field(
        default_factory=list,
        max_length=50,
        description="ingest scope: the post sources the token may write (required with ingest)",
    )
    ttl_days: int | None = Field(
        None, ge=1, le=3650, description="lifetime; default TINGFENG_API_TOKEN_TTL_DAYS"
    )


class TokenCreated(BaseModel):
    token: str = Field(description="shown once; only its hash is stored")
    id: str
    user: str
    scopes: list[str]
    jurisdictions: list[str]
    sources: list[str]
    expires_at: datetime | None

    @classmethod
    def of(cls, token: str, record: ApiToken) -> TokenCreated:
        return cls(
            token=token,
            id=record.id,
            user=record.user_id,
            scopes=record.scopes,
            jurisdictions=record.jurisdictions,
            sources=record.sources,
            expires_at=record.expires_at,
        )


class TokenPublic(BaseModel):
    """An API token as listed: never the token or its hash."""

    id: str
    user: str
    name: str
    scopes: list[str]
    jurisdictions: list[str]
    sources: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiToken) -> TokenPublic:
        return cls(
            id=record.id,
            user=record.user_id,
            name=record.name,
            scopes=record.scopes,
            jurisdictions=record.jurisdictions,
            sources=record.sources,
            created_at=record.created_at,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
        )


class TokenList(BaseModel):
    total: int
    items: list[TokenPublic]


def _user_error(exc: UserError) -> ApiError:
    status, code = {
        "exists": (409, "conflict"),
        "conflict": (409, "conflict"),
        "missing": (404, "not_found"),
    }.get(exc.kind, (422, "invalid_input"))
    return ApiError(status, code, str(exc), [{"field": exc.field, "message": str(exc)}])


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    summary="Log in; returns a bearer token",
    dependencies=[AuthRateLimit],
    responses=THROTTLED,
)
def login(
    body: LoginRequest, store: StoreDep, settings: SettingsDep, request: Request
) -> LoginResponse:
    """Every attempt is audited. After `TINGFENG_AUTH_ACCOUNT_FAILURES` failures in a row an
    account waits (doubling, up to `TINGFENG_AUTH_BACKOFF_MAX_SECONDS`) before the next
    attempt is even checked: 429 with Retry-After."""
    now = datetime.now(UTC)
    throttle = login_throttle(request.app)
    account = body.username.strip().lower()
    wait = throttle.account_wait(account)
    if wait is not None:
        raise too_many(wait, "failed logins for this account")
    try:
        user = authenticate(store, body.username, body.password, now=now, client=client_of(request))
    except AuthError as exc:
        throttle.account_failed(account)
        raise ApiError(401, "unauthorized", str(exc)) from None
    throttle.account_succeeded(account)
    token, expires = issue_session_token(
        user,
        settings.secret_key.get_secret_value(),
        now=now,
        ttl=timedelta(hours=settings.session_ttl_hours),
    )
    return LoginResponse(access_token=token, expires_at=expires, user=UserPublic.of(user))


@router.get("/auth/me", response_model=Me, summary="Who the token belongs to")
def me(principal: Authenticated) -> Me:
    return Me(
        username=principal.username,
        role=principal.role,
        permissions=sorted(principal.permissions),
        via=principal.via,
        jurisdictions=list(principal.jurisdictions),
    )


@router.post(
    "/auth/password",
    status_code=204,
    summary="Change your own password (revokes your other sessions)",
    dependencies=[AuthRateLimit],
    responses=THROTTLED,
)
def change_password(
    body: PasswordChange,
    principal: Person,
    store: StoreDep,
    settings: SettingsDep,
    request: Request,
) -> None:
    now = datetime.now(UTC)
    try:
        authenticate(
            store, principal.username, body.current_password, now=now, client=client_of(request)
        )
    except AuthError:
        raise ApiError(
            403,
            "forbidden",
            "current password is wrong",
            [{"field": "current_password", "message": "wrong password"}],
        ) from None
    try:
        set_password(
            store,
            principal.username,
            body.new_password,
            now=now,
            actor=principal.username,
            blocklist=settings.password_blocklist_file,
        )
    except UserError as exc:
        raise _user_error(exc) from None
    principal_cache(request.app).clear()  # other sessions of this user end now


@router.get("/users", response_model=UserList, summary="List users (admin)")
def users(principal: UserAdmin, store: StoreDep) -> UserList:
    items = [UserPublic.of(u) for u in list_users(store)]
    return UserList(total=len(items), items=items)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=201,
    summary="Create a user (admin)",
    responses=CONFLICT,
)
def create_user(
    body: UserCreate, principal: UserAdmin, store: StoreDep, settings: SettingsDep
) -> UserPublic:
    try:
        user = add_user(
            store,
            body.username,
            body.role,
            password=body.password,
            now=datetime.now(UTC),
            actor=principal.username,
            display_name=body.display_name,
            email=body.email,
            teams=body.teams,
            blocklist=settings.password_blocklist_file,
        )
    except UserError as exc:
        raise _user_error(exc) from None
    return UserPublic.of(user)


@router.post(
    "/users/{username}/disable",
    response_model=UserPublic,
    summary="Disable a user (admin)",
    responses=CONFLICT,
)
def disable_user(
    username: Username, principal: UserAdmin, store: StoreDep, request: Request
) -> UserPublic:
    if username.lower() == principal.username:
        raise ApiError(409, "conflict", "you cannot disable your own account")
    try:
        user = set_disabled(store, username, True, now=datetime.now(UTC), actor=principal.username)
    except UserError as exc:
        raise _user_error(exc) from None
    principal_cache(request.app).clear()  # their tokens stop working at once
    return UserPublic.of(user)


@router.post("/users/{username}/enable", response_model=UserPublic, summary="Re-enable a user")
def enable_user(username: Username, principal: UserAdmin, store: StoreDep) -> UserPublic:
    try:
        user = set_disabled(store, username, False, now=datetime.now(UTC), actor=principal.username)
    except UserError as exc:
        raise _user_error(exc) from None
    return UserPublic.of(user)


@router.post(
    "/users/{username}/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Issue an API token for a service account (admin)",
    responses=CONFLICT,
)
def create_token(
    username: Username,
    body: TokenCreate,
    principal: UserAdmin,
    store: StoreDep,
    settings: SettingsDep,
) -> TokenCreated:
    try:
        token, record = issue_api_token(
            store,
            username,
            name=body.name,
            scopes=list(body.scopes),
            jurisdictions=body.jurisdictions,
            sources=body.sources,
            ttl=timedelta(days=body.ttl_days or settings.api_token_ttl_days),
            now=datetime.now(UTC),
            actor=principal.username,
        )
    except UserError as exc:
        raise _user_error(exc) from None
    return TokenCreated.of(token, record)


@router.get(
    "/users/{username}/tokens",
    response_model=TokenList,
    summary="List a service account's API tokens (admin)",
)
def list_tokens(username: Username, principal: UserAdmin, store: StoreDep) -> TokenList:
    if get_user(store, username) is None:
        raise ApiError(404, "not_found", f"no user {username!r}")
    items = [TokenPublic.of(t) for t in list_api_tokens(store, username)]
    return TokenList(total=len(items), items=items)


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=TokenPublic,
    summary="Revoke an API token (admin); it stops working at once",
)
def revoke_token(
    token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")],
    principal: UserAdmin,
    store: StoreDep,
    request: Request,
) -> TokenPublic:
    try:
        record = revoke_api_token(store, token_id, now=datetime.now(UTC), actor=principal.username)
    except UserError as exc:
        raise _user_error(exc) from None
    principal_cache(request.app).clear()
    return TokenPublic.of(record)
