"""Sign-in and sign-out, the knowledge base (search and entry form), the supervisors' digests.

The knowledge-base entry and the digests call the API's handlers (`add_kb_entry`,
`list_digests`, `get_digest`): their rules and file layout live there."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, HTMLResponse, Response

from api.auth import AuthRateLimit
from api.desk.incidents import api_failure
from api.desk.render import VERDICT_NAMES, page, see_other
from api.desk.session import (
    LOGIN_REASONS,
    Approver,
    Csrf,
    DeskError,
    Reader,
    clear_session,
    remember_nonce,
    set_session,
)
from api.errors import ApiError
from api.routes.digests import list_digests
from api.routes.effect import ClaimCreate, add_kb_entry
from digest.deliver import FILES, digest_dir
from digest.model import Digest
from nlp.kb import search_claims
from store import Settings, Store
from triage.errors import AuthError
from triage.users import authenticate, issue_session_token

router = APIRouter(prefix="/desk", include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only desk paths: never an open redirect."""
    if value and value.startswith("/desk/") and not value.startswith("//"):
        return value
    return "/desk/queue"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None, why: str | None = None) -> Response:
    reason = LOGIN_REASONS.get(why or "")
    return page(request, "login.html", {"next": _safe_next(next), "why": reason, "error": None})


@router.post("/login", dependencies=[Csrf, AuthRateLimit])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/desk/queue",
) -> Response:
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    try:
        user = authenticate(store, username.strip().lower(), password, now=now)
    except AuthError:
        context = {
            "next": _safe_next(next),
            "why": None,
            "error": "用户名或密码错误，或账号已停用。",
        }
        return page(request, "login.html", context, status=401)
    ttl = timedelta(hours=settings.session_ttl_hours)
    token, _ = issue_session_token(user, settings.secret_key.get_secret_value(), now=now, ttl=ttl)
    response = see_other(_safe_next(next))
    set_session(request, response, token, int(ttl.total_seconds()))
    remember_nonce(request, response)
    return response


@router.post("/logout", dependencies=[Csrf])
async def logout() -> Response:
    response = see_other("/desk/login")
    clear_session(response)
    return response


# --------------------------------------------------------------------------------------------
# knowledge base
# --------------------------------------------------------------------------------------------


def _kb_context(request: Request, q: str) -> dict[str, Any]:
    store: Store = request.app.state.store
    hits = search_claims(store, q, size=20) if q else []
    return {"q": q, "hits": hits, "verdicts": VERDICT_NAMES}


@router.get("/kb", response_class=HTMLResponse)
async def kb_page(
    request: Request, principal: Reader, q: Annotated[str, Query(max_length=500)] = ""
) -> Response:
    context = await run_in_threadpool(_kb_context, request, q.strip())
    context["saved"] = request.query_params.get("saved")
    return page(request, "kb.html", context)


@router.get("/kb/results", response_class=HTMLResponse)
async def kb_results(
    request: Request, principal: Reader, q: Annotated[str, Query(max_length=500)] = ""
) -> Response:
    """The result list only (htmx swaps it in while typing)."""
    context = await run_in_threadpool(_kb_context, request, q.strip())
    return page(request, "_kb_results.html", context)


@router.post("/kb/entries", dependencies=[Csrf])
def kb_add(
    request: Request,
    principal: Approver,
    claim: Annotated[str, Form(max_length=500)],
    answer: Annotated[str, Form(max_length=4000)],
    verdict: Annotated[str, Form(max_length=20)],
    source_name: Annotated[str, Form(max_length=100)],
    source_url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        body = ClaimCreate(
            claim=claim,
            answer=answer,
            verdict=verdict,  # type: ignore[arg-type]
            source_name=source_name,
            source_url=source_url.strip() or None,
        )
        saved = add_kb_entry(body, principal, request.app.state.store)
    except (ApiError, ValidationError) as exc:
        raise api_failure(exc, "/desk/kb") from None
    return see_other(f"/desk/kb?saved={saved.id}")


# --------------------------------------------------------------------------------------------
# digests (supervisors)
# --------------------------------------------------------------------------------------------

Kind = Literal["daily", "weekly"]


@router.get("/digests", response_class=HTMLResponse)
def digests_page(request: Request, principal: Approver) -> Response:
    settings: Settings = request.app.state.settings
    listing = list_digests(principal, settings, None, 60)
    return page(request, "digests.html", {"items": listing.items})


def _digest_dir(settings: Settings, kind: Kind, day: date) -> Any:
    directory = digest_dir(settings.data_dir, kind, day.isoformat())
    if not (directory / FILES["json"]).is_file():
        raise DeskError(
            404, f"没有 {day} 的{'日报' if kind == 'daily' else '周报'}。", back="/desk/digests"
        )
    return directory


@router.get("/digests/{kind}/{day}", response_class=HTMLResponse)
def digest_page(request: Request, kind: Kind, day: date, principal: Approver) -> Response:
    settings: Settings = request.app.state.settings
    directory = _digest_dir(settings, kind, day)
    digest = Digest.model_validate(json.loads((directory / FILES["json"]).read_text("utf-8")))
    charts = [c for c in digest.charts if (directory / "charts" / f"{c.name}.png").is_file()]
    return page(request, "digest.html", {"digest": digest, "charts": charts})


@router.get("/digests/{kind}/{day}/charts/{name}.png")
def digest_chart(
    request: Request,
    kind: Kind,
    day: date,
    name: str,
    principal: Approver,
) -> Response:
    if not name.replace("_", "").replace("-", "").isalnum():
        raise DeskError(404, "没有这张图表。")
    path = _digest_dir(request.app.state.settings, kind, day) / "charts" / f"{name}.png"
    if not path.is_file():
        raise DeskError(404, "没有这张图表。")
    return FileResponse(path, media_type="image/png")
