"""Shared feeds for partner departments: read-only incidents and rumors as JSON, for service
accounts whose token has the `feed` scope, limited to the token's jurisdictions (admin-code
prefixes, or `all` given explicitly; a token with none sees nothing and gets 403). Only what a partner needs is shown: no
evidence posts, no author pseudonyms, no assignees."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, FeedReader
from api.deps import StoreDep
from api.errors import ApiError
from api.params import IsoDatetime
from store.records import Claim, Incident
from triage.users import ALL_JURISDICTIONS, Principal
from triage.workflow import INCIDENTS

router = APIRouter(prefix="/api/v1/feeds", tags=["feeds"], responses=AUTH_RESPONSES)

SCAN_PAGE = 200
MAX_SCAN = 5000


class FeedIncident(BaseModel):
    id: str
    title: str
    category: str
    severity: int
    state: str
    jurisdiction: str | None
    jurisdiction_name: str | None
    team: str | None
    post_count: int
    first_post_at: datetime | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, incident: Incident) -> FeedIncident:
        return cls.model_validate(incident, from_attributes=True)


class FeedClaim(BaseModel):
    id: str
    claim: str
    verdict: str
    answer: str | None
    source_name: str
    source_url: str | None


class FeedRumor(FeedIncident):
    claims: list[FeedClaim]


class IncidentFeed(BaseModel):
    items: list[FeedIncident]
    next_since: datetime | None


class RumorFeed(BaseModel):
    items: list[FeedRumor]
    next_since: datetime | None


def _visible(incident: Incident, principal: Principal) -> bool:
    if ALL_JURISDICTIONS in principal.jurisdictions:
        return True
    code = incident.jurisdiction
    return code is not None and any(code.startswith(p) for p in principal.jurisdictions)


def _scan(
    store: StoreDep, principal: Principal, since: datetime | None, size: int, category: str | None
) -> list[Incident]:
    """Incidents updated since `since`, oldest change first, that the token may see."""
    if not principal.jurisdictions:
        raise ApiError(
            403,
            "forbidden",
            "this feed token names no jurisdiction; issue a new one with admin-code prefixes "
            "or 'all' (tingfeng users token NAME --scope feed --jurisdiction all)",
        )
    if since is not None and since.tzinfo is None:
        raise ApiError(422, "invalid_input", "since: must include a timezone offset")
    where = {"category": category} if category else None
    ranges = {"updated_at": (since, None)} if since else None
    found: list[Incident] = []
    offset = 0
    while len(found) < size and offset < MAX_SCAN:
        batch = store.find(
            INCIDENTS, Incident, where=where, ranges=ranges, sort="updated_at", size=SCAN_PAGE,
            offset=offset,
        )  # fmt: skip
        found.extend(i for i in batch if _visible(i, principal))
        if len(batch) < SCAN_PAGE:
            break
        offset += SCAN_PAGE
    return found[:size]


def _next(items: list[Incident]) -> datetime | None:
    return items[-1].updated_at if items else None


@router.get("/incidents", response_model=IncidentFeed, summary="Partner feed: incidents")
def incident_feed(
    principal: FeedReader,
    store: StoreDep,
    since: Annotated[IsoDatetime | None, Query(description="updated_at >= since")] = None,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentFeed:
    """Poll with `since=<next_since>` to get what changed (items at `since` repeat)."""
    items = _scan(store, principal, since, size, None)
    return IncidentFeed(items=[FeedIncident.of(i) for i in items], next_since=_next(items))


@router.get("/rumors", response_model=RumorFeed, summary="Partner feed: rumors and debunks")
def rumor_feed(
    principal: FeedReader,
    store: StoreDep,
    since: Annotated[IsoDatetime | None, Query(description="updated_at >= since")] = None,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RumorFeed:
    items = _scan(store, principal, since, size, "rumor")
    out = []
    for incident in items:
        claims = [
            c
            for cid in incident.claim_ids[:5]
            if (c := store.get("claims", cid, Claim)) is not None
        ]
        out.append(
            FeedRumor(
                **FeedIncident.of(incident).model_dump(),
                claims=[FeedClaim.model_validate(c, from_attributes=True) for c in claims],
            )
        )
    return RumorFeed(items=out, next_since=_next(items))
