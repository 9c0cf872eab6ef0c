"""Desk pages of incidents: the queue (filters, SLA clocks, auto-refresh) and the incident
page (severity reasons, evidence, topic volume and burst, claim matches, transitions,
assignment, drafts, publications and reply effect, audit trail).

State changes call the API's own handlers (`api.routes.incidents.change_state`,
`assign_incident`), so the permission per target state, the assignee and team rules and the
notifications are the API's; their `ApiError`s become desk error pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from api.desk.charts import hourly_volume
from api.desk.render import page, see_other
from api.desk.session import Csrf, DeskError, Reader, Worker
from api.errors import ApiError
from api.routes.incidents import AssignRequest, TransitionRequest, assign_incident, change_state
from nlp.topics import KIND as TOPICS
from store import Settings, Store
from store.errors import ConflictError, NotFound
from store.records import (
    AuditEvent,
    Claim,
    EffectReport,
    Incident,
    IncidentState,
    Role,
    Topic,
    User,
)
from triage.audit import AUDIT
from triage.errors import PlaybookError
from triage.playbook import current_playbook
from triage.replies.approval import list_publications
from triage.replies.drafts import list_drafts
from triage.replies.effect import EFFECTS, EffectConfig, measure
from triage.replies.templating import bundled_templates
from triage.users import Principal
from triage.workflow import INCIDENTS, OPEN_STATES, allowed_transitions, permission_for

router = APIRouter(prefix="/desk", include_in_schema=False)

QUEUE_SIZE = 100
REFRESH_SECONDS = 30


def _state(request: Request) -> tuple[Store, Settings]:
    return request.app.state.store, request.app.state.settings


def teams(settings: Settings) -> dict[str, str]:
    try:
        return {t.id: t.name for t in current_playbook(settings.playbook_file).teams}
    except PlaybookError:
        return {}


def api_failure(exc: ApiError | ValidationError | ConflictError | NotFound, back: str) -> DeskError:
    """An API-layer refusal as a desk error page (Chinese headline, the API's reason)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return DeskError(422, f"输入有误：{where}: {first['msg']}", back=back)
    if isinstance(exc, ConflictError):
        return DeskError(
            409,
            f"已被他人修改（当前版本 {exc.current_version}），请刷新页面后重试。",
            title="版本冲突",
            back=back,
        )
    if isinstance(exc, NotFound):
        return DeskError(404, str(exc), title="未找到", back=back)
    titles = {403: "无权操作", 404: "未找到", 409: "无法执行", 422: "输入有误"}
    title, message = titles.get(exc.status, "操作未完成"), exc.message
    if exc.code == "four_eyes":
        title = "四眼原则：须由另一位主管批准"
        message = f"起草或修改过本稿的人不能批准它，请另一位值班主管审核。（{exc.message}）"
    elif exc.code == "not_grounded":
        title = "核查未通过：请先修正标出的句子"
    return DeskError(exc.status, message, title=title, back=back)


# --------------------------------------------------------------------------------------------
# queue
# --------------------------------------------------------------------------------------------


def _filters(
    state: str | None,
    team: str | None,
    severity: str | None,
    category: str | None,
    jurisdiction: str | None,
) -> dict[str, str]:
    values = {
        "state": state or "",
        "team": team or "",
        "severity": severity or "",
        "category": category or "",
        "jurisdiction": (jurisdiction or "").strip(),
    }
    return {k: v for k, v in values.items() if v}


def _where(filters: dict[str, str]) -> dict[str, Any]:
    where: dict[str, Any] = {}
    state = filters.get("state", "open")
    if state == "open":
        where["state"] = sorted(s.value for s in OPEN_STATES)
    elif state in IncidentState.__members__:
        where["state"] = [state]
    if filters.get("severity", "").isdigit():
        where["severity"] = [int(filters["severity"])]
    for key in ("team", "category"):
        if filters.get(key):
            where[key] = filters[key]
    if filters.get("jurisdiction", "").isdigit():
        where["jurisdiction"] = filters["jurisdiction"]
    return where


def _clocks(incident: Incident, now: datetime) -> list[dict[str, Any]]:
    """The SLA clocks still running (unmet), soonest first, with seconds left (< 0: breached)."""
    running = [c for c in incident.sla if c.met_at is None]
    running.sort(key=lambda c: c.due_at)
    return [
        {
            "name": c.name,
            "due": c.due_at,
            "left": int((c.due_at - now).total_seconds()),
            "breached": c.breached or c.due_at <= now,
        }
        for c in running
    ]


def _queue(request: Request, filters: dict[str, str]) -> dict[str, Any]:
    store, settings = _state(request)
    now = datetime.now(UTC)
    items = store.find(
        INCIDENTS,
        Incident,
        where=_where(filters),
        sort="created_at",
        descending=True,
        size=QUEUE_SIZE,
    )
    items.sort(key=lambda i: (i.severity, i.created_at.timestamp() * -1))
    return {
        "rows": [{"incident": i, "clocks": _clocks(i, now)} for i in items],
        "filters": filters,
        "query": urlencode(filters),
        "teams": teams(settings),
        "refresh": REFRESH_SECONDS,
        "generated": now,
    }


FilterParam = Annotated[str | None, Query(max_length=64)]


@router.get("", response_class=HTMLResponse)
async def home() -> Response:
    return see_other("/desk/queue")


@router.get("/queue", response_class=HTMLResponse)
async def queue(
    request: Request,
    principal: Reader,
    state: FilterParam = None,
    team: FilterParam = None,
    severity: FilterParam = None,
    category: FilterParam = None,
    jurisdiction: FilterParam = None,
) -> Response:
    filters = _filters(state, team, severity, category, jurisdiction)
    context = await run_in_threadpool(_queue, request, filters)
    return page(request, "queue.html", context)


@router.get("/queue/rows", response_class=HTMLResponse)
async def queue_rows(
    request: Request,
    principal: Reader,
    state: FilterParam = None,
    team: FilterParam = None,
    severity: FilterParam = None,
    category: FilterParam = None,
    jurisdiction: FilterParam = None,
) -> Response:
    """The table body only: htmx swaps it in every REFRESH_SECONDS with the same filters."""
    filters = _filters(state, team, severity, category, jurisdiction)
    context = await run_in_threadpool(_queue, request, filters)
    return page(request, "_queue_rows.html", context)


# --------------------------------------------------------------------------------------------
# incident page
# --------------------------------------------------------------------------------------------


def _audit_trail(store: Store, entity_ids: list[str]) -> list[AuditEvent]:
    events = store.find(
        AUDIT, AuditEvent, where={"entity_id": entity_ids}, sort="at", descending=True, size=200
    )
    return events


def incident_context(request: Request, principal: Principal, incident_id: str) -> dict[str, Any]:
    store, settings = _state(request)
    incident = store.get(INCIDENTS, incident_id, Incident)
    if incident is None:
        raise DeskError(404, f"没有编号为 {incident_id} 的事件。", title="未找到")
    now = datetime.now(UTC)
    posts = store.get_posts(incident.evidence_post_ids[:50])
    posts.sort(key=lambda p: p.created_at, reverse=True)
    topic = store.get(TOPICS, incident.topic_id, Topic) if incident.topic_id else None
    chart = (
        hourly_volume(
            store,
            incident.topic_id,
            now=now,
            tz=settings.tz,
            published_at=incident.published_at,
        )
        if incident.topic_id
        else None
    )
    claim_ids = list(
        dict.fromkeys(
            [*incident.claim_ids] + [p.nlp.claim_match.claim_id for p in posts if p.nlp.claim_match]
        )
    )
    claims = [c for c in (store.get("claims", cid, Claim) for cid in claim_ids[:20]) if c]
    matched: dict[str, int] = {}
    for post in posts:
        if post.nlp.claim_match:
            matched[post.nlp.claim_match.claim_id] = (
                matched.get(post.nlp.claim_match.claim_id, 0) + 1
            )
    drafts = list_drafts(store, incident.id)
    publications = list_publications(store, incident.id)
    effect: EffectReport | None = None
    if incident.published_at is not None:
        previous = store.get(EFFECTS, incident.id, EffectReport)
        effect = measure(
            store,
            incident,
            now=now,
            config=EffectConfig.from_settings(settings),
            previous=previous,
        )
        if effect is not None and previous is not None:
            effect.status, effect.why = previous.status, previous.why
    transitions = [
        {"to": to, "allowed": principal.can(permission_for(IncidentState(to)))}
        for to in allowed_transitions(incident)
    ]
    workers = store.find(
        "users", User, where={"role": [Role.press.value, Role.supervisor.value]}, size=200
    )
    audit = (
        _audit_trail(store, [incident.id, *[d.id for d in drafts]])
        if principal.can("audit")
        else None
    )
    templates = bundled_templates()
    return {
        "incident": incident,
        "posts": posts,
        "topic": topic,
        "chart": chart,
        "claims": claims,
        "matched": matched,
        "clocks": _clocks(incident, now),
        "all_clocks": incident.sla,
        "transitions": transitions,
        "workers": sorted(u.username for u in workers if not u.disabled),
        "teams": teams(settings),
        "drafts": drafts,
        "publications": publications,
        "effect": effect,
        "audit": audit,
        "templates": {name: templates.info(name).label for name in templates.names()},
        "open": incident.state in OPEN_STATES,
    }


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(request: Request, incident_id: str, principal: Reader) -> Response:
    context = await run_in_threadpool(incident_context, request, principal, incident_id)
    return page(request, "incident.html", context)


@router.post("/incidents/{incident_id}/transition", dependencies=[Csrf])
def incident_transition(
    request: Request,
    incident_id: str,
    principal: Worker,
    to: Annotated[str, Form(max_length=32)],
    version: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    back = f"/desk/incidents/{incident_id}"
    store = request.app.state.store
    try:
        body = TransitionRequest(to=to, version=version, reason=reason or None)  # type: ignore[arg-type]
        change_state(incident_id, body, principal, store)
    except (ApiError, ValidationError, ConflictError, NotFound) as exc:
        raise api_failure(exc, back) from None
    return see_other(back)


@router.post("/incidents/{incident_id}/assign", dependencies=[Csrf])
def incident_assign(
    request: Request,
    incident_id: str,
    principal: Worker,
    version: Annotated[int, Form()],
    assignee: Annotated[str, Form(max_length=64)] = "",
    team: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    back = f"/desk/incidents/{incident_id}"
    store, settings = _state(request)
    try:
        body = AssignRequest(
            assignee=assignee,
            team=team or None,
            version=version,
            reason=reason or None,
        )
        assign_incident(incident_id, body, principal, store, settings)
    except (ApiError, ValidationError, ConflictError, NotFound) as exc:
        raise api_failure(exc, back) from None
    return see_other(back)
