"""The audit log (supervisors and admins): every change, who, when, before/after."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, Auditor
from api.deps import StoreDep
from api.errors import ApiError
from api.params import IsoDatetime
from store.records import AuditEvent
from triage.audit import AUDIT

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=AUTH_RESPONSES)


class AuditPage(BaseModel):
    total: int
    items: list[AuditEvent]


@router.get("", response_model=AuditPage, summary="Audit events, newest first")
def audit_log(
    principal: Auditor,
    store: StoreDep,
    entity_type: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=9800)] = 0,
) -> AuditPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, "invalid_input", f"{name}: must include a timezone offset")
    where: dict[str, Any] = {
        k: v
        for k, v in (
            ("entity_type", entity_type),
            ("entity_id", entity_id),
            ("actor", actor),
            ("action", action),
        )
        if v
    }
    ranges = {"at": (since, until)} if since or until else None
    items = store.find(
        AUDIT, AuditEvent, where=where, ranges=ranges, sort="at", descending=True, size=size,
        offset=offset,
    )  # fmt: skip
    return AuditPage(total=store.count(AUDIT, where=where, ranges=ranges), items=items)
