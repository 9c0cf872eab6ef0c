"""The audit log: every change as an event (who, when, what, before/after).

Events are append-only records of kind `audit`. Their ids are deterministic (an incident
change is keyed by the incident's new version), so a retried write never duplicates an event.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store.base import Store
from store.records import AuditEvent, make_id

AUDIT = "audit"


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)


def record_change(
    store: Store,
    *,
    entity_type: str,
    entity_id: str,
    action: str,
    actor: str,
    at: datetime,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None = None,
    key: str | None = None,
) -> AuditEvent:
    """Write one audit event. `key` identifies the change (e.g. the new version) for the id."""
    ident = key if key is not None else f"{action}@{at.isoformat()}#{_json(after)}"
    event = AuditEvent(
        id=make_id("audit", entity_type, entity_id, ident),
        at=at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=_json(before) if before else None,
        after=_json(after) if after else None,
        reason=reason,
    )
    store.put(AUDIT, event)
    return event


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, before and after."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


INGEST_IDS_PER_EVENT = 1000


def record_ingest(
    store: Store,
    *,
    actor: str,
    token: str | None,
    ids: list[str],
    written: int,
    failed: list[tuple[str, str]],
    at: datetime,
    origin: str,
) -> list[AuditEvent]:
    """Audit one ingest batch: who (user and API token or "cli"), how many, which post ids
    (one event per INGEST_IDS_PER_EVENT ids) and which were refused."""
    events = []
    batch_key = make_id("ingest", actor, token or "-", at.isoformat(), *ids[:1])
    for start in range(0, max(len(ids), 1), INGEST_IDS_PER_EVENT):
        part = ids[start : start + INGEST_IDS_PER_EVENT]
        events.append(
            record_change(
                store,
                entity_type="ingest",
                entity_id=token or actor,
                action="posts.ingest",
                actor=actor,
                at=at,
                before={},
                after={
                    "token": token,
                    "origin": origin,
                    "count": len(ids),
                    "written": written,
                    "failed": [f"{i}: {reason}" for i, reason in failed[:100]],
                    "ids": part,
                    "part": start // INGEST_IDS_PER_EVENT + 1,
                },
                key=f"{batch_key}#{start}",
            )
        )
    return events
