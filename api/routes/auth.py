"""Login, the caller's own account, and user/token management (admins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import (
    AUTH_RESPONSES,
    Authenticated,
    AuthRateLimit,
    Person,
    UserAdmin,
    principal_cache,
)
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError
from store.records import ApiToken, Role, User
from triage.errors import AuthError, UserError
from triage.users import (
    ROLE_PERMISSIONS,
    add_user,
    authenticate,
    issue_api_token,
    issue_session_token,
    list_users,
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
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64)
    role: Role
    password: str | None = Field(None, max_length=256, description="none for service accounts")
    display_name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=200)
    teams: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=20)


class UserList(BaseModel):
    total: int
    items: list[UserPublic]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=2, description="ingest, feed")
    jurisdictions: list[Annotated[str, Field(max_length=12)]] = Field(
        default_factory=list, max_length=50, description="admin-code prefixes; [] = all"
    )
    ttl_days: int | None = Field(None, ge=1, le=3650)


class TokenCreated(BaseModel):
    token: str = Field(description="shown once; only its hash is stored")
    id: str
    user: str
    scopes: list[str]
    jurisdictions: list[str]
    expires_at: datetime | None

    @classmethod
    def of(cls, token: str, record: ApiToken) -> TokenCreated:
        return cls(
            token=token,
            id=record.id,
            user=record.user_id,
            scopes=record.scopes,
            jurisdictions=record.jurisdictions,
            expires_at=record.expires_at,
        )


def _user_error(exc: UserError) -> ApiError:
    status, code = {"exists": (409, "conflict"), "missing": (404, "not_found")}.get(
        exc.kind, (422, "invalid_input")
    )
    return ApiError(status, code, str(exc), [{"field": exc.field, "message": str(exc)}])


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    summary="Log in; returns a bearer token",
    dependencies=[AuthRateLimit],
)
def login(body: LoginRequest, store: StoreDep, settings: SettingsDep) -> LoginResponse:
    now = datetime.now(UTC)
    try:
        user = authenticate(store, body.username, body.password, now=now)
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
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
)
def change_password(
    body: PasswordChange, principal: Person, store: StoreDep, request: Request
) -> None:
    now = datetime.now(UTC)
    try:
        authenticate(store, principal.username, body.current_password, now=now)
    except AuthError:
        raise ApiError(
            403,
            "forbidden",
            "current password is wrong",
            [{"field": "current_password", "message": "wrong password"}],
        ) from None
    try:
        set_password(
            store, principal.username, body.new_password, now=now, actor=principal.username
        )
    except UserError as exc:
        raise _user_error(exc) from None
    principal_cache(request.app).clear()  # other sessions of this user end now


@router.get("/users", response_model=UserList, summary="List users (admin)")
def users(principal: UserAdmin, store: StoreDep) -> UserList:
    items = [UserPublic.of(u) for u in list_users(store)]
    return UserList(total=len(items), items=items)


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user (admin)")
def create_user(body: UserCreate, principal: UserAdmin, store: StoreDep) -> UserPublic:
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
        )
    except UserError as exc:
        raise _user_error(exc) from None
    return UserPublic.of(user)


@router.post(
    "/users/{username}/disable", response_model=UserPublic, summary="Disable a user (admin)"
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
)
def create_token(
    username: Username, body: TokenCreate, principal: UserAdmin, store: StoreDep
) -> TokenCreated:
    try:
        token, record = issue_api_token(
            store,
            username,
            name=body.name,
            scopes=body.scopes,
            jurisdictions=body.jurisdictions,
            ttl=timedelta(days=body.ttl_days) if body.ttl_days else None,
            now=datetime.now(UTC),
            actor=principal.username,
        )
    except UserError as exc:
        raise _user_error(exc) from None
    return TokenCreated.of(token, record)
