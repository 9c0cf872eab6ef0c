"""Sign-in for the desk: a cookie session and a CSRF token on every state-changing form.

- The session cookie holds the same signed session token the API's login returns
  (`triage.users.issue_session_token`), so expiry and revocation (disable a user, change the
  password) work exactly as for bearer tokens; it is HttpOnly, SameSite=Strict, and Secure
  when the public URL is https.
- CSRF: a random nonce in its own cookie (`tf_desk_csrf`); forms carry
  HMAC(secret_key, nonce + session) in a hidden `csrf` field. A POST without the matching
  token is refused (403) before anything else happens.
- Permissions are the API's: a desk route asks `Need("approve")` and the check is
  `api.auth.Require`, the same object the API routes use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import Require, principal_cache
from api.errors import ApiError
from store import Settings, Store
from triage.errors import AuthError
from triage.users import Principal, resolve_token

SESSION_COOKIE = "tf_desk_session"
NONCE_COOKIE = "tf_desk_csrf"
CSRF_FIELD = "csrf"


class DeskError(Exception):
    """A desk request that cannot be served: shown as a page with `status`."""

    def __init__(
        self, status: int, message: str, *, title: str = "操作未完成", back: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title
        self.back = back


LOGIN_REASONS = {
    "login": "请先登录。",
    "expired": "登录已失效（过期、账号停用或密码已改），请重新登录。",
    "service": "服务账号不能登录工作台。",
}


class LoginRequired(Exception):
    """No valid session: GET pages redirect to the sign-in page, POSTs get 401. `code` is a
    key of LOGIN_REASONS (the sign-in page shows only those fixed texts)."""

    def __init__(self, code: str) -> None:
        super().__init__(LOGIN_REASONS[code])
        self.code = code
        self.reason = LOGIN_REASONS[code]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def nonce(request: Request) -> str:
    """This browser's CSRF nonce (a new one is set on the response by `remember_nonce`)."""
    value = request.cookies.get(NONCE_COOKIE)
    if not value or len(value) > 64:
        value = getattr(request.state, "desk_nonce", None) or secrets.token_urlsafe(24)
        request.state.desk_nonce = value
    return value


def csrf_token(request: Request) -> str:
    secret = _settings(request).secret_key.get_secret_value().encode("utf-8")
    session = request.cookies.get(SESSION_COOKIE, "")
    message = f"csrf|{nonce(request)}|{session}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def secure_cookies(request: Request) -> bool:
    return _settings(request).public_url.startswith("https://")


def remember_nonce(request: Request, response: Response) -> None:
    """Set the nonce cookie if this request had to make one up."""
    made = getattr(request.state, "desk_nonce", None)
    if made and request.cookies.get(NONCE_COOKIE) != made:
        response.set_cookie(
            NONCE_COOKIE,
            made,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/desk",
        )


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/desk",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/desk")


async def check_csrf(request: Request) -> None:
    """Dependency of every desk POST: the form's `csrf` must match this browser's session."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = csrf_token(request) if request.cookies.get(NONCE_COOKIE) else None
    if not isinstance(sent, str) or expected is None or not hmac.compare_digest(sent, expected):
        raise DeskError(
            403,
            "表单的安全令牌无效或已过期（CSRF）。请刷新页面后重试。",
            title="请求被拒绝",
        )


async def desk_principal(request: Request) -> Principal:
    """The signed-in person, from the session cookie (the API's token check, cached alike)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired("login")
    cache = principal_cache(request.app)
    principal = cache.get(token)
    if principal is None:
        try:
            principal = await run_in_threadpool(
                resolve_token,
                _store(request),
                _settings(request).secret_key.get_secret_value(),
                token,
                now=datetime.now(UTC),
            )
        except AuthError:
            raise LoginRequired("expired") from None
        cache.put(token, principal)
    if not principal.can("account"):
        raise LoginRequired("service")
    request.state.principal = principal
    return principal


class Need:
    """Dependency: the signed-in person must hold `permission`; the check is the API's."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, principal: Annotated[Principal, Depends(desk_principal)]) -> Principal:
        try:
            return await Require(self.permission)(principal)
        except ApiError as exc:
            raise DeskError(
                403, f"您的角色无权执行此操作（{exc.message}）。", title="无权操作"
            ) from None


Reader = Annotated[Principal, Depends(Need("read"))]
Worker = Annotated[Principal, Depends(Need("work"))]
Approver = Annotated[Principal, Depends(Need("approve"))]
Auditor = Annotated[Principal, Depends(Need("audit"))]
Csrf = Depends(check_csrf)
