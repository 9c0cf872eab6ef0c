"""Incidents: list, detail (evidence, severity components, notifications), open by hand, flag
posts, transitions and assignment. Writes need the incident's `version` (optimistic
concurrency): a stale one gets 409 with the current version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_RESPONSES, Flagger, Reader, Worker
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError, ErrorResponse
from api.openapi import CONFLICT
from api.params import NON_BLANK, FreeText, IsoDatetime, Line
from store import Store
from store.errors import ConflictError, NotFound
from store.records import (
    Engagement,
    Incident,
    IncidentState,
    Notification,
    Post,
    Role,
    SignalHit,
    User,
    make_id,
)
from triage.errors import IncidentInputError, PlaybookError, TransitionError
from triage.job import build_from_stats
from triage.notify import NOTIFICATIONS, Notifier
from triage.playbook import Category, Playbook, current_playbook
from triage.signals import fired_signals, posts_stats
from triage.users import ROLE_PERMISSIONS
from triage.workflow import (
    INCIDENTS,
    add_evidence,
    allowed_transitions,
    assign,
    open_incident,
    permission_for,
    transition,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=AUTH_RESPONSES)

MAX_POSTS_PER_REQUEST = 50
# Concurrent store calls of the read hot path: more threads than the store client's connection
# pool only queue inside it (or open throw-away connections) and thrash a small machine.
STORE_CALLS = 8


def _store_calls(request: Request) -> CapacityLimiter:
    limiter: CapacityLimiter | None = getattr(request.app.state, "incident_reads", None)
    if limiter is None:
        limiter = request.app.state.incident_reads = CapacityLimiter(STORE_CALLS)
    return limiter


IncidentId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
PostId = Annotated[str, Field(min_length=1, max_length=128)]


class IncidentPage(BaseModel):
    total: int
    items: list[Incident]


class EvidencePost(BaseModel):
    id: str
    platform: str
    source: str
    url: str | None
    text: str
    created_at: datetime
    engagement: Engagement
    places: list[str]
    rumor: str | None
    emotion: str | None
    help: str | None
    claim_id: str | None
    claim_level: str | None

    @classmethod
    def of(cls, post: Post) -> EvidencePost:
        nlp = post.nlp
        return cls(
            id=post.id,
            platform=post.platform,
            source=post.source,
            url=post.url,
            text=post.text,
            created_at=post.created_at,
            engagement=post.engagement,
            places=[p.name for p in post.places],
            rumor=nlp.rumor.label if nlp.rumor else None,
            emotion=nlp.emotion.label if nlp.emotion else None,
            help=nlp.help.label if nlp.help else None,
            claim_id=nlp.claim_match.claim_id if nlp.claim_match else None,
            claim_level=nlp.claim_match.level if nlp.claim_match else None,
        )


class NotificationPublic(BaseModel):
    id: str
    event: str
    team: str
    channel: str
    level: int
    status: str
    reason: str | None
    created_at: datetime
    sent_at: datetime | None
    attempts: int


class IncidentDetail(BaseModel):
    incident: Incident
    evidence: list[EvidencePost]
    allowed_transitions: list[str]
    notifications: list[NotificationPublic]


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Line = Field(min_length=1, max_length=200)
    category: Category
    post_ids: list[PostId] = Field(min_length=1, max_length=MAX_POSTS_PER_REQUEST)
    note: FreeText | None = Field(None, max_length=2000)


class FlagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    post_ids: list[PostId] = Field(min_length=1, max_length=MAX_POSTS_PER_REQUEST)
    note: FreeText | None = Field(None, max_length=2000)
    version: int | None = Field(None, ge=1, description="give it to fail on concurrent change")


class TransitionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # stated in the schema: dismissing needs a reason
            "if": {"properties": {"to": {"const": "dismissed"}}, "required": ["to"]},
            "then": {
                "required": ["reason"],
                "properties": {"reason": {"type": "string", "pattern": NON_BLANK}},
            },
        },
    )

    to: IncidentState
    version: int = Field(ge=1)
    reason: FreeText | None = Field(None, max_length=2000)


class AssignRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # stated in the schema: an assignee (string), a team, or both
            "anyOf": [
                {"required": ["assignee"], "properties": {"assignee": {"type": "string"}}},
                {"required": ["team"], "properties": {"team": {"type": "string"}}},
            ]
        },
    )

    assignee: str | None = Field(None, max_length=64, description="username; '' unassigns")
    team: str | None = Field(None, min_length=1, max_length=64)
    version: int = Field(ge=1)
    reason: FreeText | None = Field(None, max_length=2000)


def _playbook(settings: SettingsDep) -> Playbook:
    try:
        return current_playbook(settings.playbook_file)
    except PlaybookError as exc:
        raise ApiError(503, "playbook_invalid", str(exc)) from None


def _input_error(exc: IncidentInputError) -> ApiError:
    return ApiError(422, "invalid_input", str(exc), [{"field": exc.field, "message": str(exc)}])


def _transition_error(exc: TransitionError) -> ApiError:
    return ApiError(
        409,
        "invalid_transition",
        str(exc),
        [{"field": "to", "message": f"allowed: {', '.join(exc.allowed) or 'none'}"}],
    )


def _unknown_posts(missing: list[str]) -> ApiError:
    return ApiError(
        404,
        "not_found",
        f"post_ids: unknown posts {', '.join(missing[:10])}",
        [{"field": "post_ids", "message": f"unknown: {', '.join(missing[:10])}"}],
    )


def _get(store: StoreDep, incident_id: str) -> Incident:
    incident = store.get(INCIDENTS, incident_id, Incident)
    if incident is None:
        raise NotFound("incident", incident_id)
    return incident


@router.get("", response_model=IncidentPage, summary="List incidents")
async def list_incidents(
    principal: Reader,
    request: Request,
    state: Annotated[list[IncidentState] | None, Query()] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    severity: Annotated[list[Annotated[int, Field(ge=1, le=4)]] | None, Query()] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    topic_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[IsoDatetime | None, Query(description="created_at >= since")] = None,
    until: Annotated[IsoDatetime | None, Query(description="created_at < until")] = None,
    sort: Literal[
        "-created_at", "created_at", "-updated_at", "updated_at", "severity", "-severity"
    ] = "-created_at",
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=9900)] = 0,
) -> Response:
    """The hot path: async, with all store work and serialization in one worker-thread hop."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ApiError(422, "invalid_input", f"{name}: must include a timezone offset")
    where: dict[str, Any] = {}
    filters: tuple[tuple[str, Any], ...] = (
        ("state", [s.value for s in state] if state else None),
        ("category", category),
        ("severity", severity),
        ("team", team),
        ("assignee", assignee),
        ("jurisdiction", jurisdiction),
        ("topic_id", topic_id),
    )
    for field, value in filters:
        if value:
            where[field] = value
    ranges = {"created_at": (since, until)} if since or until else None
    store: Store = request.app.state.store

    def page() -> bytes:
        items = store.find(
            INCIDENTS,
            Incident,
            where=where,
            ranges=ranges,
            sort=sort.lstrip("-"),
            descending=sort.startswith("-"),
            size=size,
            offset=offset,
        )
        if len(items) < size and (items or offset == 0):
            total = offset + len(items)  # a short page is the last one: no count needed
        else:
            total = store.count(INCIDENTS, where=where, ranges=ranges)
        return IncidentPage(total=total, items=items).model_dump_json().encode()

    body = await to_thread.run_sync(page, limiter=_store_calls(request))
    return Response(body, media_type="application/json")


