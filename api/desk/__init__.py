"""The desk: web pages for press officers and supervisors at `/desk` (same app as the API).

Server-rendered Jinja2 templates with htmx (vendored under static/vendor, never fetched at run
time); no inline scripts, event handlers or style attributes, so a strict Content-Security-Policy
(`default-src 'self'`) holds. Modules:

    session    cookie session, CSRF token, `Need(permission)` (the API's `Require`)
    render     templates and the Chinese labels
    incidents  queue and incident page; transitions and assignment via the API's handlers
    drafts     the draft editor; actions via `triage.replies` with the API's error mapping
    pages      sign-in, knowledge base, digests
    charts     the topic's hourly volume as SVG

The desk's routes are not in the OpenAPI schema: the API stays the way in for scripts.
"""

from __future__ import annotations

import inspect
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.desk import drafts, incidents, pages
from api.desk.render import HERE, page, see_other
from api.desk.session import DeskError, LoginRequired, clear_session


def _page_for_desk(app: FastAPI, kind: type[Exception], status: int, title: str) -> None:
    api_handler = app.exception_handlers[kind]

    async def handler(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/desk"):
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        code = getattr(exc, "status_code", status)
        message = "表单不完整或格式不对，请返回后重试。" if status == 422 else "没有这个页面。"
        context = {"title": title if code in (404, 422) else "出错了", "message": message}
        return page(request, "error.html", {**context, "back": "/desk/queue"}, status=code)

    app.add_exception_handler(kind, handler)


def install_desk(app: FastAPI) -> None:
    """Mount the desk's pages and static files on `app`."""
    app.mount("/desk/static", StaticFiles(directory=HERE / "static"), name="desk-static")
    app.include_router(pages.router)
    app.include_router(incidents.router)
    app.include_router(drafts.router)

    @app.exception_handler(DeskError)
    async def _desk_error(request: Request, exc: DeskError) -> Response:
        context = {"title": exc.title, "message": exc.message, "back": exc.back}
        return page(request, "error.html", context, status=exc.status)

    # Malformed desk forms and unknown desk pages get a page too; the API keeps its JSON shape.
    for kind, status, title in (
        (RequestValidationError, 422, "输入有误"),
        (StarletteHTTPException, 404, "未找到"),
    ):
        _page_for_desk(app, kind, status, title)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET" and request.headers.get("HX-Request") != "true":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = see_other(
                f"/desk/login?next={quote(target, safe='')}&why={exc.code}"
            )
        else:
            context = {"title": "请先登录", "message": exc.reason, "back": "/desk/login"}
            response = page(request, "error.html", context, status=401)
            if request.headers.get("HX-Request") == "true":
                response.headers["HX-Redirect"] = "/desk/login"
        clear_session(response)
        return response
