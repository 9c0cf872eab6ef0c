"""After publishing: an incident's publications and reply effect (volume, half-life, emotion
before/after, close / re-escalate status), and the knowledge-base entries replies draw on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_RESPONSES, Approver, Reader
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError
from api.params import IsoDatetime, Text
from nlp.kb_import import make_claim
from store.errors import NotFound
from store.records import Claim, EffectReport, Publication
from triage.audit import diff, record_change
from triage.replies.approval import list_publications
from triage.replies.effect import EFFECTS, EffectConfig, measure
from triage.replies.follow import get_incident

router = APIRouter(prefix="/api/v1", tags=["effect"], responses=AUTH_RESPONSES)

Ident = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
KB = "claims"
MANUAL_ORIGIN = "manual"


@router.get(
    "/incidents/{incident_id}/publications",
    response_model=list[Publication],
    summary="Where and when the replies were published",
)
def publications(incident_id: Ident, principal: Reader, store: StoreDep) -> list[Publication]:
    get_incident(store, incident_id)
    return list_publications(store, incident_id)


@router.get(
    "/incidents/{incident_id}/effect",
    response_model=EffectReport,
    summary="Reply effect: volume, half-life, emotion before/after",
)
def effect(
    incident_id: Ident, principal: Reader, store: StoreDep, settings: SettingsDep
) -> EffectReport:
    """Measured now; the close / re-escalate status is the effect job's last decision."""
    incident = get_incident(store, incident_id)
    previous = store.get(EFFECTS, incident_id, EffectReport)
    report = measure(
        store,
        incident,
        now=datetime.now(UTC),
        config=EffectConfig.from_settings(settings),
        previous=previous,
    )
    if report is None:
        raise ApiError(404, "not_found", f"incident {incident_id!r} has not published a reply yet")
    if previous is not None and previous.published_at == report.published_at:
        report.status, report.why = previous.status, previous.why
        report.close_proposed_at, report.reescalated_at = (
            previous.close_proposed_at,
            previous.reescalated_at,
        )
    return report


# --------------------------------------------------------------------------------------------
# knowledge-base entries
# --------------------------------------------------------------------------------------------


class ClaimPage(BaseModel):
    total: int
    items: list[Claim]


class ClaimCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: Text = Field(
        min_length=2, max_length=500, description="the statement, e.g. 明天全市封城"
    )
    answer: Text = Field(min_length=2, max_length=4000, description="the authoritative answer")
    verdict: Literal["false", "misleading", "true", "unverified"]
    source_name: Text = Field(
        min_length=1, max_length=100, description="who answered, e.g. 市卫健委"
    )
    source_url: str | None = Field(None, max_length=2000, pattern=r"^https?://\S+$")
    published_at: IsoDatetime | None = None


@router.get("/kb/entries", response_model=ClaimPage, summary="Knowledge-base entries")
def kb_entries(
    principal: Reader,
    store: StoreDep,
    origin: Annotated[
        str | None, Query(max_length=64, description="e.g. office, manual, piyao")
    ] = None,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[
        int,
        Query(ge=0, le=9900, description="at most 9900: offset + size stays within 10,000"),
    ] = 0,
) -> ClaimPage:
    where = {"origin": origin} if origin else None
    items = store.find(KB, Claim, where=where, sort="id", size=size, offset=offset)
    return ClaimPage(total=store.count(KB, where=where), items=items)


@router.get("/kb/entries/{claim_id}", response_model=Claim, summary="One knowledge-base entry")
def kb_entry(claim_id: Ident, principal: Reader, store: StoreDep) -> Claim:
    claim = store.get(KB, claim_id, Claim)
    if claim is None:
        raise NotFound("claim", claim_id)
    return claim


@router.post(
    "/kb/entries", response_model=Claim, status_code=201, summary="Add an authoritative answer"
)
def add_kb_entry(body: ClaimCreate, principal: Approver, store: StoreDep) -> Claim:
    """An answer an authority gave (origin "manual"): drafts cite it as a debunk from then on.
    Supervisors only: a wrong entry would be cited by every later draft."""
    if body.published_at is not None and body.published_at.tzinfo is None:
        raise ApiError(422, "invalid_input", "published_at: must include a timezone offset")
    claim = make_claim(
        origin=MANUAL_ORIGIN,
        native_id=f"{body.source_name}\x1f{body.claim}",
        claim=body.claim,
        answer=body.answer,
        verdict=body.verdict,
        source_name=body.source_name,
        source_url=body.source_url,
        published_at=body.published_at,
    )
    existing = store.get(KB, claim.id, Claim)
    store.put(KB, claim)  # the matching index rebuilds when the claim count changes
    now = datetime.now(UTC)
    audited = ("claim", "answer", "verdict", "source_name", "source_url", "published_at")
    old = existing.model_dump(mode="json", include=set(audited)) if existing else {}
    new = claim.model_dump(mode="json", include=set(audited))
    before, after = diff(old, new) if existing else ({}, new)
    record_change(
        store,
        entity_type="claim",
        entity_id=claim.id,
        action="kb.update" if existing else "kb.add",
        actor=principal.username,
        at=now,
        before=before,
        after=after,
    )
    return claim