@router.get("/{incident_id}", response_model=IncidentDetail, summary="Incident detail")
async def incident_detail(incident_id: IncidentId, principal: Reader, request: Request) -> Response:
    store: Store = request.app.state.store

    def detail() -> bytes:
        incident = _get(store, incident_id)
        posts = store.get_posts(incident.evidence_post_ids[:100])
        notes = store.find(
            NOTIFICATIONS,
            Notification,
            where={"incident_id": incident.id},
            sort="created_at",
            size=100,
        )
        return (
            IncidentDetail(
                incident=incident,
                evidence=[EvidencePost.of(p) for p in posts],
                allowed_transitions=allowed_transitions(incident),
                notifications=[
                    NotificationPublic.model_validate(n, from_attributes=True) for n in notes
                ],
            )
            .model_dump_json()
            .encode()
        )

    return Response(
        await to_thread.run_sync(detail, limiter=_store_calls(request)),
        media_type="application/json",
    )


@router.post(
    "",
    response_model=Incident,
    status_code=201,
    summary="Open an incident by hand",
    responses={**CONFLICT, 404: {"model": ErrorResponse, "description": "an unknown post id"}},
)
def create_incident(
    body: IncidentCreate, principal: Flagger, store: StoreDep, settings: SettingsDep
) -> Incident:
    """Open an incident from posts a person picked. Every post must exist; the same set of
    posts cannot open two incidents (409)."""
    playbook = _playbook(settings)
    post_ids = list(dict.fromkeys(body.post_ids))
    posts = store.get_posts(post_ids)
    missing = sorted(set(post_ids) - {p.id for p in posts})
    if missing:
        raise _unknown_posts(missing)
    now = datetime.now(UTC)
    stats = posts_stats(posts, playbook.labels)
    manual = SignalHit(
        rule="manual",
        category=body.category,
        why=f"opened by {principal.username}" + (f": {body.note}" if body.note else ""),
    )
    incident = build_from_stats(
        make_id("incident", "manual", *sorted(post_ids)),
        playbook,
        stats,
        [manual, *fired_signals(playbook, stats)],
        title=body.title,
        now=now,
        category=body.category,
    )
    try:
        open_incident(store, incident, actor=principal.username, now=now, reason=body.note)
    except ConflictError:
        raise ApiError(
            409,
            "conflict",
            f"an incident for these posts exists: {incident.id}",
            [{"field": "post_ids", "message": f"incident {incident.id}"}],
        ) from None
    if incident.team:
        Notifier.from_settings(settings).plan(
            store, incident, playbook, event="opened", team_id=incident.team, now=now
        )
    return incident


@router.post(
    "/{incident_id}/flag",
    response_model=Incident,
    summary="Flag posts into it",
    responses={404: {"model": ErrorResponse, "description": "no such incident or post"}},
)
def flag_posts(
    incident_id: IncidentId, body: FlagRequest, principal: Flagger, store: StoreDep
) -> Incident:
    ids = list(dict.fromkeys(body.post_ids))
    missing = sorted(set(ids) - {p.id for p in store.get_posts(ids)})
    if missing:
        raise _unknown_posts(missing)
    try:
        return add_evidence(
            store,
            incident_id,
            body.post_ids,
            actor=principal.username,
            now=datetime.now(UTC),
            expected_version=body.version,
            reason=body.note,
        )
    except IncidentInputError as exc:
        raise _input_error(exc) from None


@router.post("/{incident_id}/transition", response_model=Incident, summary="Change state")
def change_state(
    incident_id: IncidentId, body: TransitionRequest, principal: Worker, store: StoreDep
) -> Incident:
    needed = permission_for(body.to)
    if not principal.can(needed):
        raise ApiError(
            403, "forbidden", f"moving to {body.to.value!r} needs the {needed!r} permission"
        )
    _get(store, incident_id)
    try:
        return transition(
            store,
            incident_id,
            body.to,
            actor=principal.username,
            now=datetime.now(UTC),
            expected_version=body.version,
            reason=body.reason,
        )
    except TransitionError as exc:
        raise _transition_error(exc) from None
    except IncidentInputError as exc:
        raise _input_error(exc) from None


@router.post(
    "/{incident_id}/assign",
    response_model=Incident,
    summary="Assign person/team",
    responses={404: {"model": ErrorResponse, "description": "no such incident, assignee or team"}},
)
def assign_incident(
    incident_id: IncidentId,
    body: AssignRequest,
    principal: Worker,
    store: StoreDep,
    settings: SettingsDep,
) -> Incident:
    if body.assignee is None and body.team is None:
        raise ApiError(422, "invalid_input", "give an assignee, a team or both")
    before = _get(store, incident_id)
    assignee = body.assignee.strip().lower() if body.assignee else body.assignee
    if assignee:
        user = store.get("users", assignee, User)
        if user is None or user.disabled or "work" not in ROLE_PERMISSIONS[user.role]:
            raise ApiError(
                404,
                "not_found",
                f"assignee: {assignee!r} is not an active user who works incidents "
                f"({Role.press.value} or {Role.supervisor.value})",
                [{"field": "assignee", "message": "not an active press officer or supervisor"}],
            )
    if body.team is not None:
        playbook = _playbook(settings)
        if body.team not in {t.id for t in playbook.teams}:
            raise ApiError(
                404,
                "not_found",
                f"team: unknown team {body.team!r}",
                [{"field": "team", "message": "not a team of the playbook"}],
            )
    now = datetime.now(UTC)
    try:
        updated = assign(
            store,
            incident_id,
            assignee=assignee,
            team=body.team,
            actor=principal.username,
            now=now,
            expected_version=body.version,
            reason=body.reason,
        )
    except TransitionError as exc:
        raise _transition_error(exc) from None
    if updated.team and updated.team != before.team:  # the new owner hears about it
        Notifier.from_settings(settings).plan(
            store,
            updated,
            _playbook(settings),
            event="reassigned",
            team_id=updated.team,
            now=now,
            clock=f"v{updated.version}",
        )
    return updated
